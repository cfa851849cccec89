"""SIGKILL at named points of a write (``ASSETBUILD_CRASH_AT``, see assetbuild/crashpoints.py) and
at random moments; after each, a rebuild must equal a clean build byte for byte.

The project (``pipeline_project``) has json values, path outputs (renamed into place), a blob
larger than the index keeps inline (a file under ``cas/``), and every build writes to a real
``file://`` remote cache. The oracle after every crash:

- the next build succeeds; its path outputs and its stored values (``load_value``, what
  ``assetbuild show`` prints) equal a clean build's; every record in the index verifies; no temp
  file is left beside an output; a build after it runs nothing;
- a fresh checkout with an empty cache, reading the remote, gets the same outputs and values.

Random kills: ``ASSETBUILD_TEST_KILL_TRIALS`` (default 2) trials in the quick test,
``ASSETBUILD_TEST_KILL_TRIALS_LONG`` (default 12) in the slow one. Each prints its counts.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from projects import (
    assert_store_verifies,
    clean_env,
    cli,
    end_group,
    pipeline_project,
    start_cli,
    stored_values,
    temp_leftovers,
    tree_bytes,
)

from assetbuild import atomicfile

WIDTH = 2
UNNAMED = atomicfile._unnamed_ok  # new files are written with no name (O_TMPFILE), linked when whole
ASSETS = [f"{k}{i}" for i in range(WIDTH) for k in ("step", "text")] + ["big", "report"]
MODES = {"serial": ("-j", "1"), "processes": ("-j", "2", "--executor", "processes"),
         "threads": ("-j", "2", "--executor", "threads")}


def _env(remote: Path, **extra: str) -> dict[str, str]:
    env = clean_env(ASSETBUILD_REMOTE=f"file://{remote}", ASSETBUILD_CACHE_KEY="k3y", **extra)
    env.pop("ASSETBUILD_CRASH_AT", None)
    env.update(extra)
    return env


def _snapshot(root: Path) -> tuple[dict[str, bytes], dict[str, object]]:
    return tree_bytes(root), stored_values(root, ASSETS)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict[str, bytes], dict[str, object]]:
    """Outputs and values of a clean build, no remote, nothing killed."""
    root = pipeline_project(tmp_path_factory.mktemp("reference"), width=WIDTH)
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    snap = _snapshot(root)
    assert sorted(snap[0]) == ["big.bin", "report.txt", "step0.txt", "step1.txt"]
    return snap


def assert_recovers(root: Path, remote: Path, reference, *, tag: str, sleep: float = 0.0) -> None:
    """The oracle: a rebuild here, and a fresh checkout reading the remote, equal a clean build."""
    r = cli(cwd=root, env=_env(remote))
    assert r.returncode == 0, (tag, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, (tag, r.stderr)
    assert _snapshot(root) == reference, tag
    assert_store_verifies(root / ".assetbuild", ASSETS)
    assert temp_leftovers(root / "out") == [], tag
    r = cli(cwd=root, env=_env(remote))
    assert r.returncode == 0 and "0 built" in r.stdout, (tag, r.stdout, r.stderr)

    fresh = pipeline_project(root.parent / f"{root.name}-fresh", width=WIDTH, sleep=sleep)
    r = cli(cwd=fresh, env=_env(remote))
    assert r.returncode == 0, (tag, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, (tag, r.stderr)
    assert _snapshot(fresh) == reference, tag
    assert_store_verifies(fresh / ".assetbuild", ASSETS)
    shutil.rmtree(fresh)


# --- crash points -----------------------------------------------------------------------------

# (point, nth, mode): crash the nth time the build reaches the point. A build of this project
# reaches store-commit once (more while its assets take time: the test makes them sleep),
# blob-write once (big), path-rename four times and remote-upload twelve times (each asset's
# blob, then its record). Four run by default.
CRASHES = [
    ("store-commit", 1, "serial"), ("store-commit", 2, "serial"), ("store-commit", 1, "processes"),
    ("blob-write", 1, "serial"), ("blob-write", 1, "threads"),
    ("path-rename", 1, "serial"), ("path-rename", 3, "serial"), ("path-rename", 4, "processes"),
    ("remote-upload", 1, "serial"), ("remote-upload", 2, "serial"), ("remote-upload", 5, "threads"),
    ("remote-upload", 9, "serial"),
]
_QUICK = {("store-commit", 1, "serial"), ("blob-write", 1, "serial"), ("path-rename", 3, "serial"),
          ("remote-upload", 2, "serial")}


def _crash(root: Path, remote: Path, spec: str, mode: str) -> tuple[int, str]:
    """A build with ``ASSETBUILD_CRASH_AT=spec``: its exit status and output."""
    log = root.parent / f"{root.name}-crash.log"  # not a pipe: a killed build's workers may hold it open
    with open(log, "w") as f:
        p = start_cli(*MODES[mode], cwd=root, env=_env(remote, ASSETBUILD_CRASH_AT=spec), stdout=f,
                      stderr=subprocess.STDOUT)
        try:
            p.wait(timeout=120)
        finally:
            end_group(p)
    return p.returncode, log.read_text()


@pytest.mark.parametrize("point,nth,mode", [
    pytest.param(*c, id=f"{c[0]}:{c[1]}-{c[2]}", marks=() if c in _QUICK else pytest.mark.slow) for c in CRASHES])
def test_crash_at_a_named_point_then_rebuild_equals_a_clean_build(tmp_path, reference, point, nth, mode):
    # A later index commit needs a build that lasts: commits come every 0.25 s while assets run.
    sleep = 0.3 if point == "store-commit" and nth > 1 else 0.0
    root = pipeline_project(tmp_path / "p", width=WIDTH, sleep=sleep)
    remote = tmp_path / "remote"
    rc, out = _crash(root, remote, f"{point}:{nth}", mode)
    assert rc == -signal.SIGKILL, f"{point}:{nth} was not reached: {out}"
    # Killed between writing a file and putting it in place: a new file (all of them, in this
    # cold build) has no name yet where O_TMPFILE is, else it is a temp file; either way the file
    # being written is not in place.
    if point == "path-rename":
        names = [p.name for p in (root / "out").iterdir()]
        assert len([n for n in names if "assetbuild-tmp" not in n]) == nth - 1, names
        assert any("assetbuild-tmp" in n for n in names) is not UNNAMED, names
    if point == "blob-write":
        cas = root / ".assetbuild/cas"
        assert not list(cas.glob("*/[!.]*"))
        assert bool(list(cas.glob("*/.*.assetbuild-tmp"))) is not UNNAMED
    if point == "remote-upload":
        assert list(remote.rglob(".*.assetbuild-tmp"))
    assert_recovers(root, remote, reference, tag=f"{point}:{nth} {mode}", sleep=sleep)


def test_crash_during_the_recovery_build_too(tmp_path, reference):
    """A crash in the build that recovers from a crash: two half-done writes in a row."""
    root = pipeline_project(tmp_path / "p", width=WIDTH)
    remote = tmp_path / "remote"
    for spec in ("path-rename:2", "store-commit:1", "remote-upload:3"):
        rc, out = _crash(root, remote, spec, "serial")
        assert rc in (0, -signal.SIGKILL), (spec, out)
    assert_recovers(root, remote, reference, tag="three crashes")


OUTPUTS = """\
from assetbuild import asset


