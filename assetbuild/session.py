"""The public Python API, and the one place that wires loader, graph, store, plugins and scheduler.

Every CLI command is a thin call into a function here, so tests and other tools get the same
behaviour without a subprocess::

    import assetbuild
    result = assetbuild.build(project_dir="myproject")
    assetbuild.status(project_dir="myproject")
    value = assetbuild.load_value("report", project_dir="myproject")
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .definitions import AssetDef, SourceDef
from .errors import AssetbuildError, ConfigError, DefinitionError, PluginError, StoreError, ValueNotFound
from .graph import Graph, resolve, select
from .keys import KeyParts, short
from .loader import Loaded, ProjectImports, code_cache_names, load_assetfile, prune_code_cache
from .output import Reporter
from .reports import AssetResult, AssetStatus, BuildResult, Reason, WatchCycle, WatchSummary

CACHE_ENV = "ASSETBUILD_CACHE_DIR"

# Builds in one process take turns: loading an AssetFile swaps modules in sys.modules, and the
# build lock of a cache directory is what keeps two builds' writes apart. (Across processes the
# build lock alone does it.)
_process_builds = threading.RLock()
_loading = threading.Lock()


def resolve_cache_dir(project_dir: Path, cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir``, else $ASSETBUILD_CACHE_DIR, else ``.assetbuild`` in the project.

    StoreError (exit 2) for a directory that must not be a cache: the project directory or one
    above it, or a non-empty directory that is not an assetbuild cache (see ``check_cache_dir``).
    """
    from .store import check_cache_dir

    chosen = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or None
    if chosen is None:
        p = project_dir / ".assetbuild"
    else:
        p = Path(chosen).expanduser()
        p = p if p.is_absolute() else (Path.cwd() / p)
    check_cache_dir(p, project_dir)
    return p


@dataclass
class Project:
    """A loaded, validated AssetFile with its plugins: everything but the store."""

    project_dir: Path
    cache_dir: Path
    loaded: Loaded
    graph: Graph
    io_managers: dict[str, Any]
    plugin_manager: Any
    reporter: Reporter
    executors: dict[str, Any] = field(default_factory=dict)  # name -> executor class

    def fingerprinter(self) -> Any:
        from .fingerprint import Fingerprinter

        return Fingerprinter(is_project_module=self.loaded.is_project_module,
                             distribution_version=_distribution_version,
                             project_dir=str(self.project_dir), code_digests=self.loaded.code_digests)

    def code_of(self, fp: Any = None) -> Any:
        """A function name -> (code digest or "v:"+code_version, parts), warning once per asset."""
        fp = fp or self.fingerprinter()
        warned: set[str] = set()

        def code(name: str) -> tuple[str, dict[str, str]]:
            adef: AssetDef = self.graph.nodes[name]  # type: ignore[assignment]
            if adef.code_version is not None:
                return "v:" + adef.code_version, {}
            f = fp.fingerprint_function(adef.fn, name)
            if f.warnings and name not in warned:
                warned.add(name)
                for w in f.warnings:
                    self.reporter.warn(w)
            return f.digest, f.parts

        return code

    def code_refs(self) -> Any:
        """Stored bytes -> the names of the project code they refer to (pickle references).

        The project's modules are those imported now (an asset may import one as it runs); the
        list is taken again only when ``sys.modules`` has grown or shrunk.
        """
        from .fingerprint.refs import pickle_code_refs
        from .loader import project_module_names

        seen: list[Any] = [-1, frozenset()]

        def code_refs(data: bytes) -> tuple[str, ...]:
            if data[:1] != b"\x80":  # not a pickle of protocol 2+: cannot name code
                return ()
            if seen[0] != len(sys.modules):
                seen[:] = [len(sys.modules), frozenset(project_module_names(self.project_dir))]
            return pickle_code_refs(data, seen[1], _module_namespace)

        return code_refs


def _module_namespace(name: str) -> Any:
    module = sys.modules.get(name)
    return vars(module) if module is not None else {}


_dist_cache: dict[str, str | None] = {}


def _distribution_version(top: str) -> str | None:
    if top in _dist_cache:
        return _dist_cache[top]
    version = getattr(sys.modules.get(top), "__version__", None)
    if not isinstance(version, str):
        from importlib import metadata

        try:
            version = metadata.version(top)
        except metadata.PackageNotFoundError:
            dists = metadata.packages_distributions().get(top) or []
            version = None
            for d in dists:
                try:
                    version = f"{d}=={metadata.version(d)}"
                    break
                except metadata.PackageNotFoundError:
                    continue
    _dist_cache[top] = version
    return version


