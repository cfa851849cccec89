"""The static digest of a code object: normalized instructions, constants, names, no docstring.

A pure function of the code object (``code_digest``); what the code refers to at run time is the
walk's business (``walk``, ``values``).

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import marshal
import opcode
import re
import struct
import sys
import types
from typing import Any

from .encoding import (
    CodeTag,
    ValueTag,
    _e_bytes,
    _e_complex,
    _e_float,
    _e_int,
    _e_str,
    _e_strs,
    _sha256,
    _u64,
)

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
_IMPORT_FROM = opcode.opmap["IMPORT_FROM"]
_LOAD_CONST = opcode.opmap["LOAD_CONST"]
_LOAD_SMALL_INT = opcode.opmap.get("LOAD_SMALL_INT", -1)  # 3.14+
_ints4 = struct.Struct("<4Q").pack  # co_flags and the argument counts: small non-negative ints


# _code_stream's results by what they depend on (the bytecode, the exception table, how many
# constants): functions of one shape (assets made alike, differing in their constants) are
# normalized once. Bounded: emptied when full.
_STREAMS: dict[tuple[bytes, bytes, int], tuple[bytes, dict[int, int]]] = {}
_STREAMS_MAX = 4096


def _code_stream(code: types.CodeType) -> tuple[bytes, dict[int, int]]:
    """``_normalized(code)``, computed once per shape (``_STREAMS``); the rank map is shared:
    read it, never change it."""
    shape = (code.co_code, getattr(code, "co_exceptiontable", b""), len(code.co_consts))
    found = _STREAMS.get(shape)
    if found is None:
        if len(_STREAMS) >= _STREAMS_MAX:
            _STREAMS.clear()
        found = _STREAMS[shape] = _normalized(code)
    return found


def _normalized(code: types.CodeType) -> tuple[bytes, dict[int, int]]:
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
        out += CodeTag.EXCEPTION_TABLE + struct.pack(f"<{len(flat) + 1}Q", len(merged), *flat)
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
        return ValueTag.NONE
    t = type(c)
    if t is str:
        return _e_str(c)
    if t is int:
        return _e_int(c)
    if t is bool:
        return ValueTag.TRUE if c else ValueTag.FALSE
    if t is float:
        return _e_float(c)
    if t is types.CodeType:
        return ValueTag.CODE + _code_digest(c, cache, keep)
    if t is tuple:
        return ValueTag.TUPLE + _u64(len(c)) + b"".join([_e_const(x, cache, keep) for x in c])
    if t is frozenset:
        # Sorted by encoding, never by repr or iteration order (both depend on PYTHONHASHSEED).
        return ValueTag.FROZENSET + _u64(len(c)) + b"".join(sorted([_e_const(x, cache, keep) for x in c]))
    if t is bytes:
        return _e_bytes(c)
    if t is complex:
        return _e_complex(c)
    if c is Ellipsis:
        return ValueTag.ELLIPSIS
    if t is slice:  # 3.14 folds constant slices
        return ValueTag.CONST_SLICE + b"".join([_e_const(x, cache, keep) for x in (c.start, c.stop, c.step)])
    # A constant type the compiler may add in a future version: marshal is canonical for constants.
    return _e_bytes(t.__qualname__.encode() + CodeTag.NAME_END + marshal.dumps(c), ValueTag.CONST_OTHER)


def _code_digest(code: types.CodeType, cache: dict[int, bytes] | None,
                 keep: list[Any] | None) -> bytes:
    if cache is not None:
        hit = cache.get(id(code))
        if hit is not None:
            return hit
    stream, rank = _code_stream(code)
    consts = code.co_consts
    flags = code.co_flags & ~_CO_HAS_DOCSTRING if _PY314 else code.co_flags
    buf = bytearray(CodeTag.DOMAIN)
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
    buf += CodeTag.LOADED_CONSTS + _u64(len(loaded))
    for slot in loaded:
        buf += _e_const(consts[slot], cache, keep)
    drop_doc = 0 not in rank and _has_docstring_slot(code)
    rest = [slot for slot in range(len(consts))
            if slot not in rank and not (slot == 0 and drop_doc)]
    buf += CodeTag.OTHER_CONSTS + _u64(len(rest))
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
