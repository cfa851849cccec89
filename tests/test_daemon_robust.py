"""What must not stop ``assetbuild run``: an AssetFile edited to a schedule that can never fire
while the daemon runs (a failed tick, then ticks go on); a plugin whose hook raises (a warning,
and the tick keeps its bookkeeping). A signal during a tick's build: ``test_daemon.py``."""

from __future__ import annotations

import os
import threading

import pytest
from projects import Project, run_counter, run_counts

import assetbuild
from assetbuild import hookimpl
from assetbuild.plugins import get_plugin_manager

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


def _ticks(project: Project, monkeypatch, pm, times: list[str]) -> list:
    seen: list = []
    for when in times:
        monkeypatch.setenv("ASSETBUILD_NOW", when)
        assetbuild.run_daemon(project_dir=project.root, once=True, plugin_manager=pm, on_tick=seen.append)
    return seen


@pytest.mark.parametrize("hook", ["before_build", "after_asset", "asset_failed", "after_build"])
def test_a_plugin_that_raises_in_a_ticks_build_is_a_warning_and_the_tick_keeps_its_bookkeeping(
        project: Project, monkeypatch, capsys, hook):
    """A broken alert plugin: its failure is said, naming the hook and the plugin, and the
    tick's build and bookkeeping go on. A scheduled time it honoured stays honoured (not built
    again on every tick), a failure's backoff holds the failing asset back."""
    def raising(self):
        raise RuntimeError("pager down")

    Broken = type("Broken", (), {hook: hookimpl(raising)})
    pm = get_plugin_manager(autoload=False)
    pm.register(Broken(), name="pager")
    runs = project.root / "runs"
    project.assetfile(run_counter(runs) + """
@asset(auto="eager")
def bad():
    _ran("bad")
    raise ValueError("nope")

@asset(schedule="0 9 * * *")
def report():
    _ran("report")
    return 1
""")
    ticks = _ticks(project, monkeypatch, pm, ["2024-03-01T09:00:00Z", "2024-03-01T09:00:10Z", "2024-03-01T09:00:20Z"])
    assert run_counts(runs) == {"bad": 1, "report": 1}
    assert [t.error for t in ticks] == [None, None, None]
    assert (ticks[0].failed, ticks[0].result.names("built")) == (["bad"], ["report"])
    assert [(r.asset, r.reasons) for r in ticks[0].requests] == [("bad", ("eager: new asset",)),
                                                                 ("report", ("schedule: 0 9 * * *",))]
    assert [t.deferred for t in ticks[1:]] == [{"bad": "failed 1 time(s); retried after 50s"},
                                               {"bad": "failed 1 time(s); retried after 40s"}]
    assert ticks[1].requests == ticks[2].requests == []
    err = capsys.readouterr().err
    assert f"warning: a plugin failed in the {hook} hook (pager): RuntimeError: pager down" in err
    assert "Traceback" not in err
    ticked = assetbuild.list_ticks(project_dir=project.root)
    assert [(t["error"], t["outcomes"]) for t in ticked][0] == (None, {"bad": "failed", "report": "built"})


def test_a_plugin_that_raises_in_asset_overdue_is_a_warning_and_alerts_once(project: Project, monkeypatch, capsys):
    """The overdue alert's hook raises: said once, the state recorded (not alerted again on
    every tick), and the tick's build, a due schedule's, kept (not built again on the next)."""
    calls = []

    class Pager:
        @hookimpl
        def asset_overdue(self, asset, lag_s, overdue):
            calls.append((asset, overdue))
            raise RuntimeError("pager down")

    pm = get_plugin_manager(autoload=False)
    pm.register(Pager(), name="pager")
    runs = project.root / "runs"
    project.assetfile(run_counter(runs) + """
feed = source("feed", "feed.txt")

@asset(freshness="1h")  # auto=None: run never builds it, so it stays late
def dash(feed):
    return feed.read_text()

@asset(schedule="0 9 * * *")
def report():
    _ran("report")
    return 1
""")
    feed = project.write("feed.txt", "1")
    os.utime(feed, (1709251200, 1709251200))  # 2024-03-01T00:00Z
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-01T00:10:00Z")
    assert project.built() == ["dash", "report"]
    feed.write_text("2")
    os.utime(feed, (1709254800, 1709254800))  # 01:00
    _ticks(project, monkeypatch, pm, ["2024-03-01T01:05:00Z"])  # the change is seen; the report made
    assert (calls, run_counts(runs)) == ([], {"report": 2})
    ticks = _ticks(project, monkeypatch, pm, ["2024-03-01T09:00:00Z", "2024-03-01T09:05:00Z", "2024-03-01T09:10:00Z"])
    assert calls == [("dash", True)]
    assert run_counts(runs) == {"report": 3}  # once for the 09:00 schedule
    assert [t.error for t in ticks] == [None, None, None]
    assert [list(t.overdue) for t in ticks] == [["dash"]] * 3
    err = capsys.readouterr().err
    assert err.count("warning: a plugin failed in the asset_overdue hook (pager): RuntimeError: pager down") == 1
    assert assetbuild.list_ticks(project_dir=project.root)[-3]["outcomes"] == {"report": "built"}


def test_a_tick_the_cache_cannot_record_leaves_the_daemon_running(project: Project):
    """The cache cannot be written for a while (here its index made immutable; a full disk does
    the same): the tick fails, its record fails too, and the daemon ticks on rather than
    exiting (under systemd's restart limits a few minutes of full disk ended it for good);
    once the cache can be written again, the next tick builds what changed."""
    import subprocess

    project.write("data.txt", "one")
    project.write("AssetFile", 'from assetbuild import asset, source\nraw = source("raw", "data.txt")\n'
                               '@asset(io="text", auto="eager")\ndef a(raw):\n    return raw.read_text()\n')
    data = project.root / ".assetbuild" / "db" / "data.mdb"
    stop = threading.Event()
    ticks = []

    def chattr(flag: str) -> None:
        r = subprocess.run(["chattr", flag, str(data)], capture_output=True, text=True)
        if r.returncode != 0:
            stop.set()
            pytest.skip(f"cannot chattr {flag} here (needs root and a file system that has it): {r.stderr.strip()}")

    def on_tick(t) -> None:
        ticks.append(t)
        if len(ticks) == 1:
            project.write("data.txt", "two")
            chattr("+i")
        elif len(ticks) == 2:
            chattr("-i")
        else:
            stop.set()

    try:
        summary = assetbuild.run_daemon(project_dir=project.root, tick_s=0.01, stop=stop, on_tick=on_tick)
    finally:
        subprocess.run(["chattr", "-i", str(data)], capture_output=True)
    assert summary.ticks == 3 and summary.stopped_by == "stop"
    assert ticks[1].seq is None and "no permission to write the cache index" in (ticks[1].error or "")
    assert "not recorded either (the next tick tries again)" in (ticks[1].error or ""), ticks[1].error
    assert ticks[2].error is None and ticks[2].result is not None and ticks[2].result.names("built") == ["a"]
    assert assetbuild.load_value("a", project_dir=project.root) == "two"
