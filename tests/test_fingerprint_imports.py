"""Project code in folders without ``__init__.py``, and modules imported inside functions.

Every module loaded from under the project directory is project code, under every import style,
whether the AssetFile imports it or an asset imports it inside its function (then it is read from
its file, never imported by fingerprinting). End to end: real projects in ``tmp_path``, built,
edited, built again. Then the fingerprint itself: transitive and relative imports, cycles,
libraries by version, warnings that say the true reason, the stat-signature cache, and digests
that do not depend on what the process imported before (in this process and in fresh ones).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from fingerprint_lab import write_files
from projects import FULL_ENV, REPO, SNAPSHOT_ENV, clean_env, cli, snapshot_twins

import assetbuild
from assetbuild.fingerprint.imports import code_imports, import_statements
from assetbuild.loader import (
    ProjectImports,
    ProjectModuleFinder,
    project_module_names,
)
from assetbuild.output import Reporter

# ------------------------------------------------------------------------------------------------
# End to end: each import style, against a namespace package and a regular one

# (AssetFile top, asset body): how the asset reaches pkg/h.py's f.
STYLES = {
    "import a.b": ("import pkg.h", "return pkg.h.f()"),
    "import a.b as c": ("import pkg.h as c", "return c.f()"),
    "from a import b": ("from pkg import h", "return h.f()"),
    "from a.b import f": ("from pkg.h import f", "return f()"),
}


def _build(project, **kw):
    err = io.StringIO()
    r = project.build(reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2), **kw)
    assert r.ok, [(x.asset, x.error) for x in r.results if x.status == "failed"]
    return r.names("built"), err.getvalue()


@pytest.mark.parametrize("package", ["namespace", "regular"])
@pytest.mark.parametrize("where", ["top", "inside"])
@pytest.mark.parametrize("style", list(STYLES))
def test_each_import_style_rebuilds_on_a_real_edit_only(project, style, where, package):
    top, body = STYLES[style]
    if package == "regular":
        project.write("pkg/__init__.py", "")
    project.write("pkg/h.py", "def f():\n    return 1\n")
    if where == "top":
        project.assetfile(f"{top}\n\n@asset(io='json')\ndef a():\n    {body}\n")
    else:
        project.assetfile(f"@asset(io='json')\ndef a():\n    {top}\n    {body}\n")
    built, err = _build(project)
    assert built == ["a"] and err == ""
    project.write("pkg/h.py", "def f():\n    # a comment, and a blank line\n\n    return 1\n")
    assert _build(project) == ([], "")
    project.write("pkg/h.py", "def f():\n    return 2\n")
    assert _build(project) == (["a"], "")
    assert project.value("a") == 2
    assert "pkg.h" not in sys.modules  # the build leaves sys.modules as it was


def test_a_namespace_package_of_another_project_is_not_reused(tmp_path, monkeypatch):
    """The loader forgets a project's namespace packages after a load, as it does its other
    modules: the next project with a ``src/`` of its own gets its own. (Without this checkout
    on sys.path, which ``python -m pytest`` puts there: its own ``src/`` would be a portion of
    the same namespace, outside the project.)"""
    from projects import Project

    here = str(REPO)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.realpath(p or ".") != here])
    values = []
    for n in (1, 2):
        p = Project(tmp_path / f"p{n}")
        p.write("src/h.py", f"def f():\n    return {n}\n")
        p.assetfile("import src.h\n\n@asset(io='json')\ndef a():\n    return src.h.f()\n")
        assert _build(p) == (["a"], "")
        values.append(p.value("a"))
    assert values == [1, 2] and "src" not in sys.modules


def test_the_issue_pipeline_lazy_training_module_reruns_model(project):
    """The issue's case: ``src/`` without ``__init__.py``, a module imported inside the asset."""
    project.write("src/train.py", "from src.util import scale\n\ndef train(x):\n    return scale(x) + 1\n")
    project.write("src/util.py", "def scale(x):\n    return x * 2\n")
    project.assetfile("""
import src.h

@asset(io="json")
def features():
    return src.h.f()

@asset(io="json")
def model(features):
    from src.train import train
    return train(features)
""")
    project.write("src/h.py", "def f():\n    return 1\n")
    assert _build(project) == (["features", "model"], "")
    project.write("src/util.py", "def scale(x):\n    return x * 3\n")  # imported by src.train
    assert {n: s.state for n, s in project.status().items()} == {"features": "fresh", "model": "stale"}
    assert _build(project) == (["model"], "")
    assert project.value("model") == 4


