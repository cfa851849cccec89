"""Tasks of builds in a process that outlives them (assetbuild.sharedworkers): each build's own
project modules, working directory and declared environment, one build at a time."""

from __future__ import annotations

import os
import pickle
import sys
import threading
import types
from pathlib import Path

import pytest

from assetbuild.builtin.io_managers import JsonIOManager
from assetbuild.execute import Failed, Produced, Task, dump_task
from assetbuild.executor import WorkerVisit, run_serialized


def _task(fn, root: Path, **kw) -> bytes:
    return dump_task(Task(fn.__name__, fn, "json", JsonIOManager(), {}, [], False, str(root), **kw))


def _value(outcome) -> object:
    assert isinstance(outcome, Produced), getattr(outcome, "error", outcome)
    return JsonIOManager().load(outcome.data)


def imports_calc():
    import lib.calc

    return lib.calc.f(3)


def reads_data():
    with open("data.txt") as f:
        return f.read()


def reads_env():
    return [os.environ.get("REGION"), os.environ.get("API_KEY")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "calc.py").write_text("def f(n):\n    return n * n\n")
    (root / "data.txt").write_text("the project's")
    return root


def test_each_build_imports_the_projects_modules_afresh_and_names_their_digests(project, monkeypatch):
    import hashlib

    payload = _task(imports_calc, project, code_modules=("lib.calc",))
    first = run_serialized(payload, None, WorkerVisit(str(project)))
    assert _value(first) == 9
    calc = str(project / "lib" / "calc.py")
    assert first.project_code[calc] == hashlib.sha256(b"def f(n):\n    return n * n\n").hexdigest()
    assert "lib.calc" not in sys.modules and "lib" not in sys.modules  # forgotten at the end
    (project / "lib" / "calc.py").write_text("def f(n):\n    return n * 100\n")
    again = run_serialized(payload, None, WorkerVisit(str(project)))
    assert _value(again) == 300 and again.project_code[calc] != first.project_code[calc]


def test_another_projects_module_of_the_same_name_is_hidden_and_put_back(project):
    theirs = types.ModuleType("lib")
    theirs.__file__ = "/elsewhere/lib/__init__.py"
    sys.modules["lib"] = theirs
    try:
        assert _value(run_serialized(_task(imports_calc, project), None, WorkerVisit(str(project)))) == 9
        assert sys.modules["lib"] is theirs
    finally:
        del sys.modules["lib"]


def test_a_task_runs_in_its_project_directory_and_the_workers_comes_back(project, tmp_path, monkeypatch):
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    (elsewhere / "data.txt").write_text("the worker's")
    monkeypatch.chdir(elsewhere)
    assert _value(run_serialized(_task(reads_data, project), None, WorkerVisit(str(project)))) == "the project's"
    assert os.getcwd() == str(elsewhere)


def test_a_project_this_worker_cannot_see_fails_what_needs_it_saying_so(project, tmp_path, monkeypatch):
    """Another machine: no working directory of the worker's own is read, and no module of the
    project's names is imported from elsewhere (here, the worker has a ``lib`` on its path)."""
    gone = tmp_path / "not-here"
    visit = WorkerVisit(str(gone), project_names={"lib"})
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    (elsewhere / "data.txt").write_text("the worker's")
    monkeypatch.chdir(elsewhere)
    monkeypatch.syspath_prepend(str(project))  # a lib that is not this build's
    read = run_serialized(_task(reads_data, gone), None, visit)
    assert isinstance(read, Failed) and read.error.startswith("FileNotFoundError"), read.error
    assert f"the project directory {gone} is not on this worker" in read.error
    imported = run_serialized(_task(imports_calc, gone), None, visit)
    assert isinstance(imported, Failed)
    assert imported.error.startswith(f"ModuleNotFoundError: No module named 'lib' on this worker: it is a module "
                                     f"of the project at {gone}"), imported.error
    assert os.getcwd() == str(elsewhere) and "lib" not in sys.modules


def test_declared_variables_have_the_keys_values_while_it_runs(project, monkeypatch):
    monkeypatch.delenv("REGION", raising=False)
    monkeypatch.setenv("API_KEY", "worker's")
    from assetbuild.keys import env_parts

    visit = WorkerVisit(str(project))
    env = env_parts(("API_KEY", "REGION"), {"REGION": "us", "API_KEY": "worker's"})
    assert _value(run_serialized(_task(reads_env, project, env=env), None, visit)) == ["us", "worker's"]
    assert "REGION" not in os.environ  # put back
    other = env_parts(("API_KEY", "REGION"), {"REGION": "us", "API_KEY": "s3cr3t"})
    out = run_serialized(_task(reads_env, project, env=other), None, visit)
    assert isinstance(out, Failed) and out.error.startswith(
        "the environment variable API_KEY has another value on this worker than in the build"), out.error
    assert "s3cr3t" not in out.error and "REGION" not in os.environ


