"""Serving the UI: uvicorn on the bound address, the URL (with this start's token) printed, a
browser opened on request, builds run in the main thread, and a clean stop on Ctrl-C or SIGTERM
with pages and event streams open (the streams are told to end first, so the server does not
wait for them); a build it interrupts is recorded, as the CLI's."""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
import threading
from dataclasses import replace
from typing import Any

from .app import Settings, create_app
from .security import WILDCARDS, new_token

LOCAL = ("127.0.0.1", "localhost", "::1")


def serve(settings: Settings, *, open_browser: bool = False, out: Any = None) -> None:
    """Run the server until Ctrl-C or SIGTERM, then return (exit 0); or, when the signal
    interrupts a build started from a page, raise its KeyboardInterrupt (``Terminated`` for
    SIGTERM) once the server has stopped: the build recorded its run as the CLI's would (130,
    143), and the command ends as the CLI's do on Ctrl-C. uvicorn answers in a thread of its
    own; builds run in this (the main) thread, where signals arrive."""
    import uvicorn

    from ..watch import LoopState, stop_on_signals

    out = out or sys.stdout
    sock = _bind(settings.host, settings.port)  # before anything is printed: a port in use is one clear error
    settings = replace(settings, port=sock.getsockname()[1])  # --port 0: the port the system chose
    app = create_app(settings)
    ui = app.app.state.ui
    url = _url(settings)
    every = settings.host in WILDCARDS
    if settings.host not in LOCAL:
        where = f"every address of this machine ({settings.host or repr('')})" if every else settings.host
        print(f"assetbuild: warning: serving on {where}: anyone who can reach this address can see the project"
              + ("" if settings.read_only else " and, with the URL's token, run its code"), file=sys.stderr)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5, lifespan="off")
    server = uvicorn.Server(config)
    failed: list[BaseException] = []

    def run_server() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # noqa: BLE001 - raised again in the main thread
            failed.append(e)

    thread = threading.Thread(target=run_server, name="assetbuild-ui-server",
                              daemon=True)  # (not the main thread: uvicorn leaves the signals to us)
    state = LoopState(threading.Event())
    main = threading.current_thread() is threading.main_thread()
    try:
        with stop_on_signals(state) if main else contextlib.nullcontext():
            print(f"assetbuild ui: {url}" + (" (read-only)" if settings.read_only else "")
                  + ("  (listening on every address)" if every else "") + "  (Ctrl-C to stop)", file=out, flush=True)
            thread.start()
            if open_browser:
                import webbrowser

                webbrowser.open(url)
            ui.builds.serve(state, thread.is_alive)
    finally:
        ui.events.publish(None)  # end every event stream, so shutdown need not wait for them
        server.should_exit = True
        thread.join(10)
        sock.close()
    if failed:
        raise failed[0]


def _url(settings: Settings) -> str:
    """The URL to print: the address as given, bracketed when IPv6; for a wildcard bind (every
    address: ``0.0.0.0``, ``::``, ``''``), the loopback address of its family, which this
    machine's browser can open."""
    host = settings.host
    if host in WILDCARDS:
        host = "::1" if ":" in host else "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.port}/" + ("" if settings.read_only else f"?token={settings.token}")


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``; ConfigError (exit 2) naming the problem when the
    port is taken or the address is not this machine's. It stays non-inheritable (Python's
    default; uvicorn is handed the object): builds run in this process, and a program an asset
    starts (``os.system("service &")``) must not keep the port after the UI stops."""
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
    return sock


__all__ = ["serve", "Settings", "new_token"]
