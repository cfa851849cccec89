"""The layer rule of DESIGN.md §3, checked on the source, and every module importable alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "assetbuild"

LAYER = {
    "errors": 0, "outs": 0, "clock": 0, "crashpoints": 0, "manifest": 0, "definitions": 0, "declared": 0, "fanin": 0, "selection": 0, "graph": 0, "fingerprint": 0, "keys": 0, "reports": 0, "params": 0,
    "partitions": 0, "mappings": 0, "partitioned": 0, "policies": 0, "declarative": 0, "declarations": 0, "outline": 0, "staticforms": 0,
    "io": 1, "rebuild": 1, "hookspecs": 1, "contracts": 1,
    "materialize": 2, "moved": 2, "jobs": 2, "known": 2, "skips": 2, "only": 2, "multi": 2, "looking": 2, "repairing": 2, "stopping": 2,
    "scheduler": 2,
    "loader": 3, "importstate": 3, "modulefinder": 3, "compiled": 3, "atomicfile": 3, "dirtree": 3, "store": 3, "remote": 3, "cache": 3, "workspace": 3, "execute": 3, "output": 3, "builtin": 3, "watch": 3,
    "executors": 3, "runner": 3, "config": 3, "produced": 3, "undeclared": 3, "cleaning": 3, "resources": 3,
    "observations": 3, "external": 3, "spool": 3, "history": 3, "changes": 3, "ticks": 0,
    "capture": 3, "interrupts": 3, "exiting": 3, "streams": 3, "jsonform": 0, "multirun": 3, "metadata": 0, "statuslines": 0,
    "executor": 3, "usercode": 3, "sharedworkers": 3,
    "plugins": 4, "session": 4, "cli": 4, "__main__": 4, "__init__": 4, "entry": 4, "snapshot": 3, "codetable": 3, "codeedits": 3, "slicegraph": 3, "projectdir": 3,
    "helptext": 4, "kept_help": 0, "wording": 0,
    "testing": 4, "ui": 4, "ui.layout": 0, "ui.svg": 0, "ui.links": 0, "redaction": 0,
}
# Third-party imports allowed per module; everything else must be stdlib or our own.
THIRD_PARTY = {"lmdb": {"store"}, "pluggy": {"hookspecs", "plugins"}, "click": {"cli"},
               "cloudpickle": {"builtin", "execute"}, "watchdog": {"watch"}, "fsspec": {"remote"}, "cryptography": {"remote"},
               "tomli": {"config"}, "croniter": {"declared", "policies"}, "tomllib": {"config"},
               "starlette": {"ui"}, "uvicorn": {"ui"}, "markdown_it": {"ui"}}  # tomllib: stdlib from 3.11, tomli before
STDLIB = set(sys.stdlib_module_names)


def modules():
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(PKG).with_suffix("")
        yield ".".join(rel.parts), p


def own_imports(path: Path, modname: str):
    tree = ast.parse(path.read_text())
    pkg_parts = modname.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                names = [target] if node.module else [".".join([*base, a.name]) for a in node.names]
                for t in names:
                    yield ("own", t or "__init__", node.lineno)
            else:
                yield ("abs", node.module.split(".")[0], node.lineno)
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield ("abs", a.name.split(".")[0], node.lineno)


def layer_of(modname: str) -> int:
    """A module's layer: its own entry in LAYER, else its package's (a pure module of a high
    package, such as ui.layout, has its own lower entry)."""
    parts = modname.removesuffix(".__init__").split(".")
    return next(LAYER[".".join(parts[:k])] for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in LAYER)


@pytest.mark.parametrize("modname,path", list(modules()), ids=[m for m, _ in modules()])
def test_layers(modname, path):
    top = modname.split(".")[0]
    mine = layer_of(modname)
    for kind, target, line in own_imports(path, modname):
        if kind == "own":
            # a package's modules may import each other, unless one sits below its package (ui.layout)
            if target.split(".")[0] in LAYER and (target.split(".")[0] != top or mine < LAYER[top]):
                assert layer_of(target) <= mine, f"{modname}:{line} imports {target} from a higher layer"
        elif target == "assetbuild":
            assert mine >= 3 or modname.startswith("builtin"), f"{modname}:{line} imports the package"
        elif target not in STDLIB:
            allowed = THIRD_PARTY.get(target)
            assert allowed is not None and top in allowed, f"{modname}:{line} imports {target}"


@pytest.mark.parametrize("modname", [m for m, _ in modules()])
def test_imports_alone(modname):
    if modname == "__main__":
        pytest.skip("__main__ runs the CLI when imported")
    name = "assetbuild" if modname == "__init__" else f"assetbuild.{modname}".replace(".__init__", "")
    subprocess.run([sys.executable, "-c", f"import {name}"], check=True)


def test_import_assetbuild_stays_cheap():
    """An AssetFile and every worker import assetbuild: it must not pull the engine in."""
    code = ("import sys, assetbuild; heavy = [m for m in ('click','lmdb','cloudpickle','pluggy',"
            "'assetbuild.session','assetbuild.store') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_module_says_what_it_is_for():
    for modname, path in modules():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{modname} has no module docstring"


def test_ci_runs_the_readme_commands():
    """.ci/run executes the README's two ```sh blocks verbatim; they must stay what a new user needs."""
    root = ROOT
    readme = (root / "README.md").read_text()
    ci = (root / ".ci/run").read_text()
    blocks = [b.split("\n```")[0].strip() for b in readme.split("```sh\n")[1:]]
    assert len(blocks) == 2, "the README has exactly two shell blocks: build the demo, run the tests"
    install, test = blocks
    assert install.startswith("python3 -m venv .venv") and install.endswith("pip install -e . && assetbuild")
    assert test.startswith("python3 -m venv .venv") and "pip install -e '.[test]'" in test and "pytest" in test
    assert 'bash -euo pipefail -c "$(readme_block 1)"' in ci and 'bash -euo pipefail -c "$(readme_block 2)"' in ci


