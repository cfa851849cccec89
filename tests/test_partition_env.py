"""The files a FilePartitions glob matches (``session.partition_env.glob_matches``): what
``glob.glob(recursive=True)`` matches, by its rules, below folders of any depth."""

from __future__ import annotations

import glob
import os

import pytest
from projects import DEEP, Project, cli, folder_chain, write

from assetbuild.dirtree import remove_tree
from assetbuild.session.partition_env import glob_matches

PATTERNS = ["data/**/*.csv", "data/*.csv", "**/*.csv", "data/**", "data/*/x.csv", "data/.hidden/*.csv",
            "data/[ab]*.csv", "data/**/sub/*.csv", "d?ta/*.csv", "*/**/*.csv", "data/**/.*", "nope/**/*.csv",
            "data/a.csv/*", "data/**/**/*.csv"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_same_files_as_glob(tmp_path, pattern):
    write(tmp_path, {"data/a.csv": "", "data/b.csv": "", "data/.c.csv": "", "data/x/x.csv": "",
                     "data/x/sub/s.csv": "", "data/.hidden/h.csv": "", "data/y/deeper/z/x.csv": "",
                     "top.csv": "", "other/sub/o.csv": "", "data/notes.txt": ""})
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "other", target_is_directory=True)
    (tmp_path / "data" / "x" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    os.mkfifo(tmp_path / "data" / "fifo.csv")

    def files(found):
        return sorted(f for f in found if (tmp_path / f).is_file())

    assert files(glob_matches(str(tmp_path), pattern)) == files(glob.glob(pattern, root_dir=tmp_path, recursive=True))


def test_a_file_partition_glob_reaches_any_depth(tmp_path):
    """``data/**/*.csv`` over a folder chain deeper than the recursion limit: glob raised
    RecursionError, a traceback for every command that loaded the project."""
    p = Project(tmp_path)
    p.write("AssetFile", 'from assetbuild import asset, FilePartitions\n\n\n'
                         '@asset(partitions=FilePartitions("data/**/*.csv"))\ndef p(context):\n    return 1\n')
    p.write("data/a.csv", "1")
    folder_chain(tmp_path / "data", DEEP, bottom="f.csv")
    try:
        r = cli("partitions", "list", "p", cwd=tmp_path)
        assert r.returncode == 0 and r.stdout.split() == ["a.csv", "d/" * DEEP + "f.csv"], r.stderr[-500:]
    finally:
        remove_tree(str(tmp_path / "data"))
