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
    # an out of a multi-asset, second in its outs; and as an out's head recorded before its place
    # entered keys reads (out_index -1): the key it was made with
    "multi_out": KeyParts("c" * 64, {}, (("a", "d" * 64),), "json@1", None, producer="split", out_index=1),
    "multi_out_unplaced": KeyParts("c" * 64, {}, (("a", "d" * 64),), "json@1", None, producer="split"),
    # inputs passed otherwise than the parameters in order imply (def f(x=None, y=None), ins={"y": "a"}, deps=["b"])
    "binding": KeyParts("c" * 64, {}, (("a", "d" * 64), ("b", "e" * 64)), "json@1", None, binding=("y", "")),
}

# keys.INTERPRETER -> {"parts": {case: key}, "project": {asset: key}}
# The keys of the project's io="json" assets (all but report, io="text", and units, io="pickle")
# changed when the json IO manager's version went to 2 (it keeps each dict's order; version 1
# sorted the keys): "json@2" enters them. report and units read the same bytes: theirs did not.
GOLDEN: dict[str, dict[str, dict[str, str]]] = {
    "cpython-311-O0": {
        "parts": {
            "binding": "eb81d7ea838df5189ed9c1f3e4215cb5a7de1ff1d0a26f2036b58f205449dbee",
            "code_version": "dbf42ec7ec69ee4b759b3e09d0742c46dfa03e18d6c186e7601ae3105ac95fd8",
            "multi_out": "a30a93d7e9e41175531fc824e1caf402876aa1bf0e7419c6f00b394f83910cee",
            "multi_out_unplaced": "8f4e5e9cb5407ffe87265d698fcf4de90ab5ae8ea541b21cbfbc074f1deab5e4",
            "path": "e1cf182ba53704a2c6753b04a14d3481c1e8aa144ca414f91ac03077e1d8c4b6",
            "plain": "5dfe793b76329b91632db5a187634d21ffe7a05d8d4efba6d3f4d5e6aa8e997c",
            "source": "1a47cc746dd71ae54adcc5ef34a6fc6caba84692215a0c226c421138b2441ebd",
        },
        "project": {
            "closure": "a426bf419f1fcba0c8cac7df0b656f5e9bc20523d60392bd7cde9b59a2315c95",
            "count": "7e2be856c617a409f9433d8d3431b789f78459873a793bf42107cf5e5738c1e7",
            # an in-function import of a project module (a namespace package, a relative import)
            "lazy": "ef7f706049c94b11916a6528917c16d122378ef7dacc6c9d860a94981ff78549",
            # in-function imports of the stdlib and of an installed distribution (by version)
            "lazy_lib": "9a96fbb0a2003996f8e578b577a8249250f1279f503e753acadc96039da82a4b",
            "numbers": "d306fcf6ed83ecdd2e6bedc9b6251ebbef69d7e780ed2175013d2b72667c01f6",
            "pinned": "11b03b6bb1f2b102013536dc65cf9a50222e4d14fa82f186f1689bcff0e1c475",
            # priced and scaled read the dict RATES: keys changed when a dict's order entered them
            "priced": "e142c036b9b8fc103fe10dac46cdeb4326783e9c15318dcc73afcee80dd6d87d",
            # report and scaled reach annotated functions (describe's int implementation, the
            # dataclass Config's __init__): keys changed when annotations entered them
            "report": "bcf3e3c8dc442ecfc147b44ea317fa8ee63862b674c4297a6842819f5775e10d",
            "scaled": "f47929ad4623082fef436c226f74e101a4d3ddb2a42fd3add860be4c60c884b9",
            "unit_total": "48285493f7c5c93e7d11845f004a4b5e759547c7ea4644aa6ccccfa5c71b77fa",
            "units": "25a177dc786ab01cf542c82f14839c2dda74e8bdb06ad945ebfd9beef4a1ba33",
        },
    },
    "cpython-310-O0": {  # recorded with Python 3.10.13 (a patch release that changed bytecode would show here)
        "parts": {
            "binding": "8193fb01bd1b6abd7936c812767061cc4f2c3341a7d31c65f2ba23e6ff84153d",
            "code_version": "1a362cde8098c1db24df5c5cc84145fa00eac604c64e857574d677564d61ae49",
            "multi_out": "f6ecededbf30220998e66dc878f00b65851ed357fa59b43250c53af27a5baa7c",
            "multi_out_unplaced": "f14a86fdec657ff9f7eae858d83403a6c6f3eae753b9516228bc02c19428797b",
            "path": "b8961e41479a3c92f26f1c6c4740e4326448a1d76089f00dcb5e6e4e74ebd673",
            "plain": "ab6c924bdf3de83e472f22f83d3732897ab650882905ff84813bc8ada66abe7a",
            "source": "d2534f09d6a4dd8d7bcbd788855f1d9609c247db3a20e3f58ecd96be14cdff59",
        },
        "project": {
            "closure": "4eac388fd43797e64d2c562af4c1de6bf8e7bd0a1bcd8d64c52b9e937721498f",
            "count": "d3dcd85bb427ef3f5b698e54d2aad2e477ed310e344e4c778e6b6546606d9399",
            "lazy": "51f52f01b73305ae9390af35a9007095e0ce6e5e26b01e6ff8e406dc26ae3ff3",
            "lazy_lib": "770e938639768ad71fe13cb79ead355506bdb5caab05cc9ad9031870d54fa257",
            "numbers": "ada14a7f8c9277b800c648e701bc8373a19a463c6ba6a3a17bb99e17fdc4af34",
            "pinned": "9735a64a88aec628e5ddc7944687336177f61a831b400a5ef8cb1e3d7158ec32",
            "priced": "9c0df601ec740524a8c6a10a170021eb75ab1556ec0fe911a3c51037a49331ca",
            "report": "e529f11301dc5a45d5eb8280315b1a05f298b199d779d9e2eb6f102fc94c23f2",
            "scaled": "ea161659c0d6db84e6490ebf7f66cddbf4e0fcfacd158f9995c4e8978026649b",
            "unit_total": "b0ee9676ca7bca0bfeb35205ccc12aee36dfefaf423618b1a8f63ea036633464",
            "units": "3b23043d80b1d4cf4bfb61d6589fa23dc0e90aba47753a9246ceccf8fa538e7b",
        },
    },
    "cpython-312-O0": {  # recorded with Python 3.12.1 (a patch release that changed bytecode would show here)
        "parts": {
            "binding": "d57b58c80c54b39cf2dbc04adc96ed8a1dd1a47323d01a02da5f6e210ca0fb10",
            "code_version": "498090fe85b6b68bda1f19a4dd00cd53503751644c204fab23c9b57bd9176944",
            "multi_out": "9b567ab8ab184023c96290cf981076784f47a0efcf48c55e322e2d30ede96621",
            "multi_out_unplaced": "93de9361d12e05bf60950ff2b25810a109eee5d0f25fc38ec30484d8ecad5fac",
            "path": "f1bdb4e964fabbfafa07e75050643b3ddec0e80e23eb3f81f6a1f446c6f832fa",
            "plain": "3ef738f24465524b8ad4abc17601de6d14df5a316f80f7622e89856bbbd01678",
            "source": "a86c3e5eb133018f53c8e1b17c1c39bf1f799d5620649309bf1baa2890f841d3",
        },
        "project": {
            "closure": "7579e1901fcf149b4cb2eb364a9ae8685bd0ec9353aa61882a545a1238284223",
            "count": "ccc516136fe3f2917b9331ceb766a7bdff508d9c03cf0af43961fad9f8e7e7e0",
            "lazy": "5e78e4124b8552aff03df6949ec77a19e3bdf2732529826ea86906c6b0791639",
            "lazy_lib": "445832b052f5cbd0cb958e542afe7631989bce5f12aafc14062dc5b34fc6035a",
            "numbers": "6f772d6cdaf03a80450827e122f41b67575a031d84a40cd18bf5b739aff28aa5",
            "pinned": "2a49d984beb13136fe982b8d45464e84aef2969f152ae14299324a5b7eda87af",
            "priced": "5e0500c22ebce473d56cc6cd2083e2d5b617a851afe5baac1247e71d736b0e43",
            "report": "57d5d2646baaa5678d510b5bcc7535edd238f2b104a14ad7bd99744bca290959",
            "scaled": "c032ca97f38583684bcb3a7b839d1c6dc872e765da51e13572ef872aadc2b8e2",
            "unit_total": "2bb2e5b9eff6fda34abe8a4de788f7e12611fa29116fb57e893231e1ece73a34",
            "units": "ddbc1747ec83a1e3a9ec2d19e69d48dd59d2a20f54500899c00f01f4a59dcdbe",
        },
    },
    "cpython-313-O0": {  # recorded with Python 3.13.0 (a patch release that changed bytecode would show here)
        "parts": {
            "binding": "f09d1c04a32bcfab990b340c2c0638a45ea383570bf7bd64223b66c2541cd8f3",
            "code_version": "422bf1af37405d245de9fbded2a83d7002214791cb114053b66225c1b21a7927",
            "multi_out": "279b4434deef5ca7e3318b7e3ec010fbf9216cf824032f16fa8f6189efa5b5fc",
            "multi_out_unplaced": "f14700bb956f941315fb61854c0580f902b3f9d3afc5e24cb06ef2977ef9bedc",
            "path": "9ea266934c64267b284316fbcb1662c06890a7060fe554627061792a2ff07fc1",
            "plain": "8540565a1ef2cafb59241d90fe7aced83e98d0dcc04a74ebee16e6d1ebfbe8a0",
            "source": "d88d96ca40d26dfdf2cb6965b317730c0f9c84867ba80d1b5abefa1eab36dfb6",
        },
        "project": {
            "closure": "26dee13c74936053458092361437e770024f8a27b3e3891cc3cf4d42e5f42baa",
            "count": "664cf54f90d7edd7509c9956a0e44ce37d1fff79e0adbb9273d5050cfe7d73f7",
            "lazy": "cbac50983e70af2f7da258f7e5dd9b09fd9fa1ab3c7147cb6fc601b2cdabfe3b",
            "lazy_lib": "5af8c20d37afdea8be211a7f9c9b5e70db27ee7de664efe8f1dba1d481199ea4",
            "numbers": "aa1dfe304f01c6f36d6924cbc4f51c473e956a7123cbf4c296508290741a6459",
            "pinned": "c1cd675e810a17831afd1909f1b47d3828b7c2e24a725eafbc15bcf747f06f25",
            "priced": "a0b2024c11c5e9e237fe224f93ac46ab669ecc271e2dc064370d766c5eadaf84",
            "report": "2a93f1c153707c040151f4c4b36404dc43422be448345999e84ab90192bb4a05",
            "scaled": "f3149b42991fd82a0ac1c5aa7200fff641bef3dbfcdbe5180e516d0c9d7ca7bb",
            "unit_total": "a11dcf369dd758de9bef3fa621d72fa82633fa046ea5424f0bc80b62b6f2b729",
            "units": "90d72b19511102e900003cbd6ef1b8e408a6ecb8e58895c452cb129eb3a030d4",
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
