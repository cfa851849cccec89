"""examples/etl, the weather-stations pipeline on pandas DataFrames stored as Parquet.

The project is copied to ``tmp_path``. The real command builds it twice (the second build runs
nothing), then each row of its README's "Things to edit" table is applied in order and checked:
exactly the assets the row names run again (and fail, where it says so), and exactly those it
names are restored. The table is read from the README, so the test and the documentation
cannot drift apart; every row needs an edit below, and every edit below needs a row. Then the
files equal those of a from-scratch build. The Python API checks its logs and metadata, and two
copies of the project in one process.

It needs the example's own libraries and assetbuild's pandas plugin (``pip install -e
plugins/assetbuild-pandas -r examples/etl/requirements.txt``, which ``.ci/run`` does), and is
skipped, saying so, where they are missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from projects import clean_env, cli, things_to_edit

import assetbuild
from assetbuild.compiled import beside_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "etl"
MISSING = [m for m in ("pandas", "pyarrow", "duckdb", "assetbuild_pandas", "assetbuild_duckdb")
           if importlib.util.find_spec(m) is None]

needs_the_libraries = pytest.mark.skipif(
    bool(MISSING), reason=f"examples/etl needs {', '.join(MISSING)}: pip install -e plugins/assetbuild-pandas "
                          "-e plugins/assetbuild-duckdb -r examples/etl/requirements.txt")

ALL = {"station_table", "raw_readings", "readings", "quality_gate", "monthly_stats",
       "city_climate", "anomalies", "station_summary_csv", "report", "warehouse_readings",
       "station_extremes"}
# deps=["quality_gate"] (and what reads the warehouse): skipped when it fails
GATED = {"station_summary_csv", "report", "warehouse_readings", "station_extremes"}


# --- helpers -------------------------------------------------------------------------------------

def copy_example(dest: Path) -> Path:
    """A copy of examples/etl without what a run there left (cache, outputs, bytecode)."""
    project = dest / "etl"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(
        ".assetbuild", "build", "__pycache__", "*.pyc"))
    return project


def plugin_env() -> dict[str, str]:
    """A user's shell, where installed plugins load (the pandas plugin gives io='parquet')."""
    env = clean_env()
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    return env


def build(project: Path, *args: str) -> tuple[dict[str, str], str]:
    """The real command with ``--json -k``: each asset's status, and what it printed on stderr."""
    r = cli("--json", "-k", *args, cwd=project, env=plugin_env(), timeout=300)
    doc = json.loads(r.stdout)  # stdout is the document and nothing else
    assert r.returncode == (0 if doc["ok"] else 1), r.stdout + r.stderr
    return {x["asset"]: x["status"] for x in doc["results"]}, r.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


WAREHOUSE = "warehouse.duckdb"  # a database file: its bytes differ between equal databases


def outputs(project: Path) -> dict[str, bytes]:
    """The files under build/, and the warehouse's tables as their rows (not the file's bytes)."""
    build_dir = project / "build"
    out = {p.relative_to(build_dir).as_posix(): p.read_bytes()
           for p in sorted(build_dir.rglob("*")) if p.is_file() and p.name != WAREHOUSE}
    if not (build_dir / WAREHOUSE).exists():  # nothing passed the quality gate yet
        return out
    import duckdb

    with duckdb.connect(str(build_dir / WAREHOUSE), read_only=True) as db:
        for (table,) in db.execute("select table_name from information_schema.tables order by 1").fetchall():
            rows = db.execute(f'select * from "{table}" order by all').fetchall()
            out[f"{WAREHOUSE}:{table}"] = repr(rows).encode()
    return out


def table_rows(readme: Path) -> list[tuple[str, set[str], set[str], set[str]]]:
    """(edit, runs again, of those: fails, restored) of each row of "Things to edit"."""
    return [(edit, runs, set(re.findall(r"`([^`]+)` \(fails\)", cells[1])), back)
            for edit, cells, (runs, back) in things_to_edit(readme, ALL)]


def april_csv() -> str:
    lines = ["date,station,temp_c,precip_mm"]
    for day in (1, 2, 3):
        for i, station in enumerate(("PH01", "PH02", "HM01", "HM02", "LF01")):
            lines.append(f"2024-04-{day:02d},{station},{10 + i + day / 10:.1f},{day * 0.5:.1f}")
    return "\n".join(lines) + "\n"


