"""The cache directory on real LMDB files: round trips, batching, map growth, corrupt blobs and
records, damaged index files, format versions, stale readers, concurrent opens."""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetbuild.errors import CacheCorrupt, StoreError
from assetbuild.reports import Head, Trace
from assetbuild.store import INLINE_MAX, STORE_FORMAT, LmdbStore, check_data_file, digest_bytes

REPO = Path(__file__).resolve().parent.parent
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hexd(i: int | str | bytes) -> str:
    return hashlib.sha256(str(i).encode() if not isinstance(i, bytes) else i).hexdigest()


def trace(i: int, meta: str = "") -> Trace:
    return Trace(hexd(("dv", i)), hexd(("out", i)), "json@1", i, 0.5, 1_700_000_000_000 + i, meta)


def head(i: int) -> Head:
    return Head(hexd(("key", i)), hexd(("dv", i)), hexd(("out", i)), "v:1", {"fn": hexd(i)},
                (("up", hexd(i + 1)),), "json@1", f"out/{i}.json", (i, i + 1, i + 2, i + 3), 10 + i, i, 0.25)


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def warnings_of(store_kwargs: dict | None = None):
    seen: list[str] = []
    return seen, dict(store_kwargs or {}, warn=seen.append)


def run_py(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (a process of its own, as LMDB's rules require)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env["PYTHONPATH"] = str(REPO / "src")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


# --- round trips ------------------------------------------------------------------------------

SIZES = st.one_of(st.integers(0, 64), st.integers(INLINE_MAX - 4, INLINE_MAX + 4),
                  st.integers(INLINE_MAX + 5, 3 * INLINE_MAX))


@FAST
@given(sizes=st.lists(SIZES, min_size=1, max_size=6), seed=st.integers(0, 2**32))
def test_blobs_round_trip_inline_and_as_files(sizes, seed):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        blobs = [payload(n, seed + i) for i, n in enumerate(sizes)]
        with LmdbStore(root) as s:
            digests = [s.put_blob(b) for b in blobs]
            assert digests == [digest_bytes(b) for b in blobs]
            for b, dg in zip(blobs, digests):
                assert s.read_blob(dg) == b  # before the flush: from the pending batch
                assert s.has_blob(dg, len(b))
            s.flush()
            for b, dg in zip(blobs, digests):
                assert s.read_blob(dg) == b
        with LmdbStore(root) as s:
            for b, dg in zip(blobs, digests):
                assert s.read_blob(dg) == b
                as_file = s.blob_path(dg)
                assert as_file.exists() == (len(b) > INLINE_MAX), len(b)
                if as_file.exists():
                    assert as_file.read_bytes() == b
        leftovers = [p for p in (root / "cas").rglob("*.assetbuild-tmp")] if (root / "cas").exists() else []
        assert leftovers == []


@FAST
@given(ids=st.lists(st.integers(0, 10_000), min_size=1, max_size=20, unique=True),
       meta=st.text(max_size=200))
def test_records_survive_close_and_reopen(ids, meta):
    with tempfile.TemporaryDirectory() as d:
        with LmdbStore(d) as s:
            for i in ids:
                s.put_trace(hexd(("key", i)), trace(i, meta))
                s.put_head(f"asset_{i}", head(i))
                s.put_stat(f"data/{i}.csv", (i, 2 * i, 3 * i, 4 * i), hexd(("src", i)))
                s.add_history(f"asset_{i}", 1000 + i, hexd(("key", i)))
                s.add_history(f"asset_{i}", 2000 + i, hexd(("key2", i)))
            s.flush()
        with LmdbStore(d, readonly=True) as s:
            for i in ids:
                assert s.get_trace(hexd(("key", i))) == trace(i, meta)
                assert s.get_head(f"asset_{i}") == head(i)
                assert s.get_stat(f"data/{i}.csv") == ((i, 2 * i, 3 * i, 4 * i), hexd(("src", i)))
                assert s.history(f"asset_{i}") == [(1000 + i, hexd(("key", i))), (2000 + i, hexd(("key2", i)))]
            assert s.heads() == {f"asset_{i}": head(i) for i in ids}
            assert dict(s.iter_traces()) == {hexd(("key", i)): trace(i, meta) for i in ids}


def test_history_rows_of_older_stores_are_still_read(tmp_path):
    """History rows were keyed by the asset's prefix and the time alone (24 bytes); a store that
    has them lists them first (by time: they are older than every row written since, which
    are in build order), and gc still drops the rows of the keys it drops."""
    from assetbuild.store.records import DEFAULT_PROJECT, history_prefix

    prefix = history_prefix(DEFAULT_PROJECT, "a")
    with LmdbStore(tmp_path) as s:
        for when, key in ((3000, "old2"), (1000, "old1")):
            s.raw_put("history", prefix + when.to_bytes(8, "big"), bytes.fromhex(hexd(key)))
        s.add_history("a", 500, hexd("new1"))  # (a clock set back since)
        s.add_history("a", 500, hexd("new2"))
        s.flush()
        want = [(1000, hexd("old1")), (3000, hexd("old2")), (500, hexd("new1")), (500, hexd("new2"))]
        assert s.history("a") == want
        s.acquire_lock()
        assert s.trim_history(None, dropped={hexd("old2"), hexd("new1")}).rows == 2
        s.flush()
        assert s.history("a") == [want[0], want[3]]


def test_heads_skip_leaves_heads_out_unread(tmp_path):
    """``heads(skip=...)``: the same heads as ``heads()`` less the skipped ones, of this project
    only; a record that does not decode is left out either way."""
    with LmdbStore(tmp_path, project="/p/one") as s, LmdbStore(tmp_path, project="/p/two") as other:
        for i in range(6):
            s.put_head(f"a{i}", head(i))
        other.put_head("a9", head(9))
        other.flush()
        s.flush()
        s.raw_put("heads", s._head_key("bad"), b"not a head")  # noqa: SLF001 - the project's key
        assert set(s.heads()) == {f"a{i}" for i in range(6)}
        assert s.heads(skip=lambda n: n in {"a1", "a4", "bad"}) == {f"a{i}": head(i) for i in (0, 2, 3, 5)}
        assert s.heads(skip=lambda n: False) == s.heads()
        assert other.heads(skip=lambda n: False) == {"a9": head(9)}


def test_a_cache_whose_path_is_not_utf8_opens_and_compacts(tmp_path):
    """A project folder named with bytes that are not UTF-8 (``os.fsdecode`` gives surrogates):
    the index opens, holds, compacts and reopens there (LMDB was given the str, which its
    binding encodes strictly: a traceback on every command)."""
    root = tmp_path / os.fsdecode(b"caf\xe9") / ".assetbuild"
    try:
        root.mkdir(parents=True)
    except (OSError, UnicodeEncodeError):  # a file system that takes UTF-8 names only
        pytest.skip("this file system refuses a name that is not UTF-8")
    with LmdbStore(root) as s:
        s.put_head("a", head(1))
        s.flush()
        s.compact()
    with LmdbStore(root) as s:
        assert s.get_head("a") == head(1)


def test_deletes_and_unflushed_writes(tmp_path):
    with LmdbStore(tmp_path) as s:
        s.put_trace(hexd(1), trace(1))
        s.put_head("a", head(1))
        s.flush()
        s.delete_trace(hexd(1))
        s.delete_head("a")
        assert s.get_trace(hexd(1)) is None and s.get_head("a") is None  # pending deletes are visible
        s.flush()
        s.put_trace(hexd(2), trace(2))  # never flushed: a crash or close loses it, nothing else
    with LmdbStore(tmp_path) as s:
        assert s.get_trace(hexd(1)) is None and s.get_head("a") is None and s.get_trace(hexd(2)) is None


def test_flush_commits_one_transaction_per_batch(tmp_path):
    with LmdbStore(tmp_path) as s:
        before = s.index_info()["last_txnid"]
        for i in range(500):
            s.put_trace(hexd(i), trace(i))
            s.put_blob(b"small %d" % i)
        assert s.pending == 1000
        s.flush()
        assert s.index_info()["last_txnid"] == before + 1
        assert s.pending == 0
        s.flush()  # nothing pending: no transaction
        assert s.index_info()["last_txnid"] == before + 1


def test_maybe_flush_commits_when_the_batch_is_old_or_large(tmp_path):
    with LmdbStore(tmp_path) as s:
        s.flush()
        txn = s.index_info()["last_txnid"]
        s.put_trace(hexd(1), trace(1))
        s.maybe_flush(interval_s=3600, max_pending=10)
        assert s.pending == 1 and s.index_info()["last_txnid"] == txn  # young and small: kept
        for i in range(2, 11):
            s.put_trace(hexd(i), trace(i))
        s.maybe_flush(interval_s=3600, max_pending=10)
        assert s.pending == 0 and s.index_info()["last_txnid"] == txn + 1  # large: committed
        s.put_trace(hexd(11), trace(11))
        time.sleep(0.02)
        s.maybe_flush(interval_s=0.01, max_pending=10)
        assert s.pending == 0 and s.index_info()["last_txnid"] == txn + 2  # old: committed
        s.maybe_flush(interval_s=0, max_pending=1)
        assert s.index_info()["last_txnid"] == txn + 2  # nothing pending: nothing to commit


def test_map_grows_from_64_kib(tmp_path):
    n = 4000
    with LmdbStore(tmp_path, map_size=64 * 1024) as s:
        assert s.index_info()["map_size"] == 64 * 1024
        for i in range(n):
            s.put_trace(hexd(("k", i)), trace(i, "m" * 200))
            s.put_head(f"a{i}", head(i))
            s.put_blob(payload(2000, i))
            s.maybe_flush(interval_s=3600, max_pending=700)
        s.put_blob(payload(INLINE_MAX, -1))  # one inline blob bigger than the initial map
        s.flush()
        grown = s.index_info()["map_size"]
        assert grown > 64 * 1024
    with LmdbStore(tmp_path, map_size=64 * 1024) as s:
        assert all(s.get_trace(hexd(("k", i))) == trace(i, "m" * 200) for i in range(n))
        assert all(s.read_blob(digest_bytes(payload(2000, i))) == payload(2000, i) for i in range(0, n, 97))
        assert s.read_blob(digest_bytes(payload(INLINE_MAX, -1))) == payload(INLINE_MAX, -1)


# --- corrupt blobs and records ----------------------------------------------------------------

def _flip(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x01
    p.write_bytes(bytes(b))


DAMAGE = {
    "flip": _flip,
    "truncate": lambda p: p.write_bytes(p.read_bytes()[:-1]),
    "append": lambda p: p.write_bytes(p.read_bytes() + b"\0"),
    "delete": lambda p: p.unlink(),
    "other-blob": lambda p: p.write_bytes(payload(INLINE_MAX + 10, 999)),
    "empty": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_damaged_file_blob_raises_cache_corrupt_and_is_dropped(tmp_path, how):
    data = payload(INLINE_MAX + 1000, 1)
    with LmdbStore(tmp_path) as s:
        dg = s.put_blob(data)
        s.flush()
    DAMAGE[how](tmp_path / "cas" / dg[:2] / dg[2:])
    with LmdbStore(tmp_path, readonly=True) as ro:
        with pytest.raises(CacheCorrupt):
            ro.read_blob(dg)
        if how != "delete":
            assert ro.blob_path(dg).exists()  # a read-only store reports, writes nothing
    with LmdbStore(tmp_path) as s:
        with pytest.raises(CacheCorrupt) as e:
            s.read_blob(dg)
        assert e.value.digest == dg
        assert not s.blob_path(dg).exists()  # dropped: never served again
        assert not s.has_blob(dg, len(data))
        s.put_blob(data)  # storing the same bytes again repairs it
        assert s.read_blob(dg) == data


def test_put_blob_over_a_same_size_corrupt_file_repairs_it(tmp_path):
    data = payload(INLINE_MAX + 5, 2)
    with LmdbStore(tmp_path) as s:
        dg = s.put_blob(data)
        _flip(s.blob_path(dg))
        s.put_blob(data)  # a file of the right size is not taken on trust: it is rewritten
        assert s.blob_path(dg).read_bytes() == data
        assert s.read_blob(dg) == data
        ino = s.blob_path(dg).stat().st_ino
        s.put_blob(data)  # the right bytes already there: nothing written
        assert s.blob_path(dg).stat().st_ino == ino


def test_a_build_repairs_a_corrupt_blob_of_the_right_size(tmp_path):
    """A new key with the same large output: the build's write of the blob
    finds a damaged file of the right size and replaces it (the old code kept it)."""
    from projects import Project

    p = Project(tmp_path)
    p.assetfile('''
        import os
        @asset(io="bytes", code_version=os.environ.get("V", "1"))
        def big():
            return b"x" * 200_000
    ''')
    assert p.built() == ["big"]
    with LmdbStore(tmp_path / ".assetbuild", readonly=True) as s:
        path = s.blob_path(s.get_head("big").output_digest)
    _flip(path)
    os.environ["V"] = "2"
    try:
        assert p.built() == ["big"]  # a new key, the same bytes
    finally:
        del os.environ["V"]
    assert path.read_bytes() == b"x" * 200_000


def test_corrupt_inline_blob_is_detected_and_dropped(tmp_path):
    data = b"a small value"
    with LmdbStore(tmp_path) as s:
        dg = s.put_blob(data)
        s.flush()
        # Damage the stored bytes in place, through LMDB itself (no file to flip for inline blobs).
        s.raw_put("blobs", bytes.fromhex(dg), b"a smell value")
        with pytest.raises(CacheCorrupt):
            s.read_blob(dg)
        s.flush()
    with LmdbStore(tmp_path) as s:
        with pytest.raises(CacheCorrupt, match="missing"):
            s.read_blob(dg)


@pytest.mark.parametrize("raw", [b"", b"\xff\x00garbage", b"\xe9\x01\x00\x00\x00", b"i\x01\x00\x00\x00"])
def test_undecodable_records_read_as_absent(tmp_path, raw):
    with LmdbStore(tmp_path) as s:
        s.put_trace(hexd(1), trace(1))
        s.put_head("a", head(1))
        s.put_stat("f", (1, 2, 3, 4), hexd(5))
        s.flush()
        s.raw_put("traces", bytes.fromhex(hexd(1)), raw)
        s.raw_put("heads", b"a", raw)
        s.raw_put("stat", b"f", raw)
        assert s.get_trace(hexd(1)) is None and s.get_head("a") is None and s.get_stat("f") is None
        assert s.heads() == {} and list(s.iter_traces()) == []


# --- a damaged index --------------------------------------------------------------------------

def _filled_index(root: Path, n: int = 3000) -> Path:
    with LmdbStore(root) as s:
        for i in range(n):
            s.put_trace(hexd(("k", i)), trace(i, "x" * 300))
        s.flush()
    return root / "db" / "data.mdb"


def test_size_check_flags_every_truncation_without_mapping_the_file(tmp_path):
    """notes §1.7: a file shorter than (last_pgno + 1) * page size is truncated (SIGBUS if read)."""
    data = _filled_index(tmp_path)
    full = data.read_bytes()
    assert check_data_file(data.parent) is None
    psize = 4096
    sizes = {0, 1, 100, psize - 1, psize, psize + 200, 2 * psize, 2 * psize + 1, len(full) // 2,
             len(full) * 9 // 10, len(full) - psize, len(full) - 1}
    sizes |= set(random.Random(7).sample(range(len(full)), 40))
    for size in sorted(sizes):
        data.write_bytes(full[:size])
        assert check_data_file(data.parent) is not None, size
    data.write_bytes(full + b"\0" * psize)  # longer than needed is fine (pages of an older transaction)
    assert check_data_file(data.parent) is None


@pytest.mark.parametrize("page", [0, 1])
def test_size_check_flags_a_damaged_meta_page(tmp_path, page):
    data = _filled_index(tmp_path, 10)
    b = bytearray(data.read_bytes())
    b[page * 4096: page * 4096 + 4096] = bytes(4096)
    data.write_bytes(bytes(b))
    assert "meta page" in check_data_file(data.parent)


OPEN_AND_READ = """
    import sys
    from assetbuild.store import LmdbStore
    from assetbuild.reports import Trace
    s = LmdbStore(sys.argv[1], warn=lambda m: print("WARN", m))
    n = sum(1 for _ in s.iter_traces())
    s.put_trace("ab" * 32, Trace("d" * 64, "e" * 64, "json@1", 1, 0.0, 1, ""))
    s.flush()
    s.close()
    s = LmdbStore(sys.argv[1], readonly=True)
    assert s.get_trace("ab" * 32) is not None
    print("TRACES", n)
"""


def _scramble_data_pages(p: Path, seed: int, flips: int | None) -> None:
    r = random.Random(seed)
    b = bytearray(p.read_bytes())
    if flips is None:
        b[2 * 4096:] = r.randbytes(len(b) - 2 * 4096)
    else:
        for _ in range(flips):
            b[r.randrange(2 * 4096, len(b))] = r.randrange(256)
    p.write_bytes(bytes(b))


@pytest.mark.parametrize("seed", range(3))
def test_garbage_data_pages_are_detected_and_moved_aside(tmp_path, seed):
    data = _filled_index(tmp_path)
    _scramble_data_pages(data, seed, None)
    r = run_py(OPEN_AND_READ, str(tmp_path))
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "WARN the cache index was damaged" in r.stdout and list(tmp_path.glob("db.corrupt-*"))


@pytest.mark.parametrize("seed, noticed", [(0, False), (1, True)])
def test_byte_flips_in_data_pages_are_survived(tmp_path, seed, noticed):
    """LMDB has no checksums: a few flipped bytes show up (if at all) while reading, as an LMDB
    error (index moved aside mid-run) or a record that does not decode (read as absent).
    Not a guarantee for any damage: with 500 flips 1 seed in 30 crashed LMDB with SIGBUS."""
    data = _filled_index(tmp_path)
    _scramble_data_pages(data, seed, 64)
    r = run_py(OPEN_AND_READ, str(tmp_path))
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)  # no signal, no traceback
    moved = bool(list(tmp_path.glob("db.corrupt-*")))
    assert ("WARN the cache index was damaged" in r.stdout) == moved == noticed
    if not noticed:  # the flips hit record values: those records read as absent, the rest as stored
        assert 2900 < int(r.stdout.split("TRACES")[1]) < 3000


def test_readonly_store_reads_a_damaged_index_as_empty(tmp_path):
    data = _filled_index(tmp_path, 100)
    data.write_bytes(data.read_bytes()[: len(data.read_bytes()) // 2])
    seen, kw = warnings_of()
    with LmdbStore(tmp_path, readonly=True, **kw) as s:
        assert s.get_trace(hexd(("k", 1))) is None and s.heads() == {}
    assert seen and "reading it as empty" in seen[0]
    assert not list(tmp_path.glob("db.corrupt-*"))  # a reader moves nothing


def test_readonly_store_on_a_missing_directory_creates_nothing(tmp_path):
    with LmdbStore(tmp_path / "nope", readonly=True) as s:
        assert s.get_head("a") is None and s.heads() == {}
        with pytest.raises(CacheCorrupt):
            s.read_blob(hexd(1))
    assert not (tmp_path / "nope").exists()


def test_index_of_another_cache_or_without_identity_is_moved_aside(tmp_path):
    _filled_index(tmp_path, 100)
    info = json.loads((tmp_path / "STORE").read_text())
    (tmp_path / "STORE").write_text(json.dumps({"format": STORE_FORMAT, "db_id": "0" * 32}))
    seen, kw = warnings_of()
    with LmdbStore(tmp_path, **kw) as s:
        assert s.get_trace(hexd(("k", 1))) is None
    assert "another cache directory" in seen[0]
    assert list(tmp_path.glob("db.corrupt-*"))
    (tmp_path / "STORE").write_text(json.dumps(info))


# --- format versions --------------------------------------------------------------------------

def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "lock.mdb":  # LMDB's reader table: not cache content
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def test_newer_store_file_format_is_refused_untouched(tmp_path):
    _filled_index(tmp_path, 10)
    (tmp_path / "STORE").write_text(json.dumps({"format": 999, "db_id": "x"}))
    before = _snapshot(tmp_path)
    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer assetbuild.*format 999"):
            LmdbStore(tmp_path, readonly=readonly)
    assert _snapshot(tmp_path) == before


def test_newer_index_format_is_refused_untouched(tmp_path):
    with LmdbStore(tmp_path) as s:
        s.put_trace(hexd(1), trace(1))
        s.flush()
        s.raw_put("meta", b"format", b"999")
    before = _snapshot(tmp_path)
    for readonly in (False, True):
        with pytest.raises(StoreError, match="format 999, newer"):
            LmdbStore(tmp_path, readonly=readonly)
    assert _snapshot(tmp_path) == before
    assert not list(tmp_path.glob("db.corrupt-*"))


def _records(root: Path) -> dict[tuple[bytes, bytes], bytes]:
    """Every record of the index at ``root``, by (database, key), read with LMDB directly."""
    env = lmdb.open(str(root / "db"), readonly=True, lock=False, max_dbs=32)
    try:
        out = {}
        with env.begin() as txn:
            for name, _ in txn.cursor():
                db = env.open_db(bytes(name), txn=txn, create=False)
                out.update({(bytes(name), bytes(k)): bytes(v) for k, v in txn.cursor(db=db)})
        return out
    finally:
        env.close()


@pytest.mark.parametrize("old", [1, 2, 3])
def test_a_cache_of_an_older_format_is_read_then_upgraded_in_place_when_written(tmp_path, monkeypatch, old):
    """Format 2 keys history rows by build order, then time: format 1 versions (all before it)
    read that as a time (dates in the year 3193, crashes); format 3 keeps dynamic partition keys
    per project, which format 2 versions call damaged; format 4 keeps them in a file of its own,
    which format 3 versions do not read. A cache of format 1, as they left it (rows keyed by time
    alone) or as a later version did before it recorded its format (both kinds of rows), or of
    format 2 or 3, is read as it is; a writable open records this version's format in
    STORE and in the index, and changes nothing else; the older version then refuses the cache
    with its clear message."""
    from assetbuild.reports import RunRecord
    from assetbuild.store import environment
    from assetbuild.store.records import DEFAULT_PROJECT, history_prefix

    with LmdbStore(tmp_path) as s:
        s.acquire_lock()
        s.put_trace(hexd(("key", 1)), trace(1))
        s.put_head("a", head(1))
        s.raw_put("history", history_prefix(DEFAULT_PROJECT, "a") + (1000).to_bytes(8, "big"), bytes.fromhex(hexd(0)))
        s.add_history("a", 2000, hexd(1))
        s.put_run(RunRecord(s.next_run_seq(), "assetbuild build", (), 1, 2, {"built": 1}, 0, {}))
        s.flush()
        s.raw_put("meta", b"format", str(old).encode())
    info = json.loads((tmp_path / "STORE").read_text())
    (tmp_path / "STORE").write_text(json.dumps(dict(info, format=old)))
    before, files = _records(tmp_path), _snapshot(tmp_path)

    def contents() -> tuple:
        with LmdbStore(tmp_path, readonly=True) as s:
            return s.get_head("a"), s.history("a"), s.runs(), s.get_trace(hexd(("key", 1)))

    seen = contents()
    assert seen[1] == [(1000, hexd(0)), (2000, hexd(1))] and len(seen[2]) == 1 and seen[0] == head(1)
    assert _snapshot(tmp_path) == files  # a reader leaves it as it is
    LmdbStore(tmp_path).close()  # a writer (a build) upgrades it
    assert json.loads((tmp_path / "STORE").read_text()) == dict(info, format=STORE_FORMAT) and STORE_FORMAT == 4
    after = _records(tmp_path)
    assert after.pop((b"meta", b"format")) == b"4" and before.pop((b"meta", b"format")) == str(old).encode()
    assert after == before and contents() == seen
    monkeypatch.setattr(environment, "STORE_FORMAT", old)  # an assetbuild of that format
    for readonly in (True, False):
        with pytest.raises(StoreError, match=rf"written by a newer assetbuild \(store format 4, this one reads {old}\)"):
            LmdbStore(tmp_path, readonly=readonly)
    (tmp_path / "STORE").write_text(json.dumps(dict(info, format=old)))  # (its index says so too)
    with pytest.raises(StoreError, match="has format 4, newer than this assetbuild reads"):
        LmdbStore(tmp_path, readonly=True)


# --- processes --------------------------------------------------------------------------------

HOLDER = """
    import sys, time, lmdb
    env = lmdb.open(sys.argv[1] + "/db", max_dbs=10, map_size=1 << 30, max_readers=1024)
    print("ready", flush=True)
    time.sleep(60)
"""

STALE_READER = """
    import sys, time
    from assetbuild.store import LmdbStore
    s = LmdbStore(sys.argv[1])
    assert s.get_trace("ab" * 32) is not None  # opens a read transaction and keeps it
    print("reading", flush=True)
    time.sleep(60)
"""


def _popen_py(code: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env["PYTHONPATH"] = str(REPO / "src")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            text=True, env=env)


@contextlib.contextmanager
def _a_dead_reader(tmp_path):
    """A store with one record, a live process holding the environment open, and a reader that
    was SIGKILLed in the middle of a read transaction (its slot is left in the lock table)."""
    with LmdbStore(tmp_path) as s:
        s.put_trace("ab" * 32, trace(0, "x" * 50_000))
        s.flush()
    holder = _popen_py(HOLDER, str(tmp_path))
    reader = None
    try:
        assert holder.stdout.readline().strip() == "ready"
        reader = _popen_py(STALE_READER, str(tmp_path))
        assert reader.stdout.readline().strip() == "reading"
        os.kill(reader.pid, signal.SIGKILL)
        reader.wait()
        yield reader.pid
    finally:
        for p in (holder, reader):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
            if p is not None:
                p.stdout.close()


def test_stale_reader_of_a_killed_process_is_cleared_and_the_file_stays_small(tmp_path):
    """notes §1.4: a SIGKILLed reader's slot pins old pages while another process keeps the
    environment open; reader_check() at open clears it, so repeated updates reuse pages."""
    with _a_dead_reader(tmp_path) as dead_pid, LmdbStore(tmp_path) as s:
        assert dead_pid not in s.reader_pids()  # the open cleared the dead reader's slot
        start = s.file_size()
        for i in range(200):
            s.put_trace("ab" * 32, trace(i, "x" * 50_000))
            s.flush()
        end = s.file_size()
    # Pinned pages would add ~50 KB per update (10 MB); reused pages keep it within a few.
    print(f"\nwith reader_check: {start} -> {end} bytes")
    assert end - start < 1 << 20, (start, end)


def test_stale_reader_premise_without_reader_check(tmp_path):
    """The control for the test above: without reader_check() the same updates do grow the file."""
    with _a_dead_reader(tmp_path):
        env = lmdb.open(str(tmp_path / "db"), max_dbs=10, map_size=1 << 30)
        try:
            db = env.open_db(b"traces")
            start = os.path.getsize(tmp_path / "db" / "data.mdb")
            for i in range(60):
                with env.begin(write=True, db=db) as txn:
                    txn.put(bytes.fromhex("ab" * 32), b"y" * 50_000 + bytes([i]))
            grown = os.path.getsize(tmp_path / "db" / "data.mdb") - start
        finally:
            env.close()
    print(f"\nwithout reader_check: grew {grown} bytes")
    assert grown > 2 << 20, grown


RACER = """
    import sys, time
    from assetbuild.store import LmdbStore
    from assetbuild.reports import Trace
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    s = LmdbStore(sys.argv[1], warn=lambda m: print("WARN", m))
    s.acquire_lock()
    s.put_trace(sys.argv[3] * 32, Trace("d" * 64, "e" * 64, "json@1", 1, 0.0, 1, ""))
    s.flush()
    s.close()
"""


def test_two_processes_creating_one_cache_at_once_keep_both_writes(tmp_path):
    """Without the open lock, each wrote its own STORE id and one moved the other's index aside."""
    for round_ in range(6):
        root = tmp_path / f"c{round_}"
        start = str(time.time() + 0.4)
        procs = [_popen_py(RACER, str(root), start, tag) for tag in ("aa", "bb")]
        outs = [p.communicate(timeout=60)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        assert "WARN" not in "".join(outs), outs
        with LmdbStore(root, readonly=True) as s:
            assert s.get_trace("aa" * 32) is not None and s.get_trace("bb" * 32) is not None
        assert not list(root.glob("db.corrupt-*"))


def test_build_lock_makes_a_second_build_wait(tmp_path):
    with LmdbStore(tmp_path) as a:
        a.acquire_lock()
        waited = []
        code = """
            import sys, time
            from assetbuild.store import LmdbStore
            s = LmdbStore(sys.argv[1])
            t = time.monotonic()
            s.acquire_lock(on_wait=lambda: print("waiting", flush=True))
            print("got", round(time.monotonic() - t, 2), s.get_trace("cd" * 32) is not None, flush=True)
        """
        p = _popen_py(code, str(tmp_path))
        waited.append(p.stdout.readline().strip())
        a.put_trace("cd" * 32, trace(3))
        a.flush()
        time.sleep(0.3)
        a.release_lock()
        line = p.stdout.readline().split()
        p.wait(timeout=30)
        p.stdout.close()
    assert waited == ["waiting"]
    assert line[0] == "got" and float(line[1]) >= 0.25 and line[2] == "True"  # sees what the first wrote


# --- end to end: a corrupt blob in a build ----------------------------------------------------

CORRUPTIBLE = """
import hashlib, os

def _seen(name, data):
    with open(os.path.join(LOG, name), "a") as f:
        f.write(hashlib.sha256(data).hexdigest() + "\\n")

@asset(io="bytes")
def upstream():
    _seen("upstream", b"")
    return bytes(range(256)) * 800  # 200 KiB: a file under cas/

@asset(io="json")
def downstream(upstream):
    _seen("downstream", upstream)  # what it was given
    return [len(upstream), VERSION]
"""


def _build(project):
    import io

    from assetbuild.output import Reporter

    err = io.StringIO()
    r = project.build(reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2))
    return r, err.getvalue()


def test_build_with_a_corrupt_upstream_blob_rebuilds_it_and_never_loads_bad_bytes(project):
    import assetbuild

    good = bytes(range(256)) * 800
    (project.root / "log").mkdir()
    text = f"LOG = {str(project.root / 'log')!r}\nVERSION = 1\n" + CORRUPTIBLE
    project.assetfile(text)
    r, _ = _build(project)
    assert r.names("built") == ["upstream", "downstream"]
    blob = project.root / ".assetbuild" / "cas" / digest_bytes(good)[:2] / digest_bytes(good)[2:]
    assert blob.read_bytes() == good
    _flip(blob)  # same size: the cheap presence check cannot see it

    with pytest.raises(CacheCorrupt):
        assetbuild.load_value("upstream", project_dir=project.root)
    assert blob.exists()  # load_value reads through a read-only store: it reports, changes nothing

    project.assetfile(text.replace("VERSION = 1", "VERSION = 2"))  # downstream must run: needs upstream
    r, err = _build(project)
    assert r.ok, r.results
    assert r.names("built") == ["upstream", "downstream"]
    assert "could not be used" in err and "upstream" in err  # the warning names the asset
    seen = (project.root / "log" / "downstream").read_text().split()
    assert seen == [digest_bytes(good)] * 2  # it was never handed the corrupt bytes
    assert len((project.root / "log" / "upstream").read_text().split()) == 2
    assert blob.read_bytes() == good  # repaired
    assert assetbuild.load_value("upstream", project_dir=project.root) == good
    assert assetbuild.load_value("downstream", project_dir=project.root) == [len(good), 2]
    r, _ = _build(project)
    assert r.names("cached") == ["upstream", "downstream"]


def test_build_with_a_truncated_blob_reruns_its_asset(project):
    import assetbuild

    good = bytes(range(256)) * 800
    (project.root / "log").mkdir()
    project.assetfile(f"LOG = {str(project.root / 'log')!r}\nVERSION = 1\n" + CORRUPTIBLE)
    _build(project)
    blob = project.root / ".assetbuild" / "cas" / digest_bytes(good)[:2] / digest_bytes(good)[2:]
    blob.write_bytes(good[:1000])
    with pytest.raises(CacheCorrupt):
        assetbuild.load_value("upstream", project_dir=project.root)
    r, _ = _build(project)  # a size mismatch is seen without reading: upstream runs, downstream is cut off
    assert r.names("built") == ["upstream"] and r.names("cached") == ["downstream"]
    assert assetbuild.load_value("upstream", project_dir=project.root) == good


def test_two_stores_on_one_index_in_one_process_share_it(tmp_path):
    """LMDB refuses a second open of an environment in one process ("already open in this
    process"); the old code took that for damage and moved the healthy index aside."""
    seen, kw = warnings_of()
    with LmdbStore(tmp_path, **kw) as writer:
        writer.put_trace(hexd(("key", 1)), trace(1))
        writer.flush()
        with LmdbStore(tmp_path, readonly=True, **kw) as reader:
            assert reader.get_trace(hexd(("key", 1))) == trace(1)
        with LmdbStore(tmp_path, **kw) as other:
            other.put_trace(hexd(("key", 2)), trace(2))
            other.flush()
        writer.put_trace(hexd(("key", 3)), trace(3))
        writer.flush()
    assert seen == [] and not list(tmp_path.glob("db.*"))
    with LmdbStore(tmp_path, readonly=True) as s:
        assert [s.get_trace(hexd(("key", i))) for i in (1, 2, 3)] == [trace(1), trace(2), trace(3)]


def test_a_reader_sharing_the_environment_survives_the_map_growing(tmp_path):
    """Growing the map invalidates every transaction on the (shared) environment, including a
    reader's in another store of this process: it takes a new one."""
    with LmdbStore(tmp_path, map_size=1 << 20) as writer:
        writer.put_trace(hexd(("key", 0)), trace(0))
        writer.flush()
        with LmdbStore(tmp_path, readonly=True) as reader:
            assert reader.get_trace(hexd(("key", 0))) == trace(0)  # its read transaction is open
            for i in range(1, 3000):
                writer.put_trace(hexd(("key", i)), trace(i, "x" * 500))
            writer.flush()
            assert writer.index_info()["map_size"] > 1 << 20
            assert reader.get_trace(hexd(("key", 0))) == trace(0)
            assert reader.get_trace(hexd(("key", 2999))) == trace(2999, "x" * 500)


def test_head_entry_is_the_heads_key_and_versions_or_none(tmp_path: Path) -> None:
    """The null build's lean read of a head agrees with get_head, before and after a flush, and
    says None where get_head does (no head, a record that does not decode)."""
    s = LmdbStore(tmp_path)
    try:
        assert s.head_entry("a") is None
        h = head(3)
        s.put_head("a", h)
        want = (h.key, h.data_version, h.output_digest, h.size, h.path_stat)
        assert s.head_entry("a") == want  # from the batch
        s.flush()
        assert s.head_entry("a") == want  # from LMDB
        s.put_head("p", h._replace(path_stat=(1, 2, 3, 4)))
        assert s.head_entry("p")[4] == (1, 2, 3, 4)  # a path output's recorded signature
        assert s.head_entry("b") is None
        s.raw_put("heads", b"b", b"\x00not marshal")
        s.raw_put("heads", b"c", marshal.dumps((1, "k", "d")))  # a record too short to be a head
        s.flush()
        for name in ("b", "c"):
            assert s.head_entry(name) is None and s.get_head(name) is None
    finally:
        s.close()
