"""bench/run.py's command for a venv that runs assetbuild from PYTHONPATH: what an install makes of
``bin/assetbuild`` (its ``#!python`` this venv's), with the profiler's prelude before the entry
point; it builds a project as the installed command does."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.projects import clean_env, write

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_bench_command_is_bin_assetbuild_with_its_prelude(tmp_path: Path, monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    monkeypatch.setattr(run, "BENCH", tmp_path / "bench")
    venv = Path(sys.executable).parent.parent
    path = run.console_script(venv, "assetbuild-x", "import os\nos.environ['ASSETBUILD_SNAPSHOT'] = 'explain'\n")
    text = path.read_text()
    assert text.startswith(f"#!{venv / 'bin' / 'python'}\n") and "import re" not in text
    assert text.index("ASSETBUILD_SNAPSHOT") < text.index("from assetbuild.entry import main")
    project = write(tmp_path / "p", {"AssetFile": "from assetbuild import asset\n\n\n@asset\ndef one():\n    return 1\n"})
    r = subprocess.run([sys.executable, str(path)], cwd=project, capture_output=True, text=True, env=clean_env(),
                       timeout=120)
    assert r.returncode == 0 and "\n1 built" in r.stdout and "snapshot: not used" in r.stderr, r.stdout + r.stderr
