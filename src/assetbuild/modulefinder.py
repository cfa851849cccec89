"""Project modules seen without importing them: where an import would find one, its code read
and digested from its file (kept by stat signature in memory and in ``<cache>/code/``), and every
module the project's folders hold. What fingerprinting needs for a module an asset imports inside
its function, or by a name it computes (``fingerprint.imports``, ``fingerprint.reads``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import threading
import types
from pathlib import Path
from typing import Any

from . import workspace
from .atomicfile import write_atomically
from .compiled import TAG

_MODULES_CACHE_VERSION = 2  # (2: entries hold ModuleSource.computed)
MODULES_CACHE_PREFIX = "modules-"  # <cache>/code/modules-<tag>.bin: ProjectModuleFinder's entries

_OWN_PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")

# What ``ProjectModuleFinder.project_modules`` does not look into: bytecode, a JavaScript
# toolchain's packages, and a folder holding a virtualenv (its ``pyvenv.cfg``).
_NOT_PROJECT_CODE = frozenset({"__pycache__", "node_modules"})


def _is_installed(path: str) -> bool:
    """Installed code (and assetbuild itself, even when it sits inside a project) is not project code."""
    return in_site_directory(path) or path.startswith(_OWN_PACKAGE)


_SITE_PARTS = tuple(f"{os.sep}{name}{os.sep}" for name in ("site-packages", "dist-packages"))


def in_site_directory(path: str) -> bool:
    """Whether ``path`` lies in (or is) a site directory: a component named ``site-packages`` or
    ``dist-packages``, not a folder whose name merely holds those words (a project in
    ``~/code/site-packages-audit`` is no installed code)."""
    path = f"{path}{os.sep}"
    return _SITE_PARTS[0] in path or _SITE_PARTS[1] in path


def _in_project(path: Any, root: str) -> bool:
    return isinstance(path, str) and path.startswith(root) and not _is_installed(path)


def _namespace_in_project(paths: Any, root: str) -> bool:
    """Whether a namespace package's folders (``__path__``) include one in the project."""
    if paths is None or isinstance(paths, str):
        return False
    try:
        return any(_in_project(os.path.join(p, ""), root) for p in list(paths))
    except Exception:  # noqa: BLE001 - a __path__ that cannot be listed is no folder of ours
        return False


def _namespace_spec(name: str, search: list[str]) -> Any:
    """The spec of namespace package ``name`` in the folders ``search`` of its parent, without
    importing the parent: ``PathFinder`` makes its ``__path__`` a namespace path, which looks
    the parent up in ``sys.modules`` (a KeyError when nothing imported it). Its portions are the
    folders of its name there, as ``FileFinder`` finds them (none held a module of that name)."""
    tail = name.rpartition(".")[2]
    paths = [os.path.join(p, tail) for p in search if isinstance(p, str) and os.path.isdir(os.path.join(p, tail))]
    if not paths:
        return None
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = paths
    return spec


