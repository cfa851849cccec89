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

import hashlib
from collections.abc import Callable, Iterable

# Separates the value's own data version from the names of the code it refers to. NUL: no digest
# and, in practice, no user-supplied data version contains it.
_SEP = "\x00"

_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
                         "BINSTRING", "SHORT_BINSTRING"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_QUIET_OPS = frozenset({"PROTO", "FRAME", "MARK", "STOP"})  # push nothing the scan cares about


def pickle_code_refs(data: bytes, modules: Iterable[str]) -> tuple[str, ...]:
    """``module:qualname`` of every global that pickle ``data`` names in one of ``modules``.

    ``modules`` are the project's importable module names. Anything that is not a pickle of
    protocol 2+ gives ``()``; so does a pickle that names no project module.
    """
    if data[:1] != b"\x80":
        return ()
    wanted = set(modules)
    tops = {m.partition(".")[0] for m in wanted}
    if not any(top.encode() in data for top in tops):
        return ()
    import pickletools

    found: set[str] = set()
    last: list[object] = [None, None]  # the two most recent values pushed (strings, else None)
    memo: dict[int, object] = {}
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name in _STRING_OPS:
                last.append(arg if isinstance(arg, str) else None)
            elif name == "MEMOIZE":
                memo[len(memo)] = last[-1]
            elif name in _PUT_OPS:
                memo[arg] = last[-1]  # type: ignore[index]
            elif name in _GET_OPS:
                last.append(memo.get(arg))  # type: ignore[arg-type]
            elif name == "STACK_GLOBAL":
                module, qualname = last[-2], last[-1]
                if isinstance(module, str) and isinstance(qualname, str) and module in wanted:
                    found.add(f"{module}:{qualname}")
                last.append(None)
            elif name in ("GLOBAL", "INST"):
                module, _, qualname = str(arg).partition(" ")
                if module in wanted:
                    found.add(f"{module}:{qualname}")
                last.append(None)
            elif name not in _QUIET_OPS:
                last.append(None)
            if len(last) > 8:
                del last[:-2]
    except Exception:  # noqa: BLE001, S110 - not a pickle after all: what was read so far counts
        pass
    return tuple(sorted(found))


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
