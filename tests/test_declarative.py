"""The static check that lets a null build skip executing an AssetFile (assetbuild.declarative):
what it accepts, what it refuses (with the line and the reason), on tables, on random modules and
on the real AssetFiles of this repository."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetbuild import declarative
from assetbuild.declarative import DECLARATIONS, ENGINE, Refusal, facts, refusal
from assetbuild.outline import outline

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"config": {"THRESHOLD", "SETTINGS", "helper", "Shape"}, "lib": set(), "lib.cleaning": {"VALID"}}


def check(src: str, project=PROJECT) -> Refusal | None:
    return refusal(textwrap.dedent(src), "AssetFile", project)


ACCEPTED = {
    "imports": """
        from __future__ import annotations
        import os, sys
        import os.path as osp
        import xml.etree.ElementTree
        from pathlib import Path
        from os import *
        from . import sibling
        from .pkg import thing
        """,
    "docstring, constants, __all__": '''
        """The module's docstring."""
        "another string"
        42
        ...
        __all__ = ["a", "b"]
        pass
        ''',
    "a class's own __getattr__": """
        class C:
            def __getattr__(self, name):
                return name
        """,
    "static assignments": """
        A = 1
        B, (C, *D) = 1, (2, 3, 4)
        E: int = A + 2 * B
        F = [A, *D, {"k": B, **{"x": 1}}, {1, 2}, (A,)]
        G = -A if A > 0 and not B else ~C
        H = f"{A}-{B!r:>{C}}"
        I = F[0] + F[1:2][0]
        J = H.upper
        K: str
        L = M = None
        N = {"dtype": int, "types": (str, bytes), "f": open}
        """,
    "assetbuild's declarations": """
        import assetbuild
        import assetbuild.partitions as parts
        from assetbuild import DailyPartitions, In, Out, Output, asset, multi_asset, source
        from assetbuild.partitions import HourlyPartitions
        from assetbuild import partitions
        orders = source("orders", "data/orders.csv", description="raw")
        regions = assetbuild.source("regions", "data/regions.json")
        days = DailyPartitions(start="2024-03-02")
        hours = parts.HourlyPartitions(start="2024-03-02")
        more = assetbuild.partitions.WeeklyPartitions(start="2024-03-04")
        also = partitions.MonthlyPartitions(start="2024-03")
        h2 = HourlyPartitions(start="2024-03-02")
        out = Out(io="json")
        klass = assetbuild.Output
        """,
    "decorated defs": """
        import assetbuild
        from assetbuild import asset, multi_asset, observable_source, resource, Out, source
        raw = source("raw", "data/raw.csv")
        OPTS = {"io": "json"}

        @asset
        def a(raw):
            return open(raw).read() + str(__import__("os").environ)

        @asset(io="json", path="build/b.json", deps=[a, "x"], **OPTS)
        def b(a, n=3, *, m=OPTS["io"]):
            import time
            return time.time()

        @assetbuild.asset(group="g")
        async def c(b):
            return b

        @multi_asset(outs={"x": Out(io="json"), "y": Out()})
        def d():
            return 1, 2

        @resource
        def client():
            return None

        @observable_source(poll=30)
        def feed():
            return None
        """,
    "annotations, evaluated": """
        import typing
        import typing as t
        import collections.abc
        from typing import Literal, Optional
        import numpy as np
        import config
        from assetbuild import asset, Output
        ALIAS = {"k": int}

        @asset
        def f(x: int, y: "Later", z: list[int] | None = None, *a: typing.Any,
              w: Optional[np.ndarray] = None, q: Literal["a", 1] = "a", **k: dict[str, int]) -> np.ndarray:
            return x

        def g(m: collections.abc.Mapping[str, t.Optional[int]], n: ALIAS["k"], o: config.Shape[int],
              p: (int, os.PathLike), r: [int]) -> Output[int]:
            pass
        V: tuple[int, ...] = (1,)
        """,
    "annotations, not evaluated": """
        from __future__ import annotations
        import os

        def f(x: os.environ["X"], y: open("f").read()) -> (lambda: time.time())():
            return x
        V: os.getenv("X") = 1
        """,
    "classes": '''
        from assetbuild import asset
        LIMIT = 3

        class Plain:
            """A plain class."""
            A = LIMIT
            B: int = A + 1
            C: str
            pass

            def method(self, n=B, *, m=LIMIT) -> int:
                return self.helper(open("x"))

            @asset(io="json")
            def asset_method(self):
                return 1

            class Inner:
                D = 4

        class Obj(object):
            pass

        X = Plain.A
        Y = [Plain, Obj]
        ''',
    "project modules": """
        import config
        import lib.cleaning
        import lib.cleaning as cleaning
        from config import THRESHOLD, Shape, helper
        from lib import cleaning as c2
        from assetbuild import asset
        A = config.THRESHOLD * 2
        B = config.SETTINGS["key"]["deeper"]
        C = lib.cleaning.VALID
        D = cleaning.VALID + c2.VALID
        E = THRESHOLD + 1
        F = [helper, Shape]

        @asset(params={"t": config.THRESHOLD})
        def f(x=THRESHOLD):
            return helper(x)
        """,
    "operators on assetbuild values": """
        from assetbuild import source, asset
        s = source("s", "data/s.csv")
        names = [s] + [s]
        first = names[0]
        path = s.path if s else None
        """,
    "a bare expression of static values and declarations": """
        from assetbuild import source
        A = 1
        A
        source("s", "data/s.csv")
        """,
    "star import from assetbuild": """
        from assetbuild import *
        s = source("s", "data/s.csv")

        @asset
        def f(s):
            return s
        """,
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_accepted(name):
    assert check(ACCEPTED[name]) is None


REFUSED = {
    # module-level calls, in every disguise
    "re.compile of a non-literal": ("import re\nX = re.compile(open('p').read())", 2, "literal"),
    "re.match": ("import re\nX = re.match('a', 'a')", 2, "re.match"),
    "open": ("X = open('config.txt').read()", 1, "call"),
    "open().read()": ("from assetbuild import source\nX = 1\nY = open('f').read()", 3, "open"),
    "os.getenv": ("import os\nX = os.getenv('HOME')", 2, "os.getenv"),
    "time.time": ("import time\n\nSTAMP = time.time()", 3, "time.time"),
    "datetime.now": ("from datetime import datetime\nNOW = datetime.now()", 2, "datetime.now"),
    "Path.read_text": ("from pathlib import Path\nT = Path('x').read_text()", 2, "Path"),
    "load_dotenv": ("from dotenv import load_dotenv\nload_dotenv()", 2, "load_dotenv"),
    "print": ("print('hello')", 1, "print"),
    "getattr": ("import os\nE = getattr(os, 'environ')", 2, "getattr"),
    "__import__": ("E = __import__('os').environ", 1, "__import__"),
    "exec": ("exec('import os')", 1, "exec"),
    "eval": ("X = eval('1 + 1')", 1, "eval"),
    "globals() assignment": ("globals()['X'] = 1", 1, "assignment"),
    "globals() read": ("X = globals()['Y']", 1, "globals"),
    "a project function called": ("from config import helper\nX = helper(1)", 2, "helper"),
    "a local function called": ("def f():\n    return 1\nX = f()", 3, "f"),
    "an alias of a declaration called": ("from assetbuild import source\ns = source\nX = s('a', 'b')", 3, "call"),
    "the engine": ("from assetbuild import build\nbuild()", 2, "build"),
    "the engine, qualified": ("import assetbuild\nR = assetbuild.load_value('x')", 2, "load_value"),
    "the engine, from a submodule": ("from assetbuild.session import build\nbuild()", 2, "build"),
    "the engine, through a submodule": ("import assetbuild\nX = assetbuild.definitions.os", 2, "declarations"),
    "a declaration's argument calls": ("from assetbuild import source\ns = source('s', open('p').read())", 2, "open"),
    # the environment, by attribute or index
    "os.environ": ("import os\nX = os.environ['HOME']", 2, "environ"),
    "from os import environ": ("from os import environ\n\nX = environ['HOME']", 3, "environ"),
    "os.environ.get, aliased": ("import os as o\nX = o.environ.get('HOME')", 2, "o.environ.get"),
    "os.environ, bare": ("import os\nX = os.environ", 2, "environ"),
    "environ as a value": ("from os import environ\nX = {'env': environ}", 2, "environ"),
    "environ merged": ("from os import environ\nX = environ | {}", 2, "environ"),
    "environ unpacked": ("from os import environ\nX = {**environ}", 2, "environ"),
    "environ in an f-string": ("from os import environ\nX = f'{environ}'", 2, "environ"),
    "sys.argv": ("import sys\nX = sys.argv[1]", 2, "argv"),
    "a project module's import": ("import config\nX = config.os.environ", 2, "config.os"),
    "a project module's unknown name": ("from config import environ\nX = environ['HOME']", 2, "environ"),
    "a project module used as a value": ("import config\nX = [config]", 2, "module"),
    "a module not declared as a project's": ("import settings\nX = settings.DEBUG", 2, "settings"),
    "a dunder attribute": ("def f():\n    pass\nG = f.__globals__", 3, "dunder"),
    "a dunder on a constant": ("X = (1).__class__", 1, "dunder"),
    "an unbound name": ("X = undefined_thing", 1, "not bound"),
    "__file__": ("X = __file__", 1, "not bound"),
    "__name__": ("X = __name__", 1, "not bound"),
    "a builtin's attribute": ("X = open.x", 1, "open"),
    "a builtin indexed": ("X = dict['x']", 1, "dict"),
    "a builtin after a star import": ("from os import *\nX = open", 2, "star"),
    "a name a star import may replace": ("environ = {}\nfrom os import *\nX = environ['HOME']", 3, "star"),
    "a function's attribute": ("def f():\n    pass\nX = f.attr", 3, "function"),
    "a class indexed": ("class C:\n    pass\nX = C['k']", 3, "class"),
    # statements
    "for": ("from assetbuild import asset\nfor i in range(3):\n    pass", 2, "for"),
    "while": ("while False:\n    pass", 1, "while"),
    "if": ("if True:\n    X = 1", 1, "if"),
    "if __name__": ("X = 1\nif __name__ == '__main__':\n    pass", 2, "if"),
    "try": ("try:\n    import yaml\nexcept ImportError:\n    yaml = None", 1, "try"),
    "with": ("with open('f') as f:\n    X = f.read()", 1, "with"),
    "match": ("match 1:\n    case 1:\n        pass", 1, "match"),
    "augmented assignment": ("X = 1\nX += 1", 2, "augmented"),
    "del": ("X = 1\ndel X", 2, "del"),
    "global": ("global X", 1, "global"),
    "attribute assignment": ("import config\nconfig.THRESHOLD = 2", 2, "assignment"),
    "subscript assignment": ("X = {}\nX['k'] = 1", 2, "assignment"),
    "annotated attribute assignment": ("import config\nconfig.T: int = 2", 2, "assignment"),
    "walrus": ("(X := 1)", 1, "walrus"),
    "walrus in a value": ("Y = [X := 1]", 1, "walrus"),
    "assert": ("assert True", 1, "assert"),
    "raise": ("raise SystemExit(1)", 1, "raise"),
    "lambda": ("F = lambda: 1", 1, "lambda"),
    "comprehension": ("X = [i for i in (1, 2)]", 1, "comprehension"),
    "dict comprehension": ("X = {i: i for i in (1, 2)}", 1, "comprehension"),
    "generator": ("X = tuple(i for i in (1, 2))", 1, "call"),
    "await": ("async def f():\n    pass\nX = await f()", 3, "await"),
    "yield": ("X = (yield)", 1, "yield"),
    "import in a class": ("class C:\n    import os", 2, "import"),
    "a loop in a class": ("class C:\n    for i in (1,):\n        pass", 2, "class body"),
    # classes and decorators
    "class base": ("class C(dict):\n    pass", 1, "base"),
    "class base from a project": ("from config import Shape\nclass C(Shape):\n    pass", 2, "base"),
    "metaclass": ("import abc\nclass C(metaclass=abc.ABCMeta):\n    pass", 2, "metaclass"),
    "class decorator": ("from dataclasses import dataclass\n@dataclass\nclass C:\n    x: int = 1", 2, "decorator"),
    "class decorator from assetbuild": ("from assetbuild import asset\n@asset\nclass C:\n    pass", 2, "decorator"),
    "__class_getitem__": ("class C:\n    def __class_getitem__(cls, k):\n        return k", 2, "__class_getitem__"),
    "dataclass decorator": ("import dataclasses\n@dataclasses.dataclass\nclass C:\n    pass", 2, "decorator"),
    "functools.cache": ("import functools\n@functools.cache\ndef f():\n    pass", 2, "functools.cache"),
    "a project decorator": ("from config import helper\n@helper\ndef f():\n    pass", 2, "helper"),
    "a local decorator": ("def deco(f):\n    return f\n@deco\ndef g():\n    pass", 3, "deco"),
    "staticmethod in a class": ("class C:\n    @staticmethod\n    def f():\n        pass", 2, "staticmethod"),
    "a decorator's argument calls": ("from assetbuild import asset\n@asset(deps=[open('x').read()])\ndef f():\n    pass",
                                     2, "open"),
    "a decorator's argument reads the environment":
        ("import os\nfrom assetbuild import asset\n\n@asset(io=os.environ['IO'])\ndef f():\n    pass", 4, "environ"),
    "a decorator's argument lambda": ("from assetbuild import asset\n@asset(key=lambda: 1)\ndef f():\n    pass",
                                      2, "lambda"),
    # defaults and annotations
    "a default calls": ("import time\ndef f(x=time.time()):\n    pass", 2, "default"),
    "a keyword default calls": ("import time\ndef f(*, x=time.time()):\n    pass", 2, "time.time"),
    "a method default calls": ("import time\nclass C:\n    def f(self, x=time.time()):\n        pass", 3, "time.time"),
    "an annotation calls": ("def f(x: g()):\n    pass", 1, "annotation"),
    "a return annotation calls": ("import os\ndef f() -> os.getenv('T'):\n    pass", 2, "annotation"),
    "an annotation indexes the environment": ("import os\ndef f(x: os.environ['T']):\n    pass", 2, "annotation"),
    "an annotation indexes argv": ("from sys import argv\ndef f(x: argv[1]):\n    pass", 2, "argv"),
    "a variable annotation calls": ("X: open('f').read() = 1", 1, "annotation"),
    "an annotation lambda": ("def f(x: (lambda: int)()):\n    pass", 1, "annotation"),
    "an annotation indexes a third-party object": ("import numpy as np\ndef f(x: np.ndarray[int]):\n    pass",
                                                    2, "__future__"),
    "an annotation reaches through a project module":
        ("import config\ndef f(x: config.os.environ['X']):\n    pass", 2, "config.os"),
    "an annotation reaches through typing": ("import typing\ndef f(x: typing.sys.argv[1]):\n    pass", 2, "typing.sys"),
    "an annotation indexes a builtin reached by name": ("def f(x: list.x[1]):\n    pass", 1, "annotation"),
    "an annotation indexes a function": ("def g():\n    pass\ndef f(x: g[1]):\n    pass", 3, "annotation"),
    "a class assigns __class_getitem__": ("from config import helper\nclass C:\n    __class_getitem__ = helper", 3,
                                          "__class_getitem__"),
    "a class annotates __class_getitem__": ("def h():\n    pass\nclass C:\n    __class_getitem__: int = h", 4,
                                            "__class_getitem__"),
    "an annotation dunder": ("def f(x: int.__dict__):\n    pass", 1, "dunder"),
    # PEP 562: ``from m import NAME`` of a name m lacks calls m.__getattr__ as the importer loads
    "a module __getattr__": ("def __getattr__(name):\n    return open(name).read()", 1, "__getattr__"),
    "a module __getattr__ assigned": ("def lazy(name):\n    pass\n__getattr__ = lazy", 3, "__getattr__"),
    "a module __getattr__ annotated": ("def lazy(name):\n    pass\n__getattr__: object = lazy", 3, "__getattr__"),
    "a module __getattr__ imported": ("from config import helper as __getattr__", 1, "__getattr__"),
    "future import elsewhere does not help": ("def f(x: g()):\n    pass\nfrom os import path", 1, "annotation"),
    # unparseable sources
    "syntax error": ("x = (\n", 1, "parse"),
    "NUL byte": ("x = 1\0", 1, "parse"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused(name):
    assert_refused(name, *REFUSED[name])


def assert_refused(name: str, src: str, line: int, word: str) -> None:
    """``src`` is refused at ``line``, with ``word`` in the reason, in one line (tests/test_staticforms.py too)."""
    got = check(src)
    assert got is not None, f"{name} was accepted"
    assert (got.filename, got.line) == ("AssetFile", line), str(got)
    assert word in got.reason, str(got)
    assert str(got) == f"AssetFile:{line}: {got.reason}" and "\n" not in str(got)


def test_a_refusal_reads_as_one_line_for_the_user():
    got = check("import time\n\nSTAMP = time.time()\n")
    assert str(got).startswith("AssetFile:3: a call at module level (time.time) runs code on every load")


def test_bytes_and_a_syntax_error_never_raise():
    assert refusal(b"from assetbuild import asset\nX = 1\n", "AssetFile") is None
    got = refusal(b"def f(:\n", "AssetFile")
    assert got is not None and got.line == 1 and "parse" in got.reason
    assert refusal(b"\xff\xfe", "AssetFile") is not None


def test_without_project_modules_a_module_attribute_is_refused():
    """Names from a project module are static only when the caller says which names it binds."""
    assert check("import config\nX = config.THRESHOLD") is None
    assert check("import config\nX = config.THRESHOLD", project={}) is not None
    assert check("from config import THRESHOLD\nX = THRESHOLD", project=None) is not None
    assert check("import config\nX = config.THRESHOLD", project={"config"}) is not None  # names only
    assert check("from config import THRESHOLD\nX = 1", project=["config"]) is None


def test_facts_gives_imports_and_exports():
    f = facts(textwrap.dedent("""
        from __future__ import annotations
        import os.path
        from lib import cleaning
        from . import sibling
        from .inner import thing as other
        import assetbuild
        from assetbuild import source
        A = 1
        B = A
        os = 3
        def f():
            pass
        class C:
            pass
        from x import A
        """), "pkg/mod.py", None, package="pkg")
    assert f.refusal is None
    assert f.imports == ("os", "os.path", "lib", "lib.cleaning", "pkg", "pkg.sibling", "pkg.inner",
                         "pkg.inner.thing", "assetbuild", "assetbuild.source", "x", "x.A")
    assert f.exports == {"B", "os", "f", "C"}  # A's last binding is an import
    assert facts("from . import a\nfrom ..b import c\n", "AssetFile").imports == (".", ".a", "..b", "..b.c")
    assert facts("from .. import a\n", "pkg/mod.py", None, package="pkg").imports == ("..", "..a")
    assert facts("from .. import a\n", "p/q/m.py", None, package="p.q").imports == ("p", "p.a")
    star = facts("A = 1\nfrom x import *\nB = 2\n", "m.py")
    assert star.refusal is None and star.exports == {"B"}
    assert facts("X = open('f')\n", "m.py").exports == frozenset()


def test_exports_reach_through_project_modules_to_a_fixed_point():
    a, b, top = "X = {'k': 1}\n", "from a import X\n", "import b\nY = b.X['k']\n"
    empty = {"a": frozenset(), "b": frozenset()}
    assert facts(b, "b.py", empty).exports == frozenset()  # before a's exports are known
    ea = facts(a, "a.py", empty).exports
    eb = facts(b, "b.py", {"a": ea, "b": frozenset()}).exports
    assert (ea, eb) == ({"X"}, {"X"})
    assert refusal(top, "AssetFile", {"a": ea, "b": frozenset()}) is not None
    assert refusal(top, "AssetFile", {"a": ea, "b": eb}) is None
    # a project module that imports the environment never exports it
    eb = facts("from os import environ\nimport os\n", "b.py").exports
    assert eb == frozenset()
    for read in ("b.environ['HOME']", "b.os.environ", "b.os"):
        assert refusal(f"import b\nY = {read}\n", "AssetFile", {"b": eb}) is not None


def test_the_declaration_names_are_assetbuild_s_public_names():
    """A new public name must be sorted: a declaration (callable at load) or the engine."""
    import assetbuild

    assert DECLARATIONS | ENGINE == set(assetbuild.__all__)
    assert not DECLARATIONS & ENGINE
    assert ENGINE == {n for n, m in assetbuild._LAZY.items() if m in ("session", "plugins")}


# --- random modules: compositions of accepted statements, then one refused statement inserted ---

HEADER = ["from assetbuild import DailyPartitions, Out, asset, multi_asset, source", "import os", "import config",
          "import re", "from typing import TYPE_CHECKING"]
GOOD = [
    "A{i} = {i}",
    "B{i} = [A0, 'x', {{'k': A0}}]",
    "C{i} = f'{{A0}}-{i}'",
    "D{i}, E{i} = 1, 2",
    "S{i} = source('s{i}', 'data/s{i}.csv')",
    "P{i} = DailyPartitions(start='2024-01-01')",
    "T{i} = config.THRESHOLD + A0",
    '"""text {i}"""',
    "@asset(io='json', deps=[A0])\ndef f{i}(x=A0, *, y=B0[0]):\n    return open(x).read()",
    "@multi_asset(outs={{'a': Out()}})\ndef g{i}():\n    return os.environ",
    "class K{i}:\n    N = A0\n    def m(self, z=N):\n        return z",
    # bodies the outline must keep (a string or bracket crosses a line that starts at column 0)
    "def s{i}():\n    return '''\nX = os.environ['A']\ndef t():\n    pass\n'''",
    "def b{i}():\n    return (1 +\n2)",
    "async def c{i}():\n    x = 1\n# a comment at column 0\n    return x",
    "def d{i}(): return os.getenv('X')",
    "def e{i}():\n    '''Doc.'''\n    return A0",
    "def h{i}(a,\n       b=A0):\n    return a",
    'S{i} = """\ndef inside_a_string():\n    return 1\n"""',
    "@asset(io='json', path=\"out/p{i}.json\")\ndef p{i}(n):\n    return n",
    "@asset(\n    io='json')\ndef q{i}(n):\n    return n",
    "R{i} = [(re.compile(r'\\d+-{i}', re.I | re.M), 'x')]",
    "if TYPE_CHECKING:\n    from os import environ\n    import json as j{i}",
]
BAD = [  # (statement, line of the refusal within it)
    ("X = os.getenv('HOME')", 1),
    ("X = os.environ['HOME']", 1),
    ("for _ in range(2):\n    pass", 1),
    ("R = re.compile(os.environ['P'])", 1),
    ("R = re.compile('a', re.DEBUG)", 1),
    ("if TYPE_CHECKING:\n    import json\nelse:\n    json = None", 4),
    ("if TYPE_CHECKING:\n    import json\n    X = os.getenv('A')", 3),
    ("X = [i for i in range(3)]", 1),
    ("@asset(deps=[open('x').read()])\ndef bad():\n    pass", 1),
    ("def bad(x=os.times()):\n    pass", 1),
    ("import functools\n@functools.cache\ndef bad():\n    pass", 2),
    ("class Bad(dict):\n    pass", 1),
    ("if A0:\n    pass", 1),
]
# Where a refused piece may hide inside an accepted statement: (template, lines before the hole's).
HOLES = [("@asset(io={})\ndef hole():\n    pass", 0), ("def hole(x={}):\n    pass", 0),
         ("class Hole:\n    V = {}", 1), ("class Hole:\n    def m(self, x={}):\n        pass", 1)]
BAD_EXPRESSIONS = ["os.getenv('X')", "os.environ['X']", "open('f').read()", "[i for i in A0]", "(lambda: 1)",
                   "re.compile(B0[0])"]


def _statements(draw, n: int) -> list[str]:
    return [draw(st.sampled_from(GOOD)).format(i=i) for i in range(n)]


def _source(statements: list[str]) -> str:
    return "\n".join(HEADER + ["A0 = 0", "B0 = [1]"] + statements) + "\n"


@st.composite
def accepted_modules(draw):
    return _source(_statements(draw, draw(st.integers(0, 8))))


@st.composite
def refused_modules(draw):
    statements = _statements(draw, draw(st.integers(0, 8)))
    at = draw(st.integers(0, len(statements)))
    if draw(st.booleans()):
        bad, offset = draw(st.sampled_from(BAD))
    else:
        template, hole = draw(st.sampled_from(HOLES))
        bad, offset = template.format(draw(st.sampled_from(BAD_EXPRESSIONS))), hole + 1
    statements.insert(at, bad)
    line = len(HEADER) + 2 + sum(s.count("\n") + 1 for s in statements[:at]) + offset
    return _source(statements), line


def full_parse_verdict(src: str) -> tuple[int, str] | None:
    """The verdict on the whole file's tree, every body parsed (what the outline must not change)."""
    checker = declarative._Checker(PROJECT, "")
    try:
        checker.module(ast.parse(src).body)
    except declarative._Refused as r:
        return r.line, r.reason
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(accepted_modules(), refused_modules().map(lambda case: case[0])))
def test_leaving_bodies_out_changes_no_verdict(src):
    got = check(src)
    assert (None if got is None else (got.line, got.reason)) == full_parse_verdict(src)
    short, _ = outline(src)
    assert short.count("\n") >= src.count("\n")  # every line where it was


def test_the_outline_leaves_out_only_safe_bodies():
    src = textwrap.dedent('''\
        from assetbuild import asset

        @asset(io="json")
        def plain(x):
            y = [x,
                 x]
            return y

        def quoted(x):
            return "a"

        def bracket(x):
            return (x +
        1)
        X = 1
        ''')
    short, lines = outline(src)
    assert lines == [4]
    assert short.splitlines()[3:8] == ["def plain(x):", "    ...", "", "", ""]
    assert short.splitlines()[8:] == src.splitlines()[8:]
    assert outline(src.encode())[1] == [4]
    assert outline(b"# -*- coding: latin-1 -*-\ndef f():\n    pass\n")[1] == []


@pytest.mark.parametrize("src", [
    # a format string whose text looks like a decorator or a function: its fields are code
    "X = f'''\n@asset(io=\"{open('f').read()}\")\n'''\n",
    "X = f'''\ndef f():\n    {open(x).read()}\n'''\n",
    "X = f'''\n@asset()\ndef f():\n    {open(x).read()}\n'''\n",
    # a continued line that makes a decorator-looking line an operand: the call stays a call
    "Y = 1\nX = Y \\\n@open(k=\"v\")\n",
])
def test_what_looks_like_a_decorator_or_a_body_inside_code_is_still_checked(src):
    src = "from assetbuild import asset\n" + src + "\ndef g():\n    pass\n"  # a body to leave out
    assert outline(src)[1]
    got = refusal(src, "AssetFile")
    assert got is not None and "open" in got.reason, got
    assert full_parse_verdict(src) is not None


