"""``assetbuild run``: keep a project's assets as fresh as their policies ask, tick after tick.

Each tick reloads the project (the same loader as watch mode: only changed modules cost
anything), observes the observable sources whose ``poll`` is due, evaluates the policies
(session.reconcile) and builds exactly what they request, as one run (``build --only``: the
requested assets against the stored values of their other inputs). What a tick did is recorded
(assetbuild.ticks), so ``assetbuild ticks`` can say why something ran, and so that ``--once``
driven by cron remembers schedules, retries and alerts between processes.

A failing asset never stops the daemon: it is retried on a later tick that still asks for it,
after ``retry_backoff`` seconds, doubled after each further failure; materialized since (by a
tick, or by a ``build`` or ``accept`` outside ``run``), it is failing no more and waits for
nothing. One daemon per project: a second one finds the first's lock and says which process
holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import age_ns
from ..errors import AssetbuildError, DefinitionError, SelectionError, StoreError
from ..loader import find_assetfile
from ..output import Reporter
from ..policies import NS, Freshness, Request
from ..reports import AssetResult, BuildResult, ObservationResult, run_id
from .arguments import verb
from .building import build_project
from .distributions import DISTRIBUTIONS
from .editable import reimporting
from .located import project_root
from .options import BuildOptions
from .project import Project, open_project, open_store, resolve_cache_dir, waiting_warning
from .turns import process_turn

if TYPE_CHECKING:
    from ..watch import LoopState



class DaemonRunning(AssetbuildError):
    """Another ``assetbuild run`` keeps this project (exit 2)."""


@dataclass
class Tick:
    """One tick: when (``now_ns``, by assetbuild.clock), how many assets it evaluated, what it
    requested and why, what it held back (a retry's backoff, an upstream never materialized, a
    failing observable source's backoff), the build's result and run, the sources it observed,
    the assets overdue after it, and an error that stopped it (an AssetFile that does not load)."""

    now_ns: int
    evaluated: int = 0
    requests: list[Request] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # asset -> why it was not built (source: observed) now
    result: BuildResult | None = None
    overdue: dict[str, float] = field(default_factory=dict)  # asset -> lag_s
    error: str | None = None
    duration_s: float = 0.0
    seq: int | None = None
    due: list[str] = field(default_factory=list)  # nodes whose schedule was due
    selection: tuple[str, ...] = ()  # what ``run`` was asked to keep (empty: everything)
    freshness: dict[str, Freshness] = field(default_factory=dict, repr=False)  # before its build
    own: dict[str, int] = field(default_factory=dict, repr=False)  # node -> its oldest change of its own, before it
    exception: AssetbuildError | None = field(default=None, repr=False)  # what ``error`` describes
    observed: dict[str, ObservationResult] = field(default_factory=dict, repr=False)  # by the tick, on their poll
    t0: float = field(default_factory=time.perf_counter, repr=False)  # when it began (perf_counter)

    @property
    def failed(self) -> list[str]:
        """What failed: the build's assets (and the observations it made), then the observable
        sources the tick observed whose observation failed (whether or not a build read them)."""
        failed = self.result.names("failed") if self.result is not None else []
        return failed + [n for n, o in self.observed.items() if not o.ok and n not in failed]

    def to_json(self) -> dict[str, Any]:
        """The tick as ``ticks --json`` and ``run --json`` print it (and as it is recorded)."""
        r = self.result
        return {"seq": self.seq, "time_ns": self.now_ns, "selection": list(self.selection),
                "evaluated": self.evaluated,
                "requested": [{"asset": q.asset, "reasons": list(q.reasons)} for q in self.requests],
                "deferred": dict(self.deferred),
                "run": run_id(r.run) if r is not None and r.run is not None else None,
                "outcomes": {**({x.asset: x.status for x in r.results} if r is not None else {}),
                             **{n: "failed" for n, o in self.observed.items() if not o.ok}},
                "failed": self.failed, "overdue": dict(self.overdue), "error": self.error,
                "duration_s": round(self.duration_s, 6)}


@dataclass(frozen=True)
class RunSummary:
    """A whole ``assetbuild run``: its ticks, those in which an asset failed, and what stopped it."""

    ticks: int
    failed: int
    stopped_by: str  # "once", "SIGINT", "SIGTERM", "KeyboardInterrupt" or "stop"


@verb
def run(assets: Sequence[str] = (), *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None, tick_s: float = 30.0, once: bool = False,
        jobs: int | str | None = None, reporter: Reporter | None = None, plugin_manager: Any = None,
        stop: threading.Event | None = None, on_tick: Callable[[Tick], object] | None = None,
        on_alert: str | None = None, handle_signals: bool = False) -> RunSummary:
    """Keep the selected assets (default: all) as fresh as their policies ask: a tick every
    ``tick_s`` seconds until ``stop`` is set (or a signal, with ``handle_signals``), or one tick
    with ``once``. ``on_tick`` sees each :class:`Tick`; ``on_alert`` is a shell command run with
    each alert (an asset overdue, recovered or failed) as JSON on its stdin."""
    root = project_root(project_dir)
    if not tick_s > 0:
        raise DefinitionError(f"the tick must be a positive number of seconds, got {tick_s!r}")
    cache = resolve_cache_dir(root, cache_dir)
    find_assetfile(root, assetfile)  # none: the wrong directory, a usage error (exit 2) before a cache is made in it
    rep = reporter or Reporter(verbosity=-2)
    rep.watching = True  # a tick's lines replace the per-asset lines of its build
    if plugin_manager is None:  # one for the whole run: plugins are not reloaded
        from ..plugins import get_plugin_manager

        plugin_manager = get_plugin_manager()
    from ..watch import LoopState, stop_on_signals

    stop = stop or threading.Event()
    state = LoopState(stop)  # as watch mode's loop: SIGINT and SIGTERM interrupt a build, or end a wait
    ticks = failed = 0
    with _daemon_lock(root, assetfile, cache), (stop_on_signals(state) if handle_signals else contextlib.nullcontext()), \
            rep.stdout_for_json():  # (--json: its lines alone on stdout, as watch's)
        try:
            while True:
                t = one_tick(root, assetfile, cache, assets, jobs=jobs, reporter=rep,
                             plugin_manager=plugin_manager, on_alert=on_alert, state=state, first=ticks == 0)
                ticks += 1
                failed += bool(t.failed or t.error)
                if not (once and t.exception is not None):
                    rep.daemon_tick(t, always=once)
                if ticks == 1 and t.exception is None and not t.evaluated:  # said once, not every tick
                    rep.warn("no selected asset has a policy (auto=, freshness= or schedule=), so run builds "
                             "none of them; `assetbuild` builds what is not up to date")
                if on_tick is not None:
                    on_tick(t)
                if once and t.exception is not None:  # one tick, and it could not load: its error
                    raise t.exception
                if once or stop.wait(tick_s):
                    break
        except KeyboardInterrupt as e:
            state.interrupted = True
            cut: Tick | None = getattr(e, "tick", None)
            if cut is not None:  # (what finished before the signal, its run, and the error)
                ticks += 1
                failed += bool(cut.failed or cut.error)
                rep.daemon_tick(cut, always=once)
    stopped = "once" if once and not state.signals and not state.interrupted else (
        state.signals[0] if state.signals else "KeyboardInterrupt" if state.interrupted else "stop")
    return RunSummary(ticks, failed, stopped)


@contextlib.contextmanager
def _daemon_lock(root: Path, assetfile: str | None, cache: Path) -> Iterator[None]:
    """Hold the project's daemon lock (a flock on a file in the cache directory, with the
    holder's pid in it) for the run; ``DaemonRunning`` naming the holder if it is taken."""
    import hashlib

    from ..store import LmdbStore

    LmdbStore(cache).close()  # a new cache directory is made a cache before the lock goes in
    path = cache / f"run-{hashlib.sha256(_store_project(root, assetfile, cache).encode()).hexdigest()[:12]}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # (no inode left, an immutable cache directory)
        from ..store.failures import disk_message

        raise StoreError(disk_message(cache, f"cannot write the run lock {path}", e)) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise DaemonRunning(f"another assetbuild run (pid {holder}) is keeping {root} up to date; "
                                f"stop it first (its lock: {path})") from None
        with contextlib.suppress(OSError):  # a full disk: the flock holds all the same (the pid is for the message)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def one_tick(root: Path, assetfile: str | None, cache: Path, assets: Sequence[str], *,
             jobs: int | str | None, reporter: Reporter, plugin_manager: Any, on_alert: str | None = None,
             state: LoopState | None = None, first: bool = False) -> Tick:
    """Reload, observe what is due, evaluate the policies, build what they request, record.
    ``first``: the run's first tick, where a selection that names nothing is the command's
    mistake (raised, not recorded: ``run totl`` exits 2 as ``build totl`` does, instead of
    ticking on with the error), not a change to the project since."""
    from ..clock import now_ns
    from ..output import describe_error
    from .partitioning import with_keys_as_they_are

    tick = Tick(now_ns(), selection=tuple(assets))
    try:
        if state is not None:  # a signal interrupts the tick until its bookkeeping: waiting for the
            state.building = True  # cache's lock, loading, observing, building (_tick clears it)
            if state.stop.is_set():  # (it came as the tick began)
                _interrupt(state)
        def attempt(recheck: bool) -> None:  # (again if the dynamic keys moved while it waited for the lock)
            with reimporting(DISTRIBUTIONS.sources), process_turn(), open_project(
                    root, assetfile=assetfile, cache_dir=cache, reporter=reporter, plugin_manager=plugin_manager) as project:
                _tick(project, assets, tick, jobs, on_alert, state, recheck=recheck)
        with_keys_as_they_are(attempt)
    except AssetbuildError as e:
        if isinstance(e, DaemonRunning) or (first and isinstance(e, SelectionError)):
            raise
        tick.error = describe_error(e)
        tick.exception = e
        tick.duration_s = time.perf_counter() - tick.t0
        _record_error(root, assetfile, cache, tick, reporter.warn)
    except KeyboardInterrupt as e:  # SIGTERM or Ctrl-C during the tick: recorded, then the run ends
        if tick.seq is None:
            tick.error = _interrupted_by(e)
            tick.duration_s = time.perf_counter() - tick.t0
            _record_error(root, assetfile, cache, tick, reporter.warn, wait=False)
        e.tick = tick  # type: ignore[attr-defined]  # (run prints its lines)
        raise
    finally:
        if state is not None:
            state.building = False
    if tick.seq is None:  # not recorded (the record took its duration when it was written)
        tick.duration_s = time.perf_counter() - tick.t0
    return tick


