"""History: runs and events (``assetbuild runs``, ``runs show``, ``log``), recorded by real builds
with the real command; times by ASSETBUILD_NOW; bounded by gc."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

import assetbuild

ASSETFILE = '''
from assetbuild import observable_source

FEED = __import__("pathlib").Path(__file__).parent / "feed.txt"


@observable_source
def feed():
    return FEED.read_text()


@asset(io="json", path="build/raw.json")
def raw(context, feed):
    context.log.info("read %d characters", len(feed))
    return {"feed": feed, "n": 1}


@asset(io="json")
def total(raw):
    if raw["feed"] == "boom":
        raise ValueError("cannot total a boom")
    return Output(raw["n"] + 1, metadata={"rows": 7})


@asset(io="json")
def report(total):
    return str(total)
'''

DAY1 = "2024-03-01T09:00:00Z"
DAY2 = "2024-03-02T09:00:00Z"


def run(proj: Project, *args: str, now: str = DAY1):
    return cli(*args, cwd=proj.root, env=clean_env(ASSETBUILD_NOW=now))


def doc(proj: Project, *args: str, now: str = DAY1):
    r = run(proj, *args, "--json", now=now)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


@pytest.fixture()
def proj(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.assetfile(ASSETFILE)
    p.write("feed.txt", "v1")
    assert run(p).returncode == 0
    return p


def test_a_build_is_a_run_and_a_null_build_records_nothing(proj: Project) -> None:
    runs = doc(proj, "runs")["runs"]
    assert len(runs) == 1
    (r,) = runs
    assert r["run"] == "000001" and r["command"] == "assetbuild" and r["ok"] and r["exit_status"] == 0
    assert r["start"] == r["end"] == "2024-03-01T09:00:00Z"
    assert r["counts"] == {"built": 3}
    assert run(proj).returncode == 0  # a null build (the observation is unchanged... but observed)
    runs = doc(proj, "runs")["runs"]
    # an observation is an event: the second build is a run with 3 cached assets
    assert [x["run"] for x in runs] == ["000002", "000001"] and runs[0]["counts"] == {"cached": 3}
    assert run(proj, "-n").returncode == 0 and run(proj, "status").returncode == 0
    assert len(doc(proj, "runs")["runs"]) == 2  # a dry run and status record nothing


def test_log_lists_an_assets_events_newest_first(proj: Project) -> None:
    proj.write("feed.txt", "v2")
    assert run(proj, now=DAY2).returncode == 0
    log = doc(proj, "log", "total")
    assert log["asset"] == "total"
    events = log["events"]
    assert [(e["run"], e["kind"], e["time"]) for e in events] == [
        ("000002", "materialized", "2024-03-02T09:00:00Z"), ("000001", "materialized", "2024-03-01T09:00:00Z")]
    e = events[0]
    assert set(e) >= {"run", "kind", "time", "duration_s", "key", "data_version", "metadata", "error"}
    assert e["metadata"] == {"rows": {"type": "int", "value": 7}} and e["error"] is None
    assert len(e["key"]) == 64 and len(e["data_version"]) == 64
    assert e["inputs"] and e["inputs"][0][0] == "raw"
    # report's bytes did not change ("2" both times): early cutoff, one event only
    assert [x["run"] for x in doc(proj, "log", "report")["events"]] == ["000001"]
    feed = doc(proj, "log", "feed")["events"]
    assert [(x["kind"], x["data_version"]) for x in feed] == [("observed", "v2"), ("observed", "v1")]
    assert [x["run"] for x in doc(proj, "log", "total", "-n", "1")["events"]] == ["000002"]
    text = run(proj, "log", "total").stdout
    assert text.splitlines()[0].split() == ["TIME", "RUN", "KIND", "DATA", "VERSION", "DURATION"]
    assert "2024-03-02T09:00:00Z 000002  materialized" in text and "    rows: 7" in text
    assert "upstream-changed: raw: " in text  # why it ran


def test_failures_skips_and_restores_are_events(proj: Project) -> None:
    proj.write("feed.txt", "boom")
    r = run(proj, now=DAY2)
    assert r.returncode == 1
    (failed,) = doc(proj, "log", "total")["events"][:1]
    assert failed["kind"] == "failed" and failed["error"].startswith("ValueError: cannot total a boom")
    (skipped,) = doc(proj, "log", "report")["events"][:1]
    assert skipped["kind"] == "skipped" and "total" in (skipped["error"] or "")
    runs = doc(proj, "runs")["runs"]
    assert runs[0]["exit_status"] == 1 and runs[0]["ok"] is False and runs[0]["counts"]["failed"] == 1
    proj.write("feed.txt", "v1")
    (proj.root / "build" / "raw.json").unlink()
    assert run(proj, now=DAY2).returncode == 0
    assert doc(proj, "log", "raw")["events"][0]["kind"] == "restored"


def test_runs_show_has_each_assets_outcome_and_log_lines(proj: Project) -> None:
    shown = doc(proj, "runs", "show", "1")
    assert shown["run"] == "000001"
    assert [(e["asset"], e["kind"]) for e in shown["events"]] == [
        ("feed", "observed"), ("raw", "materialized"), ("total", "materialized"), ("report", "materialized")]
    assert shown["logs"]["raw"] == [[20, "read 2 characters"]]
    text = run(proj, "runs", "show", "000001").stdout
    assert text.startswith("run 000001: assetbuild\n") and "| read 2 characters" in text
    for seq in ("7", str(2**63), str(2**64), str(10**30)):  # (ids are 8 bytes in the index: past them, an OverflowError)
        r = run(proj, "runs", "show", seq)
        assert r.returncode == 2 and f"no run {seq} " in r.stderr and "the last is 000001" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    r = run(proj, "runs", "show", str(2**64), "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["error"].startswith(f"no run {2**64} "), r.stdout
    r = run(proj, "runs", "show", "latest")
    assert r.returncode == 2 and "not a run id" in r.stderr


def test_runs_show_keeps_the_events_of_assets_since_renamed_removed_or_repartitioned(tmp_path: Path) -> None:
    """A run's record is what it recorded: the events of an asset renamed or removed since, or of
    a partition key dropped, stay in ``runs show`` (and ``get_run``), marked removed; before,
    only the names the AssetFile has now were looked up, and the run said "4 built" but listed 2."""
    text = """
