"""The cache directory's flocks: the build lock (``lock``: builds and cache commands take
turns), the open lock (the directory itself: opening, recovering and swapping the index), and
each ``assetbuild run``'s lock (``run-<project id>.lock``, held for the daemon's whole life).

None opens LMDB, so a command that must not run beside a build or a daemon (``clean``) takes
them without opening the index it is about to delete.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ReentrantCall, StoreError
from ..usercode import BUILD_LOCKS, in_user_code
from .failures import describe_open_error

_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
RUN_LOCK_NAME = re.compile(r"run-[0-9a-f]{12}\.lock\Z")  # assetbuild run's lock (session.daemon)


class BuildRunning(StoreError):
    """Another build or cache command holds the build lock."""


class BuildLock:
    """The build lock of one cache directory, held by at most one store of this process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None
        self._named: int | None = None  # the run this holder named in the lock file (``running``)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, on_wait: Callable[[], None] | None = None) -> None:
        """Take the lock, waiting for its holder; call ``on_wait`` once if there is one. A lock
        this thread took ahead (``taken_ahead``) is adopted, not waited for."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(describe_open_error(self.root, e, writing=True)) from e
        ahead = _ahead.pop(_ahead_key(fd), None)
        if ahead is not None:
            os.close(fd)
            self._fd = ahead
            BUILD_LOCKS.add(_file_key(ahead))
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in _BUSY:
                os.close(fd)
                raise
            if _file_key(fd) in BUILD_LOCKS and in_user_code():
                os.close(fd)
                raise ReentrantCall(f"{self.root} is in use by the build running this asset: an asset cannot "
                                    "call assetbuild on its own project (nor one that shares its cache "
                                    "directory); the call would wait for the build, which waits for the asset") from None
            try:
                if on_wait:
                    on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:  # a signal during the wait (or an on_wait that will not wait)
                os.close(fd)
                raise
        self._fd = fd
        BUILD_LOCKS.add(_file_key(fd))

    def running(self, seq: int) -> None:
        """Name run ``seq``, this process's, in the lock file while this holds it: ``runs`` says
        RUNNING of an unfinished run only while its own process holds the lock (``running_run``),
        not whenever anyone does (another project's build on a shared cache, ``cache gc``, a
        daemon's tick, or the next build before its first event)."""
        if self._fd is None or self._named == seq:
            return
        data = f"{process_identity(os.getpid())} {seq}\n".encode()
        with contextlib.suppress(OSError):  # (a full disk: the run shows as killed meanwhile)
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))
            self._named = seq

    def release(self) -> None:
        if self._fd is not None:
            if self._named is not None:  # a live process that lets go names no run any more
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, 0)
                self._named = None
            BUILD_LOCKS.discard(_file_key(self._fd))
            os.close(self._fd)
            self._fd = None


def _file_key(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


# The build locks taken ahead in this process (taken_ahead): (device, inode of the lock file,
# thread) -> the descriptor that holds it, until a BuildLock of that thread adopts it.
_ahead: dict[tuple[int, int, int], int] = {}


def _ahead_key(fd: int) -> tuple[int, int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino, threading.get_ident()


@contextlib.contextmanager
def taken_ahead(cache_dir: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Take ``cache_dir``'s build lock now, before the build that needs it loads its project,
    and hand it to that build's store (the first ``BuildLock.acquire`` of this thread, for the
    same lock file, in the block). The UI waits here for another build holding nothing of its
    process: loading a project holds the process's turn (``session.turns.process_builds``),
    which every page needs. Released at the end of the block if no store took it; a directory
    with no lock file yet (never built in) is left to the build. ``on_wait`` as ``acquire``'s."""
    try:
        fd = os.open(cache_dir / "lock", os.O_RDWR)
    except OSError:
        yield
        return
    key = None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in _BUSY:
                raise
            if on_wait:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        key = _ahead_key(fd)
        _ahead[key] = fd
        yield
    finally:
        if key is None or _ahead.pop(key, None) is not None:  # not adopted: still ours to close
            os.close(fd)


@contextlib.contextmanager
def no_build_running(cache_dir: Path) -> Iterator[None]:
    """Hold the build lock of ``cache_dir`` for the block without waiting; BuildRunning if a
    build or cache command holds it; StoreError if the lock file cannot be opened for writing. A
    directory without a lock file was never built in: there is nothing to take, and nothing is
    created (the caller may be deleting the directory)."""
    try:
        fd = os.open(cache_dir / "lock", os.O_RDWR)
    except FileNotFoundError:
        yield
        return
    except OSError as e:  # a read-only mount, another user's cache: nor could the caller delete it
        raise StoreError(describe_open_error(cache_dir, e, writing=True)) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BuildRunning(f"a build is running with {cache_dir}") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def running_run(cache_dir: Path) -> int | None:
    """The run whose process holds ``cache_dir``'s build lock now, as that process named it there
    (``BuildLock.running``): is a run that has not recorded its end still running, or was it
    killed? None if nobody holds the lock, or its holder named no run, or the process named is
    gone (killed: the lock file still names it while the next holder has not written yet). A
    shared flock tried without waiting and let go at once (a build that wants the lock
    meanwhile waits that moment)."""
    try:
        fd = os.open(cache_dir / "lock", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # never built in (or unreadable): nothing holds it that we could tell
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except OSError as e:
            if e.errno not in _BUSY:
                return None
        named = os.pread(fd, 128, 0).decode(errors="replace").split()
    finally:
        os.close(fd)
    if len(named) != 3 or not named[0].isdigit() or not named[2].isdigit():
        return None
    return int(named[2]) if process_identity(int(named[0])) == f"{named[0]} {named[1]}" else None


def process_identity(pid: int) -> str | None:
    """``"<pid> <start time>"`` of the live process ``pid`` (the start time in clock ticks since
    boot, from /proc/PID/stat: a pid that a later process reuses has another), None if there is
    none (or a zombie, which holds no lock). Without /proc: ``"<pid> -"`` while the pid lives."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        fields = raw[raw.rindex(b")") + 2:].split()  # (after the command's name, which may hold anything)
        return None if fields[0] == b"Z" else f"{pid} {int(fields[19])}"
    except (OSError, ValueError, IndexError):
        if os.path.isdir("/proc/self"):
            return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # (another user's: alive)
    return f"{pid} -"


@contextlib.contextmanager
def open_lock(root: Path, *, shared: bool) -> Iterator[None]:
    """flock the cache directory: exclusive for a writer's open (and a compaction's swap),
    shared for a reader's, so no process opens an index another is creating or swapping."""
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):  # no flock on this filesystem: nor is LMDB safe there
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def no_daemon_running(cache_dir: Path) -> Iterator[None]:
    """Hold every ``assetbuild run`` lock in ``cache_dir`` for the block without waiting;
    StoreError naming the daemon's pid if one holds it. Between its ticks a daemon holds no
    build lock, but its next tick needs the cache (``clean`` must not delete it under it)."""
    held: list[int] = []
    try:
        try:
            names = [n for n in os.listdir(cache_dir) if RUN_LOCK_NAME.match(n)]
        except OSError:
            names = []
        for name in names:
            try:
                fd = os.open(cache_dir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue  # gone meanwhile, or not a file we can lock: no daemon holds it
            held.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in _BUSY:
                    continue
                pid = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                raise StoreError(f"assetbuild run (pid {pid}) is using {cache_dir}; stop it first; "
                                 "nothing was deleted") from None
        yield
    finally:
        for fd in held:
            os.close(fd)  # releases our lock
