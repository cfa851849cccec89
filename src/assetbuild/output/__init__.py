"""Everything assetbuild writes to the terminal: progress, per-asset lines, summaries, renderings.

On a terminal a build shows one live status line (on stderr) above which finished work scrolls;
otherwise it prints one line per asset that did something and a summary. With ``--json`` the
CLI prints one JSON document on stdout and this module stays silent except for warnings.

The ``format_*`` functions render a command's result (text, or its ``--json`` document) for the
CLI to print; they are pure, so tests can call them without a terminal. Those of the maintenance
commands (clean, cache stats, gc, verify, export, import) are in ``output.maintenance``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import NOT_USER_CODE
from ..reports import AssetResult, BuildResult, WatchCycle, WatchSummary
from ..streams import Discard, StdoutToStderr, terminal_draws, use_color

_COLORS = {"built": "32", "restored": "36", "failed": "31", "skipped": "33", "cached": "2",
           "fresh": "32", "stale": "33", "missing": "31", "overdue": "35", "warn": "33"}


def display_path(path: str | None) -> str:
    """A path relative to the working directory when it is below it, else as given."""
    if not path:
        return ""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


class Reporter:
    """Prints build progress. ``verbosity``: -2 silent but warnings (the Python API's default),
    -1 quiet, 0 normal, 1 verbose."""

    def __init__(self, *, out: TextIO | None = None, err: TextIO | None = None, verbosity: int = 0,
                 json_mode: bool = False, live: bool | None = None, asset_logs: bool = False) -> None:
        # sys.stdout or sys.stderr is None where Python runs without them (pythonw, a service or
        # GUI host that started it without streams): what would go there goes nowhere
        self.out = out or sys.stdout or Discard()
        self.err = err or sys.stderr or Discard()
        self.verbosity = verbosity
        self.json_mode = json_mode
        self.live = (terminal_draws(self.err) and not json_mode and verbosity >= 0) if live is None else live
        self.color = use_color(self.out)
        self.total = 0
        self.done = 0
        self.partitions_total = 0
        self.partitions_done = 0
        self.backfill: frozenset[str] | None = None  # the partitions --partitions names: those numbered
        self.started = time.perf_counter()  # the command's start, as the summary counts it
        self._status: Any = None  # the live status line (output.live), made when first drawn
        # an asset's expected duration (its last build's), for the status line's ETA: set by
        # the build when it draws one; called on the build's thread when the asset starts
        self.expected_of: Any = None
        self._asset_logs = asset_logs  # route context.log to our stream as "[asset] message"
        self._log_configured = False
        self.watching = False  # watch mode: one line per build (watch_cycle) replaces the per-asset lines
        self.said = 0  # lines written by line, warn and error but for results (a snapshot needs none)

    def _c(self, text: str, kind: str) -> str:
        return f"\x1b[{_COLORS[kind]}m{text}\x1b[0m" if self.color and kind in _COLORS else text

    @property
    def status(self) -> Any:
        if self._status is None:
            from .live import StatusLine

            self._status = StatusLine(self.err)
        return self._status

    def _clear_status(self) -> None:
        if self._status is not None:
            self._status.clear()

    def _draw_status(self, force: bool = False) -> None:
        if self.live:
            self.status.draw(force)

    @contextlib.contextmanager
    def _above_status(self) -> Iterator[None]:
        """Write a line above the live status line: cleared first, drawn again after (a long
        asset's log line must not leave it blank); the ticker waits meanwhile."""
        if self._status is None:
            yield
            return
        with self._status.lock:
            self._status.clear()
            yield
            if self._status.running:
                self._status.draw(force=True)

    def line(self, text: str) -> None:
        """A line of normal output (never in JSON mode)."""
        self.said += 1
        if self.json_mode or self.verbosity < 0:
            return
        with self._above_status():
            self.out.write(text + "\n")
            self.out.flush()

    def warn(self, message: str) -> None:
        self.said += 1
        with self._above_status():
            self.err.write(self._c("warning: ", "warn") + message + "\n")
            self.err.flush()

    def error(self, message: str) -> None:
        self.said += 1
        with self._above_status():
            self.err.write(self._c("error: ", "failed") + message + "\n")
            self.err.flush()

    def asset_logger(self, name: str) -> Any:
        """The logger behind ``context.log`` (logging is imported only when an asset asks for it).
        From the CLI its lines go to stderr as ``[asset] message``, at INFO (DEBUG with -v,
        WARNING with -q); from the Python API the caller's logging configuration applies."""
        import logging

        if self._asset_logs and not self._log_configured:
            reporter = self

            class _Handler(logging.Handler):
                def emit(self, record: logging.LogRecord) -> None:
                    short = record.name.removeprefix("assetbuild.asset.")
                    with reporter._above_status():
                        reporter.err.write(f"[{short}] {record.getMessage()}\n")
                        reporter.err.flush()

            log = logging.getLogger("assetbuild.asset")
            log.handlers[:] = [_Handler()]
            log.propagate = False
            log.setLevel(logging.DEBUG if self.verbosity > 0 else
                         logging.WARNING if self.verbosity < 0 else logging.INFO)
            self._log_configured = True
        return logging.getLogger(f"assetbuild.asset.{name}")

    def asset_line(self, name: str, level: int, text: str) -> None:
        """One line of an asset's run: a ``context.log`` line, or one it printed (the levels
        ``capture.STDOUT``/``STDERR``). From the CLI both go to stderr as ``[asset] text``
        (so ``--json`` keeps stdout for its document), filtered like log lines; from the
        Python API log lines go to logging, printed lines to the caller's stdout or stderr,
        prefixed the same way."""
        from ..capture import STDERR, STDOUT

        if level in (STDOUT, STDERR) and not self._asset_logs:
            stream = self.out if level == STDOUT else self.err
            with self._above_status():
                stream.write(f"[{name}] {text}\n")
                stream.flush()
            return
        self.asset_logger(name).log(level, "%s", text)

    @contextlib.contextmanager
    def stdout_for_json(self) -> Iterator[None]:
        """With ``--json`` from the CLI, stdout carries the JSON document and nothing else: while
        the block runs (assets run), whatever reaches file descriptor 1 from below Python (a
        subprocess an asset starts, C code, ``sys.stdout.buffer``) goes to stderr instead, and
        this reporter's own JSON lines (watch mode) to the real stdout."""
        if not (self.json_mode and self._asset_logs):
            yield
            return
        out = self.out
        with StdoutToStderr(out, self.err) as saved:
            if saved is None:  # not a real stdout (a test's stream)
                yield
                return
            self.out = open(os.dup(saved), "w", buffering=1, encoding=getattr(out, "encoding", None))  # noqa: SIM115
            try:
                yield
            finally:
                self.out.close()
                self.out = out

    # --- build events --------------------------------------------------------------------------

    def build_started(self, assets: list[str], dry_run: bool) -> None:
        self.total = len(assets)
        self.done = 0
        # a build of partitions (a backfill) numbers each partition's line: [120/365]
        backfill = self.backfill
        # (else the names ending in "]", counted in C: no name holds a NUL; 10,000 in 0.3 ms, not 1.1)
        self.partitions_total = len(backfill) if backfill is not None else "\0".join([*assets, ""]).count("]\0")
        self.partitions_done = 0
        if self.live:
            self.status.total, self.status.done = self.total, 0

    def asset_started(self, name: str) -> None:
        if self.live:
            self.status.start(name, self.expected_of(name) if self.expected_of is not None else None)

    def asset_finished(self, r: AssetResult, dry_run: bool = False) -> None:
        said = self.said
        self._asset_lines(r, dry_run)
        self.said = said  # (``said`` counts what a build says besides its results)

    def _asset_lines(self, r: AssetResult, dry_run: bool) -> None:
        self.done += 1
        if self._status is not None:
            self._status.finish(r.asset)
        if self.partitions_total and r.asset[-1:] == "]" and (self.backfill is None or r.asset in self.backfill):
            self.partitions_done += 1
            if r.status != "cached" and not dry_run:
                r = _numbered(r, f"[{self.partitions_done}/{self.partitions_total}]")
        if self.verbosity < -1 or (self.watching and self.verbosity <= 0 and r.status in ("built", "restored")):
            return
        if self.json_mode and not self.live:  # no line to say: the document says it all
            return
        if dry_run and r.metadata.get("kind") != "observable_source":  # a failed observation: FAILED below
            if r.status != "cached" and not self.json_mode:
                from .dryrun import dry_run_line

                self.line(dry_run_line(r) or "")
            return
        if r.status == "built":  # every asset that ran says how long it took, however short
            self.line(f"{self._c('built', 'built')}     {r.asset}  ({r.duration_s:.2f}s)")
            if self.verbosity > 0:
                for x in r.reasons:
                    self.line(f"            {x.code}: {x.detail}")
                if r.metadata:
                    from ..metadata import render_metadata

                    for ln in render_metadata(r.metadata, indent="            "):
                        self.line(ln)
        elif r.status == "restored":
            why = ", ".join(x.code for x in r.reasons)
            self.line(f"{self._c('restored', 'restored')}  {r.asset}  ({why})")
        elif r.status == "failed":
            if not self.json_mode:
                with self._above_status():
                    self.err.write(f"{self._c('FAILED', 'failed')}    {r.asset}: {r.error}\n")
                    if r.traceback and (self.verbosity > 0 or not r.traceback.startswith(NOT_USER_CODE)):
                        self.err.write(_indent(r.traceback))
                    self.err.flush()
        elif r.status == "skipped" and r.skip_reason is not None:  # no failure: said like a build
            self.line(f"{self._c('skipped', 'skipped')}   {r.asset}  ({r.skip_reason or 'Skip'})")
        elif r.status == "skipped":
            if self.verbosity > 0:
                why = r.error or "; ".join(x.detail for x in r.reasons)
                self.line(f"{self._c('skipped', 'skipped')}   {r.asset}: {why}")
        elif r.status == "cached" and self.verbosity > 0:
            self.line(f"{self._c('cached', 'cached')}    {r.asset}")
        if self.live:  # (not a call per asset in a pipe)
            self._draw_status()

    def build_finished(self, result: BuildResult) -> None:
        if self._status is not None:
            self._status.stop()
        if self.json_mode or self.verbosity < -1 or self.watching:
            return
        if result.dry_run:
            from .dryrun import dry_run_summary

            self.line(dry_run_summary(result))
            return
        if not result.ok and not result.count("failed") and self.verbosity <= 0:  # no FAILED line says why
            for r in (r for r in result.results if r.status == "skipped" and r.skip_reason is None and r.error):
                self.line(f"{self._c('skipped', 'skipped')}   {r.asset}: {r.error}")
        counts = ", ".join(f"{result.count(s)} {s}" for s in ("built", "cached", "restored", "failed", "skipped"))
        # the command's time, loading the AssetFile and deciding included (not the build phase alone)
        text = f"{counts} in {time.perf_counter() - self.started:.2f}s"
        if self.verbosity >= 0 or not result.ok:
            self._clear_status()
            self.out.write(text + "\n")
            self.out.flush()

    # --- watch mode ----------------------------------------------------------------------------

    def watch_started(self, project_dir: str, what: str) -> None:
        self.line(f"watching {display_path(project_dir) or '.'} ({what}); Ctrl-C to stop")

    def watch_cycle(self, c: WatchCycle, *, always: bool = False) -> None:
        """One line per build: when, what changed, what ran, how long. Nothing when nothing ran
        (a save that changed no key), unless ``always`` (the first build; the one after a failure,
        to say it is over)."""
        if self.verbosity < -1:
            return
        if not c.said(always=always):
            return
        r = c.result
        stamp = time.strftime("%H:%M:%S", time.localtime(c.started))
        if self.json_mode:
            doc = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(c.started)),
                   "changed": list(c.changed) if c.changed is not None else None,
                   "ok": c.error is None and r is not None and r.ok, "error": c.error,
                   "results": [x.to_json() for x in r.results] if r is not None else [],
                   "duration_s": round(c.duration_s, 6)}
            self.out.write(json.dumps(doc) + "\n")
            self.out.flush()
            return
        what = "first build" if c.changed is None else _some(c.changed, 3) + " changed"
        if c.error is not None:
            self._clear_status()
            self.err.write(f"{stamp} {what}: {self._c('error:', 'failed')} {c.error} (still watching)\n")
            self.err.flush()
            return
        assert r is not None
        if r.dry_run:
            would = [x.asset for x in r.results if x.status != "cached"]
            parts = [f"{self._c('would run', 'built')} {_some(would, 6)}"] if would else []
        else:
            verbs = [("built", "built"), ("restored", "restored"), ("FAILED", "failed"), ("skipped", "skipped")]
            parts = [f"{self._c(verb, status)} {_some(r.names(status), 6)}"
                     for verb, status in verbs if r.count(status)]
        if r.count("cached") or not parts:
            parts.append(f"{r.count('cached')} cached")
        text = f"{stamp} {what}: {'; '.join(parts)} ({c.duration_s:.2f}s)"
        if self.verbosity >= 0 or not r.ok:
            self._clear_status()
            self.out.write(text + "\n")
            self.out.flush()

    def watch_stopped(self, s: WatchSummary) -> None:
        if self.json_mode or self.verbosity < -1:
            return
        mins, secs = divmod(int(s.duration_s), 60)
        took = f"{mins}m{secs:02d}s" if mins else f"{s.duration_s:.1f}s"
        failed = f", {s.failed} failed" if s.failed else ""
        self._clear_status()
        if s.builds:
            then = "; the next build was interrupted" if s.interrupted else ""
            self.out.write(f"stopped watching ({s.stopped_by}) after {s.builds} build{'s' * (s.builds != 1)}"
                           f"{failed} in {took}{then}\n")
        else:  # (Ctrl-C during the first build, or while loading for it)
            self.out.write(f"stopped watching ({s.stopped_by}) before a build finished, in {took}\n")
        self.out.flush()

    def daemon_tick(self, tick: Any, *, always: bool = False) -> None:
        """``assetbuild run``: a JSON line per tick with --json; else a tick's lines (see
        output.daemon) when it requested or held back something or failed, or ``always``
        (``--once``, unless -q)."""
        if self.verbosity < -1:
            return
        doc = tick.to_json()
        if self.json_mode:
            self.out.write(json.dumps(doc) + "\n")
            self.out.flush()
            return
        if not ((always and self.verbosity >= 0) or doc["requested"] or doc["deferred"] or doc["error"]
                or doc["failed"] or self.verbosity > 0):
            return
        from .daemon import tick_lines

        self._clear_status()
        self.out.write("\n".join(tick_lines(doc)) + "\n")
        self.out.flush()


