"""The committer thread (``assetbuild.store.records.Committer``): it commits a batch that came due
while the build's thread was away from the store, never while it is in it, and a stay costs no
wake-up of the thread unless the batch is due before the thread would wake anyway."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest
from signal_points import interrupt_at

from assetbuild.store.records import Away, Committer


class _Flushes:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.done = threading.Event()

    def __call__(self) -> None:
        self.times.append(time.monotonic())
        self.done.set()


@pytest.fixture
def committer():
    c = Committer(lambda: None)
    yield c
    c.stop()


def test_a_stay_that_outlasts_the_due_time_commits_once(committer):
    flush = _Flushes()
    due = time.monotonic() + 0.05
    committer.enter(flush, due)
    assert flush.done.wait(5)
    time.sleep(0.05)
    committer.leave()
    assert len(flush.times) == 1 and flush.times[0] >= due


def test_short_stays_commit_nothing_and_a_long_one_still_commits_on_time(committer):
    flush = _Flushes()
    due = time.monotonic() + 0.2
    for _ in range(2000):  # many stays end before the batch is due: the thread sleeps through them
        committer.enter(flush, due)
        committer.leave()
        if time.monotonic() > due - 0.05:
            break
    assert flush.times == []
    committer.enter(flush, due)  # the stay that runs past the due time
    assert flush.done.wait(5)
    committer.leave()
    assert len(flush.times) == 1 and flush.times[0] >= due


def test_nothing_is_committed_while_the_build_is_in_the_store(committer):
    flush = _Flushes()
    committer.enter(flush, time.monotonic() + 0.02)
    committer.leave()  # back in the store before the due time
    time.sleep(0.1)  # the due time passes with the build's thread in the store
    assert flush.times == []
    committer.enter(flush, time.monotonic())  # away again: due at once
    assert flush.done.wait(5)
    committer.leave()


def test_an_earlier_due_time_wakes_a_thread_sleeping_until_a_later_one(committer):
    flush = _Flushes()
    committer.enter(flush, time.monotonic() + 30)  # the thread sleeps until then
    committer.leave()
    t0 = time.monotonic()
    committer.enter(flush, t0 + 0.02)
    assert flush.done.wait(5)
    committer.leave()
    assert flush.times[0] - t0 < 5  # woken for it, not at the 30 s mark


def test_a_later_due_time_after_a_commit_is_kept(committer):
    """After the build's own commit the batch is due later: the thread, asleep until the old
    due time, must not commit at it, and must commit at the new one."""
    flush = _Flushes()
    t0 = time.monotonic()
    committer.enter(flush, t0 + 0.05)
    committer.leave()
    committer.enter(flush, t0 + 0.3)  # no wake-up: the thread wakes at +0.05 anyway
    assert flush.done.wait(5)
    committer.leave()
    assert len(flush.times) == 1 and flush.times[0] >= t0 + 0.3


def test_an_error_in_the_commit_is_raised_by_leave(committer):
    def failing() -> None:
        raise OSError("disk full")

    committer.enter(failing, time.monotonic())
    deadline = time.monotonic() + 5
    while committer.busy or committer._flush is not None:  # until the thread took it
        assert time.monotonic() < deadline
        time.sleep(0.001)
    with pytest.raises(OSError, match="disk full"):
        committer.leave()


def test_an_interrupt_anywhere_in_a_stay_leaves_the_committer_idle_and_stoppable():
    """Ctrl-C or SIGTERM raises in the build's thread between any two calls: wherever it comes
    as the build's thread enters or leaves a stay, the stay ends (nothing armed, no commit
    running) and the thread still stops. A ``threading.Condition`` left its lock held when the
    interrupt came inside its ``__enter__``: the committer then waited for it for ever, and
    so did the build's end, joining the committer (a SIGTERMed build that never ended).

    In a process of its own: raising from a trace function at every line, beside the threads
    and extension modules that other tests leave in a shared worker, once crashed CPython 3.11
    itself (a segmentation fault in the worker)."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent.parent / "src"), str(here.parent),
                                                          str(here), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", "import test_records as t; t.interrupt_anywhere_in_a_stay()"],
                       cwd=here, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def interrupt_anywhere_in_a_stay() -> None:
    """The test above, in the process that runs it."""
    watched = {Away.__enter__.__code__, Away.__exit__.__code__, Committer.enter.__code__,
               Committer.leave.__code__}
    n, came = 0, 0
    while True:
        n += 1
        started = threading.Event()

        def flush(started: threading.Event = started) -> None:
            started.set()
            time.sleep(0.002)

        c = Committer(lambda: None)
        interrupted = False
        sys.settrace(interrupt_at(n, watched))
        try:
            with Away(c, flush, time.monotonic()):  # due at once: a commit runs as the stay ends
                started.wait(5)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            sys.settrace(None)
        stopper = threading.Thread(target=c.stop, daemon=True)
        stopper.start()
        stopper.join(5)
        assert not stopper.is_alive(), f"the committer never stopped after an interrupt at point {n}"
        assert c._flush is None and not c.busy, n
        if not interrupted:
            break
        came += 1
    assert came >= 5  # (the points of enter, leave and the stay's block)


def test_an_interrupt_while_leave_waits_for_a_commit_comes_after_it():
    """The build's own commit after an interrupt would race one still in progress."""
    c = Committer(lambda: None)
    started, ended = threading.Event(), []

    def flush() -> None:
        started.set()
        time.sleep(0.3)
        ended.append(time.monotonic())

    main = threading.get_ident()
    try:
        with pytest.raises(KeyboardInterrupt):
            with Away(c, flush, time.monotonic()):
                assert started.wait(5)
                threading.Timer(0.05, signal.pthread_kill, (main, signal.SIGINT)).start()
        assert ended and time.monotonic() >= ended[0]
        assert not c.busy
    finally:
        c.stop()


def test_a_stat_entry_of_the_rule_before_reads_as_none():
    """Entries recorded before the racy rule looked at ctime (a file given a past mtime just
    after a write was recorded at once) are not trusted: the file is hashed once more."""
    import marshal

    from assetbuild.store.records import RECORD, decode_stat, encode_stat

    sig, digest = (5, 1, 2, 3), "ab" * 32
    assert decode_stat(encode_stat(sig, digest)) == (sig, digest)
    assert decode_stat(marshal.dumps((RECORD, sig, digest))) is None  # as the rule before wrote it
