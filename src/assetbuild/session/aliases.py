"""Outputs that are one file through a symlinked directory: ``alias -> build`` makes
``alias/x.json`` and ``build/x.json`` one file, which the checks of declared paths (their
text: graph, session.project) cannot see. Two assets writing it would each restore its own
file over the other's on every build, so it is a definition error naming both.

The README allows a symlinked directory above an output (outputs on another disk), and an
output that is a symlink itself is replaced, never followed: only the directories above an
output are resolved, each once (one lstat; a realpath only for a symlink).

The same resolved paths are checked against what no output may touch (``protected``: the
sources, the project's code, the cache directory) and against repositories' own files: through
``root -> .``, ``root/data/`` is the source directory ``data/``, and a build would empty it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..definitions import AssetDef, SourceDef
from ..errors import DefinitionError
from ..graph import Graph


def check_outputs_through_symlinks(graph: Graph, project_dir: Path, protected: dict[str, str] | None = None,
                                   *, aliased: bool = False, parents: set[str] | None = None) -> None:
    """DefinitionError (at the line of the asset checked second) when two outputs (``path=``,
    ``outputs=`` entries) are one file, or one lies inside the other, once the symlinked
    directories above them are resolved; or when a resolved output is, holds or lies inside a
    ``protected`` path (resolved absolute path -> what it is, in words), or lies in a ``.git``
    or ``.hg``. Overlaps of the declared text are refused before, so a project with no output
    below a symlinked directory (and no ``protected`` path reached through one: ``aliased``)
    is done after the lookups (``parents``: the directories holding outputs, if known)."""
    root = os.path.realpath(project_dir)
    dirs: dict[str, tuple[str, bool]] = {"": (root, False)}  # directory -> (resolved, through a symlink)

    def resolved(rel: str) -> tuple[str, bool]:
        """A project-relative directory, resolved below its nearest known ancestor (no recursion:
        a path may have thousands of components)."""
        got = dirs.get(rel)
        todo = []
        while got is None:
            todo.append(rel)
            rel = rel.rpartition("/")[0]
            got = dirs.get(rel)
        for rel in reversed(todo):
            here = os.path.join(got[0], rel.rpartition("/")[2])
            got = dirs[rel] = (os.path.realpath(here), True) if os.path.islink(here) else (here, got[1])
        return got

    assets: list[AssetDef] = [graph.nodes[n] for n in graph.order]  # type: ignore[misc]  # (order: assets only)
    if parents is None:
        parents = {d.path.rpartition("/")[0] for d in assets if d.path is not None}
        parents.update(o.rstrip("/").rpartition("/")[0] for d in assets for o in d.outputs)
    if not aliased and not any(resolved(p)[1] for p in parents):
        return
    found: list[tuple[str, bool, str, AssetDef]] = []  # (resolved output, through a symlink, whose, its asset)
    for d in assets:
        for rel, how in _declared(d):
            parent, _, base = rel.rstrip("/").rpartition("/")
            above, via = resolved(parent)
            found.append((os.path.join(above, base), via, f"asset {d.name!r} ({how} {rel!r})", d))
    _refuse_overlaps(found, root)
    _refuse_protected(found, root, protected or {})


def _declared(d: AssetDef) -> list[tuple[str, str]]:
    """(declared output, how it is declared) of an asset."""
    return [(o, "outputs") for o in d.outputs] + ([(d.path, "path")] if d.path is not None else [])


def _refuse_overlaps(found: list[tuple[str, bool, str, AssetDef]], root: str) -> None:
    """The overlaps among resolved outputs that a symlink made (one of the two is reached
    through one): a few lookups per output."""
    owners: dict[str, tuple[str, bool]] = {}  # resolved output -> (whose, through a symlink)
    below: dict[str, str] = {}  # a resolved directory -> a resolved output under it
    for real, via, who, d in found:
        ancestors = _ancestors(real)
        if real in owners and (via or owners[real][1]):
            raise DefinitionError(f"{owners[real][0]} and {who} are one file, {_shown(real, root)}, through a "
                                  "symlinked directory: a file in the project can have only one owner; declare "
                                  "one path", file=d.file, line=d.line)
        outer = next((a for a in ancestors if a in owners), None)
        if outer is not None and (via or owners[outer][1]):
            _refuse_nesting(who, real, owners[outer][0], outer, root, d)
        inner = below.get(real)
        if inner is not None and (via or owners[inner][1]):
            _refuse_nesting(owners[inner][0], inner, who, real, root, d)
        owners.setdefault(real, (who, via))
        for a in ancestors:
            below.setdefault(a, real)


def _refuse_protected(found: list[tuple[str, bool, str, AssetDef]], root: str, protected: dict[str, str]) -> None:
    """Resolved outputs that are, hold or lie inside a protected path, or lie in a repository's
    own files: the build would overwrite them, or empty them as a declared directory's extras."""
    holding: dict[str, str] = {}  # a directory above a protected path -> that path
    for p in protected:
        for a in _ancestors(p):
            holding.setdefault(a, p)
    for real, _via, who, d in found:
        shown = _shown(real, root)
        hit, how = (real, "is") if real in protected else (holding.get(real), "holds")
        if hit is None:
            hit = next((a for a in _ancestors(real) if a in protected), None)
            how = "lies inside"
        if hit is not None:
            raise DefinitionError(f"{who} {how} {protected[hit]}: through a symlinked directory, it is {shown}; "
                                  "the build would overwrite or delete it: declare another path",
                                  file=d.file, line=d.line)
        if any(part in (".git", ".hg") for part in shown.split("/")):
            raise DefinitionError(f"{who} lies inside a repository's own files: through a symlinked directory, it "
                                  f"is {shown}; the build would overwrite them: declare another path",
                                  file=d.file, line=d.line)