def _numbered(r: AssetResult, count: str) -> AssetResult:
    """A partition's result as its line shows it in a build of partitions: its name followed by
    its place among them (the result itself is not changed)."""
    from dataclasses import replace

    return replace(r, asset=f"{r.asset}  {count}")


def _some(names: list[str] | tuple[str, ...], limit: int) -> str:
    """``a, b, c and 4 more``."""
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def describe_error(e: Exception) -> str:
    """An AssetbuildError as the CLI prints it: one line, DefinitionErrors as ``file:line: message``
    (no AssetFile: with the command line's hint, -C and -f, as in watch mode and ticks of run)."""
    from ..errors import DefinitionError, ProjectNotFound

    if isinstance(e, ProjectNotFound):
        return e.cli_message
    if isinstance(e, DefinitionError) and e.file:
        return display_path(e.file) + (f":{e.line}" if e.line else "") + f": {e.message}"
    return str(e)


def _indent(text: str) -> str:
    return "".join("    " + ln + "\n" for ln in text.rstrip("\n").splitlines())


# --- renderings of read-only views and of the graph: in their own modules ----------------------

if TYPE_CHECKING:
    from .graphs import format_graph  # noqa: F401  (names __getattr__ gives)
    from .listing import format_assets, format_status  # noqa: F401
