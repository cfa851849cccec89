"""``status`` says ``failed`` when the key an asset would run under now last failed: by real
builds, in-process and through the real command (``status --json``, ``status --check``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

ASSETFILE = '''
mode = source("mode", "mode.txt")


@asset(io="json")
def total(mode):
    if open(mode).read() == "boom":
        raise ValueError("cannot total a boom\\nsecond line")
    return 1


@asset(io="json")
def report(total):
    return total + 1
'''


@pytest.fixture()
def proj(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.assetfile(ASSETFILE)
    p.write("mode.txt", "ok")
    p.built()
    return p


def test_a_failed_key_is_failed_with_the_errors_first_line(proj: Project) -> None:
    proj.write("mode.txt", "boom")
    assert proj.status()["total"].state == "stale"  # not run yet: stale, not failed
    assert not proj.build().ok
    st = proj.status()
    assert st["total"].state == "failed"
    first = st["total"].reasons[0]
    assert first.code == "failed" and "cannot total a boom" in first.detail and "second line" not in first.detail
    assert any(r.code == "source-changed" for r in st["total"].reasons[1:])
    assert st["report"].state == "stale"  # never ran under a new key: it waits on total


def test_failed_ends_when_the_key_changes_or_it_builds(proj: Project) -> None:
    proj.write("mode.txt", "boom")
    assert not proj.build().ok
    proj.write("mode.txt", "ok again")  # another key: its last run is not this key's
    assert proj.status()["total"].state == "stale"
    proj.write("mode.txt", "boom")  # back to the failed key
    assert proj.status()["total"].state == "failed"
    proj.write("mode.txt", "ok")  # the key of the good build: fresh, whatever failed since
    assert proj.status()["total"].state == "fresh"


def test_status_json_and_check(proj: Project) -> None:
    proj.write("mode.txt", "boom")
    env = clean_env()
    assert cli("build", cwd=proj.root, env=env).returncode == 1
    r = cli("status", "--json", cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    states = {a["asset"]: a for a in json.loads(r.stdout)["assets"]}
    assert states["total"]["state"] == "failed"
    assert states["total"]["reasons"][0]["code"] == "failed"
    text = cli("status", "total", cwd=proj.root, env=env)
    assert text.stdout.startswith("failed  total") and "cannot total a boom" in text.stdout
    assert cli("status", "--check", "total", cwd=proj.root, env=env).returncode == 1


@pytest.mark.parametrize("kind", ["lmdb", "memory"])
def test_last_event_is_the_newest_of_that_asset_only(tmp_path: Path, kind: str) -> None:
    from assetbuild.reports import Event
    from assetbuild.store import LmdbStore, MemoryStore

    store = LmdbStore(tmp_path / "cache") if kind == "lmdb" else MemoryStore()
    try:
        assert store.last_event("a") is None
        for run, asset, order in [(1, "a", 1), (1, "b", 2), (2, "a", 1), (2, "a", 2), (3, "b", 1), (300, "c", 1)]:
            store.put_event(Event(run, asset, "failed", run, run, 0.0, error=f"{asset}{run}.{order}", order=order))
        store.flush()
        assert store.last_event("a").error == "a2.2"
        assert store.last_event("b").error == "b3.1"
        assert store.last_event("c").error == "c300.1"
        assert store.last_event("d") is None
    finally:
        getattr(store, "close", lambda: None)()


def test_a_first_build_that_failed_is_failed_not_missing(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile(ASSETFILE)
    p.write("mode.txt", "boom")
    assert not p.build().ok
    st = p.status()
    assert st["total"].state == "failed" and st["total"].reasons[1].code == "never-built"
    assert st["report"].state == "missing"
