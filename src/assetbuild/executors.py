"""Where asset functions run: ``serial`` (this thread), ``threads`` and ``processes``.

Each implements the public contract of ``assetbuild.executor`` (``Executor``), the one plugins
implement: it takes a ``Task`` and returns a ``concurrent.futures.Future`` of its ``Outcome``; a
future that raises ``WorkerLost`` says the process running the task died. Executors are
contributed by plugins (``register_executors``; these three by ``assetbuild.builtin.executors``).

Process workers are started with ``forkserver`` (``spawn`` where there is none), never
``fork``: a forked child would inherit the build's open LMDB environment. They live for one
build, so a build after a code change (watch mode) never runs a worker that imported an older
version of a project module; project modules are imported in the worker from their source,
never from a ``.pyc``.

:class:`Runner` is what the scheduler sees: it picks each asset's executor (the asset's own
``executor=``, else the build's), creates executors on first use and shuts them down; it kills
the task of an asset whose time is up (only executors with ``kills = True`` can); it hides the
caller's ``__main__`` while executors may start worker processes (:func:`workers_skip_main`).

Workers never outlive the build, even one killed with SIGKILL (:func:`exit_with_parent`).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from .errors import AssetbuildError, ConfigError, PluginError, WorkerLost
from .executor import Ended, Outcome, Task, run_serialized
from .interrupts import interrupts_held

if TYPE_CHECKING:
    from concurrent.futures import Future

AUTO_SERIAL_MAX = 32  # -j auto: a plan this small, without a slow asset in its history, runs serially
SLOW_S = 1.0  # ... slow: a latest build that took this long


# The most assets at once: 2**22, Linux's most process ids (PID_MAX_LIMIT), so more workers than
# any one machine can hold. Without a bound, a -j past a C int passed the check and failed the
# first asset sent to a worker pool (its queue's semaphore), recorded as that asset's failure.
# (``entry._jobs_valid`` restates it: the entry point does not import this module.)
MAX_JOBS = 4_194_304
JOBS_TAKEN = f"a whole number of assets at once (1 to {MAX_JOBS}) or 'auto'"


def parse_jobs(value: str | int | None, where: str = "jobs") -> int:
    """``-j`` as a number of workers: a whole number from 1 to ``MAX_JOBS``, or ``auto`` = the
    CPUs this process may use. Anything else (0, a fraction, ``True``, 10**20) is one
    ``ConfigError`` saying what is allowed; ``where`` names the setting as its user wrote it."""
    if value is None:
        return 1
    if isinstance(value, str) and value.strip().lower() == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # no affinity masks here (macOS)
            return os.cpu_count() or 1
    n = 0
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().isdecimal():
        n = int(value)
    if not 1 <= n <= MAX_JOBS:
        raise ConfigError(f"{where} must be {JOBS_TAKEN}, got {value!r}")
    return n


class SerialExecutor:
    """Runs each asset in the build's own thread, when it is submitted: the debugging default
    (a breakpoint in an asset works; ``context.log`` lines and what it prints appear as they
    are written; other executors show them when the asset ends)."""

    name = "serial"
    description = "in the build's own process and thread, one at a time (default for -j 1)"
    options: dict[str, str] = {}
    inline = True
    kills = False  # an asset with a time limit runs in a worker process instead (see Runner)
    same_machine = True  # reads large inputs from the store's files (Runner.same_machine)
    in_process = True

    def __init__(self, **_: Any) -> None:
        pass

    def submit(self, task: Task, log: Any = None) -> Future[Outcome]:
        return Ended(lambda: task.run(log))  # type: ignore[return-value]  # a Future's ended subset

    def shutdown(self, cancel: bool = False) -> None:
        pass


class ThreadExecutor:
    """Runs assets in ``jobs`` threads of the build's process: for assets that wait on I/O
    (the GIL lets only one of them compute at a time). Daemon threads, so Ctrl-C never waits
    for a running asset to return."""

    name = "threads"
    description = "in threads of the build's process (I/O-bound assets)"
    options: dict[str, str] = {}
    inline = False
    kills = False  # a thread cannot be stopped from outside: timeouts are refused
    same_machine = True
    in_process = True  # the host need not hide __main__ from its workers (they are threads)

    def __init__(self, *, jobs: int = 1, **_: Any) -> None:
        self.jobs = jobs
        self._queue: queue.SimpleQueue[tuple[Future, Task] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, task = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(task.run())
            except BaseException as e:  # noqa: BLE001
                fut.set_exception(e)

    def submit(self, task: Task, log: Any = None) -> Future[Outcome]:
        if len(self._threads) < self.jobs:
            t = threading.Thread(target=self._work, name=f"assetbuild-{len(self._threads)}", daemon=True)
            t.start()
            self._threads.append(t)
        from concurrent.futures import Future

        fut: Future = Future()
        self._queue.put((fut, task))
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        for _ in self._threads:
            self._queue.put(None)
        if not cancel:
            for t in self._threads:
                t.join()
        self._threads = []


ORPHAN_POLL_S = 0.5  # how often a worker checks that its parent is alive (where prctl cannot tell it)


def exit_with_parent() -> None:
    """End this process as soon as its parent dies, even if the parent was SIGKILLed.

    Linux: the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``), which works
    even while an asset holds the GIL in C code. Everywhere: a daemon thread polls
    ``os.getppid()``, which changes when the process is re-parented.

    A forkserver worker's parent is the forkserver, which exits when every copy of the write
    end of its "alive" pipe is closed: the build holds one, and multiprocessing gives every
    worker one too, so workers and server would keep each other alive after the build died.
    The worker closes its copy here (it starts no processes of its own through that server);
    then a killed build takes the server with it, the server its workers, and once they are
    all gone the resource tracker reads EOF on its pipe and exits too."""
    import signal

    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver  # type: ignore[attr-defined]
        alive = server._forkserver_alive_fd
    except (ImportError, AttributeError):
        alive = None
    if alive is not None:
        try:
            os.close(alive)
        except OSError:
            pass
        server._forkserver_alive_fd = None
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no libc to call: the thread below still works
            pass
    if os.getppid() != parent:  # the parent died before the call above
        os._exit(1)

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(ORPHAN_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="assetbuild-orphan-watch", daemon=True).start()


def _worker_init(project_dir: str, environ: dict[str, str], cwd: str) -> None:
    """In a new worker: exit with its parent, ignore Ctrl-C (the build ends its workers itself),
    take the build's environment and working directory, and import the project's modules from
    their source, like the build does.

    A forkserver worker is forked from a server started by the first process build of this
    Python process, so without this it would see that moment's ``os.environ`` and cwd, not
    the current build's (an embedding program or a test that changed them later)."""
    import signal
    from pathlib import Path

    exit_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from . import resources

    resources.TERM_TEARDOWN = True  # a cancelled build's SIGTERM tears down this worker's resources too
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    try:
        os.chdir(cwd)
    except OSError:  # the build's cwd is gone: the project's paths are absolute anyway
        pass
    from .loader import ProjectImports

    ProjectImports(Path(project_dir)).__enter__()


