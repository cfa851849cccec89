"""Loading a project: the AssetFile, its graph, the plugins, and the checks that need them all.

``open_project`` is where every session verb starts; ``Project`` holds what it loaded (everything
but the store, which each verb opens as it needs: ``open_store``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..definitions import AssetDef, SourceDef
from ..errors import DefinitionError, DynamicKeyError, ProjectNotFound, StoreError
from ..external import check_settings
from ..graph import Graph, resolve
from ..io import is_external
from ..loader import Loaded, ProjectImports, load_assetfile, shadowing_files
from ..output import Reporter
from .aliases import check_outputs_through_symlinks, protected_paths, resolved_sources
from .distributions import DISTRIBUTIONS
from .located import project_root
from .turns import in_project_dir, loading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..partitions import PartitionEnv

CACHE_ENV = "ASSETBUILD_CACHE_DIR"


def resolve_cache_dir(project_dir: Path, cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir``, else $ASSETBUILD_CACHE_DIR, else ``.assetbuild`` in the project.

    StoreError (exit 2) for a directory that must not be a cache: the project directory or one
    above it, or a non-empty directory that is not an assetbuild cache (see ``check_cache_dir``).
    """
    from ..store import check_cache_dir

    chosen = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or None
    if chosen is None:
        p = project_dir / ".assetbuild"
    else:
        try:
            p = Path(chosen).expanduser()
        except RuntimeError:  # ~name of no user here (or ~ with no home): one line, not a traceback
            raise StoreError(f"the cache directory {str(chosen)!r} names a home directory that cannot be "
                             "found (no such user?); give a path") from None
        if not p.is_absolute():
            try:
                p = Path.cwd() / p
            except OSError as e:  # a working directory deleted (or moved) since
                raise ProjectNotFound(f"the working directory cannot be read ({e.strerror}), so the relative "
                                      f"cache directory {str(chosen)!r} is nowhere",
                                      api_hint="os.chdir to the project, or pass an absolute cache_dir=",
                                      cli_hint="cd to the project, or give an absolute --cache-dir") from None
    check_cache_dir(p, project_dir)
    return p


