"""Watch mode's polls of observable sources: each source the watched assets read is observed
again every ``poll`` seconds (``poll=None``: only by the builds, at start and on file events),
and its readers are rebuilt when its version (or its failure) changed.

A poll's observation is the next build's: the build does not observe that source again, and
records it; the sources that were not due keep their last observation for that build (they are
observed again only on their own poll or a file event). Polls use the real monotonic clock:
they are about when to look, not about what a key holds.

A change is said once: a poll compares with what the last poll saw, so a cycle that fails does
not make every later poll a change again. A cycle that fails drops the poll's observations: the
next build observes with the code it loads, which may be a fix of the observe function. While
the AssetFile does not load, nothing is polled: the observe functions at hand are of code that
is gone, and a new version cannot make the AssetFile load (a save can, and that build observes).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..reports import BuildResult, ObservationResult
from .turns import in_project_dir


class ObservationPoller:
    """The observable sources of the last build, when each is due, and the observations a
    poll made for the next build (``take``)."""

    def __init__(self, project_dir: Path) -> None:
        self.root = project_dir
        self.defs: dict[str, Any] = {}  # the polled sources of the last load: name -> ObservableSourceDef
        self.last: dict[str, ObservationResult] = {}  # each source's latest observation
        self.due_at: dict[str, float] = {}  # time.monotonic() of each polled source's next poll
        self._next: dict[str, ObservationResult] | None = None

    def after_build(self, project: Any, result: BuildResult) -> None:
        """What the build observed, and so when each polled source is due next."""
        now = time.monotonic()
        self.last = {o.source: o for o in result.observations}
        self.defs = {n: project.graph.nodes[n] for n in self.last if project.graph.nodes[n].poll is not None}
        self.due_at = {n: now + d.poll for n, d in self.defs.items()}

    def deadline(self) -> float | None:
        return min(self.due_at.values()) if self.due_at else None

    def poll(self) -> list[str]:
        """Observe the sources that are due; the names of those whose version or error changed
        (their observations, with the others' last ones, are then the next build's)."""
        from ..loader import ProjectImports
        from ..observations import observe_source

        now = time.monotonic()
        fresh = {}
        with in_project_dir(self.root), ProjectImports(self.root):
            for name, d in self.defs.items():
                if self.due_at[name] <= now:
                    fresh[name] = observe_source(d, self.root)
                    self.due_at[name] = time.monotonic() + d.poll
        changed = [n for n, o in fresh.items()
                   if n not in self.last or (o.version, o.error) != (self.last[n].version, self.last[n].error)]
        self.last = {**self.last, **fresh}
        if changed:
            self._next = dict(self.last)
        return changed

    def after_failure(self, *, loaded: bool) -> None:
        """A cycle that raised: its build, if any, did not take the poll's observations, and the
        next one observes; ``loaded`` False (the AssetFile did not load): no polls until a
        build succeeds."""
        self._next = None
        if not loaded:
            self.defs, self.due_at = {}, {}

    def take(self) -> dict[str, ObservationResult] | None:
        """The observations the next build uses instead of observing (None: it observes)."""
        out, self._next = self._next, None
        return out
