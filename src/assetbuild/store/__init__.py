"""The cache directory: an LMDB index of traces and a content-addressed store of output bytes.

Layout of ``.assetbuild/`` (or ``--cache-dir``)::

    STORE      format version and the index's id (JSON), written once
    db/        LMDB: meta (format, id, last build summary), traces (key -> record),
               heads (asset -> latest record), history (asset+build order+time -> key),
               stat (path -> stat signature + digest), blobs (small outputs), heads and
               history per project (see ``project_id``: projects may share a cache directory),
               used (key -> when it stopped being an asset's latest key: for gc's LRU order),
               observations (observable source, per project -> its latest observation),
               skips (asset, per project -> its latest skip: assetbuild.skips)
    cas/ab/…   outputs larger than INLINE_MAX, one file per sha256 (``.*.assetbuild-tmp``: a write in progress,
               or an orphan of a killed one, for garbage collection)
    cas/tmp/   large outputs of worker processes on their way into cas/ab/… (``put_blob_file``)
    lock       flock()ed by a build, so two builds in one project take turns
    db.corrupt-*  a damaged index, moved aside for inspection (safe to delete)

One job per module (see RELIABILITY-NOTES §1 for the rules they keep):

- ``environment``: the LMDB environment: opening (shared in a process), format and identity,
  truncation and damage checks, recovery, reads and the commit of a batch.
- ``records``: record encoding and keys (per project), the pending batch, the committer thread.
- ``cas``: digests and the blob files under cas/.
- ``lock``: the build lock and the open lock (flocks; neither opens LMDB).
- ``compaction``: replacing db/ by a compacted copy.
- ``cachedir``: what belongs to a cache directory (checking a --cache-dir, ``clean``).
- ``failures``: why the cache directory cannot be opened or written, in words a user acts on.
- ``lmdb_store``: ``LmdbStore``, composing the above; ``memory``: ``MemoryStore``, the same
  contracts (``assetbuild.contracts``) in memory, for unit tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cachedir import check_cache_dir, clear_cache_dir, is_cache_dir
from .cas import INLINE_MAX, digest_bytes
from .environment import INITIAL_MAP_SIZE, MAX_MAP_SIZE, STORE_FORMAT, check_data_file
from .failures import describe_open_error
from .lmdb_store import LmdbStore
from .lock import BuildLock, BuildRunning, no_build_running, no_daemon_running, running_run, taken_ahead
from .records import DEFAULT_PROJECT, project_id

if TYPE_CHECKING:
    from .memory import MemoryStore

__all__ = [
    "DEFAULT_PROJECT", "INITIAL_MAP_SIZE", "INLINE_MAX", "MAX_MAP_SIZE", "STORE_FORMAT", "BuildLock",
    "BuildRunning", "LmdbStore", "MemoryStore", "check_cache_dir", "check_data_file", "clear_cache_dir",
    "describe_open_error", "digest_bytes", "is_cache_dir", "no_build_running", "no_daemon_running", "project_id",
    "running_run", "taken_ahead",
]


def __getattr__(name: str) -> Any:
    """``MemoryStore`` on first use: the tests' and embedders' store, which no build imports."""
    if name == "MemoryStore":
        from .memory import MemoryStore

        return MemoryStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
