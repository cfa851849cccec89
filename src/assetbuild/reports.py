"""Frozen records passed between the engine, the hooks and the faces (CLI, Python API).

The public records are dataclasses (``dataclasses.fields``, ``replace`` and ``asdict`` work on
them) whose ``__init__`` is written out and whose other methods come from ``FrozenRecord``: a frozen
dataclass makes six methods with one ``exec`` each, 0.5-0.8 ms a class, paid by every command
that imports this module. ``tests/test_reports.py`` holds each to what ``@dataclass(frozen=True)``
would make.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import FrozenInstanceError, dataclass, field, fields
from typing import Any, Literal, NamedTuple

Status = Literal["built", "cached", "restored", "failed", "skipped"]
# failed: its current key's last run failed; overdue: fresh or stale, and behind its freshness policy
State = Literal["fresh", "stale", "missing", "failed", "overdue"]


class FrozenRecord:
    """``__eq__``, ``__hash__``, ``__repr__`` and the refusal to change a field, as
    ``@dataclass(frozen=True)`` makes them, for a dataclass declared ``init=False, repr=False,
    eq=False`` whose ``__init__`` sets its fields in its ``__dict__`` (as unpickling does)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _values(self, _compared(self.__class__)) == _values(other, _compared(self.__class__))

    def __hash__(self) -> int:
        return hash(_values(self, _compared(self.__class__)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)  # type: ignore[arg-type]
        return f"{self.__class__.__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


_COMPARED: dict[object, tuple[str, ...]] = {}


def _compared(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` that equality and the hash compare."""
    names = _COMPARED.get(cls)
    if names is None:
        names = _COMPARED[cls] = tuple(f.name for f in fields(cls) if f.compare)
    return names


def _values(obj: object, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple([getattr(obj, n) for n in names])


@dataclass(init=False, repr=False, eq=False)
class Reason(FrozenRecord):
    """One cause of a decision: a stable code (``code-changed``...) and a human detail."""

    code: str
    detail: str

    def __init__(self, code: str, detail: str) -> None:
        self.__dict__.update(code=code, detail=detail)

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass(init=False, repr=False, eq=False)
class Decision(FrozenRecord):
    """The rebuilder's verdict for one asset: run it, reuse it, or restore it (its path output, or
    a stored value that is not its latest build's)."""

    action: Literal["run", "cached", "restore"]
    reasons: tuple[Reason, ...] = ()

    def __init__(self, action: Literal["run", "cached", "restore"], reasons: tuple[Reason, ...] = ()) -> None:
        self.__dict__.update(action=action, reasons=reasons)


@dataclass(init=False, repr=False, eq=False)
class AssetResult(FrozenRecord):
    """What happened to one asset in a build."""

    asset: str
    status: Status
    key: str | None = None
    data_version: str | None = None
    duration_s: float = 0.0
    error: str | None = None
    traceback: str | None = None
    reasons: tuple[Reason, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    # its run's context.log lines and the lines it wrote to stdout and stderr, in order, as
    # (logging level, text); see assetbuild.capture for the levels of the output lines
    logs: tuple[tuple[int, str], ...] = ()
    # why a "skipped" asset produced nothing, when that is no failure: the reason its Skip gave,
    # or "upstream 'x' produced no output" (see assetbuild.skips); None for any other result
    skip_reason: str | None = None
    # a "failed" asset whose result was dropped because a source or its code changed while it
    # ran: nothing is wrong with it, and building again is the remedy (``run`` holds it back for
    # no retry backoff and sends no ``failed`` alert)
    changed_during_run: bool = False

    def __init__(self, asset: str, status: Status, key: str | None = None, data_version: str | None = None,
                 duration_s: float = 0.0, error: str | None = None, traceback: str | None = None,
                 reasons: tuple[Reason, ...] = (), metadata: dict[str, Any] | None = None,
                 logs: tuple[tuple[int, str], ...] = (), skip_reason: str | None = None,
                 changed_during_run: bool = False) -> None:
        self.__dict__.update(asset=asset, status=status, key=key, data_version=data_version, duration_s=duration_s,
                             error=error, traceback=traceback, reasons=reasons,
                             metadata={} if metadata is None else metadata, logs=logs, skip_reason=skip_reason,
                             changed_during_run=changed_during_run)

    def to_json(self) -> dict[str, Any]:
        """Its ``--json`` form; ``metadata`` typed (``{name: {"type", "value"}}``) for a built
        asset, empty otherwise (a cached result does not read its trace's metadata)."""
        metadata = {}
        if self.status == "built" and self.metadata:
            from .metadata import metadata_to_json

            metadata = metadata_to_json(self.metadata)
        doc = {"asset": self.asset, "status": self.status, "key": self.key,
               "data_version": self.data_version, "duration_s": round(self.duration_s, 6),
               "error": self.error, "metadata": metadata}
        if self.skip_reason is not None:
            doc["skip_reason"] = self.skip_reason
        return doc


def cached_result(asset: str, key: str | None, data_version: str) -> AssetResult:
    """``AssetResult(asset, "cached", key=key, data_version=data_version)``, made without a call
    of ``__init__``: a null build makes one per asset (and per partition). The other fields are
    the class's defaults, as the constructor would set them."""
    r = object.__new__(AssetResult)
    r.__dict__.update(asset=asset, status="cached", key=key, data_version=data_version, metadata={})
    return r


@dataclass(init=False, repr=False, eq=False)
class ObservationResult(FrozenRecord):
    """One call of an observable source's observe function: the version it returned (None if it
    failed), the value its readers receive, its metadata, or the error (one line) and the
    traceback trimmed to user code. ``observed_ns``: when, by assetbuild.clock. ``changed``:
    whether the version differs from the source's previous recorded observation (None: not
    compared)."""

    source: str
    version: str | None
    value: Any = None  # what readers receive: the Observation's value, else the version
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    duration_s: float = 0.0
    observed_ns: int = 0
    changed: bool | None = None
    logs: tuple[tuple[int, str], ...] = ()

    def __init__(self, source: str, version: str | None, value: Any = None, metadata: dict[str, Any] | None = None,
                 error: str | None = None, traceback: str | None = None, duration_s: float = 0.0,
                 observed_ns: int = 0, changed: bool | None = None, logs: tuple[tuple[int, str], ...] = ()) -> None:
        self.__dict__.update(source=source, version=version, value=value,
                             metadata={} if metadata is None else metadata, error=error, traceback=traceback,
                             duration_s=duration_s, observed_ns=observed_ns, changed=changed, logs=logs)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "version": self.version, "changed": bool(self.changed),
                "error": self.error}

    def as_failed_result(self) -> AssetResult:
        """A failed observation as the build reports it: a failed result of the source, before
        any asset's (``metadata["kind"]`` says it is an observable source's)."""
        return AssetResult(self.source, "failed", duration_s=self.duration_s, error=self.error,
                           traceback=self.traceback, metadata={"kind": "observable_source"})


_STATUSES = ("built", "cached", "restored", "failed", "skipped")  # Status's words


def _status(status: object) -> Status:
    if status not in _STATUSES:
        raise ValueError(f"{status!r} is no result status; a result is one of: {', '.join(_STATUSES)}")
    return status  # type: ignore[return-value]


@dataclass(init=False, repr=False, eq=False)
class BuildResult(FrozenRecord):
    """A whole build: one result per selected asset, in build order (after a failed result for
    each observable source whose observation failed); the build's observations."""

    results: tuple[AssetResult, ...]
    duration_s: float
    dry_run: bool = False
    observations: tuple[ObservationResult, ...] = ()
    run: int | None = None  # the sequence number of the run it recorded (None: it recorded none)

    def __init__(self, results: tuple[AssetResult, ...], duration_s: float, dry_run: bool = False,
                 observations: tuple[ObservationResult, ...] = (), run: int | None = None) -> None:
        self.__dict__.update(results=results, duration_s=duration_s, dry_run=dry_run, observations=observations,
                             run=run)

    @functools.cached_property  # once per result: the CLI, the reporter and the run's record ask
    def ok(self) -> bool:
        """Every selected asset is fresh at the end, or skipped by its own choice (``Skip``), or
        skipped without an error because a run produced no value for it or its upstream (a dry
        run is ok unless it predicts an asset that is not: a missing source, a failed observation,
        an ``--only`` input never built)."""
        return all(r.status != "failed" and (r.status != "skipped" or r.skip_reason is not None
                                                             or r.error is None)
                                   for r in self.results)

    def count(self, status: Status) -> int:
        """How many results have ``status`` ("built", "cached", "restored", "failed", "skipped")."""
        return self._counts.get(_status(status), 0)

    @functools.cached_property
    def _counts(self) -> dict[str, int]:  # one pass for every count: a null build's summary asks five
        from collections import Counter

        return dict(Counter(r.status for r in self.results))

    def names(self, status: Status) -> list[str]:
        """The assets whose results have ``status``, in build order; a word that is no status is
        a ValueError (a misspelt one would give an empty list, which a test would take as true)."""
        status = _status(status)
        return [r.asset for r in self.results if r.status == status]

    def by_asset(self) -> dict[str, Status]:
        """Each asset's status, in build order."""
        return {r.asset: r.status for r in self.results}

    def to_json(self) -> dict[str, Any]:
        """Its ``--json`` document (``build --json``); a dry run's (``-n --json``) also says, of
        each asset, what the build would do (``would``: run, restore, maybe; null when cached
        or it cannot) and why (``reasons``)."""
        doc: dict[str, Any] = {"ok": self.ok, "results": [r.to_json() for r in self.results]}
        if self.observations:
            doc["observations"] = [o.to_json() for o in self.observations]
        if self.dry_run:
            doc["dry_run"] = True
            for entry, r in zip(doc["results"], self.results):
                entry["would"] = r.metadata.get("would")
                entry["reasons"] = [x.to_json() for x in r.reasons]
        return doc


@dataclass(init=False, repr=False, eq=False)
class AssetStatus(FrozenRecord):
    """Whether one asset is up to date, and why not."""

    asset: str
    state: State
    reasons: tuple[Reason, ...] = ()
    # its policy, when it declares one (``@asset(freshness=, auto=, schedule=)``): the keys of
    # those it declares ("freshness" in seconds, "auto", "schedule"; "timezone" when not UTC)
    policy: dict[str, Any] | None = None
    lag_s: float | None = None  # overdue: seconds since the oldest change it does not include
    context: bool = False  # not selected: upstream of the selection, shown as context (status -v)

    def __init__(self, asset: str, state: State, reasons: tuple[Reason, ...] = (), policy: dict[str, Any] | None = None,
                 lag_s: float | None = None, context: bool = False) -> None:
        self.__dict__.update(asset=asset, state=state, reasons=reasons, policy=policy, lag_s=lag_s, context=context)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"asset": self.asset, "state": self.state,
                               "reasons": [r.to_json() for r in self.reasons]}
        if self.policy is not None:
            doc["policy"] = self.policy
        if self.lag_s is not None:
            doc["lag_s"] = round(self.lag_s, 3)
        if self.context:
            doc["context"] = True
        return doc


class Trace(NamedTuple):
    """What one key produced. Immutable: a key always means the same output."""

    data_version: str
    output_digest: str
    io: str
    size: int
    duration_s: float
    created_ns: int
    metadata_json: str

    @property
    def origin(self) -> str:
        """Where the store found it: "local", or "remote" (see assetbuild.remote)."""
        return "local"


class Head(NamedTuple):
    """An asset's latest materialization, with its key's parts so `status` and `why` can explain."""

    key: str
    data_version: str
    output_digest: str
    code: str
    code_parts: dict[str, str]
    inputs: tuple[tuple[str, str], ...]
    io: str
    path: str | None
    path_stat: tuple[int, int, int, int] | None
    built_ns: int
    size: int
    duration_s: float
    sources: tuple[tuple[str, str], ...] = ()  # KeyParts.sources (absent in heads of older versions)
    env: tuple[tuple[str, str | None], ...] = ()  # KeyParts.env (absent in heads of older versions)
    params: str = ""  # KeyParts.params (absent in heads of older versions)
    resources: tuple[tuple[str, str], ...] = ()  # KeyParts.resources (absent in heads of older versions)
    fan_in: tuple[tuple[str, int], ...] = ()  # KeyParts.fan_in (absent in heads of older versions)
    producer: str = ""  # KeyParts.producer: its multi-asset (absent in heads of older versions)
    # (part label, short repr) of the plain data behind its global:/closure: code parts, so
    # ``why`` can show a changed constant's old value (not in the key; absent in older heads)
    code_values: tuple[tuple[str, str], ...] = ()
    # (code part, sha256 of the text of its file, its first line) of the asset's function ("code")
    # and of each helper function ("helper:..."); the texts kept once per digest in the store
    # (``texts``): why shows a changed function's source as a diff
    source_at: tuple[tuple[str, str, int], ...] = ()
    partition: str = ""  # KeyParts.partition (absent in heads of older versions)
    out_index: int = -1  # KeyParts.out_index (absent in heads of older versions)
    binding: tuple[str, ...] = ()  # KeyParts.binding (absent in heads of older versions)


class SkipRecord(NamedTuple):
    """An asset's latest skip (``Skip`` returned with ``output_required=False``), as the store
    keeps it: when (ns, by assetbuild.clock), the reason, and the key it ran under (``status``
    and ``why`` mention it while that key is still the asset's and has no trace)."""

    skipped_ns: int
    reason: str
    key: str


class Event(NamedTuple):
    """One thing that happened to an asset in a run, as history keeps it: a materialization, a
    restore, a failure, a skip or an observation (``kind``). Times are by assetbuild.clock."""

    run: int  # the run's sequence number (its id is that number, zero-padded: run_id)
    asset: str
    kind: str  # "materialized" | "restored" | "failed" | "skipped" | "observed" | "accepted"
    start_ns: int
    end_ns: int
    duration_s: float
    key: str | None = None
    code: str | None = None  # the code fingerprint, or "v:" + code_version
    inputs: tuple[tuple[str, str], ...] = ()  # (input, data version)
    data_version: str | None = None
    size: int | None = None
    metadata_json: str = ""  # assetbuild.metadata's stored form
    reasons: tuple[tuple[str, str], ...] = ()  # (code, detail)
    error: str | None = None
    traceback: str | None = None
    order: int = 0  # its place among the run's events (1, 2...): "in the order they happened"


# the kinds of events that leave a value current: their keys are versions of the asset
VALUE_KINDS = ("materialized", "restored", "accepted")


class RunRecord(NamedTuple):
    """One command that built, restored or observed something: what was asked, when, how it
    ended, how many assets came out how, and each asset's log lines."""

    seq: int
    command: str  # the command line as typed, or "python: build(...)" from the API
    selection: tuple[str, ...]
    start_ns: int
    end_ns: int
    counts: dict[str, int]  # status -> number of assets (cached ones included)
    # 0 ok, 1 an asset failed, 2 an error, 130 interrupted, 143 SIGTERM; None: not finished (the
    # record its first event wrote: still running, or killed before it could record its end)
    exit_status: int | None
    logs: dict[str, tuple[tuple[int, str], ...]]  # asset -> (level, text) lines
    duration_s: float = 0.0  # time it took (real time: start and end follow ASSETBUILD_NOW)


def run_id(seq: int) -> str:
    """A run's id: its sequence number in the cache directory, zero-padded so ids sort."""
    return f"{seq:06d}"


class ObservationRecord(NamedTuple):
    """An observation as the store keeps it (the latest per observable source): when (ns, by
    assetbuild.clock), the version, and its metadata as JSON."""

    observed_ns: int
    version: str
    metadata_json: str = "{}"


@dataclass(init=False, repr=False, eq=False)
class WatchCycle(FrozenRecord):
    """One build of watch mode: what changed (None for the first build), then the build's result,
    or the one-line error that stopped it before anything ran (the AssetFile does not load...)."""

    changed: tuple[str, ...] | None
    result: BuildResult | None
    error: str | None
    started: float  # time.time()
    duration_s: float

    def __init__(self, changed: tuple[str, ...] | None, result: BuildResult | None, error: str | None,
                 started: float, duration_s: float) -> None:
        self.__dict__.update(changed=changed, result=result, error=error, started=started, duration_s=duration_s)

    def said(self, *, always: bool = False) -> bool:
        """Whether watch prints it (and counts it as a build): the first one, an error, one in
        which something ran, or any when ``always`` (the one after a failure, to say it is over);
        a save that changed no key prints nothing."""
        r = self.result
        return (always or self.changed is None or self.error is not None
                or (r is not None and any(x.status != "cached" for x in r.results)))


@dataclass(init=False, repr=False, eq=False)
class WatchSummary(FrozenRecord):
    """A whole watch session, returned when it stops."""

    builds: int  # the cycles it printed (WatchCycle.said)
    failed: int  # builds that ended with a failed asset or an error
    duration_s: float
    stopped_by: str  # "SIGINT", "SIGTERM", "KeyboardInterrupt" or "stop"
    interrupted: bool = False  # the stop interrupted a build (not counted in ``builds``)

    def __init__(self, builds: int, failed: int, duration_s: float, stopped_by: str,
                 interrupted: bool = False) -> None:
        self.__dict__.update(builds=builds, failed=failed, duration_s=duration_s, stopped_by=stopped_by,
                             interrupted=interrupted)


def build_summary(statuses: Iterable[str]) -> dict[str, Any]:
    """What ``cache stats`` reports of the last build: counts per status and the hit rate
    (reused / (reused + run); None when nothing was decided)."""
    counts = {s: 0 for s in ("built", "cached", "restored", "failed", "skipped")}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    reused = counts["cached"] + counts["restored"]
    decided = reused + counts["built"] + counts["failed"]
    return {"assets": sum(counts.values()), **counts,
            "hit_rate": round(reused / decided, 4) if decided else None}

