"""``clear_cache_dir`` (``assetbuild clean``): what it trusts a directory with. A directory that
only looks like a cache (a ``db`` entry, no index) loses no tree; a cache directory that is a
symlink is emptied, and the link and its target stay. ``cache gc`` and a build's sweep of
staging directories delete only the names the store gives, and nothing through a symlink."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from projects import DEEP, folder_chain

import assetbuild
from assetbuild.dirtree import remove_tree
from assetbuild.errors import StoreError
from assetbuild.output import Reporter
from assetbuild.produced import new_staging, sweep_staging
from assetbuild.store import check_cache_dir, is_cache_dir

ASSETFILE = 'from assetbuild import asset\n\n\n@asset(io="json")\ndef one():\n    return 1\n'


def _quiet() -> Reporter:
    return Reporter(out=io.StringIO(), err=io.StringIO(), verbosity=-2)


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_a_directory_with_a_db_entry_but_no_index_loses_no_tree(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(ASSETFILE)
    work = tmp_path / "work"  # someone's directory: a database folder, a deploy staging area, code
    for rel in ("db/schema.sql", "staging/site/index.html", "code/tool.bin", "code/.env", "cas/ab/" + "c" * 62):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("precious")
    before = _tree(work)
    for call in (assetbuild.clean, assetbuild.build, assetbuild.gc):
        with pytest.raises(StoreError, match="not an assetbuild cache"):
            call(project_dir=proj, cache_dir=work, reporter=_quiet())
    assert _tree(work) == before


def _built_cache(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(ASSETFILE)
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).ok
    return proj / ".assetbuild"


def _first_versions_index(db: Path) -> None:
    """An index as the first versions created it: their six databases, a record in each."""
    import lmdb

    db.mkdir(parents=True)
    env = lmdb.open(str(db), max_dbs=8)
    for name in (b"meta", b"traces", b"heads", b"history", b"stat", b"blobs"):
        with env.begin(write=True, db=env.open_db(name)) as txn:
            txn.put(b"k", b"v")
    env.close()


def test_a_cache_is_told_by_what_only_assetbuild_writes(tmp_path):
    """STORE (JSON: the format and the index's identity, as every version wrote it), or, with
    STORE lost or damaged, an index holding the store's databases; or nothing but empty entries of
    the layout (a first open killed before it wrote STORE)."""
    cache = _built_cache(tmp_path)
    assert is_cache_dir(cache)
    store = (cache / "STORE").read_bytes()
    (cache / "STORE").unlink()
    assert is_cache_dir(cache)  # its index
    (cache / "STORE").write_bytes(b"\x00{not json")
    assert is_cache_dir(cache)
    old = tmp_path / "old"  # the first versions' cache: STORE, and an index of their databases
    old.mkdir()
    (old / "STORE").write_text(json.dumps({"format": 1, "db_id": "0123456789abcdef" * 2}))
    assert is_cache_dir(old)
    (old / "STORE").unlink()
    _first_versions_index(old / "db")
    assert is_cache_dir(old)
    first = tmp_path / "first-open"  # killed before STORE was in place
    (first / "db").mkdir(parents=True)
    (first / "lock").write_bytes(b"")
    (first / f".STORE.{'0' * 16}.assetbuild-tmp").write_text(store.decode())
    assert is_cache_dir(first)
    assert not is_cache_dir(tmp_path / "missing")


@pytest.mark.parametrize("entries", [
    {"db/schema.sql": "create table t(x int);"}, {"code/.gitignore": "*.log"}, {"lock": "held"},
    {"writing": "chapter1"}, {"STORE": "my store's inventory"}, {"STORE": "{}", "db/notes.txt": "x"},
    {"db/data.mdb": "not an index"}, {"LMDB": ""}, {"LMDB-NAMED": ""}])
def test_names_of_the_layout_alone_make_no_cache(tmp_path, entries):
    """A directory of someone's files under the names the cache uses is no cache: its files hold
    something, or its index in db/ is someone's LMDB (its keys, or its own named databases)."""
    import lmdb

    work = tmp_path / "work"
    work.mkdir()
    for rel, text in entries.items():
        if rel.startswith("LMDB"):
            env = lmdb.open(str(work / "db"), max_dbs=4)
            db = env.open_db(b"users") if rel == "LMDB-NAMED" else None
            with env.begin(write=True, db=db) as txn:
                txn.put(b"alice", b"admin")
            env.close()
            continue
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    assert not is_cache_dir(work)
    with pytest.raises(StoreError, match="not an assetbuild cache"):
        check_cache_dir(work, tmp_path / "proj")


def test_a_symlinked_cache_directory_is_emptied_and_the_link_stays(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(ASSETFILE)
    target = tmp_path / "fast-disk" / "cache"
    target.mkdir(parents=True)
    (proj / ".assetbuild").symlink_to(target, target_is_directory=True)
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).ok
    assert (target / "STORE").is_file()
    report = assetbuild.clean(project_dir=proj, dry_run=True)
    assert report.cache_existed and (target / "STORE").is_file()
    assetbuild.clean(project_dir=proj, reporter=_quiet())
    assert (proj / ".assetbuild").is_symlink() and target.is_dir() and _tree(target) == []
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).names("built") == ["one"]


BLOB = 'from assetbuild import asset\n\n\n@asset(io="bytes")\ndef big():\n    return b"x" * 100_000\n'


