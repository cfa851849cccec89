"""The command line: click only. Each command is a thin call into ``assetbuild.session`` and
one into ``assetbuild.output`` (which renders the result); the options are declared once.

Exit statuses: 0 every requested asset is fresh at the end; 1 an asset failed; 2 a usage or
definition error, or a cache that cannot be written; 130 interrupted (Ctrl-C); 143 SIGTERM.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import click

from .finding import OneErrorStyle, caller_path, close_command, help_command, located, unknown_word
from .given import PluginOption
from .options import (
    Span,
    _asset_or_exclusions,
    _common,
    _exclude_shown_option,
    _handle_errors,
    _jobs_value,
    _options,
    _partition_option,
    _partitioned,
    _prints_to_stderr,
    _say_if_nothing_selected,
    _selection,
    _setup,
    confirm_or_stop,
    describe_option,
    json_option,
)

EXAMPLES = """\b
Examples:
  assetbuild                     build every asset that is not up to date
  assetbuild report -n           what would run to bring 'report' up to date, and why
  assetbuild status              fresh, stale or missing, with reasons
  assetbuild why report          what changed since 'report' was last built
  assetbuild show report         print the stored value of 'report'
  assetbuild -C examples/etl     run in another project directory
  assetbuild watch               rebuild on every save, until Ctrl-C
  assetbuild observe             what each observable source's version is now
  assetbuild run                 keep assets as fresh as their policies ask