def _validate(graph: Graph, io_managers: dict[str, Any], project_dir: Path, cache_dir: Path) -> None:
    """Checks that need the plugins or the file system layout: IO managers exist, output paths
    are distinct, are not sources, not inside a source directory and not inside the cache directory."""
    paths: dict[str, str] = {}
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
            raise DefinitionError(f"asset {name!r}: unknown IO manager {d.io!r} (known: {known}; "
                                  "more come from plugins)", file=d.file, line=d.line)
        if d.path is not None:  # already normalised by @asset
            if d.path in paths:
                raise DefinitionError(f"assets {paths[d.path]!r} and {name!r} both write {d.path}",
                                      file=d.file, line=d.line)
            paths[d.path] = name
            if d.path in source_paths:
                raise DefinitionError(f"asset {name!r} writes {d.path}, which is a declared source",
                                      file=d.file, line=d.line)
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
    _check_cache_outside_sources(cache_dir, source_dirs)  # after the outputs: theirs is the finer message


def _check_cache_outside_sources(cache_dir: Path, source_dirs: dict[str, str]) -> None:
    """A cache directory inside a declared source changes that source on every build, so
    every build would rebuild its readers: refuse it (StoreError, exit 2)."""
    sources = {os.path.realpath(p): rel for p, rel in source_dirs.items()}
    sources.update(source_dirs)
    for where in (cache_dir.resolve(), *cache_dir.resolve().parents):
        rel = sources.get(str(where))
        if rel is not None:
            raise StoreError(f"the cache directory {cache_dir} is inside the declared source {rel}: every "
                             "build would change that source; use a cache directory outside it")


@contextmanager
def open_project(project_dir: str | os.PathLike[str] = ".", *, assetfile: str | None = None,
                 cache_dir: str | os.PathLike[str] | None = None, reporter: Reporter | None = None,
                 plugin_manager: Any = None) -> Iterator[Project]:
    """Load and validate a project; its modules stay importable until the block ends.

    Nothing is written: a build saves the compiled AssetFile once the store has accepted the
    cache directory (``project.loaded.save_code_cache()``).
    """
    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise DefinitionError(f"no such project directory: {project_dir}")
    cache = resolve_cache_dir(root, cache_dir)
    reporter = reporter or Reporter(verbosity=-2)
    with ProjectImports(root):
        with _loading:  # the loader collects declarations in a module global
            loaded = load_assetfile(root, assetfile, cache_dir=cache)
        graph = resolve(loaded.decls)
        if plugin_manager is None:
            from .plugins import get_plugin_manager

            plugin_manager = get_plugin_manager()
        from .plugins import collect_io_managers

        io_managers = collect_io_managers(plugin_manager)
        _validate(graph, io_managers, root, cache)
        executors = _validated_executors(graph, plugin_manager)
        yield Project(root, cache, loaded, graph, io_managers, plugin_manager, reporter, executors)


def _validated_executors(graph: Graph, plugin_manager: Any) -> dict[str, Any]:
    """The executors the plugins contribute; every ``@asset(executor=...)`` must name one."""
    from .plugins import collect_executors

    executors = collect_executors(plugin_manager)
    for name in graph.order:
        d: AssetDef = graph.nodes[name]  # type: ignore[assignment]
        if d.executor is not None and d.executor not in executors:
            known = ", ".join(sorted(executors))
            raise DefinitionError(f"asset {name!r}: unknown executor {d.executor!r} (known: {known}; "
                                  "more come from plugins)", file=d.file, line=d.line)
    return executors


