"""The one place that calls user functions: load inputs, call, unwrap ``Output``, serialize, digest.

It runs wherever an executor puts it: in the build's own thread, in a thread, in a worker
process or on a Dask worker. A :class:`Task` carries everything that run needs (the function,
the IO managers, the upstream outputs as their stored bytes) and nothing it must not (no store,
no reporter); the result is a :class:`Produced` or a :class:`Failed`, plain picklable records,
never an exception. A failure's traceback shows only the user's frames (the AssetFile and the
project's modules), the way a user reads it, not assetbuild's own plumbing. Log lines an asset
writes through ``context.log``, and to sys.stdout and sys.stderr (``capture``), are collected and
travel back with the result, unless the caller passes a live logger (the serial executor does).

A large output of a worker process does not travel back through the pipe (a pickled copy in the
worker, another in the parent, and the unpickled bytes: three times its size in memory): the
worker writes it to a new file in the cache's spool directory and the result names that file,
which the store then renames into place (:func:`run_payload`, ``SPOOL_MIN``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .capture import MAX_LINES, captured, collecting_logger, real_logger
from .definitions import AssetContext, Output, Skip
from .dirtree import empty_folder
from .errors import NOT_USER_CODE, AssetFailed, describe_exception
from .interrupts import RealInterrupts
from .io import IOContext, is_external
from .loader import compiled_mark, compiled_since, reached_sources
from .modulefinder import in_site_directory
from .spool import read_stored_file, write_spool_file
from .usercode import running_user_code

LogLines = list[tuple[int, str]]  # (logging level, formatted message), in order
SPOOL_MIN = 1 << 20  # a worker's output from this size on travels through a file, not the pipe


class Produced:
    """An asset's fresh output: its bytes, their digest, its data version and metadata.

    This module's records are plain classes, not dataclasses: making a dataclass costs 0.3-0.7
    ms (one ``exec`` per generated method), and every build that runs an asset imports them."""

    __slots__ = ("data", "digest", "data_version", "duration_s", "metadata", "logs", "file", "file_size",
                 "project_code")
    ok = True

    def __init__(self, data: bytes, digest: str, data_version: str, duration_s: float,
                 metadata: dict[str, Any] | None = None, logs: LogLines | None = None,
                 file: str | None = None, file_size: int = 0, project_code: dict[str, str] | None = None) -> None:
        self.data, self.digest, self.data_version, self.duration_s = data, digest, data_version, duration_s
        self.metadata = {} if metadata is None else metadata
        self.logs = [] if logs is None else logs
        self.file = file  # the bytes are in this spool file instead of ``data`` (then b"")
        self.file_size = file_size
        self.project_code = project_code  # see run_payload

    @property
    def size(self) -> int:
        return self.file_size if self.file is not None else len(self.data)


class Failed:
    """An asset that did not produce an output. ``unloadable`` names an upstream whose stored
    bytes its IO manager could not load (the scheduler rebuilds that upstream and retries)."""

    __slots__ = ("error", "traceback", "duration_s", "logs", "unloadable", "project_code")
    ok = False

    def __init__(self, error: str, traceback: str = "", duration_s: float = 0.0, logs: LogLines | None = None,
                 unloadable: str | None = None, project_code: dict[str, str] | None = None) -> None:
        self.error, self.traceback, self.duration_s = error, traceback, duration_s
        self.logs = [] if logs is None else logs
        self.unloadable = unloadable
        self.project_code = project_code  # see run_payload


class Skipped:
    """An asset declared with ``output_required=False`` that returned ``Skip(reason)``: no
    output, and no failure (assetbuild.skips says what becomes of its readers)."""

    __slots__ = ("reason", "duration_s", "metadata", "logs", "project_code")
    ok = True
    skipped = True  # Produced and Failed have no such attribute

    def __init__(self, reason: str, duration_s: float = 0.0, metadata: dict[str, Any] | None = None,
                 logs: LogLines | None = None, project_code: dict[str, str] | None = None) -> None:
        self.reason, self.duration_s = reason, duration_s
        self.metadata = {} if metadata is None else metadata
        self.logs = [] if logs is None else logs
        self.project_code = project_code  # see run_payload


class Task:
    """One asset run, self-contained so that it can be pickled to a worker.

    ``args`` are arguments known without loading anything (a source's ``Path``); ``inputs`` are
    (parameter, upstream name, IO manager, stored bytes): values are loaded where the function
    runs, from the same bytes an incremental build would read. For a large output, "stored
    bytes" may be (path, sha256) of the store's file holding them, read and verified here.

    The keyword arguments, after ``project_dir``:
    - ``timeout``: seconds; the executor must be able to kill the task (Runner);
    - ``outputs``: files the function writes itself (assetbuild.produced), under ``staging``,
      through context.out();
    - ``params``: the canonical JSON of the asset's resolved params, the text its key holds ("":
      none); decoded afresh for each run, so no run's changes to a nested value reach another's;
    - ``resources``: (parameter, ResourceDef or ResourceOverride) of each resource the function
      takes, and ``resource_scope``, the build's scope that makes them (pickled, it becomes the
      worker's own: assetbuild.resources);
    - ``io_resources``, ``input_params``: for IO managers that keep their data outside the
      cache (assetbuild.external), the resources their contexts offer (name -> ResourceDef or
      ResourceOverride), and each external input's resolved params (upstream -> canonical
      JSON); such a manager runs here, with the function;
    - ``fan_in``: (parameter, upstream names in name order) of each parameter that receives a
      dict of several inputs (a glob or group in ``ins``): their entries in ``args`` and
      ``inputs`` are keyed (parameter, upstream) and gathered into that dict before the call;
      ``fan_labels``: {fan-in parameter: the dict's keys} where they are not the upstream names:
      the partition keys of an upstream's partitions (assetbuild.partitioned);
    - ``partition``: the partition this run makes (a PartitionRef): context.partition_key and
      friends;
    - ``output_required``: False: the function may return Skip (``@asset(output_required=False)``);
    - ``outs``: a multi-asset's run: (out, IO manager name, IO manager, required) of each of its
      outs, in outs order; ``asset`` is then the multi-asset's name (run_outs);
    - ``code_modules``: the modules the asset's key was made from
      (``Fingerprinter.modules_reached``): the project code it may run is what importing them
      runs (``project_code``); None: not known;
    - ``env``: (name, value) of each environment variable it declares, as its key holds them
      (``keys.env_parts``: a secret's as a digest), and, unset unless a worker may be on another
      machine (read with getattr), ``libraries``: (import name, version) of the libraries the
      build's keys name, and ``sources``: (path, data version, by mtime) of each source it reads,
      as its key holds them, for a worker that outlives builds (``sharedworkers``).
    """

    __slots__ = ("asset", "fn", "io_name", "io", "args", "inputs", "context", "project_dir", "timeout", "outputs",
                 "staging", "params", "resources", "resource_scope", "io_resources", "input_params", "fan_in",
                 "fan_labels", "partition", "output_required", "outs", "code_modules", "env", "libraries",
                 "sources")

    def __init__(self, asset: str, fn: Callable[..., Any], io_name: str, io: Any, args: dict[Any, Any],
                 inputs: list[tuple[Any, str, Any, Any]], context: bool, project_dir: str,
                 timeout: float | None = None, outputs: tuple[str, ...] = (), staging: str | None = None,
                 params: str = "", resources: tuple[tuple[str, Any], ...] = (), resource_scope: Any = None,
                 io_resources: dict[str, Any] | None = None, input_params: dict[str, str] | None = None,
                 fan_in: tuple[tuple[str, tuple[str, ...]], ...] = (),
                 fan_labels: dict[str, tuple[str, ...]] | None = None, partition: Any = None,
                 output_required: bool = True, outs: tuple[tuple[str, str, Any, bool], ...] = (),
                 code_modules: tuple[str, ...] | None = None, env: tuple[tuple[str, str | None], ...] = ()) -> None:
        self.asset, self.fn, self.io_name, self.io, self.args = asset, fn, io_name, io, args
        self.inputs, self.context, self.project_dir = inputs, context, project_dir
        self.timeout, self.outputs, self.staging, self.params = timeout, outputs, staging, params
        self.resources, self.resource_scope = resources, resource_scope
        self.io_resources, self.input_params = io_resources, input_params
        self.fan_in, self.fan_labels, self.partition = fan_in, fan_labels, partition
        self.output_required, self.outs, self.code_modules, self.env = output_required, outs, code_modules, env

    def run(self, log: Any = None) -> Produced | Failed | Skipped:
        """Run it here, now (see :func:`run_task`): what an executor calls in its worker. The
        modules the AssetFile imported are the ones keyed; one an asset imported as it ran was
        compiled from its file as it was then. Once there is such a module, the project code this
        process holds that the asset's code reaches is its ``project_code``, which the build checks
        against the code it keyed (without ``code_modules``: the modules compiled while it ran)."""
        mark = compiled_mark()
        outcome = run_task(self, log)
        if outcome.project_code is None and compiled_mark():
            outcome.project_code = _reached(self)
            if outcome.project_code is None and compiled_mark() != mark:
                outcome.project_code = compiled_since(mark)
        return outcome

    def to_bytes(self, by_value: Iterable[str] = ()) -> bytes:
        """The task as bytes for another process or machine (see :func:`dump_task`); the worker
        runs them with :func:`run_payload` (public: ``assetbuild.executor.run_serialized``)."""
        return dump_task(self, by_value)


def user_traceback(exc: BaseException, is_user_file: Callable[[str], bool]) -> str:
    """The exception's traceback reduced to frames in user files (all, headed NOT_USER_CODE, if none)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if is_user_file(f.filename)]
    lines = ["Traceback (most recent call last):\n" if mine else NOT_USER_CODE]
    lines += traceback.format_list(mine or frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def run_task(task: Task, log: Any = None) -> Produced | Failed | Skipped:
    """Run one task: load its inputs, call the function, serialize and digest the value.

    What the asset's code writes to sys.stdout and sys.stderr is captured line by line
    (``capture``). ``log`` is the live logger behind ``context.log``, which also gets those lines
    as they are written; without one, log and output lines are collected into the result.
    """
    logs: LogLines = []
    with running_user_code(task.project_dir):  # an asset's os.chdir is not the next asset's
        if log is not None:
            with captured(lambda level, text: log.log(level, "%s", text)):
                return _run_task(task, log, logs)
        with captured(lambda level, text: logs.append((level, text)), limit=MAX_LINES):
            return _run_task(task, log, logs)


def _run_task(task: Task, log: Any, logs: LogLines) -> Produced | Failed | Skipped:
    t0 = time.perf_counter()

    def the_log() -> Any:  # made on first use (most assets log nothing): the build's, else one kept in ``logs``
        nonlocal log
        log = real_logger(log) or collecting_logger(task.asset, logs)
        return log

    kwargs = dict(task.args)
    for param, up, io, data in task.inputs:
        if isinstance(data, tuple):
            try:
                data = read_stored_file(*data)
            except (OSError, ValueError) as e:
                return Failed(f"its input {up!r} could not be read: {e}", unloadable=up,
                              duration_s=time.perf_counter() - t0)
        with RealInterrupts() as interrupts:
            try:
                kwargs[param] = _load_input(task, io, up, data, real_logger(log)) if is_external(io) else io.load(data)
            except BaseException as e:  # noqa: BLE001 - the stored bytes no longer load (a changed class...)
                return Failed(f"its input {up!r} could not be loaded: {_user_error(e, interrupts)}",
                              unloadable=up, duration_s=time.perf_counter() - t0)
    labels = task.fan_labels or {}
    for param, names in task.fan_in:  # {name: value}, in name order (or {partition key: value})
        keys = labels.get(param, names)
        kwargs[param] = {k: kwargs.pop((param, n)) for n, k in zip(names, keys)}
    if task.resources:
        from .resources import ResourceFailed, acquire

        try:
            kwargs.update(acquire(task.resources, task.resource_scope, the_log()))
        except ResourceFailed as e:
            trace = user_traceback(e.cause, is_user_file_for(task.project_dir)) if e.cause is not None else ""
            return Failed(e.error, trace, time.perf_counter() - t0, logs)
    context = None
    if task.context:
        context = AssetContext(task.asset, Path(task.project_dir), the_log(), _decoded(task.params))
    io = task.io
    if task.staging is not None:  # its value is the manifest of the files it writes
        from .produced import StagedOutputs, StagingContext

        empty_folder(task.staging)  # (a task run again after its worker died: this attempt's files alone)
        context = StagingContext(task.asset, Path(task.project_dir), real_logger(log), task.outputs, task.staging,
                                 _decoded(task.params))
        io = StagedOutputs(task.asset, task.outputs, task.staging)
    if context is not None and task.partition is not None:
        context.set_partition(task.partition, Path(task.project_dir))
    io_context = None
    if is_external(io):
        io_log = the_log()
        io_context = IOContext(task.asset, Path(task.project_dir), io_log, params=_decoded(task.params),
                               resources=_io_resources(task, io_log),
                               partition=task.partition.key if task.partition is not None else None)
    try:
        if task.outs:  # a multi-asset: one call, a Produced per out (assetbuild.multirun)
            produced: Any = run_outs(task.fn, task.asset, task.outs, kwargs,
                                     is_user_file=is_user_file_for(task.project_dir), context=context)
        else:
            produced = run_function(task.fn, task.asset, task.io_name, io, kwargs,
                                    is_user_file=is_user_file_for(task.project_dir), context=context,
                                    io_context=io_context, output_required=task.output_required)
    except AssetFailed as e:
        return Failed(_outputs_error(e), e.traceback, time.perf_counter() - t0, logs)
    produced.logs = logs
    return produced


def _io_resources(task: Task, log: Any) -> Any:
    """``IOContext.resources`` of a task: the build's resources, made on first use."""
    if not task.io_resources:
        return None
    from .resources import ResourceMap

    return ResourceMap(task.io_resources, task.resource_scope, log)


def _load_input(task: Task, io: Any, up: str, data: bytes, log: Any) -> Any:
    """An input kept outside the cache: its manager's ``load_input``, here."""
    from .external import load_input

    return load_input(io, up, data, reader=task.asset, project_dir=task.project_dir, log=log,
                      params=(task.input_params or {}).get(up, ""), resources=_io_resources(task, log))


def _decoded(params: str) -> dict[str, Any] | None:
    import json

    return json.loads(params) if params else None


def _outputs_error(e: AssetFailed) -> str:
    """A failure's one line; a mismatch of the files an asset wrote says only that."""
    from .produced import OutputsError

    return str(e.__cause__) if isinstance(e.__cause__, OutputsError) else e.error


def dump_task(task: Task, by_value: Iterable[str] = ()) -> bytes:
    """Pickle a task for another process. Functions of the AssetFile always travel by value
    (its module is not importable); modules named in ``by_value`` (the project's own) too, for
    workers that cannot import them or may hold an older version. Code pickled by value keeps
    its real file name (see :func:`_task_pickler`)."""
    import io

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
        with io.BytesIO() as out:
            _task_pickler()(out, protocol=5).dump(task)
            return out.getvalue()
    finally:
        for mod in registered:
            cloudpickle.unregister_pickle_by_value(mod)


_PICKLER: Any = None


def _task_pickler() -> Any:
    """cloudpickle's Pickler, except that a code object keeps its ``co_filename``.

    cloudpickle 3.1 replaces the file name of code it pickles by value with ``<dynamic-code>``
    (for payloads that do not depend on where a function was defined); a worker's traceback
    then names no file and shows no source line, and cannot tell the user's frames from
    assetbuild's. The payload is only transport (keys never come from it), so the name is put
    back: cloudpickle's own reducer for code objects still builds the code (whatever its
    arguments are in that cloudpickle and Python version), and :func:`_code_in_file` restores
    the name when the worker loads it. Nested code (lambdas, inner functions) goes through the
    same path. Only a public hook is used (``reducer_override`` and the Pickler's
    ``dispatch_table``); if cloudpickle stops reducing code through its dispatch table, code
    is pickled its way and only tracebacks lose the name."""
    global _PICKLER
    if _PICKLER is not None:
        return _PICKLER
    import types

    import cloudpickle

    reduce_code = cloudpickle.Pickler.dispatch_table.get(types.CodeType)

    class TaskPickler(cloudpickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if type(obj) is types.CodeType and reduce_code is not None:
                make, args = reduce_code(obj)
                return _code_in_file, (make, args, obj.co_filename)
            return super().reducer_override(obj)

    _PICKLER = TaskPickler
    return _PICKLER


def _code_in_file(make: Callable[..., Any], args: tuple[Any, ...], filename: str) -> Any:
    """Unpickling: the code object cloudpickle's reducer describes, under its real file name."""
    code = make(*args)
    return code if code.co_filename == filename else code.replace(co_filename=filename)


def run_payload(payload: bytes, spool_dir: str | None = None,
                prepare: Callable[[Task], Failed | None] | None = None) -> Produced | Failed | Skipped:
    """The entry point of a worker: unpickle a task made by :func:`dump_task` and run it.

    A worker imports the project's modules from their files, which may have been edited since
    the build made its keys. The outcome carries ``project_code``, file -> digest of the source
    of each project module this process has loaded that the asset's code reaches (or of every
    one, when the task does not say what it reaches: ``Task.code_modules``), so the build
    records a result only if that is the code its key was made from. A module another task
    imported after an edit, which this asset's code never reaches, fails it for nothing.

    ``spool_dir`` (a worker on the build's machine): an output of ``SPOOL_MIN`` bytes or more is
    written to a new file there and returned by name (see the module docstring). ``prepare``: called
    on the task before it runs; a failure it returns is the outcome (``sharedworkers``)."""
    import pickle

    from .loader import loaded_sources
    from .metadata import sendable

    try:
        task = pickle.loads(payload)
    except Exception as e:  # noqa: BLE001 - e.g. a project module edited into a syntax error
        outcome: Produced | Failed | Skipped = Failed(f"cannot load it in its worker: {describe_exception(e)}")
    else:
        del payload
        outcome = (prepare and prepare(task)) or run_task(task)
        outcome.project_code = _reached(task)
    if outcome.project_code is None:
        outcome.project_code = loaded_sources()
    for each in (*getattr(outcome, "outs", {}).values(), outcome):  # (a multi-asset's outs)
        if getattr(each, "metadata", None):  # what pickle cannot send back: as a -j 1 build keeps it
            each.metadata = sendable(each.metadata)
    if spool_dir is not None and isinstance(outcome, Produced) and len(outcome.data) >= SPOOL_MIN:
        try:
            outcome.file = write_spool_file(spool_dir, outcome.data)
        except OSError:  # no room in the cache (or it is gone): send the bytes the slow way
            return outcome
        outcome.file_size, outcome.data = len(outcome.data), b""
    return outcome


def _reached(task: Task) -> dict[str, str] | None:  # the project code held here that the asset reaches
    return reached_sources(task.code_modules) if task.code_modules is not None else None


def run_function(fn: Callable[..., Any], asset: str, io_name: str, io: Any, kwargs: dict[str, Any], *,
                 is_user_file: Callable[[str], bool], context: Any = None, io_context: Any = None,
                 output_required: bool = True) -> Produced | Skipped:
    """Call an asset's function and serialize its value with ``io``; AssetFailed on any error.
    ``io_context``: ``io`` keeps its data outside the cache; its ``handle_output`` writes the
    value and the output is the record of what it wrote (assetbuild.external). ``Skip``
    returned: a :class:`Skipped` if ``output_required`` is False, else a failure."""
    value, duration = call_user_function(fn, asset, kwargs, context=context, is_user_file=is_user_file)
    if isinstance(value, Skip):
        if output_required:
            raise AssetFailed(asset, f"returned {value!r}, but only an asset declared with output_required=False "
                              f"may skip; declare @asset(output_required=False), or return a value")
        return Skipped(value.reason, duration, dict(context.metadata) if context is not None else {})
    metadata: dict[str, Any] = {}
    data_version = None
    if isinstance(value, Output):
        metadata.update(value.metadata)
        data_version = value.data_version
        value = value.value
    if context is not None and context.metadata:
        metadata.update(context.metadata)
    if io_context is not None:
        return _handle_output(asset, io_name, io, io_context, value, data_version, metadata, duration,
                              is_user_file)
    return dump_value(asset, io_name, io, value, data_version, metadata, duration)


def call_user_function(fn: Callable[..., Any], asset: str, kwargs: dict[str, Any], *, context: Any,
                       is_user_file: Callable[[str], bool]) -> tuple[Any, float]:
    """Call an asset's (or a multi-asset's) function: its value and how long it took;
    AssetFailed, with the traceback trimmed to user code, if it raises."""
    if context is not None:
        kwargs["context"] = context
    t0 = time.perf_counter()
    with RealInterrupts() as interrupts:
        try:
            value = fn(**kwargs)
        except BaseException as e:  # noqa: BLE001 - whatever the user's code raises fails the asset
            raise AssetFailed(asset, _user_error(e, interrupts), user_traceback(e, is_user_file)) from e
    return value, time.perf_counter() - t0


def dump_value(asset: str, io_name: str, io: Any, value: Any, data_version: str | None,
               metadata: dict[str, Any], duration: float, out: str | None = None) -> Produced:
    """A value as ``io``'s bytes (for ``out`` of a multi-asset ``asset``), with what ``io``
    says of it under ``metadata`` (the asset's own wins); AssetFailed if ``io`` cannot."""
    what = "its value" if out is None else f"its out {out!r}"
    with RealInterrupts() as interrupts:  # an IO manager is user code too
        try:
            data = io.dump(value)
        except BaseException as e:  # noqa: BLE001
            raise AssetFailed(asset, f"cannot store {what} ({type(value).__module__}."
                              f"{type(value).__qualname__}) with io={io_name!r}: "
                              f"{_user_error(e, interrupts)}") from e
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise AssetFailed(asset, f"IO manager {io_name!r} returned {type(data).__name__}, not bytes"
                          + (f" (out {out!r})" if out is not None else ""))
    data = bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    metadata = {**io_metadata(asset, io_name, io, value), **metadata}
    return Produced(data, digest, data_version or digest, duration, metadata)


def _handle_output(asset: str, io_name: str, io: Any, io_context: IOContext, value: Any, data_version: str | None,
                   metadata: dict[str, Any], duration: float, is_user_file: Callable[[str], bool]) -> Produced:
    """Hand a value to a manager that writes it somewhere real; the output is the record of it."""
    from .external import record_bytes

    if data_version is not None:
        raise AssetFailed(asset, f"io={io_name!r} gives the data version of what it writes, so "
                          "Output(data_version=...) cannot be used with it")
    with RealInterrupts() as interrupts:
        try:
            info = io.handle_output(io_context, value)
        except BaseException as e:  # noqa: BLE001 - an IO manager is user code too
            raise AssetFailed(asset, f"cannot store its value ({type(value).__module__}.{type(value).__qualname__}) "
                              f"with io={io_name!r}: {_user_error(e, interrupts)}",
                              user_traceback(e, is_user_file)) from e
    dv = getattr(info, "data_version", None)
    if not isinstance(dv, str) or not dv:
        raise AssetFailed(asset, f"IO manager {io_name!r}: handle_output returned {info!r}, not an "
                          "OutputInfo with a non-empty str data_version")
    metadata.update(getattr(info, "metadata", None) or {})
    metadata.update(io_context.metadata)
    data = record_bytes(io_name, dv)
    return Produced(data, hashlib.sha256(data).hexdigest(), dv, duration, metadata)


def io_metadata(asset: str, io_name: str, io: Any, value: Any) -> dict[str, Any]:
    """What the IO manager says about the value it stored (its optional ``metadata(value)``:
    row counts, shapes, a preview), or {}. It describes the value, not the bytes, so a manager
    computes it from what it has in hand; a failure fails the asset like a failing ``dump``."""
    describe = getattr(io, "metadata", None)
    if not callable(describe):
        return {}
    with RealInterrupts() as interrupts:
        try:
            extra = describe(value)
        except BaseException as e:  # noqa: BLE001 - an IO manager is user code too
            raise AssetFailed(asset, f"IO manager {io_name!r} cannot describe its value: "
                              f"{_user_error(e, interrupts)}") from e
    if not isinstance(extra, Mapping):
        raise AssetFailed(asset, f"IO manager {io_name!r} returned {type(extra).__name__} "
                          "from metadata(value), not a dict")
    return dict(extra)


def run_outs(fn: Callable[..., Any], producer: str, outs: tuple[tuple[str, str, Any, bool], ...],
             kwargs: dict[str, Any], *, is_user_file: Callable[[str], bool], context: Any = None) -> Any:
    """Call a multi-asset's function once and serialize each out it returned; ``outs`` is
    (out name, IO manager name, IO manager, required) in outs order. AssetFailed on any error."""
    value, duration = call_user_function(fn, producer, kwargs, context=context, is_user_file=is_user_file)
    from .multirun import MultiProduced, split_outs

    values, missing = split_outs(producer, value, [(o, required) for o, _, _, required in outs])
    shared = dict(context.metadata) if context is not None and context.metadata else {}
    produced: dict[str, Produced] = {}
    for out, io_name, io, _ in outs:
        if out not in values:
            continue
        v = values[out]
        metadata = dict(shared)
        data_version = None
        if isinstance(v, Output):
            metadata.update(v.metadata)
            data_version = v.data_version
            v = v.value
        produced[out] = dump_value(producer, io_name, io, v, data_version, metadata, duration, out)
    return MultiProduced(produced, missing, duration)
def _user_error(exc: BaseException, interrupts: RealInterrupts) -> str:
    """Why user code (an asset function, an IO manager) failed: one line. A real Ctrl-C that
    came while it ran is raised again as KeyboardInterrupt, even if the code turned it into
    something else."""
    if interrupts.seen:
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        raise interrupts.interrupt() from exc
    return describe_exception(exc) if isinstance(exc, Exception) else _not_an_exception(exc)


def _not_an_exception(exc: BaseException) -> str:
    """Why an asset failed that raised SystemExit, GeneratorExit, KeyboardInterrupt (not a real
    Ctrl-C) or another BaseException: asset code fails its asset, it never ends assetbuild."""
    if isinstance(exc, SystemExit):
        arg = "" if exc.code is None else repr(exc.code)
        return f"called sys.exit({arg}): an asset cannot end assetbuild (raise an exception to fail it)"
    if isinstance(exc, KeyboardInterrupt):
        return "raised KeyboardInterrupt without a Ctrl-C: an asset cannot end assetbuild"
    if isinstance(exc, GeneratorExit):
        return "raised GeneratorExit outside a generator: an asset cannot end assetbuild"
    return f"raised {describe_exception(exc)}, which is not an Exception: an asset cannot end assetbuild"


@functools.lru_cache(maxsize=8)  # (asked once per asset run)
def is_user_file_for(project_dir: str) -> Callable[[str], bool]:
    """A predicate: is this filename the AssetFile or a project module (not an installed package)?"""
    root = os.path.join(project_dir, "")
    own = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")

    def is_user(filename: str) -> bool:
        return filename.startswith(root) and not in_site_directory(filename) and not filename.startswith(own)

    return is_user
