"""The cache directory: an LMDB index of traces and a content-addressed store of output bytes.

Layout of ``.assetbuild/`` (or ``--cache-dir``)::

    STORE      format version and the index's id (JSON), written once
    db/        LMDB: meta (format, id, last build summary), traces (key -> record),
               heads (asset -> latest record), history (asset+time -> key),
               stat (path -> stat signature + digest), blobs (small outputs), heads and
               history per project (see ``project_id``: projects may share a cache directory),
               used (key -> when it stopped being an asset's latest key: for gc's LRU order)
    cas/ab/…   outputs larger than INLINE_MAX, one file per sha256 (``.*.assetbuild-tmp``: a write in progress,
               or an orphan of a killed one, for garbage collection)
    cas/tmp/   large outputs of worker processes on their way into cas/ab/… (``put_blob_file``)
    lock       flock()ed by a build, so two builds in one project take turns
    db.corrupt-*  a damaged index, moved aside for inspection (safe to delete)

Rules this module keeps (see RELIABILITY-NOTES §1):
- Order of a write: a large blob is written to a temp file, fsynced and renamed into place before
  the transaction that refers to it commits; small blobs commit in the same transaction as their
  trace. A crash leaves at worst an orphan blob, never a trace without its bytes.
- Writes are batched: one transaction per ``flush()``, never one per asset. While the build is
  away (an asset runs in its thread, or it waits for workers), a committer thread commits the batch once it
  is 0.25 s old (``flushing_while_away``): a crash loses only running work, plus at most 0.25 s.
- No read transaction stays open across a commit (it would pin pages and grow the file).
- LMDB has no checksums and a truncated data file kills a reader with SIGBUS, so the file size is
  checked against the meta pages (read with plain file reads, before LMDB maps the file); a damaged
  index is moved aside with a warning and started afresh (the cache is disposable; outputs are
  re-verified on read). LMDB errors that reveal damage later, in the middle of a build, do the
  same; a record that does not decode reads as absent (at worst an asset runs again).
- Only damage moves an index aside. No memory or address space (``ulimit -v``: the map is then
  made as small as the file), a read-only file system or no permission (readers then open
  read-only, without LMDB's lock file if need be), a full disk: each is one clear StoreError.
- One LMDB environment per index per process (LMDB forbids a second open): stores on the same
  files, e.g. builds from two threads of the API, share it; the build lock makes them take turns.
- A large blob already on disk is reused only if its bytes are right; a damaged one is rewritten.
- Opening (creating ``STORE``, checking, moving a damaged index aside) happens under an flock of
  the cache directory, so two processes starting at once cannot take each other's fresh index
  for a damaged one.
- Every blob read is verified against its digest; a bad one raises CacheCorrupt and is dropped
  (a read-only store only reports it).
- A compaction (``compact``) replaces ``db/`` by a compacted copy under the build lock and the
  open lock; a process that opened the old index reopens it when it next takes the build lock.
- Use times cost no write on a null build: a key's "last used" time is the moment it stopped being
  its asset's latest key (``put_head`` stamps the displaced key, in the batch that moves the head);
  while it is the latest key it is in use and gc keeps it. Otherwise the trace's creation time.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import marshal
import os
import re
import shutil
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lmdb

from .atomicfile import TEMP_SUFFIX, write_atomically
from .crashpoints import crash_point
from .errors import CacheCorrupt, StoreError
from .reports import Head, Trace

STORE_FORMAT = 1
INLINE_MAX = 64 * 1024  # larger outputs become files under cas/
INITIAL_MAP_SIZE = 1 << 30
MAX_MAP_SIZE = 1 << 40
_RECORD = 1  # version tag of the marshal-encoded records

_DBS = (b"meta", b"traces", b"heads", b"history", b"stat", b"blobs", b"used")

# LMDB errors that mean the index itself is damaged (as opposed to a full disk or a full map).
# Everything else (no memory or address space, a read-only file system, no permission, the
# environment already open) says nothing about the file's contents: a clear error, never a
# healthy index moved aside.
_DAMAGE = (lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.InvalidError, lmdb.PanicError,
           lmdb.VersionMismatchError, lmdb.BadDbiError)
_NO_WRITE = (errno.EACCES, errno.EROFS, errno.EPERM)

# The two meta pages at the start of data.mdb (lmdb.h / mdb.c, 64-bit builds): a page header
# (pgno u64, pad u16, flags u16, lower u16, upper u16), then MDB_meta: magic u32, version u32,
# address u64, mapsize u64, two MDB_db of 48 bytes (the free DB's md_pad is the page size),
# last_pgno u64, txnid u64.
_META = struct.Struct("=QHHHHIIQQ48x48xQQ")
_META_PSIZE = struct.Struct("=I")
_META_PSIZE_OFFSET = 40
_P_META = 0x08
_MDB_MAGIC = 0xBEEFC0DE


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def _is_digest(x: object) -> bool:
    """A lowercase hex sha256 (checked on every record read: it must be cheap)."""
    return type(x) is str and _HEX64.match(x) is not None


def _decode(raw: bytes, cls: type) -> Any:
    """A Trace/Head from its record, or None if the record does not decode (LMDB has no checksums)."""
    try:
        rec = marshal.loads(raw)
        if not isinstance(rec, tuple) or not rec or rec[0] != _RECORD:
            return None
        out = cls(*rec[1:])
    except (ValueError, EOFError, TypeError):
        return None
    if not _is_digest(out.output_digest) or not isinstance(out.data_version, str) \
            or not isinstance(out.size, int):
        return None
    return out


def _name_key(name: str) -> bytes:
    b = name.encode("utf-8", "surrogatepass")
    return b if len(b) <= 400 else b"#" + hashlib.sha256(b).digest()


# Heads and history rows belong to one project: several projects may share a cache directory,
# each with its own asset named ``report``. A project is identified by its AssetFile's path
# relative to the cache directory, so a project copied or moved with its cache keeps its heads.
# The usual layout (``.assetbuild`` beside ``AssetFile``) keys heads by the bare asset name, as
# stores before projects were told apart did: their heads are this project's.
DEFAULT_PROJECT = "../AssetFile"


def project_id(assetfile: str | os.PathLike[str], cache_dir: str | os.PathLike[str]) -> str:
    """The identity of the project whose AssetFile is ``assetfile``, within ``cache_dir``."""
    rel = os.path.relpath(os.path.realpath(assetfile), os.path.realpath(cache_dir))
    return rel.replace(os.sep, "/")


def _project_prefix(project: str) -> bytes:
    """Prefix of a project's head keys: none for the default project, else a NUL byte (no asset
    name or hashed name starts with one) and 16 bytes of the project's digest."""
    if project == DEFAULT_PROJECT:
        return b""
    return b"\0" + hashlib.sha256(project.encode("utf-8", "surrogatepass")).digest()[:16]


