"""An AssetFile that cannot be loaded, through the real command: whatever its code raises, or
a file this user may not read, is one ``assetbuild: error:`` line, status 2, and a --json
document; only a real Ctrl-C (or SIGTERM) while it loads is an interrupt (130, 143)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import clean_env, cli, cli_cmd, write

FINE = "from assetbuild import asset\n\n@asset(io='json')\ndef a():\n    return 1\n"


def one_error(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The one error line of a command that ended with status 2 (its --json document checked)."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("assetbuild: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    if r.stdout:
        doc = json.loads(r.stdout)
        assert doc["ok"] is False and doc["error"] == lines[0].removeprefix("assetbuild: error: "), r.stdout
    return lines[0]


COMMANDS = [[], ["--json"], ["status"], ["status", "--json"], ["list", "--json"]]


@pytest.mark.parametrize("snapshot", ["1", "0"])
def test_an_exception_whose_str_fails_while_loading(tmp_path: Path, snapshot: str) -> None:
    """Naming the error called its __str__, which raised: a traceback and status 1."""
    write(tmp_path, {"AssetFile": "class BadError(Exception):\n    def __str__(self):\n"
                                  "        raise RuntimeError('boom')\n\nraise BadError()\n"})
    for args in COMMANDS:
        r = cli(*args, cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT=snapshot))
        one_error(r, "AssetFile:5: error while loading the AssetFile: BadError: <exception str() failed>")
        assert bool(r.stdout) is ("--json" in args), r.stdout


@pytest.mark.parametrize("snapshot", ["1", "0"])
def test_a_keyboardinterrupt_the_assetfile_raises_itself_is_a_load_error(tmp_path: Path, snapshot: str) -> None:
    """No Ctrl-C came: it was "interrupted; finished work was recorded", status 130."""
    write(tmp_path, {"AssetFile": "from assetbuild import asset\nimport lib\n", "lib.py": "raise KeyboardInterrupt\n"})
    for args in COMMANDS:
        r = cli(*args, cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT=snapshot))
        one_error(r, "lib.py:1: error while loading the AssetFile: KeyboardInterrupt (raised without a Ctrl-C)")


# The wait is in short sleeps: a signal that comes as a sleep starts, after Python last looked
# for one and before the system call, does not end that sleep (CPython runs the handler once it
# returns), and the test sends its signal just as the AssetFile starts waiting. One sleep of 30 s
# then held the interrupt until the test's own timeout. The mark is made inside the ``try``: a
# prompt signal lands in the block that converts it, not before it, where nothing is converted.
SLOW_LOAD = """\
import time
from pathlib import Path

try:
    Path("loading").write_text("")
    for _ in range(6000):
        time.sleep(0.1)
except KeyboardInterrupt:
    if CONVERT:
        raise RuntimeError("not an interrupt, says the AssetFile")
    raise
"""


@pytest.mark.parametrize("convert", [False, True], ids=["kept", "converted"])
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_real_interrupt_while_loading_is_still_one(tmp_path: Path, sig: int, status: int, convert: bool) -> None:
    """Also when the AssetFile's code makes the KeyboardInterrupt into another exception."""
    write(tmp_path, {"AssetFile": SLOW_LOAD.replace("CONVERT", str(convert))})
    proc = subprocess.Popen(cli_cmd("--json"), cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "loading").exists():
            assert proc.poll() is None, proc.communicate()  # (it ended: what it said)
            assert time.monotonic() < deadline, "the AssetFile did not start loading"
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)  # (an interrupt the command missed: it fails here)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, (out, err)
    assert "Traceback" not in err and "error while loading" not in err, err
    assert json.loads(out)["error"] == ("interrupted" if sig == signal.SIGINT else "terminated"), out


def _without_read_permission() -> list[str]:
    """A command prefix under which file modes apply (root ignores them): as root, setpriv
    dropping the capabilities that let root read any file; skips the test when that is not
    possible here."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, and setpriv (to drop CAP_DAC_OVERRIDE) is not installed")
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import assetbuild"], capture_output=True, text=True,
                           env=clean_env())
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop the capabilities here: {probe.stderr.strip()[-200:]}")
    return prefix


@pytest.mark.parametrize("built_before", [False, True], ids=["never-built", "built"])
def test_an_assetfile_this_user_may_not_read(tmp_path: Path, built_before: bool) -> None:
    """It was a PermissionError's traceback, status 1, in every command."""
    prefix = _without_read_permission()
    write(tmp_path, {"AssetFile": FINE})
    if built_before:  # (the snapshot then looks first)
        assert cli(cwd=tmp_path).returncode == 0 and cli(cwd=tmp_path).returncode == 0
    (tmp_path / "AssetFile").chmod(0)
    try:
        for args in [*COMMANDS, ["-n"], ["why", "a"]]:
            for snapshot in ("1", "0"):
                r = subprocess.run([*prefix, *cli_cmd(*args)], cwd=tmp_path, capture_output=True, text=True,
                                   timeout=120, env=clean_env(ASSETBUILD_SNAPSHOT=snapshot))
                assert one_error(r) == f"assetbuild: error: cannot read {tmp_path / 'AssetFile'}: Permission denied"
                assert bool(r.stdout) is ("--json" in args), r.stdout
    finally:
        (tmp_path / "AssetFile").chmod(0o644)
