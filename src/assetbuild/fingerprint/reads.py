"""Reads that the names in a function's bytecode do not show.

The walk follows a function by what its code names: a global, an attribute of a project module
(``values`` encodes such a module by the names the code reads from it). These reads escape
that list:

* A function's own attributes (``def f(): return f.limit`` names ``f`` and ``limit``; the value
  is in ``f.__dict__``): the function's state, like its defaults and closure
  (``function_state``, encoded by the walk).
* A module's ``__getattr__`` (PEP 562): ``settings.RATE`` names ``RATE``, which the module does
  not hold; ``__getattr__`` makes it. A project module that defines one counts it too, as a
  helper, whenever code reads the module by name.
* An attribute read by a computed name (``getattr(transforms, "f_" + kind)``, ``vars(m)``,
  ``m.__dict__``): no name says which. When a function's code names one of ``DYNAMIC_READS``,
  every project module it reads counts whole, by its file and the project modules that file
  imports (as a module imported inside a function does: ``imports``). A module one function
  reads by name and passes to another that reads it so is not read by the reader's names: when
  an asset reaches any such reader, every project module it reads by name counts whole too
  (``ReadsEncoder.modules_counted_whole``, from ``_Node.modules``). A module a class holds
  (``class C: mod = transforms``, read as ``self.mod.f``) counts whole as well: a class has no
  names of its own, its methods read through ``self``.
* A module held as a value: passed to another function (``scaled(settings, 10)``), returned
  (``def config(): return settings``), kept in a default, a container or a variable. Where its
  attributes are read, no name of the function that names it says which, so it counts whole
  for every asset that reaches that function (``_Node.held``). A module the code only reads
  attributes of where it names it (a global, a closure variable, what an import inside the
  function binds, a submodule read as an attribute) counts by those names (``held_names``
  reads the bytecode for the rest).
* Globals read by a computed name (``globals()[name]``, ``eval``): every global of the
  function's module counts by value (``globals_read``).
* A module imported by a computed name (``import_module(name)``, ``sys.modules[name]``, ``sys``
  a global, a closure variable, a default or imported inside the function): every project
  module counts whole, imported with the AssetFile or only found in the project's folders
  (``imports_by_computed_name``, ``ReadsEncoder.encode_every_project_module``).
* Annotations: ``typing.get_type_hints``, pydantic's ``validate_call``, typer and FastAPI act on
  them, so a function's annotations count with its code (``ReadsEncoder.encode_annotations``).
* Docstrings read through ``__doc__`` (a prompt template, ``inspect.getdoc``): the code digest
  leaves docstrings out, so when any code an asset reaches names one of ``DOC_READS``, the
  docstrings of every function and class it reaches count (``docstrings_read``).

(Attributes set on ``functools`` wrappers, ``partial`` and ``lru_cache``, are encoded with the
wrapper: ``objects``.) The module rules depend only on the module's code and the reading
function's code, never on what the module holds when the key is made, so keys are the same in
every process.

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import importlib
import opcode
import sys
import types
from typing import Any

from .bytecode import _LOAD_CONST, _decode, _has_docstring_slot
from .encoding import ValueTag, _e_str, _sha256, _u64
from .imports import IMPORT_READS, Import
from .nodes import EVERY_MODULE, _attr, _Node, _Out, add_uses
from .values import ValueEncoder

# Attributes decorators set that do not change what the function does, or that count elsewhere:
# abc.abstractmethod's marker (the class's ``__abstractmethods__`` counts), typing's markers
# for type checkers.
_MARKERS = frozenset({"__isabstractmethod__", "__final__", "__override__", "__no_type_check__"})
# assetbuild's own decorators keep their declaration on the function (``__assetbuild_asset__``...):
# what of it changes a result (inputs, IO manager, path, code_version) is in the key already.
_OWN_PREFIX = "__assetbuild_"
# What functools.singledispatch sets on its wrapper: the registry counts as the function's code
# (``objects.encode_dispatch_registry``), the base function with it.
_DISPATCH = frozenset({"register", "dispatch", "registry", "_clear_cache", "__wrapped__"})

# Names through which code reads attributes by a computed name: builtins, attributes, and the
# helpers of ``operator`` and ``inspect`` that do it. Any of them in a function's names (as a
# global or an attribute: a superset, never a miss) makes the project modules it reads count
# whole.
DYNAMIC_READS = frozenset({"getattr", "hasattr", "vars", "dir", "__dict__", "__getattribute__",
                           "attrgetter", "methodcaller", "getmembers", "getattr_static"})


# Names through which code reads its module's globals by a computed name (``globals()[name]``,
# ``globals().get(name)``, ``eval(name)``): any of them in a function's names makes every global
# of its module count, by value, as if the code named each (``globals_read``).
GLOBALS_READS = frozenset({"globals", "eval", "exec"})
# ``imports.IMPORT_READS``: names through which code imports a module by a computed name.
# ``sys.modules[name]`` is found by value (``imports_by_computed_name``): ``modules`` alone is
# too common an attribute name.
# Globals every module has that the import system or the loader sets: not what code computes.
_BOOKKEEPING = frozenset({"__name__", "__doc__", "__package__", "__loader__", "__spec__",
                          "__file__", "__cached__", "__builtins__", "__path__"})


def globals_read(fn: types.FunctionType, names: tuple[str, ...]) -> tuple[str, ...]:
    """The global names whose values count for ``fn``: the names its code reads, and, when it
    names one of ``GLOBALS_READS``, every global of its module as well.

    ``globals()[name]`` finds any of them, and which one no name says, so all count, by value
    like a named global (project functions recursed, data by value, what cannot be encoded
    warns). That is the module's state when the key is made, so it also covers a global set from
    outside the module's code. Left out: the import system's bookkeeping (``__file__``,
    ``__spec__``...) and assetbuild's own (``__assetbuild_...``). The AssetFile is then never
    loaded in part (``compiled.leaving_out`` refuses: its globals would differ).
    """
    if GLOBALS_READS.isdisjoint(names):
        return names
    extra = [k for k in fn.__globals__ if type(k) is str and k not in _BOOKKEEPING
             and not k.startswith(_OWN_PREFIX)]
    return tuple(sorted(set(names).union(extra)))


def imports_by_computed_name(fn: types.FunctionType, names: tuple[str, ...],
                             imports: tuple[Import, ...] = ()) -> bool:
    """Whether ``fn``'s code may import a module by a name it computes: it names one of
    ``IMPORT_READS``, or reads ``sys.modules`` (``sys.modules[name]``, ``from sys import
    modules``): a global, closure or default value that is ``sys.modules``, or ``sys`` with
    ``modules`` among its names, or ``sys`` imported inside it (``imports``: its import
    statements, ``imports.code_imports``). A superset, never a miss of those spellings."""
    if not IMPORT_READS.isdisjoint(names):
        return True
    if "modules" in names and any(name == "sys" and not level for name, level, _ in imports):
        return True
    found = sys.modules
    values = [fn.__globals__.get(n) for n in names]
    values.extend(fn.__defaults__ or ())
    values.extend((fn.__kwdefaults__ or {}).values())
    for cell in fn.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    importers = (_attr(sys.modules.get("importlib"), "import_module"), __import__)
    for v in values:
        if v is found or (v is sys and "modules" in names) or any(v is f for f in importers):
            return True
    return False


def function_state(fn: types.FunctionType) -> list[tuple[str, Any]]:
    """(name, value) of each attribute set on ``fn`` that its fingerprint must encode, by name.

    ``__wrapped__`` (``functools.wraps``) is left out when a closure cell holds the same object:
    the usual decorator calls what it wraps through its closure, which counts already, so the
    keys of decorated functions stay what they were.
    """
    d = fn.__dict__
    if not d:
        return []
    for name in d:
        if type(name) is not str or not name.startswith(_OWN_PREFIX):
            break
    else:  # only assetbuild's declarations: every asset function (worth the shortcut)
        return []
    skip: frozenset[str] = _MARKERS
    if type(d.get("registry")) is types.MappingProxyType and callable(d.get("dispatch")):
        skip = _MARKERS | _DISPATCH
    wrapped = d.get("__wrapped__")
    if wrapped is not None and fn.__closure__:
        for cell in fn.__closure__:
            try:
                held = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if held is wrapped:
                skip = skip | {"__wrapped__"}
                break
    return [(name, d[name]) for name in sorted(k for k in d if type(k) is str)
            if name not in skip and not name.startswith(_OWN_PREFIX)]


def reads_by_computed_name(node: _Node) -> bool:
    """Whether ``node``'s code names one of ``DYNAMIC_READS``."""
    return not DYNAMIC_READS.isdisjoint(node.names)


