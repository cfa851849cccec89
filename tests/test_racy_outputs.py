"""Path outputs edited in the tick assetbuild wrote them (git's racy-clean rule, ``store.racy``).

A same-size edit in place, in the file system's timestamp tick of assetbuild's write, leaves the
stat signature recorded as written: a build trusting it says the project is up to date while the
file holds bytes assetbuild did not write. The store commits no signature taken in the tick of its
commit; the next build hashes the file, and records the signature then.

The real race needs a file system with coarse timestamps: ``test_on_a_filesystem_that_stamps_whole_seconds``
mounts an ext2 image (1 s timestamps; root only, else skipped). Everywhere else the file system's
clock at the commit (``racy.fs_tick``) is stepped back into the tick of what the build wrote: then
every signature the build took is racy, as on such a file system when the build fits in a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import Project, clean_env, cli, write

import assetbuild
from assetbuild import snapshot
from assetbuild.store import LmdbStore, racy

SNAP_ASSETFILE = '''\
from assetbuild import asset, source

raw = source("raw", "data/raw.txt")


@asset(io="text", path="out/upper.txt")
def upper(raw):
    return raw.read_text().upper()


@asset(io="json")
def size(upper):
    return len(upper)
'''
ASSETFILE = SNAP_ASSETFILE + '''

from assetbuild import Out, multi_asset


@multi_asset(outs={"head": Out(io="text", path="out/head.txt"), "tail": Out(io="text", path="out/tail.txt")})
def split(upper):
    return {"head": upper[:3], "tail": upper[3:]}


@asset(outputs=["made/report.txt"])
def report(size, context):
    context.out("made/report.txt").write_text(f"size {size}\\n")
'''
PATHS = {"upper": "out/upper.txt", "head": "out/head.txt", "tail": "out/tail.txt"}


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    write(tmp_path / "proj", {"AssetFile": ASSETFILE, "data/raw.txt": "hello world\n"})
    return Project(tmp_path / "proj")


def _epoch(path: str) -> tuple[int, int]:
    """``racy.fs_tick`` stepped back to the epoch: each file the build wrote or hashed is as new
    as the commit, so no signature it took is recorded."""
    return os.stat(path).st_dev, 0


@pytest.fixture
def same_tick(monkeypatch: pytest.MonkeyPatch):
    """Every commit in the tick of what the build wrote (``_epoch``); returns a function that
    puts the real clock back."""
    real = racy.fs_tick
    monkeypatch.setattr(racy, "fs_tick", _epoch)
    return lambda: monkeypatch.setattr(racy, "fs_tick", real)


def _heads(root: Path) -> dict[str, tuple[int, int, int, int] | None]:
    with LmdbStore(root / ".assetbuild", readonly=True) as store:
        return {a: store.get_head(a).path_stat for a in PATHS}


def _sig(p: Path) -> tuple[int, int, int, int]:
    st = p.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _built_racy(proj: Project, same_tick, **kw) -> None:
    """A build in the tick of its writes: no path output's signature recorded; then the next
    build, the clock put back, hashes them, finds them as written and records their signatures."""
    r = proj.build(**kw)
    assert r.ok and {x.asset: x.status for x in r.results}["upper"] == "built"
    assert _heads(proj.root) == dict.fromkeys(PATHS)
    same_tick()
    r = proj.build(**kw)
    assert r.ok and {x.status for x in r.results} == {"cached"}
    assert _heads(proj.root) == {a: _sig(proj.root / p) for a, p in PATHS.items()}


def test_a_build_records_no_signature_taken_in_the_tick_of_its_commit(proj, same_tick):
    _built_racy(proj, same_tick)


def test_so_do_builds_whose_assets_run_in_worker_processes(proj, same_tick):
    _built_racy(proj, same_tick, jobs=2, executor="processes")


def test_so_does_a_restore_from_the_store(proj, monkeypatch):
    assert proj.build().ok
    monkeypatch.setattr(racy, "fs_tick", _epoch)
    for p in PATHS.values():
        (proj.root / p).unlink()
    r = proj.build()
    assert r.ok and {x.asset: x.status for x in r.results if x.asset in PATHS} == dict.fromkeys(PATHS, "restored")
    assert _heads(proj.root) == dict.fromkeys(PATHS)


def test_the_files_an_asset_writes_are_remembered_only_once_their_tick_is_past(proj, same_tick, settled):
    assert proj.build().ok
    with LmdbStore(proj.root / ".assetbuild", readonly=True) as store:
        assert store.get_stat("made/report.txt") is None
    same_tick()
    assert proj.build().ok  # (hashes it, and records it: its tick is past)
    with LmdbStore(proj.root / ".assetbuild", readonly=True) as store:
        assert store.get_stat("made/report.txt")[0] == _sig(proj.root / "made/report.txt")


# --- the snapshot: what the next command finds without loading the project ----------------------

@pytest.fixture
def as_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A project built as the entry point's plain build would, so it records the snapshot."""
    from assetbuild import entry

    root = write(tmp_path / "snap", {"AssetFile": SNAP_ASSETFILE, "data/raw.txt": "hello world\n"})
    for made in ("out", ".assetbuild"):  # what the first build would make in the project's folder: in the
        (root / made).mkdir()            # clock's tick of its record, it would refuse it (``racy_folder``)
    time.sleep(2 * snapshot.TICK_NS / 1e9)
    monkeypatch.setattr(snapshot, "INTENT", {"json": False, "quiet": True, "directory": str(root)})
    monkeypatch.setattr(snapshot, "START_PATH", list(sys.path))
    monkeypatch.setattr(entry, "START_PATH", list(sys.path))
    monkeypatch.setattr(snapshot, "CHECK", False)
    monkeypatch.chdir(root)
    return root


