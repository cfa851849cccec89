"""Contract test suites for plugins: subclass one in a plugin's own tests and pytest runs it.

::

    from assetbuild.testing import ExecutorContract, IOManagerContract

    class TestMyExecutor(ExecutorContract):
        executor_class = MyExecutor            # options: executor_options = {...}

    class TestMyIOManager(IOManagerContract):
        io_manager = MyIOManager()
        values = [value, another]              # values it must store and load back
        unsupported = [a_value_it_refuses]     # optional

Each check is a real build of a small project in pytest's ``tmp_path``, through the public API,
with a plugin manager that holds the built-ins and the object under test (not the installed
plugins), so a plugin's tests check exactly what assetbuild relies on: identical outputs to a
serial build, failures with the user's traceback, log lines, large values, values that round
trip. The built-in executors and IO managers run the same suites. The classes need pytest (its
``tmp_path`` fixture) but do not import it; their names do not start with ``Test``, so only a
subclass is collected.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import textwrap
import unittest
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .executor import Executor
from .hookspecs import hookimpl
from .io import IOContext, IOManager, OutputInfo, is_external
from .reports import BuildResult


class _Contributes:
    """A plugin that contributes the executor class or IO manager under test."""

    def __init__(self, executors: Sequence[type[Executor]] = (), io_managers: Sequence[Any] = ()) -> None:
        self.executors = list(executors)
        self.io_managers = list(io_managers)

    @hookimpl
    def register_executors(self) -> list[type[Executor]]:
        return self.executors

    @hookimpl
    def register_io_managers(self) -> list[IOManager]:
        return self.io_managers


def _plugin_manager(executor_class: type[Executor] | None = None, io_manager: Any = None) -> Any:
    """The built-ins plus the object under test (unless it is a built-in itself)."""
    from .plugins import collect_executors, collect_io_managers, get_plugin_manager

    pm = get_plugin_manager(autoload=False)
    executors = [executor_class] if executor_class is not None else []
    io_managers = [io_manager] if io_manager is not None else []
    known_executors, known_io = collect_executors(pm), collect_io_managers(pm)
    executors = [c for c in executors if known_executors.get(c.name) is not c]
    io_managers = [m for m in io_managers if type(known_io.get(m.name)) is not type(m)]
    if executors or io_managers:
        pm.register(_Contributes(executors, io_managers), name="assetbuild.testing")
    return pm


def _write_project(root: Path, assetfile: str, files: dict[str, str | bytes] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "AssetFile").write_text("from assetbuild import asset, source, Output\n" + textwrap.dedent(assetfile))
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


@contextmanager
def _asset_log_lines() -> Iterator[list[tuple[str, str]]]:
    """(logger name, message) of every ``context.log`` line that reaches the host meanwhile."""
    lines: list[tuple[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append((record.name, record.getMessage()))

    log = logging.getLogger("assetbuild.asset")
    handler, level = Keep(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _frames(traceback_text: str) -> list[tuple[str, str, str]]:
    """(file, line number, source line) of each frame of a traceback's text."""
    return re.findall(r'  File "([^"]+)", line (\d+), in \S+\n    (.*)\n', traceback_text)


PIPELINE = """
import lib.calc as calc

raw = source("raw", "raw.txt")

@asset(io="json")
def numbers(raw):
    return [int(x) for x in raw.read_text().split()]

@asset(io="json")
def squares(numbers, context):
    context.log.info("squaring %d numbers", len(numbers))
    context.log.warning("a warning")
    return [calc.f(n) for n in numbers]

@asset
def pickled(squares):
    return {"squares": tuple(squares), "name": "x"}

@asset(io="text", path="out/total.txt")
def total(squares, numbers):
    return f"{sum(squares)} {len(numbers)}"

@asset(io="json")
def described(total):
    return Output(total.split(), metadata={"words": 2})
"""
PIPELINE_FILES: dict[str, str | bytes] = {"raw.txt": "1 2 3 4", "lib/__init__.py": "",
                                          "lib/calc.py": "def f(n):\n    return n * n\n"}

FAILURES = """
import sys
import lib.checks as checks

@asset(io="json")
def bad():
    rows = [1, 2, 3]
    return checks.validate(rows)

@asset(io="json")
def after_bad(bad):
    return bad

@asset(io="json")
def exits():
    sys.exit(3)

@asset(io="json")
def interrupts():
    raise KeyboardInterrupt

@asset(io="json")
def fine():
    return 1
"""
CHECKS = 'def validate(rows):\n    raise ValueError(f"boom: {len(rows)} rows")\n'

