"""The fingerprints a snapshot's graph keeps for slices (``assetbuild.codetable``)."""

from __future__ import annotations

import marshal

from hypothesis import given, settings
from hypothesis import strategies as st

from assetbuild import codetable

_HEX = st.binary(min_size=32, max_size=32).map(bytes.hex)
_LABELS = st.sampled_from(["code", "names", "object:builtins.int", "helper:lib.steps.total", "global:MOD"])
_CODES = st.tuples(_HEX | st.sampled_from(["B" * 64, "ab" * 31]),
                   st.dictionaries(_LABELS, _HEX | st.sampled_from(["A" * 64, "x", "0" * 63 + "g"])))
_VERSIONED = st.tuples(st.sampled_from(["v:", "v:1", "v:2.0-b"]), st.just({}))


def _digest(text: str) -> bool:
    """A sha256 digest as fingerprints write it: 64 lower-case hex digits."""
    return len(text) == 64 and set(text) <= set("0123456789abcdef")


@settings(deadline=None)  # (what it checks is no time: a loaded CI machine must not fail it)
@given(st.dictionaries(st.sampled_from([f"a{i}" for i in range(8)]), _CODES | _VERSIONED), st.data())
def test_kept_fingerprints_come_back_as_they_were_made(codes: dict, data: st.DataObject) -> None:
    """Every fingerprint of hex digests comes back equal, its parts in their order; one that is
    not (a ``code_version``, a part that is no lower-case digest) is not kept, so the slice
    makes it again."""
    order = [f"a{i}" for i in range(8)]
    graph = {"order": order, **codetable.code_table(order, codes)}
    graph = marshal.loads(marshal.dumps(graph, 2))  # (as the graph's file keeps it)
    asked = data.draw(st.lists(st.integers(0, 7), unique=True))
    found = codetable.codes_of(graph, asked)
    kept = {order[i]: codes[order[i]] for i in asked if order[i] in codes and _digest(codes[order[i]][0])
            and all(_digest(d) for d in codes[order[i]][1].values())}
    assert found == kept
    assert all(list(found[n][1]) == list(codes[n][1]) for n in found)


def test_a_table_cut_short_keeps_nothing() -> None:
    order = ["a", "b"]
    codes = {"a": ("1" * 64, {"code": "2" * 64}), "b": ("3" * 64, {"code": "2" * 64, "names": "4" * 64})}
    graph = {"order": order, **codetable.code_table(order, codes)}
    assert codetable.codes_of(graph, [0, 1]) == codes
    for key, cut in (("code_digests", graph["code_digests"][:-32]), ("code_digests", graph["code_digests"][:-1]),
                     ("code", graph["code"][:-4]), ("code_parts_at", graph["code_parts_at"][4:]),
                     ("code_labels", ["code"]), ("code_parts", graph["code_parts"][:-8]), ("code", None)):
        assert codetable.codes_of({**graph, key: cut}, [0, 1]) == {}, key
    assert codetable.codes_of({"order": order}, [0, 1]) == {}  # (a graph written before the table)


@settings(deadline=None)
@given(st.dictionaries(st.sampled_from([f"a{i}" for i in range(8)]), _CODES | _VERSIONED),
       st.dictionaries(st.sampled_from([f"a{i}" for i in range(8)] + ["gone"]), _CODES | _VERSIONED))
def test_a_patched_table_keeps_what_a_new_one_would(before: dict, after: dict) -> None:
    """After a slice fingerprinted some assets again (``codeedits``), the table patched with
    them gives back what a table made of every fingerprint would: theirs, and the others as kept."""
    order = [f"a{i}" for i in range(8)]
    graph = marshal.loads(marshal.dumps({"order": order, **codetable.code_table(order, before)}, 2))
    patched = marshal.loads(marshal.dumps({"order": order, **codetable.patched(graph, after)}, 2))
    merged = {**before, **{k: v for k, v in after.items() if k in order}}
    whole = {"order": order, **codetable.code_table(order, merged)}
    found = codetable.codes_of(patched, range(8))
    assert found == codetable.codes_of(whole, range(8))
    assert all(list(found[n][1]) == list(merged[n][1]) for n in found)


