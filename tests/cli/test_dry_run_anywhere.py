"""`assetbuild -n COMMAND`: the dry-run flag given before the command name, for every command of
the command line (read from the click group, so a command added later is covered too). Each
either honours it as its own -n would, writing nothing, or refuses it in one line, exit 2; none
writes to the project or its cache."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest
from projects import clean_env, cli, start_cli, write

ASSETFILE = """\
from assetbuild import DynamicPartitions, asset, observable_source, source

words = source("words", "data/words.txt")


@observable_source
def feed():
    return "v1"


@asset(io="json")
def counts(words, feed):
    return len(words.read_text().split())


@asset(io="json", path="build/top.json", auto="eager")
def top(counts):
    return counts * TIMES


@asset(io="json", partitions=DynamicPartitions("customers"))
def per_customer(context):
    return context.partition_key


TIMES = 2
"""

# The arguments each command needs to do something here (beyond `-n COMMAND`). A command not
# listed fails the test: add what makes it act (a command that is never run is not checked).
ARGS: dict[str, tuple[str, ...]] = {
    "build": (), "watch": (), "status": (), "why": ("top",), "list": (), "graph": (),
    "show": ("counts",), "clean": ("--yes",), "accept": ("top", "--yes"), "observe": (),
    "run": ("--once",), "ticks": (), "ui": ("--port", "0"), "runs": (), "runs show": ("000001",),
    "log": ("counts",), "diff": ("counts",), "help": ("build",), "init": ("new",),
    "cache stats": (), "cache gc": ("--older-than", "0", "--removed-after", "0"), "cache verify": (),
    "cache export": ("exported.tar",), "cache import": ("../archive.tar",), "cache keygen": (),
    "partitions list": ("per_customer",), "partitions add": ("customers", "zeta"),
    "partitions remove": ("customers", "acme"),
}
# commands that run until stopped: their first output is waited for, then they get SIGTERM
LASTING = {"watch"}


def _commands():
    import click

    from assetbuild.cli import cli as root

    def walk(group, path):
        for name, cmd in sorted(group.commands.items()):
            if isinstance(cmd, click.Group) and not getattr(cmd, "invoke_without_command", False):
                yield from walk(cmd, (*path, name))
                continue
            yield " ".join((*path, name))
            if isinstance(cmd, click.Group):
                yield from walk(cmd, (*path, name))

    return list(walk(root, ()))


def _tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: its mtime, size and digest (LMDB's lock file aside: readers
    take a slot in it; and ``__pycache__``, where any command that compiles the AssetFile keeps
    its bytecode, as Python keeps a module's on import)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if "__pycache__" in p.parts:
            continue
        if p.is_file() and p.name != "lock.mdb":
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_mtime_ns, st.st_size, hashlib.sha256(p.read_bytes()).hexdigest())
        elif p.is_dir():
            out[str(p.relative_to(root)) + "/"] = (0, 0, "")
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A project built twice (older cache entries, two versions of counts, a run to show), its
    top's code since changed (stale, with its output there: accept has something to accept, run
    something to build), and an archive of its cache beside it for `cache import`."""
    base = tmp_path_factory.mktemp("dry")
    root = write(base / "p", {"AssetFile": ASSETFILE, "data/words.txt": "a b c\n"})
    env = clean_env()
    assert cli("partitions", "add", "customers", "acme", cwd=root, env=env).returncode == 0
    assert cli(cwd=root, env=env).returncode == 0
    (root / "data" / "words.txt").write_text("a b c d\n")
    assert cli(cwd=root, env=env).returncode == 0
    assert cli("cache", "export", str(base / "archive.tar"), cwd=root, env=env).returncode == 0
    (root / "AssetFile").write_text(ASSETFILE.replace("TIMES = 2", "TIMES = 3"))
    assert "stale" in cli("status", "top", cwd=root, env=env).stdout
    return root


def test_every_command_is_listed():
    missing = sorted(set(_commands()) - set(ARGS))
    assert not missing, f"add the arguments these commands take to ARGS: {missing}"


@pytest.mark.parametrize("command", _commands())
def test_dry_run_before_the_command_writes_nothing(made, tmp_path, command):
    root = tmp_path / "p"
    import shutil

    shutil.copytree(made, root, symlinks=True)
    shutil.copy(made.parent / "archive.tar", tmp_path / "archive.tar")
    before = _tree(tmp_path)
    args = ("-n", *command.split(), *ARGS[command])
    env = clean_env(ASSETBUILD_NOW="2030-01-01T00:00:00Z")
    if command in LASTING:
        import subprocess

        proc = start_cli(*args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline(), proc.stderr.read()
            time.sleep(0.5)
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        rc, stderr = proc.returncode, proc.stderr.read()
    else:
        r = cli(*args, cwd=root, env=env, timeout=60)
        rc, stderr = r.returncode, r.stderr
    if rc == 2:  # refused: said in one line, naming the flag
        assert stderr.count("\n") == 1 and "-n/--dry-run" in stderr, stderr
    assert _tree(tmp_path) == before, f"`assetbuild {' '.join(args)}` (exit {rc}) wrote: {stderr}"


@pytest.mark.parametrize("command", ["accept", "run", "init", "observe", "cache verify", "cache import",
                                     "cache export", "partitions add", "ui"])
def test_commands_without_a_dry_run_refuse_it_in_one_line(made, command):
    r = cli("-n", *command.split(), *ARGS[command], cwd=made)
    assert r.returncode == 2
    assert r.stderr == (f"assetbuild: error: -n/--dry-run: assetbuild {command} has no dry run, and would "
                        f"write; leave -n out\n")


def test_cache_gc_takes_the_flag_before_its_name_as_its_own(made):
    r = cli("-n", "cache", "gc", "--older-than", "0", cwd=made)
    assert r.returncode == 0, r.stderr
    assert r.stdout == cli("cache", "gc", "-n", "--older-than", "0", cwd=made).stdout
    assert "would drop" in r.stdout, r.stdout
