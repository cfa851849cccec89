"""An edit of the AssetFile that stays inside one asset's definition (``assetbuild.codeedits``):
found where it is, refused wherever it could change what runs at load."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from assetbuild import codeedits, declarative

HEAD = ('from assetbuild import asset, source\n\nraw = source("raw", "raw.txt")\n\n\ndef helper(x):\n    return x\n'
        '\n\nclass Box:\n    def size(self):\n        return 1\n')


def _asset(name: str, params: str, body: str, decorator: str = "@asset") -> str:
    return f"\n\n{decorator}\ndef {name}({params}):\n{body}"


def _file(*defs: str) -> bytes:
    return (HEAD + "".join(defs)).encode()


def _defs(source: bytes) -> list[list[object]]:
    facts = declarative.facts(source, "AssetFile")
    assert facts.refusal is None, facts.refusal
    return [list(d) for d in facts.asset_defs]


A = _asset("a", "raw", "    return raw.read_text()\n")
B = _asset("b", "a", "    return a + 'b'\n")
C = _asset("c", "a, b", "    return a + b\n")
OLD = _file(A, B, C)


@pytest.mark.parametrize("new, function, own", [
    (_file(A, _asset("b", "a", "    return a + 'bb'\n"), C), "b", True),  # a value
    (_file(A, _asset("b", "a", "    x = a\n    # why\n\n    return x + 'b'\n"), C), "b", True),  # lines added: c moves
    (_file(A, B, _asset("c", "a, b", "    return b + a\n")), "c", True),  # the last definition, to the end of the file
    (_file(_asset("a", "raw", "    '''Its docstring.'''\n    return raw.read_text()\n"), B, C), "a", True),
    (_file(A, _asset("b", "a", "    return (a +\n            'bb')\n"), C), "b", True),
    (_file(A, _asset("b", "a", '    return a + """\n"""\n'), C), "b", True),  # a string over lines, closed inside
    (_file(A, B, C).replace(b"    return x\n", b"    y = x\n    return y\n"), "helper", False),  # a helper, before them
    (_file(A, B, C) + b"\n\ndef after(x):\n    return x\n", None, False),  # (a statement added: no)
    # nothing that runs changed: comments, blank lines, a header written otherwise
    (_file(A, _asset("b", "a", "    return a + 'b'\n") + "# a note after b\n", C), "", True),
    (_file(A, B.replace("def b(a):", "def b(\n    a,\n):"), C), "", True),
    (_file(A, B, C).replace(b"def helper", b"# the helper\ndef helper"), "", False),
])
def test_an_edit_of_one_functions_body_is_found_and_the_definitions_where_they_now_lie(
        new: bytes, function: str | None, own: bool) -> None:
    found = codeedits.body_edit(OLD, new, _defs(OLD))
    assert found == (None if function is None else (function, own, _defs(new)))


def test_an_edit_of_a_helper_after_the_definitions_is_found() -> None:
    old = _file(A, B, C) + b"\n\ndef late(x):\n    return x\n"
    new = old[:-len(b"    return x\n")] + b"    return -x\n"
    assert codeedits.body_edit(old, new, _defs(old)) == ("late", False, _defs(new))


@pytest.mark.parametrize("new", [
    _file(A, _asset("b", "a, raw", "    return a + 'b'\n"), C),  # a parameter
    _file(A, _asset("b", "a='x'", "    return a + 'b'\n"), C),  # a default
    _file(A, _asset("b", "a: str", "    return a + 'b'\n"), C),  # an annotation
    _file(A, _asset("b", "a", "    return a + 'b'\n", decorator='@asset(io="json")'), C),  # the decorator's arguments
    _file(A, _asset("b", "a", "    return a + 'b'\n").replace("def b(a):", "def b(a) -> str:"), C),
    _file(A, _asset("b", "a", "    return a + 'b'\n").replace("def b", "async def b"), C),
    _file(A, _asset("b", "a", "    return a + 'b'\n") + "LIMIT = 2\n", C),  # a statement that runs at load
    _file(A, _asset("b", "a", "    return a + 'b'\nprint('loaded')\n"), C),  # a line out of the body
    _file(A, _asset("b", "a", '    return a + """\n'), C),  # a string left open: it runs into c
    _file(A, _asset("b", "a", "    return a + 'bb'\n"), _asset("c", "a, b", "    return b + a\n")),  # two definitions
    _file(_asset("a", "raw", "    return raw.read_text().strip()\n"), B, C).replace(b"return x", b"return 2 * x"),
    _file(A, _asset("bb", "a", "    return a + 'b'\n"), C),  # a name (another asset)
    OLD.replace(b'raw.txt', b'raw2.txt'),  # a statement between the definitions
    OLD.replace(b"def helper(x):", b"def helper(x=1):"),  # a helper's header
    OLD.replace(b"def helper(x):", b"@asset\ndef helper(x):").replace(b"    return x\n", b"    return -x\n", 1),
    OLD.replace(b"def helper(x):\n    return x\n", b"class Helper:\n    def go(self):\n        return 1\n"),
    OLD,
])
def test_an_edit_that_may_change_what_runs_at_load_is_refused(new: bytes) -> None:
    assert codeedits.body_edit(OLD, new, _defs(OLD)) is None


