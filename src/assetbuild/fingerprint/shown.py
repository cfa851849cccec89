"""The short values behind a function's data parts, so ``why`` can say what changed in words
(``global:TOP_N: 3 -> 5``) rather than as two digests.

A fingerprint keeps a digest per part (``global:<name>``, ``closure:<name>``), never the value:
a digest is what a key needs. The values shown are taken from the function when its head is
recorded, and again when ``why`` explains a change: only plain data whose ``repr`` is short,
so a head stays small and nothing secret-looking or huge is copied into the store.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from ..keys import holds_credentials, is_secret

MAX_SHOWN = 40  # characters of a repr worth showing on one line
_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return type(value) in _PLAIN  # not a subclass (an enum's repr is its own business)
    if depth < 2 and type(value) in (tuple, list, frozenset, set):
        return all(_plain(v, depth + 1) for v in value)
    if depth < 2 and type(value) is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


def short_value(value: Any) -> str | None:
    """``repr(value)`` if it is plain data and at most MAX_SHOWN characters, else None."""
    if not _plain(value):
        return None
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value that cannot show itself is not shown
        return None
    return text if len(text) <= MAX_SHOWN and "\n" not in text else None


def shown_values(fn: Any, labels: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(label, short repr) of each ``global:``/``closure:`` part of ``fn`` among ``labels``
    whose value is short plain data; sorted by label."""
    out = []
    glb = getattr(fn, "__globals__", None) or {}
    code = getattr(fn, "__code__", None)
    cells = dict(zip(code.co_freevars, fn.__closure__ or ())) if code is not None else {}
    for label in labels:
        kind, _, name = label.partition(":")
        if is_secret(name):  # API_KEY = "...": never copied into the store, never shown
            continue
        if kind == "global" and name in glb:
            value = glb[name]
        elif kind == "closure" and name in cells:
            try:
                value = cells[name].cell_contents
            except ValueError:  # an empty cell
                continue
        else:
            continue
        text = short_value(value)
        if text is not None and not holds_credentials(text):  # DB = "postgres://u:pw@h/x": never shown
            out.append((label, text))
    return tuple(sorted(out))


def function_of(fn: Any, label: str) -> Any:
    """The function a code part of ``fn`` stands for: ``fn`` itself for "code", the helper for
    "helper:<module>.<qualname>" (found among the loaded modules, or in ``fn``'s globals);
    None for other parts and for helpers that cannot be reached (a nested function)."""
    if label == "code":
        return fn
    kind, _, qual = label.partition(":")
    if kind != "helper" or not qual:
        return None
    parts = qual.split(".")
    for i in range(len(parts) - 1, 0, -1):
        obj = sys.modules.get(".".join(parts[:i]))
        if obj is None:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
        if getattr(obj, "__code__", None) is not None:
            return obj
    obj = (getattr(fn, "__globals__", None) or {}).get(parts[-1])
    return obj if getattr(obj, "__code__", None) is not None else None
