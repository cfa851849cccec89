"""The resolved DAG: which value feeds which parameter, cycle detection, order and selection.

Pure: takes declarations, returns plain data. Binding rules, in order: a parameter named
``context`` gets the AssetContext (so no asset or source may be named ``context``); ``ins`` maps
a parameter to any node; a parameter named after a node gets that node; a parameter with a
default that names nothing keeps its default; anything else is a definition error. An ``ins``
target that is a glob (``"page/*"``) or ``"group:NAME"`` binds its parameter to every matching
asset or source, in name order (fan-in: ``Graph.fan_in``); it must match something, and not the
asset itself. A resource
(``@resource``) binds the same way, by name or ``ins``, but is no node: it has no data version
and is no input (``Graph.resources``, ``Graph.uses``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

from .definitions import AssetDef, ObservableSourceDef, ResourceDef, SourceDef
from .errors import CycleError, DefinitionError, SelectionError
from .fanin import FanIn, is_fan_in
from .selection import downstream, parse, same_but_form, upstream

CONTEXT = "context"


class Graph:
    """Nodes by name, the inputs of each asset, and a topological order of the assets.

    - ``inputs``: asset -> ((param or None for deps, upstream name), ...) in parameter order,
      then deps; ``order``: assets only, dependencies first;
    - ``uses``: asset -> ((param, resource name), ...) in parameter order: only assets that use one;
    - ``observable``: the observable sources, in declaration order; ``mtime_paths``: declared
      paths of sources with version="mtime";
    - ``fan_in``: asset -> {param: its glob or "group:NAME"} of the parameters that receive a dict
      of every match (their inputs are consecutive in ``inputs``, in name order); only assets
      that have one;
    - ``producers``: multi-asset name -> its outs (assets), in outs order; the name itself is no node;
    - ``mappings``: asset -> {param: its In(...) mapping} (assetbuild.partitions), as declared;
    - after partitions are expanded (assetbuild.partitioned): ``partitioned``, a partitioned
      asset -> its partitions (keys and nodes, in key order; each node's AssetDef has
      ``partition`` set); ``fan_labels``, a node -> {fan-in param: the dict's keys} where they are
      partition keys, not node names; ``absent``, a node -> params that receive None (a mapping
      that names no existing partition); ``declared``, the graph as declared, one node per
      asset: what ``list`` and ``graph`` show (a partitioned asset once, with its partition count).

    A plain class (as ``execute``'s records): a dataclass costs every build ~0.7 ms to make.
    """

    __slots__ = ("nodes", "inputs", "order", "wants_context", "resources", "uses", "observable", "mtime_paths",
                 "fan_in", "producers", "mappings", "partitioned", "fan_labels", "absent", "declared")

    def __init__(self, nodes: dict[str, AssetDef | SourceDef | ObservableSourceDef],
                 inputs: dict[str, tuple[tuple[str | None, str], ...]], order: list[str],
                 wants_context: set[str] | None = None, resources: dict[str, ResourceDef] | None = None,
                 uses: dict[str, tuple[tuple[str, str], ...]] | None = None, observable: tuple[str, ...] = (),
                 mtime_paths: frozenset[str] = frozenset(), fan_in: dict[str, dict[str, str]] | None = None,
                 producers: dict[str, tuple[str, ...]] | None = None,
                 mappings: dict[str, dict[str, Any]] | None = None, partitioned: dict[str, Any] | None = None,
                 fan_labels: dict[str, dict[str, tuple[str, ...]]] | None = None,
                 absent: dict[str, tuple[str, ...]] | None = None, declared: Graph | None = None) -> None:
        self.nodes, self.inputs, self.order = nodes, inputs, order
        self.wants_context = set() if wants_context is None else wants_context
        self.resources = {} if resources is None else resources
        self.uses = {} if uses is None else uses
        self.observable, self.mtime_paths = observable, mtime_paths
        self.fan_in = {} if fan_in is None else fan_in
        self.producers = {} if producers is None else producers
        self.mappings = {} if mappings is None else mappings
        self.partitioned = {} if partitioned is None else partitioned
        self.fan_labels = {} if fan_labels is None else fan_labels
        self.absent = {} if absent is None else absent
        self.declared = declared

    def replace(self, **changes: Any) -> Graph:
        """A copy with ``changes`` (as ``dataclasses.replace``)."""
        return Graph(**{**{k: getattr(self, k) for k in Graph.__slots__}, **changes})

    def observed_by(self, plan: Iterable[str]) -> list[str]:
        """The observable sources that assets of ``plan`` read (as a parameter or in deps), in
        declaration order: what a build of ``plan`` observes. Free without observable sources."""
        if not self.observable:
            return []
        wanted = set(self.observable)
        read = {up for name in plan for _, up in self.inputs.get(name, ()) if up in wanted}
        return [n for n in self.observable if n in read]

    @property
    def sources(self) -> list[str]:
        return [n for n, d in self.nodes.items() if isinstance(d, SourceDef)]

    def upstream(self, name: str) -> list[str]:
        return [u for _, u in self.inputs.get(name, ())]


def _suggest(name: str, choices: Iterable[str]) -> str:
    import difflib  # only on the error path

    names = list(choices)
    same = same_but_form(name, names)
    if same is not None:  # (it would look identical: say how they differ)
        return f" (did you mean {same!r}? the two differ only in their Unicode normalization)"
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(d: object) -> str:
    """What a declaration is, as errors say it."""
    return "asset" if isinstance(d, AssetDef) else "observable source" if isinstance(d, ObservableSourceDef) \
        else "source"


def resolve(decls: Sequence[AssetDef | SourceDef | ObservableSourceDef | ResourceDef]) -> Graph:
    """Bind every parameter to a node and order the assets; raise DefinitionError on any problem."""
    nodes: dict[str, AssetDef | SourceDef | ObservableSourceDef] = {}
    resources: dict[str, ResourceDef] = {}
    file_sources: list[SourceDef] = []
    observable: list[str] = []
    producers: dict[str, list[str]] = {}
    for d in decls:  # one pass that sorts the kinds: 10,000 assets pay one type() each
        kind = type(d)
        if kind is AssetDef:
            if d.producer is not None:  # type: ignore[union-attr]
                producers.setdefault(d.producer, []).append(d.name)  # type: ignore[union-attr]
        else:
            if isinstance(d, ResourceDef):
                _add_resource(d, resources)
                continue
            if isinstance(d, SourceDef):
                file_sources.append(d)
            elif isinstance(d, ObservableSourceDef):
                observable.append(d.name)
        if d.name == CONTEXT:
            what = "an asset" if isinstance(d, AssetDef) else "an observable source" \
                if isinstance(d, ObservableSourceDef) else "a source"
            raise DefinitionError(f"{CONTEXT!r} cannot name {what}: a parameter named {CONTEXT!r} receives "
                                  "the AssetContext; choose another name", file=d.file, line=d.line)
        prev = nodes.get(d.name)
        if prev is not None:
            if type(prev) is type(d) and getattr(prev, "fn", None) is getattr(d, "fn", 0):  # (a SourceDef has no fn)
                _declared_twice(d)  # type: ignore[arg-type]
            if isinstance(d, AssetDef) and d.producer is not None or isinstance(prev, AssetDef) and prev.producer:
                _clash_of_out(d, prev)  # type: ignore[arg-type]  # no resource gets here
            what, other = _kind(d), _kind(prev)
            raise DefinitionError(f"two definitions named {d.name!r}: this {what} and "
                                  f"{'another' if other == what else 'a'} {other} (at {prev.file}:{prev.line}); "
                                  "rename one", file=d.file, line=d.line)
        nodes[d.name] = d  # type: ignore[assignment]  # a ResourceDef went on above (no isinstance per asset)
    if resources:
        _check_resource_names(resources, nodes)
    if producers:
        _check_producer_names(producers, nodes)

    check_output_overlaps(nodes)
    mtime_paths = _check_source_versions(file_sources)
    inputs: dict[str, tuple[tuple[str | None, str], ...]] = {}
    wants_context: set[str] = set()
    asset_names: list[str] = []
    uses: dict[str, tuple[tuple[str, str], ...]] = {}
    fan_in: dict[str, dict[str, str]] = {}
    mappings: dict[str, dict[str, Any]] = {}
    matcher = FanIn(nodes)
    for name, d in nodes.items():
        if not isinstance(d, AssetDef):
            continue
        asset_names.append(name)
        bound: list[tuple[str | None, str]] = []
        used: list[tuple[str, str]] = []
        for param, has_default in d.params:
            target = d.ins.get(param)
            if target is not None and type(target) is not str:  # In(asset, mapping=...): see partitioned
                if target.mapping is not None:  # type: ignore[attr-defined]
                    mappings.setdefault(name, {})[param] = target.mapping  # type: ignore[attr-defined]
                target = target.asset  # type: ignore[attr-defined]
            if target is not None and is_fan_in(target):
                bound += ((param, up) for up in matcher.expand(name, d, param, target))
                fan_in.setdefault(name, {})[param] = target
                continue
            if resources and (target if target is not None else param) in resources:
                used.append((param, target if target is not None else param))
                continue
            if target is None:
                if param == CONTEXT:
                    wants_context.add(name)
                    continue
                if param in nodes:
                    target = param
                elif has_default:
                    continue
                else:
                    raise DefinitionError(
                        f"asset {name!r}: parameter {param!r} names no asset or source"
                        f"{_suggest(param, nodes)}; declare it, bind it with ins={{...}}, or give it a default",
                        file=d.file, line=d.line)
            elif target not in nodes:
                raise DefinitionError(f"asset {name!r}: ins maps {param!r} to {target!r}, which is not "
                                      f"an asset or source{_suggest(target, nodes)}", file=d.file, line=d.line)
            if target == name:
                raise CycleError([name], file=d.file, line=d.line)
            bound.append((param, target))
        for dep in d.deps:
            if dep in resources:
                raise DefinitionError(f"asset {name!r}: deps names the resource {dep!r}; a resource is not "
                                      "data (it has no version to depend on): take it as a parameter",
                                      file=d.file, line=d.line)
            if dep not in nodes:
                raise DefinitionError(f"asset {name!r}: deps names {dep!r}, which is not an asset or "
                                      f"source{_suggest(dep, nodes)}", file=d.file, line=d.line)
            if dep == name:
                raise CycleError([name], file=d.file, line=d.line)
            bound.append((None, dep))
        inputs[name] = tuple(bound)
        if used:
            uses[name] = tuple(used)

    order = _toposort(asset_names, inputs, nodes)
    return Graph(nodes=nodes, inputs=inputs, order=order, wants_context=wants_context,
                 resources=resources, uses=uses, observable=tuple(observable), mtime_paths=mtime_paths,
                 fan_in=fan_in, producers={p: tuple(outs) for p, outs in producers.items()},
                 mappings=mappings)


def _declared_twice(d: AssetDef | ObservableSourceDef | ResourceDef) -> None:
    """One function declared twice under one name (``@asset`` written twice over it): "two
    definitions ... rename one", at the same line twice, sent users looking for another def."""
    if isinstance(d, AssetDef):
        what, deco = ("multi-asset", "@multi_asset") if d.producer else ("asset", "@asset")
        name = d.producer or d.name
    else:
        what, deco = ("resource", "@resource") if isinstance(d, ResourceDef) else \
            ("observable source", "@observable_source")
        name = d.name
    fn = getattr(d.fn, "__name__", "?")
    raise DefinitionError(f"function {fn!r} is declared as {what} {name!r} twice ({deco} written twice over it, "
                          "or applied to it twice); declare it once", file=d.file, line=d.line)


def _clash_of_out(d: AssetDef | SourceDef | ObservableSourceDef, prev: AssetDef | SourceDef | ObservableSourceDef
                  ) -> None:
    """An out of a multi-asset named like another definition: say which out of which multi-asset."""
    def who(x: AssetDef | SourceDef | ObservableSourceDef) -> str:
        if isinstance(x, AssetDef):
            return f"out {x.name!r} of multi-asset {x.producer!r}" if x.producer else f"asset {x.name!r}"
        return f"{'observable source' if isinstance(x, ObservableSourceDef) else 'source'} {x.name!r}"
    raise DefinitionError(f"{who(d)} clashes with {who(prev)} ({prev.file}:{prev.line}): each out is an asset, "
                          "and names must be unique; rename one", file=d.file, line=d.line)


def _check_producer_names(producers: dict[str, list[str]],
                          nodes: dict[str, AssetDef | SourceDef | ObservableSourceDef]) -> None:
    """A multi-asset's name selects its outs, so it may name no other node (its own out is fine)."""
    for pname, outs in producers.items():
        other = nodes.get(pname)
        first: AssetDef = nodes[outs[0]]  # type: ignore[assignment]
        if other is not None and pname not in outs:
            raise DefinitionError(f"multi-asset {pname!r} is named like {other!r} ({other.file}:{other.line}): "
                                  f"selecting {pname!r} could mean either; rename one", file=first.file, line=first.line)
        places = {(nodes[o].file, nodes[o].line) for o in outs}
        if len(places) > 1:
            (f1, l1), (f2, l2) = sorted(places)[:2]
            raise DefinitionError(f"two multi-assets named {pname!r} (the other at {f1}:{l1}); rename one",
                                  file=f2, line=l2)


def _add_resource(d: ResourceDef, resources: dict[str, ResourceDef]) -> None:
    if d.name == CONTEXT:
        raise DefinitionError(f"{CONTEXT!r} cannot name a resource: a parameter named {CONTEXT!r} receives "
                              "the AssetContext; choose another name", file=d.file, line=d.line)
    prev = resources.get(d.name)
    if prev is not None and prev.fn is d.fn:
        _declared_twice(d)
    if prev is not None:
        raise DefinitionError(f"two resources named {d.name!r} (the other at {prev.file}:{prev.line}); "
                              "rename one", file=d.file, line=d.line)
    resources[d.name] = d


def _check_resource_names(resources: dict[str, ResourceDef],
                          nodes: dict[str, AssetDef | SourceDef | ObservableSourceDef]) -> None:
    """A name is a resource or a node, never both: a parameter of that name could not say
    which it wants (the live object, or the value)."""
    for rname, r in resources.items():
        other = nodes.get(rname)
        if other is not None:
            what = "an asset" if isinstance(other, AssetDef) else "an observable source" \
                if isinstance(other, ObservableSourceDef) else "a source"
            raise DefinitionError(f"{rname!r} names both a resource ({r.file}:{r.line}) and {what} "
                                  f"({other.file}:{other.line}): a parameter {rname!r} could mean either; "
                                  "rename one", file=other.file, line=other.line)


def _check_source_versions(sources: list[SourceDef]) -> frozenset[str]:
    """One path, one version policy (the workspace versions a path one way per build); the
    declared paths of the sources versioned by mtime."""
    mtime = [d for d in sources if d.version == "mtime"]
    if not mtime:
        return frozenset()
    import os

    seen: dict[str, SourceDef] = {}
    for d in sources:
        path = os.path.normpath(d.path)
        other = seen.setdefault(path, d)
        if other.version != d.version:
            raise DefinitionError(f"sources {other.name!r} and {d.name!r} read {d.path} with different "
                                  f"version= ({other.version!r} and {d.version!r}); use one",
                                  file=d.file, line=d.line)
    return frozenset(d.path for d in mtime)


def check_output_overlaps(nodes: dict[str, AssetDef | SourceDef | ObservableSourceDef]) -> None:
    """No declared ``outputs=`` entry may be, contain or lie inside another asset's outputs or
    path output, or a source: each file in the project has one owner (or a build would
    overwrite another asset's output, or change its own input). Run on the declared graph, and
    again on the partitions' nodes (``partitioned.expand``), whose paths only exist once their
    keys fill ``{partition}`` in. The paths are sorted, so that what a directory holds follows
    it: one sort and one pass, so 100,000 partitions cost a fraction of a second."""
    import os
    from operator import itemgetter

    rows: list[tuple[str, int, int, Any, str]] = []  # (path + "/", declared as n-th, kind, definition, entry)
    sources: list[tuple[int, SourceDef]] = []
    first: AssetDef | None = None  # the first asset declaring outputs=
    for i, d in enumerate(nodes.values()):
        if isinstance(d, AssetDef):
            if d.outputs:
                if first is None:
                    first = d
                for o in d.outputs:
                    rows.append((o.rstrip("/") + "/", i, _OUTPUTS, d, o))
            elif d.path is not None:
                rows.append((d.path + "/", i, _PATH, d, d.path))
        elif isinstance(d, SourceDef):  # an observable source has no file
            sources.append((i, d))
    if first is None:
        return
    for i, src in sources:
        path = os.path.normpath(src.path).replace(os.sep, "/")
        if path in (".", ".."):  # the whole project: every output would change it
            raise DefinitionError(f"asset {first.name!r} (outputs {first.outputs[0]!r}) lies inside the "
                                  f"source {src.name!r} ({src.path}): each build would change that source",
                                  file=first.file, line=first.line)
        if not path.startswith(("/", "../")):
            rows.append((path + "/", i, _SOURCE, src, src.path))
    rows.sort(key=itemgetter(0, 1))
    around: list[tuple[str, int, int, Any, str]] = []  # the rows that hold this one (or are it), outermost first
    outs: list[int] = []  # the places in ``around`` of outputs= rows
    for row in rows:
        path = row[0]
        while around and not path.startswith(around[-1][0]):
            if outs and outs[-1] == len(around) - 1:
                outs.pop()
            around.pop()
        # a path= file inside another, or in a source directory, is refused with the other checks
        # of paths (session.project): here, one of the two is a directory of outputs=
        other = around[-1] if around and row[2] == _OUTPUTS else around[outs[-1]] if outs else None
        if other is not None:
            later, earlier = (row, other) if row[1] > other[1] else (other, row)
            d = later[3]
            raise DefinitionError(f"{_claim(later)} overlaps {_claim(earlier)}: a file in the project can have "
                                  "only one owner; declare separate paths", file=d.file, line=d.line)
        if row[2] == _OUTPUTS:
            outs.append(len(around))
        around.append(row)


_SOURCE, _PATH, _OUTPUTS = 0, 1, 2


def _claim(row: tuple[str, int, int, Any, str]) -> str:
    """What a row of ``check_output_overlaps`` claims, in words."""
    _, _, kind, d, entry = row
    if kind == _SOURCE:
        return f"the source {d.name!r}"
    return f"asset {d.name!r} ({'outputs' if kind == _OUTPUTS else 'path'} {entry!r})"


def _toposort(names: list[str], inputs: dict[str, tuple[tuple[str | None, str], ...]],
              nodes: dict[str, AssetDef | SourceDef | ObservableSourceDef]) -> list[str]:
    """Kahn's algorithm, stable in declaration order; on a cycle, find and name it."""
    indeg = {n: 0 for n in names}
    down: dict[str, list[str]] = {n: [] for n in names}
    for n in names:
        for _, u in inputs[n]:
            if u in indeg:
                indeg[n] += 1
                down[u].append(n)
    ready = [n for n in names if indeg[n] == 0]
    ready.reverse()
    order: list[str] = []
    while ready:
        n = ready.pop()
        order.append(n)
        newly = []
        for m in down[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                newly.append(m)
        ready.extend(reversed(newly))
    if len(order) != len(names):
        remaining = {n for n in names if indeg[n] > 0}
        cycle = _find_cycle(remaining, inputs)
        first = nodes[cycle[0]]
        raise CycleError(cycle, file=first.file, line=first.line)
    return order


def _find_cycle(remaining: set[str], inputs: dict[str, tuple[tuple[str | None, str], ...]]) -> list[str]:
    # Every node left has an unprocessed upstream in `remaining`; walk upstream until a repeat.
    start = min(remaining)
    seen: dict[str, int] = {}
    path: list[str] = []
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(u for _, u in inputs[node] if u in remaining)
    cycle = path[seen[node]:]
    cycle.reverse()  # dependencies first: a -> b means b uses a
    return cycle


def select(graph: Graph, patterns: Sequence[str], *, needs: bool = True) -> list[str]:
    """The assets ``patterns`` select and (``needs``) everything upstream of them, in build order.

    An item is an asset name, a glob over names (``raw/*``) or ``group:NAME``, with ``+`` before
    (and upstream), after (and downstream) or both; ``-ITEM`` takes its matches out of the selection
    (``--exclude``), before what the rest needs is added: a build still builds what it needs.
    No patterns (or only exclusions) means all. See ``selection``.
    """
    if not patterns:  # the common case, and a null build's: no walk
        return list(graph.order)
    items = [parse(p) for p in patterns]
    picked: set[str] = set()
    dropped: set[str] = set()
    for item in items:
        base = _match(graph, item.pattern, source_ok=item.downstream)
        hits = set(base)
        if item.upstream:  # +x+: x, its upstream and its downstream (not the downstream's upstream)
            hits |= upstream(graph.inputs, base)
        if item.downstream:
            hits |= downstream(graph.inputs, base)
        (dropped if item.exclude else picked).update(h for h in hits if h in graph.inputs)
    if not any(not i.exclude for i in items):
        picked = set(graph.order)
    wanted = picked - dropped
    if needs:
        wanted = upstream(graph.inputs, wanted)
    return [n for n in graph.order if n in wanted]


def _not_partitioned(graph: Graph, pat: str) -> str:
    """A hint for a glob that matched nothing and reads as NAME[KEY] of an asset that has no
    partitions (a source or an asset: the user meant a partition, most likely), else ""."""
    if not pat.endswith("]") or "[" not in pat:
        return ""
    from .partitions import split_node

    asset, key = split_node(pat)
    if key is None or asset not in graph.nodes or asset in graph.partitioned:
        return ""
    return f" ({asset!r} is not partitioned: name it without a partition key)"


def _match(graph: Graph, pat: str, *, source_ok: bool = False) -> list[str]:
    """The nodes one pattern names: assets (``source_ok``: a source too, whose readers ``NAME+`` selects)."""
    if "[" in pat and pat.endswith("]") and graph.partitioned:  # NAME[KEY]: a partition if NAME is partitioned
        if pat in graph.inputs:
            return [pat]
        from .partitions import split_node, unknown_key

        asset, key = split_node(pat)
        pset = graph.partitioned.get(asset)
        if pset is not None and key is not None:
            raise SelectionError(f"{asset}: {unknown_key(key, pset.keys)}")
        # else a glob, its [...] a character class ('p[12]': p1 and p2)
    if pat in graph.producers and pat not in graph.inputs:  # a multi-asset: all its outs
        return list(graph.producers[pat])
    if pat in graph.partitioned:  # a partitioned asset: all its partitions
        return list(graph.partitioned[pat].nodes)
    if pat.startswith("group:"):
        g = pat[6:]
        hits = [n for n in graph.order if getattr(graph.nodes[n], "group", None) == g]
        if not hits:
            groups = {grp for d in graph.nodes.values() if (grp := getattr(d, "group", None)) is not None}
            raise SelectionError(f"no asset is in group {g!r}{_suggest(g, groups)}")
        return hits
    if any(c in pat for c in "*?["):
        hits = [n for n in graph.order if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise SelectionError(f"no asset matches {pat!r}{_not_partitioned(graph, pat)}")
        return hits
    if pat in graph.inputs:
        return [pat]
    if pat in graph.nodes:
        if source_ok:
            return [pat]
        if isinstance(graph.nodes[pat], ObservableSourceDef):
            raise SelectionError(f"{pat!r} is an observable source, not an asset; it is observed, never "
                                 f"built (assetbuild observe {pat})")
        raise SelectionError(f"{pat!r} is a source, not an asset; sources are never built")
    if pat in graph.resources:
        raise SelectionError(f"{pat!r} is a resource, not an asset; resources are never built "
                             "(and store no value)")
    raise SelectionError(f"no asset named {pat!r}{_suggest(pat, [*graph.inputs, *graph.partitioned])}")