def test_the_readme_names_every_reason_code():
    """Each reason code the code can give (``Reason("code", ...)``: status, why, -n, a build's
    results) is named in the README, where users look one up."""
    import re

    readme = (ROOT / "README.md").read_text()
    codes = {m for path in (ROOT / "src" / "assetbuild").rglob("*.py")
             for m in re.findall(r'Reason\(\s*"([a-z-]+)"', path.read_text())}
    assert len(codes) > 25, codes  # (the pattern still finds them)
    missing = sorted(c for c in codes if f"`{c}`" not in readme and f"({c}:" not in readme
                     and f"`{c}:" not in readme)
    assert not missing, f"reason codes the README does not name: {missing}"


def test_every_dependency_declares_a_tested_range():
    """Each requirement of assetbuild and its plugins, extras included, has a lower and an upper
    bound (a fresh install must not pick up an untested major release, as cloudpickle 3.1 was)."""
    import re

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = ROOT
    open_ended = []
    for path in [root / "pyproject.toml", *sorted(root.glob("plugins/*/pyproject.toml"))]:
        project = tomllib.loads(path.read_text())["project"]
        reqs = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            reqs += extra
        for req in reqs:
            spec = req.split(";")[0]
            if not (re.search(r">=\s*\d", spec) and re.search(r"<\s*\d", spec)):
                open_ended.append(f"{path.relative_to(root)}: {req}")
    assert open_ended == []


MAX_LINES = 600


def test_no_module_over_600_lines():
    """One job per module: past 600 lines a module does several, and is split into a package."""
    sizes = {m: len(p.read_text().splitlines()) for m, p in modules()}
    assert sorted(f"{m}: {n} lines" for m, n in sizes.items() if n > MAX_LINES) == []


def _module_graph() -> dict[str, set[str]]:
    """Each module's own imports, by full dotted name, ``TYPE_CHECKING`` and function-level
    imports included: a circle is a circle even if Python tolerates it at run time."""
    names = {m.removesuffix(".__init__") for m, _ in modules()}
    graph: dict[str, set[str]] = {}
    for modname, path in modules():
        me = modname.removesuffix(".__init__")
        pkg = me.split(".") if modname.endswith("__init__") else me.split(".")[:-1]
        deps = graph.setdefault(me, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg[: len(pkg) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                for cand in [f"{target}.{a.name}" if target else a.name for a in node.names] + [target]:
                    if cand in names and cand != me:
                        deps.add(cand)
                        break
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("assetbuild."):
                target = node.module.removeprefix("assetbuild.")
                if target in names and target != me:
                    deps.add(target)
    return graph


def test_no_import_circles():
    from graphlib import CycleError, TopologicalSorter

    try:
        TopologicalSorter(_module_graph()).prepare()
    except CycleError as e:
        pytest.fail(f"import circle: {' -> '.join(e.args[1])}")


PLUGIN_API = {"assetbuild", "assetbuild.executor", "assetbuild.io", "assetbuild.hookspecs", "assetbuild.testing"}


def test_plugins_import_only_the_public_plugin_api():
    """The plugins of this repository (code and tests) are written like third-party ones: they
    import only the public plugin API (README "Plugins"), so internals can move freely."""
    import assetbuild

    files = sorted((ROOT / "plugins").rglob("*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                modules = [node.module]
                if node.module == "assetbuild":
                    modules += [f"assetbuild.{a.name}" for a in node.names if a.name not in assetbuild.__all__]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0] == "assetbuild":
                    assert module in PLUGIN_API, f"{path.relative_to(ROOT)}:{node.lineno} imports {module}"
