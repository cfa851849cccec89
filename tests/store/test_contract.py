"""The store contract (``assetbuild.contracts.TraceStore`` and ``StatCache``), one suite run over
every implementation: ``LmdbStore`` (real LMDB files), ``MemoryStore``, and the remote-backed
store (``RemoteCachedStore`` over an ``LmdbStore``, with a file:// remote in a temp directory).

The factories are typed as the Protocols, so mypy checks that each implementation satisfies them
(``test_the_implementations_satisfy_the_protocols`` runs it when mypy is installed).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assetbuild.contracts import StatCache, TraceStore
from assetbuild.errors import CacheCorrupt
from assetbuild.remote import RecordKeys, RemoteCache, RemoteCachedStore, RemoteSettings
from assetbuild.reports import Head, Trace
from assetbuild.store import INLINE_MAX, LmdbStore, MemoryStore, digest_bytes

SECRET = b"contract suite"
SMALL, LARGE = 1000, INLINE_MAX + 4096  # kept inline in the index / as a file under cas/
SIZES = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["inline", "file"])


def hexd(x: object) -> str:
    return digest_bytes(repr(x).encode())


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def a_trace(i: int, data: bytes = b"") -> Trace:
    # _make: mypy takes Trace's class attribute ``origin`` for a field (reports.py)
    return Trace._make((hexd(("dv", i)), digest_bytes(data) if data else hexd(("out", i)), "bytes@1",
                        len(data), 0.5, 1_700_000_000_000 + i, "{}"))


def a_head(i: int) -> Head:
    return Head(hexd(("key", i)), hexd(("dv", i)), hexd(("out", i)), "v:1", {"fn": hexd(i)},
                (("up", hexd(i + 1)),), "bytes@1", None, None, 10 + i, i, 0.25)


# --- the implementations -------------------------------------------------------------------

def open_lmdb(root: Path) -> TraceStore:
    return LmdbStore(root / "cache")


def open_remote_backed(root: Path) -> TraceStore:
    settings = RemoteSettings(f"file://{root / 'remote'}", keys=RecordKeys.of(secret=SECRET))
    return RemoteCachedStore(LmdbStore(root / "cache"), RemoteCache(settings), warn=lambda msg: None)


def stat_caches(root: Path) -> list[StatCache]:
    return [LmdbStore(root / "stat-lmdb"), MemoryStore()]


class Subject:
    """One implementation under test: its store, and how to reopen it and damage its bytes."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        self.store: Any = self._open()
        # the remote-backed store commits what is pending when it closes (its uploads need it)
        self.keeps_unflushed_on_close = kind == "remote"

    def _open(self) -> Any:
        if self.kind == "memory":
            return MemoryStore()
        return open_lmdb(self.root) if self.kind == "lmdb" else open_remote_backed(self.root)

    def reopen(self) -> Any:
        """Close the store and open it again: what the next build (or process) finds."""
        if self.kind == "memory":
            self.store = self.store.reopen()
        else:
            self.store.close()
            self.store = self._open()
        return self.store

    def lmdb(self) -> LmdbStore:
        store: LmdbStore = self.store.local if self.kind == "remote" else self.store
        return store

    def damage(self, digest: str, data: bytes) -> None:
        """Replace the stored bytes of ``digest`` by wrong bytes of the same size."""
        bad = bytes([data[0] ^ 1]) + data[1:]
        if self.kind == "memory":
            self.store.put_raw_blob(digest, bad)
        elif len(data) > INLINE_MAX:
            self.lmdb().blob_path(digest).write_bytes(bad)
        else:
            self.lmdb().raw_put("blobs", bytes.fromhex(digest), bad)

    def spool_dir(self) -> Path:
        spool = self.store.spool_dir() if self.kind != "memory" else self.root / "spool"
        Path(spool).mkdir(parents=True, exist_ok=True)
        return Path(spool)

    def close(self) -> None:
        self.store.close()


