"""What a new user trips over in the first hour, through the real command: finding the project
(-f's directory, the search upward and where it stops), asking for help (`assetbuild help`,
a mistyped command), one error style, each command's --json help, a syntax error's source
line and caret, and the Python API's own words in its errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from projects import clean_env, cli, cli_cmd, write

import assetbuild

HELPERS = "def double(x):\n    return 2 * x\n"
ASSETFILE = """\
from assetbuild import asset
from helpers import double


@asset(io="json", path="out/four.json")
def four():
    return double(2)
"""


def project(root: Path) -> Path:
    """An AssetFile that imports a module of its own directory (helpers.py)."""
    return write(root, {"AssetFile": ASSETFILE, "helpers.py": HELPERS})


# --- -f FILE: the project directory is the AssetFile's ------------------------------------------

def test_f_makes_the_assetfiles_directory_the_project(tmp_path):
    project(tmp_path / "sub")
    r = cli("-f", "sub/AssetFile", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ModuleNotFoundError" not in r.stderr and "built     four" in r.stdout
    assert (tmp_path / "sub" / ".assetbuild").is_dir() and not (tmp_path / ".assetbuild").exists()
    assert json.loads((tmp_path / "sub" / "out" / "four.json").read_text()) == 4
    r = cli("status", "-f", "sub/AssetFile", cwd=tmp_path)  # after the command name too
    assert r.returncode == 0 and "four" in r.stdout and r.stderr == ""
    # unless -C says otherwise: -C DIR -f FILE, DIR is the project (FILE read from it), as make -C does
    r = cli("-C", str(tmp_path), "-f", "sub/AssetFile", cwd="/")
    assert r.returncode == 2 and "No module named 'helpers'" in r.stderr
    r = cli("-C", str(tmp_path / "sub"), "-f", "AssetFile", cwd="/")
    assert r.returncode == 0, r.stderr


def test_f_with_a_relative_cache_dir_keeps_its_meaning(tmp_path):
    project(tmp_path / "sub")
    r = cli("-f", "sub/AssetFile", "--cache-dir", "cache", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cache").is_dir() and not (tmp_path / "sub" / "cache").exists()


# --- the search upward -------------------------------------------------------------------------

def test_found_above_said_once(tmp_path):
    project(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    r = cli(cwd=deep)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "(using AssetFile in ../..)\n"
    assert (tmp_path / ".assetbuild").is_dir() and not (deep / ".assetbuild").exists()
    assert (tmp_path / "out" / "four.json").is_file()
    r = cli("status", cwd=tmp_path / "a")
    assert r.returncode == 0 and r.stderr == "(using AssetFile in ..)\n" and "four" in r.stdout
    r = cli("status", "-q", cwd=deep)  # -q: only errors
    assert r.returncode == 0 and r.stderr == ""
    r = cli("status", cwd=tmp_path)  # in the project directory: nothing said
    assert r.returncode == 0 and r.stderr == ""


def test_found_above_with_c(tmp_path):
    project(tmp_path)
    (tmp_path / "a").mkdir()
    r = cli("-C", str(tmp_path / "a"), "status", cwd="/")
    assert r.returncode == 0 and r.stderr == "(using AssetFile in ..)\n"


def test_file_arguments_stay_relative_to_where_the_command_started(tmp_path):
    project(tmp_path)
    here = tmp_path / "notes"
    here.mkdir()
    assert cli(cwd=here).returncode == 0
    r = cli("graph", "-o", "g.dot", cwd=here)
    assert r.returncode == 0, r.stderr
    assert "four" in (here / "g.dot").read_text() and not (tmp_path / "g.dot").exists()
    r = cli("cache", "export", "c.tar", cwd=here)
    assert r.returncode == 0, r.stderr
    assert (here / "c.tar").is_file() and not (tmp_path / "c.tar").exists()


@pytest.mark.parametrize("marker", [".git", ".hg"])
def test_search_stops_at_a_repository_root(tmp_path, marker):
    project(tmp_path)  # an AssetFile above the repository: another project's
    repo = tmp_path / "repo"
    (repo / marker).mkdir(parents=True)
    (repo / "sub").mkdir()
    r = cli("status", cwd=repo / "sub")
    assert r.returncode == 2
    assert r.stderr == (f"assetbuild: error: no AssetFile in {repo / 'sub'} (use -C DIR to run in another "
                        "directory, or -f FILE to name the file)\n")
    project(repo)  # the repository's own AssetFile, at its root: found
    r = cli("status", cwd=repo / "sub")
    assert r.returncode == 0 and r.stderr == "(using AssetFile in ..)\n"


def test_a_git_file_is_a_repository_root_too(tmp_path):
    """A worktree or a submodule has a .git file, not a directory."""
    project(tmp_path)
    (tmp_path / "wt" / "sub").mkdir(parents=True)
    assert cli("status", cwd=tmp_path / "wt" / "sub").stderr == "(using AssetFile in ../..)\n"
    (tmp_path / "wt" / ".git").write_text("gitdir: ../.git/worktrees/wt\n")
    assert cli("status", cwd=tmp_path / "wt" / "sub").returncode == 2


def test_search_stops_at_a_file_system_boundary(tmp_path):
    """A mount point is a boundary: from a file system mounted inside the project, the
    AssetFile above is not used (a mount namespace of its own, with a tmpfs)."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    project(tmp_path)
    mnt = tmp_path / "mnt"
    (mnt / "sub").mkdir(parents=True)
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs none {mnt}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount in a namespace: {probe.stderr!r}")
    cmd = " ".join(cli_cmd("status"))
    r = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs none {mnt} && mkdir {mnt}/sub && "
                        f"cd {mnt}/sub && {cmd}"], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert r.returncode == 2 and f"no AssetFile in {mnt / 'sub'}" in r.stderr, r.stderr
    r = cli("status", cwd=mnt / "sub")  # the same directory, not mounted: found
    assert r.returncode == 0 and r.stderr == "(using AssetFile in ../..)\n"


