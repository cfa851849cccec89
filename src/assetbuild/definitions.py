"""What a user declares in an AssetFile: ``@asset``, ``@multi_asset`` and its ``Out``s, ``source``,
``@observable_source``, ``@resource``, ``Output``, ``Skip``, ``Observation``, ``AssetContext``.

Decorating costs a few microseconds and never inspects signatures: a project can declare
10,000 assets, and the AssetFile is executed on every run. ``@asset`` returns the function
itself, so it stays callable as plain Python (``inc(1) == 2`` in a unit test).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .declared import (  # noqa: F401  (check_name, check_relpath and UNKILLABLE_EXECUTORS: imported from here too)
    UNKILLABLE_EXECUTORS,
    _check_options,
    _params_of,
    check_duration,
    check_labels,
    check_name,
    check_relpath,
    declared_code,
    plain_str,
)
from .errors import DefinitionError

# The loader points this at a list while it executes an AssetFile; every declaration is appended.
_collector: list[AssetDef | SourceDef | ObservableSourceDef | ResourceDef] | None = None
# ... and, to load a slice of a project the snapshot proved unchanged, at the names of the
# assets it needs: the others' functions are defined as usual, and declare nothing.
_wanted: frozenset[str] | None = None


class AssetDef:
    """One declared asset: its function, how its parameters bind, and how its value is stored."""

    __slots__ = ("name", "fn", "params", "ins", "deps", "io", "path", "code_version", "group",
                 "description", "metadata", "executor", "file", "line", "timeout", "outputs", "volatile",
                 "max_age", "env", "param_defaults", "producer", "output_required", "partitions", "partition",
                 "freshness", "auto", "schedule", "schedule_tz")

    def __init__(self, name: str, fn: Callable[..., Any], params: tuple[tuple[str, bool], ...],
                 ins: dict[str, str], deps: tuple[str, ...], io: str, path: str | None,
                 code_version: str | None, group: str | None, description: str | None,
                 metadata: dict[str, Any], executor: str | None, file: str, line: int,
                 timeout: float | None = None, outputs: tuple[str, ...] = (), volatile: bool = False,
                 max_age: float | None = None, env: tuple[str, ...] = (),
                 param_defaults: dict[str, Any] | None = None, output_required: bool = True,
                 freshness: float | None = None, auto: str | None = None, schedule: str | None = None,
                 schedule_tz: str = "UTC") -> None:
        self.name = name
        self.fn = fn
        self.params = params  # (parameter name, has a default), in call order
        self.ins = ins
        self.deps = deps
        self.io = io
        self.path = path
        self.code_version = code_version
        self.group = group
        self.description = description
        self.metadata = metadata
        self.executor = executor
        self.file = file
        self.line = line
        self.timeout = timeout  # seconds; None: the build's --timeout, if any
        self.outputs = outputs  # files and directories ('/'-ended) the function writes itself
        self.volatile = volatile  # runs on every build (its key gets a fresh nonce)
        self.max_age = max_age  # seconds: reruns when its latest build is older (by assetbuild.clock)
        self.env = env  # environment variables whose values enter its key: sorted, no repeats
        # params=: name -> JSON default ({}: none). Not ``params``, which are the function's own
        self.param_defaults = param_defaults if param_defaults is not None else {}
        self.producer: str | None = None  # an out of a multi-asset: the multi-asset's name
        self.output_required = output_required  # False: it may return Skip(reason) (or an out may be missing)
        self.partitions: Any = None  # its PartitionsDefinition (assetbuild.partitions), if partitioned
        self.partition: Any = None  # one partition's node (assetbuild.partitioned): its PartitionRef
        # when to build it (assetbuild.policies), never what it is: none of these enters its key
        self.freshness = freshness  # seconds: its data must include every upstream change older than that
        self.auto = auto  # "eager", "lazy" or None (never automatically)
        self.schedule = schedule  # a five-field cron expression, in the zone schedule_tz (IANA)
        self.schedule_tz = schedule_tz

    def __repr__(self) -> str:
        return f"<asset {self.name}>"


SOURCE_VERSIONS = ("content", "mtime")


class SourceDef:
    """A file or directory that no asset builds; its data version is a digest of its contents,
    or (``version="mtime"``) of each file's size and mtime_ns."""

    __slots__ = ("name", "path", "file", "line", "description", "group", "version")

    def __init__(self, name: str, path: str, file: str, line: int, description: str | None = None,
                 group: str | None = None, version: str = "content") -> None:
        self.name = name
        self.path = path
        self.file = file
        self.line = line
        self.description = description
        self.group = group
        self.version = version  # one of SOURCE_VERSIONS

    def __repr__(self) -> str:
        return f"<source {self.name} {self.path}>"


