"""The files a FilePartitions glob matches (``session.partition_env.glob_matches``): what
``glob.glob(recursive=True)`` matches, by its rules, below folders of any depth; and the stored
dynamic keys (``read_dynamic``), checked as ``partitions add`` checks them."""

from __future__ import annotations

import glob
import json
import os

import pytest
from projects import DEEP, Project, cli, folder_chain, write

from assetbuild.dirtree import remove_tree
from assetbuild.errors import ConfigError
from assetbuild.session.partition_env import DYNAMIC_FILE, glob_matches, read_dynamic, read_table

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


@pytest.mark.parametrize("keys, named", [
    (["a", "../../escaped"], "'../../escaped'"), (["a", ""], "''"), (["a", "x//y"], "'x//y'"),
    (["a", "b", "a"], "key 'a' is listed twice"), (["/etc/x"], "'/etc/x'"),
])
def test_a_stored_key_that_partitions_add_would_refuse_is_a_damaged_table(tmp_path, keys, named):
    """Keys read back were checked for their JSON shape only: a hand-edited or copied table with
    '../../escaped' built a partition writing outside the project, and '' one named 'per[]'."""
    (tmp_path / DYNAMIC_FILE).write_text(json.dumps({"ok": ["x", "y/z"], "c": keys}))
    with pytest.raises(ConfigError) as e:
        read_dynamic(tmp_path, "../AssetFile")
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / DYNAMIC_FILE} is damaged (c: ") and named in msg, msg
    assert msg.endswith("; fix or delete it, then add the dynamic partitions again") and "\n" not in msg
    (tmp_path / DYNAMIC_FILE).write_text(json.dumps({"ok": ["x", "y/z"], "c": ["a"]}))
    assert read_dynamic(tmp_path, "../AssetFile") == {"ok": ["x", "y/z"], "c": ["a"]}
    # the same keys in a project's table of the file as it is now written
    for table in ({"format": 2, "projects": {"../p/AssetFile": {"c": keys}}},
                  {"format": 2, "projects": {}, "shared": {"c": keys}}):
        (tmp_path / DYNAMIC_FILE).write_text(json.dumps(table))
        with pytest.raises(ConfigError, match=r"is damaged \(c: "):
            read_table(tmp_path)


def test_a_file_of_dynamic_keys_of_a_newer_format_is_refused_not_misread(tmp_path):
    (tmp_path / DYNAMIC_FILE).write_text(json.dumps({"format": 3, "tables": {}}))
    with pytest.raises(ConfigError, match=r"is damaged \(format 3 is not one this version reads \(2\)\)"):
        read_table(tmp_path)
