"""The build's one observer channel (``BuildObserver``): what the terminal shows of each asset,
the lines an asset logs or prints, and the bookkeeping after each result."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..capture import LazyLogger
from ..output import Reporter
from ..reports import AssetResult, BuildResult


@functools.cache
def _live_logger_class() -> type:
    """A logger that hands each record to the build's observer itself: no class and handler
    to make, lock and register for each asset (7 ms a thousand assets, against 0.5 ms).
    Handlers the asset's code adds still get the records."""
    import logging

    class LiveLogger(logging.Logger):
        def __init__(self, asset: str, observer: BuildObserver) -> None:
            super().__init__(f"assetbuild.asset.{asset}", logging.DEBUG)
            self.propagate = False
            self._asset, self._observer = asset, observer

        def callHandlers(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
            text = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                import traceback

                text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            self._observer.asset_line(self._asset, record.levelno, text)
            if self.handlers:  # (none: logging's last resort would print the record again)
                super().callHandlers(record)

    return LiveLogger


class BuildObserver:
    """A build's one observer channel: the terminal reporter, and ``finished`` (the build's
    bookkeeping and the after_asset hook) for each result; ``stored`` (its history) for each out
    stored beside the outs asked for.

    It also keeps each asset's log and output lines (``asset_line``: as an inline executor's
    task writes them; ``asset_logs``: collected by a worker, replayed when it ends) and hands
    them on with the asset's result (``AssetResult.logs``)."""

    def __init__(self, reporter: Reporter, finished: Callable[[AssetResult], None] | None = None,
                 stored: Callable[[AssetResult], None] | None = None, secrets: tuple[str, ...] = ()) -> None:
        self.reporter = reporter
        self.finished = finished
        self.stored = stored
        self.secrets = secrets  # (declared_secrets: hidden in every line and error it hands on)
        self.lines: dict[str, list[tuple[int, str]]] = {}
        self.logged: dict[str, AssetResult] = {}  # the results that carry lines

    def asset_started(self, name: str) -> None:
        self.lines.pop(name, None)  # a run again (a lost worker...) keeps its last run's lines
        self.reporter.asset_started(name)

    def asset_finished(self, result: AssetResult) -> None:
        lines = self.lines.pop(result.asset, None)
        if self.secrets and (result.error or result.traceback):
            error, tb = self._hidden(result.error), self._hidden(result.traceback)
            if error != result.error or tb != result.traceback:
                result = self.logged[result.asset] = replace(result, error=error, traceback=tb)
        if lines:
            result = self.logged[result.asset] = replace(result, logs=tuple(lines))
        if self.finished is not None:
            self.finished(result)

    def asset_stored(self, result: AssetResult) -> None:
        if self.stored is not None:
            self.stored(result)

    def asset_line(self, name: str, level: int, text: str) -> None:
        from ..capture import MAX_LINES

        if self.secrets:
            text = self._hidden(text) or ""
        kept = self.lines.setdefault(name, [])
        if len(kept) < MAX_LINES:
            kept.append((level, text))
        self.reporter.asset_line(name, level, text)

    def asset_logs(self, name: str, lines: list[tuple[int, str]]) -> None:
        for level, text in lines:
            self.asset_line(name, level, text)

    def live_logger(self, name: str) -> Any:
        """The logger an inline executor's task gets: ``context.log`` and printed lines, here
        as they are written (a ``LazyLogger``: the logger is made only if the asset logs)."""
        return LazyLogger(lambda: _live_logger_class()(name, self), lambda level, text: self.asset_line(name, level, text))

    def with_logs(self, result: BuildResult) -> BuildResult:
        """``result`` with each asset's result as observed (with its lines)."""
        if not self.logged:  # (a null build: nothing to replace)
            return result
        return replace(result, results=tuple(self.logged.get(r.asset, r) for r in result.results))

    def _hidden(self, text: str | None) -> str | None:
        if text:
            for secret in self.secrets:
                text = text.replace(secret, "***")
        return text

    def warning(self, message: str) -> None:
        self.reporter.warn(message)


def declared_secrets(nodes: Any, environ: Any) -> tuple[str, ...]:
    """The values of the secret environment variables (``keys.is_secret``) the assets of ``nodes``
    declare with ``env=``, longest first: the README promises a secret's value is never shown nor
    stored, so an asset's error, traceback or logged line that quotes it (an HTTP client's
    ``401 for url ...?token=...``) shows ``***`` in its place, on the terminal, in ``--json`` and in
    the history. A value shorter than 4 characters is left alone: it would hide common text."""
    from ..keys import is_secret

    found = {environ[n] for d in nodes.values() for n in getattr(d, "env", None) or ()
             if is_secret(n, environ.get(n)) and len(environ.get(n) or "") >= 4}
    return tuple(sorted(found, key=len, reverse=True))
