"""When the upstream changes an asset's data does not include happened: the facts behind
freshness (``status``'s ``overdue``, and each tick of ``assetbuild run``).

A change is a new source version (a file source changes at its mtime or, if later, when
assetbuild first saw that version: assetbuild.ticks keeps first sightings), a new observation,
or an upstream materialization whose data differs. What an asset lacks follows the versions its
latest materialization recorded: through an input at the version it read, it lacks that input's
first change since (history says when), and whatever the input itself lacked then, so a change
at a source reaches every asset downstream with its own time, not the time an intermediate
asset was rebuilt. An intermediate rebuild whose data came out identical passes nothing on.
The oldest of several changes is the oldest by age (clock.by_age): one recorded later than
now, by a clock that ran ahead, is no age and comes first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from .clock import by_age
from .definitions import AssetDef, ObservableSourceDef, SourceDef
from .graph import Graph
from .ticks import seen_versions

DATA_KINDS = ("materialized", "restored", "accepted")  # events after which an asset holds new data


class ChangeTimes:
    """Answers, from the store as it is, when the changes each asset lacks happened (ns).

    ``current(source)``: a source's or observable source's version now (None: unreadable,
    which lacks nothing). ``now_ns``: a version never seen before counts as seen now."""

    def __init__(self, graph: Graph, store: Any, current: Callable[[str], str | None], now_ns: int,
                 project_dir: str) -> None:
        self.graph = graph
        self.store = store
        self.current = current
        self.now_ns = now_ns
        self._age = by_age(now_ns)  # the oldest of several changes: min(..., key=self._age)
        self.root = project_dir
        self._heads: dict[str, Any] = {}
        self._after: dict[tuple[str, str], int | None] = {}
        self._lacks: dict[str, int | None] = {}
        self._seen: dict[str, list[tuple[str, int]]] = {}
        self._data: dict[str, int | None] = {}

    def head(self, asset: str) -> Any:
        if asset not in self._heads:
            self._heads[asset] = self.store.get_head(asset)
        return self._heads[asset]

    def prime(self, nodes: Iterable[str]) -> None:
        """Work out what ``nodes`` and everything upstream of them lack, upstream first: each
        asset then costs one look at its inputs, and a long chain no deep recursion."""
        graph = self.graph
        todo, closure = list(nodes), set()
        while todo:
            n = todo.pop()
            if n not in closure and n not in self._lacks:
                closure.add(n)
                todo += [up for _, up in graph.inputs.get(n, ())]
        for n in graph.order:
            if n in closure:
                self.lacks(n)

    def lacks(self, asset: str) -> int | None:
        """The time of the oldest change ``asset``'s latest materialization does not include
        (None: it includes everything, or it was never materialized: see :meth:`changed_inputs`)."""
        memo = self._lacks
        if asset in memo:
            return memo[asset]
        memo[asset] = None  # a cycle cannot happen in a graph; this guards a damaged history
        head = self.head(asset)
        out = None
        if head is not None:
            nodes = self.graph.nodes
            for up, version in head.inputs:
                if isinstance(nodes.get(up), AssetDef):
                    h = self.head(up)
                    t = self.lacks(up) if h is not None and h.data_version == version else self.after(up, version)
                else:
                    t = self.after(up, version)
                if t is not None:
                    out = t if out is None else min(out, t, key=self._age)
        memo[asset] = out
        return out

    def changed_inputs(self, asset: str) -> dict[str, int]:
        """Each direct input whose version differs from the one ``asset`` last read, with the
        time of its oldest change since (for an asset never materialized: every input that has
        data, with the time of that data). An input it read that it reads no more (a partition
        gone: a file deleted, a dynamic key removed) changed now; one it reads now but did not
        then, when its data appeared (a partition built outside ``run``)."""
        head = self.head(asset)
        if head is None:
            out = {}
            for _, up in self.graph.inputs.get(asset, ()):
                t = self.data_time(up)
                if t is not None:
                    out[up] = t
            return out
        out = {}
        now_inputs = {up for _, up in self.graph.inputs.get(asset, ())}
        for up, version in head.inputs:
            if up not in now_inputs:
                out[up] = self.now_ns
            elif self.version_now(up) != version:
                t = self.after(up, version)
                out[up] = t if t is not None else self.now_ns
        read = {up for up, _ in head.inputs}
        for up in sorted(now_inputs - read):
            if self.version_now(up) is not None:
                t = self.data_time(up)
                out[up] = t if t is not None else self.now_ns
        return out

    def version_now(self, node: str) -> str | None:
        d = self.graph.nodes.get(node)
        if isinstance(d, (SourceDef, ObservableSourceDef)):
            return self.current(node)
        head = self.head(node)
        return head.data_version if head is not None else None

    def data_time(self, node: str) -> int | None:
        """When the oldest data of ``node`` that a reader with none of it lacks appeared: a
        source's first version seen (its current version's change time if none was recorded);
        for an asset, the oldest of its first recorded materialization (its latest, if history
        has none) and the data times of what it read, directly or not (what it holds came from
        there: a reader without it lacks those changes too); for an asset never materialized,
        the oldest data it would read (None: it reads nothing that has data). A reader never
        materialized lacks it all: a source that keeps changing does not make it look new."""
        memo = self._data
        if node in memo:
            return memo[node]
        graph = self.graph
        inputs: dict[str, list[str]] = {}  # every asset this needs, with what it read or would read
        todo = [node]
        while todo:  # (then upstream first, in the graph's order: no deep recursion)
            n = todo.pop()
            if n in inputs or n in memo:
                continue
            d = graph.nodes.get(n)
            if not isinstance(d, AssetDef):
                memo[n] = self._source_data_time(n, d) if isinstance(d, (SourceDef, ObservableSourceDef)) else None
                continue
            head = self.head(n)
            inputs[n] = [up for up, _ in head.inputs] if head is not None else [up for _, up in graph.inputs.get(n, ())]
            todo += inputs[n]
        for n in graph.order:
            ups = inputs.get(n)
            if ups is None or n in memo:
                continue
            times = [t for up in ups for t in (memo.get(up),) if t is not None]
            head = self.head(n)
            if head is not None:
                first = next((e.end_ns for e in self.store.events(n) if e.kind in DATA_KINDS and e.data_version),
                             None)
                times.append(head.built_ns if first is None else min(first, head.built_ns, key=self._age))
            memo[n] = min(times, key=self._age, default=None)
        return memo.get(node)

    def _source_data_time(self, node: str, d: SourceDef | ObservableSourceDef) -> int | None:
        version = self.current(node)
        seen = self._sightings(node, d)
        if version is None:
            return None
        if seen:
            return min(seen[0][1], self._source_time(node, version, d), key=self._age)
        return self._source_time(node, version, d)

    def after(self, node: str, version: str) -> int | None:
        """The oldest change in ``node``'s data since it had ``version`` (None: none), what it
        has lacked since then included."""
        key = (node, version)
        if key in self._after:
            return self._after[key]
        self._after[key] = None
        d = self.graph.nodes.get(node)
        if isinstance(d, (SourceDef, ObservableSourceDef)):
            out = self._source_after(node, version, d)
        elif isinstance(d, AssetDef):
            out = self._asset_after(node, version)
        else:
            out = None
        self._after[key] = out
        return out

    def _oldest(self, inputs: Any) -> int | None:
        return min((t for up, v in inputs for t in (self.after(up, v),) if t is not None), key=self._age, default=None)

    def _sightings(self, node: str, d: Any) -> list[tuple[str, int]]:
        """(version, first seen ns) of ``node``'s recent versions, oldest first: what
        assetbuild.ticks' log recorded, with an observable source's observations in history."""
        if node in self._seen:
            return self._seen[node]
        seen = seen_versions(self.store, node)
        if isinstance(d, ObservableSourceDef):  # observations a build made are in history too
            seen += [(e.data_version, e.end_ns) for e in self.store.events(node)
                     if e.kind == "observed" and e.data_version]
            seen.sort(key=lambda vt: vt[1])
        out: list[tuple[str, int]] = []
        for v, t in seen:
            if not out or out[-1][0] != v:
                out.append((v, t))
        self._seen[node] = out
        return out

    def _source_after(self, node: str, version: str, d: Any) -> int | None:
        now = self.current(node)
        if now is None or now == version:
            return None
        seen = self._sightings(node, d)
        last = max((i for i, (v, _) in enumerate(seen) if v == version), default=None)
        if last is not None and last + 1 < len(seen) and seen[last + 1][0] != now:
            return seen[last + 1][1]
        return self._source_time(node, now, d)

    def _source_time(self, node: str, version: str, d: Any) -> int:
        """A version's change time: when first seen (now, if never), or a file's mtime if later;
        a file source never seen at all changed at its mtime."""
        seen = self._sightings(node, d)
        first = next((t for v, t in reversed(seen) if v == version), None)
        if not isinstance(d, SourceDef):
            return first if first is not None else self.now_ns
        try:
            mtime = os.stat(os.path.join(self.root, d.path)).st_mtime_ns
        except OSError:
            mtime = None
        if first is None:
            first = self.now_ns if seen or mtime is None else mtime
        return max(first, mtime) if mtime is not None else first

    def _asset_after(self, node: str, version: str) -> int | None:
        head = self.head(node)
        if head is None:
            return None
        if head.data_version == version:
            return self.lacks(node)
        events = [e for e in self.store.events(node) if e.kind in DATA_KINDS and e.data_version]
        at = max((i for i, e in enumerate(events) if e.data_version == version), default=None)
        times: list[int] = []
        if at is None:  # that version's materialization is no longer in history
            times.append(head.built_ns)
        else:
            later = next((e for e in events[at + 1:] if e.data_version != version), None)
            times.append(later.end_ns if later is not None else head.built_ns)
            t = self._oldest(events[at].inputs)
            if t is not None:
                times.append(t)
        t = self.lacks(node)
        if t is not None:
            times.append(t)
        return min(times, key=self._age)