_STARTED = threading.Event()
_GO = threading.Event()
_SEEN: list[str] = []


def waits_for_go():
    _SEEN.append(os.getcwd())
    _STARTED.set()
    _GO.wait(30)
    return 1


def notes_cwd():
    _SEEN.append(os.getcwd())
    return 2


def test_tasks_of_one_build_share_the_process_and_another_build_waits(tmp_path, monkeypatch):
    """Threads of one worker: a second task of the build under way runs beside the first; a task
    of another build (another project) waits until the first build's tasks have ended."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.chdir(tmp_path)
    visit_a, visit_b = WorkerVisit(str(a)), WorkerVisit(str(b))
    _STARTED.clear()
    _GO.clear()
    _SEEN.clear()
    outcomes: dict[str, object] = {}

    def run(name, payload, visit):
        outcomes[name] = run_serialized(payload, None, visit)

    first = threading.Thread(target=run, args=("first", _task(waits_for_go, a), visit_a))
    first.start()
    assert _STARTED.wait(30)
    run("beside", _task(notes_cwd, a), visit_a)  # runs at once, beside the first
    other = threading.Thread(target=run, args=("other", _task(notes_cwd, b), visit_b))
    other.start()
    other.join(0.5)
    assert other.is_alive() and _SEEN == [str(a), str(a)]  # it waits for build a
    _GO.set()
    first.join(30)
    other.join(30)
    assert _SEEN == [str(a), str(a), str(b)] and _value(outcomes["first"]) == 1 and _value(outcomes["other"]) == 2
    assert os.getcwd() == str(tmp_path)


def test_on_a_worker_that_cannot_see_the_project_the_modules_sent_with_the_task_still_run(project, tmp_path):
    """The usual remote cluster: the AssetFile's modules travel by value with each task; the
    refusal to import the project's module names from elsewhere does not get in their way."""
    from assetbuild.loader import ProjectImports

    with ProjectImports(project):
        ns = {"__name__": "__assetfile__"}
        exec("import lib.calc as calc\n\ndef uses_calc():\n    return calc.f(3)\n", ns)
        payload = dump_task(Task("uses_calc", ns["uses_calc"], "json", JsonIOManager(), {}, [], False,
                                 str(tmp_path / "gone")), by_value=("lib", "lib.calc"))
    assert "lib" not in sys.modules
    visit = WorkerVisit(str(tmp_path / "gone"), project_names={"lib"})
    assert _value(run_serialized(payload, None, visit)) == 9


def test_a_visit_travels_as_plain_data(project):
    """A worker whose assetbuild predates visits fails the task; it could not unpickle a class it
    lacked, which ends a dask worker process."""
    import pickle

    visit = WorkerVisit(str(project))
    sent = pickle.loads(pickle.dumps(visit))
    assert type(sent) is tuple and WorkerVisit.of(sent).id == visit.id
    assert _value(run_serialized(_task(imports_calc, project), None, sent)) == 9


def holds_locks():
    from assetbuild.usercode import BUILD_LOCKS

    return sorted(list(k) for k in BUILD_LOCKS)


def test_a_visit_carries_its_builds_locks_and_holds_only_those_this_process_lacks(project, monkeypatch):
    """A task on a worker knows which build lock files its build holds (an asset calling the API
    on its own project is refused at once, not left waiting); a worker in the build's own
    process keeps the build's own keys when the visit ends. An older build's 3-tuple still runs."""
    import pickle

    from assetbuild import usercode

    monkeypatch.setattr(usercode, "BUILD_LOCKS", {(1, 2)})
    sent = pickle.loads(pickle.dumps(WorkerVisit(str(project))))
    assert set(sent[3]) == {(1, 2)}
    elsewhere = (*sent[:3], frozenset({(1, 2), (3, 4)}))  # (1, 2): the build's own, held here too
    assert _value(run_serialized(_task(holds_locks, project), None, elsewhere)) == [[1, 2], [3, 4]]
    assert usercode.BUILD_LOCKS == {(1, 2)}
    assert _value(run_serialized(_task(holds_locks, project), None, sent[:3])) == [[1, 2]]


def imports_mypkg():
    import mypkg

    return mypkg.f()


