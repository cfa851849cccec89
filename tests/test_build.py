"""Builds end to end, through the public API on real projects: the oracles of
*Build systems à la carte* (minimal, early cutoff, revert, correct) plus failure semantics."""

from __future__ import annotations

import io
import json

import pytest

import assetbuild
from assetbuild.fingerprint import Fingerprinter
from assetbuild.output import Reporter

CHAIN = """
raw = source("raw", "raw.txt")

@asset(io="json")
def parsed(raw):
    return [int(x) for x in raw.read_text().split()]

@asset(io="json")
def total(parsed):
    return sum(parsed)

@asset(io="text", path="build/report.txt")
def report(total):
    return f"total={total}\\n"
"""


@pytest.fixture
def chain(project):
    project.write("raw.txt", "1 2 3")
    project.assetfile(CHAIN)
    return project


def test_first_build_runs_everything_second_runs_nothing(chain):
    assert chain.built() == ["parsed", "total", "report"]
    r = chain.build()
    assert r.ok and r.names("cached") == ["parsed", "total", "report"] and r.names("built") == []
    assert (chain.root / "build/report.txt").read_text() == "total=6\n"
    assert chain.value("total") == 6


def test_source_change_runs_downstream(chain):
    chain.built()
    chain.write("raw.txt", "1 2 3 4")
    assert chain.built() == ["parsed", "total", "report"]
    assert chain.value("total") == 10


def test_early_cutoff_stops_at_identical_bytes(chain):
    chain.built()
    chain.write("raw.txt", "3 2 1")  # same sum, different list
    assert chain.built() == ["parsed"] + ["total"]
    chain.write("raw.txt", "3  2\n1")  # same parsed list
    assert chain.built() == ["parsed"]


def test_revert_runs_nothing(chain):
    chain.built()
    chain.write("raw.txt", "5 5")
    assert chain.built() == ["parsed", "total", "report"]
    chain.write("raw.txt", "1 2 3")
    r = chain.build()
    # nothing ran: every value is back to the first build's, stored (report's file was
    # rewritten by the second build: written back too)
    assert r.names("built") == [] and r.names("restored") == ["parsed", "total", "report"]
    assert [x.reasons[0].code for x in r.results[:2]] == ["stored-before", "stored-before"]
    assert chain.build().names("cached") == ["parsed", "total", "report"]
    assert (chain.root / "build/report.txt").read_text() == "total=6\n"


def test_code_change_runs_that_asset_and_cutoff_applies(chain):
    chain.built()
    chain.assetfile(CHAIN.replace("return sum(parsed)", "return sum(parsed) + 0"))
    assert chain.built() == ["total"]
    chain.assetfile(CHAIN.replace("return sum(parsed)", "return sum(parsed) + 1"))
    assert chain.built() == ["total", "report"]


def test_comments_and_moves_run_nothing(chain):
    chain.built()
    moved = "\n\n# a comment\n\n" + CHAIN.replace("def total(parsed):", "def total(parsed):  # sum it")
    chain.assetfile(moved)
    assert chain.built() == []


def test_path_output_missing_or_edited_is_restored_without_running(chain):
    chain.built()
    out = chain.root / "build/report.txt"
    out.unlink()
    r = chain.build()
    assert r.names("restored") == ["report"] and r.names("built") == []
    assert out.read_text() == "total=6\n"
    out.write_text("tampered\n")
    assert chain.status()["report"].reasons[0].code == "output-modified"
    r = chain.build()
    assert r.names("restored") == ["report"] and out.read_text() == "total=6\n"


def test_force_reruns(chain):
    chain.built()
    assert chain.built(force=True) == ["parsed", "total", "report"]


def test_selection_builds_upstream_only(chain):
    assert chain.built("total") == ["parsed", "total"]
    assert not (chain.root / "build/report.txt").exists()


def test_dry_run_runs_and_writes_nothing(chain):
    r = chain.build(dry_run=True)
    assert r.ok and not (chain.root / ".assetbuild").exists() and not (chain.root / "build").exists()
    assert [x.metadata.get("would") for x in r.results] == ["run", "run", "run"]
    chain.built()
    chain.write("raw.txt", "9")
    r = chain.build(dry_run=True)
    assert r.results[0].reasons[0].code == "source-changed"
    assert r.results[1].reasons[0].code == "upstream-changed"
    assert chain.value("total") == 6  # nothing was written


FAILING = """
@asset
def good():
    return 1

@asset
def bad():
    return helper()

def helper():
    raise ValueError("no data for 2025")

@asset
def after_bad(bad):
    return bad

@asset
def after_good(good):
    return good + 1
"""


