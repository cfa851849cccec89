"""The topological loop: order, parallelism, failure and interruption.

Ready assets are decided by the rebuilder (``assetbuild.rebuild``), reused or restored at once
(``assetbuild.materialize``), or handed to the runner; up to ``jobs`` run at a time, longest
remaining path first. A failure stops what depends on it (or the build, without keep-going), a
crashed worker has its tasks rerun one at a time, a timed-out task is killed, and Ctrl-C leaves
finished work recorded. Store, files, runner and observer come in as arguments (see
``assetbuild.contracts``): this module never touches LMDB, files, plugins, processes or the
terminal. Values reach downstream assets through their stored bytes (``io.load(io.dump(v))``),
exactly as in a later incremental build; an observable source's value travels with its
readers' tasks (its observation is made before the build: ``assetbuild.known``)."""

from __future__ import annotations

import heapq
import os
import time
from collections import deque
from collections.abc import Callable, Collection, Container, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .contracts import BuildObserver, Decision, Files, QuietObserver, Rebuilder, Runner, TraceStore
from .definitions import AssetDef, SourceDef
from .errors import AssetbuildError, AssetFailed, CacheCorrupt, SourceMissing, WorkerLost
from .graph import Graph
from .io import io_tag
from .jobs import Job, Requeue, loop_priority, time_left
from .known import Blocked as _Blocked
from .known import Known as _Known
from .known import Unusable as _Unusable
from .known import input_unusable, known_observations, source_unusable
from .looking import Looking
from .materialize import Materializer, PathNotWritten
from .multi import MultiRuns
from .only import stored_inputs
from .rebuild import CodeOf, TraceRebuilder
from .repairing import REPAIRED, Repairing
from .reports import AssetResult, BuildResult, ObservationResult, Reason, cached_result
from .skips import no_output_result, settle_skip
from .stopping import never_started, stop_at_first_failure

if TYPE_CHECKING:
    from concurrent.futures import Future

_FROM_REMOTE = Reason("remote", "from the remote cache")


class _InputRebuilt(Exception):
    """An upstream's stored output was unusable and has been rebuilt: decide again."""


