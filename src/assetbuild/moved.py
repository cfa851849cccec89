"""Files an asset stops writing when its declared place changes: ``path="out/v1.txt"`` becomes
``"out/v2.txt"``, or ``outputs=`` lists other files. The new head replaces the only record that
named the old files, so without a note nothing would know them any more and they would stay.

When a build replaces a head by one whose declared place differs (``Head.path``: the path output,
or the ``outputs=`` key part), each file the old head wrote and the new one does not is noted in
the project's small records as ``left\\0PATH`` -> what assetbuild wrote there (asset, sha256,
stat signature, mode, size, and the declared directory it lay in), in the batch that moves the
head; so is the path output of a head ``cache verify`` drops (its stored bytes bad). A head that
writes PATH again drops the note, and so does a build or ``cache gc`` that finds PATH gone,
deleted by hand (session.orphans.forget_gone_left). ``clean`` and ``clean --orphans`` treat such
a file as an output of a removed asset: deleted only while it holds what was written
(assetbuild.cleaning, session.orphans), never where the AssetFile claims the path now.

Why a note per path rather than the old heads kept: a path holds one file, so one note says all
that clean needs; it needs no manifest blob that gc may collect; and a path written again is
forgotten by one delete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from .manifest import FILES_IO, decode_manifest, is_dir_output, output_path, owner_of
from .reports import Head

LEFT = b"left\0"  # left\0PATH -> a LeftFile's record (JSON)
_VERSION = 1
StatSig = tuple[int, int, int, int]


class LeftFile(NamedTuple):
    """A file assetbuild wrote for ``asset``: what ``clean`` needs to tell it is still unchanged."""

    path: str
    asset: str
    digest: str
    sig: StatSig | None = None
    mode: int | None = None
    size: int | None = None
    under: str | None = None  # the declared directory output it lay in (clean removes it emptied)


def is_stat_sig(x: object) -> bool:
    """A recorded stat signature: four ints (a list once it went through JSON)."""
    return isinstance(x, (tuple, list)) and len(x) == 4 and all(type(v) is int for v in x)


def head_files(asset: str, head: Head, read_blob: Callable[[str], bytes],
               get_stat: Callable[[str], tuple[StatSig, str] | None]) -> list[LeftFile] | None:
    """The files the build recorded in ``head`` wrote into the project (its path output, or the
    files its manifest lists under its declared outputs); None if that list cannot be read."""
    if isinstance(head.io, str) and head.io.startswith(FILES_IO + "@"):
        try:
            manifest = decode_manifest(read_blob(head.output_digest))
        except Exception:  # noqa: BLE001 - gone from the cache, corrupt, or not a manifest
            return None
        out = []
        for e in manifest.files:
            owner = owner_of(e.path, manifest.outputs)
            if owner is None:
                continue  # a list no build writes: nothing of it was written
            hit = get_stat(e.path)
            sig = hit[0] if hit is not None and hit[1] == e.digest else None
            out.append(LeftFile(e.path, asset, e.digest, sig, e.mode, e.size,
                                output_path(owner) if is_dir_output(owner) else None))
        return out
    if not isinstance(head.path, str):
        return []
    return [LeftFile(head.path, asset, head.output_digest, head.path_stat if is_stat_sig(head.path_stat) else None)]


def _name(path: str) -> bytes:
    return LEFT + path.encode("utf-8", "surrogateescape")


def _encode(f: LeftFile) -> bytes:
    doc = {"v": _VERSION, "asset": f.asset, "digest": f.digest, "sig": f.sig, "mode": f.mode, "size": f.size,
           "under": f.under}
    return json.dumps(doc, separators=(",", ":")).encode()


def _decode(path: str, raw: bytes) -> LeftFile | None:
    """The note of ``path``; None for one this version cannot read (it is then left alone)."""
    try:
        doc = json.loads(raw)
        if doc.get("v") != _VERSION or not isinstance(doc["asset"], str) or not isinstance(doc["digest"], str):
            return None
        sig = tuple(doc["sig"]) if is_stat_sig(doc["sig"]) else None
        ints = [v if type(v) is int else None for v in (doc["mode"], doc["size"])]
        under = doc["under"] if isinstance(doc["under"], str) else None
        return LeftFile(path, doc["asset"], doc["digest"], sig, ints[0], ints[1], under)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def left_files(store: Any) -> list[LeftFile]:
    """The files this project's store notes as left behind (committed notes), by path."""
    scan = getattr(store, "scan_meta", None)
    if scan is None:
        return []
    out = []
    for name, raw in scan(LEFT):
        f = _decode(bytes(name)[len(LEFT):].decode("utf-8", "surrogateescape"), raw)
        if f is not None:
            out.append(f)
    return out


def note_left(put_meta: Callable[..., None], files: list[LeftFile], **kw: Any) -> None:
    """Note ``files`` as written by assetbuild and named by no head now, with ``put_meta`` (a
    store's; ``kw``: its arguments for another project's records)."""
    for f in files:
        put_meta(_name(f.path), _encode(f), **kw)


def forget_left(store: Any, paths: list[str]) -> None:
    """Drop the notes of ``paths`` (in the store's batch)."""
    for p in paths:
        store.put_meta(_name(p), None)


class MovedOutputs:
    """Notes what the heads one store replaces leave behind (see the note at the top)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.noted = 0  # files noted so far (a build warns when it noted some)
        self._left: set[str] | None = None  # the paths with a note, read when first needed

    def replacing(self, asset: str, before: Head | None, after: Head) -> None:
        """``after`` replaces ``before`` as ``asset``'s head: note the files ``before`` wrote that
        ``after`` does not, and drop the notes of the files ``after`` writes. Nothing to do when
        the declared place is the same (every build but the one after such an edit)."""
        if before is not None and before.path == after.path:
            return
        put = getattr(self.store, "put_meta", None)
        if put is None:
            return
        if self._left is None:
            self._left = {f.path for f in left_files(self.store)}
        if before is None and not self._left:
            return  # a first build of it, and no note it could take back (a cold build: every asset)
        read, stat = self.store.read_blob, self.store.get_stat
        now = {f.path for f in head_files(asset, after, read, stat) or ()}
        for p in sorted(now & self._left):
            put(_name(p), None)
            self._left.discard(p)
        if before is None:
            return
        for f in head_files(asset, before, read, stat) or ():
            if f.path not in now:
                put(_name(f.path), _encode(f))
                self._left.add(f.path)
                self.noted += 1
