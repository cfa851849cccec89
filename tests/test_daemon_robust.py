"""What must not stop or mislead ``assetbuild run``: an AssetFile edited to a schedule that can
never fire while the daemon runs (a failed tick, then ticks go on), and SIGTERM during a
tick's build (the run recorded as SIGTERM's 143, the interrupted tick recorded)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from projects import Project, clean_env, cli_cmd

import assetbuild

GOOD = "from assetbuild import asset\n@asset(schedule='0 0 1 2 *')\ndef r():\n    return 1\n"
NEVER = GOOD.replace("0 0 1 2 *", "0 0 31 2 *")


def test_a_running_daemon_survives_an_edit_to_a_schedule_that_never_fires(project: Project, monkeypatch):
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-01T00:00:00Z")
    path = project.write("AssetFile", GOOD)
    stop = threading.Event()
    ticks = []

    def on_tick(t) -> None:
        ticks.append(t)
        text = NEVER if len(ticks) == 1 else GOOD  # broken after the first tick, mended after the second
        path.write_text(text)
        os.utime(path, (1_700_000_000 + len(ticks), 1_700_000_000 + len(ticks)))  # a change the reload sees
        if len(ticks) == 3:
            stop.set()

    summary = assetbuild.run_daemon(project_dir=project.root, tick_s=0.01, stop=stop, on_tick=on_tick)
    assert summary.ticks == 3
    assert [t.error is None for t in ticks] == [True, False, True]
    assert "AssetFile:2: asset 'r': schedule '0 0 31 2 *' never fires" in (ticks[1].error or "")
    assert [r["error"] is None for r in assetbuild.list_ticks(project_dir=project.root)] == [True, False, True]


def test_sigterm_during_a_tick_records_the_run_as_143_and_the_tick(project: Project):
    project.write("AssetFile", """
import time
from assetbuild import asset

@asset(auto="eager")
def first():  # finished work: the run is recorded (a run that made nothing is not)
    return 1

@asset(auto="eager")
def slow(first):
    open("started", "w").close()
    time.sleep(30)
    return 2
""")
    proc = subprocess.Popen(cli_cmd("run"), cwd=project.root, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (project.root / "started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err  # documented: SIGTERM is how a daemon is stopped
    finally:
        if proc.poll() is None:
            proc.kill()
    runs = assetbuild.list_runs(project_dir=project.root)
    assert [r["exit_status"] for r in runs] == [143]
    ticks = assetbuild.list_ticks(project_dir=project.root)
    assert len(ticks) == 1, ticks
    assert [q["asset"] for q in ticks[0]["requested"]] == ["first", "slow"]
    assert ticks[0]["error"] == "interrupted by SIGTERM"
