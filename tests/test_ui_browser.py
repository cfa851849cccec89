"""The UI in a real browser: Playwright driving the system's Chromium (``apt-get install
chromium``; browser downloads are impossible here), against ``assetbuild ui`` served for real.
Screenshots of each page go to ``$ASSETBUILD_SCREENSHOTS`` (default: the test's tmp dir)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from projects import Project, clean_env, cli
from uiserver import Server

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install -e '.[ui]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium: apt-get install chromium "
                                                         "(.ci/run installs it)")

NOW = "2024-03-04T00:00:00Z"
ASSETFILE = """
import os
import time
from assetbuild import DailyPartitions, MetadataValue

orders = source("orders", "orders.csv")

@asset(group="ingest", description="Orders, cleaned")
def clean(orders):
    text = open(orders).read()
    return Output(text.upper(), metadata={
        "rows": text.count("\\n"),
        "note": MetadataValue.md("<img src=x onerror=\\"window.pwned=1\\"> **fine**"),
    })

@asset(group="metrics", description="How many orders")
def report(clean):
    time.sleep(float(open("delay").read()))
    return len(clean)

version = source("version", "version.txt")

@asset(partitions=DailyPartitions(start="2024-03-01"), group="metrics")
def daily(context, version):
    return context.partition_key + open(version).read()
"""


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    d = Path(os.environ.get("ASSETBUILD_SCREENSHOTS") or tmp_path / "shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def site(project: Project):
    project.assetfile(ASSETFILE)
    project.write("orders.csv", "a,b\n")
    project.write("delay", "0")
    project.write("version.txt", "1")
    env = clean_env(ASSETBUILD_NOW=NOW)
    assert cli(cwd=project.root, env=env).returncode == 0
    project.write("orders.csv", "a,b\nc,d\n")
    s = Server(project.root, env=env)
    yield project, s, env
    if s.proc.poll() is None:
        s.stop()


def states_of(page) -> dict[str, str]:
    return {r.get_attribute("data-asset"): r.get_attribute("data-state") for r in page.locator("tr[data-asset]").all()}


def test_catalog_filter_and_states_match_status(site, browser, shots):
    project, server, env = site
    page = browser.new_page()
    page.goto(server.url)  # the printed URL: sets the token cookie, lands on the catalog
    assert page.url.rstrip("/") == server.base
    status = json.loads(cli("status", "--json", cwd=project.root, env=env).stdout)
    expected = {r["asset"]: r["state"] for r in status["assets"]}
    shown = states_of(page)
    assert shown == expected
    assert page.locator('tr[data-node="orders"][data-kind="source"]').count() == 1
    page.screenshot(path=str(shots / "catalog.png"), full_page=True)
    page.fill("[data-testid=filter]", "orders,")
    page.fill("[data-testid=filter]", "clean")
    assert [r.get_attribute("data-asset") for r in page.locator("tr[data-asset]:visible").all()] == ["clean"]
    page.fill("[data-testid=filter]", "")
    page.select_option("[data-testid=filter-group]", "metrics")
    assert sorted(r.get_attribute("data-asset") for r in page.locator("tr[data-asset]:visible").all()) == [
        "daily", "report"]


def test_materialize_turns_the_state_fresh_without_reloading(site, browser, shots):
    project, server, env = site
    project.write("delay", "1")
    page = browser.new_page()
    page.goto(server.url)
    page.goto(server.base + "/assets/report")
    state = page.locator('div[data-asset="report"]')
    assert state.get_attribute("data-state") == "stale"
    page.evaluate("window.notReloaded = true")
    page.click("[data-testid=materialize]")
    page.locator('div[data-asset="report"][data-state="fresh"]').wait_for(timeout=30_000)
    assert page.evaluate("window.notReloaded") is True  # changed in place, by the event stream
    page.screenshot(path=str(shots / "asset.png"), full_page=True)


def test_asset_page_history_plot_and_safe_metadata(site, browser):
    project, server, env = site
    assert cli(cwd=project.root, env=env).returncode == 0  # a second materialization of clean
    page = browser.new_page()
    page.goto(server.base + "/assets/clean")
    assert page.locator("[data-testid=history] tbody tr").count() == 2
    assert page.locator("[data-testid=plot-rows] circle").count() == 2
    assert page.locator(".md strong").inner_text() == "fine"
    assert page.evaluate("window.pwned === undefined")  # the img's handler never ran
    assert "onerror" in page.locator(".md").inner_text()  # shown as text


def test_a_long_unbroken_metadata_value_wraps_inside_the_page(project, browser):
    """An int too large for a float is kept exactly, 401 digits with no space: its cell wraps,
    rather than widening the page (and every table on it) past the window."""
    project.assetfile("""
