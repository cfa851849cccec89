"""The live status line (output/live.py): what it says, and that it fits the terminal in
columns, not code points."""

from __future__ import annotations

import io
import unicodedata

import pytest

from assetbuild.output.live import StatusLine


def columns(text: str) -> int:
    """The columns a terminal gives ``text``, from the Unicode tables directly (the oracle)."""
    return sum(0 if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf")
               else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def test_char_columns() -> None:
    from assetbuild.output.live import char_columns

    assert [char_columns(c) for c in "a売\u0301\u200dＡ"] == [1, 2, 0, 0, 2]


@pytest.mark.parametrize("name", ["売上データ集計" * 4, "cafe\u0301" * 12, "ﾃﾞｰﾀ" * 10, "a" * 60])
@pytest.mark.parametrize("width", [20, 41, 80])
def test_the_line_fits_the_terminal_in_columns(name: str, width: int) -> None:
    """Cut by code points, a line of CJK names took twice the columns it was given and wrapped
    (each redraw left a row behind), and one of decomposed accents was cut short of the edge."""
    line = StatusLine(io.StringIO(), clock=lambda: 0.0)
    line.total = 2
    line.running = {name: (0.0, None), "b": (0.0, None)}
    text = line.text(width)
    assert text.startswith("[0/2] running ") and columns(text) <= width - 1
    full = f"[0/2] running {name} 0s, b 0s"
    assert full.startswith(text)
    if columns(full) > width - 1:  # cut as late as it can: one more character would not fit
        assert columns(full[:len(text) + 1]) > width - 1


def test_a_cut_never_parts_a_letter_from_its_combining_mark() -> None:
    from assetbuild.output.live import fit_columns

    assert fit_columns("xe\u0301y", 2) == "xe\u0301"
    assert fit_columns("x売", 2) == "x"  # a wide character that would overflow goes whole
    assert fit_columns("売売", 4) == "売売" and fit_columns("", 3) == ""
