"""bench/generate.py: the projects it writes for assetbuild, GNU make and doit build the same bytes.

bench/run.py compares the three tools on these projects, so a project that builds something else
in one tool would make its figures meaningless. Each workload is built by the real tools (make,
``python -m doit``, the ``assetbuild`` command), checked against the generator's expected values,
then an input is edited (a new value; then the same value with other bytes) and everything is
rebuilt and checked again.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.projects import clean_env, cli

BENCH = Path(__file__).resolve().parent.parent / "bench"
spec = importlib.util.spec_from_file_location("bench_generate", BENCH / "generate.py")
generate = importlib.util.module_from_spec(spec)
sys.modules["bench_generate"] = generate  # dataclasses look their module up
spec.loader.exec_module(generate)

N = 120


def build(tool: str, d: Path) -> None:
    if tool == "assetbuild":
        p = cli(cwd=d)
    else:
        argv = ["make"] if tool == "make" else [sys.executable, "-m", "doit"]
        env = {k: v for k, v in clean_env().items() if k != "MAKEFLAGS"}
        p = subprocess.run(argv, cwd=d, capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, (tool, p.stdout[-2000:], p.stderr[-2000:])


def mtimes(d: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in (d / "out").rglob("*.txt")}


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
@pytest.mark.skipif(importlib.util.find_spec("doit") is None, reason="doit is not installed (pip install doit)")
@pytest.mark.parametrize("workload", ["layered", "files"])
def test_three_tools_build_identical_outputs(tmp_path, workload):
    g = generate.make_graph(N, 3, workload)
    meta = generate.write_project(g, tmp_path)
    dirs = {tool: tmp_path / tool for tool in generate.TOOLS}
    for tool, d in dirs.items():
        build(tool, d)
        assert generate.output_mismatches(g, d) == [], tool
    before = {tool: mtimes(d) for tool, d in dirs.items()}
    for tool, d in dirs.items():  # the null build writes nothing
        build(tool, d)
        assert mtimes(d) == before[tool], tool

    r = meta["incremental"]["large"]["input"]
    inputs = list(g.inputs)
    for text, value in ((generate.input_text(g.inputs[r] + 7), g.inputs[r] + 7),
                        (generate.input_text(g.inputs[r] + 7, pad=2), g.inputs[r] + 7)):
        inputs[r] = value
        for tool, d in dirs.items():
            (d / g.input_path(r)).write_text(text)
            build(tool, d)
            assert generate.output_mismatches(g, d, inputs) == [], (tool, text)
    assert inputs != g.inputs and generate.output_mismatches(g, dirs["make"]) != []  # the check can fail


def test_generator_is_deterministic_and_as_documented():
    a, b = generate.make_graph(2000, 1, "files"), generate.make_graph(2000, 1, "files")
    assert (a.deps, a.readers, a.parts) == (b.deps, b.readers, b.parts)
    assert generate.make_graph(2000, 2, "files").deps != a.deps
    roots = [i for i, ds in enumerate(a.deps) if not ds]
    assert a.roots == len(roots) and set(a.readers) <= set(roots)
    assert len(a.readers) == round(len(roots) / 20)
    assert all(len(ds) <= 2 and all(d < i for d in ds) for i, ds in enumerate(a.deps))
    assert len({a.output_path(i) for i in range(a.n)}) == a.n
    assert {os.path.dirname(a.output_path(i)) for i in range(a.n)} == {"out/g00", "out/g01"}