def _tick(project: Project, assets: Sequence[str], tick: Tick, jobs: int | str | None, on_alert: str | None,
          state: LoopState | None, recheck: bool = False) -> None:
    from ..config import retry_backoff_setting
    from ..graph import select
    from ..ticks import own_seen
    from .partitioning import check_keys_unmoved, drop_gone_partitions_of
    from .reconcile import current_versions, evaluate, own_keys, policy_nodes, schedule_holder
    from .retries import held_back

    graph = project.graph
    plan = select(graph, assets)
    now = tick.now_ns
    backoff = retry_backoff_setting(project.project_dir)
    observed: dict[str, ObservationResult] = {}
    store = open_store(project, readonly=False)
    try:
        store.acquire_lock(on_wait=waiting_warning(project.cache_dir, project.reporter.warn))
        check_keys_unmoved(project, "tick", check=recheck)  # (partitions add/remove went first: KeysMoved)
        drop_gone_partitions_of(project, store, plan)  # (a removed key, a deleted file: as a build does)
        owners = policy_nodes(graph, plan)
        if owners:
            observed, held = _observe_due(project, store, plan, now)
            tick.observed = observed
            tick.deferred.update(held)
            current = current_versions(project, store, observed)
            _note_sources(graph, store, plan, current, now)
            own_key = own_keys(project, store)
            ev = evaluate(project, store, plan, now, current, lambda a: _get(store, "schedule", a),
                          lambda n: _appeared(store, n, now), lambda a: held_back(store, a, now, own_key),
                          lambda n, key, own: own_seen(store, n, key, own, now))
            tick.freshness = ev.freshness
            tick.own = ev.own
            tick.due = ev.due
            tick.evaluated = ev.evaluated
            tick.deferred.update(ev.waiting)
            tick.requests = ev.requests
            for n in ev.due:  # killed mid-build, the tick's events then say what it honoured (reconcile)
                _put(store, "scheduling", schedule_holder(graph.nodes[n], n), now)  # type: ignore[arg-type]
        store.flush()
    finally:
        store.close()
    if tick.requests:
        # a due schedule materializes its asset even when its key has a trace: that is its point
        options = BuildOptions(only=True, keep_going=True, jobs=jobs, tick=True,
                               forced=frozenset(n for n in tick.due if n in {r.asset for r in tick.requests}))
        try:
            tick.result = build_project(project, [r.asset for r in tick.requests], options, observed=observed,
                                        recheck_keys=recheck)
        except KeyboardInterrupt as e:  # what finished, and its run, are the tick's: its bookkeeping too
            tick.result, tick.error = getattr(e, "partial_result", None), _interrupted_by(e)
            if state is not None:
                state.building = False
            with contextlib.suppress(_LockBusy):
                _after(project, plan, tick, backoff, on_alert, wait=False)
            raise
    if state is not None:  # the bookkeeping is not interrupted: a signal now ends the run after it
        state.building = False
    _after(project, plan, tick, backoff, on_alert)


