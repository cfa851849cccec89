"""Files written whole or not at all: a new file has no name until it is whole; a file that
replaces another is written to a private temp file beside it, then renamed over it.

Every file assetbuild writes (path outputs, blobs, the code cache, ``STORE``, exports, uploads to
a ``file://`` remote) goes through here, because a temp file at a name someone else can predict
is a write they can redirect: a symlink planted at that name sends the bytes to its target, and
the rename then puts the link in place of the output. So a temp file's name carries 64 random
bits and it is created with ``O_CREAT|O_EXCL|O_NOFOLLOW``: whatever already sits at the name
(a symlink to a file or a directory, a dangling one, a FIFO) makes the create fail, and another
name is drawn. The rename replaces a symlink at the destination itself, never its target.

Where nothing is at the destination (a cold build's outputs, new blobs), ``write_atomically``
makes the file with ``O_TMPFILE`` (Linux): no name at all while it is written, so nothing to
plant a link at, nothing a reader could take for the output, nothing a killed writer leaves.
When whole, it is linked at the destination by its ``/proc/self/fd`` path; a link, like
``O_EXCL``, follows no symlink and fails if anything came there meanwhile (the file then takes
a temp name as above and is renamed over it). One directory operation instead of a create and
a rename: 10,000 new small files took 0.37 s instead of 0.56 s on ext4 here, a cold build of
10,000 path outputs 3.1 s instead of 3.5 (bench/atomic_writes.py, bench/ab_trees.py). Without
``O_TMPFILE`` (another system, NFS) or without /proc, files take the named way. (A watcher of
the directory sees the writes under a name like ``#123456``, the unnamed inode's, then the
destination created.)

A writer holds an ``flock`` on its temp file until the rename (an unnamed file takes it before
it is given a name), so the leftover of a killed writer (unlocked) can be told from a live one
and swept (``sweep_temps``).

A rename that replaces a file frees the old file's blocks before it returns, when it drops the
old file's last link: 0.1-0.4 ms for a small file on ext4 here, 50-100 ms for one of 200 MB.
So the file to be replaced is first opened (``O_PATH``: no read permission needed, nothing
read; nothing there to open makes ``write_atomically`` write an unnamed file), which keeps it
alive past the rename, and that descriptor is closed by a thread of its own
(``_close_later``): the blocks are freed there, beside the build, instead of before the next
asset runs. ``close_replaced`` waits for them (before a fast exit, which needs no other thread).

A rename cannot put a file where a directory is. An output's writer asks ``make_way``, which
removes an empty directory only: one holding files holds the user's files, which assetbuild
never deletes (``dir_in_the_way`` lets a build say so before it runs anything).
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import fcntl
import os
import re
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TypeVar

from .crashpoints import crash_point

_T = TypeVar("_T")
TEMP_SUFFIX = ".assetbuild-tmp"
# Temp files of this module, and the fixed names older versions used for path outputs.
_TEMP_NAME = re.compile(r"\..*\.assetbuild-tmp(?:-\d+)?\Z", re.S)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_ATTEMPTS = 100
_BASE_MAX = 200  # bytes: keeps ".<base>.<16 hex>.assetbuild-tmp" under NAME_MAX (255 bytes)


def temp_name(base: str) -> str:
    """A fresh temp file name for a destination named ``base``: nobody can know it in advance."""
    short = os.fsdecode(os.fsencode(base)[:_BASE_MAX])  # a cut character stays as its bytes
    return f".{short}.{os.urandom(8).hex()}{TEMP_SUFFIX}"


def create_temp_beside(dest: str | os.PathLike[str], *, dir_fd: int | None = None,
                       mode: int = 0o666) -> tuple[int, str]:
    """Create a new, empty, flocked file in ``dest``'s directory; return (fd open for writing, path).

    Only this process can have it open: the name is unguessable and the create is exclusive and
    follows no symlink. With ``dir_fd``, ``dest`` and the returned path are relative to it.
    ``mode`` is filtered by the umask, as for any new file.
    """
    d, base = os.path.split(os.fspath(dest))
    for _ in range(_ATTEMPTS):
        tmp = os.path.join(d, temp_name(base))
        try:
            fd = os.open(tmp, _CREATE, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue  # planted, or (once in 2**64) a collision: draw another name
        except OSError:
            raise
        except BaseException:  # Ctrl-C or SIGTERM as the create returned: its fd is lost, the file
            _discard(tmp, dir_fd)  # may be there (nobody else can know the name)
            raise
        try:  # a sweeper may have removed it between our create and our lock: then it has no link
            if _lock(fd) and os.fstat(fd).st_nlink:  # left (nothing but a sweeper removes a temp)
                return fd, tmp
        except BaseException:  # (an interrupt: the caller's cleanup never saw the file)
            os.close(fd)
            _discard(tmp, dir_fd)
            raise
        os.close(fd)  # swept: draw another name
    raise FileExistsError(errno.EEXIST, f"no free temp file name after {_ATTEMPTS} tries", os.fspath(dest))


class NotASpoolDir(NotADirectoryError):
    """Something other than a directory (a planted symlink) stands where the cache keeps a spool
    folder (``cas/tmp``): a local fault of the cache, whatever the spool file was for."""


def create_temp_in(directory: str, base: str, *, mode: int = 0o666) -> tuple[int, str]:
    """``create_temp_beside`` for a new file in ``directory``, a spool folder the cache owns (made
    if missing). ``O_NOFOLLOW`` guards the file's own name only: a symlink in place of the folder
    would take the bytes to its target, so the folder itself must be a directory (lstat), else
    ``NotASpoolDir`` and nothing is written. The one check for every writer of a spool file."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise NotASpoolDir(f"{directory} is {what}: assetbuild writes nothing through it (remove it)")
    return create_temp_beside(os.path.join(directory, base), mode=mode)