def test_watch_mode_rebuilds_when_a_module_imported_inside_a_function_is_saved(project):
    """Watch mode watches the files fingerprinting reads, not only those the AssetFile imports."""
    from test_watch import Watching, built, edit

    project.write("src/train.py", "def train():\n    return 1\n")
    project.assetfile("@asset(io='json')\ndef model():\n    from src.train import train\n    return train()\n")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["model"]
        n = len(w.cycles)
        edit(project.root / "src" / "train.py", "def train():\n    return 2\n")
        assert built(w.wait(n + 1)[-1]) == ["model"]
    assert project.value("model") == 2


def test_a_module_imported_inside_a_function_and_edited_while_it_runs_is_not_recorded(project):
    """A worker that imports the module after an edit ran other code than the key says: the
    build must not record that output under the old key (the AssetFile imports no project code,
    so the build starts with no project file known at all)."""
    import threading

    project.write("src/words.py", "def word():\n    return 'old'\n")
    project.assetfile("""
import time

@asset(io="json")
def gate(context):
    (context.project_dir / "started").write_text("")
    while not (context.project_dir / "go").exists():
        time.sleep(0.01)
    return 1

@asset(io="text")
def said(gate):
    from src.words import word
    return word()
""")
    done: list = []
    t = threading.Thread(target=lambda: done.append(assetbuild.build(
        project_dir=project.root, jobs=2, executor="processes", keep_going=True)))
    t.start()
    deadline = time.monotonic() + 60
    while not (project.root / "started").exists():
        assert time.monotonic() < deadline and t.is_alive()
        time.sleep(0.01)
    (project.root / "src" / "words.py").write_text("def word():\n    return 'new'\n")
    (project.root / "go").write_text("")
    t.join(120)
    said = {r.asset: r for r in done[0].results}["said"]
    assert said.status == "failed" and "src/words.py changed while 'said' was running" in said.error
    assert assetbuild.build(project_dir=project.root).by_asset() == {"gate": "cached", "said": "built"}
    assert project.value("said") == "new"


def test_a_null_build_does_not_import_a_module_imported_inside_a_function(project):
    """The point of an import inside a function: a null build never runs the module."""
    project.write("src/heavy.py", "import os\nos.makedirs('imported', exist_ok=True)\n"
                  "open(os.path.join('imported', str(os.getpid())), 'w').close()\n"
                  "def fit(x):\n    return x\n")
    project.assetfile("@asset(io='json')\ndef model():\n    from src.heavy import fit\n    return fit(3)\n")
    cwd = os.getcwd()
    os.chdir(project.root)  # the module writes where it runs
    try:
        assert _build(project) == (["model"], "")
        ran = sorted(os.listdir(project.root / "imported"))
        assert len(ran) == 1  # the run imported it
        for _ in range(2):
            assert _build(project) == ([], "")
        assert sorted(os.listdir(project.root / "imported")) == ran
    finally:
        os.chdir(cwd)


def test_warnings_name_the_true_reason(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "outlib.py").write_text("def g():\n    return 1\n")
    project.write("src/h.py", "def f():\n    return 1\n")
    project.assetfile("""
@asset(io="json")
def missing():
    from src.nothere import f
    return f()

@asset(io="json")
def elsewhere():
    import outlib
    return outlib.g()

@asset(io="json")
def fine():
    import json
    from src import h
    return h.f()
""")
    sys.path.append(str(outside))
    try:
        err = io.StringIO()
        r = project.build("fine", reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2))
        assert r.ok and err.getvalue() == ""
        assetbuild.status(project_dir=project.root, reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2))
    finally:
        sys.path.remove(str(outside))
    text = err.getvalue()
    assert ("asset 'missing': module 'src.nothere' imported inside the function "
            "(module src.nothere: no such module) cannot be fingerprinted") in text
    assert ("asset 'elsewhere': module 'outlib' imported inside the function (module outlib: from a "
            "path outside the project, not an installed distribution) cannot be fingerprinted") in text
    assert "neither in the project" not in text and "'fine'" not in text


# ------------------------------------------------------------------------------------------------
# ``import a.b`` inside a function binds package ``a``: what the code reads from ``a`` counts

