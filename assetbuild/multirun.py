"""Running a multi-asset's function once and splitting what it returned into its outs.

Runs where the task runs (a thread, a worker process, a cluster worker), like
``execute.run_function``: the function returns a dict by out name, a tuple in ``outs`` order, or
``Output(...)`` per out; each out's value is serialized by its own IO manager and digested. A
required out that is missing fails the run naming it; a missing optional out
(``Out(required=False)``) is reported in ``missing``, so the build records nothing new for it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .definitions import Output
from .errors import AssetFailed
from .execute import LogLines, Produced, _RealInterrupts, _user_error, user_traceback


@dataclass
class MultiProduced:
    """One run of a multi-asset: a ``Produced`` per out it returned, the optional outs it did
    not return, and what the run as a whole reports (logs, the project code it ran)."""

    outs: dict[str, Produced]
    missing: tuple[str, ...]
    duration_s: float
    logs: LogLines = field(default_factory=list)
    project_code: dict[str, str] | None = None
    file = None  # never spooled: each out's bytes travel in its Produced
    ok = True


def run_outs(fn: Callable[..., Any], producer: str, outs: tuple[tuple[str, str, Any, bool], ...],
             kwargs: dict[str, Any], *, is_user_file: Callable[[str], bool], context: Any = None) -> MultiProduced:
    """Call a multi-asset's function once and serialize each out it returned; ``outs`` is
    (out name, IO manager name, IO manager, required) in outs order. AssetFailed on any error."""
    if context is not None:
        kwargs["context"] = context
    t0 = time.perf_counter()
    with _RealInterrupts() as interrupts:
        try:
            value = fn(**kwargs)
        except BaseException as e:  # noqa: BLE001 - whatever the user's code raises fails the run
            raise AssetFailed(producer, _user_error(e, interrupts), user_traceback(e, is_user_file)) from e
    duration = time.perf_counter() - t0
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
        with _RealInterrupts() as interrupts:  # an IO manager is user code too
            try:
                data = io.dump(v)
            except BaseException as e:  # noqa: BLE001
                raise AssetFailed(producer, f"cannot store its out {out!r} ({type(v).__module__}."
                                  f"{type(v).__qualname__}) with io={io_name!r}: {_user_error(e, interrupts)}") from e
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise AssetFailed(producer, f"IO manager {io_name!r} returned {type(data).__name__}, not bytes "
                              f"(out {out!r})")
        data = bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        produced[out] = Produced(data, digest, data_version or digest, duration, metadata)
    return MultiProduced(produced, missing, duration)


def split_outs(producer: str, value: Any, outs: list[tuple[str, bool]]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The value of each out (a dict by name, or a tuple in outs order), and the optional outs
    missing from a dict. AssetFailed for a missing required out, an unknown one or another shape."""
    names = [o for o, _ in outs]
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise AssetFailed(producer, f"returned {unknown[0]!r}, which is not one of its outs "
                              f"({', '.join(map(repr, names))})")
        lacking = [o for o, required in outs if required and o not in value]
        if lacking:
            raise AssetFailed(producer, f"did not return its out {lacking[0]!r} (return every out, or declare "
                              f"it Out(required=False))")
        return dict(value), tuple(o for o in names if o not in value)
    if isinstance(value, tuple):
        if len(value) != len(names):
            raise AssetFailed(producer, f"returned a tuple of {len(value)} values for {len(names)} outs "
                              f"({', '.join(map(repr, names))}); return one per out, in outs order, or a dict")
        return dict(zip(names, value)), ()
    raise AssetFailed(producer, f"returned {type(value).__module__}.{type(value).__qualname__}; a multi-asset "
                      "returns a dict by out name or a tuple in outs order")
