"""Telling a real Ctrl-C from asset code's own KeyboardInterrupt (``interrupts.RealInterrupts``),
alone and inside a build's ``noting_interrupts`` block, with real signals sent to this process."""

from __future__ import annotations

import _signal
import os
import signal

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
