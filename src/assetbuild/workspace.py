"""The project's files: digests of declared sources (behind a stat cache) and path outputs.

A source file is read only when its stat signature (size, mtime_ns, ctime_ns, inode) differs
from the one recorded with its digest, so an unchanged file costs one ``stat``. A signature is
recorded only once the file's mtime and ctime are RACY_NS old (git's "racy clean" rule):
timestamps have a granularity (a clock tick on Linux, 1-2 s on HFS+ and FAT), so a same-size edit
landing in the same tick as the hash would otherwise keep the old signature and its old digest.
The ctime counts because the mtime is the user's to set (``touch -d``, ``cp -p``, ``tar x``): a
file written just now with a past mtime is as racy as any, and only its ctime says so.

Path outputs are workspace copies of stored bytes: written atomically, checked by stat then by
digest, and restored from the store when missing or edited. They are never the authority, so
they are not fsynced (a torn copy after a power loss is detected and restored). Their signatures
are taken as they are written or hashed, in the very tick an edit could follow: the store keeps
one only if the commit that records it is in a later tick (``store.racy``), and is told each
one's device for that (``device_of``); so are those of the files assets write. A build that
records the snapshot hashes again, at its end, those not kept whose tick is past (``vouch_racy``).

Only regular files are read. A FIFO would block the read forever and ``/dev/zero`` never ends,
so a source that is neither a regular file nor a directory (or holds such a file, or a symlink
loop) is ``SourceUnusable``, found by ``stat`` before any open (opening some devices has effects)
and again by ``fstat`` on the open file (it may have been swapped in between).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .atomicfile import IN_THE_WAY, dir_in_the_way, make_way, sweep_temps, write_atomically
from .dirtree import walk
from .errors import SourceMissing, SourceUnusable
from .snapshot import sig_from

_CHUNK = 1 << 20
_SPOOL_MIN = 1 << 20  # a produced file from this size on is copied into the store, never read whole
CLAIMS_FILE = ("code", ".claims")  # under the cache directory (beside .editable.json): Workspace.note_claim
RACY_NS = 2_000_000_000  # signatures of files modified more recently than this are not recorded
StatSig = tuple[int, int, int, int]
_WINDOWS = os.sep != "/"  # where an absolute path need not start with "/" (a drive letter, a UNC share)


class StatCache(Protocol):
    def get_stat(self, path: str) -> tuple[StatSig, str] | None: ...

    def put_stat(self, path: str, sig: StatSig, digest: str, *, device: int | None = None) -> None: ...


def stat_sig(st: os.stat_result) -> StatSig:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def fs_now_ns() -> int:
    """The real clock the racy rule compares file times with (never ``ASSETBUILD_NOW``: file
    times are the real clock's); one function, so tests can step it past RACY_NS."""
    return time.time_ns()


def is_racy(st: os.stat_result, now_ns: int) -> bool:
    """Whether a signature taken at ``now_ns`` may hide a later edit: the file was changed less
    than RACY_NS before. The later of mtime and ctime, since a past mtime can be set at will
    while the ctime (moved by every write and by that very ``utime``) cannot."""
    return now_ns - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS


class NotRegularFile(OSError):
    """A path that was to be read as data is a FIFO, a socket or a device."""


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words, for messages."""
    for is_kind, words in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                           (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                           (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if is_kind(mode):
            return words
    return "a special file"


def _stored_file(e: os.DirEntry[str], stored: Callable[[str, int], bool]) -> bool:
    """Whether the regular file ``e`` holds bytes the cache has stored (``stored``). An empty
    file never does: any build may have stored no bytes, and a `.nojekyll` is the user's."""
    try:
        st = e.stat(follow_symlinks=False)
        return stat.S_ISREG(st.st_mode) and st.st_size > 0 and stored(hash_file(e.path), st.st_size)
    except OSError:
        return False


def hash_file(path: str) -> str:
    """sha256 of a regular file's contents; IsADirectoryError or NotRegularFile for anything else
    (O_NONBLOCK: opening a FIFO returns at once, and the fstat then refuses it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            cls = IsADirectoryError if stat.S_ISDIR(mode) else NotRegularFile
            raise cls(errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL,
                      f"is {file_kind(mode)}, not a regular file", path)
        h = hashlib.sha256()
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def mtime_version(st: os.stat_result) -> str:
    """The data version of a file under ``version="mtime"``: its size and mtime_ns, never its
    bytes (a digest, so it reads like every other data version and cannot equal a content one)."""
    return hashlib.sha256(f"mtime\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()


def _unusable(rel: str, err: OSError) -> SourceUnusable:
    if isinstance(err, NotRegularFile):
        return SourceUnusable(rel, err.strerror)
    if err.errno == errno.ELOOP:
        return SourceUnusable(rel, "is a symlink loop")
    return SourceUnusable(rel, f"cannot be read ({err.strerror or err})")


class Workspace:
    """Reads and writes files of one project directory, using ``cache`` to skip unchanged files."""

    def __init__(self, project_dir: Path, cache: StatCache | None, *, record: bool = True,
                 by_mtime: frozenset[str] = frozenset(), journal: str | None = None) -> None:
        self.root = project_dir
        self._root_s = str(project_dir)
        self.cache = cache
        self.record = record  # False for dry runs and status: write nothing
        self.by_mtime = by_mtime  # sources (as declared) versioned by size and mtime_ns: never read
        self._memo: dict[str, str] = {}
        self._own_streams: frozenset[tuple[int, int]] | None = None  # see snapshot
        self._dirs: set[str] = set()  # output directories known to exist
        self._listed_dirs: set[str] = set()  # outputs= directories listed in the journal (``_listed``)
        self._made: set[str] = set()  # ...those this build made (a cold build's out/): in_the_way looks at nothing there
        self._absent: set[str] = set()  # path outputs in_the_way found nothing at (write_path's guess)
        # each path output written, by absolute path -> its signature as written (snapshot.sig_from):
        # the snapshot records it without a second stat (session.snapshots)
        self.written: dict[str, tuple[int, int, int, int, int]] = {}
        self._devices: dict[str, int] = {}  # path output -> the device of the signature last taken of it
        self._staging_root: str | None = None
        # where this build lists each directory before its first write there (None: each is swept then)
        self.journal = journal
        self._journaled = False
        self._sweep_all = False  # there was no journal: each directory is swept at its first write

    def abspath(self, rel: str) -> str:
        # (on POSIX a leading '/' is what isabs tests: no call for each source and path output)
        return rel if rel[:1] == "/" or (_WINDOWS and os.path.isabs(rel)) else self._root_s + os.sep + rel

    def _cache_name(self, abspath: str) -> str:
        # Relative names keep the stat cache valid when the project moves (it only costs a re-stat).
        if abspath.startswith(self._root_s + os.sep):
            return abspath[len(self._root_s) + 1:]
        return abspath

    def file_digest(self, abspath: str, st: os.stat_result | None = None) -> str:
        """sha256 of a file's contents, reading it only if its stat signature changed."""
        if st is None:
            st = os.stat(abspath)
        sig = stat_sig(st)
        name = self._cache_name(abspath)
        if self.cache is not None:
            hit = self.cache.get_stat(name)
            if hit is not None and hit[0] == sig:
                return hit[1]
        now = fs_now_ns()
        digest = hash_file(abspath)
        if self.cache is not None and self.record and not is_racy(st, now):
            self.cache.put_stat(name, sig, digest)
        return digest

    def source_version(self, rel: str, *, fresh: bool = False) -> str:
        """Data version of a source file or directory; SourceMissing if it does not exist.

        The first version read is the one this build's keys use, for the whole build: ``fresh``
        reads the file again (has it changed since?) but never replaces it, or an asset keyed
        from the old bytes that ran on new ones would pass that check and be recorded."""
        if not fresh and rel in self._memo:
            return self._memo[rel]
        p = self.abspath(rel)
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            raise SourceMissing(rel) from None
        except OSError as e:
            raise _unusable(rel, e) from None
        by_mtime = rel in self.by_mtime
        if stat.S_ISDIR(st.st_mode):
            version = self._dir_version(p, rel, by_mtime)
        elif stat.S_ISREG(st.st_mode):
            try:
                version = mtime_version(st) if by_mtime else self.file_digest(p, st)
            except FileNotFoundError:
                raise SourceMissing(rel) from None
            except OSError as e:
                raise _unusable(rel, e) from None
        else:
            raise SourceUnusable(rel, f"is {file_kind(st.st_mode)}, not a regular file or directory")
        self._memo.setdefault(rel, version)
        return version

    def _dir_version(self, top: str, rel_top: str, by_mtime: bool = False) -> str:
        """Digest of the sorted relative paths and contents (or ``mtime_version``s) of every file
        below ``top``: editor swap and backup files too, which watch ignores as changes, since an
        asset receiving the directory may read them (a result that lists them is not reused once
        they are gone).

        Symlinked directories are followed (an asset reading the directory sees their files),
        except a link to one of its own ancestors (a loop); a dangling symlink is skipped. Any
        depth: ``dirtree.walk`` keeps a stack, not a recursion. A
        FIFO, socket or device, a symlink loop or an unreadable file or directory below ``top``
        makes the whole source unusable (named by ``rel_top`` and the path below it).
        """
        def inner(path: str) -> str:
            return rel_top.rstrip("/") + "/" + os.path.relpath(path, top).replace(os.sep, "/")

        def walk_error(e: OSError) -> None:
            if not isinstance(e, FileNotFoundError):  # else: removed while we walked
                raise _unusable(inner(e.filename) if e.filename else rel_top, e)

        entries: list[tuple[str, str]] = []
        for dirpath, dirnames, filenames in walk(top, follow_symlinks=True, onerror=walk_error):
            dirnames.sort()
            for fn in filenames:
                full = os.path.join(dirpath, fn)
                try:
                    st = os.stat(full)
                    if not stat.S_ISREG(st.st_mode):
                        raise SourceUnusable(inner(full), f"is {file_kind(st.st_mode)}, not a regular file")
                    digest = mtime_version(st) if by_mtime else self.file_digest(full, st)
                except FileNotFoundError:
                    continue  # a dangling symlink, or removed while we walked
                except OSError as e:
                    raise _unusable(inner(full), e) from None
                rel = os.path.relpath(full, top).replace(os.sep, "/")
                entries.append((rel, digest))
        entries.sort()
        h = hashlib.sha256(b"dir\0")
        for rel, d in entries:
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + d.encode() + b"\n")
        return h.hexdigest()


    # --- path outputs ------------------------------------------------------------------------

    def path_state(self, rel: str, digest: str, recorded: StatSig | None) -> tuple[str, StatSig | None]:
        """("ok" | "missing" | "modified", current stat signature) of a path output."""
        p = self.abspath(rel)
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            return "missing", None
        sig = stat_sig(st)
        self._devices[rel] = st.st_dev
        if recorded is not None and sig == recorded:
            return "ok", sig
        if not stat.S_ISREG(st.st_mode):
            return "modified", sig  # a FIFO or device put there: never opened, replaced on restore
        try:
            same = hash_file(p) == digest
        except (IsADirectoryError, PermissionError, NotRegularFile):
            return "modified", sig
        return ("ok" if same else "modified"), sig

    def path_unchanged(self, rel: str, recorded: StatSig) -> bool:
        """Whether a path output's stat signature is ``recorded``: ``path_state``'s "ok" without
        a hash (False: ask ``path_state``, which says what it is instead)."""
        try:
            return stat_sig(os.stat(self.abspath(rel))) == recorded
        except OSError:
            return False

    def write_path(self, rel: str, data: bytes) -> StatSig:
        """Write ``data`` to the workspace path atomically (temp file + rename); return its stat.

        The temp files killed builds left are swept (``_writing_into``), so they do not stay in
        the user's directory (a live writer's are locked, and kept).
        """
        p = self.abspath(rel)
        d = os.path.dirname(p)
        if d not in self._dirs:
            if not os.path.isdir(d):
                made, up = [], d
                while up and not os.path.isdir(up) and os.path.dirname(up) != up:
                    made.append(up)
                    up = os.path.dirname(up)
                os.makedirs(d, exist_ok=True)
                self._made.update(made)
            self._writing_into(d)
            self._dirs.add(d)
        new = rel in self._absent  # (a guess: if something came there since, it is replaced as ever)
        if new:
            self._absent.discard(rel)
        try:
            st = write_atomically(p, data, crash_at="path-rename", new=new)
        except IsADirectoryError:  # a directory where the file goes: only an empty one makes way
            make_way(p)
            st = write_atomically(p, data, crash_at="path-rename")
        self.written[p] = sig_from(st)
        self._devices[rel] = st.st_dev
        return stat_sig(st)

    def _listed(self, d: str) -> None:
        """``_writing_into`` the directory of an ``outputs=`` file about to be written beside
        (a copy across file systems, a restore), once a build."""
        if d not in self._dirs and d not in self._listed_dirs:
            self._writing_into(d)
            self._listed_dirs.add(d)

    def _writing_into(self, d: str) -> None:
        """Before the build's first write into the directory ``d``: list it in the journal. A
        build killed from then on leaves it listed, and the next build sweeps the directories
        listed: at its first write, or as it ends if it writes nothing (``finish``, which also
        empties the list of a build that ended). Listing a directory
        of 10,000 outputs to sweep it took 3.6 ms of every build that wrote there. Swept now, as
        before there was a journal: ``d``, if there is none yet (a new cache, or one an earlier
        version kept, whose killed builds listed nothing), or if it cannot be written."""
        if self.journal is not None:
            try:
                if not self._journaled:
                    self._sweep_all = self._sweep_listed() is None
                fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
                             | (os.O_APPEND if self._journaled else os.O_TRUNC), 0o644)
                try:
                    os.write(fd, os.fsencode(d) + b"\0")  # (a name may hold a newline, never a NUL)
                finally:
                    os.close(fd)
                self._journaled = True
                if not self._sweep_all:
                    return
            except OSError:
                self.journal = None
        sweep_temps(d)

    def _sweep_listed(self) -> int | None:
        """Sweep the directories the journal lists (a killed build's); how many, None if there is
        no journal."""
        assert self.journal is not None
        try:
            with open(os.open(self.journal, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
                listed = [os.fsdecode(d) for d in f.read().split(b"\0") if d]
        except FileNotFoundError:
            return None
        for d in listed:
            sweep_temps(d)
        return len(listed)

    def finish(self) -> None:
        """The build's writes ended, whole or their temp files removed: its journal is emptied,
        and kept (it says that killed builds list what they leave); a later write lists its
        directory again. A build that wrote nothing sweeps what a killed one listed now."""
        if self.journal is None:
            return
        try:
            if not self._journaled and not self._sweep_listed():
                return
            self._journaled = self._sweep_all = False
            self._dirs.clear()
            self._listed_dirs.clear()
            os.close(os.open(self.journal, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC))
        except OSError:
            pass

    def device_of(self, rel: str) -> int | None:
        """The device of the path output ``rel`` as ``write_path`` or ``path_state`` last took
        its signature (None: neither did), which the store judges that signature's raciness by."""
        return self._devices.get(rel)

    def vouch_racy(self, store: Any) -> None:
        """Hash again the path outputs whose signature a commit of this build did not record
        (``store.smudged``: written or hashed in the tick of that commit, see ``store.racy``) if
        that tick is past now, and put the signature of each that holds its bytes (the next
        commit keeps it): the next build need not hash them, nor the snapshot this build records
        count them as changed. Called by a build that records the snapshot, as late as it can
        (the later, the fewer are still racy; a later null build is answered only without them);
        another build leaves them to the next one to hash."""
        smudged = getattr(store, "smudged", None)
        tick = store.fs_tick() if smudged else None
        if tick is None:
            return
        from .snapshot import is_racy, sig_of

        for name in sorted(smudged):
            head = store.get_head(name)
            if head is None or head.path is None or head.path_stat is not None \
                    or is_racy(sig_of(self.abspath(head.path)), tick):
                continue  # (its tick is not past: a signature taken now could not be trusted either)
            state, sig = self.path_state(head.path, head.output_digest, None)
            if state == "ok" and sig is not None:
                store.put_head(name, head._replace(path_stat=sig), device=self._devices[head.path])

    def in_the_way(self, rel: str) -> str | None:
        """Why the file ``rel`` (a path output, a declared file output) cannot be written without
        deleting what assetbuild did not write, or cannot be written at all (its path cannot be
        reached: the system's reason); None if nothing stands in its way. (Nothing at all there
        tells ``write_path`` it writes a new file.) In a directory this build made, nothing is
        looked at (10,000 lookups of a cold build): what an asset put there since is replaced
        as ever, or, a directory of files, fails the write, and is never deleted."""
        p = self.abspath(rel)
        if self._made and os.path.dirname(p) in self._made:
            self._absent.add(rel)
            return None
        try:
            if not stat.S_ISDIR(os.lstat(p).st_mode):
                return None  # a file or a symlink: replaced, nothing lost
            if not dir_in_the_way(p):
                return None
        except FileNotFoundError:
            self._absent.add(rel)
            return None
        except OSError as e:
            return self._unreachable(rel, e)
        return IN_THE_WAY

    def _unreachable(self, rel: str, err: OSError) -> str:
        """What stops a write to ``rel`` that cannot even look there: a file where one of its
        directories goes, else the system's reason (a name too long, a symlink loop, no
        permission), with the directory above it where that starts when it is one."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            above = "/".join(parts[:i])
            try:
                if not stat.S_ISDIR(os.stat(self.abspath(above)).st_mode):
                    return f"{above} is a file, where a directory must be; move it away"
            except OSError as e:
                if e.errno == err.errno and e.errno != errno.ENAMETOOLONG:  # (past PATH_MAX: no one part is at fault)
                    return f"{err.strerror or err} (at {above})"
                break
        return str(err.strerror or err)


    # --- files an asset writes itself (assetbuild.produced) ------------------------------------

    def staging_dir(self, asset: str) -> str:
        """A new staging directory for one run of ``asset``, in the cache directory (on the
        project's file system by default, so placing a file is a rename). The first one of a
        build sweeps what killed builds left (the build holds the cache's lock). StoreError if
        it cannot be made (the cache directory cannot be written)."""
        from .produced import STAGING_DIR, new_staging, sweep_staging

        if self._staging_root is None:
            cache_root = getattr(self.cache, "root", None)
            if cache_root is None:  # a store without a directory (tests' MemoryStore)
                import tempfile

                self._staging_root = tempfile.mkdtemp(prefix="assetbuild-staging-")
            else:
                self._staging_root = os.path.join(str(cache_root), STAGING_DIR)
                sweep_staging(self._staging_root)
        try:
            return new_staging(self._staging_root, asset)
        except OSError as e:  # (a full disk, no inode left, an immutable directory: the cache's)
            from .errors import StoreError
            from .store.failures import disk_message

            raise StoreError(disk_message(Path(self._staging_root).parent,
                                          f"cannot make a staging directory in {self._staging_root}", e)) from e

    def unclaimed_files(self, decl: str, keep: Any, most: int = 6,
                        stored: Callable[[str, int], bool] | None = None) -> list[str]:
        """Up to ``most`` project-relative files that placing the declared directory ``decl``
        would delete, ``keep`` (the paths the asset writes) and temp files aside: a file standing
        where it goes, or what it holds (no symlink followed; ``.git`` and ``.hg`` never go). A symlink
        where it goes is replaced as a link: nothing. A file under it whose bytes the cache holds
        (``stored(sha256, size)``) is an earlier build's, not the user's (the project moved, or a
        second checkout, sharing the cache): it goes like any extra."""
        from .atomicfile import is_temp_name
        from .produced import REPOSITORY_NAMES

        rel_top = decl.rstrip("/")
        try:
            st = os.lstat(self.abspath(rel_top))
        except OSError:
            return []
        if not stat.S_ISDIR(st.st_mode):
            return [] if stat.S_ISLNK(st.st_mode) else [rel_top]
        found: list[str] = []
        stack = [(self.abspath(rel_top), rel_top + "/")]
        while stack and len(found) < most:
            folder, under = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name, reverse=True)
            except OSError:
                continue
            for e in entries:
                if e.name in REPOSITORY_NAMES or under + e.name in keep or is_temp_name(e.name):
                    continue  # (a temp file: a killed build's, which this one sweeps)
                if e.is_dir(follow_symlinks=False):
                    stack.append((e.path, under + e.name + "/"))
                elif stored is None or not _stored_file(e, stored):
                    found.append(under + e.name)
        return sorted(found)[:most]

    def note_claim(self, manifest: Any) -> None:
        """Note the digests of the small files a first claim of a folder is about to place
        (``code/.claims`` in the cache; appended, not synced: a line per file, once per folder):
        a build killed after placing them, before its record committed, leaves files whose
        bytes were in its lost batch, which the next build would take for the user's."""
        from .store.cas import INLINE_MAX

        small = "".join(f"{e.digest}\n" for e in manifest.files if e.size <= INLINE_MAX)
        if self.journal is not None and small:
            try:
                os.makedirs(os.path.join(os.path.dirname(self.journal), CLAIMS_FILE[0]), exist_ok=True)
                fd = os.open(os.path.join(os.path.dirname(self.journal), *CLAIMS_FILE),
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
                try:
                    os.write(fd, small.encode())
                finally:
                    os.close(fd)
            except OSError:  # (noted or not, the build goes on: the note only spares a refusal)
                pass

    def claimed(self) -> frozenset[str]:
        """The digests ``note_claim`` noted: files an earlier build of this cache placed."""
        try:
            with open(os.path.join(os.path.dirname(self.journal or ""), *CLAIMS_FILE), "rb") as f:
                return frozenset(f.read().decode("ascii", "replace").split()) if self.journal else frozenset()
        except OSError:
            return frozenset()

    def _placed(self, rel: str, st: os.stat_result, entry: Any) -> None:
        if self.cache is not None and self.record:  # (just placed: kept only if not racy at the commit)
            self.cache.put_stat(rel, stat_sig(st), entry.digest, device=st.st_dev)

    def outputs_state(self, manifest: Any) -> list[tuple[str, str]]:
        """(problem, path) of each produced file that is missing, modified, or extra."""
        from .produced import outputs_state

        return outputs_state(self._root_s, manifest, self.file_digest)

    def place_outputs(self, staging: str, manifest: Any, store: Any) -> None:
        """Store each of a run's staged files in ``store`` (one blob per digest), then move
        them into the project (OSError if one cannot be placed)."""
        from .produced import ingest_file, place_outputs
        from .store.cas import INLINE_MAX

        if manifest.files and not os.path.exists(staging + os.sep + manifest.files[0].path):
            raise FileNotFoundError(errno.ENOENT, "the files it wrote are not on this machine (outputs= needs "
                                    "an executor whose workers share the cache directory)",
                                    self.abspath(manifest.files[0].path))
        spool = getattr(store, "spool_dir", None)
        spool_dir = str(spool()) if spool is not None else ""
        seen: set[str] = set()
        for entry in manifest.files:
            if entry.digest in seen:
                continue
            seen.add(entry.digest)
            if entry.size > INLINE_MAX and store.has_blob(entry.digest, entry.size):
                continue  # deduplicated: the store has this file already
            try:
                ingest_file(staging + os.sep + entry.path, entry, store.put_blob, store.put_blob_file, spool_dir,
                            big=_SPOOL_MIN if spool_dir else 1 << 62)
            except OSError as e:  # the cache's disk (staging, spool): as any write of the cache, not the asset's
                from .atomicfile import NotASpoolDir
                from .errors import StoreError
                from .store.failures import disk_message

                if isinstance(e, NotASpoolDir):
                    raise StoreError(f"cannot store {entry.path} in the cache: {e}") from e
                where = spool_dir or staging  # where the copy goes (its disk's free space, not the cache root's)
                raise StoreError(disk_message(Path(where), f"cannot store {entry.path} in the cache "
                                              f"(copying it into {where})", e)) from e
        place_outputs(self._root_s, staging, manifest, self._placed, self._listed)

    def remove_staging(self, staging: str) -> None:
        from .produced import remove_tree

        remove_tree(staging)

    def restore_outputs(self, manifest: Any, problems: list[tuple[str, str]], read_blob: Any, blob_file: Any) -> None:
        """Write back the stored bytes of the files in ``problems`` (``CacheCorrupt``: a blob is gone)."""
        from .produced import restore_outputs

        restore_outputs(self._root_s, manifest, problems, read_blob, blob_file, self._placed, self._listed)

    def snapshot(self, skip: list[str]) -> Any:
        """The project's files' stat signatures (see ``undeclared.snapshot_project``)."""
        from .undeclared import own_stream_files, snapshot_project

        if self._own_streams is None:  # once, at the build's first snapshot (before any asset runs)
            self._own_streams = own_stream_files()
        cache_root = getattr(self.cache, "root", None)
        if cache_root is not None:
            try:
                skip = [*skip, str(Path(cache_root).resolve().relative_to(self.root.resolve()))]
            except ValueError:
                pass
        return snapshot_project(self._root_s, skip, self._own_streams)
