"""session.turns: code a build runs that calls the Python API back into what its own build
holds (the process's turn, its cache directory's build lock, the AssetFile loader) fails at once
with ReentrantCall, under every built-in executor, instead of waiting for ever; a call into
another project from the build's own thread or a worker process still works. Each build runs
the real command, with a time limit: a hang fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import cli, write

INNER = "from assetbuild import asset\n\n@asset\ndef x():\n    return 1\n"
OUTER = '''\
import assetbuild
from assetbuild import asset

@asset
def sub():
    assert assetbuild.build(project_dir="../inner").ok
    return assetbuild.load_value("x", project_dir="../inner")
'''
OWN = '''\
import assetbuild
from assetbuild import asset

@asset
def x():
    return 1

@asset
def y():
    return assetbuild.build(["x"], project_dir=".").ok
'''


@pytest.mark.parametrize("args", [["-j", "1"], ["-j", "2"]])
def test_an_asset_builds_another_project_from_the_builds_thread_or_a_worker(tmp_path: Path, args: list[str]) -> None:
    write(tmp_path / "inner", {"AssetFile": INNER})
    outer = write(tmp_path / "outer", {"AssetFile": OUTER})
    p = cli(*args, cwd=outer, timeout=60)
    assert p.returncode == 0, p.stderr


def test_an_asset_in_a_thread_of_its_build_cannot_call_the_api(tmp_path: Path) -> None:
    write(tmp_path / "inner", {"AssetFile": INNER})
    outer = write(tmp_path / "outer", {"AssetFile": OUTER})
    p = cli("-j", "2", "--executor", "threads", cwd=outer, timeout=60)
    assert p.returncode == 1
    assert "ReentrantCall: an asset that the build runs in a thread (the threads executor) cannot call" in p.stderr


@pytest.mark.parametrize("args", [["-j", "1"], ["-j", "2"]])
def test_an_asset_cannot_build_its_own_project(tmp_path: Path, args: list[str]) -> None:
    own = write(tmp_path / "own", {"AssetFile": OWN})
    p = cli(*args, "y", cwd=own, timeout=60)
    assert p.returncode == 1
    assert "is in use by the build running this asset: an asset cannot call assetbuild on its own project" in p.stderr
    assert "waiting" not in p.stderr


def test_an_assetfile_cannot_call_the_api_as_it_loads(tmp_path: Path) -> None:
    own = write(tmp_path / "own", {"AssetFile": "import assetbuild\nassetbuild.build(project_dir='.')\n"})
    p = cli(cwd=own, timeout=60)
    assert p.returncode == 2
    assert "ReentrantCall: the AssetFile cannot call the Python API as it loads" in p.stderr


HELPER = '''\
import threading
import assetbuild
from assetbuild import asset

@asset
def fan():
    helper = threading.Thread(target=lambda: assetbuild.build(project_dir="../inner"))
    helper.start()
    helper.join(TURN_WARNING_S + 1.5)  # (a join without a limit would wait for ever: warned, not refused)
    return helper.is_alive()
'''


def test_a_thread_an_asset_starts_that_calls_the_api_is_warned_of_the_turn_it_waits_for(tmp_path: Path) -> None:
    """A thread an asset starts (a ThreadPoolExecutor inside it) waits for the process's turn,
    which the asset's build holds: it cannot be told from another thread of the program, which
    must wait its turn, so it waits; after ``TURN_WARNING_S`` one warning names the build and
    the asset, which may be waiting for this call. Once the asset returns, the call goes on."""
    from assetbuild.session.turns import TURN_WARNING_S

    write(tmp_path / "inner", {"AssetFile": INNER})
    outer = write(tmp_path / "outer", {"AssetFile": HELPER.replace("TURN_WARNING_S", str(TURN_WARNING_S))})
    p = cli(cwd=outer, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("warning: this call to assetbuild is waiting for the build of ") == 1, p.stderr
    assert f"{outer.resolve()} in another thread of this process, which is running asset 'fan'" in p.stderr
    assert (tmp_path / "inner" / ".assetbuild").is_dir()  # the helper's build ran once the turn was free
