"""The options every command shares (-C, -f, --cache-dir, -v, -q, --json) and what each
command does first and last: apply them (``_setup``) and turn errors into one line and an exit
status (``_handle_errors``).

Options given before the command name are its own or refused: see ``given``."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from .given import _refuse_unused, _take_given_before


def _options(*options: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Several options as one decorator, listed in --help in the order given."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for o in reversed(options):
            f = o(f)
        return f

    return decorate


class Span(click.FloatRange):
    """A span of time (its unit ``scale`` seconds each): click's range without NaN, the
    infinities (which it lets through) or a span past ``clock.MAX_SPAN_S``, where waits and
    dates overflow; the help shows the range as click's does."""

    def __init__(self, unit: str = "seconds", *, scale: float = 1.0, positive: bool = False,
                 least: float = 0) -> None:
        super().__init__(min=least, min_open=positive and not least)
        self.unit, self.scale, self.positive = unit, scale, positive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..clock import span_error

        number = super().convert(value, param, ctx)
        problem = span_error(number, self.unit, scale=self.scale, positive=self.positive)
        if problem is not None:
            self.fail(f"{problem}, got {value!r}", param, ctx)
        return number


def _jobs_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """-j checked as it is read: a usage error naming -j/--jobs and what it takes."""
    if value is not None:
        from ..errors import ConfigError
        from ..executors import JOBS_TAKEN, parse_jobs

        try:
            parse_jobs(value)
        except ConfigError:
            raise click.BadParameter(f"must be {JOBS_TAKEN}, got {value!r}", ctx, param) from None
    return value


# -C, -f, --cache-dir, -v, -q: accepted before or after the command name.
directory_option = click.option("-C", "directory", metavar="DIR", type=click.Path(file_okay=False),
                                help="Run as if started in DIR (like make -C).")
_common = _options(
    directory_option,
    click.option("-f", "--file", "assetfile", metavar="FILE",
                 help="Use FILE instead of ./AssetFile."),
    click.option("--cache-dir", metavar="DIR", envvar="ASSETBUILD_CACHE_DIR",
                 help="Cache directory [default: .assetbuild in the project; env ASSETBUILD_CACHE_DIR]."),
    click.option("-v", "--verbose", count=True, help="More detail: reasons, cached assets, full tracebacks."),
    click.option("-q", "--quiet", is_flag=True, default=None, help="Only errors and the summary of a failure."),
)