@asset
def big():
    return Output(1, metadata={"huge": 10**400, "path": MetadataValue.path("/" + "x" * 300)})
""".replace("@asset", "from assetbuild import MetadataValue\n\n@asset", 1))
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(s.base + "/assets/big")
        assert page.locator('[data-meta="huge"] td').inner_text().startswith("1000")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1000
    finally:
        s.stop()


def test_partition_grid_selects_a_partition(site, browser, shots):
    project, server, env = site
    page = browser.new_page()
    page.goto(server.base + "/assets/daily")
    cells = page.locator("[data-testid=partitions] [data-partition]")
    assert cells.count() == 3  # 2024-03-01 .. 03-03: the complete days at NOW
    assert {c.get_attribute("data-state") for c in cells.all()} == {"fresh"}
    page.click('[data-partition="2024-03-02"]')
    assert page.locator("[data-testid=partition-selected]").inner_text() == "2024-03-02"
    project.write("version.txt", "2")  # every partition is stale
    page.goto(server.url)  # with the token cookie: buttons
    page.goto(server.base + "/assets/daily?partition=2024-03-02")
    page.click("[data-testid=materialize]")  # that partition only
    page.locator("#build-note", has_text="build finished").wait_for(timeout=30_000)
    status = json.loads(cli("status", "--json", "--partitions", "daily", cwd=project.root, env=env).stdout)
    states = {p["partition"]: p["state"] for p in status["assets"][0]["partition_states"]}
    assert states == {"2024-03-01": "stale", "2024-03-02": "fresh", "2024-03-03": "stale"}
    page.screenshot(path=str(shots / "partitions.png"), full_page=True)


def test_a_partitions_page_follows_its_build_without_reloading(site, browser):
    """Materialize 2024-03-02 on its page said "build finished", but its badge and grid cell kept
    saying stale until a reload: the page dropped every partition's event, and build-finished
    carried only each asset's overall state. Now both follow, and end as status says."""
    project, server, env = site
    project.write("version.txt", "2")  # every partition is stale
    page = browser.new_page()
    page.goto(server.url)
    page.goto(server.base + "/assets/daily?partition=2024-03-02")
    cells = page.locator("[data-testid=partitions] [data-partition]")
    badge = page.locator("[data-testid=partition-selected] + .state")
    assert badge.inner_text() == "stale" and {c.get_attribute("data-state") for c in cells.all()} == {"stale"}
    page.evaluate("window.notReloaded = true")
    page.click("[data-testid=materialize]")
    page.locator("#build-note", has_text="build finished").wait_for(timeout=30_000)
    assert badge.inner_text() == "fresh" and page.evaluate("window.notReloaded") is True
    assert {c.get_attribute("data-partition"): c.get_attribute("data-state") for c in cells.all()} == {
        "2024-03-01": "stale", "2024-03-02": "fresh", "2024-03-03": "stale"}
    page.goto(server.base + "/assets/daily")  # a backfill from the asset's page: every cell
    page.evaluate("window.notReloaded = true")
    page.click("[data-testid=materialize]")
    page.locator("#build-note", has_text="build finished").wait_for(timeout=30_000)
    assert {c.get_attribute("data-state") for c in cells.all()} == {"fresh"}
    assert page.evaluate("window.notReloaded") is True


