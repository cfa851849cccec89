"""Every option of the `assetbuild` group given before a command name, for every command of the
command line (both read from the click group, so a command or option added later is covered
too). Each is the command's own option of that name, doing what it does after the name, or is
refused in one line naming it and the command, exit 2, with nothing written; never dropped.

`assetbuild -n COMMAND` first: a command either honours the dry-run flag as its own -n would,
writing nothing, or refuses it in one line, exit 2; none writes to the project or its cache."""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
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
    shutil.copytree(made, root, symlinks=True)
    shutil.copy(made.parent / "archive.tar", tmp_path / "archive.tar")
    before = _tree(tmp_path)
    args = ("-n", *command.split(), *ARGS[command])
    env = clean_env(ASSETBUILD_NOW="2030-01-01T00:00:00Z")
    if command in LASTING:
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


# --- every other option of the group -------------------------------------------------------------

# What each option of the group is given with (all but -n, above), and where the command runs:
# in the project, or beside it ("up": -C and -f then name it). An option not listed fails the test.
VALUES: dict[str, tuple[tuple[str, ...], str]] = {
    "directory": (("-C", "p"), "up"), "assetfile": (("-f", "p/AssetFile"), "up"),
    "cache_dir": (("--cache-dir", "other"), "in"), "verbose": (("-v",), "in"), "quiet": (("-q",), "in"),
    "keep_going": (("-k",), "in"), "force": (("--force",), "in"), "force_upstream": (("--force-upstream",), "in"),
    "only": (("--only",), "in"), "exclude": (("--exclude", "counts"), "in"),
    "partition": (("--partition", "acme"), "in"), "partitions": (("--partitions", "acme"), "in"),
    "as_json": (("--json",), "in"), "param": (("--param", "top.x=1"), "in"), "jobs": (("-j", "2"), "in"),
    "executor": (("--executor", "threads"), "in"), "executor_options": (("--executor-option", "k=v"), "in"),
    "timeout": (("--timeout", "60"), "in"), "remote": (("--remote", "file://{remote}"), "in"),
    "remote_read_only": (("--remote-read-only",), "in"), "trust_remote_unsigned": (("--trust-remote-unsigned",), "in"),
    "remote_timeout": (("--remote-timeout", "5"), "in"), "remote_option": (("--remote-option", "anon=true"), "in"),
}
# commands that run until stopped here too (ui serves; with -n it was refused before it could)
SERVING = {"watch", "ui"}


def _group_options(path: str = "") -> list[str]:
    """The options of the group at ``path`` ("" for assetbuild itself) that reach its commands (not
    --help or --version, which answer at once), by parameter name."""
    from assetbuild.cli import cli as root

    group = root
    for word in path.split():
        group = group.commands[word]
    return [p.name for p in group.params if p.expose_value and isinstance(p.name, str)]


def _own_params(command: str) -> set[str]:
    from assetbuild.cli import cli as root

    cmd = root
    for word in command.split():
        cmd = cmd.commands[word]
    return {p.name for p in cmd.params}


def _pairs() -> list[tuple[str, str]]:
    return [(option, command) for command in _commands() for option in _group_options() if option != "dry_run"]


