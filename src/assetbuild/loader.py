"""Finds and executes an AssetFile in a fresh namespace, and imports the project's own modules afresh.

- The compiled AssetFile (and the static digests of its code objects), or the slice of it a
  build needs, comes from ``assetbuild.compiled``, which keeps them under ``<cache>/code/``.
- Project modules (files under the project directory, outside site-packages) are compiled from
  their source on every load and never through ``.pyc`` files: a timestamp-validated ``.pyc`` can
  hide an edit that keeps the size and lands within the same second.
- The project directory is on ``sys.path`` only while a :class:`ProjectImports` is active; no
  ``os.chdir``.
- A project module nothing imported yet is seen from its file by ``assetbuild.modulefinder``.
- Errors become ``DefinitionError`` naming the file and line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import time
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import definitions
from .atomicfile import write_atomically
from .compiled import SLICE_CACHE_PREFIX, TAG, beside_file, compile_cached, prune_slices, slice_compiled
from .definitions import AssetDef, ObservableSourceDef, ResourceDef, SourceDef
from .errors import DefinitionError, ProjectNotFound, describe_exception, syntax_excerpt
from .importstate import (
    added_path_modules,
    hide,
    hide_changed,
    kept_hooks,
    note_callers_code,
    path_entries,
    project_module_names,
)
from .interrupts import RealInterrupts
from .modulefinder import MODULES_CACHE_PREFIX, ProjectModuleFinder, _in_project, _is_installed

ASSETFILE_MODULE = "__assetfile__"


# Names of every module a _ProjectLoader imported, from any project: the next load forgets them
# all, so a package of the same name in another project (or another checkout) is never reused.
_LOADED_BY_US: set[str] = set()
# (file, sha256 hex of the source) of each project module compiled since the AssetFile loaded
# (those it imported are the code its keys are made from), in order: what an asset that imports
# one as it runs in this process really ran (``compiled_since``); emptied with the modules.
_COMPILED: list[tuple[str, str]] = []
# Each active ProjectImports, innermost last: a load inside the innermost finds the project's
# modules hidden already (``importstate.hide``), and need not look for them again.
_ACTIVE: list[ProjectImports] = []


class _ProjectLoader(importlib.machinery.SourceFileLoader):
    """Compiles a project module from its current source; never reads or writes bytecode files."""

    # path -> (source digest, code): one version per file, so a process that reloads for hours
    # (watch mode) keeps at most _COMPILED_MAX code objects, the oldest dropped first.
    _compiled: dict[str, tuple[bytes, types.CodeType]] = {}
    _COMPILED_MAX = 1024
    source_digest: str | None = None  # sha256 of the source the module was last compiled from
    # the project modules its code may import: (import statements, whether it imports by a
    # computed name); made when first asked (``reached_sources``)
    imports: tuple[tuple[Any, ...], bool] | None = None

    def get_code(self, fullname: str) -> types.CodeType:
        _LOADED_BY_US.add(fullname)
        path = self.get_filename(fullname)
        source = self.get_data(path)
        digest = hashlib.sha256(source).digest()
        self.source_digest = digest.hex()
        _COMPILED.append((path, self.source_digest))
        hit = self._compiled.pop(path, None)
        if hit is not None and hit[0] == digest:
            code = hit[1]
        else:
            code = compile(source, path, "exec", dont_inherit=True)
        self._compiled[path] = (digest, code)  # (re)inserted last: the dict's order is the LRU order
        while len(self._compiled) > self._COMPILED_MAX:
            del self._compiled[next(iter(self._compiled))]
        return code


class _ProjectFinder:
    """A meta path finder (duck-typed: importing importlib.abc costs ~8 ms of every start-up)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "")

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if path is not None:  # a submodule: found only on its package's path, which may be all outside
            for entry in path:  # the project (the engine's own modules, loaded as a build goes)
                if not isinstance(entry, str) or not os.path.isabs(entry) or os.path.join(entry, "").startswith(self.root):
                    break
            else:
                return None  # (PathFinder, next on sys.meta_path, finds it once instead of twice)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        if not spec.origin.startswith(self.root) or _is_installed(spec.origin):
            return None
        spec.loader = _ProjectLoader(fullname, spec.origin)
        return spec