def json_option(help: str) -> Callable[..., Any]:
    """``--json``, with what it prints for this command (one document, a line per build...)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def _json_option(help_or_command: Any) -> Any:
    """``@_json_option("what it prints")``: ``json_option``; bare ``@_json_option``: the generic
    help, for a command whose --json is not described yet (test_first_hour_cli finds them)."""
    if isinstance(help_or_command, str):
        return json_option(help_or_command)
    return json_option("Print one JSON document.")(help_or_command)


def describe_option(command: click.Command, name: str, help: str) -> None:
    """Give a shared option this command's own help (``watch``'s --json prints a line per build)."""
    for p in command.params:
        if p.name == name and isinstance(p, click.Option):
            p.help = help


def _merged(ctx: click.Context, local: dict[str, Any]) -> dict[str, Any]:
    merged = dict(ctx.find_object(dict) or {})  # the options given before the command name
    for k, v in local.items():
        if v not in (None, False, 0, ()) or k not in merged:
            merged[k] = v
    return merged


def _setup(ctx: click.Context, local: dict[str, Any], *, reads_only: bool = False) -> tuple[dict[str, Any], Any]:
    """The command's options (given before or after its name), the project directory made the
    working directory (-C, else -f's directory, else the nearest one above holding an
    AssetFile: see ``finding``), and the reporter. ``reads_only``: the command writes nothing
    (see ``_refuse_unused``)."""
    from ..output import Reporter
    from .finding import place_project

    _refuse_unused(ctx, reads_only)
    opts = _merged(ctx, local)
    if opts.get("directory"):
        try:
            os.chdir(opts["directory"])
        except OSError as e:
            raise click.UsageError(f"-C {opts['directory']}: {e.strerror}") from None
    verbosity = -1 if opts.get("quiet") else (1 if opts.get("verbose") else 0)
    place_project(opts, command=ctx.command.name,
                  say=lambda line: None if verbosity < 0 else click.echo(line, err=True))
    return opts, Reporter(verbosity=verbosity, json_mode=bool(opts.get("as_json")), asset_logs=True)


def _handle_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Map our errors to one clear line and an exit status; tracebacks only with -v or for bugs."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .. import output
        from ..errors import AssetbuildError

        ctx = click.get_current_context()
        _take_given_before(ctx, kwargs)  # (a --json the command has not is refused: no document)
        _names_as_declared(kwargs)
        verbose, as_json = bool(kwargs.get("verbose")), bool(kwargs.get("as_json"))
        try:
            return f(*args, **kwargs)
        except click.UsageError as e:  # one style for every error; a --json consumer gets its document
            click.echo(f"assetbuild: error: {e.format_message()}", err=True)
            if as_json:
                click.echo(output.format_error_json(e.format_message(), ctx.command.name))
            ctx.exit(2)
        except (AssetbuildError, KeyboardInterrupt) as e:
            ctx.exit(output.report_error(e, verbose=verbose, as_json=as_json, command=ctx.command.name))
        except OSError as e:  # the disk failing (EIO...): one line; any other is a bug, its traceback
            from ..errors import disk_fault

            fault = disk_fault(e)
            if fault is None:
                raise
            ctx.exit(output.report_error(fault, verbose=verbose, as_json=as_json, command=ctx.command.name))

    return wrapper


def confirm_or_stop(question: str, declined: str) -> None:
    """Ask ``question`` (callers refuse first without a terminal to ask on). A "no", or the end
    of input (Ctrl-D), prints ``declined`` (what stayed as it was: "nothing deleted") and ends
    the command with status 1, what was asked not done. Not click's ``abort=True``, whose
    "Aborted!" reads as a crash; Ctrl-C at the question is an interrupt like any other (130)."""
    try:
        yes = click.confirm(question, default=False)
    except click.Abort as e:  # (click raises it for both, "from None": the cause is its context)
        if isinstance(e.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        click.echo(err=True)  # (end of input: the answer's line was never ended)
        yes = False
    if not yes:
        click.echo(declined)
        click.get_current_context().exit(1)


# the arguments and options that name assets or sources (selection items), in every command
SELECTIONS = ("asset", "assets", "names", "exclude")


def _names_as_declared(kwargs: dict[str, Any]) -> None:
    """The names a command was given, in the Unicode form declarations hold them
    (``selection.normal_form``): a name typed or pasted in another (macOS's NFD) names the asset."""
    from ..selection import normal_form

    for k in SELECTIONS:
        v = kwargs.get(k)
        if isinstance(v, str):
            kwargs[k] = normal_form(v)
        elif isinstance(v, tuple):
            kwargs[k] = tuple(normal_form(x) if isinstance(x, str) else x for x in v)


@contextlib.contextmanager
def _prints_to_stderr(*, below_python: bool = True) -> Iterator[None]:
    """While a command loads the project: what the AssetFile prints goes to stderr, so stdout
    carries the command's output only (a JSON document, a value piped to a file): Python's
    prints, and what reaches descriptor 1 from below Python (a subprocess it starts, as
    ``git rev-parse HEAD``; C code), as ``Reporter.stdout_for_json`` sends a build's.
    ``below_python`` False: Python's only, for a command whose reporter writes its own lines to
    stdout meanwhile (``run``)."""
    from ..streams import StdoutToStderr

    below = StdoutToStderr(sys.stdout, sys.stderr) if below_python else contextlib.nullcontext()
    with below, contextlib.redirect_stdout(sys.stderr):
        yield


# --partition KEY: one partition of a partitioned ASSET (why, show, log, accept, diff)
_partition_option = click.option("--partition", "partition", metavar="KEY", default=None,
                                 help="One partition of ASSET, by its key (a partitioned asset).")


def _partitioned(asset: str, partition: str | None) -> str:
    """ASSET, or the name of its partition KEY (``daily[2024-01-01]``), as the session takes it.
    A SelectionError (exit 2) when ASSET names a partition already: joined, ``pa[eu]`` and
    ``--partition us`` made the key ``eu][us``."""
    if partition is None:
        return asset
    if "[" in asset and asset.endswith("]"):
        from ..errors import SelectionError

        raise SelectionError(f"{asset!r} names a partition already, and --partition {partition!r} another: "
                             f"give the partition once, as {asset.partition('[')[0]}[KEY] or --partition KEY")
    return f"{asset}[{partition}]"


# status, list, graph, why and log build nothing: what they leave out is only not shown
_exclude_shown_option = click.option(
    "--exclude", "exclude", metavar="SEL", multiple=True,
    help="Leave out what SEL selects (same syntax as ASSETS; repeatable).")


def _selection(assets: tuple[str, ...], opts: dict[str, Any]) -> tuple[str, ...]:
    """ASSETS less each --exclude, as one selection (``-SEL`` items: see assetbuild.selection)."""
    return (*assets, *(f"-{e}" for e in opts.get("exclude") or ()))


def _asset_or_exclusions(ctx: click.Context, asset: str | None, exclude: tuple[str, ...],
                         partition: str | None) -> str | None:
    """ASSET as the session takes it (``_partitioned``). It may be left out only with --exclude:
    only exclusions mean all but those, as everywhere assets are selected; without either, the
    error click gives for a missing argument. --partition names a partition of ASSET, so it needs one."""
    if asset is not None:
        return _partitioned(asset, partition)
    if not exclude:
        raise click.UsageError(f"Missing argument 'ASSET'. (see {ctx.command_path} --help)", ctx)
    if partition is not None:
        from ..errors import SelectionError

        raise SelectionError(f"--partition {partition!r} is a partition of ASSET: name the asset")
    return None


def _say_if_nothing_selected(found: object, given: tuple[str, ...]) -> None:
    """One line on stderr when a selection (``given``) selected nothing, which only exclusions
    can do: as a build's "0 of 0", the command says so rather than print nothing, exit 0."""
    if given and not found:
        click.echo("assetbuild: nothing selected: --exclude leaves out everything the selection names", err=True)
