"""What the policies declared on assets (``freshness=``, ``auto=``, ``schedule=``) ask for at a
moment: pure functions of plain data, which ``assetbuild run`` calls on each tick.

Nothing here reads the store, the clock or the graph: the caller passes times (ns since the
epoch, from assetbuild.clock.now_ns), names and relations, so every rule is tested alone and
the daemon's only job is to gather those facts and build what :func:`tick_requests` returns.

The rules (issue 14):

- ``schedule``: once per scheduled time, at the first tick at or after it (:func:`due_schedules`);
  after the clock went back, the latest one is owed again.
- freshness: an asset's data must include every upstream change older than ``freshness``, and
  every older change of its own or of an upstream asset's own (a part of its key a tick first
  saw changed, its max_age's expiry: see :func:`tick_requests`); its
  lag is the time since the oldest change it does not include (:func:`freshness_state`). A
  change recorded later than now (by a clock that ran ahead, since set back) is no age, as
  assetbuild.clock.age_ns says: late now, not once the clock catches up.
- ``auto="eager"``: requested as soon as an input changed, its ``max_age`` expired, its code,
  a declared env var, its params, a resource's version or another part of its key changed, an
  input is requested this tick, or its path output (``outputs=`` files) was deleted or edited.
- ``auto="lazy"``: requested only when overdue itself, or when it lacks a change older than an
  overdue auto-materialized downstream asset's freshness allows (it is needed for that one).
- ``auto=None``: never requested (unless its schedule is due); a freshness on it only reports.

Nothing fresh under its policy is requested: each rule asks only for an asset that lacks
something its policy says it must have now.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from .clock import age_ns, by_age, format_duration, format_limit, iso_utc
from .errors import DefinitionError

NS = 1_000_000_000
# in ``changes``, changes of the asset's own (no node has such a name, in parentheses): its data
# expired, or a part of its key other than its inputs changed (what it is, not only what it
# reads): its code, a declared env var, its params, a resource's version, its IO manager...
EXPIRED = "(max_age)"
CODE_CHANGED = "(code)"
PARAMS_CHANGED = "(params)"
INTERPRETER_CHANGED = "(interpreter)"  # its latest build's key was made by another interpreter or key schema


def env_changed(var: str) -> str:
    """The ``changes`` entry of a change of the declared env var ``var``."""
    return f"(env {var})"


def resource_changed(name: str) -> str:
    """The ``changes`` entry of a change of the version of the resource ``name`` (or of its use)."""
    return f"(resource {name})"


def part_changed(what: str) -> str:
    """The ``changes`` entry of a change of another part of the asset's key (``"IO manager"``,
    ``"output path"``, ``"interpreter"``...): its eager reason says ``{what} changed``."""
    return f"({what})"


def _own_reason(change: str) -> str | None:
    """The eager reason of a change of the asset's own, else None (a node's change)."""
    if change == EXPIRED:
        return "max_age expired"
    if change.startswith("(") and change.endswith(")"):
        return f"{change[1:-1]} changed"
    return None


def _own_order(change: str) -> tuple[int, str]:
    """Changes of the asset's own in the order ``status`` lists their reasons: the interpreter,
    code, env vars, params, resources, the other key parts, expiry."""
    rank = {INTERPRETER_CHANGED: -1, CODE_CHANGED: 0, PARAMS_CHANGED: 2, EXPIRED: 5}.get(change)
    if rank is None:
        rank = 1 if change.startswith("(env ") else 3 if change.startswith("(resource ") else 4
    return rank, change


def due_schedules(schedule: str, tz: str, last_run_ns: int | None, now_ns: int) -> list[int]:
    """The scheduled time the tick at ``now_ns`` owes: ``[t]`` (ns) for the latest time ``t`` of
    the cron ``schedule`` (in IANA zone ``tz``) with ``last_run_ns < t <= now_ns``, else ``[]``.

    A scheduled time is honoured once, at the first tick at or after it: a tick at exactly
    09:00 owes 09:00. A daemon that was down for three days owes only the latest time, not one
    run per missed time: building the same asset three times in a row would
    produce the newest data three times. ``last_run_ns``: the ``now_ns`` of the last tick that
    evaluated this schedule (or the scheduled time it honoured; either works, the interval is
    half-open); None when the schedule was never evaluated, which owes the latest scheduled time
    at or before now (a first ``run --once`` at 09:05 builds the 09:00 run). A ``last_run_ns``
    later than now was recorded by a clock that ran ahead (since set back: clock.age_ns) and says
    nothing about which scheduled times were met, so it counts as never: the latest scheduled
    time is owed now, not once the clock catches up (that would skip the real days until then;
    building a time once more only costs the work). Cron times are whole minutes; ``now_ns`` is
    compared at its second.

    Clock changes in ``tz`` (as cronie does): a time skipped when the clocks go forward is owed
    at the first time after the gap (02:30 on a night that jumps from 02:00 to 03:00: at 03:00).
    A local time that happens twice when they go back is owed once, at its first occurrence,
    when the schedule names its hours ("30 2 * * *"): it is one scheduled time, not two.
    Dagster picks the second occurrence; the first keeps "at the first tick at or after it".
    A schedule whose minute or hour field is a ``*`` ("*/15 * * * *", "@hourly") keeps its
    interval instead: it runs in the repeated hour too. DefinitionError (no file:line: the
    caller knows the asset) when croniter finds no time, which declaration checks should stop."""
    from datetime import datetime, timezone

    from croniter import CroniterError, croniter  # type: ignore[import-untyped]  # no stubs

    zone: object = timezone.utc
    if tz not in ("UTC", "utc", "Z"):
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(tz)
    # croniter's get_prev is strictly before its start: start one second after now's second
    try:
        start = datetime.fromtimestamp(now_ns // NS + 1, tz=zone)  # type: ignore[arg-type]
        latest_s = int(croniter(schedule, start).get_prev(float))
    except (CroniterError, ValueError, OverflowError) as e:  # a tick must never die of a schedule
        raise DefinitionError(f"schedule {schedule!r} ({tz}): no scheduled time found before now: {e}") from None
    if not _by_the_clock(schedule):
        local = datetime.fromtimestamp(latest_s, tz=zone)  # type: ignore[arg-type]
        if local.fold:  # the repeat of a local time the clocks went back over: it was owed at its first
            latest_s = int(local.replace(fold=0).timestamp())
    latest = latest_s * NS
    if last_run_ns is not None and last_run_ns > now_ns:  # (the clock went back since: no record)
        last_run_ns = None
    if latest > now_ns or (last_run_ns is not None and latest <= last_run_ns):
        return []
    return [latest]


_HOURLY_ALIASES = ("@hourly",)


def _by_the_clock(schedule: str) -> bool:
    """Whether ``schedule`` runs at an interval (its minute or hour field starts with ``*``, as
    cronie's MIN_STAR/HR_STAR), rather than at named local times."""
    if schedule.startswith("@"):
        return schedule in _HOURLY_ALIASES
    minute, hour = schedule.split()[:2]
    return minute.startswith("*") or hour.startswith("*")


@dataclass(frozen=True)
class Freshness:
    """One asset's freshness at a moment: ``overdue`` when its lag exceeds its freshness;
    ``lag_s`` (0.0 when it lacks nothing); ``detail`` for status (``"3h 10m behind; freshness 1h"``)."""

    overdue: bool
    lag_s: float
    detail: str


def freshness_state(freshness_s: float, materialized_ns: int | None, missing_ns: Sequence[int],
                    now_ns: int, own_ns: Sequence[int] = ()) -> Freshness:
    """The freshness of one asset with ``freshness_s`` (seconds) at ``now_ns``.

    ``materialized_ns``: when its latest materialization ended (None: never). ``missing_ns``: the
    times of the upstream changes, direct or transitive (a source version first seen, an
    observation, an upstream materialization), that its data does not include; those at or
    before ``materialized_ns`` are ignored, so passing every upstream change since some earlier
    point is fine. A file source changes at its mtime or, if later, when assetbuild first saw
    the version. Overdue when the oldest remaining change is more than ``freshness_s`` old; the
    lag is measured from it (0 when nothing is missing, however long ago the asset was built).
    ``own_ns``: the times of changes of its own or of an upstream asset's own that no data
    carries yet (its code, env, params... first seen; its max_age's expiry: see
    :func:`tick_requests`), which it lacks whenever it was built: they count like the others.
    A change recorded later than now is no age (clock.age_ns): overdue now, the detail naming
    it; how long it has been lacked is unknown, so ``lag_s`` is the most it can be, the time
    since its build (0 if that too was recorded later than now, or it has none)."""
    pending = [t for t in missing_ns if materialized_ns is None or t > materialized_ns] + list(own_ns)
    first = min(pending, key=by_age(now_ns), default=None)
    overdue = _late(first, freshness_s, now_ns)
    limit = format_limit(freshness_s)
    if first is None:
        lag, detail = 0.0, f"up to date; freshness {limit}"
    elif first > now_ns:
        lag = (now_ns - materialized_ns) / NS if materialized_ns is not None and materialized_ns <= now_ns else 0.0
        detail = f"behind a change at {iso_utc(first)}, later than now; freshness {limit}"
    else:
        lag = (now_ns - first) / NS
        detail = f"{format_duration(lag)} behind; freshness {limit}"
    return Freshness(overdue, lag, detail)


@dataclass(frozen=True)
class Policy:
    """One asset's declared policy, as :func:`tick_requests` reads it (from its AssetDef:
    ``freshness``, ``auto``, ``schedule``)."""

    auto: str | None = None  # "eager", "lazy" or None
    freshness: float | None = None  # seconds
    schedule: str | None = None  # for the reason's text; whether it is due is the caller's


@dataclass(frozen=True)
class Request:
    """An asset a tick asks to materialize, and why: each reason as ``assetbuild ticks`` shows
    it (``"eager: upstream orders changed"``, ``"lazy: needed for report's freshness 1h"``,
    ``"schedule: 0 9 * * *"``)."""

    asset: str
    reasons: tuple[str, ...]


def tick_requests(policies: Mapping[str, Policy], upstream: Mapping[str, Sequence[str]],
                  changes: Mapping[str, Mapping[str, int]], due: Collection[str], now_ns: int,
                  new: Mapping[str, int] | None = None, order: Sequence[str] | None = None,
                  held: Collection[str] = (), restore: Mapping[str, Sequence[str]] | None = None) -> list[Request]:
    """What one tick requests, sorted by asset name.

    ``policies``: every asset to consider, by node name (a partition's node ``asset[KEY]`` is an
    asset of its own here), assets without a policy included (``Policy()``), so requests can
    see through them. ``upstream``: each asset's direct inputs (assets, sources, observable
    sources; names not in ``policies`` are treated as sources). ``changes``: for each asset, its
    direct inputs that changed since its latest materialization (all of them for an asset never
    materialized), each with the time of the oldest such change in ns; for an upstream asset,
    the time its data changed (that materialization's end); :data:`EXPIRED` for an asset whose
    ``max_age`` has passed, at the time it did (its data stands for something no key sees, so
    expiry is a change of its own: eager rebuilds it, lazy when a freshness needs it);
    :data:`CODE_CHANGED`, :func:`env_changed` (a declared env var), :data:`PARAMS_CHANGED`,
    :func:`resource_changed` and :func:`part_changed` (any other part of its key but its inputs)
    for an asset whose key now has other such parts than its latest materialization's, at the
    time they were first seen: changes of its own too. ``due``: the assets whose schedule
    :func:`due_schedules` says is owed now. ``now_ns``: the tick's time. ``new``: nodes never
    materialized that have no input to say so, with the time they appeared: a time partition's
    node once its window has closed (its window's end; ``windows(now_ns)`` of
    assetbuild.partitions lists only complete ones), an asset without inputs when first seen.
    ``order``: the assets of ``policies``, each after its upstream ones (the graph's order, which
    the caller has; else one is made). ``held``: assets the caller will not build this tick
    whatever their policy says (a retry's backoff, an upstream that was never materialized):
    never requested, so an eager reader is not requested for them either. ``restore``: assets
    whose files in the project are not as their latest materialization left them (its path
    output or an ``outputs=`` file deleted or edited), each with what is wrong with them
    (``"output build/x.csv missing"``): an eager one is requested for that when nothing else
    asks for it. A build restores such files from the cache, changing no data, so no reader is
    requested for it; a lazy asset's data is as fresh as before, so it is not requested at all.

    What an asset lacks is what its inputs changed plus whatever its upstream assets lack; its
    lag and overdue state follow :func:`freshness_state`. An asset is requested when:

    - its schedule is due: ``"schedule: 0 9 * * *"``;
    - it is eager and an input changed (``"eager: upstream orders changed"``), it changed itself
      (``"eager: code changed"``, ``"eager: env REGION changed"``, ``"eager: params changed"``,
      ``"eager: resource warehouse changed"``, ``"eager: IO manager changed"``, ``"eager: max_age
      expired"``), an upstream asset is requested this tick (``"eager:
      upstream orders requested"``), it is new (``"new partition 2024-03-02"``, ``"eager: new
      asset"``) or its files are to be restored (``"eager: output build/x.csv missing"``);
    - it is lazy and overdue (``"lazy: needed for its freshness 1h"``);
    - it is lazy and lacks a change older than the freshness of an overdue lazy or eager asset
      downstream of it, through lazy or eager assets only (an auto=None asset in between would
      not pass the new data on): ``"lazy: needed for report's freshness 1h"``.

    A lazy asset is requested only for a late change that its build (with its lazy and eager
    upstream's) would bring in: one that came through an input that changed, or it is new. A
    change stuck behind a stale auto=None asset keeps it overdue, but rebuilding it would not
    help, so it is not requested.

    An asset with ``auto=None`` and no due schedule is never requested (its freshness only
    reports). Requests with no policy reason are never made, so an asset that lacks nothing
    its policy asks for (fresh under its policy) is never requested.
    """
    order = _topological(policies, upstream) if order is None else order
    age = by_age(now_ns)  # the oldest change first, one recorded later than now before any other
    oldest: dict[str, int | None] = {}  # the oldest change each asset lacks
    fixable: dict[str, int | None] = {}  # ... of those a build of it and of its lazy/eager upstream brings
    for a in order:
        own = list(changes.get(a, {}).values())
        if new and a in new:
            own.append(new[a])
        ups = [u for u in upstream.get(a, ()) if u in policies]
        times = own + [t for u in ups for t in (oldest[u],) if t is not None]
        oldest[a] = min(times, key=age, default=None)
        times = own + [t for u in ups if policies[u].auto in ("lazy", "eager") for t in (fixable[u],) if t is not None]
        fixable[a] = min(times, key=age, default=None)
    reasons: dict[str, list[str]] = {a: [] for a in policies}
    # what lazy assets are needed for: the strictest freshness among the overdue lazy or eager
    # assets each one feeds through lazy or eager assets only, walking from the bottom up
    needed_by: dict[str, tuple[float, str]] = {}  # asset -> (that freshness, whose)
    for a in reversed(order):
        p = policies[a]
        if p.auto not in ("lazy", "eager"):
            continue
        best = needed_by.get(a)
        if p.freshness is not None and _late(oldest[a], p.freshness, now_ns):
            if p.auto == "lazy" and _late(fixable[a], p.freshness, now_ns):
                reasons[a].append(f"lazy: needed for its freshness {format_limit(p.freshness)}")
            if best is None or (p.freshness, a) < best:
                best = (p.freshness, a)
        if best is None:
            continue
        for u in upstream.get(a, ()):
            if u in policies and policies[u].auto in ("lazy", "eager"):
                prev = needed_by.get(u)
                if prev is None or best < prev:
                    needed_by[u] = best
    for a in order:
        need = needed_by.get(a)
        if policies[a].auto == "lazy" and need is not None and not reasons[a] and _late(fixable[a], need[0], now_ns):
            reasons[a].append(f"lazy: needed for {need[1]}'s freshness {format_limit(need[0])}")
    requested: set[str] = set()
    for a in order:
        p = policies[a]
        if a in due and p.schedule is not None:
            reasons[a].insert(0, f"schedule: {p.schedule}")
        if p.auto == "eager":
            changed = sorted(changes.get(a, {}))
            if new and a in new:
                key = a[a.index("[") + 1:-1] if a.endswith("]") and "[" in a else None
                reasons[a].append(f"new partition {key}" if key is not None else "eager: new asset")
            elif changed:
                itself = sorted((c for c in changed if _own_reason(c) is not None), key=_own_order)
                reasons[a] += [f"eager: {_own_reason(c)}" for c in itself]
                ups = [c for c in changed if c not in itself]
                if ups:
                    reasons[a].append(f"eager: upstream {_names(ups)} changed")
            else:
                ups = sorted({u for u in upstream.get(a, ()) if u in requested})
                if ups:
                    reasons[a].append(f"eager: upstream {_names(ups)} requested")
        if reasons[a] and a not in held:
            requested.add(a)
    for a, why in (restore or {}).items():  # (after the walk: restoring files requests no reader)
        if a in policies and policies[a].auto == "eager" and not reasons[a] and why and a not in held:
            reasons[a] = [f"eager: {w}" for w in why]
            requested.add(a)
    return [Request(a, tuple(reasons[a])) for a in sorted(requested)]


def _names(nodes: Sequence[str]) -> str:
    """Sorted node names, joined; more than 3 partitions of one asset as its first and last with
    the count (``hourly[2024-03-01-00:00] .. hourly[2024-03-01-23:00] (24 partitions)``), not a
    line of 24 names."""
    from .partitions import split_node

    groups: dict[str, list[str]] = {}
    for n in nodes:
        asset, key = split_node(n)
        groups.setdefault(asset if key is not None else n, []).append(n)
    out: list[str] = []
    for n in nodes:
        asset, key = split_node(n)
        g = groups[asset if key is not None else n]
        if key is None or len(g) <= 3:
            out.append(n)
        elif n == g[0]:
            out.append(f"{g[0]} .. {g[-1]} ({len(g)} partitions)")
    return ", ".join(out)


def _late(oldest: int | None, freshness_s: float, now_ns: int) -> bool:
    """Whether a change at ``oldest`` (None: none) is more than ``freshness_s`` old (exact: an
    int against a float compares exactly in Python); one recorded later than now is no age
    (clock.age_ns), so it is late now rather than once the clock catches up."""
    return oldest is not None and age_ns(oldest, now_ns) > freshness_s * NS


def _topological(policies: Mapping[str, object], upstream: Mapping[str, Sequence[str]]) -> list[str]:
    """The assets of ``policies``, each after its upstream assets, ties by name (deterministic)."""
    from graphlib import TopologicalSorter

    ts: TopologicalSorter[str] = TopologicalSorter()
    for a in sorted(policies):
        ts.add(a, *sorted(u for u in upstream.get(a, ()) if u in policies))
    ts.prepare()
    out: list[str] = []
    while ts.is_active():
        ready = sorted(ts.get_ready())
        out += ready
        ts.done(*ready)
    return out