def test_gc_deletes_only_the_stores_files_under_cas_even_through_a_symlink(tmp_path):
    """cas/ moved to another disk and linked: gc deletes blobs nothing refers to and temp files,
    never a file or directory it did not name (someone's photos beside the blobs)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(BLOB)
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).ok
    disk = tmp_path / "bigdisk"
    os.rename(proj / ".assetbuild" / "cas", disk)
    (proj / ".assetbuild" / "cas").symlink_to(disk, target_is_directory=True)
    blob = next(p for p in disk.rglob("*") if p.is_file())
    (disk / "photos").mkdir()
    (disk / "photos" / "cat.jpg").write_text("keep")
    (disk / "ab").mkdir(exist_ok=True)
    (disk / "ab" / "notes.txt").write_text("keep")
    (disk / "ab" / ("c" * 62)).write_text("a blob nothing refers to")
    (disk / "ab" / ".x.0123456789abcdef.assetbuild-tmp").write_text("a killed write")
    report = assetbuild.gc(project_dir=proj, reporter=_quiet())
    assert report.temp_files == 1
    assert sorted(p.relative_to(disk).as_posix() for p in disk.rglob("*") if p.is_file()) == \
        sorted(["photos/cat.jpg", "ab/notes.txt", blob.relative_to(disk).as_posix()])
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).names("cached") == ["big"]


def test_staging_sweeps_only_its_own_directories_and_writes_nothing_through_a_symlink(tmp_path):
    root = tmp_path / "staging"
    mine = new_staging(str(root), "report")
    (root / "project-x").mkdir()
    (root / "project-x" / "notes.txt").write_text("keep")
    (root / "a.file.12345678").write_text("a file, not a staging directory")
    sweep_staging(str(root))
    assert not os.path.exists(mine)
    assert sorted(p.name for p in root.iterdir()) == ["a.file.12345678", "project-x"]
    elsewhere = tmp_path / "scratch"
    (elsewhere / "o.abcd1234").mkdir(parents=True)
    link = tmp_path / "linked"
    link.symlink_to(elsewhere, target_is_directory=True)
    sweep_staging(str(link))
    assert (elsewhere / "o.abcd1234").is_dir()
    with pytest.raises(StoreError, match="is a symlink, not a directory: assetbuild writes no output through"):
        new_staging(str(link), "report")
    assert [p.name for p in elsewhere.iterdir()] == ["o.abcd1234"]


def test_clean_keeps_what_it_did_not_create_in_staging(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(ASSETFILE)
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).ok
    new_staging(str(proj / ".assetbuild" / "staging"), "one")
    (proj / ".assetbuild" / "staging" / "project-x").mkdir()
    assetbuild.clean(project_dir=proj, reporter=_quiet())
    assert _tree(proj / ".assetbuild") == ["staging", "staging/project-x"]


OUTPUTS = ('from assetbuild import asset\n\n\n@asset(outputs=["out.txt"])\ndef out(context):\n'
           '    context.out("out.txt").write_text("x")\n')


def test_a_staging_directory_left_behind_at_any_depth_is_swept_and_cleaned(tmp_path):
    """A killed run's staging directory holding a tree deeper than the recursion limit (and than
    PATH_MAX): the next build that stages sweeps it, ``clean`` deletes it; neither raises (one
    did: RecursionError in every later build, until someone deleted it by hand)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(OUTPUTS)
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).ok
    staging = proj / ".assetbuild" / "staging"

    try:
        left = Path(new_staging(str(staging), "out"))
        folder_chain(left / "out", DEEP)
        folder_chain(left / "long", 20, "x" * 250)
        assert assetbuild.build(project_dir=proj, force=True, reporter=_quiet()).names("built") == ["out"]
        assert os.listdir(staging) == []
        folder_chain(Path(new_staging(str(staging), "out")), 20, "x" * 250)
        assetbuild.clean(project_dir=proj, reporter=_quiet())
        assert not (proj / ".assetbuild").exists()
    finally:
        remove_tree(str(proj))  # (pytest's own clean-up of tmp_path recurses)


def test_a_cache_directory_that_is_a_mount_point_is_emptied_and_clean_exits_0(tmp_path: Path) -> None:
    """A cache directory that is a mount point (a Docker volume, a CI disk): clean deleted every
    file, then failed to remove the mount point itself (EBUSY), exit 2, on every clean after.
    Mounted as a tmpfs in a private mount namespace: root and ``unshare`` only."""
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a tmpfs")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "AssetFile").write_text(ASSETFILE)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    ab = f"{sys.executable} -m assetbuild"
    script = (f"mount -t tmpfs -o size=20m tmpfs {mnt} || exit 9\ncd {tmp_path / 'p'}\n"
              f"{ab} build -q >/dev/null 2>&1 || exit 8\n"
              f"{ab} clean --yes; r1=$?\n{ab} clean --yes; r2=$?\nls -A {mnt}\numount {mnt}\necho rc=$r1,$r2\n")
    env = {**os.environ, "ASSETBUILD_CACHE_DIR": str(mnt), "PYTHONPATH": str(Path(assetbuild.__file__).parents[1])}
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script], env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 9:
        pytest.skip("cannot mount a tmpfs here")
    assert r.stdout.strip().endswith("rc=0,0"), r.stdout + r.stderr
    assert f"emptied {mnt} (the directory stays: a symlink, or a mount point)" in r.stdout, r.stdout


def test_clean_of_an_empty_cache_directory_deletes_it(tmp_path: Path) -> None:
    (tmp_path / "AssetFile").write_text(ASSETFILE)
    (tmp_path / "empty").mkdir()
    report = assetbuild.clean(project_dir=tmp_path, cache_dir=tmp_path / "empty", outputs=True, reporter=_quiet())
    assert report.deleted == [] and not (tmp_path / "empty").exists()
