"""Builds started from the UI: one at a time, in the main thread of the server's process (the
server answers from another thread), through the same engine as the CLI (``assetbuild.build``);
and the events that tell open pages about them (server-sent events: see ``app.events``).

Events are small JSON objects: ``{"type": "build-started", "assets": [...], "build": ID}``,
``{"type": "build-waiting", "build": ID, "message": str}`` (another build of the cache runs:
this one waits for it, holding no page) then ``{"type": "build-running", "build": ID}``,
``{"type": "asset", "asset": NAME, "status": "running"|"built"|"cached"|...}`` (a partition's
node is named by its asset, with ``"partition"``), ``{"type": "build-finished", "build": ID,
"ok": bool, "error": str|None, "states": {asset: state}, "partitions": {asset: {key: state}}}``:
the states ``status`` gives once the build is over, so a page can colour every node without
reloading (``partitions``: of the partitioned assets the build ran a partition of). A stream starts with the
events of :meth:`Builds.now`.

A build's ID is its start in microseconds since the epoch (larger than any earlier build's, of
this server or one before it): a page carries the ID of the last build finished when it was
rendered (``data-finished``; the server's start when none has yet, since the page shows what
every earlier server's builds left), and ignores the events of that build and older ones: a
browser's shared stream may still hold an earlier server's (on the same port) last outcome or
build in progress, which a page of this server has no use for.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..output import Reporter
from ..partitions import split_node
from .data import Where, states


class Events:
    """Subscribers (one asyncio queue per open event stream) and the events published to them,
    from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any] | None]]] = []

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        with self._lock:
            self._subscribers.append((asyncio.get_running_loop(), q))
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any] | None]) -> None:
        with self._lock:
            self._subscribers = [(lp, x) for lp, x in self._subscribers if x is not q]

    def publish(self, event: dict[str, Any] | None) -> None:
        """Send ``event`` to every stream (None ends them: the server is stopping)."""
        with self._lock:
            subs = list(self._subscribers)
        for loop, q in subs:
            try:
                loop.call_soon_threadsafe(q.put_nowait, event)
            except RuntimeError:  # that stream's loop is closed
                self.unsubscribe(q)


class _Progress(Reporter):
    """A quiet reporter that publishes each asset's start and outcome."""

    def __init__(self, events: Events) -> None:
        super().__init__(verbosity=-2)
        self.events = events
        self.partitioned: set[str] = set()  # the assets a partition of which the build ran

    def asset_started(self, name: str) -> None:
        self._publish(name, "running")

    def asset_finished(self, r: Any, dry_run: bool = False) -> None:
        self._publish(r.asset, r.status)

    def _publish(self, node: str, status: str) -> None:
        asset, key = split_node(node)
        event: dict[str, Any] = {"type": "asset", "asset": asset, "status": status}
        if key is not None:
            event["partition"] = key
            self.partitioned.add(asset)
        self.events.publish(event)


