"""Files an asset writes into the project outside its declared outputs: the project's files'
stat signatures before and after the asset runs, compared (a warning names them; with ``-j``,
every ``outputs=`` asset running beside it is named as a possible writer)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

_SKIP_NAMES = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", "node_modules",
                         ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"})
SNAPSHOT_LIMIT = 50_000  # entries: a larger project is not compared (the check must stay cheap)


def own_stream_files() -> frozenset[tuple[int, int]]:
    """(st_dev, st_ino) of the files this process's standard streams are: ``assetbuild 2> err.log``
    or ``> build.log 2>&1`` inside the project grows that file while assets run, and the build,
    not an asset, wrote it. Terminals, pipes and closed streams are left out."""
    ids: set[tuple[int, int]] = set()
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            ids.add((st.st_dev, st.st_ino))
    return frozenset(ids)


def snapshot_project(root: str, skip: Iterable[str],
                     own: frozenset[tuple[int, int]] = frozenset()) -> dict[str, tuple[int, int, int, int]] | None:
    """(size, mtime_ns, ctime_ns, inode) of every file of the project, except under ``skip``
    (project-relative paths: the cache directory, declared outputs), the files ``own`` names by
    (st_dev, st_ino) (the build's own output streams: ``own_stream_files``), version control
    directories and virtual environments. None if the project has more than SNAPSHOT_LIMIT.
    The ctime too: a same-size write whose mtime is then set back to the old one (``tar x`` or
    ``shutil.copy2`` of a copy of the file) changes nothing else."""
    skipped = {s.rstrip("/") for s in skip}
    out: dict[str, tuple[int, int, int, int]] = {}
    stack = [("", root)]
    while stack:
        prefix, path = stack.pop()
        try:
            it = os.scandir(path)
        except OSError:
            continue
        with it:
            for e in it:
                rel = prefix + e.name
                if rel in skipped or e.name in _SKIP_NAMES:
                    continue
                try:
                    if e.is_dir(follow_symlinks=False):
                        if not os.path.exists(os.path.join(e.path, "pyvenv.cfg")):
                            stack.append((rel + "/", e.path))
                        continue
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if own and (st.st_dev, st.st_ino) in own:
                    continue
                out[rel] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                if len(out) > SNAPSHOT_LIMIT:
                    return None
    return out


def written_since(before: dict[str, tuple[int, int, int, int]] | None,
                  after: dict[str, tuple[int, int, int, int]] | None) -> list[str]:
    """Files created or changed between two snapshots, sorted."""
    if before is None or after is None:
        return []
    return sorted(rel for rel, sig in after.items() if before.get(rel) != sig)
