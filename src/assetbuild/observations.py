"""Running observe functions: the user code behind ``@observable_source``.

An observation runs in the main process, before any asset that reads the source is decided,
at most once per build (``status``, ``-n``, ``why`` and ``assetbuild observe`` run them too).
What the function returns is checked here, so that a mistake (no version, a version that is
not a str) fails the source with a message that says what was returned, as an exception in the
function does, with its traceback trimmed to user code like a failed asset's. The outcome is
an :class:`ObservationResult`, never an exception (a real Ctrl-C still ends the build).

Recording (the store) and comparing with the previous observation belong to the caller
(``session.observing``); this module only calls user code and times it (``assetbuild.clock``).
(It is not ``observe.py``: ``assetbuild.observe`` is the API function, and a submodule of that
name would hide it once imported.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .capture import collecting_logger
from .clock import now_ns
from .definitions import AssetContext, ObservableSourceDef, Observation
from .execute import _user_error, is_user_file_for, user_traceback
from .interrupts import RealInterrupts
from .reports import ObservationRecord, ObservationResult
from .usercode import running_user_code

_RETURN = "return a version string, or Observation(version, value=None, metadata=None)"


def observe_source(d: ObservableSourceDef, project_dir: str | Path) -> ObservationResult:
    """Call ``d``'s observe function once and check what it returned."""
    logs: list[tuple[int, str]] = []
    when = now_ns()
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = {}
    code = getattr(d.fn, "__code__", None)
    if code is not None and "context" in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]:
        context = AssetContext(d.name, Path(project_dir), collecting_logger(d.name, logs))
        kwargs["context"] = context
    else:
        context = None
    with RealInterrupts() as interrupts, running_user_code(str(project_dir)):
        try:
            returned = d.fn(**kwargs)
        except BaseException as e:  # noqa: BLE001 - whatever the user's code raises fails the source
            return ObservationResult(d.name, None, error=_user_error(e, interrupts),
                                     traceback=user_traceback(e, is_user_file_for(str(project_dir))),
                                     duration_s=time.perf_counter() - t0, observed_ns=when, logs=tuple(logs))
    duration = time.perf_counter() - t0
    metadata: Any = None
    value: Any = None
    if isinstance(returned, Observation):
        version, value, metadata = returned.version, returned.value, returned.metadata
        what = "an Observation whose version is"
    else:
        version, what = returned, "its observe function returned"
    problem = _version_problem(version, what)
    if problem is None and metadata is not None and not isinstance(metadata, Mapping):
        problem = f"an Observation's metadata must be a mapping (a dict), got {type(metadata).__name__}"
    if problem is not None:
        return ObservationResult(d.name, None, error=problem, duration_s=duration, observed_ns=when,
                                 logs=tuple(logs))
    meta = dict(metadata or {})
    if context is not None and context.metadata:
        meta.update(context.metadata)
    version = str.__str__(version)  # (numpy.str_, a StrEnum: the text; the store records only a str)
    return ObservationResult(d.name, version, version if value is None else value, meta, duration_s=duration,
                             observed_ns=when, logs=tuple(logs))


def _version_problem(version: object, what: str) -> str | None:
    if isinstance(version, str) and version:
        return None
    if isinstance(version, str):  # empty
        return f"{what} an empty string; a version must name the state it observed ({_RETURN})"
    shown = repr(version)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{what} {shown} ({type(version).__name__}), not a str: {_RETURN}"


def observe_sources(defs: Iterable[ObservableSourceDef], project_dir: str | Path) -> dict[str, ObservationResult]:
    """Observe each source once, in the order given."""
    return {d.name: observe_source(d, project_dir) for d in defs}


def record_of(obs: ObservationResult) -> ObservationRecord:
    """What the store keeps of a successful observation (metadata as JSON; a value JSON cannot
    hold is kept as its repr)."""
    assert obs.version is not None, "a failed observation is not recorded"
    return ObservationRecord(obs.observed_ns, obs.version, _metadata_json(obs.metadata))


def _metadata_json(meta: dict[str, Any]) -> str:
    """Metadata as JSON: keys as strings when they are of mixed types, a value JSON cannot hold
    as its repr (a value that contains itself too); never an exception: a lone surrogate as its
    escape, and a value even a repr cannot write (an int past Python's digit limit, nesting too
    deep) as text saying so (``metadata.plain_data``), as a materialization's metadata keeps them."""
    from .metadata import entry_name, plain_data

    for keyed in (meta, {entry_name(k): v for k, v in meta.items()}):
        try:
            text = json.dumps(keyed, sort_keys=True, default=repr)
        except Exception:  # noqa: BLE001 - a repr may raise anything (and deep nesting RecursionError)
            continue
        if "\\ud" not in text:  # (no escaped surrogate: none lone, which no output could write)
            return text
        break
    plain = {entry_name(k): v if isinstance(v, float) else plain_data(v) for k, v in meta.items()}
    return json.dumps(dict(sorted(plain.items())))  # (names sorted; a value's own keys may be of mixed types)
