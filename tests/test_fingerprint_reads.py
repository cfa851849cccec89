"""Reads the names in bytecode do not show: attributes set on a function, a project module's
``__getattr__``, and project modules read by a computed name (``getattr(module, name)``).

End to end first: real projects in ``tmp_path``, built by the real command (a fresh process each
time), edited, built again; an unchanged project stays cached. Then the fingerprint itself, on
functions made with ``compile`` + ``exec`` (``test_fingerprint``'s helpers).
"""

from __future__ import annotations

import functools
import json
import sys
import textwrap

import pytest
from fingerprint_lab import write_files
from projects import clean_env, cli
from test_fingerprint import digest, fp, load, make_fp

from assetbuild.loader import forget_project_modules

# ------------------------------------------------------------------------------------------------
# End to end: edit, build, rebuilt with the from-scratch result; unchanged, cached

# case -> (files, asset, (file, old, new) of the edit, output before, output after)
CASES = {
    "function attribute": (
        {"AssetFile": """
            from assetbuild import asset

            def threshold():
                return threshold.value
            threshold.value = 10

            @asset(io="text", path="out/fattr.txt")
            def fattr():
                return f"{threshold()}\\n"
         """},
        "fattr", ("AssetFile", "threshold.value = 10", "threshold.value = 20"), "10\n", "20\n"),
    "attribute of a functools.cache function": (
        {"AssetFile": """
            import functools
            from assetbuild import asset

            @functools.cache
            def scaled(x):
                return x * 2
            scaled.threshold = 10

            @asset(io="text", path="out/cached.txt")
            def cached():
                return f"{scaled(1) + scaled.threshold}\\n"
         """},
        "cached", ("AssetFile", "scaled.threshold = 10", "scaled.threshold = 20"), "12\n", "22\n"),
    "attribute of a functools.partial": (
        {"AssetFile": """
            import functools
            from assetbuild import asset

            def add(x, y):
                return x + y
            add_one = functools.partial(add, 1)
            add_one.offset = 10

            @asset(io="text", path="out/part.txt")
            def part():
                return f"{add_one(1) + add_one.offset}\\n"
         """},
        "part", ("AssetFile", "add_one.offset = 10", "add_one.offset = 20"), "12\n", "22\n"),
    "module __getattr__": (
        {"settings.py": """
            def __getattr__(name):  # PEP 562: RATE is made on demand, never held
                if name == "RATE":
                    return 5
                raise AttributeError(name)
         """,
         "AssetFile": """
            from assetbuild import asset
            import settings

            @asset(io="text", path="out/rate.txt")
            def rate():
                return f"{settings.RATE}\\n"
         """},
        "rate", ("settings.py", "return 5", "return 6"), "5\n", "6\n"),
    "getattr on a module": (
        {"transforms.py": """
            def transform_upper(s):
                return s.upper()
         """,
         "AssetFile": """
            from assetbuild import asset
            import transforms

            @asset(io="text", path="out/dyn.txt")
            def dyn():
                return getattr(transforms, "transform_" + "upper")("abc") + "\\n"
         """},
        "dyn", ("transforms.py", "s.upper()", 's.upper() + "!"'), "ABC\n", "ABC!\n"),
    "module passed to a helper that calls getattr": (
        {"transforms.py": """
            def transform_upper(s):
                return s.upper()
         """,
         "readers.py": """
            def call(module, name, s):
                return getattr(module, name)(s)
         """,
         "AssetFile": """
            from assetbuild import asset
            import readers
            import transforms

            @asset(io="text", path="out/passed.txt")
            def passed():
                return readers.call(transforms, "transform_upper", "abc") + "\\n"
         """},
        "passed", ("transforms.py", "s.upper()", 's.upper() + "!"'), "ABC\n", "ABC!\n"),
    "globals()[name]": (
        {"AssetFile": """
            from assetbuild import asset

            LIMIT = 10

            @asset(io="text", path="out/glob.txt")
            def glob():
                return f"{globals()['LI' + 'MIT']}\\n"
         """},
        "glob", ("AssetFile", "LIMIT = 10", "LIMIT = 20"), "10\n", "20\n"),
    "importlib.import_module(computed name)": (
        {"transforms.py": """
            def transform_upper(s):
                return s.upper()
         """,
         "AssetFile": """
            import importlib
            from assetbuild import asset
            import transforms  # imported with the AssetFile

            @asset(io="text", path="out/imp.txt")
            def imp():
                return importlib.import_module("trans" + "forms").transform_upper("abc") + "\\n"
         """},
        "imp", ("transforms.py", "s.upper()", 's.upper() + "!"'), "ABC\n", "ABC!\n"),
    "a module nothing imported with the AssetFile, imported by a computed name": (
        {"models/__init__.py": "",
         "models/small.py": """
            def predict(x):
                return x + 1
         """,
         "AssetFile": """
            import importlib
            from assetbuild import asset

            @asset(io="text", path="out/pick.txt")
            def pick():
                return f"{importlib.import_module('models.' + 'small').predict(1)}\\n"
         """},
        "pick", ("models/small.py", "x + 1", "x + 2"), "2\n", "3\n"),
    "a module passed to a helper that reads it by name": (
        {"rates.py": "RATE = 1\n",
         "AssetFile": """
            from assetbuild import asset
            import rates

            def scaled(cfg, x):
                return x * cfg.RATE

            @asset(io="text", path="out/passarg.txt")
            def passarg():
                return f"{scaled(rates, 10)}\\n"
         """},
        "passarg", ("rates.py", "RATE = 1", "RATE = 2"), "10\n", "20\n"),
    "a module returned by a helper": (
        {"rates.py": "RATE = 1\n",
         "AssetFile": """
            from assetbuild import asset
            import rates

            def config():
                return rates

            @asset(io="text", path="out/returned.txt")
            def returned():
                return f"{config().RATE * 10}\\n"
         """},
        "returned", ("rates.py", "RATE = 1", "RATE = 2"), "10\n", "20\n"),
    "a module held as a default": (
        {"rates.py": "RATE = 1\n",
         "AssetFile": """
            from assetbuild import asset
            import rates

            def config(m=rates):
                return m

            @asset(io="text", path="out/defaulted.txt")
            def defaulted():
                return f"{config().RATE * 10}\\n"
         """},
        "defaulted", ("rates.py", "RATE = 1", "RATE = 2"), "10\n", "20\n"),
    "sys.modules[name] after an import of sys inside the function": (
        {"lookup.py": "def f():\n    return 1\n",
         "AssetFile": """
            from assetbuild import asset
            import lookup

            @asset(io="text", path="out/bysys.txt")
            def bysys():
                import sys
                return f"{sys.modules['look' + 'up'].f()}\\n"
         """},
        "bysys", ("lookup.py", "return 1", "return 2"), "1\n", "2\n"),
    "a docstring read through __doc__": (
        {"prompts.py": """
            import textwrap

            def summarize_prompt():
                \"\"\"Summarize in ten words.\"\"\"

            def render(n):
                return textwrap.dedent(summarize_prompt.__doc__) + f" ({n})"
         """,
         "AssetFile": """
            from assetbuild import asset
            from prompts import render

            @asset(io="text", path="out/prompt.txt")
            def prompt():
                return render(3) + "\\n"
         """},
        "prompt", ("prompts.py", "in ten words", "in five words"), "Summarize in ten words. (3)\n",
        "Summarize in five words. (3)\n"),
    "a function annotation read by typing.get_type_hints": (
        {"schemas.py": """
            import typing

            def schema(id: int, price: int):
                \"\"\"The columns of an order row.\"\"\"

            def convert(row):
                hints = typing.get_type_hints(schema)
                return {k: hints[k](v) for k, v in row.items()}
         """,
         "AssetFile": """
            from assetbuild import asset
            from schemas import convert

            @asset(io="text", path="out/typed.txt")
            def typed():
                return f"{convert({'id': '1', 'price': '2'})}\\n"
         """},
        "typed", ("schemas.py", "price: int", "price: float"), "{'id': 1, 'price': 2}\n",
        "{'id': 1, 'price': 2.0}\n"),
}


