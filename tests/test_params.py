"""Params: ``@asset(params={...})``, their overrides and ``context.params``.

Four layers, lowest first: the declared defaults, ``[tool.assetbuild.params.ASSET]`` in
pyproject.toml, ``--param ASSET.KEY=VALUE`` (``param_args=`` in the API), ``params=``. The
resolved values enter the key (going back reuses the earlier output), the head, ``why`` and
``--json``, and the function reads exactly those values in every executor. Real builds, a real
LMDB store and the real command in subprocesses.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import pytest
from projects import Project, clean_env, cli, cli_cmd, run_counter, take_runs

import assetbuild
from assetbuild.errors import ConfigError, DefinitionError
from assetbuild.keys import KeyParts, explain_change, make_key
from assetbuild.params import canonical_json, parse_param_arg

ASSETFILE = '''

@asset(io="json", params={"threshold": 3, "region": "eu"})
def big_ones(context):
    _ran("big_ones")
    return {"threshold": context.params["threshold"], "region": context.params["region"]}


@asset(io="json")
def reader(big_ones):
    _ran("reader")
    return big_ones["threshold"] * 10


@asset(io="json", name="sales/monthly", params={"region": "eu", "rows": [1, 2]})
def monthly(context):
    _ran("monthly")
    return [context.params["region"], list(context.params["rows"])]


@asset(io="json")
def plain(context):
    _ran("plain")
    return dict(context.params)
'''


@pytest.fixture
def proj(project: Project, tmp_path) -> Project:
    project.write("AssetFile", "from assetbuild import asset\n" + run_counter(tmp_path / "runs") + ASSETFILE,
                  dedent=False)
    project.runs = tmp_path / "runs"  # type: ignore[attr-defined]
    return project


def reasons(project: Project, name: str, **kw) -> list[tuple[str, str]]:
    st = {s.asset: s for s in assetbuild.status(project_dir=project.root, **kw)}
    return [(r.code, r.detail) for r in st[name].reasons]


def pyproject(project: Project, text: str) -> None:
    project.write("pyproject.toml", text)


# --- resolution ----------------------------------------------------------------------------------

def test_defaults_reach_the_function_and_an_asset_without_params_gets_an_empty_mapping(proj):
    proj.built()
    assert proj.value("big_ones") == {"threshold": 3, "region": "eu"}
    assert proj.value("sales/monthly") == ["eu", [1, 2]]
    assert proj.value("plain") == {}
    assert proj.built() == []


def test_precedence_of_the_four_layers(proj):
    proj.built()
    pyproject(proj, """
        [tool.assetbuild.params.big_ones]
        threshold = 5

        [tool.assetbuild.params."sales/monthly"]
        region = "us"
    """)
    assert sorted(proj.built()) == ["big_ones", "reader", "sales/monthly"]
    assert proj.value("big_ones") == {"threshold": 5, "region": "eu"}
    assert proj.value("sales/monthly") == ["us", [1, 2]]
    # --param over pyproject, key by key
    proj.built(param_args=["big_ones.threshold=7", "sales/monthly.rows=[3]"])
    assert proj.value("big_ones") == {"threshold": 7, "region": "eu"}
    assert proj.value("sales/monthly") == ["us", [3]]
    # params= over --param
    proj.built(param_args=["big_ones.threshold=7", "big_ones.region=jp"], params={"big_ones": {"threshold": 9}})
    assert proj.value("big_ones") == {"threshold": 9, "region": "jp"}
    assert proj.value("reader") == 90


def test_going_back_to_earlier_params_reuses_the_earlier_output(proj):
    proj.built()
    proj.built(params={"big_ones": {"threshold": 5}})
    assert proj.value("reader") == 50
    take_runs(proj.runs)
    st = proj.status()["big_ones"]  # the defaults' key has a trace: nothing to run, but the
    assert st.state == "stale" and [r.code for r in st.reasons] == ["stored-before"]  # latest is 5's
    assert st.reasons[0].detail.startswith("its params are back to what a build before had")
    assert proj.value("reader") == 50
    r = proj.build()  # the defaults again: their traces are found, nothing runs
    assert r.ok and r.names("built") == [] and take_runs(proj.runs) == {}
    assert proj.status()["big_ones"].state == "fresh"
    assert proj.value("big_ones") == {"threshold": 3, "region": "eu"} and proj.value("reader") == 30
    r = proj.build(params={"big_ones": {"threshold": 5}})
    assert r.ok and r.names("built") == [] and take_runs(proj.runs) == {}
    assert proj.value("reader") == 50


def test_only_the_declaring_asset_reruns_and_readers_only_when_bytes_change(project, tmp_path):
    project.write("AssetFile", "from assetbuild import asset\n" + run_counter(tmp_path / "runs") + '''
@asset(io="json", params={"n": 1, "label": "a"})
def counted(context):
    _ran("counted")
    return context.params["n"]


@asset(io="json")
def after(counted):
    _ran("after")
    return counted + 1
''', dedent=False)
    project.built()
    take_runs(tmp_path / "runs")
    assert project.built(params={"counted": {"label": "b"}}) == ["counted"]  # same bytes: early cutoff
    assert take_runs(tmp_path / "runs") == {"counted": 1}


def test_a_value_equal_to_the_default_is_the_default(proj):
    proj.built()
    assert reasons(proj, "big_ones", params={"big_ones": {"threshold": 3}}) == []
    assert proj.build(param_args=["big_ones.region=\"eu\""]).names("built") == []


def test_context_params_is_read_only_and_a_run_cannot_change_another_runs_values(project):
    project.assetfile('''
        @asset(io="json", params={"rows": [1], "opts": {"a": 1}})
        def grows(context):
            try:
                context.params["rows"] = [9]
            except TypeError:
                pass
            else:
                raise AssertionError("context.params accepted an assignment")
            context.params["rows"].append(2)
            context.params["opts"]["b"] = 2
            return [context.params["rows"], context.params["opts"]]
    ''')
    for executor in ("serial", "threads"):  # in this process: a shared object would grow
        for _ in range(2):
            r = project.build(executor=executor, force=True)
            assert r.ok, [(x.asset, x.error) for x in r.results]
            assert project.value("grows") == [[1, 2], {"a": 1, "b": 2}]
    assert project.status()["grows"].state == "fresh"  # the changes did not reach the key


def test_a_param_the_asset_does_not_declare_names_those_it_does(project):
    """context.params["treshold"] was a bare KeyError: 'treshold'; add_metadata(["x"]) a ValueError
    from dict.update."""
    project.assetfile('''
        @asset(io="json", params={"threshold": 3})
        def typo(context):
            return context.params["treshold"]

        @asset(io="json")
        def none(context):
            return [context.params.get("x"), "x" in context.params, context.params["x"]]

        @asset(io="json")
        def meta(context):
            context.add_metadata(["rows"])
    ''')
    r = project.build(keep_going=True)
    errors = {x.asset: x.error for x in r.results}
    assert errors == {
        "typo": "KeyError: \"asset 'typo' has no param 'treshold' (its params: 'threshold')\"",
        "none": "KeyError: \"asset 'none' has no param 'x' (its params: none; declare them with "
                "@asset(params={...}))\"",
        "meta": "TypeError: add_metadata takes a dict of names to values, e.g. add_metadata({'rows': 3}), "
                "got ['rows']"}


TIMED = '''
@asset(io="json", params={"x": 1}, timeout=300)
def timed(context):
    import os
    return [context.params["x"], os.getpid()]
'''


@pytest.mark.parametrize("executor", ["serial", "threads", "processes"])
def test_every_executor_passes_the_params_of_the_key(proj, executor):
    kw = {"executor": executor, "jobs": 2 if executor != "serial" else 1}
    r = proj.build(params={"big_ones": {"threshold": 4}, "sales/monthly": {"rows": []}}, **kw)
    assert r.ok, [(x.asset, x.error, x.traceback) for x in r.results]
    assert proj.value("big_ones") == {"threshold": 4, "region": "eu"}
    assert proj.value("sales/monthly") == ["eu", []]
    assert proj.value("reader") == 40


def test_a_timed_asset_in_its_own_worker_gets_its_params(project):
    import os

    project.assetfile(TIMED)
    project.built(params={"timed": {"x": 2}})  # -j 1: a timed asset runs in a worker process
    x, pid = project.value("timed")
    assert x == 2 and pid != os.getpid()


def test_an_asset_with_outputs_gets_its_params(project):
    project.assetfile('''
        @asset(outputs=["out/a.txt"], params={"text": "hi"})
        def writes(context):
            context.out("out/a.txt").write_text(context.params["text"])
    ''')
    project.built(param_args=["writes.text=ho"])
    assert (project.root / "out/a.txt").read_text() == "ho"


# --- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, message", [
    ({"params": {"nope": {"x": 1}}}, "params=: there is no asset 'nope'"),
    ({"params": {"nope": {}}}, "params=: there is no asset 'nope'"),
    ({"params": {"big_one": {"threshold": 1}}}, "did you mean 'big_ones'?"),
    ({"params": {"plain": {"x": 1}}}, "params=: asset 'plain' declares no params"),
    ({"params": {"big_ones": {"thresh": 1}}}, "asset 'big_ones' has no param 'thresh' (declared: region, threshold)"),
    ({"params": {"big_ones": {"threshold": float("nan")}}}, "the value of big_ones.threshold is not JSON"),
    ({"params": {"big_ones": {"threshold": {1: 2}}}}, "the object key 1 is not a string"),
    ({"params": {"big_ones": {"threshold": object()}}}, "builtins.object"),
    ({"params": {"big_ones": 5}}, "the value for 'big_ones' must be a {key: value} dict"),
    ({"params": [("big_ones", {})]}, "params= must map asset names"),
    ({"param_args": ["big_ones.threshold"]}, "param_args item 'big_ones.threshold': use ASSET.KEY=VALUE"),
    ({"param_args": ["threshold=1"]}, "use ASSET.KEY=VALUE"),
    ({"param_args": ["raw.x=1"]}, "param_args item 'raw.x=1': there is no asset 'raw'"),
])
def test_bad_overrides_are_config_errors_that_run_nothing(proj, kw, message):
    with pytest.raises(ConfigError) as e:
        proj.build(**kw)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not proj.runs.exists()
    with pytest.raises(ConfigError):
        assetbuild.status(project_dir=proj.root, **kw)
    with pytest.raises(ConfigError):
        assetbuild.why("big_ones", project_dir=proj.root, **kw)


@pytest.mark.parametrize("table, message", [
    ('[tool.assetbuild.params.nope]\nx = 1\n', "[tool.assetbuild.params.nope]: there is no asset 'nope'"),
    ('[tool.assetbuild.params.big_ones]\nthreshold = nan\n', "[tool.assetbuild.params.big_ones]: the value of "
     "big_ones.threshold is not JSON: nan has no JSON form"),
    ('[tool.assetbuild.params.big_ones]\nthreshold = 2024-01-01\n', "datetime.date"),
    ('[tool.assetbuild.params."sales/monthly"]\nsize = 1\n',
     "[tool.assetbuild.params.\"sales/monthly\"]: asset 'sales/monthly' has no param 'size'"),
    ('[tool.assetbuild.params]\nbig_ones = 5\n', "[tool.assetbuild.params.big_ones] must be a table"),
    ('[tool.assetbuild]\nparams = 5\n', "[tool.assetbuild.params] must be a table of tables"),
    ('tool = "x"\n', "pyproject.toml: tool must be a table"),  # (was an AttributeError's traceback)
])
def test_bad_pyproject_tables_exit_2_with_one_line(proj, table, message):
    proj.write("pyproject.toml", table)
    with pytest.raises(ConfigError, match="pyproject.toml"):
        proj.build()
    r = cli("build", cwd=proj.root)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not proj.runs.exists()


@pytest.mark.parametrize("params, message", [
    ('{"x": object()}', "the default of param 'x' is not JSON: builtins.object"),
    ('{"x": float("inf")}', "the default of param 'x' is not JSON: inf has no JSON form"),
    ('{"x": {"k": {2}}}', "builtins.set {2} is not JSON"),
    ('[("x", 1)]', "params must be a dict of names to JSON defaults"),
    ('{"a.b": 1}', "param name 'a.b' must be a str of letters"),
    ('{1: 1}', "param name 1 must be a str"),
])
def test_declaration_errors_name_the_file_and_line(project, params, message):
    project.assetfile(f"\n\n@asset(params={params})\ndef a(context):\n    return 1\n")
    with pytest.raises(DefinitionError, match="not JSON|must be") as e:
        project.build()
    assert message in str(e.value) and "AssetFile:4" in str(e.value)
    r = cli("build", cwd=project.root)
    assert r.returncode == 2 and message in r.stderr and "AssetFile:4" in r.stderr and "Traceback" not in r.stderr


def test_defaults_are_copied_at_declaration(project):
    project.assetfile('''
        DEFAULTS = {"n": 1}

        @asset(io="json", params=DEFAULTS)
        def a(context):
            return context.params["n"]

        DEFAULTS["n"] = 2
    ''')
    project.built()
    assert project.value("a") == 1


# --- keys and reasons --------------------------------------------------------------------------

def test_keys_without_params_are_unchanged_and_params_change_the_key():
    base = KeyParts("c", {}, (("a", "1"),), "json@1", None)
    assert make_key("x", base) == make_key("x", KeyParts("c", {}, (("a", "1"),), "json@1", None, params=""))
    p3 = KeyParts("c", {}, (("a", "1"),), "json@1", None, params=canonical_json({"t": 3}))
    p5 = KeyParts("c", {}, (("a", "1"),), "json@1", None, params=canonical_json({"t": 5}))
    env = KeyParts("c", {}, (("a", "1"),), "json@1", None, env=(("params", canonical_json({"t": 3})),))
    assert len({make_key("x", k) for k in (base, p3, p5, env)}) == 4
    assert [(r.code, r.detail) for r in explain_change(p3, p5)] == [("params-changed", "t 3 -> 5")]
    one = KeyParts("c", {}, (), "json@1", None, params=canonical_json({"t": 3}))
    both = KeyParts("c", {}, (), "json@1", None, params=canonical_json({"t": 3, "u": "é"}))
    assert [r.detail for r in explain_change(one, both)] == ['u is newly declared ("é")']
    assert [r.detail for r in explain_change(both, KeyParts("c", {}, (), "json@1", None))] == \
        ["t is no longer declared (was 3)", 'u is no longer declared (was "é")']


def test_canonical_json_and_param_arguments():
    assert canonical_json({"b": 1.0, "a": [True, None, "ü"]}) == '{"a":[true,null,"ü"],"b":1.0}'
    assert parse_param_arg("sales/monthly.region=eu") == ("sales/monthly", "region", "eu")
    assert parse_param_arg("a.b.c=5") == ("a.b", "c", 5)
    assert parse_param_arg('a.x={"k": [1]}') == ("a", "x", {"k": [1]})
    assert parse_param_arg("a.x=x=y") == ("a", "x", "x=y")
    assert parse_param_arg("a.x=") == ("a", "x", "")
    assert parse_param_arg('a.x="5"') == ("a", "x", "5")
    assert parse_param_arg('a.x="NaN"') == ("a", "x", "NaN")  # the text NaN, quoted as JSON
    assert parse_param_arg("a.x=NaNa") == ("a", "x", "NaNa")  # not JSON: the string
    with pytest.raises(ConfigError, match="NaN has no JSON form"):  # JSON but for its number, as 1e999
        parse_param_arg("a.x=NaN")


def test_reasons_when_keys_are_added_or_removed_from_the_declaration(proj):
    proj.built()
    text = (proj.root / "AssetFile").read_text()
    proj.write("AssetFile", text.replace('params={"threshold": 3, "region": "eu"}',
                                         'params={"threshold": 3, "limit": 10}'), dedent=False)
    assert reasons(proj, "big_ones") == [("params-changed", "limit is newly declared (10)"),
                                         ("params-changed", 'region is no longer declared (was "eu")')]


def test_a_default_edited_in_the_assetfile_is_a_params_change_not_a_code_change(proj):
    proj.built()
    text = (proj.root / "AssetFile").read_text()
    proj.write("AssetFile", text.replace('"threshold": 3,', '"threshold": 4,'), dedent=False)
    assert reasons(proj, "big_ones") == [("params-changed", "threshold 3 -> 4")]
    assert sorted(proj.built()) == ["big_ones", "reader"]


# --- the command line --------------------------------------------------------------------------

def test_param_on_build_dry_run_status_and_why(proj):
    env = clean_env()
    r = cli("build", cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    r = cli("status", "--param", "big_ones.threshold=5", cwd=proj.root, env=env)
    assert r.returncode == 0 and "params-changed: threshold 3 -> 5" in r.stdout, r.stdout + r.stderr
    r = cli("-n", "--param", "big_ones.threshold=5", cwd=proj.root, env=env)
    assert r.returncode == 0 and "params-changed: threshold 3 -> 5" in r.stdout, r.stdout + r.stderr
    r = cli("why", "big_ones", "--param", "big_ones.threshold=5", "--param", "big_ones.region=us",
            cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    assert "params-changed: region \"eu\" -> \"us\"" in r.stdout
    assert "params-changed: threshold 3 -> 5" in r.stdout
    r = cli("why", "big_ones", "--json", "--param", "big_ones.threshold=5", cwd=proj.root, env=env)
    info = json.loads(r.stdout)
    assert info["params"] == {"threshold": 5, "region": "eu"}
    assert info["old_params"] == {"threshold": 3, "region": "eu"}
    assert info["reasons"] == [{"code": "params-changed", "detail": "threshold 3 -> 5"}]
    # before and after the command name, repeatable; the asset name holds a '/'
    r = cli("--param", "big_ones.threshold=5", "build", "--param", "sales/monthly.region=us", "--json",
            cwd=proj.root, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(x["asset"] for x in json.loads(r.stdout)["results"] if x["status"] == "built") == \
        ["big_ones", "reader", "sales/monthly"]
    assert proj.value("sales/monthly") == ["us", [1, 2]]
    r = cli("--param", "big_ones.threshold=5", "--param", "sales/monthly.region=us", cwd=proj.root, env=env)
    assert r.returncode == 0 and "0 built" in r.stdout + r.stderr, r.stdout + r.stderr
    r = cli("why", "big_ones", cwd=proj.root, env=env)  # the defaults again: built before, stored
    assert "big_ones: stale" in r.stdout and "stored-before: " in r.stdout and "params-changed" not in r.stdout
    r = cli("why", "big_ones", "--param", "big_ones.threshold=6", cwd=proj.root, env=env)
    assert "params-changed: threshold 5 -> 6" in r.stdout


@pytest.mark.parametrize("arg, message", [
    ("nope.x=1", "--param 'nope.x=1': there is no asset 'nope'"),
    ("plain.x=1", "--param 'plain.x=1': asset 'plain' declares no params"),
    ("big_ones.x=1", "--param 'big_ones.x=1': asset 'big_ones' has no param 'x'"),
    ("big_ones=1", "--param 'big_ones=1': use ASSET.KEY=VALUE"),
    # JSON in form with a number JSON has none of, as README says: not taken as the text "NaN"
    ("big_ones.threshold=NaN", "--param 'big_ones.threshold=NaN': the value is not JSON: NaN has no JSON form"),
    ("big_ones.threshold=[1, -Infinity]", "the value is not JSON: -Infinity has no JSON form"),
    ("big_ones.threshold=1e999", "the value of big_ones.threshold is not JSON: inf has no JSON form"),
    # half of a character: it was taken, then status, why and log printed it with a traceback
    ('big_ones.threshold="a\\ud800"', "is not JSON: 'a\\ud800' is not Unicode text (it holds a lone surrogate)"),
    ('big_ones.threshold={"\\udfff": 1}', "'\\udfff' is not Unicode text"),
])
@pytest.mark.parametrize("command", [["build"], ["-n"], ["status"], ["why", "big_ones"]])
def test_bad_param_exits_2_with_one_line(proj, arg, message, command):
    r = cli(*command, "--param", arg, cwd=proj.root)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == f"assetbuild: error: {message}" or (
        message in r.stderr and len(r.stderr.strip().splitlines()) == 1), r.stderr
    assert not proj.runs.exists()


def test_pyproject_table_with_a_quoted_namespaced_name_and_list_json(proj):
    pyproject(proj, """
        [tool.assetbuild.params."sales/monthly"]
        region = "us"
        rows = [4, 5]

        [tool.assetbuild.params.big_ones]
        threshold = 5
    """)
    r = cli("build", cwd=proj.root)
    assert r.returncode == 0, r.stderr
    assert proj.value("sales/monthly") == ["us", [4, 5]]
    r = cli("list", "--json", cwd=proj.root)
    rows = {a["name"]: a for a in json.loads(r.stdout)["assets"]}
    assert rows["sales/monthly"]["params"] == {"region": "us", "rows": [4, 5]}
    assert rows["big_ones"]["params"] == {"threshold": 5, "region": "eu"}
    assert rows["plain"]["params"] == {}
    r = cli("graph", "--format", "json", cwd=proj.root)
    assert r.returncode == 0, r.stderr
    r = cli("status", cwd=proj.root)
    assert r.returncode == 0 and "stale" not in r.stdout, r.stdout


def test_watch_builds_with_the_params_given(proj):
    stop = threading.Event()
    seen = []

    def on_cycle(c):
        seen.append(c)
        stop.set()

    summary = assetbuild.watch_project(project_dir=proj.root, stop=stop, on_cycle=on_cycle,
                                       params={"big_ones": {"threshold": 6}}, param_args=["big_ones.region=us"])
    assert summary.builds == 1 and seen[0].error is None and seen[0].result.ok
    assert proj.value("big_ones") == {"threshold": 6, "region": "us"}


def test_watch_on_the_command_line_takes_param(proj):
    proc = subprocess.Popen(cli_cmd("watch", "--json", "--debounce", "30", "--param", "big_ones.threshold=8"),
                            cwd=proj.root, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip(), proc.stderr.read() if proc.poll() is not None else "no line"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert proj.value("big_ones") == {"threshold": 8, "region": "eu"}


def test_cache_export_and_import_carry_params_and_accept_older_exports(proj, tmp_path):
    import io
    import tarfile

    assert cli("build", "--param", "big_ones.threshold=5", cwd=proj.root).returncode == 0
    archive = tmp_path / "a.tar"
    r = cli("cache", "export", str(archive), cwd=proj.root)
    assert r.returncode == 0, r.stderr
    # an export made before params= existed has no "params" in its heads: it still imports
    old = tmp_path / "old.tar"
    seen = []
    with tarfile.open(archive) as src, tarfile.open(old, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if data is not None and m.name.endswith(".json"):
                doc = json.loads(data)
                for e in doc.get("entries", []):
                    seen.append(e["asset"])
                    if e["asset"] == "big_ones":
                        assert json.loads(e["head"]["params"]) == {"threshold": 5, "region": "eu"}
                    e["head"].pop("params")
                data = json.dumps(doc).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    assert "big_ones" in seen
    for src_archive in (archive, old):
        fresh = tmp_path / ("cache-" + src_archive.stem)
        r = cli("cache", "import", str(src_archive), "--json", cwd=proj.root,
                env=clean_env(ASSETBUILD_CACHE_DIR=str(fresh)))
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["skipped"] == 0 and summary["heads_added"] == len(seen), summary
    r = cli("why", "big_ones", cwd=proj.root, env=clean_env(ASSETBUILD_CACHE_DIR=str(tmp_path / "cache-a")))
    assert "params-changed: threshold 5 -> 3" in r.stdout, r.stdout + r.stderr
    r = cli("status", "--param", "big_ones.threshold=5", cwd=proj.root,
            env=clean_env(ASSETBUILD_CACHE_DIR=str(tmp_path / "cache-a")))
    assert "stale" not in r.stdout, r.stdout


def test_an_import_with_a_bad_params_record_is_skipped(proj, tmp_path):
    import io
    import tarfile

    assert cli("build", cwd=proj.root).returncode == 0
    archive, bad = tmp_path / "a.tar", tmp_path / "bad.tar"
    assert cli("cache", "export", str(archive), cwd=proj.root).returncode == 0
    with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if data is not None and m.name.endswith(".json"):
                doc = json.loads(data)
                for e in doc.get("entries", []):
                    if e["asset"] == "big_ones":
                        e["head"]["params"] = "[not an object"
                data = json.dumps(doc).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    r = cli("cache", "import", str(bad), "--json", cwd=proj.root,
            env=clean_env(ASSETBUILD_CACHE_DIR=str(tmp_path / "c")))
    assert r.returncode in (0, 1), r.stderr
    assert json.loads(r.stdout)["skipped"] == 1


def test_help_names_param():
    r = subprocess.run([sys.executable, "-m", "assetbuild", "build", "--help"], capture_output=True, text=True)
    assert "--param ASSET.KEY=VALUE" in r.stdout
    for command in ("status", "why", "watch"):
        r = subprocess.run([sys.executable, "-m", "assetbuild", command, "--help"], capture_output=True, text=True)
        assert "--param" in r.stdout, command
