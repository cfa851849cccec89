"""The public Python API, and the one place that wires loader, graph, store, plugins and scheduler.

Every CLI command is a thin call into a function here, so tests and other tools get the same
behaviour without a subprocess::

    import assetbuild
    result = assetbuild.build(project_dir="myproject")
    assetbuild.status(project_dir="myproject")
    value = assetbuild.load_value("report", project_dir="myproject")

The verbs are split by what they serve: ``project`` loads and validates a project, ``building``
builds it, ``observing`` observes its observable sources, ``queries`` answers read-only
questions, ``maintenance`` looks after the cache directory, ``watching`` rebuilds on every change.
"""

from __future__ import annotations

from ..keys import KeyParts, short
from ..reports import Reason
from .accepting import accept
from .building import BuildOptions, RemoteOptions, build
from .daemon import RunSummary, Tick, list_ticks, run
from .daemon import run as run_daemon  # the package's name for it: ``assetbuild.run_daemon``
from .history import asset_log, asset_metric, get_run, list_runs
from .maintenance import cache_stats, clean, export_cache, gc, import_cache, remote_key_pair, verify
from .observing import observe
from .project import CACHE_ENV, Project, open_project, resolve_cache_dir
from .queries import describe_graph, functions, list_assets, load_metadata, load_value, status, why
from .versions import diff
from .watching import watch, watch_project

__all__ = ["build", "status", "why", "load_value", "load_metadata", "list_assets", "describe_graph", "clean", "functions",
           "open_project", "Project", "resolve_cache_dir", "KeyParts", "Reason", "short",
           "cache_stats", "gc", "verify", "export_cache", "import_cache",
           "watch", "watch_project", "observe", "list_runs", "get_run", "asset_log", "asset_metric", "diff",
           "remote_key_pair", "accept", "CACHE_ENV", "BuildOptions", "RemoteOptions", "run", "run_daemon", "list_ticks",
           "Tick", "RunSummary"]