class Project:
    """A loaded, validated AssetFile with its plugins: everything but the store. ``executors``:
    name -> executor class; ``sliced``: loaded in part (``slicegraph.slice_of``), only the assets a
    build must decide, and as stand-ins the ones they read; the rest of the graph is the
    snapshot's. (A plain class, as ``execute``'s records.)"""

    __slots__ = ("project_dir", "cache_dir", "loaded", "graph", "io_managers", "plugin_manager", "reporter",
                 "executors", "sliced")

    def __init__(self, project_dir: Path, cache_dir: Path, loaded: Loaded, graph: Graph,
                 io_managers: dict[str, Any], plugin_manager: Any, reporter: Reporter,
                 executors: dict[str, Any] | None = None, sliced: dict[str, Any] | None = None) -> None:
        self.project_dir, self.cache_dir, self.loaded, self.graph = project_dir, cache_dir, loaded, graph
        self.io_managers, self.plugin_manager, self.reporter = io_managers, plugin_manager, reporter
        self.executors = {} if executors is None else executors
        self.sliced = sliced

    def fingerprinter(self, *, persist: bool = False, libraries: dict[str, str] | None = None) -> Any:
        """The project's fingerprinter. ``persist``: the map of import names to distributions
        may be written to the cache directory, and a library this process imported at another
        version than the one installed refuses the build (a build; status and dry runs write
        nothing: ``distributions.checked_version``). ``libraries``: filled with the versions keyed."""
        from ..fingerprint import Fingerprinter
        from .distributions import DISTRIBUTIONS, checked_version

        DISTRIBUTIONS.refresh()
        versions = checked_version(self.cache_dir, persist=persist, keyed=libraries)
        return Fingerprinter(is_project_module=self.loaded.is_project_module, distribution_version=versions,
                             project_dir=str(self.project_dir), code_digests=self.loaded.code_digests,
                             modules=self.loaded.module_finder)

    def code_of(self, fp: Any = None, *, quiet: bool = False) -> Any:
        """A function name -> (code digest or "v:"+code_version, parts), warning once per asset
        (``quiet``: not at all, for a look that a build's warnings follow: a tick's evaluation).
        A slice takes the fingerprints its snapshot kept (``codetable``): the code is proved
        as the build that made them found it, and that build printed no warning."""
        fp = fp or self.fingerprinter()
        warned: set[str] = set()
        by_asset: dict[str, tuple[str, dict[str, str]]] = {}  # a partitioned asset's, once for its partitions
        kept = (self.sliced or {}).get("codes") or {}

        def code(name: str) -> tuple[str, dict[str, str]]:
            found = kept.get(name)
            if found is not None:
                return found
            adef: AssetDef = self.graph.nodes[name]  # type: ignore[assignment]
            if adef.code_version is not None:
                return "v:" + adef.code_version, {}
            part = adef.partition
            if part is not None:
                done = by_asset.get(part.asset)
                if done is not None:
                    return done
                name = part.asset
            f = fp.fingerprint_function(adef.fn, name)
            if f.warnings and not quiet and name not in warned:
                warned.add(name)
                for w in f.warnings:
                    self.reporter.warn(w)
            if part is not None:
                by_asset[name] = (f.digest, f.parts)
            return f.digest, f.parts

        return code

    def claims(self) -> dict[str, str]:
        """Project-relative paths the project owns now -> whose they are, in words: its code
        (``code_files``), each asset's declared outputs (a directory one owns what lies in it)
        and each source. ``clean --orphans`` and dropped partitions delete what a removed
        asset wrote only where nothing here claims it (an asset renamed keeps its path). A path
        below a symlinked directory claims its resolved path too (``alias/a.json`` is ``out/a.json``)."""
        out = code_files(self.loaded, self.project_dir)
        for d in self.graph.nodes.values():
            if isinstance(d, SourceDef):
                out.setdefault(os.path.normpath(d.path).replace(os.sep, "/"), f"the source {d.name!r}")
            elif isinstance(d, AssetDef):
                for o in (d.outputs or (() if d.path is None else (d.path,))):
                    out.setdefault(o.rstrip("/"), f"an output of asset {d.name!r}")
        return _with_resolved(out, str(self.project_dir))

    def code_refs(self) -> Any:
        """Stored bytes -> the names of the project code they refer to (pickle references).

        The project's modules are those imported now (an asset may import one as it runs); the
        list is taken again only when ``sys.modules`` has grown or shrunk. And any other module
        under a top-level name the project's folders hold that the import would find there: one
        that a worker process imported, or an unpickling asset only while it ran.
        """
        from ..fingerprint.refs import pickle_code_refs
        from ..loader import project_module_names

        seen: list[Any] = [-1, frozenset()]
        tops: list[frozenset[str]] = []
        finder = self.loaded.module_finder

        def is_project(name: str) -> bool:
            return finder is not None and finder.locate(name).kind == "project"

        def code_refs(data: bytes) -> tuple[str, ...]:
            if data[:1] != b"\x80":  # not a pickle of protocol 2+: cannot name code
                return ()
            if seen[0] != len(sys.modules):
                seen[:] = [len(sys.modules), frozenset(project_module_names(self.project_dir))]
            if not tops:
                tops.append(_top_names(self.project_dir) if finder is not None else frozenset())
            return pickle_code_refs(data, seen[1], _module_namespace, tops=tops[0], is_project=is_project)

        return code_refs


