"""Who may talk to the UI, and how it is checked, before any route runs.

- Host header: only the address the server is bound to, or localhost, with its port. A page on
  another site that rebinds its DNS name to 127.0.0.1 sends its own name: refused (403). Bound
  to a wildcard (0.0.0.0, ::), it also answers the address a connection arrived on, written as
  an IP: a rebinding page sends a name, never an IP literal, so that lets no rebinding in.
- Actions: every state-changing request is a POST carrying this server's token (a random
  secret made at start), in a form field ``token`` or a header ``X-Assetbuild-Token``. The
  URL printed at start carries it; opening that URL sets a cookie holding it (HttpOnly,
  SameSite=Strict, Path=/, named with the port), from which pages fill their forms. Cookies
  have no port: every web server on this host receives it, so the token is per server start. A cookie alone is not enough for a
  POST: another site's form could send it along; only the same origin can read the page.
  A POST with neither the header nor the cookie is refused before its body is read, and a
  body over 64 KiB is refused (413) unread past that: nobody without the token costs memory.
- What a page may do: every response carries a Content-Security-Policy (``POLICY``). A page
  loads nothing from elsewhere (scripts and workers from this server only, no inline script;
  images from this server or data: only; requests to this server only), and no other site may
  frame it (a Materialize button under someone else's page). Its style is inline.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

HEADER = "x-assetbuild-token"

POLICY = ("default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; img-src 'self' data:; "
          "style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
#: sent with every response (refusals too): the policy, no type sniffing, no Referer to other sites
HEADERS = [(b"content-security-policy", POLICY.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"same-origin")]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def cookie_name(port: int) -> str:
    """The token cookie's name for the UI on ``port``. Browsers keep a host's cookies for every
    port, so one name would let a second UI on another port overwrite the first's token: the
    port in the name keeps them apart (it hides nothing from other servers on the host)."""
    return f"assetbuild_token_{port}"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The Host header values this server answers: its bound address and localhost's names,
    with and without the port."""
    names = {host, "localhost", "127.0.0.1", "[::1]"}
    if ":" in host and not host.startswith("["):
        names.add(f"[{host}]")
    return frozenset({n for n in names} | {f"{n}:{port}" for n in names})


class HostCheck:
    """ASGI middleware: refuse (403) an HTTP request whose Host header is not one of ``hosts``;
    every response gets ``HEADERS``."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], *, wildcard: bool = False) -> None:
        self.app = app
        self.hosts = hosts
        self.wildcard = wildcard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = _with_headers(send)
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "").lower()
            if host not in self.hosts and not (self.wildcard and host in _arrived_on(scope)):
                await _refuse(send, "refused: this server answers only for its own address (Host header)")
                return
        await self.app(scope, receive, send)


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *HEADERS]
        await send(message)

    return sending


WILDCARDS = ("0.0.0.0", "::", "")


def _arrived_on(scope: Scope) -> set[str]:
    """The Host values naming the local address this connection arrived on (an IP literal, with
    the port): this machine's own address, so never a rebound name."""
    server = scope.get("server")
    if not server or server[0] is None:
        return set()
    ip, port = str(server[0]).lower(), server[1]
    if ip.startswith("::ffff:") and "." in ip:  # an IPv4 client on a dual-stack socket
        ip = ip[len("::ffff:"):]
    shown = f"[{ip}]" if ":" in ip else ip
    return {shown, f"{shown}:{port}"}


async def _refuse(send: Send, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
