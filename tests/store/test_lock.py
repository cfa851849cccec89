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


def test_the_run_holding_the_lock_is_the_one_its_holder_named(tmp_path: Path) -> None:
    """``runs`` says RUNNING of an unfinished run only while its own process holds the build
    lock: the holder names its run in the lock file; a holder that named none (``cache gc``,
    another project's build before its first event), a lock let go, or a name whose process is
    gone or whose pid a later process reuses (another start time) is no run running."""
    import os
    import subprocess
    import sys

    from assetbuild.store import BuildLock, running_run
    from assetbuild.store.lock import process_identity

    cache = tmp_path / ".assetbuild"
    cache.mkdir()
    lock = BuildLock(cache)
    assert running_run(cache) is None  # never built in
    lock.acquire()
    assert running_run(cache) is None  # held, naming no run
    lock.running(7)
    assert running_run(cache) == 7
    mine = process_identity(os.getpid())
    assert mine is not None and mine.startswith(f"{os.getpid()} ")
    if mine.split()[1] != "-":  # (/proc: the start time tells a reused pid)
        (cache / "lock").write_text(f"{os.getpid()} {int(mine.split()[1]) + 1} 7\n")
        assert running_run(cache) is None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (cache / "lock").write_text(f"{dead.stdout.strip()} 1 7\n")  # a killed holder's name, read while held
    assert running_run(cache) is None
    lock.running(8)
    lock.release()
    assert running_run(cache) is None and (cache / "lock").read_text() == ""
