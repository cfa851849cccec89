"""How the command line finds the project, and how it answers a user who asks for help or
mistypes a command.

- The project directory: ``-C DIR``; else the directory of ``-f FILE`` (the AssetFile's own
  imports then work); else the nearest directory holding an AssetFile, from the working
  directory upward, as git finds its repository (``projectdir.search_project``).
- ``assetbuild help [COMMAND...]``: a command, so that ``help`` is never taken for an asset.
- A group without its command (``assetbuild cache``): a usage error naming its commands.
- A bare word that is no asset but close to a command: ``did you mean 'status'?``.
- Every usage error, click's own included, is one ``assetbuild: error: ...`` line, exit 2,
  as our errors are, and with ``--json`` one document on stdout too (``OneErrorStyle``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ..projectdir import search_project, using_line

if TYPE_CHECKING:  # pathlib and difflib are imported where used: `assetbuild --help` needs neither
    from pathlib import Path

# Commands that must not move to a project found above (``init`` writes where it is asked to).
NO_SEARCH = frozenset({"init"})


def place_project(opts: dict[str, Any], *, command: str | None, say: Any) -> None:
    """Make the project directory the working directory, after ``-C`` was applied: the
    directory of ``-f FILE`` when -C is not given, else the nearest one above holding an
    AssetFile (``say`` tells the user which, once). Paths the user gave relative to where
    the command started (``--cache-dir``, ASSETBUILD_CACHE_DIR, ``-f``) keep their meaning;
    ``opts["caller_dir"]`` is that directory, for the commands' own FILE arguments."""
    from pathlib import Path

    if command in NO_SEARCH:  # (init -f NAME: the name of the AssetFile it writes)
        return
    if opts.get("directory"):
        if opts.get("assetfile"):  # -C DIR -f FILE: FILE is read from DIR, as make -C does
            opts["project_dir"] = os.getcwd()  # (the API's assetfile= alone would be -f FILE: ``located``)
            return
    elif opts.get("assetfile"):
        folder = os.path.dirname(opts["assetfile"])
        if folder and os.path.isdir(folder):
            _move(opts, Path(folder).resolve())
            opts["assetfile"] = os.path.basename(opts["assetfile"])
        return
    try:
        here = Path.cwd()
    except OSError as e:  # deleted (or moved) under the shell that runs the command
        raise click.UsageError(f"the working directory cannot be read ({e.strerror}): it was deleted or "
                               "moved; cd to the project, or give -C DIR") from None
    if (here / "AssetFile").is_file():
        return
    found = search_project(str(here))
    if found is None:
        return  # the command says there is no AssetFile here, if it needs one
    _move(opts, Path(found))
    say(using_line(found, str(here)))


def _move(opts: dict[str, Any], project: Path) -> None:
    caller = os.getcwd()
    if opts.get("cache_dir"):
        opts["cache_dir"] = os.path.join(caller, os.path.expanduser(opts["cache_dir"]))
    os.chdir(project)
    opts["caller_dir"] = caller


