"""Partition mappings: which partitions of an upstream asset each partition of its reader reads.

``In(asset, mapping=...)`` names the mapping in ``ins``; without one, equal definitions map by
identity, time partitions of another grain by the windows that overlap, and an unpartitioned
reader reads every partition. ``plan_mapping`` says which rule applies (or why none does), and
a ``Mapper`` turns each downstream key into upstream keys. Pure, like ``partitions``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .partitions import PartitionsDefinition, TimeWindowPartitions

# --- mappings -------------------------------------------------------------------------------

class PartitionMapping:
    """Which upstream partitions a downstream partition reads."""

    def describe(self) -> str:
        return type(self).__name__


class TimeWindow(PartitionMapping):
    """The upstream windows a downstream window reads, moved ``offset`` windows of the coarser of
    the two grains: ``TimeWindow(offset=-1)`` on a daily asset is yesterday's partition of a daily
    upstream (the parameter receives None where there is none, as for the first day), yesterday's
    24 partitions of an hourly one, and, on an hourly asset reading a daily one, the day before
    the hour's day (a dict, empty where there are none)."""

    def __init__(self, offset: int = 0) -> None:
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise ValueError(f"TimeWindow(offset=...) takes an int, got {offset!r}")
        self.offset = offset

    def describe(self) -> str:
        return f"TimeWindow(offset={self.offset})"


class LastN(PartitionMapping):
    """A dict of the last ``n`` upstream partitions, up to and including the one the downstream
    partition matches (fewer at the start); read by an unpartitioned asset, the last ``n``."""

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"LastN(n) takes a positive int, got {n!r}")
        self.n = n

    def describe(self) -> str:
        return f"LastN({self.n})"


class AllPartitions(PartitionMapping):
    """A dict of every upstream partition: each new partition reruns the reader."""

    def describe(self) -> str:
        return "AllPartitions()"


