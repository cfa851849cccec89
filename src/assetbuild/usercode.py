"""What holds while a build runs user code (an asset, an observe function) in this process.

- Its working directory is the project directory, as ``assetbuild -C DIR`` gives it. The
  directory belongs to the whole process, so an asset that calls ``os.chdir`` would move every
  asset that runs after it, and the Python API's caller: what it changed is put back when it
  returns.
- The thread is marked as running user code (``in_user_code``): an asset that calls the Python
  API back into what its own build holds (the process's turn, the cache's build lock: those in
  ``BUILD_LOCKS``) would wait for that build, which waits for the asset; the API refuses at
  once instead (``ReentrantCall``).
"""

from __future__ import annotations

import os
import threading

from .wording import as_the_api, as_the_command, caller, from_the_command, set_caller

_local = threading.local()
# (device, inode) of the build lock files of the builds whose code runs in this process: those
# this process holds (``store.lock`` adds and removes them), and in a worker process those its
# build held when it started it (``executors._worker_init``).
BUILD_LOCKS: set[tuple[int, int]] = set()


class running_user_code:  # noqa: N801 - used as a function: with running_user_code(dir): ...
    """Run user code in this thread; if it changed the working directory, go back to
    ``project_dir``, where user code runs (to the directory before it when ``project_dir``
    cannot be entered: a worker on another machine). An asset that calls assetbuild hears the
    API's words (``wording.as_the_api``), and the runs it starts are a script's (``python:``),
    also in a build the UI started. One ``getcwd`` before and after, and a class rather than
    a generator's context manager: about a microsecond per asset, which a cold build of 10,000
    assets pays 10,000 times."""

    __slots__ = ("project_dir", "before", "depth", "command", "caller")

    def __init__(self, project_dir: str) -> None:
        self.project_dir = project_dir

    def __enter__(self) -> None:
        self.before = _cwd()
        self.depth = getattr(_local, "depth", 0)
        _local.depth = self.depth + 1
        self.command = from_the_command()
        if self.command:
            as_the_api()
        self.caller = caller()
        if self.caller != "python":  # (the UI's build: what the asset builds, a script's call made)
            set_caller("python")

    def __exit__(self, *exc: object) -> None:
        _local.depth = self.depth
        if self.command:
            as_the_command()
        if self.caller != "python":
            set_caller(self.caller)
        if _cwd() != self.before:
            for home in (self.project_dir, self.before):
                if home is None:
                    continue
                try:
                    os.chdir(home)
                    break
                except OSError:  # gone, or not on this machine
                    continue


def in_user_code() -> bool:
    """Whether this thread is running an asset's (or an observe function's) code for a build."""
    return getattr(_local, "depth", 0) > 0


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # deleted under the process
        return None
