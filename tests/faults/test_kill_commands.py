"""SIGKILL and SIGTERM at seeded random moments of the commands that rewrite the cache besides a
build: ``cache gc`` (drops entries, sweeps, compacts and swaps the index), ``clean`` (deletes
the cache and the outputs), ``accept``, ``cache export``, and a forced parallel build.

The cache starts with four versions of every asset (so gc has entries to drop). The oracle
after every kill: the next build succeeds and its path outputs and data versions equal a clean
build's; ``cache verify`` finds nothing wrong; a build after it runs nothing. A SIGTERM ends
the command with 143 (or it finished first, or died before its handler was in place), never a
traceback. ``ASSETBUILD_TEST_KILL_TRIALS`` (default 1) trials per command and signal in the
quick test, ``ASSETBUILD_TEST_KILL_TRIALS_LONG`` (default 5) in the slow one.
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
from projects import clean_env, cli, cli_cmd, tree_bytes, write

N = 12

COMMANDS = {
    "gc": ("cache", "gc", "--max-size", "0"),
    "clean": ("clean", "--yes"),
    "accept": ("accept", "t3", "--yes"),
    "export": ("cache", "export", "EXPORT"),
    "build-j2": ("-j", "2", "--force"),
}


def _project(root: Path) -> Path:
    lines = ["import hashlib\nfrom assetbuild import asset, source\n\nraw = source('raw', 'raw.txt')\n\n",
             "@asset(io='json')\ndef base(raw):\n    return raw.read_text()\n\n"]
    for i in range(N):
        lines.append(f"@asset(io='text', path='out/t{i}.txt')\ndef t{i}(base):\n    return base * {i + 1}\n\n")
        lines.append(f"@asset(io='bytes')\ndef b{i}(t{i}):\n"
                     f"    return hashlib.sha256(t{i}.encode()).digest() * 3000\n\n")
    return write(root, {"AssetFile": "".join(lines)})


def _versions(root: Path) -> dict[str, str]:
    r = cli("--json", cwd=root)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return {e["asset"]: e["data_version"] for e in json.loads(r.stdout)["results"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, bytes], dict[str, float]]:
    """A project built in four versions (the last is current), what a clean build of it gives,
    and how long each command takes on it (the range of the kill moments)."""
    root = _project(tmp_path_factory.mktemp("built") / "p")
    for v in range(4):
        (root / "raw.txt").write_text(f"version {v}\n" * 40)
        assert cli(cwd=root).returncode == 0
    fresh = _project(tmp_path_factory.mktemp("fresh") / "p")
    shutil.copy(root / "raw.txt", fresh / "raw.txt")
    versions = _versions(fresh)
    durations = {}
    for name, args in COMMANDS.items():
        copy = tmp_path_factory.mktemp(f"time-{name}") / "p"
        shutil.copytree(root, copy, symlinks=True)
        t0 = time.monotonic()
        r = cli(*_args(args, copy), cwd=copy)
        durations[name] = time.monotonic() - t0
        assert r.returncode == 0, (name, r.stderr)
    return root, versions, tree_bytes(fresh), durations


def _args(args: tuple[str, ...], root: Path) -> list[str]:
    return [str(root.parent / "export.tar") if a == "EXPORT" else a for a in args]


def _stderr_once_ended(p: subprocess.Popen, what: str) -> str:
    """The killed command's stderr once it ends; one still running a minute after the signal
    fails the test with every thread's stack (faulthandler, on SIGABRT: ``clean_env`` below
    sets PYTHONFAULTHANDLER), so that a hang says where it waits."""
    try:
        return p.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGABRT)
        err = p.communicate(timeout=30)[1]
        pytest.fail(f"{what}: still running 60 s after the signal; its threads:\n{err}")


def _kill_run(built, tmp_path: Path, name: str, sig: signal.Signals, rng: random.Random, trial: int) -> str:
    src, versions, outputs, durations = built
    root = tmp_path / f"{name}-{sig.name}-{trial}" / "p"
    shutil.copytree(src, root, symlinks=True)
    delay = rng.uniform(0.02, durations[name])
    p = subprocess.Popen(cli_cmd(*_args(COMMANDS[name], root)), cwd=root, env=clean_env(PYTHONFAULTHANDLER="1"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(sig)
    err = _stderr_once_ended(p, f"{name} {sig.name} after {delay:.2f}s")
    what = f"{name} {sig.name} after {delay:.2f}s: exit {p.returncode}"
    if sig == signal.SIGTERM:
        assert p.returncode in (0, 143, -signal.SIGTERM), (what, err)
        assert "Traceback" not in err, (what, err)
        assert not list(root.glob("out/*assetbuild-tmp*")), what  # an interrupt's writer cleans up
    assert _versions(root) == versions, what
    assert tree_bytes(root) == outputs, what
    r = cli("cache", "verify", cwd=root)
    assert r.returncode == 0, (what, r.stdout, r.stderr)
    r = cli(cwd=root)
    assert r.returncode == 0 and r.stdout.startswith("0 built"), (what, r.stdout)
    return what


def _trials(built, tmp_path: Path, trials: int, seed: int) -> None:
    rng = random.Random(seed)
    seen = []
    for name in COMMANDS:
        for sig in (signal.SIGKILL, signal.SIGTERM):
            for trial in range(trials):
                seen.append(_kill_run(built, tmp_path, name, sig, rng, trial))
    print("\n".join(seen))


def test_a_killed_cache_command_leaves_a_cache_whose_next_build_is_right(built, tmp_path):
    _trials(built, tmp_path, int(os.environ.get("ASSETBUILD_TEST_KILL_TRIALS", "1")), seed=20261203)


@pytest.mark.slow
def test_a_killed_cache_command_leaves_a_cache_whose_next_build_is_right_long(built, tmp_path):
    _trials(built, tmp_path, int(os.environ.get("ASSETBUILD_TEST_KILL_TRIALS_LONG", "5")), seed=7)


def test_sigterm_during_path_writes_leaves_no_temp_file(tmp_path):
    """A SIGTERM (or Ctrl-C) that lands as a path output's temp file is created left it in the
    project (within a few tries here): the interrupt came between the create and the writer's
    cleanup, and a later build that wrote nothing there never swept it."""
    src = write(tmp_path / "src", {"AssetFile": "from assetbuild import asset\n\n" + "".join(
        f"@asset(io='text', path='out/p{i}.txt', code_version='1')\ndef p{i}():\n    return 'x' * {i}\n\n"
        for i in range(300))})
    t0 = time.monotonic()
    assert cli(cwd=src).returncode == 0
    duration = time.monotonic() - t0
    rng = random.Random(11)
    for trial in range(30):
        root = tmp_path / f"t{trial}"
        shutil.copytree(src, root, symlinks=True)
        p = subprocess.Popen(cli_cmd("--force"), cwd=root, env=clean_env(PYTHONFAULTHANDLER="1"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        delay = rng.uniform(duration / 3, duration)
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        err = _stderr_once_ended(p, f"trial {trial}: SIGTERM after {delay:.2f}s")
        assert "Traceback" not in err, err
        assert not list(root.glob("out/*assetbuild-tmp*")), (trial, p.returncode)


def _built_twice(root: Path) -> Path:
    """The project built in two versions: gc has entries to drop, and an index to shrink."""
    _project(root)
    for v in range(2):
        (root / "raw.txt").write_text(f"version {v}\n" * 40)
        assert cli(cwd=root).returncode == 0
    return root


def test_a_gc_killed_between_its_renames_leaves_an_index_every_command_reads(tmp_path):
    """A gc killed between its compaction's two renames leaves the whole index as db.old-PID and
    no db/. A build puts it back; a reader took the missing db/ for an empty cache: ``status``
    said every asset was 'never-built', ``cache stats`` counted nothing, and ``clean`` deleted the
    cache, the only copy of the index with it, and left every file it wrote. Readers read the
    index where it is, and write nothing."""
    root = _built_twice(tmp_path / "p")
    written = tree_bytes(root)
    r = cli("cache", "gc", "--max-size", "0", cwd=root, env=clean_env(ASSETBUILD_CRASH_AT="index-swap"))
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    cache = root / ".assetbuild"
    left = sorted(p.name for p in cache.iterdir())
    assert "db" not in left and any(n.startswith("db.old-") for n in left), left
    r = cli("status", "--json", cwd=root)
    assert r.returncode == 0, r.stderr
    assert {s["state"] for s in json.loads(r.stdout)["assets"]} == {"fresh"}, r.stdout
    r = cli("show", "t3", cwd=root)
    assert r.returncode == 0 and r.stdout.rstrip("\n") == (root / "out" / "t3.txt").read_text().rstrip("\n"), r.stderr
    r = cli("cache", "stats", "--json", cwd=root)
    assert r.returncode == 0 and json.loads(r.stdout)["assets"] == 2 * N + 1, r.stdout
    assert sorted(p.name for p in cache.iterdir()) == left  # the readers wrote nothing
    r = cli("clean", "--yes", cwd=root)
    assert r.returncode == 0, r.stderr
    assert f"deleted {len(written)} files" in r.stdout and tree_bytes(root) == {}, r.stdout
    assert not cache.exists()


def test_a_clean_killed_at_each_of_its_deletions_in_the_cache_leaves_a_cache(tmp_path):
    """``clean`` killed before each deletion in the cache directory in turn: what is left is still
    a cache, whose next build rebuilds with no word of damage and leaves a cache that verifies,
    and which a second ``clean`` deletes. clean deleted STORE first: the next build then called
    the index damaged ('it belongs to another cache directory') and moved it aside, while
    ``status`` called the assets fresh. (Deleted after the blobs, the index would point at bytes
    that are gone.)"""
    src = write(tmp_path / "src", {"AssetFile": "from assetbuild import asset, source\n\nraw = source('raw', 'raw.txt')\n\n\n"
                                   "@asset(io='bytes', path='out/a.bin')\ndef a(raw):\n    return raw.read_bytes() * 50_000\n"})
    for v in range(2):  # a blob under cas/ for each, one entry that is no head
        (src / "raw.txt").write_text(f"v{v}")
        assert cli(cwd=src).returncode == 0
    written = tree_bytes(src)
    entries = len(list((src / ".assetbuild").iterdir()))
    for nth in range(1, entries + 1):
        root = tmp_path / f"k{nth}"
        shutil.copytree(src, root, symlinks=True)
        r = cli("clean", "--yes", cwd=root, env=clean_env(ASSETBUILD_CRASH_AT=f"cache-clear:{nth}"))
        assert r.returncode == -signal.SIGKILL, (nth, r.returncode, r.stderr)
        again = tmp_path / f"again{nth}"
        shutil.copytree(root, again, symlinks=True)
        r = cli("clean", "--yes", cwd=again)
        assert r.returncode == 0 and not (again / ".assetbuild").exists(), (nth, r.stderr)
        r = cli(cwd=root)
        assert r.returncode == 0 and r.stderr == "", (nth, r.stdout, r.stderr)  # restored or rebuilt
        assert tree_bytes(root) == written, nth
        r = cli("cache", "verify", cwd=root)
        assert r.returncode == 0, (nth, r.stdout)
