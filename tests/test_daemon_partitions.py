"""``assetbuild run`` with partitions that come and go: an eager reader of a partitioned asset
follows a partition that was removed (a file deleted, a dynamic key removed) or built outside the
daemon, as ``status`` does. Time is stepped with ASSETBUILD_NOW."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from projects import Project, clean_env, cli, run_counter, take_runs

import assetbuild
from assetbuild.session.partitioning import change_dynamic

ASSETFILE = """
from assetbuild import DynamicPartitions, FilePartitions

@asset(partitions=FilePartitions("in/*.txt"), auto="eager", path="out/{partition}")
def per_file(context):
    _ran("per_file")
    return context.partition_path.read_text()

@asset(auto="eager")
def total(per_file):
    _ran("total")
    return sorted(per_file)

@asset(partitions=DynamicPartitions("customers"))
def per_customer(context):
    return context.partition_key

@asset(auto="eager")
def customers(per_customer):
    _ran("customers")
    return sorted(per_customer)
"""


def at(hhmm: str) -> str:
    return f"2024-05-01T{hhmm}:00Z"


def put(project: Project, name: str, text: str, when: str) -> None:
    t = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    os.utime(project.write(name, text), (t, t))


def tick(project: Project, when: str, monkeypatch) -> list[str]:
    monkeypatch.setenv("ASSETBUILD_NOW", when)
    seen: list = []
    assetbuild.run_daemon(project_dir=project.root, once=True, on_tick=seen.append)
    return sorted(r.asset for r in seen[0].requests)


def stale(project: Project) -> list[str]:
    return sorted(s.asset for s in assetbuild.status(project_dir=project.root) if s.state != "fresh")


def test_an_eager_reader_follows_a_partition_that_went_away(project: Project, monkeypatch) -> None:
    runs: Path = project.root / "runs"
    project.assetfile(run_counter(runs) + ASSETFILE)
    put(project, "in/a.txt", "a", at("00:00"))
    put(project, "in/b.txt", "b", at("00:00"))
    change_dynamic("customers", ("acme", "zeta"), add=True, project_dir=project.root)
    assert assetbuild.build(["per_customer"], project_dir=project.root).ok  # it has no policy: by hand
    assert tick(project, at("00:05"), monkeypatch) == ["customers", "per_file[a.txt]", "per_file[b.txt]", "total"]
    take_runs(runs)
    assert assetbuild.load_value("total", project_dir=project.root) == ["a.txt", "b.txt"]

    (project.root / "in/a.txt").unlink()  # a partition goes: total is stale, and the daemon rebuilds it
    assert "total" in stale(project)
    assert (project.root / "out/a.txt").exists()
    assert tick(project, at("00:10"), monkeypatch) == ["total"]
    assert not (project.root / "out/a.txt").exists()  # dropped by the tick, with the file it wrote, as a build does
    assert take_runs(runs) == {"total": 1}
    assert assetbuild.load_value("total", project_dir=project.root) == ["b.txt"]
    assert tick(project, at("00:15"), monkeypatch) == []

    change_dynamic("customers", ("zeta",), add=False, project_dir=project.root)
    assert tick(project, at("00:20"), monkeypatch) == ["customers"]
    assert assetbuild.load_value("customers", project_dir=project.root) == ["acme"]

    # a partition built by hand, outside the daemon: its eager reader follows it on the next tick
    change_dynamic("customers", ("kilo",), add=True, project_dir=project.root)
    assert assetbuild.build(["per_customer"], partitions="kilo", project_dir=project.root).ok
    assert tick(project, at("00:25"), monkeypatch) == ["customers"]
    assert assetbuild.load_value("customers", project_dir=project.root) == ["acme", "kilo"]
    assert stale(project) == []


SCHEDULED = """
import os
from assetbuild import DynamicPartitions, StaticPartitions

@asset(partitions=StaticPartitions(["eu", "us", "apac"]), schedule="0 9 * * *")
def prices(context):
    _ran("prices-" + context.partition_key)
    if os.path.exists("broken-" + context.partition_key):
        raise RuntimeError("down")
    return context.partition_key

