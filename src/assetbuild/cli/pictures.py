"""``assetbuild graph --format svg|png``: the lineage as a picture, with each asset's state.

SVG is drawn in Python (ui/layout.py, ui/svg.py), the same picture as the UI's /graph page.
PNG is Graphviz's: ``dot -Tpng`` of the dot text ``graph`` prints, its nodes filled by state.
Both read the store only (the states are ``status``'s: nothing is built or recorded).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any, BinaryIO

import click

from .finding import located
from .options import _prints_to_stderr


def asset_states(selection: tuple[str, ...], opts: dict[str, Any]) -> dict[str, str]:
    """Each asset's state as ``status`` gives it (a partitioned asset's: its partitions' summary)."""
    from .. import session
    from ..output.partitions import group_partitions

    with _prints_to_stderr():
        rows = session.status(selection, **located(opts), cache_dir=opts.get("cache_dir"))
    return {g.asset: g.state for g in group_partitions(rows)}


def write_picture(nodes: list[dict[str, Any]], fmt: str, states: dict[str, str], out: str | None) -> None:
    """Write the SVG or PNG of ``nodes`` (graph's rows) to ``out`` (a file; None: stdout)."""
    if fmt == "svg":
        from ..ui.svg import lineage_svg

        write_text(lineage_svg(nodes, states, link_prefix=None), out)
        return
    data = _png(nodes, states)
    if out is None:
        _binary_stdout().write(data)
    else:
        _write_file(out, data)


def write_text(text: str, out: str | None) -> None:
    """``text`` and a newline to the file ``out``, or to stdout."""
    if out is None:
        click.echo(text)
    else:
        _write_file(out, (text + "\n").encode("utf-8"))


def _write_file(out: str, data: bytes) -> None:
    """``data`` to the file the user named; a missing directory, a directory in its place...
    is the user's to fix, said as ``cache export`` says it (``CannotWrite``). Written in place,
    not atomically: ``-o /dev/stdout`` or a FIFO must stay what they are."""
    from ..errors import CannotWrite

    try:
        with open(out, "wb") as f:
            f.write(data)
    except OSError as e:
        raise CannotWrite(out, e) from e


def output_file(fmt: str, out: str | None) -> str | None:
    """The file ``-o`` names, or None for stdout: no ``-o``, or ``-o -`` (click's convention,
    which ``dot -o`` users expect; not a file named ``-``). PNG is bytes: a terminal would print
    garbage, so that is refused, before anything is loaded."""
    out = None if out == "-" else out
    if fmt == "png" and out is None and sys.stdout.isatty():
        raise click.UsageError("--format png writes binary data: give -o FILE.png or redirect stdout")
    return out


def _png(nodes: list[dict[str, Any]], states: dict[str, str]) -> bytes:
    from ..errors import ToolError
    from ..output import format_graph
    from ..ui.svg import STATE_COLORS

    dot = shutil.which("dot")
    if dot is None:
        raise ToolError("--format png needs Graphviz's `dot`, which is not installed: "
                          "apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS); "
                          "or use --format svg, which needs nothing")
    text = format_graph(nodes, "dot").rstrip().removesuffix("}")
    fills = []
    for n in nodes:  # a later statement for a node adds to its attributes
        state = states.get(n["name"], "missing") if n["kind"] == "asset" else \
            "resource" if n["kind"] == "resource" else "source"
        fill, stroke = STATE_COLORS[state] if state in STATE_COLORS else STATE_COLORS["missing"]
        name = n["name"].replace("\\", "\\\\").replace('"', '\\"')
        fills.append(f'  "{name}" [style=filled, fillcolor="{fill}", color="{stroke}", tooltip="{state}"];')
    proc = subprocess.run([dot, "-Tpng"], input=(text + "\n".join(fills) + "\n}\n").encode(),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise ToolError(f"dot -Tpng failed: {proc.stderr.decode(errors='replace').strip()[:500]}")
    return proc.stdout


def _binary_stdout() -> BinaryIO:
    sys.stdout.flush()
    return sys.stdout.buffer
