"""Time assetbuild, GNU make and doit side by side on the same synthetic graphs; write RESULTS.md.

For each size N: cold build (no outputs, no build state), null build (nothing to do), and three
incremental builds after editing ONE root input: a typical root ("incr-small"), the root that
reaches most targets ("incr-large"), and an edit of that root's file that leaves its value as it
was ("cutoff": extra trailing newlines). Every timing is the wall time of a whole process, median
of --runs runs after one warm-up; the tools take turns within each round. After every scenario,
each tool's out/ files are checked byte for byte against the expected values (and so against each
other). Also: ``assetbuild --help`` wall time, peak RSS at the largest size, and cProfile profiles
of assetbuild's cold and null builds at the largest size.

    python bench/run.py                      # 100, 1000, 10000 (5-10 minutes here)
    python bench/run.py --quick              # 100 and 1000 only
    python bench/run.py --sizes 10000 --runs 7 --tools assetbuild,make
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

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCENARIOS = ("cold", "null", "incr-small", "incr-large", "cutoff")
SCENARIO_TEXT = {
    "cold": "cold build: no out/, no build state",
    "null": "null build: everything up to date",
    "incr-small": "one root input's value changed (typical root)",
    "incr-large": "one root input's value changed (root reaching most targets)",
    "cutoff": "one root input's bytes changed, value unchanged (trailing newline)",
}
# The issue's targets (assetbuild at N=10,000) and the peers as measured earlier on this machine.
TARGETS = {"null": 0.15, "cold": 1.5, "incr-small": 0.2, "incr-large": 0.2, "help": 0.100, "rss_mb": 100}
EARLIER_PEERS = {"null": "make 0.07 s, doit 0.66 s", "cold": "make 3.6 s, doit 2.2 s",
                 "incr-small": "make 0.13 s, doit 0.77 s (44 targets)",
                 "incr-large": "make 0.13 s, doit 0.77 s (44 targets)"}
ANALYSIS_BEGIN = "<!-- analysis:begin (kept by bench/run.py when it rewrites this file) -->"
ANALYSIS_END = "<!-- analysis:end -->"


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
        self.cmd = {"assetbuild": [str(venv / "bin" / "assetbuild"), "--json"],
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
        out = subprocess.run([self.cmd["assetbuild"][0], "--version"], capture_output=True, text=True,
                             env=self.env).stdout.strip()
        return out


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
    try:
        return {e.name: e.stat().st_mtime_ns for e in os.scandir(d / "out") if e.name.endswith(".txt")}
    except FileNotFoundError:
        return {}


def changed(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(1 for k, v in after.items() if before.get(k) != v)


def built_count(stdout: str) -> int:
    doc = json.loads(stdout)
    if not doc.get("ok"):
        raise SystemExit("assetbuild reported a failure:\n" + stdout[:2000])
    return sum(1 for r in doc["results"] if r["status"] == "built")


def check_outputs(g: generate.Graph, inputs: list[int], dirs: dict[str, Path], what: str) -> None:
    """Every tool's out/ holds exactly the expected bytes (so the tools agree byte for byte)."""
    expected = {f"{generate.t(i)}.txt": str(v).encode() for i, v in enumerate(g.values(inputs))}
    for tool, d in dirs.items():
        names = {e.name for e in os.scandir(d / "out") if not e.name.startswith(".")}
        if names != set(expected):
            raise SystemExit(f"{what}: {tool} out/ has {len(names)} files, expected {len(expected)} "
                             f"(extra {sorted(names - set(expected))[:5]}, missing {sorted(set(expected) - names)[:5]})")
        bad = [n for n, b in expected.items() if (d / "out" / n).read_bytes() != b]
        if bad:
            raise SystemExit(f"{what}: {tool} wrote wrong values for {len(bad)} targets, e.g. {bad[:5]}")


# --- scenarios -------------------------------------------------------------------------------


