"""Looking after the cache directory: clean (with the files assetbuild wrote into the project:
``--outputs``), and the ``assetbuild cache`` commands (stats, gc, verify, export, import,
keygen) over ``assetbuild.cache`` and the store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from ..errors import ConfigError, StoreError
from ..graph import select
from ..output import Reporter
from .arguments import verb
from .building import make_scheduler
from .located import project_root
from .observing import observe_for
from .project import open_project, open_store, resolve_cache_dir, waiting_warning

if TYPE_CHECKING:
    from ..cleaning import CleanReport, Recorded


@overload
def clean(*, project_dir: str | os.PathLike[str] = ..., cache_dir: str | os.PathLike[str] | None = ...,
          assetfile: str | os.PathLike[str] | None = ..., outputs: Literal[False] = ...,
          dry_run: Literal[False] = ..., reporter: Reporter | None = ..., all_projects: bool = ...) -> Path: ...
@overload
def clean(*, project_dir: str | os.PathLike[str] = ..., cache_dir: str | os.PathLike[str] | None = ...,
          assetfile: str | os.PathLike[str] | None = ..., outputs: bool = ..., dry_run: bool = ...,
          reporter: Reporter | None = ..., all_projects: bool = ...) -> CleanReport: ...
@verb
def clean(*, project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
          assetfile: str | os.PathLike[str] | None = None, outputs: bool = False, dry_run: bool = False,
          reporter: Reporter | None = None, all_projects: bool = False) -> Path | CleanReport:
    """Delete what assetbuild created in the project's cache directory; returns the cache
    directory. Files assetbuild did not create there are kept, with a warning. A cache directory
    that other projects share (their latest builds are in it) is refused (StoreError), nothing
    deleted, unless ``all_projects``: their builds would go too.

    ``outputs=True`` first deletes the files assetbuild wrote into the project (path outputs, and
    the files of ``outputs=``) as the cache records them for this project (its AssetFile:
    ``assetfile``), each only if unchanged since; see ``assetbuild.cleaning``. ``dry_run`` deletes
    nothing. With either, returns a ``CleanReport`` (``.deleted``, ``.kept``, ``.refused``...).
    """
    report = clean_report(project_dir=project_dir, cache_dir=cache_dir, assetfile=assetfile,
                          outputs=outputs, dry_run=dry_run, reporter=reporter, all_projects=all_projects)
    return report if outputs or dry_run else report.cache_dir


@verb
def clean_report(*, project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
                 assetfile: str | os.PathLike[str] | None = None, outputs: bool = False, dry_run: bool = False,
                 reporter: Reporter | None = None, all_projects: bool = False) -> CleanReport:
    """``clean``, returning its report in every case (the command prints it). Warnings (what is
    kept) go to ``reporter``, except in a dry run, whose report lists them."""
    from ..cleaning import CleanReport, clean_outputs
    from ..store import (
        BuildRunning,
        clear_cache_dir,
        is_cache_dir,
        no_build_running,
        no_daemon_running,
        project_id,
    )
    from ..store.cachedir import KEYS_FILES

    root = project_root(project_dir)
    cache = resolve_cache_dir(root, cache_dir)
    rep = reporter or Reporter(verbosity=-2)
    report = CleanReport(cache, dry_run=dry_run, outputs=outputs, cache_existed=cache.exists())
    if report.cache_existed and not is_cache_dir(cache):
        raise StoreError(f"{cache} does not look like an assetbuild cache (no STORE file); not deleting it")
    af = Path(assetfile) if assetfile is not None else Path("AssetFile")
    af = af if af.is_absolute() else root / af
    # (a dry run deletes nothing: it reads, as status does, without the locks, which a cache on
    # a read-only mount or another user's could not take)
    locks = (nullcontext(), nullcontext()) if dry_run else (no_build_running(cache), no_daemon_running(cache))
    try:
        with locks[0], locks[1]:
            if report.cache_existed:
                recorded, others, adopted = _written_files(cache, project_id(af, cache),
                                                  (lambda m: None) if dry_run else rep.warn, outputs=outputs)
                report.other_projects = others
                if others and not all_projects:
                    raise StoreError(f"{cache} is shared: it also holds the latest builds of {_count(others, 'asset')} "
                                     "of other projects, which clean would delete too; nothing was deleted (--all-projects "
                                     "deletes it anyway; assetbuild cache gc trims it and keeps every project's latest builds)")
                if outputs:
                    clean_outputs(root, recorded, cache_dir=cache, protected=_inside(root, af) | adopted,
                                  dry_run=dry_run, report=report)
                    if report.failed and not dry_run:  # the cache records them: it stays, for the next clean
                        _say_kept(report, rep)
                        raise StoreError(_not_deleted(report))
            _clean_compiled(root, af, report)
            if not dry_run:
                kept = clear_cache_dir(cache)
                report.cache_kept = [p for p in kept if p.parent != cache or p.name not in KEYS_FILES]
                report.keys_kept = len(kept) > len(report.cache_kept)
                report.cache_deleted = report.cache_existed and not cache.exists()
    except BuildRunning:
        raise StoreError(f"a build is running with {cache}; not deleting it") from None
    if dry_run:
        report.keys_kept = report.cache_existed and any((cache / f).is_file() for f in KEYS_FILES)
        return report
    _say_kept(report, rep)
    return report


def _not_deleted(report: CleanReport) -> str:
    """The one line of a clean that could not delete files that still hold what assetbuild wrote,
    for an error (a read-only file system): it keeps the cache, whose records name them."""
    n = len(report.failed)
    what = (f"{report.failed[0][0]}, which still holds what assetbuild wrote: "
            f"{report.failed[0][1].split(': ', 1)[-1]}" if n == 1 else
            f"{n} files that still hold what assetbuild wrote: " + _names(f"{p} ({why})" for p, why in report.failed))
    done = f"; deleted {_count(len(report.deleted), 'other file')}" if report.deleted else ""
    return (f"cannot delete {what}{done}; {report.cache_dir} stays, as the record of what is left to delete "
            f"(run assetbuild clean again once {'it' if n == 1 else 'they'} can be deleted; clean --keep-outputs "
            "deletes the cache alone)")


def _say_kept(report: CleanReport, rep: Reporter) -> None:
    """Warn of the files a clean leaves: changed since, reached through a symlink, unsafe, and
    entries of the cache directory it did not create."""
    cache = report.cache_dir
    if report.kept:
        rep.warn(f"kept {_count(len(report.kept), 'file')} assetbuild wrote that changed since: "
                 + _names(f"{p} ({why})" for p, why in report.kept))
    linked = report.linked
    if linked:  # (outputs on another disk, as the README shows: not a damaged record)
        rep.warn(f"left {_count(len(linked), 'file')} assetbuild wrote through a symlinked directory, as clean "
                 "leaves every path reached through a symlink: " + _names(p for p, _ in linked))
    adopted = [p for p, why in report.refused if why.startswith(_ADOPTED)]
    if adopted:
        rep.warn(f"kept {_count(len(adopted), 'Python file')} of assets no longer writing them, which the project "
                 "may import now (clean --orphans, which loads the AssetFile, deletes those it does not): "
                 + _names(adopted))
    unsafe = [r for r in report.refused if r not in linked and not r[1].startswith(_ADOPTED)]
    if unsafe:
        rep.warn(f"did not delete {_count(len(unsafe), 'recorded output path')} (a damaged or foreign "
                 "record?): " + _names(f"{p} ({why})" for p, why in unsafe))
    if report.cache_kept:
        rep.warn(f"kept {_count(len(report.cache_kept), 'entry', 'entries')} of {cache} that assetbuild did not "
                 "create: " + _names(str(p.relative_to(cache)) for p in report.cache_kept))


def _clean_compiled(root: Path, af: Path, report: CleanReport) -> None:
    """Delete the AssetFile's compiled code kept beside it (``compiled.beside_file``), a cache
    as the cache directory is (``report.compiled``); then ``__pycache__`` if that left it empty."""
    from ..compiled import kept_beside

    for p in kept_beside(af):
        report.compiled.append(os.path.relpath(p, root).replace(os.sep, "/"))
        if not report.dry_run:
            with suppress(OSError):
                p.unlink()
            with suppress(OSError):
                p.parent.rmdir()  # (only if empty: Python's own bytecode stays)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _names(items: Iterable[str], most: int = 5) -> str:
    names = list(items)
    return ", ".join(names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def _inside(root: Path, path: Path) -> dict[str, str]:
    """The AssetFile ``path`` relative to the project, if it lies inside it."""
    try:
        return {Path(os.path.realpath(path)).relative_to(root).as_posix(): "the AssetFile"}
    except ValueError:
        return {}


def _written_files(cache: Path, project: str, warn: Callable[[str], None], *,
                   outputs: bool) -> tuple[Recorded, int, dict[str, str]]:
    """What this project's latest builds wrote into the project (``outputs``; else nothing), and
    the files its assets stopped writing (assetbuild.moved), from the store's records (not the
    AssetFile, which may be gone or broken): heads and notes are scoped by the project's id. And
    how many heads other projects sharing the cache directory have there (a damaged index, which
    reads as empty, says none: deleting it alone is how to recover). And the Python files among
    the orphans (``_adopted``), which clean keeps."""
    from ..cleaning import Recorded, add_left, recorded_outputs
    from ..moved import left_files
    from ..store import LmdbStore

    if not ((cache / "STORE").exists() or (cache / "db").is_dir()):
        return Recorded(), 0, {}
    damage: list[str] = []  # the store reads a damaged index as empty: its records would say "nothing"
    with LmdbStore(cache, readonly=True, warn=damage.append, project=project) as store:
        if not damage:
            mine = store.heads()
            if not outputs:
                return Recorded(), len(store.all_heads()) - len(mine), {}
            current = recorded_outputs(mine, store.read_blob, store.get_stat, warn)
            adopted = _adopted(current, store)
            return add_left(current, left_files(store)), len(store.all_heads()) - len(mine), adopted
    if not outputs:
        return Recorded(), 0, {}
    raise StoreError(f"cannot tell which files assetbuild wrote into the project: {damage[0]}; nothing was "
                     "deleted (assetbuild clean --keep-outputs deletes the cache alone)")


def _adopted(current: Recorded, store: Any) -> dict[str, str]:
    """The ``.py`` files that assets since removed (seen gone by a build) or moved away from
    wrote: kept by clean, which does not load the AssetFile, as the project's code they may now
    be (a generated module kept and imported; ``clean --orphans``, which loads it, can tell)."""
    from ..moved import left_files
    from .orphans import removed_names

    gone = removed_names(store)
    paths = [w.path for w in current.files if w.asset in gone] + [f.path for f in left_files(store)]
    return {p: _ADOPTED for p in paths if isinstance(p, str) and p.endswith(".py")}


_ADOPTED = "a Python file no asset writes now (the project's code now?)"


@contextmanager
def _maintained_store(project_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None,
                      reporter: Reporter | None, *, create: bool = False,
                      assetfile: str | os.PathLike[str] | None = None, readonly: bool = False) -> Iterator[Any]:
    """The cache's store under the build lock (waiting, like a build, for one that runs);
    None if there is no cache directory and ``create`` is false. Heads are those of the project
    whose AssetFile is ``assetfile`` (default: ./AssetFile, which need not exist). ``readonly``:
    opened to read only, without the lock (a dry run: it works on a read-only mount)."""
    from ..store import LmdbStore, project_id

    root = Path(project_dir).resolve()
    cache = resolve_cache_dir(root, cache_dir)
    rep = reporter or Reporter(verbosity=-2)
    if not create and not ((cache / "STORE").exists() or (cache / "db").is_dir()):
        yield None  # no cache here (or a directory that is not one): nothing to do, nothing created
        return
    store = LmdbStore(cache, readonly=readonly, warn=rep.warn, project=project_id(root / (assetfile or "AssetFile"), cache))
    try:
        if not readonly:  # (a reader, as status, does not wait for a build)
            store.acquire_lock(on_wait=waiting_warning(cache, rep.warn))
        yield store
    finally:
        store.close()


def cache_stats(*, project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
                reporter: Reporter | None = None) -> dict[str, Any]:
    """Entries, bytes (inline, files, index) and the last build's hit rate. Writes nothing."""
    from ..cache import stats
    from ..store import LmdbStore

    cache = resolve_cache_dir(Path(project_dir).resolve(), cache_dir)
    rep = reporter or Reporter(verbosity=-2)
    with LmdbStore(cache, readonly=True, warn=rep.warn) as store:
        return stats(store)