def _with_resolved(claims: dict[str, str], root: str) -> dict[str, str]:
    """``claims`` and, for a path whose directory resolves elsewhere in the project (through a
    symlink), that path too: one realpath per directory."""
    dirs: dict[str, str] = {}
    for rel, what in list(claims.items()):
        parent, _, base = rel.rpartition("/")
        real = dirs.get(parent)
        if real is None:
            real = dirs[parent] = os.path.realpath(os.path.join(root, parent))
        if real != os.path.join(root, parent).rstrip(os.sep) and (real + os.sep).startswith(root + os.sep):
            claims.setdefault((real[len(root) + 1:].replace(os.sep, "/") + "/" + base).lstrip("/"), what)
    return claims


def _top_names(project_dir: Path) -> frozenset[str]:
    """The names a top-level import could find in the project's folders (the project directory,
    and each folder on ``sys.path`` inside it): its ``.py`` files and its folders, by name."""
    root = os.path.join(str(project_dir), "")
    out: set[str] = set()
    for folder in dict.fromkeys([str(project_dir), *(os.path.abspath(e or ".") for e in sys.path)]):
        if folder != str(project_dir) and not os.path.join(folder, "").startswith(root):
            continue
        try:
            with os.scandir(folder) as entries:
                for e in entries:
                    if e.name.endswith(".py") or (e.is_dir() and e.name not in ("__pycache__", "node_modules")):
                        out.add(e.name.removesuffix(".py"))
        except OSError:
            continue
    return frozenset(n for n in out if n.isidentifier())


def _module_namespace(name: str) -> Any:
    module = sys.modules.get(name)
    return vars(module) if module is not None else {}


def _distribution_version(top: str) -> str | None:
    """The version of the distribution providing import name ``top`` (see ``distributions``)."""
    from .distributions import DISTRIBUTIONS

    return DISTRIBUTIONS.version(top)


def code_files(loaded: Loaded, project_dir: Path) -> dict[str, str]:
    """The project's code inside the project directory, project-relative -> what it is: the
    AssetFile and the project modules it imported (no output may be one of them)."""
    out: dict[str, str] = {}
    for f in (str(loaded.path), *loaded.module_sources):
        try:
            rel = Path(os.path.realpath(f)).relative_to(project_dir).as_posix()
        except ValueError:
            continue
        out[rel] = "the AssetFile" if f == str(loaded.path) else f"the project module {rel}"
    return out


_REPOSITORY_FILES = ("/.git/", "/.hg/")  # a repository's own files (``clean`` never touches them either)


def _refuse_repository_files(name: str, path: str, how: str, d: AssetDef) -> None:
    """An output in ``.git`` or ``.hg`` would overwrite the repository's own files (its
    config, its objects): nothing a build makes belongs there."""
    inside = next((r.strip("/") for r in _REPOSITORY_FILES if r in f"/{path.rstrip('/')}/"), None)
    if inside is not None:
        raise DefinitionError(f"asset {name!r} writes {path}{how}, inside {inside}: the build would overwrite "
                              "the repository's own files", file=d.file, line=d.line)


