"""What an asset writes to ``sys.stdout`` and ``sys.stderr`` while it runs, captured per running
asset and cut into lines.

Both streams belong to the whole process, and with the ``threads`` executor several assets run
at once. So while any asset runs, each is replaced by a dispatcher that sends a write to the
capture of the asset running in the writing thread (a context variable that :func:`captured`
sets), and a write from anywhere else to the real stream. When the last running asset ends,
the real streams are put back (unless something else replaced them meanwhile).

A line becomes ``(level, text)``, like a ``context.log`` line: ``STDOUT`` and ``STDERR`` are
logging levels just above INFO and WARNING, so the asset's log lines and its output share one
ordered list, one filter (``-q`` hides what it prints on stdout, like its INFO lines) and one
display (``[asset] text``). A carriage return keeps what a terminal would show: the text after
the last one (a progress bar's final state).

While a debugger steps through the asset (``breakpoint()`` with the serial executor), its
dialogue goes to the real streams. Not captured: writes to the raw file descriptors (``sys.stdout.buffer``, C code, subprocesses)
and writes from threads the asset starts itself (they have their own context); those reach the
real streams, unprefixed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

STDOUT = 21  # the logging level of a line an asset printed to sys.stdout (INFO + 1)
STDERR = 31  # ... and of one it wrote to sys.stderr (WARNING + 1)
MAX_LINES = 10_000  # lines of output kept per asset run; the rest are counted, not kept

Sink = Callable[[int, str], None]

_current: ContextVar[_Capture | None] = ContextVar("assetbuild_capture", default=None)
_lock = threading.Lock()
_running = 0  # captures open in this process
_installed: tuple[_Dispatch, _Dispatch] | None = None  # our dispatchers while they are in place


class _Capture:
    """One asset run's output: complete lines go to ``sink`` as they are written."""

    def __init__(self, sink: Sink, limit: int | None) -> None:
        self.sink = sink
        self.limit = limit
        self.lines = 0
        self.dropped = 0
        self.partial = {STDOUT: "", STDERR: ""}

    def write(self, level: int, text: str) -> None:
        *lines, rest = (self.partial[level] + text).split("\n")
        if "\r" in rest:  # a progress bar redrawn without a newline: keep its last state only
            rest = "\r".join(rest.rsplit("\r", 2)[-2:])
        self.partial[level] = rest
        for line in lines:
            self._emit(level, line)

    def _emit(self, level: int, line: str) -> None:
        if "\r" in line:
            line = next((seg for seg in reversed(line.split("\r")) if seg), "")
        if self.limit is not None and self.lines >= self.limit:
            self.dropped += 1
            return
        self.lines += 1
        self._pass(level, line)

    def _pass(self, level: int, line: str) -> None:
        """The sink writes where it displays without being captured again (a logging handler
        that writes to sys.stderr, from the asset's own thread)."""
        token = _current.set(None)
        try:
            self.sink(level, line)
        finally:
            _current.reset(token)

    def close(self) -> None:
        for level, rest in self.partial.items():
            if rest:
                self._emit(level, rest)
        self.partial = {STDOUT: "", STDERR: ""}
        if self.dropped:
            self._pass(STDERR, f"({self.dropped} more lines of output not kept)")


class _Dispatch:
    """Stands in for sys.stdout or sys.stderr: a write goes to the writing context's capture,
    else to the real stream; everything else (encoding, fileno...) is the real stream's."""

    def __init__(self, real: Any, level: int) -> None:
        self._real = real
        self._level = level

    def write(self, text: str) -> int:
        cap = _current.get()
        if cap is None or _debugging():
            return self._real.write(text) if self._real is not None else len(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        cap.write(self._level, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if (_current.get() is None or _debugging()) and self._real is not None:
            self._real.flush()

    def isatty(self) -> bool:
        """False for a captured write: what the asset prints is not drawn on a terminal."""
        if (_current.get() is not None and not _debugging()) or self._real is None:
            return False
        return bool(self._real.isatty())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _debugging() -> bool:
    """Is a debugger (pdb, or one built on bdb) stepping through this thread? Then what is
    written is its dialogue with the user (``breakpoint()`` in a serial asset), not output."""
    bdb = sys.modules.get("bdb")
    return bdb is not None and isinstance(getattr(sys.gettrace(), "__self__", None), bdb.Bdb)


@contextmanager
def captured(sink: Sink, *, limit: int | None = None) -> Iterator[None]:
    """Capture what this context writes to sys.stdout and sys.stderr until the block ends:
    each complete line goes to ``sink(level, text)`` as it is written, the last partial one at
    the end. ``limit``: lines passed on at most (then one line counting the rest)."""
    global _running, _installed
    cap = _Capture(sink, limit)
    with _lock:
        if _running == 0:
            _installed = (_Dispatch(sys.stdout, STDOUT), _Dispatch(sys.stderr, STDERR))
            sys.stdout, sys.stderr = _installed
        _running += 1
    token = _current.set(cap)
    try:
        yield
    finally:
        _current.reset(token)
        try:
            cap.close()
        finally:
            with _lock:
                _running -= 1
                if _running == 0 and _installed is not None:
                    out, err = _installed
                    if sys.stdout is out:
                        sys.stdout = out._real
                    if sys.stderr is err:
                        sys.stderr = err._real
                    _installed = None


class LazyLogger:
    """The live logger of an asset run in the build's own thread, made on first use.

    The lines the asset prints go straight to ``line`` until then; ``logger`` (asked for
    when the asset takes a ``context``, a resource or an IO context) makes the real
    ``logging.Logger`` once, and every later line goes through it, to the handlers the asset's
    code may add. A build whose assets never log does not import ``logging``."""

    __slots__ = ("_make", "_line", "_logger")

    def __init__(self, make: Callable[[], Any], line: Sink) -> None:
        self._make, self._line, self._logger = make, line, None

    @property
    def logger(self) -> Any:
        if self._logger is None:
            self._logger = self._make()
        return self._logger

    def log(self, level: int, msg: str, *args: Any) -> None:
        if self._logger is not None:
            self._logger.log(level, msg, *args)
        else:
            self._line(level, msg % args if args else msg)


def real_logger(log: Any) -> Any:
    """``log`` as a ``logging.Logger`` (a ``LazyLogger`` made now), or None."""
    return log.logger if isinstance(log, LazyLogger) else log


def collecting_logger(asset: str, out: list[tuple[int, str]]) -> Any:
    """A logger that keeps every line (formatted, with any traceback) for replay in the parent."""
    import logging
    import traceback

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            out.append((record.levelno, text))

    log = logging.Logger(f"assetbuild.asset.{asset}", logging.DEBUG)
    log.addHandler(_Collect())
    log.propagate = False
    return log
