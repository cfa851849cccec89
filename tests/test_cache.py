"""Maintenance of the cache directory on real projects and real LMDB files: use times that cost
no write on a null build, the last build's summary, gc (LRU order, sweeping, compaction, the
build lock, a writer that opened before a compaction), verify with corrupted bytes, export and
import between checkouts, and copying the cache directory as CI caches do."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest
from projects import Project, run_counter, take_runs

import assetbuild
from assetbuild import cache as maint
from assetbuild.errors import StoreError
from assetbuild.output import Reporter
from assetbuild.store import INLINE_MAX, LmdbStore, digest_bytes

REPO = Path(__file__).resolve().parent.parent

COUNTED = '''
raw = source("raw", "raw.txt")
V = 1
''' + run_counter() + '''

@asset(io="json")
def numbers(raw):
    _ran("numbers")
    return [int(x) for x in raw.read_text().split()] * V


@asset(io="bytes", path="out/big.bin")
def big(numbers):
    _ran("big")
    return bytes(numbers) * 40000  # more than INLINE_MAX: a file under cas/


@asset(io="text", path="out/total.txt")
def total(numbers, big):
    _ran("total")
    return f"{sum(numbers)} {len(big)}\\n"
'''


@pytest.fixture
def runlog(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "runlog"
    d.mkdir()
    monkeypatch.setenv("AB_RUNS", str(d))
    return d


@pytest.fixture
def counted(project, runlog) -> Project:
    project.write("raw.txt", "1 2 3\n")
    project.assetfile(COUNTED)
    assert project.built() == ["numbers", "big", "total"]
    take_runs(runlog)
    return project


def set_version(project: Project, v: int) -> None:
    text = (project.root / "AssetFile").read_text()
    import re

    project.write("AssetFile", re.sub(r"^V = \d+$", f"V = {v}", text, flags=re.M), dedent=False)


def cache_of(project: Project) -> Path:
    return project.root / ".assetbuild"


def txnid(cache: Path) -> int:
    with LmdbStore(cache, readonly=True) as s:
        return s.index_info()["last_txnid"]


def fsck(cache: Path) -> None:
    """Every head and trace points at bytes that exist and verify."""
    with LmdbStore(cache, readonly=True) as s:
        for h in s.heads().values():
            s.read_blob(h.output_digest)
        for _k, t in s.iter_traces():
            s.read_blob(t.output_digest)


class Locked:
    """A writable store under the build lock, as session's maintenance commands open it."""

    def __init__(self, cache: Path) -> None:
        self.store = LmdbStore(cache)

    def __enter__(self) -> LmdbStore:
        self.store.acquire_lock()
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def quiet() -> tuple[Reporter, io.StringIO]:
    err = io.StringIO()
    return Reporter(out=io.StringIO(), err=err, verbosity=0), err


# --- use times and the build summary ----------------------------------------------------------

def test_null_builds_write_nothing_while_use_times_and_summary_are_kept(counted, runlog, monkeypatch):
    cache = cache_of(counted)
    with LmdbStore(cache, readonly=True) as s:
        old = {n: h.key for n, h in s.heads().items()}
        assert s.used_times() == {}
        assert s.get_build_summary() == maint.build_summary(["built"] * 3)
    set_version(counted, 2)
    t0 = time.time_ns()
    txn = txnid(cache)
    with monkeypatch.context() as m:  # no time-based commits in the middle: one batch per build
        m.setattr(LmdbStore, "maybe_flush", lambda self, *a, **k: None)
        assert counted.built() == ["numbers", "big", "total"]
    assert txnid(cache) == txn + 1  # use times and the summary went with the build's one batch
    with LmdbStore(cache, readonly=True) as s:
        used = s.used_times()
        assert set(used) == set(old.values())  # each displaced key was stamped when it was displaced
        assert all(t0 <= t <= time.time_ns() for t in used.values())
    counted.build()  # (vouches for the outputs written in the tick of the last commit: racy till now)
    before = txnid(cache)
    size = (cache / "db" / "data.mdb").stat().st_size
    for _ in range(2):
        r = counted.build()
        assert r.names("cached") == ["numbers", "big", "total"]
    assert txnid(cache) == before  # repeated null builds: no transaction at all
    assert (cache / "db" / "data.mdb").stat().st_size == size
    st = assetbuild.cache_stats(project_dir=counted.root)
    assert st["last_build"] == maint.build_summary(["built"] * 3)  # the last build that ran something
    (counted.root / "out/total.txt").unlink()
    counted.build()
    st = assetbuild.cache_stats(project_dir=counted.root)
    assert st["last_build"]["restored"] == 1 and st["last_build"]["hit_rate"] == 1.0
    assert take_runs(runlog) == {"numbers": 1, "big": 1, "total": 1}


