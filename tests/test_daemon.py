"""``assetbuild run`` as a process and as an API: one tick's requests, records and exit status;
retries with backoff; alerts; one daemon per project; signals; ``assetbuild ticks``; and the
``overdue`` state ``status`` shows. Time is stepped with ASSETBUILD_NOW, never slept."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import Project, clean_env, cli, cli_cmd, holding_build_lock

import assetbuild
from assetbuild.output import Reporter
from assetbuild.session.daemon import DaemonRunning

HOUR = 3600


def at(hhmm: str) -> str:
    return f"2024-03-02T{hhmm}:00Z"


def set_mtime(path: Path, when: str) -> None:
    from datetime import datetime

    t = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    os.utime(path, (t, t))


def write_source(project: Project, text: str, when: str, name: str = "orders.csv") -> None:
    set_mtime(project.write(name, text), when)


PIPELINE = """
orders = source("orders", "orders.csv")

@asset(auto="eager")
def clean(orders):
    _ran("clean")
    return open(orders).read().upper()

@asset(auto="lazy", freshness="1h")
def report(clean):
    _ran("report")
    return len(clean)

@asset
def other(clean):
    _ran("other")
    return clean[:3]
"""


def pipeline(project: Project, extra: str = "") -> Path:
    from projects import run_counter

    runs = project.root / "runs"
    project.assetfile(run_counter(runs) + PIPELINE + extra)
    write_source(project, "a,b\n", at("07:00"))
    return runs


def tick(project: Project, when: str, monkeypatch, **kw):
    monkeypatch.setenv("ASSETBUILD_NOW", when)
    seen = []
    assetbuild.run_daemon(project_dir=project.root, once=True, on_tick=seen.append, **kw)
    return seen[0]


def test_a_day_of_ticks_builds_what_the_policies_ask(project, monkeypatch):
    from projects import take_runs

    runs = pipeline(project)
    t = tick(project, at("08:00"), monkeypatch)
    assert [(r.asset, r.reasons) for r in t.requests] == [("clean", ("eager: new asset",))]
    assert take_runs(runs) == {"clean": 1}
    # report (lazy) was never built: it lacks all of orders' data, first seen at 08:00; other
    # has no policy
    t = tick(project, at("08:30"), monkeypatch)
    assert (t.requests, take_runs(runs)) == ([], {})
    write_source(project, "c,d\n", at("08:40"))
    t = tick(project, at("09:00"), monkeypatch)  # an hour: not more than its freshness
    assert [(r.asset, r.reasons) for r in t.requests] == [("clean", ("eager: upstream orders changed",))]
    assert take_runs(runs) == {"clean": 1}
    t = tick(project, at("09:01"), monkeypatch)  # a change that keeps coming does not make it look new
    assert [(r.asset, r.reasons) for r in t.requests] == [("report", ("lazy: needed for its freshness 1h",))]
    assert take_runs(runs) == {"report": 1}
    assert t.overdue == {}  # built in this tick: no longer overdue
    write_source(project, "e,f\n", at("09:10"))
    t = tick(project, at("09:15"), monkeypatch)
    assert [r.asset for r in t.requests] == ["clean"] and take_runs(runs) == {"clean": 1}
    # the change was first seen at 09:15 (after its mtime): report lags from then
    assert tick(project, at("10:15"), monkeypatch).requests == []
    t = tick(project, at("10:16"), monkeypatch)
    assert [(r.asset, r.reasons) for r in t.requests] == [("report", ("lazy: needed for its freshness 1h",))]
    assert take_runs(runs) == {"report": 1}
    t = tick(project, at("23:00"), monkeypatch)
    assert (t.requests, take_runs(runs)) == ([], {})  # nothing changed: nothing fresh is rebuilt
    assert "other" not in project.status() or project.status()["other"].state == "missing"


def test_ticks_are_recorded_and_listed(project, monkeypatch):
    pipeline(project)
    tick(project, at("08:00"), monkeypatch)
    tick(project, at("08:30"), monkeypatch)
    rows = assetbuild.list_ticks(project_dir=project.root)
    assert [(r["seq"], r["time_ns"] // 10**9, [q["asset"] for q in r["requested"]]) for r in rows] == [
        (1, 1709366400, ["clean"]), (2, 1709368200, [])]
    assert rows[0]["run"] is not None and rows[0]["outcomes"] == {"clean": "built"}
    out = cli("ticks", cwd=project.root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"2024-03-02T08:00:00Z tick 1: 1 requested; 1 built (run {rows[0]['run']})",
        "  clean  eager: new asset",
        "2024-03-02T08:30:00Z tick 2: nothing to do (2 evaluated)"]
    doc = json.loads(cli("ticks", "-n", "1", "--json", cwd=project.root).stdout)
    assert [t["seq"] for t in doc["ticks"]] == [2]
    doc = json.loads(cli("ticks", "--limit", "1", "--json", cwd=project.root).stdout)  # as runs and log spell it
    assert [t["seq"] for t in doc["ticks"]] == [2]


def test_listing_commands_spell_their_limit_alike():
    """ticks took only -n; runs and log take -n and --limit."""
    from assetbuild.cli import cli as command

    for name in ("runs", "log", "ticks"):
        limit = [p for p in command.commands[name].params if p.name == "limit"]
        assert [sorted(p.opts) for p in limit] == [["--limit", "-n"]], name


def test_status_shows_overdue_with_its_lag(project, monkeypatch):
    pipeline(project)
    tick(project, at("08:00"), monkeypatch)
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:05"))
    assert project.built("report") == ["report"]
    write_source(project, "c,d\n", at("08:40"))
    tick(project, at("09:00"), monkeypatch)  # clean (eager) follows; report (lazy) is not due yet
    env = clean_env(ASSETBUILD_NOW=at("11:10"))
    out = cli("status", cwd=project.root, env=env)
    assert out.stdout.splitlines()[1] == ("overdue report  overdue: 2h 10m behind; freshness 1h; "
                                         "upstream-changed: " + out.stdout.splitlines()[1].split("upstream-changed: ")[1])
    doc = json.loads(cli("status", "--json", cwd=project.root, env=env).stdout)
    row = next(r for r in doc["assets"] if r["asset"] == "report")
    assert (row["state"], row["lag_s"], row["reasons"][0]) == (
        "overdue", 2 * HOUR + 600, {"code": "overdue", "detail": "2h 10m behind; freshness 1h"})
    assert cli("status", "--check", "report", cwd=project.root, env=env).returncode == 1
    # within its freshness it is only stale
    doc = json.loads(cli("status", "--json", cwd=project.root, env=clean_env(ASSETBUILD_NOW=at("09:30"))).stdout)
    assert next(r for r in doc["assets"] if r["asset"] == "report")["state"] == "stale"


def test_a_partitioned_asset_whose_partitions_are_overdue_is_overdue_on_its_own_line(project, monkeypatch):
    """Its partitions' rows said overdue and the UI called it overdue, but status's own line and
    --json called it stale, counting "3 stale", with no lag_s."""
    from assetbuild.ui.data import Where, states

    project.assetfile("""
from assetbuild import StaticPartitions

s = source("s", "s.txt")

@asset(partitions=StaticPartitions(["eu", "us", "apac"]), auto="lazy", freshness="1h")
def reg(context, s):
    return context.partition_key + s.read_text()