def start_method() -> str:
    """``forkserver`` where the platform has it, else ``spawn``; never ``fork`` (LMDB)."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class _MainStandIn(types.ModuleType):
    """``sys.modules["__main__"]`` while worker processes may start: it names no script or
    module (no ``__file__``, ``__spec__`` None), so multiprocessing runs nothing again in a new
    worker; every other name reads through to the real one, so code that runs in this process
    meanwhile (an asset on the ``serial`` executor, pickle's lookup of ``__main__.X``) sees
    no difference."""

    def __init__(self, real: types.ModuleType | None) -> None:
        super().__init__("__main__")
        self.__dict__["_assetbuild_real_main"] = real

    def __getattr__(self, name: str) -> Any:
        real = self.__dict__["_assetbuild_real_main"]
        if real is None or name in ("__file__", "__path__", "__cached__"):  # what spawn would run
            raise AttributeError(name)
        return getattr(real, name)


@contextmanager
def workers_skip_main() -> Iterator[None]:
    """Hide the parent's ``__main__`` from multiprocessing: a worker would otherwise run the
    user's script again (a script that calls ``assetbuild.build(jobs=2)`` without an ``if
    __name__ == "__main__":`` guard would start builds forever; the ``assetbuild`` command
    itself, before it had one, ran the whole command again in the worker). Tasks never need it:
    cloudpickle ships functions of ``__main__`` by value. The host's job (the :class:`Runner`
    hides it for the whole life of every executor whose workers are processes: a dask Nanny
    starts a new worker whenever one dies), never an executor's."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = _MainStandIn(main)
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
        else:
            sys.modules.pop("__main__", None)


