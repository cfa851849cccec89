"""Loading an AssetFile: namespaces, local imports, the compiled-code cache, sys state restored."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

import assetbuild
from assetbuild.errors import DefinitionError
from assetbuild.loader import ASSETFILE_MODULE, ProjectImports, load_assetfile


def test_local_modules_both_import_styles(project):
    project.write("lib/__init__.py", "")
    project.write("lib/helpers.py", "def norm(x):\n    return x.lower()\n")
    project.write("lib/more.py", "from .helpers import norm\n\ndef twice(x):\n    return norm(x) * 2\n")
    project.assetfile("""
from lib.helpers import norm
import lib.more as more

@asset(io="json")
def a():
    return [norm("A"), more.twice("B")]
""")
    assert project.built() == ["a"] and project.value("a") == ["a", "bb"]
    project.write("lib/helpers.py", "def norm(x):\n    return x.upper()\n")
    assert project.built() == ["a"] and project.value("a") == ["A", "BB"]


def test_a_project_in_a_folder_named_with_site_packages_is_project_code(tmp_path):
    """Only a path component named ``site-packages`` marks installed code: a project in
    ``site-packages-audit/`` keeps its modules' code in its keys (they were taken for installed
    code: an edit of a helper rebuilt nothing, with a warning that it lay outside the project)."""
    from projects import Project

    root = tmp_path / "my-site-packages-audit"
    root.mkdir()
    project = Project(root)
    project.write("lib/__init__.py", "")
    project.write("lib/helpers.py", "def norm(x):\n    return x.lower()\n")
    project.assetfile("""
from lib.helpers import norm

@asset(io="json")
def a():
    return norm("A")
""")
    assert project.built() == ["a"] and project.value("a") == "a"
    project.write("lib/helpers.py", "def norm(x):\n    return x.upper()\n")
    assert project.built() == ["a"] and project.value("a") == "A"
    from assetbuild.modulefinder import in_site_directory

    assert in_site_directory("/v/lib/python3.11/site-packages/x.py") and in_site_directory("/usr/lib/dist-packages")
    assert not in_site_directory(str(root / "lib" / "helpers.py"))


def test_sys_path_and_modules_are_restored(project):
    project.write("mymod.py", "X = 1\n")
    project.assetfile("import mymod\n")
    before_path = list(sys.path)
    project.build()
    assert sys.path == before_path
    assert "mymod" not in sys.modules and ASSETFILE_MODULE not in sys.modules



def test_a_namespace_package_with_a_portion_beside_the_caller_is_forgotten(project, tmp_path, monkeypatch):
    """``src`` without ``__init__.py`` in the project, and another ``src`` folder in a directory
    on the caller's sys.path (a script run beside its own ``src``): the load's ``src`` spans both.
    Its ``__path__`` is worked out again from sys.path, so once the project's folder has left
    sys.path it names only the caller's portion: the build must forget it while it still names
    the project's, or a later ``import src`` gets the build's stale package."""
    caller = tmp_path / "caller"
    (caller / "src").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(caller))
    project.write("src/h.py", "def f():\n    return 1\n")
    project.assetfile("import src.h\n\n@asset(io='json')\ndef a():\n    return src.h.f()\n")
    monkeypatch.delitem(sys.modules, "src", raising=False)
    assert project.built() == ["a"] and project.value("a") == 1
    assert "src" not in sys.modules and "src.h" not in sys.modules


def test_the_callers_module_named_like_a_project_module_is_hidden_while_the_project_loads(project, tmp_path,
                                                                                          monkeypatch, capsys):
    """A notebook beside its own ``helpers`` package, imported: the project's ``import helpers.x``
    and the unpickling of its classes get the project's, as the command does; the caller's
    modules are the same objects after, and nothing warns about them."""
    caller = tmp_path / "notebook"
    (caller / "helpers").mkdir(parents=True)
    (caller / "helpers/__init__.py").write_text("")
    (caller / "helpers/x.py").write_text("def who():\n    return 'notebook'\n")
    monkeypatch.syspath_prepend(str(caller))
    for name in ("helpers", "helpers.x"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import helpers.x as theirs

    mine = sys.modules["helpers"]
    project.write("helpers/__init__.py", "")
    project.write("helpers/x.py", "def who():\n    return 'project'\n\nclass Box:\n    def who(self):\n"
                                  "        return who()\n")
    project.assetfile("import helpers.x\n\n@asset(io='json')\ndef a():\n    return helpers.x.who()\n\n"
                      "@asset\ndef box():\n    return helpers.x.Box()\n")
    assert project.built() == ["a", "box"] and project.value("a") == "project"
    assert project.value("box").who() == "project"
    assert sys.modules["helpers"] is mine and sys.modules["helpers.x"] is theirs and theirs.who() == "notebook"
    assert "imported first" not in capsys.readouterr().err


def test_the_callers_own_import_of_a_project_module_stays_and_the_build_runs_the_file(project, monkeypatch):
    """A notebook in the project imported ``helpers``, which was then edited: the build runs the
    file as it is now, and the caller's module is the same object after (``reload`` works)."""
    import importlib

    project.write("helpers.py", "def f():\n    return 1\n")
    project.assetfile("import helpers\n\n@asset(io='json')\ndef a():\n    return helpers.f()\n")
    monkeypatch.syspath_prepend(str(project.root))
    monkeypatch.delitem(sys.modules, "helpers", raising=False)
    import helpers

    project.write("helpers.py", "def f():\n    return 2\n")
    assert project.built() == ["a"] and project.value("a") == 2
    assert sys.modules["helpers"] is helpers and helpers.f() == 1
    assert importlib.reload(helpers).f() == 2


