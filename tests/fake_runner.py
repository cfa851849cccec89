"""A runner for deterministic tests of the scheduler: no processes, no threads, no waiting.

Tasks run in this process, one at a time, when the scheduler waits: the earliest submitted task
that is still running finishes first. A script per asset replaces that with what real workers
do badly: ``"crash"`` (the worker dies and takes every task running beside it down),
``"hang"`` (it never finishes: only its time limit ends it), ``"interrupt"`` (Ctrl-C arrives
while the build waits for it).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from concurrent.futures import Future
from typing import Any

from assetbuild.errors import WorkerLost
from assetbuild.execute import run_task


class FakeRunner:
    """Satisfies ``assetbuild.contracts.Runner``; records what the scheduler asked of it."""

    def __init__(self, jobs: int = 1, script: dict[str, str] | None = None) -> None:
        self.jobs = jobs
        self.script = dict(script or {})
        self.running: dict[Future[Any], Any] = {}  # in submit order
        self.submitted: list[str] = []
        self.widths: list[int] = []  # how many tasks ran at each submit
        self.killed: list[str] = []
        self.crashes = 0

    def submit(self, task: Any, executor: str | None = None) -> Future[Any]:
        fut: Future[Any] = Future()
        fut.set_running_or_notify_cancel()
        self.running[fut] = task
        self.submitted.append(task.asset)
        self.widths.append(len(self.running))
        return fut

    def same_machine(self, executor: str | None) -> bool:
        return False

    def wait(self, futures: Collection[Future[Any]], timeout: float | None) -> set[Future[Any]]:
        done = {f for f in futures if f.done()}
        if done:
            return done
        for fut in [f for f in self.running if f in futures]:
            task = self.running[fut]
            what = self.script.get(task.asset, "ok")
            if what == "hang":
                continue
            if what == "interrupt":
                raise KeyboardInterrupt
            if what == "crash":
                self.crashes += 1
                lost = list(self.running)
                for f in lost:
                    del self.running[f]
                    f.set_exception(WorkerLost("its worker process died while running it",
                                               isolated=len(lost) == 1))
                return {f for f in lost if f in futures}
            del self.running[fut]
            fut.set_result(run_task(task))
            return {fut}
        if timeout is None:
            raise AssertionError("the scheduler waits forever on tasks that never finish")
        time.sleep(timeout)  # only hung tasks are left: their time limit passes
        return set()

    def kill(self, fut: Future[Any]) -> bool:
        task = self.running.pop(fut, None)
        if task is None:
            return False
        self.killed.append(task.asset)
        return True
