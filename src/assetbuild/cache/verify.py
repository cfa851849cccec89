"""Verification of a cache directory: re-hash every blob, and drop the damaged ones with every
entry that needs them, so the next build rebuilds those assets.

The caller (session.py) holds the build lock. Traces and heads are deleted before (or with)
their inline blobs and before their files under cas/: never a trace without its bytes. A head
dropped so takes the only record of its path output with it, a file the project still holds
intact: it is noted as left behind (assetbuild.moved), so ``clean`` still deletes it, until the
rebuild writes it again and drops the note.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CacheCorrupt
from ..moved import head_files, note_left
from ..store.cachedir import delete_file
from ..store.records import name_of_head_key, project_of_head_key
from ..workspace import hash_file

if TYPE_CHECKING:
    from ..store import LmdbStore


@dataclass
class VerifyReport:
    """Every blob re-hashed: what was corrupt or missing, and what was dropped because of it."""

    blobs_checked: int = 0
    bytes_checked: int = 0
    corrupt: list[dict[str, Any]] = field(default_factory=list)  # {"digest", "where", "assets"}
    missing: list[dict[str, Any]] = field(default_factory=list)  # {"digest", "assets"}
    damaged_records: int = 0
    entries_dropped: int = 0
    heads_dropped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing or self.damaged_records)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.__dict__}


def _unreadable(digest: str) -> bytes:
    """The blob of a head verify drops: corrupt or missing (an asset's list of files is lost with it)."""
    raise CacheCorrupt(digest, "corrupt or missing")


def verify(store: LmdbStore) -> VerifyReport:
    """Re-hash every blob (inline and files); drop the bad ones and every trace and head that
    points at a bad or missing blob, so the next build rebuilds those assets. A read-only store
    (a cache this process may not write) is only reported on."""
    rep = VerifyReport()
    fix = not store.readonly
    bad: set[str] = set()
    good: set[str] = set()
    for dg, data in store.iter_inline_blobs():
        rep.blobs_checked += 1
        rep.bytes_checked += len(data)
        if hashlib.sha256(data).hexdigest() == dg:
            good.add(dg)
        else:
            bad.add(dg)
            rep.corrupt.append({"digest": dg, "where": "inline"})
            if fix:
                store.delete_inline_blob(dg)
    bad_files: list[Path] = []
    for file_digest, p, size in store.cas_files():
        if file_digest is None:
            continue
        rep.blobs_checked += 1
        rep.bytes_checked += size
        try:
            ok = hash_file(str(p)) == file_digest
        except OSError:
            ok = False
        if ok:
            good.add(file_digest)
        else:
            bad.add(file_digest)
            rep.corrupt.append({"digest": file_digest, "where": str(Path("cas") / p.parent.name / p.name)})
            bad_files.append(p)
    by_digest: dict[str, list[str]] = {}
    head_rows = list(store.iter_records("heads"))
    names = store.all_heads()
    name_of = {h.key: n for n, h in names}
    for n, h in names:
        by_digest.setdefault(h.output_digest, []).append(n)
    missing: dict[str, list[str]] = {}
    for raw, t in list(store.iter_records("traces")):
        if t is None:
            rep.damaged_records += 1
            if fix:
                store.delete_record("traces", raw)
            continue
        dg = t.output_digest
        if dg in good:
            continue
        if dg not in bad:
            missing.setdefault(dg, [])
            if raw.hex() in name_of:
                missing[dg].append(name_of[raw.hex()])
        if fix:
            store.delete_record("traces", raw)
            store.delete_used(raw.hex())
            rep.entries_dropped += 1
    for raw, h in head_rows:
        if h is None:
            rep.damaged_records += 1
            if fix:
                store.delete_record("heads", raw)
            continue
        if h.output_digest not in good:
            if h.output_digest not in bad:
                missing.setdefault(h.output_digest, [])
            if fix:  # its path output, intact in the project, stays clean's to delete: noted as left
                note_left(store.put_meta, head_files(name_of_head_key(raw), h, _unreadable, store.get_stat) or [],
                          prefix=project_of_head_key(raw))
                store.delete_record("heads", raw)
    if fix:
        rep.heads_dropped = sorted({n for n, h in names if h.output_digest not in good})
    for c in rep.corrupt:
        c["assets"] = sorted(by_digest.get(c["digest"], []))
    rep.missing = [{"digest": d, "assets": sorted(set(by_digest.get(d, [])) | set(a))}
                   for d, a in sorted(missing.items())]
    if fix:
        store.flush()  # traces and heads go before (or with) their inline blobs...
        for p in bad_files:  # ...and before their files
            delete_file(p)
    return rep

