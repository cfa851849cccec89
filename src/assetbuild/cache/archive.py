"""Export and import of a cache's entries: a portable archive of the latest builds, for another
checkout or machine (a CI job's artifact), and its import, which treats the archive as untrusted.

An export archive is a tar file (named .tar, or .tar.gz or .tgz for gzip: another name is
refused, rather than written as a tar under it) holding ``blobs/<sha256>`` members and, last,
``MANIFEST.json``::

    {"format": "assetbuild-cache-export", "version": 1, "entries": [
        {"asset": name, "key": hex, "trace": {...Trace fields}, "head": {...Head fields}}]}

Nothing in it names a path of the machine that wrote it. An import writes blobs durably before
the transaction that adds their traces commits (never a trace without its bytes); the caller
(session.py) holds the build lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import clock
from ..atomicfile import atomic_writer
from ..errors import AssetbuildError, CacheCorrupt, CannotWrite, StoreError
from ..moved import MovedOutputs
from ..reports import Head, Trace

if TYPE_CHECKING:
    import tarfile

    from ..store import LmdbStore

EXPORT_FORMAT = "assetbuild-cache-export"
EXPORT_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
MAX_MANIFEST = 64 << 20  # an archive's MANIFEST.json: ~100,000 entries; it is parsed in memory
MAX_TAR_HEADER = 1 << 20  # pax and GNU long-name headers, which tarfile reads whole
IMPORT_CHUNK = 1 << 20  # import copies and hashes members in chunks of this size


def export_mode(path: Path) -> Literal["w:gz", "w"]:
    """How an archive named ``path`` is written: what its name says, a tar or a gzipped tar; any
    other name (``.zip``, ``.tar.xz``, none) is refused, never given a tar it does not announce.
    (Import reads any tar by its content.)"""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return "w:gz"
    if name.endswith(".tar"):
        return "w"
    raise AssetbuildError(f"cannot export to {path}: the archive is a tar file; name it .tar, or .tar.gz "
                          "or .tgz (gzip)")


def _head_json(h: Head) -> dict[str, Any]:
    d = h._asdict()
    d["inputs"] = [list(i) for i in h.inputs]
    d["path_stat"] = None  # a stat signature of the exporting machine's file: meaningless elsewhere
    return d


def export_archive(store: LmdbStore, assets: Iterable[str], dest: Path,
                   warn: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Write the latest entry and blob of each asset to ``dest`` (atomically); returns a summary.

    Only the latest build of each asset goes in: a build of the same sources needs nothing
    older, and older entries would make every artifact grow. Blobs are verified as they are read.
    """
    import tarfile

    entries: list[dict[str, Any]] = []
    never: list[str] = []
    written: set[str] = set()
    nbytes = 0
    dest = dest.parent.resolve() / dest.name  # a symlink at dest is replaced, never written through
    mode = export_mode(dest)
    try:
        with atomic_writer(dest) as f, tarfile.open(fileobj=f, mode=mode,
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
                    nbytes += _add_listed_files(store, tar, head.io, data, written)
                entries.append({"asset": name, "key": head.key, "trace": trace._asdict(),
                                "head": _head_json(head)})
            manifest = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "entries": entries}
            _add_member(tar, "MANIFEST.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    except OSError as e:
        raise CannotWrite(dest, e) from e
    return {"file": str(dest), "entries": len(entries), "blobs": len(written), "bytes": nbytes,
            "never_built": never}


def _add_listed_files(store: LmdbStore, tar: tarfile.TarFile, io: str, data: bytes, written: set[str]) -> int:
    """The blobs of the files an ``outputs=`` asset wrote, listed by its manifest (``data``);
    their bytes. A file whose blob is gone is left out: after an import the asset then reruns."""
    from ..manifest import FILES_IO, decode_manifest

    if not io.startswith(FILES_IO + "@"):
        return 0
    n = 0
    for f in decode_manifest(data).files:
        if f.digest in written:
            continue
        try:
            blob = store.read_blob(f.digest)
        except CacheCorrupt:
            continue
        _add_member(tar, f"blobs/{f.digest}", blob)
        written.add(f.digest)
        n += len(blob)
    return n


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
    if type(v) is not int or v < 1:  # (a bool is an int to isinstance; 0, -7, "1" were imported or misreported)
        shown = json.dumps(v)
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        raise StoreError(f"not an assetbuild cache export (its MANIFEST.json's version is {shown}, "
                         f"not a whole number from 1 to {EXPORT_VERSION})")
    if v > EXPORT_VERSION:
        raise StoreError(f"it has export version {v}, newer than this assetbuild reads "
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
    _check_ranges(trace.created_ns, trace.size, trace.duration_s)
    head = None
    hd = e.get("head")
    if hd is not None:
        # "sources", "env", "params", "resources", "fan_in", "producer", "code_values"... came with later versions:
        # an older export has none
        later = {"sources", "env", "params", "resources", "fan_in", "producer", "code_values", "source_at",
                 "partition", "out_index", "binding"}
        if not isinstance(hd, Mapping) or set(hd) - later != set(Head._fields) - later:
            raise ValueError("bad head record")
        if not _params_ok(hd.get("params", "")):
            raise ValueError("bad head params")
        env_rows = hd.get("env", [])
        if not isinstance(env_rows, list) or not all(
                isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) and isinstance(i[1], (str, type(None)))
                for i in env_rows):
            raise ValueError("bad head env")
        pairs = {}
        for field_name in ("inputs", "sources", "resources", "code_values"):
            rows = hd.get(field_name, [])
            if not isinstance(rows, list) or not all(isinstance(i, list) and len(i) == 2
                                                     and all(isinstance(x, str) for x in i) for i in rows):
                raise ValueError(f"bad head {field_name}")
            pairs[field_name] = tuple(tuple(i) for i in rows)
        fan_rows = hd.get("fan_in", [])
        if not isinstance(fan_rows, list) or not all(
                isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) and type(i[1]) is int for i in fan_rows):
            raise ValueError("bad head fan_in")
        binding = hd.get("binding", [])
        if not isinstance(binding, list) or not all(isinstance(p, str) for p in binding):
            raise ValueError("bad head binding")
        at = hd.get("source_at", [])
        if not isinstance(at, list) or not all(
                isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and isinstance(e[1], str)
                and type(e[2]) is int for e in at):
            raise ValueError("bad head source_at")
        head = Head(**{**hd, **pairs, "env": tuple(tuple(i) for i in env_rows), "path_stat": None,
                       "fan_in": tuple((p, n) for p, n in fan_rows), "source_at": tuple(tuple(e) for e in at),
                       "binding": tuple(binding)})
        _check_types(head, {"key": str, "data_version": str, "output_digest": str, "code": str,
                            "code_parts": dict, "io": str, "path": (str, type(None)), "built_ns": int,
                            "size": int, "duration_s": (int, float), "producer": str, "partition": str,
                            "out_index": int})
        _check_ranges(head.built_ns, head.size, head.duration_s)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in head.code_parts.items()):
            raise ValueError("bad head code parts")
        if head.key != key or head.output_digest != trace.output_digest or head.io != trace.io:
            raise ValueError("head and trace disagree")
    return asset, key, trace, head


