"""Partitions through the real command: --partition/--partitions, bad keys, status text and
JSON, why/show/log/graph per partition, ``partitions list/add/remove``, definition errors with
file:line, and a killed backfill that resumes where it stopped."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from projects import (
    Project,
    clean_env,
    cli,
    end_group,
    holding_build_lock,
    run_counter,
    run_counts,
    start_cli,
    take_runs,
)

NOW = "2024-01-06T00:30:00Z"

ASSETFILE = '''
import time as _time

from assetbuild import asset, source, DailyPartitions, FilePartitions, DynamicPartitions

days = DailyPartitions(start="2024-01-01")
slow = source("slow", "slow.txt")


@asset(partitions=days, io="json")
def daily(context, slow):
    _ran("daily")
    _time.sleep(float(slow.read_text()))
    return context.partition_key


@asset(partitions=FilePartitions("data/**/*.csv"), io="json", path="build/{partition}.json")
def clean(context):
    _ran("clean")
    return context.partition_path.read_text()


@asset(partitions=DynamicPartitions("customers"), io="json")
def account(context):
    return context.partition_key
'''


@pytest.fixture
def proj(tmp_path) -> Project:
    p = Project(tmp_path)
    p.runs = tmp_path / "runs"
    p.write("AssetFile", run_counter(p.runs) + ASSETFILE)
    p.write("slow.txt", "0")
    p.write("data/2024/a,b.csv", "ab")
    p.write("data/c.csv", "c")
    return p


def env() -> dict[str, str]:
    return clean_env(ASSETBUILD_NOW=NOW)


def test_partition_options_and_bad_keys(proj: Project) -> None:
    r = cli("build", "daily", "--partitions", "2024-01-02..2024-01-04", cwd=proj.root, env=env())
    assert r.returncode == 0, r.stderr
    assert take_runs(proj.runs) == {"daily": 3}
    r = cli("build", "daily", "--partitions", "2024-01-01,2024-01-05", "-j", "2", cwd=proj.root, env=env())
    assert r.returncode == 0 and take_runs(proj.runs) == {"daily": 2}
    assert "2 built" in r.stdout, r.stdout
    r = cli("build", "clean", "--partition", "2024/a,b.csv", cwd=proj.root, env=env())  # a key holding ','
    assert r.returncode == 0, r.stderr
    assert take_runs(proj.runs) == {"clean": 1} and (proj.root / "build/2024/a,b.csv.json").is_file()
    r = cli("build", "daily", "--partition", "2024-01-09", cwd=proj.root, env=env())
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no partition '2024-01-09'" in r.stderr and "nearest: " in r.stderr and "2024-01-05" in r.stderr
    r = cli("build", "daily", "--partitions", "2024-01-03..2024-01-01", cwd=proj.root, env=env())
    assert r.returncode == 2 and "backwards" in r.stderr


def test_exclude_takes_partitions_out_of_a_backfill(proj: Project) -> None:
    """``--exclude 'daily[KEY]'`` with ``--partitions``/``--partition`` was ignored: the excluded
    day was built (only the selected assets were looked at, then all their named keys taken)."""
    r = cli("daily", "--partitions", "2024-01-01..2024-01-04", "--exclude", "daily[2024-01-02]", "-n",
            cwd=proj.root, env=env())
    assert r.returncode == 0 and "daily[2024-01-02]" not in r.stdout and "daily[2024-01-03]" in r.stdout, r.stdout
    r = cli("daily", "--partitions", "2024-01-01..2024-01-04", "--exclude", "daily[2024-01-02]",
            cwd=proj.root, env=env())
    assert r.returncode == 0 and take_runs(proj.runs) == {"daily": 3}, r.stdout + r.stderr
    assert "[3/3]" in r.stdout and "[3/4]" not in r.stdout, r.stdout  # numbered out of what is built
    r = cli("daily", "--partition", "2024-01-05", "--exclude", "daily[2024-01-05]", cwd=proj.root, env=env())
    assert r.returncode == 0 and take_runs(proj.runs) == {}, r.stdout + r.stderr
    # an exclusion alone selects as no selection does: the named day of each asset that has it
    r = cli("--partitions", "2024-01-05", "--exclude", "daily[2024-01-04]", cwd=proj.root, env=env())
    assert r.returncode == 0 and take_runs(proj.runs) == {"daily": 1}, r.stdout + r.stderr


def test_a_partition_of_an_asset_with_none_yet_is_said_to_be_missing(tmp_path: Path) -> None:
    """``ASSET --partition KEY`` before any ``partitions add`` said "the selection has no
    partitioned asset" (the asset has no node yet); it says what ``'ASSET[KEY]'`` says."""
    p = Project(tmp_path)
    p.write("AssetFile", DYNAMIC)
    for args in (("c", "--partition", "acme"), ("c+", "--partitions", "acme..b"), ("c[acme]",)):
        r = cli(*args, cwd=p.root)
        assert r.returncode == 2 and r.stderr.strip() == "assetbuild: error: c: no partition 'acme': there are " \
            "no partitions", (args, r.stderr)


def test_open_partition_ranges(proj: Project) -> None:
    """``--partitions 2024-01-04..`` said "no partition ''"."""
    r = cli("build", "daily", "--partitions", "2024-01-04..", cwd=proj.root, env=env())
    assert r.returncode == 0, r.stderr
    assert take_runs(proj.runs) == {"daily": 2} and "[2/2]" in r.stdout, r.stdout
    r = cli("build", "daily", "--partitions", "..2024-01-02", "-n", cwd=proj.root, env=env())
    assert r.returncode == 0 and "daily[2024-01-01]" in r.stdout and "daily[2024-01-02]" in r.stdout, r.stdout
    assert "daily[2024-01-03]" not in r.stdout
    r = cli("build", "daily", "--partitions", "2024-01-09..", cwd=proj.root, env=env())
    assert r.returncode == 2 and "no partition '2024-01-09' (nearest: " in r.stderr, r.stderr


