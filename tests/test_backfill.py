"""Building partitions as a backfill: in parallel, numbered lines, the listings that show a
partitioned asset once, watch mode seeing a new file, and what executors and IO managers get.

The partition semantics themselves (definitions, mappings, keys, status) have their own tests
(tests/test_partitions*.py); these cover what the engine and the terminal make of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import assetbuild
from assetbuild.output import Reporter

NOW = "2024-01-04T00:00:00Z"

DAYS = """
from assetbuild import asset, DailyPartitions, HourlyPartitions
import os, time

@asset(partitions=HourlyPartitions(start="2024-01-01"))
def hourly(context):
    return context.partition_window[0].hour

@asset(partitions=DailyPartitions(start="2024-01-01"))
def daily(context, hourly):
    with open(os.path.join("runs", context.partition_key + "-" + str(os.getpid())), "w"):
        pass
    time.sleep(float(os.environ.get("SLOW", "0")))
    return sum(hourly.values())

@asset
def report(daily):
    return daily
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env["ASSETBUILD_NOW"] = NOW
    env.update(extra)
    return env


def _cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assetbuild", "-C", str(root), *args], capture_output=True,
                          text=True, env=_env(**env), timeout=120)


@pytest.fixture(autouse=True)
def _now(monkeypatch) -> None:
    monkeypatch.setenv("ASSETBUILD_NOW", NOW)  # the in-process calls' partitions too


@pytest.fixture
def days(tmp_path: Path) -> Path:
    (tmp_path / "AssetFile").write_text(DAYS)
    (tmp_path / "runs").mkdir()
    return tmp_path


def test_backfill_lines_are_numbered_among_the_partitions_of_the_build(days: Path) -> None:
    r = _cli(days, "daily", "--partitions", "2024-01-02..2024-01-03")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("built")]
    assert len(lines) == 50  # 48 hours and 2 days
    assert lines[0].split()[1:] in (["hourly[2024-01-02-00:00]"], ["hourly[2024-01-02-00:00]", "(0.01s)"]) \
        or "[" not in lines[0].split(maxsplit=2)[-1]  # what the backfill needs is not numbered
    assert lines[-2].split()[1:3] == ["daily[2024-01-02]", "[1/2]"]  # (then its duration, if any)
    assert lines[-1].split()[1:3] == ["daily[2024-01-03]", "[2/2]"]
    numbered = _cli(days, "daily", "hourly")  # a plain build numbers each partition among all it has
    assert numbered.returncode == 0
    built_lines = [ln for ln in numbered.stdout.splitlines() if ln.startswith("built")]
    assert len(built_lines) == 25  # a day's hours and the day: the other 50 are cached, and counted
    assert built_lines[0].split()[2] == "[51/75]" and built_lines[-1].split()[2] == "[75/75]"
    # a plain build's lines keep their form: no counter without partitions in it
    plain = _cli(days, "report")
    assert "built     report\n" in plain.stdout or "built     report  (" in plain.stdout, plain.stdout
    assert "[" not in [ln for ln in plain.stdout.splitlines() if ln.startswith("built     report")][0]


def test_a_backfill_runs_partitions_in_parallel(days: Path) -> None:
    assert _cli(days, "hourly").returncode == 0
    r = _cli(days, "daily", "--partitions", "2024-01-01..2024-01-03", "-j", "2", SLOW="0.5")
    assert r.returncode == 0, r.stderr
    runs = sorted(p.name for p in (days / "runs").iterdir())
    assert [n.rsplit("-", 1)[0] for n in runs] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert len({n.rsplit("-", 1)[1] for n in runs}) == 2, runs  # two worker processes shared them
    again = _cli(days, "daily", "--partitions", "2024-01-01..2024-01-03", "-j", "2", "--json")
    assert {x["status"] for x in json.loads(again.stdout)["results"]} == {"cached"}