def _runner(project: Project, *, jobs: str | int | None, executor: str | None,
            executor_options: dict[str, str] | None, timeout: float | None = None) -> Any:
    """The executors of one build: -j and --executor, else [tool.assetbuild], else serial for
    -j 1 and processes for more. Time limits that cannot be enforced are refused here, before
    anything runs: an asset's ``timeout=`` on an executor that cannot stop it (DefinitionError),
    ``--timeout`` with such a default executor (ConfigError)."""
    from .config import execution_settings, timeout_setting
    from .executors import Runner, parse_jobs

    jobs, executor, options = execution_settings(project.project_dir, jobs=jobs, executor=executor,
                                                 options=executor_options)
    limit = timeout_setting(project.project_dir, timeout)
    n = parse_jobs(jobs)
    default = executor or ("serial" if n == 1 else "processes")
    runner = Runner(project.executors, default=default, jobs=n, project_dir=str(project.project_dir),
                    project_modules=project.loaded.project_modules, options=options,
                    make_logger=project.reporter.asset_logger, timeout=limit)
    if limit is not None:
        problem = runner.time_limit_problem(None)
        if problem is not None:
            raise ConfigError(f"--timeout: {problem}; use --executor processes")
    unlimited = []
    for name, d in project.graph.nodes.items():
        if not isinstance(d, AssetDef):
            continue
        problem = runner.time_limit_problem(d.executor)
        if problem is None:
            continue
        if d.timeout is not None:
            raise DefinitionError(f"asset {name!r} has timeout={d.timeout:g}, but {problem}"
                                  + ("" if d.executor else "; use --executor processes"),
                                  file=d.file, line=d.line)
        if limit is not None:
            unlimited.append(name)
    if unlimited:
        project.reporter.warn(f"--timeout does not apply to {', '.join(unlimited)}: "
                              f"{runner.time_limit_problem(project.graph.nodes[unlimited[0]].executor)}")
    return runner


class _Observer:
    """A build's one observer channel: the terminal reporter, and ``finished`` (the build's
    bookkeeping and the after_asset hook) for each result."""

    def __init__(self, reporter: Reporter, finished: Callable[[AssetResult], None] | None = None) -> None:
        self.reporter = reporter
        self.finished = finished

    def asset_started(self, name: str) -> None:
        self.reporter.asset_started(name)

    def asset_finished(self, result: AssetResult) -> None:
        if self.finished is not None:
            self.finished(result)

    def asset_logs(self, name: str, lines: list[tuple[int, str]]) -> None:
        log = self.reporter.asset_logger(name)  # lines a worker collected, replayed here
        for level, text in lines:
            log.log(level, "%s", text)

    def warning(self, message: str) -> None:
        self.reporter.warn(message)


def _scheduler(project: Project, store: Any, *, record: bool,
               on_result: Callable[[AssetResult], None] | None = None, runner: Any = None) -> Any:
    from .execute import Task
    from .scheduler import Scheduler
    from .workspace import Workspace

    project_dir = str(project.project_dir)

    def make_task(adef: AssetDef, args: dict[str, Any], inputs: list[Any], io: Any, context: bool) -> Task:
        return Task(adef.name, adef.fn, adef.io, io, args, inputs, context, project_dir,
                    timeout=runner.limit_of(adef) if runner is not None else None)

    fp = project.fingerprinter()
    return Scheduler(project.graph, store=store, files=Workspace(project.project_dir, store, record=record),
                     io_managers=project.io_managers, fingerprint=project.code_of(fp), runner=runner,
                     make_task=make_task, jobs=runner.jobs if runner is not None else 1,
                     observer=_Observer(project.reporter, on_result), code_files=project.loaded.module_sources,
                     code_refs=project.code_refs(), code_ref_digest=fp.fingerprint_reference)


def _call_hook(caller: Any, **kwargs: Any) -> Any:
    """Call a lifecycle hook; a plugin that raises becomes a PluginError naming the hook."""
    try:
        return caller(**kwargs)
    except Exception as e:  # noqa: BLE001 - plugin code: report it, with the traceback under -v
        plugins = ", ".join(impl.plugin_name for impl in caller.get_hookimpls())
        raise PluginError(f"a plugin failed in the {caller.name} hook ({plugins}): "
                          f"{type(e).__name__}: {e}") from e


def _open_store(project: Project, *, readonly: bool) -> Any:
    from .store import LmdbStore, project_id

    return LmdbStore(project.cache_dir, readonly=readonly, warn=project.reporter.warn,
                     project=project_id(project.loaded.path, project.cache_dir))


def _with_remote(project: Project, store: Any, remote: str | None, expected: int, fetch: bool = True,
                 **settings: Any) -> Any:
    """``store`` with the remote cache named by ``remote`` or $ASSETBUILD_REMOTE behind it, if any
    (``fetch=False``: records are looked up, nothing is downloaded or written: dry runs, status)."""
    if remote is None and not os.environ.get("ASSETBUILD_REMOTE"):
        return store  # no remote: fsspec is never imported
    from .remote import RemoteSettings, open_remote

    cfg = RemoteSettings.from_env(remote, **settings)
    if cfg is None:
        return store
    rep = project.reporter
    return open_remote(store, cfg, warn=rep.warn, note=rep.line if rep.verbosity > 0 and fetch else None,
                       expected=expected, fetch=fetch)


