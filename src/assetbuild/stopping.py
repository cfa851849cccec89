"""What a dry run predicts of a build that stops at its first failure (no ``-k``).

A build without ``keep_going`` stops deciding and starting assets once one fails: jobs already
running finish, everything else is skipped ("the build stopped after 'x' failed"). A missing
source fails its reader when that reader is decided, that is when its upstream assets are done,
so what else runs depends on the order the loop decides and starts work. This replays that
order over a dry run's predictions, with the loop's own priorities: the cache hits it settles
first, then ready assets decided highest priority first (the longest remaining path, with more
than one worker; plan order with one), a cache hit or a restore finishing at once, an asset that
would run taking one of ``jobs`` workers. With one worker that is the build's order exactly.
With more, which of two running assets ends first is a matter of how long they take: from the
first moment it matters, an asset's fate is what -k predicts of it, or a skip, as timing decides:
it may run (``maybe``), be restored or fail (a ``timing`` reason says so), unless it was decided
before, or a sole failure ahead, which the build reaches whenever that is.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

from .known import Blocked
from .reports import AssetResult, Reason
from .wording import words


def _keep_going() -> str:
    return words("-k", "keep_going=True")


def _takes_a_worker(r: AssetResult) -> bool:
    return r.status == "skipped" and r.metadata.get("would") in ("run", "maybe")


def stop_at_first_failure(plan: Sequence[str], results: Mapping[str, AssetResult],
                          inputs: Mapping[str, Sequence[tuple[str | None, str]]], jobs: int,
                          stopped_by: str | None = None, *,
                          priority: Callable[[Sequence[str], dict[str, list[str]]], Mapping[str, float]] | None = None,
                          nodes: Mapping[str, Any] | None = None) -> dict[str, AssetResult]:
    """``results`` (a dry run's, by asset) with each asset a build without ``-k`` would not
    reach skipped, as that build says it. ``stopped_by``: a failure before any asset (an
    observable source's observation), which stops the build before it decides anything.
    ``priority(assets, dependents)``: the loop's priority of each of the assets it takes (those
    after the cache hits it settles first: a prefix of the plan, ending at a multi-asset's out,
    whose definition in ``nodes`` has a ``producer``); None: plan order."""
    index = {n: i for i, n in enumerate(plan)}
    dependents: dict[str, list[str]] = {n: [] for n in plan}
    waiting: dict[str, int] = {}
    for name in plan:
        ups = {up for _, up in inputs.get(name, ()) if up in index}
        waiting[name] = len(ups)
        for up in ups:
            dependents[up].append(name)
    settled = 0
    while stopped_by is None and settled < len(plan) and results[plan[settled]].status == "cached" \
            and getattr((nodes or {}).get(plan[settled]), "producer", None) is None:
        settled += 1
    prio = priority(plan[settled:], dependents) if priority is not None else {}
    ready: list[tuple[float, int, str]] = []
    runq: list[tuple[float, int, str]] = []
    running: deque[str] = deque()
    reached: set[str] = set()
    sure: set[str] = set()  # decided (one that runs: started) while the order was certain
    certain = True
    stopped = stopped_by

    def finish(name: str) -> None:
        reached.add(name)
        for d in dependents[name]:
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(ready, (-prio.get(d, 0.0), index[d], d))

    for name in plan[:settled]:  # the loop's prefix of cache hits: done before it starts
        sure.add(name)
        reached.add(name)
        for d in dependents[name]:
            waiting[d] -= 1
    for name in plan[settled:]:
        if waiting[name] == 0:
            heapq.heappush(ready, (-prio.get(name, 0.0), index[name], name))
    while True:
        while ready and stopped is None:
            entry = heapq.heappop(ready)
            name = entry[2]
            r = results[name]
            if _takes_a_worker(r):
                heapq.heappush(runq, entry)
                continue
            if certain:
                sure.add(name)
            finish(name)
            if r.status == "failed":
                stopped = name
        while stopped is None and runq and len(running) < max(1, jobs):
            name = heapq.heappop(runq)[2]
            running.append(name)
            if certain:
                sure.add(name)
        if not running:
            break
        if len(running) > 1 and stopped is None:  # which ends first is a matter of time from now on
            certain = False
        finish(running.popleft())
    if stopped is None:
        return dict(results)
    why = f"not run: the build stops when {stopped!r} fails; {_keep_going()} keeps going"
    if certain:
        return {n: r if n in reached or _blocked(r) else AssetResult(n, "skipped", error=why) for n, r in results.items()}
    racing = [n for n, r in results.items() if r.status == "failed" and n not in sure]
    if len(racing) == 1:  # the one failure ahead: the build reaches it, whenever that is
        sure.add(racing[0])
    which = (f"the first of {', '.join(map(repr, racing[:5]))}{' and others' if len(racing) > 5 else ''}"
             if len(racing) > 1 else repr(stopped))
    timing = Reason("timing", f"only if it is reached before the build stops when {which} fails, which depends "
                              f"on how long the assets running meanwhile take; {_keep_going()} keeps going")
    return {n: r if n in sure or _blocked(r) or r.status == "cached" else _timed(r, timing) for n, r in results.items()}


def _timed(r: AssetResult, timing: Reason) -> AssetResult:
    """What -k predicts of an asset, as what a build without it may do, as timing decides: run
    it (``maybe``), restore it or fail it, or stop before it."""
    if r.status == "failed":
        return AssetResult(r.asset, "failed", key=r.key, error=r.error, reasons=(*r.reasons, timing))
    would = "maybe" if _takes_a_worker(r) else r.metadata.get("would")
    return AssetResult(r.asset, "skipped", key=r.key, reasons=(*r.reasons, timing), metadata={"would": would})


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
            out[name] = f"the build stopped after {stopped!r} failed (use {_keep_going()} to keep going)"
            continue
        out[name] = f"upstream {up!r} {(Blocked.NOT_BUILT if up in cut else blocked[up]).value}"
        cut.add(name)
    return out
