"""The ``dask`` executor against real dask.distributed clusters on loopback (worker processes):
discovery, identical outputs, an existing cluster by address, code changes reaching long-lived
workers, worker logs, and workers that die mid-task."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import dask
import pytest
from assetbuild_dask import DaskExecutor
from distributed import Client, LocalCluster

import assetbuild
from assetbuild import collect_executors, get_plugin_manager
from assetbuild.testing import ExecutorContract

pytestmark = pytest.mark.slow  # clusters take a second or more to start


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """Never use the developer's cache or cluster; load installed plugins as a user's run would."""
    monkeypatch.delenv("ASSETBUILD_CACHE_DIR", raising=False)
    monkeypatch.delenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)


@pytest.fixture(scope="module")
def cluster():
    """A running cluster, as a user would have one: two worker processes on loopback."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as c, Client(c) as client:
        yield c.scheduler_address, client


def write_project(root: Path, assetfile: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "AssetFile").write_text("from assetbuild import asset, source, Output\n" + textwrap.dedent(assetfile))
    for rel, text in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


PIPELINE = """
import os
import lib.calc as calc

raw = source("raw", "raw.txt")

@asset(io="json")
def numbers(raw):
    return [int(x) for x in raw.read_text().split()]

@asset(io="json")
def squares(numbers, context):
    context.log.info("squaring %d numbers", len(numbers))
    return [calc.f(n) for n in numbers]

@asset
def pickled(squares):
    return {"squares": tuple(squares), "name": "x"}

@asset(io="text", path="out/total.txt")
def total(squares, numbers):
    return f"{sum(squares)} {len(numbers)}"

@asset(io="json")
def where():
    return os.getpid()
"""
FILES = {"raw.txt": "1 2 3 4", "lib/__init__.py": "", "lib/calc.py": "def f(n):\n    return n * n\n"}


def test_the_plugin_registers_the_dask_executor():
    assert "dask" in collect_executors(get_plugin_manager())


def test_local_cluster_build_equals_a_serial_build(tmp_path, caplog):
    serial = write_project(tmp_path / "serial", PIPELINE, FILES)
    par = write_project(tmp_path / "dask", PIPELINE, FILES)
    a = assetbuild.build(project_dir=serial)
    with caplog.at_level("INFO", logger="assetbuild.asset"):
        b = assetbuild.build(project_dir=par, jobs=2, executor="dask")
    assert a.ok and b.ok, [(r.asset, r.error) for r in b.results]
    va = {r.asset: r.data_version for r in a.results if r.asset != "where"}
    assert {r.asset: r.data_version for r in b.results if r.asset != "where"} == va  # same bytes
    assert (par / "out/total.txt").read_text() == "30 4"
    assert assetbuild.load_value("where", project_dir=par) != os.getpid()
    assert ("assetbuild.asset.squares", "squaring 4 numbers") in [(r.name, r.getMessage()) for r in caplog.records]
    assert assetbuild.build(project_dir=par, jobs=2, executor="dask").names("built") == []


BIG_INPUT = """
@asset(io="bytes")
def big():
    return b"\\x01" * (20 * 1024 * 1024)

@asset(io="json")
def size(big):
    return len(big)
"""


def test_a_large_input_gives_no_dask_advice_to_the_user(tmp_path):
    """A task carries its inputs' bytes, by design: distributed's "Sending large graph of size
    20.00 MiB ... Consider loading the data with Dask directly" warning was advice about dask
    graphs no assetbuild user can act on. It is silenced while the executor lives, no longer."""
    import warnings

    root = write_project(tmp_path / "p", BIG_INPUT)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = assetbuild.build(project_dir=root, jobs=2, executor="dask")
        left = [f for f in warnings.filters if f[0] == "ignore" and "large graph" in str(f[1] and f[1].pattern)]
    assert r.ok and assetbuild.load_value("size", project_dir=root) == 20 * 1024 * 1024
    assert [str(w.message) for w in seen if "large graph" in str(w.message)] == []
    assert left == []


def test_existing_cluster_from_the_command_line(tmp_path, cluster):
    address, client = cluster
    root = write_project(tmp_path / "p", PIPELINE, FILES)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", None)
    r = subprocess.run([sys.executable, "-m", "assetbuild", "-j", "2", "--dask-scheduler", address, "--json"],
                       cwd=root, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert {e["status"] for e in json.loads(r.stdout)["results"]} == {"built"}
    assert "[squares] squaring 4 numbers" in r.stderr
    worker_pids = set(client.run(os.getpid).values())
    assert assetbuild.load_value("where", project_dir=root) in worker_pids
    env["DASK_SCHEDULER_ADDRESS"] = address  # the address from the environment, --force to run again
    r = subprocess.run([sys.executable, "-m", "assetbuild", "-j", "2", "--executor", "dask", "--force"],
                       cwd=root, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "5 built" in r.stdout, r.stderr


def test_a_code_change_reaches_long_lived_workers(tmp_path, cluster):
    address, _ = cluster
    root = write_project(tmp_path / "p", PIPELINE, FILES)
    opts = {"scheduler": address}
    assert assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options=opts).ok
    assert (root / "out/total.txt").read_text() == "30 4"
    (root / "lib/calc.py").write_text("def f(n):\n    return n * 10\n")
    r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options=opts)
    assert sorted(r.names("built")) == ["pickled", "squares", "total"]
    assert (root / "out/total.txt").read_text() == "100 4"  # the workers ran the new helper


