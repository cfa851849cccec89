"""Multi-assets: ``@multi_asset(outs={...})`` and ``Out``.

One function makes several assets; each out has its own key, data version, path output, early
cutoff, status and history; the function runs once for every out that must run, and every out
it returned is recorded. Real builds, a real LMDB store, real worker processes, and the real
command in subprocesses.
"""

from __future__ import annotations

import json

import pytest
from projects import Project, cli, run_counter, take_runs

import assetbuild
from assetbuild.errors import ConfigError, DefinitionError
from assetbuild.keys import KeyParts, make_key

HEAD = "from assetbuild import asset, multi_asset, Out, Output, Skip, source\n"

SPLIT = '''
rows = source("rows", "rows.txt")


@multi_asset(outs={"train": Out(io="json"), "test": Out(io="json", path="build/test.json")}, group="ml")
def split(rows):
    _ran("split")
    lines = rows.read_text().split()
    return {"train": lines[::2], "test": lines[1::2]}


@asset(io="json")
def n_train(train):
    _ran("n_train")
    return len(train)


@asset(io="json")
def n_test(test):
    _ran("n_test")
    return len(test)
'''


def make(project: Project, tmp_path, body: str, rows: str = "a b c d") -> Project:
    project.write("AssetFile", HEAD + run_counter(tmp_path / "runs") + body, dedent=False)
    project.write("rows.txt", rows)
    project.runs = tmp_path / "runs"  # type: ignore[attr-defined]
    return project


@pytest.fixture
def proj(project: Project, tmp_path) -> Project:
    return make(project, tmp_path, SPLIT)


def test_the_function_runs_once_and_each_out_is_an_asset(proj):
    assert sorted(proj.built()) == ["n_test", "n_train", "test", "train"]
    assert take_runs(proj.runs) == {"split": 1, "n_train": 1, "n_test": 1}
    assert proj.value("train") == ["a", "c"] and proj.value("test") == ["b", "d"]
    assert json.loads((proj.root / "build/test.json").read_text()) == ["b", "d"]
    assert proj.built() == []  # a null build
    assert take_runs(proj.runs) == {}
    assert {n: s.state for n, s in proj.status().items()} == dict.fromkeys(["train", "n_train", "test", "n_test"],
                                                                           "fresh")


def test_readers_rerun_only_when_their_out_changes(proj):
    proj.built()
    take_runs(proj.runs)
    proj.write("rows.txt", "a b c e")  # train is the same, test changes
    assert sorted(proj.built()) == ["n_test", "test", "train"]
    assert take_runs(proj.runs) == {"split": 1, "n_test": 1}
    assert proj.value("n_test") == 2 and proj.value("test") == ["b", "e"]


def test_a_missing_or_edited_path_output_is_restored_without_running(proj):
    proj.built()
    take_runs(proj.runs)
    (proj.root / "build/test.json").unlink()
    assert [r.code for r in proj.status()["test"].reasons] == ["output-missing"]
    r = proj.build()
    assert r.ok and r.by_asset()["test"] == "restored" and r.by_asset()["train"] == "cached"
    (proj.root / "build/test.json").write_text("[]")
    assert proj.build().by_asset()["test"] == "restored"
    assert json.loads((proj.root / "build/test.json").read_text()) == ["b", "d"]
    assert take_runs(proj.runs) == {}


def test_asking_for_one_out_runs_once_and_records_every_out(proj):
    assert proj.built("train") == ["train"]
    assert take_runs(proj.runs) == {"split": 1}
    assert (proj.root / "build/test.json").exists()  # test was recorded (its path output written)
    assert proj.status()["test"].state == "fresh"
    assert sorted(proj.built()) == ["n_test", "n_train"]  # the outs are reused, not run again
    assert take_runs(proj.runs) == {"n_train": 1, "n_test": 1}


