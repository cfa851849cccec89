"""Numeric options and arguments that are no number of what they count: -3, NaN, inf, or so
large that a wait or a date overflows. The CLI exits 2 naming the option (click let NaN and inf
through its ranges); the Python API raises ValueError naming the argument, before it changes
anything (``gc(older_than_days=-1)`` dropped every entry)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from projects import cli, write

import assetbuild
from assetbuild.errors import ConfigError

ASSETFILE = '''\
from assetbuild import asset


@asset(io="json")
def one():
    return 1
'''


@pytest.fixture
def built(tmp_path: Path) -> Path:
    root = write(tmp_path / "p", {"AssetFile": ASSETFILE})
    assert cli(cwd=root).returncode == 0
    return root


@pytest.mark.parametrize("args, option", [
    (["watch", "--debounce", "nan"], "--debounce"),
    (["watch", "--debounce", "inf"], "--debounce"),
    (["watch", "--debounce", "-3"], "--debounce"),
    (["build", "--timeout", "nan"], "--timeout"),
    (["build", "--timeout", "1e300"], "--timeout"),
    (["build", "--remote-timeout", "nan", "--remote", "file:///nowhere"], "--remote-timeout"),
    (["build", "--remote-timeout", "inf", "--remote", "file:///nowhere"], "--remote-timeout"),
    (["cache", "gc", "--older-than", "nan"], "--older-than"),
    (["cache", "gc", "--older-than", "inf"], "--older-than"),
    (["cache", "gc", "--older-than", "1e300"], "--older-than"),
    (["cache", "gc", "--removed-after", "inf"], "--removed-after"),
])
def test_the_cli_names_the_option(built: Path, args: list[str], option: str) -> None:
    r = cli(*args, cwd=built, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"assetbuild: error: Invalid value for '{option}'"), r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert cli("status", "--check", cwd=built).returncode == 0  # (nothing dropped)


@pytest.mark.parametrize("value", [-3, math.nan, math.inf])
def test_watch_names_debounce_ms(built: Path, value: float) -> None:
    import threading

    stop = threading.Event()
    stop.set()  # (were it taken, it would watch no longer than its first build)
    with pytest.raises(ValueError, match=r"^debounce_ms must be a number of milliseconds, 0 or more"):
        assetbuild.watch_project(project_dir=built, debounce_ms=value, stop=stop)


@pytest.mark.parametrize("keywords, name", [
    ({"older_than_days": -1}, "older_than_days"),
    ({"older_than_days": math.nan}, "older_than_days"),
    ({"older_than_days": 1e300}, "older_than_days"),
    ({"removed_after_days": math.inf}, "removed_after_days"),
    ({"max_size": -5}, "max_size"),
    ({"max_size": 1.5}, "max_size"),
])
def test_gc_names_its_argument_and_drops_nothing(built: Path, keywords: dict, name: str) -> None:
    assetbuild.build(project_dir=built, force=True)  # (an older entry of one, which gc may drop)
    before = assetbuild.gc(project_dir=built, dry_run=True).entries_before
    with pytest.raises(ValueError, match=f"^{name} must be "):
        assetbuild.gc(project_dir=built, **keywords)
    assert assetbuild.gc(project_dir=built, dry_run=True).entries_before == before


@pytest.mark.parametrize("value", [-1, 0, math.nan, math.inf])
def test_build_names_remote_timeout(built: Path, value: float) -> None:
    with pytest.raises(ValueError, match="^remote_timeout must be a positive number of seconds, at most"):
        assetbuild.build(project_dir=built, remote="file:///nowhere", remote_timeout=value)


@pytest.mark.parametrize("value", [math.nan, 1e300, -1])
def test_build_names_timeout(built: Path, value: float) -> None:
    with pytest.raises(ConfigError, match="^timeout must be a positive number of seconds, at most"):
        assetbuild.build(project_dir=built, timeout=value)
