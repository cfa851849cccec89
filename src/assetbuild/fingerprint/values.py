"""The encoding of what a function refers to: plain data, modules, named objects, project code.

``ValueEncoder`` appends the canonical encoding of a value to an ``_Out``. Plain data (the types
``bytecode`` constants have too, and containers) is encoded here, in a chain ordered by how often
each type occurs; code and data from outside the project by name and version; project functions
and classes as references to their nodes, through ``Refs``. Every other object goes to the
encoder its type has in ``objects``. The encoder owns its caches and its cycle guard; one lives
as long as its ``Fingerprinter``.

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from collections.abc import Callable
from typing import Any, Protocol, cast

from . import objects
from .encoding import ValueTag, _e_bytes, _e_complex, _e_float, _e_int, _e_str, _u64
from .imports import MISSING, PROJECT, ModuleClosures, ModuleFinder
from .nodes import EVERY_MODULE, _attr, _Enc, _Node, _Out, _qualname, add_uses

# Module-level singletons of the stdlib that appear in generated code (dataclass __init__ closures).
_SENTINELS: dict[int, tuple[object, str]] = {}
for _name in ("MISSING", "KW_ONLY", "_HAS_DEFAULT_FACTORY", "_FIELD", "_FIELD_CLASSVAR",
              "_FIELD_INITVAR"):
    _obj = getattr(dataclasses, _name, None)
    if _obj is not None:
        _SENTINELS[id(_obj)] = (_obj, "dataclasses." + _name)
del _name, _obj

_BY_TYPE = objects.BY_TYPE  # read for every object that is not plain data: a module global
_CONTAINER_DEPTH_LIMIT = 200
_PROJECT_MARKER = "<project>"
_ABSENT = object()


class Refs(Protocol):
    """What the encoder needs from the walk: a reference to a project function or class."""

    def ref(self, obj: types.FunctionType | type, out: _Out, node: _Node) -> _Node:
        """Append a reference to ``obj``'s node (created if new) and make it a child of ``node``."""
        ...


