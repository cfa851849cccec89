"""assetbuild IO managers for pandas DataFrames: ``parquet`` (through pyarrow) and ``csv``.

Both describe what they store (``metadata(value)``, recorded with each materialization): the row
count, the column names and dtypes, and a preview of the first rows as plain data (see
:func:`describe`).

Bytes are deterministic, because the digest of ``dump``'s bytes is the asset's data version and
early cutoff needs equal frames to give equal bytes:

- ``parquet`` writes with every writer option that decides the bytes given explicitly (format
  version, compression, dictionary encoding, statistics, row group and page sizes), so a new
  pyarrow default does not change them. A Parquet file holds no timestamp, path or host. Its
  footer names the writer (``created_by``: "parquet-cpp-arrow version 26.0.1") and pyarrow's
  pandas metadata names the pyarrow and pandas versions: they are left as they are (readers use
  ``created_by`` to work around known writer bugs, so it must stay true). They change only when
  pyarrow or pandas is upgraded, which is also when encodings may change: the values re-dump
  to new bytes and downstream assets re-run once, never wrongly. The one part written in a
  run-dependent order is ``DataFrame.attrs`` (pyarrow keeps their insertion order): their keys
  are sorted, so equal ``attrs`` give equal bytes.
- ``csv`` is ``DataFrame.to_csv`` with the line terminator, encoding and quoting fixed (pandas'
  default line terminator is the platform's) and no index.

Round trips: ``parquet`` keeps the index (a ``RangeIndex`` as its bounds, any other index and
``MultiIndex`` as columns), the column order and names, and the dtypes pyarrow maps back
(numbers of every width, bool, str, datetimes with their unit and time zone, timedeltas,
categoricals of strings or bytes with their categories and order, the nullable ``Int64``/
``boolean``/``Float64``/``string`` dtypes, ``ArrowDtype`` columns, periods, intervals) and
``DataFrame.attrs`` (as JSON, in pandas' metadata, where recent pyarrow versions read them too).
Datetimes in seconds, a unit Parquet lacks, are stored in milliseconds and cast back (their
dtypes are in the key ``assetbuild.units`` of the file's metadata, present only then). What
pyarrow would give back as something else is refused with a ``TypeError`` naming the column: a
categorical of other categories (a plain column of their values), an ``object`` column of
numbers or bools, an ``object`` column of dicts that would come back changed (Parquet keeps
them as one struct of all their keys: a key some dicts lack comes back as None, an int field
with a gap as floats; dicts that all come back as they were are kept), a type Parquet has none
for (complex); and a frame with rows but no columns (a ``ValueError``: they would come back as
no rows). Not kept: an index's ``freq``; lists in ``object`` columns come back as NumPy arrays; an ``object``
column of strings comes back with the dtype pandas reads strings with (``str`` in pandas 3).
``csv`` keeps the column names and cells as text: readers get what ``pandas.read_csv`` reads,
which infers the dtypes again (int64, float64, bool and strings come back; datetimes, categories
and nullable integers come back as strings or floats), so only a default ``RangeIndex`` is
accepted: use ``.reset_index()`` to keep an index as columns.

assetbuild loads every installed plugin on every run, so importing this module must stay cheap:
pandas and pyarrow are imported inside ``dump``, ``load`` and ``metadata``.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import assetbuild

__version__ = "0.1.0"

PREVIEW_ROWS = 5  # rows of the metadata's preview
PREVIEW_COLUMNS = 20  # columns of the preview (all columns are listed with their dtypes)
PREVIEW_CHARS = 80  # a longer cell is cut to this many characters, ending with "…"

# Every option of pyarrow's writer that decides the bytes, pinned (see the module docstring).
PARQUET_OPTIONS: dict[str, Any] = {
    "version": "2.6", "compression": "snappy", "use_dictionary": True, "write_statistics": True,
    "row_group_size": 1 << 20, "data_page_size": 1 << 20, "data_page_version": "1.0",
    "store_schema": True, "write_page_index": False, "write_page_checksum": False,
}


class ParquetIOManager:
    """A pandas DataFrame as a Parquet file (pyarrow); equal frames give equal bytes.

    ``pandas.read_parquet(path)`` reads a ``path=`` output directly, with its index and dtypes.
    """

    name = "parquet"
    version = "2"  # bump whenever dump would write other bytes for the same frame (2: seconds kept)

    def dump(self, value: Any) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = _frame(value, "io='parquet'")
        _refuse_lost_categories(frame)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=None)
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid) as e:
            said = "; ".join(str(a) for a in e.args) or str(e)
            raise TypeError(f"io='parquet' cannot store this frame: {said} (convert that column to a type "
                            "Parquet has, or use io='pickle')") from None
        if len(frame) and not table.num_columns:  # a RangeIndex is kept as its bounds: nothing holds the rows
            raise ValueError(f"io='parquet' cannot store {len(frame)} rows without columns (they would come "
                             "back as 0 rows): add a column, or use io='pickle'")
        _refuse_numbers_in_objects(table)
        metadata = _with_attrs(table.schema.metadata, frame.attrs)
        table = table.replace_schema_metadata(_with_units(metadata, frame))
        buf = io.BytesIO()
        pq.write_table(table, buf, **PARQUET_OPTIONS)
        data = buf.getvalue()
        dicts = [i for i, dtype in enumerate(frame.dtypes)  # object columns that Arrow made structs of
                 if dtype.kind == "O" and _holds_struct(table.schema.field(i).type)]
        if dicts:  # what a reader gets, read back: Parquet turns a struct's gaps into nulls of its fields
            _refuse_changed_dicts(frame, self.load(data), dicts)
        return data

    def load(self, data: bytes) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(pa.BufferReader(data))
        frame = table.to_pandas()
        if not frame.attrs:  # an older pyarrow does not restore them
            attrs = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}")).get("attributes")
            if attrs:
                frame.attrs = attrs
        units = json.loads((table.schema.metadata or {}).get(UNITS_KEY, b"null"))
        return _restore_units(frame, units) if units else frame

    def metadata(self, value: Any) -> dict[str, Any]:
        return describe(value)


class CsvIOManager:
    """A pandas DataFrame as CSV text (UTF-8, ``\\n`` line ends, no index column).

    Readers get what ``pandas.read_csv`` reads from those bytes (dtypes are inferred again), and
    so does a spreadsheet from a ``path=`` output.
    """

    name = "csv"
    version = "1"

    def dump(self, value: Any) -> bytes:
        import pandas as pd

        frame = _frame(value, "io='csv'")
        index = frame.index
        if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
                and index.name is None):
            raise TypeError("io='csv' stores the columns only, and this frame has an index "
                            f"({type(index).__name__}{_named(index)}): call .reset_index() to keep "
                            "it as columns, .reset_index(drop=True) to drop it, or use io='parquet'")
        columns = frame.columns
        if isinstance(columns, pd.MultiIndex) or not all(isinstance(c, str) for c in columns):
            raise TypeError("io='csv' needs str column names (they come back as text), got "
                            f"{list(columns)[:5]!r}: rename the columns or use io='parquet'")
        if columns.has_duplicates:
            raise ValueError(f"io='csv' cannot store duplicate column names {_duplicates(columns)!r}: "
                             "read_csv would rename them")
        if len(columns) == 0:
            if len(frame):
                raise ValueError(f"io='csv' cannot store {len(frame)} rows without columns")
            return b""
        text: str = frame.to_csv(index=False, lineterminator="\n", encoding="utf-8")
        return text.encode("utf-8")

    def load(self, data: bytes) -> Any:
        import pandas as pd

        if not data:
            return pd.DataFrame()
        return pd.read_csv(io.BytesIO(data), encoding="utf-8")

    def metadata(self, value: Any) -> dict[str, Any]:
        return describe(value)


@assetbuild.hookimpl
def register_io_managers() -> list[Any]:
    return [ParquetIOManager(), CsvIOManager()]


def describe(frame: Any) -> dict[str, Any]:
    """What the materialization records about a frame, as plain JSON data:

    - ``rows``: the number of rows;
    - ``columns``: the column names, in order (as text);
    - ``dtypes``: column name -> dtype, as pandas prints it (``int64``, ``datetime64[us, UTC]``);
    - ``index``: index level name -> dtype, only for an index other than the default
      ``RangeIndex`` (0, 1, 2...);
    - ``preview``: a list of rows, the first one the header (the index levels first, when the
      index is listed, then the first ``PREVIEW_COLUMNS`` columns), then the first
      ``PREVIEW_ROWS`` rows. Cells are JSON values: numbers, booleans, strings (cut to
      ``PREVIEW_CHARS`` characters), and null for a missing value (NaN, None, NA, NaT); other
      values (timestamps, decimals, bytes...) as their ``str``.
    """
    import pandas as pd

    out: dict[str, Any] = {
        "rows": int(len(frame)),
        "columns": [_label(c) for c in frame.columns],
        "dtypes": {_label(c): str(dtype) for c, dtype in frame.dtypes.items()},
    }
    index = frame.index
    default = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 \
        and index.name is None
    shown = frame.iloc[:PREVIEW_ROWS, :PREVIEW_COLUMNS]
    header = [_label(c) for c in shown.columns]
    if not default:
        levels = [_label(n) if n is not None else f"level_{i}" for i, n in enumerate(index.names)]
        out["index"] = {name: str(index.get_level_values(i).dtype) for i, name in enumerate(levels)}
        header = levels + header
    # Column by column: a row of a frame is one Series, which would turn the ints of a row
    # with a float column into floats.
    columns = [] if default else [index.get_level_values(i)[:PREVIEW_ROWS].tolist()
                                  for i in range(index.nlevels)]
    columns += [shown.iloc[:, j].tolist() for j in range(shown.shape[1])]
    rows = [[_cell(column[i]) for column in columns] for i in range(len(shown))]
    out["preview"] = [header, *rows]
    return out


def _frame(value: Any, what: str) -> Any:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, pd.Series):
        raise TypeError(f"{what} needs a pandas.DataFrame, got a Series: return "
                        "series.to_frame() (its name becomes the column)")
    t = type(value)
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    raise TypeError(f"{what} needs a pandas.DataFrame, got {name}")


def _with_attrs(metadata: dict[bytes, bytes] | None, attrs: dict[Any, Any]) -> dict[bytes, bytes] | None:
    """The schema metadata with ``DataFrame.attrs`` in pandas' metadata, keys sorted. Recent
    pyarrow versions put them there in insertion order (equal attrs, other bytes: 26 does),
    older ones leave them out (18 does); ``load`` restores them from there either way."""
    if not metadata or b"pandas" not in metadata:
        return metadata
    pandas_meta = json.loads(metadata[b"pandas"])
    pandas_meta.pop("attributes", None)
    if attrs:
        try:
            pandas_meta["attributes"] = json.loads(json.dumps(attrs, sort_keys=True, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise TypeError(f"io='parquet' stores DataFrame.attrs as JSON, and these are not: {e}") from e
    return {**metadata, b"pandas": json.dumps(pandas_meta).encode("utf-8")}


UNITS_KEY = b"assetbuild.units"  # schema metadata: the dtypes of datetime columns in seconds


def _levels(index: Any) -> list[tuple[str, Any]]:
    """(what to call it, dtype) of each level of an index."""
    names = list(index.names)
    if len(names) == 1:
        return [("the index" if names[0] is None else f"index {_label(names[0])!r}", index.dtype)]
    return [("index level " + (str(i) if n is None else repr(_label(n))), index.get_level_values(i).dtype)
            for i, n in enumerate(names)]


def _refuse_lost_categories(frame: Any) -> None:
    """Parquet keeps a categorical's categories (and their order, unused ones too) only when
    they are strings or bytes; others come back as a plain column of their values: refused,
    rather than stored as something else."""
    import pandas as pd

    columns = [(f"column {_label(c)!r}", d) for c, d in frame.dtypes.items()]
    for what, dtype in _levels(frame.index) + columns:
        if isinstance(dtype, pd.CategoricalDtype):
            kind = pd.api.types.infer_dtype(dtype.categories, skipna=True)
            if kind not in ("string", "bytes"):
                raise TypeError(f"io='parquet' cannot store {what} faithfully: a categorical whose categories "
                                f"are {dtype.categories.dtype} comes back as a plain {dtype.categories.dtype} "
                                "column (Parquet keeps the categories of strings or bytes only): make them "
                                f"strings (.cat.rename_categories(str)), store .astype('{dtype.categories.dtype}'), "
                                "or use io='pickle'")


def _refuse_numbers_in_objects(table: Any) -> None:
    """An ``object`` column (or index) of numbers or bools comes back as int64, float64 or bool:
    refused, rather than stored as something else."""
    import pyarrow as pa

    meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
    for col in meta.get("columns", ()):
        if col.get("numpy_type") != "object" or col.get("field_name") not in table.schema.names:
            continue
        kind = table.schema.field(col["field_name"]).type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            name = col.get("name")
            what = (f"column {name!r}" if col["field_name"] not in meta.get("index_columns", ())
                    else "the index" if name is None else f"index {name!r}")
            fix = (".astype(bool), or 'boolean' with missing values" if pa.types.is_boolean(kind) else
                   ".astype('float64')" if pa.types.is_floating(kind) else
                   f".astype('{kind}'), or 'Int64' with missing values")
            raise TypeError(f"io='parquet' cannot store {what} faithfully: its dtype is object, holding {kind} "
                            f"values, which would come back with their dtype instead: give it theirs "
                            f"({fix}) or use io='pickle'")


def _refuse_changed_dicts(frame: Any, back: Any, columns: list[int]) -> None:
    """An ``object`` column of dicts is stored as one struct of all their keys: a dict comes back
    with every key of the column (None where it had none), its keys in the first dict's order,
    and an int field with gaps as floats. Such a column (the ``columns`` of ``frame``; ``back``:
    the frame read back) is kept when each value comes back as it was (the same keys in the same
    order, values of the same types); else refused, naming the column and a row, rather than
    handed to readers changed."""
    for i in columns:
        for row, (was, now) in enumerate(zip(frame.iloc[:, i], back.iloc[:, i])):
            if not (_missing(was) and now is None) and not _kept(was, now):
                raise TypeError(f"io='parquet' cannot store column {_label(frame.columns[i])!r} faithfully: Parquet "
                                f"keeps its dicts as one struct of all their keys, and row {row}'s {_short(was)} "
                                f"would come back as {_short(now)} (a key some dicts lack as None, an int "
                                "field with a gap as floats): give every dict the same keys in the same order and "
                                "values of one type, store json.dumps of them as text, or use io='pickle'")


def _holds_struct(kind: Any) -> bool:
    """Whether an Arrow type is or holds a struct (a list of dicts is a list of structs)."""
    import pyarrow as pa

    if pa.types.is_struct(kind) or pa.types.is_map(kind):
        return True
    value = getattr(kind, "value_type", None)
    return value is not None and _holds_struct(value)


def _kept(was: Any, now: Any) -> bool:
    """Whether a cell comes back as it was: dicts with the same keys in the same order, values of
    the same types; lists and tuples as arrays (documented: lists come back as NumPy arrays)."""
    import numpy as np

    if isinstance(was, dict):
        return isinstance(now, dict) and list(was) == list(now) and all(_kept(was[k], now[k]) for k in was)
    if isinstance(was, (list, tuple, np.ndarray)):
        items = was.tolist() if isinstance(was, np.ndarray) else was
        return isinstance(now, np.ndarray) and len(items) == len(now) and all(_kept(a, b) for a, b in zip(items, now.tolist()))
    if isinstance(was, float) and isinstance(now, float) and math.isnan(was) and math.isnan(now):
        return True
    return type(was) is type(now) and bool(was == now)


def _missing(value: Any) -> bool:
    """None, NaN or pandas' NA: a missing cell, which Arrow keeps as null and gives back as None."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _with_units(metadata: dict[bytes, bytes] | None, frame: Any) -> dict[bytes, bytes] | None:
    """The schema metadata, with the dtypes of the datetime columns (and index levels) whose unit
    is seconds: Parquet has no such unit, so they are stored in milliseconds and cast back by
    ``load``. Only frames with such columns carry the key: others keep their bytes."""
    units: dict[str, dict[str, str]] = {}
    for where, dtypes in (("index", [d for _, d in _levels(frame.index)]), ("columns", list(frame.dtypes))):
        for i, dtype in enumerate(dtypes):
            if getattr(dtype, "kind", None) == "M" and _unit(dtype) == "s":
                units.setdefault(where, {})[str(i)] = str(dtype)
    if not units:
        return metadata
    return {**(metadata or {}), UNITS_KEY: json.dumps(units, sort_keys=True).encode("utf-8")}


