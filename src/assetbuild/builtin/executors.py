"""The built-in executors: ``serial``, ``threads`` and ``processes``, registered like a plugin's."""

from __future__ import annotations

from typing import Any

from ..executors import ProcessExecutor, SerialExecutor, ThreadExecutor
from ..hookspecs import hookimpl


@hookimpl
def register_executors() -> list[Any]:
    return [SerialExecutor, ThreadExecutor, ProcessExecutor]
