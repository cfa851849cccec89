"""The upload half of the caching store (``cached_store``): this build's new traces, with their
blobs (and, for an ``outputs=`` asset, the files its manifest lists), sent to the remote in the
pool's threads, blobs before the record that names them, and waited for at the end of the build
within a deadline.

``RemoteUploads`` is a base of ``RemoteCachedStore``, which keeps the store interface
(``put_blob``, ``put_trace``…) and records there what to upload; this module sends it.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CacheCorrupt
from ..manifest import FILES_IO, decode_manifest
from ..reports import Trace
from .records import encode_record
from .transport import RemoteCache, RemoteDown, RemoteSettings, UploadFailed

if TYPE_CHECKING:
    from ..store import LmdbStore
    from .pool import DaemonPool

CHECK_BLOB_MIN = 256 * 1024  # smaller blobs are uploaded again rather than asked for (one request either way)


@dataclass(frozen=True)
class _BlobFile:
    """A blob to upload from its file in the local store (read in chunks, never whole)."""

    path: Path
    size: int


@dataclass
class _Upload:
    """A trace of this build to upload (with its blob) at the next flush."""

    trace: Trace
    asset: str | None = None  # named in the record once its head is put


class RemoteUploads:
    """Uploads of a ``RemoteCachedStore`` (see the module docstring); the attributes are its own."""

    local: LmdbStore
    remote: RemoteCache
    settings: RemoteSettings
    write: bool
    stats: dict[str, int]
    _pool: DaemonPool
    _mlock: threading.Lock
    _seen_blobs: set[str]  # digests known to be on the remote
    _bad_blobs: set[str]  # digests the remote holds wrong bytes for: upload again
    _outgoing: dict[str, bytes | int]
    _uploads: dict[str, _Upload]
    _upload_futures: list[tuple[cf.Future[None], int]]
    _message: Callable[[str], None]
    _emit: Callable[[], None]

    def _submit_uploads(self) -> None:
        if not self._uploads:
            return
        if not self.write:
            self._uploads.clear()
            self._outgoing.clear()
            return
        for key, up in self._uploads.items():
            digest = up.trace.output_digest
            outgoing = self._outgoing.get(digest)
            if outgoing is None:
                continue
            blob: bytes | _BlobFile
            if isinstance(outgoing, int):  # put as a file: upload from the local store's file
                source = self.local.blob_file(digest, min_size=0)
                if source is None:
                    continue  # gone from the local store: no record without its blob
                blob = _BlobFile(source, outgoing)
            else:
                blob = outgoing
            record = encode_record(key, up.trace, asset=up.asset, keys=self.settings.keys)
            members = self._member_blobs(up.trace, blob)
            if members is None:
                continue  # a file it lists is gone from the local store: no record without it
            size = sum(b.size if isinstance(b, _BlobFile) else len(b) for _d, b in [*members, (digest, blob)])
            self._upload_futures.append((self._pool.submit(self._upload, key, digest, blob, record, members),
                                         size + len(record)))
        self._uploads.clear()
        self._outgoing.clear()

    def _member_blobs(self, trace: Trace, blob: bytes | _BlobFile) -> list[tuple[str, bytes | _BlobFile]] | None:
        """The files an asset wrote, listed by its manifest (the output of an ``outputs=`` asset),
        each from this build's outgoing bytes or the local store; None if one is gone."""
        if not trace.io.startswith(FILES_IO + "@"):
            return []
        raw = blob if isinstance(blob, bytes) else blob.path.read_bytes()
        out: list[tuple[str, bytes | _BlobFile]] = []
        for f in decode_manifest(raw).files:
            if f.digest in self._seen_blobs or any(d == f.digest for d, _b in out):
                continue
            outgoing = self._outgoing.get(f.digest)
            if isinstance(outgoing, bytes):
                out.append((f.digest, outgoing))
                continue
            source = self.local.blob_file(f.digest, min_size=0)
            if source is not None:
                out.append((f.digest, _BlobFile(source, f.size)))
                continue
            try:
                out.append((f.digest, self.local.read_blob(f.digest)))
            except CacheCorrupt:
                return None
        return out

    def _upload(self, key: str, digest: str, blob: bytes | _BlobFile, record: bytes,
                members: list[tuple[str, bytes | _BlobFile]] | None = None) -> None:
        """In a worker: the blob unless the remote has it (and first the files it lists, for a
        manifest), then the record (never a record without its blobs)."""
        if not self.write or self.remote.down is not None:
            return
        try:
            for member, data in [*(members or []), (digest, blob)]:
                self._upload_blob(member, data)
            self.remote.put(self.remote.record_path(key), record)
            with self._mlock:
                self.stats["uploaded"] += 1
        except RemoteDown:
            return
        except UploadFailed as e:
            if self.write:
                self.write = False
                self._message(f"cannot upload to the remote cache {self.remote.shown} ({e}); "
                              "no more uploads in this build")

    def _upload_blob(self, digest: str, blob: bytes | _BlobFile) -> None:
        size = blob.size if isinstance(blob, _BlobFile) else len(blob)
        if digest in self._bad_blobs or digest not in self._seen_blobs and (
                size < CHECK_BLOB_MIN or not self.remote.has_blob(digest, size)):
            if isinstance(blob, _BlobFile):
                self.remote.put_file(self.remote.blob_path(digest), blob.path)
            else:
                self.remote.put(self.remote.blob_path(digest), blob)
            with self._mlock:
                self.stats["bytes_up"] += size
        self._seen_blobs.add(digest)

    def _finish_uploads(self) -> None:
        """Wait for the uploads under way, each bounded by the timeouts, all of them by one deadline;
        past it, the last moments go to removing what those abandoned left (``_abandon``)."""
        # each transfer is bounded on its own (RemoteCache.put); this bounds those of a file
        # system with no deadline of its own, such as a hung network folder
        left = sum(n for fut, n in self._upload_futures if not fut.done())
        budget = self.settings.deadline(left)
        grace = min(1.0, budget / 10)
        deadline = time.monotonic() + budget - grace
        for fut, _n in self._upload_futures:
            try:
                fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except cf.TimeoutError:
                self._message(f"uploads to the remote cache {self.remote.shown} did not finish in time; "
                              "the rest are abandoned")
                self._abandon(grace)
                break
            except KeyboardInterrupt:
                self._message("interrupted: the remaining uploads to the remote cache are abandoned")
                self._emit()
                self._abandon(grace)
                raise

    def _abandon(self, grace: float) -> None:
        """Stop the uploads under way and remove the temp files they write in a folder remote
        (which the exit would leave there), waiting ``grace`` seconds at most: in a folder that
        stopped answering the removal hangs too, in a daemon thread, and a later build's first
        write in that folder sweeps them (``RemoteCache._local_writer``)."""
        t = threading.Thread(target=self.remote.abandon, name="assetbuild-remote-abandon", daemon=True)
        t.start()
        t.join(grace)
