"""Parallel builds through the public API, on real thread and process pools: where each asset
runs, identical outputs whatever the executor, critical-path order, failures, crashed workers,
stale code, configuration."""

from __future__ import annotations

import os
import time

import pytest

import assetbuild
from assetbuild.errors import ConfigError, DefinitionError
from assetbuild.executors import MAX_JOBS, ProcessExecutor, parse_jobs, start_method

WHERE = """
import os, threading

def where():
    return [os.getpid(), threading.current_thread().name]

@asset(io="json", executor="serial")
def in_serial():
    return where()

@asset(io="json", executor="threads")
def in_thread():
    return where()

@asset(io="json", executor="processes")
def in_process():
    return where()

@asset(io="json")
def by_default():
    return where()
"""


def test_each_asset_runs_on_its_executor(project):
    project.assetfile(WHERE)
    r = project.build(jobs=2)
    assert r.ok and sorted(r.names("built")) == ["by_default", "in_process", "in_serial", "in_thread"]
    me = os.getpid()
    assert project.value("in_serial") == [me, "MainThread"]
    pid, thread = project.value("in_thread")
    assert pid == me and thread.startswith("assetbuild-")
    assert project.value("in_process")[0] != me
    assert project.value("by_default")[0] != me  # -j 2 without an executor: processes
    project.build(jobs=1, force=True)
    assert project.value("by_default") == [me, "MainThread"]  # -j 1: serial
    project.build(jobs=2, executor="threads", force=True)
    assert project.value("by_default")[1].startswith("assetbuild-")


PIPELINE = """
import lib.shapes as shapes

raw = source("raw", "raw.txt")

@asset(io="json")
def numbers(raw):
    return [int(x) for x in raw.read_text().split()]

@asset
def boxes(numbers):
    return [shapes.Box(n) for n in numbers]

@asset(io="json")
def areas(boxes):
    return [shapes.area(b.n) for b in boxes]

@asset(io="text", path="out/total.txt")
def total(areas, numbers):
    return f"{sum(areas)} {len(numbers)}"

@asset
def as_set(numbers):
    return {"n": frozenset(numbers)}
"""


SHAPES = """
class Box:
    def __init__(self, n):
        self.n = n

def area(n):
    return n * n
"""


def _pipeline(project, root_name):
    project.write("raw.txt", "1 2 3 4")
    project.write("lib/__init__.py", "")
    project.write("lib/shapes.py", SHAPES)
    project.assetfile(PIPELINE)
    return project


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_outputs_and_digests_equal_a_serial_build(tmp_path, executor):
    from projects import Project

    serial = _pipeline(Project(tmp_path / "serial"), "serial")
    par = _pipeline(Project(tmp_path / "par"), "par")
    a = serial.build(jobs=1)
    b = par.build(jobs=2, executor=executor)
    assert a.ok and b.ok
    versions = {r.asset: r.data_version for r in a.results}
    # the same bytes: pickles of project classes included (workers import the project's modules)
    assert {r.asset: r.data_version for r in b.results} == versions
    assert (par.root / "out/total.txt").read_text() == "30 4"
    assert par.build(jobs=2, executor=executor).names("built") == []


def test_a_code_change_reaches_the_workers(project):
    """Two builds in one process (as watch mode does): the second runs the edited helper."""
    _pipeline(project, "p")
    project.build(jobs=2, executor="processes")
    assert (project.root / "out/total.txt").read_text() == "30 4"
    project.write("lib/shapes.py", SHAPES.replace("n * n", "n * 10"))
    r = project.build(jobs=2, executor="processes")
    assert sorted(r.names("built")) == ["areas", "total"]
    assert (project.root / "out/total.txt").read_text() == "100 4"


def test_workers_see_the_current_environment_and_cwd(monkeypatch, tmp_path):
    """forkserver workers fork from a server the first process build started: each build's
    workers must still get that build's os.environ and cwd (its project directory, see
    test_api_working_directory), not the server's."""
    code = """from assetbuild import asset
import os

@asset(io="json")
def seen():
    return [os.environ.get("AB_PROBE"), os.getcwd()]
"""
    first, second, caller = tmp_path / "first", tmp_path / "second", tmp_path / "caller"
    for d in (first, second, caller):
        d.mkdir()
        (d / "AssetFile").write_text(code)
    monkeypatch.chdir(caller)
    monkeypatch.setenv("AB_PROBE", "one")
    assert assetbuild.build(project_dir=first, jobs=2, executor="processes").ok
    assert assetbuild.load_value("seen", project_dir=first) == ["one", str(first)]
    monkeypatch.setenv("AB_PROBE", "two")
    assert assetbuild.build(project_dir=second, jobs=2, executor="processes").ok
    assert assetbuild.load_value("seen", project_dir=second) == ["two", str(second)]


