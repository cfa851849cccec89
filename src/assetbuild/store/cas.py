"""Content addressing: the digest of output bytes, and the blob files under ``cas/``.

Outputs larger than ``INLINE_MAX`` are files named by their sha256 (``cas/ab/cdef…``); smaller
ones live inside the index (see ``records``). A large blob is written to a temp file, fsynced and
renamed into place before the transaction that refers to it commits; one already on disk is
reused only if its bytes are right.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from ..atomicfile import is_temp_name, sweep_temps, write_atomically
from ..errors import CacheCorrupt, StoreError
from .failures import disk_message

INLINE_MAX = 64 * 1024  # larger outputs become files under cas/

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_digest(x: object) -> bool:
    """A lowercase hex sha256 (checked on every record read: it must be cheap)."""
    return type(x) is str and _HEX64.match(x) is not None


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


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobFiles:
    """The blob files of one cache directory (``root/cas``). Reads here are not verified: the
    store verifies every blob it hands out, inline or not."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "cas"
        self._dir = os.path.join(str(self.dir), "")  # (a str: an incremental build asks ``file`` of each input)

    def path(self, digest: str) -> Path:
        return self.dir / digest[:2] / digest[2:]

    def has(self, digest: str, size: int) -> bool:
        """A file of the right size (no hashing)."""
        try:
            return self.path(digest).stat().st_size == size
        except OSError:
            return False

    def read(self, digest: str) -> bytes:
        """The file's bytes; CacheCorrupt if it is missing or unreadable."""
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise CacheCorrupt(digest, "missing") from None
        except OSError as e:
            raise CacheCorrupt(digest, f"unreadable ({e.strerror})") from None

    def drop(self, digest: str) -> None:
        with contextlib.suppress(OSError):
            self.path(digest).unlink()

    def write(self, data: bytes, digest: str) -> None:
        """Durable on disk when this returns; a file already holding ``data`` is kept (a file of
        the right size is not enough: a damaged one is rewritten)."""
        path = self.path(digest)
        if _same_bytes(path, data):
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data, durable=True, crash_at="blob-write")
        except OSError as e:
            raise StoreError(disk_message(self.root, f"cannot write a blob to {path.parent}", e)) from e

    def take(self, src: str | os.PathLike[str], digest: str) -> None:
        """Rename the (written, fsynced) file ``src`` into place; ``src`` is gone either way."""
        path = self.path(digest)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, path)
            fsync_dir(path.parent)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(src)
            raise StoreError(disk_message(self.root, f"cannot write a blob to {path.parent}", e)) from e

    def file(self, digest: str, min_size: int) -> Path | None:
        path = f"{self._dir}{digest[:2]}{os.sep}{digest[2:]}"
        try:
            return Path(path) if os.stat(path).st_size >= min_size else None
        except OSError:  # (mostly: a small output, kept in the index)
            return None

    def spool_dir(self, *, sweep: bool = False, warn: Callable[[str], None] | None = None) -> Path:
        """``cas/tmp``, where process workers spool large outputs. ``sweep``: first remove what
        killed builds' workers left there. Only a build does, under the build lock and before
        it starts a worker: every spool file there is then a dead build's, whose parent will
        never take it (a worker of a build killed just now, still writing, holds its file's
        flock and keeps it). Later, a spool file is closed, unlocked, before its build takes
        it: a sweep then could take a live one.

        A symlink planted there (nothing is written through one: every spool writer refuses
        it) is replaced by a directory, said with ``warn``: else every build stopped until the
        user removed it. Only the link goes (``unlink`` never follows one), nothing it points
        to; a link put back before the ``mkdir`` is refused by the writers as before."""
        d = self.dir / "tmp"
        with contextlib.suppress(OSError):
            mode = os.lstat(d).st_mode
            if sweep and stat.S_ISLNK(mode):
                target = os.readlink(d)
                os.unlink(d)
                os.mkdir(d)
                if warn is not None:
                    warn(f"{d} was a symlink (to {target}), where assetbuild writes nothing through one: "
                         "replaced it by a directory (only the link was removed)")
            elif sweep and stat.S_ISDIR(mode):
                sweep_temps(d)
        return d

    def files(self) -> Iterator[tuple[str | None, Path, int]]:
        """(digest, path, size) of the store's files under cas/: blobs, and with digest None
        the temp files of a write in progress or of a killed one (``atomicfile``'s names, in
        a blob directory or ``tmp/``). Anything else there is not the store's: not listed, so
        ``cache gc`` never deletes it."""
        if not self.dir.is_dir():
            return
        for sub in sorted(os.scandir(self.dir), key=lambda e: e.name):
            if not (sub.name == "tmp" or (len(sub.name) == 2 and is_digest(sub.name + "0" * 62))) \
                    or not sub.is_dir(follow_symlinks=False):
                continue
            for e in sorted(os.scandir(sub.path), key=lambda e: e.name):
                if e.is_dir(follow_symlinks=False):
                    continue
                dg: str | None = sub.name + e.name
                if sub.name == "tmp" or not is_digest(dg) or not e.is_file(follow_symlinks=False):
                    if not (is_temp_name(e.name) or e.name.startswith(".tmp-")):  # (.tmp-: cache import's)
                        continue
                    dg = None
                try:
                    size = e.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
                yield dg, Path(e.path), size


def take_file_bytes(src: str | os.PathLike[str]) -> bytes:
    """The bytes of the file ``src``, which is gone when this returns (read or not): a spooled
    output small enough to be kept in memory or inline."""
    try:
        with open(src, "rb") as f:
            return f.read()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(src)
