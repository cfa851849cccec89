"""Every hook spec is exercised here (one test_hook_<name> each) and documented in the README."""

from __future__ import annotations

import os
import re
import sys

import pytest
from projects import REPO

import assetbuild
from assetbuild import hookimpl
from assetbuild.errors import PluginError
from assetbuild.plugins import collect_io_managers, get_plugin_manager


class Recorder:
    """A test plugin that records every lifecycle call."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def before_build(self, project_dir, assets, dry_run):
        self.calls.append(("before_build", project_dir, list(assets), dry_run))

    @hookimpl
    def after_asset(self, result):
        self.calls.append(("after_asset", result.asset, result.status))

    @hookimpl
    def after_build(self, result):
        self.calls.append(("after_build", result.ok, len(result.results)))


@pytest.fixture
def pm():
    return get_plugin_manager(autoload=False)


def _two_assets(project):
    project.assetfile("""
@asset(io="json")
def a():
    return 1

@asset(io="json")
def b(a):
    return a + 1
""")


def test_hook_before_build(project, pm):
    rec = Recorder()
    pm.register(rec)
    _two_assets(project)
    project.build(plugin_manager=pm, dry_run=True)
    assert rec.calls[0] == ("before_build", str(project.root.resolve()), ["a", "b"], True)


def test_hook_after_asset(project, pm):
    rec = Recorder()
    pm.register(rec)
    _two_assets(project)
    project.build(plugin_manager=pm)
    project.build(plugin_manager=pm)
    assert [c for c in rec.calls if c[0] == "after_asset"] == [
        ("after_asset", "a", "built"), ("after_asset", "b", "built"),
        ("after_asset", "a", "cached"), ("after_asset", "b", "cached")]


def test_hook_after_build(project, pm):
    rec = Recorder()
    pm.register(rec)
    _two_assets(project)
    project.build(plugin_manager=pm)
    assert rec.calls[-1] == ("after_build", True, 2)



class Alerts:
    """A test plugin that records the alert hooks, with every argument."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def after_asset(self, result):
        if result.status == "failed":
            self.calls.append(("after_asset", result.asset))

    @hookimpl
    def asset_failed(self, result):
        self.calls.append(("asset_failed", result.asset, result.status, result.error))

    @hookimpl
    def asset_overdue(self, asset, lag_s, overdue):
        self.calls.append(("asset_overdue", asset, lag_s, overdue))


def _at(monkeypatch, when: str) -> None:
    monkeypatch.setenv("ASSETBUILD_NOW", when)


def _feed(project, text: str, mtime: str) -> None:
    import os
    from datetime import datetime

    p = project.write("feed.txt", text)
    t = datetime.fromisoformat(mtime.replace("Z", "+00:00")).timestamp()
    os.utime(p, (t, t))


def test_hook_asset_failed(project, pm, monkeypatch):
    rec = Alerts()
    pm.register(rec)
    project.assetfile("""
@asset(io="json", auto="eager")
def good():
    return 1

@asset(io="json", auto="eager")
def bad():
    raise ValueError("on purpose")
""")
    _at(monkeypatch, "2024-03-04T00:00:00Z")
    summary = assetbuild.run_daemon(project_dir=project.root, once=True, plugin_manager=pm)
    assert (summary.ticks, summary.failed) == (1, 1)
    assert rec.calls == [("after_asset", "bad"), ("asset_failed", "bad", "failed", "ValueError: on purpose")]
    rec.calls.clear()
    project.build(plugin_manager=pm, keep_going=True)  # any build: good is cached, bad fails again
    assert rec.calls == [("after_asset", "bad"), ("asset_failed", "bad", "failed", "ValueError: on purpose")]


