"""``assetbuild [COMMAND...] --help`` and ``--version`` without importing click.

click and the command line's modules take 40-60 ms to import, three times the interpreter's
start, for a page of text that changes only with assetbuild's source. ``kept_help.py`` holds
each command's help as click renders it (``python -m assetbuild.cli.keep_help`` writes it
again; tests/test_helptext.py fails when it is stale). The entry point prints it only when
click would print the same: the click it was rendered with is the one installed, the terminal
gives a width it was rendered at, and no plugin is installed (plugins add options). Otherwise
click renders it. ``--version`` is read from the installed distribution's metadata, as click
reads it.
"""

from __future__ import annotations

import os
import sys

HELP_FLAGS = ("--help", "-h")
WIDTHS = (78, 98)  # what click's formatter gets from 80 columns (a pipe) and from 100 or more
MAX_CONTENT_WIDTH = 100  # the command line's context_settings (assetbuild.cli; a test holds them equal)


def kept(argv: list[str]) -> str | None:
    """What ``assetbuild`` would print for ``argv`` (``[COMMAND...] --help``, or ``--version``)
    as click would, or None when only click can say (another command line, width, click or a
    plugin; no installed distribution's version)."""
    if argv == ["--version"]:  # click's version_option, from the distribution's metadata
        version = dist_version("assetbuild")
        return None if version is None else f"assetbuild, version {version}\n"
    if not argv or argv[-1] not in HELP_FLAGS:
        return None
    from . import kept_help

    texts = kept_help.TEXTS.get(formatter_width())
    text = texts.get(" ".join(argv[:-1])) if texts is not None else None
    if text is None or dist_version("click") != kept_help.CLICK:
        return None
    from .plugins import installed_plugins

    return None if installed_plugins() else text


def formatter_width() -> int:
    """The width click's help formatter takes: the terminal's columns as
    ``shutil.get_terminal_size`` gives them (COLUMNS, else standard output's terminal, else 80),
    at most the command line's max_content_width, less 2, at least 50."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return max(min(columns, MAX_CONTENT_WIDTH) - 2, 50)


def dist_version(name: str) -> str | None:
    """The version of the first distribution ``name`` on ``sys.path`` (as ``importlib.metadata``
    finds it), from its ``.dist-info`` directory's name; None if there is none, or the first
    is an ``.egg-info`` (``plugins.distributions``)."""
    from .plugins import distribution_name, distributions

    wanted = distribution_name(name)
    return next((version for dist, version, _ in distributions() if dist == wanted), None)
