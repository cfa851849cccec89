"""``assetbuild cache ...``: the commands that look after the cache directory (stats, gc,
verify, export, import, keygen)."""

from __future__ import annotations

from typing import Any

import click

from .finding import CommandGroup, located
from .given import _refuse_unused
from .options import Span, _common, _handle_errors, _json_option, _prints_to_stderr, _setup

# --- assetbuild cache ... ----------------------------------------------------------------------

def _size_arg(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    from ..cache import parse_size

    try:
        return parse_size(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.group(cls=CommandGroup, epilog="""\b
Examples:
  assetbuild cache stats
  assetbuild cache gc --max-size 2G --older-than 30
  assetbuild cache verify
  assetbuild cache export cache.tar          # on the job that built
  assetbuild cache import cache.tar          # on a fresh checkout, then: assetbuild
  assetbuild cache keygen                    # a key pair to sign the remote cache with
""")
def cache() -> None:
    """Look after the cache directory (.assetbuild, or --cache-dir / ASSETBUILD_CACHE_DIR).

    Keys contain no paths, so a CI cache that saves and restores this directory (e.g.
    actions/cache) carries every output to the next job; gc bounds its size. For CI systems that
    keep files rather than directories, export and import an archive.
    """


@cache.command(name="stats")
@_common
@_json_option("Print the counts as one JSON document.")
@click.pass_context
@_handle_errors
def cache_stats(ctx: click.Context, **local: Any) -> None:
    """Entries, bytes and the hit rate of the last build that ran or restored anything. Writes nothing."""
    from .. import session
    from ..output import maintenance as maintenance_output

    opts, rep = _setup(ctx, local, reads_only=True)
    st = session.cache_stats(cache_dir=opts.get("cache_dir"), reporter=rep)
    click.echo(maintenance_output.format_cache_stats(st, as_json=bool(opts.get("as_json"))))


@cache.command(name="gc")
@_common
@click.option("--max-size", metavar="SIZE", callback=_size_arg,
              help="Drop least recently used entries until the stored outputs fit in SIZE "
                   "(bytes, or 500M, 2G: powers of 1024).")
@click.option("--older-than", metavar="DAYS", type=Span("days", scale=86400),
              help="Drop entries not used for DAYS days.")
@click.option("--removed-after", metavar="DAYS", type=Span("days", scale=86400), default=7, show_default=True,
              help="Drop the latest builds of assets that builds have seen gone from the AssetFile "
                   "for DAYS days, and so their entries.")
@click.option("-n", "--dry-run", "dry_run", is_flag=True, help="Say what would be dropped; change nothing.")
@_json_option("Print what was dropped (or would be, with -n) as one JSON document.")
@click.pass_context
@_handle_errors
def cache_gc(ctx: click.Context, max_size: int | None, older_than: float | None, removed_after: float,
             **local: Any) -> None:
    """Drop old outputs, keeping every asset's latest build; reclaim the disk space.

    An entry that is some asset's latest build is always kept, unless the asset was removed
    from the AssetFile --removed-after days ago or more (as builds saw it). Others are dropped least recently
    used first (used = last the latest build of its asset, or built). Always swept: blobs nothing
    refers to, temp files left by a killed build, compiled AssetFiles but the 8 newest, and the
    notes of orphaned outputs deleted by hand. The history keeps the newest events of each asset
    ([tool.assetbuild] history, 100) and the runs they belong to; show --version and diff then
    call an older version whose last record went "trimmed" (exit status 1).
    The index is then compacted (LMDB keeps freed pages otherwise). Takes the build lock: waits
    for a running build.
    """
    from .. import session
    from ..output import maintenance as maintenance_output

    opts, rep = _setup(ctx, local)  # -n before `cache gc` is its own -n
    r = session.gc(max_size=max_size, older_than_days=older_than, dry_run=bool(opts.get("dry_run")),
                   cache_dir=opts.get("cache_dir"), reporter=rep, removed_after_days=removed_after,
                   **located(opts))
    click.echo(maintenance_output.format_gc(r, max_size, as_json=bool(opts.get("as_json"))))


@cache.command(name="verify")
@_common
@_json_option("Print what was checked and what was dropped as one JSON document.")
@click.pass_context
@_handle_errors
def cache_verify(ctx: click.Context, **local: Any) -> None:
    """Re-hash every stored output; drop corrupt ones so the next build rebuilds them.

    Exit status 0 if everything verified, 1 if anything was corrupt or missing (it has been
    dropped: run a build). Takes the build lock.
    """
    from .. import session
    from ..output import maintenance as maintenance_output

    opts, rep = _setup(ctx, local)
    r = session.verify(cache_dir=opts.get("cache_dir"), reporter=rep)
    click.echo(maintenance_output.format_verify(r, as_json=bool(opts.get("as_json"))))
    if not r.ok:
        ctx.exit(1)


@cache.command(name="export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("assets", nargs=-1)
@_common
@_json_option("Print what was written to FILE as one JSON document.")
@click.option("--exclude", "exclude", metavar="SEL", multiple=True,
              help="Leave out what SEL selects (same syntax as ASSETS; repeatable).")
@click.pass_context
@_handle_errors
def cache_export(ctx: click.Context, file: str, assets: tuple[str, ...], **local: Any) -> None:
    """Write the latest build of ASSETS and everything upstream (default: all) to FILE.
    ASSETS is a selection as in build (x, 'raw/*', group:NAME, +x, x+).

    FILE is a tar archive of the entries and their bytes, with no path of this machine in it:
    name it .tar, or .tar.gz or .tgz for gzip (another name is refused: exit status 2). Then
    `assetbuild cache import FILE` on another checkout, and a build reuses them.
    """
    from .. import session
    from ..output import maintenance as maintenance_output
    from .finding import caller_path

    _refuse_dash(file, "export writes an archive file, not standard output (-): name it .tar, .tar.gz or .tgz")
    opts, rep = _setup(ctx, local)
    file = caller_path(opts, file)  # relative to where the command started, wherever the project is
    assets = (*assets, *(f"-{e}" for e in opts.get("exclude") or ()))  # see assetbuild.selection
    with _prints_to_stderr():
        r = session.export_cache(file, assets, **located(opts), cache_dir=opts.get("cache_dir"),
                                 reporter=rep)
    click.echo(maintenance_output.format_export(r, file, as_json=bool(opts.get("as_json"))))


@cache.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@_common
@_json_option("Print what was added and what was skipped as one JSON document.")
@click.pass_context
@_handle_errors
def cache_import(ctx: click.Context, file: str, **local: Any) -> None:
    """Add the entries of an archive written by `cache export`, verifying every digest.

    Entries whose bytes are missing or do not verify, or whose list of files names a path
    outside the asset's outputs, are skipped with a warning (exit status 1). The latest build of
    an asset is taken only if the AssetFile declares it, writing where the AssetFile says, and it
    has none here (a build finds the other entries by key). Takes the build lock.
    """
    from .. import session
    from ..output import maintenance as maintenance_output
    from .finding import caller_path

    _refuse_dash(file, "import reads an archive file, not standard input (-): give its path")
    opts, rep = _setup(ctx, local)
    file = caller_path(opts, file)
    with _prints_to_stderr():  # (it loads the AssetFile, for the places its assets write)
        r = session.import_cache(file, cache_dir=opts.get("cache_dir"), **located(opts), reporter=rep)
    click.echo(maintenance_output.format_import(r, file, as_json=bool(opts.get("as_json"))))
    if r["skipped"] or r["rejected_blobs"]:
        ctx.exit(1)


def _refuse_dash(file: str, message: str) -> None:
    """``-`` is click's name for stdin/stdout, which ``graph -o -`` honours; an archive is not
    streamed (its summary has stdout, and import seeks), so say so rather than use a file named ``-``."""
    if file == "-":
        raise click.UsageError(f"cache {message}")


@cache.command(name="keygen")
@click.option("--public-of-env", is_flag=True,
              help="Print the public key of $ASSETBUILD_CACHE_SIGNING_KEY instead of a new pair.")
@_json_option("Print the key pair as one JSON document (on stdout, the secret included).")
@click.pass_context
@_handle_errors
def cache_keygen(ctx: click.Context, public_of_env: bool, **local: Any) -> None:
    """Print a new Ed25519 key pair for the remote cache, as the two variables that take it.

    ASSETBUILD_CACHE_SIGNING_KEY is the secret: give it only to the jobs that upload (pushes to
    the main branch). ASSETBUILD_CACHE_TRUSTED_KEYS is public: every reader verifies with it and
    can never upload, so pull-request jobs need no secret. Writes nothing.
    """
    from .. import session
    from ..output import maintenance as maintenance_output

    _refuse_unused(ctx, reads_only=True)  # (no project: no _setup)
    pair = session.remote_key_pair(from_env=public_of_env)
    for text, to_stderr in maintenance_output.format_key_pair(pair, as_json=bool(local.get("as_json"))):
        click.echo(text, err=to_stderr)
