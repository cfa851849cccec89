"""What an edit of the AssetFile (or of one project module) changed, when it changes no statement
as it runs at load: only the body of one function (an asset's, a plain helper's, or one method
of a class), or nothing but comments and layout.
Then every other statement runs as the snapshot's build found it, and a slice of the project
can take the edited asset, the assets whose code reaches the edited function, and what is
downstream of them (``slicegraph.slice_of``), where the full path compiles the whole file
again (10,000 assets: 0.4 s) and decides every asset.

The proof, from the source the snapshot's graph keeps (``source``) and the lines of its asset
definitions (``asset_defs``, ``declarative.Facts``), which split the file into those
definitions and the statements between them:

- the lines before the edited part and after it are the same, line for line;
- the edited part parses alone, old and new, to the same statements but for the body of one
  function: an asset's definition (``_same_header``), or a plain function (no decorator)
  among the statements between two (``_same_statements``), or in a project module (whose
  text the graph keeps too: ``module_edit_of``); with the same decorators,
  parameters (their defaults and annotations) and return annotation. So the new text opens
  nothing (a string, a bracket) that runs into the lines after it, and each statement runs as
  before at load, all but the body, which runs only when called (so never the body of a
  function Python calls by itself at load: a module's ``__getattr__``, ``_RUN_AT_LOAD``);
- the declarative check reads no function body, so its verdict on the old file holds for the
  new one (``session.snapshots`` carries it over rather than parsing 1 MB again);
- a code digest leaves out line numbers (``fingerprint.bytecode``): the functions after the
  edit, moved up or down, keep their fingerprints. Those that reach the edited function are
  read from the fingerprints the graph keeps (``codetable.reaching``); in a project module,
  also every asset that reads the module by its names (an import inside a function does).

Standard library only, as ``snapshot``: the entry point looks before the engine is imported
(and imports this module only once the AssetFile changed).
"""

from __future__ import annotations

import ast

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def edit_of(graph: dict[str, Any], kept: list[str], asset_defs_of: Any, new: bytes) -> dict[str, Any] | None:
    """The edit that made ``new`` of the AssetFile the snapshot's ``graph`` keeps (``kept``: the
    record's [digest, suffix] of it; ``asset_defs_of``: [the digest its definitions were found
    in, the check's]), when it changes no statement as it runs at load (``body_edit``):
    ``digest`` (of ``new``), ``from`` (the kept one), ``defs`` (the new file's ``asset_defs``),
    ``checker``, ``function`` (the one whose body changed; "" if none did) and ``assets`` (it,
    if an asset's, and those whose code reaches it); None when no such edit made it, or the
    graph does not keep what proves one."""
    import hashlib

    from .codetable import reaching

    old = graph.get("source")
    if not (isinstance(old, bytes) and isinstance(kept, list) and len(kept) == 2 and isinstance(asset_defs_of, list)
            and len(asset_defs_of) == 2 and asset_defs_of[0] == kept[0]):
        return None
    suffix = str(kept[1]).encode()
    if hashlib.sha256(old + suffix).hexdigest() != kept[0]:
        return None
    found = body_edit(old, new, graph.get("asset_defs") or [])
    if found is None:
        return None
    function, own, defs = found
    reached = reaching(graph, function) if function else set()
    if reached is None:
        return None
    return {"digest": hashlib.sha256(new + suffix).hexdigest(), "from": kept[0], "defs": defs,
            "checker": asset_defs_of[1], "function": function,
            "assets": sorted(reached | ({function} if own and function else set()))}


def module_edit_of(graph: dict[str, Any], path: str, kept: list[str], new: bytes) -> dict[str, Any] | None:
    """The edit that made ``new`` of the project module at ``path`` the snapshot's ``graph``
    keeps (``modules``: [its name, its text] by path; ``kept``: the record's [digest, ""] of it),
    when it changed only the body of one plain function (``_same_statements``, over the whole
    module): as ``edit_of``'s, with ``module`` (its name) and no ``defs``; None otherwise."""
    import hashlib

    from .codetable import reaching

    found = (graph.get("modules") or {}).get(path)
    if not (isinstance(found, list) and len(found) == 2 and isinstance(found[0], str) and isinstance(found[1], bytes)
            and isinstance(kept, list) and len(kept) == 2 and kept[1] == ""):
        return None
    module, old = found
    if hashlib.sha256(old).hexdigest() != kept[0]:
        return None
    a, b = _lines(old), _lines(new)
    function = None if a is None or b is None else _same_statements(a, b)
    if function is None:
        return None
    reached = reaching(graph, function, module) if function else set()
    if reached is None:
        return None
    return {"digest": hashlib.sha256(new).hexdigest(), "from": kept[0], "module": module, "function": function,
            "assets": sorted(reached)}