def test_logs_of_a_worker_reach_the_parent(project, caplog):
    project.assetfile("""
@asset(io="json", executor="processes")
def noisy(context):
    context.log.info("counted %d rows", 3)
    try:
        1 / 0
    except ZeroDivisionError:
        context.log.exception("recovered")
    return 3
""")
    with caplog.at_level("INFO", logger="assetbuild.asset"):
        assert project.build(jobs=2).ok
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert ("assetbuild.asset.noisy", "INFO", "counted 3 rows") in lines
    (err,) = [m for n, lvl, m in lines if lvl == "ERROR"]
    assert err.startswith("recovered") and "ZeroDivisionError" in err


FAILING = """
import time
from pathlib import Path

def mark(name):
    with open(Path(__file__).parent / "ran.log", "a") as f:
        f.write(name + "\\n")

@asset(io="json")
def slow():
    time.sleep(1.0)
    mark("slow")
    return 1

@asset(io="json")
def bad():
    time.sleep(0.2)
    raise ValueError("boom")

@asset(io="json")
def after_bad(bad):
    return bad

@asset(io="json")
def after_slow(slow):
    mark("after_slow")
    return slow + 1
"""


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_without_keep_going_running_work_finishes_and_nothing_new_starts(project, executor):
    project.assetfile(FAILING)
    r = project.build(jobs=2, executor=executor)
    st = r.by_asset()
    assert st == {"slow": "built", "bad": "failed", "after_bad": "skipped", "after_slow": "skipped"}
    assert (project.root / "ran.log").read_text().split() == ["slow"]
    assert "use keep_going=True" in {x.asset: x for x in r.results}["after_slow"].error
    r = project.build(jobs=2, executor=executor, keep_going=True)  # slow was recorded
    st = r.by_asset()
    assert st == {"slow": "cached", "bad": "failed", "after_bad": "skipped", "after_slow": "built"}


def test_keep_going_runs_everything_that_does_not_depend_on_a_failure(project):
    project.assetfile(FAILING)
    r = project.build(jobs=2, keep_going=True)
    st = {x.asset: x for x in r.results}
    assert st["bad"].status == "failed" and "ValueError: boom" in st["bad"].error
    assert "AssetFile" in st["bad"].traceback and "execute.py" not in st["bad"].traceback
    assert st["after_bad"].status == "skipped" and "'bad' failed" in st["after_bad"].error
    assert st["slow"].status == "built" and st["after_slow"].status == "built"


TRACEBACKS = """
import lib.checks as checks

@asset(io="json")
def bad():
    rows = [1, 2, 3]
    return checks.validate(rows)

@asset(io="json")
def bad_inner():
    divide = lambda n: n / 0
    return [divide(n) for n in range(3)]
"""
CHECKS = """\
def validate(rows):
    raise ValueError(f"boom: {len(rows)} rows")
"""


def user_frames(tb: str) -> list[tuple[str, str, str]]:
    """(file, line number, source line) of each frame of a traceback text."""
    import re

    return re.findall(r'  File "([^"]+)", line (\d+), in \S+\n    (.*)\n', tb)


def assert_user_traceback(root, results) -> None:
    """Each failure names the real AssetFile (and project module) with the line and its source,
    and shows no frame that is not the user's."""
    st = {x.asset: x for x in results}
    assert st["bad"].status == "failed" and st["bad"].error == "ValueError: boom: 3 rows"
    af, checks = str(root / "AssetFile"), str(root / "lib" / "checks.py")
    assert user_frames(st["bad"].traceback) == [
        (af, "8", "return checks.validate(rows)"),
        (checks, "2", 'raise ValueError(f"boom: {len(rows)} rows")')], st["bad"].traceback
    frames = user_frames(st["bad_inner"].traceback)
    assert frames[0] == (af, "13", "return [divide(n) for n in range(3)]"), st["bad_inner"].traceback
    assert frames[-1] == (af, "12", "divide = lambda n: n / 0")
    assert {f for f, _, _ in frames} == {af}