@pytest.fixture(params=["lmdb", "memory", "remote"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    s = Subject(request.param, tmp_path)
    try:
        yield s
    finally:
        s.close()


# --- traces, heads, history ----------------------------------------------------------------

def test_traces_heads_and_history_round_trip(subject: Subject) -> None:
    s = subject.store
    for i in range(3):
        s.put_trace(hexd(("key", i)), a_trace(i))
        s.put_head(f"asset{i}", a_head(i))
        s.add_history(f"asset{i}", 2000 + i, hexd(("key", i)))
        s.add_history(f"asset{i}", 1000 + i, hexd(("old", i)))
    for store in (s, None):  # before the flush (from the batch), then after a reopen
        if store is None:
            s.flush()
            store = subject.reopen()
        for i in range(3):
            trace = store.get_trace(hexd(("key", i)))
            assert trace == a_trace(i) and trace.origin == "local"
            assert store.get_head(f"asset{i}") == a_head(i)
        assert store.get_trace(hexd("nope")) is None and store.get_head("nope") is None
    s.flush()  # scans see committed rows
    s = subject.store
    for i in range(3):  # in the order added (build order), not by the times recorded
        assert s.history(f"asset{i}") == [(2000 + i, hexd(("key", i))), (1000 + i, hexd(("old", i)))]
    assert s.heads() == {f"asset{i}": a_head(i) for i in range(3)}
    assert s.heads(skip=lambda name: name != "asset1") == {"asset1": a_head(1)}  # the others unread


def test_history_keeps_every_build_in_build_order(subject: Subject) -> None:
    """A row per build, listed as the builds were made: a clock set back between two builds
    does not reorder them, and builds recorded at one time (a fixed ``ASSETBUILD_NOW``) do not
    replace each other (they were keyed by time alone)."""
    s = subject.store
    builds = [(5000, "b1"), (3000, "b2"), (7000, "b3"), (7000, "b4"), (7000, "b5"), (7000, "b2")]
    for when, key in builds[:3]:
        s.add_history("a", when, hexd(key))
    s.flush()
    for when, key in builds[3:]:  # a later batch carries on the order
        s.add_history("a", when, hexd(key))
    s.flush()
    want = [(when, hexd(key)) for when, key in builds]
    assert s.history("a") == want
    assert subject.reopen().history("a") == want


def test_put_head_replaces_the_latest_build(subject: Subject) -> None:
    s = subject.store
    s.put_head("a", a_head(1))
    s.flush()
    s.put_head("a", a_head(2))
    assert s.get_head("a") == a_head(2)
    s.flush()
    assert subject.reopen().get_head("a") == a_head(2)


def test_delete_trace(subject: Subject) -> None:
    s = subject.store
    s.put_trace(hexd(1), a_trace(1))
    s.put_trace(hexd(2), a_trace(2))
    s.flush()
    s.delete_trace(hexd(1))
    assert s.get_trace(hexd(1)) is None  # a pending delete is visible
    s.flush()
    s = subject.reopen()
    assert s.get_trace(hexd(1)) is None and s.get_trace(hexd(2)) == a_trace(2)


# --- blobs ---------------------------------------------------------------------------------

@SIZES
def test_blobs_round_trip_by_digest(subject: Subject, size: int) -> None:
    s = subject.store
    data = payload(size, 1)
    dg = s.put_blob(data)
    assert dg == digest_bytes(data)
    assert s.put_blob(data, dg) == dg  # storing the same bytes again: the same digest
    assert s.read_blob(dg) == data and s.has_blob(dg, size)  # before the flush
    s.flush()
    s = subject.reopen()
    assert s.read_blob(dg) == data and s.has_blob(dg, size)


def test_has_blob_of_a_large_blob_checks_its_size(subject: Subject) -> None:
    s = subject.store
    dg = s.put_blob(payload(LARGE, 2))
    s.flush()
    assert s.has_blob(dg, LARGE) and not s.has_blob(dg, LARGE + 1)
    assert not s.has_blob(hexd("absent"), LARGE)


def test_read_blob_of_an_unknown_digest_raises_cache_corrupt(subject: Subject) -> None:
    with pytest.raises(CacheCorrupt) as e:
        subject.store.read_blob(hexd("absent"))
    assert e.value.digest == hexd("absent")


@SIZES
def test_read_blob_of_damaged_bytes_raises_cache_corrupt_and_drops_them(subject: Subject, size: int) -> None:
    s = subject.store
    data = payload(size, 3)
    dg = s.put_blob(data)
    s.flush()
    subject.damage(dg, data)
    with pytest.raises(CacheCorrupt) as e:
        s.read_blob(dg)
    assert e.value.digest == dg and "corrupt" in str(e.value)
    with pytest.raises(CacheCorrupt):  # dropped: never served again
        s.read_blob(dg)
    s.put_blob(data)  # the right bytes again repair it
    s.flush()
    assert subject.reopen().read_blob(dg) == data


@SIZES
def test_put_blob_file_moves_a_spooled_file_in(subject: Subject, size: int) -> None:
    data = payload(size, 4)
    src = subject.spool_dir() / "spooled.tmp"
    src.write_bytes(data)
    dg = subject.store.put_blob_file(src, digest_bytes(data), size)
    assert dg == digest_bytes(data)
    assert not src.exists()  # taken, not copied
    assert subject.store.read_blob(dg) == data
    subject.store.flush()
    assert subject.reopen().read_blob(dg) == data


@SIZES
def test_blob_file_is_a_file_of_exactly_the_bytes_or_none(subject: Subject, size: int) -> None:
    s = subject.store
    data = payload(size, 5)
    dg = s.put_blob(data)
    for min_size in (1, size, size + 1):
        path = s.blob_file(dg, min_size=min_size)
        if min_size > size:
            assert path is None
        elif path is not None:
            assert path.read_bytes() == data
    s.flush()
    path = s.blob_file(dg, min_size=1)
    if subject.kind != "memory" and size > INLINE_MAX:  # these keep large blobs as files
        assert path is not None and path.read_bytes() == data
    if size <= INLINE_MAX:
        assert path is None  # kept inline, or in memory: no file
    assert s.blob_file(hexd("absent"), min_size=1) is None


# --- batching and durability ---------------------------------------------------------------

def test_flushed_writes_survive_a_reopen_and_unflushed_ones_do_not(subject: Subject) -> None:
    s = subject.store
    data = payload(SMALL, 6)
    s.put_trace(hexd("flushed"), a_trace(1, data))
    s.put_blob(data)
    s.put_stat("src.csv", (1, 2, 3, 4), hexd("src"))
    s.flush()
    s.put_trace(hexd("unflushed"), a_trace(2))
    s = subject.reopen()
    assert s.get_trace(hexd("flushed")) == a_trace(1, data) and s.read_blob(digest_bytes(data)) == data
    assert s.get_stat("src.csv") == ((1, 2, 3, 4), hexd("src"))
    assert (s.get_trace(hexd("unflushed")) is not None) == subject.keeps_unflushed_on_close


def test_maybe_flush_commits_an_old_or_large_batch(subject: Subject) -> None:
    s = subject.store
    s.put_trace(hexd(1), a_trace(1))
    s.maybe_flush(interval_s=3600, max_pending=1000)  # young and small: kept in the batch
    s.maybe_flush(interval_s=3600, max_pending=1)  # large: committed
    s.put_trace(hexd(2), a_trace(2))
    s.maybe_flush(interval_s=0)  # old: committed
    subject.keeps_unflushed_on_close = False
    s = subject.reopen()
    assert s.get_trace(hexd(1)) == a_trace(1) and s.get_trace(hexd(2)) == a_trace(2)


def test_flushing_while_away_then_flush(subject: Subject) -> None:
    s = subject.store
    s.put_trace(hexd(1), a_trace(1))
    with s.flushing_while_away(s.flush, interval_s=0.0):
        pass  # the caller is away: the store may commit in the background, or wait
    assert s.get_trace(hexd(1)) == a_trace(1)
    s.flush()
    assert subject.reopen().get_trace(hexd(1)) == a_trace(1)


def test_settle_reports_no_failed_keys(subject: Subject) -> None:
    s = subject.store
    s.put_trace(hexd(1), a_trace(1))
    assert list(s.settle()) == []


# --- the stat cache ------------------------------------------------------------------------

def test_stat_cache_round_trip(subject: Subject) -> None:
    s = subject.store
    assert s.get_stat("data/a.csv") is None
    s.put_stat("data/a.csv", (10, 20, 30, 40), hexd("a"))
    assert s.get_stat("data/a.csv") == ((10, 20, 30, 40), hexd("a"))
    s.put_stat("data/a.csv", (11, 21, 31, 41), hexd("a2"))  # a changed file: the new signature
    s.flush()
    assert subject.reopen().get_stat("data/a.csv") == ((11, 21, 31, 41), hexd("a2"))


# --- events and runs -------------------------------------------------------------------------

def test_a_runs_events_are_found_by_the_run_whatever_their_assets(subject: Subject) -> None:
    """``run_events(seq)``: the run's events in the order they happened, of every asset (runs
    show lists those of assets no longer declared too), and none of another run's."""
    from assetbuild.reports import Event

    s = subject.store
    happened = [(1, "b", 1), (1, "a", 2), (2, "a", 1), (1, "p[k2]", 3), (2, "c", 2)]
    for run, asset, order in happened:
        s.put_event(Event(run, asset, "materialized", run, run, 0.0, order=order))
    s.flush()
    s = subject.reopen()
    assert [(e.asset, e.order) for e in s.run_events(1)] == [("b", 1), ("a", 2), ("p[k2]", 3)]
    assert [(e.asset, e.order) for e in s.run_events(2)] == [("a", 1), ("c", 2)]
    assert s.run_events(3) == []


def test_a_runs_events_are_this_projects_only(tmp_path: Path) -> None:
    """Projects sharing a cache directory have their own events: a run's are this project's."""
    from assetbuild.reports import Event

    mine, other = LmdbStore(tmp_path, project="a/AssetFile"), LmdbStore(tmp_path, project="b/AssetFile")
    try:
        mine.put_event(Event(1, "x", "materialized", 1, 1, 0.0, order=1))
        mine.flush()
        other.put_event(Event(1, "y", "materialized", 1, 1, 0.0, order=2))  # (one run number in two projects: not made, not relied on)
        other.flush()
        assert [e.asset for e in mine.run_events(1)] == ["x"] and [e.asset for e in other.run_events(1)] == ["y"]
    finally:
        mine.close()
        other.close()


# --- observations ----------------------------------------------------------------------------

def test_the_latest_observation_of_a_source_round_trips(subject: Subject) -> None:
    from assetbuild.reports import ObservationRecord

    s = subject.store
    assert s.get_observation("orders_api") is None
    s.put_observation("orders_api", ObservationRecord(1, "etag1", '{"etag": "etag1"}'))
    s.put_observation("orders_api", ObservationRecord(2, "etag2", "{}"))  # the latest replaces it
    assert s.get_observation("orders_api") == ObservationRecord(2, "etag2", "{}")  # before a flush too
    s.flush()
    s = subject.reopen()
    assert s.get_observation("orders_api") == ObservationRecord(2, "etag2", "{}")
    assert s.get_observation("other") is None


def test_an_observation_record_of_another_version_reads_as_absent(tmp_path: Path) -> None:
    import marshal

    from assetbuild.reports import ObservationRecord

    store: Any = open_lmdb(tmp_path)  # the observations are LmdbStore's, not the engine's TraceStore
    store.put_observation("api", ObservationRecord(1, "v", "{}"))
    store.flush()
    store.raw_put("observations", b"api", marshal.dumps((2, 1, "v", "{}", "a field from the future")))
    assert store.get_observation("api") is None
    store.raw_put("observations", b"api", b"not a record")
    assert store.get_observation("api") is None
    store.close()


# --- skips ------------------------------------------------------------------------------------

def test_the_latest_skip_of_an_asset_round_trips(subject: Subject) -> None:
    from assetbuild.reports import SkipRecord

    s = subject.store
    assert s.get_skip("orders") is None
    s.put_skip("orders", SkipRecord(1, "no new orders", hexd("k1")))
    s.put_skip("orders", SkipRecord(2, "still none", hexd("k2")))  # the latest replaces it
    assert s.get_skip("orders") == SkipRecord(2, "still none", hexd("k2"))  # before a flush too
    s.flush()
    s = subject.reopen()
    assert s.get_skip("orders") == SkipRecord(2, "still none", hexd("k2"))
    assert s.get_skip("other") is None


def test_a_skip_record_of_another_version_reads_as_absent(tmp_path: Path) -> None:
    import marshal

    from assetbuild.reports import SkipRecord

    store: Any = open_lmdb(tmp_path)
    store.put_skip("orders", SkipRecord(1, "none", hexd("k")))
    store.flush()
    store.raw_put("skips", b"orders", marshal.dumps((2, 1, "none", hexd("k"), "a field from the future")))
    assert store.get_skip("orders") is None
    store.raw_put("skips", b"orders", b"not a record")
    assert store.get_skip("orders") is None
    store.close()


# --- the remote-backed store across checkouts ----------------------------------------------

def test_a_fresh_local_store_finds_traces_and_bytes_on_the_remote(tmp_path: Path) -> None:
    small, large = payload(SMALL, 7), payload(LARGE, 8)
    first: Any = open_remote_backed(tmp_path / "first")
    (tmp_path / "second").mkdir()
    os.symlink(tmp_path / "first" / "remote", tmp_path / "second" / "remote")
    for i, data in enumerate((small, large)):
        first.put_blob(data)
        first.put_trace(hexd(("key", i)), a_trace(i, data))
    first.flush()
    first.close()  # uploads finish
    second: Any = open_remote_backed(tmp_path / "second")
    try:
        for i, data in enumerate((small, large)):
            trace = second.get_trace(hexd(("key", i)))
            assert trace == a_trace(i, data) and trace.origin == "remote"
            assert second.has_blob(trace.output_digest, trace.size)
            assert second.read_blob(trace.output_digest) == data
        assert list(second.settle()) == []
        assert second.get_trace(hexd("absent")) is None
    finally:
        second.close()


# --- conformance, checked by mypy ----------------------------------------------------------

def typed_conformance(root: Path) -> list[TraceStore | StatCache]:
    """Never called: mypy checks that each implementation is assignable to the Protocols."""
    traces: list[TraceStore] = [LmdbStore(root), MemoryStore(), open_remote_backed(root),
                                RemoteCachedStore(LmdbStore(root), RemoteCache(RemoteSettings("file:///x")),
                                                  warn=print)]
    stats: list[StatCache] = [*stat_caches(root), LmdbStore(root), MemoryStore()]
    not_a_store: TraceStore = MemoryStore  # type: ignore[assignment]  # proves mypy sees the Protocol
    return [*traces, *stats, not_a_store]


def test_the_implementations_satisfy_the_protocols(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    cmd = [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--check-untyped-defs", "--warn-unused-ignores",
           "--follow-imports=silent", "--no-incremental", "--cache-dir", os.devnull, __file__]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stdout + r.stderr
