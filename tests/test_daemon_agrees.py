"""``assetbuild run`` and ``status`` agree on what is stale: for each kind of change, the eager
assets a tick requests are exactly those ``status`` calls stale, and after the tick ``status``
calls none stale and the next tick has nothing to do. Real processes, time stepped with
ASSETBUILD_NOW; an IO manager comes from an installed plugin, whose version is bumped by editing it.
A path output or an ``outputs=`` file deleted or edited by hand is a change too: status calls the
asset stale, and a tick restores it (an eager asset's; a lazy one's data is as fresh as before)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

ASSETFILE = """\
import os
from pathlib import Path

from assetbuild import asset, observable_source, resource, source

orders = source("orders", "orders.csv")


@observable_source(poll=60)
def api(context):
    return (context.project_dir / "api.txt").read_text().strip()


@resource(version="1")
def db():
    return {"rows": 3}


@asset(auto="eager")
def coded():
    return 1


@asset(auto="eager")
def after_coded(coded):
    return coded * 2


@asset(auto="eager", code_version="1")
def versioned():
    return "v"


@asset(auto="eager", env=["REGION"])
def regional():
    return os.environ.get("REGION")


@asset(auto="eager", params={"k": 1})
def tuned(context):
    return context.params["k"]


@asset(auto="eager")
def served(db):
    return db["rows"]


@asset(auto="eager", io="vio")
def stored():
    return "stored"


@asset(auto="eager", io="text", path="out/placed.txt")
def placed():
    return "placed"


@asset(auto="eager")
def after_placed(placed):
    return placed.upper()


@asset(auto="eager", outputs=["out/made/"])
def made(context):
    (context.out("out/made/") / "a.txt").write_text("made a")
    (context.out("out/made/") / "b.txt").write_text("made b")


@asset(auto="eager")
def reader(orders):
    return Path(orders).read_text()


@asset(auto="eager")
def watcher(api):
    return api


@asset(auto="eager", max_age="1h")
def rates():
    return 42
"""

VIO = """\
import pickle

import assetbuild


class VersionedPickle:
    name = "vio"
    version = "1"

    def dump(self, value):
        return pickle.dumps(value, protocol=4)

    def load(self, data):
        return pickle.loads(data)


@assetbuild.hookimpl
def register_io_managers():
    return [VersionedPickle()]