class ProcessExecutor:
    """Runs assets in ``jobs`` worker processes (CPU-bound assets): tasks and outputs travel as
    cloudpickle bytes, except large outputs, which a worker writes to a file in ``spool_dir``
    (the store renames it into place). A worker that dies breaks the pool: its tasks fail with
    ``WorkerLost`` and the next submit starts a new pool."""

    name = "processes"
    description = "in worker processes (CPU-bound assets; default for -j N > 1)"
    options: dict[str, str] = {}
    inline = False
    kills = True
    same_machine = True

    def __init__(self, *, jobs: int = 1, project_dir: str = ".", **_: Any) -> None:
        import multiprocessing

        self.jobs = jobs
        self.project_dir = project_dir
        method = start_method()
        self._ctx = multiprocessing.get_context(method)
        if method == "forkserver":  # imported once in the server, not in every worker
            self._ctx.set_forkserver_preload(["assetbuild.executor", "assetbuild.loader", "cloudpickle"])
        self._pool: Any = None
        self._broken: set[int] = set()  # ids of pools a dead worker broke
        self._killed: set[int] = set()  # ids of pools this executor killed (a timeout)
        self._pool_of: dict[Future, Any] = {}  # running task -> its pool
        self.spool_dir: str | None = None  # set by the Runner: large outputs come back as files there
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Start what workers are forked from now, while the build decides what to run: the
        forkserver and its imports take a few tenths of a second, paid at the first task otherwise.
        Its host hides ``__main__`` meanwhile (the server would import a script's main module)."""
        if self._ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def _new_pool(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=self._ctx,
                                   initializer=_worker_init,
                                   initargs=(self.project_dir, dict(os.environ), os.getcwd()))

    def _current_pool(self) -> Any:
        with self._lock:
            broken = self._pool is not None and id(self._pool) in self._broken
        if broken:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._pool is None:
            self._pool = self._new_pool()
        return self._pool

    def submit(self, task: Task, log: Any = None) -> Future[Outcome]:
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        payload = task.to_bytes()
        outer: Future[Outcome] = Future()
        starts = self._pool is None or len(getattr(self._pool, "_processes", None) or ()) < self.jobs
        with interrupts_held() if starts else nullcontext():  # a worker is started whole, or not at all
            try:  # workers start here, on this thread (the Runner hides __main__ meanwhile)
                inner = self._current_pool().submit(run_serialized, payload, self.spool_dir)
            except BrokenProcessPool:
                with self._lock:
                    self._broken.add(id(self._pool))
                inner = self._current_pool().submit(run_serialized, payload, self.spool_dir)
        pool = self._pool
        pool_id = id(pool)
        with self._lock:
            self._pool_of[outer] = pool

        def transfer(f: Future) -> None:
            with self._lock:
                self._pool_of.pop(outer, None)
            if f.cancelled():
                outer.cancel()
                return
            exc = f.exception()
            if isinstance(exc, BrokenProcessPool):
                with self._lock:
                    self._broken.add(pool_id)
                    killed = pool_id in self._killed
                if killed:  # not this task's doing: the build killed the pool to stop another task
                    lost = WorkerLost("its worker process was stopped to end another asset that ran out of time")
                    lost.stopped_by_build = True  # type: ignore[attr-defined]
                    outer.set_exception(lost)
                    return
                outer.set_exception(WorkerLost("its worker process died while running it (a crash, "
                                               "os._exit or the out-of-memory killer)"))
            elif exc is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(f.result())

        inner.add_done_callback(transfer)
        return outer

    def kill(self, fut: Future[Outcome]) -> bool:
        """Stop the task behind ``fut`` now, by killing its worker (SIGKILL: a worker cannot
        ignore it). A process pool cannot lose one worker and go on, so every worker of that pool
        goes; the other tasks it was running fail with a ``WorkerLost`` marked
        ``stopped_by_build`` (to be run again) and the next submit starts a new pool."""
        with self._lock:
            pool = self._pool_of.get(fut)
            if pool is None:
                return False
            self._killed.add(id(pool))
            self._broken.add(id(pool))
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            try:
                p.kill()
            except (OSError, ValueError, AttributeError):  # already gone
                pass
        for p in procs:
            try:
                p.join(5)
            except (OSError, ValueError, AssertionError):
                pass
        return True

    def shutdown(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not cancel:
            pool.shutdown(wait=True)
            return
        terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        # The pool's manager thread closes its wake-up pipe as it ends. Python 3.11-3.13 write to
        # that pipe at interpreter exit without a lock, so an exit racing the close printed an
        # "OSError: Bad file descriptor" traceback after a clean Ctrl-C: wait for the thread
        # here (taken first: shutdown() forgets it).
        manager = getattr(pool, "_executor_manager_thread", None)
        for p in procs:
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.join(5)
        if manager is not None:
            manager.join(5)


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
                 make_logger: Callable[[str], Any] | None = None, timeout: float | None = None) -> None:
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
        own = getattr(adef, "timeout", None)
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

    def prepare(self, plan: Sequence[str], last_duration: Callable[[str], float | None]) -> None:
        """Before the build decides: with ``-j auto``, a small plan whose assets never took long
        (``last_duration``: an asset's latest build's, None if never built) runs serially, as
        worker start-up would cost more than it saves. Otherwise, when the plan's first asset was
        never built (a first build: most of it will run), what process workers are forked from
        starts now, in the background; a build that may be all cache hits (a null build) does
        not pay for workers it would not use."""
        if self.default != "processes" or not plan:
            return
        if self.auto and len(plan) <= AUTO_SERIAL_MAX and not any(
                (last_duration(n) or 0.0) >= SLOW_S for n in plan):
            self.default, self.jobs = "serial", 1
            return
        if last_duration(plan[0]) is None:
            self.warm()

    def warm(self) -> None:
        """Let the default executor start its workers' machinery now (``warm``, if it has one)."""
        ex = self.executor(None)
        warm = getattr(ex, "warm", None)
        if warm is not None:
            warm()

    def submit(self, task: Task, executor: str | None = None) -> Future:
        if getattr(task, "timeout", None) is not None:
            executor = self._timed_executor(executor) or executor
        ex = self.executor(executor)
        # an inline executor runs the task here: its log and output lines can be shown as they come
        log = self.make_logger(task.asset) if ex.inline and self.make_logger else None
        return ex.submit(task, log)

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

    @staticmethod
    def wait(futures: Collection[Future], timeout: float | None) -> set[Future]:
        """Block until one of ``futures`` is done or ``timeout`` passes; the done ones (an
        ``Ended`` one is done: concurrent.futures cannot wait on it, and need not)."""
        done = {f for f in futures if f.done()}
        if done:
            return done
        from concurrent.futures import FIRST_COMPLETED, wait

        return wait(futures, timeout=timeout, return_when=FIRST_COMPLETED).done

    def kill(self, fut: Future) -> bool:
        """Stop the running task behind ``fut`` (its time is up); False if no executor could."""
        for ex in list(self._live.values()):
            kill = getattr(ex, "kill", None)
            if kill is not None and kill(fut):
                return True
        return False

    def shutdown(self, cancel: bool = False) -> None:
        """End every executor; ``cancel``: now, killing running work (Ctrl-C, an error)."""
        live, self._live = self._live, {}
        try:
            for ex in live.values():
                try:
                    ex.shutdown(cancel=cancel)
                except Exception:  # noqa: BLE001 - shutting down after an error must not hide it
                    if not cancel:
                        raise
        finally:
            hidden, self._main_hidden = self._main_hidden, None
            if hidden is not None:
                hidden.__exit__(None, None, None)


__all__ = ["MAX_JOBS", "SerialExecutor", "ThreadExecutor", "ProcessExecutor", "Runner", "parse_jobs", "start_method"]
