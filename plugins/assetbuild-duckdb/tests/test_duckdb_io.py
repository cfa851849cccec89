"""Tests of ``io="duckdb"`` against the real DuckDB engine: the contract every IO manager keeps,
tables written where pyproject.toml says, queries, data versions of rows in their order (early
cutoff), tables changed or dropped outside assetbuild, parallel writers and discovery."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb", reason="assetbuild-duckdb needs duckdb (pip install duckdb)")
pd = pytest.importorskip("pandas", reason="assetbuild-duckdb needs pandas (pip install pandas)")

from assetbuild_duckdb import DuckDBIOManager, Query, database_path, table_name  # noqa: E402

import assetbuild  # noqa: E402
from assetbuild import collect_io_managers, get_plugin_manager  # noqa: E402
from assetbuild.testing import IOManagerContract  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """Never use the developer's cache; load installed plugins as a user's run would."""
    monkeypatch.delenv("ASSETBUILD_CACHE_DIR", raising=False)
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", raising=False)


class TestDuckDBContract(IOManagerContract):
    io_manager = DuckDBIOManager()
    values = [
        pd.DataFrame({"region": ["eu", "us", "eu"], "total": [12, 5, 30], "rate": [0.5, 1.25, 2.0]}),
        pd.DataFrame({"x": list(range(1000))}),
        pd.DataFrame({"name": ["ä", "", None]}),
    ]
    unsupported = [[1, 2], {"a": 1}, "select 1"]

    def assert_same(self, loaded, original):
        pd.testing.assert_frame_equal(loaded.reset_index(drop=True), original.reset_index(drop=True),
                                      check_dtype=False)


ASSETFILE = """\
from assetbuild import asset, source
from assetbuild_duckdb import Query
import pandas as pd

orders_csv = source("orders_csv", "orders.csv")


@asset(io="duckdb")
def orders(orders_csv):
    return pd.read_csv(orders_csv)


@asset(io="duckdb", deps=["orders"])
def big():
    return Query("select region, total from orders where total > 10")


@asset(io="duckdb", name="sales/eu")
def sales_eu(orders):
    return orders[orders.region == "eu"]


@asset(io="json")
def report(big):
    return sorted(big.total.tolist())