def test_import_state_the_assetfile_changes_is_undone(project, tmp_path):
    """An AssetFile that puts its ``lib`` on sys.path and installs an import finder of its own:
    each build leaves the caller's sys.path and sys.meta_path as they were, so another project
    cannot import the first one's modules, as in a fresh process."""
    project.write("lib/shared.py", "X = 1\n")
    project.assetfile("import os, sys\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))\n"
                      "class Finder:\n    def find_spec(self, *a):\n        return None\n"
                      "sys.meta_path.append(Finder())\nimport shared\n\n"
                      "@asset(io='json')\ndef a():\n    return shared.X\n")
    path, meta_path = list(sys.path), list(sys.meta_path)
    for _ in range(2):
        project.build()
        assert sys.path == path and sys.meta_path == meta_path
    other = tmp_path / "other"
    other.mkdir()
    (other / "AssetFile").write_text("import shared\n")
    with pytest.raises(DefinitionError, match="No module named 'shared'"):
        assetbuild.build(project_dir=other)


def test_a_module_imported_through_a_folder_the_assetfile_put_on_sys_path_is_imported_afresh(project, tmp_path,
                                                                                            monkeypatch):
    """An AssetFile that puts a shared folder outside the project on sys.path and imports a
    library from it, then edited with ``code_version`` bumped: the next build in this process
    runs the library as its file is now, as a fresh process does, not the module the first
    build imported. A module the caller imported before the call stays, the same object."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "sharedlib.py").write_text("def f():\n    return 1\n")
    (shared / "pkg").mkdir()
    (shared / "pkg/__init__.py").write_text("")
    (shared / "pkg/sub.py").write_text("N = 10\n")
    (shared / "callers.py").write_text("Y = 1\n")
    af = ("import os, sys\nsys.path.insert(0, {!r})\nfrom sharedlib import f\nimport callers\n\n"
          "@asset(io='json', code_version='V')\ndef a():\n    import pkg.sub\n    return f() + pkg.sub.N\n")
    monkeypatch.syspath_prepend(str(shared))
    for name in ("sharedlib", "pkg", "pkg.sub", "callers"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import callers

    sys.path.remove(str(shared))  # the caller imported it, then its folder left the path
    project.assetfile(af.format(str(shared)).replace("V", "1"))
    assert project.built() == ["a"] and project.value("a") == 11
    assert not {"sharedlib", "pkg", "pkg.sub"} & set(sys.modules)
    assert sys.modules["callers"] is callers
    (shared / "sharedlib.py").write_text("def f():\n    return 2\n")
    (shared / "pkg/sub.py").write_text("N = 20\n")
    project.assetfile(af.format(str(shared)).replace("V", "2"))
    assert project.built() == ["a"] and project.value("a") == 22
    assert sys.modules["callers"] is callers


def _callers_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str) -> Path:
    """A module ``name`` in ``tmp_path/shared``, on the caller's sys.path (not installed); its folder."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(shared))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return shared


