"""Maintenance of a cache directory: stats, garbage collection, verification, export and import.

Every function takes an open ``LmdbStore``; the ones that write expect the caller (session.py)
to hold the build lock, so no build writes at the same time. Orders of writes keep the store's
rule "never a trace without its bytes": traces are deleted in the transaction that deletes
their inline blobs and before their files under cas/ are unlinked; imported blobs are durable
before the transaction that adds their traces commits.

An export archive is a tar file (gzip-compressed if its name ends in .gz or .tgz) holding
``blobs/<sha256>`` members and, last, ``MANIFEST.json``::

    {"format": "assetbuild-cache-export", "version": 1, "entries": [
        {"asset": name, "key": hex, "trace": {...Trace fields}, "head": {...Head fields}}]}

Nothing in it names a path of the machine that wrote it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomicfile import atomic_writer
from .errors import StoreError
from .reports import Head, Trace
from .workspace import hash_file

if TYPE_CHECKING:
    import tarfile

EXPORT_FORMAT = "assetbuild-cache-export"
EXPORT_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
MAX_MANIFEST = 64 << 20  # an archive's MANIFEST.json: ~100,000 entries; it is parsed in memory
MAX_TAR_HEADER = 1 << 20  # pax and GNU long-name headers, which tarfile reads whole
IMPORT_CHUNK = 1 << 20  # import copies and hashes members in chunks of this size
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """'500M', '2G', '1.5GiB', '123' (bytes) -> bytes; K/M/G/T are powers of 1024."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise ValueError(f"{text!r} is not a size (examples: 500M, 2G, 1048576)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


# --- stats ------------------------------------------------------------------------------------

def stats(store: Any) -> dict[str, Any]:
    """Counts and sizes of a cache directory, and the last build's hit rate. Writes nothing."""
    heads = store.all_heads()  # every project's that shares this cache directory
    traces = dict(store.iter_traces())
    inline = store.inline_blob_sizes()
    files = [(dg, size) for dg, _p, size in store.cas_files() if dg is not None]
    temps = [(p, size) for dg, p, size in store.cas_files() if dg is None]
    head_keys = {h.key for _n, h in heads}
    return {
        "cache_dir": str(store.root),
        "assets": len(heads),
        "entries": len(traces),
        "latest_entries": len(head_keys & set(traces)),
        "older_entries": len(set(traces) - head_keys),
        "blobs": len(inline) + len(files),
        "inline_blobs": len(inline),
        "inline_bytes": sum(inline.values()),
        "file_blobs": len(files),
        "file_bytes": sum(s for _, s in files),
        "output_bytes": sum(inline.values()) + sum(s for _, s in files),
        "index_bytes": store.file_size(),
        "temp_files": len(temps),
        "temp_bytes": sum(s for _, s in temps),
        "leftover_dirs": [p.name for p in store.leftovers()],
        "disk_bytes": store.file_size() + sum(s for _, s in files) + sum(s for _, s in temps),
        "last_build": store.get_build_summary(),
    }


def build_summary(statuses: Iterable[str]) -> dict[str, Any]:
    """What ``stats`` reports of the last build: counts per status and the hit rate
    (reused / (reused + run); None when nothing was decided)."""
    counts = {s: 0 for s in ("built", "cached", "restored", "failed", "skipped")}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    reused = counts["cached"] + counts["restored"]
    decided = reused + counts["built"] + counts["failed"]
    return {"assets": sum(counts.values()), **counts,
            "hit_rate": round(reused / decided, 4) if decided else None}


# --- gc ---------------------------------------------------------------------------------------

