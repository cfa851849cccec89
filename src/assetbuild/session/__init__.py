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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..keys import KeyParts, short
    from ..reports import Reason
    from .accepting import accept
    from .building import build
    from .daemon import RunSummary, Tick, list_ticks, run
    from .daemon import run as run_daemon
    from .history import asset_log, asset_metric, get_run, list_runs
    from .maintenance import cache_stats, clean, export_cache, gc, import_cache, remote_key_pair, verify
    from .observing import observe
    from .options import BuildOptions, RemoteOptions
    from .project import CACHE_ENV, Project, open_project, resolve_cache_dir
    from .queries import describe_graph, functions, list_assets, load_metadata, load_value, status, why
    from .versions import diff
    from .watching import watch, watch_project

# Each name and the module it comes from, imported on first use: a build imports what building
# needs, not the daemon, the queries or the cache's maintenance (``..x``: outside the package).
_FROM = {
    "..keys": ("KeyParts", "short"), "..reports": ("Reason",), ".accepting": ("accept",),
    ".building": ("build",), ".options": ("BuildOptions", "RemoteOptions"),
    ".daemon": ("RunSummary", "Tick", "list_ticks", "run"),
    ".history": ("asset_log", "asset_metric", "get_run", "list_runs"),
    ".maintenance": ("cache_stats", "clean", "export_cache", "gc", "import_cache", "remote_key_pair", "verify"),
    ".observing": ("observe",), ".project": ("CACHE_ENV", "Project", "open_project", "resolve_cache_dir"),
    ".queries": ("describe_graph", "functions", "list_assets", "load_metadata", "load_value", "status", "why"),
    ".versions": ("diff",), ".watching": ("watch", "watch_project"),
}
_LAZY = {name: module for module, names in _FROM.items() for name in names}

__all__ = ["build", "status", "why", "load_value", "load_metadata", "list_assets", "describe_graph", "clean", "functions",
           "open_project", "Project", "resolve_cache_dir", "KeyParts", "Reason", "short",
           "cache_stats", "gc", "verify", "export_cache", "import_cache",
           "watch", "watch_project", "observe", "list_runs", "get_run", "asset_log", "asset_metric", "diff",
           "remote_key_pair", "accept", "CACHE_ENV", "BuildOptions", "RemoteOptions", "run", "run_daemon", "list_ticks",
           "Tick", "RunSummary"]


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "run_daemon"})


def __getattr__(name: str) -> Any:
    """A name of the API, imported from its module on first use and kept."""
    import importlib

    if name == "run_daemon":  # the package's name for the daemon's ``run``: ``assetbuild.run_daemon``
        value = importlib.import_module(".daemon", __name__).run
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif not name.startswith("_"):  # a module of the package as an attribute (``session.maintenance``)
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
