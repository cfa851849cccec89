"""What ``assetbuild ui``'s pages show and link to (a real server in a subprocess, spoken to over
HTTP): every link built from a name, a partition key or a run id opens that very page, numbers
no plot can place are said so rather than a 500, the README's URLs answer, and a partition of an
unpartitioned asset is not found."""

from __future__ import annotations

import html
import re

import pytest
from projects import REPO, Project, cli
from uiserver import Server

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install -e '.[ui]'")
pytest.importorskip("uvicorn", reason="the ui extra is not installed: pip install -e '.[ui]'")

KEYS = ["a%2Fb", "a/b", "x?y", "c#d", "p&partition=q", "s+t", "u v"]


def hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<a href="([^"]*)"', page)]


def selected(page: str) -> str | None:
    m = re.search(r'data-testid="partition-selected">([^<]*)<', page)
    return html.unescape(m.group(1)) if m else None


def test_every_link_to_a_partition_opens_that_partition(project: Project):
    """The run page, the partition grid and the history link each partition by its key,
    URL-quoted: ``a%2Fb`` is not ``a/b``, and ``x?y`` or ``c#d`` is no query or fragment."""
    project.assetfile("""
from assetbuild import DynamicPartitions

@asset(partitions=DynamicPartitions("keys"))
def per(context):
    return context.partition_key
""")
    assert cli("partitions", "add", "keys", *KEYS, cwd=project.root).returncode == 0
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        code, run_page, _ = s.get("/runs/000001")
        assert code == 200
        links = {html.unescape(n): html.unescape(h) for n, h in
                 re.findall(r'<tr data-asset="([^"]*)"><td><a href="([^"]*)"', run_page)}
        assert sorted(links) == sorted(f"per[{k}]" for k in KEYS)
        grid = s.get("/assets/per")[1].split('data-testid="partitions"')[1].split("</div>")[0]
        grid_links = {html.unescape(k): h for h, k in zip(hrefs(grid), re.findall(r'data-partition="([^"]*)"', grid))}
        for key in KEYS:
            for href in (links[f"per[{key}]"], grid_links[key]):
                code, page, _ = s.get(href)  # (sent as written, as a browser sends a link)
                assert (code, selected(page)) == (200, key), href
            history = page.split('data-testid="history"')[1]
            for run_href in (h for h in hrefs(history) if h.startswith("/runs/")):
                assert s.get(run_href)[0] == 200
    finally:
        s.stop()


def test_a_run_page_lists_the_events_of_assets_since_removed_without_a_dead_link(project: Project):
    """The run page shows every event its run recorded, as ``runs show`` does: an asset renamed
    since, or a partition key dropped, is listed (unlinked: it has no page now); the others link."""
    text = """
from assetbuild import StaticPartitions

@asset
def a():
    return 1

@asset
def b(a):
    return 2

@asset(partitions=StaticPartitions(["k1", "k2"]))
def p(context):
    return 1
"""
    project.assetfile(text)
    assert cli(cwd=project.root).returncode == 0
    project.assetfile(text.replace("def b(a)", "def renamed_b(a)").replace('"k1", "k2"', '"k1"'))
    s = Server(project.root)
    try:
        code, run_page, _ = s.get("/runs/000001")
        assert code == 200
        assert re.findall(r'<tr data-asset="([^"]*)"', run_page) == ["a", "b", "p[k1]", "p[k2]"]
        linked = dict(re.findall(r'<tr data-asset="([^"]*)"><td><a href="([^"]*)"', run_page))
        assert sorted(linked) == ["a", "p[k1]"]
        for href in linked.values():
            assert s.get(html.unescape(href))[0] == 200
        assert run_page.count("(no longer in the AssetFile)") == 2
    finally:
        s.stop()


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


def test_a_malformed_table_in_metadata_shows_as_json(project: Project):
    """MetadataValue("table", ...) with rows that are not lists: the asset page gave a 500 (and
    split a string row into one cell per character); now the entry is json, and a table of more
    rows than a page shows says how many it leaves out."""
    project.assetfile('''
from assetbuild import MetadataValue

@asset
def a():
    return Output(1, metadata={"t": MetadataValue("table", {"columns": ["x"], "rows": ["ab", 2]}),
                               "big": MetadataValue.table([[i] for i in range(250)], columns=["i"])})
''')
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        code, page, _ = s.get("/assets/a")
        assert code == 200, page
        t = page.split('data-meta="t"')[1].split("</tr>")[0]
        assert "<summary>json</summary>" in t and "<td>a</td>" not in t
        big = page.split('data-meta="big"')[1].split("more rows</p>")[0]
        assert big.count("<tr>") == 101 and big.endswith("... 150 ")
    finally:
        s.stop()


def test_the_readmes_lineage_url_answers(project: Project):
    """The URL the README gives for one asset's lineage shows that selection; the form of it a
    query string cannot carry ('+' read as a space) is refused saying how to write it."""
    readme = (REPO / "README.md").read_text()
    urls = re.findall(r"`(/graph\?select=[^`]+)`", readme)
    assert urls, "the README gives a lineage URL with a selection"
    project.assetfile("""
@asset
def orders():
    return 1

@asset
def report(orders):
    return orders

@asset
def mail(report):
    return report

@asset
def other():
    return 2
""")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        for url in urls:
            code, page, _ = s.get(url)
            assert code == 200, (url, page)
            shown = set(re.findall(r'data-asset="([^"]+)"', page.split('data-testid="graph"')[1]))
            assert {"orders", "report", "mail"} <= shown and "other" not in shown, shown
        code, page, _ = s.get("/graph?select=+report+")
        assert code == 400 and "write it as %2B" in html.unescape(page)
    finally:
        s.stop()


