"""``assetbuild run`` (keep assets as fresh as their policies ask) and ``assetbuild ticks``
(what its ticks did and why)."""

from __future__ import annotations

from typing import Any

import click

from .finding import located
from .options import _common, _handle_errors, _jobs_value, _json_option, _prints_to_stderr, _setup


@click.command(epilog="""\b
Examples:
  assetbuild run                       a tick every 30 s, until Ctrl-C or SIGTERM
  assetbuild run --once                one tick (cron, CI, tests with ASSETBUILD_NOW)
  assetbuild run --tick 5m report      keep report and what it needs, every 5 minutes
  assetbuild run --on-alert 'mail -s assetbuild me@example.com'
""")
@click.argument("assets", nargs=-1)
@_common
@_json_option("Print one JSON line per tick (what it requested and why, its run, what was overdue) instead of its text lines.")
@click.option("--tick", "tick_s", metavar="SECONDS", default="30",
              help="Time between ticks: seconds or a duration such as 5m [default: 30].")
@click.option("--once", is_flag=True, help="Run one tick and exit: 0, or 1 if a requested asset failed.")
@click.option("-j", "--jobs", metavar="N|auto", default=None, callback=_jobs_value,
              help="Run up to N assets at once in a tick's build [default: 1, or jobs in [tool.assetbuild]].")
@click.option("--on-alert", metavar="CMD", default=None,
              help="Run the shell command CMD for each alert (an asset overdue, recovered or failed), "
                   "with the event as JSON on its stdin.")
@click.pass_context
@_handle_errors
def run(ctx: click.Context, assets: tuple[str, ...], tick_s: str, once: bool, jobs: str | None,
        on_alert: str | None, **local: Any) -> None:
    """Keep ASSETS (default: all) as fresh as their policies ask, a tick at a time.

    Policies are declared on assets: @asset(freshness="1h") (its data must include every
    upstream change older than that), auto="eager" (build as soon as an input changes),
    auto="lazy" (build only when a freshness needs it), schedule="0 9 * * *" (cron, in
    timezone=, default UTC). Assets without a policy are never built by run.

    Each tick reloads the AssetFile if it changed, observes the observable sources whose
    poll= interval has passed, evaluates the policies and builds exactly what they request,
    as one run (against the stored values of the other inputs, like build --only). Every tick
    is recorded with what it requested and why: see `assetbuild ticks`. A failing asset is
    retried on a later tick that still asks for it, after retry_backoff in [tool.assetbuild]
    (default 60 s), doubled after each further failure, or at once after a fix of its code
    (env, params); an overdue asset and its recovery are alerts (the asset_overdue hook,
    --on-alert), and so is a failure (asset_failed).

    Prints a tick's lines when it requested something (every tick with -v or --once); with
    --json, one JSON line per tick. One run per project: a second exits 2 naming the first's
    pid. Ctrl-C or SIGTERM ends it after the current asset's bookkeeping, exit 0.
    """
    from .. import session
    from ..clock import parse_duration

    opts, rep = _setup(ctx, local)
    try:
        seconds = parse_duration(tick_s)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--tick'") from None
    # (its tick lines go to the reporter's stdout, taken before; with --json, session.run sends
    # what reaches descriptor 1 from below Python to stderr itself: Reporter.stdout_for_json)
    with _prints_to_stderr(below_python=False):
        summary = session.run(assets, **located(opts), cache_dir=opts.get("cache_dir"),
                              tick_s=seconds, once=once, jobs=jobs, reporter=rep, on_alert=on_alert,
                              handle_signals=True)
    if once and summary.failed:
        ctx.exit(1)


@click.command(epilog="""\b
Examples:
  assetbuild ticks                     the last 20 ticks of assetbuild run
  assetbuild ticks -n 100 --json       the last 100, as JSON
""")
@_common
@_json_option('Print one JSON document, {"ticks": [...]}, oldest first.')
@click.option("-n", "--limit", "limit", metavar="N", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show the newest N ticks (as runs and log: -n/--limit).")
@click.pass_context
@_handle_errors
def ticks(ctx: click.Context, limit: int, **local: Any) -> None:
    """What the last ticks of `assetbuild run` did: when, what each requested and why
    (eager: upstream orders changed; lazy: needed for report's freshness 1h; schedule:
    0 9 * * *; new partition 2024-03-02), what was held back, the run it built and what
    was overdue. Oldest first. Reads the cache directory only."""
    from ..output.daemon import tick_lines
    from ..session.daemon import list_ticks

    opts, _ = _setup(ctx, local, reads_only=True)
    rows = list_ticks(**located(opts), cache_dir=opts.get("cache_dir"), limit=limit)
    if opts.get("as_json"):
        import json

        click.echo(json.dumps({"ticks": rows}))
        return
    if not rows:
        click.echo("no ticks recorded: `assetbuild run` records one per tick", err=True)
        return
    for doc in rows:
        click.echo("\n".join(tick_lines(doc)))
