"""Shared fixtures: real projects in temporary directories, built through the public API."""

from __future__ import annotations

import sys
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