def _name_max(directory: Path) -> int:
    """The longest file name, in bytes, the file system of ``directory`` allows (255, the common
    NAME_MAX, where it cannot be asked). One question for the whole project: a mount point
    inside it with a shorter limit is not seen."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):  # no pathconf (Windows), or no answer
        return 255


def _refuse_long_names(name: str, path: str, how: str, d: AssetDef, name_max: int) -> None:
    """A component of ``path`` longer than the file system allows: the build would run the
    function and then fail to write (``File name too long``); refuse it before anything runs."""
    for part in path.rstrip("/").split("/"):
        size = len(part.encode(errors="surrogateescape"))
        if size > name_max:
            raise DefinitionError(f"asset {shorten(name, 60)!r} writes {shorten(path, 60)}{how}: its name "
                                  f"{shorten(part, 30)!r} is {size} bytes, longer than the {name_max} the file "
                                  "system allows", file=d.file, line=d.line)


def shorten(text: str, most: int) -> str:
    """``text``, its middle elided when longer than ``most`` characters: a 300-character key
    named in a message leaves room for the rest of the line."""
    return text if len(text) <= most else f"{text[:most * 2 // 3]}...{text[-(most // 3):]}"


def _claim_location(places: dict[tuple[str, str], str], name: str, d: AssetDef, manager: Any) -> None:
    """Two assets whose data an external manager keeps in one place (its optional
    ``location(asset)``: DuckDB's table names ignore case, so ``Orders`` and ``orders`` are one
    table) would overwrite each other's data, and a reader of one would get the other's: a
    definition error naming both."""
    locate = getattr(manager, "location", None)
    if locate is None:
        return
    try:
        place = locate(name)
    except Exception as e:  # noqa: BLE001 - a plugin's method: one line naming it
        from ..errors import PluginError

        raise PluginError(f"IO manager {d.io!r}: location({name!r}) failed: {type(e).__name__}: {e}") from e
    other = places.setdefault((d.io, str(place)), name)
    if other != name:
        raise DefinitionError(f"assets {other!r} and {name!r} both keep their data in {place} (io={d.io!r}): "
                              "one would overwrite the other's; rename one of them", file=d.file, line=d.line)


def _validate(graph: Graph, io_managers: dict[str, Any], project_dir: Path, cache_dir: Path,
              code: dict[str, str] | None = None) -> None:
    """Checks that need the plugins or the file system layout: IO managers exist, output paths
    and the places external managers keep data in are distinct, are not sources, not the project's ``code`` (``code_files``), not inside a
    source directory and not inside the cache directory."""
    paths: dict[str, str] = {}
    outs: list[str] = []  # the outputs= entries, without a directory's '/'
    places: dict[tuple[str, str], str] = {}  # (io, an external manager's location) -> the asset there
    code = code or {}
    name_max = _name_max(project_dir)
    code_dirs = {"/".join(rel.split("/")[:i]) for rel in code for i in range(1, rel.count("/") + 1)}
    external = {n for n, m in io_managers.items() if is_external(m)}  # one test per manager, not per asset
    used: set[str] = set()  # the external managers the graph uses: each checks its settings (check_settings)
    source_paths = {os.path.normpath(d.path) for d in graph.nodes.values() if isinstance(d, SourceDef)}
    source_dirs = {os.path.normpath(os.path.join(project_dir, p)): p for p in source_paths}
    # a source that is the project directory or above it contains every output
    around = next((source_dirs[a] for a in (str(project_dir), *map(str, project_dir.parents))
                   if a in source_dirs), None)
    try:
        cache_rel: str | None = cache_dir.resolve().relative_to(project_dir).as_posix() + "/"
    except ValueError:
        cache_rel = None  # the cache is outside the project: no output can land in it
    for name in graph.order:
        d: AssetDef = graph.nodes[name]  # type: ignore[assignment]
        if d.io not in io_managers:
            known = ", ".join(sorted(io_managers))
            from ..plugins import plugin_hint

            raise DefinitionError(f"asset {name!r}: unknown IO manager {d.io!r} (known: {known}; "
                                  f"more come from plugins){plugin_hint(d.io)}", file=d.file, line=d.line)
        if d.producer is not None and d.io in external:
            raise DefinitionError(f"out {name!r} of multi-asset {d.producer!r}: io={d.io!r} writes its data "
                                  "itself, outside the cache, which the outs of a multi-asset cannot do yet; "
                                  "give this out an IO manager that stores bytes, or make it an @asset",
                                  file=d.file, line=d.line)
        if d.path is not None and d.io in external:
            raise DefinitionError(f"asset {name!r}: io={d.io!r} writes its data itself, outside the cache; "
                                  "path= writes stored bytes to a file, and there are none: remove path=",
                                  file=d.file, line=d.line)
        if d.io in external:
            _claim_location(places, name, d, io_managers[d.io])
            used.add(d.io)
        if d.path is not None:  # already normalised by @asset
            if d.path in paths:
                raise DefinitionError(f"assets {paths[d.path]!r} and {name!r} both write {d.path}",
                                      file=d.file, line=d.line)
            paths[d.path] = name
            if d.path in source_paths:
                raise DefinitionError(f"asset {name!r} writes {d.path}, which is a declared source",
                                      file=d.file, line=d.line)
            if d.path in code or d.path in code_dirs:
                what = code.get(d.path) or f"a directory holding {_code_inside(code, d.path)}"
                raise DefinitionError(f"asset {name!r} writes {d.path}, which is {what}: the build would "
                                      "overwrite the project's own code", file=d.file, line=d.line)
            # each build would change the source: a loop. Look up the output's ancestors (a few
            # lookups) rather than test every source (10,000 outputs x 500 sources = 5M tests).
            inside = around
            if inside is None:
                here = str(project_dir)
                for part in d.path.split("/")[:-1]:
                    here += os.sep + part
                    if here in source_dirs:
                        inside = source_dirs[here]
                        break
            if inside is not None:
                raise DefinitionError(f"asset {name!r} writes {d.path}, inside the declared source "
                                      f"directory {inside}", file=d.file, line=d.line)
            if cache_rel is not None and (d.path + "/").startswith(cache_rel):
                raise DefinitionError(f"asset {name!r} writes {d.path}, inside the cache directory",
                                      file=d.file, line=d.line)
            _refuse_repository_files(name, d.path, "", d)
            if len(d.path.encode(errors="surrogateescape")) > name_max:  # else no name in it can be too long
                _refuse_long_names(name, d.path, "", d, name_max)
        for out in d.outputs:  # a file the function writes itself (a directory ends with '/')
            bare = out.rstrip("/")
            outs.append(bare)
            if bare in code or (out.endswith("/") and bare in code_dirs):
                what = code.get(bare) or f"a directory holding {_code_inside(code, bare)}"
                raise DefinitionError(f"asset {name!r} writes {out} (outputs=), which is {what}: the build "
                                      "would overwrite the project's own code", file=d.file, line=d.line)
            if cache_rel is not None and (out.rstrip("/") + "/").startswith(cache_rel):
                raise DefinitionError(f"asset {name!r} writes {out} (outputs=), inside the cache directory",
                                      file=d.file, line=d.line)
            _refuse_repository_files(name, out, " (outputs=)", d)
            if len(out.encode(errors="surrogateescape")) > name_max:
                _refuse_long_names(name, out, " (outputs=)", d, name_max)
            if cache_rel is not None and cache_rel.startswith(out) and out.endswith("/"):
                raise DefinitionError(f"asset {name!r} writes the directory {out} (outputs=), which holds the "
                                      "cache directory: each build would remove the cache's files",
                                      file=d.file, line=d.line)
    for path, name in paths.items():  # a path is a file or a directory, not both (a few lookups each)
        parent = path
        while "/" in parent:
            parent = parent.rsplit("/", 1)[0]
            if parent in paths:
                d = graph.nodes[name]
                raise DefinitionError(f"asset {name!r} writes {path}, inside {parent}, which asset "
                                      f"{paths[parent]!r} writes as a file: declare paths that do not nest",
                                      file=d.file, line=d.line)
    sources = resolved_sources(source_dirs)
    protected, aliased = protected_paths(graph, project_dir, cache_dir, code, sources)
    check_outputs_through_symlinks(graph, project_dir, protected, aliased=aliased,
                                   parents={p.rpartition("/")[0] for p in (*paths, *outs)})
    _check_cache_outside_sources(cache_dir, sources)  # after the outputs: theirs is the finer message
    check_settings(io_managers, used, project_dir)


def _code_inside(code: dict[str, str], directory: str) -> str:
    """The first of the project's code files under ``directory``, in words."""
    rel = min((r for r in code if r.startswith(directory + "/")), default=directory)
    return code.get(rel, rel)


