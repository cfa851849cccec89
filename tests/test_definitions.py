"""@asset / source / Output: what a declaration records, and which declarations are refused."""

from __future__ import annotations

import functools
import re
import sys

import pytest
from projects import cli

from assetbuild import Out, Output, asset, multi_asset, source
from assetbuild.definitions import AssetDef, check_name, check_relpath
from assetbuild.errors import DefinitionError


def test_decorated_function_stays_callable():
    @asset
    def inc(x):
        return x + 1

    assert inc(1) == 2
    d = inc.__assetbuild_asset__
    assert isinstance(d, AssetDef) and d.name == "inc" and d.io == "pickle"


def test_keywords_are_recorded():
    @asset(name="ns/total", ins={"v": "raw/values"}, deps=["cfg"], io="json", path="build/t.json",
           code_version="2", group="g", description="d", metadata={"owner": "me"})
    def total(v, scale=2):
        return sum(v) * scale

    d = total.__assetbuild_asset__
    assert (d.name, d.ins, d.deps, d.io, d.path, d.code_version, d.group) == (
        "ns/total", {"v": "raw/values"}, ("cfg",), "json", "build/t.json", "2", "g")
    assert d.params == (("v", False), ("scale", True))


@pytest.mark.parametrize("bad", ["", "..", "/abs", "a/../b", "a b", "1x", "a//b", "a/", None, 3, "größe!", "x-y",
                                 "\u00b2x"])
def test_bad_names_are_refused(bad):
    with pytest.raises(DefinitionError, match="invalid asset name"):
        check_name(bad, "asset")


@pytest.mark.parametrize("good", ["x", "_x1", "raw/orders", "a/b/c_d", "größe", "maße/größe", "данные", "変数",
                                  "match", "type", "_"])
def test_good_names(good):
    """Any Python identifier (a def takes it, and it names a reader's parameter), soft keywords too."""
    assert good.isidentifier() or "/" in good
    assert check_name(good, "asset") == good


@pytest.mark.parametrize("name", ["class", "raw/None", "lambda"])
def test_a_keyword_stays_a_name(name):
    """Projects named assets so before names took any identifier: a reader takes one by ins=."""
    assert check_name(name, "asset") == name


def test_a_non_ascii_function_name_is_an_asset_name():
    @asset(io="json", ins={"alle": "*_größe"})  # a glob over such names too
    def größe(alle):
        return len(alle)

    assert größe.__assetbuild_asset__.name == "größe" and größe({"a": 1}) == 1


NFD_CAFE, NFD_GROESSE = "cafe\u0301", "gro\u0308\u00dfe"  # as macOS pastes them; Python reads "café", "größe"


def test_a_name_is_held_in_the_form_python_gives_identifiers():
    """NFKC, as the parser normalizes a ``def`` or a parameter: ``name="café"`` typed in NFD is the
    asset a parameter ``café`` reads, and ``"ﬁle"`` is ``file`` (as ``def ﬁle`` is). Before, the
    string was kept as typed: "parameter 'café' names no asset (did you mean 'café'?)"."""
    from assetbuild.graph import resolve

    assert check_name(NFD_CAFE, "asset") == "café" and check_name("\ufb01le", "asset") == "file"
    assert check_name(f"raw/{NFD_GROESSE}", "asset") == "raw/größe"

    @asset(io="json", name=NFD_CAFE)
    def c():
        return 2

    @asset(io="json")
    def r(café):
        return café + 1

    @asset(io="json")
    def ﬁle():  # (a ligature: the parser makes it "file")
        return 1

    @asset(io="json", ins={"x": "\ufb01le", NFD_CAFE: NFD_CAFE}, deps=[f"{NFD_GROESSE}_src"])
    def reads(x, café):
        return x

    assert c.__assetbuild_asset__.name == "café"
    d = reads.__assetbuild_asset__
    assert d.ins == {"x": "file", "café": "café"} and d.deps == ("größe_src",)
    g = resolve([c.__assetbuild_asset__, r.__assetbuild_asset__, file.__assetbuild_asset__, d,  # noqa: F821
                 source("größe_src", "g.txt")])
    assert g.inputs["r"] == (("café", "café"),)
    assert g.inputs["reads"] == (("x", "file"), ("café", "café"), (None, "größe_src"))
    # a source's and a multi-asset out's name too (they were kept as typed)
    assert source(f"{NFD_GROESSE}_src", "g.txt").name == "größe_src"

    @multi_asset(outs={NFD_CAFE: Out(io="json"), "plain": Out(io="json")})
    def split():
        return 1, 2

    assert [o.name for o in split.__assetbuild_multi_asset__] == ["café", "plain"]


