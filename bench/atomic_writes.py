"""A/B of ``atomicfile.write_atomically`` between source trees: N new files, then N replaced, in one directory.

    python bench/atomic_writes.py OLD_TREE NEW_TREE                # N = 10,000, 5 rounds, under /tmp
    python bench/atomic_writes.py --n 2000 --scratch /dev/shm/aw OLD_TREE NEW_TREE

Each round runs one process per tree (the order alternates between rounds; each TREE's
``assetbuild`` on PYTHONPATH) that times, in fresh directories of its own:

- ``new``: ``write_atomically`` of N files of ``--size`` bytes that do not exist yet;
- ``replace``: the same N files written again (until ``close_replaced`` returns: the replaced
  files are freed by then, whichever thread frees them);
- ``path``: what a cold build does per path output: ``Workspace.in_the_way`` then
  ``Workspace.write_path`` of N new files under ``out/``.

Prints per tree and measure the median and the minimum, and the load average before and after.
The directories are removed only at the end: on this machine's ext4 (mounted with ``discard``),
creating files right after removing 10,000 others took up to ten times as long.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from trees import import_root

WORKER = r"""
import json, os, sys, time
from pathlib import Path
from assetbuild.atomicfile import close_replaced, write_atomically
from assetbuild.workspace import Workspace

n, size, where = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
data = b"7" * size
pc = time.perf_counter
out = {}
d = os.path.join(where, "aw")
os.mkdir(d)
paths = [os.path.join(d, f"t{i:05d}.txt") for i in range(n)]
t0 = pc()
for p in paths:
    write_atomically(p, data)
out["new"] = pc() - t0
t0 = pc()
for p in paths:
    write_atomically(p, data)
close_replaced()
out["replace"] = pc() - t0
ws = Workspace(Path(where), None)
rels = [f"out/t{i:05d}.txt" for i in range(n)]
t0 = pc()
for rel in rels:
    ws.in_the_way(rel)
    ws.write_path(rel, data)
out["path"] = pc() - t0
close_replaced()
print(json.dumps(out))
"""
MEASURES = ("new", "replace", "path")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="+", help="checkouts of this repository to compare")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=6, help="bytes per file")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()),
                    help="where the directories go (the file system measured)")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    trees = [str(Path(t).resolve()) for t in a.trees]
    env = {k: v for k, v in os.environ.items() if k != "ASSETBUILD_CACHE_DIR"}
    times: dict[str, dict[str, list[float]]] = {t: {m: [] for m in MEASURES} for t in trees}
    a.scratch.mkdir(parents=True, exist_ok=True)
    top = tempfile.mkdtemp(prefix="atomic-writes-", dir=a.scratch)
    load = os.getloadavg()
    try:
        for r in range(a.rounds):
            for tree in trees if r % 2 == 0 else trees[::-1]:
                where = tempfile.mkdtemp(dir=top)
                p = subprocess.run([a.python, "-c", WORKER, str(a.n), str(a.size), where], env={
                    **env, "PYTHONPATH": import_root(tree)}, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit(f"{tree}: {p.stderr[-2000:]}")
                for m, s in json.loads(p.stdout).items():
                    times[tree][m].append(s)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(f"N = {a.n} files of {a.size} bytes under {a.scratch}, {a.rounds} rounds; load average "
          f"before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    for tree in trees:
        cells = [f"{m} median {statistics.median(v) * 1000:5.0f} ms (min {min(v) * 1000:5.0f})"
                 for m, v in times[tree].items()]
        print(f"{tree}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