from assetbuild import StaticPartitions

@asset(io="json")
def a():
    return 1

@asset(io="json")
def b(a):
    return 2

@asset(io="json", partitions=StaticPartitions(["k1", "k2"]))
def p(context):
    return 1
"""
    p = Project(tmp_path)
    p.assetfile(text)
    assert run(p).returncode == 0
    p.assetfile(text.replace("def b(a)", "def renamed_b(a)").replace('"k1", "k2"', '"k1"'))
    shown = doc(p, "runs", "show", "1")
    assert shown["counts"] == {"built": 4}
    assert [(e["asset"], e["kind"], e["removed"]) for e in shown["events"]] == [
        ("a", "materialized", False), ("b", "materialized", True),
        ("p[k1]", "materialized", False), ("p[k2]", "materialized", True)]
    assert assetbuild.get_run(1, project_dir=p.root)["events"] == shown["events"]
    text = run(p, "runs", "show", "1").stdout
    assert all(f"materialized  {n}  " in text for n in ("a", "b", "p[k1]", "p[k2]")), text
    assert run(p).returncode == 0  # the next run's events are its own: none of run 1's
    assert {e["asset"] for e in doc(p, "runs", "show", "2")["events"]} == {"renamed_b"}


def test_log_of_an_unknown_asset_suggests(proj: Project) -> None:
    r = run(proj, "log", "totl")
    assert r.returncode == 2 and "did you mean 'total'" in r.stderr and "Traceback" not in r.stderr


def test_observe_is_a_run(proj: Project) -> None:
    proj.write("feed.txt", "v9")
    assert run(proj, "observe", now=DAY2).returncode == 0
    last = doc(proj, "runs")["runs"][0]
    assert last["command"] == "assetbuild observe" and last["counts"] == {}
    assert doc(proj, "log", "feed")["events"][0]["data_version"] == "v9"


def test_gc_keeps_the_newest_events_of_each_asset(proj: Project) -> None:
    for i in range(4):
        proj.write("feed.txt", f"w{i}")
        assert run(proj).returncode == 0
    assert len(doc(proj, "log", "raw")["events"]) == 5
    proj.write("pyproject.toml", "[tool.assetbuild]\nhistory = 2\n")
    r = run(proj, "cache", "gc")
    assert r.returncode == 0, r.stderr
    assert "history event(s)" in r.stdout
    assert [e["run"] for e in doc(proj, "log", "raw")["events"]] == ["000005", "000004"]
    # total and report kept the bytes of run 1 (early cutoff): their one event keeps run 1 too
    assert [x["run"] for x in doc(proj, "runs")["runs"]] == ["000005", "000004", "000001"]
    assert [e["run"] for e in doc(proj, "log", "feed")["events"]] == ["000005", "000004"]
    proj.write("pyproject.toml", "[tool.assetbuild]\nhistory = -1\n")
    r = run(proj, "cache", "gc")
    assert r.returncode == 2 and "history must be a whole number" in r.stderr


def test_the_python_api(proj: Project) -> None:
    assert assetbuild.list_runs(project_dir=proj.root)[0]["run"] == "000001"
    assert assetbuild.get_run(1, project_dir=proj.root)["counts"] == {"built": 3}
    assert assetbuild.asset_log("raw", project_dir=proj.root)["events"][0]["kind"] == "materialized"
    r = assetbuild.build(project_dir=proj.root, force=True)
    assert r.ok
    assert assetbuild.list_runs(project_dir=proj.root)[0]["command"].startswith("python: build(")


def test_an_api_run_records_the_call_that_made_it(proj: Project, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each API build is recorded as its call, each keyword not at its default; a sub-project
    an asset builds through the API inside a command's build records that call, not the
    command line run on the outer project."""
    tmp_path = tmp_path_factory.mktemp("nested")
    assert proj.build("report", force=True).ok
    assert proj.build("report", exclude=["raw"], params={}, force=True, jobs=1).ok
    assert assetbuild.build(["report", "total"], project_dir=proj.root, only=True, force=True,
                            remote=str(tmp_path / "remote"), trust_remote_unsigned=True).ok
    said = [r["command"] for r in assetbuild.list_runs(3, project_dir=proj.root)]
    assert said == [f"python: build(['report', 'total'], force=True, only=True, remote={str(tmp_path / 'remote')!r}, "
                    "trust_remote_unsigned=True)",
                    "python: build('report', exclude=['raw'], force=True, jobs=1, params={})",
                    "python: build('report', force=True)"]
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "AssetFile").write_text("from assetbuild import asset\n\n@asset\ndef x():\n    return 1\n")
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / "AssetFile").write_text(f"import assetbuild\nfrom assetbuild import asset\n\n@asset\ndef sub():\n"
                                     f"    return assetbuild.build(['x'], project_dir={str(inner)!r}).ok\n")
    p = cli("-q", "sub", cwd=outer)
    assert p.returncode == 0, p.stderr
    assert [r["command"] for r in assetbuild.list_runs(project_dir=inner)] == ["python: build('x')"]
    assert [r["command"] for r in assetbuild.list_runs(project_dir=outer)] == ["assetbuild -q sub"]


