"""Shared fixtures: real projects in temporary directories, built through the public API."""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
from pathlib import Path

import pytest
from fingerprint_lab import Lab
from projects import Project

from assetbuild.loader import forget_project_modules


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """Never read the developer's cache or plugin settings. Every command a test runs checks
    the snapshot against the full path (``ASSETBUILD_CHECK_SNAPSHOT``): a build the snapshot
    would have answered, or would have decided in part, decides every asset and fails if the
    snapshot would have said otherwise (tests/test_snapshot.py turns it off to test answers)."""
    monkeypatch.delenv("ASSETBUILD_CACHE_DIR", raising=False)
    monkeypatch.delenv("ASSETBUILD_NOW", raising=False)  # the wall clock, unless a test steps time
    monkeypatch.setenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("ASSETBUILD_CHECK_SNAPSHOT", "1")
    # in this process, no bytecode written (the compiled AssetFile beside it either) whatever
    # PYTHONDONTWRITEBYTECODE says: the same files in every test run (the commands a test
    # starts run with it unset, as a user's do)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 on a free loopback port, for the whole module that asks for it."""
    import gc

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    yield f"http://{host}:{port}"
    srv.stop()
    # botocore's service models (the server's, and each client's) are then cyclic garbage of
    # about a million objects, freed by a second collection once the first has run what held
    # them: collected here, not by the collections pytest makes at exit, which took 3-4 s a
    # worker and passed execnet's 5 s limit for a worker's shutdown (it then interrupts the
    # worker: a KeyboardInterrupt in a weakref callback).
    gc.collect()
    gc.collect()


_NO_RECORDS = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/'
               b'2006-03-01/"><Name>cache</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>'
               b'<IsTruncated>false</IsTruncated></ListBucketResult>')


class _StalledUploads(socketserver.BaseRequestHandler):
    """An S3 endpoint that lists no records, and takes an upload's connection without ever
    reading its body or answering: a server that stopped answering in the middle of a build."""

    def handle(self) -> None:
        f = self.request.makefile("rb")
        while line := f.readline():
            method, target, _ = line.decode().split(" ", 2)
            headers = {}
            while (h := f.readline()) not in (b"\r\n", b""):
                k, v = h.decode().split(":", 1)
                headers[k.strip().lower()] = v.strip()
            if method == "PUT":
                self.server.stalled.append(target)  # type: ignore[attr-defined]
                self.server.done.wait()  # type: ignore[attr-defined]
                return
            f.read(int(headers.get("content-length", 0)))
            body, status = (_NO_RECORDS, "200 OK") if "list-type=2" in target else (b"", "404 Not Found")
            self.request.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n"
                                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


@pytest.fixture
def stalling_server():
    """An S3 endpoint on loopback whose uploads stall (see ``_StalledUploads``); ``stalled``:
    the uploads it took."""
    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True

        def server_bind(self) -> None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # an unread body fills it
            super().server_bind()

    srv = Server(("127.0.0.1", 0), _StalledUploads)
    srv.stalled, srv.done = [], threading.Event()  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.done.set()  # type: ignore[attr-defined]
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root)


@pytest.fixture
def settled(monkeypatch):
    """The racy rule's clock (``workspace.fs_now_ns``) stepped RACY_NS ahead of the real one:
    every file written so far counts as old enough for its stat signature to be recorded, as it
    would once a build runs 2 s later. The files' own times stay as they are."""
    import time

    from assetbuild import workspace

    monkeypatch.setattr(workspace, "fs_now_ns", lambda: time.time_ns() + workspace.RACY_NS)


@pytest.fixture
def lab(tmp_path):
    """A project directory to fingerprint functions in (``fingerprint_lab.Lab``); its modules
    are forgotten after the test."""
    root = tmp_path / "proj"
    root.mkdir()
    yield Lab(root, tmp_path / "cache")
    forget_project_modules(root)
