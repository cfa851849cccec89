"""Resources at run time: making each one at most once per build in a process, handing it to
the assets that name it, and tearing it down when the build ends.

A :class:`ResourceScope` holds the live objects of one build in one process. The build's own
process has one (``serial`` and ``threads`` share it: a resource is made once, under a lock,
by the first asset that needs it) and closes it when the build ends, failed or interrupted
too, tearing resources down in the reverse order of their making. A task carries its scope;
pickled to a worker process (``processes``, a timed asset's own worker, Dask), the scope
arrives as that process's own scope for the same build (:func:`worker_scope`), which is
closed when the worker exits (at the end of the build: process pools live for one build), or
when an executor calls :func:`release_resources` on its workers.

A resource is lazy: nothing is made until a task that names it runs, so a null build, or a
build whose work does not use it, makes none. One that cannot be made fails every asset that
needs it, with its traceback, and is not tried again in that build; a KeyboardInterrupt its
code raises without a Ctrl-C is such a failure too (``RealInterrupts`` tells them apart). A
teardown that raises is a warning, never a failure; a real Ctrl-C during one is a warning, the
other teardowns still run, and then the interrupt ends the command (130). An override (``build(resources={...})``) is the caller's
object: it is passed as it is (as a pickled copy to worker processes), never made or torn down.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .definitions import ResourceContext, ResourceDef
from .errors import describe_exception
from .interrupts import RealInterrupts

_MISSING = object()


class ResourceFailed(Exception):
    """A resource's function raised (or its generator yielded nothing): the asset that needs it fails."""

    def __init__(self, name: str, error: str, cause: BaseException | None = None) -> None:
        super().__init__(f"resource {name!r} could not be created: {error}")
        self.resource = name
        self.error = str(self)
        self.cause = cause  # what the resource's function raised: its traceback is the user's to read


class ResourceOverride:
    """Stands in a task for a resource the caller replaced: its object, used as it is."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def __getstate__(self) -> tuple[str, Any]:
        return self.name, self.value

    def __setstate__(self, state: tuple[str, Any]) -> None:
        self.name, self.value = state


class ResourceScope:
    """The live resources of one build in one process."""

    def __init__(self, project_dir: str, *, warn: Callable[[str], None] | None = None,
                 scope_id: str | None = None) -> None:
        self.id = scope_id or uuid.uuid4().hex
        self.project_dir = project_dir
        self.warn = warn or _warn_stderr
        self.created: list[str] = []  # names, in the order they were made
        self._live: dict[str, Any] = {}
        self._failed: dict[str, ResourceFailed] = {}
        self._teardown: list[tuple[str, Any]] = []  # (name, generator to finish), in making order
        self._lock = threading.Lock()
        self.closed = False

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled into a task for another process: there it is that process's scope of this build."""
        return worker_scope, (self.id, self.project_dir)

    def get(self, rdef: ResourceDef, log: Any = None) -> Any:
        """The live object of ``rdef``, made now if this is its first use (ResourceFailed if it cannot be)."""
        value = self._live.get(rdef.name, _MISSING)
        if value is not _MISSING:
            return value
        with self._lock:  # made once, even when several threads need it at the same moment
            value = self._live.get(rdef.name, _MISSING)
            if value is not _MISSING:
                return value
            failed = self._failed.get(rdef.name)
            if failed is not None:
                raise failed
            if self.closed:  # a task still running after the build ended (a cancelled thread)
                raise ResourceFailed(rdef.name, "the build has ended")
            try:
                value = self._make(rdef, log)
            except ResourceFailed as e:
                self._failed[rdef.name] = e
                raise
            self._live[rdef.name] = value
            self.created.append(rdef.name)
            return value

    def _make(self, rdef: ResourceDef, log: Any) -> Any:
        kwargs: dict[str, Any] = {}
        if rdef.context:
            if log is None:
                log = logging.getLogger(f"assetbuild.resource.{rdef.name}")
            kwargs["context"] = ResourceContext(rdef.name, Path(self.project_dir), log)
        with RealInterrupts() as interrupts:
            try:
                out = rdef.fn(**kwargs)
                if not rdef.generator:
                    return out
                try:
                    value = next(out)
                except StopIteration:
                    raise ResourceFailed(rdef.name, "its generator returned without yielding the resource") from None
                self._teardown.append((rdef.name, out))
                return value
            except ResourceFailed:
                raise
            except BaseException as e:  # noqa: BLE001 - user code: it fails the assets that need it
                if interrupts.seen:  # a real Ctrl-C (or SIGTERM) ends the build, whatever the code made of it
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    raise interrupts.interrupt() from e
                why = OWN_INTERRUPT if isinstance(e, KeyboardInterrupt) else \
                    describe_exception(e) if isinstance(e, Exception) else repr(e)
                raise ResourceFailed(rdef.name, why, e) from e

    def close(self) -> None:
        """Tear down every resource made here, the last made first; a failing teardown is a warning."""
        with self._lock:
            pending, self._teardown = self._teardown, []
            self._live.clear()
            self.closed = True
        interrupted: KeyboardInterrupt | None = None
        for name, gen in reversed(pending):
            with RealInterrupts() as interrupts:
                try:
                    next(gen)
                except StopIteration:
                    pass
                except BaseException as e:  # noqa: BLE001 - a teardown never fails the build
                    if interrupts.seen:
                        self.warn(f"resource {name!r}: its teardown was interrupted")
                    else:
                        why = OWN_INTERRUPT if isinstance(e, KeyboardInterrupt) else describe_exception(e)
                        self.warn(f"resource {name!r}: its teardown failed: {why}")
                else:
                    self.warn(f"resource {name!r} yielded more than once; the code after its second yield did not run")
                    gen.close()
                if interrupts.seen:  # a real Ctrl-C: the other teardowns still run, then it ends the command
                    interrupted = interrupted or interrupts.interrupt()
        if interrupted is not None:
            raise interrupted