@pytest.mark.parametrize("spec", ["", ",", " , ,"])
def test_partitions_naming_no_key_is_a_usage_error_not_the_whole_project(proj: Project, spec: str) -> None:
    """An empty key list once selected nothing, which a build takes as "everything": `assetbuild
    daily --partitions ,` ran every asset of the project."""
    for option in ("--partitions", "--partition"):
        r = cli("build", "daily", option, spec, cwd=proj.root, env=env())
        assert r.returncode == 2, (r.stdout, r.stderr)
        # (--partition takes its KEY whole: ',' is a key that does not exist)
        assert ("names no partition" if option == "--partitions" or not spec.strip() else "no partition")\
            in r.stderr and "Traceback" not in r.stderr
        assert take_runs(proj.runs) == {}


REGIONS = """
from assetbuild import asset, StaticPartitions


@asset(io="json", partitions=StaticPartitions(["eu", "us west", "us", "asia"]))
def regional(context):
    _ran("regional")
    return context.partition_key
"""


def test_partition_takes_one_key_whole_and_partitions_the_list(tmp_path: Path) -> None:
    """The README: `--partition KEY` builds one, `--partitions` takes `a,b,c` and `A..B`. The
    build's --partition went through --partitions' grammar: `--partition 'eu,us west'` built
    two partitions, `--partition eu..us` three."""
    p = Project(tmp_path)
    runs = tmp_path / "runs"
    p.write("AssetFile", run_counter(runs) + REGIONS)
    for spec in ("eu,us west", "eu..us", "eu, us"):
        r = cli("build", "regional", "--partition", spec, cwd=tmp_path, env=env())
        assert (r.returncode, take_runs(runs)) == (2, {}), (spec, r.stdout)
        assert r.stderr == (f"assetbuild: error: regional: no partition {spec!r} (nearest: asia, eu, us, us west; "
                            "4 in all, eu to asia) (--partition takes one key: --partitions a,b or A..B names "
                            "several)\n")
    r = cli("build", "--partition", "uswest", cwd=tmp_path, env=env())  # no selection: every partitioned asset
    assert r.returncode == 2 and "regional: no partition 'uswest' (nearest: us, us west;" in r.stderr
    assert "--partitions" not in r.stderr and take_runs(runs) == {}
    r = cli("build", "regional", "--partition", "us west", cwd=tmp_path, env=env())
    assert r.returncode == 0 and take_runs(runs) == {"regional": 1} and "regional[us west]" in r.stdout
    r = cli("build", "regional", "--partitions", "eu, us west", "-n", cwd=tmp_path, env=env())
    assert r.returncode == 0 and "would run     regional[eu]" in r.stdout and "1 of 2" in r.stdout  # (us west built above)