def _after(project: Project, plan: Sequence[str], tick: Tick, backoff: float, on_alert: str | None,
           *, wait: bool = True) -> None:
    """Retry backoffs, schedules honoured, overdue states and the tick's record, then the alerts
    (hooks and ``--on-alert``): once the record is written, so a plugin that raises (a warning)
    or a slow one neither loses the tick's bookkeeping nor holds the cache's lock. Not ``wait``
    (a signal ended the build): _LockBusy if another build holds the lock."""
    from ..changes import ChangeTimes
    from .building import _call_hook
    from .reconcile import current_versions, freshness_of, own_keys, policy_nodes, schedule_holder
    from .retries import OwnKey, record_failure

    graph = project.graph
    now = tick.now_ns
    alerts: list[dict[str, Any]] = []
    hook = project.plugin_manager.hook
    built = tick.result.results if tick.result is not None else ()
    # an observation of the tick that no build read failed here: said as a build says it
    read = {r.asset for r in built}
    unread = [o.as_failed_result() for n, o in tick.observed.items() if not o.ok and n not in read]
    for r in unread:
        project.reporter.asset_finished(r)
    store = open_store(project, readonly=False)
    try:
        store.acquire_lock(on_wait=waiting_warning(project.cache_dir, project.reporter.warn) if wait else _busy)
        results = {r.asset: r for r in tick.result.results} if tick.result is not None else {}
        own_key: OwnKey | None = None
        outcomes = {n: r.status for n, r in results.items()}
        for n in tick.due:  # a scheduled time is honoured by a run that gave a value; until then it is owed
            if n in results and _honours_schedule(results[n]):
                _put(store, "schedule", schedule_holder(graph.nodes[n], n), now)  # type: ignore[arg-type]
        for o in [*tick.observed.values(), *(tick.result.observations if tick.result is not None else ())]:
            if o.ok and _get(store, "retry", o.source) is not None:  # observed: failing no more
                _put(store, "retry", o.source, None)
        for r in [*built, *unread]:
            if r.status == "failed" and r.changed_during_run:
                continue  # nothing wrong with it: the next tick that asks for it builds it (no backoff, no alert)
            if r.status == "failed":
                observable = r.asset in graph.observable
                own_key = own_key or own_keys(project, store)  # (made once, for the first failure)
                failures, retry_s = record_failure(store, r.asset, now, backoff,
                                                   None if observable else own_key(r.asset), observable=observable)
                alerts.append({"event": "failed", "asset": r.asset, "error": r.error, "time_ns": now,
                               "failures": failures, "retry_in_s": retry_s})
            elif r.status in ("built", "cached", "restored"):
                for kind in ("retry", "appeared"):
                    if _get(store, kind, r.asset) is not None:
                        _put(store, kind, r.asset, None)
        owners = [n for n in policy_nodes(graph, plan) if graph.nodes[n].freshness is not None]  # type: ignore[union-attr]
        if owners:
            states: Mapping[str, Freshness] = tick.freshness
            if tick.result is not None:  # what the build changed: evaluated again
                times = ChangeTimes(graph, store, current_versions(project, store), now, str(project.project_dir))
                # a materialized asset holds its changes of its own now; a failed one lacks them still
                own = {n: t for n, t in tick.own.items() if outcomes.get(n) not in ("built", "cached", "restored")}
                states = freshness_of(times, graph, owners, own=own)
            for n, f in states.items():
                if f.overdue:
                    tick.overdue[n] = f.lag_s
                was = bool(_get(store, "overdue", n))
                if f.overdue != was:
                    _put(store, "overdue", n, True if f.overdue else None)
                    alerts.append({"event": "overdue" if f.overdue else "recovered", "asset": n,
                                   "lag_s": f.lag_s if f.overdue else 0.0, "detail": f.detail, "time_ns": now})
        from ..ticks import put_tick

        tick.duration_s = time.perf_counter() - tick.t0
        tick.seq = put_tick(store, {k: v for k, v in tick.to_json().items() if k != "seq"})
        store.flush()
    finally:
        store.close()
    for r in unread:  # (the build called asset_failed for the failures it had)
        _call_hook(hook.asset_failed, project.reporter.warn, result=r)
    for a in alerts:
        if a["event"] != "failed":
            _call_hook(hook.asset_overdue, project.reporter.warn, asset=a["asset"], lag_s=a["lag_s"],
                       overdue=a["event"] == "overdue")
    if on_alert:
        for a in alerts:
            _alert(project, on_alert, a)


