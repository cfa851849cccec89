"""Reading history: the runs of a project (``runs``, ``runs show``) and the events of an asset
(``log``), as JSON-ready dicts. Recording is assetbuild.history's, during each command."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..clock import iso_utc
from ..errors import SelectionError, ValueNotFound
from ..reports import Event, RunRecord, run_id
from .arguments import verb
from .project import open_project, open_store


@verb
def list_runs(limit: int | None = 20, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
              cache_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """This project's recorded runs, newest first (at most ``limit``; None: all). A run that did
    not record its end has ``state`` "running" or "killed" (see ``run_json``), and is counted by
    the events it recorded, as ``get_run`` counts it (its record's counts lag them)."""
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        store = open_store(project, readonly=True)
        try:
            runs = store.runs()
            live = _running(project.cache_dir, runs)
            runs.reverse()
            page = runs if limit is None else runs[:limit]
            page = [r if r.exit_status is not None else _as_recorded(r, store.run_events(r.seq)) for r in page]
        finally:
            store.close()
    return [run_json(r, running=r.seq == live) for r in page]


def _running(cache_dir: Any, runs: Sequence[RunRecord]) -> int | None:
    """The run still running: the newest, if it has not recorded its end and its own process
    holds the build lock (runs take turns under it, so an older unfinished one was killed; the
    lock held by anyone else, or by a process that reused the pid of the killed one, is not it)."""
    if not runs or runs[-1].exit_status is not None:
        return None
    from ..store import running_run

    return runs[-1].seq if running_run(cache_dir) == runs[-1].seq else None


@verb
def get_run(run: str | int, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
            cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """One run: what ``list_runs`` says of it, plus each asset's events in it (``events``, in
    the order they happened; ``removed``: its asset, or partition, is no longer in the
    AssetFile) and log lines (``logs``: asset -> [[level, text], ...]). A run that did not
    record its end is counted, and ends, by the events it recorded."""
    seq = _seq_of(run)
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        store = open_store(project, readonly=True)
        try:
            rec = store.get_run(seq)
            if rec is None:
                known = store.runs()
                last = f"; the last is {run_id(known[-1].seq)}" if known else "; none is recorded yet"
                raise ValueNotFound(f"no run {run!s} in this project's history{last} (assetbuild runs)")
            events = store.run_events(seq)  # every event it recorded, of assets since gone too
            running = rec.exit_status is None and _running(project.cache_dir, store.runs()) == seq
        finally:
            store.close()
        nodes = project.graph.nodes
    if rec.exit_status is None:
        rec = _as_recorded(rec, events)
    doc = run_json(rec, running=running)
    doc["events"] = [dict(event_json(e), asset=e.asset, removed=e.asset not in nodes) for e in events]
    doc["logs"] = {a: [list(x) for x in lines] for a, lines in rec.logs.items()}
    return doc


@verb
def asset_log(asset: str | None, limit: int | None = 20, *, project_dir: str | os.PathLike[str] = ".",
              assetfile: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
              exclude: Sequence[str] = ()) -> Any:
    """``{"asset", "events": [...]}``: the asset's events, newest first (at most ``limit``).
    Any other selection (``raw/*``, ``group:g``, ``x+``), or one with ``exclude``: a list of
    those, one per asset it selects (``asset`` None with ``exclude``: all but those)."""
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        store = open_store(project, readonly=True)
        try:
            if exclude or asset is None:
                from ..graph import select

                chosen = [*([asset] if asset is not None else []), *(f"-{e}" for e in exclude)]
                names = select(project.graph, chosen, needs=False)
                return [_log_doc(n, store.events(n), limit) for n in names]
            events = store.events(asset)
            if not events and asset not in project.graph.nodes:
                from ..graph import select

                names = select(project.graph, [asset], needs=False)  # a SelectionError with a suggestion
                return [_log_doc(n, store.events(n), limit) for n in names]
        finally:
            store.close()
    return _log_doc(asset, events, limit)


def _log_doc(asset: str, events: list[Any], limit: int | None) -> dict[str, Any]:
    events.reverse()
    return {"asset": asset, "events": [event_json(e) for e in (events if limit is None else events[:limit])]}


@verb
def asset_metric(asset: str, metric: str, *, project_dir: str | os.PathLike[str] = ".",
                 assetfile: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 limit: int | None = None, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """One numeric metadata entry of ``asset`` across its history, oldest first, the newest
    ``limit`` points (all by default): ``{"asset", "metric", "points": [{"time", "value", "run"}]}``
    (a float recorded as nan or inf has its text as value, as in ``log --json``). ValueNotFound if
    no recorded event has it as a number (naming the numeric entries there are). A selection
    (a glob, ``exclude``) must leave one asset; one that ``exclude`` empties gives ``"asset": None``
    and no points, as ``asset_log`` gives an empty list."""
    doc = asset_log(asset, None, project_dir=project_dir, assetfile=assetfile, cache_dir=cache_dir, exclude=exclude)
    if isinstance(doc, list):  # a glob, a group or exclusions: one metric follows one asset
        if not doc and exclude:
            return {"asset": None, "metric": metric, "points": []}
        if len(doc) != 1:
            left = " less --exclude" if exclude else ""
            raise SelectionError(f"log --metric follows one asset; {asset!r}{left} selects {len(doc)}: "
                                 "name one of them")
        doc = doc[0]
    asset = doc["asset"]
    points, numeric = [], set()
    for e in reversed(doc["events"]):
        for name, entry in e["metadata"].items():
            if _numeric(entry):
                numeric.add(name)
        entry = e["metadata"].get(metric)
        if entry is not None and _numeric(entry):
            points.append({"time": e["time"], "value": entry["value"], "run": e["run"]})
    if not points:
        known = ", ".join(sorted(numeric)) or "none"
        raise ValueNotFound(f"no recorded event of {asset!r} has a number {metric!r} in its metadata "
                            f"(numeric metadata: {known})")
    if limit is not None:
        points = points[max(len(points) - limit, 0):]
    return {"asset": asset, "metric": metric, "points": points}


def _numeric(entry: dict[str, Any]) -> bool:
    """An int or float entry: a number, or a float's nan or inf (stored as its text)."""
    v = entry["value"]
    return entry["type"] in ("int", "float") and (isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  or entry["type"] == "float" and v in ("nan", "inf", "-inf"))


def _seq_of(run: str | int) -> int:
    if isinstance(run, bool) or not isinstance(run, (str, int)):  # int(1.5), int(True): run 1
        raise TypeError(f"run= takes a run id (an int, or a str as `assetbuild runs` lists them), got {run!r}")
    try:
        seq = int(run)
    except ValueError:
        seq = 0
    if seq < 1:
        raise SelectionError(f"{run!r} is not a run id (a number, as `assetbuild runs` lists them)")
    return seq


_COUNTED = {"materialized": "built", "restored": "restored", "failed": "failed", "skipped": "skipped",
            "accepted": "accepted"}


def _as_recorded(rec: RunRecord, events: Sequence[Event]) -> RunRecord:
    """An unfinished run's record with the counts and end its events say (its record follows
    them only now and then: ``history.UNFINISHED_EVERY_S``)."""
    counts: dict[str, int] = {}
    for e in events:
        if e.kind in _COUNTED:
            counts[_COUNTED[e.kind]] = counts.get(_COUNTED[e.kind], 0) + 1
    end = max((e.end_ns for e in events), default=rec.end_ns)
    return rec._replace(counts=counts, end_ns=max(end, rec.end_ns),
                        duration_s=max(rec.duration_s, (end - rec.start_ns) / 1e9))


def run_json(r: RunRecord, *, running: bool = False) -> dict[str, Any]:
    """One run as ``runs --json``, ``runs show`` and the UI show it (its command's credentials
    hidden again: a run recorded by an older assetbuild holds them as typed). ``state``:
    "finished", or for a run that has not recorded its end (``exit_status`` null), "running"
    (``running``: it holds the build lock) or "killed" (its end is the last it recorded)."""
    from ..redaction import redact_text

    state = "finished" if r.exit_status is not None else "running" if running else "killed"
    return {"run": run_id(r.seq), "command": redact_text(r.command), "selection": list(r.selection),
            "start": iso_utc(r.start_ns), "end": iso_utc(r.end_ns),
            "duration_s": round(r.duration_s or max(0, r.end_ns - r.start_ns) / 1e9, 6),
            "counts": dict(r.counts), "exit_status": r.exit_status, "ok": r.exit_status == 0, "state": state}


def event_json(e: Event) -> dict[str, Any]:
    from ..metadata import decode_metadata, metadata_to_json

    return {"run": run_id(e.run), "kind": e.kind, "time": iso_utc(e.end_ns), "duration_s": round(e.duration_s, 6),
            "key": e.key, "data_version": e.data_version, "size": e.size,
            "metadata": metadata_to_json(decode_metadata(e.metadata_json)),
            "reasons": [{"code": c, "detail": d} for c, d in e.reasons], "error": e.error,
            "code": e.code, "inputs": [list(x) for x in e.inputs]}
