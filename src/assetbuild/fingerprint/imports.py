"""Modules that code imports: its import statements, and project modules digested from source.

An ``import`` inside a function runs when the function runs, not when the AssetFile loads, and
the point of writing it there is that the module is *not* imported before (a heavy library, a
training module). So a project module imported that way is fingerprinted from its file, never
by importing it: the static digest of its compiled code (``bytecode``: comments and formatting
do not count), together with every module that importing it runs. That is its parent packages
(their ``__init__.py``) and, transitively, the modules its own code imports (at module level or
inside its functions, relative imports included). Project modules count by code, libraries by
their distribution version, modules that are found nowhere as such. The set is digested sorted
by name, so an import cycle terminates and the digest does not depend on where the walk entered.

The disk is behind ``ModuleFinder`` (the loader implements it: locating a module with
``importlib``'s finders, reading and compiling its file, caching by stat signature).

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import NamedTuple, Protocol

from .bytecode import _IMPORT_FROM, _IMPORT_NAME, _LOAD_CONST, _LOAD_SMALL_INT, _decode
from .encoding import PartTag, ValueTag, _e_str, _sha256, _u64

PROJECT = "project"  # a file (or a folder without __init__.py) under the project directory
OUTSIDE = "outside"  # found, outside the project: a library, the stdlib, a path elsewhere
MISSING = "missing"  # found nowhere

# (module name as written, relative level, fromlist) of one import statement
Import = tuple[str, int, tuple[str, ...]]


class ModuleLocation(NamedTuple):
    """Where a module would be imported from (found without importing it). (Named tuples, not
    frozen dataclasses, here and in ``walk``: ~0.1 ms to make each, not ~0.5, in every build.)"""

    kind: str  # PROJECT, OUTSIDE or MISSING
    package: bool = False  # it can have submodules
    namespace: bool = False  # a package without __init__.py: no code of its own


# Names through which code imports a module by a computed name (``importlib.import_module(name)``,
# ``__import__(name)``, a loader's ``exec_module``, ``runpy``; ``eval``/``exec`` can do it too);
# or reaches classes of modules no name reads: ``Base.__subclasses__()`` finds those defined in any
# module imported anywhere (plugin discovery), and no class's code holds its subclasses.
IMPORT_READS = frozenset({"import_module", "__import__", "exec_module", "run_module", "eval", "exec",
                          "__subclasses__"})


class ModuleSource(NamedTuple):
    """A project module's file, compiled but not run."""

    digest: bytes  # the static digest of its code (or of its bytes, when it does not compile)
    imports: tuple[Import, ...]  # every import statement of its code and nested code
    # its code (or nested code) names one of IMPORT_READS, or ``modules`` with ``sys`` imported:
    # what it imports is not in ``imports``, and may be any project module
    computed: bool = False


def imports_by_computed_name(code: types.CodeType, imports: tuple[Import, ...]) -> bool:
    """``ModuleSource.computed`` of a module's ``code``: a superset, by the names it holds."""
    todo = [code]
    reads_modules = any(name == "sys" and not level for name, level, _ in imports)
    while todo:
        c = todo.pop()
        if not IMPORT_READS.isdisjoint(c.co_names) or (reads_modules and "modules" in c.co_names):
            return True
        todo.extend([k for k in c.co_consts if type(k) is types.CodeType])
    return False


class ModuleFinder(Protocol):
    """What fingerprinting needs from the disk to see modules that are not imported."""

    def locate(self, name: str) -> ModuleLocation:
        """Where importing ``name`` would find it, without importing it (nor its parents)."""
        ...

    def source(self, name: str) -> ModuleSource:
        """The code of project module ``name`` (located PROJECT, not a namespace package)."""
        ...

    def project_modules(self) -> tuple[str, ...]:
        """Every module name an import could find in the project's folders, imported or not."""
        ...


def code_imports(code: types.CodeType) -> tuple[Import, ...]:
    """Every import statement in ``code`` and its nested code, sorted: (name, level, fromlist).

    The compiler pushes the level and the fromlist just before ``IMPORT_NAME``:
    ``from .h import f`` is ``("h", 1, ("f",))``, ``import a.b`` is ``("a.b", 0, ())``.
    """
    return import_statements(code)[0]


def import_statements(code: types.CodeType) -> tuple[tuple[Import, ...], tuple[str, ...]]:
    """``code_imports``, and the dotted names of the plain ``import a.b`` statements among them
    (sorted): those bind package ``a``, not ``a.b``, so what the code reads through the variable
    is read from ``a`` (``import a.b as c`` binds ``a.b``: the compiler adds an ``IMPORT_FROM``)."""
    found: set[Import] = set()
    plain: set[str] = set()
    todo = [code]
    while todo:
        c = todo.pop()
        todo.extend([k for k in c.co_consts if type(k) is types.CodeType])
        if _IMPORT_NAME not in c.co_code[::2]:
            continue
        decoded = _decode(c)[0]
        consts = c.co_consts
        last = len(decoded) - 1
        for i, (op, arg, _, _) in enumerate(decoded):
            if op != _IMPORT_NAME:
                continue
            level = 0
            fromlist: tuple[str, ...] | None = None
            if i >= 2:
                prev, prev_arg = decoded[i - 2][0], decoded[i - 2][1]
                if prev == _LOAD_CONST and prev_arg < len(consts):
                    value = consts[prev_arg]
                    level = value if type(value) is int else 0
                elif prev == _LOAD_SMALL_INT:
                    level = prev_arg
            if i >= 1 and decoded[i - 1][0] == _LOAD_CONST and decoded[i - 1][1] < len(consts):
                value = consts[decoded[i - 1][1]]
                if type(value) is tuple:
                    fromlist = tuple(sorted(x for x in value if type(x) is str))
            name = c.co_names[arg]
            found.add((name, level, fromlist or ()))
            if fromlist is None and not level and "." in name and (i == last or decoded[i + 1][0] != _IMPORT_FROM):
                plain.add(name)
    return tuple(sorted(found)), tuple(sorted(plain))


