"""Which installed distribution, at which version, a top-level import name comes from.

A code fingerprint names a library by its distribution's version (DESIGN §4). Most import
names are also their distribution's name (``numpy``) and cost one metadata lookup; the others
(``sklearn`` from scikit-learn, ``yaml`` from PyYAML) need the map of import names to
distributions, ``importlib.metadata.packages_distributions()``, which reads the file list of
every installed distribution (~0.3 s in a data science environment). So that map, with every
distribution's version, is made at most once per process and kept in the cache directory
(``code/.distributions.json``) with the ``sys.path`` entries it was made from and their
times (``_signature``); a later run answers every name from it without importlib.metadata. It is
not kept while a site directory is as new as the clock (``_racy``): an install in that same
clock tick would not change the directory's time.
Installing, upgrading or removing a package changes its site directory's time, and the table
is made again. A file that is unreadable, damaged or from other entries is made again, silently.
A version edited in place in its metadata file (an ``.egg-info``'s ``PKG-INFO``, whose folder
name need not carry it, as ``setup.py develop`` rewrites it) changes no directory's time: the
table keeps each metadata file's stat signature, taken before reading it, and a version it
answers whose file's signature changed makes it again (``_Table.fresh``).

The answer is the distribution's version from its metadata, never a module's ``__version__``:
the key must not depend on whether a library happens to be imported already in this process
(an asset imported it earlier in the same watch session). A name that no installed
distribution provides has no version (None), imported or not.

But a process that lives across builds (a notebook, watch mode) keeps the modules it imported:
after ``%pip install -U mylib`` the metadata says 2.0 while ``sys.modules`` still holds 1.0's
code, and an asset run in this process would store 1.0's result under 2.0's key.
``IMPORTED`` remembers which version each imported library really is, and a build whose keys
name another one is refused (``checked_version``).

A library installed editable enters keys by its version and its source's digest
(``editable``): its code changes under the same version. Its digest is part of the version
``IMPORTED`` compares, so a process that imported it and builds again after an edit is refused.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import types
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import LibraryChanged
from ..plugins import distribution_name
from .editable import SourceDigests, is_editable, keyed, plain

MAP_FILE = ("code", ".distributions.json")  # under the cache directory; `clean` removes it
_FORMAT = 5  # 5: the editable distributions' import names (``editable``); 4: each distribution's metadata file and its signature (``files``); 3: each entry's time is max(mtime, ctime), with its device


def _signature() -> list[list[Any]]:
    """Each ``sys.path`` entry with the time it last changed (ns: the later of its mtime and
    ctime, as ``snapshot.dir_time``) and its device if it holds installed distributions (a
    ``*.dist-info`` or ``*.egg-info``), 0 and 0 if it holds none, None and None if it cannot be
    listed. Only the times of site directories count: the working directory and the project
    directory are often on the path, and every file written there changes their times."""
    out: list[list[Any]] = []
    for entry in sys.path:
        path = os.path.abspath(entry or ".")
        try:
            with os.scandir(path) as it:
                holds = any(e.name.endswith((".dist-info", ".egg-info")) for e in it)
            st = os.stat(path) if holds else None
        except OSError:
            out.append([path, None, None])
            continue
        out.append([path, max(st.st_mtime_ns, st.st_ctime_ns), st.st_dev] if st is not None else [path, 0, 0])
    return out


def _racy(signature: list[list[Any]], stamp: tuple[int, int] | None) -> bool:
    """Whether a site directory of ``signature`` may change again without its time changing:
    it changed in the clock tick of ``stamp`` (device, the filesystem's time, taken before the
    signature) or after; on another device, less than RACY_NS before it (git's racy rule). A
    table kept from such a signature could outlive an install made as it was scanned."""
    from ..snapshot import RACY_NS

    if stamp is None:
        return True
    dev, tick = stamp
    return any(t and (t >= tick if d == dev else t > tick - RACY_NS) for _, t, d in signature)


def _stamp(directory: Path) -> tuple[int, int] | None:
    """(device, time) of the filesystem's clock now, read from a file in ``directory`` created or
    touched for it; None if it cannot be."""
    probe = directory / ".distributions.stamp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        os.utime(probe)
        st = os.stat(probe)
    except OSError:
        return None
    return st.st_dev, st.st_mtime_ns


def metadata_file(dist: Any) -> str | None:
    """The file a distribution's version is read from (a ``*.dist-info``'s METADATA, an
    ``*.egg-info``'s PKG-INFO, or a one-file egg-info itself); None if it has none on disk."""
    where = getattr(dist, "_path", None)  # a PathDistribution's directory (*.dist-info, *.egg-info)
    if where is None:
        return None
    where = str(where)
    for f in (os.path.join(where, "METADATA"), os.path.join(where, "PKG-INFO"), where):
        if os.path.isfile(f):
            return f
    return None


def _sig(path: str) -> list[int] | None:
    """A file's stat signature as the kept table holds it (``snapshot.sig_of``'s, as a list)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _settled(sig: list[int] | None) -> list[int] | None:
    """``sig``, or None (changed: looked up again at the next ``refresh``) if its file was
    modified so recently that another write in the same clock tick would leave it as it is."""
    import time

    from ..snapshot import RACY_NS

    return sig if sig is not None and max(sig[1], sig[2]) <= time.time_ns() - RACY_NS else None


class _Table:
    """Every installed distribution's version (by normalized name, the first on ``sys.path``
    winning, as ``importlib.metadata.version`` finds it), the import names it provides, and the
    metadata file its version was read from with that file's signature then; and the import
    names of each distribution installed editable (whose source enters keys)."""

    def __init__(self, versions: dict[str, str], names: dict[str, list[str]],
                 files: dict[str, list[Any]], editable: dict[str, list[str]]) -> None:
        self.versions = versions
        self.names = names
        self.files = files  # normalized name -> [metadata file, its signature before it was read]
        self.editable = editable  # normalized name -> its import names

    @classmethod
    def scan(cls) -> _Table:
        """One pass over the installed distributions, reading each one's metadata once (what
        ``packages_distributions()`` and ``version()`` would read twice, and slower)."""
        from importlib import metadata

        versions: dict[str, str] = {}
        names: dict[str, list[str]] = {}
        files: dict[str, list[Any]] = {}
        editable: dict[str, list[str]] = {}
        for dist in metadata.distributions():
            f = metadata_file(dist)
            sig = _sig(f) if f is not None else None  # (before the read: an edit after it shows)
            md = dist.metadata
            name, version = md["Name"], md["Version"]
            if not isinstance(name, str):
                continue
            if isinstance(version, str) and _normalize(name) not in versions:
                versions[_normalize(name)] = version
                if f is not None and sig is not None:
                    files[_normalize(name)] = [f, sig]
                if is_editable(dist):
                    editable[_normalize(name)] = sorted(_import_names(dist))
            for top in _import_names(dist):
                names.setdefault(top, []).append(name)
        return cls(versions, names, files, editable)

    def version(self, top: str) -> tuple[str | None, str | None]:
        """(the version, the normalized name of the distribution it is of) for import name ``top``."""
        dist = _normalize(top)
        found = self.versions.get(dist)
        for other in () if found is not None else self.names.get(top, ()):
            dist = _normalize(other)
            found = self.versions.get(dist)
            if found is not None:
                break
        return found, dist if found is not None else None

    def fresh(self, dist: str) -> bool:
        """Whether the metadata file ``dist``'s version was read from is as it was then."""
        kept = self.files.get(dist)
        return kept is None or _sig(kept[0]) == kept[1]

    def racy(self, stamp: tuple[int, int] | None) -> bool:
        """Whether a metadata file may have changed again without its signature changing (as ``_racy``)."""
        return _racy([[f, max(sig[1], sig[2]), sig[4]] for f, sig in self.files.values()], stamp)


