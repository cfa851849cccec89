"""The encoders of objects that are not plain data, and the table that picks one by type.

Callables and descriptors, stdlib value types, instances of project classes, dataclasses and
namedtuples: by value when that is faithful, else by name (``Encoder.encode_object``), else with
a warning. ``encoder_for`` picks the encoder of a type: by the exact type first (``BY_TYPE``),
then by the stdlib type's name (``BY_TYPE_NAME``, so this module imports none of those), then
through the checks that must respect subclasses, in order (``_encode_instance``).

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import os
import pathlib
import re
import sys
import types
from collections.abc import Callable
from typing import Any, Protocol

from .encoding import ValueTag, _e_bytes, _e_int, _e_str, _u64
from .nodes import _attr, _Node, _Out, _qualname, _type_name


class Encoder(Protocol):
    """What the object encoders need from the value encoder (``values.ValueEncoder``)."""

    def encode(self, v: Any, out: _Out, node: _Node, where: str, depth: int) -> _Node | str | None: ...

    def encode_sorted(self, elems: list[Any], pairs: bool, out: _Out, node: _Node, where: str,
                      depth: int) -> None: ...

    def encode_in_order(self, pairs: list[tuple[Any, Any]], out: _Out, node: _Node, where: str,
                        depth: int) -> None: ...

    def encode_object(self, v: Any, module: Any, qualname: str, out: _Out, node: _Node,
                      where: str) -> str: ...

    def mark_bad(self, out: _Out, node: _Node, where: str, phrase: str) -> None: ...

    def relative_path(self, s: str) -> str: ...

    def is_project(self, module: object) -> bool: ...


# encoder(e, v, type(v), out, node, where, depth) -> the part label v refers to, or None
ObjectEncoder = Callable[[Encoder, Any, type, _Out, _Node, str, int], str | None]

_MAPPINGPROXY = types.MappingProxyType
_MEMBER_DESCRIPTOR = types.MemberDescriptorType
_GETSET_DESCRIPTOR = types.GetSetDescriptorType
_SCALARS: tuple[type[Any], ...] = (int, float, complex, str, bytes)
# Built-in bases whose state a conversion to the base type reads completely.
_VALUE_BASES = (list, tuple, dict, set, frozenset, int, float, complex, str, bytes, bytearray)


# ---------------------------------------------------------------- callables and descriptors


def _c_function(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                depth: int) -> str | None:
    """A built-in function or a method descriptor: by the name it has in its module."""
    named = _name_in_module(e, v)
    if named is not None:
        return e.encode_object(v, named[0], named[1], out, node, where)
    bound = v.__self__ if t is types.BuiltinFunctionType else None
    if bound is None:
        return e.encode_object(v, _attr(v, "__module__"), _qualname(v), out, node, where)
    if isinstance(bound, types.ModuleType):  # a C function of a module: math.floor
        return e.encode_object(v, bound.__name__, _qualname(v), out, node, where)
    if isinstance(bound, type):  # a C method bound to a class: dict.fromkeys
        return e.encode_object(v, bound.__module__, _qualname(v), out, node, where)
    e.mark_bad(out, node, where, f"a method bound to an instance of {_type_name(bound)}")
    return None


def _bound_method(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                  depth: int) -> str | None:
    """A bound method: by name when it is one, else its function and what it is bound to."""
    named = _name_in_module(e, v)
    if named is not None:
        return e.encode_object(v, named[0], named[1], out, node, where)
    out.buf += ValueTag.BOUND_METHOD
    e.encode(v.__func__, out, node, where, depth + 1)
    e.encode(v.__self__, out, node, where, depth + 1)
    return None


def _name_in_module(e: Encoder, v: Any) -> tuple[str, str] | None:
    """(module, qualname) when ``v`` is what that name resolves to in a non-project module."""
    modules = []
    for owner in (v, _attr(v, "__objclass__")):
        m = _attr(owner, "__module__")
        if isinstance(m, str):
            modules.append(m)
    bound = _attr(v, "__self__")
    if isinstance(bound, types.ModuleType):
        modules.append(bound.__name__)
    elif isinstance(bound, type):
        modules.append(bound.__module__)
    elif bound is not None:
        modules.append(type(bound).__module__)
    names = [n for n in (_attr(v, "__qualname__"), _attr(v, "__name__")) if isinstance(n, str)]
    for module in modules:
        if e.is_project(module):
            continue
        mod = sys.modules.get(module)
        if mod is None:
            continue
        ns = vars(mod)  # not getattr: a module __getattr__ could import
        for qualname in names:
            first, _, rest = qualname.partition(".")
            obj = ns.get(first)
            try:
                for part in rest.split(".") if rest else ():
                    obj = getattr(obj, part)
            except Exception:  # noqa: BLE001, S112 - not resolvable that way: try the next
                continue
            if obj is v:
                return module, qualname
    return None


def _wrapped_function(tag: bytes) -> ObjectEncoder:
    def encode(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
               depth: int) -> None:
        out.buf += tag  # staticmethod, classmethod
        e.encode(v.__func__, out, node, where, depth + 1)
    return encode


def _property(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.PROPERTY
    for f in (v.fget, v.fset, v.fdel):
        e.encode(f, out, node, where, depth + 1)


# What ``functools.update_wrapper`` and ``lru_cache`` put in a wrapper's ``__dict__``: copies of
# the wrapped function's metadata (its code counts, its docstring does not), the function itself
# and lru_cache's ``cache_parameters`` (both encoded by the wrapper's encoder).
_WRAPPER_METADATA = frozenset({*functools.WRAPPER_ASSIGNMENTS, "__type_params__"})


def _wrapper_state(e: Encoder, v: Any, wrapped: Any, out: _Out, node: _Node, where: str,
                   depth: int) -> None:
    """The attributes set on a ``partial`` or ``lru_cache`` wrapper (``f.threshold = 10``), which
    code reads as ``f.threshold``: ``WRAPPER_STATE``, their count, then name and value of each
    in name order. Nothing when there are none, so the keys of wrappers without attributes stay
    what they were; with some, the new leading tag makes the encoding one no earlier key has."""
    d = _attr(v, "__dict__")
    if not d or type(d) is not dict:
        return
    state = []
    for name in sorted(k for k in d if type(k) is str):
        value = d[name]
        if name in _WRAPPER_METADATA or (name == "__wrapped__" and value is wrapped) or (
                name == "cache_parameters" and _attr(value, "__module__") == "functools"):
            continue
        state.append((name, value))
    if not state:
        return
    out.buf += ValueTag.WRAPPER_STATE + _u64(len(state))
    for name, value in state:
        out.buf += _e_str(name)
        e.encode(value, out, node, f"{where}, attribute '{name}'", depth + 1)


def _partial(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    _wrapper_state(e, v, v.func, out, node, where, depth)
    out.buf += ValueTag.PARTIAL
    e.encode(v.func, out, node, where, depth + 1)
    e.encode(v.args, out, node, where, depth + 1)
    e.encode(v.keywords, out, node, where, depth + 1)


def _lru_cache(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    """``@functools.cache`` / ``lru_cache`` around a function: the function and the parameters."""
    _wrapper_state(e, v, v.__wrapped__, out, node, where, depth)
    out.buf += ValueTag.LRU_CACHE
    e.encode(v.__wrapped__, out, node, where, depth + 1)
    e.encode(v.cache_parameters(), out, node, where, depth + 1)


def _slot_descriptor(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                     depth: int) -> None:
    out.buf += ValueTag.SLOT_DESCRIPTOR + _e_str(v.__name__)


def encode_dispatch_registry(e: Encoder, fn: Any, out: _Out, node: _Node, where: str) -> bool:
    """A ``functools.singledispatch`` function: every implementation, by the type it serves.

    The function itself is functools' generic wrapper; what it does is in its registry (the
    base function is registered for ``object``). False when ``fn`` is not one.
    """
    registry = _attr(fn, "registry")
    if type(registry) is not _MAPPINGPROXY or not callable(_attr(fn, "dispatch")):
        return False
    out.buf += ValueTag.SINGLEDISPATCH + _u64(len(registry))
    e.encode_sorted(list(registry.items()), True, out, node, where, 1)
    return True


# ---------------------------------------------------------------- values of built-in types


def _pattern(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.PATTERN
    e.encode(v.pattern, out, node, where, depth + 1)
    out.buf += _e_int(v.flags)


def _mappingproxy(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                  depth: int) -> None:
    out.buf += ValueTag.MAPPINGPROXY_IN_ORDER + _u64(len(v))
    e.encode_in_order(list(v.items()), out, node, where, depth)


def _bytearray(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += _e_bytes(bytes(v), ValueTag.BYTEARRAY)


def _range(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.RANGE + _e_int(v.start) + _e_int(v.stop) + _e_int(v.step)


def _slice(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.SLICE
    for x in (v.start, v.stop, v.step):
        e.encode(x, out, node, where, depth + 1)


def _dataclass_internal(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                        depth: int) -> None:
    """A ``dataclasses.Field`` or the dataclass parameters: every attribute."""
    out.buf += ValueTag.DATACLASS_INTERNAL + _e_str(t.__qualname__)
    slots = getattr(t, "__slots__", None)
    attrs = list(slots) if slots else sorted(vars(v))
    for a in attrs:
        out.buf += _e_str(a)
        e.encode(getattr(v, a, None), out, node, where, depth + 1)


def _namespace(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    ns = vars(v)
    out.buf += ValueTag.NAMESPACE + _u64(len(ns))
    e.encode_sorted(list(ns.items()), True, out, node, where, depth)


def _type_hint(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    text = repr(v)  # type hints: their repr is their identity (names only, no addresses)
    if " at 0x" in text:
        e.mark_bad(out, node, where, f"an instance of {_type_name(v)}")
        return
    out.buf += ValueTag.TYPE_HINT + _e_str(text)
    inner = [c for c in _hint_classes(v) if e.is_project(_attr(c, "__module__"))]
    if inner:  # (``-> list[Order]``: pydantic builds Orders from the hint, as from ``-> Order``)
        out.buf += ValueTag.TYPE_HINT_CLASSES + _u64(len(inner))
        for c in inner:
            e.encode(c, out, node, where, depth + 1)


def _hint_classes(v: Any) -> list[type]:
    """The classes a type hint names, at any depth (``__origin__``, ``__args__``), once each in
    the order they first appear."""
    found: dict[int, type] = {}
    todo, seen = [v], set()
    while todo:
        h = todo.pop()
        if id(h) in seen:
            continue
        seen.add(id(h))
        if isinstance(h, type) and not isinstance(h, types.GenericAlias):  # (3.10: list[int] passes for a type)
            found.setdefault(id(h), h)
            continue
        args = getattr(h, "__args__", None)
        todo.extend(reversed([getattr(h, "__origin__", None), *(args if isinstance(args, tuple) else ())]))
    return list(found.values())


# ---------------------------------------------------------------- stdlib value types, by name
# A value of such a type exists only if its module is already loaded.


def _datetime(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.DATETIME + _e_str(type(v).__qualname__) + _e_str(v.isoformat())
    tz = getattr(v, "tzinfo", None)
    out.buf += _e_str("" if tz is None else f"{type(tz).__module__}.{type(tz).__qualname__}:{tz}")
    out.buf += _e_int(getattr(v, "fold", 0))


def _timedelta(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.TIMEDELTA + _e_int(v.days) + _e_int(v.seconds) + _e_int(v.microseconds)


def _timezone(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    off = v.utcoffset(None)
    seconds = off.days * 86400 + off.seconds
    out.buf += ValueTag.TIMEZONE + _e_str(v.tzname(None)) + _e_int(seconds) + _e_int(off.microseconds)


def _by_str(tag: bytes) -> ObjectEncoder:
    def encode(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
               depth: int) -> None:
        out.buf += tag + _e_str(str(v))  # Decimal, UUID, ZoneInfo (key): str is exact and canonical
    return encode


def _fraction(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.FRACTION + _e_int(v.numerator) + _e_int(v.denominator)


def _ordered_dict(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                  depth: int) -> None:
    out.buf += ValueTag.ORDERED_DICT + _u64(len(v))
    for k, x in v.items():  # order is part of an OrderedDict's value
        e.encode(k, out, node, where, depth + 1)
        e.encode(x, out, node, where, depth + 1)


def _defaultdict(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                 depth: int) -> None:
    out.buf += ValueTag.DEFAULTDICT
    e.encode(v.default_factory, out, node, where, depth + 1)
    e.encode(dict(v), out, node, where, depth + 1)


def _counter(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.COUNTER
    e.encode(dict(v), out, node, where, depth + 1)


def _deque(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.DEQUE
    e.encode(v.maxlen, out, node, where, depth + 1)
    e.encode(list(v), out, node, where, depth + 1)


def _logger(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
    out.buf += ValueTag.LOGGER + _e_str(str(v.name))  # a logger is its name; it does not shape results


def _tuplegetter(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                 depth: int) -> None:
    out.buf += ValueTag.TUPLEGETTER  # a namedtuple field accessor
    e.encode(v.__reduce__()[1], out, node, where, depth + 1)


def _site_builtin(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                  depth: int) -> None:
    # exit, quit, help, copyright...: the interactive helpers site puts in builtins. Code that
    # calls sys.exit names "exit" too; none of them shapes a result.
    name = _attr(v, "name")
    out.buf += ValueTag.SITE_BUILTIN + _e_str(type(v).__qualname__) + _e_str(name if isinstance(name, str) else "")


# ---------------------------------------------------------------- instances


def _encode_instance(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                     depth: int) -> str | None:
    """An object whose exact type has no encoder: the first of these checks that holds, in order
    (an enum member that is also an int is an enum member; a project class over ``os.PathLike``
    is a path)."""
    if isinstance(v, enum.Enum):
        out.buf += ValueTag.ENUM_MEMBER
        e.encode(t, out, node, where, depth + 1)
        out.buf += _e_str(str(v._name_))
        e.encode(v._value_, out, node, where, depth + 1)
    elif isinstance(v, pathlib.PurePath):
        out.buf += ValueTag.PURE_PATH + _e_str(t.__qualname__) + _e_str(e.relative_path(str(v)))
    elif hasattr(t, "__dataclass_fields__"):
        _dataclass_instance(e, v, t, out, node, where, depth)
    elif isinstance(v, tuple) and hasattr(t, "_fields"):  # a namedtuple: its class and items
        out.buf += ValueTag.NAMEDTUPLE
        e.encode(t, out, node, where, depth + 1)
        e.encode(tuple(v), out, node, where, depth + 1)
    elif isinstance(v, _SCALARS) and not hasattr(v, "__dict__"):
        # A scalar subclass with no state of its own (numpy.float64, numpy.str_): class, value.
        out.buf += ValueTag.SCALAR
        e.encode(t, out, node, where, depth + 1)
        for base in _SCALARS:
            if isinstance(v, base):
                e.encode(base(v), out, node, where, depth + 1)
                break
    elif isinstance(v, os.PathLike):
        path = os.fspath(v)
        out.buf += ValueTag.PATH_LIKE + _e_str(_type_name(v))
        e.encode(path, out, node, where, depth + 1)
    elif e.is_project(t.__module__):
        # An instance of a project class: the class (its code, recursed) and its state.
        out.buf += ValueTag.INSTANCE
        e.encode(t, out, node, where, depth + 1)
        state = _instance_state(v)
        out.buf += _u64(len(state))
        e.encode_sorted(state, True, out, node, where, depth)
        _builtin_base(e, v, t, out, node, where, depth)
    else:
        named = _name_in_module(e, v)  # e.g. numpy ufuncs: module-level singletons with a name
        if named is not None:
            return e.encode_object(v, named[0], named[1], out, node, where)
        e.mark_bad(out, node, where, f"an instance of {_type_name(v)}")
    return None


def _dataclass_instance(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                        depth: int) -> None:
    """Its class and field values."""
    out.buf += ValueTag.DATACLASS
    e.encode(t, out, node, where, depth + 1)
    fields = dataclasses.fields(v)
    out.buf += _u64(len(fields))
    for f in fields:
        out.buf += _e_str(f.name)
        e.encode(getattr(v, f.name, None), out, node, where, depth + 1)
    # Attributes that are not fields (set after construction, object.__setattr__ on a frozen
    # instance): appended only when there are some, so plain instances keep the encoding they
    # always had.
    names = {f.name for f in fields}
    extra = [(k, x) for k, x in _instance_state(v) if k not in names]
    if extra:
        out.buf += ValueTag.EXTRA_ATTRIBUTES + _u64(len(extra))
        e.encode_sorted(extra, True, out, node, where, depth)


def _builtin_base(e: Encoder, v: Any, t: type, out: _Out, node: _Node, where: str,
                  depth: int) -> None:
    """The part of an instance's state that lives in a built-in base class (the items of a
    ``list`` subclass, an exception's ``args``); a C base whose state cannot be read warns."""
    for base in t.__mro__:
        if base in _VALUE_BASES:
            if base is dict:
                out.buf += ValueTag.BASE_DICT_IN_ORDER
                e.encode_in_order(list(dict.items(v)), out, node, where, depth)
            else:
                out.buf += ValueTag.BASE_VALUE
                e.encode(base(v), out, node, where, depth + 1)
            return
        if base is BaseException:
            out.buf += ValueTag.BASE_EXCEPTION
            e.encode(v.args, out, node, where, depth + 1)
            return
        if base is object or not _adds_c_state(base):
            continue  # its state is in __dict__ and slots, or it has none
        e.mark_bad(out, node, where, f"an instance of {_type_name(v)}, whose base "
                   f"{base.__module__}.{base.__qualname__} keeps state assetbuild cannot read")
        return