def test_a_src_folder_on_the_builds_path_is_on_the_workers_and_its_names_come_from_nowhere_else(
        tmp_path, monkeypatch):
    """A project whose modules live in ``src/`` (on the build's ``PYTHONPATH``), on a worker
    with another copy of ``mypkg`` on its own path: the worker ran its copy, and the value went
    under the key made from the project's (exit 0). The visit now names the build's folders of
    project modules: the worker puts them on its path, hides its own copy meanwhile, and
    refuses the name when its project directory lacks the module (another checkout)."""
    root = tmp_path / "p"
    (root / "src" / "mypkg").mkdir(parents=True)
    (root / "src" / "mypkg" / "__init__.py").write_text("def f():\n    return 'project'\n")
    old = tmp_path / "worker-site"
    (old / "mypkg").mkdir(parents=True)
    (old / "mypkg" / "__init__.py").write_text("def f():\n    return 'worker copy'\n")
    monkeypatch.syspath_prepend(str(root / "src"))  # the build's machine
    visit = WorkerVisit(str(root))
    assert visit.project_paths == (str(root / "src"),) and "mypkg" in visit.project_names
    sent = pickle.loads(pickle.dumps(visit))
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(root / "src")] + [str(old)])  # the worker
    import mypkg as theirs  # imported by the worker before the build

    payload = _task(imports_mypkg, root, code_modules=("mypkg",))
    outcome = run_serialized(payload, None, sent)
    assert _value(outcome) == "project" and str(root / "src" / "mypkg" / "__init__.py") in outcome.project_code
    assert sys.modules["mypkg"] is theirs and str(root / "src") not in sys.path  # the worker's, put back
    (root / "src" / "mypkg" / "__init__.py").unlink()  # the worker's project directory lacks it
    (root / "src" / "mypkg").rmdir()
    refused = run_serialized(payload, None, sent)
    assert isinstance(refused, Failed) and refused.error.startswith(
        "ModuleNotFoundError: No module named 'mypkg' on this worker: it is a module of the project at"), refused.error
    assert sys.modules["mypkg"] is theirs
    del sys.modules["mypkg"]


def uses_mylib():
    import mylib

    return mylib.f()


def test_a_library_the_keys_name_at_another_version_than_the_workers_fails_the_task(tmp_path, monkeypatch):
    """A worker with mylib 2.0 ran an asset whose key names mylib 1.0 (the build machine's),
    and its value went under that key. The task now names the versions the build's keys name
    (``Task.libraries``), and one the worker imported at another version fails it."""
    site = tmp_path / "site"
    (site / "mylib").mkdir(parents=True)
    (site / "mylib" / "__init__.py").write_text("def f():\n    return 2\n")
    (site / "mylib-2.0.dist-info").mkdir()
    (site / "mylib-2.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: mylib\nVersion: 2.0\n")
    monkeypatch.syspath_prepend(str(site))
    root = tmp_path / "p"
    root.mkdir()

    def task(libraries):
        t = Task("uses_mylib", uses_mylib, "json", JsonIOManager(), {}, [], False, str(root))
        t.libraries = libraries
        return dump_task(t)

    try:
        failed = run_serialized(task((("mylib", "1.0"), ("notimported", "3.0"))), None, WorkerVisit(str(root)))
        assert isinstance(failed, Failed) and failed.error == (
            "library mylib is 2.0 on this worker, but the build's keys name 1.0 (the version on the build's "
            "machine): install mylib 1.0 on the workers, or build with another executor")
        assert _value(run_serialized(task((("mylib", "2.0"), ("notimported", "3.0"))), None,
                                     WorkerVisit(str(root)))) == 2
        assert _value(run_serialized(task(()), None, WorkerVisit(str(root)))) == 2  # (a build on this machine's env)
    finally:
        sys.modules.pop("mylib", None)


class _ElsewhereExecutor:
    """A plugin's executor whose worker is on another machine, where the project directory at
    the build's path is another copy: the worker's copies of the files in ``worker_files`` say
    other things while a task runs (the build's machine's are put back after)."""

    worker_files: dict[str, str] = {}

    name = "elsewhere"
    description = "a worker on another machine"
    inline = False
    options: dict[str, str] = {}

    def __init__(self, *, jobs, project_dir, project_modules, options):
        self.visit = WorkerVisit(project_dir)
        self.visit.machine = "another machine"
        self.project_dir = Path(project_dir)

    def submit(self, task, log=None):
        from concurrent.futures import Future

        seen.append(task)
        out: Future = Future()
        mine = {rel: (self.project_dir / rel).read_text() for rel in self.worker_files}
        for rel, text in self.worker_files.items():
            (self.project_dir / rel).write_text(text)
        try:
            out.set_result(run_serialized(task.to_bytes(), None, pickle.loads(pickle.dumps(self.visit))))
        finally:
            for rel, text in mine.items():
                (self.project_dir / rel).write_text(text)
        return out

    def shutdown(self, cancel=False):
        pass