def _import_names(dist: Any) -> set[str]:
    """The top-level import names a distribution provides, as ``packages_distributions`` finds
    them: its ``top_level.txt``, else the first part of each ``.py`` file in its ``RECORD``."""
    declared = dist.read_text("top_level.txt")
    if declared:
        return set(declared.split())
    tops: set[str] = set()
    for line in (dist.read_text("RECORD") or "").splitlines():
        path = line.rsplit(",", 2)[0].strip('"')  # path,hash,size (a path with a comma is quoted)
        if path.endswith(".py"):
            first, nested, _ = path.partition("/")
            tops.add(first if nested else first[:-3])
    return tops


_normalize = distribution_name  # as importlib.metadata compares names (``PyYAML`` = ``pyyaml``)


class Distributions:
    """The process's answers, made again when the ``sys.path`` entries or their times change.

    While every name asked is a distribution's own, one metadata lookup answers each. The first
    name that is not (``sklearn``) takes the whole table: read from the cache directory if it
    was made from these ``sys.path`` entries, else made (``_Table.scan``) and kept there; once
    it is at hand it answers every name without touching importlib.metadata."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signature: list[list[Any]] | None = None
        self._versions: dict[str, str | None] = {}
        # top -> the metadata file its version in ``_versions`` was read from, and that file's
        # signature before the read: ``refresh`` forgets an answer whose file changed since
        self._read_from: dict[str, tuple[str, list[int] | None]] = {}
        self._table: _Table | None = None
        self._file_tried: Path | None = None
        # the metadata files versions were read from one by one: editing one in place changes a
        # version without changing a sys.path entry's time (the null build's snapshot watches them)
        self.metadata_files: set[str] = set()
        # each top looked up -> the import names of its distribution if installed editable, else None
        self._editable: dict[str, list[str] | None] = {}
        self._digests: dict[str, str | None] = {}  # top -> its editable source's digest, this build
        self.sources = SourceDigests()  # (what the digests were made from: the snapshot watches it)

    def refresh(self) -> None:
        """Forget what was looked up if a package was installed or removed since (cheap: a
        listing of each ``sys.path`` entry; called once per build or status), and each version
        whose metadata file changed in place since it was read (one stat per library looked up:
        ``setup.py develop`` rewrites an egg-info's PKG-INFO under the same folder name, and a
        process that lives across builds would key its next build with the old version)."""
        sig = _signature()
        with self._lock:
            self._digests.clear()  # (an editable library's source changes under no directory's time)
            if sig != self._signature:
                self._signature = sig
                self._versions.clear()
                self._read_from.clear()
                self._editable.clear()
                self._table = None
                self._file_tried = None
                return
            for top, (f, before) in list(self._read_from.items()):
                if _sig(f) != before:
                    del self._read_from[top]
                    self._versions.pop(top, None)
                    self._editable.pop(top, None)

    def version(self, top: str, *, cache_dir: Path | None = None, persist: bool = False) -> str | None:
        """The version of the distribution providing import name ``top``, or None.

        ``cache_dir``: where the table is kept between runs (written only when ``persist``:
        status and dry runs write nothing)."""
        with self._lock:
            if top in self._versions:
                return self._versions[top]
            if self._signature is None:
                self._signature = _signature()
            path = cache_dir.joinpath(*MAP_FILE) if cache_dir is not None else None
            if self._table is None and path is not None and path != self._file_tried:
                self._file_tried = path
                self._table = _read_table(path, self._signature)
            version: str | None = None
            if self._table is None:
                from importlib import metadata

                try:
                    dist = metadata.distribution(top)
                    f = metadata_file(dist)
                    before = _sig(f) if f is not None else None  # (an edit after the read shows)
                    version = dist.version
                    self._editable[top] = sorted({top, *_import_names(dist)}) if is_editable(dist) else None
                    if f is not None:
                        self.metadata_files.add(f)
                        self._read_from[top] = (f, _settled(before))
                except metadata.PackageNotFoundError:
                    self._table = self._scanned(path, persist)
            if self._table is not None:
                version = self._from_table(top, path, persist)
            self._versions[top] = version
            return version

    def keyed(self, top: str, *, cache_dir: Path | None = None, persist: bool = False) -> str | None:
        """The version a key names for import name ``top``: ``version``'s, and for a library
        installed editable, with the digest of its source (``editable.keyed``)."""
        version = self.version(top, cache_dir=cache_dir, persist=persist)
        if version is None:
            return None
        with self._lock:
            names = self._editable.get(top)
            if not names:
                return version
            if top not in self._digests:
                self._digests[top] = self.sources.digest(names, cache_dir=cache_dir, persist=persist)
            return keyed(version, self._digests[top])

    def _from_table(self, top: str, path: Path | None, persist: bool) -> str | None:
        """``top``'s version from the table; the table made again first if the metadata file
        it was read from changed since (edited in place). That file is noted, as a version read
        one by one: the null build's snapshot watches it."""
        assert self._table is not None
        version, owner = self._table.version(top)
        if owner is not None and not self._table.fresh(owner):
            self._table = self._scanned(path, persist)
            version, owner = self._table.version(top)
        names = self._table.editable.get(owner) if owner is not None else None
        self._editable[top] = sorted({top, *names}) if names is not None else None
        kept = self._table.files.get(owner) if owner is not None else None
        if kept is not None:
            self.metadata_files.add(kept[0])
            self._read_from[top] = (kept[0], _settled(kept[1]))  # (its signature as read: fresh, just checked)
        return version

    def _scanned(self, path: Path | None, persist: bool) -> _Table:
        """The table made afresh, and kept at ``path`` (when ``persist``) unless a site directory
        or a metadata file changed in the clock's tick as it was made."""
        stamp = _stamp(path.parent) if path is not None and persist else None
        signature = _signature() if stamp is not None else None  # (after the stamp)
        table = _Table.scan()
        if path is not None and signature is not None and signature == self._signature \
                and not _racy(signature, stamp) and not table.racy(stamp):
            _write_table(path, signature, table)
        return table


