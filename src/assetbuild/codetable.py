"""Each asset's code fingerprint as the snapshot's graph keeps it, for the slices that follow.

A slice is taken only when the code is proved unchanged (``snapshot.changes``), so every
fingerprint it needs is the one the full build that wrote the graph made, before anything
ran. Taking it from here instead of walking the function again saves 25 us an asset it
decides: 10 ms when a root reaching 400 assets changes its bytes but not its value. Kept as
arrays over a table of distinct digests (32 bytes each) and labels, since most parts
(``object:builtins.int``, a shared helper) recur: loading the table of 10,000 assets is one
copy of its bytes, and only the assets a slice decides are made into strings. Making the
table costs the full build that records it 18 ms at 10,000 assets (which fingerprinting them
all took 230 ms).

An asset whose fingerprint is not a digest of hex parts (a ``code_version``) is not kept; it
costs nothing to make again.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

_NONE = 0xFFFFFFFF  # an asset without a kept fingerprint
_VERSIONED = 0xFFFFFFFE  # ... because it has a ``code_version`` (its code reaches nothing: ``reaching``)
KEYS = ("code_labels", "code_digests", "code", "code_parts", "code_parts_at", "code_roots")


def root_label(fn: Any) -> str | None:
    """The label an asset's own function would have as a helper (``helper:MODULE.QUALNAME``):
    its fingerprint's root is never one of its parts, so ``reaching`` finds an asset declared
    by a call (``asset(compute)``, ``asset(fns.compute)``, ``name=``) by this. None if it has
    no such name (a ``functools.partial``)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    return f"helper:{module}.{qualname}" if isinstance(module, str) and isinstance(qualname, str) else None


def roots_of(nodes: Mapping[str, Any]) -> dict[str, str | None]:
    """``root_label`` of each asset's function among a graph's ``nodes``."""
    return {name: root_label(getattr(d, "fn", None)) for name, d in nodes.items()}


def code_table(order: list[str], codes: Mapping[str, tuple[str, dict[str, str]]],
               roots: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The graph document's entries for ``codes`` (asset -> (digest, parts), a build's
    fingerprints), one per asset of ``order``; ``roots``: asset -> ``root_label`` of its
    function (an asset without one is not known to ``reaching``)."""
    from array import array

    labels: dict[str, int] = {}
    digests: dict[str, int] = {}
    raw: list[bytes] = []

    def digest_at(hexdigest: str) -> int:
        i = digests.get(hexdigest)
        if i is None:
            b = bytes.fromhex(hexdigest)  # (ValueError: not hex)
            if len(b) != 32 or b.hex() != hexdigest:  # (as ``codes_of`` gives it back: 64 lower-case digits)
                raise ValueError(hexdigest)
            i = digests[hexdigest] = len(raw)
            raw.append(b)
        return i

    code, parts, at = array("I"), array("I"), array("I", [0])
    for name in order:
        found = codes.get(name)
        try:
            if found is None:
                raise ValueError(name)
            mine = [x for label, hexdigest in found[1].items()
                    for x in (labels.setdefault(label, len(labels)), digest_at(hexdigest))]
            code.append(digest_at(found[0]))
            parts.extend(mine)
        except ValueError:  # none kept, or a code_version
            code.append(_VERSIONED if _versioned(found) else _NONE)
        at.append(len(parts))
    root = array("I", [_NONE if (r := (roots or {}).get(name)) is None else labels.setdefault(r, len(labels))
                       for name in order])
    return {"code_labels": list(labels), "code_digests": b"".join(raw), "code": code.tobytes(),
            "code_parts": parts.tobytes(), "code_parts_at": at.tobytes(), "code_roots": root.tobytes()}


def table_for(order: list[str], codes: Mapping[str, tuple[str, dict[str, str]]],
              previous: dict[str, Any] | None = None, roots: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The entries of a new graph document: ``previous``'s table (the last graph's, its code
    proved unchanged) if that graph lists the assets in ``order``; else ``code_table`` of
    ``codes`` and ``roots`` (a slice fingerprints again the assets they lack)."""
    if previous is not None and previous.get("order") == order and all(k in previous for k in KEYS):
        return {k: previous[k] for k in KEYS}
    return code_table(order, codes, roots)


def _reads_module(label: str, module: str, holds: Callable[[str], bool] = lambda name: False) -> bool:
    """Whether a part labelled ``label`` may read ``module``: it reads it, a package of it or a
    module in it by their names (``module:NAME``), project modules by a computed name (a
    ``modules:`` part: read, or imported, so), or a project module that may hold its code
    (``holds``: one read whole, by its file and what it imports, ``fingerprint.reads``; or one
    that imported a function of it under another name)."""
    kind, _, name = label.partition(":")
    if kind == "modules":
        return True
    return kind == "module" and (name == module or module.startswith(name + ".") or name.startswith(module + ".")
                                 or holds(name))


