"""What a build knows of the inputs of the assets it decides: each decided asset's output
(``Known``), why an upstream has no output this build (``Blocked``), why an input cannot be
used (``Unusable``), and the observable sources' observations, made before the build, which
enter these records like decided assets: a version is a reader's input data version, a failed
observation blocks its readers.

The scheduler keeps the records; status says what a blocked input means for an asset here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import NamedTuple

from .reports import AssetStatus, ObservationResult, Reason


class Known(NamedTuple):
    """What this build knows of an asset's output once it has been decided (a NamedTuple: a
    build makes one per asset and partition)."""

    key: str
    data_version: str | None  # None: will change, unknown until it runs (dry runs)
    digest: str | None


class Blocked(Enum):
    """Why an asset has no output this build, as its dependents say it."""

    FAILED = "failed"
    NOT_BUILT = "did not build"
    NEVER_BUILT = "has never been built (--only runs against stored values: build it first)"
    UNOBSERVED = "could not be observed"  # an observable source whose observe function failed
    NO_OUTPUT = "produced no output"  # skipped (Skip) or ran without a value, with none before: no failure


class Unusable(Exception):
    """An input cannot be used: a source is missing (the asset fails), or an upstream has no
    output this build (the asset is skipped)."""

    def __init__(self, why: str, *, fails: bool, no_output: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.fails = fails
        self.no_output = no_output  # an upstream skipped with nothing before: skipped too, no failure


def source_unusable(name: str, why: str, blocked: dict[str, Blocked], causes: dict[str, str]) -> Unusable:
    """``name`` reads a source that is missing (``why``): it fails, and that is the first cause
    its readers name when a command that builds nothing explains them (see ``input_unusable``)."""
    blocked[name] = Blocked.FAILED
    causes[name] = why
    return Unusable(why, fails=True)


def input_unusable(name: str, up: str, blocked: dict[str, Blocked], causes: dict[str, str],
                   predicting: bool) -> Unusable:
    """``name`` cannot use ``up``, which has no output this build: ``name`` is blocked too. A
    build says what happened to ``up`` ("upstream 'x' failed"); a command that builds nothing
    (status, why, -n: ``predicting``) must not say an upstream failed or did not build: it says
    what a build would find, with the first cause ("upstream 'parsed' cannot be built: source
    'events' does not exist: data/events.csv")."""
    b = blocked[up]
    none = b is Blocked.NO_OUTPUT  # skipped with nothing before: no failure
    blocked[name] = Blocked.NO_OUTPUT if none else Blocked.NOT_BUILT
    cause = causes.get(up)
    if cause is not None:
        causes[name] = cause
    if predicting and b is Blocked.FAILED or (predicting and b is Blocked.NOT_BUILT and cause is not None):
        why = f"upstream {up!r} cannot be built" + (f": {cause}" if cause else "")
    elif predicting and b is Blocked.NOT_BUILT:
        why = f"upstream {up!r} would not be built"
    else:
        why = f"upstream {up!r} {b.value}"
    return Unusable(why, fails=False, no_output=none)


def known_observations(observations: Mapping[str, ObservationResult], known: dict[str, Known],
                       blocked: dict[str, Blocked]) -> None:
    """Enter a build's observations: a version is known like a decided asset's data version (no
    key, no stored bytes: readers get the value with their task); a failure blocks the readers."""
    for name, obs in observations.items():
        if obs.ok:
            known[name] = Known("", obs.version, None)
        else:
            blocked[name] = Blocked.UNOBSERVED


def unusable_status(name: str, e: Unusable, inputs: Mapping[str, Sequence[tuple[str | None, str]]],
                    observations: Mapping[str, ObservationResult]) -> AssetStatus:
    """``status`` of an asset with an unusable input: a missing source (upstream of it or its
    own), or an observable source upstream whose observation failed, named with its error."""
    failed = {n: o.error for n, o in observations.items() if not o.ok}
    if not e.fails and failed:
        seen, stack, hits = {name}, [name], []
        while stack:
            for _, up in inputs.get(stack.pop(), ()):
                if up in failed and up not in hits:
                    hits.append(up)
                elif up not in seen:
                    seen.add(up)
                    stack.append(up)
        if hits:
            return AssetStatus(name, "stale", (Reason("observation-failed",
                                                      "; ".join(f"{up}: {failed[up]}" for up in hits)),))
    return AssetStatus(name, "stale", (Reason("source-missing", e.why),))
