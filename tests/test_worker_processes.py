"""Worker processes as real processes: they end with the build that started them (even a
SIGKILLed one), a timed asset's worker is killed, and large outputs travel through a file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from projects import clean_env, cli, session_members

from assetbuild.errors import ConfigError, DefinitionError
from assetbuild.store import LmdbStore

ORPHANS = """
import os, time

def _started(name):
    with open(os.path.join("started", name), "w") as f:
        f.write(str(os.getpid()))

@asset(io="json")
def slow1():
    _started("slow1")
    time.sleep(120)
    return 1

@asset(io="json")
def slow2():
    _started("slow2")
    time.sleep(120)
    return 2
"""


def _describe(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid}: {cmdline[:160]}")
        except OSError:
            pass
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the build's processes through /proc")
@pytest.mark.parametrize("jobs", ["2", "1"])
def test_workers_forkserver_and_tracker_exit_when_the_build_is_killed(project, jobs):
    project.assetfile(ORPHANS)
    (project.root / "started").mkdir()
    args = ["-j", jobs, "--executor", "processes"] if jobs == "2" else ["--timeout", "300"]
    # its own session: every process it starts (forkserver, resource tracker, workers) stays in it
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "build", *args], cwd=project.root,
                            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    sid = proc.pid
    try:
        want = 2 if jobs == "2" else 1
        deadline = time.monotonic() + 60
        while len(list((project.root / "started").iterdir())) < want:
            assert time.monotonic() < deadline, "the assets never started"
            assert proc.poll() is None, "the build ended before its assets started"
            time.sleep(0.05)
        before = session_members(sid)
        assert len(before) >= 3, _describe(before)  # the build, the forkserver, the workers...
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        left = session_members(sid)
        while left and time.monotonic() - t0 < 5:
            time.sleep(0.05)
            left = session_members(sid)
        assert not left, f"still running 5 s after the build was killed: {_describe(left)}"
    finally:
        try:
            os.killpg(sid, signal.SIGKILL)
        except OSError:
            pass


TIMED = """
import os, time

def _mark(name):
    os.makedirs(MARKS, exist_ok=True)
    with open(os.path.join(MARKS, name), "a") as f:
        f.write(f"{os.getpid()}\\n")

@asset(io="json", timeout=TIMEOUT)
def hang():
    _mark("hang")
    time.sleep(120)
    return 1

@asset(io="json")
def after_hang(hang):
    return hang + 1

@asset(io="json")
def beside():
    _mark("beside")
    time.sleep(BESIDE)
    return os.getpid()
"""


def _timed(project, timeout: str, beside: str) -> None:
    project.assetfile(TIMED.replace("TIMEOUT", timeout).replace("BESIDE", beside)
                      .replace("MARKS", repr(str(project.root / "marks"))))


def _marks(root: Path, name: str) -> list[int]:
    p = root / "marks" / name
    return [int(x) for x in p.read_text().split()] if p.exists() else []


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if os.path.exists(f"/proc/{pid}/stat"):
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("keep_going", [True, False])
def test_a_timed_out_asset_fails_its_worker_is_killed_and_its_neighbour_runs_again(project, keep_going):
    _timed(project, "1.5", "4")
    t0 = time.monotonic()
    r = project.build(jobs=2, executor="processes", keep_going=keep_going)
    took = time.monotonic() - t0
    by = {x.asset: x for x in r.results}
    assert by["hang"].status == "failed"
    assert by["hang"].error == "timed out after 1.5 s"
    assert by["after_hang"].status == "skipped"
    # beside ran in the pool that was killed to stop hang: it ran again and is not blamed
    assert by["beside"].status == "built", by["beside"].error
    assert len(_marks(project.root, "beside")) == 2
    (pid,) = _marks(project.root, "hang")
    assert _gone(pid), "the timed-out worker is still running"
    assert took < 60
    assert not r.ok


def test_with_one_job_a_timed_asset_runs_in_a_worker_that_is_killed(project):
    _timed(project, "1", "0")
    r = project.build(keep_going=True)
    by = {x.asset: x for x in r.results}
    assert by["hang"].error == "timed out after 1 s"
    (pid,) = _marks(project.root, "hang")
    assert pid != os.getpid()
    assert _gone(pid)
    assert by["beside"].status == "built"
    assert project.value("beside") == os.getpid()  # untimed assets still run in the build's thread


INLINE_BESIDE = """
import time