"""


def _write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    _write(root, "AssetFile", ASSETFILE)
    _write(root, "orders.csv", "region,total\neu,12\nus,5\neu,30\nus,40\n")
    _write(root, "pyproject.toml", '[tool.assetbuild.duckdb]\npath = "data/wh.duckdb"\n')
    return root


def build(root: Path, **kw):
    r = assetbuild.build(project_dir=root, **kw)
    assert r.ok, [(x.asset, x.error, x.traceback) for x in r.results if x.error]
    return r


def status(root: Path):
    return {s.asset: s for s in assetbuild.status(project_dir=root)}


def query(root: Path, sql: str):
    con = duckdb.connect(str(root / "data/wh.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_tables_in_the_database_pyproject_names(proj):
    r = build(proj)
    assert sorted(r.names("built")) == ["big", "orders", "report", "sales/eu"]
    assert database_path(proj) == proj / "data/wh.duckdb"
    assert query(proj, "select count(*) from orders") == [(4,)]
    assert sorted(query(proj, "select total from big")) == [(12,), (30,), (40,)]
    assert query(proj, "select count(*) from sales__eu") == [(2,)]  # '/' -> '__'
    assert table_name("sales/eu") == "sales__eu"
    assert assetbuild.load_value("report", project_dir=proj) == [12, 30, 40]
    frame = assetbuild.load_value("big", project_dir=proj)  # readers get a DataFrame
    assert isinstance(frame, pd.DataFrame) and sorted(frame.total) == [12, 30, 40]
    meta = next(x for x in r.results if x.asset == "orders").metadata
    assert meta["rows"] == 4 and meta["table"] == "orders" and meta["database"] == "data/wh.duckdb"
    assert list(meta["columns"]) == ["region", "total"]
    assert build(proj).names("built") == []  # a null build
    assert not list((proj / ".assetbuild").rglob("*.duckdb"))


@pytest.mark.parametrize("setting", ["path = 5", 'path = ""', "duckdb = 5"])
def test_a_bad_setting_is_a_config_error_before_anything_runs(proj, setting):
    """A mistake in ``[tool.assetbuild.duckdb]`` ends the command, exit 2 and one line naming
    pyproject.toml and the setting, before any asset runs: not each asset's work done and then
    a failure to write it (exit 1, a traceback), nor ``status`` calling the tables missing."""
    table = "[tool.assetbuild]" if setting.startswith("duckdb") else "[tool.assetbuild.duckdb]"
    _write(proj, "pyproject.toml", f"{table}\n{setting}\n")
    with pytest.raises(assetbuild.ConfigError, match=r"pyproject.toml: \[tool.assetbuild.duckdb\]"):
        build(proj)
    for verb in ("build", "status"):
        out = subprocess.run([sys.executable, "-m", "assetbuild", "-C", str(proj), verb], capture_output=True, text=True)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out
        assert "pyproject.toml: [tool.assetbuild.duckdb]" in out.stderr, out.stderr
    assert not (proj / "data").exists() and not (proj / "build").exists()


def test_the_default_database(proj):
    (proj / "pyproject.toml").unlink()
    build(proj)
    assert (proj / "build/warehouse.duckdb").is_file()


def test_rows_in_another_order_are_another_version(proj):
    """Readers get the rows in the table's order, so a reader may use it (the first row of an
    ORDER BY): another order is another data version and the reader reruns, never keeping a
    result its rebuild would not give. The same rows in the same order keep the version (early
    cutoff), and so does other SQL that gives them."""
    _write(proj, "AssetFile", ASSETFILE + """
ORDER = "total desc"


@asset(io="duckdb", deps=["orders"])
def by_total():
    return Query(f"select region, total from orders order by {ORDER}")


@asset(io="json")
def top(by_total):
    return str(by_total.region.iloc[0])
