"""assetbuild IO manager ``duckdb``: an asset's value becomes a table of a DuckDB database file.

The data lives in the database, not in assetbuild's cache: this is an IO manager with
``handle_output``/``load_input``/``version`` (see ``assetbuild.io.ExternalIOManager``), and the
cache keeps only a record of the table's data version.

- **Where.** The database file is ``[tool.assetbuild.duckdb] path`` in the project's
  ``pyproject.toml`` (relative to the project; default ``build/warehouse.duckdb``), created on
  first write; a bad ``path`` is a ConfigError before anything runs (``check_config``). The
  table is named after the asset, with ``/`` as ``__`` (``sales/eu`` -> ``sales__eu``;
  :func:`table_name`), in the database's default schema. DuckDB's table names
  ignore case, so two assets whose tables would be one (``Orders`` and ``orders``, ``sales/eu``
  and ``sales__eu``) are a definition error naming both (``location``), before anything runs.
- **What an asset returns.** A ``pandas.DataFrame`` (or a ``pyarrow.Table``), or a
  :class:`Query`: SQL run inside the database, whose result becomes the table
  (``CREATE OR REPLACE TABLE ... AS <sql>``): one statement, which may end with ``;`` and
  comments. A query that reads other assets' tables must
  name them in ``deps=`` so that it runs after them and reruns when their data changes.
  Anything else fails the asset with a ``TypeError``.
- **Data version.** A digest of the table's contents, rows in their order (readers get them in
  that order): sha256 of the column names and types, the row count and two sums over the rows
  of a 64-bit hash (DuckDB's ``hash``) of each row with its position. Equal tables, equal
  version: early cutoff works. Rows in another order are another version, so a reader that
  uses the order (the first row of an ``ORDER BY``) reruns. It uses DuckDB's hash function, so
  a DuckDB release that changed it would rerun each asset once.
- **Readers** get a ``pandas.DataFrame`` (``SELECT * FROM table``).
- **Time zone.** Every connection's ``TimeZone`` is UTC (:data:`TIME_ZONE`), whatever the
  machine's: a query's ``ts::date`` of a TIMESTAMPTZ, and the zone readers get such a column
  in, are the same on every machine, as the keys (which name no machine) promise.
- **Changed outside assetbuild.** Every build (and ``status``) asks for the table's current
  digest, one aggregate query: a table edited, replaced or dropped by someone else (or a
  deleted database file) makes the asset stale (``output-modified`` / ``output-missing``) and
  it is rebuilt. That check reads the whole table once per build: cheap for tables of
  millions of rows, noticeable for far bigger ones.
- **Concurrency.** DuckDB lets one process at a time open a database file for writing: each
  call opens the file briefly and retries for up to ``LOCK_WAIT_S`` seconds while another
  process (a parallel worker, ``assetbuild status``) holds it.

Like every plugin, this module is imported on every run: DuckDB and pandas are imported only
when a table is written or read.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import assetbuild
from assetbuild import OutputInfo

DEFAULT_PATH = "build/warehouse.duckdb"
LOCK_WAIT_S = 60.0
TIME_ZONE = "UTC"  # of every connection: the machine's zone would make results depend on where a build ran


class Query:
    """SQL whose result an asset stores as its table: ``return Query("select ... from orders")``.
    The SQL runs in the asset's database, so it can read the tables of other ``duckdb`` assets
    by their names (:func:`table_name`); declare those in ``deps=``. One statement: a final
    ``;`` and comments are fine, a second statement fails the asset."""

    __slots__ = ("sql",)

    def __init__(self, sql: str) -> None:
        if not isinstance(sql, str) or not sql.strip():
            raise TypeError(f"Query needs SQL text, got {sql!r}")
        self.sql = sql

    def __repr__(self) -> str:
        return f"Query({self.sql!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and other.sql == self.sql

    def __hash__(self) -> int:
        return hash(self.sql)


def table_name(asset: str) -> str:
    """The table an asset is stored in: its name with each '/' as '__'."""
    return asset.replace("/", "__")


def database_path(project_dir: str | os.PathLike[str]) -> Path:
    """The database file of a project: ``[tool.assetbuild.duckdb] path`` in its pyproject.toml,
    relative to the project, or ``build/warehouse.duckdb``."""
    root = Path(project_dir)
    rel: Any = DEFAULT_PATH
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        with open(pyproject, "rb") as f:
            table: Any = tomllib.load(f)
        where = []
        for part in ("tool", "assetbuild", "duckdb"):
            where.append(part)
            table = table.get(part, {})
            if not isinstance(table, dict):
                raise assetbuild.ConfigError(f"{pyproject}: [{'.'.join(where)}] must be a table")
        rel = table.get("path", DEFAULT_PATH)
        if not isinstance(rel, str) or not rel:
            raise assetbuild.ConfigError(f"{pyproject}: [tool.assetbuild.duckdb] path must be a file name, "
                                         f"got {rel!r}")
    return root / rel


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect(path: Path) -> Any:
    """A connection to the database, waiting while another process holds its lock. Its time zone
    is UTC, not the machine's (DuckDB's default): what a query computes from a TIMESTAMPTZ
    (``ts::date``) and the zone readers get one in must not depend on where the build ran, since
    a key names neither."""
    import duckdb

    deadline = time.monotonic() + LOCK_WAIT_S
    pause = 0.02
    while True:
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    try:
        con.execute(f"SET TimeZone = '{TIME_ZONE}'")
    except BaseException:
        con.close()
        raise
    return con


def _subquery(sql: str) -> str:
    """The SQL of a :class:`Query` as a subquery, ``(\\n<sql>\\n)``: without the ``;`` that may
    end (or start) it and the comments beyond, on lines of its own so that a final ``-- comment``
    does not swallow the closing parenthesis. ValueError for more than one statement: the table
    holds one query's result."""
    import duckdb

    # where the tokens that are not comments start; a ParserException for text DuckDB cannot read
    code = [pos for pos, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    semicolons = {pos for pos in code if sql.startswith(";", pos)}  # never inside a string: one token
    start, end = 0, len(sql)
    while code and code[-1] in semicolons:
        end = code.pop()
    while code and code[0] in semicolons:
        start = code.pop(0) + 1
    statements = 1 + sum(1 for before, pos in zip(code, code[1:]) if before in semicolons and pos not in semicolons)
    if statements > 1:
        raise ValueError(f"Query holds {statements} SQL statements (separated by ';'), and its result is one "
                         "table: give it one query (SELECT, WITH, FROM, VALUES ...)")
    return f"(\n{sql[start:end]}\n)"


def _digest(con: Any, table: str) -> str:
    """The data version of a table: its columns and types, its row count, and two sums of a
    64-bit hash of each row with its position. Readers get the rows in the table's order
    (``SELECT *``), so the order is part of the data: rows in another order are another version
    (a reader taking the first row must rerun). The position is ``row_number() OVER ()``, the
    order a scan gives, not ``rowid``: a column may be named rowid, and rows written in the
    transaction still under way have rowids other than the ones they will have."""
    cols = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = current_schema() AND lower(table_name) = lower(?) "
                       "ORDER BY ordinal_position", [table]).fetchall()
    q = _quoted(table)
    count, h1, h2 = con.execute(f"SELECT count(*), coalesce(sum(hash(r, n)::HUGEINT), 0), "
                                f"coalesce(sum(hash(r, n, 1)::HUGEINT), 0) "
                                f"FROM (SELECT t AS r, row_number() OVER () AS n FROM {q} AS t)").fetchone()
    text = "\n".join(f"{n}\t{t}" for n, t in cols) + f"\n{count}\n{h1}\n{h2}"
    return hashlib.sha256(text.encode()).hexdigest()


