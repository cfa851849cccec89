"""``assetbuild ui``'s ASGI application (starlette): routes that read through ui.data and render
with ui.pages, the build button's POST, and the event stream. No engine logic here.

Needs the ``ui`` extra: ``pip install -e '.[ui]'`` in the assetbuild clone (starlette, uvicorn, markdown-it-py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import AssetbuildError, DefinitionError
from ..partitions import split_node
from . import data, pages
from .builds import Builds, Events
from .links import asset_url
from .scripts import SCRIPTS
from .security import HEADER, WILDCARDS, HostCheck, allowed_hosts, cookie_name, same_token

LOAD = "The project does not load"


@dataclass
class Settings:
    where: data.Where
    token: str
    host: str = "127.0.0.1"
    port: int = 8765
    read_only: bool = False


class UI:
    """One server's state: its settings, its builds and the event streams open on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events = Events()
        self.builds = Builds(settings.where, self.events)
        self.project = data.display_dir(settings.where)
        self.cookie = cookie_name(settings.port)

    def form_token(self, request: Request) -> str | None:
        """The token a page embeds in its forms: None (no buttons) when read-only; the cookie's
        when it holds this server's token, else none (a page opened without the printed URL
        gets buttons that the server refuses, with a message saying why)."""
        if self.settings.read_only:
            return None
        cookie = request.cookies.get(self.cookie)
        return cookie if same_token(cookie, self.settings.token) else ""


