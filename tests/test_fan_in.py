"""Fan-in: an ``ins`` target that is a glob over names (``"page/*"``) or ``"group:NAME"`` binds
its parameter to every matching asset or source, as a dict ``{name: value}`` ordered by name.

Pages are declared in a loop from ``pages.txt`` (one name per line), so a test adds and removes
matching assets by editing that file; each asset counts its runs (``run_counter``).
"""

from __future__ import annotations

import json

import pytest
from projects import Project, cli, run_counter, take_runs

import assetbuild
from assetbuild import asset, source
from assetbuild.errors import CycleError, DefinitionError
from assetbuild.graph import resolve
from assetbuild.keys import KeyParts, make_key


def assetfile(runs, extra: str = "") -> str:
    return run_counter(runs) + '''
from pathlib import Path

from assetbuild import asset, source

HERE = Path(__file__).parent


def declare(name):
    @asset(name=f"page/{name}", io="json", group="pages")
    def page(text):
        _ran(f"page_{name}")
        return text.read_text().upper()


text = source("text", "text.txt")
for _name in (HERE / "pages.txt").read_text().split():
    declare(_name)


@asset(io="json", ins={"pages": "page/*"})
def index(pages):
    _ran("index")
    return [[name, value] for name, value in pages.items()]


@asset(io="json", ins={"members": "group:pages"})
def grouped(members):
    _ran("grouped")
    return sorted(members)
''' + extra


@pytest.fixture
def site(tmp_path):
    p = Project(tmp_path)
    p.runs = tmp_path / "runs"
    p.write("AssetFile", assetfile(p.runs))
    p.write("pages.txt", "b a c\n")
    p.write("text.txt", "hello")
    return p


def test_a_glob_binds_a_dict_of_every_match_in_name_order(site):
    r = site.build()
    assert r.ok
    assert site.value("index") == [["page/a", "HELLO"], ["page/b", "HELLO"], ["page/c", "HELLO"]]
    assert site.value("grouped") == ["page/a", "page/b", "page/c"]
    take_runs(site.runs)
    assert site.built() == []


def test_adding_removing_or_changing_a_match_reruns_the_reader(site):
    site.build()
    take_runs(site.runs)
    site.write("pages.txt", "b a c d\n")
    assert set(site.built()) == {"page/d", "index", "grouped"}
    assert [n for n, _ in site.value("index")] == ["page/a", "page/b", "page/c", "page/d"]
    why = {s.asset: s for s in assetbuild.status(project_dir=site.root)}
    assert why["index"].state == "fresh"
    site.write("pages.txt", "a c d\n")
    st = site.status("index")["index"]
    assert st.state == "stale" and [x.code for x in st.reasons] == ["input-removed"]
    assert set(site.built()) == {"index", "grouped"}
    assert [n for n, _ in site.value("index")] == ["page/a", "page/c", "page/d"]
    site.write("text.txt", "bye")
    assert set(site.built()) == {"page/a", "page/c", "page/d", "index", "grouped"}
    site.write("pages.txt", "b a c d\n")  # back to an earlier set: its text changed, page/b runs
    take_runs(site.runs)
    assert set(site.built()) == {"page/b", "index", "grouped"}


def test_going_back_reuses_the_earlier_reader(site):
    site.build()
    site.write("pages.txt", "a b\n")
    site.build()
    site.write("pages.txt", "b a c\n")
    take_runs(site.runs)
    assert site.built() == []
    assert take_runs(site.runs) == {}


def test_a_glob_that_matches_one_asset_is_not_the_plain_input_of_that_asset(tmp_path):
    """The same inputs with and without a fan-in give different keys: the function receives a
    dict in one case and the value in the other."""
    p = Project(tmp_path)
    p.assetfile('''
@asset(io="json", name="page/a")
def a():
    return 1

@asset(io="json", ins={"pages": "page/*"})
def index(pages):
    return pages
''')
    assert p.built() == ["page/a", "index"]
    assert p.value("index") == {"page/a": 1}
    p.assetfile('''
@asset(io="json", name="page/a")
def a():
    return 1

@asset(io="json", ins={"pages": "page/a"})
def index(pages):
    return pages
''')
    st = p.status("index")["index"]
    assert st.state == "stale" and [x.code for x in st.reasons] == ["fan-in-changed"]
    assert p.built() == ["index"]
    assert p.value("index") == 1


def test_key_parts_of_a_fan_in_are_appended_only_when_present():
    base = KeyParts("c", {}, (("page/a", "d1"),), "json@1", None)
    fan = KeyParts("c", {}, (("page/a", "d1"),), "json@1", None, fan_in=(("pages", 1),))
    assert make_key("x", base) != make_key("x", fan)
    assert make_key("x", base) == make_key("x", KeyParts("c", {}, (("page/a", "d1"),), "json@1", None, fan_in=()))


