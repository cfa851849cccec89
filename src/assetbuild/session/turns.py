"""Calls into the Python API take turns in a process, and run in their project's directory.

Loading an AssetFile swaps modules in sys.modules, the build lock of a cache directory is what
keeps two builds' writes apart (across processes the build lock alone does it), and a loaded
project is the process's working directory (``in_project_dir``): every verb that loads a
project holds the process's turn (``process_turn``). Code a build runs (an asset, the AssetFile
as it loads) that calls the API back into what its own build holds would wait for that build,
which waits for it: ``ReentrantCall`` at once instead.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

process_builds = threading.RLock()
_holders: list[int] = []  # the thread holding process_builds, once per nested process_turn
_projects: list[Path] = []  # the projects it is in (``in_project_dir``), innermost last
_loading = threading.Lock()
_loader: list[int] = []  # the thread loading an AssetFile now (``loading``)
TURN_WARNING_S = 3.0  # a wait for the turn this long, held by a build running an asset: say so
_by_design = threading.local()  # .on: this thread waits for builds by design (``waits_by_design``)


@contextmanager
def process_turn(warn: Callable[[str], object] | None = None) -> Iterator[None]:
    """Hold ``process_builds`` for the block: wait for another thread's call to end. An asset
    that a build runs in another thread of this process (the ``threads`` executor) cannot have
    that turn before its build ends, which waits for the asset: ReentrantCall at once rather
    than a wait for ever. A thread the asset started itself (a ThreadPoolExecutor inside it)
    cannot be told from another thread of the program, which must wait its turn: after
    ``TURN_WARNING_S`` of waiting for a build running an asset, one warning (``warn``, else
    stderr) names both, since that asset may be waiting for this very call."""
    if not process_builds.acquire(blocking=False):
        from ..usercode import in_user_code

        if in_user_code():
            from ..errors import ReentrantCall

            raise ReentrantCall("an asset that the build runs in a thread (the threads executor) cannot call the "
                                "Python API: the call would wait for the build, which waits for the asset; run "
                                "it with the serial or processes executor")
        warned = False
        while not process_builds.acquire(timeout=TURN_WARNING_S):
            if not warned and not getattr(_by_design, "on", False) and (said := _turn_held_by_an_asset()) is not None:
                warned = True
                (warn or _to_stderr)(said)
    _holders.append(threading.get_ident())
    try:
        yield
    finally:
        _holders.pop()
        process_builds.release()


@contextmanager
def waits_by_design() -> Iterator[None]:
    """For the block, this thread's calls wait for a build without ``process_turn``'s warning:
    a caller that is no asset's thread and waits on purpose (the UI's pages wait for the UI's
    own build, as documented), so the warning's "neither ever ends" would be false."""
    before = getattr(_by_design, "on", False)
    _by_design.on = True
    try:
        yield
    finally:
        _by_design.on = before


def _turn_held_by_an_asset() -> str | None:
    """What to say when the thread holding the turn is running an asset now (its stack holds
    ``execute.run_task``; nothing is recorded per asset for this), else None."""
    import sys

    execute = sys.modules.get("assetbuild.execute")
    try:
        frame = sys._current_frames().get(_holders[0])
        project = _projects[-1] if _projects else None
    except (IndexError, AttributeError):
        return None
    while execute is not None and frame is not None:
        if frame.f_code is execute.run_task.__code__:
            asset = getattr(frame.f_locals.get("task"), "asset", "?")
            where = f"the build of {project}" if project is not None else "a build"
            return (f"this call to assetbuild is waiting for {where} in another thread of this process, which "
                    f"is running asset {asset!r}; if that asset waits for this call (a thread it started calls "
                    "assetbuild), neither ever ends: call assetbuild from the asset's own thread instead")
        frame = frame.f_back
    return None


def _to_stderr(message: str) -> None:
    from ..output import Reporter

    Reporter(verbosity=-2).warn(message)


@contextmanager
def loading() -> Iterator[None]:
    """Hold the AssetFile loader for the block (it collects declarations in a module global).
    An AssetFile that calls the API as it loads would wait for its own load: ReentrantCall."""
    if not _loading.acquire(blocking=False):
        if _loader and _loader[-1] == threading.get_ident():
            from ..errors import ReentrantCall

            raise ReentrantCall("the AssetFile cannot call the Python API as it loads (the call would wait for "
                                "the load that runs it); call it from an asset, or from a script")
        _loading.acquire()
    _loader.append(threading.get_ident())
    try:
        yield
    finally:
        _loader.pop()
        _loading.release()


@contextmanager
def in_project_dir(root: Path) -> Iterator[None]:
    """Run the block with ``root`` as the working directory, as ``assetbuild -C DIR`` does, so
    an AssetFile's ``open("params.yaml")`` and an asset's cwd-relative reads work the same from
    the Python API; then go back to the caller's, also after an error or Ctrl-C.

    The working directory belongs to the whole process: the block holds the process's turn
    (``process_turn``), so API calls from several threads take turns (a thread's call waits for
    another's to end). Worker processes get it when they start (``executors._worker_init``)."""
    with process_turn():
        try:
            before: str | None = os.getcwd()
        except OSError:  # the caller's directory was deleted: there is nothing to go back to
            before = None
        if before != str(root):
            os.chdir(root)
        _projects.append(root)
        try:
            yield
        finally:  # also when the caller was there already: an asset may have moved away
            _projects.pop()
            if before is not None:
                try:
                    os.chdir(before)
                except OSError:  # deleted meanwhile: stay where the build was
                    pass


def as_built(fn: Callable[..., Any], root: Path) -> Callable[..., Any]:
    """``fn`` (an asset's function), called as a build calls it: with the project directory as
    the working directory and its modules importable, from their files, in place of the
    caller's of the same name (``loader.ProjectImports``), so that ``from lib import f`` in its
    body is the project's, as in a build, not a notebook's ``lib``. ``__wrapped__``: ``fn``."""
    from ..loader import ProjectImports

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with in_project_dir(root), ProjectImports(root):
            return fn(*args, **kwargs)

    return call
