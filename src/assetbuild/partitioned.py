"""The graph of partitions: each partitioned asset becomes one node per key (``daily[2024-01-01]``),
each reading exactly the upstream partitions its mapping names.

Everything downstream of this (keys, traces, heads, history, the scheduler, ``why``) works on
nodes, so a partition is built, cached, explained and recorded like any asset, and its key
covers only the upstream partitions it reads. ``Graph.partitioned`` keeps the asset's view
(its definition, keys and nodes) for the commands that summarise it. Pure: the keys come from a
``PartitionEnv`` the session fills in (the clock, the files a glob matches, dynamic keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .definitions import AssetDef, SourceDef
from .errors import DefinitionError
from .graph import Graph, check_output_overlaps
from .mappings import Mapper, MappingError, plan_mapping
from .partitions import FilePartitions, PartitionEnv, PartitionsDefinition, TimeWindowPartitions, node_name

_SLOTS = AssetDef.__slots__


class PartitionRef:
    """One partition of an asset, as its node's ``AssetDef.partition`` and its task carry it:
    small and picklable. ``window``: (start, end) epoch seconds of a time partition; ``path``:
    the file of a file partition (relative to the project directory)."""

    __slots__ = ("asset", "key", "kind", "window", "timezone", "path", "key_part")

    def __init__(self, asset: str, key: str, kind: str, window: tuple[int, int] | None, timezone: str,
                 path: str | None, key_part: str) -> None:
        self.asset = asset
        self.key = key
        self.kind = kind
        self.window = window
        self.timezone = timezone
        self.path = path
        self.key_part = key_part

    def __reduce__(self) -> Any:
        return PartitionRef, (self.asset, self.key, self.kind, self.window, self.timezone, self.path, self.key_part)

    def __repr__(self) -> str:
        return f"<partition {self.asset}[{self.key}]>"


@dataclass
class PartitionSet:
    """A partitioned asset's partitions at this build's "now": keys and node names, in key order."""

    definition: PartitionsDefinition
    keys: list[str]
    nodes: list[str]


def file_source(path: str) -> str:
    """The name of the source node a file partition reads: never a valid asset name."""
    return f"file:{path}"


_OWN = ("name", "path", "outputs", "partition")  # what differs between the partitions of an asset


def _partition_class(d: AssetDef) -> type[AssetDef]:
    """A subclass of AssetDef whose class attributes are ``d``'s unchanging fields (they shadow
    the slots), so each partition's AssetDef sets only its own four: 90,000 partitions cost
    milliseconds, not a copy of every field each."""
    shared: dict[str, Any] = {s: getattr(d, s) for s in _SLOTS if s not in _OWN}
    shared["fn"] = staticmethod(d.fn)  # a function in a class would become a method
    return type(f"AssetDef[{d.name}]", (AssetDef,), {"__slots__": (), **shared})


def _clone(cls: type[AssetDef], d: AssetDef, node: str, ref: PartitionRef) -> AssetDef:
    c = cls.__new__(cls)
    c.name = node
    c.path = d.path.replace("{partition}", ref.key) if d.path is not None else None
    c.outputs = tuple(o.replace("{partition}", ref.key) for o in d.outputs) if d.outputs else ()
    c.partition = ref
    return c


def expand(graph: Graph, env: PartitionEnv) -> Graph:
    """``graph`` with every partitioned asset replaced by its partition nodes (itself if there are
    none). DefinitionError for partitions that do not map, an ``In`` mapping on an unpartitioned
    upstream, or two partitions writing the same file."""
    parted: dict[str, PartitionsDefinition] = {}
    for name in graph.order:
        defn = graph.nodes[name].partitions  # type: ignore[union-attr]
        if defn is not None:
            parted[name] = defn
    if not parted:
        for name, params in graph.mappings.items():
            _no_mapping_here(graph, name, next(iter(params)))
        return graph
    _check_templates(graph, parted)
    keys_of: dict[str, list[str]] = {}
    by_identity: dict[Any, list[str]] = {}
    for name, defn in parted.items():
        ident = defn.identity()
        if ident not in by_identity:
            by_identity[ident] = defn.keys(env)
        keys_of[name] = by_identity[ident]

    nodes: dict[str, Any] = {}
    inputs: dict[str, tuple[tuple[str | None, str], ...]] = {}
    order: list[str] = []
    fan_in: dict[str, dict[str, str]] = {}
    fan_labels: dict[str, dict[str, tuple[str, ...]]] = {}
    absent: dict[str, tuple[str, ...]] = {}
    wants_context: set[str] = set()
    uses: dict[str, tuple[tuple[str, str], ...]] = {}
    partitioned: dict[str, PartitionSet] = {}
    for name, decl in graph.nodes.items():
        if name not in parted:
            nodes[name] = decl
            continue
        defn = parted[name]
        keys = keys_of[name]
        refs = _refs(name, defn, keys, env)
        pset = partitioned[name] = PartitionSet(defn, keys, [f"{name}[{k}]" for k in keys])  # node_name
        adef: AssetDef = decl  # type: ignore[assignment]  # only assets have partitions
        cls = _partition_class(adef)
        for node, ref in zip(pset.nodes, refs):
            nodes[node] = _clone(cls, adef, node, ref)
            if ref.path is not None and isinstance(defn, FilePartitions):
                src = file_source(ref.path)
                if src not in nodes:
                    nodes[src] = SourceDef(src, ref.path, adef.file, adef.line, f"a file of {defn.pattern}")

    for name in graph.order:
        d = graph.nodes[name]
        defn_or_none = parted.get(name)
        bound = graph.inputs[name]
        declared = graph.mappings.get(name, {})
        mappers: dict[tuple[str | None, str], Mapper] = {}
        for param, up in bound:
            updef = parted.get(up)
            mapping = declared.get(param) if param is not None else None
            if updef is None:
                if mapping is not None:
                    _no_mapping_here(graph, name, param)  # type: ignore[arg-type]
                continue
            if param is not None and param in graph.fan_in.get(name, {}):
                raise DefinitionError(f"asset {name!r}: ins {graph.fan_in[name][param]!r} matches the partitioned "
                                      f"asset {up!r}; name it in ins to read its partitions", file=d.file, line=d.line)
            try:
                plan = plan_mapping(defn_or_none, updef, mapping)
            except MappingError as e:
                raise DefinitionError(_mismatch(name, defn_or_none, up, updef, str(e), mapping is not None),
                                      file=d.file, line=d.line) from None
            mappers[(param, up)] = Mapper(plan, defn_or_none, updef, mapping, keys_of.get(name, []), keys_of[up],
                                          env.now_ns)
        if defn_or_none is None:
            order.append(name)
            if name in graph.wants_context:
                wants_context.add(name)
            if name in graph.uses:
                uses[name] = graph.uses[name]
            if name in graph.fan_in:
                fan_in[name] = dict(graph.fan_in[name])
            if not mappers:
                inputs[name] = bound
                continue
            _bind(name, None, bound, mappers, inputs, fan_in, fan_labels, absent, None)
            continue
        file_defn = defn_or_none if isinstance(defn_or_none, FilePartitions) else None
        these = partitioned[name].nodes
        order += these
        if name in graph.wants_context:
            wants_context.update(these)
        if name in graph.uses:
            uses.update(dict.fromkeys(these, graph.uses[name]))
        if not mappers and file_defn is None:  # its partitions read what the asset reads: one tuple for all
            inputs.update(dict.fromkeys(these, bound))
            continue
        for key, node in zip(keys_of[name], these):
            read = file_source(file_defn.path(key)) if file_defn is not None else None
            _bind(node, key, bound, mappers, inputs, fan_in, fan_labels, absent, read)
    _check_paths(nodes, partitioned, any(isinstance(d, AssetDef) and d.outputs for d in graph.nodes.values()))
    return graph.replace(nodes=nodes, inputs=inputs, order=order, wants_context=wants_context, uses=uses,
                         fan_in=fan_in, partitioned=partitioned, fan_labels=fan_labels, absent=absent, declared=graph)


def _bind(node: str, key: str | None, bound: tuple[tuple[str | None, str], ...],
          mappers: dict[tuple[str | None, str], Mapper], inputs: dict[str, Any], fan_in: dict[str, dict[str, str]],
          fan_labels: dict[str, dict[str, tuple[str, ...]]], absent: dict[str, tuple[str, ...]],
          file_src: str | None) -> None:
    """One node's inputs: a partitioned upstream becomes the partitions its mapping names."""
    out: list[tuple[str | None, str]] = []
    missing: list[str] = []
    for param, up in bound:
        m = mappers.get((param, up))
        if m is None:
            out.append((param, up))
            continue
        got = m(key)
        if got.many:
            out += [(param, f"{up}[{k}]") for k in got.keys]  # node_name
            if param is not None:
                fan_in.setdefault(node, {})[param] = f"partitions of {up}"
                fan_labels.setdefault(node, {})[param] = tuple(got.keys)
        elif got.keys:
            out.append((param, node_name(up, got.keys[0])))
        elif param is not None:
            missing.append(param)
    if file_src is not None:
        out.append((None, file_src))  # its file's contents are an input of this partition alone
    inputs[node] = tuple(out)
    if missing:
        absent[node] = tuple(missing)


