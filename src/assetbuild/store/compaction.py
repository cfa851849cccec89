"""Compaction of the index: LMDB never shrinks its file (free pages stay), so ``cache gc``
replaces ``db/`` by a compacted copy; and what a killed compaction or a recovery leaves behind.

The caller holds the build lock, so no other process writes; the swap itself happens under the
exclusive open lock, so no process opens the index half-swapped. Processes that have the old
index open keep reading its (unlinked) file; a writer reopens when it takes the build lock.
A compaction killed between its two renames is undone by the next writer's open
(``Index._recover_swap``); until then readers read the old index where it is (``Index.open``).
"""

from __future__ import annotations

import os
from pathlib import Path

import lmdb

from ..crashpoints import crash_point
from ..errors import StoreError
from .cas import fsync_dir
from .environment import Index
from .failures import NO_WRITE, disk_message, errno_of
from .lock import open_lock

# What a failed compaction leaves: gc's drops are committed before it starts.
_KEPT = "what gc dropped is gone; the index keeps its free pages, which builds reuse"


def compact_index(index: Index) -> tuple[int, int]:
    """Replace the (flushed) index's db/ by a compacted copy; the data file's size before and after.
    A cache directory it may not write in (a shared cache: its files writable, itself not) is a
    StoreError saying so and that gc's drops, committed by then, hold: an error rather than a
    warning, as a user who asked for the disk space back should hear that not all of it came back."""
    if index.readonly or index.env is None:
        raise StoreError("internal error: compacting a read-only store")
    index.drop_reader()
    root = index.root
    dbdir = root / "db"
    before = index.file_size()
    tmp = root / f"db.compact-{os.getpid()}-{os.urandom(6).hex()}"
    try:
        tmp.mkdir()  # a new directory: mkdir follows no symlink planted at the name
    except OSError as e:  # (a cache directory shared with files writable, itself not: one line, not a traceback)
        why = f"no permission to write in {root}" if errno_of(e) in NO_WRITE else str(e)
        raise StoreError(f"cannot compact the cache index at {dbdir}: {why}, where its compacted copy goes "
                         f"({_KEPT})") from e
    try:
        index.env.copy(os.fsencode(tmp), compact=True)
        fd = os.open(tmp / "data.mdb", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        after = (tmp / "data.mdb").stat().st_size
    except (OSError, lmdb.Error) as e:
        _remove_tree(tmp)
        raise StoreError(disk_message(root, f"cannot compact the cache index at {dbdir}", e, hint=_KEPT)) from e
    if after >= before:
        _remove_tree(tmp)
        return before, before
    aside = root / f"db.old-{os.getpid()}"
    with open_lock(root, shared=False):
        index.close()
        try:
            os.replace(dbdir, aside)
        except OSError as e:  # db/ a mount point (EBUSY: a volume of its own), immutable: it stays, as it was
            _remove_tree(tmp)
            index.attach()
            raise StoreError(f"cannot compact the cache index at {dbdir}: it cannot be moved aside for its "
                             f"compacted copy ({e.strerror or e}) ({_KEPT})") from e
        crash_point("index-swap")
        try:
            os.replace(tmp, dbdir)
        except OSError as e:  # (db/ was just renamed away, so rarely): the old index back in place
            os.replace(aside, dbdir)
            _remove_tree(tmp)
            index.attach()
            raise StoreError(disk_message(root, f"cannot compact the cache index at {dbdir}", e, hint=_KEPT)) from e
        fsync_dir(root)
        try:
            index.attach()
        except (OSError, lmdb.Error) as e:  # no inode for its lock file: the compacted index is in place, whole
            _remove_tree(aside)
            raise StoreError(disk_message(root, f"compacted the cache index at {dbdir}, but cannot open it", e,
                                          hint="what gc dropped is gone")) from e
    _remove_tree(aside)
    return before, after



def _remove_tree(path: Path) -> None:
    import shutil  # (here: every build imports this module, and few compact)

    shutil.rmtree(path, ignore_errors=True)


def leftovers(root: Path) -> list[Path]:
    """Directories a killed compaction or a recovery left in the cache directory."""
    return sorted(p for pat in ("db.compact-*", "db.old-*", "db.corrupt-*") for p in root.glob(pat))