_ELSEWHERE = {"format_assets": ".listing", "format_status": ".listing", "format_graph": ".graphs"}


def __getattr__(name: str) -> Any:
    """``format_assets``, ``format_status`` (output.listing) and ``format_graph``
    (output.graphs), imported on first use and kept: a build renders none of them (0.5 ms)."""
    if name not in _ELSEWHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    return globals().setdefault(name, getattr(importlib.import_module(_ELSEWHERE[name], __name__), name))

# --- renderings of command results (the CLI echoes them) ---------------------------------------

def format_build_json(result: BuildResult) -> str:
    """``build --json``: ``result.to_json()``, the one document (a dry run's says what each asset
    would do, and why); a real build's written faster (``_build_json_text``)."""
    return json.dumps(result.to_json()) if result.dry_run else _build_json_text(result)


def _build_json_text(result: BuildResult) -> str:
    """``json.dumps(result.to_json())``, byte for byte, with each cached result's entry written
    from its three strings rather than built as a dict and encoded key by key: a null build
    has one per asset (and per partition), and this is most of its ``--json`` time."""
    from ..snapshot import cached_entries

    cached_entry = cached_entries()
    quoted = json.encoder.encode_basestring_ascii  # (json.dumps's own, C where it can be)
    entries = []
    add = entries.append
    for r in result.results:
        plain = r.error is None and r.skip_reason is None and type(r.key) is str \
            and type(r.data_version) is str and type(r.asset) is str
        if plain and r.status == "cached" and r.duration_s == 0.0:
            add(cached_entry(r.asset, r.key, r.data_version))
        elif plain and r.status == "built" and not r.metadata and type(r.duration_s) is float \
                and math.isfinite(r.duration_s):  # (a cold build has one per asset)
            add(f'{{"asset": {quoted(r.asset)}, "status": "built", "key": {quoted(r.key)}, "data_version": '
                f'{quoted(r.data_version)}, "duration_s": {round(r.duration_s, 6)!r}, "error": null, "metadata": {{}}}}')
        else:
            add(json.dumps(r.to_json()))
    text = f'{{"ok": {"true" if result.ok else "false"}, "results": [{", ".join(entries)}]'
    if result.observations:
        text += ', "observations": ' + json.dumps([o.to_json() for o in result.observations])
    return text + "}"