def _refs(name: str, defn: PartitionsDefinition, keys: list[str], env: PartitionEnv) -> list[PartitionRef]:
    kind = defn.kind
    if isinstance(defn, TimeWindowPartitions):
        wk, starts, ends = defn.windows(env.now_ns)
        part = defn.key_part("")
        return [PartitionRef(name, k, kind, (s, e), defn.timezone, None, part) for k, s, e in zip(wk, starts, ends)]
    if isinstance(defn, FilePartitions):
        return [PartitionRef(name, k, kind, None, "", p, p) for k in keys for p in (defn.path(k),)]
    part = defn.key_part("") or kind
    return [PartitionRef(name, k, kind, None, "", None, part) for k in keys]


def _no_mapping_here(graph: Graph, name: str, param: str) -> None:
    d = graph.nodes[name]
    up = next(u for p, u in graph.inputs[name] if p == param)
    raise DefinitionError(f"asset {name!r}: ins gives {param!r} a partition mapping, but {up!r} is not partitioned "
                          "(only a partitioned upstream's partitions can be mapped); name it without In(...)",
                          file=d.file, line=d.line)


def _mismatch(name: str, down: PartitionsDefinition | None, up: str, updef: PartitionsDefinition, why: str,
              mapped: bool = False) -> str:
    mine = down.describe() if down is not None else "no partitions"
    if mapped:  # the mapping given is the mistake
        return f"asset {name!r} ({mine}) reads {up!r} ({updef.describe()}): {why}"
    return (f"asset {name!r} ({mine}) reads {up!r} ({updef.describe()}): {why}; map them with "
            f"ins={{'{up}': In('{up}', mapping=...)}} (TimeWindow, LastN, AllPartitions or a dict of keys)")


