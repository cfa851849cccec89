"""How the command ends: the CLI skips the interpreter's teardown (``exiting.exit_now``) only when
nothing else would run at exit, and never loses output or the exit status doing so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    return subprocess.run([sys.executable, "-m", "assetbuild", "-C", str(root), *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_an_atexit_callback_of_an_asset_still_runs(tmp_path: Path) -> None:
    (tmp_path / "AssetFile").write_text(
        "import atexit\nfrom pathlib import Path\nfrom assetbuild import asset\n\n"
        "@asset\ndef registers():\n"
        "    atexit.register(lambda: Path('at-exit.txt').write_text('ran'))\n"
        "    return 1\n")
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "at-exit.txt").read_text() == "ran"


def test_output_and_status_survive_the_quick_exit(tmp_path: Path) -> None:
    n = 3000
    (tmp_path / "AssetFile").write_text(
        "from assetbuild import asset\n\n"
        f"for i in range({n}):\n"
        "    asset(name=f'a{i}', code_version='1')(lambda: 1)\n\n"
        "@asset\ndef broken():\n    raise ValueError('no')\n")
    r = _run(tmp_path, "--json", "-k")
    assert r.returncode == 1, r.stderr  # the failure's status, not 0
    doc = json.loads(r.stdout)  # the whole document, flushed before the process ended
    assert len(doc["results"]) == n + 1
    again = _run(tmp_path, "status", "a0", "a2999")
    assert again.returncode == 0 and again.stdout.splitlines() == ["fresh   a0", "fresh   a2999"], again.stdout
