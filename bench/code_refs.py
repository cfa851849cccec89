"""Cost of finding the project code a pickled value names (assetbuild.fingerprint.refs).

Times ``pickle_code_refs`` against the time cloudpickle takes to make the same bytes, for the
shapes that matter: one large array (no project code), an array beside a project object, many
project objects, many plain tuples (with and without a module's name as a string), a list of
arrays. Run: ``python bench/code_refs.py`` (numpy and cloudpickle installed).
"""

from __future__ import annotations

import sys
import time
import types

import cloudpickle
import numpy as np

from assetbuild.fingerprint.refs import pickle_code_refs

MODULES = {"shapes", "shapes.models", "lib", "lib.helpers"} | {f"pkg{i}.mod{i}" for i in range(30)}


def project_module() -> types.ModuleType:
    """A stand-in project module ``shapes.models`` with a class ``Box``, importable by pickle."""
    sys.modules["shapes"] = types.ModuleType("shapes")
    m = types.ModuleType("shapes.models")
    sys.modules["shapes.models"] = m
    exec("class Box:\n    def __init__(self, w, h):\n        self.w, self.h = w, h\n", m.__dict__)  # noqa: S102
    return m


def timed(fn):  # noqa: ANN001, ANN201 - a bench helper
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    box = project_module().Box
    cases = {
        "one 100 MB array": lambda: np.random.rand(12_500_000),
        "100 MB array + a Box": lambda: {"a": np.random.rand(12_500_000), "b": box(1, 2)},
        "200k Box objects": lambda: [box(i, i + 1) for i in range(200_000)],
        "300k plain tuples": lambda: [(i, float(i), str(i)) for i in range(300_000)],
        "300k tuples + a module name": lambda: [(i, float(i), str(i)) for i in range(300_000)]
        + ["shapes.models"],
        "10k arrays of 8 KB": lambda: [np.random.rand(1000) for _ in range(10_000)],
    }
    print(f"{'value':30s} {'bytes':>11s} {'dump s':>7s} {'scan s':>7s}  names")
    for label, make in cases.items():
        value = make()
        data, dump_s = timed(lambda v=value: cloudpickle.dumps(v, protocol=5))
        refs, scan_s = timed(lambda d=data: pickle_code_refs(d, MODULES))
        print(f"{label:30s} {len(data):11d} {dump_s:7.3f} {scan_s:7.3f}  {', '.join(refs)}")


if __name__ == "__main__":
    main()
