"""The live status line a build draws on a terminal (stderr), never in a pipe.

``[3/10] running train 12s of ~40s, clean 2s``: what is done, and each running asset with the time it
has run and, when an earlier build of it was timed, how long that took (the ETA). A ticker
thread redraws it every half second while something runs, so a long asset shows progress; a
line printed above it (a result, a ``context.log`` line, a warning) clears it and draws it
again below. All writes to the terminal go through one lock, so the ticker never cuts a line.
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from collections.abc import Callable
from typing import TextIO

TICK_S = 0.5  # how often the ticker redraws while an asset runs (the elapsed times move)

_open = False  # whether some status line is on the screen now (see interrupted_newline)


def interrupted_newline(stream: TextIO) -> None:
    """Before a message after Ctrl-C: end the status line the terminal just echoed ^C on."""
    global _open
    if _open:
        stream.write("\n")
        _open = False


def span(seconds: float) -> str:
    """A running time for the status line: 7s, 1m05s, 1h02m."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def char_columns(c: str) -> int:
    """The terminal columns one code point takes: 2 for a wide (CJK, fullwidth) one, 0 for a
    combining mark, a zero-width joiner or another format character, 1 otherwise."""
    if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def fit_columns(text: str, columns: int) -> str:
    """``text`` cut to at most ``columns`` terminal columns, never inside a character and its
    combining marks. Cut by code points, a line of CJK names (two columns each) or of decomposed
    accents (two code points, one column) misjudged its width: it wrapped, and ``\\r\\x1b[K``
    then redrew only its last row, leaving a trail of old lines above."""
    used = 0
    for i, c in enumerate(text):
        used += char_columns(c)
        if used > columns:
            return text[:i]
    return text


class StatusLine:
    """The status line of one build: ``start``/``finish`` per asset, ``clear`` before a line is
    printed and ``draw`` after. ``clock``: monotonic seconds (a test passes its own)."""

    def __init__(self, err: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.err = err
        self.clock = clock
        self.lock = threading.RLock()
        self.done = 0
        self.total = 0
        self.running: dict[str, tuple[float, float | None]] = {}  # name -> (start, expected seconds)
        self.shown = False
        self._last_draw = 0.0
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def text(self, width: int) -> str:
        now = self.clock()
        parts = []
        for name, (t0, expected) in self.running.items():
            took = span(now - t0)
            parts.append(f"{name} {took} of ~{span(expected)}" if expected and expected >= 1 else f"{name} {took}")
        line = f"[{self.done}/{self.total}]" + (" running " + ", ".join(parts) if parts else "")
        return fit_columns(line, max(width - 1, 10))

    def start(self, name: str, expected: float | None) -> None:
        with self.lock:
            self.running[name] = (self.clock(), expected)
        self.draw(force=True)
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="assetbuild-status", daemon=True)
            self._ticker.start()

    def finish(self, name: str) -> None:
        with self.lock:
            self.running.pop(name, None)
            self.done += 1

    def clear(self) -> None:
        global _open
        with self.lock:
            if self.shown:
                self.err.write("\r\x1b[K")
                self.shown = _open = False

    def draw(self, force: bool = False) -> None:
        global _open
        with self.lock:
            now = self.clock()
            if not force and now - self._last_draw < 0.08:
                return
            self._last_draw = now
            width = 0
            try:
                width = os.get_terminal_size(self.err.fileno()).columns
            except (OSError, ValueError, AttributeError):
                pass
            self.err.write("\r\x1b[K" + self.text(width or 80))  # a terminal that does not know its size says 0
            self.err.flush()
            self.shown = _open = True

    def stop(self) -> None:
        self._stop.set()
        self.clear()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            if self.running:
                try:
                    self.draw(force=True)
                except (OSError, ValueError):  # the terminal went away
                    return
