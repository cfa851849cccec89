"""The parquet and csv IO managers: deterministic bytes (also in fresh interpreters with other
hash seeds), round trips and what they keep, refusals, metadata, and real builds through
assetbuild, with early cutoff."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import assetbuild_pandas
import numpy as np
import pandas as pd
import pytest
from assetbuild_pandas import CsvIOManager, ParquetIOManager, describe

import assetbuild
from assetbuild import collect_io_managers
from assetbuild.testing import IOManagerContract

PARQUET = ParquetIOManager()
CSV = CsvIOManager()


def assert_same_frame(loaded, original):
    assert type(loaded) is pd.DataFrame
    pd.testing.assert_frame_equal(loaded, original, check_exact=True, check_freq=False)
    assert loaded.attrs == original.attrs


# --- values built the same way here and in a fresh interpreter -----------------------------------

def parquet_values() -> list[pd.DataFrame]:
    """Frames whose every part survives io='parquet' (see the module docstring)."""
    with_attrs = pd.DataFrame({"v": [1.5, -0.0]})
    with_attrs.attrs = {"source": "sensors", "units": {"v": "mm"}}
    return [
        pd.DataFrame({"i": [1, 2, 3], "f": [0.5, np.nan, -0.0], "b": [True, False, True],
                      "s": pd.array(["x", None, "zé"], dtype="string")}),
        pd.DataFrame({"i8": np.array([1, -2], dtype="int8"), "u4": np.array([1, 2], dtype="uint32"),
                      "f4": np.array([1.25, 2.5], dtype="float32")}),
        pd.DataFrame({"t": pd.to_datetime(["2024-01-01", None]).as_unit("ns"),
                      "tz": pd.to_datetime(["2024-01-01 12:00", "2024-03-31 03:30"]).as_unit("us")
                      .tz_localize("Europe/Paris"),
                      "td": pd.to_timedelta([1, 2], unit="s").as_unit("ms")}),
        pd.DataFrame({"c": pd.Categorical(["b", "a", "b"], categories=["b", "a", "unused"]),
                      "o": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True)}),
        pd.DataFrame({"i": pd.array([1, None], dtype="Int64"), "b": pd.array([True, None], dtype="boolean"),
                      "f": pd.array([1.5, None], dtype="Float64")}),
        pd.DataFrame({"v": [10, 20]}, index=pd.Index(["p", "q"], name="key")),
        pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_arrays(
            [["a", "b"], [1, 2]], names=["x", "y"])),
        pd.DataFrame({"v": [1, 2]}, index=pd.RangeIndex(5, 9, 2)),
        pd.DataFrame({"v": [1, 2]}, index=pd.date_range("2024-01-01", periods=2, freq="D", name="day")),
        pd.DataFrame({"p": pd.period_range("2024-01", periods=2, freq="M"),
                      "iv": pd.interval_range(0, 2), "arrow": pd.array([1, None], dtype="int64[pyarrow]")}),
        pd.DataFrame({0: [1], 1: [2]}),
        pd.DataFrame({"s": np.array(["2024-01-01T10:00:01", "NaT"], dtype="datetime64[s]"),  # (Parquet: ms)
                      "tz": pd.to_datetime(["2024-01-01 12:00:01", "2024-03-31 03:30:00"]).as_unit("s")
                      .tz_localize("Europe/Paris"), "b": pd.Categorical([b"x", b"y"], categories=[b"y", b"x"])},
                     index=pd.MultiIndex.from_arrays([pd.to_datetime(["2024-01-01", "2024-01-02"]).as_unit("s"),
                                                      ["a", "b"]], names=["day", "k"])),
        pd.DataFrame({"v": [1]}, index=pd.DatetimeIndex(np.array(["2024-01-01"], dtype="datetime64[s]"), name="d")),
        pd.DataFrame({"a": pd.Series([], dtype="int64")}),
        pd.DataFrame(),
        with_attrs,
        pd.DataFrame({"d": [{"n": 1, "s": "x", "in": {"f": 0.5}}, {"n": 2, "s": None, "in": {"f": 1.5}}]}),
    ]


def csv_values() -> list[pd.DataFrame]:
    """Frames that read_csv reads back as they were: int64, float64, bool and string columns."""
    return [
        pd.DataFrame({"i": [1, -2, 3], "f": [0.1, np.nan, 1e300], "b": [True, False, True],
                      "s": pd.array(["a, b", 'say "hi"', "line\nbreak"], dtype="str")}),
        pd.DataFrame({"only": [1.5]}),
        pd.DataFrame(),
    ]


def digests() -> list[str]:
    return ([hashlib.sha256(PARQUET.dump(v)).hexdigest() for v in parquet_values()]
            + [hashlib.sha256(CSV.dump(v)).hexdigest() for v in csv_values()])


@pytest.mark.parametrize("seed", ["1", "4242"])
def test_bytes_are_equal_in_fresh_interpreters_with_other_hash_seeds(seed):
    script = textwrap.dedent(f"""
        import importlib.util, json
        spec = importlib.util.spec_from_file_location("pandas_io_samples", {str(Path(__file__))!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(json.dumps(mod.digests()))
    """)
    env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": "Pacific/Kiritimati"}
    env.pop("ASSETBUILD_CACHE_DIR", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == digests()


def test_equal_frames_built_differently_give_equal_bytes():
    a = pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 1.5, 2.5]})
    b = pd.DataFrame({"y": [0.5, 1.5, 2.5]})
    b.insert(0, "x", [1, 2, 3])  # another block layout
    wide = pd.DataFrame({"x": [9, 1, 2, 3], "z": [0, 0, 0, 0], "y": [9.0, 0.5, 1.5, 2.5]})
    sliced = wide.iloc[1:, [0, 2]].reset_index(drop=True)  # a view of a bigger frame
    for io_manager in (PARQUET, CSV):
        assert io_manager.dump(a) == io_manager.dump(b) == io_manager.dump(sliced)

    first, second = a.copy(), a.copy()
    first.attrs = {"a": 1, "b": {"c": 2, "d": 3}}
    second.attrs = {"b": {"d": 3, "c": 2}, "a": 1}  # the same attrs, inserted in another order
    assert PARQUET.dump(first) == PARQUET.dump(second) != PARQUET.dump(a)


def test_parquet_bytes_pin_the_writer_options():
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(io.BytesIO(PARQUET.dump(parquet_values()[0]))).metadata
    assert meta.format_version == "2.6" and meta.num_row_groups == 1
    assert meta.row_group(0).column(0).compression == "SNAPPY"
    assert meta.created_by.startswith("parquet-cpp-arrow version ")  # true, not faked


# --- round trips -------------------------------------------------------------------------------

def test_parquet_keeps_index_dtypes_and_attrs():
    for frame in parquet_values():
        assert_same_frame(PARQUET.load(PARQUET.dump(frame)), frame)
    multi = parquet_values()[6]
    assert PARQUET.load(PARQUET.dump(multi)).index.names == ["x", "y"]
    assert isinstance(PARQUET.load(PARQUET.dump(parquet_values()[7])).index, pd.RangeIndex)


def test_parquet_path_output_reads_with_pandas(tmp_path):
    frame = parquet_values()[5]
    (tmp_path / "f.parquet").write_bytes(PARQUET.dump(frame))
    assert_same_frame(pd.read_parquet(tmp_path / "f.parquet"), frame)


def test_only_frames_with_seconds_carry_their_units():
    """Seconds are stored as milliseconds (Parquet has no seconds) and cast back by load, from a
    key in the file's metadata that only such frames carry: other frames keep their bytes."""
    import pyarrow.parquet as pq

    keys = [set(pq.read_schema(io.BytesIO(PARQUET.dump(f))).metadata) for f in parquet_values()]
    assert [i for i, k in enumerate(keys) if b"assetbuild.units" in k] == [11, 12]
    assert pq.read_schema(io.BytesIO(PARQUET.dump(parquet_values()[11]))).field("s").type.unit == "ms"


def test_what_parquet_does_not_keep():
    daily = pd.DataFrame({"v": [1, 2]}, index=pd.date_range("2024-01-01", periods=2, freq="D"))
    assert PARQUET.load(PARQUET.dump(daily)).index.freq is None
    nested = PARQUET.load(PARQUET.dump(pd.DataFrame({"l": [[1, 2], [3]]})))
    assert isinstance(nested["l"][0], np.ndarray) and nested["l"][0].tolist() == [1, 2]
    dicts = PARQUET.load(PARQUET.dump(pd.DataFrame({"l": [[{"k": "a"}], []], "d": [{"l": [1]}, {"l": []}]})))
    assert isinstance(dicts["l"][0], np.ndarray) and dicts["l"][0].tolist() == [{"k": "a"}]  # lists of dicts too
    assert isinstance(dicts["d"][0]["l"], np.ndarray) and dicts["d"][0]["l"].tolist() == [1]  # lists in dicts too


def test_csv_round_trip_is_what_read_csv_reads():
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                          "n": pd.array([1, None], dtype="Int64")})
    data = CSV.dump(frame)
    assert data == b"t,n\n2024-01-01,1\n2024-01-02,\n"
    back = CSV.load(data)
    assert back["t"].tolist() == ["2024-01-01", "2024-01-02"]  # text again: dtypes are inferred
    assert back["n"].dtype == np.float64
    assert CSV.dump(csv_values()[0]).startswith(b'i,f,b,s\n1,0.1,True,"a, b"\n')


