"""Faults across processes, through the real command: a damaged index, kill -9 mid-build, two
builds at once, a cache from a newer assetbuild, and the size of a big project's index.

After every fault the oracle is a clean build in a fresh directory: the same path outputs byte
for byte, and every record in the store pointing at bytes that verify.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from projects import (
    assert_store_verifies,
    clean_env,
    cli,
    cli_cmd,
    generated_project,
    pipeline_project,
    run_counts,
    tree_bytes,
)

from assetbuild.store import LmdbStore

ASSETS = ["step0", "text0", "step1", "text1", "step2", "text2", "step3", "text3", "big", "report"]


def assert_store_consistent(root: Path) -> None:
    assert_store_verifies(root / ".assetbuild", ASSETS)


def no_temp_files(root: Path) -> list[str]:
    """Temp files in the project (the cache's are garbage collection's to sweep)."""
    return [str(p) for p in root.rglob("*assetbuild-tmp*") if ".assetbuild" not in p.relative_to(root).parts]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, bytes]:
    """The path outputs of a clean build (no sleeping: the outputs do not depend on it)."""
    root = pipeline_project(tmp_path_factory.mktemp("reference"))
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    out = tree_bytes(root)
    assert sorted(out) == ["big.bin", "report.txt"] + [f"step{i}.txt" for i in range(4)]
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory, reference) -> Path:
    root = pipeline_project(tmp_path_factory.mktemp("built"))
    assert cli(cwd=root).returncode == 0
    return root


# --- a damaged index --------------------------------------------------------------------------

def _truncate_to(frac: float):
    def damage(db: Path) -> None:
        data = db / "data.mdb"
        size = data.stat().st_size
        os.truncate(data, int(size * frac))
    return damage


def _zero_meta(db: Path) -> None:
    with open(db / "data.mdb", "r+b") as f:
        f.write(bytes(2 * 4096))


def _garbage(db: Path) -> None:
    data = db / "data.mdb"
    data.write_bytes(random.Random(3).randbytes(data.stat().st_size))


def _garbage_after_meta(db: Path) -> None:
    data = db / "data.mdb"
    b = data.read_bytes()
    data.write_bytes(b[: 2 * 4096] + random.Random(4).randbytes(len(b) - 2 * 4096))


INDEX_DAMAGE = {
    "empty": lambda db: os.truncate(db / "data.mdb", 0),
    "one-page": lambda db: os.truncate(db / "data.mdb", 4096),
    "half": _truncate_to(0.5),
    "ninety-percent": _truncate_to(0.9),
    "zeroed-meta-pages": _zero_meta,
    "garbage": _garbage,
    "garbage-after-meta": _garbage_after_meta,
    "no-lock-file": lambda db: (db / "lock.mdb").unlink(),
}


@pytest.mark.parametrize("how", list(INDEX_DAMAGE))
def test_damaged_index_is_moved_aside_and_the_build_is_correct(built, reference, tmp_path, how):
    root = tmp_path / "p"
    shutil.copytree(built, root, symlinks=True)
    (root / "runs").mkdir(exist_ok=True)
    db = root / ".assetbuild" / "db"
    assert (db / "data.mdb").stat().st_size >= 8 * 4096  # big enough for the fractions to differ
    INDEX_DAMAGE[how](db)
    r = cli(cwd=root)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)  # -7 would be SIGBUS
    moved = list((root / ".assetbuild").glob("db.corrupt-*"))
    if how == "no-lock-file":  # not damage: LMDB recreates its reader table
        assert not moved and "damaged" not in r.stderr and "0 built" in r.stdout
    else:
        assert "the cache index was damaged" in r.stderr and "moved it to" in r.stderr, r.stderr
        assert len(moved) == 1
    assert tree_bytes(root) == reference
    assert_store_consistent(root)
    r = cli(cwd=root)
    assert r.returncode == 0 and "0 built" in r.stdout and "damaged" not in r.stderr


# --- kill -9 ----------------------------------------------------------------------------------

def _kill_after(root: Path, delay: float) -> int:
    p = subprocess.Popen(cli_cmd(), cwd=root, env=clean_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
    return p.wait()


def test_kill_9_at_random_moments_then_rebuild_is_correct(tmp_path, reference):
    rng = random.Random(20261122)
    delays = sorted(rng.uniform(0.05, 1.05) for _ in range(5))
    killed = 0
    for i, delay in enumerate(delays):
        root = pipeline_project(tmp_path / f"k{i}", sleep=0.1)  # ten assets: a build takes > 1.05 s
        rc = _kill_after(root, delay)
        killed += rc == -signal.SIGKILL
        if i % 2:  # sometimes the rerun is killed too
            _kill_after(root, rng.uniform(0.05, 0.5))
        r = cli(cwd=root)
        assert r.returncode == 0, (delay, r.stdout, r.stderr)
        assert tree_bytes(root) == reference, delay
        assert_store_consistent(root)
        assert no_temp_files(root) == []
        counts = run_counts(root / "runs")
        assert set(counts) == set(ASSETS) and all(1 <= n <= 3 for n in counts.values()), counts
        r = cli(cwd=root)
        assert r.returncode == 0 and "0 built" in r.stdout, r.stdout
    assert killed == len(delays)


def _writing_unnamed(pid: int, under: Path, min_size: int) -> bool:
    """Whether process ``pid`` is writing a file that has no name yet (O_TMPFILE) below ``under``
    and holds ``min_size`` bytes or more: its /proc link reads ``<directory>/#<inode> (deleted)``."""
    fds = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fds)
    except OSError:
        return False
    for n in names:
        try:
            target = os.readlink(f"{fds}/{n}")
            if (target.startswith(f"{under}{os.sep}") and os.path.basename(target).startswith("#")
                    and target.endswith(" (deleted)") and os.stat(f"{fds}/{n}").st_size >= min_size):
                return True
        except OSError:
            continue
    return False