@asset(outputs=["model.bin", "gen/"])
def train(context):
    context.out("model.bin").write_bytes(bytes(range(256)) * 6000)  # 1.5 MB: restored by a copy of its file in cas/
    (context.out("gen/") / "a").mkdir(parents=True, exist_ok=True)
    (context.out("gen/") / "a" / "f.bin").write_bytes(bytes(range(255, -1, -1)) * 5000)
"""


@pytest.mark.parametrize("how", ["restore", "other file system"])
def test_a_crash_while_an_outputs_file_is_copied_leaves_no_temp_file_after_the_next_build(tmp_path, how):
    """A file of an ``outputs=`` asset copied into the project (a deleted one restored from the
    cache; a new one placed from a cache on another file system, where no rename reaches) is
    written to a temp file beside it: a build killed there leaves it, and the next build, which
    sweeps the directories a killed build listed, removes it."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "AssetFile").write_text(OUTPUTS)
    env = clean_env()
    if how == "other file system":
        if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("needs /dev/shm on another file system than the project")
        cache = Path(tempfile.mkdtemp(prefix="ab-crash-", dir="/dev/shm"))
        env["ASSETBUILD_CACHE_DIR"] = str(cache)
    try:
        if how == "restore":
            assert cli(cwd=root, env=env).returncode == 0
            want = tree_bytes(root, "gen"), (root / "model.bin").read_bytes()
            (root / "model.bin").unlink()
            shutil.rmtree(root / "gen")
        for nth in (1, 2):  # the file output, then the one in a declared directory
            r = cli(cwd=root, env={**env, "ASSETBUILD_CRASH_AT": f"outputs-copy:{nth}"})
            assert r.returncode == -signal.SIGKILL, (r.stdout, r.stderr)
            assert temp_leftovers(root), "the crash point was not reached"
        r = cli(cwd=root, env=env)
        assert r.returncode == 0, r.stderr
        assert temp_leftovers(root) == []
        if how == "restore":
            assert (tree_bytes(root, "gen"), (root / "model.bin").read_bytes()) == want
        assert cli("clean", "--yes", cwd=root, env=env).returncode == 0
        assert sorted(p.name for p in root.iterdir()) == ["AssetFile"]
    finally:
        if how != "restore":
            shutil.rmtree(cache, ignore_errors=True)


