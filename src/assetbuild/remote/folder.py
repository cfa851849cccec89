"""Reads from a ``file://`` folder remote that others write to: bounded, and never through a
symlink, FIFO or device planted there (``transport`` reads a folder through these)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from typing import Any


def local_chunks(path: str, limit: int) -> Iterator[bytes]:
    """At most ``limit`` bytes of the file at ``path`` in a ``file://`` remote, in 1 MiB pieces.
    Others may write there: a FIFO or a device would block or never end, and a symlink would read
    whatever it points at, so each of those reads as empty (a malformed entry, rejected and
    counted)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink at that name
            return
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        os.set_blocking(fd, True)
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


def read_local(path: str, limit: int, on_error: str = "raise") -> Any:
    """At most ``limit`` bytes of the file at ``path`` in a ``file://`` remote, whole (see
    ``local_chunks``). ``on_error="return"``: an OSError is returned, as ``fs.cat`` does."""
    try:
        return b"".join(local_chunks(path, limit))
    except OSError as e:
        if on_error == "return":
            return e
        raise