@verb
def gc(*, max_size: int | None = None, older_than_days: float | None = None, dry_run: bool = False,
       project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
       reporter: Reporter | None = None, removed_after_days: float | None = 7,
       assetfile: str | os.PathLike[str] | None = None) -> Any:
    """Drop least recently used entries no asset's latest build uses; sweep orphans; compact.

    First, the heads of this project's assets (the project of ``assetfile``, default
    ./AssetFile) that builds have seen gone from the AssetFile for ``removed_after_days`` days
    or more are dropped (None: kept), so their entries can go too, and the notes of files its
    assets left behind that were deleted by hand since.
    Returns a ``GcReport`` (``.to_json()``). See ``assetbuild.cache.gc`` for the rules.
    """
    from ..cache import GcReport
    from ..cache import gc as collect
    from ..clock import check_span

    for name, days in (("older_than_days", older_than_days), ("removed_after_days", removed_after_days)):
        if days is not None:  # (-1 dropped every entry)
            check_span(days, name, "days", scale=86400)
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0):
        raise ValueError(f"max_size must be a whole number of bytes, 0 or more, got {max_size!r}")
    with _maintained_store(project_dir, cache_dir, reporter, assetfile=assetfile, readonly=dry_run) as store:
        if store is None:
            return GcReport(dry_run=dry_run)
        from ..config import history_setting
        from .orphans import drop_removed_heads, forget_gone_left

        removed = [] if removed_after_days is None else drop_removed_heads(store, removed_after_days,
                                                                            dry_run=dry_run)
        forget_gone_left(Path(project_dir).resolve(), store, dry_run=dry_run)  # files deleted by hand
        older = None if older_than_days is None else older_than_days * 86400
        report = collect(store, max_size=max_size, older_than_s=older, dry_run=dry_run,
                       history=history_setting(Path(project_dir)))
        report.removed_heads = removed
        return report


