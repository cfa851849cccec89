"""A lineage layout (ui/layout.py) drawn as one self-contained SVG string.

The UI's /graph page inlines it and ``assetbuild graph --format svg`` writes it, so both show the
same picture. Self-contained: no external CSS, JavaScript or fonts, colours as attributes, so the
file opens anywhere (browser, image viewer, a README). Every name is escaped: a source's path is
any text a file name can hold, ``<script>`` included. Pure (layer 0).

Each node is a ``<g class="node">`` with ``data-node`` (its name) and ``data-kind`` (asset,
source, observable_source, resource; outside: what a selection reads but does not show, plain); an asset's also has ``data-asset`` (its name) and
``data-state`` (fresh, stale, missing, failed, overdue), so ``[data-asset]`` finds exactly the
assets, and is wrapped in ``<a href="PREFIX/NAME">`` so a click opens its page. A collapsed group
is a ``<g class="node group">`` with ``data-group`` and its worst member's state.
Edges are ``<path class="edge" data-from data-to>`` with an arrowhead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .layout import (
    CHAR_W,
    DETAIL_H,
    FONT_SIZE,
    MAX_LABEL,
    PAD_X,
    Layout,
    PlacedNode,
    Route,
    graph_from_rows,
    layout,
)
from .links import path_part

# state -> (fill, stroke): the fill says the state at a glance, the stroke is its darker edge.
STATE_COLORS: dict[str, tuple[str, str]] = {
    "fresh": ("#d4f0dc", "#2e8b57"),
    "stale": ("#fff0c2", "#b8860b"),
    "overdue": ("#ffd9b3", "#d2691e"),
    "missing": ("#e8e8e8", "#808080"),
    "failed": ("#f8cccc", "#c0392b"),
    "source": ("#dde8fa", "#4a6fa5"),
    "resource": ("#ece0f8", "#7d4aa5"),
}
UNKNOWN = ("#ffffff", "#555555")
LEGEND_H = 30.0
FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def esc(text: object) -> str:
    """``text`` safe in XML content and in a double-quoted attribute; characters XML cannot hold
    at all (control characters) become U+FFFD; tab and line ends as references, which an
    attribute keeps (a parser turns them into spaces otherwise)."""
    s = _NOT_XML.sub("\ufffd", str(text))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return s.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


def lineage_svg(rows: Iterable[Mapping[str, Any]], states: Mapping[str, str], *, collapse: Collection[str] = (),
                link_prefix: str | None = "/assets/") -> str:
    """The lineage picture of ``describe_graph``/``list_assets`` rows, each asset in its
    ``states`` entry (a ``status`` state): what /graph and ``graph --format svg`` show."""
    return render_svg(layout(*graph_from_rows(rows, states), collapse=collapse), link_prefix=link_prefix)


def render_svg(lay: Layout, *, link_prefix: str | None = "/assets/", legend: bool = True,
               title: str | None = "asset lineage") -> str:
    """The SVG document of ``lay``. ``link_prefix``: an asset node links to ``prefix + NAME``
    (its URL-quoted name); None: no links (a file meant to be looked at, not clicked).
    ``legend``: a row of the state colours above the graph."""
    top = LEGEND_H if legend else 0.0
    legend_items = [s for s in STATE_COLORS if s != "resource" or any(n.kind == "resource" for n in lay.nodes)]
    legend_w = 16 + sum(_legend_w(s) for s in legend_items) if legend else 0.0
    width, height = max(lay.width, legend_w), lay.height + top
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
           f'class="assetbuild-graph" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{esc(FONT)}" font-size="{FONT_SIZE:g}">']
    if title:
        out.append(f"<title>{esc(title)}</title>")
    out.append('<style>.node:hover rect.box{stroke-width:2.5}.edge:hover{stroke:#222;stroke-width:2}'
               'a .node{cursor:pointer}</style>')
    out.append('<defs><marker id="ab-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
               'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>')
    out.append('<rect width="100%" height="100%" fill="#ffffff"/>')
    if legend:
        out.append(_legend(legend_items))
    out.append(f'<g class="graph" transform="translate(0,{top:g})">')
    out.append('<g class="edges">')
    out += [_edge(e) for e in lay.edges]
    out.append("</g>")
    out.append('<g class="nodes">')
    out += [_node(n, link_prefix) for n in lay.nodes]
    out.append("</g></g></svg>")
    return "\n".join(out)


def _legend_w(state: str) -> float:
    return 24 + len(state) * CHAR_W + 14


def _legend(states: list[str]) -> str:
    parts = ['<g class="legend" transform="translate(16,8)">']
    x = 0.0
    for s in states:
        fill, stroke = STATE_COLORS[s]
        parts.append(f'<g data-legend="{s}"><rect x="{x:g}" y="0" width="16" height="14" rx="3" fill="{fill}" '
                     f'stroke="{stroke}"/><text x="{x + 22:g}" y="11" fill="#333">{s}</text></g>')
        x += _legend_w(s)
    parts.append("</g>")
    return "".join(parts)


def _edge(e: Route) -> str:
    """A path through the route's points: a horizontal S-curve between layers, straight across
    a layer an edge passes through."""
    (x0, y0), rest = e.points[0], e.points[1:]
    d = [f"M{x0:.1f},{y0:.1f}"]
    px, py = x0, y0
    for x, y in rest:
        if y == py:
            d.append(f"L{x:.1f},{y:.1f}")
        else:
            mx = (px + x) / 2
            d.append(f"C{mx:.1f},{py:.1f} {mx:.1f},{y:.1f} {x:.1f},{y:.1f}")
        px, py = x, y
    extra = ' stroke-dasharray="5,4"' if e.dashed else ""
    width = 1.2 + min(e.count - 1, 4) * 0.6
    tip = f"{e.source} → {e.target}" + (f" ({e.count} edges)" if e.count > 1 else "") + (" (back)" if e.reversed else "")
    return (f'<path class="edge" data-from="{esc(e.source)}" data-to="{esc(e.target)}" d="{" ".join(d)}" '
            f'fill="none" stroke="#888" stroke-width="{width:.1f}"{extra} marker-end="url(#ab-arrow)">'
            f"<title>{esc(tip)}</title></path>")


def _node(n: PlacedNode, link_prefix: str | None) -> str:
    fill, stroke = STATE_COLORS.get(n.state, UNKNOWN)
    x, y, w, h = n.x, n.y, n.width, n.height
    box = f'x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"'
    shapes = []
    if n.kind == "group":
        attrs = f'class="node group" data-group="{esc(n.group)}" data-state="{esc(n.state)}" data-members="{len(n.members)}"'
        shapes.append(f'<rect class="box" {box} rx="8" fill="{fill}" stroke="{stroke}" stroke-width="2.5"/>')
        shapes.append(f'<rect x="{x + 3:.1f}" y="{y + 3:.1f}" width="{w - 6:.1f}" height="{h - 6:.1f}" rx="6" '
                      f'fill="none" stroke="{stroke}" stroke-width="0.8"/>')
        tip = f"group {n.group}: {len(n.members)} collapsed ({', '.join(n.members[:20])}" + \
              (", …)" if len(n.members) > 20 else ")") + f"; {n.state}"
    else:
        attrs = f'class="node" data-node="{esc(n.name)}" data-kind="{esc(n.kind)}"'
        if n.kind == "asset":  # [data-asset] finds the assets, each with its state; every node is [data-node]
            attrs += f' data-asset="{esc(n.name)}" data-state="{esc(n.state)}"'
        if n.group:
            attrs += f' data-group="{esc(n.group)}"'
        rx = {"source": 13, "observable_source": 13, "resource": 0}.get(n.kind, 4)
        dash = ' stroke-dasharray="4,3"' if n.kind in ("observable_source", "resource") else ""
        if n.detail:  # a partitioned asset: a stack of boxes
            shapes.append(f'<rect x="{x + 4:.1f}" y="{y - 4:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}" '
                          f'fill="{fill}" stroke="{stroke}"/>')
        shapes.append(f'<rect class="box" {box} rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="1.4"{dash}/>')
        kind = {"asset": n.state, "outside": "outside the selection"}.get(n.kind, n.kind)
        tip = f"{n.name} ({kind})" + (f"; group {n.group}" if n.group else "")
    line_y = y + (h - (DETAIL_H if n.detail else 0)) / 2 + FONT_SIZE * 0.35
    shapes.append(f'<text x="{x + PAD_X:.1f}" y="{line_y:.1f}" fill="#1a1a1a">{esc(n.label)}</text>')
    if n.detail:
        shapes.append(f'<text x="{x + PAD_X:.1f}" y="{line_y + DETAIL_H:.1f}" fill="#555" font-size="{FONT_SIZE - 2:g}">'
                      f"{esc(n.detail[:MAX_LABEL])}</text>")
    g = f'<g {attrs}><title>{esc(tip)}</title>{"".join(shapes)}</g>'
    if link_prefix is not None and n.kind == "asset":
        href = esc(link_prefix + path_part(n.name))
        return f'<a href="{href}" xlink:href="{href}">{g}</a>'
    return g
