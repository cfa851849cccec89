"""Whether an AssetFile or a project module is declarative: loading it again cannot give other
definitions, so the null-build fast path may skip executing it (issue 16, point 1).

The check reads the source only (``ast``); it never imports anything. It accepts imports,
assignments of static expressions, ``def``/``class`` whose load-time parts are static and
assetbuild's decorators, and two stdlib forms (``staticforms``: a literal ``re.compile``, an ``if
TYPE_CHECKING:`` of imports); it refuses everything else with a line and a reason. A refusal costs
speed only (the full path runs); a wrong acceptance gives a stale build, so every doubt refuses.

A *static* value is built from constants, containers, operators, f-strings, names this module
binds statically, assetbuild's declarations (calls included) and the names a project module
binds itself. Values imported from any other module are opaque (``from os import environ``),
modules are never values (``config.os.environ`` would reach the environment) and dunder
attributes are refused (``f.__globals__``).
"""

from __future__ import annotations

import ast
import builtins
import gc
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .declarations import DECLARATIONS, DECLARING_SUBMODULES, ENGINE
from .outline import first_line, parse_outlined
from .staticforms import is_regex_compile, is_type_checking, regex_refusal, type_checking_refusal

_TYPING = frozenset({"typing", "typing_extensions", "collections.abc", "collections", "builtins", "types"})
# A builtin is a value like a constant (``dtype=int``), unless a star import may have replaced it.
_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("__"))
_GENERIC_BUILTINS = frozenset({"list", "dict", "tuple", "set", "frozenset", "type"})


@dataclass(frozen=True)
class Refusal:
    """Why a module is not declarative; ``str()`` is the one line a user reads."""

    filename: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Facts:
    """What the fast path needs of one module besides its refusal.

    ``imports``: the absolute names of the modules it may load, in order, for the caller to find
    the project modules among them (``import a.b`` gives ``a`` and ``a.b``, since both run;
    ``from a.b import c`` gives ``a``, ``a.b`` and ``a.b.c``, since ``c`` may be a submodule; a
    relative import that ``package`` cannot resolve keeps its dots). ``exports``: the names whose
    last module-level binding is static (an assignment, ``def``, ``class``, or a name another
    project module exports; never another import): what other modules may read from it, given as
    ``project_modules[name]`` to their check. Exports depend on the exports of the modules it
    imports from: start every project module at ``frozenset()`` and recheck until none grows.
    Empty when refused.

    ``asset_defs``: (name, first line, last line: 0 for the end of the file) of each module-level
    ``def`` declaring only the asset of its own name (its decorators are ``@asset`` without
    ``name=``), up to the next statement: what a build loading part of the project leaves out.
    """

    refusal: Refusal | None
    imports: tuple[str, ...]
    exports: frozenset[str]
    asset_defs: tuple[tuple[str, int, int], ...] = ()
    imported: tuple[tuple[str, str], ...] = ()  # (NAME, m) of ``from m import NAME`` of another module's (*: a star)


def refusal(source: str | bytes, filename: str,
            project_modules: Mapping[str, Collection[str]] | Collection[str] | None = None, package: str = "") -> Refusal | None:
    """None when ``source`` is declarative, else the first construct that runs code at load.

    ``project_modules`` maps each project module's dotted name to its ``Facts.exports``: reading
    those names (``config.THRESHOLD``, ``from config import THRESHOLD``) is static, provided the
    caller checks those modules too (given only their names, no name of theirs is readable).
    ``package`` resolves relative imports: ``""`` for a top-level module or the AssetFile,
    ``"pkg"`` for ``pkg/mod.py`` and for ``pkg/__init__.py`` itself.
    """
    return facts(source, filename, project_modules, package).refusal


def facts(source: str | bytes, filename: str,
          project_modules: Mapping[str, Collection[str]] | Collection[str] | None = None, package: str = "") -> Facts:
    """The refusal, imports and exports of one module (see ``Facts``); never raises."""
    collecting = gc.isenabled()
    gc.disable()  # a big tree is hundreds of thousands of objects: the collector would triple the time
    try:
        tree = _parse(source, filename)
        if isinstance(tree, Refusal):
            return Facts(tree, (), frozenset())
        project = project_modules if isinstance(project_modules, Mapping) else dict.fromkeys(project_modules or ())
        checker = _Checker({m: names or () for m, names in project.items()}, package)
        try:
            checker.module(tree.body)
        except _Refused as r:
            return Facts(Refusal(filename, r.line, r.reason), tuple(dict.fromkeys(checker.imports)), frozenset())
        exports = frozenset(n for n, b in checker.scope.items() if b[0] in ("value", "def", "class"))
        imported = tuple((n, str(b[1])) for n, b in checker.scope.items() if b[0] == "foreign") + tuple(checker.stars)
        return Facts(None, tuple(dict.fromkeys(checker.imports)), exports, checker.asset_defs(tree.body), imported)
    finally:
        if collecting:
            gc.enable()