def test_bad_name_in_decorator_names_file_and_line():
    with pytest.raises(DefinitionError) as ei:
        @asset(name="../escape")
        def f():
            return 1
    assert ei.value.file == __file__ and ei.value.line is not None


@pytest.mark.parametrize("bad", ["/etc/passwd", "../out.txt", "a/../../b", "", "C:/x"])
def test_paths_must_stay_in_the_project(bad):
    with pytest.raises(DefinitionError):
        check_relpath(bad, "path")


def test_path_is_normalised():
    assert check_relpath("./build//x.txt", "path") == "build/x.txt"


@pytest.mark.parametrize("path", ["build/", "build/x/", "build\\"])
def test_a_path_naming_a_directory_is_refused(path):
    """path= writes one file: 'build/' used to write a file named build."""
    with pytest.raises(DefinitionError, match=r"names a directory; path= writes one file .* outputs="):
        @asset(io="text", path=path)
        def a():
            return ""


def test_star_args_are_refused():
    with pytest.raises(DefinitionError, match=r"\*args"):
        @asset
        def f(*rows):
            return rows


def test_ins_must_name_a_parameter():
    with pytest.raises(DefinitionError, match="does not have"):
        @asset(ins={"nope": "x"})
        def f(a):
            return a


@pytest.mark.parametrize("options, message", [
    ({"deps": "config"}, "deps must be a list of asset or source names, e.g. deps=['config'], got 'config'"),
    ({"deps": 5}, "deps must be a list of asset or source names, got 5"),
    ({"ins": ["c"]}, "ins must be a dict of parameter names to inputs, e.g. ins={'rows': 'cleaned'}, got ['c']"),
    ({"io": 3}, "io must be an IO manager name (a str such as 'json'), got 3"),
])
def test_options_of_the_wrong_type_say_what_they_take(options, message):
    """deps="config" was read letter by letter ("deps names 'c'"); ins=[...] was a ValueError
    from dict() that named neither the option nor the asset."""
    with pytest.raises(DefinitionError) as e:
        @asset(**options)
        def f(c):
            return c
    assert f"asset 'f': {message}" in str(e.value) and e.value.line is not None


@pytest.mark.parametrize("options, message", [
    ({"group": 3}, "group must be a str, got 3"),
    ({"description": ["x"]}, "description must be a str, got ['x']"),
    ({"metadata": "x"}, "metadata must be a dict of names to values, e.g. metadata={'owner': 'data-team'}, got 'x'"),
])
def test_labels_of_the_wrong_type_say_what_they_take(options, message):
    """group=3 was accepted, and then `group:3` selected nothing; metadata="x" stopped the load
    with a ValueError from dict() that named neither the option nor the asset."""
    with pytest.raises(DefinitionError) as e:
        @asset(**options)
        def f():
            return 1
    assert f"asset 'f': {message}" in str(e.value) and e.value.line is not None


@pytest.mark.parametrize("options, message", [
    ({"group": 3}, "group must be a str, got 3"),
    ({"description": 1}, "description must be a str, got 1"),
])
def test_a_source_label_of_the_wrong_type_is_refused(options, message):
    with pytest.raises(DefinitionError) as e:
        source("raw", "data/raw.csv", **options)
    assert f"source 'raw': {message}" in str(e.value) and e.value.line is not None


@pytest.mark.parametrize("decorator", ["asset", "multi_asset", "resource", "observable_source"])
def test_a_positional_name_is_refused_naming_the_line(decorator):
    """`@asset("b")` said to use keywords but named no file or line, unlike every other mistake."""
    import sys

    import assetbuild

    with pytest.raises(DefinitionError, match="used with a positional argument 'b'; use keywords") as e:
        line = sys._getframe().f_lineno + 1
        getattr(assetbuild, decorator)("b", **({"outs": {}} if decorator == "multi_asset" else {}))
    assert (e.value.file, e.value.line) == (__file__, line)


def test_none_for_deps_and_ins_means_none():
    @asset(deps=None, ins=None)
    def f():
        return 1

    assert (f.__assetbuild_asset__.deps, f.__assetbuild_asset__.ins) == ((), {})


def test_source_records_where_it_was_declared():
    s = source("raw", "data/raw.csv")
    assert s.name == "raw" and s.path == "data/raw.csv" and s.file == __file__


def test_output_carries_metadata_and_version():
    o = Output([1], metadata={"n": 1}, data_version="v1")
    assert (o.value, o.metadata, o.data_version) == ([1], {"n": 1}, "v1")
    with pytest.raises(TypeError):
        Output(1, data_version=3)


