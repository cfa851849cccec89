"""The standard-library forms the declarative check accepts (assetbuild.staticforms): a literal
``re.compile`` and an ``if TYPE_CHECKING:`` of imports, each next to the variants it refuses, and
the example projects that use them."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_declarative import assert_refused, check

from assetbuild.declarative import facts, refusal

ROOT = Path(__file__).resolve().parent.parent


ACCEPTED = {
    "re.compile of literals": r'''
        import re
        import re as regex
        from assetbuild import asset
        DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
        WORD = re.compile(b"[a-z]+", re.I)
        BOTH = re.compile("a  # a comment", flags=re.IGNORECASE | re.MULTILINE | re.VERBOSE)
        KEYWORDS = re.compile(pattern="x" "y", flags=re.S | re.A | re.U | re.L | re.X | re.DOTALL)
        NOFLAG = re.compile("z", re.NOFLAG)
        ALIASED = regex.compile("y", regex.ASCII)
        INLINE = [(re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>")]
        PARTS = DATE.pattern, DATE.groups, {"date": DATE}

        class Parser:
            TOKEN = re.compile("t")

            def parse(self, text, pattern=re.compile("p", re.M)):
                return pattern.match(text)

        @asset(params={"date": DATE.pattern})
        def f(x=re.compile("[0-9]+")):
            return x
        re = None  # rebinding afterwards cannot change what the calls above did
        ''',
    "TYPE_CHECKING blocks of imports": """
        from __future__ import annotations
        import typing
        import typing as t
        from typing import TYPE_CHECKING
        from typing import TYPE_CHECKING as TC
        from assetbuild import asset
        if TYPE_CHECKING:
            import pandas as pd
            from os import environ
            from .models import Model
            from config import *
        if typing.TYPE_CHECKING:
            from collections.abc import Mapping
        if t.TYPE_CHECKING:
            pass
        if TC:
            import numpy

        @asset
        def f(x: pd.DataFrame, m: Mapping[str, Model]) -> numpy.ndarray:
            return x
        """,
    "a TYPE_CHECKING import does not rebind a name": """
        from typing import TYPE_CHECKING
        environ = {"HOME": "/home/user"}
        if TYPE_CHECKING:
            from os import environ
        X = environ["HOME"]
        """,
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_accepted(name):
    assert check(ACCEPTED[name]) is None


REFUSED = {
    # re.compile: where ``re`` is not the module imported as re
    "re shadowed by an assignment": ("import re\nre = object\nX = re.compile('a')", 3, "re.compile"),
    "re shadowed by a def": ("import re\ndef re():\n    pass\nX = re.compile('a')", 4, "re.compile"),
    "re shadowed in a class body": ("import re\nclass C:\n    re = 1\n    X = re.compile('a')", 4, "re.compile"),
    "re shadowed by an import": ("import re\nimport os as re\nX = re.compile('a')", 3, "re.compile"),
    "re after a star import": ("import re\nfrom os import *\nX = re.compile('a')", 3, "re.compile"),
    "re not imported": ("X = re.compile('a')", 1, "re.compile"),
    "compile imported from re": ("from re import compile\nX = compile('a')", 2, "compile"),
    "another module's compile": ("import regex\nX = regex.compile('a')", 2, "regex.compile"),
    "another function of re": ("import re\nX = re.sub('a', 'b', 'abc')", 2, "re.sub"),
    "re.purge": ("import re\nre.purge()", 2, "re.purge"),
    "a method of a compiled pattern called": ("import re\nP = re.compile('a')\nX = P.match('a')", 3, "P.match"),
    # re.compile: a pattern that is not a literal
    "a pattern read from a file": ("import re\nX = re.compile(open('p.txt').read())", 2, "not a literal"),
    "a pattern from the environment": ("import os\nimport re\nX = re.compile(os.environ['P'])", 3, "not a literal"),
    "a pattern named": ("import re\nP = 'a'\nX = re.compile(P)", 3, "not a literal"),
    "a pattern from a project module": ("import re\nimport config\nX = re.compile(config.THRESHOLD)", 3,
                                        "not a literal"),
    "a pattern in an f-string": ("import re\nA = 1\nX = re.compile(f'a{A}')", 3, "not a literal"),
    "a pattern concatenated": ("import re\nX = re.compile('a' + 'b')", 2, "not a literal"),
    "a pattern that is a number": ("import re\nX = re.compile(1)", 2, "not a literal"),
    "a pattern by keyword, named": ("import re\nP = 'a'\nX = re.compile(pattern=P)", 3, "not a literal"),
    "no pattern": ("import re\nX = re.compile()", 2, "without a pattern"),
    # re.compile: flags and arguments
    "re.DEBUG": ("import re\nX = re.compile('a', re.DEBUG)", 2, "re.DEBUG"),
    "re.TEMPLATE": ("import re\nX = re.compile('a', re.I | re.T)", 2, "re.T"),
    "flags as a number": ("import re\nX = re.compile('a', 2)", 2, "flags"),
    "flags added": ("import re\nX = re.compile('a', re.I + re.M)", 2, "flags"),
    "flags named": ("import re\nF = 2\nX = re.compile('a', flags=F)", 3, "flags"),
    "flags of another module": ("import os\nimport re\nX = re.compile('a', os.O_RDONLY)", 3, "flags"),
    "a flag of a shadowed re": ("import re\nimport re as r2\nr2 = 1\nX = re.compile('a', r2.I)", 4, "flags"),
    "a flag read alone": ("import re\nF = re.I", 2, "re.I"),
    "unpacked arguments": ("import re\nA = ('a',)\nX = re.compile(*A)", 3, "unpacked"),
    "unpacked keywords": ("import re\nK = {}\nX = re.compile('a', **K)", 3, "argument other than"),
    "an extra argument": ("import re\nX = re.compile('a', re.I, 1)", 2, "extra"),
    "flags twice": ("import re\nX = re.compile('a', re.I, flags=re.M)", 2, "argument other than"),
    "an unknown keyword": ("import re\nX = re.compile('a', cache=False)", 2, "argument other than"),
    "re.compile in a default, not literal": ("import re\nimport os\ndef f(x=re.compile(os.sep)):\n    pass", 3,
                                             "not a literal"),
    "re.compile in a declaration, not literal":
        ("import re\nfrom assetbuild import asset\nP = 'a'\n@asset(params={'p': re.compile(P)})\ndef f():\n    pass",
         4, "not a literal"),
    # if TYPE_CHECKING: anything but imports, or a test that is not typing's constant
    "an else on TYPE_CHECKING":
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\nelse:\n    os = None", 5, "else"),
    "an elif on TYPE_CHECKING":
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\nelif True:\n    pass", 4, "else"),
    "a call inside the block":
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\n    print(os)", 4, "more than import"),
    "an assignment inside the block": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    X = 1", 3,
                                       "more than import"),
    "a def inside the block": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    def f():\n        pass", 3,
                               "more than import"),
    "a nested if": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    if TYPE_CHECKING:\n        import os",
                    3, "more than import"),
    "a __future__ import inside the block":
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from __future__ import annotations", 3, "__future__"),
    "not TYPE_CHECKING": ("from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    import os", 2, "if"),
    "TYPE_CHECKING and more": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING and 1:\n    import os", 2, "if"),
    "TYPE_CHECKING not imported": ("if TYPE_CHECKING:\n    import os", 1, "if"),
    "TYPE_CHECKING assigned here": ("TYPE_CHECKING = False\nif TYPE_CHECKING:\n    import os", 2, "if"),
    "TYPE_CHECKING rebound": ("from typing import TYPE_CHECKING\nTYPE_CHECKING = True\nif TYPE_CHECKING:\n    import os",
                              3, "if"),
    "TYPE_CHECKING rebound to another typing name":
        ("from typing import TYPE_CHECKING\nfrom typing import Any as TYPE_CHECKING\nif TYPE_CHECKING:\n    import os",
         3, "if"),
    "another name of typing": ("from typing import Any\nif Any:\n    import os", 2, "if"),
    "TYPE_CHECKING from another module": ("from typing_extensions import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os",
                                          2, "if"),
    "TYPE_CHECKING of another module": ("import os\nif os.TYPE_CHECKING:\n    import os", 2, "if"),
    "TYPE_CHECKING after a star import":
        ("from typing import TYPE_CHECKING\nfrom os import *\nif TYPE_CHECKING:\n    import os", 3, "if"),
    "TYPE_CHECKING in a class body":
        ("from typing import TYPE_CHECKING\nclass C:\n    if TYPE_CHECKING:\n        import os", 3, "class body"),
    "a name only imported for type checking, read at load":
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from config import THRESHOLD\nX = THRESHOLD", 4,
         "not bound"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused(name):
    assert_refused(name, *REFUSED[name])


def test_a_project_module_named_like_the_stdlib_is_not_the_stdlib():
    """A project's own re.py or typing.py may do anything: its compile and TYPE_CHECKING are not re's or typing's."""
    assert check("import re\nX = re.compile('a')", project={"re": set()}) is not None
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\n"
    assert check(src) is None
    got = check(src, project={"typing": set()})
    assert got is not None and got.line == 2
    assert check("import typing\nif typing.TYPE_CHECKING:\n    import os\n", project={"typing": set()}) is not None


