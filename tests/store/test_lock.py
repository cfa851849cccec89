"""The build lock without the index: ``clean`` refuses a cache a build holds, and takes nothing
(creates nothing) where no build ever ran; a lock taken ahead (the UI's) is handed to the store
of the same thread."""

from __future__ import annotations

from pathlib import Path

import pytest

import assetbuild
from assetbuild.errors import StoreError
from assetbuild.store import BuildRunning, LmdbStore, no_build_running, taken_ahead


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



def test_a_lock_taken_ahead_is_adopted_by_this_threads_store_only(tmp_path: Path) -> None:
    """``taken_ahead`` waits for the holder (``on_wait`` once), then holds the lock until a store
    of the same thread takes it over, without waiting for itself; another thread's waits for it.
    Not adopted, it is released when the block ends."""
    import threading

    from assetbuild.store import BuildLock

    cache = tmp_path / ".assetbuild"
    with LmdbStore(cache) as holder:
        holder.acquire_lock()
        waits: list[str] = []
        threading.Timer(0.3, holder.release_lock).start()
        with taken_ahead(cache, on_wait=lambda: waits.append("waiting")):
            assert waits == ["waiting"]
            with pytest.raises(BuildRunning):
                with no_build_running(cache):
                    pass
            elsewhere = BuildLock(cache)
            other = threading.Thread(target=elsewhere.acquire)
            other.start()
            other.join(0.3)
            assert other.is_alive()  # another thread's lock waits
            with LmdbStore(cache) as s:
                s.acquire_lock()  # adopted: no wait (a second flock of this process would wait forever)
                assert other.is_alive()
            other.join(10)  # the store released it: the other thread has it now
            assert not other.is_alive() and elsewhere.held
            elsewhere.release()
        with taken_ahead(cache):
            with pytest.raises(BuildRunning):
                with no_build_running(cache):
                    pass
        with no_build_running(cache):
            pass  # not adopted: released with the block