@asset(io="json", timeout=1)
def timed():
    time.sleep(3)
    return "ran 3 s under timeout=1"

@asset(io="json", executor="serial")
def inline():
    time.sleep(5)
    return 1
"""


def test_a_time_limit_holds_while_an_inline_asset_holds_the_build_thread(project):
    """With -j 2, an executor="serial" asset runs in the build's own thread, and the deadline of
    the timed asset beside it (in a worker process) went by unchecked meanwhile: its result,
    3 s under timeout=1, was then recorded as built."""
    project.assetfile(INLINE_BESIDE)
    r = project.build(jobs=2, executor="processes", keep_going=True)
    by = {x.asset: x for x in r.results}
    assert by["timed"].status == "failed" and by["timed"].error == "timed out after 1 s"
    assert by["inline"].status == "built"
    assert project.status()["timed"].state != "fresh"


def test_build_timeout_option_and_setting_limit_every_asset(project):
    _timed(project, "None", "30")
    r = project.build("beside", timeout=1)
    assert r.results[0].error == "timed out after 1 s"
    project.write("pyproject.toml", "[tool.assetbuild]\ntimeout = 1.25\n")
    r = project.build("beside")
    assert r.results[0].error == "timed out after 1.25 s"
    project.write("pyproject.toml", "[tool.assetbuild]\ntimeout = \"soon\"\n")
    with pytest.raises(ConfigError, match="timeout must be a positive number"):
        project.build("beside")


def test_an_assets_own_timeout_wins_over_the_builds(project):
    _timed(project, "1", "0")
    r = project.build("hang", timeout=600)
    assert r.results[0].error == "timed out after 1 s"


def test_the_cli_reports_a_timeout_and_exits_1(project):
    _timed(project, "None", "30")
    p = cli("build", "beside", "--timeout", "1", cwd=project.root)
    assert p.returncode == 1, p.stderr
    assert "timed out after 1 s" in p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    p = cli("build", "--timeout", "0", cwd=project.root)
    assert p.returncode == 2
    assert "--timeout" in p.stderr
    assert "--timeout SECONDS" in cli("build", "--help", cwd=project.root).stdout
    assert "--timeout SECONDS" in cli("watch", "--help", cwd=project.root).stdout


def test_threads_cannot_enforce_a_timeout_so_it_is_refused_before_anything_runs(project):
    project.assetfile("@asset(io='json', executor='threads', timeout=5)\ndef a():\n    return 1\n")
    with pytest.raises(DefinitionError, match="'threads' executor cannot stop a running asset") as e:
        project.build()
    assert e.value.line == 2
    project.assetfile("@asset(io='json', timeout=5)\ndef a():\n    return 1\n")
    with pytest.raises(DefinitionError, match="timeout=5, but the 'threads' executor cannot stop"):
        project.build(jobs=2, executor="threads")
    project.assetfile("import os\n@asset(io='json')\ndef a():\n    os.makedirs('runs')\n    return 1\n")
    with pytest.raises(ConfigError, match="timeout=: the 'threads' executor cannot stop a running asset; use "
                                          "executor='processes'"):
        project.build(jobs=2, executor="threads", timeout=5)
    p = cli("build", "-j", "2", "--executor", "threads", "--timeout", "5", cwd=project.root)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "--timeout: the 'threads' executor cannot stop a running asset" in p.stderr
    assert not (project.root / "runs").exists()


def test_a_limit_from_pyproject_is_named_as_such_where_threads_cannot_keep_it(project):
    """The messages name where the limit came from: a user who never typed --timeout looks for it
    in pyproject.toml."""
    project.write("pyproject.toml", "[tool.assetbuild]\ntimeout = 600\n")
    project.assetfile("@asset(io='json', executor='threads')\ndef a():\n    return 1\n")
    p = cli("build", cwd=project.root)
    assert p.returncode == 0, p.stderr
    assert "warning: timeout in pyproject.toml [tool.assetbuild] does not apply to a: the 'threads' executor " \
           "cannot stop a running asset" in p.stderr, p.stderr
    p = cli("build", "--executor", "threads", "--force", cwd=project.root)
    assert p.returncode == 2
    assert p.stderr.strip() == ("assetbuild: error: timeout in pyproject.toml [tool.assetbuild]: the 'threads' "
                                "executor cannot stop a running asset; use --executor processes"), p.stderr
    p = cli("build", "-j", "2", "--executor", "threads", "--timeout", "5", cwd=project.root)
    assert "error: --timeout: the 'threads' executor" in p.stderr, p.stderr


@pytest.mark.parametrize("value", [0, -1, "5", True, float("nan"), float("inf")])
def test_timeout_must_be_a_positive_number(project, value):
    project.assetfile(f"@asset(io='json', timeout={value!r})\ndef a():\n    return 1\n".replace("nan", "float('nan')")
                      .replace("inf", "float('inf')"))
    with pytest.raises(DefinitionError, match="timeout must be a positive number of seconds"):
        project.build()


LARGE = """
import os