def format_error(e: Exception, *, verbose: bool = False) -> str:
    """An AssetbuildError as the CLI reports it: one line; with -v the traceback above it (the
    AssetFile's as it failed to load, or the exception that caused ``e``)."""
    from ..errors import DefinitionError

    line = f"assetbuild: error: {describe_error(e)}"
    if verbose and isinstance(e, DefinitionError) and e.detail:
        return e.detail.rstrip() + "\n" + line
    if verbose and e.__cause__ is not None:
        import traceback

        return "".join(traceback.format_exception(e.__cause__)).rstrip() + "\n" + line
    return line


_BUILDING = frozenset({None, "cli", "build", "watch", "run", "ui"})  # the commands that build (cli: plain assetbuild)


def report_error(e: BaseException, *, verbose: bool = False, as_json: bool = False,
                 command: str | None = None) -> int:
    """Print a command's failure as every command does, and return its exit status: for an
    AssetbuildError, one line on stderr (the traceback above it with -v) and the file's excerpt;
    for an interrupt, what was kept; with --json, the one document on stdout as well. The CLI
    and the entry point's plain build (``entry.plain_build``) both end this way."""
    from ..errors import AssetbuildError, ProjectNotFound

    if isinstance(e, AssetbuildError):
        if isinstance(e, ProjectNotFound):  # the command line's words: -C DIR, -f FILE
            e = AssetbuildError(e.cli_message)
        lines = [format_error(e, verbose=verbose)]
        excerpt = getattr(e, "excerpt", None)
        if excerpt and not (verbose and getattr(e, "detail", None)):  # -v: the traceback shows it
            lines.append(excerpt)
        message, status = describe_error(e), e.exit_status
    elif isinstance(e, KeyboardInterrupt):
        from .live import interrupted_newline

        interrupted_newline(sys.stderr)  # the terminal echoed ^C after the status line: a line of its own
        from ..interrupts import TERMINATED_STATUS, Terminated

        # (what a build keeps: not said by commands that build nothing, such as cache export)
        kept = "; finished work was recorded, the rest will run next time" if command in _BUILDING else ""
        if isinstance(e, Terminated):
            lines = [f"assetbuild: terminated (SIGTERM){kept}"]
            message, status = "terminated", TERMINATED_STATUS
        else:
            lines = [f"assetbuild: interrupted{kept}"]
            message, status = "interrupted", 130
    else:
        raise TypeError(f"not a failure a command reports: {e!r}")
    for line in lines:
        _echo(line, sys.stderr)
    if as_json:  # a consumer of --json always gets one document
        _echo(format_error_json(message, command), sys.stdout)
    return status