""")
    build(proj)
    assert assetbuild.load_value("top", project_dir=proj) == "us"
    _write(proj, "AssetFile", (proj / "AssetFile").read_text().replace('ORDER = "total desc"', 'ORDER = "total"'))
    r = build(proj)
    assert sorted(r.names("built")) == ["by_total", "top"]
    assert assetbuild.load_value("top", project_dir=proj) == "us"  # the smallest total, 5, is us's too
    _write(proj, "orders.csv", "region,total\neu,12\nus,5\neu,30\nus,40\nasia,1\n")
    build(proj)
    assert assetbuild.load_value("top", project_dir=proj) == "asia"
    _write(proj, "AssetFile", (proj / "AssetFile").read_text().replace('ORDER = "total"', 'ORDER = "total desc"'))
    r = build(proj)
    assert sorted(r.names("built")) == ["by_total", "top"] and assetbuild.load_value("top", project_dir=proj) == "us"
    _write(proj, "AssetFile", (proj / "AssetFile").read_text().replace("where total > 10", "where 10 < total"))
    r = build(proj)  # other SQL, the same rows in the same order
    assert r.names("built") == ["big"] and "report" in r.names("cached")
    _write(proj, "orders.csv", "region,total\nasia,1\neu,12\nus,5\neu,30\nus,40\n")
    r = build(proj)  # the same rows in another order: orders is another version, its readers rerun
    assert sorted(r.names("built")) == ["big", "by_total", "orders", "sales/eu"], r.names("built")
    assert sorted(r.names("cached")) == ["report", "top"]  # whose tables come out the same


def test_a_table_changed_outside_assetbuild_is_rebuilt(proj):
    build(proj)
    query(proj, "update big set total = 0 where total = 40")
    st = status(proj)
    assert st["big"].state == "stale" and [x.code for x in st["big"].reasons] == ["output-modified"]
    assert st["orders"].state == "fresh"
    r = build(proj)
    assert r.names("built") == ["big"] and "report" in r.names("cached")  # same data again
    assert sorted(query(proj, "select total from big")) == [(12,), (30,), (40,)]
    assert build(proj).names("built") == []


def test_a_dropped_table_or_database_is_rebuilt(proj):
    build(proj)
    query(proj, "drop table sales__eu")
    st = status(proj)
    assert [x.code for x in st["sales/eu"].reasons] == ["output-missing"]
    assert build(proj).names("built") == ["sales/eu"]
    (proj / "data/wh.duckdb").unlink()
    r = build(proj)
    assert sorted(r.names("built")) == ["big", "orders", "sales/eu"] and r.names("cached") == ["report"]


def test_a_table_not_as_recorded_is_not_shown_as_its_value(proj):
    """``load_value`` (``show``) of a table edited by hand would give the edit as the recorded
    value (and as version 0); of a deleted database, the plugin's FileNotFoundError. Each is one
    VersionGone line instead, until a build writes the table again."""
    build(proj)
    query(proj, "update orders set total = 999 where total = 40")
    for kw in ({}, {"version": 0}):
        with pytest.raises(assetbuild.VersionGone, match="its data where io='duckdb' keeps it was changed outside "
                                                         r"assetbuild \(assetbuild build orders rebuilds it\)"):
            assetbuild.load_value("orders", project_dir=proj, **kw)
    assert sorted(assetbuild.load_value("big", project_dir=proj).total) == [12, 30, 40]  # as recorded
    (proj / "data/wh.duckdb").unlink()
    for kw in ({}, {"version": 0}):
        with pytest.raises(assetbuild.VersionGone, match="its data is gone from where io='duckdb' keeps it"):
            assetbuild.load_value("orders", project_dir=proj, **kw)
    build(proj)
    assert 40 in assetbuild.load_value("orders", project_dir=proj, version=0).total.tolist()


def test_parallel_workers_share_the_database(proj):
    tables = "".join(f"\n\n@asset(io='duckdb')\ndef t{i}(orders):\n    return orders.assign(i={i})\n" for i in range(6))
    _write(proj, "AssetFile", ASSETFILE + tables)
    r = build(proj, jobs=2, executor="processes")
    assert len(r.names("built")) == 10
    assert query(proj, "select sum(i) from (" + " union all ".join(f"select distinct i from t{i}" for i in range(6))
                 + ")") == [(15,)]
    assert build(proj, jobs=2, executor="processes").names("built") == []


@pytest.mark.parametrize("first,second,table", [("Orders", "orders", "orders"), ("sales/eu", "sales__eu", "sales__eu"),
                                                 ("Sales/EU", "sales__eu", "sales__eu")])
def test_two_assets_in_one_table_are_a_definition_error_naming_both(proj, first, second, table):
    """DuckDB's table names ignore case and '/' is stored as '__': the second asset's table
    replaced the first's, and a reader of the first got the second's rows. Refused before
    anything runs, at the second asset's line."""
    _write(proj, "AssetFile", f"""\
import pandas as pd
from assetbuild import asset

@asset(io="duckdb", name={first!r})
def one():
    return pd.DataFrame({{"who": ["one"]}})

@asset(io="duckdb", name={second!r})
def two():
    return pd.DataFrame({{"who": ["two"]}})
""")
    with pytest.raises(assetbuild.DefinitionError) as e:
        assetbuild.build(project_dir=proj)
    assert str(e.value).endswith(f"AssetFile:8: assets {first!r} and {second!r} both keep their data in DuckDB table "
                                 f"{table!r} (io='duckdb'): one would overwrite the other's; rename one of them")
    assert not (proj / "data/wh.duckdb").exists()


