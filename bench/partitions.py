"""Partitions at scale: a daily asset over 10 years (3,650 partitions) reading an hourly asset
(87,600 partitions), null build and status, against the 10,000-asset project's null build.

    python bench/generate.py --n 10000 --out /tmp/nb          # the peer: 10,000 plain assets
    python bench/partitions.py --runs 5 [--flat /tmp/nb/assetbuild] [--out /tmp/pbench]

Builds the partitioned project once (cold: every partition runs), then times whole processes
(`python -m assetbuild -C DIR -q`, and `status`) interleaved with the flat project's null
build, and prints medians, the per-node cost beyond the interpreter's start and the imports
(`python -c "import assetbuild.cli"`), and the partition counts the builds reported.
ASSETBUILD_NOW is fixed (2024-01-01T00:00:00Z), so the partitions are the same on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

NOW = "2024-01-01T00:00:00Z"
ASSETFILE = '''\
from assetbuild import asset, DailyPartitions, HourlyPartitions

@asset(partitions=HourlyPartitions(start="2014-01-01"))
def hourly(context):
    return context.partition_window[0].hour

@asset(partitions=DailyPartitions(start="2014-01-01"))
def daily(hourly):
    return sum(hourly.values())
'''


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return dt, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="/tmp/pbench", help="where the partitioned project is written")
    ap.add_argument("--flat", default=None, help="a 10,000-asset project (bench/generate.py) to compare with")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "AssetFile").exists() or (out / "AssetFile").read_text() != ASSETFILE:
        (out / "AssetFile").write_text(ASSETFILE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ASSETBUILD_NOW")}
    env["ASSETBUILD_NOW"] = NOW
    py = sys.executable
    cold, doc = run([py, "-m", "assetbuild", "-C", str(out), "--json"], env)
    built = json.loads(doc)["results"]
    print(f"first build: {cold:.2f} s, {sum(r['status'] == 'built' for r in built)} built, "
          f"{len(built)} partitions", flush=True)
    if a.flat:
        run([py, "-m", "assetbuild", "-C", a.flat, "-q"], env)
    times: dict[str, list[float]] = {"start": [], "null": [], "status": [], "flat null": []}
    for _ in range(a.runs):
        times["start"].append(run([py, "-c", "import assetbuild.cli"], env)[0])
        dt, text = run([py, "-m", "assetbuild", "-C", str(out)], env)
        times["null"].append(dt)
        assert text.splitlines()[-1].startswith("0 built,"), text[-300:]
        times["status"].append(run([py, "-m", "assetbuild", "-C", str(out), "status"], env)[0])
        if a.flat:
            times["flat null"].append(run([py, "-m", "assetbuild", "-C", a.flat, "-q"], env)[0])
    med = {k: statistics.median(v) for k, v in times.items() if v}
    for k, v in times.items():
        if v:
            print(f"{k:10} median {med[k]:.3f} s  runs {[round(x, 3) for x in v]}")
    n = len(built)
    print(f"per partition beyond the start: {(med['null'] - med['start']) / n * 1e6:.1f} us ({n} partitions)")
    if a.flat:
        print(f"per asset beyond the start (flat, 10,000): {(med['flat null'] - med['start']) / 10_000 * 1e6:.1f} us")


if __name__ == "__main__":
    main()