def _build(root, **env: str) -> tuple[dict[str, str], str]:
    """The real command, in a fresh process: each asset's status, and what it printed on stderr."""
    r = cli("build", "--json", cwd=root, env=clean_env(**env))
    assert r.returncode == 0, r.stdout + r.stderr
    return {x["asset"]: x["status"] for x in json.loads(r.stdout)["results"]}, r.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_an_edit_the_names_do_not_show_rebuilds_and_nothing_else_does(project, case):
    files, asset, (rel, old, new), before, after = CASES[case]
    for path, text in files.items():
        project.write(path, text)
    out = project.root / "out" / f"{asset}.txt"
    assert _build(project.root) == ({asset: "built"}, "")
    assert out.read_text() == before
    assert _build(project.root) == ({asset: "cached"}, "")  # a second fresh process: no rebuild
    text = (project.root / rel).read_text()
    assert text.count(old) == 1
    (project.root / rel).write_text(text.replace(old, new))
    assert _build(project.root) == ({asset: "built"}, "")
    assert out.read_text() == after
    assert _build(project.root) == ({asset: "cached"}, "")


def test_all_three_stay_cached_under_every_hash_seed(project):
    """Sets and dicts among the function's attributes, a module's __getattr__, a module read whole:
    nothing the new parts encode depends on the process's hash seed."""
    for files, _, _, _, _ in CASES.values():
        for path, text in files.items():
            if path != "AssetFile":
                project.write(path, text)
    project.write("AssetFile", """
        from assetbuild import asset
        import settings, transforms

        def threshold():
            return threshold.value + len(threshold.names) + len(threshold.table)
        threshold.value = 10
        threshold.names = {"alpha", "beta", "gamma", "delta"}
        threshold.table = {"x": frozenset({"p", "q", "r"}), "y": 2}

        @asset(io="json")
        def every():
            return [threshold(), settings.RATE, getattr(transforms, "transform_upper")("a")]
    """)
    assert _build(project.root, PYTHONHASHSEED="0") == ({"every": "built"}, "")
    for seed in ("1", "2", "3"):
        assert _build(project.root, PYTHONHASHSEED=seed) == ({"every": "cached"}, ""), seed