class ObservableSourceDef:
    """Something outside the project (an API, a table, a bucket) that no asset builds: its observe
    function ``fn(context)`` returns a version string, or an :class:`Observation`, and that
    version enters its readers' keys. ``poll``: seconds between observations in watch mode
    (None: at start and on file events only)."""

    __slots__ = ("name", "fn", "poll", "group", "description", "file", "line")

    def __init__(self, name: str, fn: Callable[..., Any], poll: float | None, group: str | None,
                 description: str | None, file: str, line: int) -> None:
        self.name = name
        self.fn = fn
        self.poll = poll
        self.group = group
        self.description = description
        self.file = file
        self.line = line

    def __repr__(self) -> str:
        return f"<observable source {self.name}>"


class Observation:
    """What an observe function may return instead of a bare version string: the ``version``
    (a str: it enters the readers' keys), the ``value`` readers receive (default: the version)
    and ``metadata`` recorded with the observation. It is checked when the build uses it, not
    here: a bad version fails the source like any error of its observe function, with a
    message that says what was returned."""

    __slots__ = ("version", "value", "metadata")

    def __init__(self, version: str, value: Any = None, metadata: Mapping[str, Any] | None = None) -> None:
        self.version = version
        self.value = value
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"Observation(version={self.version!r})"


class Output:
    """Returned instead of a bare value to attach metadata or an explicit data version."""

    __slots__ = ("value", "metadata", "data_version")

    def __init__(self, value: Any, metadata: Mapping[str, Any] | None = None,
                 data_version: str | None = None) -> None:
        if data_version is not None and not isinstance(data_version, str):
            raise TypeError("Output(data_version=...) must be a str")
        self.value = value
        self.metadata = dict(metadata or {})
        self.data_version = data_version if data_version is None else plain_str(data_version)


class Skip:
    """Returned by an asset with ``output_required=False`` that has nothing new (``Skip("no new
    orders")``): nothing is recorded but the skip, its previous value stays current for its readers
    (see assetbuild.skips). Not a failure; a multi-asset may give it for an ``Out(required=False)``;
    returned by any other asset (or for a required out), it fails that asset."""

    __slots__ = ("reason",)

    def __init__(self, reason: str = "") -> None:
        self.reason = reason if isinstance(reason, str) else repr(reason)

    def __repr__(self) -> str:
        return f"Skip({self.reason!r})"


