"""Watch mode and partitions that come and go without a save in the project: keys added or removed
with ``assetbuild partitions add|remove`` in another terminal (they live in the cache directory,
which watch otherwise ignores), and a new file in a FilePartitions glob's directory.

As in test_watch.py: ``session.watch`` in a thread with a real watchdog observer; the keys are
changed by a real ``assetbuild`` process, as a user in another terminal would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_watch import Watching, built

from assetbuild.session.partitioning import change_dynamic

WAIT = 120  # s: the keys change in another process, which starts slowly on a loaded machine

ASSETFILE = """
from assetbuild import DynamicPartitions, FilePartitions

@asset(partitions=DynamicPartitions("customers"))
def per_customer(context):
    return context.partition_key.upper()

@asset
def customers(per_customer):
    return sorted(per_customer.values())

@asset(partitions=FilePartitions("in/*.txt"))
def per_file(context):
    return context.partition_path.read_text()
"""


def partitions_cli(root: Path, *args: str, cache_dir: Path | None = None) -> None:
    """``assetbuild partitions ARGS`` in its own process, as from another terminal."""
    cmd = [sys.executable, "-m", "assetbuild", "-C", str(root)]
    if cache_dir is not None:
        cmd += ["--cache-dir", str(cache_dir)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ASSETBUILD_CACHE_DIR")}
    subprocess.run([*cmd, "partitions", *args], check=True, env=env, capture_output=True, timeout=120)


@pytest.mark.parametrize("outside", [False, True], ids=["cache-in-project", "cache-elsewhere"])
def test_keys_added_or_removed_in_another_terminal_are_built_or_dropped(project, tmp_path, outside):
    project.assetfile(ASSETFILE)
    cache = tmp_path / "shared-cache" if outside else None
    kw = {"cache_dir": cache} if outside else {}
    change_dynamic("customers", ["acme"], add=True, project_dir=project.root, **kw)
    with Watching(project.root, **kw) as w:
        assert sorted(built(w.cycles[0])) == ["customers", "per_customer[acme]"]

        partitions_cli(project.root, "add", "customers", "globex", cache_dir=cache)
        c = w.wait(2, timeout=WAIT)[1]
        assert sorted(built(c)) == ["customers", "per_customer[globex]"]
        assert c.changed is not None and any(p.endswith("partition-keys.json") for p in c.changed), c.changed

        partitions_cli(project.root, "remove", "customers", "acme", cache_dir=cache)
        c = w.wait(3, timeout=WAIT)[2]
        assert built(c) == ["customers"]
        assert w.settle() == 3  # the builds' own writes to the cache wake nothing
    import assetbuild

    assert assetbuild.load_value("customers", project_dir=project.root, **kw) == ["GLOBEX"]


def test_an_edit_that_changes_nothing_in_the_keys_builds_nothing(project):
    project.assetfile(ASSETFILE)
    change_dynamic("customers", ["acme"], add=True, project_dir=project.root)
    with Watching(project.root) as w:
        partitions_cli(project.root, "add", "customers", "acme")  # there already: the file is rewritten or kept
        n = w.settle()
        assert all(not built(c) for c in w.cycles[1:n]), [built(c) for c in w.cycles]


def test_a_new_file_in_a_partition_glob_builds_its_partition(project):
    project.assetfile(ASSETFILE)
    project.write("in/a.txt", "A")
    with Watching(project.root) as w:
        assert "per_file[a.txt]" in built(w.cycles[0])
        project.write("in/b.txt", "B")
        c = w.wait(2, timeout=WAIT)[1]
        assert built(c) == ["per_file[b.txt]"]


WAITING = """
from assetbuild import DynamicPartitions

raw = source("raw", "raw.txt")

@asset(partitions=DynamicPartitions("customers"), io="text", path="build/c/{partition}.txt")
def c(context, raw):
    return context.partition_key + raw.read_text()
"""


def test_a_cycle_that_waited_while_the_keys_changed_builds_the_keys_as_they_are(project, tmp_path):
    """A cycle loads the project, then waits for the build lock: when ``partitions remove
    customers globex`` and ``add zeta`` took it first, the cycle built c[globex] again (its file
    written back) and not c[zeta]. It loads the project again once it holds the lock."""
    import time

    from projects import holding_build_lock

    from assetbuild.session.partition_env import read_table, write_table

    project.assetfile(WAITING)
    project.write("raw.txt", "1")
    cache = project.root / ".assetbuild"
    change_dynamic("customers", ["acme", "globex"], add=True, project_dir=project.root)
    with Watching(project.root) as w:
        assert sorted(built(w.cycles[0])) == ["c[acme]", "c[globex]"]
        with holding_build_lock(cache) as release:
            project.write("raw.txt", "2")
            deadline = time.monotonic() + WAIT
            while "waiting for it to finish" not in w.err.getvalue():
                assert time.monotonic() < deadline, w.err.getvalue()
                time.sleep(0.05)
            table = read_table(cache)  # what partitions remove globex and add zeta record, under the lock
            (pid,) = table.projects
            table.projects[pid] = {"customers": ["acme", "zeta"]}
            write_table(cache, table)
            release()
            c = w.wait(2, timeout=WAIT)[1]
    assert sorted(built(c)) == ["c[acme]", "c[zeta]"]
    assert not (project.root / "build/c/globex.txt").exists()
    assert (project.root / "build/c/zeta.txt").read_text() == "zeta2"
