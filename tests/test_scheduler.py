"""The scheduler alone, deterministic: an in-memory store, the real workspace on a temporary
directory, and a fake runner that finishes tasks in order and crashes, hangs or is interrupted
on cue (tests/fake_runner.py). No processes, no threads."""

from __future__ import annotations

import inspect

import pytest
from fake_runner import FakeRunner

from assetbuild.builtin.io_managers import JsonIOManager
from assetbuild.definitions import AssetDef
from assetbuild.execute import Task
from assetbuild.graph import resolve
from assetbuild.reports import Head
from assetbuild.scheduler import Scheduler
from assetbuild.store import MemoryStore
from assetbuild.workspace import Workspace


def A(fn, *, timeout=None):
    params = tuple((p, False) for p in inspect.signature(fn).parameters)
    return AssetDef(fn.__name__, fn, params, {}, (), "json", None, None, None, None, {}, None,
                    "AssetFile", 1, timeout)


class Watcher:
    """A BuildObserver that remembers what it was told."""

    def __init__(self):
        self.started, self.finished, self.warnings = [], [], []

    def asset_started(self, name):
        self.started.append(name)

    def asset_finished(self, result):
        self.finished.append(result)

    def asset_stored(self, result):
        pass

    def asset_logs(self, name, lines):
        pass

    def warning(self, message):
        self.warnings.append(message)


@pytest.fixture
def env(tmp_path):
    store = MemoryStore()
    return tmp_path, store


def schedule(env, defs, runner, observer=None, code=None):
    root, store = env
    graph = resolve(defs)

    def make_task(adef, args, inputs, io, context):
        return Task(adef.name, adef.fn, adef.io, io, args, inputs, context, str(root), timeout=adef.timeout)

    return Scheduler(graph, store=store, files=Workspace(root, store), io_managers={"json": JsonIOManager()},
                     fingerprint=lambda name: ((code or {}).get(name, f"code of {name}"), {}), runner=runner, make_task=make_task,
                     jobs=runner.jobs, observer=observer)


def build(env, defs, runner=None, code=None, **kw):
    runner = runner or FakeRunner()
    observer = Watcher()
    result = schedule(env, defs, runner, observer, code).build(list(resolve(defs).order), **kw)
    return result.by_asset(), result, runner, observer


def diamond():
    def a():
        return 1

    def b(a):
        return a + 1

    def c(a):
        return a + 2

    def d(a):
        return a + 3

    def e(b, c, d):
        return b + c + d

    return [A(f) for f in (a, b, c, d, e)]


def test_never_more_than_jobs_tasks_at_once_and_a_second_build_runs_nothing(env):
    statuses, result, runner, _ = build(env, diamond(), FakeRunner(jobs=2))
    assert set(statuses.values()) == {"built"} and runner.submitted[0] == "a" and runner.submitted[-1] == "e"
    assert max(runner.widths) == 2
    statuses, *_ , runner2, _ = build(env, diamond(), FakeRunner(jobs=2))
    assert set(statuses.values()) == {"cached"} and runner2.submitted == []


def test_the_longest_remaining_path_starts_first(env):
    def short():
        return 0

    def long1():
        return 1

    def long2(long1):
        return long1

    def long3(long2):
        return long2

    defs = [A(short), A(long1), A(long2), A(long3)]
    _, store = env
    for name, seconds in [("short", 5.0), ("long1", 2.0), ("long2", 2.0), ("long3", 2.0)]:  # earlier builds
        store.put_head(name, Head("old", "dv", "digest", "code", {}, (), "json@1", None, None, 0, 1, seconds))
    *_, runner, _ = build(env, defs, FakeRunner(jobs=2))
    assert runner.submitted[:2] == ["long1", "short"]  # 6 s of chain ahead of long1, 5 s for short
    *_, runner, _ = build(env, defs, FakeRunner(jobs=1), force=True)
    assert runner.submitted == ["short", "long1", "long2", "long3"]  # -j 1 keeps the plan's order


