"""The declarative check (``assetbuild.declarative``) of a project's AssetFile and modules, as
the snapshot needs it: each verdict cached by its file's digest in the previous snapshot.

A big AssetFile takes a while to check (10,000 assets: 0.28 s), and the answer is needed only
once the build ends, to write the next snapshot. So when its verdict is not known and it is
that big, the check starts in a process of its own as the build starts (``Beside``), on
another core, and the build takes its answer at the end. The answer counts only if that process
read the very bytes the build loaded; on any doubt the check runs here.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the assetbuild package
BESIDE_MIN_BYTES = 256 * 1024  # a smaller AssetFile is checked here sooner than a process starts
EXPORTS = "exports:"  # a ``checked`` key of the modules' exports (``_exports``); the others: a file's verdict
IMPORTED = ":imported"  # after a verdict's key: the names it imports from another module (``imported_values``)
# standard modules whose module-level values are constants, never read from the environment, a
# file or the clock as they load (``from math import pi``; not ``from time import timezone``, of TZ)
CONSTANT_MODULES = frozenset({"typing", "typing_extensions", "collections", "builtins", "types", "__future__", "abc",
                              "math", "cmath", "string", "decimal", "fractions", "numbers", "errno", "stat", "re",
                              "enum", "dataclasses", "functools", "itertools", "operator"})

Verdicts = tuple[str | None, dict[str, str], list[Any]]


def verdicts(project: Any, previous: dict[str, Any] | None, contents: dict[str, bytes],
             digests: dict[str, str], beside: Beside | None = None) -> Verdicts:
    """``check`` of the loaded ``project``: the answer of ``beside`` if it checked these bytes."""
    names = module_files(project)
    if beside is not None:
        found = beside.answer(names, contents)
        if found is not None:
            return found
    return check(str(project.loaded.path), names, str(project.project_dir), previous, contents, digests)


def computed_io_versions(project: Any) -> str | None:
    """Why no snapshot can prove this project's null build: the ``version`` of a plugin's IO
    manager an asset uses (it enters keys) is written nowhere in the plugin's code, so the plugin
    made it as it loaded (``"1-" + os.environ["MODE"]``, or read from a file), which the snapshot,
    which never runs plugins, cannot see change; None if each is a literal there (or assetbuild's)."""
    from ..plugins import loaded_from

    texts: list[str] | None = None
    for name in sorted({getattr(d, "io", None) for d in project.graph.nodes.values()} & project.io_managers.keys()):
        manager = project.io_managers[name]
        module = str(type(manager).__module__)
        version = getattr(manager, "version", None)
        if module.partition(".")[0] == "assetbuild" or not isinstance(version, str):
            continue
        if texts is None:  # (the plugins' modules, read once a build that records a snapshot uses one)
            texts = []
            for f in {*loaded_from(project.plugin_manager), getattr(sys.modules.get(module), "__file__", None)}:
                try:
                    texts.append(Path(f).read_text(errors="replace") if isinstance(f, str) and f.endswith(".py") else "")
                except OSError:
                    pass
        import re  # (a version written as such: ``version = "2"``, not a default of os.environ.get(..., "2"))

        written = re.compile(rf"""\bversion\b[^=\n]*=\s*(['"]){re.escape(version)}\1\s*(#.*)?$""", re.MULTILINE)
        if not any(written.search(t) for t in texts):
            return (f"IO manager {name!r} has version {version!r}, which its plugin's code does not hold: it was made "
                    "as the plugin loaded (from the environment, a file?), which the snapshot cannot see")
    return None


def module_files(project: Any) -> dict[str, str]:
    """The project modules the AssetFile imported: file -> module name."""
    return {f: m for m in sorted(project.loaded.project_modules)
            if (f := getattr(sys.modules.get(m), "__file__", None))}


def check(assetfile: str, names: dict[str, str], root: str, previous: dict[str, Any] | None,
          contents: dict[str, bytes], digests: dict[str, str]) -> Verdicts:
    """The declarative check of ``assetfile`` and the project modules it imported (``names``:
    file -> module; ``contents``: file -> bytes, as loaded, with their loader's ``digests``),
    each verdict cached in the ``previous`` snapshot by the file's digest, what the modules it
    reads export, and the check's own code: (the first refusal, the verdicts of these files, and
    [the AssetFile's ``asset_defs``, [its digest, the check's], each accepted file's names imported
    from another module (``Facts.imported``, as ``imported_values`` takes them)]: kept in the
    snapshot, so each AssetFile is parsed once)."""
    checked: dict[str, str] = (previous or {}).get("checked") or {}
    checker = _checker_digest()
    asset_defs = (previous or {}).get("asset_defs") \
        if (previous or {}).get("asset_defs_of") == [digests[assetfile], checker] else None
    out: dict[str, str] = {}  # the verdicts of these files only: the cache does not grow with each edit
    exports = _exports(names, root, contents, digests, checker, checked, out)
    context = hashlib.sha256(repr(sorted((k, sorted(v)) for k, v in exports.items())).encode()
                             + checker.encode()).hexdigest()
    imported: dict[str, str] = {}
    for f in [assetfile, *names]:
        package = _package(f, names[f]) if f in names else ""  # (where its relative imports start)
        d = f"{digests[f]}:{context}:{package}"  # a verdict depends on what the modules it reads export
        verdict = checked.get(d)
        if verdict is None or (verdict == "" and (asset_defs is None and f == assetfile or d + IMPORTED not in checked)):
            found = _facts(contents[f], os.path.relpath(f, root), exports, package)
            verdict = verdict if verdict is not None else str(found.refusal) if found.refusal is not None else ""
            if f == assetfile:  # (an accepted AssetFile whose definitions were not located yet)
                asset_defs = [list(x) for x in found.asset_defs]
            out[d + IMPORTED] = "\n".join(f"{name} {module}" for name, module in found.imported)
        out[d] = verdict
        if verdict:
            return verdict + " (the fast null build needs an AssetFile that only declares)", out, [[], None]
        imported[f] = out[d + IMPORTED] = out.get(d + IMPORTED, checked.get(d + IMPORTED, ""))
    return None, out, [asset_defs or [], [digests[assetfile], checker], imported]


def imported_values(project: Any, imported: dict[str, str]) -> str | None:
    """Why no snapshot can prove this project's null build from its code: a value the AssetFile or
    a project module imports from another module (``imported``: ``check``'s names of each file)
    that was made as that module loaded (``from time import timezone``, of TZ; a setting a shared
    library read from a file), which keys hold by value, and which no file or variable the
    snapshot watches may show changed; None if there is none. Not a module, class or function
    (keyed by their library's version), nor a value of ``CONSTANT_MODULES``."""
    import types

    loaded = project.loaded
    files = module_files(project)
    for f, text in imported.items():
        module = loaded.module if f == str(loaded.path) else sys.modules.get(files.get(f, ""))
        space = vars(module) if isinstance(module, types.ModuleType) else {}
        for line in text.split("\n") if text else ():
            name, _, source = line.partition(" ")
            if source.startswith(".") or source.partition(".")[0] in ("assetbuild", *CONSTANT_MODULES):
                continue
            if name == "*":  # (what the star import bound: its module's public values, as they are here)
                found = vars(sys.modules[source]) if source in sys.modules else {}
                pairs = [(n, v) for n, v in found.items() if not n.startswith("_") and n in space and space[n] is v]
            else:
                pairs = [(name, space[name])] if name in space else []
            for n, v in pairs:
                if not (isinstance(v, (types.ModuleType, type)) or callable(v)):
                    return (f"{os.path.relpath(f, str(project.project_dir))}: {n} ({type(v).__name__}) is a value "
                            f"module {source} made as it loaded: keys hold it, and it may come from the environment, "
                            "a file or the clock, which the snapshot cannot see")
    return None


def _exports(names: dict[str, str], root: str, contents: dict[str, bytes], digests: dict[str, str],
             checker: str, checked: dict[str, str], out: dict[str, str]) -> dict[str, frozenset[str]]:
    """What each project module in ``names`` exports to the check of the files importing it: a
    fixed point over them all, cached in ``checked`` (and put in ``out``) under ``EXPORTS`` and
    a digest of every module's name, package and bytes, and of the check. Without the cache,
    every build that records a snapshot would parse every module the AssetFile imports."""
    exports: dict[str, frozenset[str]] = dict.fromkeys(names.values(), frozenset())
    if not names:
        return exports
    key = EXPORTS + hashlib.sha256(repr(sorted((m, _package(f, m), digests[f]) for f, m in names.items())).encode()
                                   + checker.encode()).hexdigest()
    kept = _decode_exports(checked.get(key), exports.keys())
    if kept is not None:
        out[key] = checked[key]
        return kept
    for _ in range(len(exports) + 1):  # exports only grow: a fixed point within as many rounds
        grew = False
        for f, m in names.items():
            found = _facts(contents[f], os.path.relpath(f, root), exports, _package(f, m))
            if found.exports != exports[m]:
                exports[m], grew = found.exports, True
        if not grew:
            break
    out[key] = "\n".join(" ".join([m, *sorted(exports[m])]) for m in sorted(exports))
    return exports


def _decode_exports(text: str | None, modules: Collection[str]) -> dict[str, frozenset[str]] | None:
    """The exports ``_exports`` kept as ``text`` (a line per module: its name, then the names
    it exports), if they are of exactly ``modules``; else None (then they are found again)."""
    if not text:
        return None
    found: dict[str, frozenset[str]] = {}
    for line in text.split("\n"):
        m, *exported = line.split(" ")
        found[m] = frozenset(exported)
    return found if found.keys() == set(modules) else None


def _facts(source: bytes, name: str, exports: dict[str, frozenset[str]], package: str) -> Any:
    """``declarative.facts``, imported on first use: a build whose verdicts are all known does
    not import it (nor ast)."""
    from ..declarative import facts

    return facts(source, name, exports, package)


def _package(file: str, module: str) -> str:
    """The package a module's relative imports start from: itself for a package's __init__."""
    return module if os.path.basename(file) == "__init__.py" else module.rpartition(".")[0]


def _checker_digest() -> str:
    """The static check's own code: a verdict cached by an older check is not reused."""
    h = hashlib.sha256()
    for name in ("declarative.py", "declarations.py", "outline.py", "staticforms.py"):
        h.update(Path(_OWN, name).read_bytes())
    return h.hexdigest()


def beside_worth_it(project: Any, previous: dict[str, Any] | None) -> bool:
    """Whether to check beside the build: a big AssetFile, whose verdict and definitions the
    previous snapshot does not hold."""
    loaded = project.loaded
    try:
        big = os.path.getsize(loaded.path) >= BESIDE_MIN_BYTES
    except OSError:
        return False
    return big and (previous or {}).get("asset_defs_of") != [loaded.source_digest, _checker_digest()]


class Beside:
    """``check`` in a process of its own, started now; ``answer`` takes its result."""

    def __init__(self, project: Any, previous: dict[str, Any] | None) -> None:
        loaded = project.loaded
        self.names = module_files(project)
        request = {"assetfile": str(loaded.path), "names": self.names, "root": str(project.project_dir),
                   "previous": {"checked": (previous or {}).get("checked")},  # (its definitions: not this file's)
                   "digests": {str(loaded.path): loaded.source_digest, **loaded.module_sources}}
        # isolated (-I): no module of the project's directory or of PYTHONPATH can stand in for
        # one the check imports (the standard library's, and assetbuild's, found here)
        import subprocess  # (here: only a build of a large AssetFile starts one)

        code = (f"import sys; sys.path.insert(0, {os.path.dirname(_OWN)!r}); "
                "from assetbuild.session.checking import _serve; _serve()")
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, close_fds=True)
        stdin, self.proc.stdin = self.proc.stdin, None  # written now, and closed: communicate() reads only
        assert stdin is not None
        try:
            stdin.write(marshal.dumps(request))  # (a few KB: within the pipe's buffer)
            stdin.close()
        except OSError:
            self.close()

    def answer(self, names: dict[str, str], contents: dict[str, bytes], timeout: float = 120) -> Verdicts | None:
        """Its verdicts, if it checked these ``names`` with exactly these ``contents``; else None
        (it failed, or read other bytes: a file was edited since it was loaded)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        try:
            out, _ = proc.communicate(timeout=timeout)
            read, found = marshal.loads(out)
        except Exception:  # noqa: BLE001 - a failed helper costs the check here, nothing else
            proc.kill()
            proc.communicate()
            return None
        if proc.returncode != 0 or names != self.names or any(
                f not in contents or hashlib.sha256(contents[f]).hexdigest() != digest for f, digest in read.items()):
            return None
        refusal, out_verdicts, asset_defs = found
        return refusal, out_verdicts, asset_defs

    def close(self) -> None:
        """End it, unless its answer was taken (the build ended early)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.communicate()


def _serve() -> None:
    """The process ``Beside`` starts: reads its request on stdin, writes (the sha256 of each file
    it read, ``check``'s verdicts) on stdout. Ctrl-C is for the build, which ends it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    req = marshal.loads(sys.stdin.buffer.read())
    contents = {f: Path(f).read_bytes() for f in [req["assetfile"], *req["names"]]}
    found = check(req["assetfile"], req["names"], req["root"], req["previous"], contents, req["digests"])
    read = {f: hashlib.sha256(b).hexdigest() for f, b in contents.items()}
    sys.stdout.buffer.write(marshal.dumps((read, list(found))))
