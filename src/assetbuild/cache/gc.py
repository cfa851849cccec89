"""Garbage collection of a cache directory: drop the least recently used entries no asset's
latest build uses, sweep what a killed build or compaction left behind, give the index's free
pages back to the disk.

The caller (session.py) holds the build lock, so no build writes at the same time. Traces are
deleted in the transaction that deletes their inline blobs and before their files under cas/ are
unlinked: never a trace without its bytes. Except on a disk too full for that transaction
(``_flush_on_a_full_disk``): the files go first there, or gc could free nothing at all.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import clock
from ..errors import StoreError
from ..store.cachedir import delete_file
from ..store.failures import human_size

if TYPE_CHECKING:
    from ..store import LmdbStore

CODE_CACHE_KEEP = 8
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """'500M', '2G', '1.5GiB', '123' (bytes) -> bytes; K/M/G/T are powers of 1024."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise ValueError(f"{text!r} is not a size (examples: 500M, 2G, 1048576)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


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
    events_dropped: int = 0  # history beyond the newest ``history`` events of each asset
    runs_dropped: int = 0  # runs none of whose events are kept
    versions_trimmed: int = 0  # assets' older versions no record lists any more (show/diff: trimmed)
    texts_dropped: int = 0  # source files' texts no latest build refers to
    removed_heads: list[str] = field(default_factory=list)  # heads of assets gone from the AssetFile (--removed-after)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["dropped_keys"] = sorted(self.dropped_keys)
        return d


def gc(store: LmdbStore, *, max_size: int | None = None, older_than_s: float | None = None,
       dry_run: bool = False, now_ns: int | None = None, history: int | None = None) -> GcReport:
    """Drop least recently used entries that no asset's latest build uses, then sweep.

    An entry (trace) is never dropped while it is some asset's latest key (a head). Its use
    time is when it last stopped being a head, else when it was created. ``older_than_s``
    drops entries unused for that long; ``max_size`` then drops the least recently used until
    the stored outputs (inline and files) fit. Always swept: blobs no entry or head refers to
    (orphans of a killed build), temp files under cas/, entries whose blob is gone,
    leftover directories of a killed compaction or a moved-aside index, compiled AssetFiles
    beyond the ``CODE_CACHE_KEEP`` newest. ``history``: the events of each asset but the newest
    that many, and the runs no kept event belongs to (store.trimming: the versions this takes
    out of an asset's list are counted, so show and diff say a version was trimmed). Then the
    index is compacted so the freed pages go back to the disk.
    """
    now_ns = clock.now_ns() if now_ns is None else now_ns
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
    listed = _listed_files(store, [t for k, t in traces.items() if k not in dropped] + [h for _n, h in heads])
    freed = [d for d in sizes if refs.get(d, 0) <= 0 and d not in protected_digests and d not in listed]
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
    # the newest ``history`` events of each asset and their runs; the history rows of dropped entries
    trim = store.trim_history(history, dropped=dropped, protected=protected_keys, dry_run=dry_run)
    rep.events_dropped, rep.runs_dropped, rep.versions_trimmed = trim.events, trim.runs, trim.versions
    # the source texts of the latest builds (why diffs a function against them); no others
    live_texts = {e[1] for _n, h in heads for e in h.source_at if isinstance(e, tuple) and len(e) == 3}
    rep.texts_dropped = store.trim_texts(live_texts, dry_run=dry_run)
    if dry_run:
        rep.index_bytes_after = rep.index_bytes_before
        rep.disk_bytes_after = rep.disk_bytes_before - sum(files[d][1] for d in freed if d in files) - rep.temp_bytes
        return rep

    # 1. one transaction: traces, their use times, history (trimmed above), inline blobs.
    for key in dropped:
        store.delete_trace(key)
        store.delete_used(key)
    live_keys = set(traces) - dropped
    for key in used:
        if key not in live_keys:
            store.delete_used(key)
    for d in freed:
        if d in inline:
            store.delete_inline_blob(d)
    swept = [files[d][0] for d in freed if d in files] + [p for p, _s in [*temps, *old_code]]
    try:
        store.flush()
    except StoreError as e:  # a full disk: the index cannot even grow by the pages its drops take
        _flush_on_a_full_disk(store, e, swept, leftovers)
    # 2. files nothing refers to any more, temp files, leftovers.
    for p in swept:
        delete_file(p)
    for p in leftovers:
        shutil.rmtree(p, ignore_errors=True)
    # 3. give the index's free pages back to the disk.
    try:
        _before, rep.index_bytes_after = store.compact()
    except StoreError as e:  # (its drops stand: say them, as the report would have)
        if not (rep.entries_dropped or rep.output_bytes_freed):
            raise
        raise StoreError(f"gc dropped {rep.entries_dropped} of {rep.entries_before} entries and freed "
                         f"{human_size(rep.output_bytes_freed)} of outputs; then {e}") from e
    rep.disk_bytes_after = rep.index_bytes_after + sum(s for d, (_p, s) in files.items() if d not in freed)
    return rep


