"""The ``Fingerprinter``: the walk over project functions and classes, and the assembly of parts.

It builds one node per project function or class reached (a worklist), hashes strongly connected
components (Tarjan) so a helper's digest does not depend on which asset reached it first, and
assembles the parts, their digest and the warnings into a ``Fingerprint``. The code itself is
digested by ``bytecode``; values are encoded by a ``values.ValueEncoder`` it owns, which refers
to project code through the walk's ``nodes.NodeTable``.

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import builtins
import enum
import functools
import sys
import types
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from .bytecode import _IMPORT_NAME, _code_digest
from .classes import abc_registry, skipped_class_attrs
from .encoding import FINGERPRINT_VERSION, PartTag, ValueTag, _e_bytes, _e_int, _e_str, _sha256, _u64
from .imports import Import, ModuleFinder, absolute_name, import_statements
from .nodes import NodeTable, _final, _label, _local, _Node, _Out, _render, _type_name, close_reach
from .objects import encode_dispatch_registry
from .reads import (
    DOCSTRINGS_LABEL,
    GLOBALS_READS,
    IMPORT_READS,
    ReadsEncoder,
    docstrings_read,
    function_annotations,
    function_state,
    globals_read,
    imports_by_computed_name,
)


class Fingerprint(NamedTuple):
    """The code fingerprint of one asset function.

    Part labels, all direct references of the function except the reached helpers: ``code`` (its
    code, defaults, keyword defaults and annotations), ``closure:<name>``, ``attribute:<name>``
    (set on the function: ``reads.function_state``), ``global:<name>`` (a value), ``module:<name>``,
    ``object:<module>.<qualname>`` (non-project code, by name and version),
    ``helper:<module>.<qualname>`` (every project function or class reached, directly or not, with
    its full recursive digest; ``#2``... tells apart two helpers with one label),
    ``modules:read by a computed name`` or ``modules:held as values``
    (``reads.ReadsEncoder.modules_counted_whole``), ``docstrings:read through __doc__``
    (``reads.docstrings_read``), and ``names`` (which global name is bound to which part). The
    digest changes exactly when some part does.
    """

    digest: str  # hex sha256 of FINGERPRINT_VERSION and every part below
    parts: dict[str, str]  # label -> hex digest of that component, for explaining what changed
    warnings: tuple[str, ...]  # one human sentence each


_MISSING = object()

class Fingerprinter:
    """Fingerprints asset functions. Create one per load of the AssetFile.

    Helper results are memoized per object for the life of the instance. The instance therefore
    reads each helper, and the values it depends on, once. It also keeps strong references to every
    object it has memoized or added to ``code_digests``, so ids are not reused while it lives. A
    caller that keeps ``code_digests`` longer than this instance must keep the code objects alive
    too (holding the loaded module does that), and must drop the cache when it drops the module.
    """

    def __init__(self, *, is_project_module: Callable[[str], bool],
                 distribution_version: Callable[[str], str | None] = lambda top: None,
                 project_dir: str | None = None,
                 code_digests: dict[int, bytes] | None = None,
                 modules: ModuleFinder | None = None) -> None:
        self._code_digests: dict[int, bytes] = {} if code_digests is None else code_digests
        self._keep: list[Any] = []
        self._nodes = NodeTable()
        self._values = ReadsEncoder(self._nodes, is_project_module=is_project_module,
                                    distribution_version=distribution_version,
                                    project_dir=project_dir, modules=modules)
        self._encode = self._values.encode
        self._code_names: dict[int, tuple[types.CodeType, tuple[str, ...]]] = {}
        self._code_imports: dict[int, tuple[types.CodeType, tuple[Import, ...], tuple[str, ...]]] = {}
        self._label_bytes: dict[str, bytes] = {}  # part label -> its encoding
        self._part_digests: dict[bytes, bytes] = {}  # small part encodings -> their digests
        self._ref_digests: dict[str, str] = {}  # code names stored values use -> digests
        self._shortcuts: dict[int, types.FunctionType] = {}  # functions fingerprinted by a shortcut

    # ---------------------------------------------------------------- public

    def fingerprint_function(self, fn: types.FunctionType, asset: str) -> Fingerprint:
        """Fingerprint ``fn``, the function of asset ``asset``."""
        if not isinstance(fn, types.FunctionType):
            raise TypeError(f"asset {asset!r}: expected a function, got {_type_name(fn)}")
        # Neither shortcut encodes attributes set on the function or annotations: one with some walks.
        if not (fn.__defaults__ or fn.__kwdefaults__ or fn.__closure__ or function_annotations(fn) != {}):
            leaf = self._leaf(fn)
            if leaf is not None and not (fn.__dict__ and function_state(fn)):
                self._shortcuts[id(fn)] = fn  # (modules_reached: its own module, at most)
                return leaf
        node = self._nodes.by_id.get(id(fn))
        if node is None:
            if not (fn.__defaults__ or fn.__kwdefaults__ or fn.__closure__ or function_annotations(fn) != {}
                    or self._names_of(fn.__code__) or (fn.__dict__ and function_state(fn))):
                # Fast path, same result as the general one: only the code part.
                static = _code_digest(fn.__code__, self._code_digests, self._keep)
                self._shortcuts[id(fn)] = fn
                code = _sha256(_CODE_HEAD + static + _NO_DEFAULTS)
                digest = _sha256(_DIGEST_SEED + _CODE_LABEL + code.digest()).hexdigest()
                return Fingerprint(digest=digest, parts={"code": code.hexdigest()}, warnings=())
            try:
                node = self._walk(fn)
            except BaseException:
                self._rollback()
                raise
            finally:
                self._nodes.created.clear()
        return self._assemble(node, asset)

    def fingerprint_reference(self, ref: str) -> str:
        """The current digest of the project object a stored value names (``module:qualname``).

        What pickle bytes refer to by name (see ``refs``): a class, a function, a method, or any
        other module attribute; ``module:`` is a whole module (what it defines and holds). A name
        no longer resolved has a digest of its own, so the values using it change version too.
        A project module not imported with the AssetFile counts by its file, as an import inside
        a function does (``imports``): whether this process imported it since does not count.
        Not warned of: the code that made the value is fingerprinted too, and warns for itself.
        """
        hit = self._ref_digests.get(ref)
        if hit is not None:
            return hit
        module, _, qualname = ref.partition(":")
        obj: Any = sys.modules.get(module)
        closures = self._values.closures
        if closures is not None and not self._values._is_project_module(module) and closures.is_project(module):
            digest = "source:" + closures.closure((module,))[0].hex()
        elif obj is None:
            digest = "missing"
        elif not qualname:  # a whole module (a by-value function uses it): what it defines
            ns = {k: v for k, v in vars(obj).items() if not k.startswith("__") and not isinstance(v, types.ModuleType)}
            digest = self._value_digest(ns, f"module {module}")
        else:
            try:
                for part in qualname.split("."):
                    obj = vars(obj)[part] if isinstance(obj, types.ModuleType) else getattr(obj, part)
            except Exception:  # noqa: BLE001 - gone, or an attribute that raises: not resolvable
                digest = "missing"
            else:
                digest = self._value_digest(obj, f"{module}.{qualname}")
        self._ref_digests[ref] = digest
        return digest

    def modules_reached(self, fn: types.FunctionType) -> frozenset[str] | None:
        """The modules whose code or values this instance's fingerprint of ``fn`` covers: its own,
        those of the functions and classes it reaches, and every project module its parts encode.
        None: not known (not fingerprinted here; it imports a module by a computed name)."""
        if (node := self._nodes.by_id.get(id(fn))) is None:  # a shortcut's (fingerprint_function): builtins at most
            leaf = self._shortcuts.get(id(fn)) is fn or isinstance(fn, types.FunctionType) and not (
                fn.__defaults__ or fn.__kwdefaults__ or fn.__closure__ or (fn.__dict__ and function_state(fn))
                or function_annotations(fn) != {}
            ) and (not self._names_of(fn.__code__) or self._leaf(fn) is not None)  # (one fingerprinted elsewhere)
            return frozenset({fn.__module__}) if leaf and isinstance(fn.__module__, str) else None
        return node.modules_reached() if node.digest else None

    def _value_digest(self, value: Any, what: str) -> str:
        """The digest of ``value`` encoded like a global: project code recursed, data by value."""
        root = _Node(value)
        try:
            out = _Out()
            refers = self._encode(value, out, root, what, 0)
            root.items.append((PartTag.GLOBAL, "", PartTag.GLOBAL, out.finish(), refers if type(refers) is _Node else None))
            self._build_pending()
            self._components(root)
        except BaseException:
            self._rollback()
            raise
        finally:
            self._nodes.created.clear()
        return root.digest.hex()

    def _leaf(self, fn: types.FunctionType) -> Fingerprint | None:
        """Shortcut for an asset function that reads nothing but builtins (``str``, ``int``...).

        Generated and simple pipelines are mostly such functions, and the full walk costs several
        times more. Whether the shortcut applies depends only on the function itself (never on
        what was fingerprinted before), so its digest is as stable as the full walk's; a global
        that shadows a builtin makes the function take the full walk."""
        names = self._names_of(fn.__code__)
        if not names or not _BY_COMPUTED_NAME.isdisjoint(names):  # builtins that read more
            return None
        g = fn.__globals__
        b = _builtins_of(fn)
        for name in names:
            if name in g:
                return None
            v = b.get(name, _MISSING)
            if v is _MISSING or getattr(v, "__module__", None) != "builtins":
                return None
        static = _code_digest(fn.__code__, self._code_digests, self._keep)
        code = _sha256(_LEAF_HEAD + static + "\x00".join(names).encode())
        digest = _sha256(_DIGEST_SEED + _CODE_LABEL + code.digest()).hexdigest()
        return Fingerprint(digest=digest, parts={"code": code.hexdigest()}, warnings=())

    # ---------------------------------------------------------------- graph walk (Tarjan's SCC)

    def _walk(self, fn: types.FunctionType) -> _Node:
        """Build every node reachable from ``fn`` (a worklist, so deep call chains need no deep
        recursion), then finish their strongly connected components."""
        root = self._nodes.add(fn)
        self._build_pending()
        self._components(root)
        return root

    def _build_pending(self) -> None:
        """Build every node on the worklist, and those their building adds."""
        pending = self._nodes.pending
        while pending:
            node = pending.pop()
            obj = node.obj
            if isinstance(obj, type):
                self._build_class(node, obj)
            else:  # NodeTable holds project functions and classes only
                self._build_function(node, cast(types.FunctionType, obj))

    def _components(self, root: _Node) -> None:
        """Tarjan's algorithm, iterative, over the unfinished nodes reachable from ``root``.

        Components come out callees first, so every node outside a component is finished (has its
        digest) when the component is.
        """
        counter = 0
        stack: list[_Node] = []
        root.index = root.low = counter
        counter += 1
        root.on_stack = True
        stack.append(root)
        calls = [(root, iter(root.children))]
        while calls:
            v, children = calls[-1]
            for w in children:
                if w.digest:
                    continue  # finished: by an earlier walk, or in a component already done
                if w.index < 0:
                    w.index = w.low = counter
                    counter += 1
                    w.on_stack = True
                    stack.append(w)
                    calls.append((w, iter(w.children)))
                    break
                if w.on_stack:
                    v.low = min(v.low, w.index)
            else:
                calls.pop()
                if calls:
                    u = calls[-1][0]
                    u.low = min(u.low, v.low)
                if v.low == v.index:
                    members: list[_Node] = []
                    while True:
                        n = stack.pop()
                        n.on_stack = False
                        members.append(n)
                        if n is v:
                            break
                    self._finish_component(members)

    def _finish_component(self, members: list[_Node]) -> None:
        close_reach(members)
        if len(members) == 1 and members[0] not in members[0].children:
            node = members[0]
            node.rendered = [_render(enc, _final) for _, _, _, enc, _ in node.items]
            node.digest = _sha256(PartTag.NODE + b"".join(
                [item[2] + r for item, r in zip(node.items, node.rendered)])).digest()
            return
        # A cycle. Inside the component, references are by label; each member's digest is derived
        # from the whole component, so it does not depend on which member the walk entered first.
        inside = {id(m) for m in members}

        def resolve(n: _Node) -> bytes:
            if id(n) in inside:
                return ValueTag.NODE_LABEL + _e_str(_label(n))
            return ValueTag.NODE_DIGEST + n.digest

        locals_ = [(m, _sha256(_local(m, resolve)).digest()) for m in members]
        pairs = sorted([_e_str(_label(m)) + h for m, h in locals_])
        component = _sha256(PartTag.COMPONENT + _u64(len(pairs)) + b"".join(pairs)).digest()
        for m, h in locals_:
            m.digest = _sha256(PartTag.MEMBER + component + _e_str(_label(m)) + h).digest()

    def _rollback(self) -> None:
        """Forget the unfinished nodes of a walk that raised, so a later call starts clean."""
        self._nodes.forget_unfinished()
        self._values.forget_active()

    # ---------------------------------------------------------------- functions and classes

    def _names_of(self, code: types.CodeType) -> tuple[str, ...]:
        """Every name the code and its nested code read: globals, attributes, imported modules."""
        hit = self._code_names.get(id(code))
        if hit is not None:
            return hit[1]
        for k in code.co_consts:
            if type(k) is types.CodeType:
                break
        else:  # no nested code: co_names has no duplicates
            return tuple(sorted(code.co_names))
        names: set[str] = set()
        todo = [code]
        while todo:
            c = todo.pop()
            names.update(c.co_names)
            todo.extend([k for k in c.co_consts if type(k) is types.CodeType])
        result = tuple(sorted(names))
        self._code_names[id(code)] = (code, result)
        return result

    def _imports_in(self, code: types.CodeType) -> tuple[Import, ...]:
        """(module name, relative level, fromlist) of every ``import`` in the code and nested code."""
        return self._import_statements(code)[0]

    def _import_statements(self, code: types.CodeType) -> tuple[tuple[Import, ...], tuple[str, ...]]:
        """``imports.import_statements`` of the code, once per code object."""
        hit = self._code_imports.get(id(code))
        if hit is not None:
            return hit[1], hit[2]
        if _IMPORT_NAME not in code.co_code[::2] and not any(
                type(k) is types.CodeType for k in code.co_consts):
            return (), ()
        result, plain = import_statements(code)
        self._code_imports[id(code)] = (code, result, plain)
        return result, plain

    def _import_items(self, node: _Node, fn: types.FunctionType) -> None:
        """Modules imported inside the function are not globals: each is a part of its own.
        ``import a.b`` binds ``a``: when ``a.b`` counts by the names the code reads, ``a`` does too
        (``a.X``; ``a.b.Y`` through its attribute ``b``). Read from its file, its parents count."""
        imports: dict[str, set[str]] = {}  # absolute name -> the names imported from it
        package = fn.__globals__.get("__package__")
        statements, plain = self._import_statements(fn.__code__)
        for name, level, fromlist in statements:
            target = absolute_name(name, level, package if isinstance(package, str) else None)
            if target is not None:
                imports.setdefault(target, set()).update(fromlist)
        for name in plain:
            if self._values.imported_by_names(name):
                imports.setdefault(name.partition(".")[0], set())
        for name, names in imports.items():
            out = _Out()
            label = self._values.encode_import(name, tuple(sorted(names)), out, node,
                                               f"module '{name}' imported inside the function")
            node.items.append((PartTag.IMPORT, name, PartTag.IMPORT + _e_str(name), out.finish(), label))

    def _build_function(self, node: _Node, fn: types.FunctionType) -> None:
        code = fn.__code__
        items = node.items
        names = node.names = self._names_of(code)  # also: what it may reach in project modules
        out = _Out()
        out.buf += PartTag.FUNCTION + _code_digest(code, self._code_digests, self._keep)
        defaults = fn.__defaults__
        if defaults:
            params = code.co_varnames[:code.co_argcount]
            first = len(params) - len(defaults)
            out.buf += ValueTag.TUPLE + _u64(len(defaults))
            for i, value in enumerate(defaults):
                self._encode(value, out, node, f"default of parameter '{params[first + i]}'", 0)
        else:
            out.buf += ValueTag.NONE
        kwdefaults = fn.__kwdefaults__
        if kwdefaults:
            out.buf += ValueTag.DICT + _u64(len(kwdefaults))
            for name in sorted(kwdefaults):
                out.buf += _e_str(name)
                self._encode(kwdefaults[name], out, node, f"default of parameter '{name}'", 0)
        else:
            out.buf += ValueTag.NONE
        encode_dispatch_registry(self._values, fn, out, node,
                                 "an implementation of the single-dispatch function")
        self._values.encode_annotations(fn, out, node)
        items.append((PartTag.CODE, "", PartTag.CODE, out.finish(), None))
        closure = fn.__closure__
        if closure:
            for name, cell in zip(code.co_freevars, closure):
                out = _Out()
                try:
                    value = cell.cell_contents
                except ValueError:
                    out.buf += ValueTag.EMPTY_CELL
                else:
                    if isinstance(value, types.ModuleType):  # read as the variable, or held (``reads``)
                        self._values.encode_module(value, out, node, f"closure variable '{name}'", 0, name)
                    else:
                        self._encode(value, out, node, f"closure variable '{name}'", 0)
                items.append((PartTag.CLOSURE, name, PartTag.CLOSURE + _e_str(name), out.finish(), None))
        if fn.__dict__:
            for name, value in function_state(fn):
                out = _Out()
                self._encode(value, out, node, f"function attribute '{name}'", 0)
                items.append((PartTag.STATE, name, PartTag.STATE + _e_str(name), out.finish(), None))
        if names:
            g = fn.__globals__
            b = _builtins_of(fn)
            section = PartTag.GLOBAL
            for name in globals_read(fn, names):
                if name in g:
                    value = g[name]
                elif name in b:
                    value = b[name]
                else:
                    continue  # an attribute name, or a global not defined (yet)
                out = _Out()
                refers: _Node | str | None
                if isinstance(value, types.ModuleType):  # read as the global, or held (``reads``)
                    refers = self._values.encode_module(value, out, node, f"global '{name}'", 0, name)
                else:
                    refers = self._encode(value, out, node, f"global '{name}'", 0)
                items.append((section, name, section + _e_str(name), out.finish(), refers))
            self._import_items(node, fn)
            if imports_by_computed_name(fn, names, self._imports_in(fn.__code__)):
                out = _Out()
                label = self._values.encode_every_project_module(
                    out, node, "modules imported by a computed name")
                items.append((PartTag.IMPORT, "*", PartTag.IMPORT + _e_str("*"), out.finish(), label))

    def _build_class(self, node: _Node, cls: type) -> None:
        out = _Out()
        out.buf += PartTag.CLASS_HEADER + _e_str(cls.__qualname__)
        meta = type(cls)
        self._encode(None if meta is type else meta, out, node, "metaclass", 0)
        self._encode(cls.__bases__, out, node, "base classes", 0)
        node.items.append((PartTag.CLASS, "", PartTag.CLASS, out.finish(), None))
        ns = vars(cls)
        if isinstance(cls, enum.EnumMeta):
            members: list[tuple[str, enum.Enum]] = list(cls.__members__.items())  # aliases too
            out = _Out()
            out.buf += ValueTag.TUPLE + _u64(len(members))
            for name, member in members:
                out.buf += _e_str(name)
                self._encode(member._value_, out, node, f"value of member '{name}'", 0)
            node.items.append((PartTag.MEMBERS, "", PartTag.MEMBERS, out.finish(), None))
        skip = skipped_class_attrs(cls)
        for name in sorted(ns):
            if name in skip:
                continue
            out = _Out()
            self._enc_class_attr(ns[name], out, node, f"class attribute '{name}'")
            node.items.append((PartTag.ATTRIBUTE, name, PartTag.ATTRIBUTE + _e_str(name), out.finish(), None))
        registered = abc_registry(cls) if "_abc_impl" in ns else ()
        if registered:  # (``Record.register(dict)``: what isinstance answers)
            out = _Out()
            self._encode(registered, out, node, "classes registered with it", 0)
            node.items.append((PartTag.ATTRIBUTE, "_abc_impl", PartTag.ATTRIBUTE + _e_str("_abc_impl"), out.finish(), None))

    def _enc_class_attr(self, value: Any, out: _Out, node: _Node, where: str) -> None:
        t = type(value)
        if t is types.FunctionType:
            module = value.__module__
            if module is None or self._values.is_project(module) or module not in sys.modules:
                # Methods, also ones made by exec (dataclass __init__, NamedTuple __new__).
                self._nodes.ref(value, out, node)
                return
        elif t is staticmethod or t is classmethod:
            out.buf += ValueTag.STATICMETHOD if t is staticmethod else ValueTag.CLASSMETHOD
            self._enc_class_attr(value.__func__, out, node, where)
            return
        elif t is property:
            out.buf += ValueTag.PROPERTY
            for f in (value.fget, value.fset, value.fdel):
                self._enc_class_attr(f, out, node, where)
            return
        elif t is functools.singledispatchmethod:
            out.buf += ValueTag.SINGLEDISPATCHMETHOD
            self._enc_class_attr(value.dispatcher, out, node, where)
            return
        elif t is functools.cached_property:
            out.buf += ValueTag.CACHED_PROPERTY + _e_str(str(value.attrname))
            self._enc_class_attr(value.func, out, node, where)
            return
        elif t is types.MemberDescriptorType or t is types.GetSetDescriptorType:
            out.buf += ValueTag.SLOT_DESCRIPTOR + _e_str(value.__name__)  # slots and __dict__: derived from __slots__
            return
        self._encode(value, out, node, where, 0)

    # ---------------------------------------------------------------- assembly

    def _assemble(self, root: _Node, asset: str) -> Fingerprint:
        """The parts of ``root`` (its own components, every helper it reaches) and their digest."""
        raw: dict[str, bytes] = {}  # label -> 32-byte digest
        reached: list[_Node] = []  # includes the root when it reaches itself (recursion)
        labels: dict[int, str] = {}
        if root.children:
            seen: set[int] = set()
            todo = list(root.children)
            while todo:
                n = todo.pop()
                if id(n) not in seen:
                    seen.add(id(n))
                    reached.append(n)
                    todo.extend(n.children)
            # Two distinct helpers with one label (a functools.wraps wrapper and the function it
            # wraps) are told apart by digest order.
            by_label: dict[str, list[_Node]] = {}
            for n in reached:
                by_label.setdefault(_label(n), []).append(n)
            for label, nodes in by_label.items():
                if len(nodes) > 1:
                    nodes.sort(key=lambda n: n.digest)
                for i, n in enumerate(nodes):
                    part = f"helper:{label}" if i == 0 else f"helper:{label}#{i + 1}"
                    labels[id(n)] = part
                    raw[part] = n.digest
        nodes = [root, *[n for n in reached if n is not root]]
        whole = self._values.modules_counted_whole(nodes)
        if whole is not None:
            raw[whole[0]] = whole[1]
        docs = docstrings_read(nodes, labels)
        if docs is not None:
            raw[DOCSTRINGS_LABEL] = docs
        bindings = []
        label_bytes = self._label_bytes
        rendered = root.rendered or [_render(item[3], _final) for item in root.items]
        # The section tags, read once rather than per item.
        code_section, closure_section, state_section = PartTag.CODE, PartTag.CLOSURE, PartTag.STATE
        for (section, key, head, _, refers), body in zip(root.items, rendered):
            if section == code_section:
                label = "code"
            elif section == closure_section:
                label = f"closure:{key}"
            elif section == state_section:
                label = f"attribute:{key}"
            elif isinstance(refers, _Node):
                label = labels[id(refers)]
                bindings.append(head + (label_bytes.get(label) or self._encode_label(label)))
                continue
            else:
                label = f"global:{key}" if refers is None else refers
                bindings.append(head + (label_bytes.get(label) or self._encode_label(label)))
            encoded = section + body
            digest = self._part_digests.get(encoded)  # values and modules many assets share: hash once
            if digest is None:
                digest = _sha256(encoded).digest()
                if len(encoded) < 512:
                    self._part_digests[encoded] = digest
            while raw.get(label, digest) != digest:  # not in practice: labels name distinct things
                label += "#"
            raw[label] = digest
        if bindings:
            # Which name is bound to what: swapping two helpers between two names changes no other
            # part.
            raw["names"] = _sha256(b"".join(bindings)).digest()
        order = sorted(raw)
        labelled = [(label_bytes.get(label) or self._encode_label(label)) + raw[label]
                    for label in order]
        hexdigest = _sha256(_DIGEST_SEED + b"".join(labelled)).hexdigest()
        parts = {label: raw[label].hex() for label in order}
        warnings: set[str] = set()
        for n in nodes:
            if n.bad:
                helper = "" if n is root else f" of helper '{labels[id(n)][7:]}'"
                for where, phrases in n.bad.items():
                    warnings.add(
                        f"asset '{asset}': {where}{helper} ({'; '.join(sorted(phrases))}) cannot "
                        f"be fingerprinted; changes to it will not rebuild '{asset}' — pass "
                        f"code_version=... to @asset, or declare the data as a source")
        if whole is not None and whole[2]:
            warnings.add(f"asset '{asset}': modules {whole[0][8:]} ({'; '.join(whole[2])}) cannot be "
                         f"fingerprinted; changes to them will not rebuild '{asset}' — pass "
                         f"code_version=... to @asset")
        return Fingerprint(digest=hexdigest, parts=parts, warnings=tuple(sorted(warnings)))

    def _encode_label(self, label: str) -> bytes:
        enc = self._label_bytes[label] = _e_str(label)
        return enc


def _builtins_of(fn: Any) -> dict[str, Any]:
    """The builtins the function's code looks names up in.

    ``fn`` is a function, typed ``Any``: mypy's incremental cache drops ``FunctionType.__builtins__``
    (it skips every symbol of that name), so a rerun would report the attribute missing.
    """
    b = fn.__builtins__
    return b if isinstance(b, dict) else builtins.__dict__


_BY_COMPUTED_NAME = GLOBALS_READS | IMPORT_READS
_DIGEST_SEED = _e_bytes(PartTag.DOMAIN) + _e_int(FINGERPRINT_VERSION)
_CODE_LABEL = _e_str("code")
# The code part of a function without defaults, closure or globals, and of a leaf (see _leaf).
_CODE_HEAD = PartTag.CODE + PartTag.FUNCTION
_NO_DEFAULTS = ValueTag.NONE + ValueTag.NONE  # neither positional nor keyword
_LEAF_HEAD = PartTag.CODE + PartTag.LEAF
