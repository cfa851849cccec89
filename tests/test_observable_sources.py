"""Observable sources: ``@observable_source``, ``Observation`` and ``assetbuild observe``.

The "API" an observe function looks at is ``api.txt``, a file no asset declares: only its
observe function sees it. That function counts its calls in ``calls.txt`` and the assets their
runs (``run_counter``), so a test can tell what ran, in this process or in a worker.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from projects import Project, cli, run_counter, take_runs
from test_watch import Watching, built

import assetbuild
from assetbuild import Observation, ObservationResult, observable_source
from assetbuild.errors import DefinitionError, SelectionError, ValueNotFound
from assetbuild.graph import resolve
from assetbuild.keys import KeyParts, explain_change
from assetbuild.store import LmdbStore

DAY1 = "2024-03-01T09:00:00Z"

ASSETFILE = '''
from pathlib import Path

from assetbuild import Observation, observable_source

HERE = Path(__file__).parent


def _count_call():
    with open(HERE / "calls.txt", "a") as f:
        f.write("x")


@observable_source(poll=60, group="ingest", description="orders in the shop API")
def orders_api(context):
    _count_call()
    etag = (HERE / "api.txt").read_text().strip()
    if etag.startswith("fail"):
        raise RuntimeError(f"the API answered {etag}")
    if etag == "int":
        return 3
    if etag == "bad-observation":
        return Observation(version=None, value="x")
    return Observation(version=etag, value={"url": "http://shop/orders", "etag": etag},
                       metadata={"etag": etag})


@observable_source
def plain_api():
    return "v1"


@asset(io="json")
def orders(orders_api):
    _ran("orders")
    return [orders_api["url"], orders_api["etag"]]


@asset(io="json")
def summary(orders):
    _ran("summary")
    return len(orders)


@asset(io="json")
def also_orders(orders_api, plain_api):
    _ran("also_orders")
    return [orders_api["etag"], plain_api]


@asset(io="json")
def independent():
    _ran("independent")
    return 1
'''


@pytest.fixture
def proj(project: Project, monkeypatch) -> Project:
    project.assetfile(run_counter(project.root / "runs") + ASSETFILE)
    project.write("api.txt", "etag1")
    monkeypatch.setenv("ASSETBUILD_NOW", DAY1)
    return project


def calls(project: Project) -> int:
    """How often ``orders_api`` was observed since the last look."""
    p = project.root / "calls.txt"
    n = len(p.read_text()) if p.exists() else 0
    p.unlink(missing_ok=True)
    return n


def runs(project: Project) -> dict[str, int]:
    return take_runs(project.root / "runs")


def recorded(project: Project, source: str = "orders_api"):
    store = LmdbStore(project.root / ".assetbuild", readonly=True)
    try:
        return store.get_observation(source)
    finally:
        store.close()


# --- readers and their keys ---------------------------------------------------------------------

def test_a_new_version_reruns_the_readers_an_unchanged_one_keeps_them_and_an_old_one_reuses(proj):
    assert sorted(proj.built()) == ["also_orders", "independent", "orders", "summary"]
    assert proj.value("orders") == ["http://shop/orders", "etag1"]
    assert proj.value("also_orders") == ["etag1", "v1"]  # no value: the version itself
    runs(proj)
    assert proj.built() == [] and runs(proj) == {}

    proj.write("api.txt", "etag2")
    assert sorted(proj.built()) == ["also_orders", "orders", "summary"]
    assert runs(proj) == {"orders": 1, "also_orders": 1, "summary": 1}
    assert proj.value("orders") == ["http://shop/orders", "etag2"]

    proj.write("api.txt", "etag1")  # seen before: its outputs are reused, nothing runs
    r = proj.build()
    assert r.ok and r.names("built") == [] and runs(proj) == {}
    assert proj.value("orders") == ["http://shop/orders", "etag1"]


def test_observed_once_per_build_before_anything_runs_and_only_when_read(proj):
    proj.build()
    assert calls(proj) == 1  # two readers, one call
    proj.build("independent")
    assert calls(proj) == 0  # the plan reads no observable source
    proj.build("summary")  # reads it through orders
    assert calls(proj) == 1


def test_status_dry_run_and_why_observe_but_record_nothing(proj, monkeypatch):
    proj.built()
    first = recorded(proj)
    assert first is not None and first.version == "etag1"
    assert json.loads(first.metadata_json) == {"etag": "etag1"}
    assert first.observed_ns == 1709283600 * 10**9  # the clock's "now"
    calls(proj)

    proj.write("api.txt", "etag2")
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-02T09:00:00Z")
    st = proj.status()
    assert calls(proj) == 1
    assert st["orders"].state == "stale"
    assert [(x.code, x.detail) for x in st["orders"].reasons] == [("observation-changed", "orders_api: 'etag1' -> 'etag2'")]
    assert st["independent"].state == "fresh"
    r = proj.build(dry_run=True)
    assert calls(proj) == 1
    assert {x.asset: x.metadata.get("would") for x in r.results if x.status == "skipped"} == \
        {"orders": "run", "also_orders": "run", "summary": "maybe"}
    info = assetbuild.why("orders", project_dir=proj.root)
    assert calls(proj) == 1
    assert info["inputs"] == [{"name": "orders_api", "kind": "observable_source", "old": "etag1", "new": "etag2",
                               "changed": True}]
    assert recorded(proj) == first  # none of them recorded anything
    assert runs(proj) == {"orders": 1, "summary": 1, "also_orders": 1, "independent": 1}  # the first build's

    proj.built()
    assert recorded(proj).version == "etag2"
    assert recorded(proj).observed_ns == 1709370000 * 10**9


def test_why_on_the_command_line_shows_the_versions(proj):
    proj.built()
    proj.write("api.txt", "etag2")
    r = cli("why", "orders", cwd=proj.root)
    assert r.returncode == 0, r.stderr
    assert "observation-changed: orders_api: 'etag1' -> 'etag2'" in r.stdout
    assert "orders_api (observable_source): 'etag1' -> 'etag2'  [changed]" in r.stdout
    r = cli("status", cwd=proj.root)
    assert "stale   orders" in r.stdout and "observation-changed: orders_api: 'etag1' -> 'etag2'" in r.stdout


def test_process_workers_receive_the_value(proj):
    r = proj.build(jobs=2, executor="processes")
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert proj.value("orders") == ["http://shop/orders", "etag1"]
    assert proj.value("also_orders") == ["etag1", "v1"]


def test_deps_put_the_version_in_the_key_without_passing_a_value(project):
    project.assetfile('''
from assetbuild import observable_source

@observable_source
def table():
    return open("version.txt").read()

@asset(io="json", deps=["table"])
def report():
    return 1
''')
    project.write("version.txt", "1")
    assert project.built() == ["report"]
    assert project.built() == []
    project.write("version.txt", "2")
    assert project.built() == ["report"]


# --- a failing observe function -----------------------------------------------------------------

def test_a_failing_observation_fails_the_source_and_stops_the_build_without_k(proj):
    proj.built()
    runs(proj)
    proj.write("api.txt", "fail-503")
    r = proj.build()
    assert not r.ok
    first = r.results[0]
    assert (first.asset, first.status, first.error) == ("orders_api", "failed", "RuntimeError: the API answered fail-503")
    assert first.traceback is not None and "AssetFile" in first.traceback and "assetbuild/" not in first.traceback
    assert 'raise RuntimeError(f"the API answered {etag}")' in first.traceback
    assert r.by_asset() == {"orders_api": "failed", "orders": "skipped", "summary": "skipped",
                            "also_orders": "skipped", "independent": "skipped"}
    assert "the build stopped after 'orders_api' failed" in r.results[-1].error
    assert [o.to_json() for o in r.observations] == [
        {"source": "orders_api", "version": None, "changed": False, "error": "RuntimeError: the API answered fail-503"},
        {"source": "plain_api", "version": "v1", "changed": False, "error": None}]
    assert runs(proj) == {}
    assert recorded(proj).version == "etag1"  # a failure does not replace the latest observation


def test_with_k_independent_work_goes_on_and_readers_are_skipped(proj):
    proj.write("api.txt", "fail-503")
    r = proj.build(keep_going=True)
    assert not r.ok
    assert r.by_asset() == {"orders_api": "failed", "orders": "skipped", "summary": "skipped",
                            "also_orders": "skipped", "independent": "built"}
    reasons = {x.asset: x.error for x in r.results}
    assert reasons["orders"] == "not run: upstream 'orders_api' could not be observed"
    assert reasons["summary"] == "not run: upstream 'orders' did not build"
    st = proj.status()
    assert [(x.code, x.detail) for x in st["orders"].reasons] == \
        [("observation-failed", "orders_api: RuntimeError: the API answered fail-503")]
    assert st["summary"].reasons[0].code == "observation-failed"
    proj.write("api.txt", "etag1")
    assert sorted(proj.built()) == ["also_orders", "orders", "summary"]


@pytest.mark.parametrize("api, message", [
    ("int", "its observe function returned 3 (int), not a str: return a version string, or Observation("),
    ("bad-observation", "an Observation whose version is None (NoneType), not a str"),
])
def test_a_bad_version_is_a_failure_with_a_clear_message(proj, api, message):
    proj.write("api.txt", api)
    r = proj.build(keep_going=True)
    assert r.results[0].status == "failed" and message in r.results[0].error
    assert r.by_asset()["orders"] == "skipped" and r.by_asset()["independent"] == "built"


def test_failures_on_the_command_line_exit_1(proj):
    proj.write("api.txt", "fail-503")
    r = cli("build", cwd=proj.root)
    assert r.returncode == 1
    assert "FAILED    orders_api: RuntimeError: the API answered fail-503" in r.stderr
    assert "line " in r.stderr and "in orders_api" in r.stderr  # its traceback
    r = cli("-k", "--json", cwd=proj.root)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["results"][0]["status"] == "failed"
    r = cli("-n", cwd=proj.root)
    assert r.returncode == 1 and "FAILED    orders_api" in r.stderr  # -n predicts the failure
    assert "would skip    orders  (upstream 'orders_api' could not be observed)" in r.stdout


# --- assetbuild observe -------------------------------------------------------------------------

def test_observe_command_text_json_changed_and_exit_codes(proj):
    r = cli("observe", cwd=proj.root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["orders_api  etag1", "plain_api   v1"]
    r = cli("observe", "orders_api", "--json", cwd=proj.root)
    assert json.loads(r.stdout) == {"ok": True, "observations": [
        {"source": "orders_api", "version": "etag1", "changed": False, "error": None}]}
    proj.write("api.txt", "etag2")
    doc = json.loads(cli("observe", "--json", cwd=proj.root).stdout)
    assert doc["observations"][0] == {"source": "orders_api", "version": "etag2", "changed": True, "error": None}
    assert doc["observations"][1]["changed"] is False
    assert runs(proj) == {}  # nothing was built

    proj.write("api.txt", "fail-503")
    r = cli("observe", "--json", cwd=proj.root)
    assert r.returncode == 1
    assert json.loads(r.stdout)["ok"] is False
    assert json.loads(r.stdout)["observations"][0]["error"] == "RuntimeError: the API answered fail-503"
    assert "FAILED    orders_api: RuntimeError" in r.stderr and "Traceback" in r.stderr

    r = cli("observe", "orders_apj", cwd=proj.root)
    assert r.returncode == 2 and r.stderr.strip() == ("assetbuild: error: no observable source named 'orders_apj' "
                                                      "(did you mean 'orders_api'?); observable sources: orders_api, "
                                                      "plain_api")
    r = cli("observe", "orders", cwd=proj.root)
    assert r.returncode == 2
    assert r.stderr.strip() == "assetbuild: error: 'orders' is an asset, not an observable source"


def test_observe_in_a_project_without_observable_sources_says_so(project):
    """It printed nothing and exited 0, as if every source had been observed."""
    project.assetfile("from assetbuild import asset\n\n@asset\ndef a():\n    return 1\n")
    r = cli("observe", cwd=project.root)
    assert r.returncode == 0 and r.stdout == ""
    assert r.stderr == "no observable sources in this project: @observable_source declares one\n"
    r = cli("observe", "--json", cwd=project.root)
    assert (r.returncode, json.loads(r.stdout), r.stderr) == (0, {"ok": True, "observations": []}, "")


@pytest.mark.parametrize("kind", ["numpy", "subclass"])
def test_a_version_of_a_str_subclass_is_recorded_as_its_text(project, kind):
    """numpy.str_ (a DataFrame cell) was recorded as UCS-4 bytes: every observe said changed,
    show said never observed; a plain subclass (a StrEnum) crashed the build with a traceback."""
    make = 'numpy.str_("etag1")' if kind == "numpy" else 'Etag("etag1")'
    project.assetfile(f"""