def _read_table(path: Path, signature: list[list[Any]]) -> _Table | None:
    """The kept table if it was made from these ``sys.path`` entries at these times, else None."""
    try:
        doc = json.loads(path.read_bytes())
        if doc["format"] != _FORMAT or doc["python"] != sys.version or doc["sys_path"] != signature:
            return None
        versions, names, files, editable = doc["versions"], doc["names"], doc["files"], doc["editable"]
        if isinstance(versions, dict) and isinstance(names, dict) and isinstance(files, dict) and isinstance(
                editable, dict) and all(isinstance(v, list) for v in editable.values()) and all(
                isinstance(v, str) for v in versions.values()) and all(
                isinstance(v, list) for v in names.values()) and all(
                isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], list)
                and len(v[1]) == 5 for v in files.values()):
            return _Table(versions, names, files, editable)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write_table(path: Path, signature: list[list[Any]], table: _Table) -> None:
    """Keep the table for the next run; a cache that cannot take it only costs the next run time."""
    from ..atomicfile import write_atomically

    doc = {"format": _FORMAT, "python": sys.version, "sys_path": signature, "versions": table.versions,
           "names": table.names, "files": table.files, "editable": table.editable}
    try:
        path.parent.mkdir(exist_ok=True)
        write_atomically(path, json.dumps(doc, sort_keys=True).encode())
    except OSError:
        pass