LARGE = """
import hashlib

@asset(io="bytes")
def big():
    return bytes(range(256)) * (12 * 1024)  # 3 MiB: past the size that travels as a file

@asset(io="json")
def digest(big):
    return [len(big), hashlib.sha256(big).hexdigest()]
"""

SLOW = """
import time

@asset(io="json", timeout=1)
def slow():
    time.sleep(60)
    return 1
"""

RESOURCES = """
import os
from assetbuild import resource

EVENTS = {events!r}


def _event(what):
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{{what}} {{os.getpid()}}\\n".encode())
    os.close(fd)


@resource
def conn():
    _event("made")
    yield "live"
    _event("down")


@asset(io="json")
def first(conn):
    return [conn, os.getpid()]


@asset(io="json")
def second(conn):
    return [conn, os.getpid()]


@asset(io="json")
def third(conn, first):
    return [conn, os.getpid()]
"""


FILES = """\
from assetbuild import asset


@asset(outputs=["model.bin", "eval/"])
def trained(context):
    context.out("model.bin").write_bytes(b"weights")
    plots = context.out("eval/")
    (plots / "metrics.json").write_text('{"acc": 1}')
    (plots / "roc").mkdir()
    (plots / "roc" / "a.csv").write_text("0,1")


@asset(io="json")
def listed(trained):
    return sorted(str(p.relative_to(trained["eval/"])) for p in trained["eval/"].rglob("*.*")) + [
        trained["model.bin"].read_text()]


@asset(outputs=["half/"])
def half(context):
    (context.out("half/") / "written.txt").write_text("partial")
    raise RuntimeError("stops after writing")
"""

FAN_IN_AND_SKIP = """\
from assetbuild import Skip, asset


@asset(name="page/a", io="json")
def a():
    return 1


@asset(name="page/b", io="json")
def b():
    return 2


@asset(io="json", ins={"pages": "page/*"})
def index(pages):
    return list(pages.items())


@asset(io="json", output_required=False)
def nothing_new():
    return Skip("no new rows")
"""

MULTI = """\
from assetbuild import Out, multi_asset


@multi_asset(outs={"train": Out(io="json"), "test": Out(io="pickle"), "extra": Out(io="json", required=False)})
def split(context):
    context.log.info("splitting")
    return {"train": [1, 2], "test": (3,)}


@asset(io="json")
def total(train, test):
    return sum(train) + sum(test)
"""


