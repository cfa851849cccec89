"""What the declared policies ask of a project at one moment: the facts gathered from the store
(assetbuild.changes) and from the project as it is now (each asset's key parts but its inputs,
against its latest materialization's; eager assets' files in the project, against what that
materialization left there) handed to the pure rules (assetbuild.policies).
``assetbuild run`` calls :func:`evaluate` on each tick; ``status`` calls :func:`freshness_of`
for its ``overdue`` state, with the same changes of the assets' own (:func:`own_changed_at`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..changes import ChangeTimes
from ..clock import age_ns, by_age
from ..definitions import AssetDef, SourceDef
from ..errors import CacheCorrupt, DefinitionError
from ..graph import Graph
from ..keys import KeyParts
from ..policies import (
    CODE_CHANGED,
    EXPIRED,
    INTERPRETER_CHANGED,
    NS,
    PARAMS_CHANGED,
    Freshness,
    Policy,
    Request,
    due_schedules,
    env_changed,
    freshness_state,
    part_changed,
    resource_changed,
    tick_requests,
)


def has_policy(d: Any) -> bool:
    return isinstance(d, AssetDef) and (d.freshness is not None or d.auto is not None or d.schedule is not None)


def policy_nodes(graph: Graph, plan: Iterable[str]) -> list[str]:
    """The assets of ``plan`` that declare a policy (``freshness``, ``auto``, ``schedule``)."""
    nodes = graph.nodes
    return [n for n in plan if has_policy(nodes.get(n))]


def scope_of(graph: Graph, nodes: Iterable[str]) -> list[str]:
    """``nodes`` and every asset upstream of them (what their lag and requests depend on)."""
    seen: set[str] = set()
    todo = list(nodes)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo += [up for _, up in graph.inputs.get(n, ()) if isinstance(graph.nodes.get(up), AssetDef)]
    return sorted(seen)


def current_versions(project: Any, store: Any, observed: Mapping[str, Any] | None = None) -> Callable[[str], str | None]:
    """A source's version now (file sources through the stat cache, read-only), an observable
    source's by ``observed`` (this tick's observations) or else its latest recorded observation
    (an observation that failed says nothing of the version: no change); None when it cannot be
    read."""
    from ..errors import SourceMissing
    from ..workspace import Workspace

    files = Workspace(project.project_dir, store, record=False, by_mtime=project.graph.mtime_paths)
    nodes = project.graph.nodes

    def current(name: str) -> str | None:
        d = nodes.get(name)
        if isinstance(d, SourceDef):
            try:
                return files.source_version(d.path)
            except SourceMissing:
                return None
        obs = observed.get(name) if observed else None
        if obs is not None and obs.ok:
            return str(obs.version)
        rec = store.get_observation(name)
        return rec.version if rec is not None else None

    return current


@dataclass
class Evaluation:
    """One evaluation of the policies: the requests (what a tick builds, with reasons), those
    waiting for an upstream asset that was never materialized, each policy asset's freshness
    (assets that declare ``freshness``), and the schedules that were due."""

    now_ns: int
    evaluated: int
    requests: list[Request] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # asset -> why it is not built now
    freshness: dict[str, Freshness] = field(default_factory=dict)
    due: list[str] = field(default_factory=list)
    own: dict[str, int] = field(default_factory=dict)  # node -> its oldest change of its own (own_changed_at)


def own_changes(project: Any, store: Any = None) -> Callable[[str, Any], list[str]]:
    """``changed(node, head)``: which of ``node``'s own key parts (every part but its inputs)
    differ now from those of its latest materialization (``head``), as the ``changes`` entries
    of assetbuild.policies: what ``status`` calls code-changed, env-changed, params-changed,
    resource-changed, io-changed, path-changed, source-moved, key-changed (another
    interpreter)... The parts are made as a build makes them (rebuild.TraceRebuilder: the same
    fingerprints, declared defaults and pyproject's params, this process's environment, IO
    managers' versions), with the inputs the head read, so whatever ``status`` calls stale
    besides its inputs (which assetbuild.changes sees), a tick sees too. One key per asset says
    whether anything did; the parts are compared only then."""
    from ..keys import make_key
    from ..rebuild import head_parts

    rebuilder = _parts_maker(project, store)
    nodes = project.graph.nodes

    def changed(node: str, head: Any) -> list[str]:
        volatile = nodes[node].volatile  # its head's key has a nonce no part holds: compare the parts
        now = rebuilder.parts(node, head.inputs)
        if not volatile and make_key(node, now) == head.key:  # the idle tick's one question per asset
            return []
        was = head_parts(head)  # (its parts as tuples, whatever sequences the record held)
        now = now._replace(inputs=was.inputs)
        elsewhere = not volatile and make_key(node, was) != head.key  # rebuild.made_elsewhere
        if not volatile and not elsewhere and make_key(node, now) == head.key:
            return []
        return _parts_changed(was, now, elsewhere) or ([] if volatile else [part_changed("key")])

    return changed


def own_keys(project: Any, store: Any) -> Callable[[str], str | None]:
    """``own_key(node)``: the key of ``node``'s own parts now, its inputs left out (None for a
    node that is no asset): what changes with a fix of its code, declared env, params or
    resources, and not with new data (session.retries)."""
    from ..keys import make_key

    made: list[Any] = []  # the parts maker, made at the first question (most ticks ask none)

    def own_key(node: str) -> str | None:
        if not made:
            made.append(_parts_maker(project, store))
        try:
            return make_key(node, made[0].parts(node, ()))
        except (KeyError, AttributeError):  # (a source, an observable source, a node gone)
            return None

    return own_key


def _parts_maker(project: Any, store: Any) -> Any:
    """A TraceRebuilder for its key parts only: the same fingerprints, declared defaults and
    pyproject's params, this process's environment and IO managers' versions as a build's; no
    files, no clock (the tick's build warns of the code, once)."""
    from ..io import io_tag
    from ..rebuild import TraceRebuilder
    from .building import project_params

    return TraceRebuilder(project.graph, store, None, code_of=project.code_of(quiet=True),  # type: ignore[arg-type]
                          io_tags={n: io_tag(m) for n, m in project.io_managers.items()},
                          now=lambda: 0, params=project_params(project))


def output_changes(project: Any, store: Any) -> Callable[[str, Any], list[str]]:
    """``changed(node, head)``: what is wrong with the files in the project of ``node``'s latest
    materialization (``head``, under the key it has now): its path output or a file of its
    ``outputs=`` missing or edited, what ``status`` calls output-missing and output-modified and
    a build restores from the cache, running nothing (``"output build/x.csv missing"``,
    ``"output build/x.csv changed outside assetbuild"``). As a build looks: an unchanged path
    output costs one ``stat`` against its head's signature, an ``outputs=`` file one against the
    stat cache's; only a file whose signature differs is read. A path output that holds its
    bytes under another signature (touched; recorded racy) gets it in its head (kept by the
    commit only if not racy, as a build's), so later ticks need not read it again."""
    from ..workspace import Workspace

    files = Workspace(project.project_dir, store)
    unchanged = files.path_unchanged
    nodes = project.graph.nodes

    def changed(node: str, head: Any) -> list[str]:
        d = nodes[node]
        path = d.path
        if path is None:
            return _files_changed(files, store, head) if d.outputs else []
        recorded = head.path_stat
        if head.path != path or (recorded is not None and unchanged(path, recorded)):  # the idle tick's one stat
            return []
        state, sig = files.path_state(path, head.output_digest, recorded)
        if state == "ok":
            if sig is not None and sig != recorded:
                store.put_head(node, head._replace(path_stat=sig), device=files.device_of(path))
            return []
        return [f"output {path} {'missing' if state == 'missing' else 'changed outside assetbuild'}"]

    return changed


def _files_changed(files: Any, store: Any, head: Any) -> list[str]:
    """``output_changes`` of an asset with ``outputs=``: its files missing, edited or extra."""
    from ..manifest import decode_manifest

    try:
        manifest = decode_manifest(store.read_blob(head.output_digest))
    except (CacheCorrupt, ValueError):
        return []  # the cache's damage, not the project's files: a build says so
    problems = files.outputs_state(manifest)
    return [f"output{'s' if len(rels) > 1 else ''} {_some(rels)} {verb}"
            for kinds, verb in ((("missing",), "missing"), (("modified", "extra"), "changed outside assetbuild"))
            for rels in (sorted(rel for p, rel in problems if p in kinds),) if rels]


def _some(paths: list[str], shown: int = 3) -> str:
    return ", ".join(paths[:shown]) + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def _parts_changed(was: KeyParts, now: KeyParts, elsewhere: bool) -> list[str]:
    """The ``changes`` entries of the parts but the inputs that differ between ``was`` and
    ``now``; ``elsewhere``: ``was`` was made by another interpreter or key schema, whose code
    digests tell nothing (as rebuild.why_run says)."""
    out = [INTERPRETER_CHANGED] if elsewhere else []
    if was.code != now.code and not (elsewhere and not now.code.startswith("v:")):
        out.append(CODE_CHANGED)
    if was.env != now.env:
        before, after = dict(was.env), dict(now.env)
        out += [env_changed(v) for v in sorted(before.keys() | after.keys())
                if v not in before or v not in after or before[v] != after[v]]
    if was.params != now.params:
        out.append(PARAMS_CHANGED)
    if was.resources != now.resources:
        before, after = dict(was.resources), dict(now.resources)
        out += [resource_changed(r) for r in sorted(before.keys() | after.keys()) if before.get(r) != after.get(r)]
    out += [part_changed(what) for what, a, b in (
        ("IO manager", was.io, now.io), ("output path", was.path, now.path), ("source paths", was.sources, now.sources),
        ("fan-in", was.fan_in, now.fan_in), ("multi-asset", was.producer, now.producer),
        ("partitions", was.partition, now.partition)) if a != b]
    return out


def own_changed_at(project: Any, times: ChangeTimes, nodes: Iterable[str], now_ns: int,
                   seen: Callable[[str, str, list[str]], Mapping[str, int]] | None = None,
                   store: Any = None) -> dict[str, dict[str, int]]:
    """The changes of their own (assetbuild.policies' ``changes`` entries) of each of ``nodes``
    that was materialized, with their times: its ``max_age``'s expiry when it expired (it
    stands for data no key sees), the other parts of its key (:func:`own_changes`) as
    ``seen(node, head key, changes)`` says, when a tick first saw them (without it: now)."""
    graph: Graph = project.graph
    changed_own = own_changes(project, store)
    out: dict[str, dict[str, int]] = {}
    for n in nodes:
        head = times.head(n)
        if head is None:
            continue
        ch: dict[str, int] = {}
        max_age = getattr(graph.nodes[n], "max_age", None)
        if max_age is not None:  # expired as rebuild.py says: older than max_age, by the head's build
            # (built later than now: expired now, see clock.age_ns; so is its expiry, no age either)
            if age_ns(head.built_ns, now_ns) > max_age * NS:
                ch[EXPIRED] = head.built_ns + int(max_age * NS)
        own = changed_own(n, head)
        ch.update(seen(n, head.key, own) if seen is not None else dict.fromkeys(own, now_ns))
        if ch:
            out[n] = ch
    return out


def _new_time(times: ChangeTimes, d: AssetDef, node: str, appeared: Callable[[str], int | None] | None = None) -> int:
    """When a node never materialized appeared: a time partition's window end, else the time of
    the oldest data it would read; with no such data, when ``run`` first saw it (``appeared``),
    else now."""
    part = d.partition
    if part is not None and part.window is not None:
        return int(part.window[1]) * NS
    t = times.data_time(node)
    if t is None and appeared is not None:
        t = appeared(node)
    return t if t is not None else times.now_ns


def freshness_of(times: ChangeTimes, graph: Graph, nodes: Sequence[str],
                 appeared: Callable[[str], int | None] | None = None,
                 own: Mapping[str, int] | None = None) -> dict[str, Freshness]:
    """The freshness of each of ``nodes`` that declares one (``status``'s overdue state, the
    tick's alerts); ``appeared``: see :func:`_new_time`. ``own``: the time of the oldest change
    of its own (:func:`own_changed_at`) of each asset that has one, here or upstream: a node
    lacks those of its own and of every asset upstream of it, as it lacks their data changes
    (what :func:`evaluate` hands the rules, so a lazy asset that a tick builds 'for its
    freshness' is the one ``status`` calls overdue)."""
    out: dict[str, Freshness] = {}
    owners = [n for n in nodes if getattr(graph.nodes.get(n), "freshness", None) is not None]
    times.prime(owners)
    carried = _carried(graph, owners, own, times.now_ns) if own else {}
    for n in owners:
        d: AssetDef = graph.nodes[n]  # type: ignore[assignment]
        head = times.head(n)
        if head is None:
            missing = [_new_time(times, d, n, appeared)]
        else:
            t = times.lacks(n)
            missing = [t] if t is not None else []
        c = carried.get(n)
        out[n] = freshness_state(d.freshness, head.built_ns if head is not None else None, missing,  # type: ignore[arg-type]
                                 times.now_ns, () if c is None else (c,))
    return out


def _carried(graph: Graph, nodes: Sequence[str], own: Mapping[str, int], now_ns: int) -> dict[str, int]:
    """For ``nodes`` and the assets upstream of them, the oldest of the ``own`` changes of each
    and of every asset upstream of it (upstream first, in the graph's order; by age at
    ``now_ns``, clock.by_age)."""
    scope = set(scope_of(graph, nodes))
    out: dict[str, int] = {}
    for n in graph.order:
        if n not in scope:
            continue
        ts = [t for _, up in graph.inputs.get(n, ()) for t in (out.get(up),) if t is not None]
        if n in own:
            ts.append(own[n])
        if ts:
            out[n] = min(ts, key=by_age(now_ns))
    return out


def evaluate(project: Any, store: Any, plan: Sequence[str], now_ns: int,
             current: Callable[[str], str | None], last_evaluated: Callable[[str], int | None],
             appeared: Callable[[str], int | None] | None = None,
             hold: Callable[[str], str | None] | None = None,
             seen: Callable[[str, str, list[str]], Mapping[str, int]] | None = None) -> Evaluation:
    """What the policies of ``plan``'s assets ask at ``now_ns``. ``last_evaluated(asset)``: when
    its schedule was last evaluated (None: never), for :func:`due_schedules`; ``appeared(node)``:
    when ``run`` first saw a node that was never materialized and reads no data; ``hold(asset)``:
    why a requested asset may not be built now (a retry's backoff), else None. Held assets go to
    ``waiting`` with that reason, and so do those whose upstream was never materialized, or is
    held by ``hold`` (at any distance: a failing upstream's reader waits for its fix).
    ``seen(node, head key, own changes)``: when each change of the node's own (:func:`own_changes`)
    was first seen, remembered while its latest materialization is that head (asked with none
    too, to forget); without it they are seen now. Those changes count in the freshness
    states as they do in the requests (:func:`freshness_of`)."""
    graph: Graph = project.graph
    owners = policy_nodes(graph, plan)
    if not owners:
        return Evaluation(now_ns, 0)
    scope = scope_of(graph, owners)
    times = ChangeTimes(graph, store, current, now_ns, str(project.project_dir))
    policies: dict[str, Policy] = {}
    upstream: dict[str, list[str]] = {}
    changes: dict[str, dict[str, int]] = {}
    new: dict[str, int] = {}
    restore: dict[str, list[str]] = {}  # eager assets whose files alone are not as they were left
    outputs: Callable[[str, Any], list[str]] | None = None
    # expiry, code, env, params, resources...: changes of its own too, as of the first tick that saw them
    own = own_changed_at(project, times, scope, now_ns, seen, store)
    for n in scope:
        d: AssetDef = graph.nodes[n]  # type: ignore[assignment]
        policies[n] = Policy(d.auto, d.freshness, d.schedule)
        upstream[n] = [up for _, up in graph.inputs.get(n, ())]
        if times.head(n) is None:
            new[n] = _new_time(times, d, n, appeared)
        else:
            ch = dict(times.changed_inputs(n))
            ch.update(own.get(n, {}))
            if ch:
                changes[n] = ch
            elif d.auto == "eager" and (d.path is not None or d.outputs):
                outputs = outputs or output_changes(project, store)
                wrong = outputs(n, times.head(n))
                if wrong:
                    restore[n] = wrong
    ev_own = {n: min(ch.values(), key=by_age(now_ns)) for n, ch in own.items()}
    due = _due(graph, owners, now_ns, last_evaluated, lambda h: _scheduled_run_at(store, h))
    in_scope = set(scope)
    order = [n for n in graph.order if n in in_scope]
    ev = Evaluation(now_ns, len(scope), due=sorted(due), own=ev_own)
    # what cannot be built now is held, and the requests made again without it, until none is
    # held anew: an eager reader of a held asset is not requested for it (held only grows)
    failing: dict[str, str | None] = {}  # hold() of each asset upstream of a request, asked once

    def failing_upstream(asset: str) -> list[str]:
        """The assets upstream of ``asset`` (at any distance) held back for a failure: built
        now, it would read their values from before it (a due schedule counted as met by it)."""
        found, todo, met = [], list(upstream[asset]), set()
        while todo:
            up = todo.pop()
            if up in met or up not in policies:
                continue
            met.add(up)
            if up not in failing:
                failing[up] = hold(up) if hold is not None else None
            if failing[up] is not None:
                found.append(up)
            todo += upstream[up]
        return sorted(found)

    while True:
        requests = tick_requests(policies, upstream, changes, due, now_ns, new, order, held=ev.waiting,
                                 restore=restore)
        wanted = {r.asset for r in requests}
        fresh_holds = {}
        for r in requests:
            why = hold(r.asset) if hold is not None else None
            gone = sorted(up for up in upstream[r.asset]
                          if up in policies and up not in wanted and times.head(up) is None)
            if why is None and gone:  # --only builds against stored inputs: one never materialized blocks it
                why = f"upstream {', '.join(gone)} never materialized"
            if why is not None:
                fresh_holds[r.asset] = why
        if not fresh_holds:  # (then those the held ones no longer pulled in are gone) a request that
            for r in requests:  # reads a failing upstream waits for its fix, as in a build where it failed
                bad = failing_upstream(r.asset)
                if bad:
                    fresh_holds[r.asset] = f"upstream {', '.join(bad)} failing"
        if not fresh_holds:
            break
        ev.waiting.update(fresh_holds)
    ev.requests = requests
    ev.freshness = freshness_of(times, graph, owners, appeared, ev_own)
    return ev


def schedule_holder(d: AssetDef, node: str) -> str:
    """Whose schedule record ``node`` (``d``) keeps: a time partition's is its asset's (a
    scheduled time owes the newest complete partition, which changes as time goes); any other
    partition keeps its own (each key is owed each scheduled time, and one that fails or is
    added later is owed alone); an unpartitioned asset's is its own."""
    ref = d.partition
    return ref.asset if ref is not None and ref.window is not None else node


def _scheduled_run_at(store: Any, holder: str) -> int | None:
    """The time of the last tick that found ``holder``'s schedule due (its ``scheduling`` mark,
    committed before that tick built) if its latest event, from then on, gave it its value for
    that schedule (reason ``scheduled``); else None (a time partition's holder is its asset,
    whose events are its keys')."""
    from ..ticks import get_state

    last = getattr(store, "last_event", None)
    ev = last(holder) if last is not None else None
    if ev is None or ev.kind not in ("materialized", "restored") or all(c != "scheduled" for c, _ in ev.reasons):
        return None
    at = get_state(store, "scheduling", holder)
    return at if isinstance(at, int) and ev.end_ns >= at else None


def _due(graph: Graph, owners: Sequence[str], now_ns: int, last_evaluated: Callable[[str], int | None],
         ran_at: Callable[[str], int | None] = lambda holder: None) -> set[str]:
    """The nodes whose schedule is due: an unpartitioned asset's own; for a time-partitioned
    asset the node of its newest complete partition (its schedule is evaluated once, by
    asset); for static, dynamic and file partitions each partition whose own record owes a
    scheduled time (the last key alone, as before, left the others stale for ever). A record
    that owes one is checked against ``ran_at`` (``_scheduled_run_at``): a tick killed before
    its bookkeeping (SIGKILL, the OOM killer, a power loss) wrote no record for the keys it had
    built and committed, and the next tick built every one of them again."""
    due: set[str] = set()
    done: set[str] = set()
    owed_after: dict[tuple[str, str, int | None], bool] = {}  # (a thousand keys share a few records)
    for n in owners:
        d: AssetDef = graph.nodes[n]  # type: ignore[assignment]
        if d.schedule is None:
            continue
        holder = schedule_holder(d, n)
        if holder in done:
            continue
        done.add(holder)
        last = last_evaluated(holder)
        memo = (d.schedule, d.schedule_tz or "UTC", last)
        if memo not in owed_after:
            try:
                owed_after[memo] = bool(due_schedules(d.schedule, d.schedule_tz or "UTC", last, now_ns))
            except DefinitionError as e:  # a failed tick naming the declaration; ticks go on
                owner = d.partition.asset if d.partition is not None else n
                raise DefinitionError(f"asset {owner!r}: {e.message}", file=d.file, line=d.line) from None
        if not owed_after[memo]:
            continue
        ran = ran_at(holder)
        if ran is not None and (last is None or ran > last) and \
                not due_schedules(d.schedule, d.schedule_tz or "UTC", ran, now_ns):
            continue
        if holder == n:
            due.add(n)
        else:
            pset = graph.partitioned.get(holder)
            nodes = [x for x in (pset.nodes if pset is not None else ()) if x in owners]
            if nodes:
                due.add(nodes[-1])  # in key order: the newest complete partition
    return due