def test_a_table_whose_name_changed_case_outside_assetbuild_is_still_found(proj):
    """``"Orders"`` and ``orders`` are one table to DuckDB: remade in another case (a ``duckdb``
    shell), with the same rows, it is the asset's table as before, not missing."""
    _write(proj, "AssetFile", "import pandas as pd\nfrom assetbuild import asset\n\n@asset(io='duckdb')\n"
                              "def Orders():\n    return pd.DataFrame({'x': [1, 2]})\n")
    build(proj)
    query(proj, 'create table tmp as select * from "Orders"; drop table "Orders"; alter table tmp rename to orders')
    assert query(proj, "select table_name from information_schema.tables") == [("orders",)]
    assert status(proj)["Orders"].state == "fresh"
    assert build(proj).names("built") == []
    assert assetbuild.load_value("Orders", project_dir=proj).x.tolist() == [1, 2]


def test_other_values_fail_the_asset(proj):
    _write(proj, "AssetFile", "from assetbuild import asset\n\n@asset(io='duckdb')\ndef rows():\n    return [1, 2]\n")
    r = assetbuild.build(project_dir=proj)
    (res,) = r.results
    assert res.status == "failed" and "io='duckdb' stores a pandas DataFrame" in res.error


def readme_example() -> dict[str, str]:
    """The files of the README's "Example": its pyproject.toml and AssetFile blocks, as written."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("\n## Example\n"):]
    section = section[:section.index("\n## ", 1)]
    blocks = dict(re.findall(r"```(?:toml|python)\n# (\S+).*?\n(.*?)```", section, re.S))
    assert sorted(blocks) == ["AssetFile", "pyproject.toml"], sorted(blocks)
    return blocks


def test_the_readme_example_builds_and_does_what_it_says(tmp_path):
    """Each step of the README's example, as its shell block says (the API in place of the CLI)."""
    root = tmp_path / "p"
    for rel, text in readme_example().items():
        _write(root, rel, text)
    _write(root, "data/orders.csv", "region,total\neu,12\nus,5\neu,30\nus,40\n")
    assert sorted(build(root).names("built")) == ["orders", "report", "sales/big"]  # builds all three
    assert assetbuild.load_value("report", project_dir=root) == {"eu": 42, "us": 40}
    assert build(root).names("built") == []  # runs nothing
    con = duckdb.connect(str(root / "build/warehouse.duckdb"))
    try:
        assert con.execute("select count(*) from sales__big").fetchone() == (2,)  # table "sales__big"
        con.execute("update orders set total = 0")
    finally:
        con.close()
    st = status(root)
    assert st["orders"].state == "stale" and [x.code for x in st["orders"].reasons] == ["output-modified"]
    r = build(root)  # rebuilds orders; big and report only if its data changed: it is the same again
    assert r.names("built") == ["orders"] and sorted(r.names("cached")) == ["report", "sales/big"]
    assert assetbuild.load_value("report", project_dir=root) == {"eu": 42, "us": 40}
    assert build(root).names("built") == []


def test_a_query_is_sql_text():
    with pytest.raises(TypeError):
        Query("")
    assert Query("select 1") == Query("select 1")


def test_a_query_may_end_with_a_semicolon_or_a_comment(proj):
    """SQL as people write it and keep it in files: a final ';', a final '-- comment' (which
    once swallowed the parenthesis the query was wrapped in), both. Two statements are refused
    by name: one query's result is the table."""
    (proj / "q.sql").write_text("select 2 as a\n-- counts nothing yet\n")
    _write(proj, "AssetFile", """\
        from assetbuild import asset
        from assetbuild_duckdb import Query

        @asset(io="duckdb")
        def semicolon():
            return Query("select 1 as a;")

        @asset(io="duckdb")
        def from_file():
            return Query(open("q.sql").read().strip())

        @asset(io="duckdb")
        def ending():
            return Query("select ';' as a; -- the end; really\\n")
        """)
    assert sorted(build(proj).names("built")) == ["ending", "from_file", "semicolon"]
    assert query(proj, "select a from semicolon") == [(1,)] and query(proj, "select a from from_file") == [(2,)]
    assert query(proj, "select a from ending") == [(";",)]
    _write(proj, "AssetFile", """\
        from assetbuild import asset
        from assetbuild_duckdb import Query

        @asset(io="duckdb")
        def two():
            return Query("select 1 as a; select 2 as a;")
        """)
    (res,) = assetbuild.build(project_dir=proj).results
    assert res.status == "failed" and "Query holds 2 SQL statements" in res.error, res.error