# --------------------------------------------------------------------------------------------------
# Modules held as values: which names a function's code uses other than to read an attribute.

_PY310 = sys.version_info < (3, 11)
_PY312 = sys.version_info >= (3, 12)
_OP = opcode.opmap.get
# What each opcode's argument names: a global or other name (co_names), a local or cell variable.
_GLOBAL, _NAME, _LOCAL, _ATTRIBUTE, _IMPORT, _IMPORT_FROM = range(6)
_KIND = {op: kind for names, kind in (
    (("LOAD_GLOBAL",), _GLOBAL), (("LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"), _NAME),
    (("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR", "LOAD_FAST_BORROW", "LOAD_DEREF",
      "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_DEREF"), _LOCAL),
    (("LOAD_ATTR",), _ATTRIBUTE), (("IMPORT_NAME",), _IMPORT), (("IMPORT_FROM",), _IMPORT_FROM),
) for name in names if (op := _OP(name, -1)) >= 0}
_ATTRIBUTE_USES = frozenset(op for name in ("LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR", "DELETE_ATTR")
                            if (op := _OP(name, -1)) >= 0)
_COPIES = frozenset(op for name in ("COPY", "DUP_TOP") if (op := _OP(name, -1)) >= 0)
_LOAD_ATTR = _OP("LOAD_ATTR", -1)
_STORE_NAMES = frozenset(op for name in ("STORE_NAME", "STORE_GLOBAL") if (op := _OP(name, -1)) >= 0)
_STORE_LOCALS = frozenset(op for name in ("STORE_FAST", "STORE_DEREF") if (op := _OP(name, -1)) >= 0)
_CELLS = frozenset(op for name in ("LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_DEREF", "STORE_DEREF")
                   if (op := _OP(name, -1)) >= 0)
