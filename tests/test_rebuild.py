"""The rebuilder alone: decisions from an in-memory store and the real workspace, no build.
Each action (run, cached, restore, fetch) with its reasons, forcing, and what status and a dry
run derive from the same decision."""

from __future__ import annotations

import os

import pytest

from assetbuild.definitions import AssetDef, SourceDef
from assetbuild.graph import resolve
from assetbuild.keys import make_key
from assetbuild.rebuild import TraceRebuilder, state_of, would_do
from assetbuild.reports import Head, Trace
from assetbuild.store import MemoryStore, digest_bytes
from assetbuild.workspace import Workspace


class RemoteTrace(Trace):
    """A trace as a remote-backed store hands it out."""

    __slots__ = ()

    @property
    def origin(self) -> str:
        return "remote"


def A(name, params=(), path=None):
    def fn():
        return None
    return AssetDef(name, fn, tuple((p, False) for p in params), {}, (), "text", path, None, None, None, {},
                    None, "AssetFile", 1)


@pytest.fixture
def setup(tmp_path):
    graph = resolve([SourceDef("raw", "raw.txt", "AssetFile", 1), A("clean", ["raw"]),
                     A("report", ["clean"], path="out/report.txt")])
    store = MemoryStore()
    files = Workspace(tmp_path, store)
    (tmp_path / "raw.txt").write_text("1 2 3")
    code = {"clean": ("c1", {"fn": "c1"}), "report": ("r1", {"fn": "r1"})}
    rebuilder = TraceRebuilder(graph, store, files, code_of=lambda n: code[n],
                               io_tags={"text": "text@1"})
    return rebuilder, store, files, code, tmp_path


def built(store, name, d, data=b"bytes", sig=None):
    """Record ``d`` as done, as the materializer would."""
    digest = store.put_blob(data)
    trace = Trace(f"dv-{digest[:8]}", digest, d.parts.io, len(data), 0.1, 1, "")
    store.put_trace(d.key, trace)
    p = d.parts
    store.put_head(name, Head(d.key, trace.data_version, digest, p.code, p.code_parts, p.inputs, p.io, p.path,
                              sig, 1, len(data), 0.1, p.sources))
    return trace


def test_never_built_runs_then_a_recorded_key_is_cached(setup):
    rb, store, files, *_ = setup
    inputs = [("raw", files.source_version("raw.txt"))]
    d = rb.decide("clean", inputs)
    assert (d.action, [r.code for r in d.reasons], d.never_built) == ("run", ["never-built"], True)
    assert d.key == make_key("clean", d.parts) and d.parts.sources == (("raw", "raw.txt"),)
    assert state_of("clean", d).state == "missing"
    built(store, "clean", d)
    d2 = rb.decide("clean", inputs)
    assert (d2.action, d2.key, d2.origin) == ("cached", d.key, "local") and d2.trace == store.get_head("clean")
    assert state_of("clean", d2).state == "fresh"
    assert would_do("clean", d2, "dv").status == "cached"


def test_a_changed_input_or_code_runs_with_what_changed(setup):
    rb, store, files, code, root = setup
    d = rb.decide("clean", [("raw", files.source_version("raw.txt"))])
    built(store, "clean", d)
    (root / "raw.txt").write_text("4 5 6")
    d2 = rb.decide("clean", [("raw", files.source_version("raw.txt", fresh=True))])
    assert d2.action == "run" and [r.code for r in d2.reasons] == ["source-changed"]
    assert state_of("clean", d2).state == "stale"
    code["clean"] = ("c2", {"fn": "c2"})
    d3 = rb.decide("clean", [("raw", files.source_version("raw.txt"))])
    assert "code-changed" in [r.code for r in d3.reasons]


