"""Where each node of the lineage graph goes: a layered (Sugiyama-style) layout in pure Python.

Both the UI's /graph page and ``assetbuild graph --format svg`` draw from it, so the picture is the
same everywhere and needs no Graphviz or JavaScript. Pure: plain data in, positions and edge routes
out; no I/O, no engine imports (layer 0).

The steps, each the textbook one kept simple enough to read:

1. collapse the named groups into one node each (edges to and from members go to the group node);
2. break cycles (only collapsing makes them: ``a -> b -> c`` with ``a`` and ``c`` in one group) by
   reversing the DFS back edges, drawn with their arrow pointing back;
3. layers by longest path; a node with no inputs moves to just before its first reader, so a
   source sits next to what reads it rather than in a far left column;
4. an edge across several layers gets a dummy node in each layer it passes, so it can bend around
   nodes and take part in the ordering;
5. order within layers: barycenter sweeps, down and up, keeping the order with the fewest
   crossings seen (the input order included, so it never gets worse than that);
6. coordinates: left to right by layer; within a layer each node moves towards the mean of its
   neighbours, under the constraint that nodes keep their order and do not overlap (an isotonic
   regression per layer, solved exactly by pool-adjacent-violators).

Input nodes are mappings with ``name``, ``kind`` ("asset", "source", "observable_source",
"resource"; "outside" for what a selection reads but does not show), ``group``, ``state`` and optionally ``detail`` (a second line, "12 partitions");
edges are ``(source, target)`` or ``(source, target, dashed)``. ``graph_from_rows`` makes both
from ``assetbuild list --json``/``describe_graph`` rows.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Text metrics of the picture (svg.py draws with the same): a monospace font, so a label's width
# is known without measuring it.
FONT_SIZE = 12.0
CHAR_W = FONT_SIZE * 0.6
MAX_LABEL = 36  # characters; a longer name is cut with "…" (its full text is the node's tooltip)
PAD_X = 10.0
NODE_H = 28.0
DETAIL_H = 14.0  # the second line of a partitioned asset or a collapsed group
MIN_W = 60.0
GAP_Y = 14.0  # between two nodes of a layer
DUMMY_GAP = 6.0  # between an edge passing through a layer and its neighbours
GAP_X = 70.0  # between layers: room for the edges' curves
MARGIN = 16.0
BACK_DY = 6.0  # how far below the line between two nodes an edge pointing back runs

# A collapsed group shows its worst member's state, in this order.
WORST_FIRST = ("failed", "overdue", "stale", "missing", "fresh")


@dataclass(frozen=True)
class PlacedNode:
    """One node where it goes: its box is ``x, y`` (top left), ``width``, ``height``.
    ``kind`` "group" for a collapsed group, whose ``members`` are the names it stands for."""

    name: str
    kind: str
    group: str | None
    state: str
    detail: str | None
    layer: int
    x: float
    y: float
    width: float
    height: float
    members: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """What the box says: the name (a group's own name), cut to ``MAX_LABEL`` characters."""
        text = self.group if self.kind == "group" and self.group is not None else self.name
        return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


@dataclass(frozen=True)
class Route:
    """One edge's polyline, from the right side of ``source`` to the left side of ``target``,
    through the layers between. ``count``: how many edges it stands for (members of collapsed
    groups); ``dashed``: a resource's use, no data; ``reversed``: it points back (a cycle made by
    collapsing)."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]
    dashed: bool = False
    count: int = 1
    reversed: bool = False


@dataclass(frozen=True)
class Layout:
    """The whole picture: its nodes in input order, its edges, its size, the real nodes of each
    layer in their final order, and how many edge crossings that order has."""

    nodes: tuple[PlacedNode, ...]
    edges: tuple[Route, ...]
    width: float
    height: float
    layers: tuple[tuple[str, ...], ...]
    crossings: int

    def node(self, name: str) -> PlacedNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def group_node_name(group: str) -> str:
    """The name of a collapsed group's node: the selection syntax's ``group:NAME``."""
    return f"group:{group}"


def graph_from_rows(rows: Iterable[Mapping[str, Any]], states: Mapping[str, str] | None = None
                    ) -> tuple[list[dict[str, Any]], list[tuple[str, str, bool]]]:
    """Nodes and edges from ``list_assets``/``describe_graph`` rows: an asset's state from
    ``states`` (its ``status`` state; "missing" when absent), a source's "source", a resource's
    "resource". A partitioned asset is one node, its partition count as its ``detail``. What a
    selection's rows read (or a resource's users) but do not show is a plain node of kind and
    state "outside", after the rows' own, so a selection is drawn with the edges to what it
    reads, as dot and mermaid draw it."""
    nodes: list[dict[str, Any]] = []
    edges: list[tuple[str, str, bool]] = []
    rows = list(rows)
    for r in rows:
        kind = r.get("kind", "asset")
        if kind == "asset":
            state = (states or {}).get(r["name"], "missing")
        else:
            state = "resource" if kind == "resource" else "source"
        parts = r.get("partitions")
        detail = f"{parts['count']} partition{'' if parts['count'] == 1 else 's'}" if parts else None
        nodes.append({"name": r["name"], "kind": kind, "group": r.get("group"), "state": state, "detail": detail})
        edges += [(up, r["name"], False) for up in r.get("inputs", ())]
        edges += [(r["name"], user, True) for user in r.get("used_by", ())]
    shown = {n["name"] for n in nodes}
    for name in dict.fromkeys(x for edge in edges for x in edge[:2] if x not in shown):
        nodes.append({"name": name, "kind": "outside", "group": None, "state": "outside", "detail": None})
    return nodes, edges


def layout(nodes: Sequence[Mapping[str, Any]], edges: Iterable[Sequence[Any]], *,
           collapse: Collection[str] = (), sweeps: int = 12) -> Layout:
    """Place ``nodes`` and route ``edges`` (see the module docstring). ``collapse``: the groups
    drawn as one node each. ``sweeps``: barycenter sweeps (0: the input order, for comparison).
    Deterministic: the same input gives the same layout. Edges naming an unknown node are left
    out (a selection's row can name an input it does not show)."""
    names, info = _collapsed(nodes, set(collapse))
    index = {n: i for i, n in enumerate(names)}
    merged: dict[tuple[int, int], list[Any]] = {}
    for e in edges:
        src, dst = _alias(info, e[0]), _alias(info, e[1])
        if src not in index or dst not in index or src == dst:
            continue
        key = (index[src], index[dst])
        dashed = bool(e[2]) if len(e) > 2 else False
        if key in merged:
            merged[key][0] += 1
            merged[key][1] = merged[key][1] and dashed
        else:
            merged[key] = [1, dashed]
    n = len(names)
    back = _back_edges(n, list(merged))
    up_edges = [(v, u) if (u, v) in back else (u, v) for u, v in merged]
    layer = _layers(n, up_edges)
    # every edge as a chain of ids, one per layer it crosses (dummies are ids n, n+1, ...)
    chains: list[list[int]] = []
    layer_of = list(layer)
    for u, v in up_edges:
        chain = [u]
        for lay in range(layer[u] + 1, layer[v]):
            layer_of.append(lay)
            chain.append(len(layer_of) - 1)
        chain.append(v)
        chains.append(chain)
    total = len(layer_of)
    ups: list[list[int]] = [[] for _ in range(total)]
    downs: list[list[int]] = [[] for _ in range(total)]
    segments: set[tuple[int, int]] = set()  # (an edge and the reversed edge back along it: one segment)
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            if (a, b) not in segments:
                segments.add((a, b))
                downs[a].append(b)
                ups[b].append(a)
    depth = max(layer_of, default=-1) + 1
    order: list[list[int]] = [[] for _ in range(depth)]
    for i in range(total):
        order[layer_of[i]].append(i)
    order, crossings = _order(order, ups, downs, sweeps)
    widths = [_width(info[names[i]]) if i < n else 0.0 for i in range(total)]
    heights = [(NODE_H + (DETAIL_H if info[names[i]].get("detail") else 0.0)) if i < n else 0.0
               for i in range(total)]
    centers = _ys(order, ups, downs, heights, n)
    col_w = [max((widths[i] for i in lay), default=0.0) for lay in order]
    col_x, x = [], MARGIN
    for w in col_w:
        col_x.append(x)
        x += w + GAP_X
    width = (x - GAP_X + MARGIN) if order else 2 * MARGIN
    height = max((centers[i] + heights[i] / 2 for i in range(total)), default=0.0) + MARGIN
    placed = []
    for i, name in enumerate(names):
        d = info[name]
        lay = layer[i]
        placed.append(PlacedNode(name=name, kind=d["kind"], group=d.get("group"), state=d["state"],
                                 detail=d.get("detail"), layer=lay, x=col_x[lay] + (col_w[lay] - widths[i]) / 2,
                                 y=centers[i] - heights[i] / 2, width=widths[i], height=heights[i],
                                 members=tuple(d.get("members", ()))))
    routes = []
    for (u, v), chain in zip(merged, chains):
        pts: list[tuple[float, float]] = [(placed[chain[0]].x + widths[chain[0]], centers[chain[0]])]
        for d in chain[1:-1]:
            lay = layer_of[d]
            pts += [(col_x[lay], centers[d]), (col_x[lay] + col_w[lay], centers[d])]
        pts.append((placed[chain[-1]].x, centers[chain[-1]]))
        count, dashed = merged[(u, v)]
        is_back = (u, v) in back
        if is_back:  # beside the forward edge it usually pairs with, not on top of it
            pts = [(px, py + BACK_DY) for px, py in pts]
        routes.append(Route(names[u], names[v], tuple(reversed(pts)) if is_back else tuple(pts),
                            dashed=dashed, count=count, reversed=is_back))
    layers = tuple(tuple(names[i] for i in lay if i < n) for lay in order)
    return Layout(tuple(placed), tuple(routes), width, height, layers, crossings)


def _alias(info: Mapping[str, Any], name: str) -> str:
    """The node ``name`` is drawn as: its group's, when collapsed."""
    return str(info["@alias"].get(name, name))


def _collapsed(nodes: Sequence[Mapping[str, Any]], collapse: set[str]) -> tuple[list[str], dict[str, Any]]:
    """Node names in input order (a collapsed group where its first member was) and their data;
    ``info["@alias"]``: member -> group node."""
    names: list[str] = []
    info: dict[str, Any] = {"@alias": {}}
    for raw in nodes:
        name = str(raw["name"])
        if name in info or name in info["@alias"]:
            continue  # the first of a duplicate wins
        group = raw.get("group")
        if group is not None and group in collapse:
            gname = group_node_name(group)
            info["@alias"][name] = gname
            if gname not in info:
                names.append(gname)
                info[gname] = {"name": gname, "kind": "group", "group": group, "state": "source", "members": []}
            g = info[gname]
            g["members"].append(name)
            g["detail"] = f"{len(g['members'])} node{'s' if len(g['members']) > 1 else ''}"
            g["state"] = _worse(g["state"], str(raw.get("state", "fresh")))
            continue
        names.append(name)
        info[name] = {"name": name, "kind": str(raw.get("kind", "asset")), "group": group,
                      "state": str(raw.get("state", "fresh")), "detail": raw.get("detail")}
    return names, info


def _worse(a: str, b: str) -> str:
    rank = {s: i for i, s in enumerate(WORST_FIRST)}
    return min(a, b, key=lambda s: rank.get(s, len(WORST_FIRST)))


def _back_edges(n: int, edges: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The edges a depth-first search (from nodes in input order) finds going back to a node on
    its stack: reversing them leaves a DAG. None in a DAG."""
    out: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        out[u].append(v)
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    back: set[tuple[int, int]] = set()
    for start in range(n):
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, iter(out[start]))]
        while stack:
            u, it = stack[-1]
            for v in it:
                if state[v] == 0:
                    state[v] = 1
                    stack.append((v, iter(out[v])))
                    break
                if state[v] == 1:
                    back.add((u, v))
            else:
                state[u] = 2
                stack.pop()
    return back


def _layers(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Longest-path layers of a DAG; then each node with no inputs just before its first reader."""
    out: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v in edges:
        out[u].append(v)
        indeg[v] += 1
    layer = [0] * n
    ready = [i for i in range(n) if indeg[i] == 0]
    left = list(indeg)
    topo = []
    while ready:
        u = ready.pop()
        topo.append(u)
        for v in out[u]:
            layer[v] = max(layer[v], layer[u] + 1)
            left[v] -= 1
            if left[v] == 0:
                ready.append(v)
    for u in range(n):
        if indeg[u] == 0 and out[u]:
            layer[u] = min(layer[v] for v in out[u]) - 1
    return layer


def _order(order: list[list[int]], ups: list[list[int]], downs: list[list[int]], sweeps: int
           ) -> tuple[list[list[int]], int]:
    """Barycenter sweeps; the order with the fewest crossings seen, and that number."""
    best = [list(lay) for lay in order]
    best_c = _crossings(best, downs)
    if sweeps <= 0:
        return best, best_c
    cur = [list(lay) for lay in order]
    stale = 0
    for s in range(sweeps):
        if best_c == 0 or stale >= 4:
            break
        down = s % 2 == 0
        rng = range(1, len(cur)) if down else range(len(cur) - 2, -1, -1)
        for li in rng:
            ref = cur[li - 1] if down else cur[li + 1]
            pos = {v: p for p, v in enumerate(ref)}
            adj = ups if down else downs
            scale = (len(ref) - 1) / max(len(cur[li]) - 1, 1)  # a node without neighbours keeps its place

            def key(item: tuple[int, int], adj: list[list[int]] = adj, pos: dict[int, int] = pos,
                    scale: float = scale) -> tuple[float, int]:
                p, v = item
                nb = adj[v]
                return (sum(pos[w] for w in nb) / len(nb) if nb else p * scale, p)

            cur[li] = [v for _, v in sorted(enumerate(cur[li]), key=key)]
        if s % 4 == 3:
            _transpose(cur, ups, downs)
        c = _crossings(cur, downs)
        if c < best_c:
            best, best_c, stale = [list(lay) for lay in cur], c, 0
        else:
            stale += 1
    return best, best_c


def _transpose(order: list[list[int]], ups: list[list[int]], downs: list[list[int]], rounds: int = 4) -> None:
    """Swap neighbours in a layer while that removes crossings with the layers either side (the
    local improvement of Gansner et al.; barycenters alone leave many such pairs)."""
    for _ in range(rounds):
        improved = False
        pos: dict[int, int] = {v: p for lay in order for p, v in enumerate(lay)}
        for lay in order:
            for k in range(len(lay) - 1):
                u, v = lay[k], lay[k + 1]
                kept, swapped = _pair(u, v, ups, downs, pos)
                if kept > swapped:
                    lay[k], lay[k + 1] = v, u
                    pos[u], pos[v] = k + 1, k
                    improved = True
        if not improved:
            return


def _pair(u: int, v: int, ups: list[list[int]], downs: list[list[int]], pos: dict[int, int]) -> tuple[int, int]:
    """Crossings between the edges of ``u`` and of ``v`` with ``u`` left of ``v``, and with ``v``
    left of ``u``: pairs of ends (``u``'s, ``v``'s) in one order, then the other, counted by
    binary search in ``u``'s sorted ends, O((deg u + deg v) log), not one test per pair (three
    readers of the same 8,000 pages took 10 s)."""
    kept = swapped = 0
    for adj in (ups, downs):
        if not adj[u] or not adj[v]:
            continue
        mine = sorted(pos[a] for a in adj[u])
        for b in adj[v]:
            pb = pos[b]
            kept += len(mine) - bisect_right(mine, pb)
            swapped += bisect_left(mine, pb)
    return kept, swapped


def _crossings(order: list[list[int]], downs: list[list[int]]) -> int:
    """Edge crossings between each pair of adjacent layers: inversions of the lower ends when the
    edges are sorted by their upper ends (a Fenwick tree, O(E log V))."""
    total = 0
    for upper, lower in zip(order, order[1:]):
        pos = {v: p for p, v in enumerate(lower)}
        ends = [w for u in upper for w in sorted(pos[x] for x in downs[u])]
        size = len(lower)
        tree = [0] * (size + 1)
        seen = 0
        for e in ends:
            i, below = e + 1, 0  # edges seen so far ending at or left of e
            while i > 0:
                below += tree[i]
                i -= i & -i
            total += seen - below
            seen += 1
            i = e + 1
            while i <= size:
                tree[i] += 1
                i += i & -i
    return total


def _width(d: Mapping[str, Any]) -> float:
    """Wide enough for the label and the detail line (cut at ``MAX_LABEL`` characters)."""
    label = d["group"] if d["kind"] == "group" else d["name"]
    chars = min(max(len(label), len(d.get("detail") or "")), MAX_LABEL)
    return max(MIN_W, chars * CHAR_W + 2 * PAD_X)


def _ys(order: list[list[int]], ups: list[list[int]], downs: list[list[int]], heights: list[float],
        n: int) -> list[float]:
    """Vertical centres: stacked first, then sweeps that pull each node towards the mean centre of
    its neighbours, keeping the order and the gaps (pool adjacent violators per layer)."""
    cy = [0.0] * len(heights)
    for lay in order:
        y = MARGIN
        for i in lay:
            cy[i] = y + heights[i] / 2
            y += heights[i] + (GAP_Y if i < n else DUMMY_GAP)
    passes = [(ups, range(1, len(order))), (downs, range(len(order) - 2, -1, -1))] * 3
    for adj, rng in passes:
        for li in rng:
            lay = order[li]
            want = [sum(cy[w] for w in adj[i]) / len(adj[i]) if adj[i] else cy[i] for i in lay]
            for i, c in zip(lay, _place(want, [heights[i] for i in lay], [i < n for i in lay])):
                cy[i] = c
    # the layers with both neighbours: once more with both
    for li in range(len(order)):
        lay = order[li]
        want = [(sum(cy[w] for w in ups[i] + downs[i]) / len(ups[i] + downs[i])) if ups[i] or downs[i] else cy[i]
                for i in lay]
        for i, c in zip(lay, _place(want, [heights[i] for i in lay], [i < n for i in lay])):
            cy[i] = c
    top = min((cy[i] - heights[i] / 2 for i in range(len(cy))), default=MARGIN)
    return [c - top + MARGIN for c in cy]


def _place(want: list[float], heights: list[float], real: list[bool]) -> list[float]:
    """Centres as close to ``want`` as can be (least squares) in this order, without overlaps."""
    if not want:
        return []
    offset = [0.0]
    for k in range(1, len(want)):
        gap = GAP_Y if real[k - 1] and real[k] else DUMMY_GAP
        offset.append(offset[-1] + (heights[k - 1] + heights[k]) / 2 + gap)
    z = [w - o for w, o in zip(want, offset)]
    blocks: list[list[float]] = []  # [mean, count]
    for v in z:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks[-1]
            blocks[-1] = [(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2]
    out: list[float] = []
    for m, c in blocks:
        out += [m] * int(c)
    return [v + o for v, o in zip(out, offset)]