class ProjectImports:
    """While active: the project directory is first on ``sys.path`` and its modules load from
    source, as in a fresh ``assetbuild`` process; after, the caller's import state is back.

    A caller that imports its own modules (a notebook) may hold one named like a project module
    (its own ``helpers.py``), or the project's own module, maybe edited since: the load must
    not use either, so each is hidden (``importstate.hide``) while active and put back, the same object,
    after; so is a library of the caller's own whose file changed since a call saw it
    (``importstate.hide_changed``). What the project added to ``sys.path`` is undone, and the
    modules it imported through what it added are forgotten with the project's
    (``importstate.added_path_modules``); finders
    and path hooks that project code defined are dropped (those of a library it imported stay,
    with the library)."""

    def __init__(self, project_dir: Path) -> None:
        self.root = str(project_dir)
        self._finder = _ProjectFinder(self.root)
        self._hidden: dict[str, Any] = {}
        self._saved: tuple[list[Any], list[Any], set[int]] | None = None
        self._modules: set[str] = set()

    @property
    def finder(self) -> Any:
        """Its import finder, first on ``sys.meta_path`` while active: a finder that must see a
        name only once the project's modules have been looked for goes after it."""
        return self._finder

    def __enter__(self) -> ProjectImports:
        self._saved = (sys.path, list(sys.path), {id(h) for h in (*sys.meta_path, *sys.path_hooks)})
        self._modules = set(sys.modules)
        if not sys.path or sys.path[0] != self.root:  # first, as in the command's process
            sys.path.insert(0, self.root)
        # (with the project on sys.path, as for every later look at namespace packages: their
        # __path__, worked out again whenever sys.path changes, is then computed once per load)
        self._hidden = hide(self.root)
        self._hidden.update(hide_changed())
        sys.meta_path.insert(0, self._finder)
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        # leave sys.modules as the caller had it; first, while the project is on sys.path: a
        # namespace package's __path__ is worked out again from sys.path, and without the
        # project's folder one that also spans a folder elsewhere (a ``src`` beside the
        # caller) would name only that one, and stay
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        dropped = forget_project_modules(Path(self.root))
        if self._saved is not None:  # and what it imported through a folder it put on sys.path
            for name in added_path_modules(self._modules, path_entries(self._saved[1])):
                if sys.modules.pop(name, None) is not None:
                    dropped.add(name)
        before_call, self._modules = self._modules, set()
        if self._hidden:  # what the load imported under a hidden name goes; the caller's comes back
            tops = {n.partition(".")[0] for n in self._hidden}
            for name in [n for n in sys.modules if n.partition(".")[0] in tops]:
                del sys.modules[name]
            sys.modules.update(self._hidden)
            self._hidden = {}
        if self._saved is not None:
            path, path_items, before = self._saved
            self._saved = None
            path[:] = path_items
            sys.path = path
            dropped.add(ASSETFILE_MODULE)  # a finder or hook project code made goes with it
            sys.meta_path[:] = kept_hooks(sys.meta_path, before, dropped, self._finder)
            sys.path_hooks[:] = kept_hooks(sys.path_hooks, before, dropped, self._finder)
        note_callers_code(self.root, before_call)


def loaded_sources(names: Iterable[str] | None = None) -> dict[str, str]:
    """File -> sha256 of the source that each loaded project module (of ``names``, default all)
    was compiled from: what a process really runs, whatever the file holds now.

    Only modules imported through ``ProjectImports`` are known (others were not compiled by us).
    """
    out: dict[str, str] = {}
    modules = sys.modules if names is None else {n: sys.modules.get(n) for n in names}
    for mod in list(modules.values()):
        loader = getattr(getattr(mod, "__spec__", None), "loader", None)
        if isinstance(loader, _ProjectLoader) and loader.source_digest is not None:
            out[loader.path] = loader.source_digest
    return out