@pytest.mark.parametrize("io_manager, value, error, expected", [
    (PARQUET, [1, 2], TypeError, r"io='parquet' needs a pandas\.DataFrame, got list"),
    (CSV, pd.Series([1, 2], name="n"), TypeError, r"got a Series: return series\.to_frame\(\)"),
    (PARQUET, pd.DataFrame([[1, 2]], columns=["a", "a"]), ValueError, r"Duplicate column names"),
    (PARQUET, pd.DataFrame({"m": [1, "x"]}), Exception, r"Conversion failed for column m"),
    (PARQUET, pd.DataFrame({"grade": pd.Categorical([1, 2, 1], categories=[2, 1], ordered=True)}), TypeError,
     r"^io='parquet' cannot store column 'grade' faithfully: a categorical whose categories are int64 comes back "
     r"as a plain int64 column \(Parquet keeps the categories of strings or bytes only\): make them strings "
     r"\(\.cat\.rename_categories\(str\)\), store \.astype\('int64'\), or use io='pickle'$"),
    (PARQUET, pd.DataFrame({"f": pd.Categorical([1.5, 2.5])}), TypeError, r"column 'f' faithfully: .* are float64"),
    (PARQUET, pd.DataFrame({"t": pd.Categorical(pd.to_datetime(["2024-01-01"]))}), TypeError,
     r"column 't' faithfully: a categorical whose categories are datetime64\[us\]"),
    (PARQUET, pd.DataFrame({"v": [1]}, index=pd.CategoricalIndex([3], name="ci")), TypeError,
     r"cannot store index 'ci' faithfully: a categorical"),
    (PARQUET, pd.DataFrame({"o": pd.Series([2**60 + 1, 2], dtype=object)}), TypeError,
     r"^io='parquet' cannot store column 'o' faithfully: its dtype is object, holding int64 values, which would "
     r"come back with their dtype instead: give it theirs \(\.astype\('int64'\), or 'Int64' with missing "
     r"values\) or use io='pickle'$"),
    (PARQUET, pd.DataFrame({"o": pd.Series([True, None], dtype=object)}), TypeError,
     r"column 'o' faithfully: its dtype is object, holding bool values.*\.astype\(bool\), or 'boolean'"),
    (PARQUET, pd.DataFrame({"v": [1]}, index=pd.Index([1.5], dtype=object)), TypeError,
     r"cannot store the index faithfully: its dtype is object, holding double values"),
    (PARQUET, pd.DataFrame({"c": np.array([1 + 2j])}), TypeError,
     r"^io='parquet' cannot store this frame: .*Conversion failed for column c with type complex128 \(convert "
     r"that column to a type Parquet has, or use io='pickle'\)$"),
    (CSV, pd.DataFrame({"v": [1]}, index=pd.Index(["k"], name="key")), TypeError,
     r"io='csv' stores the columns only, and this frame has an index \(Index 'key'\): "
     r"call \.reset_index\(\)"),
    (CSV, pd.DataFrame({"v": [1, 2]}).iloc[1:], TypeError, r"this frame has an index"),
    (CSV, pd.DataFrame({0: [1]}), TypeError, r"io='csv' needs str column names"),
    (CSV, pd.DataFrame([[1, 2]], columns=["a", "a"]), ValueError, r"duplicate column names \['a'\]"),
    (CSV, pd.DataFrame(index=range(2)), ValueError, r"cannot store 2 rows without columns"),
    (PARQUET, pd.DataFrame({"user": ["a", "b", "c"]}).drop(columns=["user"]), ValueError,
     r"^io='parquet' cannot store 3 rows without columns \(they would come back as 0 rows\): add a column, "
     r"or use io='pickle'$"),
    (PARQUET, pd.DataFrame(index=pd.RangeIndex(0, 4, 2, name="x")), ValueError, r"cannot store 2 rows without"),
    (PARQUET, pd.DataFrame({"id": [1, 2], "payload": [{"clicks": 3}, {"referrer": "x"}]}), TypeError,
     r"^io='parquet' cannot store column 'payload' faithfully: Parquet keeps its dicts as one struct of all "
     r"their keys, and row 0's \{'clicks': 3\} would come back as \{'clicks': 3\.0, 'referrer': None\} \(a key "
     r"some dicts lack as None, an int field with a gap as floats\): give every dict the same keys in the same "
     r"order and values of one type, store json\.dumps of them as text, or use io='pickle'$"),
    (PARQUET, pd.DataFrame({"d": [{"a": 1, "b": 2}, {"b": 3, "a": 4}]}), TypeError,
     r"column 'd' faithfully: .* row 1's \{'b': 3, 'a': 4\} would come back as \{'a': 4, 'b': 3\}"),
    (PARQUET, pd.DataFrame({"d": [{"a": 1}, None]}), TypeError, r"row 0's \{'a': 1\} would come back as \{'a': 1\.0\}"),
    (PARQUET, pd.DataFrame({"l": [[{"a": 1}], [{"b": "x"}]]}), TypeError, r"column 'l' faithfully: .* row 0's"),
])
def test_refusals(io_manager, value, error, expected):
    with pytest.raises(error, match=expected):
        io_manager.dump(value)


