"""Why the cache directory cannot be opened or written, in one line a user can act on.

Only damage moves an index aside; everything else (no memory or address space, a read-only file
system, no permission, a full disk) is a StoreError with one of these messages.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import lmdb

# errnos of a write the file system refuses (as opposed to damage or a full disk)
NO_WRITE = (errno.EACCES, errno.EROFS, errno.EPERM)


def errno_of(err: BaseException) -> int:
    """The errno an OSError or an LMDB error carries (0 if none)."""
    code = getattr(err, "code", 0) or getattr(err, "errno", 0) or 0
    return code if isinstance(code, int) else 0


def human_size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n // 1024} KiB"


def describe_open_error(root: Path, err: BaseException, *, writing: bool) -> str:
    """One line for an index that cannot be opened for a reason other than damage."""
    code = errno_of(err)
    where = root / "db"
    if isinstance(err, lmdb.MemoryError) or code == errno.ENOMEM:
        return (f"not enough memory or address space to map the cache index at {where} "
                "(is a `ulimit -v` limit set?)")
    readers = "status, show, why, the dry runs (-n) of build, clean and cache gc, and cache stats/verify/export only read it"
    if code == errno.EROFS:
        return f"the cache directory {root} is on a read-only file system ({readers})"
    if isinstance(err, lmdb.ReadonlyError) or code in (errno.EACCES, errno.EPERM):
        return (f"no permission to {'write' if writing else 'read'} the cache index at {where}"
                + (f" ({readers})" if writing else ""))
    if code == errno.ENOSPC:
        return f"no space left on device for the cache index at {where}"
    return f"cannot open the cache index at {where}: {err}"


def out_of_space(root: Path, err: BaseException | None, need: int = 0) -> bool:
    """Whether ``err`` (an OSError, an LMDB error, or a StoreError caused by one) is a disk
    that is full: ENOSPC, or LMDB's "Input/output error" with less free space than it needed."""
    while isinstance(err, Exception) and not errno_of(err) and err.__cause__ is not None:
        err = err.__cause__  # (a StoreError says it in words; its cause has the errno)
    code = errno_of(err) if err is not None else 0
    if code == errno.ENOSPC:
        return True
    if code != errno.EIO:
        return False
    try:
        st = os.statvfs(root)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < max(need, 1 << 20)


def disk_message(root: Path, what: str, err: BaseException, need: int = 0,
                 hint: str = "assetbuild cache gc shrinks the cache") -> str:
    """``what`` failed: say why in words a user acts on (``hint``: what frees space, in
    parentheses after a full disk). LMDB reports a write that ran out of space as
    "Input/output error" (a short write), so a failed write with less free space than it
    needed is called what it is."""
    inodes = False  # no inode left (space is): a tmpfs's nr_inodes, a disk of many small files
    try:
        st = os.statvfs(root)  # (shutil.disk_usage's free: a build need not import shutil)
        free: int | None = st.f_bavail * st.f_frsize
        inodes = st.f_files > 0 and st.f_favail == 0
    except OSError:
        free = None
    code = errno_of(err)
    if code == errno.ENOSPC or (code == errno.EIO and free is not None and free < max(need, 1 << 20)):
        left = f"{human_size(free or 0)} free, but no free inode" if inodes else f"{human_size(free or 0)} free"
        return (f"{what}: no space left on device ({left}); "
                f"free some space or use another --cache-dir ({hint})")
    if free is None:
        return f"{what}: {err}"
    return f"{what}: {err} ({human_size(free)} free on that disk)"
