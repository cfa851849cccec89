"""assetbuild executor ``dask``: run asset functions on a dask.distributed cluster.

``assetbuild -j 4 --executor dask`` starts a LocalCluster (worker processes on loopback, one
thread each, ``-j`` of them) for the build; ``--dask-scheduler tcp://HOST:8786`` (or
``DASK_SCHEDULER_ADDRESS``, or ``--executor-option scheduler=...``) uses a running cluster
instead. Only the asset functions run there: each task is pickled here with its inputs as the
stored bytes, and the output comes back as bytes with its digest, exactly as a local build
makes them. The trace store never leaves the machine that runs ``assetbuild``.

Workers of a running cluster outlive builds and may not see the project, so the AssetFile's
functions and the project's own modules are pickled by value (cloudpickle's
``register_pickle_by_value``): a code change reaches the workers with the next build. Each
task runs as part of its build's ``WorkerVisit`` (``run_serialized``): on each worker process,
one build at a time imports the project's modules afresh (their digests checked by the build),
runs in the project directory and with the environment variables its assets declare.

Resources (``@resource``) are made on a worker the first time one of its tasks needs them in a
build (as parameters, or through an IO manager), once per worker process, and torn down on
every worker when the build ends (``release_resources`` of the build's own scopes through
``client.run``), on a running cluster too, where other builds keep theirs. A worker that dies,
or a build killed before its end, takes its resources with it without their teardown; so does
a lost scheduler (the build does not wait on it to reach the workers).

A worker that dies while running a task (segfault, ``os._exit``, the out-of-memory killer) is
dask's to handle: the scheduler reruns the task elsewhere, and after
``distributed.scheduler.allowed-failures`` deaths (default 3) gives up with ``KilledWorker``;
that asset then fails with a clear message and nothing is recorded for it. A cluster without
a worker keeps the tasks until one joins: the build says so after a few seconds
(``why_waiting``), and the scheduler's ``distributed.scheduler.no-workers-timeout`` fails them
with a clear message. A scheduler lost mid-build (the cluster stopped, the network failed)
fails every asset running or sent after on it the same way: dask cancels their futures, which
would otherwise never end. A Ctrl-C ends the build with assetbuild's one line: a LocalCluster's
worker processes never see it (``_cluster_start``).

It uses only assetbuild's public plugin API: ``assetbuild`` (``hookimpl``, the errors),
``assetbuild.hookspecs`` (``ExecutorFlag``) and ``assetbuild.executor`` (``Task.to_bytes``,
``run_serialized``, ``WorkerVisit``). assetbuild hides the caller's ``__main__`` for the executor's whole life, so a
worker the LocalCluster's Nanny starts (at first, or in place of one that died) never runs a
script without a main guard again.

Importing this module is cheap, as every plugin's must be (assetbuild imports it on every run,
``--help`` included): distributed (about a second), logging and concurrent.futures are imported
when a build first uses the executor.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from assetbuild import hookimpl
from assetbuild.hookspecs import ExecutorFlag

if TYPE_CHECKING:
    from concurrent.futures import Future

    from assetbuild.executor import Outcome, Task

ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
NO_WORKERS_S = 5.0  # tasks out this long, and no worker in the cluster: the build says it waits


class DaskExecutor:
    """Submits asset runs to a dask.distributed cluster (an existing one, or a LocalCluster)."""

    name = "dask"
    description = "on a dask.distributed cluster (--dask-scheduler ADDRESS, else a local cluster)"
    inline = False
    options = {"scheduler": f"address of a running scheduler, e.g. tcp://HOST:8786 (default: ${ADDRESS_ENV}, "
                            "else a LocalCluster of -j worker processes on loopback)"}

    def __init__(self, *, jobs: int = 1, project_dir: str = ".", project_modules: Any = (),
                 options: dict[str, str] | None = None) -> None:
        import logging

        from distributed import Client, LocalCluster

        from assetbuild import ConfigError
        from assetbuild.executor import WorkerVisit

        self.project_modules = frozenset(project_modules)
        self.visit = WorkerVisit(project_dir)  # this build, as each worker process sees it (run_serialized)
        given = (options or {}).get("scheduler")
        self.address = given or os.environ.get(ADDRESS_ENV) or None
        if self.address:
            _check_address(self.address, "" if given else f" (${ADDRESS_ENV})")
        self.cluster = None
        self._futures: set[Any] = set()  # dask cancels a task whose future is garbage-collected
        self._scopes: set[str] = set()  # the build's resource scopes: released on the workers at the end
        self._no_workers: tuple[float, bool] | None = None  # since when the cluster has had none; said so?
        self._quiet = _quiet_logs()
        try:
            if self.address:
                client = Client.__new__(Client)  # (made apart from its start: see _abandon)
                try:
                    client.__init__(self.address, timeout="10s", set_as_default=False)  # type: ignore[misc]
                except (OSError, TimeoutError) as e:
                    _abandon(client)
                    raise ConfigError(f"cannot reach the dask scheduler at {self.address}: {e}") from None
                except BaseException:  # a Ctrl-C or SIGTERM while it connects
                    _abandon(client)
                    raise
                self.client = client
            else:
                with _cluster_start():  # whole, with workers that never see a Ctrl-C
                    self.cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                                silence_logs=logging.CRITICAL)
                self.client = Client(self.cluster, set_as_default=False)
        except BaseException:  # a Ctrl-C too: what started is closed (quietly) before it is said
            try:
                if self.cluster is not None:
                    self.cluster.close()
            finally:
                self._quiet.close()
            raise

    def submit(self, task: Task, log: Any = None) -> Future[Outcome]:
        import uuid
        from concurrent.futures import Future

        from assetbuild.executor import run_serialized

        payload = task.to_bytes(by_value=self.project_modules)
        scope = getattr(task, "resource_scope", None)  # (resource parameters, or an IO manager's resources)
        if scope is not None:
            self._scopes.add(scope.id)
        outer: Future[Outcome] = Future()
        if self.client.status != "running":  # the scheduler is gone: dask would keep the task forever
            outer.set_exception(self._lost(task.asset))
            return outer
        key = f"assetbuild-{task.asset.replace('/', '.')}-{uuid.uuid4().hex[:12]}"
        dfut = self.client.submit(run_serialized, payload, None, self.visit, pure=False, key=key)
        self._futures.add(dfut)
        asset = task.asset

        def transfer(f: Any) -> None:
            self._futures.discard(f)
            try:
                if f.status == "finished":
                    outer.set_result(f.result())
                elif f.status == "cancelled":  # the connection to the scheduler was lost, or shutdown
                    outer.set_exception(self._lost(asset))
                else:
                    outer.set_exception(_translate(asset, f.exception()))
            except BaseException as e:  # noqa: BLE001 - the build must see every outcome
                if not outer.done():
                    outer.set_exception(_translate(asset, e))

        dfut.add_done_callback(transfer)
        return outer

    def why_waiting(self) -> str | None:
        """Asked while the build waits on its tasks: once they have waited ``NO_WORKERS_S`` in a
        cluster without a worker (none joined yet, or the last one died), one line saying so
        (again if workers come and go). dask keeps such tasks until a worker joins, or for the
        scheduler's ``distributed.scheduler.no-workers-timeout``, when they fail."""
        import time

        if not self._futures or self.client.status != "running":
            return None
        try:
            workers = self.client.scheduler_info(n_workers=0).get("n_workers", 1)
        except Exception:  # noqa: BLE001 - the scheduler did not answer: its loss is said elsewhere
            return None
        now = time.monotonic()
        if workers:
            self._no_workers = None
            return None
        since, said = self._no_workers or (now, False)
        self._no_workers = (since, said or now - since >= NO_WORKERS_S)
        if said or now - since < NO_WORKERS_S:
            return None
        n = len(self._futures)
        where = f"at {self.address}" if self.address else "of the local cluster"
        return (f"the dask scheduler {where} has no workers: {n} asset{'s' if n != 1 else ''} "
                f"wait{'s' if n == 1 else ''} for one to join (Ctrl-C stops the build; the scheduler's "
                "distributed.scheduler.no-workers-timeout fails them)")

    def _lost(self, asset: str) -> BaseException:
        from assetbuild import WorkerLost

        where = f"at {self.address}" if self.address else "of the local cluster"
        if self.client.status == "running":
            return WorkerLost(f"dask cancelled {asset!r} (its scheduler {where} dropped the task)", isolated=True)
        return WorkerLost(f"the dask scheduler {where} was lost while {asset!r} was to run on it "
                          "(the cluster stopped, or the network to it failed)", isolated=True)

    def shutdown(self, cancel: bool = False) -> None:
        try:
            if cancel and self._futures:
                self.client.cancel(list(self._futures), force=True)
            # the build's resources die with it, on workers that outlive it too (unless the scheduler
            # is lost: client.run would wait for it in vain, 10 s, and the workers cannot be reached)
            if self._scopes and self.client.status == "running":
                from assetbuild.executor import release_resources

                try:  # (only this build's: other builds may be using the same workers)
                    self.client.run(release_resources, sorted(self._scopes))
                except Exception:  # noqa: BLE001 - a worker gone (or the cluster): nothing to release there
                    pass
            self.client.close()
        finally:
            try:
                if self.cluster is not None:
                    self.cluster.close()
            finally:
                self._quiet.close()


