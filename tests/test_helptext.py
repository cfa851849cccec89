"""The kept help (assetbuild.helptext): what click renders, printed without importing click."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from projects import clean_env

from assetbuild import helptext, kept_help
from assetbuild.cli import cli, keep_help

SERVED = helptext.dist_version("click") == kept_help.CLICK  # else click renders every help


def test_the_kept_help_is_what_click_renders_for_every_command_and_width():
    rendered = keep_help.render_all()
    assert set(rendered) == set(kept_help.TEXTS) == set(helptext.WIDTHS)
    assert set(rendered[78]) == set(kept_help.TEXTS[78]) == set(kept_help.TEXTS[98]) == set(keep_help.command_paths()), \
        "a command was added or removed: run `python -m assetbuild.cli.keep_help`"
    assert cli.context_settings["max_content_width"] == helptext.MAX_CONTENT_WIDTH
    for width, texts in rendered.items():
        for path, text in texts.items():
            kept = kept_help.TEXTS[width][path]
            if SERVED:  # rendered by this click: the same bytes
                assert kept == text, f"`assetbuild {path} --help` changed: run `python -m assetbuild.cli.keep_help`"
            else:  # another click lays it out its way, and renders it itself: the words still agree
                assert kept.split() == text.split(), f"`assetbuild {path} --help` changed: run `python -m assetbuild.cli.keep_help`"


HELP = ("import atexit, sys\n"
        "sys.argv = ['assetbuild'] + sys.argv[1:]\n"
        "atexit.register(lambda: sys.stderr.write('click imported: %s' % ('click' in sys.modules)))\n"
        "from assetbuild.{module} import main\n"
        "main()\n")


def _help(module: str, args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HELP.format(module=module), *args], cwd=tmp_path,
                          env=clean_env(**env), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args,columns,kept", [
    (["--help"], None, True),  # a pipe: 80 columns
    (["-h"], "120", True),
    (["cache", "gc", "--help"], "100", True),
    (["build", "--help"], "90", False),  # a width not kept
    (["no-such-command", "--help"], None, False),  # an asset's name: the build's help, by click
    (["-C", ".", "--help"], None, False),
])
def test_the_command_prints_what_click_prints(tmp_path, args, columns, kept):
    env = {"COLUMNS": columns} if columns else {}
    fast = _help("entry", args, tmp_path, **env)
    slow = _help("cli", args, tmp_path, **env)
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    assert fast.stdout == slow.stdout and fast.stdout.startswith("Usage: assetbuild")
    assert fast.stderr.endswith(f"click imported: {not (kept and SERVED)}"), fast.stderr


def test_the_version_is_the_installed_distribution_s_as_click_says_it(tmp_path):
    fast = _help("entry", ["--version"], tmp_path)
    slow = _help("cli", ["--version"], tmp_path)
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    assert fast.stdout == slow.stdout and fast.stdout.startswith("assetbuild, version ")
    assert fast.stderr.endswith("click imported: False"), fast.stderr


def test_without_an_installed_distribution_the_version_is_click_s_to_say(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert helptext.dist_version("assetbuild") is None and helptext.kept(["--version"]) is None
    (tmp_path / "assetbuild-9.1.dist-info").mkdir()
    assert helptext.kept(["--version"]) == "assetbuild, version 9.1\n"


def test_a_closed_pipe_ends_quietly_with_status_1(tmp_path):
    """As click does: `assetbuild --help | head -1`."""
    code = HELP.format(module="entry")
    p = subprocess.Popen([sys.executable, "-c", code, "--help"], cwd=tmp_path, env=clean_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the first write
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 1 and "Traceback" not in err, err


def test_only_a_kept_command_line_and_width_are_answered(monkeypatch):
    monkeypatch.setenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("COLUMNS", "80")
    if SERVED:
        assert helptext.kept(["--help"]) == kept_help.TEXTS[78][""]
        assert helptext.kept(["partitions", "add", "-h"]) == kept_help.TEXTS[78]["partitions add"]
    for argv in ([], ["--json"], ["build"], ["build", "--help", "-v"], ["report", "--help"], ["--help", "build"]):
        assert helptext.kept(argv) is None, argv
    monkeypatch.setenv("COLUMNS", "60")  # the formatter gets 58
    assert helptext.formatter_width() == 58 and helptext.kept(["--help"]) is None
    monkeypatch.setenv("COLUMNS", "400")
    assert helptext.formatter_width() == 98
    monkeypatch.setenv("COLUMNS", "10")
    assert helptext.formatter_width() == 50


def test_a_distribution_version_is_read_from_the_first_dist_info_on_the_path(tmp_path, monkeypatch):
    from assetbuild.plugins import distribution_name

    assert [distribution_name(n) for n in ("A-b", "a__B", "a.-_b", "x", "PyYAML")] == ["a_b", "a_b", "a_b", "x", "pyyaml"]
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "Foo_Bar-2.1.0.dist-info").mkdir(parents=True)
    (second / "foo_bar-3.0.dist-info").mkdir(parents=True)
    (second / "foo_bar_baz-9.dist-info").mkdir()
    (first / "eggy.egg-info").mkdir()
    (second / "eggy-1.0.dist-info").mkdir()
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(first), str(second)])
    assert helptext.dist_version("foo-bar") == "2.1.0"
    assert helptext.dist_version("foo.bar.baz") == "9" == helptext.dist_version("Foo-_Bar..baz")
    assert helptext.dist_version("foo") is None
    assert helptext.dist_version("eggy") is None  # the first is an egg: importlib.metadata would read it


def test_the_kept_help_is_a_data_file():
    """It is read by the entry point before anything else: literals only, nothing to import."""
    import ast

    tree = ast.parse(Path(kept_help.__file__).read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom, ast.Call))]
