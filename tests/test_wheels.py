"""``python -m build`` makes a working wheel: installed (with its dependencies from the index) in
a fresh venv, with no source tree on the path, it builds the demo project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_core_wheel_installs_in_a_fresh_venv_and_builds_the_demo(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ASSETBUILD_CACHE_DIR", "VIRTUAL_ENV")}
    src = tmp_path / "src"  # a copy: building writes build/ and *.egg-info next to pyproject.toml
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".assetbuild", "build", "*.egg-info",
                                                              "__pycache__", "plugins", "examples", "node_modules"))
    dist = tmp_path / "dist"
    b = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert b.returncode == 0, b.stdout[-2000:] + b.stderr[-2000:]
    (wheel,) = dist.glob("assetbuild-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    i = subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert i.returncode == 0, i.stderr[-2000:]
    demo = tmp_path / "demo"
    demo.mkdir()
    shutil.copy(REPO / "AssetFile", demo / "AssetFile")
    shutil.copytree(REPO / "data", demo / "data")
    shutil.copytree(REPO / "lib", demo / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([str(venv / "bin" / "assetbuild")], cwd=demo, capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout and (demo / "build").is_dir()
    where = subprocess.run([str(py), "-c", "import assetbuild; print(assetbuild.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env=env, timeout=60)
    assert where.stdout.startswith(str(venv)), where.stdout  # the wheel's copy, not the source tree
    again = subprocess.run([str(venv / "bin" / "assetbuild")], cwd=demo, capture_output=True, text=True, env=env,
                           timeout=300)
    assert again.returncode == 0 and again.stdout.startswith("0 built"), again.stdout
