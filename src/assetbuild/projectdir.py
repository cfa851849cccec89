"""Where the project is: the nearest directory holding an AssetFile, from the working directory
upward, as git finds its repository. The command line moves there (``cli.finding``), and so does
the entry point before it asks the snapshot, which has no click to import.

Layer 3 (it reads the file system), standard library only.
"""

from __future__ import annotations

import os

# A directory that holds one of these is a repository's root: the search stops there, as an
# AssetFile above it belongs to another project.
REPOSITORY_MARKERS = (".git", ".hg")


def search_project(start: str) -> str | None:
    """The nearest directory holding an AssetFile, from ``start`` (absolute) upward; None when
    there is none before a repository's root (a directory holding .git or .hg, itself searched)
    or a file system boundary (a mount point: the parent's st_dev differs), or the root.

    An entry named AssetFile that is no file (a directory, a symlink loop, a dangling link) ends
    the search too, as it was meant to be the project's: its directory is the one found, where
    loading it says what is wrong. In ``start`` itself, None: the command stays, and says it."""
    here = start
    try:
        device = os.stat(here).st_dev
    except OSError:
        return None
    while True:
        candidate = os.path.join(here, "AssetFile")
        if os.path.isfile(candidate):
            return here
        if os.path.lexists(candidate):
            return None if here == start else here
        if any(os.path.lexists(os.path.join(here, m)) for m in REPOSITORY_MARKERS):
            return None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        try:
            if os.stat(parent).st_dev != device:
                return None
        except OSError:
            return None
        here = parent


def using_line(found: str, here: str) -> str:
    """What the command says when it moves to the project ``found`` above ``here`` (on stderr,
    unless -q)."""
    return f"(using AssetFile in {os.path.relpath(found, here)})"
