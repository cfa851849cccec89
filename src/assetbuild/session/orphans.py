"""Orphaned outputs: files assetbuild wrote that no asset writes now. An asset removed from the
AssetFile leaves its head in the store and its files on disk; an asset whose ``path=`` or
``outputs=`` changed leaves its old files, noted when its head was replaced (assetbuild.moved).
They stay until someone says otherwise. Three pieces, all keyed on the project's store records:

- a build notices (``notice_removed``): when the AssetFile's set of asset names differs from the
  one recorded last time, it looks at this project's heads, records when each head's asset was
  first seen gone (``removed\\0NAME`` -> nanoseconds, $ASSETBUILD_NOW honoured), forgets the
  record of an asset that is back; then, or when the build noted files left behind, it warns
  once: ``3 orphaned outputs: files assetbuild wrote that no asset writes now (assetbuild clean
  --orphans)`` when such files are still on disk as written. A build that recorded something
  also drops the notes of files deleted by hand (``forget_gone_left``; ``cache gc`` does too). A
  null build reads one record and writes nothing;
- ``clean --orphans`` (``clean_orphans``) deletes those files, each only if unchanged since and
  only where the AssetFile claims nothing now, and forgets the notes of the files it deleted or
  found gone;
- ``cache gc --removed-after DAYS`` (``drop_removed_heads``) drops the heads of assets gone for
  that long, so gc can collect their entries. The AssetFile need not load: the time is recorded.

Why a recorded time rather than "not in the AssetFile now": gc runs without the AssetFile, and an
asset commented out for a day must not lose its cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..output import Reporter
from .arguments import verb
from .project import open_project, open_store, waiting_warning

_NAMES = b"asset-names"  # the digest of the AssetFile's asset names when last looked at
_REMOVED = b"removed\0"  # removed\0NAME -> when NAME's asset was first seen gone (ns, ASCII)


def _declared(project: Any) -> set[str]:
    """The AssetFile's names, a partitioned asset once (not its partitions: a null build of
    90,000 partitions hashes a few names, and partitions that are gone are dropped elsewhere)."""
    graph = project.graph.declared or project.graph
    return set(graph.nodes) | set(graph.producers)


def removed_heads(project: Any, store: Any) -> dict[str, Any]:
    """This project's heads (name -> Head) whose asset is no longer in the AssetFile, or no
    longer in that form: a partition's head of an asset no longer partitioned, and the other way."""
    names = _declared(project)
    partitioned = project.graph.partitioned

    def current(n: str) -> bool:
        if n.endswith("]") and "[" in n:
            return n.split("[", 1)[0] in partitioned if partitioned else False
        return n in names and n not in partitioned

    gone: dict[str, Any] = store.heads(skip=current)  # the rest unread
    return gone


def notice_removed(project: Any, store: Any, moved: int = 0, *, wrote: bool = False) -> None:
    """After a build (the store writable, under the build lock, the build's writes committed):
    see the note at the top. ``moved``: how many files the build noted left behind; ``wrote``:
    the build recorded something (not a null build, which must write nothing)."""
    from ..clock import now_ns

    get_meta = getattr(store, "get_meta", None)
    if get_meta is None:
        return
    graph = project.graph.declared or project.graph
    # the names in declaration order (no sort on a null build: an AssetFile reordered costs one look)
    digest = hashlib.sha256("\n".join([*graph.nodes, "", *graph.producers, "", *project.graph.partitioned])
                            .encode("utf-8", "surrogatepass")).digest()
    same = get_meta(_NAMES) == digest  # the same assets as last time: nothing new is gone
    if wrote or moved or not same:
        forget_gone_left(project.project_dir, store)
    if same and not moved:
        return
    gone = removed_heads(project, store)
    if not same:
        recorded = removed_names(store)
        now = str(now_ns()).encode()
        for name in sorted(set(gone) - recorded):
            store.put_meta(_REMOVED + name.encode("utf-8", "surrogatepass"), now)
        for name in sorted(recorded - set(gone)):  # back in the AssetFile, or its head dropped
            store.put_meta(_REMOVED + name.encode("utf-8", "surrogatepass"), None)
        store.put_meta(_NAMES, digest)
        store.flush()
    if gone or moved:
        n = len(_orphan_report(project, store, gone, dry_run=True).deleted)
        if n:
            project.reporter.warn(f"{orphaned(n)}: {'a file' if n == 1 else 'files'} assetbuild wrote that no "
                                  "asset writes now (assetbuild clean --orphans)")


