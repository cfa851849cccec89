"""``assetbuild init [DIR]``: a starter project to edit rather than a blank page: an AssetFile
with a source, two assets and a path output, a data file, a .gitignore and a first test that
calls an asset as a plain function. It writes new files only: every path it would write is
checked first, and a name already there (or a file where it needs a directory) is an error
(exit 2) with nothing written; an error while writing removes what it wrote."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from .options import _handle_errors, _options, _setup, directory_option

if TYPE_CHECKING:  # pathlib is imported where used: `assetbuild --help` loads this module
    from pathlib import Path

ASSETFILE = '''\
"""A starter project: data/words.txt -> counts -> top, also written to build/top.json.

Run `{run}` here; run it again and nothing runs. Edit data/words.txt or a function below
and only what depends on the change runs. `{run} status` says what is stale and why.
"""

from assetbuild import asset, source

words_txt = source("words_txt", "data/words.txt", description="the text whose words are counted")


@asset(io="json")
def counts(words_txt):
    """How often each word occurs, lower-cased. A source arrives as the path of its file."""
    out = {}
    for word in words_txt.read_text().lower().split():
        out[word] = out.get(word, 0) + 1
    return out


@asset(io="json", path="build/top.json")
def top(counts):
    """The three most frequent words with their counts; also written to build/top.json."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
'''

WORDS = "the quick brown fox jumps over the lazy dog\nthe dog sleeps and the fox runs\n"

GITIGNORE = """\
# assetbuild's cache directory, and the files the assets write (path= outputs)
.assetbuild/
build/
# compiled Python, and the compiled AssetFile assetbuild keeps beside it
__pycache__/
"""

TEST = '''\
"""An asset is a plain function: a unit test calls it with plain values, without a build."""

from pathlib import Path

import assetbuild

PROJECT = Path(__file__).resolve().parent.parent


def test_counts_counts_lower_cased_words(tmp_path):
    counts = assetbuild.functions({where})["counts"]
    text = tmp_path / "words.txt"
    text.write_text("A b a\\n")
    assert counts(text) == {"a": 2, "b": 1}


def test_top_keeps_the_three_most_frequent_words():
    top = assetbuild.functions({where})["top"]
    assert top({"a": 1, "b": 3, "c": 2, "d": 1}) == [("b", 3), ("c", 2), ("a", 1)]