# --- help, and a mistyped command --------------------------------------------------------------

@pytest.mark.parametrize("words", [(), ("status",), ("cache", "gc"), ("watch",)])
def test_help_is_a_command(tmp_path, words):
    r = cli("help", *words, cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == cli(*words, "--help", cwd=tmp_path).stdout
    assert r.stdout.startswith("Usage: " + " ".join(["assetbuild", *words]))


def test_help_of_no_command(tmp_path):
    r = cli("help", "stauts", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "assetbuild: error: no command 'stauts' in assetbuild; did you mean 'status'?\n"
    r = cli("help", "cache", "nothing", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == ("assetbuild: error: no command 'nothing' in assetbuild cache "
                        "(`assetbuild cache --help` lists them)\n")
    r = cli("help", "cache", "gc", "extra", cwd=tmp_path)  # (it said `cache gc --help` lists them)
    assert (r.returncode, r.stderr) == (2, "assetbuild: error: no command 'extra' in assetbuild cache gc, "
                                           "which has no commands\n")


def test_help_is_listed(tmp_path):
    assert "  help " in cli("--help", cwd=tmp_path).stdout


def test_a_word_close_to_a_command_that_is_no_asset(tmp_path):
    write(tmp_path, {"AssetFile": "from assetbuild import asset\n\n@asset\ndef stats():\n    return 1\n"})
    r = cli("stauts", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "assetbuild: error: no asset or command 'stauts'; did you mean 'status'?\n"
    r = cli("stats", cwd=tmp_path)  # as close to 'status', but an asset: built
    assert r.returncode == 0 and "built     stats" in r.stdout, r.stderr
    r = cli("zebra", cwd=tmp_path)  # close to nothing: the selection's own message
    assert r.returncode == 2 and r.stderr.startswith("assetbuild: error: no asset named 'zebra'")
    r = cli("stauts", "--json", cwd=tmp_path)
    assert r.returncode == 2 and json.loads(r.stdout)["error"] == "no asset or command 'stauts'; did you mean 'status'?"


# --- one error style ---------------------------------------------------------------------------

def test_c_to_a_missing_directory(tmp_path):
    r = cli("-C", "/nonexistent", "status", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "assetbuild: error: -C /nonexistent: No such file or directory\n"
    r = cli("status", "-C", "/nonexistent", "--json", cwd=tmp_path)  # --json: still one document
    assert r.returncode == 2 and json.loads(r.stdout) == {
        "ok": False, "error": "-C /nonexistent: No such file or directory"}


def test_clean_without_a_terminal(tmp_path):
    project(tmp_path)
    assert cli(cwd=tmp_path).returncode == 0
    r = subprocess.run(cli_cmd("clean"), cwd=tmp_path, capture_output=True, text=True, env=clean_env(),
                       stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 2
    assert r.stderr == (f"assetbuild: error: refusing to delete {tmp_path / '.assetbuild'} without --yes "
                        "(no terminal to ask)\n")


@pytest.mark.parametrize("args", [("status", "--bogus"), ("--jobs",), ("cache", "nothing"),
                                  ("show",), ("status", "--check", "extra", "--bogus")])
def test_click_usage_errors_are_one_line(tmp_path, args):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("assetbuild: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Usage:" not in r.stderr and "Error:" not in r.stderr


@pytest.mark.parametrize(("group", "commands"), [("cache", "export, gc, import, keygen, stats or verify"),
                                                 ("partitions", "add, list or remove")])
def test_a_group_without_its_command_names_them_in_one_line(tmp_path, group, commands):
    r = cli(group, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"assetbuild: error: assetbuild {group} needs a command: {commands} "
                        f"(`assetbuild {group} --help` says what each does)\n")


@pytest.mark.parametrize("args", [("--json", "--timeout", "0"), ("build", "--json", "--timeout", "abc"),
                                  ("--json", "--frobnicate"), ("status", "--json", "--frob"),
                                  ("--json", "status", "--frob"), ("cache", "stats", "--json", "--frob"),
                                  ("show", "--json"),
                                  # an option missing its value (click's parser gives the error no context)
                                  ("--json", "-j"), ("--json", "--exclude"), ("status", "--json", "--exclude"),
                                  ("build", "--json", "--timeout"), ("runs", "--json", "-n"),
                                  ("cache", "gc", "--json", "--max-size"), ("runs", "show", "1", "--json", "-C")])
def test_click_usage_errors_with_json_print_the_document_too(tmp_path, args):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == cli(*(a for a in args if a != "--json"), cwd=tmp_path).stderr  # the same line
    message = r.stderr[len("assetbuild: error: "):r.stderr.rindex(" (see ")]
    build = args[0] in ("--json", "build") and "status" not in args
    assert json.loads(r.stdout) == {"ok": False, "error": message, **({"results": []} if build else {})}


@pytest.mark.parametrize("args", [("--json", "init", "--frob"), ("build", "--", "--json")])
def test_no_document_for_a_command_without_json(tmp_path, args):
    r = cli(*args, cwd=tmp_path)  # init has no --json; after --, --json is an asset's name
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1


def test_unknown_option_names_the_help_to_read(tmp_path):
    r = cli("status", "--bogus", cwd=tmp_path)
    assert r.stderr.rstrip("\n").endswith("(see assetbuild status --help)")
    r = cli("status", "--help", cwd=tmp_path)  # --help keeps its Usage text
    assert r.returncode == 0 and r.stdout.startswith("Usage: assetbuild status [OPTIONS] [ASSETS]...")


# --- each command's --json help ----------------------------------------------------------------

def _commands(group, path=("assetbuild",)):
    import click

    for name, cmd in sorted(group.commands.items()):
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))


def test_every_json_help_describes_its_command():
    from assetbuild.cli import cli as root

    helps = {}
    for path, cmd in _commands(root):
        for p in cmd.params:
            if p.name == "as_json":
                helps[" ".join(path)] = p.help
    assert len(helps) >= 20
    generic = {path for path, text in helps.items() if text == "Print one JSON document."}
    assert not generic, f"--json help says nothing of what these print: {sorted(generic)}"
    assert "one JSON line for the first build and each later one" in helps["assetbuild watch"]
    assert "one JSON line per tick" in helps["assetbuild run"]
    assert "one JSON document" in helps["assetbuild build"]
    assert helps["assetbuild watch"] != helps["assetbuild build"]


def test_watch_help_in_the_terminal(tmp_path):
    text = " ".join(cli("watch", "--help", cwd=tmp_path).stdout.split())
    assert "--json Print one JSON line for the first build and each later one that ran something" in text
    assert "Print one JSON document: ok, and a result per asset" not in text


# --- dir(assetbuild) ---------------------------------------------------------------------------

def test_dir_lists_the_lazy_names():
    code = ("import sys, assetbuild; d = dir(assetbuild); "
            "print(all(n in d for n in ('build', 'status', 'why', 'load_value', 'DefinitionError', 'asset'))"
            ", 'assetbuild.session' in sys.modules, d == sorted(d))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=60)
    assert r.stdout.split() == ["True", "False", "True"], r.stderr
    assert set(assetbuild.__all__) <= set(dir(assetbuild))


# --- a syntax error: its source line and caret -------------------------------------------------

BROKEN = "from assetbuild import asset\n\n@asset\ndef a(:\n    return 1\n"


def test_syntax_error_shows_source_line_and_caret(tmp_path):
    write(tmp_path, {"AssetFile": BROKEN})
    r = cli(cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("assetbuild: error: AssetFile:4: syntax error: invalid syntax\n"
                        "    def a(:\n"
                        "          ^\n")


def test_syntax_error_with_v(tmp_path):
    write(tmp_path, {"AssetFile": BROKEN})
    r = cli("-v", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == (f'  File "{tmp_path / "AssetFile"}", line 4\n'
                        "    def a(:\n"
                        "          ^\n"
                        "SyntaxError: invalid syntax\n"
                        "assetbuild: error: AssetFile:4: syntax error: invalid syntax\n")


def test_syntax_error_in_an_imported_module(tmp_path):
    write(tmp_path, {"AssetFile": "import helpers\n", "helpers.py": "x = (1,\n"})
    r = cli("status", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == ("assetbuild: error: helpers.py:1: syntax error: '(' was never closed\n"
                        "    x = (1,\n"
                        "        ^\n")
    r = cli("status", "-v", cwd=tmp_path)  # the traceback shows them
    lines = r.stderr.splitlines()
    assert lines[-4:] == ["    x = (1,", "        ^", "SyntaxError: '(' was never closed",
                          "assetbuild: error: helpers.py:1: syntax error: '(' was never closed"]


# --- the Python API speaks its own words -------------------------------------------------------

def test_api_error_names_the_keyword_arguments(tmp_path):
    with pytest.raises(assetbuild.DefinitionError) as ei:
        assetbuild.status(project_dir=tmp_path)
    text = str(ei.value)
    assert text == (f"no AssetFile in {tmp_path} (pass project_dir= to load another directory, "
                    "or assetfile= to name the file)")
    assert "-C" not in text and "-f FILE" not in text
    assert isinstance(ei.value, assetbuild.ProjectNotFound)
    r = cli("status", cwd=tmp_path)  # the command line: its options
    assert "(use -C DIR to run in another directory, or -f FILE to name the file)" in r.stderr


# --- pyproject.toml [tool.assetbuild]: a typo is said, an executor's error names the file -------

def test_an_unknown_setting_is_named_with_the_nearest_known_one(tmp_path):
    """`jobz = 2` used to change nothing, silently; a table is a plugin's ([tool.assetbuild.duckdb])."""
    project(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.assetbuild]\njobz = 2\nretry-backoff = "1m"\n\n'
                                             '[tool.assetbuild.duckdb]\npath = "x.duckdb"\n')
    r = cli("-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == (f"warning: {tmp_path / 'pyproject.toml'} [tool.assetbuild]: unknown settings 'jobz' "
                        "(did you mean 'jobs'?), 'retry-backoff' (did you mean 'retry_backoff'?), ignored; "
                        "assetbuild reads executor, executor-options, history, jobs, params, retry_backoff, "
                        "timeout\n")


def test_executor_options_in_pyproject_that_no_executor_takes_are_said(tmp_path):
    """They were dropped silently without `executor`, and named no file when that executor
    does not take them (as if given with --executor-option)."""
    project(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.assetbuild]\nexecutor-options = { workers = 2 }\n')
    r = cli("-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == (f"warning: {tmp_path / 'pyproject.toml'} [tool.assetbuild]: executor-options without "
                        "executor, ignored (they are the options of the executor that executor names)\n")
    (tmp_path / "pyproject.toml").write_text('[tool.assetbuild]\nexecutor = "processes"\n'
                                             'executor-options = { workers = 2 }\n')
    r = cli("-q", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"assetbuild: error: {tmp_path / 'pyproject.toml'} [tool.assetbuild]: executor-options: "
                        "executor 'processes' has no option 'workers' (its options: none)\n")
    r = cli("-q", "--executor", "serial", cwd=tmp_path)  # another executor: not its options
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_an_unknown_executor_in_pyproject_names_the_file(tmp_path):
    project(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.assetbuild]\nexecutor = "procesess"\n')
    r = cli(cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"assetbuild: error: {tmp_path / 'pyproject.toml'} [tool.assetbuild]: unknown executor "
                        "'procesess' (known: processes, serial, threads; more come from plugins); "
                        "ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD is set, so no installed plugin is loaded\n")


# --- an IO manager or executor of a plugin that is not there: which plugin, or why not loaded --

def test_an_unknown_io_manager_names_the_plugin_that_has_it(tmp_path):
    import importlib.util

    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='parquet')\ndef t():\n"
                                        "    return 1\n")
    r = cli(cwd=tmp_path)  # clean_env: ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD=1
    assert r.returncode == 2 and r.stderr.endswith(
        "; ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD is set, so no installed plugin is loaded\n"), r.stderr
    if importlib.util.find_spec("assetbuild_pandas") is not None:
        pytest.skip("assetbuild-pandas is installed here: parquet is known")
    r = cli(cwd=tmp_path, env=clean_env(ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD=""))
    assert r.returncode == 2 and r.stderr == (
        "assetbuild: error: AssetFile:3: asset 't': unknown IO manager 'parquet' (known: bytes, files, json, pickle, "
        "text; more come from plugins); 'parquet' comes with the plugin assetbuild-pandas: "
        "pip install -e plugins/assetbuild-pandas\n"), r.stderr