# 3.13+ loads a cell for a closure it makes with these (LOAD_CLOSURE before): the cell, not its value.
_FAST = frozenset(op for name in ("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR", "LOAD_FAST_BORROW")
                  if (op := _OP(name, -1)) >= 0)


def _local_name(code: types.CodeType, op: int, arg: int) -> str:
    """The variable a local or cell variable opcode's argument names: 3.11+ numbers locals,
    cells and free variables in one table; 3.10, cells and free variables apart."""
    if _PY310:
        names = code.co_cellvars + code.co_freevars if op in _CELLS else code.co_varnames
    else:
        names = code.co_varnames + tuple(c for c in code.co_cellvars if c not in code.co_varnames) + code.co_freevars
    return names[arg] if arg < len(names) else ""


def held_names(code: types.CodeType) -> frozenset[str]:
    """The names whose values ``code`` (or code nested in it) holds rather than only reads an
    attribute of: a global, a variable or an attribute loaded and then passed, returned, stored,
    compared... anything but the object of the next attribute read or write (``m.x``, ``m.f()``,
    ``m.x = 1``, ``m.x += 1``). A variable an import binds holds the module it binds (``import m``,
    ``import a.b as m``) or the attribute (``from p import m``): when the variable is held, that
    name is too. By name, never by scope: a superset (code that holds ``x`` somewhere holds
    every ``x`` it reads), never a miss."""
    held: set[str] = set()
    bound: list[tuple[str, str]] = []  # (variable, the module or attribute an import binds to it)
    todo = [code]
    while todo:
        c = todo.pop()
        todo.extend([k for k in c.co_consts if type(k) is types.CodeType])
        decoded = _decode(c)[0]
        last = len(decoded) - 1
        imported, plain = "", False  # the import statement under way: its module, no fromlist
        for i, (op, arg, _, _) in enumerate(decoded):
            kind = _KIND.get(op)
            if kind is None:
                continue
            if kind == _LOCAL:
                name = _local_name(c, op, arg)
                if op in _FAST and (name in c.co_cellvars or name in c.co_freevars):
                    continue  # a cell handed to a nested function: that one's code reads it
            elif kind == _IMPORT or kind == _IMPORT_FROM:
                name = c.co_names[arg]
                if kind == _IMPORT:
                    imported = name
                    plain = i > 0 and decoded[i - 1][0] == _LOAD_CONST and c.co_consts[decoded[i - 1][1]] is None
                if i < last:
                    store = decoded[i + 1]
                    if store[0] in _STORE_LOCALS:
                        bound.append((_local_name(c, store[0], store[1]), imported if plain else name))
                    elif store[0] in _STORE_NAMES:
                        bound.append((c.co_names[store[1]], imported if plain else name))
                continue
            elif kind == _ATTRIBUTE:
                if _PY312:
                    if arg & 1:  # a method load: the result is called, not held
                        continue
                    arg >>= 1
                name = c.co_names[arg]
            else:  # a global (3.11+: its argument also says whether a NULL is pushed) or a name
                name = c.co_names[arg >> 1 if kind == _GLOBAL and not _PY310 else arg]
            nxt = decoded[i + 1][0] if i < last else -1
            if nxt in _ATTRIBUTE_USES or (nxt in _COPIES and i + 1 < last and decoded[i + 2][0] == _LOAD_ATTR):
                continue  # m.x, m.f(), m.x = v; or m.x += v (the copy's attribute is written back)
            held.add(name)
    held.update([target for variable, target in bound if variable in held])
    return frozenset(held)


