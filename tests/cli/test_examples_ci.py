"""examples/ci: the GitHub Actions workflow parses, shows both ways, and every assetbuild command
in it runs as written (against a file:// remote standing in for the bucket)."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest
from projects import REPO, clean_env, cli

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
    assert "secrets.ASSETBUILD_CACHE_SIGNING_KEY" in push["env"]["ASSETBUILD_CACHE_SIGNING_KEY"]
    assert remote["env"]["ASSETBUILD_CACHE_TRUSTED_KEYS"].startswith("ed25519:")


def test_pull_request_jobs_hold_no_secret():
    """What a pull request's job sees: the job's env and its step's, with no secret in either, and
    no HMAC key (which would let it sign)."""
    remote = _workflow()["jobs"]["remote-cache"]
    pr = next(s for s in remote["steps"] if s.get("if") == "github.event_name == 'pull_request'")
    seen = {**remote.get("env", {}), **pr.get("env", {})}
    assert not any("secrets." in str(v) for v in seen.values()), seen
    assert "ASSETBUILD_CACHE_KEY" not in seen and "ASSETBUILD_CACHE_SIGNING_KEY" not in seen
    assert "secrets." not in pr["run"]


def _step_env(job: dict, step: dict, pair: tuple[str, str], remote: str) -> dict[str, str]:
    """The environment a step gets, its secrets and placeholders replaced by working values."""
    env = clean_env()
    for name in ("ASSETBUILD_REMOTE", "ASSETBUILD_CACHE_KEY", "ASSETBUILD_CACHE_SIGNING_KEY",
                 "ASSETBUILD_CACHE_TRUSTED_KEYS"):
        env.pop(name, None)
    for name in {**job.get("env", {}), **step.get("env", {})}:
        if name == "ASSETBUILD_REMOTE":
            env[name] = remote  # a folder stands in for the bucket
        elif name == "ASSETBUILD_CACHE_SIGNING_KEY":
            env[name] = pair[0]
        elif name == "ASSETBUILD_CACHE_TRUSTED_KEYS":
            env[name] = pair[1]
        elif name == "ASSETBUILD_CACHE_KEY":
            env[name] = "k"
    return env


@pytest.mark.slow
def test_every_assetbuild_command_of_the_workflow_runs(tmp_path):
    """Each step's command, with that step's keys: the push job signs and uploads, the pull
    request's (public key only) restores everything and uploads nothing."""
    from assetbuild.remote import generate_key_pair

    wf = _workflow()
    pair = generate_key_pair()
    steps = [(job, s) for job in wf["jobs"].values() for s in job["steps"]
             if s.get("run", "").startswith("assetbuild")]
    assert len(steps) >= 4
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='json')\ndef a():\n    return 1\n")
    bucket = tmp_path / "bucket"
    for job, step in steps:
        args = shlex.split(step["run"].split("#")[0])[1:]
        if "ASSETBUILD_REMOTE" in job.get("env", {}):
            shutil.rmtree(tmp_path / ".assetbuild", ignore_errors=True)  # a fresh checkout: all from the remote
        if step.get("if") == "github.event_name == 'pull_request'":
            args = [*args, "--json"]
        r = cli(*args, cwd=tmp_path, env=_step_env(job, step, pair, f"file://{bucket}"))
        assert r.returncode == 0, (step["run"], r.stderr)
        assert "warning" not in r.stderr, (step["run"], r.stderr)
        if "--json" in args:
            assert {x["status"] for x in json.loads(r.stdout)["results"]} == {"restored"}
    assert len(list((bucket / "records").rglob("*"))) >= 1