import numpy
from assetbuild import asset, observable_source

class Etag(str):
    pass

@observable_source
def api():
    return {make}

@asset
def reader(api):
    return str(api)
""")
    assert project.built() == ["reader"]
    store = LmdbStore(project.root / ".assetbuild", readonly=True)
    try:
        assert type(store.get_observation("api").version) is str
        assert store.get_observation("api").version == "etag1"
    finally:
        store.close()
    assert [(o.version, o.changed) for o in assetbuild.observe(project_dir=project.root)] == [("etag1", False)]
    r = cli("show", "api", cwd=project.root)
    assert r.returncode == 0 and "etag1" in r.stdout, r.stderr
    assert project.built() == []


def test_observe_api_records_and_the_next_build_compares_with_its_version(proj):
    out = assetbuild.observe(project_dir=proj.root)
    assert [(o.source, o.version, o.changed) for o in out] == [("orders_api", "etag1", True), ("plain_api", "v1", True)]
    assert isinstance(out[0], ObservationResult) and out[0].metadata == {"etag": "etag1"}
    assert recorded(proj).version == "etag1"
    with pytest.raises(SelectionError, match="'independent' is an asset"):
        assetbuild.observe(["independent"], project_dir=proj.root)
    r = proj.build()
    assert {o.source: o.changed for o in r.observations} == {"orders_api": False, "plain_api": False}


def test_show_prints_the_latest_observation(proj):
    with pytest.raises(ValueNotFound, match="never been observed"):
        proj.value("orders_api")
    proj.built()
    assert proj.value("orders_api") == {"source": "orders_api", "version": "etag1",
                                        "observed_ns": 1709283600 * 10**9, "metadata": {"etag": "etag1"}}
    r = cli("show", "orders_api", "--json", cwd=proj.root)
    assert r.returncode == 0 and r.stderr == ""
    assert json.loads(r.stdout) == {"source": "orders_api", "version": "etag1", "metadata": {"etag": "etag1"},
                                    "observed_ns": 1709283600 * 10**9, "observed_at": "2024-03-01T09:00:00Z"}
    r = cli("show", "orders_api", cwd=proj.root)  # the time as show prints times, not nanoseconds
    assert "'observed_at': '2024-03-01T09:00:00Z'" in r.stdout and "observed_ns" not in r.stdout
    assert "1709283600" not in r.stdout, r.stdout
    proj.write("api.txt", "fail-503")  # a later observation fails: the one shown is older, and said so
    assert not proj.build().ok
    r = cli("show", "orders_api", cwd=proj.root)
    assert r.returncode == 0 and "etag1" in r.stdout
    assert r.stderr.startswith("warning: the latest observation of 'orders_api' failed (RuntimeError: the API "
                               "answered fail-503); this is the last one that succeeded, made "), r.stderr


# --- list and graph -----------------------------------------------------------------------------

def test_list_and_graph_name_the_kind_of_every_node(proj):
    rows = {r["name"]: r for r in assetbuild.list_assets(project_dir=proj.root)}
    assert rows["orders_api"]["kind"] == "observable_source"
    assert rows["orders_api"]["poll"] == 60 and rows["orders_api"]["group"] == "ingest"
    assert rows["orders_api"]["description"] == "orders in the shop API"
    assert rows["orders"]["kind"] == "asset" and rows["orders"]["inputs"] == ["orders_api"]
    doc = json.loads(cli("graph", "--format", "json", cwd=proj.root).stdout)
    assert {n["name"]: n["kind"] for n in doc["nodes"]}["plain_api"] == "observable_source"
    assert all("kind" in n for n in doc["nodes"])
    assert '"orders_api" [shape=hexagon];' in cli("graph", cwd=proj.root).stdout
    assert '{{"orders_api"}}' in cli("graph", "--format", "mermaid", cwd=proj.root).stdout
    assert "'orders_api' is an observable source, not an asset" in cli("build", "orders_api", cwd=proj.root).stderr


# --- watch mode ---------------------------------------------------------------------------------

def test_watch_polls_and_rebuilds_the_readers_when_the_version_changes(project):
    project.assetfile('''
from pathlib import Path

from assetbuild import observable_source

HERE = Path(__file__).parent

@observable_source(poll=0.2)
def api():
    return (HERE / "api.txt").read_text()

@observable_source
def unpolled():
    return (HERE / "other.txt").read_text()

@asset(io="json")
def reader(api):
    return api + "!"

@asset(io="json")
def other_reader(unpolled):
    return unpolled + "?"
''')
    project.write("api.txt", "1")
    project.write("other.txt", "a")
    with Watching(project.root) as w:
        assert sorted(built(w.cycles[0])) == ["other_reader", "reader"]
        project.write("other.txt", "b")  # poll=None: not observed again until a file event
        _replace(project.root / "api.txt", "2")  # whole: a poll never reads it half-written
        c = w.wait(2)[1]
        assert c.changed == ("api",) and built(c) == ["reader"]
        assert w.settle(0.8) == 2  # polls of an unchanged version build nothing
        _replace(project.root / "api.txt", "3")
        assert built(w.wait(3)[2]) == ["reader"]
    assert assetbuild.load_value("reader", project_dir=project.root) == "3!"
    assert assetbuild.load_value("other_reader", project_dir=project.root) == "a?"
    assert assetbuild.load_value("api", project_dir=project.root)["version"] == "3"  # the poll's, recorded


POLLED = """
from pathlib import Path

