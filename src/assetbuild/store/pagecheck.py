"""Checks the pages of an LMDB data file that could make LMDB read past the end of the file,
before LMDB opens it: such a read is SIGBUS, and the process dies without a word.

LMDB 0.9.36, as py-lmdb 3.0 bundles and patches it, trusts what a page says about itself. The
patches bound a page's lower and upper, the page numbers it follows, an inline value's size;
not the offsets of its nodes (``mp_ptrs``, 16 bits each) nor a key's size (16 bits): a damaged
offset points up to 64 KiB past its page, the key read there up to 64 KiB further. Nor the size
of a value on overflow pages (32 bits).

So, on every page the newest meta page reaches: its number, kind, depth, bounds and node
offsets (one slice a page); branch pages and the list of databases in full (each node and key
inside its page, each child inside the file, each page reached once); and each node of the leaf
pages where a damaged key size could reach past the end of the file (the last 64 KiB) or whose
tree has overflow pages (their runs and value sizes). A damaged key size elsewhere reads other
pages of the file: LMDB then finds a wrong key or none, or reports corruption (the store's
DAMAGE). Free pages and values are never read. A 30 MB index (10,000 assets): about 12 ms.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Any

from ..atomicfile import write_atomically

# mdb.c, 64-bit builds: a page header is pgno u64, pad u16, flags u16, lower u16, upper u16
# (an overflow page has its page count, u32, where lower and upper are); a node is lo u16,
# hi u16, flags u16, ksize u16, then the key and the data (a branch node keeps its child's page
# number in lo, hi and flags). An MDB_db is pad u32, flags u16, depth u16, four u64 counts, root.
_HEADER = struct.Struct("=QHHHH")
_OVERFLOW = struct.Struct("=QHHI")
_NODE = struct.Struct("=HHHH")
_DB = struct.Struct("=IHH32xQ")
_PAGEHDRSZ = 16
_NODESIZE = 8
_P_BRANCH, _P_LEAF, _P_OVERFLOW = 0x01, 0x02, 0x04
_KIND = 0x6F  # branch, leaf, overflow, meta, leaf2 (DUPFIXED), subpage: what LMDB reads by
_F_BIGDATA, _F_SUBDATA = 0x01, 0x02
_P_INVALID = (1 << 64) - 1
_MAX_DEPTH = 32  # LMDB's cursor stack (CURSOR_STACK)
_FREE_DB_OFFSET = 40  # of the free DB's MDB_db in a meta page; the main DB's follows it
_MAIN_DB_OFFSET = 88


_SOUND = "sound"  # in db/: the data file's signature when its pages were last known sound


def signature(st: os.stat_result) -> str:
    """Changes with any write of the file (its ctime: even one that sets its mtime back) and
    with another file put in its place (a restored or copied cache)."""
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


def sound_signature(dbdir: Path) -> str | None:
    try:
        return (dbdir / _SOUND).read_text()
    except (OSError, UnicodeDecodeError):
        return None


def note_sound(dbdir: Path) -> None:
    """Record the data file as it is now as sound, after a command that wrote it closed it: its
    pages were checked as it opened, and only LMDB wrote them since (its commits, or another
    build's), so the next open need not walk them again (``check_pages``: 12 ms at 10,000
    assets). A cache restored, copied or damaged since has another signature, and is checked.
    (A write in the same tick of the file system's clock as the last commit, of the same size,
    would pass unseen: a damage that close to a build is not what this guards against.) Best
    effort: where it cannot be written, the next open checks again."""
    with contextlib.suppress(OSError):
        write_atomically(dbdir / _SOUND, signature(os.stat(dbdir / "data.mdb")).encode())


_META_SIZE = 152  # of a meta page: its header, MDB_meta up to and with txnid
_P_META = 0x08
_MDB_MAGIC = 0xBEEFC0DE


def database_names(path: str | os.PathLike[str]) -> frozenset[str] | None:
    """The named databases in the LMDB data file ``path``; None if it is not one. Read with plain
    reads of the newest meta page and of the main tree's root (nothing is mapped, every offset is
    checked): no LMDB open of a file that may be anyone's. A main tree deeper than one page (more
    databases than a cache's index has) is None too."""
    try:
        with open(path, "rb") as f:
            fd = f.fileno()
            psize = int.from_bytes(os.pread(fd, 4, _FREE_DB_OFFSET), "little")
            if psize < 512 or psize > 65536 or psize & (psize - 1):
                return None
            metas = [m for m in (os.pread(fd, _META_SIZE, i * psize) for i in (0, 1)) if len(m) == _META_SIZE
                     and _HEADER.unpack_from(m)[2] & _P_META and struct.unpack_from("=I", m, _PAGEHDRSZ)[0] == _MDB_MAGIC]
            if not metas:
                return None
            _pad, _flags, depth, root = _DB.unpack_from(max(metas, key=_txnid), _MAIN_DB_OFFSET)
            if root == _P_INVALID:
                return frozenset()
            page = os.pread(fd, psize, root * psize) if depth == 1 else b""
    except OSError:
        return None
    if len(page) != psize:
        return None
    pgno, _, flags, lower, upper = _HEADER.unpack_from(page)
    n, odd = divmod(lower - _PAGEHDRSZ, 2)
    if pgno != root or flags & _KIND != _P_LEAF or odd or n < 0 or not lower <= upper <= psize:
        return None
    names = set()
    for ptr in struct.unpack_from(f"={n}H", page, _PAGEHDRSZ):  # the offsets of its nodes
        if ptr < upper or ptr > psize - _NODESIZE:
            return None
        _lo, _hi, nflags, ksize = _NODE.unpack_from(page, ptr)
        if ptr + _NODESIZE + ksize > psize:
            return None
        if nflags & _F_SUBDATA:
            names.add(page[ptr + _NODESIZE:ptr + _NODESIZE + ksize].decode("utf-8", "replace"))
    return frozenset(names)