_EVERY_MODULE_LABEL = "modules:imported by a computed name"  # no module:<name> has a space
# Labels of the asset part of modules counted whole by reach (``modules_counted_whole``).
_WHOLE_LABEL = "modules:read by a computed name"
_HELD_LABEL = "modules:held as values"
# Names through which code reads a docstring: then the docstrings of what it reaches count.
DOC_READS = frozenset({"__doc__", "getdoc"})
DOCSTRINGS_LABEL = "docstrings:read through __doc__"


def function_annotations(fn: types.FunctionType) -> dict[Any, Any] | None:
    """``fn``'s annotations ({} when it has none); on 3.14, where they are evaluated when read,
    their text when evaluating them raises (a name not defined yet); None when neither can be
    had."""
    try:
        found = fn.__annotations__
    except Exception:  # noqa: BLE001 - 3.14: evaluating an annotation raised
        try:
            lib = importlib.import_module("annotationlib")
            found = lib.get_annotations(fn, format=lib.Format.STRING)
        except Exception:  # noqa: BLE001 - annotations that cannot be had at all
            return None
    return found if isinstance(found, dict) else None


def docstrings_read(nodes: list[_Node], labels: dict[int, str]) -> bytes | None:
    """The digest of the docstrings of ``nodes`` (an asset's function and every function and
    class it reaches, with their part labels, ``labels``: the asset's own is ""), when the code
    of one of them names one of ``DOC_READS``; else None. A function's docstring as it is now
    (``__doc__``) and those of the functions nested in its code; a class's own."""
    if all(DOC_READS.isdisjoint(n.names) for n in nodes):
        return None
    entries = []
    for n in nodes:
        obj = n.obj
        if isinstance(obj, type):
            docs = [vars(obj).get("__doc__")]
        else:
            docs = [_attr(obj, "__doc__")]
            code = _attr(obj, "__code__")
            todo = [k for k in code.co_consts if type(k) is types.CodeType] if isinstance(code, types.CodeType) else []
            while todo:  # in the order of the constants: the same in every process
                c = todo.pop(0)
                docs.append(c.co_consts[0] if _has_docstring_slot(c) and type(c.co_consts[0]) is str else None)
                todo[:0] = [k for k in c.co_consts if type(k) is types.CodeType]
        enc = bytearray(_e_str(labels.get(id(n), "")) + _u64(len(docs)))
        for doc in docs:
            if doc is None:
                enc += ValueTag.NONE
            elif isinstance(doc, str):
                enc += _e_str(doc)
            else:
                enc += ValueTag.UNENCODABLE + _e_str(type(doc).__qualname__)
        entries.append(bytes(enc))
    return _sha256(ValueTag.DOCSTRINGS + _u64(len(entries)) + b"".join(sorted(entries))).digest()


