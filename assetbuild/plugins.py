"""The plugin manager factory: hook specs, built-in plugins, then entry points of group ``assetbuild``.

No import-time side effects: every call builds a fresh manager, so tests and embedders choose
what is registered. ``ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError

BUILTIN_PLUGINS = ("assetbuild.builtin.io_managers",)
ENTRY_POINT_GROUP = "assetbuild"


def get_plugin_manager(*, autoload: bool | None = None) -> pluggy.PluginManager:
    """A new plugin manager with the built-ins and (unless disabled) installed plugins."""
    pm = pluggy.PluginManager("assetbuild")
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if autoload is None:
        autoload = not os.environ.get("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    if autoload:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as e:  # noqa: BLE001 - a broken plugin must say which one it is
            raise PluginError(f"cannot load an assetbuild plugin: {type(e).__name__}: {e}") from e
    return pm


def collect_io_managers(pm: pluggy.PluginManager) -> dict[str, Any]:
    """Every IO manager contributed through ``register_io_managers``, by name."""
    found: dict[str, tuple[Any, str]] = {}
    for impl in pm.hook.register_io_managers.get_hookimpls():
        plugin_name = impl.plugin_name
        try:
            managers = impl.function() or []
        except Exception as e:  # noqa: BLE001
            raise PluginError(f"plugin {plugin_name!r} failed in register_io_managers: {e}") from e
        for m in managers:
            name = getattr(m, "name", None)
            if not isinstance(name, str) or not callable(getattr(m, "dump", None)) \
                    or not callable(getattr(m, "load", None)) or not isinstance(getattr(m, "version", None), str):
                raise PluginError(f"plugin {plugin_name!r} registered {m!r}, which is not an IO manager "
                                  "(it needs str attributes name and version, and dump/load methods)")
            if name in found:
                raise PluginError(f"IO manager {name!r} is registered twice: by {found[name][1]!r} "
                                  f"and by {plugin_name!r}")
            found[name] = (m, plugin_name)
    return {n: m for n, (m, _) in found.items()}
