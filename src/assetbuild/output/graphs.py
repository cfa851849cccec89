"""``assetbuild graph``'s text forms: dot, mermaid and JSON (the SVG is ui.svg's)."""

from __future__ import annotations

import json
from typing import Any


def _count(node: dict[str, Any]) -> str:
    n = node["partitions"]["count"]
    return f"{n} partition{'' if n == 1 else 's'}"


def _dot_id(name: str) -> str:
    """``name`` as a quoted dot ID: a source's path may hold quotes and backslashes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mermaid_text(name: str) -> str:
    """``name`` inside a quoted mermaid label, which has no escape for a double quote."""
    return name.replace('"', "'")


def format_graph(nodes: list[dict[str, Any]], fmt: str) -> str:
    """Render ``[{"name", "kind", "inputs": [...]}]`` as dot, mermaid or JSON."""
    if fmt == "json":
        return json.dumps({"nodes": nodes}, indent=2)
    if fmt == "dot":
        out = ["digraph assets {", "  rankdir=LR;"]
        for n in nodes:
            shape = {"source": "note", "resource": "component", "observable_source": "hexagon"}.get(n["kind"], "box")
            if n.get("partitions"):  # one node for all its partitions, stacked
                out.append(f'  {_dot_id(n["name"])} [shape=box3d, label="{_dot_id(n["name"])[1:-1]}\\n{_count(n)}"];')
                continue
            out.append(f'  {_dot_id(n["name"])} [shape={shape}];')
        for n in nodes:
            for up in n["inputs"]:
                out.append(f'  {_dot_id(up)} -> {_dot_id(n["name"])};')
            for user in n.get("used_by", ()):  # a resource: a dashed edge, it is no data
                out.append(f'  {_dot_id(n["name"])} -> {_dot_id(user)} [style=dashed];')
        out.append("}")
        return "\n".join(out)
    if fmt == "mermaid":
        ids = {n["name"]: f"n{i}" for i, n in enumerate(nodes)}
        out = ["graph LR"]
        for n in nodes:
            label = _mermaid_text(n["name"]) + (f" ({_count(n)})" if n.get("partitions") else "")
            shape = {"source": '[("{}")]', "resource": '[/"{}"/]',
                     "observable_source": '{{{{"{}"}}}}'}.get(n["kind"], '["{}"]')
            out.append(f'  {ids[n["name"]]}' + shape.format(label))
        # An input or user outside the selection gets a plain rounded node, as dot draws an
        # edge's undeclared end: a selection is drawn with the edges to what it reads.
        for name in (x for n in nodes for x in (*n["inputs"], *n.get("used_by", ()))):
            if name not in ids:
                ids[name] = f"n{len(ids)}"
                out.append(f'  {ids[name]}("{_mermaid_text(name)}")')
        for n in nodes:
            for up in n["inputs"]:
                out.append(f"  {ids[up]} --> {ids[n['name']]}")
            for user in n.get("used_by", ()):
                out.append(f"  {ids[n['name']]} -.-> {ids[user]}")
        return "\n".join(out)
    raise ValueError(f"unknown graph format {fmt!r}")
