"""Looking after the cache directory: clean, and the ``assetbuild cache`` commands (stats, gc,
verify, export, import, keygen) over ``assetbuild.cache`` and the store."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StoreError
from ..graph import select
from ..output import Reporter
from .building import make_scheduler
from .project import open_project, open_store, resolve_cache_dir


def clean(*, project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
          reporter: Reporter | None = None) -> Path:
    """Delete what assetbuild created in the project's cache directory (not its path outputs);
    returns the cache directory. Files assetbuild did not create there are kept, with a warning."""
    from ..store import BuildRunning, clear_cache_dir, no_build_running

    root = Path(project_dir).resolve()
    cache = resolve_cache_dir(root, cache_dir)
    try:
        with no_build_running(cache):
            kept = clear_cache_dir(cache)
    except BuildRunning:
        raise StoreError(f"a build is running with {cache}; not deleting it") from None
    if kept and reporter is not None:
        names = ", ".join(str(p.relative_to(cache)) for p in kept[:5]) + (", ..." if len(kept) > 5 else "")
        reporter.warn(f"kept {len(kept)} {'entry' if len(kept) == 1 else 'entries'} of {cache} that assetbuild did not create: {names}")
    return cache



@contextmanager
def _maintained_store(project_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None,
                      reporter: Reporter | None, *, create: bool = False,
                      assetfile: str | os.PathLike[str] | None = None) -> Iterator[Any]:
    """The cache's store under the build lock (waiting, like a build, for one that runs);
    None if there is no cache directory and ``create`` is false. Heads are those of the project
    whose AssetFile is ``assetfile`` (default: ./AssetFile, which need not exist)."""
    from ..store import LmdbStore, project_id

    root = Path(project_dir).resolve()
    cache = resolve_cache_dir(root, cache_dir)
    rep = reporter or Reporter(verbosity=-2)
    if not create and not ((cache / "STORE").exists() or (cache / "db").is_dir()):
        yield None  # no cache here (or a directory that is not one): nothing to do, nothing created
        return
    store = LmdbStore(cache, warn=rep.warn, project=project_id(root / (assetfile or "AssetFile"), cache))
    try:
        store.acquire_lock(on_wait=lambda: rep.warn(f"another build or cache command is using {cache}; waiting for it to finish"))
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


def gc(*, max_size: int | None = None, older_than_days: float | None = None, dry_run: bool = False,
       project_dir: str | os.PathLike[str] = ".", cache_dir: str | os.PathLike[str] | None = None,
       reporter: Reporter | None = None) -> Any:
    """Drop least recently used entries no asset's latest build uses; sweep orphans; compact.

    Returns a ``GcReport`` (``.to_json()``). See ``assetbuild.cache.gc`` for the rules.
    """
    from ..cache import GcReport
    from ..cache import gc as collect

    with _maintained_store(project_dir, cache_dir, reporter) as store:
        if store is None:
            return GcReport(dry_run=dry_run)
        older = None if older_than_days is None else older_than_days * 86400
        return collect(store, max_size=max_size, older_than_s=older, dry_run=dry_run)


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


def export_cache(file: str | os.PathLike[str], assets: Sequence[str] = (), *,
                 project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 reporter: Reporter | None = None) -> dict[str, Any]:
    """Write the latest entries of ``assets`` and everything upstream (default: all) to a tar file."""
    from ..cache import export_archive

    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir, reporter=reporter) as project:
        plan = select(project.graph, assets)
        store = open_store(project, readonly=True)
        try:
            stale = [s.asset for s in make_scheduler(project, store, record=False).status(plan) if s.state != "fresh"]
            if stale:
                project.reporter.warn(f"{len(stale)} selected asset(s) are not up to date ({', '.join(stale[:5])}"
                                      f"{', ...' if len(stale) > 5 else ''}); exporting their latest builds "
                                      "(run assetbuild build first)")
            out = export_archive(store, plan, Path(file), warn=project.reporter.warn)
            out["stale"] = stale
            return out
        finally:
            store.close()


def import_cache(file: str | os.PathLike[str], *, project_dir: str | os.PathLike[str] = ".",
                 cache_dir: str | os.PathLike[str] | None = None, assetfile: str | None = None,
                 reporter: Reporter | None = None) -> dict[str, Any]:
    """Add the entries of an export archive to the cache, verifying every blob's digest."""
    from ..cache import import_archive

    rep = reporter or Reporter(verbosity=-2)
    src = Path(file).resolve()
    if not src.is_file():
        raise StoreError(f"no such archive: {file}")
    with _maintained_store(project_dir, cache_dir, rep, create=True, assetfile=assetfile) as store:
        return import_archive(store, src, warn=rep.warn)



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

