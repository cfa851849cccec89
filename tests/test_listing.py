"""``list`` prints aligned columns (name, kind, group, io, path, inputs; deps apart from the
inputs), descriptions with ``-v``; ``status`` with a selection shows what was selected (the
assets it needs only with ``+``, or under ``-v`` as context)."""

from __future__ import annotations

import json
from pathlib import Path

from projects import cli

ASSETFILE = '''from assetbuild import asset, source

events = source("events", "data/events.csv", description="the raw export")


@asset(io="json", group="ingest")
def parsed(events):
    """Rows of the export."""
    return events.read_text().splitlines()


@asset(io="json", group="ingest")
def checked(parsed):
    return bool(parsed)


@asset(io="json", group="metrics", deps=["checked"])
def counts(parsed):
    """How many rows."""
    return len(parsed)


@asset(io="text", group="report", path="build/report.txt")
def report(counts):
    return f"{counts} rows"
'''


def project(root: Path) -> Path:
    (root / "AssetFile").write_text(ASSETFILE)
    (root / "data").mkdir()
    (root / "data" / "events.csv").write_text("a\nb\n")
    return root


def test_list_prints_aligned_columns_with_deps_apart(tmp_path):
    root = project(tmp_path)
    r = cli("list", cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "NAME     KIND    GROUP    IO    PATH              INPUTS  DEPS\n"
        "events   source  -        -     data/events.csv   -       -\n"
        "parsed   asset   ingest   json  -                 events  -\n"
        "checked  asset   ingest   json  -                 parsed  -\n"
        "counts   asset   metrics  json  -                 parsed  checked\n"
        "report   asset   report   text  build/report.txt  counts  -\n")


def test_list_v_adds_descriptions(tmp_path):
    root = project(tmp_path)
    lines = cli("list", "-v", cwd=root).stdout.splitlines()
    assert lines[1] == "events   source  -        -     data/events.csv   -       -  # the raw export"
    assert lines[2] == "parsed   asset   ingest   json  -                 events  -  # Rows of the export."
    assert lines[3] == "checked  asset   ingest   json  -                 parsed  -"


def test_a_description_of_several_lines_keeps_one_row_per_asset():
    """An explicit ``description=`` with a newline broke list -v's table: its second line at
    column 0. Its first line is shown, as a docstring's is; --json has it all."""
    from assetbuild.output.listing import format_assets

    rows = [{"name": "a", "kind": "asset", "inputs": [], "description": "First line.\nsecond line"},
            {"name": "b", "kind": "asset", "inputs": ["a"], "description": "\n  \n"}]
    lines = format_assets(rows, verbose=True).splitlines()
    assert len(lines) == 3 and lines[1].endswith("  # First line.") and "#" not in lines[2], lines
    assert json.loads(format_assets(rows, as_json=True))["assets"][0]["description"] == "First line.\nsecond line"


def test_a_docstring_summary_wrapped_over_lines_is_described_whole(tmp_path):
    """A docstring's first paragraph wrapped over two lines was cut at the first line's end
    ("... computed by SQL in the"), in ``list -v``, ``--json`` and the UI."""
    from projects import Project

    p = Project(tmp_path)
    p.assetfile('@asset\ndef a():\n    """Daily totals, computed by SQL in the\n    warehouse.\n\n'
                '    Details that are not the summary.\n    """\n    return 1\n')
    (row,) = json.loads(cli("list", "--json", cwd=tmp_path).stdout)["assets"]
    assert row["description"] == "Daily totals, computed by SQL in the warehouse."
    assert cli("list", "-v", cwd=tmp_path).stdout.splitlines()[1].endswith(
        "# Daily totals, computed by SQL in the warehouse.")


def test_list_json_keeps_its_inputs_and_adds_deps(tmp_path):
    root = project(tmp_path)
    rows = {a["name"]: a for a in json.loads(cli("list", "--json", cwd=root).stdout)["assets"]}
    assert rows["counts"]["inputs"] == ["parsed", "checked"]  # as before
    assert rows["counts"]["deps"] == ["checked"] and "deps" not in rows["parsed"]
    assert rows["parsed"]["description"] == "Rows of the export."