def test_sources_match_too_and_arrive_as_paths(tmp_path):
    p = Project(tmp_path)
    p.write("raw/a.txt", "1")
    p.write("raw/b.txt", "22")
    p.assetfile('''
source("raw/b", "raw/b.txt")
source("raw/a", "raw/a.txt")

@asset(io="json", ins={"files": "raw/*"})
def sizes(files):
    return {name: len(path.read_text()) for name, path in files.items()}
''')
    assert p.built() == ["sizes"]
    assert p.value("sizes") == {"raw/a": 1, "raw/b": 2}
    p.write("raw/b.txt", "333")
    assert p.built() == ["sizes"]
    assert p.value("sizes") == {"raw/a": 1, "raw/b": 3}


def test_process_workers_get_the_dict(site):
    r = site.build(executor="processes", jobs=2)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert [n for n, _ in site.value("index")] == ["page/a", "page/b", "page/c"]


def _decl(fn, **kw):
    asset(**kw)(fn)
    return fn.__assetbuild_asset__


def test_a_glob_that_matches_nothing_is_a_definition_error():
    def reader(pages):
        return pages

    with pytest.raises(DefinitionError, match=r"'page/\*', but no asset or source matches it") as e:
        resolve([_decl(reader, ins={"pages": "page/*"})])
    assert e.value.line == reader.__code__.co_firstlineno
    with pytest.raises(DefinitionError, match="no asset is in the group"):
        resolve([_decl(reader, ins={"pages": "group:nothing"})])


def test_a_glob_that_matches_the_asset_itself_is_a_definition_error():
    def a():
        return 1

    def reader(pages):
        return pages

    with pytest.raises(DefinitionError, match="matches 'page/reader' itself") as e:
        resolve([_decl(a, name="page/a"), _decl(reader, name="page/reader", ins={"pages": "page/*"})])
    assert e.value.line == reader.__code__.co_firstlineno
    with pytest.raises(DefinitionError, match="matches 'reader' itself"):
        resolve([_decl(a, group="g"), _decl(reader, group="g", ins={"pages": "group:g"})])


def test_a_bad_pattern_is_a_definition_error():
    def reader(pages):
        return pages

    with pytest.raises(DefinitionError, match="not a glob over asset names"):
        _decl(reader, ins={"pages": "page/*.txt"})
    with pytest.raises(DefinitionError, match="names no group"):
        _decl(reader, ins={"pages": "group:"})


def test_a_cycle_through_a_glob_is_a_cycle_error():
    def a(reader):
        return reader

    def reader(pages):
        return pages

    with pytest.raises(CycleError):
        resolve([_decl(a, name="page/a"), _decl(reader, ins={"pages": "page/*"})])


def test_source_only_graph_resolves():
    s = source("page/s", "s.txt")

    def reader(pages):
        return pages

    g = resolve([s, _decl(reader, ins={"pages": "page/*"})])
    assert g.inputs["reader"] == (("pages", "page/s"),)
    assert g.fan_in == {"reader": {"pages": "page/*"}}


def test_cli_definition_error_exits_2_with_file_and_line(tmp_path):
    p = Project(tmp_path)
    p.assetfile('''
@asset(io="json", ins={"pages": "page/*"})
def index(pages):
    return pages
''')
    r = cli(cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "AssetFile:3" in r.stderr and "no asset or source matches it" in r.stderr
    assert "Traceback" not in r.stderr


def test_listings_show_the_expanded_inputs(site):
    site.build()
    r = cli("graph", "--format", "json", cwd=site.root)
    assert r.returncode == 0, r.stderr
    nodes = {n["name"]: n for n in json.loads(r.stdout)["nodes"]}
    assert nodes["index"]["inputs"] == ["page/a", "page/b", "page/c"]
    assert nodes["index"]["fan_in"] == {"pages": "page/*"}
    assert "fan_in" not in nodes["page/a"]
    r = cli("list", cwd=site.root)
    assert "index asset - json - page/a, page/b, page/c" in [" ".join(ln.split()) for ln in r.stdout.splitlines()]
    r = cli("why", "index", cwd=site.root)
    assert r.returncode == 0, r.stderr
    assert "page/a (asset)" in r.stdout and "page/c (asset)" in r.stdout


def test_an_exported_cache_carries_the_fan_in_of_a_head(site, tmp_path):
    site.build()
    archive = tmp_path / "cache.tar"
    assetbuild.export_cache(archive, project_dir=site.root)
    fresh = tmp_path / "fresh-cache"
    summary = assetbuild.import_cache(archive, project_dir=site.root, cache_dir=fresh)
    assert not summary.get("rejected"), summary
    from assetbuild.store import LmdbStore

    with LmdbStore(fresh) as store:
        assert store.get_head("index").fan_in == (("pages", 3),)
    take_runs(site.runs)
    assert site.built(cache_dir=fresh) == []
