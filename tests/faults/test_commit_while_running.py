"""Finished work is committed while the build waits for running work: a SIGKILL then loses only
the assets still running (plus at most 0.25 s).

``fast1 -> fast2 -> slow``: ``slow`` marks its start and holds until the test releases it, so the
test knows that ``fast1`` and ``fast2`` have finished and ``slow`` runs; it then watches the
index from outside (a read-only open, as another process sees it) until both are committed,
kills the build, and checks that the next build runs ``slow`` only.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from projects import end_group, held_chain_project, recorded_heads, run_cli, run_counts, start_cli  # noqa: E402

from assetbuild.store import LmdbStore  # noqa: E402

MODES = {
    "serial": ("-j", "1"),
    "processes": ("-j", "2", "--executor", "processes"),
    "threads": ("-j", "2", "--executor", "threads"),
    "watch": ("watch", "--debounce", "30"),
}
COMMIT_WAIT_S = 15  # far below slow's hold: a commit seen in time was made while slow ran


def _wait_for(cond, timeout: float, proc: subprocess.Popen, what: str) -> float:
    t0 = time.monotonic()
    while not cond():
        assert proc.poll() is None, f"the build ended before {what}"
        if time.monotonic() - t0 > timeout:
            return -1.0
        time.sleep(0.005)
    return time.monotonic() - t0


@pytest.mark.parametrize("mode", list(MODES))
def test_kill_while_a_long_asset_runs_keeps_the_finished_ones(tmp_path, mode):
    root = held_chain_project(tmp_path / "p")
    cache = root / ".assetbuild"
    proc = start_cli(*MODES[mode], cwd=root)
    try:
        assert _wait_for(lambda: (root / "runs/slow").exists(), 60, proc, "slow started") >= 0
        latency = _wait_for(lambda: {"fast1", "fast2"} <= recorded_heads(cache), COMMIT_WAIT_S, proc,
                            "fast1 and fast2 were committed")
        print(f"\n{mode}: " + (f"fast1 and fast2 committed {latency * 1000:.0f} ms after slow started"
                               if latency >= 0 else f"fast1 and fast2 not committed in {COMMIT_WAIT_S} s"))
        assert not (root / "out/slow.json").exists()  # slow was still running at the kill
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=20) == -signal.SIGKILL
    finally:
        end_group(proc)
    assert latency >= 0, "fast1 and fast2 were not committed while slow ran"
    (root / "release").write_text("")
    r = run_cli(cwd=root)
    assert r.returncode == 0, r.stderr
    assert run_counts(root) == {"fast1": 1, "fast2": 1, "slow": 2}
    assert (root / "out/slow.json").read_text().strip() == "3"


def test_a_pending_batch_is_committed_within_a_quarter_second_while_away(tmp_path):
    """The timer commits what is pending; nothing pending starts no timer; an error of that commit
    is raised in the caller's thread, once it is back."""
    from assetbuild.reports import Trace

    with LmdbStore(tmp_path / "c") as s:
        s.flush()
        trace = Trace("dv", "0" * 64, "json@1", 1, 0.0, 1, "")
        s.put_trace("1" * 64, trace)
        t0 = time.monotonic()
        with s.flushing_while_away():
            while s.pending and time.monotonic() - t0 < 10:
                time.sleep(0.001)
            waited = time.monotonic() - t0
        assert s.pending == 0 and s.get_trace("1" * 64) == trace
        assert waited < 0.25 + 2.0  # the timer's due time, with room for a loaded machine
        with s.flushing_while_away():  # nothing pending: returns at once, commits nothing
            pass

        def broken() -> None:
            raise OSError("disk gone")

        s.put_trace("2" * 64, trace)
        with pytest.raises(OSError, match="disk gone"):
            with s.flushing_while_away(broken):
                time.sleep(0.6)
