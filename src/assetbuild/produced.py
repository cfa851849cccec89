"""Files an asset writes itself (``@asset(outputs=[...])``): staging, manifests, placing the
files into the project, checking and restoring them (``undeclared`` notices writes elsewhere).

The function writes under a staging directory in the cache directory (``context.out``), so a
failed or killed run never touches the project and every executor on this machine can reach
it. Where the function ran, its files are hashed into a manifest (:class:`StagedOutputs`, the
run's IO manager). The build then stores one blob per file (deduplicated by digest), moves the
files into place (a rename on one file system, a copy otherwise) and removes what a declared
directory holds beyond them. Placed files' stat signatures go to the stat cache, so checking
them again costs one ``stat`` per file and no read.

Nothing is ever deleted outside a declared output: a declared directory that is a symlink is
replaced, not followed, and the walk of a declared directory follows no symlink. A directory
standing where a declared file goes is replaced only when empty: one that holds files is the
user's, and the asset fails naming it (the build checks before it runs: ``-n`` predicts it)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from . import dirtree
from .atomicfile import atomic_writer, create_temp_in, is_temp_name, make_way, write_atomically
from .definitions import AssetContext
from .dirtree import walk
from .manifest import (
    FileEntry,
    Manifest,
    check_manifest,
    encode_manifest,
    is_dir_output,
    normal_mode,
    output_path,
    owner_of,
)

STAGING_DIR = "staging"  # under the cache directory
REPOSITORY_NAMES = frozenset((".git", ".hg"))  # in a declared directory: never the asset's, never removed
_CHUNK = 1 << 20
StatSig = tuple[int, int, int, int]


class OutputsError(Exception):
    """The run's files do not match what the asset declared (one line, naming the file)."""


class StagingContext(AssetContext):
    """The ``context`` of an asset that declares outputs: ``out`` gives paths in its staging
    directory (a directory output is created; a file output's parent is)."""

    def __init__(self, asset: str, project_dir: Any, log: Any, outputs: tuple[str, ...], staging: str,
                 params: Any = None) -> None:
        super().__init__(asset, project_dir, log, params)
        self.outputs = outputs
        self.staging = staging

    def out(self, declared: str) -> Path:
        """A path below a declared directory (``"site/index.html"`` under ``"site/"``) is that
        file in it, its folders made (with a trailing ``/``, that folder)."""
        below = _below_declared_directory(declared, self.outputs)
        decl = below if below is not None else self.declared_output(declared)
        p = Path(self.staging, output_path(decl))
        if is_dir_output(decl):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
        return p


def _below_declared_directory(declared: object, outputs: Sequence[str]) -> str | None:
    """``declared`` (posix) when it names a path strictly inside a declared directory output,
    by plain parts (no ``..``, ``.`` or empty part: nothing that could leave it)."""
    if not isinstance(declared, str):
        return None
    path = declared.replace("\\", "/")
    for d in outputs:
        if is_dir_output(d) and path.startswith(d) and len(path) > len(d):
            parts = path[len(d):].removesuffix("/").split("/")
            if all(part not in ("", ".", "..") for part in parts):
                return path
    return None


class StagedOutputs:
    """The IO manager of one run of an asset with outputs: its "value" must be None, and its
    bytes are the manifest of what the function wrote under ``staging``."""

    name = "files"
    version = "1"

    def __init__(self, asset: str, outputs: tuple[str, ...], staging: str) -> None:
        self.asset = asset
        self.outputs = outputs
        self.staging = staging

    def dump(self, value: Any) -> bytes:
        if value is not None:
            raise OutputsError(f"asset {self.asset!r} declares outputs=, so it must return None or "
                               f"Output(None, metadata=...); it returned {type(value).__module__}."
                               f"{type(value).__qualname__} (write its files through context.out(...))")
        return encode_manifest(self.outputs, scan_staging(self.staging, self.outputs))

    def load(self, data: bytes) -> Any:
        raise OutputsError("files are read from the project, not loaded")


