"""Watch mode: build, then reload the project and rebuild after every change that counts."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..definitions import AssetDef, SourceDef
from ..dirtree import symlinks_below
from ..errors import AssetbuildError, ProjectNotFound, SelectionError
from ..loader import code_cache_names, prune_code_cache, shadowing_files
from ..output import Reporter
from ..reports import WatchCycle, WatchSummary
from .arguments import verb
from .building import build_project
from .distributions import DISTRIBUTIONS
from .editable import reimporting
from .located import project_root
from .options import BuildOptions
from .partitioning import with_keys_as_they_are
from .polling import ObservationPoller
from .project import Project, open_project, resolve_cache_dir
from .turns import process_turn


@verb
def watch(assets: Sequence[str] = (), *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
          cache_dir: str | os.PathLike[str] | None = None, debounce_ms: float | None = None,
          reporter: Reporter | None = None, plugin_manager: Any = None, stop: threading.Event | None = None,
          on_cycle: Callable[[WatchCycle], object] | None = None, handle_signals: bool = False,
          polling: bool = False, **build_options: Any) -> WatchSummary:
    """Build, then rebuild after every change that counts, until ``stop`` is set (or Ctrl-C).

    Every cycle reloads the AssetFile (project modules imported afresh), so only assets whose keys
    changed run. Observable sources with a ``poll`` are observed again every ``poll`` seconds
    between builds, and a build follows when a version changed. Failures never end the loop: a failing asset is reported (keep-going), an
    AssetFile that does not load is reported and the next save retries. ``on_cycle`` sees each
    :class:`WatchCycle`; ``build_options`` go to every build (``force`` to the first only).
    ``handle_signals`` (main thread only): SIGINT and SIGTERM stop the loop, as in the CLI.
    """
    from ..clock import check_span
    from ..output import describe_error
    from ..watch import DEFAULT_DEBOUNCE_MS, LoopState, Watcher, WatchSet, run_loop, stop_on_signals

    if debounce_ms is not None:
        check_span(debounce_ms, "debounce_ms", "milliseconds", scale=0.001)
    root = project_root(project_dir)
    cache = resolve_cache_dir(root, cache_dir)
    rep = reporter or Reporter(verbosity=-2)
    rep.watching = True
    if plugin_manager is None:  # one for the whole session: plugins are not reloaded
        from ..plugins import get_plugin_manager

        plugin_manager = get_plugin_manager()
    debounce = (DEFAULT_DEBOUNCE_MS if debounce_ms is None else debounce_ms) / 1000
    watcher = Watcher(root, cache, debounce_s=debounce, warn=rep.warn, polling=polling)
    state = LoopState(stop or threading.Event())
    assetfile_path = str(root / (assetfile or "AssetFile"))
    last = WatchSet(code_files=_with_targets((assetfile_path, str(root / "pyproject.toml"))))
    watcher.set_watch(replace(last, load_failed=True))  # what the first load reads, before it knows more
    counts = {"builds": 0, "failed": 0, "last_failed": False, "interrupted": False}
    options = replace(BuildOptions.from_keywords(build_options, "watch_project"), keep_going=True)
    force = bool(options.force)
    code_cache_before = code_cache_names(cache)
    what = "the AssetFile does not load yet"
    poller = ObservationPoller(root)
    ours = set(sys.modules)  # imported before the project's code ran

    def cycle(changed: list[str] | None) -> None:
        nonlocal last, force, what
        started, t0 = time.time(), time.perf_counter()
        result = error = None
        loaded = False
        _forget_shadowed(root, ours)
        observed = poller.take()

        def attempt(recheck: bool) -> None:  # (again if the dynamic keys moved while it waited for the lock)
            nonlocal last, force, what, result, loaded
            with reimporting(DISTRIBUTIONS.sources), process_turn(), open_project(
                    root, assetfile=assetfile, cache_dir=cache, reporter=rep, plugin_manager=plugin_manager) as project:
                loaded = True
                last = _watch_set(project)
                what = (f"{_plural(len(project.loaded.project_modules), 'module')}, "
                        f"{_plural(len(project.graph.sources), 'source')}"
                        + (f", {_plural(len(project.graph.observable), 'observable source')}"
                           if project.graph.observable else ""))
                watcher.set_watch(last)  # before building: what this build writes is ignored
                result = build_project(project, assets, replace(options, force=force), observed=observed,
                                       recheck_keys=recheck)
                poller.after_build(project, result)
                force = False
                last = _watch_set(project)  # with the project modules fingerprinting first read
                watcher.set_watch(last)
                if last.library_dirs:
                    what += f", {_plural(len(last.library_dirs), 'editable library folder')}"
                prune_code_cache(cache, project.loaded, code_cache_before)

        try:
            with_keys_as_they_are(attempt)
        except KeyboardInterrupt:  # (or Terminated) the stop interrupted it: the summary says so
            counts["interrupted"] = True
            raise
        except AssetbuildError as e:
            if changed is None and isinstance(e, (SelectionError, ProjectNotFound)):  # a typo in the command
                raise  # (or the wrong directory), not in a file: a usage error, as for build
            error = describe_error(e)
            poller.after_failure(loaded=loaded)
            watcher.set_watch(replace(last, code_files=last.code_files | _with_targets((assetfile_path,)),
                                      load_failed=True))
        c = WatchCycle(tuple(changed) if changed is not None else None, result, error, started,
                       time.perf_counter() - t0)
        failed = error is not None or (result is not None and not result.ok)
        counts["builds"] += c.said(always=bool(counts["last_failed"]))  # (what the stop's line counts: the lines shown)
        counts["failed"] += failed
        rep.watch_cycle(c, always=bool(counts["last_failed"]))  # after a failure, say when it is over
        counts["last_failed"] = failed
        if changed is None:
            rep.watch_started(str(root), what)
        if on_cycle is not None:
            on_cycle(c)

    t_start = time.perf_counter()
    with stop_on_signals(state, watcher.wake) if handle_signals else nullcontext(), rep.stdout_for_json():
        watcher.start()
        try:
            run_loop(watcher, cycle, state, poller)
        finally:
            watcher.stop()
    summary = WatchSummary(counts["builds"], counts["failed"], time.perf_counter() - t_start,
                           state.signals[0] if state.signals else
                           ("KeyboardInterrupt" if state.interrupted else "stop"), bool(counts["interrupted"]))
    rep.watch_stopped(summary)
    return summary


# The package exports ``watch`` under this name: ``assetbuild.watch`` is the module watch.py
# (importing a submodule sets the package attribute, which would hide a function of that name).
watch_project = watch


def _watch_set(project: Project) -> Any:
    """What watch mode watches after this load: code files (and pyproject.toml, whose params and
    settings enter keys), sources, the outputs it writes, and the file of dynamic partition keys
    when an asset has dynamic partitions (``partitions add`` in another terminal adds work)."""
    from ..partitions import DynamicPartitions
    from ..watch import WatchSet
    from .partition_env import DYNAMIC_FILE, OLDER_FILE

    root = project.project_dir
    sources: set[str] = set()
    outputs: set[str] = set()
    for d in project.graph.nodes.values():
        if isinstance(d, SourceDef):
            target = _add_chain(sources, os.path.normpath(os.path.join(root, d.path)))  # (links: see _add_chain)
            if os.path.isdir(target):  # a symlink in a directory source: the version covers its target
                for link in symlinks_below(target):
                    _add_chain(sources, link)
        elif isinstance(d, AssetDef):
            if d.path is not None:
                outputs.add(os.path.join(root, d.path))
            outputs.update(os.path.normpath(os.path.join(root, o)) for o in d.outputs)  # (a directory: all below)
    for pset in project.graph.partitioned.values():  # a new file in a FilePartitions glob's directory
        directory = getattr(pset.definition, "directory", None)
        if directory is not None:
            sources.add(os.path.normpath(os.path.join(root, directory)))
    libraries = DISTRIBUTIONS.sources.roots  # editable libraries' folders: their source enters keys
    code = _with_targets((*project.loaded.project_files(), os.path.join(root, "pyproject.toml"),
                          *(f for f in libraries if not os.path.isdir(f))))
    dynamic = any(isinstance(p.definition, DynamicPartitions) for p in project.graph.partitioned.values())
    cache_files = _with_targets((str(project.cache_dir / DYNAMIC_FILE), str(project.cache_dir / OLDER_FILE))
                                ) if dynamic else frozenset()
    return WatchSet(code, frozenset(sources), frozenset(outputs), cache_files=cache_files,
                    library_dirs=frozenset(d for d in libraries if os.path.isdir(d)))


def _forget_shadowed(root: Path, ours: set[str]) -> None:
    """Drop from sys.modules each module an earlier load imported from elsewhere (``colorsys``)
    that a project file now shadows (``colorsys.py`` created since): the next load imports the
    project's, as a fresh process does. Modules assetbuild itself imported (``ours``) stay: a build
    in a fresh process has those too (and warns)."""
    for _entry, name in shadowing_files(root):
        if name not in ours:
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[loaded]


def _with_targets(files: Sequence[str]) -> frozenset[str]:
    """``files`` and, for those reached through symlinks, each link on the way and the final
    target (see ``_add_chain``)."""
    out: set[str] = set()
    for f in files:
        _add_chain(out, f)
    return frozenset(out)


_MAX_LINKS = 40  # (Linux's limit on the links one path resolves through)


def _add_chain(paths: set[str], path: str) -> str:
    """Add ``path`` to ``paths``, with every symlink met resolving it (the file itself, a folder
    on the way, a link a link points to) and the final target; return that target. An edit
    through a link (or of the target) changes the target, and the event names the target;
    re-pointing a link in the middle of a chain (``current -> releases/v2``) names that link.
    At most ``_MAX_LINKS`` links: a loop ends there."""
    paths.add(path)
    parts = path.split(os.sep)[::-1]  # still to resolve, next last
    here = os.sep if os.path.isabs(path) else ""
    hops = 0
    while parts:
        name = parts.pop()
        if name in ("", "."):
            continue
        if name == "..":
            here = os.path.dirname(here)
            continue
        step = os.path.join(here, name)
        try:
            target = os.readlink(step)
        except OSError:  # not a symlink, or missing: nothing to follow
            here = step
            continue
        paths.add(step)
        hops += 1
        if hops > _MAX_LINKS:
            return step
        if os.path.isabs(target):
            here = os.sep
        parts.extend(reversed(target.split(os.sep)))
    paths.add(here)
    return here


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"

