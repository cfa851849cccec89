"""Keys: what enters them, what must not, and how two keys are explained."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetbuild.keys import KeyParts, explain_change, make_key

P = KeyParts("c1", {"code": "c1"}, (("raw", "d1"), ("a", "d2")), "json@1", "build/x")

text = st.text(max_size=20)


def test_key_is_stable_and_hex():
    k = make_key("x", P)
    assert k == make_key("x", P) and len(k) == 64 and int(k, 16) >= 0


@settings(max_examples=100, deadline=None)
@given(text, text, st.lists(st.tuples(text, text), max_size=4), text, st.one_of(st.none(), text))
def test_every_part_changes_the_key(name, code, inputs, io, path):
    base = KeyParts(code, {}, tuple(inputs), io, path)
    k = make_key(name, base)
    assert make_key(name + "x", base) != k
    assert make_key(name, KeyParts(code + "x", {}, tuple(inputs), io, path)) != k
    assert make_key(name, KeyParts(code, {}, tuple(inputs) + (("u", "v"),), io, path)) != k
    assert make_key(name, KeyParts(code, {}, tuple(inputs), io + "x", path)) != k
    assert make_key(name, KeyParts(code, {}, tuple(inputs), io, (path or "") + "x")) != k


def test_field_boundaries_are_unambiguous():
    a = KeyParts("ab", {}, (), "c", None)
    b = KeyParts("a", {}, (), "bc", None)
    assert make_key("n", a) != make_key("n", b)
    assert make_key("n", KeyParts("c", {}, (("a", "bc"),), "x", None)) != \
        make_key("n", KeyParts("c", {}, (("ab", "c"),), "x", None))


def test_code_parts_do_not_enter_the_key():
    assert make_key("x", P) == make_key("x", KeyParts("c1", {"other": "z"}, P.inputs, P.io, P.path))


def test_key_is_the_same_in_another_process_and_hash_seed():
    prog = ("from assetbuild.keys import KeyParts, make_key;"
            "print(make_key('x', KeyParts('c1', {'code': 'c1'}, (('raw','d1'),('a','d2')), 'json@1', 'build/x')))")
    outs = {subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout.strip() for seed in ("0", "1", "77")}
    assert outs == {make_key("x", P)}


def test_explain_change_names_what_changed():
    new = KeyParts("c2", {"code": "c1", "helper:lib.norm": "h2"}, (("raw", "d9"), ("a", "d2"), ("b", "x")),
                   "json@2", "build/y")
    old = KeyParts("c1", {"code": "c1", "helper:lib.norm": "h1"}, P.inputs, P.io, P.path)
    codes = {r.code: r.detail for r in explain_change(old, new, sources={"raw"})}
    assert "helper:lib.norm changed" in codes["code-changed"]
    assert codes["source-changed"].startswith("raw:")
    assert "b is a new input" in codes["input-added"]
    assert "io-changed" in codes and "path-changed" in codes


def test_upstream_change_is_named():
    new = KeyParts("c1", {}, (("raw", "d1"), ("a", "d3")), "json@1", "build/x")
    (r,) = explain_change(P, new, sources={"raw"})
    assert r.code == "upstream-changed" and r.detail.startswith("a:")


def test_keys_of_assets_passed_no_source_keep_their_encoding():
    """The source paths came without a new KEY_SCHEMA: every other key stays what it was."""
    import hashlib

    from assetbuild import keys

    body = repr(("x", P.code, P.inputs, P.io, P.path)).encode()
    assert make_key("x", P) == hashlib.sha256(keys._PREFIX + body).hexdigest()
    assert keys.KEY_SCHEMA == 1


def test_a_source_path_enters_the_key_and_is_explained():
    moved = KeyParts(P.code, {}, P.inputs, P.io, P.path, (("raw", "data/raw.tsv"),))
    here = KeyParts(P.code, {}, P.inputs, P.io, P.path, (("raw", "data/raw.csv"),))
    assert len({make_key("x", P), make_key("x", here), make_key("x", moved)}) == 3
    (r,) = explain_change(here, moved, sources={"raw"})
    assert (r.code, r.detail) == ("source-moved", "raw: its path data/raw.csv -> data/raw.tsv")


@pytest.mark.parametrize("declared, expected", [
    ("data/t.csv", "data/t.csv"), ("./data//t.csv", "data/t.csv"), ("data/x/../t.csv", "data/t.csv"),
    ("/elsewhere//t.csv", "/elsewhere/t.csv"), ("../shared/t.csv", "../shared/t.csv"), ("data/dir/", "data/dir")])
def test_source_key_path_is_normalised_and_posix(declared, expected):
    from assetbuild.keys import source_key_path

    assert source_key_path(declared) == expected


def test_a_head_from_before_source_paths_explains_the_one_rerun():
    from assetbuild.rebuild import why_run
    from assetbuild.reports import Head

    old = Head("k" * 64, "d", "0" * 64, P.code, P.code_parts, P.inputs, P.io, P.path, None, 0, 1, 0.0)
    assert old.sources == ()  # what an older assetbuild's record decodes to
    now = KeyParts(P.code, P.code_parts, P.inputs, P.io, P.path, (("raw", "raw.txt"),))
    (r,) = why_run(now, old, {"raw"})
    assert r.code == "key-changed" and "paths of the sources" in r.detail
    (r,) = why_run(now, old._replace(sources=(("raw", "old.txt"),)), {"raw"})
    assert r.code == "source-moved"


def test_many_changed_partitions_of_one_upstream_are_one_reason() -> None:
    from assetbuild.keys import KeyParts, explain_change

    hours = [f"hourly[2024-01-30-{h:02d}:00]" for h in range(24)]
    old = KeyParts("c", {}, tuple((h, "a" * 64) for h in hours) + (("other", "1" * 64),), "pickle@1", None)
    new = KeyParts("c", {}, tuple((h, "b" * 64) for h in hours) + (("other", "2" * 64),), "pickle@1", None)
    reasons = [(r.code, r.detail) for r in explain_change(old, new)]
    assert reasons == [("upstream-changed", "hourly: 24 partitions changed (hourly[2024-01-30-00:00] .. "
                                            "hourly[2024-01-30-23:00])"),
                       ("upstream-changed", "other: 111111111111 -> 222222222222")]
    few = KeyParts("c", {}, tuple((h, "b" * 64 if i < 2 else "a" * 64) for i, h in enumerate(hours)), "pickle@1", None)
    base = KeyParts("c", {}, tuple((h, "a" * 64) for h in hours), "pickle@1", None)
    assert [r.detail.split(":")[0] for r in explain_change(base, few)] == ["hourly[2024-01-30-00", "hourly[2024-01-30-01"]
    added = KeyParts("c", {}, tuple((h, "a" * 64) for h in hours[:20]), "pickle@1", None)
    assert [(r.code, r.detail) for r in explain_change(added, base)] == [
        ("input-added", "hourly: 4 partitions are new inputs (hourly[2024-01-30-20:00] .. hourly[2024-01-30-23:00])")]


def test_inputs_bound_to_other_parameters_are_named() -> None:
    """Swapped bindings keep the inputs and their versions, only their order changes: a dict of
    inputs saw nothing, and the reason fell back to "the interpreter, key schema...". The
    function's parameters (``free``) name what each reads now."""
    x, y, z = ("x", "1" * 64), ("y", "2" * 64), ("z", "3" * 64)
    old = KeyParts("c", {}, (x, y, z), "json@1", None)
    new = KeyParts("c", {}, (y, x, z), "json@1", None)
    assert make_key("n", old) != make_key("n", new)
    assert [(r.code, r.detail) for r in explain_change(old, new, free=("a", "b", "c"))] == [
        ("input-rebound", "input 'a' now reads 'y' (was 'x')"), ("input-rebound", "input 'b' now reads 'x' (was 'y')")]
    assert [(r.code, r.detail) for r in explain_change(old, new, free=("a",))] == [
        ("input-rebound", "input 'a' now reads 'y' (was 'x')"), ("input-rebound", "deps= now lists x, z (was y, z)")]
    # the parameters not known: the order is named
    assert [(r.code, r.detail) for r in explain_change(old, new)] == [
        ("input-rebound", "its inputs are bound in another order: x, y, z -> y, x, z")]
    added = KeyParts("c", {}, (("w", "4" * 64), z, y, x), "json@1", None)
    assert [(r.code, r.detail) for r in explain_change(old, added, free=("a", "b", "c", "d"))] == [
        ("input-added", "w is a new input"), ("input-rebound", "input 'a' now reads 'w' (was 'x')"),
        ("input-rebound", "input 'b' now reads 'z' (was 'y')"), ("input-rebound", "input 'c' now reads 'y' (was 'z')"),
        ("input-rebound", "input 'd' now reads 'x' (was unbound)")]