def test_an_out_stored_beside_the_one_asked_for_is_in_its_history_and_the_run(proj):
    proj.built()
    take_runs(proj.runs)
    proj.write("rows.txt", "a b c d e f")
    r = proj.build("train")
    assert r.names("built") == ["train"]  # the build's results: what was asked for, as -n says
    assert take_runs(proj.runs) == {"split": 1}
    assert [e["kind"] for e in assetbuild.asset_log("test", project_dir=proj.root)["events"]] \
        == ["materialized", "materialized"]
    event = assetbuild.asset_log("test", project_dir=proj.root)["events"][0]
    assert event["run"] == assetbuild.list_runs(project_dir=proj.root)[0]["run"]
    assert proj.status()["test"].state == "fresh"
    assert proj.value("test") == ["b", "d", "f"]
    run = assetbuild.get_run(r.run, project_dir=proj.root)
    assert sorted((e["asset"], e["kind"]) for e in run["events"]) == [("test", "materialized"), ("train", "materialized")]
    assert run["counts"] == {"built": 2}
    assert proj.built() == ["n_train", "n_test"]  # test is reused, not run again
    assert take_runs(proj.runs) == {"n_train": 1, "n_test": 1}


def test_selecting_the_multi_asset_means_all_its_outs(proj):
    assert sorted(proj.built("split")) == ["test", "train"]
    assert take_runs(proj.runs) == {"split": 1}
    assert sorted(proj.status("split")) == ["test", "train"]
    info = assetbuild.why("split", project_dir=proj.root)
    assert [o["asset"] for o in info["outs"]] == ["train", "test"]
    assert info["outs"][0]["producer"] == "split"
    r = proj.build("split", dry_run=True)
    assert sorted(r.by_asset()) == ["test", "train"]


def test_tuple_and_output_per_out_with_metadata(project, tmp_path):
    make(project, tmp_path, '''
@multi_asset(outs={"a": Out(), "b": Out(io="json")})
def pair(context):
    _ran("pair")
    context.add_metadata({"run": 1})
    return Output(1, metadata={"rows": 1}), Output([2], metadata={"rows": 2}, data_version="v2")
''')
    r = project.build()
    assert r.ok
    res = {x.asset: x for x in r.results}
    assert res["a"].metadata == {"run": 1, "rows": 1} and res["b"].metadata == {"run": 1, "rows": 2}
    assert res["b"].data_version == "v2"
    assert project.value("a") == 1 and project.value("b") == [2]
    assert take_runs(project.runs) == {"pair": 1}


PAIR = """
@multi_asset(outs={OUTS})
def pair():
    _ran("pair")
    return ("L", "R")


@asset(io="json")
def shout(left):
    _ran("shout")
    return left + "!"
"""
IN_ORDER, SWAPPED = '{"left": Out(io="json"), "right": Out(io="json")}', '{"right": Out(io="json"), "left": Out(io="json")}'


def test_reordering_the_outs_of_a_tuple_changes_their_keys(project, tmp_path):
    """A tuple is mapped onto the outs by place: an out's place is part of its key, so
    reordering ``outs`` gives each out the value a fresh run gives it, never the old one."""
    make(project, tmp_path, PAIR.replace("{OUTS}", IN_ORDER))
    assert sorted(project.built()) == ["left", "right", "shout"]
    take_runs(project.runs)
    make(project, tmp_path, PAIR.replace("{OUTS}", SWAPPED))
    status = project.status()
    assert [r.detail for r in status["shout"].reasons] == ["left is stale (runs only if that output changes)"]
    for out, was, now in (("left", 1, 2), ("right", 2, 1)):
        assert status[out].state == "stale"
        assert [(r.code, r.detail) for r in status[out].reasons] == [
            ("out-moved", f"it is now out {now} of 'pair' (was {was}), and a tuple returned gives outs their "
                          "values by place")]
    assert sorted(project.built()) == ["left", "right", "shout"]
    assert take_runs(project.runs) == {"pair": 1, "shout": 1}
    assert (project.value("left"), project.value("right"), project.value("shout")) == ("R", "L", "R!")
    make(project, tmp_path, PAIR.replace("{OUTS}", IN_ORDER))  # back: the earlier values, without a run
    r = project.build()
    assert r.ok and take_runs(project.runs) == {}
    assert (project.value("left"), project.value("right"), project.value("shout")) == ("L", "R", "L!")


