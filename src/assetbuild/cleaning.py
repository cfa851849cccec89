"""Deleting the files assetbuild wrote into a project (``assetbuild clean --outputs``): path
outputs and the files of ``outputs=``, as the store's records of the project name them (its
heads, and the notes of files an asset stopped writing: assetbuild.moved), each only while it
still holds what assetbuild wrote.

Every path comes from a record, which may be corrupt or crafted, so nothing is trusted:

- a recorded path must be plain and relative (no ``..``, not absolute) and lie neither under
  ``.git`` nor in the cache directory;
- it is reached from the project directory one directory at a time, through descriptors that
  follow no symlink (``O_NOFOLLOW``), so a directory swapped for a symlink cannot lead outside;
- the file must be a regular file whose stat signature is the one recorded when it was written,
  or whose bytes hash to the recorded digest (and, for ``outputs=``, whose mode is the one
  recorded); it is unlinked only if it is still that same file (inode, size, time).

A directory is removed only if it is a declared directory output or below one, and empty.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dirtree import prune_empty
from .manifest import FILES_IO, decode_manifest, is_dir_output, normal_mode, output_path, owner_of
from .moved import LeftFile, StatSig, is_stat_sig

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20
_THROUGH_SYMLINK = "through a symlink"  # what a refusal of a path reached through one starts with


@dataclass(frozen=True)
class Written:
    """A file assetbuild wrote: its project-relative path, the asset, the sha256 of what it wrote,
    and the stat signature, mode and size recorded then (None: not recorded)."""

    path: str
    asset: str
    digest: str
    sig: StatSig | None = None
    mode: int | None = None
    size: int | None = None
    outside: bool = False  # listed by a manifest outside the asset's declared outputs


@dataclass
class CleanReport:
    """What ``clean`` deleted (or, with ``dry_run``, would delete).

    ``deleted``: project-relative paths of files assetbuild wrote, unchanged since; ``kept``:
    (path, why) of recorded files changed since, left in place; ``failed``: (path, why) of files
    that could not be deleted, or reached, for an error (a read-only file system, no permission):
    not changed, as far as anyone could tell, and still to delete once the error is gone (so the
    records naming them must stay); ``refused``: (path, why) of
    recorded paths never touched (outside the project, through a symlink, under .git...);
    ``dirs``: emptied directory outputs removed; ``cache_existed``/``cache_deleted``: the cache
    directory before, and whether it is gone (else ``cache_kept`` names what is not the store's);
    ``compiled``: the compiled AssetFile kept beside it (``compiled.beside_file``), gone with the cache.
    """

    cache_dir: Path
    dry_run: bool = False
    outputs: bool = False
    cache_existed: bool = False
    cache_deleted: bool = False
    cache_kept: list[Path] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)
    other_projects: int = 0  # heads of other projects sharing the cache directory (clean: all_projects)
    keys_kept: bool = False  # the dynamic partition keys (store.cachedir.KEYS_FILES) stay, as the user's

    @property
    def linked(self) -> list[tuple[str, str]]:
        """The ``refused`` paths reached through a symlinked directory: a layout the README
        recommends for outputs on another disk (left, as documented), not a damaged record."""
        return [(p, why) for p, why in self.refused if why.startswith(_THROUGH_SYMLINK)]

    @property
    def nothing_to_do(self) -> bool:
        return not self.cache_existed and not self.deleted and not self.dirs

    def to_json(self) -> dict[str, Any]:
        return {"cache_dir": str(self.cache_dir), "dry_run": self.dry_run, "cache_existed": self.cache_existed,
                "cache_deleted": self.cache_deleted, "deleted": list(self.deleted),
                "kept": [{"path": p, "why": w} for p, w in (*self.kept, *self.failed, *self.refused)],
                "failed": [{"path": p, "why": w} for p, w in self.failed], "dirs": list(self.dirs),
                "compiled": list(self.compiled), "other_projects": self.other_projects}


@dataclass
class Recorded:
    """What a project's records say assetbuild wrote: ``files``; ``dirs``, the declared directory
    outputs; ``sources``, (path, asset) of the sources the builds read (never deleted, nor
    anything inside one, whatever another record says)."""

    files: list[Written] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)


def recorded_outputs(heads: Mapping[str, Any], read_manifest: Callable[[str], bytes],
                     get_stat: Callable[[str], tuple[StatSig, str] | None],
                     warn: Callable[[str], None]) -> Recorded:
    """The files the latest builds in ``heads`` (asset -> Head) wrote into the project, the
    declared directory outputs and the sources. ``read_manifest(digest)`` gives an asset's list
    of files; one that cannot be read is warned about (its files stay)."""
    out = Recorded()
    files, dirs = out.files, out.dirs
    for asset, head in sorted(heads.items()):
        for src in head.sources if isinstance(head.sources, tuple) else ():
            if isinstance(src, tuple) and len(src) == 2 and isinstance(src[1], str):
                out.sources.append((src[1], asset))
        if isinstance(head.io, str) and head.io.startswith(FILES_IO + "@"):  # its path is the outputs' key part
            try:
                manifest = decode_manifest(read_manifest(head.output_digest))
            except Exception as e:  # noqa: BLE001 - a record or blob that is gone or not a manifest
                warn(f"cannot read the list of files asset {asset!r} wrote ({e}); they stay")
                continue
            for entry in manifest.files:
                if owner_of(entry.path, manifest.outputs) is None:  # a file list no build writes
                    files.append(Written(entry.path, asset, "", outside=True))
                    continue
                hit = get_stat(entry.path)
                sig = hit[0] if hit is not None and hit[1] == entry.digest else None
                files.append(Written(entry.path, asset, entry.digest, sig, entry.mode, entry.size))
            dirs.extend(output_path(d) for d in manifest.outputs if isinstance(d, str) and is_dir_output(d))
        elif head.path is not None:
            sig = head.path_stat if is_stat_sig(head.path_stat) else None
            files.append(Written(head.path, asset, head.output_digest, sig))
    return out


def add_left(recorded: Recorded, left: Iterable[LeftFile]) -> Recorded:
    """``recorded`` with the files that replaced heads left behind (assetbuild.moved): they go
    as outputs of removed assets go, each only while it holds what was written."""
    for f in left:
        recorded.files.append(Written(f.path, f.asset, f.digest, f.sig, f.mode, f.size))
        if f.under is not None:
            recorded.dirs.append(f.under)
    return recorded


class _Unsafe(Exception):
    """A recorded path that is never deleted (the message says why)."""


def _parts(rel: object, cache_rel: str | None) -> list[str]:
    """The components of a recorded path; _Unsafe if it is not a plain path inside the project."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise _Unsafe("not a path")
    if rel.startswith("/") or os.path.isabs(rel):
        raise _Unsafe("outside the project (an absolute path)")
    parts = rel.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise _Unsafe("outside the project" if ".." in parts else "not a plain relative path")
    if ".git" in parts:
        raise _Unsafe("under .git")
    if cache_rel is not None and (rel == cache_rel or rel.startswith(cache_rel + "/")):
        raise _Unsafe("in the cache directory")
    return parts


def _open_dir(root_fd: int, parts: Iterable[str]) -> int | None:
    """A descriptor of the directory ``parts`` below ``root_fd``, reached without following a
    symlink; None if it does not exist (or a file stands in the way); _Unsafe through a symlink."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError):
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    return None
                if stat.S_ISLNK(st.st_mode):
                    raise _Unsafe(f"{_THROUGH_SYMLINK} ({part})") from None
                return None
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise _Unsafe(f"{_THROUGH_SYMLINK} ({part})") from None
                raise
            os.close(fd)
            fd = nfd
        out, fd = fd, -1
        return out
    finally:
        if fd >= 0:
            os.close(fd)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == \
        (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns, b.st_ctime_ns)


def _hash_at(dir_fd: int, name: str, expect: os.stat_result) -> str | None:
    """sha256 of the file ``name`` if it is still the file stat'ed as ``expect``, else None."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
    try:
        if not _same_file(os.fstat(fd), expect):
            return None
        h = hashlib.sha256()
        while chunk := os.read(fd, _CHUNK):
            h.update(chunk)
        return h.hexdigest() if _same_file(os.fstat(fd), expect) else None
    finally:
        os.close(fd)


def _changed(dir_fd: int, name: str, st: os.stat_result, candidates: list[Written]) -> str | None:
    """None if the file holds what one of ``candidates`` recorded, else why it is kept."""
    if stat.S_ISDIR(st.st_mode):
        return "a directory now"
    if stat.S_ISLNK(st.st_mode):
        return "a symlink now"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file now"
    sig = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if any(w.sig == sig for w in candidates):
        return None
    digest: str | None = None
    for w in candidates:
        if (w.size is not None and w.size != st.st_size) or (w.mode is not None and w.mode != normal_mode(st.st_mode)):
            continue
        if digest is None:
            digest = _hash_at(dir_fd, name, st)
            if digest is None:
                return "changed while being checked"
        if digest == w.digest:
            return None
    return "edited"


def clean_outputs(root: Path, recorded: Recorded, *, cache_dir: Path | None, protected: Mapping[str, str] | None = None,
                  dry_run: bool, report: CleanReport) -> None:
    """Delete (``dry_run``: list) in ``report`` the recorded files that are unchanged, then remove
    the emptied declared directories. ``root`` must be resolved; ``protected`` (project-relative
    path -> whose it is: the AssetFile, what a loaded project claims) and the recorded sources
    are never deleted, nor anything inside them."""
    keep = {p.rstrip("/"): what for p, what in (protected or {}).items()}
    keep.update((p.rstrip("/") or ".", f"a source of asset {a!r}") for p, a in recorded.sources
                if isinstance(p, str))
    cache_rel: str | None = None
    if cache_dir is not None:
        real_cache = cache_dir.resolve()
        if root in real_cache.parents:
            cache_rel = real_cache.relative_to(root).as_posix()
    by_path: dict[str, list[Written]] = {}
    for w in recorded.files:
        by_path.setdefault(w.path if isinstance(w.path, str) else repr(w.path), []).append(w)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for rel in sorted(by_path):
            why = _delete_one(root_fd, rel, by_path[rel], cache_rel, keep, dry_run, report)
            if why is not None:
                report.kept.append((rel, why))
        if not dry_run:
            for d in sorted(set(recorded.dirs)):
                _remove_empty_output_dir(root_fd, d, cache_rel, keep, report)
    finally:
        os.close(root_fd)


def _delete_one(root_fd: int, rel: str, candidates: list[Written], cache_rel: str | None,
                keep: dict[str, str], dry_run: bool, report: CleanReport) -> str | None:
    """Delete one recorded file if it is safe and unchanged; why it stays otherwise (None: deleted,
    not there, or in ``report.refused``/``report.failed``)."""
    try:
        parts = _parts(candidates[0].path, cache_rel)
        for i in range(len(parts) + 1):
            what = keep.get("/".join(parts[:i]) or ".")
            if what is not None:
                raise _Unsafe(what if i == len(parts) else f"inside {what}")
        if all(w.outside for w in candidates):
            raise _Unsafe("not under the declared outputs of its list")
        parent = _open_dir(root_fd, parts[:-1])
    except _Unsafe as e:
        report.refused.append((rel, f"{e}; recorded for asset {candidates[0].asset!r}"))
        return None
    except OSError as e:
        report.failed.append((rel, f"cannot be reached: {e.strerror or e}"))
        return None
    if parent is None:
        return None  # not there: nothing to delete
    name = parts[-1]
    try:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        why = _changed(parent, name, st, candidates)
        if why is not None:
            return why
        if not dry_run:
            if not _same_file(os.stat(name, dir_fd=parent, follow_symlinks=False), st):
                return "changed while being checked"
            os.unlink(name, dir_fd=parent)
        report.deleted.append(rel)
        return None
    except FileNotFoundError:
        return None
    except OSError as e:
        report.failed.append((rel, f"cannot be deleted: {e.strerror or e}"))
        return None
    finally:
        os.close(parent)


def _remove_empty_output_dir(root_fd: int, rel: str, cache_rel: str | None, keep: dict[str, str],
                             report: CleanReport) -> None:
    """rmdir the declared directory ``rel`` and its subdirectories, deepest first, where empty."""
    try:
        parts = _parts(rel, cache_rel)
        if any(("/".join(parts[:i]) or ".") in keep for i in range(len(parts) + 1)):
            return
        parent = _open_dir(root_fd, parts[:-1])
    except (_Unsafe, OSError):
        return
    if parent is None:
        return
    try:
        if prune_empty(parent, parts[-1]):  # (at any depth, following no symlink)
            report.dirs.append(rel)
    finally:
        os.close(parent)