def verify(*, project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
           reporter: Reporter | None = None) -> Any:
    """Re-hash every stored blob; drop corrupt ones and the entries using them. ``.ok`` is False
    if anything was corrupt or missing."""
    from ..cache import VerifyReport
    from ..cache import verify as check
    from ..store import LmdbStore

    cache = resolve_cache_dir(Path(project_dir).resolve(), cache_dir)
    if cache.is_dir() and not os.access(cache, os.W_OK):  # a read-only mount, another user's cache
        rep = reporter or Reporter(verbosity=-2)
        rep.warn(f"the cache directory {cache} is read-only: reporting only, nothing is dropped")
        with LmdbStore(cache, readonly=True, warn=rep.warn) as store:
            return check(store)
    with _maintained_store(project_dir, cache_dir, reporter) as store:
        return VerifyReport() if store is None else check(store)


@verb
def export_cache(file: str | os.PathLike[str], assets: Sequence[str] = (), *,
                 project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 reporter: Reporter | None = None) -> dict[str, Any]:
    """Write the latest entries of ``assets`` and everything upstream (default: all) to a tar file
    named ``.tar``, ``.tar.gz`` or ``.tgz`` (gzip); another name is refused (AssetbuildError)."""
    from ..cache import export_archive, export_mode

    archive = Path(file).absolute()  # the caller's relative path: the project runs in its own directory
    export_mode(archive)  # (refused before the project loads)
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir, reporter=reporter) as project:
        plan = select(project.graph, assets)
        store = open_store(project, readonly=True)
        try:
            observations = observe_for(project, plan, store, record=False)  # as status does: else their readers look stale
            stale = [s.asset for s in make_scheduler(project, store, record=False, observations=observations).status(plan)
                     if s.state != "fresh"]
            if stale:
                project.reporter.warn(f"{len(stale)} selected asset(s) are not up to date ({', '.join(stale[:5])}"
                                      f"{', ...' if len(stale) > 5 else ''}); exporting their latest builds "
                                      "(run assetbuild build first)")
            out = export_archive(store, plan, archive, warn=project.reporter.warn)
            out["stale"] = stale
            return out
        finally:
            store.close()