def test_stats_counts_entries_and_bytes(counted):
    set_version(counted, 2)
    counted.built()
    st = assetbuild.cache_stats(project_dir=counted.root)
    assert (st["assets"], st["entries"], st["latest_entries"], st["older_entries"]) == (3, 6, 3, 3)
    assert st["file_blobs"] == 2 and st["file_bytes"] == 3 * 40000 + 6 * 40000
    assert st["inline_blobs"] == 4 and 0 < st["inline_bytes"] < 100
    assert st["index_bytes"] == (cache_of(counted) / "db/data.mdb").stat().st_size
    assert st["output_bytes"] == st["inline_bytes"] + st["file_bytes"]
    assert st["last_build"]["built"] == 3 and st["last_build"]["hit_rate"] == 0.0


def test_stats_of_a_missing_cache_creates_nothing(tmp_path):
    st = assetbuild.cache_stats(project_dir=tmp_path)
    assert st["entries"] == 0 and st["last_build"] is None
    assert not (tmp_path / ".assetbuild").exists()


def test_summary_of_a_failed_build(project, runlog):
    project.assetfile("@asset(io='json')\ndef ok():\n    return 1\n\n@asset(io='json')\ndef bad(ok):\n    raise ValueError('no')\n")
    r = project.build()
    assert not r.ok
    st = assetbuild.cache_stats(project_dir=project.root)["last_build"]
    assert (st["built"], st["failed"], st["hit_rate"]) == (1, 1, 0.0)


# --- gc ---------------------------------------------------------------------------------------

def test_gc_older_than_drops_unused_entries_and_keeps_the_latest(counted, runlog):
    cache = cache_of(counted)
    set_version(counted, 2)
    counted.built()
    take_runs(runlog)
    with LmdbStore(cache, readonly=True) as s:
        heads = {n: h.key for n, h in s.heads().items()}
        old = set(dict(s.iter_traces())) - set(heads.values())
        old_big = [t.output_digest for k, t in s.iter_traces() if k in old and t.size > INLINE_MAX]
        old_bytes = sum(t.size for k, t in s.iter_traces() if k in old)
    assert len(old) == 3 and len(old_big) == 1
    blob = cache / "cas" / old_big[0][:2] / old_big[0][2:]
    assert blob.exists()
    with Locked(cache) as s:
        r = maint.gc(s, older_than_s=86400, now_ns=time.time_ns())  # all used within a day: kept
        assert r.entries_dropped == 0 and blob.exists()
        r = maint.gc(s, older_than_s=86400, now_ns=time.time_ns() + 2 * 86400 * 10**9)
    assert sorted(r.dropped_keys) == sorted(old) and r.blobs_dropped == 3
    assert r.output_bytes_freed == old_bytes > 120000
    assert not blob.exists()
    with LmdbStore(cache, readonly=True) as s:
        assert set(dict(s.iter_traces())) == set(heads.values())
        assert {n: h.key for n, h in s.heads().items()} == heads
        assert all(k in heads.values() for n in heads for _t, k in s.history(n))  # history rows dropped too
        assert set(s.used_times()) <= set(heads.values())
    fsck(cache)
    assert counted.build().names("cached") == ["numbers", "big", "total"] and take_runs(runlog) == {}
    set_version(counted, 1)  # reverting to a dropped entry runs it again
    assert counted.built() == ["numbers", "big", "total"]


def test_gc_max_size_drops_least_recently_used_first(counted, runlog):
    """Versions 1..4 of a 120 KB+ output; reusing version 1 later makes 2 and 3 the least recent."""
    cache = cache_of(counted)
    for v in (2, 3, 4, 1, 4):  # 1 comes back (cached) after 4, then 4 again: 1 was used after 2 and 3
        set_version(counted, v)
        counted.build()
        time.sleep(0.01)
    assert take_runs(runlog)["big"] == 3  # 2, 3, 4 built; 1 and 4 again reused
    with LmdbStore(cache, readonly=True) as s:
        traces = dict(s.iter_traces())
        by_size = {t.size: k for k, t in traces.items() if t.size > INLINE_MAX}
    assert sorted(by_size) == [120000, 240000, 360000, 480000]
    head_big = 480000
    budget = head_big + 120000 + 1000  # room for the latest and version 1's big output
    with Locked(cache) as s:
        dry = maint.gc(s, max_size=budget, dry_run=True)
        r = maint.gc(s, max_size=budget)
    assert dry.dropped_keys == r.dropped_keys and dry.dry_run
    with LmdbStore(cache, readonly=True) as s:
        left = {t.size for _k, t in s.iter_traces() if t.size > INLINE_MAX}
        out = maint.stats(s)["output_bytes"]
    assert left == {120000, 480000}  # versions 2 and 3 went first
    assert out <= budget and r.output_bytes_freed == r.output_bytes_before - out >= 240000 + 360000
    fsck(cache)
    set_version(counted, 1)
    assert counted.build().names("built") == [] and take_runs(runlog) == {}
    set_version(counted, 2)
    assert counted.built() == ["numbers", "big", "total"]


def test_gc_never_drops_an_assets_latest_entry_even_over_the_size(counted):
    with Locked(cache_of(counted)) as s:
        r = maint.gc(s, max_size=1)
    assert r.entries_dropped == 0
    assert counted.build().names("cached") == ["numbers", "big", "total"]