def _check_cache_outside_sources(cache_dir: Path, sources: list[tuple[str, str, str]]) -> None:
    """A cache directory inside a declared source (``resolved_sources``) changes that source on
    every build, so every build would rebuild its readers: refuse it (StoreError, exit 2)."""
    inside = {real: rel for _, real, rel in sources}
    inside.update((p, rel) for p, _, rel in sources)
    for where in (cache_dir.resolve(), *cache_dir.resolve().parents):
        rel = inside.get(str(where))
        if rel is not None:
            raise StoreError(f"the cache directory {cache_dir} is inside the declared source {rel}: every "
                             "build would change that source; use a cache directory outside it")


@contextmanager
def few_collections() -> Iterator[None]:
    """Fewer garbage collections while a project loads and while a build or look decides its
    assets: what exists already (modules, definitions, the graph) is frozen out of the
    collector's scans, and the youngest generation may hold 50,000 objects before a
    collection. A null build of 90,000 partitions
    makes a few objects per partition that all live to its end: with the default thresholds the
    collector rescans them again and again (a fifth of the loop's time, measured). Cyclic garbage
    an asset makes is still collected, later. Restored after, for the rest of the process."""
    import gc

    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(before[0], 50_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


@contextmanager
def open_project(project_dir: str | os.PathLike[str] = ".", *, assetfile: str | None = None,
                 cache_dir: str | os.PathLike[str] | None = None, reporter: Reporter | None = None,
                 plugin_manager: Any = None, sliced: dict[str, Any] | None = None,
                 dynamic: dict[str, list[str]] | None = None) -> Iterator[Project]:
    """Load and validate a project; its modules stay importable, and the project directory is
    the working directory (``in_project_dir``), until the block ends.

    Nothing is written but the compiled AssetFile beside it, in ``__pycache__`` (as Python keeps
    a module's bytecode: ``Loaded.keep_compiled``); a build saves it in the cache directory once
    the store has accepted it (``project.loaded.save_code_cache()``).

    ``sliced`` (``slicegraph.slice_of``): declare only its ``affected`` assets, and its
    ``frontier`` as stand-ins without inputs (``stand_in``); every source and resource. With
    its ``asset_defs`` (the snapshot's), the definitions of the other assets do not even run.

    ``dynamic``: the dynamic partition keys to use instead of the cache's (``partitions add`` and
    ``remove`` check the project as it will be). A key that makes the project invalid is named
    (``DynamicKeyError``), not the AssetFile line.
    """
    root = project_root(project_dir)
    cache = resolve_cache_dir(root, cache_dir)  # a relative cache_dir: from the caller's directory
    reporter = reporter or Reporter(verbosity=-2)
    if sliced is None:  # (an editable library edited while the project loads is refused; a slice keys none)
        DISTRIBUTIONS.sources.before_load(cache)
    with in_project_dir(root), ProjectImports(root):
        with few_collections():  # a function, a definition and a node per asset, all kept
            with loading():  # the loader collects declarations in a module global
                loaded = load_assetfile(root, assetfile, cache_dir=cache,
                                        wanted=None if sliced is None else frozenset(sliced["affected"] | sliced["frontier"]),
                                        asset_defs=None if sliced is None else sliced.get("asset_defs"))
            for entry, name in shadowing_files(root):
                reporter.warn(f"{entry} in the project has the name of the module {name!r}, which assetbuild "
                              f"imported first: `import {name}` gives that one in the build's process and "
                              f"yours in a worker process (-j), under the same key; rename {entry}")
            decls = loaded.decls
            if not decls and sliced is None:  # a slice declares only what it needs
                reporter.warn(f"{_shown(loaded.path, root)} declares no asset or source: a function is an asset "
                              "once decorated with @asset")
            if sliced is not None:
                frontier = sliced["frontier"]
                decls = [stand_in(d) if isinstance(d, AssetDef) and d.name in frontier else d for d in decls]
            declared = resolve(decls)
            if plugin_manager is None:
                from ..plugins import get_plugin_manager

                plugin_manager = get_plugin_manager()
            from ..plugins import collect_io_managers

            io_managers = collect_io_managers(plugin_manager)
            code = code_files(loaded, root)
            if declared.mappings or any(declared.nodes[n].partitions is not None for n in declared.order):  # type: ignore[union-attr]
                from ..store.records import project_id
                from .partition_env import partition_env

                env = partition_env(root, cache, project_id(loaded.path, cache))
                if dynamic is not None:
                    env.dynamic = dynamic

                def check(env: Any) -> Graph:
                    from ..partitioned import expand

                    graph = expand(declared, env)
                    _validate(graph, io_managers, root, cache, code)
                    return graph

                graph = blame_dynamic_keys(check, env)
            else:
                graph = declared
                _validate(graph, io_managers, root, cache, code)
        executors = _validated_executors(graph, plugin_manager)
        loaded.keep_compiled()
        yield Project(root, cache, loaded, graph, io_managers, plugin_manager, reporter, executors, sliced)


def blame_dynamic_keys(check: Callable[[PartitionEnv], Graph], env: PartitionEnv) -> Graph:
    """``check(env)``; when it fails (DefinitionError) but passes without the dynamic keys, the
    fault is a key's, not the AssetFile's: DynamicKeyError naming the first key, in the order
    of ``env.dynamic``, whose addition makes it fail (a binary search over the keys: a few
    more checks, and only when the project is invalid)."""
    from ..partitions import PartitionEnv

    try:
        return check(env)
    except DefinitionError as e:
        pairs = [(n, k) for n, keys in env.dynamic.items() for k in keys]

        def fails(count: int) -> bool:
            table: dict[str, list[str]] = {}
            for n, k in pairs[:count]:
                table.setdefault(n, []).append(k)
            try:
                check(PartitionEnv(env.now_ns, env.files, table))
            except DefinitionError:
                return True
            return False

        if not pairs or fails(0):
            raise
        good, bad = 0, len(pairs)  # without the keys from `bad` on it passes; with them it fails
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (good, mid) if fails(mid) else (mid, bad)
        name, key = pairs[bad - 1]
        raise DynamicKeyError(name, key, e.message) from None


def _shown(path: Path, root: Path) -> str:
    """The AssetFile as errors name it: relative to the project directory when inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def stand_in(d: AssetDef) -> AssetDef:
    """A frontier asset of a slice: its readers get its stored value, which the snapshot proves
    current; it is never decided (the scheduler's ``standins``), so it reads nothing."""
    import copy

    s = copy.copy(d)
    s.params, s.ins, s.deps = (), {}, ()
    return s


def _validated_executors(graph: Graph, plugin_manager: Any) -> dict[str, Any]:
    """The executors the plugins contribute; every ``@asset(executor=...)`` must name one."""
    from ..plugins import collect_executors

    executors = collect_executors(plugin_manager)
    declared = graph.declared or graph  # a partitioned asset once
    for name in declared.order:
        d: AssetDef = declared.nodes[name]  # type: ignore[assignment]
        if d.executor is not None and d.executor not in executors:
            known = ", ".join(sorted(executors))
            from ..plugins import plugin_hint

            raise DefinitionError(f"asset {name!r}: unknown executor {d.executor!r} (known: {known}; "
                                  f"more come from plugins){plugin_hint(d.executor)}", file=d.file, line=d.line)
    return executors


def open_store(project: Project, *, readonly: bool) -> Any:
    """The project's store (its cache directory, with its heads)."""
    from ..store import LmdbStore, project_id

    return LmdbStore(project.cache_dir, readonly=readonly, warn=project.reporter.warn,
                     project=project_id(project.loaded.path, project.cache_dir))


def waiting_warning(cache_dir: str | os.PathLike[str], warn: Callable[[str], object]) -> Callable[[], None]:
    """The ``on_wait`` of every command that takes the build lock (``acquire_lock``): one line
    saying that it waits, and for what, since a silent wait for a long build looks like a hang."""
    def on_wait() -> None:
        warn(f"another build or cache command is using {cache_dir}; waiting for it to finish")

    return on_wait