""")
    write_source(project, "v1\n", at("07:00"), name="s.txt")
    tick(project, at("08:00"), monkeypatch)
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:05"))
    assert len(project.built("reg")) == 3
    write_source(project, "v2\n", at("10:00"), name="s.txt")
    tick(project, at("10:01"), monkeypatch)  # the tick sees the change; lazy, within its freshness
    env = clean_env(ASSETBUILD_NOW=at("11:30"))
    out = cli("status", "reg", cwd=project.root, env=env).stdout
    assert out.startswith("overdue reg  partitioned  0 fresh, 3 overdue, 0 stale, 0 missing, 0 failed"), out
    doc = json.loads(cli("status", "--json", "reg", cwd=project.root, env=env).stdout)["assets"][0]
    assert (doc["state"], doc["lag_s"], doc["partitions"]) == (
        "overdue", HOUR + 29 * 60, {"fresh": 0, "stale": 0, "missing": 0, "failed": 0, "overdue": 3}), doc
    monkeypatch.setenv("ASSETBUILD_NOW", at("11:30"))
    assert states(Where(project_dir=str(project.root)))["reg"]["state"] == "overdue"
    # within its freshness it is only stale, and its line is as it always was
    env = clean_env(ASSETBUILD_NOW=at("10:30"))
    assert cli("status", "reg", cwd=project.root, env=env).stdout.startswith(
        "stale   reg  partitioned  0 fresh, 3 stale, 0 missing, 0 failed")


def test_a_lag_just_past_the_freshness_reads_as_past_it(project, monkeypatch):
    """1h 0m 30s behind a freshness of 1h read "overdue: 1h behind; freshness 1h", which is
    what an asset exactly at its limit (not overdue) would show."""
    pipeline(project)
    tick(project, at("08:00"), monkeypatch)
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:05"))
    assert project.built("report") == ["report"]
    write_source(project, "c,d\n", at("08:40"))
    tick(project, at("09:00"), monkeypatch)
    env = clean_env(ASSETBUILD_NOW="2024-03-02T10:00:30Z")  # the change was first seen at 09:00
    doc = json.loads(cli("status", "--json", "report", cwd=project.root, env=env).stdout)
    row = next(r for r in doc["assets"] if r["asset"] == "report")
    assert (row["state"], row["lag_s"], row["reasons"][0]) == (
        "overdue", HOUR + 30, {"code": "overdue", "detail": "1h 1m behind; freshness 1h"})


def test_a_change_reaches_downstream_with_its_own_time(project, monkeypatch):
    """report lags from when orders changed, not from when clean was rebuilt."""
    project.assetfile("""
orders = source("orders", "orders.csv")

@asset
def clean(orders):
    return open(orders).read()

@asset(freshness="1h")
def report(clean):
    return len(clean)
""")
    write_source(project, "a\n", at("07:00"))
    monkeypatch.setenv("ASSETBUILD_NOW", at("07:30"))
    project.built()
    write_source(project, "bb\n", at("08:00"))
    monkeypatch.setenv("ASSETBUILD_NOW", at("10:00"))
    assert project.built("clean") == ["clean"]  # a plain build sees the new version first
    # no tick ever saw orders' versions: the change is dated by its mtime
    st = project.status()["report"]
    assert (st.state, st.lag_s) == ("overdue", 2 * HOUR)


def test_identical_upstream_output_passes_no_change_on(project, monkeypatch):
    project.assetfile("""
orders = source("orders", "orders.csv")

@asset
def count(orders):
    return len(open(orders).read())

@asset(freshness="1h")
def report(count):
    return count * 2
""")
    write_source(project, "ab\n", at("07:00"))
    monkeypatch.setenv("ASSETBUILD_NOW", at("07:30"))
    project.built()
    write_source(project, "cd\n", at("08:00"))  # same length: count's data is unchanged
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:10"))
    assert project.built() == ["count"]
    monkeypatch.setenv("ASSETBUILD_NOW", at("12:00"))
    assert project.status()["report"].state == "fresh"


def test_lag_counts_from_the_first_change_missed_not_the_latest(project, monkeypatch):
    """An eager upstream that changes every hour: a lazy reader built at 00:00 lags since the
    first change after that, however often the upstream changes since."""
    project.assetfile("""
feed = source("feed", "feed.txt")

@asset(auto="eager")
def parsed(feed):
    return open(feed).read()

@asset(freshness="3h")
def summary(parsed):
    return len(parsed)
""")
    write_source(project, "0\n", "2024-03-02T00:00:00Z", "feed.txt")
    tick(project, "2024-03-02T00:00:00Z", monkeypatch)
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-02T00:00:00Z")
    project.built("summary")
    for h in range(1, 5):
        write_source(project, f"{h}\n", f"2024-03-02T0{h}:00:00Z", "feed.txt")
        t = tick(project, f"2024-03-02T0{h}:00:00Z", monkeypatch)
        assert [r.asset for r in t.requests] == ["parsed"]
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-02T04:30:00Z")
    st = project.status()["summary"]
    assert (st.state, st.lag_s) == ("overdue", 3.5 * HOUR)  # since 01:00, the first change it lacks


def failing_clean(project) -> None:
    """An eager asset that fails while its source holds "bad", retried after 10 minutes."""
    project.write("pyproject.toml", '[tool.assetbuild]\nretry_backoff = "10m"\n')
    project.assetfile("""
orders = source("orders", "orders.csv")

@asset(auto="eager")
def clean(orders):
    text = open(orders).read()
    if "bad" in text:
        raise ValueError("bad row")
    return text