def _kill_when(root: Path, pattern: str, under: Path, timeout: float = 60) -> None:
    """Start a build and SIGKILL it as soon as a file matching ``pattern`` exists under ``root``,
    or it writes a file of 1 MB or more with no name yet below ``under`` (a new file, where
    O_TMPFILE is)."""
    p = subprocess.Popen(cli_cmd(), cwd=root, env=clean_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    under = under.resolve()
    try:
        while not list(root.glob(pattern)) and not _writing_unnamed(p.pid, under, 1 << 20):
            assert p.poll() is None, "the build ended before the moment to kill it"
            assert time.monotonic() < deadline
            time.sleep(0.0005)
        p.send_signal(signal.SIGKILL)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    assert p.returncode == -signal.SIGKILL


@pytest.mark.parametrize("moment", ["blob", "path"])
def test_kill_9_while_a_large_output_is_being_written(tmp_path, moment):
    big = 48 << 20
    ref = pipeline_project(tmp_path / "ref", big=big)
    assert cli(cwd=ref).returncode == 0
    root = pipeline_project(tmp_path / "p", big=big)
    pattern = ".assetbuild/cas/*/.*.assetbuild-tmp" if moment == "blob" else "out/.big.bin.*.assetbuild-tmp"
    _kill_when(root, pattern, root / (".assetbuild/cas" if moment == "blob" else "out"))
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    assert tree_bytes(root) == tree_bytes(ref)
    assert_store_consistent(root)
    assert no_temp_files(root) == []  # a temp file left next to a path output was taken over
    assert run_counts(root / "runs")["big"] == 2


# --- two builds at once -----------------------------------------------------------------------

SYNC = """
# Both test builds finish loading this file at the same instant, then open the store.
_start = __import__("os").environ.get("TEST_START_AT")
while _start and __import__("time").time() < float(_start):
    pass
"""


def test_two_builds_started_at_once_run_each_asset_once(tmp_path, reference):
    root = pipeline_project(tmp_path / "p", sleep=0.05)
    with open(root / "AssetFile", "a") as f:
        f.write(SYNC)
    for round_ in (1, 2):
        env = clean_env(TEST_START_AT=str(time.time() + 0.6))
        procs = [subprocess.Popen(cli_cmd(), cwd=root, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        stderr = "".join(e for _, e in outs)
        assert "another build or cache command is using" in stderr  # they did overlap; one waited for the other
        assert "damaged" not in stderr
        assert run_counts(root / "runs") == {a: round_ for a in ASSETS}
        if round_ == 1:
            assert tree_bytes(root) == reference
            (root / "data/raw.txt").write_text("5 4 3 2 1\n")
    assert not list((root / ".assetbuild").glob("db.corrupt-*"))
    assert_store_consistent(root)


# --- a cache from a newer assetbuild ----------------------------------------------------------

def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "lock.mdb"}


@pytest.mark.parametrize("where", ["STORE", "index"])
def test_cache_of_a_newer_format_is_refused_untouched(built, tmp_path, where):
    root = tmp_path / "p"
    shutil.copytree(built, root, symlinks=True)
    cache = root / ".assetbuild"
    if where == "STORE":
        info = json.loads((cache / "STORE").read_text())
        (cache / "STORE").write_text(json.dumps(dict(info, format=999)))
    else:
        with LmdbStore(cache) as s:
            s.raw_put("meta", b"format", b"999")
    (root / "out/report.txt").unlink()
    before = _snapshot(cache / "db") | {"STORE": (cache / "STORE").read_bytes()}
    for args in ((), ("status",), ("show", "report")):
        r = cli(*args, cwd=root)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "newer" in r.stderr and "format 999" in r.stderr and "Traceback" not in r.stderr
    assert _snapshot(cache / "db") | {"STORE": (cache / "STORE").read_bytes()} == before
    assert not list(cache.glob("db.corrupt-*"))
    assert not (root / "out/report.txt").exists()  # nothing was built or restored


def test_cache_of_a_newer_format_gets_no_code_cache_written(built, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(built, root, symlinks=True)
    cache = root / ".assetbuild"
    info = json.loads((cache / "STORE").read_text())
    (cache / "STORE").write_text(json.dumps(dict(info, format=999)))
    with open(root / "AssetFile", "a") as f:
        f.write("\n# an edit: this AssetFile has not been compiled into the code cache yet\n")
    before = _snapshot(cache)
    r = cli(cwd=root)
    assert r.returncode == 2 and "newer" in r.stderr
    assert _snapshot(cache) == before


# --- index size -------------------------------------------------------------------------------

N_ASSETS = 10_000


def test_index_of_ten_thousand_assets_stays_small(tmp_path):
    root = generated_project(tmp_path / "big", N_ASSETS)
    t0 = time.perf_counter()
    r = cli("-q", cwd=root)
    cold = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    size = (root / ".assetbuild/db/data.mdb").stat().st_size
    print(f"\n{N_ASSETS} assets: cold build {cold:.2f}s, db/data.mdb {size / 2**20:.1f} MiB")
    assert size < 64 << 20
    r = cli(cwd=root)
    assert r.returncode == 0 and f"0 built, {N_ASSETS} cached" in r.stdout
    assert (root / ".assetbuild/db/data.mdb").stat().st_size == size  # a null build writes nothing


@pytest.mark.parametrize("damage", ["empty", "garbage", "missing"])
def test_a_damaged_store_file_is_named_as_such(built, reference, tmp_path, damage):
    """STORE (the format and the index's identity) unreadable or gone (deleted by hand, or by a
    clean of an earlier version killed after it deleted STORE first): the index cannot be told
    from another cache's, so it is moved aside as before, and the warning says why; it used to
    say the index 'belongs to another cache directory', which sent the user looking for a copy.
    The index alone still marks the directory as a cache."""
    root = tmp_path / "p"
    shutil.copytree(built, root, symlinks=True)
    store = root / ".assetbuild" / "STORE"
    if damage == "missing":
        store.unlink()
    else:
        store.write_bytes(b"" if damage == "empty" else b"\x00{not json")
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    why = "was missing" if damage == "missing" else "could not be read"
    assert f"its identity file {store} {why}" in r.stderr, r.stderr
    assert "another cache directory" not in r.stderr
    assert tree_bytes(root) == reference
    assert_store_consistent(root)
