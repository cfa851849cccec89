"""session.project's path checks: the cache directory inside a declared source is refused,
whatever symlinks the source's path goes through (each source's directory is resolved once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assetbuild.errors import StoreError
from assetbuild.session.project import _check_cache_outside_sources, _realpath


def test_realpath_with_shared_parents_is_os_realpath(tmp_path: Path) -> None:
    d = str(tmp_path)
    os.makedirs(f"{d}/real/sub")
    Path(f"{d}/real/f.txt").write_text("x")
    os.symlink(f"{d}/real", f"{d}/link")
    os.symlink(f"{d}/real/f.txt", f"{d}/real/lf")
    os.symlink("sub", f"{d}/real/ls")
    os.symlink(f"{d}/loop", f"{d}/loop")
    parents: dict[str, str] = {}
    for p in (f"{d}/real/f.txt", f"{d}/link/f.txt", f"{d}/link/lf", f"{d}/link/ls", f"{d}/link/missing",
              f"{d}/nope/x", f"{d}/link/sub", f"{d}/loop", f"{d}/loop/x", "/", d, f"{d}/real/f.txt/x"):
        assert _realpath(p, parents) == os.path.realpath(p), p


def test_a_cache_inside_a_source_reached_through_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "inputs").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "inputs" / "data")
    sources = {str(tmp_path / "inputs" / "data"): "inputs/data", str(tmp_path / "inputs" / "a.txt"): "inputs/a.txt"}
    with pytest.raises(StoreError, match="inside the declared source inputs/data"):
        _check_cache_outside_sources(tmp_path / "data" / "sub" / ".cache", sources)
    _check_cache_outside_sources(tmp_path / ".assetbuild", sources)  # outside every source: accepted
