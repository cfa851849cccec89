"""What a dry run predicts of a build that stops at its first failure (no ``-k``).

A build without ``keep_going`` stops deciding and starting assets once one fails: jobs already
running finish, everything else is skipped ("the build stopped after 'x' failed"). A missing
source fails its reader when that reader is decided, that is when its upstream assets are done,
so what else runs depends on the order the loop decides and starts work. This replays that
order over a dry run's predictions: ready assets are decided in plan order, a cache hit or a
restore finishes at once, an asset that would run takes one of ``jobs`` workers and finishes in
the order it started. With one worker that is the build's order exactly; with more, the
longest-path order and the durations can change which of the other assets start first.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Container, Mapping, Sequence

from .known import Blocked
from .reports import AssetResult


def _takes_a_worker(r: AssetResult) -> bool:
    return r.status == "skipped" and r.metadata.get("would") in ("run", "maybe")


def stop_at_first_failure(plan: Sequence[str], results: Mapping[str, AssetResult],
                          inputs: Mapping[str, Sequence[tuple[str | None, str]]], jobs: int,
                          stopped_by: str | None = None) -> dict[str, AssetResult]:
    """``results`` (a dry run's, by asset) with each asset a build without ``-k`` would not
    reach skipped, as that build says it. ``stopped_by``: a failure before any asset (an
    observable source's observation), which stops the build before it decides anything."""
    index = {n: i for i, n in enumerate(plan)}
    dependents: dict[str, list[str]] = {n: [] for n in plan}
    waiting: dict[str, int] = {}
    for name in plan:
        ups = {up for _, up in inputs.get(name, ()) if up in index}
        waiting[name] = len(ups)
        for up in ups:
            dependents[up].append(name)
    ready = [(index[n], n) for n in plan if waiting[n] == 0]
    heapq.heapify(ready)
    runq: list[tuple[int, str]] = []
    running: deque[str] = deque()
    reached: set[str] = set()
    stopped = stopped_by

    def finish(name: str) -> None:
        reached.add(name)
        for d in dependents[name]:
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(ready, (index[d], d))

    while True:
        while ready and stopped is None:
            _, name = heapq.heappop(ready)
            r = results[name]
            if _takes_a_worker(r):
                heapq.heappush(runq, (index[name], name))
                continue
            finish(name)
            if r.status == "failed":
                stopped = name
        while stopped is None and runq and len(running) < max(1, jobs):
            running.append(heapq.heappop(runq)[1])
        if not running:
            break
        finish(running.popleft())
    if stopped is None:
        return dict(results)
    why = f"not run: the build stops when {stopped!r} fails; -k keeps going"
    return {n: r if n in reached or _blocked(r) else AssetResult(n, "skipped", error=why)
            for n, r in results.items()}


def _blocked(r: AssetResult) -> bool:
    """Skipped already, because an input cannot be built: that reason names the cause."""
    return r.status == "skipped" and "would" not in r.metadata


def never_started(plan: Sequence[str], done: Container[str], upstream: Callable[[str], Sequence[str]],
                  blocked: Mapping[str, Blocked], stopped: str | None) -> dict[str, str]:
    """Why each asset of ``plan`` that a build without ``-k`` never started was not run, once it
    stopped after ``stopped`` failed. One that cannot use an input (blocked by this build, or
    downstream of one that is) is told what ``-k`` would tell it ("upstream 'b' failed"): -k
    would not run it either. Only the others, which -k would run, are told to use it."""
    out: dict[str, str] = {}
    cut: set[str] = set()  # never started, and -k would not run them either
    for name in plan:
        if name in done:
            continue
        up = next((u for u in upstream(name) if u in cut or u in blocked), None)
        if up is None:
            out[name] = f"the build stopped after {stopped!r} failed (use -k to keep going)"
            continue
        out[name] = f"upstream {up!r} {(Blocked.NOT_BUILT if up in cut else blocked[up]).value}"
        cut.add(name)
    return out