@verb
def import_cache(file: str | os.PathLike[str], *, project_dir: str | os.PathLike[str] = ".",
                 cache_dir: str | os.PathLike[str] | None = None, assetfile: str | None = None,
                 reporter: Reporter | None = None) -> dict[str, Any]:
    """Add the entries of an export archive to the cache, verifying every blob's digest; the
    latest builds (heads) only of assets the AssetFile declares, writing where it declares."""
    from ..cache import import_archive

    rep = reporter or Reporter(verbosity=-2)
    src = _archive_path(file)
    places = _declared_places(project_dir, cache_dir, assetfile, rep)
    with _maintained_store(project_dir, cache_dir, rep, create=True, assetfile=assetfile) as store:
        return import_archive(store, src, warn=rep.warn, places=places)


def _archive_path(file: str | os.PathLike[str]) -> Path:
    """The archive to import: a file resolved, or a pipe as named (``/dev/stdin``, a FIFO: read
    as a stream; resolving ``/dev/stdin`` names no file). StoreError for what is none."""
    import stat

    try:
        st = os.stat(file)
    except FileNotFoundError:
        raise StoreError(f"no such archive: {file}") from None
    except OSError as e:
        raise StoreError(f"cannot read the archive {file}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{file} is a directory, not an archive")
    return Path(file).resolve() if stat.S_ISREG(st.st_mode) else Path(os.path.abspath(file))