def _honours_schedule(r: AssetResult) -> bool:
    """Whether a due scheduled asset's result honours its scheduled time: its run gave it a value
    (built, or found cached or restored), or it ran and returned ``Skip`` (nothing new at that
    time: running it again on every tick until it has something would poll). Skipped without
    running (an upstream failed, could not be observed, or has no value), it stays owed."""
    if r.status in ("built", "cached", "restored"):
        return True
    return r.status == "skipped" and r.error is None and r.skip_reason is not None and r.key is not None


class _LockBusy(Exception):
    """Another build holds the cache's lock, and a signal's tick does not wait for it."""


def _busy() -> None:
    raise _LockBusy


def _interrupted_by(e: KeyboardInterrupt) -> str:
    from ..interrupts import Terminated

    return "interrupted by SIGTERM" if isinstance(e, Terminated) else "interrupted by Ctrl-C"


def _interrupt(state: LoopState) -> None:
    """Raise what the first signal raises during a build (see watch.stop_on_signals)."""
    from ..interrupts import Terminated

    raise Terminated if state.signals[:1] == ["SIGTERM"] else KeyboardInterrupt


def _record_error(root: Path, assetfile: str | None, cache: Path, tick: Tick, warn: Callable[[str], object],
                  *, wait: bool = True) -> None:
    """Record a tick that could not load the project, or whose build a signal ended (its store
    is found without loading it). A cache that cannot record it either (a disk full for a
    moment) leaves it unrecorded, said in its error, and the run goes on: the next tick tries
    again. Ending the run there would end it for good under a service manager's restart limits.
    Not ``wait``: a signal's tick is not recorded when another build holds the cache's lock (the
    run ends now, not once that build is over)."""
    from ..store import LmdbStore
    from ..ticks import put_tick

    try:
        store = LmdbStore(cache, project=_store_project(root, assetfile, cache))
        try:
            store.acquire_lock(on_wait=waiting_warning(cache, warn) if wait else _busy)
            tick.seq = put_tick(store, {k: v for k, v in tick.to_json().items() if k != "seq"})
            store.flush()
        finally:
            store.close()
    except _LockBusy:
        tick.error = (tick.error or "") + "; not recorded (another build holds the cache's lock)"
    except AssetbuildError as e:
        from ..output import describe_error

        said = describe_error(e)
        tick.error = (tick.error or "") + ("; not recorded either" if said == tick.error else
                                           f"; not recorded either: {said}") + " (the next tick tries again)"