def test_an_outs_key_before_its_place_entered_keys_reruns_once_saying_why(project, tmp_path):
    """A head recorded by an assetbuild whose out keys held no place (out_index -1) is not
    another interpreter's: the reason says the keys now hold the place."""
    from assetbuild.rebuild import made_elsewhere, why_run
    from assetbuild.reports import Head

    parts = KeyParts("c", {}, (), "json@1", None, producer="pair")
    old = Head(make_key("left", parts), "d", "0" * 64, "c", {}, (), "json@1", None, None, 0, 1, 0.0,
               producer="pair")
    assert old.out_index == -1 and not made_elsewhere("left", old)
    (r,) = why_run(parts._replace(out_index=0), old, set(), name="left")
    assert r.code == "key-changed" and "its place among the outs of 'pair'" in r.detail


def test_a_missing_required_out_fails_naming_it(project, tmp_path):
    make(project, tmp_path, '''
@multi_asset(outs={"a": Out(), "b": Out()})
def pair():
    return {"a": 1}


@asset
def reader(b):
    return b
''')
    r = project.build(keep_going=True)
    assert not r.ok
    res = {x.asset: x for x in r.results}
    assert res["a"].status == "failed" and res["b"].status == "failed"
    assert "did not return its out 'b'" in res["b"].error
    assert res["reader"].status == "skipped"
    assert project.status()["a"].state == "failed"  # no value was recorded, the failure was


@pytest.mark.parametrize("value, message", [
    ("[1, 2]", "returns a dict by out name or a tuple"),
    ("(1,)", "a tuple of 1 values for 2 outs"),
    ('{"a": 1, "b": 2, "c": 3}', "'c', which is not one of its outs"),
    ('{"a": 1, "b": Skip("none")}', "returned Skip for its out 'b', but only an out declared Out(required=False)"),
    ('Skip("none")', "returning Skip for it, if declared Out(required=False)"),
])
def test_other_return_shapes_fail_clearly(project, tmp_path, value, message):
    make(project, tmp_path, f'''
@multi_asset(outs={{"a": Out(), "b": Out()}})
def pair():
    return {value}
''')
    r = project.build()
    assert not r.ok and message in r.results[0].error


OPTIONAL = '''
import os


@multi_asset(outs={"always": Out(io="json"), "maybe": Out(io="json", required=False)})
def fetch(rows):
    _ran("fetch")
    text = rows.read_text()
    out = {"always": text}
    if "new" in text:
        out["maybe"] = text.upper()
    return out


@asset(io="json")
def reader(maybe):
    _ran("reader")
    return maybe + "!"


@asset(io="json")
def reader2(reader):
    _ran("reader2")
    return reader
'''


def test_an_optional_out_without_a_previous_value_skips_its_readers(project, tmp_path):
    make(project, tmp_path, 'rows = source("rows", "rows.txt")\n' + OPTIONAL, rows="old")
    r = project.build()
    assert r.ok  # a skip is not a failure
    res = {x.asset: x for x in r.results}
    assert res["always"].status == "built" and res["maybe"].status == "skipped"
    assert res["reader"].status == "skipped"
    assert [(x.code, x.detail) for x in res["reader"].reasons] == [("no-output", "upstream 'maybe' produced no output")]
    assert res["reader2"].status == "skipped"
    assert take_runs(project.runs) == {"fetch": 1}
    out = cli("-v", cwd=project.root)
    assert out.returncode == 0, out.stderr  # the command succeeds too
    assert "skipped   reader  (upstream 'maybe' produced no output)" in out.stdout
    assert "skipped   maybe  ('fetch' returned no value for it)" in out.stdout
    project.write("rows.txt", "new")
    assert sorted(project.built()) == ["always", "maybe", "reader", "reader2"]
    assert project.value("reader") == "NEW!"


