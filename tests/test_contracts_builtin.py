"""The built-in executors and IO managers pass the contract suites plugins run (assetbuild.testing)."""

from __future__ import annotations

import json
from pathlib import Path

from projects import Project

from assetbuild.builtin.io_managers import BytesIOManager, JsonIOManager, PickleIOManager, TextIOManager
from assetbuild.executors import ProcessExecutor, SerialExecutor, ThreadExecutor
from assetbuild.testing import ExecutorContract, IOManagerContract


class TestSerialExecutor(ExecutorContract):
    executor_class = SerialExecutor
    jobs = 1


class TestThreadExecutor(ExecutorContract):
    executor_class = ThreadExecutor


class TestProcessExecutor(ExecutorContract):
    executor_class = ProcessExecutor


class TestPickleIOManager(IOManagerContract):
    io_manager = PickleIOManager()
    values = [1, "text", [1, 2.5, None], {"a": (1, 2)}, b"\x00bytes", frozenset({1})]


class TestJsonIOManager(IOManagerContract):
    io_manager = JsonIOManager()
    values = [1, "text", [1, 2.5, None, True], {"a": [1, 2], "b": {"c": "d"}}]
    unsupported = [{1, 2}, object()]


class TestTextIOManager(IOManagerContract):
    io_manager = TextIOManager()
    values = ["", "text\nwith lines", "ünïcode ✓"]
    unsupported = [b"bytes", 1]


class TestBytesIOManager(IOManagerContract):
    io_manager = BytesIOManager()
    values = [b"", b"\x00\xff" * 1000]
    unsupported = ["text", 1]


def test_json_keeps_the_order_of_each_dict() -> None:
    """A dict comes back, and is written, in the order it had: a loop over it sees that order
    (a ranking, "largest first"). The keys were sorted, so a reader got another dict than the
    function returned."""
    io = JsonIOManager()
    value = {"customers": {"Edsger": 640.0, "Ada": 120.0}, "orders": [{"z": 1, "a": "é"}], "count": 2}
    data = io.dump(value)
    assert data == '{"customers":{"Edsger":640.0,"Ada":120.0},"orders":[{"z":1,"a":"é"}],"count":2}'.encode()
    loaded = io.load(data)
    assert list(loaded) == ["customers", "orders", "count"] and list(loaded["customers"]) == ["Edsger", "Ada"]
    assert io.dump({"a": 1, "b": 2}) != io.dump({"b": 2, "a": 1})  # (another order is another value)
    assert io.version != "1"  # the bytes of version 1 were sorted: a stored value is made again once


def test_a_reader_and_the_path_output_see_the_order_the_asset_returned(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.assetfile('''
        @asset(io="json", path="build/report.json")
        def report():
            totals = {"Ada": 120.0, "Barbara": 240.74, "Edsger": 640.0}
            return {"customers": dict(sorted(totals.items(), key=lambda kv: -kv[1]))}


        @asset(io="json")
        def first(report):
            return next(iter(report["customers"]))
        ''')
    assert p.built() == ["report", "first"]
    assert p.value("first") == "Edsger"
    assert list(json.loads((tmp_path / "build" / "report.json").read_text())["customers"]) == [
        "Edsger", "Barbara", "Ada"]