def _unit(dtype: Any) -> str:
    """The unit of a datetime dtype: NumPy's ``datetime64[s]`` or pandas' ``datetime64[s, UTC]``."""
    import numpy as np

    unit = getattr(dtype, "unit", None)
    return str(unit) if unit is not None else str(np.datetime_data(dtype)[0])


def _restore_units(frame: Any, units: dict[str, dict[str, str]]) -> Any:
    import pandas as pd

    for i, dtype in units.get("columns", {}).items():
        frame.isetitem(int(i), frame.iloc[:, int(i)].astype(dtype))
    for i, dtype in units.get("index", {}).items():
        if isinstance(frame.index, pd.MultiIndex):
            level = int(i)
            frame.index = frame.index.set_levels(frame.index.levels[level].astype(dtype), level=level)
        else:
            frame.index = frame.index.astype(dtype)
    return frame


def _label(name: Any) -> str:
    return name if isinstance(name, str) else str(name)


def _named(index: Any) -> str:
    names = [n for n in index.names if n is not None]
    return f" {', '.join(map(repr, names))}" if names else ""


def _duplicates(columns: Any) -> list[Any]:
    return sorted({c for c in columns[columns.duplicated()]}, key=str)


def _cell(value: Any) -> Any:
    """One preview cell as a JSON value (see :func:`describe`)."""
    import numpy as np
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        value = value.item()
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else (None if math.isnan(value) else str(value))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # a list or an array: not a missing value
        pass
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"
