"""The shop's HTTP API, for the example: serves ``data/*.json`` with an ETag per file.

    python serve.py                 # http://127.0.0.1:8765/orders.json, /rates.json
    python serve.py --port 9000     # then: SHOP_API_URL=http://127.0.0.1:9000 assetbuild

The ETag is a digest of the file's bytes, as a real API's would change with its data. The
example's test starts the same server on a free port (``start``) in a thread.
"""

from __future__ import annotations

import argparse
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def make_handler(data_dir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, with_body: bool) -> None:
            name = self.path.split("?", 1)[0].lstrip("/")
            self.server.requests.append(f"{self.command} /{name}")  # type: ignore[attr-defined]
            f = data_dir / name
            if "/" in name or not name.endswith(".json") or not f.is_file():
                self.send_error(404, f"no such resource: /{name}")
                return
            body = f.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._send(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._send(False)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

    return Handler


def _server(host: str, port: int, data_dir: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(data_dir))
    server.requests = []  # type: ignore[attr-defined]  # "GET /orders.json", ...: what the test checks
    return server


def start(data_dir: Path = DATA, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Serve ``data_dir`` in a daemon thread; ``server.server_address`` says where,
    ``server.requests`` lists what was asked. Stop it with ``server.shutdown()``."""
    server = _server(host, port, Path(data_dir))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = _server(args.host, args.port, DATA)
    print(f"serving {DATA} at http://{args.host}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