# Where the AssetFile imports the submodule (so both count by the names the code reads), and
# where the code that does ``import pkg.h`` inside it sits: the asset, or a helper module's function.
SUBMODULE_IMPORTED = {
    "the AssetFile": ("import pkg.h\nimport helper\n", ""),
    "a helper module": ("import helper\n", "import pkg.h\n"),
}
READERS = {
    "the asset": ("", "import pkg.h\n    return pkg.X + pkg.h.Y"),
    "a helper function": ("def get():\n    import pkg.h\n    return pkg.X + pkg.h.Y\n", "return helper.get()"),
}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("imported_by", list(SUBMODULE_IMPORTED))
def test_a_submodule_import_inside_a_function_counts_what_it_reads_from_the_package(
        project, imported_by, reader):
    """``import pkg.h`` binds ``pkg``: ``pkg.X`` is read from ``pkg/__init__.py``. With the
    AssetFile importing ``pkg.h`` (both count by the names the code reads), only ``pkg.h``'s
    names counted, so an edit of ``X`` reran nothing and the old value stayed."""
    top, helper_top = SUBMODULE_IMPORTED[imported_by]
    helper_code, body = READERS[reader]
    project.write("pkg/__init__.py", "X = 1\nUNUSED = 1\n")
    project.write("pkg/h.py", "Y = 10\nOTHER = 1\n")
    project.write("helper.py", helper_top + helper_code)
    project.assetfile(f"{top}\n@asset(io='json')\ndef total():\n    {body}\n")
    assert _build(project) == (["total"], "")
    project.write("pkg/__init__.py", "X = 2\nUNUSED = 1\n")
    assert _build(project) == (["total"], "")
    assert project.value("total") == 12
    project.write("pkg/h.py", "Y = 20\nOTHER = 1\n")
    assert _build(project) == (["total"], "")
    assert project.value("total") == 22
    project.write("pkg/__init__.py", "X = 2\nUNUSED = 2\n")  # read by no code: by names still
    project.write("pkg/h.py", "Y = 20\nOTHER = 2\n")
    assert _build(project) == ([], "")


@pytest.mark.parametrize("statement, expr", [("import pkg.sub.m", "pkg.sub.Z + pkg.X"),
                                             ("import pkg.sub.m as m", "m.W"),
                                             ("import pkg.sub.m, pkg", "pkg.sub.Z + pkg.X")])
def test_a_deeper_submodule_import_counts_each_package_it_reads_through(project, statement, expr):
    """``import pkg.sub.m`` reads ``pkg.sub.Z`` through ``pkg`` and ``pkg.sub``; ``as m`` binds
    ``pkg.sub.m`` itself, and nothing it reads comes from the packages."""
    project.write("pkg/__init__.py", "X = 1\n")
    project.write("pkg/sub/__init__.py", "Z = 10\n")
    project.write("pkg/sub/m.py", "W = 100\n")
    project.assetfile(f"import pkg.sub.m\n\n@asset(io='json')\ndef total():\n    {statement}\n    return {expr}\n")
    assert _build(project) == (["total"], "")
    before = project.value("total")
    project.write("pkg/sub/__init__.py", "Z = 20\n")
    project.write("pkg/__init__.py", "X = 2\n")
    reads_packages = "pkg.X" in expr
    assert _build(project) == ((["total"], "") if reads_packages else ([], ""))
    assert project.value("total") == (before + 11 if reads_packages else before)
    project.write("pkg/sub/m.py", "W = 200\n")
    assert _build(project) == ((["total"], "") if not reads_packages else ([], ""))


def test_a_submodule_import_reruns_the_same_through_the_fast_path_and_the_full_one(tmp_path):
    """The snapshot's null build and the full path decide alike: both rerun on the package's edit."""
    files = {"pkg/__init__.py": "X = 1\n", "pkg/h.py": "Y = 10\n",
             "AssetFile": "from assetbuild import asset\nimport pkg.h\n\n\n@asset(io='json', path='out/total.json')\n"
                          "def total():\n    import pkg.h\n    return pkg.X + pkg.h.Y\n"}
    snap, full = snapshot_twins(tmp_path, files)
    for root, env in ((snap, SNAPSHOT_ENV), (full, FULL_ENV)):
        (root / "pkg" / "__init__.py").write_text("X = 2\n")
        r = cli(cwd=root, env=clean_env(**env))
        assert r.returncode == 0 and "1 built, 0 cached" in r.stdout, (root, r.stdout, r.stderr)
        assert json.loads((root / "out" / "total.json").read_text()) == 12
        (root / "pkg" / "h.py").write_text("Y = 10\nOTHER = 1\n")  # read by no code
        r = cli(cwd=root, env=clean_env(**env))
        assert r.returncode == 0 and "0 built, 1 cached" in r.stdout, (root, r.stdout, r.stderr)

