"""Where a call's project is. ``assetfile=`` without ``project_dir=`` is ``assetbuild -f FILE``:
the file's directory is the project (its sources, its modules, its cache, the working directory
its assets run in); with ``project_dir=`` the file is read from there, as ``-C DIR -f FILE``.
Every verb that takes both goes through ``project_of`` (``arguments.verb``)."""

from __future__ import annotations

import os
from pathlib import Path


def project_of(project_dir: str | os.PathLike[str], assetfile: str | os.PathLike[str] | None
               ) -> tuple[str | os.PathLike[str], str | None]:
    """(project directory, AssetFile in it) for ``project_dir`` and ``assetfile`` as given: with
    the default project directory (``"."``), an ``assetfile`` in an existing other directory
    makes that directory the project and names the file in it, as the command's ``-f FILE``
    (``cli.finding.place_project``); a missing one is left for the load to report."""
    if assetfile is None:
        return project_dir, None
    name = os.fspath(assetfile)
    if os.fspath(project_dir) != ".":
        return project_dir, name
    folder = os.path.dirname(name)
    if folder and os.path.isdir(folder):
        return folder, os.path.basename(name)
    return project_dir, name


def project_root(project_dir: str | os.PathLike[str]) -> Path:
    """``project_dir`` resolved. One line for what is no project directory: a path that does not
    exist or names a file (``DefinitionError``), a relative one from a working directory deleted
    or moved since (``ProjectNotFound``)."""
    from ..errors import DefinitionError, ProjectNotFound

    try:
        root = Path(project_dir).resolve()
    except OSError as e:
        raise ProjectNotFound(f"the working directory cannot be read ({e.strerror}): it was deleted or moved",
                              api_hint="os.chdir to the project, or pass project_dir=",
                              cli_hint="cd to the project, or give -C DIR") from None
    if not root.is_dir():
        raise DefinitionError(f"{project_dir} is a file, not a project directory" if root.exists()
                              else f"no such project directory: {project_dir}")
    return root
