"""The project's files: digests of declared sources (behind a stat cache) and path outputs.

A source file is read only when its stat signature (size, mtime_ns, ctime_ns, inode) differs
from the one recorded with its digest, so an unchanged file costs one ``stat``. A signature is
recorded only once the file's mtime is RACY_NS old (git's "racy clean" rule): timestamps have a
granularity (a clock tick on Linux, 1-2 s on HFS+ and FAT), so a same-size edit landing in the
same tick as the hash would otherwise keep the old signature and its old digest. Path outputs are
workspace copies of stored bytes: written atomically, checked by stat then by digest, and
restored from the store when missing or edited. They are never the authority, so they are not
fsynced (a torn copy after a power loss is detected and restored).

Only regular files are read. A FIFO would block the read forever and ``/dev/zero`` never ends,
so a source that is neither a regular file nor a directory (or holds such a file, or a symlink
loop) is ``SourceUnusable``, found by ``stat`` before any open (opening some devices has effects)
and again by ``fstat`` on the open file (it may have been swapped in between).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Protocol

from .atomicfile import sweep_temps, write_atomically
from .errors import SourceMissing, SourceUnusable

_CHUNK = 1 << 20
RACY_NS = 2_000_000_000  # signatures of files modified more recently than this are not recorded
StatSig = tuple[int, int, int, int]


class StatCache(Protocol):
    def get_stat(self, path: str) -> tuple[StatSig, str] | None: ...

    def put_stat(self, path: str, sig: StatSig, digest: str) -> None: ...


def stat_sig(st: os.stat_result) -> StatSig:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class NotRegularFile(OSError):
    """A path that was to be read as data is a FIFO, a socket or a device."""


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words, for messages."""
    for is_kind, words in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                           (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                           (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if is_kind(mode):
            return words
    return "a special file"


def hash_file(path: str) -> str:
    """sha256 of a regular file's contents; IsADirectoryError or NotRegularFile for anything else
    (O_NONBLOCK: opening a FIFO returns at once, and the fstat then refuses it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            cls = IsADirectoryError if stat.S_ISDIR(mode) else NotRegularFile
            raise cls(errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL,
                      f"is {file_kind(mode)}, not a regular file", path)
        h = hashlib.sha256()
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _unusable(rel: str, err: OSError) -> SourceUnusable:
    if isinstance(err, NotRegularFile):
        return SourceUnusable(rel, err.strerror)
    if err.errno == errno.ELOOP:
        return SourceUnusable(rel, "is a symlink loop")
    return SourceUnusable(rel, f"cannot be read ({err.strerror or err})")


class Workspace:
    """Reads and writes files of one project directory, using ``cache`` to skip unchanged files."""

    def __init__(self, project_dir: Path, cache: StatCache | None, *, record: bool = True) -> None:
        self.root = project_dir
        self._root_s = str(project_dir)
        self.cache = cache
        self.record = record  # False for dry runs and status: write nothing
        self._memo: dict[str, str] = {}
        self._dirs: set[str] = set()  # output directories known to exist

    def abspath(self, rel: str) -> str:
        return rel if rel[:1] == "/" or os.path.isabs(rel) else self._root_s + os.sep + rel

    def _cache_name(self, abspath: str) -> str:
        # Relative names keep the stat cache valid when the project moves (it only costs a re-stat).
        if abspath.startswith(self._root_s + os.sep):
            return abspath[len(self._root_s) + 1:]
        return abspath

    def file_digest(self, abspath: str, st: os.stat_result | None = None) -> str:
        """sha256 of a file's contents, reading it only if its stat signature changed."""
        if st is None:
            st = os.stat(abspath)
        sig = stat_sig(st)
        name = self._cache_name(abspath)
        if self.cache is not None:
            hit = self.cache.get_stat(name)
            if hit is not None and hit[0] == sig:
                return hit[1]
        now = time.time_ns()
        digest = hash_file(abspath)
        if self.cache is not None and self.record and now - st.st_mtime_ns >= RACY_NS:
            self.cache.put_stat(name, sig, digest)
        return digest

    def source_version(self, rel: str, *, fresh: bool = False) -> str:
        """Data version of a source file or directory; SourceMissing if it does not exist."""
        if not fresh and rel in self._memo:
            return self._memo[rel]
        p = self.abspath(rel)
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            raise SourceMissing(rel) from None
        except OSError as e:
            raise _unusable(rel, e) from None
        if stat.S_ISDIR(st.st_mode):
            version = self._dir_version(p, rel)
        elif stat.S_ISREG(st.st_mode):
            try:
                version = self.file_digest(p, st)
            except FileNotFoundError:
                raise SourceMissing(rel) from None
            except OSError as e:
                raise _unusable(rel, e) from None
        else:
            raise SourceUnusable(rel, f"is {file_kind(st.st_mode)}, not a regular file or directory")
        self._memo[rel] = version
        return version

    def _dir_version(self, top: str, rel_top: str) -> str:
        """Digest of the sorted relative paths and contents of every file below ``top``.

        Symlinked directories are followed (an asset reading the directory sees their files),
        except a link to one of its own ancestors (a loop); a dangling symlink is skipped. A
        FIFO, socket or device, a symlink loop or an unreadable file or directory below ``top``
        makes the whole source unusable (named by ``rel_top`` and the path below it).
        """
        def inner(path: str) -> str:
            return rel_top.rstrip("/") + "/" + os.path.relpath(path, top).replace(os.sep, "/")

        def walk_error(e: OSError) -> None:
            if not isinstance(e, FileNotFoundError):  # else: removed while we walked
                raise _unusable(inner(e.filename) if e.filename else rel_top, e)

        entries: list[tuple[str, str]] = []
        ancestors: dict[str, frozenset[tuple[int, int]]] = {}
        for dirpath, dirnames, filenames in os.walk(top, onerror=walk_error, followlinks=True):
            try:
                st_dir = os.stat(dirpath)
            except FileNotFoundError:
                dirnames.clear()
                continue
            ident = (st_dir.st_dev, st_dir.st_ino)
            above = ancestors.get(os.path.dirname(dirpath), frozenset())
            if ident in above:
                dirnames.clear()
                continue
            ancestors[dirpath] = above | {ident}
            dirnames.sort()
            for fn in filenames:
                full = os.path.join(dirpath, fn)
                try:
                    st = os.stat(full)
                    if not stat.S_ISREG(st.st_mode):
                        raise SourceUnusable(inner(full), f"is {file_kind(st.st_mode)}, not a regular file")
                    digest = self.file_digest(full, st)
                except FileNotFoundError:
                    continue  # a dangling symlink, or removed while we walked
                except OSError as e:
                    raise _unusable(inner(full), e) from None
                rel = os.path.relpath(full, top).replace(os.sep, "/")
                entries.append((rel, digest))
        entries.sort()
        h = hashlib.sha256(b"dir\0")
        for rel, d in entries:
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + d.encode() + b"\n")
        return h.hexdigest()


    # --- path outputs ------------------------------------------------------------------------

    def path_state(self, rel: str, digest: str, recorded: StatSig | None) -> tuple[str, StatSig | None]:
        """("ok" | "missing" | "modified", current stat signature) of a path output."""
        p = self.abspath(rel)
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            return "missing", None
        sig = stat_sig(st)
        if recorded is not None and sig == recorded:
            return "ok", sig
        if not stat.S_ISREG(st.st_mode):
            return "modified", sig  # a FIFO or device put there: never opened, replaced on restore
        try:
            same = hash_file(p) == digest
        except (IsADirectoryError, PermissionError, NotRegularFile):
            return "modified", sig
        return ("ok" if same else "modified"), sig

    def write_path(self, rel: str, data: bytes) -> StatSig:
        """Write ``data`` to the workspace path atomically (temp file + rename); return its stat.

        The first write into a directory sweeps the temp files killed builds left there, so
        they do not stay in the user's directory (a live writer's are locked, and kept).
        """
        p = self.abspath(rel)
        d = os.path.dirname(p)
        if d not in self._dirs:
            os.makedirs(d, exist_ok=True)
            sweep_temps(d)
            self._dirs.add(d)
        return stat_sig(write_atomically(p, data, crash_at="path-rename"))
