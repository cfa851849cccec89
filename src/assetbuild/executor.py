"""The executor contract, public for plugins: what an executor class offers (:class:`Executor`),
the :class:`Task` it receives, the :data:`Outcome` it returns, and :func:`run_serialized`, what
a worker in another process or on another machine calls on a task's bytes.

An executor decides only *where* an asset function runs. Everything else stays with the host
(the ``assetbuild`` process): keys, the store, the order of assets, time limits, retries, and
hiding the caller's ``__main__`` while workers may start (a script without an ``if __name__ ==
"__main__":`` guard would otherwise run again in every spawned worker). A task carries its
inputs as stored bytes and its outcome carries the output as bytes, so the trace store never
leaves the host. The built-in ``serial``, ``threads`` and ``processes`` executors
(``assetbuild.executors``) implement this same contract; ``assetbuild.testing.ExecutorContract``
checks an implementation with real builds.

Examples: the README's "Plugins" section (a process pool in a dozen lines) and the
``assetbuild-dask`` plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .errors import WorkerLost
from .execute import Failed, Produced, Skipped, Task, run_payload

if TYPE_CHECKING:
    import logging
    from concurrent.futures import Future

    from .capture import LazyLogger
    from .sharedworkers import WorkerVisit

Outcome = Produced | Failed | Skipped
"""What running a task gives: an output (``ok`` True), a failure (``ok`` False, with the error
and the user's traceback), or a skip (``Skip`` returned with ``output_required=False``: ``ok``
True, ``skipped`` True, its reason). A multi-asset's task (``task.outs``) gives a
``multirun.MultiProduced`` instead: a ``Produced`` per out its one run returned. Never an
exception: an executor passes it back untouched."""


class Ended:
    """What an ``inline`` executor may return from ``submit``: the future of a task it ran at
    once, ended before anyone asks (``Ended(lambda: task.run(log))``).

    It offers what the host asks of a ``concurrent.futures.Future`` without importing that
    module, which imports ``logging``: a build at -j 1 needs neither. The host never waits on
    it (an ended future is collected as it is)."""

    __slots__ = ("_value", "_error")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        try:
            self._value = fn()
        except BaseException as e:  # noqa: BLE001 - the scheduler sees it as the task's error
            if isinstance(e, KeyboardInterrupt):
                raise
            self._error = e

    def done(self) -> bool:
        return True

    def running(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False

    def result(self, timeout: float | None = None) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return self._error

    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        fn(self)


class Executor(Protocol):
    """What an executor class contributed through ``register_executors`` offers.

    Class attributes: ``name`` (``--executor NAME``, ``@asset(executor=NAME)``), a one-line
    ``description``, ``options`` (option name -> help: the keys ``--executor-option KEY=VALUE``
    accepts) and ``inline`` (True if ``submit`` runs the task at once in the calling thread, as
    ``serial`` does; such an executor receives a live ``log``, to pass on as ``task.run(log)``:
    a ``logging.Logger`` or a ``capture.LazyLogger``, which makes one only if the asset logs).

    The host creates an executor once per build, on first use, with keyword arguments ``jobs``
    (the ``-j`` value), ``project_dir``, ``project_modules`` (names of the project's own modules:
    a worker that cannot import them, or outlives the build, needs them by value:
    ``task.to_bytes(by_value=project_modules)``) and ``options``.

    Optional class attributes, read by the host (absent means False):

    - ``kills``: the executor can stop a running task with ``kill(future) -> bool`` (a
      ``KillingExecutor``); only such executors take assets with a time limit.
    - ``same_machine``: tasks run on the host's machine, so a large input may arrive as the
      path of the store's file instead of its bytes (``Task.run`` reads and verifies it). Such
      an executor may also have a ``spool_dir`` attribute: the host sets it to a directory
      where ``run_serialized(payload, spool_dir)`` leaves large outputs as files.
    - ``in_process``: tasks run in the host's own process (threads). For every other
      executor that is not ``inline``, the host hides the caller's ``__main__`` from its
      creation to the end of its ``shutdown``: worker processes may start at any moment of
      its life (a dask Nanny replaces a worker that died).

    Optional method: ``why_waiting() -> str | None``, called on the host's main thread about
    once a second while the build waits on tasks: a line saying why they wait, if they may
    wait long (a cluster without workers), shown as a warning of the build; None otherwise
    (say each thing once, not every second).
    """

    name: str
    description: str
    options: dict[str, str]
    inline: bool

    def __init__(self, *, jobs: int, project_dir: str, project_modules: frozenset[str],
                 options: dict[str, str]) -> None: ...

    def submit(self, task: Task, log: logging.Logger | LazyLogger | None = None) -> Future[Outcome]:
        """Run ``task`` (``task.run()`` here, or ``run_serialized(task.to_bytes())`` in a worker)
        and resolve the future with its :data:`Outcome`. If the worker running it died, set
        :class:`WorkerLost` on the future (``isolated=True`` when this task alone is known to be
        the cause); any other error set on it (a transport error), or cancelling it, fails the
        asset with that error. Called from the host's main thread only, with never more than
        ``jobs`` tasks outstanding."""

    def shutdown(self, cancel: bool = False) -> None:
        """End the workers; with ``cancel``, at once, abandoning running tasks (Ctrl-C, or
        another asset failed). Workers that outlive the build should run
        :func:`release_resources` first, with the ids of the build's resource scopes, or the
        build's resources live on in them."""