DYNAMIC_IMPORTERS = {
    "import_module, computed": "import importlib\n\n\ndef w():\n    return importlib.import_module('lib.' + 'dd').X\n",
    "import_module, constant": "from importlib import import_module\n\n\ndef w():\n    return import_module('lib.dd').X\n",
    "__import__": "def w():\n    return __import__('lib.dd', fromlist=['X']).X\n",
}


@pytest.mark.parametrize("importer", list(DYNAMIC_IMPORTERS))
def test_a_module_read_from_its_file_that_imports_by_a_computed_name_counts_every_project_module(
        tmp_path, importer):
    """An asset imports ``lib.dyn`` inside its function; ``lib/dyn.py`` imports ``lib.dd`` by a
    name it computes. Read from its file, ``lib.dyn`` gave only its import statements, so an
    edit of ``lib/dd.py`` never reran the asset: fresh to ``status``, cached by the fast path and
    the full one, unseen by watch. Such a module now counts every project module whole, as an
    asset's own code that imports by a computed name does; a module no code can import by
    name (a data file) still reruns nothing."""
    files = {"lib/__init__.py": "", "lib/dd.py": "X = 'x0'\n", "lib/dyn.py": DYNAMIC_IMPORTERS[importer],
             "notes.txt": "n\n",
             "AssetFile": "from assetbuild import asset\n\n\n@asset(io='text', path='build/c.txt')\n"
                          "def c():\n    from lib.dyn import w\n    return w()\n"}
    snap, full = snapshot_twins(tmp_path, files)
    for root, env in ((snap, SNAPSHOT_ENV), (full, FULL_ENV)):
        (root / "lib" / "dd.py").write_text("X = 'x1'\n")
        st = cli("status", cwd=root, env=clean_env(**env))
        assert "stale" in st.stdout and "code-changed" in st.stdout, (root, st.stdout, st.stderr)
        r = cli(cwd=root, env=clean_env(**env))
        assert r.returncode == 0 and "1 built, 0 cached" in r.stdout, (root, r.stdout, r.stderr)
        assert (root / "build" / "c.txt").read_text() == "x1"
        (root / "notes.txt").write_text("m\n")
        r = cli(cwd=root, env=clean_env(**env))
        assert r.returncode == 0 and "0 built, 1 cached" in r.stdout, (root, r.stdout, r.stderr)


SUBCLASSES = {"lib/__init__.py": "", "lib/base.py": "class Step:\n    def run(self):\n        return 0\n",
              "lib/steps.py": "from .base import Step\n\n\nclass Double(Step):\n    def run(self):\n        return 2\n",
              "AssetFile": "from assetbuild import asset\nimport lib.steps\nfrom lib.base import Step\n\n\n"
                           "@asset(io='json', path='out/a.json')\ndef a():\n"
                           "    return sorted(c().run() for c in Step.__subclasses__())\n"}


def test_subclasses_found_by_dunder_subclasses_count_every_project_module(tmp_path):
    """``Step.__subclasses__()`` (plugin discovery) finds classes of modules no name of the
    asset reads (``lib.steps``, imported for its classes): an edit of one, or a new subclass,
    reruns the asset."""
    for rel, text in SUBCLASSES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    root, env = tmp_path, FULL_ENV
    assert cli(cwd=root, env=clean_env(**env)).returncode == 0
    (root / "lib" / "steps.py").write_text(SUBCLASSES["lib/steps.py"].replace("return 2", "return 4"))
    r = cli(cwd=root, env=clean_env(**env))
    assert r.returncode == 0 and "1 built, 0 cached" in r.stdout, (root, r.stdout, r.stderr)
    assert json.loads((root / "out" / "a.json").read_text()) == [4]
    with (root / "lib" / "steps.py").open("a") as f:
        f.write("\n\nclass Triple(Step):\n    def run(self):\n        return 3\n")
    r = cli(cwd=root, env=clean_env(**env))
    assert r.returncode == 0 and "1 built, 0 cached" in r.stdout, (root, r.stdout, r.stderr)
    assert json.loads((root / "out" / "a.json").read_text()) == [3, 4]


