"""What must not stop ``assetbuild run``: an AssetFile edited to a schedule that can never fire
while the daemon runs (a failed tick, then ticks go on). A signal during a tick's build:
``test_daemon.py``."""

from __future__ import annotations

import os
import threading

from projects import Project

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
