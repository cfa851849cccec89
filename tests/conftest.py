"""Shared fixtures: real projects in temporary directories, built through the public API."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import Project


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


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root)