class ReadsEncoder(ValueEncoder):
    """The value encoder, with the two module rules of this module's doc.

    A project module imported with the AssetFile is encoded by ``ValueEncoder`` from the names
    the code reads; when it defines ``__getattr__``, or the code reads by a computed name, that
    encoding is wrapped (``ValueTag.MODULE_READS``) and followed by what those reads can reach.
    Every other module is encoded as before, so keys of code without these reads do not change.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[int, tuple[types.CodeType, frozenset[str]]] = {}  # by code: held_names

    def encode_module(self, m: types.ModuleType, out: _Out, node: _Node, where: str,
                      depth: int, read_as: str | None = None) -> str:
        name = _attr(m, "__name__")
        if not isinstance(name, str) or not self.is_project(name) or (
                self.closures is not None and not self._is_project_module(name)):
            # Not by names: a library by version, or read from its file already (whole).
            return super().encode_module(m, out, node, where, depth)
        ns = _attr(m, "__dict__")
        hook = ns.get("__getattr__") if isinstance(ns, dict) else None
        # A class's own value (``class C: mod = transforms``, read as ``self.mod.f`` in a
        # method) has no names of its own to go by: which attributes are read is the methods'
        # business, through ``self``. It counts whole, as a read by a computed name does.
        dynamic = not DYNAMIC_READS.isdisjoint(node.names) or isinstance(node.obj, type)
        if not dynamic:  # by names here: whole if the asset reaches a reader by a computed name
            if node.modules is None:
                node.modules = set()
            node.modules.add(name)
            if read_as is None or read_as in self.held_names(node):  # held as a value: whole
                if node.held is None:
                    node.held = set()
                node.held.add(name)
                read_as = None  # (and a submodule read through it: held too)
        if hook is None and not dynamic:
            return super().encode_module(m, out, node, where, depth, read_as)
        out.buf += ValueTag.MODULE_READS
        label = super().encode_module(m, out, node, where, depth, read_as)
        if hook is None:
            out.buf += ValueTag.FALSE
        else:
            out.buf += ValueTag.TRUE
            self.encode(hook, out, node, f"__getattr__ of module '{name}'", depth + 1)
        if not dynamic:
            out.buf += ValueTag.FALSE
        elif self.closures is None:  # no finder: its file cannot be read
            out.buf += ValueTag.TRUE
            self.mark_bad(out, node, where, f"module {name}: attributes read by a computed name")
        else:
            out.buf += ValueTag.TRUE
            self.encode_module_source(name, (), out, node, where)
        return label

    def encode_every_project_module(self, out: _Out, node: _Node, where: str) -> str:
        """Every project module, whole (``modules_read_whole``): what an import by a computed
        name can return. Those imported with the AssetFile (in ``sys.modules``), and every other
        one the project's folders hold (the finder's listing: a module nothing imported yet, as
        ``import_module(f"models.{name}")`` picks one). The same set in every process."""
        add_uses(node, (EVERY_MODULE,))
        if self.closures is None:  # no finder: no module can be read from its file
            self.mark_bad(out, node, where, "modules imported by a computed name")
            return _EVERY_MODULE_LABEL
        names = sorted({n for n in list(sys.modules) if n != "__assetfile__" and self._is_project_module(n)}
                       .union(self.closures.project_modules()))
        enc, phrases = self.modules_read_whole(names)
        out.buf += enc
        for phrase in phrases:
            node.bad.setdefault(where, set()).add(phrase)
        return _EVERY_MODULE_LABEL

    def held_names(self, node: _Node) -> frozenset[str]:
        """``held_names`` of the code of ``node``'s function, once per code object."""
        code = _attr(node.obj, "__code__")
        if not isinstance(code, types.CodeType):
            return frozenset()
        hit = self._held.get(id(code))
        if hit is None:
            hit = self._held[id(code)] = (code, held_names(code))  # (holds the code: its id stays)
        return hit[1]

    def encode_annotations(self, fn: types.FunctionType, out: _Out, node: _Node) -> None:
        """``fn``'s annotations, when it has any (else nothing: the encoding it had before):
        each name and value, in order, a value as any other (a string by its text, a library
        class by name and version, a project class by its code, ``list[int]`` by its text)."""
        found = function_annotations(fn)
        if found == {}:
            return
        out.buf += ValueTag.ANNOTATIONS
        if found is None:
            self.mark_bad(out, node, "annotations", "annotations that cannot be read")
            return
        out.buf += _u64(len(found))
        for key, value in found.items():
            where = "return annotation" if key == "return" else f"annotation of parameter '{key}'"
            self.encode(key, out, node, where, 1)
            self.encode(value, out, node, where, 1)

    def modules_counted_whole(self, nodes: list[_Node]) -> tuple[str, bytes, tuple[str, ...]] | None:
        """(part label, digest, warning phrases) of the project modules an asset counts whole by
        what it reaches (``nodes``: its function and every function and class it reaches);
        None when there are none.

        A module is a value like any other: one function can read it by name and hand it to
        another, and what that one reads from it, no name in the first says. Which module flows
        where is not known without running the code, so the rule is by reach. When any of the
        nodes names one of ``DYNAMIC_READS``, every project module they encode by names
        (``_Node.modules``) counts whole. Else every one a node holds as a value (``_Node.held``)
        does, with its submodules imported with the AssetFile (read through it). A module
        reached only from elsewhere (a library that returns one, a frame's globals) stays
        unseen. The part is added only then, so the keys of every other asset stay what they
        were (a module held and read by a computed name both: the first rule's part, as before).
        """
        label = _WHOLE_LABEL if any(reads_by_computed_name(n) for n in nodes) else _HELD_LABEL
        modules: set[str] = set()
        held: set[str] = set()
        for n in nodes:
            if n.modules and label == _WHOLE_LABEL:
                modules.update(n.modules)
            if n.held:
                held.update(n.held)
        if held:
            prefixes = tuple(f"{name}." for name in held)
            modules.update(held, [n for n in list(sys.modules) if n.startswith(prefixes) and self._is_project_module(n)])
        if not modules:
            return None
        if label == _HELD_LABEL:
            enc, phrases = self.modules_read_whole(sorted(modules), "held as a value")
        else:
            enc, phrases = self.modules_read_whole(sorted(modules))
        return label, _sha256(enc).digest(), phrases

    def modules_read_whole(self, names: list[str], why: str = "attributes read by a computed name"
                           ) -> tuple[bytes, tuple[str, ...]]:
        """The encoding of project modules ``names`` (sorted) by their files and the project
        modules those import, as ``encode_module_source``; and warning phrases (without the
        loader's finder no file can be read: each module gets one, saying ``why`` it counts)."""
        body = bytearray(ValueTag.MODULE_READS + _u64(len(names)))
        for name in names:
            body += _e_str(name)
        if self.closures is None:
            return bytes(body), tuple(f"module {name}: {why}" for name in names)
        digest, phrases, _ = self.closures.closure(tuple(names))  # (imported modules: their code is walked)
        return bytes(body + ValueTag.MODULE_SOURCE + digest), phrases
