"""The folders a build's load may find modules in, as the snapshot records them."""

from __future__ import annotations

from pathlib import Path

from assetbuild import snapshot
from assetbuild.session.listings import import_names_of


def test_names_are_listed_as_of_the_time_read(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("")
    gone = tmp_path / "gone"
    now = snapshot.dir_time(str(tmp_path))
    names, moved = import_names_of({str(tmp_path): now, str(gone): None})
    assert moved is None and names == {str(tmp_path): "mod.py", str(gone): None}


def test_a_folder_that_moved_after_its_time_was_read_is_named(tmp_path: Path) -> None:
    """Listed after a module came (its time read before): recorded so, the next build would
    take that module for one this build saw."""
    read = snapshot.dir_time(str(tmp_path))
    assert read is not None
    (tmp_path / "late.py").write_text("")
    if snapshot.dir_time(str(tmp_path)) == read:  # (a filesystem clock that did not tick in between)
        read -= 1
    names, moved = import_names_of({str(tmp_path): read})
    assert moved == str(tmp_path) and names[str(tmp_path)] == "late.py"
