"""The UI's HTML, rendered on the server: a page shell (its style inline, its script from this
server: nothing is fetched from elsewhere), and escaping. Every text that comes from a
project (names, metadata, log lines) goes through :func:`esc`; markdown through
:func:`markdown_html`, whose parser leaves raw HTML as text and refuses script links.
"""

from __future__ import annotations

import html
import json
from typing import Any

from .svg import STATE_COLORS

STATES = ("fresh", "stale", "missing", "failed", "overdue")
#: a state's badge colour: the edge colour of its node in the lineage picture, so both agree
COLORS = {state: stroke for state, (_fill, stroke) in STATE_COLORS.items()}

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2125;background:#fafbfc}
header{background:#1d2125;color:#fff;padding:.5rem 1rem;display:flex;gap:1.25rem;align-items:center}
header a{color:#fff;text-decoration:none}header a.here{text-decoration:underline}
header .project{margin-left:auto;opacity:.7;font-size:12px}
main{padding:1rem 1.5rem;max-width:1200px}
h1{font-size:20px;margin:.2rem 0 1rem}h2{font-size:16px;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e3e6e8;vertical-align:top}
tr[data-meta]>td{overflow-wrap:anywhere}
th{font-weight:600;color:#55595c;font-size:12px;text-transform:uppercase}
.state{display:inline-block;padding:0 .45rem;border-radius:.6rem;color:#fff;font-size:12px}
.muted{color:#6b7075}.mono{font-family:ui-monospace,Menlo,monospace;font-size:12px}
form.inline{display:inline}button{font:inherit;padding:.25rem .8rem;border-radius:4px;border:1px solid #1d2125;
background:#1d2125;color:#fff;cursor:pointer}button:disabled{opacity:.5;cursor:default}
.filters{display:flex;gap:.6rem;margin-bottom:.8rem;align-items:center;flex-wrap:wrap}
input,select{font:inherit;padding:.2rem .4rem}
.notice{padding:.5rem .8rem;background:#fff8e1;border:1px solid #f9a825;border-radius:4px;margin-bottom:.8rem}
pre{background:#f3f4f5;padding:.6rem;overflow:auto;font-size:12px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{color:#55595c}dd{margin:0}
"""

def esc(value: Any) -> str:
    """Text as HTML text or attribute value: every markup character escaped, quotes included."""
    return html.escape("" if value is None else str(value), quote=True)


def state_badge(state: str) -> str:
    color = COLORS.get(state, "#888")
    return f'<span class="state" style="background:{color}">{esc(state)}</span>'


def markdown_html(text: str) -> str:
    """Markdown as HTML, safe to embed: raw HTML in it stays text (``<script>`` shows as
    written), links may not use javascript:, vbscript: or data: URLs (markdown-it's check), and
    an image is a link to it: a page fetches nothing from elsewhere (an image on another port of
    this host would receive the token cookie; any other is a tracking pixel)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    md.add_render_rule("image", _image_as_link)
    return str(md.render(text))


def _image_as_link(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    return (f'<a href="{esc(token.attrGet("src"))}" rel="noopener noreferrer">'
            f'{esc(f"image: {alt}" if alt else "image")}</a>')


def page(title: str, body: str, *, here: str = "", project: str = "", script: str = "",
         finished: int = 0) -> str:
    """A whole page: the header's navigation, then ``body`` (already HTML). ``script``: the URL
    of this server's script the page runs (ui.scripts), after the page is parsed; ``finished``:
    the id of the last build whose states the page shows (the script skips its events)."""
    nav = "".join(f'<a href="{href}"{" class=here" if key == here else ""}>{label}</a>'
                  for key, href, label in (("catalog", "/", "Assets"), ("graph", "/graph", "Lineage"),
                                           ("runs", "/runs", "Runs")))
    extra = f'<script src="{esc(script)}" defer></script>' if script else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)} · assetbuild</title><style>{STYLE}</style>{extra}</head>"
            f'<body data-finished="{int(finished)}"><header><strong>assetbuild</strong>{nav}'
            f'<span class="project">{esc(project)}</span></header><main>{body}</main></body></html>')


def json_attr(value: Any) -> str:
    """JSON for a data- attribute (escaped)."""
    return esc(json.dumps(value, separators=(",", ":")))
