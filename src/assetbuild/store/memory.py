"""``MemoryStore``: the store contracts (``TraceStore``, ``StatCache``) kept in dicts, for pure
unit tests of the rebuilder and the scheduler: no files, no LMDB, no threads.

It keeps the semantics the engine relies on: lookups by key see unflushed writes, scans
(``heads``, ``history``, ``iter_traces``) see committed ones only; ``flush`` commits the
batch (``reopen`` shows what a process would find after this one died: committed writes only);
every blob read is verified against its digest (CacheCorrupt, and the blob dropped); a spooled
file given to ``put_blob_file`` is taken (gone afterwards). It keeps no blob files: ``blob_file``
is always None.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import CacheCorrupt
from ..reports import Event, Head, ObservationRecord, RunRecord, SkipRecord, Trace
from .cas import digest_bytes, take_file_bytes

_TABLES = ("traces", "heads", "history", "stat", "blobs", "observations", "skips", "events", "runs", "meta", "texts",
           "partition_keys")
_GONE = object()  # a pending delete


class MemoryStore:
    """Traces, heads, history, stat cache and blobs in memory, with writes batched until ``flush``.

    ``clock``: what ``maybe_flush`` measures the batch's age with (a test passes its own).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 _committed: dict[str, dict[Any, Any]] | None = None) -> None:
        self._committed = _committed if _committed is not None else {t: {} for t in _TABLES}
        self._pending: dict[tuple[str, Any], Any] = {}
        self._clock = clock
        self._last_flush = clock()
        self.flushes = 0  # commits that wrote something

    def reopen(self) -> MemoryStore:
        """A new store over what this one committed (what a process finds after this one died)."""
        return MemoryStore(clock=self._clock,
                           _committed={t: dict(rows) for t, rows in self._committed.items()})

    def close(self) -> None:
        pass

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the batch ---------------------------------------------------------------------------

    def _get(self, table: str, key: Any) -> Any:
        value = self._pending.get((table, key))
        if value is None:
            return self._committed[table].get(key)
        return None if value is _GONE else value

    def _put(self, table: str, key: Any, value: Any) -> None:
        self._pending[(table, key)] = value

    def _rows(self, table: str) -> dict[Any, Any]:
        """The committed rows of ``table``: scans, as LmdbStore's, do not see the batch."""
        return dict(self._committed[table])

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        self._last_flush = self._clock()
        if not self._pending:
            return
        for (table, key), value in self._pending.items():
            if value is _GONE:
                self._committed[table].pop(key, None)
            else:
                self._committed[table][key] = value
        self._pending.clear()
        self.flushes += 1

    def maybe_flush(self, interval_s: float = 0.25, max_pending: int = 5000) -> None:
        """Commit when the batch is old or large (as ``LmdbStore.maybe_flush``)."""
        if self._pending and (len(self._pending) >= max_pending
                              or self._clock() - self._last_flush >= interval_s):
            self.flush()

    @contextlib.contextmanager
    def flushing_while_away(self, flush: Callable[[], None] | None = None,
                            interval_s: float = 0.25) -> Iterator[None]:
        """Nothing commits in the background here: the batch waits for the next (maybe_)flush."""
        yield

    def settle(self) -> tuple[str, ...]:
        """Nothing arrives later: no key failed to arrive."""
        return ()

    # --- traces, heads, history --------------------------------------------------------------

    def get_trace(self, key: str) -> Trace | None:
        trace: Trace | None = self._get("traces", key)
        return trace

    def put_trace(self, key: str, trace: Trace) -> None:
        self._put("traces", key, Trace(*trace))

    def delete_trace(self, key: str) -> None:
        self._put("traces", key, _GONE)

    def iter_traces(self) -> Iterator[tuple[str, Trace]]:
        yield from sorted(self._rows("traces").items())

    def get_head(self, asset: str) -> Head | None:
        head: Head | None = self._get("heads", asset)
        return head

    def put_head(self, asset: str, head: Head, *, device: int | None = None) -> None:
        """(``device``: no racy signature is smudged here, as ``LmdbStore``'s commit does: nothing
        of this store outlives its process, whose files' edits its tests make themselves.)"""
        self._put("heads", asset, head)

    def delete_head(self, asset: str) -> None:
        self._put("heads", asset, _GONE)

    def heads(self, skip: Callable[[str], bool] | None = None) -> dict[str, Head]:
        rows: dict[str, Head] = self._rows("heads")
        return rows if skip is None else {n: h for n, h in rows.items() if not skip(n)}

    def partition_heads(self, asset: str, live: Any = ()) -> dict[str, Head]:
        return {n: h for n, h in self._rows("heads").items() if n.startswith(asset + "[") and n not in live}

    def partition_keys_seen(self, asset: str) -> str | None:
        return self._rows("partition_keys").get(asset)

    def put_partition_keys_seen(self, asset: str, digest: str | None) -> None:
        self._put("partition_keys", asset, digest if digest is not None else _GONE)

    def add_history(self, asset: str, when_ns: int, key: str) -> None:
        seq = (self._get("meta", "history_seq") or 0) + 1  # (a row per build, in build order: records.history_key)
        self._put("meta", "history_seq", seq)
        self._put("history", (asset, seq, when_ns), key)

    def history(self, asset: str) -> list[tuple[int, str]]:
        """(time in ns, key) of every recorded build of ``asset``, in build order."""
        return [(when, key) for (name, _, when), key in sorted(self._rows("history").items()) if name == asset]

    # --- blobs -------------------------------------------------------------------------------

    def has_blob(self, digest: str, size: int) -> bool:
        data = self._get("blobs", digest)
        return data is not None and len(data) == size

    def read_blob(self, digest: str) -> bytes:
        """The bytes stored under ``digest``, verified; CacheCorrupt (and the blob dropped) if not."""
        data: bytes | None = self._get("blobs", digest)
        if data is None:
            raise CacheCorrupt(digest, "missing")
        if digest_bytes(data) != digest:
            self._committed["blobs"].pop(digest, None)
            self._pending.pop(("blobs", digest), None)
            raise CacheCorrupt(digest, "corrupt (its bytes do not match its digest)")
        return data

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        digest = digest or digest_bytes(data)
        self._put("blobs", digest, bytes(data))
        return digest

    def put_blob_file(self, src: str | os.PathLike[str], digest: str, size: int) -> str:
        """Take the bytes of the file ``src``; ``src`` is gone when this returns, stored or not."""
        return self.put_blob(take_file_bytes(src), digest)

    def blob_file(self, digest: str, min_size: int = 1 << 20) -> Path | None:
        return None  # no blob is kept in a file

    def put_raw_blob(self, digest: str, data: bytes) -> None:
        """Keep ``data`` under ``digest`` unchecked, at once: for tests of damaged bytes."""
        self._committed["blobs"][digest] = data
        self._pending.pop(("blobs", digest), None)

    # --- stat cache --------------------------------------------------------------------------

    def get_stat(self, path: str) -> tuple[tuple[int, int, int, int], str] | None:
        stat: tuple[tuple[int, int, int, int], str] | None = self._get("stat", path)
        return stat

    def put_stat(self, path: str, sig: tuple[int, int, int, int], digest: str, *, device: int | None = None) -> None:
        self._put("stat", path, (tuple(sig), digest))

    # --- observations ------------------------------------------------------------------------

    def put_observation(self, source: str, record: ObservationRecord) -> None:
        self._put("observations", source, ObservationRecord(*record))

    def get_observation(self, source: str) -> ObservationRecord | None:
        rec: ObservationRecord | None = self._get("observations", source)
        return rec

    # --- skips -------------------------------------------------------------------------------

    def put_skip(self, asset: str, record: SkipRecord) -> None:
        self._put("skips", asset, SkipRecord(*record))

    def get_skip(self, asset: str) -> SkipRecord | None:
        rec: SkipRecord | None = self._get("skips", asset)
        return rec
    # --- history: events and runs -------------------------------------------------------------

    def get_meta(self, name: bytes) -> bytes | None:
        raw: bytes | None = self._get("meta", ("rec", name))
        return raw

    def put_meta(self, name: bytes, value: bytes | None) -> None:
        self._put("meta", ("rec", name), value if value is not None else _GONE)

    def scan_meta(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        rows = sorted((k[1], v) for k, v in self._rows("meta").items() if isinstance(k, tuple) and k[0] == "rec")
        return iter([(k, v) for k, v in rows if k.startswith(prefix)])

    def next_run_seq(self) -> int:
        seq = (self._get("meta", "run_seq") or 0) + 1
        self._put("meta", "run_seq", seq)
        return seq

    def put_event(self, event: Event) -> None:
        self._put("events", (event.asset, event.run, event.order), Event(*event))

    def events(self, asset: str) -> list[Event]:
        return [e for (name, _, _), e in sorted(self._rows("events").items()) if name == asset]

    def run_events(self, seq: int) -> list[Event]:
        return sorted((e for (_, run, _), e in self._rows("events").items() if run == seq), key=lambda e: e.order)

    def last_event(self, asset: str) -> Event | None:
        events = self.events(asset)
        return events[-1] if events else None

    def put_run(self, run: RunRecord) -> None:
        self._put("runs", run.seq, RunRecord(*run))

    def runs(self) -> list[RunRecord]:
        return [r for _, r in sorted(self._rows("runs").items())]

    def get_run(self, seq: int) -> RunRecord | None:
        run: RunRecord | None = self._get("runs", seq)
        return run

    def put_text(self, digest: str, text: bytes) -> None:
        if self._get("texts", digest) is None:
            self._put("texts", digest, bytes(text))

    def get_text(self, digest: str) -> bytes | None:
        text: bytes | None = self._get("texts", digest)
        return text