class ProjectModuleFinder:
    """Finds modules without importing them, and reads project modules' code from their files.

    What fingerprinting needs to see a module that an asset imports inside its function (see
    ``fingerprint.imports``): where importing it would find it (``importlib``'s finders, which
    import nothing, not even parent packages: their folders come from the parent's spec), and a
    project module's static code digest and import statements. Those are kept per file with its
    stat signature, in memory and in ``<cache>/code/``, so a null build reads no module source
    and compiles nothing; a signature is only kept once the file's mtime and ctime are
    ``RACY_NS`` old (``workspace.is_racy``), and a file whose signature changed is read and
    compiled again only if its bytes did.
    """

    _memory: dict[str, tuple[Any, ...]] = {}  # path -> entry, for every finder of this process
    _MEMORY_MAX = 4096

    def __init__(self, project_dir: Path, cache_dir: Path | None = None,
                 sources: dict[str, str] | None = None) -> None:
        from .fingerprint import FINGERPRINT_VERSION  # the digests kept are in its format

        self.root = os.path.join(str(project_dir), "")
        self._file = (cache_dir / "code" / f"{MODULES_CACHE_PREFIX}{TAG}-f{FINGERPRINT_VERSION}.bin"
                      if cache_dir is not None else None)
        self._disk: dict[str, tuple[Any, ...]] | None = None
        # file -> sha256 of the source each module read was digested from (Loaded.module_sources)
        self.sources: dict[str, str] = {} if sources is None else sources
        self._lock = threading.Lock()
        self._persist = False  # a build turns it on (keep_on_disk): status and dry runs write nothing
        self._dirty = False
        self._found: dict[str, tuple[Any, str | None, list[str] | None]] = {}
        self._listing: tuple[str, ...] | None = None
        self._cache = os.path.realpath(cache_dir) if cache_dir is not None else None
        self.listed: set[str] = set()  # the folders ``project_modules`` listed

    def locate(self, name: str) -> Any:
        from .fingerprint.imports import MISSING, OUTSIDE, PROJECT, ModuleLocation

        spec, origin, paths = self._find(name)
        if spec is None:
            return ModuleLocation(MISSING)
        if paths is not None and origin is None:  # a namespace package
            inside = _namespace_in_project(paths, self.root)
            return ModuleLocation(PROJECT if inside else OUTSIDE, package=True, namespace=True)
        if _in_project(origin, self.root):
            return ModuleLocation(PROJECT, package=paths is not None)
        return ModuleLocation(OUTSIDE, package=paths is not None)

    def _find(self, name: str) -> tuple[Any, str | None, list[str] | None]:
        """(spec or the module, file, submodule folders) of ``name``, or (None, None, None)."""
        hit = self._found.get(name)
        if hit is not None:
            return hit
        module = sys.modules.get(name)
        found: tuple[Any, str | None, list[str] | None]
        if isinstance(module, types.ModuleType):  # what is really there
            ns = vars(module)
            paths = ns.get("__path__")
            found = (module, ns.get("__file__"), None if paths is None else list(paths))
        else:
            parent, _, _ = name.rpartition(".")
            spec = None
            search: list[str] | None = None
            try:
                if not parent:
                    spec = importlib.util.find_spec(name)  # every finder: editable installs too
                else:
                    search = self._find(parent)[2]
                    if search is not None:
                        spec = importlib.machinery.PathFinder.find_spec(name, search)
            except (ImportError, ValueError):
                spec = None
            except KeyError:  # a namespace package whose parent is not imported
                spec = None if search is None else _namespace_spec(name, search)
            if spec is None:
                found = (None, None, None)
            else:
                paths = spec.submodule_search_locations
                origin = spec.origin if spec.has_location else None
                found = (spec, origin, None if paths is None else list(paths))
        self._found[name] = found
        return found

    def located(self) -> list[str]:
        """The names ``locate`` looked for. Where an import finds one can change without a new
        entry in any folder on ``sys.path``: a folder of its name gains an ``__init__.py`` (a
        package beats a module, and a namespace portion), so a build's snapshot records those
        folders."""
        return list(self._found)

    def source(self, name: str) -> Any:
        from .fingerprint.imports import ModuleSource

        origin = self._find(name)[1]
        if not isinstance(origin, str):
            raise ValueError(f"{name}: not a module file")  # a namespace package: not asked
        now = workspace.fs_now_ns()  # (before the stat: an edit after it must be in a later tick)
        st = os.stat(origin)
        sig = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        with self._lock:
            entry = self._memory.get(origin) or self._disk_entries().get(origin)
            if entry is not None and entry[0] == sig:
                self.sources[origin] = entry[1]
                return ModuleSource(entry[2], entry[3], entry[4])
            with open(origin, "rb") as f:
                data = f.read()
            sha = hashlib.sha256(data).hexdigest()
            if entry is None or entry[1] != sha:
                entry = (sig, sha, *_digest_module(data, origin))
            entry = (None if workspace.is_racy(st, now) else sig, *entry[1:])
            self._remember(origin, entry)
            self.sources[origin] = sha
            return ModuleSource(entry[2], entry[3], entry[4])

    def project_modules(self) -> tuple[str, ...]:
        """Every module an import by a computed name could find in the project, imported or not:
        the ``.py`` files under the project directory and each other ``sys.path`` folder inside
        it, by dotted name (a folder or file whose name has a dot cannot be reached;
        ``__pycache__`` holds no source; a virtualenv, ``node_modules`` and installed packages
        are not project code).
        The folders listed go to ``listed``: a build's snapshot records them, so a module
        added to one is seen."""
        if self._listing is None:
            names: set[str] = set()
            seen: set[tuple[int, int]] = set()  # (st_dev, st_ino): a folder reached twice (a symlink back up)
            try:
                cache = os.stat(self._cache) if self._cache is not None else None
            except OSError:
                cache = None
            if cache is not None:
                seen.add((cache.st_dev, cache.st_ino))  # (the cache's blobs)

            def walk(top: str) -> None:
                """The folders below ``top`` depth first, in name order, as a recursion would take
                them; a stack, so a folder of any depth is fine."""
                stack = [(top, "")]
                while stack:
                    folder, prefix = stack.pop()
                    try:
                        st = os.stat(folder)
                        ident = (st.st_dev, st.st_ino)
                    except OSError:
                        ident = None
                    if ident in seen:
                        continue
                    if ident is not None:
                        seen.add(ident)
                    self.listed.add(folder)
                    try:
                        entries = sorted((e.name, e.is_dir()) for e in os.scandir(folder))
                    except OSError:
                        continue
                    if prefix and ("pyvenv.cfg", False) in entries:
                        continue  # a virtualenv inside the project: installed code, counted by version
                    subs = []
                    for name, is_dir in entries:
                        sub = os.path.join(folder, name)
                        if is_dir and "." not in name and name not in _NOT_PROJECT_CODE and not _is_installed(sub + os.sep):
                            subs.append((sub, f"{prefix}{name}."))
                        elif not is_dir and name.endswith(".py") and "." not in name[:-3]:
                            names.add(prefix[:-1] if name == "__init__.py" else prefix + name[:-3])
                    stack.extend(reversed(subs))

            folders = [self.root[:-1]]  # (importable while the project is loaded: ``ProjectImports``)
            folders += [os.path.abspath(e or ".") for e in list(sys.path)]
            for folder in dict.fromkeys(folders):
                if folder == self.root[:-1] or _in_project(os.path.join(folder, ""), self.root):
                    walk(folder)
            self._listing = tuple(sorted(n for n in names if n))
        return self._listing

    def _disk_entries(self) -> dict[str, tuple[Any, ...]]:
        if self._disk is None:
            self._disk = {}
            if self._file is not None:
                try:
                    version, entries = marshal.loads(self._file.read_bytes())
                    if version == _MODULES_CACHE_VERSION and isinstance(entries, dict):
                        self._disk = entries
                except (OSError, ValueError, EOFError, TypeError):
                    pass
        return self._disk

    def _remember(self, path: str, entry: tuple[Any, ...]) -> None:
        memory = self._memory
        memory.pop(path, None)
        memory[path] = entry  # (re)inserted last: the dict's order is the LRU order
        while len(memory) > self._MEMORY_MAX:
            del memory[next(iter(memory))]
        disk = self._disk_entries()
        if disk.get(path) == entry:
            return
        disk.pop(path, None)
        disk[path] = entry  # last: files deleted long ago are the first dropped
        while len(disk) > self._MEMORY_MAX:
            del disk[next(iter(disk))]
        self._dirty = True
        if self._persist:
            self._write()

    def keep_on_disk(self) -> None:
        """From now on, keep new entries in the cache directory (a build calls it once the store
        has accepted the directory: ``Loaded.save_code_cache``)."""
        with self._lock:
            self._persist = True
            if self._dirty:
                self._write()

    def _write(self) -> None:
        self._dirty = False
        if self._file is None or self._disk is None:
            return
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self._file, marshal.dumps((_MODULES_CACHE_VERSION, self._disk)))
        except OSError:
            pass  # a cache we cannot write only costs time (a read-only cache directory)


def _digest_module(data: bytes, path: str) -> tuple[bytes, tuple[Any, ...], bool]:
    """(static code digest, import statements, whether it imports by a computed name) of a
    module file's bytes. A file that does not compile (or is no Python source: an extension
    module) counts by its bytes; importing it fails or runs machine code, and either changes
    with them."""
    from .fingerprint import code_digest
    from .fingerprint.imports import code_imports, imports_by_computed_name

    if path.endswith(".py"):
        try:
            code = compile(data, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            pass
        else:
            imports = code_imports(code)
            return code_digest(code), imports, imports_by_computed_name(code, imports)
    return hashlib.sha256(b"assetbuild-module-bytes\n" + data).digest(), (), False
