"""``assetbuild.clean(outputs=True)``: deleting the files assetbuild wrote into a project (path
outputs, and the files of ``outputs=``: a single file and a directory), on real projects in
tmp_path, and never anything else: edited files, files assetbuild did not write, and every
attack a corrupt or crafted store record can make (``../``, absolute paths, ``.git``, symlinked
directories, an output that became a directory)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest
from projects import shared_assetfile

import assetbuild
from assetbuild.errors import StoreError
from assetbuild.manifest import FileEntry, encode_manifest
from assetbuild.output import Reporter
from assetbuild.store import LmdbStore, no_build_running

ASSETFILE = shared_assetfile("three_kinds_of_output")
WRITTEN = ["eval/metrics.json", "eval/plots/a.csv", "model.pkl", "out/clean.txt"]


def _project(root: Path, assetfile: str = "AssetFile") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / assetfile).write_text(ASSETFILE)
    (root / "params.txt").write_text("hello\n")
    return root


def _built(tmp_path: Path) -> Path:
    root = _project(tmp_path / "p")
    r = assetbuild.build(project_dir=root, reporter=Reporter(out=io.StringIO(), err=io.StringIO(), verbosity=-2))
    assert r.ok, [(x.asset, x.error) for x in r.results]
    return root


def _clean(root: Path, **kw):
    err = io.StringIO()
    report = assetbuild.clean(project_dir=root, outputs=True, reporter=Reporter(out=io.StringIO(), err=err), **kw)
    return report, err.getvalue()


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() + ("/" if p.is_dir() and not p.is_symlink() else "")
                  for p in root.rglob("*") if ".assetbuild" not in p.parts)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sig(p: Path) -> tuple[int, int, int, int]:
    st = p.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _craft(root: Path, asset: str, **changes) -> None:
    """Record a head for ``asset`` as a corrupt or malicious store could hold it."""
    with LmdbStore(root / ".assetbuild") as store:
        store.acquire_lock()
        template = store.get_head("cleaned")
        store.put_head(asset, template._replace(**changes))
        store.flush()


def _craft_manifest(root: Path, asset: str, outputs: list[str], files: list[FileEntry]) -> None:
    with LmdbStore(root / ".assetbuild") as store:
        store.acquire_lock()
        digest = store.put_blob(encode_manifest(outputs, files))
        store.put_head(asset, store.get_head("train")._replace(output_digest=digest))
        store.flush()


def test_deletes_what_assetbuild_wrote_and_the_emptied_output_directory(tmp_path):
    root = _built(tmp_path)
    assert [f for f in WRITTEN if not (root / f).is_file()] == []
    report, err = _clean(root)
    assert report.deleted == WRITTEN and report.kept == [] and report.refused == []
    assert report.dirs == ["eval"] and report.cache_deleted and err == ""
    # the declared directory is gone; out/ (the parent of a path output) and the sources stay
    assert _tree(root) == ["AssetFile", "out/", "params.txt"]


def test_without_outputs_the_project_is_untouched(tmp_path):
    root = _built(tmp_path)
    before = _tree(root)
    assert assetbuild.clean(project_dir=root) == (root / ".assetbuild").resolve()
    assert _tree(root) == before and not (root / ".assetbuild").exists()


def test_the_compiled_assetfile_kept_beside_it_goes_with_the_cache(tmp_path, monkeypatch):
    """The AssetFile's compiled code kept in ``__pycache__`` is a cache: listed by a dry run,
    deleted with the cache directory (with or without the outputs), and ``__pycache__`` with it
    when nothing else is there."""
    import sys

    from assetbuild.compiled import beside_file

    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    root = _built(tmp_path)
    kept = beside_file(root / "AssetFile")
    assert kept.is_file()
    rel = kept.relative_to(root).as_posix()
    assert assetbuild.clean(project_dir=root, outputs=True, dry_run=True).compiled == [rel] and kept.is_file()
    assetbuild.clean(project_dir=root)
    assert not kept.parent.exists() and not (root / ".assetbuild").exists()
    assetbuild.build(project_dir=root)
    (kept.parent / "helper.cpython-311.pyc").write_bytes(b"Python's own")
    report, _ = _clean(root)
    assert report.deleted == WRITTEN and report.compiled == [rel]
    assert not kept.exists() and (kept.parent / "helper.cpython-311.pyc").is_file()


def test_dry_run_lists_and_deletes_nothing(tmp_path):
    root = _built(tmp_path)
    before = _tree(root)
    (root / "model.pkl").write_text("retrained by hand")
    report = assetbuild.clean(project_dir=root, outputs=True, dry_run=True)
    assert report.deleted == ["eval/metrics.json", "eval/plots/a.csv", "out/clean.txt"]
    assert report.kept == [("model.pkl", "edited")] and report.dry_run
    assert report.to_json()["kept"] == [{"path": "model.pkl", "why": "edited"}]
    assert _tree(root) == before and (root / ".assetbuild" / "STORE").exists()


def test_edited_files_are_kept_and_named_in_one_warning(tmp_path):
    root = _built(tmp_path)
    (root / "model.pkl").write_text("MODEL HELLO\n")  # same size: only its bytes tell
    assert len("MODEL HELLO\n") == len("model HELLO\n")
    (root / "eval" / "metrics.json").write_text('{"acc": 1.0}')
    (root / "out" / "clean.txt").chmod(0o600)  # a new ctime, same bytes: still assetbuild's
    os.utime(root / "eval" / "plots" / "a.csv", (1, 1))  # touched, same bytes: still assetbuild's
    report, err = _clean(root)
    assert report.deleted == ["eval/plots/a.csv", "out/clean.txt"]
    assert report.kept == [("eval/metrics.json", "edited"), ("model.pkl", "edited")]
    assert err.count("warning:") == 1 and "eval/metrics.json (edited)" in err and "model.pkl (edited)" in err
    assert (root / "model.pkl").read_text() == "MODEL HELLO\n"
    assert _tree(root) == ["AssetFile", "eval/", "eval/metrics.json", "model.pkl", "out/", "params.txt"]


def test_a_changed_mode_keeps_a_produced_file(tmp_path):
    root = _built(tmp_path)
    (root / "model.pkl").chmod(0o755)
    report, _ = _clean(root)
    assert ("model.pkl", "edited") in report.kept and (root / "model.pkl").exists()


def test_files_assetbuild_did_not_write_stay(tmp_path):
    root = _built(tmp_path)
    (root / "eval" / "notes.txt").write_text("mine")
    (root / "eval" / "plots" / "mine.png").write_bytes(b"\x89PNG")
    (root / "out" / "other.txt").write_text("mine")
    report, _ = _clean(root)
    assert report.deleted == WRITTEN and report.dirs == []
    assert _tree(root) == ["AssetFile", "eval/", "eval/notes.txt", "eval/plots/", "eval/plots/mine.png",
                           "out/", "out/other.txt", "params.txt"]


def test_an_output_that_is_now_a_directory_is_kept(tmp_path):
    root = _built(tmp_path)
    (root / "out" / "clean.txt").unlink()
    (root / "out" / "clean.txt").mkdir()
    (root / "out" / "clean.txt" / "inside").write_text("HELLO\n")
    (root / "model.pkl").unlink()
    (root / "model.pkl").mkdir()
    report, err = _clean(root)
    assert ("out/clean.txt", "a directory now") in report.kept and ("model.pkl", "a directory now") in report.kept
    assert (root / "out" / "clean.txt" / "inside").read_text() == "HELLO\n" and (root / "model.pkl").is_dir()
    assert "out/clean.txt (a directory now)" in err


def test_missing_files_are_nothing_to_do(tmp_path):
    root = _built(tmp_path)
    shutil.rmtree(root / "eval")
    (root / "model.pkl").unlink()
    report, err = _clean(root)
    assert report.deleted == ["out/clean.txt"] and report.kept == [] and err == ""


@pytest.mark.parametrize("where", ["../outside/victim.txt", "ABSOLUTE", ".git/victim.txt",
                                   "sub/../../outside/victim.txt", "./../outside/victim.txt"])
def test_a_crafted_path_output_record_never_leaves_the_project(tmp_path, where):
    """The record names a real file with its real digest and stat: only the path guard is left."""
    root = _built(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / ".git").mkdir()
    victim = (root / ".git" if where.startswith(".git") else outside) / "victim.txt"
    victim.write_bytes(b"precious")
    rel = str(victim) if where == "ABSOLUTE" else where
    _craft(root, "evil", path=rel, output_digest=_sha(b"precious"), path_stat=_sig(victim), size=8)
    report, err = _clean(root)
    assert victim.read_bytes() == b"precious"
    assert [p for p, _ in report.refused] == [rel] and "evil" in err and rel in err
    assert report.deleted == WRITTEN


def test_a_crafted_manifest_never_leaves_the_project(tmp_path):
    root = _built(tmp_path)
    outside = tmp_path / "outside"
    (outside / "empty").mkdir(parents=True)
    (outside / "victim.txt").write_bytes(b"precious")
    entry = FileEntry("../outside/victim.txt", _sha(b"precious"), 0o644, 8)
    absolute = entry._replace(path=str(outside / "victim.txt"))
    _craft_manifest(root, "evil", ["../outside/", str(outside) + "/", "../outside/empty/"], [entry, absolute])
    report, err = _clean(root)
    assert (outside / "victim.txt").read_bytes() == b"precious" and (outside / "empty").is_dir()
    # a list no build writes is read as none (manifest.check_manifest): nothing of it is touched
    assert "cannot read the list of files asset 'evil' wrote" in err and "not a plain path" in err
    assert report.deleted == WRITTEN and report.refused == []


def test_a_symlinked_output_directory_is_not_followed(tmp_path):
    """eval/ and out/ replaced by symlinks to directories outside holding the very same bytes."""
    root = _built(tmp_path)
    outside = tmp_path / "outside"
    shutil.copytree(root / "eval", outside / "eval")
    shutil.copytree(root / "out", outside / "out")
    for d in ("eval", "out"):
        shutil.rmtree(root / d)
        (root / d).symlink_to(outside / d, target_is_directory=True)
    (outside / "model.pkl").write_bytes((root / "model.pkl").read_bytes())
    (root / "model.pkl").unlink()
    (root / "model.pkl").symlink_to(outside / "model.pkl")
    report, err = _clean(root)
    assert report.deleted == [] and report.dirs == []
    assert sorted(_tree(outside)) == ["eval/", "eval/metrics.json", "eval/plots/", "eval/plots/a.csv",
                                      "model.pkl", "out/", "out/clean.txt"]
    assert dict(report.refused)["eval/metrics.json"].startswith("through a symlink (eval)")
    assert dict(report.refused)["out/clean.txt"].startswith("through a symlink (out)")
    assert ("model.pkl", "a symlink now") in report.kept
    assert (root / "eval").is_symlink() and (root / "out").is_symlink() and (root / "model.pkl").is_symlink()
    assert "through a symlink" in err


def test_nothing_in_the_cache_directory_is_deleted_through_a_record(tmp_path):
    root = _built(tmp_path)
    (root / ".assetbuild" / "mine.txt").write_bytes(b"precious")
    victim = root / ".assetbuild" / "mine.txt"
    _craft(root, "evil", path=".assetbuild/mine.txt", output_digest=_sha(b"precious"), path_stat=_sig(victim))
    report, _ = _clean(root)
    assert victim.read_bytes() == b"precious" and dict(report.refused)[".assetbuild/mine.txt"].startswith(
        "in the cache directory")


def test_heads_are_scoped_to_the_project(tmp_path):
    """Two AssetFiles in one directory share the cache: each clean deletes its own files only
    (and the cache, which the other's builds are in too, only when told: all_projects)."""
    root = _project(tmp_path / "p", "a.AssetFile")
    (root / "b.AssetFile").write_text(ASSETFILE.replace('"eval/"', '"report/"').replace("model.pkl", "b.pkl")
                                      .replace("out/clean.txt", "out/b.txt"))
    quiet = Reporter(out=io.StringIO(), err=io.StringIO(), verbosity=-2)
    for af in ("a.AssetFile", "b.AssetFile"):
        assert assetbuild.build(project_dir=root, assetfile=af, reporter=quiet).ok
    with pytest.raises(StoreError, match="is shared: it also holds the latest builds of 3 assets of other projects"):
        assetbuild.clean(project_dir=root, assetfile="a.AssetFile", outputs=True, dry_run=True)
    report = assetbuild.clean(project_dir=root, assetfile="a.AssetFile", outputs=True, dry_run=True, all_projects=True)
    assert report.deleted == WRITTEN and report.other_projects == 3
    report = assetbuild.clean(project_dir=root, assetfile="b.AssetFile", outputs=True, reporter=quiet,
                              all_projects=True)
    assert report.deleted == ["b.pkl", "out/b.txt", "report/metrics.json", "report/plots/a.csv"]
    assert all((root / f).is_file() for f in WRITTEN)


def test_the_assetfile_need_not_load(tmp_path):
    root = _built(tmp_path)
    (root / "AssetFile").write_text("this is not python(\n")
    report, _ = _clean(root)
    assert report.deleted == WRITTEN


def test_an_unreadable_manifest_keeps_its_files_with_a_warning(tmp_path):
    root = _built(tmp_path)
    with LmdbStore(root / ".assetbuild") as store:
        store.acquire_lock()
        head = store.get_head("train")
        store.put_head("train", head._replace(output_digest=_sha(b"no such blob")))
        store.flush()
    report, err = _clean(root)
    assert "model.pkl" not in report.deleted and (root / "model.pkl").exists()
    assert "cannot read the list of files asset 'train' wrote" in err


def test_refused_while_a_build_runs(tmp_path):
    root = _built(tmp_path)
    with LmdbStore(root / ".assetbuild") as store:
        store.acquire_lock()
        with pytest.raises(StoreError, match="a build is running"):
            _clean(root)
    assert all((root / f).is_file() for f in WRITTEN)
    with no_build_running(root / ".assetbuild"):
        pass


def test_a_damaged_index_deletes_nothing(tmp_path):
    """A damaged index reads as empty: cleaning by it would delete the cache and no file, and the
    record of what assetbuild wrote would be gone. It refuses instead, naming the damage."""
    root = _built(tmp_path)
    data = root / ".assetbuild" / "db" / "data.mdb"
    with open(data, "r+b") as f:
        f.write(b"\xff" * 8192)
    with pytest.raises(StoreError, match="cannot tell which files assetbuild wrote.*damaged.*nothing was deleted"):
        _clean(root)
    assert all((root / f).is_file() for f in WRITTEN) and data.exists()
    assert assetbuild.clean(project_dir=root) == (root / ".assetbuild").resolve()  # the cache alone: still possible


@pytest.mark.parametrize("rel, why", [("AssetFile", "the AssetFile"), ("params.txt", "a source of asset")])
def test_a_record_naming_the_assetfile_or_a_source_never_deletes_it(tmp_path, rel, why):
    """Bytes, digest and stat all match: what makes them not assetbuild's is what they are."""
    root = _built(tmp_path)
    victim = root / rel
    data = victim.read_bytes()
    _craft(root, "evil", path=rel, output_digest=_sha(data), path_stat=_sig(victim), size=len(data))
    report, _ = _clean(root)
    assert victim.read_bytes() == data and dict(report.refused)[rel].startswith(why)


def test_a_manifest_listing_a_file_outside_its_declared_outputs_deletes_nothing_there(tmp_path):
    root = _built(tmp_path)
    (root / "notes.txt").write_bytes(b"mine")
    entry = FileEntry("notes.txt", _sha(b"mine"), 0o644, 4)
    _craft_manifest(root, "evil", ["model.pkl"], [entry])
    report, err = _clean(root)
    assert (root / "notes.txt").read_bytes() == b"mine"
    assert "cannot read the list of files asset 'evil' wrote" in err and "under none of its declared outputs" in err
    assert report.deleted == WRITTEN


def test_a_crafted_directory_output_naming_a_source_keeps_it_even_empty(tmp_path):
    root = _built(tmp_path)
    (root / "data").mkdir()
    _craft(root, "reader", path="never.txt", sources=(("data", "data"),))
    _craft_manifest(root, "evil", ["data/"], [])
    report, _ = _clean(root)
    assert (root / "data").is_dir() and "data" not in report.dirs and report.dirs == ["eval"]