SELF_CALLS = """
import assetbuild

@asset(io="json")
def base():
    return 1

@asset(io="json")
def selfcall(base):
    return assetbuild.build(["base"], project_dir=__file__.rpartition("/")[0]).ok

@asset(io="json")
def other():
    return assetbuild.build(project_dir={other!r}).names("built")
"""


def test_an_asset_calling_the_api_on_its_own_project_is_refused_at_once_and_may_build_another(tmp_path, cluster):
    """The worker is told which build lock its build holds, as a ``processes`` worker is: an
    asset that builds its own project fails at once (``ReentrantCall``), where it waited for
    the build that waits for it (and, the client gone, built the project on the worker). An
    asset that builds another project still does."""
    address, _ = cluster
    other = write_project(tmp_path / "b", "@asset(io='json')\ndef far():\n    return 2\n")
    root = write_project(tmp_path / "p", SELF_CALLS.format(other=str(other)))
    r = subprocess.run([sys.executable, "-m", "assetbuild", "-j", "2", "--dask-scheduler", address, "--json",
                        "--keep-going"], cwd=root, capture_output=True, text=True, env=user_env(), timeout=60)
    st = {e["asset"]: e for e in json.loads(r.stdout)["results"]}
    assert r.returncode == 1 and st["selfcall"]["status"] == "failed", r.stdout + r.stderr
    assert st["selfcall"]["error"].startswith("ReentrantCall: ") and "is in use by the build running this asset" \
        in st["selfcall"]["error"]
    assert st["other"]["status"] == "built" and assetbuild.load_value("other", project_dir=root) == ["far"]
    assert assetbuild.load_value("far", project_dir=other) == 2


DIES_ONCE = """
import os
from pathlib import Path

@asset(io="json")
def fragile():
    marker = Path(__file__).parent / "died-once"
    if not marker.exists():
        marker.write_text("x")
        os._exit(1)  # the worker process dies in the middle of the task
    return 42

@asset(io="json")
def after(fragile):
    return fragile + 1
"""


def test_a_worker_that_dies_mid_task_is_retried(tmp_path, cluster):
    address, _ = cluster
    root = write_project(tmp_path / "p", DIES_ONCE)
    r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options={"scheduler": address})
    assert r.ok and r.names("built") == ["fragile", "after"]
    assert (root / "died-once").exists()  # it did die once, and dask ran it again elsewhere
    assert assetbuild.load_value("after", project_dir=root) == 43


DIES_ONCE_WRITING = """
import os
from pathlib import Path

@asset(outputs=["out/"])
def files(context):
    d = context.out("out/")
    d.mkdir(parents=True, exist_ok=True)
    marker = Path(__file__).parent / "died-once"
    if not marker.exists():
        (d / "half.txt").write_text("written by the attempt that died")
        marker.write_text("x")
        os._exit(1)  # the worker dies mid-task: dask runs it again, in the same staging directory
    (d / "final.txt").write_text("done")
"""


def test_a_worker_that_dies_mid_task_leaves_none_of_its_files_to_the_rerun(tmp_path, cluster):
    """The files the killed attempt wrote in its staging directory were recorded among the
    outputs of the attempt dask ran again, and placed in the project (exit 0): each attempt
    now starts from an empty staging directory."""
    address, _ = cluster
    root = write_project(tmp_path / "p", DIES_ONCE_WRITING)
    r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options={"scheduler": address})
    assert r.ok and r.names("built") == ["files"] and (root / "died-once").exists()
    assert sorted(p.name for p in (root / "out").iterdir()) == ["final.txt"]
    import shutil

    shutil.rmtree(root / "out")  # put back from what was recorded
    assert assetbuild.build(project_dir=root).names("restored") == ["files"]
    assert sorted(p.name for p in (root / "out").iterdir()) == ["final.txt"]


ALWAYS_DIES = """
import os, time

@asset(io="json")
def doomed():
    time.sleep(0.2)
    os._exit(1)

@asset(io="json")
def innocent():
    time.sleep(0.5)
    return 1

@asset(io="json")
def after_doomed(doomed):
    return doomed
"""


