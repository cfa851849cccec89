"""The manifest (manifest.py) and the staging, placing, checking and restoring of files an asset
writes itself (produced.py), on real files: symlinks are never followed out of a declared
output, a cache on another file system still works, and a manifest is canonical."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import pytest

from assetbuild.manifest import (
    FileEntry,
    Manifest,
    decode_manifest,
    encode_manifest,
    is_manifest,
    normal_mode,
    outputs_key_part,
    overlaps,
    owner_of,
)
from assetbuild.produced import (
    OutputsError,
    StagedOutputs,
    StagingContext,
    outputs_state,
    place_outputs,
    remove_extras,
    restore_outputs,
    scan_staging,
)
from assetbuild.undeclared import snapshot_project, written_since


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry(rel: str, data: bytes, mode: int = 0o644) -> FileEntry:
    return FileEntry(rel, _digest(data), mode, len(data))


def _hash_of(path: str, st: os.stat_result) -> str:
    return _digest(Path(path).read_bytes())


# --- the manifest ------------------------------------------------------------------------------

def test_manifest_round_trip_is_canonical():
    a, b = _entry("eval/b.txt", b"b"), _entry("eval/a.txt", b"a", 0o755)
    one = encode_manifest(["eval/"], [a, b])
    assert one == encode_manifest(["eval/"], [b, a])  # order of discovery does not matter
    assert is_manifest(one) and not is_manifest(b'{"a": 1}')
    m = decode_manifest(one)
    assert m == Manifest(("eval/",), (b, a)) and m.by_path()["eval/a.txt"].mode == 0o755
    with pytest.raises(ValueError):
        decode_manifest(b"pickle bytes")


def test_modes_are_recorded_as_git_does():
    assert normal_mode(0o100600) == 0o644 and normal_mode(0o100664) == 0o644
    assert normal_mode(0o100700) == 0o755 and normal_mode(0o100751) == 0o755


def test_owners_and_overlaps():
    assert owner_of("eval/x/y.png", ["model.pkl", "eval/"]) == "eval/"
    assert owner_of("model.pkl", ["model.pkl", "eval/"]) == "model.pkl"
    assert owner_of("evaluation.txt", ["eval/"]) is None
    assert overlaps("eval/", "eval/a") and overlaps("a/b", "a/") and not overlaps("eval/", "evaluation/")
    assert outputs_key_part(["eval/", "m.pkl"]) == 'outputs:["eval/","m.pkl"]'


def _raw_manifest(outputs, rows) -> bytes:
    """A manifest's bytes as a crafted archive or remote blob could hold them (no check made)."""
    import json

    return b"assetbuild-files 1\n" + json.dumps({"outputs": outputs, "files": rows}).encode()


_D = "a" * 64
UNSAFE_MANIFESTS = {
    "parent in a file": (["out/"], [["out/../../escaped.txt", _D, 0o644, 1]]),
    "file under no output": (["out/"], [["lib/helpers.py", _D, 0o644, 1]]),
    "absolute file": (["out/"], [["/etc/passwd", _D, 0o644, 1]]),
    "empty part": (["out/"], [["out//x", _D, 0o644, 1]]),
    "dot part": (["out/"], [["out/./x", _D, 0o644, 1]]),
    "parent output": (["../elsewhere/"], [["../elsewhere/x", _D, 0o644, 1]]),
    "absolute output": (["/tmp/"], [["/tmp/x", _D, 0o644, 1]]),
    "the project as output": (["/"], []),
    "a NUL": (["out/"], [["out/x\0y", _D, 0o644, 1]]),
    "a digest that is no sha256": (["out/"], [["out/x", "../../x", 0o644, 1]]),
    "a set-uid mode": (["out/"], [["out/x", _D, 0o4755, 1]]),
    "a negative size": (["out/"], [["out/x", _D, 0o644, -1]]),
    "a row that is no row": (["out/"], [["out/x"]]),
    "no files": (["out/"], None),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_MANIFESTS))
def test_a_manifest_no_build_writes_is_refused_when_read(case):
    """A manifest comes from the cache, an imported archive or a remote: its paths are joined to
    the project directory, so one that is not plain, or lies under none of its outputs, makes
    the whole list unusable (ValueError, as any malformed one), never a traceback."""
    outputs, rows = UNSAFE_MANIFESTS[case]
    with pytest.raises(ValueError):
        decode_manifest(_raw_manifest(outputs, rows))