def build(assets: Sequence[str] = (), *, project_dir: str | os.PathLike[str] = ".",
          assetfile: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
          force: bool = False, keep_going: bool = False, dry_run: bool = False,
          reporter: Reporter | None = None, plugin_manager: Any = None,
          remote: str | None = None, remote_read_only: bool = False, trust_remote_unsigned: bool = False,
          remote_timeout: float | None = None, remote_options: dict[str, Any] | None = None,
          jobs: int | str | None = None, executor: str | None = None,
          executor_options: dict[str, str] | None = None, timeout: float | None = None) -> BuildResult:
    """Build ``assets`` (default: all) and everything upstream of them; return what happened.

    A failing asset does not raise: it is a result with status "failed" (``result.ok`` is False).
    Definition and store errors raise ``AssetbuildError`` subclasses; Ctrl-C ends the workers
    and raises KeyboardInterrupt (finished work is kept).

    ``jobs`` runs up to that many assets at once (``"auto"``: the CPUs this process may use);
    ``executor`` names where they run (``serial``, ``threads``, ``processes`` or a plugin's;
    default ``serial`` for one job, ``processes`` for more); both default to the project's
    ``[tool.assetbuild]`` settings. ``executor_options`` go to the executor (e.g. ``scheduler``
    for ``dask``).

    ``timeout`` (seconds; default: ``timeout`` in ``[tool.assetbuild]``) limits each asset's run
    time, except where the asset sets its own ``timeout=``: an asset that runs longer fails with
    "timed out after N s" and its worker is killed (with one job, timed assets run in a worker
    process; the ``threads`` executor cannot stop a running asset and refuses a timeout).

    ``remote`` (default: $ASSETBUILD_REMOTE) is a shared cache URL (``file://...``, ``s3://bucket/prefix``):
    local misses are looked up there and new outputs uploaded unless ``remote_read_only``;
    entries are signed and verified with $ASSETBUILD_CACHE_KEY (see the README, "Caching in CI").
    A dry run does not use it.
    """
    with _process_builds, open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir,
                                       reporter=reporter, plugin_manager=plugin_manager) as project:
        return _build_open(project, assets, force=force, keep_going=keep_going, dry_run=dry_run,
                           remote=remote, remote_read_only=remote_read_only,
                           trust_remote_unsigned=trust_remote_unsigned, remote_timeout=remote_timeout,
                           remote_options=remote_options, jobs=jobs, executor=executor,
                           executor_options=executor_options, timeout=timeout)


def _build_open(project: Project, assets: Sequence[str], *, force: bool = False, keep_going: bool = False,
                dry_run: bool = False, remote: str | None = None, remote_read_only: bool = False,
                trust_remote_unsigned: bool = False, remote_timeout: float | None = None,
                remote_options: dict[str, Any] | None = None, jobs: int | str | None = None,
                executor: str | None = None, executor_options: dict[str, str] | None = None,
                timeout: float | None = None) -> BuildResult:
    """``build`` on an open project (watch mode reads what to watch between loading and building).

    Executors live for this one build: watch mode's next build gets fresh workers, which import
    the project's modules as they are then."""
    plan = select(project.graph, assets)
    rep = project.reporter
    runner = _runner(project, jobs=jobs, executor=executor, executor_options=executor_options, timeout=timeout)
    clean_end = False
    store = _open_store(project, readonly=dry_run)
    store = _with_remote(project, store, remote, len(plan), fetch=not dry_run, read_only=remote_read_only,
                         trust_unsigned=trust_remote_unsigned, timeout=remote_timeout, options=remote_options)
    if not dry_run:
        runner.spool_dir = str(store.spool_dir())
    try:
        if not dry_run:
            project.loaded.save_code_cache()
            store.acquire_lock(on_wait=lambda: rep.warn(
                f"another build or cache command is using {project.cache_dir}; waiting for it to finish"))
        hook = project.plugin_manager.hook
        _call_hook(hook.before_build, project_dir=str(project.project_dir), assets=list(plan),
                   dry_run=dry_run)
        observe = bool(hook.after_asset.get_hookimpls())

        outcomes: dict[str, str] = {}

        def on_result(r: Any) -> None:
            rep.asset_finished(r, dry_run=dry_run)
            outcomes[r.asset] = r.status
            if not dry_run and len(outcomes) == len(plan):  # queued with the build's last writes
                _record_summary(store, outcomes)
            if observe:
                _call_hook(hook.after_asset, result=r)

        rep.build_started(plan, dry_run)
        sched = _scheduler(project, store, record=not dry_run, on_result=on_result, runner=runner)
        result = sched.build(plan, force=force, keep_going=keep_going, dry_run=dry_run)
        clean_end = True
        if not dry_run:
            _record_summary(store, {r.asset: r.status for r in result.results})
            store.flush()  # no-op unless the summary missed the scheduler's last batch
        rep.build_finished(result)
        _call_hook(hook.after_build, result=result)
        return result
    finally:
        runner.shutdown(cancel=not clean_end)  # Ctrl-C or an error: end running workers now
        store.close()


