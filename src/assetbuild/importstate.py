"""The caller's import state around a project load (``loader.ProjectImports``): which modules to
set aside while the project loads, which finders and hooks to keep after, and which modules the
load imported that must not outlive it, so the next call in this process imports what a fresh
``assetbuild`` process would."""

from __future__ import annotations

import importlib.machinery
import os
import sys
import types
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
    """Modules imported since ``before`` (the names in sys.modules then) from user code outside
    the installed ones: through a ``sys.path`` entry that is there now but was not among ``saved``
    (``path_entries`` of the caller's: what the load's code put on the path,
    ``sys.path.insert(0, "../shared")``), or through one of the caller's entries that is no site
    directory nor put on the path by one's ``.pth`` file (``PYTHONPATH=shared``, pytest's
    ``pythonpath``, a notebook's ``sys.path.insert``).

    A fresh process would import such a module from its file again, maybe edited since (and
    ``code_version`` bumped, as the fingerprint's warning about it asks); kept in
    ``sys.modules``, the next call in this process would run the old code under the new key.
    Left alone: modules the caller had before, the standard library, installed code (site
    directories, a ``.pth`` file's folders such as an editable install's, assetbuild itself),
    and C extensions (Python cannot load one afresh in a running process anyway)."""
    new = [n for n in sys.modules if n not in before]
    if not new:
        return []
    added = path_entries(sys.path) - saved
    added |= (path_entries(sys.path) & saved) - _site_entries()
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


def _site_entries() -> set[str]:
    """The site directories and the folders their ``.pth`` files put on ``sys.path`` (an
    editable install's source folder, an installed plugin's): where installed code is found."""
    import site

    dirs = [*site.getsitepackages(), site.getusersitepackages()] if hasattr(site, "getsitepackages") else []
    dirs += [p for p in sys.path if isinstance(p, str) and (os.path.basename(p) in ("site-packages", "dist-packages")
                                                           or _holds_distributions(p))]
    out = set()
    for d in dict.fromkeys(dirs):
        out.add(os.path.normpath(os.path.abspath(d)))
        try:
            names = [n for n in os.listdir(d) if n.endswith(".pth")]
        except OSError:
            continue
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
    return out


def _holds_distributions(folder: str) -> bool:
    """Whether ``folder`` holds installed distributions (``pip install --target DIR``, then DIR
    on ``PYTHONPATH``): a ``*.dist-info`` or ``*.egg-info`` in it."""
    try:
        with os.scandir(folder or ".") as entries:
            return any(e.name.endswith((".dist-info", ".egg-info")) for e in entries)
    except OSError:
        return False


def _found_through(module: Any, top: str, added: set[str]) -> bool:
    """Whether top-level ``module`` (named ``top``) was found in one of the folders ``added``."""
    if module is None or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return False
    f = getattr(module, "__file__", None)
    if isinstance(f, str):
        if f.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)) or _is_installed(f):
            return False
        folder = os.path.dirname(f)
        if os.path.basename(f).startswith("__init__."):  # a package: its folder is in the entry
            folder = os.path.dirname(folder)
        return os.path.normpath(folder) in added
    paths = vars(module).get("__path__") if isinstance(module, types.ModuleType) else None
    if paths is None or isinstance(paths, str):
        return False
    try:  # a namespace package: any of its folders
        return any(isinstance(p, str) and not _is_installed(p) and os.path.normpath(os.path.dirname(p)) in added
                   for p in list(paths))
    except Exception:  # noqa: BLE001 - a __path__ that cannot be listed is no folder of ours
        return False