def create_app(settings: Settings) -> Any:
    """The whole application, behind the Host header check."""
    ui = UI(settings)

    async def catalog(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:  # the printed URL: keep the token in a cookie, then a clean URL
            if not same_token(given, settings.token):
                return PlainTextResponse("wrong token: open the URL `assetbuild ui` printed", status_code=403)
            resp = RedirectResponse("/", status_code=303)
            resp.set_cookie(ui.cookie, given, path="/", httponly=True, samesite="strict")
            return resp
        finished = ui.builds.finished  # (before the states are read: a build ending meanwhile is shown live)
        try:
            rows = await _read(data.catalog, settings.where)
        except AssetbuildError as e:
            return _error(LOAD, e, ui)
        notice = {"started": "A build started: states change as it goes.",
                  "busy": "A build is already running: wait for it to finish."}.get(request.query_params.get("build", ""), "")
        return HTMLResponse(pages.catalog_page(rows, project=ui.project, token=ui.form_token(request), notice=notice,
                                               finished=finished))

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        asset_name, key = split_node(name)
        if key is not None:  # a partition's node (a run's event names it): its asset's page, selected
            return RedirectResponse(asset_url(asset_name, key), status_code=303)
        partition = request.query_params.get("partition") or None  # (an empty one: the asset's own page)
        finished = ui.builds.finished
        try:
            doc = await _read(data.asset_page, settings.where, name, partition)
        except AssetbuildError as e:
            title = f"No partition {partition} of {name}" if isinstance(e, data.UnknownPartition) else f"No asset {name}"
            return _error(title, e, ui, status=404) if _found_wanting(e) else _error(LOAD, e, ui)
        return HTMLResponse(pages.asset_html(doc, project=ui.project, token=ui.form_token(request),
                                             partition=partition, finished=finished))

    async def graph(request: Request) -> Response:
        select = request.query_params.get("select") or None
        collapse = tuple(request.query_params.getlist("collapse"))
        finished = ui.builds.finished
        try:
            doc = await _read(data.graph, settings.where, select, collapse)
        except AssetbuildError as e:
            if select and _found_wanting(e):
                plus = (" ('+' in a URL's query string is a space: write it as %2B, "
                        "/graph?select=%2Breport%2B)") if " " in select else ""
                return _error("No such selection", e, ui, status=400, note=plus)
            return _error(LOAD, e, ui)
        return HTMLResponse(pages.graph_html(doc, project=ui.project, select=select, collapse=collapse,
                                             finished=finished))

    async def runs(request: Request) -> Response:
        before = request.query_params.get("before") or None
        try:
            doc = await _read(data.runs, settings.where, before)
        except AssetbuildError as e:
            return _error("No such run", e, ui, status=400) if before and _found_wanting(e) else _error(LOAD, e, ui)
        return HTMLResponse(pages.runs_html(doc, project=ui.project))

    async def run(request: Request) -> Response:
        try:
            doc = await _read(data.run, settings.where, request.path_params["run"])
        except AssetbuildError as e:
            return _error("No such run", e, ui, status=404) if _found_wanting(e) else _error(LOAD, e, ui)
        return HTMLResponse(pages.run_html(doc, project=ui.project))

    async def materialize(request: Request) -> Response:
        if settings.read_only:
            return PlainTextResponse("this server is read-only (assetbuild ui --read-only): it runs no builds",
                                     status_code=403)
        refused = PlainTextResponse("refused: a build needs this server's token; open the URL `assetbuild ui` "
                                    "printed", status_code=403)
        header = request.headers.get(HEADER)
        # before reading any of the body: a request with neither the header nor the cookie is refused unread
        if not (same_token(header, settings.token) or same_token(request.cookies.get(ui.cookie), settings.token)):
            return refused
        form = await _form(request)
        if form is None:
            return PlainTextResponse(f"refused: a Materialize form is at most {MAX_FORM} bytes", status_code=413)
        if not same_token(header or form.get("token"), settings.token):  # the cookie alone: any form could send it
            return refused
        assets = (form.get("assets") or "").split()
        started = ui.builds.start(assets, partitions=form.get("partition") or None)
        wants_json = "application/json" in request.headers.get("accept", "")
        if wants_json:
            return Response(json.dumps({"started": started}), status_code=202 if started else 409,
                            media_type="application/json")
        path = _back(request.headers.get("referer"), request.headers.get("host", ""))
        sep = "&" if "?" in path else "?"
        return RedirectResponse(f"{path}{sep}build={'started' if started else 'busy'}", status_code=303)

    async def events(request: Request) -> Response:
        q = ui.events.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                for now in ui.builds.now():  # a page opened during a build, or just after one
                    yield f"data: {json.dumps(now)}\n\n".encode()
                while True:
                    try:
                        event = await asyncio.wait_for(q.get(), timeout=15)
                    except asyncio.TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if event is None:  # the server is stopping
                        return
                    yield f"data: {json.dumps(event)}\n\n".encode()
            finally:
                ui.events.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def script(request: Request) -> Response:
        """The pages' script and the shared stream's worker (ui.scripts): whatever ``?v=`` asks,
        the current text, checked again on each use (a new version has a new URL anyway)."""
        return Response(SCRIPTS[request.url.path], media_type="text/javascript",
                        headers={"cache-control": "no-cache"})

    async def wrong_method(request: Request) -> Response:
        return PlainTextResponse("use POST, with this server's token", status_code=405)

    routes = [Route("/", catalog), Route("/graph", graph), Route("/assets/{name:path}", asset), Route("/runs", runs),
              Route("/runs/{run}", run), Route("/materialize", materialize, methods=["POST"]),
              Route("/materialize", wrong_method, methods=["GET"]), Route("/events", events),
              *(Route(path, script) for path in SCRIPTS)]
    app = Starlette(routes=routes)
    app.state.ui = ui
    return HostCheck(app, allowed_hosts(settings.host, settings.port), wildcard=settings.host in WILDCARDS)


async def _read(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` (a ui.data read) in a worker thread. During a UI build the read waits for it,
    as the README says a page does: by design, so without the turn's deadlock warning."""
    from ..session.turns import waits_by_design

    def read() -> Any:
        with waits_by_design():
            return fn(*args)

    return await run_in_threadpool(read)


MAX_FORM = 65536


async def _form(request: Request) -> dict[str, str] | None:
    """A url-encoded form's fields (the first value of each): the only kind the pages send. None
    when the body is over MAX_FORM bytes: read no further than that, so a huge POST costs nothing."""
    from urllib.parse import parse_qsl

    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    out: dict[str, str] = {}
    for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        out.setdefault(k, v)
    return out


def _back(referer: str | None, host: str) -> str:
    """Where a form's POST returns: the referring page's path and query when it is a page of this
    server (same host, a path with one leading slash), else "/". The Referer is the client's
    word: "//evil.example/p" or "/\\evil" in it must not become a redirect to another site."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(referer or "")
    except ValueError:
        return "/"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    same_origin = parts.scheme == "http" and parts.netloc.lower() == host.lower()
    if not same_origin or not path.startswith("/") or path[1:2] == "/" or "\\" in path \
            or any(ord(c) < 0x20 for c in path):
        return "/"
    return path


def _found_wanting(e: AssetbuildError) -> bool:
    """Whether ``e`` says the thing asked for is not there, rather than that the project does not
    load (then every name would look unknown: an edit that breaks the AssetFile is not a 404)."""
    return not isinstance(e, DefinitionError)


def _error(title: str, e: Exception, ui: UI, status: int = 500, note: str = "") -> Response:
    from ..output import describe_error

    return HTMLResponse(pages.error_html(title, describe_error(e) + note, project=ui.project), status_code=status)
