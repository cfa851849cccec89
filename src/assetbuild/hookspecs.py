"""The plugin interface. These docstrings are the plugin documentation (README "Plugin hooks").

A plugin is a module or object with functions marked ``@assetbuild.hookimpl``, named like the
specs below, taking any subset of their keyword arguments. Distributions expose plugins through
the entry-point group ``assetbuild``; the built-ins in ``assetbuild.builtin`` are registered the
same way. Arguments may be added to a hook in later versions, never renamed or removed.

The public plugin API is this module, ``assetbuild`` (``hookimpl``, the errors), ``assetbuild.io``
(the ``IOManager`` protocol), ``assetbuild.executor`` (the executor contract) and
``assetbuild.testing`` (contract test suites for a plugin's own tests); a plugin imports nothing
else of assetbuild.

A plugin module is imported on every run, ``assetbuild --help`` included: it imports heavy
libraries inside the functions that need them, never at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import pluggy

if TYPE_CHECKING:
    from .io import IOManager
    from .reports import AssetResult, BuildResult

hookspec = pluggy.HookspecMarker("assetbuild")
hookimpl = pluggy.HookimplMarker("assetbuild")


# --- registration hooks: contribute named things; results are merged --------------------------

@hookspec
def register_io_managers() -> list[IOManager]:  # type: ignore[empty-body]
    """Contribute IO managers: objects with ``name``, ``version``, ``dump(value) -> bytes`` and
    ``load(bytes) -> value`` (see ``assetbuild.io.IOManager``): the bytes live in the cache.

    A manager that keeps its data somewhere real (a table, a file tree, a bucket) has instead
    ``name``, ``io_version`` (the str that enters its assets' keys) and (see
    ``assetbuild.io.ExternalIOManager``):

    - ``handle_output(context, value) -> assetbuild.OutputInfo(data_version, metadata=None)``:
      writes the value and names what it wrote; the cache keeps only the trace, that data
      version and the metadata, and readers' keys use the data version (early cutoff). It runs
      where the asset's function runs (a worker process, a Dask worker).
    - ``load_input(context) -> value``: reads ``context.asset``'s data back for a reader
      (``context.reader``), where the reader runs; also ``load_value``/``show``.
    - ``version(context) -> str | None`` (optional): the data version of what is there now,
      None when it is gone. Called in the build's process whenever a build, ``status`` or
      ``-n`` would reuse a build of the asset: any other answer than the recorded version makes
      the asset stale (``output-modified``; ``output-missing`` for None) and it reruns, since
      the cache cannot restore that data. So a remote cache hit or an imported archive counts
      only where the data is already in place (a shared database); elsewhere the asset runs.

    ``context`` is an ``assetbuild.IOContext``: ``asset``, ``partition`` (None), ``params`` (the
    asset's resolved params), ``resources`` (the build's resources by name, made on first use;
    empty for ``version`` in ``status`` and ``why``, and for ``load_value``),
    ``project_dir``, ``log``, ``data_version`` (the recorded one, for ``load_input`` and
    ``version``) and ``add_metadata(dict)``. ``path=`` cannot be used with such a manager, nor
    ``Output(data_version=...)``.

    An IO manager may also have ``metadata(value) -> dict``: called after ``dump``, where the
    asset ran, with the value just stored; what it returns (plain JSON data: counts, column
    names, a small preview) is recorded with that materialization, merged under the asset's own
    metadata (``Output(metadata=...)``, ``context.add_metadata``), which wins on a clash. It
    should be cheap (it runs on every materialization); an exception, or a result that is not
    a dict, fails the asset with one line.

    Called once per session when the plugin manager is set up.

    :returns: a list of IO managers. Results of all plugins are merged; two managers with the
        same name are an error that names both plugins.

    Example: ``assetbuild.builtin.io_managers`` contributes ``pickle``, ``json``, ``text`` and
    ``bytes``; the ``assetbuild-pandas`` plugin contributes ``parquet`` and ``csv``, with
    metadata; the ``assetbuild-duckdb`` plugin contributes ``duckdb``, which keeps tables in a
    DuckDB file.
    """


@hookspec
def register_executors() -> list[type]:  # type: ignore[empty-body]
    """Contribute executors: where asset functions run (``--executor NAME``, ``[tool.assetbuild]
    executor``, ``@asset(executor=NAME)``).

    An executor is a class implementing ``assetbuild.executor.Executor``: attributes ``name``,
    a one-line ``description``, ``inline`` and ``options``; created once per build, on first
    use, with keyword arguments ``jobs``, ``project_dir``, ``project_modules`` and ``options``;
    ``submit(task, log=None)`` returns a ``concurrent.futures.Future`` of the task's
    ``Outcome`` (``task.run()``, or in a worker ``run_serialized(task.to_bytes())``), or of
    ``assetbuild.WorkerLost`` when its worker died; ``shutdown(cancel=False)`` ends it. The
    trace store never leaves the process that runs ``assetbuild``: tasks carry their inputs as
    stored bytes and return their outputs as bytes.

    Called once per session when the plugin manager is set up.

    :returns: a list of executor classes (``list[type[assetbuild.executor.Executor]]``; this
        module, a contract of the lowest layers, cannot name that type). Results of all
        plugins are merged; two executors with the same name are an error that names both
        plugins.

    Example: ``assetbuild.builtin.executors`` contributes ``serial``, ``threads`` and
    ``processes``; the ``assetbuild-dask`` plugin contributes ``dask``.
    """


class ExecutorFlag(NamedTuple):
    """A command-line option of ``assetbuild build`` and ``watch`` that sets an executor's option:
    ``FLAG VALUE`` means ``--executor-option OPTION=VALUE``, and ``--executor EXECUTOR`` unless
    another executor is named. ``flag`` is spelled ``--name``. (A named tuple, not a dataclass:
    this module is imported by every run, ``--help`` included.)"""

    flag: str
    executor: str
    option: str
    metavar: str = "VALUE"
    help: str = ""


@hookspec
def register_options() -> list[ExecutorFlag]:  # type: ignore[empty-body]
    """Contribute command-line options of ``build`` and ``watch`` (and of ``assetbuild`` without a
    command): shortcuts for an executor's options, shown by ``assetbuild --help``.

    Called on every run of the ``assetbuild`` command, before its arguments are parsed: the
    plugin's module must stay cheap to import (this hook runs for ``--help`` too).

    :returns: a list of ``ExecutorFlag``. A flag taken by assetbuild or by another plugin is an
        error naming the plugin.

    Example: the ``assetbuild-dask`` plugin contributes ``--dask-scheduler ADDRESS``
    (``--executor-option scheduler=ADDRESS``, and ``--executor dask``).

    Options rather than commands: what plugins add so far changes how ``build`` runs, and a
    declared flag needs neither click in the plugin nor an import of the command line.
    """


# --- build lifecycle: observe; every implementation runs ---------------------------------------

@hookspec
def before_build(project_dir: str, assets: list[str], dry_run: bool) -> None:
    """Called once before a build starts, after the AssetFile has loaded.

    :param project_dir: absolute path of the project directory.
    :param assets: the selected assets, in build order.
    :param dry_run: True when nothing will run or be written.
    """


@hookspec
def after_asset(result: AssetResult) -> None:
    """Called once per selected asset, when its outcome is known (built, cached, restored,
    failed or skipped); also once, before any asset's, for each observable source whose
    observation failed (a failed result whose ``metadata["kind"]`` is "observable_source").
    A skipped result with a ``skip_reason`` is no failure: the asset returned ``Skip`` (declared
    with ``output_required=False``), or an upstream did with no earlier value.

    :param result: an ``assetbuild.AssetResult``.
    """


@hookspec
def after_build(result: BuildResult) -> None:
    """Called once when a build ends, whether or not it succeeded.

    :param result: an ``assetbuild.BuildResult``.
    """


@hookspec
def asset_failed(result: AssetResult) -> None:
    """Called once for each asset that failed in a build (of any command: ``build``, ``watch``,
    ``run``), right after its ``after_asset``: an alert's hook, where ``after_asset`` sees every
    outcome. Not for a ``Skip``.

    :param result: an ``assetbuild.AssetResult`` with ``status == "failed"`` and its ``error``.
    """


@hookspec
def asset_overdue(asset: str, lag_s: float, overdue: bool) -> None:
    """Called by ``assetbuild run`` when an asset with a ``freshness`` policy becomes overdue
    (``overdue=True``, with its lag), and once more when it recovers (``overdue=False``, with
    ``lag_s`` 0.0): once per change, never on every tick. An implementation may take
    ``asset`` and ``lag_s`` only.

    :param asset: the asset (a partition's node, ``daily[2024-03-02]``).
    :param lag_s: seconds since the oldest change it does not include (upstream, or of its own:
        its code, env, params, a resource's version... since its latest build); for a change
        recorded later than now (a clock since set back), the most it can be: since its build.
    :param overdue: whether it is overdue now.
    """