def test_failure_skips_downstream_and_keep_going_runs_the_rest(project):
    project.assetfile(FAILING)
    r = project.build(keep_going=True)
    st = {x.asset: x for x in r.results}
    assert not r.ok
    assert st["bad"].status == "failed" and "ValueError: no data for 2025" in st["bad"].error
    assert "AssetFile" in st["bad"].traceback and "in helper" in st["bad"].traceback
    assert st["after_bad"].status == "skipped"
    assert st["after_good"].status == "built"


def test_without_keep_going_nothing_new_starts_after_a_failure(project):
    project.assetfile(FAILING)
    r = project.build()
    statuses = [x.status for x in r.results]
    failed_at = statuses.index("failed")
    assert statuses[:failed_at] == ["built"] * failed_at
    assert statuses[failed_at + 1:] == ["skipped"] * (len(statuses) - failed_at - 1)
    assert r.results[-1].error == "not run: upstream 'bad' failed"  # no "use -k": it would not run it
    # the failure is not recorded: a second build tries again, and the good work is kept
    r = project.build(keep_going=True)
    assert r.by_asset()["good"] == "cached"
    assert r.by_asset()["bad"] == "failed"


def test_traceback_is_trimmed_to_user_code(project):
    project.assetfile(FAILING)
    r = project.build(keep_going=True)
    tb = {x.asset: x for x in r.results}["bad"].traceback
    assert "scheduler.py" not in tb and "execute.py" not in tb


def test_output_data_version_and_metadata(project):
    project.write("n.txt", "1")
    project.assetfile("""
n = source("n", "n.txt")

@asset(io="json")
def a(n, context):
    context.add_metadata({"rows": 3})
    return Output(int(n.read_text()) * 0 + 42, data_version="v1", metadata={"note": "x"})

@asset(io="json")
def b(a):
    return a + 1
""")
    r = project.build()
    a = {x.asset: x for x in r.results}["a"]
    assert a.data_version == "v1" and a.metadata == {"rows": 3, "note": "x"}
    project.write("n.txt", "2")
    assert project.built() == ["a"]  # same data version: b is not rebuilt


def test_unserializable_value_fails_clearly(project):
    project.assetfile("""
import threading

@asset(io="json")
def a():
    return {1, 2}

@asset
def b():
    return threading.Lock()
""")
    r = project.build(keep_going=True)
    st = {x.asset: x for x in r.results}
    assert st["a"].status == "failed" and "io='json'" in st["a"].error and "set" in st["a"].error
    assert st["b"].status == "failed" and "lock" in st["b"].error.lower()


def test_an_open_file_is_not_pickled_as_a_copy_of_its_contents(project):
    """cloudpickle stores an open text file as an io.StringIO of what is left to read: the value
    came back as another type, silently. Refused in one line; other values pickle as before."""
    project.write("data.txt", "hello\n")
    project.assetfile("""
import io

@asset
def handle():
    return open("data.txt")

@asset
def buffer():
    return io.StringIO("kept")

@asset
def values():
    return {"n": 1, "f": lambda x: x + 1}
""")
    r = project.build(keep_going=True)
    st = {x.asset: x for x in r.results}
    assert st["handle"].status == "failed"
    assert st["handle"].error.endswith("io='pickle' cannot store an open file ('data.txt'): it would come back as "
                                       "an io.StringIO of what was left to read; return its contents (f.read()) "
                                       "or its path"), st["handle"].error
    assert project.value("buffer").getvalue() == "kept" and project.value("values")["f"](1) == 2


def test_missing_source_fails_its_dependents(project):
    project.assetfile("""
raw = source("raw", "nope.csv")

@asset
def a(raw):
    return 1
""")
    r = project.build()
    (a,) = r.results
    assert a.status == "failed" and "nope.csv" in a.error


def test_directory_source(project):
    project.write("d/a.txt", "1")
    project.write("d/sub/b.txt", "2")
    project.assetfile("""
d = source("d", "d")

@asset(io="json")
def files(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*.txt"))
""")
    assert project.built() == ["files"]
    assert project.built() == []
    project.write("d/sub/b.txt", "3")
    assert project.built() == ["files"]
    project.write("d/c.txt", "x")
    assert project.built() == ["files"] and project.value("files") == ["a.txt", "c.txt", "sub/b.txt"]


def test_deps_enter_the_key_without_passing_the_value(project):
    project.write("cfg.txt", "a")
    project.assetfile("""
cfg = source("cfg", "cfg.txt")

@asset(deps=["cfg"], io="json")
def uses_cfg_file():
    return 1
""")
    assert project.built() == ["uses_cfg_file"]
    project.write("cfg.txt", "b")
    assert project.built() == ["uses_cfg_file"]


