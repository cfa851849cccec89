"""`assetbuild -j N` in a real subprocess: options, worker logs, Ctrl-C with running workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from abtest import clean_env, cli  # noqa: E402

TWO = """\
from assetbuild import asset

@asset(io="json")
def a(context):
    context.log.info("a says hi")
    return 1

@asset(io="json")
def b(a):
    return a + 1
"""


def test_jobs_and_executor_options(tmp_path):
    (tmp_path / "AssetFile").write_text(TWO)
    r = cli("-j", "2", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [e["status"] for e in json.loads(r.stdout)["results"]] == ["built", "built"]
    assert "[a] a says hi" in r.stderr  # collected in the worker, printed by the parent
    r = cli("build", "-j", "auto", "--executor", "threads", "--force", cwd=tmp_path)
    assert r.returncode == 0 and "[a] a says hi" in r.stderr


def test_bad_options_are_one_line_and_exit_2(tmp_path):
    (tmp_path / "AssetFile").write_text(TWO)
    for args, text in [(["-j", "0"], "-j/--jobs must be at least 1"),
                       (["-j", "x"], "-j/--jobs must be a positive number or 'auto'"),
                       (["--executor", "nope"], "unknown executor 'nope'"),
                       (["--executor-option", "novalue"], "use KEY=VALUE"),
                       (["--executor", "threads", "--executor-option", "k=v"], "has no option 'k'")]:
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert text in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    r = cli("--help", cwd=tmp_path)
    assert "--jobs" in r.stdout and "--executor" in r.stdout


SLOW_PAIR = """\
import os, time
from pathlib import Path
from assetbuild import asset

def mark(name):
    with open(Path(__file__).parent / "pids.log", "a") as f:
        f.write(f"{name} {os.getpid()}\\n")

@asset(io="json")
def first():
    return 1

@asset(io="json")
def left(first):
    mark("left")
    time.sleep(30)
    return first + 1

@asset(io="json")
def right(first):
    mark("right")
    time.sleep(30)
    return first + 2

@asset(io="json")
def both(left, right):
    return left + right
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def test_ctrl_c_ends_the_workers_and_the_next_build_resumes(tmp_path):
    (tmp_path / "AssetFile").write_text(SLOW_PAIR)
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "pids.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    pids = {name: int(pid) for name, pid in (line.split() for line in log.read_text().splitlines())}
    assert set(pids) == {"left", "right"} and proc.pid not in pids.values()
    proc.send_signal(signal.SIGINT)  # the parent only, as a terminal's Ctrl-C would reach it first
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids.values()):
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids.values()), "a worker outlived the interrupted build"
    (tmp_path / "AssetFile").write_text(SLOW_PAIR.replace("time.sleep(30)", "pass"))
    r = cli("-j", "2", "--json", cwd=tmp_path)
    statuses = {e["asset"]: e["status"] for e in json.loads(r.stdout)["results"]}
    assert statuses == {"first": "cached", "left": "built", "right": "built", "both": "built"}
