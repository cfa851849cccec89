"""Partitioned assets in listings: a partition is a node (``daily[2024-01-01]``) to the engine,
but people read one line per asset, with counts."""

from __future__ import annotations

from typing import Any

from ..partitions import split_node
from ..reports import AssetStatus

STATES = ("fresh", "stale", "missing", "failed")


class PartitionedStatus:
    """The states of one partitioned asset's partitions: ``rows`` (key, status) in key order.
    ``counts``: the four states, disjoint, adding up to the number of partitions (a state
    other than these, such as overdue, counts as stale)."""

    def __init__(self, asset: str) -> None:
        self.asset = asset
        self.rows: list[tuple[str, AssetStatus]] = []

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for _, r in self.rows:
            out[r.state if r.state in out else "stale"] += 1
        return out

    @property
    def state(self) -> str:
        """fresh when every partition is; else failed, stale or missing, the first any partition is."""
        c = self.counts
        for s in ("failed", "stale", "missing"):
            if c[s]:
                return s
        return "fresh"

    def counts_text(self) -> str:
        c = self.counts
        return ", ".join(f"{c[s]} {s}" for s in STATES)

    def to_json(self, each: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {"asset": self.asset, "state": self.state, "partitions": self.counts}
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
        if key is None:
            out.append(r)
            continue
        g = groups.get(asset)
        if g is None:
            g = groups[asset] = PartitionedStatus(asset)
            out.append(g)
        g.rows.append((key, r))
    return out


def partitioned_graph(nodes: list[dict[str, Any]], fmt: str) -> list[dict[str, Any]]:
    """``assetbuild graph``'s nodes with each partitioned asset as one node marked with its
    partition count (``daily [365 partitions]``; in JSON, name ``daily`` and ``"partitions": 365``),
    and the files of a ``FilePartitions`` glob as one source: a drawing of 87,600 hourly nodes
    shows nothing."""
    count: dict[str, int] = {}
    files: dict[str, str] = {}  # a file partition's source -> its glob's node
    for n in nodes:
        asset, key = split_node(n["name"])
        if key is not None:
            count[asset] = count.get(asset, 0) + 1
        elif n["kind"] == "source" and n["name"].startswith("file:") and (n.get("description") or "").startswith(
                "a file of "):
            files[n["name"]] = f"file:{n['description'][len('a file of '):]}"
    if not count and not files:
        return nodes

    def shown(name: str) -> str:
        if name in files:
            return files[name]
        asset, key = split_node(name)
        if key is None or asset not in count:
            return name
        return asset if fmt == "json" else f"{asset} [{count[asset]} partitions]"

    out: dict[str, dict[str, Any]] = {}
    for n in nodes:
        name = shown(n["name"])
        inputs = list(dict.fromkeys(shown(u) for u in n["inputs"]))
        if name in out:
            seen = out[name]["inputs"]
            seen += [u for u in inputs if u not in seen]
            continue
        node = {**n, "name": name, "inputs": inputs}
        asset, key = split_node(n["name"])
        if key is not None and asset in count:
            node["partitions"] = count[asset]
            node.pop("path", None)
            node.pop("outputs", None)
        elif n["name"] in files:
            node["path"] = name[len("file:"):]
        out[name] = node
    return list(out.values())
