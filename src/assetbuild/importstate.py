"""The caller's import state around a project load (``loader.ProjectImports``): which modules to
set aside while the project loads, which finders and hooks to keep after, and which modules the
load imported that must not outlive it, so the next call in this process imports what a fresh
``assetbuild`` process would."""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import os
import sys
import types
import weakref
from pathlib import Path
from typing import Any

from .modulefinder import _in_project, _is_installed, _namespace_in_project


def project_module_names(project_dir: Path) -> set[str]:
    """Names of imported modules loaded from the project (not from an installed package): files
    under the project directory, and folders there without ``__init__.py`` (namespace packages
    such as ``src``)."""
    root = os.path.join(str(project_dir), "")
    out = set()
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f:
            if _in_project(f, root):
                out.add(name)
        elif isinstance(mod, types.ModuleType) and _namespace_in_project(vars(mod).get("__path__"), root):
            out.add(name)
    return out


def hide(root: str) -> dict[str, Any]:
    """Take out of ``sys.modules`` (and return) what the caller imported that a fresh process
    would not have as the project loads: the project's own modules, and modules named like one
    (``helpers``, ``helpers.x``) from elsewhere, but not from the standard library or an
    installed distribution (the command imports those too: ``shadowing_files`` warns). Never
    ``__main__``. One pass over sys.modules and one listing of the project directory."""
    modules = sys.modules
    hidden = project_module_names(Path(root)) - {"__main__", "__mp_main__"}
    try:
        entries = os.listdir(root)
    except OSError:
        entries = []
    tops = set()
    for entry in entries:  # a module, a package or a namespace package's folder
        name = entry[:-3] if entry.endswith(".py") else entry
        module = modules.get(name)
        if module is None or name in hidden or name in sys.stdlib_module_names or name in sys.builtin_module_names:
            continue
        f = getattr(module, "__file__", None)
        where = [f] if f else list(vars(module).get("__path__") or ()) if isinstance(module, types.ModuleType) else []
        if where and not any(_is_installed(os.path.join(str(w), "")) for w in where):  # (a namespace package's folders)
            tops.add(name)
    if tops:
        hidden.update(n for n in modules if n.partition(".")[0] in tops)
    return {name: modules.pop(name) for name in hidden if name in modules}


def kept_hooks(hooks: list[Any], before: set[int], dropped: set[str], ours: object) -> list[Any]:
    """Of import finders or path hooks, those there ``before`` and those made since (a class,
    a function or an instance) by code outside the ``dropped`` modules (a library's)."""
    return [h for h in hooks if h is not ours and (id(h) in before or getattr(
        h if isinstance(h, (type, types.FunctionType)) else type(h), "__module__", None) not in dropped)]


def path_entries(entries: list[Any]) -> set[str]:
    """``sys.path`` entries as absolute, normalised folders (a relative one, ``""`` too, from the
    working directory); entries that are no string (a path hook's own objects) are left out."""
    out = set()
    for e in entries:
        if isinstance(e, str):
            try:
                out.add(os.path.normpath(os.path.abspath(e)))
            except OSError:  # a relative entry, and the working directory is gone
                continue
    return out


def added_path_modules(before: set[str], saved: set[str]) -> list[str]:
    """Modules imported since ``before`` (the names in sys.modules then) through a ``sys.path``
    entry that is there now but was not among ``saved`` (``path_entries`` of the caller's): what
    the load's code put on the path (``sys.path.insert(0, "../shared")``) and imported from it.

    The path is put back after the load, so a fresh process would import such a module from its
    file again, maybe edited since (and ``code_version`` bumped); kept in ``sys.modules``, the
    next call in this process would run the old code under the new key. Left alone: modules the
    caller had before, the standard library, installed code (site-packages, assetbuild itself),
    and C extensions (Python cannot load one afresh in a running process anyway). (A module
    found through the caller's own entries stays: ``hide_changed`` sees to it.)"""
    new = [n for n in sys.modules if n not in before]
    if not new:
        return []
    added = path_entries(sys.path) - saved
    if not added:
        return []
    modules = sys.modules
    out: list[str] = []
    tops: dict[str, bool] = {}
    for name in new:
        top = name.partition(".")[0]
        drop = tops.get(top)
        if drop is None:
            drop = tops[top] = top not in before and _found_through(modules.get(top), top, added)
        if drop and name not in ("__main__", "__mp_main__"):
            out.append(name)
    return out


