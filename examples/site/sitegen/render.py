"""Filling templates and shrinking the stylesheet."""

from __future__ import annotations

import re
from string import Template


def fill(template: str, **fields: str) -> str:
    """``template`` with its ``$name`` placeholders filled; a missing field is an error."""
    try:
        return Template(template).substitute(fields)
    except KeyError as e:
        raise KeyError(f"the template uses ${e.args[0]}, which was not given") from None


def minify_css(css: str) -> str:
    """CSS without comments and with runs of whitespace collapsed."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r"\s*([{}:;,])\s*", r"\1", css)
    return css.replace(";}", "}").strip() + "\n"


def reading_minutes(markdown: str) -> int:
    """Minutes to read ``markdown`` at 200 words a minute, at least one."""
    return max(1, round(len(markdown.split()) / 200))
