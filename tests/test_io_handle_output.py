"""IO managers that write their data somewhere real (``handle_output``/``load_input``/``version``):
a file-tree manager, installed here as a real plugin (an entry point of group ``assetbuild``),
writes a dict {path: text} as files under ``trees/<asset>/``. The cache keeps only a record;
early cutoff uses the manager's data version; data changed or deleted outside assetbuild makes
the asset stale and reruns it; worker processes call the manager themselves; a remote cache or
an imported archive restores a build only where the data is already in place."""

from __future__ import annotations

import json
import os
import shutil
import textwrap

import pytest
from projects import Project, clean_env, cli

import assetbuild

TREEIO = '''
"""A file-tree IO manager: io="tree" writes a dict {relative path: text} under trees/<asset>/."""

import hashlib
import os
import shutil

import assetbuild
from assetbuild import OutputInfo


def _digest(files):
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\\0" + files[rel].encode() + b"\\0")
    return h.hexdigest()


def _read(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, encoding="utf-8") as f:
                files[os.path.relpath(p, root).replace(os.sep, "/")] = f.read()
    return files


class FileTree:
    name = "tree"
    io_version = "1"

    def _root(self, context):
        return context.project_dir / "trees" / context.asset.replace("/", "__")

    def location(self, asset):
        return "the directory trees/" + asset.replace("/", "__")

    def check_config(self, project_dir):
        conf = project_dir / "trees.conf"
        if conf.is_file() and conf.read_text() == "bad":
            raise assetbuild.ConfigError(f"{conf}: root must be a directory name")
        if conf.is_file() and conf.read_text() == "bug":
            raise KeyError("oops")

    def handle_output(self, context, value):
        root = self._root(context)
        shutil.rmtree(root, ignore_errors=True)
        for rel, text in value.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        context.log.info("wrote %d files", len(value))
        meta = {"pid": os.getpid(), "params": dict(context.params), "partition": context.partition}
        if "suffix" in context.resources:
            meta["suffix"] = context.resources["suffix"]
        context.add_metadata(meta)
        return OutputInfo(_digest(value), metadata={"files": len(value)})

    def load_input(self, context):
        root = self._root(context)
        if not root.is_dir():
            raise FileNotFoundError(f"the directory {root} is gone")
        files = _read(root)
        if os.environ.get("TREEIO_PIDS"):
            with open(os.environ["TREEIO_PIDS"], "a") as f:
                f.write(f"{context.reader} {os.getpid()}\\n")
        return files

    def version(self, context):
        root = self._root(context)
        return _digest(_read(root)) if root.is_dir() else None


@assetbuild.hookimpl
def register_io_managers():
    return [FileTree()]
'''

ASSETFILE = """\
from assetbuild import asset, source, Output

pages = source("pages", "pages.txt")


@asset(io="tree", params={"lang": "en"})
def site(pages, context):
    return {f"{n}.html": f"<h1>{n}</h1>" for n in pages.read_text().split()}


@asset(io="json")
def index(site):
    return sorted(site)
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The manager as an installed plugin (entry point of group assetbuild) on sys.path, so worker
    processes load it too; the environment a subprocess needs to see it."""
    site = tmp_path / "site"
    (site / "treeio-0.1.dist-info").mkdir(parents=True)
    (site / "treeio-0.1.dist-info" / "entry_points.txt").write_text("[assetbuild]\ntree = treeio\n")
    (site / "treeio.py").write_text(TREEIO)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    env = clean_env(PYTHONPATH=os.pathsep.join(filter(None, (str(site), os.environ.get("PYTHONPATH")))))
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    return env


@pytest.fixture
def proj(project: Project, plugin) -> Project:
    project.write("pages.txt", "a b\n")
    project.write("AssetFile", ASSETFILE)
    return project


def _result(r, name):
    return next(x for x in r.results if x.asset == name)