def importers(modules: Mapping[str, Any], module: str) -> Callable[[str], bool]:
    """Whether a module may hold code of the project module ``module``, from the modules' texts
    a graph keeps (``modules``: path -> [name, text], those the AssetFile imported): it is one
    of them whose imports, at any depth, name ``module`` (at module level or in a function: as
    ``fingerprint.imports`` digests one read whole), or reach a module of the project they do
    not hold; or it is such a module itself (one an asset imports in its function: its text is
    not kept). A library is none of these; a kept module whose text does not parse is."""
    kept: dict[str, tuple[str, bytes]] = {}
    for path, found in modules.items():
        if isinstance(found, list) and len(found) == 2 and isinstance(found[0], str) and isinstance(found[1], bytes):
            kept[found[0]] = (str(path), found[1])
    starts = {_start_of(path, name) for name, (path, _) in kept.items()}  # (where the project's are found)

    def in_project(name: str) -> bool:  # a module file or package folder of the project, not kept
        parts = name.split(".")
        return any(os.path.isfile(os.path.join(d, *parts) + ".py") or os.path.isdir(os.path.join(d, *parts))
                   for d in starts)

    parsed: dict[str, set[str] | None] = {}

    def imports_of(name: str) -> set[str] | None:  # (each module parsed once, whatever reads it)
        if name not in parsed:
            parsed[name] = _imports(name, *kept[name])
        return parsed[name]

    def holds(name: str) -> bool:
        if name not in kept:
            return in_project(name)
        todo, seen = [name], {name}
        while todo:
            found = imports_of(todo.pop())
            if found is None or module in found:
                return True
            for n in found - seen:
                seen.add(n)
                if n in kept:
                    todo.append(n)
                elif not module.startswith(n + ".") and in_project(n):  # (a package of it runs no code of it)
                    return True
        return False

    return holds


