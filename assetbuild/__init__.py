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

then run ``assetbuild``. Importing this package is cheap (declarations only); the engine
(``build``, ``status``, ``why``, ``load_value``...) is imported on first use.
"""

from __future__ import annotations

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
from .outs import Out, multi_asset

__version__ = "0.1.0"

_LAZY = {
    "build": "session", "status": "session", "why": "session", "load_value": "session", "load_metadata": "session", "list_runs": "session", "get_run": "session", "asset_log": "session", "asset_metric": "session", "diff": "session",
    "list_assets": "session", "describe_graph": "session", "clean": "session", "functions": "session",
    "open_project": "session", "watch_project": "session",
    "cache_stats": "session", "gc": "session", "verify": "session", "export_cache": "session",
    "import_cache": "session", "observe": "session", "accept": "session",
    "run_daemon": "session", "list_ticks": "session",
    "hookimpl": "hookspecs", "hookspec": "hookspecs",
    "get_plugin_manager": "plugins", "collect_io_managers": "plugins", "collect_executors": "plugins",
    "AssetbuildError": "errors", "DefinitionError": "errors", "CycleError": "errors",
    "AssetFailed": "errors", "StoreError": "errors", "CacheCorrupt": "errors", "PluginError": "errors",
    "SelectionError": "errors", "ValueNotFound": "errors", "VersionGone": "errors", "AcceptRefused": "errors",
    "SourceMissing": "errors", "ProjectNotFound": "errors",
    "SourceUnusable": "errors", "ConfigError": "errors", "WorkerLost": "errors",
    "BuildResult": "reports", "AssetResult": "reports", "AssetStatus": "reports", "Reason": "reports",
    "ObservationResult": "reports", "MetadataValue": "metadata",
    "IOManager": "io", "OutputInfo": "io", "IOContext": "io",
    "StaticPartitions": "partitions", "DailyPartitions": "partitions", "HourlyPartitions": "partitions",
    "WeeklyPartitions": "partitions", "MonthlyPartitions": "partitions", "FilePartitions": "partitions",
    "DynamicPartitions": "partitions", "In": "mappings", "TimeWindow": "mappings", "LastN": "mappings",
    "AllPartitions": "mappings",
}

__all__ = ["asset", "multi_asset", "Out", "source", "observable_source", "Observation", "resource", "Output", "Skip",  # noqa: PLE0604
           "AssetContext",
           "ResourceContext", "__version__", *_LAZY]


def __dir__() -> list[str]:
    """What ``dir(assetbuild)`` and completion list: the names imported on first use too."""
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'assetbuild' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value
