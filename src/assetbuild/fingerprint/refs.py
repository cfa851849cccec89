"""The project code a stored value refers to by name, and the data version that covers it.

pickle stores a class or function as a reference (``module`` + ``qualname``), not as code: a
``Box`` instance pickles to the same bytes whatever ``Box.area`` does. A data version that is only
the digest of those bytes would let a downstream asset stay cached after ``Box.area`` changed.

So the scheduler records, with the data version of a value, the names of the project objects its
pickle bytes refer to (``pickle_code_refs``), as a suffix of the recorded version string
(``with_code_refs``: no new record field, so every store, remote and export format carries it
unchanged, and a value that refers to no project code keeps exactly the version it had). Where
the version is *used* (downstream keys), the current fingerprints of those objects are folded in
(``fold_code_refs``): when the referenced code changes, the downstream reruns even if the asset
that produced the value is reused from the cache.

Only pickles of protocol 2 and later are read (they start with ``PROTO``); other formats (JSON,
text, ``.npy``) cannot refer to code and cost one byte comparison. A pickle is only parsed when a
project module's name appears in its bytes.

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Container, Iterable
from typing import Any

# Separates the value's own data version from each name of the code it refers to, e.g.
# "9f2c...e1 code:shapes.models:Box". Printable (records, JSON and --json stay plain text), and
# never inside a name (module and qualified names have no spaces) or a digest.
_SEP = " code:"

# How many opcodes the walk reads before it asks whether a project module's name is in the bytes
# at all: enough for a value made of a few large arrays or blobs (their payloads are skipped, not
# read), few enough that a long list of small plain values costs one byte search, not a walk.
_WALK_FIRST = 4096
_SEARCH_FIRST_MAX = 1 << 20  # bytes: smaller values are searched for module names before any walk


def pickle_code_refs(data: bytes, modules: Iterable[str],
                     attributes: Callable[[str], Container[str]] = lambda module: (), *,
                     tops: Iterable[str] = (), is_project: Callable[[str], bool] = lambda module: False
                     ) -> tuple[str, ...]:
    """``module:qualname`` of every global that pickle ``data`` names in one of ``modules``.

    ``data`` is the bytes, or an ``mmap`` of a file that holds them (a large output need not be
    read into memory). ``modules`` are the project's importable module names. Anything that is not a pickle of
    protocol 2+ gives ``()``; so does a pickle that names no project module. The cost: one search
    of the bytes for the project's module names (for a large value, first a walk over its first
    opcodes that skips payloads: a value made of a few large arrays costs nothing), and only if
    one is there, a read of the stream by pickle's own (C) unpickler, with every global replaced
    by an inert stand-in (no project code is imported or run).

    A function pickled by value (cloudpickle) may hold a whole project module, loaded again by
    name: what it can reach there are the names its code reads, which are strings in the same
    stream. So such a module counts as every attribute of it (``attributes(module)``) whose name
    is a string of the stream.

    ``tops``: the top-level names the project's folders hold; a module under one of them that
    ``modules`` lacks (the build's process never imported it: a worker process did, or an
    unpickling asset only while it ran) counts if ``is_project`` says it is the project's.
    """
    if data[:1] != b"\x80" or len(data) < 3:
        return ()
    imported, under = frozenset(modules), frozenset(tops)
    if not imported and not under:
        return ()
    wanted = _Wanted(imported, under, is_project)
    found: set[str] = set()
    strings: set[str] = set()
    # A large value made of a few arrays or blobs: its opcodes are quicker to walk than its bytes
    # are to search. Anything else: search the bytes first; most values name no project module.
    walked = len(data) > _SEARCH_FIRST_MAX and _walk(data, wanted, found, strings, _WALK_FIRST)
    if not walked:
        if _names_pattern(imported, data[1] >= 4, under).search(data) is None:
            return ()
        found.clear()
        try:
            names = _globals_read_by_unpickler(data)
        except Exception:  # noqa: BLE001 - a stream the stand-ins cannot follow: the exact walk
            names = None
        if names is not None and all(q for m, q in names if m in wanted):
            found.update(f"{m}:{q}" for m, q in names if m in wanted)
        else:  # a module loaded by name: the strings of the stream are needed
            found.clear()
            strings.clear()
            _walk(data, wanted, found, strings, None)
    for ref in [r for r in found if r.endswith(":")]:
        found.discard(ref)
        module = ref[:-1]
        names_here = attributes(module)
        found.update(f"{module}:{name}" for name in strings
                     if name in names_here and not name.startswith("__"))  # not __doc__, __name__
    return tuple(sorted(found))


class _Wanted:
    """The modules whose globals count: ``names``, or one under ``tops`` that ``is_project``."""

    __slots__ = ("names", "tops", "is_project", "_asked")

    def __init__(self, names: frozenset[str], tops: frozenset[str], is_project: Callable[[str], bool]) -> None:
        self.names, self.tops, self.is_project = names, tops, is_project
        self._asked: dict[str, bool] = {}

    def __contains__(self, module: object) -> bool:
        if module in self.names:
            return True
        if not isinstance(module, str) or module.partition(".")[0] not in self.tops:
            return False
        hit = self._asked.get(module)
        if hit is None:
            hit = self._asked[module] = bool(self.is_project(module))
        return hit


@functools.lru_cache(maxsize=8)
def _names_pattern(modules: frozenset[str], modern: bool, tops: frozenset[str] = frozenset()) -> re.Pattern[bytes]:
    """Whether bytes can refer to one of ``modules``: each reference writes the module's name at
    least once, as a string opcode (protocol 4+) or in a ``GLOBAL`` line (protocols 2 and 3);
    or to a module under one of ``tops``: its top name, then a dot or the string's end (the
    next opcode: ``MEMOIZE``, the qualified name's string, or the line's end)."""
    names = sorted((m.encode("utf-8", "surrogatepass") for m in modules), key=len, reverse=True)
    under = b"|".join(re.escape(t.encode("utf-8", "surrogatepass")) + b"[.\\n\x94\x8c]"
                      for t in sorted(tops, key=len, reverse=True))
    if modern and all(len(n) < 256 for n in names):  # one literal first byte: a fast search
        exact = b"\x8c(?:" + b"|".join(re.escape(bytes((len(n),)) + n) for n in names) + b")" if names else b""
    else:
        exact = b"|".join(re.escape(n) + (b"" if modern else b"\n") for n in names)
    return re.compile(b"|".join(x for x in (exact, under) if x))


def _globals_read_by_unpickler(data: bytes) -> set[tuple[str, str]]:
    """(module, qualname) of every global the stream loads, read by pickle's C unpickler."""
    import io
    import pickle

    def importer(name: Any, *args: Any) -> _Inert:
        if isinstance(name, str):
            seen.add((name, ""))
        return _Inert()

    class _Scan(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            seen.add((module, name))
            return importer if (module, name) in _IMPORTERS else _Inert

        def persistent_load(self, pid: Any) -> Any:
            return _Inert()

    seen: set[tuple[str, str]] = set()
    if isinstance(data, (bytes, bytearray)):
        stream: Any = io.BytesIO(data)  # shares the bytes, no copy
    else:  # an mmap of a large output's file: a file object itself
        data.seek(0)
        stream = data
    _Scan(stream).load()
    return seen


class _Inert:
    """What every global becomes while the unpickler reads a stream only to list its globals:
    it accepts every call, state and item the opcodes may give it, and does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def add(self, item: Any) -> None:
        pass


def _walk(data: bytes, wanted: Container[str], found: set[str], strings: set[str],
          limit: int | None) -> bool:
    """Add the project globals the opcodes name to ``found`` (a module loaded by name as
    ``module:``) and the short strings to ``strings``; False if ``limit`` opcodes were read before
    the end. A malformed stream ends the walk (what was read so far counts)."""
    table = _opcode_table()
    n = len(data)
    pos = 0
    last: list[object] = [None, None]  # the two most recent values pushed (strings, else None)
    memo: dict[int, object] = {}
    count = 0
    importer = False  # the previous opcode loaded a module importer: its argument names a module
    try:
        while pos < n:
            if limit is not None and count >= limit:
                return False
            count += 1
            kind, size = table[data[pos]]
            pos += 1
            if kind == _FIXED:
                pos += size
                last.append(None)
            elif kind == _QUIET:
                pos += size
                if size < 0:  # STOP
                    return True
            elif kind == _STR or kind == _BLOB or kind == _SIGNED_BLOB:
                length = int.from_bytes(data[pos:pos + size], "little", signed=kind == _SIGNED_BLOB)
                pos += size
                if length < 0 or pos + length > n:
                    return True
                if kind == _STR and length <= 1024:
                    text = data[pos:pos + length].decode("utf-8", "surrogatepass")
                    last.append(text)
                    strings.add(text)
                    if importer and text in wanted:
                        found.add(f"{text}:")
                else:
                    last.append(None)
                pos += length
                importer = False
            elif kind == _LINE:
                end = _line_end(data, pos)
                last.append(data[pos:end].decode("raw-unicode-escape") if size == 1 else None)
                pos = end + 1
            elif kind == _MEMOIZE:
                memo[len(memo)] = last[-1]
            elif kind == _PUT:
                index, pos = _index(data, pos, size)
                memo[index] = last[-1]
            elif kind == _GET:
                index, pos = _index(data, pos, size)
                value = memo.get(index)
                last.append(value)
                if importer and isinstance(value, str) and value in wanted:
                    found.add(f"{value}:")
            elif kind == _STACK_GLOBAL:
                module, qualname = last[-2], last[-1]
                if isinstance(module, str) and isinstance(qualname, str) and module in wanted:
                    found.add(f"{module}:{qualname}")
                importer = (module, qualname) in _IMPORTERS
                last.append(None)
                continue
            else:  # _GLOBAL: GLOBAL and INST, two lines
                end = _line_end(data, pos)
                end2 = _line_end(data, end + 1)
                module = data[pos:end].decode("utf-8", "surrogatepass")
                if module in wanted:
                    found.add(f"{module}:{data[end + 1:end2].decode('utf-8', 'surrogatepass')}")
                pos = end2 + 1
                last.append(None)
            if len(last) > 16:
                del last[:-2]
            if kind != _MEMOIZE and kind != _PUT and kind != _QUIET:
                importer = False
    except (ValueError, UnicodeDecodeError, IndexError):
        return True
    return True


def _line_end(data: Any, pos: int) -> int:
    end: int = data.find(b"\n", pos)  # find, not index: an mmap has no index
    if end < 0:
        raise ValueError("no end of line")
    return end


def _index(data: bytes, pos: int, size: int) -> tuple[int, int]:
    if size:  # BINGET/BINPUT (1 byte), LONG_BINGET/LONG_BINPUT (4 bytes)
        return int.from_bytes(data[pos:pos + size], "little"), pos + size
    end = _line_end(data, pos)  # GET/PUT: a decimal line
    return int(data[pos:end]), end + 1


# Globals that load a module by name (cloudpickle's, for a module a by-value function uses): the
# module they load counts as named, whole (``module:``).
_IMPORTERS = frozenset({("cloudpickle.cloudpickle", "subimport"),
                        ("cloudpickle.cloudpickle", "dynamic_subimport"),
                        ("cloudpickle.cloudpickle_fast", "subimport"), ("importlib", "import_module")})

_FIXED, _QUIET, _STR, _BLOB, _SIGNED_BLOB, _LINE, _MEMOIZE, _PUT, _GET, _STACK_GLOBAL, _GLOBAL = range(11)
_TABLE: list[tuple[int, int]] = []


def _opcode_table() -> list[tuple[int, int]]:
    """(kind, size) per opcode byte, from pickletools' description of every opcode."""
    if _TABLE:
        return _TABLE
    import pickletools

    table = [(_GLOBAL, 0)] * 256  # unknown bytes: decoded as GLOBAL, they end the walk on error
    for op in pickletools.opcodes:
        code = op.code.encode("latin-1")[0]
        arg = op.arg
        n = 0 if arg is None else arg.n  # the argument's size, or a negative marker of its kind
        name = op.name
        if name in ("GLOBAL", "INST"):
            entry = (_GLOBAL, 0)
        elif name == "STACK_GLOBAL":
            entry = (_STACK_GLOBAL, 0)
        elif name == "MEMOIZE":
            entry = (_MEMOIZE, 0)
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            entry = (_PUT, n if n > 0 else 0)
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            entry = (_GET, n if n > 0 else 0)
        elif name in ("PROTO", "FRAME", "MARK"):
            entry = (_QUIET, n)
        elif name == "STOP":
            entry = (_QUIET, -1)
        elif n >= 0:
            entry = (_FIXED, n)
        elif n == pickletools.UP_TO_NEWLINE:
            entry = (_LINE, 1 if name == "UNICODE" else 0)
        else:
            size = {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: 4,
                    pickletools.TAKEN_FROM_ARGUMENT4U: 4, pickletools.TAKEN_FROM_ARGUMENT8U: 8}[n]
            if name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"):
                entry = (_STR, size)
            else:  # bytes, Python 2 strings, long integers
                entry = (_SIGNED_BLOB if n == pickletools.TAKEN_FROM_ARGUMENT4 else _BLOB, size)
        table[code] = entry
    _TABLE[:] = table
    return _TABLE


def with_code_refs(data_version: str, refs: Iterable[str]) -> str:
    """The data version to record: ``data_version`` itself when ``refs`` is empty."""
    refs = sorted(set(refs))
    return _SEP.join([data_version, *refs]) if refs else data_version


def split_code_refs(recorded: str) -> tuple[str, tuple[str, ...]]:
    """(the value's own data version, the code names) of a recorded data version."""
    if _SEP not in recorded:
        return recorded, ()
    own, *refs = recorded.split(_SEP)
    return own, tuple(refs)


def fold_code_refs(recorded: str, digest_of: Callable[[str], str]) -> str:
    """The data version downstream keys use: the recorded one, with the current digest of every
    code name it carries (``digest_of(name)``) folded in. Unchanged when it carries none."""
    if _SEP not in recorded:
        return recorded
    own, refs = split_code_refs(recorded)
    h = hashlib.sha256(b"assetbuild-code-refs/1\n")
    h.update(own.encode("utf-8", "surrogatepass") + b"\n")
    for ref in refs:
        h.update(ref.encode("utf-8", "surrogatepass") + b"=" + digest_of(ref).encode() + b"\n")
    return h.hexdigest()