def test_partition_keys_with_url_characters_select_themselves(project, browser):
    """A static key may hold '&', '+', '#', '%' or a space: each cell's link selects that key,
    not what a browser reads from the raw text (``a&b`` as partition ``a`` and a parameter)."""
    keys = ["a&b", "c+d", "e#f", "g%41", "h i"]
    project.assetfile(f"""
from assetbuild import StaticPartitions

@asset(partitions=StaticPartitions({keys!r}))
def per_key(context):
    return context.partition_key
""")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        page = browser.new_page()
        for key in keys:
            page.goto(s.base + "/assets/per_key")
            page.locator("[data-testid=partitions] [data-partition]").nth(keys.index(key)).click()
            page.locator("[data-testid=partition-selected]").wait_for()
            assert page.locator("[data-testid=partition-selected]").inner_text() == key
            assert page.locator("[data-testid=partition-selected] + .state").inner_text() == "fresh"
    finally:
        s.stop()


def test_read_only_has_no_button_and_refuses_a_post(project, browser):
    project.assetfile(ASSETFILE)
    project.write("orders.csv", "a\n")
    project.write("delay", "0")
    s = Server(project.root, "--read-only", env=clean_env(ASSETBUILD_NOW=NOW))
    try:
        page = browser.new_page()
        page.goto(s.url)
        assert page.locator("button").count() == 0
        resp = page.request.post(s.base + "/materialize", form={"token": "anything", "assets": "clean"})
        assert resp.status == 403
    finally:
        s.stop()


def test_two_uis_in_one_browser_keep_their_own_tokens(site, browser):
    """Cookies have no port: with one cookie name, opening a second UI replaced the first's
    token, and the first's Materialize was refused."""
    project, a, env = site
    b = Server(project.root, env=env)
    try:
        page = browser.new_page()
        page.goto(a.url)
        page.goto(b.url)
        page.goto(a.base + "/")
        assert page.locator('input[name="token"]').first.get_attribute("value") == a.token
        page.goto(b.base + "/")
        assert page.locator('input[name="token"]').first.get_attribute("value") == b.token
        names = {c["name"]: c for c in page.context.cookies()}
        assert set(names) == {f"assetbuild_token_{a.port}", f"assetbuild_token_{b.port}"}
        assert all(c["httpOnly"] and c["sameSite"] == "Strict" and c["path"] == "/" for c in names.values())
        page.goto(a.base + "/")
        page.locator("[data-testid=materialize-stale]").click()
        page.locator("#build-note", has_text="build").wait_for(timeout=30_000)  # (eval: refused by the policy)
        assert "refused" not in page.locator("#build-note").inner_text()
    finally:
        b.stop()


def test_wrong_token_and_foreign_host_are_refused(site, browser):
    project, server, env = site
    page = browser.new_page()
    page.goto(server.url)
    resp = page.request.post(server.base + "/materialize", form={"token": "wrong"})
    assert resp.status == 403
    resp = page.request.get(server.base + "/", headers={"Host": "rebound.example"})
    assert resp.status == 403


def test_lineage_graph_click_opens_the_asset_page(site, browser, shots):
    project, server, env = site
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(server.base + "/graph")
    nodes = page.locator("[data-testid=graph] g.node[data-asset]")
    assert {n.get_attribute("data-asset"): n.get_attribute("data-state") for n in nodes.all()} == {
        "clean": "stale", "report": "stale", "daily": "fresh"}
    assert page.locator("[data-testid=graph] g.node[data-kind=source]").count() == 2
    page.screenshot(path=str(shots / "graph.png"), full_page=True)
    page.click('[data-testid=graph] g.node[data-asset="report"]')
    page.wait_for_url("**/assets/report")
    assert page.locator("h1").inner_text() == "report"