@pytest.mark.parametrize("executor", ["serial", "threads", "processes"])
def test_a_failure_shows_the_users_files_lines_and_source_on_every_executor(project, executor):
    """cloudpickle 3.1 names code pickled by value ``<dynamic-code>``: a worker's traceback kept
    assetbuild's frames and lost the AssetFile's path and lines."""
    project.write("lib/__init__.py", "")
    project.write("lib/checks.py", CHECKS)
    project.assetfile(TRACEBACKS)
    r = project.build(jobs=2, executor=executor, keep_going=True)
    assert_user_traceback(project.root, r.results)


def test_code_sent_to_a_worker_keeps_its_file_name(tmp_path):
    """The payload itself: a function pickled by value (and the code nested in it) comes back
    with its real ``co_filename``, whichever cloudpickle is installed."""
    import pickle

    from assetbuild.execute import Task, dump_task

    path = str(tmp_path / "AssetFile")
    ns: dict = {"__name__": "assetfile_not_importable"}  # so cloudpickle sends it by value
    exec(compile("def outer():\n    return lambda: 1\n", path, "exec"), ns)
    task = Task("a", ns["outer"], "json", None, {}, [], False, str(tmp_path))
    fn = pickle.loads(dump_task(task)).fn
    assert fn is not ns["outer"] and fn.__code__.co_filename == path
    inner = fn()
    assert inner.__code__.co_filename == path and inner() == 1


CRASHY = """
import os, time

@asset(io="json")
def crash():
    time.sleep(0.3)
    os._exit(7)

@asset(io="json")
def innocent1():
    time.sleep(0.6)
    return 1

@asset(io="json")
def innocent2():
    time.sleep(0.6)
    return 2

@asset(io="json")
def after(innocent1, innocent2):
    return innocent1 + innocent2
"""


def test_a_crashed_worker_fails_its_asset_only(project):
    project.assetfile(CRASHY)
    r = project.build(jobs=2, executor="processes", keep_going=True)
    st = {x.asset: x for x in r.results}
    assert st["crash"].status == "failed" and "worker process died" in st["crash"].error
    assert {n: st[n].status for n in ("innocent1", "innocent2", "after")} == dict.fromkeys(
        ("innocent1", "innocent2", "after"), "built")
    assert project.value("after") == 3
    assert project.status()["crash"].state == "failed"  # no value was recorded for it, the failure was
    r = project.build(jobs=2, executor="processes", keep_going=True)
    assert r.names("built") == [] and r.names("failed") == ["crash"]


# innocent waits for crash to start (a worker can start late on a loaded machine: had innocent
# ended first, a free worker would start 'later' before any failure was known, rightly)
CRASH_FIRST = """
import os, time
from pathlib import Path

HERE = Path(__file__).parent

@asset(io="json")
def crash():
    (HERE / "crash-started").touch()
    time.sleep(0.3)
    os._exit(7)

@asset(io="json")
def innocent():
    with open(HERE / "ran.log", "a") as f:
        f.write("innocent\\n")
    for _ in range(600):
        if (HERE / "crash-started").exists():
            break
        time.sleep(0.05)
    time.sleep(1.5)
    return 1

@asset(io="json")
def later():
    return 2
"""


def test_without_keep_going_a_crash_still_reruns_what_it_took_down(project):
    """The worker crash takes 'innocent' down with it; 'crash' (first in plan order) then fails
    alone and stops the build, but 'innocent' was running: it is rerun by itself and recorded,
    as the warning says, never reported "not run"."""
    project.assetfile(CRASH_FIRST)
    r = project.build(jobs=2, executor="processes")
    st = {x.asset: x for x in r.results}
    assert st["crash"].status == "failed" and "worker process died" in st["crash"].error
    assert st["innocent"].status == "built", st["innocent"].error
    assert st["later"].status == "skipped" and "the build stopped after 'crash' failed" in st["later"].error
    assert project.value("innocent") == 1 and project.status()["innocent"].state == "fresh"
    assert not r.ok


