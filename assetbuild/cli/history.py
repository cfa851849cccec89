"""``assetbuild runs``, ``assetbuild runs show RUN_ID`` and ``assetbuild log ASSET``: the project's
history, newest first."""

from __future__ import annotations

from typing import Any

import click

from .options import _common, _handle_errors, _json_option, _setup

_limit_option = click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True,
                             help="Show at most this many, newest first.")


@click.group(invoke_without_command=True, epilog="""\b
Examples:
  assetbuild runs                 # the last 20 runs
  assetbuild runs show 000042     # one run: what happened to each asset, and their log lines
  assetbuild log report -n 5      # the last 5 events of one asset
""")
@_common
@_json_option
@_limit_option
@click.pass_context
@_handle_errors
def runs(ctx: click.Context, limit: int, **local: Any) -> None:
    """List recorded runs, newest first: every build, restore or observation that recorded
    something is one (a null build records nothing). Writes nothing."""
    if ctx.invoked_subcommand is not None:
        return
    from .. import session
    from ..output import history

    opts, _ = _setup(ctx, local)
    rows = session.list_runs(limit, assetfile=opts.get("assetfile"), cache_dir=opts.get("cache_dir"))
    click.echo(history.format_runs(rows, as_json=bool(opts.get("as_json"))))


@runs.command(name="show")
@click.argument("run_id")
@_common
@_json_option
@click.pass_context
@_handle_errors
def runs_show(ctx: click.Context, run_id: str, **local: Any) -> None:
    """Show one run: its command, times and counts, what happened to each asset, and the log
    lines each printed."""
    from .. import session
    from ..output import history

    opts, _ = _setup(ctx, local)
    run = session.get_run(run_id, assetfile=opts.get("assetfile"), cache_dir=opts.get("cache_dir"))
    click.echo(history.format_run(run, as_json=bool(opts.get("as_json"))))


@click.command(name="log")
@click.argument("asset")
@_common
@_json_option
@_limit_option
@click.pass_context
@_handle_errors
def log(ctx: click.Context, asset: str, limit: int, **local: Any) -> None:
    """Show ASSET's recorded events, newest first: materialized, restored, failed, skipped or
    observed, with when, in which run, its data version, how long, and its metadata. A glob,
    group:NAME or x+ shows each asset it selects (--json: a list)."""
    from .. import session
    from ..output import history

    opts, _ = _setup(ctx, local)
    doc = session.asset_log(asset, limit, assetfile=opts.get("assetfile"), cache_dir=opts.get("cache_dir"))
    click.echo(history.format_log(doc, as_json=bool(opts.get("as_json"))))
