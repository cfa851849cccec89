"""What the scheduler sees of execution (:class:`Runner`): it picks each asset's executor (the
asset's own ``executor=``, else the build's), creates executors on first use and shuts them down,
kills the task of an asset whose time is up (only executors with ``kills = True`` can), and hides
the caller's ``__main__`` while executors with worker processes live
(``executors.workers_skip_main``).

It also holds a plugin's executor to the contract of ``assetbuild.executor``: ``submit`` returns a
future of the task's ``Outcome``, and ``shutdown`` ends quietly. A plugin's executor that breaks it
(``submit`` returns no future, the future resolves to something else or is cancelled, it fails
with an error other than ``WorkerLost``, ``shutdown`` raises) gives one line naming it: a
``PluginError`` (exit 2) for what breaks every task, the asset's failure for what befell one task
(a transport error). The built-in executors are held to it by their tests, not at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import AssetbuildError, ConfigError, PluginError, WorkerLost
from .execute import Failed, Produced, Skipped
from .executor import Task
from .executors import workers_skip_main

if TYPE_CHECKING:
    from concurrent.futures import Future

WHY_WAITING_S = 1.0  # how often a build waiting on its tasks asks executors why (why_waiting)
AUTO_SERIAL_MAX = 32  # -j auto: a plan this small, without a slow asset in its history, runs serially
SLOW_S = 1.0  # ... slow: a latest build that took this long


class Runner:
    """The scheduler's view of execution: submit an asset, get a future; shut everything down.

    ``executors`` maps names to executor classes (from the plugins). Each asset runs on its own
    ``executor=`` if it names one, else on ``default``; executors are created on first use with
    ``jobs`` workers each (the scheduler keeps at most ``jobs`` assets running in all).

    Time limits: an asset's ``timeout=``, else ``timeout`` (the build's ``--timeout``). An
    executor class that can stop a running task says ``kills = True`` and has ``kill(future)``;
    an inline one (``serial``) hands a timed task to the ``processes`` executor, so a time limit
    works with ``-j 1`` too; any other executor cannot take one (see :meth:`time_limit_problem`).
    """

    def __init__(self, executors: dict[str, Any], *, default: str, jobs: int, project_dir: str,
                 project_modules: Iterable[str] = (), options: dict[str, str] | None = None,
                 make_logger: Callable[[str], Any] | None = None, timeout: float | None = None,
                 warn: Callable[[str], Any] | None = None) -> None:
        if default not in executors:
            raise ConfigError(f"unknown executor {default!r} (known: {', '.join(sorted(executors))}; "
                              "more come from plugins)")
        opts = dict(options or {})
        accepted = getattr(executors[default], "options", {}) or {}
        unknown = sorted(set(opts) - set(accepted))
        if unknown:
            known = ", ".join(sorted(accepted)) or "none"
            raise ConfigError(f"executor {default!r} has no option {unknown[0]!r} (its options: {known})")
        self.classes = executors
        self.default = default
        self.jobs = jobs
        self.project_dir = project_dir
        self.project_modules = frozenset(project_modules)
        self.options = opts
        self.make_logger = make_logger
        self.timeout = timeout
        self.warn = warn  # the build's warnings: what an executor says of tasks that wait (wait)
        self.spool_dir: str | None = None  # the store's: executors on this machine return large outputs there
        self.auto = False  # -j auto (not a number): the build may run a small plan serially instead
        self._live: dict[str, Any] = {}
        self._main_hidden: Any = None  # workers_skip_main() while an executor with worker processes lives

    def _timed_executor(self, name: str | None) -> str | None:
        """The executor that runs a timed task meant for ``name``; None if none can."""
        name = name or self.default
        cls = self.classes[name]
        if getattr(cls, "kills", False):
            return name
        if getattr(cls, "inline", False) and getattr(self.classes.get("processes"), "kills", False):
            return "processes"
        return None

    def time_limit_problem(self, executor: str | None) -> str | None:
        """Why assets on ``executor`` (None: the default) cannot have a time limit, or None."""
        if self._timed_executor(executor) is not None:
            return None
        name = executor or self.default
        return f"the {name!r} executor cannot stop a running asset"

    def limit_of(self, adef: Any) -> float | None:
        """The time limit of an asset: its own ``timeout=``, else the build's where its executor
        can enforce it."""
        own: float | None = getattr(adef, "timeout", None)
        if own is not None:
            return own
        if self.timeout is not None and self._timed_executor(adef.executor) is not None:
            return self.timeout
        return None

    def executor(self, name: str | None) -> Any:
        name = name or self.default
        ex = self._live.get(name)
        if ex is None:
            cls = self.classes[name]
            options = self.options if name == self.default else {}
            self._hide_main(cls)
            try:
                ex = cls(jobs=self.jobs, project_dir=self.project_dir, project_modules=self.project_modules,
                         options=options)
            except AssetbuildError:
                raise
            except Exception as e:  # noqa: BLE001 - a plugin's executor: one line naming it, not one per asset
                given = ", ".join(f"{k}={v}" for k, v in sorted(options.items()))
                raise PluginError(f"the executor {name!r} could not start"
                                  + (f" with options {given}" if given else "") + f": {type(e).__name__}: {e}") from e
            if self.spool_dir is not None and hasattr(ex, "spool_dir"):
                ex.spool_dir = self.spool_dir
            self._live[name] = ex
        return ex

    def prepare(self, plan: Sequence[str], last_duration: Callable[[str], float | None], *,
                warm: bool = True) -> None:
        """Before the build decides: with ``-j auto``, a small plan whose assets never took long
        (``last_duration``: an asset's latest build's, None if never built) runs serially, as
        worker start-up would cost more than it saves (a dry run too: it replays the build's
        order). Otherwise, when the plan's first asset was never built (a first build: most of
        it will run) and ``warm``, what process workers are forked from starts now, in the
        background; a build that may be all cache hits (a null build) does not pay for workers
        it would not use."""
        if self.default != "processes" or not plan:
            return
        if self.auto and len(plan) <= AUTO_SERIAL_MAX and not any(
                (last_duration(n) or 0.0) >= SLOW_S for n in plan):
            self.default, self.jobs = "serial", 1
            return
        if warm and last_duration(plan[0]) is None:
            self.warm()

    def warm(self) -> None:
        """Let the default executor start its workers' machinery now (``warm``, if it has one)."""
        ex = self.executor(None)
        warm = getattr(ex, "warm", None)
        if warm is not None:
            warm()

    def submit(self, task: Task, executor: str | None = None) -> Future[Any]:
        if getattr(task, "timeout", None) is not None:
            executor = self._timed_executor(executor) or executor
        ex = self.executor(executor)
        # an inline executor runs the task here: its log and output lines can be shown as they come
        log = self.make_logger(task.asset) if ex.inline and self.make_logger else None
        fut: Future[Any] = ex.submit(task, log)
        cls = type(ex)
        if cls.__module__.startswith("assetbuild."):  # a built-in: its tests hold it to the contract
            return fut
        who = executor_named(executor or self.default, cls)
        if not (callable(getattr(fut, "add_done_callback", None)) and callable(getattr(fut, "done", None))):
            raise PluginError(f"{who} returned {fut!r:.100} from submit, not a future of the task's outcome "
                              "(a concurrent.futures.Future)")
        return _checked(fut, who, task.asset)

    def _hide_main(self, cls: Any) -> None:
        """:func:`workers_skip_main` from the creation of the first executor whose tasks do not
        run in this process (not ``inline``, not ``in_process``) to the end of :meth:`shutdown`:
        such an executor may start a worker process at any moment of its life, not only when
        created or submitted to (a dask Nanny replaces a worker that died, from its own thread).
        The stand-in reads through to the real ``__main__``, so assets running in this process
        meanwhile see no difference."""
        if self._main_hidden is None and not (getattr(cls, "inline", False) or getattr(cls, "in_process", False)):
            self._main_hidden = workers_skip_main()
            self._main_hidden.__enter__()

    def same_machine(self, executor: str | None) -> bool:
        """Do assets on ``executor`` run on this machine (class attribute ``same_machine``), so
        that a large input can be passed as the store's file instead of its bytes?"""
        cls = self.classes[executor or self.default]
        return bool(getattr(cls, "same_machine", False))

    def wait(self, futures: Collection[Future[Any]], timeout: float | None) -> set[Future[Any]]:
        """Block until one of ``futures`` is done or ``timeout`` passes; the done ones (an
        ``Ended`` one is done: concurrent.futures cannot wait on it, and need not). Meanwhile,
        about once a second, each live executor with a ``why_waiting()`` may say why its tasks
        wait (a cluster without workers): that line is a warning of the build (``warn``)."""
        done = {f for f in futures if f.done()}
        if done:
            return done
        import time
        from concurrent.futures import FIRST_COMPLETED, wait

        asked = [w for w in (getattr(ex, "why_waiting", None) for ex in self._live.values()) if callable(w)]
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if end is None else max(0.0, end - time.monotonic())
            step = left if not asked else WHY_WAITING_S if left is None else min(left, WHY_WAITING_S)
            done = wait(futures, timeout=step, return_when=FIRST_COMPLETED).done
            if done or step == left:
                return done
            for why_waiting in asked:
                said = why_waiting()
                if said and self.warn is not None:
                    self.warn(said)

    def kill(self, fut: Future[Any]) -> bool:
        """Stop the running task behind ``fut`` (its time is up); False if no executor could."""
        fut = getattr(fut, "executor_future", fut)  # (a plugin's, as _checked wraps it)
        for ex in list(self._live.values()):
            kill = getattr(ex, "kill", None)
            if kill is not None and kill(fut):
                return True
        return False

    def shutdown(self, cancel: bool = False) -> None:
        """End every executor; ``cancel``: now, killing running work (Ctrl-C, an error)."""
        live, self._live = self._live, {}
        failed: list[str] = []
        try:
            for name, ex in live.items():
                try:
                    ex.shutdown(cancel=cancel)
                except Exception as e:  # noqa: BLE001 - shutting down after an error must not hide it
                    if not cancel:  # (the others are shut down all the same)
                        failed.append(f"{executor_named(name, type(ex))} could not shut down: {type(e).__name__}: {e}")
            if failed:
                raise PluginError("; ".join(failed))
        finally:
            hidden, self._main_hidden = self._main_hidden, None
            if hidden is not None:
                hidden.__exit__(None, None, None)


