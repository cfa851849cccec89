"""``LmdbStore``: the store of one cache directory, as the engine and the cache commands see it.

It composes the parts of this package: the LMDB ``Index`` (environment), a ``Batch`` of pending
writes and its ``Committer`` (records), the ``BlobFiles`` under cas/ (cas), the ``BuildLock``
(lock) and ``compact_index`` (compaction). It keeps these rules:

- Order of a write: a large blob is written to a temp file, fsynced and renamed into place before
  the transaction that refers to it commits; small blobs commit in the same transaction as their
  trace. A crash leaves at worst an orphan blob, never a trace without its bytes.
- Every blob read is verified against its digest; a bad one raises CacheCorrupt and is dropped
  (a read-only store only reports it).
- A stat signature taken in this build (a path output written or hashed, a file an asset wrote
  placed) is committed only if its file's times are older than the commit (racy).
- Use times cost no write on a null build: a key's "last used" time is the moment it stopped being
  its asset's latest key (``put_head`` stamps the displaced key, in the batch that moves the head);
  while it is the latest key it is in use and gc keeps it. Otherwise the trace's creation time.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import time
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any

from .. import clock
from ..errors import CacheCorrupt, StoreError
from ..reports import Event, Head, ObservationRecord, RunRecord, SkipRecord, Trace
from . import racy
from .cas import INLINE_MAX, BlobFiles, digest_bytes, is_digest, take_file_bytes
from .compaction import compact_index, leftovers
from .environment import DBS, INITIAL_MAP_SIZE, Index
from .lock import BuildLock
from .records import (
    DEFAULT_PROJECT,
    RECORD,
    Away,
    Batch,
    Committer,
    asset_events,
    decode,
    decode_event,
    decode_observation,
    decode_run,
    decode_skip,
    decode_stat,
    encode,
    encode_event,
    encode_observation,
    encode_run,
    encode_skip,
    encode_stat,
    event_key,
    history_key,
    history_prefix,
    history_rows,
    name_key,
    name_of_head_key,
    project_prefix,
    run_events,
    run_key,
    runs_prefix,
)
from .trimming import HistoryTrim, trim_history, trimmed_count

RECORD_DBS = tuple(db.decode() for db in DBS)


class LmdbStore:
    """Traces, heads, stat cache and blobs of one cache directory.

    ``readonly=True`` never creates or writes anything: a missing index reads as empty.
    ``project`` (see ``project_id``) selects whose heads and history the store reads and writes.
    """

    def __init__(self, cache_dir: str | os.PathLike[str], *, readonly: bool = False,
                 warn: Callable[[str], None] | None = None, map_size: int = INITIAL_MAP_SIZE,
                 project: str = DEFAULT_PROJECT) -> None:
        self.root = Path(cache_dir)
        self.readonly = readonly
        self.project = project
        self._head_prefix = project_prefix(project)
        self.warn: Callable[[str], None] = warn or (lambda msg: None)
        self._blobs = BlobFiles(self.root)
        self.cas = self._blobs.dir
        self._batch = Batch()
        # heads this store wrote, kept only while a run is recorded (history reads them back
        # for the run's events without decoding what it just encoded)
        self.written_heads: dict[str, Head] | None = None
        self._fresh = racy.FreshSignatures()  # judged at each commit (racy)
        self.smudged = self._fresh.smudged  # the assets whose path output's signature a commit dropped
        self._committer: Committer | None = None  # see flushing_while_away
        self._lock = BuildLock(self.root)
        self._index = Index(self.root, readonly=readonly, warn=self.warn, map_size=map_size)
        self._index.open()

    def close(self) -> None:
        if self._committer is not None:
            self._committer.stop()
            self._committer = None
        self._index.close()
        self.release_lock()

    def __enter__(self) -> LmdbStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- locking -----------------------------------------------------------------------------

    def acquire_lock(self, on_wait: Callable[[], None] | None = None) -> None:
        """Take the build lock; call ``on_wait`` once if another build holds it."""
        if self._lock.held:
            return
        self._lock.acquire(on_wait)
        self._index.drop_reader()  # what another build committed meanwhile must be visible
        self._index.reopen_if_replaced()

    def release_lock(self) -> None:
        self._lock.release()

    # --- reads -------------------------------------------------------------------------------

    def _get(self, db: bytes, key: bytes) -> bytes | None:
        writes = self._batch.writes
        if writes and (db, key) in writes:  # a null build's batch is empty: one test
            return writes[(db, key)]
        return self._index.get(db, key)

    def get_trace(self, key: str) -> Trace | None:
        raw = self._get(b"traces", bytes.fromhex(key))
        return None if raw is None else decode(raw, Trace)

    def _head_key(self, asset: str) -> bytes:
        return self._head_prefix + name_key(asset)

    def get_head(self, asset: str) -> Head | None:
        """This project's latest build of ``asset``."""
        raw = self._get(b"heads", self._head_key(asset))
        return None if raw is None else decode(raw, Head)

    def head_entry(self, asset: str) -> tuple[str, str, str, int, tuple[int, int, int, int] | None] | None:
        """(key, data version, output digest, size, path output's stat signature) of ``asset``'s
        latest build, without making the Head (a null build reads one per asset); None if there
        is none, or its record does not decode as a Head's (``get_head`` then says which). The
        signature is None unless the record holds a tuple there (as a Head's ``path_stat``)."""
        b = asset.encode("utf-8", "surrogatepass")
        k = self._head_prefix + (b if len(b) <= 400 else name_key(asset))  # _head_key, inline
        index = self._index
        db = index.dbs.get(b"heads")
        if index.env is None or db is None:  # (as Index.get: no store yet)
            return None
        if not self._batch.writes:  # a null build's batch is empty: the reader's get, without _get's layers
            try:
                raw = index._reader().get(k, db=db)
            except Exception:  # noqa: BLE001 - damage, a grown map...: _get handles and reports them
                raw = self._get(b"heads", k)
        else:
            raw = self._get(b"heads", k)
        if raw is None:
            return None
        try:
            rec = marshal.loads(raw)
        except (ValueError, EOFError, TypeError):
            return None
        if type(rec) is not tuple or len(rec) < 13 or rec[0] != RECORD:
            return None
        key, dv, digest, size, sig = rec[1], rec[2], rec[3], rec[11], rec[9]
        if type(key) is not str or type(dv) is not str or not is_digest(digest) or type(size) is not int:
            return None
        return key, dv, digest, size, sig if type(sig) is tuple else None

    def heads(self, skip: Callable[[str], bool] | None = None) -> dict[str, Head]:
        """This project's latest record of each asset, less those ``skip(name)`` leaves out unread
        (a build after an AssetFile edit wants removed assets' heads: decoding all 10,000 took 0.1 s)."""
        prefix, out = self._head_prefix, {}
        for k, v in list(self._index.scan(b"heads", prefix)):
            raw = bytes(k)
            name = name_of_head_key(raw)
            if (prefix or raw[:1] != b"\0") and (skip is None or not skip(name)):
                if (head := decode(v, Head)) is not None:
                    out[name] = head
        return out

    def partition_heads(self, asset: str, live: Container[str] = ()) -> dict[str, Head]:
        """This project's latest record of each partition of ``asset`` (``asset[KEY]``) but those
        named in ``live``, found by prefix: a partition whose key no longer exists is still here,
        until it is dropped."""
        prefix = self._head_key(asset + "[")
        out = {}
        for k, v in self._index.scan(b"heads", prefix):
            name = name_of_head_key(bytes(k))
            if name not in live and (head := decode(v, Head)) is not None:
                out[name] = head
        return out

    def _keys_seen_key(self, asset: str) -> bytes:
        return self._head_prefix + b"partition-keys\0" + name_key(asset)

    def partition_keys_seen(self, asset: str) -> str | None:
        """The digest of ``asset``'s partition keys when the store last held heads of no others
        (None: not known; see session.building): while the keys stay those, nothing to drop."""
        raw = self._get(b"meta", self._keys_seen_key(asset))
        return raw.decode() if raw is not None else None

    def put_partition_keys_seen(self, asset: str, digest: str | None) -> None:
        self._batch.put(b"meta", self._keys_seen_key(asset), digest.encode() if digest is not None else None)

    def all_heads(self) -> list[tuple[str, Head]]:
        """(asset name, latest record) of every project sharing this cache directory: what gc
        keeps, stats count and verify checks (a name appears once per project that has it)."""
        return [(name, h) for _raw, name, h in self._all_heads()]

    def _all_heads(self) -> list[tuple[bytes, str, Head]]:
        out: list[tuple[bytes, str, Head]] = []
        for k, v in list(self._index.scan(b"heads")):
            head = decode(v, Head)
            if head is not None:
                raw = bytes(k)
                out.append((raw, name_of_head_key(raw), head))
        return out

    def history(self, asset: str) -> list[tuple[int, str]]:
        """(time in ns, key) of every recorded build of ``asset`` in this project, in build order."""
        return history_rows(self._index.scan(b"history", history_prefix(self.project, asset)))

    def get_stat(self, path: str) -> tuple[tuple[int, int, int, int], str] | None:
        raw = self._get(b"stat", name_key(path))
        return None if raw is None else decode_stat(raw)

    def blob_path(self, digest: str) -> Path:
        return self._blobs.path(digest)

    def has_blob(self, digest: str, size: int) -> bool:
        """Cheap presence check (no hashing): inline record or a file of the right size."""
        if size <= INLINE_MAX:
            return True  # inline blobs commit in the same transaction as their trace
        return self._blobs.has(digest, size)

    def read_blob(self, digest: str) -> bytes:
        """The bytes stored under ``digest``, verified; CacheCorrupt (and the blob dropped) if not."""
        data = self._batch.blobs.get(digest)
        if data is not None:
            return data
        raw = self._get(b"blobs", bytes.fromhex(digest))
        in_file = raw is None
        if raw is None:
            raw = self._blobs.read(digest)
        if digest_bytes(raw) != digest:
            if self.readonly:
                pass  # writes nothing; the next build drops it
            elif in_file:
                self._blobs.drop(digest)
            else:
                self._batch.put(b"blobs", bytes.fromhex(digest), None)
            raise CacheCorrupt(digest, "corrupt (its bytes do not match its digest)")
        return bytes(raw)

    def blob_file(self, digest: str, min_size: int = 1 << 20) -> Path | None:
        """The file holding the blob ``digest`` if it is stored as one of ``min_size`` bytes or
        more (a process on this machine can read it there instead of receiving its bytes)."""
        if digest in self._batch.blobs:
            return None
        return self._blobs.file(digest, min_size)

    # --- writes (buffered until flush) -------------------------------------------------------

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Store ``data``; large blobs are durable on disk when this returns."""
        digest = digest or digest_bytes(data)
        if len(data) <= INLINE_MAX:
            self._batch.blobs[digest] = data
            self._batch.put(b"blobs", bytes.fromhex(digest), data)
        else:
            self._blobs.write(data, digest)
        return digest

    def spool_dir(self, *, sweep: bool = False) -> Path:
        """Where worker processes write large outputs for :meth:`put_blob_file` (on the same file
        system as the blobs, so that taking one is a rename). ``sweep``: see ``CAS.spool_dir``."""
        return self._blobs.spool_dir(sweep=sweep, warn=self.warn)

    def put_blob_file(self, src: str | os.PathLike[str], digest: str, size: int) -> str:
        """Store the bytes of the file ``src`` (a worker's spool file: written, fsynced, its
        digest computed as it was written) by renaming it into place: no copy passes through
        this process's memory. ``src`` is gone when this returns, stored or not."""
        if size <= INLINE_MAX:
            return self.put_blob(take_file_bytes(src), digest)
        self._blobs.take(src, digest)
        return digest

    def put_trace(self, key: str, trace: Trace) -> None:
        self._batch.put(b"traces", bytes.fromhex(key), encode(trace))

    def put_head(self, asset: str, head: Head, *, device: int | None = None) -> None:
        """Record ``asset``'s latest build; the key it replaces gets its last-used time (now).
        ``device``: ``head.path_stat`` was taken in this build, of a file on that device; the
        commit keeps it only if it is not racy (``racy``)."""
        hk = self._head_key(asset)
        raw = self._get(b"heads", hk)
        old = None if raw is None else decode(raw, Head)
        if old is not None and old.key != head.key:
            self.put_used(old.key, clock.now_ns())
        raw = encode(head)
        self._batch.put(b"heads", hk, raw)
        if device is not None and head.path_stat is not None:
            self._fresh.note(b"heads", hk, asset, head, device, raw)
        if self.written_heads is not None:
            self.written_heads[asset] = head

    def add_history(self, asset: str, when_ns: int, key: str) -> None:
        k = history_key(self.project, asset, self._next_seq(b"history_seq"), when_ns)
        self._batch.put(b"history", k, bytes.fromhex(key))

    def put_stat(self, path: str, sig: tuple[int, int, int, int], digest: str, *, device: int | None = None) -> None:
        """Remember ``path``'s digest under its signature. ``device``: ``sig`` was taken just now
        of a file on that device (a file an asset wrote, placed): committed only if not racy."""
        k, raw = name_key(path), encode_stat(sig, digest)
        self._batch.put(b"stat", k, raw)
        if device is not None:
            self._fresh.note(b"stat", k, path, sig, device, raw)

    def put_observation(self, source: str, record: ObservationRecord) -> None:
        """Record the latest observation of an observable source (this project's)."""
        self._batch.put(b"observations", self._head_key(source), encode_observation(record))

    def get_observation(self, source: str) -> ObservationRecord | None:
        """The latest recorded observation of ``source`` in this project, if any."""
        raw = self._get(b"observations", self._head_key(source))
        return None if raw is None else decode_observation(raw)

    def put_skip(self, asset: str, record: SkipRecord) -> None:
        """Record the latest skip of an asset (this project's)."""
        self._batch.put(b"skips", self._head_key(asset), encode_skip(record))

    def get_skip(self, asset: str) -> SkipRecord | None:
        """The latest recorded skip of ``asset`` in this project, if any."""
        raw = self._get(b"skips", self._head_key(asset))
        return None if raw is None else decode_skip(raw)
    # --- small records of this project (the daemon's ticks and state) ------------------------

    def get_meta(self, name: bytes) -> bytes | None:
        """This project's small record ``name`` (see assetbuild.ticks), None if absent."""
        return self._get(b"meta", self._head_prefix + b"rec\0" + name)

    def put_meta(self, name: bytes, value: bytes | None, *, prefix: bytes | None = None) -> None:
        """Write (None: delete) this project's small record ``name``, in the batch (``prefix``: another
        project's, as ``records.project_of_head_key`` gives it)."""
        self._batch.put(b"meta", (self._head_prefix if prefix is None else prefix) + b"rec\0" + name, value)

    def scan_meta(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(name, value) of this project's committed small records whose name starts with ``prefix``."""
        full = self._head_prefix + b"rec\0"
        for k, v in self._index.scan(b"meta", full + prefix):
            yield bytes(k)[len(full):], bytes(v)

    # --- history: events and runs -------------------------------------------------------------

    def next_run_seq(self) -> int:
        """A new run's sequence number, the next in this cache directory (under the build lock)."""
        return self._next_seq(b"run_seq")

    def _next_seq(self, name: bytes) -> int:
        raw = self._get(b"meta", name)
        seq = (int.from_bytes(raw, "big") if raw else 0) + 1
        self._batch.put(b"meta", name, seq.to_bytes(8, "big"))
        return seq

    def put_text(self, digest: str, text: bytes) -> None:
        """Keep a source file's text (compressed) under its sha256, once."""
        import zlib

        k = bytes.fromhex(digest)
        if self._get(b"texts", k) is None:
            self._batch.put(b"texts", k, zlib.compress(text, 6))

    def get_text(self, digest: str) -> bytes | None:
        import zlib

        raw = self._get(b"texts", bytes.fromhex(digest))
        try:
            return None if raw is None else zlib.decompress(raw)
        except zlib.error:  # LMDB has no checksums: a damaged text is no text
            return None

    def trim_texts(self, live: set[str], *, dry_run: bool = False) -> int:
        """Drop the kept source texts no head refers to (``live``: their digests); how many."""
        dead = [bytes(k) for k, _v in self._index.scan(b"texts") if bytes(k).hex() not in live]
        if not dry_run:
            for k in dead:
                self._batch.put(b"texts", k, None)
        return len(dead)

    def keep_written_heads(self) -> dict[str, Head]:
        """From now on, keep each head this store writes (asset -> Head) in the dict returned."""
        if self.written_heads is None:
            self.written_heads = {}
        return self.written_heads

    def put_event(self, event: Event) -> None:
        """Record an event (``event.order``: its place in its run)."""
        self._batch.put(b"events", event_key(self.project, event.asset, event.run, event.order), encode_event(event))

    def events(self, asset: str) -> list[Event]:
        """This project's recorded events of ``asset``, oldest first."""
        return asset_events(self._index.scan(b"events", history_prefix(self.project, asset)), asset)

    def run_events(self, seq: int) -> list[Event]:
        """This project's events of run ``seq``, whatever their assets (see ``run_events``: a scan)."""
        return run_events(self._index.scan(b"events"), self.project, seq)

    def last_event(self, asset: str) -> Event | None:
        """This project's latest recorded event of ``asset`` (one seek: ``status`` asks it of
        every asset that would run)."""
        row = self._index.last(b"events", history_prefix(self.project, asset))
        e = decode_event(row[1]) if row is not None else None
        return e if e is not None and e.asset == asset else None

    def put_run(self, run: RunRecord) -> None:
        if run.exit_status is None:
            self._lock.running(run.seq)  # (so runs tells this run's own lock from another holder's)
        self._batch.put(b"runs", run_key(self.project, run.seq), encode_run(run))

    def runs(self) -> list[RunRecord]:
        """This project's recorded runs, oldest first."""
        rows = self._index.scan(b"runs", runs_prefix(self.project))
        return [r for _k, v in rows if (r := decode_run(bytes(v))) is not None]

    def get_run(self, seq: int) -> RunRecord | None:
        if not 0 <= seq < 1 << 64:  # (no run has it: a run's key holds its id in 8 bytes)
            return None
        raw = self._get(b"runs", run_key(self.project, seq))
        return None if raw is None else decode_run(raw)

    def trim_history(self, keep: int | None, *, dropped: Container[str] = (), protected: Container[str] = (),
                     dry_run: bool = False) -> HistoryTrim:
        """Keep the ``keep`` newest events of each asset (of every project here) and their runs;
        drop the history rows of the traces in ``dropped``; count the versions no longer listed
        (see ``trimming``)."""
        return trim_history(self._index, self._batch, keep, dropped=dropped, protected=protected, dry_run=dry_run)

    def trimmed_versions(self, asset: str) -> int:
        """How many of ``asset``'s versions ``cache gc`` trimmed from its history (committed)."""
        return trimmed_count(self._index, history_prefix(self.project, asset))

    def delete_trace(self, key: str) -> None:
        self._batch.put(b"traces", bytes.fromhex(key), None)

    def delete_head(self, asset: str) -> None:
        self._batch.put(b"heads", self._head_key(asset), None)
        if self.written_heads is not None:
            self.written_heads.pop(asset, None)

    @property
    def pending(self) -> int:
        return len(self._batch)

    def maybe_flush(self, interval_s: float = 0.25, max_pending: int = 5000) -> None:
        """Commit when the batch is old or large: a crash redoes at most ``interval_s`` of work."""
        if self._batch.writes and self._batch.is_due(interval_s, max_pending):  # (a null build writes nothing)
            self.flush()

    def flushing_while_away(self, flush: Callable[[], None] | None = None,
                            interval_s: float = 0.25) -> contextlib.AbstractContextManager[None]:
        """While the calling thread is away from the store (running an asset, waiting for workers),
        commit the pending batch from another thread when ``maybe_flush`` would have: a crash then
        loses only the work still running, plus at most ``interval_s``. The caller must not touch
        the store inside the block. ``flush``: the outermost store's (a remote cache wraps this one)."""
        if not self._batch.writes or self.readonly:
            return contextlib.nullcontext()
        if self._committer is None:
            self._committer = Committer(self._index.drop_reader)
        self._index.drop_reader()
        return Away(self._committer, flush or self.flush, self._batch.due_at(interval_s))

    def settle(self) -> tuple[str, ...]:
        """Nothing arrives later in a local store: no key failed to arrive."""
        return ()

    def flush(self) -> None:
        """Commit every buffered write in one transaction, growing the map if it is full."""
        self._batch.last_commit = time.monotonic()
        if not self._batch.writes:
            return
        if self.readonly:
            raise StoreError("internal error: write to a read-only store")
        if self._fresh:
            self._fresh.judge(self._batch.writes, self.fs_tick(), encode)
        self._index.commit(self._batch.items())
        self._batch.clear()

    def fs_tick(self) -> tuple[int, int] | None:
        """The file system's clock now, on the cache's device (``racy.fs_tick`` of the lock file)."""
        return racy.fs_tick(str(self.root / "lock"))

    # --- whole-store operations --------------------------------------------------------------

    def iter_traces(self) -> Iterator[tuple[str, Trace]]:
        for k, v in self._index.scan(b"traces"):
            trace = decode(v, Trace)
            if trace is not None:
                yield k.hex(), trace

    def file_size(self) -> int:
        return self._index.file_size()

    # --- maintenance (assetbuild cache ...: see the cache package) ----------------------------

    def put_used(self, key: str, when_ns: int) -> None:
        self._batch.put(b"used", bytes.fromhex(key), when_ns.to_bytes(8, "big"))

    def delete_used(self, key: str) -> None:
        self._batch.put(b"used", bytes.fromhex(key), None)

    def used_times(self) -> dict[str, int]:
        """key -> when it last stopped being an asset's latest key (see the module docstring)."""
        return {k.hex(): int.from_bytes(v[:8], "big") for k, v in self._index.scan(b"used") if len(v) == 8}

    def get_build_summary(self) -> dict[str, Any] | None:
        raw = self._get(b"meta", b"last_build")
        try:
            out = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return out if isinstance(out, dict) else None

    def put_build_summary(self, summary: dict[str, Any]) -> bool:
        """Record the last build's counts, only if they differ from the recorded ones (so a
        repeated null build still writes nothing). Returns whether a write was queued."""
        if self.get_build_summary() == summary:
            return False
        self._batch.put(b"meta", b"last_build", json.dumps(summary, sort_keys=True).encode())
        return True

    def iter_records(self, db: str) -> Iterator[tuple[bytes, Any]]:
        """(raw key, decoded Trace/Head or None if the record does not decode) of traces or heads."""
        cls: type[Trace] | type[Head] = Trace if db == "traces" else Head
        for k, v in self._index.scan(db.encode()):
            yield k, decode(v, cls)

    def delete_record(self, db: str, raw_key: bytes) -> None:
        self._batch.put(db.encode(), raw_key, None)

    def iter_inline_blobs(self) -> Iterator[tuple[str, bytes]]:
        """(digest, bytes) of every blob kept inside the index (bytes not verified)."""
        for k, v in self._index.scan(b"blobs"):
            yield k.hex(), bytes(v)

    def inline_blob_sizes(self) -> dict[str, int]:
        return {k.hex(): len(v) for k, v in self._index.scan(b"blobs")}

    def delete_inline_blob(self, digest: str) -> None:
        self._batch.put(b"blobs", bytes.fromhex(digest), None)
        self._batch.blobs.pop(digest, None)

    def cas_files(self) -> Iterator[tuple[str | None, Path, int]]:
        """(digest, path, size) of every file under cas/; digest None for anything else there
        (``.*.assetbuild-tmp`` of a write in progress or of a killed one, stray files)."""
        return self._blobs.files()

    def compact(self) -> tuple[int, int]:
        """Replace db/ by a compacted copy (see ``compaction``); the data file's size before and after."""
        if self.readonly or self._index.env is None:
            raise StoreError("internal error: compacting a read-only store")
        self.flush()
        return compact_index(self._index)

    def leftovers(self) -> list[Path]:
        """Directories a killed compaction or a recovery left in the cache directory."""
        return leftovers(self.root)

    # --- the index as it is on disk (stats, and tests that damage it on purpose) --------------

    def index_info(self) -> dict[str, int]:
        """LMDB's figures for the index: ``map_size``, ``last_txnid`` (one per commit),
        ``last_pgno``, ``num_readers``...; empty without an index."""
        return self._index.info()

    def reader_pids(self) -> set[int]:
        """Processes holding a slot in the index's reader table (a killed reader's, until cleared)."""
        return self._index.reader_pids()

    def raw_get(self, db: str, key: bytes) -> bytes | None:
        """The committed bytes under ``key`` in the database ``db`` (one of ``RECORD_DBS``),
        undecoded: for tests and repairs that look at records as stored."""
        self._index.drop_reader()
        return self._index.get(db.encode(), key)

    def raw_put(self, db: str, key: bytes, value: bytes) -> None:
        """Commit ``value`` under ``key`` in ``db`` at once, bypassing the batch and every
        encoding: for tests that damage a record on purpose (a wrong format, undecodable bytes)."""
        if self.readonly or self._index.env is None:
            raise StoreError("internal error: write to a read-only store")
        self._index.commit([((db.encode(), key), value)])
