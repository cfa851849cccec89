"""Partitions: one key per slice of an asset (a day, a region, a file), and which slices of an
upstream asset each slice reads.

Pure, like the rest of L0: a definition turns what the session found (the build's "now", the
files a glob matches, the stored dynamic keys: ``PartitionEnv``) into its keys, in order; a
mapping turns a downstream key into upstream keys. Nothing here reads a clock or a disk.

Time windows are computed on local wall-clock boundaries in the definition's zone and kept as
UTC epoch seconds: a day is local midnight to local midnight (23 or 25 hours across a DST
change); an hour that a DST change skips has no partition, and one it repeats is one
partition two hours long.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Characters a static or dynamic key may not hold: "," and ".." separate keys on the command line
# (``--partitions a..b``, ``a,b``), and a key is part of names, paths and messages.
_BAD_KEY_CHARS = ("\n", "\r", "\0", ",", "[", "]")


def check_key(key: object, what: str) -> str:
    """A static or dynamic partition key: a non-empty str without separators, and canonical as a
    path (ValueError). ``{partition}`` puts it in a path, so ``x/./y`` or ``x//y`` would be a
    second key for the file of ``x/y``, and a ``..`` part a file outside the project."""
    if not isinstance(key, str) or not key or key != key.strip():
        raise ValueError(f"{what}: a partition key must be a non-empty string without surrounding "
                         f"spaces, got {key!r}")
    if ".." in key or any(c in key for c in _BAD_KEY_CHARS) or key.startswith(".") or "\\" in key:
        raise ValueError(f"{what}: partition key {key!r} may not contain ',', '..', '[', ']', a backslash "
                         "or a line break, nor start with '.'")
    if "//" in key or "/./" in key or key.startswith("/") or key.endswith(("/", "/.")):
        raise ValueError(f"{what}: partition key {key!r} is not a plain relative path: it may not start or end "
                         "with '/', nor hold '//' or a '.' part ('x/y', not 'x//y' or 'x/./y', which name "
                         "the same file)")
    return key


class PartitionEnv:
    """What a definition's keys depend on outside the AssetFile: the build's "now" (nanoseconds,
    from assetbuild.clock), the files a glob matches (``files(pattern)``: paths relative to the
    project directory, '/'-separated), and the stored keys of each dynamic definition. (A plain
    class: a dataclass costs every build that loads partitions ~0.3 ms to make.)"""

    __slots__ = ("now_ns", "files", "dynamic")

    def __init__(self, now_ns: int, files: Callable[[str], Sequence[str]] | None = None,
                 dynamic: Mapping[str, Sequence[str]] | None = None) -> None:
        self.now_ns = now_ns
        self.files: Callable[[str], Sequence[str]] = _no_files if files is None else files
        self.dynamic: Mapping[str, Sequence[str]] = {} if dynamic is None else dynamic


def _no_files(pattern: str) -> Sequence[str]:
    return ()


class PartitionsDefinition:
    """The slices of a partitioned asset. Subclasses give ``kind``, ``identity`` (equal
    identities mean the same partitions: identity mapping by default) and ``keys``."""

    kind = ""

    def identity(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def keys(self, env: PartitionEnv) -> list[str]:
        raise NotImplementedError

    def key_part(self, key: str) -> str:
        """What a partition adds to its cache key besides its key (which is in its node's name)."""
        return ""

    def describe(self) -> str:
        return self.kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartitionsDefinition) and self.identity() == other.identity()

    def __hash__(self) -> int:
        return hash(self.identity())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class StaticPartitions(PartitionsDefinition):
    """A fixed list of keys, in the order given: ``StaticPartitions(["eu", "us", "apac"])``."""

    kind = "static"

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence) or not keys:
            raise ValueError(f"StaticPartitions needs a non-empty list of keys, got {keys!r}")
        seen: set[str] = set()
        for k in keys:
            check_key(k, "StaticPartitions")
            if k in seen:
                raise ValueError(f"StaticPartitions: key {k!r} is listed twice")
            seen.add(k)
        self._keys = list(keys)

    def identity(self) -> tuple[Any, ...]:
        return ("static", tuple(self._keys))

    def keys(self, env: PartitionEnv | None = None) -> list[str]:
        return list(self._keys)

    def describe(self) -> str:
        shown = ", ".join(self._keys[:4]) + (", ..." if len(self._keys) > 4 else "")
        return f"static [{shown}]"


