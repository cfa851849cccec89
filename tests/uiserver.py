"""A real ``assetbuild ui`` server for tests: a subprocess on a free loopback port, the URL it
printed (with its token), and plain HTTP requests to it."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from projects import clean_env, cli_cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()  # (a port: a server started again where one ran)
        self.proc = subprocess.Popen(cli_cmd("ui", "--port", str(self.port), *args), cwd=root, env=env or clean_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"(http://\S+)", line)
        assert m, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.url = m.group(1)
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = self.url.split("token=")[1] if "token=" in self.url else None
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/runs")
                break
            except OSError:
                assert time.monotonic() < deadline and self.proc.poll() is None
                time.sleep(0.05)

    def request(self, path: str, *, data: dict | None = None, headers: dict | None = None):
        body = None if data is None else "&".join(f"{k}={v}" for k, v in data.items()).encode()
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {},
                                     method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def get(self, path: str, **kw):
        return self.request(path, **kw)

    def stop(self, sig=signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


class Events:
    """The server's event stream, read in a thread from its start: ``until`` the first event a
    test waits for, ``through`` every event up to it."""

    def __init__(self, server: Server) -> None:
        self.q: queue.Queue[dict] = queue.Queue()
        connected = threading.Event()

        def listen() -> None:
            with urllib.request.urlopen(server.base + "/events", timeout=120) as r:
                for raw in r:
                    line = raw.decode().strip()
                    if line == ": connected":
                        connected.set()
                    elif line.startswith("data: "):
                        self.q.put(json.loads(line[6:]))

        threading.Thread(target=listen, daemon=True).start()
        assert connected.wait(30)

    def until(self, pred, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            e = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            if pred(e):
                return e

    def through(self, pred, timeout: float = 60) -> list[dict]:
        """Every event up to and including the first ``pred`` holds for."""
        deadline = time.monotonic() + timeout
        seen = []
        while not seen or not pred(seen[-1]):
            seen.append(self.q.get(timeout=max(0.01, deadline - time.monotonic())))
        return seen
