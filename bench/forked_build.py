"""What a resident build process could save: an incremental build forked from a process that has
already imported the engine, against the same build in a fresh process, taking turns.

    python bench/forked_build.py --project DIR --input inputs/i00398.txt [--runs 9]

Before each build, ``--input`` (relative to DIR, a generated project: bench/generate.py) gets a
new number, so every build is incremental. The forked build is the best case of a resident
process: no interpreter start, no imports, nothing kept from one build to the next but the
imported modules (the fork is taken from a process that never loaded the project). A real one
would add a client's start and the handing over of argv, environment, directory and file
descriptors. Prints the median and minimum wall time of each (the fresh process runs the
console script's code through ``sys.executable``; run with the tree on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ENTRY = "import sys; sys.argv = ['assetbuild'] + sys.argv[1:]; from assetbuild.entry import main; main()"


def bump(path: Path) -> None:
    path.write_text(f"{int(path.read_text()) + 1}\n")


def forked_build(argv: list[str]) -> int:
    """Run ``assetbuild ARGV`` in a child forked from this process; its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: stdout to /dev/null, and the sys.path of ``python -c``, as the fresh process's
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            sys.argv = ["assetbuild", *argv]
            sys.path[0] = ""  # (the snapshot records sys.path: another one refuses it)
            from assetbuild.entry import main

            try:
                code = main()
            except SystemExit as e:
                code = e.code
            sys.stdout.flush()
            os._exit(code if isinstance(code, int) else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(70)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", required=True, type=Path, help="a generated project (bench/generate.py)")
    ap.add_argument("--input", required=True, help="the input file to change before each build, relative to --project")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--args", default="--json", help="arguments to assetbuild (default: --json, as bench/run.py)")
    a = ap.parse_args()
    os.chdir(a.project)
    argv = a.args.split()
    # What a build imports, imported here once: the engine, the command line, the plugin manager.
    import assetbuild.cli  # noqa: F401
    import assetbuild.executors  # noqa: F401
    import assetbuild.session.building  # noqa: F401
    import assetbuild.session.snapshots  # noqa: F401

    inp = Path(a.input)
    for _ in range(2):  # warm-up: the page cache, the snapshot of this sys.path
        bump(inp)
        forked_build(argv)
    times: dict[str, list[float]] = {"forked": [], "fresh": []}
    for _ in range(a.runs):
        bump(inp)
        t = time.perf_counter()
        if forked_build(argv) != 0:
            sys.exit("the forked build failed")
        times["forked"].append(time.perf_counter() - t)
        bump(inp)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", ENTRY, *argv], stdout=subprocess.DEVNULL, check=True)
        times["fresh"].append(time.perf_counter() - t)
    for name, ts in times.items():
        print(f"{name:>6}: median {statistics.median(ts) * 1000:6.1f} ms, min {min(ts) * 1000:6.1f} ms ({len(ts)} builds)")


if __name__ == "__main__":
    main()
