"""The working directory user code runs in: the project directory, as ``assetbuild -C DIR``
gives it. The directory belongs to the whole process, so an asset (or an observe function)
that calls ``os.chdir`` would move every asset that runs after it in this process, and the
Python API's caller: what it changed is put back when it returns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def kept_directory(project_dir: str) -> Iterator[None]:
    """Run user code; if it changed the working directory, go back to ``project_dir``, where
    user code runs (to the directory before it when ``project_dir`` cannot be entered: a worker
    on another machine). One ``getcwd`` before and after: a few microseconds per asset."""
    before = _cwd()
    try:
        yield
    finally:
        if _cwd() != before:
            for home in (project_dir, before):
                if home is None:
                    continue
                try:
                    os.chdir(home)
                    break
                except OSError:  # gone, or not on this machine
                    continue


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # deleted under the process
        return None