@pytest.mark.parametrize("free, n, fan_in, implied", [
    (("a", "b"), 2, (), ("a", "b")),  # every parameter takes one
    (("a", "limit"), 1, (), ("a",)),  # a trailing default left alone
    (("a",), 3, (), ("a", "", "")),  # the rest are deps=
    ((), 2, (), ("", "")),
    (("pages", "b"), 3, (("pages", 2),), ("pages", "pages", "b")),  # a fan-in takes as many as it binds
    (("none", "b"), 1, (("none", 0),), ("b",)),  # one that binds none takes none
    (("a", "b"), 0, (), ()),
])
def test_implied_binding(free, n, fan_in, implied):
    from assetbuild.keys import implied_binding

    assert implied_binding(free, n, fan_in) == implied


def test_a_binding_not_implied_enters_the_key_and_is_explained():
    """def f(a=None, b=None): ins={"a": "x"} and ins={"b": "x"} read the same inputs, in the same
    order: only the binding tells them apart (it was no part of the key: a stale result)."""
    x, y = ("x", "1" * 64), ("y", "2" * 64)
    implied = KeyParts("c", {}, (x,), "json@1", None)
    to_b = implied._replace(binding=("b",))
    assert make_key("n", implied) != make_key("n", to_b)
    (r,) = explain_change(implied, to_b, free=("a", "b"))
    assert (r.code, r.detail) == ("input-rebound", "its inputs are now passed out of parameter order: b=x")
    assert [(r.code, r.detail) for r in explain_change(to_b, implied, free=("a", "b"))] == [
        ("input-rebound", "input 'a' now reads 'x' (was unbound)"), ("input-rebound", "input 'b' is now unbound (was 'x')")]
    dep = KeyParts("c", {}, (x, y), "json@1", None, binding=("a", ""))  # def f(a, b=None), deps=["y"]
    passed = dep._replace(binding=())  # ins={"a": "x", "b": "y"}
    assert make_key("n", dep) != make_key("n", passed)
    assert [(r.code, r.detail) for r in explain_change(dep, passed, free=("a", "b"))] == [
        ("input-rebound", "input 'b' now reads 'y' (was unbound)"), ("input-rebound", "deps= now lists nothing (was y)")]


def test_an_io_change_says_whether_the_manager_or_its_version_changed():
    """A new version of the same manager (the built-in json's, when it stopped sorting keys, is
    what every JSON asset says after the upgrade) was given as "json@1 -> json@2"."""
    def io_reason(old: str, new: str) -> str:
        (r,) = explain_change(KeyParts("c", {}, (), old, None), KeyParts("c", {}, (), new, None))
        assert r.code == "io-changed"
        return r.detail

    assert io_reason("json@1", "json@2") == ("IO manager 'json' version 1 -> 2 (its new version may store values in "
                                            "other bytes)")
    assert io_reason("pickle@1", "json@2") == "IO manager 'pickle' -> 'json'"