def _observe_due(project: Project, store: Any, plan: Sequence[str], now: int
                 ) -> tuple[dict[str, ObservationResult], dict[str, str]]:
    """Observe the observable sources ``plan`` reads whose ``poll`` interval has passed since
    their last recorded observation (or that were never observed); record them. One whose
    observation failed is observed again once its retry backoff has passed, as a failed asset
    is retried, not on every tick: those held back are returned with why (source -> reason)."""
    from .observing import _observe
    from .retries import retry_wait, source_retry, when

    due, held = [], {}
    for name in project.graph.observed_by(plan):
        d = project.graph.nodes[name]
        poll = getattr(d, "poll", None)
        if poll is None:
            continue
        retry = source_retry(store, name)
        if retry is not None:
            failed, wait = retry_wait(retry)
            if age_ns(failed, now) < wait:  # (failed later than now: observed now, see clock.age_ns)
                held[name] = f"failed {retry['failures']} time(s); observed again after {when(failed + wait - now)}"
            else:
                due.append(name)
            continue
        rec = store.get_observation(name)
        if rec is None or age_ns(rec.observed_ns, now) >= poll * NS:  # (observed later than now: due)
            due.append(name)
    return (_observe(project, due, store, record=True) if due else {}), held


def _note_sources(graph: Any, store: Any, plan: Sequence[str], current: Callable[[str], str | None], now: int) -> None:
    """Record this tick's sighting of each source version the plan reads (assetbuild.ticks)."""
    from ..definitions import ObservableSourceDef, SourceDef
    from ..ticks import note_seen

    seen: set[str] = set()
    for n in plan:
        for _, up in graph.inputs.get(n, ()):
            if up in seen or not isinstance(graph.nodes.get(up), (SourceDef, ObservableSourceDef)):
                continue
            seen.add(up)
            version = current(up)
            if version is not None:
                note_seen(store, up, version, now)


