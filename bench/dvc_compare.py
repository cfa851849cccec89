"""examples/ml side by side with the same pipeline in DVC: null builds and status, interleaved.

    python -m venv /tmp/venv-bench && /tmp/venv-bench/bin/pip install -q -e . dvc \\
        -r examples/ml/requirements.txt
    /tmp/venv-bench/bin/python bench/dvc_compare.py --runs 9

In a temporary directory (``--work``), the script sets the pipeline up twice:

- ``assetbuild/``: a copy of examples/ml as it is;
- ``dvc/``: a git repository with DVC initialised (no remote, analytics and update checks off), the
  same ``src/``, ``params.yaml`` and data, and a ``dvc.yaml`` of four stages (prepare, featurize,
  train, evaluate) as DVC's get-started writes them: deps, per-stage params, outs, metrics and
  plots. Each stage is a small script under ``stages/`` that reads its inputs from files, calls the
  same ``src/`` function and writes its outputs to files.

It builds both (the cold builds are timed once), checks that their second builds run nothing and
that both wrote the same ``eval/metrics.json``, then times, in the same run and interleaved (the
order alternates each round), ``assetbuild`` against ``dvc repro`` on the built projects (null
builds) and ``assetbuild status`` against ``dvc status``. Each command runs as a user would type
it: the console scripts beside this interpreter, bytecode caches on (``PYTHONDONTWRITEBYTECODE``
unset). It prints a Markdown table of the medians and fastest runs (wall time, and CPU time of
the child), and the size of each tool's cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ml"
BIN = Path(sys.executable).parent

# One script per DVC stage: files in, the example's src/ function, files out. DVC runs each
# command from the repository root; `python stages/x.py` puts stages/ on sys.path, not the root.
STAGE_HEAD = """\
import pickle
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
"""

STAGES = {
    "prepare": STAGE_HEAD + '''
from src.prepare import read_posts, split

params = yaml.safe_load(Path("params.yaml").read_text())["prepare"]
posts, skipped = read_posts(Path("data/data.xml"))
for note in skipped:
    sys.stderr.write(f"Skipping the broken {note}\\n")
train, test = split(posts, params["split"], params["seed"])
out = Path("data/prepared")
out.mkdir(parents=True, exist_ok=True)
for name, rows in (("train", train), ("test", test)):
    (out / f"{name}.tsv").write_text("".join(f"{pid}\\t{label}\\t{text}\\n" for pid, label, text in rows))
''',
    "featurize": STAGE_HEAD + '''
from src.featurize import featurize


def read_tsv(path):
    rows = []
    for line in path.read_text().splitlines():
        pid, label, text = line.split("\\t")
        rows.append((pid, int(label), text))
    return rows


params = yaml.safe_load(Path("params.yaml").read_text())["featurize"]
features = featurize(read_tsv(Path("data/prepared/train.tsv")), read_tsv(Path("data/prepared/test.tsv")),
                     params["max_features"], params["ngrams"])
out = Path("data/features")
out.mkdir(parents=True, exist_ok=True)
(out / "features.pkl").write_bytes(pickle.dumps(features))
''',
    "train": STAGE_HEAD + '''
from src.train import train

params = yaml.safe_load(Path("params.yaml").read_text())["train"]
features = pickle.loads(Path("data/features/features.pkl").read_bytes())
model = train(features["x_train"], features["y_train"], params["seed"], params["n_est"], params["min_split"])
Path("model.pkl").write_bytes(pickle.dumps(model))
''',
    "evaluate": STAGE_HEAD + '''
from src.evaluate import evaluate

model = pickle.loads(Path("model.pkl").read_bytes())
features = pickle.loads(Path("data/features/features.pkl").read_bytes())
evaluate(model, features, Path("eval"))
''',
}

DVC_YAML = """\
stages:
  prepare:
    cmd: python stages/prepare.py
    deps:
    - data/data.xml
    - src/prepare.py
    - stages/prepare.py
    params:
    - prepare.seed
    - prepare.split
    outs:
    - data/prepared
  featurize:
    cmd: python stages/featurize.py
    deps:
    - data/prepared
    - src/featurize.py
    - stages/featurize.py
    params:
    - featurize.max_features
    - featurize.ngrams
    outs:
    - data/features
  train:
    cmd: python stages/train.py
    deps:
    - data/features
    - src/train.py
    - stages/train.py
    params:
    - train.seed
    - train.n_est
    - train.min_split
    outs:
    - model.pkl
  evaluate:
    cmd: python stages/evaluate.py
    deps:
    - data/features
    - model.pkl
    - src/evaluate.py
    - stages/evaluate.py
    outs:
    - eval
metrics:
- eval/metrics.json
plots:
- ROC:
    template: simple
    x: fpr
    y:
      eval/plots/roc/train.json: tpr
      eval/plots/roc/test.json: tpr
- Precision-Recall:
    template: simple
    x: recall
    y:
      eval/plots/prc/train.json: precision
      eval/plots/prc/test.json: precision