def _exists(con: Any, table: str) -> bool:
    """Whether the table is there, in any case: DuckDB's table names ignore case (``"Orders"``
    is the table ``orders`` someone made in a ``duckdb`` shell)."""
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                            "current_schema() AND lower(table_name) = lower(?)", [table]).fetchone()[0])


class DuckDBIOManager:
    """``io="duckdb"``: a DataFrame, an Arrow table or a :class:`Query` result as a DuckDB table."""

    name = "duckdb"
    io_version = "3"  # enters keys: bump when handle_output would write other tables for a value

    def location(self, asset: str) -> str:
        """Where the asset's table is, as DuckDB finds it (names ignore case): assetbuild refuses
        two assets with one location, which would overwrite each other's table."""
        return f"DuckDB table {table_name(asset).lower()!r}"

    def check_config(self, project_dir: Path) -> None:
        """``[tool.assetbuild.duckdb]`` as assetbuild loads the project: a bad ``path`` is a
        ConfigError (exit 2) before anything runs, not a failure of each asset after its work."""
        database_path(project_dir)

    def handle_output(self, context: Any, value: Any) -> OutputInfo:
        table = table_name(context.asset)
        path = database_path(context.project_dir)
        if isinstance(value, Query):
            source, register = _subquery(value.sql), None
        elif _is_frame(value):
            source, register = "__assetbuild_value", value
        else:
            raise TypeError(f"io='duckdb' stores a pandas DataFrame, a pyarrow Table or an "
                            f"assetbuild_duckdb.Query, got {type(value).__module__}.{type(value).__qualname__}")
        path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(path)
        try:
            if register is not None:
                con.register("__assetbuild_value", register)
            _no_duplicate_columns(con, source, value)
            con.execute("BEGIN")
            con.execute(f"CREATE OR REPLACE TABLE {_quoted(table)} AS SELECT * FROM {source}")
            version = _digest(con, table)
            rows = con.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]
            cols = con.execute(f"DESCRIBE {_quoted(table)}").fetchall()
            con.execute("COMMIT")
        finally:
            con.close()
        context.log.info("wrote table %s (%d rows) in %s", table, rows, path.name)
        return OutputInfo(version, metadata={
            "table": table, "database": _shown(path, context.project_dir), "rows": rows,
            "columns": {c[0]: c[1] for c in cols}})

    def load_input(self, context: Any) -> Any:
        table = table_name(context.asset)
        path = database_path(context.project_dir)
        if not path.is_file():
            raise FileNotFoundError(f"the DuckDB database {path} is gone (table {table} of asset {context.asset!r})")
        con = _connect(path)
        try:
            return con.execute(f"SELECT * FROM {_quoted(table)}").df()
        finally:
            con.close()

    def version(self, context: Any) -> str | None:
        table = table_name(context.asset)
        path = database_path(context.project_dir)
        if not path.is_file():
            return None
        con = _connect(path)
        try:
            return _digest(con, table) if _exists(con, table) else None
        finally:
            con.close()