def test_a_partition_of_an_unpartitioned_asset_is_not_found(project: Project):
    """``?partition=`` on an unpartitioned asset is a 404 saying so, as an unknown key of a
    partitioned one is, not a page whose Materialize button always fails."""
    project.assetfile("""
@asset
def a():
    return 1
""")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        code, page, _ = s.get("/assets/a?partition=zzz")
        assert code == 404, page
        assert "No partition zzz of a" in page and "asset &#x27;a&#x27; is not partitioned" in page
        assert 'name="partition"' not in page
        code, page, _ = s.get("/assets/a?partition=")  # (empty: no partition asked for)
        assert code == 200 and 'name="partition"' not in page
    finally:
        s.stop()


@pytest.mark.parametrize("partitions", ['DynamicPartitions("customers")', 'FilePartitions("in/*.csv")'])
def test_a_partitioned_asset_with_no_partitions_yet_has_a_page(project: Project, partitions):
    """The first state of a dynamic asset (no key added yet), or a glob that matches no file:
    the catalog lists it as partitioned with none, its page (200) says it has no partitions and
    why, and a key of it is a 404 saying it has none, never that it is not partitioned."""
    project.assetfile(f"""
from assetbuild import DynamicPartitions, FilePartitions

@asset(partitions={partitions}, io="json")
def per_customer(context):
    return context.partition_key
""")
    s = Server(project.root)
    try:
        code, page, _ = s.get("/")
        row = re.search(r'<tr data-node="per_customer".*?</tr>', page, re.S).group(0)
        assert "<td>partitioned</td>" in row and "no partitions yet" in row, row
        href = hrefs(row)[0]
        code, page, _ = s.get(href)
        assert code == 200, page
        text = html.unescape(page)
        assert 'data-testid="partitions"' in page and "no partitions yet" in text
        code, page, _ = s.get(href + "?partition=acme")
        text = html.unescape(page)
        assert code == 404 and "No partition acme of per_customer" in text, text
        assert "has no partitions yet" in text and "not partitioned" not in text, text
    finally:
        s.stop()


def test_every_run_can_be_reached_from_the_runs_page(project: Project):
    """/runs shows the newest 50 and says how many older ones there are, with a link to them;
    following the links reaches every recorded run once, and back again."""
    project.assetfile("""
@asset(volatile=True)
def a():
    return 1
""")
    for _ in range(103):
        assert project.build().ok
    s = Server(project.root)
    try:
        seen, url, pages = [], "/runs", []
        while url:
            code, page, _ = s.get(url)
            assert code == 200, page
            pages.append(url)
            seen += re.findall(r'<tr data-run="(\d+)"', page)
            older = re.search(r'<a href="([^"]+)" data-testid="runs-older">', page)
            url = html.unescape(older.group(1)) if older else ""
        assert seen == [f"{n:06d}" for n in range(103, 0, -1)]
        assert len(pages) == 3
        first = s.get("/runs")[1]
        assert "53 older runs" in html.unescape(first) and 'data-testid="runs-newer"' not in first
        last = s.get(pages[-1])[1]
        assert "older runs" not in last
        newer = html.unescape(re.search(r'<a href="([^"]+)" data-testid="runs-newer">', last).group(1))
        assert re.findall(r'<tr data-run="(\d+)"', s.get(newer)[1]) == seen[50:100]
        assert s.get("/runs?before=x")[0] == 400
    finally:
        s.stop()


def test_an_observable_sources_page_shows_its_observations_and_failure(project: Project):
    """/assets/api showed only its definition: not the latest observation (``show api``), nor
    its history (``log api``), nor that the latest observation failed; the catalog's badge said
    "source" all the same."""
    project.assetfile('''
from assetbuild import Observation, observable_source

@observable_source
def api():
    v = open("version").read().strip()
    if v == "down":
        raise RuntimeError("api is down")
    return Observation(version=v, metadata={"etag": "etag-" + v})

@asset
def reader(api):
    return api
''')
    project.write("version", "v1-version")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        code, page, _ = s.get("/assets/api")
        assert code == 200, page
        assert 'data-testid="observed-version">v1-version<' in page and '<td><span class="">etag-v1-version' in page
        assert 'data-testid="observation-error"' not in page and page.count('<tr data-kind="observed">') == 1
        assert 'data-node="api" data-kind="observable_source"' in s.get("/")[1]
        project.write("version", "down")
        assert cli(cwd=project.root).returncode == 1
        page = s.get("/assets/api")[1]
        assert 'data-testid="observed-version">v1-version<' in page  # (what readers still read)
        error = page.split('data-testid="observation-error">')[1].split("</span>")[0]
        assert error.startswith("the latest observation failed: ") and "api is down" in error, error
        assert page.split('data-testid="history"')[1].count("<tr data-kind=") == 2
        catalog = s.get("/")[1].split('data-node="api"')[1].split("</tr>")[0]
        assert ">failed</span>" in catalog, catalog
    finally:
        s.stop()