# ------------------------------------------------------------------------------------------------
# Attributes set on a function


ATTRIBUTE = """
    def threshold():
        return threshold.value
    threshold.value = {!r}
    def a():
        return threshold()
"""


def test_a_function_attribute_counts_by_value():
    one = fp(ATTRIBUTE.format(10))
    assert one.warnings == () and "helper:AssetFile.threshold" in one.parts
    assert digest(ATTRIBUTE.format(10)) == one.digest
    assert digest(ATTRIBUTE.format(20)) != one.digest
    assert digest(ATTRIBUTE.format({"k": (1, 2)})) != digest(ATTRIBUTE.format({"k": (1, 3)}))
    # The asset function's own attributes are parts of their own.
    own = fp("def a():\n    return a.limit\na.limit = 3\n")
    assert "attribute:limit" in own.parts and own.warnings == ()
    assert fp("def a():\n    return a.limit\na.limit = 4\n").parts["attribute:limit"] != own.parts["attribute:limit"]


WRAPPED = """
    import functools
    def add(x, y):
        return x + y
    @functools.lru_cache(maxsize=8)
    def cached(x):
        return x * 2
    part = functools.update_wrapper(functools.partial(add, 1), add)
    {}
    def a():
        return cached(1) + part(2) + cached.limit + part.limit
"""


@pytest.mark.parametrize("target", ["cached", "part"])
def test_an_attribute_of_a_cache_or_partial_wrapper_counts_by_value(target):
    """Code reads ``cached.limit`` from the wrapper's ``__dict__``; the wrapped function's
    metadata that ``update_wrapper`` copies there (and ``__wrapped__``) adds nothing."""
    other = "part" if target == "cached" else "cached"
    base = WRAPPED.format(f"{other}.limit = 0\n    {target}.limit = {{}}")
    one = fp(base.format(10))
    assert one.warnings == ()
    assert digest(base.format(10)) == one.digest
    assert digest(base.format(20)) != one.digest
    assert digest(base.format("{'k': (1, 2)}")) != digest(base.format("{'k': (1, 3)}"))
    locked = fp(base.format("__import__('threading').Lock()"))
    assert len(locked.warnings) == 1 and f"global '{target}', attribute 'limit'" in locked.warnings[0]


def test_a_cache_or_partial_wrapper_without_attributes_keeps_its_encoding():
    """Only what is set on the wrapper beyond what functools puts there counts: a wrapper
    without such attributes is encoded as before (no WRAPPER_STATE)."""
    from assetbuild.fingerprint.encoding import ValueTag
    from assetbuild.fingerprint.nodes import _Node, _Out

    ns = load(WRAPPED.format("pass"))
    encoder = make_fp()._values
    for name, tag in (("cached", ValueTag.LRU_CACHE), ("part", ValueTag.PARTIAL)):
        out = _Out()
        encoder.encode(ns[name], out, _Node(None), name, 0)
        first = out.segs[0] if out.segs else bytes(out.buf)
        assert first.startswith(tag), (name, first[:4])
        ns[name].limit = 1
        out = _Out()
        encoder.encode(ns[name], out, _Node(None), name, 0)
        first = out.segs[0] if out.segs else bytes(out.buf)
        assert first.startswith(ValueTag.WRAPPER_STATE), (name, first[:4])


def test_a_function_attribute_that_cannot_be_encoded_warns_naming_it():
    f = fp("import threading\ndef h():\n    return h.lock\nh.lock = threading.Lock()\ndef a():\n    return h()\n")
    assert len(f.warnings) == 1
    assert "asset 'a': function attribute 'lock' of helper 'AssetFile.h'" in f.warnings[0]


def test_a_function_with_attributes_takes_the_full_walk_whoever_reaches_it_first():
    """The shortcuts for functions that read nothing must not leave the attributes out: the
    digest would then depend on whether another asset reached the function first."""
    ns = load("def a(x):\n    return x\na.scale = 2\ndef b():\n    return a\n")
    direct = make_fp().fingerprint_function(ns["a"], "a")
    walker = make_fp()
    walker.fingerprint_function(ns["b"], "b")  # memoizes a as a helper node
    assert walker.fingerprint_function(ns["a"], "a") == direct
    assert "attribute:scale" in direct.parts
    ns["a"].scale = 3
    assert make_fp().fingerprint_function(ns["a"], "a").digest != direct.digest


