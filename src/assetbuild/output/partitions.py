"""Partitioned assets in listings: a partition is a node (``daily[2024-01-01]``) to the engine,
but people read one line per asset, with counts."""

from __future__ import annotations

from typing import Any

from ..partitions import split_node
from ..reports import AssetStatus

STATES = ("fresh", "stale", "missing", "failed")
OVERDUE = "overdue"  # (a stale partition late for its asset's freshness: counted apart, as the UI does)


class PartitionedStatus:
    """The states of one partitioned asset's partitions: ``rows`` (key, status) in key order.
    ``counts``: the four states and ``overdue``, disjoint, adding up to the number of partitions."""

    def __init__(self, asset: str, reasons: tuple[Any, ...] = ()) -> None:
        self.asset = asset
        self.rows: list[tuple[str, AssetStatus]] = []
        self.reasons = reasons  # the asset's own, when it has no partition (no-partitions)

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys((*STATES, OVERDUE), 0)
        for _, r in self.rows:
            out[r.state if r.state in out else "stale"] += 1
        return out

    @property
    def state(self) -> str:
        """fresh when every partition is; else failed, overdue, stale or missing, the first any
        partition is (the rule of the UI's ``ui.data.states``)."""
        c = self.counts
        for s in ("failed", OVERDUE, "stale", "missing"):
            if c[s]:
                return s
        return "fresh"

    @property
    def lag_s(self) -> float | None:
        """The largest lag of its overdue partitions (None: none is overdue)."""
        return max((r.lag_s for _, r in self.rows if r.state == OVERDUE and r.lag_s is not None), default=None)

    def counts_text(self) -> str:
        """The four counts; ``N overdue`` after ``fresh`` only when a partition is."""
        c = self.counts
        shown = ("fresh", OVERDUE, *STATES[1:]) if c[OVERDUE] else STATES
        return ", ".join(f"{c[s]} {s}" for s in shown)

    def to_json(self, each: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {"asset": self.asset, "state": self.state, "partitions": self.counts}
        if self.rows and self.rows[0][1].policy is not None:  # the asset's, as its partitions carry it
            doc["policy"] = self.rows[0][1].policy
        if self.reasons:
            doc["reasons"] = [x.to_json() for x in self.reasons]
        lag = self.lag_s
        if lag is not None:
            doc["lag_s"] = round(lag, 3)
        if each:
            doc["partition_states"] = [{"partition": k, "state": r.state, "reasons": [x.to_json() for x in r.reasons]}
                                       for k, r in self.rows]
        return doc


def group_partitions(rows: list[AssetStatus]) -> list[AssetStatus | PartitionedStatus]:
    """``rows`` with each partitioned asset's partitions gathered where its first one was."""
    out: list[AssetStatus | PartitionedStatus] = []
    groups: dict[str, PartitionedStatus] = {}
    for r in rows:
        asset, key = split_node(r.asset)
        if key is None and r.reasons and r.reasons[0].code == "no-partitions":  # none yet: all counts 0
            groups[asset] = PartitionedStatus(asset, tuple(r.reasons))
            out.append(groups[asset])
            continue
        if key is None:
            out.append(r)
            continue
        g = groups.get(asset)
        if g is None:
            g = groups[asset] = PartitionedStatus(asset)
            out.append(g)
        g.rows.append((key, r))
    return out