def test_a_task_that_always_kills_its_worker_fails_clearly(tmp_path):
    root = write_project(tmp_path / "p", ALWAYS_DIES)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        r = assetbuild.build(project_dir=root, jobs=2, executor="dask", keep_going=True)
    st = {x.asset: x for x in r.results}
    assert st["doomed"].status == "failed" and "KilledWorker" in st["doomed"].error
    assert st["innocent"].status == "built" and st["after_doomed"].status == "skipped"
    assert {s.asset: s.state for s in assetbuild.status(project_dir=root)}["doomed"] == "failed"


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell: bytecode written, plugins loaded, this run's PYTHONPATH (a worktree's code)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD",
                        "ASSETBUILD_CACHE_DIR")}
    env.update(extra)
    return env


def test_the_command_survives_a_local_worker_that_dies(tmp_path):
    """``assetbuild -j 1 --executor dask`` as users run it (the installed command, a script):
    the LocalCluster's Nanny starts a new worker process after one dies, long after the cluster
    started, and that worker must not run the command again (a nested build, waiting on the
    cache's lock forever). The task runs again on the new worker and the build ends."""
    script = Path(sys.executable).parent / "assetbuild"
    if not script.exists():
        pytest.skip(f"needs the installed assetbuild command beside {sys.executable}")
    root = write_project(tmp_path / "p", DIES_ONCE)
    r = subprocess.run([str(script), "-j", "1", "--executor", "dask"], cwd=root, capture_output=True, text=True,
                       env=user_env(), timeout=90)
    assert r.returncode == 0 and "2 built" in r.stdout, r.stdout + r.stderr
    assert (root / "died-once").exists() and "waiting for it to finish" not in r.stderr


