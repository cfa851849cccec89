"""The built-in executors and IO managers pass the contract suites plugins run (assetbuild.testing)."""

from __future__ import annotations

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