def test_a_module_the_load_imported_through_the_callers_sys_path_is_imported_afresh(project, tmp_path, monkeypatch):
    """A library outside the project on the caller's own sys.path (``PYTHONPATH=shared``,
    pytest's ``pythonpath``), not installed, that the AssetFile imports: edited, with
    ``code_version`` bumped as the fingerprint's warning asks, the next build in this process
    runs it as its file is now, as a fresh process does, not the module the first call left in
    sys.modules. Unedited, that module stays between calls (a loaded value of its class can be
    pickled); edited, the new one takes its place."""
    import pickle

    shared = _callers_library(tmp_path, monkeypatch, "sharedlib3", "class Row:\n    pass\n\ndef f():\n    return 1\n")
    af = ("from sharedlib3 import f, Row\n\n@asset(io='json', code_version='V')\ndef a():\n    return f()\n\n"
          "@asset\ndef row():\n    return Row()\n")
    project.assetfile(af.replace("V", "1"))
    assert project.built() == ["a", "row"] and project.value("a") == 1
    first = sys.modules["sharedlib3"]
    assert project.built() == [] and sys.modules["sharedlib3"] is first
    pickle.dumps(project.value("row"))  # its class is the one sys.modules holds
    (shared / "sharedlib3.py").write_text("class Row:\n    pass\n\ndef f():\n    return 2\n")
    project.assetfile(af.replace("V", "2"))
    assert project.built() == ["a"] and project.value("a") == 2
    assert sys.modules["sharedlib3"] is not first and sys.modules["sharedlib3"].f() == 2


def test_a_library_of_the_callers_edited_since_a_call_is_imported_afresh_by_the_next(project, tmp_path, monkeypatch):
    """The caller (a notebook) imported its library from outside the project itself, before
    any build, and the AssetFile imports it too; the library is edited and ``code_version``
    bumped: the next build runs the library as its file is now, as a fresh process does, not
    the module in memory (the old code, under the new key). The caller's module is back after
    the call, the same object; unedited, it is the one the build uses."""
    shared = _callers_library(tmp_path, monkeypatch, "sharedlib4", "def f():\n    return 1\n")
    import sharedlib4

    af = ("import sharedlib4\n\n@asset(io='json', code_version='V')\ndef a():\n"
          "    return [sharedlib4.f(), getattr(sharedlib4, 'PATCHED', False)]\n")
    sharedlib4.PATCHED = True
    project.assetfile(af.replace("V", "1"))
    assert project.built() == ["a"] and project.value("a") == [1, True]
    assert sys.modules["sharedlib4"] is sharedlib4
    os.utime(shared / "sharedlib4.py", ns=(1, 1))  # touched, its bytes as they were: no edit
    assert project.built("a", force=True) == ["a"] and project.value("a") == [1, True]
    (shared / "sharedlib4.py").write_text("def f():\n    return 2\n")
    project.assetfile(af.replace("V", "2"))
    assert project.built() == ["a"] and project.value("a") == [2, False]
    assert sys.modules["sharedlib4"] is sharedlib4 and sharedlib4.f() == 1


def test_dunder_file_is_the_assetfile(project):
    project.assetfile("""
from pathlib import Path
HERE = Path(__file__).parent

@asset(io="json")
def where():
    return HERE.name
""")
    assert project.built() == ["where"] and project.value("where") == "proj"


def test_code_cache_is_written_only_after_a_clean_load(project):
    project.assetfile("@asset\ndef a(missing):\n    return 1\n")
    with pytest.raises(DefinitionError):
        project.build()
    assert not (project.root / ".assetbuild").exists()
    project.assetfile("@asset\ndef a():\n    return 1\n")
    project.build()
    cached = list((project.root / ".assetbuild/code").iterdir())
    assert len(cached) == 1
    # a second load uses the cache: the same code objects' digests come back from it
    with ProjectImports(project.root):
        loaded = load_assetfile(project.root, cache_dir=project.root / ".assetbuild")
    assert loaded.code_digests and loaded._pending_cache == []