def _refuse_nesting(inner: str, inner_real: str, outer: str, outer_real: str, root: str, d: AssetDef) -> None:
    raise DefinitionError(f"{inner} lies inside {outer}: through a symlinked directory, {_shown(inner_real, root)} "
                          f"is inside {_shown(outer_real, root)}: a file in the project can have only one owner; "
                          "declare separate paths", file=d.file, line=d.line)


def _ancestors(path: str) -> list[str]:
    """The directories above an absolute path, nearest first."""
    out = []
    up = os.path.dirname(path)
    while up != path:
        out.append(up)
        path, up = up, os.path.dirname(up)
    return out


def _shown(path: str, root: str) -> str:
    """A resolved path as messages name it: relative to the (resolved) project when inside it."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path


def protected_paths(graph: Graph, project_dir: Path, cache_dir: Path, code: dict[str, str],
                    sources: list[tuple[str, str, str]]) -> tuple[dict[str, str], bool]:
    """What no output may be, hold or lie inside once symlinks are resolved (resolved absolute
    path -> what it is, in words): the sources (``resolved_sources``), the project's code, its
    repository and the cache directory; and whether a source or the repository is reached
    through a symlink (then an output spelled without one can still be one of them)."""
    names = {os.path.normpath(d.path): d.name for d in graph.nodes.values() if isinstance(d, SourceDef)}
    out: dict[str, str] = {}
    aliased = False
    for p, real, rel in sources:
        aliased = aliased or real != p
        out.setdefault(real, f"the source {names.get(rel, rel)!r} ({rel})")
    root = str(project_dir)
    for repo in (".git", ".hg"):
        real = os.path.realpath(os.path.join(root, repo))
        aliased = aliased or real != os.path.join(root, repo)
        out.setdefault(real, f"the repository's {repo}")
    for rel, what in code.items():
        out.setdefault(os.path.join(root, rel), what)
    out.setdefault(str(cache_dir.resolve()), "the cache directory")
    return out, aliased


def resolved_sources(source_dirs: dict[str, str]) -> list[tuple[str, str, str]]:
    """(normalised absolute path, ``os.path.realpath`` of it, declared path) of each source, each
    directory holding sources resolved once, and listed once when it holds several (which of its
    entries are symlinks, from the listing): not an lstat per source (500 sources: 2 ms a build)."""
    by_parent: dict[str, list[str]] = {}
    for p in source_dirs:
        by_parent.setdefault(os.path.dirname(p), []).append(p)
    out = []
    for parent, paths in by_parent.items():
        real_parent = os.path.realpath(parent)
        links: set[str] | None = None
        if len(paths) > 8:  # (a listing of a folder of 100,000 files for a few sources would cost more)
            try:
                with os.scandir(parent) as it:
                    links = {e.name for e in it if e.is_symlink()}
            except OSError:
                pass
        for p in paths:
            base = os.path.basename(p)
            link = os.path.islink(p) if links is None else base in links
            out.append((p, os.path.realpath(p) if link or not base else os.path.join(real_parent, base), source_dirs[p]))
    return out


def output_folders(graph: Graph, root: str) -> list[list[str]]:
    """[folder, its real path] of each folder holding a path output of ``graph``'s assets: the
    snapshot compares them again (``snapshot.changes``), as the checks above resolve the links
    they find (``out`` moved into the cache and linked back holds the same files, to their stat)."""
    folders = {os.path.dirname(os.path.normpath(os.path.join(root, d.path)))
               for d in graph.nodes.values() if isinstance(d, AssetDef) and d.path is not None}
    return [[p, os.path.realpath(p)] for p in sorted(folders)]
