"""Files and folders of a project that the user may not read or write: ``pyproject.toml``, the
cache directory. Each is one clear line and exit 2, never a traceback; none is taken for absent
(settings dropped) or for something else (a foreign cache).

File modes do not bind root: as root, each command runs without the capabilities that override
them (``setpriv --bounding-set=-dac_override,-dac_read_search``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from projects import clean_env, cli, cli_cmd, write

PARAMS = '''\
from assetbuild import asset


@asset(io="json", params={"n": 1})
def a(context):
    return context.params["n"]
'''


def as_user(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command, bound by file modes even as root (skips the test where it cannot be)."""
    cmd = cli_cmd(*args)
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("as root, file modes bind only without CAP_DAC_OVERRIDE: needs setpriv to drop it")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=clean_env(**env), timeout=120)


def one_line(r: subprocess.CompletedProcess[str], status: int, line: str) -> None:
    assert r.returncode == status and "Traceback" not in r.stderr, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.splitlines() == [line], r.stderr


@pytest.mark.parametrize("args", [[], ["--json"], ["status"], ["-n"]])
@pytest.mark.parametrize("snapshot", ["1", "0"])
def test_an_unreadable_pyproject_is_an_error_not_defaults(tmp_path: Path, args: list[str], snapshot: str) -> None:
    """Its params (and jobs, timeout, executor) were dropped without a word, and the build
    recorded what the user had not asked for."""
    root = write(tmp_path / "p", {"AssetFile": PARAMS, "pyproject.toml": "[tool.assetbuild.params.a]\nn = 5\n"})
    assert cli(cwd=root).returncode == 0
    pyproject = root / "pyproject.toml"
    pyproject.write_text("[tool.assetbuild.params.a]\nn = 6\n")  # (changed: the build would run a)
    pyproject.chmod(0)
    try:
        r = as_user(*args, cwd=root, ASSETBUILD_SNAPSHOT=snapshot)
    finally:
        pyproject.chmod(0o644)
    error = f"cannot read {pyproject}: Permission denied"
    if "--json" in args:
        assert r.returncode == 2 and json.loads(r.stdout)["error"] == error, (r.stdout, r.stderr)
    else:
        one_line(r, 2, f"assetbuild: error: {error}")
    assert cli("show", "a", cwd=root).stdout.strip() == "5"  # (nothing recorded)


ONE = '''\
from assetbuild import asset


@asset(io="json")
def one():
    return 1
'''


@pytest.mark.parametrize("args", [[], ["status"], ["show", "one"], ["clean", "--yes"], ["cache", "gc"]])
def test_a_cache_directory_that_cannot_be_read_is_not_called_foreign(tmp_path: Path, args: list[str]) -> None:
    """It was "not empty and is not an assetbuild cache; use a new or empty directory": advice
    to throw away the project's real cache."""
    root = write(tmp_path / "p", {"AssetFile": ONE})
    assert cli(cwd=root).returncode == 0
    cache = root / ".assetbuild"
    cache.chmod(0)
    try:
        r = as_user(*args, cwd=root)
    finally:
        cache.chmod(0o755)
    one_line(r, 2, f"assetbuild: error: cannot read the cache directory {cache}: Permission denied")
    assert "0 built, 1 cached" in cli(cwd=root).stdout  # (all there still)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_gc_in_a_cache_directory_it_may_not_write_in_is_one_line(tmp_path: Path, json_flag: list[str]) -> None:
    """A shared or CI-restored cache: its files writable, the directory and db/ not. Builds work;
    gc drops what it drops, then cannot put the compacted index beside db/: it said so in a
    PermissionError's traceback (exit 1, no JSON document)."""
    root = write(tmp_path / "p", {"AssetFile": ONE})
    assert cli(cwd=root).returncode == 0
    assert cli("--force", cwd=root).returncode == 0  # (an older entry, which gc drops)
    cache = root / ".assetbuild"
    for d in (cache, cache / "db"):
        d.chmod(0o555)
    try:
        assert as_user("--force", cwd=root).returncode == 0
        r = as_user("cache", "gc", "--older-than", "0", *json_flag, cwd=root)
    finally:
        for d in (cache, cache / "db"):
            d.chmod(0o755)
    error = (f"cannot compact the cache index at {cache / 'db'}: no permission to write in {cache}, where its "
             "compacted copy goes (what gc dropped is gone; the index keeps its free pages, which builds reuse)")
    if json_flag:
        assert r.returncode == 2 and json.loads(r.stdout) == {"ok": False, "error": error}, (r.stdout, r.stderr)
    else:
        one_line(r, 2, f"assetbuild: error: {error}")
    assert list(cache.glob("db.compact-*")) == []
    r = cli("cache", "gc", "--json", cwd=root)  # (what it dropped stays dropped; now it compacts)
    assert r.returncode == 0 and json.loads(r.stdout)["entries_before"] == 1, r.stdout
    assert "0 built, 1 cached" in cli(cwd=root).stdout


@pytest.mark.parametrize("args", [[], ["status"], ["clean", "--yes"]])
def test_a_store_file_that_cannot_be_read_is_not_called_foreign(tmp_path: Path, args: list[str]) -> None:
    """STORE is what marks a cache directory (names of the layout alone do not): one the user may
    not read is said so, not "not an assetbuild cache; use a new or empty directory". (The null
    build's snapshot, which reads no STORE, is kept out of it.)"""
    root = write(tmp_path / "p", {"AssetFile": ONE})
    assert cli(cwd=root).returncode == 0
    store = root / ".assetbuild" / "STORE"
    store.chmod(0)
    try:
        r = as_user(*args, cwd=root, ASSETBUILD_SNAPSHOT="0")
    finally:
        store.chmod(0o644)
    one_line(r, 2, f"assetbuild: error: cannot read {store}: Permission denied")
    assert "0 built, 1 cached" in cli(cwd=root).stdout  # (all there still)
