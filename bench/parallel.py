"""Parallel builds: assetbuild -j 1/-j 2 (serial, processes, threads, dask) vs make -j and doit -n.

Workload: the layered DAG of ``generate.py`` (same edges, same values) at N = 200, where every
target also burns about ``--ms`` milliseconds of CPU in ``work.burn`` (a fixed number of loop
iterations, calibrated once per run on this machine). The same work, three ways:

- assetbuild: ``@asset(io="text", path="out/tNNNNN.txt")`` calling ``work.burn`` in-process
  (``work.py`` is a project module);
- make: one rule per target whose recipe runs ``python work.py I OUT IN...`` (a Python process
  per target: that is what a Makefile driving Python steps costs);
- doit: one python-action task per target calling ``work.burn`` (``doit -n 2`` forks workers).

Every timing is a cold build (outputs and build state moved aside) of the whole process, the
median of ``--runs`` runs; the tools take turns inside each round. Outputs are checked against
``generate.py``'s values after every build. Scheduling overhead per asset: the same graph with
no work (``--ms 0``) at N = 200 and N = 1000, (T1000 - T200) / 800 per configuration, which
cancels start-up costs (interpreter, worker pools, clusters).

    python bench/parallel.py                       # about 10 minutes here; appends nothing
    python bench/parallel.py --out bench/work/parallel.json

Writes a JSON report (default bench/work/parallel.json) and prints a Markdown table; the figures
in bench/RESULTS.md ("Parallel builds") come from it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import generate  # noqa: E402
from trees import import_root  # noqa: E402

WORK_PY = '''"""CPU work for the parallel benchmark: burn(n) runs n loop iterations and returns 0."""

import sys


def burn(n):
    x = 0
    for k in range(n):
        x = (x * 31 + k) % 1000003
    return x * 0


if __name__ == "__main__":  # make's recipe: python work.py I ITERS OUT IN...
    i, iters, out, ins = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    s = i + burn(iters)
    for p in ins:
        with open(p) as f:
            s += int(f.read())
    with open(out, "w") as f:
        f.write(str(s % 1000003))
'''


def calibrate(ms: float) -> int:
    """Loop iterations of work.burn that take ``ms`` milliseconds of CPU here (median of 5)."""
    if ms <= 0:
        return 0
    ns: dict = {}
    exec(WORK_PY.split('if __name__')[0], ns)
    n = 200_000
    rates = []
    for _ in range(5):
        t = time.process_time()
        ns["burn"](n)
        rates.append(n / (time.process_time() - t))
    return int(statistics.median(rates) * ms / 1000)


def write(g: generate.Graph, root: Path, iters: int) -> None:
    if root.exists():
        shutil.rmtree(root)
    for tool in ("assetbuild", "make", "doit"):
        d = root / tool
        (d / "inputs").mkdir(parents=True)
        (d / "work.py").write_text(WORK_PY)
        for r in range(g.roots):
            (d / "inputs" / f"{generate.inp(r)}.txt").write_text(generate.input_text(g.inputs[r]))
    # assetbuild
    lines = ["from assetbuild import asset, source", "import work", ""]
    for r in range(g.roots):
        lines.append(f'{generate.inp(r)} = source("{generate.inp(r)}", "inputs/{generate.inp(r)}.txt")')
    for i, ds in enumerate(g.deps):
        lines += ["", f'@asset(io="text", path="out/{generate.t(i)}.txt")']
        if i < g.roots:
            lines += [f"def {generate.t(i)}({generate.inp(i)}):",
                      f"    return str((int({generate.inp(i)}.read_text()) + {i} + work.burn({iters})) % {generate.MOD})"]
        else:
            total = " + ".join([f"int({generate.t(d)})" for d in ds] + [str(i), f"work.burn({iters})"])
            lines += [f"def {generate.t(i)}({', '.join(generate.t(d) for d in ds)}):",
                      f"    return str(({total}) % {generate.MOD})"]
    (root / "assetbuild" / "AssetFile").write_text("\n".join(lines) + "\n")
    # make
    py = sys.executable
    mk = ["MAKEFLAGS += --no-builtin-rules", ".SUFFIXES:", ".SILENT:", "",
          "all: " + " ".join(f"out/{generate.t(i)}.txt" for i in range(g.n)), ".PHONY: all", "", "out:",
          "\tmkdir -p out", ""]
    for i, ds in enumerate(g.deps):
        ins = [f"inputs/{generate.inp(i)}.txt"] if i < g.roots else [f"out/{generate.t(d)}.txt" for d in ds]
        mk.append(f"out/{generate.t(i)}.txt: {' '.join(ins)} | out")
        mk.append(f"\t{py} work.py {i} {iters} $@ {' '.join(ins)}")
    (root / "make" / "Makefile").write_text("\n".join(mk) + "\n")
    # doit
    graph = [[f"inputs/{generate.inp(i)}.txt"] if i < g.roots else [f"out/{generate.t(d)}.txt" for d in ds]
             for i, ds in enumerate(g.deps)]
    (root / "doit" / "dodo.py").write_text(f'''import os
import work

DOIT_CONFIG = {{"verbosity": 0}}
GRAPH = {json.dumps(graph)}


def compute(i, deps, target):
    s = i + work.burn({iters})
    for p in deps:
        with open(p) as f:
            s += int(f.read())
    os.makedirs("out", exist_ok=True)
    with open(target, "w") as f:
        f.write(str(s % {generate.MOD}))


def task_t():
    for i, deps in enumerate(GRAPH):
        target = "out/t%05d.txt" % i
        yield {{"name": "t%05d" % i, "actions": [(compute, (i, deps, target))], "file_dep": deps,
               "targets": [target]}}
''')


def reset(d: Path, trash: Path) -> None:
    """Move outputs and build state aside (deleting them slows the next build's file creation)."""
    trash.mkdir(parents=True, exist_ok=True)
    for name in ("out", ".assetbuild", ".doit.db", ".doit.db.dat", ".doit.db.dir", ".doit.db.bak"):
        p = d / name
        if p.exists():
            p.rename(trash / f"{time.monotonic_ns()}-{name}")


def check(g: generate.Graph, d: Path) -> None:
    want = g.values()
    for i in range(g.n):
        got = (d / "out" / f"{generate.t(i)}.txt").read_text()
        if got != str(want[i]):
            raise SystemExit(f"{d}: {generate.t(i)} = {got!r}, expected {want[i]}")


def configs(venv: Path, dask_address: str | None) -> dict[str, tuple[str, list[str]]]:
    ab = str(venv / "bin" / "assetbuild")
    out = {
        "assetbuild -j 1 (serial)": ("assetbuild", [ab, "-q", "-j", "1"]),
        "assetbuild -j 1 --executor processes": ("assetbuild", [ab, "-q", "-j", "1", "--executor", "processes"]),
        "assetbuild -j 2 (processes)": ("assetbuild", [ab, "-q", "-j", "2"]),
        "assetbuild -j 2 --executor threads": ("assetbuild", [ab, "-q", "-j", "2", "--executor", "threads"]),
        "assetbuild -j 2 --executor dask (LocalCluster per build)": (
            "assetbuild", [ab, "-q", "-j", "2", "--executor", "dask"]),
        "make -j1": ("make", ["make", "-j1"]),
        "make -j2": ("make", ["make", "-j2"]),
        "doit -n 1": ("doit", [str(venv / "bin" / "doit"), "-n", "1"]),
        "doit -n 2": ("doit", [str(venv / "bin" / "doit"), "-n", "2"]),
    }
    if dask_address:
        out["assetbuild -j 2 --dask-scheduler (running cluster, 2 workers)"] = (
            "assetbuild", [ab, "-q", "-j", "2", "--dask-scheduler", dask_address])
    return out


def pick(cfgs: dict, only: str | None) -> dict:
    if not only:
        return cfgs
    keys = [x.strip() for x in only.split(",") if x.strip()]
    return {k: v for k, v in cfgs.items() if any(x in k for x in keys)}


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
                                                          "ASSETBUILD_CACHE_DIR")}
    return e


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env())
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} in {cwd} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt


