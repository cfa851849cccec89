"""Binding, ordering, cycles and selection of the resolved graph."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetbuild.definitions import AssetDef, SourceDef
from assetbuild.errors import CycleError, DefinitionError, SelectionError
from assetbuild.graph import resolve, select


def A(name, params=(), *, ins=None, deps=(), group=None, defaults=(), line=1):
    def fn():
        return None
    return AssetDef(name, fn, tuple((p, p in defaults) for p in params), dict(ins or {}), tuple(deps),
                    "pickle", None, None, group, None, {}, None, "AssetFile", line)


def S(name, path="x"):
    return SourceDef(name, path, "AssetFile", 1)


def test_parameters_bind_by_name_and_ins():
    g = resolve([S("raw"), A("a", ["raw"]), A("b", ["x", "context"], ins={"x": "a"}), A("c", deps=["b"])])
    assert g.order == ["a", "b", "c"]
    assert g.inputs["b"] == (("x", "a"),)
    assert g.inputs["c"] == ((None, "b"),)
    assert g.wants_context == {"b"}


def test_unknown_parameter_is_an_error_with_suggestion():
    with pytest.raises(DefinitionError, match=r"parameter 'ordres' names no asset.*did you mean 'orders'"):
        resolve([A("orders"), A("report", ["ordres"], line=7)])


def test_a_name_that_differs_only_in_unicode_normalization_is_said_so():
    """Names compare as declared (declarations hold them in NFKC: check_name); one that only
    looks like another, as an NFD name beside an NFC one does, gets an error saying how they
    differ, not "did you mean" a name printed identically. So does a partition key (keys are
    data, taken as typed)."""
    nfd = "cafe\u0301"
    with pytest.raises(DefinitionError, match=rf"names no asset or source \(did you mean '{nfd}'\? the two "
                                              r"differ only in their Unicode normalization\)"):
        resolve([S(nfd), A("r", ["café"])])
    with pytest.raises(DefinitionError, match="deps names 'café', .*differ only in their Unicode normalization"):
        resolve([A(nfd), A("r", deps=["café"])])
    g = resolve([A("café"), A("r", ["café"])])
    with pytest.raises(SelectionError, match=r"no asset named 'cafe\u0301' \(did you mean 'café'\? the two differ"):
        select(g, [nfd])
    with pytest.raises(SelectionError, match=r"no asset named 'ca' \(did you mean 'café'\?\)"):
        select(g, ["ca"])  # (an ordinary suggestion otherwise)
    from assetbuild.partitions import unknown_key

    assert unknown_key("gro\u0308ße", ["a", "größe"]) == \
        "no partition 'gro\u0308ße'; 'größe' differs from it only in its Unicode normalization"


def test_parameter_with_default_keeps_it():
    g = resolve([A("a", ["scale"], defaults=("scale",))])
    assert g.inputs["a"] == ()


def test_duplicate_names_are_refused():
    with pytest.raises(DefinitionError, match="two definitions named 'a': this asset and another asset"):
        resolve([A("a"), A("a", line=9)])


@pytest.mark.parametrize("decorator, declared", [
    ("asset", "__assetbuild_asset__"), ("multi_asset", "__assetbuild_multi_asset__"),
    ("resource", "__assetbuild_resource__"), ("observable_source", "__assetbuild_observable_source__")])
def test_a_function_declared_twice_says_so(decorator, declared):
    """``@asset`` written twice over one def was "two definitions named 'a' ... (at AssetFile:3);
    rename one", at AssetFile:3: both at the same line, and no other definition to rename."""
    import assetbuild

    def a():
        return 1

    deco = getattr(assetbuild, decorator)(**({"outs": {"x": assetbuild.Out()}} if decorator == "multi_asset" else {}))
    decls = []
    for _ in range(2):
        deco(a)
        d = getattr(a, declared)
        decls.extend(d if isinstance(d, tuple) else [d])
    what = decorator.replace("_", "-") if decorator == "multi_asset" else decorator.replace("_", " ")
    with pytest.raises(DefinitionError) as e:
        resolve(decls)
    assert str(e.value) == (f"{__file__}:{a.__code__.co_firstlineno}: function 'a' is declared as {what} 'a' twice "
                            f"(@{decorator} written twice over it, or applied to it twice); declare it once")
    if decorator == "asset":  # one function under two names is two assets
        b = assetbuild.asset(name="b")(a).__assetbuild_asset__
        assert resolve([decls[0], b]).order == ["a", "b"]


