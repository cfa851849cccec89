"""Golden digests: the cache keys of a fixed corpus, pinned, so that no refactor changes a key
by accident (every key would change, and every user's cache would rebuild from scratch).

A change of key on purpose bumps ``KEY_SCHEMA`` or ``FINGERPRINT_VERSION`` and records the new
digests here (or, for an encoding with new tags that changes only the keys holding such values,
records them alone). Bytecode differs between Python minor versions, so the digests are recorded per
interpreter (``keys.INTERPRETER``); to record them for another one, run

    ASSETBUILD_RECORD_GOLDEN=1 python -m pytest -q -s tests/test_golden_keys.py

and paste what it prints into ``GOLDEN``.
"""

from __future__ import annotations

import io
import json
import os
import sys

import pytest

from assetbuild.keys import INTERPRETER, KeyParts, make_key
from assetbuild.output import Reporter
from assetbuild.store import LmdbStore

# The corpus: what keys are made of, one of each kind. Edit it only with new goldens.
ASSETFILE = '''
import functools
from dataclasses import dataclass

from lib.helpers import scale, Unit

RATES = {"eu": 1.1, "us": 1.0}
REGIONS = frozenset({"eu", "us", "apac"})

raw = source("raw", "data/raw.txt")


@dataclass(frozen=True)
class Config:
    factor: int = 3


CFG = Config()


def _helper(xs):
    return [x * CFG.factor for x in xs]


@asset(io="json")
def numbers(raw):
    return [int(x) for x in raw.read_text().split()]


@asset(io="json")
def scaled(numbers, k=2):
    return _helper(scale(numbers, k))


@asset(io="json")
def closure(numbers):
    offset = len(REGIONS)

    def add(x):
        return x + offset

    return [add(x) for x in numbers]


@asset(io="json")
def priced(scaled):
    return {r: sum(scaled) * RATES[r] for r in sorted(RATES)}


@asset(io="pickle")
def units(numbers):
    return [Unit(n) for n in numbers]


@asset(io="json")
def unit_total(units):
    return sum(u.value() for u in units)


@functools.singledispatch
def describe(x):
    return "thing"


@describe.register
def _(x: int):
    return "int"


@asset(io="text", path="out/report.txt")
def report(priced, closure, unit_total):
    return f"{priced} {closure} {unit_total} {describe(1)}\\n"


@asset(io="json")
def count(numbers):
    return len(numbers)


@asset(io="json", code_version="7")
def pinned(numbers):
    return len(numbers)


@asset(io="json")
def lazy(numbers):
    from src.steps import double
    return double(numbers)


@asset(io="json")
def lazy_lib(numbers):
    import json
    from fakedist import total
    return json.loads(json.dumps(total(numbers)))
'''

# Imported inside ``lazy`` only: a folder without __init__.py, read from its file.
STEPS = '''
from lib.helpers import scale
from . import consts


def double(xs):
    return scale(xs, consts.TWO)
'''

# A library outside the project, installed as distribution fakedist 1.0 (imported by ``lazy_lib``).
FAKEDIST = {"fakedist/__init__.py": "def total(xs):\n    return sum(xs)\n",
            "fakedist-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: fakedist\nVersion: 1.0\n"}

HELPERS = '''
def scale(xs, k):
    return [x * k for x in xs]


class Unit:
    def __init__(self, n):
        self.n = n

    def value(self):
        return self.n + 1
'''

KEY_PARTS = {
    "plain": KeyParts("c" * 64, {}, (("a", "d" * 64),), "json@1", None),
    "path": KeyParts("c" * 64, {}, (), "text@1", "out/x.txt"),
    "code_version": KeyParts("v:7", {}, (("a", "d" * 64), ("b", "e" * 64)), "pickle@1", None),
    "source": KeyParts("c" * 64, {}, (("raw", "f" * 64),), "json@1", None, (("raw", "data/raw.txt"),)),
}

