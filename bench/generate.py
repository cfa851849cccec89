"""Generate one synthetic project, the same graph for assetbuild, GNU make and doit.

The workload (see bench/README.md):

- N targets t00000..t{N-1}, laid out in layers of W = round(sqrt(N)) consecutive indices
  (target i is in layer i // W).
- The first 5% of targets (R = max(1, N // 20)) are roots: root i reads ``inputs/iNNNNN.txt``
  (a small integer, seeded, followed by a newline).
- Every other target depends on 0, 1 or 2 (uniformly) distinct earlier targets. Each dependency
  comes from the previous layer with probability 3/4, otherwise from any earlier layer (long
  edges, so that the roots of the first layers are used too). In layer 0 (only at small N) the
  candidates are all earlier targets.
- Value of target i: (sum of its inputs + i) mod 1000003, where a root's input is the integer in
  its input file. It is written, as decimal digits without a newline, to ``out/tNNNNN.txt``.

The second workload, ``files`` (``--workload files``), the same size:

- Each target i depends on 0, 1 or 2 (uniformly) distinct earlier targets: each from the 2W
  targets just before it with probability 3/4 (a sliding window, so chains run deep), otherwise
  from any earlier target.
- Its roots are the targets with no dependency (about a third). 5% of them (seeded sample,
  at least one) read an input file ``inputs/dNN/tNNNNN.txt`` of 1-3 integers, one a line, and
  add their sum; the other roots are constants.
- Value of target i: (sum of its inputs + i) mod 1000003, written to the path output
  ``out/gNN/tNNNNN.txt`` (NN = i // 1000: nested directories).
- In assetbuild the asset bodies call two helpers of a project module (``lib/steps.py``), as a
  project that shares code between its assets does.

Everything is a pure function of (workload, N, seed). ``python bench/generate.py --n 1000 --out DIR``
writes DIR/<tool>/ for each tool, plus DIR/graph.json describing the graph.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

MOD = 1000003
TOOLS = ("assetbuild", "make", "doit")
WORKLOADS = ("layered", "files")


@dataclass
class Graph:
    n: int
    seed: int
    width: int
    roots: int  # layered: the first `roots` targets, which read input files; files: targets with no dependency
    deps: list[tuple[int, ...]]  # deps[i]: sorted indices of the targets i reads (empty for roots)
    inputs: list[int]  # inputs[r]: the value (sum of the integers) of input file r
    workload: str = "layered"
    readers: list[int] | None = None  # readers[r]: the target reading input file r (layered: r)
    parts: list[list[int]] | None = None  # parts[r]: the integers of input file r as generated

    def __post_init__(self) -> None:
        if self.readers is None:
            self.readers = list(range(len(self.inputs)))
        if self.parts is None:
            self.parts = [[v] for v in self.inputs]

    def input_path(self, r: int) -> str:
        """Project-relative path of input file r."""
        if self.workload == "layered":
            return f"inputs/{inp(r)}.txt"
        i = self.readers[r]
        return f"inputs/d{i // 1000:02d}/{t(i)}.txt"

    def output_path(self, i: int) -> str:
        """Project-relative path of target i's output."""
        if self.workload == "layered":
            return f"out/{t(i)}.txt"
        return f"out/g{i // 1000:02d}/{t(i)}.txt"

    def source_name(self, r: int) -> str:
        return inp(r) if self.workload == "layered" else f"i{self.readers[r]:05d}"

    def reach(self, r: int) -> int:
        """How many targets must rerun when target r's value changes (r and its descendants)."""
        children: list[list[int]] = [[] for _ in range(self.n)]
        for i, ds in enumerate(self.deps):
            for d in ds:
                children[d].append(i)
        seen = {r}
        stack = [r]
        while stack:
            x = stack.pop()
            for c in children[x]:
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        return len(seen)

    def values(self, inputs: list[int] | None = None) -> list[int]:
        """Expected value of every target (the reference the tools' outputs are checked against)."""
        inputs = self.inputs if inputs is None else inputs
        reads = {i: r for r, i in enumerate(self.readers)}
        out: list[int] = []
        for i, ds in enumerate(self.deps):
            s = sum(out[d] for d in ds) + (inputs[reads[i]] if i in reads else 0)
            out.append((s + i) % MOD)
        return out


