"""Peak memory of a build that produces one large output, serial and with process workers.

The measure is the peak of the *sum* of the resident sets of every process of the build (the
build, the forkserver, the resource tracker, the workers), sampled every few milliseconds from
/proc: ``ru_maxrss`` or ``/usr/bin/time`` report the largest single process only, which hides a
copy that sits in a worker while the parent holds another. Each configuration is run against a
baseline, the same project whose asset returns 1 byte, so the table shows what the output adds.

    python bench/memory.py                       # 500 MB output; about a minute here
    python bench/memory.py --mb 100 --runs 1
    python bench/memory.py --reader              # also a downstream asset that reads it

Linux only (/proc). The figures in bench/RESULTS.md ("Memory of large outputs") come from it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ASSETFILE = """
from assetbuild import asset

@asset(io="bytes")
def big():
    return b"\\x5a" * SIZE
"""

READER = """
@asset(io="json")
def reader(big):
    return len(big)
"""


def _rss_of_session(sid: int) -> int:
    """Sum of VmRSS (bytes) of the live processes of session ``sid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != sid:
                continue
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return total


def peak_tree_rss(cmd: list[str], cwd: Path, env: dict[str, str], interval: float = 0.005) -> tuple[int, float, int]:
    """Run ``cmd`` in a session of its own; (peak summed RSS in bytes, seconds, exit status)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    peak = 0
    try:
        while proc.poll() is None:
            peak = max(peak, _rss_of_session(proc.pid))
            time.sleep(interval)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{err}")
    return peak, time.perf_counter() - t0, proc.returncode


def measure(size: int, jobs_args: list[str], reader: bool, runs: int, python: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env["ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    peaks, bases, times = [], [], []
    for _ in range(runs):
        for n, into in ((size, peaks), (1, bases)):
            root = Path(tempfile.mkdtemp(prefix="ab-mem-"))
            try:
                (root / "AssetFile").write_text(ASSETFILE.replace("SIZE", str(n)) + (READER if reader else ""))
                peak, secs, _ = peak_tree_rss([python, "-m", "assetbuild", "build", "-q", *jobs_args], root, env)
                into.append(peak)
                if n == size:
                    times.append(secs)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    peak, base = min(peaks), min(bases)
    return {"peak": peak, "baseline": base, "added": peak - base, "ratio": (peak - base) / size,
            "seconds": min(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=500, help="output size in MB (10^6 bytes) [500]")
    ap.add_argument("--runs", type=int, default=2, help="runs per configuration; the lowest peak is kept [2]")
    ap.add_argument("--reader", action="store_true", help="add a downstream asset that loads the output")
    ap.add_argument("--python", default=sys.executable, help="the interpreter with assetbuild installed")
    args = ap.parse_args()
    size = args.mb * 1_000_000
    configs = [("-j 1 (serial)", []), ("-j 2 (processes)", ["-j", "2", "--executor", "processes"])]
    print(f"output: {args.mb} MB{' + a reader' if args.reader else ''}; peak of the summed RSS of the "
          f"build's processes, lowest of {args.runs}\n")
    print("| configuration | peak | baseline | added by the output | added / output size | time |")
    print("|---|---|---|---|---|---|")
    for label, jobs_args in configs:
        m = measure(size, jobs_args, args.reader, args.runs, args.python)
        print(f"| `{label}` | {m['peak'] / 1e9:.2f} GB | {m['baseline'] / 1e6:.0f} MB | "
              f"{m['added'] / 1e9:.2f} GB | {m['ratio']:.2f} | {m['seconds']:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
