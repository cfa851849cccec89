"""session.arguments: every API verb takes one str where names go as that one name (not its
letters), and refuses a list where one name goes, or a count or version of the wrong type or
below what the command line accepts, in one TypeError or ValueError naming the argument."""

from __future__ import annotations

import pytest

import assetbuild

ASSETFILE = """\
from assetbuild import asset

@asset
def report():
    return 1

@asset
def r():
    return 2

@asset
def e():
    return 3
"""


@pytest.fixture
def built(project):
    project.assetfile(ASSETFILE)
    assert project.built("report") == ["report"]
    assert project.build("report", force=True).ok
    return project.root


def test_one_str_where_names_go_is_one_name(built):
    assert assetbuild.build("report", project_dir=built).by_asset() == {"report": "cached"}
    assert [s.asset for s in assetbuild.status("report", project_dir=built)] == ["report"]
    assert sorted(assetbuild.build(exclude="report", project_dir=built).by_asset()) == ["e", "r"]
    assert [a["name"] for a in assetbuild.list_assets(assets="report", project_dir=built)] == ["report"]
    with pytest.raises(assetbuild.ConfigError, match="'report.x=1': asset 'report' declares no params"):
        assetbuild.build("report", param_args="report.x=1", project_dir=built)


@pytest.mark.parametrize("call,said", [
    (lambda p: assetbuild.why(["report"], project_dir=p), "asset= takes one name (a str), got list ['report']; "
                                                          "call it once per name"),
    (lambda p: assetbuild.load_value(["report"], project_dir=p), "asset= takes one name"),
    (lambda p: assetbuild.build([1], project_dir=p), "assets= takes names (each a str), got int 1"),
    (lambda p: assetbuild.build(exclude=3, project_dir=p), "exclude= takes a list of names, got int 3"),
    (lambda p: assetbuild.list_runs(1.5, project_dir=p), "limit must be a whole number, 1 or more, got 1.5"),
    (lambda p: assetbuild.list_runs(True, project_dir=p), "limit must be a whole number, 1 or more, got True"),
    (lambda p: assetbuild.load_value("report", version="1", project_dir=p),
     "version must be a whole number, 0 or more, got '1'"),
    (lambda p: assetbuild.diff("report", "1", project_dir=p), "from_version must be a whole number"),
    (lambda p: assetbuild.get_run(1.5, project_dir=p), "run= takes a run id"),
    (lambda p: assetbuild.get_run(True, project_dir=p), "run= takes a run id"),
])
def test_a_wrong_type_is_a_type_error_naming_the_argument(built, call, said):
    with pytest.raises(TypeError) as e:
        call(built)
    assert said in str(e.value)


@pytest.mark.parametrize("call,said", [
    (lambda p: assetbuild.list_runs(-1, project_dir=p), "limit must be a whole number, 1 or more, got -1"),
    (lambda p: assetbuild.list_runs(0, project_dir=p), "limit must be a whole number, 1 or more, got 0"),
    (lambda p: assetbuild.asset_log("report", -1, project_dir=p), "limit must be a whole number, 1 or more"),
    (lambda p: assetbuild.load_value("report", version=-1, project_dir=p), "version must be a whole number, 0 or"),
])
def test_a_number_the_command_line_refuses_is_a_value_error(built, call, said):
    with pytest.raises(ValueError) as e:
        call(built)
    assert said in str(e.value)


@pytest.mark.parametrize("call,said", [
    (lambda: assetbuild.load_value("report", params={}), "load_value() got an unexpected keyword argument 'params'"),
    (lambda: assetbuild.status(bogus=1), "status() got an unexpected keyword argument 'bogus'"),
    (lambda: assetbuild.why(), "why() missing a required argument: 'asset'"),
    (lambda: assetbuild.load_value("report", "x"), "load_value() too many positional arguments"),
    (lambda: assetbuild.run_daemon(bogus=1), "run_daemon() got an unexpected keyword argument 'bogus'"),
    (lambda: assetbuild.watch_project(bogus=1), "watch_project() got an unexpected keyword argument 'bogus'"),
    (lambda: assetbuild.watch_project(tick=True), "watch_project() got an unexpected keyword argument 'tick'"),
])
def test_a_wrong_keyword_or_count_names_the_verb_as_python_does(call, said):
    """A misspelt keyword or a wrong count says which function, as Python's own TypeError does
    (it said 'got an unexpected keyword argument ...' alone, from inspect inside assetbuild);
    watch_project's build options take build()'s keywords only, not the fields assetbuild sets."""
    with pytest.raises(TypeError) as e:
        call()
    assert str(e.value) == said


def test_right_shapes_still_work(built):
    assert [x["run"] for x in assetbuild.list_runs(1, project_dir=built)] == ["000002"]
    assert assetbuild.list_runs(None, project_dir=built)[-1]["run"] == "000001"
    assert assetbuild.get_run(1, project_dir=built)["run"] == assetbuild.get_run("000001", project_dir=built)["run"]
    assert assetbuild.load_value("report", version=0, project_dir=built) == 1
    assert assetbuild.why(None, project_dir=built) is not None


FILES = """\
from assetbuild import asset, FilePartitions

@asset(partitions=FilePartitions("data/*.csv"))
def per_file(context):
    return context.partition_key
"""


def test_partitions_as_a_list_of_keys_each_as_it_is(project):
    """``build(partitions=[...])`` raised AttributeError ('list' object has no attribute
    'split'). A list names keys, each looked up as it is: the only way to name file keys that
    hold ``,`` or ``..`` among others; a wrong type is a TypeError naming ``partitions=``."""
    project.write("AssetFile", FILES)
    for name in ("a,b.csv", "x..y.csv", "c.csv", "d.csv"):
        project.write(f"data/{name}", name)
    r = assetbuild.build(["per_file"], partitions=["a,b.csv", "x..y.csv"], project_dir=project.root)
    assert sorted(r.by_asset()) == ["per_file[a,b.csv]", "per_file[x..y.csv]"], r.by_asset()
    r = assetbuild.build(partitions=("c.csv",), project_dir=project.root)
    assert list(r.by_asset()) == ["per_file[c.csv]"]
    with pytest.raises(assetbuild.SelectionError, match=r"per_file: no partition 'a\.csv' \(nearest: "):
        assetbuild.build(["per_file"], partitions=["a.csv"], project_dir=project.root)
    with pytest.raises(assetbuild.SelectionError, match="names no partition key"):
        assetbuild.build(["per_file"], partitions=[], project_dir=project.root)
    for wrong in (3, b"c.csv", {"c.csv": 1}, ["c.csv", 3]):
        with pytest.raises(TypeError, match="^partitions= takes"):
            assetbuild.build(["per_file"], partitions=wrong, project_dir=project.root)