@dataclass
class GcReport:
    """What a gc dropped (or would drop, with ``dry_run``) and what it reclaimed."""

    dry_run: bool
    entries_before: int = 0
    entries_dropped: int = 0
    dangling_dropped: int = 0
    blobs_dropped: int = 0
    output_bytes_before: int = 0
    output_bytes_freed: int = 0
    temp_files: int = 0
    temp_bytes: int = 0
    code_files: int = 0  # compiled AssetFiles of older versions (<cache>/code/)
    code_bytes: int = 0
    leftover_dirs: list[str] = field(default_factory=list)
    index_bytes_before: int = 0
    index_bytes_after: int = 0
    disk_bytes_before: int = 0
    disk_bytes_after: int = 0
    dropped_keys: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["dropped_keys"] = sorted(self.dropped_keys)
        return d


def gc(store: Any, *, max_size: int | None = None, older_than_s: float | None = None,
       dry_run: bool = False, now_ns: int | None = None) -> GcReport:
    """Drop least recently used entries that no asset's latest build uses, then sweep.

    An entry (trace) is never dropped while it is some asset's latest key (a head). Its use
    time is when it last stopped being a head, else when it was created. ``older_than_s``
    drops entries unused for that long; ``max_size`` then drops the least recently used until
    the stored outputs (inline and files) fit. Always swept: blobs no entry or head refers to
    (orphans of a killed build), temp files under cas/, entries whose blob is gone,
    leftover directories of a killed compaction or a moved-aside index, compiled AssetFiles
    beyond the ``CODE_CACHE_KEEP`` newest. Then the index is
    compacted so the freed pages go back to the disk.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    rep = GcReport(dry_run=dry_run)
    heads = store.all_heads()  # every project's: gc never drops another project's latest builds
    protected_keys = {h.key for _n, h in heads}
    protected_digests = {h.output_digest for _n, h in heads}
    traces = dict(store.iter_traces())
    used = store.used_times()
    inline = store.inline_blob_sizes()
    files: dict[str, tuple[Path, int]] = {}
    temps: list[tuple[Path, int]] = []
    for dg, p, size in store.cas_files():
        if dg is None:
            temps.append((p, size))
        else:
            files[dg] = (p, size)
    sizes = {**{d: s for d, (_p, s) in files.items()}, **inline}
    rep.entries_before = len(traces)
    rep.output_bytes_before = sum(sizes.values())
    rep.index_bytes_before = store.file_size()
    rep.disk_bytes_before = rep.index_bytes_before + sum(s for _p, s in files.values()) + sum(s for _p, s in temps)

    refs: dict[str, int] = {}
    for t in traces.values():
        refs[t.output_digest] = refs.get(t.output_digest, 0) + 1
    dropped: set[str] = set()

    def drop(key: str) -> None:
        dropped.add(key)
        dg = traces[key].output_digest
        refs[dg] -= 1

    for key, t in traces.items():  # dangling: its bytes are gone (deleted by hand, lost)
        if key not in protected_keys and t.output_digest not in sizes:
            drop(key)
            rep.dangling_dropped += 1
    candidates = sorted((max(t.created_ns, used.get(k, 0)), k) for k, t in traces.items()
                        if k not in protected_keys and k not in dropped)
    if older_than_s is not None:
        limit = now_ns - int(older_than_s * 1e9)
        for when, key in candidates:
            if when < limit:
                drop(key)

    def live_bytes() -> int:
        return sum(s for d, s in sizes.items() if refs.get(d, 0) > 0 or d in protected_digests)

    if max_size is not None:
        total = live_bytes()
        for _when, key in candidates:
            if total <= max_size:
                break
            if key in dropped:
                continue
            drop(key)
            dg = traces[key].output_digest
            if refs[dg] == 0 and dg not in protected_digests and dg in sizes:
                total -= sizes[dg]
    freed = [d for d in sizes if refs.get(d, 0) <= 0 and d not in protected_digests]
    rep.entries_dropped = len(dropped)
    rep.dropped_keys = sorted(dropped)
    rep.blobs_dropped = len(freed)
    rep.output_bytes_freed = sum(sizes[d] for d in freed)
    rep.temp_files = len(temps)
    rep.temp_bytes = sum(s for _p, s in temps)
    old_code = _old_code_cache(Path(store.root))
    rep.code_files = len(old_code)
    rep.code_bytes = sum(size for _p, size in old_code)
    leftovers = store.leftovers()
    rep.leftover_dirs = [p.name for p in leftovers]
    if dry_run:
        rep.index_bytes_after = rep.index_bytes_before
        rep.disk_bytes_after = rep.disk_bytes_before - sum(files[d][1] for d in freed if d in files) - rep.temp_bytes
        return rep

    # 1. one transaction: traces, their use times and history rows, inline blobs.
    for key in dropped:
        store.delete_trace(key)
        store.delete_used(key)
    for raw, key in store.iter_history():
        if key in dropped:
            store.delete_history_row(raw)
    live_keys = set(traces) - dropped
    for key in used:
        if key not in live_keys:
            store.delete_used(key)
    for d in freed:
        if d in inline:
            store.delete_inline_blob(d)
    store.flush()
    # 2. files nothing refers to any more, temp files, leftovers.
    for d in freed:
        if d in files:
            _unlink(files[d][0])
    for p, _s in [*temps, *old_code]:
        _unlink(p)
    for p in leftovers:
        shutil.rmtree(p, ignore_errors=True)
    # 3. give the index's free pages back to the disk.
    _before, rep.index_bytes_after = store.compact()
    rep.disk_bytes_after = rep.index_bytes_after + sum(s for d, (_p, s) in files.items() if d not in freed)
    return rep


CODE_CACHE_KEEP = 8


def _old_code_cache(cache_dir: Path) -> list[tuple[Path, int]]:
    """Compiled AssetFiles beyond the ``CODE_CACHE_KEEP`` most recently written: one is added
    per AssetFile version, and a dropped one only costs a compile when that version returns."""
    try:
        found = [(st.st_mtime_ns, Path(e.path), st.st_size) for e in os.scandir(cache_dir / "code")
                 if not e.name.startswith(".") and e.is_file() and (st := e.stat())]
    except FileNotFoundError:
        return []
    found.sort(reverse=True)
    return [(p, size) for _t, p, size in found[CODE_CACHE_KEEP:]]


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StoreError(f"cannot delete {p}: {e.strerror}") from e


# --- verify -----------------------------------------------------------------------------------

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


def verify(store: Any) -> VerifyReport:
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
    for dg, p, size in store.cas_files():
        if dg is None:
            continue
        rep.blobs_checked += 1
        rep.bytes_checked += size
        try:
            ok = hash_file(str(p)) == dg
        except OSError:
            ok = False
        if ok:
            good.add(dg)
        else:
            bad.add(dg)
            rep.corrupt.append({"digest": dg, "where": str(Path("cas") / p.parent.name / p.name)})
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
            if fix:
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
            _unlink(p)
    return rep


# --- export / import --------------------------------------------------------------------------

def _tar_mode(path: Path, write: bool) -> str:
    gz = path.name.endswith((".gz", ".tgz"))
    return ("w:gz" if gz else "w") if write else "r:*"


def _head_json(h: Head) -> dict[str, Any]:
    d = h._asdict()
    d["inputs"] = [list(i) for i in h.inputs]
    d["path_stat"] = None  # a stat signature of the exporting machine's file: meaningless elsewhere
    return d


def export_archive(store: Any, assets: Iterable[str], dest: Path,
                   warn: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Write the latest entry and blob of each asset to ``dest`` (atomically); returns a summary.

    Only the latest build of each asset goes in: a build of the same sources needs nothing
    older, and older entries would make every artifact grow. Blobs are verified as they are read.
    """
    import tarfile

    from .errors import CacheCorrupt

    entries: list[dict[str, Any]] = []
    never: list[str] = []
    written: set[str] = set()
    nbytes = 0
    dest = dest.parent.resolve() / dest.name  # a symlink at dest is replaced, never written through
    try:
        with atomic_writer(dest) as f, tarfile.open(fileobj=f, mode=_tar_mode(dest, True),
                                                     format=tarfile.PAX_FORMAT) as tar:
            for name in assets:
                head = store.get_head(name)
                if head is None:
                    never.append(name)
                    continue
                trace = store.get_trace(head.key) or Trace(
                    head.data_version, head.output_digest, head.io, head.size, head.duration_s,
                    head.built_ns, "")
                if head.output_digest not in written:
                    try:
                        data = store.read_blob(head.output_digest)
                    except CacheCorrupt as e:
                        warn(f"not exporting {name!r}: {e} (run: assetbuild cache verify)")
                        continue
                    _add_member(tar, f"blobs/{head.output_digest}", data)
                    written.add(head.output_digest)
                    nbytes += len(data)
                entries.append({"asset": name, "key": head.key, "trace": trace._asdict(),
                                "head": _head_json(head)})
            manifest = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "entries": entries}
            _add_member(tar, "MANIFEST.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    except OSError as e:
        raise StoreError(f"cannot write {dest}: {e.strerror or e}") from e
    return {"file": str(dest), "entries": len(entries), "blobs": len(written), "bytes": nbytes,
            "never_built": never}


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0  # the same entries give the same archive
    tar.addfile(info, io.BytesIO(data))


def _check_manifest(doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise StoreError("its MANIFEST.json is not an assetbuild cache export")
    v = doc.get("version")
    if not isinstance(v, int) or v > EXPORT_VERSION:
        raise StoreError(f"it has export version {v!r}, newer than this assetbuild reads "
                         f"({EXPORT_VERSION}); upgrade assetbuild")
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise StoreError("its MANIFEST.json has no list of entries")
    return entries


def _entry_records(e: Any) -> tuple[str, str, Trace, Head | None]:
    """(asset, key, trace, head) of one manifest entry; ValueError if anything is off."""
    if not isinstance(e, dict):
        raise ValueError("not an object")
    asset, key = e.get("asset"), e.get("key")
    if not isinstance(asset, str) or not isinstance(key, str) or not _HEX64.match(key):
        raise ValueError("no asset name or key")
    tr = e.get("trace")
    if not isinstance(tr, Mapping) or set(tr) != set(Trace._fields):
        raise ValueError("bad trace record")
    trace = Trace(**tr)
    _check_types(trace, {"data_version": str, "output_digest": str, "io": str, "size": int,
                         "duration_s": (int, float), "created_ns": int, "metadata_json": str})
    if not _HEX64.match(trace.output_digest):
        raise ValueError("bad output digest")
    head = None
    hd = e.get("head")
    if hd is not None:
        # "sources" came with a later version: an older export has none
        if not isinstance(hd, Mapping) or set(hd) - {"sources"} != set(Head._fields) - {"sources"}:
            raise ValueError("bad head record")
        pairs = {}
        for field_name in ("inputs", "sources"):
            rows = hd.get(field_name, [])
            if not isinstance(rows, list) or not all(isinstance(i, list) and len(i) == 2
                                                     and all(isinstance(x, str) for x in i) for i in rows):
                raise ValueError(f"bad head {field_name}")
            pairs[field_name] = tuple(tuple(i) for i in rows)
        head = Head(**{**hd, **pairs, "path_stat": None})
        _check_types(head, {"key": str, "data_version": str, "output_digest": str, "code": str,
                            "code_parts": dict, "io": str, "path": (str, type(None)), "built_ns": int,
                            "size": int, "duration_s": (int, float)})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in head.code_parts.items()):
            raise ValueError("bad head code parts")
        if head.key != key or head.output_digest != trace.output_digest:
            raise ValueError("head and trace disagree")
    return asset, key, trace, head


def _check_types(rec: Any, types: dict[str, Any]) -> None:
    for f, t in types.items():
        if not isinstance(getattr(rec, f), t) or isinstance(getattr(rec, f), bool):
            raise ValueError(f"bad field {f}")


def import_archive(store: Any, src: Path, warn: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Add the entries of an export archive to the store, verifying every blob against its digest.

    An entry whose blob is missing or does not verify is skipped with a warning (never a trace
    without its bytes: blobs are durable before the traces commit). Local records are never
    replaced: an entry whose key is already here is left as it is (outputs need not be
    byte-identical across machines, and downstream keys were made from the local one), and an
    imported head is written only for an asset that has none here. Imported entries count as
    used now (for gc).
    """
    import tarfile
    import zlib

    if not src.is_file():
        raise StoreError(f"no such archive: {src}")
    verified: set[str] = set()
    sizes: dict[str, int] = {}
    writer = _BlobWriter(store)
    manifest: Any = None
    rejected = 0
    try:
        with tarfile.open(src, _tar_mode(src, False), tarinfo=_bounded_tarinfo()) as tar:
            for m in tar:
                if not m.isfile():
                    continue
                if m.name == "MANIFEST.json":
                    manifest = _read_manifest(tar, m, src)
                    continue
                dg = m.name[len("blobs/"):] if m.name.startswith("blobs/") else ""
                if not _HEX64.match(dg):
                    warn(f"{src}: ignoring unexpected member {m.name!r}")
                    continue
                f = tar.extractfile(m)
                if f is None or not writer.put_stream(f, m.size, dg):
                    warn(f"{src}: blob {dg[:12]} does not match its digest; skipping it")
                    rejected += 1
                    continue
                verified.add(dg)
                sizes[dg] = m.size
                store.maybe_flush()
        writer.wait()  # every file is durable before a trace that needs it commits
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        writer.wait(cancel=True)
        why = e.strerror if isinstance(e, OSError) and e.strerror else "damaged, or not a tar file"
        raise StoreError(f"cannot import {src}: not a readable archive ({why})") from e
    except BaseException:
        writer.wait(cancel=True)
        raise
    if manifest is None:
        raise StoreError(f"cannot import {src}: it has no MANIFEST.json (not an assetbuild cache export)")
    try:
        entries = _check_manifest(manifest)
    except StoreError as e:
        raise StoreError(f"cannot import {src}: {e}") from None
    now = time.time_ns()
    imported = skipped = heads_added = present = 0
    for e in entries:
        try:
            asset, key, trace, head = _entry_records(e)
        except (ValueError, TypeError) as err:
            warn(f"{src}: skipping a malformed entry ({err})")
            skipped += 1
            continue
        dg = trace.output_digest
        if dg in verified:
            usable = sizes[dg] == trace.size
        else:  # not in the archive: fine if this cache already has those bytes
            usable = store.has_blob(dg, trace.size) and _verifies(store, dg)
        if not usable:
            warn(f"{src}: skipping {asset!r}: its output's bytes are missing or do not verify")
            skipped += 1
            continue
        if store.get_trace(key) is not None:
            present += 1  # a key means one output: the local record stays
        else:
            store.put_trace(key, trace)
            store.put_used(key, now)
            imported += 1
        if head is not None and store.get_head(asset) is None:
            store.put_head(asset, head)
            heads_added += 1
    store.flush()
    return {"file": str(src), "entries": imported, "already_present": present, "skipped": skipped,
            "blobs": len(verified),
            "rejected_blobs": rejected, "heads_added": heads_added}


class _BlobWriter:
    """Blobs of an archive into the store, with the durable part of file writes (fsync, rename,
    fsync) on a few threads: one file at a time waits on the disk's flushes, and an archive can
    hold thousands. Inline blobs go to the store's batch on the calling thread."""

    def __init__(self, store: Any, threads: int = 8) -> None:
        self.store = store
        self.threads = threads
        self._pool: Any = None
        self._inflight: list[tuple[Any, int]] = []

    def put_stream(self, f: Any, size: int, digest: str) -> bool:
        """Store the ``size`` bytes read from ``f`` if they hash to ``digest`` (False if not).

        Never holds a large blob in memory: it is hashed while it is copied, in chunks, to a temp
        file beside its place in the CAS, and renamed there only if it verifies (the fsync and
        rename on the pool). An archive's member is untrusted: its header's size is no promise.
        """
        from .store import INLINE_MAX

        if size <= INLINE_MAX:
            data = f.read(size + 1)
            if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
                return False
            self.store.put_blob(data, digest)
            return True
        path = self.store.blob_path(digest)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # O_EXCL, unpredictable name
        except OSError as e:
            raise StoreError(f"cannot write a blob to {path.parent}: {e.strerror or e}") from e
        h = hashlib.sha256()
        got = 0
        out = os.fdopen(fd, "wb")
        try:
            while got <= size:
                chunk = f.read(min(IMPORT_CHUNK, size + 1 - got))  # errors here: a damaged archive
                if not chunk:
                    break
                got += len(chunk)
                h.update(chunk)
                try:
                    out.write(chunk)
                except OSError as e:
                    raise StoreError(f"cannot write a blob to {path.parent}: {e.strerror or e}") from e
            try:
                out.close()
            except OSError as e:
                raise StoreError(f"cannot write a blob to {path.parent}: {e.strerror or e}") from e
        except BaseException:
            if not out.closed:
                with contextlib.suppress(OSError):
                    out.close()
            _discard(tmp)
            raise
        if got != size or h.hexdigest() != digest:
            _discard(tmp)
            return False
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="assetbuild-import")
        self._inflight.append((self._pool.submit(_settle_blob_file, tmp, path), 0))
        while len(self._inflight) > 4 * self.threads:
            fut, _n = self._inflight.pop(0)
            fut.result()
        return True

    def wait(self, cancel: bool = False) -> None:
        """Wait for every file write; re-raise the first error (unless cancelling)."""
        try:
            for f, _n in self._inflight:
                if cancel:
                    f.cancel()
                    continue
                f.result()
        finally:
            self._inflight = []
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def _settle_blob_file(tmp: str, path: Path) -> None:
    """Make a verified temp file durable under its CAS name: fsync, rename, fsync the folder."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        _discard(tmp)
        raise StoreError(f"cannot write a blob to {path.parent}: {e.strerror or e}") from e


def _discard(path: str) -> None:
    """Remove a temp file of an import that failed (quietly: the error that matters is raised)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _read_manifest(tar: Any, m: Any, src: Path) -> Any:
    """The parsed MANIFEST.json of an archive, read at most MAX_MANIFEST bytes; StoreError if it
    is larger, or is not JSON (nesting too deep for the parser included)."""
    if m.size > MAX_MANIFEST:
        raise StoreError(f"cannot import {src}: its MANIFEST.json is larger than "
                         f"{MAX_MANIFEST >> 20} MiB (not an assetbuild cache export)")
    f = tar.extractfile(m)
    raw = f.read(MAX_MANIFEST + 1) if f else b""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise StoreError(f"cannot import {src}: its MANIFEST.json is not JSON") from None


def _bounded_tarinfo() -> type:
    """A TarInfo that refuses extended headers (pax, GNU long names) larger than MAX_TAR_HEADER:
    tarfile reads those whole, so one compressed to a few bytes would fill memory."""
    import tarfile

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_pax(self, tarfile_: Any) -> Any:
            _check_header_size(self.size)
            return super()._proc_pax(tarfile_)

        def _proc_gnulong(self, tarfile_: Any) -> Any:
            _check_header_size(self.size)
            return super()._proc_gnulong(tarfile_)

    return BoundedTarInfo


def _check_header_size(size: int) -> None:
    import tarfile

    if size > MAX_TAR_HEADER:
        raise tarfile.HeaderError(f"an extended header of {size} bytes")


def _verifies(store: Any, digest: str) -> bool:
    from .errors import CacheCorrupt

    try:
        store.read_blob(digest)
        return True
    except CacheCorrupt:
        return False
