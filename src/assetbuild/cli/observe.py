"""``assetbuild observe``: run the observable sources' observe functions, record what they
return, build nothing; and how its result reads (``name  version`` lines, or one JSON
document)."""

from __future__ import annotations

import sys
from typing import Any

import click

from .finding import located
from .options import _common, _handle_errors, _json_option, _setup


def format_observations(results: list[Any], *, as_json: bool = False) -> str:
    """``name  version`` per successful observation (in declaration order), or the JSON document
    ``{"ok", "observations": [{"source", "version", "changed", "error"}]}``."""
    if as_json:
        import json

        return json.dumps({"ok": all(o.ok for o in results), "observations": [o.to_json() for o in results]})
    width = max((len(o.source) for o in results if o.ok), default=0)
    return "\n".join(f"{o.source:<{width}}  {o.version}" for o in results if o.ok)


def format_failure(obs: Any) -> str:
    """A failed observation as a build reports a failed asset: one line, then its traceback."""
    text = f"FAILED    {obs.source}: {obs.error}\n"
    if obs.traceback:
        text += "".join("    " + ln + "\n" for ln in obs.traceback.rstrip("\n").splitlines())
    return text.rstrip("\n")


@click.command(epilog="""\b
Examples:
  assetbuild observe                 observe every observable source
  assetbuild observe orders_api      one of them
  assetbuild observe --json          {"ok": ..., "observations": [...]}
""")
@click.argument("names", nargs=-1)
@_common
@_json_option('Print one JSON document, {"ok", "observations": [...]}, instead of the lines.')
@click.pass_context
@_handle_errors
def observe(ctx: click.Context, names: tuple[str, ...], **local: Any) -> None:
    """Observe NAMES (default: every observable source) and print `name  version` lines.

    Runs each @observable_source's observe function once and records its version (with its
    time and metadata) in the cache directory; builds nothing (a build observes again, and
    reruns the readers of a source whose version is not the one they were built with).
    "changed" (--json) says whether a version differs from the previous recorded observation
    of that source. A failing observe function is reported with its traceback. Exit status 0 when every observation succeeded, 1 when one failed, 2 when a
    NAME is not an observable source or the AssetFile has an error.
    """
    from .. import session

    opts, rep = _setup(ctx, local)
    results = session.observe(names, **located(opts), cache_dir=opts.get("cache_dir"), reporter=rep)
    for obs in results:
        if not obs.ok:
            click.echo(format_failure(obs), err=True)
    text = format_observations(results, as_json=bool(opts.get("as_json")))
    if text:
        click.echo(text)
    elif not results and not opts.get("as_json"):  # (NAMES that name nothing were refused)
        click.echo("no observable sources in this project: @observable_source declares one", err=True)
    sys.stdout.flush()
    if not all(o.ok for o in results):
        ctx.exit(1)