@pytest.mark.parametrize("returned", ['{"always": text, "maybe": Skip("no new rows")}', '(text, Skip("no new rows"))'])
def test_an_optional_out_given_as_skip_is_skipped_with_its_reason(project, tmp_path, returned):
    """Skip(reason) for an Out(required=False), as an @asset(output_required=False) returns it:
    the out is left out (its reason said), not stored with its IO manager (it failed: 'io=json
    cannot store Skip')."""
    make(project, tmp_path, 'rows = source("rows", "rows.txt")\n' + OPTIONAL.replace(
        "    return out\n", f"    return out if 'new' in text else {returned}\n", 1), rows="new")
    project.built()
    project.write("rows.txt", "nothing")
    r = project.build()
    assert r.ok and r.by_asset() == {"always": "built", "maybe": "skipped", "reader": "cached", "reader2": "cached"}
    assert {x.asset: x.skip_reason for x in r.results}["maybe"] == "'fetch' returned Skip (no new rows) for it"
    assert project.value("maybe") == "NEW"


def test_an_optional_out_keeps_its_previous_value_for_readers(project, tmp_path):
    make(project, tmp_path, 'rows = source("rows", "rows.txt")\n' + OPTIONAL, rows="new")
    project.built()
    take_runs(project.runs)
    project.write("rows.txt", "nothing")
    r = project.build()
    assert r.ok
    assert r.by_asset() == {"always": "built", "maybe": "skipped", "reader": "cached", "reader2": "cached"}
    assert take_runs(project.runs) == {"fetch": 1}  # readers are not run because of it
    assert project.value("maybe") == "NEW" and project.value("reader") == "NEW!"


def test_an_out_added_later_runs_the_function_once_and_readers_of_the_others_stay(project, tmp_path):
    body = """
@multi_asset(outs={OUTS})
def pair():
    _ran("pair")
    return {RETURN}


@asset
def reader(a):
    _ran("reader")
    return a
"""
    make(project, tmp_path, body.replace("{OUTS}", '{"a": Out()}').replace("{RETURN}", '{"a": 1, "b": 2}'))
    r = project.build()
    assert not r.ok and "'b', which is not one of its outs" in r.results[0].error
    make(project, tmp_path, body.replace("{OUTS}", '{"a": Out(), "b": Out()}').replace("{RETURN}", '{"a": 1, "b": 2}'))
    assert sorted(project.built()) == ["a", "b", "reader"]
    take_runs(project.runs)
    make(project, tmp_path, body.replace("{OUTS}", '{"a": Out(), "b": Out(), "c": Out(io="json")}')
         .replace("{RETURN}", '{"a": 1, "b": 2, "c": 3}'))
    assert sorted(project.built()) == ["a", "b", "c"]  # its code changed; a's bytes did not
    assert take_runs(project.runs) == {"pair": 1}
    assert project.value("c") == 3


def test_namespaced_outs_and_their_readers(project, tmp_path):
    make(project, tmp_path, '''
@multi_asset(outs={"sales/eu": Out(io="json"), "sales/us": Out(io="json")})
def sales():
    return {"sales/eu": 1, "sales/us": 2}


@asset(io="json", ins={"eu": "sales/eu"})
def total(eu):
    return eu + 1
''')
    assert sorted(project.built("sales/*", "total")) == ["sales/eu", "sales/us", "total"]
    assert project.value("total") == 2


@pytest.mark.parametrize("executor, jobs", [("threads", 2), ("processes", 2), ("processes", 1)])
def test_executors_run_it_once(project, tmp_path, executor, jobs):
    make(project, tmp_path, SPLIT.replace('group="ml")', f'group="ml", executor={executor!r})'))
    r = project.build(jobs=jobs)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert take_runs(project.runs) == {"split": 1, "n_train": 1, "n_test": 1}
    assert project.value("test") == ["b", "d"]