class KillingExecutor(Executor, Protocol):
    """An executor that can stop a running task (``kills = True``): it takes time limits."""

    kills: bool

    def kill(self, future: Future[Outcome]) -> bool:
        """Stop the task behind ``future`` now; False if it is not one of this executor's.
        Other tasks stopped with it fail with a ``WorkerLost`` whose ``stopped_by_build`` is
        True, and the host runs them again."""


def run_serialized(payload: bytes, spool_dir: str | None = None,
                   visit: WorkerVisit | tuple[Any, ...] | None = None) -> Outcome:
    """What a worker calls on the bytes of ``Task.to_bytes``: load the task, run it, and return
    its outcome (plain picklable data, to send back as it is).

    The outcome names the source digests of the project modules the worker ran, so the host
    records an output only if it came from the code its key was made from. ``spool_dir`` (a
    worker on the host's machine): an output of 1 MiB or more is left in a new file there
    instead of travelling back through a pipe.

    ``visit``: the worker outlives builds and may run other builds' tasks, of other projects,
    in other threads (a dask worker). Give each task of a build the :class:`WorkerVisit` the
    executor made for it (``WorkerVisit(project_dir)``, once per build): the build's tasks then
    run with the project's modules imported afresh for that build (and their digests in the
    outcome), in the project directory and with the environment variables their assets declare,
    one build at a time in each worker process (``assetbuild.sharedworkers``). Without it, the
    worker is taken to be set up for this one build (as the ``processes`` executor's are)."""
    if visit is not None:
        from .sharedworkers import run_visiting

        return run_visiting(payload, visit, spool_dir)
    return run_payload(payload, spool_dir)


def release_resources(scope_ids: Iterable[str] | None = None) -> int:
    """Tear down the resources (``@resource``) that tasks made in this process for the builds
    ``scope_ids`` (None: for every build); returns how many builds' resources were released.

    A worker makes a resource the first time one of its tasks needs it in a build, and keeps
    it for that build's other tasks. Worker processes that end with the build (the built-in
    ``processes``) tear them down as they exit, on their own. An executor whose workers outlive
    the build calls this on each worker from ``shutdown`` with the ids of the build's scopes,
    ``task.resource_scope.id`` of each task that has one (resource parameters, or an IO manager
    using resources), so other builds sharing the workers keep theirs (the Dask plugin:
    ``client.run(release_resources, ids)``); otherwise they live until the worker exits."""
    from .resources import release_resources as release

    return release(scope_ids)


__all__ = ["Executor", "KillingExecutor", "Ended", "Task", "Outcome", "run_serialized", "release_resources",
           "WorkerLost", "WorkerVisit"]


def __getattr__(name: str) -> Any:
    """``WorkerVisit`` on first use: only executors that share workers between builds (Dask)
    need it, and every build imports this module."""
    if name == "WorkerVisit":
        from .sharedworkers import WorkerVisit

        return WorkerVisit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
