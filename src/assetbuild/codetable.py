"""Each asset's code fingerprint as the snapshot's graph keeps it, for the slices that follow.

A slice is taken only when the code is proved unchanged (``snapshot.changes``), so every
fingerprint it needs is the one the full build that wrote the graph made, before anything
ran. Taking it from here instead of walking the function again saves 25 us an asset it
decides: 10 ms when a root reaching 400 assets changes its bytes but not its value. Kept as
arrays over a table of distinct digests (32 bytes each) and labels, since most parts
(``object:builtins.int``, a shared helper) recur: loading the table of 10,000 assets is one
copy of its bytes, and only the assets a slice decides are made into strings. Making the
table costs the full build that records it 18 ms at 10,000 assets (which fingerprinting them
all took 230 ms).

An asset whose fingerprint is not a digest of hex parts (a ``code_version``) is not kept; it
costs nothing to make again.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

_NONE = 0xFFFFFFFF  # an asset without a kept fingerprint
KEYS = ("code_labels", "code_digests", "code", "code_parts", "code_parts_at")


def code_table(order: list[str], codes: Mapping[str, tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """The graph document's entries for ``codes`` (asset -> (digest, parts), a build's
    fingerprints), one per asset of ``order``."""
    from array import array

    labels: dict[str, int] = {}
    digests: dict[str, int] = {}
    raw: list[bytes] = []

    def digest_at(hexdigest: str) -> int:
        i = digests.get(hexdigest)
        if i is None:
            b = bytes.fromhex(hexdigest)  # (ValueError: not hex)
            if len(b) != 32 or b.hex() != hexdigest:  # (as ``codes_of`` gives it back: 64 lower-case digits)
                raise ValueError(hexdigest)
            i = digests[hexdigest] = len(raw)
            raw.append(b)
        return i

    code, parts, at = array("I"), array("I"), array("I", [0])
    for name in order:
        found = codes.get(name)
        try:
            if found is None:
                raise ValueError(name)
            mine = [x for label, hexdigest in found[1].items()
                    for x in (labels.setdefault(label, len(labels)), digest_at(hexdigest))]
            code.append(digest_at(found[0]))
            parts.extend(mine)
        except ValueError:  # none kept, or a code_version
            code.append(_NONE)
        at.append(len(parts))
    return {"code_labels": list(labels), "code_digests": b"".join(raw), "code": code.tobytes(),
            "code_parts": parts.tobytes(), "code_parts_at": at.tobytes()}


def table_for(order: list[str], codes: Mapping[str, tuple[str, dict[str, str]]],
              previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entries of a new graph document: ``previous``'s table (the last graph's, its code
    proved unchanged) if that graph lists the assets in ``order``; else ``code_table`` of
    ``codes`` (a slice fingerprints again the assets they lack)."""
    if previous is not None and previous.get("order") == order and all(k in previous for k in KEYS):
        return {k: previous[k] for k in KEYS}
    return code_table(order, codes)


def codes_of(graph: dict[str, Any], assets: Iterable[int]) -> dict[str, tuple[str, dict[str, str]]]:
    """The kept fingerprints of ``assets`` (indices into ``graph["order"]``), by name; none
    when the graph keeps no table, or not a whole one."""
    try:
        labels, digests = graph["code_labels"], graph["code_digests"]
        code, parts, at = (memoryview(graph[k]).cast("I") for k in ("code", "code_parts", "code_parts_at"))
    except (KeyError, TypeError, ValueError):
        return {}
    order = graph["order"]
    if not isinstance(labels, list) or not isinstance(digests, bytes) or len(digests) % 32 \
            or len(code) != len(order) or len(at) != len(order) + 1 or at[-1] != len(parts) or len(parts) % 2:
        return {}
    count = len(digests) // 32
    out: dict[str, tuple[str, dict[str, str]]] = {}
    try:
        for i in assets:
            c = code[i]
            if c == _NONE:
                continue
            found: dict[str, str] = {}
            for j in range(at[i], at[i + 1], 2):
                d = parts[j + 1]
                if d >= count:
                    return {}
                found[labels[parts[j]]] = digests[32 * d:32 * d + 32].hex()
            if c >= count:
                return {}
            out[order[i]] = (digests[32 * c:32 * c + 32].hex(), found)
    except IndexError:  # (a label that is not in the table)
        return {}
    return out