@pytest.mark.parametrize("new", [
    OLD.replace(b"'b'", b"'bb'").replace(b"\n", b"\r\n"),
    b"\xef\xbb\xbf" + OLD.replace(b"'b'", b"'bb'"),
    b"# -*- coding: latin-1 -*-\n" + OLD.replace(b"'b'", b"'bb'"),
    OLD.replace(b"'b'", b"'\xff'"),  # not UTF-8
])
def test_a_file_whose_lines_the_compiler_may_count_otherwise_is_not_looked_at(new: bytes) -> None:
    assert codeedits.body_edit(OLD, new, _defs(OLD)) is None


def test_the_edit_is_taken_from_the_source_the_graph_keeps_and_says_what_reaches_it() -> None:
    from assetbuild import codetable
    from assetbuild.compiled import TAG
    from assetbuild.loader import assetfile_digest

    h = "7" * 64
    order = ["a", "b", "c"]
    codes = {"a": (h, {"code": h}), "b": (h, {"code": h}), "c": (h, {"code": h, "helper:__assetfile__.b": h})}
    roots = {n: f"helper:__assetfile__.{n}" for n in order}
    graph = {"order": order, "source": OLD, "asset_defs": _defs(OLD), **codetable.code_table(order, codes, roots)}
    kept = [assetfile_digest(OLD), TAG]
    new = _file(A, _asset("b", "a", "    return a + 'bb'\n"), C)
    edit = codeedits.edit_of(graph, kept, [kept[0], "checker"], new)
    assert edit == {"digest": assetfile_digest(new), "from": kept[0], "defs": _defs(new), "checker": "checker",
                    "function": "b", "assets": ["b", "c"]}
    edit = codeedits.edit_of(graph, kept, [kept[0], "checker"], OLD.replace(b"return x\n", b"return 2 * x\n"))
    assert edit is not None and edit["function"] == "helper" and edit["assets"] == []  # (none reaches it)
    edit = codeedits.edit_of(graph, kept, [kept[0], "checker"], OLD.replace(b"def helper", b"# a note\ndef helper"))
    assert edit is not None and edit["function"] == "" and edit["assets"] == []
    assert codeedits.edit_of(graph, kept, ["another digest", "checker"], new) is None  # (defs of another file)
    assert codeedits.edit_of({**graph, "source": OLD + b"#"}, kept, [kept[0], "checker"], new) is None
    assert codeedits.edit_of({k: v for k, v in graph.items() if k != "source"}, kept, [kept[0], "c"], new) is None


# --- over random files and edits -------------------------------------------------------------

