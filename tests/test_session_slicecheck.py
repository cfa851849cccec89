"""The check of a command run on a slice (``session.slicecheck``): it asks the whole project, in
a new process on the full path, and fails on any disagreement."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from projects import clean_env, cli, write
from test_entry import ASSETFILE  # (total, and checked which reads it)

import assetbuild
from assetbuild.output import format_status
from assetbuild.session.slicecheck import check_build, check_status


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2\n"})
    assert cli(cwd=root).returncode == 0
    monkeypatch.chdir(root)  # (the check asks the project in its working directory, as the command)
    return root


def test_a_build_the_whole_project_agrees_with_passes(built: Path) -> None:
    (built / "data/raw.txt").write_text("3 4\n")
    result = assetbuild.build(project_dir=built)
    assert [r.status for r in result.results] == ["built", "built"]
    check_build(result, dry_run=False)


def test_a_build_that_left_an_asset_otherwise_fails(built: Path) -> None:
    """As a slice that merged an asset it should have decided, with its old key, would."""
    before = assetbuild.build(project_dir=built)
    (built / "data/raw.txt").write_text("3 4\n")
    result = assetbuild.build(project_dir=built)
    stale = [r if r.asset != "checked" else dataclasses.replace(before.results[1], status="cached")
             for r in result.results]
    with pytest.raises(RuntimeError, match="left 'checked' cached with key .* finds it otherwise"):
        check_build(dataclasses.replace(result, results=tuple(stale)), dry_run=False)


def test_a_dry_run_must_predict_what_the_whole_project_predicts(built: Path) -> None:
    (built / "data/raw.txt").write_text("3 4\n")
    result = assetbuild.build(project_dir=built, dry_run=True)
    check_build(result, dry_run=True)
    first = result.results[0]
    wrong = dataclasses.replace(result, results=(dataclasses.replace(first, metadata={**first.metadata, "would": "maybe"}),
                                                 *result.results[1:]))
    with pytest.raises(RuntimeError, match="dry run disagrees with the whole project's"):
        check_build(wrong, dry_run=True)


def test_status_must_say_what_the_whole_project_says(built: Path) -> None:
    (built / "data/raw.txt").write_text("3 4\n")
    rows = assetbuild.status(project_dir=built)
    check_status(format_status(rows, color=False))
    with pytest.raises(RuntimeError, match="status disagrees"):
        check_status(format_status(rows[:1], color=False))


def test_the_command_runs_on_its_slice_under_the_check(built: Path) -> None:
    """Under ASSETBUILD_CHECK_SNAPSHOT (the tests' setting), a command that only data changed for
    runs on its slice, and passes the check."""
    assert cli(cwd=built).returncode == 0  # (decides again what the first build wrote in its clock tick)
    (built / "data/raw.txt").write_text("5 6\n")
    for args in (["-n"], ["status"], []):
        r = cli(*args, cwd=built, env=clean_env(ASSETBUILD_SNAPSHOT="explain", ASSETBUILD_CHECK_SNAPSHOT="1"))
        assert r.returncode == 0, r.stderr
        assert "the build loads 2 of the 2 assets" in r.stderr, r.stderr
    assert (built / "out/total.json").read_text().strip() == "11"
