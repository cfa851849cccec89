"""The selection syntax (assetbuild.selection) and graph.select over it: every form, exclusion,
what a build needs, and the errors a user meets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetbuild.definitions import AssetDef, SourceDef
from assetbuild.errors import SelectionError
from assetbuild.graph import resolve, select
from assetbuild.selection import Item, downstream, normal_form, parse, upstream


def A(name, params=(), *, group=None):
    def fn():
        return None
    return AssetDef(name, fn, tuple((p, False) for p in params), {}, (), "pickle", None, None, group, None, {},
                    None, "AssetFile", 1)


def S(name):
    return SourceDef(name, "x", "AssetFile", 1)


@pytest.fixture
def g():
    """raw(source) -> a -> b -> c;  a -> d;  e (alone); groups: a, b in "ingest"."""
    return resolve([S("raw"), A("a", ["raw"], group="ingest"), A("b", ["a"], group="ingest"), A("c", ["b"]),
                    A("d", ["a"]), A("e")])


@pytest.mark.parametrize("text, item", [
    ("x", Item("x")),
    ("raw/*", Item("raw/*")),
    ("group:g", Item("group:g")),
    ("+x", Item("x", upstream=True)),
    ("x+", Item("x", downstream=True)),
    ("+x+", Item("x", upstream=True, downstream=True)),
    ("+group:g+", Item("group:g", upstream=True, downstream=True)),
    ("-x", Item("x", exclude=True)),
    ("-+x+", Item("x", upstream=True, downstream=True, exclude=True)),
    ("-raw/*+", Item("raw/*", downstream=True, exclude=True)),
])
def test_parse_every_form(text, item):
    assert parse(text) == item


@pytest.mark.parametrize("text", ["", "+", "++", "+++", "-", "-+", "x++", "++x", "--x", "+-x"])
def test_parse_refuses_what_names_nothing(text):
    with pytest.raises(SelectionError, match="names nothing"):
        parse(text)


def test_upstream_and_downstream_walks(g):
    assert upstream(g.inputs, ["c"]) == {"a", "b", "c"}
    assert upstream(g.inputs, ["raw"]) == set()  # a source is no asset
    assert downstream(g.inputs, ["a"]) == {"a", "b", "c", "d"}
    assert downstream(g.inputs, ["raw"]) == {"a", "b", "c", "d"}  # its readers, not the source
    assert downstream(g.inputs, ["c"]) == {"c"}


@pytest.mark.parametrize("sel, selected, needed", [
    (["c"], ["c"], ["a", "b", "c"]),
    (["group:ingest"], ["a", "b"], ["a", "b"]),
    (["[bc]"], ["b", "c"], ["a", "b", "c"]),
    (["+c"], ["a", "b", "c"], ["a", "b", "c"]),
    (["b+"], ["b", "c"], ["a", "b", "c"]),
    (["a+"], ["a", "b", "c", "d"], ["a", "b", "c", "d"]),
    (["+b+"], ["a", "b", "c"], ["a", "b", "c"]),  # not d: the downstream's upstream is not added
    (["raw+"], ["a", "b", "c", "d"], ["a", "b", "c", "d"]),  # a source's readers
    (["a+", "-b"], ["a", "c", "d"], ["a", "b", "c", "d"]),  # a build still builds what c needs
    (["a+", "-b+"], ["a", "d"], ["a", "d"]),
    (["-group:ingest"], ["c", "d", "e"], ["a", "b", "c", "d", "e"]),  # only exclusions: all, less those
    ([], ["a", "b", "c", "d", "e"], ["a", "b", "c", "d", "e"]),
    (["e", "d"], ["d", "e"], ["a", "d", "e"]),  # build order, whatever the order given
])
def test_select_every_form(g, sel, selected, needed):
    assert select(g, sel, needs=False) == selected
    assert select(g, sel) == needed


@pytest.mark.parametrize("sel, message", [
    (["zz"], r"no asset named 'zz'"),
    (["+zz"], r"no asset named 'zz'"),
    (["bb+"], r"no asset named 'bb'.*did you mean 'b'"),
    (["raw"], r"'raw' is a source"),
    (["+raw"], r"'raw' is a source"),  # its upstream is nothing: only raw+ selects its readers
    (["x/*"], r"no asset matches 'x/\*'"),
    (["group:ingets"], r"no asset is in group 'ingets'.*did you mean 'ingest'"),
    (["a", "-zz"], r"no asset named 'zz'"),  # an exclusion that names nothing is a typo too
    (["a", "+"], r"names nothing"),
])
def test_select_errors(g, sel, message):
    with pytest.raises(SelectionError, match=message):
        select(g, sel)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_select_agrees_with_the_definitions_on_random_graphs(data):
    """For any DAG and item: NAME+ is everything reachable downstream, +NAME upstream, and a
    build's plan is the selection closed under inputs."""
    n = data.draw(st.integers(1, 8))
    ups = [data.draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set() for i in range(n)]
    g = resolve([A(f"n{i}", [f"n{j}" for j in sorted(ups[i])]) for i in range(n)])
    i = data.draw(st.integers(0, n - 1))
    reach_up, reach_down = {i}, {i}
    for _ in range(n):
        reach_up |= {j for k in reach_up for j in ups[k]}
        reach_down |= {k for k in range(n) if ups[k] & reach_down}
    names = lambda ix: sorted(f"n{k}" for k in ix)  # noqa: E731
    assert sorted(select(g, [f"+n{i}"], needs=False)) == names(reach_up)
    assert sorted(select(g, [f"n{i}+"], needs=False)) == names(reach_down)
    assert sorted(select(g, [f"+n{i}+"], needs=False)) == names(reach_up | reach_down)
    plan = set(select(g, [f"n{i}+"]))
    assert all(f"n{j}" in plan for k in reach_down for j in ups[k])
    excluded = data.draw(st.integers(0, n - 1))
    assert f"n{excluded}" not in select(g, [f"n{i}+", f"-n{excluded}"], needs=False)