def test_a_source_and_an_asset_of_one_name_are_each_called_what_they_are():
    """It said 'rename one asset' of a source and an asset."""
    with pytest.raises(DefinitionError) as e:
        resolve([S("a"), A("a", line=9)])
    assert "two definitions named 'a': this asset and a source (at " in str(e.value)
    assert str(e.value).endswith("; rename one")


@pytest.mark.parametrize("decl", [A("context", line=4), S("context")], ids=["asset", "source"])
def test_context_cannot_name_an_asset_or_a_source(decl):
    """A parameter named ``context`` gets the AssetContext: a node of that name could never reach it."""
    with pytest.raises(DefinitionError, match=r"^AssetFile:\d+: 'context' cannot name an? (asset|source): "
                                              r"a parameter named 'context' receives the AssetContext"):
        resolve([decl, A("report", ["context"], line=9)])


def test_cycle_names_every_asset():
    with pytest.raises(CycleError) as ei:
        resolve([A("a", ["c"]), A("b", ["a"]), A("c", ["b"]), A("d", ["a"])])
    assert sorted(ei.value.cycle) == ["a", "b", "c"]
    assert "->" in str(ei.value)


def test_self_dependency_is_a_cycle():
    with pytest.raises(CycleError):
        resolve([A("a", deps=["a"])])


def test_unknown_dep_and_ins_target():
    with pytest.raises(DefinitionError, match="deps names 'zz'"):
        resolve([A("a", deps=["zz"])])
    with pytest.raises(DefinitionError, match="ins maps 'x' to 'zz'"):
        resolve([A("a", ["x"], ins={"x": "zz"})])


def test_selection_includes_upstream_only():
    g = resolve([A("a"), A("b", ["a"]), A("c", ["b"]), A("d", ["a"], group="g"), A("raw/x"), A("raw/y")])
    assert select(g, ["c"]) == ["a", "b", "c"]
    assert select(g, ["group:g"]) == ["a", "d"]
    assert select(g, ["raw/*"]) == ["raw/x", "raw/y"]
    assert select(g, []) == g.order
    with pytest.raises(SelectionError, match="did you mean 'c'"):
        select(g, ["cc"])
    with pytest.raises(SelectionError):
        select(g, ["group:nope"])


@st.composite
def dags(draw):
    n = draw(st.integers(1, 30))
    edges = {i: sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)}
    perm = draw(st.permutations(list(range(n))))
    return n, edges, perm


@settings(max_examples=60, deadline=None)
@given(dags())
def test_order_respects_every_edge_whatever_the_declaration_order(dag):
    n, edges, perm = dag
    decls = [A(f"n{i}", [f"n{j}" for j in edges[i]]) for i in perm]
    g = resolve(decls)
    pos = {name: k for k, name in enumerate(g.order)}
    assert len(g.order) == n
    for i in range(n):
        for j in edges[i]:
            assert pos[f"n{j}"] < pos[f"n{i}"]


@settings(max_examples=40, deadline=None)
@given(dags(), st.data())
def test_any_back_edge_is_reported_as_a_real_cycle(dag, data):
    n, edges, perm = dag
    if n < 2:
        return
    lo = data.draw(st.integers(0, n - 2))
    hi = data.draw(st.integers(lo + 1, n - 1))
    edges = dict(edges)
    edges[lo] = sorted(set(edges[lo]) | {hi})  # hi reaches lo only if there is a path; force one
    edges[hi] = sorted(set(edges[hi]) | {lo})
    decls = [A(f"n{i}", [f"n{j}" for j in edges[i]]) for i in perm]
    with pytest.raises(CycleError) as ei:
        resolve(decls)
    cyc = ei.value.cycle
    # consecutive members are real edges: each uses the one before it
    for k, name in enumerate(cyc):
        before = cyc[k - 1]
        assert before in [f"n{j}" for j in edges[int(name[1:])]]
