"""Builds started from the UI: one at a time, in a worker thread of the server's process,
through the same engine as the CLI (``assetbuild.build``); and the events that tell open pages
about them (server-sent events: see ``app.events``).

Events are small JSON objects: ``{"type": "build-started", "assets": [...]}``, ``{"type":
"asset", "asset": NAME, "status": "running"|"built"|"cached"|...}`` (a partition's node is
named by its asset, with ``"partition"``), ``{"type": "build-finished", "ok": bool, "error":
str|None, "states": {asset: state}}``: the states ``status`` gives once the build is over, so a
page can colour every node without reloading.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
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

    def asset_started(self, name: str) -> None:
        self._publish(name, "running")

    def asset_finished(self, r: Any, dry_run: bool = False) -> None:
        self._publish(r.asset, r.status)

    def _publish(self, node: str, status: str) -> None:
        asset, key = split_node(node)
        event: dict[str, Any] = {"type": "asset", "asset": asset, "status": status}
        if key is not None:
            event["partition"] = key
        self.events.publish(event)


class Builds:
    """At most one build at a time; :meth:`start` says whether it started one."""

    def __init__(self, where: Where, events: Events) -> None:
        self.where = where
        self.events = events
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.running: tuple[str, ...] | None = None

    def start(self, assets: Sequence[str], *, partitions: str | None = None) -> bool:
        """Start building ``assets`` (empty: every asset that is not up to date); False when a
        build is already running (the caller says so, politely)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self.running = tuple(assets)
            self._thread = threading.Thread(target=self._build, args=(tuple(assets), partitions),
                                            name="assetbuild-ui-build", daemon=True)
            self._thread.start()
            return True

    def join(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)

    def _build(self, assets: tuple[str, ...], partitions: str | None) -> None:
        from .. import session
        from ..output import describe_error

        self.events.publish({"type": "build-started", "assets": list(assets)})
        ok, error = False, None
        try:
            result = session.build(assets, keep_going=True, partitions=partitions,
                                   reporter=_Progress(self.events), **self.where.kw())
            ok = result.ok
        except Exception as e:  # noqa: BLE001 - reported to the page; the server goes on
            error = describe_error(e)
        try:
            now = {a: s["state"] for a, s in states(self.where).items()}
        except Exception:  # noqa: BLE001 - the AssetFile may not load any more
            now = {}
        with self._lock:
            self.running = None
        self.events.publish({"type": "build-finished", "ok": ok, "error": error, "states": now})
