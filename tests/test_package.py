"""``assetbuild/__init__.py``: every public name resolves, each imported on first use, so that
``import assetbuild`` and the null build's fast path (``assetbuild.entry``, ``assetbuild.snapshot``)
import nothing else of assetbuild."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import assetbuild

INIT = Path(assetbuild.__file__)
HEAVY = ("click", "lmdb", "pluggy", "cloudpickle", "watchdog")


def fresh(code: str) -> object:
    """What ``code`` (run in a new interpreter) prints as JSON on its last line."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def loaded_after(statement: str) -> dict[str, list[str]]:
    """The assetbuild modules and the heavy libraries in sys.modules after ``statement`` alone."""
    return fresh(f"import sys, json\n{statement}\n"
                 f"print(json.dumps({{'own': sorted(m for m in sys.modules if m.split('.')[0] == 'assetbuild'),"
                 f" 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))")  # type: ignore[return-value]


@pytest.mark.parametrize("module", ["assetbuild.entry", "assetbuild.snapshot"])
def test_the_fast_path_s_modules_import_nothing_else_of_assetbuild(module: str) -> None:
    assert loaded_after(f"import {module}") == {"own": ["assetbuild", module], "heavy": []}


def test_import_assetbuild_imports_only_the_package() -> None:
    assert loaded_after("import assetbuild") == {"own": ["assetbuild"], "heavy": []}


def test_an_assetfile_s_import_brings_the_declarations_not_the_engine() -> None:
    got = loaded_after("from assetbuild import asset, source, multi_asset, Out")
    assert got["heavy"] == [] and "assetbuild.definitions" in got["own"] and "assetbuild.outs" in got["own"]
    assert not [m for m in got["own"] if m.startswith(("assetbuild.session", "assetbuild.store"))]


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    """Each name of ``__all__``, by attribute and by ``from assetbuild import *``, is the object
    its submodule defines (not a copy: pickling by reference and ``is`` checks rely on it)."""
    code = (
        "import importlib, json, assetbuild\n"
        "bad = []\n"
        "for name in assetbuild.__all__:\n"
        "    value = getattr(assetbuild, name)\n"
        "    mod = assetbuild._LAZY.get(name)\n"
        "    if mod is not None and value is not getattr(importlib.import_module('assetbuild.' + mod), name):\n"
        "        bad.append(name)\n"
        "star = {}\n"
        "exec('from assetbuild import *', star)\n"
        "missing = [n for n in assetbuild.__all__ if star.get(n) is not getattr(assetbuild, n)]\n"
        "print(json.dumps([bad, missing, assetbuild.__version__]))\n")
    bad, missing, version = fresh(code)  # type: ignore[misc]
    assert bad == [] and missing == []
    assert version == assetbuild.__version__ and version.count(".") == 2


def test_the_engine_resolves_on_first_call() -> None:
    code = ("import json, sys, assetbuild\n"
            "before = 'assetbuild.session' in sys.modules\n"
            "build = assetbuild.build\n"
            "print(json.dumps([before, build.__module__.startswith('assetbuild.session'), 'build' in vars(assetbuild)]))\n")
    assert fresh(code) == [False, True, True]  # imported once, then a plain attribute


def test_names_and_submodules_as_before() -> None:
    """``dir()`` lists the names not imported yet; the submodules ``import assetbuild`` used to
    load are still attributes (``assetbuild.errors.CycleError``); anything else is an AttributeError."""
    assert set(assetbuild.__all__) <= set(dir(assetbuild))
    assert len(assetbuild.__all__) == len(set(assetbuild.__all__))
    code = ("import json, assetbuild\n"
            "print(json.dumps([assetbuild.errors.CycleError.__name__, assetbuild.definitions.asset is assetbuild.asset,"
            " hasattr(assetbuild, 'no_such_name'), hasattr(assetbuild, 'cli')]))\n")
    assert fresh(code) == ["CycleError", True, False, False]
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        assetbuild.no_such_name  # noqa: B018


def test_type_checkers_see_every_public_name_from_its_submodule() -> None:
    """The ``if TYPE_CHECKING:`` imports (what mypy reads) name each lazy name, from the module
    ``__getattr__`` imports it from, and nothing more."""
    seen: dict[str, str] = {}
    for node in ast.parse(INIT.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom) and imp.level == 1:
                    seen.update({a.name: str(imp.module) for a in imp.names})
    assert seen == assetbuild._LAZY
    assert set(assetbuild.__all__) == {"__version__", *assetbuild._LAZY}  # __all__ is written out for them


def test_a_build_imports_the_session_modules_it_needs_only() -> None:
    got = loaded_after("import assetbuild.session.building")
    session = {m for m in got["own"] if m.startswith("assetbuild.session.")}
    assert not session & {"assetbuild.session.daemon", "assetbuild.session.queries", "assetbuild.session.maintenance",
                          "assetbuild.session.watching", "assetbuild.session.accepting"}, sorted(session)


def test_the_executors_every_build_imports_leave_the_shared_workers_out() -> None:
    """Only executors sharing workers between builds (Dask) need ``sharedworkers``, and its
    imports cost every build about 5 ms (``uuid`` imports ``platform``)."""
    got = fresh("import sys, json, assetbuild.executors, assetbuild.executor\n"
                "print(json.dumps([m for m in ('assetbuild.sharedworkers', 'uuid', 'platform') if m in sys.modules]))")
    assert got == []
    assert fresh("import json\nfrom assetbuild.executor import WorkerVisit\n"
                 "print(json.dumps(WorkerVisit.__module__))") == "assetbuild.sharedworkers"


def test_every_name_of_the_session_package_resolves() -> None:
    import assetbuild.session as session

    names = fresh("import json, assetbuild.session as s\n"
                  "print(json.dumps(sorted(n for n in s.__all__ if getattr(s, n, None) is None)))")
    assert names == []
    assert session.run_daemon is session.daemon.run and session.maintenance.clean_report  # modules as attributes
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        session.nothing  # noqa: B018