def _without(fn, *names):
    """``fn``'s fingerprint helper digest with ``names`` deleted from its ``__dict__`` meanwhile
    (those it has: Python 3.10's ``typing.final`` sets no ``__final__``)."""
    saved = {n: fn.__dict__.pop(n) for n in names if n in fn.__dict__}
    try:
        return make_fp().fingerprint_function(fn, "x").digest
    finally:
        fn.__dict__.update(saved)


def test_what_decorators_set_keeps_the_digest_it_had():
    """``functools.wraps``' ``__wrapped__`` (the closure holds it), ``abc.abstractmethod``'s and
    typing's markers, ``singledispatch``'s registry: none of them adds a part; keys of projects
    that only decorate do not change."""
    ns = load("""
        import abc
        import functools
        import typing
        def traced(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return fn(*args)
            return wrapper
        @traced
        def h(v):
            return v + 1
        class Base(abc.ABC):
            @abc.abstractmethod
            def m(self):
                return 1
        @typing.final
        def fin():
            return 2
        @functools.singledispatch
        def show(x):
            return "x"
        @show.register
        def _(x: int):
            return "int"
    """)
    h, m, fin, show = ns["h"], ns["Base"].__dict__["m"], ns["fin"], ns["show"]
    assert set(h.__dict__) == {"__wrapped__"} and make_fp().fingerprint_function(h, "x").digest == _without(h, "__wrapped__")
    assert make_fp().fingerprint_function(m, "x").digest == _without(m, "__isabstractmethod__")
    assert make_fp().fingerprint_function(fin, "x").digest == _without(fin, "__final__")
    f = make_fp().fingerprint_function(show, "x")
    assert not [p for p in f.parts if p.startswith("attribute:")] and f.warnings == ()
    # assetbuild's own declarations are in the key already (inputs, IO manager, path...).
    declared = load("from assetbuild import asset\n@asset\ndef a():\n    return 1\n")["a"]
    assert "__assetbuild_asset__" in declared.__dict__
    assert make_fp().fingerprint_function(declared, "a").digest == _without(declared, "__assetbuild_asset__")


def test_wrapped_counts_when_the_closure_does_not_hold_it():
    """A wrapper that calls ``__wrapped__`` through its own attribute: what it wraps is only
    there."""
    src = """
        import functools
        def traced(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return wrapper.__wrapped__(*args)
            return wrapper
        @traced
        def h(v):
            return v + 1
        def a(x):
            return h(x)
    """
    assert digest(src) != digest(src.replace("v + 1", "v + 2"))


def test_attributes_copied_by_functools_wraps_count():
    src = textwrap.dedent("""
        import functools
        def base():
            return base.n
        base.n = {}
        @functools.wraps(base)
        def copy():
            return copy.n
        def a():
            return copy()
    """)
    assert digest(src.format(1)) != digest(src.format(2))
    assert functools.WRAPPER_UPDATES == ("__dict__",)  # (why copy has n of its own)


# ------------------------------------------------------------------------------------------------
# Project modules, with the loader's finder (as a build has it)



LAZY_SETTINGS = """
    _RATES = {"RATE": 5}
    def __getattr__(name):
        try:
            return _RATES[name]
        except KeyError:
            raise AttributeError(name) from None
"""


def test_a_module_getattr_counts_as_a_helper(lab):
    write_files(lab.root, {"settings.py": LAZY_SETTINGS})
    src = "import settings\ndef a():\n    return settings.RATE\n"
    one = lab.fp(src)
    assert one.warnings == () and "helper:settings.__getattr__" in one.parts
    assert lab.fp(src) == one  # the same in a fresh fingerprinter
    write_files(lab.root, {"settings.py": LAZY_SETTINGS.replace('"RATE": 5', '"RATE": 6')})
    forget_project_modules(lab.root)
    assert lab.fp(src).digest != one.digest


def test_a_module_getattr_counts_when_the_module_is_an_attribute_of_a_package(lab):
    write_files(lab.root, {"pkg/__init__.py": "", "pkg/settings.py": LAZY_SETTINGS})
    src = "import pkg.settings\ndef a():\n    return pkg.settings.RATE\n"
    one = lab.fp(src)
    assert one.warnings == () and "helper:pkg.settings.__getattr__" in one.parts
    write_files(lab.root, {"pkg/settings.py": LAZY_SETTINGS.replace('"RATE": 5', '"RATE": 7')})
    forget_project_modules(lab.root)
    assert lab.fp(src).digest != one.digest


