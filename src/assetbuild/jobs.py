"""A job: an asset the scheduler decided to run, between its decision and its outcome; what
becomes of a job that ends without a result (``Requeue``); and the order and deadlines of jobs
(longest remaining path first, time limits)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from enum import Enum
from typing import Any

from .contracts import Decision, TraceStore
from .definitions import AssetDef
from .reports import AssetResult


class Requeue(Enum):
    """What becomes of a finished job that has no result of its own yet."""

    ALONE = "alone"  # a crashed worker took it down with others: rerun it by itself
    DECIDE = "decide"  # an input could not be loaded and its upstream was rebuilt: decide it again
    AGAIN = "again"  # its worker was killed to stop another (timed-out) job: run it again


class Job:
    """An asset decided to run, between its decision and its outcome."""

    __slots__ = ("name", "adef", "decision", "t0", "isolated", "timeout", "deadline", "ended", "staging", "snapshot",
                 "beside")

    def __init__(self, name: str, adef: AssetDef, decision: Decision) -> None:
        self.name = name
        self.adef = adef
        self.decision = decision
        self.t0 = 0.0
        self.isolated = False  # ran with nothing beside it (a worker crash is then its own)
        self.timeout: float | None = None  # its time limit in seconds, once submitted
        self.deadline: float | None = None  # time.monotonic() by which it must have finished
        self.ended: float | None = None  # time.monotonic() when its future ended (a timed job's)
        self.staging: str | None = None  # where it writes its declared outputs= (if any)
        self.snapshot: Any = None  # the project's files before it ran (to notice undeclared writes)
        self.beside: list[str] = []  # the jobs that ran while it did (any of them may have written them)

    @property
    def key(self) -> str:
        return self.decision.known_key

    def failed(self, error: str | None, traceback: str | None = None, *, changed_during_run: bool = False
               ) -> AssetResult:
        return AssetResult(self.name, "failed", key=self.key, duration_s=time.perf_counter() - self.t0,
                           error=error, traceback=traceback, reasons=self.decision.reasons,
                           changed_during_run=changed_during_run)

    def starts_beside(self, running: Any) -> None:
        """It starts while the ``running`` jobs run: each may write what the other's snapshot sees."""
        for other in running:
            other.beside.append(self.name)
            self.beside.append(other.name)

    def undeclared_writes(self, written: dict[str, Any] | None, said: dict[str, Any]) -> str | None:
        """The warning for the project's files that changed while it ran, outside every declared
        output (``written``: the snapshot after it), except those already named in this build with
        what they hold now (``said``, updated). Alone, it wrote them; beside other jobs (``-j``),
        any of them may have (one that finished first may already have named them), so the
        warning names them all rather than blame the one whose snapshot saw them."""
        if self.snapshot is None or written is None:
            return None
        stray = sorted(k for k, sig in written.items() if self.snapshot.get(k) != sig and said.get(k) != sig)
        if not stray:
            return None
        said.update((k, written[k]) for k in stray)
        who = " or ".join(repr(n) for n in dict.fromkeys([self.name, *self.beside]))
        return (f"{who}{' (running at the same time)' if self.beside else ''} wrote {', '.join(stray[:5])}"
                f"{f' and {len(stray) - 5} more' if len(stray) > 5 else ''} outside "
                "its declared outputs (declare them in outputs=, and write them through context.out)")

    def handed_over(self, fut: Any) -> None:
        """Its executor has it (``fut``): its time limit counts from now, and the moment it ends
        is noted, since the loop may be busy then (an asset on an inline executor runs in it)."""
        self.ended = None
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout
        if self.deadline is not None:
            fut.add_done_callback(self._end)

    def _end(self, fut: Any) -> None:
        self.ended = time.monotonic()

    def in_time(self, outcome: Any) -> Any:
        """``outcome``, or a failure if the job ended past its deadline: a result that took longer
        than its time limit is never recorded, even when no one was there to stop it in time."""
        if self.deadline is None or self.ended is None or self.ended <= self.deadline:
            return outcome
        return _TimedOut(outcome, self.timeout or 0.0)


class _TimedOut:
    """The outcome of a job that ended past its time limit: a failure, whatever it returned (a
    spooled output is dropped)."""

    ok = False
    unloadable = None
    traceback = ""
    project_code = None

    def __init__(self, outcome: Any, timeout: float) -> None:
        self.error = f"timed out after {timeout:g} s"
        self.logs = getattr(outcome, "logs", None) or []
        spooled = getattr(outcome, "file", None)
        if spooled is not None:
            try:
                os.unlink(spooled)
            except OSError:
                pass


def critical_path(plan: Sequence[str], dependents: dict[str, list[str]],
                  store: TraceStore) -> dict[str, float]:
    """Per asset, the longest run time from its start to the end of the build along its
    dependents, from the durations recorded by earlier builds (unknown: their median)."""
    durations: dict[str, float | None] = {}
    for name in plan:
        head = store.get_head(name)
        durations[name] = head.duration_s if head is not None else None
    known = sorted(d for d in durations.values() if d is not None)
    default = known[len(known) // 2] if known else 1.0
    cp: dict[str, float] = {}
    for name in reversed(plan):
        d = durations[name]
        cp[name] = (default if d is None else d) + max((cp[x] for x in dependents[name]), default=0.0)
    return cp


def loop_priority(plan: Sequence[str], dependents: dict[str, list[str]], store: TraceStore,
                  jobs: int) -> dict[str, float]:
    """The order the loop decides and starts ready assets in, highest first (then plan order):
    -j 1 keeps the plan's order; with more workers the longest remaining path goes first."""
    return critical_path(plan, dependents, store) if jobs > 1 else dict.fromkeys(plan, 0.0)


def time_left(jobs: Any) -> float | None:
    """How long the loop may wait for running work: until the first deadline among ``jobs``."""
    deadlines = [j.deadline for j in jobs if j.deadline is not None]
    return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