def test_a_namespace_package_inside_one_not_imported_is_found(project):
    """``import ns.sub.m`` inside a function, none of it imported: locating ``ns.sub`` (a folder
    without ``__init__.py`` too) asked ``importlib`` for a namespace path, which looks its parent
    up in ``sys.modules``, and the build ended in a KeyError traceback."""
    project.write("ns/b.py", "Y = 10\n")
    project.write("ns/sub/m.py", "Z = 1\n")
    project.assetfile("@asset(io='json')\ndef total():\n    import ns.sub.m, ns.b\n"
                      "    return ns.sub.m.Z + ns.b.Y\n")
    assert _build(project) == (["total"], "")
    project.write("ns/sub/m.py", "Z = 2\n")
    assert _build(project) == (["total"], "")
    project.write("ns/b.py", "Y = 20\n")
    assert _build(project) == (["total"], "")
    assert project.value("total") == 22


# ------------------------------------------------------------------------------------------------
# The fingerprint: a Fingerprinter with the loader's finder over a project in tmp_path




LAZY = "def a(x):\n    from src.train import train\n    return train(x)\n"


def test_code_imports_reads_every_form():
    code = compile(textwrap.dedent("""
        from q import *
        def f():
            import a.b
            import a.b as c
            from a import b, c
            def inner():
                from .h import f as g
                from .. import x
    """), "m", "exec")
    assert code_imports(code) == (
        ("", 2, ("x",)), ("a", 0, ("b", "c")), ("a.b", 0, ()), ("h", 1, ("f",)), ("q", 0, ("*",)))



def test_import_statements_say_which_bind_the_top_package():
    code = compile("def f():\n    import a.b, a.b.c as d, e, f.g\n    from a.b import x\n    import h.i as h\n", "m", "exec")
    assert import_statements(code)[1] == ("a.b", "f.g")


def test_a_submodule_import_adds_its_package_only_when_that_counts_by_names(lab):
    """``import pkg.h`` inside a function (``pkg.h`` imported with the AssetFile) counts ``pkg``
    by the names the code reads; a library's ``import os.path`` or one with ``as`` adds no part,
    so the keys of such code stay what they were."""
    write_files(lab.root, {"pkg/__init__.py": "X = 1\n", "pkg/h.py": "Y = 1\n"})
    src = "import pkg.h\ndef a():\n    import pkg.h\n    return pkg.X\ndef b():\n    import pkg.h as h\n" \
          "    import os.path\n    import xml.etree.ElementTree\n    return h.Y\n"
    assert "module:pkg" in lab.fp(src).parts
    assert sorted(lab.fp(src, "b").parts) == ["code", "module:pkg.h", "module:posixpath",
                                               "module:xml.etree.ElementTree", "names"]

def test_transitive_relative_and_package_imports_count_comments_do_not(lab):
    files = {
        "src/pipeline/__init__.py": "from .consts import K\n",
        "src/pipeline/consts.py": "K = 1\n",
        "src/pipeline/steps.py": "from . import helpers\nfrom .deep import g\n\ndef h(x):\n    return helpers.k(g(x))\n",
        "src/pipeline/helpers.py": "def k(x):\n    from .late import m\n    return m(x)\n",
        "src/pipeline/late.py": "def m(x):\n    return x\n",
        "src/pipeline/deep.py": "def g(x):\n    return x + 1\n",
    }
    write_files(lab.root, files)
    src = "def a(x):\n    from src.pipeline.steps import h\n    return h(x)\n"
    before = _src_modules()
    first = lab.fp(src)
    assert first.warnings == () and "module:src.pipeline.steps" in first.parts
    seen = {first.digest}
    for rel, text in files.items():
        write_files(lab.root, {rel: "# a comment\n" + text.replace("\n", "\n\n")})  # no new code
        assert lab.fp(src).digest == first.digest, rel
        write_files(lab.root, {rel: text + "EXTRA = 2\n"})
        seen.add(lab.fp(src).digest)
        write_files(lab.root, {rel: text})
    assert len(seen) == len(files) + 1  # each module, reached by every kind of import, counts
    assert lab.fp(src).digest == first.digest
    assert _src_modules() == before