def _imports(name: str, path: str, text: bytes) -> set[str] | None:
    """The modules the import statements of module ``name`` (``text``, at ``path``) may load,
    anywhere in it, packages included; None if it does not parse."""
    import ast

    from .fingerprint.imports import absolute_name

    package = name if os.path.basename(path) == "__init__.py" else name.rpartition(".")[0]
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_with_packages(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = absolute_name(node.module or "", node.level, package)
            if base is not None:  # (``c`` of ``from a import c`` may be a submodule)
                found.update(_with_packages(base))
                found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def _with_packages(name: str) -> list[str]:
    """``a.b.c`` and its packages, ``a`` and ``a.b``: importing it runs their ``__init__`` first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _start_of(path: str, name: str) -> str:
    """The folder on ``sys.path`` that module ``name`` at ``path`` was found in."""
    up = name.count(".") + (os.path.basename(path) == "__init__.py")
    folder = os.path.dirname(path)
    for _ in range(up):
        folder = os.path.dirname(folder)
    return folder


def _versioned(found: Any) -> bool:
    """Whether a fingerprint is a ``code_version``'s ("v:" and the version)."""
    return isinstance(found, tuple) and isinstance(found[0], str) and found[0].startswith("v:")


def patched(graph: dict[str, Any], codes: Mapping[str, tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """The entries of ``graph``'s next document after a slice that fingerprinted ``codes`` again
    (those an edit of their code changed, ``codeedits``; the others it took from this table):
    the table with them in place of what it kept. Their digests and labels are added to the
    table's (one it does not hold whole is made again of ``codes``: the others are
    fingerprinted again by the slices that need them); decoding and making again the table of
    10,000 assets took 30-50 ms."""
    from array import array

    order = graph["order"]
    try:
        labels, raw = list(graph["code_labels"]), bytearray(graph["code_digests"])
        code, parts, at = (array("I", graph[k]) for k in ("code", "code_parts", "code_parts_at"))
    except (KeyError, TypeError, ValueError):
        return code_table(order, codes)
    if len(raw) % 32 or len(code) != len(order) or len(at) != len(order) + 1 or at[-1] != len(parts):
        return code_table(order, codes)
    label_at = {label: i for i, label in enumerate(labels)}
    where = {name: i for i, name in enumerate(order)}

    def digest_at(hexdigest: str) -> int:
        b = bytes.fromhex(hexdigest)  # (ValueError: not hex)
        if len(b) != 32 or b.hex() != hexdigest:
            raise ValueError(hexdigest)
        raw.extend(b)
        return len(raw) // 32 - 1

    mine: dict[int, list[int]] = {}
    for name, found in codes.items():
        i = where.get(name)
        if i is None:
            continue
        try:
            mine[i] = [x for label, hexdigest in found[1].items()
                       for x in (label_at.setdefault(label, len(label_at)), digest_at(hexdigest))]
            code[i] = digest_at(found[0])
        except ValueError:  # a code_version
            mine[i], code[i] = [], _VERSIONED if _versioned(found) else _NONE
    out, out_at, start = array("I"), array("I", at[:1]), 0
    for i in sorted(mine):  # the parts of the assets before i as they were, then i's
        shift = len(out) - at[start]
        out.extend(parts[at[start]:at[i]])
        out_at.extend([x + shift for x in at[start + 1:i + 1]])
        out.extend(mine[i])
        out_at.append(len(out))
        start = i + 1
    shift = len(out) - at[start]
    out.extend(parts[at[start]:])
    out_at.extend([x + shift for x in at[start + 1:]])
    roots = graph.get("code_roots")  # (a body edit changes no asset's own function)
    if not isinstance(roots, bytes) or len(roots) != 4 * len(order):
        roots = array("I", [_NONE] * len(order)).tobytes()
    return {"code_labels": list(label_at), "code_digests": bytes(raw), "code": code.tobytes(),
            "code_parts": out.tobytes(), "code_parts_at": out_at.tobytes(), "code_roots": roots}


def codes_of(graph: dict[str, Any], assets: Iterable[int]) -> dict[str, tuple[str, dict[str, str]]]:
    """The kept fingerprints of ``assets`` (indices into ``graph["order"]``), by name; none
    when the graph keeps no table, or not a whole one."""
    try:
        labels, digests = graph["code_labels"], graph["code_digests"]
        code, parts, at = (memoryview(graph[k]).cast("I") for k in ("code", "code_parts", "code_parts_at"))
    except (KeyError, TypeError, ValueError):
        return {}
    order = graph["order"]
    if not isinstance(labels, list) or not isinstance(digests, bytes) or len(digests) % 32 \
            or len(code) != len(order) or len(at) != len(order) + 1 or at[-1] != len(parts) or len(parts) % 2:
        return {}
    count = len(digests) // 32
    out: dict[str, tuple[str, dict[str, str]]] = {}
    try:
        for i in assets:
            c = code[i]
            if c >= _VERSIONED:  # (none kept)
                continue
            found: dict[str, str] = {}
            for j in range(at[i], at[i + 1], 2):
                d = parts[j + 1]
                if d >= count:
                    return {}
                found[labels[parts[j]]] = digests[32 * d:32 * d + 32].hex()
            if c >= count:
                return {}
            out[order[i]] = (digests[32 * c:32 * c + 32].hex(), found)
    except IndexError:  # (a label that is not in the table)
        return {}
    return out


def reaching(graph: dict[str, Any], function: str, module: str = "__assetfile__") -> set[str] | None:
    """The assets whose kept fingerprint covers ``function`` of ``module`` (the AssetFile's, by
    default), so that an edit of its body changes their keys too (``codeedits``): it is one of
    the helpers the asset reaches, at any depth (``helper:MODULE.NAME``, or one defined in it),
    or the asset's own function (``code_roots``: ``asset(compute)`` declares an asset of a plain
    function); or, in the AssetFile, a global it reads; or, in a project module, the asset may
    read the module (``_reads_module``: an import inside a function reads it so). None when the
    graph keeps no whole table, or an asset has no fingerprint or function kept and no
    ``code_version`` (what it reaches is not known)."""
    try:
        labels, digests = graph["code_labels"], graph["code_digests"]
        code, parts, at, roots = (memoryview(graph[k]).cast("I")
                                  for k in ("code", "code_parts", "code_parts_at", "code_roots"))
    except (KeyError, TypeError, ValueError):
        return None
    order = graph["order"]
    if not isinstance(labels, list) or not isinstance(digests, bytes) or len(code) != len(order) \
            or len(at) != len(order) + 1 or at[-1] != len(parts) or len(parts) % 2 or len(roots) != len(order):
        return None
    helper = f"helper:{module}.{function}"
    holds = importers(graph.get("modules") or {}, module) if module != "__assetfile__" else None
    hit = {i for i, label in enumerate(labels)
           if isinstance(label, str) and (label == helper or label.startswith((helper + ".", helper + "#"))
                                          or (label == f"global:{function}" if holds is None
                                              else _reads_module(label, module, holds)))}
    found: set[str] = set()
    for i, name in enumerate(order):
        if code[i] == _NONE or (roots[i] == _NONE and code[i] != _VERSIONED):
            return None
        if hit and (roots[i] in hit and code[i] != _VERSIONED
                    or any(parts[j] in hit for j in range(at[i], at[i + 1], 2))):
            found.add(name)
    return found
