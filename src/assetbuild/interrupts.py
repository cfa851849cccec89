"""Telling a real Ctrl-C from a KeyboardInterrupt that user code (an asset, an IO manager, an
observation) raises itself: the first stops assetbuild, the second fails the asset. SIGTERM
stops a command as Ctrl-C does (``Terminated``, a KeyboardInterrupt), with its own exit status."""

from __future__ import annotations

import _signal  # (loaded with the interpreter; signal's own functions convert every handler to an enum: 3x the cost)

TYPE_CHECKING = False  # (the entry point imports this module first: neither typing nor contextlib)
if TYPE_CHECKING:
    from typing import Any


class _Noter:
    """A SIGINT or SIGTERM handler that counts the signals, then calls the handler it wraps."""

    __slots__ = ("previous", "count")

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.count = 0

    def __call__(self, signum: int, frame: Any) -> Any:
        if _taking_a_lock(frame):
            return _again(signum)
        self.count += 1
        return self.previous(signum, frame)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt: the command ends the same way
    (finished work recorded, workers ended, one line), with exit status 143."""


TERMINATED_STATUS = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended


_sigterm_seen = False
_sigint_seen = False


def _on_sigint(signum: int, frame: Any) -> None:
    """Python's own Ctrl-C (KeyboardInterrupt), noted: one that ends a command before the
    command could handle it (while modules import, in a class's creation, where Python wraps
    it in a RuntimeError) is still said to be Ctrl-C (``sigint_seen``)."""
    global _sigint_seen
    if _taking_a_lock(frame):
        return _again(signum)
    _sigint_seen = True
    raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_seen
    if _taking_a_lock(frame):
        return _again(signum)
    if _sigterm_seen:  # a second SIGTERM ends the command at once, as a kill would: every write is crash-safe
        import os

        os._exit(TERMINATED_STATUS)
    _sigterm_seen = True
    raise Terminated


def _taking_a_lock(frame: Any) -> bool:
    """Whether ``frame`` is the standard library's Python code that takes or gives back a lock
    outside any ``try`` or ``with``: an exception raised there (as it starts, or as a call in it
    returns) leaves the lock held for ever, and the thread that next needs it waits for ever
    (the build's end then waits for that thread). ``threading.Condition``'s ``__enter__`` and
    ``__exit__`` run in every ``with`` of a Condition, an Event, a Future or a Queue;
    ``concurrent.futures.wait`` takes its futures' locks one by one; logging's handlers take
    theirs with ``acquire()``."""
    if frame is None or frame.f_code.co_name not in _LOCKING_NAMES:
        return False
    import sys

    code = frame.f_code
    threading = sys.modules.get("threading")
    if threading is not None and code in (threading.Condition.__enter__.__code__,
                                          threading.Condition.__exit__.__code__):
        return True
    futures = sys.modules.get("concurrent.futures._base")
    if futures is not None and code in (futures._AcquireFutures.__enter__.__code__,
                                        futures._AcquireFutures.__exit__.__code__):
        return True
    logging = sys.modules.get("logging")
    return logging is not None and code in [f.__code__ for f in (
        logging.Handler.acquire, logging.Handler.release, getattr(logging, "_acquireLock", None),
        getattr(logging, "_releaseLock", None)) if f is not None]


_LOCKING_NAMES = frozenset({"__enter__", "__exit__", "acquire", "release", "_acquireLock", "_releaseLock"})


def _again(signum: int) -> None:
    """Deliver ``signum`` again in a millisecond, when the code it came in has moved on."""
    import _thread

    _thread.start_new_thread(_resend, (_thread.get_ident(), signum))


def _resend(thread: int, signum: int) -> None:
    import time

    time.sleep(0.001)
    try:
        if hasattr(_signal, "pthread_kill"):  # to the main thread: a wait it is in returns EINTR
            _signal.pthread_kill(thread, signum)
        else:
            _signal.raise_signal(signum)
    except OSError:  # the process is ending
        pass


def sigterm_seen() -> bool:
    """Whether ``terminate_as_interrupt``'s handler saw SIGTERM (and raised Terminated)."""
    return _sigterm_seen


def sigint_seen() -> bool:
    """Whether ``terminate_as_interrupt``'s Ctrl-C handler saw SIGINT."""
    return _sigint_seen


def said_early() -> int | None:
    """For an exception that ended the command before it could handle a signal: if SIGTERM or
    Ctrl-C raised it, say so in the command's line (and, with --json, its document), and return
    the exit status, 143 or 130; else None (the exception is the command's to report)."""
    import sys

    if _sigterm_seen:
        message, status, line = "terminated", TERMINATED_STATUS, "assetbuild: terminated (SIGTERM)\n"
    elif _sigint_seen:
        message, status = "interrupted", 130
        line = ("\n" if sys.stderr.isatty() else "") + "assetbuild: interrupted\n"  # (after the ^C echoed)
    else:
        return None
    sys.stderr.write(line)
    if "--json" in sys.argv[1:]:
        sys.stdout.write(f'{{"ok": false, "error": "{message}"}}\n')
    return status


def exit_status(code: Any) -> Any:
    """The status a command ending with ``code`` exits with: 143 once SIGTERM was seen, whoever
    caught the Terminated it raised (click's "Aborted!" says 1)."""
    return TERMINATED_STATUS if _sigterm_seen else code


def terminate_as_interrupt() -> None:
    """SIGTERM (``timeout``, a cancelled CI job, ``docker stop``, systemd) raises Terminated in the
    main thread, so a command ends as on Ctrl-C: the default death skips the last commit of
    finished work and the workers' cleanup. Ctrl-C is noted (``_on_sigint``). Left alone when SIGTERM is ignored (inherited) or
    already handled; watch, run and ui install their own handlers over it. (``_signal``: the
    command's start imports neither ``signal`` nor ``threading``.)"""
    import _thread
    import sys

    if _signal.getsignal(_signal.SIGTERM) == _signal.SIG_DFL:
        try:
            _signal.signal(_signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread: signals go to the main thread's handlers only
            return
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:  # (not ignored, not a caller's)
        _signal.signal(_signal.SIGINT, _on_sigint)
    if not isinstance(sys.unraisablehook, _Unraisable):
        sys.unraisablehook = _Unraisable(sys.unraisablehook, _thread.get_ident())


class _Unraisable:
    """``sys.unraisablehook`` that gives back an interrupt Python could not raise. A signal's
    handler raises in whatever runs, and when that is a weakref callback, a ``__del__`` or a
    finalizer (importlib's module locks have one, run by every import), Python prints
    "Exception ignored in ..." with a traceback and drops the exception: the Ctrl-C or SIGTERM
    is lost and the command runs on. Here the signal is sent again a millisecond later (when
    the callback has returned), and nothing is printed."""

    __slots__ = ("previous", "main")

    def __init__(self, previous: Any, main: int) -> None:
        self.previous = previous
        self.main = main  # signals' handlers run in the main thread only

    def __call__(self, unraisable: Any) -> None:
        import _thread

        exc = unraisable.exc_value
        if not isinstance(exc, KeyboardInterrupt) or _thread.get_ident() != self.main:
            self.previous(unraisable)
            return
        global _sigterm_seen
        terminated = isinstance(exc, Terminated)
        try:
            _again(_signal.SIGTERM if terminated else _signal.SIGINT)
        except RuntimeError:  # no new thread at the interpreter's exit: nothing runs on to stop
            self.previous(unraisable)
            return
        if terminated:
            _sigterm_seen = False  # (sent again: not the second SIGTERM, which ends at once)


def interrupts_held() -> _Held:
    """Hold Ctrl-C and SIGTERM off for the block, then deliver the first that came, through the
    handlers the block found. Around starting worker processes: an interrupt inside a start
    leaves a worker the build never learnt of, which then fails to start and prints
    multiprocessing's own traceback after assetbuild's last line. Main thread only (a no-op
    elsewhere: signals are handled in the main thread)."""
    return _Held()


class _Held:
    """``interrupts_held``'s block."""

    def __enter__(self) -> None:
        self.came: list[int] = []
        self.held: dict[int, Any] = {}
        try:
            for sig in (_signal.SIGINT, _signal.SIGTERM):
                handler = _signal.getsignal(sig)
                if callable(handler):  # SIG_DFL and SIG_IGN raise nothing in Python code
                    self.held[sig] = handler  # (first: an interrupt just after the swap finds it)
                    _signal.signal(sig, lambda signum, frame: self.came.append(signum))
        except ValueError:  # not the main thread: nothing was swapped
            self.held.clear()
        except BaseException:  # SIGTERM while SIGINT was held already: the block never began, so
            for sig, handler in self.held.items():  # nothing would give Ctrl-C back its handler
                _signal.signal(sig, handler)
            raise

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.held.items():
            _signal.signal(sig, handler)
        if self.came:
            _signal.raise_signal(self.came[0])


class RealInterrupts:
    """Tells a real Ctrl-C from a KeyboardInterrupt that asset code raises itself.

    Only the main thread receives signals, so only there can a KeyboardInterrupt come from
    outside (Python's SIGINT handler, or watch's SIGINT/SIGTERM handler, raises it inside
    whatever runs): while the asset runs, every Python-level handler of SIGINT and SIGTERM is
    wrapped to count the signals (``_Noter``), and ``seen`` says whether one came. Anywhere else
    (a thread, a process worker, which ignores SIGINT) a KeyboardInterrupt is the asset's own.

    A block inside another (a build wraps its whole run: ``noting_interrupts``) finds the
    wrappers in place and only reads their counts: setting a handler is a system call, and a
    serial build of 10,000 assets made 59,000 of them. Handlers the asset's code set are
    undone either way when the block ends."""

    def __enter__(self) -> RealInterrupts:
        import threading

        self._installed: list[tuple[int, _Noter]] = []
        self._kept: list[tuple[int, _Noter, int]] = []
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (_signal.SIGINT, _signal.SIGTERM):
            handler = _signal.getsignal(sig)
            if isinstance(handler, _Noter):
                self._kept.append((sig, handler, handler.count))
            elif callable(handler):  # SIG_DFL, SIG_IGN and None do not raise in Python code
                noter = _Noter(handler)
                _signal.signal(sig, noter)
                self._installed.append((sig, noter))
        return self

    @property
    def seen(self) -> bool:
        return any(n.count for _, n in self._installed) or any(n.count != c for _, n, c in self._kept)

    def interrupt(self) -> KeyboardInterrupt:
        """What to raise for the signal seen, whatever the user code turned it into."""
        term = [n for s, n in self._installed if s == _signal.SIGTERM and n.count] + \
            [n for s, n, c in self._kept if s == _signal.SIGTERM and n.count != c]
        return Terminated() if term else KeyboardInterrupt()

    def __exit__(self, *exc: object) -> None:
        for sig, noter, _ in self._kept:
            if _signal.getsignal(sig) is not noter:
                _signal.signal(sig, noter)
        for sig, noter in self._installed:
            _signal.signal(sig, noter.previous)


def noting_interrupts() -> RealInterrupts:
    """A block around a whole build, so that each asset's ``RealInterrupts`` costs no system call."""
    return RealInterrupts()