def test_the_data_lives_where_the_manager_writes_it_and_the_cache_keeps_a_record(proj):
    r = proj.build()
    assert r.ok and r.names("built") == ["site", "index"], [(x.asset, x.error) for x in r.results]
    assert (proj.root / "trees/site/a.html").read_text() == "<h1>a</h1>"
    site = _result(r, "site")
    assert site.metadata["files"] == 2 and site.metadata["params"] == {"lang": "en"}
    assert site.metadata["partition"] is None
    assert any("wrote 2 files" in text for _, text in site.logs)
    assert proj.value("index") == ["a.html", "b.html"]
    assert proj.value("site") == {"a.html": "<h1>a</h1>", "b.html": "<h1>b</h1>"}  # load_input
    blobs = [p for p in (proj.root / ".assetbuild").rglob("*") if p.is_file() and b"<h1>a</h1>" in p.read_bytes()]
    assert blobs == [], "the data itself must not be in the cache"
    assert proj.build().names("built") == []  # a null build


def test_early_cutoff_uses_the_managers_data_version(proj):
    proj.built()
    proj.write("AssetFile", ASSETFILE.replace('return {f"{n}.html"', 'pages = pages\n    return {f"{n}.html"'))
    r = proj.build()
    assert r.names("built") == ["site"] and r.names("cached") == ["index"]
    proj.write("pages.txt", "a b c\n")
    assert proj.built() == ["site", "index"]


def test_data_changed_outside_assetbuild_reruns_the_asset(proj):
    proj.built()
    (proj.root / "trees/site/a.html").write_text("<h1>edited</h1>")
    st = proj.status()
    assert st["site"].state == "stale"
    assert [x.code for x in st["site"].reasons] == ["output-modified"]
    assert [x.code for x in st["index"].reasons] == ["upstream-changed"]  # only if its data changes
    r = proj.build()
    assert r.names("built") == ["site"] and r.names("cached") == ["index"]  # same data again: cutoff
    assert (proj.root / "trees/site/a.html").read_text() == "<h1>a</h1>"
    assert proj.build().names("built") == []


def test_data_gone_is_output_missing_and_reruns(proj):
    proj.built()
    shutil.rmtree(proj.root / "trees")
    st = proj.status()
    assert st["site"].state == "stale" and [x.code for x in st["site"].reasons] == ["output-missing"]
    r = proj.build(dry_run=True)
    assert _result(r, "site").metadata["would"] == "run"
    assert proj.built() == ["site"]
    assert (proj.root / "trees/site/b.html").is_file()


def test_inputs_back_to_an_earlier_build_name_what_changed_not_an_edit(proj):
    """Inputs back to an earlier build's: the data in place is what the latest build wrote,
    not the earlier key's. It runs (the cache has no copy to restore), and the reason is what
    changed in the key, as for a path output: not "changed outside assetbuild", which nobody did."""
    proj.built()
    proj.write("pages.txt", "a b c\n")
    assert proj.built() == ["site", "index"]
    proj.write("pages.txt", "a b\n")
    st = proj.status()
    assert st["site"].state == "stale" and [x.code for x in st["site"].reasons] == ["source-changed"]
    assert [x["code"] for x in assetbuild.why("site", project_dir=proj.root)["reasons"]] == ["source-changed"]
    r = proj.build(dry_run=True)
    assert _result(r, "site").metadata["would"] == "run"
    assert [x.code for x in _result(r, "site").reasons] == ["source-changed"]
    r = proj.build()
    assert r.names("built") == ["site"] and r.names("restored") == ["index"]
    assert [x.code for x in _result(r, "site").reasons] == ["source-changed"]
    assert proj.value("index") == ["a.html", "b.html"]
    (proj.root / "trees/site/a.html").write_text("<h1>edited</h1>")  # an edit still is one
    assert [x.code for x in proj.status()["site"].reasons] == ["output-modified"]