def test_duplicate_column_names_are_refused_not_renamed(proj):
    """DuckDB renames a second column of one name (``a, a`` -> ``a, a_1``; ``A`` and ``a`` are one
    name there): readers got other columns than the asset made, without a word. Refused, naming
    them, as io='parquet' and io='csv' refuse them; nothing is written."""
    _write(proj, "AssetFile", """\
        import pandas as pd
        from assetbuild import asset
        from assetbuild_duckdb import Query

        @asset(io="duckdb")
        def frame():
            return pd.DataFrame([[1, 2]], columns=["a", "a"])

        @asset(io="duckdb")
        def query():
            return Query("select 1 as A, 2 as a")

        @asset(io="duckdb")
        def fine():
            return Query("select 1 as a, 2 as b")
        """)
    res = {r.asset: r for r in assetbuild.build(project_dir=proj, keep_going=True).results}
    assert res["frame"].status == "failed" and "duplicate column names ['a']" in res["frame"].error
    assert res["query"].status == "failed" and "duplicate column names ['A', 'a']" in res["query"].error
    assert res["fine"].status == "built"
    assert query(proj, "select table_name from information_schema.tables") == [("fine",)]


def test_timestamps_do_not_depend_on_the_machines_time_zone(proj):
    """A TIMESTAMPTZ at 23:30 UTC is the 1st in UTC and the 2nd in Tokyo. A build under
    TZ=Asia/Tokyo gives what one in UTC gives (its key says nothing of the zone): a query's
    ``::date`` and the zone a reader's column is in are UTC's, not the machine's."""
    _write(proj, "AssetFile", """\
        from assetbuild import asset
        from assetbuild_duckdb import Query

        @asset(io="duckdb")
        def events():
            return Query("select timestamptz '2024-01-01 23:30:00+00' as ts, ts::date as day")

        @asset(io="json")
        def event_day(events):
            return [str(events.ts.dt.date.iloc[0]), str(events.day.dt.date.iloc[0]), str(events.ts.dtype)]
        """)
    for tz in ("Asia/Tokyo", "America/Los_Angeles"):
        out = subprocess.run([sys.executable, "-m", "assetbuild", "-C", str(proj), "--force"],
                             capture_output=True, text=True, env={**os.environ, "TZ": tz})
        assert out.returncode == 0, out.stdout + out.stderr
        assert assetbuild.load_value("event_day", project_dir=proj) == \
            ["2024-01-01", "2024-01-01", "datetime64[us, UTC]"], tz


def test_found_through_the_entry_point():
    assert isinstance(collect_io_managers(get_plugin_manager(autoload=True))["duckdb"], DuckDBIOManager)


def test_importing_the_plugin_stays_cheap():
    code = "import sys, assetbuild_duckdb; print([m for m in ('duckdb', 'pandas') if m in sys.modules])"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_an_arrow_table_is_stored_like_its_frame(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="an Arrow table needs pyarrow")
    import logging

    from assetbuild import IOContext

    io = DuckDBIOManager()
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    ctx = IOContext("t", tmp_path, logging.getLogger("t"))
    assert io.handle_output(ctx, pa.Table.from_pandas(frame, preserve_index=False)).data_version \
        == io.handle_output(ctx, frame).data_version