def test_code_version_replaces_fingerprint(project):
    src = """
@asset(code_version="1", io="json")
def a():
    return {body}
"""
    project.assetfile(src.format(body=1))
    assert project.built() == ["a"]
    project.assetfile(src.format(body=2))
    assert project.built() == []  # the user promised nothing changed
    project.assetfile(src.format(body=2).replace('"1"', '"2"'))
    assert project.built() == ["a"] and project.value("a") == 2


def test_status_reasons(chain):
    st = chain.status()
    assert {s.state for s in st.values()} == {"missing"}
    assert st["parsed"].reasons[0].code == "never-built"
    chain.built()
    assert {s.state for s in chain.status().values()} == {"fresh"}
    chain.write("raw.txt", "7")
    st = chain.status()
    assert st["parsed"].state == "stale" and st["parsed"].reasons[0].code == "source-changed"
    assert "raw" in st["parsed"].reasons[0].detail
    assert st["total"].reasons[0].code == "upstream-changed" and "parsed" in st["total"].reasons[0].detail
    chain.write("raw.txt", "1 2 3")
    chain.assetfile(CHAIN.replace("return sum(parsed)", "return sum(parsed) * 1"))
    st = chain.status()
    assert st["total"].reasons[0].code == "code-changed" and st["parsed"].state == "fresh"
    chain.assetfile(CHAIN)
    (chain.root / "build/report.txt").unlink()
    assert chain.status()["report"].reasons[0].code == "output-missing"


def test_why_names_the_changed_helper(project):
    project.write("lib/__init__.py", "")
    project.write("lib/h.py", "def norm(x):\n    return x.strip()\n")
    project.assetfile("""
import lib.h as h

@asset(io="json")
def a():
    return h.norm(" x ")
""")
    project.built()
    project.write("lib/h.py", "def norm(x):\n    return x.strip().upper()\n")
    info = assetbuild.why("a", project_dir=project.root)
    assert info["state"] == "stale"
    assert any("norm" in c["part"] for c in info["code_changes"]), info
    assert project.built() == ["a"] and project.value("a") == "X"


def test_json_results_schema(chain):
    r = chain.build()
    doc = json.loads(json.dumps(r.to_json()))
    assert set(doc) == {"ok", "results"}
    for e in doc["results"]:
        assert set(e) == {"asset", "status", "key", "data_version", "duration_s", "error", "metadata"}
        assert e["status"] in {"built", "cached", "restored", "failed", "skipped"}


def test_unwritable_output_path_fails_the_asset_clearly(project):
    project.assetfile("""
@asset(io="text", path="build/report.md")
def report():
    return "hi"
""")
    (project.root / "build/report.md").mkdir(parents=True)
    (project.root / "build/report.md/notes.txt").write_text("mine")  # (an empty directory makes way)
    r = project.build()
    (res,) = r.results
    assert res.status == "failed" and "cannot write its output build/report.md" in res.error
    assert (project.root / "build/report.md/notes.txt").read_text() == "mine"


def test_output_path_inside_the_cache_or_onto_a_source_is_refused(project):
    from assetbuild.errors import DefinitionError

    project.write("raw.txt", "x")
    project.assetfile("""
raw = source("raw", "raw.txt")

@asset(io="text", path="raw.txt")
def a():
    return "y"
""")
    with pytest.raises(DefinitionError, match="declared source"):
        project.build()
    project.assetfile("""
@asset(io="text", path=".assetbuild/x.txt")
def a():
    return "y"
""")
    with pytest.raises(DefinitionError, match="inside the cache directory"):
        project.build()


def test_status_of_a_missing_source(project):
    project.assetfile("""
raw = source("raw", "raw.csv")

@asset
def a(raw):
    return 1

@asset
def b(a):
    return a
""")
    st = project.status()
    assert st["a"].state == "missing" and st["a"].reasons[0].code == "source-missing"  # never built
    assert "raw.csv" in st["a"].reasons[0].detail
    assert st["b"].state == "missing" and st["b"].reasons[0].code == "source-missing"
    project.write("raw.csv", "x\n")
    assert project.build().ok
    (project.root / "raw.csv").unlink()
    st = project.status()  # built once: stale, for the same reason
    assert [(st[n].state, st[n].reasons[0].code) for n in "ab"] == [("stale", "source-missing")] * 2


def test_context_knows_the_asset_and_the_project(project):
    project.assetfile("""
@asset(io="json", metadata={"owner": "data-team"}, group="g", description="what it is")
def who(context):
    context.log.info("running %s", context.asset)
    return [context.asset, context.project_dir.name]
""")
    assert project.built() == ["who"] and project.value("who") == ["who", "proj"]
    (row,) = [r for r in assetbuild.list_assets(project_dir=project.root) if r["name"] == "who"]
    assert row["metadata"] == {"owner": "data-team"} and row["group"] == "g" and row["description"] == "what it is"


