"""Observations: what a build, ``status``, ``-n`` and ``why`` observe before deciding anything,
and ``observe``, the verb that only observes.

A build records each observation it made (the store's latest per source, with its time by
assetbuild.clock, version and metadata), and so does ``observe``; ``status``, ``-n`` and ``why``
observe too, to say what a build would do, but record nothing. ``changed`` compares with the
source's previous recorded observation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..definitions import ObservableSourceDef
from ..errors import SelectionError
from ..output import Reporter
from ..reports import ObservationResult
from .arguments import verb
from .project import Project, open_project, open_store, waiting_warning
from .turns import process_turn


def observe_for(project: Project, plan: Sequence[str], store: Any, *, record: bool,
                given: Mapping[str, ObservationResult] | None = None) -> dict[str, ObservationResult]:
    """Observe the observable sources ``plan`` reads (each once), unless ``given`` has an
    observation of it already (watch mode's poll); record the new ones when ``record``."""
    names = project.graph.observed_by(plan)
    return _observe(project, names, store, record=record, given=given) if names else {}


def _observe(project: Project, names: Sequence[str], store: Any, *, record: bool,
             given: Mapping[str, ObservationResult] | None = None) -> dict[str, ObservationResult]:
    from ..observations import observe_source, record_of

    out: dict[str, ObservationResult] = {}
    for name in names:
        obs = given.get(name) if given else None
        if obs is None:
            d: ObservableSourceDef = project.graph.nodes[name]  # type: ignore[assignment]
            obs = observe_source(d, project.project_dir)
            for level, text in obs.logs:
                project.reporter.asset_line(name, level, text)
        prev = store.get_observation(name)
        obs = replace(obs, changed=obs.ok and (prev is None or prev.version != obs.version))
        if record and obs.ok and (prev is None or prev != record_of(obs)):
            store.put_observation(name, record_of(obs))
        out[name] = obs
    return out


@verb
def observe(names: Sequence[str] = (), *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
            cache_dir: str | os.PathLike[str] | None = None, reporter: Reporter | None = None
            ) -> list[ObservationResult]:
    """Run the observe functions of ``names`` (default: every observable source) and record each
    observation; build nothing. A failing observe function is a result with ``error`` set (it
    does not raise); a name that is not an observable source raises ``SelectionError``."""
    if isinstance(names, str):  # one name, not its letters
        names = [names]
    rep = reporter or Reporter(verbosity=-2)
    with rep.stdout_for_json(), process_turn(), open_project(project_dir, assetfile=assetfile,
                                                             cache_dir=cache_dir, reporter=rep) as project:
        graph = project.graph
        for n in names:
            if n not in graph.observable:
                raise SelectionError(_not_observable(n, project))
        chosen = list(dict.fromkeys(names)) if names else list(graph.observable)
        store = open_store(project, readonly=False)
        try:
            store.acquire_lock(on_wait=waiting_warning(project.cache_dir, rep.warn))
            from ..history import RunRecorder, command_line

            recorder = RunRecorder(store, command_line(f"observe({', '.join(map(repr, names))})"), names)
            results = _observe(project, chosen, store, record=True)
            recorder.observed(results.values())
            recorder.finish(0 if all(o.ok for o in results.values()) else 1)
            store.flush()
        finally:
            store.close()
        return list(results.values())


def _not_observable(name: str, project: Project) -> str:
    import difflib

    if name in project.graph.nodes:
        what = "an asset" if name in project.graph.inputs else "a file source"
        return f"{name!r} is {what}, not an observable source"
    close = difflib.get_close_matches(name, list(project.graph.observable), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = ", ".join(project.graph.observable) or "none is declared"
    return f"no observable source named {name!r}{hint}; observable sources: {known}"