def _adds_c_state(cls: type) -> bool:
    """Whether instances of ``cls`` hold state its own base does not, outside ``__dict__`` and
    slots: a class written in C (``array.array``, ``numpy.ndarray``) whose fields Python cannot
    list. A class statement grows the instance only by a ``__dict__``, ``__weakref__`` or slots."""
    base = cls.__base__
    if base is None or cls.__basicsize__ <= base.__basicsize__:
        return False
    ns = vars(cls)
    return "__slots__" not in ns and "__dict__" not in ns and "__weakref__" not in ns


def _instance_state(v: Any) -> list[tuple[str, Any]]:
    """(attribute, value) of an instance's own state: the slots that are set, then ``__dict__``."""
    state: dict[str, Any] = {}
    for cls in reversed(type(v).__mro__):
        for name, member in list(vars(cls).items()):
            if type(member) is _MEMBER_DESCRIPTOR:  # a slot (its name mangled if private)
                try:
                    state[name] = member.__get__(v, type(v))
                except AttributeError:
                    continue  # not set
    d = _attr(v, "__dict__")
    if isinstance(d, dict):
        state.update(d)
    return list(state.items())


# ---------------------------------------------------------------- the dispatch tables

BY_TYPE: dict[type, ObjectEncoder] = {
    types.BuiltinFunctionType: _c_function,
    types.MethodDescriptorType: _c_function,
    types.WrapperDescriptorType: _c_function,
    types.ClassMethodDescriptorType: _c_function,
    types.MethodWrapperType: _c_function,
    types.MethodType: _bound_method,
    staticmethod: _wrapped_function(ValueTag.STATICMETHOD),
    classmethod: _wrapped_function(ValueTag.CLASSMETHOD),
    property: _property,
    functools.partial: _partial,
    type(functools.lru_cache(maxsize=None)(lambda: None)): _lru_cache,
    type(re.compile("")): _pattern,
    _MAPPINGPROXY: _mappingproxy,
    bytearray: _bytearray,
    range: _range,
    slice: _slice,
    dataclasses.Field: _dataclass_internal,
    _MEMBER_DESCRIPTOR: _slot_descriptor,
    _GETSET_DESCRIPTOR: _slot_descriptor,
    types.SimpleNamespace: _namespace,
    types.GenericAlias: _type_hint,
}
for _optional, _encoder in ((getattr(dataclasses, "_DataclassParams", None), _dataclass_internal),
                            (getattr(types, "UnionType", None), _type_hint)):
    if isinstance(_optional, type):
        BY_TYPE[_optional] = _encoder
