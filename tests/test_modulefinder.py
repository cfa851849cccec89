"""The project's modules as an import by a computed name could find them
(``ProjectModuleFinder.project_modules``): every folder of any depth listed once, in work that
grows with the number of folders, not with their depth squared."""

from __future__ import annotations

import sys
from pathlib import Path

from projects import DEEP, folder_chain

from assetbuild.dirtree import remove_tree
from assetbuild.modulefinder import ProjectModuleFinder


def _project(root: Path, depth: int) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "x.py").write_text("def f():\n    return 1\n")
    (root / "lib" / "up").symlink_to(root, target_is_directory=True)  # a loop: listed once
    folder_chain(root / "data", depth, bottom="m.py")
    return root


def _calls(fn) -> int:
    """How many Python and built-in functions ``fn()`` calls (os.lstat, os.scandir...)."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def test_folders_of_any_depth_are_listed_once(tmp_path):
    root = _project(tmp_path / "p", DEEP)
    try:
        finder = ProjectModuleFinder(root, root / ".assetbuild")
        names = finder.project_modules()
        assert "lib.x" in names and "data" + ".d" * DEEP + ".m" in names
        assert not any(n.startswith("lib.up") for n in names)
        assert len(finder.listed) == 3 + DEEP  # the project, lib, data and each folder below it
    finally:
        remove_tree(str(root / "data"))


def test_the_work_grows_with_the_folders_not_their_depth_squared(tmp_path):
    """One stat per folder: a realpath of each (a stat per level above it) made a folder chain
    900 deep take seconds, for every build that fingerprinted such an asset."""
    work = []
    for depth in (100, 400):
        root = _project(tmp_path / str(depth), depth)
        try:
            work.append(_calls(ProjectModuleFinder(root, root / ".assetbuild").project_modules))
        finally:
            remove_tree(str(root / "data"))
    assert work[1] < 6 * work[0], work