def bench_size(n: int, args: argparse.Namespace, tools: Tools, log) -> dict:
    root = BENCH / "work" / str(n)
    t0 = time.perf_counter()
    g = generate.make_graph(n, args.seed)
    meta = generate.write_project(g, root, tuple(args.tools), remove=discard)
    log(f"N={n}: generated in {time.perf_counter() - t0:.1f}s: width {meta['width']}, {meta['roots']} roots, "
        f"{meta['edges']} edges, {meta['layers']} layers, incremental roots {meta['incremental']}")
    dirs = {tool: root / tool for tool in args.tools}
    inputs = list(g.inputs)
    rounds = args.warmup + args.runs
    res: dict = {"graph": {k: v for k, v in meta.items() if k not in ("deps", "inputs")}, "scenarios": {}}

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
            log(f"  N={n} {scen:<10} {tool:<10} median {entry['median']:.3f}s  "
                f"[{entry['min']:.3f}-{entry['max']:.3f}]  cpu {entry['cpu_median']:.3f}s  "
                f"reran {entry['reran']}  (load {load0:.1f}->{load1:.1f})")

    measure("cold", lambda k, tool, d: reset(tool, d), "files")
    check_outputs(g, inputs, dirs, f"N={n} after cold builds")
    measure("null", lambda k, tool, d: None, "mtime")
    check_outputs(g, inputs, dirs, f"N={n} after null builds")

    # incremental: edit one root's input file the same way in every tool's directory, rebuild
    for scen, which, same_value in (("incr-small", "small", False), ("incr-large", "large", False),
                                    ("cutoff", "large", True)):
        r = meta["incremental"][which]["root"]
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
            (d / "inputs" / f"{generate.inp(r)}.txt").write_text(texts[k])

        measure(scen, edit, "mtime", {"root": r, "reach": meta["incremental"][which]["reach"]})
        check_outputs(g, inputs, dirs, f"N={n} after {scen}")
    res["verified"] = True
    return res


def measure_help(tools: Tools, runs: int) -> dict:
    py = str(tools.venv / "bin" / "python")
    out = {}
    for label, argv in (("assetbuild --help", [tools.cmd["assetbuild"][0], "--help"]),
                        ("python -c pass", [py, "-c", "pass"]),
                        ("python -c 'import click'", [py, "-c", "import click"])):
        times = [tools.run(argv, REPO)[0] for _ in range(runs + 1)][1:]
        out[label] = {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": len(times)}
    return out


def peak_rss(tools: Tools, n: int, tool_list: list[str], log) -> dict:
    """Max RSS (MB) of the cold and the null build of each tool, via /usr/bin/time -v if present."""
    root = BENCH / "work" / str(n)
    out: dict = {}
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
            log(f"  N={n} peak RSS {tool} {scen}: {kb / 1024:.1f} MB")
    out["method"] = how
    return out


def profile(tools: Tools, n: int, top: int, log) -> dict:
    """cProfile of assetbuild's cold and null builds at size n; top entries by tottime and cumtime."""
    d = BENCH / "work" / str(n) / "assetbuild"
    pdir = BENCH / "work" / "profiles"
    pdir.mkdir(parents=True, exist_ok=True)
    py = str(tools.venv / "bin" / "python")
    out = {}
    for scen in ("cold", "null"):
        if scen == "cold":
            reset("assetbuild", d)
        prof = pdir / f"{scen}-{n}.prof"
        el, _ = tools.run([py, "-m", "cProfile", "-o", str(prof), tools.cmd["assetbuild"][0], "--json"], d)
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
                                   "-o", str(part), "--", py, tools.cmd["assetbuild"][0], "--json"], d)
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


