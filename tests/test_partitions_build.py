"""Partitioned builds through the API, on real stores and files: which partitions rerun after
an edit, the values mappings give, file partitions coming and going, dynamic keys, status counts
and gc. Time is ASSETBUILD_NOW; each asset function counts its runs (``run_counter``)."""

from __future__ import annotations

import pytest
from projects import Project, clean_env, cli, run_counter, take_runs

import assetbuild

TIMED = '''
from assetbuild import asset, source, DailyPartitions, HourlyPartitions, In, TimeWindow, LastN

days = DailyPartitions(start="2024-01-01")
hours = HourlyPartitions(start="2024-01-01")
knob = source("knob", "knob.txt")


@asset(partitions=hours, io="json")
def hourly(context, knob):
    _ran("hourly")
    bump = 100 if context.partition_key == knob.read_text().strip() else 0
    return context.partition_window[0].hour + bump


@asset(partitions=days, io="json")
def daily(context, hourly):
    _ran("daily")
    assert list(hourly) == sorted(hourly) and len(hourly) == 24
    return sum(hourly.values())


@asset(partitions=days, io="json", ins={"prev": In("daily", mapping=TimeWindow(offset=-1))})
def delta(daily, prev):
    _ran("delta")
    return [daily, prev]


@asset(partitions=days, io="json", ins={"week": In("daily", mapping=LastN(7))})
def rolling(week):
    _ran("rolling")
    return sorted(week)


@asset(io="json")
def total(daily):
    _ran("total")
    return daily
'''


@pytest.fixture
def timed(tmp_path, monkeypatch) -> Project:
    p = Project(tmp_path)
    p.runs = tmp_path / "runs"
    p.write("AssetFile", run_counter(p.runs) + TIMED)
    p.write("knob.txt", "none")
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-04T00:30:00Z")
    return p


def test_time_partitions_build_map_and_rerun_minimally(timed: Project, monkeypatch) -> None:
    timed.built()
    assert take_runs(timed.runs) == {"hourly": 72, "daily": 3, "delta": 3, "rolling": 3, "total": 1}
    assert timed.value("daily[2024-01-02]") == sum(range(24))
    assert timed.value("delta[2024-01-01]") == [276, None]  # the first day has no yesterday
    assert timed.value("rolling[2024-01-01]") == ["2024-01-01"]  # LastN at the start: fewer
    assert timed.value("rolling[2024-01-03]") == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert timed.value("total") == {"2024-01-01": 276, "2024-01-02": 276, "2024-01-03": 276}
    assert timed.built() == []
    # the knob is an input of every hour, but only one hour's value changes: the 2nd of January
    timed.write("knob.txt", "2024-01-02-05:00")
    timed.built()
    runs = take_runs(timed.runs)
    assert runs["hourly"] == 72 and runs["daily"] == 1 and runs["total"] == 1
    assert runs["delta"] == 2 and runs["rolling"] == 2  # the 2nd and the 3rd read the 2nd
    # a day later: one more day (and its 24 hours); the unpartitioned reader reruns
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-05T00:30:00Z")
    built = timed.built()
    runs = take_runs(timed.runs)
    assert runs == {"hourly": 24, "daily": 1, "delta": 1, "rolling": 1, "total": 1}, built
    assert "daily[2024-01-04]" in built


def test_partitions_option_builds_a_range_and_status_counts(timed: Project) -> None:
    built = timed.built("daily", partitions="2024-01-02..2024-01-03")
    assert sorted(n for n in built if n.startswith("daily")) == ["daily[2024-01-02]", "daily[2024-01-03]"]
    assert sum(n.startswith("hourly") for n in built) == 48
    rows = assetbuild.status(["+daily"], project_dir=timed.root)
    st = {r.asset: r.state for r in rows}
    assert st["daily[2024-01-01]"] == "missing" and st["daily[2024-01-02]"] == "fresh"
    with pytest.raises(Exception, match="nearest"):
        timed.build("daily", partitions="2024-01-09")


FAILING = '''
from assetbuild import asset, source, StaticPartitions

regions = StaticPartitions(["eu", "us", "apac"])
bad = source("bad", "bad.txt")


@asset(partitions=regions, io="json")
def sales(context, bad):
    _ran("sales")
    if context.partition_key == bad.read_text().strip():
        raise ValueError("broken region")
    return context.partition_key.upper()


@asset(partitions=regions, io="json")
def report(sales):
    return sales + "!"
'''