from assetbuild import observable_source

HERE = Path(__file__).parent

@observable_source(poll=0.2)
def api():
    return PREFIX + (HERE / "api.txt").read_text()

@asset(io="json")
def reader(api):
    return api + "!"
"""


def test_watch_while_the_assetfile_does_not_load_says_its_error_once_and_observes_with_the_fix(project):
    """A poll that sees a new version while the AssetFile is broken reloads it, in vain, once per
    poll; and the build after the fix used what the old observe function returned then."""
    project.assetfile('PREFIX = ""\n' + POLLED)
    project.write("api.txt", "1")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["reader"]
        af = project.root / "AssetFile"
        _replace(af, af.read_text().replace('api + "!"', 'api +'))
        c = w.wait(2)[1]
        assert "syntax error" in c.error
        _replace(project.root / "api.txt", "2")
        time.sleep(1.2)  # six polls' time
        assert len(w.cycles) == 2, [x.error for x in w.cycles[2:]]
        _replace(af, af.read_text().replace("api +", 'api + "!"').replace('PREFIX = ""', 'PREFIX = "new-"'))
        c = w.wait(3)[2]
        assert c.changed == ("AssetFile",) and built(c) == ["reader"]
    assert assetbuild.load_value("reader", project_dir=project.root) == "new-2!"
    assert assetbuild.load_value("api", project_dir=project.root)["version"] == "new-2"


def test_watch_says_a_polled_change_once_when_its_build_fails(project):
    """The project loads but its build cannot start (the asset watched was renamed): the new
    version is said with that error once, not again at every poll."""
    project.assetfile('PREFIX = ""\n' + POLLED)
    project.write("api.txt", "1")
    with Watching(project.root, "reader") as w:
        af = project.root / "AssetFile"
        _replace(af, af.read_text().replace("def reader", "def reader2"))
        assert "reader" in w.wait(2)[1].error
        _replace(project.root / "api.txt", "2")
        c = w.wait(3)[2]
        assert c.changed == ("api",) and "reader" in c.error
        time.sleep(1.2)
        assert len(w.cycles) == 3, [x.error for x in w.cycles[3:]]
        _replace(af, af.read_text().replace("def reader2", "def reader").replace('PREFIX = ""', 'PREFIX = "new-"'))
        assert built(w.wait(4)[3]) == ["reader"]
    assert assetbuild.load_value("reader", project_dir=project.root) == "new-2!"


def _replace(path, text):
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- definitions ----------------------------------------------------------------------------------

def test_both_decorator_forms_and_name():
    @observable_source
    def a(context):
        return "1"

    @observable_source(name="renamed", poll="5m")
    def b():
        return "2"

    assert a(None) == "1" and b() == "2"  # still plain functions
    da, db = a.__assetbuild_observable_source__, b.__assetbuild_observable_source__
    assert (da.name, da.poll, db.name, db.poll) == ("a", None, "renamed", 300.0)
    o = Observation("v")
    assert (o.version, o.value, o.metadata) == ("v", None, None)


def test_a_parameter_named_after_it_binds_and_a_clash_is_a_duplicate(tmp_path):
    @observable_source
    def api():
        return "1"

    from assetbuild.definitions import asset as declare

    @declare
    def reader(api):
        return api

    g = resolve([api.__assetbuild_observable_source__, reader.__assetbuild_asset__])
    assert g.inputs["reader"] == (("api", "api"),) and g.observable == ("api",)
    assert g.observed_by(["reader"]) == ["api"]

    @declare(name="api")
    def clash():
        return 1

    with pytest.raises(DefinitionError, match="two definitions named 'api'"):
        resolve([api.__assetbuild_observable_source__, clash.__assetbuild_asset__])


@pytest.mark.parametrize("code, message", [
    ("@observable_source\ndef api(url):\n    return url\n", "takes only 'context' (got url)"),
    ("@observable_source\ndef api(context, *rest):\n    return ''\n", "takes only 'context' (got *args/**kwargs)"),
    ("@observable_source\ndef api():\n    yield 'v'\n", "is a generator function"),
    ("@observable_source\nasync def api():\n    return 'v'\n", "is an async function"),
    ("@observable_source(poll=0)\ndef api():\n    return 'v'\n", "poll must be a positive number of seconds"),
    ("@observable_source(poll='soon')\ndef api():\n    return 'v'\n", "poll must be a positive number"),
    ("@observable_source(poll=True)\ndef api():\n    return 'v'\n", "poll must be a positive number"),
])
def test_definition_errors(project: Project, code, message):
    project.assetfile("from assetbuild import observable_source\n" + code)
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")) \
            as e:
        project.build()
    assert e.value.file.endswith("AssetFile") and e.value.line == 3
    r = cli("build", cwd=project.root)
    assert r.returncode == 2 and "AssetFile:3:" in r.stderr and message in r.stderr and "Traceback" not in r.stderr


def test_explain_change_shows_observed_versions_as_they_are():
    old = KeyParts("c", {}, (("api", "etag1"), ("raw", "a" * 64)), "json@1", None)
    new = KeyParts("c", {}, (("api", "etag2"), ("raw", "a" * 64)), "json@1", None)
    reasons = explain_change(old, new, sources={"raw"}, observed={"api"})
    assert [(r.code, r.detail) for r in reasons] == [("observation-changed", "api: 'etag1' -> 'etag2'")]


def test_an_observation_runs_in_the_main_thread_of_the_build(project):
    project.assetfile('''
import threading

from assetbuild import observable_source

@observable_source
def where():
    return threading.current_thread().name

@asset(io="json")
def reader(where):
    return where
''')
    assert project.built() == ["reader"]
    assert project.value("reader") == threading.main_thread().name


def test_observed_value_reaches_a_reader_in_a_path(project):
    """A reader with a path output gets the value like any input (its file holds it)."""
    project.assetfile('''
from assetbuild import Observation, observable_source

@observable_source
def api():
    return Observation("v7", value=[1, 2])

@asset(io="json", path="out/api.json")
def reader(api):
    return api + [3]
''')
    assert project.built() == ["reader"]
    assert json.loads(Path(project.root / "out/api.json").read_text()) == [1, 2, 3]


def test_metadata_from_the_observation_and_the_context_is_recorded_and_a_bad_one_fails(project):
    project.assetfile('''
from assetbuild import Observation, observable_source

@observable_source
def api(context):
    context.add_metadata({"rows": 3, 1: object})
    return Observation("v1", metadata={"etag": "e"})

@observable_source
def broken():
    return Observation("v1", metadata=["not", "a", "mapping"])
''')
    api, broken = assetbuild.observe(project_dir=project.root)
    assert api.ok and api.metadata["etag"] == "e" and api.metadata["rows"] == 3
    assert json.loads(recorded(project, "api").metadata_json)["etag"] == "e"
    assert broken.error == "an Observation's metadata must be a mapping (a dict), got list"
    assert [o.version for o in assetbuild.observe("api", project_dir=project.root)] == ["v1"]


def test_metadata_json_cannot_write_or_no_output_could_show_is_recorded_as_text(project):
    """An observation's metadata with an int past Python's 4300 digits or a list nested 100,000
    deep failed the build with a raw traceback; half an emoji was recorded as it was, and ``show``
    then died writing it to stdout."""
    project.assetfile('''
import json

from assetbuild import Observation, observable_source


def deep():
    x = []
    for _ in range(100000):
        x = [x]
    return x


@observable_source
def api():
    return Observation("v1", metadata={"huge": 10**5000, "deep": deep(), "title": json.loads('"Caf\\\\u00e9 \\\\ud83d"'),
                                       "loss": float("nan"), "rows": 3})


@asset(io="json")
def reader(api):
    return 1
''')
    r = cli(cwd=project.root)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    meta = json.loads(recorded(project, "api").metadata_json)
    assert meta["huge"].startswith("<int not kept: about 5001 digits") and meta["rows"] == 3
    assert meta["deep"].startswith("<list not kept: RecursionError") and meta["title"] == "Caf\u00e9 \\ud83d"
    for args in (("show", "api"), ("show", "api", "--json"), ("log", "api")):
        r = cli(*args, cwd=project.root)
        assert r.returncode == 0 and "\\ud83d" in r.stdout and "Traceback" not in r.stderr, (args, r.stderr)
