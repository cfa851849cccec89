"""Files an asset writes itself: one asset writing a directory of N small files (``outputs=``),
and a reader. Times whole ``assetbuild`` processes: the cold build, the null build (no file
is read again: stat signatures), a restore of one deleted file, and a null build with the
processes executor.

    python bench/produced_files.py [--files 1000] [--runs 5] [--assetbuild PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ASSETFILE = '''\
from assetbuild import asset

N = {n}


@asset(outputs=["eval/"])
def plots(context):
    d = context.out("eval/")
    for i in range(N):
        sub = d / f"g{{i % 10}}"
        sub.mkdir(exist_ok=True)
        (sub / f"plot{{i}}.csv").write_text(f"x,y\\n{{i}},{{i * i}}\\n")


@asset(io="json")
def count(plots):
    return sum(1 for _ in plots.rglob("*.csv"))
'''


def _run(cmd: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ASSETBUILD_CACHE_DIR")}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--assetbuild", default=shutil.which("assetbuild") or "assetbuild")
    args = ap.parse_args()
    ab = [args.assetbuild, "-q"]
    cold, null, restore, null_j = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "AssetFile").write_text(ASSETFILE.format(n=args.files))
        _run(ab, root)  # warm the compiled AssetFile and the interpreter's caches
        for _ in range(args.runs):
            shutil.rmtree(root / ".assetbuild")
            shutil.rmtree(root / "eval")
            cold.append(_run(ab, root))
            time.sleep(2.1)  # past the stat cache's racy window, as between real builds
            null.append(_run(ab, root))
            (root / "eval" / "g3" / "plot3.csv").unlink(missing_ok=True)  # (--files 0: a baseline)
            restore.append(_run(ab, root))
            null_j.append(_run([*ab, "-j", "2"], root))
    print(f"{args.files} files, median of {args.runs} runs ({args.assetbuild}):")
    for label, xs in (("cold build", cold), ("null build", null), ("restore of one deleted file", restore),
                      ("null build -j 2 (processes)", null_j)):
        print(f"  {label:30s} {statistics.median(xs):.3f} s   (min {min(xs):.3f})")


if __name__ == "__main__":
    main()