- eval/plots/confusion_matrix.png
- eval/plots/importance.png
"""


def environment() -> dict[str, str]:
    """A user's shell: bytecode caches on; DVC sends no analytics."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "ASSETBUILD_CACHE_DIR")}
    env.update(DVC_NO_ANALYTICS="1", ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD="1",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")  # `python` in dvc.yaml is this venv's
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, stdout); exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} in {cwd} failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout


def set_up(example: Path, work: Path, env: dict[str, str]) -> tuple[Path, Path]:
    ignore = shutil.ignore_patterns(".assetbuild", "data", "eval", "__pycache__", "*.pyc")
    ab = work / "assetbuild"
    shutil.copytree(example, ab, ignore=ignore)
    dvc = work / "dvc"
    dvc.mkdir()
    shutil.copytree(example / "src", dvc / "src", ignore=ignore)
    for name in ("params.yaml", "generate_data.py"):
        shutil.copy(example / name, dvc / name)
    (dvc / "stages").mkdir()
    for stage, code in STAGES.items():
        (dvc / "stages" / f"{stage}.py").write_text(code)
    (dvc / "dvc.yaml").write_text(DVC_YAML)
    for project in (ab, dvc):
        run([str(BIN / "python"), "generate_data.py"], project, env)
    run(["git", "init", "-q"], dvc, env)
    run([str(BIN / "dvc"), "init", "-q"], dvc, env)
    run([str(BIN / "dvc"), "config", "core.analytics", "false"], dvc, env)
    run([str(BIN / "dvc"), "config", "core.check_update", "false"], dvc, env)
    return ab, dvc


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9, help="timed runs of each command (default 9)")
    ap.add_argument("--work", type=Path, help="work directory (default: a new temporary one, removed)")
    ap.add_argument("--example", type=Path, default=EXAMPLE,
                    help="the assetbuild project to compare (default examples/ml)")
    a = ap.parse_args()
    for tool in ("assetbuild", "dvc"):
        if not (BIN / tool).exists():
            sys.exit(f"{BIN / tool} is missing: pip install -e . dvc -r examples/ml/requirements.txt")

    env = environment()
    work = a.work or Path(tempfile.mkdtemp(prefix="dvc-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        ab, dvc = set_up(a.example.resolve(), work, env)
        commands = {
            "null build": {"assetbuild": ([str(BIN / "assetbuild")], ab),
                           "dvc": ([str(BIN / "dvc"), "repro"], dvc)},
            "status": {"assetbuild": ([str(BIN / "assetbuild"), "status"], ab),
                       "dvc": ([str(BIN / "dvc"), "status"], dvc)},
        }
        cold = {tool: run(cmd, cwd, env)[:2] for tool, (cmd, cwd) in commands["null build"].items()}

        # Both second builds run nothing, and both pipelines computed the same metrics.
        out = json.loads(run([str(BIN / "assetbuild"), "--json"], ab, env)[2])
        assert all(r["status"] == "cached" for r in out["results"]), out
        assert "Data and pipelines are up to date" in run([str(BIN / "dvc"), "repro"], dvc, env)[2]
        assert (ab / "eval" / "metrics.json").read_text() == (dvc / "eval" / "metrics.json").read_text()

        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        load_before = os.getloadavg()[0]
        for i in range(a.runs):
            for what, tools in commands.items():
                order = list(tools) if i % 2 == 0 else list(reversed(tools))
                for tool in order:
                    cmd, cwd = tools[tool]
                    times.setdefault((what, tool), []).append(run(cmd, cwd, env)[:2])
        load_after = os.getloadavg()[0]

        def version(tool: str) -> str:
            cmd = [str(BIN / tool), "--version"] if tool == "dvc" else [
                str(BIN / "python"), "-c", "import importlib.metadata as m; print(m.version('assetbuild'))"]
            return run(cmd, work, env)[2].strip()

        print(f"examples/ml, assetbuild {version('assetbuild')} vs DVC {version('dvc')}, "
              f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
              f"load average {load_before:.1f} before and {load_after:.1f} after the timed runs\n")
        print("| command | assetbuild | dvc | assetbuild / dvc | runs |")
        print("|---|---|---|---|---|")
        for what in commands:
            ab_t, dvc_t = times[(what, "assetbuild")], times[(what, "dvc")]
            for label, pick in (("wall, median", lambda ts: statistics.median(t[0] for t in ts)),
                                ("wall, fastest", lambda ts: min(t[0] for t in ts)),
                                ("CPU, median", lambda ts: statistics.median(t[1] for t in ts))):
                x, y = pick(ab_t), pick(dvc_t)
                print(f"| {what} ({label}) | {x:.2f} s | {y:.2f} s | {x / y:.2f}x | {len(ab_t)} each |")
        print(f"| cold build (wall) | {cold['assetbuild'][0]:.2f} s | {cold['dvc'][0]:.2f} s | "
              f"{cold['assetbuild'][0] / cold['dvc'][0]:.2f}x | 1 each |")
        print(f"\nCache: assetbuild `.assetbuild/` {tree_size(ab / '.assetbuild') / 1e6:.2f} MB, "
              f"DVC `.dvc/cache/` {tree_size(dvc / '.dvc' / 'cache') / 1e6:.2f} MB.")
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