def _src_modules() -> dict[str, object]:
    """The modules named ``src`` or ``src.*`` loaded now, to compare with after fingerprinting:
    what the worker's earlier tests left is theirs (a project's ``src`` beside another on
    sys.path once stayed loaded after its build: tests/test_loader.py)."""
    return {m: mod for m, mod in sys.modules.items() if m == "src" or m.startswith("src.")}


def test_fingerprinting_imports_nothing_and_runs_nothing(lab):
    write_files(lab.root, {"src/train.py": "raise SystemExit('imported!')\ndef train(x):\n    return x\n"})
    before = _src_modules()
    f = lab.fp(LAZY)
    assert f.warnings == () and _src_modules() == before  # neither src.train nor src imported


def test_digest_is_the_same_before_and_after_the_module_is_imported(lab):
    write_files(lab.root, {"src/train.py": "from src.util import u\ndef train(x):\n    return u(x)\n",
                      "src/util.py": "def u(x):\n    return x\n",
                      "src/other.py": "def o():\n    return 1\n"})
    text = ("import src.other\n"  # src (a namespace package) is imported with the AssetFile
            "def a(x):\n    from src.train import train\n    return train(x) + src.train.train(x)\n"
            "def b(x):\n    from src import train\n    return train.train(x)\n"
            "def c(x):\n    return src.train.train(x)  # works once something imported it\n")
    names = ("a", "b", "c")
    before = {n: lab.fp(text, n) for n in names}
    after = {n: lab.fp(text, n, then_import="src.train") for n in names}  # an asset ran before
    assert after == before
    assert all(f.warnings == () for f in before.values())
    write_files(lab.root, {"src/util.py": "def u(x):\n    return -x\n"})
    assert all(lab.fp(text, n).digest != before[n].digest for n in names)


def test_import_cycles_terminate_and_do_not_depend_on_the_entry(lab):
    write_files(lab.root, {"src/a.py": "from src import b\ndef fa():\n    return b.fb()\n",
                      "src/b.py": "def fb():\n    from src.a import fa\n    return 1\n"})
    one = lab.fp("def a():\n    from src.a import fa\n    return fa()\n")
    two = lab.fp("def a():\n    from src.b import fb\n    import src.a\n    return fb()\n")
    assert one.warnings == two.warnings == ()
    assert one.parts["module:src.a"] == two.parts["module:src.a"]  # one component, whichever entry


def test_libraries_count_by_version_and_are_not_imported(lab, tmp_path):
    site = tmp_path / "site"
    write_files(site, {"fakelib/__init__.py": "raise SystemExit('imported!')\n"})
    write_files(lab.root, {"src/train.py": "import fakelib\ndef train(x):\n    return fakelib.fit(x)\n"})
    sys.path.append(str(site))
    try:
        direct = "def a(x):\n    import fakelib.sub\n    return fakelib.sub.fit(x)\n"
        digests = {(src, v): lab.fp(src, versions={"fakelib": v})
                   for src in (direct, LAZY) for v in ("1.0", "2.0")}
    finally:
        sys.path.remove(str(site))
    assert "fakelib" not in sys.modules
    assert all(f.warnings == () for f in digests.values())
    for src in (direct, LAZY):
        assert digests[(src, "1.0")].digest != digests[(src, "2.0")].digest


def test_finder_cache_reads_no_source_for_an_unchanged_file(lab, monkeypatch, settled):
    import assetbuild.modulefinder as modulefinder

    path = lab.root / "src" / "train.py"
    write_files(lab.root, {"src/train.py": "def train(x):\n    return x\n"})
    old = time.time_ns() - 10 * 10**9
    os.utime(path, ns=(old, old))
    first = lab.fp(LAZY)
    assert ProjectModuleFinder._memory[str(path)][0] is not None  # its signature kept (``settled``)
    compiled: list[str] = []
    real = modulefinder._digest_module
    monkeypatch.setattr(modulefinder, "_digest_module", lambda data, p: compiled.append(p) or real(data, p))
    ProjectModuleFinder._memory.clear()  # a fresh process: only the cache directory is left
    assert lab.fp(LAZY) == first and compiled == []
    # Same size, same mtime, other code: the signature still differs (ctime), and it is read.
    path.write_text("def train(x):\n    return y\n")
    os.utime(path, ns=(old, old))
    assert lab.fp(LAZY).digest != first.digest and compiled == [str(path)]
    # A comment-only edit is read, and not compiled again... when its bytes are the same.
    path.write_text("def train(x):\n    return x\n")
    assert lab.fp(LAZY) == first