class ExecutorContract:
    """What every executor must do, checked with real builds. Set ``executor_class`` (and
    ``executor_options``, ``jobs`` if needed) in a subclass named ``Test...``."""

    executor_class: type[Executor]
    executor_options: dict[str, str] = {}
    jobs = 2

    def build(self, root: Path, **kwargs: Any) -> BuildResult:
        """A build of ``root`` on the executor under test."""
        from .session import build

        return build(project_dir=root, jobs=self.jobs, executor=self.executor_class.name,
                     executor_options=dict(self.executor_options) or None,
                     plugin_manager=_plugin_manager(executor_class=self.executor_class), **kwargs)

    def test_declares_what_the_host_reads(self) -> None:
        cls = self.executor_class
        assert isinstance(cls, type), f"{cls!r}: an executor is a class"
        assert isinstance(cls.name, str) and re.fullmatch(r"[\w.-]+", cls.name), f"name {cls.name!r}"
        assert isinstance(cls.description, str) and cls.description and "\n" not in cls.description
        assert isinstance(cls.inline, bool)
        assert isinstance(cls.options, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in cls.options.items())
        for method in ("submit", "shutdown"):
            assert callable(getattr(cls, method, None)), f"{cls.name}: no {method}()"
        if getattr(cls, "kills", False):
            assert callable(getattr(cls, "kill", None)), f"{cls.name}: kills = True, but no kill()"

    def test_builds_what_a_serial_build_builds(self, tmp_path: Path) -> None:
        from .session import build, load_value

        serial = build(project_dir=_write_project(tmp_path / "serial", PIPELINE, PIPELINE_FILES))
        root = _write_project(tmp_path / "under-test", PIPELINE, PIPELINE_FILES)
        result = self.build(root)
        assert result.ok, [(r.asset, r.error) for r in result.results if r.error]
        assert sorted(result.names("built")) == ["described", "numbers", "pickled", "squares", "total"]
        versions = {r.asset: r.data_version for r in serial.results}
        assert {r.asset: r.data_version for r in result.results} == versions  # the same bytes
        assert load_value("pickled", project_dir=root) == {"squares": (1, 4, 9, 16), "name": "x"}
        assert (root / "out" / "total.txt").read_text() == "30 4"
        described = {r.asset: r for r in result.results}["described"]
        assert described.metadata.get("words") == 2
        assert self.build(root).names("built") == []  # and the next build runs nothing

    def test_resources_are_made_once_per_process_and_torn_down_by_the_end(self, tmp_path: Path) -> None:
        """A task's resources: made where it runs, at most once per build in each process, torn
        down (the generator's code after its yield) by the time the build returns."""
        events = tmp_path / "events"
        root = _write_project(tmp_path / "p", RESOURCES.format(events=str(events)))
        for _ in range(2):  # each build makes its own, even on workers that outlive a build
            result = self.build(root, force=True)
            assert result.ok, [(r.asset, r.error, r.traceback) for r in result.results if r.error]
            lines = [line.split() for line in events.read_text().splitlines()]
            events.unlink()
            made = [int(pid) for what, pid in lines if what == "made"]
            assert made and len(made) == len(set(made)), f"made more than once in a process: {lines}"
            assert sorted(int(pid) for what, pid in lines if what == "down") == sorted(made), lines
            ran = {r.asset: r for r in result.results}
            from .session import load_value

            for name in ("first", "second", "third"):
                value, pid = load_value(name, project_dir=root)
                assert value == "live" and pid in made, (name, pid, made)
            assert ran["third"].status == "built"

    def test_a_failure_carries_the_users_traceback(self, tmp_path: Path) -> None:
        from .session import status

        root = _write_project(tmp_path / "p", FAILURES, {"lib/__init__.py": "", "lib/checks.py": CHECKS})
        result = self.build(root, keep_going=True)
        by_asset = {r.asset: r for r in result.results}
        assert not result.ok and by_asset["bad"].status == "failed"
        assert by_asset["bad"].error == "ValueError: boom: 3 rows"
        assetfile, checks = str(root / "AssetFile"), str(root / "lib" / "checks.py")
        assert _frames(by_asset["bad"].traceback or "") == [
            (assetfile, "9", "return checks.validate(rows)"),
            (checks, "2", 'raise ValueError(f"boom: {len(rows)} rows")')], by_asset["bad"].traceback
        assert by_asset["after_bad"].status == "skipped" and by_asset["fine"].status == "built"
        assert {s.asset: s.state for s in status(project_dir=root)}["bad"] == "failed"  # no value; the failure is recorded

    def test_asset_code_cannot_end_the_build(self, tmp_path: Path) -> None:
        root = _write_project(tmp_path / "p", FAILURES, {"lib/__init__.py": "", "lib/checks.py": CHECKS})
        by_asset = {r.asset: r for r in self.build(root, keep_going=True).results}
        assert "called sys.exit(3)" in (by_asset["exits"].error or "")
        assert "raised KeyboardInterrupt without a Ctrl-C" in (by_asset["interrupts"].error or "")
        assert by_asset["fine"].status == "built"

    def test_log_lines_reach_the_host(self, tmp_path: Path) -> None:
        root = _write_project(tmp_path / "p", PIPELINE, PIPELINE_FILES)
        with _asset_log_lines() as lines:
            assert self.build(root).ok
        assert ("assetbuild.asset.squares", "squaring 4 numbers") in lines
        assert ("assetbuild.asset.squares", "a warning") in lines

    def test_large_values_travel_both_ways(self, tmp_path: Path) -> None:
        from .session import load_value

        root = _write_project(tmp_path / "p", LARGE)
        result = self.build(root)
        assert result.ok, [(r.asset, r.error) for r in result.results if r.error]
        data = bytes(range(256)) * (12 * 1024)
        assert load_value("digest", project_dir=root) == [len(data), hashlib.sha256(data).hexdigest()]
        assert load_value("big", project_dir=root) == data
        assert self.build(root, force=True).ok  # again, now that the input is a file of the store

    def test_files_an_asset_writes_itself(self, tmp_path: Path) -> None:
        from .session import load_value

        root = _write_project(tmp_path / "p", FILES)
        result = self.build(root, keep_going=True)
        by_asset = {r.asset: r for r in result.results}
        assert by_asset["trained"].status == "built" and by_asset["listed"].status == "built", by_asset
        assert (root / "model.bin").read_bytes() == b"weights"
        assert (root / "eval" / "roc" / "a.csv").read_text() == "0,1"
        assert load_value("listed", project_dir=root) == ["metrics.json", "roc/a.csv", "weights"]
        assert by_asset["half"].status == "failed" and not (root / "half").exists()  # untouched
        assert not list((root / ".assetbuild" / "staging").iterdir())
        again = self.build(root, keep_going=True)
        assert again.names("built") == [] and again.names("cached") == ["trained", "listed"]

    def test_a_fan_in_gets_its_dict_and_a_skip_travels_back(self, tmp_path: Path) -> None:
        from .session import load_value

        root = _write_project(tmp_path / "p", FAN_IN_AND_SKIP)
        result = self.build(root)
        assert result.ok, [(r.asset, r.error) for r in result.results if r.error]
        assert load_value("index", project_dir=root) == [["page/a", 1], ["page/b", 2]]
        skipped = {r.asset: r for r in result.results}["nothing_new"]
        assert skipped.status == "skipped" and skipped.skip_reason == "no new rows"

    def test_a_multi_asset_runs_once_for_all_its_outs(self, tmp_path: Path) -> None:
        """A multi-asset's task comes back as one ``MultiProduced`` (an output per out it
        returned), which the executor passes back untouched like any other outcome."""
        from .session import build, load_value

        serial = build(project_dir=_write_project(tmp_path / "serial", MULTI))
        root = _write_project(tmp_path / "under-test", MULTI)
        with _asset_log_lines() as lines:
            result = self.build(root)
        assert result.ok, [(r.asset, r.error) for r in result.results if r.error]
        assert sorted(result.names("built")) == ["test", "total", "train"]
        built = {r.asset: r.data_version for r in result.results if r.status == "built"}
        assert built == {r.asset: r.data_version for r in serial.results if r.status == "built"}
        assert load_value("total", project_dir=root) == 6 and load_value("test", project_dir=root) == (3,)
        assert ("assetbuild.asset.split", "splitting") in lines
        assert self.build(root).names("built") == []

    def test_a_time_limit_stops_a_running_task(self, tmp_path: Path) -> None:
        if not getattr(self.executor_class, "kills", False):
            raise unittest.SkipTest(f"{self.executor_class.name} cannot stop a running task (kills = False)")
        import time

        root = _write_project(tmp_path / "p", SLOW)
        t0 = time.monotonic()
        result = self.build(root)
        assert time.monotonic() - t0 < 30
        slow = {r.asset: r for r in result.results}["slow"]
        assert slow.status == "failed" and "time" in (slow.error or ""), slow.error


