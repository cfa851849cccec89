"""examples/ci: the GitHub Actions workflow parses, shows both ways, and every assetbuild command
in it runs as written (against a file:// remote standing in for the bucket)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from abtest import REPO, clean_env, cli  # noqa: E402

WORKFLOW = REPO / "examples" / "ci" / "assetbuild.yml"


def _workflow() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with the test extra (moto[server])")
    return yaml.safe_load(WORKFLOW.read_text())


def test_workflow_shows_both_ways():
    wf = _workflow()
    jobs = wf["jobs"]
    cache_steps = [s for s in jobs["directory-cache"]["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert cache_steps and cache_steps[0]["with"]["path"] == ".assetbuild"
    remote = jobs["remote-cache"]
    assert remote["env"]["ASSETBUILD_REMOTE"].startswith("s3://")
    by_event = {s["if"]: s for s in remote["steps"] if "if" in s}
    push, pr = by_event["github.event_name == 'push'"], by_event["github.event_name == 'pull_request'"]
    assert "--remote-read-only" not in push["run"] and "--remote-read-only" in pr["run"]
    assert "secrets.ASSETBUILD_CACHE_KEY" in push["env"]["ASSETBUILD_CACHE_KEY"]


@pytest.mark.slow
def test_every_assetbuild_command_of_the_workflow_runs(tmp_path):
    wf = _workflow()
    commands = [s["run"] for job in wf["jobs"].values() for s in job["steps"]
                if s.get("run", "").startswith("assetbuild")]
    assert len(commands) >= 4
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='json')\ndef a():\n    return 1\n")
    env = clean_env(ASSETBUILD_REMOTE=f"file://{tmp_path / 'bucket'}", ASSETBUILD_CACHE_KEY="k")
    for command in commands:
        args = shlex.split(command.split("#")[0])[1:]
        r = cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 0, (command, r.stderr)
        assert "warning" not in r.stderr, (command, r.stderr)
