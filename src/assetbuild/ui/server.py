"""Serving the UI: uvicorn on the bound address, the URL (with this start's token) printed, a
browser opened on request, and a clean stop on Ctrl-C or SIGTERM with pages and event streams
open (the streams are told to end first, so the server does not wait for them)."""

from __future__ import annotations

import errno
import signal
import socket
import sys
import threading
from dataclasses import replace
from typing import Any

from .app import Settings, create_app
from .security import new_token

LOCAL = ("127.0.0.1", "localhost", "::1")


def serve(settings: Settings, *, open_browser: bool = False, out: Any = None) -> None:
    """Run the server until Ctrl-C or SIGTERM (then return: exit 0)."""
    import uvicorn

    out = out or sys.stdout
    sock = _bind(settings.host, settings.port)  # before anything is printed: a port in use is one clear error
    settings = replace(settings, port=sock.getsockname()[1])  # --port 0: the port the system chose
    app = create_app(settings)
    ui = app.app.state.ui
    host = settings.host
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{settings.port}/" + ("" if settings.read_only else f"?token={settings.token}")
    if host not in LOCAL:
        print(f"assetbuild: warning: serving on {host}: anyone who can reach this address can see the project"
              + ("" if settings.read_only else " and, with the URL's token, run its code"), file=sys.stderr)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            ui.events.publish(None)  # end every event stream, so shutdown need not wait for them
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=settings.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5, lifespan="off")
    server = Server(config)
    # uvicorn stops on SIGINT/SIGTERM, then raises the signal again for the handler it found:
    # this one, so that a stop is a return (exit 0), not an interrupt or a kill
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, _stopped) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"assetbuild ui: {url}" + (" (read-only)" if settings.read_only else "") + "  (Ctrl-C to stop)",
              file=out, flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        server.run(sockets=[sock])
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        sock.close()
    ui.builds.join(timeout=5)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``; ConfigError (exit 2) naming the problem when the
    port is taken or the address is not this machine's."""
    from ..errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        why = "is in use (another assetbuild ui?): pick another with --port" if e.errno == errno.EADDRINUSE \
            else f"cannot be listened on: {e.strerror}"
        raise ConfigError(f"{host}:{port} {why}") from None
    sock.set_inheritable(True)
    return sock


class _Stopped(Exception):
    """The server was asked to stop (after it did)."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stopped


__all__ = ["serve", "Settings", "new_token"]
