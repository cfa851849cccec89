"""Multi-assets in a build: one run of the function for all the outs that must run, and
recording every out that run returned.

Each out is an asset of the graph, decided by the rebuilder like any other (so a missing path
output of one out is restored without running, and readers of one out see only its data
version). What this module adds to the scheduler's loop: when a planned out must run, the
planned outs of the same multi-asset that must run too *join* its job (:meth:`MultiRuns.join`),
so the function runs once; when that run ends, each out it returned is stored and recorded
under its own key, the joined outs get their results (:meth:`MultiRuns.record`,
:meth:`MultiRuns.after`), and outs outside the selection are stored too when their key has no
trace yet: they are no results of the build (which reports what was asked for, as ``-n`` does),
but the observer hears of them (``asset_stored``) so that their history records them. An
optional out the run did not return gets no new materialization (:func:`no_output`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Container
from typing import Any

from .contracts import Decision
from .graph import Graph
from .known import Blocked, Known, Unusable
from .materialize import PathNotWritten
from .reports import AssetResult, Head, Reason


def no_output(name: str, why: str, head: Head | None, known: dict[str, Known], blocked: dict[str, Blocked],
              usable_version: Callable[[str], str],
              keep: Callable[[str, Head], bool] | None = None) -> AssetResult:
    """An asset whose run produced no value (an optional out that was not returned): nothing is
    recorded; its previous value, if any, stays current for its readers (whose keys then do not
    change, so they do not rerun), its path output put back if missing or edited (``keep``: False
    when that value cannot be had); with none, its readers are skipped ("upstream 'x' produced
    no output"). Not a failure: the result is ``skipped`` with no error and the reason."""
    if head is not None and keep is not None and not keep(name, head):
        head = None
    if head is not None:
        known[name] = Known(head.key, usable_version(head.data_version), head.output_digest)
    else:
        blocked[name] = Blocked.NO_OUTPUT
    return AssetResult(name, "skipped", reasons=(Reason("no-output", why),), skip_reason=why)


class MultiRuns:
    """The joined outs of the multi-assets of one build, and the results their runs gave."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.joined: dict[str, str] = {}  # a planned out -> the out whose job runs it
        self.groups: dict[str, dict[str, Decision]] = {}  # that out -> {joined out: its decision}
        self.results: dict[str, list[AssetResult]] = {}  # that out -> results of its joined outs

    def covers(self, name: str) -> bool:
        """Whether a planned out finishes with another out's run (then nothing starts it)."""
        return name in self.joined

    def join(self, owner: str, decide: Callable[[str], Decision], pending: Container[str]) -> None:
        """``owner`` (an out) will run: the ``pending`` outs of its multi-asset (planned, not yet
        finished) that must run join its job. ``decide`` is the scheduler's decision (it may
        raise ``Unusable``; such an out is left to be decided on its own)."""
        producer: str = self.graph.nodes[owner].producer  # type: ignore[union-attr,assignment]
        group = self.groups.setdefault(owner, {})
        for out in self.graph.producers[producer]:
            if out == owner or out not in pending or self.joined.get(out, owner) != owner:
                continue
            try:
                d = decide(out)
            except Unusable:
                continue
            if d.action == "run":
                group[out] = d
                self.joined[out] = owner
            elif out in group:  # decided again (an upstream was repaired): not run after all
                del group[out]
                del self.joined[out]

    def prepare(self, task: Any, producer: str, io_managers: dict[str, Any]) -> None:
        """Make an out's task the run of its multi-asset: every out, each with its IO manager."""
        outs = []
        for out in self.graph.producers[producer]:
            adef: Any = self.graph.nodes[out]
            outs.append((out, adef.io, io_managers[adef.io], adef.output_required))
        task.outs = tuple(outs)
        task.asset = producer

    def record(self, sched: Any, job: Any, produced: Any) -> AssetResult:
        """Store and record each out the run returned (``produced``: a ``MultiProduced``): the
        job's out and the outs that joined it under the keys they were decided with; outs
        outside the selection under their current key, if that key has no trace yet (told to the
        observer: ``asset_stored``). The job's result; the joined outs' results wait in
        ``results`` for :meth:`after`."""
        owner = job.name
        producer = job.adef.producer
        members = {owner: job.decision, **self.groups.pop(owner, {})}
        out_results: dict[str, AssetResult] = {}
        for out in self.graph.producers[producer]:
            d = members.get(out)
            if d is None:
                d = self._unasked(sched, out, producer, produced)
                if d is None:
                    continue
            adef = self.graph.nodes[out]
            if out in produced.missing:
                if out in members:
                    said = produced.missing[out]
                    why = f"{producer!r} returned Skip ({said}) for it" if said else f"{producer!r} returned no value for it"
                    out_results[out] = no_output(out, why,
                                                 sched.store.get_head(out), sched.known, sched.blocked,
                                                 sched.outputs.usable_version, sched._keep_previous)
                continue
            p = produced.outs[out]
            try:
                dv = sched.outputs.record(out, d, adef.path, p)  # type: ignore[union-attr]
            except PathNotWritten as e:
                if out in members:
                    out_results[out] = sched._cannot_write(out, adef, d.known_key, e.err, job.t0)
                continue
            sched.known[out] = Known(d.known_key, sched.outputs.usable_version(dv), p.digest)
            r = AssetResult(out, "built", key=d.known_key, data_version=dv, duration_s=time.perf_counter() - job.t0,
                            reasons=d.reasons, metadata=p.metadata)
            if out in members:
                out_results[out] = r
            else:  # not the build's to report (-n did not say it would run), but history's to record
                sched.observer.asset_stored(r)
        self.results[owner] = [r for o, r in out_results.items() if o != owner]
        return out_results[owner]

    def _unasked(self, sched: Any, out: str, producer: str, produced: Any) -> Decision | None:
        """The decision to record the run's value of ``out``, an out the job did not run for,
        under, if any: an out outside the selection whose key has no trace yet; or an out whose
        trace for its key is an ``accept``ed output that the run just disproved (other bytes under
        that same key). Accept claimed the code makes the stored bytes; kept, that value would be
        a stale result that no key change reruns (its readers' keys name it), so the run's value
        replaces it, with a warning."""
        settled = out in sched._results or out in sched._planned  # decided (or to be) on its own
        if settled and not _disproves_accepted(sched.store, out, None, produced):
            return None
        try:
            d: Decision = sched._decide(out, sched.rebuilder) if settled else sched._decide(out)
        except Unusable:
            return None
        if d.action == "run":
            return None if settled else d
        if d.action != "cached" or not _disproves_accepted(sched.store, out, d.known_key, produced):
            return None
        sched.observer.warning(f"{out!r} was accepted for key {d.known_key[:12]}, but {producer!r} returns "
                               f"other bytes for it under that key; recorded what it returned (its readers "
                               f"run again)")
        return d

    def after(self, r: AssetResult, blocked: dict[str, Blocked]) -> list[AssetResult | str]:
        """What finishing ``r`` finishes too: the results of the outs that joined its run (a
        failure or skip is theirs as well), or, if it did not run after all, their names, to be
        decided on their own."""
        group = self.groups.pop(r.asset, None)
        done = self.results.pop(r.asset, None)
        if done is not None:
            for x in done:
                self.joined.pop(x.asset, None)
            return list(done)
        if not group:
            return []
        for out in group:
            del self.joined[out]
        if r.status in ("failed", "skipped"):
            why = r.error if r.status == "failed" else r.error or "; ".join(x.detail for x in r.reasons)
            shared: list[AssetResult | str] = []
            for o, d in group.items():
                blocked[o] = blocked.get(r.asset, Blocked.FAILED if r.status == "failed" else Blocked.NOT_BUILT)
                shared.append(dataclasses.replace(r, asset=o, key=d.known_key, reasons=d.reasons,
                                                  error=why if r.status == "failed" else r.error))
            return shared
        return list(group)


def _disproves_accepted(store: Any, out: str, key: str | None, produced: Any) -> bool:
    """Whether ``out``'s latest build is an ``accepted`` output (of ``key``, when given) whose
    bytes differ from what the run returned for it."""
    if out in produced.missing:
        return False
    last = store.last_event(out)
    if last is None or last.kind != "accepted":
        return False
    head = store.get_head(out)
    if head is None or head.key != last.key or (key is not None and head.key != key):
        return False
    return bool(head.output_digest != produced.outs[out].digest)
