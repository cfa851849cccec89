"""Typed metadata: what a materialization says about itself, as plain data the CLI, ``--json``
and the store all read the same way.

An asset attaches metadata with ``Output(metadata=...)`` or ``context.add_metadata(...)``. A
value may be a ``MetadataValue`` (``MetadataValue.table(rows)``, ``.md(text)``...) or a plain
value, typed automatically: int and float as numbers, str as text, dict and list as JSON.
Anything else is kept as text (its ``repr``), so metadata never fails a build.

Stored form (a trace's ``metadata_json``): ``{"__assetbuild_metadata__": 1, "entries": {name:
[type, value]}}``. Traces written before typed metadata hold the plain dict; ``decode_metadata``
reads both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TYPES = ("text", "md", "url", "path", "json", "table", "int", "float")
_FORMAT_KEY = "__assetbuild_metadata__"


class MetadataValue:
    """One typed metadata entry: ``type`` (one of ``TYPES``) and ``value`` (plain JSON data).
    Build one with the constructors: ``MetadataValue.int(3)``, ``.table(rows)``..."""

    __slots__ = ("type", "value")

    def __init__(self, type: str, value: Any) -> None:  # noqa: A002 - the field is called type
        if type not in TYPES:
            raise ValueError(f"unknown metadata type {type!r} (one of: {', '.join(TYPES)})")
        self.type = type
        self.value = value

    def __repr__(self) -> str:
        return f"MetadataValue.{self.type}({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MetadataValue) and (self.type, self.value) == (other.type, other.value)

    def __hash__(self) -> int:
        return hash((self.type, repr(self.value)))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}

    # --- constructors ------------------------------------------------------------------------

    @staticmethod
    def text(s: object) -> MetadataValue:
        return MetadataValue("text", str(s))

    @staticmethod
    def md(s: object) -> MetadataValue:
        """Markdown: shown as its text on a terminal."""
        return MetadataValue("md", str(s))

    @staticmethod
    def url(s: object) -> MetadataValue:
        return MetadataValue("url", str(s))

    @staticmethod
    def path(p: object) -> MetadataValue:
        """A file path (a ``pathlib.Path`` or str), kept as a string."""
        import os

        return MetadataValue("path", os.fspath(p) if isinstance(p, os.PathLike) else str(p))

    @staticmethod
    def json(obj: Any) -> MetadataValue:
        """Any JSON data (checked now: a value JSON cannot hold raises ValueError here, in the
        asset, rather than being lost later)."""
        return MetadataValue("json", json.loads(json.dumps(obj, allow_nan=False)))

    @staticmethod
    def table(records: Iterable[Mapping[str, Any]] | Iterable[Sequence[Any]],
              columns: Sequence[str] | None = None) -> MetadataValue:
        """Rows as dicts (the columns are their keys, in first-seen order, unless ``columns``
        names them) or as sequences (then ``columns`` names them, or they are numbered)."""
        rows = list(records)
        if columns is None:
            cols: list[str] = []
            for r in rows:
                if isinstance(r, Mapping):
                    cols += [str(k) for k in r if str(k) not in cols]
            if not cols and rows:
                cols = [str(i) for i in range(max(len(r) for r in rows))]
        else:
            cols = [str(c) for c in columns]
        out = []
        for r in rows:
            if isinstance(r, Mapping):
                out.append([_cell(r.get(c, r.get(_int_or(c)))) for c in cols])
            else:
                cells = list(r)
                out.append([_cell(cells[i]) if i < len(cells) else None for i in range(len(cols))])
        return MetadataValue("table", {"columns": cols, "rows": out})

    @staticmethod
    def int(n: Any) -> MetadataValue:
        return MetadataValue("int", int(n))

    @staticmethod
    def float(x: Any) -> MetadataValue:
        v = float(x)
        return MetadataValue("float", v if math.isfinite(v) else repr(v))


def _int_or(c: str) -> Any:
    return int(c) if c.isdigit() else c


def _cell(v: Any) -> Any:
    """A table cell as JSON data: numbers, strings, booleans and None as they are, others as text."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if hasattr(v, "item") and callable(v.item):  # a numpy or pandas scalar
        try:
            return _cell(v.item())
        except (TypeError, ValueError):
            pass
    return str(v)


def typed(value: Any) -> MetadataValue:
    """A metadata value with its type: a MetadataValue as it is, a plain value typed by what it is."""
    if isinstance(value, MetadataValue):
        return value
    if isinstance(value, bool):  # a bool is an int to Python, text to a reader
        return MetadataValue("json", value)
    if isinstance(value, int):
        return MetadataValue("int", value)
    if isinstance(value, float):
        return MetadataValue.float(value)
    if isinstance(value, str):
        return MetadataValue("text", value)
    if isinstance(value, (dict, list, tuple)):
        try:
            return MetadataValue.json(value)
        except (TypeError, ValueError):
            pass
    if hasattr(value, "item") and callable(value.item):  # numpy scalars: numbers
        try:
            return typed(value.item())
        except (TypeError, ValueError):
            pass
    return MetadataValue("text", repr(value))