def test_cached_code_maps_each_nested_code_object_to_its_digest(project):
    """The code cache keeps the nested code objects beside their digests: loaded from it, each
    digest belongs to the very code object the loaded functions run, as a fresh compile says;
    a cache file of the older format (no list of objects) is compiled again and replaced."""
    import marshal
    import types

    from assetbuild.compiled import code_objects as _code_objects
    from assetbuild.fingerprint import code_digest

    project.assetfile("@asset\ndef a():\n    def inner():\n        return 1\n    return inner()\n\n\n"
                      "@asset\ndef b(a):\n    return [x for x in range(a)]\n")
    project.build()
    (cache,) = (project.root / ".assetbuild/code").iterdir()
    path = project.root / "AssetFile"
    fresh = [code_digest(o) for o in _code_objects(compile(path.read_bytes(), str(path), "exec", dont_inherit=True))]
    for _ in range(2):  # from the cache the build wrote, then from the one a load replaced
        with ProjectImports(project.root):
            loaded = load_assetfile(project.root, cache_dir=project.root / ".assetbuild")
        assert loaded._pending_cache == []  # from the cache
        kept = loaded.module.__dict__["__assetbuild_code_objects__"]
        assert [loaded.code_digests[id(o)] for o in kept] == fresh and len(kept) == len(loaded.code_digests)
        a, b = loaded.module.a.__code__, loaded.module.b.__code__
        inner = next(k for k in a.co_consts if isinstance(k, types.CodeType))
        assert all(any(o is c for o in kept) for c in (a, b, inner))  # the objects the functions run
        _, filename, _, code, digests, _ = marshal.loads(cache.read_bytes())
        cache.write_bytes(marshal.dumps((1, filename, code, digests)))  # as the older format wrote it
        with ProjectImports(project.root):
            old = load_assetfile(project.root, cache_dir=project.root / ".assetbuild")
        assert old._pending_cache  # compiled again (or taken from beside the AssetFile), to be kept
        old.save_code_cache()


def test_corrupt_code_cache_is_ignored(project):
    project.assetfile("@asset(io='json')\ndef a():\n    return 1\n")
    project.build()
    (cache,) = (project.root / ".assetbuild/code").iterdir()
    cache.write_bytes(b"garbage")
    assert project.build().names("cached") == ["a"]


def test_assetfile_can_be_named(project):
    project.write("pipeline.py", "from assetbuild import asset\n\n@asset\ndef a():\n    return 1\n")
    r = assetbuild.build(project_dir=project.root, assetfile="pipeline.py")
    assert r.names("built") == ["a"]
    with pytest.raises(DefinitionError, match="no such AssetFile"):
        assetbuild.build(project_dir=project.root, assetfile="nope.py")
    with pytest.raises(DefinitionError, match="no AssetFile in"):
        assetbuild.build(project_dir=project.root)
    (project.root / "lib").mkdir()  # a directory is said to be one (it was "no such AssetFile")
    with pytest.raises(DefinitionError, match="lib is a directory, not an AssetFile"):
        assetbuild.build(project_dir=project.root, assetfile="lib")
    (project.root / "AssetFile").mkdir()
    with pytest.raises(DefinitionError, match="AssetFile is a directory; the AssetFile is a Python file"):
        assetbuild.build(project_dir=project.root)


@pytest.mark.parametrize("make, said", [
    (lambda p: p.symlink_to(p.name), "AssetFile is a symlink loop: it never leads to a file"),
    (lambda p: p.symlink_to("/nonexistent/AssetFile"), "AssetFile is a dangling symlink: /nonexistent/AssetFile does not exist"),
    (lambda p: os.mkfifo(p), "AssetFile is a FIFO, not a file"),
], ids=["loop", "dangling", "fifo"])
def test_an_assetfile_that_is_no_file_is_said_to_be_what_it_is(project, make, said):
    """It was "no AssetFile in DIR" (or, with assetfile=, "no such AssetFile"), as if the name
    were free; a FIFO is never opened (a read would wait for a writer)."""
    make(project.root / "AssetFile")
    for named in (None, "AssetFile", str(project.root / "AssetFile")):
        with pytest.raises(DefinitionError, match=re.escape(said)) as ei:
            assetbuild.build(project_dir=project.root, assetfile=named)
        assert type(ei.value) is DefinitionError  # (not ProjectNotFound, whose hint says to look elsewhere)


UNPRINTABLE = """\
class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("str() fails")
"""


