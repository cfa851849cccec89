"""``assetbuild clean --outputs`` as a user runs it (real command, real project): the refusal
without a terminal, the question on one (with the number of files), ``-n`` listing what would go,
the summary line and the one warning naming the edited files (``--orphans`` too), ``--help``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import answer_in_pty, clean_env, cli, shared_assetfile

ASSETFILE = shared_assetfile("three_kinds_of_output")
WRITTEN = ["eval/metrics.json", "eval/plots/a.csv", "model.pkl", "out/clean.txt"]


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "AssetFile").write_text(ASSETFILE)
    (root / "params.txt").write_text("hello\n")
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    assert all((root / f).is_file() for f in WRITTEN)
    return root


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if ".assetbuild" not in p.parts)


def test_without_a_terminal_it_needs_yes(proj):
    before = _files(proj)
    r = cli("clean", "--outputs", cwd=proj)
    assert r.returncode == 2 and "--yes" in r.stderr and "Traceback" not in r.stderr
    assert _files(proj) == before and (proj / ".assetbuild").exists()


@pytest.mark.parametrize("args", [["clean", "--outputs", "-n"], ["-n", "clean", "--outputs", "--dry-run"]])
def test_dry_run_lists_what_would_go_and_what_would_stay(proj, args):
    (proj / "model.pkl").write_text("tuned by hand")
    before = _files(proj)
    r = cli(*args, cwd=proj)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"would delete what assetbuild stored in {proj / '.assetbuild'}",
        "would delete 3 files assetbuild wrote into the project:",
        "  eval/metrics.json", "  eval/plots/a.csv", "  out/clean.txt",
        "would keep 1 file assetbuild wrote (changed since):",
        "  model.pkl (edited)"]
    assert _files(proj) == before and (proj / ".assetbuild" / "STORE").exists() and r.stderr == ""


def test_yes_deletes_and_says_how_many_were_deleted_and_kept(proj):
    (proj / "model.pkl").write_text("tuned by hand")
    (proj / "eval" / "metrics.json").write_text("{}")
    r = cli("clean", "--yes", cwd=proj)  # the default now
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"deleted {proj / '.assetbuild'}; deleted 2 files assetbuild wrote into the "
                                "project, kept 2 (changed since)")
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert warnings == ["warning: kept 2 files assetbuild wrote that changed since: "
                        "eval/metrics.json (edited), model.pkl (edited)"]
    assert _files(proj) == ["AssetFile", "eval", "eval/metrics.json", "model.pkl", "out", "params.txt"]
    r = cli("clean", "--outputs", "--yes", cwd=proj)
    assert r.returncode == 0 and r.stdout.startswith("nothing to clean"), r.stdout


def test_orphans_with_nothing_deletable_says_what_it_did_not_what_it_would(proj):
    """A real run that finds only edited files of removed assets: no dry-run wording."""
    (proj / "AssetFile").write_text('from assetbuild import source\n\nparams = source("params", "params.txt")\n')
    assert cli(cwd=proj).returncode == 0  # the build notices the three assets gone
    for f in WRITTEN:
        (proj / f).write_text("mine now")
    before = _files(proj)
    r = cli("clean", "--orphans", "--yes", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "deleted 0 orphaned outputs\n"
    assert r.stderr.startswith("warning: kept 4 orphaned outputs: ") and "model.pkl (edited)" in r.stderr
    assert _files(proj) == before
    r = cli("clean", "--orphans", "-n", cwd=proj)  # -n keeps its own words
    assert r.stdout.splitlines()[:2] == ["would delete 0 orphaned outputs",
                                         "would keep 4 files (changed since, or not safe to delete):"]


def test_from_another_directory_with_C(proj, tmp_path):
    r = cli("-C", str(proj), "clean", "--outputs", "--yes", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "deleted 4 files assetbuild wrote into the project and 1 emptied output directory, kept 0" in r.stdout
    assert _files(proj) == ["AssetFile", "out", "params.txt"]


def test_the_question_on_a_terminal_counts_the_files(proj):
    (proj / "model.pkl").write_text("tuned by hand")
    before = _files(proj)
    rc, out = answer_in_pty(["clean"], proj, b"n\n")
    assert (f"Delete {proj / '.assetbuild'} and everything cached in it, and 3 files assetbuild wrote into the "
            "project (1 changed since stay)? [y/N]") in out.replace("\r\n", " ").replace("\n", " ")
    assert rc == 1 and _files(proj) == before
    assert out.endswith("[y/N]: n\r\nnothing deleted\r\n") and "Aborted" not in out
    rc, out = answer_in_pty(["clean", "--outputs"], proj, b"y\n")
    assert rc == 0 and "deleted 3 files" in out and _files(proj) == ["AssetFile", "model.pkl", "out", "params.txt"]


def test_help_says_what_outputs_and_dry_run_do():
    r = cli("clean", "--help", cwd=".")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "--keep-outputs Keep the files assetbuild wrote into the project" in text
    assert "--outputs" not in text.replace("--keep-outputs", "")  # the old flag: accepted, not shown
    assert "edited ones stay" in text and "-n, --dry-run List what would be deleted; delete nothing." in text


EAGER = """\
from assetbuild import asset

@asset(io="text", path="out/x.txt", auto="eager")
def x():
    return "x"
