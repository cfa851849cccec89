"""``assetbuild clean --orphans``: orphaned outputs, the files assetbuild wrote that no asset writes
now (an asset removed from the AssetFile, or a ``path=``/``outputs=`` changed; see
``session.orphans``), deleted as ``clean`` deletes outputs, each only if unchanged since."""

from __future__ import annotations

import sys
from typing import Any

import click

CLEAN_HELP = """Delete the cache directory and the files assetbuild wrote into the project (path
outputs, outputs=), as make clean would. A file is deleted only if it still holds what assetbuild
recorded writing; one changed since stays, with a warning. -v lists each file deleted. On a
terminal it asks first (no: "nothing deleted", exit status 1); without one it needs --yes.

--keep-outputs deletes the cache alone; --orphans deletes only orphaned outputs, the files
assetbuild wrote that no asset writes now (an asset removed from the AssetFile, or its path= or
outputs= changed; a build says when there are some), and keeps the cache.
"""


def clean_options(f: Any) -> Any:
    """``clean``'s options about the project's files (the others are declared with the command)."""
    f = click.option("--orphans", is_flag=True, help="Delete only orphaned outputs: files assetbuild wrote that "
                     "no asset writes now (removed assets, a changed path= or outputs=), each only if unchanged "
                     "since and not claimed by the AssetFile now; the cache stays.")(f)
    f = click.option("--all-projects", is_flag=True, help="Delete a cache directory other projects share too "
                     "(refused without it: their latest builds would go).")(f)
    f = click.option("--outputs", is_flag=True, hidden=True, help="The default now: accepted, does nothing.")(f)
    return click.option("--keep-outputs", is_flag=True, help="Keep the files assetbuild wrote into the project "
                        "(path=, outputs=); by default they go with the cache, each only if unchanged since "
                        "(edited ones stay).")(f)


def clean_orphans_command(opts: dict[str, Any], rep: Any, yes: bool) -> None:
    """``clean --orphans``: list, ask (or need --yes without a terminal), delete, say what went."""
    from ..session.orphans import clean_orphans, orphaned
    from .finding import located

    kw = {**located(opts), "cache_dir": opts.get("cache_dir"), "reporter": rep}
    plan = clean_orphans(dry_run=True, **kw)
    stays = [f"{p} ({why})" for p, why in (*plan.kept, *plan.failed, *plan.refused)]
    if not plan.deleted and not stays:
        return click.echo("no orphaned outputs to delete")
    if opts.get("dry_run"):
        lines = [f"would delete {orphaned(len(plan.deleted))}" + (":" if plan.deleted else "")]
        lines += [f"  {p}" for p in plan.deleted]
        if stays:
            lines.append(f"would keep {_files(len(stays))} (changed since, or not safe to delete):")
            lines += [f"  {s}" for s in stays]
        return click.echo("\n".join(lines))
    if plan.deleted and not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"refusing to delete {_files(len(plan.deleted))} without --yes (no terminal to ask)")
        from .options import confirm_or_stop

        confirm_or_stop(f"Delete {orphaned(len(plan.deleted))} (files assetbuild wrote that no asset writes now)?",
                        "nothing deleted")
    done = clean_orphans(**kw) if plan.deleted else plan  # none to delete: said as a real run says it
    kept = [f"{p} ({why})" for p, why in (*done.kept, *done.refused)]
    if kept:
        rep.warn(f"kept {orphaned(len(kept))}: " + ", ".join(kept[:5]))
    click.echo(f"deleted {orphaned(len(done.deleted))}"
               + "".join(f"\n  deleted {p}" for p in done.deleted if rep.verbosity > 0))
    if done.failed:  # still noted: the next clean --orphans deletes them once it can
        from ..errors import StoreError

        n = len(done.failed)
        raise StoreError(f"cannot delete {orphaned(n)}, which still hold{'s' if n == 1 else ''} what assetbuild wrote: "
                         + ", ".join(f"{p} ({why})" for p, why in done.failed[:5])
                         + " (run assetbuild clean --orphans again once they can be deleted)")


def _files(n: int) -> str:
    return f"{n} file{'' if n == 1 else 's'}"
