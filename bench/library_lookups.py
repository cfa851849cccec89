"""What library version lookups cost a null build: two checkouts of assetbuild side by side.

Each run is a fresh interpreter that imports the libraries first (not timed), then times a null
build and a status through the Python API; the checkouts take turns (interleaved) and the medians
are printed. Two projects of five assets each import scikit-learn and PyYAML in the AssetFile;
the second also uses ``mpl_toolkits`` (matplotlib's, no ``__version__`` and not a distribution
name, the case where the import-name map is needed). Then the lookups alone: the versions of
sklearn, yaml, numpy, scipy and joblib in a fresh process where none is imported yet.

    pip install scikit-learn pyyaml matplotlib
    python bench/library_lookups.py --before /path/to/old/checkout --after . [-n 11]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from trees import import_root

ASSETFILE = '''\
from assetbuild import asset
import sklearn
import yaml
from sklearn.linear_model import LinearRegression
{extra_import}

@asset
def params():
    return yaml.safe_load("alpha: 1\\nsplit: 0.2\\n")


@asset
def data(params):
    return [i * params["alpha"] for i in range(100)]


@asset
def model(data):
    return {{"kind": LinearRegression.__name__, "n": len(data)}}


@asset
def score(model):
    return {{"sklearn": sklearn.__name__, **model}}


@asset
def report(score, params):
    return yaml.safe_dump({{"score": score, "params": params{extra_use}}})
'''

NULL_BUILD = '''
import time, sklearn, yaml
from sklearn.linear_model import LinearRegression
{extra_import}
import assetbuild
from assetbuild import session
t = time.perf_counter(); r = assetbuild.build(project_dir={root!r}); b = time.perf_counter() - t
t = time.perf_counter(); assetbuild.status(project_dir={root!r}); s = time.perf_counter() - t
print(b, s, r.count("cached"))
'''

LOOKUPS = '''
import time
from assetbuild.session.project import _distribution_version
t = time.perf_counter()
[_distribution_version(n) for n in ("sklearn", "yaml", "numpy", "scipy", "joblib")]
print(time.perf_counter() - t)
'''


def run(tree: str, code: str, cache: Path, cwd: str) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env.update(PYTHONPATH=import_root(tree), ASSETBUILD_CACHE_DIR=str(cache), ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD="1")
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                         check=True).stdout
    return [float(x) for x in out.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("-n", type=int, default=11)
    args = ap.parse_args()
    trees = {"before": str(Path(args.before).resolve()), "after": str(Path(args.after).resolve())}
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"sklearn+yaml": ("", ""),
                    "+mpl_toolkits": ("from mpl_toolkits.mplot3d import Axes3D",
                                      ', "plot": Axes3D.__name__')}
        for variant, (extra_import, extra_use) in variants.items():
            root = Path(tmp, variant)
            root.mkdir()
            (root / "AssetFile").write_text(ASSETFILE.format(extra_import=extra_import, extra_use=extra_use))
            code = NULL_BUILD.format(extra_import=extra_import, root=str(root))
            times: dict[str, list[list[float]]] = {k: [] for k in trees}
            for i in range(args.n + 1):  # the first round builds and keeps what it keeps
                for name in (list(trees) if i % 2 == 0 else list(trees)[::-1]):
                    t = run(trees[name], code, Path(tmp, f"cache-{variant}-{name}"), tmp)
                    if i:  # a null build: every asset cached
                        assert t[2] == 5, f"{name}: not a null build"
                        times[name].append(t)
            for name, ts in times.items():
                print(f"{variant:14} {name:6} null build {statistics.median(t[0] for t in ts) * 1000:6.0f} ms, "
                      f"status {statistics.median(t[1] for t in ts) * 1000:5.0f} ms (medians of {args.n})")
        for name, tree in trees.items():
            ts = [run(tree, LOOKUPS, Path(tmp, "unused"), tmp)[0] for _ in range(args.n)]
            print(f"lookups alone, nothing imported, no cache directory: {name:6} "
                  f"{statistics.median(ts) * 1000:6.0f} ms (median of {args.n})")


if __name__ == "__main__":
    main()