def make_graph(n: int, seed: int = 1, workload: str = "layered") -> Graph:
    if workload == "files":
        return make_files_graph(n, seed)
    if workload != "layered":
        raise ValueError(f"unknown workload {workload!r} (known: {', '.join(WORKLOADS)})")
    rng = random.Random(f"assetbuild-bench/{n}/{seed}")
    width = max(1, round(math.sqrt(n)))
    roots = max(1, n // 20)
    deps: list[tuple[int, ...]] = []
    for i in range(n):
        if i < roots:
            deps.append(())
            continue
        start = (i // width) * width
        chosen: set[int] = set()
        for _ in range(rng.randint(0, 2)):
            if start == 0:
                lo, hi = 0, i
            elif rng.random() < 0.75:
                lo, hi = max(0, start - width), start
            else:
                lo, hi = 0, start
            chosen.add(rng.randrange(lo, hi))
        deps.append(tuple(sorted(chosen)))
    inputs = [rng.randrange(1000) for _ in range(roots)]
    return Graph(n, seed, width, roots, deps, inputs)


def make_files_graph(n: int, seed: int = 1) -> Graph:
    """The ``files`` workload (module docstring): sliding-window DAG, 5% of its roots read files."""
    rng = random.Random(f"assetbuild-bench/files/{n}/{seed}")
    width = max(1, round(math.sqrt(n)))
    window = 2 * width
    deps: list[tuple[int, ...]] = []
    for i in range(n):
        chosen: set[int] = set()
        for _ in range(rng.randint(0, 2) if i else 0):
            lo = max(0, i - window) if rng.random() < 0.75 else 0
            chosen.add(rng.randrange(lo, i))
        deps.append(tuple(sorted(chosen)))
    roots = [i for i, ds in enumerate(deps) if not ds]
    readers = sorted(rng.sample(roots, max(1, round(len(roots) / 20))))
    parts = [[rng.randrange(1000) for _ in range(rng.randint(1, 3))] for _ in readers]
    return Graph(n, seed, width, len(roots), deps, [sum(p) for p in parts], "files", readers, parts)


def pick_roots(g: Graph) -> dict[str, dict[str, int]]:
    """The input files the incremental scenarios edit: a typical one and the one that reaches most.

    "small": the median (by reach, then index) of the file-reading roots that have at least one
    dependent; "large": the one with the largest reach (lowest index on ties). "root" is the
    target that reads the file, "input" the file's index (the same in the layered workload).
    """
    reach = {r: g.reach(i) for r, i in enumerate(g.readers)}
    used = sorted((reach[r], r) for r in reach if reach[r] > 1) or sorted((reach[r], r) for r in reach)
    small = used[(len(used) - 1) // 2]
    large = max(used, key=lambda x: (x[0], -x[1]))
    return {k: {"root": g.readers[r], "input": r, "reach": n} for k, (n, r) in (("small", small), ("large", large))}


def t(i: int) -> str:
    return f"t{i:05d}"


def inp(i: int) -> str:
    return f"i{i:05d}"


# --- per-tool project files ------------------------------------------------------------------


def assetfile(g: Graph) -> str:
    lines = [f'"""Synthetic benchmark project: N={g.n}, seed={g.seed} (generated by bench/generate.py)."""',
             "", "from assetbuild import asset, source", ""]
    for r in range(g.roots):
        lines.append(f'{inp(r)} = source("{inp(r)}", "inputs/{inp(r)}.txt")')
    for i, ds in enumerate(g.deps):
        lines.append("")
        lines.append("")
        lines.append(f'@asset(io="text", path="out/{t(i)}.txt")')
        if i < g.roots:
            lines.append(f"def {t(i)}({inp(i)}):")
            lines.append(f"    return str((int({inp(i)}.read_text()) + {i}) % {MOD})")
        else:
            args = ", ".join(t(d) for d in ds)
            total = " + ".join([f"int({t(d)})" for d in ds] + [str(i)])
            lines.append(f"def {t(i)}({args}):")
            lines.append(f"    return str(({total}) % {MOD})")
    return "\n".join(lines) + "\n"


def makefile(g: Graph) -> str:
    """One rule per target; the recipe is one /bin/sh command line using only shell builtins.

    ``read`` at end of file without a newline returns 1 but sets the variable; the recipe's status
    is printf's (make runs each line with ``sh -c`` without ``-e``).
    """
    out = [f"# Synthetic benchmark project: N={g.n}, seed={g.seed} (generated by bench/generate.py).",
           "# Recipes use only /bin/sh builtins (read, printf, $((...))): one sh process per target.",
           "MAKEFLAGS += --no-builtin-rules",
           ".SUFFIXES:",
           ".SILENT:",
           "",
           "all: " + " ".join(f"out/{t(i)}.txt" for i in range(g.n)),
           ".PHONY: all",
           "",
           "out:",
           "\tmkdir -p out",
           ""]
    for i, ds in enumerate(g.deps):
        if i < g.roots:
            src = f"inputs/{inp(i)}.txt"
            out.append(f"out/{t(i)}.txt: {src} | out")
            out.append(f"\tread a < {src}; printf %d $$(( (a + {i}) % {MOD} )) > $@")
        else:
            prereqs = " ".join(f"out/{t(d)}.txt" for d in ds)
            reads = "".join(f"read v{k} < out/{t(d)}.txt; " for k, d in enumerate(ds))
            total = " + ".join([f"v{k}" for k in range(len(ds))] + [str(i)])
            out.append(f"out/{t(i)}.txt: {prereqs} | out".replace("  ", " "))
            out.append(f"\t{reads}printf %d $$(( ({total}) % {MOD} )) > $@")
    return "\n".join(out) + "\n"


DODO_HEAD = '''"""Synthetic benchmark project: N={n}, seed={seed} (generated by bench/generate.py).

One python-action task per target with file_dep/targets (doit's defaults otherwise: MD5 file
checker, dbm state file .doit.db).
"""

import os

DOIT_CONFIG = {{"verbosity": 0}}

GRAPH = {graph}


def compute(i, deps, target):
    s = i
    for p in deps:
        with open(p) as f:
            s += int(f.read())
    data = str(s % {mod})
    try:
        f = open(target, "w")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        f = open(target, "w")
    with f:
        f.write(data)


def task_t():
    for i, deps in enumerate(GRAPH):
        target = "out/t%05d.txt" % i
        task = {{"name": "t%05d" % i, "actions": [(compute, (i, deps, target))],
                 "file_dep": deps, "targets": [target]}}
        if not deps:
            task["uptodate"] = [True]  # no inputs: up to date once built (doit reruns such tasks otherwise)
        yield task
'''


def dodo(g: Graph) -> str:
    graph = []
    for i, ds in enumerate(g.deps):
        graph.append([f"inputs/{inp(i)}.txt"] if i < g.roots else [f"out/{t(d)}.txt" for d in ds])
    return DODO_HEAD.format(n=g.n, seed=g.seed, mod=MOD, graph=json.dumps(graph, separators=(",", ":")))


# --- the files workload ----------------------------------------------------------------------

STEPS_PY = '''"""Helpers shared by the benchmark's assets (generated by bench/generate.py)."""

MOD = 1000003


def total(path):
    """Sum of the integers in an input file, one a line."""
    return sum(int(x) for x in path.read_text().split())


def combine(i, *values):
    """Target i's value from its inputs' values, as decimal text."""
    return str((sum(int(v) for v in values) + i) % MOD)
'''


def files_assetfile(g: Graph) -> str:
    lines = [f'"""Synthetic benchmark project, files workload: N={g.n}, seed={g.seed} (generated by bench/generate.py)."""',
             "", "from assetbuild import asset, source", "from lib.steps import combine, total", ""]
    reads = {i: r for r, i in enumerate(g.readers)}
    for r in range(len(g.readers)):
        lines.append(f'{g.source_name(r)} = source("{g.source_name(r)}", "{g.input_path(r)}")')
    for i, ds in enumerate(g.deps):
        lines += ["", "", f'@asset(io="text", path="{g.output_path(i)}")']
        if i in reads:
            name = g.source_name(reads[i])
            lines += [f"def {t(i)}({name}):", f"    return combine({i}, total({name}))"]
        else:
            args = ", ".join(t(d) for d in ds)
            lines += [f"def {t(i)}({args}):", f"    return combine({', '.join([str(i)] + [t(d) for d in ds])})"]
    return "\n".join(lines) + "\n"


def files_makefile(g: Graph) -> str:
    """As ``makefile``; a file-reading root sums its file's lines with a ``while read`` loop."""
    groups = sorted({g.output_path(i).rsplit("/", 1)[0] for i in range(g.n)})
    out = [f"# Synthetic benchmark project, files workload: N={g.n}, seed={g.seed} (generated by bench/generate.py).",
           "# Recipes use only /bin/sh builtins (read, printf, $((...))): one sh process per target.",
           "MAKEFLAGS += --no-builtin-rules", ".SUFFIXES:", ".SILENT:", "",
           "all: " + " ".join(g.output_path(i) for i in range(g.n)), ".PHONY: all", ""]
    for d in groups:
        out += [f"{d}:", f"\tmkdir -p {d}"]
    out.append("")
    reads = {i: r for r, i in enumerate(g.readers)}
    for i, ds in enumerate(g.deps):
        target = g.output_path(i)
        group = target.rsplit("/", 1)[0]
        if i in reads:
            src = g.input_path(reads[i])
            out.append(f"{target}: {src} | {group}")
            out.append(f"\ts=0; while read x; do s=$$((s + $${{x:-0}})); done < {src}; "
                       f"printf %d $$(( (s + {i}) % {MOD} )) > $@")
        else:
            prereqs = "".join(f"{g.output_path(d)} " for d in ds)
            reads_ = "".join(f"read v{k} < {g.output_path(d)}; " for k, d in enumerate(ds))
            total_ = " + ".join([f"v{k}" for k in range(len(ds))] + [str(i)])
            out.append(f"{target}: {prereqs}| {group}")
            out.append(f"\t{reads_}printf %d $$(( ({total_}) % {MOD} )) > $@")
    return "\n".join(out) + "\n"


FILES_DODO_HEAD = '''"""Synthetic benchmark project, files workload: N={n}, seed={seed} (generated by bench/generate.py).

One python-action task per target with file_dep/targets (doit's defaults otherwise: MD5 file
checker, dbm state file .doit.db).
"""

import os

DOIT_CONFIG = {{"verbosity": 0}}

GRAPH = {graph}


def compute(i, deps, target):
    s = i
    for p in deps:
        with open(p) as f:
            s += sum(int(x) for x in f.read().split())
    data = str(s % {mod})
    try:
        f = open(target, "w")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        f = open(target, "w")
    with f:
        f.write(data)


def task_t():
    for i, (deps, target) in enumerate(GRAPH):
        task = {{"name": "t%05d" % i, "actions": [(compute, (i, deps, target))],
                 "file_dep": deps, "targets": [target]}}
        if not deps:
            task["uptodate"] = [True]  # no inputs: up to date once built (doit reruns such tasks otherwise)
        yield task
'''


def files_dodo(g: Graph) -> str:
    reads = {i: r for r, i in enumerate(g.readers)}
    graph = [[[g.input_path(reads[i])] if i in reads else [g.output_path(d) for d in ds], g.output_path(i)]
             for i, ds in enumerate(g.deps)]
    return FILES_DODO_HEAD.format(n=g.n, seed=g.seed, mod=MOD, graph=json.dumps(graph, separators=(",", ":")))


TOOL_FILES = {"assetbuild": ("AssetFile", assetfile), "make": ("Makefile", makefile), "doit": ("dodo.py", dodo)}
FILES_TOOL_FILES = {"assetbuild": ("AssetFile", files_assetfile), "make": ("Makefile", files_makefile),
                    "doit": ("dodo.py", files_dodo)}


def expected_outputs(g: Graph, inputs: list[int] | None = None) -> dict[str, bytes]:
    """Project-relative output path -> the bytes every tool must have written there."""
    return {g.output_path(i): str(v).encode() for i, v in enumerate(g.values(inputs))}


def output_mismatches(g: Graph, d: Path, inputs: list[int] | None = None) -> list[str]:
    """What is wrong with d/out/ (missing, extra or wrong files); empty when it is exactly right."""
    expected = expected_outputs(g, inputs)
    found = {str(p.relative_to(d)).replace(os.sep, "/") for p in (d / "out").rglob("*")
             if p.is_file() and not p.name.startswith(".")}
    bad = [f"missing {x}" for x in sorted(set(expected) - found)[:5]]
    bad += [f"extra {x}" for x in sorted(found - set(expected))[:5]]
    bad += [f"wrong {x}" for x, b in expected.items() if x in found and (d / x).read_bytes() != b][:5]
    return bad


def input_text(value: int, pad: int = 0) -> str:
    """Content of an input file; ``pad`` extra newlines change the bytes but not the value."""
    return f"{value}\n" + "\n" * pad


def depth(g: Graph) -> int:
    """Targets on the longest dependency chain."""
    level: list[int] = []
    for ds in g.deps:
        level.append(1 + max((level[d] for d in ds), default=0))
    return max(level, default=0)


def write_project(g: Graph, root: Path, tools: tuple[str, ...] = TOOLS, remove=shutil.rmtree) -> dict:
    """(Re)create root/<tool>/ for each tool, and root/graph.json; return the graph description.

    ``remove`` disposes of an existing root/<tool>/ (bench/run.py moves it aside instead).
    """
    root.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        d = root / tool
        if d.exists():
            remove(d)
        (d / "inputs").mkdir(parents=True)
        for r, parts in enumerate(g.parts):
            f = d / g.input_path(r)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("".join(f"{v}\n" for v in parts))
        fname, render = (TOOL_FILES if g.workload == "layered" else FILES_TOOL_FILES)[tool]
        (d / fname).write_text(render(g))
        if tool == "assetbuild" and g.workload == "files":
            (d / "lib").mkdir()
            (d / "lib" / "__init__.py").write_text("")
            (d / "lib" / "steps.py").write_text(STEPS_PY)
    readers = set(g.readers)
    meta = {"workload": g.workload, "n": g.n, "seed": g.seed, "width": g.width,
            "roots": sum(1 for d in g.deps if not d),
            "readers": len(g.readers), "edges": sum(len(d) for d in g.deps), "depth": depth(g),
            "no_input_targets": sum(1 for i, d in enumerate(g.deps) if i not in readers and not d),
            "incremental": pick_roots(g), "deps": [list(d) for d in g.deps], "inputs": g.inputs,
            "readers_at": g.readers}
    (root / "graph.json").write_text(json.dumps(meta))
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True, help="number of targets")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workload", default="layered", choices=WORKLOADS)
    ap.add_argument("--out", required=True, help="directory to (re)create DIR/<tool>/ in")
    ap.add_argument("--tools", default=",".join(TOOLS))
    a = ap.parse_args()
    tools = tuple(x for x in a.tools.split(",") if x)
    for x in tools:
        if x not in TOOLS:
            ap.error(f"unknown tool {x!r} (known: {', '.join(TOOLS)})")
    meta = write_project(make_graph(a.n, a.seed, a.workload), Path(a.out), tools)
    print(json.dumps({k: v for k, v in meta.items() if k not in ("deps", "inputs", "readers_at")}))


if __name__ == "__main__":
    os.umask(0o022)
    main()
