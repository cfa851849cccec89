"""Which directories may be a cache directory, and what `clean` deletes: never the project,
never a source, never a file assetbuild did not create (real command, real files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import clean_env, cli

import assetbuild
from assetbuild.errors import StoreError

PIPE = """\
from assetbuild import asset, source

raw = source("raw", "data")


@asset(io="json")
def numbers(raw):
    return [int(x) for x in (raw / "raw.txt").read_text().split()]


@asset(io="text", path="out/total.txt")
def total(numbers):
    return str(sum(numbers))
"""


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "raw.txt").write_text("1 2 3")
    (root / "AssetFile").write_text(PIPE)
    return root


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if ".assetbuild" not in p.parts}


def assert_refused(r, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("where", [".", "..", "PROJECT"])
@pytest.mark.parametrize("command", [["build"], ["status"], ["clean", "--yes"], ["cache", "stats"],
                                     ["cache", "gc"], ["cache", "verify"]])
def test_the_project_or_a_directory_above_it_is_refused(proj, where, command):
    cli(cwd=proj)
    before = files_of(proj)
    cache = str(proj) if where == "PROJECT" else where
    r = cli(*command, "--cache-dir", cache, cwd=proj)
    assert_refused(r, "project directory")
    assert files_of(proj) == before and (proj / "AssetFile").exists()


def test_the_environment_variable_is_refused_the_same_way(proj):
    r = cli("clean", "--yes", cwd=proj, env=clean_env(ASSETBUILD_CACHE_DIR="."))
    assert_refused(r, "project directory")
    assert (proj / "AssetFile").exists() and (proj / "data" / "raw.txt").exists()
    r = cli("watch", cwd=proj, env=clean_env(ASSETBUILD_CACHE_DIR=".."), timeout=60)
    assert_refused(r, "project directory")


def test_a_cache_inside_a_declared_source_is_refused(proj):
    r = cli("--cache-dir", "data/cache", cwd=proj)
    assert_refused(r, "inside the declared source data")
    assert not (proj / "data" / "cache").exists()
    r = cli("status", "--cache-dir", "data/cache", cwd=proj)
    assert_refused(r, "declared source")
    # the default .assetbuild inside a source that is the whole project directory
    (proj / "AssetFile").write_text('from assetbuild import asset, source\ntree = source("tree", ".")\n\n\n'
                                    '@asset(io="json")\ndef count(tree):\n    return 1\n')
    r = cli(cwd=proj)
    assert_refused(r, "declared source")


def test_a_non_empty_directory_that_is_not_a_cache_is_refused(proj, tmp_path):
    other = tmp_path / "documents"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    for command in (["build"], ["status"], ["clean", "--yes"], ["cache", "gc"]):
        r = cli(*command, "--cache-dir", str(other), cwd=proj)
        assert_refused(r, "not an assetbuild cache")
    assert [p.name for p in other.iterdir()] == ["thesis.tex"]
    # an empty directory, or a new one, is fine; so is an existing cache
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("--cache-dir", str(empty), cwd=proj).returncode == 0
    assert cli("--cache-dir", str(empty), cwd=proj).returncode == 0
    assert "0 built" in cli("--cache-dir", str(empty), cwd=proj).stdout


def test_a_directory_of_files_under_the_caches_names_is_refused(proj, tmp_path):
    """Someone's directory holding a ``db/`` folder, a ``code/`` folder and files named ``lock``
    and ``writing`` (names of the cache layout) is no cache: a build truncated their ``writing``
    (the build's journal), and ``clean`` deleted ``code/.env``, ``code/firmware.bin`` and
    ``lock``. Only what assetbuild writes (STORE, its index) marks a cache."""
    webapp = tmp_path / "webapp"
    files = {"README.md": "notes", "db/schema.sql": "create table t(x int);", "code/.env": "SECRET=1",
             "code/firmware.bin": "blob", "lock": "held", "writing": "chapter1"}
    for rel, text in files.items():
        (webapp / rel).parent.mkdir(parents=True, exist_ok=True)
        (webapp / rel).write_text(text)
    work = tmp_path / "work"  # nothing but a folder named as the cache's
    (work / "code").mkdir(parents=True)
    (work / "code" / ".gitignore").write_text("*.log")
    for where in (webapp, work):
        for command in (["build"], ["status"], ["clean", "--yes"], ["cache", "gc"], ["cache", "verify"]):
            assert_refused(cli(*command, "--cache-dir", str(where), cwd=proj), "not an assetbuild cache")
    assert {p.relative_to(webapp).as_posix(): p.read_text() for p in webapp.rglob("*") if p.is_file()} == files
    assert (work / "code" / ".gitignore").read_text() == "*.log"


def test_the_api_refuses_too(proj, tmp_path):
    with pytest.raises(StoreError, match="project directory"):
        assetbuild.build(project_dir=proj, cache_dir=proj)
    with pytest.raises(StoreError, match="project directory"):
        assetbuild.clean(project_dir=proj, cache_dir=proj.parent)
    with pytest.raises(StoreError, match="declared source"):
        assetbuild.status(project_dir=proj, cache_dir=proj / "data" / "c")
    assert (proj / "AssetFile").exists()


def test_clean_deletes_only_what_assetbuild_created(proj, tmp_path):
    cache = tmp_path / "cache"
    assert cli("--cache-dir", str(cache), cwd=proj).returncode == 0
    assert (cache / "STORE").exists() and (cache / "db").is_dir()
    (cache / "notes.txt").write_text("mine")
    (cache / "db" / "README").write_text("mine too")
    r = cli("clean", "--yes", "--cache-dir", str(cache), cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "kept 2 entries" in r.stderr and "notes.txt" in r.stderr
    left = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*"))
    assert left == ["db", "db/README", "notes.txt"]
    # what is left is the user's, no cache: refused, untouched (a `db` folder is no proof)
    r = cli("--cache-dir", str(cache), cwd=proj)
    assert_refused(r, "not an assetbuild cache")
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*")) == left
    # without them, it may be a cache again; one of assetbuild's files only is deleted whole
    (cache / "notes.txt").unlink()
    (cache / "db" / "README").unlink()
    r = cli("--cache-dir", str(cache), cwd=proj)
    assert r.returncode == 0 and "2 built" in r.stdout, r.stdout + r.stderr
    r = cli("clean", "--yes", "--cache-dir", str(cache), cwd=proj)
    assert r.returncode == 0 and not cache.exists(), r.stderr
    assert not (proj / "out" / "total.txt").exists()  # the path output it wrote goes with it


def test_clean_deletes_the_leftovers_of_killed_writes_and_large_worker_outputs(proj, tmp_path):
    """A killed build can leave temp files of the store (STORE, blobs) and of worker processes'
    large outputs (cas/tmp/): they are the store's own, so clean removes them and the directory."""
    from assetbuild.atomicfile import temp_name

    cache = tmp_path / "cache"
    assert cli("--cache-dir", str(cache), cwd=proj).returncode == 0
    (cache / temp_name("STORE")).write_text("{")
    (cache / "cas" / "ab").mkdir(parents=True, exist_ok=True)
    (cache / "cas" / "ab" / temp_name("cd" * 31)).write_bytes(b"half a blob")
    (cache / "cas" / "tmp").mkdir(exist_ok=True)
    (cache / "cas" / "tmp" / temp_name("output")).write_bytes(b"half an output")
    r = cli("clean", "--yes", "--cache-dir", str(cache), cwd=proj)
    assert r.returncode == 0 and "kept" not in r.stderr, r.stderr
    assert not cache.exists()
