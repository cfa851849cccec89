"""A page file: front matter (``key: value`` lines between two ``---`` lines), then Markdown."""

from __future__ import annotations

import re

REQUIRED = ("title", "date")


def parse_page(text: str) -> tuple[dict[str, str], str]:
    """(front matter, Markdown body). Raises ValueError naming what is missing."""
    meta: dict[str, str] = {}
    body = text
    if text.startswith("---\n"):
        head, sep, rest = text[4:].partition("\n---\n")
        if not sep:
            raise ValueError("front matter opened with '---' but never closed")
        for line in head.splitlines():
            if line.strip():
                key, _, value = line.partition(":")
                meta[key.strip().lower()] = value.strip()
        body = rest
    missing = [k for k in REQUIRED if not meta.get(k)]
    if missing:
        raise ValueError(f"front matter lacks {', '.join(missing)}")
    return meta, body


def asset_suffix(slug: str) -> str:
    """An asset-name-safe form of a file stem: ``getting-started`` -> ``getting_started``."""
    name = re.sub(r"\W", "_", slug)
    return name if not name[:1].isdigit() else "_" + name