def test_runs_pages_in_the_browser(site, browser, shots):
    project, server, env = site
    page = browser.new_page()
    page.goto(server.base + "/runs")
    rows = page.locator("tr[data-run]")
    assert rows.count() == 1
    page.screenshot(path=str(shots / "runs.png"), full_page=True)
    rows.first.locator("a").click()
    assert page.locator("[data-testid=run-events] tr[data-asset]").count() == 5  # clean, report, 3 days
    page.screenshot(path=str(shots / "run.png"), full_page=True)
    page.click('[data-testid=run-events] a:text("daily[2024-03-02]")')  # a partition: its asset's page
    page.wait_for_url("**/assets/daily?partition=2024-03-02")
    assert page.locator("[data-testid=partition-selected]").inner_text() == "2024-03-02"
    assert page.locator("[data-testid=history] tbody tr").count() == 1


def test_screens_of_the_shop_example(tmp_path, browser, shots):
    """examples/daemon after its simulated day, as the README shows it (docs/ui-*.png are
    these screenshots): every asset's state in the catalog agrees with status."""
    from test_example_daemon import BACKOFF, DAY, copy_example, export, play, tick

    shop = copy_example(tmp_path)
    play(shop, DAY, BACKOFF)
    export(shop, "1210", "2024-03-05T09:00:00Z")  # the malformed export again: clean_orders fails
    assert tick(shop, "2024-03-05T09:05:00Z")[0] == 1
    env = clean_env(ASSETBUILD_NOW="2024-03-05T10:30:00Z")
    s = Server(shop, env=env)
    try:
        page = browser.new_page(viewport={"width": 1000, "height": 520})
        page.goto(s.url)
        status = json.loads(cli("status", "--json", cwd=shop, env=env).stdout)
        shown = states_of(page)
        assert shown == {r["asset"]: r["state"] for r in status["assets"]}
        assert (shown["clean_orders"], shown["dashboard"]) == ("failed", "overdue")
        page.screenshot(path=str(shots / "ui-catalog.png"))
        page.goto(s.base + "/graph")
        assert page.locator("[data-testid=graph] g.node[data-asset]").count() == 4
        page.screenshot(path=str(shots / "ui-lineage.png"))
    finally:
        s.stop()


def test_materialize_stale_from_the_catalog_turns_rows_fresh_without_reloading(site, browser):
    project, server, env = site
    page = browser.new_page()
    page.goto(server.url)
    assert states_of(page)["clean"] == "stale"
    page.evaluate("window.notReloaded = true")
    page.click("[data-testid=materialize-stale]")
    page.locator('tr[data-asset="report"][data-state="fresh"]').wait_for(timeout=30_000)
    page.locator('tr[data-asset="clean"][data-state="fresh"]').wait_for(timeout=30_000)
    assert page.evaluate("window.notReloaded") is True
    assert page.locator('tr[data-asset="clean"] .state').inner_text() == "fresh"


def test_lineage_nodes_follow_a_build_without_reloading(site, browser):
    project, server, env = site
    page = browser.new_page()
    page.goto(server.base + "/graph")
    node = '[data-testid=graph] g.node[data-asset="clean"]'
    assert page.locator(node).get_attribute("data-state") == "stale"
    fill = page.locator(node + " rect.box").get_attribute("fill")
    page.evaluate("window.notReloaded = true")
    resp = page.request.post(server.base + "/materialize",
                             headers={"Accept": "application/json", "X-Assetbuild-Token": server.token})
    assert resp.status == 202
    page.locator(node + '[data-state="fresh"]').wait_for(timeout=30_000)
    assert page.evaluate("window.notReloaded") is True
    assert page.locator(node + " rect.box").get_attribute("fill") != fill  # recoloured in place


