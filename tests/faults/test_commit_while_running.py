"""Finished work is committed while the build waits for running work: a SIGKILL then loses only
the assets still running (plus at most 0.25 s).

``fast1 -> fast2 -> slow``: ``slow`` marks its start and holds until the test releases it, so the
test knows that ``fast1`` and ``fast2`` have finished and ``slow`` runs; it then watches the
index from outside (a read-only open, as another process sees it) until both are committed,
kills the build, and checks that the next build runs ``slow`` only.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import pytest
from projects import (
    clean_env,
    cli,
    end_group,
    held_chain_project,
    recorded_heads,
    run_counts,
    start_cli,
)

from assetbuild.store import LmdbStore

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
    r = cli(cwd=root)
    assert r.returncode == 0, r.stderr
    assert run_counts(root / "runs") == {"fast1": 1, "fast2": 1, "slow": 2}
    assert (root / "out/slow.json").read_text().strip() == "3"


def test_a_pending_batch_is_committed_within_a_quarter_second_while_away(tmp_path):
    """The timer commits what is pending; nothing pending, or a read-only store, starts no timer;
    an error of that commit is raised in the caller's thread, once it is back."""
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
    with LmdbStore(tmp_path / "c", readonly=True) as ro:  # status, -n: nothing is ever committed
        ro.put_trace("3" * 64, trace)
        with ro.flushing_while_away():
            time.sleep(0.4)
        assert ro.pending == 1


FAST0 = '''
@asset(io="json")
def fast0():
    _ran("fast0")
    return 0


@asset(io="json")
def fast1(fast0):
    _ran("fast1")
    return fast0 + 1
'''


def _moto_process() -> tuple[subprocess.Popen, str]:
    """An S3-compatible server in a process of its own (so that SIGSTOP can hang it), and its URL."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the S3 server did not start")
            time.sleep(0.1)


def test_kill_while_the_build_waits_on_the_remote_keeps_the_finished_ones(tmp_path):
    """A lookup in the remote cache can wait long (a hung server: up to the remote timeout). The
    build runs a new ``fast0``, then ``fast1`` (new code, same bytes; its result not yet due for
    a commit); then the server stops answering (SIGSTOP) before ``fast2``'s record is asked for.
    What finished is committed before that wait."""
    import s3fs

    server, url = _moto_process()
    try:
        fs = s3fs.S3FileSystem(endpoint_url=url, key="testing", secret="testing", skip_instance_cache=True)
        fs.mkdir("cache")
        root = held_chain_project(tmp_path / "p")
        env = clean_env(ASSETBUILD_REMOTE="s3://cache/team", ASSETBUILD_CACHE_KEY="k3y", AWS_ENDPOINT_URL=url,
                        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                        AWS_DEFAULT_REGION="us-east-1")
        (root / "release").write_text("")
        assert cli(cwd=root, env=env).returncode == 0  # uploads all three
        shutil.rmtree(root / ".assetbuild")
        (root / "release").unlink()
        src = (root / "AssetFile").read_text()
        old = '@asset(io="json")\ndef fast1():\n    _ran("fast1")\n    return 1\n'
        assert old in src
        (root / "AssetFile").write_text(src.replace(old, FAST0))
        proc = start_cli("--remote-timeout", "60", cwd=root, env=env)
        try:
            assert _wait_for(lambda: run_counts(root / "runs").get("fast1") == 2, 60, proc, "fast1 ran") >= 0
            server.send_signal(signal.SIGSTOP)  # fast2's record is asked for only now: it never comes
            latency = _wait_for(lambda: {"fast0", "fast1"} <= recorded_heads(root / ".assetbuild"),
                                COMMIT_WAIT_S, proc, "fast0 and fast1 were committed")
            assert run_counts(root / "runs").get("fast2") == 1  # still waiting for fast2's record
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=20) == -signal.SIGKILL
        finally:
            end_group(proc)
    finally:
        server.send_signal(signal.SIGCONT)
        server.kill()
        server.wait()
    assert latency >= 0, "fast0 and fast1 were not committed while the build waited on the remote"
    (root / "release").write_text("")
    r = cli(cwd=root)  # no remote: fast2 and slow run here, fast1 is cached
    assert r.returncode == 0, r.stderr
    assert run_counts(root / "runs") == {"fast0": 1, "fast1": 2, "fast2": 2, "slow": 2}
