"""Tests of the ``npy`` and ``npz`` IO managers: round trips, deterministic bytes, refusals,
discovery through the entry point, and real builds of a project that uses them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from importlib import metadata
from pathlib import Path

import assetbuild_numpy
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from assetbuild_numpy import NpyIOManager, NpzIOManager
from hypothesis import given, settings
from hypothesis import strategies as st

import assetbuild
from assetbuild import collect_io_managers
from assetbuild.testing import IOManagerContract

NPY = NpyIOManager()
NPZ = NpzIOManager()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """Never use the developer's cache; load installed plugins as a user's run would."""
    monkeypatch.delenv("ASSETBUILD_CACHE_DIR", raising=False)
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", raising=False)


def assert_identical(got: np.ndarray, want: np.ndarray) -> None:
    """Same type, dtype, shape and bits in every field (NaN payloads and -0.0 included)."""
    assert type(got) is np.ndarray
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.names is not None:
        for name in want.dtype.names:  # field by field: padding bytes are not part of the value
            assert_identical(got[name], want[name])
    else:
        assert got.tobytes() == want.tobytes()


def with_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """An equal array with another memory layout."""
    if layout == "fortran":
        return np.array(a, order="F")  # np.asfortranarray would make a 0-d array 1-d
    if layout == "strided":  # every other element of a bigger array along the first axis
        if a.ndim == 0:
            return a.copy()
        big = np.zeros((a.shape[0] * 2, *a.shape[1:]), dtype=a.dtype)
        big[::2] = a
        return big[::2]
    return a.copy()


def aligned(dtype: np.dtype) -> np.dtype:
    """``dtype`` laid out like a C struct: padding bytes between and after its fields."""
    return np.dtype([(name, dtype.fields[name][0]) for name in dtype.names], align=True)


def scribbled_padding(a: np.ndarray) -> np.ndarray:
    """An array equal to ``a`` field by field whose top-level padding bytes are 0xAB."""
    b = np.frombuffer(bytearray(b"\xab" * a.nbytes), dtype=a.dtype).reshape(a.shape)
    if a.size:
        for name in a.dtype.names:
            b[name] = a[name]
    return b


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
plain_dtypes = st.one_of(
    hnp.scalar_dtypes(),  # bool, ints, floats, complex, datetime64, timedelta64; both byte orders
    hnp.byte_string_dtypes(),
    hnp.unicode_string_dtypes(),
)
flat_records = hnp.array_dtypes(subtype_strategy=plain_dtypes, min_size=1, max_size=4)
record_dtypes = hnp.array_dtypes(  # fields may be records (padded or not), or arrays of them
    subtype_strategy=st.one_of(plain_dtypes, flat_records, flat_records.map(aligned)),
    min_size=1, max_size=4, allow_subarrays=True)
all_dtypes = st.one_of(plain_dtypes, record_dtypes, record_dtypes.map(aligned))
arrays = all_dtypes.flatmap(lambda dt: hnp.arrays(dt, shapes))
layouts = st.sampled_from(["C", "fortran", "strided"])


# --- npy: round trips and determinism ---------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(a=arrays, layout=layouts)
def test_npy_round_trip_keeps_dtype_shape_and_bits(a, layout):
    assert_identical(NPY.load(NPY.dump(with_layout(a, layout))), a)


@settings(max_examples=200, deadline=None)
@given(a=arrays, layout=layouts)
def test_npy_equal_arrays_give_equal_bytes_whatever_their_layout(a, layout):
    data = NPY.dump(a)
    assert NPY.dump(with_layout(a, layout)) == data
    assert NPY.dump(NPY.load(data)) == data  # a stored value re-dumps to the same bytes


@settings(max_examples=100, deadline=None)
@given(a=record_dtypes.map(aligned).flatmap(lambda dt: hnp.arrays(dt, shapes)))
def test_npy_padding_bytes_of_records_do_not_reach_the_bytes(a):
    b = scribbled_padding(a)
    assert NPY.dump(b) == NPY.dump(a)
    assert_identical(NPY.load(NPY.dump(b)), a)


def test_why_padding_is_zeroed_np_save_writes_uninitialised_padding():
    dt = np.dtype([("flag", "u1"), ("count", "<i4")], align=True)  # 3 padding bytes per record
    a = np.zeros(2, dtype=dt)
    b = scribbled_padding(a)
    assert a.tobytes() != b.tobytes() and (a == b).all()

    def np_save(x):
        buf = io.BytesIO()
        np.save(buf, x, allow_pickle=False)
        return buf.getvalue()

    assert np_save(a) != np_save(b)
    assert NPY.dump(a) == NPY.dump(b)
    # Even ndarray.copy() copies records field by field and leaves garbage in the copy's padding.
    assert NPY.dump(b.copy()) == NPY.dump(a)


def test_why_layout_is_normalised_np_save_writes_fortran_arrays_differently():
    a = np.arange(6.0).reshape(2, 3)
    f = np.asfortranarray(a)
    buf_c, buf_f = io.BytesIO(), io.BytesIO()
    np.save(buf_c, a)
    np.save(buf_f, f)
    assert buf_c.getvalue() != buf_f.getvalue()  # 'fortran_order': True, data transposed
    assert NPY.dump(a) == NPY.dump(f)
    assert b"'fortran_order': False" in NPY.dump(f)


def test_npy_bytes_are_a_plain_npy_file_aligned_to_64_bytes():
    data = NPY.dump(np.arange(5, dtype="<i4"))
    assert data.startswith(b"\x93NUMPY\x01\x00")
    header_len = int.from_bytes(data[8:10], "little")
    assert (10 + header_len) % 64 == 0
    assert data[10:10 + header_len].rstrip(b" \n") == \
        b"{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }"
    assert data[10 + header_len:] == np.arange(5, dtype="<i4").tobytes()


def test_npy_dtype_is_part_of_the_value():
    assert NPY.dump(np.arange(3, dtype="<i4")) != NPY.dump(np.arange(3, dtype=">i4"))
    assert NPY.dump(np.arange(3, dtype="i4")) != NPY.dump(np.arange(3, dtype="i8"))
    assert NPY.dump(np.array([0.0])) != NPY.dump(np.array([-0.0]))
    assert NPY.load(NPY.dump(np.arange(3, dtype=">i4"))).dtype == np.dtype(">i4")


def test_npy_zero_d_and_empty_arrays():
    for a in (np.array(1.5), np.zeros((0, 3)), np.array([], dtype="U3"), np.array(b"x")):
        assert_identical(NPY.load(NPY.dump(a)), a)


def test_npy_loaded_array_is_writable():
    out = NPY.load(NPY.dump(np.arange(4)))
    out[0] = 7
    assert out[0] == 7


def test_npy_memmap_is_stored_as_a_plain_array(tmp_path):
    m = np.memmap(tmp_path / "m.bin", dtype="<f8", mode="w+", shape=(3,))
    m[:] = [1.0, 2.0, 3.0]
    assert NPY.dump(m) == NPY.dump(np.array([1.0, 2.0, 3.0]))


def test_npy_record_with_many_fields_round_trips():
    dt = np.dtype([(f"field_{i}", "<f8") for i in range(600)])  # header far above NumPy's 10,000
    a = np.zeros(2, dtype=dt)
    a["field_599"] = [1.0, 2.0]
    assert_identical(NPY.load(NPY.dump(a)), a)


# --- npy: refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    np.array([1, None, "x"], dtype=object),
    np.zeros(2, dtype=[("a", "<i4"), ("b", "O")]),
])
def test_npy_object_arrays_are_refused_naming_the_dtype(value):
    with pytest.raises(TypeError, match=r"io='npy' cannot store an array of dtype .*'O'.*pickle"):
        NPY.dump(value)


def test_npy_string_dtype_is_refused():
    dtypes = pytest.importorskip("numpy.dtypes")
    if not hasattr(dtypes, "StringDType"):
        pytest.skip("NumPy < 2 has no StringDType")
    with pytest.raises(TypeError, match=r"dtype StringDType\(\)"):
        NPY.dump(np.array(["a", "bc"], dtype=dtypes.StringDType()))


@pytest.mark.parametrize("value, expected", [
    ([1, 2, 3], r"needs a numpy\.ndarray, got list"),
    ({"a": 1}, r"needs a numpy\.ndarray, got dict"),
    (None, r"needs a numpy\.ndarray, got NoneType"),
    ("text", r"needs a numpy\.ndarray, got str"),
    (np.float64(1.5), r"got the NumPy scalar numpy\.float64; return numpy\.asarray"),
    (np.ma.masked_array([1, 2], mask=[0, 1]), r"got the subclass numpy\.ma\..*MaskedArray"),
])
def test_npy_non_arrays_are_refused_with_a_clear_error(value, expected):
    with pytest.raises(TypeError, match=r"io='npy' " + ".*" + expected):
        NPY.dump(value)


def test_npy_load_never_unpickles():
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)  # a pickle inside a .npy
    with pytest.raises(ValueError, match="allow_pickle=False"):
        NPY.load(buf.getvalue())


def test_npy_load_refuses_bytes_that_are_not_npy():
    with pytest.raises(ValueError):
        NPY.load(b"PK\x03\x04 not an npy file")


# --- npz --------------------------------------------------------------------------------------

keys = st.text(st.characters(blacklist_characters="\x00\\", blacklist_categories=("Cs",)),
               max_size=8)


@settings(max_examples=100, deadline=None)
@given(value=st.dictionaries(keys, arrays, max_size=4))
def test_npz_round_trip(value):
    out = NPZ.load(NPZ.dump(value))
    assert type(out) is dict and sorted(out) == sorted(value)
    for k, a in value.items():
        assert_identical(out[k], a)


@settings(max_examples=50, deadline=None)
@given(value=st.dictionaries(keys, arrays, max_size=4), layout=layouts)
def test_npz_bytes_do_not_depend_on_key_order_or_layout(value, layout):
    reordered = {k: with_layout(value[k], layout) for k in reversed(list(value))}
    assert NPZ.dump(reordered) == NPZ.dump(value)


def test_npz_bytes_do_not_depend_on_the_clock(monkeypatch):
    value = {"b": np.arange(3), "a": np.eye(2)}
    monkeypatch.setattr(time, "time", lambda: 1_000_000_000.0)
    in_2001 = NPZ.dump(value)
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    assert NPZ.dump(value) == in_2001


def test_why_npz_is_not_np_savez_its_bytes_follow_insertion_order():
    def np_savez(**arrays):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    assert np_savez(a=np.eye(2), b=np.arange(3)) != np_savez(b=np.arange(3), a=np.eye(2))
    assert NPZ.dump({"a": np.eye(2), "b": np.arange(3)}) == \
        NPZ.dump({"b": np.arange(3), "a": np.eye(2)})


def test_npz_is_a_plain_npz_file_with_fixed_entries():
    data = NPZ.dump({"zeta": np.arange(3), "alpha": np.eye(2)})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["alpha.npy", "zeta.npy"]
    assert {(i.date_time, i.compress_type, i.create_system) for i in infos} == \
        {((1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED, 3)}
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        assert sorted(npz.files) == ["alpha", "zeta"]
        assert_identical(npz["alpha"], np.eye(2))
    assert NPZ.dump({}) == NPZ.dump({})
    assert NPZ.load(NPZ.dump({})) == {}


@pytest.mark.parametrize("value, error, expected", [
    ([np.arange(3)], TypeError, r"io='npz' needs a dict of str -> numpy\.ndarray, got list"),
    ({1: np.arange(3)}, TypeError, r"io='npz' needs str keys, got the key 1 \(int\)"),
    ({"a\x00b": np.arange(3)}, ValueError, r"must not contain NUL or backslash"),
    ({"a\\b": np.arange(3)}, ValueError, r"must not contain NUL or backslash"),
    ({"ok": np.arange(3), "bad": [1, 2]}, TypeError,
     r"io='npz' \(key 'bad'\) needs a numpy\.ndarray, got list"),
    ({"objs": np.array([None])}, TypeError,
     r"io='npz' \(key 'objs'\) cannot store an array of dtype .*'O'"),
])
def test_npz_refusals(value, error, expected):
    with pytest.raises(error, match=expected):
        NPZ.dump(value)


# --- determinism across interpreters ----------------------------------------------------------

def sample_values() -> list[tuple[str, object]]:
    """Values built the same way in this process and in a fresh interpreter."""
    rec = np.dtype([("flag", "u1"), ("pos", "<f8", (2,)), ("name", "U3")], align=True)
    records = np.array([(1, (0.5, -0.0), "ab"), (0, (np.nan, 1e300), "xyz")], dtype=rec)
    return [
        ("npy", np.arange(12, dtype="<f8").reshape(3, 4)),
        ("npy", np.asfortranarray(np.arange(12, dtype=">i2").reshape(3, 4))),
        ("npy", np.array(["α", "βγ"], dtype="U2")),
        ("npy", np.array(["2024-01-01", "NaT"], dtype="M8[s]")),
        ("npy", np.array(3.25)),
        ("npy", records),
        ("npz", {"records": records, "b": np.arange(5), "a": np.array([True, False])}),
    ]


def digests() -> list[str]:
    managers = {"npy": NPY, "npz": NPZ}
    return [hashlib.sha256(managers[io_name].dump(v)).hexdigest() for io_name, v in sample_values()]


def test_bytes_are_equal_in_a_fresh_interpreter():
    script = textwrap.dedent(f"""
        import importlib.util, json
        spec = importlib.util.spec_from_file_location("numpy_io_samples", {str(Path(__file__))!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(json.dumps(mod.digests()))
    """)
    env = {**os.environ, "PYTHONHASHSEED": "12345", "TZ": "Pacific/Kiritimati"}
    env.pop("ASSETBUILD_CACHE_DIR", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == digests()


# --- the plugin as assetbuild sees it ---------------------------------------------------------

def test_plugin_is_discovered_through_the_entry_point():
    eps = metadata.entry_points(group="assetbuild")
    assert any(ep.name == "numpy" and ep.value == "assetbuild_numpy" for ep in eps)
    pm = assetbuild.get_plugin_manager()
    assert pm.get_plugin("numpy") is assetbuild_numpy
    managers = collect_io_managers(pm)
    assert isinstance(managers["npy"], NpyIOManager) and isinstance(managers["npz"], NpzIOManager)
    assert {"pickle", "json", "text", "bytes"} <= set(managers)  # the built-ins are still there
    for m in (managers["npy"], managers["npz"]):
        assert isinstance(m, assetbuild.IOManager) and m.version == "1"


def test_plugin_is_not_loaded_when_autoload_is_disabled(monkeypatch):
    monkeypatch.setenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "npy" not in collect_io_managers(assetbuild.get_plugin_manager())


def test_importing_the_plugin_does_not_import_numpy():
    code = ("import sys, assetbuild_numpy; "
            "print(sorted(m for m in ('numpy', 'zipfile') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "numpy" not in proc.stdout


# --- end to end: a real project -----------------------------------------------------------------

ASSETFILE = '''\
import numpy as np
from assetbuild import asset, source

points_csv = source("points_csv", "data/points.csv")


@asset(io="npy", path="build/matrix.npy")
def matrix(points_csv):
    """The CSV as a float matrix, one row per line."""
    return np.loadtxt(points_csv, delimiter=",", dtype=np.float64, ndmin=2)


@asset(io="npz", path="build/stats.npz")
def stats(matrix):
    return {"mean": matrix.mean(axis=0), "max": matrix.max(axis=0)}


@asset(io="json")
def column_sums(matrix):
    return [float(x) for x in matrix.sum(axis=0)]
'''

EXPECTED = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "AssetFile").write_text(ASSETFILE)
    (root / "data" / "points.csv").write_text("1,2,3\n4,5,6\n")
    return root


def statuses(result) -> dict[str, str]:
    assert result.ok, [(r.asset, r.status, r.error, r.traceback) for r in result.results]
    return result.by_asset()


def test_project_builds_then_runs_nothing_and_values_load_back(project):
    first = statuses(assetbuild.build(project_dir=project))
    assert first == {"matrix": "built", "stats": "built", "column_sums": "built"}

    second = statuses(assetbuild.build(project_dir=project))
    assert set(second.values()) == {"cached"}

    assert_identical(assetbuild.load_value("matrix", project_dir=project), EXPECTED)
    assert_identical(np.load(project / "build" / "matrix.npy", allow_pickle=False), EXPECTED)
    assert (project / "build" / "matrix.npy").read_bytes() == NPY.dump(EXPECTED)

    stats = assetbuild.load_value("stats", project_dir=project)
    assert_identical(stats["mean"], EXPECTED.mean(axis=0))
    with np.load(project / "build" / "stats.npz", allow_pickle=False) as npz:
        assert_identical(npz["max"], EXPECTED.max(axis=0))
    assert assetbuild.load_value("column_sums", project_dir=project) == [5.0, 7.0, 9.0]


def test_project_source_edit_with_equal_values_stops_at_the_array(project):
    statuses(assetbuild.build(project_dir=project))
    (project / "data" / "points.csv").write_text("1.0, 2.0, 3.0\n4.00, 5, 6e0\n")  # same numbers

    after = statuses(assetbuild.build(project_dir=project))
    assert after == {"matrix": "built", "stats": "cached", "column_sums": "cached"}  # early cutoff


def test_project_restores_a_deleted_npy_output(project):
    statuses(assetbuild.build(project_dir=project))
    (project / "build" / "matrix.npy").unlink()

    after = statuses(assetbuild.build(project_dir=project))
    assert after["matrix"] == "restored" and after["column_sums"] == "cached"
    assert_identical(np.load(project / "build" / "matrix.npy"), EXPECTED)


# --- the contract every IO manager keeps (assetbuild.testing) -----------------------------------

class TestNpyContract(IOManagerContract):
    io_manager = NPY
    values = [value for io_name, value in sample_values() if io_name == "npy"] + [np.zeros((0, 3), "u1")]
    unsupported = [np.array([object()]), [1, 2], np.float64(1.5), np.ma.masked_array([1, 2])]

    def assert_same(self, loaded, original):
        assert_identical(loaded, original)


class TestNpzContract(IOManagerContract):
    io_manager = NPZ
    values = [value for io_name, value in sample_values() if io_name == "npz"] + [{}]
    unsupported = [np.arange(3), {1: np.arange(3)}, {"a": np.array([object()])}]

    def assert_same(self, loaded, original):
        assert type(loaded) is dict and sorted(loaded) == sorted(original)
        for key, array in original.items():
            assert_identical(loaded[key], array)
