"""What parallel builds pay to start: a worker's start-up is never an asset's duration; with
``-j auto`` a small plan without slow assets runs serially; a first build starts what workers
are forked from before anything runs."""

from __future__ import annotations

import json

import pytest
from projects import Project, clean_env, cli

from assetbuild.executors import start_method

TINY = """
import os

@asset(io="json")
def first():
    return os.getpid()

@asset(io="json")
def second(first):
    return os.getpid()
"""


def test_worker_start_up_is_not_an_assets_duration(project: Project):
    project.assetfile(TINY)
    r = cli("-j", "2", "--json", cwd=project.root)
    assert r.returncode == 0, r.stderr
    durations = {x["asset"]: x["duration_s"] for x in json.loads(r.stdout)["results"]}
    # a worker takes tenths of a second to start and import; these functions take microseconds
    assert all(d < 0.05 for d in durations.values()), durations
    log = json.loads(cli("log", "first", "--json", cwd=project.root).stdout)
    assert log["events"][0]["duration_s"] < 0.05  # nor in history


def test_jobs_auto_runs_a_small_plan_serially_until_an_asset_is_slow(project: Project):
    project.assetfile(TINY + """
import time

@asset(io="json")
def slow(second):
    time.sleep(float(open("delay").read()))
    return os.getpid()
""")
    project.write("delay", "1.05")
    proc_pid = _build_pids(project, "-j", "auto")
    # no history of slow assets: everything ran in the build's own process
    assert set(proc_pid["values"].values()) == {proc_pid["pid"]}
    # slow's last build took over a second: the next -j auto build uses worker processes
    project.write("delay", "0")
    edit(project, "int(os.getpid())")
    again = _build_pids(project, "-j", "auto")
    assert again["values"] and all(v != again["pid"] for v in again["values"].values()), again
    # an explicit -j 2 always means workers
    edit(project, "int(os.getpid()) + 0")
    explicit = _build_pids(project, "-j", "2")
    assert explicit["values"] and all(v != explicit["pid"] for v in explicit["values"].values())


def edit(project: Project, expr: str) -> None:
    """Change what ``first`` returns (so the whole chain runs again)."""
    text = (project.root / "AssetFile").read_text()
    head, _, rest = text.partition("def first():\n    return ")
    project.write("AssetFile", head + "def first():\n    return " + expr + "\n" + rest.split("\n", 1)[1], dedent=False)


def _build_pids(project: Project, *args: str) -> dict:
    """Build through the real command; the pids the assets that ran returned, and the command's."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", *args, "--json"], cwd=project.root,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ran = [x["asset"] for x in json.loads(out)["results"] if x["status"] == "built"]
    values = {a: json.loads(cli("show", a, "--json", cwd=project.root).stdout) for a in ran}
    return {"pid": proc.pid, "values": values}


PROBE = """
import sys
from multiprocessing import forkserver

import assetbuild
from assetbuild import get_plugin_manager, hookimpl

seen = {}


class Probe:
    @hookimpl
    def before_build(self, project_dir, assets, dry_run):
        seen["server"] = forkserver._forkserver._forkserver_pid  # set once it was started


pm = get_plugin_manager()
pm.register(Probe())
assert forkserver._forkserver._forkserver_pid is None
first = assetbuild.build(project_dir=sys.argv[1], jobs=2, plugin_manager=pm)
started_first = seen["server"] is not None
second = assetbuild.build(project_dir=sys.argv[1], jobs=2, plugin_manager=pm)  # a null build
print(first.ok, started_first, second.ok)
"""


@pytest.mark.skipif(start_method() != "forkserver", reason="workers start by spawn here: nothing to start early")
def test_a_first_build_starts_the_forkserver_before_anything_runs(project: Project, tmp_path):
    import subprocess
    import sys

    project.assetfile(TINY)
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    r = subprocess.run([sys.executable, str(script), str(project.root)], capture_output=True, text=True,
                       env=clean_env(), timeout=120)  # a fresh interpreter: no forkserver yet
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "True"]


def test_a_null_build_starts_no_workers(project: Project, tmp_path):
    project.assetfile(TINY)
    assert project.built() == ["first", "second"]
    script = tmp_path / "probe.py"
    script.write_text(PROBE.replace("started_first = seen[\"server\"] is not None",
                                    "started_first = seen[\"server\"] is None  # nothing to run: not started"))
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(script), str(project.root)], capture_output=True, text=True,
                       env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "True"]