class Builds:
    """At most one build at a time. :meth:`start` (a request's thread) queues it; :meth:`serve`
    runs it in the main thread, where a Ctrl-C or SIGTERM interrupts it as it would the CLI's
    build (finished work kept, its run recorded with 130 or 143). A build counts as running from
    :meth:`start` to its ``build-finished`` event, both under one lock: a POST made after a page
    saw that event is never refused as "already running"."""

    def __init__(self, where: Where, events: Events) -> None:
        self.where = where
        self.events = events
        self._lock = threading.Condition()
        self._queued: tuple[tuple[str, ...], str | None] | None = None
        self.running: tuple[str, ...] | None = None
        # the ID of the last build finished (its build-finished event sent), or this server's start
        self.finished = time.time_ns() // 1000
        self._id = self.finished  # the ID of the build running, or of the last one (or the start)
        self._last: dict[str, Any] | None = None  # the last build-finished event
        self._waiting: dict[str, Any] | None = None  # the build-waiting event of the build running

    def now(self) -> list[dict[str, Any]]:
        """The events that bring a stream opened now up to date: ``{"type": "connected",
        "last": the last build-finished event or None}`` (a page rendered before it applies its
        states), then the build running, and what it waits for."""
        with self._lock:
            out: list[dict[str, Any]] = [{"type": "connected", "last": self._last}]
            if self.running is not None:
                out.append({"type": "build-started", "assets": list(self.running), "build": self._id})
                if self._waiting is not None:
                    out.append(self._waiting)
            return out

    def start(self, assets: Sequence[str], *, partitions: str | None = None) -> bool:
        """Start building ``assets`` (empty: every asset that is not up to date); False when a
        build is already running (the caller says so, politely)."""
        with self._lock:
            if self.running is not None:
                return False
            self.running = tuple(assets)
            self._id = max(time.time_ns() // 1000, self._id + 1)
            self._queued = (tuple(assets), partitions)
            self._lock.notify_all()
            return True

    def serve(self, state: Any, alive: Callable[[], bool]) -> None:
        """Run each build :meth:`start` queues, until ``state.stop`` is set or ``alive()`` is
        false (the server ended). ``state`` is watch mode's ``LoopState``: while a build runs,
        ``state.building`` tells the signal handler to interrupt it; the KeyboardInterrupt (or
        Terminated) then ends this loop, after the build recorded its run."""
        while not state.stop.is_set() and alive():
            with self._lock:
                if self._queued is None:
                    self._lock.wait(0.2)  # (a signal's handler sets state.stop: seen within 0.2 s)
                job, self._queued = self._queued, None
            if job is not None:
                self._build(*job, state)

    def _build(self, assets: tuple[str, ...], partitions: str | None, state: Any) -> None:
        from .. import session
        from ..output import describe_error
        from ..wording import called_from

        self.events.publish({"type": "build-started", "assets": list(assets), "build": self._id})
        ok, error = False, None
        progress = _Progress(self.events)
        try:
            state.building = True  # (only around the build: a signal raises nowhere else)
            try:
                with self._lock_ahead(), called_from("ui"):
                    result = session.build(assets, keep_going=True, partitions=partitions,
                                           reporter=progress, **self.where.kw())
            finally:
                state.building = False
            ok = result.ok
        except KeyboardInterrupt as e:  # the server is stopping: the build recorded its run
            from ..interrupts import Terminated

            self._finished(False, "terminated" if isinstance(e, Terminated) else "interrupted", {}, {})
            raise
        except Exception as e:  # noqa: BLE001 - reported to the page; the server goes on
            error = describe_error(e)
        try:
            known = states(self.where)
        except Exception:  # noqa: BLE001 - the AssetFile may not load any more
            known = {}
        self._finished(ok, error, {a: s["state"] for a, s in known.items()},
                       {a: known[a]["partitions"] for a in sorted(progress.partitioned)
                        if (known.get(a) or {}).get("partitions")})

    def _lock_ahead(self) -> Any:
        """The cache's build lock, waited for here while another build (the command line's)
        holds it: the build would wait inside ``session.build``, holding the process's turn that
        every page's load of the project needs. The wait is an event, in words."""
        from pathlib import Path

        from ..errors import AssetbuildError
        from ..session.project import resolve_cache_dir
        from ..store import taken_ahead

        try:
            cache = resolve_cache_dir(Path(self.where.project_dir).resolve(), self.where.cache_dir)
        except (AssetbuildError, OSError):  # the build says what is wrong
            return contextlib.nullcontext()

        def waiting() -> None:
            message = (f"waiting for another build of this cache to finish ({cache} is in use by a build or "
                       "cache command)")
            with self._lock:
                self._waiting = {"type": "build-waiting", "build": self._id, "message": message}
            self.events.publish(self._waiting)
            print(f"assetbuild: warning: {message}", file=sys.stderr, flush=True)

        @contextlib.contextmanager
        def ahead() -> Iterator[None]:
            with taken_ahead(cache, on_wait=waiting):
                if self._waiting is not None:
                    with self._lock:
                        self._waiting = None
                    self.events.publish({"type": "build-running", "build": self._id})
                yield

        return ahead()

    def _finished(self, ok: bool, error: str | None, now: dict[str, str], parts: dict[str, dict[str, str]]) -> None:
        with self._lock:  # (with the event: a start() in between would be refused after it)
            self.running = None
            self._waiting = None
            self.finished = self._id
            self._last = {"type": "build-finished", "build": self._id, "ok": ok, "error": error, "states": now,
                          "partitions": parts}
            self.events.publish(self._last)
