"""Ctrl-C during a build: exit 130, one line, finished work kept, the next build resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from projects import clean_env, cli

SLOW_CHAIN = """\
import time
from pathlib import Path
from assetbuild import asset

def mark(name):
    with open(Path(__file__).parent / "ran.log", "a") as f:
        f.write(name + "\\n")

@asset(io="json")
def first():
    mark("first")
    return 1

@asset(io="json")
def second(first):
    mark("second")
    time.sleep(30)
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
    (tmp_path / "AssetFile").write_text(SLOW_CHAIN.replace("time.sleep(30)", "pass"))
    r = cli("--json", cwd=tmp_path)
    statuses = {e["asset"]: e["status"] for e in json.loads(r.stdout)["results"]}
    assert statuses == {"first": "cached", "second": "built", "third": "built"}
    assert log.read_text().split() == ["second", "third"]
