"""``assetbuild ui`` served for real (uvicorn in a subprocess, on a free loopback port), spoken
to over HTTP: the pages' states match ``status --json``, builds start from a POST with the
token and stream their progress, and the refusals (Host header, token, read-only) hold."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from projects import Project, clean_env, cli, cli_cmd, hiding
from uiserver import Events, Server, free_port

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install -e '.[ui]'")
pytest.importorskip("uvicorn", reason="the ui extra is not installed: pip install -e '.[ui]'")

ASSETFILE = """
import time
from assetbuild import MetadataValue

orders = source("orders", "orders.csv")

@asset(group="ingest", description="Orders, cleaned")
def clean(orders):
    text = open(orders).read()
    return Output(text.upper(), metadata={
        "rows": text.count("\\n"),
        "note": MetadataValue.md("**bold** <script>window.pwned=1</script> [x](javascript:alert(1))"),
        "link": MetadataValue.url("https://example.com/a?b=<c>"),
    })

@asset(group="metrics", description="How many orders")
def report(context, clean):
    context.log.info("counting <b>orders</b>")
    if open("slow").read().strip() == "yes":
        time.sleep(3)
    return len(clean)
"""


@pytest.fixture
def ui_project(project: Project) -> Project:
    project.assetfile(ASSETFILE)
    project.write("orders.csv", "a,b\n")
    project.write("slow", "no")
    assert cli(cwd=project.root).returncode == 0
    project.write("orders.csv", "a,b\nc,d\n")  # clean and report are stale now
    return project


@pytest.fixture
def server(ui_project):
    s = Server(ui_project.root)
    yield s
    if s.proc.poll() is None:
        s.stop()


def rows(html: str) -> dict[str, str]:
    """The catalog's asset rows: name -> state."""
    return dict(re.findall(r'<tr data-node="[^"]+" data-asset="([^"]+)" data-state="([^"]+)"', html))


def test_catalog_states_match_status(server, ui_project):
    code, html, _ = server.get("/")
    assert code == 200
    status = json.loads(cli("status", "--json", cwd=ui_project.root).stdout)
    assert rows(html) == {r["asset"]: r["state"] for r in status["assets"]}
    assert '<tr data-node="orders" data-kind="source"' in html  # sources are listed, not as assets
    assert rows(html)["clean"] == "stale"
    assert 'data-group="ingest"' in html and "Orders, cleaned" in html
    scripts = re.findall(r'<script src="([^"]*)"', html)  # nothing fetched from elsewhere
    assert "cdn" not in html.lower() and scripts and all(src.startswith("/static/") for src in scripts)
    assert "<script>" not in html  # (no inline script: the Content-Security-Policy refuses it)
    for src in scripts:
        code, text, headers = server.get(src)
        assert code == 200 and headers["content-type"].startswith("text/javascript") and "SharedWorker" in text


def test_the_printed_url_sets_the_token_cookie(server):
    req = urllib.request.Request(server.base + "/?token=" + server.token)
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(req, timeout=30)
    assert e.value.code == 303
    cookie = e.value.headers["set-cookie"]
    assert cookie.startswith(f"assetbuild_token_{server.port}={server.token}") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower() and "Path=/" in cookie
    code, html, _ = server.get("/", headers={"Cookie": f"assetbuild_token_{server.port}={server.token}"})
    assert f'name="token" value="{server.token}"' in html  # the forms carry it
    code, html, _ = server.get("/")
    assert server.token not in html  # not without the cookie
    assert server.get("/?token=wrong")[0] == 403


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_refusals(server):
    assert server.get("/", headers={"Host": "evil.example:80"})[0] == 403
    assert server.get("/", headers={"Host": f"localhost:{server.port}"})[0] == 200
    code, text, _ = server.request("/materialize", data={"token": "wrong", "assets": "clean"})
    assert code == 403 and "token" in text
    assert server.request("/materialize", data={"assets": "clean"})[0] == 403
    assert server.get("/materialize")[0] == 405
    code, _, _ = server.request("/materialize", data={"token": server.token},
                                headers={"Host": "evil.example", "Accept": "application/json"})
    assert code == 403


