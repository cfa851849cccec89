"""File sources' version policy: ``source(name, path, version="content"|"mtime")``.

"content" (the default) hashes the bytes; "mtime" uses each file's size and mtime_ns and never
reads the file. The tests tell them apart with changes that only one of them sees: a touch
(new mtime, same bytes) and an edit that keeps the size and puts the old mtime back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

from assetbuild.errors import DefinitionError
from assetbuild.workspace import Workspace, mtime_version

ASSETFILE = '''
big = source("big", "data/big.bin", version="mtime")
small = source("small", "data/small.bin")
tree = source("tree", "data/tree", version="mtime")


@asset(io="json")
def big_size(big):
    return big.stat().st_size


@asset(io="json")
def small_size(small):
    return small.stat().st_size


@asset(io="json")
def tree_files(tree):
    return sorted(p.name for p in tree.iterdir())
'''


@pytest.fixture()
def proj(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.assetfile(ASSETFILE)
    p.write("data/big.bin", "aaaa")
    p.write("data/small.bin", "aaaa")
    p.write("data/tree/one.txt", "1")
    assert sorted(p.built()) == ["big_size", "small_size", "tree_files"]
    return p


def _touch(path: Path, delta_ns: int = 5_000_000_000) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + delta_ns))


def test_a_touch_reruns_readers_of_an_mtime_source_only(proj: Project) -> None:
    _touch(proj.root / "data/big.bin")
    _touch(proj.root / "data/small.bin")
    assert proj.status()["big_size"].state == "stale"
    assert proj.status()["small_size"].state == "fresh"
    assert proj.built() == ["big_size"]  # the content source's bytes are the same: cached
    assert proj.built() == []


def test_an_mtime_source_never_reads_the_bytes(proj: Project) -> None:
    """An edit that keeps the size and restores the mtime is invisible to it: the documented
    price of not hashing (the content source sees it)."""
    for rel in ("data/big.bin", "data/small.bin"):
        f = proj.root / rel
        st = f.stat()
        f.write_text("bbbb")
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert proj.built() == ["small_size"]


def test_a_directory_by_mtime_sees_new_and_touched_files(proj: Project) -> None:
    proj.write("data/tree/two.txt", "2")
    assert proj.built() == ["tree_files"]
    assert proj.value("tree_files") == ["one.txt", "two.txt"]
    _touch(proj.root / "data/tree/one.txt")
    assert proj.built() == ["tree_files"]
    assert proj.built() == []


def test_why_names_the_source_that_changed(proj: Project) -> None:
    _touch(proj.root / "data/big.bin")
    r = cli("why", "big_size", "--json", cwd=proj.root, env=clean_env())
    assert r.returncode == 0, r.stderr
    reasons = json.loads(r.stdout)["reasons"]
    assert [x["code"] for x in reasons] == ["source-changed"]
    assert reasons[0]["detail"].startswith("big: ")


def test_mtime_version_is_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x" * 10)
    st = f.stat()
    w = Workspace(tmp_path, None, by_mtime=frozenset({"f"}))
    assert w.source_version("f") == mtime_version(st)
    # different from the content digest, and from another size or mtime
    assert Workspace(tmp_path, None).source_version("f") != mtime_version(st)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert Workspace(tmp_path, None, by_mtime=frozenset({"f"})).source_version("f") != mtime_version(st)


def test_list_shows_the_policy(proj: Project) -> None:
    r = cli("list", "--json", cwd=proj.root, env=clean_env())
    assert r.returncode == 0, r.stderr
    rows = {a["name"]: a for a in json.loads(r.stdout)["assets"]}
    assert rows["big"]["version"] == "mtime" and rows["small"]["version"] == "content"
    text = cli("list", cwd=proj.root, env=clean_env()).stdout
    rows = {ln.split()[0]: " ".join(ln.split()) for ln in text.splitlines()}
    assert rows["big"] == "big source - - data/big.bin - (by mtime)" and "(by mtime)" not in rows["small"]


def test_a_bad_policy_is_a_definition_error(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile('raw = source("raw", "raw.csv", version="hash")\n')
    p.write("raw.csv", "")
    with pytest.raises(DefinitionError, match=r"version must be 'content' .* or 'mtime'") as e:
        p.build()
    assert e.value.line == 2
    r = cli("status", cwd=tmp_path, env=clean_env())
    assert r.returncode == 2
    assert "AssetFile:2" in r.stderr and "Traceback" not in r.stderr


def test_one_path_one_policy(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile('a = source("a", "raw.csv")\nb = source("b", "./raw.csv", version="mtime")\n')
    p.write("raw.csv", "")
    with pytest.raises(DefinitionError, match="different version="):
        p.build()