# Each module of the caller's own code (``_callers_code``) a call has seen: the module, the
# signature of its file then, and whether a call imported it (not the caller): the next call sets
# it aside, or forgets it if a call imported it, when its file changed since (``hide_changed``).
_SEEN: dict[str, tuple[weakref.ref[types.ModuleType], tuple[int, int, int, str] | None, bool]] = {}


def _file_signature(path: str) -> tuple[int, int, int, str] | None:
    """(mtime, size, inode, sha256 of the bytes) of a module's file; None when it cannot be read."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino, digest


def _changed(path: str, sig: tuple[int, int, int, str] | None) -> bool:
    """Whether the file's bytes differ from those ``sig`` was taken of (read only when its stat
    differs: a file touched, or written again as it was, by a generator or a checkout, is no
    change)."""
    try:
        st = os.stat(path)
    except OSError:
        return sig is not None
    if sig is not None and (st.st_mtime_ns, st.st_size, st.st_ino) == sig[:3]:
        return False
    now = _file_signature(path)
    return now is None or sig is None or now[3] != sig[3]


def _callers_code(root: str) -> dict[str, types.ModuleType]:
    """The modules in ``sys.modules`` found through a folder of ``sys.path`` that holds no
    installed code and is not the project (``root``): the caller's own libraries
    (``PYTHONPATH=shared``), which a fresh process imports from their files."""
    entries = path_entries(sys.path) - _site_entries() - {os.path.normpath(root)}
    out: dict[str, types.ModuleType] = {}
    if not entries:
        return out
    tops: dict[str, bool] = {}
    for name, module in list(sys.modules.items()):
        if name in ("__main__", "__mp_main__") or not isinstance(module, types.ModuleType):
            continue
        top = name.partition(".")[0]
        mine = tops.get(top)
        if mine is None:
            mine = tops[top] = _found_through(sys.modules.get(top), top, entries)
        if mine:
            out[name] = module
    return out


def note_callers_code(root: str, before: set[str]) -> None:
    """After a call: the signature of the file of each of the caller's own modules it has not
    seen before (or that was imported again since), as the baseline ``hide_changed`` compares;
    those not in ``before`` (``sys.modules``' names as the call began) the call imported."""
    for name, module in _callers_code(root).items():
        seen = _SEEN.get(name)
        if seen is not None and seen[0]() is module:
            continue
        f = getattr(module, "__file__", None)
        if isinstance(f, str):
            ours = name not in before or (seen is not None and seen[2])
            _SEEN[name] = (weakref.ref(module), _file_signature(f), ours)


def hide_changed() -> dict[str, Any]:
    """Before a load: the caller's own modules (``_callers_code``: a library on ``PYTHONPATH``)
    whose file changed since a call saw them, with every module of their top-level package, out
    of ``sys.modules``, so that the load imports them from their files, as a fresh process does:
    the module in memory is the code before the edit, which would run under the key of an edit
    the fingerprint cannot see (``code_version`` bumped for it). Those the caller imported are
    returned, to be put back after the call (the same objects); those a call imported are
    forgotten, the new ones kept in their place."""
    changed: dict[str, bool] = {}  # top -> every changed module under it was imported by a call
    for name, (ref, sig, ours) in list(_SEEN.items()):
        module = ref()
        if module is None:
            del _SEEN[name]
            continue
        f = getattr(module, "__file__", None)
        if sys.modules.get(name) is module and isinstance(f, str) and _changed(f, sig):
            top = name.partition(".")[0]
            changed[top] = changed.get(top, True) and ours
    if not changed:
        return {}
    for name, (_, _, ours) in _SEEN.items():  # a package the caller imported, a module of it a call did
        if not ours and changed.get(name.partition(".")[0]):
            changed[name.partition(".")[0]] = False
    taken = {n: sys.modules.pop(n) for n in [n for n in sys.modules if n.partition(".")[0] in changed]}
    return {n: m for n, m in taken.items() if not changed[n.partition(".")[0]]}


def _site_entries() -> set[str]:
    """The standard library's folders, the site directories and the folders their ``.pth``
    files put on ``sys.path`` (an editable install's source folder, an installed plugin's):
    where the interpreter's and installed code is found."""
    dirs = [*_interpreter_dirs(), *(p for p in sys.path if isinstance(p, str) and (
        os.path.basename(p) in ("site-packages", "dist-packages") or _holds_distributions(p)))]
    out = set()
    for d in dict.fromkeys(dirs):
        out.add(os.path.normpath(os.path.abspath(d)))
        try:
            st = os.stat(d)
        except OSError:
            continue
        out.update(_pth_folders(d, st.st_mtime_ns, st.st_ino))
    return out


@functools.lru_cache(maxsize=64)  # (by the folder's time: adding or removing a .pth file changes it)
def _pth_folders(d: str, mtime_ns: int, ino: int) -> frozenset[str]:
    """The folders the ``.pth`` files in site directory ``d`` put on ``sys.path``."""
    out = set()
    try:
        names = [n for n in os.listdir(d) if n.endswith(".pth")]
    except OSError:
        return frozenset()
    for n in names:
        try:
            with open(os.path.join(d, n), encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith(("#", "import ", "import\t")):
                out.add(os.path.normpath(os.path.join(d, line)))
    return frozenset(out)


@functools.cache
def _interpreter_dirs() -> tuple[str, ...]:
    """The standard library's folders and the site directories of this interpreter (and of
    the one a virtual environment was made from): fixed for the process."""
    import site
    import sysconfig

    dirs = [*site.getsitepackages(), site.getusersitepackages()] if hasattr(site, "getsitepackages") else []
    for scheme in {sysconfig.get_default_scheme(), "venv"} & set(sysconfig.get_scheme_names()):
        for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
            paths = sysconfig.get_paths(scheme, vars={"base": prefix, "platbase": prefix, "installed_base": prefix,
                                                      "installed_platbase": prefix})
            dirs += [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    dirs += [os.path.join(d, "lib-dynload") for d in list(dirs)]
    return tuple(dict.fromkeys(dirs))


def _holds_distributions(folder: str) -> bool:
    """Whether ``folder`` holds installed distributions (``pip install --target DIR``, then DIR
    on ``PYTHONPATH``): a ``*.dist-info`` or ``*.egg-info`` in it."""
    try:
        st = os.stat(folder or ".")
    except OSError:
        return False
    return _listed_distributions(os.path.abspath(folder or "."), st.st_mtime_ns, st.st_ino)


@functools.lru_cache(maxsize=256)  # (by the folder's time: an install there changes it)
def _listed_distributions(folder: str, mtime_ns: int, ino: int) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.endswith((".dist-info", ".egg-info")) for e in entries)
    except OSError:
        return False


@functools.lru_cache(maxsize=4096)  # (asked of every top-level module after each call)
def _entry_of(f: str) -> str | None:
    """The ``sys.path`` folder a top-level module's file ``f`` was found in (a package's: the
    folder above its own); None for installed code and C extensions, never to be imported afresh."""
    if f.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)) or _is_installed(f):
        return None
    folder = os.path.dirname(f)
    if os.path.basename(f).startswith("__init__."):  # a package: its folder is in the entry
        folder = os.path.dirname(folder)
    return os.path.normpath(folder)


def _found_through(module: Any, top: str, added: set[str]) -> bool:
    """Whether top-level ``module`` (named ``top``) was found in one of the folders ``added``."""
    if module is None or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return False
    f = getattr(module, "__file__", None)
    if isinstance(f, str):
        return _entry_of(f) in added
    paths = vars(module).get("__path__") if isinstance(module, types.ModuleType) else None
    if paths is None or isinstance(paths, str):
        return False
    try:  # a namespace package: any of its folders
        return any(isinstance(p, str) and not _is_installed(p) and os.path.normpath(os.path.dirname(p)) in added
                   for p in list(paths))
    except Exception:  # noqa: BLE001 - a __path__ that cannot be listed is no folder of ours
        return False
