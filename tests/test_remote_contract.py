"""RemoteCachedStore is a ``contracts.TraceStore``: mypy checks the typed assignment below
(``mypy tests/test_remote_contract.py``), and the methods it takes from its local store as they
are answer there; a blob put as a file is uploaded like one put as bytes."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from assetbuild.contracts import TraceStore
from assetbuild.remote import RecordKeys, RemoteCache, RemoteCachedStore, RemoteSettings
from assetbuild.reports import Head, Trace
from assetbuild.store import INLINE_MAX, LmdbStore


def test_the_remote_cached_store_is_a_trace_store(tmp_path: Path) -> None:
    settings = RemoteSettings(f"file://{tmp_path / 'remote'}", keys=RecordKeys.of(b"secret"))
    cached = RemoteCachedStore(LmdbStore(tmp_path / "cache"), RemoteCache(settings), warn=print)
    store: TraceStore = cached  # the structural check (mypy)
    try:
        data = b"an output"
        digest = store.put_blob(data)
        trace = Trace("v1", digest, "bytes@1", len(data), 0.0, 1, "")
        store.put_trace("a" * 64, trace)
        head = Head("a" * 64, "v1", digest, "code", {}, (), "bytes@1", None, None, 1, len(data), 0.0)
        store.put_head("x", head)
        store.add_history("x", 1, "a" * 64)
        with store.flushing_while_away():
            pass
        store.flush()
        assert store.get_head("x") == head
        assert store.get_trace("a" * 64) == trace
        assert store.read_blob(digest) == data
        assert store.blob_file(digest) is None  # kept inline: too small for a file
        assert list(store.settle()) == []
    finally:
        cached.close()


@pytest.mark.parametrize("size", [1000, 8 << 20], ids=["inline", "file"])
def test_a_blob_put_as_a_file_is_uploaded_before_its_record(tmp_path: Path, size: int) -> None:
    """put_blob_file (a process worker's large output) marks the blob for upload like put_blob:
    the remote gets the blob, then the record, from the local store's copy (the spool file is
    gone, the local copy stays), read in chunks, not whole; a fresh cache restores it."""
    folder = tmp_path / "remote"
    settings = RemoteSettings(f"file://{folder}", keys=RecordKeys.of(b"secret"))
    local = LmdbStore(tmp_path / "cache")
    cached = RemoteCachedStore(local, RemoteCache(settings), warn=pytest.fail)
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    spooled = local.spool_dir() / "spooled"
    spooled.parent.mkdir(parents=True, exist_ok=True)
    spooled.write_bytes(data)
    trace = Trace("v1", digest, "bytes@1", size, 0.0, 1, "")
    tracemalloc.start()
    try:
        assert cached.put_blob_file(spooled, digest, size) == digest
        cached.put_trace("a" * 64, trace)
        cached.flush()
    finally:
        cached.close()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert not spooled.exists()
    assert (folder / "blobs" / digest[:2] / digest).read_bytes() == data
    assert (folder / "records" / "aa" / ("a" * 64)).is_file()
    if size > INLINE_MAX:
        assert peak < size // 2, f"the upload held {peak} bytes of a {size}-byte blob in memory"
        with LmdbStore(tmp_path / "cache", readonly=True) as again:
            assert again.read_blob(digest) == data  # the local copy stays

    fresh = RemoteCachedStore(LmdbStore(tmp_path / "fresh"), RemoteCache(settings), warn=pytest.fail)
    try:
        assert fresh.get_trace("a" * 64) == trace
        assert fresh.settle() == set()
        assert fresh.read_blob(digest) == data
    finally:
        fresh.close()
