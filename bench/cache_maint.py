"""Time `assetbuild cache stats|verify|gc|export|import` on a cache of N outputs.

The project: N assets, each returning ``--size`` bytes (default 100 KB: files under cas/) plus N
small JSON assets (inline in the index). Steps, each a whole `assetbuild` process:

1. cold build; 2. `cache stats`; 3. `cache verify` (re-hashes every blob);
4. `cache export` to a tar; 5. `cache import` into a fresh checkout at another path, then a build
   there (runs nothing: restores the path outputs); 6. a code change that rebuilds everything,
   then `cache gc --older-than 0` (drops the N older entries and compacts the index).

Prints a Markdown table (wall seconds, throughput) and the load average before and after.
``--ab-import 3`` then imports the archive in-process 3 times each with 1 and with 8 writer
threads, alternating (the A/B behind cache._BlobWriter).

    python bench/cache_maint.py --n 1000 --size 100000 [--ab-import 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def project(root: Path, n: int, size: int, version: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["import hashlib\nfrom assetbuild import asset\n\n", f"V = {version}\n\n",
             "def blob(i, size):\n    out = bytearray()\n    h = hashlib.sha256(f'{i}-{V}'.encode()).digest()\n"
             "    while len(out) < size:\n        h = hashlib.sha256(h).digest()\n        out += h * 32\n"
             "    return bytes(out[:size])\n\n"]
    for i in range(n):
        lines.append(f"@asset(io='bytes', path='out/b{i}.bin')\ndef b{i}():\n    return blob({i}, {size})\n\n"
                     f"@asset(io='json')\ndef s{i}(b{i}):\n    return [len(b{i}), {i}]\n\n")
    (root / "AssetFile").write_text("".join(lines))


def run(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
                                                             "ASSETBUILD_CACHE_DIR")}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "assetbuild", *args], cwd=cwd, capture_output=True, text=True,
                       env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return dt, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--work", default=None, help="work directory [a temporary one]")
    ap.add_argument("--ab-import", type=int, default=0, metavar="RUNS",
                    help="also time in-process imports with 1 and 8 writer threads, RUNS each")
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="ab-cache-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    load0 = os.getloadavg()[0]
    src, dst = work / "job1" / "src", work / "elsewhere" / "job2"
    project(src, a.n, a.size, 1)
    project(dst, a.n, a.size, 1)
    mb = a.n * a.size / 1e6
    rows = []
    t, _ = run(["-q"], src)
    rows.append(("cold build", t, f"{2 * a.n} assets, {mb:.0f} MB of outputs"))
    t, r = run(["cache", "stats", "--json"], src)
    st = json.loads(r.stdout)
    rows.append(("cache stats", t, f"{st['entries']} entries, {st['disk_bytes'] / 1e6:.0f} MB on disk"))
    t, r = run(["cache", "verify", "--json"], src)
    v = json.loads(r.stdout)
    rows.append(("cache verify", t, f"{v['blobs_checked']} blobs, {v['bytes_checked'] / 1e6 / t:.0f} MB/s"))
    archive = work / "cache.tar"
    t, _ = run(["cache", "export", str(archive)], src)
    rows.append(("cache export", t, f"{archive.stat().st_size / 1e6:.0f} MB tar, "
                 f"{archive.stat().st_size / 1e6 / t:.0f} MB/s"))
    t, r = run(["cache", "import", str(archive), "--json"], dst)
    rows.append(("cache import (fresh checkout)", t, f"{json.loads(r.stdout)['entries']} entries, "
                 f"{archive.stat().st_size / 1e6 / t:.0f} MB/s"))
    t, r = run(["--json"], dst)
    res = json.loads(r.stdout)["results"]
    built = sum(1 for x in res if x["status"] == "built")
    restored = sum(1 for x in res if x["status"] == "restored")
    rows.append(("build after import", t, f"{built} built, {restored} restored"))
    project(src, a.n, a.size, 2)
    t, _ = run(["-q"], src)
    rows.append(("rebuild after a change", t, f"{2 * a.n} older entries now"))
    t, r = run(["cache", "gc", "--older-than", "0", "--json"], src)
    g = json.loads(r.stdout)
    rows.append(("cache gc --older-than 0", t, f"dropped {g['entries_dropped']} entries, "
                 f"freed {g['output_bytes_freed'] / 1e6:.0f} MB; index {g['index_bytes_before'] / 1e6:.1f} -> "
                 f"{g['index_bytes_after'] / 1e6:.1f} MB"))
    print(f"N = {a.n} outputs of {a.size} bytes (+ {a.n} inline); load average {load0:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; work dir {work}\n")
    print("| step | wall (s) | what |\n|---|---:|---|")
    for name, t, what in rows:
        print(f"| {name} | {t:.2f} | {what} |")
    if a.ab_import:
        print(f"\nimport of {archive.stat().st_size / 1e6:.0f} MB, writer threads -> seconds: "
              f"{ab_import(archive, work, a.ab_import)}; load average {os.getloadavg()[0]:.2f}")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


def ab_import(archive: Path, work: Path, runs: int) -> dict[int, list[float]]:
    from assetbuild.cache import archive as cache
    from assetbuild.store import LmdbStore

    out: dict[int, list[float]] = {1: [], 8: []}
    for _ in range(runs):
        for threads in (1, 8):
            d = work / f"ab-{threads}"
            shutil.rmtree(d, ignore_errors=True)
            t0 = time.perf_counter()
            with LmdbStore(d) as s:
                s.acquire_lock()
                writer = cache._BlobWriter
                cache._BlobWriter = lambda store, w=writer, n=threads: w(store, threads=n)  # type: ignore[misc]
                try:
                    cache.import_archive(s, archive)
                finally:
                    cache._BlobWriter = writer  # type: ignore[misc]
            out[threads].append(round(time.perf_counter() - t0, 2))
            shutil.rmtree(d, ignore_errors=True)
    return out


if __name__ == "__main__":
    main()