def test_an_unknown_crash_point_is_refused(tmp_path):
    r = cli(cwd=pipeline_project(tmp_path / "p", width=WIDTH),
                env=clean_env(ASSETBUILD_CRASH_AT="nowhere:1"))
    assert r.returncode != 0 and "ASSETBUILD_CRASH_AT" in r.stderr


# --- random SIGKILL ---------------------------------------------------------------------------

_SPANS: dict[str, float] = {}


def _span(tmp_path: Path, mode: str) -> float:
    """How long a build in ``mode`` goes on after its first asset has run (measured once): kills
    are drawn within it, so most land mid-build however fast the machine and the engine are."""
    if mode not in _SPANS:
        root = pipeline_project(tmp_path / f"span-{mode}", sleep=0.05, width=WIDTH)
        p = start_cli(*MODES[mode], cwd=root, env=_env(tmp_path / f"span-remote-{mode}"))
        try:
            while not (root / "runs").is_dir() and p.poll() is None:
                time.sleep(0.002)
            t0 = time.monotonic()
            p.wait(timeout=60)
            _SPANS[mode] = time.monotonic() - t0
        finally:
            end_group(p)
    return _SPANS[mode]


def _kill_at_random(root: Path, remote: Path, rng: random.Random, mode: str) -> bool:
    """Start a build, wait until its first asset has run, SIGKILL it a random moment later.
    Whether the kill landed before the build ended."""
    span = _span(root.parent, mode)
    p = start_cli(*MODES[mode], cwd=root, env=_env(remote))
    try:
        deadline = time.monotonic() + 60
        while not (root / "runs").is_dir() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        try:
            p.wait(timeout=rng.uniform(0.0, span))
        except subprocess.TimeoutExpired:
            pass
        killed = p.poll() is None
        if killed:
            p.send_signal(signal.SIGKILL)
            p.wait()
    finally:
        end_group(p)
    return killed


def _random_kills(tmp_path: Path, reference, trials: int, seed: int) -> None:
    rng = random.Random(seed)
    killed = 0
    for i in range(trials):
        mode = rng.choice(list(MODES))
        root = pipeline_project(tmp_path / f"k{i}", sleep=0.05, width=WIDTH)
        remote = tmp_path / f"remote{i}"
        killed += _kill_at_random(root, remote, rng, mode)
        if rng.random() < 0.4:  # the build after a kill is killed too
            killed += _kill_at_random(root, remote, rng, mode)
        assert_recovers(root, remote, reference, tag=f"trial {i} ({mode})")
        shutil.rmtree(root)
    print(f"\nrandom SIGKILL: {trials} trials, {killed} kills landed mid-build (seed {seed})")
    assert killed >= trials // 2  # most kills hit a running build (a loaded machine only slows it)


def test_sigkill_at_random_moments(tmp_path, reference):
    _random_kills(tmp_path, reference, int(os.environ.get("ASSETBUILD_TEST_KILL_TRIALS", "2")), seed=9)


@pytest.mark.slow
def test_sigkill_at_random_moments_long(tmp_path, reference):
    _random_kills(tmp_path, reference, int(os.environ.get("ASSETBUILD_TEST_KILL_TRIALS_LONG", "12")),
                  seed=int(os.environ.get("ASSETBUILD_TEST_KILL_SEED", "20261202")))
