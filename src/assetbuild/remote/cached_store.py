"""The caching store: a local store with the remote cache behind it, at the store interface
the scheduler uses (``contracts.TraceStore``).

A local miss asks the remote; a hit returns the signed trace at once (downstream keys need only
its data version) while the bytes download in background threads and are recorded locally when
verified; a build's new traces are uploaded (blob, then record) in background threads (their
half of the store is ``uploads``). Every store call stays on the caller's thread. A remote that is down, slow or wrong never fails a
build: one warning, then local work; after the first failure the remote is not tried again in
this build. Loading a pickle runs code, so nothing unverified ever reaches an IO manager.

Round trips: at the first local miss the records prefix is listed once, so further misses are
answered without a request; the newest listed records are then fetched concurrently in batches
(prefetch), so a key that hits usually finds its record already here. A build without local
misses (a null build) sends no request at all.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CacheCorrupt, StoreError
from ..manifest import MAGIC as MANIFEST_MAGIC
from ..manifest import decode_manifest, is_manifest
from ..reports import Head, Trace
from ..store import INLINE_MAX
from ..wording import words
from .pool import DaemonPool
from .records import KEY_ENV, SIGNING_KEY_ENV, TRUSTED_KEYS_ENV, RemoteRejected, decode_record
from .transport import RemoteCache, RemoteDown, RemoteSettings, check_spool_dir, describe_error
from .uploads import RemoteUploads, _Upload

if TYPE_CHECKING:
    import os

    from ..store import LmdbStore



class RemoteTrace(Trace):
    """A trace taken from the remote cache (its bytes may still be downloading)."""

    __slots__ = ()

    @property
    def origin(self) -> str:
        return "remote"


@dataclass
class _Download:
    """Bytes of a remote hit on their way; ``keys`` are the traces waiting for them."""

    digest: str
    size: int
    future: cf.Future[bytes | None]  # None: the bytes are in the local store (a large blob)
    keys: dict[str, Trace] = field(default_factory=dict)
    heads: list[tuple[str, Head, int | None]] = field(default_factory=list)  # put_head calls held back


class RemoteCachedStore(RemoteUploads):
    """A local store (``LmdbStore``) with a remote cache behind it (see the module docstring);
    everything not overridden here goes straight to the local store."""

    def __init__(self, local: LmdbStore, remote: RemoteCache, *, warn: Callable[[str], None],
                 note: Callable[[str], None] | None = None, expected: int = 0, fetch: bool = True) -> None:
        self.local = local
        self.remote = remote
        self.settings = remote.settings
        self.fetch = fetch  # False (dry runs, status): look up records only; download and write nothing
        self._peeked: set[str] = set()
        self.read = True
        self.write = fetch and not self.settings.read_only
        self._warn = warn
        self._note = note or (lambda msg: None)
        self._messages: list[str] = []  # from worker threads, printed on the caller's thread
        self._mlock = threading.Lock()
        self._pool = DaemonPool(self.settings.concurrency, "assetbuild-remote")  # never joined at exit
        self._downloads: dict[str, _Download] = {}  # digest -> transfer not yet recorded locally
        self._waiting: dict[str, str] = {}  # key -> digest of its download
        self._failed: set[str] = set()  # keys whose bytes did not arrive or did not verify
        self._rejected: set[str] = set()  # keys not to ask the remote again in this build
        self._asset_of: dict[str, str] = {}  # key -> the asset its record names, for the warnings
        self._bad_blobs: set[str] = set()  # digests the remote holds wrong bytes for: upload again
        self._seen_blobs: set[str] = set()  # digests known to be on the remote
        # digest -> a blob put in this build: its bytes, or the size of one put as a file (uploaded from that file)
        self._outgoing: dict[str, bytes | int] = {}
        self._uploads: dict[str, _Upload] = {}  # key -> not yet submitted
        self._upload_futures: list[tuple[cf.Future[None], int]] = []  # and the bytes each sends
        self._rejections = 0
        self.stats = {"hits": 0, "misses": 0, "downloaded": 0, "uploaded": 0, "bytes_down": 0, "bytes_up": 0}
        self._prefetched: dict[str, cf.Future[dict[str, bytes | None]]] = {}
        self._listed: dict[str, float] | None = None
        n = self.settings.prefetch
        self._prefetch_limit = n if n is not None else max(1024, 2 * expected)
        self._listing: cf.Future[None] | None = None  # started by the first local miss
        self._done: collections.deque[str] = collections.deque()  # digests whose download ended
        # a manifest's digest -> the small files it lists, downloaded with it (stored on this thread)
        self._members: dict[str, list[tuple[str, bytes]]] = {}

    # --- messages ----------------------------------------------------------------------------

    def _message(self, text: str) -> None:
        with self._mlock:
            self._messages.append(text)

    def _emit(self) -> None:
        if self.remote.down is not None and self.read:
            self.read = self.write = False
            self._message(f"the remote cache {self.remote.shown} is unavailable ({self.remote.down}); "
                          "building locally without it for the rest of this build")
        if self._messages:
            with self._mlock:
                msgs, self._messages = self._messages, []
            for m in msgs:
                self._warn(m)

    def _reject(self, key: str, asset: str | None, why: str) -> None:
        self._rejected.add(key)
        self._rejections += 1
        if self._rejections == 1:
            what = f"{asset!r} (key {key[:12]})" if asset else f"key {key[:12]}"
            self._message(f"the remote cache's entry for {what} was rejected: {why}; building it locally "
                          "(further rejections are counted at the end)")

    # --- lookups -----------------------------------------------------------------------------

    def _list_and_prefetch(self) -> None:
        listed = self.remote.list_records()
        newest = sorted(listed, key=listed.__getitem__, reverse=True)[: self._prefetch_limit]
        for i in range(0, len(newest), 64):  # small batches: the first answers come sooner
            batch = newest[i:i + 64]
            fut = self._pool.submit(self.remote.get_records, batch)
            for k in batch:
                self._prefetched[k] = fut
        self._listed = listed  # last: a key listed but not prefetched is then asked directly

    def _wait(self, fut: cf.Future[Any], size: int = 0, alive: Callable[[], float] | None = None) -> Any:
        """A transfer's result; a wait far beyond the request timeouts (and 1 MB/s for ``size``
        bytes) counts as the remote being down (a hung file system has no timeouts of its own).
        ``alive``: when the transfer last showed progress (a listing's pages): the deadline then
        runs from there, so a long listing that keeps answering is waited for."""
        limit = self.settings.deadline(size)
        try:
            with self.local.flushing_while_away():  # a long wait commits finished work meanwhile
                wait = limit
                while True:
                    try:
                        return fut.result(timeout=wait)
                    except cf.TimeoutError:
                        wait = limit - (time.monotonic() - alive()) if alive is not None else 0.0
                        if wait <= 0:
                            raise
        except cf.TimeoutError:
            self.remote.fail(TimeoutError(f"no answer in {limit:.0f}s"))
            raise RemoteDown(self.remote.down) from None

    def _fetch_record(self, key: str) -> bytes | None:
        if self._listing is None:
            self._listing = self._pool.submit(self._list_and_prefetch)
        if self._listed is None:
            self._wait(self._listing, alive=lambda: self.remote.progress)  # re-raises RemoteDown
        if self._listed is not None and key not in self._listed:
            return None  # answered by the listing: no request
        fut = self._prefetched.get(key)
        if fut is not None:
            raw = self._wait(fut).get(key)
            if raw is not None:
                return raw
        return self.remote.get_record(key)

    def get_trace(self, key: str) -> Trace | None:
        self._drain()
        trace = self.local.get_trace(key)
        return trace if trace is not None else self.remote_trace(key)

    def remote_trace(self, key: str, usable: Callable[[Trace], bool] | None = None) -> Trace | None:
        """The remote's trace of ``key`` (its bytes on their way, as for any hit), or None: a
        local miss, or a local trace whose bytes are gone from the local cache or that expired
        (the rebuilder asks, rather than run the asset again). One that is not ``usable`` (an
        expired one) is None, and nothing is downloaded."""
        if not self.read or key in self._rejected:
            return None
        digest = self._waiting.get(key)
        if digest is not None:  # asked again (a repair): the same answer
            found = self._downloads[digest].keys[key]
            return found if usable is None or usable(found) else None
        try:
            raw = self._fetch_record(key)
        except (RemoteDown, RemoteRejected):
            raw = None
        if raw is None:
            self.stats["misses"] += 1
            self._emit()
            return None
        try:
            trace, asset = decode_record(raw, key, keys=self.settings.keys,
                                         trust_unsigned=self.settings.trust_unsigned)
        except RemoteRejected as e:
            self._reject(key, None, str(e))
            self._emit()
            return None
        if usable is not None and not usable(trace):
            return None
        self.stats["hits"] += 1
        if asset:
            self._asset_of[key] = asset
        rtrace = RemoteTrace(*trace)
        if not self.fetch:
            self._peeked.add(trace.output_digest)
            return rtrace
        if self._local_bytes(trace.output_digest):
            self.local.put_trace(key, trace)
            return rtrace
        d = self._downloads.get(trace.output_digest)
        if d is None:
            d = self._start_download(trace.output_digest, trace.size)
        d.keys[key] = rtrace
        self._waiting[key] = trace.output_digest
        return rtrace

    def _local_bytes(self, digest: str) -> bool:
        """Whether the local store holds ``digest``'s bytes and, for a list of the files an asset
        wrote, each of those files (a missing one is downloaded with the list, as on a miss)."""
        try:
            data = self.local.read_blob(digest)
            return not is_manifest(data) or all(self.local.has_blob(f.digest, f.size)
                                                for f in decode_manifest(data).files)
        except (CacheCorrupt, ValueError):
            return False

    def _start_download(self, digest: str, size: int) -> _Download:
        if size > INLINE_MAX:  # on this thread: before the scheduler says "restored", not after (see there)
            check_spool_dir(str(self.local.spool_dir()))
        fut = self._pool.submit(self._download, digest, size)
        fut.add_done_callback(lambda _fut: self._done.append(digest))
        return self._downloads.setdefault(digest, _Download(digest, size, fut))  # (none yet: remote_trace)

    def _download(self, digest: str, size: int) -> bytes | None:
        """In a worker: fetch, verify against the signed digest and size; a small blob's bytes, or
        None for a large one, streamed into the local store's file and never whole in memory, as
        a local restore (up to ``concurrency`` downloads run at once). A manifest of files an
        asset wrote brings its files' blobs along (each verified against the digest and size the
        verified manifest gives), so a restore finds them all here."""
        if size > INLINE_MAX:
            data = self._download_file(digest, size)
        else:
            data = self.remote.get_blob(digest, size)
        if data is not None and is_manifest(data):
            self._download_members(digest, data)
        return data if size <= INLINE_MAX else None

    def _download_file(self, digest: str, size: int) -> bytes | None:
        """A large blob into the local store (a temp file renamed into place: safe off the main
        thread); its bytes only if it is a manifest (a list of files, to fetch too)."""
        path = self.remote.get_blob_file(digest, size, str(self.local.spool_dir()))
        with open(path, "rb") as f:
            manifest = f.read(len(MANIFEST_MAGIC)) == MANIFEST_MAGIC
            data = MANIFEST_MAGIC + f.read() if manifest else None
        self.local.put_blob_file(path, digest, size)
        return data

    def _download_members(self, digest: str, data: bytes) -> None:
        try:
            files = {f.digest: f.size for f in decode_manifest(data).files}
        except ValueError as e:
            raise RemoteRejected(f"a malformed list of files ({e})") from None
        todo = [(d, n) for d, n in files.items() if n <= INLINE_MAX or not self.local.has_blob(d, n)]

        def fetch(member: tuple[str, int]) -> tuple[str, bytes] | None:
            dg, n = member
            try:
                if n > INLINE_MAX:
                    self._download_file(dg, n)
                    return None
                return dg, self.remote.get_blob(dg, n)
            except RemoteRejected:
                with self._mlock:  # the remote has wrong bytes of the right size: upload it again
                    self._bad_blobs.add(dg)
                raise

        with DaemonPool(8, "assetbuild-remote-files") as pool:
            small = [r for r in pool.map(fetch, todo) if r is not None]
        with self._mlock:
            self._members[digest] = small

    def _drain(self, wait: bool = False) -> None:
        """Record finished downloads locally (blob, trace, held-back heads); forget failed ones.

        ``wait``: every download, waiting for those under way (not once the remote is down).
        """
        if wait:
            for digest, d in list(self._downloads.items()):
                if not d.future.done() and self.remote.down is None:
                    try:
                        self._wait(d.future, d.size)
                    except Exception:  # noqa: BLE001 - judged in _finish
                        pass
                self._finish(digest)
        else:
            while self._done:
                digest = self._done.popleft()
                if digest in self._downloads and self._downloads[digest].future.done():
                    self._finish(digest)
        self._emit()

    def _finish(self, digest: str) -> None:
        d = self._downloads.pop(digest)
        for key in d.keys:
            self._waiting.pop(key, None)
        fut = d.future
        if not fut.done():
            fut.cancel()
        err = fut.exception() if fut.done() and not fut.cancelled() else RemoteDown(self.remote.down or "no answer")
        if isinstance(err, StoreError):  # the local cache's fault (its spool folder, its disk): not the remote's
            raise err
        if err is None:
            data = fut.result()
            self._seen_blobs.add(digest)
            self.stats["downloaded"] += 1
            self.stats["bytes_down"] += d.size
            if data is not None:  # (a large blob is in the local store already)
                self.local.put_blob(data, digest)
            with self._mlock:
                members = self._members.pop(digest, [])
            for member, blob in members:  # before the trace: never a trace without its files
                self.local.put_blob(blob, member)
            for key, trace in d.keys.items():
                self.local.put_trace(key, Trace(*trace))
            for asset, head, device in d.heads:
                self.local.put_head(asset, head, device=device)
            return
        self._failed.update(d.keys)
        if isinstance(err, RemoteRejected):
            self._bad_blobs.add(digest)
            for key in d.keys:
                self._reject(key, self._asset_of.get(key), str(err))
        else:
            self.remote.fail(err)
            self._rejected.update(d.keys)

    # --- the store interface the scheduler uses ----------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name == "local":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.local, name)

    def has_blob(self, digest: str, size: int) -> bool:
        if digest in self._downloads or digest in self._peeked:
            return True  # on its way (read_blob waits for it), or looked up only
        return self.local.has_blob(digest, size)

    def read_blob(self, digest: str) -> bytes:
        d = self._downloads.get(digest)
        if d is None:
            return self.local.read_blob(digest)
        if d.future.cancel():  # still queued behind other downloads: this one is needed now
            fut: cf.Future[bytes | None] = cf.Future()
            try:
                fut.set_result(self._download(digest, d.size))
            except Exception as e:  # noqa: BLE001 - judged like a download's failure
                fut.set_exception(e)
            d.future = fut
        try:
            data = self._wait(d.future, d.size)
        except Exception as e:  # noqa: BLE001 - down, timed out, or bytes not as signed
            if digest in self._downloads:
                self._finish(digest)
            self._emit()
            raise CacheCorrupt(digest, f"not usable from the remote cache ({describe_error(e, self.settings.secrets)})",
                               said=True) from None  # (_finish warned, or counted it)
        if digest in self._downloads:  # recorded now (its done-callback may not have run yet)
            self._finish(digest)
        self._drain()
        return data if data is not None else self.local.read_blob(digest)

    def put_head(self, asset: str, head: Head, *, device: int | None = None) -> None:
        digest = self._waiting.get(head.key)
        if digest is not None:  # its bytes are not here yet: record the head with them
            self._downloads[digest].heads.append((asset, head, device))
            return
        up = self._uploads.get(head.key)
        if up is not None:
            up.asset = asset
        self.local.put_head(asset, head, device=device)

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        digest = self.local.put_blob(data, digest)
        if self.write:
            self._outgoing[digest] = data
        return digest

    def put_trace(self, key: str, trace: Trace) -> None:
        """A trace this build made (the asset ran): it supersedes a remote hit for ``key`` whose
        download is under way (one the rebuilder found and then ran anyway: expired, data kept
        outside the cache gone), so that download no longer holds this build's head back, nor
        records the remote's trace over this one when it lands."""
        self._release(key)
        self.local.put_trace(key, trace)
        if self.write and trace.output_digest in self._outgoing:
            self._uploads[key] = _Upload(trace)

    def _release(self, key: str) -> None:
        """Forget that ``key`` waits for a download; one nothing else waits for is dropped
        (cancelled if it has not started; if it has, its bytes land in the local store unused).
        One that failed already is no longer this key's to repair: it was built here."""
        self._failed.discard(key)
        digest = self._waiting.pop(key, None)
        d = self._downloads.get(digest) if digest is not None else None
        if d is None:
            return
        d.keys.pop(key, None)
        if not d.keys and not d.heads:
            del self._downloads[digest]  # (its done-callback finds it gone: _drain skips it)
            d.future.cancel()

    def not_shared(self, key: str) -> None:
        """``key``'s trace, just put, is not uploaded: no build can ever look it up (a volatile
        asset's key has a fresh random part each build); its readers' are, as any."""
        self._uploads.pop(key, None)

    def delete_trace(self, key: str) -> None:
        self._rejected.add(key)
        self._uploads.pop(key, None)
        digest = self._waiting.pop(key, None)
        if digest is not None and digest in self._downloads:
            self._downloads[digest].keys.pop(key, None)
        self.local.delete_trace(key)

    def maybe_flush(self, interval_s: float = 0.25, max_pending: int = 5000) -> None:
        self._drain()
        self._submit_uploads()
        self.local.maybe_flush(interval_s, max_pending)

    def flush(self) -> None:
        self._drain()
        self._submit_uploads()
        self.local.flush()

    def settle(self) -> set[str]:
        """Wait for every download; the keys whose bytes did not arrive intact (to be rebuilt)."""
        self._drain(wait=True)
        failed, self._failed = self._failed, set()
        return failed

    # the rest of the interface: the local store's (downloads are recorded there as they arrive)

    def get_head(self, asset: str) -> Head | None:
        return self.local.get_head(asset)

    def add_history(self, asset: str, when_ns: int, key: str) -> None:
        self.local.add_history(asset, when_ns, key)

    def put_blob_file(self, src: str | os.PathLike[str], digest: str, size: int) -> str:
        """A worker's large output, renamed into the local store: uploaded from the local store's
        file (``src`` is gone; that file is the only copy, and stays), never read whole here."""
        digest = self.local.put_blob_file(src, digest, size)
        if self.write:
            self._outgoing[digest] = size if size > INLINE_MAX else self.local.read_blob(digest)
        return digest

    def blob_file(self, digest: str, min_size: int = 1 << 20) -> Path | None:
        return self.local.blob_file(digest, min_size)

    def flushing_while_away(self, flush: Callable[[], None] | None = None,
                            interval_s: float = 0.25) -> AbstractContextManager[None]:
        return self.local.flushing_while_away(flush, interval_s)  # (its block, not a generator's around it)

    def close(self) -> None:
        """Finish uploads (each request bounded by the timeouts), report, then close the local store."""
        try:
            self._drain(wait=True)
            self._finish_uploads()
            if self._rejections > 1:
                n = self._rejections - 1
                self._message(f"{n} more {'entry' if n == 1 else 'entries'} of the remote cache "
                              f"{'was' if n == 1 else 'were'} rejected")
            self._emit()
            s = self.stats
            if s["hits"] or s["uploaded"]:
                self._note(f"remote cache: {s['hits']} hits ({s['bytes_down'] / 1e6:.1f} MB downloaded), "
                           f"{s['misses']} misses, {s['uploaded']} uploaded ({s['bytes_up'] / 1e6:.1f} MB)")
            if self.fetch and self.local.pending and not self.local.readonly:
                self.local.flush()  # what the downloads that ended here recorded, and any batch left
        finally:
            self.write = False
            self._pool.shutdown(wait=False, cancel_futures=True)
            self.local.close()


def open_remote(local: LmdbStore, settings: RemoteSettings, *, warn: Callable[[str], None],
                note: Callable[[str], None] | None = None, expected: int = 0,
                fetch: bool = True) -> LmdbStore | RemoteCachedStore:
    """``local`` with the remote cache behind it, or ``local`` alone (with one warning) without a key
    to verify with. Holding public keys only (no HMAC secret, no signing key) reads and never
    uploads. A URL fsspec rejects, or s3fs missing, shows at the first request (as a remote that
    is unavailable)."""
    keys = settings.keys
    if not keys.can_verify and not settings.trust_unsigned:
        warn(f"the remote cache {settings.shown} is not used: no key is set to verify its entries with "
             f"(set {TRUSTED_KEYS_ENV}, {SIGNING_KEY_ENV} or {KEY_ENV}, or pass "
             f"{words('--trust-remote-unsigned', 'trust_remote_unsigned=True')})")
        return local
    store = RemoteCachedStore(local, RemoteCache(settings, create=fetch), warn=warn, note=note,
                              expected=expected, fetch=fetch)
    if not keys.can_sign and keys.can_verify:
        store.write = False  # public keys only: it could not sign what it uploads
    return store