def test_a_syntax_error_is_found_outside_a_left_out_body():
    src = "from assetbuild import asset\n\ndef f(x):\n    return x\n\nX = (\n"
    got = refusal(src, "AssetFile")
    assert got is not None and got.line == 6 and "parse" in got.reason


def test_the_check_leaves_the_garbage_collector_as_it_found_it():
    import gc

    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            assert refusal("X = 1\n", "m.py") is None and refusal("X = (\n", "m.py") is not None
            assert gc.isenabled() == enabled
        finally:
            gc.enable()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accepted_modules())
def test_random_declarative_modules_are_accepted(src):
    got = check(src)
    assert got is None, f"{got}\n{src}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(refused_modules())
def test_one_refused_statement_anywhere_refuses_at_its_line(case):
    src, line = case
    got = check(src)
    assert got is not None and got.line == line, f"{got} (expected line {line})\n{src}"


# --- real AssetFiles ---


def test_the_generated_benchmark_assetfile_is_accepted(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "bench/generate.py"), "--n", "50", "--out", str(tmp_path),
                    "--tools", "assetbuild"], check=True, capture_output=True)
    src = (tmp_path / "assetbuild/AssetFile").read_bytes()
    assert b"@asset(" in src and b"source(" in src
    assert refusal(src, "AssetFile") is None
    assert len(outline(src)[1]) == 50  # every body left out: the check stays cheap on big files