class Params(Mapping[str, Any]):
    """``context.params``: the resolved params, read-only. A name the asset does not declare is a
    KeyError that says which it does (a typo in ``context.params["treshold"]``)."""

    __slots__ = ("_asset", "_values")

    def __init__(self, asset: str, values: Mapping[str, Any] | None) -> None:
        self._asset = asset
        self._values = dict(values) if values else {}

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(map(repr, self._values)) or "none; declare them with @asset(params={...})"
            raise KeyError(f"asset {self._asset!r} has no param {name!r} (its params: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values!r})"


def check_metadata(metadata: object) -> Mapping[str, Any]:
    """``add_metadata``'s argument: a dict (a list of names has no values to record)."""
    if not isinstance(metadata, Mapping):
        raise TypeError(f"add_metadata takes a dict of names to values, e.g. add_metadata({{'rows': 3}}), "
                        f"got {metadata!r}")
    return metadata


class AssetContext:
    """Passed to a parameter named ``context``: who is running, where, its params, and a place
    for metadata."""

    outputs: tuple[str, ...] = ()
    # a partitioned asset's partition (assetbuild.partitions): its key; (start, end) aware
    # datetimes of a time partition; the file (a Path) of a file partition. None otherwise.
    partition_key: str | None = None
    partition_window: Any = None
    partition_path: Any = None

    def __init__(self, asset: str, project_dir: Any, log: Any, params: Mapping[str, Any] | None = None) -> None:
        self.asset = asset
        self.project_dir = project_dir
        self.log = log
        self.metadata: dict[str, Any] = {}
        # the asset's resolved params (``@asset(params=...)``), read-only: the values its key was
        # made from, so a function cannot change what a later asset or run sees
        self.params: Mapping[str, Any] = Params(asset, params)

    def set_partition(self, ref: Any, project_dir: Any) -> None:
        """Fill in the partition fields from the task's PartitionRef (assetbuild.partitioned)."""
        self.asset = ref.asset
        self.partition_key = ref.key
        if ref.window is not None:
            from datetime import datetime, timezone

            tz: Any = timezone.utc
            if ref.timezone not in ("UTC", "utc", "Z"):
                from zoneinfo import ZoneInfo

                tz = ZoneInfo(ref.timezone)
            self.partition_window = (datetime.fromtimestamp(ref.window[0], tz), datetime.fromtimestamp(ref.window[1], tz))
        if ref.path is not None:
            self.partition_path = project_dir / ref.path

    def add_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Merge ``metadata`` into what is recorded with this materialization."""
        self.metadata.update(check_metadata(metadata))

    def out(self, declared: str) -> Any:
        """Where to write the declared output ``declared`` (``"model.pkl"``, ``"eval/"``): a
        ``pathlib.Path`` in a staging directory, moved into the project when the asset succeeds."""
        raise ValueError(f"asset {self.asset!r} declares no outputs=, so context.out({declared!r}) has "
                         f"nowhere to write; declare it: @asset(outputs=[{declared!r}])")

    def declared_output(self, declared: object) -> str:
        """The declared output that ``declared`` names (a directory with or without its '/')."""
        if isinstance(declared, str):
            for d in self.outputs:
                if declared.replace("\\", "/") in (d, d.rstrip("/")):
                    return d
        known = ", ".join(repr(d) for d in self.outputs)
        raise ValueError(f"asset {self.asset!r}: context.out({declared!r}) names no declared output "
                         f"(declared: {known})")


def asset(fn: Callable[..., Any] | None = None, *, name: str | None = None,
          ins: Mapping[str, str] | None = None, deps: Iterable[str] = (), io: str | None = None,
          path: str | None = None, code_version: str | None = None, group: str | None = None,
          description: str | None = None, metadata: Mapping[str, Any] | None = None,
          executor: str | None = None, timeout: float | None = None,
          outputs: Iterable[str] | None = None, volatile: bool = False,
          max_age: float | str | None = None, env: Iterable[str] | None = None,
          params: Mapping[str, Any] | None = None, output_required: bool = True,
          partitions: Any = None, freshness: float | str | None = None, auto: str | None = None,
          schedule: str | None = None, timezone: str | None = None) -> Any:
    """Declare ``fn`` as an asset named after it (or ``name``).

    A parameter named like another asset or source receives its value (a ``pathlib.Path`` for a
    source); ``ins={"param": "asset"}`` binds a parameter to another name; ``deps`` adds inputs
    whose data versions enter the key but whose values are not passed. A parameter named
    ``context`` receives an :class:`AssetContext`. ``io`` names the IO manager that turns the value
    into bytes; ``path`` also writes those bytes to a workspace file. ``code_version`` replaces
    automatic code fingerprinting. ``outputs`` declares files and directories (ending with
    '/') that the function writes itself, through ``context.out(...)``: it then returns None
    (or ``Output(None, metadata=...)``), and readers receive the files' paths. ``timeout`` (seconds) fails the asset with "timed out after
    N s" and kills its worker when it runs longer (without a worker, as with ``-j 1``, a timed
    asset runs in a worker process of its own; the ``threads`` executor cannot stop a thread, so
    it refuses a timeout). ``volatile=True`` runs the asset on every build (it reads something no
    key can see); ``max_age`` (seconds, or ``"90m"``, ``"1h"``, ``"2d"``) reruns it when its latest
    build is older than that. Either way, readers rerun only when its bytes change. ``env``
    names environment variables whose values (unset is not empty) enter the key. ``params``
    declares parameters with JSON defaults, which pyproject.toml, ``--param`` and
    ``build(params=...)`` may override for a run; the function reads the resolved values from
    ``context.params``, and they enter the key (going back to earlier values reuses earlier work).
    An ``ins`` glob (``"page/*"``) or ``"group:NAME"`` passes a dict ``{name: value}`` of every
    match, by name (assetbuild.fanin); ``output_required=False`` lets it return :class:`Skip`.
    ``partitions`` (``DailyPartitions(...)``, ``StaticPartitions([...])``, ``FilePartitions(glob)``...)
    makes one materialization per key, each with its own cache key; ``path`` must then contain
    ``{partition}``, and ``context.partition_key`` says which one runs (assetbuild.partitions).
    """
    declared_params = params  # ``params`` below is the function's parameters (AssetDef.params)

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        if _wanted is not None and (name if name is not None else getattr(f, "__name__", None)) not in _wanted:
            return f
        code = declared_code(f, "@asset")
        file, line = code.co_filename, code.co_firstlineno
        aname = check_name(name if name is not None else getattr(f, "__name__", None), "asset",
                           file=file, line=line)
        params, ins_map, dep_list, io_name, rel, limit, age, env_names, defaults, outs = _check_options(
            f, aname, file=file, line=line, ins=ins, deps=deps, io=io, path=path, code_version=code_version,
            executor=executor, timeout=timeout, outputs=outputs, volatile=volatile, max_age=max_age, env=env,
            params=declared_params)
        if group is not None or description is not None or metadata is not None:
            check_labels(f"asset {aname!r}", group=group, description=description, metadata=metadata,
                         file=file, line=line)
        if not isinstance(output_required, bool):
            raise DefinitionError(f"asset {aname!r}: output_required must be True or False, got "
                                  f"{output_required!r}", file=file, line=line)
        asset_def = AssetDef(aname, f, params, ins_map, dep_list, io_name, rel, code_version, group,
                             description, dict(metadata) if metadata else {}, executor, file, line, limit,
                             outs, volatile, age, env_names, defaults, output_required)
        if partitions is not None or "{partition}" in (rel or "") or (outs and any("{partition}" in o for o in outs)):
            from .declared import check_partitions

            asset_def.partitions = check_partitions(partitions, aname, rel, outs, ins_map, file=file, line=line)
        if freshness is not None or auto is not None or schedule is not None or timezone is not None:
            from .declared import check_policy

            (asset_def.freshness, asset_def.auto, asset_def.schedule, asset_def.schedule_tz) = check_policy(
                aname, freshness=freshness, auto=auto, schedule=schedule, timezone=timezone, file=file, line=line)
        try:
            f.__assetbuild_asset__ = asset_def  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        if _collector is not None:
            _collector.append(asset_def)
        return f

    if fn is not None:
        if not callable(fn):
            raise DefinitionError(f"@asset used with a positional argument {fn!r}; use keywords, "
                                  "e.g. @asset(name='x')", file=sys._getframe(1).f_code.co_filename,
                                  line=sys._getframe(1).f_lineno)
        return decorate(fn)
    return decorate


def source(name: str, path: str, *, description: str | None = None, group: str | None = None,
           version: str = "content", freshness: object = None) -> SourceDef:
    """Declare a file or directory (relative to the project directory) that no asset builds.

    ``version`` says what counts as a change: ``"content"`` (the default) hashes the bytes (a
    stat cache skips unchanged files); ``"mtime"`` uses each file's size and mtime_ns and never
    reads it, for files too big to hash on every change. An mtime version differs between
    checkouts, so readers of such a source do not share cached results across machines.
    """
    frame = sys._getframe(1)
    file, line = frame.f_code.co_filename, frame.f_lineno
    name = check_name(name, "source", file=file, line=line)  # (in the form Python gives identifiers)
    if freshness is not None:  # accepted only to say where it belongs
        from .declared import refuse_source_freshness

        refuse_source_freshness(name, "source", file=file, line=line)
    if not isinstance(path, str) or not path:
        raise DefinitionError(f"source {name!r}: path must be a non-empty string", file=file, line=line)
    if group is not None or description is not None:
        check_labels(f"source {name!r}", group=group, description=description, file=file, line=line)
    if version not in SOURCE_VERSIONS:
        raise DefinitionError(f"source {name!r}: version must be 'content' (hash the bytes) or 'mtime' "
                              f"(size and modification time), got {version!r}", file=file, line=line)
    d = SourceDef(name, path, file, line, description, group, version)
    if _collector is not None:
        _collector.append(d)
    return d


class ResourceDef:
    """A live object (a connection, a client) that assets receive by naming it, made by ``fn``.

    Not data: it has no data version, and enters its users' keys only through ``version`` (its
    code is not fingerprinted into them, so a test double can stand in without changing a key).
    ``generator``: ``fn`` yields the object once and the code after the ``yield`` is its teardown.
    """

    __slots__ = ("name", "fn", "version", "file", "line", "description", "generator", "context")

    def __init__(self, name: str, fn: Callable[..., Any], version: str | None, file: str, line: int,
                 description: str | None = None, generator: bool = False, context: bool = False) -> None:
        self.name = name
        self.fn = fn
        self.version = version  # enters the keys of the assets that use it; None: nothing does
        self.file = file
        self.line = line
        self.description = description
        self.generator = generator
        self.context = context  # fn takes a parameter ``context`` (a ResourceContext)

    def __repr__(self) -> str:
        return f"<resource {self.name}>"


class ResourceContext:
    """Passed to a resource function's ``context`` parameter: which resource, the project
    directory (a ``pathlib.Path``) and a logger."""

    def __init__(self, resource: str, project_dir: Any, log: Any) -> None:
        self.resource = resource
        self.project_dir = project_dir
        self.log = log


def resource(fn: Callable[..., Any] | None = None, *, name: str | None = None, version: str | None = None,
             description: str | None = None) -> Any:
    """Declare ``fn`` as a resource named after it (or ``name``): an asset parameter of that
    name receives the object ``fn`` returns, or the one it yields (the code after a single
    ``yield`` runs when the build ends, even a failed one). It is made lazily, at most once per
    build in each process that runs an asset needing it. ``fn`` takes no parameters, or only
    ``context`` (a :class:`ResourceContext`): a resource cannot depend on assets. ``version``
    (a str) enters the keys of the assets that use it; without it the resource enters no key,
    so replacing it (``build(resources={...})``, a test double) reruns nothing.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        code = declared_code(f, "@resource")
        file, line = code.co_filename, code.co_firstlineno
        rname = check_name(name if name is not None else getattr(f, "__name__", None), "resource",
                           file=file, line=line)
        if code.co_flags & 0x280:  # CO_COROUTINE | CO_ASYNC_GENERATOR
            raise DefinitionError(f"resource {rname!r} is an async function; a resource returns its "
                                  "object or yields it once", file=file, line=line)
        params = [p for p, _ in _params_of(f, file, line, "resource")]
        others = [p for p in params if p != "context"]
        if others:
            raise DefinitionError(f"resource {rname!r} takes parameter {others[0]!r}: a resource cannot "
                                  "depend on assets; it takes no parameters, or only 'context'",
                                  file=file, line=line)
        if version is not None and (not isinstance(version, str) or not version):
            raise DefinitionError(f"resource {rname!r}: version must be a non-empty str, got {version!r}",
                                  file=file, line=line)
        rdef = ResourceDef(rname, f, version if version is None else plain_str(version), file, line, description, bool(code.co_flags & 0x20),
                           "context" in params)
        try:
            f.__assetbuild_resource__ = rdef  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        if _collector is not None:
            _collector.append(rdef)
        return f

    if fn is not None:
        if not callable(fn):
            raise DefinitionError(f"@resource used with a positional argument {fn!r}; use keywords, "
                                  "e.g. @resource(version='2')", file=sys._getframe(1).f_code.co_filename,
                                  line=sys._getframe(1).f_lineno)
        return decorate(fn)
    return decorate