# keys.INTERPRETER -> {"parts": {case: key}, "project": {asset: key}}
GOLDEN: dict[str, dict[str, dict[str, str]]] = {
    "cpython-311-O0": {
        "parts": {
            "code_version": "dbf42ec7ec69ee4b759b3e09d0742c46dfa03e18d6c186e7601ae3105ac95fd8",
            "path": "e1cf182ba53704a2c6753b04a14d3481c1e8aa144ca414f91ac03077e1d8c4b6",
            "plain": "5dfe793b76329b91632db5a187634d21ffe7a05d8d4efba6d3f4d5e6aa8e997c",
            "source": "1a47cc746dd71ae54adcc5ef34a6fc6caba84692215a0c226c421138b2441ebd",
        },
        "project": {
            "closure": "57803f6e64f9de01087f5ffc825abd8d109e683dfc8533400a8ce2b37d786f60",
            "count": "0a5a0c9ae2e003afbc100ec1fa9f0542aca731b9eb93e0b9cb22fe217284cbf4",
            # an in-function import of a project module (a namespace package, a relative import)
            "lazy": "49d9fef6949dc3d47a26ce1586aaf2321963592eb1090a909be021312299dfcb",
            # in-function imports of the stdlib and of an installed distribution (by version)
            "lazy_lib": "51c4747cddc40fdc9337d3a3b06bed0c82608660e1fea62d42ebd99726f22041",
            "numbers": "55ec59c327f4994249d90bfc212c1728a283f879b0a287ced73c8f9a4f2260c9",
            "pinned": "5ef8eabf9fca74cda73419e13e2495697da8dee93ebf6d9c1abc26eb8327f70e",
            # priced and scaled read the dict RATES: keys changed when a dict's order entered them
            "priced": "6ed2a9ed90952949cdc438fbb3673849033542c20550d4faeaca8d38336fccda",
            "report": "321c85c8e5461b3b38ef9029c152abe1179cc1ce6617fae6f02326ededaab604",
            "scaled": "93f45c25d68fa3eab8d1e186d11a45addcff3a35a0c621e9d8e5334065d36d92",
            "unit_total": "1d309dd089ac7ef7809d2cfcc49d84b7628fb3513eb542b77047e056b03c86e4",
            "units": "25a177dc786ab01cf542c82f14839c2dda74e8bdb06ad945ebfd9beef4a1ba33",
        },
    },
}


def _build_keys(project) -> dict[str, str]:
    project.write("data/raw.txt", "1 2 3\n")
    project.write("lib/__init__.py", "")
    project.write("lib/helpers.py", HELPERS)
    project.write("src/steps.py", STEPS)
    project.write("src/consts.py", "TWO = 2\n")
    project.assetfile(ASSETFILE)
    site = project.root.parent / "fake-site"
    for rel, text in FAKEDIST.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    sys.path.append(str(site))
    err = io.StringIO()
    try:
        r = project.build(reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2))
    finally:
        sys.path.remove(str(site))
    assert err.getvalue() == ""  # every part of the corpus is seen: no warning
    assert r.ok, [(x.asset, x.error) for x in r.results if x.status == "failed"]
    with LmdbStore(project.root / ".assetbuild", readonly=True) as store:
        return {name: head.key for name, head in sorted(store.heads().items())}


def test_keys_of_the_corpus_are_pinned(project):
    got = {"parts": {case: make_key("asset", parts) for case, parts in KEY_PARTS.items()},
           "project": _build_keys(project)}
    if os.environ.get("ASSETBUILD_RECORD_GOLDEN"):
        print(json.dumps({INTERPRETER: got}, indent=4, sort_keys=True))
    want = GOLDEN.get(INTERPRETER)
    if not want or not want["project"]:
        pytest.skip(f"no golden keys recorded for {INTERPRETER} (record them: see the module docstring)")
    assert got["parts"] == want["parts"], "key encoding changed: bump KEY_SCHEMA on purpose and record"
    assert got["project"] == want["project"], "keys changed: bump FINGERPRINT_VERSION/KEY_SCHEMA and record"


def test_keys_are_the_same_in_a_second_project_directory(project, tmp_path):
    """Keys hold no absolute path: the same corpus elsewhere gives the same keys."""
    from projects import Project

    other = tmp_path / "elsewhere" / "proj"
    other.mkdir(parents=True)
    assert _build_keys(project) == _build_keys(Project(other))