def test_critical_path_first_using_recorded_durations(project):
    """Nothing recorded: the longest chain starts first; then the recorded durations decide."""
    project.assetfile("""
import time
from pathlib import Path

def mark(name):
    with open(Path(__file__).parent / "order.log", "a") as f:
        f.write(name + "\\n")

@asset(io="json")
def w1():
    mark("w1"); time.sleep(0.3); return 1

@asset(io="json")
def w2():
    mark("w2"); time.sleep(0.3); return 2

@asset(io="json")
def c1():
    mark("c1"); return 1

@asset(io="json")
def c2(c1):
    mark("c2"); return 2

@asset(io="json")
def c3(c2):
    mark("c3"); return 3
""")
    log = project.root / "order.log"
    assert project.build(jobs=2, executor="threads").ok
    order = log.read_text().split()
    assert order.index("c2") < order.index("w2")  # longest remaining path first (c2: 2 assets, w2: 1)
    log.write_text("")
    assert project.build(jobs=2, executor="threads", force=True).ok
    first_two = set(log.read_text().split()[:2])
    assert first_two == {"w1", "w2"}  # 0.3 s each beats three assets of ~0 s


def test_cache_hits_and_restores_do_not_wait_for_running_work(project):
    from assetbuild.plugins import get_plugin_manager

    project.write("slow.txt", "1")
    body = "\n".join(f"@asset(io='text', path='out/f{i}.txt')\ndef f{i}():\n    return '{i}'\n" for i in range(6))
    project.assetfile("""
import time
slow_in = source("slow_in", "slow.txt")

@asset(io="json")
def slow(slow_in):
    time.sleep(1.5)
    return slow_in.read_text()
""" + body)
    assert project.build(jobs=2, executor="threads").ok
    project.write("slow.txt", "2")
    for i in range(3):
        (project.root / f"out/f{i}.txt").unlink()

    class Clock:
        seen: list = []

        @assetbuild.hookimpl
        def after_asset(self, result):
            Clock.seen.append((result.asset, result.status, time.monotonic()))

    pm = get_plugin_manager(autoload=False)
    pm.register(Clock())
    t0 = time.monotonic()
    r = project.build(jobs=2, executor="threads", plugin_manager=pm)
    assert r.ok
    assert Clock.seen[-1][:2] == ("slow", "built")
    others = Clock.seen[:-1]
    assert {s for _, s, _ in others} == {"cached", "restored"} and len(others) == 6
    assert all(t - t0 < 1.0 for _, _, t in others), others


def test_executor_names_are_checked(project):
    project.assetfile("""
@asset(io="json", executor="gpu")
def a():
    return 1
""")
    with pytest.raises(DefinitionError, match="unknown executor 'gpu'") as e:
        project.build()
    assert e.value.file.endswith("AssetFile") and e.value.line == 3
    project.assetfile("@asset(io='json')\ndef a():\n    return 1\n")
    with pytest.raises(ConfigError, match="unknown executor 'nope'.*processes"):
        project.build(executor="nope")
    with pytest.raises(ConfigError, match="has no option 'x'"):
        project.build(executor="threads", executor_options={"x": "1"})


class _Picky:
    """A plugin's executor that cannot start with the options it is given."""

    name = "picky"
    description = "starts only with a whole number of workers"
    inline = False
    options = {"workers": "how many"}

    def __init__(self, *, jobs, project_dir, project_modules, options):
        self.workers = int(options.get("workers", jobs))


def test_an_executor_that_cannot_start_is_one_error_naming_it(project):
    """Its exception failed every asset sent to it, each 'cannot send it to its executor:
    ValueError: ...', naming no executor; the build now stops with one line (exit 2) naming it."""
    from assetbuild import PluginError, hookimpl
    from assetbuild.plugins import get_plugin_manager

    class Plugin:
        @hookimpl
        def register_executors(self):
            return [_Picky]

    pm = get_plugin_manager(autoload=False)
    pm.register(Plugin(), name="picky-plugin")
    project.assetfile("@asset(io='json')\ndef a():\n    return 1\n\n@asset(io='json')\ndef b():\n    return 2\n")
    with pytest.raises(PluginError) as e:
        project.build(plugin_manager=pm, executor="picky", executor_options={"workers": "x"}, jobs=2)
    assert str(e.value) == ("the executor 'picky' could not start with options workers=x: ValueError: invalid literal "
                            "for int() with base 10: 'x'")


