"""The committer thread (``assetbuild.store.records.Committer``): it commits a batch that came due
while the build's thread was away from the store, never while it is in it, and a stay costs no
wake-up of the thread unless the batch is due before the thread would wake anyway."""

from __future__ import annotations

import threading
import time

import pytest

from assetbuild.store.records import Committer


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
    while committer._busy or committer._flush is not None:  # until the thread took it
        assert time.monotonic() < deadline
        time.sleep(0.001)
    with pytest.raises(OSError, match="disk full"):
        committer.leave()
