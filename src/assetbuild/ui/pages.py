"""The UI's pages as HTML strings, from the plain data of ui.data: no IO here, so every page
can be checked for escaping and structure without a server.

Elements the tests and scripts find: catalog rows and state elements carry ``data-asset`` and
``data-state``; the asset page's history table is ``data-testid="history"``, each numeric
metadata plot ``data-testid="plot-KEY"``, the partition grid ``data-testid="partitions"``, the
materialize button ``data-testid="materialize"``.
"""

from __future__ import annotations

import json
from typing import Any

from ..clock import format_limit
from ..metadata import plottable, table_parts
from .html import COLORS, STATES, esc, json_attr, markdown_html, page, state_badge
from .links import asset_url, node_url, run_url
from .plots import line_plot
from .scripts import PAGE_URL


def _build_form(token: str | None, *, assets: str, label: str, testid: str, partition: str | None = None) -> str:
    """A POST form that starts a build (hidden when the server is read-only: ``token`` None)."""
    if token is None:
        return ""
    part = f'<input type="hidden" name="partition" value="{esc(partition)}">' if partition else ""
    return (f'<form class="inline" method="post" action="/materialize">'
            f'<input type="hidden" name="token" value="{esc(token)}">'
            f'<input type="hidden" name="assets" value="{esc(assets)}">{part}'
            f'<button type="submit" data-build data-testid="{esc(testid)}">{esc(label)}</button></form>'
            f' <span id="build-note" class="muted"></span>')


def catalog_page(rows: list[dict[str, Any]], *, project: str, token: str | None, notice: str = "",
                 finished: int = 0) -> str:
    groups = sorted({r["group"] for r in rows if r.get("group")})
    body = [f'<h1>Assets <span class="muted">({sum(r["kind"] == "asset" for r in rows)})</span></h1>']
    if notice:
        body.append(f'<div class="notice" role="status">{esc(notice)}</div>')
    body.append('<div class="filters">'
                '<input id="q" type="search" placeholder="filter by name or text" '
                'data-testid="filter">'
                '<select id="group" data-testid="filter-group"><option value="">all groups</option>'
                + "".join(f'<option value="{esc(g)}">{esc(g)}</option>' for g in groups) + "</select>"
                '<select id="state" data-testid="filter-state"><option value="">all states</option>'
                + "".join(f'<option value="{s}">{s}</option>' for s in STATES) + "</select>"
                + _build_form(token, assets="", label="Materialize stale", testid="materialize-stale")
                + "</div>")
    body.append("<table><thead><tr><th>Asset</th><th>Group</th><th>Kind</th><th>State</th>"
                "<th>Last materialized</th><th>Description</th></tr></thead><tbody>")
    for r in rows:
        state = r["state"] or "missing"
        parts = r.get("partitions")
        extra = (" " + esc(", ".join(f"{n} {s}" for s, n in parts.items() if n) or "no partitions yet")
                 if parts is not None else "")
        kind = "partitioned" if parts is not None else r["kind"].replace("_", " ")
        mark = (f'data-asset="{esc(r["name"])}" data-state="{esc(state)}"' if r["kind"] == "asset"
                else f'data-kind="{esc(r["kind"])}"')  # [data-asset] rows are the assets; every row is [data-node]
        body.append(f'<tr data-node="{esc(r["name"])}" {mark} data-group="{esc(r.get("group") or "")}" '
                    f'data-text="{esc(r.get("description") or "")}">'
                    f'<td><a href="{esc(asset_url(r["name"]))}">{esc(r["name"])}</a></td>'
                    f'<td>{esc(r.get("group") or "")}</td><td>{esc(kind)}</td>'
                    f'<td>{state_badge(state)}<span class="muted">{extra}</span></td>'
                    f'<td class="mono">{esc(r.get("last") or ("never" if r["kind"] == "asset" else ""))}</td>'
                    f'<td>{esc(r.get("description") or "")}</td></tr>')
    body.append("</tbody></table>")
    return page("Assets", "".join(body), here="catalog", project=project, script=PAGE_URL, finished=finished)


def _definition(d: dict[str, Any], root: str = "") -> str:
    where = d.get("file")
    if where and root and where.startswith(root.rstrip("/") + "/"):
        where = where[len(root.rstrip("/")) + 1:]
    items = [("kind", d.get("kind")), ("defined at", f"{where}:{d.get('line')}" if where else None),
             ("description", d.get("description")), ("group", d.get("group")), ("io", d.get("io")),
             ("path", d.get("path")), ("inputs", ", ".join(d.get("inputs") or []) or None),
             ("params", json.dumps(d["params"]) if d.get("params") else None),
             ("policy", _policy_text(d.get("policy")))]
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items if v) + "</dl>"