class Damage(Exception):
    """What is wrong, worded for "the cache index was damaged (...)"."""


def check_pages(fd: int, psize: int, meta: bytes) -> str | None:
    """What is wrong with the pages the meta page ``meta`` (its first 152 bytes: the newest of
    the two) reaches in the data file ``fd``, or None. The caller has checked the page size and
    that the file holds pages 0 to the meta's last page.

    A build in another process may commit meanwhile. LMDB overwrites no page of transaction T
    before T+3 begins (the pages T+1 frees are reused once no reader can need them, from
    T+3 on: the walk is no reader), so damage found while the newest transaction is still at
    most T+1 is real; otherwise the walk starts over on the newer meta page."""
    for _ in range(3):
        problem = _walk(fd, psize, meta)
        if problem is None:
            return None
        newest = max((os.pread(fd, len(meta), i * psize) for i in (0, 1)), key=_txnid)
        if _txnid(newest) <= _txnid(meta) + 1:
            return problem
        meta = newest
    return None  # rewritten faster than it can be checked: a busy index, not a damaged one


def _txnid(meta: bytes) -> int:
    return int.from_bytes(meta[144:152], "little") if len(meta) >= 152 else -1


def _walk(fd: int, psize: int, meta: bytes) -> str | None:
    """The file is mapped for this, as LMDB maps it (no copy; pages no tree reaches are never
    read), and every offset is checked before it is used."""
    last = struct.unpack_from("=Q", meta, 136)[0]
    try:
        mm = mmap.mmap(fd, (last + 1) * psize, access=mmap.ACCESS_READ)
    except ValueError:  # shorter than the meta says: truncated since the caller looked
        return "its data file is truncated"
    except OSError:  # no address space (ulimit -v): LMDB will say so, or map a smaller part
        return None
    with mm:
        view = memoryview(mm)
        walk = _Walk(view, psize, last, os.fstat(fd).st_size)
        try:
            walk.tree(meta, _FREE_DB_OFFSET, "the free-page list")
            walk.tree(meta, _MAIN_DB_OFFSET, "the list of databases", named=True)
        except Damage as e:
            return str(e)
        finally:
            walk.release()
            view.release()
    return None