OWN_INTERRUPT = "KeyboardInterrupt (raised by its code without a Ctrl-C: a resource cannot end assetbuild)"


def acquire(uses: Iterable[tuple[str, Any]], scope: ResourceScope | None, log: Any = None) -> dict[str, Any]:
    """The arguments a task's resource parameters receive: ``uses`` are (parameter, ResourceDef
    or ResourceOverride). ResourceFailed if one cannot be made."""
    out: dict[str, Any] = {}
    for param, r in uses:
        if isinstance(r, ResourceOverride):
            out[param] = r.value
            continue
        if scope is None:  # a task made without a build's scope (a plugin's own): this process's
            scope = worker_scope("", os.getcwd())
        out[param] = scope.get(r, log)
    return out


class ResourceMap(Mapping[str, Any]):
    """The build's resources by name, made on first use (``IOContext.resources``: an IO manager
    may need a connection that the project declares). ``defs``: name -> ResourceDef or
    ResourceOverride; ``scope``: the build's scope in this process (None: this process's own)."""

    def __init__(self, defs: Mapping[str, Any], scope: ResourceScope | None, log: Any = None) -> None:
        self._defs = defs
        self._scope = scope
        self._log = log

    def __getitem__(self, name: str) -> Any:
        r = self._defs[name]
        return acquire(((name, r),), self._scope, self._log)[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._defs)

    def __len__(self) -> int:
        return len(self._defs)


# --- in worker processes -----------------------------------------------------------------------

_WORKER_SCOPES: dict[str, ResourceScope] = {}
_WORKER_LOCK = threading.Lock()
_exit_registered = False
TERM_TEARDOWN = False  # set by the processes executor's workers: SIGTERM (a cancelled build) tears down too


def worker_scope(scope_id: str, project_dir: str) -> ResourceScope:
    """This process's scope for the build ``scope_id``: made on first use, closed at exit."""
    global _exit_registered
    with _WORKER_LOCK:
        scope = _WORKER_SCOPES.get(scope_id)
        if scope is None:
            scope = _WORKER_SCOPES[scope_id] = ResourceScope(project_dir, scope_id=scope_id)
            if not _exit_registered:
                _exit_registered = True
                _at_exit(release_resources)
        return scope


def release_resources(scope_ids: Iterable[str] | None = None) -> int:
    """Tear down the resources that tasks made in this process for the builds ``scope_ids``
    (``ResourceScope.id``; None: every build's), the worker side of the end of a build; returns
    how many scopes were closed. An executor whose workers outlive the build (Dask) calls it on
    each worker when the build ends, with its own build's id: other builds sharing the workers
    keep theirs. Process workers release all of them when they exit."""
    with _WORKER_LOCK:
        if scope_ids is None:
            scopes = list(_WORKER_SCOPES.values())
            _WORKER_SCOPES.clear()
        else:
            scopes = [s for s in (_WORKER_SCOPES.pop(i, None) for i in scope_ids) if s is not None]
    for scope in scopes:
        scope.close()
    return len(scopes)


def _at_exit(fn: Callable[[], Any]) -> None:
    """Run ``fn`` when this process ends normally. A multiprocessing child ends with
    ``os._exit`` after running multiprocessing's finalizers, never atexit's: register with both."""
    import atexit

    atexit.register(fn)
    try:
        from multiprocessing import util

        util.Finalize(None, fn, exitpriority=100)
    except ImportError:  # pragma: no cover - multiprocessing is always there in CPython
        pass
    if TERM_TEARDOWN and threading.current_thread() is threading.main_thread():
        import signal

        def on_term(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
            try:
                fn()
            finally:
                os._exit(128 + signum)

        signal.signal(signal.SIGTERM, on_term)


def _warn_stderr(message: str) -> None:
    try:
        sys.stderr.write(f"assetbuild: warning: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