def write_atomically(dest: str | os.PathLike[str], data: bytes | bytearray | memoryview, *,
                     durable: bool = False, dir_fd: int | None = None,
                     crash_at: str | None = None, new: bool = False) -> os.stat_result:
    """Replace ``dest`` by a file holding ``data``: readers see the old file or the new one, never
    part of it. ``durable``: fsync the file before the rename and the directory after it (for
    files that are an authority, not a copy). ``crash_at``: the crash point (``crashpoints``)
    just before the rename. ``new``: the caller saw nothing at ``dest`` just now, so it is not
    looked at first (a wrong guess costs time only: what is there is replaced as ever). Returns
    the stat of the new file. Out of space, it tries again once the files replaced are freed
    (``freeing_replaced``)."""
    return freeing_replaced(lambda: _write_atomically(dest, data, durable=durable, dir_fd=dir_fd,
                                                      crash_at=crash_at, new=new))


def freeing_replaced(write: Callable[[], _T]) -> _T:
    """``write()``, and once more if it ran out of space (ENOSPC, EDQUOT) while files replaced
    before waited for the closing thread to free them (``_close_later``): on a nearly full disk
    the next file's bytes came before the last one's blocks were freed, and a build the disk had
    room for failed with 'No space left on device'. The retry first waits for those frees."""
    try:
        return write()
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT) or not _closing:
            raise
    close_replaced()
    return write()


def _write_atomically(dest: str | os.PathLike[str], data: bytes | bytearray | memoryview, *,
                      durable: bool, dir_fd: int | None, crash_at: str | None, new: bool) -> os.stat_result:
    old = None if new else _hold(dest, dir_fd)
    try:
        if old is None and _unnamed_ok:
            st = _write_unnamed(dest, data, durable=durable, dir_fd=dir_fd, crash_at=crash_at)
            if st is not None:
                return st
        fd, tmp = create_temp_beside(dest, dir_fd=dir_fd)
        try:
            _write_all(fd, data)
            held, old = old, None  # (_commit closes it)
            return _commit(fd, tmp, dest, durable=durable, dir_fd=dir_fd, crash_at=crash_at, old=held)
        except BaseException:
            _discard(tmp, dir_fd)
            raise
        finally:
            os.close(fd)
    finally:
        if old is not None:
            os.close(old)


@contextlib.contextmanager
def atomic_writer(dest: str | os.PathLike[str], *, durable: bool = False, dir_fd: int | None = None,
                  crash_at: str | None = None, on_temp: Callable[[str], None] | None = None) -> Iterator[BinaryIO]:
    """``write_atomically`` for a writer that streams: the file replaces ``dest`` when the block
    ends without an exception, and is removed otherwise. ``on_temp``: told the temp file's path
    (relative to ``dir_fd``), for a caller that may have to remove it from another thread."""
    fd, tmp = create_temp_beside(dest, dir_fd=dir_fd)
    try:
        if on_temp is not None:
            on_temp(tmp)
        with open(fd, "wb", closefd=False) as f:
            yield f
        _commit(fd, tmp, dest, durable=durable, dir_fd=dir_fd, crash_at=crash_at, old=_hold(dest, dir_fd))
    except BaseException:
        _discard(tmp, dir_fd)
        raise
    finally:
        os.close(fd)


def open_dir_below(root: str | os.PathLike[str], parts: Sequence[str], *, create: bool = True) -> int:
    """A descriptor of the directory ``root/parts[0]/parts[1]/…``, made if missing, reached
    without following a symlink anywhere below ``root``: for trees others can write to (a shared
    ``file://`` remote), where a planted link to a directory would carry the write elsewhere."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = os.path.join(os.fspath(root), *parts[:i + 1])
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory (a symlink is never followed here)",
                                             where) from None
                raise
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temp file's name as ``create_temp_beside`` makes them."""
    return _TEMP_NAME.match(name) is not None


