"""The cache directory: an LMDB index of traces and a content-addressed store of output bytes.

Layout of ``.assetbuild/`` (or ``--cache-dir``)::

    STORE      format version and the index's id (JSON), written once
    db/        LMDB: meta, traces (key -> record), heads (asset -> latest record),
               history (asset+time -> key), stat (path -> stat signature + digest), blobs (small outputs)
    cas/ab/…   outputs larger than INLINE_MAX, one file per sha256
    lock       flock()ed by a build, so two builds in one project take turns

Rules this module keeps (see RELIABILITY-NOTES §1):
- Order of a write: a large blob is written to a temp file, fsynced and renamed into place before
  the transaction that refers to it commits; small blobs commit in the same transaction as their
  trace. A crash leaves at worst an orphan blob, never a trace without its bytes.
- Writes are batched: one transaction per ``flush()``, never one per asset.
- No read transaction stays open across a commit (it would pin pages and grow the file).
- LMDB has no checksums and a truncated data file kills a reader with SIGBUS, so the file size is
  checked against the meta page before any data page is touched; a damaged index is moved aside
  with a warning and started afresh (the cache is disposable; outputs are re-verified on read).
- Every blob read is verified against its digest; a bad one raises CacheCorrupt and is dropped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import marshal
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lmdb

from .errors import CacheCorrupt, StoreError
from .reports import Head, Trace

STORE_FORMAT = 1
INLINE_MAX = 64 * 1024  # larger outputs become files under cas/
INITIAL_MAP_SIZE = 1 << 30
MAX_MAP_SIZE = 1 << 40
_RECORD = 1  # version tag of the marshal-encoded records

_DBS = (b"meta", b"traces", b"heads", b"history", b"stat", b"blobs")


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _name_key(name: str) -> bytes:
    b = name.encode("utf-8", "surrogatepass")
    return b if len(b) <= 400 else b"#" + hashlib.sha256(b).digest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LmdbStore:
    """Traces, heads, stat cache and blobs of one cache directory.

    ``readonly=True`` never creates or writes anything: a missing index reads as empty.
    """

    def __init__(self, cache_dir: str | os.PathLike[str], *, readonly: bool = False,
                 warn: Callable[[str], None] | None = None, map_size: int = INITIAL_MAP_SIZE) -> None:
        self.root = Path(cache_dir)
        self.readonly = readonly
        self.warn = warn or (lambda msg: None)
        self.cas = self.root / "cas"
        self._env: Any = None
        self._dbs: dict[bytes, Any] = {}
        self._rtxn: Any = None
        self._pending: dict[tuple[bytes, bytes], bytes | None] = {}
        self._pending_blobs: dict[str, bytes] = {}
        self._last_flush = time.monotonic()
        self._lock_fd: int | None = None
        self._open(map_size)

    # --- opening, checking, recovering -------------------------------------------------------

    def _open(self, map_size: int) -> None:
        dbdir = self.root / "db"
        info = self._read_store_file()
        if info is not None and info.get("format", 0) > STORE_FORMAT:
            raise StoreError(f"the cache at {self.root} was written by a newer assetbuild (store format "
                             f"{info['format']}, this one reads {STORE_FORMAT}); upgrade assetbuild or "
                             "use another --cache-dir")
        if self.readonly and not (dbdir / "data.mdb").exists():
            return
        if not self.readonly:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                dbdir.mkdir(exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the cache directory {self.root}: {e.strerror}") from e
            if info is None:
                info = {"format": STORE_FORMAT, "db_id": uuid.uuid4().hex}
                self._write_store_file(info)
        problem = self._check_data_file(dbdir)
        if problem is None:
            try:
                self._env = lmdb.open(str(dbdir), map_size=map_size, max_dbs=len(_DBS) + 2,
                                      readonly=self.readonly, max_readers=1024, max_spare_txns=0,
                                      lock=True)
                problem = self._check_open_env(info)
            except lmdb.Error as e:
                problem = f"it cannot be opened ({e})"
        if problem is not None:
            if self._env is not None:
                self._env.close()
                self._env = None
            if self.readonly:
                self.warn(f"the cache index at {dbdir} is damaged ({problem}); reading it as empty")
                return
            aside = self.root / f"db.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            os.replace(dbdir, aside)
            self.warn(f"the cache index was damaged ({problem}); moved it to {aside} and started a new "
                      "one: assets will be rebuilt")
            dbdir.mkdir()
            self._env = lmdb.open(str(dbdir), map_size=map_size, max_dbs=len(_DBS) + 2,
                                  max_readers=1024, max_spare_txns=0)
            self._check_open_env(info)
        for name in _DBS:
            self._dbs[name] = self._env.open_db(name, create=not self.readonly) if not self.readonly \
                else self._open_db_ro(name)
        if not self.readonly:
            self._env.reader_check()  # clear slots of readers that died, or the file grows

    def _open_db_ro(self, name: bytes) -> Any:
        try:
            return self._env.open_db(name, create=False)
        except lmdb.NotFoundError:
            return None

    def _read_store_file(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.root / "STORE").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None

    def _write_store_file(self, info: dict[str, Any]) -> None:
        tmp = self.root / f"STORE.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.root / "STORE")

    @staticmethod
    def _check_data_file(dbdir: Path) -> str | None:
        """Catch a truncated data file before LMDB maps it (a read past its end is SIGBUS)."""
        path = dbdir / "data.mdb"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        if size == 0:
            return "its data file is empty"
        # Meta pages are the first two pages; LMDB's page size is the OS page size (4 KiB here).
        if size < 2 * 4096:
            return f"its data file is truncated ({size} bytes)"
        return None

    def _check_open_env(self, info: dict[str, Any] | None) -> str | None:
        env = self._env
        psize = env.stat()["psize"]
        last = env.info()["last_pgno"]
        size = (self.root / "db" / "data.mdb").stat().st_size
        if (last + 1) * psize > size:
            return f"its data file is truncated ({size} bytes, {(last + 1) * psize} expected)"
        meta = env.open_db(b"meta", create=not self.readonly) if not self.readonly else self._open_db_ro(b"meta")
        db_id = fmt = None
        if meta is not None:
            with env.begin(db=meta) as txn:
                db_id = txn.get(b"db_id")
                fmt = txn.get(b"format")
        if fmt is not None and int(fmt) > STORE_FORMAT:
            raise StoreError(f"the cache index at {self.root} has format {int(fmt)}, newer than this "
                             f"assetbuild reads ({STORE_FORMAT}); upgrade assetbuild or use another --cache-dir")
        want = (info or {}).get("db_id")
        if db_id is None:
            if last > 3 and want is not None:
                return "its identity record is missing"
            if not self.readonly and want is not None:
                with env.begin(write=True, db=meta) as txn:
                    txn.put(b"db_id", want.encode())
                    txn.put(b"format", str(STORE_FORMAT).encode())
            return None
        if want is not None and db_id.decode() != want:
            return "it belongs to another cache directory"
        return None

    def close(self) -> None:
        self._drop_reader()
        if self._env is not None:
            self._env.close()
            self._env = None
        self.release_lock()

    def __enter__(self) -> LmdbStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- locking -----------------------------------------------------------------------------

    def acquire_lock(self, on_wait: Callable[[], None] | None = None) -> None:
        """Take the build lock; call ``on_wait`` once if another build holds it."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            if on_wait:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd
        self._drop_reader()  # what another build committed meanwhile must be visible

    def release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- reads -------------------------------------------------------------------------------

    def _reader(self) -> Any:
        if self._rtxn is None:
            self._rtxn = self._env.begin(write=False)
        return self._rtxn

    def _drop_reader(self) -> None:
        if self._rtxn is not None:
            self._rtxn.abort()
            self._rtxn = None

    def _get(self, db: bytes, key: bytes) -> bytes | None:
        pk = (db, key)
        if pk in self._pending:
            return self._pending[pk]
        if self._env is None or self._dbs.get(db) is None:
            return None
        return self._reader().get(key, db=self._dbs[db])

    def get_trace(self, key: str) -> Trace | None:
        raw = self._get(b"traces", bytes.fromhex(key))
        if raw is None:
            return None
        rec = marshal.loads(raw)
        return Trace(*rec[1:]) if rec[0] == _RECORD else None

    def get_head(self, asset: str) -> Head | None:
        raw = self._get(b"heads", _name_key(asset))
        if raw is None:
            return None
        rec = marshal.loads(raw)
        return Head(*rec[1:]) if rec[0] == _RECORD else None

    def heads(self) -> dict[str, Head]:
        """Every asset's latest record (for status of assets no longer defined, and stats)."""
        out: dict[str, Head] = {}
        if self._env is None or self._dbs.get(b"heads") is None:
            return out
        with self._env.begin(db=self._dbs[b"heads"]) as txn:
            for k, v in txn.cursor():
                rec = marshal.loads(v)
                if rec[0] == _RECORD:
                    out[k.decode("utf-8", "surrogatepass")] = Head(*rec[1:])
        return out

    def history(self, asset: str) -> list[tuple[int, str]]:
        """(time in ns, key) of every recorded build of ``asset``, oldest first."""
        out: list[tuple[int, str]] = []
        if self._env is None or self._dbs.get(b"history") is None:
            return out
        prefix = hashlib.sha256(asset.encode()).digest()[:16]
        with self._env.begin(db=self._dbs[b"history"]) as txn:
            cur = txn.cursor()
            if cur.set_range(prefix):
                for k, v in cur:
                    if not k.startswith(prefix):
                        break
                    out.append((int.from_bytes(k[16:], "big"), v.hex()))
        return out

    def get_stat(self, path: str) -> tuple[tuple[int, int, int, int], str] | None:
        raw = self._get(b"stat", _name_key(path))
        if raw is None:
            return None
        rec = marshal.loads(raw)
        return (rec[1], rec[2]) if rec[0] == _RECORD else None

    def blob_path(self, digest: str) -> Path:
        return self.cas / digest[:2] / digest[2:]

    def has_blob(self, digest: str, size: int) -> bool:
        """Cheap presence check (no hashing): inline record or a file of the right size."""
        if size <= INLINE_MAX:
            return True  # inline blobs commit in the same transaction as their trace
        try:
            return self.blob_path(digest).stat().st_size == size
        except OSError:
            return False

    def read_blob(self, digest: str) -> bytes:
        """The bytes stored under ``digest``, verified; CacheCorrupt (and the blob dropped) if not."""
        data = self._pending_blobs.get(digest)
        if data is not None:
            return data
        raw = self._get(b"blobs", bytes.fromhex(digest))
        where: Path | None = None
        if raw is None:
            where = self.blob_path(digest)
            try:
                raw = where.read_bytes()
            except FileNotFoundError:
                raise CacheCorrupt(digest, "missing") from None
            except OSError as e:
                raise CacheCorrupt(digest, f"unreadable ({e.strerror})") from None
        if digest_bytes(raw) != digest:
            if where is not None:
                with contextlib.suppress(OSError):
                    where.unlink()
            elif not self.readonly:
                self._pending[(b"blobs", bytes.fromhex(digest))] = None
            raise CacheCorrupt(digest, "corrupt (its bytes do not match its digest)")
        return bytes(raw)

    # --- writes (buffered until flush) -------------------------------------------------------

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Store ``data``; large blobs are durable on disk when this returns."""
        digest = digest or digest_bytes(data)
        if len(data) <= INLINE_MAX:
            self._pending_blobs[digest] = data
            self._pending[(b"blobs", bytes.fromhex(digest))] = data
            return digest
        path = self.blob_path(digest)
        try:
            if path.stat().st_size == len(data):
                return digest
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(self._disk_message(f"cannot write a blob to {path.parent}", e)) from e
        return digest

    def put_trace(self, key: str, trace: Trace) -> None:
        self._pending[(b"traces", bytes.fromhex(key))] = marshal.dumps((_RECORD, *trace))

    def put_head(self, asset: str, head: Head) -> None:
        self._pending[(b"heads", _name_key(asset))] = marshal.dumps((_RECORD, *head))

    def add_history(self, asset: str, when_ns: int, key: str) -> None:
        k = hashlib.sha256(asset.encode()).digest()[:16] + when_ns.to_bytes(8, "big")
        self._pending[(b"history", k)] = bytes.fromhex(key)

    def put_stat(self, path: str, sig: tuple[int, int, int, int], digest: str) -> None:
        self._pending[(b"stat", _name_key(path))] = marshal.dumps((_RECORD, sig, digest))

    def delete_trace(self, key: str) -> None:
        self._pending[(b"traces", bytes.fromhex(key))] = None

    def delete_head(self, asset: str) -> None:
        self._pending[(b"heads", _name_key(asset))] = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def maybe_flush(self, interval_s: float = 0.25, max_pending: int = 5000) -> None:
        """Commit when the batch is old or large: a crash redoes at most ``interval_s`` of work."""
        if self._pending and (len(self._pending) >= max_pending
                              or time.monotonic() - self._last_flush >= interval_s):
            self.flush()

    def flush(self) -> None:
        """Commit every buffered write in one transaction, growing the map if it is full."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        if self.readonly:
            raise StoreError("internal error: write to a read-only store")
        self._drop_reader()
        items = sorted(self._pending.items())
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    for (db, k), v in items:
                        if v is None:
                            txn.delete(k, db=self._dbs[db])
                        else:
                            txn.put(k, v, db=self._dbs[db])
                break
            except lmdb.MapFullError:
                size = self._env.info()["map_size"]
                if size >= MAX_MAP_SIZE:
                    raise StoreError(f"the cache index at {self.root} is full ({size} bytes)") from None
                self._env.set_mapsize(size * 2)
            except lmdb.MapResizedError:
                self._env.set_mapsize(0)
            except lmdb.Error as e:
                raise StoreError(self._disk_message(f"cannot write the cache index at {self.root}", e)) from e
        self._pending.clear()
        self._pending_blobs.clear()

    def _disk_message(self, what: str, err: BaseException) -> str:
        try:
            free = shutil.disk_usage(self.root).free
            return f"{what}: {err} ({free // (1 << 20)} MiB free on that disk)"
        except OSError:
            return f"{what}: {err}"

    # --- whole-store operations --------------------------------------------------------------

    def iter_traces(self) -> Iterator[tuple[str, Trace]]:
        if self._env is None or self._dbs.get(b"traces") is None:
            return
        with self._env.begin(db=self._dbs[b"traces"]) as txn:
            for k, v in txn.cursor():
                rec = marshal.loads(v)
                if rec[0] == _RECORD:
                    yield k.hex(), Trace(*rec[1:])

    def file_size(self) -> int:
        try:
            return (self.root / "db" / "data.mdb").stat().st_size
        except OSError:
            return 0


def clear_cache_dir(cache_dir: Path) -> None:
    """Delete a cache directory's contents (``assetbuild clean``), refusing anything that is not one."""
    if not cache_dir.exists():
        return
    if not (cache_dir / "STORE").exists() and not (cache_dir / "db").exists():
        raise StoreError(f"{cache_dir} does not look like an assetbuild cache (no STORE file); not deleting it")
    shutil.rmtree(cache_dir)
