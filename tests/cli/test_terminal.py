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


def run_in_pty(args, cwd):
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", *args], cwd=cwd, stdin=slave,
                            stdout=slave, stderr=slave, env=clean_env(TERM="xterm", COLUMNS="80"))
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
