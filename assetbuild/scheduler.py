"""The topological loop: ready assets -> keys -> rebuilder -> executors -> store -> results.

Store, workspace, IO managers, fingerprints and the runner of asset functions come in as
arguments, so this module never touches LMDB, files, plugins, processes or the terminal itself.
All parallel bookkeeping lives here: what is ready, what runs, in which order (critical path),
what a failure, a crashed worker or Ctrl-C stops. Values reach downstream
assets through their stored bytes (``io.load(io.dump(v))``), exactly as in a later incremental
build: a from-scratch build and an incremental one see the same inputs.
"""

from __future__ import annotations

import heapq
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .definitions import AssetDef, SourceDef
from .errors import AssetbuildError, AssetFailed, CacheCorrupt, SourceMissing, WorkerLost
from .fingerprint.refs import fold_code_refs, with_code_refs
from .graph import Graph
from .keys import KeyParts, make_key, source_key_path
from .rebuild import decide
from .reports import AssetResult, AssetStatus, BuildResult, Decision, Head, Reason, Trace


@dataclass
class _Known:
    """What this build knows of an asset's output once it has been decided."""

    key: str
    data_version: str | None  # None: will change, unknown until it runs (dry runs)
    digest: str | None


class _Restart(Exception):
    pass


_FROM_REMOTE = Reason("remote", "from the remote cache")


class _Job:
    """An asset decided to run, between its decision and its outcome."""

    __slots__ = ("name", "adef", "key", "parts", "decision", "t0", "isolated", "timeout", "deadline")

    def __init__(self, name: str, adef: AssetDef, key: str, parts: KeyParts, decision: Decision) -> None:
        self.name = name
        self.adef = adef
        self.key = key
        self.parts = parts
        self.decision = decision
        self.t0 = 0.0
        self.isolated = False  # ran with nothing beside it (a worker crash is then its own)
        self.timeout: float | None = None  # its time limit in seconds, once submitted
        self.deadline: float | None = None  # time.monotonic() by which it must have finished