UNUSABLE = "date,station,temp_c,precip_mm\n" + "".join(f"2024-04-{d:02d},PH01,,0.0\n" for d in range(1, 31))


def _add_comments(p: Path) -> None:
    edit(p / "AssetFile", '    """One row per station: id, name, city and elevation."""',
         '    """One row per station: its id, name, city and elevation."""')
    edit(p / "etl" / "stats.py", "    m = mean(values)\n", "    m = mean(values)  # once\n")


# The README's edits, each found by a phrase of its "Edit" cell.
EDITS: dict[str, Callable[[Path], None]] = {
    "rewrite `median`'s last line":
        lambda p: edit(p / "etl" / "stats.py", "(s[mid - 1] + s[mid]) / 2", "sum(s[mid - 1:mid + 1]) / 2"),
    "change `Z_LIMIT = 2.5` to `3.0`":
        lambda p: edit(p / "AssetFile", "Z_LIMIT = 2.5", "Z_LIMIT = 3.0"),
    "change it to `Z_LIMIT = 3.5`":
        lambda p: edit(p / "AssetFile", "Z_LIMIT = 3.0", "Z_LIMIT = 3.5"),
    "back to `Z_LIMIT = 2.5`":
        lambda p: edit(p / "AssetFile", "Z_LIMIT = 3.5", "Z_LIMIT = 2.5"),
    "change `PLAUSIBLE_C` to `(-60.0, 60.0)`":
        lambda p: edit(p / "etl" / "transform.py", "PLAUSIBLE_C = (-50.0, 50.0)", "PLAUSIBLE_C = (-60.0, 60.0)"),
    "Add `data/readings/2024-04.csv`":
        lambda p: (p / "data" / "readings" / "2024-04.csv").write_text(april_csv(), encoding="utf-8"),
    "Delete `data/readings/2024-04.csv` again":
        lambda p: (p / "data" / "readings" / "2024-04.csv").unlink(),
    "Add a file of unusable rows":
        lambda p: (p / "data" / "readings" / "2024-05.csv").write_text(UNUSABLE, encoding="utf-8"),
    "Delete the file of unusable rows":
        lambda p: (p / "data" / "readings" / "2024-05.csv").unlink(),
    "Delete `build/`":
        lambda p: shutil.rmtree(p / "build"),
    "Edit a comment or a docstring":
        _add_comments,
}


# --- the tests -----------------------------------------------------------------------------------

def test_the_readme_says_how_to_run_it_and_names_an_edit_for_each_row():
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    assert "assetbuild -C examples/etl" in readme
    assert "-r examples/etl/requirements.txt" in readme
    rows = table_rows(EXAMPLE / "README.md")
    used = [[phrase for phrase in EDITS if phrase in row[0]] for row in rows]
    assert all(len(u) == 1 for u in used), list(zip([r[0] for r in rows], used))
    assert sorted(u[0] for u in used) == sorted(EDITS)


@pytest.mark.slow
@needs_the_libraries
def test_example_builds_twice_then_each_row_of_its_table(tmp_path):
    project = copy_example(tmp_path)

    first, err = build(project)
    assert first == dict.fromkeys(first, "built") and set(first) == ALL, first
    assert "warning" not in err.lower().replace("readings from unknown stations", ""), err
    import pandas as pd

    readings = pd.read_parquet(project / "build" / "readings.parquet")
    assert len(readings) == 455 and list(readings.columns) == [
        "station", "date", "month", "temp_c", "precip_mm", "name", "city"]
    assert "Harbour Pier" in (project / "build" / "report.md").read_text(encoding="utf-8")
    assert (project / "build" / "station_summary.csv").read_text(encoding="utf-8").startswith(
        "station,name,city,month,mean_c,median_c,min_c,max_c,precip_mm,days\n"
        "HM01,Ridge Top,Highmoor,2024-01,0.81,0.6,-3.3,4.3,68.6,31\n")

    second, _ = build(project)
    assert set(second.values()) == {"cached"}, second
    # Project modules are compiled from source, never through .pyc files (loader.py); only the
    # compiled AssetFile is kept beside it (compiled.beside_file).
    assert not list(project.rglob("*.pyc"))
    assert [p.name for p in project.rglob("__pycache__/*")] == [beside_file(project / "AssetFile").name]

    for text, runs, fails, written_back in table_rows(project / "README.md"):
        (apply,) = [fn for phrase, fn in EDITS.items() if phrase in text]
        apply(project)
        got, _ = build(project)
        ran = {a for a, s in got.items() if s in ("built", "failed")}
        assert {a for a, s in got.items() if s == "failed"} == fails, f"{text}: {got}"
        restored = {a for a, s in got.items() if s == "restored"}
        assert (ran, restored) == (runs, written_back), f"{text}: {got}"
        skipped = GATED if fails else set()
        assert {a for a, s in got.items() if s == "skipped"} == skipped, f"{text}: {got}"
        assert {a for a, s in got.items() if s == "cached"} == ALL - runs - written_back - skipped, got

    # After all the edits, the files equal those of a from-scratch build of the same tree.
    fresh = tmp_path / "fresh" / "etl"
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns(".assetbuild", "build"))
    assert set(build(fresh)[0].values()) == {"built"}
    assert outputs(fresh) == outputs(project)