KILLED_MID_WRITE = """
    import os, sys, time
    from assetbuild import atomicfile
    from assetbuild.store import LmdbStore
    atomicfile._unnamed_ok = False  # a temp file, as where there is no O_TMPFILE (else a new blob has no name to leave)
    s = LmdbStore(sys.argv[1])
    s.acquire_lock()
    def stuck(*a):
        print("written", flush=True)
        time.sleep(60)
    os.replace = stuck  # the temp file is written and fsynced; the kill comes before the rename
    s.put_blob(b"x" * 200_000)
"""


def test_gc_sweeps_temp_files_of_a_killed_build_orphans_and_leftovers(counted, runlog):
    cache = cache_of(counted)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env["PYTHONPATH"] = str(REPO / "src")
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_MID_WRITE), str(cache)],
                         stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "written"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    temps = list((cache / "cas").rglob("*.assetbuild-tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size == 200_000
    with LmdbStore(cache) as s:  # orphans: a file and an inline blob no trace refers to
        orphan_file = s.put_blob(b"y" * 100_000)
        orphan_inline = s.put_blob(b"a small orphan")
        s.flush()
    (cache / "db.compact-12345").mkdir()  # what a gc killed while copying leaves
    st = assetbuild.cache_stats(project_dir=counted.root)
    assert st["temp_files"] == 1 and st["leftover_dirs"] == ["db.compact-12345"]
    r = assetbuild.gc(project_dir=counted.root)
    assert r.temp_files == 1 and r.blobs_dropped == 2 and r.entries_dropped == 0
    assert r.output_bytes_freed == 100_000 + len(b"a small orphan")
    assert not list((cache / "cas").rglob("*.assetbuild-tmp")) and not (cache / "db.compact-12345").exists()
    with LmdbStore(cache, readonly=True) as s:
        assert orphan_inline not in s.inline_blob_sizes()
        assert not s.blob_path(orphan_file).exists()
    fsck(cache)
    assert counted.build().names("cached") == ["numbers", "big", "total"] and take_runs(runlog) == {}


def test_gc_keeps_only_the_newest_compiled_assetfiles(counted, runlog):
    """One compiled AssetFile is cached per version of it: gc keeps the newest few, and the
    current one, so the next build still loads without compiling."""
    code = cache_of(counted) / "code"
    for v in range(2, 2 + maint.CODE_CACHE_KEEP + 3):
        set_version(counted, v)
        assert counted.build().ok
    before = sorted(code.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert len(before) == maint.CODE_CACHE_KEEP + 4  # the first version and 11 edits
    newest, old_bytes = before[-1], sum(p.stat().st_size for p in before[:4])
    r = assetbuild.gc(project_dir=counted.root, dry_run=True)
    assert r.code_files == 4 and len(list(code.iterdir())) == len(before)
    r = assetbuild.gc(project_dir=counted.root)
    assert r.code_files == 4 and r.code_bytes == old_bytes
    assert sorted(code.iterdir()) == sorted(before[4:]) and newest.exists()
    take_runs(runlog)
    assert counted.build().names("cached") == ["numbers", "big", "total"] and take_runs(runlog) == {}
    assert sorted(code.iterdir()) == sorted(before[4:])  # the current version was kept: no recompile


def test_gc_follows_no_symlink_at_the_code_cache_and_deletes_only_compiled_files(counted, tmp_path):
    """A symlink planted at ``<cache>/code`` led gc to delete the oldest files of the folder it
    points to as "old compiled AssetFiles"; in a real ``code``, any file not starting with a dot
    counted, whatever its name."""
    code = cache_of(counted) / "code"
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(maint.CODE_CACHE_KEEP + 4):
        (docs / f"doc{i}.txt").write_text(str(i))
        os.utime(docs / f"doc{i}.txt", ns=(i * 10**9, i * 10**9))
    shutil.rmtree(code)
    code.symlink_to(docs)
    assert assetbuild.gc(project_dir=counted.root).code_files == 0
    assert len(list(docs.iterdir())) == maint.CODE_CACHE_KEEP + 4
    code.unlink()
    shutil.copytree(docs, code)
    assert assetbuild.gc(project_dir=counted.root).code_files == 0
    assert len(list(code.iterdir())) == maint.CODE_CACHE_KEEP + 4


def test_gc_drops_entries_whose_bytes_are_gone(counted):
    cache = cache_of(counted)
    set_version(counted, 2)
    counted.built()
    with LmdbStore(cache, readonly=True) as s:
        heads = {h.key for h in s.heads().values()}
        (old_big,) = [t.output_digest for k, t in s.iter_traces() if k not in heads and t.size > INLINE_MAX]
    (cache / "cas" / old_big[:2] / old_big[2:]).unlink()  # deleted by hand
    r = assetbuild.gc(project_dir=counted.root)
    assert r.dangling_dropped == 1
    fsck(cache)


def test_gc_compacts_the_index(project, runlog):
    """Many inline outputs of older versions: dropping them frees pages that only a compacting
    copy gives back to the disk."""
    lines = ["V = 1\n"] + [f"@asset(io='bytes')\ndef a{i}():\n    return bytes([V % 256, {i % 256}]) * 20000\n\n"
                           for i in range(40)]
    project.assetfile("".join(lines))
    for v in range(1, 6):
        project.write("AssetFile", (project.root / "AssetFile").read_text().replace(f"V = {v - 1}\n", f"V = {v}\n"),
                      dedent=False)
        assert len(project.built()) == 40
    cache = cache_of(project)
    ino = (cache / "db/data.mdb").stat().st_ino
    before = (cache / "db/data.mdb").stat().st_size
    r = assetbuild.gc(older_than_days=0, project_dir=project.root)
    after = (cache / "db/data.mdb").stat().st_size
    assert r.entries_dropped == 160 and r.index_bytes_before == before and r.index_bytes_after == after
    assert after < before / 3, (before, after)
    assert (cache / "db/data.mdb").stat().st_ino != ino  # a new file, swapped in
    assert not list(cache.glob("db.*"))
    fsck(cache)
    assert project.build().names("cached") == [f"a{i}" for i in range(40)]


def test_a_gc_killed_between_its_renames_loses_nothing(counted, runlog):
    """The swap is two renames (db -> db.old-PID, db.compact-PID -> db); a kill between them
    leaves no db/: the next writer puts the complete old index back."""
    cache = cache_of(counted)
    os.replace(cache / "db", cache / "db.old-4242")
    (cache / "db.compact-4242").mkdir()  # the copy (never used: the old index is complete)
    rep, err = quiet()
    r = counted.build(reporter=rep)
    assert r.names("cached") == ["numbers", "big", "total"] and take_runs(runlog) == {}
    assert "a gc was interrupted" in err.getvalue()
    assert not (cache / "db.old-4242").exists()
    assetbuild.gc(project_dir=counted.root)
    assert not list(cache.glob("db.*"))


def test_gc_dry_run_changes_nothing(counted):
    cache = cache_of(counted)
    set_version(counted, 2)
    counted.built()
    snap = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file() and p.name != "lock.mdb"}
    r = assetbuild.gc(older_than_days=0, dry_run=True, project_dir=counted.root)
    assert r.entries_dropped == 3 and r.dry_run
    assert {p: p.read_bytes() for p in cache.rglob("*") if p.is_file() and p.name != "lock.mdb"} == snap


def test_gc_and_verify_of_a_missing_cache_create_nothing(tmp_path):
    r = assetbuild.gc(max_size=0, project_dir=tmp_path)
    assert r.entries_dropped == 0 and not (tmp_path / ".assetbuild").exists()
    assert assetbuild.verify(project_dir=tmp_path).ok and not (tmp_path / ".assetbuild").exists()
    other = tmp_path / "not-a-cache"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not an assetbuild cache"):  # refused, left alone
        assetbuild.gc(older_than_days=0, cache_dir=other, project_dir=tmp_path)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


HOLD_LOCK = """
    import sys, time
    from assetbuild.store import LmdbStore
    s = LmdbStore(sys.argv[1])
    s.acquire_lock()
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    s.close()
"""

OPENED_BEFORE = """
    import sys
    from assetbuild.store import LmdbStore
    from assetbuild.reports import Trace
    s = LmdbStore(sys.argv[1])
    assert s.get_trace("ab" * 32) is None  # reads the index as it was
    print("opened", flush=True)
    sys.stdin.readline()
    s.acquire_lock()  # after the gc: the index was replaced meanwhile
    s.put_trace("cd" * 32, Trace("d" * 64, "e" * 64, "json@1", 1, 0.0, 1, ""))
    s.flush()
    print("wrote", flush=True)
"""


def _py(code: str, *args: str, stdin: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env["PYTHONPATH"] = str(REPO / "src")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE if stdin else None, text=True, env=env)


def test_gc_waits_for_a_running_build(counted):
    cache = cache_of(counted)
    p = _py(HOLD_LOCK, str(cache), "0.6")
    try:
        assert p.stdout.readline().strip() == "locked"
        rep, err = quiet()
        t0 = time.monotonic()
        assetbuild.gc(older_than_days=0, project_dir=counted.root, reporter=rep)
        waited = time.monotonic() - t0
    finally:
        p.wait(timeout=30)
        p.stdout.close()
    assert "waiting for it to finish" in err.getvalue()
    assert waited >= 0.3


def test_a_writer_that_opened_before_a_compaction_writes_into_the_new_index(counted):
    cache = cache_of(counted)
    set_version(counted, 2)
    counted.built()
    p = _py(OPENED_BEFORE, str(cache), stdin=True)
    try:
        assert p.stdout.readline().strip() == "opened"
        r = assetbuild.gc(older_than_days=0, project_dir=counted.root)
        assert r.index_bytes_after < r.index_bytes_before  # the index was swapped
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "wrote"
    finally:
        p.wait(timeout=30)
        p.stdout.close()
        p.stdin.close()
    assert p.returncode == 0
    with LmdbStore(cache, readonly=True) as s:
        assert s.get_trace("cd" * 32) is not None  # not lost in the replaced file
        assert len(s.heads()) == 3


# --- verify -----------------------------------------------------------------------------------

def _flip(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x01
    p.write_bytes(bytes(b))


def test_verify_reports_and_drops_corrupt_and_missing_blobs(counted, runlog):
    cache = cache_of(counted)
    set_version(counted, 2)
    counted.built()
    take_runs(runlog)
    with LmdbStore(cache, readonly=True) as s:
        heads = s.heads()
        old = {k: t for k, t in s.iter_traces() if k not in {h.key for h in heads.values()}}
    big = heads["big"].output_digest
    _flip(cache / "cas" / big[:2] / big[2:])  # same size: only re-hashing sees it
    total = heads["total"].output_digest
    with LmdbStore(cache) as s:  # damage an inline blob in place, through LMDB itself
        raw = s.raw_get("blobs", bytes.fromhex(total))
        s.raw_put("blobs", bytes.fromhex(total), raw[:-1] + b"?")
    (old_big,) = [t.output_digest for t in old.values() if t.size > INLINE_MAX]
    (cache / "cas" / old_big[:2] / old_big[2:]).unlink()  # an older entry's file is gone
    r = assetbuild.verify(project_dir=counted.root)
    assert not r.ok
    assert sorted((c["digest"], c["assets"]) for c in r.corrupt) == sorted([(big, ["big"]), (total, ["total"])])
    assert {c["where"] for c in r.corrupt} == {"inline", f"cas/{big[:2]}/{big[2:]}"}
    assert [m["digest"] for m in r.missing] == [old_big]
    assert r.entries_dropped == 3 and r.heads_dropped == ["big", "total"]
    fsck(cache)  # nothing left points at bad bytes
    assert not (cache / "cas" / big[:2] / big[2:]).exists()
    assert assetbuild.verify(project_dir=counted.root).ok
    r = counted.build()
    assert r.ok and r.names("built") == ["big", "total"] and take_runs(runlog) == {"big": 1, "total": 1}
    assert (counted.root / "out/total.txt").read_text() == "12 240000\n"
    assert counted.build().names("cached") == ["numbers", "big", "total"]


def test_verify_of_a_sound_cache_is_ok_and_drops_nothing(counted):
    cache = cache_of(counted)
    before = txnid(cache)
    r = assetbuild.verify(project_dir=counted.root)
    assert r.ok and r.blobs_checked == 3 and r.entries_dropped == 0 and r.bytes_checked > 120000
    assert txnid(cache) == before


def test_verify_drops_records_that_do_not_decode(counted):
    cache = cache_of(counted)
    with LmdbStore(cache) as s:
        s.raw_put("traces", bytes.fromhex("ab" * 32), b"\xff garbage")
    r = assetbuild.verify(project_dir=counted.root)
    assert r.damaged_records == 1 and not r.ok
    with LmdbStore(cache, readonly=True) as s:
        assert s.raw_get("traces", bytes.fromhex("ab" * 32)) is None


# --- export / import --------------------------------------------------------------------------

def _checkout(tmp_path: Path, name: str, text: str = COUNTED) -> Project:
    root = tmp_path / name / "deeper" / "checkout"
    root.mkdir(parents=True)
    p = Project(root)
    p.write("raw.txt", "1 2 3\n")
    p.assetfile(text)
    return p


def test_export_then_import_into_another_checkout_runs_nothing(counted, runlog, tmp_path):
    archive = tmp_path / "cache.tar.gz"
    r = assetbuild.export_cache(archive, project_dir=counted.root)
    assert (r["entries"], r["blobs"], r["never_built"], r["stale"]) == (3, 3, [], [])
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())
    assert names[-1] == "MANIFEST.json" and len(names) == 4
    assert str(counted.root) not in json.dumps(manifest) and str(tmp_path) not in json.dumps(manifest)
    other = _checkout(tmp_path, "elsewhere")
    r = assetbuild.import_cache(archive, project_dir=other.root)
    assert (r["entries"], r["skipped"], r["heads_added"]) == (3, 0, 3)
    assert assetbuild.load_value("total", project_dir=other.root) == "6 120000\n"  # heads came along
    b = other.build()
    assert b.names("built") == [] and b.names("restored") == ["big", "total"] and take_runs(runlog) == {}
    assert (other.root / "out/total.txt").read_text() == "6 120000\n"
    fsck(cache_of(other))
    with LmdbStore(cache_of(other), readonly=True) as s:
        assert len(s.used_times()) == 3  # imported entries count as used now, for gc


def test_export_of_a_selection_takes_its_upstream_only(counted, tmp_path):
    r = assetbuild.export_cache(tmp_path / "a.tar", ["big"], project_dir=counted.root)
    assert r["entries"] == 2
    with tarfile.open(tmp_path / "a.tar") as tar:
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())
    assert sorted(e["asset"] for e in manifest["entries"]) == ["big", "numbers"]


def test_export_warns_about_stale_and_never_built_assets(project, tmp_path):
    project.write("raw.txt", "1 2 3\n")
    project.assetfile(COUNTED.replace("def total", "def total_").replace('"total"', '"total_"'))
    rep, err = quiet()
    r = assetbuild.export_cache(tmp_path / "a.tar", project_dir=project.root, reporter=rep)
    assert r["entries"] == 0 and r["never_built"] == ["numbers", "big", "total_"]
    assert "not up to date" in err.getvalue()


def test_export_observes_like_status_so_readers_of_an_observable_source_are_not_called_stale(project, tmp_path):
    """Without observing, the reader of an observable source looked stale ('feed is stale') to
    export's warning, though status said fresh."""
    project.assetfile("""
from assetbuild import observable_source

@observable_source
def feed():
    return "v1"

@asset(io="json")
def reader(feed):
    return feed
""")
    assert project.build().ok and project.status()["reader"].state == "fresh"
    rep, err = quiet()
    r = assetbuild.export_cache(tmp_path / "a.tar", project_dir=project.root, reporter=rep)
    assert (r["entries"], r["stale"], err.getvalue()) == (1, [], "")


def _tamper(src: Path, dest: Path, edit) -> None:
    """Copy an archive, passing each (name, bytes) member through ``edit`` (None drops it)."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w") as tout:
        for m in tin:
            data = tin.extractfile(m).read()
            new = edit(m.name, data)
            if new is None:
                continue
            info = tarfile.TarInfo(m.name)
            info.size = len(new)
            tout.addfile(info, io.BytesIO(new))


def test_import_reads_an_archive_from_a_pipe(counted, runlog, tmp_path):
    """``cat e.tgz | assetbuild cache import /dev/stdin`` (or a FIFO) said "no such archive" for a
    path that exists: a pipe is now read as a stream; a directory is named as one."""
    import threading

    archive = tmp_path / "cache.tar.gz"
    assetbuild.export_cache(archive, project_dir=counted.root)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(archive.read_bytes()))
    writer.start()
    other = _checkout(tmp_path, "elsewhere")
    try:
        r = assetbuild.import_cache(fifo, project_dir=other.root)
    finally:
        writer.join(timeout=30)
    assert (r["entries"], r["heads_added"]) == (3, 3)
    assert other.build().names("built") == [] and take_runs(runlog) == {}
    with pytest.raises(StoreError, match="is a directory, not an archive"):
        assetbuild.import_cache(tmp_path, project_dir=other.root)


def test_import_rejects_a_tampered_blob_and_keeps_the_rest(counted, runlog, tmp_path):
    archive = tmp_path / "good.tar"
    assetbuild.export_cache(archive, project_dir=counted.root)
    with LmdbStore(cache_of(counted), readonly=True) as s:
        big = s.get_head("big").output_digest
    bad = tmp_path / "bad.tar"
    _tamper(archive, bad, lambda n, d: d[:-1] + bytes([d[-1] ^ 1]) if n == f"blobs/{big}" else d)
    other = _checkout(tmp_path, "other")
    rep, err = quiet()
    r = assetbuild.import_cache(bad, project_dir=other.root, reporter=rep)
    assert (r["entries"], r["skipped"], r["rejected_blobs"]) == (2, 1, 1)
    assert "does not match its digest" in err.getvalue() and "skipping 'big'" in err.getvalue()
    with LmdbStore(cache_of(other), readonly=True) as s:
        assert s.get_head("big") is None and not s.blob_path(big).exists()
        assert len(dict(s.iter_traces())) == 2
    fsck(cache_of(other))
    b = other.build()
    assert b.names("built") == ["big"] and b.names("cached") == ["numbers"]
    assert b.names("restored") == ["total"]  # its key did not change: the same bytes, cut off
    assert take_runs(runlog) == {"big": 1}


def test_import_skips_an_entry_whose_blob_is_absent(counted, tmp_path):
    archive = tmp_path / "good.tar"
    assetbuild.export_cache(archive, project_dir=counted.root)
    with LmdbStore(cache_of(counted), readonly=True) as s:
        numbers = s.get_head("numbers").output_digest
    bad = tmp_path / "bad.tar"
    _tamper(archive, bad, lambda n, d: None if n == f"blobs/{numbers}" else d)
    other = _checkout(tmp_path, "other")
    r = assetbuild.import_cache(bad, project_dir=other.root)
    assert (r["entries"], r["skipped"]) == (2, 1)
    fsck(cache_of(other))


@pytest.mark.parametrize("case, message", [
    ("newer", "newer than this assetbuild"),
    ("not-json", "not JSON"),
    ("no-manifest", "no MANIFEST.json"),
    ("not-tar", "not a readable archive"),
    ("other-format", "not an assetbuild cache export"),
    # not an export version at all (0, -7 and true were imported; "1" was called newer than 1)
    ("version-0", "not an assetbuild cache export \\(its MANIFEST.json's version is 0, not a whole number from 1 to 1\\)$"),
    ("version--7", "its MANIFEST.json's version is -7, not a whole number from 1"),
    ("version-true", "its MANIFEST.json's version is true, not a whole number from 1"),
    ("version-\"1\"", "its MANIFEST.json's version is \"1\", not a whole number from 1"),
    ("version-1.0", "its MANIFEST.json's version is 1.0, not a whole number from 1"),
    ("version-null", "its MANIFEST.json's version is null, not a whole number from 1"),
])
def test_import_refuses_a_bad_archive_with_one_clear_error(counted, tmp_path, case, message):
    archive = tmp_path / "good.tar"
    assetbuild.export_cache(archive, project_dir=counted.root)
    bad = tmp_path / "bad.tar"
    if case == "not-tar":
        bad.write_bytes(b"this is not a tar file at all" * 30)
    else:
        def edit(n, d):
            if n != "MANIFEST.json":
                return d
            doc = json.loads(d)
            return {"newer": lambda: json.dumps(dict(doc, version=99)).encode(),
                    "not-json": lambda: b"{oops",
                    "no-manifest": lambda: None,
                    "other-format": lambda: json.dumps(dict(doc, format="zip")).encode(),
                    }.get(case, lambda: json.dumps(dict(doc, version=json.loads(case[len("version-"):]))).encode())()
        _tamper(archive, bad, edit)
    other = _checkout(tmp_path, "other")
    with pytest.raises(StoreError, match=message):
        assetbuild.import_cache(bad, project_dir=other.root)
    if (cache_of(other) / "db").exists():
        with LmdbStore(cache_of(other), readonly=True) as s:
            assert list(s.iter_traces()) == [] and s.heads() == {}


def test_import_of_an_export_made_before_heads_had_source_paths(counted, runlog, tmp_path):
    """Heads gained ``sources`` (the source paths in keys); an older export has none: its
    entries still import."""
    archive = tmp_path / "new.tar"
    assetbuild.export_cache(archive, project_dir=counted.root)
    old = tmp_path / "old.tar"

    def drop_sources(n, d):
        if n != "MANIFEST.json":
            return d
        doc = json.loads(d)
        for e in doc["entries"]:
            assert e["head"]["sources"] in ([], [["raw", "raw.txt"]])
            del e["head"]["sources"]
        return json.dumps(doc).encode()

    _tamper(archive, old, drop_sources)
    other = _checkout(tmp_path, "other")
    r = assetbuild.import_cache(old, project_dir=other.root)
    assert (r["entries"], r["skipped"], r["heads_added"]) == (3, 0, 3)
    assert other.status()["numbers"].state == "fresh"
    assert other.build().names("built") == [] and take_runs(runlog) == {}
    # and a well-formed new export whose sources are not pairs of strings is refused entry by entry
    bad = tmp_path / "bad.tar"

    def break_sources(n, d):
        if n != "MANIFEST.json":
            return d
        doc = json.loads(d)
        for e in doc["entries"]:
            e["head"]["sources"] = [["raw", 1]]
        return json.dumps(doc).encode()

    _tamper(archive, bad, break_sources)
    r = assetbuild.import_cache(bad, project_dir=_checkout(tmp_path, "third").root, reporter=quiet()[0])
    assert r["entries"] == 0


def test_import_never_replaces_local_heads(counted, runlog, tmp_path):
    archive = tmp_path / "v1.tar"
    assetbuild.export_cache(archive, project_dir=counted.root)
    set_version(counted, 2)
    counted.built()
    take_runs(runlog)
    with LmdbStore(cache_of(counted), readonly=True) as s:
        mine = s.heads()
    r = assetbuild.import_cache(archive, project_dir=counted.root)
    assert (r["entries"], r["already_present"], r["heads_added"]) == (0, 3, 0)
    with LmdbStore(cache_of(counted), readonly=True) as s:
        assert s.heads() == mine
    assert counted.build().names("cached") == ["numbers", "big", "total"] and take_runs(runlog) == {}


def test_import_of_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no such archive"):
        assetbuild.import_cache(tmp_path / "nope.tar", project_dir=tmp_path)
    assert not (tmp_path / ".assetbuild").exists()


# --- the cache directory in a CI cache --------------------------------------------------------

def _tar_dir(src: Path, archive: Path) -> None:
    """What actions/cache does: tar the directory (here with Python's tarfile, no special care)."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=src.name)


def _untar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(dest)


def _gnu_tar(src: Path, archive: Path) -> None:
    subprocess.run(["tar", "-czf", str(archive), "-C", str(src.parent), src.name], check=True)


def _gnu_untar(archive: Path, dest: Path) -> None:
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(dest)], check=True)