"""

ALL = ["after_coded", "after_placed", "coded", "made", "placed", "rates", "reader", "regional", "served", "stored",
       "tuned", "versioned", "watcher"]


def _edit(rel: str, old: str, new: str) -> Callable[[Project, dict[str, str]], None]:
    def apply(project: Project, env: dict[str, str]) -> None:
        p = project.root / rel
        text = p.read_text()
        assert old in text
        st = p.stat()
        p.write_text(text.replace(old, new))
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # (not the bytecode of the old text)
    return apply


def _env(name: str, value: str) -> Callable[[Project, dict[str, str]], None]:
    def apply(project: Project, env: dict[str, str]) -> None:
        env[name] = value
    return apply


def _params(project: Project, env: dict[str, str]) -> None:
    project.write("pyproject.toml", "[tool.assetbuild.params.tuned]\nk = 2\n")


def _delete(rel: str) -> Callable[[Project, dict[str, str]], None]:
    def apply(project: Project, env: dict[str, str]) -> None:
        (project.root / rel).unlink()
    return apply


def _move_source(project: Project, env: dict[str, str]) -> None:
    project.write("data/orders.csv", (project.root / "orders.csv").read_text())
    _edit("AssetFile", '"orders.csv"', '"data/orders.csv"')(project, env)


# kind of change -> (how to make it, the assets status calls stale and a tick requests, when)
CHANGES: dict[str, tuple[Callable[[Project, dict[str, str]], None], list[str], str]] = {
    "code": (_edit("AssetFile", "    return 1\n", "    return 10\n"), ["after_coded", "coded"], "08:05"),
    "code_version": (_edit("AssetFile", 'code_version="1"', 'code_version="2"'), ["versioned"], "08:05"),
    "declared env var": (_env("REGION", "us"), ["regional"], "08:05"),
    "params": (_params, ["tuned"], "08:05"),
    "resource version": (_edit("AssetFile", '@resource(version="1")', '@resource(version="2")'), ["served"], "08:05"),
    "IO manager version (a plugin upgraded)": (_edit("site/vio.py", 'version = "1"', 'version = "2"'), ["stored"],
                                               "08:05"),
    "output path": (_edit("AssetFile", "out/placed.txt", "out/moved.txt"), ["after_placed", "placed"], "08:05"),
    "source moved (same bytes)": (_move_source, ["reader"], "08:05"),
    "source contents": (_edit("orders.csv", "a,b", "c,d"), ["reader"], "08:05"),
    "observation": (_edit("api.txt", "etag1", "etag2"), ["watcher"], "08:05"),
    "interpreter (-O)": (_env("PYTHONOPTIMIZE", "1"), ALL, "08:05"),
    "max_age expired": (lambda project, env: None, ["rates"], "09:05"),
    # the project's copies of outputs: restored from the cache, nothing downstream requested
    "path output deleted": (_delete("out/placed.txt"), ["placed"], "08:05"),
    "path output edited (same size)": (_edit("out/placed.txt", "placed", "PLACED"), ["placed"], "08:05"),
    "path output touched (same bytes)": (_edit("out/placed.txt", "placed", "placed"), [], "08:05"),
    "outputs= file deleted": (_delete("out/made/a.txt"), ["made"], "08:05"),
    "outputs= file edited": (_edit("out/made/b.txt", "made b", "made B"), ["made"], "08:05"),
    "outputs= directory given another file": (lambda project, env: project.write("out/made/c.txt", "mine"),
                                              ["made"], "08:05"),
}


def at(hhmm: str) -> str:
    return f"2024-03-02T{hhmm}:00Z"


@pytest.fixture
def shop(project: Project) -> tuple[Project, dict[str, str]]:
    site = project.root / "site"
    (site / "vio-0.1.dist-info").mkdir(parents=True)
    (site / "vio-0.1.dist-info" / "entry_points.txt").write_text("[assetbuild]\nvio = vio\n")
    (site / "vio.py").write_text(VIO)
    project.write("AssetFile", ASSETFILE)
    project.write("orders.csv", "a,b\n")
    os.utime(project.root / "orders.csv", (1709280000, 1709280000))  # 2024-03-01: before every tick
    project.write("api.txt", "etag1\n")
    env = clean_env(PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), REGION="eu")
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    return project, env


def stale(root: Path, env: dict[str, str], when: str) -> list[str]:
    done = cli("status", "--json", cwd=root, env={**env, "ASSETBUILD_NOW": at(when)})
    assert done.returncode == 0, done.stderr
    return sorted(a["asset"] for a in json.loads(done.stdout)["assets"] if a["state"] != "fresh")


def requested(root: Path, env: dict[str, str], when: str) -> dict[str, list[str]]:
    done = cli("run", "--once", "--json", cwd=root, env={**env, "ASSETBUILD_NOW": at(when)})
    assert done.returncode == 0, done.stdout + done.stderr
    tick = json.loads(done.stdout.splitlines()[-1])
    assert not tick["failed"] and not tick["deferred"], tick
    return {r["asset"]: r["reasons"] for r in tick["requested"]}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_tick_requests_what_status_calls_stale(shop, kind):
    """Before, a resource's new version, an IO manager's, an output path, a moved source or
    another interpreter made status say stale while every tick said nothing to do."""
    project, env = shop
    change, expected, when = CHANGES[kind]
    assert sorted(requested(project.root, env, "08:00")) == ALL  # each a new asset
    assert (stale(project.root, env, "08:01"), requested(project.root, env, "08:01")) == ([], {})
    change(project, env)
    assert stale(project.root, env, when) == expected
    reasons = requested(project.root, env, when)
    assert sorted(reasons) == expected, reasons
    assert all(r and all(x.startswith("eager: ") for x in r) for r in reasons.values()), reasons
    assert (stale(project.root, env, when), requested(project.root, env, when)) == ([], {})


def test_a_tick_names_the_part_of_the_asset_that_changed(shop):
    project, env = shop
    requested(project.root, env, "08:00")
    _edit("AssetFile", '@resource(version="1")', '@resource(version="2")')(project, env)
    _edit("site/vio.py", 'version = "1"', 'version = "2"')(project, env)
    _edit("AssetFile", "out/placed.txt", "out/moved.txt")(project, env)
    _move_source(project, env)
    assert requested(project.root, env, "08:05") == {
        "served": ["eager: resource db changed"], "stored": ["eager: IO manager changed"],
        "placed": ["eager: output path changed"], "reader": ["eager: source paths changed"],
        "after_placed": ["eager: upstream placed requested"]}
    env["PYTHONOPTIMIZE"] = "1"
    _edit("AssetFile", 'code_version="1"', 'code_version="2"')(project, env)
    reasons = requested(project.root, env, "08:10")
    assert reasons["coded"] == ["eager: interpreter changed"]  # (its code's digest tells nothing then)
    assert reasons["versioned"] == ["eager: interpreter changed", "eager: code changed"]


def test_a_tick_restores_an_eager_assets_deleted_or_edited_outputs(shop):
    """Before, status said output-missing / output-modified while every tick said nothing to do:
    an eager asset's files stayed deleted or edited until someone ran a build."""
    project, env = shop
    requested(project.root, env, "08:00")
    placed, made = project.root / "out/placed.txt", project.root / "out/made"
    placed.unlink()
    (made / "a.txt").write_text("edited")
    (made / "extra.txt").write_text("mine")
    done = cli("run", "--once", "--json", cwd=project.root, env={**env, "ASSETBUILD_NOW": at("08:05")})
    assert done.returncode == 0, done.stdout + done.stderr
    tick = json.loads(done.stdout.splitlines()[-1])
    assert {r["asset"]: r["reasons"] for r in tick["requested"]} == {
        "placed": ["eager: output out/placed.txt missing"],
        "made": ["eager: outputs out/made/a.txt, out/made/extra.txt changed outside assetbuild"]}
    assert tick["outcomes"] == {"made": "restored", "placed": "restored"}  # from the cache: nothing ran
    assert placed.read_text() == "placed"
    assert sorted(p.name for p in made.iterdir()) == ["a.txt", "b.txt"] and (made / "a.txt").read_text() == "made a"
    placed.write_text("placed!")
    assert requested(project.root, env, "08:10") == {"placed": ["eager: output out/placed.txt changed outside assetbuild"]}
    assert placed.read_text() == "placed"


