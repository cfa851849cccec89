"""The source of a library installed editable, as a digest that enters keys beside its version.

A distribution installed editable (``pip install -e ../mylib``: PEP 610's ``direct_url.json``
says ``"dir_info": {"editable": true}``; or ``setup.py develop``, whose ``.egg-info`` lies in the
source tree) keeps its version while its code is edited all day. Its version alone would let
``assetbuild`` answer "cached" with the value of the old code. So such a library enters a key by
its version and a digest of its source: every ``.py`` file under the folders its import names
resolve to (the editable finder's mapping, or the folder a ``.pth`` put on ``sys.path``), by
path relative to that folder and content. Coarse on purpose: any edit of the library reruns
every asset whose code names it, never a stale one. A folder in a site directory is never
hashed (an installed copy does not change under its version).

The digest is kept by the files' stat signatures (``code/.editable.json`` beside the
distributions table), so a build that changes nothing lists the folders and reads no file; a
file modified too recently to trust its signature (git's racy rule) is read again next time.
The signatures the digest was made from are what the null build's snapshot records
(``SourceDigests.files``, ``dirs``): an edit, or a module added, sends the fast path to the full
one. A process that imported the library and builds again after an edit is refused
(``distributions.IMPORTED``), as after an upgrade.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DIGEST_FILE = ("code", ".editable.json")  # under the cache directory; `clean` removes it
_FORMAT = 1
_UNKEPT = {"files": None, "digest": None}
MARK = " (editable, source "  # the version a key names: "0.1 (editable, source 1a2b...)"


def is_editable(dist: Any) -> bool:
    """Whether an ``importlib.metadata`` distribution is installed editable: its dist-info's
    ``direct_url.json`` says so (PEP 610), or it is an ``.egg-info`` outside any site directory
    (``setup.py develop`` leaves it in the source tree, beside a ``.egg-link``). Not assetbuild
    itself, a tool rather than a library its users edit (a change in what it keys goes through
    ``KEY_SCHEMA``): a checkout of it installed editable keys as its release does."""
    where = str(getattr(dist, "_path", "") or "")
    if os.path.basename(where).partition("-")[0].partition(".")[0].lower() == "assetbuild":
        return False
    if where.endswith(".egg-info"):
        return not _in_site_directory(where)
    try:
        text = dist.read_text("direct_url.json")
    except OSError:
        return False
    if not text:
        return False
    try:
        info = json.loads(text).get("dir_info") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(info, dict) and info.get("editable") is True


def keyed(version: str, digest: str | None) -> str:
    """The version a key names for a library: its own, with its source's digest if editable."""
    return version if digest is None else f"{version}{MARK}{digest})"


def plain(version: str) -> str:
    """The distribution's own version of what ``keyed`` made."""
    return version.partition(MARK)[0]


def _in_site_directory(path: str) -> bool:
    parts = os.path.normpath(path).split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts


def locations(names: list[str]) -> list[str]:
    """The folders (or single module files) import names resolve to in a new import, outside
    site directories: asked of ``sys.meta_path``'s finders, as ``import`` does (not of
    ``sys.modules``, which holds what this process imported, maybe from elsewhere)."""
    out: list[str] = []
    for name in names:
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            try:
                spec = find(name, None)
            except Exception:  # a third-party finder that fails: as no answer
                spec = None
            if spec is not None:
                break
        if spec is None:
            continue
        found = list(spec.submodule_search_locations or ()) or (
            [spec.origin] if isinstance(spec.origin, str) and spec.origin.endswith(".py") else [])
        for f in found:
            f = os.path.abspath(f)
            if os.path.exists(f) and not _in_site_directory(f) and f not in out:
                out.append(f)
    return out


