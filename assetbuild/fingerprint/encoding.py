"""Canonical encoding primitives: type-tagged, length-prefixed bytes, and the format version.

Every digest of the package is built from these; ``FINGERPRINT_VERSION`` names the format they
and everything built on them produce (the loader keys its cache of code digests by it too).

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import hashlib
import struct

FINGERPRINT_VERSION: int = 1


# --------------------------------------------------------------------------------------------------
# Canonical encoding primitives. Every value starts with a one-byte tag; variable-size payloads
# carry an 8-byte length, so a concatenation of encodings is never ambiguous.

_sha256 = hashlib.sha256
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
