"""The build lock without the index: ``clean`` refuses a cache a build holds, and takes nothing
(creates nothing) where no build ever ran."""

from __future__ import annotations

from pathlib import Path

import pytest

import assetbuild
from assetbuild.errors import StoreError
from assetbuild.store import BuildRunning, LmdbStore, no_build_running


def test_clean_refuses_a_cache_whose_build_lock_is_held_and_cleans_it_once_released(tmp_path: Path) -> None:
    (tmp_path / "AssetFile").write_text("")
    cache = tmp_path / ".assetbuild"
    with LmdbStore(cache) as s:
        s.acquire_lock()  # a build is running
        with pytest.raises(BuildRunning):
            with no_build_running(cache):
                pass
        with pytest.raises(StoreError, match="a build is running with .*; not deleting it"):
            assetbuild.clean(project_dir=tmp_path)
        assert (cache / "STORE").exists() and (cache / "db").is_dir()
        s.release_lock()
        with no_build_running(cache):
            pass  # free now
    assert assetbuild.clean(project_dir=tmp_path) == cache.resolve()
    assert not cache.exists()


def test_no_build_running_on_a_cache_never_built_in_creates_nothing(tmp_path: Path) -> None:
    with no_build_running(tmp_path / "nope"):
        pass
    assert not (tmp_path / "nope").exists()
    with no_build_running(tmp_path):
        pass
    assert not (tmp_path / "lock").exists()