def test_a_script_without_a_main_guard_ends_when_its_workers_die(tmp_path):
    """A script that calls ``assetbuild.build`` with no ``if __name__ == "__main__":`` guard:
    each worker the Nanny starts after a death must not run the script (another build) again;
    after the allowed failures the asset fails with KilledWorker and the script goes on.
    distributed's own log line about it ("marked as failed because 2 workers died") is not
    printed besides."""
    root = write_project(tmp_path / "p", ALWAYS_DIES)
    (root / "script.py").write_text("import assetbuild\nr = assetbuild.build(jobs=1, executor='dask', keep_going=True)\n"
                                    "print('RESULT', sorted((x.asset, x.status) for x in r.results))\n")
    r = subprocess.run([sys.executable, "script.py"], cwd=root, capture_output=True, text=True, timeout=90,
                       env=user_env(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines() == ["RESULT [('after_doomed', 'skipped'), ('doomed', 'failed'), "
                                     "('innocent', 'built')]"], r.stdout + r.stderr


CLUSTER = """
import logging, os, sys, time
import dask
from distributed import LocalCluster

if __name__ == "__main__":
    # forked workers: the semaphores multiprocessing makes are unlinked at once, so the test's
    # SIGKILL of the whole cluster (its resource tracker too) leaves none in /dev/shm
    dask.config.set({"distributed.worker.multiprocessing-method": "fork"})
    c = LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                     dashboard_address=None, silence_logs=logging.CRITICAL)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(c.scheduler_address)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(300)
"""

WAITS = """
import time
from pathlib import Path

def waits(name):
    (Path(__file__).parent / f"started-{name}").write_text("x")
    time.sleep(60)
    return 1

@asset(io="json")
def one():
    return waits("one")

@asset(io="json")
def two():
    return waits("two")

@asset(io="json")
def three():
    return waits("three")
"""


WAITS_WITH_A_RESOURCE = WAITS.replace("def one():", "def one(conn):") + """
from assetbuild import resource

@resource
def conn():
    yield "live"
"""


def test_a_cluster_that_dies_mid_build_fails_its_assets_and_the_build_ends(tmp_path):
    """``--dask-scheduler``: the whole cluster (scheduler and workers) is killed while two assets
    run on it. Each running asset fails with one line saying the scheduler was lost, the one
    not started yet too (-k), nothing is recorded, and the build ends (exit 1) at once, without
    distributed's tracebacks; it never waits on tasks the lost scheduler cannot finish, nor,
    as one used a resource, on the lost scheduler to release it on the workers (10 s)."""
    import signal
    import time

    root = write_project(tmp_path / "p", WAITS_WITH_A_RESOURCE)
    (tmp_path / "cluster.py").write_text(CLUSTER)
    addr_file = tmp_path / "address"
    cluster = subprocess.Popen([sys.executable, str(tmp_path / "cluster.py"), str(addr_file)], cwd=tmp_path,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs: dict[str, subprocess.Popen] = {}
    try:
        deadline = time.monotonic() + 60
        while not addr_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = addr_file.read_text()
        build = procs["build"] = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2", "-k", "--dask-scheduler", address],
                                 cwd=root, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while len(list(root.glob("started-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(root.glob("started-*"))) == 2
        os.killpg(cluster.pid, signal.SIGKILL)
        t0 = time.monotonic()
        out, err = build.communicate(timeout=60)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        try:
            os.killpg(cluster.pid, signal.SIGKILL)  # the cluster and its workers
        except ProcessLookupError:
            pass
        cluster.wait()
    assert build.returncode == 1, out + err
    assert time.monotonic() - t0 < 7 and "Traceback" not in err, err
    lost = f"the dask scheduler at {address} was lost while"
    assert sorted(line.split(":")[0].split()[-1] for line in err.splitlines() if lost in line) == ["one", "three", "two"], err
    assert "0 built" in out and "3 failed" in out
    assert {s.asset: s.state for s in assetbuild.status(project_dir=root)} == dict.fromkeys(("one", "two", "three"), "failed")


def spawned_workers(pgid: int) -> int:
    """How many processes of process group ``pgid`` are multiprocessing workers (spawn_main)."""
    n = 0
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if int((d / "stat").read_text().rpartition(")")[2].split()[2]) == pgid \
                    and b"spawn_main" in (d / "cmdline").read_bytes():
                n += 1
        except (OSError, ValueError, IndexError):  # gone meanwhile
            pass
    return n


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes in /proc")
@pytest.mark.parametrize("when", ["workers-starting", "assets-running"])
def test_ctrl_c_in_the_terminal_ends_a_local_cluster_build_quietly(tmp_path, when):
    """Ctrl-C signals the terminal's whole process group, the LocalCluster's worker processes
    too: while they started, each printed its KeyboardInterrupt's traceback, and the cluster,
    left half made, was closed at exit with distributed's log lines. The workers never see it
    now, the cluster starts whole, and the build ends them: exit 130, one line, nothing left."""
    import signal
    import time

    root = write_project(tmp_path / "p", WAITS)
    build = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2", "--executor", "dask"], cwd=root,
                             env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # its own process group, as a terminal's job
    try:
        deadline = time.monotonic() + 60
        if when == "workers-starting":
            while spawned_workers(build.pid) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        else:
            while len(list(root.glob("started-*"))) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        assert time.monotonic() < deadline, "the build never got there"
        os.killpg(build.pid, signal.SIGINT)
        out, _ = build.communicate(timeout=60)
        assert build.returncode == 130, out
        assert "Traceback" not in out and "KeyboardInterrupt" not in out and "distributed." not in out, out
        assert out.splitlines()[-1].startswith("assetbuild: interrupted"), out
        while time.monotonic() < deadline:  # the workers end with the build
            try:
                os.killpg(build.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("processes of the build outlived it")
    finally:
        if build.poll() is None:
            build.kill()
        try:
            os.killpg(build.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path):
    root = write_project(tmp_path / "p", "@asset(io='json')\ndef a():\n    return 1\n")
    env = {k: v for k, v in os.environ.items() if k != "ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD"}
    r = subprocess.run([sys.executable, "-m", "assetbuild", "-j", "2", "--dask-scheduler", "tcp://127.0.0.1:9"],
                       cwd=root, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "cannot reach the dask scheduler at tcp://127.0.0.1:9" in r.stderr and "Traceback" not in r.stderr


FAILURES = """
import sys
import lib.checks as checks

@asset(io="json")
def bad():
    rows = [1, 2, 3]
    return checks.validate(rows)

@asset(io="json")
def bad_inner():
    divide = lambda n: n / 0
    return [divide(n) for n in range(3)]

@asset(io="json")
def exits3():
    sys.exit(3)

@asset(io="json")
def interrupts():
    raise KeyboardInterrupt

@asset(io="json")
def gen_exit():
    raise GeneratorExit

@asset(io="json")
def fine():
    return 1
"""
CHECKS = 'def validate(rows):\n    raise ValueError(f"boom: {len(rows)} rows")\n'


def frames(tb: str) -> list[tuple[str, str, str]]:
    """(file, line number, source line) of each frame of a traceback text."""
    import re

    return re.findall(r'  File "([^"]+)", line (\d+), in \S+\n    (.*)\n', tb)


def test_failures_show_the_users_frames_and_asset_code_cannot_end_the_build(tmp_path, cluster):
    """Code travels by value to these workers (cloudpickle 3.1 names it ``<dynamic-code>``): the
    traceback still names the real AssetFile and module, lines and source, and nothing else;
    sys.exit, KeyboardInterrupt and GeneratorExit fail their asset only."""
    address, _ = cluster
    root = write_project(tmp_path / "p", FAILURES, {"lib/__init__.py": "", "lib/checks.py": CHECKS})
    r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options={"scheduler": address},
                         keep_going=True)
    st = {x.asset: x for x in r.results}
    af, checks = str(root / "AssetFile"), str(root / "lib" / "checks.py")
    assert st["bad"].error == "ValueError: boom: 3 rows"
    assert frames(st["bad"].traceback) == [(af, "9", "return checks.validate(rows)"),
                                           (checks, "2", 'raise ValueError(f"boom: {len(rows)} rows")')]
    inner = frames(st["bad_inner"].traceback)
    assert inner[0] == (af, "14", "return [divide(n) for n in range(3)]") and {f for f, _, _ in inner} == {af}
    assert inner[-1] == (af, "13", "divide = lambda n: n / 0")
    assert "called sys.exit(3)" in st["exits3"].error
    assert "raised KeyboardInterrupt without a Ctrl-C" in st["interrupts"].error
    assert "raised GeneratorExit outside a generator" in st["gen_exit"].error
    assert st["fine"].status == "built"


def test_what_an_asset_prints_on_a_worker_comes_back_with_its_result(tmp_path, cluster):
    stdout, stderr = 21, 31  # the levels of printed lines (assetbuild.capture, not plugin API)
    address, _ = cluster
    root = write_project(tmp_path / "p", """
import sys

@asset
def talk():
    print("on a dask worker")
    sys.stderr.write("and its stderr\\n")
    return 1

@asset
def fails(talk):
    print("the reason")
    raise ValueError("boom")
""")
    r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options={"scheduler": address},
                         keep_going=True)
    logs = {x.asset: x.logs for x in r.results}
    assert logs == {"talk": ((stdout, "on a dask worker"), (stderr, "and its stderr")),
                    "fails": ((stdout, "the reason"),)}


class TestDaskContract(ExecutorContract):
    """The contract every executor keeps (assetbuild.testing), on the running cluster."""

    executor_class = DaskExecutor

    @pytest.fixture(autouse=True)
    def _on_the_cluster(self, cluster):
        self.executor_options = {"scheduler": cluster[0]}


# --- a running cluster of `dask scheduler` and `dask worker` processes, shared by builds --------

@contextmanager
def dask_processes(tmp_path: Path, *, nthreads: int = 1, cwd: Path | None = None,
                   pythonpath: tuple[str, ...] = (), env: dict[str, str] | None = None, workers: int = 1):
    """A scheduler and one worker process started as ``dask scheduler`` and ``dask worker`` are
    on a cluster whose workers outlive builds: from ``cwd``, with ``pythonpath`` before this
    run's (a shared filesystem, a ``pip install -e`` of the project) and the environment ``env``
    (default: this one); ``workers=0``: the scheduler alone. Yields (address, client)."""
    import signal
    import time

    sched_file = tmp_path / f"scheduler-{os.getpid()}-{time.monotonic_ns()}.json"
    base = dict(os.environ if env is None else env)
    ours = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]  # (cwd differs)
    base["PYTHONPATH"] = os.pathsep.join([*pythonpath, *ours])
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                               str(sched_file)], env=base, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(workers):
                procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                           "--nthreads", str(nthreads), "--nworkers", "1", "--host", "127.0.0.1",
                                           "--no-dashboard"], cwd=cwd or tmp_path, env=base, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, set_as_default=False) as client:
            if workers:
                client.wait_for_workers(workers, timeout=60)
            yield address, client
    finally:  # SIGTERM first: killed at once, the workers' nannies leave their semaphores in /dev/shm
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


INNER_IMPORT = """
@asset(io="json")
def inner():
    import lib.calc  # imported as the asset runs: not sent with the task

    return lib.calc.f(3)
"""


def test_a_module_imported_inside_an_asset_is_the_builds_own_on_workers_that_outlive_builds(tmp_path):
    """A worker that can import the project (on its PYTHONPATH) kept the ``lib.calc`` the first
    build imported: the build after an edit stored the old code's 9 under the new code's key,
    and another project's ``lib`` ran in place of a second project's own. Each build now imports
    its project's modules afresh on the worker, and checks their digests as with processes."""
    p1 = write_project(tmp_path / "p1", INNER_IMPORT, {"lib/__init__.py": "",
                                                       "lib/calc.py": "def f(n):\n    return n * n\n"})
    p2 = write_project(tmp_path / "p2", INNER_IMPORT, {"lib/__init__.py": "from .helper import g\n",
                                                       "lib/helper.py": "def g(n):\n    return -n\n",
                                                       "lib/calc.py": "from lib import g\n\ndef f(n):\n    return g(n)\n"})
    (tmp_path / "elsewhere").mkdir()
    with dask_processes(tmp_path, pythonpath=(str(p1),), cwd=tmp_path / "elsewhere") as (address, _):
        opts = {"scheduler": address}
        assert assetbuild.build(project_dir=p1, jobs=2, executor="dask", executor_options=opts).ok
        assert assetbuild.load_value("inner", project_dir=p1) == 9
        (p1 / "lib/calc.py").write_text("def f(n):\n    return n * 100\n")
        r = assetbuild.build(project_dir=p1, jobs=2, executor="dask", executor_options=opts)
        assert r.ok and r.names("built") == ["inner"], [(x.asset, x.error) for x in r.results]
        assert assetbuild.load_value("inner", project_dir=p1) == 300
        r = assetbuild.build(project_dir=p2, jobs=2, executor="dask", executor_options=opts)
        assert r.ok, [(x.asset, x.error) for x in r.results]
        assert assetbuild.load_value("inner", project_dir=p2) == -3  # its own lib, not p1's


SLOW_INNER_IMPORT = """
import time
from pathlib import Path

@asset(io="json")
def inner():
    here = Path(__file__).parent
    (here / "started").write_text("x")
    while not (here / "go").exists():
        time.sleep(0.05)
    import lib.calc

    return lib.calc.f(3)
"""


def test_a_module_edited_while_an_asset_runs_on_a_local_cluster_fails_it(tmp_path):
    """The asset imports ``lib.calc`` after it was edited: it ran code other than its key's, so
    nothing is recorded (as with --executor processes), where the new code's value was stored
    under the old code's key."""
    import time

    root = write_project(tmp_path / "p", SLOW_INNER_IMPORT, {"lib/__init__.py": "",
                                                             "lib/calc.py": "def f(n):\n    return n * n\n"})
    build = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2", "--executor", "dask"], cwd=root,
                             env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (root / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (root / "lib/calc.py").write_text("def f(n):\n    return n * 100\n")
        (root / "go").write_text("x")
        out, err = build.communicate(timeout=60)
    finally:
        if build.poll() is None:
            build.kill()
    assert build.returncode == 1, out + err
    assert "lib/calc.py changed while 'inner' was running" in err, err
    (root / "lib/calc.py").write_text("def f(n):\n    return n * n\n")  # the edit undone
    assert assetbuild.build(project_dir=root, jobs=1).names("built") == ["inner"]
    assert assetbuild.load_value("inner", project_dir=root) == 9


ENV_AND_CWD = """
import os

data = source("data", "data.txt")

@asset(io="json", env=["REGION"])
def region():
    return os.environ.get("REGION", "<unset>")

@asset(io="json", env=["API_KEY"])
def authed():
    return len(os.environ.get("API_KEY", ""))

@asset(io="json")
def via_open(data):
    with open("data.txt") as f:  # relative to the working directory: the project's
        return f.read()
"""


def test_an_asset_sees_its_keys_environment_and_runs_in_the_project_directory(tmp_path, monkeypatch):
    """A worker started elsewhere, without REGION: the value stored under the key of REGION=us
    was the worker's ``<unset>``, and ``open("data.txt")`` read the worker's file. The task now
    sets REGION as its key holds it, runs in the project directory, and puts the worker back; a
    secret is not sent, and a worker without the build's value fails the asset saying so."""
    root = write_project(tmp_path / "p", ENV_AND_CWD, {"data.txt": "the project's"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data.txt").write_text("the worker's")
    env = {k: v for k, v in os.environ.items() if k not in ("REGION", "API_KEY")}
    with dask_processes(tmp_path, nthreads=2, cwd=elsewhere, env=env) as (address, client):
        monkeypatch.setenv("REGION", "us")
        monkeypatch.setenv("API_KEY", "s3cr3t")
        r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options={"scheduler": address},
                             keep_going=True)
        by = {x.asset: x for x in r.results}
        assert assetbuild.load_value("region", project_dir=root) == "us"
        assert assetbuild.load_value("via_open", project_dir=root) == "the project's"
        assert by["authed"].status == "failed" and by["authed"].error == (
            "the environment variable API_KEY is unset on this worker (its key holds the build's value; a secret's "
            "value is never sent to a worker: give the workers the build's API_KEY)")
        assert set(client.run(lambda: (os.getcwd(), os.environ.get("REGION"))).values()) == {(str(elsewhere), None)}


def test_a_cluster_without_workers_says_the_build_waits_and_its_no_workers_timeout_ends_it(tmp_path, monkeypatch,
                                                                                             capsys):
    """No worker joined the scheduler: the build waited without a word, forever. It now says
    what it waits for after a few seconds, and the scheduler's no-workers-timeout fails the
    waiting assets with one line (nothing recorded)."""
    import time

    import assetbuild_dask

    monkeypatch.setattr(assetbuild_dask, "NO_WORKERS_S", 1.0)
    root = write_project(tmp_path / "p", "@asset(io='json')\ndef a():\n    return 1\n")
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT": "5s"}
    with dask_processes(tmp_path, env=env, workers=0) as (address, _):
        t0 = time.monotonic()
        r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options={"scheduler": address})
    err = capsys.readouterr().err
    assert time.monotonic() - t0 < 30
    assert f"the dask scheduler at {address} has no workers: 1 asset waits for one to join" in err, err
    assert err.count("has no workers") == 1
    assert [(x.asset, x.status, x.error) for x in r.results] == [
        ("a", "failed", "no dask worker could run 'a' within the scheduler's "
                        "distributed.scheduler.no-workers-timeout (5 s)")]


@pytest.mark.parametrize("address,where", [("127.0.0.1", "--dask-scheduler"), ("tcp://h:p/extra", "--dask-scheduler"),
                                           ("foo", "env")])
def test_a_malformed_scheduler_address_is_one_line_at_once(tmp_path, address, where):
    """No port, or not a host and port: one line and exit 2 at once, where dask's half-made
    Client gave up 20 s later with a traceback after assetbuild's line."""
    import time

    root = write_project(tmp_path / "p", "@asset(io='json')\ndef a():\n    return 1\n")
    args = ["--dask-scheduler", address] if where != "env" else ["--executor", "dask"]
    env = user_env(**({"DASK_SCHEDULER_ADDRESS": address} if where == "env" else {}))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "assetbuild", "-j", "2", *args], cwd=root, capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2 and time.monotonic() - t0 < 10, r.stderr
    assert r.stderr.startswith(f"assetbuild: error: the dask scheduler address {address!r}"
                               + (" ($DASK_SCHEDULER_ADDRESS)" if where == "env" else "")
                               + " is not one dask can connect to ("), r.stderr
    assert "give tcp://HOST:PORT" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


SHARED_RESOURCE = """
import os
import time
from pathlib import Path
from assetbuild import resource

def _event(what):
    with open({events!r}, "a") as f:
        f.write(f"{{what}} {{os.getpid()}}\\n")

@resource
def conn():
    _event("{tag}-made")
    yield "live"
    _event("{tag}-down")

@asset(io="json")
def first(conn):
    return conn
"""
GATED = """
@asset(io="json", executor="serial")  # on the build's machine: the worker is free meanwhile
def gate(first):
    here = Path(__file__).parent
    (here / "gate-started").write_text("x")
    while not (here / "go").exists():
        time.sleep(0.05)
    return 1

@asset(io="json")
def second(conn, gate):
    return conn
"""


def test_the_end_of_one_build_leaves_another_builds_resources_on_shared_workers(tmp_path):
    """Build B made its resource on the worker; build A, sharing the worker, ended meanwhile and
    tore down every build's resources there (B's connection closed under it, and made again).
    Each build now tears down its own."""
    import time

    events = tmp_path / "events"
    b = write_project(tmp_path / "b", SHARED_RESOURCE.format(events=str(events), tag="b") + GATED)
    a = write_project(tmp_path / "a", SHARED_RESOURCE.format(events=str(events), tag="a"))
    with dask_processes(tmp_path) as (address, client):
        build_b = subprocess.Popen([sys.executable, "-m", "assetbuild", "-j", "2", "--dask-scheduler", address],
                                   cwd=b, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not (b / "gate-started").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            r = assetbuild.build(project_dir=a, jobs=2, executor="dask", executor_options={"scheduler": address})
            assert r.ok, [(x.asset, x.error) for x in r.results]
            (b / "go").write_text("x")
            out, err = build_b.communicate(timeout=60)
        finally:
            if build_b.poll() is None:
                build_b.kill()
        assert build_b.returncode == 0, out + err
        (worker_pid,) = client.run(os.getpid).values()
    assert events.read_text().splitlines() == [f"b-made {worker_pid}", f"a-made {worker_pid}",
                                               f"a-down {worker_pid}", f"b-down {worker_pid}"]


MEM_IO = """
import assetbuild
from assetbuild import OutputInfo


class Mem:
    \"\"\"Keeps its data outside the cache, through the project's resource 'conn'.\"\"\"

    name = "mem"
    io_version = "1"

    def handle_output(self, context, value):
        assert context.resources["conn"] == "live"
        return OutputInfo(str(value))

    def load_input(self, context):
        return 5

    def version(self, context):
        return context.data_version


@assetbuild.hookimpl
def register_io_managers():
    return [Mem()]
"""


def test_a_resource_an_io_manager_made_on_a_worker_is_torn_down_with_the_build(tmp_path, monkeypatch):
    """The executor released the workers' resources only if a task had resource parameters: one
    an IO manager made through ``context.resources`` lived on in the worker."""
    import importlib

    site = tmp_path / "site"
    site.mkdir()
    (site / "memio_for_test.py").write_text(MEM_IO)
    monkeypatch.syspath_prepend(str(site))
    pm = get_plugin_manager()
    pm.register(importlib.import_module("memio_for_test"))
    events = tmp_path / "events"
    root = write_project(tmp_path / "p", SHARED_RESOURCE.format(events=str(events), tag="conn").replace(
        '@asset(io="json")\ndef first(conn):\n    return conn\n', '@asset(io="mem")\ndef first():\n    return {}\n'))
    with dask_processes(tmp_path, pythonpath=(str(site),)) as (address, _):
        r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options={"scheduler": address},
                             plugin_manager=pm)
        assert r.ok, [(x.asset, x.error) for x in r.results]
        assert [line.split()[0] for line in events.read_text().splitlines()] == ["conn-made", "conn-down"]


def _mylib(site: Path, version: str, value: int) -> Path:
    (site / "mylib").mkdir(parents=True)
    (site / "mylib" / "__init__.py").write_text(f"def f():\n    return {value}\n")
    (site / f"mylib-{version}.dist-info").mkdir()
    (site / f"mylib-{version}.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: mylib\nVersion: {version}\n")
    return site


USES_MYLIB = """
import mylib

raw = source("raw", "raw.txt")

@asset(io="json")
def value(raw):
    return [raw.read_text(), mylib.f()]
"""


def test_a_worker_with_another_version_of_a_library_fails_the_asset_instead_of_storing_its_value(
        tmp_path, monkeypatch):
    """A worker with mylib 2.0 ran the asset whose key names mylib 1.0, the build machine's: 2.0's
    value went under 1.0's key, exit 0, and every later build took it. The asset now fails
    naming both versions, in a full build and in the command's build of a slice (a source
    edited since: keys from the snapshot, no fingerprint made)."""
    v1, v2 = _mylib(tmp_path / "v1", "1.0", 1), _mylib(tmp_path / "v2", "2.0", 2)
    root = write_project(tmp_path / "p", USES_MYLIB, {"raw.txt": "a"})
    monkeypatch.syspath_prepend(str(v1))
    monkeypatch.delitem(sys.modules, "mylib", raising=False)
    want = "library mylib is 2.0 on this worker, but the build's keys name 1.0"
    with dask_processes(tmp_path, pythonpath=(str(v2),)) as (address, _):
        r = assetbuild.build(project_dir=root, jobs=2, executor="dask", executor_options={"scheduler": address})
        assert not r.ok and r.results[0].error.startswith(want), r.results[0].error
        env = user_env(PYTHONPATH=os.pathsep.join([str(v1), *sys.path[1:]]))
        cli = [sys.executable, "-m", "assetbuild"]
        for args in (["-j", "1"], ["-j", "1"]):  # (here, 1.0; the second records the snapshot)
            assert subprocess.run(cli + args, cwd=root, env=env, capture_output=True, timeout=60).returncode == 0
        (root / "pyproject.toml").write_text(f'[tool.assetbuild]\nexecutor = "dask"\njobs = 2\n'
                                             f'executor-options = {{ scheduler = "{address}" }}\n')
        for args in (["-j", "1", "--executor", "serial"], []):  # (the plain one, a null build, keeps the snapshot)
            assert subprocess.run(cli + args, cwd=root, env=env, capture_output=True, timeout=60).returncode == 0
        (root / "raw.txt").write_text("b")
        r2 = subprocess.run(cli, cwd=root, env=env, capture_output=True, text=True, timeout=60)
        assert r2.returncode == 1 and want in r2.stdout + r2.stderr, r2.stdout + r2.stderr
    assert assetbuild.load_value("value", project_dir=root) == ["a", 1]
    sys.modules.pop("mylib", None)


def test_the_daemon_stopped_while_a_build_connects_to_the_scheduler_ends_at_once_and_quietly(tmp_path):
    """``assetbuild run`` with executor dask, stopped by SIGTERM while a tick's build connected
    to a scheduler that does not answer: the half-made Client closed itself at the exit, which
    took 20 s more and printed a traceback (TimeoutError: timed out after 20 s.)."""
    import signal
    import time

    root = write_project(tmp_path / "p", "@asset(io='json', auto='eager')\ndef value():\n    return 1\n")
    (root / "pyproject.toml").write_text('[tool.assetbuild]\nexecutor = "dask"\njobs = 2\n'
                                         'executor-options = { scheduler = "tcp://127.0.0.1:1" }\n')
    p = subprocess.Popen([sys.executable, "-m", "assetbuild", "run", "--tick", "1"], cwd=root, env=user_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3)  # (the connection is retried for 10 s)
        p.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        out, _ = p.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        p.kill()
    assert took < 5 and "Traceback" not in out and "interrupted by SIGTERM" in out, (took, out)