def test_hook_asset_overdue(project, pm, monkeypatch):
    rec = Alerts()

    class Short:
        """An implementation that takes only (asset, lag_s)."""

        calls: list = []

        @hookimpl
        def asset_overdue(self, asset, lag_s):
            self.calls.append((asset, lag_s))

    short = Short()
    pm.register(rec)
    pm.register(short)
    project.assetfile("""
feed = source("feed", "feed.txt")

@asset(io="json", freshness="1h")  # auto=None: the daemon never builds it, so it stays late
def latest(feed):
    return feed.read_text()
""")
    _feed(project, "one", "2024-03-04T00:00:00Z")
    _at(monkeypatch, "2024-03-04T00:10:00Z")
    project.built()
    _feed(project, "two", "2024-03-04T01:00:00Z")

    def tick(when: str) -> list:
        _at(monkeypatch, when)
        assetbuild.run_daemon(project_dir=project.root, once=True, plugin_manager=pm)
        calls = list(rec.calls)
        rec.calls.clear()
        return calls

    assert tick("2024-03-04T01:05:00Z") == []  # the new version, first seen now
    assert tick("2024-03-04T02:05:00Z") == []  # an hour behind: not more than its freshness
    assert tick("2024-03-04T02:06:00Z") == [("asset_overdue", "latest", 3660.0, True)]
    assert tick("2024-03-04T02:30:00Z") == []  # still overdue: said once
    assert tick("2024-03-04T05:00:00Z") == []
    _at(monkeypatch, "2024-03-04T05:10:00Z")
    assert project.built() == ["latest"]
    assert tick("2024-03-04T05:15:00Z") == [("asset_overdue", "latest", 0.0, False)]
    assert tick("2024-03-04T05:20:00Z") == []  # fresh: nothing more to say
    assert short.calls == [("latest", 3660.0), ("latest", 0.0)]

class Upper:
    name = "upper"
    version = "1"

    def dump(self, value):
        return value.upper().encode()

    def load(self, data):
        return data.decode()


class UpperPlugin:
    @hookimpl
    def register_io_managers(self):
        return [Upper()]


def test_hook_register_io_managers(project, pm):
    pm.register(UpperPlugin(), name="upper-plugin")
    assert set(collect_io_managers(pm)) == {"pickle", "json", "text", "bytes", "files", "upper"}
    project.assetfile("""
@asset(io="upper", path="out.txt")
def shout():
    return "hello"
""")
    assert project.build(plugin_manager=pm).names("built") == ["shout"]
    assert (project.root / "out.txt").read_text() == "HELLO"


class Quitter:
    """An IO manager that ends the process its own way: on dump for ``quit`` values, on load."""

    name = "quitter"
    version = "1"

    def dump(self, value):
        if value == "quit":
            sys.exit(4)
        return value.encode()

    def load(self, data):
        raise KeyboardInterrupt


class QuitterPlugin:
    @hookimpl
    def register_io_managers(self):
        return [Quitter()]


def test_an_io_manager_cannot_end_the_build_either(project, pm):
    pm.register(QuitterPlugin(), name="quitter-plugin")
    project.assetfile("""
@asset(io="quitter")
def quits():
    return "quit"

@asset(io="quitter")
def stored():
    return "fine"

@asset(io="json")
def reader(stored):
    return stored

@asset(io="json")
def other():
    return 1
""")
    r = project.build(plugin_manager=pm, keep_going=True)  # returns: nothing raised SystemExit
    st = {x.asset: x for x in r.results}
    assert st["quits"].status == "failed" and "with io='quitter': called sys.exit(4)" in st["quits"].error
    assert st["other"].status == "built"
    # what it stored cannot be loaded back: it fails (tests/test_repairing.py), its reader is skipped
    assert st["stored"].status == "failed" and st["reader"].status == "skipped"
    assert "cannot load the value it stored (raised KeyboardInterrupt without a Ctrl-C" in st["stored"].error


def test_duplicate_io_manager_names_both_plugins(pm):
    class Dup:
        @hookimpl
        def register_io_managers(self):
            j = Upper()
            j.name = "json"
            return [j]

    pm.register(Dup(), name="dup-plugin")
    with pytest.raises(PluginError, match=r"'json' is registered twice.*dup-plugin"):
        collect_io_managers(pm)


def test_bad_io_manager_object_is_refused(pm):
    class Bad:
        @hookimpl
        def register_io_managers(self):
            return [object()]

    pm.register(Bad(), name="bad-plugin")
    with pytest.raises(PluginError, match="bad-plugin"):
        collect_io_managers(pm)


class Ledger:
    """A test executor: runs each task at once in the build's thread and keeps a ledger."""

    name = "ledger"
    description = "records what it ran"
    inline = True
    options = {"tag": "a word added to the ledger"}
    ran: list = []

    def __init__(self, *, jobs, project_dir, project_modules, options):
        self.tag = options.get("tag", "")

    def submit(self, task, log=None):
        from assetbuild.executors import SerialExecutor

        Ledger.ran.append((task.asset, self.tag))
        return SerialExecutor().submit(task, log)

    def shutdown(self, cancel=False):
        Ledger.ran.append(("shutdown", cancel))