class StaticMapping(PartitionMapping):
    """``{downstream key: [upstream keys]}`` (or one key as a str): a dict of those that exist."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        out: dict[str, tuple[str, ...]] = {}
        for k, v in table.items():
            if not isinstance(k, str):
                raise ValueError(f"a partition mapping's keys are downstream partition keys (str), got {k!r}")
            ups = (v,) if isinstance(v, str) else tuple(v) if isinstance(v, (list, tuple)) else None
            if ups is None or not all(isinstance(u, str) for u in ups):
                raise ValueError(f"a partition mapping maps {k!r} to {v!r}; give an upstream key or a list of them")
            out[k] = ups
        self.table = out

    def describe(self) -> str:
        return "a static mapping"


class In:
    """An input named with how its partitions map: ``ins={"prev": In("daily",
    mapping=TimeWindow(offset=-1))}``. ``mapping`` is a ``TimeWindow``, ``LastN``,
    ``AllPartitions`` or a dict ``{downstream key: [upstream keys]}``."""

    __slots__ = ("asset", "mapping")

    def __init__(self, asset: str, mapping: Any = None) -> None:
        self.asset = asset
        if isinstance(mapping, Mapping):
            mapping = StaticMapping(mapping)
        if mapping is not None and not isinstance(mapping, PartitionMapping):
            raise ValueError(f"In({asset!r}, mapping=...) takes TimeWindow(...), LastN(n), AllPartitions() or "
                             f"a dict of keys, got {mapping!r}")
        self.mapping = mapping

    def __repr__(self) -> str:
        return f"In({self.asset!r}{', mapping=' + self.mapping.describe() if self.mapping else ''})"


@dataclass
class Mapped:
    """What one downstream partition reads of one upstream asset: ``keys`` (upstream keys, in
    order), and whether the parameter receives a dict (``many``) or one value (None if none)."""

    keys: list[str]
    many: bool


class MappingError(ValueError):
    """Two partitioned assets whose partitions do not map (the graph names the assets)."""


def plan_mapping(down: PartitionsDefinition | None, up: PartitionsDefinition, mapping: PartitionMapping | None
                 ) -> str:
    """How a reader with ``down`` partitions reads an upstream with ``up`` partitions:
    "identity", "overlap", "offset", "last", "all" or "static"; MappingError if they do not map."""
    if down is None:
        if mapping is None or isinstance(mapping, AllPartitions):
            return "all"
        if isinstance(mapping, LastN):
            return "last"
        raise MappingError(f"{mapping.describe()} needs a partitioned reader; an unpartitioned asset reads all "
                           "partitions (or LastN(n))")
    if isinstance(mapping, AllPartitions):
        return "all"
    if isinstance(mapping, StaticMapping):
        _check_static(down, up, mapping)
        return "static"
    time = isinstance(down, TimeWindowPartitions) and isinstance(up, TimeWindowPartitions)
    if isinstance(mapping, TimeWindow):
        if not time:
            raise MappingError("TimeWindow(...) maps time partitions to time partitions")
        return "offset"
    if isinstance(mapping, LastN):
        if not time and down != up:
            raise MappingError("LastN(n) between different partitions needs time partitions on both sides")
        return "last"
    if down == up or (time and down.same_grain(up)):  # type: ignore[attr-defined]
        return "identity"
    if time:
        return "overlap"
    raise MappingError("their partitions differ and no mapping says which of them each one reads")


def _check_static(down: PartitionsDefinition, up: PartitionsDefinition, mapping: StaticMapping) -> None:
    """A static mapping naming a key that static partitions lack is a typo (keys that come and go,
    files' or dynamic ones, are not checked: a missing one is simply not read)."""
    from .partitions import StaticPartitions

    for side, defn, keys in (("downstream", down, mapping.table), ("upstream", up,
                                                                   [u for ups in mapping.table.values() for u in ups])):
        if isinstance(defn, StaticPartitions):
            have = set(defn.keys())
            bad = [k for k in dict.fromkeys(keys) if k not in have]
            if bad:
                raise MappingError(f"the mapping names {side} key(s) {', '.join(map(repr, bad))} that "
                                   f"{defn.describe()} lacks")


_GRAIN = {"hour": 0, "day": 1, "week": 2, "month": 3}  # which unit is coarser (TimeWindow offsets)


class Mapper:
    """Upstream keys for each downstream key under one plan (``plan_mapping``). Time plans
    need both sides' windows at the build's "now"."""

    def __init__(self, plan: str, down: PartitionsDefinition | None, up: PartitionsDefinition,
                 mapping: PartitionMapping | None, down_keys: Sequence[str], up_keys: Sequence[str],
                 now_ns: int) -> None:
        self.plan = plan
        self.up_keys = list(up_keys)
        self.down_keys = list(down_keys)
        self.mapping = mapping
        self._index = {k: i for i, k in enumerate(self.up_keys)}
        self._down_index: dict[str, int] | None = None
        self._windows: Any = None
        self._aligned = down == up
        self._down = down
        self._up = up
        if isinstance(up, TimeWindowPartitions) and isinstance(down, TimeWindowPartitions):
            self._aligned = down.same_grain(up)
            if not self._aligned:
                _, us, ue = up.windows(now_ns)
                dk, ds, de = down.windows(now_ns)
                self._windows = (us, ue, dict(zip(dk, zip(ds, de))))

    def _span(self, key: str) -> tuple[int, int]:
        """[lo, hi) indexes of the upstream partitions whose windows overlap downstream ``key``'s."""
        us, ue, down = self._windows
        s, e = down[key]
        return bisect_right(ue, s), bisect_left(us, e)

    def _shifted(self, key: str, off: int) -> str | None:
        """The key ``off`` windows away from ``key`` (same grain), if the upstream has it."""
        i = self._index.get(key)
        if i is not None:
            j = i + off
            return self.up_keys[j] if 0 <= j < len(self.up_keys) else None
        if self._down_index is None:  # a key the upstream lacks: count in the reader's own windows
            self._down_index = {k: n for n, k in enumerate(self.down_keys)}
        j = self._down_index[key] + off
        other = self.down_keys[j] if 0 <= j < len(self.down_keys) else None
        return other if other is not None and other in self._index else None

    def __call__(self, key: str | None) -> Mapped:
        plan, ups = self.plan, self.up_keys
        if plan == "all":
            return Mapped(ups, True)
        if key is None:  # an unpartitioned reader of LastN(n): the last n
            assert isinstance(self.mapping, LastN)
            return Mapped(ups[-self.mapping.n:], True)
        if plan == "static":
            assert isinstance(self.mapping, StaticMapping)
            return Mapped([u for u in self.mapping.table.get(key, ()) if u in self._index], True)
        if plan == "identity":
            return Mapped([key] if key in self._index else [], False)
        if plan == "overlap":
            lo, hi = self._span(key)
            return Mapped(ups[lo:hi], True)
        if plan == "offset":
            assert isinstance(self.mapping, TimeWindow)
            off = self.mapping.offset
            if self._aligned:
                k = self._shifted(key, off)
                return Mapped([k] if k is not None else [], False)
            down, up = self._down, self._up
            assert isinstance(down, TimeWindowPartitions) and isinstance(up, TimeWindowPartitions)
            us, ue, windows = self._windows
            if _GRAIN[down.unit] >= _GRAIN[up.unit]:  # in the reader's windows: a day's yesterday's hours
                s, e = down.shifted_window(key, off)
                return Mapped(ups[bisect_right(ue, s):bisect_left(us, e)], True)
            s, e = windows[key]  # in the upstream's: an hour's day moved back one day, a partition or not
            first, last = up.key_at(s), up.key_at(e - 1)
            grid = [first]
            while grid[-1] != last:
                grid.append(up.shift_key(grid[-1], 1))
            moved = (up.shift_key(k, off) for k in grid)
            return Mapped([k for k in moved if k in self._index], True)
        assert plan == "last" and isinstance(self.mapping, LastN)
        n = self.mapping.n
        if self._aligned:
            keys = [k for k in (self._shifted(key, -i) for i in range(n - 1, -1, -1)) if k is not None]
            return Mapped(keys, True)
        lo, hi = self._span(key)
        return Mapped(ups[max(hi - n, 0):hi], True)
