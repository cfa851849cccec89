"""The plugin manager factory: hook specs, built-in plugins, then entry points of group ``assetbuild``.

No import-time side effects: every call builds a fresh manager, so tests and embedders choose
what is registered. ``ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points.

Entry points are read straight from the ``entry_points.txt`` files of the distributions on
``sys.path``: importing ``importlib.metadata`` (which pluggy's loader does) costs 20-45 ms, a
tenth of a whole null build, on every run. The format is the documented one (an INI section per
group, ``name = module[:attr]`` lines); the first distribution of a name on ``sys.path`` wins,
as with ``importlib.metadata``. pluggy and the hook specs are imported by the first manager
built: ``assetbuild --help`` with no plugin installed builds none (``installed_plugins``).
"""

from __future__ import annotations

import importlib
import os
import sys

from .errors import PluginError

TYPE_CHECKING = False  # typing is not imported either: `assetbuild --help` asks installed_plugins
if TYPE_CHECKING:  # imported by the functions that use them: see installed_plugins
    from collections.abc import Callable, Iterable
    from typing import Any

    import pluggy

    from . import hookspecs

BUILTIN_PLUGINS = ("assetbuild.builtin.io_managers", "assetbuild.builtin.executors")
ENTRY_POINT_GROUP = "assetbuild"
# What the plugin managers this process built were made from (``loaded_from``): the
# ``entry_points.txt`` files read or looked for, and the modules first imported while a plugin
# loaded or contributed what it registers
_ENTRY_POINT_FILES: set[str] = set()
_PLUGIN_MODULES: set[str] = set()


def get_plugin_manager(*, autoload: bool | None = None, builtins: bool = True) -> pluggy.PluginManager:
    """A new plugin manager with the built-ins and (unless disabled) installed plugins.

    ``builtins=False``: installed plugins only, for the command line's options, which it needs
    before parsing any argument (``--help``): the built-ins import the executors and contribute
    no options."""
    import pluggy

    from . import hookspecs

    pm = pluggy.PluginManager("assetbuild")
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS if builtins else ():
        pm.register(importlib.import_module(name), name=name)
    before = set(sys.modules)
    try:
        _register_installed(pm, autoload)
    finally:  # (what a plugin's module imports is its code too: an edit there changes what it registers)
        _PLUGIN_MODULES.update(sys.modules.keys() - before)
    return pm


def _register_installed(pm: pluggy.PluginManager, autoload: bool | None) -> None:
    """Register the installed plugins (their entry points) with ``pm``."""
    for name, value, dist in installed_plugins(autoload=autoload):  # the built-ins: registered above
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        try:
            module, _, attr = value.split("[", 1)[0].partition(":")  # drop "[extras]"
            plugin: Any = importlib.import_module(module.strip())
            for part in filter(None, attr.strip().split(".")):
                plugin = getattr(plugin, part)
            pm.register(plugin, name=name)
        except Exception as e:  # noqa: BLE001 - a broken plugin must say which one it is
            said = "; ".join(filter(None, (line.strip() for line in str(e).splitlines())))  # pluggy's take 3
            raise PluginError(f"cannot load the assetbuild plugin {name!r} ({value}) of {dist}: "
                              f"{type(e).__name__}: {said} (uninstall it, or set ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD=1 "
                              "to load no installed plugins)") from e
        unknown = _unknown_hooks(pm, plugin)
        if unknown:
            raise PluginError(f"the assetbuild plugin {name!r} ({value}) of {dist} implements {unknown}, which "
                              f"is no assetbuild hook{_nearest_hook(pm, unknown)}: rename it, or mark it "
                              "@assetbuild.hookimpl(optionalhook=True) if it is a later assetbuild's")


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> str | None:
    """The first hook ``plugin`` implements that assetbuild does not specify (a typo such as
    ``after_assets`` would otherwise never be called, silently), unless marked optional."""
    for caller in pm.get_hookcallers(plugin) or ():
        if caller.has_spec():
            continue
        if any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()):
            return caller.name
    return None


def _nearest_hook(pm: pluggy.PluginManager, name: str) -> str:
    import difflib

    hooks = [n for n, caller in vars(pm.hook).items() if not n.startswith("_") and caller.has_spec()]
    near = difflib.get_close_matches(name, hooks, n=1)
    return f" (did you mean {near[0]}?)" if near else ""


