"""``assetbuild runs``, ``assetbuild runs show RUN_ID`` and ``assetbuild log ASSET``: the project's
history, newest first."""

from __future__ import annotations

from typing import Any

import click

from .finding import ContextGroup, located
from .options import (
    _asset_or_exclusions,
    _common,
    _handle_errors,
    _json_option,
    _partition_option,
    _partitioned,
    _prints_to_stderr,
    _say_if_nothing_selected,
    _setup,
)

_limit_option = click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True,
                             help="Show at most this many, newest first.")


@click.group(cls=ContextGroup, invoke_without_command=True, epilog="""\b
Examples:
  assetbuild runs                 # the last 20 runs
  assetbuild runs show 000042     # one run: what happened to each asset, and their log lines
  assetbuild log report -n 5      # the last 5 events of one asset
""")
@_common
@_json_option('Print one JSON document, {"runs": [...]}, newest first.')
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

    opts, _ = _setup(ctx, local, reads_only=True)
    with _prints_to_stderr():
        rows = session.list_runs(limit, **located(opts), cache_dir=opts.get("cache_dir"))
    click.echo(history.format_runs(rows, as_json=bool(opts.get("as_json"))))


@runs.command(name="show")
@click.argument("run_id")
@_common
@_json_option("Print the run as one JSON document.")
@click.pass_context
@_handle_errors
def runs_show(ctx: click.Context, run_id: str, **local: Any) -> None:
    """Show one run: its command, times and counts, what happened to each asset, and the log
    lines each printed."""
    from .. import session
    from ..output import history

    opts, _ = _setup(ctx, local, reads_only=True)
    with _prints_to_stderr():
        run = session.get_run(run_id, **located(opts), cache_dir=opts.get("cache_dir"))
    click.echo(history.format_run(run, as_json=bool(opts.get("as_json"))))


@click.command(name="log")
@click.argument("asset", required=False)
@_common
@_json_option("Print the events as one JSON document (a list for a glob, a group or --exclude; with --metric, "
              "its points).")
@_limit_option
@click.option("--exclude", "exclude", metavar="SEL", multiple=True,
              help="Leave out what SEL selects (repeatable): log 'group:ml' --exclude train.")
@click.option("--metric", metavar="NAME", default=None,
              help="One numeric metadata entry across the history: the newest --limit points, oldest first (a "
                   "sparkline on a terminal).")
@_partition_option
@click.pass_context
@_handle_errors
def log(ctx: click.Context, asset: str | None, limit: int, metric: str | None, exclude: tuple[str, ...],
        partition: str | None, **local: Any) -> None:
    """Show ASSET's recorded events, newest first: materialized, restored, failed, skipped,
    observed or accepted, with when, in which run, its data version, how long, and its metadata. A glob,
    group:NAME or x+ shows each asset it selects (--json: a list); only --exclude: all but those."""
    from .. import session
    from ..output import history

    opts, _ = _setup(ctx, local, reads_only=True)
    named = _asset_or_exclusions(ctx, asset, exclude, partition)
    if metric is not None:
        if named is None:  # (only with --exclude, which selects a list)
            from ..errors import SelectionError

            raise SelectionError("log --metric follows one asset: name it")
        import sys

        with _prints_to_stderr():
            points = session.asset_metric(named, metric, **located(opts),
                                          cache_dir=opts.get("cache_dir"), limit=limit, exclude=exclude)
        _say_if_nothing_selected(points["asset"], (named, *exclude))
        if points["asset"] is None and not opts.get("as_json"):
            return None
        return click.echo(history.format_metric(points, as_json=bool(opts.get("as_json")),
                                                sparkline=sys.stdout.isatty()))
    with _prints_to_stderr():
        doc = session.asset_log(named, limit, **located(opts), cache_dir=opts.get("cache_dir"),
                                exclude=exclude)
    _say_if_nothing_selected(doc, (*([asset] if asset else []), *exclude))
    if doc or opts.get("as_json"):
        click.echo(history.format_log(doc, as_json=bool(opts.get("as_json"))))


@click.command(name="diff")
@click.argument("asset")
@_common
@_json_option("Print the difference as one JSON document.")
@click.option("--from", "from_version", type=click.IntRange(min=0), default=1, show_default=True, metavar="N",
              help="The older version (0 = current, 1 = the one before...).")
@click.option("--to", "to_version", type=click.IntRange(min=0), default=0, show_default=True, metavar="M",
              help="The newer version.")
@_partition_option
@click.pass_context
@_handle_errors
def diff(ctx: click.Context, asset: str, from_version: int, to_version: int, partition: str | None,
         **local: Any) -> None:
    """Show how two versions of ASSET's value differ: text (and values shown as JSON) as a
    unified diff, tables (lists of dicts, DataFrames) as the rows added and removed, bytes by
    size and digest. Exit status 0 either way; 1 for a version cache gc dropped or trimmed
    from the history (or a build dropped as unloadable), 2 for one never recorded."""
    from .. import session
    from ..output import history

    opts, _ = _setup(ctx, local, reads_only=True)
    asset = _partitioned(asset, partition)
    with _prints_to_stderr():
        doc = session.diff(asset, from_version, to_version, **located(opts),
                           cache_dir=opts.get("cache_dir"))
    click.echo(history.format_diff(doc, as_json=bool(opts.get("as_json"))))
