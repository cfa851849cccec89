"""Options given before the command name (``assetbuild --json status``; ``assetbuild runs --json
show ID``): each is the command's own option of that name, as if given after it
(``_take_given_before``), or refused in one line, exit 2, if the command has none
(``_refuse_unused``); never dropped. So a command's option named as a group's must mean what the
group's means."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource


class PluginOption(click.Option):
    """An option an installed plugin contributes (``register_options``): one of the build's, so
    a command that builds (``takes_plugin_options``) takes it before its name too."""


def _given_before(ctx: click.Context) -> list[tuple[click.Context, click.Parameter]]:
    """The options the command line gave the groups above ctx's command, before its name
    (``assetbuild -k status``: -k; ``assetbuild runs --json show ID``: --json), outermost first.
    Given means on the command line: ASSETBUILD_CACHE_DIR fills --cache-dir of every command."""
    chain = []
    parent = ctx.parent
    while parent is not None:
        chain.append(parent)
        parent = parent.parent
    return [(group, p) for group in reversed(chain) for p in group.command.params
            if p.expose_value and p.name and group.get_parameter_source(p.name) is ParameterSource.COMMANDLINE]


def _take_given_before(ctx: click.Context, kwargs: dict[str, Any]) -> None:
    """Each option given before the command name that the command has too becomes its own
    argument, as if given after the name: a repeatable one adds its items (first), -v counts,
    any other is overridden by the command's own when given too (as click takes the last)."""
    own = {p.name: p for p in ctx.command.params if p.name in kwargs}
    for group, p in _given_before(ctx):
        mine = own.get(p.name)
        if mine is None or p.name is None:
            continue
        value = group.params[p.name]
        if ctx.get_parameter_source(p.name) is not ParameterSource.COMMANDLINE:  # not given after it
            kwargs[p.name] = value
        elif mine.multiple:
            kwargs[p.name] = (*value, *kwargs[p.name])
        elif isinstance(mine, click.Option) and mine.count:
            kwargs[p.name] = (value or 0) + (kwargs[p.name] or 0)


def _refuse_unused(ctx: click.Context, reads_only: bool) -> None:
    """An option given before the command name that the command has no use for: one line, exit
    2, as the command refuses it after its name (``_take_given_before`` passes on the others).
    -n/--dry-run is the command's own -n (a param named ``dry_run``), or nothing to do for a
    command that writes nothing (``reads_only``); any other command would write, and refuses it
    (a new command refuses every option it does not declare: a dropped one is worse)."""
    own = {p.name for p in ctx.command.params}
    for _group, p in _given_before(ctx):
        if p.name in own or (p.name == "dry_run" and reads_only):
            continue
        if isinstance(p, PluginOption) and getattr(ctx.command, "takes_plugin_options", False):
            continue  # (read from the group's options: _merged)
        if p.name == "dry_run":
            raise click.UsageError(f"-n/--dry-run: {ctx.command_path} has no dry run, and would write; leave -n out")
        flag = "/".join(p.opts)
        raise click.UsageError(f"{flag}: {ctx.command_path} has no {flag} option; leave it out")