def _echo(line: str, stream: TextIO) -> None:
    stream.write(line + "\n")
    stream.flush()


def format_error_json(message: str, command: str | None) -> str:
    """The one document a ``--json`` consumer gets when a command fails (``build``'s has results)."""
    doc: dict[str, Any] = {"ok": False, "error": message}
    if command == "build":
        doc["results"] = []
    return json.dumps(doc)


def format_why(info: dict[str, Any] | list[dict[str, Any]], *, as_json: bool = False) -> str:
    """``why``: the state and reasons, the code parts and inputs that changed, the last build.
    A list (``why`` of a glob or group): one block per asset, blank-line separated."""
    from ..keys import short

    if as_json:
        return json.dumps(info)
    if isinstance(info, list):
        return "\n\n".join(format_why(i) for i in info)
    if "outs" in info:  # a multi-asset: each of its outs
        return "\n".join(format_why(o) for o in info["outs"])
    lines = [f"{info['asset']}: {info['state']}  ({display_path(info['file'])}:{info['line']})"]
    lines += [f"  {r['code']}: {r['detail']}" for r in info["reasons"]]
    if info["code_changes"]:
        lines.append("  code parts changed since the last build:")
        lines += [f"    {c['part']}: {c['old_value']} -> {c['new_value']}" if "old_value" in c
                  else f"    {c['part']}: {short(c['old'])} -> {short(c['new'])}" for c in info["code_changes"]]
    if info.get("source_diff"):
        lines += [f"    {ln}" for ln in info["source_diff"]]
    if info["inputs"]:
        lines.append("  inputs:")
        for i in info["inputs"]:
            mark = "may change" if i["changed"] is None else "changed" if i["changed"] else "same"
            if i["kind"] == "observable_source":  # a version is the user's string: shown as it is
                old = "-" if i["old"] is None else repr(i["old"])
                new = "(failed)" if i["new"] is None else repr(i["new"])
            else:
                old, new = short(i["old"]), short(i["new"]) if i["new"] else "(once it runs)"
            lines.append(f"    {i['name']} ({i['kind']}): {old} -> {new}  [{mark}]")
    if info["last_key"]:
        lines.append(f"  last built with key {short(info['last_key'])}; {info['history']} build(s) recorded")
    return "\n".join(lines)


