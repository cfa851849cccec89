"""On a terminal a build shows a live status line; in a pipe it prints plain lines only."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from projects import clean_env, cli

SLOW = """\
import time
from assetbuild import asset

@asset(io="json")
def first():
    time.sleep(0.3)
    return 1

@asset(io="json")
def second(first):
    time.sleep(0.3)
    return first + 1
"""


def run_in_pty(args, cwd, **env):
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", *args], cwd=cwd, stdin=slave,
                            stdout=slave, stderr=slave, env=clean_env(**{"TERM": "xterm", "COLUMNS": "80", **env}))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO once the child has exited and closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_live_status_line_on_a_terminal(tmp_path):
    (tmp_path / "AssetFile").write_text(SLOW)
    rc, out = run_in_pty([], tmp_path)
    assert rc == 0, out
    assert "running first" in out and "running second" in out
    assert "\r\x1b[K" in out  # the status line is redrawn in place
    assert "2 built" in out


def test_no_control_characters_in_a_pipe(tmp_path):
    (tmp_path / "AssetFile").write_text(SLOW)
    r = cli(cwd=tmp_path)
    assert r.returncode == 0
    assert "\x1b" not in r.stdout + r.stderr and "\r" not in r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("built     first  (0.") \
        and lines[1].startswith("built     second  (0.") and lines[2].startswith("2 built, 0 cached")


LOGS_THEN_WAITS = """\
import time
from assetbuild import asset

WAIT = 2.2

@asset(io="json")
def slow(context):
    context.log.info("loading the model")
    time.sleep(WAIT)
    return 1
"""


def test_the_status_line_comes_back_after_a_log_line_and_counts_seconds(tmp_path):
    (tmp_path / "AssetFile").write_text(LOGS_THEN_WAITS)
    rc, out = run_in_pty([], tmp_path)
    assert rc == 0, out
    after_log = out.split("[slow] loading the model")[1]
    # drawn again below the log line, then redrawn as the seconds pass (at least once a second)
    assert "\r\x1b[K[0/1] running slow 0s" in after_log
    assert "[0/1] running slow 1s" in after_log and "[0/1] running slow 2s" in after_log
    assert "of ~" not in out  # no earlier build: no estimate
    # the next build of it knows how long the last one took: an ETA
    (tmp_path / "AssetFile").write_text(LOGS_THEN_WAITS.replace("WAIT = 2.2", "WAIT = 2.3"))
    rc, out = run_in_pty([], tmp_path)
    assert rc == 0 and "[0/1] running slow 1s of ~2s" in out, out


def test_ctrl_c_starts_a_new_line(tmp_path):
    import signal
    import time

    (tmp_path / "AssetFile").write_text(LOGS_THEN_WAITS.replace("WAIT = 2.2", "WAIT = 30"))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild"], cwd=tmp_path, stdin=slave, stdout=slave,
                            stderr=slave, env=clean_env(TERM="xterm", COLUMNS="80"))
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"slow 1s" not in seen:
        assert time.monotonic() < deadline, seen
        seen += os.read(master, 4096)
    proc.send_signal(signal.SIGINT)
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
    os.close(master)
    assert proc.wait(timeout=60) == 130
    out = seen.decode(errors="replace")
    before, _, _ = out.partition("assetbuild: interrupted")
    assert before.endswith("\n") or before.endswith("\r\n"), repr(out[-300:])  # not after the status text


def test_every_built_asset_shows_its_duration_and_the_summary_the_commands_time(tmp_path):
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset\ndef tiny():\n    return 1\n")
    r = cli(cwd=tmp_path)
    lines = r.stdout.splitlines()
    assert lines[0] == "built     tiny  (0.00s)" or lines[0].startswith("built     tiny  (0.0"), lines
    import re

    took = float(re.fullmatch(r"1 built, 0 cached, 0 restored, 0 failed, 0 skipped in (\d+\.\d\d)s", lines[1]).group(1))
    assert took >= 0.01  # the command's time (loading the AssetFile, deciding, writing), not the build phase's


SOURCED = """\
from assetbuild import asset, source

raw = source("raw", "raw.txt")

@asset(io="json")
def total(raw):
    return len(raw.read_text())

@asset(io="json")
def other():
    return 1
"""


def test_no_color_and_a_dumb_terminal_get_no_escape_sequences(tmp_path):
    """NO_COLOR and TERM=dumb turn colours off for every command, status too, on each of its
    paths (the snapshot's all-fresh answer, the slice after a data change, the CLI); TERM=dumb
    also turns the live status line off (its ``\\r\\x1b[K`` shows raw there): a build prints the
    lines a pipe gets."""
    (tmp_path / "AssetFile").write_text(SOURCED)
    (tmp_path / "raw.txt").write_text("abc")
    rc, out = run_in_pty(["build", "total"], tmp_path, TERM="dumb")
    assert rc == 0 and "\x1b" not in out and "built     total" in out, repr(out)
    rc, out = run_in_pty([], tmp_path)  # (on a terminal that draws: colours, as a check of the test)
    assert rc == 0 and "\x1b[32m" in out, repr(out)
    assert cli(cwd=tmp_path).returncode == 0  # (the snapshot now answers a status)
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        for args, snapshot in ((["status"], "1"), (["status", "total"], "1"), (["status", "-v"], "0")):
            rc, out = run_in_pty(args, tmp_path, ASSETBUILD_SNAPSHOT=snapshot, **env)
            assert rc == 0 and "fresh   total" in out and "\x1b" not in out, (env, args, repr(out))
        (tmp_path / "raw.txt").write_text(env.get("TERM", "x"))  # only data changed: the slice's status
        rc, out = run_in_pty(["status"], tmp_path, ASSETBUILD_SNAPSHOT="explain", **env)
        assert rc == 0 and "the build loads" in out and "stale   total" in out and "\x1b" not in out, (env, repr(out))
        assert cli(cwd=tmp_path).returncode == 0 and cli(cwd=tmp_path).returncode == 0
    rc, out = run_in_pty(["status"], tmp_path)
    assert rc == 0 and "\x1b[32mfresh" in out, repr(out)
