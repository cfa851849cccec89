"""The folders a build's load may find modules in: what they held before it started
(``listings_before``), whether a module may have appeared in one after (``dir_times_since``),
whether one changed too recently for its time to be trusted (``racy_folder``), and the names an
import could find in each as its time was read (``import_names_of``): what the snapshot's record
must not hide from the next null build (``session.snapshots``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from .. import snapshot


def listing(path: str) -> tuple[int | None, frozenset[str] | None]:
    """A directory's time (``snapshot.dir_time``) and the names it holds then; (None, None)
    if it cannot be listed. (The time first: a name added in between is listed, and was there.)"""
    try:
        st = os.stat(path)
        names = frozenset(os.listdir(path))
    except OSError:
        return None, None
    return max(st.st_mtime_ns, st.st_ctime_ns), names


def listings_before(project_dir: str, rec: dict[str, Any] | None) -> dict[str, tuple[int | None, frozenset[str] | None]]:
    """``listing`` of each directory a load may find modules in that is known before it starts:
    ``sys.path``'s (``START_PATH``), the project's, and those ``rec`` (the last record) lists.
    Not every folder of the project: its data and output folders (10,500 names in the benchmark's,
    6 ms of every build) hold no module; a folder that turns out to hold one is judged by time
    (``dir_times_since``)."""
    dirs = {os.path.abspath(p or ".") for p in snapshot.START_PATH}
    dirs.add(project_dir)
    if rec is not None and not rec.get("refused"):
        dirs.update(d for d, *_ in rec.get("dirs") or ())
    return {d: listing(d) for d in dirs}


def dir_times_since(dirs: Iterable[str], before: dict[str, tuple[int | None, frozenset[str] | None]] | None,
                    started_ns: int | None, probe_path: str, own: Iterable[str] = ()
                    ) -> tuple[dict[str, int | None], str | None]:
    """Each of ``dirs``' time (``snapshot.dir_time``), and the first entry that may be a
    module added to one of them after the build started loading, or None. Such an entry may be
    a module the load did not see (a package that beats a module of its name, a module an
    ``import`` then failed to find), while its directory's time is the one after: recorded, it
    would hide it from the next null build.

    A directory whose time changed since ``before`` (``listings_before``), or whose time then was
    within ``RACY_NS`` of ``started_ns`` (a name added in the tick of that listing leaves the time
    as listed, on a filesystem that stamps whole seconds), holds such an entry
    when it holds a name it did not then, which could be imported (an identifier, as a folder;
    with an import suffix, or ``.pth``, as a file; a distribution's metadata), other than ``__pycache__`` and the paths in
    ``own`` (the cache directory, the top folders of the path outputs: the build's own). One not
    listed before (a package found by this load) is checked by time instead: an importable
    entry made or changed at or after ``started_ns`` (the wall clock as loading began; None:
    not known), as the filesystem's clock sees it: on the device of ``probe_path`` (the cache's
    lock file, touched here), moved by how far that clock trails the wall clock, less
    ``TICK_NS``; on another device, ``RACY_NS`` before it."""
    skip = frozenset(own)
    times: dict[str, int | None] = {}
    first: str | None = None
    stamp: tuple[int, int] | None = None
    trail: int | None = None
    for d in dirs:
        try:
            st = os.stat(d)
        except OSError:
            times[d] = None
            continue
        times[d] = now = max(st.st_mtime_ns, st.st_ctime_ns)  # (``snapshot.dir_time``)
        if first is not None:
            continue
        was = before.get(d) if before is not None else None
        if was is not None:
            if was[0] != now or started_ns is None or now > started_ns - snapshot.RACY_NS:
                try:
                    added = sorted(set(os.listdir(d)) - (was[1] or frozenset()))
                except OSError:
                    added = [""]  # (it cannot be listed: whatever it holds now is unknown)
                first = next((p for p in (os.path.join(d, n) for n in added) if p not in skip and _importable(p)), None)
        elif started_ns is not None:
            if trail is None:
                import time

                stamp = snapshot.probe(probe_path)
                trail = stamp[1] - time.time_ns() if stamp is not None else 0
            since = started_ns + trail - snapshot.TICK_NS if stamp is not None and st.st_dev == stamp[0] \
                else started_ns - snapshot.RACY_NS
            if now >= since:
                first = _made_since(d, since, skip)
    return times, first


def import_names_of(times: dict[str, int | None]) -> tuple[dict[str, str | None], str | None]:
    """``snapshot.import_names`` of each folder of ``times`` (``dir_times_since``'s), listed
    after its time was read; and the first folder whose time moved since, or None. (Its names
    may then be newer than its time: recorded so, a module added in between would pass, at the
    next build, for one this build saw.)"""
    names: dict[str, str | None] = {}
    for d, t in times.items():
        names[d] = snapshot.import_names(d) if t is not None else None
        if snapshot.dir_time(d) != t:
            return names, d
    return names, None


def import_hook_files(paths: Iterable[str]) -> list[str]:
    """The files beside the modules that decide where an import resolves in a new process, and
    that no folder's time shows edited in place: each ``.pth`` in a site directory of ``paths``
    (``sys.path`` as the command started: ``site`` ran its lines), the module of each finder on
    ``sys.meta_path`` and hook on ``sys.path_hooks`` that is neither the standard library's nor
    assetbuild's, and ``sitecustomize``/``usercustomize``. An editable install's finder
    (``__editable___<dist>_finder.py``) maps a package to its folder: its ``MAPPING`` edited, or
    rewritten by ``pip install -e`` from another folder under the same name, moves where ``import
    lib`` resolves, and with it the code an asset runs (a project module's, or a library's)."""
    found: set[str] = set()
    for d in dict.fromkeys(os.path.abspath(p or ".") for p in paths):
        if "site-packages" in d or "dist-packages" in d:  # (``site`` reads .pth files only there)
            try:
                found.update(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".pth"))
            except OSError:
                continue
    modules = {getattr(h, "__module__", None) for h in (*sys.meta_path, *sys.path_hooks)}
    for name in (*modules, "sitecustomize", "usercustomize"):
        if not isinstance(name, str) or name.partition(".")[0] in sys.stdlib_module_names \
                or name.partition(".")[0] == "assetbuild":
            continue
        f = getattr(sys.modules.get(name), "__file__", None)
        if isinstance(f, str):
            found.add(os.path.abspath(f))
    return sorted(found)


def _importable(path: str) -> bool:
    """Whether an import could find a module at ``path``, or a library's version be read
    there: a folder named as an identifier (bar ``__pycache__``), a file with an import suffix
    (or ``.pth``) whose stem is one, a distribution's metadata (``.dist-info``, ``.egg-info``)."""
    name = os.path.basename(path)
    if not name or name == "__pycache__":
        return not name  # ("": a folder that cannot be listed)
    if name.endswith(snapshot.METADATA_SUFFIXES):
        return True
    if os.path.isdir(path):
        return name.isidentifier()
    return name.endswith(snapshot.import_suffixes()) and name.partition(".")[0].isidentifier()


def _made_since(folder: str, since: int, skip: frozenset[str]) -> str | None:
    """The first entry of ``folder`` that could be imported and was made or changed since ``since``."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return folder  # (it cannot be listed: whatever it holds now is unknown)
    for e in entries:
        if e.path in skip or not _importable(e.path):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if max(st.st_ctime_ns, st.st_mtime_ns) >= since:
            return e.path
    return None


def racy_folder(times: dict[str, int | None], clock: tuple[int, int]) -> str | None:
    """The first folder of ``times`` (read after ``clock``, ``snapshot.probe``) that changed in
    the clock's tick or after (git's racy rule, as for files): another change in that tick could
    leave its time as read (a filesystem that stamps whole seconds, or the kernel's tick), and a
    module added then would go unseen by the next null build; or that changed since it was read.
    Judged by the ctime, which only the kernel sets (POSIX; elsewhere it is the creation time, and
    the later of the two counts): a folder whose mtime was set ahead (``tar x`` of an archive made
    by a clock ahead) would refuse every record until then, and a later change moves its time
    anyway. Only a folder changed in the last ``RACY_NS`` is looked at again."""
    dev, tick = clock
    far = tick - snapshot.RACY_NS
    for d, t in times.items():
        if t is None or t <= far:
            continue
        try:
            st = os.stat(d)
        except OSError:
            return d
        changed = st.st_ctime_ns if _POSIX else max(st.st_mtime_ns, st.st_ctime_ns)
        if max(st.st_mtime_ns, st.st_ctime_ns) != t or (changed >= tick if st.st_dev == dev else changed > far):
            return d
    return None


_POSIX = os.name == "posix"