def test_status_text_json_and_each_partition(proj: Project) -> None:
    assert cli("build", "daily", "--partitions", "2024-01-01..2024-01-03", cwd=proj.root, env=env()).returncode == 0
    r = cli("status", "daily", cwd=proj.root, env=env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == "missing daily partitioned 3 fresh, 0 stale, 2 missing, 0 failed".split()
    doc = json.loads(cli("status", "daily", "--json", cwd=proj.root, env=env()).stdout)
    assert doc["assets"] == [{"asset": "daily", "state": "missing",
                              "partitions": {"fresh": 3, "stale": 0, "missing": 2, "failed": 0, "overdue": 0}}]
    doc = json.loads(cli("status", "daily", "--json", "--partitions", cwd=proj.root, env=env()).stdout)
    each = {e["partition"]: e["state"] for e in doc["assets"][0]["partition_states"]}
    assert each == {"2024-01-01": "fresh", "2024-01-02": "fresh", "2024-01-03": "fresh", "2024-01-04": "missing",
                    "2024-01-05": "missing"}
    text = cli("status", "daily", "--partitions", cwd=proj.root, env=env()).stdout
    assert "2024-01-04" in text and text.count("\n") >= 6
    # a day later: one partition more, missing
    r = cli("status", "daily", "--json", cwd=proj.root, env=clean_env(ASSETBUILD_NOW="2024-01-07T00:30:00Z"))
    assert json.loads(r.stdout)["assets"][0]["partitions"]["missing"] == 3


def test_status_of_a_partition_checks_that_partition_and_shows_its_upstream_as_context(tmp_path: Path) -> None:
    """``status 'pa[eu]' --check`` exited 1 for the unselected pa[us] and listed the upstream raw
    as selected, while ``-n 'pa[eu]'`` said nothing would run."""
    (tmp_path / "AssetFile").write_text(
        "from assetbuild import asset, StaticPartitions\n\n"
        "@asset(io='json')\ndef raw():\n    return 1\n\n"
        "@asset(io='json', partitions=StaticPartitions(['eu', 'us']))\n"
        "def pa(context, raw):\n    return context.partition_key\n")
    assert cli("-q", "pa[eu]", cwd=tmp_path).returncode == 0
    assert "0 of 2 assets would run" in cli("-n", "pa[eu]", cwd=tmp_path).stdout
    r = cli("status", "pa[eu]", "--check", cwd=tmp_path)
    assert (r.returncode, r.stdout.split()) == (0, "fresh pa partitioned 1 fresh, 0 stale, 0 missing, 0 failed".split())
    doc = json.loads(cli("status", "pa[eu]", "--json", cwd=tmp_path).stdout)
    assert doc["assets"] == [{"asset": "pa", "state": "fresh",
                              "partitions": {"fresh": 1, "stale": 0, "missing": 0, "failed": 0, "overdue": 0}}]
    text = cli("status", "-v", "pa[eu]", cwd=tmp_path).stdout.splitlines()
    assert text[1:] == ["upstream of the selection (a build of it decides these too):", "fresh   raw"]
    r = cli("status", "pa", "--check", cwd=tmp_path)  # the whole asset: pa[us] is selected, and missing
    assert r.returncode == 1 and r.stdout.split()[:5] == ["missing", "pa", "partitioned", "1", "fresh,"]


def test_why_show_log_graph_per_partition(proj: Project) -> None:
    assert cli("build", cwd=proj.root, env=env()).returncode == 0
    r = cli("why", "daily", "--partition", "2024-01-02", cwd=proj.root, env=env())
    assert r.returncode == 0 and r.stdout.startswith("daily[2024-01-02]: fresh"), r.stdout + r.stderr
    r = cli("show", "daily", "--partition", "2024-01-02", cwd=proj.root, env=env())
    assert r.returncode == 0 and r.stdout.strip() == "2024-01-02"
    r = cli("log", "daily", "--partition", "2024-01-02", cwd=proj.root, env=env())
    assert r.returncode == 0 and "materialized" in r.stdout, r.stderr
    r = cli("show", "daily", "--partition", "2024-02-01", cwd=proj.root, env=env())
    assert r.returncode == 2 and "nearest" in r.stderr
    for command in ("show", "diff"):  # which partition's value?
        r = cli(command, "daily", cwd=proj.root, env=env())
        assert r.returncode == 2 and "is partitioned" in r.stderr and "--partition KEY" in r.stderr, r.stderr
    r = cli("why", "missing_one", "--partition", "x", cwd=proj.root, env=env())
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = cli("why", "slow", "--partition", "x", cwd=proj.root, env=env())
    assert r.returncode == 2 and "'slow' is not partitioned" in r.stderr, r.stderr
    dot = cli("graph", cwd=proj.root, env=env()).stdout
    assert 'label="daily\\n5 partitions"' in dot and "daily[2024" not in dot and '"file:data/**/*.csv"' in dot
    nodes = {n["name"]: n for n in json.loads(cli("graph", "--format", "json", cwd=proj.root, env=env()).stdout)["nodes"]}
    assert nodes["daily"]["partitions"]["count"] == 5 and nodes["clean"]["inputs"] == ["file:data/**/*.csv"]


def test_partitions_list_add_remove(proj: Project) -> None:
    r = cli("partitions", "list", "clean", cwd=proj.root, env=env())
    assert r.returncode == 0 and r.stdout.split("\n")[:2] == ["2024/a,b.csv", "c.csv"]
    assert cli("partitions", "add", "customers", "acme", "zeta", cwd=proj.root, env=env()).returncode == 0
    r = cli("partitions", "list", "account", "--json", cwd=proj.root, env=env())
    assert json.loads(r.stdout) == {"asset": "account", "partitions": ["acme", "zeta"]}
    r = cli("partitions", "remove", "customers", "acme", cwd=proj.root, env=env())
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert cli("partitions", "list", "account", cwd=proj.root, env=env()).stdout.split() == ["zeta"]
    r = cli("partitions", "remove", "customers", "zta", "acme", cwd=proj.root, env=env())  # a typo, and done already
    assert r.returncode == 0 and "warning: customers has no key 'zta', 'acme' to remove (it has 1)" in r.stderr, r.stderr
    assert cli("partitions", "list", "account", cwd=proj.root, env=env()).stdout.split() == ["zeta"]
    for args in (("add", "nope", "x"), ("add", "customers", "a,b"), ("list", "nothing")):
        r = cli("partitions", *args, cwd=proj.root, env=env())
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)


