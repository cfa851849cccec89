"""What one run of a multi-asset's function returned, split into its outs.

Used where the task runs (a thread, a worker process, a cluster worker), by
``execute.run_outs``: the function returns a dict by out name, a tuple in ``outs`` order, or
``Output(...)`` per out, and each out's value is then serialized by its own IO manager. A
required out that is missing fails the run naming it; a missing optional out
(``Out(required=False)``, left out or given as ``Skip(reason)``) is reported in ``missing``, so
the build records nothing new for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .definitions import Skip
from .errors import AssetFailed


@dataclass
class MultiProduced:
    """One run of a multi-asset: a ``Produced`` per out it returned, the optional outs it did
    not return, and what the run as a whole reports (logs, the project code it ran)."""

    outs: dict[str, Any]  # out -> its execute.Produced
    missing: dict[str, str]  # an optional out it did not return -> the reason it gave (Skip's, or "")
    duration_s: float
    logs: list[tuple[int, str]] = field(default_factory=list)
    project_code: dict[str, str] | None = None
    file = None  # never spooled: each out's bytes travel in its Produced
    ok = True


def split_outs(producer: str, value: Any, outs: list[tuple[str, bool]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The value of each out (a dict by name, or a tuple in outs order), and the optional outs
    missing from it, each with the reason it gave: left out of a dict (""), or given as
    ``Skip(reason)``, as an ``@asset`` declared ``output_required=False`` skips. AssetFailed for
    a missing required out (or one given as a ``Skip``), an unknown one or another shape."""
    names = [o for o, _ in outs]
    required = dict(outs)
    if isinstance(value, tuple):
        if len(value) != len(names):
            raise AssetFailed(producer, f"returned a tuple of {len(value)} values for {len(names)} outs "
                              f"({', '.join(map(repr, names))}); return one per out, in outs order, or a dict")
        value = dict(zip(names, value))
    if not isinstance(value, dict):
        hint = (" (it skips an out by leaving it out, or returning Skip for it, if declared Out(required=False))"
                if isinstance(value, Skip) else "")
        raise AssetFailed(producer, f"returned {type(value).__module__}.{type(value).__qualname__}; a multi-asset "
                          f"returns a dict by out name or a tuple in outs order{hint}")
    unknown = [k for k in value if k not in required]
    if unknown:
        raise AssetFailed(producer, f"returned {unknown[0]!r}, which is not one of its outs "
                          f"({', '.join(map(repr, names))})")
    skips = [k for k, v in value.items() if isinstance(v, Skip)]
    if any(required[k] for k in skips):
        raise AssetFailed(producer, f"returned Skip for its out {next(k for k in skips if required[k])!r}, but "
                          "only an out declared Out(required=False) may skip")
    missing = {k: value[k].reason for k in skips}
    value = {k: v for k, v in value.items() if k not in skips}
    lacking = [o for o in names if required[o] and o not in value]
    if lacking:
        raise AssetFailed(producer, f"did not return its out {lacking[0]!r} (return every out, or declare "
                          f"it Out(required=False))")
    return value, {o: missing.get(o, "") for o in names if o not in value}