def _policy_text(p: dict[str, Any] | None) -> str | None:
    if not p:
        return None
    out = []
    if p.get("auto"):
        out.append(f"auto={p['auto']}")
    if p.get("freshness") is not None:
        out.append(f"freshness {format_limit(p['freshness'])}")
    if p.get("schedule"):
        out.append(f"schedule {p['schedule']}" + (f" ({p['timezone']})" if p.get("timezone") else ""))
    return ", ".join(out)


def metadata_html(entries: dict[str, Any]) -> str:
    """The latest metadata, each entry rendered by its type: markdown as HTML (its raw HTML left
    as text), tables as tables, urls as links (http and https only), paths as text, json folded."""
    rows = []
    for name, mv in entries.items():
        t, v = getattr(mv, "type", "text"), getattr(mv, "value", mv)
        if t == "md":
            cell = f'<div class="md">{markdown_html(str(v))}</div>'
        elif t == "table" and (parts := table_parts(v)) is not None:
            cell = _table_html(*parts)
        elif t == "url" and str(v).lower().startswith(("http://", "https://")):
            cell = f'<a href="{esc(v)}" rel="noopener noreferrer">{esc(v)}</a>'
        elif t == "json":
            cell = f"<details><summary>json</summary><pre>{esc(json.dumps(v, indent=2, sort_keys=True))}</pre></details>"
        elif t == "float" and isinstance(v, float):
            cell = esc(f"{v:.6g}")
        else:
            cell = f'<span class="{"mono" if t == "path" else ""}">{esc(v)}</span>'
        rows.append(f'<tr data-meta="{esc(name)}"><th>{esc(name)}</th><td>{cell}</td></tr>')
    return "<table>" + "".join(rows) + "</table>" if rows else '<p class="muted">none recorded</p>'


_TABLE_ROWS = 100  # rows of a metadata table a page shows (the CLI shows 20)