def test_a_timed_multi_asset_runs_in_its_own_worker(project, tmp_path):
    make(project, tmp_path, SPLIT.replace('group="ml")', 'group="ml", timeout=60)'))
    r = project.build()
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert take_runs(project.runs) == {"split": 1, "n_train": 1, "n_test": 1}


def test_a_timed_out_multi_asset_fails_every_out(project, tmp_path):
    make(project, tmp_path, '''
import time


@multi_asset(outs={"a": Out(), "b": Out()}, timeout=0.5)
def slow():
    time.sleep(30)
''')
    r = project.build(keep_going=True)
    assert [(x.asset, x.status) for x in r.results] == [("a", "failed"), ("b", "failed")]
    assert all("timed out after 0.5 s" in x.error for x in r.results)


def test_an_outs_key_never_equals_a_plain_assets():
    parts = KeyParts("c", {}, (), "pickle@1", None)
    multi = KeyParts("c", {}, (), "pickle@1", None, producer="split", out_index=0)
    assert make_key("train", parts) != make_key("train", multi)
    assert make_key("train", multi) != make_key("train", multi._replace(producer="other"))
    assert len({make_key("train", multi._replace(out_index=i)) for i in (-1, 0, 1, 2)}) == 4


def test_the_producer_is_recorded_and_explained(proj):
    proj.built()
    proj.write("AssetFile", HEAD + run_counter(proj.runs) + SPLIT.replace("def split(", "def splitter("),
               dedent=False)
    reasons = [(r.code, r.detail) for r in proj.status()["train"].reasons]
    assert ("producer-changed", "produced by 'split' -> 'splitter'") in reasons


def test_export_and_import_carry_the_producer(proj, tmp_path):
    proj.built()
    archive = tmp_path / "cache.tar"
    assetbuild.export_cache(archive, project_dir=proj.root)
    other = tmp_path / "other"
    other.mkdir()
    (other / "AssetFile").write_text((proj.root / "AssetFile").read_text())
    (other / "rows.txt").write_text("a b c d")
    assetbuild.import_cache(archive, project_dir=other)
    r = assetbuild.build(project_dir=other)
    assert r.ok and r.count("built") == 0, r.by_asset()


def definition_error(project: Project, body: str) -> DefinitionError:
    project.write("AssetFile", HEAD + body, dedent=False)
    with pytest.raises(DefinitionError) as e:
        project.build()
    return e.value


def test_an_out_named_like_an_asset_is_a_definition_error(project):
    e = definition_error(project, '''
@asset
def train():
    return 1


@multi_asset(outs={"train": Out(), "test": Out()})
def split():
    return 1, 2
''')
    assert "out 'train' of multi-asset 'split' clashes with asset 'train'" in str(e)
    assert e.line == 7 + 1


@pytest.mark.parametrize("other, message", [
    ('rows = source("train", "rows.txt")\n', "out 'train' of multi-asset 'split' clashes with source 'train'"),
    ('@multi_asset(outs={"train": Out()})\ndef other():\n    return {"train": 1}\n',
     "out 'train' of multi-asset 'split' clashes with out 'train' of multi-asset 'other'"),
])
def test_an_out_named_like_a_source_or_another_out_is_a_definition_error(project, other, message):
    e = definition_error(project, other + '''

@multi_asset(outs={"train": Out(), "test": Out()})
def split():
    return 1, 2
''')
    assert message in str(e)


def test_an_out_with_an_unknown_io_manager_is_a_definition_error(project):
    e = definition_error(project, '''
@multi_asset(outs={"a": Out(io="nope")})
def m():
    return {"a": 1}
''')
    assert "nope" in str(e)


@pytest.mark.parametrize("outs, message", [
    ("{}", "outs must be a non-empty dict"),
    ('{"a": 1}', "out 'a' must be an Out(...)"),
    ('{"a": Out(io=3)}', "out 'a': io must be an IO manager name"),
    ('{"a": Out(required="no")}', "out 'a': required must be True or False"),
    ('{"a": Out(path="/abs")}', "out 'a' path '/abs' must be relative"),
    ('{"a b": Out()}', "invalid out of multi-asset 'm': out name 'a b'"),
    ('{"a": Out(metadata=[1])}', "out 'a': metadata must be a dict"),
])
def test_bad_outs_are_definition_errors(project, outs, message):
    e = definition_error(project, f'''
@multi_asset(outs={outs})
def m():
    return 1
''')
    assert message in str(e)
    assert e.line == 3