seen: list[Task] = []


def test_a_worker_elsewhere_whose_project_copy_holds_other_source_data_fails_the_asset(tmp_path, monkeypatch):
    """A worker on another machine whose project directory at the build's path is another copy
    (an older checkout) read its own data.txt, and the value went under the key made from the
    build machine's (exit 0). The task now names its sources' data versions as its key holds
    them, and such a worker checks its files first: the asset fails saying so."""
    from assetbuild import hookimpl
    from assetbuild.plugins import get_plugin_manager

    class Plugin:
        @hookimpl
        def register_executors(self):
            return [_ElsewhereExecutor]

    pm = get_plugin_manager(autoload=False)
    pm.register(Plugin(), name="elsewhere-plugin")
    from projects import Project

    project = Project(tmp_path)
    project.write("data.txt", "new")
    project.assetfile("""
data = source("data", "data.txt")

@asset(io="json")
def value(data):
    return data.read_text()

@asset(outputs=["out/"])
def files(context):
    context.out("out/").mkdir(parents=True, exist_ok=True)
    (context.out("out/") / "x.txt").write_text("made")

@asset(io="json")
def reads(files):
    return (files / "x.txt").read_text()
""")
    r = project.build(plugin_manager=pm, executor="elsewhere", jobs=2)  # the same files there: it runs
    assert r.ok and project.value("value") == "new" and project.value("reads") == "made", [(x.asset, x.status, x.error) for x in r.results]
    value_task = next(t for t in seen if t.asset == "value")
    assert value_task.sources[0][:1] == ("data.txt",) and value_task.libraries is not None
    monkeypatch.setattr(_ElsewhereExecutor, "worker_files", {"data.txt": "old"})
    r = project.build("value", plugin_manager=pm, executor="elsewhere", jobs=2, force=True)
    assert not r.ok and r.results[0].error.startswith(
        "its source data.txt holds other data on this worker, where the project directory "), r.results[0].error
    monkeypatch.setattr(_ElsewhereExecutor, "worker_files", {"out/x.txt": "an older run's"})
    r = project.build("reads", plugin_manager=pm, executor="elsewhere", jobs=2, force=True)
    assert not r.ok and r.results[-1].error.startswith(
        "the files 'files' wrote hold other data on this worker, where the project directory "), r.results[-1].error


def test_a_virtualenv_inside_the_project_is_not_project_code_for_the_workers(tmp_path, monkeypatch):
    """A project with its virtualenv inside (``.venv``, on the build's ``sys.path``): its
    site-packages is no folder of project modules, or a worker would hide its own libraries
    (dask's among them) while the build's tasks run, and refuse them."""
    root = tmp_path / "p"
    site = root / ".venv" / "lib" / "python3.11" / "site-packages"
    (site / "somelib").mkdir(parents=True)
    (site / "somelib" / "__init__.py").write_text("")
    (root / "src" / "mine").mkdir(parents=True)
    (root / "src" / "mine" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(root / "src"))
    visit = WorkerVisit(str(root))
    assert visit.project_paths == (str(root / "src"),)
    assert "mine" in visit.project_names and "somelib" not in visit.project_names


def imports_fast():
    import fastpkg.fast

    return fastpkg.fast.f()


def test_a_project_module_the_project_finder_leaves_to_python_still_imports_on_a_worker(tmp_path):
    """A module of a project package that is no ``.py`` file (a compiled extension; here a
    sourceless ``.pyc``) is found by Python's path finder, not the project's: the guard that
    keeps the project's names from coming from elsewhere let it through, since it is in the
    project directory."""
    import py_compile

    root = tmp_path / "p"
    (root / "fastpkg").mkdir(parents=True)
    (root / "fastpkg" / "__init__.py").write_text("")
    (tmp_path / "fast.py").write_text("def f():\n    return 'compiled'\n")
    py_compile.compile(str(tmp_path / "fast.py"), cfile=str(root / "fastpkg" / "fast.pyc"))
    try:
        assert _value(run_serialized(_task(imports_fast, root), None, WorkerVisit(str(root)))) == "compiled"
    finally:
        for name in ("fastpkg.fast", "fastpkg"):
            sys.modules.pop(name, None)
