"""Remote cache: N outputs of SIZE bytes restored from an S3-compatible server on loopback, versus
building them, and the server's raw throughput for the same objects with the same client.

The server is moto in server mode (``python -m moto.server``) in its own process on 127.0.0.1.
The project: N ``bytes`` assets in chains of 10 (each link takes its upstream's value, so keys
downstream depend on upstream data versions), each returning SIZE deterministic bytes. Each step
is a whole ``assetbuild`` process (start-up included), timed by wall clock:

1. ``local build``: cold build, no remote (what building them costs here);
2. ``writer build``: cold build with ``--remote``: builds and uploads (waits for the uploads);
3. ``restore``: a fresh checkout at another path, empty local cache, full remote: nothing runs,
   every output is downloaded, verified and recorded locally (the issue's "null build when the
   local cache is empty but the remote has everything"); repeated ``--runs`` times;
4. ``null build``: the same checkout again (everything local; the remote is configured and
   sends no request);
5. ``one process``: ``--repeat`` fresh checkouts of the first 2 assets, each restored by
   ``assetbuild.build()`` in one process, in a row: what a watch session's or a daemon's later
   builds pay to reach the remote (the first build makes the S3 client, the next ones reuse it);
6. ``raw``: in a separate process, s3fs (the client assetbuild uses) fetches the same N records
   and N blobs: one ``cat`` call over all paths (s3fs's own concurrency), 32 threads of
   ``cat_file`` (what assetbuild does), and one at a time; plus that process's start-up
   (``import s3fs``) so that it compares with an ``assetbuild`` process.

    python bench/remote_cache.py                      # N=1000, 100 KB, 3 restore runs
    python bench/remote_cache.py --n 200 --runs 1     # quick
    python bench/remote_cache.py --file               # also a file:// remote (no server in the way)
    python bench/remote_cache.py --n 100 --runs 1 --repeat 8   # the builds of one process

Prints a Markdown table and the load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = "bench-secret"
RAW = r'''
import concurrent.futures as cf, json, sys, time
t0 = time.perf_counter()
import s3fs
t_import = time.perf_counter() - t0
endpoint, root = sys.argv[1], sys.argv[2]
fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False,
                       max_concurrency=1)
t = time.perf_counter()
records = sorted(fs.find(root + "/records"))
blobs = sorted(fs.find(root + "/blobs"))
t_list = time.perf_counter() - t
paths = records + blobs
out = {"import_s": t_import, "list_s": t_list, "objects": len(paths)}
t = time.perf_counter(); got = fs.cat(paths); out["cat_s"] = time.perf_counter() - t
out["bytes"] = sum(len(v) for v in got.values())
with cf.ThreadPoolExecutor(32) as pool:
    t = time.perf_counter(); list(pool.map(fs.cat_file, paths)); out["threads32_s"] = time.perf_counter() - t
t = time.perf_counter()
for p in paths:
    fs.cat_file(p)
out["sequential_s"] = time.perf_counter() - t
print(json.dumps(out))
'''


def project(root: Path, n: int, size: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["import hashlib\nfrom assetbuild import asset\n\n",
             "def blob(i, size, up=b''):\n    h = hashlib.sha256(f'{i}'.encode() + up[:32]).digest()\n"
             "    out = bytearray()\n    while len(out) < size:\n        h = hashlib.sha256(h).digest()\n"
             "        out += h * 32\n    return bytes(out[:size])\n\n"]
    for i in range(n):
        if i % 10 == 0:
            lines.append(f"@asset(io='bytes')\ndef t{i:05d}():\n    return blob({i}, {size})\n\n")
        else:
            lines.append(f"@asset(io='bytes')\ndef t{i:05d}(t{i - 1:05d}):\n"
                         f"    return blob({i}, {size}, t{i - 1:05d})\n\n")
    (root / "AssetFile").write_text("".join(lines))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("moto server did not start")


REPEAT = """
import io, json, sys, time
import assetbuild
from assetbuild.output import Reporter
url, roots = sys.argv[1], sys.argv[2:]
out = []
for root in roots:
    t0 = time.perf_counter()
    r = assetbuild.build(project_dir=root, remote=url,
                         reporter=Reporter(out=io.StringIO(), err=io.StringIO(), verbosity=-2))
    out.append([time.perf_counter() - t0, sorted(set(r.by_asset().values()))])
