"""Stat signatures taken in a build, judged at the commit that records them: git's racy-clean
rule, the commit being the index write.

A path output's signature (size, mtime, ctime, inode) is taken as assetbuild writes the file or
hashes it, in the very tick of the file system's clock an edit could follow: a same-size edit in
that tick leaves the signature as taken (1 s on ext2/ext3 with small inodes and HFS+, 2 s on FAT,
the kernel's tick on ext4), and a build trusting it would say a file holding other bytes is up
to date. So the store commits such a signature only when the file's times are older than the
commit as the file system stamps it (the build lock file, touched: ``fs_tick``); else it commits
none ("smudged"), and the next look hashes the file and records the signature then. On a file
system with the kernel's tick that is the few files written in a commit's last milliseconds (a
build that records the snapshot hashes them again at its end, once their tick is past:
``Workspace.vouch_racy``); on one that stamps whole seconds, those of the commit's second. A
file on another device than the cache is judged by ``snapshot.RACY_NS`` (its clock may not be
this one's).

What the rule leaves is git's window between its stat and its index write: an edit made while
the build runs, after the write and before a commit that falls in a later tick, in the write's
own tick. Closing it would take hashing every output again once its tick is past. (On a file
system with multigrain timestamps, Linux 6.13 on, the stat taken as the file is written makes
any later change stamp a later time: no such window.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import snapshot


def fs_tick(path: str) -> tuple[int, int] | None:
    """The file system's clock now, as it stamps a file it modifies: (device, mtime_ns) of
    ``path`` touched (``snapshot.probe``); None if it cannot be. One function, so tests can step it."""
    return snapshot.probe(path)


class FreshSignatures:
    """The records of a store's batch that hold a signature taken in this build, until its commit."""

    def __init__(self) -> None:
        # (db, key) -> (asset or path, the Head or signature, its file's device, the bytes put)
        self._fresh: dict[tuple[bytes, bytes], tuple[str, Any, int, bytes]] = {}
        self.smudged: set[str] = set()  # the assets whose signature the last commit of their head dropped

    def __bool__(self) -> bool:
        return bool(self._fresh)

    def note(self, db: bytes, key: bytes, name: str, rec: Any, device: int, raw: bytes) -> None:
        """``raw``, just put at (``db``, ``key``), holds ``rec`` (a Head, or a stat signature) whose
        signature was taken now of a file on ``device``."""
        self._fresh[(db, key)] = (name, rec, device, raw)

    def judge(self, writes: dict[tuple[bytes, bytes], bytes | None], tick: tuple[int, int] | None,
              encode: Callable[[Any], bytes]) -> None:
        """Before the commit of ``writes`` at the file system's ``tick`` (None: not known, every
        signature racy): replace each noted record still there whose signature is racy by the
        same without it (a head), or by nothing (a stat cache entry)."""
        for (db, k), (name, rec, device, raw) in self._fresh.items():
            if writes.get((db, k)) is not raw:
                continue  # replaced or deleted since
            heads = db == b"heads"
            if tick is not None and not snapshot.is_racy((*(rec.path_stat if heads else rec), device), tick):
                self.smudged.discard(name)
                continue
            if heads:
                writes[(db, k)] = encode(rec._replace(path_stat=None))
                self.smudged.add(name)
            else:
                writes[(db, k)] = None
        self._fresh.clear()
