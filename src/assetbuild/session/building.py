"""Building: the options of a build, the executors, scheduler and remote cache it is wired to,
and ``build`` itself (also each cycle of watch mode, through ``build_project``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..definitions import AssetDef
from ..errors import AssetbuildError, ConfigError, DefinitionError, PluginError, SliceInsufficient
from ..graph import select
from ..output import Reporter
from ..reports import AssetResult, BuildResult, ObservationResult, Reason
from ..wording import words
from .arguments import verb
from .observer import BuildObserver, declared_secrets
from .options import BuildOptions, RemoteOptions
from .project import Project, few_collections, open_project, open_store, waiting_warning
from .resourcing import BuildResources
from .turns import process_turn


def _runner(project: Project, options: BuildOptions) -> Any:
    """The executors of one build: -j and --executor, else [tool.assetbuild], else serial for
    -j 1 and processes for more. Time limits that cannot be enforced are refused here, before
    anything runs: an asset's ``timeout=`` on an executor that cannot stop it (DefinitionError),
    ``--timeout`` with such a default executor (ConfigError)."""
    from ..config import check_settings, execution_settings, timeout_setting, unknown_settings
    from ..executors import parse_jobs
    from ..runner import Runner

    check_settings(project.project_dir)  # (gc's and run's: refused by the build, as its own are)
    unknown = unknown_settings(project.project_dir)
    if unknown:
        project.reporter.warn(unknown)
    jobs, executor, executor_options = execution_settings(project.project_dir, jobs=options.jobs,
                                                          executor=options.executor,
                                                          options=options.executor_options,
                                                          executors=project.executors)
    limit = timeout_setting(project.project_dir, options.timeout)
    limit_from = words("--timeout", "timeout=") if options.timeout is not None else "timeout in pyproject.toml [tool.assetbuild]"
    processes = words("; use --executor processes", "; use executor='processes'")
    n = parse_jobs(jobs)
    default = executor or ("serial" if n == 1 else "processes")
    if default not in project.executors:  # named by --executor, or by pyproject.toml (then said)
        from ..plugins import plugin_hint

        where = f"{project.project_dir / 'pyproject.toml'} [tool.assetbuild]: " if options.executor is None else ""
        raise ConfigError(f"{where}unknown executor {default!r} (known: {', '.join(sorted(project.executors))}; "
                          f"more come from plugins){plugin_hint(default)}")
    runner = Runner(project.executors, default=default, jobs=n, project_dir=str(project.project_dir),
                    project_modules=project.loaded.project_modules, options=executor_options,
                    timeout=limit, warn=project.reporter.warn)  # make_logger: the build's observer (build_project)
    runner.auto = executor is None and isinstance(jobs, str) and jobs.strip().lower() == "auto"
    if limit is not None:
        problem = runner.time_limit_problem(None)
        if problem is not None:
            raise ConfigError(f"{limit_from}: {problem}{processes}")
    unlimited: list[AssetDef] = []
    for name, d in (project.graph.declared or project.graph).nodes.items():  # a partitioned asset once
        if not isinstance(d, AssetDef):
            continue
        problem = runner.time_limit_problem(d.executor)
        if problem is None:
            continue
        if d.timeout is not None:
            raise DefinitionError(f"asset {name!r} has timeout={d.timeout:g}, but {problem}"
                                  + ("" if d.executor else processes),
                                  file=d.file, line=d.line)
        if limit is not None:
            unlimited.append(d)
    if unlimited:
        project.reporter.warn(f"{limit_from} does not apply to {', '.join(d.name for d in unlimited)}: "
                              f"{runner.time_limit_problem(unlimited[0].executor)}")
    return runner


def project_params(project: Project, *, args: Sequence[str] = (), given: Any = None) -> dict[str, str]:
    """Asset -> the canonical JSON of its params for this build or look: the declared defaults,
    then ``[tool.assetbuild.params.ASSET]``, then ``--param`` items (``args``), then ``params=``
    (``given``); ConfigError for an override that names no declared param (see assetbuild.params)."""
    from ..config import params_table
    from ..params import resolve_params

    graph = project.graph
    declared = {}
    for name in graph.order:
        d = graph.nodes[name]
        defaults = d.param_defaults  # type: ignore[union-attr]
        if defaults:  # a multi-asset's params are set by its name: its outs share one run; a partition's by its asset's
            declared[d.producer or (d.partition.asset if d.partition is not None else name)] = defaults  # type: ignore[union-attr]
    table, where = params_table(project.project_dir)
    if not declared and table is None and not args and not given:
        return {}
    names: Any = graph.inputs
    if graph.producers or graph.partitioned:
        names = {n for n in graph.inputs if graph.nodes[n].producer is None  # type: ignore[union-attr]
                 and graph.nodes[n].partition is None} | set(graph.producers) | set(graph.partitioned)  # type: ignore[union-attr]
    owners = {out: (producer, "an out of multi-asset") for producer, outs in graph.producers.items() for out in outs}
    owners.update({node: (asset, "a partition of asset") for asset, pset in graph.partitioned.items()
                   for node in pset.nodes})
    resolved = resolve_params(declared, names, table=table, table_where=where, args=args, given=given,
                              owners=owners)
    for producer, outs in graph.producers.items():
        if producer in resolved:
            resolved.update(dict.fromkeys(outs, resolved[producer]))
    for asset, pset in graph.partitioned.items():
        if asset in resolved:
            resolved.update(dict.fromkeys(pset.nodes, resolved[asset]))
    return resolved


def make_scheduler(project: Project, store: Any, *, record: bool,
                   on_result: Callable[[AssetResult], None] | None = None, runner: Any = None,
                   observer: BuildObserver | None = None, params: dict[str, str] | None = None,
                   resources: Any = None, observations: Mapping[str, ObservationResult] | None = None
                   ) -> Any:
    """The scheduler of one build, or of a read-only look (status, why: ``record=False``, no runner).
    ``params`` (``project_params``; default: the declared ones and pyproject's) go to both the
    keys and the tasks: a function reads the values its key was made from. ``resources``: the
    build's ``BuildResources`` (its scope and overrides), if it has any. ``observations``: the
    observable sources' versions and values its assets read."""
    from ..execute import Task
    from ..external import OutputChecker
    from ..io import is_external
    from ..scheduler import Scheduler
    from ..sharedworkers import keyed_libraries, source_versions
    from ..snapshot import JOURNAL_FILE
    from ..workspace import Workspace

    project_dir = str(project.project_dir)
    resolved = project_params(project) if params is None else params

    uses = project.graph.uses

    def make_task(adef: AssetDef, args: dict[str, Any], inputs: list[Any], io: Any, context: bool) -> Task:
        task = Task(adef.name, adef.fn, adef.io, io, args, inputs, context, project_dir,
                    timeout=runner.limit_of(adef) if runner is not None else None,
                    params=resolved.get(adef.name, ""))
        if adef.code_version is None:  # what its key's code covers: the project code it may run
            reached = fp.modules_reached(adef.fn)
            task.code_modules = tuple(sorted(reached)) if reached is not None else None
        if runner is not None and not runner.same_machine(adef.executor):  # a worker with other libraries?
            task.libraries = keyed_libraries(fp, adef, libraries, sliced=project.sliced is not None)
            task.sources = source_versions(project.graph, adef.name, files, store)
        fan = project.graph.fan_in.get(adef.name)
        if fan:
            bound = project.graph.inputs[adef.name]
            task.fan_in = tuple((p, tuple(up for q, up in bound if q == p)) for p in fan)
            labels = project.graph.fan_labels.get(adef.name)
            if labels:  # partitions of an upstream: the dict's keys are partition keys
                task.fan_labels = labels
        if adef.partition is not None:
            task.partition = adef.partition
            for p in project.graph.absent.get(adef.name, ()):  # a mapping that names no partition
                task.args[p] = None
        if not adef.output_required:
            task.output_required = False
        if uses and resources is not None and adef.name in uses:
            task.resources = resources.for_asset(uses[adef.name])
            task.resource_scope = resources.scope
        external = [up for _, up, m, _ in inputs if is_external(m)]
        if external or is_external(io):  # its managers run in the task: they get params and resources
            task.input_params = {up: resolved.get(up, "") for up in external}
            if resources is not None and resources.defs:
                task.io_resources = resources.all()
                task.resource_scope = resources.scope
        return task

    checker = OutputChecker(project.io_managers, project_dir, params=lambda name: resolved.get(name, ""),
                            resources=resources.mapping() if resources is not None else None)

    libraries: dict[str, str] = {}  # each library the keys name, at the version they name
    fp = project.fingerprinter(persist=record, libraries=libraries)
    journal = os.path.join(str(project.cache_dir), JOURNAL_FILE) if record else None
    files = Workspace(project.project_dir, store, record=record, by_mtime=project.graph.mtime_paths, journal=journal)
    return Scheduler(project.graph, store=store, files=files,
                     io_managers=project.io_managers, fingerprint=project.code_of(fp), runner=runner,
                     make_task=make_task, jobs=runner.jobs if runner is not None else 1,
                     observer=observer or BuildObserver(project.reporter, on_result),
                     code_files=project.loaded.module_sources,
                     code_refs=project.code_refs(), code_ref_digest=fp.fingerprint_reference, params=resolved,
                     observations=observations, check_output=checker if checker.names else None)


def _call_hook(caller: Any, warn: Callable[[str], object] | None = None, /, **kwargs: Any) -> Any:
    """Call a lifecycle hook; a plugin that raises becomes a PluginError naming the hook, or with
    ``warn`` (a tick of ``run``) that line as a warning: the tick goes on and records what it did."""
    try:
        return caller(**kwargs)
    except Exception as e:  # noqa: BLE001 - plugin code: report it, with the traceback under -v
        plugins = ", ".join(impl.plugin_name for impl in caller.get_hookimpls())
        said = f"a plugin failed in the {caller.name} hook ({plugins}): {type(e).__name__}: {e}"
        if warn is None:
            raise PluginError(said) from e
        warn(said)
        return None


def with_remote(project: Project, store: Any, remote: RemoteOptions, expected: int, fetch: bool = True) -> Any:
    """``store`` with the remote cache named by ``remote.url`` or $ASSETBUILD_REMOTE behind it, if any
    (``fetch=False``: records are looked up, nothing is downloaded or written: dry runs, status)."""
    if remote.url is None and not os.environ.get("ASSETBUILD_REMOTE"):
        return store  # no remote: fsspec is never imported
    from ..remote import RemoteSettings, missing_library, open_remote

    cfg = RemoteSettings.from_env(remote.url, read_only=remote.read_only, trust_unsigned=remote.trust_unsigned,
                                  timeout=remote.timeout, options=remote.options)
    if cfg is None:
        return store
    rep = project.reporter
    missing = missing_library(cfg.url)
    if missing is not None:  # asked for by name: an error; inherited from the environment: local alone
        if remote.url is not None:
            store.close()  # the caller opened it for this build, which ends here
            raise ConfigError(f"the remote cache {cfg.shown} needs {missing}")
        rep.warn(f"the remote cache {cfg.shown} ($ASSETBUILD_REMOTE) needs {missing}; building with the local "
                 "cache alone")
        return store
    return open_remote(store, cfg, warn=rep.warn, note=rep.line if rep.verbosity > 0 and fetch else None,
                       expected=expected, fetch=fetch)


@verb
def build(assets: Sequence[str] = (), *, project_dir: str | os.PathLike[str] = ".",
          assetfile: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
          force: bool = False, keep_going: bool = False, dry_run: bool = False,
          reporter: Reporter | None = None, plugin_manager: Any = None,
          remote: str | os.PathLike[str] | None = None, remote_read_only: bool = False, trust_remote_unsigned: bool = False,
          remote_timeout: float | None = None, remote_options: dict[str, Any] | None = None,
          jobs: int | str | None = None, executor: str | None = None,
          executor_options: dict[str, str] | None = None, timeout: float | None = None,
          params: dict[str, Any] | None = None, param_args: Sequence[str] = (),
          resources: dict[str, Any] | None = None, force_upstream: bool = False, only: bool = False,
          exclude: Sequence[str] = (), partitions: str | Sequence[str] | None = None) -> BuildResult:
    """Build ``assets`` (default: all) and everything upstream of them; return what happened.

    ``assets`` is a selection (``x``, ``raw/*``, ``group:g``, ``+x``, ``x+``, ``+x+``; see the
    README, "Selecting assets"), less what ``exclude`` selects. ``force`` runs the selected assets even if
    up to date; ``force_upstream`` also what they need. ``only`` runs just the selected assets,
    against the stored values of their inputs, even stale ones (a later full build reconciles).

    Returns a ``BuildResult``: ``result.ok``, ``result.names("built")`` (or "cached",
    "restored", "failed", "skipped"), one ``AssetResult`` per asset in ``result.results`` (its
    ``status``, ``key``, ``data_version``, ``error``, ``traceback``, ``reasons``, ``logs``), and
    ``result.to_json()``, the document ``build --json`` prints. A failing asset does not raise:
    it is a result with status "failed" (``result.ok`` is False); ``keep_going`` builds on
    with everything that does not depend on it (``-k``), else the build stops at the first.
    Definition and store errors raise ``AssetbuildError`` subclasses; Ctrl-C ends the workers
    and raises KeyboardInterrupt (finished work is kept). ``dry_run`` runs nothing and writes
    nothing (observable sources are observed): each result says what a build would do
    (``metadata["would"]``) and why (``reasons``).

    Nothing is printed but warnings (to stderr) and what assets print; for the command line's
    lines, pass ``reporter=Reporter(verbosity=0)`` (``from assetbuild.output import Reporter``;
    1: verbose, -1: quiet).

    ``jobs`` runs up to that many assets at once (``"auto"``: the CPUs this process may use);
    ``executor`` names where they run (``serial``, ``threads``, ``processes`` or a plugin's;
    default ``serial`` for one job, ``processes`` for more); both default to the project's
    ``[tool.assetbuild]`` settings. ``executor_options`` go to the executor (e.g. ``scheduler``
    for ``dask``).

    ``timeout`` (seconds; default: ``timeout`` in ``[tool.assetbuild]``) limits each asset's run
    time, except where the asset sets its own ``timeout=``: an asset that runs longer fails with
    "timed out after N s" and its worker is killed (with one job, timed assets run in a worker
    process; the ``threads`` executor cannot stop a running asset and refuses a timeout).

    ``remote`` (default: $ASSETBUILD_REMOTE) is a shared cache URL (``file://...``, ``s3://bucket/prefix``,
    or a folder's path, a ``pathlib.Path`` too):
    local misses are looked up there and new outputs uploaded unless ``remote_read_only``;
    entries are signed and verified with $ASSETBUILD_CACHE_KEY (see the README, "Caching in CI");
    with no key set it is not used (a warning) unless ``trust_remote_unsigned``.
    ``remote_timeout`` (seconds) limits each request; ``remote_options`` go to the remote's
    client (e.g. ``{"endpoint_url": ...}`` for S3). A dry run does not use it.

    ``params`` overrides the params assets declare (``@asset(params=...)``) for this build:
    ``{"big_ones": {"threshold": 5}}``, over ``param_args`` (``--param`` items,
    ``"big_ones.threshold=5"``), over ``[tool.assetbuild.params.big_ones]`` in pyproject.toml,
    over the defaults. An unknown asset or key, or a value that is not JSON, is a ConfigError.

    ``resources`` replaces resources by name for this call (``{"warehouse": fake}``): the assets
    that use one receive that object itself (with process workers, a pickled copy), which is
    never created or torn down; keys do not change (a declared ``version=`` stays). An unknown
    name is a ConfigError.

    ``partitions`` builds only some partitions of the selected partitioned assets (of every
    partitioned asset without a selection): one key, ``"A..B"`` (inclusive, in key order) or
    ``"a,b,c"`` (a backfill), or a list of keys, taken exactly (``--partition KEY`` passes
    one). A key that does not exist is a SelectionError naming the nearest.
    """
    options = BuildOptions(force=force, keep_going=keep_going, dry_run=dry_run, jobs=jobs, executor=executor,
                           executor_options=executor_options, timeout=timeout, params=params,
                           param_args=tuple(param_args), resources=resources,
                           force_upstream=force_upstream, only=only,
                           partitions=partitions if partitions is None or isinstance(partitions, str) else tuple(partitions),
                           remote=RemoteOptions(url=remote, read_only=remote_read_only,
                                                trust_unsigned=trust_remote_unsigned, timeout=remote_timeout,
                                                options=remote_options))
    rep = reporter or Reporter(verbosity=-2)
    selection = [*assets, *(f"-{e}" for e in exclude)]
    from .intent import note_directories, take_slice

    note_directories(project_dir, selection, options)
    sliced = None if plugin_manager is not None else take_slice(project_dir, assetfile, cache_dir, selection, options)
    earlier = run = None
    if sliced is not None:  # only data changed: load the assets to decide, and what they read
        try:
            with rep.stdout_for_json(), process_turn(rep.warn), open_project(project_dir, reporter=rep, sliced=sliced) as project:
                return build_project(project, selection, options, recheck_keys=True)
        except SliceInsufficient as e:  # more is needed than the slice: the whole project, as any build
            earlier, run = e.done, e.run
    from .partitioning import with_keys_as_they_are

    def attempt(recheck: bool) -> BuildResult:
        with rep.stdout_for_json(), process_turn(rep.warn), open_project(project_dir, assetfile=assetfile,
                                                                         cache_dir=cache_dir, reporter=rep,
                                                                         plugin_manager=plugin_manager) as project:
            return build_project(project, selection, options, earlier=earlier, run=run, recheck_keys=recheck)

    return with_keys_as_they_are(attempt)


def build_project(project: Project, assets: Sequence[str], options: BuildOptions,
                  observed: Mapping[str, ObservationResult] | None = None,
                  earlier: Mapping[str, AssetResult] | None = None, run: Any = None,
                  recheck_keys: bool = False) -> BuildResult:
    """``build`` on an open project (watch mode reads what to watch between loading and building).
    ``observed``: observations already made for this build (watch mode's polls): not made again.
    ``earlier``: what this command ran before it started over (``SliceInsufficient``): those
    assets are found cached now, and reported, counted and recorded as that run left them;
    ``run``: the run that recorded them (its RunRecorder), which this build goes on.
    ``recheck_keys``: once it holds the build lock, KeysMoved if the dynamic partition keys are
    no longer those the graph was expanded with (the caller loads the project again).

    Executors live for this one build: watch mode's next build gets fresh workers, which import
    the project's modules as they are then."""
    if options.partitions is not None:
        from .partitioning import partition_nodes

        assets = partition_nodes(project.graph, assets, options.partitions)
    sliced = project.sliced
    plan = select(project.graph, assets, needs=not options.only) if sliced is None else sliced["graph"]["order"]
    rep = project.reporter
    dry_run = options.dry_run
    if options.only and not options.tick:
        rep.warn(f"{words('--only', 'only=True')}: {len(plan)} selected asset(s) run against the stored values of their inputs, "
                 "even stale ones; a full build reconciles")
    force: bool | set[str] = options.force or options.force_upstream
    if options.force and not options.force_upstream and assets:
        force = set(select(project.graph, assets, needs=False))  # the selected only, not what they need
    if options.forced and force is not True:
        force = (force or set()) | options.forced
    resources = (BuildResources(project, options.resources)  # IO managers may use any resource
                 if project.graph.uses or options.resources or project.graph.resources else None)
    runner = _runner(project, options)
    resolved = project_params(project, args=options.param_args, given=options.params)  # once: keys and tasks
    clean_end = False
    recorder = None
    exit_status = 2  # what the run's record says if the build ends early (_ended_status)
    store = open_store(project, readonly=dry_run)
    store = with_remote(project, store, options.remote, len(plan), fetch=not dry_run)
    if not dry_run:
        runner.spool_dir = str(store.spool_dir())
    runner.prepare(plan, lambda n: getattr(store.get_head(n), "duration_s", None), warm=not dry_run)
    snap = None  # the snapshot, used and written
    from .distributions import IMPORTED

    imported = IMPORTED.begin()  # the libraries an asset imports in this process: the versions keyed
    finished: list[Any] = []  # the results so far, and their run: what an interrupt carries (partial_result)
    ended: KeyboardInterrupt | None = None
    run_seq: int | None = None
    try:
        if not dry_run:
            project.loaded.save_code_cache()
            said = rep.said
            store.acquire_lock(on_wait=waiting_warning(project.cache_dir, rep.warn))
            rep.said = said  # (that it waited is no line of its results a null build after would print)
            if recheck_keys and project.graph.partitioned:  # (partitions add/remove went first: KeysMoved)
                from .partitioning import check_keys_unmoved

                check_keys_unmoved(project)
            store.spool_dir(sweep=True)  # what killed builds' workers left: before this build's start
            from .snapshots import recorder_for

            with few_collections():
                snap = recorder_for(project, assets, options)
        elif sliced is not None:  # a dry run of the slice: the assets it decides (it records nothing)
            from .snapshots import recorder_for

            snap = recorder_for(project, assets, options)
        if sliced is not None and (snap is None or snap.affected is None):
            raise SliceInsufficient("this build does not use the snapshot")
        hook = project.plugin_manager.hook
        warn = rep.warn if options.tick else None  # a broken plugin must not cost a tick its bookkeeping
        _call_hook(hook.before_build, warn, project_dir=str(project.project_dir), assets=list(plan), dry_run=dry_run)
        observe = bool(hook.after_asset.get_hookimpls())
        alert = bool(hook.asset_failed.get_hookimpls())

        outcomes: dict[str, str] = {}
        planned = frozenset(plan)
        others = 0  # outcomes beside the plan's: failed observations, inputs outside an --only plan built again
        recorded: list[int | None] = []  # the run's number, once recorded
        pending: set[str] = set()  # remote hits: the run is recorded at the end, with their reruns if any
        if not dry_run:
            from ..history import RunRecorder, command_line

            recorder = (RunRecorder(store, command_line(options.call_text(assets)), assets)
                        if run is None else run.going_on(store))

        def on_result(r: Any) -> None:
            """The result's event first, then its line: the event joins its head's batch however showing the line ends."""
            nonlocal recorder, others, run_seq
            shown = not (earlier and r.asset in earlier and r.status == "cached")
            if not shown:
                r = earlier[r.asset]  # (its line was shown then)
            if r.asset not in outcomes and r.asset not in planned:
                others += 1
            outcomes[r.asset] = r.status
            finished.append(r)
            if recorder is not None and r.status != "cached":  # a null build: no call per asset
                recorder.result(r)
            if shown:  # (should it raise, the run is recorded as the command ends: with its status)
                rep.asset_finished(r, dry_run=dry_run)
            if r.status == "restored" and any(x.code == "remote" for x in r.reasons):
                pending.add(r.asset)  # its bytes may not arrive intact: then it runs after the plan's last result
            if not dry_run and not pending and len(outcomes) == len(plan) + others:  # queued with the build's last writes
                _record_summary(store, outcomes)
                if recorder is not None:  # the run too: one transaction for the whole build
                    recorder.finish(1 if "failed" in outcomes.values() else 0, outcomes)
                    recorded.append(recorder.seq)
                    run_seq = recorder.seq
                    recorder = None
            if observe:
                _call_hook(hook.after_asset, warn, result=r)
            if alert and r.status == "failed":
                _call_hook(hook.asset_failed, warn, result=r)

        if options.partitions is not None:  # a backfill: its partitions are numbered [n/N], not what they need
            rep.backfill = frozenset(n for n in assets if n.endswith("]")).intersection(plan)  # (not --exclude's)
        if rep.live:  # the status line's ETA: how long each asset's latest build took
            rep.expected_of = lambda name: getattr(store.get_head(name), "duration_s", None)
        rep.build_started(plan, dry_run)
        def on_stored(r: Any) -> None:
            if recorder is not None:
                recorder.stored(r)

        observer = BuildObserver(rep, on_result, on_stored, declared_secrets(project.graph.nodes, os.environ))
        runner.make_logger = observer.live_logger
        from .observing import observe_for

        observations = observe_for(project, plan, store, record=not dry_run, given=observed)
        if recorder is not None and observations:
            recorder.observed(observations.values())
        from .partitioning import keys_changed

        unseen = keys_changed(project, store, plan, mark=not dry_run) if project.graph.partitioned else {}
        sched = make_scheduler(project, store, record=not dry_run, runner=runner, observer=observer,
                               params=resolved, resources=resources, observations=observations)
        if sliced is not None:
            sched.standins = frozenset(sliced["frontier"])
        from ..interrupts import noting_interrupts

        # few collections for the bookkeeping after the build too: it reads every head, and a
        # collection once the build's objects are unfrozen scans them all
        with few_collections(), noting_interrupts():
            if snap is None or snap.affected is None or snap.checking:
                result = observer.with_logs(sched.build(plan, force=force, keep_going=options.keep_going,
                                                        dry_run=dry_run, only=options.only,
                                                        forced_why=_scheduled(project, options.forced)))
            else:  # the snapshot holds for the rest: decided are what a changed data file reaches
                try:
                    result = snap.decide_slice(sched, plan, observer, keep_going=options.keep_going, dry_run=dry_run)
                except SliceInsufficient as e:  # the command's run goes on in the build that starts over
                    if recorder is not None and recorder.seq is not None:
                        store.flush()  # (what it recorded, committed: the whole build finds it cached)
                        e.run = recorder
                    recorder = None
                    raise
                outcomes.update((r.asset, r.status) for r in result.results)
            if earlier:
                result = replace(result, results=tuple(earlier[r.asset] if r.asset in earlier and r.status == "cached"
                                                       else r for r in result.results))
            clean_end = True
            if not dry_run:
                _record_summary(store, {r.asset: r.status for r in result.results})
                if recorder is not None:
                    exit_status = 0 if result.ok else 1
                    recorder.finish(exit_status, outcomes)
                    recorded.append(recorder.seq)
                    recorder = None
                if recorded and recorded[0] is not None:
                    result = replace(result, run=recorded[0])
                store.flush()  # no-op unless the summary missed the scheduler's last batch
                if unseen:
                    from .partitioning import drop_gone

                    drop_gone(project, store, unseen)
                from .orphans import forget_gone_left, notice_removed

                wrote = bool(recorded) and recorded[0] is not None
                if sliced is None:  # (a slice's asset names are the snapshot's: none removed)
                    notice_removed(project, store, sched.outputs.moved.noted, wrote=wrote)
                elif wrote:  # (nor any path changed: the notes of files deleted by hand only)
                    forget_gone_left(project.project_dir, store)
                if snap is not None:
                    snap.finish(result, store, sched, rep.said)
            elif unseen:  # -n says what the build would drop, and drops nothing
                from .partitioning import drop_gone_partitions, firsts

                drop_gone_partitions(project, store, firsts(project, unseen), dry_run=True)
            from .intent import check_dry_run, check_selection

            if dry_run:
                check_dry_run(project, assets, options, result)
            check_selection(project, assets, options, result)
        rep.build_finished(result)
        _call_hook(hook.after_build, warn, result=result)
        return result
    except BaseException as e:
        exit_status = _ended_status(e)
        if isinstance(e, KeyboardInterrupt):
            ended = e
        raise
    finally:
        IMPORTED.settle(imported)
        if snap is not None:
            snap.close()
        if recorder is not None:  # the build ended early: what it recorded stays, with its run
            try:
                recorder.finish(exit_status, outcomes)
                store.flush()
                run_seq = recorder.seq
            except Exception:  # noqa: BLE001 - the error that ended the build is the one to report
                pass
        if ended is not None:  # what finished before the signal, and its run: ``run`` records its tick with them
            ended.partial_result = BuildResult(tuple(finished), 0.0, run=run_seq)  # type: ignore[attr-defined]
        try:
            runner.shutdown(cancel=not clean_end)  # Ctrl-C or an error: end running workers now
        finally:  # the store first: a teardown is user code that may hang, or raise a real Ctrl-C
            store.close()
            if resources is not None:  # after the workers: nothing uses them any more
                resources.close()


def _ended_status(e: BaseException) -> int:
    """The exit status of the command a build ended by raising ``e``, as its run records it:
    what the CLI then exits with (130 Ctrl-C, 143 SIGTERM, an error's own status, a
    ``SystemExit``'s code; anything else is a bug, whose traceback exits 1)."""
    from ..interrupts import TERMINATED_STATUS, Terminated

    if isinstance(e, KeyboardInterrupt):
        return TERMINATED_STATUS if isinstance(e, Terminated) else 130
    if isinstance(e, AssetbuildError):
        return e.exit_status
    if isinstance(e, SystemExit):
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    return 1


def _record_summary(store: Any, outcomes: dict[str, str]) -> None:
    """The last build's counts and hit rate for `cache stats`; written only when they changed,
    and not by a build that ran and restored nothing: a null build answered by the snapshot
    writes nothing, and a null build of a selection (``assetbuild report``) between two of the
    whole project would otherwise change the index, and so refuse the next one's snapshot."""
    from ..reports import build_summary

    if any(s in ("built", "restored", "failed") for s in outcomes.values()):
        store.put_build_summary(build_summary(outcomes.values()))


def _scheduled(project: Project, due: frozenset[str]) -> dict[str, tuple[Reason, ...]]:
    """The reason a tick forces each asset whose schedule is due (not ``forced: --force``)."""
    from ..partitions import split_node

    out = {}
    for n in due:
        d = project.graph.nodes.get(split_node(n)[0])
        cron = f"{d.schedule} ({d.schedule_tz})" if getattr(d, "schedule", None) else "its schedule"
        out[n] = (Reason("scheduled", f"{cron} was due"),)
    return out