class LedgerPlugin:
    @hookimpl
    def register_executors(self):
        return [Ledger]


def test_hook_register_executors(project, pm):
    from assetbuild.plugins import collect_executors

    pm.register(LedgerPlugin(), name="ledger-plugin")
    assert set(collect_executors(pm)) == {"serial", "threads", "processes", "ledger"}
    project.assetfile("""
@asset(io="json", executor="ledger")
def a():
    return 1

@asset(io="json")
def b(a):
    return a + 1
""")
    Ledger.ran = []
    assert project.build(plugin_manager=pm).names("built") == ["a", "b"]
    assert Ledger.ran == [("a", ""), ("shutdown", False)]  # b ran on the default, serial
    Ledger.ran = []
    r = project.build(plugin_manager=pm, force=True, executor="ledger", executor_options={"tag": "x"})
    assert r.names("built") == ["a", "b"] and Ledger.ran == [("a", "x"), ("b", "x"), ("shutdown", False)]


def test_duplicate_or_bad_executors_name_the_plugin(pm):
    from assetbuild.plugins import collect_executors

    class Dup:
        @hookimpl
        def register_executors(self):
            class Threads(Ledger):
                name = "threads"
            return [Threads]

    pm.register(Dup(), name="dup-plugin")
    with pytest.raises(PluginError, match=r"'threads' is registered twice.*dup-plugin"):
        collect_executors(pm)
    pm.unregister(name="dup-plugin")

    class Bad:
        @hookimpl
        def register_executors(self):
            return ["not an executor"]

    pm.register(Bad(), name="bad-plugin")
    with pytest.raises(PluginError, match="bad-plugin.*not an executor"):
        collect_executors(pm)


class _Reversed:
    """An IO manager: text, stored reversed."""

    name = "rev"
    version = "1"

    def dump(self, value):
        return value.encode()[::-1]

    def load(self, data):
        return data[::-1].decode()


@pytest.mark.parametrize("hook,returns", [
    ("register_io_managers", _Reversed()), ("register_io_managers", "rev"), ("register_executors", Ledger),
    ("register_options", 5)])
def test_a_register_hook_returning_no_list_is_a_plugin_error(pm, hook, returns):
    """One object instead of a list of them was iterated: a raw TypeError for every command
    (or, for a str, its characters said to be no IO manager)."""
    from assetbuild.plugins import collect_executors, collect_options

    class Single:
        pass

    setattr(Single, hook, hookimpl(lambda self: returns))
    pm.register(Single(), name="single-plugin")
    collect = {"register_io_managers": collect_io_managers, "register_executors": collect_executors,
               "register_options": collect_options}[hook]
    with pytest.raises(PluginError, match=rf"^plugin 'single-plugin' returned .* from {hook}, which is not a list "
                                          r"of .*s \(return a list, even of one\)$"):
        collect(pm)


def test_an_io_manager_class_instead_of_an_instance_is_a_plugin_error(pm):
    """The class passed the check (its dump and load are callable) and failed every build in dump."""

    class Plugin:
        @hookimpl
        def register_io_managers(self):
            return [_Reversed]

    pm.register(Plugin(), name="class-plugin")
    with pytest.raises(PluginError, match=r"'class-plugin' registered <class .*_Reversed'>, which is not an IO "
                                          r"manager \(it needs to be an instance, not a class"):
        collect_io_managers(pm)


