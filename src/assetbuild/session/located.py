"""Where a call's project is. ``assetfile=`` without ``project_dir=`` is ``assetbuild -f FILE``:
the file's directory is the project (its sources, its modules, its cache, the working directory
its assets run in); with ``project_dir=`` the file is read from there, as ``-C DIR -f FILE``.
Every verb that takes both goes through ``project_of`` (``arguments.verb``)."""

from __future__ import annotations

import os


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