def sweep_temps(directory: str | os.PathLike[str] | int, *, idle_for: float = 0.0) -> int:
    """Remove the temp files killed writers left in ``directory`` (never one a live writer holds,
    never anything but a regular file); return how many. ``directory`` may be a descriptor (a
    tree others write to, reached without following a symlink: ``open_dir_below``). ``idle_for``:
    leave a file written to in the last that many seconds (by the file system's clock), for a
    folder other machines write to, whose file system may not carry their locks to this one."""
    removed = 0
    written_before = time.time() - idle_for if idle_for else None
    dir_fd = directory if isinstance(directory, int) else None
    try:  # names only, filtered by a substring first: a directory of 10,000 outputs takes 3.6 ms
        names = [n for n in os.listdir(directory) if TEMP_SUFFIX in n and _TEMP_NAME.match(n)]
    except OSError:  # (a DirEntry per name and a regular expression each: 5.5 ms)
        return 0
    for name in names:
        path = name if dir_fd is not None else os.path.join(directory, name)  # type: ignore[arg-type]
        try:
            st = os.lstat(path, dir_fd=dir_fd)
            if not stat.S_ISREG(st.st_mode) or (written_before is not None and st.st_mtime > written_before):
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
            if _still_named(fd, path, dir_fd):
                os.unlink(path, dir_fd=dir_fd)
                removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)  # releases our lock
    return removed


IN_THE_WAY = ("a directory that holds other files is in its place, and assetbuild deletes no file it did not "
              "write; move it away")


def dir_in_the_way(path: str) -> bool:
    """Whether a directory that holds anything stands at ``path``, where assetbuild writes a
    file: its files are the user's, never deleted (an empty one is replaced, a symlink is
    replaced as a link: neither loses anything). Nothing there, or a file where one of its
    directories goes, is no directory. ``OSError`` when ``path`` cannot be reached at all (a
    name too long, a symlink loop or a directory that cannot be searched above it): whatever
    is there, the write would fail the same way, and that is what to say."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        with os.scandir(path) as it:
            return next(it, None) is not None
    except FileNotFoundError:
        return False
    except OSError:
        return True  # a directory it cannot list: rmdir could not remove it either


def make_way(path: str) -> None:
    """Remove an empty directory at ``path`` so a file can take its place (nothing else there
    is touched); ``IsADirectoryError`` naming it when it holds anything (``IN_THE_WAY``)."""
    try:
        os.rmdir(path)  # a file, a symlink or nothing there: ENOTDIR or ENOENT, and nothing done
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as e:
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise IsADirectoryError(errno.EISDIR, IN_THE_WAY, path) from None
        raise


def _lock(fd: int) -> bool:
    """flock ``fd``; False only if someone else holds it (a sweeper about to remove the file)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        pass  # no flock on this file system: nothing can sweep it either (the sweeper needs the lock)
    return True


def _still_named(fd: int, path: str, dir_fd: int | None) -> bool:
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev)


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def _hold(dest: str | os.PathLike[str], dir_fd: int | None) -> int | None:
    """The file at ``dest``, held (``O_PATH``) so that replacing it frees nothing before the
    rename returns; None if nothing is there (or where nothing can be held so)."""
    if _HOLD is None:
        return None
    try:
        return os.open(dest, _HOLD, dir_fd=dir_fd)
    except OSError:
        return None


def _commit(fd: int, tmp: str, dest: str | os.PathLike[str], *, durable: bool, dir_fd: int | None,
            crash_at: str | None = None, old: int | None) -> os.stat_result:
    """Rename ``tmp`` (open as ``fd``) over ``dest``; ``old``: ``dest`` held (``_hold``), closed
    here by the closing thread, after the rename."""
    try:
        if durable:
            os.fsync(fd)
        if crash_at is not None:
            crash_point(crash_at)
        _rename(tmp, dest, dir_fd)
    finally:
        if old is not None:
            _close_later(old)
    st = os.fstat(fd)  # the same inode, now at dest (its ctime already updated by the rename)
    if durable:
        _sync_dir(dest, dir_fd)
    return st