def test_on_the_command_line_a_hook_returning_no_list_is_one_line(tmp_path):
    """Exit 2 and one line for a command; under --help, a broken plugin's options are a warning
    (as for any broken plugin's options) and its IO managers are not asked for."""
    from projects import cli

    env = installed_plugin(tmp_path, "single_plugin", "import assetbuild\n\nclass Rev:\n    name = 'rev'\n"
                           "    version = '1'\n    def dump(self, v):\n        return v\n    def load(self, d):\n"
                           "        return d\n\n@assetbuild.hookimpl\ndef register_io_managers():\n    return Rev()\n\n"
                           "@assetbuild.hookimpl\ndef register_options():\n    return 5\n")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (env["PYTHONPATH"], os.environ.get("PYTHONPATH"))))
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='json')\ndef a():\n    return 1\n")
    for args in (["status"], [], ["--nope"]):
        r = cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 1 and "plugin 'single_plugin' returned " in r.stderr, r.stderr
    r = cli("--help", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "Usage" in r.stdout, r.stderr
    assert r.stderr == ("assetbuild: warning: plugin 'single_plugin' returned 5 from register_options, which is not "
                        "a list of options (return a list, even of one)\n")


def installed_plugin(tmp_path, name: str, source: str) -> dict[str, str]:
    """An environment in which module ``name`` (``source``) is an installed plugin, found through
    its entry point like a distribution's."""
    from projects import clean_env

    site = tmp_path / "site"
    (site / f"{name}-0.1.dist-info").mkdir(parents=True)
    (site / f"{name}-0.1.dist-info" / "entry_points.txt").write_text(f"[assetbuild]\n{name} = {name}\n")
    (site / f"{name}.py").write_text(source)
    env = clean_env(PYTHONPATH=str(site))
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", None)
    return env


TAGGING_PLUGIN = """
import assetbuild
from assetbuild.hookspecs import ExecutorFlag


class Tagging:
    name = "tagging"
    description = "runs tasks here, tagging their values"
    inline = True
    options = {"tag": "the tag"}

    def __init__(self, *, jobs, project_dir, project_modules, options):
        self.tag = options.get("tag", "")

    def submit(self, task, log=None):
        from concurrent.futures import Future

        fut = Future()
        outcome = task.run(log)
        with open(task.asset + ".tag", "w") as f:
            f.write(self.tag)
        fut.set_result(outcome)
        return fut

    def shutdown(self, cancel=False):
        pass


@assetbuild.hookimpl
def register_executors():
    return [Tagging]


@assetbuild.hookimpl
def register_options():
    with open("options-asked", "a") as f:
        f.write("x")
    return [ExecutorFlag("--tag", executor="tagging", option="tag", metavar="WORD", help="Tag every value.")]
"""


def test_hook_register_options(tmp_path):
    from projects import cli

    env = installed_plugin(tmp_path, "tagging_plugin", TAGGING_PLUGIN)
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='json')\ndef a():\n    return 1\n")
    assert cli("-j", "1", "--dry-run", cwd=tmp_path, env=env).returncode == 0
    assert not (tmp_path / "options-asked").exists()  # options known to assetbuild: no plugin loaded for them
    r = cli("--help", cwd=tmp_path, env=env)
    assert re.search(r"--tag WORD\s+Tag every value\.", r.stdout), r.stdout + r.stderr
    r = cli("build", "--help", cwd=tmp_path, env=env)
    assert "--tag WORD" in r.stdout and "--tag WORD" in cli("watch", "--help", cwd=tmp_path, env=env).stdout
    r = cli("--tag", "hello", cwd=tmp_path, env=env)  # implies --executor tagging
    assert r.returncode == 0 and (tmp_path / "a.tag").read_text() == "hello", r.stderr
    r = cli("build", "--force", "--tag", "again", cwd=tmp_path, env=env)
    assert r.returncode == 0 and (tmp_path / "a.tag").read_text() == "again", r.stderr
    r = cli("build", "--force", "--tag", "x", "--executor", "serial", cwd=tmp_path, env=env)
    assert r.returncode == 2 and "executor 'serial' has no option 'tag'" in r.stderr  # --executor wins
    env["ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    r = cli("--tag", "x", cwd=tmp_path, env=env)
    assert r.returncode == 2 and re.search("No such option:? '?--tag", r.stderr), r.stderr


def test_a_plugin_option_may_not_take_a_flag_of_assetbuild_or_of_another_plugin(tmp_path, pm):
    from assetbuild.hookspecs import ExecutorFlag
    from assetbuild.plugins import collect_options

    class Takes:
        def __init__(self, flag):
            self.flag = flag

        @hookimpl
        def register_options(self):
            return [ExecutorFlag(self.flag, executor="x", option="y")]

    pm.register(Takes("--jobs"), name="takes-jobs")
    with pytest.raises(PluginError, match=r"--jobs is registered twice: by 'assetbuild' and by 'takes-jobs'"):
        collect_options(pm, taken=["-j", "--jobs"])
    pm.unregister(name="takes-jobs")
    pm.register(Takes("--same"), name="one")
    pm.register(Takes("--same"), name="two")
    with pytest.raises(PluginError, match=r"--same is registered twice: by 'one' and by 'two'"):
        collect_options(pm)
    pm.unregister(name="two")
    assert collect_options(pm) == [ExecutorFlag("--same", executor="x", option="y")]
    pm.register(Takes("same"), name="dashless")
    with pytest.raises(PluginError, match="'dashless' registered .* not an option"):
        collect_options(pm)
    # On the command line, a broken plugin's options are a usage error when one may be used, and
    # a warning under --help.
    from projects import cli

    env = installed_plugin(tmp_path, "clash_plugin", "import assetbuild\nfrom assetbuild.hookspecs import "
                           "ExecutorFlag\n\n@assetbuild.hookimpl\ndef register_options():\n"
                           "    return [ExecutorFlag('--timeout', executor='x', option='y')]\n")
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset\ndef a():\n    return 1\n")
    clash = "option --timeout is registered twice: by 'assetbuild' and by 'clash_plugin'"
    r = cli("--help", cwd=tmp_path, env=env)
    assert r.returncode == 0 and f"assetbuild: warning: {clash}" in r.stderr, r.stderr
    r = cli("--no-such-thing", cwd=tmp_path, env=env)
    assert r.returncode == 2 and clash in r.stderr, r.stderr
    assert cli("--timeout", "5", cwd=tmp_path, env=env).returncode == 0  # the options of assetbuild work


def test_every_hook_has_a_test():
    names = {n for n in dir(get_plugin_manager(autoload=False).hook) if not n.startswith("_")}
    tests = {n[len("test_hook_"):] for n in globals() if n.startswith("test_hook_")}
    assert names == tests


def test_every_hook_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    pm = get_plugin_manager(autoload=False)
    for name in dir(pm.hook):
        if name.startswith("_"):
            continue
        caller = getattr(pm.hook, name)
        sig = f"{name}({', '.join(caller.spec.argnames)})"
        assert re.search(r"^#+ `" + re.escape(sig) + "`", readme, re.M), f"README lacks a heading `{sig}`"


def test_builtins_are_registered_like_plugins(pm):
    names = [pm.get_name(p) for p in pm.get_plugins()]
    assert "assetbuild.builtin.io_managers" in names and "assetbuild.builtin.executors" in names
    assert assetbuild.hookimpl is not None


def test_builtins_are_declared_in_the_entry_point_group():
    from importlib.metadata import entry_points

    from assetbuild.plugins import BUILTIN_PLUGINS, ENTRY_POINT_GROUP

    declared = {ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(BUILTIN_PLUGINS) <= declared
    pm = get_plugin_manager(autoload=True)  # loading them again through the entry point is harmless
    assert set(collect_io_managers(pm)) >= {"pickle", "json", "text", "bytes"}


def test_entry_point_scan_agrees_with_importlib_metadata():
    from importlib.metadata import entry_points as reference

    from assetbuild.plugins import ENTRY_POINT_GROUP, entry_points

    ours = {(name, value) for name, value, _ in entry_points(ENTRY_POINT_GROUP)}
    assert ours == {(ep.name, ep.value) for ep in reference(group=ENTRY_POINT_GROUP)}
    scripts = {(name, value) for name, value, _ in entry_points("console_scripts")}  # (pip's, pytest's...)
    assert scripts and scripts == {(ep.name, ep.value) for ep in reference(group="console_scripts")}


def test_installed_plugins_are_the_entry_points_a_plugin_manager_loads(tmp_path, monkeypatch):
    """What the command line asks before building a plugin manager for its options: the
    installed plugins, the built-ins left out, none when autoloading is off."""
    from assetbuild.plugins import BUILTIN_PLUGINS, installed_plugins

    env = installed_plugin(tmp_path, "tagging_plugin", TAGGING_PLUGIN)
    monkeypatch.syspath_prepend(env["PYTHONPATH"])
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    found = installed_plugins()
    assert ("tagging_plugin", "tagging_plugin", "tagging_plugin") in found
    assert not {name for name, _, _ in found} & set(BUILTIN_PLUGINS)
    loaded = {name for name, _ in get_plugin_manager(builtins=False).list_name_plugin()}
    assert loaded == {name for name, _, _ in found}
    assert installed_plugins(autoload=False) == []
    monkeypatch.setenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert installed_plugins() == [] and installed_plugins(autoload=True) == found


def test_loaded_from_names_every_file_a_plugin_manager_is_made_from(tmp_path, monkeypatch):
    """What a null build's snapshot watches of the plugins (``loaded_from``): every
    ``entry_points.txt`` looked for, and each module of a plugin, wherever it is imported (by
    its entry point's module, by the hook that makes what it registers); not the standard
    library's, nor assetbuild's own."""
    import json
    from pathlib import Path

    from assetbuild.plugins import loaded_from

    env = installed_plugin(tmp_path, "lf_plugin", "import json\nimport assetbuild\nfrom lf_helper import LIMIT\n\n\n"
                                                  "@assetbuild.hookimpl\ndef register_io_managers():\n"
                                                  "    from lf_lazy import Manager\n    return [Manager()]\n")
    site = Path(env["PYTHONPATH"])
    (site / "lf_helper.py").write_text("LIMIT = 1\n")
    (site / "lf_lazy.py").write_text('class Manager:\n    name = "lf"\n    version = "1"\n\n'
                                     "    def dump(self, value):\n        return b''\n\n"
                                     "    def load(self, data):\n        return None\n")
    (site / "nothing-1.0.dist-info").mkdir()  # (no entry_points.txt: one that appears may add a plugin)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    for name in ("lf_plugin", "lf_helper", "lf_lazy"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    pm = get_plugin_manager()
    assert "lf" in collect_io_managers(pm)
    files = loaded_from(pm)
    for f in ("lf_plugin.py", "lf_helper.py", "lf_lazy.py", "lf_plugin-0.1.dist-info/entry_points.txt",
              "nothing-1.0.dist-info/entry_points.txt"):
        assert str(site / f) in files, f
    own = os.path.dirname(assetbuild.__file__)
    assert not [f for f in files if f.startswith(own + os.sep) or f == json.__file__], files


def test_a_failing_hook_is_a_plugin_error_and_finished_work_is_kept(project, pm):
    class Broken:
        @hookimpl
        def after_asset(self, result):
            if result.asset == "b":
                raise RuntimeError("observer crashed")

    pm.register(Broken(), name="broken-observer")
    _two_assets(project)
    with pytest.raises(PluginError, match=r"after_asset hook \(broken-observer\).*observer crashed"):
        project.build(plugin_manager=pm)
    assert project.build().names("cached") == ["a", "b"]  # both were recorded before the hook ran


@pytest.mark.parametrize("source,said", [
    ("import assetbuild\n\n@assetbuild.hookimpl\ndef after_assets(result):\n    pass\n",
     "assetbuild: error: the assetbuild plugin 'misnamed' (misnamed) of misnamed implements after_assets, which "
     "is no assetbuild hook (did you mean after_asset?): rename it, or mark it "
     "@assetbuild.hookimpl(optionalhook=True) if it is a later assetbuild's"),
    ("import assetbuild\n\n@assetbuild.hookimpl\ndef after_asset(res):\n    pass\n",
     "assetbuild: error: cannot load the assetbuild plugin 'misnamed' (misnamed) of misnamed: "
     "PluginValidationError: Plugin 'misnamed' for hook 'after_asset'; hookimpl definition: after_asset(res); "
     "Argument(s) {'res'} are declared in the hookimpl but can not be found in the hookspec (uninstall it, or "
     "set ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD=1 to load no installed plugins)"),
    ("import no_such_module_for_the_plugin\n",
     "assetbuild: error: cannot load the assetbuild plugin 'misnamed' (misnamed) of misnamed: "
     "ModuleNotFoundError: No module named 'no_such_module_for_the_plugin' (uninstall it, or "
     "set ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD=1 to load no installed plugins)"),
])
def test_a_plugin_that_cannot_work_is_one_line_naming_it_and_the_way_out(project, tmp_path, source, said):
    """A hook whose name assetbuild does not know would never be called: refused like a wrong
    argument name, not ignored; each says how to build without the plugin."""
    from projects import cli

    _two_assets(project)
    env = installed_plugin(tmp_path, "misnamed", source)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (env["PYTHONPATH"], os.environ.get("PYTHONPATH"))))
    r = cli("build", cwd=project.root, env=env)
    assert r.returncode == 2 and r.stderr.strip() == said, r.stderr
    r = cli("build", cwd=project.root, env={**env, "ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert r.returncode == 0, r.stderr


def test_a_hook_of_a_later_assetbuild_marked_optional_is_accepted(project, tmp_path):
    from projects import cli

    _two_assets(project)
    env = installed_plugin(tmp_path, "later", "import assetbuild\n\n@assetbuild.hookimpl(optionalhook=True)\n"
                                              "def before_everything():\n    raise AssertionError('never called')\n")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (env["PYTHONPATH"], os.environ.get("PYTHONPATH"))))
    r = cli("build", cwd=project.root, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