@asset(io="bytes")
def big():
    return bytes(range(256)) * (SIZE // 256)

@asset(io="json")
def reader(big):
    import hashlib
    _ = "VERSION"
    return [len(big), hashlib.sha256(big).hexdigest(), os.getpid()]
"""


def test_a_large_worker_output_is_renamed_into_the_store_not_sent_through_the_pipe(tmp_path):
    from assetbuild.builtin.io_managers import BytesIOManager
    from assetbuild.execute import SPOOL_MIN, Task, dump_task, run_payload
    from assetbuild.store import LmdbStore

    data = b"\x01\x02" * SPOOL_MIN

    def big():
        return data

    store = LmdbStore(tmp_path / "cache")
    task = Task("big", big, "bytes", BytesIOManager(), {}, [], False, str(tmp_path))
    out = run_payload(dump_task(task), str(store.spool_dir()))
    assert out.ok and out.data == b"" and out.file_size == len(data)
    spool = Path(out.file)
    assert spool.parent == store.spool_dir() and spool.read_bytes() == data
    inode = spool.stat().st_ino
    store.put_blob_file(out.file, out.digest, out.file_size)
    assert not spool.exists()
    assert store.blob_path(out.digest).stat().st_ino == inode  # renamed: no copy made
    assert store.read_blob(out.digest) == data
    small = run_payload(dump_task(Task("s", lambda: b"x" * 100, "bytes", BytesIOManager(), {}, [], False,
                                       str(tmp_path))), str(store.spool_dir()))
    assert small.file is None and small.data == b"x" * 100


def test_large_outputs_and_inputs_of_workers_equal_a_serial_build(project, tmp_path):
    size = 3 << 20
    project.assetfile(LARGE.replace("SIZE", str(size)))
    assert sorted(project.built(jobs=2, executor="processes")) == ["big", "reader"]
    n, digest, pid = project.value("reader")
    assert pid != os.getpid()
    expected = bytes(range(256)) * (size // 256)
    assert project.value("big") == expected
    import hashlib

    assert [n, digest] == [size, hashlib.sha256(expected).hexdigest()]
    spool = project.root / ".assetbuild" / "cas" / "tmp"
    assert not spool.exists() or not list(spool.iterdir())  # every spool file was taken


def test_a_symlink_planted_as_the_spool_directory_receives_nothing(project):
    size = 3 << 20
    project.assetfile(LARGE.replace("SIZE", str(size)))
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(project.root).st_dev:
        pytest.skip("needs a directory on another file system (/dev/shm), where a write through "
                    "the symlink would stay")
    elsewhere = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        LmdbStore(project.root / ".assetbuild").close()  # a cache (its STORE and index), not yet built in
        cas = project.root / ".assetbuild" / "cas"
        cas.mkdir(parents=True)
        (cas / "tmp").symlink_to(elsewhere)
        assert sorted(project.built(jobs=2, executor="processes")) == ["big", "reader"]
        assert list(elsewhere.iterdir()) == []  # the output came back through the pipe instead
        assert project.value("big") == bytes(range(256)) * (size // 256)
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


@pytest.mark.parametrize("jobs", [2, 1])
def test_a_corrupt_large_input_read_by_a_worker_gets_its_upstream_rebuilt(project, jobs):
    size = 3 << 20
    project.assetfile(LARGE.replace("SIZE", str(size)))
    project.built(jobs=jobs)
    (blob,) = [p for p in (project.root / ".assetbuild" / "cas").rglob("*")
               if p.is_file() and p.stat().st_size == size]
    raw = bytearray(blob.read_bytes())
    raw[1000] ^= 0xFF
    blob.write_bytes(bytes(raw))  # same size: only the digest can tell
    project.assetfile(LARGE.replace("SIZE", str(size)).replace("VERSION", "2"))  # reader runs, big is cached
    r = project.build("reader", jobs=jobs)
    assert r.ok, [(x.asset, x.status, x.error) for x in r.results]
    assert r.names("built") == ["big", "reader"]
    assert project.value("reader")[0] == size
    assert project.value("big") == bytes(range(256)) * (size // 256)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="sums the build's resident sets from /proc")
@pytest.mark.parametrize("jobs", [["-j", "2", "--executor", "processes"], []])
def test_peak_memory_of_a_large_output_is_its_size_plus_a_baseline(jobs):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        import memory
    finally:
        sys.path.pop(0)
    size = 200_000_000
    m = memory.measure(size, jobs, reader=True, runs=1, python=sys.executable)
    assert m["added"] <= size * 1.3, f"peak {m['peak'] / 1e6:.0f} MB, baseline {m['baseline'] / 1e6:.0f} MB"


def test_watch_applies_the_timeout_to_its_builds(project):
    import io
    import threading

    from assetbuild import session
    from assetbuild.output import Reporter

    _timed(project, "None", "30")
    stop = threading.Event()
    cycles = []

    def on_cycle(c):
        cycles.append(c)
        stop.set()

    rep = Reporter(out=io.StringIO(), err=io.StringIO(), verbosity=0, live=False)
    session.watch(["beside"], project_dir=project.root, stop=stop, on_cycle=on_cycle, reporter=rep, timeout=1)
    assert cycles[0].result.results[0].error == "timed out after 1 s"


SPOOL_LEFT = '''
import os, sys
sys.path.insert(0, {src!r})
from assetbuild.atomicfile import create_temp_beside

fd, path = create_temp_beside(os.path.join({spool!r}, "output"))
os.write(fd, b"x" * 100_000)
print(path, flush=True)
if sys.argv[1] == "hold":  # a worker still writing: its flock held until stdin closes
    sys.stdin.read()
'''


def test_the_next_build_removes_what_a_killed_builds_workers_spooled(project):
    """A worker that spooled a large output for a build killed before taking it leaves the file
    in cas/tmp: the next build removes it as it starts (before, only ``cache gc`` did: the
    output's size lost per kill). One a live process still writes (flocked) is kept."""
    project.assetfile(LARGE.replace("SIZE", str(1 << 20)))
    assert sorted(project.built()) == ["big", "reader"]
    spool = project.root / ".assetbuild" / "cas" / "tmp"
    spool.mkdir(parents=True, exist_ok=True)
    src = str(Path(__import__("assetbuild").__file__).parent.parent)
    script = SPOOL_LEFT.format(src=src, spool=str(spool))
    dead = subprocess.run([sys.executable, "-c", script, "exit"], capture_output=True, text=True, check=True)
    left = Path(dead.stdout.strip())
    live = subprocess.Popen([sys.executable, "-c", script, "hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        held = Path(live.stdout.readline().strip())
        assert left.is_file() and held.is_file()
        r = cli(cwd=project.root)
        assert r.returncode == 0 and "0 built, 2 cached" in r.stdout, r.stdout + r.stderr
        assert not left.exists() and held.is_file()
    finally:
        live.communicate("")
    assert cli(cwd=project.root).returncode == 0
    assert not list(spool.iterdir())