def test_status_writes_no_module_cache_and_a_build_does(project):
    project.write("src/train.py", "def train():\n    return 1\n")
    project.assetfile("@asset(io='json')\ndef model():\n    from src.train import train\n    return train()\n")
    assert [s.state for s in project.status().values()] == ["missing"]
    code = project.root / ".assetbuild" / "code"
    assert not code.exists() or not [n for n in os.listdir(code) if n.startswith("modules-")]
    assert _build(project) == (["model"], "")
    assert [n for n in os.listdir(code) if n.startswith("modules-")]


def test_a_recent_file_is_never_trusted_by_its_signature(lab):
    """git's racy-clean rule: an edit within the same timestamp tick keeps size and mtime."""
    path = lab.root / "src" / "train.py"
    write_files(lab.root, {"src/train.py": "def train(x):\n    return 1\n"})
    st = os.stat(path)
    first = lab.fp(LAZY)
    assert ProjectModuleFinder._memory[str(path)][0] is None
    path.write_text("def train(x):\n    return 2\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert lab.fp(LAZY).digest != first.digest


def test_a_past_mtime_does_not_make_a_module_old_enough_to_trust(lab, monkeypatch):
    """``cp -p``/``tar x``: a module written just now with an mtime of an hour ago keeps no
    signature until its ctime is RACY_NS old too."""
    from assetbuild import workspace

    path = lab.root / "src" / "train.py"
    write_files(lab.root, {"src/train.py": "def train(x):\n    return 1\n"})
    hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(hour_ago, hour_ago))
    ctime = os.stat(path).st_ctime_ns
    monkeypatch.setattr(workspace, "fs_now_ns", lambda: ctime + workspace.RACY_NS - 1)
    lab.fp(LAZY)
    assert ProjectModuleFinder._memory[str(path)][0] is None
    ProjectModuleFinder._memory.clear()
    monkeypatch.setattr(workspace, "fs_now_ns", lambda: ctime + workspace.RACY_NS)
    lab.fp(LAZY)
    assert ProjectModuleFinder._memory[str(path)][0] is not None


def test_a_project_package_named_like_a_stdlib_module_is_project_code(lab):
    """``test`` is a stdlib package; a regular package of that name in the project comes first on
    ``sys.path``, so that is what the function imports, and what counts."""
    write_files(lab.root, {"test/__init__.py": "", "test/helpers.py": "def k(x):\n    return x\n"})
    text = "def a(x):\n    from test.helpers import k\n    return k(x)\n"
    first = lab.fp(text)
    write_files(lab.root, {"test/helpers.py": "def k(x):\n    return -x\n"})
    assert lab.fp(text).digest != first.digest and first.warnings == ()


def test_namespace_packages_are_project_modules(lab):
    write_files(lab.root, {"src/h.py": "def f():\n    return 1\n"})
    with ProjectImports(lab.root):
        import src.h  # noqa: F401
        names = project_module_names(lab.root)
    assert {"src", "src.h"} <= names


# ------------------------------------------------------------------------------------------------
# Keys do not depend on the process: fresh interpreters, other import orders, other hash seeds

_PROBE = """
import json, sys
from pathlib import Path
from assetbuild.fingerprint import Fingerprinter
from assetbuild.loader import ProjectImports, ProjectModuleFinder, project_module_names
root = Path(sys.argv[1])
ns = {"__name__": "__assetfile__"}
out = []
with ProjectImports(root):
    exec(compile((root / "AssetFile").read_text(), str(root / "AssetFile"), "exec"), ns)
    loaded = project_module_names(root)
    def digest():
        f = Fingerprinter(is_project_module=lambda m: m == "__assetfile__" or m in loaded,
                          project_dir=str(root), modules=ProjectModuleFinder(root))
        return {n: f.fingerprint_function(ns[n], n).digest for n in ("a", "b")}
    if sys.argv[2] == "import-first":
        import src.train, src.pkg.mod
    out.append(digest())
    import src.train, src.pkg.mod
    out.append(digest())
print(json.dumps(out))
"""