def _walk(roots: list[str]) -> tuple[list[list[Any]], list[str]]:
    """Each ``.py`` file under ``roots`` ([root index, relative path, signature]) in a stable
    order, and the folders listed. Only folders an import could enter (identifiers, no
    ``__pycache__``), so a library's data, build and VCS folders are not walked; a symlinked
    one is, as an import enters it (each real folder once: a link back up is no loop)."""
    from .. import snapshot

    files: list[list[Any]] = []
    dirs: list[str] = []
    for i, root in enumerate(roots):
        if not os.path.isdir(root):
            files.append([i, "", snapshot.sig_of(root), root])
            continue
        seen = {os.path.realpath(root)}
        for here, subdirs, names in os.walk(root, followlinks=True):
            dirs.append(here)
            subdirs[:] = sorted(d for d in subdirs if d.isidentifier() and _first_visit(os.path.join(here, d), seen))
            rel = os.path.relpath(here, root)
            for n in sorted(names):
                if n.endswith(".py"):
                    p = os.path.join(here, n)
                    files.append([i, n if rel == "." else os.path.join(rel, n), snapshot.sig_of(p), p])
    return files, dirs


def _first_visit(folder: str, seen: set[str]) -> bool:
    """Whether ``folder``'s real path is not in ``seen`` yet (and add it)."""
    real = os.path.realpath(folder)
    if real in seen:
        return False
    seen.add(real)
    return True


