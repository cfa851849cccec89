"""A failing asset's retries under ``assetbuild run``: how long a tick holds it back, and what
ends that early.

A failure waits ``retry_backoff`` seconds, twice as long after each further failure, at most
``MAX_BACKOFF_S``: an asset failing on bad data is not run again on every tick. Materialized
since (by a tick, or by a ``build`` or ``accept`` outside ``run``), it is failing no more. Its
own key changed since it failed (its code, declared env, params or resources: a fix, not new
data) ends the wait too: the fix is tried on the next tick, not hours later, and a later
failure counts from 1. New data does not end it (a source that keeps changing would make the
backoff moot). An observable source whose observation failed waits the same way, until an
observation is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..clock import age_ns, format_duration
from ..policies import NS
from ..ticks import get_state, put_state

MAX_BACKOFF_S = 86400.0  # a failing asset is retried at least once a day
OwnKey = Callable[[str], "str | None"]  # an asset -> the key of its own parts now (reconcile.own_keys)


def held_back(store: Any, asset: str, now: int, own_key: OwnKey) -> str | None:
    """Why a tick does not build ``asset`` now (its retry's backoff has not passed), else None.
    A retry that ended (materialized since, or its own key changed) is forgotten."""
    retry = get_state(store, "retry", asset)
    if retry is None:
        return None
    if succeeded_since_failing(store, asset) or (
            isinstance(retry.get("own_key"), str) and own_key(asset) != retry["own_key"]):
        put_state(store, "retry", asset, None)  # fixed: failing no more
        return None
    failed, wait = retry_wait(retry)
    if age_ns(failed, now) >= wait:  # (failed later than now: retried now, see clock.age_ns)
        return None
    return f"failed {retry['failures']} time(s); retried after {when(failed + wait - now)}"


def record_failure(store: Any, asset: str, now: int, backoff: float, own_key: str | None, *,
                   observable: bool) -> tuple[int, float]:
    """Record a failure of ``asset`` (an observable source's observation when ``observable``):
    (how many in a row, the seconds to wait before the next try)."""
    prev = source_retry(store, asset) if observable else get_state(store, "retry", asset)
    n = (prev or {"failures": 0})["failures"] + 1
    wait = min(backoff * 2 ** (n - 1), MAX_BACKOFF_S)
    retry: dict[str, Any] = {"failures": n, "not_before": now + int(wait * NS), "failed_ns": now,
                             "wait_ns": int(wait * NS)}
    if observable:  # the observation it had then: another one recorded since ends its failing
        seen = store.get_observation(asset)
        retry["observation_ns"] = seen.observed_ns if seen is not None else None
    elif own_key is not None:
        retry["own_key"] = own_key
    put_state(store, "retry", asset, retry)
    return n, wait


def succeeded_since_failing(store: Any, asset: str) -> bool:
    """Whether ``asset`` was materialized, restored or accepted since it last failed, by any
    command (a ``build``, ``accept``; the ticks' own successes clear the retry): by its events,
    in the order they were recorded, not by the clock."""
    from ..reports import VALUE_KINDS

    for e in reversed(store.events(asset)):
        if e.kind in VALUE_KINDS:
            return True
        if e.kind == "failed":
            return False
    return False


def source_retry(store: Any, source: str) -> dict[str, Any] | None:
    """The retry record of an observable source whose observation failed, unless an observation
    was recorded since (by a tick, a build or ``observe``: the latest is not the one it had when
    it failed): it is failing no more, and the record goes."""
    retry: dict[str, Any] | None = get_state(store, "retry", source)
    if retry is None:
        return None
    rec = store.get_observation(source)
    if (rec.observed_ns if rec is not None else None) != retry.get("observation_ns"):
        put_state(store, "retry", source, None)
        return None
    return retry


def retry_wait(retry: dict[str, Any]) -> tuple[int, int]:
    """(when it failed, ns to wait from then) of a retry record. A record without them (written
    by an older assetbuild) holds only its end: it is read as a wait of MAX_BACKOFF_S ending
    then, so an end more than that ahead of now (the clock was set back) is due now."""
    if isinstance(retry.get("failed_ns"), int) and isinstance(retry.get("wait_ns"), int):
        return retry["failed_ns"], retry["wait_ns"]
    wait = int(MAX_BACKOFF_S * NS)
    return retry["not_before"] - wait, wait


def when(seconds_ns: int) -> str:
    return format_duration(seconds_ns / NS)