def measure(g: generate.Graph, root: Path, cfgs: dict, runs: int, log) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in cfgs}
    for rnd in range(runs + 1):  # the first round warms caches and is not counted
        for name, (tool, cmd) in cfgs.items():
            d = root / tool
            reset(d, root / "trash")
            dt = timed(cmd, d)
            check(g, d)
            if rnd:
                times[name].append(dt)
        log(f"  round {rnd}{' (warm-up)' if not rnd else ''}: " + ", ".join(
            f"{n.split(' (')[0]} {times[n][-1]:.2f}s" for n in cfgs if rnd and times[n]))
    return times


def load() -> float:
    return os.getloadavg()[0]


def wait_idle(limit: float, log, max_wait: float = 600) -> None:
    t0 = time.monotonic()
    while load() > limit and time.monotonic() - t0 < max_wait:
        log(f"  waiting for load {load():.2f} < {limit}")
        time.sleep(15)


def start_cluster(venv: Path) -> tuple[str, list[subprocess.Popen]]:
    """A running dask cluster on loopback: `dask scheduler` and `dask worker` (2 x 1 thread)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    addr = f"tcp://127.0.0.1:{port}"
    dask = str(venv / "bin" / "dask")
    sched = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--dashboard-address", "127.0.0.1:0"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", addr, "--nworkers", "2", "--nthreads", "1",
                               "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    from distributed import Client

    with Client(addr, timeout="30s") as c:
        c.wait_for_workers(2, timeout=60)
    return addr, [worker, sched]


STARTUP_ASSETFILE = "from assetbuild import asset\n\n" + "".join(
    f"@asset(io='json')\ndef a{i}():\n    return {i}\n\n" for i in range(10))


def startup(runs: int, old: str | None) -> None:
    """Cold builds of 10 trivial assets, whole processes, the trees and -j values interleaved:
    what a parallel build pays to start, and the first asset's recorded duration."""
    root = BENCH / "work" / "startup"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "AssetFile").write_text(STARTUP_ASSETFILE)
    trees = {"new": str(BENCH.parent)} | ({"old": old} if old else {})
    env0 = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ASSETBUILD_CACHE_DIR")}
    times: dict[str, list[float]] = {}
    first: dict[str, list[float]] = {}
    for _ in range(runs):
        for tree, path in trees.items():
            for j in ("1", "2", "auto"):
                shutil.rmtree(root / ".assetbuild", ignore_errors=True)
                t = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "assetbuild", "-j", j, "--json"], cwd=root,
                                   env={**env0, "PYTHONPATH": import_root(path)}, capture_output=True, text=True)
                dt = time.perf_counter() - t
                if r.returncode != 0:
                    sys.exit(r.stderr[-2000:])
                key = f"{tree} -j {j}"
                times.setdefault(key, []).append(dt)
                first.setdefault(key, []).append(max(x["duration_s"] for x in json.loads(r.stdout)["results"]))
    print("| build | cold, median | longest asset duration recorded, median |\n|---|---|---|")
    for key, ts in times.items():
        print(f"| {key} | {statistics.median(ts):.2f} s | {statistics.median(first[key]):.3f} s |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--ms", type=float, default=50.0, help="CPU milliseconds per target [50]")
    ap.add_argument("--runs", type=int, default=3, help="measured runs (median) [3]")
    ap.add_argument("--venv", default=sys.prefix, help="where assetbuild, doit and dask are installed")
    ap.add_argument("--wait-idle", type=float, default=None, metavar="LOAD")
    ap.add_argument("--no-overhead", dest="overhead", action="store_false")
    ap.add_argument("--only", default=None, metavar="A,B", help="only the configurations whose name "
                    "contains one of these substrings (e.g. '-j 2 (processes),doit -n 2')")
    ap.add_argument("--out", default=str(BENCH / "work" / "parallel.json"))
    ap.add_argument("--render", metavar="JSON", help="print the tables of an earlier report and exit")
    ap.add_argument("--startup", action="store_true",
                    help="only the start-up of a parallel build: 10 trivial assets, cold, -j 1, -j 2 and -j auto "
                         "(with --old TREE also an older assetbuild tree, interleaved), then exit")
    ap.add_argument("--old", default=None, metavar="TREE", help="with --startup: a tree holding an older "
                    "assetbuild package (git archive COMMIT assetbuild | tar -x -C TREE)")
    args = ap.parse_args()
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return
    if args.startup:
        startup(args.runs, args.old)
        return
    venv = Path(args.venv)
    work = BENCH / "work" / "parallel"

    def log(msg: str) -> None:
        print(msg, flush=True)

    addr, procs = start_cluster(venv)
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "n": args.n, "ms": args.ms,
                    "runs": args.runs, "cpus": len(os.sched_getaffinity(0)), "python": sys.version.split()[0]}
    try:
        if args.wait_idle is not None:
            wait_idle(args.wait_idle, log)
        iters = calibrate(args.ms)
        report["iters"] = iters
        g = generate.make_graph(args.n)
        write(g, work / "cpu", iters)
        cfgs = pick(configs(venv, addr), args.only)
        log(f"CPU-bound: N={args.n}, {args.ms} ms ({iters} iterations) per target; load {load():.2f}")
        l0 = load()
        times = measure(g, work / "cpu", cfgs, args.runs, log)
        report["cpu"] = {"load": [l0, load()], "times": times}
        if args.overhead:
            ov: dict = {}
            for n in (200, 1000):
                gn = generate.make_graph(n)
                write(gn, work / f"trivial{n}", 0)
                cf = {k: v for k, v in pick(configs(venv, addr), args.only).items() if k.startswith("assetbuild")}
                log(f"overhead: N={n}, no work; load {load():.2f}")
                l0 = load()
                ov[n] = {"load": [l0, load()], "times": measure(gn, work / f"trivial{n}", cf, args.runs, log)}
            report["overhead"] = ov
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(work / "trash", ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    log(render(report))


def render(rep: dict) -> str:
    med = {k: statistics.median(v) for k, v in rep["cpu"]["times"].items()}
    base = med.get("assetbuild -j 1 (serial)") or next(iter(med.values()))
    lines = [f"N = {rep['n']} targets x {rep['ms']:.0f} ms CPU; {rep['cpus']} CPUs; median of {rep['runs']} "
             f"cold builds; load avg {rep['cpu']['load'][0]:.2f} before, {rep['cpu']['load'][1]:.2f} after", "",
             "| configuration | wall time (median) | runs | speed-up vs assetbuild -j 1 |", "|---|---|---|---|"]
    for k, v in rep["cpu"]["times"].items():
        lines.append(f"| `{k}` | {med[k]:.2f} s | {', '.join(f'{x:.2f}' for x in v)} | {base / med[k]:.2f}x |")
    if "overhead" in rep:
        ov = {int(k): v for k, v in rep["overhead"].items()}
        lines += ["", "Scheduling overhead per asset (no work; (T1000 - T200) / 800, medians; load "
                  f"{ov[200]['load'][0]:.2f}-{ov[1000]['load'][1]:.2f}):", "",
                  "| configuration | T(200) | T(1000) | per asset |", "|---|---|---|---|"]
        for k in ov[200]["times"]:
            a, b = statistics.median(ov[200]["times"][k]), statistics.median(ov[1000]["times"][k])
            lines.append(f"| `{k}` | {a:.2f} s | {b:.2f} s | {(b - a) / 800 * 1000:.2f} ms |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