def _table_html(columns: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                   for row in rows[:_TABLE_ROWS])
    more = (f'<p class="muted">... {len(rows) - _TABLE_ROWS} more rows</p>' if len(rows) > _TABLE_ROWS else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def history_html(events: list[dict[str, Any]]) -> str:
    rows = []
    for e in events:
        reasons = "; ".join(f"{r['code']}: {r['detail']}" for r in e.get("reasons", []))
        rows.append(f'<tr data-kind="{esc(e["kind"])}"><td class="mono">{esc(e["time"])}</td><td>{esc(e["kind"])}</td>'
                    f'<td><a href="{esc(run_url(e["run"]))}">{esc(e["run"])}</a></td>'
                    f'<td>{esc(round(e.get("duration_s") or 0, 3))} s</td>'
                    f'<td>{esc(e.get("error") or reasons)}</td></tr>')
    return ('<table data-testid="history"><thead><tr><th>Time</th><th>Event</th><th>Run</th><th>Took</th>'
            f'<th>Why / error</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def plots_html(events: list[dict[str, Any]]) -> str:
    """One line plot per numeric metadata entry over history (oldest first). A value no plot can
    place (nan, inf, an int too large for a float) is left out, and the caption says how many."""
    series: dict[str, list[tuple[str, float]]] = {}
    left: dict[str, int] = {}
    for e in reversed(events):
        for name, entry in e.get("metadata", {}).items():
            if entry.get("type") not in ("int", "float"):
                continue
            v = plottable(entry.get("value"))
            if v is not None:
                series.setdefault(name, []).append((e["time"], v))
            elif isinstance(entry.get("value"), (int, float, str)) and not isinstance(entry.get("value"), bool):
                series.setdefault(name, [])
                left[name] = left.get(name, 0) + 1
    return "".join(f'<figure data-testid="plot-{esc(name)}"><figcaption>{esc(name)}'
                   + (f' <span class="muted" data-testid="not-plotted">({left[name]} value(s) not plotted: nan, inf '
                      f"or too large for a float)</span>" if name in left else "")
                   + f"</figcaption>{line_plot(points)}</figure>" for name, points in series.items())


def partitions_html(name: str, parts: dict[str, str]) -> str:
    """A grid of the partitions, coloured by state, in key order; a click selects one (the key
    URL-quoted: a static key may hold '&', '+', '#' or '%')."""
    if not parts:  # (the state's reasons say why: no key added yet, no file matching the glob)
        return '<p data-testid="partitions" class="muted">no partitions yet</p>'
    cells = "".join(f'<a href="{esc(asset_url(name, k))}" data-partition="{esc(k)}" '
                    f'data-state="{esc(s)}" title="{esc(k)}: {esc(s)}" '
                    f'style="width:14px;height:14px;display:inline-block;background:{COLORS.get(s, "#888")}"></a>'
                    for k, s in parts.items())
    return (f'<div data-testid="partitions" data-partitions-of="{esc(name)}" '
            f'style="display:flex;flex-wrap:wrap;gap:2px;max-width:900px">{cells}</div>')


def asset_html(doc: dict[str, Any], *, project: str, token: str | None, partition: str | None = None,
               finished: int = 0) -> str:
    name = doc["name"]
    d = doc["definition"]
    body = [f"<h1>{esc(name)}</h1>"]
    if d["kind"] == "asset":
        state = doc.get("state") or "missing"
        reasons = "".join(f"<li><b>{esc(r['code'])}</b>: {esc(r['detail'])}</li>" for r in doc.get("reasons", []))
        why = doc.get("why")
        lines = (why.get("source_diff") if isinstance(why, dict) else None) or []
        diff = f'<pre data-testid="source-diff">{esc(chr(10).join(lines))}</pre>' if lines else ""
        body.append(f'<div data-asset="{esc(name)}" data-state="{esc(state)}">{state_badge(state)} '
                    + (_build_form(token, assets=name, testid="materialize", partition=partition,
                                   label=f"Materialize {partition}" if partition else "Materialize")
                       if doc.get("partitions") != {} else "")  # (no partition yet: nothing to build)
                    + f"<ul>{reasons}</ul>{diff}</div>")
    if d["kind"] == "observable_source":
        body.append(_observed_html(doc))
    body.append(f"<h2>Definition</h2>{_definition(d, doc.get('root', ''))}")
    if doc.get("partitions") is not None:
        body.append(f"<h2>Partitions</h2>{partitions_html(name, doc['partitions'])}")
        if partition:
            reasons = "; ".join(f"{r['code']}: {r['detail']}" for r in doc.get("partition_reasons", []))
            body.append(f'<p>Selected partition: <b data-of="{esc(name)}" data-key="{esc(partition)}" '
                        f'data-testid="partition-selected">{esc(partition)}</b> '
                        f'{state_badge(doc["partitions"].get(partition, "unknown"))} '
                        f'<span class="muted">{esc(reasons)}</span></p>')
    if d["kind"] == "observable_source":
        when = doc.get("materialized_at")
        body.append("<h2>Latest observation</h2>"
                    + (f'<p>version <span class="mono" data-testid="observed-version">{esc(doc["version"])}</span>'
                       f' <span class="muted">observed {esc(when)}</span></p>' + metadata_html(doc.get("metadata") or {})
                       if when else '<p class="muted">never observed</p>'))
        body.append(f"<h2>History</h2>{history_html(doc.get('history') or [])}")
    if d["kind"] == "asset" and (doc.get("partitions") is None or partition in doc["partitions"]):
        when = doc.get("materialized_at")
        body.append("<h2>Latest metadata</h2>"
                    + (f'<p class="muted">materialized {esc(when)}</p>' if when else "")
                    + metadata_html(doc.get("metadata") or {}))
        body.append(f"<h2>Plots</h2>{plots_html(doc.get('history') or []) or '<p class=muted>no numeric metadata</p>'}")
        body.append(f"<h2>History</h2>{history_html(doc.get('history') or [])}")
    return page(name, "".join(body), here="catalog", project=project, script=PAGE_URL, finished=finished)


def _observed_html(doc: dict[str, Any]) -> str:
    """An observable source's state: "failed" and why when its latest observation failed (its
    readers read the one before), else a plain "source" badge."""
    if doc.get("state") != "failed":
        return f'<div data-node="{esc(doc["name"])}" data-state="source">{state_badge("source")}</div>'
    error = (doc.get("observation_error") or "").strip().splitlines() or ["failed"]
    return (f'<div data-node="{esc(doc["name"])}" data-state="failed">{state_badge("failed")} '
            f'<span data-testid="observation-error">the latest observation failed: {esc(error[-1])}; readers '
            "use the last one that succeeded</span></div>")


def graph_html(doc: dict[str, Any], *, project: str, select: str | None, collapse: tuple[str, ...],
               finished: int = 0) -> str:
    """The lineage page: the picture (asset nodes link to their pages), a selection box and
    the groups that can be collapsed."""
    boxes = "".join(f'<label><input type="checkbox" name="collapse" value="{esc(g)}"'
                    f'{" checked" if g in collapse else ""} data-submit> {esc(g)}</label> '
                    for g in doc["groups"])
    form = (f'<form class="filters" method="get" action="/graph"><input name="select" value="{esc(select or "")}" '
            f'placeholder="+name+ · group:g · raw/*" data-testid="graph-select"><button type="submit">Show</button>'
            + (f'<span class="muted">collapse:</span> {boxes}' if boxes else "") + "</form>")
    body = (f'<h1>Lineage <span class="muted">({doc["assets"]} assets)</span></h1>{form}'
            f'<div data-testid="graph" style="overflow:auto;background:#fff">{doc["svg"]}</div>')
    return page("Lineage", body, here="graph", project=project, script=PAGE_URL, finished=finished)


def runs_html(doc: dict[str, Any], *, project: str) -> str:
    """A page of runs (ui.data.runs), with links to the newer and older ones beyond it."""
    body = [f'<h1>Runs <span class="muted">({doc["total"]})</span></h1>',
            _runs_nav(doc),
            '<table data-testid="runs"><thead><tr><th>Run</th><th>Started</th><th>Command</th>'
            "<th>Outcome</th><th>Took</th></tr></thead><tbody>"]
    for r in doc["runs"]:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r["counts"].items()))
        body.append(f'<tr data-run="{esc(r["run"])}"><td><a href="{esc(run_url(r["run"]))}">{esc(r["run"])}</a></td>'
                    f'<td class="mono">{esc(r["start"])}</td><td class="mono">{esc(r["command"])}</td>'
                    f'<td>{_outcome(r)}: {esc(counts)}</td>'
                    f'<td>{esc(round(r["duration_s"], 3))} s</td></tr>')
    body.append("</tbody></table>")
    if doc["older"]:
        body.append(_runs_nav(doc))
    return page("Runs", "".join(body), here="runs", project=project)