@asset(partitions=DynamicPartitions("customers"), schedule="0 9 * * *")
def per_customer(context):
    _ran("per_customer-" + context.partition_key)
    return context.partition_key
"""


def test_a_schedule_on_static_or_dynamic_partitions_builds_every_key_each_scheduled_time(
        project: Project, monkeypatch) -> None:
    """Only the last key (apac, the last dynamic key added) was built at each scheduled time:
    eu and us stayed stale for ever. Each key is owed each time now, on a record of its own, so
    a key that fails stays owed alone and a key added later is owed at once (a first tick)."""
    runs: Path = project.root / "runs"
    project.assetfile(run_counter(runs) + SCHEDULED)
    change_dynamic("customers", ("acme", "globex"), add=True, project_dir=project.root)
    every = ["per_customer[acme]", "per_customer[globex]", "prices[apac]", "prices[eu]", "prices[us]"]
    assert tick(project, "2024-03-01T08:00:00Z", monkeypatch) == every  # the first tick owes the latest time
    take_runs(runs)
    assert tick(project, "2024-03-01T08:30:00Z", monkeypatch) == []
    for day in ("2024-03-01", "2024-03-02"):
        assert tick(project, f"{day}T09:00:00Z", monkeypatch) == every
        assert take_runs(runs) == {"prices-eu": 1, "prices-us": 1, "prices-apac": 1, "per_customer-acme": 1,
                                   "per_customer-globex": 1}
        assert tick(project, f"{day}T09:05:00Z", monkeypatch) == []
    project.write("broken-us", "")
    change_dynamic("customers", ("kilo",), add=True, project_dir=project.root)
    assert tick(project, "2024-03-02T10:00:00Z", monkeypatch) == ["per_customer[kilo]"]
    assert tick(project, "2024-03-03T09:00:00Z", monkeypatch) == [*every[:2], "per_customer[kilo]", *every[2:]]
    (project.root / "broken-us").unlink()
    take_runs(runs)
    assert tick(project, "2024-03-03T12:00:00Z", monkeypatch) == ["prices[us]"]  # owed alone, until it is built
    assert take_runs(runs) == {"prices-us": 1}
    assert tick(project, "2024-03-03T12:05:00Z", monkeypatch) == []


KILLED_MIDWAY = """
import os, signal, time
from assetbuild import StaticPartitions

@asset(partitions=StaticPartitions(["a", "b", "c", "d"]), schedule="0 9 * * *")
def daily(context):
    _ran("daily-" + context.partition_key)
    if context.partition_key == "d" and os.path.exists("kill"):
        time.sleep(1.5)  # what came before is committed meanwhile (the store commits while an asset runs)
        os.kill(os.getpid(), signal.SIGKILL)
    return context.partition_key
"""


def test_a_tick_killed_mid_build_leaves_the_keys_it_built_honoured(project: Project, monkeypatch) -> None:
    """A tick killed (SIGKILL, the OOM killer, a power loss) before its bookkeeping wrote no
    schedule record: the next tick built again every key the killed one had built and committed
    (a day's work, for a long daily job). Their events say a tick built them for the schedule it
    found due (its time committed before it built): they stay honoured, the rest are owed."""
    runs: Path = project.root / "runs"
    project.assetfile(run_counter(runs) + KILLED_MIDWAY)
    every = ["daily[a]", "daily[b]", "daily[c]", "daily[d]"]
    assert tick(project, at("09:00"), monkeypatch) == every
    take_runs(runs)
    project.write("kill", "")
    r = cli("run", "--once", cwd=project.root, env=clean_env(ASSETBUILD_NOW="2024-05-02T09:00:30Z"))
    assert r.returncode == -9, r.stdout + r.stderr
    assert take_runs(runs) == {"daily-a": 1, "daily-b": 1, "daily-c": 1, "daily-d": 1}
    (project.root / "kill").unlink()
    assert tick(project, "2024-05-02T09:01:00Z", monkeypatch) == ["daily[d]"]
    assert take_runs(runs) == {"daily-d": 1}
    assert tick(project, "2024-05-02T09:02:00Z", monkeypatch) == []
    assert tick(project, "2024-05-03T09:00:00Z", monkeypatch) == every  # the next time owes them all again
