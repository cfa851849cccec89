"""``assetbuild graph --format svg|png``: the lineage as a picture, each asset coloured by the
state ``status`` gives it, every name escaped; png through Graphviz's ``dot`` when installed."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from projects import Project, clean_env, cli

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE_GROUP = '<img src=x onerror="alert(1)">&amp;'
HOSTILE_GLOB = 'in/<b>&"x"/*.csv'

ASSETFILE = f'''
from assetbuild import asset, source, FilePartitions

raw = source("raw", "raw.txt", group={HOSTILE_GROUP!r})


@asset(io="json", group={HOSTILE_GROUP!r})
def clean(raw):
    return raw.read_text().strip()


@asset(io="json")
def report(clean):
    return clean.upper()


@asset(io="json")
def fresh_one():
    return 1


@asset(io="json")
def broken(fresh_one):
    raise ValueError("no")


@asset(io="json")
def never(fresh_one):
    return fresh_one + 1


@asset(partitions=FilePartitions({HOSTILE_GLOB!r}), io="json", path="build/{{partition}}.json")
def per_file(context):
    return context.partition_path.read_text()
'''


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.write("AssetFile", ASSETFILE)
    p.write("raw.txt", "a")
    p.write('in/<b>&"x"/one.csv', "1")
    r = cli("build", "-k", "fresh_one", "report", "broken", "per_file", cwd=tmp_path)
    assert r.returncode == 1 and "broken" in r.stderr, r.stderr  # broken fails, the rest is built
    p.write("raw.txt", "b")  # clean and report go stale; per_file and fresh_one stay fresh
    return p


def _nodes(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)  # well-formed XML, whatever the names hold
    assert root.tag == f"{SVG}svg"
    return {e.get("data-node"): e for e in root.iter() if e.get("data-node") is not None}


def test_svg_has_one_node_per_asset_with_its_status_state(proj: Project) -> None:
    r = cli("graph", "--format", "svg", cwd=proj.root)
    assert r.returncode == 0, r.stderr
    nodes = _nodes(r.stdout)
    status = {a["asset"]: a["state"] for a in json.loads(cli("status", "--json", cwd=proj.root).stdout)["assets"]}
    assert set(status.values()) == {"fresh", "stale", "failed", "missing"}, status
    assets = {name: e.get("data-state") for name, e in nodes.items() if e.get("data-kind") == "asset"}
    assert assets == status
    assert status["per_file"] == "fresh" and status["report"] == "stale" and status["broken"] == "failed"
    assert (nodes["raw"].get("data-kind"), nodes["raw"].get("data-state")) == ("source", None)
    assert nodes[f"file:{HOSTILE_GLOB}"].get("data-kind") == "source"
    assert nodes["raw"].get("data-asset") is None  # [data-asset] is the assets only
    assert len(r.stdout.split('data-asset="report"')) == 2  # one element each
    # edges: one path per input, with an arrowhead
    edges = {(e.get("data-from"), e.get("data-to")) for e in ET.fromstring(r.stdout).iter(f"{SVG}path")
             if e.get("class") == "edge"}
    assert {("raw", "clean"), ("clean", "report"), ("fresh_one", "broken"), (f"file:{HOSTILE_GLOB}", "per_file")} <= edges
    # a file meant to be looked at: no links to a server's pages; the legend names the states
    assert "<a " not in r.stdout and 'data-legend="failed"' in r.stdout


def test_svg_escapes_hostile_names(proj: Project) -> None:
    out = proj.root / "lineage.svg"
    r = cli("graph", "--format", "svg", "-o", str(out), cwd=proj.root)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    text = out.read_text()
    assert "<img" not in text and '<b>' not in text and "onerror=\"" not in text
    nodes = _nodes(text)
    assert nodes["clean"].get("data-group") == HOSTILE_GROUP  # parsed back to the very text
    assert f"file:{HOSTILE_GLOB}" in nodes


def test_svg_of_a_selection(proj: Project) -> None:
    r = cli("graph", "+report", "--format", "svg", cwd=proj.root)
    assert r.returncode == 0, r.stderr
    assert {n for n, e in _nodes(r.stdout).items() if e.get("data-kind") == "asset"} == {"clean", "report"}


def test_graph_reads_only(proj: Project) -> None:
    """The states come from status: nothing is built or recorded by drawing."""
    before = sorted((p.relative_to(proj.root), p.stat().st_mtime_ns) for p in (proj.root / "build").rglob("*"))
    status_before = cli("status", "--json", cwd=proj.root).stdout
    assert cli("graph", "--format", "svg", cwd=proj.root).returncode == 0
    assert cli("status", "--json", cwd=proj.root).stdout == status_before
    assert sorted((p.relative_to(proj.root), p.stat().st_mtime_ns) for p in (proj.root / "build").rglob("*")) == before


def _without_dot(tmp_path: Path) -> dict[str, str]:
    """A PATH with this Python but no Graphviz."""
    bin_dir = tmp_path / "nodot"
    bin_dir.mkdir()
    return clean_env(PATH=str(bin_dir))


def test_png_without_dot_says_how_to_get_it(proj: Project, tmp_path: Path) -> None:
    r = cli("graph", "--format", "png", "-o", str(tmp_path / "g.png"), cwd=proj.root, env=_without_dot(tmp_path))
    assert r.returncode == 2, r.stderr
    assert "apt-get install graphviz" in r.stderr and "brew install graphviz" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "g.png").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_png_with_dot(proj: Project, tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    r = cli("graph", "--format", "png", "-o", str(out), cwd=proj.root)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 1000
    # to a pipe: the bytes on stdout
    import subprocess
    import sys

    piped = subprocess.run([sys.executable, "-m", "assetbuild", "graph", "--format", "png"], cwd=proj.root,
                           capture_output=True, env=clean_env())
    assert piped.returncode == 0 and piped.stdout[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_refuses_a_terminal(proj: Project) -> None:
    """Binary data is not for a terminal: without -o on a tty, a usage error, before any work."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "assetbuild", "graph", "--format", "png"], cwd=proj.root,
                           stdout=follower, stderr=subprocess.PIPE, env=clean_env(), timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert r.returncode == 2 and b"-o FILE" in r.stderr, r.stderr