def executor_named(name: str, cls: Any) -> str:
    """``the executor 'NAME' (module.Class)``: which plugin's class a message is about."""
    return f"the executor {name!r} ({getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)!s})"


def _checked(fut: Any, who: str, asset: str) -> Future[Any]:
    """A future of ``fut``'s outcome, as the scheduler can rely on: a ``WorkerLost`` passes as it
    is; another error, or a cancellation the build did not ask for, fails the asset with a line
    saying so; a result that is no ``Outcome`` (a multi-asset's is a ``MultiProduced``) is a
    ``PluginError``. (A future the executor cancels itself never wakes ``concurrent.futures.wait``:
    this one always does.)"""
    from concurrent.futures import Future

    from .multirun import MultiProduced

    out: Future[Any] = Future()

    def check(f: Any) -> None:
        try:
            if f.cancelled():
                out.set_result(Failed(f"{who} cancelled it"))
                return
            exc = f.exception()
            if isinstance(exc, WorkerLost):
                out.set_exception(exc)
            elif exc is not None:
                out.set_result(Failed(f"{who} failed it: {type(exc).__name__}: {exc}"))
            else:
                value = f.result()
                if isinstance(value, (Produced, Failed, Skipped, MultiProduced)):
                    out.set_result(value)
                else:
                    out.set_exception(PluginError(f"{who} resolved the future of {asset!r} to {value!r:.200}, "
                                                  "not the outcome of its task (submit must return "
                                                  "a future of what task.run() or run_serialized() returns)"))
        except BaseException as e:  # noqa: BLE001 - whatever it did, the build must see an end
            if not out.done():
                out.set_result(Failed(f"{who} failed it: {type(e).__name__}: {e}"))

    out.executor_future = fut  # type: ignore[attr-defined]  # what the executor's kill() knows
    fut.add_done_callback(check)
    return out


__all__ = ["Runner", "executor_named"]
