"""The AssetFile compiled, whole or in a slice, and kept compiled in the code cache (``<cache>/code/``).

- Whole (``compile_cached``): cached by the file's digest, with the static digests of its code
  objects: compiling 10,000 functions costs about a second, unmarshalling them a few milliseconds.
  Also kept beside the AssetFile, in ``__pycache__/`` as Python keeps a module's bytecode
  (``beside_file``): compiled code is not build state, so a build with a new cache directory
  (``.assetbuild`` deleted, another ``ASSETBUILD_CACHE_DIR``) does not compile the file again.
  Not written when Python writes no bytecode (``PYTHONDONTWRITEBYTECODE``, ``-B``).
- A slice (``slice_compiled``): the definitions of the assets a build does not need left out
  (``leaving_out``), their lines blanked, so every kept line, and the code compiled from it, is
  what the whole file gives. Cached by the file, the check that located the definitions and the
  assets wanted; the newest ``SLICE_CACHE_KEEP`` are kept.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

from .errors import DefinitionError, syntax_excerpt

CODE_CACHE_VERSION = 3  # 3: the source's digest is kept (the file beside the AssetFile has one name); 2: the nested code objects too
SLICE_CACHE_PREFIX = "slice-"  # <cache>/code/slice-<key>-<tag>.bin: compiled slices (``slice_compiled``)
SLICE_CACHE_KEEP = 16  # the newest slices kept (each write prunes; ``cache gc`` leaves them)
TAG = f"{sys.implementation.cache_tag}-{sys.flags.optimize}"


def prune_slices(code_dir: Path) -> None:
    """Delete the compiled slices beyond the ``SLICE_CACHE_KEEP`` newest: each data file an edit
    touches has its own, and a project of 10,000 assets has thousands."""
    try:
        found = sorted(((e.stat().st_mtime_ns, e.path) for e in os.scandir(code_dir)
                        if e.name.startswith(SLICE_CACHE_PREFIX) and e.is_file(follow_symlinks=False)), reverse=True)
    except OSError:
        return
    for _mtime, path in found[SLICE_CACHE_KEEP:]:
        try:
            os.unlink(path)
        except OSError:
            pass


def code_objects(code: types.CodeType) -> list[types.CodeType]:
    """Every code object under ``code`` (itself excluded), depth first, in co_consts order."""
    out: list[types.CodeType] = []
    stack = [code]
    while stack:
        c = stack.pop()
        nested = [k for k in c.co_consts if isinstance(k, types.CodeType)]
        out.extend(nested)
        stack.extend(reversed(nested))
    return out


def beside_file(path: Path) -> Path:
    """Where the AssetFile at ``path`` is kept compiled beside it (one file, rewritten when it changes)."""
    from .fingerprint import FINGERPRINT_VERSION

    return path.parent / "__pycache__" / f"{path.name}.{TAG}-f{FINGERPRINT_VERSION}.assetbuild"


def kept_beside(path: Path) -> list[Path]:
    """Every file ``beside_file`` keeps for the AssetFile at ``path`` (any interpreter, any
    format): what ``clean`` deletes with the cache."""
    try:
        found = os.scandir(path.parent / "__pycache__")
    except OSError:
        return []
    with found:
        return sorted(Path(e.path) for e in found
                      if e.name.startswith(path.name + ".") and e.name.endswith(".assetbuild")
                      and e.is_file(follow_symlinks=False))


def compile_cached(path: Path, source: bytes, digest: str, cache_dir: Path | None
                   ) -> tuple[types.CodeType, dict[int, bytes], list[Any], list[tuple[Path, bytes]]]:
    """Compiled AssetFile plus static code digests, from the code cache or the file beside the
    AssetFile when possible; and what to keep where (``Loaded.save_code_cache``)."""
    from .fingerprint import code_digest

    cache_file = _cache_file(cache_dir, digest[:40])
    beside = beside_file(path)
    for where in (cache_file, beside):
        found = None if where is None else _read_code_cache(where, path, digest)
        if found is not None:
            code, digests, objs, raw = found
            return code, digests, objs, [(cache_file, raw)] if where is beside and cache_file is not None else []
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as e:
        import traceback  # (on failures only: a build that loads does not import it)

        raise DefinitionError(f"syntax error: {e.msg}", file=str(path), line=e.lineno, excerpt=syntax_excerpt(e),
                              detail="".join(traceback.format_exception_only(type(e), e))) from None
    except ValueError as e:  # e.g. null bytes
        raise DefinitionError(f"cannot compile: {e}", file=str(path)) from None
    objs = code_objects(code)
    by_id = {id(o): code_digest(o) for o in objs}
    payload = _payload(path, digest, code, by_id, objs)
    keep = [] if sys.dont_write_bytecode else [(beside, payload)]
    return code, by_id, objs, keep if cache_file is None else [(cache_file, payload), *keep]


def _cache_file(cache_dir: Path | None, stem: str) -> Path | None:
    """Where the code cache keeps the code named ``stem``: digests are only valid for the
    interpreter and the fingerprint format that computed them."""
    from .fingerprint import FINGERPRINT_VERSION

    return None if cache_dir is None else cache_dir / "code" / f"{stem}-{TAG}-f{FINGERPRINT_VERSION}.bin"


def _payload(path: Path, digest: str, code: types.CodeType, digests: dict[int, bytes], objs: list[Any]) -> bytes:
    """What the code cache keeps of the AssetFile at ``path`` whose source has ``digest``
    (``_read_code_cache`` reads it back)."""
    return marshal.dumps((CODE_CACHE_VERSION, str(path), digest, code, [digests[id(o)] for o in objs], objs))


def _read_code_cache(cache_file: Path, path: Path, digest: str
                     ) -> tuple[types.CodeType, dict[int, bytes], list[Any], bytes] | None:
    """(code, its code objects' digests by id, the objects, the bytes read) kept in
    ``cache_file`` for the AssetFile at ``path`` with source ``digest``; None if there is none,
    or not of this format, file and source."""
    try:
        raw = cache_file.read_bytes()
        version, filename, source_digest, code, digests, objs = marshal.loads(raw)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    # objs: code_objects(code), the very objects in code's constants (marshal writes a shared
    # object once and refers to it), without walking 10,000 functions' constants
    if version != CODE_CACHE_VERSION or filename != str(path) or source_digest != digest \
            or type(code) is not types.CodeType or type(objs) is not list \
            or type(digests) is not list or len(objs) != len(digests):
        return None
    return code, {id(o): d for o, d in zip(objs, digests)}, objs, raw


def slice_compiled(path: Path, source: bytes, digest: str, wanted: frozenset[str], asset_defs: tuple[Any, ...],
                   cache_dir: Path | None
                   ) -> tuple[types.CodeType, dict[int, bytes], list[Any], list[tuple[Path, bytes]]] | None:
    """``leaving_out`` of the definitions of the assets not ``wanted``, from the code cache when
    this slice was compiled before: the same AssetFile, its definitions found by the same check
    (``asset_defs``: its digest, the definitions, the check's digest), the same assets wanted,
    the same rules (a repeated edit of one data file loads one slice: 4-15 ms of compiling at
    10,000 assets). (code, digests, objects, what to keep in the cache) or None."""
    _, defs, checker = asset_defs
    cache_file = None
    if isinstance(checker, str):  # (a record without it: compiled, not kept)
        key = hashlib.sha256("\0".join([digest, checker, repr(sorted(_DYNAMIC)), *sorted(wanted)]).encode())
        cache_file = _cache_file(cache_dir, SLICE_CACHE_PREFIX + key.hexdigest()[:40])
    if cache_file is not None:
        found = _read_code_cache(cache_file, path, digest)
        if found is not None:
            return *found[:3], []
    part = leaving_out(path, source, [d for d in defs if d[0] not in wanted])
    if part is None:
        return None
    code, digests, objs = part
    return code, digests, objs, [] if cache_file is None else [(cache_file, _payload(path, digest, code, digests, objs))]


_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=]")  # PEP 263: another encoding than UTF-8 may be declared
# Names through which code reaches a module's globals without naming them: a left-out
# definition could be what it finds.
_DYNAMIC = frozenset({"globals", "vars", "locals", "eval", "exec", "__import__"})


def leaving_out(path: Path, source: bytes, left: list[Any]
                ) -> tuple[types.CodeType, dict[int, bytes], list[Any]] | None:
    """The AssetFile compiled without ``left`` ((name, first line, last line or 0) of
    definitions that each declare only the asset of their name, ``Facts.asset_defs``): their
    lines blank, so every other line, and the code compiled from it, is what the whole file
    gives. Then the code digests, as ``compile_cached``. None (load the whole file) when
    nothing is left out, the file is not plain UTF-8 with \\n or \\r\\n line ends, it does not
    compile so, or the code that stays names a definition left out, or could reach it by name
    (``_DYNAMIC``): it would find a NameError, and its key another function."""
    from .fingerprint import code_digest

    if not left or source.startswith(b"\xef\xbb\xbf") or (b"\r" in source and source.count(b"\r") != source.count(b"\r\n")):
        return None
    try:
        lines = source.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    if any(_COOKIE.match(line) for line in lines[:2]):
        return None
    n = len(lines)
    spans: list[list[int]] = []  # adjacent definitions as one span: a few, not one per asset
    for _name, first, last in left:  # in the file's order (``Facts.asset_defs``)
        last = last or n
        if not 0 < first <= last <= n or (spans and first <= spans[-1][1]) or lines[first - 1][:1] != "@":
            return None  # (each starts with its first decorator: spans of another file would not)
        if spans and first == spans[-1][1] + 1:
            spans[-1][1] = last
        else:
            spans.append([first, last])
    for first, last in spans:
        lines[first - 1:last] = [""] * (last - first + 1)
    try:
        code = compile("\n".join(lines), str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    objs = code_objects(code)
    gone = _DYNAMIC.union(d[0] for d in left)
    if any(not gone.isdisjoint(c.co_names) for c in (code, *objs)):
        return None
    return code, {id(o): code_digest(o) for o in objs}, objs