def reached_sources(roots: Iterable[str]) -> dict[str, str] | None:
    """File -> sha256 of the source of each project module loaded in this process that importing
    ``roots`` runs: the roots, their parent packages and, transitively, the project modules their
    code imports (at module level or inside functions). Of the project code this process holds,
    the part that an asset whose code reaches ``roots`` (``Fingerprinter.modules_reached``) may
    have run, whatever other assets imported into it.

    Only what is loaded counts, followed by the imports of the code loaded: a module that
    differs from the code keyed fails the asset whatever it imports, and one that matches imports
    what the keyed one does, so every module the keyed code would run is found. None when that
    cannot be told: a module's code is no longer at hand, or it imports modules by a computed
    name (``import_module``, ``sys.modules[...]``).
    """
    from .fingerprint.imports import absolute_name

    out: dict[str, str] = {}
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)  # importing a.b runs a's __init__ first
        module = sys.modules.get(name)
        spec = getattr(module, "__spec__", None)
        loader = getattr(spec, "loader", None)
        if not isinstance(loader, _ProjectLoader) or loader.source_digest is None:
            continue  # not loaded, not project code, or no code of its own (a namespace package)
        imports = _imports_of(loader)
        if imports is None or imports[1]:
            return None
        out[loader.path] = loader.source_digest
        package = name if getattr(spec, "submodule_search_locations", None) is not None else parent
        for imported, level, fromlist in imports[0]:
            target = absolute_name(imported, level, package)
            if target is None:
                continue
            todo.append(target)
            for x in fromlist:  # ``from pkg import *`` imports the submodules of its __all__
                subs = getattr(sys.modules.get(target), "__all__", ()) if x == "*" else (x,)
                todo.extend(f"{target}.{sub}" for sub in subs if isinstance(sub, str))
    return out


def _imports_of(loader: _ProjectLoader) -> tuple[tuple[Any, ...], bool] | None:
    """``loader.imports``, from the code it compiled (None if that is no longer kept)."""
    if loader.imports is None:
        hit = _ProjectLoader._compiled.get(loader.path)
        if hit is None or hit[0].hex() != loader.source_digest:
            return None
        from .fingerprint.imports import code_imports
        from .fingerprint.reads import IMPORT_READS

        names: set[str] = set()
        todo = [hit[1]]
        while todo:
            code = todo.pop()
            names.update(code.co_names)
            todo.extend(k for k in code.co_consts if isinstance(k, types.CodeType))
        computed = not IMPORT_READS.isdisjoint(names) or {"sys", "modules"} <= names
        loader.imports = (code_imports(hit[1]), computed)
    return loader.imports


def shadowing_files(project_dir: Path) -> list[tuple[str, str]]:
    """(file, module) of each top-level project module or package named like a module this
    process imported from elsewhere first (``json.py``): ``import json`` means that one here and
    the project's file in a fresh process (a worker), so the two would run other code under one key."""
    root = os.path.join(str(project_dir), "")
    try:
        entries = sorted(os.listdir(project_dir))
    except OSError:
        return []
    out = []
    for entry in entries:
        name = entry[:-3] if entry.endswith(".py") else entry
        if name == entry and not os.path.isfile(os.path.join(root, entry, "__init__.py")):
            continue
        f = getattr(sys.modules.get(name), "__file__", None)
        if f and not _in_project(f, root) and not _is_entry(f, root + entry):
            out.append((entry, name))
    return out


def _is_entry(file: str, entry: str) -> bool:
    """Whether ``file`` is the project entry itself (``json.py``, or a file of package ``x/``): the
    module imported is then the project's own, as when assetbuild's clone is the project (the demo)."""
    return file == entry or file.startswith(os.path.join(entry, ""))


def compiled_mark() -> int:
    """Where the list of compiled project modules ends now (``compiled_since``): 0 while no
    project module was compiled since the AssetFile loaded."""
    return len(_COMPILED)


def compiled_since(mark: int) -> dict[str, str]:
    """File -> sha256 of the source of each project module this process compiled since ``mark``:
    an import inside an asset running here reads the file as it is then, maybe not as keyed."""
    return dict(_COMPILED[mark:])