def _record_summary(store: Any, outcomes: dict[str, str]) -> None:
    """The last build's counts and hit rate for `cache stats`; written only when they changed,
    so a repeated null build still writes nothing."""
    from .cache import build_summary

    store.put_build_summary(build_summary(outcomes.values()))


def watch(assets: Sequence[str] = (), *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
          cache_dir: str | os.PathLike[str] | None = None, debounce_ms: float | None = None,
          reporter: Reporter | None = None, plugin_manager: Any = None, stop: threading.Event | None = None,
          on_cycle: Callable[[WatchCycle], object] | None = None, handle_signals: bool = False,
          polling: bool = False, **build_options: Any) -> WatchSummary:
    """Build, then rebuild after every change that counts, until ``stop`` is set (or Ctrl-C).

    Every cycle reloads the AssetFile (project modules imported afresh), so only assets whose keys
    changed run. Failures never end the loop: a failing asset is reported (keep-going), an
    AssetFile that does not load is reported and the next save retries. ``on_cycle`` sees each
    :class:`WatchCycle`; ``build_options`` go to every build (``force`` to the first only).
    ``handle_signals`` (main thread only): SIGINT and SIGTERM stop the loop, as in the CLI.
    """
    from .output import describe_error
    from .watch import DEFAULT_DEBOUNCE_MS, LoopState, Watcher, WatchSet, run_loop, stop_on_signals

    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise DefinitionError(f"no such project directory: {project_dir}")
    cache = resolve_cache_dir(root, cache_dir)
    rep = reporter or Reporter(verbosity=-2)
    rep.watching = True
    if plugin_manager is None:  # one for the whole session: plugins are not reloaded
        from .plugins import get_plugin_manager

        plugin_manager = get_plugin_manager()
    debounce = (DEFAULT_DEBOUNCE_MS if debounce_ms is None else debounce_ms) / 1000
    watcher = Watcher(root, cache, debounce_s=debounce, warn=rep.warn, polling=polling)
    state = LoopState(stop or threading.Event())
    assetfile_path = str(root / (assetfile or "AssetFile"))
    last = WatchSet(code_files=frozenset({assetfile_path}))
    counts = {"builds": 0, "failed": 0, "last_failed": False}
    force = bool(build_options.pop("force", False))
    code_cache_before = code_cache_names(cache)
    what = "the AssetFile does not load yet"
    build_options["keep_going"] = True

    def cycle(changed: list[str] | None) -> None:
        nonlocal last, force, what
        started, t0 = time.time(), time.perf_counter()
        result = error = None
        try:
            with _process_builds, open_project(root, assetfile=assetfile, cache_dir=cache, reporter=rep,
                                               plugin_manager=plugin_manager) as project:
                last = _watch_set(project)
                what = (f"{_plural(len(project.loaded.project_modules), 'module')}, "
                        f"{_plural(len(project.graph.sources), 'source')}")
                watcher.set_watch(last)  # before building: what this build writes is ignored
                result = _build_open(project, assets, force=force, **build_options)
                force = False
                prune_code_cache(cache, project.loaded, code_cache_before)
        except AssetbuildError as e:
            error = describe_error(e)
            watcher.set_watch(WatchSet(last.code_files | {assetfile_path}, last.sources, last.outputs,
                                       load_failed=True))
        c = WatchCycle(tuple(changed) if changed is not None else None, result, error, started,
                       time.perf_counter() - t0)
        failed = error is not None or (result is not None and not result.ok)
        counts["builds"] += 1
        counts["failed"] += failed
        rep.watch_cycle(c, always=counts["last_failed"])  # after a failure, say when it is over
        counts["last_failed"] = failed
        if changed is None:
            rep.watch_started(str(root), what)
        if on_cycle is not None:
            on_cycle(c)

    t_start = time.perf_counter()
    with stop_on_signals(state, watcher) if handle_signals else nullcontext():
        watcher.start()
        try:
            run_loop(watcher, cycle, state)
        finally:
            watcher.stop()
    summary = WatchSummary(counts["builds"], counts["failed"], time.perf_counter() - t_start,
                           state.signals[0] if state.signals else
                           ("KeyboardInterrupt" if state.interrupted else "stop"))
    rep.watch_stopped(summary)
    return summary


