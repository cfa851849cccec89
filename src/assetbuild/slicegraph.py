"""The graph a slice reads (``slice_of``): each asset's inputs, each node's readers and each
data file's nodes, as index arrays over the asset names (``graph_document``), written beside the
snapshot's record (``GRAPH_FILE``) by the build that recorded it.

Standard library only, as ``snapshot``: the entry point takes a slice before the engine is imported.
"""

from __future__ import annotations

from .snapshot import GRAPH_FILE, companion

TYPE_CHECKING = False  # (as in ``snapshot``: no typing at start-up)
if TYPE_CHECKING:
    from typing import Any


def read_graph(cache_dir: str, rec: dict[str, Any]) -> dict[str, Any] | None:
    """The graph that goes with ``rec`` (``graph_document``'s, with ``asset_defs``: the
    AssetFile's ``declarative.Facts.asset_defs``, of the AssetFile and check
    ``rec["asset_defs_of"]`` names); None if it is not its own, or not whole. A record may keep
    the graph of an earlier one (``graph_ns``): a sliced build does not change it. (Only a slice
    reads it: a null build does not load 10,000 definitions' lines.)"""
    graph = companion(cache_dir, GRAPH_FILE, rec, "graph_ns")
    return graph if graph is not None and well_formed(graph) else None


def graph_document(order: list[str], inputs: list[list[str]], owners: dict[str, list[str]],
                   slices: str | None) -> dict[str, Any]:
    """What a slice needs of the graph (``slice_of``): ``order``, the assets in build order;
    ``inputs``, the upstream names of each; ``owners``, the nodes of each data file (a
    source's, an asset's path output's); ``slices``, None, or why the project cannot be loaded
    in part. Kept as index arrays over the nodes (``order``, then ``others``: the sources),
    each node's upstreams and downstreams (``ups``, ``downs``) and each data file's nodes
    (``owned``), over ``paths``: a list of lists per asset took 7 ms to load at 10,000 assets
    and 4 more to walk, where a slice's closure reads only the nodes it reaches."""
    from array import array

    index = {name: i for i, name in enumerate(order)}
    others: list[str] = []
    for name in (*(up for ups in inputs for up in ups), *(n for ns in owners.values() for n in ns)):
        if name not in index:
            index[name] = len(index)
            others.append(name)
    downs_of: list[list[int]] = [[] for _ in index]
    ups, ups_at = array("I"), array("I", [0])
    for i, names in enumerate(inputs):
        for up in names:
            ups.append(index[up])
            downs_of[index[up]].append(i)
        ups_at.append(len(ups))
    downs, downs_at = array("I"), array("I", [0])
    for ds in downs_of:
        downs.extend(ds)
        downs_at.append(len(downs))
    owned, owned_at = array("I"), array("I", [0])
    for names in owners.values():
        owned.extend(index[n] for n in names)
        owned_at.append(len(owned))
    return {"order": order, "others": others, "ups": ups.tobytes(), "ups_at": ups_at.tobytes(),
            "downs": downs.tobytes(), "downs_at": downs_at.tobytes(), "paths": list(owners),
            "owned": owned.tobytes(), "owned_at": owned_at.tobytes(), "slices": slices}


def well_formed(graph: dict[str, Any]) -> bool:
    """Whether ``graph`` is shaped as ``graph_document`` makes it, each array whole (an index
    that is no node's makes ``slice_of`` raise IndexError)."""
    try:
        order, others, paths = graph["order"], graph["others"], graph["paths"]
        if not (isinstance(order, list) and isinstance(others, list) and isinstance(paths, list)):
            return False
        arrays = {k: memoryview(graph[k]).cast("I") for k in ("ups", "ups_at", "downs", "downs_at", "owned", "owned_at")}
    except (KeyError, TypeError, ValueError):
        return False
    sizes = {"ups_at": len(order) + 1, "downs_at": len(order) + len(others) + 1, "owned_at": len(paths) + 1}
    return all(len(arrays[k]) == n and arrays[k][-1] == len(arrays[k[:-3]]) for k, n in sizes.items())


def slice_of(graph: dict[str, Any], changed: list[str], *, codes: bool = False,
             edited: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """What a build after ``changed`` data files must decide: ``affected``, the assets that read
    one (as a source, or as their own path output) and everything downstream of them; and
    ``frontier``, the other assets they read, whose stored values the snapshot proves current
    (``graph``: ``graph_document``'s). ``edited``: assets whose code changed (``codeedits``),
    affected too. ``codes``: and the affected assets' fingerprints the graph keeps
    (``codetable``), by name, but the edited ones'."""
    order, paths = graph["order"], graph["paths"]
    at = {p: i for i, p in enumerate(paths)} if len(changed) > 8 else None  # (else a few list scans)
    owned, owned_at = memoryview(graph["owned"]).cast("I"), memoryview(graph["owned_at"]).cast("I")
    downs, downs_at = memoryview(graph["downs"]).cast("I"), memoryview(graph["downs_at"]).cast("I")
    ups, ups_at = memoryview(graph["ups"]).cast("I"), memoryview(graph["ups_at"]).cast("I")
    reached: set[int] = set()
    for p in changed:
        try:
            i = at[p] if at is not None else paths.index(p)
        except (KeyError, ValueError):  # (a file no node owns now: none)
            continue
        reached.update(owned[owned_at[i]:owned_at[i + 1]])
    if edited:
        at_name = {name: i for i, name in enumerate(order)}
        reached.update(at_name[name] for name in edited)  # (KeyError: not this graph's)
    todo = list(reached)
    while todo:  # what reads them, and on
        i = todo.pop()
        for d in downs[downs_at[i]:downs_at[i + 1]]:
            if d not in reached:
                reached.add(d)
                todo.append(d)
    n = len(order)
    assets = [i for i in reached if i < n]  # (the others are sources)
    frontier = {u for i in assets for u in ups[ups_at[i]:ups_at[i + 1]] if u not in reached and u < n}
    out = {"affected": {order[i] for i in assets}, "frontier": {order[i] for i in frontier}, "changed": changed}
    if codes:
        from .codetable import codes_of

        kept = codes_of(graph, assets)
        for name in edited:  # (fingerprinted again)
            kept.pop(name, None)
        out["codes"] = kept
    return out


def upstream_of(graph: dict[str, Any], names: tuple[str, ...]) -> set[str] | None:
    """The assets ``names`` and every asset they read, at any depth (what a build of them
    decides); None if one of ``names`` is not an asset of ``graph``."""
    order = graph["order"]
    ups, ups_at = memoryview(graph["ups"]).cast("I"), memoryview(graph["ups_at"]).cast("I")
    n = len(order)
    at = {name: i for i, name in enumerate(order)} if len(names) > 4 else None  # (else a few list scans)
    todo: list[int] = []
    for name in names:
        try:
            todo.append(at[name] if at is not None else order.index(name))
        except (KeyError, ValueError):
            return None
    reached = set(todo)
    while todo:
        for u in ups[ups_at[(i := todo.pop())]:ups_at[i + 1]]:
            if u < n and u not in reached:  # (the others are sources)
                reached.add(u)
                todo.append(u)
    return {order[i] for i in reached}
