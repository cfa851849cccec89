"""What of a class its encoding counts (``walk``): its namespace, but the bookkeeping and the
caches the standard library writes onto it as code runs (so a digest does not depend on whether
an instance was pickled, copied, made, or checked with ``isinstance``); and the state an ABC keeps
outside its namespace (the classes registered with it).

Layer L0: stdlib only.
"""

from __future__ import annotations

import enum
import sys

from .nodes import _attr, _qualname

# Class-namespace entries that are bookkeeping, not behaviour, or caches the standard library writes
# onto a class as code runs (``__slotnames__``: pickle, copy; the pure-Python ``abc``'s caches).
SKIP_CLASS_ATTRS = frozenset({
    "__doc__", "__module__", "__dict__", "__weakref__", "__qualname__", "__firstlineno__", "__static_attributes__",
    "_abc_impl", "__slotnames__", "_abc_cache", "_abc_negative_cache", "_abc_negative_cache_version",
})
# Enum bookkeeping kept in the class dict; members are encoded from __members__ instead.
ENUM_INTERNALS = frozenset({
    "_member_names_", "_member_map_", "_value2member_map_", "_unhashable_values_",
    "_unhashable_values_map_", "_member_type_", "_value_repr_", "_new_member_", "_use_args_",
    "_hashable_values_", "_singles_mask_", "_all_bits_", "_boundary_", "_flag_mask_", "_inverted_",
    "_numeric_repr_", "_sort_order_",
})


def skipped_class_attrs(cls: type) -> frozenset[str]:
    """The entries of ``vars(cls)`` its encoding leaves out: ``SKIP_CLASS_ATTRS``; for an enum,
    ``ENUM_INTERNALS`` and its members too (encoded from ``__members__``), but a ``_boundary_``
    other than the one its nearest enum base gives (a ``boundary=`` keyword: ``KEEP`` rather
    than ``STRICT`` changes what ``P(7)`` does), so an enum without one keeps its encoding.
    And the ``__init__`` that ``typing`` copies from a base onto a class implementing a
    ``Protocol`` the first time it is instantiated (a digest must not depend on whether it was)."""
    if not isinstance(cls, enum.EnumMeta):
        return SKIP_CLASS_ATTRS | {"__init__"} if _protocol_init(cls) else SKIP_CLASS_ATTRS
    skip = SKIP_CLASS_ATTRS | ENUM_INTERNALS | frozenset(cls.__members__)
    base = next((b for b in cls.__mro__[1:] if isinstance(b, enum.EnumMeta)), None)
    given = vars(cls).get("_boundary_")
    return skip if given is getattr(base, "_boundary_", None) else skip - {"_boundary_"}


def _protocol_init(cls: type) -> bool:
    """Whether ``cls.__init__`` is one ``typing._no_init_or_replace_init`` put there: ``cls``
    implements a ``Protocol`` and its own ``__init__`` is the nearest base's (but that stand-in)."""
    typing = sys.modules.get("typing")
    placeholder = getattr(typing, "_no_init_or_replace_init", None)
    own = vars(cls).get("__init__")
    if own is None or placeholder is None or getattr(cls, "_is_protocol", True) \
            or not any(b is getattr(typing, "Protocol", None) for b in cls.__mro__):
        return False
    inherited = next((i for b in cls.__mro__[1:] if (i := vars(b).get("__init__", placeholder)) is not placeholder),
                     object.__init__)
    return own is inherited


def abc_registry(cls: type) -> tuple[type, ...]:
    """The classes registered with the ABC ``cls`` itself (``cls.register(dict)``), by qualified
    name: its ``_abc_impl`` also holds caches that ``isinstance`` fills, which do not count."""
    import abc

    try:
        refs = abc._get_dump(cls)[0]  # type: ignore[attr-defined]  # (CPython's C abc)
    except Exception:  # noqa: BLE001 - another abc: none read
        return ()
    found = [c for c in (r() for r in refs) if isinstance(c, type)]
    return tuple(sorted(found, key=lambda c: (str(_attr(c, "__module__")), _qualname(c))))
