"""A/B of whole ``assetbuild`` processes between source trees, taking turns in rounds.

This machine's speed drifts by a third between sittings, so only runs that take turns in one
sitting compare two versions. Each TREE is a checkout of this repository: its ``assetbuild/``
is put on PYTHONPATH, and its bytecode is compiled first (a tree without ``.pyc`` files, with
PYTHONDONTWRITEBYTECODE set, would compile every module on every run).

    python bench/ab_trees.py --project DIR --mode incr --input inputs/i00398.txt OLD_TREE NEW_TREE
    python bench/ab_trees.py --project DIR --mode cold --scratch /dev/shm/ab OLD_TREE NEW_TREE

Modes: ``incr`` writes a new number to ``--input`` (relative to DIR) before each build;
``cutoff`` adds a newline to it (its value stays); ``touch`` sets its modification time to now
(its bytes stay: ``--input AssetFile`` is an editor's save of a file unchanged); ``swap`` is ``incr``
with an editor's swap file beside the AssetFile while the build runs; ``code`` edits the body of
asset ``--asset`` in the AssetFile (a new number in a first statement ``_ = N``: its code changes,
its value not); ``null`` builds as it is; ``cold`` builds a fresh copy of DIR without ``.assetbuild/`` and
``out/`` under ``--scratch`` each time. Every round gives each tree two warm-up builds (the
first after another tree's refuses the snapshot: another sys.path) and ``--runs`` timed ones
(cold: no warm-up). ``--args`` are passed to ``assetbuild`` (``--json``, as bench/run.py does);
``--warm-args`` to the warm-up builds instead (a build of assets named records no snapshot: warm
up with a build of everything); ``--before`` to an untimed build before each timed one (a null
build of one asset before the timed build of everything).
``--keep-copies`` (cold) removes the copies only at the end: on ext4, a file created within a
minute or so of the removal of many others in its directory's group costs up to ten times as
much (the allocator skips each recently deleted inode, reading it), so a build right after the
previous copy's removal measures that more than itself. Each copy gets its AssetFile compiled
beside it first (``__pycache__``, by the tree's own code, untimed), as ``bench/run.py``'s cold
builds find it: the compiled file names the AssetFile's path, so the source's would not do.
Prints, per tree, the median and the minimum wall and CPU time of the whole process.
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trees import import_root

ENTRY = "import sys; sys.argv = ['assetbuild'] + sys.argv[1:]; from assetbuild.entry import main; main()"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="+", help="checkouts of this repository to compare")
    ap.add_argument("--project", required=True, type=Path, help="a generated project (bench/generate.py)")
    ap.add_argument("--mode", choices=("incr", "cutoff", "touch", "swap", "code", "null", "cold"), default="incr")
    ap.add_argument("--input", default="inputs/i00398.txt", help="incr, cutoff, touch: the file to edit")
    ap.add_argument("--asset", default="t05001", help="code: the asset whose body to edit")
    ap.add_argument("--scratch", type=Path, default=None, help="cold: where the fresh copies go (tmpfs: /dev/shm/...)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=4, help="timed builds per tree and round")
    ap.add_argument("--args", default="", help="arguments for assetbuild, e.g. --json")
    ap.add_argument("--warm-args", default=None, help="arguments of the warm-up builds (default: --args)")
    ap.add_argument("--before", default=None, help="arguments of an untimed build before each timed one")
    ap.add_argument("--keep-copies", action="store_true", help="cold: remove the copies only at the end")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    trees = [str(Path(t).resolve()) for t in a.trees]
    for t in trees:
        compileall.compile_dir(os.path.join(import_root(t), "assetbuild"), quiet=1)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ASSETBUILD_CACHE_DIR")}
    cmd = [a.python, "-c", ENTRY, *a.args.split()]
    warm_cmd = cmd if a.warm_args is None else [a.python, "-c", ENTRY, *a.warm_args.split()]
    wall: dict[str, list[float]] = {t: [] for t in trees}
    cpu: dict[str, list[float]] = {t: [] for t in trees}
    scratch = a.scratch or Path(tempfile.gettempdir())
    kept: list[Path] = []

    def build(tree: str, where: Path, argv: list[str]) -> None:
        subprocess.run(argv, cwd=where, env={**env, "PYTHONPATH": import_root(tree)}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)

    def run(tree: str, where: Path, argv: list[str] = cmd) -> tuple[float, float]:
        if a.before is not None:
            build(tree, where, [a.python, "-c", ENTRY, *a.before.split()])
        swap = where / ".AssetFile.swp"  # (vim's, while it holds the AssetFile open)
        if a.mode == "swap":
            swap.write_bytes(b"b0VIM 9.0")
        if a.mode in ("incr", "swap"):
            (where / a.input).write_text(f"{random.randrange(10 ** 6)}\n")
        elif a.mode == "cutoff":  # bytes changed, value not (bench/run.py's "cutoff": a trailing newline)
            with open(where / a.input, "a") as f:
                f.write("\n")
        elif a.mode == "touch":
            os.utime(where / a.input)
        elif a.mode == "code":
            edit_body(where / "AssetFile", a.asset)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        build(tree, where, argv)
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        swap.unlink(missing_ok=True)
        return t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    for _ in range(a.rounds):
        for tree in trees:
            if a.mode == "cold":
                for _ in range(a.runs):
                    scratch.mkdir(parents=True, exist_ok=True)
                    copy = Path(tempfile.mkdtemp(dir=scratch))
                    shutil.copytree(a.project, copy, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns(".assetbuild", "out"))
                    compile_beside(a.python, tree, copy, env)
                    w, c = run(tree, copy)
                    if a.keep_copies:
                        kept.append(copy)
                    else:
                        shutil.rmtree(copy)
                    wall[tree].append(w)
                    cpu[tree].append(c)
                continue
            run(tree, a.project, warm_cmd)
            run(tree, a.project, warm_cmd)
            for _ in range(a.runs):
                w, c = run(tree, a.project)
                wall[tree].append(w)
                cpu[tree].append(c)
    for copy in kept:
        shutil.rmtree(copy)
    for tree in trees:
        w, c = wall[tree], cpu[tree]
        print(f"{tree}: wall median {statistics.median(w) * 1000:.0f} ms (min {min(w) * 1000:.0f}), "
              f"cpu median {statistics.median(c) * 1000:.0f} ms (min {min(c) * 1000:.0f}), n={len(w)}")


COMPILE = """
import sys
from pathlib import Path
from assetbuild.compiled import compile_cached
from assetbuild.loader import assetfile_digest
p = Path(sys.argv[1]) / "AssetFile"
src = p.read_bytes()
for f, payload in compile_cached(p, src, assetfile_digest(src), None)[3]:
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(payload)
"""


def edit_body(path: Path, asset: str) -> None:
    """A new number in the first statement of ``asset``'s function (``_ = N``, added the first time)."""
    lines = path.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(f"def {asset}("))
    mark = f"    _ = {random.randrange(10 ** 6)}"
    if lines[at + 1].startswith("    _ = "):
        lines[at + 1] = mark
    else:
        lines.insert(at + 1, mark)
    path.write_text("\n".join(lines))


def compile_beside(python: str, tree: str, project: Path, env: dict[str, str]) -> None:
    """Keep ``project``'s AssetFile compiled beside it, as a build that writes bytecode does."""
    subprocess.run([python, "-c", COMPILE, str(project)], env={**env, "PYTHONPATH": import_root(tree)},
                   check=True)


if __name__ == "__main__":
    main()