def test_a_build_by_another_interpreter_is_said_to_be_one(setup, monkeypatch):
    """Keys hold the interpreter (implementation, minor version, -O): a build made by another
    has another key, and code digests that differ though the source is the same (bytecode is
    the interpreter's). The reason is key-changed, not code-changed; what else changed is said."""
    import assetbuild.keys as keys

    rb, store, files, code, root = setup
    inputs = [("raw", files.source_version("raw.txt"))]
    monkeypatch.setattr(keys, "_PREFIX", b"assetbuild-key/1/cpython-399-O0\n")  # that interpreter's keys
    built(store, "clean", rb.decide("clean", inputs))
    monkeypatch.undo()
    code["clean"] = ("c2", {"fn": "c2"})  # the same function, compiled by this interpreter
    d = rb.decide("clean", inputs)
    assert [(r.code, r.detail) for r in d.reasons] == [
        ("key-changed", "the interpreter (Python version, implementation or -O) or the key schema changed")]
    (root / "raw.txt").write_text("4 5 6")
    d = rb.decide("clean", [("raw", files.source_version("raw.txt", fresh=True))])
    assert [r.code for r in d.reasons] == ["key-changed", "source-changed"]
    assert [r.code for r in rb.decide("report", [("clean", None)]).reasons] == ["never-built"]
    built(store, "report", rb.decide("report", [("clean", "dv")]))
    code["clean"] = ("c3", {"fn": "c3"})  # an edit under this interpreter: its own build's head
    built(store, "clean", rb.decide("clean", inputs))
    code["clean"] = ("c4", {"fn": "c4"})
    assert [r.code for r in rb.decide("clean", inputs).reasons] == ["code-changed"]


def test_a_path_output_missing_or_edited_is_restored(setup):
    rb, store, files, _, root = setup
    d = rb.decide("report", [("clean", "dv")])
    sig = files.write_path("out/report.txt", b"bytes")
    built(store, "report", d, b"bytes", sig)
    assert rb.decide("report", [("clean", "dv")]).action == "cached"
    (root / "out/report.txt").write_text("edited")
    d2 = rb.decide("report", [("clean", "dv")])
    assert (d2.action, d2.reasons[0].code) == ("restore", "output-modified")
    (root / "out/report.txt").unlink()
    d3 = rb.decide("report", [("clean", "dv")])
    assert (d3.action, d3.reasons[0].code) == ("restore", "output-missing")
    assert state_of("report", d3).state == "stale" and would_do("report", d3, None).metadata == {"would": "restore"}


