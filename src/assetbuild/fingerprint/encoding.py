"""Canonical encoding primitives, the table of every tag the format writes, and the format version.

Every digest of the package is built from these; ``FINGERPRINT_VERSION`` names the format they
and everything built on them produce (the loader keys its cache of code digests by it too).

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Final

FINGERPRINT_VERSION: int = 1


# --------------------------------------------------------------------------------------------------
# The tag table: every tag the encodings write, in one place, by where it appears. A tag is what
# tells two encodings apart at one position, so within a class no two tags are equal
# (tests/test_fingerprint.py checks it, and that no module of the package writes a tag of its own).
# Changing one changes every key: that bumps FINGERPRINT_VERSION.


class ValueTag:
    """The first bytes of an encoded value: plain data, names, references, objects by value.

    Code objects' constants (``bytecode``) use the same alphabet, plus ``CODE``, ``CONST_SLICE``
    and ``CONST_OTHER``.
    """

    STR: Final = b"s"
    BYTES: Final = b"b"
    INT: Final = b"i"
    FLOAT: Final = b"f"
    COMPLEX: Final = b"c"
    NONE: Final = b"N"  # also a function without defaults (``__defaults__`` is None)
    TRUE: Final = b"T"
    FALSE: Final = b"F"
    ELLIPSIS: Final = b"E"
    NOT_IMPLEMENTED: Final = b"I"
    TUPLE: Final = b"("
    LIST: Final = b"["
    DICT: Final = b"{"  # sorted by encoding: keyword-only defaults, whose order means nothing
    DICT_IN_ORDER: Final = b"}"  # a dict's items in its order (iteration sees it: ",".join(COLUMNS));
    # a dict was b"{" with its items sorted before: a new tag, so no key made then matches one now
    SET: Final = b"<"
    FROZENSET: Final = b">"
    BYTEARRAY: Final = b"a"
    CYCLE: Final = b"@"  # a container, object or module met again inside itself
    UNENCODABLE: Final = b"!"  # then the phrase the warning gives
    EMPTY_CELL: Final = b"\x00"  # a closure variable not assigned yet
    SENTINEL: Final = b"Z"  # a stdlib singleton by name (dataclasses.MISSING)
    # References: to project code (rendered once its digest is known), and to code outside it.
    NODE_DIGEST: Final = b"H"  # a finished project function or class, by digest
    NODE_LABEL: Final = b"R"  # a member of the same strongly connected component, by label
    OBJECT: Final = b"O"  # a function, class or other named object outside the project
    MODULE: Final = b"M"
    PROJECT_MODULE: Final = b"P"  # then the names the code reads from it
    STDLIB: Final = b"S"  # after an OBJECT or MODULE name: its version is the interpreter's
    VERSION: Final = b"V"  # ... the version of the installed distribution
    UNVERSIONED: Final = b"U"  # ... neither in the project nor installed
    NO_SUCH_MODULE: Final = b"X"  # ... found nowhere (an import that fails, or an optional one)
    # A project module read from its source file (``imports``): then the digest of every module
    # its import runs, itself included (``MODULE_CLOSURE``).
    MODULE_SOURCE: Final = b"Q"
    # A project module some reads of which its names do not show (``reads``): this tag, its
    # PROJECT_MODULE encoding, then its ``__getattr__`` (TRUE and the value, or FALSE), then,
    # when the code reads attributes by a computed name, TRUE and its MODULE_SOURCE (or FALSE).
    MODULE_READS: Final = b"pr"
    # After a function's defaults (and single-dispatch registry), when it has annotations: their
    # count, then each name and value, in order. Absent without any, so those keep their encoding.
    ANNOTATIONS: Final = b"an"
    # The docstrings an asset reaches, when its code reads ``__doc__`` (``reads``): each function
    # or class by its part label, then its docstrings (its own, then those of code nested in it).
    DOCSTRINGS: Final = b"ds"
    # Callables and descriptors.
    BOUND_METHOD: Final = b"mb"
    STATICMETHOD: Final = b"@s"
    CLASSMETHOD: Final = b"@c"
    PROPERTY: Final = b"@p"
    SINGLEDISPATCHMETHOD: Final = b"@m"
    CACHED_PROPERTY: Final = b"@a"
    SLOT_DESCRIPTOR: Final = b"@d"
    PARTIAL: Final = b"fp"
    LRU_CACHE: Final = b"lc"
    # Before a PARTIAL or LRU_CACHE: the attributes set on that wrapper (count, name and value of
    # each); absent when it has none, so those keep the encoding they had.
    WRAPPER_STATE: Final = b"ws"
    SINGLEDISPATCH: Final = b"sd"
    # Objects by value.
    PATTERN: Final = b"re"
    MAPPINGPROXY_IN_ORDER: Final = b"mo"  # (was b"mp", sorted: a new tag, so no old key can match)
    RANGE: Final = b"rg"
    SLICE: Final = b"sl"
    DATACLASS_INTERNAL: Final = b"dc"  # a dataclasses.Field, the dataclass parameters
    NAMESPACE: Final = b"ns"
    TYPE_HINT: Final = b"ty"
    # After a TYPE_HINT's text: the project classes inside it (``list[Order]``), by their code;
    # absent when there are none, so those hints keep the encoding they had.
    TYPE_HINT_CLASSES: Final = b"tc"
    ENUM_MEMBER: Final = b"en"
    PURE_PATH: Final = b"pa"
    DATACLASS: Final = b"di"
    EXTRA_ATTRIBUTES: Final = b"+"  # a dataclass instance's attributes that are not fields
    NAMEDTUPLE: Final = b"nt"
    SCALAR: Final = b"sc"  # an instance of a stateless subclass of int, float, str...
    PATH_LIKE: Final = b"pl"
    INSTANCE: Final = b"ob"  # an instance of a project class
    BASE_DICT_IN_ORDER: Final = b"bo"  # ... the items of its dict base, in order (was b"bd", sorted)
    BASE_VALUE: Final = b"bb"  # ... the value of another built-in base
    BASE_EXCEPTION: Final = b"be"  # ... an exception's args
    DATETIME: Final = b"dt"
    TIMEDELTA: Final = b"td"
    TIMEZONE: Final = b"tz"
    DECIMAL: Final = b"de"
    UUID: Final = b"uu"
    ZONEINFO: Final = b"zi"
    FRACTION: Final = b"fr"
    ORDERED_DICT: Final = b"od"
    DEFAULTDICT: Final = b"dd"
    COUNTER: Final = b"cn"
    DEQUE: Final = b"dq"
    LOGGER: Final = b"lg"
    TUPLEGETTER: Final = b"tg"
    SITE_BUILTIN: Final = b"sb"
    # Constants of code objects only.
    CODE: Final = b"C"
    CONST_SLICE: Final = b":"
    CONST_OTHER: Final = b"?"  # type name, NAME_END, then marshal's bytes


class PartTag:
    """The parts of a project function or class (a node), and how node digests are combined."""

    # Sections: the first byte of each part (node.items).
    CODE: Final = b"c"  # code, defaults, keyword defaults, single-dispatch registry
    CLOSURE: Final = b"v"
    GLOBAL: Final = b"g"
    IMPORT: Final = b"i"  # a module imported inside the function
    CLASS: Final = b"k"  # metaclass and bases
    MEMBERS: Final = b"m"  # an enum's members
    ATTRIBUTE: Final = b"a"  # a class attribute
    STATE: Final = b"s"  # an attribute set on a function (its ``__dict__``)
    # The first byte of a part's body.
    FUNCTION: Final = b"F"  # then the code digest, defaults, keyword defaults
    LEAF: Final = b"L"  # a function that reads only builtins: code digest and names
    CLASS_HEADER: Final = b"K"  # then the qualified name, metaclass, bases
    # Digests.
    NODE: Final = b"A"  # a node outside any cycle: its parts
    COMPONENT: Final = b"S"  # a strongly connected component: its members' labels and digests
    MEMBER: Final = b"Y"  # a member of a component: the component, its label, its parts
    DOMAIN: Final = b"assetbuild-fingerprint"  # the first bytes of every fingerprint digest
    # The modules an import of a project module runs (``imports``): each name, then one of
    # SOURCE_CODE (its code digest), NAMESPACE (a folder without ``__init__.py``: no code), or a
    # module outside the project (ValueTag.MODULE, its name and its version or NO_SUCH_MODULE).
    MODULE_CLOSURE: Final = b"Q"
    SOURCE_CODE: Final = b"C"
    NAMESPACE: Final = b"D"


class CodeTag:
    """The static digest of a code object (``bytecode``)."""

    DOMAIN: Final = b"assetbuild-code\x01"  # the first bytes of every code digest
    EXCEPTION_TABLE: Final = b"X"
    LOADED_CONSTS: Final = b"K"  # the constants the code loads, in first-use order
    OTHER_CONSTS: Final = b"U"  # the others, in slot order, without the docstring
    NAME_END: Final = b"\x00"  # ends the type name in ValueTag.CONST_OTHER


TAG_TABLES: Final = (ValueTag, PartTag, CodeTag)

# --------------------------------------------------------------------------------------------------
# Canonical encoding primitives. Every value starts with a one-byte tag; variable-size payloads
# carry an 8-byte length, so a concatenation of encodings is never ambiguous.

_sha256 = hashlib.sha256
_u64 = struct.Struct("<Q").pack
# Module globals, not class attributes: these are read on every call of the hottest functions.
_STR, _INT, _FLOAT = ValueTag.STR, ValueTag.INT, ValueTag.FLOAT
_COMPLEX, _TUPLE = ValueTag.COMPLEX, ValueTag.TUPLE


def _e_str(s: str) -> bytes:
    try:
        b = s.encode()
    except UnicodeEncodeError:  # lone surrogates (e.g. from surrogateescape'd file names)
        b = s.encode("utf-8", "surrogatepass")
    return _STR + _u64(len(b)) + b


def _e_bytes(b: bytes, tag: bytes = ValueTag.BYTES) -> bytes:
    return tag + _u64(len(b)) + b


def _e_int(n: int) -> bytes:
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return _INT + _u64(len(b)) + b


def _e_float(x: float) -> bytes:
    # float.hex is exact and keeps the sign of zero; every NaN encodes as 'nan'.
    return _e_bytes(x.hex().encode("ascii"), _FLOAT)


def _e_complex(z: complex) -> bytes:
    return _COMPLEX + _e_float(z.real) + _e_float(z.imag)


def _e_strs(items: tuple[str, ...]) -> bytes:
    """A tuple of strings: the count, every length, then the UTF-8 bytes (one call, for speed)."""
    try:
        enc = [s.encode() for s in items]
    except UnicodeEncodeError:
        enc = [s.encode("utf-8", "surrogatepass") for s in items]
    return _TUPLE + struct.pack(f"<{len(enc) + 1}Q", len(enc), *map(len, enc)) + b"".join(enc)
