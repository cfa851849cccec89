"""Builds started from ``assetbuild ui`` (a real server in a subprocess): a Ctrl-C or SIGTERM
that stops the server during one is recorded as the CLI records an interrupted build, a
build counts as finished as soon as its ``build-finished`` event says so, and one that waits for
another build of its cache holds no page and says why."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import threading
import time

import pytest
from projects import Project, clean_env, cli, cli_cmd
from uiserver import Events, Server

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install -e '.[ui]'")
pytest.importorskip("uvicorn", reason="the ui extra is not installed: pip install -e '.[ui]'")


def materialize(server: Server, assets: str = "") -> int:
    hdr = {"Accept": "application/json", "X-Assetbuild-Token": server.token}
    return server.request("/materialize", data={"assets": assets}, headers=hdr)[0]


@pytest.mark.parametrize(("sig", "status", "line"), [
    (signal.SIGINT, 130, "assetbuild: interrupted; finished work was recorded, the rest will run next time"),
    (signal.SIGTERM, 143, "assetbuild: terminated (SIGTERM); finished work was recorded, the rest will run next time"),
])
def test_stopping_the_server_during_a_build_records_its_run_as_interrupted(project: Project, sig, status, line):
    """The build's finished work is kept and its run recorded with 130 (143), as a CLI build's;
    the server exits with that status and the CLI's one line, at once (not after a wait)."""
    project.assetfile("""
import time

@asset(env=["V"])
def quick():
    return 1

@asset
def slow(quick):
    time.sleep(60)
    return quick
""")
    assert cli("quick", cwd=project.root).returncode == 0  # run 000001
    s = Server(project.root, env=clean_env(V="2"))
    try:
        events = Events(s)
        assert materialize(s, "slow") == 202
        events.until(lambda e: e.get("asset") == "quick" and e.get("status") == "built")
        events.until(lambda e: e.get("asset") == "slow" and e.get("status") == "running")
        t0 = time.monotonic()
        assert s.stop(sig) == status
        assert time.monotonic() - t0 < 10
        assert s.proc.stderr.read().strip() == line
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
    runs = json.loads(cli("runs", "--json", cwd=project.root).stdout)
    rows = runs["runs"] if isinstance(runs, dict) else runs
    second = [r for r in rows if r["run"] == "000002"]
    assert second and second[0]["exit_status"] == status, rows
    assert second[0]["command"] == "ui: build('slow', keep_going=True)"  # what a user can place
    log = json.loads(cli("log", "quick", "--json", cwd=project.root).stdout)
    assert log["events"][0]["run"] == "000002"  # the history names a run that exists
    assert cli("runs", "show", "2", cwd=project.root).returncode == 0


def test_a_project_an_asset_builds_in_a_ui_build_records_a_scripts_call(project: Project, tmp_path):
    """A build the UI started is ``ui: build(...)`` in its project's runs; another project an
    asset of it builds through the API is the asset's call, ``python: build()``, as it is
    anywhere else: the UI never started that build."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "AssetFile").write_text("from assetbuild import asset\n\n@asset\ndef b():\n    return 41\n")
    project.assetfile(f"""
import assetbuild

@asset
def a():
    return assetbuild.build(project_dir={str(other)!r}).ok
""")
    s = Server(project.root)
    try:
        events = Events(s)
        assert materialize(s, "a") == 202
        events.until(lambda e: e["type"] == "build-finished")
    finally:
        assert s.stop() == 0
    mine = json.loads(cli("runs", "--json", cwd=project.root).stdout)["runs"]
    theirs = json.loads(cli("runs", "--json", cwd=other).stdout)["runs"]
    assert [r["command"] for r in mine] == ["ui: build('a', keep_going=True)"]
    assert [r["command"] for r in theirs] == ["python: build()"]


def test_a_build_may_start_as_soon_as_the_last_one_said_it_finished(project: Project):
    """``build-finished`` means finished: a Materialize sent right after it is never refused as
    "a build is already running" (the server's own bookkeeping ends before the event is sent)."""
    project.assetfile("""
@asset
def a():
    return 1
""")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        events = Events(s)
        for _ in range(30):
            assert materialize(s, "a") == 202
            events.until(lambda e: e["type"] == "build-finished")
        assert materialize(s, "a") == 202
        events.until(lambda e: e["type"] == "build-finished")
    finally:
        assert s.stop() == 0


def test_a_build_waiting_for_another_holds_no_page_and_says_so(project: Project):
    """A Materialize pressed while a command-line build of the same cache runs: the wait holds
    no page (each answers at once), it is an event the pages show in words, and the build runs
    once the other has finished."""
    project.assetfile("""
import os
import time

@asset
def slow():
    while os.path.exists("hold"):
        time.sleep(0.05)
    return 1

@asset
def quick():
    return 2
""")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    other = None
    try:
        events = Events(s)
        (project.root / "hold").write_text("")
        other = subprocess.Popen(cli_cmd("build", "--force", "slow"), cwd=project.root, env=clean_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = os.open(project.root / ".assetbuild" / "lock", os.O_RDWR)
        try:
            deadline = time.monotonic() + 30
            while True:  # until the command-line build holds the build lock
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(lock, fcntl.LOCK_UN)
                except OSError:
                    break
                assert time.monotonic() < deadline and other.poll() is None
                time.sleep(0.05)
        finally:
            os.close(lock)
        assert materialize(s, "quick") == 202
        waiting = events.until(lambda e: e["type"] == "build-waiting")
        assert "waiting for another build of this cache to finish" in waiting["message"]
        for path in ("/runs", "/", "/assets/quick"):
            t0 = time.monotonic()
            assert s.get(path)[0] == 200
            assert time.monotonic() - t0 < 5, path
        late = Events(s)  # a page opened during the wait is told of it too
        assert late.until(lambda e: e["type"] == "build-waiting")["message"] == waiting["message"]
        (project.root / "hold").unlink()
        assert other.wait(timeout=60) == 0
        finished = events.until(lambda e: e["type"] == "build-finished")
        assert finished["ok"] is True and finished["states"]["quick"] == "fresh"
    finally:
        if other is not None and other.poll() is None:
            other.kill()
        assert s.stop() == 0


def test_a_page_that_waits_for_a_ui_build_gives_no_deadlock_warning(project: Project):
    """A page opened during a UI build waits for it (as documented); after 3 s the server printed,
    per page, the turn's warning meant for an asset's own thread ("neither ever ends: call
    assetbuild from the asset's own thread instead"), though no user code called assetbuild."""
    from assetbuild.session.turns import TURN_WARNING_S

    project.assetfile("""
import os
import time

@asset(volatile=True)
def slow():
    while os.path.exists("hold"):
        time.sleep(0.05)
    return 1
""")
    s = Server(project.root)
    try:
        events = Events(s)
        (project.root / "hold").write_text("")
        assert materialize(s, "slow") == 202
        events.until(lambda e: e.get("asset") == "slow" and e.get("status") == "running")
        threading.Timer(TURN_WARNING_S + 1.5, (project.root / "hold").unlink).start()
        assert s.get("/")[0] == 200  # (waited for the build)
        assert events.until(lambda e: e["type"] == "build-finished")["ok"] is True
    finally:
        assert s.stop() == 0
    err = s.proc.stderr.read()
    assert "neither ever ends" not in err and "warning" not in err, err
