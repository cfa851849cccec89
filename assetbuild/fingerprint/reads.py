"""Reads that the names in a function's bytecode do not show.

The walk follows a function by what its code names: a global, an attribute of a project module.
A function's own attributes are not named anywhere (``def f(): return f.limit`` names ``f`` and
``limit``, and ``limit`` is in ``f.__dict__``), so they are part of the function's state, like
its defaults and closure. This module says which of them count.

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import types
from typing import Any

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


def function_state(fn: types.FunctionType) -> list[tuple[str, Any]]:
    """(name, value) of each attribute set on ``fn`` that its fingerprint must encode, by name.

    ``__wrapped__`` (``functools.wraps``) is left out when a closure cell holds the same object:
    the usual decorator calls what it wraps through its closure, which counts already, so the
    keys of decorated functions stay what they were.
    """
    d = fn.__dict__
    if not d:
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
