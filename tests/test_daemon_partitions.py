"""``assetbuild run`` with partitions that come and go: an eager reader of a partitioned asset
follows a partition that was removed (a file deleted, a dynamic key removed) or built outside the
daemon, as ``status`` does. Time is stepped with ASSETBUILD_NOW."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from projects import Project, run_counter, take_runs

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
