"""Trimming the history (``cache gc``): the newest events of each asset are kept and the runs
some kept event belongs to, the rest dropped; the history rows of the entries gc drops go too.

An asset's versions (session.versions) are numbered from the newest, 0 being the current one,
and listed from those records (events that left a value, history rows). A version whose every
record is gone leaves the list, so its number would read as one never recorded (a usage error,
exit 2) rather than one that was (exit 1). So each trim counts, per asset, the versions it took
out of the list, under ``trimmed\\0PREFIX`` in meta (PREFIX: the asset's 16-byte history prefix,
which names its project too), committed in the batch that drops the records: a number past the
listed versions by no more than that count is a trimmed one. A count rather than the keys, so the
record stays 8 bytes however long a daemon runs: a trimmed key built again later is listed again
and still counted, so the last number the count allows may then be one that never was.
"""

from __future__ import annotations

from collections.abc import Container
from typing import NamedTuple

from ..reports import VALUE_KINDS
from .environment import Index
from .records import Batch, decode_event

TRIMMED = b"trimmed\0"  # + a history prefix -> versions trimmed from its list (8 bytes, big-endian)


class HistoryTrim(NamedTuple):
    """What a trim dropped (or would, dry): events, runs, history rows, and versions no longer listed."""

    events: int
    runs: int
    rows: int
    versions: int


def trim_history(index: Index, batch: Batch, keep: int | None, *, dropped: Container[str],
                 protected: Container[str], dry_run: bool = False) -> HistoryTrim:
    """Keep the ``keep`` newest events of each asset of every project (None: all) and the runs
    they belong to; drop the history rows of the entries in ``dropped`` (trace keys gc drops);
    count the versions this takes out of each asset's list (never one in ``protected``: a key
    some head holds is listed as its asset's current version)."""
    by_prefix: dict[bytes, list[bytes]] = {}
    for k, _v in index.scan(b"events"):
        k = bytes(k)
        by_prefix.setdefault(k[:16], []).append(k)
    drop: set[bytes] = set()
    if keep is not None:
        for keys in by_prefix.values():  # keys come sorted: by run, then place in the run
            drop.update(keys[:-keep] if keep > 0 else keys)
    live_runs = {k[16:24] for keys in by_prefix.values() for k in keys if k not in drop}
    dead_runs = [bytes(k) for k, _v in index.scan(b"runs") if bytes(k)[16:24] not in live_runs]
    row_keys: dict[bytes, set[str]] = {}  # prefix -> the keys its history rows hold
    gone_rows: list[bytes] = []
    for k, v in index.scan(b"history"):
        key = bytes(v).hex()
        row_keys.setdefault(bytes(k)[:16], set()).add(key)
        if key in dropped:
            gone_rows.append(bytes(k))
    lost: dict[bytes, int] = {}
    for prefix in {k[:16] for k in drop} | {k[:16] for k in gone_rows}:
        before, after = set(row_keys.get(prefix, ())), {x for x in row_keys.get(prefix, ()) if x not in dropped}
        for k, v in index.scan(b"events", prefix):
            e = decode_event(bytes(v))
            if e is not None and e.kind in VALUE_KINDS and e.key:
                before.add(e.key)
                if bytes(k) not in drop:
                    after.add(e.key)
        n = sum(1 for x in before - after if x not in protected)
        if n:
            lost[prefix] = n
    if not dry_run:
        for k in drop:
            batch.put(b"events", k, None)
        for k in dead_runs:
            batch.put(b"runs", k, None)
        for k in gone_rows:
            batch.put(b"history", k, None)
        for prefix, n in lost.items():
            batch.put(b"meta", TRIMMED + prefix, (trimmed_count(index, prefix) + n).to_bytes(8, "big"))
    return HistoryTrim(len(drop), len(dead_runs), len(gone_rows), sum(lost.values()))


def trimmed_count(index: Index, prefix: bytes) -> int:
    """How many versions trims took out of the list of the asset whose history prefix is ``prefix``."""
    raw = index.get(b"meta", TRIMMED + prefix)
    return int.from_bytes(raw, "big") if raw is not None and len(raw) == 8 else 0