def test_failed_partition_counts_failed_and_counts_are_disjoint(tmp_path) -> None:
    p = Project(tmp_path)
    p.runs = tmp_path / "runs"
    p.write("AssetFile", run_counter(p.runs) + FAILING)
    p.write("bad.txt", "us")
    r = p.build(keep_going=True)
    assert not r.ok
    from assetbuild.output.partitions import group_partitions

    groups = {g.asset: g for g in group_partitions(assetbuild.status(project_dir=tmp_path))}
    assert groups["sales"].counts == {"fresh": 2, "stale": 0, "missing": 0, "failed": 1, "overdue": 0}
    assert sum(groups["report"].counts.values()) == 3
    assert groups["report"].counts["fresh"] == 2
    assert groups["sales"].state == "failed"
    assert p.value("report[eu]") == "EU!"


FILES = '''
from assetbuild import asset, FilePartitions

files = FilePartitions("data/raw/**/*.csv")


@asset(partitions=files, io="json", path="build/clean/{partition}.json")
def clean(context):
    _ran("clean")
    assert context.partition_path.is_file()
    return context.partition_path.read_text().split(",")


@asset(io="json")
def total(clean):
    _ran("total")
    return {k: len(v) for k, v in clean.items()}
'''


def test_file_partitions_add_edit_delete(tmp_path) -> None:
    p = Project(tmp_path)
    p.runs = tmp_path / "runs"
    p.write("AssetFile", run_counter(p.runs) + FILES)
    p.write("data/raw/a.csv", "1,2")
    p.write("data/raw/2024/b.csv", "1")
    p.built()
    assert take_runs(p.runs) == {"clean": 2, "total": 1}
    assert (tmp_path / "build/clean/2024/b.csv.json").is_file()
    assert p.value("total") == {"2024/b.csv": 1, "a.csv": 2}
    p.write("data/raw/c.csv", "x")
    p.built()
    assert take_runs(p.runs) == {"clean": 1, "total": 1}
    p.write("data/raw/a.csv", "1,2,3")
    p.built()
    assert take_runs(p.runs) == {"clean": 1, "total": 1}
    (tmp_path / "data/raw/2024/b.csv").unlink()
    p.built()
    assert take_runs(p.runs) == {"total": 1}
    assert not (tmp_path / "build/clean/2024/b.csv.json").exists()
    assert p.value("total") == {"a.csv": 3, "c.csv": 1}
    # the last files go too: their partitions and outputs go with them
    (tmp_path / "data/raw/a.csv").unlink()
    (tmp_path / "data/raw/c.csv").unlink()
    p.built()
    assert p.value("total") == {}
    assert not (tmp_path / "build/clean/a.csv.json").exists()


DYNAMIC = '''
from assetbuild import asset, DynamicPartitions

customers = DynamicPartitions("customers")


@asset(partitions=customers, io="json", path="out/{partition}.json")
def account(context):
    _ran("account")
    return context.partition_key


@asset(io="json")
def everyone(account):
    return sorted(account)
'''


def test_dynamic_partitions_add_and_remove(tmp_path) -> None:
    from assetbuild.session.partitioning import change_dynamic, partition_keys

    p = Project(tmp_path)
    p.runs = tmp_path / "runs"
    p.write("AssetFile", run_counter(p.runs) + DYNAMIC)
    p.built()
    assert p.value("everyone") == []
    assert change_dynamic("customers", ["acme", "zeta"], add=True, project_dir=tmp_path) == ["acme", "zeta"]
    p.built()
    assert take_runs(p.runs) == {"account": 2}
    assert partition_keys("account", project_dir=tmp_path) == ["acme", "zeta"]
    change_dynamic("customers", ["zeta"], add=False, project_dir=tmp_path)
    p.built()
    assert take_runs(p.runs) == {}
    assert p.value("everyone") == ["acme"] and not (tmp_path / "out/zeta.json").exists()


@pytest.mark.parametrize("spelling", ["x/./y", "x//y"])
def test_paths_are_compared_normalised_however_a_key_spells_them(tmp_path, spelling) -> None:
    """The check that two partitions write different files compared raw strings: 'x/y' and
    'x/./y' passed it. (Keys that reach it are checked first; it holds on its own too.)"""
    from assetbuild.errors import DynamicKeyError
    from assetbuild.session.project import open_project

    p = Project(tmp_path)
    p.write("AssetFile", run_counter(tmp_path / "runs") + DYNAMIC)
    with pytest.raises(DynamicKeyError, match=rf"'account\[x/y\]' and 'account\[{spelling}\]' both write "
                                              rf"out/{spelling}\.json"):
        with open_project(tmp_path, dynamic={"customers": ["x/y", spelling]}):
            pass