@pytest.mark.parametrize("verb", ["add", "remove"])
def test_partitions_add_and_remove_say_they_wait_for_a_running_build(proj: Project, verb: str) -> None:
    """They take the build lock, as a build does, and say so while they wait, as every command
    that waits for it does (silent, a long build made them look hung)."""
    with holding_build_lock(proj.root / ".assetbuild"):
        p = start_cli("partitions", verb, "customers", "acme", cwd=proj.root, env=env(),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert select.select([p.stderr], [], [], 60)[0], "nothing said while waiting"
        said = p.stderr.readline()
        assert "warning: another build or cache command is using" in said and "waiting for it to finish" in said, said
        assert p.poll() is None  # still waiting
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, said + err
    assert out == ("customers: 1 partition(s)\n" if verb == "add" else "customers: 0 partition(s)\n")


def test_dry_run_says_which_gone_partitions_a_build_would_drop(proj: Project) -> None:
    """A build drops the partitions of a removed key and deletes the files they wrote: -n, which
    predicts the same command, says so and deletes nothing."""
    assert cli(cwd=proj.root, env=env()).returncode == 0
    (proj.root / "data/c.csv").unlink()
    r = cli("-n", cwd=proj.root, env=env())
    assert r.returncode == 0, r.stderr
    assert "would drop 1 partition(s) that no longer exist: clean[c.csv] (1 file(s) they wrote: build/c.csv.json)" \
        in r.stdout, r.stdout
    assert (proj.root / "build/c.csv.json").is_file()
    r = cli("-n", cwd=proj.root, env=env())  # still predicted: nothing was dropped
    assert "would drop 1 partition(s)" in r.stdout
    r = cli(cwd=proj.root, env=env())
    assert "dropped 1 partition(s) that no longer exist: clean[c.csv]" in r.stdout
    assert not (proj.root / "build/c.csv.json").exists()
    assert "drop" not in cli("-n", cwd=proj.root, env=env()).stdout


ERRORS = {
    "mismatched": ('''
from assetbuild import asset, StaticPartitions


@asset(partitions=StaticPartitions(["eu", "us"]))
def x(context):
    return 1


@asset(partitions=StaticPartitions(["fr", "de"]))
def y(x):
    return 1
''', 10, "no mapping says"),
    "in_on_unpartitioned": ('''
from assetbuild import asset, In, LastN


@asset
def x():
    return 1


@asset(ins={"x": In("x", mapping=LastN(2))})
def y(x):
    return 1
''', 10, "'x' is not partitioned"),
    "overlapping_globs": ('''
from assetbuild import asset, FilePartitions


@asset(partitions=FilePartitions("data/*.csv"), path="build/{partition}.json", io="json")
def x(context):
    return 1


@asset(partitions=FilePartitions("data/c*.csv"), path="build/{partition}.json", io="json")
def y(context):
    return 1
''', 10, "'x' and 'y' both write build/{partition}.json"),
    "output_matches_its_glob": ('''
from assetbuild import asset, FilePartitions


@asset(partitions=FilePartitions("data/*.csv"), path="data/{partition}.out.csv", io="json")
def x(context):
    return 1
''', 5, "which the glob 'data/*.csv' of 'x' matches"),
    "static_mapping_typo": ('''
from assetbuild import asset, In, StaticPartitions


@asset(partitions=StaticPartitions(["fr", "de", "us"]))
def country(context):
    return 1


@asset(partitions=StaticPartitions(["eu", "us"]), ins={"c": In("country", mapping={"eu": ["fr", "nl"], "us": "us"})})
def region(c):
    return 1
''', 10, "names upstream key(s) 'nl' that static [fr, de, us] lacks"),
    "static_key_two_spellings": ('''
from assetbuild import asset, StaticPartitions


@asset(partitions=StaticPartitions(["x/y", "x//y"]), io="json", path="build/{partition}.json")
def x(context):
    return 1
''', 5, "StaticPartitions: partition key 'x//y' is not a plain relative path"),
    "nested_partition_outputs": ('''
from assetbuild import asset, StaticPartitions


@asset(partitions=StaticPartitions(["a", "a/b"]), outputs=["build/{partition}/"])
def per(context):
    return None
''', 5, "asset 'per[a/b]' (outputs 'build/a/b/') overlaps asset 'per[a]' (outputs 'build/a/'): a file in the "
       "project can have only one owner"),
    "no_template": ('''
from assetbuild import asset, DailyPartitions


@asset(partitions=DailyPartitions(start="2024-01-01"), path="build/day.json", io="json")
def x(context):
    return 1
''', 5, "lacks {partition}"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_definition_errors_exit_2_with_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, words = ERRORS[case]
    p = Project(tmp_path)
    p.write("AssetFile", text)
    p.write("data/c.csv", "c")
    r = cli("build", cwd=tmp_path, env=env())
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"AssetFile:{line}:" in r.stderr and words in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_killed_backfill_reruns_only_what_did_not_finish(proj: Project, sig: int) -> None:
    proj.write("slow.txt", "0.4")
    proc = start_cli("build", "daily", "--partitions", "2024-01-01..2024-01-05", "-j", "1", cwd=proj.root,
                     env=env())
    deadline = time.monotonic() + 60
    while run_counts(proj.runs).get("daily", 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # the third partition runs (0.4 s): the second's record is committed meanwhile
    if sig == signal.SIGKILL:  # the build and its workers, at once
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    proc.wait(timeout=60)
    end_group(proc)
    started = take_runs(proj.runs)["daily"]
    assert 3 <= started < 5
    r = cli("status", "daily", "--json", cwd=proj.root, env=env())
    done = json.loads(r.stdout)["assets"][0]["partitions"]["fresh"]
    assert done in (started - 1, started), (started, done)  # the one running when killed did not finish
    r = cli("build", "daily", "--partitions", "2024-01-01..2024-01-05", "-j", "1", cwd=proj.root, env=env())
    assert r.returncode == 0, r.stderr
    rerun = take_runs(proj.runs)["daily"]
    assert rerun == 5 - done, (started, done, rerun)  # what finished before the kill is not run again
    r = cli("status", "daily", "--json", cwd=proj.root, env=env())
    assert json.loads(r.stdout)["assets"][0]["partitions"]["fresh"] == 5


NESTING = '''
from assetbuild import asset, DynamicPartitions


@asset(io="text", path="build/{partition}", partitions=DynamicPartitions("k"))
def t(context):
    return context.partition_key
'''


def test_a_dynamic_key_too_long_for_a_file_name_is_refused_where_it_comes_in(tmp_path):
    p = Project(tmp_path)
    p.write("AssetFile", NESTING.replace('path="build/{partition}"', 'path="build/{partition}.json"'))
    long = "k" * 300
    assert cli("partitions", "add", "k", "ok", cwd=p.root).returncode == 0
    r = cli("partitions", "add", "k", long, cwd=p.root)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "partitions add k 'kkk" in r.stderr and "305 bytes, longer than the 255" in r.stderr
    assert "nothing was added" in r.stderr and "Traceback" not in r.stderr
    assert cli("partitions", "list", "t", cwd=p.root).stdout.split() == ["ok"]  # nothing recorded
    # a key kept from before (another version, a copied cache) fails at load, naming the key: -n as the build
    (p.root / ".assetbuild" / "partition-keys.json").write_text(json.dumps({"k": ["ok", long]}))
    for args in (("-n",), ("build",), ("status",)):
        r = cli(*args, cwd=p.root)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, (args, r.stderr)
        assert f"dynamic partition key '{long}' of k (added with partitions add)" in r.stderr
        assert r.stderr.rstrip().endswith(f"assetbuild partitions remove k {long}")
    assert not (p.root / "build").exists()  # nothing ran


def test_a_static_path_with_a_name_too_long_is_a_definition_error(tmp_path):
    p = Project(tmp_path)
    p.write("AssetFile", f'from assetbuild import asset\n\n\n@asset(io="json", path="build/{"x" * 256}.json")\n'
                         'def a():\n    return 1\n')
    r = cli("-n", cwd=p.root)
    assert r.returncode == 2 and "AssetFile:4: asset 'a' writes build/xxx" in r.stderr, r.stderr
    assert "261 bytes, longer than the 255 the file system allows" in r.stderr


def test_partitions_add_refuses_a_key_whose_path_nests_in_another_partitions_file(tmp_path):
    p = Project(tmp_path)
    p.write("AssetFile", NESTING)
    assert cli("partitions", "add", "k", "a", cwd=p.root).returncode == 0
    assert cli("-q", cwd=p.root).returncode == 0
    r = cli("partitions", "add", "k", "a/b", cwd=p.root)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("assetbuild: error: partitions add k 'a/b': refused: asset 't[a/b]' writes build/a/b, "
                               "inside build/a, which asset 't[a]' writes as a file")
    assert "AssetFile:" not in r.stderr and "nothing was added" in r.stderr
    r = cli("partitions", "list", "t", cwd=p.root)
    assert r.returncode == 0 and r.stdout.split() == ["a"]
    r = cli("partitions", "add", "k", "c", cwd=p.root)  # a good key still goes in
    assert r.returncode == 0, r.stderr


def test_partitions_remove_recovers_a_project_that_a_dynamic_key_broke(tmp_path):
    p = Project(tmp_path)
    p.write("AssetFile", NESTING)
    assert cli("partitions", "add", "k", "a", cwd=p.root).returncode == 0
    # keys recorded before partitions add checked them (an older version, or a copied cache)
    (p.root / ".assetbuild" / "partition-keys.json").write_text(json.dumps({"k": ["a", "a/b", "c"]}))
    for args in (("status",), ("build",), ("partitions", "list", "t"), ("partitions", "add", "k", "d")):
        r = cli(*args, cwd=p.root)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, (args, r.stderr)
        assert "dynamic partition key 'a/b' of k (added with partitions add) makes the project invalid: asset " \
               "'t[a/b]' writes build/a/b, inside build/a" in r.stderr, r.stderr
        assert r.stderr.rstrip().endswith("; remove it: assetbuild partitions remove k a/b")
    r = cli("partitions", "remove", "k", "a/b", cwd=p.root)
    assert r.returncode == 0, r.stderr
    assert cli("partitions", "list", "t", cwd=p.root).stdout.split() == ["a", "c"]
    assert cli("-q", cwd=p.root).returncode == 0
    assert (p.root / "build" / "a").read_text() == "a"


class _Key(str):
    """A partition key that counts each time it is hashed or compared: the work done with it."""

    work = 0

    def __hash__(self) -> int:
        _Key.work += 1
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        _Key.work += 1
        return str.__eq__(self, other)


def test_partitions_add_and_remove_do_work_linear_in_the_keys(tmp_path):
    """Removing half of 32,000 keys took 18 s: each kept key built a set of the keys given again,
    and adding tested each key against a list."""
    from assetbuild.session.partitioning import change_dynamic

    def work(n: int) -> int:
        root = tmp_path / str(n)
        Project(root).write("AssetFile", NESTING)
        change_dynamic("k", [f"k{i:05d}" for i in range(n)], add=True, project_dir=root)
        _Key.work = 0
        change_dynamic("k", [_Key(f"k{i:05d}") for i in range(0, n, 2)], add=False, project_dir=root,
                       warn=lambda line: None)
        change_dynamic("k", [_Key(f"k{i:05d}") for i in range(n // 2, n + n // 2)], add=True, project_dir=root)
        return _Key.work

    small, large = work(200), work(800)
    assert large < 6 * small, (small, large)


OUTPUT_DIRS = '''
from assetbuild import asset, DynamicPartitions


@asset(outputs=["build/one/"])
def one(context):
    d = context.out("build/one/")
    d.mkdir(parents=True, exist_ok=True)
    (d / "f.txt").write_text("one")


@asset(partitions=DynamicPartitions("k"), outputs=["build/{partition}/"])
def per(context):
    d = context.out(f"build/{context.partition_key}/")
    d.mkdir(parents=True, exist_ok=True)
    (d / "f.txt").write_text(context.partition_key)
'''


def test_a_dynamic_key_whose_outputs_nest_in_another_owners_is_refused(tmp_path):
    """Keys 'a' and 'a/b' over outputs=['build/{partition}/'] (or 'one/x' inside another asset's
    directory) were accepted: each build of one deleted the other's files, and every build after
    restored them. The overlap is checked once keys fill the paths in, as between assets."""
    p = Project(tmp_path)
    p.write("AssetFile", OUTPUT_DIRS)
    table = p.root / ".assetbuild" / "partition-keys.json"
    assert cli("partitions", "add", "k", "a", cwd=p.root).returncode == 0
    assert cli("-q", cwd=p.root).returncode == 0
    stored = table.read_bytes()
    for key, other in (("a/b", "asset 'per[a]' (outputs 'build/a/')"), ("one/x", "asset 'one' (outputs 'build/one/')"),
                       ("one", "'one' and 'per[one]' both write build/one/")):
        r = cli("partitions", "add", "k", "c", key, cwd=p.root)
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
        assert f"partitions add k {key!r}: refused: " in r.stderr and other in r.stderr, r.stderr
        assert "nothing was added" in r.stderr and "Traceback" not in r.stderr
        assert table.read_bytes() == stored
    # a table that overlaps (hand-edited, copied, or recorded by an older version): a build refuses it
    table.write_text(json.dumps({"k": ["a", "a/b"]}))
    r = cli(cwd=p.root)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "dynamic partition key 'a/b' of k (added with partitions add) makes the project invalid: asset " \
           "'per[a/b]' (outputs 'build/a/b/') overlaps asset 'per[a]' (outputs 'build/a/')" in r.stderr, r.stderr
    assert (p.root / "build/a/f.txt").read_text() == "a" and not (p.root / "build/a/b").exists()


@pytest.mark.parametrize("spelling", ["x/./y", "x//y"])
def test_a_key_spelling_another_keys_path_is_refused(tmp_path, spelling):
    """'x/y' and 'x/./y' were two partitions writing build/x/y.json: each build restored one."""
    p = Project(tmp_path)
    p.write("AssetFile", NESTING.replace('path="build/{partition}"', 'path="build/{partition}.json"'))
    r = cli("partitions", "add", "k", "x/y", spelling, cwd=p.root)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert f"partitions add k: partition key {spelling!r} is not a plain relative path" in r.stderr
    assert not (p.root / ".assetbuild" / "partition-keys.json").exists()


def test_a_damaged_stored_key_is_refused_before_anything_is_written(tmp_path):
    """A table with '../../escaped' (checked for its JSON shape only) built a partition writing
    outside the project, with exit 0; '' built 'per[]'."""
    p = Project(tmp_path / "proj")
    p.write("AssetFile", NESTING.replace('path="build/{partition}"', 'path="build/{partition}.json"'))
    assert cli("partitions", "add", "k", "a", cwd=p.root).returncode == 0
    table = p.root / ".assetbuild" / "partition-keys.json"
    for keys, named in ((["a", "../../escaped"], "'../../escaped'"), (["a", ""], "''")):
        table.write_text(json.dumps({"k": keys}))
        for args in (("build",), ("status",), ("partitions", "list", "t")):
            r = cli(*args, cwd=p.root)
            assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, (args, r.stderr)
            assert f"{table} is damaged (k: " in r.stderr and named in r.stderr, r.stderr
            assert "Traceback" not in r.stderr
    assert not (tmp_path / "escaped.json").exists() and not (p.root / "build").exists()


def test_a_stored_key_table_that_cannot_be_read_is_one_line(tmp_path):
    """The file of dynamic keys that cannot be read (a failing disk's EIO or bad checksum, no
    permission in a shared cache, a directory in its place) was a raw traceback, exit 1, in
    every command that loads the project."""
    p = Project(tmp_path / "proj")
    p.write("AssetFile", NESTING.replace('path="build/{partition}"', 'path="build/{partition}.json"'))
    assert cli("partitions", "add", "k", "a", cwd=p.root).returncode == 0
    table = p.root / ".assetbuild" / "partition-keys.json"
    table.unlink()
    table.mkdir()
    for args in (("build",), ("status",), ("partitions", "list", "t"), ("partitions", "add", "k", "b")):
        r = cli(*args, cwd=p.root)
        assert r.returncode == 2 and r.stderr == f"assetbuild: error: cannot read {table}: Is a directory\n", r.stderr


DYNAMIC = '''
from assetbuild import asset, DynamicPartitions


@asset(partitions=DynamicPartitions("customers"), io="text", path="build/c/{partition}.txt")
def c(context):
    return "v-" + context.partition_key
'''


def test_clean_keeps_the_dynamic_keys_and_the_project_builds_after_it(tmp_path):
    """The keys ``partitions add`` recorded are the user's: ``clean`` keeps them, and says so.
    The directory it left (the keys alone) was then "not an assetbuild cache": every build,
    ``partitions add`` and watch cycle exited 2, and clean called the keys a file it did not create."""
    p = Project(tmp_path)
    p.write("AssetFile", DYNAMIC)
    assert cli("partitions", "add", "customers", "acme", cwd=p.root).returncode == 0
    assert cli("-q", cwd=p.root).returncode == 0
    r = cli("clean", "-n", cwd=p.root)
    assert r.returncode == 0 and "(its dynamic partition keys stay)" in r.stdout, r.stdout + r.stderr
    r = cli("clean", "--yes", cwd=p.root)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "kept the dynamic partition keys (assetbuild partitions remove forgets them)" in r.stdout, r.stdout
    assert sorted(os.listdir(p.root / ".assetbuild")) == ["partition-keys.json"]
    assert not (p.root / "build/c/acme.txt").exists()
    r = cli("build", cwd=p.root)
    assert r.returncode == 0 and "built     c[acme]" in r.stdout, r.stdout + r.stderr
    assert cli("partitions", "add", "customers", "globex", cwd=p.root).returncode == 0
    assert cli("partitions", "list", "c", cwd=p.root).stdout.split() == ["acme", "globex"]
    assert cli("clean", "--yes", cwd=p.root).returncode == 0
    assert cli("clean", "--yes", cwd=p.root).returncode == 0  # (the keys alone: a cache still)
    # a file of that name that is not keys makes no cache of someone's directory
    other = p.root / "mine"
    other.mkdir()
    (other / "partitions.json").write_text('{"disks": 3}')
    r = cli("--cache-dir", str(other), "status", cwd=p.root)
    assert r.returncode == 2 and "is not empty and is not an assetbuild cache" in r.stderr, r.stderr


def test_projects_sharing_a_cache_keep_their_own_dynamic_keys(tmp_path):
    """The keys were one table per cache directory: a second project on the cache listed the
    first's keys, built them, and its ``partitions remove`` dropped the first project's partition
    and deleted its file at its next build."""
    cache = tmp_path / "cache"
    pa, pb = Project(tmp_path / "pa"), Project(tmp_path / "pb")
    for p in (pa, pb):
        p.write("AssetFile", DYNAMIC)
    env = clean_env(ASSETBUILD_CACHE_DIR=str(cache))
    assert cli("partitions", "add", "customers", "acme", "globex", cwd=pa.root, env=env).returncode == 0
    assert cli("-q", cwd=pa.root, env=env).returncode == 0
    r = cli("partitions", "list", "c", cwd=pb.root, env=env)
    assert r.returncode == 0 and r.stdout.split() == [], r.stdout + r.stderr
    assert cli("partitions", "add", "customers", "other", cwd=pb.root, env=env).returncode == 0
    r = cli("partitions", "remove", "customers", "acme", cwd=pb.root, env=env)
    assert r.returncode == 0 and "customers has no key 'acme' to remove (it has 1)" in r.stderr, r.stderr
    r = cli(cwd=pb.root, env=env)
    assert r.returncode == 0 and "c[other]" in r.stdout and "acme" not in r.stdout, r.stdout + r.stderr
    r = cli(cwd=pa.root, env=env)
    assert r.returncode == 0 and "dropped" not in r.stdout, r.stdout + r.stderr
    assert (pa.root / "build/c/acme.txt").read_text() == "v-acme"
    assert cli("partitions", "list", "c", cwd=pa.root, env=env).stdout.split() == ["acme", "globex"]
    assert cli("partitions", "list", "c", cwd=pb.root, env=env).stdout.split() == ["other"]


def test_a_table_of_dynamic_keys_from_before_projects_had_their_own_is_read_as_it_was(tmp_path):
    """An older version's table (one for the cache) stays every project's until a project
    changes its keys: that project then has its own copy, changed, and the others still read
    the old table. ``clean`` still takes the directory holding the new file for a cache."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "partitions.json").write_text(json.dumps({"customers": ["acme", "globex"]}))
    pa, pb = Project(tmp_path / "pa"), Project(tmp_path / "pb")
    for p in (pa, pb):
        p.write("AssetFile", DYNAMIC)
    env = clean_env(ASSETBUILD_CACHE_DIR=str(cache))
    for p in (pa, pb):
        assert cli("partitions", "list", "c", cwd=p.root, env=env).stdout.split() == ["acme", "globex"]
        assert cli("-q", cwd=p.root, env=env).returncode == 0
    assert cli("partitions", "remove", "customers", "acme", cwd=pb.root, env=env).returncode == 0
    assert cli("partitions", "list", "c", cwd=pb.root, env=env).stdout.split() == ["globex"]
    assert cli("partitions", "list", "c", cwd=pa.root, env=env).stdout.split() == ["acme", "globex"]
    r = cli(cwd=pa.root, env=env)
    assert r.returncode == 0 and "dropped" not in r.stdout and (pa.root / "build/c/acme.txt").exists(), r.stdout
    stored = json.loads((cache / "partition-keys.json").read_text())
    assert stored["shared"] == {"customers": ["acme", "globex"]} and list(stored["projects"].values()) == [
        {"customers": ["globex"]}], stored
    assert json.loads((cache / "partitions.json").read_text()) == {"customers": ["acme", "globex"]}  # (as it was)
    r = cli("clean", "--all-projects", "--yes", cwd=pb.root, env=env)
    assert r.returncode == 0 and "kept the dynamic partition keys" in r.stdout, r.stdout + r.stderr
    assert cli("-q", cwd=pb.root, env=env).returncode == 0  # (the keys alone: a cache still)
    assert cli("partitions", "list", "c", cwd=pb.root, env=env).stdout.split() == ["globex"]


@pytest.mark.parametrize("shared", [None, {"customers": ["old"]}])
def test_the_older_versions_file_of_keys_never_holds_tables_they_would_call_damaged(tmp_path, shared):
    """Versions before store format 3 read ``partitions.json`` before they open the store (which
    refuses a newer cache): per-project tables written there made them say 'partitions.json is
    damaged ...; fix or delete it', and deleting it lost every project's keys. The keys go to
    ``partition-keys.json``; ``partitions.json`` is never created, and one holding such tables
    (written by a version of store format 3) is read, then left as the shared table alone (or
    removed) by the next change, so those versions read a table and refuse the cache."""
    p = Project(tmp_path)
    p.write("AssetFile", DYNAMIC)
    cache = p.root / ".assetbuild"
    assert cli("partitions", "add", "customers", "acme", cwd=p.root).returncode == 0
    assert not (cache / "partitions.json").exists()
    own = json.loads((cache / "partition-keys.json").read_text())
    (cache / "partition-keys.json").unlink()
    older = {"format": 2, "projects": own["projects"], **({} if shared is None else {"shared": shared})}
    (cache / "partitions.json").write_text(json.dumps(older))  # as a store format 3 version left it
    assert cli("partitions", "list", "c", cwd=p.root).stdout.split() == ["acme"]
    assert cli("partitions", "add", "customers", "globex", cwd=p.root).returncode == 0
    assert cli("partitions", "list", "c", cwd=p.root).stdout.split() == ["acme", "globex"]
    if shared is None:
        assert not (cache / "partitions.json").exists()
    else:
        assert json.loads((cache / "partitions.json").read_text()) == shared
    assert cli("partitions", "remove", "customers", "acme", cwd=p.root).returncode == 0
    assert cli("partitions", "list", "c", cwd=p.root).stdout.split() == ["globex"]


def test_a_format_3_cache_upgraded_by_a_build_moves_its_tables_out_of_the_older_versions_file(tmp_path):
    """A cache whose ``partitions.json`` holds per-project tables (store format 3 kept them
    there): the first command that writes to it (a build) records format 4 and moves them to
    ``partition-keys.json``, so a version of format 2 reads a table and refuses the cache as newer
    rather than call the file damaged; the keys are the same, nothing is dropped."""
    from assetbuild.store import LmdbStore

    p = Project(tmp_path)
    p.write("AssetFile", DYNAMIC)
    cache = p.root / ".assetbuild"
    assert cli("partitions", "add", "customers", "acme", "globex", cwd=p.root).returncode == 0
    assert cli("-q", cwd=p.root).returncode == 0
    own = json.loads((cache / "partition-keys.json").read_text())
    (cache / "partition-keys.json").unlink()
    (cache / "partitions.json").write_text(json.dumps({"format": 2, "projects": own["projects"]}))
    with LmdbStore(cache) as s:  # as a format 3 version left it
        s.raw_put("meta", b"format", b"3")
    (cache / "STORE").write_text(json.dumps(dict(json.loads((cache / "STORE").read_text()), format=3)))
    r = cli(cwd=p.root)
    assert r.returncode == 0 and "0 built, 2 cached" in r.stdout and "dropped" not in r.stdout, r.stdout + r.stderr
    assert json.loads((cache / "STORE").read_text())["format"] == 4
    assert json.loads((cache / "partition-keys.json").read_text())["projects"] == own["projects"]
    assert not (cache / "partitions.json").exists()
    assert cli("partitions", "list", "c", cwd=p.root).stdout.split() == ["acme", "globex"]


WAITING = '''
from assetbuild import asset, source, DynamicPartitions

raw = source("raw", "raw.txt")


@asset(partitions=DynamicPartitions("customers"), io="text", path="build/c/{partition}.txt")
def c(context, raw):
    return context.partition_key + raw.read_text()
'''


def _keys_changed_while_waiting(root: Path, assetfile: str, *command: str) -> str:
    """``command`` started with the project built (keys acme, globex) and raw.txt changed,
    while another process holds the build lock; once it waits, the keys become acme, zeta (what
    ``partitions remove customers globex`` and ``add zeta`` record under the lock); its stdout."""
    from assetbuild.session.partition_env import read_table, write_table

    p = Project(root)
    p.write("AssetFile", assetfile)
    p.write("raw.txt", "1")
    cache = p.root / ".assetbuild"
    assert cli("partitions", "add", "customers", "acme", "globex", cwd=p.root).returncode == 0
    assert cli("-q", cwd=p.root).returncode == 0
    p.write("raw.txt", "2")
    with holding_build_lock(cache) as release:
        proc = start_cli(*command, cwd=p.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert "waiting for it to finish" in proc.stderr.readline()  # (loaded, its graph expanded)
            table = read_table(cache)
            (project,) = table.projects
            table.projects[project] = {"customers": ["acme", "zeta"]}
            write_table(cache, table)
        finally:
            release()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "dropped 1 partition(s) that no longer exist: c[globex]" in out, out
    assert not (p.root / "build/c/globex.txt").exists() and (p.root / "build/c/zeta.txt").read_text() == "zeta2"
    return out


def test_a_build_that_waited_while_the_keys_changed_builds_the_keys_as_they_are(tmp_path):
    """A build expands its graph when it loads, before it waits for the build lock: when
    ``partitions remove customers globex`` (and ``add zeta``) took the lock first, the build then
    built the removed c[globex] and wrote build/c/globex.txt back (until the next build dropped
    it), and not c[zeta]. Holding the lock now, it loads the project again with the keys as they are."""
    out = _keys_changed_while_waiting(tmp_path, WAITING, "build")
    assert "built     c[zeta]" in out and "built     c[globex]" not in out, out
    r = cli(cwd=tmp_path)
    assert r.returncode == 0 and "0 built, 2 cached" in r.stdout and "dropped" not in r.stdout, r.stdout


def test_a_tick_that_waited_while_the_keys_changed_builds_the_keys_as_they_are(tmp_path):
    """The same for ``run``: a tick loads the project, then waits for the lock; it built and
    requested the removed key (c[globex], its file written back) and not the added one."""
    eager = WAITING.replace('path="build/c/{partition}.txt")', 'path="build/c/{partition}.txt", auto="eager")')
    out = _keys_changed_while_waiting(tmp_path, eager, "run", "--once")
    assert "c[zeta]  new partition zeta" in out and "c[globex]  eager" not in out, out
    assert (tmp_path / "build/c/acme.txt").read_text() == "acme2"


