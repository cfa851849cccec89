"""The plugin interface. These docstrings are the plugin documentation (README "Plugin hooks").

A plugin is a module or object with functions marked ``@assetbuild.hookimpl``, named like the
specs below, taking any subset of their keyword arguments. Distributions expose plugins through
the entry-point group ``assetbuild``; the built-ins in ``assetbuild.builtin`` are registered the
same way. Arguments may be added to a hook in later versions, never renamed or removed.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("assetbuild")
hookimpl = pluggy.HookimplMarker("assetbuild")


# --- registration hooks: contribute named things; results are merged --------------------------

@hookspec
def register_io_managers() -> list[Any]:  # type: ignore[empty-body]
    """Contribute IO managers: objects with ``name``, ``version``, ``dump(value) -> bytes`` and
    ``load(bytes) -> value`` (see ``assetbuild.io.IOManager``).

    Called once per session when the plugin manager is set up.

    :returns: a list of IO managers. Results of all plugins are merged; two managers with the
        same name are an error that names both plugins.

    Example: ``assetbuild.builtin.io_managers`` contributes ``pickle``, ``json``, ``text`` and ``bytes``.
    """


@hookspec
def register_executors() -> list[Any]:  # type: ignore[empty-body]
    """Contribute executors: where asset functions run (``--executor NAME``, ``[tool.assetbuild]
    executor``, ``@asset(executor=NAME)``).

    An executor is a class (or any callable) with attributes ``name`` (str), ``description``
    (one line), ``inline`` (bool: True if ``submit`` runs the task at once in the calling
    thread, like ``serial``) and ``options`` (dict: option name -> help, values given with
    ``--executor-option NAME=VALUE``). assetbuild creates it once per build, on first use, with
    keyword arguments ``jobs`` (int, the -j value), ``project_dir`` (str), ``project_modules``
    (frozenset of the names of the project's own modules: a worker that cannot import them, or
    outlives a build, gets them by value with ``assetbuild.execute.dump_task(task, by_value=...)``)
    and ``options`` (dict of str). The instance provides:

    - ``submit(task, log=None) -> concurrent.futures.Future``: run
      ``assetbuild.execute.run_task(task)`` (in another process: ``run_payload(dump_task(task))``)
      and resolve the future with its result. Raise ``assetbuild.errors.WorkerLost`` through the
      future when the worker running the task died (``isolated=True`` if the task alone is known
      to be the cause). Called from the build's main thread only; never more than ``jobs`` tasks
      are outstanding.
    - ``shutdown(cancel=False)``: end the workers; with ``cancel`` at once, abandoning running
      tasks (Ctrl-C, another asset failed).

    The trace store never leaves the process that runs ``assetbuild``: tasks carry their inputs
    as stored bytes and return their outputs as bytes.

    Called once per session when the plugin manager is set up.

    :returns: a list of executor classes. Results of all plugins are merged; two executors with
        the same name are an error that names both plugins.

    Example: ``assetbuild.builtin.executors`` contributes ``serial``, ``threads`` and
    ``processes``; the ``assetbuild-dask`` plugin contributes ``dask``.
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
def after_asset(result: Any) -> None:
    """Called once per selected asset, when its outcome is known (built, cached, restored,
    failed or skipped).

    :param result: an ``assetbuild.reports.AssetResult``.
    """


@hookspec
def after_build(result: Any) -> None:
    """Called once when a build ends, whether or not it succeeded.

    :param result: an ``assetbuild.reports.BuildResult``.
    """
