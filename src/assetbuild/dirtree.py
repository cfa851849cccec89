"""Folder trees of any depth: walking them and removing them without recursion.

A user's folder tree can be thousands of levels deep (an asset writes one, a data folder holds
one). Before Python 3.12 ``os.walk`` recursed once per level and ``shutil.rmtree`` still does,
so such a tree raised ``RecursionError`` past about 1,000 levels (which ``ignore_errors`` does
not catch), and an ancestor check by ``os.path.realpath`` costs one ``lstat`` per level, so a
folder's depth squared over the walk. Here an explicit stack does the walking, folders are told
apart by (st_dev, st_ino), and removal goes down and back up through descriptors, one open at a
time, so neither the recursion limit, nor the open-file limit, nor PATH_MAX bounds the depth.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
Ident = tuple[int, int]


def walk(top: str, *, follow_symlinks: bool = False, onerror: Callable[[OSError], None] | None = None
         ) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top)`` top-down: (folder, its subfolders' names, its other names) for ``top``
    and each folder below it, a folder before what it holds, its subfolders in the order of the
    names the caller leaves in the list (it may sort or prune them in place). A symlink to a
    folder is listed as a subfolder, and entered only with ``follow_symlinks``; then a folder
    that is one of its own ancestors (a symlink loop) is not entered again. ``onerror`` hears
    of a folder that cannot be listed (or, following symlinks, stat'ed), which is skipped."""
    stack: list[tuple[str, int]] = [(top, 0)]
    trail: list[Ident] = []  # following symlinks: the identities of the folders above, by depth
    on_trail: set[Ident] = set()
    while stack:
        path, depth = stack.pop()
        if follow_symlinks:
            try:
                st = os.stat(path)
            except OSError as e:
                if onerror is not None:
                    onerror(e)
                continue
            for gone in trail[depth:]:
                on_trail.discard(gone)
            del trail[depth:]
            ident = (st.st_dev, st.st_ino)
            if ident in on_trail:
                continue
            trail.append(ident)
            on_trail.add(ident)
        dirs: list[str] = []
        files: list[str] = []
        links: set[str] = set()
        try:
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    if not is_dir:
                        files.append(entry.name)
                        continue
                    dirs.append(entry.name)
                    if not follow_symlinks and entry.is_symlink():
                        links.add(entry.name)
        except OSError as e:
            if onerror is not None:
                onerror(e)
            continue
        yield path, dirs, files
        stack.extend((os.path.join(path, name), depth + 1) for name in reversed(dirs) if name not in links)


def symlinks_below(top: str, *, limit: int = 10_000) -> list[str]:
    """The symlinks (to files or folders, dangling too) in ``top`` and the folders below it,
    symlinked folders entered as ``walk(follow_symlinks=True)`` enters them, each folder once
    (no loop). Watch mode watches what they point to, which a directory source's version covers.
    Files are told apart by the listings alone (a stat for each folder only); at most ``limit``."""
    found: list[str] = []
    stack = [top]
    seen: set[Ident] = set()
    while stack and len(found) < limit:
        path = stack.pop()
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(path) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_symlink():
                    found.append(entry.path)
                if entry.is_dir():
                    stack.append(entry.path)
            except OSError:
                continue
    return found


def remove_tree(path: str) -> bool:
    """Remove the folder ``path`` and everything in it, following no symlink (a link goes, its
    target stays); what cannot be removed stays, silently. Whether ``path`` is gone."""
    return _empty_out(None, path, files=True)


def empty_folder(path: str) -> None:
    """Remove everything in the folder ``path`` and keep the folder (no symlink followed; a
    folder that is missing or cannot be listed is left alone). A run's staging directory is
    emptied so before its function writes there: a task whose worker died and that the executor
    runs again (dask does) finds what the killed attempt wrote, which would otherwise be
    recorded among its outputs and placed in the project."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            remove_tree(entry.path)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def prune_empty(dir_fd: int, name: str) -> bool:
    """Remove the empty folders below ``name`` (in the folder open as ``dir_fd``), deepest
    first, then ``name`` if it is empty; every file stays, and no symlink is followed.
    Whether ``name`` is gone."""
    return _empty_out(dir_fd, name, files=False)


def _empty_out(dir_fd: int | None, name: str, *, files: bool) -> bool:
    """Remove the folders below ``name`` deepest first (``files``: and everything else in them),
    then ``name``. It goes down one folder at a time and back up by ``..``, checked to be the
    very folder it came from (moved meanwhile, it stops): one descriptor open at a time."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        return False  # gone, not a folder, a symlink (never followed) or not ours to open
    try:
        here = _ident(fd)
        above: list[tuple[str, Ident, list[str]]] = []  # (name in its parent, the parent, its folders still to do)
        todo: list[str] | None = None
        while True:
            if todo is None:
                todo = _folders_in(fd, files)
            if todo:
                sub = todo.pop()
                try:
                    child = os.open(sub, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                above.append((sub, here, todo))
                os.close(fd)
                fd = child
                here, todo = _ident(fd), None
                continue
            if not above:
                break
            sub, parent, todo = above.pop()
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            if _ident(fd) != parent:
                return False  # moved while it was emptied: what is above it now is not ours
            here = parent
            with contextlib.suppress(OSError):
                os.rmdir(sub, dir_fd=fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        return False
    return True


def _ident(fd: int) -> Ident:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def _folders_in(fd: int, files: bool) -> list[str]:
    """The names of the folders (not symlinks) in the folder open as ``fd``; with ``files``,
    everything else in it is unlinked on the way."""
    folders: list[str] = []
    with os.scandir(fd) as it:
        for e in it:
            try:
                if e.is_dir(follow_symlinks=False):
                    folders.append(e.name)
                elif files:
                    os.unlink(e.name, dir_fd=fd)
            except OSError:
                pass
    return folders
