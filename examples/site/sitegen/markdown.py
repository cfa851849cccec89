"""A deliberately small Markdown subset, enough for the handbook.

Blocks: ``#``..``###`` headings, paragraphs, ``-``/``*`` and ``1.`` lists, ``>`` quotes and
fenced code. Inline: `code`, **strong**, *emphasis*, [links](url). Everything else is text,
HTML-escaped.
"""

from __future__ import annotations

import html
import re

_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*(.+?)\*"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r'<a href="\2">\1</a>'),
]
_CODE_SPAN = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"(#{1,3})\s+(.*)")
_ORDERED = re.compile(r"\d+\.\s+(.*)")


def inline(text: str) -> str:
    """Inline markup of one block's text; code spans are escaped and left alone."""
    parts = _CODE_SPAN.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            s = html.escape(part, quote=False)
            for pattern, repl in _INLINE:
                s = pattern.sub(repl, s)
            out.append(s)
    return "".join(out)


def to_html(markdown: str) -> str:
    """HTML for a Markdown document (blocks separated by blank lines or by a change of kind)."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""
    quote: list[str] = []

    def flush() -> None:
        nonlocal list_tag
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()
        if items:
            lis = "".join(f"<li>{inline(i)}</li>" for i in items)
            out.append(f"<{list_tag}>{lis}</{list_tag}>")
            items.clear()
            list_tag = ""
        if quote:
            out.append(f"<blockquote><p>{inline(' '.join(quote))}</p></blockquote>")
            quote.clear()

    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            lang = stripped[3:].strip()
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            cls = f' class="language-{html.escape(lang)}"' if lang else ""
            out.append(f"<pre><code{cls}>{html.escape(chr(10).join(code))}</code></pre>")
        elif not stripped:
            flush()
        elif m := _HEADING.match(stripped):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{inline(m.group(2))}</h{level}>")
        elif stripped[:2] in ("- ", "* "):
            if list_tag != "ul":
                flush()
                list_tag = "ul"
            items.append(stripped[2:])
        elif m := _ORDERED.match(stripped):
            if list_tag != "ol":
                flush()
                list_tag = "ol"
            items.append(m.group(1))
        elif stripped.startswith(">"):
            if not quote:
                flush()
            quote.append(stripped[1:].strip())
        elif items and line.startswith("  "):
            items[-1] += " " + stripped  # a list item continued on the next line
        else:
            if items or quote:
                flush()
            para.append(stripped)
        i += 1
    flush()
    return "\n".join(out)