class _cluster_start:  # noqa: N801 - used as a context manager, like contextlib's (not imported: cheap)
    """Around starting a LocalCluster: it starts whole, and its workers never see a Ctrl-C.

    A Ctrl-C in the terminal signals the whole process group: each worker process died of a
    KeyboardInterrupt with its traceback (a Nanny then starting another while the build closed
    the cluster), and one that came while the cluster started left it half made, closed at exit
    with distributed's log lines. The build ends its workers itself (``shutdown`` cancels their
    tasks and closes the cluster), so:

    - SIGINT is blocked in this thread meanwhile (POSIX): the threads the cluster starts inherit
      the blocked signal, and so do the worker processes its Nannies spawn from them, at first or
      in place of one that died (a thread's signal mask survives fork and exec);
    - Ctrl-C and SIGTERM are held off in Python meanwhile, then the first that came is raised
      (main thread only: signals are handled there), once the cluster is whole to be closed."""

    def __enter__(self) -> None:
        import signal
        import threading

        self._came: list[int] = []
        self._held: dict[int, Any] = {}
        self._block = getattr(signal, "pthread_sigmask", None)  # none on Windows (nor process groups)
        if self._block is not None:
            # multiprocessing's resource tracker, started on first use by the thread that needs
            # it, unblocks SIGINT in that thread after spawning itself: start it here, before
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(sig)
                if callable(handler):  # SIG_DFL and SIG_IGN raise nothing in Python code
                    self._held[sig] = handler
                    signal.signal(sig, lambda signum, frame: self._came.append(signum))
        if self._block is not None:
            self._old = self._block(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._block is not None:
            self._block(signal.SIG_SETMASK, self._old)
        for sig, handler in self._held.items():
            signal.signal(sig, handler)
        if self._came:
            signal.raise_signal(self._came[0])


def _abandon(client: Any) -> None:
    """A Client whose start failed or was interrupted (Ctrl-C, SIGTERM) as it connected: its
    connection attempt may still be under way in its event loop, and closing it waits for that
    up to 20 s. Collected, or at the interpreter's exit, it closed itself so: the ``run`` daemon
    stopped by SIGTERM as a tick's build connected took 20 s more to end and printed
    ``TimeoutError: timed out after 20 s.`` with a traceback (and a notebook's Ctrl-C froze a
    later cell as well). It is marked closed instead (its ``close`` and ``__del__`` then do
    nothing); its loop thread is a daemon and ends with the process, its attempt with its own
    10 s timeout."""
    client.status = "closed"


def _quiet_logs() -> Any:
    """Silence distributed's own log lines while the executor lives (its stream handlers' level
    raised, as LocalCluster's ``silence_logs`` does; the returned ExitStack puts them back): a
    task marked failed after worker deaths, a client giving up on a lost scheduler (with a
    traceback) say at length what the asset's failure says in one line. Its "Sending large
    graph" warning too: a task carries its inputs' bytes by design, and the advice to load the
    data with dask instead is none an assetbuild user can follow."""
    import contextlib
    import logging
    import warnings

    stack = contextlib.ExitStack()
    for handler in logging.getLogger("distributed").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.level < logging.CRITICAL:
            stack.callback(handler.setLevel, handler.level)
            handler.setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning, module="distributed")
    stack.callback(_drop_filter, warnings.filters[0])
    return stack