@pytest.mark.parametrize("options, message", [
    ('group=3', "multi-asset 'm': group must be a str, got 3"),
    ('metadata="x"', "multi-asset 'm': metadata must be a dict of names to values"),
])
def test_bad_labels_of_the_multi_asset_are_definition_errors(project, options, message):
    e = definition_error(project, f'''
@multi_asset(outs={{"a": Out()}}, {options})
def m():
    return 1
''')
    assert message in str(e)
    assert e.line == 3


def test_the_multi_asset_shares_the_checks_of_asset(project):
    e = definition_error(project, '''
@multi_asset(outs={"a": Out()}, ins={"nope": "x"})
def m(rows):
    return {"a": 1}
''')
    assert "multi-asset 'm': ins names parameter 'nope'" in str(e)
    e = definition_error(project, '''
@multi_asset(outs={"a": Out()})
def m(missing):
    return {"a": 1}
''')
    assert "parameter 'missing' names no asset or source" in str(e)


def test_a_multi_asset_named_like_another_asset_is_a_definition_error(project):
    e = definition_error(project, '''
@asset
def split():
    return 1


@multi_asset(outs={"a": Out(), "b": Out()})
def split():
    return 1, 2
''')
    assert "multi-asset 'split' is named like" in str(e)


def test_outs_in_graph_list_status_and_why_on_the_command_line(proj):
    out = cli("graph", "--format", "json", cwd=proj.root)
    assert out.returncode == 0, out.stderr
    nodes = {n["name"]: n for n in json.loads(out.stdout)["nodes"]}
    assert nodes["train"]["producer"] == "split" and nodes["test"]["producer"] == "split"
    assert "producer" not in nodes["n_train"]
    out = cli("list", cwd=proj.root)
    assert any(ln.split()[0] == "train" and ln.endswith("  (out of split)") for ln in out.stdout.splitlines())
    out = cli("-n", "split", cwd=proj.root)
    assert out.returncode == 0 and "train" in out.stdout and "test" in out.stdout and "n_train" not in out.stdout
    assert not (proj.root / "build").exists()
    out = cli("split", "-v", cwd=proj.root)
    assert out.returncode == 0, out.stderr
    assert "built     train" in out.stdout and "built     test" in out.stdout and "n_train" not in out.stdout
    out = cli("status", "split", cwd=proj.root)
    assert out.stdout.split() == ["fresh", "train", "fresh", "test"]
    out = cli("why", "split", cwd=proj.root)
    assert out.returncode == 0 and out.stdout.startswith("train: fresh") and "\ntest: fresh" in out.stdout


def test_a_definition_error_exits_2_naming_the_line(project, tmp_path):
    project.write("AssetFile", HEAD + '''
@asset
def train():
    return 1


@multi_asset(outs={"train": Out()})
def split():
    return {"train": 1}
''', dedent=False)
    out = cli(cwd=project.root)
    assert out.returncode == 2
    assert "AssetFile:8" in out.stderr and "clashes with asset 'train'" in out.stderr
    assert "Traceback" not in out.stderr


def test_params_are_set_by_the_multi_asset_name_for_all_its_outs(project, tmp_path):
    make(project, tmp_path, '''
@multi_asset(outs={"a": Out(io="json"), "b": Out(io="json")}, params={"k": 1})
def pair(context):
    _ran("pair")
    return context.params["k"], context.params["k"] * 10
''')
    assert sorted(project.built()) == ["a", "b"]
    take_runs(project.runs)
    r = project.build(params={"pair": {"k": 2}})
    assert r.ok and sorted(r.names("built")) == ["a", "b"]
    assert take_runs(project.runs) == {"pair": 1}
    assert project.value("b") == 20
    out = cli("status", "--param", "pair.k=2", cwd=project.root)
    assert out.stdout.split() == ["fresh", "a", "fresh", "b"], out.stderr


