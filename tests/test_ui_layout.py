"""The lineage layout (assetbuild.ui.layout) and its SVG (assetbuild.ui.svg), on random graphs:
edges go down the layers, nodes never overlap, the same input gives the same picture, collapsing
a group keeps every edge's endpoints, and the order has no more crossings than the input's."""

from __future__ import annotations

import random
import re
import sys
import time
import xml.etree.ElementTree as ET
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from assetbuild.ui.layout import Layout, graph_from_rows, group_node_name, layout
from assetbuild.ui.svg import lineage_svg, render_svg

GROUPS = [None, "raw", "clean", "ml"]
STATES = ["fresh", "stale", "missing", "failed", "overdue"]


@st.composite
def dags(draw, max_nodes: int = 24):
    """Nodes (in a shuffled input order, so it is not a topological one) and edges of a DAG."""
    n = draw(st.integers(0, max_nodes))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3 * n)) if pairs else []
    nodes = [{"name": f"n{i}" + "x" * draw(st.integers(0, 12)), "kind": draw(st.sampled_from(["asset", "source"])),
              "group": draw(st.sampled_from(GROUPS)), "state": draw(st.sampled_from(STATES)),
              "detail": draw(st.sampled_from([None, "3 partitions"]))} for i in range(n)]
    order = draw(st.permutations(range(n)))
    return [nodes[i] for i in order], [(nodes[a]["name"], nodes[b]["name"]) for a, b in edges]