@pytest.mark.parametrize("tool", ["tarfile", "tar"])
def test_cache_dir_restored_by_a_ci_cache_into_another_checkout_runs_nothing(counted, runlog, tmp_path, tool):
    if tool == "tar" and not shutil.which("tar"):
        pytest.skip("no tar command on this machine (the tarfile variant covers the format)")
    pack, unpack = (_tar_dir, _untar) if tool == "tarfile" else (_gnu_tar, _gnu_untar)
    archive = tmp_path / "actions-cache.tgz"
    pack(cache_of(counted), archive)
    other = _checkout(tmp_path, "runner")
    unpack(archive, other.root)
    b = other.build()
    assert b.names("built") == [] and sorted(b.names("restored")) == ["big", "total"] and take_runs(runlog) == {}
    assert (other.root / "out/big.bin").read_bytes() == (counted.root / "out/big.bin").read_bytes()
    assert assetbuild.verify(project_dir=other.root).ok


def test_shared_cache_dir_via_environment_restored_elsewhere_runs_nothing(project, runlog, tmp_path, monkeypatch):
    monkeypatch.setenv("ASSETBUILD_CACHE_DIR", str(tmp_path / "ci-cache"))
    project.write("raw.txt", "1 2 3\n")
    project.assetfile(COUNTED)
    project.built()
    take_runs(runlog)
    archive = tmp_path / "c.tgz"
    _tar_dir(tmp_path / "ci-cache", archive)
    restored = tmp_path / "restored"
    restored.mkdir()
    _untar(archive, restored)
    monkeypatch.setenv("ASSETBUILD_CACHE_DIR", str(restored / "ci-cache"))
    other = _checkout(tmp_path, "runner")
    assert other.build().names("built") == [] and take_runs(runlog) == {}
    st = assetbuild.cache_stats(project_dir=other.root)
    assert st["cache_dir"] == str(restored / "ci-cache") and st["entries"] == 3