# --- metadata ------------------------------------------------------------------------------------

def test_describe_gives_rows_columns_dtypes_and_a_preview():
    frame = pd.DataFrame({"station": ["PH01", "HM01", None], "temp_c": [1.5, np.nan, np.inf],
                          "days": [31, 29, 31], "when": pd.to_datetime(["2024-01-01"] * 3),
                          "note": ["x" * 100, "ok", "ok"]})
    assert describe(frame) == {
        "rows": 3,
        "columns": ["station", "temp_c", "days", "when", "note"],
        "dtypes": {"station": str(frame["station"].dtype), "temp_c": "float64", "days": "int64",
                   "when": str(frame["when"].dtype), "note": str(frame["note"].dtype)},
        "preview": [["station", "temp_c", "days", "when", "note"],
                    ["PH01", 1.5, 31, "2024-01-01 00:00:00", "x" * 79 + "…"],
                    ["HM01", None, 29, "2024-01-01 00:00:00", "ok"],
                    [None, "inf", 31, "2024-01-01 00:00:00", "ok"]],
    }
    json.dumps(describe(frame), allow_nan=False)  # plain, strict JSON


def test_describe_lists_a_real_index_and_cuts_long_frames():
    frame = pd.DataFrame({"v": range(100)}, index=pd.MultiIndex.from_product(
        [["a", "b"], range(50)], names=["group", None]))
    meta = describe(frame)
    assert meta["rows"] == 100 and meta["index"] == {"group": str(frame.index.levels[0].dtype),
                                                     "level_1": "int64"}
    assert meta["preview"] == [["group", "level_1", "v"], ["a", 0, 0], ["a", 1, 1], ["a", 2, 2],
                               ["a", 3, 3], ["a", 4, 4]]
    wide = pd.DataFrame([list(range(30))], columns=[f"c{i}" for i in range(30)])
    meta = describe(wide)
    assert len(meta["columns"]) == 30 and meta["preview"][0] == [f"c{i}" for i in range(20)]


