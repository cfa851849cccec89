"""Several projects sharing one cache directory: each reads its own latest builds (show,
load_value, cache export, why), a project moved with its cache keeps them, and heads written
before projects were told apart are still this project's."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

import assetbuild
from assetbuild.output import Reporter
from assetbuild.store import LmdbStore, project_id

REPORT = """
@asset(io="json")
def report():
    return {"project": %r}
"""


def make(root: Path, name: str) -> Project:
    p = Project(root)
    p.assetfile(REPORT % name)
    return p


@pytest.fixture
def two(tmp_path):
    cache = tmp_path / "shared-cache"
    a = make(tmp_path / "a", "A")
    b = make(tmp_path / "b", "B")
    assert a.built(cache_dir=cache) == ["report"]
    assert b.built(cache_dir=cache) == ["report"]  # another key: its own code
    return a, b, cache


def test_each_project_reads_its_own_value(two, tmp_path):
    a, b, cache = two
    assert assetbuild.load_value("report", project_dir=a.root, cache_dir=cache) == {"project": "A"}
    assert assetbuild.load_value("report", project_dir=b.root, cache_dir=cache) == {"project": "B"}
    st = assetbuild.status(project_dir=a.root, cache_dir=cache)
    assert [(s.asset, s.state) for s in st] == [("report", "fresh")]
    assert assetbuild.why("report", project_dir=a.root, cache_dir=cache)["history"] == 1
    env = clean_env(ASSETBUILD_CACHE_DIR=str(cache))
    r = cli("show", "report", cwd=a.root, env=env)
    assert r.returncode == 0 and "'A'" in r.stdout, r.stdout + r.stderr
    out = tmp_path / "a.tar"
    r = cli("cache", "export", str(out), "--json", cwd=a.root, env=env)
    assert r.returncode == 0, r.stderr
    with tarfile.open(out) as tar:
        blobs = [m for m in tar.getmembers() if m.name.startswith("blobs/")]
        assert [json.loads(tar.extractfile(m).read()) for m in blobs] == [{"project": "A"}]
    # both projects' latest builds are kept by gc run from either, and counted by stats
    r = cli("cache", "gc", "--json", cwd=a.root, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["entries_dropped"] == 0
    assert assetbuild.cache_stats(project_dir=a.root, cache_dir=cache)["assets"] == 2
    assert assetbuild.load_value("report", project_dir=b.root, cache_dir=cache) == {"project": "B"}


def test_history_and_why_are_per_project(two):
    a, b, cache = two
    a.assetfile(REPORT % "A2")
    assert a.built(cache_dir=cache) == ["report"]
    assert assetbuild.why("report", project_dir=a.root, cache_dir=cache)["history"] == 2
    assert assetbuild.why("report", project_dir=b.root, cache_dir=cache)["history"] == 1


def test_a_project_moved_with_its_cache_keeps_its_heads(tmp_path):
    p = make(tmp_path / "orig", "A")
    assert p.built() == ["report"]
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(p.root, moved)
    q = Project(moved)
    r = q.build()
    assert r.names("built") == [] and r.names("cached") == ["report"]
    assert q.value("report") == {"project": "A"}
    # the default layout keeps heads under the bare asset name: older stores read the same
    with LmdbStore(moved / ".assetbuild", readonly=True) as s:
        assert s.raw_get("heads", b"report") is not None


def test_heads_of_an_older_store_are_understood(tmp_path):
    """A store written before heads were kept per project (heads keyed by the bare name, as the
    default layout still is) reads as this project's latest builds: status fresh, show works."""
    p = make(tmp_path / "p", "A")
    assert p.built() == ["report"]
    with LmdbStore(p.root / ".assetbuild", readonly=True) as s:
        raw = s.raw_get("heads", b"report")
    assert raw is not None  # the same key an older assetbuild wrote and reads
    assert p.value("report") == {"project": "A"}
    assert p.status()["report"].state == "fresh"


BIG = """
@asset(io="bytes", path="out/r.bin")
def r():
    return %r * 200_000
"""


def test_verify_leaves_the_path_outputs_of_the_heads_it_drops_to_clean(tmp_path):
    """``cache verify`` drops a head whose stored bytes are corrupt, of whichever project sharing
    the cache it is; the path output that head recorded, intact in its project, stays clean's to
    delete (noted as left behind, in that project's records). Clean said 'deleted 0 files' and
    kept it: the head was its only record. The rebuild that writes it again drops the note."""
    from assetbuild.moved import left_files

    cache = tmp_path / "shared-cache"
    projects = [make(tmp_path / name, name) for name in ("a", "b")]
    for p, name in zip(projects, ("a", "b")):
        p.assetfile(BIG % name.encode())
        assert p.built(cache_dir=cache) == ["r"]
    with LmdbStore(cache, readonly=True) as s:
        for _name, h in s.all_heads():
            blob = cache / "cas" / h.output_digest[:2] / h.output_digest[2:]
            blob.chmod(0o644)
            blob.write_bytes(b"?" + blob.read_bytes()[1:])
    r = assetbuild.verify(project_dir=projects[0].root, cache_dir=cache)
    assert r.heads_dropped == ["r"] and len(r.corrupt) == 2
    for p in projects:
        report = assetbuild.clean(project_dir=p.root, cache_dir=cache, outputs=True, dry_run=True)
        assert report.deleted == ["out/r.bin"] and not report.kept and not report.refused, p.root
    a, b = projects
    assert a.built(cache_dir=cache) == ["r"]
    with LmdbStore(cache, readonly=True, project=project_id(a.root / "AssetFile", cache)) as s:
        assert left_files(s) == []
    report = assetbuild.clean(project_dir=b.root, cache_dir=cache, outputs=True, all_projects=True,
                              reporter=Reporter(verbosity=-2))
    assert report.deleted == ["out/r.bin"] and not (b.root / "out" / "r.bin").exists()