def _hash(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def scan_staging(staging: str, outputs: Sequence[str]) -> list[FileEntry]:
    """Every file the run wrote under its declared outputs, hashed. A declared output that was
    not written, a directory where a file was declared (or the reverse), a symlink or a special
    file is an ``OutputsError`` naming it."""
    entries: list[FileEntry] = []
    for decl in outputs:
        rel = output_path(decl)
        top = os.path.join(staging, rel)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            raise OutputsError(f"declared output {decl!r} was not written (write it at context.out({decl!r}))") from None
        if is_dir_output(decl):
            if not stat.S_ISDIR(st.st_mode):
                raise OutputsError(f"declared output {decl!r} is a directory, but the asset wrote a file there")
            for dirpath, dirnames, filenames in walk(top, onerror=_unreadable(staging)):
                dirnames.sort()
                for n in list(dirnames):
                    full = os.path.join(dirpath, n)
                    if os.path.islink(full):
                        raise OutputsError(f"{_rel(staging, full)} is a symlink; outputs must be regular files")
                for n in sorted(filenames):
                    full = os.path.join(dirpath, n)
                    entries.append(_entry(staging, full))
        else:
            if stat.S_ISDIR(st.st_mode):
                raise OutputsError(f"declared output {decl!r} is a file, but the asset wrote a directory "
                                   f"there (declare it as {decl + '/'!r})")
            entries.append(_entry(staging, top))
    return entries


def _unreadable(staging: str) -> Callable[[OSError], None]:
    def fail(e: OSError) -> None:
        where = _rel(staging, e.filename) if isinstance(e.filename, str) else "a folder it wrote"
        raise OutputsError(f"cannot read {where}: {e.strerror or e}")
    return fail


def _rel(staging: str, full: str) -> str:
    return os.path.relpath(full, staging).replace(os.sep, "/")


def _entry(staging: str, full: str) -> FileEntry:
    rel = _rel(staging, full)
    st = os.lstat(full)
    if stat.S_ISLNK(st.st_mode):
        raise OutputsError(f"{rel} is a symlink; outputs must be regular files")
    if not stat.S_ISREG(st.st_mode):
        raise OutputsError(f"{rel} is not a regular file")
    digest, size = _hash(full)
    return FileEntry(rel, digest, normal_mode(st.st_mode), size)


# --- staging directories ------------------------------------------------------------------------

def new_staging(root: str, asset: str) -> str:
    """A new, empty staging directory for one run of ``asset`` under ``root``: ``<asset>.``
    and mkdtemp's 8 characters (``is_staging_name``). A ``root`` that is not a directory of
    its own (a symlink) is refused (StoreError): an asset's files are not written through it."""
    os.makedirs(root, exist_ok=True)
    if not stat.S_ISDIR(os.lstat(root).st_mode):
        from .errors import StoreError

        raise StoreError(f"{root} is a symlink, not a directory: assetbuild writes no output through a "
                         "symlink in its cache directory; remove it")
    prefix = asset.replace("/", "-")[:40] + "."
    return tempfile.mkdtemp(prefix=prefix, dir=root)


def is_staging_name(name: str) -> bool:
    """Whether ``name`` is one ``new_staging`` gives (``<asset>.`` and 8 of mkdtemp's characters)."""
    return _STAGING_NAME.match(name) is not None


_STAGING_NAME = re.compile(r".+\.[a-z0-9_]{8}\Z", re.S)


def remove_tree(path: str | None) -> None:
    """Remove a staging directory, whatever its depth (``dirtree.remove_tree``: no recursion,
    no symlink followed); what cannot be removed stays for ``sweep_staging``."""
    if path:
        dirtree.remove_tree(path)


def sweep_staging(root: str) -> None:
    """Remove the staging directories a killed build left (the caller holds the build lock):
    directories named as ``new_staging`` names them, and nothing through a symlink."""
    try:
        if not stat.S_ISDIR(os.lstat(root).st_mode):
            return
        entries = list(os.scandir(root))
    except OSError:
        return
    for e in entries:
        if is_staging_name(e.name) and e.is_dir(follow_symlinks=False):
            remove_tree(e.path)


# --- the files in the project -------------------------------------------------------------------

def outputs_state(root: str, manifest: Manifest,
                  digest_of: Callable[[str, os.stat_result], str]) -> list[tuple[str, str]]:
    """What differs between the project and ``manifest``: (problem, project-relative path) with
    problem "missing", "modified" or "extra" (a file under a declared directory that the asset
    did not produce). ``digest_of(path, stat)`` is the file's digest (from the stat cache when
    its signature is known, so an unchanged file is not read). ValueError for a manifest that
    names a path outside its declared outputs: nothing there is looked at (a file the walk of
    a declared directory finds is one; only the others are checked, so a null build pays little)."""
    check_manifest(Manifest(manifest.outputs, ()))
    problems: list[tuple[str, str]] = []
    files = manifest.by_path()
    seen: set[str] = set()
    sep = os.sep
    for decl in manifest.outputs:
        rel_top = output_path(decl)
        top = root + sep + rel_top
        if is_dir_output(decl):
            try:
                st = os.lstat(top)
            except FileNotFoundError:
                if not any(rel.startswith(decl) for rel in files):  # else its files say it
                    problems.append(("missing", rel_top))
                continue
            if not stat.S_ISDIR(st.st_mode):
                problems.append(("modified", rel_top))
                continue
            _walk_state(top, rel_top + "/", files, seen, problems, digest_of)
    for rel, entry in files.items():
        if rel in seen:
            continue
        if owner_of(rel, manifest.outputs) is None:
            raise ValueError(f"it lists {rel!r}, not a plain path under one of its declared outputs")
        p = root + sep + rel
        try:
            st = os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            problems.append(("missing", rel))
            continue
        _check_file(p, rel, st, entry, problems, digest_of)
    return problems


def _check_file(p: str, rel: str, st: os.stat_result, entry: FileEntry, problems: list[tuple[str, str]],
                digest_of: Callable[[str, os.stat_result], str]) -> None:
    if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size or normal_mode(st.st_mode) != entry.mode:
        problems.append(("modified", rel))
        return
    try:
        same = digest_of(p, st) == entry.digest
    except OSError:
        same = False
    if not same:
        problems.append(("modified", rel))


def _walk_state(top: str, prefix: str, files: dict[str, FileEntry], seen: set[str],
                problems: list[tuple[str, str]], digest_of: Callable[[str, os.stat_result], str]) -> None:
    """One pass over a declared directory, in the order a recursive one takes (no symlink
    followed; a stack, not recursion: any depth): every entry is stat'ed once."""
    stack: list[tuple[Iterator[os.DirEntry[str]], str]] = []

    def enter(folder: str, under: str) -> None:
        try:
            with os.scandir(folder) as it:
                stack.append((iter(list(it)), under))  # (listed whole: no descriptor held per level)
        except OSError:
            pass

    enter(top, prefix)
    while stack:
        entries, under = stack[-1]
        for e in entries:
            rel = under + e.name
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if e.name in REPOSITORY_NAMES:
                continue
            if stat.S_ISDIR(st.st_mode):
                enter(e.path, rel + "/")
                break
            entry = files.get(rel)
            if entry is None:
                problems.append(("extra", rel))
                continue
            seen.add(rel)
            _check_file(e.path, rel, st, entry, problems, digest_of)
        else:
            stack.pop()


def _clear_way(root: str, rel: str, outputs: Sequence[str]) -> None:
    """Make the parent directories of ``rel`` (a produced file): anything non-directory in the way
    inside a declared directory (a file, a symlink) is removed; outside one it is an error."""
    parts = rel.split("/")[:-1]
    here = root
    inside = ""
    for part in parts:
        here = here + os.sep + part
        inside = inside + part + "/"
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            os.mkdir(here)
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        if any(inside.startswith(d) for d in outputs if is_dir_output(d)):
            os.unlink(here)  # a file or symlink inside a declared directory: the asset's to replace
            os.mkdir(here)
        elif stat.S_ISLNK(st.st_mode) and os.path.isdir(here):
            continue  # the user's symlinked directory above the outputs: written through, as path outputs are
        else:
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", here)


def _in_declared_dir(rel: str, outputs: Sequence[str]) -> bool:
    return any(rel.startswith(d) for d in outputs if is_dir_output(d))


def _writing_over_dirs(write: Callable[[], object], dst: str, rel: str, outputs: Sequence[str]) -> None:
    """``write()`` the file ``rel`` (out of space, once more when the files replaced before are
    freed: ``freeing_replaced``); if a directory stands at ``dst``, make way and write again:
    inside a declared directory (the asset's own) it goes with what it holds; elsewhere (a
    declared file output) only an empty one goes, else ``IsADirectoryError`` (``make_way``)."""
    from .atomicfile import freeing_replaced
    try:
        freeing_replaced(write)
    except IsADirectoryError:
        if _in_declared_dir(rel, outputs):
            dirtree.remove_tree(dst)  # (what stays makes the write below fail, naming it)
        else:
            make_way(dst)
        freeing_replaced(write)


def _put_in_place(src: str, dst: str, writing_into: Callable[[str], None]) -> None:
    """Move ``src`` to ``dst`` (a rename; across file systems a copy beside ``dst`` then a rename,
    its directory first told to ``writing_into``: a build killed mid-copy leaves a temp file
    there, which the next build sweeps)."""
    try:
        os.replace(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        writing_into(os.path.dirname(dst))
        with open(src, "rb") as f, atomic_writer(dst, crash_at="outputs-copy") as out:
            shutil.copyfileobj(f, out, _CHUNK)
            os.fchmod(out.fileno(), stat.S_IMODE(os.fstat(f.fileno()).st_mode))


def prepare_outputs(root: str, outputs: Sequence[str]) -> None:
    """Declared directories exist as real directories (a symlink or file there is replaced,
    never followed)."""
    for decl in outputs:
        if not is_dir_output(decl):
            continue
        top = root + os.sep + output_path(decl)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            os.makedirs(top, exist_ok=True)
            continue
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(top)
            os.mkdir(top)


def place_outputs(root: str, staging: str, manifest: Manifest,
                  placed: Callable[[str, os.stat_result, FileEntry], None],
                  writing_into: Callable[[str], None] = lambda d: None) -> None:
    """Move the staged files into the project, then remove what the declared directories hold
    beyond them. ``placed(rel, stat, entry)`` is told each file's new stat signature;
    ``writing_into(dir)``, each directory a temp file is about to be written in."""
    prepare_outputs(root, manifest.outputs)
    for entry in manifest.files:
        dst = root + os.sep + entry.path
        with _naming(dst, staging):
            _clear_way(root, entry.path, manifest.outputs)
            _writing_over_dirs(partial(_put_in_place, staging + os.sep + entry.path, dst, writing_into), dst,
                               entry.path, manifest.outputs)
            placed(entry.path, os.stat(dst), entry)
    remove_extras(root, manifest)


@contextlib.contextmanager
def _naming(dst: str, staging: str | None = None) -> Iterator[None]:
    """An OSError putting the file ``dst`` in place names ``dst``, the user's file, rather than
    what the failing call was given: the temp file written beside it, or its staged copy
    (``cannot write its output gen/f.txt: Read-only file system``). An error naming another
    path of the project (a file where a directory goes) names that."""
    try:
        yield
    except OSError as e:
        f = e.filename
        if e.errno is None or not isinstance(f, str) or not (
                is_temp_name(os.path.basename(f)) or (staging and f.startswith(staging + os.sep))):
            raise
        raise OSError(e.errno, e.strerror, dst) from e


def remove_extras(root: str, manifest: Manifest) -> list[str]:
    """Remove files (and symlinks, and then-empty directories) under the declared directories
    that ``manifest`` does not list; the removed project-relative paths."""
    keep = manifest.by_path()
    removed: list[str] = []
    for decl in manifest.outputs:
        if not is_dir_output(decl):
            continue
        top = root + os.sep + output_path(decl)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        folders: list[str] = []
        holding: set[str] = set()  # folders that keep something: no rmdir is tried on them
        for dirpath, dirnames, filenames in walk(top):
            folders.append(dirpath)
            for n in list(dirnames):
                full = os.path.join(dirpath, n)
                if n in REPOSITORY_NAMES:  # a gh-pages worktree's .git stays
                    dirnames.remove(n)
                elif os.path.islink(full):  # never followed: the link itself goes
                    dirnames.remove(n)
                    filenames.append(n)
            for n in filenames:
                full = os.path.join(dirpath, n)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                if rel in keep or n in REPOSITORY_NAMES:
                    holding.add(dirpath)
                    continue
                try:
                    os.unlink(full)
                    removed.append(rel)
                except OSError:
                    holding.add(dirpath)
        for dirpath in reversed(folders[1:]):  # deepest first: only an empty one goes
            if dirpath not in holding:
                try:
                    os.rmdir(dirpath)
                    continue
                except OSError:
                    pass
            holding.add(os.path.dirname(dirpath))
    return removed


def restore_outputs(root: str, manifest: Manifest, problems: Iterable[tuple[str, str]],
                    read_blob: Callable[[str], bytes], blob_file: Callable[[str], Path | None],
                    placed: Callable[[str, os.stat_result, FileEntry], None],
                    writing_into: Callable[[str], None] = lambda d: None) -> None:
    """Write back the stored bytes of each missing or modified file and remove extras.
    ``read_blob`` raises ``CacheCorrupt`` for a blob that is gone (nothing more is written then).
    ``writing_into(dir)`` is told each directory before a temp file is written in it. ValueError
    for a manifest no build writes (``check_manifest``): nothing is written then."""
    files = check_manifest(manifest).by_path()
    prepare_outputs(root, manifest.outputs)
    extras = False
    for problem, rel in problems:
        if problem == "extra":
            extras = True
            continue
        todo = [files[rel]] if rel in files else [f for f in manifest.files if f.path.startswith(rel + "/")]
        for entry in todo:
            dst = root + os.sep + entry.path
            _clear_way(root, entry.path, manifest.outputs)
            writing_into(os.path.dirname(dst))
            src = blob_file(entry.digest)
            write = (partial(_copy_verified, str(src), dst, entry.digest) if src is not None
                     else partial(write_atomically, dst, read_blob(entry.digest)))
            with _naming(dst):
                _writing_over_dirs(write, dst, entry.path, manifest.outputs)
                os.chmod(dst, entry.mode & ~_umask())
            placed(entry.path, os.stat(dst), entry)
    if extras:
        remove_extras(root, manifest)


def _copy_verified(src: str, dst: str, digest: str) -> None:
    """Copy a large blob file to ``dst`` atomically, checking its digest on the way."""
    from .errors import CacheCorrupt

    h = hashlib.sha256()
    with open(src, "rb") as f, atomic_writer(dst, crash_at="outputs-copy") as out:  # an error leaves no temp file
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            out.write(chunk)
        if h.hexdigest() != digest:
            raise CacheCorrupt(digest, "corrupt (its bytes do not match its digest)")


_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def ingest_file(path: str, entry: FileEntry, put_blob: Callable[[bytes, str], Any],
                put_blob_file: Callable[[str, str, int], Any], spool_dir: str, big: int) -> None:
    """Store one staged file as the blob of its digest: small ones by their bytes, large ones
    copied into the store's spool directory and renamed into place (never read whole)."""
    if entry.size < big:
        with open(path, "rb") as f:
            put_blob(f.read(), entry.digest)
        return
    fd, tmp = create_temp_in(spool_dir, "output", mode=0o644)  # (a symlink in its place: NotASpoolDir)
    try:
        with open(path, "rb") as f, open(fd, "wb", closefd=False) as out:
            shutil.copyfileobj(f, out, _CHUNK)
            out.flush()
            os.fsync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
    put_blob_file(tmp, entry.digest, entry.size)