class Scheduler:
    """Builds a selection of a graph: up to ``jobs`` assets at once, longest remaining path first.

    Everything that touches the store, the workspace or the reporter happens on the thread that
    calls :meth:`build`; only the asset functions run elsewhere (``runner.submit(task, executor)``
    returns a ``concurrent.futures.Future`` of an outcome with ``ok``; see ``assetbuild.executors``).
    Deciding and restoring never wait for running work: the loop decides every ready asset
    before it waits for the next running one to finish.
    """

    def __init__(self, graph: Graph, *, store: Any, workspace: Any, io_managers: dict[str, Any],
                 fingerprint: Callable[[str], tuple[str, dict[str, str]]],
                 runner: Any = None, make_task: Callable[..., Any] | None = None, jobs: int = 1,
                 on_start: Callable[[str], None] | None = None,
                 on_result: Callable[[AssetResult], None] | None = None,
                 on_logs: Callable[[str, list[tuple[int, str]]], None] | None = None,
                 warn: Callable[[str], None] | None = None,
                 code_files: dict[str, str] | None = None,
                 code_refs: Callable[[bytes], tuple[str, ...]] | None = None,
                 code_ref_digest: Callable[[str], str] | None = None) -> None:
        self.graph = graph
        self.store = store
        self.ws = workspace
        self.io = io_managers
        self.fingerprint = fingerprint
        self.runner = runner
        self.make_task = make_task
        self.jobs = max(1, jobs)
        self.on_start = on_start or (lambda name: None)
        self.on_result = on_result or (lambda r: None)
        self.on_logs = on_logs or (lambda name, lines: None)
        self.warn = warn or (lambda msg: None)
        self.code_files = code_files or {}  # project module file -> digest of the source keyed
        # The project code that stored bytes name (pickle references), and its current digest:
        # see assetbuild.fingerprint.refs.
        self.code_refs = code_refs or (lambda data: ())
        self.code_ref_digest = code_ref_digest or (lambda ref: "")
        self.sources = {n for n, d in graph.nodes.items() if isinstance(d, SourceDef)}
        self._source_paths = {n: source_key_path(graph.nodes[n].path)  # type: ignore[union-attr]
                              for n in self.sources}
        self._passed: dict[str, tuple[tuple[str, str], ...]] = {}
        self._codes: dict[str, tuple[str, dict[str, str]]] = {}  # this build's fingerprints, made first
        self.known: dict[str, _Known] = {}
        self.blocked: dict[str, str] = {}  # asset -> why its dependents cannot run
        self._bytes: dict[str, bytes] = {}
        self._consumers: dict[str, int] = {}
        self._repaired: set[str] = set()
        self._late: list[tuple[str, str, KeyParts, Any]] = []  # remote hits whose path output waits
        self._results: dict[str, AssetResult] = {}
        self._io_tags = {n: f"{m.name}@{m.version}" for n, m in io_managers.items()}  # enters keys
        self._force = False

    # --- public ------------------------------------------------------------------------------

    def build(self, plan: Sequence[str], *, force: bool = False, keep_going: bool = False,
              dry_run: bool = False) -> BuildResult:
        t0 = time.perf_counter()
        planned = set(plan)
        for name in plan:
            for up in self._upstream(name):
                if up in planned:
                    self._consumers[up] = self._consumers.get(up, 0) + 1
        self._results = {}
        self._force = force
        self._fingerprint_all(plan)
        try:
            if dry_run:
                for name in plan:
                    r = self._start(name, force=force, dry_run=True)
                    assert isinstance(r, AssetResult)
                    self._finish(r, flush=False)
            else:
                self._loop(plan, force=force, keep_going=keep_going)
                self._recheck_remote_hits()
        finally:
            if not dry_run:
                self.store.flush()
        results = self._results
        return BuildResult(tuple(results[n] for n in plan), time.perf_counter() - t0, dry_run=dry_run)

    def _fingerprint_all(self, plan: Sequence[str]) -> None:
        """Fingerprint every planned asset before any runs: an asset that runs in this process
        may change a global another one reads (a counter, a cache object), and a key must come
        from the code and data as loaded, not from what ran before it in this build."""
        self._codes = {name: self.fingerprint(name) for name in plan
                       if isinstance(self.graph.nodes.get(name), AssetDef)}

    def status(self, plan: Sequence[str]) -> list[AssetStatus]:
        out = []
        for name in plan:
            d = self._decide(name, force=False, dry_run=True)
            if d is None:  # a source it needs (directly or upstream) does not exist
                out.append(AssetStatus(name, "stale", (Reason("source-missing", self.blocked[name]),)))
                continue
            decision, info = d
            if info is not None and getattr(info[3], "remote", False):  # not here, on the remote cache
                out.append(AssetStatus(name, "stale" if info[2] is not None else "missing", (Reason(
                    "remote", "the remote cache has it: a build restores it without running it"),)))
            elif decision.action == "cached":
                out.append(AssetStatus(name, "fresh"))
            elif decision.reasons and decision.reasons[0].code == "never-built":
                out.append(AssetStatus(name, "missing", decision.reasons))
            else:
                out.append(AssetStatus(name, "stale", decision.reasons))
        return out

    # --- one asset ---------------------------------------------------------------------------

    def _input_versions(self, name: str) -> tuple[tuple[str, str | None], ...] | None:
        """(upstream, data version) per input; None (and self.blocked set) if an input is unusable."""
        out = []
        for _, up in self.graph.inputs[name]:
            if up in self.sources:
                src = self.graph.nodes[up]
                try:
                    dv = self.ws.source_version(src.path)  # type: ignore[union-attr]  # memoized
                except SourceMissing as e:
                    self.blocked[name] = f"source {up!r} {e.problem}"
                    return None
            elif up in self.blocked:
                self.blocked[name] = f"upstream {up!r} {'failed' if self.blocked[up] == 'failed' else 'did not build'}"
                return None
            else:
                known = self.known.get(up)
                dv = known.data_version if known else None
            out.append((up, dv))
        return tuple(out)

    def _passed_sources(self, name: str) -> tuple[tuple[str, str], ...]:
        """(source, path in keys) of each source passed to one of the asset's parameters (a
        ``deps=`` source is not passed: only its contents count)."""
        out = self._passed.get(name)
        if out is None:
            ups = dict.fromkeys(up for param, up in self.graph.inputs[name]
                                if param is not None and up in self.sources)
            out = self._passed[name] = tuple((up, self._source_paths[up]) for up in ups)
        return out

    def _decide(self, name: str, *, force: bool, dry_run: bool) -> tuple[Decision, Any] | None:
        adef: AssetDef = self.graph.nodes[name]  # type: ignore[assignment]
        inputs = self._input_versions(name)
        if inputs is None:
            return None
        code, code_parts = self._codes.get(name) or self.fingerprint(name)
        unknown = [up for up, dv in inputs if dv is None]
        parts = KeyParts(code, code_parts, inputs, self._io_tags[adef.io], adef.path,  # type: ignore[arg-type]
                         self._passed_sources(name))
        head = self.store.get_head(name)
        if unknown:  # dry run: an upstream will rebuild, so this key is not known yet
            names = ", ".join(unknown)
            reasons = [Reason("upstream-changed", f"{names} {'is' if len(unknown) == 1 else 'are'} stale "
                              "(runs only if that output changes)")]
            if head is None:
                reasons.insert(0, Reason("never-built", "no earlier build of this asset"))
            self.known[name] = _Known("", None, None)
            return Decision("run", tuple(reasons)), None
        key = make_key(name, parts)
        if head is not None and head.key == key:
            trace: Any = head
        else:
            trace = self.store.get_trace(key)
        blob_present = trace is not None and self.store.has_blob(trace.output_digest, trace.size)
        path_state = None
        sig = None
        if adef.path is not None and trace is not None and blob_present:
            recorded = head.path_stat if head is not None and head.output_digest == trace.output_digest else None
            path_state, sig = self.ws.path_state(adef.path, trace.output_digest, recorded)
        decision = decide(parts=parts, head=head, trace=trace, blob_present=blob_present,
                          path_state=path_state, path=adef.path, force=force, sources=self.sources)
        if decision.action == "run":
            self.known[name] = _Known(key, None, None)
        else:
            self.known[name] = _Known(key, self._usable_version(trace.data_version), trace.output_digest)
        return decision, (key, parts, head, trace, sig)

    def _usable_version(self, recorded: str) -> str:
        """The data version downstream keys use: the recorded one, with the current fingerprint
        of the project code its value names folded in (identical when it names none)."""
        return fold_code_refs(recorded, self.code_ref_digest)

    # --- the loop ----------------------------------------------------------------------------

    def _upstream(self, name: str) -> list[str]:
        """Distinct upstream names (sources and assets) of ``name``, in parameter order."""
        return list(dict.fromkeys(up for _, up in self.graph.inputs[name]))

    def _loop(self, plan: Sequence[str], *, force: bool, keep_going: bool) -> None:
        index = {n: i for i, n in enumerate(plan)}
        dependents: dict[str, list[str]] = {n: [] for n in plan}
        waiting: dict[str, int] = {}
        for name in plan:
            ups = [up for up in self._upstream(name) if up in index]
            waiting[name] = len(ups)
            for up in ups:
                dependents[up].append(name)
        # -j 1 keeps the plan's order; with more workers the longest remaining path goes first
        prio = self._critical_path(plan, dependents) if self.jobs > 1 else {n: 0.0 for n in plan}
        ready: list[tuple[float, int, str]] = []
        runq: list[tuple[float, int, _Job]] = []
        running: dict[Any, _Job] = {}
        suspects: deque[_Job] = deque()  # tasks a crashed worker took down: each rerun alone
        stopped: str | None = None

        def push(name: str) -> None:
            heapq.heappush(ready, (-prio[name], index[name], name))

        def finish(r: AssetResult) -> None:
            nonlocal stopped
            self._finish(r)
            if r.status == "failed" and not keep_going and stopped is None:
                stopped = r.asset
            for d in dependents.get(r.asset, ()):
                waiting[d] -= 1
                if waiting[d] == 0:
                    push(d)

        for name in plan:
            if waiting[name] == 0:
                push(name)
        while True:
            while ready and stopped is None:  # decisions, cache hits, restores: never wait
                _, _, name = heapq.heappop(ready)
                out = self._start(name, force=force, dry_run=False)
                if isinstance(out, AssetResult):
                    finish(out)
                else:
                    heapq.heappush(runq, (-prio[name], index[name], out))
            if stopped is None:
                if suspects:
                    if not running:
                        job = suspects.popleft()
                        job.isolated = True
                        self._submit(job, running, finish)
                else:
                    while runq and len(running) < self.jobs and stopped is None:
                        _, _, job = heapq.heappop(runq)
                        job.isolated = self.jobs == 1
                        self._submit(job, running, finish)
            if not running:
                if ready and stopped is None:
                    continue
                break
            with self.store.flushing_while_away(self.store.flush):  # commit finished work meanwhile
                done, _ = wait(list(running), timeout=_time_left(running.values()), return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: index[running[f].name]):
                job = running.pop(fut)
                out = self._complete(job, fut)
                if out is None:
                    suspects.append(job)
                elif out == "retry":
                    push(job.name)
                elif out == "again":  # stopped with a timed-out asset's worker: not its fault,
                    self._submit(job, running, finish)  # so it runs again even after a failure
                else:
                    finish(out)
            now = time.monotonic()
            for fut, job in sorted(running.items(), key=lambda item: index[item[1].name]):
                if job.deadline is not None and job.deadline <= now and not fut.done():
                    del running[fut]
                    finish(self._timed_out(job, fut))
        for name in plan:  # what never started: the build stopped after a failure
            if name not in self._results:
                self.blocked[name] = f"{stopped} failed"
                self._finish(AssetResult(name, "skipped", error=f"not run: the build stopped after "
                                         f"{stopped!r} failed (use -k to keep going)"))

    def _finish(self, r: AssetResult, *, flush: bool = True) -> None:
        self._results[r.asset] = r
        self.on_result(r)
        self._release_inputs(r.asset)
        if flush:
            self.store.maybe_flush()

    def _critical_path(self, plan: Sequence[str], dependents: dict[str, list[str]]) -> dict[str, float]:
        """Per asset, the longest run time from its start to the end of the build along its
        dependents, from the durations recorded by earlier builds (unknown: their median)."""
        durations: dict[str, float | None] = {}
        for name in plan:
            head = self.store.get_head(name)
            durations[name] = head.duration_s if head is not None else None
        known = sorted(d for d in durations.values() if d is not None)
        default = known[len(known) // 2] if known else 1.0
        cp: dict[str, float] = {}
        for name in reversed(plan):
            d = durations[name]
            cp[name] = (default if d is None else d) + max((cp[x] for x in dependents[name]), default=0.0)
        return cp

    def _start(self, name: str, *, force: bool, dry_run: bool) -> AssetResult | _Job:
        """Decide one asset: its result (cached, restored, failed, skipped) or a job to run."""
        while True:
            try:
                return self._start_once(name, force=force, dry_run=dry_run)
            except _Restart:
                continue
            except AssetFailed as e:  # an upstream's unusable output could not be rebuilt
                self.blocked[name] = f"{e.asset} failed"
                return AssetResult(name, "skipped", error=f"not run: {e}")

    def _start_once(self, name: str, *, force: bool, dry_run: bool) -> AssetResult | _Job:
        adef: AssetDef = self.graph.nodes[name]  # type: ignore[assignment]
        d = self._decide(name, force=force or name in self._repaired, dry_run=dry_run)
        if d is None:
            why = self.blocked[name]
            if why.startswith("source "):
                self.blocked[name] = "failed"
                return AssetResult(name, "failed", error=why)
            return AssetResult(name, "skipped", error=f"not run: {why}")
        decision, info = d
        if dry_run:
            k = self.known[name]
            if decision.action != "run" and getattr(info[3] if info else None, "remote", False):
                return AssetResult(name, "skipped", key=k.key, reasons=decision.reasons + (_FROM_REMOTE,),
                                   metadata={"would": "restore"})
            if decision.action == "cached":
                return AssetResult(name, "cached", key=k.key, data_version=k.data_version)
            would = decision.action
            if k.key == "" and all(r.code == "upstream-changed" for r in decision.reasons):
                would = "maybe"  # depends on whether an upstream's bytes change (early cutoff)
            return AssetResult(name, "skipped", key=k.key or None, reasons=decision.reasons,
                               metadata={"would": would})
        key, parts, head, trace, sig = info
        if decision.action == "cached":
            if head is None or head.key != key or (sig is not None and sig != head.path_stat):
                self._put_head(name, key, parts, trace, sig)
            if getattr(trace, "remote", False):  # its bytes may still be downloading: see _recheck_remote_hits
                return AssetResult(name, "restored", key=key, data_version=trace.data_version,
                                   reasons=(_FROM_REMOTE,))
            return AssetResult(name, "cached", key=key, data_version=trace.data_version)
        if decision.action == "restore" and getattr(trace, "remote", False):
            self._late.append((name, key, parts, trace))  # written when its bytes are here, at the end
            return AssetResult(name, "restored", key=key, data_version=trace.data_version,
                               reasons=decision.reasons + (_FROM_REMOTE,))
        if decision.action == "restore":
            t0 = time.perf_counter()
            try:
                data = self.store.read_blob(trace.output_digest)
            except CacheCorrupt as e:
                self._drop_corrupt(name, key, e)
                return _Job(name, adef, key, parts, Decision("run", (
                    Reason("output-missing", f"the stored output was unusable: {e}"),)))
            self.on_start(name)
            try:
                sig = self.ws.write_path(adef.path, data)
            except OSError as e:
                return self._cannot_write(name, adef, key, e, t0)
            self._put_head(name, key, parts, trace, sig)
            if self._consumers.get(name):
                self._bytes[name] = data
            return AssetResult(name, "restored", key=key, data_version=trace.data_version,
                               duration_s=time.perf_counter() - t0, reasons=decision.reasons
                               + ((_FROM_REMOTE,) if getattr(trace, "remote", False) else ()))
        return _Job(name, adef, key, parts, decision)

    def _task(self, job: _Job) -> Any:
        """The self-contained task of a job: sources as paths, upstream outputs as stored bytes.
        Reading an upstream's bytes may find them corrupt: that upstream is rebuilt first."""
        args: dict[str, Any] = {}
        inputs: list[tuple[str, str, Any, Any]] = []
        same_machine = getattr(self.runner, "same_machine", None)
        by_file = same_machine is not None and same_machine(job.adef.executor)
        for param, up in self.graph.inputs[job.name]:
            if param is None:
                continue
            if up in self.sources:
                args[param] = Path(self.ws.abspath(self.graph.nodes[up].path))  # type: ignore[union-attr]
            else:
                up_def: AssetDef = self.graph.nodes[up]  # type: ignore[assignment]
                inputs.append((param, up, self.io[up_def.io], self._input_bytes(up, by_file)))
        io = self.io[job.adef.io]
        assert self.make_task is not None, "a Scheduler that builds needs make_task and runner"
        return self.make_task(job.adef, args, inputs, io, job.name in self.graph.wants_context)

    def _submit(self, job: _Job, running: dict[Any, _Job], finish: Callable[[AssetResult], None]) -> None:
        """Start a job on its executor; a job whose inputs turn out unusable is decided again."""
        while True:
            try:
                task = self._task(job)
                break
            except _Restart:  # an upstream was rebuilt: this job's key may have changed
                out = self._start(job.name, force=self._force, dry_run=False)
                if isinstance(out, AssetResult):
                    finish(out)
                    return
                out.isolated = job.isolated
                job = out
            except AssetFailed as e:
                self.blocked[job.name] = f"{e.asset} failed"
                finish(AssetResult(job.name, "skipped", error=f"not run: {e}"))
                return
        self.on_start(job.name)
        job.t0 = time.perf_counter()
        job.timeout = getattr(task, "timeout", None)
        try:
            with self.store.flushing_while_away(self.store.flush):  # serial: the asset runs here
                fut = self.runner.submit(task, job.adef.executor)
        except AssetbuildError:  # the executor cannot start (e.g. no cluster at that address)
            raise
        except Exception as e:  # noqa: BLE001 - e.g. a function cloudpickle cannot send to a worker
            self.blocked[job.name] = "failed"
            finish(AssetResult(job.name, "failed", key=job.key, reasons=job.decision.reasons,
                               error=f"cannot send it to its executor: {type(e).__name__}: {e}"))
            return
        job.deadline = None if job.timeout is None else time.monotonic() + job.timeout  # once handed over
        running[fut] = job

    def _complete(self, job: _Job, fut: Any) -> AssetResult | str | None:
        """Record a finished job. None: a crashed worker took it down, rerun it alone;
        "retry": an input could not be loaded and its upstream was rebuilt, decide it again;
        "again": its worker was killed to stop another (timed-out) job, run it again."""
        name = job.name
        try:
            outcome = fut.result()
        except WorkerLost as e:
            if getattr(e, "stopped_by_build", False):
                return "again"
            if not (job.isolated or e.isolated):
                self.warn(f"a worker process died while {name!r} was running; running it again by itself")
                return None
            self.blocked[name] = "failed"
            return AssetResult(name, "failed", key=job.key, duration_s=time.perf_counter() - job.t0,
                               error=str(e), reasons=job.decision.reasons)
        if outcome.logs:
            self.on_logs(name, outcome.logs)
        edited = self._code_changed_during_run(outcome)
        if edited is not None:  # also before an "unloadable" input: the code, not the bytes, differs
            self.blocked[name] = "failed"
            return AssetResult(name, "failed", key=job.key, duration_s=time.perf_counter() - job.t0,
                               error=f"{edited} changed while {name!r} was running, and its worker ran "
                               "the changed code; its result was not recorded (run the build again)",
                               reasons=job.decision.reasons)
        if not outcome.ok:
            if outcome.unloadable is not None:
                up = outcome.unloadable
                try:  # read from the store's file by the task: a read here drops a corrupt one
                    self.store.read_blob(self.known[up].digest)
                except CacheCorrupt:
                    pass
                try:
                    self._drop_corrupt(up, self.known[up].key, RuntimeError(outcome.error))
                    self._rebuild_now(up)
                except AssetFailed as e:
                    self.blocked[name] = f"{e.asset} failed"
                    return AssetResult(name, "skipped", error=f"not run: {e}")
                return "retry"
            self.blocked[name] = "failed"
            return AssetResult(name, "failed", key=job.key, duration_s=time.perf_counter() - job.t0,
                               error=outcome.error, traceback=outcome.traceback or None,
                               reasons=job.decision.reasons)
        return self._record(job, outcome)

    def _record(self, job: _Job, produced: Any) -> AssetResult:
        name, adef, key, parts, decision, t0 = job.name, job.adef, job.key, job.parts, job.decision, job.t0
        spooled = getattr(produced, "file", None)  # a worker's large output, in a file of the cache
        changed = self._sources_changed_during_run(name)
        if changed:
            if spooled is not None:
                Path(spooled).unlink(missing_ok=True)
            self.blocked[name] = "failed"
            return AssetResult(name, "failed", key=key, duration_s=time.perf_counter() - t0,
                               error=f"source {changed!r} changed while {name!r} was running; its result "
                               "was not recorded (run the build again)", reasons=decision.reasons)
        size = produced.file_size if spooled is not None else len(produced.data)
        data: bytes | None = produced.data
        if spooled is not None:  # renamed into the store: its bytes never pass through this process
            self.store.put_blob_file(spooled, produced.digest, size)
            data = None
        else:
            self.store.put_blob(produced.data, produced.digest)
        try:
            if adef.path is not None:
                if data is None:
                    data = self.store.read_blob(produced.digest)
                sig = self.ws.write_path(adef.path, data)
            else:
                sig = None
        except OSError as e:
            return self._cannot_write(name, adef, key, e, t0)
        now = time.time_ns()
        metadata_json = _metadata_json(produced.metadata)
        refs = self.code_refs(data) if data is not None else self._spooled_refs(produced.digest)
        data_version = with_code_refs(produced.data_version, refs)
        trace = Trace(data_version, produced.digest, self._io_tags[adef.io],
                      size, produced.duration_s, now, metadata_json)
        self.store.put_trace(key, trace)
        self._put_head(name, key, parts, trace, sig, now=now)
        self.store.add_history(name, now, key)
        self.known[name] = _Known(key, self._usable_version(data_version), produced.digest)
        if self._consumers.get(name) and spooled is None:  # a spooled one is read when needed
            self._bytes[name] = data  # type: ignore[assignment]
        return AssetResult(name, "built", key=key, data_version=data_version,
                           duration_s=time.perf_counter() - t0, reasons=decision.reasons,
                           metadata=produced.metadata)

    def _spooled_refs(self, digest: str) -> tuple[str, ...]:
        """The code references of a large output stored straight from its worker's file, read
        through a memory map (its bytes are not copied into this process)."""
        import mmap

        with open(self.store.blob_path(digest), "rb") as f:
            if f.read(1) != b"\x80":  # only a pickle (protocol 2+) can name code
                return ()
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return self.code_refs(view)  # type: ignore[arg-type]

    def _run_now(self, job: _Job) -> AssetResult:
        """Run one job to its end, now (a repair in the middle of deciding another asset)."""
        running: dict[Any, _Job] = {}
        results: list[AssetResult] = []
        job.isolated = True
        self._submit(job, running, results.append)
        if results:
            return results[0]
        (fut,) = running
        with self.store.flushing_while_away(self.store.flush):
            done, _ = wait([fut], timeout=_time_left([job]))
        if not done:
            return self._timed_out(job, fut)
        out = self._complete(job, fut)
        if not isinstance(out, AssetResult):
            return AssetResult(job.name, "failed", key=job.key, error="its inputs could not be loaded")
        return out

    def _timed_out(self, job: _Job, fut: Any) -> AssetResult:
        """Fail a job that ran past its time limit and have its executor kill it."""
        self.runner.kill(fut)
        self.blocked[job.name] = "failed"
        return AssetResult(job.name, "failed", key=job.key, duration_s=time.perf_counter() - job.t0,
                           error=f"timed out after {job.timeout:g} s", reasons=job.decision.reasons)

    # --- helpers -----------------------------------------------------------------------------

    def _cannot_write(self, name: str, adef: AssetDef, key: str, err: OSError, t0: float) -> AssetResult:
        self.blocked[name] = "failed"
        return AssetResult(name, "failed", key=key, duration_s=time.perf_counter() - t0,
                           error=f"cannot write its output {adef.path}: {err.strerror or err}")

    def _input_bytes(self, up: str, by_file: bool = False) -> Any:
        """An upstream's stored output, verified; corrupt bytes get the upstream rebuilt (_Restart).

        ``by_file`` (the asset runs on this machine): a large output stored as a file is passed
        as (path, digest) instead, for the function's side to read and verify, so that its bytes
        never pass through this process."""
        data = self._bytes.get(up)
        if data is not None:
            return data
        blob_file = getattr(self.store, "blob_file", None)
        if by_file and blob_file is not None:
            path = blob_file(self.known[up].digest)
            if path is not None:
                return (str(path), self.known[up].digest)
        try:
            data = self.store.read_blob(self.known[up].digest)
        except CacheCorrupt as e:
            self._drop_corrupt(up, self.known[up].key, e)
            self._rebuild_now(up)
            raise _Restart from None  # the upstream's data version may have changed
        if self._consumers.get(up):
            self._bytes[up] = data
        return data

    def _drop_corrupt(self, name: str, key: str, err: BaseException) -> None:
        """Forget a trace whose bytes are unusable, so the asset is rebuilt (once per build)."""
        if name in self._repaired:
            raise AssetFailed(name, f"its output cannot be stored and read back: {err}")
        self.warn(f"the stored output of {name!r} could not be used ({err}); rebuilding it")
        self.store.delete_trace(key)
        self._repaired.add(name)
        self._bytes.pop(name, None)

    def _rebuild_now(self, name: str) -> None:
        """Run an already-decided upstream again because its stored output was unusable."""
        adef: AssetDef = self.graph.nodes[name]  # type: ignore[assignment]
        d = self._decide(name, force=True, dry_run=False)
        if d is None:
            raise AssetFailed(name, self.blocked.get(name, "its inputs are unavailable"))
        decision, (key, parts, _head, _trace, _sig) = d
        r = self._run_now(_Job(name, adef, key, parts, decision))
        self._results[name] = r
        self.on_result(r)
        if r.status != "built":
            raise AssetFailed(name, r.error or "failed", r.traceback or "")

    def _recheck_remote_hits(self) -> None:
        """Run the assets taken from a remote cache whose bytes then did not arrive intact.

        A remote store (remote.py) answers a hit with the signed trace at once and downloads in
        the background; ``settle()`` waits for the downloads and names the keys that failed.
        """
        settle = getattr(self.store, "settle", None)
        bad = set(settle()) if settle is not None else set()
        for name, key, parts, trace in self._late:  # path outputs: downloaded concurrently meanwhile
            if key in bad:
                continue
            try:
                sig = self.ws.write_path(self.graph.nodes[name].path, self.store.read_blob(trace.output_digest))
            except (CacheCorrupt, OSError):
                bad.add(key)  # rebuilt below: a failure to write then shows as that asset's error
                continue
            self._put_head(name, key, parts, trace, sig)
        for name, r in list(self._results.items()):
            if r.status == "restored" and r.key in bad:
                try:
                    self._rebuild_now(name)
                except AssetFailed:
                    pass  # its failed result is recorded

    def _sources_changed_during_run(self, name: str) -> str | None:
        """The first source input whose contents differ from when the asset's key was made."""
        for _, up in self.graph.inputs[name]:
            if up in self.sources:
                path = self.graph.nodes[up].path  # type: ignore[union-attr]
                before = self.ws.source_version(path)  # the memoized version the key used
                try:
                    after = self.ws.source_version(path, fresh=True)
                except SourceMissing:
                    return up
                if after != before:
                    return up
        return None

    def _code_changed_during_run(self, outcome: Any) -> str | None:
        """The first project file whose code, as a worker process ran it, is not the code the
        keys were made from (the worker imported it after an edit). Executors in this process
        run the loaded modules themselves and report nothing."""
        ran = getattr(outcome, "project_code", None)
        if not ran:
            return None
        for path, digest in sorted(ran.items()):
            expected = self.code_files.get(path)
            if expected is not None and expected != digest:
                root = os.path.join(str(self.ws.root), "")
                return path[len(root):] if path.startswith(root) else path
        return None

    def version_of(self, name: str) -> str | None:
        """The data version this build uses for a source or a decided asset (None: not known)."""
        if name in self.sources:
            try:
                return self.ws.source_version(self.graph.nodes[name].path)  # type: ignore[union-attr]
            except SourceMissing:
                return None
        known = self.known.get(name)
        return known.data_version if known else None

    def _put_head(self, name: str, key: str, parts: KeyParts, trace: Any, sig: Any,
                  now: int | None = None) -> None:
        """Record ``key`` as the asset's latest build; ``trace`` is a Trace or the current Head."""
        if now is None:  # reused work: keep the time it was built
            now = trace.built_ns if isinstance(trace, Head) else trace.created_ns
        self.store.put_head(name, Head(
            key, trace.data_version, trace.output_digest, parts.code, parts.code_parts,
            parts.inputs, parts.io, parts.path, sig, now, trace.size, trace.duration_s, parts.sources))

    def _release_inputs(self, name: str) -> None:
        for _, up in self.graph.inputs[name]:
            c = self._consumers.get(up)
            if c:
                self._consumers[up] = c - 1
                if c == 1:
                    self._bytes.pop(up, None)


def _time_left(jobs: Any) -> float | None:
    """Seconds until the first deadline among ``jobs`` (None: none has one): how long the
    scheduler may block waiting for running work."""
    deadlines = [j.deadline for j in jobs if j.deadline is not None]
    return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None


def _metadata_json(metadata: dict[str, Any]) -> str:
    import json

    return json.dumps(metadata, sort_keys=True, default=repr) if metadata else ""
