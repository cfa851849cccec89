"""Shared fixtures: real projects in temporary directories, built through the public API."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import Project


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """Never read the developer's cache or plugin settings."""
    monkeypatch.delenv("ASSETBUILD_CACHE_DIR", raising=False)
    monkeypatch.delenv("ASSETBUILD_NOW", raising=False)  # the wall clock, unless a test steps time
    monkeypatch.setenv("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root)


