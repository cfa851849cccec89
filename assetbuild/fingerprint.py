"""Code fingerprints: a digest of what an asset function does, for its cache key.

This module turns a function object into a :class:`Fingerprint`. The digest changes when the
function's behaviour may change and stays the same otherwise. The ``parts`` say which component
changed, so ``why`` can explain a rebuild. The Python version and ``-O`` level are not included
here: the caller puts the interpreter in the key (DESIGN.md §4).

Why the main rules are what they are (RELIABILITY-NOTES.md §5 has the measurements):

* **Bytecode, not source text or ``marshal``.** ``co_code``, the constants, the names and the
  argument layout say what the code does. Everything that records *where* the code is gets left
  out: file name, first line, line and position tables, ``co_qualname``. So comments, formatting,
  moving a function and copying the project do not rebuild. The compiler also makes a few choices
  from line numbers alone (``NOP``s, 3.13's fused ``LOAD_FAST_LOAD_FAST``, 3.12's jump threading).
  Those are normalized away (see ``_code_stream``), so splitting a call or a comprehension over
  lines does not rebuild either.
* **The docstring is documentation, not behaviour.** On 3.10–3.13 it sits in constant slot 0, and
  adding one also renumbers every other constant (``return None`` goes from ``LOAD_CONST 0`` to
  ``LOAD_CONST 2``). So each constant operand is replaced by the constant's rank in first-use
  order. The docstring slot is dropped only when no instruction loads it (if ``"x"`` is both the
  docstring and a returned value, it is kept).
* **A canonical, type-tagged, length-prefixed encoding, never ``repr``/``str``/``hash``.**
  ``repr`` embeds memory addresses, set order follows ``PYTHONHASHSEED``, and ``str`` confuses
  ``1``, ``'1'`` and ``True``. Sets and dict items are sorted by their encoded bytes. Floats are
  encoded with ``float.hex``, so ``-0.0`` and ``0.0`` differ.
* **Part of a function's behaviour is outside its code object**: defaults, closure cells, the
  globals its code (and nested code) names, and the modules it imports inside its body.

  - Project helpers (functions and classes in project modules) are fingerprinted recursively.
  - Other code counts by qualified name plus installed distribution version (stdlib: the Python
    version the caller puts in the key).
  - Plain data counts by value. Paths under ``project_dir`` are made relative, so the key does not
    depend on where the project lives.
* **Mutually recursive helpers are hashed as a whole strongly connected component** (Tarjan). A
  helper's digest is then the same whichever asset reached it first, so memoizing helpers (many
  assets share them) cannot make keys depend on visiting order.
* **Never a silent pass.** A value that cannot be encoded faithfully (an instance of an arbitrary
  class, a module with no version) is encoded by its type name only, and a warning names the asset
  and the global.

Known limits:

* What the code cannot name stays invisible: files read without a ``source``, environment
  variables, ``globals()[...]``, ``getattr(module, computed_name)``,
  ``importlib.import_module(...)``.
* A few line-dependent compiler choices are not normalized. Example: on 3.11+, ``x, y = y, x``
  split over two lines keeps a ``SWAP``. These cause a spurious rebuild, never a missed one.
* A project module imported only inside a function, and not loaded when the fingerprint is
  taken, is named but not read (reading it would need the disk). It gives a warning.

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import functools
import hashlib
import marshal
import opcode
import os
import pathlib
import re
import struct
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FINGERPRINT_VERSION", "Fingerprint", "Fingerprinter", "code_digest"]

FINGERPRINT_VERSION: int = 1


@dataclass(frozen=True)
class Fingerprint:
    """The code fingerprint of one asset function.

    Part labels, all direct references of the function except the reached helpers: ``code`` (its
    code, defaults and keyword defaults), ``closure:<name>``, ``global:<name>`` (a value),
    ``module:<name>``, ``object:<module>.<qualname>`` (non-project code, by name and version),
    ``helper:<module>.<qualname>`` (every project function or class reached, directly or not, with
    its full recursive digest; ``#2``... tells apart two helpers with one label), and ``names``
    (which global name is bound to which part). The digest changes exactly when some part does.
    """

    digest: str  # hex sha256 of FINGERPRINT_VERSION and every part below
    parts: dict[str, str]  # label -> hex digest of that component, for explaining what changed
    warnings: tuple[str, ...]  # one human sentence each


# --------------------------------------------------------------------------------------------------
# Canonical encoding primitives. Every value starts with a one-byte tag; variable-size payloads
# carry an 8-byte length, so a concatenation of encodings is never ambiguous.

_sha256 = hashlib.sha256
_MISSING = object()
_u64 = struct.Struct("<Q").pack


def _e_str(s: str) -> bytes:
    try:
        b = s.encode()
    except UnicodeEncodeError:  # lone surrogates (e.g. from surrogateescape'd file names)
        b = s.encode("utf-8", "surrogatepass")
    return b"s" + _u64(len(b)) + b


def _e_bytes(b: bytes, tag: bytes = b"b") -> bytes:
    return tag + _u64(len(b)) + b


def _e_int(n: int) -> bytes:
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"i" + _u64(len(b)) + b


def _e_float(x: float) -> bytes:
    # float.hex is exact and keeps the sign of zero; every NaN encodes as 'nan'.
    return _e_bytes(x.hex().encode("ascii"), b"f")


def _e_complex(z: complex) -> bytes:
    return b"c" + _e_float(z.real) + _e_float(z.imag)


def _e_strs(items: tuple[str, ...]) -> bytes:
    """A tuple of strings: the count, every length, then the UTF-8 bytes (one call, for speed)."""
    try:
        enc = [s.encode() for s in items]
    except UnicodeEncodeError:
        enc = [s.encode("utf-8", "surrogatepass") for s in items]
    return b"(" + struct.pack(f"<{len(enc) + 1}Q", len(enc), *map(len, enc)) + b"".join(enc)


# --------------------------------------------------------------------------------------------------
# Static part: the digest of a code object.

_EXTENDED_ARG = opcode.opmap["EXTENDED_ARG"]
_HASCONST = frozenset(opcode.hasconst)
_PY314 = sys.version_info >= (3, 14)
_CO_FUNCTION = 0x1 | 0x2  # CO_OPTIMIZED | CO_NEWLOCALS: a def, lambda, comprehension; no class body
_CO_HAS_DOCSTRING = 0x4000000  # 3.14+: co_consts[0] is the docstring


def _inline_cache_table() -> bytes:
    """Number of inline CACHE code units after each opcode (3.11+); all zeros when unknown."""
    table = bytearray(256)
    entries = getattr(opcode, "_inline_cache_entries", None)
    if isinstance(entries, dict):  # 3.13+: {name: count}
        for name, count in entries.items():
            op = opcode.opmap.get(name)
            if op is not None and op < 256:
                table[op] = count
    elif entries is not None:  # 3.11, 3.12: indexed by opcode
        for op, count in enumerate(entries):
            if op < 256:
                table[op] = count
    return bytes(table)


_CACHES = _inline_cache_table()
_NOP = opcode.opmap["NOP"]
_JREL = frozenset(op for op in getattr(opcode, "hasjrel", ()) if op < 256)
_JABS = frozenset(op for op in getattr(opcode, "hasjabs", ()) if op < 256)  # 3.10
_BACKWARD = frozenset(op for name, op in opcode.opmap.items()
                      if "JUMP_BACKWARD" in name and op < 256)
_JUMP_PAST_CACHES = sys.version_info >= (3, 12)  # as dis computes targets on each version
_UNCONDITIONAL = frozenset(opcode.opmap[name]
                           for name in ("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_ABSOLUTE")
                           if name in opcode.opmap)


def _conditional_jumps() -> tuple[dict[int, int], dict[int, int]]:
    """Conditional jump -> its opposite; and every jump -> a direction-free opcode (above 255)."""
    inverse: dict[int, int] = {}
    canonical = {op: 256 for op in _UNCONDITIONAL}
    kinds = ("FALSE", "TRUE", "NONE", "NOT_NONE")
    opposite = {"FALSE": "TRUE", "TRUE": "FALSE", "NONE": "NOT_NONE", "NOT_NONE": "NONE"}
    for name, op in opcode.opmap.items():
        m = re.fullmatch(r"POP_JUMP_(FORWARD_|BACKWARD_)?IF_(FALSE|TRUE|NONE|NOT_NONE)", name)
        if m and op < 256:
            other = opcode.opmap.get(f"POP_JUMP_{m.group(1) or ''}IF_{opposite[m.group(2)]}")
            if other is not None:
                inverse[op] = other
            canonical[op] = 257 + kinds.index(m.group(2))
    return inverse, canonical


_INVERSE, _CANONICAL_OP = _conditional_jumps()
_SUPERINSTRUCTIONS = {  # 3.13+: two instructions fused by the compiler when they share a line
    opcode.opmap[fused]: (opcode.opmap[a], opcode.opmap[b])
    for fused, (a, b) in {
        "LOAD_FAST_LOAD_FAST": ("LOAD_FAST", "LOAD_FAST"),
        "STORE_FAST_LOAD_FAST": ("STORE_FAST", "LOAD_FAST"),
        "STORE_FAST_STORE_FAST": ("STORE_FAST", "STORE_FAST"),
        "LOAD_FAST_BORROW_LOAD_FAST_BORROW": ("LOAD_FAST_BORROW", "LOAD_FAST_BORROW"),
    }.items()
    if fused in opcode.opmap and a in opcode.opmap and b in opcode.opmap
}
_IMPORT_NAME = opcode.opmap["IMPORT_NAME"]
_LOAD_CONST = opcode.opmap["LOAD_CONST"]
_LOAD_SMALL_INT = opcode.opmap.get("LOAD_SMALL_INT", -1)  # 3.14+
_ints4 = struct.Struct("<4Q").pack  # co_flags and the argument counts: small non-negative ints


def _code_stream(code: types.CodeType) -> tuple[bytes, dict[int, int]]:
    """The instructions of ``code`` in a form that does not depend on line structure.

    Each instruction becomes a 2-byte opcode and a 4-byte full argument (EXTENDED_ARG folded in,
    inline caches skipped). The compiler makes some choices from line numbers alone, and those are
    undone:

    * ``NOP``s, which are kept only to carry a line number, are dropped.
    * 3.13 superinstructions such as ``LOAD_FAST_LOAD_FAST``, which fuse two instructions only when
      they are on one line, are split again.
    * A conditional jump to an unconditional jump goes straight to the final target, and "jump if X
      over a jump to L" becomes "jump if not X to L". 3.12 threads jumps only within one line, so
      splitting a comprehension's ``if`` over lines gives one of these two shapes.
    * Jump targets and exception-table ranges become instruction indices in this stream, so none of
      the above shifts them; the jump direction and the ``FORWARD``/``BACKWARD`` opcode variants
      then say nothing more and are merged.

    Constant operands become the constant's rank in first-use order. Adding a docstring renumbers
    the constant slots, but not the ranks. Also returns the map slot -> rank of the constants the
    code loads.
    """
    decoded, index_at, units = _decode(code)
    n = len(decoded)
    ops = [d[0] for d in decoded]
    tgt = [index_at[min(d[2], units)] if d[2] >= 0 else -1 for d in decoded]
    exc = getattr(code, "co_exceptiontable", None)  # 3.11+
    entries = _exception_entries(exc, index_at, units) if exc else []
    # Jump threading: a (conditional or not) jump to an unconditional jump goes to its final target.
    for i in range(n):
        if tgt[i] >= 0 and (ops[i] in _UNCONDITIONAL or ops[i] in _INVERSE):
            j = tgt[i]
            hops = 0
            while j < n and ops[j] in _UNCONDITIONAL and tgt[j] != j and hops < n:
                j = tgt[j]
                hops += 1
            tgt[i] = j
    # "if X goto L1; goto L0; L1:" is "if not X goto L0; L1:" when nothing else reaches "goto L0".
    removed = [False] * n
    targeted = set(tgt)
    targeted.update(e[2] for e in entries)
    for i in range(n - 1):
        if (ops[i] in _INVERSE and tgt[i] == i + 2 and ops[i + 1] in _UNCONDITIONAL
                and not removed[i] and i + 1 not in targeted):
            ops[i] = _INVERSE[ops[i]]
            tgt[i] = tgt[i + 1]
            removed[i + 1] = True
    new_pos = [0] * (n + 1)  # old index -> index among the kept instructions
    kept = 0
    for i in range(n):
        new_pos[i] = kept
        kept += not removed[i]
    new_pos[n] = kept
    rank: dict[int, int] = {}
    nconsts = len(code.co_consts)
    out = bytearray()
    for i in range(n):
        if removed[i]:
            continue
        op = ops[i]
        arg = decoded[i][1]
        if tgt[i] >= 0:
            arg = new_pos[min(tgt[i], n)]
        elif op in _HASCONST and arg < nconsts:
            r = rank.get(arg)
            if r is None:
                r = rank[arg] = len(rank)
            arg = r
        out += _CANONICAL_OP.get(op, op).to_bytes(2, "little")
        out += arg.to_bytes(4, "little")
    if entries:
        merged: list[list[int]] = []
        for start, end, handler, depth_lasti in entries:
            first, last = new_pos[start], new_pos[end]
            if first == last:
                continue  # it covered only NOPs or removed jumps
            entry = [first, last, new_pos[handler], depth_lasti]
            if merged and merged[-1][1] == first and merged[-1][2:] == entry[2:]:
                merged[-1][1] = last  # adjacent ranges with one handler: one range
            else:
                merged.append(entry)
        flat = [x for e in merged for x in e]
        out += b"X" + struct.pack(f"<{len(flat) + 1}Q", len(merged), *flat)
    return bytes(out), rank


def _decode(code: types.CodeType) -> tuple[list[tuple[int, int, int, int]], list[Any], int]:
    """Instructions as (opcode, full argument, jump target code unit or -1, code unit), without
    NOPs and with superinstructions split; plus, for every code unit, the index of the next
    instruction."""
    co = code.co_code
    units = len(co) // 2
    caches = _CACHES
    index_at: list[int | None] = [None] * (units + 1)
    decoded: list[tuple[int, int, int, int]] = []
    ext = 0
    u = 0
    while u < units:
        op = co[2 * u]
        arg = co[2 * u + 1] | ext
        if index_at[u] is None:
            index_at[u] = len(decoded)
        if op == _EXTENDED_ARG:
            ext = arg << 8
            u += 1
            continue
        ext = 0
        ncache = caches[op]
        target = -1
        if op in _JREL:
            target = u + 1 + (-arg if op in _BACKWARD else arg)
            if _JUMP_PAST_CACHES:
                target += ncache
        elif op in _JABS:
            target = arg
        if op == _NOP:
            pass
        elif op in _SUPERINSTRUCTIONS:
            first, second = _SUPERINSTRUCTIONS[op]
            decoded.append((first, arg >> 4, -1, u))
            decoded.append((second, arg & 15, -1, u))
        else:
            decoded.append((op, arg, target, u))
        u += 1 + ncache
    index_at[units] = len(decoded)
    for u in range(units - 1, -1, -1):
        if index_at[u] is None:
            index_at[u] = index_at[u + 1]
    return decoded, index_at, units


def _exception_entries(table: bytes, index_at: list[Any],
                       units: int) -> list[tuple[int, int, int, int]]:
    """The exception table (3.11+) as (start, end, handler, depth and lasti), in instruction
    indices."""
    entries = []
    it = iter(table)

    def varint() -> int:  # the encoding of CPython's Objects/exception_handling_notes.txt
        b = next(it)
        value = b & 63
        while b & 64:
            b = next(it)
            value = (value << 6) | (b & 63)
        return value

    try:
        while True:
            start = varint()
            end = start + varint()
            handler = varint()
            depth_lasti = varint()
            entries.append((index_at[min(start, units)], index_at[min(end, units)],
                            index_at[min(handler, units)], depth_lasti))
    except StopIteration:
        pass
    return entries


def _has_docstring_slot(code: types.CodeType) -> bool:
    """Whether ``co_consts[0]`` is the docstring slot of a ``def`` function."""
    if code.co_name.startswith("<") or code.co_flags & _CO_FUNCTION != _CO_FUNCTION:
        return False  # lambdas, comprehensions, class bodies and modules have no docstring slot
    if _PY314:
        return bool(code.co_flags & _CO_HAS_DOCSTRING)
    consts = code.co_consts
    # 3.10-3.13 always reserve slot 0 for a def: the docstring, or None without one (measured).
    return bool(consts) and (consts[0] is None or type(consts[0]) is str)


def _e_const(c: Any, cache: dict[int, bytes] | None, keep: list[Any] | None) -> bytes:
    if c is None:
        return b"N"
    t = type(c)
    if t is str:
        return _e_str(c)
    if t is int:
        return _e_int(c)
    if t is bool:
        return b"T" if c else b"F"
    if t is float:
        return _e_float(c)
    if t is types.CodeType:
        return b"C" + _code_digest(c, cache, keep)
    if t is tuple:
        return b"(" + _u64(len(c)) + b"".join([_e_const(x, cache, keep) for x in c])
    if t is frozenset:
        # Sorted by encoding, never by repr or iteration order (both depend on PYTHONHASHSEED).
        return b">" + _u64(len(c)) + b"".join(sorted([_e_const(x, cache, keep) for x in c]))
    if t is bytes:
        return _e_bytes(c)
    if t is complex:
        return _e_complex(c)
    if c is Ellipsis:
        return b"E"
    if t is slice:  # 3.14 folds constant slices
        return b":" + b"".join([_e_const(x, cache, keep) for x in (c.start, c.stop, c.step)])
    # A constant type the compiler may add in a future version: marshal is canonical for constants.
    return _e_bytes(t.__qualname__.encode() + b"\0" + marshal.dumps(c), b"?")


def _code_digest(code: types.CodeType, cache: dict[int, bytes] | None,
                 keep: list[Any] | None) -> bytes:
    if cache is not None:
        hit = cache.get(id(code))
        if hit is not None:
            return hit
    stream, rank = _code_stream(code)
    consts = code.co_consts
    flags = code.co_flags & ~_CO_HAS_DOCSTRING if _PY314 else code.co_flags
    buf = bytearray(b"assetbuild-code\x01")
    buf += _e_bytes(stream)
    buf += _ints4(flags, code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount)
    buf += _e_strs(code.co_names)
    buf += _e_strs(code.co_varnames)
    buf += _e_strs(code.co_freevars)
    buf += _e_strs(code.co_cellvars)
    buf += _e_str(code.co_name)
    # Constants the code loads, in first-use order; then the rest in slot order, minus the
    # docstring.
    loaded = sorted(rank, key=rank.__getitem__)
    buf += b"K" + _u64(len(loaded))
    for slot in loaded:
        buf += _e_const(consts[slot], cache, keep)
    drop_doc = 0 not in rank and _has_docstring_slot(code)
    rest = [slot for slot in range(len(consts))
            if slot not in rank and not (slot == 0 and drop_doc)]
    buf += b"U" + _u64(len(rest))
    for slot in rest:
        buf += _e_const(consts[slot], cache, keep)
    digest = _sha256(buf).digest()
    if cache is not None and keep is not None:
        keep.append(code)  # a strong reference: the id stays this object's while the entry lives
        cache[id(code)] = digest
    return digest


def code_digest(code: types.CodeType) -> bytes:
    """Static digest (32 bytes) of a code object, recursing into nested code objects in co_consts.

    A pure function of the code object. It covers the bytecode (constant operands renumbered by
    first use), flags, argument counts, names, local, free and cell variable names, ``co_name``,
    the exception table, and the constants, which are type-tagged and recursive. It leaves out the
    file name, line numbers, position tables, ``co_qualname`` and the docstring.
    """
    return _code_digest(code, None, None)


# --------------------------------------------------------------------------------------------------
# Dynamic part: the function graph.


class _Node:
    """A project function or class: recursed into, memoized, one vertex of the reference graph."""

    __slots__ = ("bad", "children", "digest", "index", "items", "label", "low", "names", "obj",
                 "on_stack", "rendered")

    def __init__(self, obj: object) -> None:
        self.obj = obj  # strong reference: ids in the memo must not be reused
        self.label: str | None = None  # module.qualname, a function of obj alone (see _label)
        self.index = -1  # Tarjan's bookkeeping
        self.low = -1
        self.on_stack = False
        # (section, key, header, encoding, what it refers to); it refers to a _Node, a part label
        # or nothing (None).
        self.items: list[tuple[bytes, str, bytes, _Enc, _Node | str | None]] = []
        self.children: set[_Node] = set()
        self.bad: dict[str, set[str]] = {}  # where -> phrases ("an instance of x.Y")
        self.names: tuple[str, ...] = ()
        self.digest = b""  # set when its strongly connected component is finished
        self.rendered: list[bytes] | None = None  # items with final digests, once known


class _Sorted:
    """A sorted group whose elements contain node references: sorted once the digests are known."""

    __slots__ = ("elems",)

    def __init__(self, elems: list[_Enc]) -> None:
        self.elems = elems


# An encoding is plain bytes or, when it refers to project nodes, a list of bytes, _Node, _Sorted.
_Enc = bytes | list


class _Out:
    __slots__ = ("buf", "segs")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.segs: list[Any] | None = None

    def _flush(self) -> list[Any]:
        segs = self.segs
        if segs is None:
            segs = self.segs = []
        if self.buf:
            segs.append(bytes(self.buf))
            self.buf = bytearray()
        return segs

    def node(self, node: _Node) -> None:
        self._flush().append(node)

    def sorted_group(self, elems: list[_Enc]) -> None:
        self._flush().append(_Sorted(elems))

    def finish(self) -> _Enc:
        if self.segs is None:
            return bytes(self.buf)
        return self._flush()


def _render(enc: _Enc, resolve: Callable[[_Node], bytes]) -> bytes:
    if type(enc) is bytes:
        return enc
    chunks = []
    for seg in enc:
        t = type(seg)
        if t is bytes:
            chunks.append(seg)
        elif t is _Node:
            chunks.append(resolve(seg))
        else:
            chunks.append(b"".join(sorted([_render(e, resolve) for e in seg.elems])))
    return b"".join(chunks)


def _final(node: _Node) -> bytes:
    return b"H" + node.digest


def _local(node: _Node, resolve: Callable[[_Node], bytes]) -> bytes:
    return b"".join([head + _render(enc, resolve) for _, _, head, enc, _ in node.items])


def _label(node: _Node) -> str:
    label = node.label
    if label is None:
        obj = node.obj
        label = node.label = f"{_attr(obj, '__module__') or '<generated>'}.{_qualname(obj)}"
    return label


def _qualname(obj: object) -> str:
    q = _attr(obj, "__qualname__")
    if not isinstance(q, str):
        q = _attr(obj, "__name__")
    return q if isinstance(q, str) else type(obj).__qualname__


def _attr(obj: object, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - odd proxies raise anything from __getattr__
        return None


def _type_name(obj: object) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


# Class-namespace entries that are bookkeeping, not behaviour.
_SKIP_CLASS_ATTRS = frozenset({
    "__doc__", "__module__", "__dict__", "__weakref__", "__qualname__", "__firstlineno__",
    "__static_attributes__", "_abc_impl",
})
# Enum bookkeeping kept in the class dict; members are encoded from __members__ instead.
_ENUM_INTERNALS = frozenset({
    "_member_names_", "_member_map_", "_value2member_map_", "_unhashable_values_",
    "_unhashable_values_map_", "_member_type_", "_value_repr_", "_new_member_", "_use_args_",
    "_hashable_values_", "_singles_mask_", "_all_bits_", "_boundary_", "_flag_mask_", "_inverted_",
    "_numeric_repr_", "_sort_order_",
})

# Module-level singletons of the stdlib that appear in generated code (dataclass __init__ closures).
_SENTINELS: dict[int, tuple[object, str]] = {}
for _name in ("MISSING", "KW_ONLY", "_HAS_DEFAULT_FACTORY", "_FIELD", "_FIELD_CLASSVAR",
              "_FIELD_INITVAR"):
    _obj = getattr(dataclasses, _name, None)
    if _obj is not None:
        _SENTINELS[id(_obj)] = (_obj, "dataclasses." + _name)
del _name, _obj

_PATTERN = type(re.compile(""))
_MAPPINGPROXY = types.MappingProxyType
_MEMBER_DESCRIPTOR = types.MemberDescriptorType
_GETSET_DESCRIPTOR = types.GetSetDescriptorType
_BUILTIN_FUNCTION = types.BuiltinFunctionType
_METHOD_DESCRIPTORS = (types.MethodDescriptorType, types.WrapperDescriptorType,
                       types.ClassMethodDescriptorType, types.MethodWrapperType)
_LRU_WRAPPER = type(functools.lru_cache(maxsize=None)(lambda: None))
_UNION_TYPE = getattr(types, "UnionType", None)
_DATACLASS_PARAMS = getattr(dataclasses, "_DataclassParams", None)
_SCALARS = (int, float, complex, str, bytes)
_CONTAINER_DEPTH_LIMIT = 200
_PROJECT_MARKER = "<project>"


class Fingerprinter:
    """Fingerprints asset functions. Create one per load of the AssetFile.

    Helper results are memoized per object for the life of the instance. The instance therefore
    reads each helper, and the values it depends on, once. It also keeps strong references to every
    object it has memoized or added to ``code_digests``, so ids are not reused while it lives. A
    caller that keeps ``code_digests`` longer than this instance must keep the code objects alive
    too (holding the loaded module does that), and must drop the cache when it drops the module.
    """

    def __init__(self, *, is_project_module: Callable[[str], bool],
                 distribution_version: Callable[[str], str | None] = lambda top: None,
                 project_dir: str | None = None,
                 code_digests: dict[int, bytes] | None = None) -> None:
        self._is_project_module = is_project_module
        self._distribution_version = distribution_version
        self._code_digests: dict[int, bytes] = {} if code_digests is None else code_digests
        self._keep: list[Any] = []
        self._project: dict[str | None, bool] = {}
        self._versions: dict[str, tuple[bytes, str | None]] = {}
        self._nodes: dict[int, _Node] = {}
        self._code_names: dict[int, tuple[types.CodeType, tuple[str, ...]]] = {}
        self._code_imports: dict[int, tuple[types.CodeType, tuple[tuple[str, int], ...]]] = {}
        self._terminals: dict[int, tuple[object, bytes, str, str | None]] = {}
        self._data: dict[int, tuple[object, bytes, tuple[str, ...]]] = {}
        self._pending: list[_Node] = []  # nodes created by the current walk, not yet built
        self._created: list[_Node] = []  # every node created by the current walk
        self._active: set[int] = set()  # containers, objects, modules being encoded: cycle guard
        self._project_module_encodings = 0
        self._label_bytes: dict[str, bytes] = {}  # part label -> its encoding
        self._part_digests: dict[bytes, bytes] = {}  # small part encodings -> their digests
        prefix = None
        if project_dir is not None:
            prefix = os.path.normpath(os.fspath(project_dir))  # a pure string operation
            seps = os.sep + (os.altsep or "")
            stripped = prefix.rstrip(seps)
            prefix = stripped or None  # the filesystem root would match every path: no rewriting
        self._prefix = prefix
        self._seps = tuple(os.sep + (os.altsep or ""))

    # ---------------------------------------------------------------- public

    def fingerprint_function(self, fn: types.FunctionType, asset: str) -> Fingerprint:
        """Fingerprint ``fn``, the function of asset ``asset``."""
        if not isinstance(fn, types.FunctionType):
            raise TypeError(f"asset {asset!r}: expected a function, got {_type_name(fn)}")
        if not (fn.__defaults__ or fn.__kwdefaults__ or fn.__closure__):
            leaf = self._leaf(fn)
            if leaf is not None:
                return leaf
        node = self._nodes.get(id(fn))
        if node is None:
            if not (fn.__defaults__ or fn.__kwdefaults__ or fn.__closure__
                    or self._names_of(fn.__code__)):
                # Fast path, same result as the general one: only the code part.
                static = _code_digest(fn.__code__, self._code_digests, self._keep)
                code = _sha256(b"cF" + static + b"NN")
                digest = _sha256(_DIGEST_SEED + _CODE_LABEL + code.digest()).hexdigest()
                return Fingerprint(digest=digest, parts={"code": code.hexdigest()}, warnings=())
            try:
                node = self._walk(fn)
            except BaseException:
                self._rollback()
                raise
            finally:
                self._created.clear()
        return self._assemble(node, asset)

    def _leaf(self, fn: types.FunctionType) -> Fingerprint | None:
        """Shortcut for an asset function that reads nothing but builtins (``str``, ``int``...).

        Generated and simple pipelines are mostly such functions, and the full walk costs several
        times more. Whether the shortcut applies depends only on the function itself (never on
        what was fingerprinted before), so its digest is as stable as the full walk's; a global
        that shadows a builtin makes the function take the full walk.
        """
        names = self._names_of(fn.__code__)
        if not names:
            return None
        g = fn.__globals__
        b = fn.__builtins__ if isinstance(fn.__builtins__, dict) else builtins.__dict__
        for name in names:
            if name in g:
                return None
            v = b.get(name, _MISSING)
            if v is _MISSING or getattr(v, "__module__", None) != "builtins":
                return None
        static = _code_digest(fn.__code__, self._code_digests, self._keep)
        code = _sha256(b"cL" + static + "\x00".join(names).encode())
        digest = _sha256(_DIGEST_SEED + _CODE_LABEL + code.digest()).hexdigest()
        return Fingerprint(digest=digest, parts={"code": code.hexdigest()}, warnings=())

    # ---------------------------------------------------------------- graph walk (Tarjan's SCC)

    def _walk(self, fn: types.FunctionType) -> _Node:
        """Build every node reachable from ``fn`` (a worklist, so deep call chains need no deep
        recursion), then finish their strongly connected components."""
        root = _Node(fn)
        self._nodes[id(fn)] = root
        self._created.append(root)
        pending = self._pending
        pending.append(root)
        while pending:
            node = pending.pop()
            if isinstance(node.obj, type):
                self._build_class(node, node.obj)
            else:
                self._build_function(node, node.obj)
        self._components(root)
        return root

    def _ref(self, obj: Any, out: _Out, node: _Node) -> _Node:
        """Refer to the project function or class ``obj`` from ``node`` (built later if new)."""
        child = self._nodes.get(id(obj))
        if child is None:
            child = self._nodes[id(obj)] = _Node(obj)
            self._created.append(child)
            self._pending.append(child)
        node.children.add(child)
        out.node(child)
        return child

    def _components(self, root: _Node) -> None:
        """Tarjan's algorithm, iterative, over the unfinished nodes reachable from ``root``.

        Components come out callees first, so every node outside a component is finished (has its
        digest) when the component is.
        """
        counter = 0
        stack: list[_Node] = []
        root.index = root.low = counter
        counter += 1
        root.on_stack = True
        stack.append(root)
        calls = [(root, iter(root.children))]
        while calls:
            v, children = calls[-1]
            for w in children:
                if w.digest:
                    continue  # finished: by an earlier walk, or in a component already done
                if w.index < 0:
                    w.index = w.low = counter
                    counter += 1
                    w.on_stack = True
                    stack.append(w)
                    calls.append((w, iter(w.children)))
                    break
                if w.on_stack:
                    v.low = min(v.low, w.index)
            else:
                calls.pop()
                if calls:
                    u = calls[-1][0]
                    u.low = min(u.low, v.low)
                if v.low == v.index:
                    members = []
                    while True:
                        n = stack.pop()
                        n.on_stack = False
                        members.append(n)
                        if n is v:
                            break
                    self._finish_component(members)

    def _finish_component(self, members: list[_Node]) -> None:
        if len(members) == 1 and members[0] not in members[0].children:
            node = members[0]
            node.rendered = [_render(enc, _final) for _, _, _, enc, _ in node.items]
            node.digest = _sha256(b"A" + b"".join(
                [item[2] + r for item, r in zip(node.items, node.rendered)])).digest()
            return
        # A cycle. Inside the component, references are by label; each member's digest is derived
        # from the whole component, so it does not depend on which member the walk entered first.
        inside = {id(m) for m in members}

        def resolve(n: _Node) -> bytes:
            return b"R" + _e_str(_label(n)) if id(n) in inside else b"H" + n.digest

        locals_ = [(m, _sha256(_local(m, resolve)).digest()) for m in members]
        pairs = sorted([_e_str(_label(m)) + h for m, h in locals_])
        component = _sha256(b"S" + _u64(len(pairs)) + b"".join(pairs)).digest()
        for m, h in locals_:
            m.digest = _sha256(b"Y" + component + _e_str(_label(m)) + h).digest()

    def _rollback(self) -> None:
        """Forget the unfinished nodes of a walk that raised, so a later call starts clean."""
        for n in self._created:
            if not n.digest:
                self._nodes.pop(id(n.obj), None)
        self._pending.clear()
        self._active.clear()

    def _is_project(self, module: Any) -> bool:
        hit = self._project.get(module)
        if hit is None:
            hit = isinstance(module, str) and bool(self._is_project_module(module))
            self._project[module] = hit
        return hit

    # ---------------------------------------------------------------- functions and classes

    def _names_of(self, code: types.CodeType) -> tuple[str, ...]:
        """Every name the code and its nested code read: globals, attributes, imported modules."""
        hit = self._code_names.get(id(code))
        if hit is not None:
            return hit[1]
        for k in code.co_consts:
            if type(k) is types.CodeType:
                break
        else:  # no nested code: co_names has no duplicates
            return tuple(sorted(code.co_names))
        names: set[str] = set()
        todo = [code]
        while todo:
            c = todo.pop()
            names.update(c.co_names)
            todo.extend([k for k in c.co_consts if type(k) is types.CodeType])
        result = tuple(sorted(names))
        self._code_names[id(code)] = (code, result)
        return result

    def _imports_in(self, code: types.CodeType) -> tuple[tuple[str, int], ...]:
        """(module name, relative level) of every ``import`` in the code and nested code."""
        hit = self._code_imports.get(id(code))
        if hit is not None:
            return hit[1]
        if _IMPORT_NAME not in code.co_code[::2] and not any(
                type(k) is types.CodeType for k in code.co_consts):
            return ()
        found: set[tuple[str, int]] = set()
        todo = [code]
        while todo:
            c = todo.pop()
            todo.extend([k for k in c.co_consts if type(k) is types.CodeType])
            if _IMPORT_NAME not in c.co_code[::2]:
                continue
            decoded = _decode(c)[0]
            for i, (op, arg, _, _) in enumerate(decoded):
                if op == _IMPORT_NAME:
                    level = 0  # pushed two instructions before: level, fromlist, IMPORT_NAME
                    if i >= 2:
                        prev, prev_arg = decoded[i - 2][0], decoded[i - 2][1]
                        if prev == _LOAD_CONST and prev_arg < len(c.co_consts):
                            value = c.co_consts[prev_arg]
                            level = value if type(value) is int else 0
                        elif prev == _LOAD_SMALL_INT:
                            level = prev_arg
                    found.add((c.co_names[arg], level))
        result = tuple(sorted(found))
        self._code_imports[id(code)] = (code, result)
        return result

    def _import_items(self, node: _Node, fn: types.FunctionType) -> None:
        """Modules imported inside the function are not globals: look them up in sys.modules."""
        g = fn.__globals__
        imports = self._imports_in(fn.__code__)
        for name, level in imports:
            if level:
                package = g.get("__package__") or ""
                parts = package.split(".") if package else []
                if level - 1 > len(parts):
                    continue
                base = ".".join(parts[:len(parts) - (level - 1)])
                name = f"{base}.{name}" if base and name else (base or name)
            if not name:
                continue
            where = f"module '{name}' imported inside the function"
            out = _Out()
            module = sys.modules.get(name)
            if isinstance(module, types.ModuleType):
                label = self._module(module, out, node, where, 0)
            else:  # not imported yet: a distribution can still be named and versioned
                version, phrase = self._version(name)
                out.buf += b"M" + _e_str(name) + version
                label = f"module:{name}"
                if self._is_project(name) or phrase is not None:
                    self._bad(out, node, where, phrase or "a project module not loaded yet")
            node.items.append((b"i", name, b"i" + _e_str(name), out.finish(), label))

    def _build_function(self, node: _Node, fn: types.FunctionType) -> None:
        code = fn.__code__
        items = node.items
        names = node.names = self._names_of(code)  # also: what it may reach in project modules
        out = _Out()
        out.buf += b"F" + _code_digest(code, self._code_digests, self._keep)
        defaults = fn.__defaults__
        if defaults:
            params = code.co_varnames[:code.co_argcount]
            first = len(params) - len(defaults)
            out.buf += b"(" + _u64(len(defaults))
            for i, value in enumerate(defaults):
                self._enc(value, out, node, f"default of parameter '{params[first + i]}'", 0)
        else:
            out.buf += b"N"
        kwdefaults = fn.__kwdefaults__
        if kwdefaults:
            out.buf += b"{" + _u64(len(kwdefaults))
            for name in sorted(kwdefaults):
                out.buf += _e_str(name)
                self._enc(kwdefaults[name], out, node, f"default of parameter '{name}'", 0)
        else:
            out.buf += b"N"
        items.append((b"c", "", b"c", out.finish(), None))
        closure = fn.__closure__
        if closure:
            for name, cell in zip(code.co_freevars, closure):
                out = _Out()
                try:
                    value = cell.cell_contents
                except ValueError:
                    out.buf += b"\x00"  # an empty cell (a variable not assigned yet)
                else:
                    self._enc(value, out, node, f"closure variable '{name}'", 0)
                items.append((b"v", name, b"v" + _e_str(name), out.finish(), None))
        if names:
            g = fn.__globals__
            b = fn.__builtins__ if isinstance(fn.__builtins__, dict) else builtins.__dict__
            for name in names:
                if name in g:
                    value = g[name]
                elif name in b:
                    value = b[name]
                else:
                    continue  # an attribute name, or a global not defined (yet)
                out = _Out()
                refers = self._enc(value, out, node, f"global '{name}'", 0)
                items.append((b"g", name, b"g" + _e_str(name), out.finish(), refers))
            self._import_items(node, fn)

    def _build_class(self, node: _Node, cls: type) -> None:
        out = _Out()
        out.buf += b"K" + _e_str(cls.__qualname__)
        meta = type(cls)
        self._enc(None if meta is type else meta, out, node, "metaclass", 0)
        self._enc(cls.__bases__, out, node, "base classes", 0)
        node.items.append((b"k", "", b"k", out.finish(), None))
        ns = vars(cls)
        skip: frozenset[str] | set[str] = _SKIP_CLASS_ATTRS
        if isinstance(cls, enum.EnumMeta):
            members = list(cls.__members__.items())  # definition order, aliases included
            out = _Out()
            out.buf += b"(" + _u64(len(members))
            for name, member in members:
                out.buf += _e_str(name)
                self._enc(member._value_, out, node, f"value of member '{name}'", 0)
            node.items.append((b"m", "", b"m", out.finish(), None))
            skip = _SKIP_CLASS_ATTRS | _ENUM_INTERNALS | set(cls.__members__)
        for name in sorted(ns):
            if name in skip:
                continue
            out = _Out()
            self._enc_class_attr(ns[name], out, node, f"class attribute '{name}'")
            node.items.append((b"a", name, b"a" + _e_str(name), out.finish(), None))

    def _enc_class_attr(self, value: Any, out: _Out, node: _Node, where: str) -> None:
        t = type(value)
        if t is types.FunctionType:
            module = value.__module__
            if module is None or self._is_project(module) or module not in sys.modules:
                # Methods, also ones made by exec (dataclass __init__, NamedTuple __new__).
                self._ref(value, out, node)
                return
        elif t is staticmethod or t is classmethod:
            out.buf += b"@s" if t is staticmethod else b"@c"
            self._enc_class_attr(value.__func__, out, node, where)
            return
        elif t is property:
            out.buf += b"@p"
            for f in (value.fget, value.fset, value.fdel):
                self._enc_class_attr(f, out, node, where)
            return
        elif t is functools.cached_property:
            out.buf += b"@a" + _e_str(str(value.attrname))
            self._enc_class_attr(value.func, out, node, where)
            return
        elif t is _MEMBER_DESCRIPTOR or t is _GETSET_DESCRIPTOR:
            out.buf += b"@d" + _e_str(value.__name__)  # slots and __dict__: derived from __slots__
            return
        self._enc(value, out, node, where, 0)

    # ---------------------------------------------------------------- values

    def _enc(self, v: Any, out: _Out, node: _Node, where: str, depth: int) -> _Node | str | None:
        """Append the encoding of ``v``; return the node or part label it refers to (else None)."""
        t = type(v)
        if t is str:
            prefix = self._prefix
            if prefix is not None and v.startswith(prefix):
                v = self._relative(v)
            out.buf += _e_str(v)
        elif t is int:
            out.buf += _e_int(v)
        elif v is None:
            out.buf += b"N"
        elif t is bool:
            out.buf += b"T" if v else b"F"
        elif t is float:
            out.buf += _e_float(v)
        elif t is types.FunctionType:
            module = v.__module__
            if module is None or self._is_project(module):  # None: generated by exec (dataclasses)
                return self._ref(v, out, node)
            return self._object(v, v.__module__, _qualname(v), out, node, where)
        elif t is types.ModuleType:
            return self._module(v, out, node, where, depth)
        elif t is tuple or t is list or t is dict or t is set or t is frozenset:
            self._container(v, t, out, node, where, depth)
        elif t is bytes:
            out.buf += _e_bytes(v)
        elif t is complex:
            out.buf += _e_complex(v)
        elif v is Ellipsis:
            out.buf += b"E"
        elif v is NotImplemented:
            out.buf += b"I"
        elif isinstance(v, type):
            if self._is_project(v.__module__):
                return self._ref(v, out, node)
            return self._object(v, v.__module__, v.__qualname__, out, node, where)
        elif isinstance(v, types.ModuleType):
            return self._module(v, out, node, where, depth)
        else:
            return self._enc_other(v, t, out, node, where, depth)
        return None

    def _relative(self, s: str) -> str:
        prefix = self._prefix
        if prefix is not None and s.startswith(prefix):
            rest = s[len(prefix):]
            if not rest or rest[0] in self._seps:
                return _PROJECT_MARKER + rest
        return s

    def _container(self, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
        if depth == 0 and len(v) >= 8:  # big constants shared by many assets: encode once
            hit = self._data.get(id(v))
            if hit is not None:
                out.buf += hit[1]
                for phrase in hit[2]:
                    node.bad.setdefault(where, set()).add(phrase)
                return
            sub = _Out()
            saved, node.bad = node.bad, {}
            modules_before = self._project_module_encodings
            try:
                self._container(v, t, sub, node, where, 1)
            finally:
                mine, node.bad = node.bad, saved
            phrases = tuple(sorted(mine.get(where, ())))
            for phrase in phrases:
                saved.setdefault(where, set()).add(phrase)
            enc = sub.finish()
            # Not memoized when it refers to a node, or to a project module (encoded by node.names).
            if type(enc) is bytes and self._project_module_encodings == modules_before:
                self._data[id(v)] = (v, enc, phrases)
                out.buf += enc
            else:
                for seg in enc:
                    if type(seg) is bytes:
                        out.buf += seg
                    elif type(seg) is _Node:
                        out.node(seg)
                    else:
                        out.sorted_group(seg.elems)
            return
        if depth > _CONTAINER_DEPTH_LIMIT:
            self._bad(out, node, where, "data nested too deeply")
            return
        key = id(v)
        if key in self._active:
            out.buf += b"@"  # a container that contains itself
            return
        if t is tuple or t is list:
            out.buf += (b"(" if t is tuple else b"[") + _u64(len(v))
            self._active.add(key)
            try:
                for x in v:
                    self._enc(x, out, node, where, depth + 1)
            finally:
                self._active.discard(key)
            return
        self._active.add(key)
        try:
            if t is dict:
                out.buf += b"{" + _u64(len(v))
                self._sorted(list(v.items()), True, out, node, where, depth)
            else:
                out.buf += (b"<" if t is set else b">") + _u64(len(v))
                self._sorted(list(v), False, out, node, where, depth)
        finally:
            self._active.discard(key)

    def _sorted(self, elems: list[Any], pairs: bool, out: _Out, node: _Node, where: str,
                depth: int) -> None:
        encs = []
        plain = True
        for e in elems:
            sub = _Out()
            if pairs:
                self._enc(e[0], sub, node, where, depth + 1)
                self._enc(e[1], sub, node, where, depth + 1)
            else:
                self._enc(e, sub, node, where, depth + 1)
            enc = sub.finish()
            if type(enc) is not bytes:
                plain = False
            encs.append(enc)
        if plain:
            encs.sort()
            out.buf += b"".join(encs)
        else:
            out.sorted_group(encs)

    def _bad(self, out: _Out, node: _Node, where: str, phrase: str) -> None:
        out.buf += b"!" + _e_str(phrase)
        node.bad.setdefault(where, set()).add(phrase)

    # ---------------------------------------------------------------- modules and named objects

    def _version(self, module: str) -> tuple[bytes, str | None]:
        top = module.partition(".")[0]
        hit = self._versions.get(top)
        if hit is None:
            if top in sys.stdlib_module_names or top == "builtins":
                hit = (b"S", None)  # the Python version is in the key elsewhere
            else:
                version = self._distribution_version(top)
                if version is None:
                    hit = (b"U", f"module {top}: neither in the project nor an installed package")
                else:
                    hit = (b"V" + _e_str(str(version)), None)
            self._versions[top] = hit
        return hit

    def _object(self, v: Any, module: Any, qualname: str, out: _Out, node: _Node,
                where: str) -> str:
        """A function, class or other named object from outside the project: name + version."""
        hit = self._terminals.get(id(v))
        if hit is None:
            if isinstance(module, str):
                version, phrase = self._version(module)
            else:
                module, version, phrase = "?", b"U", f"{qualname}: defined in no module"
            enc = b"O" + _e_str(module) + _e_str(qualname) + version
            hit = self._terminals[id(v)] = (v, enc, f"object:{module}.{qualname}", phrase)
        out.buf += hit[1]
        if hit[3] is not None:
            node.bad.setdefault(where, set()).add(hit[3])
        return hit[2]

    def _module(self, m: types.ModuleType, out: _Out, node: _Node, where: str, depth: int) -> str:
        name = _attr(m, "__name__")
        if not isinstance(name, str):
            self._bad(out, node, where, "a module without a name")
            return f"module:{name}"
        if not self._is_project(name):
            hit = self._terminals.get(id(m))
            if hit is None:
                version, phrase = self._version(name)
                enc = b"M" + _e_str(name) + version
                hit = self._terminals[id(m)] = (m, enc, f"module:{name}", phrase)
            out.buf += hit[1]
            if hit[3] is not None:
                node.bad.setdefault(where, set()).add(hit[3])
            return hit[2]
        # A project module: the attributes the code may reach through it are the names it reads.
        self._project_module_encodings += 1
        out.buf += b"P" + _e_str(name)
        key = id(m)
        if key in self._active or depth > _CONTAINER_DEPTH_LIMIT:
            out.buf += b"@"
            return f"module:{name}"
        ns = vars(m)
        attrs = [a for a in node.names if a in ns]
        out.buf += _u64(len(attrs))
        self._active.add(key)
        try:
            for a in attrs:
                out.buf += _e_str(a)
                self._enc(ns[a], out, node, f"attribute '{a}' of module '{name}'", depth + 1)
        finally:
            self._active.discard(key)
        return f"module:{name}"

    def _named(self, v: Any) -> tuple[str, str] | None:
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
            if self._is_project(module):
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

    # ---------------------------------------------------------------- everything else

    def _enc_other(self, v: Any, t: type, out: _Out, node: _Node, where: str,
                   depth: int) -> _Node | str | None:
        hit = self._terminals.get(id(v))
        if hit is not None and hit[0] is v:  # a named object or module seen before
            out.buf += hit[1]
            if hit[3] is not None:
                node.bad.setdefault(where, set()).add(hit[3])
            return hit[2]
        sentinel = _SENTINELS.get(id(v))
        if sentinel is not None and sentinel[0] is v:
            out.buf += b"Z" + _e_str(sentinel[1])
            return None
        if depth > _CONTAINER_DEPTH_LIMIT:
            self._bad(out, node, where, "data nested too deeply")
            return None
        key = id(v)
        if key in self._active:
            out.buf += b"@"  # an object that refers back to itself (a parent pointer...)
            return None
        self._active.add(key)
        try:
            return self._enc_object(v, t, out, node, where, depth)
        finally:
            self._active.discard(key)

    def _enc_object(self, v: Any, t: type, out: _Out, node: _Node, where: str,
                    depth: int) -> _Node | str | None:
        """Functions, methods and instances that are not plain data: by value when faithful."""
        enc = self._enc
        if t is _BUILTIN_FUNCTION or t is types.MethodType or t in _METHOD_DESCRIPTORS:
            named = self._named(v)
            if named is not None:
                return self._object(v, named[0], named[1], out, node, where)
            bound = v.__self__ if t is _BUILTIN_FUNCTION or t is types.MethodType else None
            if t is types.MethodType:  # a bound method: its function and what it is bound to
                out.buf += b"mb"
                enc(v.__func__, out, node, where, depth + 1)
                enc(v.__self__, out, node, where, depth + 1)
                return None
            if bound is None:
                return self._object(v, _attr(v, "__module__"), _qualname(v), out, node, where)
            if isinstance(bound, types.ModuleType):  # a C function of a module: math.floor
                return self._object(v, bound.__name__, _qualname(v), out, node, where)
            if isinstance(bound, type):  # a C method bound to a class: dict.fromkeys
                return self._object(v, bound.__module__, _qualname(v), out, node, where)
            self._bad(out, node, where, f"a method bound to an instance of {_type_name(bound)}")
            return None
        if t is staticmethod or t is classmethod:
            out.buf += b"@s" if t is staticmethod else b"@c"
            enc(v.__func__, out, node, where, depth + 1)
        elif t is property:
            out.buf += b"@p"
            for f in (v.fget, v.fset, v.fdel):
                enc(f, out, node, where, depth + 1)
        elif t is functools.partial:
            out.buf += b"fp"
            enc(v.func, out, node, where, depth + 1)
            enc(v.args, out, node, where, depth + 1)
            enc(v.keywords, out, node, where, depth + 1)
        elif t is _LRU_WRAPPER:  # @functools.cache / lru_cache around a function
            out.buf += b"lc"
            enc(v.__wrapped__, out, node, where, depth + 1)
            enc(v.cache_parameters(), out, node, where, depth + 1)
        elif t is _PATTERN:
            out.buf += b"re"
            enc(v.pattern, out, node, where, depth + 1)
            out.buf += _e_int(v.flags)
        elif t is _MAPPINGPROXY:
            out.buf += b"mp" + _u64(len(v))
            self._sorted(list(v.items()), True, out, node, where, depth)
        elif t is bytearray:
            out.buf += _e_bytes(bytes(v), b"a")
        elif t is range:
            out.buf += b"rg" + _e_int(v.start) + _e_int(v.stop) + _e_int(v.step)
        elif t is slice:
            out.buf += b"sl"
            for x in (v.start, v.stop, v.step):
                enc(x, out, node, where, depth + 1)
        elif t is dataclasses.Field or (t is _DATACLASS_PARAMS and _DATACLASS_PARAMS is not None):
            out.buf += b"dc" + _e_str(t.__qualname__)
            slots = getattr(t, "__slots__", None)
            attrs = list(slots) if slots else sorted(vars(v))
            for a in attrs:
                out.buf += _e_str(a)
                enc(getattr(v, a, None), out, node, where, depth + 1)
        elif t is _MEMBER_DESCRIPTOR or t is _GETSET_DESCRIPTOR:
            out.buf += b"@d" + _e_str(v.__name__)
        elif t is types.SimpleNamespace:
            ns = vars(v)
            out.buf += b"ns" + _u64(len(ns))
            self._sorted(list(ns.items()), True, out, node, where, depth)
        elif t is types.GenericAlias or (_UNION_TYPE is not None and t is _UNION_TYPE) \
                or t.__module__ == "typing":
            text = repr(v)  # type hints: their repr is their identity (names only, no addresses)
            if " at 0x" in text:
                self._bad(out, node, where, f"an instance of {_type_name(v)}")
            else:
                out.buf += b"ty" + _e_str(text)
        elif isinstance(v, enum.Enum):
            out.buf += b"en"
            enc(t, out, node, where, depth + 1)
            out.buf += _e_str(str(v._name_))
            enc(v._value_, out, node, where, depth + 1)
        elif isinstance(v, pathlib.PurePath):
            out.buf += b"pa" + _e_str(t.__qualname__) + _e_str(self._relative(str(v)))
        elif hasattr(t, "__dataclass_fields__"):  # a dataclass instance: its class and field values
            out.buf += b"di"
            enc(t, out, node, where, depth + 1)
            fields = dataclasses.fields(v)
            out.buf += _u64(len(fields))
            for f in fields:
                out.buf += _e_str(f.name)
                enc(getattr(v, f.name, None), out, node, where, depth + 1)
        elif isinstance(v, tuple) and hasattr(t, "_fields"):  # a namedtuple: its class and items
            out.buf += b"nt"
            enc(t, out, node, where, depth + 1)
            enc(tuple(v), out, node, where, depth + 1)
        elif isinstance(v, _SCALARS) and not hasattr(v, "__dict__"):
            # A scalar subclass with no state of its own (numpy.float64, numpy.str_): class, value.
            out.buf += b"sc"
            enc(t, out, node, where, depth + 1)
            for base in _SCALARS:
                if isinstance(v, base):
                    enc(base(v), out, node, where, depth + 1)
                    break
        else:
            special = _BY_TYPE_NAME.get((t.__module__, t.__qualname__))
            if special is not None:
                special(self, v, out, node, where, depth)
            elif isinstance(v, os.PathLike):
                path = os.fspath(v)
                out.buf += b"pl" + _e_str(_type_name(v))
                enc(path, out, node, where, depth + 1)
            else:
                named = self._named(v)  # e.g. numpy ufuncs: module-level singletons with a name
                if named is not None:
                    return self._object(v, named[0], named[1], out, node, where)
                self._bad(out, node, where, f"an instance of {_type_name(v)}")
        return None

    # ---------------------------------------------------------------- assembly

    def _assemble(self, root: _Node, asset: str) -> Fingerprint:
        """The parts of ``root`` (its own components, every helper it reaches) and their digest."""
        raw: dict[str, bytes] = {}  # label -> 32-byte digest
        reached: list[_Node] = []  # includes the root when it reaches itself (recursion)
        labels: dict[int, str] = {}
        if root.children:
            seen: set[int] = set()
            todo = list(root.children)
            while todo:
                n = todo.pop()
                if id(n) not in seen:
                    seen.add(id(n))
                    reached.append(n)
                    todo.extend(n.children)
            # Two distinct helpers with one label (a functools.wraps wrapper and the function it
            # wraps) are told apart by digest order.
            by_label: dict[str, list[_Node]] = {}
            for n in reached:
                by_label.setdefault(_label(n), []).append(n)
            for label, nodes in by_label.items():
                if len(nodes) > 1:
                    nodes.sort(key=lambda n: n.digest)
                for i, n in enumerate(nodes):
                    part = f"helper:{label}" if i == 0 else f"helper:{label}#{i + 1}"
                    labels[id(n)] = part
                    raw[part] = n.digest
        bindings = []
        label_bytes = self._label_bytes
        rendered = root.rendered or [_render(item[3], _final) for item in root.items]
        for (section, key, head, _, refers), body in zip(root.items, rendered):
            if section == b"c":
                label = "code"
            elif section == b"v":
                label = f"closure:{key}"
            elif type(refers) is _Node:
                label = labels[id(refers)]
                bindings.append(head + (label_bytes.get(label) or self._encode_label(label)))
                continue
            else:
                label = f"global:{key}" if refers is None else refers
                bindings.append(head + (label_bytes.get(label) or self._encode_label(label)))
            body = section + body
            digest = self._part_digests.get(body)  # values and modules many assets share: hash once
            if digest is None:
                digest = _sha256(body).digest()
                if len(body) < 512:
                    self._part_digests[body] = digest
            while raw.get(label, digest) != digest:  # not in practice: labels name distinct things
                label += "#"
            raw[label] = digest
        if bindings:
            # Which name is bound to what: swapping two helpers between two names changes no other
            # part.
            raw["names"] = _sha256(b"".join(bindings)).digest()
        order = sorted(raw)
        body = [(label_bytes.get(label) or self._encode_label(label)) + raw[label]
                for label in order]
        digest = _sha256(_DIGEST_SEED + b"".join(body)).hexdigest()
        parts = {label: raw[label].hex() for label in order}
        warnings: set[str] = set()
        for n in [root, *[r for r in reached if r is not root]]:
            if n.bad:
                helper = "" if n is root else f" of helper '{labels[id(n)][7:]}'"
                for where, phrases in n.bad.items():
                    warnings.add(
                        f"asset '{asset}': {where}{helper} ({'; '.join(sorted(phrases))}) cannot "
                        f"be fingerprinted; changes to it will not rebuild '{asset}' — pass "
                        f"code_version=... to @asset, or declare the data as a source")
        return Fingerprint(digest=digest, parts=parts, warnings=tuple(sorted(warnings)))

    def _encode_label(self, label: str) -> bytes:
        enc = self._label_bytes[label] = _e_str(label)
        return enc


_DIGEST_SEED = _e_bytes(b"assetbuild-fingerprint") + _e_int(FINGERPRINT_VERSION)
_CODE_LABEL = _e_str("code")


# Immutable stdlib value types encoded by value, looked up by (module, qualname) of the type so this
# module imports none of them: a value of such a type exists only if its module is already loaded.

def _enc_datetime(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                  depth: int) -> None:
    out.buf += b"dt" + _e_str(type(v).__qualname__) + _e_str(v.isoformat())
    tz = getattr(v, "tzinfo", None)
    out.buf += _e_str("" if tz is None else f"{type(tz).__module__}.{type(tz).__qualname__}:{tz}")
    out.buf += _e_int(getattr(v, "fold", 0))


def _enc_timedelta(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                   depth: int) -> None:
    out.buf += b"td" + _e_int(v.days) + _e_int(v.seconds) + _e_int(v.microseconds)


def _enc_timezone(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                  depth: int) -> None:
    off = v.utcoffset(None)
    seconds = off.days * 86400 + off.seconds
    out.buf += b"tz" + _e_str(v.tzname(None)) + _e_int(seconds) + _e_int(off.microseconds)


def _enc_by_str(tag: bytes) -> Callable[..., None]:
    def encode(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
               depth: int) -> None:
        out.buf += tag + _e_str(str(v))  # Decimal, UUID, ZoneInfo (key): str is exact and canonical
    return encode


def _enc_fraction(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                  depth: int) -> None:
    out.buf += b"fr" + _e_int(v.numerator) + _e_int(v.denominator)


def _enc_ordered_dict(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                      depth: int) -> None:
    out.buf += b"od" + _u64(len(v))
    for k, x in v.items():  # order is part of an OrderedDict's value
        fp._enc(k, out, node, where, depth + 1)
        fp._enc(x, out, node, where, depth + 1)


def _enc_defaultdict(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                     depth: int) -> None:
    out.buf += b"dd"
    fp._enc(v.default_factory, out, node, where, depth + 1)
    fp._enc(dict(v), out, node, where, depth + 1)


def _enc_counter(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                 depth: int) -> None:
    out.buf += b"cn"
    fp._enc(dict(v), out, node, where, depth + 1)


def _enc_deque(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
               depth: int) -> None:
    out.buf += b"dq"
    fp._enc(v.maxlen, out, node, where, depth + 1)
    fp._enc(list(v), out, node, where, depth + 1)


def _enc_logger(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                depth: int) -> None:
    out.buf += b"lg" + _e_str(str(v.name))  # a logger is its name; it does not shape results


def _enc_tuplegetter(fp: Fingerprinter, v: Any, out: _Out, node: _Node, where: str,
                     depth: int) -> None:
    out.buf += b"tg"  # a namedtuple field accessor
    fp._enc(v.__reduce__()[1], out, node, where, depth + 1)


_BY_TYPE_NAME: dict[tuple[str, str], Callable[..., None]] = {
    ("datetime", "datetime"): _enc_datetime,
    ("datetime", "date"): _enc_datetime,
    ("datetime", "time"): _enc_datetime,
    ("datetime", "timedelta"): _enc_timedelta,
    ("datetime", "timezone"): _enc_timezone,
    ("decimal", "Decimal"): _enc_by_str(b"de"),
    ("uuid", "UUID"): _enc_by_str(b"uu"),
    ("zoneinfo", "ZoneInfo"): _enc_by_str(b"zi"),
    ("fractions", "Fraction"): _enc_fraction,
    ("collections", "OrderedDict"): _enc_ordered_dict,
    ("collections", "defaultdict"): _enc_defaultdict,
    ("collections", "Counter"): _enc_counter,
    ("collections", "deque"): _enc_deque,
    ("logging", "Logger"): _enc_logger,
    ("logging", "RootLogger"): _enc_logger,
    ("collections", "_tuplegetter"): _enc_tuplegetter,
    ("_collections", "_tuplegetter"): _enc_tuplegetter,
}