def test_a_path_that_leaves_its_output_is_owned_by_none():
    assert owner_of("eval/../x", ["eval/"]) is None and owner_of("eval/./x", ["eval/"]) is None
    assert owner_of("eval//x", ["eval/"]) is None and owner_of("eval/...", ["eval/"]) == "eval/"


@pytest.mark.parametrize("rel", ["out/../../escaped.txt", "lib/helpers.py", "/ABS/escaped.txt"])
def test_restoring_or_checking_never_reaches_past_the_declared_outputs(tmp_path, rel):
    """The last line of defence: a Manifest made without decode_manifest's checks is refused by
    the functions that join its paths to the project, and nothing is written or read."""
    root = tmp_path / "a" / "proj"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "helpers.py").write_text("mine")
    rel = rel.replace("/ABS", str(tmp_path))
    evil = b"evil"
    m = Manifest(("out/",), (FileEntry(rel, _digest(evil), 0o644, len(evil)),))
    with pytest.raises(ValueError, match="under none of its declared outputs|not a plain"):
        outputs_state(str(root), m, _hash_of)
    with pytest.raises(ValueError, match="under none of its declared outputs|not a plain"):
        restore_outputs(str(root), m, [("missing", rel)], lambda d: evil, lambda d: None, lambda *a: None)
    assert (root / "lib" / "helpers.py").read_text() == "mine"
    assert not (tmp_path / "a" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


# --- staging -----------------------------------------------------------------------------------

def test_context_out_and_the_manifest_of_a_run(tmp_path):
    staging = str(tmp_path / "stage")
    os.mkdir(staging)
    ctx = StagingContext("a", tmp_path, None, ("eval/", "models/m.pkl"), staging)
    (ctx.out("eval") / "x.txt").write_text("x")  # a directory named with or without its '/'
    ctx.out("models/m.pkl").write_bytes(b"m")
    with pytest.raises(ValueError, match="names no declared output"):
        ctx.out("other.txt")
    data = StagedOutputs("a", ("eval/", "models/m.pkl"), staging).dump(None)
    assert [f.path for f in decode_manifest(data).files] == ["eval/x.txt", "models/m.pkl"]
    with pytest.raises(OutputsError, match="must return None"):
        StagedOutputs("a", ("eval/",), staging).dump(42)


def test_out_names_a_path_inside_a_declared_directory(tmp_path: Path) -> None:
    """``context.out("eval/plots/roc.png")`` under ``eval/`` is that file, its folders made (it
    was refused: "names no declared output"); a part that could leave the directory is not."""
    staging = str(tmp_path / "staging")
    ctx = StagingContext("a", tmp_path, None, ("eval/", "models/m.pkl"), staging)
    ctx.out("eval/plots/roc.png").write_bytes(b"png")
    assert ctx.out("eval/logs/").is_dir()
    for bad in ("eval/../models/m.pkl", "eval//x", "eval/./x", "models/m.pkl/x", "evalx/y"):
        with pytest.raises(ValueError, match="names no declared output"):
            ctx.out(bad)
    data = StagedOutputs("a", ("eval/",), staging).dump(None)
    assert [f.path for f in decode_manifest(data).files] == ["eval/plots/roc.png"]


@pytest.mark.parametrize("make,words", [
    (lambda d: os.symlink("/etc/hostname", d / "eval" / "link"), "eval/link is a symlink"),
    (lambda d: os.symlink("/etc", d / "eval" / "dirlink"), "eval/dirlink is a symlink"),
    (lambda d: os.mkfifo(d / "eval" / "fifo"), "eval/fifo is not a regular file"),
    (lambda d: (d / "model.pkl").mkdir(), "is a file, but the asset wrote a directory"),
])
def test_what_a_run_may_not_leave(tmp_path, make, words):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "ok.txt").write_text("ok")
    make(tmp_path)
    outputs = ["eval/", "model.pkl"] if "file, but" in words else ["eval/"]
    with pytest.raises(OutputsError, match=words):
        scan_staging(str(tmp_path), outputs)


# --- placing, checking, restoring ---------------------------------------------------------------

def _stage(tmp_path: Path, files: dict[str, bytes], outputs=("eval/",)) -> tuple[str, Manifest]:
    stage = tmp_path / "stage"
    for rel, data in files.items():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_bytes(data)
    return str(stage), decode_manifest(encode_manifest(outputs, scan_staging(str(stage), outputs)))