def test_jobs_values():
    assert parse_jobs(None) == 1 and parse_jobs("3") == 3 and parse_jobs(2) == 2
    assert parse_jobs("auto") == len(os.sched_getaffinity(0))
    assert parse_jobs(MAX_JOBS) == MAX_JOBS == 2**22  # (Linux's most process ids)
    for bad in ("0", "-1", "many", "1.5", "²", 0, -1, 1.5, 2.0, True, [2], MAX_JOBS + 1, "99999999999999999999"):
        with pytest.raises(ConfigError, match=r"^jobs must be a whole number of assets at once \(1 to 4194304\) "
                                              r"or 'auto', got "):
            parse_jobs(bad)
    assert parse_jobs(" 3 ") == parse_jobs(3) == 3


def test_pyproject_settings_and_overrides(project):
    project.write("pyproject.toml", '[tool.assetbuild]\nexecutor = "threads"\njobs = 2\n')
    project.assetfile("""
import threading

@asset(io="json")
def a():
    return threading.current_thread().name
""")
    assert project.build().ok and project.value("a").startswith("assetbuild-")
    assert project.build(executor="serial", force=True).ok and project.value("a") == "MainThread"
    for bad in ('"lots"', "0", "99999999999999999999"):
        project.write("pyproject.toml", f'[tool.assetbuild]\njobs = {bad}\n')
        with pytest.raises(ConfigError, match=r"pyproject.toml \[tool.assetbuild\]: jobs must be a whole number "
                                              r"of assets at once \(1 to 4194304\) or 'auto', got "):
            project.build()


def test_build_jobs_0_says_what_jobs_takes(project):
    """build(jobs=0) (and a fraction, or True) is one message naming jobs and what it allows."""
    project.assetfile("@asset(io='json')\ndef a():\n    return 1\n")
    for bad in (0, -2, 1.5, True, "none", 10**20):
        with pytest.raises(ConfigError, match=r"^jobs must be a whole number of assets at once \(1 to 4194304\) "
                                              r"or 'auto', got "):
            project.build(jobs=bad)
    assert project.build(jobs="2").ok


def test_workers_never_fork_the_store():
    assert start_method() in ("forkserver", "spawn")
    ex = ProcessExecutor(jobs=1, project_dir=".")
    assert ex._ctx.get_start_method() == start_method()


def test_a_script_without_a_main_guard_does_not_rebuild_itself(tmp_path):
    """Process workers do not run the parent's __main__ again (spawn/forkserver would)."""
    import subprocess
    import sys

    from projects import clean_env

    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='json')\ndef a():\n"
                                        "    return 1\n\n@asset(io='json')\ndef b():\n    return 2\n")
    (tmp_path / "script.py").write_text("import assetbuild\nr = assetbuild.build(jobs=2)\n"
                                        "print(sorted(r.names('built')))\n")
    out = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True,
                         env=clean_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['a', 'b']"


def test_a_script_keeps_its_main_and_assets_in_this_process_see_it(tmp_path):
    """While an executor with worker processes lives, ``sys.modules["__main__"]`` is a stand-in
    that names no script (a worker started then must not run it again), whose other names read
    through to the script's: an asset on ``serial`` beside it sees them. After the build the
    script's own module is back, even for a script inside the project (loading the AssetFile
    drops the project's modules from ``sys.modules``, never ``__main__``): pickle finds its
    classes again."""
    import subprocess
    import sys

    from projects import clean_env

    (tmp_path / "AssetFile").write_text(
        "from assetbuild import asset\n\n@asset(io='json')\ndef far():\n    return 1\n\n"
        "@asset(io='json', executor='serial')\ndef here(far):\n    import __main__\n"
        "    return [__main__.SETTING, getattr(__main__, '__file__', None)]\n")
    (tmp_path / "script.py").write_text(
        "import pickle, sys\nimport assetbuild\n\nSETTING = 'from the script'\n\nclass Point:\n    pass\n\n"
        "r = assetbuild.build(jobs=2, executor='processes')\n"
        "print(sorted(r.names('built')), assetbuild.load_value('here'))\n"
        "print(sys.modules['__main__'].__file__ == __file__, type(pickle.loads(pickle.dumps(Point()))).__name__)\n")
    out = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True,
                         env=clean_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["['far', 'here'] ['from the script', None]", "True Point"]