def absolute_name(name: str, level: int, package: str | None) -> str | None:
    """The module an import statement names, as ``importlib`` resolves it; None when a relative
    import reaches above the top-level package (or has no package to start from)."""
    if not level:
        return name or None
    parts = package.split(".") if package else []
    if not parts or level - 1 >= len(parts):
        return None
    base = ".".join(parts[:len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


class ModuleClosures:
    """The digests of project modules read from source, memoized for one ``Fingerprinter``.

    ``version_of(module)`` is the value encoder's: (version tag, warning phrase or None) of the
    distribution a module outside the project comes from.
    """

    def __init__(self, finder: ModuleFinder,
                 version_of: Callable[[str], tuple[bytes, str | None]]) -> None:
        self._finder = finder
        self._version_of = version_of
        self._located: dict[str, ModuleLocation] = {}
        self._sources: dict[str, ModuleSource] = {}
        self._closures: dict[tuple[str, ...], tuple[bytes, tuple[str, ...], bool]] = {}

    def locate(self, name: str) -> ModuleLocation:
        hit = self._located.get(name)
        if hit is None:
            # Never decided by name alone: a project package named like a stdlib module (``test``)
            # comes first on sys.path, and is what the import gets.
            top = name.partition(".")[0]
            if top != name and self.locate(top).kind != PROJECT:
                hit = ModuleLocation(OUTSIDE if self.locate(top).kind == OUTSIDE else MISSING)
            else:
                hit = self._finder.locate(name)
            self._located[name] = hit
        return hit

    def is_project(self, name: str) -> bool:
        return self.locate(name).kind == PROJECT

    def project_modules(self) -> tuple[str, ...]:
        """The finder's ``project_modules``, those an import finds in the project (``is_project``:
        a module of the same name earlier on ``sys.path`` is what the import gets)."""
        return tuple(n for n in self._finder.project_modules() if self.is_project(n))

    def submodules(self, name: str, fromlist: tuple[str, ...]) -> list[str]:
        """The names of ``from name import ...`` that are modules of package ``name`` (the others
        are attributes of it)."""
        if not fromlist or not self.locate(name).package:
            return []
        return [f"{name}.{x}" for x in fromlist if x != "*" and self.locate(f"{name}.{x}").kind != MISSING]

    def closure(self, roots: tuple[str, ...]) -> tuple[bytes, tuple[str, ...], bool]:
        """The digest of every module importing ``roots`` (project modules) runs, the warning
        phrases of the ones that cannot be seen (a module outside the project that no installed
        distribution provides), and whether one of them imports by a computed name (then every
        project module is in the digest, whole, as for code that does: ``reads``)."""
        key = tuple(sorted(set(roots)))
        hit = self._closures.get(key)
        if hit is not None:
            return hit
        entries: dict[str, bytes] = {}
        phrases: set[str] = set()
        todo = [(name, "") for name in key]
        every = False  # a module in it imports by a computed name: every project module is in it
        while todo:
            name, importer = todo.pop()
            if name in entries:
                continue
            loc = self.locate(name)
            top = name.partition(".")[0]
            if loc.kind != PROJECT and (top == name or self.locate(top).kind != PROJECT):
                entries[top] = self._outside(top, importer, phrases)
                continue
            parent = name.rpartition(".")[0]
            if parent:
                todo.append((parent, importer))  # importing a.b runs a's __init__ first
            if loc.kind == MISSING:
                entries[name] = ValueTag.MODULE + _e_str(name) + ValueTag.NO_SUCH_MODULE
                continue
            if loc.kind != PROJECT:  # a portion outside the project of a project namespace package
                entries[name] = self._outside(name, importer, phrases)
                continue
            if loc.namespace:
                entries[name] = PartTag.NAMESPACE
                continue
            source = self._source(name)
            entries[name] = PartTag.SOURCE_CODE + source.digest
            if source.computed and not every:
                every = True
                todo.extend((n, name) for n in self.project_modules())
            package = name if loc.package else parent
            for imported, level, fromlist in source.imports:
                target = absolute_name(imported, level, package)
                if target is None:  # fails when it runs: as a module that is found nowhere
                    entries[f"{name}:{'.' * level}{imported}"] = ValueTag.NO_SUCH_MODULE
                    continue
                todo.append((target, name))
                if fromlist and self.locate(target).kind == PROJECT:
                    todo.extend((sub, name) for sub in self.submodules(target, fromlist))
        body = sorted([_e_str(name) + enc for name, enc in entries.items()])
        digest = _sha256(PartTag.MODULE_CLOSURE + _u64(len(body)) + b"".join(body)).digest()
        hit = self._closures[key] = (digest, tuple(sorted(phrases)), every)
        return hit

    def _source(self, name: str) -> ModuleSource:
        hit = self._sources.get(name)
        if hit is None:
            hit = self._sources[name] = self._finder.source(name)
        return hit

    def _outside(self, top: str, importer: str, phrases: set[str]) -> bytes:
        """A module outside the project, imported by project module ``importer``: by version."""
        if self.locate(top).kind == MISSING:  # an optional dependency, or one that fails: seen
            return ValueTag.MODULE + _e_str(top) + ValueTag.NO_SUCH_MODULE
        version, phrase = self._version_of(top)
        if phrase is not None:
            phrases.add(f"{phrase}, imported by {importer}" if importer else phrase)
        return ValueTag.MODULE + _e_str(top) + version