""")


def test_a_failing_asset_is_retried_with_backoff(project, monkeypatch):
    failing_clean(project)
    write_source(project, "bad\n", at("07:00"))
    alerts = project.root / "alerts.jsonl"
    hook = f"cat >> {alerts}; echo >> {alerts}"
    t = tick(project, at("08:00"), monkeypatch, on_alert=hook)
    assert t.failed == ["clean"]
    events = [json.loads(x) for x in alerts.read_text().split("\n") if x.strip()]
    assert [(e["event"], e["asset"], e["failures"], e["retry_in_s"]) for e in events] == [("failed", "clean", 1, 600.0)]
    assert "bad row" in events[0]["error"]
    t = tick(project, at("08:05"), monkeypatch)  # within the backoff: held back, not run
    assert (t.requests, t.failed) == ([], [])
    assert t.deferred == {"clean": "failed 1 time(s); retried after 5m"}
    t = tick(project, at("08:10"), monkeypatch)
    assert t.failed == ["clean"]  # retried: fails again, the wait doubles
    write_source(project, "good\n", at("08:25"))
    t = tick(project, at("08:29"), monkeypatch)
    assert t.deferred == {"clean": "failed 2 time(s); retried after 1m"}  # though its input changed
    t = tick(project, at("08:30"), monkeypatch)
    assert (t.result.names("built"), t.deferred) == (["clean"], {})
    write_source(project, "bad again\n", at("08:40"))
    t = tick(project, at("08:41"), monkeypatch)  # a success reset the count: 10 minutes again
    assert t.failed == ["clean"]
    t = tick(project, at("08:52"), monkeypatch)
    assert t.failed == ["clean"]


@pytest.mark.parametrize("fix", ["build", "restore"])
def test_a_success_outside_run_ends_the_backoff(project, monkeypatch, fix):
    """Fixed and materialized by another command (a build, a build that restores a stored value),
    an asset is no longer failing: its next change is built at the next tick, and a later failure
    counts from 1 again. (``accept`` of an asset whose current key failed is refused:
    test_accept.)"""
    failing_clean(project)
    for text, when, built in (("good\n", "07:00", "07:01"), ("other\n", "07:02", "07:03")):
        write_source(project, text, at(when))
        assert tick(project, at(built), monkeypatch).result.names("built") == ["clean"]
    write_source(project, "bad\n", at("07:05"))
    for when in ("08:00", "08:10", "08:30"):
        assert tick(project, at(when), monkeypatch).failed == ["clean"]
    assert tick(project, at("08:31"), monkeypatch).deferred == {"clean": "failed 3 time(s); retried after 39m"}
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:33"))
    write_source(project, "fixed\n" if fix == "build" else "good\n", at("08:32"))
    r = project.build()
    assert (r.ok, r.by_asset()["clean"]) == (True, "built" if fix == "build" else "restored")
    assert project.status()["clean"].state == "fresh"
    write_source(project, "new data\n", at("08:40"))
    t = tick(project, at("08:41"), monkeypatch)  # not held back by the failures before the fix
    assert (t.result.names("built") if t.result else [], t.deferred) == (["clean"], {})
    write_source(project, "bad again\n", at("08:50"))
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:51"))
    assert not project.build().ok  # fails outside run: run's count is not started by it
    assert tick(project, at("08:52"), monkeypatch).failed == ["clean"]
    assert tick(project, at("08:53"), monkeypatch).deferred == {"clean": "failed 1 time(s); retried after 9m"}


def test_a_fix_of_the_code_ends_the_backoff_and_new_data_does_not(project, monkeypatch):
    """A failing asset whose own key changed since it failed (its code fixed) is built on the
    next tick, not after the doubled wait (39 minutes after three failures, hours after a few
    more); a later failure counts from 1. New data alone waits out the backoff (see
    test_a_failing_asset_is_retried_with_backoff)."""
    failing_clean(project)
    write_source(project, "bad\n", at("07:05"))
    for when in ("08:00", "08:10", "08:30"):
        assert tick(project, at(when), monkeypatch).failed == ["clean"]
    assert tick(project, at("08:31"), monkeypatch).deferred == {"clean": "failed 3 time(s); retried after 39m"}
    text = project.root.joinpath("AssetFile").read_text()
    project.root.joinpath("AssetFile").write_text(text.replace('if "bad" in text:', 'if "bad" in text and False:'))
    t = tick(project, at("08:32"), monkeypatch)
    assert (t.result.names("built") if t.result else [], t.deferred) == (["clean"], {})
    assert project.value("clean") == "bad\n"
    project.root.joinpath("AssetFile").write_text(text.replace('raise ValueError("bad row")', 'raise KeyError(1)'))
    assert tick(project, at("08:40"), monkeypatch).failed == ["clean"]  # another fix that fails: from 1
    assert tick(project, at("08:41"), monkeypatch).deferred == {"clean": "failed 1 time(s); retried after 9m"}
    project.root.joinpath("AssetFile").write_text(text.replace('raise ValueError("bad row")', 'raise KeyError(2)'))
    assert tick(project, at("08:42"), monkeypatch).failed == ["clean"]  # a new key: tried, though it fails
    assert tick(project, at("08:43"), monkeypatch).deferred == {"clean": "failed 1 time(s); retried after 9m"}


def test_a_source_changed_while_its_eager_reader_ran_is_built_again_next_tick(project, monkeypatch):
    """The run's result is dropped (keyed from the old bytes, run on the new ones), but nothing is
    wrong with the asset: no retry backoff, no ``failed`` alert, and the next tick builds it."""
    project.assetfile("""
import os

orders = source("orders", "orders.csv")

@asset(auto="eager")
def clean(orders):
    text = open(orders).read()
    if os.path.exists("export-now"):  # a new export lands while it runs
        os.remove("export-now")
        with open(orders, "a") as f:
            f.write("more\\n")
    return text.upper()
""")
    write_source(project, "a\n", at("07:00"))
    alerts = project.root / "alerts.jsonl"
    hook = f"cat >> {alerts}; echo >> {alerts}"
    assert tick(project, at("07:01"), monkeypatch).result.names("built") == ["clean"]
    write_source(project, "b\n", at("07:02"))
    (project.root / "export-now").touch()
    t = tick(project, at("07:03"), monkeypatch, on_alert=hook)
    assert t.failed == ["clean"] and "changed while 'clean' was running" in t.result.results[0].error
    t = tick(project, "2024-03-02T07:03:30Z", monkeypatch, on_alert=hook)  # (within a failure's backoff)
    assert (t.result.names("built") if t.result else [], t.deferred) == (["clean"], {})
    assert not alerts.exists() or not alerts.read_text().strip()
    assert project.value("clean") == "B\nMORE\n"


def test_once_exits_1_when_a_requested_asset_failed_and_2_when_the_assetfile_is_broken(project):
    project.assetfile("""
orders = source("orders", "orders.csv")

@asset(auto="eager")
def clean(orders):
    raise ValueError("no")
""")
    write_source(project, "x\n", at("07:00"))
    out = cli("run", "--once", cwd=project.root, env=clean_env(ASSETBUILD_NOW=at("08:00")))
    assert out.returncode == 1, out.stderr
    assert "clean  eager: new asset  [failed]" in out.stdout
    project.write("AssetFile", "from assetbuild import asset\n@asset(auto='sometimes')\ndef a():\n    return 1\n")
    out = cli("run", "--once", cwd=project.root, env=clean_env(ASSETBUILD_NOW=at("08:10")))
    assert out.returncode == 2
    assert out.stderr.startswith("assetbuild: error: AssetFile:2:") and "Traceback" not in out.stderr
    rows = assetbuild.list_ticks(project_dir=project.root)
    assert rows[-1]["error"].startswith("AssetFile:2:")  # recorded too


class _LetsGoWhenWaiting(Reporter):
    """A quiet reporter that keeps the warnings, and lets the lock's holder go (``release``)
    once one says the command waits for it."""

    def __init__(self, release) -> None:
        super().__init__(out=io.StringIO(), err=io.StringIO(), verbosity=-2)
        self.warnings: list[str] = []
        self._release = release

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if "waiting for it to finish" in message:
            self._release()


def test_a_tick_says_it_waits_for_a_build_to_record_what_it_did(project, monkeypatch):
    """A build started by hand once the tick's build is done holds up the tick's record: the
    run says that it waits, as a tick's start does (it looked stalled, with nothing in its output)."""
    from assetbuild.session import daemon

    pipeline(project)
    held = contextlib.ExitStack()
    real = daemon.build_project

    def then_a_build_by_hand(*args, **kw):
        result = real(*args, **kw)
        held.enter_context(holding_build_lock(project.root / ".assetbuild"))
        return result

    monkeypatch.setattr(daemon, "build_project", then_a_build_by_hand)
    rep = _LetsGoWhenWaiting(held.close)
    with held:
        t = tick(project, at("08:00"), monkeypatch, reporter=rep)
    assert [r.asset for r in t.requests] == ["clean"] and t.seq is not None
    assert [w for w in rep.warnings if "waiting for it to finish" in w] == [
        f"another build or cache command is using {project.root / '.assetbuild'}; waiting for it to finish"]
    assert [row["seq"] for row in assetbuild.list_ticks(project_dir=project.root)] == [t.seq]


