"""Time assetbuild, GNU make and doit side by side on the same synthetic graphs; write RESULTS.md.

Two workloads (``--workload``, see bench/README.md): ``layered`` and ``files``. For each workload
and size N: cold build (no outputs, no build state), null build (nothing to do), and three
incremental builds after editing ONE root input: a typical root ("incr-small"), the root that
reaches most targets ("incr-large"), and an edit of that root's file that leaves its value as it
was ("cutoff": extra trailing newlines). Every timing is the wall time of a whole process, median
of --runs runs after one warm-up; the tools take turns within each round. After every scenario,
each tool's out/ files are checked byte for byte against the expected values (and so against each
other). Also: ``assetbuild --help`` wall time, peak RSS at the largest size, and cProfile profiles
of assetbuild's cold and null builds at the largest size, and watch mode's latency
(bench/watch_latency.py). The report opens with issue 16's targets and a verdict for each.

    python bench/run.py                      # both workloads at 100, 1000, 10000 (10-20 minutes here)
    python bench/run.py --sizes 1000,10000 --runs 3 --scenarios null,incr-small   # 1-2 minutes
    python bench/run.py --sizes 10000 --runs 7 --tools assetbuild,make --workload files
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import io
import json
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402
import report  # noqa: E402
from report import SCENARIOS  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
EXTRAS = ("help", "watch", "rss", "profile")  # measures beside the build scenarios (--scenarios)
QUICK_OUT = BENCH / "work" / "QUICK.md"


# --- processes -------------------------------------------------------------------------------


class Tools:
    def __init__(self, venv: Path) -> None:
        self.venv = venv
        self.env = dict(os.environ)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.pop("ASSETBUILD_CACHE_DIR", None)
        self.env.pop("MAKEFLAGS", None)
        self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env.get('PATH', '')}"
        self.last_cpu = 0.0
        script = venv / "bin" / "assetbuild"
        # The console script as a user runs it; without one (assetbuild on PYTHONPATH), the same script.
        self.ab = [str(script if script.exists() else console_script(venv))]
        self.cmd = {"assetbuild": self.ab + ["--json"],
                    "make": ["make"],
                    "doit": [str(venv / "bin" / "doit")]}

    def run(self, argv: list[str], cwd: Path) -> tuple[float, str]:
        """Run a whole process; return its wall time and stdout (its CPU time goes to self.last_cpu)."""
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.last_cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed in {cwd} (exit {p.returncode}):\n"
                             f"{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
        return elapsed, p.stdout

    def build(self, tool: str, d: Path) -> tuple[float, str]:
        return self.run(self.cmd[tool], d)

    def version(self, tool: str) -> str:
        if tool == "make":
            return subprocess.run(["make", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        if tool == "doit":
            out = subprocess.run(self.cmd["doit"] + ["--version"], capture_output=True, text=True).stdout
            return "doit " + out.split()[0]
        out = subprocess.run(self.ab + ["--version"], capture_output=True, text=True,
                             env=self.env).stdout.strip()
        if not out:  # click's --version reads the installed distribution's metadata
            out = subprocess.run([str(self.venv / "bin" / "python"), "-c",
                                  "import assetbuild; print('assetbuild', assetbuild.__version__, '(not installed)')"],
                                 capture_output=True, text=True, env=self.env).stdout.strip()
        return out


def console_script(venv: Path, name: str = "assetbuild", prelude: str = "") -> Path:
    """bench/work/bin/<name>: what an install writes for the ``assetbuild`` command (the repo's
    ``bin/assetbuild``, pyproject's ``script-files``, its ``#!python`` made this venv's python).

    For a venv that runs assetbuild from PYTHONPATH rather than an install: ``python -m assetbuild``
    would time runpy and ``__main__`` too, and miss a change of the entry point. ``prelude``: lines
    run before the entry point is imported.
    """
    lines = (REPO / "bin" / "assetbuild").read_text().splitlines(keepends=True)
    if not lines or lines[0].strip() != "#!python":
        raise SystemExit("bin/assetbuild does not start with #!python (the line an installer rewrites)")
    at = next((i for i, line in enumerate(lines) if line.startswith(("from assetbuild", "import assetbuild"))), None)
    if at is None:
        raise SystemExit("bin/assetbuild imports no assetbuild entry point")
    path = BENCH / "work" / "bin" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{venv / 'bin' / 'python'}\n" + "".join(lines[1:at]) + prelude + "".join(lines[at:]))
    path.chmod(0o755)
    return path


TRASH = BENCH / "work" / "trash"
_trash_seq = [0]


def discard(path: Path) -> None:
    """Move ``path`` into bench/work/trash/ (deleted at the end of the run) instead of deleting it.

    This machine's root file system is ext4 without a journal, where creating a file scans past every
    inode of its block group freed in the last minute or more (``recently_deleted()`` in the kernel's
    inode allocator; 60 s, up to 360 s while the inode's table block is dirty). Deleting 10,000 outputs
    before each cold build made the next build's file creations 3-8x slower in kernel time, for every
    tool; renaming them aside costs nothing.
    """
    if not os.path.lexists(path):
        return
    TRASH.mkdir(parents=True, exist_ok=True)
    _trash_seq[0] += 1
    os.rename(path, TRASH / f"{os.getpid()}-{_trash_seq[0]}-{path.name}")


def reset(tool: str, d: Path) -> None:
    """No outputs, no build state (python bytecode caches are kept: they are not build state)."""
    discard(d / "out")
    if tool == "assetbuild":
        discard(d / ".assetbuild")
    elif tool == "doit":
        for f in glob.glob(str(d / ".doit.db*")):
            discard(Path(f))


def mtimes(d: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for top, _dirs, files in os.walk(d / "out"):
        for f in files:
            if f.endswith(".txt"):
                p = os.path.join(top, f)
                out[p] = os.stat(p).st_mtime_ns
    return out


def changed(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(1 for k, v in after.items() if before.get(k) != v)


def built_count(stdout: str) -> int:
    doc = json.loads(stdout)
    if not doc.get("ok"):
        raise SystemExit("assetbuild reported a failure:\n" + stdout[:2000])
    return sum(1 for r in doc["results"] if r["status"] == "built")


def check_outputs(g: generate.Graph, inputs: list[int], dirs: dict[str, Path], what: str) -> None:
    """Every tool's out/ holds exactly the expected bytes (so the tools agree byte for byte)."""
    for tool, d in dirs.items():
        bad = generate.output_mismatches(g, d, inputs)
        if bad:
            raise SystemExit(f"{what}: {tool}'s out/ is not what it should be: {bad[:10]}")


# --- scenarios -------------------------------------------------------------------------------


def work_dir(workload: str, n: int) -> Path:
    return BENCH / "work" / workload / str(n)


def bench_size(workload: str, n: int, args: argparse.Namespace, tools: Tools, log) -> dict:
    root = work_dir(workload, n)
    t0 = time.perf_counter()
    g = generate.make_graph(n, args.seed, workload)
    meta = generate.write_project(g, root, tuple(args.tools), remove=discard)
    log(f"{workload} N={n}: generated in {time.perf_counter() - t0:.1f}s: {meta['roots']} roots "
        f"({meta['readers']} reading a file), {meta['edges']} edges, longest chain {meta['depth']}, "
        f"incremental roots {meta['incremental']}")
    dirs = {tool: root / tool for tool in args.tools}
    n = f"{workload} N={n}"  # from here on, only a label in messages
    inputs = list(g.inputs)
    rounds = args.warmup + args.runs
    res: dict = {"graph": {k: v for k, v in meta.items() if k not in ("deps", "inputs", "readers_at")},
                 "scenarios": {}}

    def measure(scen: str, prepare, count: str, extra: dict | None = None) -> None:
        """``rounds`` rounds in which each tool takes its turn: prepare(k, tool, dir), then build."""
        acc = {x: {"wall": [], "cpu": [], "reran": [], "mtime": []} for x in dirs}
        load0 = os.getloadavg()[0]
        for k in range(rounds):
            for tool, d in dirs.items():
                prepare(k, tool, d)
                before = mtimes(d) if count != "files" else {}
                el, out = tools.build(tool, d)
                after = mtimes(d)
                a = acc[tool]
                a["wall"].append(el)
                a["cpu"].append(tools.last_cpu)
                a["mtime"].append(changed(before, after))
                a["reran"].append(built_count(out) if tool == "assetbuild" else a["mtime"][-1])
        load1 = os.getloadavg()[0]
        for tool in dirs:
            a = {key: v[args.warmup:] for key, v in acc[tool].items()}
            entry = {"times": a["wall"], "median": statistics.median(a["wall"]), "min": min(a["wall"]),
                     "max": max(a["wall"]), "warmup": acc[tool]["wall"][:args.warmup],
                     "cpu_median": statistics.median(a["cpu"]), "reran": sorted(set(a["reran"])),
                     "mtime_changed": sorted(set(a["mtime"])), "loadavg": [load0, load1]}
            entry.update(extra or {})
            res["scenarios"].setdefault(scen, {})[tool] = entry
            log(f"  {n} {scen:<10} {tool:<10} median {entry['median']:.3f}s  "
                f"[{entry['min']:.3f}-{entry['max']:.3f}]  cpu {entry['cpu_median']:.3f}s  "
                f"reran {entry['reran']}  (load {load0:.1f}->{load1:.1f})")

    if "cold" in args.scenarios:
        measure("cold", lambda k, tool, d: reset(tool, d), "files")
    else:  # the other scenarios start from a built project
        for tool, d in dirs.items():
            tools.build(tool, d)
    check_outputs(g, inputs, dirs, f"{n} after cold builds")
    if "null" in args.scenarios:
        measure("null", lambda k, tool, d: None, "mtime")
        check_outputs(g, inputs, dirs, f"{n} after null builds")

    # incremental: edit one root's input file the same way in every tool's directory, rebuild
    for scen, which, same_value in (("incr-small", "small", False), ("incr-large", "large", False),
                                    ("cutoff", "large", True)):
        if scen not in args.scenarios:
            continue
        r = meta["incremental"][which]["input"]
        base = inputs[r]
        texts = []
        for k in range(rounds):
            if same_value:
                texts.append(generate.input_text(base, pad=k + 1))
            else:
                texts.append(generate.input_text(base + k + 1))
        if not same_value:
            inputs[r] = base + rounds  # the value after the last round

        def edit(k: int, tool: str, d: Path, r: int = r, texts: list[str] = texts) -> None:
            (d / g.input_path(r)).write_text(texts[k])

        measure(scen, edit, "mtime", {"root": meta["incremental"][which]["root"], "input": r,
                                      "reach": meta["incremental"][which]["reach"]})
        check_outputs(g, inputs, dirs, f"{n} after {scen}")
    res["verified"] = True
    return res


def measure_help(tools: Tools, runs: int) -> dict:
    """``assetbuild --help`` and two bare interpreters for scale, taking turns (after one warm-up each)."""
    py = str(tools.venv / "bin" / "python")
    cmds = {"assetbuild --help": tools.ab + ["--help"], "python -c pass": [py, "-c", "pass"],
            "python -c 'import click'": [py, "-c", "import click"]}
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(runs + 1):
        for label, argv in cmds.items():
            times[label].append(tools.run(argv, REPO)[0])
    return {label: {"median": statistics.median(ts[1:]), "min": min(ts[1:]), "max": max(ts[1:]), "runs": len(ts) - 1}
            for label, ts in times.items()}


def measure_watch(tools: Tools, edits: int, log) -> dict:
    """bench/watch_latency.py's measurement (both modes) in the bench venv, as a subprocess."""
    argv = [str(tools.venv / "bin" / "python"), str(BENCH / "watch_latency.py"), "--json", "--edits", str(edits)]
    p = subprocess.run(argv, cwd=REPO, env=tools.env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        log(f"watch latency failed (exit {p.returncode}): {p.stderr[-1000:]}")
        return {"error": f"bench/watch_latency.py exited {p.returncode}"}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["edits"] = edits
    log("watch latency: " + ", ".join(f"{k} median {v['median'] * 1000:.1f} ms" for k, v in out["modes"].items()))
    return out


def peak_rss(tools: Tools, workload: str, n: int, tool_list: list[str], log) -> dict:
    """Max RSS (MB) of the cold and the null build of each tool, via /usr/bin/time -v if present."""
    root = work_dir(workload, n)
    out: dict = {"workload": workload, "n": n}
    timev = shutil.which("time", path="/usr/bin")
    for tool in tool_list:
        d = root / tool
        for scen in ("cold", "null"):
            if scen == "cold":
                reset(tool, d)
            if timev:
                p = subprocess.run([timev, "-v"] + tools.cmd[tool], cwd=d, env=tools.env,
                                   capture_output=True, text=True)
                m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
                kb = int(m.group(1)) if m else -1
                how = "/usr/bin/time -v"
            else:
                import resource

                before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                tools.build(tool, d)
                kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                how = "getrusage(RUSAGE_CHILDREN) (a high-water mark over all children so far)"
                if kb == before:
                    kb = -1
            out.setdefault(tool, {})[scen] = kb / 1024
            log(f"  {workload} N={n} peak RSS {tool} {scen}: {kb / 1024:.1f} MB")
    out["method"] = how
    return out


def profile(tools: Tools, workload: str, n: int, top: int, log) -> dict:
    """cProfile of assetbuild's cold and null builds at size n; top entries by tottime and cumtime."""
    d = work_dir(workload, n) / "assetbuild"
    pdir = BENCH / "work" / "profiles"
    pdir.mkdir(parents=True, exist_ok=True)
    py = str(tools.venv / "bin" / "python")
    out: dict = {"workload": workload, "n": n}
    # assetbuild ends with os._exit when nothing is registered with atexit, before cProfile could
    # write its file: an atexit callback keeps the normal exit (not profiled either way). The null
    # build answered from the snapshot always ends so: profiled is the full path's
    # (ASSETBUILD_SNAPSHOT=0), what an edit of the AssetFile costs.
    prog = [str(console_script(tools.venv, "assetbuild-profiled",
                               "import atexit\natexit.register(lambda: None)  # the normal exit, for cProfile\n"
                               "import os\nos.environ['ASSETBUILD_SNAPSHOT'] = '0'  # the full path\n"))]
    for scen in ("cold", "null"):
        if scen == "cold":
            reset("assetbuild", d)
        prof = pdir / f"{scen}-{n}.prof"
        el, _ = tools.run([py, "-m", "cProfile", "-o", str(prof)] + prog + ["--json"], d)
        st = pstats.Stats(str(prof), stream=io.StringIO())
        total = st.total_tt
        rows = []
        for func, (_cc, nc, tt, ct, _callers) in st.stats.items():
            rows.append({"func": _fname(func), "ncalls": nc, "tottime": tt, "cumtime": ct})
        by_tt = sorted(rows, key=lambda r: -r["tottime"])[:top]
        by_ct = [r for r in sorted(rows, key=lambda r: -r["cumtime"]) if not _plumbing(r["func"])][:top]
        for sort, f in (("cumulative", "cum"), ("tottime", "tot")):
            buf = io.StringIO()
            pstats.Stats(str(prof), stream=buf).sort_stats(sort).print_stats(40)
            (pdir / f"{scen}-{n}.{f}.txt").write_text(buf.getvalue())
        out[scen] = {"wall_under_profiler": el, "total_tt": total, "by_tottime": by_tt, "by_cumtime": by_ct}
        log(f"  profiled assetbuild {scen} N={n}: {el:.2f}s under cProfile ({prof})")
        spy = tools.venv / "bin" / "py-spy"
        if spy.exists():
            # 250 Hz: py-spy stops the process for each sample (consistent stacks; --nonblocking tears
            # them), which at 1 kHz more than doubled the run time; at 250 Hz it adds about a third.
            # Several runs are pooled for enough samples.
            raw = pdir / f"{scen}-{n}.pyspy.txt"
            pooled, walls = [], []
            for k in range(2 if scen == "cold" else 5):
                if scen == "cold":
                    reset("assetbuild", d)
                part = pdir / f"{scen}-{n}.pyspy.{k}.txt"
                el, _ = tools.run([str(spy), "record", "--function", "-r", "250", "-f", "raw",
                                   "-o", str(part), "--", py] + tools.ab + ["--json"], d)
                pooled.append(part.read_text())
                part.unlink()
                walls.append(el)
            raw.write_text("".join(pooled))
            out[scen]["pyspy"] = pyspy_shares(raw, top)
            out[scen]["pyspy"]["wall"] = statistics.median(walls)
            out[scen]["pyspy"]["runs"] = len(walls)
            log(f"  sampled assetbuild {scen} N={n} with py-spy: {len(walls)} run(s), median {out[scen]['pyspy']['wall']:.2f}s ({raw})")
    return out


def pyspy_shares(path: Path, top: int) -> dict:
    """Inclusive and self shares per function from py-spy's raw (collapsed stack) output."""
    inc: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        total += c
        frames = [_spy_frame(f) for f in stack.split(";")]
        for f in set(frames):
            inc[f] = inc.get(f, 0) + c
        own[frames[-1]] = own.get(frames[-1], 0) + c
    inc_rows = [(f, c) for f, c in sorted(inc.items(), key=lambda x: -x[1]) if not _plumbing(f)]
    return {"samples": total,
            "inclusive": [{"func": f, "share": c / total} for f, c in inc_rows[:top]],
            "self": [{"func": f, "share": c / total} for f, c in sorted(own.items(), key=lambda x: -x[1])[:top]]}


_PLUMBING = ("click/", "(assetbuild:", "bin/assetbuild", "contextlib.py", "assetbuild/cli/", "builtins.exec",
             "_find_and_load_unlocked", "_load_unlocked", "exec_module", "_call_with_frames_removed",
             "_handle_fromlist", "builtins.__import__", "builtins.next")


def _plumbing(func: str) -> bool:
    """Frames every profile shows at ~100% (the CLI, click, the import machinery's inner layers)."""
    return any(p in func for p in _PLUMBING)


def _spy_frame(frame: str) -> str:
    m = re.match(r"(.*) \((.*)\)$", frame)
    if not m:
        return frame or "(native/unknown)"
    name, file = m.groups()
    file = file.split("site-packages/")[-1].replace(str(REPO) + "/", "")
    if "/lib/python3." in file:
        file = "stdlib:" + file.split("/lib/python3.", 1)[1].split("/", 1)[1]
    return f"{name} ({file})"


def _fname(func: tuple[str, int, str]) -> str:
    file, line, name = func
    if file == "~":
        return name
    for marker in ("site-packages/", "/lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            if marker.startswith("/lib"):
                file = "stdlib:" + file.split("/", 1)[1]
            break
    file = file.replace(str(REPO) + "/", "")
    if "/bench/work/bin/" in file or file.startswith("bench/work/bin/"):
        file = "bin/assetbuild"
    elif "/bench/work/" in file and file.endswith("AssetFile"):
        file = "AssetFile"
    return f"{file}:{line}({name})"


# --- machine and report ----------------------------------------------------------------------


def machine(tools: Tools, tool_list: list[str]) -> dict:
    cpu = "unknown"
    mem = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    py = subprocess.run([str(tools.venv / "bin" / "python"), "--version"], capture_output=True, text=True)
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "assetbuild"],
                           capture_output=True, text=True).stdout.strip()
    sh = os.path.realpath("/bin/sh")
    return {"date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "nproc": os.cpu_count(), "cpu": cpu, "memory": mem,
            "kernel": f"{platform.system()} {platform.release()}",
            "python": (py.stdout or py.stderr).strip(),
            "bin_sh": sh,
            "versions": {t: tools.version(t) for t in tool_list},
            "assetbuild_commit": git.stdout.strip() + (" + uncommitted changes in assetbuild/" if dirty else "")}


def wait_idle(limit: float, log, max_wait: float = 600.0) -> None:
    t0 = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - t0 < max_wait:
        time.sleep(5)
    log(f"load average {os.getloadavg()[0]:.2f} after waiting {time.monotonic() - t0:.0f}s for < {limit}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default=",".join(generate.WORKLOADS),
                    help=f"comma-separated workloads [{','.join(generate.WORKLOADS)}]")
    ap.add_argument("--sizes", default="100,1000,10000", help="comma-separated N [100,1000,10000]")
    ap.add_argument("--quick", action="store_true", help="sizes 100 and 1000 only")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS + EXTRAS),
                    help=f"what to measure [{','.join(SCENARIOS + EXTRAS)}]; without cold, an unmeasured "
                         "build first; rss and profile run at the largest size of the first workload")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per timing (median) [5]")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up runs before measuring [1]")
    ap.add_argument("--tools", default="assetbuild,make,doit")
    ap.add_argument("--out", default=None,
                    help="report to write [bench/RESULTS.md for a full run, else bench/work/QUICK.md]")
    ap.add_argument("--venv", default=os.environ.get("BENCH_VENV", "/tmp/venv-bench"),
                    help="venv with assetbuild (editable) and doit [/tmp/venv-bench or $BENCH_VENV]")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--help-runs", type=int, default=15, help="runs of `assetbuild --help` [15]")
    ap.add_argument("--watch-edits", type=int, default=20, help="edits per watch-latency mode [20]")
    ap.add_argument("--wait-idle", type=float, default=None, metavar="LOAD",
                    help="before each size, wait (at most 10 min) until the 1-minute load average is below LOAD")
    ap.add_argument("--no-profile", dest="profile", action="store_false",
                    help="skip the cProfile runs at the largest size (the same as leaving profile out of --scenarios)")
    a = ap.parse_args()
    sizes = [100, 1000] if a.quick else [int(x.replace("_", "")) for x in a.sizes.split(",") if x]
    a.tools = [x for x in a.tools.split(",") if x]
    a.workload = [x for x in a.workload.split(",") if x]
    a.scenarios = [x for x in a.scenarios.split(",") if x]
    for x in a.tools:
        if x not in generate.TOOLS:
            ap.error(f"unknown tool {x!r}")
    for x in a.workload:
        if x not in generate.WORKLOADS:
            ap.error(f"unknown workload {x!r} (known: {', '.join(generate.WORKLOADS)})")
    for x in a.scenarios:
        if x not in SCENARIOS + EXTRAS:
            ap.error(f"unknown scenario {x!r} (known: {', '.join(SCENARIOS + EXTRAS)})")
    if not a.profile and "profile" in a.scenarios:
        a.scenarios.remove("profile")
    full = (not a.quick and sizes == [100, 1000, 10000] and a.runs >= 5 and set(a.scenarios) == set(SCENARIOS + EXTRAS)
            and set(a.workload) == set(generate.WORKLOADS) and set(a.tools) == set(generate.TOOLS))
    if a.runs < 5:
        print("note: the issue asks for at least 5 measured runs", file=sys.stderr)
    out = Path(a.out) if a.out else BENCH / "RESULTS.md" if full else QUICK_OUT
    venv = Path(a.venv)
    tools = Tools(venv)
    missing = [t for t in a.tools if t != "make" and not Path(tools.cmd[t][0]).exists()]
    if missing or ("make" in a.tools and not shutil.which("make")):
        raise SystemExit(f"missing tools in {venv}: {missing or 'make'}; see bench/README.md "
                         "(python -m venv /tmp/venv-bench && /tmp/venv-bench/bin/pip install -e . doit)")

    t_start = time.perf_counter()
    stamp = BENCH / "work" / ".trash-deleted"
    if stamp.exists() and "cold" in a.scenarios:  # inodes freed by the previous run's clean-up slow file creation
        # ext4 skips an inode freed less than 60 s ago, or less than 360 s ago while its inode table
        # block is not yet written back (fs/ext4/ialloc.c, recently_deleted()).
        pause = 360 - (time.time() - float(stamp.read_text() or 0))
        if pause > 0:
            print(f"waiting {pause:.0f}s: the previous run deleted its old outputs less than 6 minutes ago",
                  flush=True)
            time.sleep(pause)

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)

    data: dict = {"argv": " ".join(["python", "bench/run.py"] + sys.argv[1:]), "runs": a.runs,
                  "warmup": a.warmup, "tools": a.tools, "venv": str(venv), "assetbuild_cmd": " ".join(tools.ab),
                  "scenarios": a.scenarios, "machine": machine(tools, a.tools), "workloads": {}}
    log(f"machine: {data['machine']}")
    if "assetbuild" in a.tools and "help" in a.scenarios:
        if a.wait_idle is not None:
            wait_idle(a.wait_idle, log)
        data["help"] = measure_help(tools, a.help_runs)
        log(f"--help: {data['help']}")
    if "assetbuild" in a.tools and "watch" in a.scenarios:
        data["watch"] = measure_watch(tools, a.watch_edits, log)
    builds = any(x in a.scenarios for x in SCENARIOS + ("rss", "profile"))
    for wl in a.workload if builds else []:  # `--scenarios help,watch` builds nothing
        data["workloads"][wl] = {"sizes": {}}
        for n in sizes:
            if a.wait_idle is not None:
                wait_idle(a.wait_idle, log)
            data["workloads"][wl]["sizes"][str(n)] = bench_size(wl, n, a, tools, log)
    big = max(sizes)
    if "rss" in a.scenarios:
        data["rss"] = peak_rss(tools, a.workload[0], big, a.tools, log)
    if "profile" in a.scenarios and "assetbuild" in a.tools and a.workload:
        try:
            data["profile"] = profile(tools, a.workload[0], big, 20, log)
        except (Exception, SystemExit) as e:  # the measurements above are worth keeping
            log(f"profiling failed, the report has no profile: {e!r}"[:2000])
    data["elapsed_s"] = time.perf_counter() - t_start
    if TRASH.exists():
        t_trash = time.perf_counter()
        shutil.rmtree(TRASH, ignore_errors=True)
        log(f"deleted the old outputs in {TRASH} in {time.perf_counter() - t_trash:.1f}s")
        (BENCH / "work" / ".trash-deleted").write_text(str(time.time()))

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.render(data, report.kept_analysis(out)))
    raw = BENCH / "work" / f"{out.stem}.json"  # RESULTS.md -> bench/work/RESULTS.json
    raw.write_text(json.dumps(data, indent=1))
    log(f"wrote {out} and {raw}")


if __name__ == "__main__":
    main()