# --- sizes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, n", [("0", 0), ("1048576", 1 << 20), ("500M", 500 << 20), ("2G", 2 << 30),
                                     ("1.5g", 3 << 29), ("10KiB", 10240), ("3MB", 3 << 20), ("7b", 7)])
def test_parse_size(text, n):
    assert maint.parse_size(text) == n


@pytest.mark.parametrize("text", ["", "M", "-1G", "2X", "1e9", "two"])
def test_parse_size_refuses_nonsense(text):
    with pytest.raises(ValueError, match="not a size"):
        maint.parse_size(text)


def test_digest_of_an_exported_blob_is_its_name(counted, tmp_path):
    assetbuild.export_cache(tmp_path / "a.tar", project_dir=counted.root)
    with tarfile.open(tmp_path / "a.tar") as tar:
        for m in tar:
            if m.name.startswith("blobs/"):
                assert digest_bytes(tar.extractfile(m).read()) == m.name[6:]


# --- gc invariants on random stores -----------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from assetbuild.reports import Head, Trace  # noqa: E402

ENTRY = st.tuples(st.integers(0, 5),  # which output (shared outputs: several entries, one blob)
                  st.booleans(),  # a file under cas/ (else inline)
                  st.integers(0, 10**6),  # created (ns, small numbers: only the order matters)
                  st.one_of(st.none(), st.integers(0, 2 * 10**6)))  # used


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(entries=st.lists(ENTRY, min_size=1, max_size=8), heads=st.sets(st.integers(0, 7), max_size=3),
       max_size=st.one_of(st.none(), st.integers(0, 5 * (INLINE_MAX + 2000))),
       older=st.one_of(st.none(), st.integers(0, 2 * 10**6)))
