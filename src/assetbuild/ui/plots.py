"""Plots of numeric metadata over history, as inline SVG (no script, no library): a line with
a dot per point, the first and last values and times as labels."""

from __future__ import annotations

from .html import esc

W, H, PAD = 420, 120, 28


def line_plot(points: list[tuple[str, float]]) -> str:
    """``points``: (time label, value: a finite float, see ``metadata.plottable``), oldest first.
    One ``<circle>`` per point."""
    if not points:
        return ""
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    span = (hi / 2 - lo / 2) or 1.0  # (halves: hi - lo of two large floats can overflow to inf)
    n = len(points)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = PAD + (W - 2 * PAD) * (i / (n - 1) if n > 1 else 0.5)
        y = H - PAD - (H - 2 * PAD) * ((v / 2 - lo / 2) / span if hi != lo else 0.5)
        return round(x, 1), round(y, 1)

    coords = [xy(i, v) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(coords))
    dots = "".join(f'<circle cx="{x}" cy="{y}" r="3" fill="#1565c0"><title>{esc(t)}: {esc(f"{v:.6g}")}</title></circle>'
                   for (x, y), (t, v) in zip(coords, points))
    labels = (f'<text x="{PAD}" y="{H - 6}" font-size="10" fill="#6b7075">{esc(points[0][0])}</text>'
              f'<text x="{W - PAD}" y="{H - 6}" font-size="10" fill="#6b7075" text-anchor="end">{esc(points[-1][0])}</text>'
              f'<text x="4" y="{PAD - 8}" font-size="10" fill="#6b7075">max {esc(f"{hi:.6g}")}</text>'
              f'<text x="4" y="{H - PAD + 14}" font-size="10" fill="#6b7075">min {esc(f"{lo:.6g}")}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">'
            f'<rect width="{W}" height="{H}" fill="#fff"/><path d="{path}" fill="none" stroke="#1565c0" stroke-width="1.5"/>'
            f"{dots}{labels}</svg>")
