"""``assetbuild clean --orphans``: the files written by assets no longer in the AssetFile (see
``session.orphans``), deleted as ``clean`` deletes outputs, each only if unchanged since."""

from __future__ import annotations

import sys
from typing import Any

import click


def clean_orphans_command(opts: dict[str, Any], rep: Any, yes: bool) -> None:
    from ..session.orphans import clean_orphans

    kw = {"assetfile": opts.get("assetfile"), "cache_dir": opts.get("cache_dir"), "reporter": rep}
    plan = clean_orphans(dry_run=True, **kw)
    stays = [f"{p} ({why})" for p, why in (*plan.kept, *plan.refused)]
    if opts.get("dry_run") or not plan.deleted:
        lines = [f"would delete {_files(len(plan.deleted))} written by removed assets" + (":" if plan.deleted else "")]
        lines += [f"  {p}" for p in plan.deleted]
        if stays:
            lines.append(f"would keep {_files(len(stays))} (changed since, or not safe to delete):")
            lines += [f"  {s}" for s in stays]
        return click.echo("\n".join(lines) if plan.deleted or stays else "no outputs of removed assets to delete")
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"refusing to delete {_files(len(plan.deleted))} without --yes (no terminal to ask)")
        click.confirm(f"Delete {_files(len(plan.deleted))} written by assets no longer in the AssetFile?", abort=True)
    done = clean_orphans(**kw)
    kept = [f"{p} ({why})" for p, why in (*done.kept, *done.refused)]
    if kept:
        rep.warn(f"kept {_files(len(kept))} written by removed assets: " + ", ".join(kept[:5]))
    click.echo(f"deleted {_files(len(done.deleted))} written by removed assets"
               + "".join(f"\n  deleted {p}" for p in done.deleted if rep.verbosity > 0))


def _files(n: int) -> str:
    return f"{n} file{'' if n == 1 else 's'}"
