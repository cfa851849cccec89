"""Reads that the names in a function's bytecode do not show.

The walk follows a function by what its code names: a global, an attribute of a project module
(``values`` encodes such a module by the names the code reads from it). Three kinds of read
escape that list:

* A function's own attributes (``def f(): return f.limit`` names ``f`` and ``limit``; the value
  is in ``f.__dict__``): the function's state, like its defaults and closure
  (``function_state``, encoded by the walk).
* A module's ``__getattr__`` (PEP 562): ``settings.RATE`` names ``RATE``, which the module does
  not hold; ``__getattr__`` makes it. A project module that defines one counts it too, as a
  helper, whenever code reads the module by name.
* An attribute read by a computed name (``getattr(transforms, "f_" + kind)``, ``vars(m)``,
  ``m.__dict__``): no name says which. When a function's code names one of ``DYNAMIC_READS``,
  every project module it reads counts whole, by its file and the project modules that file
  imports (as a module imported inside a function does: ``imports``).

Both module rules depend only on the module's code and the reading function's code, never on
what the module holds when the key is made, so keys are the same in every process.

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import types
from typing import Any

from .encoding import ValueTag, _e_str, _u64
from .nodes import _attr, _Node, _Out
from .values import ValueEncoder

# Attributes decorators set that do not change what the function does, or that count elsewhere:
# abc.abstractmethod's marker (the class's ``__abstractmethods__`` counts), typing's markers
# for type checkers.
_MARKERS = frozenset({"__isabstractmethod__", "__final__", "__override__", "__no_type_check__"})
# assetbuild's own decorators keep their declaration on the function (``__assetbuild_asset__``...):
# what of it changes a result (inputs, IO manager, path, code_version) is in the key already.
_OWN_PREFIX = "__assetbuild_"
# What functools.singledispatch sets on its wrapper: the registry counts as the function's code
# (``objects.encode_dispatch_registry``), the base function with it.
_DISPATCH = frozenset({"register", "dispatch", "registry", "_clear_cache", "__wrapped__"})

# Names through which code reads attributes by a computed name: builtins, attributes, and the
# helpers of ``operator`` and ``inspect`` that do it. Any of them in a function's names (as a
# global or an attribute: a superset, never a miss) makes the project modules it reads count
# whole.
DYNAMIC_READS = frozenset({"getattr", "hasattr", "vars", "dir", "__dict__", "__getattribute__",
                           "attrgetter", "methodcaller", "getmembers", "getattr_static"})


def function_state(fn: types.FunctionType) -> list[tuple[str, Any]]:
    """(name, value) of each attribute set on ``fn`` that its fingerprint must encode, by name.

    ``__wrapped__`` (``functools.wraps``) is left out when a closure cell holds the same object:
    the usual decorator calls what it wraps through its closure, which counts already, so the
    keys of decorated functions stay what they were.
    """
    d = fn.__dict__
    if not d:
        return []
    for name in d:
        if type(name) is not str or not name.startswith(_OWN_PREFIX):
            break
    else:  # only assetbuild's declarations: every asset function (worth the shortcut)
        return []
    skip: frozenset[str] = _MARKERS
    if type(d.get("registry")) is types.MappingProxyType and callable(d.get("dispatch")):
        skip = _MARKERS | _DISPATCH
    wrapped = d.get("__wrapped__")
    if wrapped is not None and fn.__closure__:
        for cell in fn.__closure__:
            try:
                held = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if held is wrapped:
                skip = skip | {"__wrapped__"}
                break
    return [(name, d[name]) for name in sorted(k for k in d if type(k) is str)
            if name not in skip and not name.startswith(_OWN_PREFIX)]


def reads_by_computed_name(node: _Node) -> bool:
    """Whether ``node``'s code names one of ``DYNAMIC_READS``."""
    return not DYNAMIC_READS.isdisjoint(node.names)


class ReadsEncoder(ValueEncoder):
    """The value encoder, with the two module rules of this module's doc.

    A project module imported with the AssetFile is encoded by ``ValueEncoder`` from the names
    the code reads; when it defines ``__getattr__``, or the code reads by a computed name, that
    encoding is wrapped (``ValueTag.MODULE_READS``) and followed by what those reads can reach.
    Every other module is encoded as before, so keys of code without these reads do not change.
    """

    def encode_module(self, m: types.ModuleType, out: _Out, node: _Node, where: str,
                      depth: int) -> str:
        name = _attr(m, "__name__")
        if not isinstance(name, str) or not self.is_project(name) or (
                self.closures is not None and not self._is_project_module(name)):
            # Not by names: a library by version, or read from its file already (whole).
            return super().encode_module(m, out, node, where, depth)
        ns = _attr(m, "__dict__")
        hook = ns.get("__getattr__") if isinstance(ns, dict) else None
        dynamic = not DYNAMIC_READS.isdisjoint(node.names)
        if not dynamic:  # by names here: whole if the asset reaches a reader by a computed name
            if node.modules is None:
                node.modules = set()
            node.modules.add(name)
        if hook is None and not dynamic:
            return super().encode_module(m, out, node, where, depth)
        out.buf += ValueTag.MODULE_READS
        label = super().encode_module(m, out, node, where, depth)
        if hook is None:
            out.buf += ValueTag.FALSE
        else:
            out.buf += ValueTag.TRUE
            self.encode(hook, out, node, f"__getattr__ of module '{name}'", depth + 1)
        if not dynamic:
            out.buf += ValueTag.FALSE
        elif self.closures is None:  # no finder: its file cannot be read
            out.buf += ValueTag.TRUE
            self.mark_bad(out, node, where, f"module {name}: attributes read by a computed name")
        else:
            out.buf += ValueTag.TRUE
            self.encode_module_source(name, (), out, node, where)
        return label

    def modules_read_whole(self, names: list[str]) -> tuple[bytes, tuple[str, ...]]:
        """The encoding of project modules ``names`` (sorted) by their files and the project
        modules those import, as ``encode_module_source``; and warning phrases (without the
        loader's finder no file can be read: each module gets one)."""
        body = bytearray(ValueTag.MODULE_READS + _u64(len(names)))
        for name in names:
            body += _e_str(name)
        if self.closures is None:
            return bytes(body), tuple(f"module {name}: attributes read by a computed name"
                                      for name in names)
        digest, phrases = self.closures.closure(tuple(names))
        return bytes(body + ValueTag.MODULE_SOURCE + digest), phrases
