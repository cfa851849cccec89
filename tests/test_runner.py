"""The Runner holds a plugin's executor to the contract of ``assetbuild.executor``: whatever its
``submit``, its futures or its ``shutdown`` do wrong is one line naming it, never a traceback
nor a build that waits forever."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future

import pytest

from assetbuild import PluginError, hookimpl
from assetbuild.executors import ProcessExecutor
from assetbuild.plugins import get_plugin_manager

TWO = "@asset(io='json')\ndef a():\n    return 1\n\n@asset(io='json')\ndef b(a):\n    return a + 1\n"


class Misbehaving:
    """A plugin's executor doing one thing wrong (``how``); else a correct one, in threads."""

    name = "odd"
    description = "does one thing wrong"
    inline = False
    options = {"how": "what it does wrong"}

    def __init__(self, *, jobs, project_dir, project_modules, options):
        self.how = options.get("how", "")

    def submit(self, task, log=None):
        fut: Future = Future()
        if self.how == "returns-none":
            return None
        if self.how == "says-hello":
            fut.set_result("hello")
        elif self.how == "transport-breaks":
            fut.set_exception(OSError("transport broke"))
        elif self.how == "cancels":
            fut.cancel()  # (a cancelled future, never notified: concurrent.futures.wait would not wake)
        else:
            import threading

            threading.Thread(target=lambda: fut.set_result(task.run())).start()
        return fut

    def shutdown(self, cancel=False):
        if self.how == "shutdown-raises":
            raise RuntimeError("shutdown exploded")


class Slow(Misbehaving):
    """A plugin's executor whose tasks wait 2.5 s for something it can name (``why_waiting``)."""

    name = "slow"
    asked = 0

    def submit(self, task, log=None):
        import threading
        import time

        fut: Future = Future()
        threading.Thread(target=lambda: (time.sleep(2.5), fut.set_result(task.run()))).start()
        return fut

    def why_waiting(self):
        Slow.asked += 1
        return "its queue is long" if Slow.asked == 2 else None


class MyProcesses(ProcessExecutor):
    """A plugin's executor that can kill (``kills = True``): its futures reach its ``kill``."""

    name = "myprocs"


class Plugin:
    @hookimpl
    def register_executors(self):
        return [Misbehaving, MyProcesses, Slow]


@pytest.fixture
def pm():
    pm = get_plugin_manager(autoload=False)
    pm.register(Plugin(), name="odd-plugin")
    return pm


WHO = "the executor 'odd' (test_runner.Misbehaving)"


@pytest.mark.parametrize("how,said", [
    ("returns-none", f"{WHO} returned None from submit, not a future of the task's outcome "
                     "(a concurrent.futures.Future)"),
    ("says-hello", f"{WHO} resolved the future of 'a' to 'hello', not the outcome of its task (submit must return a "
                   "future of what task.run() or run_serialized() returns)")])
def test_an_executor_that_breaks_every_task_is_one_plugin_error(project, pm, how, said):
    project.assetfile(TWO)
    with pytest.raises(PluginError) as e:
        project.build(plugin_manager=pm, executor="odd", executor_options={"how": how}, jobs=2)
    assert str(e.value) == said


@pytest.mark.parametrize("how,said", [("transport-breaks", f"{WHO} failed it: OSError: transport broke"),
                                      ("cancels", f"{WHO} cancelled it")])
def test_a_task_its_executor_fails_or_cancels_fails_its_asset(project, pm, how, said):
    project.assetfile(TWO)
    r = project.build(plugin_manager=pm, executor="odd", executor_options={"how": how}, jobs=2)
    assert [(x.asset, x.status, x.error) for x in r.results][0] == ("a", "failed", said)
    assert r.names("skipped") == ["b"]
    assert project.build(plugin_manager=pm, executor="odd", jobs=2).names("built") == ["a", "b"]  # nothing kept


def test_a_multi_asset_runs_on_a_plugins_executor(project, pm):
    """A multi-asset's task resolves to a ``MultiProduced``: an outcome the runner passes on, not
    a broken contract (it stopped every build with a multi-asset on the dask executor, exit 2)."""
    project.assetfile("from assetbuild import Out, multi_asset\n\n"
                      "@multi_asset(outs={'train': Out(io='json'), 'test': Out(io='json')})\n"
                      "def split():\n    return {'train': [1, 2], 'test': [3]}\n\n"
                      "@asset(io='json')\ndef total(train, test):\n    return sum(train) + sum(test)\n")
    r = project.build(plugin_manager=pm, executor="odd", jobs=2)
    assert r.ok and sorted(r.names("built")) == ["test", "total", "train"], [(x.asset, x.error) for x in r.results]
    assert project.value("total") == 6
    assert project.build(plugin_manager=pm, executor="odd", jobs=2).names("built") == []


def test_while_the_build_waits_an_executor_may_say_why(project, pm, capsys):
    """``why_waiting()``, asked about once a second while the build waits on tasks: a line it
    returns is a warning of the build (the dask plugin says its cluster has no workers)."""
    project.assetfile("@asset(io='json')\ndef a():\n    return 1\n")
    Slow.asked = 0
    assert project.build(plugin_manager=pm, executor="slow", jobs=2).names("built") == ["a"]
    assert Slow.asked >= 2
    assert capsys.readouterr().err.count("warning: its queue is long\n") == 1


def test_a_shutdown_that_raises_is_a_plugin_error_after_the_work_is_kept(project, pm):
    project.assetfile(TWO)
    with pytest.raises(PluginError) as e:
        project.build(plugin_manager=pm, executor="odd", executor_options={"how": "shutdown-raises"}, jobs=2)
    assert str(e.value) == f"{WHO} could not shut down: RuntimeError: shutdown exploded"
    assert project.build(plugin_manager=pm).names("cached") == ["a", "b"]


def test_a_plugin_executor_that_kills_still_stops_a_task_out_of_time(project, pm):
    project.assetfile("import time\n\n@asset(io='json', timeout=0.5)\ndef slow():\n    time.sleep(30)\n    return 1\n")
    r = project.build(plugin_manager=pm, executor="myprocs", jobs=2)
    assert [(x.asset, x.status, x.error) for x in r.results] == [("slow", "failed", "timed out after 0.5 s")]
    assert r.duration_s < 20


def test_on_the_command_line_a_misbehaving_executor_is_one_line(tmp_path):
    from projects import clean_env

    site = tmp_path / "site"
    (site / "odd_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "odd_plugin-0.1.dist-info" / "entry_points.txt").write_text("[assetbuild]\nodd_plugin = odd_plugin\n")
    (site / "odd_plugin.py").write_text("import assetbuild\nfrom test_runner import Misbehaving\n\n"
                                        "@assetbuild.hookimpl\ndef register_executors():\n    return [Misbehaving]\n")
    env = clean_env(PYTHONPATH=os.pathsep.join(filter(None, (str(site), os.path.dirname(__file__),
                                                              os.environ.get("PYTHONPATH")))))
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "AssetFile").write_text("from assetbuild import asset\n\n" + TWO)
    for how, status in (("says-hello", 2), ("returns-none", 2), ("transport-breaks", 1), ("cancels", 1),
                        ("shutdown-raises", 2)):
        r = subprocess.run([sys.executable, "-m", "assetbuild", "-j", "2", "--executor", "odd", "--force",
                            "--executor-option", f"how={how}"], cwd=tmp_path / "p", env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == status and "Traceback" not in r.stderr and WHO in r.stderr, (how, r.stderr)