class ValueEncoder:
    """Encodes the values project code refers to; see the module doc.

    ``node`` is the project function or class whose part is being encoded: references to other
    project code become its children, and values that cannot be encoded faithfully are recorded
    in its ``bad`` under ``where`` (the global, default... the warning names). It keeps a strong
    reference to every object it memoizes, so ids are not reused while it lives.
    """

    def __init__(self, refs: Refs, *, is_project_module: Callable[[str], bool],
                 distribution_version: Callable[[str], str | None],
                 project_dir: str | None = None, modules: ModuleFinder | None = None) -> None:
        self._ref = refs.ref
        self._is_project_module = is_project_module
        # Modules not imported with the AssetFile: located and read from source (``imports``).
        self.closures = None if modules is None else ModuleClosures(modules, self.version_of)
        self._distribution_version = distribution_version
        self._project: dict[object, bool] = {}
        self._versions: dict[str, tuple[bytes, str | None]] = {}
        self._terminals: dict[int, tuple[object, bytes, str, str | None]] = {}
        self._data: dict[int, tuple[object, bytes, tuple[str, ...]]] = {}
        self._active: set[int] = set()  # containers, objects, modules being encoded: cycle guard
        self._project_module_encodings = 0
        prefix = None
        if project_dir is not None:
            prefix = os.path.normpath(os.fspath(project_dir))  # a pure string operation
            seps = os.sep + (os.altsep or "")
            stripped = prefix.rstrip(seps)
            prefix = stripped or None  # the filesystem root would match every path: no rewriting
        self._prefix = prefix
        self._seps = tuple(os.sep + (os.altsep or ""))

    def is_project(self, module: object) -> bool:
        """Whether ``module`` (a ``__module__`` value, of any type) names a project module: one
        imported with the AssetFile, or any other module whose file is in the project."""
        hit = self._project.get(module)
        if hit is None:
            hit = isinstance(module, str) and (bool(self._is_project_module(module)) or (
                self.closures is not None and self.closures.is_project(module)))
            self._project[module] = hit
        return hit

    def forget_active(self) -> None:
        """Reset the cycle guard after an encoding that raised."""
        self._active.clear()

    # ---------------------------------------------------------------- values

    def encode(self, v: Any, out: _Out, node: _Node, where: str, depth: int) -> _Node | str | None:
        """Append the encoding of ``v``; return the node or part label it refers to (else None)."""
        t = type(v)
        if t is str:
            prefix = self._prefix
            if prefix is not None and v.startswith(prefix):
                v = self.relative_path(v)
            out.buf += _e_str(v)
        elif t is int:
            out.buf += _e_int(v)
        elif v is None:
            out.buf += ValueTag.NONE
        elif t is bool:
            out.buf += ValueTag.TRUE if v else ValueTag.FALSE
        elif t is float:
            out.buf += _e_float(v)
        elif t is types.FunctionType:
            module = v.__module__
            if module is None or self.is_project(module):  # None: generated by exec (dataclasses)
                return self._ref(v, out, node)
            return self.encode_object(v, v.__module__, _qualname(v), out, node, where)
        elif t is types.ModuleType:
            return self.encode_module(v, out, node, where, depth)
        elif t is tuple or t is list or t is dict or t is set or t is frozenset:
            self._container(v, t, out, node, where, depth)
        elif t is bytes:
            out.buf += _e_bytes(v)
        elif t is complex:
            out.buf += _e_complex(v)
        elif v is Ellipsis:
            out.buf += ValueTag.ELLIPSIS
        elif v is NotImplemented:
            out.buf += ValueTag.NOT_IMPLEMENTED
        elif isinstance(v, type) and t is not types.GenericAlias:  # (3.10: list[int] passes for a type)
            if self.is_project(v.__module__):
                return self._ref(v, out, node)
            return self.encode_object(v, v.__module__, v.__qualname__, out, node, where)
        elif isinstance(v, types.ModuleType):
            return self.encode_module(v, out, node, where, depth)
        else:
            return self._other(v, t, out, node, where, depth)
        return None

    def relative_path(self, s: str) -> str:
        """``s`` with the project directory it starts with replaced by a marker."""
        prefix = self._prefix
        if prefix is not None and s.startswith(prefix):
            rest = s[len(prefix):]
            if not rest or rest[0] in self._seps:
                return _PROJECT_MARKER + rest
        return s

    def _container(self, v: Any, t: type, out: _Out, node: _Node, where: str, depth: int) -> None:
        if v is sys.modules:  # ``from sys import modules``: a name, never every module by value
            out.buf += ValueTag.SENTINEL + _e_str("sys.modules")  # (``reads``: imports by name)
            return
        if depth == 0 and len(v) >= 8:  # big constants shared by many assets: encode once
            hit = self._data.get(id(v))
            if hit is not None:
                out.buf += hit[1]
                for phrase in hit[2]:
                    node.bad.setdefault(where, set()).add(phrase)
                return
            sub = _Out()
            saved, node.bad = node.bad, {}
            modules_before = self._project_module_encodings
            try:
                self._container(v, t, sub, node, where, 1)
            finally:
                mine, node.bad = node.bad, saved
            phrases = tuple(sorted(mine.get(where, ())))
            for phrase in phrases:
                saved.setdefault(where, set()).add(phrase)
            enc = sub.finish()
            if isinstance(enc, bytes):
                # Not memoized when it holds a project module: that is encoded by node.names.
                if self._project_module_encodings == modules_before:
                    self._data[id(v)] = (v, enc, phrases)
                out.buf += enc
                return
            for seg in enc:  # it refers to nodes: not memoized
                if isinstance(seg, bytes):
                    out.buf += seg
                elif isinstance(seg, _Node):
                    out.node(seg)
                else:
                    out.sorted_group(seg.elems)
            return
        if depth > _CONTAINER_DEPTH_LIMIT:
            self.mark_bad(out, node, where, "data nested too deeply")
            return
        key = id(v)
        if key in self._active:
            out.buf += ValueTag.CYCLE  # a container that contains itself
            return
        if t is tuple or t is list:
            out.buf += (ValueTag.TUPLE if t is tuple else ValueTag.LIST) + _u64(len(v))
            self._active.add(key)
            try:
                for x in v:
                    self.encode(x, out, node, where, depth + 1)
            finally:
                self._active.discard(key)
            return
        self._active.add(key)
        try:
            if t is dict:  # in its order: a loop over it, join or list of it sees the order
                out.buf += ValueTag.DICT_IN_ORDER + _u64(len(v))
                self.encode_in_order(list(v.items()), out, node, where, depth)
            else:
                out.buf += (ValueTag.SET if t is set else ValueTag.FROZENSET) + _u64(len(v))
                self.encode_sorted(list(v), False, out, node, where, depth)
        finally:
            self._active.discard(key)

    def encode_in_order(self, pairs: list[tuple[Any, Any]], out: _Out, node: _Node, where: str, depth: int) -> None:
        """A mapping's (key, value) pairs in its own order (a dict's is its insertion order, the
        same in every process that builds it the same way)."""
        for k, x in pairs:
            self.encode(k, out, node, where, depth + 1)
            self.encode(x, out, node, where, depth + 1)

    def encode_sorted(self, elems: list[Any], pairs: bool, out: _Out, node: _Node, where: str,
                      depth: int) -> None:
        """The elements (or (key, value) pairs) in the order of their encodings: sets and
        namespaces have no order of their own that is stable across processes."""
        encs: list[_Enc] = []
        plain = True
        for e in elems:
            sub = _Out()
            if pairs:
                self.encode(e[0], sub, node, where, depth + 1)
                self.encode(e[1], sub, node, where, depth + 1)
            else:
                self.encode(e, sub, node, where, depth + 1)
            enc = sub.finish()
            if type(enc) is not bytes:
                plain = False
            encs.append(enc)
        if plain:
            flat = cast("list[bytes]", encs)  # plain: every encoding is bytes
            flat.sort()
            out.buf += b"".join(flat)
        else:
            out.sorted_group(encs)

    def mark_bad(self, out: _Out, node: _Node, where: str, phrase: str) -> None:
        """A value that cannot be encoded faithfully: its ``phrase`` goes into the encoding and
        into the warning about ``where``."""
        out.buf += ValueTag.UNENCODABLE + _e_str(phrase)
        node.bad.setdefault(where, set()).add(phrase)

    # ---------------------------------------------------------------- modules and named objects

    def version_of(self, module: str) -> tuple[bytes, str | None]:
        """The version tag of the distribution ``module`` comes from, and a warning phrase."""
        top = module.partition(".")[0]
        hit = self._versions.get(top)
        if hit is None:
            if top in sys.stdlib_module_names or top == "builtins":
                hit = (ValueTag.STDLIB, None)  # the Python version is in the key elsewhere
            else:
                version = self._distribution_version(top)
                if version is None:
                    hit = (ValueTag.UNVERSIONED, self._unversioned(top))
                else:
                    hit = (ValueTag.VERSION + _e_str(str(version)), None)
            self._versions[top] = hit
        return hit

    def _unversioned(self, top: str) -> str:
        """Why a module outside the project has no version: the phrase of its warning."""
        if self.closures is None:
            return f"module {top}: neither in the project nor an installed package"
        kind = self.closures.locate(top).kind
        if kind == MISSING:
            return f"module {top}: no such module"
        if kind == PROJECT:  # only a compiled object of a project module is named, not read
            return f"module {top}: compiled code in the project, named but not read"
        return f"module {top}: from a path outside the project, not an installed distribution"

    def encode_object(self, v: Any, module: Any, qualname: str, out: _Out, node: _Node,
                      where: str) -> str:
        """A function, class or other named object from outside the project: name + version."""
        hit = self._terminals.get(id(v))
        if hit is None:
            if isinstance(module, str):
                version, phrase = self.version_of(module)
            else:
                module, version, phrase = "?", ValueTag.UNVERSIONED, f"{qualname}: defined in no module"
            enc = ValueTag.OBJECT + _e_str(module) + _e_str(qualname) + version
            hit = self._terminals[id(v)] = (v, enc, f"object:{module}.{qualname}", phrase)
        out.buf += hit[1]
        if hit[3] is not None:
            node.bad.setdefault(where, set()).add(hit[3])
        return hit[2]

    def encode_module(self, m: types.ModuleType, out: _Out, node: _Node, where: str,
                      depth: int, read_as: str | None = None) -> str:
        """A module from outside the project by name and version; a project module by the names
        ``node`` reads (what the code may reach through it). ``read_as``: the name the code
        reads it by (a global, a closure variable, what an import binds, an attribute of a
        module read so); None when it is held in a value (``reads``). A submodule among the
        attributes is read by its attribute's name when the module is read by a name."""
        name = _attr(m, "__name__")
        if not isinstance(name, str):
            self.mark_bad(out, node, where, "a module without a name")
            return f"module:{name}"
        if not self.is_project(name):
            hit = self._terminals.get(id(m))
            if hit is None:
                version, phrase = self.version_of(name)
                enc = ValueTag.MODULE + _e_str(name) + version
                hit = self._terminals[id(m)] = (m, enc, f"module:{name}", phrase)
            out.buf += hit[1]
            if hit[3] is not None:
                node.bad.setdefault(where, set()).add(hit[3])
            return hit[2]
        if self.closures is not None and not self._is_project_module(name):
            # Imported after the AssetFile (by an asset that ran, say): what it holds now depends
            # on what ran before, its file does not.
            return self.encode_module_source(name, (), out, node, where)
        self._project_module_encodings += 1
        add_uses(node, (name,))
        out.buf += ValueTag.PROJECT_MODULE + _e_str(name)
        key = id(m)
        if key in self._active or depth > _CONTAINER_DEPTH_LIMIT:
            out.buf += ValueTag.CYCLE
            return f"module:{name}"
        ns = vars(m)
        attrs = self._attributes_read(m, name, ns, node.names)
        out.buf += _u64(len(attrs))
        self._active.add(key)
        try:
            for a, submodule in attrs:
                out.buf += _e_str(a)
                if submodule:
                    self.encode_module_source(submodule, (), out, node, f"module '{submodule}'")
                elif read_as is not None and isinstance(ns[a], types.ModuleType):
                    self.encode_module(ns[a], out, node, f"attribute '{a}' of module '{name}'", depth + 1, a)
                else:
                    self.encode(ns[a], out, node, f"attribute '{a}' of module '{name}'", depth + 1)
        finally:
            self._active.discard(key)
        return f"module:{name}"

    def _attributes_read(self, m: types.ModuleType, name: str, ns: dict[str, Any],
                         names: tuple[str, ...]) -> list[tuple[str, str]]:
        """(attribute, "") of each name the code reads that the module holds; (attribute,
        submodule) for a submodule of a package that was not imported with the AssetFile.

        Such a submodule is an attribute only once something imported it (an asset that ran
        before, in this process): it counts by its file whether it is there or not, so the
        digest is the same in every process and in every order.
        """
        closures = self.closures
        if closures is None or ns.get("__path__") is None:  # no finder, or not a package
            return [(a, "") for a in names if a in ns]
        attrs = []
        for a in names:
            v = ns.get(a, _ABSENT)
            sub = f"{name}.{a}"
            if (v is _ABSENT or (type(v) is types.ModuleType and _attr(v, "__name__") == sub)) \
                    and not self._is_project_module(sub):
                if closures.is_project(sub):
                    attrs.append((a, sub))
                    continue
            if v is not _ABSENT:
                attrs.append((a, ""))
        return attrs

    def encode_module_source(self, name: str, fromlist: tuple[str, ...], out: _Out, node: _Node,
                             where: str) -> str:
        """A project module by its file (and those importing it runs): see ``imports``."""
        closures = self.closures
        assert closures is not None  # only called with a finder
        roots = (name, *closures.submodules(name, fromlist))
        self._project_module_encodings += 1  # (a container holding it is not memoized: see uses)
        digest, phrases, every = closures.closure(roots)
        add_uses(node, (*roots, EVERY_MODULE) if every else roots)
        out.buf += ValueTag.MODULE_SOURCE + _e_str(name) + digest
        for phrase in phrases:
            node.bad.setdefault(where, set()).add(phrase)
        return f"module:{name}"

    def imported_by_names(self, name: str) -> bool:
        """Whether ``encode_import`` counts project module ``name`` by the names the code reads
        (it is imported, and not read from its file)."""
        return isinstance(sys.modules.get(name), types.ModuleType) and self.is_project(name) and (
            self.closures is None or bool(self._is_project_module(name)))

    def encode_import(self, name: str, fromlist: tuple[str, ...], out: _Out, node: _Node,
                      where: str) -> str:
        """A module an ``import`` statement inside a function names (``name`` absolute).

        Libraries by name and version, imported or not. A project module imported with the
        AssetFile by the names the code reads, like a global (read as ``name``); any other by
        its file, so the module is not imported to fingerprint it, and the digest does not
        depend on whether something imported it since.
        """
        module = sys.modules.get(name)
        if isinstance(module, types.ModuleType) and (
                self.closures is None or self._is_project_module(name) or not self.is_project(name)):
            return self.encode_module(module, out, node, where, 0, name)
        if self.closures is None:  # no finder: only what is imported can be seen
            version, phrase = self.version_of(name)
            out.buf += ValueTag.MODULE + _e_str(name) + version
            if self.is_project(name) or phrase is not None:
                self.mark_bad(out, node, where, phrase or "a project module not imported yet")
            return f"module:{name}"
        kind = self.closures.locate(name).kind
        if kind == PROJECT:
            return self.encode_module_source(name, fromlist, out, node, where)
        if kind == MISSING and name.partition(".")[0] not in sys.stdlib_module_names:
            out.buf += ValueTag.MODULE + _e_str(name) + ValueTag.NO_SUCH_MODULE
            node.bad.setdefault(where, set()).add(f"module {name}: no such module")
            return f"module:{name}"
        version, phrase = self.version_of(name)
        out.buf += ValueTag.MODULE + _e_str(name) + version
        if phrase is not None:
            self.mark_bad(out, node, where, phrase)
        return f"module:{name}"

    # ---------------------------------------------------------------- everything else

    def _other(self, v: Any, t: type, out: _Out, node: _Node, where: str,
               depth: int) -> str | None:
        """An object that is not plain data: by the encoder ``objects`` has for its type."""
        hit = self._terminals.get(id(v))
        if hit is not None and hit[0] is v:  # a named object or module seen before
            out.buf += hit[1]
            if hit[3] is not None:
                node.bad.setdefault(where, set()).add(hit[3])
            return hit[2]
        sentinel = _SENTINELS.get(id(v))
        if sentinel is not None and sentinel[0] is v:
            out.buf += ValueTag.SENTINEL + _e_str(sentinel[1])
            return None
        if t is object:  # a bare object(): a sentinel (_MISSING = object()), its identity all it has
            out.buf += ValueTag.SENTINEL + _e_str("object()")
            return None
        if depth > _CONTAINER_DEPTH_LIMIT:
            self.mark_bad(out, node, where, "data nested too deeply")
            return None
        key = id(v)
        if key in self._active:
            out.buf += ValueTag.CYCLE  # an object that refers back to itself (a parent pointer...)
            return None
        self._active.add(key)
        try:
            encoder = _BY_TYPE.get(t) or objects.encoder_for(t)
            return encoder(self, v, t, out, node, where, depth)
        finally:
            self._active.discard(key)