def test_gc_keeps_each_partitions_latest(timed: Project) -> None:
    from assetbuild.session.maintenance import gc

    timed.built("daily")
    timed.write("knob.txt", "2024-01-02-05:00")
    timed.built("daily")
    gc(max_size=0, project_dir=timed.root)  # everything that no latest build uses goes
    for day, value in (("2024-01-01", 276), ("2024-01-02", 376), ("2024-01-03", 276)):
        assert timed.value(f"daily[{day}]") == value
    assert timed.value("hourly[2024-01-02-05:00]") == 105
    assert timed.built("daily") == []


def test_an_asset_with_no_partitions_left_is_selectable(tmp_path) -> None:
    p = Project(tmp_path)
    p.runs = tmp_path / "runs"
    p.write("AssetFile", run_counter(p.runs) + FILES)
    p.write("data/raw/a.csv", "1")
    p.built()
    (tmp_path / "data/raw/a.csv").unlink()
    r = p.build("clean")
    assert r.ok
    assert not (tmp_path / "build/clean/a.csv.json").exists()
    assert p.built("total") == ["total"] and p.value("total") == {}


def test_status_counts_the_upstream_partitions_a_selection_reaches_and_stale_ones(timed: Project, monkeypatch) -> None:
    """``status +daily`` selects daily and what it reads: the 72 hours of its three days, as
    ``build +daily`` builds them and ``-n +daily`` predicts. The 3 hours of the day not over yet,
    which no daily partition reads, are not in the selection (they were counted missing, and
    ``--check`` failed on them while ``-n`` said nothing would run); the whole project counts them."""
    from assetbuild.output.partitions import group_partitions

    timed.built("daily")
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-04T03:30:00Z")  # 3 hours more, no day more
    groups = {g.asset: g for g in group_partitions(assetbuild.status(["+daily"], project_dir=timed.root))}
    assert groups["hourly"].counts == {"fresh": 72, "stale": 0, "missing": 0, "failed": 0, "overdue": 0}
    assert groups["daily"].counts == {"fresh": 3, "stale": 0, "missing": 0, "failed": 0, "overdue": 0}
    everything = {g.asset: g for g in group_partitions(assetbuild.status(project_dir=timed.root))}
    assert everything["hourly"].counts == {"fresh": 72, "stale": 0, "missing": 3, "failed": 0, "overdue": 0}
    timed.write("knob.txt", "2024-01-02-05:00")
    groups = {g.asset: g for g in group_partitions(assetbuild.status(["+daily"], project_dir=timed.root))}
    assert groups["hourly"].counts == {"fresh": 0, "stale": 72, "missing": 0, "failed": 0, "overdue": 0}
    assert groups["hourly"].state == "stale" and sum(groups["daily"].counts.values()) == 3


PARIS = '''
from assetbuild import asset, DailyPartitions, HourlyPartitions

hours = HourlyPartitions(start="2024-10-26", timezone="Europe/Paris")
days = DailyPartitions(start="2024-10-26", timezone="Europe/Paris")


@asset(partitions=hours, io="json")
def hourly(context):
    start, end = context.partition_window
    return [start.isoformat(), end.timestamp() - start.timestamp()]


@asset(partitions=days, io="json")
def daily(context, hourly):
    start, end = context.partition_window
    return [len(hourly), end.timestamp() - start.timestamp(), sum(v[1] for v in hourly.values())]
'''


def test_dst_days_read_their_hours(tmp_path, monkeypatch) -> None:
    p = Project(tmp_path)
    p.write("AssetFile", PARIS)
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-10-28T00:00:00Z")
    p.built()
    assert p.value("daily[2024-10-26]") == [24, 86400, 86400]
    assert p.value("daily[2024-10-27]") == [24, 90000, 90000]  # 25 hours: the repeated one is 2 hours long
    assert p.value("hourly[2024-10-27-02:00]") == ["2024-10-27T02:00:00+02:00", 7200]


@pytest.mark.parametrize("defn, words", [
    ('MonthlyPartitions(start="2024-01-15")', "use start='2024-01' to include the month holding it, or '2024-02'"),
    ('WeeklyPartitions(start="2024-01-03")', "use start='2024-01-01' to include the week holding it, or '2024-01-08'"),
])
def test_a_start_inside_a_window_is_one_line_at_the_declaration(tmp_path, defn, words) -> None:
    """Before, the keys began at the next window with no word: January was never built."""
    Project(tmp_path).write("AssetFile", f'''from assetbuild import asset, MonthlyPartitions, WeeklyPartitions

P = {defn}

@asset(partitions=P, io="json")
def d(context):
    return context.partition_key
''', dedent=False)
    for command in ([], ["-n"], ["partitions", "list", "d"]):
        r = cli(*command, cwd=tmp_path, env=clean_env(ASSETBUILD_NOW="2024-03-04T12:00:00Z"))
        assert r.returncode == 2 and r.stderr.startswith("assetbuild: error: AssetFile:3: "), r.stderr
        assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