# The package exports ``watch`` under this name: ``assetbuild.watch`` is the module watch.py
# (importing a submodule sets the package attribute, which would hide a function of that name).
watch_project = watch


def _watch_set(project: Project) -> Any:
    """What watch mode watches after this load: code files, sources, and the outputs it writes."""
    from .watch import WatchSet

    root = project.project_dir
    sources, outputs = set(), set()
    for d in project.graph.nodes.values():
        if isinstance(d, SourceDef):
            p = os.path.normpath(os.path.join(root, d.path))
            sources.update((p, os.path.realpath(p)))  # a symlink's target changes too
        elif d.path is not None:
            outputs.add(os.path.join(root, d.path))
    return WatchSet(frozenset(project.loaded.project_files()), frozenset(sources), frozenset(outputs))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def status(assets: Sequence[str] = (), *, project_dir: str | os.PathLike[str] = ".",
           assetfile: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
           reporter: Reporter | None = None, remote: str | None = None, trust_remote_unsigned: bool = False,
           remote_timeout: float | None = None, remote_options: dict[str, Any] | None = None
           ) -> list[AssetStatus]:
    """Whether each selected asset is fresh, stale or missing, and why. Writes nothing.

    With a remote cache (``remote`` or $ASSETBUILD_REMOTE), an asset it has is stale or missing
    with reason ``remote`` (a build restores it without running it)."""
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir, reporter=reporter) as project:
        plan = select(project.graph, assets)
        store = _with_remote(project, _open_store(project, readonly=True), remote, len(plan), fetch=False,
                             trust_unsigned=trust_remote_unsigned, timeout=remote_timeout,
                             options=remote_options)
        try:
            return _scheduler(project, store, record=False).status(plan)
        finally:
            store.close()


def why(asset: str, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None, reporter: Reporter | None = None) -> dict[str, Any]:
    """One asset in detail: its state, what changed in its code parts and inputs since its last build."""
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir, reporter=reporter) as project:
        plan = select(project.graph, [asset])
        store = _open_store(project, readonly=True)
        try:
            sched = _scheduler(project, store, record=False)
            st = {s.asset: s for s in sched.status(plan)}[asset]
            head = store.get_head(asset)
            adef: AssetDef = project.graph.nodes[asset]  # type: ignore[assignment]
            code, parts = sched.fingerprint(asset)  # the same fingerprinter: one warning
            inputs = []
            old_inputs = dict(head.inputs) if head else {}
            for _, up in project.graph.inputs[asset]:
                new = sched.version_of(up)
                inputs.append({"name": up, "kind": "source" if up in sched.sources else "asset",
                               "old": old_inputs.get(up), "new": new,
                               "changed": old_inputs.get(up) != new})
            code_changes = []
            if head is not None:
                old_parts = head.code_parts
                for label in sorted(set(old_parts) | set(parts)):
                    o, n = old_parts.get(label), parts.get(label)
                    if o != n:
                        code_changes.append({"part": label, "old": o, "new": n})
            return {"asset": asset, "state": st.state, "reasons": [r.to_json() for r in st.reasons],
                    "file": adef.file, "line": adef.line, "code": code, "old_code": head.code if head else None,
                    "code_changes": code_changes, "inputs": inputs, "io": adef.io, "path": adef.path,
                    "last_built_ns": head.built_ns if head else None,
                    "last_key": head.key if head else None,
                    "history": len(store.history(asset))}
        finally:
            store.close()