def observable_source(fn: Callable[..., Any] | None = None, *, name: str | None = None,
                      poll: float | str | None = None, group: str | None = None,
                      description: str | None = None, freshness: object = None) -> Any:
    """Declare ``fn`` as an observable source named after it (or ``name``).

    ``fn`` takes no parameter but an optional ``context`` and returns a version string, or
    ``Observation(version, value=None, metadata=None)``. A build (and ``status``, ``-n``,
    ``why``) calls it once, in the main process, before deciding any asset that reads it: a
    parameter named after the source receives ``value`` (or the version when there is none),
    and the version enters that reader's key, so a new version reruns the reader, an unchanged
    one keeps it cached and a version seen before reuses the outputs built for it. Observe
    functions must be cheap (an HTTP HEAD, a ``SELECT max(updated_at)``). ``poll`` (seconds, or
    ``"30s"``, ``"5m"``...): how often watch mode observes it again (None: at start and on file
    events only). The function stays callable as plain Python.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        code = declared_code(f, "@observable_source")
        file, line = code.co_filename, code.co_firstlineno
        sname = check_name(name if name is not None else getattr(f, "__name__", None), "observable source",
                           file=file, line=line)
        if freshness is not None:  # accepted only to say where it belongs
            from .declared import refuse_source_freshness

            refuse_source_freshness(sname, "observable source", file=file, line=line)
        if code.co_flags & 0x2A0:  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
            kind = "an async function" if code.co_flags & 0x280 else "a generator function"
            raise DefinitionError(f"observable source {sname!r}: its observe function is {kind}; it must "
                                  "return a version string or an Observation", file=file, line=line)
        params = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        extra = [p for p in params if p != "context"]
        if extra or code.co_flags & 0x0C:  # CO_VARARGS | CO_VARKEYWORDS
            got = ", ".join(extra) if extra else "*args/**kwargs"
            raise DefinitionError(f"observable source {sname!r}: its observe function takes only 'context' "
                                  f"(got {got}); it reads the outside world, not other assets",
                                  file=file, line=line)
        every = check_duration(poll, f"observable source {sname!r}: poll", file=file, line=line) \
            if poll is not None else None
        if group is not None or description is not None:
            check_labels(f"observable source {sname!r}", group=group, description=description, file=file,
                         line=line)
        d = ObservableSourceDef(sname, f, every, group, description, file, line)
        try:
            f.__assetbuild_observable_source__ = d  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        if _collector is not None:
            _collector.append(d)
        return f

    if fn is not None:
        if not callable(fn):
            raise DefinitionError(f"@observable_source used with a positional argument {fn!r}; use keywords, "
                                  "e.g. @observable_source(poll=60)", file=sys._getframe(1).f_code.co_filename,
                                  line=sys._getframe(1).f_lineno)
        return decorate(fn)
    return decorate