def test_a_module_without_getattr_is_read_by_names_as_before(lab):
    """Only the names the code reads count: an edit elsewhere in the module reruns nothing."""
    write_files(lab.root, {"plain.py": "RATE = 5\nOTHER = 1\n"})
    src = "import plain\ndef a():\n    return plain.RATE\n"
    one = lab.fp(src)
    assert not [p for p in one.parts if p.startswith("helper:")]
    write_files(lab.root, {"plain.py": "RATE = 5\nOTHER = 2\n"})
    forget_project_modules(lab.root)
    assert lab.fp(src).digest == one.digest


# ------------------------------------------------------------------------------------------------
# Project modules read by a computed name

TRANSFORMS = """
    from lib.words import SUFFIX

    def transform_upper(s):
        return s.upper() + SUFFIX

    def transform_lower(s):
        return s.lower()
"""


def _edit(lab, rel: str, old: str, new: str) -> None:
    path = lab.root / rel
    text = path.read_text()
    assert text.count(old) == 1, (old, text)
    path.write_text(text.replace(old, new))
    forget_project_modules(lab.root)


@pytest.mark.parametrize("body", [
    'return getattr(transforms, "transform_" + kind)(s)',
    'return vars(transforms)["transform_" + kind](s)',
    'return transforms.__dict__["transform_" + kind](s)',
    'return [f for n, f in inspect.getmembers(transforms) if n.endswith(kind)][0](s)',
    'return getattr(pkg.transforms, "transform_" + kind)(s)',  # a module that is an attribute
])
def test_a_module_read_by_a_computed_name_counts_whole(lab, body):
    write_files(lab.root, {"transforms.py": TRANSFORMS, "pkg/__init__.py": "", "pkg/transforms.py": TRANSFORMS,
                      "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = f"import inspect\nimport transforms\nimport pkg.transforms\ndef a(s, kind):\n    {body}\n"
    target = "pkg/transforms.py" if "pkg." in body else "transforms.py"
    one = lab.fp(src)
    assert one.warnings == () and lab.fp(src) == one
    _edit(lab, target, "return s.lower()", "return s.lower()  # a comment")
    assert lab.fp(src).digest == one.digest  # comments are not code
    _edit(lab, target, "return s.upper() + SUFFIX", "return s.upper() + SUFFIX + '!'")
    two = lab.fp(src)
    assert two.digest != one.digest
    _edit(lab, "lib/words.py", "SUFFIX = ''", "SUFFIX = '?'")  # what the module imports, in turn
    assert lab.fp(src).digest != two.digest


def test_a_helper_that_reads_a_module_by_a_computed_name_counts_it_whole(lab):
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = ("import transforms\ndef pick(kind):\n    return getattr(transforms, 'transform_' + kind)\n"
           "def a(s):\n    return pick('upper')(s)\n")
    one = lab.fp(src)
    _edit(lab, "transforms.py", "return s.upper() + SUFFIX", "return s.upper() + SUFFIX + '!'")
    assert lab.fp(src).digest != one.digest


def test_a_module_read_only_by_name_still_counts_only_what_is_read(lab):
    """Without a read by a computed name, an edit to a function the code does not name reruns
    nothing, as before."""
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = "import transforms\ndef a(s):\n    return transforms.transform_lower(s)\n"
    one = lab.fp(src)
    _edit(lab, "transforms.py", "return s.upper() + SUFFIX", "return s.upper() + SUFFIX + '!'")
    assert lab.fp(src).digest == one.digest


PASSED = {
    "to a helper": ("def call(module, name, s):\n    return getattr(module, name)(s)\n"
                    "def a(s):\n    return call(transforms, 'transform_upper', s)\n"),
    "two calls down": ("def call(module, name, s):\n    return getattr(module, name)(s)\n"
                       "def run(module, s):\n    return call(module, 'transform_upper', s)\n"
                       "def a(s):\n    return run(transforms, s)\n"),
    "in a container": ("import operator\nMODULES = [transforms]\n"
                       "def call(module, name, s):\n    return operator.attrgetter(name)(module)(s)\n"
                       "def a(s):\n    return call(MODULES[0], 'transform_upper', s)\n"),
    "by a helper that reads it by name": (
        "def pick():\n    return transforms\n"
        "def call(module, name, s):\n    return getattr(module, name)(s)\n"
        "def a(s):\n    return call(pick(), 'transform_upper', s)\n"),
}


@pytest.mark.parametrize("shape", list(PASSED))
def test_a_module_passed_to_a_helper_that_reads_it_by_a_computed_name(lab, shape):
    """The module is read by name in one function and by a computed name in another: it counts
    whole, as the asset reaches a reader by a computed name."""
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = "import transforms\n" + PASSED[shape]
    one = lab.fp(src)
    assert one.warnings == () and "modules:read by a computed name" in one.parts
    assert lab.fp(src) == one
    _edit(lab, "transforms.py", "return s.lower()", "return s.lower()  # a comment")
    assert lab.fp(src).digest == one.digest
    _edit(lab, "transforms.py", "return s.upper() + SUFFIX", "return s.upper() + SUFFIX + '!'")
    two = lab.fp(src)
    assert two.digest != one.digest
    _edit(lab, "lib/words.py", "SUFFIX = ''", "SUFFIX = '?'")
    assert lab.fp(src).digest != two.digest


def test_an_asset_that_reaches_no_reader_by_a_computed_name_keeps_its_key(lab):
    """The part is the asset's, not the module's: another asset of the same project that reads
    the module by name and reaches no such reader counts only what it reads."""
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = ("import transforms\ndef call(module, name, s):\n    return getattr(module, name)(s)\n"
           "def a(s):\n    return call(transforms, 'transform_upper', s)\n"
           "def b(s):\n    return transforms.transform_lower(s)\n")
    fp_b = lab.fp(src, "b")
    assert "modules:read by a computed name" not in fp_b.parts
    _edit(lab, "transforms.py", "return s.upper() + SUFFIX", "return s.upper() + SUFFIX + '!'")
    assert lab.fp(src, "b").digest == fp_b.digest


@pytest.mark.parametrize("holder", [
    "class Runner:\n    mod = transforms\n    def run(self, s):\n        return self.mod.transform_upper(s)\n",
    "class Runner:\n    mods = {'t': transforms}\n    def run(self, s):\n        return self.mods['t'].transform_upper(s)\n",
])
def test_a_module_held_by_a_class_counts_whole(lab, holder):
    """A module kept as a class attribute is read through ``self`` by the class's methods: no
    name of the class's says which attributes, so it counts whole (a comment still does not)."""
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = "import transforms\n" + holder + "def a(s):\n    return Runner().run(s)\n"
    one = lab.fp(src)
    assert one.warnings == () and lab.fp(src) == one
    _edit(lab, "transforms.py", "return s.lower()", "return s.lower()  # a comment")
    assert lab.fp(src).digest == one.digest
    _edit(lab, "transforms.py", "return s.upper() + SUFFIX", "return s.upper() + SUFFIX + '!'")
    assert lab.fp(src).digest != one.digest


HELD = {
    "passed to a helper": ("def scaled(cfg, s):\n    return cfg.transform_upper(s)\n"
                           "def a(s):\n    return scaled(transforms, s)\n"),
    "returned by a helper": "def config():\n    return transforms\ndef a(s):\n    return config().transform_upper(s)\n",
    "a default": "def config(m=transforms):\n    return m\ndef a(s):\n    return config().transform_upper(s)\n",
    "a keyword-only default": ("def config(*, m=transforms):\n    return m\n"
                               "def a(s):\n    return config().transform_upper(s)\n"),
    "in a container": "MODULES = (transforms,)\ndef a(s):\n    return MODULES[0].transform_upper(s)\n",
    "a local alias": "def a(s):\n    m = transforms\n    return m.transform_upper(s)\n",
    "a walrus": "def a(s):\n    return (m := transforms).transform_upper(s)\n",
    "a closure variable passed on": ("def make():\n    m = transforms\n    def use(s):\n        return pick(m)(s)\n"
                                     "    return use\nuse = make()\n"
                                     "def pick(mod):\n    return mod.transform_upper\ndef a(s):\n    return use(s)\n"),
    "imported inside the function, passed on": ("def scaled(cfg, s):\n    return cfg.transform_upper(s)\n"
                                                "def a(s):\n    import transforms as t\n    return scaled(t, s)\n"),
    "a package's submodule passed on": ("def scaled(cfg, s):\n    return cfg.transform_upper(s)\n"
                                        "def a(s):\n    return scaled(pkg.transforms, s)\n"),
    "a submodule imported from its package inside the function": (
        "def scaled(cfg, s):\n    return cfg.transform_upper(s)\n"
        "def a(s):\n    from pkg import transforms as t\n    return scaled(t, s)\n"),
}


@pytest.mark.parametrize("shape", list(HELD))
def test_a_module_held_as_a_value_counts_whole(lab, shape):
    """The module leaves the function that names it (an argument, a return value, a default, a
    container, a variable): which of its attributes are read there, no name of that function
    says, so it counts whole; a comment in it still does not."""
    write_files(lab.root, {"transforms.py": TRANSFORMS, "pkg/__init__.py": "", "pkg/transforms.py": TRANSFORMS,
                           "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = "import transforms\nimport pkg.transforms\n" + HELD[shape]
    target = "pkg/transforms.py" if "pkg" in HELD[shape] else "transforms.py"
    one = lab.fp(src)
    assert one.warnings == () and "modules:held as values" in one.parts
    assert lab.fp(src) == one
    _edit(lab, target, "return s.lower()", "return s.lower()  # a comment")
    assert lab.fp(src).digest == one.digest
    _edit(lab, target, "return s.lower()", "return s.lower() + '!'")  # a function no name reads
    two = lab.fp(src)
    assert two.digest != one.digest
    _edit(lab, "lib/words.py", "SUFFIX = ''", "SUFFIX = '?'")  # what the module imports, in turn
    assert lab.fp(src).digest != two.digest


@pytest.mark.parametrize("body", [
    "return transforms.transform_upper(s)",
    "return [transforms.transform_upper(c) for c in s]",
    "transforms.COUNT += 1\n    return transforms.transform_upper(s)",
    "import transforms as t\n    return t.transform_upper(s)",
    "return pkg.transforms.transform_upper(s)",
    "from pkg import transforms as t\n    return t.transform_upper(s)",
    "return call(transforms.transform_upper, s)",  # a function of it passed on, not the module
])
def test_a_module_read_only_through_its_attributes_counts_by_what_is_read(lab, body):
    """Read by attribute where it is named (a global, an import, a package's submodule): an
    edit of a function the code does not read reruns nothing, as before."""
    write_files(lab.root, {"transforms.py": TRANSFORMS + "    COUNT = 0\n", "pkg/__init__.py": "",
                           "pkg/transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = ("import transforms\nimport pkg.transforms\ndef call(f, s):\n    return f(s)\n"
           f"def a(s):\n    {body}\n")
    target = "pkg/transforms.py" if "pkg" in body else "transforms.py"
    one = lab.fp(src)
    assert one.warnings == () and not any(label.startswith("modules:") for label in one.parts)
    _edit(lab, target, "return s.lower()", "return s.lower() + '!'")
    assert lab.fp(src).digest == one.digest


def test_without_a_finder_a_module_read_by_a_computed_name_warns(tmp_path):
    """A Fingerprinter without the loader's finder cannot read the module's file: it says so."""
    import sys
    import types

    mod = types.ModuleType("fplib")
    mod.f = lambda: 1
    sys.modules["fplib"] = mod
    try:
        f = fp("def a(name):\n    return getattr(fplib, name)()\n", fplib=mod)
    finally:
        del sys.modules["fplib"]
    assert len(f.warnings) == 1 and "module fplib: attributes read by a computed name" in f.warnings[0]


# ------------------------------------------------------------------------------------------------
# Globals and modules found by a computed name


@pytest.mark.parametrize("body", [
    "return globals()[name]",
    "return globals().get(name)",
    "return eval(name)",
])
def test_a_global_read_by_a_computed_name_counts_every_global(body):
    """The leaf shortcut (``globals`` is a builtin) does not apply; every global counts by value,
    the import system's bookkeeping does not."""
    src = f"THRESH = {{}}\nOTHER = 1\ndef a(name):\n    {body}\n"
    one = fp(src.format(10))
    # eval can import too: without the loader's finder, that is not seen, and it says so
    assert [w for w in one.warnings if "modules imported by a computed name" not in w] == []
    assert bool(one.warnings) == ("eval" in body)
    assert "global:THRESH" in one.parts and "global:__file__" not in one.parts
    assert digest(src.format(10)) == one.digest
    assert digest(src.format(20)) != one.digest
    assert digest(src.format(10), filename="/elsewhere/AssetFile") == one.digest


def test_a_helper_that_reads_its_module_globals_by_a_computed_name(lab):
    write_files(lab.root, {"helpers.py": "RATE = 5\ndef pick(name):\n    return globals()[name]\n"})
    src = "import helpers\ndef a():\n    return helpers.pick('RATE')\n"
    one = lab.fp(src)
    assert one.warnings == ()
    _edit(lab, "helpers.py", "RATE = 5", "RATE = 5  # a comment")
    assert lab.fp(src).digest == one.digest
    _edit(lab, "helpers.py", "RATE = 5", "RATE = 6")
    assert lab.fp(src).digest != one.digest


@pytest.mark.parametrize("body", [
    "return importlib.import_module('trans' + kind).transform_upper(s)",
    "return import_module('trans' + kind).transform_upper(s)",
    "return __import__('trans' + kind).transform_upper(s)",
    "return sys.modules['trans' + kind].transform_upper(s)",
    "return modules['trans' + kind].transform_upper(s)",
])
def test_a_module_imported_by_a_computed_name_counts_every_project_module(lab, body):
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = ("import importlib\nimport sys\nfrom importlib import import_module\nfrom sys import modules\n"
           "import transforms as _loaded\n"  # imported with the AssetFile, under another name
           f"def a(s, kind='forms'):\n    {body}\n")
    one = lab.fp(src)
    assert one.warnings == () and "modules:imported by a computed name" in one.parts
    assert lab.fp(src) == one
    _edit(lab, "transforms.py", "return s.lower()", "return s.lower()  # a comment")
    assert lab.fp(src).digest == one.digest
    _edit(lab, "transforms.py", "return s.lower()", "return s.lower() + '!'")
    two = lab.fp(src)
    assert two.digest != one.digest
    _edit(lab, "lib/words.py", "SUFFIX = ''", "SUFFIX = '?'")
    assert lab.fp(src).digest != two.digest


@pytest.mark.parametrize("body", [
    "import sys\n    return sys.modules['trans' + kind].transform_upper(s)",
    "import sys as system\n    return system.modules.get('trans' + kind).transform_upper(s)",
    "from sys import modules\n    return modules['trans' + kind].transform_upper(s)",
    "def inner():\n        import sys\n        return sys.modules['trans' + kind]\n    return inner().transform_upper(s)",
])
def test_sys_imported_inside_the_function_is_sys_too(lab, body):
    """``sys.modules[name]`` however the function binds ``sys``: imported inside it (or inside
    a function nested in it) as well as a global or a closure variable."""
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = f"import transforms as _loaded\ndef a(s, kind='forms'):\n    {body}\n"
    one = lab.fp(src)
    assert one.warnings == () and "modules:imported by a computed name" in one.parts
    _edit(lab, "transforms.py", "return s.lower()", "return s.lower() + '!'")
    assert lab.fp(src).digest != one.digest


def test_sys_as_a_default_is_sys_too(lab):
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = ("import sys as _sys\nimport transforms as _loaded\n"
           "def a(s, kind='forms', system=_sys):\n    return system.modules['trans' + kind].transform_upper(s)\n")
    assert "modules:imported by a computed name" in lab.fp(src).parts


def test_a_module_only_in_the_project_folders_counts_for_an_import_by_a_computed_name(lab):
    """Nothing imported ``models`` with the AssetFile: the asset picks one by name when it runs.
    Each module the project's folders hold counts, and one added there; folders and files no
    dotted name reaches (``.venv``, ``data.old``, ``__pycache__``) do not, nor a virtualenv or
    ``node_modules``."""
    write_files(lab.root, {"models/__init__.py": "", "models/small.py": "def predict(x):\n    return x + 1\n",
                      ".venv/lib/site.py": "X = 1\n", "data.old/m.py": "X = 1\n",
                      "models/__pycache__/stray.py": "X = 1\n", "venv/pyvenv.cfg": "home = /usr\n",
                      "venv/bin/activate_this.py": "X = 1\n", "node_modules/x/gen.py": "X = 1\n"})
    src = "import importlib\ndef a(name):\n    return importlib.import_module('models.' + name).predict(1)\n"
    one = lab.fp(src)
    assert one.warnings == () and "models" not in sys.modules
    _edit(lab, "models/small.py", "x + 1", "x + 1  # a comment")
    assert lab.fp(src).digest == one.digest
    for rel in (".venv/lib/site.py", "data.old/m.py", "models/__pycache__/stray.py", "venv/bin/activate_this.py",
                "node_modules/x/gen.py"):
        _edit(lab, rel, "X = 1", "X = 2")
        assert lab.fp(src).digest == one.digest, rel
    _edit(lab, "models/small.py", "x + 1", "x + 2")
    two = lab.fp(src)
    assert two.digest != one.digest
    write_files(lab.root, {"models/large.py": "def predict(x):\n    return x * 10\n"})
    assert lab.fp(src).digest != two.digest


def test_a_module_added_to_the_project_is_seen_by_the_next_fast_build(project):
    """The snapshot records the folders listed for an import by a computed name: a module added
    to one makes the next build decide again (without the check, as a user's build runs)."""
    files = CASES["a module nothing imported with the AssetFile, imported by a computed name"][0]
    for path, text in files.items():
        project.write(path, text)
    project.write("extras/notes.txt", "no module here yet\n")  # a folder no module was read from
    assert _build(project.root) == ({"pick": "built"}, "")
    assert _build(project.root, ASSETBUILD_CHECK_SNAPSHOT="0") == ({"pick": "cached"}, "")
    project.write("extras/large.py", "def predict(x):\n    return x * 10\n")
    assert _build(project.root, ASSETBUILD_CHECK_SNAPSHOT="0") == ({"pick": "built"}, "")
    assert _build(project.root, ASSETBUILD_CHECK_SNAPSHOT="0") == ({"pick": "cached"}, "")


def test_an_attribute_named_modules_is_not_sys_modules(lab):
    """``model.modules`` (a common method name) alone does not make every module count."""
    write_files(lab.root, {"transforms.py": TRANSFORMS, "lib/__init__.py": "", "lib/words.py": "SUFFIX = ''\n"})
    src = "import transforms\ndef a(model):\n    return list(model.modules())\n"
    one = lab.fp(src)
    assert "modules:imported by a computed name" not in one.parts
    _edit(lab, "transforms.py", "return s.lower()", "return s.lower() + '!'")
    assert lab.fp(src).digest == one.digest


def test_without_a_finder_a_module_imported_by_a_computed_name_warns():
    f = fp("import importlib\ndef a(name):\n    return importlib.import_module(name)\n")
    assert f.warnings and "modules imported by a computed name" in f.warnings[0]
