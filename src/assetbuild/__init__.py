"""assetbuild: make/Bazel for Python data assets.

Declare assets in an AssetFile::

    from assetbuild import asset, source

    raw = source("raw", "data/raw.csv")

    @asset
    def rows(raw):              # a source arrives as a pathlib.Path
        return raw.read_text().splitlines()

    @asset(io="json", path="build/count.json")
    def count(rows):            # an asset's value arrives as the value
        return len(rows)

then run ``assetbuild``. Every public name is imported on first use (PEP 562): ``import
assetbuild`` costs nothing, an AssetFile pays for the declarations only, the engine (``build``,
``status``, ``why``, ``load_value``...) comes with the first call, and the null build's fast path
(``assetbuild.entry``, ``assetbuild.snapshot``) imports none of it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers take it as True)
if TYPE_CHECKING:
    from typing import Any

    from .definitions import (
        AssetContext,
        Observation,
        Output,
        ResourceContext,
        Skip,
        asset,
        observable_source,
        resource,
        source,
    )
    from .errors import (
        AcceptRefused,
        AssetbuildError,
        AssetFailed,
        CacheCorrupt,
        ConfigError,
        CycleError,
        DefinitionError,
        PluginError,
        ProjectNotFound,
        SelectionError,
        SourceMissing,
        SourceUnusable,
        StoreError,
        ValueNotFound,
        VersionGone,
        VersionTrimmed,
        WorkerLost,
    )
    from .hookspecs import hookimpl, hookspec
    from .io import IOContext, IOManager, OutputInfo
    from .mappings import AllPartitions, In, LastN, TimeWindow
    from .metadata import MetadataValue
    from .outs import Out, multi_asset
    from .partitions import (
        DailyPartitions,
        DynamicPartitions,
        FilePartitions,
        HourlyPartitions,
        MonthlyPartitions,
        StaticPartitions,
        WeeklyPartitions,
    )
    from .plugins import collect_executors, collect_io_managers, get_plugin_manager
    from .reports import AssetResult, AssetStatus, BuildResult, ObservationResult, Reason
    from .session import (
        accept,
        asset_log,
        asset_metric,
        build,
        cache_stats,
        clean,
        describe_graph,
        diff,
        export_cache,
        functions,
        gc,
        get_run,
        import_cache,
        list_assets,
        list_runs,
        list_ticks,
        load_metadata,
        load_value,
        observe,
        open_project,
        run_daemon,
        status,
        verify,
        watch_project,
        why,
    )

__version__ = "0.1.0"

# Each public name and the submodule it comes from, imported on first use.
_FROM = {
    "definitions": ("asset", "source", "observable_source", "Observation", "resource", "Output", "Skip",
                    "AssetContext", "ResourceContext"),
    "outs": ("Out", "multi_asset"),
    "session": ("build", "status", "why", "load_value", "load_metadata", "list_runs", "get_run", "asset_log",
                "asset_metric", "diff", "list_assets", "describe_graph", "clean", "functions", "open_project",
                "watch_project", "cache_stats", "gc", "verify", "export_cache", "import_cache", "observe",
                "accept", "run_daemon", "list_ticks"),
    "hookspecs": ("hookimpl", "hookspec"),
    "plugins": ("get_plugin_manager", "collect_io_managers", "collect_executors"),
    "errors": ("AssetbuildError", "DefinitionError", "CycleError", "AssetFailed", "StoreError", "CacheCorrupt",
               "PluginError", "SelectionError", "ValueNotFound", "VersionGone", "VersionTrimmed", "AcceptRefused",
               "SourceMissing", "ProjectNotFound", "SourceUnusable", "ConfigError", "WorkerLost"),
    "reports": ("BuildResult", "AssetResult", "AssetStatus", "Reason", "ObservationResult"),
    "metadata": ("MetadataValue",),
    "io": ("IOManager", "OutputInfo", "IOContext"),
    "partitions": ("StaticPartitions", "DailyPartitions", "HourlyPartitions", "WeeklyPartitions",
                   "MonthlyPartitions", "FilePartitions", "DynamicPartitions"),
    "mappings": ("In", "TimeWindow", "LastN", "AllPartitions"),
}
_LAZY = {name: module for module, names in _FROM.items() for name in names}
# Submodules reachable as attributes without their own import (``assetbuild.errors.CycleError``):
# those ``import assetbuild`` loaded when it was eager, and those whose names are declarations.
_SUBMODULES = frozenset({
    "definitions", "declared", "clock", "errors", "fanin", "outs", "partitions", "mappings", "metadata",
    "io", "reports", "hookspecs",
})

# Written out (not built from _FROM): type checkers and linters read it as it stands.
__all__ = [
    "__version__", "asset", "source", "observable_source", "Observation", "resource", "Output", "Skip",
    "AssetContext", "ResourceContext", "Out", "multi_asset", "build", "status", "why", "load_value",
    "load_metadata", "list_runs", "get_run", "asset_log", "asset_metric", "diff", "list_assets",
    "describe_graph", "clean", "functions", "open_project", "watch_project", "cache_stats", "gc", "verify",
    "export_cache", "import_cache", "observe", "accept", "run_daemon", "list_ticks", "hookimpl", "hookspec",
    "get_plugin_manager", "collect_io_managers", "collect_executors", "AssetbuildError", "DefinitionError",
    "CycleError", "AssetFailed", "StoreError", "CacheCorrupt", "PluginError", "SelectionError",
    "ValueNotFound", "VersionGone", "VersionTrimmed", "AcceptRefused", "SourceMissing", "ProjectNotFound",
    "SourceUnusable", "ConfigError", "WorkerLost", "BuildResult", "AssetResult", "AssetStatus", "Reason",
    "ObservationResult", "MetadataValue", "IOManager", "OutputInfo", "IOContext", "StaticPartitions", "DailyPartitions",
    "HourlyPartitions", "WeeklyPartitions", "MonthlyPartitions", "FilePartitions", "DynamicPartitions",
    "In", "TimeWindow", "LastN", "AllPartitions",
]


def __dir__() -> list[str]:
    """What ``dir(assetbuild)`` and completion list: the names imported on first use too."""
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str) -> Any:
    """A public name, imported from its submodule on first use and kept (the next use is a plain
    module attribute)."""
    import importlib

    mod = _LAZY.get(name)
    if mod is not None:
        value = getattr(importlib.import_module(f".{mod}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'assetbuild' has no attribute {name!r}")
    globals()[name] = value
    return value