def _outcome(run: dict[str, Any]) -> str:
    """ok, exit N, or for a run with no end recorded: running, or killed (not finished)."""
    if run["exit_status"] is None:
        return "running" if run.get("state") == "running" else "killed (not finished)"
    return "ok" if run["ok"] else "exit " + esc(run["exit_status"])


def _runs_nav(doc: dict[str, Any]) -> str:
    links = []
    if doc["newer_url"]:
        links.append(f'<a href="{esc(doc["newer_url"])}" data-testid="runs-newer">&larr; {doc["newer"]} newer '
                     f'run{"s" if doc["newer"] != 1 else ""}</a>')
    if doc["older_url"]:
        links.append(f'<a href="{esc(doc["older_url"])}" data-testid="runs-older">{doc["older"]} older '
                     f'run{"s" if doc["older"] != 1 else ""} &rarr;</a>')
    return f'<p class="filters">{" ".join(links)}</p>' if links else ""


def run_html(doc: dict[str, Any], *, project: str) -> str:
    body = [f'<h1>Run {esc(doc["run"])}</h1><p class="mono">{esc(doc["command"])}</p>',
            f'<p>{esc(doc["start"])} · {_outcome(doc)} · '
            f'{esc(round(doc["duration_s"], 3))} s</p><table data-testid="run-events"><thead><tr><th>Asset</th>'
            "<th>Event</th><th>Why / error</th></tr></thead><tbody>"]
    for e in doc.get("events", []):
        reasons = "; ".join(f"{r['code']}: {r['detail']}" for r in e.get("reasons", []))
        name = (f'{esc(e["asset"])} <span class="muted">(no longer in the AssetFile)</span>' if e.get("removed")
                else f'<a href="{esc(node_url(e["asset"]))}">{esc(e["asset"])}</a>')  # (no page to link to)
        body.append(f'<tr data-asset="{esc(e["asset"])}"><td>{name}</td>'
                    f'<td>{esc(e["kind"])}</td><td>{esc(e.get("error") or reasons)}</td></tr>')
    body.append("</tbody></table>")
    for asset, lines in doc.get("logs", {}).items():
        text = "\n".join(t for _, t in lines)
        body.append(f'<h2>Log of {esc(asset)}</h2><pre data-log="{esc(asset)}">{esc(text)}</pre>')
    return page(f"Run {doc['run']}", "".join(body), here="runs", project=project)


def error_html(title: str, message: str, *, project: str) -> str:
    return page(title, f'<h1>{esc(title)}</h1><p class="notice">{esc(message)}</p>', project=project)


__all__ = ["catalog_page", "asset_html", "runs_html", "run_html", "error_html", "metadata_html", "json_attr"]
