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
from collections.abc import Iterator
from contextlib import contextmanager

from .wording import api_calls

_local = threading.local()
# (device, inode) of the build lock files of the builds whose code runs in this process: those
# this process holds (``store.lock`` adds and removes them), and in a worker process those its
# build held when it started it (``executors._worker_init``).
BUILD_LOCKS: set[tuple[int, int]] = set()


@contextmanager
def running_user_code(project_dir: str) -> Iterator[None]:
    """Run user code in this thread; if it changed the working directory, go back to
    ``project_dir``, where user code runs (to the directory before it when ``project_dir``
    cannot be entered: a worker on another machine). One ``getcwd`` before and after: a few
    microseconds per asset."""
    before = _cwd()
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    try:
        with api_calls():  # (an asset that calls assetbuild hears the API's words)
            yield
    finally:
        _local.depth = depth
        if _cwd() != before:
            for home in (project_dir, before):
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