def test_a_table_that_cannot_be_patched_is_made_of_the_new_fingerprints() -> None:
    order = ["a", "b"]
    codes = {"a": ("1" * 64, {"code": "2" * 64})}
    assert codetable.codes_of({"order": order, **codetable.patched({"order": order}, codes)}, [0, 1]) == codes


def test_the_assets_reaching_a_function_are_those_whose_parts_name_it() -> None:
    h = "5" * 64
    order = ["a", "b", "c", "d", "e", "g", "f"]
    codes = {"a": (h, {"code": h, "helper:__assetfile__.f": h}),
             "b": (h, {"code": h, "helper:__assetfile__.f.<locals>.inner": h}),
             "c": (h, {"code": h, "helper:__assetfile__.fg": h}),  # another function: not f
             "d": (h, {"code": h, "global:f": h}),
             "e": (h, {"code": h, "helper:lib.steps.f": h}),  # a module's f: not the AssetFile's
             "g": (h, {"code": h, "helper:__assetfile__.f#2": h}),
             "f": (h, {"code": h})}
    roots = {n: f"helper:__assetfile__.{n}_fn" for n in order}  # (none of them f itself)
    graph = {"order": order, **codetable.code_table(order, codes, roots)}
    assert codetable.reaching(graph, "f") == {"a", "b", "d", "g"}
    assert codetable.reaching(graph, "nothing") == set()
    with_version = {"order": order, **codetable.code_table(order, {**codes, "c": ("v:1", {})}, roots)}
    assert codetable.reaching(with_version, "f") == {"a", "b", "d", "g"}  # (a code_version reaches nothing)
    assert codetable.reaching({**with_version, **codetable.patched(with_version, {"d": ("v:2", {})})}, "f") \
        == {"a", "b", "g"}
    unknown = {"order": order, **codetable.code_table(order, {k: v for k, v in codes.items() if k != "c"}, roots)}
    assert codetable.reaching(unknown, "f") is None  # (what an asset without a kept fingerprint reaches: not known)
    assert codetable.reaching({"order": order}, "f") is None


def test_an_asset_whose_own_function_is_edited_reaches_it() -> None:
    """``asset(compute)``, ``asset(fns.compute)``, ``name=``: the root of an asset's fingerprint
    is never one of its parts, so the table keeps each asset's function; a patched table keeps
    them, and a table without them (an older graph's) answers nothing."""
    h = "5" * 64
    order = ["compute", "other", "moved", "b", "v"]
    codes = {n: (h, {"code": h}) for n in order[:4]} | {"v": ("v:1", {})}
    roots = {"compute": "helper:__assetfile__.compute", "other": "helper:__assetfile__.compute",
             "moved": "helper:lib.fns.compute", "b": "helper:__assetfile__.b", "v": "helper:__assetfile__.compute"}
    graph = marshal.loads(marshal.dumps({"order": order, **codetable.code_table(order, codes, roots)}, 2))
    assert codetable.reaching(graph, "compute") == {"compute", "other"}  # (a code_version reaches nothing)
    assert codetable.reaching(graph, "compute", "lib.fns") == {"moved"}
    assert codetable.codes_of(graph, range(5)) == {n: codes[n] for n in order[:4]}  # (a root is no part)
    graph = {**graph, **codetable.patched(graph, {"b": (h, {"code": h, "helper:lib.fns.compute": h})})}
    assert codetable.reaching(graph, "compute", "lib.fns") == {"moved", "b"}
    assert codetable.reaching(graph, "compute") == {"compute", "other"}
    assert codetable.reaching({**graph, "code_roots": None}, "compute") is None
    assert codetable.reaching({"order": order, **codetable.code_table(order, codes)}, "compute") is None