def _drop_filter(entry: Any) -> None:
    import warnings

    try:
        warnings.filters.remove(entry)
    except ValueError:  # (someone reset the filters meanwhile)
        pass


def _check_address(address: str, where: str) -> None:
    """ConfigError unless ``address`` names a host and port dask can connect to: a malformed one
    (no port, an unknown scheme) made dask fail only as its half-made Client was collected, 20 s
    later, with a traceback after assetbuild's line."""
    from distributed.comm import get_address_host_port

    from assetbuild import ConfigError

    try:
        host, port = get_address_host_port(address)
    except ValueError as e:
        problem = str(e)
    else:
        if host and 0 < port < 65536:
            return
        problem = f"port {port} is out of range" if host else "it names no host"
    raise ConfigError(f"the dask scheduler address {address!r}{where} is not one dask can connect to ({problem}); "
                      "give tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786")


def _translate(asset: str, exc: BaseException) -> BaseException:
    from distributed import KilledWorker
    from distributed.scheduler import NoValidWorkerError, NoWorkerError

    from assetbuild import WorkerLost

    if isinstance(exc, KilledWorker):
        return WorkerLost(f"the dask workers running it died (KilledWorker: the scheduler gave up on "
                          f"{asset!r} after its allowed failures; a crash, os._exit or out of memory)",
                          isolated=True)
    if isinstance(exc, (NoWorkerError, NoValidWorkerError)):  # none at all / none it may run on
        return WorkerLost(f"no dask worker could run {asset!r} within the scheduler's "
                          f"distributed.scheduler.no-workers-timeout ({exc.args[-1]:g} s)", isolated=True)
    return exc


@hookimpl
def register_executors() -> list[type]:
    return [DaskExecutor]


@hookimpl
def register_options() -> list[ExecutorFlag]:
    return [ExecutorFlag("--dask-scheduler", executor="dask", option="scheduler", metavar="ADDRESS",
                         help="The dask.distributed scheduler to use, e.g. tcp://HOST:8786 (implies "
                              f"--executor dask; default: ${ADDRESS_ENV}, else a local cluster).")]