def _rename(tmp: str, dest: str | os.PathLike[str], dir_fd: int | None) -> None:
    if dir_fd is None:
        os.replace(tmp, dest)
    else:
        os.replace(tmp, dest, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _sync_dir(dest: str | os.PathLike[str], dir_fd: int | None) -> None:
    if dir_fd is not None:
        os.fsync(dir_fd)
        return
    dfd = os.open(os.path.dirname(os.fspath(dest)) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _write_unnamed(dest: str | os.PathLike[str], data: bytes | bytearray | memoryview, *, durable: bool,
                   dir_fd: int | None, crash_at: str | None) -> os.stat_result | None:
    """``write_atomically`` of a file with nothing at ``dest``: written with no name at all
    (``O_TMPFILE``), then linked at ``dest``. None where that cannot be done (this file system
    has no ``O_TMPFILE``, or the link failed): the caller writes the file the named way."""
    global _unnamed_ok
    try:
        fd = os.open(os.path.dirname(os.fspath(dest)) or ".", _UNNAMED, 0o666, dir_fd=dir_fd)
    except OSError:
        return None  # (no such directory either: the named way says so)
    try:
        _write_all(fd, data)
        if durable:
            os.fsync(fd)
        if crash_at is not None:
            crash_point(crash_at)
        src = f"{_PROC_FD}{fd}"  # (src_dir_fd, ignored for this absolute path, makes it a linkat)
        try:
            os.link(src, dest, src_dir_fd=fd, dst_dir_fd=dir_fd, follow_symlinks=True)
        except FileExistsError:  # something came to dest since: replace it the usual way
            _lock(fd)  # (before the file has a name, so no sweeper ever takes it)
            tmp = _link_temp(src, fd, dest, dir_fd)
            old = _hold(dest, dir_fd)
            try:
                _rename(tmp, dest, dir_fd)
            except BaseException:
                _discard(tmp, dir_fd)
                raise
            finally:
                if old is not None:
                    _close_later(old)
        except OSError as e:  # the named way writes it (and reports an error both ways share)
            if e.errno not in _SHARED_ERRORS or not os.path.isdir(_PROC_FD):
                _unnamed_ok = False  # no /proc here, or no links on this file system: the named way from now on
            return None
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if durable:
        _sync_dir(dest, dir_fd)
    return st


def _link_temp(src: str, fd: int, dest: str | os.PathLike[str], dir_fd: int | None) -> str:
    """Give the unnamed file ``src`` (open as ``fd``) a fresh temp name beside ``dest``: a link,
    like ``O_EXCL``, never follows a symlink and never replaces anything there."""
    d, base = os.path.split(os.fspath(dest))
    for _ in range(_ATTEMPTS):
        tmp = os.path.join(d, temp_name(base))
        try:
            os.link(src, tmp, src_dir_fd=fd, dst_dir_fd=dir_fd, follow_symlinks=True)
        except FileExistsError:
            continue
        except OSError:
            raise
        except BaseException:  # (an interrupt as the link returned: the name may be there)
            _discard(tmp, dir_fd)
            raise
        return tmp
    raise FileExistsError(errno.EEXIST, f"no free temp file name after {_ATTEMPTS} tries", os.fspath(dest))


# Only where O_PATH holds a file without opening it (Linux): elsewhere a FIFO or a device at the
# destination would be opened for real, and the rename frees the old file itself, as before.
_HOLD = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC if hasattr(os, "O_PATH") else None
# A new file with no name until it is whole (Linux), linked into place by its /proc path.
_UNNAMED = os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC if hasattr(os, "O_TMPFILE") else 0
_PROC_FD = "/proc/self/fd/"
_unnamed_ok = bool(_UNNAMED)  # until a link by the /proc path fails (no /proc, a file system without links)
_SHARED_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOENT,  # (ENOENT: the directory went;
                  errno.ENAMETOOLONG)  # a name too long for this file system is too long either way)
_closing: list[Any] = []  # [the queue of descriptors, the thread closing them], while it runs
_starting = _thread.allocate_lock()


def _close_later(fd: int) -> None:
    """Close ``fd`` in the closing thread (started on first use): the file it holds, replaced by
    a rename, is freed there. (No lock once it runs: the queue is safe for threads.)"""
    closing = _closing[:]
    if not closing:
        with _starting:
            if not _closing:
                import queue
                import threading

                q: queue.SimpleQueue[int | None] = queue.SimpleQueue()
                thread = threading.Thread(target=_closer, args=(q,), name="assetbuild-closer", daemon=True)
                thread.start()
                _closing[:] = [q, thread]
            closing = _closing[:]
    closing[0].put(fd)


def _closer(q: Any) -> None:
    while (fd := q.get()) is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def close_replaced(timeout: float = 30.0) -> None:
    """Wait until every replaced file handed to the closing thread is freed, and end the thread;
    at most ``timeout`` seconds (the exit then waits for nothing: the thread is a daemon, and the
    kernel frees what it still holds)."""
    closing = _closing[:]
    _closing.clear()
    if closing:
        q, thread = closing
        q.put(None)
        thread.join(timeout)


def _forked() -> None:
    """In a forked child: no closing thread (it starts its own), and a lock no thread holds."""
    global _starting
    _starting = _thread.allocate_lock()
    _closing.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def _discard(tmp: str, dir_fd: int | None) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp, dir_fd=dir_fd)