def _check_templates(graph: Graph, parted: dict[str, PartitionsDefinition]) -> None:
    """Two partitioned assets with one path template (``build/{partition}.json``) would write one
    file for a key they share, as soon as they share one (a file both globs match, a dynamic key
    added to both): refused when declared, not when the first such key arrives."""
    seen: dict[str, str] = {}
    for name in parted:
        d: AssetDef = graph.nodes[name]  # type: ignore[assignment]
        for t in (d.path,) if d.path is not None else d.outputs:
            other = seen.setdefault(t.rstrip("/"), name)
            if other != name:
                raise DefinitionError(f"partitioned assets {other!r} and {name!r} both write {t}: a partition key "
                                      "they share would be one file with two owners (give each its own directory)",
                                      file=d.file, line=d.line)


def _check_paths(nodes: dict[str, Any], partitioned: dict[str, PartitionSet], outputs: bool) -> None:
    """Two partitions (of one asset or two) that would write the same file, or, when an asset
    declares ``outputs=``, whose outputs nest (a key ``a/b`` beside ``a`` in ``build/{partition}/``,
    or inside another asset's directory): each file has one owner. Paths are compared
    normalised, so no spelling of a key escapes it."""
    seen: dict[str, str] = {}
    globs = {a: ps.definition for a, ps in partitioned.items() if isinstance(ps.definition, FilePartitions)}
    for name, d in nodes.items():
        if not isinstance(d, AssetDef):
            continue
        for p in (d.path,) if d.path is not None else d.outputs:
            bare = _normal(p)
            for asset, defn in globs.items():
                if defn.matches(bare):
                    raise DefinitionError(f"{name!r} writes {p}, which the glob {defn.pattern!r} of {asset!r} matches: "
                                          "each build would add a partition for it (write it outside "
                                          f"{defn.directory or 'the glob'}/)", file=d.file, line=d.line)
            other = seen.setdefault(bare, name)
            if other != name:
                raise DefinitionError(f"{other!r} and {name!r} both write {p}: a file in the project can have only "
                                      "one owner (give their path= templates different directories)",
                                      file=d.file, line=d.line)
    if outputs:
        check_output_overlaps(nodes)


def _normal(path: str) -> str:
    """``path`` ('/'-separated, relative) without a trailing '/', '.' parts or doubled '/'
    (normpath only where there is one to remove: it costs microseconds a partition)."""
    if "//" in path or "/." in path or path.startswith("./"):
        import posixpath

        return posixpath.normpath(path)
    return path.rstrip("/")