def _parse(source: str | bytes, filename: str) -> ast.Module | Refusal:
    try:
        return parse_outlined(source, filename)
    except (SyntaxError, ValueError) as e:  # ValueError: a NUL byte in the source
        line = getattr(e, "lineno", None) or 1
        return Refusal(filename, line, f"does not parse ({getattr(e, 'msg', e)})")


class _Refused(Exception):
    def __init__(self, node: ast.AST, reason: str) -> None:
        self.line = getattr(node, "lineno", 1)
        self.reason = reason


# A binding: (kind, detail). Kinds: "value" (a static assignment), "def", "class", "ab" (an
# assetbuild name; detail: its name there), "abmod" (an assetbuild module; detail: its dotted
# name), "projmod" (a project module), "foreign" (a name imported from elsewhere; detail: the
# module), "foreignmod" (another module, by ``import``; detail: its name),
# "star" (may have been replaced by a star import; detail: its line).
_Binding = tuple[str, str | int]
_Scope = dict[str, _Binding]


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}(...)"
    if isinstance(node, ast.Subscript):
        return f"{_dotted(node.value)}[...]"
    return type(node).__name__.lower()


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


_STATEMENT_WORDS = {
    ast.For: "a for loop", ast.AsyncFor: "a for loop", ast.While: "a while loop", ast.If: "an if statement",
    ast.Try: "a try statement", ast.With: "a with statement", ast.AsyncWith: "a with statement",
    ast.AugAssign: "an augmented assignment", ast.Delete: "a del statement", ast.Global: "a global statement",
    ast.Nonlocal: "a nonlocal statement", ast.Assert: "an assert", ast.Raise: "a raise",
    ast.Return: "a return", ast.Break: "a break", ast.Continue: "a continue",
}
_EXPRESSION_WORDS = {
    ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression", ast.NamedExpr: "a walrus (:=)",
    ast.Await: "an await", ast.Yield: "a yield", ast.YieldFrom: "a yield",
}