def body_edit(old: bytes, new: bytes, defs: list[Any]) -> tuple[str, bool, list[list[Any]]] | None:
    """What changed ``old`` into ``new``, if it may change no statement as it runs at load:
    (the function whose body changed, or "" if none did; whether it is the function of one of
    ``defs``, an asset's; ``defs`` as they lie in ``new``). ``defs``: ``declarative.Facts.asset_defs``
    of ``old``, (name, first line, last line or 0 for the end of the file) each. The lines
    that changed must lie in one of them, with the same header (``_same_header``), or among the
    statements between two of them, which must parse the same but for the body of one plain
    function (``_same_statements``: a helper, no decorator). None otherwise. A file with a
    byte-order mark, a ``coding`` cookie or a \\r is not looked at (``compiled.leaving_out``
    does not take it)."""
    a, b = _lines(old), _lines(new)
    if a is None or b is None or old == new:
        return None
    n, m = len(a), len(b)
    same = _same_bytes(old, new, 1)  # (byte by byte: a loop over 25,000 lines took 6-13 ms)
    p = old.count(b"\n", 0, same)  # the lines before p are the same
    tail = _same_bytes(old, new, -1, min(len(old), len(new)) - same)
    s = min(_whole_lines(old, tail), _whole_lines(new, tail), min(n, m) - p)  # and the last s
    end, delta = n - s, m - n  # the old lines [p, end) became the new [p, end + delta)
    try:
        after = 0  # where the statements after the last definition start
        for i, (name, first, last) in enumerate([*defs, ["", n + 1, 0]]):
            if after <= p and end <= first - 1:  # among the statements before this definition
                found = _same_statements(a[after:first - 1], b[after:first - 1 + delta])
                return None if found is None else (found, False, _moved(defs, i, delta))
            stop = last or n  # the definition's lines: [first - 1, stop)
            if first - 1 <= p and end <= stop:
                found = _same_header(a[first - 1:stop], b[first - 1:stop + delta], name)
                return None if found is None else (found, True, _moved(defs, i, delta, inside=True))
            after = stop
    except (TypeError, ValueError):  # (not the definitions ``declarative`` gives)
        return None
    return None


def _moved(defs: list[Any], i: int, delta: int, *, inside: bool = False) -> list[Any]:
    """``defs`` after ``delta`` lines were added inside the ``i``-th (``inside``) or before it."""
    moved = [[x[0], x[1] + delta, x[2] and x[2] + delta] for x in defs[i + inside:]] if delta else defs[i + inside:]
    if inside:
        name, first, last = defs[i]
        moved.insert(0, [name, first, last and last + delta])
    return [*defs[:i], *moved]


def _same_bytes(a: bytes, b: bytes, way: int, most: int | None = None) -> int:
    """How many bytes ``a`` and ``b`` have in common at their start (``way`` 1) or end (-1), at
    most ``most``: compared a block at a time, then halving the block that differs."""
    most = min(len(a), len(b), most if most is not None else len(a))

    def equal(i: int, j: int) -> bool:  # bytes [i, j) from the start, or from the end
        return a[i:j] == b[i:j] if way > 0 else a[len(a) - j:len(a) - i] == b[len(b) - j:len(b) - i]

    done, block = 0, 1 << 16
    while done < most and equal(done, min(done + block, most)):
        done = min(done + block, most)
    while block > 1 and done < most:
        block //= 2
        if equal(done, min(done + block, most)):
            done = min(done + block, most)
    return done


def _whole_lines(source: bytes, tail: int) -> int:
    """How many lines of ``source`` lie whole in its last ``tail`` bytes: one after each line
    end there, and the line they start with if it starts one."""
    start = len(source) - tail
    return source.count(b"\n", start) + (tail > 0 and (start == 0 or source[start - 1] == 10))


def _lines(source: bytes) -> list[bytes] | None:
    """``source`` split into lines, if it has no byte-order mark, ``coding`` cookie or \\r (a
    line end ``leaving_out`` does not count as the compiler does). Each definition compared is
    decoded as UTF-8 (``_same_header``): the rest is the same bytes as before."""
    from .outline import declares_encoding

    if source.startswith(b"\xef\xbb\xbf") or b"\r" in source or declares_encoding(source):
        return None
    return source.split(b"\n")