class IOManagerContract:
    """What every IO manager must do. Set ``io_manager`` (an instance) and ``values`` (what it
    must store; ``unsupported``: what it must refuse) in a subclass named ``Test...``; override
    :meth:`assert_same` where ``==`` does not compare values (arrays...)."""

    io_manager: Any
    values: Sequence[Any] = ()
    unsupported: Sequence[Any] = ()

    def assert_same(self, loaded: Any, original: Any) -> None:
        assert type(loaded) is type(original) and loaded == original, (loaded, original)

    def _external(self) -> bool:
        """Whether the manager keeps its data outside the cache (``handle_output``...): then the
        checks of ``dump``/``load`` give way to those of ``test_external_*``."""
        return is_external(self.io_manager)

    def _dumps(self) -> None:
        if self._external():
            raise unittest.SkipTest(f"{self.io_manager.name} keeps its data outside the cache (no dump/load)")

    def test_declares_name_and_version(self) -> None:
        io = self.io_manager
        if self._external():
            assert callable(getattr(io, "load_input", None)), f"{io!r} has handle_output but no load_input"
            assert isinstance(getattr(io, "io_version", None), str) and io.io_version, \
                "io_version: a non-empty str, part of every key"
        else:
            assert isinstance(io, IOManager), f"{io!r} has no name, version, dump and load"
            assert isinstance(io.version, str) and io.version, "version: a non-empty str, part of every key"
        assert isinstance(io.name, str) and re.fullmatch(r"[\w.-]+", io.name), f"name {io.name!r}"
        assert self.values, "give the contract some values to store"

    def _io_context(self, root: Path, asset: str, data_version: str | None = None) -> IOContext:
        return IOContext(asset, root, logging.getLogger(f"assetbuild.testing.{asset}"), data_version=data_version)

    def test_external_data_versions_name_what_was_written(self, tmp_path: Path) -> None:
        """``handle_output`` returns an OutputInfo whose data version ``version()`` then reports;
        equal values give equal versions (early cutoff); ``load_input`` gives the value back;
        ``version()`` of an asset never written is None."""
        import copy

        if not self._external():
            raise unittest.SkipTest("a manager whose data is in the cache (dump/load)")
        io = self.io_manager
        check = getattr(io, "version", None)
        if callable(check):
            assert check(self._io_context(tmp_path, "never_written")) is None, "version() of nothing is not None"
        for i, value in enumerate(self.values):
            info = io.handle_output(self._io_context(tmp_path, f"value{i}"), value)
            assert isinstance(info, OutputInfo), f"handle_output returned {info!r}, not an OutputInfo"
            again = io.handle_output(self._io_context(tmp_path, f"value{i}"), copy.deepcopy(value))
            assert again.data_version == info.data_version, "an equal value gives another data version"
            if callable(check):
                assert check(self._io_context(tmp_path, f"value{i}", info.data_version)) == info.data_version, \
                    "version() does not report what handle_output wrote"
            loaded = io.load_input(self._io_context(tmp_path, f"value{i}", info.data_version))
            self.assert_same(loaded, value)
            copied = io.handle_output(self._io_context(tmp_path, f"copy{i}"), loaded)
            assert copied.data_version == info.data_version, "a loaded value writes other data"

    def test_values_round_trip(self) -> None:
        self._dumps()
        for value in self.values:
            data = self.io_manager.dump(value)
            assert isinstance(data, bytes), f"dump returned {type(data).__name__}, not bytes"
            self.assert_same(self.io_manager.load(data), value)

    def test_equal_values_give_equal_bytes(self) -> None:
        import copy

        self._dumps()
        for value in self.values:
            data = self.io_manager.dump(value)
            assert self.io_manager.dump(value) == data, "dump is not deterministic"
            assert self.io_manager.dump(self.io_manager.load(data)) == data, "a loaded value dumps to other bytes"
            assert self.io_manager.dump(copy.deepcopy(value)) == data, "an equal copy dumps to other bytes"

    def test_unsupported_values_are_refused(self, tmp_path: Path) -> None:
        for value in self.unsupported:
            try:
                if self._external():
                    self.io_manager.handle_output(self._io_context(tmp_path, "refused"), value)
                else:
                    self.io_manager.dump(value)
            except Exception:  # noqa: BLE001, S110 - any Exception fails the asset with its message
                continue
            raise AssertionError(f"dump accepted {value!r}, which it should refuse")

    def test_metadata_if_any_is_plain_json(self) -> None:
        """The optional ``metadata(value)`` describes every value as a dict of strict JSON data
        (it is recorded as JSON with each materialization)."""
        import json

        describe = getattr(self.io_manager, "metadata", None)
        if not callable(describe):
            return
        for value in self.values:
            meta = describe(value)
            assert isinstance(meta, dict), f"metadata returned {type(meta).__name__}, not a dict"
            assert json.loads(json.dumps(meta, allow_nan=False)) == meta, "metadata is not plain JSON data"

    def test_values_round_trip_through_builds(self, tmp_path: Path) -> None:
        """Stored by one asset, loaded as the input of others (here and in worker processes); a
        second build runs nothing."""
        from .session import build

        name = self.io_manager.name
        assets = "import pickle\n\nvalues = source('values', 'values.pkl')\n"
        for i in range(len(self.values)):
            assets += (f"\n@asset(io={name!r})\ndef value{i}(values):\n"
                       f"    return pickle.loads(values.read_bytes())[{i}]\n"
                       f"\n@asset(io={name!r})\ndef copy{i}(value{i}):\n    return value{i}\n"
                       f"\n@asset(io='pickle', path='seen/{i}.pkl')\ndef seen{i}(value{i}):\n    return value{i}\n")
        # protocol 5: with older ones, NumPy 2.4 loads a big-endian array back as a native one
        values = pickle.dumps(list(self.values), protocol=5)
        root = _write_project(tmp_path / "p", assets, {"values.pkl": values})
        pm = _plugin_manager(io_manager=self.io_manager)
        for jobs in (1, 2):  # 2: the processes executor, so the IO manager travels to workers
            result = build(project_dir=root, jobs=jobs, plugin_manager=pm, force=True)
            assert result.ok, [(r.asset, r.error) for r in result.results if r.error]
            versions = {r.asset: r.data_version for r in result.results}
            for i, value in enumerate(self.values):
                self.assert_same(pickle.loads((root / "seen" / f"{i}.pkl").read_bytes()), value)
                assert versions[f"copy{i}"] == versions[f"value{i}"], "a loaded value dumps to other bytes"
        assert build(project_dir=root, plugin_manager=pm).names("built") == []


__all__ = ["ExecutorContract", "IOManagerContract"]