def test_log_takes_a_selection_less_exclusions(proj: Project) -> None:
    docs = doc(proj, "log", "r*", "--exclude", "report")
    assert [d["asset"] for d in docs] == ["raw"]
    docs = doc(proj, "log", "+report", "--exclude", "raw")
    assert sorted(d["asset"] for d in docs) == ["report", "total"]


def test_log_metric_shows_the_newest_limit_points_oldest_first(proj: Project) -> None:
    """-n/--limit was taken and ignored by ``log --metric``: every recorded point was printed."""
    for i, now in enumerate(("2024-03-02T09:00:00Z", "2024-03-03T09:00:00Z", "2024-03-04T09:00:00Z")):
        assert run(proj, "build", "total", "--force", now=now).returncode == 0, i
    points = doc(proj, "log", "total", "--metric", "rows", "-n", "2")["points"]
    assert [p["time"] for p in points] == ["2024-03-03T09:00:00Z", "2024-03-04T09:00:00Z"]
    r = run(proj, "log", "total", "--metric", "rows", "--limit", "1")
    assert (r.returncode, r.stdout) == (0, "2024-03-04T09:00:00Z  000004  7\n"), r.stdout + r.stderr
    assert len(doc(proj, "log", "total", "--metric", "rows")["points"]) == 4  # (the default, 20)
    assert len(assetbuild.asset_metric("total", "rows", project_dir=proj.root)["points"]) == 4  # (the API: all)
    assert len(assetbuild.asset_metric("total", "rows", project_dir=proj.root, limit=3)["points"]) == 3