"""


_parallel_options = [
    click.option("-j", "--jobs", metavar="N|auto", default=None, callback=_jobs_value,
                 help="Run up to N assets at once; auto = the CPUs this process may use "
                      "[default: 1, or jobs in [tool.assetbuild]]."),
    click.option("--executor", metavar="NAME", default=None,
                 help="Where assets run: serial (default for -j 1), threads (I/O-bound), processes "
                      "(default for -j N > 1), or a plugin's. An asset's executor= wins."),
    click.option("--executor-option", "executor_options", metavar="KEY=VALUE", multiple=True,
                 help="An option of the executor (repeatable)."),
    click.option("--timeout", metavar="SECONDS", type=Span(positive=True), default=None,
                 help="Fail an asset that runs longer than SECONDS and kill its worker (with -j 1, "
                      "assets then run in a worker process); an asset's timeout= wins "
                      "[default: none, or timeout in [tool.assetbuild]]."),
]


def _build_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    """The options of _build_options (plugins' options included) as keyword arguments of
    session.build (and session.watch)."""
    options: dict[str, str] = {}
    for item in opts.get("executor_options") or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--executor-option {item!r}: use KEY=VALUE")
        options[key.strip()] = value
    executor = opts.get("executor")
    for flag in _plugin_flags()[0] if _plugin_flags.cache_info().currsize else ():  # loaded: maybe given
        value = opts.get(_param_name(flag.flag))
        if value:
            options[flag.option] = value
            executor = executor or flag.executor
    if opts.get("partition") is not None and opts.get("partitions") is not None:
        raise click.UsageError("give --partition KEY or --partitions KEYS, not both")
    parts = (opts["partition"],) if opts.get("partition") is not None else opts.get("partitions")  # one KEY, unsplit
    return {"force": bool(opts.get("force")), "force_upstream": bool(opts.get("force_upstream")),
            "partitions": parts,
            "only": bool(opts.get("only")), "keep_going": bool(opts.get("keep_going")),
            "dry_run": bool(opts.get("dry_run")), "jobs": opts.get("jobs"), "executor": executor,
            "executor_options": options or None, "timeout": opts.get("timeout")}


@functools.cache
def _plugin_flags() -> tuple[tuple[Any, ...], Exception | None]:
    """The options installed plugins contribute (``register_options``), and the error of a broken
    plugin (a flag already taken)."""
    from ..plugins import installed_plugins

    if not installed_plugins():  # none to ask: no plugin manager (nor pluggy) to build
        return (), None
    from ..errors import PluginError
    from ..plugins import collect_options, get_plugin_manager

    taken = {"--help", *(o for cmd in (cli, build, watch) for p in cmd.params for o in (*p.opts, *p.secondary_opts))}
    try:
        return tuple(collect_options(get_plugin_manager(builtins=False), taken)), None
    except PluginError as e:
        return (), e


def _param_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


class _TakesPluginOptions(click.Command):
    """A command whose options include the plugins' (``register_options``). They are loaded,
    with the plugins, only when the arguments may use one (a long option this command does not
    know) or ask for help: ``assetbuild -j 4`` loads the plugins once, when the build does."""

    takes_plugin_options = True  # also before its name (``_refuse_unused``)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not getattr(self, "_plugin_options_added", False) and self._may_use_plugin_options(ctx, args):
            self._plugin_options_added = True
            flags, error = _plugin_flags()
            if error is not None and not _asks_for_help(args):
                raise click.UsageError(str(error), ctx)
            if error is not None:
                click.echo(f"assetbuild: warning: {error}", err=True)
            for flag in flags:
                self.params.append(PluginOption([flag.flag, _param_name(flag.flag)], metavar=flag.metavar,
                                                default=None, help=flag.help or None))
        return super().parse_args(ctx, args)

    def _may_use_plugin_options(self, ctx: click.Context, args: list[str]) -> bool:
        known = {o for p in self.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
        return _asks_for_help(args) or any(a.startswith("--") and a.partition("=")[0] not in known for a in args)


def _asks_for_help(args: list[str]) -> bool:
    return "--help" in args or "-h" in args


# --param: accepted before or after the command name, repeatable (session.build's param_args).
_param_option = click.option(
    "--param", "param", multiple=True, metavar="ASSET.KEY=VALUE",
    help="Set a param an asset declares (@asset(params=...)) for this run, over pyproject's "
         "[tool.assetbuild.params.ASSET] (repeatable). VALUE is read as JSON, else taken as a "
         "string: --param big_ones.threshold=5 --param sales/monthly.region=eu.")


def _param_args(ctx: click.Context, local: dict[str, Any]) -> dict[str, Any]:
    """--param items given before and after the command name, as session keyword arguments."""
    return {"param_args": tuple(local.get("param") or ())}


_exclude_option = click.option(
    "--exclude", "exclude", metavar="SEL", multiple=True,
    help="Leave out what SEL selects (same syntax as ASSETS; repeatable). What the rest needs is still built.")


_build_options = _options(
    click.option("-k", "--keep-going", is_flag=True, default=None,
                 help="After a failure, go on with everything that does not depend on it."),
    click.option("-n", "--dry-run", is_flag=True, default=None,
                 help="Say what would run and why; run nothing (observable sources are observed), "
                      "write nothing."),
    click.option("--force", is_flag=True, default=None,
                 help="Run the selected assets even if up to date (not what they need: see --force-upstream)."),
    click.option("--force-upstream", is_flag=True, default=None,
                 help="Like --force, and also run everything the selected assets need."),
    click.option("--only", is_flag=True, default=None,
                 help="Run just the selected assets, against the stored values of their inputs, even "
                      "stale ones (nothing upstream runs; a later full build reconciles)."),
    _exclude_option,
    click.option("--partition", "partition", metavar="KEY", default=None,
                 help="Build one partition of the selected partitioned assets (KEY whole: no list or range)."),
    click.option("--partitions", "partitions", metavar="KEYS", default=None,
                 help="Build these partitions of the selected partitioned assets (of all, without a selection): "
                      "A..B (inclusive, in key order; A.. to the last, ..B from the first) or a,b,c. "
                      "A backfill: runs with -j, resumes where a killed one stopped."),
    click.option("--json", "as_json", is_flag=True, default=None,
                 help="Print one JSON document: ok, and a result per asset (status, key, data_version, "
                      "duration_s, error, metadata); stdout holds nothing else."),
    _param_option,
    *_parallel_options,
)


# The remote cache (README, "Caching in CI"): accepted before or after the command name.
_remote_options = _options(
    click.option("--remote", metavar="URL", default=None,
                 help="Shared cache: file:///dir or s3://bucket/prefix (S3 endpoint from "
                 "AWS_ENDPOINT_URL). Local misses are fetched from it, new outputs uploaded; "
                 "entries are signed with ASSETBUILD_CACHE_SIGNING_KEY and verified with the public "
                 "keys in ASSETBUILD_CACHE_TRUSTED_KEYS (`cache keygen` makes a pair; public keys "
                 "alone: read only), or both with the HMAC secret in ASSETBUILD_CACHE_KEY "
                 "[env ASSETBUILD_REMOTE]."),
    click.option("--remote-read-only", is_flag=True, default=None,
                 help="Use the remote cache but upload nothing (pull requests, forks)."),
    click.option("--trust-remote-unsigned", is_flag=True, default=None,
                 help="With none of the keys --remote names, still use and upload unsigned entries. "
                 "Loading an output can run code: only for a remote nobody else can write."),
    click.option("--remote-timeout", type=Span(positive=True, least=0.1), metavar="SECONDS", default=None,
                 help="Connect and read timeout of one remote request [default: 10]."),
    click.option("--remote-option", "remote_option", multiple=True, metavar="KEY=VALUE",
                 help="An fsspec storage option (repeatable), e.g. endpoint_url=http://localhost:9000; "
                 "VALUE is parsed as JSON when it can be."),
)


def _parse_remote_options(items: Any) -> dict[str, Any] | None:
    import json

    out: dict[str, Any] = {}
    for item in items or ():
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise click.UsageError(f"--remote-option {item!r}: expected KEY=VALUE")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out or None


def _remote_kwargs(ctx: click.Context, local: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    """The options of _remote_options as keyword arguments of session.build (and session.watch)."""
    return {"remote": opts.get("remote"), "remote_read_only": bool(opts.get("remote_read_only")),
            "trust_remote_unsigned": bool(opts.get("trust_remote_unsigned")), "remote_timeout": opts.get("remote_timeout"),
            "remote_options": _parse_remote_options(local.get("remote_option"))}  # (before the name too: options.py)


class _DefaultToBuild(_TakesPluginOptions, OneErrorStyle):
    """`assetbuild report` means `assetbuild build report`: a word that is not a command is an
    asset (one close to a command, that is no asset either, is said to be a typo: ``finding``)."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            near = close_command(args[0], self, ctx)
            if near is not None:
                ctx.meta["assetbuild.typo"] = (args[0], near)
            return "build", self.commands["build"], args
        return super().resolve_command(ctx, args)


@click.group(cls=_DefaultToBuild, invoke_without_command=True, epilog=EXAMPLES,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@_common
@_build_options
@_remote_options
@click.version_option(package_name="assetbuild", prog_name="assetbuild")
@click.pass_context
def cli(ctx: click.Context, **opts: Any) -> None:
    """Build Python data assets incrementally: only what is not up to date runs.

    Assets are functions declared with @asset in an AssetFile. Each asset's cache key is a digest
    of its code and of the data versions of its inputs, kept in .assetbuild/. Without a command,
    builds every asset (same as `assetbuild build`).
    """
    ctx.ensure_object(dict).update(opts)  # options given before the command name (assetbuild -C dir status)
    if ctx.invoked_subcommand is None:
        ctx.invoke(build, assets=())


@cli.command(cls=_TakesPluginOptions)
@click.argument("assets", nargs=-1)
@_common
@_build_options
@_remote_options
@click.pass_context
@_handle_errors
def build(ctx: click.Context, assets: tuple[str, ...], **local: Any) -> None:
    """Build ASSETS and everything upstream of them (default: all).

    An ASSET is a name, a glob over names ('raw/*') or group:NAME; +ASSET adds everything
    upstream of it, ASSET+ everything downstream ('x+' builds x and what depends on it), +ASSET+
    both. -n says exactly what would run.

    Exit status 0 when every requested asset is fresh at the end, 1 when one failed (a full
    disk where it writes included), 2 for an error in the AssetFile or the command line, or
    a cache that cannot be written (a full disk, no permission).
    """
    from .. import output, session

    opts, rep = _setup(ctx, local)
    with unknown_word(ctx, assets):
        result = session.build(_selection(assets, opts), **located(opts),
                               cache_dir=opts.get("cache_dir"), reporter=rep, **_build_kwargs(opts),
                               **_remote_kwargs(ctx, local, opts), **_param_args(ctx, local))
    if opts.get("as_json"):
        click.echo(output.format_build_json(result))
    if not result.ok:  # -n too, when it predicts a failure
        ctx.exit(1)


@cli.command(cls=_TakesPluginOptions)
@click.argument("assets", nargs=-1)
@_common
@_build_options
@_remote_options
@click.option("--debounce", metavar="MS", type=Span("milliseconds", scale=0.001), default=None,
              help="Wait until no file changed for MS milliseconds before rebuilding [default: 20].")
@click.pass_context
@_handle_errors
def watch(ctx: click.Context, assets: tuple[str, ...], debounce: float | None, **local: Any) -> None:
    """Build ASSETS, then rebuild whenever a file they depend on changes, until Ctrl-C.

    Watches declared sources, the AssetFile, pyproject.toml and the project modules it imports (edits take
    effect without a restart; only assets whose keys changed run), and observes each observable
    source again every poll= seconds (rebuilding its readers when its version changed). Ignores the cache directory,
    path outputs, .git, __pycache__ and editor temp files. Prints one line per build that ran
    something; a failing asset or an AssetFile that does not load is reported and watching goes
    on (-k is implied; --force applies to the first build). With --json, one JSON line per build.
    Ctrl-C or SIGTERM: stop, print a summary, exit 0.
    """
    from .. import session

    opts, rep = _setup(ctx, local)
    session.watch(_selection(assets, opts), **located(opts), cache_dir=opts.get("cache_dir"),
                  debounce_ms=debounce, reporter=rep, handle_signals=True, **_build_kwargs(opts),
                  **_remote_kwargs(ctx, local, opts), **_param_args(ctx, local))


describe_option(watch, "as_json", "Print one JSON line for the first build and each later one that ran something "
                "(time, changed, ok, error, results, duration_s) instead of the text lines; no summary at the end.")


@cli.command()
@click.argument("assets", nargs=-1)
@_common
@json_option('Print one JSON document, {"assets": [...]}: each one\'s state and reasons.')
@_param_option
@_remote_options
@_exclude_shown_option
@click.option("--check", is_flag=True, help="Exit 1 when any selected asset is not fresh (stale, missing or failed), "
              "0 when all are: a CI gate, like make -q.")
@click.option("--partitions", "each_partition", is_flag=True,
              help="List each partition of a partitioned asset (default: one line of counts per asset).")
@click.pass_context
@_handle_errors
def status(ctx: click.Context, assets: tuple[str, ...], check: bool, each_partition: bool, **local: Any) -> None:
    """Say whether each asset is fresh, stale, missing, failed or overdue, and why. Writes nothing.

    failed: the key it would run under now is the key its last run failed with (the reason
    shows the error's first line); fix the code or inputs, or build again to retry. overdue:
    it lacks a change older than its freshness= (see `assetbuild run`).

    Reasons: never-built, code-changed, upstream-changed, source-changed, source-moved,
    source-missing, remote, stored-before (its code or inputs are back to a build's before: a
    build restores that value), output-missing, output-modified, key-changed (another Python version,
    implementation or -O built it), volatile (runs on every build), expired (older than its
    max_age), env-changed, params-changed (a --param or pyproject's [tool.assetbuild.params]
    gives other values than its last build had), resource-changed (a resource's version=),
    observation-changed, observation-failed; skipped notes that its
    latest run returned Skip. Observable sources are observed, nothing is recorded. Exit status
    0 whatever the states (--check: 1 when any is not fresh), 2 for an error in the AssetFile or in
    ASSETBUILD_NOW."""
    from .. import output, session, streams

    opts, rep = _setup(ctx, local, reads_only=True)
    remote = _remote_kwargs(ctx, local, opts)
    del remote["remote_read_only"]  # status uploads nothing
    rows = session.status(_selection(assets, opts), **located(opts), cache_dir=opts.get("cache_dir"),
                          reporter=rep, **remote, **_param_args(ctx, local))
    _say_if_nothing_selected(rows, _selection(assets, opts))
    text = output.format_status(rows, color=streams.use_color(sys.stdout), as_json=bool(opts.get("as_json")),
                                each_partition=(assets or True) if each_partition else False,
                                verbose=rep.verbosity > 0)
    if text:
        click.echo(text)
    if check and any(r.state != "fresh" for r in rows):
        ctx.exit(1)


@cli.command()
@click.argument("asset", required=False)
@_common
@json_option("Print the explanation as one JSON document (a list for a glob, a group or --exclude).")
@_param_option
@_partition_option
@_exclude_shown_option
@click.pass_context
@_handle_errors
def why(ctx: click.Context, asset: str | None, partition: str | None, exclude: tuple[str, ...], **local: Any) -> None:
    """Explain ASSET (a glob, group:NAME or x+: each asset it selects; only --exclude: all but
    those): which function or helper changed, which inputs changed (old and new), which params
    changed (params-changed: threshold 3 -> 5; --param sets them as a build would)."""
    from .. import output, session

    opts, rep = _setup(ctx, local, reads_only=True)
    named = _asset_or_exclusions(ctx, asset, exclude, partition)
    info = session.why(named, **located(opts), cache_dir=opts.get("cache_dir"), reporter=rep,
                       exclude=exclude, **_param_args(ctx, local))
    _say_if_nothing_selected(info, (*([asset] if asset else []), *exclude))
    if info or opts.get("as_json"):
        click.echo(output.format_why(info, as_json=bool(opts.get("as_json"))))


@cli.command(name="list")
@click.argument("assets", nargs=-1)
@_common
@json_option('Print one JSON document, {"assets": [...]}: each one\'s kind, inputs and path.')
@_exclude_shown_option
@click.pass_context
@_handle_errors
def list_cmd(ctx: click.Context, assets: tuple[str, ...], **local: Any) -> None:
    """List sources and assets with their inputs, in build order (ASSETS: only those, and the
    sources and resources they use; same selection syntax as build)."""
    from .. import output, session

    opts, rep = _setup(ctx, local, reads_only=True)
    with _prints_to_stderr():
        rows = session.list_assets(**located(opts), cache_dir=opts.get("cache_dir"),
                                   assets=_selection(assets, opts))
    _say_if_nothing_selected(rows, _selection(assets, opts))
    text = output.format_assets(rows, as_json=bool(opts.get("as_json")), verbose=rep.verbosity > 0)
    if text:
        click.echo(text)


@cli.command()
@click.argument("assets", nargs=-1)
@_common
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid", "json", "svg", "png"]), default="dot",
              show_default=True, help="Output format. svg: a picture drawn by assetbuild itself, each asset "
              "coloured by its status state (as the UI's /graph page); png: Graphviz's, needs `dot` installed.")
@click.option("-o", "--output", "out", metavar="FILE", default=None,
              help="Write to FILE instead of stdout (png needs it on a terminal); - is stdout.")
@_exclude_shown_option
@click.pass_context
@_handle_errors
def graph(ctx: click.Context, assets: tuple[str, ...], fmt: str, out: str | None, **local: Any) -> None:
    """Print the dependency graph (pipe dot output to `dot -Tsvg`); ASSETS: only those (same
    selection syntax as build: '+report' is report and everything it needs). svg and png show
    each asset's state (fresh, stale, missing, failed, overdue) as `status` finds it; read-only."""
    from .. import output, session
    from . import pictures

    out = pictures.output_file(fmt, out)  # None: stdout
    opts, _ = _setup(ctx, local, reads_only=True)
    out = caller_path(opts, out) if out else out
    with _prints_to_stderr():
        nodes = session.describe_graph(**located(opts), cache_dir=opts.get("cache_dir"),
                                       assets=_selection(assets, opts))
    if fmt in ("svg", "png"):
        pictures.write_picture(nodes, fmt, pictures.asset_states(_selection(assets, opts), opts), out)
        return
    pictures.write_text(output.format_graph(nodes, fmt), out)


@cli.command()
@click.argument("asset")
@_common
@json_option("Print the value as JSON (with --meta: what its materialization recorded).")
@click.option("--meta", is_flag=True, help="Print what its latest materialization recorded (metadata, time, data "
              "version, key) instead of its value.")
@click.option("--version", "version", type=click.IntRange(min=0), default=None, metavar="N",
              help="An older value: the N-th newest version (0 = current, 1 = the one before...; a key built "
                   "or restored again counts once, a failed run not at all).")
@click.option("--key", metavar="KEY", default=None,
              help="The value built under KEY (8 characters or more; `assetbuild log ASSET --json` lists keys).")
@_partition_option
@click.pass_context
@_handle_errors
def show(ctx: click.Context, asset: str, meta: bool, version: int | None, key: str | None, partition: str | None,
         **local: Any) -> None:
    """Print the stored value of ASSET (its latest build; verified before it is loaded), the
    latest recorded observation of an observable source, or what a resource is (its version
    and the assets that use it). With --meta, the metadata of its latest materialization. With
    --version N or --key KEY, an older value (one that cache gc dropped or trimmed from the
    history, or a build dropped as unloadable: exit status 1; one never recorded: 2). The value of an asset that is stale or
    failed now comes with a warning on stderr."""
    from .. import output, session

    opts, _ = _setup(ctx, local, reads_only=True)
    asset = _partitioned(asset, partition)
    if meta:
        with _prints_to_stderr():
            info = session.load_metadata(asset, **located(opts), cache_dir=opts.get("cache_dir"))
        return click.echo(output.format_metadata(info, as_json=bool(opts.get("as_json"))))
    with _prints_to_stderr():
        value = session.load_value(asset, **located(opts), cache_dir=opts.get("cache_dir"),
                                   version=version, key=key,
                                   warn=lambda line: click.echo(line, err=True))
    text = output.format_value(asset, value, as_json=bool(opts.get("as_json")))
    if isinstance(text, bytes):  # as stored: no newline added
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    else:
        click.echo(text)


from .cleaning import CLEAN_HELP, clean_options, clean_orphans_command  # noqa: E402


@cli.command(help=CLEAN_HELP)
@_common
@clean_options
@click.option("-n", "--dry-run", is_flag=True, default=None, help="List what would be deleted; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@_handle_errors
def clean(ctx: click.Context, yes: bool, outputs: bool, keep_outputs: bool, orphans: bool, all_projects: bool,
          **local: Any) -> None:
    from .. import session
    from ..output import maintenance as maintenance_output

    opts, rep = _setup(ctx, local)
    if orphans:
        return clean_orphans_command(opts, rep, yes)
    kw = {"cache_dir": opts.get("cache_dir"), **located(opts), "outputs": not keep_outputs,
          "reporter": rep, "all_projects": all_projects}
    plan = session.maintenance.clean_report(dry_run=True, **kw)
    if opts.get("dry_run") or plan.nothing_to_do:
        return click.echo(maintenance_output.format_clean(plan))
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"refusing to delete {plan.cache_dir} without --yes (no terminal to ask)")
        confirm_or_stop(maintenance_output.format_clean(plan, asking=True), "nothing deleted")
    click.echo(maintenance_output.format_clean(session.maintenance.clean_report(**kw), verbose=rep.verbosity > 0))


@cli.command()
@click.argument("asset")
@_common
@json_option("Print what was accepted (or that ASSET is fresh already) as one JSON document.")
@_param_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_partition_option
@click.pass_context
@_handle_errors
def accept(ctx: click.Context, asset: str, yes: bool, partition: str | None, **local: Any) -> None:
    """Record ASSET's stored output as the result of its current code and inputs, without
    running it (like `dvc commit`): the escape hatch after a refactor that changes nothing.

    `status` then says fresh, and its readers see the same data version as before. Recorded in
    history as an event of kind accepted (see `assetbuild log ASSET`). Refuses, exit 1, when the
    output is missing (never built, gone from the cache, its path output missing or edited), an
    input is not up to date (build it first), its IO manager changed, or it is expired or failed;
    exit 0 with nothing written when ASSET is fresh already. On a terminal it asks (no: exit 1); else --yes.
    """
    import json

    from .. import session

    opts, rep = _setup(ctx, local)
    asset = _partitioned(asset, partition)
    kw = {**located(opts), "cache_dir": opts.get("cache_dir"), "reporter": rep,
          **_param_args(ctx, local)}
    plan = session.accept(asset, dry_run=True, **kw)
    if plan["fresh"]:
        if opts.get("as_json"):
            return click.echo(json.dumps(plan))
        return click.echo(f"{asset} is fresh: nothing to accept")
    changed = "; ".join(f"{r['code']}: {r['detail']}" for r in plan["reasons"])
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"refusing to accept {asset!r} without --yes (no terminal to ask)")
        confirm_or_stop(f"accept the stored output of {asset!r} as the result of its current code and inputs "
                        f"({changed})?", json.dumps(plan) if opts.get("as_json") else "nothing accepted")
    doc = session.accept(asset, **kw)
    click.echo(json.dumps(doc) if opts.get("as_json") else
               f"accepted {asset}: its output is now the result of key {doc['key'][:12]} ({changed})")


from .cache import cache  # noqa: E402  (after cli: the group it joins)
from .daemon import run, ticks  # noqa: E402
from .history import diff, log, runs  # noqa: E402
from .observe import observe  # noqa: E402
from .partitions import partitions  # noqa: E402
from .ui import ui  # noqa: E402

cli.add_command(help_command)
cli.add_command(cache)
cli.add_command(partitions)
cli.add_command(observe)
cli.add_command(run)
cli.add_command(ticks)
cli.add_command(ui)
cli.add_command(runs)
cli.add_command(log)
cli.add_command(diff)


def main() -> None:
    """Console-script entry point."""
    from ..exiting import exit_now, lost_output_status
    from ..interrupts import exit_status

    try:
        cli(prog_name="assetbuild")
    except SystemExit as e:
        code = exit_status(lost_output_status(e.code))
        exit_now(code)
        raise SystemExit(code) from None


from .init import init  # noqa: E402

cli.add_command(init)