def format_metadata(info: dict[str, Any], *, as_json: bool = False) -> str:
    """``show --meta``: the latest materialization's metadata, rendered by type (``--json``:
    ``{"asset", "metadata": {name: {"type", "value"}}, "materialized_at", "data_version", "key"}``)."""
    from ..keys import short
    from ..metadata import metadata_to_json, render_metadata

    if as_json:
        return json.dumps(dict(info, metadata=metadata_to_json(info["metadata"])), indent=2, sort_keys=True)
    lines = [f"{info['asset']}: materialized {info['materialized_at']}, data version "
             f"{short(info['data_version'])}, key {short(info['key'])}"]
    lines += render_metadata(info["metadata"]) if info["metadata"] else ["  (no metadata)"]
    return "\n".join(lines)


_OBSERVATION_KEYS = {"source", "version", "observed_ns", "metadata"}  # load_value's dict for an observable source


def format_value(asset: str, value: Any, *, as_json: bool) -> str | bytes:
    """``show``: bytes and text as they are, else pretty-printed, or JSON (bytes as ``{"__bytes__":
    "<base64>"}``; ValueNotFound names the first part with none). An observation (``load_value``'s dict)
    shows ``observed_at``, ISO-8601 UTC (``--json``: and ``observed_ns``; nan metadata as ``log`` gives it)."""
    from ..jsonform import json_form, metadata_form

    if isinstance(value, dict) and value.keys() == _OBSERVATION_KEYS and value["source"] == asset:
        from ..clock import iso_utc

        value = dict(value, observed_at=iso_utc(value["observed_ns"]))
        if as_json:  # (an observation is shown whole: its metadata is no value of the user's)
            value["metadata"] = metadata_form(value["metadata"])
        else:
            del value["observed_ns"]
    if as_json:  # (each dict in its order, which a loop over it sees: a ranking stays one)
        return json.dumps(json_form(asset, value), indent=2)
    if isinstance(value, (bytes, str)):
        return value
    import pprint

    return pprint.pformat(value, sort_dicts=False)
