"""The LMDB environment of a cache directory: opening it (shared within a process), checking
and recovering it (format, identity, truncation, damage), reading it and committing batches.

This and the other modules of ``assetbuild.store`` are the only importers of ``lmdb``.

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
- Opening (creating ``STORE``, checking, moving a damaged index aside) happens under the open
  lock, so two processes starting at once cannot take each other's fresh index for a damaged one.
- No read transaction stays open across a commit (it would pin pages and grow the file).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lmdb

from ..atomicfile import write_atomically
from ..crashpoints import crash_point
from ..errors import StoreError
from .failures import NO_WRITE, describe_open_error, disk_message, errno_of
from .lock import open_lock
from .pagecheck import check_pages, note_sound, signature, sound_signature

# What an older assetbuild would misread, it must refuse (it refuses a format above its own):
# 1, the first; 2, history rows keyed by build order, then time (a format-1 reader takes both for
# a time); 3, dynamic partition keys kept per project and a schedule's record per key of a
# partitioned asset; 4, those keys in ``partition-keys.json``: older versions read their
# ``partitions.json`` before they open the store, and one holding per-project tables (as format
# 3 kept them) was "damaged, delete it" to a format-2 reader, where a format-3 reader would miss
# the keys in the new file. This version reads formats 1 to 3 as they are: a writable open
# records 4, in the index (``_check_open_env``) and in STORE (``open``), and changes nothing else.
STORE_FORMAT = 4
INITIAL_MAP_SIZE = 1 << 30
MAX_MAP_SIZE = 1 << 40

DBS = (b"meta", b"traces", b"heads", b"history", b"stat", b"blobs", b"used", b"observations", b"skips", b"events",
       b"runs", b"texts")

# LMDB errors that mean the index itself is damaged (as opposed to a full disk or a full map).
# Everything else (no memory or address space, a read-only file system, no permission, the
# environment already open) says nothing about the file's contents: a clear error, never a
# healthy index moved aside.
DAMAGE = (lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.InvalidError, lmdb.PanicError,
          lmdb.VersionMismatchError, lmdb.BadDbiError)

# The two meta pages at the start of data.mdb (lmdb.h / mdb.c, 64-bit builds): a page header
# (pgno u64, pad u16, flags u16, lower u16, upper u16), then MDB_meta: magic u32, version u32,
# address u64, mapsize u64, two MDB_db of 48 bytes (the free DB's md_pad is the page size),
# last_pgno u64, txnid u64.
_META = struct.Struct("=QHHHHIIQQ48x48xQQ")
_META_PSIZE = struct.Struct("=I")
_META_PSIZE_OFFSET = 40
_P_META = 0x08
_MDB_MAGIC = 0xBEEFC0DE


def _older(fmt: object) -> bool:
    """Whether a cache of format ``fmt`` is one this version upgrades when it writes to it, so
    that the older versions that wrote it refuse it from then on, rather than misread it."""
    return isinstance(fmt, int) and fmt < STORE_FORMAT


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


def check_data_file(dbdir: Path) -> str | None:
    """What is wrong with the data file of the index in ``dbdir``, or None: catches a truncated
    file, and pages that would make LMDB read past its end, before LMDB maps it (such a read is
    SIGBUS: the process dies without a word).

    Reads the two meta pages with plain file reads: every page the index refers to is at or
    below the newest meta's last_pgno, so a file shorter than (last_pgno + 1) * page size is
    truncated. LMDB itself rejects bad magic numbers; this rejects them too. Then the pages the
    newest meta reaches are checked (``pagecheck``: about 12 ms for a 30 MB index), unless the
    file is as the last build that wrote it left it (``note_sound``).
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
                    best = (last_pgno, txnid, page)
            assert best is not None
            need = (best[0] + 1) * psize
            if need > size:
                return f"its data file is truncated ({size} bytes, {need} expected)"
            if sound_signature(dbdir) == signature(os.fstat(f.fileno())):
                return None  # as the last build here left it: no copy, restore or other write since
            return check_pages(f.fileno(), psize, best[2])
    except FileNotFoundError:
        return None
    except OSError as e:  # no permission, an I/O error: nothing says the contents are bad
        raise StoreError(f"cannot read the cache index at {path}: {e.strerror}") from e


