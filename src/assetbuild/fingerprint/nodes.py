"""The reference graph's vertices (project functions and classes) and encodings that refer to them.

``NodeTable`` holds the vertices of one ``Fingerprinter``. An encoding that refers to a project
node cannot be rendered to bytes until that node's digest is known; ``_Out`` collects bytes and
such references, ``_render`` resolves them. Also the naming of objects that labels and messages use.

Layer L0: stdlib only, no disk, no clock.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, TypeAlias

from .encoding import ValueTag

# --------------------------------------------------------------------------------------------------
# Dynamic part: the function graph.


class _Node:
    """A project function or class: recursed into, memoized, one vertex of the reference graph."""

    __slots__ = ("bad", "children", "digest", "held", "index", "items", "label", "low", "modules",
                 "names", "obj", "on_stack", "reached", "rendered", "uses")

    def __init__(self, obj: object) -> None:
        self.obj = obj  # strong reference: ids in the memo must not be reused
        self.label: str | None = None  # module.qualname, a function of obj alone (see _label)
        self.index = -1  # Tarjan's bookkeeping
        self.low = -1
        self.on_stack = False
        # (section, key, header, encoding, what it refers to); it refers to a _Node, a part label
        # or nothing (None).
        self.items: list[tuple[bytes, str, bytes, _Enc, _Node | str | None]] = []
        self.children: set[_Node] = set()
        self.bad: dict[str, set[str]] = {}  # where -> phrases ("an instance of x.Y")
        self.names: tuple[str, ...] = ()
        # Project modules imported with the AssetFile that its parts encode by the names it reads
        # (``reads``: they count whole when a reader by a computed name is reached too).
        self.modules: set[str] | None = None
        # Those of them it holds as a value (passes on, returns, keeps in a default, a container
        # or a variable): they count whole for every asset that reaches it (``reads``).
        self.held: set[str] | None = None
        # Every project module its parts encode, by names or from its file (EVERY_MODULE: all of
        # them): with the modules of the nodes it reaches, what its asset's code may run
        # (``Fingerprinter.modules_reached``).
        self.uses: set[str] | None = None
        self.reached: frozenset[str] | None = None  # set with its digest (``close_reach``)
        self.digest = b""  # set when its strongly connected component is finished
        self.rendered: list[bytes] | None = None  # items with final digests, once known

    def modules_reached(self) -> frozenset[str] | None:
        """Its modules and those of every node it reaches, with every module their parts encode
        (``uses``), once finished; None before, or when one of them imports a module by a
        computed name (any may be)."""
        reached = self.reached
        return None if reached is None or EVERY_MODULE in reached else reached


EVERY_MODULE = "*"  # in ``_Node.uses``: every project module (imported by a computed name)


def add_uses(node: _Node, names: tuple[str, ...]) -> None:
    if node.uses is None:
        node.uses = set()
    node.uses.update(names)


class NodeTable:
    """The nodes of one ``Fingerprinter`` by object id, and the worklist of the walk under way.

    The value encoder refers to project code through it (it is the encoder's ``Refs``): a function
    or class not seen before gets its node there, and the walk builds it later.
    """

    __slots__ = ("by_id", "created", "pending")

    def __init__(self) -> None:
        self.by_id: dict[int, _Node] = {}
        self.pending: list[_Node] = []  # created by the current walk, not yet built
        self.created: list[_Node] = []  # every node created by the current walk

    def add(self, obj: types.FunctionType | type) -> _Node:
        node = self.by_id[id(obj)] = _Node(obj)
        self.created.append(node)
        self.pending.append(node)
        return node

    def ref(self, obj: types.FunctionType | type, out: _Out, node: _Node) -> _Node:
        """Refer to the project function or class ``obj`` from ``node`` (built later if new)."""
        child = self.by_id.get(id(obj))
        if child is None:
            child = self.add(obj)
        node.children.add(child)
        out.node(child)
        return child

    def forget_unfinished(self) -> None:
        """Forget the nodes a walk that raised left without a digest, so a later walk starts clean."""
        for n in self.created:
            if not n.digest:
                self.by_id.pop(id(n.obj), None)
        self.pending.clear()


def close_reach(members: list[_Node]) -> None:
    """Set ``reached`` of a strongly connected component's members as it is finished: their
    modules, every module their parts encode (``uses``), and what the nodes they refer to reach
    (finished before them: components come out callees first). Once per node, so each asset's
    ``modules_reached`` is a lookup, however many helpers the assets share."""
    found: set[str] = set()
    inside = {id(m) for m in members}
    for m in members:
        module = _attr(m.obj, "__module__")
        if isinstance(module, str):
            found.add(module)
        if m.uses:
            found.update(m.uses)
        for child in m.children:
            if id(child) not in inside:  # (None cannot be: it is finished; else every module)
                found.update(child.reached if child.reached is not None else (EVERY_MODULE,))
    reached = frozenset(found)
    for m in members:
        m.reached = reached


class _Sorted:
    """A sorted group whose elements contain node references: sorted once the digests are known."""

    __slots__ = ("elems",)

    def __init__(self, elems: list[_Enc]) -> None:
        self.elems = elems


# An encoding is plain bytes or, when it refers to project nodes, a list of segments.
_Segment: TypeAlias = "bytes | _Node | _Sorted"
_Enc: TypeAlias = "bytes | list[_Segment]"


class _Out:
    __slots__ = ("buf", "segs")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.segs: list[_Segment] | None = None

    def _flush(self) -> list[_Segment]:
        segs = self.segs
        if segs is None:
            segs = self.segs = []
        if self.buf:
            segs.append(bytes(self.buf))
            self.buf = bytearray()
        return segs

    def node(self, node: _Node) -> None:
        self._flush().append(node)

    def sorted_group(self, elems: list[_Enc]) -> None:
        self._flush().append(_Sorted(elems))

    def finish(self) -> _Enc:
        if self.segs is None:
            return bytes(self.buf)
        return self._flush()


def _render(enc: _Enc, resolve: Callable[[_Node], bytes]) -> bytes:
    if isinstance(enc, bytes):
        return enc
    chunks = []
    for seg in enc:
        if isinstance(seg, bytes):
            chunks.append(seg)
        elif isinstance(seg, _Node):
            chunks.append(resolve(seg))
        else:
            chunks.append(b"".join(sorted([_render(e, resolve) for e in seg.elems])))
    return b"".join(chunks)


def _final(node: _Node) -> bytes:
    return ValueTag.NODE_DIGEST + node.digest


def _local(node: _Node, resolve: Callable[[_Node], bytes]) -> bytes:
    return b"".join([head + _render(enc, resolve) for _, _, head, enc, _ in node.items])


def _label(node: _Node) -> str:
    label = node.label
    if label is None:
        obj = node.obj
        label = node.label = f"{_attr(obj, '__module__') or '<generated>'}.{_qualname(obj)}"
    return label


def _qualname(obj: object) -> str:
    q = _attr(obj, "__qualname__")
    if not isinstance(q, str):
        q = _attr(obj, "__name__")
    return q if isinstance(q, str) else type(obj).__qualname__


def _attr(obj: object, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - odd proxies raise anything from __getattr__
        return None


def _type_name(obj: object) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"
