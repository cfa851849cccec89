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


def _deep(n: int = 100_000) -> list:
    x: list = []
    for _ in range(n):
        x = [x]
    return x


def test_a_value_json_cannot_write_is_text_saying_what_it_was() -> None:
    """An int past Python's 4300 digits, a list nested 100,000 deep: json.dumps raised (and so
    did the repr fallback), so encode_metadata failed the build with a raw traceback."""
    huge, deep = typed(10**5000), typed({"tree": _deep()})
    assert huge.type == "text" and huge.value.startswith("<int not kept: about 5001 digits; ValueError: ")
    assert deep.type == "text" and deep.value.startswith("<dict not kept: RecursionError: ")
    assert all(len(t.value) < 300 for t in (huge, deep))  # bounded, whatever the value
    assert MetadataValue("int", 10**5000) == huge  # the constructor too
    assert typed([1, 10**5000]).value.startswith("<list not kept: ValueError: Exceeds the limit")
    # given as JSON: the part that cannot write is text, the rest is kept
    assert MetadataValue("json", [1, 10**5000, "x"]).value == [1, huge.value, "x"]
    loop: list = [1]
    loop.append(loop)
    assert typed(loop) == MetadataValue("text", "[1, [...]]")

    class Unshowable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert typed(Unshowable()).value.endswith("Unshowable not kept: RuntimeError: no repr>")
    stored = encode_metadata({"huge": 10**5000, "deep": _deep(), 10**5000: 1, "loop": loop})
    back = decode_metadata(stored)
    assert back["huge"] == huge and back["deep"].value.startswith("<list not kept: RecursionError")
    assert [k for k in back if k.startswith("<int not kept")] and back["loop"].value == "[1, [...]]"
    with pytest.raises(ValueError, match="nested too deeply"):
        MetadataValue.json(_deep())  # (an explicit .json() still refuses it in the asset)