def test_a_build_waiting_for_another_says_so_and_other_pages_still_open(site, browser):
    """While another build holds the cache (here the test holds its build lock, as a command-line
    build does), Materialize says in words that it waits, other pages open at once, and the
    build runs when the lock is free."""
    import fcntl
    import time

    project, server, env = site
    page = browser.new_page()
    page.goto(server.url)
    page.goto(server.base + "/assets/report")
    lock = os.open(project.root / ".assetbuild" / "lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        page.click("[data-testid=materialize]")
        note = page.locator("#build-note")
        note.filter(has_text="waiting").wait_for(timeout=30_000)  # (no wait_for_function: the policy refuses eval)
        assert "waiting for another build of this cache to finish" in note.inner_text()
        other = browser.new_page()
        t0 = time.monotonic()
        other.goto(server.base + "/runs", timeout=5_000)
        assert time.monotonic() - t0 < 5
    finally:
        os.close(lock)
    note.filter(has_text="build finished").wait_for(timeout=30_000)
    assert page.locator('div[data-asset="report"]').get_attribute("data-state") == "fresh"


def test_pages_fetch_nothing_from_elsewhere_and_break_no_policy(project, browser):
    """A markdown image in metadata (on another port of this host: the token cookie would go
    with it) is a link, and the browser requests nothing from that server; every page runs
    under its Content-Security-Policy without a violation (its own script and style allowed)."""
    import http.server
    import threading

    hits: list[str] = []

    class Pixel(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pixel)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    project.assetfile(f"""
from assetbuild import MetadataValue

@asset(group="g")
def report():
    return Output(1, metadata={{"summary": MetadataValue.md(
        "Top ![logo](http://127.0.0.1:{other.server_address[1]}/pixel.png) <img src=http://127.0.0.1:{other.server_address[1]}/raw.png>")}})
""")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        page = browser.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(s.url)
        for path in ("/", "/assets/report", "/graph", "/runs", "/runs/000001", "/assets/nope"):
            page.goto(s.base + path)
            page.wait_for_timeout(300)
        page.goto(s.base + "/assets/report")
        assert page.locator(".md a", has_text="image: logo").count() == 1
        page.goto(s.base + "/")
        page.fill("[data-testid=filter]", "zzz")  # the page's own script runs
        assert page.locator("tr[data-asset]:visible").count() == 0
        page.wait_for_timeout(500)
        assert hits == [] and refused == [], (hits, refused)
    finally:
        s.stop()
        other.shutdown()


def test_any_number_of_tabs_load_and_follow_builds(site, browser):
    """Browsers open at most 6 connections to one host: ten open pages share one event stream,
    so an eleventh tab still loads, and Materialize in one tab updates all of them live."""
    import time

    project, server, env = site
    context = browser.new_context()
    first = context.new_page()
    first.goto(server.url)
    tabs = [first]
    for i in range(9):
        tab = context.new_page()
        tab.goto(server.base + ("/assets/report" if i % 2 else "/graph"), timeout=10_000)
        tabs.append(tab)
    t0 = time.monotonic()
    last = context.new_page()
    last.goto(server.base + "/runs", timeout=10_000)
    assert time.monotonic() - t0 < 5
    runs = last.locator("tr[data-run]").count()
    tabs[1].wait_for_timeout(500)  # (each tab joined the shared stream)
    tabs[2].click("[data-testid=materialize]")
    for tab in tabs:
        node = ('[data-testid=graph] g.node[data-asset="report"]' if "/graph" in tab.url else
                '[data-asset="report"]')
        tab.locator(node + '[data-state="fresh"]').first.wait_for(timeout=30_000)
    last.reload()
    assert last.locator("tr[data-run]").count() == runs + 1
    context.close()


def test_without_shared_workers_a_page_follows_builds_on_its_own_stream(site, browser):
    """A browser without SharedWorker (Chrome on Android): each page opens its own stream."""
    project, server, env = site
    context = browser.new_context()
    context.add_init_script("delete window.SharedWorker")
    page = context.new_page()
    page.goto(server.url)
    assert page.evaluate("typeof SharedWorker") == "undefined"
    page.evaluate("window.notReloaded = true")
    page.click("[data-testid=materialize-stale]")
    page.locator('tr[data-asset="report"][data-state="fresh"]').wait_for(timeout=30_000)
    assert page.evaluate("window.notReloaded") is True
    context.close()


def test_a_build_that_ends_before_a_page_joins_the_stream_still_shows(site, browser):
    """The page was rendered before a build and joined the event stream only after it ended:
    the stream's first event carries the last build's states, and the page shows them."""
    from uiserver import Events

    project, server, env = site
    page = browser.new_page()
    page.goto(server.url)
    held = []
    page.route("**/static/ui.js*", lambda route: held.append(route))
    page.goto(server.base + "/", wait_until="commit")
    while not held:
        page.wait_for_timeout(50)
    assert states_of(page)["report"] == "stale"
    stream = Events(server)
    code, _, _ = server.request("/materialize", data={}, headers={"Accept": "application/json",
                                                                  "X-Assetbuild-Token": server.token})
    assert code == 202
    stream.until(lambda e: e["type"] == "build-finished")
    held[0].continue_()
    page.locator('tr[data-asset="report"][data-state="fresh"]').wait_for(timeout=30_000)


RESTART = """
import time

raw = source("raw", "raw.txt")

@asset
def b(raw):
    text = open(raw).read()
    assert "fail" not in text, "b fails"
    if "slow" in text:
        time.sleep(60)
    return text
"""


def test_a_server_started_again_on_the_port_is_not_shown_the_last_ones_build(project, browser):
    """A tab of the first server keeps the browser's shared stream alive: it held that server's
    last outcome ("b failed") and handed it to every page of the next server on the port, which
    painted b failed though the server rendered it fresh (as status says)."""
    project.assetfile(RESTART)
    project.write("raw.txt", "fail")
    context = browser.new_context()
    first = Server(project.root)
    tab1 = context.new_page()
    try:
        tab1.goto(first.url)
        tab1.click("[data-testid=materialize-stale]")
        tab1.locator("#build-note", has_text="build failed").wait_for(timeout=30_000)
        assert states_of(tab1) == {"b": "failed"}
    finally:
        first.stop()
    tab1.locator("#build-note", has_text="connection to the server lost").wait_for(timeout=10_000)
    project.write("raw.txt", "ok")
    assert cli(cwd=project.root).returncode == 0
    second = Server(project.root, port=first.port)
    try:
        tab2 = context.new_page()
        tab2.goto(second.url)
        assert states_of(tab2) == {"b": "fresh"}
        tab2.wait_for_timeout(1500)  # (the shared stream joins the new server meanwhile)
        assert states_of(tab2) == {"b": "fresh"} and tab2.inner_text("#build-note") == ""
    finally:
        context.close()
        second.stop()


def test_pages_after_a_server_killed_mid_build_are_not_stuck_building(project, browser):
    """The server was killed during a build and started again on the port: a new page was
    handed the dead server's build-started ("building...", Materialize disabled) for good, and
    the first page said "building..." for ever, with no word that the server was gone."""
    import signal

    project.assetfile(RESTART)
    project.write("raw.txt", "slow")
    context = browser.new_context()
    first = Server(project.root)
    tab1 = context.new_page()
    tab1.goto(first.url)
    tab1.click("[data-testid=materialize-stale]")
    tab1.locator("#build-note", has_text="building...").wait_for(timeout=30_000)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(30)
    tab1.locator("#build-note", has_text="connection to the server lost").wait_for(timeout=10_000)
    project.write("raw.txt", "ok")
    second = Server(project.root, port=first.port)
    try:
        tab2 = context.new_page()
        tab2.goto(second.url)
        tab2.wait_for_timeout(1000)
        for tab in (tab2, tab1):  # (the first page too, once the shared stream joins the new server)
            tab.locator("button[data-build]:enabled").first.wait_for(timeout=15_000)
            assert tab.locator("button[data-build]:disabled").count() == 0
            # (the page's buttons come from its own load; the note, from the shared stream, which
            # rejoins the new server a moment later on a loaded machine)
            tab.wait_for_function("document.querySelector('#build-note').innerText.trim() === ''",
                                  timeout=15_000)
            assert tab.inner_text("#build-note") == ""
        tab2.click("[data-testid=materialize-stale]")
        tab2.locator("#build-note", has_text="build finished").wait_for(timeout=30_000)
        assert states_of(tab2) == {"b": "fresh"}
    finally:
        context.close()
        second.stop()