def test_the_demo_is_accepted():
    """The README's demo: its AssetFile and the project module it imports (lib.cleaning)."""
    lib = facts((ROOT / "lib/cleaning.py").read_bytes(), "lib/cleaning.py", None, package="lib")
    init = facts((ROOT / "lib/__init__.py").read_bytes(), "lib/__init__.py", None, package="lib")
    assert lib.refusal is None and init.refusal is None and "parse_row" in lib.exports
    top = facts((ROOT / "AssetFile").read_bytes(), "AssetFile", {"lib": init.exports, "lib.cleaning": lib.exports})
    assert top.refusal is None and "lib.cleaning" in top.imports
    # the same AssetFile with a load-time read of the environment is refused, at that line
    edited = (ROOT / "AssetFile").read_text().replace("TOP_N = 3", "import os\nTOP_N = int(os.environ['TOP_N'])")
    line = edited.splitlines().index("TOP_N = int(os.environ['TOP_N'])") + 1
    got = refusal(edited, "AssetFile", {"lib": init.exports, "lib.cleaning": lib.exports})
    assert got is not None and got.line == line


@pytest.mark.parametrize("path", sorted(ROOT.glob("examples/*/AssetFile")), ids=lambda p: p.parent.name)
def test_every_example_gets_a_verdict(path):
    """Every example AssetFile is checked without an error; a refusal points inside the file."""
    got = refusal(path.read_bytes(), str(path))
    assert got is None or 1 <= got.line <= len(path.read_text().splitlines())
    if path.parent.name == "daemon":
        assert got is None  # a partitioned, declarative AssetFile