def _check_ranges(when_ns: int, size: int, duration_s: float) -> None:
    """ValueError unless a record's time is one a build records (``clock.FIRST_NS`` to
    ``END_NS``, as a remote record's), its size and duration whole and finite: one out of range
    was stored and then broke ``show --meta``, ``log`` and ages."""
    if not clock.FIRST_NS <= when_ns < clock.END_NS:
        raise ValueError("a time out of range")
    if not 0 <= size < 1 << 62 or not 0 <= duration_s < 1e9:  # (NaN and inf: False)
        raise ValueError("a size or duration out of range")


def _params_ok(text: object) -> bool:
    """A head's params: "" (none), or the JSON text of an object (``why`` decodes it)."""
    if not isinstance(text, str):
        return False
    try:
        return not text or isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _check_types(rec: Any, types: dict[str, Any]) -> None:
    for f, t in types.items():
        if not isinstance(getattr(rec, f), t) or isinstance(getattr(rec, f), bool):
            raise ValueError(f"bad field {f}")


def import_archive(store: LmdbStore, src: Path, warn: Callable[[str], None] = lambda m: None,
                   places: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """Add the entries of an export archive to the store, verifying every blob against its digest.

    An entry whose blob is missing or does not verify is skipped with a warning (never a trace
    without its bytes: blobs are durable before the traces commit); so is one of an ``outputs=``
    asset whose list of files no build writes (``manifest.check_manifest``: a path that is not
    plain or lies outside its outputs). Local records are never replaced: an entry whose key is
    already here is left as it is (outputs need not be byte-identical across machines, and
    downstream keys were made from the local one). Imported entries count as used now (for gc).

    A head names files in the project, which ``clean`` deletes as assetbuild's: one is written
    only for an asset that has none here and that the project declares, writing where it
    declares (``places``: asset -> ``Head.path`` as a build records it, ``manifest.output_place``;
    None: no head is written). Any other head is left out (``heads_left_out``), its entry imported.
    """
    import tarfile
    import zlib

    if not src.exists():
        raise StoreError(f"no such archive: {src}")
    verified: set[str] = set()
    sizes: dict[str, int] = {}
    writer = _BlobWriter(store)
    manifest: Any = None
    rejected = 0
    try:
        # a pipe (cat e.tgz | ... import /dev/stdin, a FIFO) is read as a stream
        opened = (tarfile.open(src, "r:*", tarinfo=_bounded_tarinfo()) if src.is_file()
                  else tarfile.open(src, "r|*", tarinfo=_bounded_tarinfo()))
        with opened as tar:
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
    now = clock.now_ns()
    moved = MovedOutputs(store)
    imported = skipped = heads_added = present = left_out = 0
    for entry in entries:
        try:
            asset, key, trace, head = _entry_records(entry)
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
        unusable = _unusable_listing(store, trace, head)
        if unusable is not None:
            warn(f"{src}: skipping {asset!r}: its list of files is unusable ({unusable})")
            skipped += 1
            continue
        if store.get_trace(key) is not None:
            present += 1  # a key means one output: the local record stays
        else:
            store.put_trace(key, trace)
            store.put_used(key, now)
            imported += 1
        if head is None or store.get_head(asset) is not None:
            continue
        if places is None or asset not in places or places[asset] != head.path:
            left_out += 1  # another project's asset, another commit's path, or a forged one
            continue
        moved.replacing(asset, None, head)  # what it writes is no longer noted as left behind
        store.put_head(asset, head)
        heads_added += 1
    store.flush()
    return {"file": str(src), "entries": imported, "already_present": present, "skipped": skipped,
            "blobs": len(verified),
            "rejected_blobs": rejected, "heads_added": heads_added, "heads_left_out": left_out}


def _unusable_listing(store: LmdbStore, trace: Trace, head: Head | None) -> str | None:
    """Why the output of an imported ``outputs=`` entry (its list of files, in the store now)
    is not one a build writes, or is not for the outputs its head names; None if it is, or if
    the entry is of another kind."""
    from ..manifest import FILES_IO, decode_manifest, outputs_key_part

    if not trace.io.startswith(FILES_IO + "@"):
        return None
    try:
        manifest = decode_manifest(store.read_blob(trace.output_digest))
    except (CacheCorrupt, ValueError) as e:
        return str(e)
    if head is not None and head.path != outputs_key_part(manifest.outputs):
        return "its outputs are not those its record names"
    return None


class _BlobWriter:
    """Blobs of an archive into the store, with the durable part of file writes (fsync, rename,
    fsync) on a few threads: one file at a time waits on the disk's flushes, and an archive can
    hold thousands. Inline blobs go to the store's batch on the calling thread."""

    def __init__(self, store: LmdbStore, threads: int = 8) -> None:
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
        from ..store import INLINE_MAX

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


def _bounded_tarinfo() -> type[tarfile.TarInfo]:
    """A TarInfo that refuses extended headers (pax, GNU long names) larger than MAX_TAR_HEADER:
    tarfile reads those whole, so one compressed to a few bytes would fill memory."""
    import tarfile

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_pax(self, tarfile_: Any) -> Any:
            _check_header_size(self.size)
            return super()._proc_pax(tarfile_)  # type: ignore[misc]  # a private hook: not in typeshed

        def _proc_gnulong(self, tarfile_: Any) -> Any:
            _check_header_size(self.size)
            return super()._proc_gnulong(tarfile_)  # type: ignore[misc]  # a private hook: not in typeshed

    return BoundedTarInfo


def _check_header_size(size: int) -> None:
    import tarfile

    if size > MAX_TAR_HEADER:
        raise tarfile.HeaderError(f"an extended header of {size} bytes")


def _verifies(store: LmdbStore, digest: str) -> bool:
    try:
        store.read_blob(digest)
        return True
    except CacheCorrupt:
        return False