@pytest.mark.parametrize("raised, said", [
    ("KeyboardInterrupt", "KeyboardInterrupt (raised without a Ctrl-C)"),
    ("GeneratorExit", "GeneratorExit"),
    ("Unprintable()", "Unprintable: <exception str() failed>"),  # (as Python's traceback module says it)
])
def test_any_exception_the_assetfile_raises_is_a_load_error(project, raised, said):
    """A KeyboardInterrupt the AssetFile's own code raises (no Ctrl-C came) was taken for one,
    and one whose ``__str__`` fails crashed the command: each is a load error naming its line."""
    project.write("lib.py", f"{UNPRINTABLE}\n\ndef boom():\n    raise {raised}\n", dedent=False)
    project.assetfile("import lib\n\nlib.boom()\n")
    with pytest.raises(DefinitionError) as ei:
        project.build()
    assert ei.value.file.endswith("lib.py") and ei.value.line == 7
    assert str(ei.value).endswith(f"error while loading the AssetFile: {said}"), str(ei.value)


def test_load_error_points_at_the_user_line(project):
    project.write("lib.py", "def boom():\n    raise RuntimeError('bad config')\n")
    project.assetfile("import lib\n\nCONFIG = lib.boom()\n")
    with pytest.raises(DefinitionError) as ei:
        project.build()
    assert ei.value.file.endswith("lib.py") and ei.value.line == 2
    assert "RuntimeError: bad config" in str(ei.value) and "Traceback" in ei.value.detail


@pytest.mark.parametrize("declaration, hint", [
    ('@asset(grup="x")\ndef a():\n    return 1\n', "asset() got an unexpected keyword argument 'grup' "
                                                    "(did you mean 'group'?)"),
    ('s = source("s", "s.txt", vesion="mtime")\n', "source() got an unexpected keyword argument 'vesion' "
                                                   "(did you mean 'version'?)"),
    ('@asset(frob=1)\ndef a():\n    return 1\n', "asset() got an unexpected keyword argument 'frob'; it takes "
                                                "name, ins, deps, io, path,"),
])
def test_a_mistyped_keyword_of_a_declaration_says_the_one_meant(project, declaration, hint):
    project.assetfile(declaration)
    with pytest.raises(DefinitionError) as ei:
        project.build()
    if sys.version_info >= (3, 13) and "(did you mean" in hint:  # Python says it itself: said once
        hint = hint.replace(" (did you mean", ". Did you mean").replace("?)", "?")
    assert f"TypeError: {hint}" in str(ei.value) and ei.value.line == 2
    assert str(ei.value).lower().count("did you mean") <= 1


def test_asset_functions_can_be_unit_tested(project):
    project.write("lib.py", "def step(x):\n    return x + 1\n")
    project.assetfile("""
from lib import step

@asset
def inc(x=0):
    return step(x)
""")
    fns = assetbuild.functions(project_dir=project.root)
    assert list(fns) == ["inc"] and fns["inc"](1) == 2
    assert not (project.root / ".assetbuild").exists()  # nothing built, nothing written


