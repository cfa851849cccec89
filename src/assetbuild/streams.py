"""The command's standard streams, made safe before it writes: a stream its caller closed is
stood in for, and text no encoding can write is escaped rather than raised; and what a stream
may be sent (``terminal_draws``, ``use_color``), one rule for every command and the fast path."""

from __future__ import annotations

import io  # (loaded with the interpreter)
import os
import sys

TYPE_CHECKING = False  # (typing is not imported: the fast path stays lean)
if TYPE_CHECKING:
    from typing import TextIO

stdout_closed = False  # (stand_in_for_closed_streams took its place)


def stand_in_for_closed_streams() -> None:
    """Standard streams the caller closed (``assetbuild >&-``, ``2>&-``): /dev/null takes each
    descriptor, so that no file the command opens (the store's, an output's) becomes the stdout
    of an asset or a worker, and ``sys.stdout``/``sys.stderr`` (None) become streams into it, so
    the command runs (it ended in a traceback, and a build lost its work). What is written to a
    closed stdout ends the command as a reader that went away would (``entry._end_status``)."""
    global stdout_closed
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
            continue  # (opened since the interpreter started: not ours to replace)
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if fd == 0:
            sys.stdin = open(fd, closefd=False)  # noqa: SIM115 - the process's own
        elif fd == 1:
            from .exiting import LostOutput

            sys.stdout = io.TextIOWrapper(io.BufferedWriter(LostOutput(fd, "w", closefd=False)),
                                          encoding="utf-8", errors="backslashreplace")
            stdout_closed = True
        else:
            sys.stderr = open(fd, "w", closefd=False, errors="backslashreplace")  # noqa: SIM115


class Discard(io.TextIOBase):
    """A text stream that writes nowhere: the API's reporter writes there where ``sys.stdout``
    or ``sys.stderr`` is None (pythonw, a service or GUI host that started Python without
    streams), rather than fail the call on its first line."""

    def write(self, text: str) -> int:
        return len(text)

    def writable(self) -> bool:
        return True


def terminal_draws(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that takes escape sequences (the live status line's
    ``\\r\\x1b[K``, colours): not a pipe or file, nor ``TERM=dumb`` (Emacs' shell, some CI
    log viewers), which shows them raw."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError, OSError):  # None (pythonw, a service without streams), closed
        return False
    return bool(tty) and os.environ.get("TERM") != "dumb"


def use_color(stream: TextIO) -> bool:
    """Whether to colour what goes to ``stream``: a terminal that draws, without ``NO_COLOR``."""
    return "NO_COLOR" not in os.environ and terminal_draws(stream)


class StdoutToStderr:
    """While the block runs, what reaches file descriptor 1 from below Python (a subprocess the
    AssetFile or an asset starts, C code, ``os.write(1, ...)``) goes to stderr's descriptor, so
    stdout carries the command's output only (a ``--json`` document, a value piped to a file).
    ``with`` gives a duplicate of the real stdout's descriptor, for what the command writes
    meanwhile; or None, redirecting nothing, when ``out`` is not descriptor 1 (a test's stream).
    A class, not a generator: the fast path imports no contextlib."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.saved: int | None = None

    def __enter__(self) -> int | None:
        try:
            if self.out.fileno() != 1:
                return None
            to = self.err.fileno()
            self.out.flush()
            self.saved = os.dup(1)
        except (OSError, ValueError, AttributeError):  # not a real stdout, or closed
            return None
        os.dup2(to, 1)
        return self.saved

    def __exit__(self, *exc: object) -> None:
        if self.saved is None:
            return
        try:
            self.out.flush()  # what Python code wrote to it meanwhile: to stderr, where descriptor 1 points
        finally:
            os.dup2(self.saved, 1)
            os.close(self.saved)
            self.saved = None


def escaping_streams() -> None:
    """A ``str`` that is not text (a lone surrogate: half of an emoji an API cut, JSON's
    ``"\\ud800"``, in a version, param or metadata) is printed as its escape, ``\\ud800``, where
    the stream's handler (strict, or surrogateescape, which takes only the bytes a file name
    could not decode, and still does) raised UnicodeEncodeError out of a command's middle. The
    escape is the same inside a JSON string, so ``--json`` stays JSON."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) in ("strict", "surrogateescape"):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                if stream.errors == "surrogateescape":
                    codecs.register_error("assetbuild.escape", _escape_surrogates)
                reconfigure(errors="assetbuild.escape" if stream.errors == "surrogateescape" else "backslashreplace")


def _escape_surrogates(e: UnicodeError) -> tuple[str | bytes, int]:
    import codecs

    if isinstance(e, UnicodeEncodeError) and all("\udc80" <= c <= "\udcff" for c in e.object[e.start:e.end]):
        return codecs.lookup_error("surrogateescape")(e)  # a file name's undecodable bytes, as they were
    return codecs.backslashreplace_errors(e)