DISTRIBUTIONS = Distributions()


class ImportedLibraries:
    """Per process: the version each imported library's module really is, as far as can be known.

    A library's version is taken as it enters a key (``note``). If its module is imported by
    then, the version it has is the one installed now (the common case: imported by the
    AssetFile as it loaded, or by the user after an install), unless its ``__version__`` says
    otherwise and its metadata changed after this process started (imported, then upgraded before
    the first build). If it is not imported yet, an asset may import it as it runs: what a build
    imported (``begin``, ``settle``) is recorded with the version its keys named. A module is
    known by identity: one imported afresh (removed from ``sys.modules``) is looked at again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modules: dict[str, tuple[weakref.ref[types.ModuleType], str | None]] = {}
        self._looked: dict[str, str] = {}  # top -> its version, last taken while not imported
        self._open: list[set[str]] = []  # each running build's tops not imported at its start

    def note(self, top: str, version: str | None) -> str | None:
        """``version`` (installed now) enters a key for import name ``top``: None if the module
        this process has imported is that version (or none is imported), else the one line that
        says which version it is and what to do."""
        module = sys.modules.get(top)
        with self._lock:
            if not isinstance(module, types.ModuleType):
                if version is None:
                    self._looked.pop(top, None)
                    return None
                self._looked[top] = version
                for tops in self._open:
                    tops.add(top)
                return None
            known = self._modules.get(top)
            if known is None or known[0]() is not module:
                known = (weakref.ref(module), _imported_version(module, top, version))
                self._modules[top] = known
            was = known[1]
        if was == version:
            return None
        if was is not None and version is not None and plain(was) == plain(version):  # editable, edited
            return (f"library {top}: this Python process imported its code before an edit (it is installed "
                    f"editable): an asset would run the old code under the new code's key; restart the Python "
                    f"process (in a notebook, the kernel) and build again")
        had = f"version {plain(was)}" if was is not None else "it from outside any installed distribution"
        now = f"{plain(version)} is installed now" if version is not None else "it is no longer installed"
        under = f"{plain(version)}'s key" if version is not None else "the key of no installed version"
        return (f"library {top}: this Python process imported {had}, but {now}: an asset would run the "
                f"imported code under {under}; restart the Python process (in a notebook, the kernel) and "
                f"build again")

    def begin(self) -> set[str]:
        """A build starts: the token ``settle`` takes when it ends."""
        with self._lock:
            tops = {t for t in self._looked if t not in sys.modules}
            self._open.append(tops)
            return tops

    def settle(self, tops: set[str]) -> None:
        """A build ended: each library its keys named that was not imported as it started and is
        now (an asset imported it) is the version those keys named."""
        with self._lock:
            self._open = [t for t in self._open if t is not tops]
            for top in tops:
                module = sys.modules.get(top)
                version = self._looked.get(top)
                known = self._modules.get(top)
                if isinstance(module, types.ModuleType) and version is not None and (
                        known is None or known[0]() is not module):
                    self._modules[top] = (weakref.ref(module), version)


def _imported_version(module: types.ModuleType, top: str, version: str | None) -> str | None:
    """The version of a module first seen imported, whose import nobody saw: ``version``, the
    one installed, unless the module's ``__version__`` differs and the distribution's metadata
    changed after this process started (then the module is older than the install). A library
    whose ``__version__`` is not its distribution's, installed before this process, passes."""
    said = getattr(module, "__version__", None)
    if version is None or not isinstance(said, str) or _plain(said) == _plain(plain(version)):
        return version
    started, changed = _process_start(), _metadata_time(top, plain(version))
    if started is None or changed is None or changed <= started + 0.05:  # (a few clock ticks' slack)
        return version
    return said