print(json.dumps(out))
"""


def env(endpoint: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
                                                         "ASSETBUILD_CACHE_DIR", "ASSETBUILD_REMOTE")}
    e.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
             AWS_DEFAULT_REGION="us-east-1", ASSETBUILD_CACHE_KEY=KEY)
    return e


def run(args: list[str], cwd: Path, e: dict[str, str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "assetbuild", "--json", *args], cwd=cwd, capture_output=True,
                       text=True, env=e)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"assetbuild {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    if "warning" in r.stderr:
        sys.exit(f"assetbuild {' '.join(args)} warned:\n{r.stderr}")
    return dt, json.loads(r.stdout)


def counts(doc: dict) -> str:
    c: dict[str, int] = {}
    for r in doc["results"]:
        c[r["status"]] = c.get(r["status"], 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(c.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3, help="restore runs (each with a fresh local cache)")
    ap.add_argument("--work", default=None, help="work directory [a temporary one]")
    ap.add_argument("--file", action="store_true", help="also a file:// remote (assetbuild's own costs)")
    ap.add_argument("--repeat", type=int, default=6, help="builds of one process, in a row [6]")
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="ab-remote-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    load0 = os.getloadavg()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = start_server(port)
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                     region_name="us-east-1").create_bucket(Bucket="cache")
        e = env(endpoint)
        url = "s3://cache/team"
        mb = a.n * a.size / 1e6
        rows: list[tuple[str, str, str]] = []

        local = work / "local"
        project(local, a.n, a.size)
        t, doc = run([], local, e)
        rows.append(("local build, no remote", f"{t:.2f}", counts(doc)))

        writer = work / "writer"
        project(writer, a.n, a.size)
        t, doc = run(["--remote", url], writer, e)
        rows.append(("writer build: build + upload", f"{t:.2f}", counts(doc)))

        restores = []
        for i in range(a.runs):
            co = work / f"checkout{i}"
            project(co, a.n, a.size)
            t, doc = run(["--remote", url], co, e)
            assert all(r["status"] == "restored" for r in doc["results"]), counts(doc)
            restores.append(t)
        med = sorted(restores)[len(restores) // 2]
        rows.append((f"restore: fresh checkout, empty local cache (median of {a.runs})",
                     f"{med:.2f}", f"{a.n} restored, {mb / med:.0f} MB/s; runs: "
                     + ", ".join(f"{x:.2f}" for x in restores)))
        t, doc = run(["--remote", url], work / "checkout0", e)
        rows.append(("null build of that checkout (remote configured)", f"{t:.2f}", counts(doc)))

        if a.repeat:  # the builds of one process (watch, run): 2 assets each, restored
            roots = []
            for i in range(a.repeat):
                roots.append(work / f"repeat{i}")
                project(roots[-1], min(2, a.n), a.size)
            r = subprocess.run([sys.executable, "-c", REPEAT, url, *map(str, roots)], capture_output=True,
                               text=True, env=e, check=True, cwd=work)  # (not this checkout's assetbuild first)
            runs = json.loads(r.stdout)
            if any(statuses != ["restored"] for _, statuses in runs):
                sys.exit(f"a build of one process did not restore everything: {runs}\n{r.stderr}")
            times = [t for t, _ in runs]
            rest = sorted(times[1:])
            rows.append((f"one process: {a.repeat} fresh checkouts of {min(2, a.n)} assets restored in a row "
                         "(the first, then the median of the others)",
                         f"{times[0]:.3f}, {rest[len(rest) // 2]:.3f}" if rest else f"{times[0]:.3f}",
                         "each: " + ", ".join(f"{t * 1000:.0f} ms" for t in times)))

        if a.file:  # the same with a local folder as the remote: assetbuild's own costs, no slow server
            folder = work / "folder-remote"
            fw = work / "file-writer"
            project(fw, a.n, a.size)
            t, doc = run(["--remote", f"file://{folder}"], fw, e)
            rows.append(("file:// remote: writer build", f"{t:.2f}", counts(doc)))
            fr = work / "file-checkout"
            project(fr, a.n, a.size)
            t, doc = run(["--remote", f"file://{folder}"], fr, e)
            assert all(r["status"] == "restored" for r in doc["results"]), counts(doc)
            rows.append(("file:// remote: restore into a fresh checkout", f"{t:.2f}",
                         f"{a.n} restored, {mb / t:.0f} MB/s"))
            t0 = time.perf_counter()
            total = sum(len(p.read_bytes()) for p in folder.rglob("*") if p.is_file())
            t = time.perf_counter() - t0
            rows.append(("file:// remote: raw read of its files", f"{t:.2f}", f"{total / 1e6:.0f} MB"))
        r = subprocess.run([sys.executable, "-c", RAW, endpoint, "cache/team"], capture_output=True, text=True,
                           env=e, check=True)
        raw = json.loads(r.stdout)
        n_obj, rmb = raw["objects"], raw["bytes"] / 1e6
        for label, k in (("one `cat` over all paths", "cat_s"), ("32 threads of `cat_file`", "threads32_s"),
                         ("one at a time", "sequential_s")):
            rows.append((f"raw s3fs, {n_obj} objects: {label}", f"{raw[k]:.2f}",
                         f"{rmb / raw[k]:.0f} MB/s, {n_obj / raw[k]:.0f} objects/s"))
        rows.append(("raw s3fs: `import s3fs` + listing", f"{raw['import_s'] + raw['list_s']:.2f}",
                     f"import {raw['import_s']:.2f} s, list {raw['list_s']:.2f} s"))
    finally:
        server.terminate()
        server.wait()
    load1 = os.getloadavg()
    print(f"N={a.n} outputs of {a.size} bytes ({mb:.0f} MB); moto server on loopback; "
          f"load average before {load0[0]:.2f} {load0[1]:.2f}, after {load1[0]:.2f} {load1[1]:.2f}\n")
    print("| step | wall (s) | what |\n|---|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