def test_status_of_a_group_shows_the_group(tmp_path):
    root = project(tmp_path)
    assert cli("-q", cwd=root).returncode == 0
    assert cli("status", "group:metrics", cwd=root).stdout == "fresh   counts\n"
    assert cli("status", "+counts", cwd=root).stdout == (
        "fresh   parsed\nfresh   checked\nfresh   counts\n")  # + selects the upstream too
    (root / "data" / "events.csv").write_text("a\nb\nc\n")
    assert cli("status", "report", cwd=root).stdout == (
        "stale   report  upstream-changed: counts is stale (runs only if that output changes)\n")
    r = cli("status", "-v", "group:metrics", cwd=root)
    assert r.stdout == (
        "stale   counts   upstream-changed: parsed, checked are stale (runs only if that output changes)\n"
        "upstream of the selection (a build of it decides these too):\n"
        "stale   parsed   source-changed: events: 911169ddaaf1 -> 880553fca8fc\n"
        "stale   checked  upstream-changed: parsed is stale (runs only if that output changes)\n")
    doc = json.loads(cli("status", "--json", "-v", "group:metrics", cwd=root).stdout)
    assert [(a["asset"], a.get("context", False)) for a in doc["assets"]] == [
        ("counts", False), ("parsed", True), ("checked", True)]
    doc = json.loads(cli("status", "--json", "group:metrics", cwd=root).stdout)
    assert [a["asset"] for a in doc["assets"]] == ["counts"]


def _fan_in_rows(n: int) -> list[dict]:
    """``n`` assets, one reading them all (a glob in ``ins``) and one with ``deps`` (so DEPS shows)."""
    rows = [{"name": f"x/p{i:06d}", "kind": "asset", "io": "pickle", "inputs": []} for i in range(n)]
    rows.append({"name": "total", "kind": "asset", "io": "pickle", "inputs": [f"x/p{i:06d}" for i in range(n)]})
    rows.append({"name": "after", "kind": "asset", "io": "pickle", "inputs": ["total"], "deps": ["total"]})
    return rows


def test_list_of_a_wide_fan_in_grows_with_the_assets_not_their_square():
    """Every row was padded to the widest INPUTS cell, one that named all N inputs: 8,000 assets
    printed 704 MB. A cell names what fits in ``WIDE`` characters and says how many more; columns are
    padded to cells no wider; ``--json`` keeps every name."""
    from assetbuild.output.listing import format_assets

    small, large = format_assets(_fan_in_rows(200)), format_assets(_fan_in_rows(800))
    assert len(large) < 5 * len(small)
    lines = large.splitlines()
    assert max(len(line) for line in lines) < 150
    total = next(line for line in lines if line.startswith("total "))
    assert total.endswith(", … and 795 more  -") and "x/p000000, x/p000001" in total
    assert lines[1] == "x/p000000  asset  -      pickle  -     -       -"
    assert json.loads(format_assets(_fan_in_rows(800), as_json=True))["assets"][800]["inputs"][-1] == "x/p000799"


def test_list_names_a_few_inputs_of_a_fan_in_and_json_all_of_them(tmp_path):
    (tmp_path / "AssetFile").write_text(
        "from assetbuild import asset\n\n" + "".join(f"@asset(name='page/p{i:02d}')\ndef p{i}():\n    return {i}\n\n"
                                                      for i in range(30))
        + "@asset(ins={'pages': 'page/*'})\ndef index(pages):\n    return len(pages)\n")
    text = cli("list", cwd=tmp_path).stdout.splitlines()
    assert text[-1] == "index     asset  -      pickle  -     page/p00, page/p01, page/p02, page/p03, page/p04, page/p05, … and 24 more"
    rows = json.loads(cli("list", "--json", cwd=tmp_path).stdout)["assets"]
    assert rows[-1]["inputs"] == [f"page/p{i:02d}" for i in range(30)]