def test_a_restored_event_carries_the_metadata_of_the_value_it_brings_back(tmp_path: Path) -> None:
    """An input edited and edited back: the asset is restored from its first build, and a metric's
    history ended at the value it replaced (the ``restored`` event had no metadata), while ``show
    --meta`` said the restored one."""
    p = Project(tmp_path)
    p.assetfile('from assetbuild import Output, asset, source\n\nn_txt = source("n_txt", "n.txt")\n\n\n'
                '@asset(io="json")\ndef rows(n_txt):\n    n = int(n_txt.read_text())\n'
                '    return Output(list(range(n)), metadata={"rows": n})\n')
    for now, n in ((DAY1, "3"), (DAY2, "5"), ("2024-03-03T09:00:00Z", "3")):
        p.write("n.txt", n)
        assert run(p, "build", now=now).returncode == 0, n
    kinds = [e["kind"] for e in doc(p, "log", "rows")["events"]]
    assert kinds == ["restored", "materialized", "materialized"], kinds
    assert [pt["value"] for pt in doc(p, "log", "rows", "--metric", "rows")["points"]] == [3, 5, 3]
    assert doc(p, "show", "rows", "--meta")["metadata"]["rows"]["value"] == 3


def test_log_metric_takes_exclude_as_log_does(proj: Project) -> None:
    """``--exclude`` was ignored by ``log --metric``: an excluded asset still showed its points, and
    a glob that the exclusion left one asset of was refused as selecting several."""
    assert doc(proj, "log", "t*", "--metric", "rows", "--exclude", "report")["asset"] == "total"
    assert doc(proj, "log", "[rt]*", "--metric", "rows", "--exclude", "r*")["asset"] == "total"
    r = run(proj, "log", "total", "--metric", "rows", "--exclude", "total")
    assert (r.returncode, r.stdout) == (0, "")
    assert r.stderr == "assetbuild: nothing selected: --exclude leaves out everything the selection names\n"
    assert doc(proj, "log", "total", "--metric", "rows", "--exclude", "total") == \
        {"asset": None, "metric": "rows", "points": []}
    r = run(proj, "log", "*", "--metric", "rows", "--exclude", "report")
    assert r.returncode == 2 and "'*' less --exclude selects 2" in r.stderr, r.stderr


def test_log_shows_an_errors_first_line_in_its_table() -> None:
    """A failed event's multi-line error printed its second line at column 0, breaking the table;
    status shows the first line only, and so does log now (--json keeps it whole)."""
    from assetbuild.output.history import format_log

    event = {"time": DAY1, "run": "000001", "kind": "failed", "data_version": None, "duration_s": 0.0,
             "error": "ValueError: boom\nsecond line", "reasons": [], "metadata": {}}
    lines = format_log({"asset": "a", "events": [event]}).splitlines()
    assert len(lines) == 2 and lines[1].endswith("  ValueError: boom"), lines
    assert "second line" in format_log({"asset": "a", "events": [event]}, as_json=True)


