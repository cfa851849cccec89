"""Ctrl-C during a build: exit 130, one line, finished work kept, the next build resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from projects import clean_env, cli, process_alive, shared_assetfile

SLOW_CHAIN = """\
import time

import pytest
from pathlib import Path
from assetbuild import asset

def mark(name):
    with open(Path(__file__).parent / "ran.log", "a") as f:
        f.write(name + "\\n")

def nap(seconds):  # in slices: see tests/assetfiles/slow_pair.py
    for _ in range(int(seconds * 20)):
        time.sleep(0.05)

@asset(io="json")
def first():
    mark("first")
    return 1

@asset(io="json")
def second(first):
    mark("second")
    nap(30)
    return first + 1

@asset(io="json")
def third(second):
    mark("third")
    return second + 1
"""


def test_ctrl_c_keeps_finished_work_and_exits_130(tmp_path):
    (tmp_path / "AssetFile").write_text(SLOW_CHAIN)
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "ran.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "second" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    log.write_text("")
    (tmp_path / "AssetFile").write_text(SLOW_CHAIN.replace("nap(30)", "pass"))
    r = cli("--json", cwd=tmp_path)
    statuses = {e["asset"]: e["status"] for e in json.loads(r.stdout)["results"]}
    assert statuses == {"first": "cached", "second": "built", "third": "built"}
    assert log.read_text().split() == ["second", "third"]


SLOW_PAIR = shared_assetfile("slow_pair")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_is_an_interrupt_exit_143_workers_ended_work_kept(tmp_path, jobs):
    """SIGTERM is what `timeout`, a CI job's cancel, `docker stop` and systemd send: it ends the
    build as Ctrl-C does (finished work recorded, workers ended, one line), with status 143;
    not the default death that skips the last commit and leaks the workers' semaphores."""
    (tmp_path / "AssetFile").write_text(SLOW_PAIR)
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "--json", "-j", jobs], cwd=tmp_path,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "pids.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(log.read_text().splitlines() if log.exists() else ()) < int(jobs):
        time.sleep(0.05)
    pids = [int(line.split()[1]) for line in log.read_text().splitlines()]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, (out, err)
    assert err.strip().splitlines()[-1:] == [
        "assetbuild: terminated (SIGTERM); finished work was recorded, the rest will run next time"], err
    assert "Traceback" not in err and "leaked" not in err, err
    assert json.loads(out) == {"ok": False, "error": "terminated", "results": []}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(process_alive(p) for p in pids if p != proc.pid):
        time.sleep(0.05)
    assert not any(process_alive(p) for p in pids if p != proc.pid), "a worker outlived the terminated build"
    (tmp_path / "AssetFile").write_text(SLOW_PAIR.replace("nap(30)", "pass"))
    r = cli("--json", cwd=tmp_path)
    statuses = {e["asset"]: e["status"] for e in json.loads(r.stdout)["results"]}
    assert statuses == {"first": "cached", "left": "built", "right": "built", "both": "built"}


def test_sigterm_at_any_moment_of_a_command_start_is_a_quiet_143(tmp_path):
    """A SIGTERM while the command starts (imports, click parsing its options, loading the
    project) ends it with 143 and at most two lines: no traceback of the interrupted import, no
    click "Aborted!" with status 1. Before the handler is in place it dies of the signal (-15)."""
    (tmp_path / "AssetFile").write_text(SLOW_PAIR)
    seen = set()
    for i in range(12):
        proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "status", "-v"], cwd=tmp_path,
                                env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.04 * i)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        seen.add(proc.returncode)
        assert proc.returncode in (0, 143, -signal.SIGTERM), (i, proc.returncode, err)
        assert "Traceback" not in err and "Terminated" not in err, (i, err)
        assert len(err.strip().splitlines()) <= 2, (i, err)  # ("Aborted!" then our line, at most)
    assert 143 in seen, seen


EARLY = """\
import functools, os, signal, sys
import click.core

sig, where = int(sys.argv[1]), sys.argv[2]
sys.argv = ["assetbuild", *sys.argv[3:]]

def once(cls, name):  # the signal comes as the first such moment begins, as a real one may
    original = getattr(cls, name)

    def wrapper(*args, **kwargs):
        setattr(cls, name, original)
        os.kill(os.getpid(), sig)
        return original(*args, **kwargs)
    setattr(cls, name, wrapper)

if where == "parse":  # while click parses the command line (an option's callback imports there)
    once(click.core.Command, "parse_args")
else:  # in a class's creation, where Python 3.11 wraps it in a RuntimeError
    once(functools.cached_property, "__set_name__")
from assetbuild.entry import main
main()
"""


@pytest.mark.parametrize("where", ["parse", "class"])
@pytest.mark.parametrize("sig,said,status", [(signal.SIGINT, "assetbuild: interrupted", 130),
                                             (signal.SIGTERM, "assetbuild: terminated (SIGTERM)", 143)])