def forget_project_modules(project_dir: Path, *, look: bool = True) -> set[str]:
    """Drop the project's modules (and any other project's we imported) from sys.modules, so the
    next load imports them afresh from this project's files; their names. Never the caller's
    ``__main__`` (a script in the project that calls ``assetbuild.build``): nothing imports it
    afresh, and without it pickle cannot find the script's classes, nor multiprocessing the
    script. ``look=False``: only those we imported (the others are known to be hidden)."""
    found = project_module_names(project_dir) if look else set()
    names = (found | _LOADED_BY_US) - {"__main__", "__mp_main__"}
    for name in names:
        sys.modules.pop(name, None)
    _LOADED_BY_US.clear()
    _COMPILED.clear()
    importlib.invalidate_caches()
    return names


class Loaded:
    """An executed AssetFile: its declarations and what fingerprinting needs to know about it.

    - ``module_sources``: file -> sha256 of the source each project module was compiled from
      (one whose import failed too): the code the keys are made from, which a worker process
      must run too (see Scheduler._code_changed_during_run);
    - ``module_finder`` finds and reads the project modules imported inside functions (it adds to
      ``module_sources``);
    - ``partial``: the definitions of unwanted assets were left out (``compiled.leaving_out``);
    - ``started_ns``: the wall clock (time.time_ns) as loading began: a module made after may not
      have been seen.

    A plain class (as ``execute``'s records): a dataclass costs every build ~0.7 ms to make.
    """

    __slots__ = ("path", "project_dir", "decls", "module", "source_digest", "project_modules", "code_digests",
                 "module_sources", "module_finder", "_pending_cache", "partial", "started_ns")

    def __init__(self, path: Path, project_dir: Path, decls: list[AssetDef | SourceDef | ObservableSourceDef | ResourceDef],
                 module: types.ModuleType, source_digest: str, project_modules: set[str] | None = None,
                 code_digests: dict[int, bytes] | None = None, module_sources: dict[str, str] | None = None,
                 module_finder: ProjectModuleFinder | None = None,
                 _pending_cache: list[tuple[Path, bytes]] | None = None, partial: bool = False,
                 started_ns: int = 0) -> None:
        self.path, self.project_dir, self.decls, self.module = path, project_dir, decls, module
        self.source_digest = source_digest
        self.project_modules = set() if project_modules is None else project_modules
        self.code_digests = {} if code_digests is None else code_digests
        self.module_sources = {} if module_sources is None else module_sources
        self.module_finder = module_finder
        self._pending_cache = [] if _pending_cache is None else _pending_cache
        self.partial, self.started_ns = partial, started_ns

    def save_code_cache(self) -> None:
        """Keep the compiled AssetFile for the next run (only once it has loaded cleanly), and
        from now on the digests of the modules fingerprinting reads from their files."""
        if self.module_finder is not None:
            self.module_finder.keep_on_disk()
        pending, self._pending_cache = self._pending_cache, []
        for cache_file, payload in pending:
            _keep(cache_file, payload)

    def keep_compiled(self) -> None:
        """Keep the whole AssetFile compiled beside it (``compiled.beside_file``), as Python
        keeps a module's bytecode when any command imports it: every command that compiled it
        calls this once the project is valid. A build that compiled only a slice (an edited
        function) keeps no whole file, so each later read command (``list``, ``why``, each UI
        page: several loads) compiled the whole file again. What goes into the cache directory
        waits for a build (``save_code_cache``): only a build makes or writes to one."""
        beside = beside_file(self.path)
        pending, self._pending_cache = self._pending_cache, []
        for cache_file, payload in pending:
            if cache_file == beside:
                _keep(cache_file, payload)
            else:
                self._pending_cache.append((cache_file, payload))

    def is_project_module(self, name: str) -> bool:
        """Whether ``name`` is the AssetFile or a project module it imported (a module imported
        later, by an asset, is found by ``module_finder``)."""
        return name == ASSETFILE_MODULE or name in self.project_modules

    def project_files(self) -> list[str]:
        """The AssetFile, every project module it imported or tried to, and every one
        fingerprinting has read from its file (imported inside an asset's function, which
        ``module_finder`` adds to ``module_sources``): what watch mode watches."""
        files = [str(self.path)]
        for name in sorted(self.project_modules):
            f = getattr(sys.modules.get(name), "__file__", None)
            if f:
                files.append(f)
        files.extend(sorted(set(self.module_sources) - set(files)))
        return files