def test_generator_and_async_functions_are_refused():
    with pytest.raises(DefinitionError, match="generator function"):
        @asset
        def rows():
            yield 1

    with pytest.raises(DefinitionError, match="async function"):
        @asset
        async def fetch():
            return 1


class _Loader:
    def __init__(self, n=3):
        self.n = n

    def __call__(self):
        return self.n

    def load(self):
        return self.n


def _add(x, y):
    return x + y


NOT_FUNCTIONS = {
    "partial": (lambda: functools.partial(_add, 1, 2), "functools.partial(_add, ...): wrap the call in a def"),
    "callable object": (_Loader, "a _Loader object: wrap the call in a def"),
    "builtin": (lambda: len, "the builtin len: wrap the call in a def"),
    "bound method": (lambda: _Loader(3).load, "the bound method _Loader.load: its object (self) is state no key "
                                               "can see; declare a def that makes the object and calls the method"),
}


@pytest.mark.parametrize("decorator", ["asset", "multi_asset", "resource", "observable_source"])
@pytest.mark.parametrize("case", sorted(NOT_FUNCTIONS))
def test_a_non_function_is_refused_at_the_line_that_declared_it(decorator, case):
    """A partial, a callable object or a builtin has no code: the error said "<unknown>" where
    the file and line go. A bound method named its def's line and blamed the bound 'self'."""
    import assetbuild

    make, message = NOT_FUNCTIONS[case]
    options = {"outs": {"x": assetbuild.Out()}} if decorator == "multi_asset" else {}
    with pytest.raises(DefinitionError) as e:
        line = sys._getframe().f_lineno + 1
        getattr(assetbuild, decorator)(name="a", **options)(make())
    assert (e.value.file, e.value.line) == (__file__, line)
    assert f"@{decorator} needs a plain function (a def), got {message}" in str(e.value)


@pytest.mark.parametrize("decorator", ["asset", "resource", "observable_source"])
def test_a_bare_decorator_on_a_non_function_says_so_before_its_name(decorator):
    """``asset(partial(...))`` took the partial's name first: "invalid asset name None"."""
    import assetbuild

    with pytest.raises(DefinitionError, match=rf"^{re.escape(__file__)}:\d+: @{decorator} needs a plain function "
                                              r"\(a def\), got functools.partial\(_add, ...\)") as e:
        line = sys._getframe().f_lineno + 1
        getattr(assetbuild, decorator)(functools.partial(_add, 1, 2))
    assert e.value.line == line


def test_a_staticmethod_under_asset_is_refused_with_the_order_that_works():
    with pytest.raises(DefinitionError, match=r"got a staticmethod \(.*Pipeline.b\): write @asset under "
                                              r"@staticmethod, next to the def") as e:
        line = sys._getframe().f_lineno + 2
        class Pipeline:
            @asset
            @staticmethod
            def b():
                return 2
    assert (e.value.file, e.value.line) == (__file__, line)

    class Pipeline:  # noqa: F811  (the order the message gives works)
        @staticmethod
        @asset
        def b():
            return 2

    assert Pipeline.b() == 2 and Pipeline.b.__assetbuild_asset__.name == "b"


@pytest.mark.parametrize("where", ["resource", "env", "data_version", "names"])
def test_a_str_enum_in_a_declaration_is_taken_as_its_text(project, where):
    """A StrEnum member (any str subclass) as a resource's version, an env= name, an
    Output(data_version=...) or an asset, source or input name crashed the build with a raw
    traceback where it recorded the trace (marshal refuses a str subclass)."""
    text = {"resource": "V.ONE", "env": "V.REGION", "data_version": "V.DV", "names": "V.SRC"}[where]
    project.write("in.txt", "x")
    project.assetfile(f"""
from enum import StrEnum
from assetbuild import Output, asset, resource, source

class V(StrEnum):
    ONE = "1"
    REGION = "REGION"
    DV = "dv1"
    SRC = "src"
    A = "a"

source({text if where == "names" else '"src"'}, "in.txt")

@resource(version={text if where == "resource" else '"1"'})
def db():
    return "conn"

@asset(env=[{text if where == "env" else '"REGION"'}], ins={{"s": {text if where == "names" else '"src"'}}},
       name={"V.A" if where == "names" else '"a"'})
def whatever(s, db):
    return Output(s.read_text(), data_version={text if where == "data_version" else '"dv1"'})

@asset
def b(a):
    return a + "!"
""")
    assert sorted(project.built()) == ["a", "b"]
    assert project.built() == []
    r = cli("status", cwd=project.root)
    assert r.returncode == 0 and "stale" not in r.stdout, r.stdout + r.stderr