class Index:
    """The LMDB environment of one cache directory and its databases (``DBS``).

    ``readonly=True`` never creates or writes anything: a missing index reads as empty, and one
    a compaction killed between its renames left as db.old-* is read there.
    """

    def __init__(self, root: Path, *, readonly: bool, warn: Callable[[str], None], map_size: int) -> None:
        self.root = root
        self.readonly = readonly
        self.warn = warn
        self.env: Any = None
        self.dbdir = root / "db"  # where the index is read from (see open)
        self.dbs: dict[bytes, Any] = {}
        self._map_size = map_size
        self._rtxn: Any = None
        self._data_id: tuple[int, int] | None = None
        self._shared: _SharedEnv | None = None
        self._info: dict[str, Any] | None = None
        self._store_lost = ""  # why this open wrote STORE anew: it "was missing", or "could not be read"

    # --- opening, checking, recovering -------------------------------------------------------

    def open(self) -> None:
        dbdir = self.dbdir = self.root / "db"
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
        with open_lock(self.root, shared=self.readonly):
            info = self._read_store_file()  # again: another process may have created it meanwhile
            self._check_format(info)
            if info is None and not self.readonly:
                self._store_lost = "could not be read" if (self.root / "STORE").exists() else "was missing"
                info = {"format": STORE_FORMAT, "db_id": os.urandom(16).hex()}
                try:
                    self._write_store_file(info)
                except OSError as e:
                    raise StoreError(describe_open_error(self.root, e, writing=True)
                                     if e.errno in (*NO_WRITE, errno.ENOSPC) else
                                     f"cannot write {self.root / 'STORE'}: {e.strerror}") from e
            self._info = info
            if not self.readonly and not (dbdir / "data.mdb").exists():
                self._recover_swap(dbdir)
            if self.readonly and not (dbdir / "data.mdb").exists():  # (under the lock: a compaction swaps db/)
                old = self._swapped_aside()
                if old is None:
                    return
                dbdir = self.dbdir = old  # a killed compaction's whole index: read where it is (writers put it back)
            problem = check_data_file(dbdir)
            if problem is None:
                try:
                    self._acquire_env(dbdir)
                    problem = self._check_open_env(info)
                except DAMAGE as e:
                    problem = f"it cannot be opened ({e})"
                except lmdb.Error as e:  # not damage: memory, permissions, read-only, ...
                    self.close()
                    raise StoreError(describe_open_error(self.root, e, writing=not self.readonly)) from e
                except StoreError:
                    self.close()
                    raise
            if problem is not None:
                self.close()
                self._replace_index(problem)
                if self.env is None:
                    return
            self._open_dbs()
            if not self.readonly:
                self.env.reader_check()  # clear slots of readers that died, or the file grows
                if info is not None and _older(info.get("format", 0)):
                    # upgraded in place, as the index was (``_check_open_env``). A STORE that cannot
                    # be replaced (a shared directory only its files are writable in) stays: the
                    # index's record refuses older versions too
                    self._info = info = {**info, "format": STORE_FORMAT}
                    from .cachedir import adopt_older_keys
                    adopt_older_keys(self.root)  # (format 3's keys, out of the older versions' way)
                    with contextlib.suppress(OSError):
                        self._write_store_file(info)

    def _data_file_id(self) -> tuple[int, int] | None:
        return _file_ident(self.dbdir / "data.mdb")

    def reopen_if_replaced(self) -> None:
        """Reopen the index if a compaction (or a recovery) replaced db/ since we opened it."""
        if self.env is None or self._data_file_id() == self._data_id:
            return
        self.close()
        self.open()

    def _recover_swap(self, dbdir: Path) -> None:
        """A compaction killed between its two renames left db/ missing (or empty, since
        opening creates it) and the complete old index as db.old-*: put that back."""
        old = self._swapped_aside()
        if old is not None:
            try:
                with contextlib.suppress(FileNotFoundError):
                    dbdir.rmdir()  # empty: created by this open
                os.replace(old, dbdir)
            except OSError:
                return  # db/ holds something else: leave both alone, start afresh
            self.warn(f"restored the cache index from {old.name} (a gc was interrupted)")

    def _swapped_aside(self) -> Path | None:
        """The complete index a compaction killed between its two renames left (db/ missing)."""
        return next((old for old in sorted(self.root.glob("db.old-*")) if (old / "data.mdb").is_file()), None)

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
                self._shared, self.env = shared, shared.env
                return
            env, writable = self._open_env(dbdir)
            ident = _file_ident(dbdir / "data.mdb") or (0, id(env))
            self._shared = _SharedEnv(env, writable, ident)
            _shared_envs[ident] = self._shared
            self.env = env

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
                    env = lmdb.open(os.fsencode(dbdir), map_size=map_size, max_dbs=len(DBS) + 2,
                                    readonly=readonly, max_readers=1024, max_spare_txns=0, lock=lock,
                                    create=not self.readonly)
                    return env, not readonly
                except lmdb.MemoryError as e:
                    err = e
                    continue  # try a smaller map
                except lmdb.Error as e:
                    if errno_of(e) in NO_WRITE or isinstance(e, lmdb.ReadonlyError):
                        err = e
                        break  # try the next, less demanding way
                    raise
        assert err is not None
        raise err

    def _open_dbs(self) -> None:
        for name in DBS:
            self.dbs[name] = self._open_db(name, create=not self.readonly)
        self._data_id = self._data_file_id()

    def attach(self) -> None:
        """Open db/ again after it was swapped (the caller holds the open lock)."""
        self._acquire_env(self.root / "db")
        self._open_dbs()

    def close(self) -> None:
        self.drop_reader()
        self.dbs = {}
        shared, self._shared = self._shared, None
        env, self.env = self.env, None
        if shared is None:
            if env is not None:
                with contextlib.suppress(lmdb.Error):
                    env.close()
                self._note_writes(env)
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
        self._note_writes(env if shared.writable else None)

    def _note_writes(self, env: Any) -> None:
        """After an environment this process wrote to is closed, the data file as LMDB left it
        is sound (``note_sound``): the next command need not check its pages again."""
        if env is None or self.readonly:
            return
        dbdir = self.root / "db"
        with contextlib.suppress(OSError):
            if sound_signature(dbdir) != signature(os.stat(dbdir / "data.mdb")):
                note_sound(dbdir)

    def _replace_index(self, problem: str) -> None:
        """Move a damaged index aside and start an empty one (the caller holds the open lock)."""
        dbdir = self.root / "db"
        if self.readonly:
            self.warn(f"the cache index at {self.dbdir} is damaged ({problem}); reading it as empty")
            return
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{os.urandom(3).hex()}"
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

    def _failed(self, err: BaseException) -> None:
        """LMDB reported damage in the middle of a build: go on with a fresh index (it is a cache)."""
        self.close()
        with open_lock(self.root, shared=self.readonly):
            self._replace_index(f"{type(err).__name__}: {err}")
            if self.env is not None:
                self._open_dbs()

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
                return self.env.open_db(name, create=False)  # a read transaction: never waits
            with self.env.begin(write=True) as txn:  # waits for the write lock without the GIL
                return self.env.open_db(name, txn=txn, create=create)
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

    def _check_open_env(self, info: dict[str, Any] | None) -> str | None:
        env = self.env
        psize = env.stat()["psize"]
        last = env.info()["last_pgno"]
        size = (self.dbdir / "data.mdb").stat().st_size
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
            if self._store_lost:
                return f"its identity file {self.root / 'STORE'} {self._store_lost}"
            return "it belongs to another cache directory"
        if not self.readonly and _older(int(fmt) if fmt is not None else 0):  # written from now on as this format
            with env.begin(write=True, db=meta) as txn:
                txn.put(b"format", str(STORE_FORMAT).encode())
        return None

    # --- reads -------------------------------------------------------------------------------

    def _begin(self, **kw: Any) -> Any:
        try:
            return self.env.begin(**kw)
        except lmdb.MapResizedError:  # another process grew the map: adopt its size
            self.drop_reader()
            self.env.set_mapsize(0)
            return self.env.begin(**kw)

    def _reader(self) -> Any:
        if self._rtxn is None:
            self._rtxn = self._begin(write=False)
        return self._rtxn

    def drop_reader(self) -> None:
        """End the read transaction: what was committed since becomes visible."""
        if self._rtxn is not None:
            with contextlib.suppress(lmdb.Error):
                self._rtxn.abort()
            self._rtxn = None

    def get(self, db: bytes, key: bytes) -> bytes | None:
        if self.env is None or self.dbs.get(db) is None:
            return None
        for attempt in (1, 2):
            try:
                value: bytes | None = self._reader().get(key, db=self.dbs[db])
                return value
            except DAMAGE as e:
                self._failed(e)
                return None
            except lmdb.Error as e:  # not damage (readers table full, no memory...): say so
                if attempt == 1:  # a store sharing the environment grew the map: our reader was
                    self.drop_reader()  # invalidated, a new one sees the same data
                    continue
                raise StoreError(f"cannot read the cache index at {self.root / 'db'}: {e}") from e
        return None  # not reached

    def scan(self, db: bytes, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs of ``db`` whose key starts with ``prefix``; none once damage shows."""
        if self.env is None or self.dbs.get(db) is None:
            return
        try:
            with self._begin(db=self.dbs[db]) as txn:
                cur = txn.cursor()
                if not cur.set_range(prefix):
                    return
                for k, v in cur:
                    if not k.startswith(prefix):
                        return
                    yield k, v
        except DAMAGE as e:
            self._failed(e)
        except lmdb.Error as e:
            raise StoreError(f"cannot read the cache index at {self.root / 'db'}: {e}") from e

    def last(self, db: bytes, prefix: bytes) -> tuple[bytes, bytes] | None:
        """The (key, value) of ``db`` with the greatest key starting with ``prefix`` (a non-empty
        prefix), found with one seek rather than a scan."""
        if self.env is None or self.dbs.get(db) is None:
            return None
        try:
            with self._begin(db=self.dbs[db]) as txn:
                cur = txn.cursor()
                if not cur.set_range(prefix + b"\xff" * 32):
                    found = cur.last()
                else:
                    found = cur.prev()
                if found and cur.key().startswith(prefix):
                    return bytes(cur.key()), bytes(cur.value())
                return None
        except DAMAGE as e:
            self._failed(e)
            return None
        except lmdb.Error as e:
            raise StoreError(f"cannot read the cache index at {self.root / 'db'}: {e}") from e

    # --- writes ------------------------------------------------------------------------------

    def commit(self, items: Sequence[tuple[tuple[bytes, bytes], bytes | None]]) -> None:
        """Write ``items`` ((db, key) -> value, None to delete) in one transaction, growing the
        map if it is full."""
        self.drop_reader()
        recovered = False
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for (db, k), v in items:
                        if v is None:
                            txn.delete(k, db=self.dbs[db])
                        else:
                            txn.put(k, v, db=self.dbs[db])
                    crash_point("store-commit")
                return
            except lmdb.MapFullError:
                size_now = self.env.info()["map_size"]
                if size_now >= MAX_MAP_SIZE:
                    raise StoreError(f"the cache index at {self.root} is full ({size_now} bytes)") from None
                try:
                    self.env.set_mapsize(size_now * 2)
                except lmdb.MemoryError as e:
                    raise StoreError(f"not enough memory or address space to grow the cache index at "
                                     f"{self.root / 'db'} to {size_now * 2 >> 20} MiB (is a `ulimit -v` "
                                     "limit set?)") from e
            except lmdb.MapResizedError:
                self.env.set_mapsize(0)
            except DAMAGE as e:
                if recovered:  # a fresh index failing too: not damage we can move aside
                    raise StoreError(f"cannot write the cache index at {self.root}: {e}") from e
                self._failed(e)  # the batch goes into a fresh index
                recovered = True
            except lmdb.Error as e:
                need = sum(len(k) + len(v or b"") for (_db, k), v in items)
                raise StoreError(disk_message(self.root, f"cannot write the cache index at {self.root}", e,
                                              need=2 * need + (1 << 20))) from e

    # --- about the index ---------------------------------------------------------------------

    def file_size(self) -> int:
        try:
            return (self.dbdir / "data.mdb").stat().st_size
        except OSError:
            return 0

    def info(self) -> dict[str, int]:
        """LMDB's figures (``map_size``, ``last_txnid``, ``last_pgno``, ``num_readers``...); empty
        without an index."""
        return dict(self.env.info()) if self.env is not None else {}

    def reader_pids(self) -> set[int]:
        """Processes holding a slot in the reader table (a killed reader's too, until cleared)."""
        if self.env is None:
            return set()
        return {int(line.split()[0]) for line in self.env.readers().splitlines()[1:] if line.split()}
