"""IO managers that keep their data outside the cache (``handle_output``/``load_input``/``version``,
see ``assetbuild.io.ExternalIOManager``): the small record the cache stores instead of the
data, and the calls into such a manager.

The store's invariants stay those of every asset: a trace names a blob that the cache holds.
For an external manager that blob is a record, canonical JSON ``{"data_version": ...,
"external": <manager name>}``: equal data versions give equal bytes, and the data version the
trace records is the manager's own (not the record's digest), so readers' keys, early cutoff and
``version()`` checks all compare what the manager said it wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, PluginError, VersionGone, describe_exception
from .io import IOContext, is_external
from .partitions import split_node

if TYPE_CHECKING:
    import logging


LATEST = "latest"  # OutputChecker: the data in place is the asset's latest build's, under another key


def record_bytes(io_name: str, data_version: str) -> bytes:
    """The record the cache keeps for data an external manager wrote."""
    return json.dumps({"data_version": data_version, "external": io_name}, sort_keys=True,
                      separators=(",", ":")).encode()


def recorded_version(data: bytes) -> str:
    """The data version a record names (ValueError if ``data`` is not such a record)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not a record of external data: {e}") from None
    version = doc.get("data_version") if isinstance(doc, dict) else None
    if not isinstance(version, str):
        raise ValueError("not a record of external data")
    return version


def decoded_params(params: str) -> dict[str, Any]:
    return json.loads(params) if params else {}


def load_input(io: Any, up: str, data: bytes, *, reader: str, project_dir: str, log: Any,
               params: str = "", resources: Mapping[str, Any] | None = None) -> Any:
    """An upstream's value through its external manager: ``io.load_input`` with its context."""
    ctx = IOContext(up, Path(project_dir), log if log is not None else _logger(up), params=decoded_params(params),
                    resources=resources, data_version=recorded_version(data), reader=reader,
                    partition=split_node(up)[1])
    return io.load_input(ctx)


def load_recorded(io: Any, io_name: str, asset: str, data: bytes, *, what: str, project_dir: str,
                  params: str = "") -> Any:
    """The value a record names, for ``show`` and ``load_value``: ``what`` ("the stored value of
    'orders'", "version 0 of 'orders'") is loaded only when the manager's ``version`` finds the
    recorded data in place. Data edited where the manager keeps it is not the recorded value,
    and gone data is no value: either, or a manager that cannot check or load it, raises
    VersionGone (one line, exit status 1), never shows the edit as the value, nor a traceback."""
    recorded = recorded_version(data)
    ctx = IOContext(asset, Path(project_dir), _logger(asset), params=decoded_params(params), data_version=recorded,
                    reader="", partition=split_node(asset)[1])
    check = getattr(io, "version", None)
    if callable(check):  # a manager that cannot tell: trust the record, as the rebuilder does
        try:
            now = check(ctx)
        except Exception as e:  # noqa: BLE001 - the manager's code or its store: one line naming it
            raise VersionGone(f"{what} cannot be checked: io={io_name!r} could not tell the version of its data: "
                              f"{describe_exception(e)}") from e
        if now != recorded:
            why = (f"its data is gone from where io={io_name!r} keeps it" if now is None else
                   f"its data where io={io_name!r} keeps it was changed outside assetbuild")
            raise VersionGone(f"{what} is no longer there: {why} (assetbuild build {asset} rebuilds it)")
    try:
        return io.load_input(ctx)
    except Exception as e:  # noqa: BLE001 - the manager's code: one line naming it
        raise VersionGone(f"{what} cannot be loaded by io={io_name!r}: {describe_exception(e)}") from e


def check_settings(io_managers: Mapping[str, Any], used: set[str], project_dir: Path) -> None:
    """Each external manager the graph uses checks its settings, with its optional
    ``check_config(project_dir)``, before anything runs: a bad setting (``[tool.assetbuild.duckdb]
    path = 5``) is then a ConfigError (exit 2, one line) rather than every asset of the manager
    running and failing to write. Any other exception is the plugin's bug: a PluginError naming it."""
    for name in sorted(used):
        check = getattr(io_managers[name], "check_config", None)
        if not callable(check):
            continue
        try:
            check(project_dir)
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - a plugin's method: one line naming it
            raise PluginError(f"IO manager {name!r}: check_config() failed: {describe_exception(e)}") from e


class OutputChecker:
    """``version(context)`` of the external managers, for the rebuilder: whether the data an
    asset's reused build recorded is still there, unchanged. Runs in the build's process.

    ``names``: the IO managers it checks; calling it with (asset, io name, recorded data version)
    gives None (the data is as recorded) or (reason code, detail). ``latest``: the data version
    of the asset's latest build when that was under another key (its inputs or code went back
    to an earlier build's): data as that build left it is assetbuild's own write, not an edit,
    and gives (``LATEST``, detail), for the rebuilder to name what changed in the key instead."""

    def __init__(self, io_managers: Mapping[str, Any], project_dir: str, *,
                 params: Callable[[str], str] = lambda name: "",
                 resources: Mapping[str, Any] | None = None) -> None:
        self.io = {n: m for n, m in io_managers.items() if is_external(m)}
        self.names = frozenset(self.io)
        self.project_dir = Path(project_dir)
        self.params = params
        self.resources = resources

    def __call__(self, asset: str, io_name: str, recorded: str,
                 latest: str | None = None) -> tuple[str, str] | None:
        io = self.io[io_name]
        check = getattr(io, "version", None)
        if not callable(check):  # a manager that cannot tell: trust the record
            return None
        ctx = IOContext(asset, self.project_dir, _logger(asset), params=decoded_params(self.params(asset)),
                        resources=self.resources, data_version=recorded, partition=split_node(asset)[1])
        try:
            now = check(ctx)
        except Exception as e:  # noqa: BLE001 - a manager's bug or an unreachable store: rebuild, say why
            return "output-missing", f"io={io_name!r} could not check its data: {type(e).__name__}: {e}"
        if now is None:
            return "output-missing", f"its data is gone from where io={io_name!r} keeps it"
        if now == recorded:
            return None
        if now == latest:
            return LATEST, f"its data where io={io_name!r} keeps it is its latest build's"
        return "output-modified", f"its data where io={io_name!r} keeps it was changed outside assetbuild"


def _logger(asset: str) -> logging.Logger:
    import logging

    return logging.getLogger(f"assetbuild.io.{asset}")