def code_cache_names(cache_dir: Path) -> set[str]:
    """Names of the compiled AssetFiles kept in the cache directory."""
    try:
        return {n for n in os.listdir(cache_dir / "code") if not n.startswith(".")}
    except OSError:
        return set()


def prune_code_cache(cache_dir: Path, keep: Loaded, preexisting: set[str]) -> None:
    """Delete the compiled AssetFiles added since ``preexisting`` was listed, except ``keep``'s:
    a watch session that reloads for hours leaves one file behind, not one per save."""
    prefix = keep.source_digest[:40]
    for name in code_cache_names(cache_dir) - preexisting:
        if not name.startswith((prefix, MODULES_CACHE_PREFIX)):
            try:
                os.unlink(cache_dir / "code" / name)
            except OSError:
                pass


def find_assetfile(project_dir: Path, assetfile: str | os.PathLike[str] | None) -> Path:
    """The AssetFile to load: ``assetfile`` (relative to ``project_dir``), else the project's
    own. An entry of that name that is no file (a directory, a symlink loop, a dangling link, a
    FIFO) is said to be what it is: it was meant as the AssetFile, so no other is used."""
    if assetfile is not None:
        p = Path(assetfile)
        p = p if p.is_absolute() else project_dir / p
        if not p.is_file():
            raise DefinitionError(_unusable(p, ", not an AssetFile") if os.path.lexists(p)
                                  else f"no such AssetFile: {p}")
        return p
    p = project_dir / "AssetFile"
    if not p.is_file():
        if os.path.lexists(p):
            raise DefinitionError(_unusable(p, "; the AssetFile is a Python file"))
        raise ProjectNotFound(f"no AssetFile in {project_dir}",
                              api_hint="pass project_dir= to load another directory, or assetfile= to name the file",
                              cli_hint="use -C DIR to run in another directory, or -f FILE to name the file")
    return p


def _unusable(p: Path, directory_tail: str) -> str:
    """Why the entry ``p``, which exists but is no regular file (or cannot be reached), cannot
    be loaded as an AssetFile."""
    import errno
    import stat

    try:
        mode = os.stat(p).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"{p} is a symlink loop: it never leads to a file"
        if e.errno == errno.ENOENT and os.path.islink(p):
            return f"{p} is a dangling symlink: {os.readlink(p)} does not exist"
        return f"cannot read {p}: {e.strerror or e}"
    if stat.S_ISDIR(mode):
        return f"{p} is a directory{directory_tail}"
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"{p} is {kind}, not a file"


def _loading_error(exc: BaseException, path: Path, project_dir: Path) -> DefinitionError:
    import traceback

    root = os.path.join(str(project_dir), "")
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if f.filename == str(path) or
            (f.filename.startswith(root) and not _is_installed(f.filename))]
    where = user[-1] if user else None
    what = describe_exception(exc)
    if isinstance(exc, KeyboardInterrupt):  # (a real Ctrl-C never comes here: load_assetfile)
        what += " (raised without a Ctrl-C)"
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, SyntaxError) and exc.filename:  # in a module the AssetFile imports
        return DefinitionError(f"syntax error: {exc.msg}", file=exc.filename, line=exc.lineno,
                               detail=detail, excerpt=syntax_excerpt(exc))
    return DefinitionError(f"error while loading the AssetFile: {what}{_keyword_hint(exc)}",
                           file=where.filename if where else str(path),
                           line=where.lineno if where else None, detail=detail)


def _keyword_hint(exc: BaseException) -> str:
    """For ``@asset(grup="x")``: the keyword meant, or those the declaration takes."""
    import re

    if not isinstance(exc, TypeError):
        return ""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a subclass of the user's whose __str__ fails
        return ""
    m = re.fullmatch(r"(\w+)\(\) got an unexpected keyword argument '(\w+)'", text)
    if m is None or m.group(1) not in ("asset", "multi_asset", "source", "resource", "observable_source"):
        return ""
    import difflib
    import inspect

    from . import definitions, outs

    declare = getattr(outs if m.group(1) == "multi_asset" else definitions, m.group(1))
    takes = [p.name for p in inspect.signature(declare).parameters.values() if p.kind is p.KEYWORD_ONLY]
    near = difflib.get_close_matches(m.group(2), takes, n=1)
    return f" (did you mean {near[0]!r}?)" if near else f"; it takes {', '.join(takes)}"


