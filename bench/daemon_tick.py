"""A tick of ``assetbuild run`` with nothing to do, against a null build, on the 10,000-asset project.

    python bench/generate.py --n 10000 --out /tmp/nb
    python bench/daemon_tick.py --project /tmp/nb/assetbuild --runs 7 [--out /tmp/tickbench]

Copies the project twice: ``plain`` as generated (no policies) and ``policies``, where every
asset declares ``auto="eager"`` and every tenth also ``freshness="1h"`` (each tick then evaluates
all 10,000 assets: their heads, their inputs' versions, the sources' stat signatures). Both
are built once; then whole processes are timed, interleaved:

- ``null``: ``python -m assetbuild -C plain -q`` (the peer);
- ``tick, no policies``: ``python -m assetbuild -C plain run --once -q``;
- ``tick, all eager``: ``python -m assetbuild -C policies run --once -q``.

ASSETBUILD_NOW is fixed so that every tick sees the same moment; medians are printed.
The issue's target: a tick with nothing to do costs at most a null build.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

NOW = "2030-01-01T00:00:00Z"  # after every file's mtime: no change is in the future


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return dt


def with_policies(text: str) -> str:
    """Every @asset(...) gains auto="eager"; every tenth also freshness="1h"."""
    count = 0

    def add(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        extra = ', auto="eager"' + (', freshness="1h"' if count % 10 == 0 else "")
        return f"@asset({m.group(1)}{extra})"

    return re.sub(r"@asset\((.*)\)", add, text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, required=True, help="the generated assetbuild project")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("/tmp/tickbench"))
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ASSETBUILD_CACHE_DIR")}
    env["ASSETBUILD_NOW"] = NOW
    plain, policies = args.out / "plain", args.out / "policies"
    if not (policies / ".assetbuild").is_dir():
        shutil.rmtree(args.out, ignore_errors=True)
        for d in (plain, policies):
            shutil.copytree(args.project, d, ignore=shutil.ignore_patterns(".assetbuild", "out"))
        (policies / "AssetFile").write_text(with_policies((policies / "AssetFile").read_text()))
        py = [sys.executable, "-m", "assetbuild"]
        print("building both once (cold)...", flush=True)
        timed([*py, "-C", str(plain), "-q"], env)
        timed([*py, "-C", str(policies), "-q"], env)
        timed([*py, "-C", str(policies), "run", "--once", "-q"], env)  # first sightings recorded
    cmds = {
        "null build (peer)": [sys.executable, "-m", "assetbuild", "-C", str(plain), "-q"],
        "tick, no policies": [sys.executable, "-m", "assetbuild", "-C", str(plain), "run", "--once", "-q"],
        "tick, all eager": [sys.executable, "-m", "assetbuild", "-C", str(policies), "run", "--once", "-q"],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):
        for k, cmd in cmds.items():
            times[k].append(timed(cmd, env))
    for k, ts in times.items():
        print(f"{k:<20} median {statistics.median(ts):.3f} s  (min {min(ts):.3f}, max {max(ts):.3f}, {len(ts)} runs)")


if __name__ == "__main__":
    main()
