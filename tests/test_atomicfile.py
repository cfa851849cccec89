"""Atomic writes through private temp files (atomicfile.py), and every place assetbuild writes a file.

A symlink planted where a write may go must never carry the write to its target. At each site
(path outputs, ``file://`` remote uploads, export, ``STORE``, the code cache, CAS blobs, the
compaction directory) the tests plant symlinks to a file outside the project, dangling ones and
ones to a directory: at the destination itself, at the names older versions used (fixed, or made
of the pid and thread id), and at the very names the write will draw (the ``guess`` fixture makes
the random part known in advance, as an attacker who guessed it would). Then they check the
outside file kept its bytes, the dangling target was never created, the directory stayed empty,
and the write still happened.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

import assetbuild
from assetbuild import atomicfile
from assetbuild.atomicfile import (
    TEMP_SUFFIX,
    atomic_writer,
    create_temp_beside,
    dir_in_the_way,
    make_way,
    open_dir_below,
    sweep_temps,
    write_atomically,
)
from assetbuild.store import INLINE_MAX, LmdbStore

KINDS = ("file", "dangling", "dir")
VICTIM = b"bytes outside the project that no build may touch\n"
PLANTED: list[str] = []  # every symlink planted in this module (the count goes in the report)


class Trap:
    """Symlinks planted where a write might go, and the things outside the project they point to."""

    def __init__(self, outside: Path) -> None:
        outside.mkdir()
        self.victim = outside / "victim.txt"
        self.victim.write_bytes(VICTIM)
        self.dir = outside / "victim-dir"
        self.dir.mkdir()
        self.nowhere = outside / "nowhere"
        self.links: list[Path] = []

    def plant(self, at: Path, kind: str) -> Path:
        at.parent.mkdir(parents=True, exist_ok=True)
        at.symlink_to({"file": self.victim, "dangling": self.nowhere, "dir": self.dir}[kind])
        self.links.append(at)
        PLANTED.append(str(at))
        return at

    def plant_each(self, directory: Path, names: list[str]) -> None:
        """One symlink per name, the kinds taking turns."""
        for i, name in enumerate(names):
            self.plant(directory / name, KINDS[i % len(KINDS)])

    def assert_untouched(self) -> None:
        assert self.victim.read_bytes() == VICTIM
        assert not os.path.lexists(self.nowhere)
        assert list(self.dir.iterdir()) == []


@pytest.fixture(scope="module", autouse=True)
def _count_planted():
    """With AB_TEST_COUNTS=FILE, append how many symlinks the module planted (for the issue's report)."""
    yield
    if os.environ.get("AB_TEST_COUNTS"):
        with open(os.environ["AB_TEST_COUNTS"], "a") as f:
            f.write(f"planted symlinks: {len(PLANTED)}\n")


@pytest.fixture
def trap(tmp_path) -> Trap:
    return Trap(tmp_path / "outside")


class Guess:
    """Makes the next temp names drawn for a destination known in advance."""

    def __init__(self, monkeypatch) -> None:
        self.queued: dict[str, list[str]] = {}
        self.drawn = 0
        real = atomicfile.temp_name

        def predictable(base: str) -> str:
            q = self.queued.get(base)
            return q.pop(0) if q else real(base)

        monkeypatch.setattr(atomicfile, "temp_name", predictable)

    def __call__(self, base: str, n: int = 3) -> list[str]:
        names = [f".{base}.{self.drawn + i:016x}{TEMP_SUFFIX}" for i in range(n)]
        self.drawn += n
        self.queued.setdefault(base, []).extend(names)
        return names

    def all_drawn(self) -> bool:
        return not any(self.queued.values())


@pytest.fixture
def guess(monkeypatch) -> Guess:
    return Guess(monkeypatch)


def is_plain_file(p: Path) -> bool:
    return stat.S_ISREG(os.lstat(p).st_mode)


def umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


# --- the functions ---------------------------------------------------------------------------

def test_temp_names_are_fresh_and_beside_the_destination(tmp_path):
    names = set()
    for _ in range(50):
        fd, tmp = create_temp_beside(tmp_path / "out.bin")
        os.close(fd)
        assert os.path.dirname(tmp) == str(tmp_path)
        assert os.path.basename(tmp).startswith(".out.bin.") and tmp.endswith(TEMP_SUFFIX)
        names.add(tmp)
    assert len(names) == 50


@pytest.mark.parametrize("name", ["x" * 255, "é" * 127, "日本" * 42], ids=["ascii", "2-byte", "3-byte"])
def test_names_at_the_length_limit(tmp_path, name):
    write_atomically(tmp_path / name, b"x")
    assert os.listdir(tmp_path) == [name]


# A temp name is drawn where the write replaces a file: at once (the file was there), or once the
# link of the unnamed file it wrote found that a file came since the caller looked (new=True).
REPLACING = pytest.mark.parametrize("new", [False, True], ids=["replacing", "came-since"])


@REPLACING
def test_a_taken_name_is_never_opened_and_another_is_drawn(tmp_path, trap, guess, new):
    (tmp_path / "out.bin").write_bytes(b"old")
    names = guess("out.bin", 6)
    trap.plant_each(tmp_path, names[:3])
    (tmp_path / names[3]).write_bytes(b"someone's file")  # a regular file is not opened either
    os.mkfifo(tmp_path / names[4])  # nor a FIFO (an open would block)
    write_atomically(tmp_path / "out.bin", b"new", new=new)
    assert (tmp_path / "out.bin").read_bytes() == b"new"
    assert (tmp_path / names[3]).read_bytes() == b"someone's file"
    assert guess.queued["out.bin"] == []  # names[5] was free and used, then renamed away
    assert not os.path.lexists(tmp_path / names[5])
    trap.assert_untouched()


@REPLACING
def test_when_every_name_is_taken_the_write_fails_and_nothing_is_written(tmp_path, trap, monkeypatch, new):
    (tmp_path / "x").write_bytes(b"old")
    trap.plant(tmp_path / ".x.taken.assetbuild-tmp", "file")
    monkeypatch.setattr(atomicfile, "temp_name", lambda base: ".x.taken.assetbuild-tmp")
    with pytest.raises(FileExistsError):
        write_atomically(tmp_path / "x", b"new", new=new)
    assert (tmp_path / "x").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == [".x.taken.assetbuild-tmp", "outside", "x"]
    trap.assert_untouched()


UNNAMED = pytest.mark.skipif(not atomicfile._unnamed_ok, reason="no O_TMPFILE here: every file takes a temp name")


def _no_names(base: str) -> str:
    raise AssertionError(f"a temp name was drawn for {base}")


@UNNAMED
@pytest.mark.parametrize("how", ["plain", "durable", "dir_fd"])
def test_a_new_file_never_has_a_name_but_its_own(tmp_path, monkeypatch, how):
    """A new file is written with no name and linked into place whole: no temp name is drawn,
    and it is an ordinary file (the usual permissions, one link, the stat returned)."""
    monkeypatch.setattr(atomicfile, "temp_name", _no_names)
    if how == "dir_fd":
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            st = write_atomically("new.bin", b"x" * 100_000, dir_fd=fd)
        finally:
            os.close(fd)
    else:
        st = write_atomically(tmp_path / "new.bin", b"x" * 100_000, durable=how == "durable")
    dest = tmp_path / "new.bin"
    assert dest.read_bytes() == b"x" * 100_000 and os.listdir(tmp_path) == ["new.bin"]
    assert stat.S_IMODE(st.st_mode) == 0o666 & ~umask() and st.st_nlink == 1
    assert (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) == \
        (lambda s: (s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns))(os.stat(dest))


@UNNAMED
def test_a_writer_killed_before_the_link_leaves_nothing(tmp_path):
    """Killed at the crash point just before the link, a new file's writer leaves no file at all;
    one replacing a file leaves its locked temp file, which the next sweep removes."""
    (tmp_path / "old.bin").write_bytes(b"old")
    code = ("import sys; from assetbuild.atomicfile import write_atomically; "
            "write_atomically(sys.argv[1], b'x' * 100_000, crash_at='path-rename')")
    for name in ("new.bin", "old.bin"):
        p = subprocess.run([sys.executable, "-c", code, str(tmp_path / name)],
                           env={**os.environ, "ASSETBUILD_CRASH_AT": "path-rename",
                                "PYTHONPATH": os.pathsep.join(sys.path)})
        assert p.returncode == -signal.SIGKILL
    left = sorted(os.listdir(tmp_path))
    assert len(left) == 2 and left[0].startswith(".old.bin.") and left[1] == "old.bin"
    assert sweep_temps(tmp_path) == 1 and os.listdir(tmp_path) == ["old.bin"]


@UNNAMED
def test_without_o_tmpfile_new_files_take_a_temp_name(tmp_path, monkeypatch, guess):
    """A file system without O_TMPFILE (NFS, say) refuses the unnamed file: that write, and each
    after it, takes a temp name."""
    monkeypatch.setattr(atomicfile, "_UNNAMED", os.O_TMPFILE | os.O_RDONLY)  # EINVAL, as such a system's refusal
    for name in ("a", "b"):
        guess(name, 1)
        write_atomically(tmp_path / name, name.encode())
        assert (tmp_path / name).read_bytes() == name.encode()
    assert guess.all_drawn() and atomicfile._unnamed_ok and sorted(os.listdir(tmp_path)) == ["a", "b"]


@UNNAMED
def test_without_proc_files_take_a_temp_name_from_then_on(tmp_path, monkeypatch, guess):
    """No /proc (or one of another PID namespace): the link by the /proc path fails, that file
    is written again with a temp name, and so is every file after it."""
    monkeypatch.setattr(atomicfile, "_unnamed_ok", True)  # (restored after the test)
    monkeypatch.setattr(atomicfile, "_PROC_FD", str(tmp_path / "no-proc") + "/")
    for name in ("a", "b"):
        guess(name, 1)
        write_atomically(tmp_path / name, name.encode())
        assert (tmp_path / name).read_bytes() == name.encode()
    assert guess.all_drawn() and not atomicfile._unnamed_ok and sorted(os.listdir(tmp_path)) == ["a", "b"]


@UNNAMED
def test_a_name_too_long_fails_that_write_only(tmp_path, monkeypatch):
    """A name longer than the file system allows fails the write as the named way would
    (ENAMETOOLONG); the files after it are still written with no name."""
    monkeypatch.setattr(atomicfile, "_unnamed_ok", True)  # (restored after the test)
    with pytest.raises(OSError) as e:
        write_atomically(tmp_path / ("n" * 300), b"x")
    assert e.value.errno == errno.ENAMETOOLONG and os.listdir(tmp_path) == []
    monkeypatch.setattr(atomicfile, "temp_name", _no_names)
    write_atomically(tmp_path / "next", b"y")
    assert atomicfile._unnamed_ok and os.listdir(tmp_path) == ["next"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_symlink_at_the_destination_is_replaced_not_followed(tmp_path, trap, kind):
    dest = trap.plant(tmp_path / "out.bin", kind)
    st = write_atomically(dest, b"new")
    assert is_plain_file(dest) and dest.read_bytes() == b"new"
    assert (st.st_ino, st.st_size) == (os.lstat(dest).st_ino, 3)
    trap.assert_untouched()


def test_new_files_get_the_usual_permissions(tmp_path):
    """Private by name, not by mode: an output is as readable as a file the user writes."""
    write_atomically(tmp_path / "a", b"x")
    with atomic_writer(tmp_path / "b") as f:
        f.write(b"x")
    for name in "ab":
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask()


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not hasattr(os, "O_PATH") or not os.path.isdir("/proc/self/fd"),
                    reason="the replaced file is held only where O_PATH exists (Linux)")
def test_a_replaced_file_is_freed_by_the_closing_thread_and_nothing_leaks(tmp_path):
    """The file a write replaces is held past the rename and closed by a thread of its own: after
    ``close_replaced`` every such descriptor is closed and the thread is gone; readers of the
    destination see the new bytes at once; a symlink or a FIFO there is held, never opened."""
    atomicfile.close_replaced()  # (what earlier tests replaced)
    before = _fds()
    for i in range(50):
        (tmp_path / f"out{i}").write_bytes(b"old" * 1000)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "out0")
    threads = threading.active_count()
    for i in range(50):
        write_atomically(tmp_path / f"out{i}", b"new")
        assert (tmp_path / f"out{i}").read_bytes() == b"new"
    write_atomically(tmp_path / "fifo", b"was a fifo")  # O_PATH: opening it would block
    write_atomically(tmp_path / "link", b"was a link")
    assert threading.active_count() == threads + 1  # the closing thread
    atomicfile.close_replaced()
    assert threading.active_count() == threads and _fds() == before
    assert (tmp_path / "fifo").read_bytes() == b"was a fifo" and (tmp_path / "out0").read_bytes() == b"new"
    write_atomically(tmp_path / "out1", b"again")  # a new thread, after the last one ended
    atomicfile.close_replaced()
    assert _fds() == before and (tmp_path / "out1").read_bytes() == b"again"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_replaces_files_with_a_closing_thread_of_its_own(tmp_path):
    """A child forked while the parent's closing thread runs (a process worker) writes, frees and
    exits without waiting for a thread it does not have."""
    (tmp_path / "a").write_bytes(b"old")
    (tmp_path / "b").write_bytes(b"old")
    write_atomically(tmp_path / "a", b"parent")  # the parent's thread runs
    pid = os.fork()
    if pid == 0:
        try:
            write_atomically(tmp_path / "b", b"child")
            write_atomically(tmp_path / "c", b"new")  # (a new file: linked by the child's own /proc/self)
            atomicfile.close_replaced()
            os._exit(0 if (tmp_path / "b").read_bytes() == b"child" else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    atomicfile.close_replaced()
    assert status == 0 and (tmp_path / "b").read_bytes() == b"child" and (tmp_path / "c").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "c"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    (tmp_path / "out").write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(tmp_path / "out") as f:
        f.write(b"half")
        raise RuntimeError("the writer failed")
    assert (tmp_path / "out").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_make_way_removes_an_empty_directory_only(tmp_path, trap):
    """A file may take an empty directory's place; a directory holding anything stays, whole, and
    says so; a symlink to a directory is no directory in the way (a rename replaces the link)."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "full" / "sub").mkdir(parents=True)
    (tmp_path / "full" / "notes.txt").write_text("mine")
    trap.plant(tmp_path / "link", "dir")
    (tmp_path / "file").write_text("x")
    assert [dir_in_the_way(str(tmp_path / n)) for n in ("empty", "full", "link", "file", "none")] == \
        [False, True, False, False, False]
    for name in ("empty", "link", "file", "none"):
        make_way(str(tmp_path / name))
    assert not (tmp_path / "empty").exists() and (tmp_path / "link").is_symlink() and (tmp_path / "file").is_file()
    trap.assert_untouched()
    with pytest.raises(IsADirectoryError) as e:
        make_way(str(tmp_path / "full"))
    assert e.value.filename == str(tmp_path / "full") and "move it away" in e.value.strerror
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine" and (tmp_path / "full" / "sub").is_dir()


def test_a_path_that_cannot_be_reached_is_no_directory_in_the_way_but_an_error(tmp_path):
    """A name past PATH_MAX or a symlink loop above it: nothing can be said to stand there, so the
    caller hears the real reason; a file where a directory of the path goes is no directory."""
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError) as e:
        dir_in_the_way(str(tmp_path / "loop" / "x"))
    assert e.value.errno == errno.ELOOP
    with pytest.raises(OSError) as e:
        dir_in_the_way(str(tmp_path) + "/d" * 2100)
    assert e.value.errno == errno.ENAMETOOLONG
    assert dir_in_the_way(str(tmp_path / "file" / "x")) is False


def test_durable_writes_land(tmp_path):
    write_atomically(tmp_path / "a", b"x" * 100, durable=True)
    with atomic_writer(tmp_path / "b", durable=True) as f:
        f.write(b"y")
    assert (tmp_path / "a").read_bytes() == b"x" * 100 and (tmp_path / "b").read_bytes() == b"y"


@pytest.mark.parametrize("kind", KINDS)
def test_open_dir_below_follows_no_symlink_below_the_root(tmp_path, trap, kind):
    root = tmp_path / "remote"
    trap.plant(root / "blobs" / "ab", kind)
    with pytest.raises(NotADirectoryError, match="symlink"):
        open_dir_below(root, ["blobs", "ab"])
    fd = open_dir_below(root, ["records", "cd"])  # made
    try:
        write_atomically("k", b"v", dir_fd=fd)
    finally:
        os.close(fd)
    assert (root / "records/cd/k").read_bytes() == b"v"
    trap.assert_untouched()


def test_sweep_removes_dead_writers_temps_only(tmp_path, trap):
    dead = tmp_path / ".out.bin.00000000deadbeef.assetbuild-tmp"
    dead.write_bytes(b"a killed build's")
    legacy = tmp_path / ".old.txt.assetbuild-tmp-4242"  # what older versions left
    legacy.write_bytes(b"x")
    fd, live = create_temp_beside(tmp_path / "out.bin")  # a live writer's: locked
    trap.plant(tmp_path / ".link.0000000000000000.assetbuild-tmp", "file")
    os.mkfifo(tmp_path / ".fifo.0000000000000000.assetbuild-tmp")
    (tmp_path / "user.assetbuild-tmp.txt").write_bytes(b"not ours")
    try:
        assert sweep_temps(tmp_path) == 2
        assert sorted(os.listdir(tmp_path)) == sorted([
            os.path.basename(live), ".link.0000000000000000.assetbuild-tmp",
            ".fifo.0000000000000000.assetbuild-tmp", "user.assetbuild-tmp.txt", "outside"])
    finally:
        os.close(fd)
    trap.assert_untouched()


def test_a_sweep_of_a_shared_folder_leaves_temps_written_to_lately(tmp_path):
    """A folder other machines write to (a remote cache): a writer there may hold its temp file
    without this machine seeing the lock, so only one idle for ``idle_for`` seconds goes."""
    fresh = tmp_path / ".a.bin.00000000deadbeef.assetbuild-tmp"
    stale = tmp_path / ".b.bin.00000000deadbeef.assetbuild-tmp"
    fresh.write_bytes(b"maybe another machine's")
    stale.write_bytes(b"an abandoned upload's")
    old = time.time() - 3601
    os.utime(stale, (old, old))
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert sweep_temps(fd, idle_for=3600) == 1
    finally:
        os.close(fd)
    assert fresh.exists() and not stale.exists()
    assert sweep_temps(tmp_path) == 1 and not fresh.exists()


def test_writers_racing_a_sweeper_lose_nothing(tmp_path):
    """A sweeper that opens a temp file between its create and its lock cannot take it away."""
    stop = threading.Event()

    def sweep():
        while not stop.is_set():
            sweep_temps(tmp_path)

    sweepers = [threading.Thread(target=sweep)]
    for t in sweepers:
        t.start()
    try:
        for i in range(200):
            write_atomically(tmp_path / f"f{i % 7}", b"%d" % i)
            assert (tmp_path / f"f{i % 7}").read_bytes() == b"%d" % i
    finally:
        stop.set()
        for t in sweepers:
            t.join()


@pytest.mark.parametrize("sweeper", ["removed it", "holds its lock"])
def test_a_sweeper_between_create_and_lock_never_makes_a_writer_write_into_a_lost_file(tmp_path, monkeypatch,
                                                                                      sweeper):
    """A temp file is not locked yet between its create and its lock, so a sweeper can take it
    for a killed writer's: it removes it, or holds its lock on the way to removing it. Either
    way the writer draws another name, and the file it renames into place is the one it wrote."""
    (tmp_path / "out").write_bytes(b"old")
    real_lock = atomicfile._lock
    raced: list[str] = []

    def lock_after_a_sweeper(fd: int) -> bool:
        if raced:
            return real_lock(fd)
        (name,) = [n for n in os.listdir(tmp_path) if atomicfile.is_temp_name(n)]
        raced.append(name)
        if sweeper == "removed it":
            assert sweep_temps(tmp_path) == 1
            return real_lock(fd)
        theirs = os.open(tmp_path / name, os.O_RDONLY)  # sweep_temps's own steps, the lock first
        fcntl.flock(theirs, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            return real_lock(fd)
        finally:
            os.unlink(tmp_path / name)
            os.close(theirs)

    monkeypatch.setattr(atomicfile, "_lock", lock_after_a_sweeper)
    st = write_atomically(tmp_path / "out", b"new")
    assert raced and (tmp_path / "out").read_bytes() == b"new"
    assert (st.st_ino, st.st_nlink) == (os.stat(tmp_path / "out").st_ino, 1)
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("kind", ["file", "fifo", *KINDS])
def test_a_destination_that_came_after_the_caller_looked_is_replaced(tmp_path, trap, kind):
    """``new``: the caller saw nothing at the destination; whatever came since is replaced as
    ever (a symlink as a link), and nothing but the new file is left."""
    atomicfile.close_replaced()
    before = _fds() if os.path.isdir("/proc/self/fd") else set()
    dest = tmp_path / "out.bin"
    if kind == "file":
        dest.write_bytes(b"old")
    elif kind == "fifo":
        os.mkfifo(dest)
    else:
        trap.plant(dest, kind)
    st = write_atomically(dest, b"new", new=True)
    assert is_plain_file(dest) and dest.read_bytes() == b"new"
    assert (st.st_ino, st.st_size) == (os.lstat(dest).st_ino, 3)
    assert sorted(os.listdir(tmp_path)) == ["out.bin", "outside"]
    trap.assert_untouched()
    atomicfile.close_replaced()
    assert not before or _fds() == before  # what held the file replaced was closed


# --- every site that writes a file -----------------------------------------------------------

PATH_OUTPUT = '''
@asset(io="text", path="out/a.txt")
def a():
    return "fresh\\n"
'''


@pytest.mark.parametrize("kind", KINDS)
def test_path_outputs(project, trap, guess, kind):
    project.assetfile(PATH_OUTPUT)
    out = project.root / "out"
    trap.plant(out / "a.txt", kind)
    trap.plant_each(out, [".a.txt.assetbuild-tmp", f".a.txt.assetbuild-tmp-{os.getpid()}"])  # older fixed names
    trap.plant_each(out, guess("a.txt"))
    assert project.built() == ["a"]
    assert is_plain_file(out / "a.txt") and (out / "a.txt").read_text() == "fresh\n"
    assert guess.all_drawn()
    trap.assert_untouched()
    (out / "a.txt").write_text("edited\n")  # a restore goes the same way
    trap.plant_each(out, guess("a.txt"))
    assert project.built() == []
    assert (out / "a.txt").read_text() == "fresh\n" and guess.all_drawn()
    trap.assert_untouched()
    (out / "a.txt").unlink()  # a missing output is restored with no name but its own (where O_TMPFILE is)
    trap.plant_each(out, guess("a.txt"))
    assert project.built() == []
    assert (out / "a.txt").read_text() == "fresh\n"
    assert guess.all_drawn() is not atomicfile._unnamed_ok  # (drawn only where every file takes a temp name)
    trap.assert_untouched()


def test_path_outputs_sweep_a_killed_builds_temp_files(project):
    project.assetfile(PATH_OUTPUT)
    out = project.root / "out"
    out.mkdir()
    (out / ".a.txt.0123456789abcdef.assetbuild-tmp").write_text("half")
    (out / ".a.txt.assetbuild-tmp").write_text("half, from an older version")
    project.built()
    assert sorted(os.listdir(out)) == ["a.txt"]


REMOTE_PROJECT = '''
@asset(io="bytes")
def big():
    return b"0123456789" * 30000

@asset(io="json")
def small(big):
    return len(big)
'''


def _remote_objects(project, tmp_path, monkeypatch) -> list[Path]:
    """The files a build uploads (keys do not depend on the cache), learnt from a scratch remote."""
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", "a key for the tests")
    project.assetfile(REMOTE_PROJECT)
    scratch = tmp_path / "scratch"
    project.built(remote=f"file://{scratch}")
    objects = sorted(p.relative_to(scratch) for p in scratch.rglob("*") if p.is_file())
    assert {p.parts[0] for p in objects} == {"records", "blobs"}
    shutil.rmtree(project.root / ".assetbuild")
    return objects


def test_file_remote_uploads(project, trap, guess, tmp_path, monkeypatch):
    objects = _remote_objects(project, tmp_path, monkeypatch)
    shared = tmp_path / "shared"
    for rel in objects:
        old = [f".tmp-{os.getpid()}-{threading.get_ident()}"]  # the older name, for the main thread
        trap.plant_each(shared / rel.parent, old + guess(rel.name))
    assert project.built(remote=f"file://{shared}") == ["big", "small"]
    assert guess.all_drawn()
    trap.assert_untouched()
    assert all(is_plain_file(shared / rel) for rel in objects)
    shutil.rmtree(project.root / ".assetbuild")  # what was uploaded serves a fresh checkout
    assert project.built(remote=f"file://{shared}") == []


@pytest.mark.parametrize("where", ["top", "prefix"])
@pytest.mark.parametrize("kind", KINDS)
def test_file_remote_never_writes_through_a_symlinked_directory(project, trap, tmp_path, monkeypatch,
                                                                 where, kind):
    objects = _remote_objects(project, tmp_path, monkeypatch)
    shared = tmp_path / "shared"
    shared.mkdir()
    dirs = {rel.parts[0] if where == "top" else rel.parent for rel in objects}
    for d in sorted(dirs, key=str):
        trap.plant(shared / d, kind)
    r = project.build(remote=f"file://{shared}")
    assert r.ok and r.names("built") == ["big", "small"]  # built locally; the uploads were refused
    trap.assert_untouched()


def test_export(project, trap, guess, tmp_path):
    project.assetfile(PATH_OUTPUT)
    project.built()
    ci = tmp_path / "ci"
    for kind in KINDS:
        dest = trap.plant(ci / f"cache-{kind}.tar.gz", kind)
        trap.plant_each(ci, [f".{dest.name}.tmp-{os.getpid()}"] + guess(dest.name))
        assetbuild.export_cache(dest, project_dir=project.root)
        assert is_plain_file(dest) and guess.all_drawn()
        with tarfile.open(dest) as tar:
            assert "MANIFEST.json" in tar.getnames()
    trap.assert_untouched()


@pytest.mark.parametrize("kind", KINDS)
def test_store_file(tmp_path, trap, guess, kind):
    cache = tmp_path / "cache"
    trap.plant(cache / "STORE", kind)
    trap.plant_each(cache, [f"STORE.tmp-{os.getpid()}"] + guess("STORE"))
    with LmdbStore(cache):
        pass
    assert is_plain_file(cache / "STORE") and guess.all_drawn()
    trap.assert_untouched()


@pytest.mark.parametrize("kind", KINDS)
def test_code_cache(project, trap, guess, kind):
    project.assetfile(PATH_OUTPUT)
    project.built()
    code = project.root / ".assetbuild" / "code"
    (name,) = os.listdir(code)
    os.unlink(code / name)
    trap.plant(code / name, kind)
    trap.plant_each(code, [f".{name}.{os.getpid()}.tmp"] + guess(name))
    assert project.built() == []
    assert is_plain_file(code / name) and guess.all_drawn()
    trap.assert_untouched()


def test_cas_blobs(tmp_path, trap, guess):
    data = os.urandom(INLINE_MAX + 1000)
    digest = hashlib.sha256(data).hexdigest()
    cache = tmp_path / "cache"
    with LmdbStore(cache) as s:
        s.acquire_lock()
        dest = s.blob_path(digest)
        trap.plant(dest, "dangling")
        trap.plant_each(dest.parent, guess(dest.name))
        s.put_blob(data)
        s.flush()
    assert is_plain_file(dest) and dest.read_bytes() == data and guess.all_drawn()
    trap.assert_untouched()


@pytest.mark.parametrize("kind", KINDS)
def test_compaction_directory(project, trap, kind):
    project.assetfile(PATH_OUTPUT)
    project.built()
    trap.plant(project.root / ".assetbuild" / f"db.compact-{os.getpid()}", kind)  # the older fixed name
    assetbuild.gc(project_dir=project.root)
    trap.assert_untouched()
    assert project.built() == []


def test_lock_of_a_live_writer_is_held_until_the_rename(tmp_path):
    fd, tmp = create_temp_beside(tmp_path / "x")
    try:
        other = os.open(tmp, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    finally:
        os.close(fd)


def test_replacing_files_on_a_nearly_full_disk_waits_for_the_replaced_ones_to_be_freed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file a write replaces is closed (its blocks freed) by the closing thread a moment
    later; on a nearly full disk the next write came first and failed with ENOSPC though the disk
    had room for the new files: an outputs= asset growing its files by 240 KB with 1 MB free
    failed 'cannot write its output gen/: No space left on device' four builds in five. Here the
    closing thread is as late as it can be: it frees nothing until asked to finish."""
    def late_closer(q: object) -> None:
        held = []
        while (fd := q.get()) is not None:  # type: ignore[attr-defined]
            held.append(fd)
        for fd in held:
            os.close(fd)

    atomicfile.close_replaced()
    monkeypatch.setattr(atomicfile, "_closer", late_closer)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    try:
        for size in (160_000, 200_000, 160_000, 200_000):  # 960 KB, then 1.2 MB of 2 MB
            for i in range(6):
                atomicfile.write_atomically(mnt / f"f{i}.bin", bytes([i]) * size)
        assert sorted(os.path.getsize(p) for p in mnt.iterdir()) == [200_000] * 6
    finally:
        atomicfile.close_replaced()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