del _optional, _encoder

BY_TYPE_NAME: dict[tuple[str, str], ObjectEncoder] = {
    ("_sitebuiltins", "Quitter"): _site_builtin,
    ("_sitebuiltins", "_Printer"): _site_builtin,
    ("_sitebuiltins", "_Helper"): _site_builtin,
    ("datetime", "datetime"): _datetime,
    ("datetime", "date"): _datetime,
    ("datetime", "time"): _datetime,
    ("datetime", "timedelta"): _timedelta,
    ("datetime", "timezone"): _timezone,
    ("decimal", "Decimal"): _by_str(ValueTag.DECIMAL),
    ("uuid", "UUID"): _by_str(ValueTag.UUID),
    ("zoneinfo", "ZoneInfo"): _by_str(ValueTag.ZONEINFO),
    ("fractions", "Fraction"): _fraction,
    ("collections", "OrderedDict"): _ordered_dict,
    ("collections", "defaultdict"): _defaultdict,
    ("collections", "Counter"): _counter,
    ("collections", "deque"): _deque,
    ("logging", "Logger"): _logger,
    ("logging", "RootLogger"): _logger,
    ("collections", "_tuplegetter"): _tuplegetter,
    ("_collections", "_tuplegetter"): _tuplegetter,
}


def encoder_for(t: type) -> ObjectEncoder:
    """The encoder of objects of exact type ``t`` (not plain data; see ``values``).

    The order matters where a type could match twice: exact types, then the ``typing`` module's
    type hints, then stdlib types by name (none of them an enum, path, dataclass, namedtuple or
    scalar subclass), then ``_encode_instance``'s checks.
    """
    encoder = BY_TYPE.get(t)
    if encoder is not None:
        return encoder
    module = t.__module__
    if module == "typing":
        return _type_hint
    return BY_TYPE_NAME.get((module, t.__qualname__), _encode_instance)
