"""How a ``status`` row reads: its state, colored in a terminal, then the asset and why.

Apart from ``output.listing``, which formats every row, because the entry point answers a plain
``status`` from the snapshot with these lines alone, without importing the output package.
"""

from __future__ import annotations

STATE_COLORS = {"fresh": "32", "stale": "33", "missing": "31", "overdue": "35", "failed": "31"}


def state_word(state: str, color: bool) -> str:
    """The state, padded to its column (ANSI-colored when ``color``)."""
    code = STATE_COLORS.get(state)
    return f"\x1b[{code}m{state:<7}\x1b[0m" if color and code else f"{state:<7}"


def status_line(state: str, asset: str, width: int, why: str = "", *, color: bool = False) -> str:
    """One asset's row: state, the asset padded to ``width``, why (empty for a fresh one)."""
    return f"{state_word(state, color)} {asset:<{width}}  {why}".rstrip()