_PLUMBING = ("click/", "(assetbuild:", "bin/assetbuild", "contextlib.py", "assetbuild/cli.py", "builtins.exec",
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
    if "/bench/work/" in file or file.endswith("AssetFile"):
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


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def verdict(measured: float, target: float) -> str:
    if measured <= target:
        return "met"
    return f"**missed** ({measured / target:.1f}x the target)"


def render(data: dict, old_analysis: str | None) -> str:
    m = data["machine"]
    tl = data["tools"]
    L: list[str] = []
    L.append("# Benchmark results: assetbuild vs GNU make vs doit\n")
    L.append("Generated by `bench/run.py` (see bench/README.md for the workload and how to reproduce); "
             "the analysis section below is written by hand and kept when the file is regenerated.\n")
    L.append(f"- Date: {m['date']}")
    L.append(f"- Machine: {m['nproc']} CPUs (`nproc`), {m['cpu']}, {m['memory']} RAM, {m['kernel']}")
    L.append(f"- {m['python']} (bench venv {data['venv']}); /bin/sh is {m['bin_sh']}")
    L.append("- Tools: " + "; ".join(m["versions"][t] for t in tl))
    L.append(f"- assetbuild commit: {m['assetbuild_commit']}")
    L.append(f"- Command: `{data['argv']}` ({data['runs']} measured runs after {data['warmup']} warm-up; "
             f"medians; total bench time {data['elapsed_s'] / 60:.1f} min)")
    L.append("- All tools run serially (make without -j, doit without -n, assetbuild builds one asset at a time). "
             "Every scenario ended with each tool's out/ files checked byte for byte against the expected "
             "values: " + ("**all identical**." if all(s.get("verified") for s in data["sizes"].values()) else "FAILED."))
    L.append("")

    L.append("## Headline: median wall time of the whole process\n")
    head = "| N | scenario | " + " | ".join(tl) + " | targets rerun (" + " / ".join(tl) + ") |"
    L.append(head)
    L.append("|" + "---|" * (3 + len(tl)))
    for n, s in data["sizes"].items():
        for scen in SCENARIOS:
            row = s["scenarios"].get(scen, {})
            cells = []
            for t in tl:
                e = row.get(t)
                cells.append(f"{fmt_s(e['median'])}" if e else "-")
            reran = " / ".join(",".join(map(str, row[t]["reran"])) if t in row else "-" for t in tl)
            L.append(f"| {int(n):,} | {scen} | " + " | ".join(cells) + f" | {reran} |")
    L.append("")
    L.append("Scenarios: " + "; ".join(f"**{k}** = {v}" for k, v in SCENARIO_TEXT.items()) + ". "
             "\"targets rerun\": assetbuild counts `built` in its `--json` result; make and doit count out/ "
             "files whose mtime changed (cold: files written).")
    L.append("")
    L.append("Spread: min-max wall time of the measured runs, and in parentheses the median CPU time "
             "(user+sys of the process and its children), which other load on the machine disturbs less. "
             "Last column: the 1-minute load average before/after the scenario (the larger).\n")
    L.append("| N | scenario | " + " | ".join(tl) + " | load avg |")
    L.append("|" + "---|" * (3 + len(tl)))
    for n, s in data["sizes"].items():
        for scen in SCENARIOS:
            row = s["scenarios"].get(scen, {})
            cells = [f"{row[t]['min']:.3f}-{row[t]['max']:.3f} ({row[t]['cpu_median']:.3f})" if t in row else "-"
                     for t in tl]
            load = max(max(row[t]["loadavg"]) for t in row) if row else 0
            L.append(f"| {int(n):,} | {scen} | " + " | ".join(cells) + f" | {load:.1f} |")
    L.append("")
    L.append("Graphs:\n")
    L.append("| N | width | roots | edges | layers | targets with no input | incr-small root (reach) | incr-large root (reach) |")
    L.append("|---|---|---|---|---|---|---|---|")
    for n, s in data["sizes"].items():
        gr = s["graph"]
        inc = gr["incremental"]
        L.append(f"| {int(n):,} | {gr['width']} | {gr['roots']} | {gr['edges']} | {gr['layers']} | "
                 f"{gr['no_input_targets']} | t{inc['small']['root']:05d} ({inc['small']['reach']}) | "
                 f"t{inc['large']['root']:05d} ({inc['large']['reach']}) |")
    L.append("")

    big = str(max(int(k) for k in data["sizes"])) if data["sizes"] else None
    L.append(f"## The issue's targets (assetbuild at N={int(big):,})\n" if big else "## Targets\n")
    L.append("| what | target | assetbuild | verdict | peers now | peers measured earlier |")
    L.append("|---|---|---|---|---|---|")
    if big and "assetbuild" in tl:
        sc = data["sizes"][big]["scenarios"]
        for scen, label in (("null", "null build"), ("cold", "cold build"),
                            ("incr-small", "incremental, typical root"),
                            ("incr-large", "incremental, largest root")):
            a = sc[scen]["assetbuild"]
            peers = ", ".join(f"{t} {fmt_s(sc[scen][t]['median'])}" for t in tl if t != "assetbuild")
            extra = f" ({a['reran'][0]} built)" if scen.startswith("incr") and a["reran"] else ""
            L.append(f"| {label} | <= {TARGETS[scen]} s | {fmt_s(a['median'])}{extra} | "
                     f"{verdict(a['median'], TARGETS[scen])} | {peers} | {EARLIER_PEERS[scen]} |")
    h = data.get("help", {}).get("assetbuild --help")
    if h:
        L.append(f"| `assetbuild --help` | <= 100 ms | {h['median'] * 1000:.0f} ms | "
                 f"{verdict(h['median'], TARGETS['help'])} | | |")
    rss = data.get("rss", {})
    if "assetbuild" in rss:
        for scen in ("null", "cold"):
            v = rss["assetbuild"][scen]
            peers = ", ".join(f"{t} {rss[t][scen]:.0f} MB" for t in tl if t != "assetbuild" and t in rss)
            L.append(f"| peak RSS, {scen} build | <= 100 MB | {v:.0f} MB | {verdict(v, TARGETS['rss_mb'])} | {peers} | |")
    L.append("")
    if data.get("help"):
        L.append("Start-up (median of "
                 f"{data['help']['assetbuild --help']['runs']} runs after a warm-up): " +
                 "; ".join(f"`{k}` {v['median'] * 1000:.0f} ms" for k, v in data["help"].items()) + ".")
        L.append("")
    if rss:
        L.append(f"Peak RSS measured with {rss.get('method')} at N={int(big):,} (one run each).")
        L.append("")

    if data.get("profile"):
        L.append(f"## Where assetbuild's time goes (profiles at N={int(big):,})\n")
        L.append("Two profiles per build: cProfile (deterministic; it roughly doubles the run time of "
                 "call-heavy Python, so read shares, not seconds) and, when py-spy is installed in the bench "
                 "venv, a py-spy sampling profile (250 Hz, which adds about a third to the run time; shares of samples). ")
        L.append("cProfile shares are of the profiler's total. Full listings: `bench/work/profiles/*.txt`.\n")
        for scen in ("null", "cold"):
            p = data["profile"][scen]
            tot = p["total_tt"]
            L.append(f"### {scen} build: {p['wall_under_profiler']:.2f} s under the profiler, "
                     f"{tot:.2f} s profiled\n")
            L.append("By cumulative time (CLI/click plumbing and the import machinery's inner frames left out; "
                     "`_find_and_load` = all imports):\n")
            L.append("| cumtime | share | calls | function |")
            L.append("|---:|---:|---:|---|")
            for r in p["by_cumtime"]:
                L.append(f"| {r['cumtime']:.3f} | {100 * r['cumtime'] / tot:.0f}% | {r['ncalls']} | `{r['func']}` |")
            L.append("")
            L.append("By own time (tottime):\n")
            L.append("| tottime | share | calls | function |")
            L.append("|---:|---:|---:|---|")
            for r in p["by_tottime"]:
                L.append(f"| {r['tottime']:.3f} | {100 * r['tottime'] / tot:.1f}% | {r['ncalls']} | `{r['func']}` |")
            L.append("")
            sp = p.get("pyspy")
            if sp:
                L.append(f"py-spy (250 Hz, {sp.get('runs', 1)} runs pooled, {sp['samples']} samples, "
                         f"{sp['wall']:.2f} s per run; aggregated by function; CLI/click plumbing frames left out "
                         "of the inclusive list):\n")
                L.append("| inclusive | function | | self | function |")
                L.append("|---:|---|---|---:|---|")
                for a, b in zip(sp["inclusive"], sp["self"]):
                    L.append(f"| {100 * a['share']:.1f}% | `{a['func']}` | | {100 * b['share']:.1f}% | `{b['func']}` |")
                L.append("")

    L.append("## Analysis\n")
    L.append(old_analysis if old_analysis is not None else
             f"{ANALYSIS_BEGIN}\n(not written yet)\n{ANALYSIS_END}")
    L.append("")
    return "\n".join(L)


def wait_idle(limit: float, log, max_wait: float = 600.0) -> None:
    t0 = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - t0 < max_wait:
        time.sleep(5)
    log(f"load average {os.getloadavg()[0]:.2f} after waiting {time.monotonic() - t0:.0f}s for < {limit}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000,10000", help="comma-separated N [100,1000,10000]")
    ap.add_argument("--quick", action="store_true", help="sizes 100 and 1000 only")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per timing (median) [5]")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up runs before measuring [1]")
    ap.add_argument("--tools", default="assetbuild,make,doit")
    ap.add_argument("--out", default=str(BENCH / "RESULTS.md"), help="report to write [bench/RESULTS.md]")
    ap.add_argument("--venv", default=os.environ.get("BENCH_VENV", "/tmp/venv-bench"),
                    help="venv with assetbuild (editable) and doit [/tmp/venv-bench or $BENCH_VENV]")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--help-runs", type=int, default=15, help="runs of `assetbuild --help` [15]")
    ap.add_argument("--wait-idle", type=float, default=None, metavar="LOAD",
                    help="before each size, wait (at most 10 min) until the 1-minute load average is below LOAD")
    ap.add_argument("--no-profile", dest="profile", action="store_false",
                    help="skip the cProfile runs at the largest size")
    a = ap.parse_args()
    if a.runs < 5:
        print("note: the issue asks for at least 5 measured runs", file=sys.stderr)
    sizes = [100, 1000] if a.quick else [int(x.replace("_", "").replace(",", "")) for x in a.sizes.split(",") if x]
    a.tools = [x for x in a.tools.split(",") if x]
    for x in a.tools:
        if x not in generate.TOOLS:
            ap.error(f"unknown tool {x!r}")
    venv = Path(a.venv)
    tools = Tools(venv)
    missing = [t for t in a.tools if t != "make" and not Path(tools.cmd[t][0]).exists()]
    if missing or ("make" in a.tools and not shutil.which("make")):
        raise SystemExit(f"missing tools in {venv}: {missing or 'make'}; see bench/README.md "
                         "(python -m venv /tmp/venv-bench && /tmp/venv-bench/bin/pip install -e . doit)")

    t_start = time.perf_counter()
    stamp = BENCH / "work" / ".trash-deleted"
    if stamp.exists():  # inodes freed by the previous run's clean-up slow file creation for a while
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
                  "warmup": a.warmup, "tools": a.tools, "venv": str(venv),
                  "machine": machine(tools, a.tools), "sizes": {}}
    log(f"machine: {data['machine']}")
    if "assetbuild" in a.tools:
        if a.wait_idle is not None:
            wait_idle(a.wait_idle, log)
        data["help"] = measure_help(tools, a.help_runs)
        log(f"--help: {data['help']}")
    for n in sizes:
        if a.wait_idle is not None:
            wait_idle(a.wait_idle, log)
        data["sizes"][str(n)] = bench_size(n, a, tools, log)
    big = max(sizes)
    data["rss"] = peak_rss(tools, big, a.tools, log)
    if a.profile and "assetbuild" in a.tools:
        data["profile"] = profile(tools, big, 20, log)
    data["elapsed_s"] = time.perf_counter() - t_start
    t_trash = time.perf_counter()
    shutil.rmtree(TRASH, ignore_errors=True)
    log(f"deleted the old outputs in {TRASH} in {time.perf_counter() - t_trash:.1f}s")
    (BENCH / "work" / ".trash-deleted").write_text(str(time.time()))

    out = Path(a.out)
    old = None
    if out.exists():
        text = out.read_text()
        i, j = text.find(ANALYSIS_BEGIN), text.find(ANALYSIS_END)
        if i >= 0 and j > i:
            old = text[i:j + len(ANALYSIS_END)]
    out.write_text(render(data, old))
    raw = BENCH / "work" / f"{out.stem}.json"  # RESULTS.md -> bench/work/RESULTS.json
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(data, indent=1))
    log(f"wrote {out} and {raw}")


if __name__ == "__main__":
    main()