'''


def starter_files(assetfile: str = "AssetFile") -> dict[str, str]:
    """The files init writes, by path; ``assetfile``: the AssetFile's name (-f), which its
    docstring and the test give too."""
    import shlex

    plain = assetfile == "AssetFile"
    run = "assetbuild" if plain else f"assetbuild -f {shlex.quote(assetfile)}"
    where = "project_dir=PROJECT" if plain else f"project_dir=PROJECT, assetfile={assetfile!r}"
    return {assetfile: ASSETFILE.replace("{run}", run), "data/words.txt": WORDS, ".gitignore": GITIGNORE,
            "tests/test_assets.py": TEST.replace("{where}", where)}


@click.command(epilog="""\b
Examples:
  assetbuild init myproject && cd myproject && assetbuild && python -m pytest tests
  assetbuild init -f Pipeline myproject && assetbuild -C myproject -f Pipeline
""")
@click.argument("target", metavar="[DIR]", default=".", type=click.Path(file_okay=False))
@_options(
    directory_option,
    click.option("-f", "--file", "assetfile", metavar="NAME",
                 help="Name the AssetFile NAME (then give -f NAME to every command) [default: AssetFile]."),
    click.option("-v", "--verbose", count=True, help="Show the full traceback of an error."),
    click.option("-q", "--quiet", is_flag=True, default=None, help="Print only errors."),
)
@click.pass_context
@_handle_errors
def init(ctx: click.Context, target: str, **local: Any) -> None:
    """Write a starter project in DIR (default: here; created if missing): an AssetFile
    with a source, two assets and a path output, data/words.txt, a .gitignore for the cache
    directory and the outputs, and tests/test_assets.py calling an asset as a plain function.
    It makes no cache directory: the first build does.

    Nothing is overwritten: if any of those files exists, or a file is where a directory is
    needed, exit 2 and nothing is written.
    """
    import shlex
    from pathlib import Path  # here: `assetbuild --help` loads this module, and needs no pathlib

    try:
        started = os.getcwd()
    except OSError:  # (deleted: _setup says so, unless -C leaves it)
        started = None
    opts, _reporter = _setup(ctx, local)
    name = opts.get("assetfile") or "AssetFile"
    if name in (".", "..") or os.path.dirname(name) or "/" in name:
        raise click.UsageError(f"-f {name}: init writes the AssetFile in DIR, so -f takes a file name, "
                               "not a path (init -f NAME DIR)")
    files = starter_files(name)
    if len(files) < len(starter_files()) or any(rel.startswith(name + "/") for rel in files):
        raise click.UsageError(f"-f {name}: init writes {name} itself (the starter files are "
                               + ", ".join(starter_files()) + ")")
    root = Path(target)
    write_project(root, files, _directories_to_make(root, files))
    if opts.get("quiet"):
        return
    shown = _as_given(target, opts.get("directory"))
    where = "" if started is not None and root.resolve() == Path(started).resolve() else f"cd {shlex.quote(shown)} && "
    file = "" if name == "AssetFile" else f" -f {shlex.quote(name)}"
    click.echo(f"wrote a starter project in {shown}: " + ", ".join(files)
               + f"\nnext: {where}assetbuild{file} && {_pytest_step()}")


def _pytest_step() -> str:
    """How to run the starter test: with pytest, which assetbuild does not install (its test
    extra does): installed first when this interpreter has none."""
    from importlib.util import find_spec

    try:
        found = find_spec("pytest") is not None
    except ImportError:  # (an import hook that refuses it)
        found = False
    return ("" if found else "pip install pytest && ") + "python -m pytest tests"


def _as_given(target: str, directory: str | None) -> str:
    """DIR as the user can reach it from where the command started: under -C's directory (DIR
    is written there: `-C work init myproj` wrote work/myproj, and said `cd myproj`)."""
    if not directory or os.path.isabs(target):
        return target
    return directory if target in (".", "") else os.path.join(directory, target)


def _directories_to_make(root: Path, files: dict[str, str]) -> list[Path]:
    """The directories init must create, outermost first, once every path it will write is
    checked: a ConfigError names the first in the way (one of its files there already, or
    something that is not a directory where it needs one), before anything is written."""
    from ..errors import ConfigError

    make: list[Path] = []
    for rel in files:
        path = root / rel
        for d in reversed(path.parents):
            if d in make or os.path.isdir(d):
                continue
            if os.path.lexists(d):
                raise ConfigError(f"{d} exists and is not a directory, so {path} cannot be written: "
                                  "assetbuild init writes a new project and overwrites nothing")
            make.append(d)
        if os.path.lexists(path):
            raise ConfigError(f"{path} exists: assetbuild init writes a new project and overwrites nothing")
    return make


def write_project(root: Path, files: dict[str, str], directories: list[Path]) -> None:
    """Create ``directories`` and write ``files`` under ``root``; on any error remove what was made
    (a CannotWrite naming the path for an OSError), so a failed init leaves nothing behind."""
    from ..errors import CannotWrite

    made: list[Path] = []
    path = root
    try:
        for path in directories:
            os.mkdir(path)
            made.append(path)
        for rel, text in files.items():
            path = root / rel
            with open(path, "x", encoding="utf-8") as f:  # "x": a file that appeared meanwhile stays
                made.append(path)
                f.write(text)
    except BaseException as e:
        for p in reversed(made):
            try:
                if p in directories:
                    p.rmdir()
                else:
                    p.unlink()
            except OSError:
                pass  # (what cannot be removed stays: the error below names what failed first)
        if isinstance(e, OSError):
            raise CannotWrite(path, e) from e
        raise