def installed_plugins(*, autoload: bool | None = None) -> list[tuple[str, str, str]]:
    """The entry points ``get_plugin_manager`` loads, (name, value, distribution): none when
    autoloading is off (``autoload=False``, or None and ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD set);
    the built-ins left out (registered by name, or not at all). Reads files only: the command
    line asks it before building a plugin manager (and importing pluggy) for ``--help``."""
    if autoload is None:
        autoload = not os.environ.get("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    if not autoload:
        return []
    return [e for e in entry_points(ENTRY_POINT_GROUP) if e[0] not in BUILTIN_PLUGINS]


_SCANNED: dict[tuple[str, tuple[tuple[str, int], ...]], list[tuple[str, str, str]]] = {}
_DISTRIBUTIONS: dict[tuple[tuple[str, int], ...], list[tuple[str, str | None, str]]] = {}


def entry_points(group: str) -> list[tuple[str, str, str]]:
    """(name, value, distribution) of every entry point in ``group`` on ``sys.path``.

    Kept while ``sys.path`` and the modification times of its directories stay the same
    (installing or removing a distribution changes its directory's): the command line scans
    once for plugins' options, and the build's plugin manager reuses that scan."""
    key = (group, _path_stamp())
    if key not in _SCANNED:
        _SCANNED[key] = _scan_entry_points(group)
    return list(_SCANNED[key])


def distributions() -> list[tuple[str, str | None, str]]:
    """(name, version, metadata directory) of each distribution on ``sys.path``, found by its
    ``.dist-info`` or ``.egg-info`` directory, the first of a name winning (as
    ``importlib.metadata`` finds them); the name as ``distribution_name`` gives it; the version
    None for an ``.egg-info``, whose directory's name need not carry it. Read from directory
    names only, and kept as ``entry_points`` are."""
    key = _path_stamp()
    found = _DISTRIBUTIONS.get(key)
    if found is None:
        found = _DISTRIBUTIONS[key] = _scan_distributions()
    return found


def distribution_name(name: str) -> str:
    """A distribution's name as importlib.metadata compares them: lower case, each run of ``-``,
    ``_`` and ``.`` one ``_`` (``PyYAML`` is ``pyyaml``; without ``re``, which ``--help`` spares)."""
    out = name.lower().replace("-", "_").replace(".", "_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def _path_stamp() -> tuple[tuple[str, int], ...]:
    stamp = []
    for entry in sys.path:
        try:
            stamp.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            stamp.append((entry, -1))
    return tuple(stamp)


def _scan_distributions() -> list[tuple[str, str | None, str]]:
    found: list[tuple[str, str | None, str]] = []
    seen: set[str] = set()
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for meta in names:
            stem, _, kind = meta.rpartition(".")
            version: str | None
            if kind == "dist-info":  # NAME-VERSION.dist-info
                dist, _, version = stem.rpartition("-")
            elif kind == "egg-info":  # NAME[-VERSION[-pyX.Y]].egg-info
                dist, version = stem.split("-", 1)[0], None
            else:
                continue
            dist = distribution_name(dist)
            if dist and dist not in seen:
                seen.add(dist)
                found.append((dist, version, os.path.join(entry or ".", meta)))
    return found


def _scan_entry_points(group: str) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for dist, _, meta in distributions():
        read = os.path.abspath(os.path.join(meta, "entry_points.txt"))
        _ENTRY_POINT_FILES.add(read)  # (one that appears may hold a plugin)
        try:
            with open(read, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        section = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
            elif section == group and "=" in line:
                name, _, value = line.partition("=")
                found.append((name.strip(), value.strip(), dist))
    return found


def loaded_from(pm: pluggy.PluginManager) -> list[str]:
    """The files a plugin manager like ``pm`` is made from, which another process reads again
    (a null build's snapshot watches them: ``session.snapshots``): each ``entry_points.txt`` read
    or looked for (``pip install -e .`` again rewrites one in place, under the same folder name),
    and the file of each module of the installed plugins: those first imported while plugins
    loaded or made what they register (an IO manager in a module of its own), and those of the
    package of each plugin registered (which the AssetFile may have imported first). Not
    assetbuild's own modules nor the standard library's: the snapshot watches those otherwise."""
    names = set(_PLUGIN_MODULES)
    tops = set()
    for plugin in pm.get_plugins():
        if pm.get_name(plugin) in BUILTIN_PLUGINS:
            continue
        module = plugin.__name__ if isinstance(plugin, type(sys)) else getattr(plugin, "__module__", None)
        if isinstance(module, str):  # (an object an entry point names: its class's module)
            tops.add(module.partition(".")[0])
    names.update(n for n in list(sys.modules) if n.partition(".")[0] in tops)
    files = set(_ENTRY_POINT_FILES)
    for n in names:
        top = n.partition(".")[0]
        f = getattr(sys.modules.get(n), "__file__", None)
        if isinstance(f, str) and top != "assetbuild" and top not in sys.stdlib_module_names:
            files.add(os.path.abspath(f))
    return sorted(files)


def _contributed(impl: Any, hook: str, kind: str) -> list[Any]:
    """What one plugin's ``register_*`` hook returns: a list (or tuple), else a PluginError
    naming the plugin (one object instead of a list of them, say)."""
    before = None if impl.plugin_name in BUILTIN_PLUGINS else set(sys.modules)
    try:
        contributed = impl.function() or []
    except Exception as e:  # noqa: BLE001
        raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook}: {e}") from e
    finally:
        if before is not None:  # (what it imports to make what it registers is its code too)
            _PLUGIN_MODULES.update(sys.modules.keys() - before)
    if not isinstance(contributed, (list, tuple)):
        raise PluginError(f"plugin {impl.plugin_name!r} returned {contributed!r:.100} from {hook}, which is not a "
                          f"list of {kind}s (return a list, even of one)")
    return list(contributed)


def _collect(pm: pluggy.PluginManager, hook: str, kind: str, is_valid: Callable[[Any], bool],
             needs: str) -> dict[str, Any]:
    """The named things every plugin contributes through a ``register_*`` hook; a name registered
    twice, or an object that is not a ``kind``, is a PluginError naming the plugin."""
    found: dict[str, tuple[Any, str]] = {}
    for impl in getattr(pm.hook, hook).get_hookimpls():
        plugin_name = impl.plugin_name
        for obj in _contributed(impl, hook, kind):
            name = getattr(obj, "name", None)
            if not isinstance(name, str) or not is_valid(obj):
                raise PluginError(f"plugin {plugin_name!r} registered {obj!r}, which is not an {kind} "
                                  f"(it needs {needs})")
            if name in found:
                raise PluginError(f"{kind} {name!r} is registered twice: by {found[name][1]!r} "
                                  f"and by {plugin_name!r}")
            found[name] = (obj, plugin_name)
    return {n: obj for n, (obj, _) in found.items()}


def collect_io_managers(pm: pluggy.PluginManager) -> dict[str, Any]:
    """Every IO manager contributed through ``register_io_managers``, by name."""
    return _collect(pm, "register_io_managers", "IO manager",
                    lambda m: not isinstance(m, type) and (
                        (callable(getattr(m, "load_input", None)) and isinstance(getattr(m, "io_version", None), str))
                        if callable(getattr(m, "handle_output", None)) else
                        (callable(getattr(m, "dump", None)) and callable(getattr(m, "load", None))
                         and isinstance(getattr(m, "version", None), str))),
                    "to be an instance, not a class, with str attributes name and version, and dump/load methods "
                    "(or, keeping its data outside the cache, handle_output/load_input methods and a str "
                    "attribute io_version)")


def collect_executors(pm: pluggy.PluginManager) -> dict[str, Any]:
    """Every executor class contributed through ``register_executors``, by name."""
    return _collect(pm, "register_executors", "executor",
                    lambda c: callable(c) and isinstance(getattr(c, "inline", None), bool),
                    "a str attribute name, a bool attribute inline, and to be callable")


def collect_options(pm: pluggy.PluginManager, taken: Iterable[str] = ()) -> list[hookspecs.ExecutorFlag]:
    """Every command-line option contributed through ``register_options``; a flag in ``taken``
    (the command line's own) or contributed twice is a PluginError naming the plugin."""
    from . import hookspecs

    found: dict[str, str] = dict.fromkeys(taken, "assetbuild")
    flags: list[hookspecs.ExecutorFlag] = []
    for impl in pm.hook.register_options.get_hookimpls():
        plugin_name = impl.plugin_name
        for flag in _contributed(impl, "register_options", "option"):
            if not isinstance(flag, hookspecs.ExecutorFlag) or not flag.flag.startswith("--"):
                raise PluginError(f"plugin {plugin_name!r} registered {flag!r}, which is not an option "
                                  "(it needs an assetbuild.hookspecs.ExecutorFlag whose flag starts with --)")
            if flag.flag in found:
                raise PluginError(f"option {flag.flag} is registered twice: by {found[flag.flag]!r} "
                                  f"and by {plugin_name!r}")
            found[flag.flag] = plugin_name
            flags.append(flag)
    return flags


# The IO managers and executors of the plugins in this repository's plugins/ folder, by name: an
# unknown name that one of them registers says which plugin to install.
_SHIPPED = {"parquet": "assetbuild-pandas", "csv": "assetbuild-pandas", "npy": "assetbuild-numpy",
            "npz": "assetbuild-numpy", "duckdb": "assetbuild-duckdb", "dask": "assetbuild-dask"}


def plugin_hint(name: object) -> str:
    """What to do about an unknown IO manager or executor ``name``: install the plugin that has
    it, or let installed plugins load; "" when neither applies."""
    if os.environ.get("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD"):
        return "; ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD is set, so no installed plugin is loaded"
    plugin = _SHIPPED.get(name) if isinstance(name, str) else None
    return f"; {name!r} comes with the plugin {plugin}: pip install -e plugins/{plugin}" if plugin else ""

