"""Typed metadata: ``MetadataValue``, plain values typed automatically, the stored form, and where
metadata is shown (``build -v``, ``build --json``, ``show --meta``); and ``status --check``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

from assetbuild import MetadataValue
from assetbuild.metadata import decode_metadata, encode_metadata, metadata_to_json, render_metadata, typed

ASSETFILE = '''
from assetbuild import MetadataValue


@asset(io="json")
def rows(context):
    data = [{"id": 1, "name": "a", "amount": 1.5}, {"id": 2, "name": "bb", "amount": 22.25}]
    context.add_metadata({"source": MetadataValue.url("https://example.org/x")})
    return Output(data, metadata={"rows": len(data), "preview": MetadataValue.table(data),
                                  "notes": MetadataValue.md("**two** rows"), "ratio": 0.5,
                                  "tags": ["x", "y"]})


@asset(io="json")
def total(rows):
    return sum(r["amount"] for r in rows)
'''


@pytest.fixture()
def proj(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.assetfile(ASSETFILE)
    return p


def test_plain_values_are_typed_by_what_they_are() -> None:
    assert typed(3) == MetadataValue.int(3)
    assert typed(2.5) == MetadataValue.float(2.5)
    assert typed("hi") == MetadataValue.text("hi")
    assert typed({"a": [1, 2]}) == MetadataValue.json({"a": [1, 2]})
    assert typed([1, "x"]).type == "json"
    assert typed(True) == MetadataValue("json", True)  # not the int 1
    assert typed(Path("/x")) == MetadataValue.text(repr(Path("/x")))  # anything else: its repr
    assert typed({1, 2}).type == "text"  # a set has no JSON form: kept as text, never an error
    assert typed(float("nan")).value == "nan"


def test_constructors() -> None:
    assert MetadataValue.path(Path("a/b.csv")) == MetadataValue("path", "a/b.csv")
    assert MetadataValue.table([[1, 2], [3]], columns=["x", "y"]).value == {"columns": ["x", "y"],
                                                                            "rows": [[1, 2], [3, None]]}
    t = MetadataValue.table([{"a": 1}, {"b": 2}])
    assert t.value == {"columns": ["a", "b"], "rows": [[1, None], [None, 2]]}
    with pytest.raises(ValueError):
        MetadataValue.json({"x": math.inf})
    with pytest.raises(ValueError, match="unknown metadata type"):
        MetadataValue("chart", 1)


def test_stored_form_round_trips_and_older_traces_read() -> None:
    md = {"rows": 2, "preview": MetadataValue.table([{"a": 1}]), "note": MetadataValue.md("x")}
    back = decode_metadata(encode_metadata(md))
    assert back == {k: typed(v) for k, v in md.items()}
    assert list(back) == ["rows", "preview", "note"]  # the asset's order
    # a trace written before typed metadata: the plain dict
    assert decode_metadata(json.dumps({"rows": 2, "name": "x"})) == {"rows": MetadataValue.int(2),
                                                                     "name": MetadataValue.text("x")}
    assert decode_metadata("") == {} and encode_metadata({}) == ""


def test_render_aligns_a_table_and_right_aligns_numbers() -> None:
    lines = render_metadata({"preview": MetadataValue.table([{"id": 1, "name": "a"}, {"id": 10, "name": "bb"}]),
                             "rows": 2}, indent="")
    assert lines == ["preview:", "  id  name", "  --  ----", "   1  a", "  10  bb", "rows: 2"]


def test_a_float_renders_as_a_float_not_an_int() -> None:
    """Text views (-v, show --meta, runs show, log --metric) said 2 for the float 2.0, as for the int."""
    from assetbuild.metadata import render_value

    assert [render_value(typed(v)) for v in (2.0, -3.0, 0.5, 1e20, 123456789.0, 2)] == \
        ["2.0", "-3.0", "0.5", "1e+20", "1.23457e+08", "2"]


def test_build_json_shows_typed_metadata_of_built_assets_only(proj: Project) -> None:
    r = cli("--json", cwd=proj.root, env=clean_env())
    assert r.returncode == 0, r.stderr
    results = {x["asset"]: x for x in json.loads(r.stdout)["results"]}
    md = results["rows"]["metadata"]
    assert md["rows"] == {"type": "int", "value": 2}
    assert md["preview"]["type"] == "table" and md["preview"]["value"]["columns"] == ["id", "name", "amount"]
    assert md["source"] == {"type": "url", "value": "https://example.org/x"}
    assert md["tags"] == {"type": "json", "value": ["x", "y"]}
    assert results["total"]["metadata"] == {}
    again = json.loads(cli("--json", cwd=proj.root, env=clean_env()).stdout)["results"]
    assert {x["status"] for x in again} == {"cached"} and all(x["metadata"] == {} for x in again)


def test_build_verbose_renders_metadata(proj: Project) -> None:
    r = cli("-v", cwd=proj.root, env=clean_env())
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "rows: 2" in out and "notes: **two** rows" in out
    assert "id  name  amount" in out and "2  bb     22.25" in out


def test_show_meta(proj: Project) -> None:
    r = cli("show", "rows", "--meta", cwd=proj.root, env=clean_env())
    assert r.returncode == 2 and "never been built" in r.stderr  # as show without --meta
    env = clean_env(ASSETBUILD_NOW="2024-03-01T09:00:00Z")
    assert cli(cwd=proj.root, env=env).returncode == 0
    doc = json.loads(cli("show", "rows", "--meta", "--json", cwd=proj.root, env=clean_env()).stdout)
    assert set(doc) == {"asset", "metadata", "materialized_at", "data_version", "key"}
    assert doc["materialized_at"] == "2024-03-01T09:00:00Z"
    assert doc["metadata"]["rows"] == {"type": "int", "value": 2}
    assert len(doc["key"]) == 64 and len(doc["data_version"]) == 64
    text = cli("show", "rows", "--meta", cwd=proj.root, env=clean_env()).stdout
    assert text.startswith("rows: materialized 2024-03-01T09:00:00Z, data version ")
    assert "  preview:" in text and "  rows: 2" in text
    # plain show --json still prints the value itself
    assert json.loads(cli("show", "rows", "--json", cwd=proj.root, env=clean_env()).stdout)[0]["id"] == 1


def test_metadata_from_a_process_worker(proj: Project) -> None:
    r = proj.build(executor="processes", jobs=2)
    assert r.ok
    (rows,) = [x for x in r.results if x.asset == "rows"]
    assert rows.metadata["preview"] == MetadataValue.table(
        [{"id": 1, "name": "a", "amount": 1.5}, {"id": 2, "name": "bb", "amount": 22.25}])
    assert metadata_to_json(rows.metadata)["ratio"] == {"type": "float", "value": 0.5}


UNPICKLABLE = '''
import threading
from assetbuild import Out, multi_asset

@asset(io="json")
def meta(context):
    context.add_metadata({"gen": (i for i in range(3)), threading.Lock(): "a key that cannot travel"})
    return Output(1, metadata={"lock": threading.Lock(), "rows": 2})

@multi_asset(outs={"left": Out(io="json"), "right": Out(io="json")})
def split(context):
    context.add_metadata({"shared": threading.Lock()})
    return {"left": Output(2, metadata={"pairs": [1, threading.Lock()]}), "right": 3}
'''


@pytest.mark.parametrize("executor", ["serial", "threads", "processes"])
def test_metadata_pickle_cannot_send_is_stored_as_its_repr_on_every_executor(tmp_path: Path, executor: str) -> None:
    """A value that cannot be pickled (a lock, a generator) is kept as its repr, as a build in
    one process keeps it; a worker process used to fail to send the result back, and the
    build died with a raw TypeError traceback."""
    p = Project(tmp_path)
    p.assetfile(UNPICKLABLE)
    r = p.build(executor=executor, jobs=2)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    got = {x.asset: metadata_to_json(x.metadata) for x in r.results}
    assert got["meta"]["rows"] == {"type": "int", "value": 2}
    assert got["meta"]["lock"]["type"] == "text" and got["meta"]["lock"]["value"].startswith("<unlocked _thread.lock")
    assert got["meta"]["gen"]["type"] == "text" and got["meta"]["gen"]["value"].startswith("<generator object")
    assert [v["value"] for k, v in got["meta"].items() if k.startswith("<unlocked")] == ["a key that cannot travel"]
    assert got["left"]["pairs"]["type"] == "text" and "_thread.lock" in got["left"]["pairs"]["value"]
    assert got["right"]["shared"]["value"].startswith("<unlocked _thread.lock")
    assert p.value("meta") == 1 and p.status()["meta"].state == "fresh"


def test_status_check_is_a_ci_gate(proj: Project) -> None:
    assert cli("status", "--check", cwd=proj.root, env=clean_env()).returncode == 1  # missing
    assert cli(cwd=proj.root, env=clean_env()).returncode == 0
    assert cli("status", "--check", cwd=proj.root, env=clean_env()).returncode == 0
    proj.assetfile(ASSETFILE.replace("sum(r[", "max(r["))
    r = cli("status", "--check", "total", cwd=proj.root, env=clean_env())
    assert r.returncode == 1 and "stale" in r.stdout
    assert cli("status", "--check", "rows", cwd=proj.root, env=clean_env()).returncode == 0  # only the selection
    assert cli("status", cwd=proj.root, env=clean_env()).returncode == 0  # without --check: 0