def test_a_path_output_is_a_cached_hit_only_with_its_recorded_stat(setup):
    """cached_hit (a null build's lean look) says "cached" for a path output only while the
    file has the stat signature its head recorded; a touched, edited or missing file is left
    to decide, which hashes it (a touch with the same bytes is still cached, under its new
    signature), and so is a path output on a Files without path_unchanged."""
    rb, store, files, _, root = setup
    d = rb.decide("report", [("clean", "dv")])
    sig = files.write_path("out/report.txt", b"bytes")
    built(store, "report", d, b"bytes", sig)
    assert rb.cached_hit("report", [("clean", "dv")]) == (d.key, store.get_head("report").data_version,
                                                          store.get_head("report").output_digest)
    assert rb.cached_hit("report", [("clean", "other")]) is None  # another key
    st = (root / "out/report.txt").stat()
    os.utime(root / "out/report.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, same bytes
    assert rb.cached_hit("report", [("clean", "dv")]) is None
    touched = rb.decide("report", [("clean", "dv")])
    assert touched.action == "cached" and touched.path_sig != sig
    store.put_head("report", store.get_head("report")._replace(path_stat=touched.path_sig))  # as reuse records it
    assert rb.cached_hit("report", [("clean", "dv")]) is not None
    (root / "out/report.txt").unlink()
    assert rb.cached_hit("report", [("clean", "dv")]) is None
    assert rb.decide("report", [("clean", "dv")]).action == "restore"
    files.write_path("out/report.txt", b"bytes")
    bare = TraceRebuilder(rb.graph, store, object(), code_of=rb.code_of, io_tags=rb.io_tags)  # no path_unchanged
    assert rb.cached_hit("report", [("clean", "dv")]) is None  # rewritten: a new signature
    assert bare.cached_hit("report", [("clean", "dv")]) is None


def test_bytes_gone_from_the_store_run(setup):
    rb, store, files, *_ = setup
    inputs = [("raw", files.source_version("raw.txt"))]
    d = rb.decide("clean", inputs)
    trace = built(store, "clean", d)
    store.put_head("clean", store.get_head("clean")._replace(key="another"))  # decide from the trace
    store.put_trace(d.key, trace._replace(output_digest=digest_bytes(b"never stored"), size=1 << 30))
    d2 = rb.decide("clean", inputs)
    assert (d2.action, d2.reasons[0].code) == ("run", "output-missing") and not d2.never_built


def test_forcing_runs_with_the_key_and_trace_known(setup):
    rb, store, files, *_ = setup
    d = rb.decide("report", [("clean", "dv")])
    built(store, "report", d)
    forced = rb.forcing().decide("report", [("clean", "dv")])
    assert (forced.action, forced.key, [r.code for r in forced.reasons]) == ("run", d.key, ["forced"])
    names: set[str] = set()
    some = rb.forcing(names)
    assert some.decide("report", [("clean", "dv")]).action != "run"
    names.add("report")  # the set may grow while the rebuilder is used
    assert some.decide("report", [("clean", "dv")]).action == "run"


def test_a_repair_forces_with_its_own_reason_not_dash_dash_force(setup):
    """The scheduler reruns an asset whose stored output is unusable through a forcing rebuilder:
    whichever path decides it again, its history says repaired, never a --force nobody typed."""
    from assetbuild.repairing import REPAIRED

    rb, store, *_ = setup
    built(store, "report", rb.decide("report", [("clean", "dv")]))
    repairing = rb.forcing({"report"}, default=REPAIRED)
    assert [r.code for r in repairing.decide("report", [("clean", "dv")]).reasons] == ["repaired"]
    again = repairing.forcing({"report"})  # a forcing of a forcing: --force's reason, as before
    assert [r.code for r in again.decide("report", [("clean", "dv")]).reasons] == ["forced"]


def test_an_unknown_input_leaves_the_key_unknown(setup):
    rb, store, *_ = setup
    d = rb.decide("report", [("clean", None)])
    assert d.key is None and d.action == "run"
    assert [r.code for r in d.reasons] == ["never-built"]  # missing: one reason
    assert would_do("report", d, None).metadata == {"would": "run"}
    forced = rb.forcing().decide("report", [("clean", None)])  # forced whatever its key: -n says it runs
    assert forced.action == "run" and [r.code for r in forced.reasons] == ["forced"]
    assert would_do("report", forced, None).metadata == {"would": "run"}
    built(store, "report", rb.decide("report", [("clean", "dv")]))
    d2 = rb.decide("report", [("clean", None)])
    assert [r.code for r in d2.reasons] == ["upstream-changed"]
    assert would_do("report", d2, None).metadata == {"would": "maybe"}  # runs only if clean's bytes change


def test_a_remote_trace_is_fetched(setup):
    rb, store, files, *_ = setup
    d = rb.decide("clean", [("raw", files.source_version("raw.txt"))])
    digest = store.put_blob(b"remote bytes")
    found = RemoteTrace("dv", digest, "text@1", 12, 0.1, 1, "")
    store.get_trace = lambda key: found if key == d.key else None  # as a remote-backed store answers
    d2 = rb.decide("clean", [("raw", files.source_version("raw.txt"))])
    assert (d2.action, d2.origin, d2.reasons) == ("fetch", "remote", ())
    assert state_of("clean", d2).state == "missing" and state_of("clean", d2).reasons[0].code == "remote"
    assert would_do("clean", d2, None).metadata == {"would": "restore"}


def test_what_changed_besides_a_stale_upstream_is_said_and_makes_it_certain(project, monkeypatch):
    """An asset whose own code or env changed while an upstream is stale said only "upstream is
    stale (runs only if that output changes)", and -n "may run": it runs whatever that output is."""
    import assetbuild

    project.write("raw.txt", "1")
    project.assetfile("""
import os
raw = source("raw", "raw.txt")

@asset(io="json")
def clean(raw):
    return raw.read_text()

@asset(io="json")
def coded(clean):
    return clean + "!"

@asset(io="json", env=["REGION"])
def regional(clean):
    return clean + os.environ.get("REGION", "")

@asset(io="json")
def plain(clean):
    return clean
""")
    monkeypatch.setenv("REGION", "eu")
    assert project.build().ok
    project.write("raw.txt", "2")
    project.write("AssetFile", (project.root / "AssetFile").read_text().replace('clean + "!"', 'clean + "?"'),
                  dedent=False)
    monkeypatch.setenv("REGION", "us")
    st = project.status()
    assert [(r.code, r.detail) for r in st["coded"].reasons] == [
        ("code-changed", "code changed"), ("upstream-changed", "clean is stale")]
    assert [(r.code, r.detail) for r in st["regional"].reasons] == [
        ("upstream-changed", "clean is stale"), ("env-changed", "REGION 'eu' -> 'us'")]
    assert [(r.code, r.detail) for r in st["plain"].reasons] == [
        ("upstream-changed", "clean is stale (runs only if that output changes)")]
    dry = assetbuild.build(dry_run=True, project_dir=project.root)
    assert {r.asset: r.metadata.get("would") for r in dry.results} == {
        "clean": "run", "coded": "run", "regional": "run", "plain": "maybe"}


def test_its_own_output_gone_besides_a_stale_upstream_is_said(project):
    """An asset whose own output is missing while an upstream is stale was said to run "only if
    that output changes" (-n: "may run"): a path output is then restored if it does not run, and
    data an IO manager keeps outside the cache, gone, makes it run whatever that output is."""
    import shutil

    import assetbuild

    project.write("raw.txt", "1")
    project.assetfile("""
raw = source("raw", "raw.txt")

@asset(io="json")
def clean(raw):
    return raw.read_text().strip()

@asset(io="json", path="out/b.json")
def kept(clean):
    return clean
""")
    assert project.build().ok
    project.write("raw.txt", "1\n")  # (another file, the same value: an early cutoff)
    shutil.rmtree(project.root / "out")
    assert [(r.code, r.detail) for r in project.status()["kept"].reasons] == [
        ("upstream-changed", "clean is stale (runs only if that output changes, else is restored: "
                             "out/b.json is missing)")]
    dry = assetbuild.build(dry_run=True, project_dir=project.root)
    assert {r.asset: r.metadata.get("would") for r in dry.results} == {"clean": "run", "kept": "maybe"}
    real = assetbuild.build(project_dir=project.root)
    assert {r.asset: r.status for r in real.results} == {"clean": "built", "kept": "restored"}


def test_swapped_ins_bindings_are_the_reason(project):
    """ins={"a": "x", "b": "y"} -> {"a": "y", "b": "x"} reruns the asset, saying which input
    reads what now (the reason was "the interpreter, key schema or an IO manager's version
    changed", none of which had); a reordered deps= list is said too."""
    body = """
@asset(io="json")
def x():
    return 10

@asset(io="json")
def y():
    return 2

@asset(io="json", ins={"a": "x", "b": "y"})
def div(a, b):
    return a / b

@asset(io="json", deps=["x", "y"])
def after():
    return 1
"""
    project.assetfile(body)
    assert project.build().ok
    project.assetfile(body.replace('ins={"a": "x", "b": "y"}', 'ins={"a": "y", "b": "x"}')
                      .replace('deps=["x", "y"]', 'deps=["y", "x"]'))
    st = project.status()
    assert [(r.code, r.detail) for r in st["div"].reasons] == [
        ("input-rebound", "input 'a' now reads 'y' (was 'x')"), ("input-rebound", "input 'b' now reads 'x' (was 'y')")]
    assert [(r.code, r.detail) for r in st["after"].reasons] == [("input-rebound", "deps= now lists y, x (was x, y)")]
    assert project.build().ok and project.value("div") == 0.2


def test_an_input_passed_to_another_parameter_is_no_stale_result(project):
    """The inputs entered keys as (name, version) in order, not the parameter each is passed
    to: ``ins={"a": "x"}`` -> ``ins={"b": "x"}`` (``def f(a=None, b=None)``), or a deps= input
    now passed to a parameter, kept the key, and the old value, status said fresh."""
    body = """
@asset(io="json")
def x():
    return 10

@asset(io="json")
def y():
    return 2

@asset(io="json", ins={"a": "x"})
def pick(a=None, b=None):
    return [a, b]

@asset(io="json", ins={"a": "x"}, deps=["y"])
def both(a, b=None):
    return [a, b]
"""
    project.assetfile(body)
    assert project.build().ok and project.value("pick") == [10, None] and project.value("both") == [10, None]
    project.assetfile(body.replace('ins={"a": "x"})', 'ins={"b": "x"})')
                      .replace('ins={"a": "x"}, deps=["y"]', 'ins={"a": "x", "b": "y"}'))
    st = project.status()
    assert [(r.code, r.detail) for r in st["pick"].reasons] == [
        ("input-rebound", "its inputs are now passed out of parameter order: b=x")]
    assert [(r.code, r.detail) for r in st["both"].reasons] == [
        ("input-rebound", "input 'b' now reads 'y' (was unbound)"), ("input-rebound", "deps= now lists nothing (was y)")]
    assert project.build().ok and project.value("pick") == [None, 10] and project.value("both") == [10, 2]
    project.assetfile(body)  # back: the earlier values, without a run
    r = project.build()
    assert r.ok and r.count("built") == 0 and project.value("pick") == [10, None]
    assert [x.reasons[0].code for x in r.results if x.status == "restored"] == ["stored-before", "stored-before"]


def test_declarations_that_pass_inputs_in_order_keep_their_keys(project, monkeypatch):
    """The binding enters a key only when the function's parameters in order do not imply it:
    every common shape (context, resources by name or ins=, deps=, trailing defaults, fan-in,
    multi-asset outs, partitions and their mappings) keeps the key it had before."""
    from assetbuild.store import LmdbStore

    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-03T00:30:00Z")
    project.write("raw.txt", "1")
    project.assetfile("""
from assetbuild import resource, multi_asset, Out, StaticPartitions, DailyPartitions, In, TimeWindow

raw = source("raw", "raw.txt")

@resource
def warehouse(context):
    return "conn"

@asset(io="json")
def x(raw):
    return raw.read_text()

@asset(io="json")
def page_a():
    return 1

@asset(io="json")
def page_b():
    return 2

@asset(io="json")
def with_context(context, x, limit=10):
    return x

@asset(io="json", ins={"db": "warehouse", "first": "x"})
def with_resources(warehouse, db, first, k=2):
    return first

@asset(io="json", deps=["page_a", "x"])
def with_deps(page_b):
    return page_b

@asset(io="json", ins={"pages": "page_*"})
def fan(x, pages, flag=False):
    return sorted(pages)

@multi_asset(outs={"left": Out(io="json"), "right": Out(io="json")}, deps=["raw"])
def split(x, context):
    return (x, x)

regions = StaticPartitions(["eu", "us"])

@asset(io="json", partitions=regions)
def sales(context, x):
    return context.partition_key

days = DailyPartitions(start="2024-01-01")

@asset(io="json", partitions=days)
def daily(context):
    return context.partition_key

@asset(io="json", partitions=days, ins={"prev": In("daily", mapping=TimeWindow(offset=-1))})
def delta(daily, prev, k=1):
    return [daily, prev]
""")
    r = project.build()
    assert r.ok, [(x.asset, x.error) for x in r.results if x.error]
    with LmdbStore(project.root / ".assetbuild", readonly=True) as store:
        heads = store.heads()
    assert "delta[2024-01-01]" in heads and "sales[eu]" in heads  # (its prev is unmapped)
    assert {name: h.binding for name, h in heads.items() if h.binding} == {}