# --- the Python API ------------------------------------------------------------------------------

@pytest.fixture
def api(monkeypatch, tmp_path):
    """Builds through the Python API with installed plugins, each in a cache beside its project;
    forgets the copies' ``etl`` package afterwards (a fresh process starts without it)."""
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", raising=False)

    def run(project: Path, **kwargs) -> assetbuild.BuildResult:
        return assetbuild.build(project_dir=project, cache_dir=project.parent / f"{project.name}-cache",
                                **kwargs)

    yield run
    prefix = os.path.join(str(tmp_path), "")
    for name, mod in list(sys.modules.items()):
        if (getattr(mod, "__file__", None) or "").startswith(prefix):
            del sys.modules[name]


@needs_the_libraries
def test_logs_and_metadata(tmp_path, api, caplog):
    project = copy_example(tmp_path)
    with caplog.at_level("INFO", logger="assetbuild.asset"):
        result = api(project)
    assert result.ok, [(r.asset, r.error) for r in result.results if r.error]
    assert "read 461 rows from 3 files" in caplog.text
    assert "unknown stations: ZZ99" in caplog.text
    meta = {r.asset: r.metadata for r in result.results}
    assert meta["raw_readings"] == {"files": ["2024-01.csv", "2024-02.csv", "2024-03.jsonl"],
                                    "rows": 461}
    # The asset's own metadata, and what the parquet IO manager says about the frame.
    readings = meta["readings"]
    assert {k: readings[k] for k in ("kept", "dropped", "unknown_stations")} == \
        {"kept": 455, "dropped": 6, "unknown_stations": ["ZZ99"]}
    assert readings["rows"] == 455 and readings["dtypes"]["temp_c"] == "float64"
    assert readings["preview"][0] == ["station", "date", "month", "temp_c", "precip_mm", "name", "city"]
    assert len(readings["preview"]) == 6
    assert meta["monthly_stats"]["index"] == {"station": meta["monthly_stats"]["index"]["station"],
                                              "month": meta["monthly_stats"]["index"]["month"]}
    assert meta["monthly_stats"]["rows"] == 15  # five stations, three months
    assert meta["station_summary_csv"]["columns"][:3] == ["station", "name", "city"]


@needs_the_libraries
def test_two_copies_of_the_project_in_one_process(tmp_path, api):
    """Two checkouts of one project, built one after the other by one process (a test suite, a
    notebook): each must import its own etl package."""
    a = copy_example(tmp_path / "a")
    b = copy_example(tmp_path / "b")
    assert api(a).ok
    assert api(b).ok
    edit(b / "etl" / "stats.py", "(s[mid - 1] + s[mid]) / 2", "sum(s[mid - 1:mid + 1]) / 2")
    assert api(b).names("built") == ["monthly_stats"]


@needs_the_libraries
def test_the_quality_gate_says_why_and_nothing_is_published(tmp_path, api):
    project = copy_example(tmp_path)
    (project / "data" / "readings" / "2024-05.csv").write_text(UNUSABLE, encoding="utf-8")
    result = api(project, keep_going=True)
    st = {r.asset: r for r in result.results}
    assert not result.ok and st["quality_gate"].status == "failed"
    assert "36 of 491 rows (7%) could not be used; the limit is 5%" in st["quality_gate"].error
    assert {st[a].status for a in GATED} == {"skipped"}
    assert st["monthly_stats"].status == "built"  # -k: what does not need the gate is built
    assert sorted(outputs(project)) == ["readings.parquet"]