def test_list_and_graph_show_a_partitioned_asset_once_with_its_count(days: Path) -> None:
    rows = assetbuild.list_assets(project_dir=days)
    by_name = {r["name"]: r for r in rows}
    assert list(by_name) == ["hourly", "daily", "report"]
    assert by_name["daily"]["partitions"] == {"kind": "daily", "definition": "daily from 2024-01-01", "count": 3}
    assert by_name["hourly"]["partitions"]["count"] == 72
    assert by_name["daily"]["inputs"] == ["hourly"] and by_name["report"]["inputs"] == ["daily"]
    text = _cli(days, "list").stdout
    rows = {ln.split()[0]: " ".join(ln.split()) for ln in text.splitlines()}  # aligned columns
    assert rows["daily"] == "daily asset - pickle - hourly [daily from 2024-01-01: 3 partitions]"
    dot = _cli(days, "graph").stdout
    assert '"daily" [shape=box3d, label="daily\\n3 partitions"];' in dot
    assert '"hourly" -> "daily";' in dot and '"daily" -> "report";' in dot
    assert "2024-01-01" not in dot
    assert set(assetbuild.functions(project_dir=days)) == {"hourly", "daily", "report"}


def test_a_partitioned_asset_is_fingerprinted_once_not_per_partition(days: Path, monkeypatch) -> None:
    from assetbuild.fingerprint.walk import Fingerprinter

    calls: list[str] = []
    real = Fingerprinter.fingerprint_function

    def counting(self, fn, asset):  # noqa: ANN001, ANN202
        calls.append(asset)
        return real(self, fn, asset)

    monkeypatch.setattr(Fingerprinter, "fingerprint_function", counting)
    result = assetbuild.build(project_dir=days)
    assert len(result.results) == 72 + 3 + 1
    assert sorted(calls) == ["daily", "hourly", "report"]


def test_unpartitioned_reader_receives_every_partition_by_key(days: Path, monkeypatch) -> None:
    assetbuild.build(project_dir=days)
    assert assetbuild.load_value("report", project_dir=days) == {"2024-01-01": 276, "2024-01-02": 276,
                                                                  "2024-01-03": 276}
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-05T00:00:00Z")  # a day later: one new partition each
    result = assetbuild.build(project_dir=days)
    ran = sorted(r.asset for r in result.results if r.status == "built")
    assert ran == ["daily[2024-01-04]", *(f"hourly[2024-01-04-{h:02d}:00]" for h in range(24)), "report"]


STATIONS = """
from assetbuild import asset, FilePartitions

@asset(partitions=FilePartitions("data/raw/*.csv"), io="text", path="build/clean/{partition}.txt")
def clean(context):
    return context.partition_path.read_text().strip().upper()
"""


def test_watch_builds_the_partition_of_a_new_file(tmp_path: Path) -> None:
    from tests.test_watch import Watching, built

    (tmp_path / "AssetFile").write_text(STATIONS)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "a.csv").write_text("a\n")
    with Watching(tmp_path) as w:
        assert built(w.wait(1)[0]) == ["clean[a.csv]"]
        (tmp_path / "data" / "raw" / "b.csv").write_text("b\n")
        assert built(w.wait(2)[1]) == ["clean[b.csv]"]
        (tmp_path / "data" / "raw" / "a.csv").write_text("a2\n")
        assert built(w.wait(3)[2]) == ["clean[a.csv]"]
    assert (tmp_path / "build" / "clean" / "b.csv.txt").read_text() == "B"
    assert (tmp_path / "build" / "clean" / "a.csv.txt").read_text() == "A2"


EXTERNAL = """
from assetbuild import asset, StaticPartitions

@asset(partitions=StaticPartitions(["eu", "us"]), io="seen")
def sales(context):
    return context.partition_key
"""

SEEN_PLUGIN = """
import json
from pathlib import Path
from assetbuild import hookimpl
from assetbuild.io import OutputInfo

class Seen:
    name = "seen"
    io_version = "1"

    def handle_output(self, context, value):
        log = Path(context.project_dir) / "seen.jsonl"
        with log.open("a") as f:
            f.write(json.dumps([context.asset, context.partition, value]) + "\\n")
        return OutputInfo(data_version=value)

    def load_input(self, context):
        return context.data_version

@hookimpl
def register_io_managers():
    return [Seen()]
"""