def load_value(asset: str, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
               cache_dir: str | os.PathLike[str] | None = None) -> Any:
    """The latest stored value of ``asset`` (verified against its digest before it is loaded)."""
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        if asset not in project.graph.inputs:
            select(project.graph, [asset])  # raises a SelectionError with a suggestion
        store = _open_store(project, readonly=True)
        try:
            head = store.get_head(asset)
            if head is None:
                raise ValueNotFound(f"asset {asset!r} has never been built (run: assetbuild build {asset})")
            data = store.read_blob(head.output_digest)
            io_name = head.io.split("@", 1)[0]
            io = project.io_managers.get(io_name)
            if io is None:
                raise ValueNotFound(f"asset {asset!r} was stored with IO manager {io_name!r}, which is not installed")
            return io.load(data)
        finally:
            store.close()


def list_assets(*, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                cache_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every asset and source with its inputs and declared options, in build order."""
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        return _describe(project.graph)


def functions(*, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None
              ) -> dict[str, Any]:
    """The plain function behind every asset, by name: for unit tests (``functions()["inc"](1) == 2``)."""
    with open_project(project_dir, assetfile=assetfile) as project:
        return {name: project.graph.nodes[name].fn for name in project.graph.order}  # type: ignore[union-attr]


def _describe(graph: Graph) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in graph.sources:
        d: Any = graph.nodes[name]
        out.append({"name": name, "kind": "source", "path": d.path, "inputs": [],
                    "group": d.group, "description": d.description})
    for name in graph.order:
        a: Any = graph.nodes[name]
        out.append({"name": name, "kind": "asset", "inputs": graph.upstream(name), "io": a.io,
                    "path": a.path, "group": a.group,
                    "description": a.description or _first_line(a.fn.__doc__),
                    "code_version": a.code_version, "metadata": a.metadata, "file": a.file,
                    "line": a.line})
    return out


def _first_line(doc: str | None) -> str | None:
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def describe_graph(*, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                   cache_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Nodes and edges for ``assetbuild graph``."""
    return list_assets(project_dir=project_dir, assetfile=assetfile, cache_dir=cache_dir)


def clean(*, project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
          reporter: Reporter | None = None) -> Path:
    """Delete what assetbuild created in the project's cache directory (not its path outputs);
    returns the cache directory. Files assetbuild did not create there are kept, with a warning."""
    from .store import BuildRunning, clear_cache_dir, no_build_running

    root = Path(project_dir).resolve()
    cache = resolve_cache_dir(root, cache_dir)
    try:
        with no_build_running(cache):
            kept = clear_cache_dir(cache)
    except BuildRunning:
        raise StoreError(f"a build is running with {cache}; not deleting it") from None
    if kept and reporter is not None:
        names = ", ".join(str(p.relative_to(cache)) for p in kept[:5]) + (", ..." if len(kept) > 5 else "")
        reporter.warn(f"kept {len(kept)} {'entry' if len(kept) == 1 else 'entries'} of {cache} that assetbuild did not create: {names}")
    return cache


# --- the cache directory (assetbuild cache ...) ------------------------------------------------

@contextmanager
def _maintained_store(project_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None,
                      reporter: Reporter | None, *, create: bool = False,
                      assetfile: str | os.PathLike[str] | None = None) -> Iterator[Any]:
    """The cache's store under the build lock (waiting, like a build, for one that runs);
    None if there is no cache directory and ``create`` is false. Heads are those of the project
    whose AssetFile is ``assetfile`` (default: ./AssetFile, which need not exist)."""
    from .store import LmdbStore, project_id

    root = Path(project_dir).resolve()
    cache = resolve_cache_dir(root, cache_dir)
    rep = reporter or Reporter(verbosity=-2)
    if not create and not ((cache / "STORE").exists() or (cache / "db").is_dir()):
        yield None  # no cache here (or a directory that is not one): nothing to do, nothing created
        return
    store = LmdbStore(cache, warn=rep.warn, project=project_id(root / (assetfile or "AssetFile"), cache))
    try:
        store.acquire_lock(on_wait=lambda: rep.warn(f"another build or cache command is using {cache}; waiting for it to finish"))
        yield store
    finally:
        store.close()


def cache_stats(*, project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
                reporter: Reporter | None = None) -> dict[str, Any]:
    """Entries, bytes (inline, files, index) and the last build's hit rate. Writes nothing."""
    from .cache import stats
    from .store import LmdbStore

    cache = resolve_cache_dir(Path(project_dir).resolve(), cache_dir)
    rep = reporter or Reporter(verbosity=-2)
    with LmdbStore(cache, readonly=True, warn=rep.warn) as store:
        return stats(store)


def gc(*, max_size: int | None = None, older_than_days: float | None = None, dry_run: bool = False,
       project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
       reporter: Reporter | None = None) -> Any:
    """Drop least recently used entries no asset's latest build uses; sweep orphans; compact.

    Returns a ``GcReport`` (``.to_json()``). See ``assetbuild.cache.gc`` for the rules.
    """
    from .cache import GcReport
    from .cache import gc as collect

    with _maintained_store(project_dir, cache_dir, reporter) as store:
        if store is None:
            return GcReport(dry_run=dry_run)
        older = None if older_than_days is None else older_than_days * 86400
        return collect(store, max_size=max_size, older_than_s=older, dry_run=dry_run)


def verify(*, project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
           reporter: Reporter | None = None) -> Any:
    """Re-hash every stored blob; drop corrupt ones and the entries using them. ``.ok`` is False
    if anything was corrupt or missing."""
    from .cache import VerifyReport
    from .cache import verify as check
    from .store import LmdbStore

    cache = resolve_cache_dir(Path(project_dir).resolve(), cache_dir)
    if cache.is_dir() and not os.access(cache, os.W_OK):  # a read-only mount, another user's cache
        rep = reporter or Reporter(verbosity=-2)
        rep.warn(f"the cache directory {cache} is read-only: reporting only, nothing is dropped")
        with LmdbStore(cache, readonly=True, warn=rep.warn) as store:
            return check(store)
    with _maintained_store(project_dir, cache_dir, reporter) as store:
        return VerifyReport() if store is None else check(store)


def export_cache(file: str | os.PathLike[str], assets: Sequence[str] = (), *,
                 project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 reporter: Reporter | None = None) -> dict[str, Any]:
    """Write the latest entries of ``assets`` and everything upstream (default: all) to a tar file."""
    from .cache import export_archive

    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir, reporter=reporter) as project:
        plan = select(project.graph, assets)
        store = _open_store(project, readonly=True)
        try:
            stale = [s.asset for s in _scheduler(project, store, record=False).status(plan) if s.state != "fresh"]
            if stale:
                project.reporter.warn(f"{len(stale)} selected asset(s) are not up to date ({', '.join(stale[:5])}"
                                      f"{', ...' if len(stale) > 5 else ''}); exporting their latest builds "
                                      "(run assetbuild build first)")
            out = export_archive(store, plan, Path(file), warn=project.reporter.warn)
            out["stale"] = stale
            return out
        finally:
            store.close()