def _answer(root: Path) -> str | None:
    """What the entry point would say: None (the snapshot answers: nothing to do), or why not."""
    rec = snapshot.read(str(root / ".assetbuild"))
    return snapshot.answer(rec, str(root), list(sys.path))


def _statuses(root: Path) -> dict[str, str]:
    return {r.asset: r.status for r in assetbuild.build(project_dir=root).results}


@pytest.mark.parametrize("check", [False, True])
def test_the_snapshot_counts_an_output_whose_signature_was_not_recorded_as_changed(as_the_command, same_tick,
                                                                                 monkeypatch, check):
    """The null build's answer and a slice decide as the full path: the output that the full
    path would hash is one the snapshot will not vouch for, until a build has hashed it. Under
    the check (ASSETBUILD_CHECK_SNAPSHOT) every asset is decided too, and must agree."""
    root = as_the_command
    assert _statuses(root) == {"upper": "built", "size": "built"}
    path = str(root / "out/upper.txt")
    rec = snapshot.read(str(root / ".assetbuild"))
    assert rec is not None and not rec.get("refused") and path in rec["racy"]
    assert _answer(root) == f"a source or path output changed, or is too recent to trust: {path}"
    same_tick()
    monkeypatch.setattr(snapshot, "CHECK", check)
    (root / "out/upper.txt").write_text("HELLO WORLX\n")  # (what the tick of the write could hide)
    assert _statuses(root) == {"upper": "restored", "size": "cached"}
    assert (root / "out/upper.txt").read_text() == "HELLO WORLD\n"
    assert _statuses(root) == {"upper": "cached", "size": "cached"}
    assert _answer(root) is None


def test_a_sliced_build_leaves_what_it_wrote_in_its_commits_tick_racy(as_the_command, monkeypatch):
    root = as_the_command
    assert _statuses(root) == {"upper": "built", "size": "built"}
    assert _statuses(root) == {"upper": "cached", "size": "cached"}
    assert _answer(root) is None
    (root / "data/raw.txt").write_text("hello there\n")
    for name in ("PROBE", "DATA", "SLICE"):  # as the entry point finds the slice
        monkeypatch.setattr(snapshot, name, None)
    from assetbuild import entry

    rec = snapshot.read(str(root / ".assetbuild"))
    entry._slice(rec, str(root / ".assetbuild"), str(root))
    assert snapshot.SLICE is not None and snapshot.SLICE["affected"] == {"upper", "size"}
    monkeypatch.setattr(racy, "fs_tick", _epoch)
    assert _statuses(root) == {"upper": "built", "size": "built"}
    rec = snapshot.read(str(root / ".assetbuild"))
    assert rec is not None and str(root / "out/upper.txt") in rec["racy"]
    with LmdbStore(root / ".assetbuild", readonly=True) as store:
        assert store.get_head("upper").path_stat is None


def test_a_build_that_records_the_snapshot_hashes_again_what_its_commits_left(as_the_command, monkeypatch):
    """The build's commits fall in the tick of its writes; before the snapshot's record that
    tick is past: what they left unrecorded is hashed and recorded then (``Workspace.vouch_racy``),
    and the next command is answered."""
    from assetbuild.workspace import Workspace

    root, clock = as_the_command, {"tick": 0}
    monkeypatch.setattr(racy, "fs_tick", lambda path: (os.stat(path).st_dev, clock["tick"]))
    vouch = Workspace.vouch_racy

    def later(self: Workspace, store: object) -> None:
        clock["tick"] = 1 << 62  # (past every file's times)
        vouch(self, store)

    monkeypatch.setattr(Workspace, "vouch_racy", later)
    assert _statuses(root) == {"upper": "built", "size": "built"}
    with LmdbStore(root / ".assetbuild", readonly=True) as store:
        assert store.get_head("upper").path_stat == _sig(root / "out/upper.txt")
    assert _answer(root) is None