def test_a_bracket_glob_beside_partitioned_assets(project):
    """``name[key]`` is a partition only when ``name`` is a partitioned asset; any other
    pattern with ``[...]`` is a glob, also in a project that has partitioned assets."""
    import assetbuild

    project.assetfile('''
from assetbuild import StaticPartitions

@asset(partitions=StaticPartitions(["eu", "us"]))
def d(context):
    return context.partition_key

@asset
def p1():
    return 1

@asset
def p2():
    return 2

@asset
def x():
    return 3

@asset
def xe():
    return 4
''')

    def planned(*sel):
        return sorted(assetbuild.build(sel, project_dir=project.root, dry_run=True).by_asset())

    assert planned("p[12]") == ["p1", "p2"]
    assert planned("x[ae]") == ["xe"]  # x is not partitioned: a glob
    assert planned("d[eu]") == ["d[eu]"]
    assert planned("[dp]*") == ["d[eu]", "d[us]", "p1", "p2"]
    with pytest.raises(SelectionError, match=r"^d: no partition '12'"):
        planned("d[12]")  # d is partitioned: a key of it, which it does not have
    with pytest.raises(SelectionError, match=r"^no asset matches 'q\[12\]'$"):
        planned("q[12]")
    with pytest.raises(SelectionError, match=r"^no asset matches 'x\[fr\]' \('x' is not partitioned: name it "
                                             r"without a partition key\)$"):
        planned("x[fr]")


@pytest.mark.parametrize(("typed", "held"), [
    ("gro\u0308\u00dfe", "größe"), ("+cafe\u0301+", "+café+"), ("-\ufb01le", "-file"), ("raw/cafe\u0301*", "raw/café*"),
    ("cafe\u0301[gro\u0308\u00dfe]", "café[gro\u0308\u00dfe]"),  # a partition key is data: as typed
    ("group:cafe\u0301", "group:cafe\u0301"), ("+group:cafe\u0301", "+group:cafe\u0301"),  # a group's name is a label
    ("plain_ascii[k]", "plain_ascii[k]"),
])
def test_a_typed_name_takes_the_form_declarations_hold(typed, held):
    """The command line's names in NFKC (``declared.check_name``'s form): a name typed or pasted
    in NFD selects the asset; partition keys and group names are kept as typed."""
    assert normal_form(typed) == held