LAZY = """\
from assetbuild import asset, source

orders = source("orders", "orders.csv")


@asset(auto="eager", io="text", path="out/eager.txt")
def eager(orders):
    return "eager " + orders.read_text()


@asset(auto="lazy", freshness="1h", io="text", path="out/lazy.txt")
def lazy(orders):
    return "lazy " + orders.read_text()


@asset(auto="lazy", freshness="1h", outputs=["out/lazy_files/"])
def lazy_files(orders, context):
    (context.out("out/lazy_files/") / "x.txt").write_text(orders.read_text())
"""


def test_a_tick_leaves_a_lazy_assets_missing_output_alone(project):
    """A lazy asset is built only for its freshness: its data (in the cache) is as fresh as it
    was, so a deleted copy of it is no reason for a tick (status still says stale, and a build
    restores it); an eager asset's is restored."""
    project.write("AssetFile", LAZY)
    project.write("orders.csv", "a,b\n")
    os.utime(project.root / "orders.csv", (1709280000, 1709280000))
    env = clean_env()
    assert sorted(requested(project.root, env, "08:00")) == ["eager"]  # lazy: not needed yet
    done = cli("build", cwd=project.root, env={**env, "ASSETBUILD_NOW": at("08:00")})
    assert done.returncode == 0, done.stderr
    for rel in ("out/eager.txt", "out/lazy.txt", "out/lazy_files/x.txt"):
        (project.root / rel).unlink()
    assert stale(project.root, env, "08:05") == ["eager", "lazy", "lazy_files"]
    assert requested(project.root, env, "08:05") == {"eager": ["eager: output out/eager.txt missing"]}
    assert stale(project.root, env, "08:10") == ["lazy", "lazy_files"]
    assert requested(project.root, env, "08:10") == {}
    assert not (project.root / "out/lazy.txt").exists()
    done = cli("status", "--json", cwd=project.root, env={**env, "ASSETBUILD_NOW": at("10:00")})
    states = {a["asset"]: a["state"] for a in json.loads(done.stdout)["assets"]}
    assert states == {"eager": "fresh", "lazy": "stale", "lazy_files": "stale"}  # stale, never overdue