def test_a_crashed_worker_has_each_of_its_tasks_rerun_alone(env):
    statuses, _, runner, observer = build(env, diamond(), FakeRunner(jobs=3, script={"c": "crash"}),
                                          keep_going=True)
    assert statuses == {"a": "built", "b": "built", "c": "failed", "d": "built", "e": "skipped"}
    # b finished before c crashed; d was running beside c, so both were suspects and reran alone
    assert runner.submitted == ["a", "b", "c", "d", "c", "d"] and runner.crashes == 2
    assert runner.widths[runner.submitted.index("c", runner.submitted.index("c") + 1)] == 1
    assert any("a worker process died while" in w for w in observer.warnings)


def test_failure_stops_the_build_unless_keep_going(env):
    def a():
        return 1

    def bad(a):
        raise ValueError("no")

    def after(bad):
        return bad

    def other():
        return 2

    def last(after, other):
        return other

    defs = [A(a), A(bad), A(after), A(other), A(last)]
    statuses, result, *_ = build(env, defs)
    assert statuses == {"a": "built", "bad": "failed", "after": "skipped", "other": "skipped", "last": "skipped"}
    # -k is suggested only where it would run the asset: not downstream of the failure, which
    # is told what -k tells it
    stopped = "not run: the build stopped after 'bad' failed (use keep_going=True to keep going)"
    without_k = {r.asset: r.error for r in result.results if r.status == "skipped"}
    assert without_k == {"after": "not run: upstream 'bad' failed", "other": stopped,
                         "last": "not run: upstream 'after' did not build"}
    statuses, result, *_ = build(env, defs, keep_going=True)
    assert statuses == {"a": "cached", "bad": "failed", "after": "skipped", "other": "built", "last": "skipped"}
    assert {r.asset: r.error for r in result.results if r.status == "skipped"} == {
        "after": without_k["after"], "last": without_k["last"]}


def test_ctrl_c_keeps_finished_work_and_the_next_build_resumes(env):
    defs = diamond()
    with pytest.raises(KeyboardInterrupt):
        build(env, defs, FakeRunner(jobs=1, script={"c": "interrupt"}))
    root, store = env
    store = store.reopen()  # what the next process finds
    assert {n for n in "abcde" if store.get_head(n) is not None} == {"a", "b"}
    statuses, *_ = build((root, store), defs)
    assert statuses == {"a": "cached", "b": "cached", "c": "built", "d": "built", "e": "built"}


def test_a_task_past_its_time_limit_is_killed_and_fails_alone(env):
    def slow():
        return 1

    def fine():
        return 2

    defs = [A(slow, timeout=0.01), A(fine)]
    statuses, result, runner, _ = build(env, defs, FakeRunner(jobs=2, script={"slow": "hang"}), keep_going=True)
    assert statuses == {"slow": "failed", "fine": "built"} and runner.killed == ["slow"]
    assert {r.asset: r.error for r in result.results}["slow"] == "timed out after 0.01 s"


def test_the_observer_sees_every_start_and_each_result_after_its_inputs(env):
    statuses, result, runner, observer = build(env, diamond(), FakeRunner(jobs=2))
    assert observer.started == runner.submitted
    order = [r.asset for r in observer.finished]
    assert sorted(order) == list("abcde")
    assert order[0] == "a" and order[-1] == "e"


def test_an_input_whose_stored_bytes_are_damaged_is_rebuilt_first(env):
    defs = diamond()
    build(env, defs)
    _, store = env
    head = store.get_head("a")
    store.put_raw_blob(head.output_digest, b"?" * head.size)  # the same size: only reading it tells
    statuses, result, runner, observer = build(env, defs, code={"b": "b, edited"})
    assert statuses == {"a": "built", "b": "built", "c": "cached", "d": "cached", "e": "cached"}
    assert runner.submitted == ["a", "b"]  # reading a for b found it damaged; e: b made the same bytes
    assert any("the stored output of 'a' could not be used" in w for w in observer.warnings)
    assert [(r.code, r.detail) for r in {r.asset: r for r in result.results}["a"].reasons] == [
        ("repaired", "its stored output could not be used, so it ran again")]  # not "forced: --force"