def test_metadata_json_cannot_write_never_fails_a_build(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile('''
def deep():
    x = []
    for _ in range(100000):
        x = [x]
    return {"tree": x}


@asset(io="json")
def a(context):
    context.add_metadata({"huge": 10**5000, "deep": deep(), "rows": 3})
    return 1


@asset(io="json")
def b(a):
    return a + 1
''')
    r = cli("--json", cwd=p.root, env=clean_env())
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    md = {x["asset"]: x for x in json.loads(r.stdout)["results"]}["a"]["metadata"]
    assert md["huge"]["type"] == "text" and md["huge"]["value"].startswith("<int not kept: about 5001 digits")
    assert md["deep"]["value"].startswith("<dict not kept: RecursionError") and md["rows"]["value"] == 3
    log = json.loads(cli("log", "a", "--json", cwd=p.root, env=clean_env()).stdout)
    assert [e["metadata"]["huge"]["value"] for e in log["events"]] == [md["huge"]["value"]]
    assert "huge: <int not kept" in cli("show", "a", "--meta", cwd=p.root, env=clean_env()).stdout
    again = cli(cwd=p.root, env=clean_env())
    assert again.returncode == 0 and "0 built, 2 cached" in again.stdout, again.stdout + again.stderr


HALF_EMOJI = '''
import json

V = 1


@asset(io="json")
def a(context):
    title = json.loads('"Caf\\\\u00e9 \\\\ud83d"')  # half of an emoji pair, as some APIs send
    print("title", title)
    context.add_metadata({"title": title, title: "named by it", "tags": [title]})
    return V


@asset(io="json")
def b(a):
    return a + 1
'''


def test_a_lone_surrogate_is_kept_as_its_escape() -> None:
    half = json.loads('"Caf\\u00e9 \\ud83d"')
    assert typed(half) == MetadataValue.text("Caf\u00e9 \\ud83d")
    assert MetadataValue("json", {half: [half]}).value == {"Caf\u00e9 \\ud83d": ["Caf\u00e9 \\ud83d"]}
    assert render_metadata({half: half}, indent="") == ["Caf\u00e9 \\ud83d: Caf\u00e9 \\ud83d"]
    # a trace recorded before: read back safe
    old = json.dumps({"__assetbuild_metadata__": 1, "entries": {half: ["text", half]}})
    assert decode_metadata(old) == {"Caf\u00e9 \\ud83d": MetadataValue.text("Caf\u00e9 \\ud83d")}
    for mv in decode_metadata(encode_metadata({half: half})).values():
        mv.value.encode("utf-8")
    assert typed("Café 😀").value == "Café 😀"  # a whole emoji is text like any other


def test_a_lone_surrogate_in_metadata_shows_in_every_command(tmp_path: Path) -> None:
    """log, runs show and show --meta crashed with UnicodeEncodeError from click.echo; so did a
    -v build, after a's head was stored and before its event was: b never built, history lost."""
    p = Project(tmp_path)
    p.assetfile(HALF_EMOJI)
    assert cli(cwd=p.root, env=clean_env()).returncode == 0
    for args in (("log", "a"), ("runs", "show", "1"), ("show", "a", "--meta"), ("log", "a", "--json")):
        r = cli(*args, cwd=p.root, env=clean_env())
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
        assert "\\ud83d" in r.stdout, (args, r.stdout)
    assert "| title Caf\u00e9 \\ud83d" in cli("runs", "show", "1", cwd=p.root, env=clean_env()).stdout
    p.assetfile(HALF_EMOJI.replace("V = 1", "V = 2"))
    r = cli("-v", cwd=p.root, env=clean_env())
    assert r.returncode == 0 and "title: Caf\u00e9 \\ud83d" in r.stdout, r.stdout + r.stderr
    log = json.loads(cli("log", "a", "--json", cwd=p.root, env=clean_env()).stdout)
    assert len(log["events"]) == 2 and log["events"][0]["metadata"]["title"]["value"] == "Caf\u00e9 \\ud83d"
    assert "fresh" in cli("status", "b", cwd=p.root, env=clean_env()).stdout


def test_nan_given_to_the_constructor_is_its_text() -> None:
    """MetadataValue("float", nan) and MetadataValue("json", {...inf...}) kept nan and inf,
    which every --json document then wrote as NaN and Infinity: not JSON."""
    assert MetadataValue("float", math.nan) == MetadataValue.float(math.nan) == MetadataValue("float", "nan")
    assert MetadataValue("json", {"limit": math.inf, "r": (1, -math.inf)}).value == {"limit": "inf",
                                                                                     "r": [1, "-inf"]}
    assert MetadataValue("table", {"columns": ["x"], "rows": [[math.nan]]}).value["rows"] == [["nan"]]
    json.loads(encode_metadata({"m": MetadataValue("float", math.inf)}), parse_constant=_refuse)


def _refuse(constant: str) -> None:
    raise ValueError(f"not JSON: {constant}")


def test_every_json_document_with_constructed_nan_metadata_is_strict_json(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile('''
from assetbuild import MetadataValue


@asset(io="json")
def a():
    return Output(1, metadata={"score": MetadataValue("float", float("nan")),
                               "cfg": MetadataValue("json", {"limit": float("inf")})})
''')
    for args in (("build", "--json"), ("log", "a", "--json"), ("log", "a", "--metric", "score", "--json"),
                 ("show", "a", "--meta", "--json"), ("runs", "show", "1", "--json")):
        r = cli(*args, cwd=p.root, env=clean_env())
        assert r.returncode == 0, (args, r.stderr)
        doc = json.loads(r.stdout, parse_constant=_refuse)
        assert "NaN" not in r.stdout and "Infinity" not in r.stdout, (args, doc)
    metric = json.loads(cli("log", "a", "--metric", "score", "--json", cwd=p.root, env=clean_env()).stdout)
    assert [pt["value"] for pt in metric["points"]] == ["nan"]


BAD_TABLES = [{"columns": ["x"], "rows": [1, 2]}, {"columns": 5, "rows": 7}, {"columns": ["x"]}, [[1, 2]], "t", 3,
              None, {"columns": ["x"], "rows": ["ab", [1]]}]


@pytest.mark.parametrize("value", BAD_TABLES)
def test_a_table_that_is_not_columns_and_rows_is_kept_as_json_with_a_warning(value) -> None:
    """MetadataValue("table", {"columns": ["x"], "rows": [1, 2]}) was kept as a table, and every
    renderer (log, show --meta, runs show, -v, the UI's asset page) then raised a TypeError."""
    with pytest.warns(UserWarning, match=r"MetadataValue\('table', \.\.\.\) needs"):
        mv = MetadataValue("table", value)
    assert mv.type == "json" and mv.value == value
    assert render_metadata({"t": mv}) and metadata_to_json({"t": mv})["t"]["type"] == "json"


def test_a_malformed_table_stored_by_an_older_version_reads_as_json() -> None:
    """A trace recorded before the check holds the bad table: it reads back as json (no warning:
    the reader did nothing wrong), so every command that shows it still works."""
    import warnings

    stored = json.dumps({"__assetbuild_metadata__": 1, "entries": {
        "t": ["table", {"columns": 5, "rows": 7}], "ok": ["table", {"columns": [1, None], "rows": [[1, 2]]}]}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        md = decode_metadata(stored)
    assert md["t"] == MetadataValue("json", {"columns": 5, "rows": 7})
    assert md["ok"].type == "table" and md["ok"].value["columns"] == ["1", "None"]
    assert "\n".join(render_metadata(md)).splitlines()[1:3] == ["  ok:", "    1  None"]


def test_commands_that_show_a_malformed_table_work(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile('''
from assetbuild import MetadataValue


@asset
def a():
    return Output(1, metadata={"t": MetadataValue("table", {"columns": ["x"], "rows": [1, 2]})})
''')
    for args in (("-v",), ("log", "a"), ("show", "a", "--meta"), ("runs", "show", "1"), ("-v", "a", "--force")):
        r = cli(*args, cwd=p.root, env=clean_env())
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
        assert 't: {"columns": ["x"], "rows": [1, 2]}' in r.stdout, (args, r.stdout)
    assert "UserWarning: MetadataValue('table', ...) needs" in cli("runs", "show", "1", cwd=p.root).stdout