class _EndsTheBuild:
    """A plugin whose ``after_asset`` raises what it is given once the first asset is done."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    @assetbuild.hookimpl
    def after_asset(self, result):
        raise self.exc


class _Bug(BaseException):
    """Not an Exception: no plugin wrapper catches it, as a bug in assetbuild is not caught."""


@pytest.mark.parametrize(("exc", "status"), [(_Bug("a bug"), 1), (SystemExit(3), 3), (RuntimeError("x"), 2)])
def test_a_build_ended_by_an_error_records_the_status_the_command_exits_with(tmp_path: Path, exc, status) -> None:
    """A raw traceback exits 1 (a bug), a SystemExit its code, an error its own status: the run
    said 2 for every one of them."""
    from assetbuild.plugins import get_plugin_manager

    p = Project(tmp_path)
    p.assetfile('@asset(io="json")\ndef a():\n    return 1\n\n@asset(io="json")\ndef b():\n    return 2\n')
    pm = get_plugin_manager(autoload=False)
    pm.register(_EndsTheBuild(exc))
    with pytest.raises(BaseException) as raised:
        p.build(plugin_manager=pm)
    assert type(raised.value) is (assetbuild.PluginError if isinstance(exc, Exception) else type(exc))
    (run_,) = assetbuild.list_runs(project_dir=p.root)
    assert run_["exit_status"] == status


def test_a_failed_observation_leaves_every_asset_in_the_runs_record(tmp_path: Path) -> None:
    """The run's record was closed once it had as many outcomes as the plan has assets; the
    failed observation is one of them, so the last asset was left out ("built": 1 of 2)."""
    p = Project(tmp_path)
    p.assetfile('''
from assetbuild import observable_source


@observable_source
def api():
    raise RuntimeError("down")


@asset(io="json")
def reader(api):
    return 1


@asset(io="json")
def other():
    return 2


@asset(io="json")
def last(other):
    return 3
''')
    r = run(p, "-k")
    assert r.returncode == 1 and "2 built, 0 cached, 0 restored, 1 failed, 1 skipped" in r.stdout, r.stdout
    assert assetbuild.list_runs(project_dir=p.root)[0]["counts"] == {"built": 2, "failed": 1, "skipped": 1}


def test_a_lone_surrogate_in_an_error_or_a_log_line_shows_in_log_and_runs_show(tmp_path: Path) -> None:
    """Half an emoji in a log line or an error was recorded as it was: ``log`` and ``runs show``
    then died with UnicodeEncodeError writing it to stdout."""
    p = Project(tmp_path)
    p.assetfile('''
import json

HALF = json.loads('"Caf\\\\u00e9 \\\\ud83d"')


@asset(io="json")
def a(context):
    context.log.info("read %s", HALF)
    raise ValueError("bad " + HALF)
''')
    assert cli(cwd=p.root, env=clean_env()).returncode == 1
    for args, said in ((("log", "a"), "ValueError: bad Caf\u00e9 \\ud83d"),
                       (("runs", "show", "1"), "| read Caf\u00e9 \\ud83d")):
        r = cli(*args, cwd=p.root, env=clean_env())
        assert r.returncode == 0 and said in r.stdout, (args, r.stdout + r.stderr)


def test_an_event_is_recorded_with_its_head_even_when_its_line_cannot_be_shown(tmp_path: Path) -> None:
    """A -v build whose stdout is closed (a pipe whose reader went away) stored a's value, then
    died showing its line before a's event was recorded: status said fresh, log had no event
    and runs no run."""
    import os
    import subprocess

    from projects import cli_cmd

    p = Project(tmp_path)
    p.assetfile('''
@asset(io="json")
def a():
    return 1


@asset(io="json")
def b(a):
    return a + 1
''')
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run(cli_cmd("-v"), cwd=p.root, env=clean_env(), stdout=write, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    finally:
        os.close(write)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "fresh" in cli("status", "a", cwd=p.root, env=clean_env()).stdout  # a's value was stored...
    events = json.loads(cli("log", "a", "--json", cwd=p.root, env=clean_env()).stdout)["events"]
    assert [e["kind"] for e in events] == ["materialized"]  # ...and so is its event, and the run
    runs = json.loads(cli("runs", "--json", cwd=p.root, env=clean_env()).stdout)["runs"]
    assert [x["exit_status"] for x in runs] == [r.returncode]


def test_a_recorded_call_names_resources_by_name_and_hides_a_remotes_secrets() -> None:
    from assetbuild.session.options import BuildOptions, RemoteOptions

    options = BuildOptions(resources={"db": object()}, param_args=("a.k=1",), partitions="2024-01-01",
                           remote=RemoteOptions(url="https://alice:S3cretPassw0rd@h/c",
                                                options={"secret": "abcdef", "endpoint_url": "http://x"}))
    assert options.call_text(["-raw"]) == ("build(exclude=['raw'], param_args=['a.k=1'], resources={'db': ...}, "
                                           "partitions='2024-01-01', remote='https://***@h/c', "
                                           "remote_options={'secret': '***', 'endpoint_url': 'http://x'})")
    assert BuildOptions().call_text([]) == "build()"


def test_a_killed_build_leaves_a_run_listed_as_killed_with_the_events_it_recorded(tmp_path: Path) -> None:
    """The run's record is written with its first event, unfinished: while the build runs,
    ``runs`` says running; SIGKILLed, the events it committed stay under a run that ``runs``
    lists as killed and ``runs show`` (and the UI's run page) shows, rather than a run id that
    leads nowhere. The next build is a run of its own, finished."""
    import signal
    import time

    from projects import end_group, held_chain_project, recorded_heads, start_cli

    from assetbuild.ui.pages import run_html, runs_html

    root = held_chain_project(tmp_path / "p")
    proc = start_cli(cwd=root)
    try:
        deadline = time.monotonic() + 60
        while not {"fast1", "fast2"} <= recorded_heads(root / ".assetbuild"):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        (live,) = assetbuild.list_runs(project_dir=root)
        assert (live["run"], live["state"], live["exit_status"], live["ok"]) == ("000001", "running", None, False)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=20) == -signal.SIGKILL
    finally:
        end_group(proc)
    (killed,) = assetbuild.list_runs(project_dir=root)
    assert (killed["state"], killed["exit_status"]) == ("killed", None)
    from assetbuild.store import no_build_running

    with no_build_running(root / ".assetbuild"):  # as cache gc, a daemon's tick, another project's build
        assert [x["state"] for x in assetbuild.list_runs(project_dir=root)] == ["killed"]
        assert assetbuild.get_run(1, project_dir=root)["state"] == "killed"
    events = assetbuild.asset_log("fast2", project_dir=root)["events"]
    assert [(e["run"], e["kind"]) for e in events] == [("000001", "materialized")]
    shown = assetbuild.get_run(1, project_dir=root)
    assert [(e["asset"], e["kind"]) for e in shown["events"]] == [("fast1", "materialized"), ("fast2", "materialized")]
    assert shown["counts"] == {"built": 2} and shown["state"] == "killed" and shown["end"] >= shown["start"]
    # one run, one count: ``runs`` listed the counts its record last caught up with (every 0.5 s)
    (killed,) = assetbuild.list_runs(project_dir=root)
    assert {k: killed[k] for k in ("counts", "end", "duration_s")} == {k: shown[k] for k in ("counts", "end", "duration_s")}
    r = cli("runs", "show", "1", cwd=root, env=clean_env())
    assert r.returncode == 0 and "killed: it did not record its end" in r.stdout, r.stdout + r.stderr
    assert "killed" in cli("runs", cwd=root, env=clean_env()).stdout.lower()
    assert "killed (not finished)" in run_html(shown, project="p")
    assert "killed (not finished)" in runs_html({"runs": [killed], "total": 1, "older": 0, "newer": 0,
                                                 "older_url": None, "newer_url": None}, project="p")
    (root / "release").write_text("")
    assert cli(cwd=root, env=clean_env()).returncode == 0
    runs = assetbuild.list_runs(project_dir=root)
    assert [(x["run"], x["state"], x["exit_status"]) for x in runs] == [("000002", "finished", 0),
                                                                      ("000001", "killed", None)]


def test_a_forced_asset_says_why_in_its_readers_words(proj: Project) -> None:
    """A forced asset's reason names what its reader typed: ``force=True`` from the Python API
    (in its result, a dry run's and the history), ``--force`` from the command line. The API's
    said '--force', a flag nobody gave."""
    r = assetbuild.build(["raw"], project_dir=proj.root, force=True)
    dry = assetbuild.build(["raw"], project_dir=proj.root, force=True, dry_run=True)
    assert [(x.code, x.detail) for x in r.results[0].reasons] == [("forced", "force=True")]
    assert [(x.code, x.detail) for x in dry.results[0].reasons] == [("forced", "force=True")]
    assert run(proj, "raw", "--force").returncode == 0
    events = assetbuild.asset_log("raw", project_dir=proj.root)["events"]
    assert [e["reasons"] for e in events[:2]] == [[{"code": "forced", "detail": "--force"}],
                                                  [{"code": "forced", "detail": "force=True"}]]
    assert "(forced: --force)" in run(proj, "raw", "--force", "-n").stdout
