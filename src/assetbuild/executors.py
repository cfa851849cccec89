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

:func:`workers_skip_main` hides the caller's ``__main__`` from worker processes while they may
start (``assetbuild.runner.Runner``, what the scheduler sees, applies it).

Workers never outlive the build, even one killed with SIGKILL (:func:`exit_with_parent`).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, WorkerLost, describe_exception
from .execute import Failed
from .executor import Ended, Outcome, Task, run_serialized
from .interrupts import interrupts_held
from .usercode import BUILD_LOCKS

if TYPE_CHECKING:
    from concurrent.futures import Future

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


def _worker_init(project_dir: str, environ: dict[str, str], cwd: str,
                 build_locks: frozenset[tuple[int, int]] = frozenset()) -> None:
    """In a new worker: exit with its parent, ignore Ctrl-C (the build ends its workers itself),
    take the build's environment and working directory, and import the project's modules from
    their source, like the build does.

    A forkserver worker is forked from a server started by the first process build of this
    Python process, so without this it would see that moment's ``os.environ`` and cwd, not
    the current build's (an embedding program or a test that changed them later).
    ``build_locks``: the build lock files the build holds (``usercode.BUILD_LOCKS``)."""
    import signal
    from pathlib import Path

    exit_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked while it started (_sigint_blocked): ignored from now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
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

    BUILD_LOCKS.update(build_locks)  # an asset here calling the API on its own project: refused, not a hang
    ProjectImports(Path(project_dir)).__enter__()


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread (POSIX) while worker processes (and the forkserver) start:
    they inherit the mask, so a Ctrl-C in the terminal, which signals the whole process group,
    cannot reach them before they ignore it. The forkserver took a few tenths of a second to
    import its modules, and a Ctrl-C then printed its KeyboardInterrupt traceback (or "Fatal
    Python error: init_import_site") after the build's own line. The server ignores SIGINT once
    it runs, and each worker in ``_worker_init``, which unblocks it (as the dask plugin does for
    its workers; a held Ctrl-C reaches the build when the block ends)."""
    import signal

    block = getattr(signal, "pthread_sigmask", None)  # none on Windows (nor process groups)
    if block is None:
        yield
        return
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # it unblocks SIGINT in this thread after starting itself: first
    old = block(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        block(signal.SIG_SETMASK, old)


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

            with interrupts_held(), _sigint_blocked():  # (see _sigint_blocked)
                forkserver.ensure_running()

    def _new_pool(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=self._ctx,
                                   initializer=_worker_init,
                                   initargs=(self.project_dir, dict(os.environ), os.getcwd(),
                                             frozenset(BUILD_LOCKS)))

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
        with (interrupts_held() if starts else nullcontext()), (_sigint_blocked() if starts else nullcontext()):
            # a worker is started whole, or not at all, and what starts never sees a Ctrl-C
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
            elif exc is not None:  # its outcome did not travel back (it did not pickle): its failure, not the build's
                outer.set_result(Failed(f"its result could not be sent back from its worker: {describe_exception(exc)}"))
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
        _unblock_results(getattr(pool, "_result_queue", None))
        return True

    def shutdown(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        # The pool's manager thread closes its wake-up pipe as it ends. Python 3.11-3.13 write to
        # that pipe at interpreter exit without a lock, so an exit racing the close printed an
        # "OSError: Bad file descriptor" traceback after a clean Ctrl-C: _end_pool waits for the thread
        # (taken first: shutdown() forgets it).
        manager = getattr(pool, "_executor_manager_thread", None)
        if not cancel:
            try:  # waits for the workers' resource teardowns, which may hang: Ctrl-C must still end them
                pool.shutdown(wait=True)
                return
            except BaseException:
                _end_pool(pool, procs, manager)
                raise
        _end_pool(pool, procs, manager)


SHUTDOWN_GRACE_S = 2.0  # how long a cancelled build's workers have to end on SIGTERM (their resources' teardown)


def _end_pool(pool: Any, procs: list[Any], manager: Any) -> None:
    """End ``pool``'s workers ``procs`` now: SIGTERM (their resources are torn down), SIGKILL
    after ``SHUTDOWN_GRACE_S``; then wait for its ``manager`` thread."""
    results = getattr(pool, "_result_queue", None)  # (taken first: the pool's shutdown forgets it)
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+: SIGTERM, and the pool shut down
    if terminate is not None:
        terminate()
    else:
        for p in procs:
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
    _end_processes(procs, SHUTDOWN_GRACE_S)
    _unblock_results(results)
    if manager is not None:
        manager.join(5)


def _unblock_results(results: Any) -> None:
    """Close the build's copy of the write end of a pool's result pipe (``results``, its
    result queue), once its workers are dead. A worker killed while it sent a large result (a
    multi-asset's outs travel whole) left the pool's manager thread waiting for the rest of that
    message; with this end open too, it never got end-of-file, and the interpreter's exit, which
    joins that thread, hung the stopped build forever. Nothing in the build writes there."""
    writer = getattr(results, "_writer", None)
    try:
        if writer is not None:
            writer.close()
    except OSError:
        pass


def _end_processes(procs: list[Any], grace: float) -> None:
    """Wait up to ``grace`` seconds in all for ``procs``, sent SIGTERM, to exit, then SIGKILL
    those still running: a worker that ignores SIGTERM (a library's own handler), or whose
    Python-level handler waits for a long C call to return, kept the interrupted build alive
    (the interpreter's exit joins the pool's threads, which wait for every worker)."""
    import time

    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.join(max(0.0, deadline - time.monotonic()))
        except (OSError, ValueError, AssertionError):
            pass
    for p in procs:
        try:
            if p.exitcode is None:
                p.kill()
            p.join(5)
        except (OSError, ValueError, AssertionError, AttributeError):  # already gone
            pass


__all__ = ["MAX_JOBS", "SerialExecutor", "ThreadExecutor", "ProcessExecutor", "parse_jobs", "start_method",
           "workers_skip_main"]
