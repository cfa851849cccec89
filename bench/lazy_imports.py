"""The cost of fingerprinting a function that imports a ~500-line project module inside its body.

    python bench/lazy_imports.py [--lines 500] [--runs 21]

Three cases, each the median of ``--runs`` fresh ``Fingerprinter``s over the same function:

* cold: nothing cached (the module's file is read, compiled and digested);
* disk: the finder's memory dropped, its file in the cache directory kept (a null build in a
  fresh process: one ``stat`` per module, nothing read or compiled);
* memory: the finder's entries of this process (watch mode, the second build of a session).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assetbuild.fingerprint import Fingerprinter  # noqa: E402
from assetbuild.loader import ProjectImports, ProjectModuleFinder, forget_project_modules  # noqa: E402


def module_text(lines: int) -> str:
    """A plausible training module: imports, constants, a class, many small functions."""
    out = ['"""A training module."""', "import json", "import math", "from dataclasses import dataclass", "",
           "RATE = 0.1", "", "@dataclass", "class Params:", "    depth: int = 3", "    rate: float = RATE", ""]
    i = 0
    while len(out) < lines:
        out += [f"def step{i}(xs, p=Params()):", f"    # step {i}", "    total = 0.0",
                "    for x in xs:", f"        total += math.sqrt(abs(x)) * p.rate + {i}",
                "    return json.loads(json.dumps(total))", ""]
        i += 1
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=500)
    ap.add_argument("--runs", type=int, default=21)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    root, cache = tmp / "proj", tmp / "cache"
    (root / "src").mkdir(parents=True)
    (root / "src" / "train.py").write_text(module_text(a.lines))
    old = time.time_ns() - 10 * 10**9  # not racy: its signature is kept
    import os

    os.utime(root / "src" / "train.py", ns=(old, old))
    ns: dict = {"__name__": "__assetfile__"}
    src = "def model(xs):\n    from src.train import step0\n    return step0(xs)\n"
    exec(compile(src, str(root / "AssetFile"), "exec"), ns)  # noqa: S102

    def once(keep_memory: bool, keep_disk: bool) -> float:
        if not keep_memory:
            ProjectModuleFinder._memory.clear()
        if not keep_disk:
            shutil.rmtree(cache, ignore_errors=True)
        t = time.perf_counter()
        finder = ProjectModuleFinder(root, cache)
        finder.keep_on_disk()  # as a build does
        f = Fingerprinter(is_project_module=lambda m: m == "__assetfile__", project_dir=str(root),
                          modules=finder)
        fp = f.fingerprint_function(ns["model"], "model")
        dt = time.perf_counter() - t
        assert fp.warnings == () and "module:src.train" in fp.parts
        return dt

    with ProjectImports(root):
        results = {}
        for name, memory, disk in (("cold", False, False), ("disk", False, True), ("memory", True, True)):
            once(memory, disk)  # warm-up (and fills the caches the case keeps)
            results[name] = statistics.median(once(memory, disk) for _ in range(a.runs))
        assert "src.train" not in sys.modules
        forget_project_modules(root)
    lines = len(module_text(a.lines).splitlines())
    print(f"fingerprint of a function importing a {lines}-line project module inside its body "
          f"(median of {a.runs}):")
    for name, t in results.items():
        print(f"  {name:7s} {t * 1000:8.3f} ms")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