def test_gc_keeps_heads_and_never_leaves_a_trace_without_its_bytes(tmp_path_factory, entries, heads,
                                                                     max_size, older):
    cache = tmp_path_factory.mktemp("gc")
    outputs = {}
    with LmdbStore(cache) as s:
        for i, (out, as_file, created, used) in enumerate(entries):
            data = outputs.setdefault((out, as_file), bytes([out]) * (INLINE_MAX + 1000 + out if as_file else 10 + out))
            dg = s.put_blob(data)
            key = digest_bytes(b"key%d" % i)
            s.put_trace(key, Trace(dg, dg, "bytes@1", len(data), 0.0, created, ""))
            if used is not None:
                s.put_used(key, used)
            if i in heads:
                s.put_head(f"a{i}", Head(key, dg, dg, "c", {}, (), "bytes@1", None, None, created, len(data), 0.0))
        s.flush()
        s.acquire_lock()
        before = dict(s.iter_traces())
        times = {k: max(t.created_ns, u) for k, t in before.items() for u in [s.used_times().get(k, 0)]}
        head_keys = {h.key for h in s.heads().values()}
        r = maint.gc(s, max_size=max_size, older_than_s=None if older is None else older / 1e9,
                     now_ns=2 * 10**6)
        after = dict(s.iter_traces())
        for t in after.values():  # the invariant: every remaining entry's bytes verify
            s.read_blob(t.output_digest)
        assert head_keys <= set(after)
        assert set(before) - set(after) == set(r.dropped_keys)
        dropped_by_size = set(r.dropped_keys) - {k for k in before if older is not None and times[k] < 2 * 10**6 - older}
        kept = [times[k] for k in after if k not in head_keys]
        assert all(times[k] <= min(kept, default=times[k]) for k in dropped_by_size)  # least recent first
        if max_size is not None:  # it fits, or everything but the latest entries went
            assert maint.stats(s)["output_bytes"] <= max_size or kept == []
        referenced = {t.output_digest for t in after.values()}
        assert set(s.inline_blob_sizes()) | {d for d, _p, _n in s.cas_files()} == referenced  # no orphans