class DynamicPartitions(PartitionsDefinition):
    """Keys kept in the cache under ``name`` and changed from the command line
    (``assetbuild partitions add NAME K...``, ``remove``), in the order they were added."""

    kind = "dynamic"

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name or not name.replace("_", "a").replace("-", "a").isalnum():
            raise ValueError(f"DynamicPartitions needs a name of letters, digits, '_' and '-', got {name!r}")
        self.name = name

    def identity(self) -> tuple[Any, ...]:
        return ("dynamic", self.name)

    def keys(self, env: PartitionEnv) -> list[str]:
        return list(env.dynamic.get(self.name, ()))

    def describe(self) -> str:
        return f"dynamic {self.name!r}"


_GLOB = "*?["


class FilePartitions(PartitionsDefinition):
    """One partition per file a glob matches (relative to the project directory; ``**`` crosses
    directories). A key is the file's path relative to the glob's fixed directory: for
    ``data/raw/*.csv``, the file's name. Each partition reads its file: its content digest is
    an input of that partition alone (``context.partition_path`` is the file)."""

    kind = "files"

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError(f"FilePartitions needs a glob such as 'data/raw/*.csv', got {pattern!r}")
        p = pattern.replace("\\", "/")
        parts = [s for s in p.split("/") if s not in ("", ".")]
        if p.startswith("/") or ".." in parts or not parts:
            raise ValueError(f"FilePartitions: {pattern!r} must be relative to the project directory and stay "
                             "inside it")
        if not any(c in p for c in _GLOB):
            raise ValueError(f"FilePartitions: {pattern!r} has no wildcard ('*', '?', '[...]'); it would match "
                             "one file at most: declare a source() instead")
        fixed: list[str] = []
        for s in parts:
            if any(c in s for c in _GLOB):
                break
            fixed.append(s)
        self.pattern = "/".join(parts)
        self.directory = "/".join(fixed)  # "" for a glob at the project's top
        self._regex: Any = None

    def identity(self) -> tuple[Any, ...]:
        return ("files", self.pattern)

    def keys(self, env: PartitionEnv) -> list[str]:
        cut = len(self.directory) + 1 if self.directory else 0
        return sorted(f[cut:] for f in env.files(self.pattern))

    def matches(self, path: str) -> bool:
        """Whether the glob matches ``path`` (relative to the project directory, '/'-separated), as
        ``glob`` would: an output it matches would become a partition of the next build."""
        import re

        if self._regex is None:
            out, p, i = [], self.pattern, 0
            while i < len(p):
                if p.startswith("**/", i):
                    out.append("(?:[^/]*/)*")
                    i += 3
                elif p.startswith("**", i):
                    out.append(".*")
                    i += 2
                elif p[i] == "*":
                    out.append("[^/]*")
                    i += 1
                elif p[i] == "?":
                    out.append("[^/]")
                    i += 1
                elif p[i] == "[" and "]" in p[i + 2:]:
                    j = p.index("]", i + 2)
                    body = p[i + 1:j]
                    out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
                    i = j + 1
                else:
                    out.append(re.escape(p[i]))
                    i += 1
            self._regex = re.compile("".join(out) + r"\Z")
        return self._regex.match(path) is not None

    def path(self, key: str) -> str:
        """The file of partition ``key``, relative to the project directory."""
        return f"{self.directory}/{key}" if self.directory else key

    def key_part(self, key: str) -> str:
        return self.path(key)

    def describe(self) -> str:
        return f"files {self.pattern!r}"


# --- time windows ---------------------------------------------------------------------------

