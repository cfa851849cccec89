"""What ``assetbuild ui``'s pages show (a real server in a subprocess, spoken to over HTTP):
numbers no plot can place are said so rather than a 500."""

from __future__ import annotations

import pytest
from projects import Project, cli
from uiserver import Server

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install -e '.[ui]'")
pytest.importorskip("uvicorn", reason="the ui extra is not installed: pip install -e '.[ui]'")

def test_numbers_no_plot_can_place_are_said_so(project: Project):
    """An int too large for a float, nan and inf in numeric metadata: the asset page shows
    (200), plots the other points and says how many it left out; no 500."""
    project.write("v.txt", "1")
    project.assetfile('''
v = source("v", "v.txt")

@asset
def big(v):
    return Output(1, metadata={"m": eval(v.read_text()), "huge": 10**400})
''')
    for value in ["1", "10**400", "float('nan')", "float('inf')", "3"]:
        project.write("v.txt", value)
        assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        code, page, _ = s.get("/assets/big")
        assert code == 200, page
        plot = page.split('data-testid="plot-m"')[1].split("</figure>")[0]
        assert plot.count("<circle") == 2 and "nan" not in plot.split("</figcaption>")[1]
        assert "(3 value(s) not plotted: nan, inf or too large for a float)" in plot
        huge = page.split('data-testid="plot-huge"')[1].split("</figure>")[0]
        assert "<svg" not in huge and "(5 value(s) not plotted" in huge
    finally:
        s.stop()
    assert "Traceback" not in s.proc.stderr.read()
