"""Typed metadata: what a materialization says about itself, as plain data the CLI, ``--json``
and the store all read the same way.

An asset attaches metadata with ``Output(metadata=...)`` or ``context.add_metadata(...)``. A
value may be a ``MetadataValue`` (``MetadataValue.table(rows)``, ``.md(text)``...) or a plain
value, typed automatically: int and float as numbers, str as text, dict and list as JSON.
Anything else is kept as text (its ``repr``), so metadata never fails a build.

Every entry is plain data every reader takes, however it was made (``MetadataValue(type,
value)`` too, and a trace read back): a nan or infinite float is its text (``"nan"``); a lone
surrogate in text (half an emoji from an API, a file name's undecodable byte) is its escape,
``\\ud83d``, which a terminal and strict JSON both take; a value JSON cannot write (an int past
Python's 4300 digits, nesting deeper than the recursion limit) is text saying what it was and
why, never an exception out of the build or of a command that shows it.

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
        self.type, self.value = _kept(type, value)
        if type == "table" and self.type != "table":  # (said where the asset made it: its log)
            import warnings

            warnings.warn(f"MetadataValue('table', ...) needs {{'columns': [names], 'rows': [[cells], ...]}}, "
                          f"not {_as_text(value)[:80]}: kept as {self.type}", stacklevel=2)

    @classmethod
    def stored(cls, type: str, value: Any) -> MetadataValue:  # noqa: A002 - the field is called type
        """An entry read back from the store (``type`` one of ``TYPES``): kept as a new one is
        (a malformed table recorded by an older version is json), without the warning for it."""
        mv = cls.__new__(cls)
        mv.type, mv.value = _kept(type, value)
        return mv

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
        try:
            return MetadataValue("json", json.loads(json.dumps(obj, allow_nan=False)))
        except RecursionError:
            raise ValueError("metadata nested too deeply for JSON") from None

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


_SMALL = 10**18  # an int below this in size has few digits: JSON writes it, no check needed
_WHY_MAX = 200  # characters of the error kept in the text that stands for a value JSON cannot write


def _kept(type_: str, value: Any) -> tuple[str, Any]:
    """``(type, value)`` as an entry keeps them (``_json_kept``); a ``table`` whose value is not
    columns and rows (``table_parts``) is ``json``, so no reader meets a table it cannot lay out."""
    kept = _json_kept(type_, value)
    if kept[0] != "table":
        return kept
    parts = table_parts(kept[1])
    if parts is None:
        return "json", kept[1]
    return "table", {**kept[1], "columns": parts[0]}  # (column names as text)


def table_parts(value: Any) -> tuple[list[str], list[list[Any]]] | None:
    """A table value's ``(columns, rows)``: a dict with a list of columns (each shown as text)
    and a list of rows, each a list of cells; None for any other shape."""
    if not isinstance(value, dict):
        return None
    columns, rows = value.get("columns"), value.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        return None
    return [c if isinstance(c, str) else _as_text(c) for c in columns], rows


def _json_kept(type_: str, value: Any) -> tuple[str, Any]:
    """``(type, value)`` as an entry keeps them: ``value`` as it is when JSON writes it as UTF-8
    text (the common cases without a look), else with nan and inf as their text, lone
    surrogates escaped (``safe_text``) and tuples as lists; a value JSON cannot write even
    then (an object, nesting too deep) is text (``_as_text``), its repr or a note saying why."""
    cls = type(value)
    if cls is str:
        return type_, safe_text(value)
    if cls is float:
        return type_, value if math.isfinite(value) else repr(value)
    if value is None or cls is bool or (cls is int and -_SMALL < value < _SMALL):
        return type_, value
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        return type_, value
    except (TypeError, ValueError, RecursionError):  # (a UnicodeEncodeError is a ValueError)
        pass
    try:
        plain = _plain(value)
        json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return "text", _as_text(value)
    if isinstance(plain, str) and not isinstance(value, (str, float)):
        return "text", plain  # (an int too long to write: the note that stands for it)
    return type_, plain


def plain_data(value: Any) -> Any:
    """``value`` as JSON data every output writes, as a ``json`` entry keeps it (``_kept``):
    nan as text, lone surrogates escaped, what JSON has no form for as text."""
    return _kept("json", value)[1]


def _plain(v: Any) -> Any:
    """``v`` as JSON data: nan and inf as text, text safe, tuples as lists, an int too long
    to write as a note (``_as_text``); TypeError for a part JSON has no form for
    (RecursionError for one that contains itself, or is nested too deeply)."""
    if isinstance(v, str):
        return safe_text(v)
    if isinstance(v, float):
        return float(v) if math.isfinite(v) else repr(float(v))
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        if not -_SMALL < v < _SMALL:
            try:
                int.__repr__(v)
            except ValueError:  # past Python's digit limit (sys.get_int_max_str_digits)
                return _as_text(v)
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {safe_text(k) if isinstance(k, str) else k: _plain(x) for k, x in v.items()}
    raise TypeError(f"{type(v).__name__} has no JSON form")


def safe_text(s: str) -> str:
    """``s`` as every output takes it: a lone surrogate (``"\\ud83d"``, half an emoji; a
    file name's undecodable byte) as its backslash escape; UTF-8 cannot write one, so a
    terminal, a pipe or a strict JSON parser would refuse the whole text."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _as_text(value: Any) -> str:
    """``value`` as text: its repr, else (a repr that fails: an int past Python's digit limit,
    nesting too deep) a bounded note of its type and why it has none; never an exception."""
    try:
        return safe_text(repr(value))
    except Exception as e:  # noqa: BLE001 - a user's __repr__ may raise anything
        reason = safe_text(f"{type(e).__name__}: {e}")
    if isinstance(value, int):
        reason = f"about {int(value.bit_length() * 0.30103) + 1} digits; {reason}"
    if len(reason) > _WHY_MAX:
        reason = reason[: _WHY_MAX - 1] + "…"
    return f"<{_type_name(value)} not kept: {reason}>"


def _type_name(value: Any) -> str:
    try:
        return safe_text(f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins."))
    except Exception:  # noqa: BLE001 - (a type may carry odd names)
        return "value"


def entry_name(k: Any) -> str:
    """A metadata name as text: ``str(k)``, made safe (``safe_text``); never an exception."""
    if isinstance(k, str):
        return safe_text(k)
    try:
        return safe_text(str(k))
    except Exception:  # noqa: BLE001 - an int past the digit limit, a __str__ that raises
        return _as_text(k)


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
    """A metadata value with its type: a MetadataValue as it is, a plain value typed by what it
    is (never an exception: what has no JSON form is text, see ``_kept``)."""
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
    try:
        if hasattr(value, "item") and callable(value.item):  # numpy scalars: numbers
            return typed(value.item())
    except Exception:  # noqa: BLE001 - an object's own item() (or attribute) may raise anything
        pass
    return MetadataValue("text", _as_text(value))


def sendable(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` as a worker process can send it back to the build: a value pickle cannot
    carry (a lock, a generator, an open file) becomes what the build stores for it anyway
    (``typed``: its repr), and such a key its ``str``, as a build in one process keeps them."""
    if all(isinstance(k, str) and (v is None or isinstance(v, (str, int, float, MetadataValue)))
           for k, v in metadata.items()):
        return metadata
    return {(k if _pickles(k) else entry_name(k)): (v if _pickles(v) else typed(v)) for k, v in metadata.items()}


def _pickles(value: Any) -> bool:
    import pickle

    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001 - whatever pickling raises: the value cannot travel
        return False
    return True


def metadata_to_json(metadata: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"type", "value"}}``: how ``--json`` documents show metadata."""
    return {entry_name(k): typed(v).to_json() for k, v in metadata.items()}


def encode_metadata(metadata: Mapping[str, Any]) -> str:
    """The stored form of a materialization's metadata ("" for none); never an exception (a
    value changed since it was typed is typed again)."""
    if not metadata:
        return ""
    entries = {entry_name(k): [t.type, t.value] for k, v in metadata.items() for t in (typed(v),)}
    try:
        return json.dumps({_FORMAT_KEY: 1, "entries": entries}, allow_nan=False)  # in the asset's order
    except (TypeError, ValueError, RecursionError):
        entries = {k: list(_kept(t, v)) for k, (t, v) in entries.items()}
        return json.dumps({_FORMAT_KEY: 1, "entries": entries}, allow_nan=False)


def decode_metadata(text: str) -> dict[str, MetadataValue]:
    """Stored metadata back as typed values (plain values of older traces are typed as they
    read; text that is not JSON becomes one text entry rather than an error)."""
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return {"metadata": MetadataValue("text", text)}
    if isinstance(doc, dict) and doc.get(_FORMAT_KEY) == 1 and isinstance(doc.get("entries"), dict):
        out = {}
        for k, entry in doc["entries"].items():
            if isinstance(entry, list) and len(entry) == 2 and entry[0] in TYPES:
                out[safe_text(k)] = MetadataValue.stored(entry[0], entry[1])
            else:
                out[safe_text(k)] = typed(entry)
        return out
    if isinstance(doc, dict):
        return {safe_text(k): typed(v) for k, v in doc.items()}
    return {"metadata": typed(doc)}


def render_value(mv: MetadataValue, *, width: int = 100) -> str:
    """One entry as text for a terminal: a table aligned in columns, JSON compact, the rest as it is."""
    parts = table_parts(mv.value) if mv.type == "table" else None
    if parts is not None:
        return render_table(*parts, width=width)
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
        k = entry_name(k)
        text = render_value(typed(v), width=width)
        if "\n" in text:
            lines.append(f"{indent}{k}:")
            lines += [f"{indent}  {ln}" for ln in text.splitlines()]
        else:
            lines.append(f"{indent}{k}: {text}")
    return lines