def test_place_check_and_restore(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    blobs = {_digest(b): b for b in (b"a", b"b", b"c")}
    staging, m = _stage(tmp_path, {"eval/a": b"a", "eval/sub/b": b"b", "eval/c": b"c"})
    (root / "eval" / "old").mkdir(parents=True)
    (root / "eval" / "old" / "gone.txt").write_text("from an earlier run")
    placed = []
    place_outputs(str(root), staging, m, lambda rel, st, e: placed.append(rel))
    assert sorted(placed) == ["eval/a", "eval/c", "eval/sub/b"]
    assert not (root / "eval" / "old").exists()  # an earlier run's file, and its empty directory
    assert outputs_state(str(root), m, _hash_of) == []
    (root / "eval" / "a").unlink()
    (root / "eval" / "c").write_bytes(b"C")
    (root / "eval" / "sub" / "b").chmod(0o755)
    (root / "eval" / "new").write_bytes(b"new")
    problems = sorted(outputs_state(str(root), m, _hash_of))
    assert problems == [("extra", "eval/new"), ("missing", "eval/a"), ("modified", "eval/c"),
                        ("modified", "eval/sub/b")]
    restore_outputs(str(root), m, problems, blobs.__getitem__, lambda d: None, lambda *a: None)
    assert outputs_state(str(root), m, _hash_of) == []
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "eval/a", "eval/c", "eval/sub/b"]


def test_a_declared_directory_that_is_a_symlink_is_replaced_not_followed(tmp_path):
    root, outside = tmp_path / "proj", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "precious.txt").write_text("not the asset's")
    os.symlink(outside, root / "eval")
    staging, m = _stage(tmp_path, {"eval/a": b"a"})
    place_outputs(str(root), staging, m, lambda *a: None)
    assert (outside / "precious.txt").read_text() == "not the asset's"
    assert not (root / "eval").is_symlink() and (root / "eval" / "a").read_bytes() == b"a"


def test_removing_extras_never_follows_a_symlink(tmp_path):
    root, outside = tmp_path / "proj", tmp_path / "outside"
    (root / "eval").mkdir(parents=True)
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    os.symlink(outside, root / "eval" / "linked")
    os.symlink(outside / "precious.txt", root / "eval" / "file-link")
    removed = remove_extras(str(root), Manifest(("eval/",), ()))
    assert sorted(removed) == ["eval/file-link", "eval/linked"]
    assert (outside / "precious.txt").read_text() == "keep"


def test_placing_across_file_systems_copies(tmp_path):
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        stage = Path(other)
        (stage / "eval").mkdir()
        (stage / "eval" / "x").write_bytes(b"x")
        (stage / "eval" / "x").chmod(0o755)
        m = decode_manifest(encode_manifest(["eval/"], scan_staging(str(stage), ["eval/"])))
        root = tmp_path / "proj"
        root.mkdir()
        place_outputs(str(root), str(stage), m, lambda *a: None)
        assert (root / "eval" / "x").read_bytes() == b"x" and os.access(root / "eval" / "x", os.X_OK)
        assert outputs_state(str(root), m, _hash_of) == []


def test_snapshots_see_new_and_changed_files_only_where_they_look(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "venv-x").mkdir()
    (tmp_path / "venv-x" / "pyvenv.cfg").write_text("")
    (tmp_path / "out").mkdir()
    (tmp_path / "keep.txt").write_text("k")
    (tmp_path / "same.txt").write_text("s")
    (tmp_path / "left.txt").write_text("l")
    before = snapshot_project(str(tmp_path), ["out/"])
    (tmp_path / ".git" / "index").write_text("i")
    (tmp_path / "venv-x" / "lib.py").write_text("")
    (tmp_path / "out" / "declared").write_text("")
    (tmp_path / "new.txt").write_text("n")
    (tmp_path / "keep.txt").write_text("changed")
    st = (tmp_path / "same.txt").stat()
    time.sleep(0.02)  # past the timestamp granularity, so the ctime moves
    (tmp_path / "same.txt").write_text("S")  # same size, its mtime set back (shutil.copy2, tar x)
    os.utime(tmp_path / "same.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert written_since(before, snapshot_project(str(tmp_path), ["out/"])) == ["keep.txt", "new.txt", "same.txt"]


def test_an_empty_declared_directory_is_restored(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    m = Manifest(("empty/",), ())
    place_outputs(str(root), str(tmp_path), m, lambda *a: None)
    assert (root / "empty").is_dir() and outputs_state(str(root), m, _hash_of) == []
    (root / "empty").rmdir()
    problems = outputs_state(str(root), m, _hash_of)
    assert problems == [("missing", "empty")]
    restore_outputs(str(root), m, problems, lambda d: b"", lambda d: None, lambda *a: None)
    assert (root / "empty").is_dir()