def import_cache(file: str | os.PathLike[str], *, project_dir: str | os.PathLike[str] = ".",
                 cache_dir: str | os.PathLike[str] | None = None, assetfile: str | None = None,
                 reporter: Reporter | None = None) -> dict[str, Any]:
    """Add the entries of an export archive to the cache, verifying every blob's digest."""
    from .cache import import_archive

    rep = reporter or Reporter(verbosity=-2)
    src = Path(file).resolve()
    if not src.is_file():
        raise StoreError(f"no such archive: {file}")
    with _maintained_store(project_dir, cache_dir, rep, create=True, assetfile=assetfile) as store:
        return import_archive(store, src, warn=rep.warn)


__all__ = ["build", "status", "why", "load_value", "list_assets", "describe_graph", "clean", "functions",
           "open_project", "Project", "resolve_cache_dir", "KeyParts", "Reason", "short",
           "cache_stats", "gc", "verify", "export_cache", "import_cache",
           "watch", "watch_project"]


def remote_key_pair(*, from_env: bool = False) -> dict[str, str | None]:
    """A new Ed25519 key pair for the remote cache: ``{"signing_key": ..., "trusted_key": ...}``
    in the formats of $ASSETBUILD_CACHE_SIGNING_KEY and $ASSETBUILD_CACHE_TRUSTED_KEYS.

    ``from_env``: no new pair, the public key of the signing key in the environment
    (``signing_key`` is then None: a secret is never printed back).
    """
    from .remote import SIGNING_KEY_ENV, generate_key_pair, public_key_text

    if not from_env:
        signing, trusted = generate_key_pair()
        return {"signing_key": signing, "trusted_key": trusted}
    text = os.environ.get(SIGNING_KEY_ENV, "").strip()
    if not text:
        raise ConfigError(f"{SIGNING_KEY_ENV} is not set")
    return {"signing_key": None, "trusted_key": public_key_text(text)}

