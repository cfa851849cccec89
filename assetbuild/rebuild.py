"""The rebuilder: whether an asset runs, is reused, or has its path output restored, and why.

A constructive-trace rebuilder (Bazel's, with Shake's early cutoff): a key that has a trace is
done work. Order and parallelism are the scheduler's business, not this module's.
"""

from __future__ import annotations

from typing import Any

from .keys import KeyParts, explain_change
from .reports import Decision, Reason


def head_parts(head: Any) -> KeyParts:
    """The key parts recorded with an asset's latest build."""
    return KeyParts(head.code, head.code_parts, tuple(tuple(i) for i in head.inputs), head.io, head.path,
                    tuple(tuple(s) for s in head.sources))


def why_run(parts: KeyParts, head: Any | None, sources: set[str] | frozenset[str]) -> tuple[Reason, ...]:
    """Reasons a key has no trace: what changed since the asset's latest build."""
    if head is None:
        return (Reason("never-built", "no earlier build of this asset"),)
    reasons = explain_change(head_parts(head), parts, sources=sources)
    if not reasons and parts.sources and not head.sources:
        reasons = [Reason("key-changed", "keys now include the paths of the sources an asset reads "
                          "(its latest build was made by an older assetbuild)")]
    if not reasons:
        reasons = [Reason("key-changed", "the interpreter, key schema or an IO manager's version changed")]
    return tuple(reasons)


_CACHED = Decision("cached")  # the common verdict: one shared (frozen) instance


def decide(*, parts: KeyParts, head: Any | None, trace: Any | None, blob_present: bool,
           path_state: str | None, path: str | None, force: bool,
           sources: set[str] | frozenset[str] = frozenset()) -> Decision:
    """Run, reuse ("cached") or restore the path output, given what the store knows of the key.

    :param trace: the trace recorded for the current key, or None.
    :param blob_present: whether the trace's output bytes are still in the store.
    :param path_state: "ok", "missing" or "modified" for a path output, None without one.
    """
    if force:
        return Decision("run", (Reason("forced", "--force"),))
    if trace is None:
        return Decision("run", why_run(parts, head, sources))
    if not blob_present:
        return Decision("run", (Reason("output-missing", "the stored output is gone from the cache"),))
    if path_state == "missing":
        return Decision("restore", (Reason("output-missing", f"{path} is missing"),))
    if path_state == "modified":
        return Decision("restore", (Reason("output-modified", f"{path} was changed outside assetbuild"),))
    return _CACHED