def _overlap(a, b) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def _geometric_crossings(lay: Layout) -> int:
    """Crossings counted from the drawn routes: the segments between two layers (a route's points
    come in pairs, one pair per gap it crosses) whose ends are in opposite vertical order."""
    gaps: dict[int, list[tuple[float, float]]] = {}
    layer = {n.name: n.layer for n in lay.nodes}
    for e in lay.edges:
        pts = e.points[::-1] if e.reversed else e.points
        first = min(layer[e.source], layer[e.target])
        for k in range(0, len(pts), 2):
            gaps.setdefault(first + k // 2, []).append((pts[k][1], pts[k + 1][1]))
    return sum(1 for segs in gaps.values() for (a0, a1), (b0, b1) in combinations(segs, 2) if (a0 - b0) * (a1 - b1) < 0)


@settings(max_examples=150, deadline=None)
@given(dags())
def test_edges_go_down_and_nodes_do_not_overlap(graph) -> None:
    nodes, edges = graph
    lay = layout(nodes, edges)
    placed = {n.name: n for n in lay.nodes}
    assert [n.name for n in lay.nodes] == [n["name"] for n in nodes]  # input order, every node once
    assert len(lay.edges) == len(edges)
    for e in lay.edges:
        src, dst = placed[e.source], placed[e.target]
        assert not e.reversed and dst.layer >= src.layer + 1
        assert e.points[0] == (src.x + src.width, src.y + src.height / 2)  # right side of the source
        assert e.points[-1] == (dst.x, dst.y + dst.height / 2)  # left side of the target
        assert all(a[0] <= b[0] for a, b in zip(e.points, e.points[1:]))  # left to right
    for a, b in combinations(lay.nodes, 2):
        assert not _overlap(a, b), (a, b)
    for n in lay.nodes:
        assert 0 <= n.x and n.x + n.width <= lay.width and 0 <= n.y and n.y + n.height <= lay.height
    assert sorted(x for layer in lay.layers for x in layer) == sorted(placed)


@settings(max_examples=100, deadline=None)
@given(dags())
def test_the_same_input_gives_the_same_layout(graph) -> None:
    nodes, edges = graph
    assert layout(nodes, edges) == layout([dict(n) for n in nodes], list(edges))
    assert render_svg(layout(nodes, edges)) == render_svg(layout(nodes, edges))


@settings(max_examples=150, deadline=None)
@given(dags())
def test_no_more_crossings_than_the_input_order(graph) -> None:
    nodes, edges = graph
    lay, as_given = layout(nodes, edges), layout(nodes, edges, sweeps=0)
    assert lay.crossings <= as_given.crossings
    assert lay.crossings == _geometric_crossings(lay)  # the number is the picture's
    assert as_given.crossings == _geometric_crossings(as_given)


def test_sweeps_untangle_what_the_input_order_crosses() -> None:
    nodes = [{"name": n, "kind": "asset", "group": None, "state": "fresh"} for n in ("a", "b", "c", "d")]
    edges = [("a", "d"), ("b", "c")]
    assert layout(nodes, edges, sweeps=0).crossings == 1
    assert layout(nodes, edges).crossings == 0


@settings(max_examples=150, deadline=None)
@given(dags(), st.sets(st.sampled_from(GROUPS[1:])))
def test_collapsing_a_group_keeps_the_edges_endpoints(graph, collapse) -> None:
    nodes, edges = graph
    lay = layout(nodes, edges, collapse=collapse)
    drawn = {n["name"]: group_node_name(n["group"]) if n["group"] in collapse else n["name"] for n in nodes}
    placed = {n.name: n for n in lay.nodes}
    assert set(placed) == set(drawn.values())
    for g in collapse:
        members = tuple(n["name"] for n in nodes if n["group"] == g)
        if members:
            node = placed[group_node_name(g)]
            assert node.kind == "group" and node.members == members and node.label == g
            states = {n["state"] for n in nodes if n["group"] == g}
            assert node.state == next(s for s in ("failed", "overdue", "stale", "missing", "fresh", "source")
                                      if s in states)
    want: dict[tuple[str, str], int] = {}
    for a, b in edges:
        if drawn[a] != drawn[b]:  # an edge inside a group is no longer drawn
            want[drawn[a], drawn[b]] = want.get((drawn[a], drawn[b]), 0) + 1
    assert {(e.source, e.target): e.count for e in lay.edges} == want
    for e in lay.edges:
        src, dst = placed[e.source], placed[e.target]
        # a collapse can make a cycle (a -> b -> c, a and c in one group): one edge then points back
        if e.reversed:
            assert src.layer > dst.layer and e.points[0][0] == src.x and e.points[-1][0] == dst.x + dst.width
        else:
            assert dst.layer > src.layer
    for a, b in combinations(lay.nodes, 2):
        assert not _overlap(a, b)


def test_a_collapse_that_makes_a_cycle() -> None:
    nodes = [{"name": "a", "group": "g", "state": "fresh"}, {"name": "b", "state": "stale"},
             {"name": "c", "group": "g", "state": "failed"}]
    lay = layout(nodes, [("a", "b"), ("b", "c")], collapse={"g"})
    assert [(e.source, e.target, e.reversed) for e in lay.edges] == [("group:g", "b", False), ("b", "group:g", True)]
    assert lay.node("group:g").state == "failed" and lay.node("group:g").detail == "2 nodes"


def test_graph_from_rows_as_list_gives_them() -> None:
    rows = [{"name": "file:in/*.csv", "kind": "source", "inputs": [], "group": None},
            {"name": "db", "kind": "resource", "inputs": [], "used_by": ["daily"]},
            {"name": "daily", "kind": "asset", "inputs": ["file:in/*.csv"], "group": "g",
             "partitions": {"kind": "files", "definition": "in/*.csv", "count": 3}},
            {"name": "report", "kind": "asset", "inputs": ["daily", "elsewhere"], "group": None}]
    nodes, edges = graph_from_rows(rows, {"daily": "stale"})
    assert [(n["name"], n["state"], n["detail"]) for n in nodes] == [
        ("file:in/*.csv", "source", None), ("db", "resource", None), ("daily", "stale", "3 partitions"),
        ("report", "missing", None), ("elsewhere", "outside", None)]  # an input the rows do not show: plain
    assert edges == [("db", "daily", True), ("file:in/*.csv", "daily", False), ("daily", "report", False),
                     ("elsewhere", "report", False)]
    lay = layout(nodes, edges)
    assert {(e.source, e.target, e.dashed) for e in lay.edges} == {
        ("db", "daily", True), ("file:in/*.csv", "daily", False), ("daily", "report", False),
        ("elsewhere", "report", False)}
    assert layout(nodes[:-1], edges).node("report") and len(layout(nodes[:-1], edges).edges) == 3  # (layout
    # itself still leaves out an edge naming a node it was not given)


def test_a_selections_svg_draws_what_it_reads_and_its_resources_users_as_plain_nodes() -> None:
    """``graph report --format svg`` left out report's inputs, which dot and mermaid draw."""
    rows = [{"name": "report", "kind": "asset", "inputs": ["upstream_one", "raw"], "group": None},
            {"name": "db", "kind": "resource", "inputs": [], "used_by": ["report", "loader"]}]
    root = ET.fromstring(lineage_svg(rows, {"report": "fresh"}, link_prefix=None))
    kinds = {e.get("data-node"): e.get("data-kind") for e in root.iter() if e.get("data-node")}
    assert kinds == {"report": "asset", "db": "resource", "upstream_one": "outside", "raw": "outside",
                     "loader": "outside"}
    assert [e.get("data-asset") for e in root.iter() if e.get("data-asset")] == ["report"]  # (no state of theirs)
    assert {(e.get("data-from"), e.get("data-to")) for e in root.iter() if e.get("class") == "edge"} == {
        ("upstream_one", "report"), ("raw", "report"), ("db", "report"), ("db", "loader")}


@settings(max_examples=60, deadline=None)
@given(dags(max_nodes=12), st.text(max_size=12))
def test_svg_parses_and_escapes_any_name(graph, hostile) -> None:
    nodes, edges = graph
    renamed = {n["name"]: f"{hostile}<&\"'>{n['name']}" for n in nodes}
    nodes = [{**n, "name": renamed[n["name"]], "group": hostile or None} for n in nodes]
    edges = [(renamed[a], renamed[b]) for a, b in edges]
    svg = render_svg(layout(nodes, edges), link_prefix="/assets/")
    root = ET.fromstring(svg)
    got = [e.get("data-node") for e in root.iter() if e.get("data-node") is not None]
    # each attribute reads back as the name, but for characters XML cannot hold at all
    not_xml = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    assert got == [not_xml.sub("\ufffd", n["name"]) for n in nodes]
    assert "<&" not in svg and "<script" not in svg.lower().replace("&lt;script", "")


def test_svg_links_and_states() -> None:
    nodes = [{"name": "raw", "kind": "source", "group": None, "state": "source"},
             {"name": "a/b c", "kind": "asset", "group": None, "state": "overdue"}]
    svg = render_svg(layout(nodes, [("raw", "a/b c")]), link_prefix="/assets/")
    root = ET.fromstring(svg)
    links = [e for e in root.iter("{http://www.w3.org/2000/svg}a")]
    assert [a.get("href") for a in links] == ["/assets/a/b%20c"]  # assets only, quoted
    assert [e.get("data-state") for e in root.iter() if e.get("data-asset")] == ["overdue"]  # assets only
    assert [(e.get("data-node"), e.get("data-kind")) for e in root.iter() if e.get("data-node")] == [
        ("raw", "source"), ("a/b c", "asset")]
    assert "<a " not in render_svg(layout(nodes, [("raw", "a/b c")]), link_prefix=None)
    assert 'marker-end="url(#ab-arrow)"' in svg and "http://" not in svg.replace("http://www.w3.org/", "")


def test_lineage_svg_from_rows_with_a_group_collapsed() -> None:
    rows = [{"name": "raw", "kind": "source", "inputs": [], "group": "in"},
            {"name": "clean", "kind": "asset", "inputs": ["raw"], "group": "in"},
            {"name": "report", "kind": "asset", "inputs": ["clean"], "group": None}]
    root = ET.fromstring(lineage_svg(rows, {"clean": "failed", "report": "stale"}, collapse={"in"}))
    groups = [e for e in root.iter() if e.get("data-group") == "in" and e.get("data-asset") is None]
    assert [(g.get("data-state"), g.get("data-members")) for g in groups] == [("failed", "2")]
    assert [(e.get("data-asset"), e.get("data-state")) for e in root.iter() if e.get("data-asset")] == [
        ("report", "stale")]
    assert [(e.get("data-from"), e.get("data-to")) for e in root.iter() if e.get("class") == "edge"] == [
        ("group:in", "report")]


def _random_graph(n: int, seed: int = 0):
    """Pipelines of 20 (3 sources each), each asset reading 1-2 recent ones and now and then an
    asset of an earlier pipeline: the shape of a real project with groups."""
    r = random.Random(seed)
    nodes, edges = [], []
    for i in range(n):
        g, k = divmod(i, 20)
        nodes.append({"name": f"g{g}_n{k}", "kind": "source" if k < 3 else "asset", "group": f"g{g}",
                      "state": "source" if k < 3 else r.choice(STATES)})
        if k >= 3:
            edges += [(f"g{g}_n{r.randint(max(0, k - 5), k - 1)}", f"g{g}_n{k}") for _ in range(r.randint(1, 2))]
            if g and r.random() < 0.15:
                edges.append((f"g{r.randrange(g)}_n{r.randint(3, 19)}", f"g{g}_n{k}"))
    return nodes, edges


def test_two_hundred_assets_lay_out_quickly() -> None:
    """Readable at 200 assets: far fewer crossings than the input order, in well under a second
    (bench/graph_layout.py measures it: tens of milliseconds)."""
    nodes, edges = _random_graph(200)
    start = time.perf_counter()
    lay = layout(nodes, edges)
    took = time.perf_counter() - start
    assert took < 1.0, took
    assert lay.crossings * 4 < layout(nodes, edges, sweeps=0).crossings
    folded = layout(nodes, edges, collapse={f"g{i}" for i in range(10)})
    assert len(folded.nodes) == 10 and folded.crossings <= lay.crossings


def _lines_run(fn) -> int:
    """How many lines of ui/layout.py ``fn()`` runs: its work, counted without a clock."""
    import assetbuild.ui.layout as module

    count = 0

    def local(frame, event, arg):
        nonlocal count
        count += event == "line"
        return local

    def calls(frame, event, arg):
        return local if frame.f_code.co_filename == module.__file__ else None

    sys.settrace(calls)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count


def test_readers_of_one_glob_lay_out_in_work_that_grows_with_the_pages() -> None:
    """A site's index, sitemap and feed each read every page: swapping two of them compared each
    edge of one with each edge of the other, so 8,000 pages took 10 s to draw."""
    def work(n: int) -> int:
        nodes = [{"name": f"page/p{i}", "kind": "asset", "state": "fresh"} for i in range(n)]
        readers = ("index", "sitemap", "feed")
        nodes += [{"name": r, "kind": "asset", "state": "fresh"} for r in readers]
        return _lines_run(lambda: layout(nodes, [(f"page/p{i}", r) for r in readers for i in range(n)]))

    small, large = work(100), work(400)
    assert large < 6 * small, (small, large)
