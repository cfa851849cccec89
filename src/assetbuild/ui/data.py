"""What the UI's pages show, read through the same session API as the CLI: each call loads the
project as it is on disk (the loader's code cache makes an unchanged AssetFile cheap, and an
edited one is simply read again) and reads the store in short read transactions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SelectionError
from ..partitions import split_node


@dataclass(frozen=True)
class Where:
    """The project the UI shows (as the CLI's -C, -f and --cache-dir name it)."""

    project_dir: str
    assetfile: str | None = None
    cache_dir: str | None = None

    def kw(self) -> dict[str, Any]:
        return {"project_dir": self.project_dir, "assetfile": self.assetfile, "cache_dir": self.cache_dir}


def states(where: Where) -> dict[str, dict[str, Any]]:
    """Each declared asset's state, as ``status`` says it: ``{name: {"state", "reasons",
    "partitions"}}``; a partitioned asset's from its partitions (``partitions``: key -> state).
    A partitioned asset with no partition yet (status's one row of reason ``no-partitions``)
    is partitioned all the same: ``partitions`` empty, its reasons saying why."""
    from .. import session

    out: dict[str, dict[str, Any]] = {}
    for r in session.status(**where.kw()):
        asset, key = split_node(r.asset)
        if key is None and r.reasons and r.reasons[0].code == "no-partitions":
            out[asset] = {"state": r.state, "reasons": [x.to_json() for x in r.reasons], "partitions": {},
                          "lag_s": None}
            continue
        if key is None:
            out[asset] = {"state": r.state, "reasons": [x.to_json() for x in r.reasons], "partitions": None,
                          "lag_s": r.lag_s}
            continue
        row = out.setdefault(asset, {"state": "fresh", "reasons": [], "partitions": {}, "lag_s": None})
        row["partitions"][key] = r.state
    for row in out.values():
        parts = row["partitions"]
        if parts:  # as status's line for a partitioned asset: the first of these any partition is
            row["state"] = next((s for s in ("failed", "overdue", "stale", "missing") if s in parts.values()), "fresh")
    return out


def catalog(where: Where) -> list[dict[str, Any]]:
    """Every source and asset: name, kind, group, state, last materialization (ISO time, None
    if never), description, and for a partitioned asset its partition counts."""
    from .. import session

    rows = session.list_assets(**where.kw())
    known = states(where)
    failed: set[str] = set()
    last = last_materialized(where, [r["name"] for r in rows if r["kind"] == "asset"],
                             observed=[r["name"] for r in rows if r["kind"] == "observable_source"], failed=failed)
    out = []
    for r in rows:
        if r["kind"] == "resource":
            continue
        st = known.get(r["name"], {})
        state = st.get("state") if r["kind"] == "asset" else "failed" if r["name"] in failed else "source"
        counts = None
        if st.get("partitions") is not None:
            counts = {s: list(st["partitions"].values()).count(s) for s in ("fresh", "stale", "missing", "failed", "overdue")}
        out.append({"name": r["name"], "kind": r["kind"], "group": r.get("group"), "state": state,
                    "last": last.get(r["name"]), "description": r.get("description"), "partitions": counts,
                    "inputs": r.get("inputs", [])})
    return out


def last_materialized(where: Where, assets: list[str], *, observed: Sequence[str] = (),
                      failed: set[str] | None = None) -> dict[str, str]:
    """The time (ISO-8601 UTC) of each asset's latest materialization, from its head (the newest
    of a partitioned asset's partitions); and of each ``observed`` source's latest observation,
    its name added to ``failed`` when a later one failed (as ``show`` warns)."""
    from ..clock import iso_utc
    from ..session.project import open_project, open_store

    with open_project(where.project_dir, assetfile=where.assetfile, cache_dir=where.cache_dir) as project:
        store = open_store(project, readonly=True)
        try:
            out: dict[str, int] = {}
            wanted = set(assets)
            for name in project.graph.order:
                asset = split_node(name)[0]
                if asset not in wanted:
                    continue
                head = store.get_head(name)
                if head is not None and head.built_ns > out.get(asset, 0):
                    out[asset] = head.built_ns
            for source in observed:
                rec = store.get_observation(source)
                if rec is not None:
                    out[source] = rec.observed_ns
                latest = store.last_event(source)
                if failed is not None and latest is not None and latest.kind == "failed":
                    failed.add(source)
        finally:
            store.close()
    return {a: iso_utc(t) for a, t in out.items()}


class UnknownPartition(SelectionError):
    """The asset page of a partition key the asset does not have (now), or of any key when the
    asset is not partitioned."""


def asset_page(where: Where, name: str, partition: str | None = None) -> dict[str, Any]:
    """Everything the asset page shows: its definition (``list`` row), state and reasons
    (``why``), latest metadata, history (newest first) and, if partitioned, each partition's
    state; with ``partition``, that partition's state, reasons, metadata and history."""
    from .. import session
    from ..errors import ValueNotFound

    rows = {r["name"]: r for r in session.list_assets(**where.kw()) if r["kind"] != "resource"}
    if name not in rows:
        from ..errors import SelectionError

        raise SelectionError(f"no asset or source named {name!r}")
    definition = rows[name]
    doc: dict[str, Any] = {"name": name, "definition": definition, "state": None, "why": None,
                           "root": os.path.realpath(where.project_dir),
                           "metadata": {}, "materialized_at": None, "history": [], "partitions": None}
    if definition["kind"] == "observable_source":
        return _observations(where, doc)
    if definition["kind"] != "asset":
        return doc
    st = states(where).get(name, {})
    if partition is not None and st.get("partitions") is None:  # (its Materialize button would fail too)
        raise UnknownPartition(f"asset {name!r} is not partitioned: it has no partition {partition!r}")
    doc["state"] = st.get("state")
    doc["partitions"] = st.get("partitions")
    doc["reasons"] = st.get("reasons", [])
    node = name
    if st.get("partitions") is not None:
        if partition is None:
            return doc
        if not st["partitions"]:  # none yet (a dynamic set with no key, a glob matching no file)
            raise UnknownPartition(f"asset {name!r} has no partitions yet, so no partition {partition!r} ("
                                   + "; ".join(r["detail"] for r in st.get("reasons", [])) + ")")
        if partition not in st["partitions"]:  # (a Materialize button for it would fail the build)
            raise UnknownPartition(f"asset {name!r} has no partition {partition!r} now "
                                   f"({len(st['partitions'])} partitions)")
        node = f"{name}[{partition}]"
        doc["partition_state"] = st["partitions"][partition]
    doc["why"] = session.why(node, **where.kw())
    if partition is not None and isinstance(doc["why"], dict):
        doc["partition_reasons"] = doc["why"].get("reasons", [])
    try:
        meta = session.load_metadata(node, **where.kw())
        doc["metadata"], doc["materialized_at"] = meta["metadata"], meta["materialized_at"]
    except ValueNotFound:
        pass
    log = session.asset_log(node, None, **where.kw())
    doc["history"] = log["events"] if isinstance(log, dict) else []
    return doc


def _observations(where: Where, doc: dict[str, Any]) -> dict[str, Any]:
    """An observable source's page: its latest recorded observation (``version``, metadata and
    time, as ``show`` gives them), its history (``log``: observed and failed events), and
    ``observation_error`` when the latest observation failed (readers then read the one before)."""
    from .. import session
    from ..clock import iso_utc
    from ..errors import ValueNotFound
    from ..metadata import typed

    name = doc["name"]
    try:
        obs = session.load_value(name, **where.kw())
        doc["version"] = obs["version"]
        doc["metadata"] = {k: typed(v) for k, v in (obs.get("metadata") or {}).items()}
        doc["materialized_at"] = iso_utc(obs["observed_ns"])
    except ValueNotFound:
        pass
    log = session.asset_log(name, None, **where.kw())
    doc["history"] = log["events"] if isinstance(log, dict) else []
    latest = doc["history"][0] if doc["history"] else None
    if latest is not None and latest["kind"] == "failed":
        doc["state"] = "failed"
        doc["observation_error"] = latest.get("error") or "failed"
    return doc


RUNS_PER_PAGE = 50


def runs(where: Where, before: str | None = None, per_page: int = RUNS_PER_PAGE) -> dict[str, Any]:
    """One page of the recorded runs, newest first: the ``per_page`` newest older than run
    ``before`` (None: the newest of all). ``older``/``newer``: how many runs lie beyond this page
    each way, and ``older_url``/``newer_url`` the pages that show them (None when there are none):
    every run can be reached, however many there are."""
    from .. import session

    if before is not None and not before.isdigit():
        raise SelectionError(f"{before!r} is not a run id (a number, as /runs lists them)")
    every = session.list_runs(None, **where.kw())  # (newest first)
    start = 0 if before is None else next((i for i, r in enumerate(every) if int(r["run"]) < int(before)), len(every))
    shown = every[start:start + per_page]
    older = len(every) - start - len(shown)
    newer_start = max(0, start - per_page)  # the page before this one, so the links go back and forth
    return {"runs": shown, "total": len(every), "older": older, "newer": start,
            "older_url": f"/runs?before={shown[-1]['run']}" if older and shown else None,
            "newer_url": None if not start else "/runs" if not newer_start else f"/runs?before={every[newer_start - 1]['run']}"}


def run(where: Where, run_id: str) -> dict[str, Any]:
    from .. import session

    return session.get_run(run_id, **where.kw())


def display_dir(where: Where) -> str:
    home = os.path.expanduser("~")
    d = os.path.abspath(where.project_dir)
    return "~" + d[len(home):] if d.startswith(home + os.sep) else d


def graph(where: Where, select: str | None = None, collapse: tuple[str, ...] = ()) -> dict[str, Any]:
    """The lineage picture (ui.svg) of the whole project or of a selection (``+report+``: it,
    its upstream and downstream), each asset coloured by its state; ``collapse``: groups drawn
    as one node. Also every group, for the page's choices."""
    from .. import session
    from .svg import lineage_svg

    rows = session.list_assets(**where.kw(), assets=[select] if select else ())
    known = {a: s["state"] for a, s in states(where).items()}
    groups = sorted({str(r["group"]) for r in rows if r.get("group") and r["kind"] != "resource"})
    return {"svg": lineage_svg(rows, known, collapse=[g for g in collapse if g in groups], link_prefix="/assets/"),
            "groups": groups, "assets": sum(r["kind"] == "asset" for r in rows)}
