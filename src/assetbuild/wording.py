"""Which words a message speaks: the command line's (``--only``, ``-k``) in the thread that runs
the ``assetbuild`` command itself (``entry`` marks it), the Python API's (``only=True``,
``keep_going=True``) everywhere else: a script, a notebook, the UI's builds, and code a build
runs, an asset calling the API (``usercode`` unmarks its thread while it runs). The reader is
told what they can change where they are. The same mark tells a run's history whether the
command line is the one to record (``history.command_line``).

Pure but for one mark per thread (a ``threading.local``; no thread is made).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


def as_the_command() -> None:
    """This thread runs the ``assetbuild`` command: messages speak its words from now on."""
    _local.command = True


def as_the_api() -> None:
    """This thread's messages speak the Python API's words from now on (user code a build runs:
    ``usercode.running_user_code``, which marks it back when the code returns)."""
    _local.command = False


def from_the_command() -> bool:
    """Whether this thread runs the ``assetbuild`` command's own work (not an API call)."""
    return getattr(_local, "command", False)


def words(cli: str, api: str) -> str:
    """``cli`` for the command line's reader, ``api`` for the Python API's."""
    return cli if getattr(_local, "command", False) else api


@contextmanager
def called_from(caller: str) -> Iterator[None]:
    """For the block, runs this thread records name ``caller`` (``"ui"``) as what called the API,
    not a Python script: ``runs`` then says ``ui: build('report')``, which a user can place."""
    before = getattr(_local, "caller", "python")
    _local.caller = caller
    try:
        yield
    finally:
        _local.caller = before


def set_caller(caller: str) -> None:
    """What called the API in this thread from now on (``called_from`` for a block)."""
    _local.caller = caller


def caller() -> str:
    """What called the API in this thread (``called_from``): ``"python"`` unless said."""
    return getattr(_local, "caller", "python")
