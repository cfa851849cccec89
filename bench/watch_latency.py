"""Watch-mode latency: from a source file write to the end of the rebuild of a two-asset chain.

A project with ``source -> upper -> final`` (``final`` writes a path output) is watched; each of
``--edits`` edits writes a new value into the source and times until the rebuild has finished,
then waits ``--gap`` seconds. Two ways:

- ``api``: ``assetbuild.watch_project`` in a thread of this process; the end is its ``on_cycle``
  callback (after the build and the reporter's line).
- ``cli``: ``assetbuild watch`` as a subprocess; the end is when its "changed: built" line
  arrives on the pipe (a user's terminal sees it no earlier).

Every rebuild is checked to have run both assets and to have written the expected output.
The figures include the debounce (``--debounce``, default: assetbuild's default).

    python bench/watch_latency.py                      # both modes, 20 edits each, prints a table
    python bench/watch_latency.py --write bench/RESULTS.md
    python bench/watch_latency.py --soak 3000          # memory over a long session
    python bench/watch_latency.py --json --edits 10    # one JSON document (bench/run.py reads it)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BEGIN = "<!-- watch-latency:begin (written by bench/watch_latency.py --write) -->"
END = "<!-- watch-latency:end -->"
ANALYSIS_END = "<!-- analysis:end -->"

ASSETFILE = """\
from assetbuild import asset, source

raw = source("raw", "data/in.txt")

@asset(io="text")
def upper(raw):
    return raw.read_text().upper()

@asset(io="text", path="out/final.txt")
def final(upper):
    return upper + "!"