def removed_names(store: Any) -> set[str]:
    """The assets a build saw gone from the AssetFile whose heads are still kept."""
    return {bytes(k)[len(_REMOVED):].decode("utf-8", "surrogatepass") for k, _v in store.scan_meta(_REMOVED)}


def forget_gone_left(root: str | os.PathLike[str], store: Any, *, dry_run: bool = False) -> list[str]:
    """Drop the notes (assetbuild.moved) of files no longer in the project, deleted by hand: they
    are no orphans now, and a file someone puts there later is theirs, not one assetbuild wrote
    (the same bytes would pass for it). A prefix scan of the notes, one lstat each. The paths."""
    from ..moved import forget_left, left_files

    gone = []
    for f in left_files(store):
        try:
            os.lstat(os.path.join(root, f.path))
        except (FileNotFoundError, NotADirectoryError):
            gone.append(f.path)
        except OSError:  # cannot tell (no permission...): kept
            continue
    if gone and not dry_run:
        forget_left(store, gone)
        store.flush()
    return gone


def orphaned(n: int) -> str:
    """``1 orphaned output``, ``3 orphaned outputs``."""
    return f"{n} orphaned output{'' if n == 1 else 's'}"


def _orphan_report(project: Any, store: Any, gone: dict[str, Any], *, dry_run: bool) -> Any:
    """Delete (``dry_run``: list) what removed assets' heads and the notes of files left behind
    name, except what the AssetFile claims now; a real run forgets the notes of the files it
    deleted or found gone (those it kept, edited or claimed, are still noted)."""
    from ..cleaning import CleanReport, add_left, clean_outputs, recorded_outputs
    from ..moved import forget_left, left_files

    root = Path(project.project_dir).resolve()
    report = CleanReport(project.cache_dir, dry_run=dry_run, outputs=True, cache_existed=True)
    left = left_files(store)
    recorded = add_left(recorded_outputs(gone, store.read_blob, store.get_stat, lambda m: None), left)
    # what the AssetFile claims now stays: a renamed asset's output, a source reading a removed one's
    clean_outputs(root, recorded, cache_dir=project.cache_dir, protected=project.claims(), dry_run=dry_run,
                  report=report)
    if not dry_run and left:
        stays = {p for p, _ in (*report.kept, *report.failed, *report.refused)}
        forget_left(store, [f.path for f in left if f.path not in stays])
        store.flush()
    return report


@verb
def clean_orphans(*, project_dir: str | os.PathLike[str] = ".", assetfile: str | os.PathLike[str] | None = None,
                  cache_dir: str | os.PathLike[str] | None = None, dry_run: bool = False,
                  reporter: Reporter | None = None) -> Any:
    """Delete the files that assets no longer in the AssetFile wrote into the project, each only
    if unchanged since (``dry_run``: list them). The cache stays. Returns a ``CleanReport``."""
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir, reporter=reporter) as project:
        from ..cleaning import CleanReport

        if not ((project.cache_dir / "STORE").exists() or (project.cache_dir / "db").is_dir()):
            return CleanReport(project.cache_dir, dry_run=dry_run, outputs=True)
        store = open_store(project, readonly=dry_run)
        try:
            if not dry_run:
                store.acquire_lock(on_wait=waiting_warning(project.cache_dir, project.reporter.warn))
            return _orphan_report(project, store, removed_heads(project, store), dry_run=dry_run)
        finally:
            store.close()


def drop_removed_heads(store: Any, days: float, *, dry_run: bool = False) -> list[str]:
    """Drop (``dry_run``: list) the heads of assets recorded as gone ``days`` or more ago, and
    their records; the names, sorted. Their entries are then gc's to collect like any other. The
    files such a head wrote are noted as left behind (assetbuild.moved), as a replaced head's are:
    ``clean --orphans`` still deletes them while they hold what was written."""
    from ..clock import now_ns
    from ..moved import head_files, note_left

    limit = now_ns() - int(days * 86400e9)
    out = []
    for key, value in list(store.scan_meta(_REMOVED)):
        try:
            when = int(value)
        except ValueError:
            continue
        if when <= limit:
            name = bytes(key)[len(_REMOVED):].decode("utf-8", "surrogatepass")
            out.append(name)
            if not dry_run:
                head = store.get_head(name)
                if head is not None:  # (its list of files, if any, is still in the cache: gc collects after)
                    note_left(store.put_meta, head_files(name, head, store.read_blob, store.get_stat) or [])
                store.delete_head(name)
                store.put_meta(bytes(key), None)
    if out and not dry_run:
        store.flush()
    return sorted(out)
