"""The cache directory's two flocks: the build lock (``lock``: builds and cache commands take
turns) and the open lock (the directory itself: opening, recovering and swapping the index).

Neither opens LMDB, so a command that must not run beside a build (``clean``) takes the build
lock without opening the index it is about to delete.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import StoreError
from .failures import describe_open_error

_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


class BuildRunning(StoreError):
    """Another build or cache command holds the build lock."""


class BuildLock:
    """The build lock of one cache directory, held by at most one store of this process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, on_wait: Callable[[], None] | None = None) -> None:
        """Take the lock, waiting for its holder; call ``on_wait`` once if there is one."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(describe_open_error(self.root, e, writing=True)) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in _BUSY:
                os.close(fd)
                raise
            if on_wait:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