def test_a_type_checking_block_neither_imports_nor_exports():
    """Its imports never run: they are not among the modules loaded, nor names others may read."""
    got = facts("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pandas\n    from lib import X\nY = 1\n",
                "m.py")
    assert got.refusal is None
    assert got.imports == ("typing", "typing.TYPE_CHECKING") and got.exports == {"Y"}


def _project_facts(root: Path) -> dict[str, object]:
    """Each project module's facts under ``root``, exports taken to their fixed point."""
    files = {}
    for p in sorted(root.rglob("*.py")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    exports = dict.fromkeys(files, frozenset())
    for _ in range(len(files) + 1):
        found = {m: facts(p.read_bytes(), str(p.relative_to(root)), exports, package=m.rpartition(".")[0])
                 for m, p in files.items()}
        if all(f.exports == exports[m] for m, f in found.items()):
            return {**found, "AssetFile": facts((root / "AssetFile").read_bytes(), "AssetFile", exports)}
        exports = {m: f.exports for m, f in found.items()}
    raise AssertionError("exports did not reach a fixed point")


def test_the_etl_example_is_declarative():
    """examples/etl compiles its date pattern at load (etl/transform.py): the AssetFile and every
    module of its package pass; the same module reading its pattern from a file is refused there."""
    root = ROOT / "examples/etl"
    got = _project_facts(root)
    assert {m: str(f.refusal) for m, f in got.items() if f.refusal} == {}
    assert set(got) >= {"AssetFile", "etl", "etl.transform", "etl.readers", "etl.stats"}
    src = (root / "etl/transform.py").read_text()
    assert "_DATE = re.compile(" in src
    edited = src.replace("_DATE = re.compile(", "_DATE = re.compile(open('pattern.txt').read() or ", 1)
    line = next(i for i, t in enumerate(edited.splitlines(), 1) if t.startswith("_DATE = "))
    bad = refusal(edited, "etl/transform.py", package="etl")
    assert bad is not None and bad.line == line and "not a literal" in bad.reason


def test_the_site_example_modules_are_declarative_its_assetfile_is_not():
    """sitegen's Markdown patterns are literals; the AssetFile declares one asset per file it finds
    in content/ by a loop at load, which stays refused (it reads the file system)."""
    got = _project_facts(ROOT / "examples/site")
    assert {m for m, f in got.items() if f.refusal} == {"AssetFile"}
    assert "for loop" in got["AssetFile"].refusal.reason
