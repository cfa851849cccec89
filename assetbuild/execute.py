"""The one place that calls user functions: load inputs, call, unwrap ``Output``, serialize, digest.

It runs wherever an executor puts it: in the build's own thread, in a thread, in a worker
process or on a Dask worker. A :class:`Task` carries everything that run needs (the function,
the IO managers, the upstream outputs as their stored bytes) and nothing it must not (no store,
no reporter); the result is a :class:`Produced` or a :class:`Failed`, plain picklable records,
never an exception. A failure's traceback shows only the user's frames (the AssetFile and the
project's modules), the way a user reads it, not assetbuild's own plumbing. Log lines an asset
writes through ``context.log`` are collected and travel back with the result, unless the caller
passes a live logger (the serial executor does).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .definitions import AssetContext, Output
from .errors import AssetFailed

LogLines = list[tuple[int, str]]  # (logging level, formatted message), in order


@dataclass
class Produced:
    """An asset's fresh output: its bytes, their digest, its data version and metadata."""

    data: bytes
    digest: str
    data_version: str
    duration_s: float
    metadata: dict[str, Any] = field(default_factory=dict)
    logs: LogLines = field(default_factory=list)
    project_code: dict[str, str] | None = None  # see run_payload
    ok = True


@dataclass
class Failed:
    """An asset that did not produce an output. ``unloadable`` names an upstream whose stored
    bytes its IO manager could not load (the scheduler rebuilds that upstream and retries)."""

    error: str
    traceback: str = ""
    duration_s: float = 0.0
    logs: LogLines = field(default_factory=list)
    unloadable: str | None = None
    project_code: dict[str, str] | None = None  # see run_payload
    ok = False


@dataclass
class Task:
    """One asset run, self-contained so that it can be pickled to a worker.

    ``args`` are arguments known without loading anything (a source's ``Path``); ``inputs`` are
    (parameter, upstream name, IO manager, stored bytes): values are loaded where the function
    runs, from the same bytes an incremental build would read.
    """

    asset: str
    fn: Callable[..., Any]
    io_name: str
    io: Any
    args: dict[str, Any]
    inputs: list[tuple[str, str, Any, bytes]]
    context: bool
    project_dir: str


def user_traceback(exc: BaseException, is_user_file: Callable[[str], bool]) -> str:
    """The exception's traceback reduced to frames in user files (all frames if none are)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if is_user_file(f.filename)]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(mine or frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_task(task: Task, log: Any = None) -> Produced | Failed:
    """Run one task: load its inputs, call the function, serialize and digest the value.

    ``log`` is the logger behind ``context.log``; without one, lines are collected into the result.
    """
    t0 = time.perf_counter()
    kwargs = dict(task.args)
    for param, up, io, data in task.inputs:
        try:
            kwargs[param] = io.load(data)
        except Exception as e:  # noqa: BLE001 - the stored bytes no longer load (a changed class...)
            return Failed(f"its input {up!r} could not be loaded: {describe(e)}", unloadable=up,
                          duration_s=time.perf_counter() - t0)
    logs: LogLines = []
    context = None
    if task.context:
        if log is None:
            log = _collecting_logger(task.asset, logs)
        context = AssetContext(task.asset, Path(task.project_dir), log)
    try:
        produced = run_function(task.fn, task.asset, task.io_name, task.io, kwargs,
                                is_user_file=is_user_file_for(task.project_dir), context=context)
    except AssetFailed as e:
        return Failed(e.error, e.traceback, time.perf_counter() - t0, logs)
    produced.logs = logs
    return produced


def dump_task(task: Task, by_value: Iterable[str] = ()) -> bytes:
    """Pickle a task for another process. Functions of the AssetFile always travel by value
    (its module is not importable); modules named in ``by_value`` (the project's own) too, for
    workers that cannot import them or may hold an older version."""
    import cloudpickle

    registered = []
    try:
        for name in by_value:
            mod = sys.modules.get(name)
            if mod is not None:
                try:
                    cloudpickle.register_pickle_by_value(mod)
                    registered.append(mod)
                except ValueError:  # a submodule of one already registered
                    pass
        return cloudpickle.dumps(task, protocol=5)
    finally:
        for mod in registered:
            cloudpickle.unregister_pickle_by_value(mod)


def run_payload(payload: bytes) -> Produced | Failed:
    """The entry point of a worker: unpickle a task made by :func:`dump_task` and run it.

    A worker imports the project's modules from their files, which may have been edited since
    the build made its keys. The outcome carries ``project_code``, file -> digest of the source
    of every project module this process has loaded, so the build records a result only if
    that is the code its key was made from.
    """
    import pickle

    from .loader import loaded_sources

    try:
        task = pickle.loads(payload)
    except Exception as e:  # noqa: BLE001 - e.g. a project module edited into a syntax error
        outcome: Produced | Failed = Failed(f"cannot load it in its worker: {describe(e)}")
    else:
        outcome = run_task(task)
    outcome.project_code = loaded_sources()
    return outcome


def _collecting_logger(asset: str, out: LogLines) -> Any:
    """A logger that keeps every line (formatted, with any traceback) for replay in the parent."""
    import logging

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            out.append((record.levelno, text))

    log = logging.Logger(f"assetbuild.asset.{asset}", logging.DEBUG)
    log.addHandler(_Collect())
    log.propagate = False
    return log


def run_function(fn: Callable[..., Any], asset: str, io_name: str, io: Any, kwargs: dict[str, Any], *,
                 is_user_file: Callable[[str], bool], context: Any = None) -> Produced:
    """Call an asset's function and serialize its value with ``io``; AssetFailed on any error."""
    if context is not None:
        kwargs["context"] = context
    t0 = time.perf_counter()
    try:
        value = fn(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's exception is the asset's failure
        raise AssetFailed(asset, describe(e), user_traceback(e, is_user_file)) from e
    duration = time.perf_counter() - t0
    metadata: dict[str, Any] = {}
    data_version = None
    if isinstance(value, Output):
        metadata.update(value.metadata)
        data_version = value.data_version
        value = value.value
    if context is not None and context.metadata:
        metadata.update(context.metadata)
    try:
        data = io.dump(value)
    except Exception as e:  # noqa: BLE001
        raise AssetFailed(asset, f"cannot store its value ({type(value).__module__}."
                          f"{type(value).__qualname__}) with io={io_name!r}: {describe(e)}") from e
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise AssetFailed(asset, f"IO manager {io_name!r} returned {type(data).__name__}, not bytes")
    data = bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    return Produced(data, digest, data_version or digest, duration, metadata)


def is_user_file_for(project_dir: str) -> Callable[[str], bool]:
    """A predicate: is this filename the AssetFile or a project module (not an installed package)?"""
    root = os.path.join(project_dir, "")
    own = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")

    def is_user(filename: str) -> bool:
        return filename.startswith(root) and "site-packages" not in filename \
            and "dist-packages" not in filename and not filename.startswith(own)

    return is_user
