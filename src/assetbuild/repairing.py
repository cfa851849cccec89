"""Repairing a build in flight: a stored output that turns out unusable once decided (a corrupt
blob, bytes that no longer load) is forgotten and its asset run again, once per build; a remote
hit whose bytes did not arrive intact is run here instead; the previous value a skip keeps
current has its files put back, or, if it cannot be had, is no value. A mixin of the
Scheduler, whose loop, decisions and runner it uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .contracts import Decision, Rebuilder, Runner, TraceStore
from .errors import AssetFailed, CacheCorrupt, SliceInsufficient
from .graph import Graph
from .jobs import Job, Requeue, time_left
from .known import Blocked, Known
from .known import Unusable as _Unusable
from .materialize import PathNotWritten
from .only import stored_inputs
from .reports import AssetResult, Head, Reason

if TYPE_CHECKING:
    from concurrent.futures import Future

# A repair's reason: not 'forced: --force', which the user did not type (the warning says why)
REPAIRED = (Reason("repaired", "its stored output could not be used, so it ran again"),)
# a remote hit whose bytes did not arrive intact, run here (not forced by --force: its history says why)
_REMOTE_UNUSABLE = (Reason("repaired", "its bytes from the remote cache did not arrive intact, so it ran here"),)
# a value this build made, then found it cannot load: its failure's reason (session.versions reads it)
_DROPPED = Reason("dropped", "its value could not be loaded back, so it is not kept")


class Repairing:
    """Mixed into the Scheduler (see assetbuild.scheduler)."""

    graph: Graph
    store: TraceStore
    runner: Runner | None
    observer: Any
    known: dict[str, Known]
    outputs: Any
    rebuilder: Rebuilder
    _repaired: set[str]
    _repairing: Rebuilder
    _results: dict[str, AssetResult]
    _late: list[tuple[str, Decision]]
    _decide: Callable[..., Decision]
    _asset: Callable[[str], Any]
    _submit: Callable[..., None]
    _complete: Callable[[Job, Future[Any]], AssetResult | Requeue]
    _timed_out: Callable[[Job, Future[Any]], AssetResult]
    _skipped: Callable[[str, str], AssetResult]
    _upstream: Callable[[str], list[str]]
    blocked: dict[str, Blocked]
    standins: frozenset[str] = frozenset()  # a sliced project's frontier (session.project.stand_in)


    @property
    def repaired(self) -> frozenset[str]:
        """The assets this build built again because their stored value was unusable."""
        return frozenset(self._repaired)

    def result_of(self, name: str) -> AssetResult | None:
        """What this build did with ``name``, planned or not (an input outside an ``only``
        plan is built again when its stored value is unusable); None if nothing."""
        return self._results.get(name)

    def results_so_far(self) -> Mapping[str, AssetResult]:
        """``result_of`` of every asset this build did something with (a read-only view)."""
        return MappingProxyType(self._results)

    def _repair(self, name: str, key: str, err: BaseException) -> None:
        """An asset's stored output turned out unusable after it was decided: forget its trace
        and run it again now, before the asset that needed it goes on. Once per build: a second
        failure, or a failed rerun, raises ``AssetFailed``. A stand-in of a sliced project
        cannot be run: ``SliceInsufficient`` once its trace is dropped (the build loads the whole
        project and starts over, and that build runs it). An asset that produced no value this
        build (``Skip``, an optional out not returned) is not run again: what is unusable is the
        previous value it kept current, so it has none (as is the case when its rerun skips)."""
        done = self._results.get(name)
        if done is not None and done.skip_reason is not None:
            self._kept_unusable(name, str(err))
            return
        self._drop_corrupt(name, key, err)
        if name in self.standins:
            raise SliceInsufficient(f"the stored value of {name!r}, which the snapshot took as current, is unusable")
        self._rerun(name, self._repairing, reasons=REPAIRED)  # forced: its trace is gone, but say why
        kept = self.known.get(name)
        if self._results[name].skip_reason is not None and kept is not None and kept.key == key:
            self._kept_unusable(name, str(err))

    def _keep_previous(self, name: str, head: Head) -> bool:
        """``name`` produced no value, and ``head``, its previous value, stays current: put back
        its path output or files where they are missing or edited (its readers are handed them).
        False, with a warning, when that value cannot be had."""
        why = self._in_place(name, head)
        if why is not None:
            self._say_unusable(name, why)
        return why is None

    def _in_place(self, name: str, head: Head, put_back: list[Reason] | None = None) -> str | None:
        """Make ``head``, a value this build uses without deciding its asset (kept by a skip, or
        an input taken at its stored value), whole where a reused build would be: its path
        output or files put back from the cache where missing or edited (why, added to
        ``put_back``). None, or why it cannot be had (its data outside the cache gone or
        changed, a stored copy gone)."""
        kept_state = getattr(self.rebuilder, "kept_state", None)
        state = kept_state(name, head) if kept_state is not None else None
        if state is None:
            return None
        action, reasons = state
        if action == "restore":
            adef = self._asset(name)
            try:
                self.outputs.restore_kept(head, files=bool(adef.outputs), path=adef.path)
                if put_back is not None:
                    put_back.extend(reasons)
                return None
            except CacheCorrupt as e:
                reasons = (Reason("output-missing", f"its stored copy is unusable: {e}"),)
            except PathNotWritten as e:
                reasons = (Reason("output-missing", f"it cannot be written back: {e.err.strerror or e.err}"),)
        return "; ".join(f"{r.code}: {r.detail}" for r in reasons)

    def _stored_in_place(self, used: Sequence[str], *, dry_run: bool = False) -> None:
        """The inputs an ``--only`` build takes at their stored values (``used``), made whole
        before any reader runs, as a reused build is: files or a path output missing or edited
        are put back from the cache (``restored``); one that cannot be had (its data outside the
        cache edited or gone) is built again. Else a reader read the edit under the stored
        version's key, and the full build that later rebuilds the input back to those bytes kept
        that reader's result: stale. A dry run says what the build would do, and does nothing."""
        for up in used:
            head = self.store.get_head(up) if up in self.known else None  # (not blocked: none stored)
            if head is None:
                continue
            if dry_run:
                state = getattr(self.rebuilder, "kept_state", lambda *_: None)(up, head)
                if state is not None:
                    if state[0] == "gone":
                        self.known[up] = Known(head.key, None, None)  # (its readers: maybe)
                    self._said(AssetResult(up, "skipped", key=head.key, reasons=state[1],
                                           metadata={"would": "run" if state[0] == "gone" else "restore"}))
                continue
            put_back: list[Reason] = []
            why = self._in_place(up, head, put_back)
            if why is not None:
                try:
                    self._repair(up, head.key, RuntimeError(why))
                except AssetFailed:
                    self.blocked[up] = Blocked.FAILED  # (its result says why; its readers are skipped)
                    self.known.pop(up, None)
            elif put_back:
                self._said(AssetResult(up, "restored", key=head.key, data_version=self.known[up].data_version,
                                       reasons=tuple(put_back)))

    def _said(self, result: AssetResult) -> None:
        self._results[result.asset] = result
        self.observer.asset_finished(result)

    def _kept_unusable(self, name: str, why: str) -> None:
        """The previous value ``name`` kept current, producing none this build, turned out
        unusable (``why``): it has no value, so its readers are skipped ("upstream 'x' produced
        no output"), no failure, as before its first value."""
        self._say_unusable(name, why)
        self.blocked[name] = Blocked.NO_OUTPUT
        self.known.pop(name, None)
        self.outputs.forget(name)
        done = self._results.get(name)
        if done is not None and done.data_version is not None:
            self._results[name] = dataclasses.replace(done, data_version=None)

    def _say_unusable(self, name: str, why: str) -> None:
        producer = self._asset(name).producer
        did = f"{producer!r} returned no value for {name!r}" if producer else f"{name!r} returned Skip"
        self.observer.warning(f"{did}, and its previous value cannot be used ({why}): its readers are skipped "
                              "as if it had none")

    def _unloadable(self, reader: str, up: str, key: str, err: str) -> AssetResult | None:
        """``reader``'s input ``up`` did not load. Stored by an earlier build: ``up`` is repaired
        (None: decide ``reader`` again). Built by this one, its IO manager cannot read back what
        it just wrote, which running ``up`` again would not change (it would run twice): ``up``
        fails naming the manager, its trace and head are dropped
        (no record of a value that cannot be loaded), and ``reader`` is skipped (its result).
        Its ``built`` line and materialized event are out already: the failure follows them,
        with reason ``dropped`` (history is appended to, and show --version reads it to say why
        that version's value is gone)."""
        done = self._results.get(up)
        if self.blocked.get(up) is Blocked.FAILED:  # (another reader found it first)
            return self._skipped(reader, f"upstream {up!r} failed")
        why = err.removeprefix(f"its input {up!r} could not be loaded: ")  # (the reader's words)
        if done is None or done.status != "built" or done.key != key:
            try:
                self._repair(up, key, RuntimeError(why))
            except AssetFailed as e:
                return self._skipped(reader, str(e))
            return None
        self.store.delete_trace(key)  # and its head, which a build would reuse as its trace
        self.store.delete_head(up)
        self.outputs.forget(up)
        failed = AssetResult(up, "failed", key=key, duration_s=done.duration_s, reasons=(*done.reasons, _DROPPED),
                             error=f"its IO manager {self._asset(up).io!r} cannot load the value it stored "
                                   f"({why}); the value is dropped from the cache")
        self._results[up] = failed
        self.blocked[up] = Blocked.FAILED
        self.observer.asset_finished(failed)
        return self._skipped(reader, f"upstream {up!r} failed")

    def _rerun(self, name: str, rebuilder: Rebuilder, reasons: tuple[Reason, ...] | None = None) -> None:
        """Run an already-finished asset again, now, replacing its result (``reasons``: the ones
        its result gives, rather than the rebuilder's). An input of it that this build did not
        decide (``--only`` decides none outside its plan) is taken at its stored value, as
        ``--only`` takes its plan's, and checked as a build checks a reused one: put back, or
        built again when it cannot be had (its data gone), as is one whose stored value does not
        load (then the asset is decided again). A skip is no failure."""
        self._stored_in_place(stored_inputs(self.graph, self.store, [name], self.known, self.blocked,
                                            self.outputs.usable_version))
        result = None
        while result is None:
            try:
                d = self._decide(name, rebuilder)
            except _Unusable as e:
                raise AssetFailed(name, e.why) from None
            if reasons is not None:
                d = d._replace(reasons=reasons)
            result = self._run_now(Job(name, self._asset(name), d))
        self._results[name] = result
        self.observer.asset_finished(result)
        if result.status != "built" and result.skip_reason is None:
            raise AssetFailed(name, result.error or "failed", result.traceback or "")

    def _drop_corrupt(self, name: str, key: str, err: BaseException) -> None:
        """Forget a trace whose bytes are unusable, so the asset is rebuilt (once per build)."""
        if name in self._repaired:
            raise AssetFailed(name, f"its output cannot be stored and read back: {err}")
        if not getattr(err, "said", False):  # (a remote cache's rejection has had its one warning)
            self.observer.warning(f"the stored output of {name!r} could not be used ({err}); rebuilding it")
        self.store.delete_trace(key)
        self._repaired.add(name)
        self.outputs.forget(name)

    def _run_now(self, job: Job) -> AssetResult | None:
        """Run one job to its end, now, with nothing beside it (None: an input of it did not
        load, and has been built again or found to have no value: decide it again)."""
        running: dict[Future[Any], Job] = {}
        results: list[AssetResult] = []
        job.isolated = True
        self._submit(job, running, results.append)
        if results:
            return results[0]
        (fut,) = running
        assert self.runner is not None
        with self.store.flushing_while_away(self.store.flush):
            done = self.runner.wait([fut], time_left([job]))
        if not done:
            return self._timed_out(job, fut)
        out = self._complete(job, fut)
        if out is Requeue.DECIDE:
            return None
        if isinstance(out, Requeue):
            return AssetResult(job.name, "failed", key=job.key, error="its inputs could not be loaded")
        return out

    def _recheck_remote_hits(self) -> None:
        """Write the path outputs of remote hits, and run those whose bytes did not arrive intact.

        A remote store answers a hit with the signed trace at once and downloads in the
        background; ``settle()`` waits for the downloads and names the keys that failed."""
        bad = set(self.store.settle())
        for name, d in self._late:  # path outputs: downloaded concurrently meanwhile
            if d.key in bad:
                continue
            try:
                self.outputs.restore(name, d.parts.path or "", d)
            except (CacheCorrupt, PathNotWritten):
                bad.add(d.known_key)  # rebuilt below: a failure to write then shows as its error
        if not bad:  # (a build without a remote cache: no walk over every result)
            return
        changed: set[str] = set()  # run with another value than the one its signed record gave
        for name, r in list(self._results.items()):
            if r.status == "restored" and r.key in bad:
                try:
                    self._rerun(name, self.rebuilder.forcing(), reasons=_REMOTE_UNUSABLE)
                except AssetFailed:
                    pass  # its failed result is recorded
                if self._results[name].data_version != r.data_version:
                    changed.add(name)
        if changed:
            self._decide_readers_again(changed)

    def _decide_readers_again(self, changed: set[str]) -> None:
        """The readers of ``changed`` were decided on the values the remote's records gave them,
        which running them again did not give back (an asset whose value differs from run to
        run): their keys are others now, so each runs again, in build order, and so on down
        while values change. Else the build would end with them stale, and say it succeeded."""
        for name, r in list(self._results.items()):
            ups = [up for up in self._upstream(name) if up in changed]
            if name in changed or not ups:
                continue
            try:
                d = self._decide(name, self.rebuilder)
            except _Unusable as e:  # an upstream failed as it ran again
                self._results[name] = self._skipped(name, e.why)
                self.observer.asset_finished(self._results[name])
                changed.add(name)
                continue
            if d.key == r.key:  # (its inputs' values are as they were)
                continue
            why = (Reason("upstream-changed", f"{ups[0]} ran again, its remote bytes rejected, and its value "
                                              "is another"),)
            try:
                self._rerun(name, self.rebuilder.forcing(), reasons=why)
            except AssetFailed:
                pass  # its failed result is recorded
            if self._results[name].data_version != r.data_version:
                changed.add(name)