class SourceDigests:
    """The digests of editable libraries' sources, kept by their files' signatures (per process,
    and in the cache directory between runs), and what the last digests were made from."""

    def __init__(self) -> None:
        # "\0".join(roots) -> {"files": [[i, rel, sig]...], "digest": ...}; both None for a digest
        # not to be kept (a file too recent to trust), whose library ``before_load`` still looks at
        self._kept: dict[str, Any] = {}
        self._read_from: Path | None = None
        self._changed = False
        # each library's folders -> its source files with their signatures when its digest was
        # last made, and the folders listed for them (where a module added shows)
        self._made_from: dict[str, tuple[dict[str, Any], list[str]]] = {}
        # each library's folders -> its source files with their signatures as the last load
        # began (``before_load``): the code it imported, if the digest's walk finds them so
        self._before: dict[str, dict[str, Any]] = {}
        self.reimport = 0  # within ``reimporting``: an edited library's modules are imported again

    @property
    def files(self) -> dict[str, Any]:
        """Each source file a digest was last made from -> its signature then (before its read)."""
        return {f: sig for files, _ in self._made_from.values() for f, sig in files.items()}

    @property
    def dirs(self) -> set[str]:
        """The folders listed for them."""
        return {d for _, dirs in self._made_from.values() for d in dirs}

    @property
    def roots(self) -> set[str]:
        """The folders (or module files) of each library a digest was made of: what watch mode
        watches beside the project."""
        return {r for entry in self._made_from for r in entry.split("\0")}

    def before_load(self, cache_dir: Path | None) -> None:
        """Note the signatures of the source of each library a digest was made of (in this
        process, or kept in the cache directory) as a load of the project begins: a digest made
        later in the same build from other files was made of a library edited while it loaded,
        whose imported code may be either (``digest`` refuses it). Within ``reimporting``, the
        modules of a library edited since its last digest are dropped from ``sys.modules``
        first, so that the load imports the edited code. One walk for both: an edit after it
        is one the digest sees."""
        self._load(cache_dir)
        self._before = {}
        edited: list[str] = []
        for entry in {*self._kept, *self._made_from}:
            roots = entry.split("\0")
            now = self._before[entry] = {path: sig for _, _, sig, path in _walk(roots)[0]}
            made = self._made_from.get(entry)
            if made is not None and made[0] != now:
                edited.extend(roots)
        if edited and self.reimport:
            _forget_modules_under(edited)

    def digest(self, names: list[str], *, cache_dir: Path | None, persist: bool) -> str | None:
        """The digest of the source of the library whose import names are ``names``; None if
        none of them resolves to a folder outside site directories."""
        roots = locations(names)
        if not roots:
            return None
        self._load(cache_dir)
        walked, dirs = _walk(roots)
        sigs = [[i, rel, list(sig) if sig is not None else None] for i, rel, sig, _ in walked]
        entry = "\0".join(roots)
        kept = self._kept.get(entry)
        if kept is not None and kept["files"] == sigs:
            found: str = kept["digest"]
        else:
            h = hashlib.sha256(b"assetbuild editable source 1\0")
            for i, rel, _sig, path in walked:
                try:
                    data = Path(path).read_bytes()
                except OSError:  # (as it would fail to import)
                    h.update(f"{i}\0{rel}\0unreadable\0".encode())
                    continue
                h.update(f"{i}\0{rel}\0{len(data)}\0".encode() + data)
            found = h.hexdigest()[:32]
            settled = time.time_ns() - _racy_ns()
            if all(s is not None and max(s[1], s[2]) <= settled for _, _, s in sigs):
                self._kept[entry] = {"files": sigs, "digest": found}
                self._changed = True
            elif self._kept.get(entry) != _UNKEPT:
                self._kept[entry] = dict(_UNKEPT)
                self._changed = True
        now = {path: sig for _, _, sig, path in walked}
        before = self._before.pop(entry, None)
        if before is not None and before != now:  # edited while the project loaded
            self._made_from[entry] = ({}, dirs)  # (so a long-lived process imports it again: ``edited``)
            self._kept[entry] = dict(_UNKEPT)
            if persist:
                from ..errors import LibraryChanged

                changed = sorted(f for f in before.keys() | now.keys() if before.get(f) != now.get(f))
                raise LibraryChanged(f"library {names[0]}: {changed[0]} changed while the project loaded: the code "
                                     "imported may be the old or the new one; build again")
            return found
        self._made_from[entry] = (now, dirs)
        if persist and self._changed and cache_dir is not None:
            self._write(cache_dir)
        return found

    def _load(self, cache_dir: Path | None) -> None:
        """The digests kept in the cache directory, read once per process (per cache)."""
        if cache_dir is None or self._read_from == cache_dir:
            return
        self._read_from = cache_dir
        try:
            doc = json.loads(cache_dir.joinpath(*DIGEST_FILE).read_bytes())
            if doc["format"] == _FORMAT and isinstance(doc["entries"], dict):
                for k, v in doc["entries"].items():
                    if isinstance(v, dict) and (v == _UNKEPT or isinstance(v.get("files"), list) and isinstance(
                            v.get("digest"), str)):
                        self._kept.setdefault(k, v)
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def _write(self, cache_dir: Path) -> None:
        """Keep the digests for the next run; a cache that cannot take them only costs it reads."""
        from ..atomicfile import write_atomically

        path = cache_dir.joinpath(*DIGEST_FILE)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps({"format": _FORMAT, "entries": self._kept}, sort_keys=True).encode())
            self._changed = False
        except OSError:
            pass


def _racy_ns() -> int:
    from ..snapshot import RACY_NS

    return RACY_NS


@contextmanager
def reimporting(sources: SourceDigests) -> Iterator[None]:
    """Within it, a load imports again the modules of each editable library edited since this
    process last made its digest, as a fresh process would (``before_load``). For assetbuild's
    own long-lived loops (watch, ``run``), whose project code is loaded afresh each cycle and so
    holds no other reference to the old modules. Elsewhere (a notebook) such a build is refused
    (``distributions.IMPORTED``): the user's own objects may hold the old code."""
    sources.reimport += 1
    try:
        yield
    finally:
        sources.reimport -= 1


def _forget_modules_under(roots: list[str]) -> None:
    import importlib

    files = set(roots)
    below = tuple(os.path.join(r, "") for r in roots)
    for name, module in list(sys.modules.items()):
        f = getattr(module, "__file__", None)
        paths = [f] if isinstance(f, str) else [p for p in getattr(module, "__path__", None) or () if isinstance(p, str)]
        if any(os.path.abspath(p) in files or os.path.abspath(p).startswith(below) for p in paths):
            sys.modules.pop(name, None)
    importlib.invalidate_caches()
