"""The graph a slice reads: ``slicegraph``'s index arrays against the closure taken name by name."""

from __future__ import annotations

import marshal

from hypothesis import given, settings
from hypothesis import strategies as st

from assetbuild import slicegraph, snapshot


@st.composite
def _graphs(draw: st.DrawFn) -> tuple[list[str], list[list[str]], dict[str, list[str]], list[str]]:
    """A project's graph as a record keeps it: assets in build order with their inputs (earlier
    assets and sources), each data file's nodes (a source's file, which two sources may share;
    an asset's path output), and some of those files changed, with one no node owns."""
    n, k = draw(st.integers(0, 12)), draw(st.integers(0, 4))
    order, sources = [f"a{i}" for i in range(n)], [f"s{j}" for j in range(k)]
    inputs = [draw(st.lists(st.sampled_from(order[:i] + sources), max_size=3, unique=True)) if order[:i] + sources else []
              for i in range(n)]
    owners: dict[str, list[str]] = {}
    for s in sources:
        owners.setdefault(f"/p/in{draw(st.integers(0, k))}.txt", []).append(s)
    for a in draw(st.lists(st.sampled_from(order), unique=True)) if order else []:
        owners[f"/p/out/{a}.txt"] = [a]
    changed = draw(st.lists(st.sampled_from([*owners, "/p/gone.txt"]), unique=True, max_size=12))
    return order, inputs, owners, changed


@settings(deadline=None)  # (what it checks is no time: a loaded CI machine must not fail it)
@given(_graphs())
def test_a_slice_is_what_reads_the_changed_files_and_what_they_read(graph: tuple) -> None:
    """``slice_of`` over ``graph_document``'s index arrays (the snapshot's graph as written and
    read back) against the closure taken name by name."""
    order, inputs, owners, changed = graph
    affected = {n for p in changed for n in owners.get(p, ())}
    for name, ups in zip(order, inputs):
        if any(up in affected for up in ups):
            affected.add(name)
    assets = affected & set(order)
    frontier = {up for name, ups in zip(order, inputs) if name in assets for up in ups} & set(order) - affected
    doc = slicegraph.graph_document(order, inputs, owners, None)
    kept = marshal.loads(marshal.dumps(doc, snapshot.MARSHAL_VERSION))
    assert slicegraph.well_formed(kept)
    assert slicegraph.slice_of(kept, changed) == {"affected": assets, "frontier": frontier, "changed": changed}


def test_a_graph_cut_short_is_no_graph() -> None:
    doc = slicegraph.graph_document(["a", "b"], [[], ["a"]], {"/p/a": ["a"]}, None)
    assert slicegraph.well_formed(doc)
    for key, cut in (("ups_at", doc["ups_at"][:-4]), ("downs", doc["downs"][:-1]), ("order", ["a"]),
                     ("owned_at", None), ("paths", ("/p/a",))):
        assert not slicegraph.well_formed({**doc, key: cut}), key
    assert not slicegraph.well_formed({k: v for k, v in doc.items() if k != "others"})


@settings(deadline=None)
@given(_graphs(), st.data())
def test_upstream_of_is_every_asset_the_named_ones_read(graph: tuple, data: st.DataObject) -> None:
    """What a build of the named assets decides: they and what they read, at any depth (the
    sources left out); no answer for a name that is no asset."""
    order, inputs, owners, _ = graph
    doc = marshal.loads(marshal.dumps(slicegraph.graph_document(order, inputs, owners, None), snapshot.MARSHAL_VERSION))
    names = tuple(data.draw(st.lists(st.sampled_from(order), unique=True, max_size=6))) if order else ()
    needed, todo = set(names), list(names)
    ups = dict(zip(order, inputs))
    while todo:
        for up in ups[todo.pop()]:
            if up in ups and up not in needed:
                needed.add(up)
                todo.append(up)
    assert slicegraph.upstream_of(doc, names) == needed
    assert slicegraph.upstream_of(doc, (*names, "nosuch")) is None
    if any(up not in ups for ins in inputs for up in ins):  # (a source is not an asset either)
        source = next(up for ins in inputs for up in ins if up not in ups)
        assert slicegraph.upstream_of(doc, (source,)) is None