def test_an_asset_function_imports_and_reads_as_its_build_does(project, tmp_path, monkeypatch):
    """``functions()`` from a notebook beside its own ``lib/helpers.py``, or from a directory
    with none: a project import inside the function's body, and a cwd-relative read, get the
    project's, as the build's; the caller's module and directory are as they were after."""
    project.write("lib/__init__.py", "")
    project.write("lib/helpers.py", "def f():\n    return 'project'\n")
    project.write("data.txt", "project data\n")
    project.assetfile("""
@asset
def inner():
    from lib.helpers import f
    return f() + ':' + open('data.txt').read().strip()
""")
    nb = tmp_path / "nb"
    (nb / "lib").mkdir(parents=True)
    (nb / "lib/__init__.py").write_text("")
    (nb / "lib/helpers.py").write_text("def f():\n    return 'caller'\n")
    monkeypatch.chdir(nb)
    monkeypatch.syspath_prepend(str(nb))
    for name in ("lib", "lib.helpers"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import lib.helpers as mine

    fn = assetbuild.functions(project_dir=project.root)["inner"]
    assert fn() == "project:project data" and fn.__wrapped__.__name__ == "inner"
    assert sys.modules["lib.helpers"] is mine and mine.f() == "caller" and os.getcwd() == str(nb)
    monkeypatch.chdir(tmp_path)
    sys.path.remove(str(nb))
    for name in ("lib", "lib.helpers"):
        sys.modules.pop(name)
    assert fn() == "project:project data"


def test_a_module_whose_import_failed_is_code_the_load_read(project):
    """An optional import of a project module that fails (a library it needs is missing): the
    module is in no sys.modules, yet the load read it, and an edit of it changes the load. So it
    is a project file (watched; in the digests a later command checks), and a plain build after
    an in-place fix builds what the fix changes."""
    import hashlib

    from projects import SNAPSHOT_ENV, clean_env, cli

    broken = "import not_installed_xyz\n\ndef fast():\n    return 1\n"
    project.write("lib/__init__.py", "")
    opt = project.write("lib/opt.py", broken)
    project.assetfile("""
try:
    from lib.opt import fast
except ImportError:
    fast = None

@asset(io="text", path="a.txt")
def a():
    return "fast" if fast else "fallback"
""")
    with ProjectImports(project.root):
        loaded = load_assetfile(project.root)
    assert "lib.opt" not in loaded.project_modules
    assert loaded.module_sources[str(opt)] == hashlib.sha256(broken.encode()).hexdigest()
    assert str(opt) in loaded.project_files()
    env = clean_env(**SNAPSHOT_ENV)
    for _ in range(2):  # (the second may answer from a snapshot)
        assert cli(cwd=project.root, env=env).returncode == 0
    with open(opt, "r+") as f:  # a save in place: the folder's time stays
        f.write("def fast():\n    return 1\n")
        f.truncate()
    r = cli(cwd=project.root, env=env)
    assert r.returncode == 0 and "built" in r.stdout, r.stdout + r.stderr
    assert (project.root / "a.txt").read_text() == "fast"


def test_reached_sources_are_the_loaded_modules_importing_the_roots_runs(tmp_path):
    """What an asset reaching ``pkg.a`` may have run, of what this process loaded: ``pkg.a``, its
    package, what its code imports at module level or in a function, transitively; not ``pkg.d``
    (loaded, not reached), nor ``pkg.late`` (reached, never loaded)."""
    import hashlib
    import importlib

    from assetbuild.loader import reached_sources

    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n\ndef f():\n    from . import c\n    from pkg import late\n    return c.X\n",
        "pkg/b.py": "from .deeper import *\n",
        "pkg/deeper/__init__.py": "__all__ = ['e']\n",
        "pkg/deeper/e.py": "E = 1\n",
        "pkg/c.py": "X = 2\n",
        "pkg/d.py": "Z = 3\n",
        "pkg/late.py": "L = 4\n",
        "dyn.py": "import importlib\n\nM = importlib.import_module('pkg.d')\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    with ProjectImports(tmp_path):
        for name in ("pkg.a", "pkg.c", "pkg.d", "pkg.deeper.e", "dyn"):
            importlib.import_module(name)
        reached = reached_sources(["pkg.a", "not.loaded"])
        assert reached == {str(tmp_path / rel): hashlib.sha256(files[rel].encode()).hexdigest() for rel in (
            "pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/deeper/__init__.py", "pkg/deeper/e.py", "pkg/c.py")}
        assert reached_sources(["dyn"]) is None  # it imports by a computed name: any module


def test_the_project_finder_looks_only_where_project_code_can_be(tmp_path, monkeypatch):
    """A submodule whose package lies outside the project is left to the next finder at once
    (its path is not searched twice: here, then by PathFinder); one that may be inside it is
    looked for, and a project module loads from its source."""
    import importlib.machinery
    import json

    from assetbuild.loader import _ProjectFinder, _ProjectLoader

    searched: list[str] = []
    real = importlib.machinery.PathFinder.find_spec
    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec",
                        lambda name, path=None, target=None: searched.append(name) or real(name, path, target))

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/__init__.py").write_text("")
    (tmp_path / "lib/words.py").write_text("WORD = 'w'\n")
    finder = _ProjectFinder(str(tmp_path))
    assert finder.find_spec("json.decoder", json.__path__) is None and searched == []
    spec = finder.find_spec("lib.words", [str(tmp_path / "lib")])
    assert spec is not None and isinstance(spec.loader, _ProjectLoader)
    assert spec.origin == str(tmp_path / "lib/words.py")
    mixed = [*json.__path__, str(tmp_path / "lib")]  # (a package extended into the project)
    assert isinstance(finder.find_spec("lib.words", mixed).loader, _ProjectLoader)
    assert searched == ["lib.words", "lib.words"]
    with ProjectImports(tmp_path):
        import lib.words  # type: ignore[import-not-found]

        assert lib.words.WORD == "w" and isinstance(lib.words.__spec__.loader, _ProjectLoader)