_BODY_LINES = st.sampled_from([
    "    return 1", "    x = 2", "    # a comment", "", "    y = (1,", "         2)", '    s = """', '    """',
    "    return helper(x)", "def z():", "LIMIT = 3", "    if x:", "        return x", "  return 0",
    "@asset", "    pass", "    '''doc'''", "        return 2", "    def size(self):", "class Box:",
])
_HEADERS = st.sampled_from(["@asset\ndef {n}():", "@asset\ndef {n}(raw):", '@asset(io="json")\ndef {n}():',
                            "@asset\ndef {n}(\n    raw,\n):", "@asset\nasync def {n}():"])


@st.composite
def _project(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    n = draw(st.integers(1, 4))
    return ([draw(_HEADERS).format(n=f"t{i}") for i in range(n)],
            [draw(st.sampled_from(["    return 1", "    x = 1\n    return x", "    '''doc'''\n    return 0"]))
             for i in range(n)])


def _source(headers: list[str], bodies: list[str]) -> bytes:
    return (HEAD + "".join(f"\n\n{h}\n{b}\n" for h, b in zip(headers, bodies))).encode()


def _statements(source: bytes) -> list[str]:
    """Each top-level statement as it runs at load: a function (a method) without its body."""
    out = []
    for stmt in ast.parse(source).body:
        for fn in [stmt, *(stmt.body if isinstance(stmt, ast.ClassDef) else ())]:
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fn.body = [ast.Pass()]
        out.append(ast.dump(stmt))
    return out


@settings(deadline=None, max_examples=300)
@given(_project(), st.data())
def test_a_found_edit_leaves_every_statement_as_it_runs_at_load_and_finds_the_definitions(
        project: tuple[list[str], list[str]], data: st.DataObject) -> None:
    """Whatever lines replace some of a file's, an edit it finds changed only the function body
    of the asset it names (every statement as it runs at load is the same), and its definitions
    are the ones the check finds in the new file. A body made of plain lines is always found."""
    headers, bodies = project
    old = _source(headers, bodies)
    facts = declarative.facts(old, "AssetFile")
    defs = [list(d) for d in facts.asset_defs]
    lines = old.decode().split("\n")
    low, high = 0, len(lines)
    if defs and data.draw(st.booleans()):  # (lines of one definition: an edit found more often)
        _, first, last = data.draw(st.sampled_from(defs))
        low, high = first - 1, last or len(lines)
    start = data.draw(st.integers(low, high))
    stop = data.draw(st.integers(start, min(high, start + 4)))
    lines[start:stop] = data.draw(st.lists(_BODY_LINES, max_size=4))
    new = "\n".join(lines).encode()
    found = codeedits.body_edit(old, new, defs)
    event("found" if found is not None else "refused" if new != old else "no edit")
    if found is not None:
        function, own, new_defs = found
        assert _statements(new) == _statements(old)
        assert [list(d) for d in declarative.facts(new, "AssetFile").asset_defs] == new_defs
        before, after = _bodies(old), _bodies(new)
        assert {f for f in before if before[f] != after[f]} == ({function} if function else set())
        assert not function or own == (function in {d[0] for d in defs})
    i = data.draw(st.integers(0, len(headers) - 1))
    plain = data.draw(st.lists(st.sampled_from(["    return 2", "    x = 3", "    # note", ""]), min_size=1, max_size=3))
    if not headers[i].startswith("@asset\nasync"):  # (not an asset's definition: @asset refuses it at load)
        edited = [*bodies[:i], "\n".join(plain + ["    return 4"]), *bodies[i + 1:]]
        assert codeedits.body_edit(old, _source(headers, edited), defs) == (
            f"t{i}", True, [list(d) for d in declarative.facts(_source(headers, edited), "AssetFile").asset_defs])


def _bodies(source: bytes) -> dict[str, str]:
    """Each top-level function's or class's body, as it compiles."""
    return {s.name: ast.dump(ast.Module(body=s.body, type_ignores=[])) for s in ast.parse(source).body
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


# --- a project module's function -------------------------------------------------------------

MODULE = b'"""Helpers."""\n\nLIMIT = 3\n\n\ndef clip(x):\n    return min(x, LIMIT)\n\n\ndef twice(x):\n    return 2 * x\n'


def _module_graph(reads: dict[str, dict[str, str]]) -> tuple[dict[str, object], list[str]]:
    from assetbuild import codetable

    h = "7" * 64
    order = list(reads)
    codes = {a: (h, {"code": h, **{label: h for label in labels}}) for a, labels in reads.items()}
    roots = {a: f"helper:__assetfile__.{a}" for a in order}
    graph = {"order": order, "modules": {"/p/lib/util.py": ["lib.util", MODULE]},
             **codetable.code_table(order, codes, roots)}
    import hashlib

    return graph, [hashlib.sha256(MODULE).hexdigest(), ""]


def test_an_edit_of_a_module_functions_body_reaches_what_calls_it_or_reads_the_module() -> None:
    graph, kept = _module_graph({"a": {"helper:lib.util.clip": ""}, "b": {"helper:lib.util.twice": ""},
                                 "c": {"module:lib.util": ""}, "d": {"modules:read by a computed name": ""},
                                 "e": {"helper:lib.other.clip": ""}, "f": {"modules:imported by a computed name": ""},
                                 "g": {"module:lib": ""}, "h": {"module:lib.utility": ""}, "i": {"object:lib.util.x": ""}})
    new = MODULE.replace(b"min(x, LIMIT)", b"max(0, min(x, LIMIT))")
    edit = codeedits.module_edit_of(graph, "/p/lib/util.py", kept, new)
    assert edit is not None and edit["module"] == "lib.util" and edit["function"] == "clip"
    assert edit["assets"] == ["a", "c", "d", "f", "g"]  # (c: an import inside its function reads the module so)
    comment = codeedits.module_edit_of(graph, "/p/lib/util.py", kept, MODULE.replace(b"def twice", b"# x2\ndef twice"))
    assert comment is not None and comment["function"] == "" and comment["assets"] == []


@pytest.mark.parametrize("new", [
    MODULE.replace(b"LIMIT = 3", b"LIMIT = 4"),  # a statement that runs at load
    MODULE.replace(b'"""Helpers."""', b'"""Helpers, all."""'),  # its docstring
    MODULE.replace(b"def clip(x):", b"def clip(x, top=LIMIT):"),  # a header
    MODULE.replace(b"min(x, LIMIT)", b"min(x, 9)").replace(b"2 * x", b"3 * x"),  # two functions
    MODULE.replace(b"def clip(x):", b"@staticmethod\ndef clip(x):"),  # a decorator
    MODULE + b"print('imported')\n",
    MODULE.replace(b"min(x, LIMIT)", b"min(x,"),  # does not parse
])
def test_an_edit_of_a_module_that_may_change_what_runs_at_import_is_refused(new: bytes) -> None:
    graph, kept = _module_graph({"a": {"helper:lib.util.clip": ""}})
    assert codeedits.module_edit_of(graph, "/p/lib/util.py", kept, new) is None


def test_a_module_edit_needs_the_text_the_graph_kept_of_it() -> None:
    graph, kept = _module_graph({"a": {"helper:lib.util.clip": ""}})
    new = MODULE.replace(b"2 * x", b"3 * x")
    assert codeedits.module_edit_of(graph, "/p/lib/other.py", kept, new) is None  # (no text kept)
    assert codeedits.module_edit_of(graph, "/p/lib/util.py", ["0" * 64, ""], new) is None  # (another text)
    assert codeedits.module_edit_of(graph, "/p/lib/util.py", [kept[0], "cpython-311-0"], new) is None  # (an AssetFile's)


def test_the_labels_of_modules_read_by_a_computed_name_are_the_fingerprints() -> None:
    """``codetable._reads_module`` takes every ``modules:`` part as reading any project module."""
    from assetbuild.fingerprint import reads

    assert all(label.startswith("modules:") for label in (reads._WHOLE_LABEL, reads._HELD_LABEL,
                                                          reads._EVERY_MODULE_LABEL))


CLASS = b"class H:\n    K = 1\n\n    def go(self):\n        return 1\n\n    def stop(self):\n        return 0\n"


@pytest.mark.parametrize("new, found", [
    (CLASS.replace(b"return 1", b"return 2"), "H"),  # one method's body: what reaches the class
    (CLASS.replace(b"    def go", b"    # starts\n    def go"), ""),
    (CLASS.replace(b"K = 1", b"K = 2"), None),  # a class attribute
    (CLASS.replace(b"return 1", b"return 2").replace(b"return 0", b"return 9"), None),  # two methods
    (CLASS.replace(b"def go(self)", b"def go(self, x=1)"), None),  # a method's header
    (CLASS.replace(b"class H:", b"class H(object):").replace(b"return 1", b"return 2"), None),  # its bases
    (CLASS.replace(b"class H:", b"class G:").replace(b"return 1", b"return 2"), None),  # its name
])
def test_an_edit_of_one_methods_body_is_found_as_its_class(new: bytes, found: str | None) -> None:
    old = _file(A, B, C) + b"\n\n" + CLASS
    assert codeedits.body_edit(old, _file(A, B, C) + b"\n\n" + new, _defs(old)) == (
        None if found is None else (found, False, _defs(old)))


HOOKS = (b'def __getattr__(name):\n    return 1\n\n\nclass Base:\n    def __init_subclass__(cls):\n        cls.k = 1\n\n'
         b'    def go(self):\n        return 1\n')


@pytest.mark.parametrize("old, new, found", [
    (b"    return 1\n\n\nclass", b"    return 2\n\n\nclass", None),  # a module's __getattr__: ``from m import X`` calls it
    (b"cls.k = 1", b"cls.k = 2", None),  # a class's __init_subclass__: defining a subclass calls it
    (b"        return 1\n", b"        return 2\n", "Base"),  # a method no load calls
])
def test_the_body_of_a_function_python_calls_at_load_is_no_body_only_edit(old: bytes, new: bytes,
                                                                          found: str | None) -> None:
    assert HOOKS.count(old) == 1
    assert codeedits._same_statements(HOOKS.split(b"\n"), HOOKS.replace(old, new).split(b"\n")) == found


def test_a_module_may_hold_the_code_of_the_modules_it_imports_at_any_depth(tmp_path: Path) -> None:
    """``codetable.importers``: a module read whole by a computed name counts, with its file, the
    project modules it imports (``fingerprint.reads``); a module that imported a function of
    another holds it under its own name."""
    from assetbuild import codetable

    texts = {"lib/__init__.py": b"", "lib/util.py": MODULE, "lib/names.py": b"from .util import clip as c2\n",
             "lib/deep.py": b"from lib import names\n", "lib/plain.py": b"import os\n\n\ndef f():\n    import json\n",
             "lib/broken.py": b"def f(:\n", "lib/lazy.py": b"def g():\n    from lib.util import clip\n"}
    for rel, text in texts.items():
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(text)
    kept = {str(tmp_path / rel): [rel[:-3].replace("/", ".").removesuffix(".__init__"), text]
            for rel, text in texts.items() if rel != "lib/lazy.py"}  # (lazy: imported in a function only)
    holds = codetable.importers(kept, "lib.util")
    assert [m for m in ("lib.names", "lib.deep", "lib.plain", "lib.broken", "lib.lazy", "lib", "os", "numpy")
            if holds(m)] == ["lib.names", "lib.deep", "lib.broken", "lib.lazy"]
    graph, digest = _module_graph({"a": {"module:lib.names": ""}, "b": {"module:lib.plain": ""},
                                   "c": {"module:numpy": ""}, "d": {"module:lib.deep": ""}})
    graph["modules"] = kept
    edit = codeedits.module_edit_of(graph, str(tmp_path / "lib" / "util.py"), digest, MODULE.replace(b"2 * x", b"3 * x"))
    assert edit is not None and edit["assets"] == ["a", "d"]