def test_digests_are_the_same_in_fresh_processes_whatever_was_imported_first(tmp_path):
    root = tmp_path / "proj"
    write_files(root, {
        "src/train.py": "from src.pkg import mod\ndef train(x):\n    return mod.m(x)\n",
        "src/pkg/__init__.py": "",
        "src/pkg/mod.py": "from . import other\ndef m(x):\n    return other.o(x)\n",
        "src/pkg/other.py": "def o(x):\n    return x\n",
        "AssetFile": "import src.pkg\ndef a(x):\n    from src.train import train\n    return train(x)\n"
                     "def b(x):\n    import src.pkg.mod\n    return src.pkg.mod.m(x)\n",
    })
    seen = []
    for order, seed in (("import-first", "0"), ("fingerprint-first", "1"), ("import-first", "2")):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        r = subprocess.run([sys.executable, "-c", _PROBE, str(root), order], capture_output=True,
                           text=True, env=env, cwd=str(REPO / "src"), check=False)
        assert r.returncode == 0, r.stderr
        seen.extend(json.loads(r.stdout))
    assert len(seen) == 6 and all(d == seen[0] for d in seen)


# ------------------------------------------------------------------------------------------------
# The modules a fingerprint covers (Fingerprinter.modules_reached): what an asset's run may run


def test_the_modules_reached_are_those_whose_code_or_values_the_key_covers(lab):
    write_files(lab.root, {
        "lib/__init__.py": "",
        "lib/words.py": "from lib.deep import tail\n\ndef word():\n    return 'w' + tail()\n",
        "lib/deep.py": "def tail():\n    return '!'\n",
        "lib/shapes.py": "class Box:\n    def area(self):\n        return 1\n",
        "lib/util.py": "LIMIT = 3\n",
        "lib/late.py": "def later():\n    return 2\n",
        "lib/other.py": "def unused():\n    return 0\n",
    })
    src = """\
from lib.words import word
from lib.shapes import Box
import lib.util as util
import lib.other

BOX = Box()

def a():
    from lib.late import later
    return word(), BOX.area(), util.LIMIT, later()

def plain():
    return len("x")

def nothing():
    return 1

def computed(name):
    import importlib
    return importlib.import_module(name)
"""
    assert lab.reached(src) == {"__assetfile__", "lib.words", "lib.deep", "lib.shapes", "lib.util", "lib.late"}
    assert lab.reached(src, "plain") == {"__assetfile__"}  # the shortcut's: builtins only
    assert lab.reached(src, "plain", fingerprinted=False) == {"__assetfile__"}
    assert lab.reached(src, "nothing") == lab.reached(src, "nothing", fingerprinted=False) == {"__assetfile__"}
    assert lab.reached(src, "computed") is None  # any module at all
    assert lab.reached(src, "a", fingerprinted=False) is None  # not this fingerprinter's


def test_the_modules_reached_through_shared_helpers_and_cycles_are_each_assets_own(lab):
    """One Fingerprinter, as a build has, walks the helpers once and finishes each component
    once (``close_reach``): an asset reached through another asset's walk (a cycle between two
    modules, a helper shared) gets every module of what it reaches, and no module of what it
    does not; a helper importing by a computed name makes only its callers' answer None."""
    write_files(lab.root, {
        "lib/__init__.py": "",
        "lib/ping.py": "def ping(n):\n    from lib.pong import pong\n    return pong(n - 1) if n else 0\n",
        "lib/pong.py": "from lib.ping import ping\n\ndef pong(n):\n    return ping(n)\n",
        "lib/solo.py": "def solo():\n    return 1\n",
        "lib/dyn.py": "import importlib\n\ndef dyn(name):\n    return importlib.import_module(name)\n",
    })
    src = """\
from lib.ping import ping
from lib.pong import pong
from lib.solo import solo
from lib.dyn import dyn

def first():
    return ping(3)

def second():
    return pong(2), solo()

def third():
    return solo()

def fourth():
    return dyn("lib.solo"), solo()
"""

    def use(f, ns):
        out = {}
        for fn in ("first", "second", "third", "fourth"):  # in this order: ping/pong finished by the first
            f.fingerprint_function(ns[fn], fn)
        for fn in ("first", "second", "third", "fourth"):
            out[fn] = f.modules_reached(ns[fn])
        return out

    reached = lab._with_fingerprinter(src, None, None, use)
    assert reached == {"first": {"__assetfile__", "lib.ping", "lib.pong"},
                       "second": {"__assetfile__", "lib.ping", "lib.pong", "lib.solo"},
                       "third": {"__assetfile__", "lib.solo"},
                       "fourth": None}