def _keep(cache_file: Path, payload: bytes) -> None:
    """Write one file of compiled code (a cache we cannot write only costs time: a read-only
    project or cache directory); writing a slice prunes the old ones."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cache_file, payload)
    except OSError:
        return
    if cache_file.name.startswith(SLICE_CACHE_PREFIX):
        prune_slices(cache_file.parent)


def assetfile_digest(source: bytes) -> str:
    """``Loaded.source_digest`` of an AssetFile holding ``source`` (for this interpreter)."""
    return hashlib.sha256(source + TAG.encode()).hexdigest()


def load_assetfile(project_dir: Path, assetfile: str | os.PathLike[str] | None = None, *,
                   cache_dir: Path | None = None, wanted: frozenset[str] | None = None,
                   asset_defs: tuple[Any, ...] | None = None) -> Loaded:
    """Execute the AssetFile and collect its declarations. Call inside ``ProjectImports``.
    ``wanted``: declare only these of its assets (``definitions._wanted``); with ``asset_defs``
    (the digest of the AssetFile they were found in, its ``declarative.Facts.asset_defs``, and
    the check's digest), leave the definitions of the others out of what runs (``compiled.leaving_out``).

    Nothing is written: ``Loaded.keep_compiled()`` (beside the AssetFile, any command) and
    ``Loaded.save_code_cache()`` (the cache directory, a build) keep the compiled code once the
    caller has validated the definitions.
    """
    started = time.time_ns()
    path = find_assetfile(project_dir, assetfile)
    try:
        source = path.read_bytes()
    except OSError as e:  # no permission (a file another user made), or gone since it was found
        raise DefinitionError(f"cannot read {path}: {e.strerror or e}") from None
    digest = assetfile_digest(source)
    part = None
    if wanted is not None and asset_defs is not None and asset_defs[0] == digest:
        part = slice_compiled(path, source, digest, wanted, asset_defs, cache_dir)
    if part is not None:
        code, code_digests, keep_alive, pending = part
    else:
        code, code_digests, keep_alive, pending = compile_cached(path, source, digest, cache_dir)
    # (inside ProjectImports for this project, what is not ours was hidden as it began)
    forget_project_modules(project_dir, look=not (_ACTIVE and _ACTIVE[-1].root == str(project_dir)))
    module = types.ModuleType(ASSETFILE_MODULE)
    module.__file__ = str(path)
    module.__dict__["__builtins__"] = __builtins__
    collected: list[AssetDef | SourceDef | ObservableSourceDef | ResourceDef] = []
    previous = definitions._collector, definitions._wanted
    definitions._collector, definitions._wanted = collected, wanted
    try:
        with RealInterrupts() as interrupts:
            try:
                exec(code, module.__dict__)
            except BaseException as e:  # noqa: BLE001 - any failure of user code is a definition error
                if interrupts.seen:  # a real Ctrl-C or SIGTERM stops the command, whatever the code made of it
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    raise interrupts.interrupt() from e
                if isinstance(e, DefinitionError):
                    raise
                raise _loading_error(e, path, project_dir) from None
    finally:
        definitions._collector, definitions._wanted = previous
    module.__dict__["__assetbuild_code_objects__"] = keep_alive  # ids in code_digests stay valid
    modules = project_module_names(project_dir)
    # the code the load read: its modules, and each whose import it tried and that failed (an
    # optional one: in no sys.modules, yet what a fix of its file changes is the load)
    sources = {**dict(_COMPILED), **loaded_sources(modules)}
    _COMPILED.clear()  # what the AssetFile imported is what the keys are made from
    return Loaded(path=path, project_dir=project_dir, decls=collected, module=module,
                  source_digest=digest, project_modules=modules, code_digests=code_digests,
                  module_sources=sources, _pending_cache=pending, partial=part is not None,
                  module_finder=ProjectModuleFinder(project_dir, cache_dir, sources), started_ns=started)