"""


def test_clean_after_assetbuild_run_deletes_its_lock_and_the_next_build_works(tmp_path):
    """`assetbuild run` leaves its lock file (run-<id>.lock) in the cache directory; clean took it
    for a user's file, kept it with a warning, and every build after said the directory was
    not a cache (exit 2)."""
    (tmp_path / "AssetFile").write_text(EAGER)
    assert cli("run", "--once", cwd=tmp_path).returncode == 0
    assert list((tmp_path / ".assetbuild").glob("run-*.lock"))
    r = cli("clean", "--yes", cwd=tmp_path)
    assert r.returncode == 0 and "kept" not in r.stderr, r.stderr
    assert not (tmp_path / ".assetbuild").exists()
    r = cli(cwd=tmp_path)
    assert r.returncode == 0 and "1 built" in r.stdout, r.stderr


def test_clean_refuses_while_assetbuild_run_keeps_the_project_fresh(tmp_path):
    """Between ticks `assetbuild run` holds no build lock, but its next tick needs the cache:
    clean says who uses it (exit 2) and deletes nothing."""
    (tmp_path / "AssetFile").write_text(EAGER)
    daemon = subprocess.Popen([sys.executable, "-m", "assetbuild", "run", "--tick", "0.2"], cwd=tmp_path,
                              env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "out" / "x.txt").exists():
            assert time.monotonic() < deadline and daemon.poll() is None, daemon.communicate()
            time.sleep(0.05)
        r = cli("clean", "--yes", cwd=tmp_path)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert r.stderr.strip().splitlines() == [
            f"assetbuild: error: assetbuild run (pid {daemon.pid}) is using {tmp_path / '.assetbuild'}; "
            "stop it first; nothing was deleted"], r.stderr
        assert (tmp_path / ".assetbuild" / "STORE").exists() and (tmp_path / "out" / "x.txt").exists()
    finally:
        daemon.terminate()
        daemon.communicate(timeout=30)
    assert daemon.returncode == 0
    r = cli("clean", "--yes", cwd=tmp_path)
    assert r.returncode == 0 and not (tmp_path / ".assetbuild").exists(), r.stderr


LINKED_ASSETFILE = '''
from assetbuild import asset


@asset(outputs=["build/model/"])
def m(context):
    d = context.out("build/model/")
    (d / "w.bin").write_bytes(b"w")


@asset(io="text", path="out/notes.txt")
def notes():
    return "notes"
'''


def test_outputs_through_a_symlinked_directory_are_left_as_documented_not_called_damaged(tmp_path):
    """The README's layout for outputs on another disk (build -> /mnt/big/build): clean deletes
    nothing through a symlink, and says so, not "a damaged or foreign record?" nor "changed"."""
    root, disk = tmp_path / "proj", tmp_path / "bigdisk" / "build"
    root.mkdir()
    disk.mkdir(parents=True)
    (root / "build").symlink_to(disk, target_is_directory=True)
    (root / "AssetFile").write_text(LINKED_ASSETFILE)
    assert cli(cwd=root).returncode == 0 and (disk / "model" / "w.bin").is_file()
    (root / "out" / "notes.txt").write_text("mine now")
    r = cli("clean", "-n", cwd=root)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines()[1:] == [
        "would delete 0 files assetbuild wrote into the project",
        "would keep 2 files assetbuild wrote (changed since, or reached through a symlink):",
        "  out/notes.txt (edited)", "  build/model/w.bin (through a symlink (build); recorded for asset 'm')"]
    r = cli("clean", "--yes", cwd=root)
    assert r.returncode == 0, r.stderr
    assert "damaged" not in r.stderr and "foreign" not in r.stderr, r.stderr
    assert r.stderr.splitlines() == [
        "warning: kept 1 file assetbuild wrote that changed since: out/notes.txt (edited)",
        "warning: left 1 file assetbuild wrote through a symlinked directory, as clean leaves every path "
        "reached through a symlink: build/model/w.bin"]
    assert r.stdout.strip().endswith("deleted 0 files assetbuild wrote into the project, kept 2 (changed since, "
                                     "or reached through a symlink)"), r.stdout
    assert (disk / "model" / "w.bin").read_bytes() == b"w" and (root / "build").is_symlink()


@pytest.mark.parametrize("answer", [b"n\n", b"no\n", b"\n", b"\x04"])
def test_a_declined_question_says_nothing_was_deleted_with_status_1(proj, answer):
    """A "no" (Enter: the default; Ctrl-D: no answer) printed click's "Aborted!", which reads as a
    crash: now the house line, "nothing deleted", and exit status 1 (what was asked is not done)."""
    before = _files(proj)
    for args in (["clean"], ["clean", "--orphans"]):
        if args[-1] == "--orphans":  # orphans to ask about: the three assets gone from the AssetFile
            (proj / "AssetFile").write_text('from assetbuild import source\n\nparams = source("params", "params.txt")\n')
            assert cli(cwd=proj).returncode == 0
        rc, out = answer_in_pty(args, proj, answer)
        assert (rc, out.splitlines()[-1]) == (1, "nothing deleted"), out
        assert "Aborted" not in out and _files(proj) == before


def test_ctrl_c_at_the_question_is_an_interrupt(proj):
    before = _files(proj)
    rc, out = answer_in_pty(["clean"], proj, None)
    assert rc == 130 and "Aborted" not in out and "nothing deleted" not in out, out
    assert _files(proj) == before and (proj / ".assetbuild").is_dir()
