"""Signatures taken in a build, judged at the commit (``store.racy``): a real LmdbStore and real
files; the file system's clock at the commit (``racy.fs_tick``) stepped to the tick a test needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assetbuild import snapshot
from assetbuild.reports import Head, Trace
from assetbuild.store import LmdbStore, racy


def _head(path_stat: tuple[int, int, int, int] | None) -> Head:
    return Head("k" * 64, "dv", "d" * 64, "code", {}, (), "json", "out/a.json", path_stat, 1, 2, 0.1)


def _file(tmp_path: Path) -> tuple[tuple[int, int, int, int], os.stat_result]:
    p = tmp_path / "a.json"
    p.write_text("1\n")
    st = p.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino), st


@pytest.fixture
def store(tmp_path: Path):
    s = LmdbStore(tmp_path / "cache")
    s.acquire_lock()
    yield s
    s.close()


def _at(monkeypatch: pytest.MonkeyPatch, tick: tuple[int, int] | None) -> None:
    monkeypatch.setattr(racy, "fs_tick", lambda path: tick)


def test_a_signature_taken_in_the_tick_of_the_commit_is_not_committed(store, tmp_path, monkeypatch):
    sig, st = _file(tmp_path)
    _at(monkeypatch, (st.st_dev, max(st.st_mtime_ns, st.st_ctime_ns)))  # the same tick: an edit may follow in it
    store.put_head("a", _head(sig), device=st.st_dev)
    store.flush()
    assert store.get_head("a").path_stat is None and store.smudged == {"a"}


def test_a_signature_older_than_the_commit_is_committed(store, tmp_path, monkeypatch):
    sig, st = _file(tmp_path)
    _at(monkeypatch, (st.st_dev, max(st.st_mtime_ns, st.st_ctime_ns) + 1))
    store.put_head("a", _head(sig), device=st.st_dev)
    store.flush()
    assert store.get_head("a").path_stat == sig and store.smudged == set()


def test_a_head_committed_again_with_a_signature_past_its_tick_is_no_longer_smudged(store, tmp_path, monkeypatch):
    sig, st = _file(tmp_path)
    latest = max(st.st_mtime_ns, st.st_ctime_ns)
    _at(monkeypatch, (st.st_dev, latest))
    store.put_head("a", _head(sig), device=st.st_dev)
    store.flush()
    _at(monkeypatch, (st.st_dev, latest + 1))
    store.put_head("a", _head(sig), device=st.st_dev)
    store.flush()
    assert store.get_head("a").path_stat == sig and store.smudged == set()


def test_on_another_device_a_signature_is_trusted_only_racy_ns_after(store, tmp_path, monkeypatch):
    sig, st = _file(tmp_path)
    latest = max(st.st_mtime_ns, st.st_ctime_ns)
    _at(monkeypatch, (st.st_dev + 1, latest + snapshot.RACY_NS - 1))  # another clock: 2 s of doubt
    store.put_head("a", _head(sig), device=st.st_dev)
    store.flush()
    assert store.get_head("a").path_stat is None
    _at(monkeypatch, (st.st_dev + 1, latest + snapshot.RACY_NS))
    store.put_head("b", _head(sig), device=st.st_dev)
    store.flush()
    assert store.get_head("b").path_stat == sig


def test_without_the_file_systems_clock_no_signature_taken_now_is_committed(store, tmp_path, monkeypatch):
    sig, st = _file(tmp_path)
    _at(monkeypatch, None)  # the lock file could not be touched
    store.put_head("a", _head(sig), device=st.st_dev)
    store.put_stat("out/b.txt", sig, "e" * 64, device=st.st_dev)
    store.flush()
    assert store.get_head("a").path_stat is None and store.get_stat("out/b.txt") is None


def test_a_signature_carried_over_is_committed_as_it_is(store, tmp_path, monkeypatch):
    """A head put again with the signature it had (``accept``): not taken now, nothing to judge."""
    sig, st = _file(tmp_path)
    _at(monkeypatch, (st.st_dev, 0))
    store.put_head("a", _head(sig))
    store.flush()
    assert store.get_head("a").path_stat == sig


def test_a_stat_entry_taken_in_the_tick_of_the_commit_is_not_committed(store, tmp_path, monkeypatch):
    sig, st = _file(tmp_path)
    latest = max(st.st_mtime_ns, st.st_ctime_ns)
    _at(monkeypatch, (st.st_dev, latest))
    store.put_stat("out/b.txt", sig, "e" * 64, device=st.st_dev)
    store.flush()
    assert store.get_stat("out/b.txt") is None
    _at(monkeypatch, (st.st_dev, latest + 1))
    store.put_stat("out/b.txt", sig, "e" * 64, device=st.st_dev)
    store.flush()
    assert store.get_stat("out/b.txt") == (sig, "e" * 64)


def test_a_record_replaced_or_deleted_before_the_commit_stays_so(store, tmp_path, monkeypatch):
    sig, st = _file(tmp_path)
    _at(monkeypatch, (st.st_dev, 0))
    store.put_head("a", _head(sig), device=st.st_dev)
    store.delete_head("a")
    store.put_head("b", _head(sig), device=st.st_dev)
    store.put_head("b", _head(sig)._replace(data_version="other"))  # carried: as put
    store.flush()
    assert store.get_head("a") is None
    b = store.get_head("b")
    assert b.data_version == "other" and b.path_stat == sig and store.smudged == set()


def test_the_commit_touches_the_build_lock_file_only_when_it_judges_a_signature(store, tmp_path):
    lock = tmp_path / "cache" / "lock"
    os.utime(lock, ns=(0, 0))
    store.put_trace("f" * 64, Trace("dv", "d" * 64, "json", 1, 0.1, 1, "{}"))
    store.flush()
    assert lock.stat().st_mtime_ns == 0  # (a build that takes no signature touches nothing more)
    sig, st = _file(tmp_path)
    store.put_head("a", _head(sig), device=st.st_dev)
    store.flush()
    assert lock.stat().st_mtime_ns >= max(st.st_mtime_ns, st.st_ctime_ns)
