"""The search for the project directory (``projectdir.search_project``), on real folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assetbuild.projectdir import search_project

BROKEN = {
    "loop": lambda p: p.symlink_to(p.name),
    "dangling": lambda p: p.symlink_to("/nonexistent/AssetFile"),
    "directory": lambda p: p.mkdir(),
}


def test_the_nearest_assetfile_above_is_found(tmp_path: Path) -> None:
    (tmp_path / "AssetFile").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert search_project(str(deep)) == str(tmp_path)
    assert search_project(str(tmp_path)) == str(tmp_path)
    (tmp_path / "a" / ".git").mkdir()  # a repository's root ends the search
    assert search_project(str(deep)) is None


@pytest.mark.parametrize("kind", list(BROKEN))
def test_an_assetfile_that_is_no_file_ends_the_search(tmp_path: Path, kind: str) -> None:
    """It was skipped: the project above was used instead, without a word about the one meant."""
    (tmp_path / "AssetFile").write_text("")
    child = tmp_path / "child"
    (child / "deep").mkdir(parents=True)
    BROKEN[kind](child / "AssetFile")
    assert os.path.lexists(child / "AssetFile")
    assert search_project(str(child / "deep")) == str(child)  # found: loading it says what is wrong
    assert search_project(str(child)) is None  # where the command already is: it stays, and says it
