"""Asset code cannot end assetbuild: ``sys.exit``, ``GeneratorExit`` and a ``KeyboardInterrupt``
it raises itself fail that asset with a clear reason on every executor; the build goes on as
``-k`` says, ``--json`` prints its document, watch keeps watching. A real Ctrl-C still stops
the build with 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import clean_env, cli

EXITS = """\
import sys
import time
from pathlib import Path
from assetbuild import asset

def mark(name):
    with open(Path(__file__).parent / "ran.log", "a") as f:
        f.write(name + "\\n")

@asset(io="json")
def exits0():
    mark("exits0")
    sys.exit(0)

@asset(io="json")
def exits3():
    sys.exit(3)

@asset(io="json")
def gen_exit():
    raise GeneratorExit

@asset(io="json")
def interrupts():
    mark("interrupts")
    raise KeyboardInterrupt

@asset(io="json")
def fine():
    return 1

@asset(io="json")
def after(exits0, fine):
    return fine

@asset(io="json")
def slow(fine):
    mark("slow")
    try:
        time.sleep(SLEEP)
    except KeyboardInterrupt:
        sys.exit(0)  # a real Ctrl-C made into an exit is still a Ctrl-C
    return fine
"""

REASONS = {
    "exits0": "called sys.exit(0): an asset cannot end assetbuild",
    "exits3": "called sys.exit(3): an asset cannot end assetbuild",
    "gen_exit": "raised GeneratorExit outside a generator",
    "interrupts": "raised KeyboardInterrupt without a Ctrl-C",
}
EXECUTORS = {"serial": ("-j", "1"), "threads": ("-j", "2", "--executor", "threads"),
             "processes": ("-j", "2", "--executor", "processes")}


def write(root: Path, sleep: float = 0.0) -> Path:
    (root / "AssetFile").write_text(EXITS.replace("SLEEP", repr(sleep)))
    return root


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_exits_from_asset_code_fail_that_asset_and_the_build_goes_on(tmp_path, executor):
    r = cli("-k", "--json", *EXECUTORS[executor], cwd=write(tmp_path))
    assert r.returncode == 1, (r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    results = {e["asset"]: e for e in doc["results"]}
    assert doc["ok"] is False
    for name, reason in REASONS.items():
        assert results[name]["status"] == "failed" and reason in results[name]["error"], results[name]
    assert {n: results[n]["status"] for n in ("fine", "slow", "after")} == {
        "fine": "built", "slow": "built", "after": "skipped"}
    assert "Traceback" not in r.stderr

    r = cli(*EXECUTORS[executor], "exits0", cwd=tmp_path)  # as a user sees it, without -k
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "exits0: called sys.exit(0)" in r.stderr
    assert f'File "{tmp_path / "AssetFile"}", line 13, in exits0' in r.stderr, r.stderr
    assert "assetbuild/" not in r.stderr


def test_a_real_ctrl_c_still_stops_a_serial_build_after_an_asset_raised_keyboardinterrupt(tmp_path):
    """-j 1 keeps the AssetFile's order: ``interrupts`` raises its own KeyboardInterrupt (a failure),
    the build goes on to ``slow``, and a real SIGINT there ends the build with 130, although
    ``slow`` turns it into ``sys.exit(0)``; --json still prints a document."""
    write(tmp_path, sleep=30)
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "-k", "-j", "1", "--json"], cwd=tmp_path,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "ran.log"
    try:
        deadline = time.monotonic() + 60
        while "slow" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - t0 < 20  # the 30 s asset was interrupted
    assert log.read_text().split() == ["exits0", "interrupts", "slow"]
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    assert json.loads(out) == {"ok": False, "error": "interrupted", "results": []}  # --json: a document


def test_watch_keeps_watching_after_an_asset_calls_sys_exit(tmp_path):
    from test_watch_cli import WatchProcess, save

    (tmp_path / "AssetFile").write_text(EXITS.replace("SLEEP", "0"))
    w = WatchProcess(tmp_path, "exits0")
    try:
        assert "FAILED exits0" in w.expect("first build")
        w.expect("watching")
        save(tmp_path / "AssetFile", EXITS.replace("SLEEP", "0").replace("sys.exit(0)", "return 0"))
        assert "built exits0" in w.expect("AssetFile changed")
        rc, out, err = w.finish(signal.SIGINT)
    finally:
        w.kill()
    assert rc == 0 and "stopped watching (SIGINT) after 2 builds" in out, (out, err)
    assert "exits0: called sys.exit(0): an asset cannot end assetbuild" in err


UNPRINTABLE = """\
from assetbuild import asset

class BadError(Exception):
    def __str__(self):
        raise RuntimeError("boom in str")

@asset(io="json")
def ok():
    return 1

@asset(io="json")
def bad(ok):
    raise BadError()
"""


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_an_exception_whose_str_fails_fails_its_asset(tmp_path, executor):
    """Naming the error called its ``__str__``, which raised: a traceback of assetbuild's own,
    status 1 from the crash, and no --json document. It is named as Python names it."""
    (tmp_path / "AssetFile").write_text(UNPRINTABLE)
    r = cli(*EXECUTORS[executor], cwd=tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "FAILED    bad: BadError: <exception str() failed>" in r.stderr + r.stdout, (r.stdout, r.stderr)
    assert "assetbuild/" not in r.stderr and "boom in str" not in r.stderr, r.stderr
    r = cli("--json", "--force", *EXECUTORS[executor], cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    results = {e["asset"]: e for e in json.loads(r.stdout)["results"]}
    assert results["ok"]["status"] == "built" and results["bad"]["status"] == "failed"
    assert results["bad"]["error"] == "BadError: <exception str() failed>"
    r = cli("status", cwd=tmp_path)
    assert "failed  bad  failed: BadError: <exception str() failed>" in r.stdout, r.stdout
