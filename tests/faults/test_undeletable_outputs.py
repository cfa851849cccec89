"""Files assetbuild wrote that it cannot delete when it means to (a read-only mount of the
directory that holds them): they are not "changed since", and their record stays, so that once
the mount is writable again the command that deletes them (``clean``, ``clean --orphans``) does.
Needs root (a read-only bind mount); skipped otherwise."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from projects import cli


@contextlib.contextmanager
def read_only(where: Path) -> Iterator[None]:
    """``where`` bind-mounted read-only on itself for the block."""
    r = subprocess.run(["mount", "--bind", str(where), str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root or CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(where)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)


def test_a_dropped_partitions_file_that_cannot_be_deleted_is_an_orphan_until_it_can(tmp_path: Path) -> None:
    """``partitions remove`` then a build with out/ read-only: the build says the file could not
    be deleted, drops the partition, and notes the file as an orphaned output; writable again,
    ``clean --orphans`` deletes it (before, nothing knew it any more: it stayed for good)."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "AssetFile").write_text(
        'from assetbuild import asset, DynamicPartitions\n\n\n'
        '@asset(partitions=DynamicPartitions("custs"), io="text", path="out/{partition}.txt")\n'
        'def cust(context):\n    return context.partition_key * 2\n')
    assert cli("partitions", "add", "custs", "a", "b", cwd=root).returncode == 0
    assert cli(cwd=root).returncode == 0
    assert cli("partitions", "remove", "custs", "a", cwd=root).returncode == 0
    with read_only(root / "out"):
        r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    assert ("out/a.txt belongs to a partition that no longer exists, but it cannot be deleted: Read-only file "
            "system (an orphaned output now: assetbuild clean --orphans deletes it once it can)") in r.stderr
    assert "dropped 1 partition(s) that no longer exist: cust[a]" in r.stdout
    assert (root / "out/a.txt").read_text() == "aa"
    assert "out/a.txt" in cli("clean", "--orphans", "-n", cwd=root).stdout
    assert "out/a.txt" in cli("clean", "-n", cwd=root).stdout
    r = cli("clean", "--orphans", "--yes", cwd=root)
    assert r.returncode == 0 and "deleted 1 orphaned output" in r.stdout, r.stdout + r.stderr
    assert not (root / "out/a.txt").exists() and (root / "out/b.txt").read_text() == "bb"
    assert cli("clean", "--orphans", "--yes", cwd=root).stdout.strip() == "no orphaned outputs to delete"


def test_clean_that_cannot_delete_an_unchanged_output_says_so_and_keeps_the_cache(tmp_path: Path) -> None:
    """``clean`` with out/ read-only: one error line naming the file and why, exit 2, and the
    cache stays as the record of it (before: "kept 1 (changed since)", exit 0, the cache
    deleted, and a second clean could no longer delete the file)."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "AssetFile").write_text('from assetbuild import asset\n\n\n'
                                    '@asset(io="text", path="out/a.txt")\ndef a():\n    return "a"\n\n\n'
                                    '@asset(io="text", path="b.txt")\ndef b():\n    return "b"\n')
    assert cli(cwd=root).returncode == 0
    with read_only(root / "out"):
        r = cli("clean", "--yes", cwd=root)
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("assetbuild: error:")]
    assert errors == [f"assetbuild: error: cannot delete out/a.txt, which still holds what assetbuild wrote: "
                      f"Read-only file system; deleted 1 other file; {root / '.assetbuild'} stays, as the record of "
                      "what is left to delete (run assetbuild clean again once it can be deleted; clean "
                      "--keep-outputs deletes the cache alone)"], r.stderr
    assert "changed since" not in r.stderr and "Traceback" not in r.stderr
    assert (root / ".assetbuild").is_dir() and (root / "out/a.txt").is_file() and not (root / "b.txt").exists()
    r = cli("clean", "--yes", cwd=root)
    assert r.returncode == 0, r.stderr
    assert not (root / "out/a.txt").exists() and not (root / ".assetbuild").exists()


def test_clean_orphans_that_cannot_delete_one_keeps_its_note(tmp_path: Path) -> None:
    """An asset removed from the AssetFile leaves an orphan; ``clean --orphans`` with its
    directory read-only fails with one line (exit 2) and keeps the note; writable, it deletes it."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "AssetFile").write_text('from assetbuild import asset\n\n\n'
                                    '@asset(io="text", path="out/a.txt")\ndef a():\n    return "a"\n')
    assert cli(cwd=root).returncode == 0
    (root / "AssetFile").write_text('from assetbuild import asset\n\n\n'
                                    '@asset(io="text")\ndef other():\n    return "x"\n')
    assert cli(cwd=root).returncode == 0
    with read_only(root / "out"):
        r = cli("clean", "--orphans", "--yes", cwd=root)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert ("assetbuild: error: cannot delete 1 orphaned output, which still holds what assetbuild wrote: out/a.txt "
            "(cannot be deleted: Read-only file system)") in r.stderr
    r = cli("clean", "--orphans", "--yes", cwd=root)
    assert r.returncode == 0 and "deleted 1 orphaned output" in r.stdout, r.stdout + r.stderr
    assert not (root / "out/a.txt").exists()