# Runs `assetbuild ARGS...` (its console script's main()) in a process forked for each command
# line: hundreds of them, each without the interpreter's start (a subprocess each took minutes).
FORKING = r"""
import atexit, json, os, sys
from assetbuild.cli import main
import assetbuild.output, assetbuild.session, assetbuild.store  # (once, not in every command)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.chdir(job["cwd"])
        for fd, path in ((0, os.devnull), (1, job["out"]), (2, job["err"])):
            f = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.argv = ["assetbuild", *job["args"]]
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        finally:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


@pytest.fixture(scope="module")
def forking(tmp_path_factory):
    """The forking process, and a folder outside every project for the output of its commands."""
    proc = subprocess.Popen([sys.executable, "-c", FORKING], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=clean_env(ASSETBUILD_NOW="2030-01-01T00:00:00Z"))
    proc.scratch = tmp_path_factory.mktemp("forked")
    yield proc
    proc.stdin.close()
    proc.wait(30)


def _run(forking, args: tuple[str, ...], cwd: Path, serving: bool) -> tuple[int, str, str]:
    """Run the command to its end, or one that serves until its first line (3 s at most), then
    SIGTERM; its exit status and output."""
    env = clean_env(ASSETBUILD_NOW="2030-01-01T00:00:00Z")
    if not serving:
        out, err = forking.scratch / "stdout", forking.scratch / "stderr"
        forking.stdin.write(json.dumps({"cwd": str(cwd), "args": args, "out": str(out), "err": str(err)}) + "\n")
        forking.stdin.flush()
        rc = int(forking.stdout.readline())
        texts = out.read_text(), err.read_text()
        out.unlink()
        err.unlink()
        return rc, *texts
    proc = start_cli(*args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        select.select([proc.stdout, proc.stderr], [], [], 3)
        time.sleep(0.3)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def _plain(text: str) -> str:
    """Output without what differs between two identical runs: times, durations, tokens, pids."""
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", "<time>", text)
    text = re.sub(r"ed25519(-secret)?:[\w+/=]+", "<key>", text)  # (cache keygen: a new pair each time)
    text = re.sub(r"token=[\w-]+|pid \d+|\d+(\.\d+)?(e-?\d+)?", "<n>", text)
    return text


def _files(root: Path) -> dict[str, str]:
    """Every file under ``root`` by path; its digest outside the cache directories (whose
    LMDB records hold times)."""
    caches = {".assetbuild", "other", "remote"}
    return {k: "" if caches & set(Path(k).parts) else v[2] for k, v in _tree(root).items() if not k.endswith(".mdb")}


def _fresh(made: Path, where: Path) -> Path:
    """A copy of the made project at ``where/p`` (again at the same place: its output names it),
    with the archive `cache import` reads beside it."""
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    shutil.copytree(made, where / "p", symlinks=True)
    shutil.copy(made.parent / "archive.tar", where / "archive.tar")
    return where / "p"


def _given(option: str, where: Path) -> tuple[tuple[str, ...], str]:
    words, place = VALUES[option]
    return tuple(w.replace("{remote}", str(where / "remote")) for w in words), place


def test_every_option_of_the_group_has_a_value():
    missing = sorted(set(_group_options()) - set(VALUES) - {"dry_run"})
    assert not missing, f"add what these options are given with to VALUES: {missing}"


@pytest.mark.parametrize(("option", "command"), _pairs())
def test_an_option_before_the_command_is_its_own_or_refused(made, forking, tmp_path, option, command):
    where = tmp_path / "w"
    root = _fresh(made, where)
    words, place = _given(option, where)
    cwd = root if place == "in" else where
    name = command.split()
    if option not in _own_params(command):  # refused, naming the option and the command, writing nothing
        before = _tree(where)
        rc, out, err = _run(forking, (*words, *name, *ARGS[command]), cwd, command in SERVING)
        assert rc == 2, (rc, out, err)
        assert err.count("\n") == 1 and words[0] in err and f"assetbuild {command} " in err, err
        assert _tree(where) == before
        return
    # honoured: as the same option after the command name (its output and what it wrote)
    after = _run(forking, (*name, *ARGS[command], *words), cwd, command in SERVING)
    wrote_after = _files(where)
    root = _fresh(made, where)
    rc, out, err = _run(forking, (*words, *name, *ARGS[command]), cwd, command in SERVING)
    assert (rc, _plain(out), _plain(err)) == (after[0], _plain(after[1]), _plain(after[2]))
    assert _files(where) == wrote_after


@pytest.mark.parametrize("option", _group_options("runs"))
def test_an_option_of_runs_before_show_is_its_own_or_refused(made, tmp_path, option):
    """`assetbuild runs --json show ID`: runs's own options, before the name of its command."""
    root = _fresh(made, tmp_path / "w")
    words = {"directory": ("-C", "."), "assetfile": ("-f", "AssetFile"), "cache_dir": ("--cache-dir", "other"),
             "verbose": ("-v",), "quiet": ("-q",), "as_json": ("--json",), "limit": ("-n", "1")}[option]
    r = cli("runs", *words, "show", "000001", cwd=root)
    if option == "limit":
        assert (r.returncode, r.stderr) == (2, "assetbuild: error: -n/--limit: assetbuild runs show has no "
                                               "-n/--limit option; leave it out\n")
    else:
        assert (r.returncode, r.stdout, r.stderr) == _as_tuple(cli("runs", "show", "000001", *words, cwd=root))


def _as_tuple(r: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("args", [("--json", "init", "new"), ("--force", "list"), ("-k", "status"),
                                  ("-j", "2", "why", "top"), ("--cache-dir", "x", "help")])
def test_the_refusal_is_one_line_naming_the_option_and_the_command(made, args):
    r = cli(*args, *(("counts",) if args[-1] == "show" else ()), cwd=made)
    flag = {"--json": "--json", "--force": "--force", "-k": "-k/--keep-going", "-j": "-j/--jobs",
            "--cache-dir": "--cache-dir"}[args[0]]
    command = args[-2] if args[-1] in ("new", "top") else args[-1]
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"assetbuild: error: {flag}: assetbuild {command} has no {flag} option; leave it out\n"