def test_two_jobs_run_two_cpu_bound_assets_at_once(project):
    """With -j 2, two workers run assets at the same time: some two assets' runs overlap, in
    two processes. (Whether that makes the build faster depends on the machine's other work:
    the figures are in bench/RESULTS.md, `bench/parallel.py`.)"""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    body = "\n".join(f"@asset(io='json')\ndef a{i}():\n    return burn({i})\n" for i in range(6))
    project.assetfile("""
import os
import time

def burn(seed):
    start, t = time.time(), time.process_time()
    x = seed
    while time.process_time() - t < 0.1:
        x = (x * 31 + 7) % 1000003
    return [os.getpid(), start, time.time()]
""" + body)
    tries = []
    for _ in range(3):  # a worker that starts late (a loaded machine) may find no task left: again
        assert project.build(jobs=2, executor="processes", force=True).ok
        runs = sorted(project.value(f"a{i}") for i in range(6))
        assert os.getpid() not in {pid for pid, _, _ in runs} and len({pid for pid, _, _ in runs}) <= 2
        if any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in runs for b in runs):
            return
        tries.append(runs)
    pytest.fail(f"no two assets ran at once in three builds at -j 2 (pid, start, end): {tries}")


def test_watch_with_workers_runs_the_edited_helper(project):
    """Watch mode is one long process: each build gets fresh workers, so an edit of a project
    module reaches them (a worker kept from the first build would run the old helper)."""
    from test_watch import Watching, built, edit

    project.write("lib/__init__.py", "")
    project.write("lib/text.py", "def shout(s):\n    return s.upper()\n")
    project.assetfile("""
import os
from lib.text import shout

@asset(io="json")
def greeting():
    return [shout("hi"), os.getpid()]
""")
    with Watching(project.root, jobs=2, executor="processes") as w:
        assert built(w.cycles[0]) == ["greeting"]
        n = len(w.cycles)
        edit(project.root / "lib/text.py", "def shout(s):\n    return s.upper() + '!'\n")
        c = w.wait(n + 1)[-1]
        assert built(c) == ["greeting"]
    text, pid = project.value("greeting")
    assert text == "HI!" and pid != os.getpid()


def test_a_cancelled_process_pool_is_gone_when_shutdown_returns(tmp_path):
    """Ctrl-C ends the pool with shutdown(cancel=True). Its manager thread must have ended by
    then: Python 3.11-3.13 write to that thread's closed wake-up pipe at exit otherwise, and a
    clean Ctrl-C printed an "OSError: Bad file descriptor" traceback now and then."""
    import threading

    from assetbuild.builtin.io_managers import JsonIOManager
    from assetbuild.execute import Task

    def nap():
        import time

        time.sleep(30)

    ex = ProcessExecutor(jobs=1, project_dir=str(tmp_path))
    fut = ex.submit(Task("nap", nap, "json", JsonIOManager(), {}, [], False, str(tmp_path)))
    managers = [t for t in threading.enumerate() if type(t).__name__ == "_ExecutorManagerThread"]
    assert managers and not fut.done()
    ex.shutdown(cancel=True)
    assert not any(t.is_alive() for t in managers)


def _send_half_a_result() -> None:
    """In a pool's worker: start a result message far longer than what follows (as a worker
    killed while it sent a multi-asset's large outs leaves it), then wait to be killed."""
    import gc
    import struct
    from multiprocessing.queues import SimpleQueue

    queue = next(o for o in gc.get_objects() if isinstance(o, SimpleQueue))
    os.write(queue._writer.fileno(), struct.pack("!i", 100_000_000) + b"x" * 10)
    time.sleep(60)


def test_ending_a_pool_whose_worker_died_mid_result_does_not_leave_its_thread_waiting():
    """SIGTERM while a worker sent a large result: the pool's manager thread waited for the rest
    of the message forever (the build held the pipe's write end too), and the interpreter's exit,
    which joins it, hung the stopped build."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from assetbuild.executors import _end_pool

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    pool.submit(_send_half_a_result)
    writer = pool._result_queue._writer
    procs = list(pool._processes.values())
    manager = pool._executor_manager_thread
    try:
        time.sleep(1.0)  # the manager thread is reading the message now
        _end_pool(pool, procs, manager)
        assert not manager.is_alive()
    finally:
        writer.close()  # (without the fix: so this test process can still exit)
        manager.join(5)