def _same_header(old: list[bytes], new: list[bytes], name: str) -> str | None:
    """``name`` if ``old`` and ``new`` each parse alone as one ``def`` of ``name`` (no
    ``async``) starting on their first line, with the same decorators, parameters and return
    annotation (compared as trees: a header written over other lines, or with other comments,
    is the same header), and another body; "" if the same tree; None otherwise."""
    trees = [_parsed(lines) for lines in (old, new)]
    heads = []
    for tree in trees:
        if tree is None or len(tree.body) != 1 or type(tree.body[0]) is not ast.FunctionDef \
                or tree.body[0].name != name or name in _RUN_AT_LOAD:
            return None
        fn = tree.body[0]
        if min([fn.lineno, *(d.lineno for d in fn.decorator_list)]) != 1:  # (it starts where it started)
            return None
        heads.append(_header(fn))
    if heads[0] != heads[1]:
        return None
    return "" if ast.dump(trees[0]) == ast.dump(trees[1]) else name  # type: ignore[arg-type]


# Functions Python calls by itself as a module or class loads: a module's ``__getattr__`` (``from
# consts import X`` calls it) and ``__dir__``; a class's hooks, run as a subclass is made, or as a
# static expression subscripts it. Their bodies run at load, so an edit of one is no body-only edit.
_RUN_AT_LOAD = frozenset({"__getattr__", "__dir__", "__init_subclass__", "__set_name__", "__class_getitem__",
                          "__mro_entries__", "__prepare__"})


def _same_statements(old: list[bytes], new: list[bytes]) -> str | None:
    """The name of the one plain function (no decorator), or of the class of the one method,
    whose body is all that differs between the statements ``old`` and ``new`` parse to ("" if
    none differs), its header the same; None if anything else differs, or either does not
    parse."""
    trees = [_parsed(lines) for lines in (old, new)]
    if trees[0] is None or trees[1] is None or len(trees[0].body) != len(trees[1].body):
        return None
    changed = ""
    for x, y in zip(trees[0].body, trees[1].body):
        if ast.dump(x) == ast.dump(y):
            continue
        if changed or type(x) is not type(y) or type(x) not in (ast.FunctionDef, ast.ClassDef):
            return None
        assert isinstance(x, (ast.FunctionDef, ast.ClassDef)) and isinstance(y, (ast.FunctionDef, ast.ClassDef))
        if x.name != y.name or x.decorator_list or y.decorator_list:
            return None
        if isinstance(x, ast.FunctionDef) and isinstance(y, ast.FunctionDef) and _header(x) == _header(y) \
                and x.name not in _RUN_AT_LOAD:
            changed = x.name
        elif isinstance(x, ast.ClassDef) and isinstance(y, ast.ClassDef) and _one_method(x, y):
            changed = x.name  # (what reaches the class reaches its methods: ``codetable.reaching``)
        else:
            return None
    return changed


def _one_method(x: ast.ClassDef, y: ast.ClassDef) -> bool:
    """Whether the classes ``x`` and ``y`` differ only in the body of one method, its header
    the same (their bases and keywords, and every other statement, as they were)."""
    import copy

    outer = [copy.copy(c) for c in (x, y)]
    for c in outer:
        c.body = []
    if ast.dump(outer[0]) != ast.dump(outer[1]) or len(x.body) != len(y.body):
        return False
    differ = [(a, b) for a, b in zip(x.body, y.body) if ast.dump(a) != ast.dump(b)]
    if len(differ) != 1:
        return False
    a, b = differ[0]
    return isinstance(a, ast.FunctionDef) and isinstance(b, ast.FunctionDef) and type(a) is type(b) \
        and a.name == b.name and a.name not in _RUN_AT_LOAD and _header(a) == _header(b)


def _parsed(lines: list[bytes]) -> ast.Module | None:
    try:
        return ast.parse(b"\n".join(lines).decode("utf-8"))
    except (SyntaxError, ValueError):  # (ValueError: a NUL byte, or not UTF-8)
        return None


def _header(fn: ast.FunctionDef) -> list[str]:
    """What a ``def`` runs at load, but its name: decorators, parameters with their defaults
    and annotations, the return annotation."""
    return [ast.dump(x) for x in (*fn.decorator_list, fn.args, *getattr(fn, "type_params", ()))] \
        + [ast.dump(fn.returns) if fn.returns is not None else "", repr(fn.type_comment)]