# --- asset_defs: the definitions a build that loads part of the project may leave out ---

ASSET_DEFS = '''\
import assetbuild as ab
from assetbuild import asset as declare, source
x = source("x", "a.txt")


@declare(io="text")
def a(x):
    return 1

# a comment between two definitions

@ab.asset
@declare(path="o.txt")
def b(a):
    return 2
@declare(name="zz")
def c(b):
    return 3
@declare(io="text", name="yy")
def c2(b):
    return 3

def helper():
    return 4


@declare(**{"io": "text"})
def d(b):
    return 5


@declare
def e(
   b,
):
    return """
text"""
'''


def test_asset_defs_are_the_definitions_of_the_asset_of_their_own_name() -> None:
    """Each from its first decorator to the line before the next statement (0: the file's
    end); never one that names another asset (``name=``, given plainly or unpacked), nor a
    plain function."""
    found = facts(ASSET_DEFS, "AssetFile", {}, "")
    assert found.refusal is None
    assert found.asset_defs == (("a", 6, 11), ("b", 12, 15), ("e", 32, 0))
    lines = ASSET_DEFS.split("\n")
    assert lines[5] == '@declare(io="text")' and lines[11] == "@ab.asset" and lines[31] == "@declare"
    assert lines[15].startswith("@declare(name=")  # (where c starts: b ends the line before)


def test_asset_defs_of_a_refused_module_are_none() -> None:
    assert facts("import time\n\nT = time.time()\n\n@asset\ndef a():\n    return 1\n", "AssetFile").asset_defs == ()
