"""A/B: null and cold builds of one generated project with two assetbuild trees, interleaved.

    git archive <old commit> assetbuild | tar -x -C /tmp/old
    python bench/generate.py --n 10000 --out /tmp/nb
    cp -r /tmp/nb/assetbuild /tmp/nb-old && cp -r /tmp/nb/assetbuild /tmp/nb-new
    python bench/ab_null_cold.py null 9 --old /tmp/old --new .      # after one build of each
    python bench/ab_null_cold.py cold 3 --old /tmp/old --new .

Each tree runs its own copy of the project (keys may differ between versions), as the console
would (bytecode caches on); the median of the runs is printed per tree.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

from trees import import_root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["null", "cold"])
    ap.add_argument("runs", type=int)
    ap.add_argument("--old", default="/tmp/old", help="a tree holding the old assetbuild package")
    ap.add_argument("--new", default=".", help="a tree holding the new assetbuild package")
    ap.add_argument("--projects", default="/tmp/nb", help="prefix: PREFIX-old and PREFIX-new")
    a = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    trees = {"old": import_root(os.path.abspath(a.old)), "new": import_root(os.path.abspath(a.new))}
    res: dict[str, list[float]] = {"old": [], "new": []}
    for i in range(a.runs):
        for v in ("old", "new") if i % 2 == 0 else ("new", "old"):
            d = f"{a.projects}-{v}"
            if a.kind == "cold":
                for sub in (".assetbuild", "build", "out"):
                    shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "assetbuild", "-C", d], env=dict(env, PYTHONPATH=trees[v]),
                               capture_output=True, text=True)
            dt = time.perf_counter() - t
            if r.returncode != 0:
                sys.exit(r.stderr[-2000:])
            res[v].append(dt)
            print(v, a.kind, f"{dt:.2f}", r.stdout.strip().splitlines()[-1], flush=True)
    for v, times in res.items():
        print(v, a.kind, "median", f"{statistics.median(times):.2f}", "runs", [f"{x:.2f}" for x in times])


if __name__ == "__main__":
    main()