def _same_bytes(path: Path, data: bytes, chunk: int = 1 << 20) -> bool:
    """Whether the file at ``path`` holds exactly ``data`` (read in chunks: no second copy)."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size != len(data):
                return False
            view = memoryview(data)
            for start in range(0, len(data), chunk):
                if f.read(chunk) != view[start:start + chunk]:
                    return False
            return f.read(1) == b""
    except OSError:
        return False


def _human(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n // 1024} KiB"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _SharedEnv:
    """One LMDB environment open in this process, shared by every store on its files.

    LMDB forbids opening one environment twice in a process (its fcntl locks belong to the
    process): two stores on one cache directory, e.g. builds from two threads of the API, share
    the environment; it is closed when the last of them closes."""

    def __init__(self, env: Any, writable: bool, ident: tuple[int, int]) -> None:
        self.env = env
        self.writable = writable
        self.ident = ident
        self.users = 1
        self.pid = os.getpid()


_shared_envs: dict[tuple[int, int], _SharedEnv] = {}
_shared_envs_lock = threading.Lock()


def _file_ident(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _errno_of(err: BaseException) -> int:
    code = getattr(err, "code", 0) or getattr(err, "errno", 0) or 0
    return code if isinstance(code, int) else 0


def describe_open_error(root: Path, err: BaseException, *, writing: bool) -> str:
    """One line for an index that cannot be opened for a reason other than damage."""
    code = _errno_of(err)
    where = root / "db"
    if isinstance(err, lmdb.MemoryError) or code == errno.ENOMEM:
        return (f"not enough memory or address space to map the cache index at {where} "
                "(is a `ulimit -v` limit set?)")
    readers = "status, show, why, build --dry-run and cache stats/verify/export only read it"
    if code == errno.EROFS:
        return f"the cache directory {root} is on a read-only file system ({readers})"
    if isinstance(err, lmdb.ReadonlyError) or code in (errno.EACCES, errno.EPERM):
        return (f"no permission to {'write' if writing else 'read'} the cache index at {where}"
                + (f" ({readers})" if writing else ""))
    if code == errno.ENOSPC:
        return f"no space left on device for the cache index at {where}"
    return f"cannot open the cache index at {where}: {err}"


class _Committer:
    """A thread that commits a store's pending batch once it is due, while the build's thread is
    away from the store (``LmdbStore.flushing_while_away``); it never commits while the build's
    thread uses the store: ``leave`` waits for a commit in progress, and raises its error."""

    def __init__(self, after: Callable[[], None]) -> None:
        self._cond = threading.Condition()
        self._after = after  # run in the committer thread after each commit (drop its reader)
        self._flush: Callable[[], None] | None = None  # set while away and not yet committed
        self._due = 0.0
        self._busy = False
        self._failed: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="assetbuild-commit", daemon=True)
        self._thread.start()

    def enter(self, flush: Callable[[], None], due: float) -> None:
        with self._cond:
            self._flush, self._due, self._failed = flush, due, None
            self._cond.notify_all()

    def leave(self) -> None:
        with self._cond:
            self._flush = None
            while self._busy:
                self._cond.wait()
            failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    def stop(self) -> None:
        with self._cond:
            self._stopped, self._flush = True, None
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if self._flush is None:
                    self._cond.wait()
                    continue
                delay = self._due - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                flush, self._flush, self._busy = self._flush, None, True  # one commit per stay
                self._cond.release()
                try:
                    flush()
                except BaseException as e:  # noqa: BLE001 - raised in the build's thread by leave()
                    self._failed = e
                finally:
                    try:
                        self._after()
                    finally:
                        self._cond.acquire()
                        self._busy = False
                        self._cond.notify_all()


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
        self._head_prefix = _project_prefix(project)
        self.warn = warn or (lambda msg: None)
        self.cas = self.root / "cas"
        self._env: Any = None
        self._dbs: dict[bytes, Any] = {}
        self._rtxn: Any = None
        self._pending: dict[tuple[bytes, bytes], bytes | None] = {}
        self._pending_blobs: dict[str, bytes] = {}
        self._last_flush = time.monotonic()
        self._committer: _Committer | None = None  # see flushing_while_away
        self._lock_fd: int | None = None
        self._data_id: tuple[int, int] | None = None
        self._shared: _SharedEnv | None = None
        self._open(map_size)

    # --- opening, checking, recovering -------------------------------------------------------

    def _open(self, map_size: int) -> None:
        self._map_size = map_size
        dbdir = self.root / "db"
        self._check_format(self._read_store_file())
        if self.readonly and not self.root.is_dir():
            return
        if not self.readonly:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                dbdir.mkdir(exist_ok=True)
            except OSError as e:
                if e.errno == errno.EROFS:
                    raise StoreError(describe_open_error(self.root, e, writing=True)) from e
                raise StoreError(f"cannot create the cache directory {self.root}: {e.strerror}") from e
        with self._open_lock():
            info = self._read_store_file()  # again: another process may have created it meanwhile
            self._check_format(info)
            if info is None and not self.readonly:
                info = {"format": STORE_FORMAT, "db_id": uuid.uuid4().hex}
                try:
                    self._write_store_file(info)
                except OSError as e:
                    raise StoreError(describe_open_error(self.root, e, writing=True)
                                     if e.errno in (*_NO_WRITE, errno.ENOSPC) else
                                     f"cannot write {self.root / 'STORE'}: {e.strerror}") from e
            self._info = info
            if not self.readonly and not (dbdir / "data.mdb").exists():
                self._recover_swap(dbdir)
            if self.readonly and not (dbdir / "data.mdb").exists():
                return  # checked under the lock: a compaction swaps db/ under it
            problem = self._check_data_file(dbdir)
            if problem is None:
                try:
                    self._acquire_env(dbdir)
                    problem = self._check_open_env(info)
                except _DAMAGE as e:
                    problem = f"it cannot be opened ({e})"
                except lmdb.Error as e:  # not damage: memory, permissions, read-only, ...
                    self._close_env()
                    raise StoreError(describe_open_error(self.root, e, writing=not self.readonly)) from e
                except StoreError:
                    self._close_env()
                    raise
            if problem is not None:
                self._close_env()
                self._replace_index(problem)
                if self._env is None:
                    return
            self._open_dbs()
            self._data_id = self._data_file_id()
            if not self.readonly:
                self._env.reader_check()  # clear slots of readers that died, or the file grows

    def _data_file_id(self) -> tuple[int, int] | None:
        try:
            st = (self.root / "db" / "data.mdb").stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _reopen_if_replaced(self) -> None:
        """Reopen the index if a compaction (or a recovery) replaced db/ since we opened it."""
        if self._env is None or self._data_file_id() == self._data_id:
            return
        self._close_env()
        self._open(self._map_size)

    def _recover_swap(self, dbdir: Path) -> None:
        """A compaction killed between its two renames left db/ missing (or empty, since
        opening creates it) and the complete old index as db.old-*: put that back."""
        for old in sorted(self.root.glob("db.old-*")):
            if (old / "data.mdb").is_file():
                try:
                    with contextlib.suppress(FileNotFoundError):
                        dbdir.rmdir()  # empty: created by this open
                    os.replace(old, dbdir)
                except OSError:
                    return  # db/ holds something else: leave both alone, start afresh
                self.warn(f"restored the cache index from {old.name} (a gc was interrupted)")
                return

    def _acquire_env(self, dbdir: Path) -> None:
        """Open the environment, or share the one this process already has on these files."""
        with _shared_envs_lock:
            ident = _file_ident(dbdir / "data.mdb")
            shared = _shared_envs.get(ident) if ident is not None else None
            if shared is not None and shared.pid == os.getpid() and shared.env is not None:
                if not shared.writable and not self.readonly:
                    raise StoreError(f"the cache index at {dbdir} is open read-only in this process; "
                                     "cannot write to it")
                shared.users += 1
                self._shared, self._env = shared, shared.env
                return
            env, writable = self._open_env(dbdir)
            ident = _file_ident(dbdir / "data.mdb") or (0, id(env))
            self._shared = _SharedEnv(env, writable, ident)
            _shared_envs[ident] = self._shared
            self._env = env

    def _open_env(self, dbdir: Path) -> tuple[Any, bool]:
        """A new environment and whether it can write.

        A reader opens for writing when it may (so a build in another thread of this process can
        share it), else read-only, else without LMDB's lock file (a cache on a read-only mount, or
        one this user may not write). Where the map does not fit the address space (``ulimit -v``),
        the map is made as small as the file."""
        attempts: list[tuple[bool, bool]] = [(False, True)]  # (readonly, lock)
        if self.readonly:
            attempts += [(True, True), (True, False)]
        sizes = [self._map_size]
        try:
            size = (dbdir / "data.mdb").stat().st_size
        except OSError:
            size = 0
        small = max(1 << 20, -(-size // (1 << 20)) * (1 << 20))
        if small < self._map_size:
            sizes.append(small)
        err: BaseException | None = None
        for readonly, lock in attempts:
            for map_size in sizes:
                try:
                    env = lmdb.open(str(dbdir), map_size=map_size, max_dbs=len(_DBS) + 2,
                                    readonly=readonly, max_readers=1024, max_spare_txns=0, lock=lock,
                                    create=not self.readonly)
                    return env, not readonly
                except lmdb.MemoryError as e:
                    err = e
                    continue  # try a smaller map
                except lmdb.Error as e:
                    if _errno_of(e) in _NO_WRITE or isinstance(e, lmdb.ReadonlyError):
                        err = e
                        break  # try the next, less demanding way
                    raise
        assert err is not None
        raise err

    def _open_dbs(self) -> None:
        for name in _DBS:
            self._dbs[name] = self._open_db(name, create=not self.readonly)

    def _close_env(self) -> None:
        self._drop_reader()
        self._dbs = {}
        shared, self._shared = self._shared, None
        env, self._env = self._env, None
        if shared is None:
            if env is not None:
                with contextlib.suppress(lmdb.Error):
                    env.close()
            return
        with _shared_envs_lock:
            shared.users -= 1
            if shared.users > 0 or shared.pid != os.getpid():
                return
            if _shared_envs.get(shared.ident) is shared:
                del _shared_envs[shared.ident]
            shared.env = None
            with contextlib.suppress(lmdb.Error):  # under the lock: until it is closed, opening
                env.close()  # these files again is "already open in this process"

    def _replace_index(self, problem: str) -> None:
        """Move a damaged index aside and start an empty one (the caller holds the open lock)."""
        dbdir = self.root / "db"
        if self.readonly:
            self.warn(f"the cache index at {dbdir} is damaged ({problem}); reading it as empty")
            return
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        aside = self.root / f"db.corrupt-{stamp}"
        try:
            os.replace(dbdir, aside)
            dbdir.mkdir()
        except OSError as e:
            raise StoreError(f"the cache index at {dbdir} is damaged ({problem}) and cannot be moved "
                             f"aside: {e.strerror}") from e
        self.warn(f"the cache index was damaged ({problem}); moved it to {aside} and started a new "
                  "one: assets will be rebuilt")
        try:
            self._acquire_env(dbdir)
        except lmdb.Error as e:
            raise StoreError(describe_open_error(self.root, e, writing=True)) from e
        self._check_open_env(self._info)

    def _index_failed(self, err: BaseException) -> None:
        """LMDB reported damage in the middle of a build: go on with a fresh index (it is a cache)."""
        self._close_env()
        with self._open_lock():
            self._replace_index(f"{type(err).__name__}: {err}")
            if self._env is not None:
                self._open_dbs()
                self._data_id = self._data_file_id()

    @contextlib.contextmanager
    def _open_lock(self) -> Iterator[None]:
        """flock the cache directory: exclusive for a writer's open, shared for a reader's."""
        try:
            fd = os.open(self.root, os.O_RDONLY)
        except OSError:
            yield
            return
        try:
            with contextlib.suppress(OSError):  # no flock on this filesystem: nor is LMDB safe there
                fcntl.flock(fd, fcntl.LOCK_SH if self.readonly else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _check_format(self, info: dict[str, Any] | None) -> None:
        fmt = (info or {}).get("format", 0)
        if isinstance(fmt, int) and fmt > STORE_FORMAT:
            raise StoreError(f"the cache at {self.root} was written by a newer assetbuild (store format "
                             f"{fmt}, this one reads {STORE_FORMAT}); upgrade assetbuild or "
                             "use another --cache-dir")

    def _open_db(self, name: bytes, *, create: bool) -> Any:
        """A database handle (None if it does not exist and ``create`` is false).

        On a writable environment, always in an explicit write transaction: ``open_db`` without
        one begins its own while holding the GIL, which deadlocks against another thread of this
        process that holds the write lock (it is waiting for the GIL to finish its commit)."""
        try:
            if self._shared is not None and not self._shared.writable:
                return self._env.open_db(name, create=False)  # a read transaction: never waits
            with self._env.begin(write=True) as txn:  # waits for the write lock without the GIL
                return self._env.open_db(name, txn=txn, create=create)
        except lmdb.NotFoundError:
            return None

    def _read_store_file(self) -> dict[str, Any] | None:
        try:
            info = json.loads((self.root / "STORE").read_text())
        except (OSError, ValueError):
            return None  # missing or unreadable: a new identity (the index is then moved aside)
        return info if isinstance(info, dict) else None

    def _write_store_file(self, info: dict[str, Any]) -> None:
        write_atomically(self.root / "STORE", json.dumps(info).encode())

    @staticmethod
    def _check_data_file(dbdir: Path) -> str | None:
        """Catch a truncated data file before LMDB maps it (a read past its end is SIGBUS).

        Reads the two meta pages with plain file reads: every page the index refers to is at or
        below the newest meta's last_pgno, so a file shorter than (last_pgno + 1) * page size is
        truncated. LMDB itself rejects bad magic numbers; this rejects them too, so nothing of a
        damaged file is ever mapped.
        """
        path = dbdir / "data.mdb"
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    return "its data file is empty"
                head = f.read(_META.size)
                if len(head) < _META.size:
                    return f"its data file is truncated ({size} bytes)"
                psize = _META_PSIZE.unpack_from(head, _META_PSIZE_OFFSET)[0]
                if psize < 512 or psize > 65536 or psize & (psize - 1):
                    return "its first meta page is damaged"
                best = None
                for i in (0, 1):
                    f.seek(i * psize)
                    page = f.read(_META.size)
                    if len(page) < _META.size:
                        return f"its data file is truncated ({size} bytes)"
                    pgno, _, flags, _, _, magic, _, _, _, last_pgno, txnid = _META.unpack(page)
                    if pgno != i or not flags & _P_META or magic != _MDB_MAGIC:
                        return f"its meta page {i} is damaged"
                    if best is None or txnid > best[1]:
                        best = (last_pgno, txnid)
        except FileNotFoundError:
            return None
        except OSError as e:  # no permission, an I/O error: nothing says the contents are bad
            raise StoreError(f"cannot read the cache index at {path}: {e.strerror}") from e
        need = (best[0] + 1) * psize
        if need > size:
            return f"its data file is truncated ({size} bytes, {need} expected)"
        return None

    def _check_open_env(self, info: dict[str, Any] | None) -> str | None:
        env = self._env
        psize = env.stat()["psize"]
        last = env.info()["last_pgno"]
        size = (self.root / "db" / "data.mdb").stat().st_size
        if (last + 1) * psize > size:
            return f"its data file is truncated ({size} bytes, {(last + 1) * psize} expected)"
        meta = self._open_db(b"meta", create=not self.readonly)
        db_id = fmt = None
        if meta is not None:
            with env.begin(db=meta) as txn:
                db_id = txn.get(b"db_id")
                fmt = txn.get(b"format")
        if fmt is not None:
            if not fmt.isdigit():
                return "its format record is damaged"
            if int(fmt) > STORE_FORMAT:
                raise StoreError(f"the cache index at {self.root} has format {int(fmt)}, newer than this "
                                 f"assetbuild reads ({STORE_FORMAT}); upgrade assetbuild or use another "
                                 "--cache-dir")
        want = (info or {}).get("db_id")
        if db_id is None:
            if last > 3 and want is not None:
                return "its identity record is missing"
            if not self.readonly and want is not None:
                with env.begin(write=True, db=meta) as txn:
                    txn.put(b"db_id", str(want).encode())
                    txn.put(b"format", str(STORE_FORMAT).encode())
            return None
        if want is not None and db_id != str(want).encode():
            return "it belongs to another cache directory"
        return None

    def close(self) -> None:
        if self._committer is not None:
            self._committer.stop()
            self._committer = None
        self._drop_reader()
        self._close_env()
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
        try:
            fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(describe_open_error(self.root, e, writing=True)) from e
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
        self._reopen_if_replaced()

    def release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- reads -------------------------------------------------------------------------------

    def _begin(self, **kw: Any) -> Any:
        try:
            return self._env.begin(**kw)
        except lmdb.MapResizedError:  # another process grew the map: adopt its size
            self._drop_reader()
            self._env.set_mapsize(0)
            return self._env.begin(**kw)

    def _reader(self) -> Any:
        if self._rtxn is None:
            self._rtxn = self._begin(write=False)
        return self._rtxn

    def _drop_reader(self) -> None:
        if self._rtxn is not None:
            with contextlib.suppress(lmdb.Error):
                self._rtxn.abort()
            self._rtxn = None

    def _get(self, db: bytes, key: bytes) -> bytes | None:
        pk = (db, key)
        if pk in self._pending:
            return self._pending[pk]
        if self._env is None or self._dbs.get(db) is None:
            return None
        for attempt in (1, 2):
            try:
                return self._reader().get(key, db=self._dbs[db])
            except _DAMAGE as e:
                self._index_failed(e)
                return None
            except lmdb.Error as e:  # not damage (readers table full, no memory...): say so
                if attempt == 1:  # a store sharing the environment grew the map: our reader was
                    self._drop_reader()  # invalidated, a new one sees the same data
                    continue
                raise StoreError(f"cannot read the cache index at {self.root / 'db'}: {e}") from e
        return None  # not reached

    def _scan(self, db: bytes, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs of ``db`` whose key starts with ``prefix``; none once damage shows."""
        if self._env is None or self._dbs.get(db) is None:
            return
        try:
            with self._begin(db=self._dbs[db]) as txn:
                cur = txn.cursor()
                if not cur.set_range(prefix):
                    return
                for k, v in cur:
                    if not k.startswith(prefix):
                        return
                    yield k, v
        except _DAMAGE as e:
            self._index_failed(e)
        except lmdb.Error as e:
            raise StoreError(f"cannot read the cache index at {self.root / 'db'}: {e}") from e

    def get_trace(self, key: str) -> Trace | None:
        raw = self._get(b"traces", bytes.fromhex(key))
        return None if raw is None else _decode(raw, Trace)

    def _head_key(self, asset: str) -> bytes:
        return self._head_prefix + _name_key(asset)

    def _history_prefix(self, asset: str) -> bytes:
        name = asset if not self._head_prefix else f"{self.project}\0{asset}"
        return hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()[:16]

    def get_head(self, asset: str) -> Head | None:
        """This project's latest build of ``asset``."""
        raw = self._get(b"heads", self._head_key(asset))
        return None if raw is None else _decode(raw, Head)

    def heads(self) -> dict[str, Head]:
        """This project's latest record of each asset."""
        prefix = self._head_prefix
        return {name: h for raw, name, h in self._all_heads()
                if (raw.startswith(prefix) if prefix else raw[:1] != b"\0")}

    def all_heads(self) -> list[tuple[str, Head]]:
        """(asset name, latest record) of every project sharing this cache directory: what gc
        keeps, stats count and verify checks (a name appears once per project that has it)."""
        return [(name, h) for _raw, name, h in self._all_heads()]

    def _all_heads(self) -> list[tuple[bytes, str, Head]]:
        out: list[tuple[bytes, str, Head]] = []
        for k, v in list(self._scan(b"heads")):
            head = _decode(v, Head)
            if head is None:
                continue
            raw = bytes(k)
            k = raw[17:] if raw[:1] == b"\0" else raw  # a project's prefix (see _project_prefix)
            try:
                name = k.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:  # a name too long for an LMDB key is stored by its digest
                name = "#" + k[1:].hex()
            out.append((raw, name, head))
        return out

    def history(self, asset: str) -> list[tuple[int, str]]:
        """(time in ns, key) of every recorded build of ``asset`` in this project, oldest first."""
        prefix = self._history_prefix(asset)
        rows = list(self._scan(b"history", prefix))
        return [(int.from_bytes(k[16:], "big"), v.hex()) for k, v in rows]

    def get_stat(self, path: str) -> tuple[tuple[int, int, int, int], str] | None:
        raw = self._get(b"stat", _name_key(path))
        if raw is None:
            return None
        try:
            rec = marshal.loads(raw)
            if rec[0] == _RECORD and _is_digest(rec[2]):
                return tuple(rec[1]), rec[2]  # type: ignore[return-value]
        except (ValueError, EOFError, TypeError, IndexError):
            pass
        return None

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
            if self.readonly:
                pass  # writes nothing; the next build drops it
            elif where is not None:
                with contextlib.suppress(OSError):
                    where.unlink()
            else:
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
        if _same_bytes(path, data):
            return digest  # a file of the right size is not enough: a damaged one is rewritten
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomically(path, data, durable=True, crash_at="blob-write")
        except OSError as e:
            raise StoreError(self._disk_message(f"cannot write a blob to {path.parent}", e)) from e
        return digest

    def blob_file(self, digest: str, min_size: int = 1 << 20) -> Path | None:
        """The file holding the blob ``digest`` if it is stored as one of ``min_size`` bytes or
        more (a process on this machine can read it there instead of receiving its bytes)."""
        if digest in self._pending_blobs:
            return None
        path = self.blob_path(digest)
        try:
            return path if path.stat().st_size >= min_size else None
        except OSError:
            return None

    def spool_dir(self) -> Path:
        """Where worker processes write large outputs for :meth:`put_blob_file` (on the same file
        system as the blobs, so that taking one is a rename; leftovers are temp files to gc)."""
        return self.cas / "tmp"

    def put_blob_file(self, src: str | os.PathLike[str], digest: str, size: int) -> str:
        """Store the bytes of the file ``src`` (a worker's spool file: written, fsynced, its
        digest computed as it was written) by renaming it into place: no copy passes through
        this process's memory. ``src`` is gone when this returns, stored or not."""
        if size <= INLINE_MAX:
            try:
                with open(src, "rb") as f:
                    data = f.read()
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(src)
            return self.put_blob(data, digest)
        path = self.blob_path(digest)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, path)
            _fsync_dir(path.parent)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(src)
            raise StoreError(self._disk_message(f"cannot write a blob to {path.parent}", e)) from e
        return digest

    def put_trace(self, key: str, trace: Trace) -> None:
        self._pending[(b"traces", bytes.fromhex(key))] = marshal.dumps((_RECORD, *trace))

    def put_head(self, asset: str, head: Head) -> None:
        """Record ``asset``'s latest build; the key it replaces gets its last-used time (now)."""
        hk = self._head_key(asset)
        raw = self._get(b"heads", hk)
        old = None if raw is None else _decode(raw, Head)
        if old is not None and old.key != head.key:
            self.put_used(old.key, time.time_ns())
        self._pending[(b"heads", hk)] = marshal.dumps((_RECORD, *head))

    def add_history(self, asset: str, when_ns: int, key: str) -> None:
        k = self._history_prefix(asset) + when_ns.to_bytes(8, "big")
        self._pending[(b"history", k)] = bytes.fromhex(key)

    def put_stat(self, path: str, sig: tuple[int, int, int, int], digest: str) -> None:
        self._pending[(b"stat", _name_key(path))] = marshal.dumps((_RECORD, sig, digest))

    def delete_trace(self, key: str) -> None:
        self._pending[(b"traces", bytes.fromhex(key))] = None

    def delete_head(self, asset: str) -> None:
        self._pending[(b"heads", self._head_key(asset))] = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def maybe_flush(self, interval_s: float = 0.25, max_pending: int = 5000) -> None:
        """Commit when the batch is old or large: a crash redoes at most ``interval_s`` of work."""
        if self._pending and (len(self._pending) >= max_pending
                              or time.monotonic() - self._last_flush >= interval_s):
            self.flush()

    @contextlib.contextmanager
    def flushing_while_away(self, flush: Callable[[], None] | None = None,
                            interval_s: float = 0.25) -> Iterator[None]:
        """While the calling thread is away from the store (running an asset, waiting for workers),
        commit the pending batch from another thread when ``maybe_flush`` would have: a crash then
        loses only the work still running, plus at most ``interval_s``. The caller must not touch
        the store inside the block. ``flush``: the outermost store's (a remote cache wraps this one).

        One committer thread per store serves every stay (a build of 10,000 serial assets enters
        this 10,000 times: a thread per stay cost more than the assets)."""
        if not self._pending or self.readonly:
            yield
            return
        if self._committer is None:
            self._committer = _Committer(self._drop_reader)
        self._drop_reader()
        due = time.monotonic() + max(0.0, interval_s - (time.monotonic() - self._last_flush))
        self._committer.enter(flush or self.flush, due)
        try:
            yield
        finally:
            self._committer.leave()

    def settle(self) -> tuple[str, ...]:
        """Nothing arrives later in a local store: no key failed to arrive."""
        return ()

    def flush(self) -> None:
        """Commit every buffered write in one transaction, growing the map if it is full."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        if self.readonly:
            raise StoreError("internal error: write to a read-only store")
        self._drop_reader()
        items = sorted(self._pending.items())
        recovered = False
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    for (db, k), v in items:
                        if v is None:
                            txn.delete(k, db=self._dbs[db])
                        else:
                            txn.put(k, v, db=self._dbs[db])
                    crash_point("store-commit")
                break
            except lmdb.MapFullError:
                size = self._env.info()["map_size"]
                if size >= MAX_MAP_SIZE:
                    raise StoreError(f"the cache index at {self.root} is full ({size} bytes)") from None
                try:
                    self._env.set_mapsize(size * 2)
                except lmdb.MemoryError as e:
                    raise StoreError(f"not enough memory or address space to grow the cache index at "
                                     f"{self.root / 'db'} to {size * 2 >> 20} MiB (is a `ulimit -v` "
                                     "limit set?)") from e
            except lmdb.MapResizedError:
                self._env.set_mapsize(0)
            except _DAMAGE as e:
                if recovered:  # a fresh index failing too: not damage we can move aside
                    raise StoreError(f"cannot write the cache index at {self.root}: {e}") from e
                self._index_failed(e)  # the batch goes into a fresh index
                recovered = True
            except lmdb.Error as e:
                need = sum(len(k) + len(v or b"") for (_db, k), v in items)
                raise StoreError(self._disk_message(f"cannot write the cache index at {self.root}", e,
                                                    need=2 * need + (1 << 20))) from e
        self._pending.clear()
        self._pending_blobs.clear()

    def _disk_message(self, what: str, err: BaseException, need: int = 0) -> str:
        """``what`` failed: say why in words a user acts on. LMDB reports a write that ran out of
        space as "Input/output error" (a short write), so a failed write with less free space
        than it needed is called what it is."""
        try:
            free: int | None = shutil.disk_usage(self.root).free
        except OSError:
            free = None
        code = _errno_of(err)
        if code == errno.ENOSPC or (code == errno.EIO and free is not None and free < max(need, 1 << 20)):
            return (f"{what}: no space left on device ({_human(free or 0)} free); "
                    "free some space or use another --cache-dir (assetbuild cache gc shrinks the cache)")
        if free is None:
            return f"{what}: {err}"
        return f"{what}: {err} ({_human(free)} free on that disk)"

    # --- whole-store operations --------------------------------------------------------------

    def iter_traces(self) -> Iterator[tuple[str, Trace]]:
        for k, v in self._scan(b"traces"):
            trace = _decode(v, Trace)
            if trace is not None:
                yield k.hex(), trace

    def file_size(self) -> int:
        try:
            return (self.root / "db" / "data.mdb").stat().st_size
        except OSError:
            return 0

    # --- maintenance (assetbuild cache ...: see cache.py) -------------------------------------

    def put_used(self, key: str, when_ns: int) -> None:
        self._pending[(b"used", bytes.fromhex(key))] = when_ns.to_bytes(8, "big")

    def delete_used(self, key: str) -> None:
        self._pending[(b"used", bytes.fromhex(key))] = None

    def used_times(self) -> dict[str, int]:
        """key -> when it last stopped being an asset's latest key (see the module docstring)."""
        return {k.hex(): int.from_bytes(v[:8], "big") for k, v in self._scan(b"used") if len(v) == 8}

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
        self._pending[(b"meta", b"last_build")] = json.dumps(summary, sort_keys=True).encode()
        return True

    def iter_records(self, db: str) -> Iterator[tuple[bytes, Any]]:
        """(raw key, decoded Trace/Head or None if the record does not decode) of traces or heads."""
        cls = Trace if db == "traces" else Head
        for k, v in self._scan(db.encode()):
            yield k, _decode(v, cls)

    def delete_record(self, db: str, raw_key: bytes) -> None:
        self._pending[(db.encode(), raw_key)] = None

    def iter_inline_blobs(self) -> Iterator[tuple[str, bytes]]:
        """(digest, bytes) of every blob kept inside the index (bytes not verified)."""
        for k, v in self._scan(b"blobs"):
            yield k.hex(), bytes(v)

    def inline_blob_sizes(self) -> dict[str, int]:
        return {k.hex(): len(v) for k, v in self._scan(b"blobs")}

    def delete_inline_blob(self, digest: str) -> None:
        self._pending[(b"blobs", bytes.fromhex(digest))] = None
        self._pending_blobs.pop(digest, None)

    def cas_files(self) -> Iterator[tuple[str | None, Path, int]]:
        """(digest, path, size) of every file under cas/; digest None for anything else there
        (``.*.assetbuild-tmp`` of a write in progress or of a killed one, stray files)."""
        if not self.cas.is_dir():
            return
        for sub in sorted(os.scandir(self.cas), key=lambda e: e.name):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for e in sorted(os.scandir(sub.path), key=lambda e: e.name):
                try:
                    size = e.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
                dg = sub.name + e.name
                yield (dg if len(sub.name) == 2 and _is_digest(dg) and e.is_file(follow_symlinks=False)
                       else None), Path(e.path), size

    def iter_history(self) -> Iterator[tuple[bytes, str]]:
        """(raw row key, trace key) of every history row."""
        for k, v in self._scan(b"history"):
            yield k, bytes(v).hex()

    def delete_history_row(self, raw_key: bytes) -> None:
        self._pending[(b"history", raw_key)] = None

    def compact(self) -> tuple[int, int]:
        """Replace db/ by a compacted copy (LMDB never shrinks its file: free pages stay).

        The caller holds the build lock, so no other process writes; the swap itself happens
        under the exclusive open lock, so no process opens the index half-swapped. Processes
        that have the old index open keep reading its (unlinked) file; a writer reopens when it
        takes the build lock. Returns the data file's size before and after.
        """
        if self.readonly or self._env is None:
            raise StoreError("internal error: compacting a read-only store")
        self.flush()
        self._drop_reader()
        dbdir = self.root / "db"
        before = self.file_size()
        tmp = self.root / f"db.compact-{os.getpid()}-{os.urandom(6).hex()}"
        tmp.mkdir()  # a new directory: mkdir follows no symlink planted at the name
        try:
            self._env.copy(str(tmp), compact=True)
            fd = os.open(tmp / "data.mdb", os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            after = (tmp / "data.mdb").stat().st_size
        except (OSError, lmdb.Error) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(self._disk_message(f"cannot compact the cache index at {dbdir}", e)) from e
        if after >= before:
            shutil.rmtree(tmp, ignore_errors=True)
            return before, before
        aside = self.root / f"db.old-{os.getpid()}"
        with self._open_lock():
            self._close_env()
            os.replace(dbdir, aside)
            os.replace(tmp, dbdir)
            _fsync_dir(self.root)
            self._acquire_env(dbdir)
            self._open_dbs()
            self._data_id = self._data_file_id()
        shutil.rmtree(aside, ignore_errors=True)
        return before, after

    def leftovers(self) -> list[Path]:
        """Directories a killed compaction or a recovery left in the cache directory."""
        return sorted(p for pat in ("db.compact-*", "db.old-*", "db.corrupt-*") for p in self.root.glob(pat))


# --- what belongs to a cache directory (refusing a bad --cache-dir; clean) -------------------

# Names the store layout creates at the top of a cache directory: exact names, then prefixes
# (temp files of a write in progress, indexes moved aside, a compaction's copies).
_LAYOUT_NAMES = frozenset({"STORE", "db", "cas", "lock", "code"})
_LAYOUT_PREFIXES = ("STORE.tmp", ".STORE.tmp", "db.corrupt-", "db.old-", "db.compact-")
_INDEX_FILES = frozenset({"data.mdb", "lock.mdb"})
_HEX2 = re.compile(r"[0-9a-f]{2}\Z")
_HEX62 = re.compile(r"[0-9a-f]{62}\Z")


def _is_layout_name(name: str) -> bool:
    return name in _LAYOUT_NAMES or name.startswith(_LAYOUT_PREFIXES) or _is_temp_of(name, "STORE")


def _is_temp_of(name: str, base: str | None = None) -> bool:
    """A temp file of ``atomicfile`` (for a destination named ``base``, if given)."""
    if not name.endswith(TEMP_SUFFIX):
        return False
    return base is None or name.startswith(f".{base}.")


def is_cache_dir(path: Path) -> bool:
    """Whether ``path`` holds an assetbuild cache (a STORE file or an index), or nothing but
    names of the store layout (a cache whose first open was interrupted)."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    if "STORE" in names or "db" in names:
        return True
    return all(_is_layout_name(n) for n in names)


def check_cache_dir(cache_dir: Path, project_dir: Path) -> None:
    """Refuse a cache directory whose use could delete or corrupt what is not the cache's:
    the project directory or one above it (``clean`` would delete the project), or an
    existing non-empty directory that is not an assetbuild cache."""
    real = cache_dir.resolve()
    project = project_dir.resolve()
    if real == project or real in project.parents:
        what = "is the project directory" if real == project else f"contains the project directory {project}"
        raise StoreError(f"the cache directory {cache_dir} {what}; use a directory of its own "
                         "(default: .assetbuild in the project)")
    if real.exists():
        if not real.is_dir():
            raise StoreError(f"the cache directory {cache_dir} exists and is not a directory")
        if not is_cache_dir(real):
            raise StoreError(f"the cache directory {cache_dir} is not empty and is not an assetbuild cache; "
                             "use a new or empty directory")


def clear_cache_dir(cache_dir: Path) -> list[Path]:
    """Delete what the store layout created in ``cache_dir`` (``assetbuild clean``), nothing else.

    Anything else found there (a file the user put in it) is kept, with the directories that
    hold it; returns those entries (empty when the whole directory is gone).
    """
    if not cache_dir.exists():
        return []
    if not is_cache_dir(cache_dir):
        raise StoreError(f"{cache_dir} does not look like an assetbuild cache (no STORE file); not deleting it")
    kept: list[Path] = []
    for e in sorted(os.scandir(cache_dir), key=lambda e: e.name):
        p = Path(e.path)
        if not _is_layout_name(e.name):
            kept.append(p)
        elif e.is_symlink() or not e.is_dir():
            _remove_file(p, kept, e.name in ("STORE", "lock") or e.name.startswith(_LAYOUT_PREFIXES)
                         or _is_temp_of(e.name, "STORE"))
        elif e.name == "cas":
            for sub in sorted(os.scandir(p), key=lambda e: e.name):
                if (_HEX2.match(sub.name) or sub.name == "tmp") and sub.is_dir(follow_symlinks=False):
                    for f in os.scandir(sub.path):  # blobs, and temp files (of blobs; spooled outputs)
                        _remove_file(Path(f.path), kept, not f.is_dir(follow_symlinks=False) and (
                            _HEX62.match(f.name) is not None or _is_temp_of(f.name) or f.name.startswith(".tmp")))
                    _remove_dir(Path(sub.path), kept)
                else:
                    kept.append(Path(sub.path))
            _remove_dir(p, kept)
        elif e.name == "code":
            for f in os.scandir(p):
                _remove_file(Path(f.path), kept, not f.is_dir(follow_symlinks=False)
                             and (f.name.endswith(".bin") or f.name.startswith(".")))
            _remove_dir(p, kept)
        else:  # db/ and indexes moved aside: LMDB's two files
            for f in os.scandir(p):
                _remove_file(Path(f.path), kept, f.name in _INDEX_FILES and not f.is_dir(follow_symlinks=False))
            _remove_dir(p, kept)
    if not kept:
        _remove_dir(cache_dir, kept)
    return kept


def _remove_file(path: Path, kept: list[Path], ours: bool) -> None:
    if not ours:
        kept.append(path)
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StoreError(f"cannot delete {path}: {e.strerror}") from e


def _remove_dir(path: Path, kept: list[Path]) -> None:
    """rmdir ``path`` unless something kept is inside it."""
    if any(path in k.parents for k in kept):
        return
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StoreError(f"cannot delete {path}: {e.strerror}") from e