# --- the real race, on a file system that stamps whole seconds ---------------------------------

def _mount_ext2(tmp_path: Path) -> Path | None:
    """An ext2 file system with 128-byte inodes (whole-second timestamps), loop-mounted under
    ``tmp_path``; None if this machine cannot (not root, no mkfs.ext2, no loop devices)."""
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mkfs.ext2") or not shutil.which("mount"):
        return None
    image, mnt = tmp_path / "ext2.img", tmp_path / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    made = subprocess.run(["mkfs.ext2", "-q", "-F", "-I", "128", str(image)], capture_output=True)
    if made.returncode != 0 or subprocess.run(["mount", "-o", "loop", str(image), str(mnt)],
                                              capture_output=True).returncode != 0:
        return None
    return mnt


@pytest.fixture
def coarse_fs(tmp_path: Path):
    mnt = _mount_ext2(tmp_path)
    if mnt is None:
        pytest.skip("needs root, mkfs.ext2 and a loop device to mount a file system with 1 s timestamps")
    probe = mnt / "probe"
    probe.write_text("x")
    if probe.stat().st_mtime_ns % 1_000_000_000:
        subprocess.run(["umount", str(mnt)], check=False)
        pytest.skip("the mounted ext2 file system stamps finer than whole seconds")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _build_and_edit_in_its_second(root: Path, env: dict[str, str]) -> bool:
    """As the next second begins, build with the real command, then edit the output in place,
    same size, in that second. False if the edit missed the second (a slow machine), as its
    signature then differs."""
    time.sleep(1 - time.time() % 1)
    r = cli(cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    p = root / "out/upper.txt"
    written = p.stat()
    with open(p, "r+b") as f:  # in place: the same inode
        f.write(b"J")
    edited = p.stat()
    time.sleep(1.1)  # (the next build is in a later second, as a user's would be)
    return (edited.st_ino, edited.st_size, edited.st_mtime_ns, edited.st_ctime_ns) == \
        (written.st_ino, written.st_size, written.st_mtime_ns, written.st_ctime_ns)


@pytest.mark.parametrize("mode", ["snapshot", "checked", "full"])
def test_on_a_filesystem_that_stamps_whole_seconds(coarse_fs: Path, mode: str) -> None:
    """The reproduction: an output edited in the second assetbuild wrote it keeps its signature;
    the next build must find it and restore it. The full path: after a cold build. The snapshot
    (its decisions checked against the full path's, or not): after an incremental build of a
    settled project (a slice), which records the snapshot the next command reads."""
    root = write(coarse_fs / "proj", {"AssetFile": SNAP_ASSETFILE, "data/raw.txt": "hello world\n"})
    env = clean_env(ASSETBUILD_CHECK_SNAPSHOT="1" if mode == "checked" else "0",
                    **({"ASSETBUILD_SNAPSHOT": "0"} if mode == "full" else {}))
    explain = {**env, "ASSETBUILD_SNAPSHOT": "explain"}
    for attempt in range(5):
        shutil.rmtree(root / ".assetbuild", ignore_errors=True)
        shutil.rmtree(root / "out", ignore_errors=True)
        if mode != "full":
            assert cli(cwd=root, env=env).returncode == 0
            time.sleep(1.1)
            assert cli(cwd=root, env=env).returncode == 0  # (records every signature: a second later)
            assert "snapshot: answers" in cli(cwd=root, env=explain).stderr
            (root / "data/raw.txt").write_text(f"hello worl{attempt}\n")  # (a second before the slice's)
        if _build_and_edit_in_its_second(root, env):
            break
    else:
        pytest.skip("could not edit the output within the second of its write (a loaded machine)")
    assert (root / "out/upper.txt").read_bytes()[:1] == b"J"
    if mode == "snapshot":  # the slice's record does not answer the null build: its output is to be looked at
        assert "snapshot: not used: a source or path output changed, or is too recent to trust: " \
            f"{root / 'out/upper.txt'}" in cli("-n", cwd=root, env=explain).stderr
    r = cli(cwd=root, env=env)
    assert r.returncode == 0 and "1 restored" in r.stdout, r.stdout + r.stderr
    assert (root / "out/upper.txt").read_text() == (root / "data/raw.txt").read_text().upper()
    r = cli(cwd=root, env=env)  # and nothing more to do
    assert r.returncode == 0 and "0 restored" in r.stdout and "0 built" in r.stdout, r.stdout
