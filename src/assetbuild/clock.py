"""The one answer to "what time is it": the wall clock, or ``ASSETBUILD_NOW`` when it is set.

Every time decision (an asset's ``max_age``) and every recorded time of a materialization
reads :func:`now_ns`, so a test steps through days by setting one variable instead of sleeping.
``ASSETBUILD_NOW`` is ISO-8601 with a time zone (``2024-03-01T09:00:00Z``,
``2024-03-01T10:00:00+01:00``) or epoch seconds (``1709283600``); a time without a zone is
refused rather than guessed, and so is one the store cannot record (see ``FIRST_NS``). A time
recorded later than now (the clock was set back since) is no age at all: see :func:`age_ns`.
Durations (``"90m"``, ``"1h"``, ``"2d"``) are parsed and shown here too. Time spent
(``perf_counter``) and file-system times (mtimes, racy-clean checks) are not "now" in this
sense and stay on the real clocks.
"""

from __future__ import annotations

import os
import re
import time

from .errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable

ENV = "ASSETBUILD_NOW"
_NAN = float("nan")
_NS = 1_000_000_000
# The times ASSETBUILD_NOW may give: the store records times as unsigned 64-bit nanoseconds
# (1970 to 2554); ending at 2500 leaves room for a recorded time plus the longest span a setting
# gives (MAX_SPAN_S, 31 years), such as a retry's end.
FIRST_NS = 0  # 1970-01-01T00:00:00Z
END_NS = 16_725_225_600 * _NS  # 2500-01-01T00:00:00Z, the first time refused
_RANGE = "give a time from 1970-01-01T00:00:00Z up to (not including) 2500-01-01T00:00:00Z"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# patterns, compiled on first use (re caches them): importing this module compiles nothing
_DURATION_RE = r"\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*([smhdw])\s*)+\Z"
_PART_RE = r"(\d+(?:\.\d*)?|\.\d+)\s*([smhdw])"
_NUMBER_RE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)\Z"

_parsed: tuple[str, int] | None = None  # the last ASSETBUILD_NOW value and its time
# os.environ's own table, read directly: ``os.environ.get`` of an unset name raises and catches
# a KeyError (0.7 us; a build asks the time several times per asset). Only while os.environ is
# the mapping whose table this is (a test may replace it), and only in CPython's layout.
_ENVIRON = os.environ
_TABLE = getattr(os.environ, "_data", None)
_KEY = os.environ.encodekey(ENV) if _TABLE is not None and hasattr(os.environ, "encodekey") else None


def now_ns() -> int:
    """Now, in nanoseconds since the epoch: ``ASSETBUILD_NOW`` if set (``ConfigError`` if it is
    not a time), else the wall clock."""
    global _parsed
    if os.environ is _ENVIRON and _KEY is not None and _TABLE.get(_KEY) is None:
        return time.time_ns()
    value = os.environ.get(ENV)
    if not value:
        return time.time_ns()
    cached = _parsed
    if cached is not None and cached[0] == value:
        return cached[1]
    ns = parse_now(value)
    _parsed = (value, ns)
    return ns


def iso_utc(ns: int) -> str:
    """A recorded time as ISO-8601 UTC to the second (``2024-03-01T09:00:00Z``): how ``--json``
    documents and listings show times."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> float:
    """Now, in seconds since the epoch (see :func:`now_ns`)."""
    return now_ns() / 1e9


def parse_now(value: str) -> int:
    """An ``ASSETBUILD_NOW`` value as nanoseconds since the epoch; ``ConfigError`` naming the
    variable and the value when it is neither epoch seconds nor ISO-8601 with a time of day and
    a time zone, or lies outside ``FIRST_NS``..``END_NS`` (checked here, before any command
    writes a time the store cannot hold)."""
    ns = _parse_time(value)
    if not FIRST_NS <= ns < END_NS:
        raise ConfigError(f"{ENV}={value!r} is out of range: {_RANGE} (epoch seconds 0 to {END_NS // _NS - 1})")
    return ns


def _parse_time(value: str) -> int:
    text = value.strip()
    if re.match(_NUMBER_RE, text):
        from decimal import Decimal  # exact: a float would round 1709283600.25 * 1e9

        # (clamped to a value out of range: 10**12 s is refused below as much as 1e999999 is)
        return int(max(min(Decimal(text), Decimal(10**12)), Decimal(-10**12)).scaleb(9))
    from datetime import datetime, timezone  # only when the variable is set: import assetbuild stays cheap

    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text  # Python 3.10 has no 'Z'
    # a date alone (2026-03-01Z, 20260301, 2026-W09-1): Python 3.11 reads it as a naive midnight,
    # dropping its zone, 3.10 refuses it; either way what it lacks is a time of day
    if re.fullmatch(r"\d{4}-?(?:\d\d-?\d\d|W\d\d-?\d|\d{3})(?:[+-]\d\d(?::?\d\d)*)?", iso):
        raise ConfigError(f"{ENV}={value!r} has no time of day: give a time and a time zone, "
                          "such as 2024-03-01T00:00:00Z")
    fraction = 0  # the seconds' fraction, in ns: read here, exact to the ns, on every Python
    m = re.fullmatch(r"(.*\d\d:\d\d:\d\d)[.,](\d+)(.*)", iso)  # (3.10 takes only 3 or 6 digits)
    if m is not None:
        iso, fraction = m.group(1) + m.group(3), int(m.group(2)[:9].ljust(9, "0"))
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        raise ConfigError(f"{ENV}={value!r} is not a time: give ISO-8601 with a time zone "
                          "(2024-03-01T09:00:00Z, 2024-03-01T10:00:00+01:00) or epoch seconds") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigError(f"{ENV}={value!r} has no time zone: add 'Z' for UTC or an offset "
                          "such as +01:00 (2024-03-01T09:00:00Z)")
    delta = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000 + fraction


def age_ns(recorded_ns: int, now_ns: int) -> float:
    """How long ago ``recorded_ns`` was, in ns, for measuring a duration from a recorded time
    (a build's for ``max_age``, an observation's for ``poll``, a failure's for a retry's
    backoff, an upstream change's for ``freshness``). A time later than now was recorded by a
    clock that ran ahead (since set back: NTP, ``ASSETBUILD_NOW``, a cache shared between
    machines), so it is no age: ``inf``, and whatever is due some time after it is due now.
    Waiting for the clock to catch up would keep a result stale for as long as the clock was
    wrong; rebuilding, observing or retrying once too early only costs the work."""
    return now_ns - recorded_ns if recorded_ns <= now_ns else float("inf")


def by_age(now_ns: int) -> Callable[[int], tuple[bool, int]]:
    """A sort key putting recorded times oldest first by :func:`age_ns` at ``now_ns``: one
    recorded later than now is no age, so it comes before every other (a change recorded by a
    clock that ran ahead is late now, whatever else is missing), then the earliest. The oldest
    change: ``min(times, key=by_age(now_ns))``."""
    return lambda t: (t <= now_ns, t)


MAX_SPAN_S = 1e9  # about 31 years: the longest span a setting gives (past ~292, waits and dates overflow)


def span_error(value: object, unit: str = "seconds", *, scale: float = 1.0, positive: bool = False) -> str | None:
    """What is wrong with ``value`` as a span of time in ``unit`` (``scale`` seconds each): "must
    be ..." if it is no finite number, is below 0 (0 too, if ``positive``) or beyond MAX_SPAN_S
    (-3, NaN and inf slipped through checks of the sign alone); None if nothing."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
            (value > 0 if positive else value >= 0) and value * scale <= MAX_SPAN_S):
        return (f"must be a positive number of {unit}" if positive else f"must be a number of {unit}, 0 or more") \
            + f", at most {MAX_SPAN_S / scale:g} (about 31 years)"
    return None


