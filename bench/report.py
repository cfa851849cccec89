"""Render bench/run.py's measurements as Markdown: the tables, the issue's targets and verdicts.

Kept apart from the runner so that the report can be re-rendered from bench/work/<out>.json
(``python bench/report.py bench/work/RESULTS.json OUT.md``) without measuring again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCENARIOS = ("cold", "null", "incr-small", "incr-large", "cutoff")
SCENARIO_TEXT = {
    "cold": "cold build: no out/, no build state",
    "null": "null build: everything up to date",
    "incr-small": "one root input's value changed (typical root)",
    "incr-large": "one root input's value changed (root reaching most targets)",
    "cutoff": "one root input's bytes changed, value unchanged (trailing newline)",
}
WORKLOAD_TEXT = {
    "layered": "`generate.py`'s layered DAG: the first 5% of targets read an input file each, the others "
               "depend on 0-2 targets of the previous layers; every target writes `out/tNNNNN.txt`",
    "files": "sliding-window DAG, 0-2 dependencies per target; 5% of the roots (targets with no "
             "dependency) read an input file of 1-3 lines, the other roots are constants; every target "
             "writes `out/gNN/tNNNNN.txt`; the asset bodies call helpers of a project module",
}
# Issue 16's targets, per workload: (scenario, N, seconds, label).
ABSOLUTE = (("null", 10000, 0.10, "null build, 10,000 assets"),
            ("null", 1000, 0.03, "null build, 1,000 assets"),
            ("incr-small", 10000, 0.15, "incremental, one root changed (typical root), 10,000"),
            ("incr-large", 10000, 0.15, "incremental, one root changed (root reaching most), 10,000"),
            ("cold", 10000, 1.5, "cold build, 10,000 assets"))
HELP_TARGET = 0.050
WATCH_TARGET = 0.050
DOIT_SPEEDUP = 5.0  # assetbuild at least this many times faster than doit
MAKE_RATIO = 2.5  # assetbuild at most this many times make's time
PEER_SCENARIOS = ("null", "incr-small", "incr-large", "cutoff")
RSS_TARGET_MB = 100  # an earlier issue's target, kept for comparison
ANALYSIS_BEGIN = "<!-- analysis:begin (kept by bench/run.py when it rewrites this file) -->"
ANALYSIS_END = "<!-- analysis:end -->"


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def verdict(measured: float, target: float, unit: str = "s") -> str:
    """"met", or by how much the target was missed (absolute and as a multiple)."""
    if measured <= target:
        return "met"
    over = measured - target
    amount = f"{over * 1000:.0f} ms" if unit == "s" else f"{over:.0f} {unit}"
    return f"**missed** by {amount} ({measured / target:.1f}x the target)"


def peer_verdicts(ab: float, make: float | None, doit: float | None) -> tuple[str, str, str, str]:
    """(doit/assetbuild, its verdict, assetbuild/make, its verdict); "-" where a peer was not run."""
    if doit is None:
        d, dv = "-", "-"
    else:
        sp = doit / ab
        d = f"{sp:.2f}x"
        need = doit / DOIT_SPEEDUP
        dv = "met" if sp >= DOIT_SPEEDUP else f"**missed** by {(ab - need) * 1000:.0f} ms (needs <= {fmt_s(need)})"
    if make is None:
        m, mv = "-", "-"
    else:
        r = ab / make
        m = f"{r:.1f}x"
        need = make * MAKE_RATIO
        mv = "met" if r <= MAKE_RATIO else f"**missed** by {(ab - need) * 1000:.0f} ms (needs <= {fmt_s(need)})"
    return d, dv, m, mv


def _load(row: dict) -> str:
    for e in row.values():
        a, b = e["loadavg"]
        return f"{a:.2f} -> {b:.2f}"
    return "-"


def _workload_tables(L: list[str], wl: str, sizes: dict, tl: list[str]) -> None:
    L.append(f"### Workload `{wl}`\n")
    L.append(WORKLOAD_TEXT.get(wl, wl) + ".\n")
    L.append("| N | scenario | " + " | ".join(tl) + " | targets rerun (" + " / ".join(tl) + ") | load avg before -> after |")
    L.append("|" + "---|" * (4 + len(tl)))
    for n, s in sizes.items():
        for scen in SCENARIOS:
            row = s["scenarios"].get(scen)
            if not row:
                continue
            cells = [fmt_s(row[t]["median"]) if t in row else "-" for t in tl]
            reran = " / ".join(",".join(map(str, row[t]["reran"])) if t in row else "-" for t in tl)
            L.append(f"| {int(n):,} | {scen} | " + " | ".join(cells) + f" | {reran} | {_load(row)} |")
    L.append("")
    L.append("Spread: min-max wall time of the measured runs and, in parentheses, the median CPU time "
             "(user+sys of the process tree), which other load disturbs less.\n")
    L.append("| N | scenario | " + " | ".join(tl) + " |")
    L.append("|" + "---|" * (2 + len(tl)))
    for n, s in sizes.items():
        for scen in SCENARIOS:
            row = s["scenarios"].get(scen)
            if not row:
                continue
            cells = [f"{row[t]['min']:.3f}-{row[t]['max']:.3f} ({row[t]['cpu_median']:.3f})" if t in row else "-"
                     for t in tl]
            L.append(f"| {int(n):,} | {scen} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("| N | roots (no dependency) | reading a file | constants | edges | longest chain | "
             "incr-small root (reach) | incr-large root (reach) |")
    L.append("|---|---|---|---|---|---|---|---|")
    for n, s in sizes.items():
        gr = s["graph"]
        inc = gr["incremental"]
        L.append(f"| {int(n):,} | {gr['roots']} | {gr['readers']} | {gr['no_input_targets']} | {gr['edges']} | "
                 f"{gr['depth']} | t{inc['small']['root']:05d} ({inc['small']['reach']}) | "
                 f"t{inc['large']['root']:05d} ({inc['large']['reach']}) |")
    L.append("")


def _targets(L: list[str], data: dict, tl: list[str]) -> None:
    L.append("## Issue 16's targets\n")
    L.append("Absolute targets (assetbuild's median wall time; a row is left out when its size or scenario "
             "was not run):\n")
    L.append("| workload | what | target | assetbuild | verdict | make | doit |")
    L.append("|---|---|---|---|---|---|---|")
    met = missed = 0
    for wl, w in data["workloads"].items():
        for scen, n, target, label in ABSOLUTE:
            row = w["sizes"].get(str(n), {}).get("scenarios", {}).get(scen, {})
            a = row.get("assetbuild")
            if not a:
                continue
            v = verdict(a["median"], target)
            met, missed = met + (v == "met"), missed + (v != "met")
            extra = f" ({a['reran'][0]} built)" if scen.startswith("incr") and a["reran"] else ""
            peers = [fmt_s(row[t]["median"]) if t in row else "-" for t in ("make", "doit")]
            L.append(f"| {wl} | {label} | <= {target:g} s | {fmt_s(a['median'])}{extra} | {v} | "
                     + " | ".join(peers) + " |")
    h = data.get("help", {}).get("assetbuild --help")
    if h:
        v = verdict(h["median"], HELP_TARGET)
        met, missed = met + (v == "met"), missed + (v != "met")
        L.append(f"| - | `assetbuild --help` | <= 50 ms | {h['median'] * 1000:.0f} ms | {v} | | |")
    wt = data.get("watch")
    if wt and "modes" in wt:
        for mode, s in wt["modes"].items():
            v = verdict(s["median"], WATCH_TARGET)
            met, missed = met + (v == "met"), missed + (v != "met")
            what = "in-process `watch_project`" if mode == "api" else "`assetbuild watch` subprocess"
            after = s["median"] * 1000 - wt["debounce_ms"]
            L.append(f"| - | watch, save -> rebuilt ({what}; includes the {wt['debounce_ms']:g} ms debounce) | "
                     f"<= 50 ms | {s['median'] * 1000:.1f} ms ({after:.1f} ms after the debounce) | {v} | | |")
    L.append("")
    L.append(f"Against the peers, in the same run (targets: at least {DOIT_SPEEDUP:g}x faster than doit, at most "
             f"{MAKE_RATIO:g}x make's time; null and incremental builds, every size run):\n")
    big_met = big_missed = 0
    L.append("| workload | N | scenario | assetbuild | doit / assetbuild | verdict | assetbuild / make | verdict |")
    L.append("|---|---|---|---|---|---|---|---|")
    for wl, w in data["workloads"].items():
        for n, s in w["sizes"].items():
            for scen in PEER_SCENARIOS:
                row = s["scenarios"].get(scen, {})
                a = row.get("assetbuild")
                if not a:
                    continue
                d, dv, m, mv = peer_verdicts(a["median"], row.get("make", {}).get("median"),
                                             row.get("doit", {}).get("median"))
                for x in (dv, mv):
                    if x != "-":
                        met, missed = met + (x == "met"), missed + (x != "met")
                        if n == "10000":
                            big_met, big_missed = big_met + (x == "met"), big_missed + (x != "met")
                L.append(f"| {wl} | {int(n):,} | {scen} | {fmt_s(a['median'])} | {d} | {dv} | {m} | {mv} |")
    L.append("")
    L.append(f"**{met} met, {missed} missed** (the peer verdicts at N = 10,000, the issue's size: "
             f"{big_met} met, {big_missed} missed)." + (" The cutoff rows compare unequal work: make reruns every "
             "target downstream of the edited file, assetbuild and doit only the root whose bytes changed."
             if any("cutoff" in w["sizes"].get(n, {}).get("scenarios", {}) for w in data["workloads"].values()
                    for n in w["sizes"]) else ""))
    L.append("")


def render(data: dict, old_analysis: str | None) -> str:
    m = data["machine"]
    tl = data["tools"]
    L: list[str] = ["# Benchmark results: assetbuild vs GNU make vs doit\n"]
    L.append("Generated by `bench/run.py` (see bench/README.md for the workloads and how to reproduce); "
             "the analysis section below is written by hand and kept when the file is regenerated.\n")
    L.append(f"- Date: {m['date']}")
    L.append(f"- Machine: {m['nproc']} CPUs (`nproc`), {m['cpu']}, {m['memory']} RAM, {m['kernel']}")
    L.append(f"- {m['python']} (bench venv {data['venv']}); /bin/sh is {m['bin_sh']}")
    L.append("- Tools: " + "; ".join(m["versions"][t] for t in tl) + f"; assetbuild run as `{data['assetbuild_cmd']}`")
    L.append(f"- assetbuild commit: {m['assetbuild_commit']}")
    L.append(f"- Command: `{data['argv']}` ({data['runs']} measured runs after {data['warmup']} warm-up; "
             f"medians; total bench time {data['elapsed_s'] / 60:.1f} min)")
    verified = all(s.get("verified") for w in data["workloads"].values() for s in w["sizes"].values())
    L.append("- All tools run serially (make without -j, doit without -n, assetbuild builds one asset at a time). "
             "Every scenario ended with each tool's out/ files checked byte for byte against the expected "
             "values: " + ("**all identical**." if verified else "FAILED."))
    L.append("")
    _targets(L, data, tl)

    L.append("## Median wall time of the whole process\n")
    L.append("Scenarios: " + "; ".join(f"**{k}** = {v}" for k, v in SCENARIO_TEXT.items()) + ". "
             "\"targets rerun\": assetbuild counts `built` in its `--json` result; make and doit count out/ "
             "files whose mtime changed (cold: files written). Load: the 1-minute load average before and "
             "after the scenario's rounds.\n")
    for wl, w in data["workloads"].items():
        _workload_tables(L, wl, w["sizes"], tl)

    if data.get("help"):
        L.append("Start-up (median of "
                 f"{data['help']['assetbuild --help']['runs']} runs after a warm-up): " +
                 "; ".join(f"`{k}` {v['median'] * 1000:.0f} ms" for k, v in data["help"].items()) + ".")
        L.append("")
    wt = data.get("watch")
    if wt and "modes" in wt:
        L.append(f"Watch latency (`bench/watch_latency.py --json --edits {wt['edits']}`, two-asset chain, "
                 f"edits {wt['gap_s']} s apart, debounce {wt['debounce_ms']:g} ms included; load "
                 f"{wt['loadavg'][0]:.2f} -> {wt['loadavg'][1]:.2f}): " +
                 "; ".join(f"{k} median {v['median'] * 1000:.1f} ms (min {v['min'] * 1000:.1f}, "
                           f"p90 {v['p90'] * 1000:.1f})" for k, v in wt["modes"].items()) + ".")
        L.append("")
    elif wt:
        L.append(f"Watch latency: not measured ({wt.get('error', 'unknown error')}).\n")
    rss = data.get("rss")
    if rss:
        L.append(f"Peak RSS ({rss['method']}, one run each, workload `{rss['workload']}`, "
                 f"N={rss['n']:,}; an earlier issue's target was {RSS_TARGET_MB} MB for assetbuild):\n")
        L.append("| build | " + " | ".join(t for t in tl if t in rss) + " |")
        L.append("|---|" + "---|" * sum(1 for t in tl if t in rss))
        for scen in ("cold", "null"):
            L.append(f"| {scen} | " + " | ".join(f"{rss[t][scen]:.0f} MB" for t in tl if t in rss) + " |")
        L.append("")

    if data.get("profile"):
        _profiles(L, data["profile"])

    L.append("## Analysis\n")
    L.append(old_analysis if old_analysis is not None else f"{ANALYSIS_BEGIN}\n(not written yet)\n{ANALYSIS_END}")
    L.append("")
    return "\n".join(L)


def _profiles(L: list[str], prof: dict) -> None:
    L.append(f"## Where assetbuild's time goes (profiles, workload `{prof['workload']}`, N={prof['n']:,})\n")
    L.append("Two profiles per build: cProfile (deterministic; it roughly doubles the run time of "
             "call-heavy Python, so read shares, not seconds) and, when py-spy is installed in the bench "
             "venv, a py-spy sampling profile (250 Hz, which adds about a third to the run time; shares of samples). ")
    L.append("cProfile shares are of the profiler's total. Full listings: `bench/work/profiles/*.txt`.\n")
    for scen in ("null", "cold"):
        p = prof[scen]
        tot = p["total_tt"]
        L.append(f"### {scen} build: {p['wall_under_profiler']:.2f} s under the profiler, {tot:.2f} s profiled\n")
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


def kept_analysis(path: Path) -> str | None:
    """The hand-written analysis block of an existing report, to carry over."""
    if not path.exists():
        return None
    text = path.read_text()
    i, j = text.find(ANALYSIS_BEGIN), text.find(ANALYSIS_END)
    return text[i:j + len(ANALYSIS_END)] if i >= 0 and j > i else None


if __name__ == "__main__":
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.write_text(render(json.loads(src.read_text()), kept_analysis(dst)))
