"""RemoteCachedStore is a ``contracts.TraceStore``: mypy checks the typed assignment below
(``mypy tests/test_remote_contract.py``), and the methods it takes from its local store as they
are answer there."""

from __future__ import annotations

from pathlib import Path

from assetbuild.contracts import TraceStore
from assetbuild.remote import RecordKeys, RemoteCache, RemoteCachedStore, RemoteSettings
from assetbuild.reports import Head, Trace
from assetbuild.store import LmdbStore


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