def _flush_on_a_full_disk(store: LmdbStore, err: StoreError, swept: list[Path], leftovers: list[Path]) -> None:
    """gc's transaction failed for ``err``. On a full disk, where gc is what a user runs to get
    space back, first delete the files it frees (``swept``: blobs of the entries it drops, or of
    none, temp files, old compiled AssetFiles; and ``leftovers``), then commit again. Until that
    commit, the entries being dropped (never a latest build) may name bytes that are gone: a
    killed gc leaves them as entries whose blob is gone, which a restore of one rebuilds and
    the next gc drops. Any other failure, or a second one, is raised, never suggesting gc."""
    from ..store.failures import disk_message, out_of_space

    root = Path(store.root)
    hint = "delete other files, or assetbuild clean deletes the whole cache"
    if not out_of_space(root, err) or not (swept or leftovers):
        if out_of_space(root, err):
            raise StoreError(disk_message(root, f"gc cannot write the cache index at {root}", err, hint=hint)) from err
        raise err
    for p in swept:
        delete_file(p)
    for p in leftovers:
        shutil.rmtree(p, ignore_errors=True)
    try:
        store.flush()
    except StoreError as e:
        raise StoreError(disk_message(root, f"gc deleted the files it frees but cannot record that in the cache "
                                            f"index at {root}", e, hint=hint)) from e


def _listed_files(store: LmdbStore, traces: list[Any]) -> set[str]:
    """The blobs of the files that the kept entries and heads of ``outputs=`` assets list in their
    manifests (no entry refers to them directly: they live as long as a manifest lists them)."""
    from ..errors import CacheCorrupt
    from ..manifest import FILES_IO, decode_manifest

    manifests = {t.output_digest for t in traces if t.io.startswith(FILES_IO + "@")}
    out: set[str] = set()
    for digest in manifests:
        try:
            out.update(f.digest for f in decode_manifest(store.read_blob(digest)).files)
        except (CacheCorrupt, ValueError):
            continue
    return out


def _old_code_cache(cache_dir: Path) -> list[tuple[Path, int]]:
    """Compiled AssetFiles beyond the ``CODE_CACHE_KEEP`` most recently written: one is added
    per AssetFile version, and a dropped one only costs a compile when that version returns.
    Compiled slices are not among them: the loader keeps the newest few itself.
    Only regular files named as ``compiled`` names them, in a real ``code`` directory: a
    symlink there (planted in a shared cache) leads to someone's files, never deleted."""
    import re
    import stat

    from ..compiled import SLICE_CACHE_PREFIX

    code = cache_dir / "code"
    named = re.compile(r".+-\w+-\d+-f\d+\.bin\Z")  # <stem>-<cache tag>-<optimize>-f<fingerprint version>.bin
    try:
        if not stat.S_ISDIR(os.lstat(code).st_mode):
            return []
        found = [(st.st_mtime_ns, Path(e.path), st.st_size) for e in os.scandir(code)
                 if not e.name.startswith((".", SLICE_CACHE_PREFIX)) and named.match(e.name)
                 and e.is_file(follow_symlinks=False) and (st := e.stat(follow_symlinks=False))]
    except FileNotFoundError:
        return []
    found.sort(reverse=True)
    return [(p, size) for _t, p, size in found[CODE_CACHE_KEEP:]]