def located(opts: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments that say which project an API verb loads: ``assetfile``, and the
    project directory when -C and -f were both given (``session.located``)."""
    if opts.get("project_dir"):
        return {"assetfile": opts.get("assetfile"), "project_dir": opts["project_dir"]}
    return {"assetfile": opts.get("assetfile")}


def caller_path(opts: dict[str, Any], path: str) -> str:
    """A FILE argument as the user meant it: relative to where the command started, also when
    the project was found elsewhere (``place_project``)."""
    caller = opts.get("caller_dir")
    return os.path.join(caller, path) if caller else path


# --- help, and a mistyped command -------------------------------------------------------------

def close_command(word: str, group: click.Group, ctx: click.Context) -> str | None:
    """The command ``word`` looks like a typo of (difflib's closest), or None."""
    if not word or not word.replace("-", "").replace("_", "").isalnum():
        return None  # a glob, group:NAME, +x...: a selection, never a command
    import difflib

    names = group.list_commands(ctx)
    hits = difflib.get_close_matches(word, names, n=1, cutoff=0.75)
    return hits[0] if hits else None


@contextlib.contextmanager
def unknown_word(ctx: click.Context, assets: tuple[str, ...]) -> Iterator[None]:
    """Around a build the group chose for a bare word (``assetbuild stauts``): if that word
    names no asset and is close to a command, say so rather than "no asset named"."""
    from ..errors import SelectionError

    try:
        yield
    except SelectionError as e:
        typo = ctx.meta.get("assetbuild.typo")
        if typo is None or typo[0] not in assets or f"no asset named {typo[0]!r}" not in str(e):
            raise
        raise SelectionError(f"no asset or command {typo[0]!r}; did you mean {typo[1]!r}?") from None


@click.command(name="help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show the help of COMMAND (`assetbuild help cache gc`), or of assetbuild itself."""
    from .given import _refuse_unused

    _refuse_unused(ctx, reads_only=True)  # (`assetbuild --json help`: it has no --json)
    parent = ctx.find_root()
    group: click.Command = parent.command
    path: list[str] = []
    for i, word in enumerate(command):
        sub = group.get_command(parent, word) if isinstance(group, click.Group) else None
        if sub is None:
            where = " ".join(["assetbuild", *path])
            near = close_command(word, group, parent) if isinstance(group, click.Group) else None
            hint = f"; did you mean {near!r}?" if near else f" (`{where} --help` lists them)" \
                if isinstance(group, click.Group) else ", which has no commands"
            raise click.UsageError(f"no command {word!r} in {where}{hint}")
        if i < len(command) - 1:
            parent = click.Context(sub, info_name=word, parent=parent)
        group = sub
        path.append(word)
    # parsing --help prints the help as `COMMAND --help` does (plugins' options included)
    group.make_context(path[-1] if path else parent.info_name, ["--help"],
                       parent=parent if path else None)


# --- one error style --------------------------------------------------------------------------

class _OneLineUsageError(click.UsageError):
    """A usage error printed as ``assetbuild: error: ...``, as every other error is; with
    ``--json`` for a command that has it, also the one document on stdout (``_handle_errors``
    prints it for the errors the commands find themselves)."""

    def __init__(self, original: click.UsageError, argv: list[str]) -> None:
        ctx = original.ctx
        # the root's own options failed (before the command name): the command is the one the
        # words name, build when none does (``assetbuild NAME`` builds NAME)
        named = _command_named(ctx, argv) if ctx is not None and ctx.parent is None else None
        message = original.format_message()
        if named is not None and isinstance(original, click.NoSuchOption) and original.possibilities:
            root = {o for p in ctx.command.params for o in (*p.opts, *p.secondary_opts)} if ctx is not None else set()
            mine = [o for p in named.params for o in (*p.opts, *p.secondary_opts) if o in root]  # (valid there too)
            message = click.NoSuchOption(original.option_name, possibilities=mine, ctx=ctx).format_message()
        super().__init__(message, ctx)  # exit status 2, as UsageError's
        self.hint = type(original) is not click.UsageError  # click's own (an unknown option...)
        at_fault = named if named is not None else ctx.command if ctx is not None else None
        self.command = "build" if ctx is not None and ctx.parent is None and named is None else \
            at_fault.name if at_fault is not None else None
        self.as_json = _asks_for_json(at_fault, argv)

    def show(self, file: Any = None) -> None:
        text = f"assetbuild: error: {self.format_message()}"
        if self.hint and self.ctx is not None:
            text += f" (see {self.ctx.command_path} --help)"
        click.echo(text, err=True)
        if self.as_json and self.ctx is not None:
            from ..output import format_error_json

            click.echo(format_error_json(self.format_message(), self.command))


def _command_named(ctx: click.Context | None, argv: list[str]) -> click.Command | None:
    """The command (or subcommand: ``cache stats``) the words after the root's options name:
    the first word that is no option, nor the value of one, at each level; None when it names no
    command (``assetbuild -C d report``: a build). Read from the words: click failed before it
    knew its command."""
    group = ctx.command if ctx is not None else None
    words = argv[:argv.index("--")] if "--" in argv else argv
    found, i = None, 0
    while isinstance(group, click.Group) and i < len(words):
        valued = {o for p in group.params if isinstance(p, click.Option) and not p.is_flag and not p.count
                  for o in p.opts}
        word = words[i]
        i += 2 if word in valued else 1
        if word.startswith("-"):
            continue
        sub = group.commands.get(word)
        if sub is None:
            break
        found = group = sub
    return found


def _asks_for_json(command: click.Command | None, argv: list[str]) -> bool:
    """Whether the command line asks ``command`` (the one at fault) for --json (before or after
    its name; not after ``--``). Read from the words: click failed before it knew its options."""
    if command is None or not any(p.name == "as_json" for p in command.params):
        return False
    words = argv[:argv.index("--")] if "--" in argv else argv
    return "--json" in words


class ContextGroup(click.Group):
    """A group whose command's parse errors carry that command's context: click's parser raises
    an option missing its value (``--json -j``) with none, which left it said without the
    ``--help`` hint and, under ``--json``, without the document."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            cmd = self.get_command(ctx, ctx.invoked_subcommand) if e.ctx is None and ctx.invoked_subcommand else None
            if cmd is not None:
                e.ctx = cmd.context_class(cmd, info_name=ctx.invoked_subcommand, parent=ctx)
            raise


class CommandGroup(ContextGroup):
    """A group that does nothing itself (``cache``, ``partitions``): without a command, one
    usage error naming its commands, exit 2, as every usage error is. (click would print the
    whole help instead: as the error's message since click 8.2, with status 0 before.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:
            names = [n for n in self.list_commands(ctx) if not getattr(self.get_command(ctx, n), "hidden", False)]
            listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)
            raise click.UsageError(f"{ctx.command_path} needs a command: {listed} "
                                   f"(`{ctx.command_path} --help` says what each does)", ctx)
        return super().parse_args(ctx, args)


_ARGV = "assetbuild.argv"  # ctx.meta: the root command's arguments, as given


class OneErrorStyle(ContextGroup):
    """The root group: turns every usage error (an unknown option, a bad value, a refused
    command) into one ``assetbuild: error:`` line, exit 2 (and a --json document when asked
    for); ``--help`` is untouched."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        argv = list(args)  # (click's parser consumes the list it is given)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as e:
            if e.ctx is None:  # (its own option missing its value: ContextGroup)
                e.ctx = self.context_class(self, info_name=info_name, parent=parent, **extra)
            raise _OneLineUsageError(e, argv) from None
        except KeyboardInterrupt as e:
            _interrupted(e, argv)
        ctx.meta[_ARGV] = argv
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _OneLineUsageError:
            raise
        except click.UsageError as e:
            raise _OneLineUsageError(e, ctx.meta.get(_ARGV, [])) from None
        except KeyboardInterrupt as e:  # (a command's own Ctrl-C is its ``_handle_errors``')
            _interrupted(e, ctx.meta.get(_ARGV, []))


def _interrupted(e: KeyboardInterrupt, argv: list[str]) -> NoReturn:
    """A Ctrl-C or SIGTERM before a command could handle one (while click parses, or an option's
    callback imports): the line and status a command's own would give, not click's "Aborted!"
    with status 1, which a CI wrapper reads as a failed build."""
    from ..output import report_error

    raise SystemExit(report_error(e, verbose=False, as_json="--json" in argv, command=""))  # (nothing ran)
