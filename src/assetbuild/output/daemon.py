"""``assetbuild run`` and ``assetbuild ticks`` for people: a tick is a headline (when, what it
requested, how the build went) and one line per requested or held-back asset with its reasons.
Both commands print the same lines from the same record (``Tick.to_json``)."""

from __future__ import annotations

import time
from typing import Any

from ..clock import format_duration


def stamp(time_ns: int) -> str:
    """A tick's time in UTC, to the second: ``2024-03-02T09:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time_ns // 1_000_000_000))


def tick_lines(doc: dict[str, Any]) -> list[str]:
    """The lines of one recorded tick (a ``Tick.to_json`` document)."""
    head = f"{stamp(doc['time_ns'])} tick {doc.get('seq') or '-'}: "
    if doc.get("error"):
        return [head + f"error: {doc['error']}"]
    requested = doc.get("requested") or []
    outcomes: dict[str, str] = doc.get("outcomes") or {}
    asked = {r["asset"] for r in requested}
    # failed but not requested: an observable source the tick or its build observed (or an input built again)
    others = [a for a in doc.get("failed") or () if a not in asked]
    if not requested and not outcomes:
        text = head + f"nothing to do ({doc.get('evaluated', 0)} evaluated)"
    else:
        counts: dict[str, int] = {}
        for status in outcomes.values():
            counts[status] = counts.get(status, 0) + 1
        done = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        text = head + (f"{len(requested)} requested" if requested else "nothing requested") + (f"; {done}" if done else "")
        if doc.get("run"):
            text += f" (run {doc['run']})"
    lines = [text]
    width = max((len(a) for a in [*asked, *others]), default=0)
    for r in requested:
        outcome = outcomes.get(r["asset"])
        tail = f"  [{outcome}]" if outcome and outcome != "built" else ""
        lines.append(f"  {r['asset']:<{width}}  {'; '.join(r['reasons'])}{tail}")
    for asset in others:
        lines.append(f"  {asset:<{width}}  [failed]")
    for asset, why in sorted((doc.get("deferred") or {}).items()):
        lines.append(f"  {asset}  not now: {why}")
    overdue = doc.get("overdue") or {}
    if overdue:
        lines.append("  overdue: " + ", ".join(f"{a} ({format_duration(lag)} behind)"
                                               for a, lag in sorted(overdue.items())))
    return lines