def check_span(value: object, name: str, unit: str = "seconds", *, scale: float = 1.0,
               positive: bool = False) -> float:
    """``value`` as a float, or ValueError naming the argument ``name`` (``span_error``)."""
    problem = span_error(value, unit, scale=scale, positive=positive)
    if problem is not None:
        raise ValueError(f"{name} {problem}, got {value!r}")
    return float(value)  # type: ignore[arg-type]  # (span_error checked it is a number)


def parse_duration(value: object) -> float:
    """Seconds from a positive number or a string like ``"30s"``, ``"90m"``, ``"1h"``, ``"2d"``,
    ``"1w"``, ``"1h30m"`` (or ``"3600"``); ``ValueError`` saying what is accepted."""
    if isinstance(value, bool):
        seconds = _NAN
    elif isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and re.match(_NUMBER_RE, value.strip()):
        seconds = float(value)
    elif isinstance(value, str) and re.match(_DURATION_RE, value):
        seconds = sum(float(n) * _UNITS[u] for n, u in re.findall(_PART_RE, value))
    else:
        seconds = _NAN
    if not 0 < seconds <= MAX_SPAN_S:
        raise ValueError(f"must be a positive number of seconds or a duration such as '30s', '90m', "
                         f"'1h', '2d' (units s, m, h, d, w), at most 31 years, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """A span measured (an age, a lag, a wait) for people, in its largest unit and the next one:
    '2h 5m', '1d', '45s'; under a second, to the ns: '0.5s'. Rounded up to the last unit shown,
    so a span past a limit never reads as the limit itself ('1h 1m' for 1h 0m 1s, where a
    limit of 1h is fresh): see :func:`format_limit` for the limits."""
    ns = round(max(seconds, 0) * _NS)  # (float noise below a ns is no part of a span)
    if 0 < ns < _NS:
        return f"0.{ns:09d}".rstrip("0") + "s"
    unit = _unit(ns)
    step = _SIZES[unit + 1][1] * _NS if unit + 1 < len(_SIZES) else _NS
    ns = -(-ns // step) * step
    unit = _unit(ns)  # (rounding up may reach the next unit: 59m 59.5s is 1h)
    (name, size), (nxt, nsize) = _SIZES[unit], _SIZES[min(unit + 1, len(_SIZES) - 1)]
    left = ns // _NS
    rest = (left % size) // nsize if name != "s" else 0
    return f"{left // size}{name}" + (f" {rest}{nxt}" if rest else "")


def format_limit(seconds: float) -> str:
    """A declared span (a ``max_age``, a ``freshness``) as declared, every unit exact: '1h',
    '1d 30m', '1m 30.5s'. Shown beside a span measured against it (:func:`format_duration`,
    rounded up), one past it always reads as more."""
    ns = round(max(seconds, 0) * _NS)
    parts = []
    for name, size in _SIZES[:-1]:
        count, ns = divmod(ns, size * _NS)
        if count:
            parts.append(f"{count}{name}")
    if ns or not parts:
        whole, frac = divmod(ns, _NS)
        parts.append(f"{whole}" + (f".{frac:09d}".rstrip("0") if frac else "") + "s")
    return " ".join(parts)


_SIZES = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def _unit(ns: int) -> int:
    """The index in ``_SIZES`` of the largest unit ``ns`` holds one of (seconds, if none)."""
    return next(i for i, (_, size) in enumerate(_SIZES) if ns >= size * _NS or size == 1)
