"""``python -m build`` makes working wheels: the core's, installed (with its dependencies from the
index) in a fresh venv with no source tree on the path, builds the demo project; each plugin's
carries its module and entry point, and the numpy plugin's, installed with the core's, works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_core_wheel_installs_in_a_fresh_venv_and_builds_the_demo(tmp_path):
    env = _env()
    src = _copy(REPO, tmp_path / "src")
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
    # the command is bin/assetbuild, with this venv's interpreter: an installer's generated wrapper
    # would import `re` before assetbuild, in every command
    command = (venv / "bin" / "assetbuild").read_text()
    assert command.splitlines()[1:] == (REPO / "bin" / "assetbuild").read_text().splitlines()[1:]
    assert command.startswith(f"#!{venv}/bin/python"), command.splitlines()[0]
    timed = {**env, "PYTHONPROFILEIMPORTTIME": "1", "ASSETBUILD_SNAPSHOT": "explain", "ASSETBUILD_CHECK_SNAPSHOT": "0"}
    for _ in range(2):  # (an environment the snapshot records: the first of these builds is a full one)
        null = subprocess.run([str(venv / "bin" / "assetbuild")], cwd=demo, capture_output=True, text=True,
                              env=timed, timeout=300)
    lines = null.stderr.splitlines()
    imported = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    said = [line for line in lines if not line.startswith("import time:")]
    assert null.returncode == 0 and null.stdout.startswith("0 built") and "snapshot: answers" in said, said
    assert "assetbuild.snapshot" in imported and not imported & {"re", "click", "typing", "assetbuild.cli"}, said


NPY_ASSETFILE = '''
import numpy as np

from assetbuild import asset


@asset(io="npy", path="out/squares.npy")
def squares():
    return np.arange(4) ** 2
'''


@pytest.mark.slow
@pytest.mark.parametrize("plugin", ["numpy", "dask", "pandas", "duckdb"])
def test_each_plugin_builds_a_wheel_with_its_entry_point(tmp_path, plugin):
    b = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"),
                        str(_copy(REPO / "plugins" / f"assetbuild-{plugin}", tmp_path / "src"))],
                       capture_output=True, text=True, env=_env(), timeout=600)
    assert b.returncode == 0, b.stdout[-2000:] + b.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob(f"assetbuild_{plugin}-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert f"{plugin} = assetbuild_{plugin}" in z.read(entry).decode()
    assert f"assetbuild_{plugin}/__init__.py" in names


@pytest.mark.slow
def test_the_core_and_numpy_wheels_installed_together_build_an_npy_asset(tmp_path):
    dist = tmp_path / "dist"
    for src in (REPO, REPO / "plugins" / "assetbuild-numpy"):
        b = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist),
                            str(_copy(src, tmp_path / "src" / src.name))],
                           capture_output=True, text=True, env=_env(), timeout=600)
        assert b.returncode == 0, b.stdout[-2000:] + b.stderr[-2000:]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    i = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *map(str, dist.glob("*.whl"))],
                       capture_output=True, text=True, env=_env(), timeout=600)
    assert i.returncode == 0, i.stderr[-2000:]
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(NPY_ASSETFILE)
    r = subprocess.run([str(venv / "bin" / "assetbuild")], cwd=proj, capture_output=True, text=True, env=_env(),
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (proj / "out" / "squares.npy").read_bytes().startswith(b"\x93NUMPY")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ASSETBUILD_CACHE_DIR", "VIRTUAL_ENV",
                                                          "ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD")}


def _copy(src: Path, dst: Path) -> Path:
    """A copy of a source tree to build from: building writes build/ and *.egg-info beside it."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".git", ".assetbuild", "build", "*.egg-info",
                                                            "__pycache__", "plugins", "examples", "tests"))
    return dst