def _declared_places(project_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None,
                     assetfile: str | None, rep: Reporter) -> dict[str, str | None] | None:
    """Asset -> where it writes (``manifest.output_place``) for every asset the AssetFile
    declares: an imported head names files that ``clean`` deletes, so it is taken only for one of
    these, at its place. None, with a warning, when the AssetFile does not load: no head is taken
    (a build finds the entries by their keys all the same)."""
    from ..definitions import AssetDef
    from ..errors import AssetbuildError
    from ..manifest import output_place

    try:
        with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir, reporter=rep) as project:
            return {name: output_place(d.outputs, d.path) for name, d in project.graph.nodes.items()
                    if isinstance(d, AssetDef)}
    except StoreError:
        raise
    except AssetbuildError as e:
        rep.warn(f"importing the entries without the latest build of any asset: the AssetFile does not load ({e})")
        return None



def remote_key_pair(*, from_env: bool = False) -> dict[str, str | None]:
    """A new Ed25519 key pair for the remote cache: ``{"signing_key": ..., "trusted_key": ...}``
    in the formats of $ASSETBUILD_CACHE_SIGNING_KEY and $ASSETBUILD_CACHE_TRUSTED_KEYS.

    ``from_env``: no new pair, the public key of the signing key in the environment
    (``signing_key`` is then None: a secret is never printed back).
    """
    from ..remote import SIGNING_KEY_ENV, generate_key_pair, public_key_text

    if not from_env:
        signing, trusted = generate_key_pair()
        return {"signing_key": signing, "trusted_key": trusted}
    text = os.environ.get(SIGNING_KEY_ENV, "").strip()
    if not text:
        raise ConfigError(f"{SIGNING_KEY_ENV} is not set")
    return {"signing_key": None, "trusted_key": public_key_text(text)}

