"""Writes ``assetbuild/kept_help.py``: every command's help as click renders it, which
``assetbuild.helptext`` prints without importing click. Run ``python -m assetbuild.cli.keep_help``
after changing a command, an option or a help text (tests/test_helptext.py says when)."""

from __future__ import annotations

import os
import sys

import click

from ..helptext import WIDTHS, dist_version


def command_paths() -> list[str]:
    """Every command's path ("" for ``assetbuild`` itself, "cache gc" for a subcommand)."""
    from . import cli

    out: list[str] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        out.append(" ".join(path))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(cli, [])
    return out


def render_all() -> dict[int, dict[str, str]]:
    """Every command's help at every kept width, as click prints it for ``assetbuild PATH --help``
    with no plugin loaded: rendered by a fresh interpreter, whose commands no plugin's options
    were ever added to."""
    import json
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this assetbuild first
    proc = subprocess.run([sys.executable, "-c", "from assetbuild.cli.keep_help import _render_here; _render_here()"],
                          env=env, cwd=here, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"rendering the help failed:\n{proc.stderr}")
    return {int(w): texts for w, texts in json.loads(proc.stdout).items()}


def _render_here() -> None:
    import contextlib
    import io
    import json

    import click.formatting

    from . import cli

    texts: dict[int, dict[str, str]] = {}
    for width in WIDTHS:
        click.formatting.FORCED_WIDTH = width  # what the terminal's columns give the formatter
        for path in command_paths():
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                cli.main([*path.split(), "--help"], prog_name="assetbuild", standalone_mode=False)
            texts.setdefault(width, {})[path] = buf.getvalue()
    sys.stdout.write(json.dumps(texts))


def write(target: str | None = None) -> str:
    """Render every command's help at every kept width with the installed click and write
    ``kept_help.py`` (or ``target``); returns its path."""
    version = dist_version("click")
    texts = render_all()
    lines = ['"""Each command\'s help as click renders it: written by ``python -m assetbuild.cli.keep_help``,',
             'read by ``assetbuild.helptext`` (a data file: edit the commands, then run that)."""', "",
             f"CLICK = {version!r}", "TEXTS: dict[int, dict[str, str]] = {"]
    for w, by_path in texts.items():
        lines.append(f"    {w}: {{")
        lines += [f"        {p!r}: {t!r}," for p, t in by_path.items()]
        lines.append("    },")
    lines.append("}")
    path = target or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kept_help.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write()}")
