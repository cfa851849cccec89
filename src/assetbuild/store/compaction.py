"""Compaction of the index: LMDB never shrinks its file (free pages stay), so ``cache gc``
replaces ``db/`` by a compacted copy; and what a killed compaction or a recovery leaves behind.

The caller holds the build lock, so no other process writes; the swap itself happens under the
exclusive open lock, so no process opens the index half-swapped. Processes that have the old
index open keep reading its (unlinked) file; a writer reopens when it takes the build lock.
A compaction killed between its two renames is undone by the next open (``Index._recover_swap``).
"""

from __future__ import annotations

import os
from pathlib import Path

import lmdb

from ..errors import StoreError
from .cas import fsync_dir
from .environment import Index
from .failures import disk_message
from .lock import open_lock


def compact_index(index: Index) -> tuple[int, int]:
    """Replace the (flushed) index's db/ by a compacted copy; the data file's size before and after."""
    if index.readonly or index.env is None:
        raise StoreError("internal error: compacting a read-only store")
    index.drop_reader()
    root = index.root
    dbdir = root / "db"
    before = index.file_size()
    tmp = root / f"db.compact-{os.getpid()}-{os.urandom(6).hex()}"
    tmp.mkdir()  # a new directory: mkdir follows no symlink planted at the name
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
        raise StoreError(disk_message(root, f"cannot compact the cache index at {dbdir}", e)) from e
    if after >= before:
        _remove_tree(tmp)
        return before, before
    aside = root / f"db.old-{os.getpid()}"
    with open_lock(root, shared=False):
        index.close()
        os.replace(dbdir, aside)
        os.replace(tmp, dbdir)
        fsync_dir(root)
        index.attach()
    _remove_tree(aside)
    return before, after



def _remove_tree(path: Path) -> None:
    import shutil  # (here: every build imports this module, and few compact)

    shutil.rmtree(path, ignore_errors=True)


def leftovers(root: Path) -> list[Path]:
    """Directories a killed compaction or a recovery left in the cache directory."""
    return sorted(p for pat in ("db.compact-*", "db.old-*", "db.corrupt-*") for p in root.glob(pat))