# --- the plugin as assetbuild sees it -------------------------------------------------------------

def test_plugin_is_discovered_through_the_entry_point(monkeypatch):
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    eps = metadata.entry_points(group="assetbuild")
    assert any(ep.name == "pandas" and ep.value == "assetbuild_pandas" for ep in eps)
    pm = assetbuild.get_plugin_manager()
    assert pm.get_plugin("pandas") is assetbuild_pandas
    managers = collect_io_managers(pm)
    assert isinstance(managers["parquet"], ParquetIOManager)
    assert isinstance(managers["csv"], CsvIOManager)
    for m in (managers["parquet"], managers["csv"]):
        assert isinstance(m, assetbuild.IOManager)
    assert (managers["parquet"].version, managers["csv"].version) == ("2", "1")


def test_importing_the_plugin_does_not_import_pandas_or_pyarrow():
    code = ("import sys, assetbuild_pandas; "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --- end to end: a real project ------------------------------------------------------------------

ASSETFILE = '''\
import pandas as pd
from assetbuild import Output, asset, source

orders_csv = source("orders_csv", "data/orders.csv")


@asset(io="parquet", path="build/orders.parquet")
def orders(orders_csv):
    return pd.read_csv(orders_csv, dtype={"region": "string"})


@asset(io="parquet")
def by_region(orders):
    return orders.groupby("region").agg(total=("amount", "sum"), n=("amount", "size"))


@asset(io="csv", path="build/by_region.csv")
def by_region_csv(by_region):
    return Output(by_region.reset_index(), metadata={"rows": "the asset's own"})
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", raising=False)  # find the plugin
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "AssetFile").write_text(ASSETFILE)
    (root / "data" / "orders.csv").write_text("region,amount\neu,10.5\nus,3\neu,1.5\n")
    return root


def statuses(result) -> dict[str, str]:
    assert result.ok, [(r.asset, r.status, r.error, r.traceback) for r in result.results]
    return result.by_asset()


def test_project_builds_then_runs_nothing_and_values_load_back(project):
    first = assetbuild.build(project_dir=project)
    assert statuses(first) == {"orders": "built", "by_region": "built", "by_region_csv": "built"}
    meta = {r.asset: r.metadata for r in first.results}
    assert meta["orders"]["rows"] == 3 and meta["orders"]["columns"] == ["region", "amount"]
    assert meta["orders"]["dtypes"] == {"region": "string", "amount": "float64"}
    assert meta["by_region"]["index"] == {"region": "string"}
    assert meta["by_region"]["preview"] == [["region", "total", "n"], ["eu", 12.0, 2], ["us", 3.0, 1]]
    assert meta["by_region_csv"]["rows"] == "the asset's own"  # the asset's metadata wins
    assert meta["by_region_csv"]["columns"] == ["region", "total", "n"]

    assert set(statuses(assetbuild.build(project_dir=project)).values()) == {"cached"}

    expected = pd.DataFrame({"region": pd.array(["eu", "us", "eu"], dtype="string"),
                             "amount": [10.5, 3.0, 1.5]})
    assert_same_frame(assetbuild.load_value("orders", project_dir=project), expected)
    assert_same_frame(pd.read_parquet(project / "build" / "orders.parquet"), expected)
    assert (project / "build" / "by_region.csv").read_text() == "region,total,n\neu,12.0,2\nus,3.0,1\n"


def test_project_source_edit_with_equal_values_stops_at_the_frame(project):
    statuses(assetbuild.build(project_dir=project))
    (project / "data" / "orders.csv").write_text("region,amount\neu,10.50\nus,3.0\neu,1.5e0\n")
    after = statuses(assetbuild.build(project_dir=project))
    assert after == {"orders": "built", "by_region": "cached", "by_region_csv": "cached"}  # early cutoff

    (project / "data" / "orders.csv").write_text("region,amount\neu,10.5\nus,3\nus,1.5\n")
    after = statuses(assetbuild.build(project_dir=project))
    assert set(after.values()) == {"built"}


def test_project_restores_a_deleted_parquet_output(project):
    statuses(assetbuild.build(project_dir=project))
    before = (project / "build" / "orders.parquet").read_bytes()
    (project / "build" / "orders.parquet").unlink()
    after = statuses(assetbuild.build(project_dir=project))
    assert after == {"orders": "restored", "by_region": "cached", "by_region_csv": "cached"}
    assert (project / "build" / "orders.parquet").read_bytes() == before


def test_project_refuses_what_parquet_would_change_and_readers_see_seconds(project):
    """A categorical of ints came back to its reader as int64, and seconds as milliseconds,
    silently: the first is now the asset's failure naming its column, the second is kept."""
    (project / "AssetFile").write_text(textwrap.dedent("""\
        import numpy as np
        import pandas as pd
        from assetbuild import asset

        @asset(io="parquet")
        def grades():
            return pd.DataFrame({"grade": pd.Categorical([1, 2, 1], categories=[2, 1], ordered=True)})

        @asset(io="parquet")
        def times():
            return pd.DataFrame({"when": np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[s]")})

        @asset(io="json")
        def dtypes(times):
            return {c: str(t) for c, t in times.dtypes.items()}
    """))
    r = assetbuild.build(project_dir=project, keep_going=True)
    st = {x.asset: x for x in r.results}
    assert st["grades"].status == "failed" and "cannot store column 'grade' faithfully" in st["grades"].error
    assert st["dtypes"].status == "built"
    assert assetbuild.load_value("dtypes", project_dir=project) == {"when": "datetime64[s]"}


# --- the contract every IO manager keeps (assetbuild.testing) -------------------------------------

class TestParquetContract(IOManagerContract):
    io_manager = PARQUET
    values = parquet_values()
    unsupported = [pd.Series([1]), {"a": [1]}, pd.DataFrame({"m": [1, "x"]})]

    def assert_same(self, loaded, original):
        assert_same_frame(loaded, original)


class TestCsvContract(IOManagerContract):
    io_manager = CSV
    values = csv_values()
    unsupported = [pd.Series([1]), pd.DataFrame({"v": [1]}, index=["k"]), pd.DataFrame({1: [1]})]

    def assert_same(self, loaded, original):
        assert_same_frame(loaded, original)