def test_a_tick_that_cannot_load_the_project_says_it_waits_to_record_that(project, monkeypatch):
    """Its error is recorded under the build lock too: while a build runs, the run says it waits."""
    pipeline(project)
    project.write("AssetFile", "from assetbuild import asset\n@asset(auto='sometimes')\ndef a():\n    return 1\n")
    with holding_build_lock(project.root / ".assetbuild") as release:
        rep = _LetsGoWhenWaiting(release)
        monkeypatch.setenv("ASSETBUILD_NOW", at("08:00"))
        with pytest.raises(assetbuild.DefinitionError):
            assetbuild.run_daemon(project_dir=project.root, once=True, reporter=rep)
    assert [w for w in rep.warnings if "waiting for it to finish" in w] == [
        f"another build or cache command is using {project.root / '.assetbuild'}; waiting for it to finish"]
    assert "AssetFile:2: asset 'a': auto must be" in assetbuild.list_ticks(project_dir=project.root)[-1]["error"]


@pytest.mark.parametrize("once", [True, False], ids=["once", "loop"])
def test_a_selection_that_names_nothing_exits_2_and_records_no_tick(project, once):
    """`run totl` (a typo) ticked on for ever, recording the error every 30 s; as for build and
    watch, an item that matches nothing when the run starts is a usage error: one line, exit 2,
    no tick recorded."""
    pipeline(project)
    r = subprocess.run(cli_cmd("run", "totl", *(["--once"] if once else [])), cwd=project.root,
                       env=clean_env(ASSETBUILD_NOW=at("08:00")), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("assetbuild: error: no asset named 'totl'") and len(r.stderr.splitlines()) == 1
    assert assetbuild.list_ticks(project_dir=project.root) == []


@pytest.mark.parametrize("once", [True, False], ids=["once", "loop"])
def test_no_assetfile_exits_2_and_makes_no_cache_there(tmp_path, once):
    """`run` in a directory without an AssetFile (the wrong one) made a cache directory there and
    ticked on, recording 'no AssetFile' with the Python API's hint every 30 s."""
    r = subprocess.run(cli_cmd("run", *(["--once"] if once else [])), cwd=tmp_path, env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr == (f"assetbuild: error: no AssetFile in {tmp_path} (use -C DIR to run in another directory, "
                        "or -f FILE to name the file)\n")
    assert list(tmp_path.iterdir()) == []


def test_run_says_once_when_no_selected_asset_has_a_policy(project):
    """A new user's `assetbuild run` in a project without auto=/freshness=/schedule= built
    nothing, tick after tick, saying only 'nothing to do (0 evaluated)'."""
    project.assetfile("@asset\ndef plain():\n    return 1\n")
    out = cli("run", "--once", cwd=project.root, env=clean_env(ASSETBUILD_NOW=at("08:00")))
    assert out.returncode == 0 and out.stdout.endswith("tick 1: nothing to do (0 evaluated)\n"), out.stdout
    assert out.stderr == ("warning: no selected asset has a policy (auto=, freshness= or schedule=), so run builds "
                          "none of them; `assetbuild` builds what is not up to date\n")
    pipeline(project)
    out = cli("run", "--once", cwd=project.root, env=clean_env(ASSETBUILD_NOW=at("08:00")))
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_run_json_prints_one_line_per_tick(project):
    pipeline(project)
    out = cli("run", "--once", "--json", cwd=project.root, env=clean_env(ASSETBUILD_NOW=at("08:00")))
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.splitlines()
    doc = json.loads(line)
    assert (doc["requested"], doc["outcomes"], doc["failed"]) == (
        [{"asset": "clean", "reasons": ["eager: new asset"]}], {"clean": "built"}, [])


def test_selection_limits_what_a_tick_considers(project, monkeypatch):
    pipeline(project, """
@asset(auto="eager")
def extra(orders):
    return 1
""")
    t = tick(project, at("08:00"), monkeypatch, assets=["extra"])
    assert [r.asset for r in t.requests] == ["extra"]


def test_schedule_runs_once_per_time_and_a_failed_run_stays_owed(project, monkeypatch):
    project.write("pyproject.toml", '[tool.assetbuild]\nretry_backoff = 60\n')
    project.assetfile("""
import os

@asset(schedule="0 9 * * *")
def morning():
    if os.path.exists("broken"):
        raise RuntimeError("down")
    return 1
""")
    # the first tick owes the latest scheduled time before it (yesterday's 09:00), once
    assert [r.asset for r in tick(project, at("08:58"), monkeypatch).requests] == ["morning"]
    assert tick(project, at("08:59"), monkeypatch).requests == []
    project.write("broken", "")
    t = tick(project, at("09:00"), monkeypatch)
    assert ([r.reasons for r in t.requests], t.failed) == ([("schedule: 0 9 * * *",)], ["morning"])
    (project.root / "broken").unlink()
    assert "morning" in tick(project, at("09:00"), monkeypatch).deferred
    t = tick(project, at("09:02"), monkeypatch)
    assert t.result.names("built") == ["morning"]
    # recorded with its schedule as the reason, not "forced: --force", which nobody typed
    assert [(x.code, x.detail) for x in t.result.results[0].reasons] == [("scheduled", "0 9 * * * (UTC) was due")]
    log = cli("log", "morning", cwd=project.root, env=clean_env(ASSETBUILD_NOW=at("09:03"))).stdout
    assert "scheduled" in log and "--force" not in log, log
    assert tick(project, at("09:03"), monkeypatch).requests == []
    assert tick(project, "2024-03-03T08:00:00Z", monkeypatch).requests == []
    assert [r.asset for r in tick(project, "2024-03-05T12:00:00Z", monkeypatch).requests] == ["morning"]  # once


def test_a_schedule_evaluated_by_a_clock_that_ran_ahead_is_owed_again(project, monkeypatch):
    """A tick by a clock a day ahead honoured "tomorrow's" 09:00. Once the clock was set back,
    the schedule waited for it to catch up and the real next day's 09:00 run never happened:
    an evaluation recorded later than now counts as none, so its latest time is owed now."""
    project.assetfile('@asset(schedule="0 9 * * *")\ndef report():\n    return 1\n')
    assert [r.asset for r in tick(project, "2024-03-04T09:05:00Z", monkeypatch).requests] == ["report"]
    assert [r.asset for r in tick(project, "2024-03-05T09:30:00Z", monkeypatch).requests] == ["report"]  # ahead
    t = tick(project, "2024-03-04T09:40:00Z", monkeypatch)  # set back: the 4th's 09:00 is owed once more
    assert [(r.asset, r.reasons) for r in t.requests] == [("report", ("schedule: 0 9 * * *",))]
    assert tick(project, "2024-03-04T12:00:00Z", monkeypatch).requests == []
    assert tick(project, "2024-03-05T08:59:00Z", monkeypatch).requests == []
    t = tick(project, "2024-03-05T09:00:00Z", monkeypatch)
    assert t.result.names("built") == ["report"]
    assert tick(project, "2024-03-05T09:20:00Z", monkeypatch).requests == []


def test_a_scheduled_asset_skipped_for_its_upstream_stays_owed_but_its_own_skip_honours_it(project, monkeypatch):
    """Skipped because its upstream failed, a scheduled asset did not run: its time stays owed,
    and the first tick after the upstream is fixed builds it from the fixed data (not the day
    before's value until the next 09:00). An asset that ran and returned Skip has honoured its
    time: it is not run again on every tick until it has something."""
    from projects import run_counter, run_counts

    runs = project.root / "runs"
    project.assetfile(run_counter(runs) + """
from assetbuild import Skip

orders = source("orders", "orders.csv")

@asset(auto="eager")
def clean(orders):
    text = open(orders).read().strip()
    if text == "bad":
        raise ValueError("bad orders")
    return text

@asset(schedule="0 9 * * *")
def report(clean):
    return "report of " + clean

@asset(schedule="0 9 * * *", output_required=False)
def quiet():
    _ran("quiet")
    return Skip("nothing new")
""")
    write_source(project, "1\n", at("07:00"))
    t = tick(project, at("08:00"), monkeypatch)  # yesterday's 09:00, owed by the first tick
    assert t.result.by_asset() == {"clean": "built", "report": "built", "quiet": "skipped"}
    write_source(project, "bad\n", at("08:55"))
    t = tick(project, at("09:00"), monkeypatch)
    assert t.result.by_asset() == {"clean": "failed", "report": "skipped", "quiet": "skipped"}
    write_source(project, "3\n", at("09:05"))
    t = tick(project, at("09:10"), monkeypatch)
    assert [(r.asset, r.reasons) for r in t.requests] == [("clean", ("eager: upstream orders changed",)),
                                                          ("report", ("schedule: 0 9 * * *",))]
    assert project.value("report") == "report of 3"
    assert tick(project, at("09:20"), monkeypatch).requests == []
    assert run_counts(runs) == {"quiet": 2}  # at 08:00 and 09:00 only


def test_a_scheduled_asset_whose_upstream_waits_out_its_backoff_stays_owed(project, monkeypatch):
    """The upstream failed on an earlier tick and is held back for its retry at the scheduled
    time (directly, or through an asset between them): the scheduled asset is not built from
    the value before the failure, its time stays owed, and the tick that builds the fixed
    upstream builds it too."""
    project.write("pyproject.toml", '[tool.assetbuild]\nretry_backoff = "1h"\n')
    project.assetfile("""
orders = source("orders", "orders.csv")

@asset(auto="eager")
def clean(orders):
    text = open(orders).read().strip()
    if text == "bad":
        raise ValueError("bad orders")
    return text

@asset(auto="eager")
def mid(clean):
    return clean

@asset(schedule="0 9 * * *")
def report(clean):
    return "report of " + clean

@asset(schedule="0 9 * * *")
def later(mid):
    return "later of " + mid
""")
    write_source(project, "1\n", at("07:00"))
    assert tick(project, at("08:00"), monkeypatch).result.ok
    write_source(project, "bad\n", at("08:50"))
    assert tick(project, at("08:55"), monkeypatch).failed == ["clean"]
    t = tick(project, at("09:00"), monkeypatch)
    assert (t.requests, t.result) == ([], None)
    assert t.deferred == {"clean": "failed 1 time(s); retried after 55m", "report": "upstream clean failing",
                          "later": "upstream clean failing"}
    write_source(project, "3\n", at("09:30"))
    t = tick(project, at("10:00"), monkeypatch)
    assert sorted(t.result.names("built")) == ["clean", "later", "mid", "report"]
    assert (project.value("report"), project.value("later")) == ("report of 3", "later of 3")
    assert tick(project, at("10:05"), monkeypatch).requests == []


def test_a_berlin_schedule_runs_once_on_both_nights_the_clocks_change(project, monkeypatch):
    """02:30 happens twice on 2024-10-27 (00:30Z, 01:30Z): one build, not two; on 2024-03-31 it
    does not happen at all: one build just after the gap."""
    project.assetfile("""
@asset(schedule="30 2 * * *", timezone="Europe/Berlin")
def night():
    return 1
""")
    def built(when: str) -> list[str]:
        t = tick(project, when, monkeypatch)
        return t.result.names("built") + t.result.names("cached") if t.result is not None else []

    assert built("2024-03-30T12:00:00Z") == ["night"]  # the first tick owes the latest time
    assert built("2024-03-31T00:59:00Z") == []  # 01:59 CET
    assert built("2024-03-31T01:00:00Z") == ["night"]  # 03:00 CEST, just after the missing 02:30
    assert built("2024-03-31T02:05:00Z") == []
    assert built("2024-10-26T12:00:00Z") == ["night"]  # down for months: the latest time, once
    assert built("2024-10-27T00:31:00Z") == ["night"]  # 02:31 CEST
    assert built("2024-10-27T01:31:00Z") == []  # 02:31 CET: the same 02:30
    assert built("2024-10-27T12:00:00Z") == []


def test_run_rebuilds_an_eager_asset_whose_max_age_expired(project, monkeypatch):
    """status said `expired` while every tick said nothing to do; volatile stays a build's
    matter (a tick would rebuild it every 30 s)."""
    project.assetfile("""
@asset(max_age="1h", auto="eager")
def rates():
    return 1

@asset(volatile=True, auto="eager")
def always():
    return 2
""")
    t = tick(project, at("08:00"), monkeypatch)
    assert sorted(r.asset for r in t.requests) == ["always", "rates"]
    assert tick(project, at("09:00"), monkeypatch).requests == []  # exactly 1h old: fresh
    t = tick(project, at("09:01"), monkeypatch)
    assert [(r.asset, r.reasons) for r in t.requests] == [("rates", ("eager: max_age expired",))]
    assert t.result.names("built") == ["rates"]
    assert tick(project, at("09:02"), monkeypatch).requests == []


OWN = """
import os

@asset(auto="eager", env=["REGION"])
def regional():
    return os.environ.get("REGION")

@asset(auto="eager", params={"k": 1})
def tuned(context):
    return context.params["k"]

@asset(auto="eager")
def coded():
    return 1

@asset(auto="eager")
def reader(coded):
    return coded + 1

@asset(auto="lazy", freshness="1h", env=["REGION"])
def slow():
    return os.environ.get("REGION", "") * 2
"""


def test_run_rebuilds_an_asset_whose_code_env_or_params_changed(project, monkeypatch):
    """status said code-changed, env-changed, params-changed while every tick said nothing to
    do: such a change is one of the asset's own, from the first tick that sees it."""
    project.assetfile(OWN)
    monkeypatch.setenv("REGION", "eu")
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:00"))
    assert sorted(project.built()) == ["coded", "reader", "regional", "slow", "tuned"]
    assert tick(project, at("08:05"), monkeypatch).requests == []
    monkeypatch.setenv("REGION", "us")
    project.write("pyproject.toml", "[tool.assetbuild.params.tuned]\nk = 2\n")
    project.assetfile(OWN.replace("    return 1\n", "    return 10\n"))
    t = tick(project, at("08:10"), monkeypatch)
    assert {r.asset: r.reasons for r in t.requests} == {
        "coded": ("eager: code changed",), "reader": ("eager: upstream coded requested",),
        "regional": ("eager: env REGION changed",), "tuned": ("eager: params changed",)}
    assert (t.failed, project.value("regional"), project.value("tuned"), project.value("reader")) == ([], "us", 2, 11)
    for when in ("08:11", "09:10"):  # the lazy one may lag an hour behind the change, no more
        assert tick(project, at(when), monkeypatch).requests == []
    t = tick(project, at("09:11"), monkeypatch)
    assert [(r.asset, r.reasons) for r in t.requests] == [("slow", ("lazy: needed for its freshness 1h",))]
    assert project.value("slow") == "usus"
    assert {n: s.state for n, s in project.status().items()} == dict.fromkeys(
        ["regional", "tuned", "coded", "reader", "slow"], "fresh")
    assert tick(project, at("09:12"), monkeypatch).requests == []
    monkeypatch.setenv("REGION", "jp")  # a change undone before any tick saw it is none
    monkeypatch.setenv("REGION", "us")
    assert tick(project, at("09:13"), monkeypatch).requests == []


def test_a_lazy_assets_lag_counts_from_the_first_tick_that_saw_its_change(project, monkeypatch):
    """Not from its last build (an edit made hours after it, and seen at once, is not late
    yet), and not from a later sighting of a further change."""
    project.assetfile(OWN)
    monkeypatch.setenv("REGION", "eu")
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:00"))
    project.built()
    monkeypatch.setenv("REGION", "us")
    assert [r.asset for r in tick(project, at("12:00"), monkeypatch).requests] == ["regional"]
    monkeypatch.setenv("REGION", "fr")
    assert [r.asset for r in tick(project, at("12:59"), monkeypatch).requests] == ["regional"]
    t = tick(project, at("13:01"), monkeypatch)
    assert [(r.asset, r.reasons) for r in t.requests] == [("slow", ("lazy: needed for its freshness 1h",))]
    assert project.value("slow") == "frfr"


LAGGING = """
from assetbuild import resource

@resource(version="1")
def db():
    return 1

@asset(auto="lazy")
def base(db):
    return db

@asset(auto="lazy", freshness="1h")
def report(base):
    return base + 1

@asset(freshness="1h", env=["REGION"])
def watched():
    return os.environ.get("REGION")
"""


def overdue_lags(project, when, monkeypatch):
    monkeypatch.setenv("ASSETBUILD_NOW", at(when))
    return {n: s.lag_s for n, s in project.status().items() if s.state == "overdue"}


def test_an_own_change_is_lag_in_status_alerts_and_run_alike(project, monkeypatch):
    """A change of an asset's own (here a resource's version, a declared env var) is one its
    data lacks, from the first tick that saw it, like an upstream change: run built a lazy asset
    'for its freshness' an hour after it while status never called that asset overdue, and a
    tick raised no overdue alert for it. Now status, the tick's alerts and its requests agree:
    overdue once the freshness has passed since that tick, downstream too."""
    project.assetfile("import os\n" + LAGGING)
    alerts = project.root / "alerts.jsonl"
    hook = f"cat >> {alerts}; echo >> {alerts}"
    monkeypatch.setenv("REGION", "eu")
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:00"))
    assert sorted(project.built()) == ["base", "report", "watched"]
    project.assetfile("import os\n" + LAGGING.replace('version="1"', 'version="2"'))
    monkeypatch.setenv("REGION", "us")
    assert overdue_lags(project, "09:30", monkeypatch) == {}  # no tick saw them: seen now
    assert tick(project, at("08:10"), monkeypatch, on_alert=hook).requests == []  # seen at 08:10
    assert overdue_lags(project, "09:10", monkeypatch) == {}  # an hour exactly: not more
    assert overdue_lags(project, "09:11", monkeypatch) == {"report": HOUR + 60, "watched": HOUR + 60}
    t = tick(project, at("09:11"), monkeypatch, on_alert=hook)
    assert {r.asset: r.reasons for r in t.requests} == {
        "base": ("lazy: needed for report's freshness 1h",), "report": ("lazy: needed for its freshness 1h",)}
    assert (t.freshness["report"].overdue, t.freshness["report"].lag_s) == (True, HOUR + 60)  # before its build
    assert t.overdue == {"watched": HOUR + 60}  # auto=None: only reported
    events = [json.loads(x) for x in alerts.read_text().split("\n") if x.strip()]
    assert [(e["event"], e["asset"], e["lag_s"]) for e in events] == [("overdue", "watched", HOUR + 60)]
    assert overdue_lags(project, "09:12", monkeypatch) == {"watched": HOUR + 120}
    assert project.status()["report"].state == "fresh"
    monkeypatch.setenv("ASSETBUILD_NOW", at("09:20"))
    assert project.built("watched") == ["watched"]
    assert tick(project, at("09:21"), monkeypatch, on_alert=hook).overdue == {}
    events = [json.loads(x) for x in alerts.read_text().split("\n") if x.strip()]
    assert [(e["event"], e["asset"]) for e in events][1:] == [("recovered", "watched")]


def test_a_failed_build_still_lacks_its_own_change(project, monkeypatch):
    """After a tick's build, the alerts look again: an asset that was built holds its own
    change, one whose build failed still lacks it."""
    project.assetfile("""
import os

@asset(auto="lazy", freshness="1h", env=["REGION"])
def regional():
    if os.environ["REGION"] == "mars":
        raise ValueError("no such region")
    return os.environ["REGION"]
""")
    monkeypatch.setenv("REGION", "eu")
    monkeypatch.setenv("ASSETBUILD_NOW", at("08:00"))
    project.built()
    monkeypatch.setenv("REGION", "mars")
    assert tick(project, at("08:10"), monkeypatch).requests == []
    t = tick(project, at("09:11"), monkeypatch)
    assert (t.failed, t.overdue) == (["regional"], {"regional": HOUR + 60})
    monkeypatch.setenv("REGION", "us")  # another change of its own, seen now: still late since 08:10
    t = tick(project, at("09:30"), monkeypatch)
    assert (t.result.names("built"), t.overdue) == (["regional"], {})


def test_an_observable_source_is_observed_on_its_poll(project, monkeypatch):
    project.assetfile("""
from assetbuild import observable_source

@observable_source(poll=600)
def api(context):
    return open("api-version").read()

@asset(auto="eager")
def mirror(api):
    return api
""")
    project.write("api-version", "1")
    t = tick(project, at("08:00"), monkeypatch)
    assert [r.asset for r in t.requests] == ["mirror"]
    project.write("api-version", "2")
    assert tick(project, at("08:05"), monkeypatch).requests == []  # not due: not observed
    t = tick(project, at("08:10"), monkeypatch)
    assert [(r.asset, r.reasons) for r in t.requests] == [("mirror", ("eager: upstream api changed",))]
    assert project.value("mirror") == "2"


def test_a_failing_observable_source_waits_out_its_backoff_and_changes_nothing(project, monkeypatch):
    """An observe function that fails under ``run``: the source failed (the tick's failure, an
    alert), but nothing is known to have changed, so no reader is requested; it is observed
    again once the backoff its alert announced has passed (60 s, then 120 s), not on every
    tick; once it is observed again, its poll and a fresh count of failures apply."""
    project.assetfile("""
import pathlib
from assetbuild import observable_source

@observable_source(poll="1h")
def api():
    with open("calls", "a") as f:
        f.write("x")
    version = pathlib.Path("api-version").read_text()
    if version == "bad":
        raise RuntimeError("api down")
    return version

@asset(auto="eager")
def mirror(api):
    return api
""")
    project.write("api-version", "1")
    assert [r.asset for r in tick(project, at("08:00"), monkeypatch).requests] == ["mirror"]
    project.write("api-version", "bad")
    alerts = project.root / "alerts.jsonl"
    hook = f"cat >> {alerts}; echo >> {alerts}"
    seen = {}
    for when in ("09:00:00", "09:00:30", "09:01:30", "09:02:30", "09:03:00"):  # backoff 60 s
        t = tick(project, f"2024-03-02T{when}Z", monkeypatch, on_alert=hook)
        seen[when] = (t.failed, t.deferred, [r.asset for r in t.requests])
    assert seen == {
        "09:00:00": (["api"], {}, []),  # no reader requested: nothing is known to have changed
        "09:00:30": ([], {"api": "failed 1 time(s); observed again after 30s"}, []),
        "09:01:30": (["api"], {}, []),
        "09:02:30": ([], {"api": "failed 2 time(s); observed again after 1m"}, []),
        "09:03:00": ([], {"api": "failed 2 time(s); observed again after 30s"}, [])}
    events = [json.loads(x) for x in alerts.read_text().split("\n") if x.strip()]
    assert [(e["event"], e["asset"], e["failures"], e["retry_in_s"]) for e in events] == [
        ("failed", "api", 1, 60.0), ("failed", "api", 2, 120.0)]
    assert (project.root / "calls").read_text() == "xxx"  # 08:00, 09:00, 09:01:30
    assert assetbuild.list_ticks(project_dir=project.root)[1]["outcomes"] == {"api": "failed"}
    lines = cli("ticks", cwd=project.root).stdout.splitlines()
    assert lines[2:6] == ["2024-03-02T09:00:00Z tick 2: nothing requested; 1 failed", "  api  [failed]",
                          "2024-03-02T09:00:30Z tick 3: nothing to do (1 evaluated)",
                          "  api  not now: failed 1 time(s); observed again after 30s"]
    project.write("api-version", "2")
    t = tick(project, "2024-03-02T09:03:30Z", monkeypatch)
    assert [(r.asset, r.reasons) for r in t.requests] == [("mirror", ("eager: upstream api changed",))]
    assert (t.failed, project.value("mirror")) == ([], "2")
    assert tick(project, "2024-03-02T10:03:00Z", monkeypatch).requests == []  # its poll again: not due
    project.write("api-version", "bad")
    done = cli("run", "--once", "--on-alert", hook, cwd=project.root,
               env=clean_env(ASSETBUILD_NOW="2024-03-02T10:03:30Z"))
    assert (done.returncode, "FAILED    api: RuntimeError: api down" in done.stderr) == (1, True), done.stderr
    assert "api  [failed]" in done.stdout
    assert json.loads(alerts.read_text().split("\n")[-2])["failures"] == 1  # counted afresh
    assert (project.root / "calls").read_text() == "xxxxx"


def test_times_recorded_ahead_of_a_clock_set_back_hold_nothing_off(project, monkeypatch):
    """A clock that ran two days ahead, then set back: the failure, observation and build it
    recorded are "in the future". Nothing waits for the clock to catch up (the retry waited
    two days plus its backoff, past the cap of a day; the poll=600 source was not observed; the
    max_age asset stayed fresh): a duration from a time later than now is over (clock.age_ns)."""
    failing_clean(project)
    project.assetfile((project.root / "AssetFile").read_text() + """
from assetbuild import observable_source

@observable_source(poll=600)
def api(context):
    return open("api-version").read()

@asset(auto="eager")
def mirror(api):
    return api

@asset(max_age="1h", auto="eager")
def rates():
    return 1
""")
    write_source(project, "bad\n", at("07:00"))
    project.write("api-version", "1")
    ahead = "2024-03-04T08:00:00Z"
    t = tick(project, ahead, monkeypatch)
    assert (t.failed, sorted(t.result.names("built"))) == (["clean"], ["mirror", "rates"])
    project.write("api-version", "2")
    t = tick(project, at("08:00"), monkeypatch)  # two days earlier
    assert t.deferred == {}
    assert sorted((r.asset, r.reasons) for r in t.requests) == [
        ("clean", ("eager: new asset",)), ("mirror", ("eager: upstream api changed",)),
        ("rates", ("eager: max_age expired",))]
    assert (t.failed, sorted(t.result.names("built")), project.value("mirror")) == (["clean"], ["mirror", "rates"], "2")
    # recorded at the corrected time, everything waits as long as it says again
    t = tick(project, at("08:05"), monkeypatch)
    assert (t.requests, t.deferred) == ([], {"clean": "failed 2 time(s); retried after 15m"})


def test_a_change_recorded_ahead_of_a_clock_set_back_is_late_now(project, monkeypatch):
    """A tick by a clock two days ahead rebuilt the eager ``clean`` and the lazy ``rates``
    (max_age): after the clock was set back, the lazy ``report`` lacked clean's change, and
    ``rates`` had expired, "later than now". Both were measured as no lag, so neither was
    overdue nor rebuilt until the clock caught up: a change with no age is late now, also
    beside a change that is not late yet (``margin``'s new prices)."""
    pipeline(project, """
@asset(auto="lazy", freshness="1h", max_age="1h")
def rates():
    _ran("rates")
    return 1

prices = source("prices", "prices.csv")

@asset(auto="lazy", freshness="1h")
def margin(clean, prices):
    return clean + open(prices).read()
""")
    write_source(project, "1\n", at("07:00"), "prices.csv")
    monkeypatch.setenv("ASSETBUILD_NOW", at("07:30"))
    assert sorted(project.built()) == ["clean", "margin", "other", "rates", "report"]
    write_source(project, "c,d\n", at("07:40"))
    t = tick(project, "2024-03-04T08:00:00Z", monkeypatch)  # two days ahead
    assert [r.asset for r in t.requests] == ["clean", "rates"]
    write_source(project, "2\n", at("08:20"), "prices.csv")
    env = clean_env(ASSETBUILD_NOW=at("08:30"))  # set back: half an hour after the real 08:00
    doc = json.loads(cli("status", "--json", "report", "rates", "margin", cwd=project.root, env=env).stdout)
    rows = {r["asset"]: r for r in doc["assets"]}
    assert {a: (r["state"], r["reasons"][0]["detail"], r["lag_s"]) for a, r in rows.items()} == {
        "report": ("overdue", "behind a change at 2024-03-04T08:00:00Z, later than now; freshness 1h", HOUR),
        "margin": ("overdue", "behind a change at 2024-03-04T08:00:00Z, later than now; freshness 1h", HOUR),
        "rates": ("overdue", "behind a change at 2024-03-04T09:00:00Z, later than now; freshness 1h", 0.0)}
    t = tick(project, at("08:30"), monkeypatch)
    assert sorted((r.asset, r.reasons) for r in t.requests) == [
        ("margin", ("lazy: needed for its freshness 1h",)), ("rates", ("lazy: needed for its freshness 1h",)),
        ("report", ("lazy: needed for its freshness 1h",))]
    assert (sorted(t.result.names("built")), project.value("report")) == (["margin", "rates", "report"], 4)
    assert tick(project, at("08:35"), monkeypatch).requests == []


def test_a_retry_recorded_by_an_older_assetbuild_waits_at_most_a_day(project, monkeypatch):
    """A retry record that holds only the end of its wait (as assetbuild wrote them before the
    time of the failure was kept) is read as a wait of at most a day ending then."""
    from assetbuild.clock import parse_now
    from assetbuild.session.project import open_project, open_store
    from assetbuild.ticks import put_state

    def retry_until(end: str) -> None:
        with open_project(project.root) as p:
            store = open_store(p, readonly=False)
            try:
                put_state(store, "retry", "clean", {"failures": 1, "not_before": parse_now(end)})
                store.flush()
            finally:
                store.close()

    failing_clean(project)
    write_source(project, "bad\n", at("07:00"))
    assert tick(project, at("08:00"), monkeypatch).failed == ["clean"]
    retry_until("2024-03-02T20:00:00Z")
    assert tick(project, at("08:00"), monkeypatch).deferred == {"clean": "failed 1 time(s); retried after 12h"}
    retry_until("2024-03-04T08:00:00Z")  # two days ahead: more than a day, so the clock went back
    assert tick(project, at("08:00"), monkeypatch).failed == ["clean"]


def test_one_daemon_per_project(project, tmp_path):
    pipeline(project)
    first = subprocess.Popen(cli_cmd("run", "--tick", "3600"), cwd=project.root, env=clean_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list((project.root / ".assetbuild").glob("run-*.lock")) or not assetbuild.list_ticks(
                project_dir=project.root):
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.05)
        out = cli("run", "--once", cwd=project.root)
        assert out.returncode == 2
        assert f"another assetbuild run (pid {first.pid}) is keeping" in out.stderr
        with pytest.raises(DaemonRunning):
            assetbuild.run_daemon(project_dir=project.root, once=True)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
    # the lock went with it
    assert cli("run", "--once", cwd=project.root).returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_build_ends_the_run_cleanly(project, sig):
    project.assetfile("""
import time

orders = source("orders", "orders.csv")

@asset(auto="eager")
def first(orders):
    return 1

@asset(auto="eager")
def slow(first):
    open("started", "w").close()
    time.sleep(30)
    return 2
""")
    write_source(project, "x\n", at("07:00"))
    proc = subprocess.Popen(cli_cmd("run"), cwd=project.root, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (project.root / "started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    st = {a: s.state for a, s in assetbuild.status(project_dir=project.root) and
          {s.asset: s for s in assetbuild.status(project_dir=project.root)}.items()}
    assert st == {"first": "fresh", "slow": "missing"}  # what finished is kept
    # the run is recorded with the signal's exit status, and the interrupted tick with it
    runs = assetbuild.list_runs(project_dir=project.root)
    assert [r["exit_status"] for r in runs] == [143 if sig == signal.SIGTERM else 130]
    ticks = assetbuild.list_ticks(project_dir=project.root)
    assert len(ticks) == 1, ticks
    assert [q["asset"] for q in ticks[0]["requested"]] == ["first", "slow"]
    assert ticks[0]["error"] == ("interrupted by SIGTERM" if sig == signal.SIGTERM else "interrupted by Ctrl-C")
    # ...with its run and what finished in it, as the terminal showed it
    assert (ticks[0]["run"], ticks[0]["outcomes"]) == (runs[0]["run"], {"first": "built"})
    assert "tick 1: " in out and "interrupted by" in out, out


def test_a_signal_while_a_tick_waits_for_the_cache_lock_ends_the_run_at_once(project):
    """Another build holds the lock: the tick's wait, and the build it would run after it, are
    not what a SIGTERM waits for."""
    pipeline(project)
    err = project.root / "run.err"
    with holding_build_lock(project.root / ".assetbuild"), open(err, "w") as errf:
        proc = subprocess.Popen(cli_cmd("run", "--tick", "0.5"), cwd=project.root, env=clean_env(),
                                stdout=subprocess.DEVNULL, stderr=errf)
        try:
            deadline = time.monotonic() + 60
            while "waiting for it to finish" not in err.read_text():
                assert time.monotonic() < deadline and proc.poll() is None, err.read_text()
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, err.read_text()  # (the lock is still held)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert assetbuild.list_runs(project_dir=project.root) == []  # no build began after the signal


def test_run_help_teaches_and_bad_tick_is_a_usage_error(project):
    out = subprocess.run([sys.executable, "-m", "assetbuild", "run", "--help"], capture_output=True, text=True,
                         env=clean_env())
    assert out.returncode == 0
    for words in ("freshness", "auto=\"eager\"", "schedule=", "--once", "retry_backoff", "assetbuild ticks",
                  "--on-alert"):
        assert words in out.stdout, words
    pipeline(project)
    out = cli("run", "--tick", "soon", cwd=project.root)
    assert out.returncode == 2 and "--tick" in out.stderr and "Traceback" not in out.stderr


def test_a_running_daemon_picks_up_code_changes(project, monkeypatch):
    """Each tick reloads the AssetFile and the project modules it imports (as watch mode does):
    an asset added while the daemon runs is built by the next tick, and an eager asset whose
    helper's code changed is rebuilt."""
    import threading

    monkeypatch.setenv("ASSETBUILD_NOW", at("08:00"))
    project.write("helpers.py", "def value():\n    return 1\n")
    project.assetfile("""
import helpers

@asset(auto="eager")
def first():
    return helpers.value()
""")
    stop = threading.Event()
    ticks: list = []
    done = threading.Event()

    def on_tick(t):
        ticks.append(t)
        if any(r.asset == "second" for r in t.requests) or len(ticks) > 200:
            done.set()
            stop.set()

    runner = threading.Thread(target=assetbuild.run_daemon, kwargs=dict(
        project_dir=project.root, tick_s=0.05, stop=stop, on_tick=on_tick), daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not ticks:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        project.write("helpers.py", "def value():\n    return 2\n")
        project.assetfile("""
import helpers

@asset(auto="eager")
def first():
    return helpers.value()

@asset(auto="eager")
def second(first):
    return first * 10
""")
        assert done.wait(60), [t.to_json() for t in ticks[-3:]]
    finally:
        stop.set()
        runner.join(60)
    assert not runner.is_alive()
    assert [r.asset for r in ticks[0].requests] == ["first"]
    assert ("first", ("eager: code changed",)) in [(r.asset, r.reasons) for t in ticks[1:] for r in t.requests]
    assert project.value("second") == 20  # first was rebuilt: its helper's code changed


def test_an_asset_never_built_lags_since_the_data_it_would_read(project, monkeypatch):
    """A failing upstream keeps its reader from ever being built: the reader still goes overdue
    (and so alerts), counting from when the data it would read appeared."""
    project.assetfile("""
orders = source("orders", "orders.csv")

@asset(auto="eager")
def clean(orders):
    raise ValueError("bad row")

@asset(auto="eager", freshness="1h")
def report(clean):
    return 1

@asset(auto="lazy", freshness="2h")
def ping():
    return 1
""")
    write_source(project, "x\n", at("07:00"))
    assert tick(project, at("08:00"), monkeypatch).overdue == {}
    t = tick(project, at("09:30"), monkeypatch)
    assert t.overdue == {"report": 5400.0}  # orders first seen at 08:00
    t = tick(project, at("10:01"), monkeypatch)  # ping reads nothing: it lags since first seen
    assert [r.asset for r in t.requests if r.asset == "ping"] == ["ping"]
    assert tick(project, at("12:02"), monkeypatch).overdue == {"report": 4 * HOUR + 120}


def test_held_assets_pull_no_eager_readers(project, monkeypatch):
    """clean is in its retry backoff, and a is never materialized: their eager readers are held
    too, not requested (and built from what is stored) for them."""
    project.write("pyproject.toml", '[tool.assetbuild]\nretry_backoff = "10m"\n')
    project.assetfile("""
orders = source("orders", "orders.csv")

@asset(auto="eager")
def clean(orders):
    if "bad" in open(orders).read():
        raise ValueError("bad")
    return 1

@asset(auto="eager")
def daily(clean):
    return clean + 1

@asset
def a():
    return 1

@asset(auto="eager")
def b(a):
    return a

@asset(auto="eager")
def c(b):
    return b
""")
    write_source(project, "ok\n", at("07:00"))
    t = tick(project, at("08:00"), monkeypatch)
    assert [r.asset for r in t.requests] == ["clean", "daily"]
    assert t.deferred == {"b": "upstream a never materialized", "c": "upstream b never materialized"}
    write_source(project, "bad\n", at("08:10"))
    assert tick(project, at("08:20"), monkeypatch).failed == ["clean"]
    t = tick(project, at("08:25"), monkeypatch)
    assert (t.requests, t.result) == ([], None)  # daily is not built for clean's sake
    assert t.deferred["clean"].startswith("failed 1 time(s)")
    assert set(t.deferred) == {"clean", "b", "c"}
    rows = assetbuild.list_ticks(project_dir=project.root)
    assert rows[-1]["duration_s"] > 0 and rows[-1]["duration_s"] == round(t.duration_s, 6)