RENAMED = """
t = source("t", "data/t.csv")
d = source("d", "data/in")

@asset(io="text")
def kind(t):
    return t.suffix

@asset(io="json", deps=["t"])
def counted():
    return 1

@asset(io="json")
def listing(d):
    return sorted(p.relative_to(d.parent).as_posix() for p in d.iterdir())

@asset(io="json")
def unrelated():
    return 2
"""


@pytest.fixture
def renamed(project):
    project.write("data/t.csv", "a\tb\n")
    project.write("data/in/x.txt", "x")
    project.assetfile(RENAMED)
    return project


def test_renaming_a_source_with_the_same_bytes_reruns_the_assets_it_is_passed_to(renamed):
    assert renamed.built() == ["kind", "counted", "listing", "unrelated"]
    assert renamed.value("kind") == ".csv"
    (renamed.root / "data/t.csv").rename(renamed.root / "data/t.tsv")
    renamed.assetfile(RENAMED.replace("data/t.csv", "./data//t.tsv"))
    st = renamed.status()
    assert [r.to_json() for r in st["kind"].reasons] == [
        {"code": "source-moved", "detail": "t: its path data/t.csv -> data/t.tsv"}]
    assert st["counted"].state == "fresh"  # a deps= source is not passed: only its bytes count
    why = assetbuild.why("kind", project_dir=renamed.root)
    assert why["reasons"] == [{"code": "source-moved", "detail": "t: its path data/t.csv -> data/t.tsv"}]
    r = renamed.build()
    assert r.names("built") == ["kind"] and renamed.value("kind") == ".tsv"
    # a directory source: its path too (the relative paths inside are part of its version already)
    (renamed.root / "data/in").rename(renamed.root / "data/inbox")
    renamed.assetfile(RENAMED.replace("data/t.csv", "data/t.tsv").replace("data/in", "data/inbox"))
    assert renamed.status()["listing"].reasons[0].detail == "d: its path data/in -> data/inbox"
    assert renamed.built() == ["listing"] and renamed.value("listing") == ["inbox/x.txt"]
    # and back: the earlier builds are reused, nothing runs
    (renamed.root / "data/inbox").rename(renamed.root / "data/in")
    (renamed.root / "data/t.tsv").rename(renamed.root / "data/t.csv")
    renamed.assetfile(RENAMED)
    assert renamed.built() == [] and renamed.value("kind") == ".csv"


def test_a_relocated_project_with_sources_runs_nothing(renamed, tmp_path_factory):
    import shutil

    assert renamed.built() == ["kind", "counted", "listing", "unrelated"]
    moved = tmp_path_factory.mktemp("elsewhere") / "copy"
    shutil.copytree(renamed.root, moved)
    r = assetbuild.build(project_dir=moved)
    assert r.ok and r.names("built") == [] and len(r.names("cached")) == 4


def test_reordering_a_dict_constant_rebuilds_what_iterates_it(project):
    """A dict's order is part of its value: the header a loop over it writes changes."""
    text = '''
COLUMNS = {%s}

@asset(io="text", path="out/header.csv")
def header():
    return ",".join(COLUMNS) + "\\n"
'''
    project.assetfile(text % '"id": int, "name": str')
    assert project.built() == ["header"]
    project.assetfile(text % '"name": str, "id": int')
    assert project.built() == ["header"]
    assert (project.root / "out" / "header.csv").read_text() == "name,id\n"
    project.assetfile(text % '"name": str, "id": int')
    assert project.built() == []


def test_a_bare_object_sentinel_is_fingerprinted_without_a_warning(project):
    """``_MISSING = object()`` as a default: its identity is all it has, nothing to warn about."""
    project.assetfile('''
_MISSING = object()

def get(d, k, default=_MISSING):
    return d.get(k) if default is _MISSING else d.get(k, default)

@asset(io="json")
def a():
    return get({"k": 1}, "k")
''')
    err = io.StringIO()
    assert assetbuild.build(project_dir=project.root, reporter=Reporter(out=io.StringIO(), err=err)).ok
    assert err.getvalue() == ""
    fp = Fingerprinter(is_project_module=lambda m: False, distribution_version=lambda top: None)
    ns: dict = {}
    exec("_MISSING = object()\ndef get(default=_MISSING):\n    return default is _MISSING\n", ns)
    assert fp.fingerprint_function(ns["get"], "get").warnings == ()