def test_an_interrupt_before_the_command_runs_is_its_line_and_status(tmp_path, where, sig, said, status):
    """Ctrl-C while click parsed the command line was click's "Aborted!" with status 1 (a CI
    wrapper reads a failed build), and inside a class's creation a traceback; SIGTERM there said
    "Aborted!" too. Each is the command's own line and status, and --json gets its document."""
    (tmp_path / "AssetFile").write_text(SLOW_PAIR)
    for args in (["status"], ["cache", "gc"], ["build", "--force", "--json"]):
        r = subprocess.run([sys.executable, "-c", EARLY, str(int(sig)), where, *args], cwd=tmp_path,
                           env=clean_env(), capture_output=True, text=True, timeout=60)
        assert r.returncode == status and r.stderr == said + "\n", (args, r.returncode, r.stderr)
        if "--json" in args:
            assert json.loads(r.stdout)["ok"] is False, r.stdout
        else:
            assert r.stdout == "", r.stdout


@pytest.mark.parametrize("sig,said,status", [(signal.SIGINT, "assetbuild: interrupted", 130),
                                             (signal.SIGTERM, "assetbuild: terminated (SIGTERM)", 143)])
def test_a_command_that_builds_nothing_does_not_promise_kept_work(tmp_path, sig, said, status):
    """`cache gc` stopped while it waits for a build's lock said 'finished work was recorded, the
    rest will run next time', a build's words; the build itself still says them."""
    (tmp_path / "AssetFile").write_text(SLOW_CHAIN)
    build = subprocess.Popen([sys.executable, "-m", "assetbuild"], cwd=tmp_path, env=clean_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = tmp_path / "ran.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "second" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.05)
        gc = subprocess.Popen([sys.executable, "-m", "assetbuild", "cache", "gc"], cwd=tmp_path, env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "waiting for it to finish" in gc.stderr.readline()
        gc.send_signal(sig)
        out, err = gc.communicate(timeout=30)
        assert gc.returncode == status and err == said + "\n", (out, err)
        build.send_signal(sig)
        _, err = build.communicate(timeout=30)
        assert build.returncode == status
        assert err == said + "; finished work was recorded, the rest will run next time\n", err
    finally:
        build.kill()
        build.wait()


STUBBORN = """\
import hashlib, os, signal, time
from pathlib import Path
from assetbuild import asset, resource

def started():
    (Path(__file__).parent / "worker.pid").write_text(str(os.getpid()))

@resource
def conn():  # any resource: its worker then tears down on SIGTERM, in a Python-level handler
    yield "c"

@asset(io="json")
def ignores_sigterm():  # as a library that installs its own handler may
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    started()
    while True:
        time.sleep(0.1)

@asset(io="json")
def in_one_c_call(conn):  # the handler waits until the call returns: minutes
    started()
    return hashlib.pbkdf2_hmac("sha256", b"x", b"y", 10**9).hex()
"""


@pytest.mark.parametrize(("asset", "sig", "to_group", "status"), [
    ("ignores_sigterm", signal.SIGINT, True, 130),  # Ctrl-C in the terminal
    ("ignores_sigterm", signal.SIGTERM, False, 143),  # kill PID
    ("in_one_c_call", signal.SIGINT, True, 130)])
def test_an_interrupt_ends_workers_that_do_not_end_on_sigterm(tmp_path, asset, sig, to_group, status):
    """The build ends its workers with SIGTERM, then kills those still running after a short
    grace: a worker that ignores SIGTERM kept the interrupted build alive for ever (after it said
    "interrupted"), one inside a long C call for as long as the call took."""
    (tmp_path / "AssetFile").write_text(STUBBORN)
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2", asset], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        pid_file = tmp_path / "worker.pid"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not pid_file.exists():
            time.sleep(0.05)
        time.sleep(0.3)  # (the pid is written first: the handler or the call comes next)
        worker = int(pid_file.read_text())
        os.killpg(proc.pid, sig) if to_group else proc.send_signal(sig)
        t0 = time.monotonic()
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the interrupted build did not exit")
        took = time.monotonic() - t0
        assert proc.returncode == status, err
        assert "Traceback" not in err and ("interrupted" in err or "terminated" in err), err
        assert took < 10, f"it took {took:.1f}s to exit"
        assert not process_alive(worker), "the worker outlived the build"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _child_started(pid: int, word: bytes, within: float = 60.0) -> bool:
    """Wait (polling hard) until a child of ``pid``'s main thread runs a command line holding ``word``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = f.read().split()
        except OSError:
            return False
        for child in children:
            try:
                with open(f"/proc/{child}/cmdline", "rb") as f:
                    if word in f.read():
                        return True
            except OSError:
                continue
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_while_the_forkserver_starts_is_one_line(tmp_path):
    """A first -j build starts the forkserver at once; a Ctrl-C (to the terminal's process group)
    while that server imported its modules printed its KeyboardInterrupt traceback, or "Fatal
    Python error: init_import_site", after the build's own line."""
    from assetbuild.executors import start_method

    if start_method() != "forkserver":
        pytest.skip("workers start by spawn here")
    (tmp_path / "AssetFile").write_text(SLOW_PAIR)
    for delay in (0.05, 0.1, 0.2):  # (the server needs some 0.5 s to import its modules here)
        shutil.rmtree(tmp_path / ".assetbuild", ignore_errors=True)
        proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2"], cwd=tmp_path, env=clean_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert _child_started(proc.pid, b"multiprocessing.forkserver"), "no forkserver started"
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130, err
            assert "Traceback" not in err and "Fatal Python error" not in err and "KeyboardInterrupt" not in err, err
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