@pytest.mark.parametrize("change", ["edited", "gone"])
def test_show_of_data_not_as_recorded_says_so_in_one_line(proj, plugin, change):
    """The cache holds a record of the data, not the data: ``show`` (and ``--version 0``,
    ``load_value``) of data edited or deleted where the manager keeps it would give the edit as
    the recorded value, or the manager's error as a traceback. It says so, exit status 1."""
    proj.built()
    if change == "edited":
        (proj.root / "trees/site/a.html").write_text("<h1>edited</h1>")
        said = "its data where io='tree' keeps it was changed outside assetbuild"
    else:
        shutil.rmtree(proj.root / "trees")
        said = "its data is gone from where io='tree' keeps it"
    for kw in ({}, {"version": 0}):
        warned: list[str] = []
        with pytest.raises(assetbuild.VersionGone, match=said) as e:
            assetbuild.load_value("site", project_dir=proj.root, warn=warned.append, **kw)
        assert "(assetbuild build site rebuilds it)" in str(e.value) and warned == []
    for args in (["show", "site"], ["show", "site", "--version", "0"]):
        out = cli(*args, cwd=proj.root, env=plugin)
        assert out.returncode == 1 and said in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and "last good value" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and out.stdout == ""
    out = cli("show", "site", "--json", cwd=proj.root, env=plugin)
    assert out.returncode == 1 and said in json.loads(out.stdout)["error"], out.stdout + out.stderr
    assert proj.built() == ["site"]
    assert proj.value("site")["a.html"] == "<h1>a</h1>"


def test_a_manager_that_cannot_load_its_data_fails_show_in_one_line(project, plugin, tmp_path):
    site = tmp_path / "site"
    (site / "losttree-0.1.dist-info").mkdir()
    (site / "losttree-0.1.dist-info" / "entry_points.txt").write_text("[assetbuild]\nlosttree = losttree\n")
    lost = TREEIO.replace("files = _read(root)", "raise FileNotFoundError('no such tree')")
    assert lost != TREEIO
    (site / "losttree.py").write_text(lost.replace('name = "tree"', 'name = "losttree"'))
    project.write("AssetFile", 'from assetbuild import asset\n\n@asset(io="losttree")\ndef site():\n'
                  '    return {"a": "x"}\n')
    assert project.built() == ["site"]
    with pytest.raises(assetbuild.VersionGone, match="the stored value of 'site' cannot be loaded by io='losttree': "
                                                     "FileNotFoundError: no such tree"):
        project.value("site")
    out = cli("show", "site", "--version", "0", cwd=project.root, env=plugin)
    assert out.returncode == 1 and "version 0 of 'site' cannot be loaded by io='losttree'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_the_cli_status_names_the_change(proj, plugin):
    assert cli("build", cwd=proj.root, env=plugin).returncode == 0
    (proj.root / "trees/site/b.html").unlink()
    out = cli("status", cwd=proj.root, env=plugin)
    line = next(x for x in out.stdout.splitlines() if x.split()[:1] == ["stale"])
    assert "site" in line and "output-modified" in line, out.stdout + out.stderr


def test_the_command_never_answers_from_the_snapshot_for_data_outside_the_cache(proj, plugin):
    """The snapshot proves a null build from the files it stats: data a manager keeps elsewhere
    (a table, these trees) it cannot see, so such a project takes the full path every build."""
    for _ in range(3):  # a build, then null builds that a snapshot would answer
        assert cli("build", cwd=proj.root, env=plugin).returncode == 0
    r = cli("build", cwd=proj.root, env={**plugin, "ASSETBUILD_SNAPSHOT": "explain"})
    assert "keeps its data outside the cache (io 'tree')" in r.stderr, r.stderr
    (proj.root / "trees/site/a.html").write_text("<h1>edited</h1>")
    out = cli("status", cwd=proj.root, env=plugin)
    assert any(x.split()[:2] == ["stale", "site"] for x in out.stdout.splitlines()), out.stdout
    r = cli("build", cwd=proj.root, env=plugin)
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert (proj.root / "trees/site/a.html").read_text() == "<h1>a</h1>"