def test_an_override_naming_an_out_says_to_use_the_multi_asset_name(project, tmp_path):
    """`list` shows `a`, so --param a.k=... names an asset: the error says whose params those are."""
    make(project, tmp_path, '''
@multi_asset(outs={"a": Out(io="json"), "b": Out(io="json")}, params={"k": 1})
def pair(context):
    return context.params["k"], 0
''')
    out = cli("a", "--param", "a.k=5", cwd=project.root)
    assert out.returncode == 2 and out.stderr.strip() == ("assetbuild: error: --param 'a.k=5': 'a' is an out of "
                                                          "multi-asset 'pair', whose params are set by its name: "
                                                          "use --param pair.k=5"), out.stderr
    project.write("pyproject.toml", "[tool.assetbuild.params.b]\nk = 5\n")
    out = cli("a", cwd=project.root)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert ("[tool.assetbuild.params.b]: 'b' is an out of multi-asset 'pair', whose params are set by its "
            "name: use [tool.assetbuild.params.pair]") in out.stderr
    (project.root / "pyproject.toml").unlink()
    with pytest.raises(ConfigError, match=r"params=: 'a' is an out of multi-asset 'pair'.*use params=\{'pair': "):
        project.build(params={"a": {"k": 5}})
    assert sorted(project.built()) == ["a", "b"] and project.value("a") == 1  # the defaults still build


def test_show_of_the_multi_asset_names_its_outs_and_logs_show_its_name(proj):
    for command in ("show", "diff"):  # diff said "'split' is not an asset with stored values"
        out = cli(command, "split", cwd=proj.root)
        assert out.returncode == 2 and "'split' is a multi-asset" in out.stderr and "(train, test)" in out.stderr
    proj.write("AssetFile", HEAD + '''
@multi_asset(outs={"a": Out(), "b": Out()}, executor="processes")
def m(context):
    context.log.info("from %s", context.asset)
    return 1, 2
''', dedent=False)
    out = cli("-j", "2", cwd=proj.root)
    assert out.returncode == 0 and "[m] from m" in out.stderr, out.stderr


def test_a_worker_lost_mid_run_runs_it_again_and_records_every_out(project, tmp_path):
    make(project, tmp_path, f'''
import os


@multi_asset(outs={{"a": Out(io="json"), "b": Out(io="json")}}, executor="processes")
def m():
    _ran("m")
    flag = {str(tmp_path / "crashed")!r}
    if not os.path.exists(flag):
        open(flag, "w").close()
        os._exit(1)  # the worker dies: the build runs it again by itself
    return 1, 2


@asset(io="json", executor="processes")
def other():
    return 3
''')
    r = project.build(jobs=2)
    assert r.ok, [(x.asset, x.status, x.error) for x in r.results]
    assert r.by_asset() == {"a": "built", "b": "built", "other": "built"}
    assert take_runs(project.runs) == {"m": 2}
    assert project.value("b") == 2


def test_status_says_a_missing_file_of_an_optional_out_a_run_may_leave_out(project, tmp_path):
    """An Out(required=False) that would run keeps its previous value if the run leaves it out,
    its path output put back: status says that file is missing, as for an asset that skipped."""
    make(project, tmp_path, 'rows = source("rows", "rows.txt")\n' + OPTIONAL.replace(
        '"maybe": Out(io="json", required=False)', '"maybe": Out(io="json", required=False, path="maybe.json")'),
        rows="new")
    project.built()
    project.write("rows.txt", "nothing")
    assert project.build().by_asset()["maybe"] == "skipped"
    (project.root / "maybe.json").unlink()
    reasons = [r.code for r in project.status()["maybe"].reasons]
    assert "output-missing" in reasons, reasons
    assert project.build().ok and (project.root / "maybe.json").is_file()