_FORMATS = {"hour": "%Y-%m-%d-%H:00", "day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}
_STEP_S = {"hour": 3600, "day": 86400, "week": 7 * 86400}


def _parse_start(value: Any, unit: str, what: str) -> Any:
    """A naive local datetime from a date, a datetime, "YYYY-MM-DD", or a key in the unit's format."""
    from datetime import date, datetime

    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        for fmt in (_FORMATS[unit], "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
            try:
                return datetime.strptime(value.strip(), fmt)
            except ValueError:
                continue
    raise ValueError(f"{what}: {value!r} is not a date ('2024-01-01') or a key in this definition's format "
                     f"({_FORMATS[unit]!r})")


def _zone(name: str, what: str) -> Any:
    from datetime import timezone

    if name in ("UTC", "utc", "Z"):
        return timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError for a bad name
        raise ValueError(f"{what}: unknown time zone {name!r} (an IANA name such as 'Europe/Paris', or 'UTC')"
                         ) from None


class TimeWindowPartitions(PartitionsDefinition):
    """Consecutive windows of one unit from ``start``; ``end=None``: up to the last complete window
    (one whose end is at or before the build's "now"), else also not past ``end``.
    ``timezone``: an IANA zone, default UTC. Use the unit classes: ``HourlyPartitions``,
    ``DailyPartitions``, ``WeeklyPartitions``, ``MonthlyPartitions``."""

    unit = ""

    def __init__(self, start: Any, end: Any = None, timezone: str = "UTC") -> None:
        what = type(self).__name__
        self.kind = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}[self.unit]
        self.fmt = _FORMATS[self.unit]
        self.timezone = timezone
        self.tz = _zone(timezone, what)
        first = _parse_start(start, self.unit, what)
        if first.tzinfo is not None:  # an aware start: its wall clock in this zone
            first = first.astimezone(self.tz).replace(tzinfo=None)
        self.start = self._on_boundary(first, start, what)
        self.end = None
        if end is not None:
            last = _parse_start(end, self.unit, what)
            self.end = last.astimezone(self.tz).replace(tzinfo=None) if last.tzinfo is not None else last
            if self.end <= self.start:
                raise ValueError(f"{what}: end {end!r} is not after start {start!r}")
        self._cache: tuple[int, tuple[list[str], list[int], list[int]]] | None = None

    def _floor(self, t: Any) -> Any:
        """The boundary at or before a naive local time: the start of the window holding it."""
        from datetime import timedelta

        if self.unit == "hour":
            return t.replace(minute=0, second=0, microsecond=0)
        if self.unit == "month":
            return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        b = t.replace(hour=0, minute=0, second=0, microsecond=0)
        return b - timedelta(days=b.weekday()) if self.unit == "week" else b  # weeks start on Monday (ISO 8601)

    def _on_boundary(self, t: Any, given: Any, what: str) -> Any:
        """``t`` if a window starts there; else ValueError naming the two boundaries around it.
        Moving it to either one silently would drop days the user asked for (the next one) or add
        days they excluded (the one before): they choose."""
        b = self._floor(t)
        if b == t:
            return t
        unit = "week (weeks start on Monday)" if self.unit == "week" else self.unit
        raise ValueError(f"{what}: start {given!r} is not at the start of a {unit}: use start="
                         f"{b.strftime(self.fmt)!r} to include the {self.unit} holding it, or "
                         f"{self._next(b).strftime(self.fmt)!r} to begin with the next whole one")

    def _next(self, b: Any) -> Any:
        from datetime import timedelta

        if self.unit == "month":
            return b.replace(year=b.year + b.month // 12, month=b.month % 12 + 1)
        return b + timedelta(seconds=_STEP_S[self.unit])

    def key_at(self, epoch_s: int) -> str:
        """The key of the window (on this definition's grid, a partition or not) holding an instant."""
        from datetime import datetime

        key: str = self._floor(datetime.fromtimestamp(epoch_s, self.tz).replace(tzinfo=None)).strftime(self.fmt)
        return key

    def shift_key(self, key: str, by: int) -> str:
        """The key ``by`` windows away from ``key`` on this definition's grid."""
        from datetime import datetime, timedelta

        b = datetime.strptime(key, self.fmt)
        if self.unit == "month":
            m = b.year * 12 + b.month - 1 + by
            return b.replace(year=m // 12, month=m % 12 + 1).strftime(self.fmt)
        return (b + timedelta(seconds=_STEP_S[self.unit] * by)).strftime(self.fmt)

    def shifted_window(self, key: str, by: int) -> tuple[int, int]:
        """(start, end) epoch seconds of the window ``by`` windows away from ``key``'s, whether or not
        that one is a partition (before ``start``, not yet complete): what ``TimeWindow(offset)``
        reads of another grain."""
        from datetime import datetime, timedelta

        def shift(b: Any, n: int) -> Any:
            if self.unit == "month":
                m = b.year * 12 + b.month - 1 + n
                return b.replace(year=m // 12, month=m % 12 + 1)
            return b + timedelta(seconds=_STEP_S[self.unit] * n)

        b = shift(datetime.strptime(key, self.fmt), by)
        return self._epoch(b), self._epoch(shift(b, 1))

    def identity(self) -> tuple[Any, ...]:
        return (self.kind, self.start.isoformat(), self.end.isoformat() if self.end else None, self.timezone)

    def same_grain(self, other: PartitionsDefinition) -> bool:
        """Whether both cut time the same way (same unit and zone): keys name the same windows."""
        return isinstance(other, TimeWindowPartitions) and other.unit == self.unit and other.timezone == self.timezone

    def describe(self) -> str:
        bits = [f"{self.kind} from {self.start.strftime(self.fmt)}"]
        if self.end is not None:
            bits.append(f"to {self.end.strftime(self.fmt)}")
        if self.timezone != "UTC":
            bits.append(self.timezone)
        return " ".join(bits)

    def _epoch(self, b: Any) -> int:
        return int(b.replace(tzinfo=self.tz).timestamp())

    def windows(self, now_ns: int) -> tuple[list[str], list[int], list[int]]:
        """(keys, window starts, window ends) of the complete windows at ``now_ns``: epoch seconds."""
        cached = self._cache
        if cached is not None and cached[0] == now_ns:
            return cached[1]
        now_s = now_ns // 1_000_000_000
        from datetime import timezone as _tz

        utc = self.tz is _tz.utc
        keys: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        limit = self._epoch(self.end) if self.end is not None else None
        b = self.start
        s = self._epoch(b)
        if utc and self.unit in ("hour", "day"):  # the common case, without a datetime per window
            step = _STEP_S[self.unit]
            day = b
            from datetime import timedelta

            while True:
                date = day.strftime("%Y-%m-%d")
                hours = range(day.hour, 24) if self.unit == "hour" else (None,)
                for h in hours:
                    e = s + step
                    if e > now_s or (limit is not None and e > limit):
                        result = (keys, starts, ends)
                        self._cache = (now_ns, result)
                        return result
                    keys.append(date if h is None else f"{date}-{h:02d}:00")
                    starts.append(s)
                    ends.append(e)
                    s = e
                day = day.replace(hour=0) + timedelta(days=1)
        while True:
            nb = self._next(b)
            e = self._epoch(nb)
            if e > now_s or (limit is not None and e > limit):
                break
            if e > s:  # an hour a DST change skips has no window
                keys.append(b.strftime(self.fmt))
                starts.append(s)
                ends.append(e)
            b, s = nb, max(s, e)
        result = (keys, starts, ends)
        self._cache = (now_ns, result)
        return result

    def keys(self, env: PartitionEnv) -> list[str]:
        return list(self.windows(env.now_ns)[0])

    def window(self, key: str, now_ns: int) -> tuple[int, int] | None:
        """(start, end) epoch seconds of ``key``'s window (None: no such complete window)."""
        keys, starts, ends = self.windows(now_ns)
        i = bisect_left(keys, key)  # keys sort as their windows do
        if i < len(keys) and keys[i] == key:
            return starts[i], ends[i]
        return None

    def key_part(self, key: str) -> str:
        return f"{self.kind}:{self.timezone}"


class HourlyPartitions(TimeWindowPartitions):
    """One partition per hour, keyed ``%Y-%m-%d-%H:00``."""

    unit = "hour"


class DailyPartitions(TimeWindowPartitions):
    """One partition per day, keyed ``%Y-%m-%d``."""

    unit = "day"


class WeeklyPartitions(TimeWindowPartitions):
    """One partition per week, Monday to Monday, keyed by its Monday (``%Y-%m-%d``)."""

    unit = "week"


class MonthlyPartitions(TimeWindowPartitions):
    """One partition per calendar month, keyed ``%Y-%m``."""

    unit = "month"


def node_name(asset: str, key: str) -> str:
    """The name of one partition in the graph, the store and reports: ``daily[2024-01-01]``."""
    return f"{asset}[{key}]"


def split_node(name: str) -> tuple[str, str | None]:
    """(asset, partition key) of a node name; (name, None) for an unpartitioned asset."""
    i = name.find("[")
    if i < 0 or not name.endswith("]"):
        return name, None
    return name[:i], name[i + 1:-1]


def parse_keys(spec: str | Sequence[str], keys: Sequence[str]) -> list[str]:
    """The keys ``--partitions`` names: ``A..B`` (inclusive, in key order; ``A..`` from A to the
    last, ``..B`` from the first to B), ``a,b,c``, or one key; ValueError naming the nearest
    valid keys for one that does not exist. A sequence (``--partition KEY``, ``partitions=[...]``)
    names keys exactly, none split: ``--partition 'eu,us west'`` is one key, not two."""
    if not isinstance(spec, str):
        missing = [k for k in spec if k not in set(keys)]
        if missing:
            raise ValueError(unknown_key(missing[0], keys))
        return list(dict.fromkeys(spec))
    if spec in keys:
        return [spec]
    index = {k: i for i, k in enumerate(keys)}
    out: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if ".." in item and item not in index:
            a, b = (s.strip() for s in item.split("..", 1))
            if not keys:
                raise ValueError(unknown_key(a or b or item, keys))
            ia, ib = index.get(a, 0 if not a else None), index.get(b, len(keys) - 1 if not b else None)
            for end, i in ((a, ia), (b, ib)):
                if i is None:
                    raise ValueError(unknown_key(end, keys))
            assert ia is not None and ib is not None
            if ia > ib:
                raise ValueError(f"partition range {item!r} runs backwards: {a!r} comes after {b!r}")
            out += keys[ia:ib + 1]
        elif item in index:
            out.append(item)
        else:
            raise ValueError(unknown_key(item, keys))
    return list(dict.fromkeys(out))


def unknown_key(key: str, keys: Sequence[str]) -> str:
    """"no partition 'x'", with the nearest valid keys, in key order: first the two it would sort
    between (for a key mistyped in its format, the one meant is usually one of them:
    '2024-03-02-00' sorts just before '2024-03-02-00:00'), then those most alike in spelling,
    then more sorted neighbours."""
    if not keys:
        return f"no partition {key!r}: there are no partitions"
    from .selection import same_but_form

    same = same_but_form(key, keys)
    if same is not None:  # (keys are data, taken as typed: not normalized as names are)
        return f"no partition {key!r}; {same!r} differs from it only in its Unicode normalization"
    ordered = sorted(keys)
    i = bisect_left(ordered, key)
    import difflib

    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    shown = sorted(list(dict.fromkeys(ordered[max(i - 1, 0):i + 1] + close + ordered[max(i - 2, 0):i + 2]))[:4])
    return f"no partition {key!r} (nearest: {', '.join(shown)}; {len(keys)} in all, {keys[0]} to {keys[-1]})"