def _no_duplicate_columns(con: Any, source: str, value: Any) -> None:
    """Refuse column names DuckDB would rename (``a, a`` becomes ``a, a_1``; names are
    case-insensitive there): readers would get other columns than the asset made, without a word."""
    if isinstance(value, Query):
        names = [row[0] for row in con.execute(f"DESCRIBE {source}").fetchall()]  # (a SELECT * renames)
    else:
        names = list(getattr(value, "column_names", None) or value.columns)
    seen: dict[str, int] = {}
    for n in names:
        seen[str(n).lower()] = seen.get(str(n).lower(), 0) + 1
    twice = sorted({str(n) for n in names if seen[str(n).lower()] > 1})
    if twice:
        raise ValueError(f"io='duckdb' cannot store duplicate column names {twice!r} (DuckDB's names are "
                         "case-insensitive): it would rename them; rename the columns")


def _is_frame(value: Any) -> bool:
    mod = type(value).__module__.split(".")[0]
    return (mod == "pandas" and type(value).__name__ == "DataFrame") or \
           (mod == "pyarrow" and type(value).__name__ == "Table")


def _shown(path: Path, project_dir: Any) -> str:
    try:
        return path.relative_to(project_dir).as_posix()
    except ValueError:
        return str(path)


@assetbuild.hookimpl
def register_io_managers() -> list[Any]:
    return [DuckDBIOManager()]


__all__ = ["DuckDBIOManager", "Query", "database_path", "table_name"]