def _post_head(server, headers: str, length: int) -> tuple[socket.socket, str]:
    """Send a POST's head announcing ``length`` bytes and none of them: the server's answer."""
    sk = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sk.sendall(f"POST /materialize HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{headers}"
               f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n".encode())
    return sk, sk.recv(4096).decode()


def test_a_post_is_refused_before_its_body_is_read(server):
    """No token: 403 at once, without waiting for (or buffering) the 600 MiB announced; with the
    token, a body over 64 KiB is refused (413) as soon as that is known."""
    for head, code in (("", "403"), (f"X-Assetbuild-Token: {server.token}\r\n", "413"),
                       (f"Cookie: assetbuild_token_{server.port}={server.token}\r\n", "413")):
        sk, answer = _post_head(server, head, 600 << 20)  # recv would time out if the server waited for the body
        sk.close()
        assert answer.split("\r\n")[0] == f"HTTP/1.1 {code} " + ("Forbidden" if code == "403" else
                                                                  "Request Entity Too Large"), answer
    # chunked, no length: read only until past the cap
    sk = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sk.sendall(f"POST /materialize HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Assetbuild-Token: {server.token}"
               f"\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    for _ in range(3):
        sk.sendall(b"8000\r\n" + b"a" * 0x8000 + b"\r\n")
    assert sk.recv(4096).decode().startswith("HTTP/1.1 413"), "a chunked body past the cap"
    sk.close()


@pytest.mark.parametrize("referer, back", [
    ("http://127.0.0.1:{port}//evil.example/p", "/"), ("http://127.0.0.1:{port}/\\evil.example/p", "/"),
    ("http://evil.example/assets/clean", "/"), ("https://127.0.0.1:{port}/runs", "/"), ("", "/"),
    ("http://127.0.0.1:{port}/assets/clean?partition=x#top", "/assets/clean?partition=x&"),
])
def test_a_post_returns_only_to_a_page_of_this_server(server, referer, back):
    """The redirect after a form's POST follows the Referer only to this server's own pages."""
    headers = {"X-Assetbuild-Token": server.token, "Referer": referer.format(port=server.port)}
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(server.base + "/materialize", data=b"assets=nothing", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(req, timeout=30)
    assert e.value.code == 303
    assert e.value.headers["location"].startswith(back + ("" if back.endswith("&") else "?") + "build=")


def test_a_build_streams_its_progress_and_a_second_is_refused(server, ui_project):
    ui_project.write("slow", "yes")
    stream = Events(server)
    hdr = {"Accept": "application/json", "X-Assetbuild-Token": server.token}
    code, body, _ = server.request("/materialize", data={}, headers=hdr)
    assert (code, json.loads(body)) == (202, {"started": True})
    code, body, _ = server.request("/materialize", data={}, headers=hdr)
    assert (code, json.loads(body)) == (409, {"started": False})  # politely: one build at a time
    events = stream.through(lambda e: e["type"] == "build-finished")
    kinds = [(e["type"], e.get("asset"), e.get("status")) for e in events]
    assert events[0] == {"type": "connected", "last": None}  # (no build yet)
    assert kinds[1] == ("build-started", None, None)
    assert ("asset", "clean", "running") in kinds and ("asset", "clean", "built") in kinds
    assert ("asset", "report", "built") in kinds
    assert events[-1]["type"] == "build-finished" and events[-1]["ok"] is True
    assert events[-1]["states"] == {"clean": "fresh", "report": "fresh"}
    assert rows(server.get("/")[1]) == {"clean": "fresh", "report": "fresh"}


def test_read_only_has_no_buttons_and_refuses_builds(ui_project):
    s = Server(ui_project.root, "--read-only")
    try:
        assert s.token is None and "read-only" not in s.url
        for path in ("/", "/assets/clean"):
            html = s.get(path)[1]
            assert s.get(path)[0] == 200
            assert "<button" not in html and "<form" not in html
        code, text, _ = s.request("/materialize", data={"token": "x"})
        assert code == 403 and "read-only" in text
    finally:
        assert s.stop() == 0


def test_asset_page_renders_metadata_safely(server, ui_project):
    assert cli(cwd=ui_project.root).returncode == 0
    code, html, _ = server.get("/assets/clean")
    assert code == 200
    assert "<strong>bold</strong>" in html
    assert "<script>window.pwned" not in html and "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    assert 'href="https://example.com/a?b=&lt;c&gt;"' in html
    assert html.count('data-testid="history"') == 1
    history = html.split('data-testid="history"')[1].split("</table>")[0]
    assert history.count("<tr data-kind=") == 2  # built twice
    plot = html.split('data-testid="plot-rows"')[1].split("</figure>")[0]
    assert plot.count("<circle") == 2  # one point per materialization with "rows"
    assert "ingest" in html and "AssetFile:" in html  # the definition, file:line
    assert server.get("/assets/nope")[0] == 404


def test_a_partition_that_does_not_exist_is_not_found(project):
    """A partitioned asset's page for a key it does not have is a 404 naming the key, not a page
    that offers to materialize it."""
    project.assetfile("""
from assetbuild import StaticPartitions

@asset(partitions=StaticPartitions(["a", "b"]))
def per_key(context):
    return context.partition_key
""")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        code, html, _ = s.get("/assets/per_key?partition=b")
        assert code == 200 and 'data-testid="partition-selected"' in html
        code, html, _ = s.get("/assets/per_key?partition=zz%3Cb%3E")
        assert code == 404 and "No partition zz&lt;b&gt; of per_key" in html
        assert "has no partition &#x27;zz&lt;b&gt;&#x27; now (2 partitions)" in html, html
        assert "<b>" not in html and 'name="partition"' not in html
    finally:
        s.stop()


def test_runs_pages(server, ui_project):
    assert cli(cwd=ui_project.root).returncode == 0
    code, html, _ = server.get("/runs")
    assert code == 200 and html.count("<tr data-run=") == 2
    run = re.findall(r'<tr data-run="([^"]+)"', html)[0]
    code, html, _ = server.get(f"/runs/{run}")
    assert code == 200 and 'data-asset="clean"' in html
    log = html.split('<pre data-log="report">')[1].split("</pre>")[0]
    assert log == "counting &lt;b&gt;orders&lt;/b&gt;"  # the run's log lines, escaped
    assert server.get("/runs/999999")[0] == 404


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly_with_an_event_stream_open(ui_project, sig):
    s = Server(ui_project.root)
    stream = urllib.request.urlopen(s.base + "/events", timeout=60)
    assert stream.readline().decode().strip() == ": connected"
    t0 = time.monotonic()
    assert s.stop(sig) == 0
    assert time.monotonic() - t0 < 10
    stream.close()


@pytest.mark.parametrize("host", ["0.0.0.0", ""])
def test_another_host_warns_and_prints_a_url_that_opens(ui_project, host):
    """A wildcard bind (``--host ''`` too) warns, and prints a URL this machine's browser can
    open (loopback), saying that it listens on every address: not ``http://:PORT/``."""
    port = free_port()
    proc = subprocess.Popen(cli_cmd("ui", "--host", host, "--port", str(port)), cwd=ui_project.root,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on every address" in line, line
        url = re.search(r"(http://\S+)", line).group(1)
        assert url.startswith(f"http://127.0.0.1:{port}/?token="), url
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=30) as r:  # (the token's redirect, then the catalog)
                    assert r.status == 200 and 'data-asset="clean"' in r.read().decode()
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "every address of this machine" in err and "anyone who can reach this address" in err
    assert proc.returncode == 0


def test_a_wildcard_bind_answers_the_machines_own_addresses(ui_project):
    """--host 0.0.0.0 answers a request to any of this machine's addresses (127.0.0.2 stands for
    one: Linux routes all of 127/8 here), and still refuses a name it is not (DNS rebinding)."""
    s = Server(ui_project.root, "--host", "0.0.0.0")
    try:
        other = f"http://127.0.0.2:{s.port}"
        with urllib.request.urlopen(other + "/", timeout=30) as r:
            assert r.status == 200
        req = urllib.request.Request(other + "/", headers={"Host": f"rebound.example:{s.port}"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 403
    finally:
        assert s.stop() == 0
    local = Server(ui_project.root)  # a localhost bind: still only its own address and localhost's names
    try:
        assert local.get("/", headers={"Host": f"127.0.0.2:{local.port}"})[0] == 403
    finally:
        assert local.stop() == 0


def test_asset_page_shows_the_source_diff_of_a_changed_function(server, ui_project):
    assert cli(cwd=ui_project.root).returncode == 0
    ui_project.write("AssetFile", (ui_project.root / "AssetFile").read_text().replace(
        "return len(clean)", "return len(clean) * 2"), dedent=False)
    code, html, _ = server.get("/assets/report")
    assert code == 200 and 'data-state="stale"' in html
    diff = html.split('data-testid="source-diff">')[1].split("</pre>")[0]
    assert "-    return len(clean)" in diff and "+    return len(clean) * 2" in diff


def test_open_starts_a_browser_on_the_printed_url(ui_project):
    import sys

    opened = ui_project.root / "opened"
    browser = f"{sys.executable} -c \"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])\" %s"
    s = Server(ui_project.root, "--open", env=clean_env(BROWSER=browser))
    try:
        deadline = time.monotonic() + 30
        while not opened.exists() or not opened.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert opened.read_text() == s.url
    finally:
        assert s.stop() == 0


def test_without_the_ui_extra_it_says_how_to_install_it(ui_project, tmp_path):
    """starlette hidden (as in an install without the extra): exit 2, the install command."""
    out = cli("ui", cwd=ui_project.root, env=clean_env(PYTHONPATH=hiding(tmp_path / "block", "starlette", "uvicorn")))
    assert out.returncode == 2, out.stderr
    assert "pip install -e '.[ui]' in the assetbuild clone" in out.stderr and "Traceback" not in out.stderr


def test_lineage_page(server, ui_project):
    code, html, _ = server.get("/graph")
    assert code == 200
    svg = html.split('data-testid="graph"')[1]
    nodes = dict(re.findall(r'data-asset="([^"]+)" data-state="([^"]+)"', svg))
    assert nodes == {"clean": "stale", "report": "stale"}  # [data-asset]: the assets
    assert '<g class="node" data-node="orders" data-kind="source">' in svg
    assert 'href="/assets/report"' in svg and svg.count('class="edge"') == 2
    code, html, _ = server.get("/graph?select=%2Bclean")  # +clean: clean and its upstream
    nodes = re.findall(r'<g class="node" data-node="([^"]+)"', html)
    assert sorted(nodes) == ["clean", "orders"]
    code, html, _ = server.get("/graph?collapse=metrics")
    assert 'data-group="metrics"' in html and 'data-asset="report"' not in html
    assert server.get("/graph?select=nope")[0] == 400


def test_a_port_in_use_is_one_clear_error(server, ui_project):
    out = cli("ui", "--port", str(server.port), cwd=ui_project.root)
    assert out.returncode == 2 and out.stdout == ""  # no URL printed for a server that is not there
    assert out.stderr.strip() == (f"assetbuild: error: 127.0.0.1:{server.port} is in use (another assetbuild ui?): "
                                  "pick another with --port")
    assert server.get("/runs")[0] == 200  # the first one is untouched


def test_port_0_serves_on_the_port_the_system_chose(ui_project):
    proc = subprocess.Popen(cli_cmd("ui", "--port", "0"), cwd=ui_project.root, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"(http://\S+)", proc.stdout.readline()).group(1)
        port = int(url.split(":")[2].split("/")[0])
        assert port != 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/runs", timeout=30) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_project_that_does_not_load_is_not_a_missing_page(ui_project):
    """An edit that breaks the AssetFile makes every name look unknown: the asset, run and
    selection pages say the project does not load (500, with the error), not "No asset" (404)."""
    with open(ui_project.root / "AssetFile", "a") as f:
        f.write("\nraise RuntimeError('broken edit')\n")
    s = Server(ui_project.root)
    try:
        for path in ("/", "/assets/clean", "/runs/000001", "/graph?select=clean"):
            code, html, _ = s.get(path)
            assert (code, re.search(r"<h1>(.*?)</h1>", html).group(1)) == (500, "The project does not load"), path
            assert "broken edit" in html, path
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_process_an_asset_leaves_behind_does_not_keep_the_port(project, jobs):
    """An asset built from a page that starts a helper in the background (``os.system("... &")``):
    the helper holds no copy of the listening socket, in the server's process (serial) or in a
    worker (``-j``), so stopping the UI frees its port for the next start."""
    project.write("pyproject.toml", f'[tool.assetbuild]\njobs = {jobs}\nexecutor = "{"serial" if jobs == "1" else "processes"}"\n')
    project.assetfile("""
import os

@asset
def helper():
    os.system("sleep 60 & echo $! > helper.pid")
    return 1

@asset
def other():
    return 2
""")
    s = Server(project.root)
    try:
        stream = Events(s)
        hdr = {"Accept": "application/json", "X-Assetbuild-Token": s.token}
        assert s.request("/materialize", data={}, headers=hdr)[0] == 202
        assert stream.until(lambda e: e["type"] == "build-finished")["ok"] is True
        assert s.stop() == 0
        with socket.socket() as again:
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", s.port))
            again.listen(1)  # (the helper's copy of the old socket would make this fail: EADDRINUSE)
    finally:
        if s.proc.poll() is None:
            s.stop()
        pid = (project.root / "helper.pid").read_text().strip() if (project.root / "helper.pid").exists() else ""
        if pid:
            subprocess.run(["kill", pid])


def test_every_response_carries_a_content_security_policy(server, ui_project):
    """Pages, their script, error pages and refusals: a policy that lets a page load nothing from
    elsewhere (images from this server or data: only, scripts from this server only, no inline
    script), and no page of another site may frame it."""
    for path, headers in [("/", {}), ("/assets/clean", {}), ("/graph", {}), ("/runs", {}), ("/runs/999999", {}),
                          ("/assets/nope", {}), ("/materialize", {}), ("/", {"Host": "evil.example"})]:
        code, _, got = server.get(path, headers=headers)
        policy = {d.split()[0]: d.split()[1:] for d in got.get("content-security-policy", "").split(";") if d.strip()}
        assert policy.get("default-src") == ["'none'"], (path, got)
        assert policy.get("img-src") == ["'self'", "data:"] and policy.get("script-src") == ["'self'"], path
        assert policy.get("frame-ancestors") == ["'none'"] and policy.get("base-uri") == ["'none'"], path
        assert got.get("x-content-type-options") == "nosniff", path


def test_markdown_images_are_links_not_fetched(project):
    """A markdown image in metadata becomes a link to it: opening the page fetches nothing."""
    project.assetfile("""
from assetbuild import MetadataValue

@asset
def report():
    return Output(1, metadata={"summary": MetadataValue.md(
        "Top ![logo](http://127.0.0.1:9/pixel.png) and ![t](data:image/png;base64,AAAA \\"x\\")")})
""")
    assert cli(cwd=project.root).returncode == 0
    s = Server(project.root)
    try:
        page = s.get("/assets/report")[1]
        md = page.split('<div class="md">')[1].split("</div>")[0]
        assert "<img" not in md, md
        assert '<a href="http://127.0.0.1:9/pixel.png" rel="noopener noreferrer">image: logo</a>' in md, md
    finally:
        s.stop()