class Scheduler(Looking, Repairing):
    """Builds a selection of a graph: up to ``jobs`` assets at once, longest remaining path first.

    Everything that touches the store, the files or the observer happens on the thread that
    calls :meth:`build`; only the asset functions run elsewhere (``runner.submit(task, executor)``
    returns a future of the task's outcome). Deciding and restoring never wait for running work:
    the loop decides every ready asset before it waits for the next running one to finish."""

    def __init__(self, graph: Graph, *, store: TraceStore, files: Files, io_managers: dict[str, Any],
                 fingerprint: CodeOf, runner: Runner | None = None,
                 make_task: Callable[..., Any] | None = None, jobs: int = 1,
                 observer: BuildObserver | None = None, code_files: dict[str, str] | None = None,
                 code_refs: Callable[[bytes], tuple[str, ...]] | None = None,
                 code_ref_digest: Callable[[str], str] | None = None,
                 rebuilder: Rebuilder | None = None, params: dict[str, str] | None = None,
                 observations: Mapping[str, ObservationResult] | None = None,
                 check_output: Any = None) -> None:
        self.graph, self.store, self.files = graph, store, files
        self.io = io_managers
        self.fingerprint = fingerprint
        self.runner = runner
        self.make_task = make_task
        self.jobs = max(1, jobs)
        self.observer: BuildObserver = observer or QuietObserver()
        self._source_path = {n: d.path for n, d in graph.nodes.items() if isinstance(d, SourceDef)}
        self.sources = set(self._source_path)
        io_tags = {n: io_tag(m) for n, m in io_managers.items()}  # enters keys
        # this build's fingerprints, made before anything ran: planned asset -> (digest, parts) (codetable keeps them)
        self.codes: dict[str, tuple[str, dict[str, str]]] = {}
        self.rebuilder: Rebuilder = rebuilder or TraceRebuilder(graph, store, files, code_of=self._code_of,
                                                                io_tags=io_tags, params=params,
                                                                check_output=check_output)
        self.outputs = Materializer(store, files, io_tags, code_refs=code_refs, code_ref_digest=code_ref_digest,
                                    inputs=graph.inputs, source_paths=self._source_path, code_files=code_files,
                                    nodes=graph.nodes)
        self.known: dict[str, _Known] = {}
        self.blocked: dict[str, _Blocked] = {}
        self.causes: dict[str, str] = {}  # blocked asset -> the first cause (a missing source)
        self.predicting = False  # status, why, -n: nothing is built (see known.input_unusable)
        self.observations = dict(observations or {})  # made before the build: versions are inputs
        known_observations(self.observations, self.known, self.blocked)
        self._repaired: set[str] = set()  # assets whose stored output was unusable: rebuilt once
        self._repairing = self.rebuilder.forcing(self._repaired, default=REPAIRED)  # (not --force)
        # what assets declare they write (path outputs, outputs=): not "undeclared writes"
        self._declared = [p for d in graph.nodes.values() if isinstance(d, AssetDef)
                          for p in (d.outputs or ((d.path,) if d.path else ()))]
        self._strays: dict[str, Any] = {}  # undeclared writes named in this build: what they held then
        self._late: list[tuple[str, Decision]] = []  # remote hits whose path output waits for its bytes
        self._results: dict[str, AssetResult] = {}
        self._planned: set[str] = set()
        self._ups: dict[str, list[str]] = {}
        self._predecided: tuple[str, Decision] | None = None  # see _settle_cached
        self.multi = MultiRuns(graph) if graph.producers else None  # outs of multi-assets run together

    # --- public ------------------------------------------------------------------------------

    def build(self, plan: Sequence[str], *, force: bool | Container[str] = False, keep_going: bool = False,
              dry_run: bool = False, only: bool = False,
              forced_why: Mapping[str, tuple[Reason, ...]] | None = None) -> BuildResult:
        """``force``: True forces every planned asset, a set only those (``forced_why``: a tick's
        reasons); ``only``: inputs outside the plan are not decided, their stored values are used
        (``build --only``), and the results of those built again (unusable) come first."""
        t0 = time.perf_counter()
        if force:
            self.rebuilder = self.rebuilder.forcing(None if force is True else force, forced_why)
            self._repairing = self.rebuilder
        used = stored_inputs(self.graph, self.store, plan, self.known, self.blocked, self.outputs.usable_version) if only else ()
        self.predicting = dry_run
        planned = self._planned = set(plan)
        inputs = self.graph.inputs
        for name in plan:
            if not inputs[name]:  # (most partitions of a source-less asset: no call)
                continue
            for up in self._upstream(name):  # kept for the loop (self._ups)
                if up in planned:
                    self.outputs.add_reader(up)
        self._results = {}
        self._fingerprint_all(plan)
        failed = [o.as_failed_result() for o in self.observations.values() if not o.ok]
        for r in failed:  # before any asset: readers are skipped, -k says whether the rest goes on
            self.observer.asset_finished(r)
        try:
            self._stored_in_place(used, dry_run=dry_run)
            if dry_run:
                dry = {name: self._dry_run(name) for name in plan}
                if not keep_going:  # what a build that stops at its first failure would not reach, in its order
                    dry = stop_at_first_failure(plan, dry, self.graph.inputs, self.jobs, failed[0].asset if failed else None,
                                                priority=lambda rest, deps: loop_priority(rest, deps, self.store, self.jobs),
                                                nodes=self.graph.nodes)
                for name in plan:
                    self._finish(dry[name], flush=False)
            else:
                settled = 0 if failed else self._settle_cached(plan)
                self._loop(plan[settled:], keep_going=keep_going, stopped_by=failed[0].asset if failed else None)
                self._recheck_remote_hits()
        finally:
            if not dry_run:
                self.store.flush()
                self.files.finish()
        results = self._results
        extra = [r for n, r in results.items() if n not in planned] if len(results) > len(planned) else []
        return BuildResult((*failed, *extra, *(results[n] for n in plan)), time.perf_counter() - t0,
                           dry_run=dry_run, observations=tuple(self.observations.values()))

    # --- deciding ----------------------------------------------------------------------------

    def _fingerprint_all(self, plan: Sequence[str]) -> None:
        """Fingerprint every planned asset before any runs: an asset that runs in this process
        may change a global another one reads (a counter, a cache object), and a key must come
        from the code and data as loaded, not from what ran before it in this build."""
        codes = self.codes = {}
        by_asset: dict[str, tuple[str, dict[str, str]]] = {}  # a partitioned asset's, for all its partitions
        nodes = self.graph.nodes
        planned = self._planned
        for asset, pset in self.graph.partitioned.items():  # its planned partitions at once
            these = [n for n in pset.nodes if n in planned]
            if these:
                codes.update(dict.fromkeys(these, by_asset.get(asset) or by_asset.setdefault(asset, self.fingerprint(these[0]))))
        for name in plan:
            if name in codes:
                continue
            d = nodes.get(name)
            if not isinstance(d, AssetDef):
                continue
            part = d.partition
            if part is None:
                codes[name] = self.fingerprint(name)
                continue
            code = by_asset.get(part.asset)
            if code is None:
                code = by_asset[part.asset] = self.fingerprint(name)
            codes[name] = code

    def _code_of(self, name: str) -> tuple[str, dict[str, str]]:
        return self.codes.get(name) or self.fingerprint(name)

    def _input_versions(self, name: str) -> list[tuple[str, str | None]]:
        """(upstream, data version) per input (None: an upstream that will rebuild, in a dry run);
        ``_Unusable`` (recorded in ``blocked``) if an input has no usable version."""
        out: list[tuple[str, str | None]] = []
        for _, up in self.graph.inputs[name]:
            if up in self.sources:
                try:
                    dv: str | None = self.files.source_version(self._source_path[up])
                except SourceMissing as e:
                    raise source_unusable(name, f"source {up!r} {e.problem}", self.blocked, self.causes) from None
            elif up in self.blocked:
                raise input_unusable(name, up, self.blocked, self.causes, self.predicting)
            else:
                known = self.known.get(up)
                dv = known.data_version if known else None
            out.append((up, dv))
        return out

    def _decide(self, name: str, rebuilder: Rebuilder | None = None) -> Decision:
        """The rebuilder's decision, and what it tells this build of the asset's output."""
        pre = self._predecided
        if pre is not None and pre[0] == name and rebuilder is None:
            self._predecided = None
            d = pre[1]  # made by _settle_cached, whose prefix ended here
        else:
            rb = rebuilder or (self._repairing if self._repaired else self.rebuilder)  # no forcing layer until a repair
            d = rb.decide(name, self._input_versions(name))
        if d.action == "run" or d.trace is None:
            self.known[name] = _Known(d.key or "", None, None)
        else:
            self.known[name] = _Known(d.key or "", self.outputs.usable_version(d.trace.data_version),
                                      d.trace.output_digest)
        return d

    def _settle_cached(self, plan: Sequence[str]) -> int:
        """Settle the longest prefix of ``plan`` whose every asset is a cache hit, in plan order,
        without the loop's queues and counters (a null build is all prefix); the length of that
        prefix. The loop takes the rest, from the first asset that is not a hit, whose decision
        made here it acts on (``_predecided``)."""
        nodes = self.graph.nodes
        hit = getattr(self.rebuilder, "cached_hit", None)  # not when forcing
        usable, release = self.outputs.usable_version, self.outputs.release
        graph_inputs, known, results, finished = self.graph.inputs, self.known, self._results, self.observer.asset_finished
        for i, name in enumerate(plan):
            if nodes[name].producer is not None:  # type: ignore[union-attr]  # an out: its run is the loop's
                return i
            try:
                bound = graph_inputs[name]
                inputs = self._input_versions(name) if bound else []
                found = hit(name, inputs) if hit is not None else None
                if found is not None:  # the common case, without a Decision: what _finish does, bar a flush
                    key, dv, digest = found
                    known[name] = _Known(key, usable(dv), digest)
                    r = results[name] = cached_result(name, key, dv)
                    finished(r)
                    if bound:
                        release(bound)
                    continue
                d = self._decide(name)
            except _Unusable:
                return i
            if d.action != "cached":  # the loop acts on this decision: deciding again is not always the
                self._predecided = (name, d)  # same (a remote hit's trace is local by then)
                return i
            self.outputs.reuse(name, d)
            self._finish(cached_result(name, d.key, d.reused.data_version))
        return len(plan)

    def _start(self, name: str) -> AssetResult | Job | None:
        """Decide one asset and act on it: its result (cached, restored, failed, skipped), or a
        job to run (None: an out of a multi-asset whose run another out's job makes)."""
        adef: AssetDef = self.graph.nodes[name]  # type: ignore[assignment]
        if adef.producer is not None and self.multi is not None and self.multi.covers(name):
            return None
        try:
            d = self._decide_to_write(name)
        except _Unusable as e:
            if e.no_output:
                return no_output_result(name, e.why)
            return AssetResult(name, "failed", error=e.why) if e.fails else self._skipped(name, e.why)
        if d.action == "run":
            if adef.producer is not None and self.multi is not None:
                self.multi.join(name, self._decide_to_write, {n for n in self._planned if n not in self._results})
            return Job(name, adef, d)
        if d.action == "fetch" and adef.outputs:  # its readers read its files: write them now
            return self._restore(name, adef, d, (_FROM_REMOTE,))
        if d.action == "fetch" and d.reasons:  # its path output is written once its bytes are here
            self._late.append((name, d))
            return AssetResult(name, "restored", key=d.key, data_version=d.reused.data_version,
                               reasons=d.reasons + (_FROM_REMOTE,))
        if d.action in ("cached", "fetch"):
            self.outputs.reuse(name, d)
            if d.action == "fetch":  # its bytes may still be downloading: see _recheck_remote_hits
                return AssetResult(name, "restored", key=d.key, data_version=d.reused.data_version,
                                   reasons=(_FROM_REMOTE,))
            return cached_result(name, d.key, d.reused.data_version)
        return self._restore(name, adef, d)

    def _restore(self, name: str, adef: AssetDef, d: Decision, why: tuple[Reason, ...] = ()) -> AssetResult | Job:
        """The stored bytes back to the path output, or the stored files back into the project."""
        t0 = time.perf_counter()
        try:
            data = self.store.read_blob(d.reused.output_digest)
            if adef.outputs:
                self.observer.asset_started(name)
                self.outputs.restore_files(name, d, data)
        except PathNotWritten as e:
            return self._cannot_write(name, adef, d.known_key, e.err, t0)
        except CacheCorrupt as e:  # the output is gone after all: run the asset instead
            try:
                self._drop_corrupt(name, d.known_key, e)
            except AssetFailed as failed:
                return self._skipped(name, str(failed))
            unusable = Reason("output-missing", f"the stored output was unusable: {e}")
            return Job(name, adef, Decision("run", d.parts, d.key, (unusable,), head=d.head))
        if not adef.outputs:
            self.observer.asset_started(name)
            try:
                self.outputs.restore(name, d.parts.path or "", d, data)  # its path output, if any
            except PathNotWritten as e:
                return self._cannot_write(name, adef, d.known_key, e.err, t0)
        return AssetResult(name, "restored", key=d.key, data_version=d.reused.data_version,
                           duration_s=time.perf_counter() - t0, reasons=d.reasons + why)

    # --- the loop ----------------------------------------------------------------------------

    def _loop(self, plan: Sequence[str], *, keep_going: bool, stopped_by: str | None = None) -> None:
        runner = self.runner
        assert runner is not None, "a Scheduler that builds needs a runner and make_task"
        index = {n: i for i, n in enumerate(plan)}
        dependents: dict[str, list[str]] = {n: [] for n in plan}
        waiting: dict[str, int] = {}
        all_ups = self._ups
        for name in plan:
            ups = [up for up in (all_ups.get(name) or self._upstream(name)) if up in index]
            waiting[name] = len(ups)
            for up in ups:
                dependents[up].append(name)
        prio = loop_priority(plan, dependents, self.store, self.jobs)
        ready: list[tuple[float, int, str]] = []  # decided next, without waiting for anything
        runq: list[tuple[float, int, Job]] = []  # decided to run, waiting for a free worker
        running: dict[Future[Any], Job] = {}
        suspects: deque[Job] = deque()  # tasks a crashed worker took down: each reruns alone
        # the asset (or observable source) whose failure stops the build (without keep_going)
        stopped: str | None = None if keep_going else stopped_by

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
            for other in self.multi.after(r, self.blocked) if self.multi is not None else ():
                push(other) if isinstance(other, str) else finish(other)  # outs that joined its run

        for name in plan:
            if waiting[name] == 0:
                push(name)
        while True:
            # 1. decide everything that is ready: cache hits and restores finish here
            while ready and stopped is None:
                _, _, name = heapq.heappop(ready)
                started = self._start(name)
                if isinstance(started, AssetResult):
                    finish(started)
                elif started is not None:
                    heapq.heappush(runq, (-prio[name], index[name], started))
            # 2. start jobs on free workers (a suspect of a worker crash runs with nothing beside it,
            # even once a failure stopped the build: it was running, and running work finishes)
            if suspects:
                if not running:
                    job = suspects.popleft()
                    job.isolated = True
                    self._submit(job, running, finish)
            elif stopped is None:
                while runq and len(running) < self.jobs and stopped is None:
                    _, _, job = heapq.heappop(runq)
                    job.isolated = self.jobs == 1
                    self._submit(job, running, finish)
            if not running:
                if ready and stopped is None:
                    continue
                break
            # 3. wait for a job to end (or a deadline), committing finished work meanwhile; a
            # serial job has ended already (no wait, nothing to commit meanwhile)
            done: Collection[Future[Any]] = [f for f in running if f.done()]
            if not done:
                with self.store.flushing_while_away(self.store.flush):
                    done = runner.wait(list(running), time_left(running.values()))
            for fut in sorted(done, key=lambda f: index[running[f].name]):
                job = running.pop(fut)
                out = self._complete(job, fut)
                if out is Requeue.ALONE:
                    suspects.append(job)
                elif out is Requeue.DECIDE:
                    push(job.name)
                elif out is Requeue.AGAIN:  # not its fault: it runs again even after a failure
                    self._submit(job, running, finish)
                else:
                    finish(out)
            # 4. fail what ran out of time
            now = time.monotonic()
            for fut, job in sorted(running.items(), key=lambda item: index[item[1].name]):
                if job.deadline is not None and job.deadline <= now and not fut.done():
                    del running[fut]
                    finish(self._timed_out(job, fut))
        for name, why in never_started(plan, self._results, self._upstream, self.blocked, stopped).items():
            self._finish(self._skipped(name, why))  # what never started: the build stopped after a failure

    def _finish(self, r: AssetResult, *, flush: bool = True) -> None:
        self._results[r.asset] = r
        self.observer.asset_finished(r)
        self.outputs.release(self.graph.inputs[r.asset])
        if flush:
            self.store.maybe_flush()

    # --- running a job -----------------------------------------------------------------------

    def _submit(self, job: Job, running: dict[Future[Any], Job], finish: Callable[[AssetResult], None]) -> None:
        """Start a job on its executor. Making its task reads its inputs' stored bytes: if one
        is unusable, that upstream is rebuilt and the job decided again (its key may change)."""
        while True:
            try:
                task = self._task(job)
                break
            except _InputRebuilt:
                out = self._start(job.name)
                if out is None:
                    return
                if isinstance(out, AssetResult):
                    finish(out)
                    return
                out.isolated = job.isolated
                job = out
            except AssetFailed as e:
                finish(self._skipped(job.name, str(e)))
                return
        self.observer.asset_started(job.name)
        job.t0 = time.perf_counter()
        job.timeout = getattr(task, "timeout", None)
        job.starts_beside(running.values())
        assert self.runner is not None, "a Scheduler that builds needs a runner and make_task"
        try:
            with self.store.flushing_while_away(self.store.flush):  # serial: the asset runs here
                fut = self.runner.submit(task, job.adef.executor)
        except AssetbuildError:  # the executor cannot start (e.g. no cluster at that address)
            raise
        except Exception as e:  # noqa: BLE001 - e.g. a function cloudpickle cannot send to a worker
            self.blocked[job.name] = _Blocked.FAILED
            finish(AssetResult(job.name, "failed", key=job.key, reasons=job.decision.reasons,
                               error=f"cannot send it to its executor: {type(e).__name__}: {e}"))
            return
        job.handed_over(fut)  # its time limit counts from now
        running[fut] = job

    def _task(self, job: Job) -> Any:
        """The self-contained task of a job: sources as paths, upstream outputs as stored bytes."""
        args: dict[Any, Any] = {}
        inputs: list[tuple[Any, str, Any, Any]] = []
        assert self.runner is not None and self.make_task is not None
        by_file = self.runner.same_machine(job.adef.executor)
        fan = self.graph.fan_in.get(job.name)
        for param, up in self.graph.inputs[job.name]:
            if param is None:
                continue
            arg: Any = (param, up) if fan and param in fan else param  # one entry of a fan-in's dict (Task.fan_in)
            if up in self.sources:
                args[arg] = Path(self.files.abspath(self._source_path[up]))
            elif up in self.observations:  # travels with the task (pickled for a process worker)
                args[arg] = self.observations[up].value
            elif self._asset(up).outputs:  # the files it wrote, where they are
                outs = self._asset(up).outputs
                paths = {o: Path(self.files.abspath(o.rstrip("/"))) for o in outs}
                args[arg] = paths[outs[0]] if len(outs) == 1 else paths
            else:
                inputs.append((arg, up, self.io[self._asset(up).io], self._input_bytes(up, by_file)))
        task = self.make_task(job.adef, args, inputs, self.io[job.adef.io], job.name in self.graph.wants_context)
        task.env = job.decision.parts.env  # as its key holds them: a worker that outlives builds sets them
        named = self.outputs.modules_named(self.known[up].data_version or "" for _, up in self.graph.inputs[job.name]
                                           if up in self.known)
        if named and getattr(task, "code_modules", None) is not None:  # what its inputs' values name
            task.code_modules = tuple(sorted({*task.code_modules, *named}))
        if job.adef.producer is not None and self.multi is not None:
            self.multi.prepare(task, job.adef.producer, self.io)
        if job.adef.outputs:
            self._drop_staging(job)
            job.staging = task.staging = self.files.staging_dir(job.name)
            task.outputs = job.adef.outputs
            job.snapshot = self.files.snapshot(self._declared)
        return task

    def _input_bytes(self, up: str, by_file: bool) -> Any:
        known = self.known[up]
        assert known.digest is not None, f"{up!r} is read before it is built"
        try:
            return self.outputs.input_bytes(up, known.digest, by_file=by_file)
        except CacheCorrupt as e:
            self._repair(up, known.key, e)
            raise _InputRebuilt from None

    def _complete(self, job: Job, fut: Future[Any]) -> AssetResult | Requeue:
        """The result of a finished job, or what to do with it again (``Requeue``)."""
        try:
            return self._outcome(job, fut)
        finally:
            if job.snapshot is not None:
                said = job.undeclared_writes(self.files.snapshot(self._declared), self._strays)
                if said:
                    self.observer.warning(said)
                job.snapshot = None
            self._drop_staging(job)

    def _drop_staging(self, job: Job) -> None:
        if job.staging is not None:
            self.files.remove_staging(job.staging)
            job.staging = None

    def _outcome(self, job: Job, fut: Future[Any]) -> AssetResult | Requeue:
        name = job.name
        try:
            outcome = job.in_time(fut.result())
        except WorkerLost as e:
            if getattr(e, "stopped_by_build", False):
                return Requeue.AGAIN
            if not (job.isolated or e.isolated):
                self.observer.warning(f"a worker process died while {name!r} was running; running it again by itself")
                return Requeue.ALONE
            self.blocked[name] = _Blocked.FAILED
            return job.failed(str(e))
        if outcome.logs:
            self.observer.asset_logs(job.adef.producer or name, outcome.logs)  # as a live logger shows them
        edited = self.outputs.code_changed_during_run(outcome)
        if edited is not None:  # also before an "unloadable" input: the code, not the bytes, differs
            self.blocked[name] = _Blocked.FAILED
            return job.failed(f"{edited} changed while {name!r} was running, and the asset ran the changed "
                              "code; its result was not recorded (run the build again)", changed_during_run=True)
        if getattr(outcome, "skipped", False):  # Skip returned, with output_required=False
            return settle_skip(name, job.key, outcome.reason, store=self.store, known=self.known, blocked=self.blocked,
                               usable_version=self.outputs.usable_version, duration_s=outcome.duration_s,
                               reasons=job.decision.reasons, metadata=outcome.metadata, keep=self._keep_previous)
        if not outcome.ok and outcome.unloadable is not None:  # an input's bytes did not load
            up = outcome.unloadable
            try:  # read from the store's file by the task: a read here drops a corrupt one
                self.store.read_blob(self.known[up].digest or "")
            except CacheCorrupt:
                pass
            skipped = self._unloadable(name, up, self.known[up].key, outcome.error or "")
            return Requeue.DECIDE if skipped is None else skipped
        if not outcome.ok:
            self.blocked[name] = _Blocked.FAILED
            return job.failed(outcome.error, outcome.traceback or None)
        return self._record(job, outcome)

    def _record(self, job: Job, produced: Any) -> AssetResult:
        name, adef = job.name, job.adef
        changed = self.outputs.source_changed_during_run(name)
        if changed:
            spooled = getattr(produced, "file", None)
            if spooled is not None:
                Path(spooled).unlink(missing_ok=True)
            self.blocked[name] = _Blocked.FAILED
            return job.failed(f"source {changed!r} changed while {name!r} was running; its result was not "
                              "recorded (run the build again)", changed_during_run=True)
        if self.multi is not None and getattr(produced, "outs", None) is not None:
            return self.multi.record(self, job, produced)
        try:
            data_version = self.outputs.record(name, job.decision, adef.path, produced, job.staging)
        except PathNotWritten as e:
            return self._cannot_write(name, adef, job.key, e.err, job.t0)
        self.known[name] = _Known(job.key, self.outputs.usable_version(data_version), produced.digest)
        return AssetResult(name, "built", key=job.key, data_version=data_version,  # its run, as timed where it ran
                           duration_s=produced.duration_s, reasons=job.decision.reasons,  # (no worker start-up)
                           metadata=produced.metadata)

    def _timed_out(self, job: Job, fut: Future[Any]) -> AssetResult:
        """Fail a job that ran past its time limit and have its executor kill it."""
        assert self.runner is not None
        self.runner.kill(fut)
        self._drop_staging(job)
        self.blocked[job.name] = _Blocked.FAILED
        return job.failed(f"timed out after {job.timeout:g} s")

    # --- helpers -----------------------------------------------------------------------------

    def _asset(self, name: str) -> AssetDef:
        return self.graph.nodes[name]  # type: ignore[return-value]  # no cast(): a call per asset

    def _upstream(self, name: str) -> list[str]:
        """Distinct upstream names of ``name``, in parameter order (once a build: do not change it)."""
        ups = self._ups.get(name)
        if ups is None:
            ups = self._ups[name] = list(dict.fromkeys([up for _, up in self.graph.inputs[name]]))
        return ups

    def _skipped(self, name: str, why: str) -> AssetResult:
        self.blocked[name] = _Blocked.NOT_BUILT
        return AssetResult(name, "skipped", error=f"not run: {why}")

    def _cannot_write(self, name: str, adef: AssetDef, key: str, err: OSError, t0: float) -> AssetResult:
        self.blocked[name] = _Blocked.FAILED
        where = adef.path or (os.path.relpath(err.filename, self.files.root) if err.filename else adef.outputs[0])
        return AssetResult(name, "failed", key=key, duration_s=time.perf_counter() - t0,
                           error=f"cannot write its output {where}: {err.strerror or err}")
