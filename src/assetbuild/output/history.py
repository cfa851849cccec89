"""Renderings of history: ``runs``, ``runs show`` and ``log`` (text, or their ``--json`` documents).
Pure, like the other ``format_*`` functions."""

from __future__ import annotations

import json
from typing import Any

from ..jsonform import json_text
from ..metadata import format_number, plottable

_COUNTS = ("built", "restored", "cached", "failed", "skipped", "accepted")


def format_runs(runs: list[dict[str, Any]], *, as_json: bool = False) -> str:
    """``runs``: one line per run, newest first."""
    if as_json:
        return json_text({"runs": runs})
    if not runs:
        return "no runs recorded yet (a build that builds, restores or observes something is one)"
    lines = [f"{'RUN':<7} {'STARTED':<20} {'TIME':>8} {'EXIT':>4}  {'COUNTS':<34} COMMAND"]
    for r in runs:
        counts = ", ".join(f"{r['counts'][k]} {k}" for k in _COUNTS if r["counts"].get(k))
        if r["exit_status"] is None:  # no end recorded: the state is the outcome
            counts = f"{r['state'].upper()}{': ' if counts else ''}{counts}"
        exit_status = "-" if r["exit_status"] is None else r["exit_status"]
        lines.append(f"{r['run']:<7} {r['start']:<20} {r['duration_s']:>7.2f}s {exit_status:>4}  "
                     f"{counts:<34} {r['command']}")
    return "\n".join(lines)


def run_outcome(run: dict[str, Any]) -> str:
    """How a run ended, in words: its exit status, or why it has none."""
    if run["exit_status"] is not None:
        return f"exit status {run['exit_status']}"
    if run["state"] == "running":
        return "still running"
    return "killed: it did not record its end (its events up to then are kept)"


def format_run(run: dict[str, Any], *, as_json: bool = False) -> str:
    """``runs show``: the run, each asset's events in it, and its log lines."""
    if as_json:
        return json_text(run)
    counts = ", ".join(f"{run['counts'][k]} {k}" for k in _COUNTS if run["counts"].get(k)) or "nothing"
    lines = [f"run {run['run']}: {run['command']}",
             f"  {run['start']} to {run['end']} ({run['duration_s']:.2f}s), {run_outcome(run)}",
             f"  {counts}"]
    for e in run["events"]:
        lines.append(f"  {e['kind']:<13} {e['asset']}" + _event_detail(e))
        lines += _metadata_lines(e, "      ")
        for line in run["logs"].get(e["asset"], ()):
            lines.append(f"      | {line[1]}")
    for asset, logged in run["logs"].items():
        if not any(e["asset"] == asset for e in run["events"]):  # a cached asset's lines (none yet)
            lines += [f"  {asset}"] + [f"      | {t}" for _, t in logged]
    return "\n".join(lines)


def format_log(log: dict[str, Any] | list[dict[str, Any]], *, as_json: bool = False) -> str:
    """``log``: an asset's events, newest first, with metadata rendered by type (a list, from a
    glob or group: one block per asset, each under its name)."""
    if as_json:
        return json_text(log)
    if isinstance(log, list):
        return "\n\n".join(f"{one['asset']}:\n{format_log(one)}" for one in log)
    if not log["events"]:
        return f"{log['asset']}: no events recorded"
    lines = [f"{'TIME':<20} {'RUN':<7} {'KIND':<13} {'DATA VERSION':<12} {'DURATION':>8}"]
    for e in log["events"]:
        dv = (e["data_version"] or "-")[:12]
        # (an error's first line, as status shows it: a second would break the table; --json has it all)
        why = (e["error"] or "").strip().partition("\n")[0] or "; ".join(f"{r['code']}: {r['detail']}" for r in e["reasons"])
        lines.append(f"{e['time']:<20} {e['run']:<7} {e['kind']:<13} {dv:<12} {e['duration_s']:>7.2f}s"
                     + (f"  {why}" if why else ""))
        lines += _metadata_lines(e, "    ")
    return "\n".join(lines)


def _event_detail(e: dict[str, Any]) -> str:
    if e["error"]:
        return f": {e['error']}"
    bits = []
    if e["data_version"]:
        bits.append(f"data version {e['data_version'][:12]}")
    if e["duration_s"] >= 0.01:
        bits.append(f"{e['duration_s']:.2f}s")
    bits += [f"{r['code']}: {r['detail']}" for r in e["reasons"]]
    return f"  ({'; '.join(bits)})" if bits else ""


def _metadata_lines(e: dict[str, Any], indent: str) -> list[str]:
    if not e["metadata"]:
        return []
    from ..metadata import MetadataValue, render_metadata

    typed = {k: MetadataValue.stored(v["type"], v["value"]) for k, v in e["metadata"].items()}
    return render_metadata(typed, indent=indent)


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline_of(values: list[Any]) -> str:
    """One block character per value, scaled between the smallest and the largest; a space for
    a value no plot can place (``metadata.plottable``: nan, inf, an int too large for a float)."""
    placed = [plottable(v) for v in values]
    finite = [v for v in placed if v is not None]
    if not finite:
        return " " * len(values)
    lo, hi = min(finite), max(finite)
    span = (hi / 2 - lo / 2) or 1  # (halves: hi - lo of two large floats can overflow to inf)
    top = len(_SPARKS) - 1
    return "".join(" " if v is None else _SPARKS[min(top, int((v / 2 - lo / 2) / span * top + 0.5))]
                   for v in placed)


def format_metric(doc: dict[str, Any], *, as_json: bool = False, sparkline: bool = False) -> str:
    """``log --metric``: the metric's points, oldest first; a sparkline above them on a terminal,
    saying how many values it leaves out (nan, inf, an int too large for a float)."""
    if as_json:
        return json_text(doc)
    values = [p["value"] for p in doc["points"]]
    lines = []
    if sparkline:
        left = sum(plottable(v) is None for v in values)
        note = f"  ({left} not plotted: nan, inf or too large for a float)" if left else ""
        lines.append(f"{doc['asset']} {doc['metric']}: {sparkline_of(values)}{note}")
    lines += [f"{p['time']}  {p['run']}  {format_number(p['value'])}" for p in doc["points"]]
    return "\n".join(lines)


def format_diff(doc: dict[str, Any], *, as_json: bool = False) -> str:
    """``diff``: how two versions differ (``--json``: strict JSON, ``json_text``)."""
    if as_json:
        return json_text(doc)
    a, b = doc["from"], doc["to"]
    head = (f"{doc['asset']}: version {a['version']} ({a['key'][:12]}, {a['built']}) -> "
            f"version {b['version']} ({b['key'][:12]}, {b['built']})")
    kind = doc["kind"]
    if kind == "same":
        return head + "\nno difference"
    if kind == "bytes":
        return head + (f"\nbytes differ: {doc['from']['size']} -> {doc['to']['size']} bytes, "
                       f"sha256 {doc['from']['sha256'][:12]} -> {doc['to']['sha256'][:12]}")
    if kind == "table":
        lines = [head, f"{len(doc['removed'])} row(s) removed, {len(doc['added'])} added"]
        lines += [f"- {json.dumps(r, sort_keys=True)}" for r in doc["removed"]]
        lines += [f"+ {json.dumps(r, sort_keys=True)}" for r in doc["added"]]
        return "\n".join(lines)
    return "\n".join([head, *doc["lines"]])