class _Walk:
    def __init__(self, view: memoryview, psize: int, last: int, size: int) -> None:
        self.size = size
        self.bytes = view
        self.words = view.cast("H")  # 16-bit fields, by offset // 2 (pages and nodes are even)
        self.psize = psize
        self.last = last
        self.seen: set[int] = set()

    def release(self) -> None:
        self.words.release()

    def page(self, pgno: int, what: str) -> int:
        """The offset of page ``pgno``, checked to be one this walk may read, once."""
        if not 2 <= pgno <= self.last:
            raise Damage(f"{what} refers to page {pgno}, outside the file")
        if pgno in self.seen:
            raise Damage(f"page {pgno} is reached twice")
        self.seen.add(pgno)
        base = pgno * self.psize
        if _HEADER.unpack_from(self.bytes, base)[0] != pgno:
            raise Damage(f"page {pgno} is damaged (its page number)")
        return base

    def tree(self, rec: Any, offset: int, what: str, *, named: bool = False) -> None:
        """Every page of the tree whose MDB_db record is at ``offset`` of ``rec``; with ``named``
        (the main tree), the trees of the named databases its records describe too."""
        _pad, _flags, depth, root = _DB.unpack_from(rec, offset)
        if root == _P_INVALID:
            return
        if not 1 <= depth <= _MAX_DEPTH:
            raise Damage(f"the record of {what} is damaged (depth {depth})")
        psize, words = self.psize, self.words
        big = struct.unpack_from("=Q", rec, offset + 24)[0]  # md_overflow_pages
        stack = [(root, 1)]
        while stack:
            pgno, level = stack.pop()
            base = self.page(pgno, what)
            _, _, flags, lower, upper = _HEADER.unpack_from(self.bytes, base)
            leaf = level == depth
            if flags & _KIND != (_P_LEAF if leaf else _P_BRANCH):
                raise Damage(f"page {pgno} is damaged (its kind: flags {flags:#x})")
            n, odd = divmod(lower - _PAGEHDRSZ, 2)
            if odd or n < (0 if leaf else 1) or upper > psize or lower > upper:
                raise Damage(f"page {pgno} is damaged (its bounds)")
            if not n:
                continue
            w = base >> 1
            ptrs = words[w + 8:w + 8 + n].tolist()
            if min(ptrs) < upper or max(ptrs) > psize - _NODESIZE or reduce(or_, ptrs) & 1:
                raise Damage(f"page {pgno} is damaged (a node outside the page)")
            if leaf and not named and not big and base + psize + 0xFFFF <= self.size:
                continue  # no node here can make LMDB read past the end of the file
            for ptr in ptrs:
                lo, hi, nflags, ksize = _NODE.unpack_from(self.bytes, base + ptr)
                end = ptr + _NODESIZE + ksize
                if not leaf:
                    if end > psize:
                        raise Damage(f"page {pgno} is damaged (a key outside the page)")
                    stack.append((lo | hi << 16 | nflags << 32, level + 1))
                    continue
                dsize = lo | hi << 16
                if nflags & ~(_F_BIGDATA | _F_SUBDATA) or nflags & _F_SUBDATA and (nflags & _F_BIGDATA or not named):
                    raise Damage(f"page {pgno} is damaged (node flags {nflags:#x})")
                if nflags & _F_BIGDATA:
                    if end + 8 > psize:
                        raise Damage(f"page {pgno} is damaged (a key outside the page)")
                    self.overflow(struct.unpack_from("=Q", self.bytes, base + end)[0], dsize, pgno)
                elif end + dsize > psize:
                    raise Damage(f"page {pgno} is damaged (a record outside the page)")
                elif nflags & _F_SUBDATA:
                    if dsize != _DB.size:
                        raise Damage(f"page {pgno} is damaged (a database record of {dsize} bytes)")
                    name = bytes(self.bytes[base + ptr + _NODESIZE:base + end]).decode("utf-8", "replace")
                    self.tree(self.bytes, base + end, f"the database {name!r}")

    def overflow(self, pgno: int, dsize: int, parent: int) -> None:
        """The header of a run of overflow pages: its kind, and the run (and the value it
        holds) inside the file. The pages after the first hold only the value."""
        base = self.page(pgno, f"page {parent}")
        _, _, flags, pages = _OVERFLOW.unpack_from(self.bytes, base)
        if flags & _KIND != _P_OVERFLOW:
            raise Damage(f"page {pgno} is damaged (its kind: flags {flags:#x})")
        if pages < 1 or pgno + pages - 1 > self.last or dsize + _PAGEHDRSZ > pages * self.psize:
            raise Damage(f"page {pgno} is damaged (a value of {dsize} bytes on {pages} pages)")
