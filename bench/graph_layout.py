"""The lineage layout (assetbuild.ui.layout) at 200 and 1,000 nodes: time and edge crossings.

    python bench/graph_layout.py [--sizes 200,1000] [--runs 5]

Two generated graphs (seeded, so every run lays out the same ones):

- ``pipelines``: groups of 20 nodes (3 sources each), every asset reading one or two of the five
  before it in its group and, now and then (15%), an asset of an earlier group: a real project's
  shape;
- ``random``: 10% sources, every asset reading 1-3 earlier nodes anywhere (mean distance N/12):
  long edges everywhere, the hard case.

Prints, per graph: edges, layers, crossings of the input order (``sweeps=0``) and of the layout,
the median wall time of ``layout()`` and of ``render_svg()``, and the picture's size; then the
same with every group collapsed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assetbuild.ui.layout import layout  # noqa: E402
from assetbuild.ui.svg import render_svg  # noqa: E402

STATES = ["fresh", "stale", "missing", "failed", "overdue"]


def pipelines(n: int, seed: int = 0) -> tuple[list[dict], list[tuple[str, str]]]:
    r = random.Random(seed)
    nodes, edges = [], []
    for i in range(n):
        g, k = divmod(i, 20)
        nodes.append({"name": f"g{g}_n{k}", "kind": "source" if k < 3 else "asset", "group": f"g{g}",
                      "state": "source" if k < 3 else r.choice(STATES)})
        if k >= 3:
            edges += [(f"g{g}_n{r.randint(max(0, k - 5), k - 1)}", f"g{g}_n{k}") for _ in range(r.randint(1, 2))]
            if g and r.random() < 0.15:
                edges.append((f"g{r.randrange(g)}_n{r.randint(3, 19)}", f"g{g}_n{k}"))
    return nodes, edges


def scattered(n: int, seed: int = 0) -> tuple[list[dict], list[tuple[str, str]]]:
    r = random.Random(seed)
    nodes, edges = [], []
    for i in range(n):
        nodes.append({"name": f"asset_{i}", "kind": "source" if i < n // 10 else "asset",
                      "group": f"g{i * 10 // n}", "state": "source" if i < n // 10 else r.choice(STATES)})
        if i >= n // 10:
            for _ in range(r.randint(1, 3)):
                edges.append((f"asset_{max(0, i - 1 - int(r.expovariate(12 / n)))}", f"asset_{i}"))
    return nodes, edges


def median_s(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="200,1000")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print("| graph | N | edges | layers | crossings: input order -> layout | layout() | render_svg() | size (px) |")
    print("|---|---|---|---|---|---|---|---|")
    for make in (pipelines, scattered):
        for n in (int(s) for s in args.sizes.split(",")):
            nodes, edges = make(n)
            groups = {nd["group"] for nd in nodes}
            for collapse in ((), groups):
                lay = layout(nodes, edges, collapse=collapse)
                base = layout(nodes, edges, collapse=collapse, sweeps=0)
                t_lay = median_s(lambda c=collapse, nd=nodes, ed=edges: layout(nd, ed, collapse=c), args.runs)
                t_svg = median_s(lambda lay=lay: render_svg(lay), args.runs)
                name = ("random" if make is scattered else make.__name__) + (", groups collapsed" if collapse else "")
                print(f"| {name} | {n} | {len(edges)} | {len(lay.layers)} | {base.crossings} -> {lay.crossings} | "
                      f"{t_lay * 1000:.0f} ms | {t_svg * 1000:.0f} ms | {lay.width:.0f} x {lay.height:.0f} |")


if __name__ == "__main__":
    main()
