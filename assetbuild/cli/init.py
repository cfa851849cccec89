"""``assetbuild init [DIR]``: a starter project to edit rather than a blank page: an AssetFile
with a source, two assets and a path output, a data file, a .gitignore and a first test that
calls an asset as a plain function. It writes new files only: a name already there is an error
(exit 2) and nothing is written."""

from __future__ import annotations

from typing import Any

import click

from .options import _common, _handle_errors, _setup

ASSETFILE = '''\
"""A starter project: data/words.txt -> counts -> top, also written to build/top.json.

Run `assetbuild` here; run it again and nothing runs. Edit data/words.txt or a function below
and only what depends on the change runs. `assetbuild status` says what is stale and why.
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
"""

TEST = '''\
"""An asset is a plain function: a unit test calls it with plain values, without a build."""

from pathlib import Path

import assetbuild

PROJECT = Path(__file__).resolve().parent.parent


def test_counts_counts_lower_cased_words(tmp_path):
    counts = assetbuild.functions(project_dir=PROJECT)["counts"]
    text = tmp_path / "words.txt"
    text.write_text("A b a\\n")
    assert counts(text) == {"a": 2, "b": 1}


def test_top_keeps_the_three_most_frequent_words():
    top = assetbuild.functions(project_dir=PROJECT)["top"]
    assert top({"a": 1, "b": 3, "c": 2, "d": 1}) == [("b", 3), ("c", 2), ("a", 1)]
'''

FILES = {"AssetFile": ASSETFILE, "data/words.txt": WORDS, ".gitignore": GITIGNORE, "tests/test_assets.py": TEST}


@click.command(epilog="""\b
Examples:
  assetbuild init myproject && cd myproject && assetbuild && python -m pytest tests
""")
@click.argument("target", metavar="[DIR]", default=".", type=click.Path(file_okay=False))
@_common
@click.pass_context
@_handle_errors
def init(ctx: click.Context, target: str, **local: Any) -> None:
    """Write a starter project in DIR (default: here; created if missing): an AssetFile
    with a source, two assets and a path output, data/words.txt, a .gitignore for the cache
    directory and the outputs, and tests/test_assets.py calling an asset as a plain function.

    Nothing is overwritten: if any of those files exists, exit 2 and nothing is written.
    """
    from pathlib import Path  # here: `assetbuild --help` loads this module, and needs no pathlib

    from ..errors import ConfigError

    _setup(ctx, local)
    root = Path(target)
    for rel in FILES:
        if (root / rel).exists() or (root / rel).is_symlink():
            raise ConfigError(f"{root / rel} exists: assetbuild init writes a new project and overwrites nothing")
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:  # "x": a file that appeared meanwhile stays
            f.write(text)
    where = "" if root.resolve() == Path.cwd().resolve() else f"cd {target} && "
    click.echo(f"wrote a starter project in {root}: " + ", ".join(FILES)
               + f"\nnext: {where}assetbuild && python -m pytest tests")
