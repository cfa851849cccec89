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
            # report and scaled reach annotated functions (describe's int implementation, the
            # dataclass Config's __init__): keys changed when annotations entered them
            "report": "bcf3e3c8dc442ecfc147b44ea317fa8ee63862b674c4297a6842819f5775e10d",
            "scaled": "b0bdbb6db92eeb636f0b1804c91a9f7cb9bf54c56ddaf49f523635cf3299cd2d",
            "unit_total": "1d309dd089ac7ef7809d2cfcc49d84b7628fb3513eb542b77047e056b03c86e4",
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
            "closure": "b7138d7251ed3a10c3217f412c61d6aa703374801c2fc1427f6c93d76dcddd97",
            "count": "4e5b30baa1634aea1af622182ec617bc41187c36874ec03df44b583c4a45a445",
            "lazy": "5ea8b655727c60765051e2474274b3079cfc4b155a135d30492055584ac9374b",
            "lazy_lib": "ad0d25fb1e237d6d79afff0481ff0d417a21ba7bbe7a75455c3e3930b76f29bc",
            "numbers": "299cdc59fc8fb24587ad49bbcb402a343546a324a7256f324c9ae0bb34f5c075",
            "pinned": "4da3ac37607f93064e05ec165d49437023c01afc1690677f0688876fb1543a35",
            "priced": "a10d207e9782f807cca9d0b2eaacadb815bb8733ac12d5b943c987beea4d1059",
            "report": "e529f11301dc5a45d5eb8280315b1a05f298b199d779d9e2eb6f102fc94c23f2",
            "scaled": "1f1554b2e4cf787489262263a120a9f3be24bd4a99f3b95f2d8199c2770a1e01",
            "unit_total": "2614fa5838e13203f9cdbbc59e43214d569d5d8cccabb2abbe43160fb8a8b8b6",
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
            "closure": "e523b3deccf9d41cd5e8b1569a6b84b394ffbfe5ea89370b9b1b460e01fb7efe",
            "count": "9fe1fadb6ebb4fd988fd26561dcf406d929b6b37c5d04d4d4901bbe3799045ab",
            "lazy": "43a483833a023a7d828642a32dedf6b34a28bf157b7a3774b3907bde1e8287f4",
            "lazy_lib": "5b08305a695297c049ed895092fe7a1c73f2d11ab9e19d71b788e89accd75c9f",
            "numbers": "fbc95013fb86fab3d0a105cb2a3abccd565d774fac195ed00062234cbfaaf70c",
            "pinned": "b1085ec3bba8efe034abfbe36fd54823f014149931c9e4a0fbb7341f72a14d9b",
            "priced": "04f10368630a61082f34d2abbb1cd5e74f25ddb8bfba60d16d334aa62b7530f8",
            "report": "57d5d2646baaa5678d510b5bcc7535edd238f2b104a14ad7bd99744bca290959",
            "scaled": "0445aa9586fd36c0ac0bf7638eb8622e51a0f181bdc66e2b1fdc0ce46c37c519",
            "unit_total": "27565ebec23cff8b4bee27e6b645a6de33fe19d113d12656241d4a91adba4935",
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
            "closure": "a57a73b03843b107ef4a0abb85a05c17b95606032d76da14cc6749e15002647f",
            "count": "f137dc97d0199b79695b9f6f509d61cff4afeb03e07ac5e71037e1e680dd2fb0",
            "lazy": "902a202c67c776d363dd7cdd008be2943c321f0aa6b8c8ee92ece5a20c3a9b0b",
            "lazy_lib": "4e0a15dd2b9720c9eb3ea54724d2c5daae886235fc62c7c854cb52d67d5a6e1b",
            "numbers": "d9260bb0289120f64208a90a7f07672f80a41e825d45a8f5db532eb2041e0d02",
            "pinned": "166117c81f939fb8bceaeca0e09041fe36a6300a975a8c658d4720b3bec91fb7",
            "priced": "4982ea2957a6d614e75bd8ae9483ff92c099d88c878e6269540a2802e71aa086",
            "report": "2a93f1c153707c040151f4c4b36404dc43422be448345999e84ab90192bb4a05",
            "scaled": "7e106ed205ef2b8b69954026d3406b9c1ba416f615843961fcdd6c472fa92623",
            "unit_total": "3b0975640ee163633d5ffb7e1057dc8a10f25fd10f91ebffd1952522c59bc986",
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