class _Checker:
    def __init__(self, project_modules: Mapping[str, Collection[str]], package: str) -> None:
        self.project = project_modules
        self.package = package
        self.scope: _Scope = {}
        self.imports: list[str] = []
        self.lazy_annotations = False
        self.star_line = 0  # the last star import not from assetbuild
        self.stars: list[tuple[str, str]] = []  # ("*", m) of each ``from m import *`` not from assetbuild
        self.type_checking: set[str] = set()  # names bound by ``from typing import TYPE_CHECKING``
        self.plain_assets: list[int] = []  # the indices of the statements ``asset_defs`` reports

    # statements

    def module(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.FunctionDef) and stmt.decorator_list \
                    and all(self.plain_asset(d) for d in stmt.decorator_list):
                self.plain_assets.append(i)  # (its decorators as the scope stands before it binds)
            if isinstance(stmt, ast.Import):
                self.import_(stmt)
            elif isinstance(stmt, ast.ImportFrom):
                self.import_from(stmt)
            elif isinstance(stmt, ast.If) and is_type_checking(stmt.test, self.scope.get, self.type_checking.__contains__):
                if (blame := type_checking_refusal(stmt)) is not None:
                    raise _Refused(*blame)
            else:
                self.statement(stmt, self.scope, in_class=False)
            if "__getattr__" in self.scope:  # (PEP 562: ``from m import NAME`` calls it as the importer loads)
                raise _Refused(stmt, "a module-level __getattr__ runs code whenever a name the module lacks is read")

    def plain_asset(self, dec: ast.expr) -> bool:
        """Whether ``dec`` is assetbuild's ``@asset``, naming no other asset (no ``name=``, and
        nothing unpacked that could)."""
        target = dec.func if isinstance(dec, ast.Call) else dec
        if self.callable_from_assetbuild(target, self.scope) != "asset":
            return False
        return not isinstance(dec, ast.Call) or (not dec.args and all(k.arg not in (None, "name") for k in dec.keywords))

    def asset_defs(self, body: list[ast.stmt]) -> tuple[tuple[str, int, int], ...]:
        """``Facts.asset_defs``, once the whole module was checked."""
        out = []
        for i in self.plain_assets:
            fn = body[i]
            assert isinstance(fn, ast.FunctionDef)
            out.append((fn.name, first_line(fn), first_line(body[i + 1]) - 1 if i + 1 < len(body) else 0))
        return tuple(out)

    def statement(self, stmt: ast.stmt, scope: _Scope, in_class: bool) -> None:
        if isinstance(stmt, ast.Pass):
            return
        where = "in a class body" if in_class else "at module level"
        if isinstance(stmt, ast.Expr):
            if not isinstance(stmt.value, ast.Constant):
                self.value(stmt.value, scope, where)
            return
        if isinstance(stmt, ast.Assign):
            self.value(stmt.value, scope, where)
            for target in stmt.targets:
                self.bind_target(target, scope)
                if in_class and any(isinstance(n, ast.Name) and n.id == "__class_getitem__" for n in ast.walk(target)):
                    raise _Refused(stmt, "a __class_getitem__ runs code whenever its class is indexed")
            return
        if isinstance(stmt, ast.AnnAssign):
            if not isinstance(stmt.target, ast.Name):
                raise _Refused(stmt, f"an assignment to {_dotted(stmt.target)} changes another object at load")
            self.annotation(stmt.annotation, scope)
            if in_class and stmt.target.id == "__class_getitem__":
                raise _Refused(stmt, "a __class_getitem__ runs code whenever its class is indexed")
            if stmt.value is not None:
                self.value(stmt.value, scope, where)
                scope[stmt.target.id] = ("value", "")
            return
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function(stmt, scope, in_class)
            return
        if isinstance(stmt, ast.ClassDef):
            self.class_(stmt, scope)
            return
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            raise _Refused(stmt, "an import inside a class body")
        word = _STATEMENT_WORDS.get(type(stmt)) or (
            "a match statement" if type(stmt).__name__ == "Match" else
            "a try statement" if type(stmt).__name__ == "TryStar" else
            "a type alias" if type(stmt).__name__ == "TypeAlias" else f"a {type(stmt).__name__} statement")
        raise _Refused(stmt, f"{word} {where} runs code on every load")

    def bind_target(self, target: ast.expr, scope: _Scope) -> None:
        if isinstance(target, ast.Name):
            scope[target.id] = ("value", "")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.bind_target(elt, scope)
        elif isinstance(target, ast.Starred):
            self.bind_target(target.value, scope)
        else:
            raise _Refused(target, f"an assignment to {_dotted(target)} changes another object at load")

    def function(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope, in_class: bool) -> None:
        if getattr(fn, "type_params", None):
            raise _Refused(fn, f"def {fn.name}: type parameters are not checked; refused to be safe")
        if in_class and fn.name == "__class_getitem__":
            raise _Refused(fn, "a __class_getitem__ runs code whenever its class is indexed")
        for dec in fn.decorator_list:
            self.decorator(dec, scope)
        args = fn.args
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.value(default, scope, f"a default of {fn.name}")
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs,
                 *(a for a in (args.vararg, args.kwarg) if a is not None)]
        for arg in every:
            if arg.annotation is not None:
                self.annotation(arg.annotation, scope)
        if fn.returns is not None:
            self.annotation(fn.returns, scope)
        scope[fn.name] = ("def", "")

    def class_(self, cls: ast.ClassDef, scope: _Scope) -> None:
        if cls.decorator_list:
            raise _Refused(cls.decorator_list[0], f"a decorator on class {cls.name} runs code at load")
        if cls.keywords:
            raise _Refused(cls, f"class {cls.name} has a metaclass or class keywords: they run code at load")
        if getattr(cls, "type_params", None):
            raise _Refused(cls, f"class {cls.name}: type parameters are not checked; refused to be safe")
        for base in cls.bases:
            if not (isinstance(base, ast.Name) and base.id == "object" and "object" not in scope):
                raise _Refused(base, f"class {cls.name} has a base ({_dotted(base)}): its hooks run code at load")
        inner: _Scope = _ClassScope(scope)
        for stmt in cls.body:
            self.statement(stmt, inner, in_class=True)
        scope[cls.name] = ("class", "")

    def decorator(self, dec: ast.expr, scope: _Scope) -> None:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if self.callable_from_assetbuild(target, scope) is None:
            raise _Refused(dec, f"a decorator (@{_dotted(target)}) that is not assetbuild's runs code at load")
        if isinstance(dec, ast.Call):
            self.call_arguments(dec, scope, f"@{_dotted(target)}")

    # imports

    def absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.package.split(".") if self.package else []
        if node.level > len(parts):  # beyond the top-level package: unresolved, never a project module
            return "." * node.level + (node.module or "")
        base = parts[: len(parts) - node.level + 1]
        return ".".join([*base, *([node.module] if node.module else [])])

    def import_(self, node: ast.Import) -> None:
        for alias in node.names:
            parts = alias.name.split(".")
            self.imports += [".".join(parts[:k]) for k in range(1, len(parts) + 1)]
            bound = alias.name if alias.asname else parts[0]
            self.scope[alias.asname or parts[0]] = self.module_binding(bound)

    def module_binding(self, name: str) -> _Binding:
        if name == "assetbuild" or (name.startswith("assetbuild.")
                                    and name.split(".", 1)[1] in DECLARING_SUBMODULES):
            return ("abmod", name)
        if self.is_project(name):
            return ("projmod", name)
        return ("foreignmod", name)

    def is_project(self, name: str) -> bool:
        return name in self.project or any(m.startswith(name + ".") for m in self.project)

    def import_from(self, node: ast.ImportFrom) -> None:
        module = self.absolute(node)
        if module == "__future__":
            if any(a.name == "annotations" for a in node.names):
                self.lazy_annotations = True
            return
        parts = module.split(".")
        self.imports += [".".join(parts[:k]) for k in range(1, len(parts) + 1) if parts[k - 1]] or [module]
        if node.names[0].name == "*":
            self.star(node, module)
            return
        for alias in node.names:
            self.imports.append(module + alias.name if module.endswith(".") else f"{module}.{alias.name}")
            typing = (module, alias.name) == ("typing", "TYPE_CHECKING") and not self.is_project("typing")
            (self.type_checking.add if typing else self.type_checking.discard)(alias.asname or alias.name)
            self.scope[alias.asname or alias.name] = self.name_binding(module, alias.name)

    def name_binding(self, module: str, name: str) -> _Binding:
        declaring = module == "assetbuild" or (module.startswith("assetbuild.")
                                                and module.split(".", 1)[1] in DECLARING_SUBMODULES)
        if declaring and name in DECLARATIONS:
            return ("ab", name)
        if module == "assetbuild" and name in DECLARING_SUBMODULES:
            return ("abmod", f"assetbuild.{name}")
        if f"{module}.{name}" in self.project:
            return ("projmod", f"{module}.{name}")
        if module in self.project and name in self.project[module]:
            return ("value", "")
        return ("foreign", module)

    def star(self, node: ast.ImportFrom, module: str) -> None:
        if module == "assetbuild":
            for name in DECLARATIONS:
                self.scope[name] = ("ab", name)
            for name in ENGINE:
                self.scope[name] = ("foreign", module)
            return
        for name in self.scope:  # any of them may be replaced, by anything
            self.scope[name] = ("star", node.lineno)
        self.star_line = node.lineno
        self.stars.append(("*", module))

    # expressions

    def callable_from_assetbuild(self, node: ast.expr, scope: _Scope) -> str | None:
        """The declaration ``node`` names (``asset``, ``assetbuild.source``...), else None."""
        if isinstance(node, ast.Name):
            kind, detail = scope.get(node.id, ("", ""))
            return str(detail) if kind == "ab" else None
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        if not (isinstance(node, ast.Name) and scope.get(node.id, ("",))[0] == "abmod"):
            return None
        module = str(scope[node.id][1])
        while chain and module == "assetbuild" and chain[0] in DECLARING_SUBMODULES:
            module = f"assetbuild.{chain.pop(0)}"
        return chain[0] if len(chain) == 1 and chain[0] in DECLARATIONS else None

    def call_arguments(self, call: ast.Call, scope: _Scope, what: str) -> None:
        for arg in call.args:
            self.value(arg.value if isinstance(arg, ast.Starred) else arg, scope, f"an argument of {what}")
        for kw in call.keywords:
            self.value(kw.value, scope, f"an argument of {what}")

    def value(self, node: ast.expr, scope: _Scope, where: str = "") -> None:
        """Refuse unless evaluating ``node`` is static (see the module's docstring)."""
        at = "" if not where else f" {where}" if where.startswith(("at ", "in ")) else f" in {where}"
        if isinstance(node, ast.Constant):
            return
        if isinstance(node, ast.Name):
            self.name(node, scope, at)
        elif isinstance(node, ast.Attribute):
            self.attribute(node, scope, at)
        elif isinstance(node, ast.Subscript):
            self.readable(node.value, scope, at, node)
            self.value(node.slice, scope, where)
        elif isinstance(node, ast.Call) and is_regex_compile(node, scope.get):
            if (blame := regex_refusal(node, scope.get, at)) is not None:
                raise _Refused(*blame)
        elif isinstance(node, ast.Call):
            if self.callable_from_assetbuild(node.func, scope) is None:
                raise _Refused(node, f"a call{at} ({_dotted(node.func)}) runs code on every load; "
                                     "only assetbuild's declarations may be called")
            self.call_arguments(node, scope, _dotted(node.func))
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            for elt in node.elts:
                self.value(elt.value if isinstance(elt, ast.Starred) else elt, scope, where)
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if k is not None:
                    self.value(k, scope, where)
                self.value(v, scope, where)
        elif isinstance(node, (ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp)):
            for operand in ast.iter_child_nodes(node):  # in order (operators are not expressions)
                if isinstance(operand, ast.expr):
                    self.value(operand, scope, where)
        elif isinstance(node, ast.JoinedStr):
            for v in node.values:
                self.value(v, scope, where)
        elif isinstance(node, ast.FormattedValue):
            self.value(node.value, scope, where)
            if node.format_spec is not None:
                self.value(node.format_spec, scope, where)
        elif isinstance(node, ast.Slice):
            for part in (node.lower, node.upper, node.step):
                if part is not None:
                    self.value(part, scope, where)
        else:
            word = _EXPRESSION_WORDS.get(type(node), f"a {type(node).__name__} expression")
            raise _Refused(node, f"{word}{at} runs code on every load")

    def name(self, node: ast.Name, scope: _Scope, at: str) -> None:
        kind, detail = scope.get(node.id, ("", ""))
        if kind in ("value", "def", "class", "ab") or (kind == "" and node.id in _BUILTINS and not self.star_line):
            return
        if kind == "" and node.id in _BUILTINS:
            kind, detail = "star", self.star_line
        if kind in ("abmod", "projmod"):
            raise _Refused(node, f"a module ({node.id}){at} used as a value: reaching through it cannot be checked")
        raise _Refused(node, self.opaque(node.id, kind, detail, at))

    @staticmethod
    def opaque(name: str, kind: str, detail: str | int, at: str) -> str:
        if kind in ("foreign", "foreignmod") and str(detail).startswith("assetbuild"):
            return f"{name}{at} is not one of assetbuild's declarations (the engine may not run at load)"
        if kind in ("foreign", "foreignmod"):
            return (f"{name}{at} comes from {detail}: only values of assetbuild and of project modules' own "
                    "names are known without loading (it may read the environment, a file or the clock)")
        if kind == "star":
            return f"{name}{at} may have been replaced by the star import at line {detail}"
        return f"{name}{at} is not bound by this module before it is used"

    def attribute(self, node: ast.Attribute, scope: _Scope, at: str) -> None:
        chain: list[ast.Attribute] = []
        base: ast.expr = node
        while isinstance(base, ast.Attribute):
            if _dunder(base.attr):
                raise _Refused(base, f"a dunder attribute ({_dotted(base)}){at} reaches past what is declared")
            chain.insert(0, base)
            base = base.value
        if isinstance(base, ast.Name) and scope.get(base.id, ("",))[0] in ("abmod", "projmod"):
            self.module_attribute(base, chain, scope, at)
            return
        self.readable(base, scope, at, node)

    def module_attribute(self, root: ast.Name, chain: list[ast.Attribute], scope: _Scope, at: str) -> None:
        kind, module = scope[root.id]
        module = str(module)
        i = 0
        if kind == "abmod":
            if self.callable_from_assetbuild(chain[-1], scope) is not None:
                return
            while i < len(chain) and module == "assetbuild" and chain[i].attr in DECLARING_SUBMODULES:
                module = f"assetbuild.{chain[i].attr}"
                i += 1
            if i < len(chain) and chain[i].attr in DECLARATIONS:
                return
            what = _dotted(chain[min(i, len(chain) - 1)])
            raise _Refused(root, f"{what}{at} is not one of assetbuild's declarations")
        while i < len(chain) and f"{module}.{chain[i].attr}" in self.project:
            module = f"{module}.{chain[i].attr}"
            i += 1
        if i == len(chain):
            raise _Refused(root, f"a module ({module}){at} used as a value: reaching through it cannot be checked")
        if chain[i].attr not in self.project.get(module, ()):
            raise _Refused(root, f"{_dotted(chain[i])}{at} is not a name that {module} assigns or defines "
                                 "itself (an import, or not a project module)")

    def readable(self, base: ast.expr, scope: _Scope, at: str, whole: ast.expr) -> None:
        """Refuse unless reading ``whole``, an attribute or an index of ``base``, is static."""
        indexes = isinstance(whole, ast.Subscript)
        if isinstance(base, ast.Name):
            kind, detail = scope.get(base.id, ("", ""))
            if kind in ("value", "ab") or (kind == "class" and not indexes):
                return
            if kind == "class":
                raise _Refused(base, f"{_dotted(whole)}{at} indexes a class: its hooks may run code")
            if kind == "def":
                raise _Refused(base, f"{_dotted(whole)}{at} reaches into a function")
            if kind in ("abmod", "projmod"):
                raise _Refused(base, f"{_dotted(whole)}{at} indexes a module")
            if kind == "" and base.id in _BUILTINS:
                raise _Refused(base, f"{_dotted(whole)}{at} reaches into the builtin {base.id}")
            if kind in ("foreign", "foreignmod") and not str(detail).startswith("assetbuild"):
                raise _Refused(base, f"{_dotted(whole)}{at} reads an object imported from {detail} on every load "
                                     "(it may hold the environment, a file or the clock)")
            raise _Refused(base, f"{_dotted(whole)}{at}: " + self.opaque(base.id, kind, detail, ""))
        self.value(base, scope, at.removeprefix(" "))

    def annotation(self, node: ast.expr, scope: _Scope) -> None:
        """Annotations run at load without ``from __future__ import annotations``: types only."""
        if self.lazy_annotations or isinstance(node, ast.Constant):
            return
        if isinstance(node, ast.Name):
            return
        if isinstance(node, ast.Attribute):
            if _dunder(node.attr):
                raise _Refused(node, f"an annotation reads a dunder attribute ({_dotted(node)})")
            self.annotation(node.value, scope)
            if not isinstance(node.value, (ast.Name, ast.Attribute)):
                raise _Refused(node, f"an annotation ({_dotted(node)}) evaluated at load is not a type")
        elif isinstance(node, ast.Subscript):
            if not isinstance(node.value, (ast.Name, ast.Attribute)):
                raise _Refused(node, f"an annotation ({_dotted(node)}) evaluated at load is not a type")
            self.annotation(node.value, scope)
            self.annotation(node.slice, scope)
            if not self.generic(node.value, scope):
                raise _Refused(node, f"an annotation indexes {_dotted(node.value)} at load, which may read the "
                                     "environment (only typing's, builtins', assetbuild's and the project's "
                                     "generics; or add `from __future__ import annotations`)")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            self.annotation(node.left, scope)
            self.annotation(node.right, scope)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                self.annotation(elt, scope)
        else:
            raise _Refused(node, f"an annotation ({_dotted(node)}) runs code at load "
                                 "(add `from __future__ import annotations`)")

    def generic(self, node: ast.expr, scope: _Scope) -> bool:
        """Whether indexing ``node`` in an annotation only makes a type (``list[int]``,
        ``typing.Optional[T]``, ``collections.abc.Mapping[K, V]``), not ``os.environ["X"]``."""
        chain: list[ast.Attribute] = []
        root = node
        while isinstance(root, ast.Attribute):
            chain.insert(0, root)
            root = root.value
        if not isinstance(root, ast.Name):
            return False
        kind, detail = scope.get(root.id, ("", ""))
        if kind == "":
            return not chain and root.id in _GENERIC_BUILTINS
        if kind in ("abmod", "projmod"):
            self.module_attribute(root, chain, scope, " in an annotation")
            return True
        if kind in ("ab", "value", "class"):
            return True
        if kind == "foreign":  # ``from typing import Optional``: the name itself
            return not chain and str(detail) in _TYPING
        if kind == "foreignmod":  # ``import typing``, ``import collections.abc``: a module's name
            path = [str(detail), *(a.attr for a in chain)]
            return ".".join(path[:-1]) in _TYPING and len(chain) >= 1
        return False


class _ClassScope(dict[str, _Binding]):
    """A class body's names, falling back to the module's (as Python resolves them there)."""

    def __init__(self, outer: _Scope) -> None:
        super().__init__()
        self.outer = outer

    def __missing__(self, key: str) -> _Binding:
        return self.outer[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else self.outer.get(key, default)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.outer

