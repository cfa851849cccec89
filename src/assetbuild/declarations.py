"""The names of assetbuild's API, as the declarative check (``declarative``) sorts them: the
declarations an AssetFile may call while it loads, and the engine, which a call at load would run
(a build, a read of the cache, plugins). tests/test_declarative.py keeps them in step with
``assetbuild.__all__``."""

from __future__ import annotations

DECLARATIONS = frozenset({
    "asset", "multi_asset", "Out", "source", "observable_source", "Observation", "resource", "Output",
    "Skip", "AssetContext", "ResourceContext", "__version__", "hookimpl", "hookspec",
    "AssetbuildError", "DefinitionError", "CycleError", "AssetFailed", "StoreError", "CacheCorrupt",
    "PluginError", "SelectionError", "ValueNotFound", "VersionGone", "VersionTrimmed", "AcceptRefused",
    "SourceMissing", "ProjectNotFound", "SourceUnusable", "ConfigError", "WorkerLost", "BuildResult",
    "AssetResult", "AssetStatus", "Reason", "ObservationResult", "MetadataValue", "IOManager", "OutputInfo",
    "IOContext", "StaticPartitions", "DailyPartitions", "HourlyPartitions", "WeeklyPartitions",
    "MonthlyPartitions", "FilePartitions", "DynamicPartitions", "In", "TimeWindow", "LastN",
    "AllPartitions",
})
ENGINE = frozenset({
    "build", "status", "why", "load_value", "load_metadata", "list_runs", "get_run", "asset_log",
    "asset_metric", "diff", "list_assets", "describe_graph", "clean", "functions", "open_project",
    "watch_project", "cache_stats", "gc", "verify", "export_cache", "import_cache", "observe", "accept",
    "run_daemon", "list_ticks", "get_plugin_manager", "collect_io_managers", "collect_executors",
})
# Submodules whose public names are the declarations above (``from assetbuild.partitions import
# DailyPartitions``, ``assetbuild.partitions.DailyPartitions``).
DECLARING_SUBMODULES = frozenset({
    "definitions", "outs", "partitions", "mappings", "metadata", "io", "errors", "reports", "hookspecs",
})