def sendable(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` as a worker process can send it back to the build: a value pickle cannot
    carry (a lock, a generator, an open file) becomes what the build stores for it anyway
    (``typed``: its repr), and such a key its ``str``, as a build in one process keeps them."""
    if all(isinstance(k, str) and (v is None or isinstance(v, (str, int, float, MetadataValue)))
           for k, v in metadata.items()):
        return metadata
    return {(k if _pickles(k) else str(k)): (v if _pickles(v) else typed(v)) for k, v in metadata.items()}


def _pickles(value: Any) -> bool:
    import pickle

    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001 - whatever pickling raises: the value cannot travel
        return False
    return True


def metadata_to_json(metadata: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"type", "value"}}``: how ``--json`` documents show metadata."""
    return {str(k): typed(v).to_json() for k, v in metadata.items()}


def encode_metadata(metadata: Mapping[str, Any]) -> str:
    """The stored form of a materialization's metadata ("" for none)."""
    if not metadata:
        return ""
    entries = {str(k): [t.type, t.value] for k, v in metadata.items() for t in (typed(v),)}
    return json.dumps({_FORMAT_KEY: 1, "entries": entries})  # in the order the asset gave them


def decode_metadata(text: str) -> dict[str, MetadataValue]:
    """Stored metadata back as typed values (plain values of older traces are typed as they
    read; text that is not JSON becomes one text entry rather than an error)."""
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        return {"metadata": MetadataValue("text", text)}
    if isinstance(doc, dict) and doc.get(_FORMAT_KEY) == 1 and isinstance(doc.get("entries"), dict):
        out = {}
        for k, entry in doc["entries"].items():
            if isinstance(entry, list) and len(entry) == 2 and entry[0] in TYPES:
                out[k] = MetadataValue(entry[0], entry[1])
            else:
                out[k] = typed(entry)
        return out
    if isinstance(doc, dict):
        return {str(k): typed(v) for k, v in doc.items()}
    return {"metadata": typed(doc)}


def render_value(mv: MetadataValue, *, width: int = 100) -> str:
    """One entry as text for a terminal: a table aligned in columns, JSON compact, the rest as it is."""
    if mv.type == "table" and isinstance(mv.value, dict):
        return render_table(mv.value.get("columns", []), mv.value.get("rows", []), width=width)
    if mv.type == "json":
        text = json.dumps(mv.value, sort_keys=True)
        return text if len(text) <= width else json.dumps(mv.value, sort_keys=True, indent=2)
    if mv.type == "float" and isinstance(mv.value, float):
        text = f"{mv.value:.6g}"
        return text + ".0" if text.lstrip("-").isdigit() else text  # (2.0 is no int 2)
    return str(mv.value)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, width: int = 100,
                 max_rows: int = 20) -> str:
    """An aligned text table (numbers right-aligned), cut at ``max_rows`` rows."""
    shown = [["" if c is None else str(c) for c in r] for r in rows[:max_rows]]
    cols = [str(c) for c in columns]
    widths = [max([len(c)] + [len(r[i]) for r in shown if i < len(r)]) for i, c in enumerate(cols)]
    widths = [min(w, max(8, width // max(1, len(cols)))) for w in widths]

    def fit(s: str, w: int, right: bool) -> str:
        s = s if len(s) <= w else s[: w - 1] + "…"
        return s.rjust(w) if right else s.ljust(w)

    numeric = [all(_is_number(r[i]) for r in rows[:max_rows] if i < len(r) and r[i] is not None)
               for i in range(len(cols))]
    lines = ["  ".join(fit(c, w, n) for c, w, n in zip(cols, widths, numeric)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for r in shown:
        lines.append("  ".join(fit(r[i] if i < len(r) else "", w, n)
                               for i, (w, n) in enumerate(zip(widths, numeric))).rstrip())
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more rows")
    return "\n".join(lines)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def plottable(value: Any) -> float | None:
    """A numeric entry's value as a plot or a sparkline places it (a finite float); None for one
    no plot can place, which plots skip and say so: an int too large for a float (``10**400``
    is kept exactly), or nan and inf (a float entry stores those as their text, "nan")."""
    if not _is_number(value):
        return None
    try:
        v = float(value)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def format_number(value: Any) -> str:
    """A numeric entry's value in a plot's label or a ``log --metric`` line: ``{:g}``, an int too
    large for a float in the same style (``1e+400``), nan and inf as stored."""
    v = plottable(value)
    if v is not None:
        return f"{v:g}"
    if _is_number(value):  # (an int: Decimal formats it without a float)
        from decimal import Decimal

        mantissa, _, exponent = format(Decimal(value), ".6e").partition("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    return str(value)


def render_metadata(metadata: Mapping[str, Any], *, indent: str = "  ", width: int = 100) -> list[str]:
    """Lines for a terminal: ``name: value``, a multi-line value (a table) below its name."""
    lines = []
    for k, v in metadata.items():
        text = render_value(typed(v), width=width)
        if "\n" in text:
            lines.append(f"{indent}{k}:")
            lines += [f"{indent}  {ln}" for ln in text.splitlines()]
        else:
            lines.append(f"{indent}{k}: {text}")
    return lines