def test_an_external_io_manager_learns_the_partition_it_writes(tmp_path: Path, monkeypatch) -> None:
    from assetbuild.plugins import get_plugin_manager

    (tmp_path / "AssetFile").write_text(EXTERNAL)
    (tmp_path / "seen_plugin.py").write_text(SEEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import seen_plugin  # type: ignore[import-not-found]

    pm = get_plugin_manager()
    pm.register(seen_plugin)
    result = assetbuild.build(project_dir=tmp_path, plugin_manager=pm, reporter=Reporter(verbosity=-2))
    assert result.ok, [r.error for r in result.results]
    seen = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    assert seen == [["sales[eu]", "eu", "eu"], ["sales[us]", "us", "us"]]


def test_status_partitions_lists_the_named_assets_partitions_not_what_they_need(days: Path) -> None:
    assert _cli(days, "daily", "--partition", "2024-01-02").returncode == 0
    text = _cli(days, "status", "+daily").stdout.splitlines()  # +: and its upstream
    assert text[0].split() == ["missing", "hourly", "partitioned", "24", "fresh,", "0", "stale,", "48", "missing,",
                               "0", "failed"]
    assert [ln.split()[:3] for ln in text[1:]] == [["missing", "daily", "partitioned"]]
    text = _cli(days, "status", "daily", "--partitions").stdout.splitlines()  # what was selected
    assert text[0].split()[:3] == ["missing", "daily", "partitioned"]
    assert [ln.split()[:2] for ln in text[1:]] == [["missing", "2024-01-01"], ["fresh", "2024-01-02"],
                                                   ["missing", "2024-01-03"]]
    text = _cli(days, "status", "-v", "daily", "--partitions").stdout.splitlines()  # its upstream as context
    assert text[4] == "upstream of the selection (a build of it decides these too):"
    assert text[5].split()[:2] == ["missing", "hourly"] and len(text) == 6  # its partitions: not named
    doc = json.loads(_cli(days, "status", "daily", "--partitions", "--json").stdout)
    assert {a["asset"]: "partition_states" in a for a in doc["assets"]} == {"daily": True}
    everything = _cli(days, "status", "--partitions").stdout.splitlines()
    assert len(everything) == 1 + 72 + 1 + 3 + 1  # each partition of both, and report


def test_two_partitioned_assets_with_one_path_template_are_refused_before_they_collide(tmp_path: Path) -> None:
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "b").mkdir(parents=True)
    (tmp_path / "data" / "a" / "x.csv").write_text("1")  # no file is in both directories yet
    (tmp_path / "AssetFile").write_text(
        "from assetbuild import asset, FilePartitions\n\n"
        "@asset(partitions=FilePartitions('data/a/*.csv'), io='text', path='build/{partition}.txt')\n"
        "def a(context):\n    return 'a'\n\n"
        "@asset(partitions=FilePartitions('data/b/*.csv'), io='text', path='build/{partition}.txt')\n"
        "def b(context):\n    return 'b'\n")
    r = _cli(tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "AssetFile:7" in r.stderr and "'a' and 'b' both write build/{partition}.txt" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_status_shows_a_partitioned_asset_that_has_no_partitions_yet(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "AssetFile").write_text(
        "from assetbuild import asset, FilePartitions\n\n"
        "@asset(partitions=FilePartitions('data/*.csv'), io='json', path='build/{partition}.json')\n"
        "def clean(context):\n    return 1\n")
    text = _cli(tmp_path, "status").stdout
    # the README's reason, in text and --json (it was once lost when partitions were grouped)
    assert text.splitlines() == ["fresh   clean  partitioned  0 fresh, 0 stale, 0 missing, 0 failed; "
                                 "no-partitions: files 'data/*.csv': no partitions yet"], text
    doc = json.loads(_cli(tmp_path, "status", "clean", "--json").stdout)
    assert doc == {"assets": [{"asset": "clean", "state": "fresh",
                               "partitions": {"fresh": 0, "stale": 0, "missing": 0, "failed": 0, "overdue": 0},
                               "reasons": [{"code": "no-partitions",
                                            "detail": "files 'data/*.csv': no partitions yet"}]}]}
    (tmp_path / "data" / "a.csv").write_text("1")  # the first file: one partition, no longer the empty row
    assert _cli(tmp_path, "status").stdout.splitlines() == [
        "missing clean  partitioned  0 fresh, 0 stale, 1 missing, 0 failed"]