def _alert(project: Project, command: str, event: dict[str, Any]) -> None:
    """Run the ``--on-alert`` command with ``event`` as JSON on stdin; its failure is a warning."""
    try:
        done = subprocess.run(command, shell=True, input=json.dumps(event).encode(), cwd=project.project_dir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        project.reporter.warn(f"--on-alert command failed: {e}")
        return
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        project.reporter.warn(f"--on-alert command exited {done.returncode}" + (f": {err[-1]}" if err else ""))


def _appeared(store: Any, node: str, now: int) -> int:
    """When a tick first saw ``node`` (never materialized, reading no data), remembered until it
    is materialized (then forgotten by ``_after``)."""
    seen = _get(store, "appeared", node)
    if seen is None:
        _put(store, "appeared", node, now)
        return now
    return int(seen)


def _get(store: Any, kind: str, name: str) -> Any:
    from ..ticks import get_state

    return get_state(store, kind, name)


def _put(store: Any, kind: str, name: str, value: Any) -> None:
    from ..ticks import put_state

    put_state(store, kind, name, value)


@verb
def list_ticks(*, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
               cache_dir: str | os.PathLike[str] | None = None, limit: int | None = 20) -> list[dict[str, Any]]:
    """The project's recorded ticks, oldest first (the newest ``limit``; all with None), as
    ``ticks --json`` prints them. Reads the store only: the AssetFile is not loaded."""
    from ..store import LmdbStore
    from ..ticks import list_ticks as stored

    root = project_root(project_dir)
    cache = resolve_cache_dir(root, cache_dir)
    store = LmdbStore(cache, readonly=True, project=_store_project(root, assetfile, cache))
    try:
        return stored(store, limit)
    finally:
        store.close()


def _store_project(root: Path, assetfile: str | None, cache: Path) -> str:
    """The store's name for the project of ``root`` (as open_store names a loaded one)."""
    from ..store import project_id

    return project_id(root / (assetfile or "AssetFile"), cache)
