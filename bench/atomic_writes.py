"""A/B of ``atomicfile.write_atomically`` between source trees: N new files, then N replaced, in one directory.

    python bench/atomic_writes.py OLD_TREE NEW_TREE                # N = 10,000, 5 rounds, under /tmp
    python bench/atomic_writes.py --n 2000 --scratch /dev/shm/aw OLD_TREE NEW_TREE
    python bench/atomic_writes.py --settle 70 --rounds 3 OLD_TREE NEW_TREE

Each round runs, for each tree in turn (the order alternates between rounds; each TREE's
``assetbuild`` on PYTHONPATH), one process that times, in a fresh directory of its own:

- ``new``: ``write_atomically`` of N files of ``--size`` bytes that do not exist yet;
- ``path``: what a cold build does per path output: ``Workspace.in_the_way`` then
  ``Workspace.write_path`` of N new files under ``out/``.

Then as many rounds of processes that write N files (not timed) and time:

- ``replace``: the same N files written again with ``write_atomically``, until
  ``close_replaced`` returns (the replaced files are freed by then, whichever thread frees them).

The directories are removed only at the end, and the rounds that replace files (which frees
them) come after those that create: on an ext4 file system without a journal (this machine's
``/``), creating a file within a minute or so of the removal of many others costs up to ten
times as much (the allocator skips each recently deleted inode, reading it). ``--settle S``
syncs and waits S seconds before each process that replaces (the previous one's frees would
disturb it). Prints per tree and measure the median and the minimum, and the load average.
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
import time
from pathlib import Path

from trees import import_root

WORKER = r"""
import json, os, sys, time
from pathlib import Path
from assetbuild.atomicfile import close_replaced, write_atomically
from assetbuild.workspace import Workspace

phase, n, size, where = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = b"7" * size
pc = time.perf_counter
out = {}
d = os.path.join(where, "aw")
os.mkdir(d)
paths = [os.path.join(d, f"t{i:05d}.txt") for i in range(n)]
if phase == "new":
    t0 = pc()
    for p in paths:
        write_atomically(p, data)
    out["new"] = pc() - t0
    ws = Workspace(Path(where), None)
    rels = [f"out/t{i:05d}.txt" for i in range(n)]
    t0 = pc()
    for rel in rels:
        ws.in_the_way(rel)
        ws.write_path(rel, data)
    out["path"] = pc() - t0
else:
    for p in paths:
        with open(p, "wb") as f:
            f.write(data)
    t0 = pc()
    for p in paths:
        write_atomically(p, data)
    close_replaced()
    out["replace"] = pc() - t0
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="+", help="checkouts of this repository to compare")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=6, help="bytes per file")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()),
                    help="where the directories go (the file system measured)")
    ap.add_argument("--phases", default="new,replace", help="which passes: new (new and path), replace")
    ap.add_argument("--settle", type=float, default=0.0, help="sync and wait this many seconds before each process that replaces")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    trees = [str(Path(t).resolve()) for t in a.trees]
    env = {k: v for k, v in os.environ.items() if k != "ASSETBUILD_CACHE_DIR"}
    times: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    a.scratch.mkdir(parents=True, exist_ok=True)
    top = tempfile.mkdtemp(prefix="atomic-writes-", dir=a.scratch)
    load = os.getloadavg()
    try:
        for phase in a.phases.split(","):
            for r in range(a.rounds):
                for tree in trees if r % 2 == 0 else trees[::-1]:
                    if a.settle and phase == "replace":
                        os.sync()
                        time.sleep(a.settle)
                    where = tempfile.mkdtemp(dir=top)
                    p = subprocess.run([a.python, "-c", WORKER, phase, str(a.n), str(a.size), where], env={
                        **env, "PYTHONPATH": import_root(tree)}, capture_output=True, text=True)
                    if p.returncode != 0:
                        sys.exit(f"{tree}: {p.stderr[-2000:]}")
                    for m, s in json.loads(p.stdout).items():
                        times[tree].setdefault(m, []).append(s)
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
