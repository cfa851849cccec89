"""Telling a real Ctrl-C from asset code's own KeyboardInterrupt (``interrupts.RealInterrupts``),
alone and inside a build's ``noting_interrupts`` block, with real signals sent to this process."""

from __future__ import annotations

import _signal
import os
import signal
from contextlib import nullcontext

import pytest

from assetbuild.interrupts import RealInterrupts, interrupts_held, noting_interrupts


@pytest.fixture
def received():
    """A Python-level SIGINT handler that records the signal instead of raising."""
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    yield got
    signal.signal(signal.SIGINT, previous)


def _interrupt() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # the handler runs at the next bytecode boundary
    for _ in range(1000):
        pass


def test_a_signal_in_the_block_is_seen_and_still_handled(received):
    with RealInterrupts() as interrupts:
        _interrupt()
    assert interrupts.seen and received == [signal.SIGINT]
    with RealInterrupts() as quiet:
        pass
    assert not quiet.seen


def test_inside_a_build_block_each_asset_sees_only_its_own_signals(received):
    with noting_interrupts():
        with RealInterrupts() as first:
            _interrupt()
        with RealInterrupts() as second:
            pass
    assert first.seen and not second.seen
    assert received == [signal.SIGINT]


def test_inside_a_build_block_an_asset_sets_no_handler(received, monkeypatch):
    with noting_interrupts():
        calls = []
        real = _signal.signal
        monkeypatch.setattr(_signal, "signal", lambda *a: calls.append(a) or real(*a))
        for _ in range(3):
            with RealInterrupts():
                pass
        monkeypatch.undo()
    assert calls == []


def test_handlers_are_put_back(received):
    before = signal.getsignal(signal.SIGINT)
    with noting_interrupts():
        wrapped = signal.getsignal(signal.SIGINT)
        with RealInterrupts():
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the asset's own handler
        assert signal.getsignal(signal.SIGINT) is wrapped  # undone when the asset ends
    assert signal.getsignal(signal.SIGINT) is before
    with RealInterrupts():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_while_held_is_delivered_once_when_the_block_ends(received):
    """``interrupts_held`` (around starting worker processes): nothing is raised inside, the
    handler found runs once after, and is the handler again."""
    before = signal.getsignal(signal.SIGINT)
    with interrupts_held():
        _interrupt()
        _interrupt()
        assert received == []
    assert received == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_ctrl_c_while_held_raises_after_the_block():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            _interrupt()
            reached.append("end of block")
    assert reached == ["end of block"]


def test_held_in_another_thread_is_a_no_op(received):
    """Only the main thread may set handlers (a watch or UI build runs in a thread)."""
    import threading

    errors = []

    def run() -> None:
        try:
            with interrupts_held():
                pass
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert errors == []


@pytest.mark.parametrize("how", ["sigint-in-a-build", "sigterm"])
def test_an_interrupt_never_leaves_a_condition_locked(how, monkeypatch):
    """A signal's handler that raises inside ``threading.Condition.__enter__`` (after it took
    the lock) or ``__exit__`` (before it gave it back) leaves the lock held for ever: the next
    thread to need it (the committer, a worker setting its Future) waits for ever, and the
    build's end for that thread. Such a signal is delivered again a millisecond later, once the
    build's thread has moved on. (Without that, a third of these trials left the lock held.)"""
    import random
    import threading

    from assetbuild import interrupts

    sig = signal.SIGINT if how == "sigint-in-a-build" else signal.SIGTERM
    if sig == signal.SIGINT:
        def raising(signum, frame):
            raise KeyboardInterrupt

        block = noting_interrupts  # its handler wraps the one set (as a build does)
    else:
        raising = interrupts._on_sigterm
        block = nullcontext  # the handler as the command installs it
    previous = signal.signal(sig, raising)
    main = threading.get_ident()
    rng = random.Random(5)
    try:
        with block():
            for trial in range(60):
                monkeypatch.setattr(interrupts, "_sigterm_seen", False)  # (a second SIGTERM exits)
                cond = threading.Condition()
                with pytest.raises(KeyboardInterrupt):
                    threading.Timer(rng.uniform(0.001, 0.005), signal.pthread_kill, (main, sig)).start()
                    while True:
                        with cond:
                            pass
                taken: list[bool] = []
                other = threading.Thread(target=lambda c=cond, t=taken: t.append(c.acquire(timeout=1)))
                other.start()
                other.join()
                assert taken == [True], f"trial {trial}: the interrupt left the lock held"
    finally:
        signal.signal(sig, previous)


_SWALLOWED = """
import gc, os, signal, sys, time
from assetbuild.interrupts import Terminated, terminate_as_interrupt

terminate_as_interrupt()
class Holder:
    pass
def callback(ref):  # Python drops what a weakref callback raises ("Exception ignored in ...")
    os.kill(os.getpid(), signal.{sig})
    for _ in range(1000):  # the handler runs here, at a bytecode boundary, and raises
        pass
import weakref
h = Holder()
r = weakref.ref(h, callback)
try:
    del h  # the callback runs now
    time.sleep(5)
except {exc}:
    print("interrupted")
    sys.exit(3)
print("ran on")
"""


@pytest.mark.parametrize("sig, exc", [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")])
def test_an_interrupt_raised_in_a_weakref_callback_is_delivered_again_not_lost(sig, exc):
    """A signal whose handler raised inside a weakref callback (importlib's module locks have
    one: an import was enough) was printed as "Exception ignored" and lost: the command ran on.
    It arrives again once the callback has returned."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _SWALLOWED.format(sig=sig, exc=exc)], capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stdout.strip()) == (3, "interrupted"), r.stdout + r.stderr
    assert "Exception ignored" not in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_an_interrupt_while_the_handlers_are_being_held_gives_them_back():
    """SIGTERM landing in ``interrupts_held`` after it had swapped SIGINT's handler, before the
    block began, left SIGINT with the holder's: every later Ctrl-C was only recorded, never
    acted on. Wherever an interrupt comes in ``__enter__``, both handlers are as they were."""
    import sys

    from signal_points import interrupt_at

    from assetbuild.interrupts import _Held

    def mine(signum, frame):
        raise AssertionError("no signal is sent here")

    before = signal.signal(signal.SIGINT, mine), signal.signal(signal.SIGTERM, mine)
    came = 0
    try:
        for n in range(1, 50):
            sys.settrace(interrupt_at(n, {_Held.__enter__.__code__}))
            try:
                with interrupts_held():
                    pass
            except KeyboardInterrupt:
                came += 1
            else:
                break
            finally:
                sys.settrace(None)
            assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (mine, mine), n
        assert came >= 4  # (each call in __enter__ returns where a handler could raise)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