def test_worker_processes_call_the_manager_themselves(proj, tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    monkeypatch.setenv("TREEIO_PIDS", str(pids))
    r = proj.build(jobs=2, executor="processes")
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert _result(r, "site").metadata["pid"] != os.getpid()  # handle_output ran in the worker
    reader, pid = pids.read_text().split()
    assert reader == "index" and int(pid) != os.getpid()  # load_input too


def test_resources_reach_the_managers_context(project, plugin):
    project.write("pages.txt", "a\n")
    project.write("AssetFile", ASSETFILE.replace("from assetbuild import asset, source, Output",
                                                 "from assetbuild import asset, source, Output, resource\n\n"
                                                 "@resource\ndef suffix():\n    return '-x'\n"))
    r = project.build()
    assert r.ok and _result(r, "site").metadata["suffix"] == "-x"
    r = project.build(resources={"suffix": "-override"}, force=True)
    assert _result(r, "site").metadata["suffix"] == "-override"


def test_output_with_a_data_version_is_refused(project, plugin):
    project.write("AssetFile", textwrap.dedent("""\
        from assetbuild import asset, Output

        @asset(io="tree")
        def site():
            return Output({"a": "x"}, data_version="v1")
    """))
    r = project.build()
    assert not r.ok
    assert "gives the data version of what it writes" in _result(r, "site").error


def test_handle_output_must_return_an_output_info(project, plugin, tmp_path):
    site = tmp_path / "site"
    (site / "badtree-0.1.dist-info").mkdir()
    (site / "badtree-0.1.dist-info" / "entry_points.txt").write_text("[assetbuild]\nbadtree = badtree\n")
    bad = TREEIO.replace('return OutputInfo(_digest(value), metadata={"files": len(value)})', "return _digest(value)")
    (site / "badtree.py").write_text(bad.replace('name = "tree"', 'name = "badtree"'))
    project.write("AssetFile", 'from assetbuild import asset\n\n@asset(io="badtree")\ndef site():\n'
                  '    return {"a": "x"}\n')
    r = project.build()
    assert not r.ok and "not an OutputInfo" in _result(r, "site").error


def test_path_with_such_a_manager_is_a_definition_error(project, plugin):
    project.write("AssetFile", 'from assetbuild import asset\n\n@asset(io="tree", path="out/x")\ndef site():\n'
                  '    return {}\n')
    with pytest.raises(assetbuild.DefinitionError, match="writes its data itself"):
        project.build()
    out = cli("build", cwd=project.root, env=plugin)
    assert out.returncode == 2 and "AssetFile:3" in out.stderr and "Traceback" not in out.stderr


def test_two_assets_the_manager_keeps_in_one_place_are_a_definition_error(project, plugin):
    """The manager's ``location``: ``a/b`` and ``a__b`` would write one directory, each
    overwriting the other's data."""
    project.write("AssetFile", 'from assetbuild import asset\n\n@asset(io="tree", name="a/b")\ndef one():\n'
                  '    return {}\n\n@asset(io="tree", name="a__b")\ndef two():\n    return {}\n')
    with pytest.raises(assetbuild.DefinitionError, match=r"AssetFile:7: assets 'a/b' and 'a__b' both keep their data "
                                                         r"in the directory trees/a__b \(io='tree'\): one would "
                                                         "overwrite the other's; rename one of them$"):
        project.build()
    out = cli("build", cwd=project.root, env=plugin)
    assert out.returncode == 2 and "AssetFile:7: assets 'a/b' and 'a__b'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_bad_setting_of_the_manager_is_a_config_error_before_anything_runs(proj, plugin):
    """The manager's ``check_config(project_dir)``: a bad setting ends the command (exit 2, one
    line) before any asset runs, not each asset failing to write after its work; a bug in the
    check is the plugin's, named."""
    proj.write("trees.conf", "bad")
    with pytest.raises(assetbuild.ConfigError, match=r"trees.conf: root must be a directory name$"):
        proj.build()
    for verb in ("build", "status"):
        out = cli(verb, cwd=proj.root, env=plugin)
        assert out.returncode == 2 and out.stderr.strip().endswith("trees.conf: root must be a directory name"), out
        assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1
    assert not (proj.root / "trees").exists()  # site never ran
    proj.write("trees.conf", "bug")
    with pytest.raises(assetbuild.PluginError, match=r"IO manager 'tree': check_config\(\) failed: KeyError"):
        proj.build()
    proj.write("trees.conf", "good")
    assert sorted(proj.build().names("built")) == ["index", "site"]


def test_an_out_of_a_multi_asset_with_such_a_manager_is_a_definition_error(project, plugin):
    project.write("AssetFile", 'from assetbuild import Out, multi_asset\n\n'
                  '@multi_asset(outs={"site": Out(io="tree"), "n": Out(io="json")})\ndef split():\n'
                  '    return {}, 1\n')
    with pytest.raises(assetbuild.DefinitionError, match="outs of a multi-asset cannot do yet"):
        project.build()
    out = cli("build", cwd=project.root, env=plugin)
    assert out.returncode == 2 and "AssetFile:3" in out.stderr and "Traceback" not in out.stderr


def test_a_remote_hit_restores_only_where_the_data_is(proj, tmp_path):
    remote = str(tmp_path / "remote")
    assert proj.build(remote=remote, trust_remote_unsigned=True).ok
    elsewhere = Project(tmp_path / "elsewhere")
    shutil.copytree(proj.root, elsewhere.root, ignore=shutil.ignore_patterns(".assetbuild", "trees"))
    r = elsewhere.build(remote=remote, trust_remote_unsigned=True)
    # the record alone cannot restore the files: the asset runs; its reader, same data, is restored
    assert r.ok and r.names("built") == ["site"] and r.names("restored") == ["index"]
    assert (elsewhere.root / "trees/site/a.html").is_file()
    third = Project(tmp_path / "third")  # the data is in place (a shared location): a remote hit
    shutil.copytree(proj.root, third.root, ignore=shutil.ignore_patterns(".assetbuild"))
    r = third.build(remote=remote, trust_remote_unsigned=True)
    assert r.ok and r.names("built") == [] and sorted(r.names("restored")) == ["index", "site"]


def test_an_imported_archive_reruns_what_is_not_in_place(proj, tmp_path):
    proj.built()
    archive = tmp_path / "cache.tar"
    assetbuild.export_cache(archive, project_dir=proj.root)
    elsewhere = Project(tmp_path / "elsewhere")
    shutil.copytree(proj.root, elsewhere.root, ignore=shutil.ignore_patterns(".assetbuild", "trees"))
    assetbuild.import_cache(archive, project_dir=elsewhere.root)
    assert [x.code for x in elsewhere.status()["site"].reasons] == ["output-missing"]
    r = elsewhere.build()
    assert r.names("built") == ["site"] and r.names("cached") == ["index"]


def test_a_manager_with_handle_output_needs_load_input_and_io_version():
    from assetbuild.plugins import collect_io_managers, get_plugin_manager

    class NoKeyVersion:
        name = "nokey"
        version = "1"  # the key version of such a manager is io_version: version is its check

        def handle_output(self, context, value):
            return assetbuild.OutputInfo("x")

        def load_input(self, context):
            return None

    class Plugin:
        @assetbuild.hookimpl
        def register_io_managers(self):
            return [NoKeyVersion()]

    pm = get_plugin_manager(autoload=False)
    pm.register(Plugin())
    with pytest.raises(assetbuild.PluginError, match="io_version"):
        collect_io_managers(pm)


def _cli_env(plugin):
    """The plugin's environment, keeping the PYTHONPATH this run has (a worktree's ``src``)."""
    return dict(plugin, PYTHONPATH=os.pathsep.join(filter(None, (plugin["PYTHONPATH"], os.environ.get("PYTHONPATH")))))


SKIPPING = """\
from assetbuild import Skip, asset, source

n = source("n", "n.txt")


@asset(io="tree", output_required=False)
def val(n):
    k = int(n.read_text())
    if k % 2:
        return Skip("odd")
    return {"n.txt": str(k)}


@asset(io="json")
def twice(val):
    return int(val["n.txt"]) * 2
"""


def test_a_skip_whose_previous_data_is_gone_skips_its_readers_as_with_no_value(project, plugin):
    """The previous value a skip keeps current is data the manager keeps elsewhere, deleted by
    hand: the cache cannot restore it, so the asset has no usable value, and its readers are
    skipped with ``no-output``: no failure. Its reader that had to run "failed" instead ("not
    run: asset 'val' failed: failed", exit 1 though nothing failed), after a repair that ran
    'val' again and reported its skip twice."""
    project.write("n.txt", "2")
    project.write("AssetFile", SKIPPING)
    assert project.built() == ["val", "twice"]
    project.write("n.txt", "3")
    assert project.build().by_asset() == {"val": "skipped", "twice": "cached"}
    shutil.rmtree(project.root / "trees")
    reasons = [(x.code, x.detail) for x in project.status()["val"].reasons]
    assert ("output-missing", "its data is gone from where io='tree' keeps it") in reasons, reasons
    project.write("AssetFile", SKIPPING.replace("* 2", "* 3"))  # twice must run
    env = _cli_env(plugin)
    out = cli(cwd=project.root, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert [x for x in lines if "val" in x.split()[1:2]] == ["skipped   val  (odd)"], out.stdout
    assert "skipped   twice  (upstream 'val' produced no output)" in lines, out.stdout
    assert "0 built, 0 cached, 0 restored, 0 failed, 2 skipped" in out.stdout
    assert out.stderr.count("warning: ") == 1 and "'val' returned Skip, and its previous value cannot be used " \
        "(output-missing: its data is gone from where io='tree' keeps it)" in out.stderr, out.stderr
    out = cli("--json", cwd=project.root, env=env)
    doc = json.loads(out.stdout)
    assert out.returncode == 0 and doc["ok"] is True, out.stdout + out.stderr
    res = {x["asset"]: x for x in doc["results"]}
    assert (res["val"]["status"], res["val"]["skip_reason"], res["val"]["data_version"]) == ("skipped", "odd", None)
    assert (res["twice"]["status"], res["twice"]["skip_reason"]) == ("skipped", "upstream 'val' produced no output")
    project.write("n.txt", "4")  # a value again: its readers run on it
    assert project.built() == ["val", "twice"] and project.value("twice") == 12


CHAIN = """\
from pathlib import Path

from assetbuild import asset


@asset(io="tree")
def orders():
    return {"o.txt": "5 20 30"}


@asset(io="tree", deps=["orders"])
def big():  # reads the data of orders where it is, as a query of a table does
    orders = (Path(__file__).parent / "trees/orders/o.txt").read_text()
    return {"b.txt": " ".join(x for x in orders.split() if int(x) > 10)}


@asset(io="json")
def report(big):
    return sorted(big)
"""


def test_only_rebuilds_an_unusable_input_from_the_stored_values_of_its_own(project, plugin):
    """``build --only --force report`` once the data of ``big`` (outside the plan) and of its own
    input are gone: ``big`` is built again (its stored value does not load), on the stored value
    of ``orders``, as ``--only`` takes every outside input's, and that value is checked as a
    build checks a reused one: its data gone, ``orders`` is built again first. ``big`` was
    decided with ``orders`` never decided, and the command died of an AssertionError ("a
    decision without a key"); ``--json`` printed nothing. And what was built again counts: in
    the results, the summary, ``--json`` and the run's record; ``big`` was printed ``built``
    and counted nowhere."""
    project.write("AssetFile", CHAIN)
    assert project.built() == ["orders", "big", "report"]
    shutil.rmtree(project.root / "trees")
    r = project.build("report", only=True, force=True)
    assert r.ok and r.by_asset() == {"orders": "built", "big": "built", "report": "built"}, \
        [(x.asset, x.error) for x in r.results]
    assert assetbuild.list_runs(project_dir=project.root)[0]["counts"] == {"built": 3}
    assert project.value("report") == ["b.txt"] and project.value("big") == {"b.txt": "20 30"}
    env = _cli_env(plugin)
    shutil.rmtree(project.root / "trees")
    out = cli("--only", "--force", "report", cwd=project.root, env=env)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stdout + out.stderr
    assert "built     big" in out.stdout and "3 built, 0 cached, 0 restored, 0 failed, 0 skipped" in out.stdout
    assert "warning: the stored output of 'big' could not be used (output-missing: its data is gone from where " \
        "io='tree' keeps it); rebuilding it" in out.stderr, out.stderr  # checked before any reader loads it
    assert "warning: the stored output of 'orders' could not be used (output-missing: its data is gone from where " \
        "io='tree' keeps it); rebuilding it" in out.stderr, out.stderr
    shutil.rmtree(project.root / "trees")
    out = cli("--only", "--force", "report", "--json", cwd=project.root, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [(x["asset"], x["status"]) for x in json.loads(out.stdout)["results"]] == [
        ("orders", "built"), ("big", "built"), ("report", "built")]
    assert assetbuild.list_runs(project_dir=project.root)[0]["counts"] == {"built": 3}


def test_only_rebuilds_an_unusable_input_whose_own_input_it_loads_is_gone(project, plugin):
    """The same, with ``big`` loading ``orders``: its rerun finds ``orders`` unusable too, which
    is built again in turn, and then ``big`` is decided again and runs."""
    project.write("AssetFile", CHAIN.replace('deps=["orders"])\ndef big():', ')\ndef big(orders):')
                  .replace('orders = (Path(__file__).parent / "trees/orders/o.txt").read_text()',
                           'orders = orders["o.txt"]'))
    assert project.built() == ["orders", "big", "report"]
    shutil.rmtree(project.root / "trees")
    r = project.build("report", only=True, force=True)
    assert r.ok and r.by_asset() == {"orders": "built", "big": "built", "report": "built"}, \
        [(x.asset, x.error) for x in r.results]
    assert assetbuild.list_runs(project_dir=project.root)[0]["counts"] == {"built": 3}


def test_only_builds_again_an_input_whose_data_was_edited_where_its_manager_keeps_it(proj):
    """``--only index`` with the data of ``site`` edited by hand where its manager keeps it:
    ``site`` is built again first, as when its data is gone, and -n says so. ``index`` read the
    edit under the recorded version's key; the next full build rebuilt ``site`` back to those
    bytes and kept ``index``, which listed a page that no longer exists."""
    proj.built()
    (proj.root / "trees/site/z.html").write_text("<h1>z</h1>")
    r = proj.build("index", only=True, force=True, dry_run=True)
    assert [(x.asset, x.metadata.get("would"), [c.code for c in x.reasons]) for x in r.results] == [
        ("site", "run", ["output-modified"]), ("index", "run", ["forced"])]
    r = proj.build("index", only=True, force=True)
    assert r.ok and r.by_asset() == {"site": "built", "index": "built"}, [(x.asset, x.error) for x in r.results]
    assert proj.value("index") == ["a.html", "b.html"] and not (proj.root / "trees/site/z.html").exists()
    assert proj.build().names("built") == []


def test_a_managers_failure_is_one_line_and_its_traceback_is_for_v(project, plugin):
    """A value the manager cannot write (its own code raises, none of the project's code on the
    way): the error line names the asset, the manager and the error; the traceback, through
    assetbuild and the plugin only, was printed too, a screen of internals for a user mistake.
    It is kept for -v (and in the run's history)."""
    project.write("AssetFile", 'from assetbuild import asset\n\n\n@asset(io="tree")\ndef site():\n    return ["a.html"]\n')
    quiet = cli("build", cwd=project.root, env=plugin)
    assert quiet.returncode == 1, quiet.stderr
    assert "FAILED    site: cannot store its value (builtins.list) with io='tree': AttributeError" in quiet.stderr
    assert "Traceback" not in quiet.stderr and "treeio.py" not in quiet.stderr, quiet.stderr
    verbose = cli("build", "-v", cwd=project.root, env=plugin)
    assert verbose.returncode == 1 and "treeio.py" in verbose.stderr and "Traceback" in verbose.stderr, verbose.stderr


def test_its_data_gone_while_an_upstream_is_stale_makes_it_certain_to_run(project, plugin):
    """The data a manager keeps outside the cache, deleted while an upstream is stale: -n said
    the asset "may run" (only if that upstream's output changes); nothing can restore such data,
    so it runs whatever that output is, and -n says so."""
    project.write("pages.txt", "a b\n")
    project.write("AssetFile", 'from assetbuild import asset, source\n\npages = source("pages", "pages.txt")\n\n\n'
                  '@asset(io="json")\ndef words(pages):\n    return pages.read_text().split()\n\n\n'
                  '@asset(io="tree")\ndef site(words):\n    return {f"{n}.html": n for n in words}\n')
    assert project.built() == ["words", "site"]
    project.write("pages.txt", "a  b\n")  # (the same words: the upstream's output stays)
    shutil.rmtree(project.root / "trees")
    dry = assetbuild.build(dry_run=True, project_dir=project.root)
    assert {r.asset: r.metadata.get("would") for r in dry.results} == {"words": "run", "site": "run"}
    assert [r.code for r in _result(dry, "site").reasons] == ["upstream-changed", "output-missing"]
    assert project.built() == ["words", "site"]