def _plain(version: str) -> str:
    return version.strip().lower().removeprefix("v")


def _process_start() -> float | None:
    """When this process started (seconds since the epoch, to a clock tick), from Linux's /proc;
    None elsewhere."""
    import time

    try:
        with open("/proc/self/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime: clock ticks after boot
        since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)  # type: ignore[attr-defined,unused-ignore]
        return time.time() - since_boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _metadata_time(top: str, version: str) -> float | None:
    """When the metadata of the distribution that provides ``top`` at ``version`` last changed."""
    from importlib import metadata

    try:
        found: Any = metadata.distribution(top)
    except metadata.PackageNotFoundError:
        found = next((d for d in metadata.distributions() if d.version == version and top in _import_names(d)), None)
    where = getattr(found, "_path", None)
    if where is None:
        return None
    for f in (os.path.join(str(where), "METADATA"), os.path.join(str(where), "PKG-INFO"), str(where)):
        try:
            st = os.stat(f)
        except OSError:
            continue
        return max(st.st_mtime, st.st_ctime)
    return None


IMPORTED = ImportedLibraries()


def checked_version(cache_dir: Path | None, *, persist: bool,
                    keyed: dict[str, str] | None = None) -> Callable[[str], str | None]:
    """``DISTRIBUTIONS.version`` for a fingerprinter, each answer checked against the module
    this process imported (``IMPORTED``). A build that records (``persist``) is refused
    (``LibraryChanged``) as its keys are made, before any asset runs; a look (status, a dry
    run) records nothing and goes on: it shows the keys the installed versions make.
    ``keyed``: filled with each import name answered and the version its keys name, for the
    workers that may have other libraries (``Task.libraries``)."""

    def version(top: str) -> str | None:
        found = DISTRIBUTIONS.keyed(top, cache_dir=cache_dir, persist=persist)
        problem = IMPORTED.note(top, found)
        if problem is not None and persist:
            raise LibraryChanged(problem)
        if found is not None and keyed is not None:
            keyed[top] = found
        return found

    return version