"""


def make_project(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "data/in.txt").write_text("v0")
    (root / "AssetFile").write_text(ASSETFILE)


def measure_api(root: Path, edits: int, gap: float, debounce: float | None, jobs: str | None,
                executor: str | None) -> list[float]:
    import assetbuild

    done: queue.Queue[tuple[float, object]] = queue.Queue()
    stop = threading.Event()

    def on_cycle(c) -> None:
        done.put((time.perf_counter(), c))

    extra = {"jobs": jobs, "executor": executor} if jobs or executor else {}
    t = threading.Thread(target=assetbuild.watch_project, kwargs=dict(
        project_dir=root, debounce_ms=debounce, stop=stop, on_cycle=on_cycle, **extra), daemon=True)
    t.start()
    done.get(timeout=30)  # the first build
    out = []
    try:
        for i in range(1, edits + 1):
            time.sleep(gap)
            t0 = time.perf_counter()
            (root / "data/in.txt").write_text(f"v{i}")
            t1, c = done.get(timeout=30)
            assert c.result is not None and c.result.names("built") == ["upper", "final"], c
            assert (root / "out/final.txt").read_text() == f"V{i}!"
            out.append(t1 - t0)
    finally:
        stop.set()
        t.join(10)
    return out


def measure_cli(root: Path, edits: int, gap: float, debounce: float | None, jobs: str | None,
                executor: str | None) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    args = [sys.executable, "-m", "assetbuild", "watch"]
    if debounce is not None:
        args += ["--debounce", str(debounce)]
    args += ["-j", jobs] if jobs else []
    args += ["--executor", executor] if executor else []
    proc = subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put((time.perf_counter(), line))

    threading.Thread(target=read, daemon=True).start()
    out = []
    try:
        while "watching" not in lines.get(timeout=30)[1]:
            pass
        for i in range(1, edits + 1):
            time.sleep(gap)
            t0 = time.perf_counter()
            (root / "data/in.txt").write_text(f"v{i}")
            t1, line = lines.get(timeout=30)
            assert "changed: built upper, final" in line, line
            assert (root / "out/final.txt").read_text() == f"V{i}!"
            out.append(t1 - t0)
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def soak(root: Path, cycles: int) -> list[tuple[int, int, int, int]]:
    """``cycles`` saves in turn of a helper module, the AssetFile and the source (atomic saves,
    debounce 5 ms), in-process: (cycle, RSS in KB, len(sys.modules), compiled AssetFiles kept)
    at five points. Flat columns mean a session can run for hours."""
    import gc

    import assetbuild

    (root / "lib").mkdir()
    (root / "lib/__init__.py").write_text("")
    (root / "lib/h.py").write_text("def f(x):\n    return x\n")
    (root / "AssetFile").write_text(ASSETFILE.replace("from assetbuild import asset, source",
                                                      "from assetbuild import asset, source\nfrom lib.h import f")
                                    .replace("raw.read_text().upper()", "f(raw.read_text()).upper()"))
    done = threading.Semaphore(0)
    stop = threading.Event()
    t = threading.Thread(target=assetbuild.watch_project, kwargs=dict(
        project_dir=root, debounce_ms=5, stop=stop, on_cycle=lambda c: done.release()), daemon=True)
    t.start()
    done.acquire(timeout=30)
    base = (root / "AssetFile").read_text()
    out = []
    for i in range(cycles):
        which = ("lib/h.py", "AssetFile", "data/in.txt")[i % 3]
        text = {"lib/h.py": f"def f(x):\n    return x + '{i}'\n", "AssetFile": base + f"\nX = {i}\n",
                "data/in.txt": f"v{i}"}[which]
        tmp = root / f".{Path(which).name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, root / which)
        assert done.acquire(timeout=30), f"no rebuild after save {i}"
        if i % max(1, cycles // 5) == 0 or i == cycles - 1:
            gc.collect()
            rss = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])
            out.append((i + 1, rss, len(sys.modules), len(os.listdir(root / ".assetbuild/code"))))
    stop.set()
    t.join(10)
    return out


def summarize(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {"median": statistics.median(s), "min": s[0], "p90": s[max(0, round(0.9 * len(s)) - 1)], "max": s[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edits", type=int, default=20, help="edits per mode (median over them) [20]")
    ap.add_argument("--gap", type=float, default=0.3, help="seconds between edits [0.3]")
    ap.add_argument("--debounce", type=float, default=None, help="MS [assetbuild's default]")
    ap.add_argument("--modes", default="api,cli", help="api, cli or both [api,cli]")
    ap.add_argument("--jobs", default=None, help="-j for the builds [assetbuild's default]")
    ap.add_argument("--executor", default=None, help="--executor for the builds [assetbuild's default]")
    ap.add_argument("--write", metavar="RESULTS.md", help="replace (or add) the watch section of this file")
    ap.add_argument("--soak", type=int, metavar="N", help="instead: N rebuilds in one session; print memory")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = ap.parse_args()
    if args.soak:
        with tempfile.TemporaryDirectory(prefix="watch-soak-") as d:
            root = Path(d).resolve()
            make_project(root)
            t0 = time.perf_counter()
            rows = soak(root, args.soak)
            print(f"{args.soak} rebuilds in {time.perf_counter() - t0:.1f}s; load {os.getloadavg()[0]:.2f}")
            print("| after rebuild | RSS | sys.modules | compiled AssetFiles kept |\n|---:|---:|---:|---:|")
            for n, rss, mods, code in rows:
                print(f"| {n} | {rss / 1024:.1f} MB | {mods} | {code} |")
        return

    from assetbuild.watch import DEFAULT_DEBOUNCE_MS

    debounce = args.debounce if args.debounce is not None else DEFAULT_DEBOUNCE_MS
    load_before = os.getloadavg()
    rows = []
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix="watch-latency-") as d:
            root = Path(d).resolve()
            make_project(root)
            fn = measure_api if mode == "api" else measure_cli
            xs = fn(root, args.edits, args.gap, args.debounce, args.jobs, args.executor)
            rows.append((mode, summarize(xs), len(xs)))
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps({"modes": {mode: dict(s, edits=n) for mode, s, n in rows}, "debounce_ms": debounce,
                          "gap_s": args.gap, "loadavg": [load_before[0], load_after[0]]}))
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "?"
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    how = "".join(f", `{k} {v}`" for k, v in (("-j", args.jobs), ("--executor", args.executor)) if v)
    L = ["## Watch mode: latency from a source write to the end of the rebuild", "",
         f"`python bench/watch_latency.py --write bench/RESULTS.md` ({when}, commit {commit}, "
         f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; 1-minute load average "
         f"{load_before[0]:.2f} before, {load_after[0]:.2f} after). Two-asset chain (source -> `upper` -> "
         f"`final`, which writes a path output), {args.edits} edits per mode, {args.gap}s apart, debounce "
         f"{debounce:g} ms (included){how}. Target (issue 16): at most 50 ms.", "",
         "| mode | median | min | p90 | max |", "|---|---:|---:|---:|---:|"]
    for mode, s, _n in rows:
        what = ("`watch_project` in-process, until `on_cycle`" if mode == "api"
                else "`assetbuild watch` subprocess, until its line arrives")
        L.append(f"| {what} | {1000 * s['median']:.1f} ms | {1000 * s['min']:.1f} ms | "
                 f"{1000 * s['p90']:.1f} ms | {1000 * s['max']:.1f} ms |")
    text = "\n".join(L)
    print(text)
    if args.write:
        path = Path(args.write)
        doc = path.read_text()
        block = f"{BEGIN}\n{text}\n{END}"
        if BEGIN in doc:
            start, end = doc.index(BEGIN), doc.index(END) + len(END)
            doc = doc[:start] + block + doc[end:]
        elif ANALYSIS_END in doc:  # inside the block bench/run.py keeps when it regenerates the file
            doc = doc.replace(ANALYSIS_END, f"{block}\n{ANALYSIS_END}")
        else:
            doc = doc.rstrip("\n") + "\n\n" + block + "\n"
        path.write_text(doc)


if __name__ == "__main__":
    main()
