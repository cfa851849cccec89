"""The real command never shows a remote URL's credentials: warnings (a remote not used, down, or
refusing uploads), errors, --json documents and the run history (``runs``) show the URL with its
userinfo and secret query values as ``***``, whether it came from --remote or $ASSETBUILD_REMOTE.
The remotes are real: a closed loopback port, and moto's S3 server on loopback."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pytest
from projects import clean_env, cli, write

ASSETFILE = '''
from assetbuild import asset


@asset(io="text", path="out/hello.txt")
def hello():
    return "hello"
'''
PASSWORD = "S3cretPassw0rd"
TOKEN = "t0kenV4lue"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write(tmp_path / "p", {"AssetFile": ASSETFILE})


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    e = clean_env()
    for k in ("ASSETBUILD_REMOTE", "ASSETBUILD_CACHE_KEY", "ASSETBUILD_CACHE_SIGNING_KEY",
              "ASSETBUILD_CACHE_TRUSTED_KEYS", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        e.pop(k, None)
    e.update(extra)
    return e


def build(root: Path, url: str, how: str, *args: str, **extra: str):
    """``assetbuild [--remote URL] ARGS`` (``how``: "flag"), or with $ASSETBUILD_REMOTE=URL ("env")."""
    if how == "env":
        return cli(*args, "--remote-timeout", "2", cwd=root, env=env(ASSETBUILD_REMOTE=url, **extra), timeout=60)
    return cli("--remote", url, "--remote-timeout", "2", *args, cwd=root, env=env(**extra), timeout=60)


def warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("warning:")]


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("scheme, key, said", [
    ("https", None, "is not used: no key is set"),
    ("https", "k3y", "cannot upload to the remote cache"),
    ("ftp", "k3y", "is unavailable"),
])
def test_warnings_show_the_url_without_its_credentials(root, closed_port, how, scheme, key, said):
    url = f"{scheme}://alice:{PASSWORD}@127.0.0.1:{closed_port}/cache?token={TOKEN}"
    r = build(root, url, how, **({"ASSETBUILD_CACHE_KEY": key} if key else {}))
    assert r.returncode == 0, r.stderr
    (w,) = warnings(r.stderr)
    assert said in w and f"{scheme}://***@127.0.0.1:{closed_port}/cache?token=*** " in w, w
    assert PASSWORD not in r.stdout + r.stderr and TOKEN not in r.stdout + r.stderr
    assert (root / "out" / "hello.txt").read_text() == "hello"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_s3_credentials_in_the_url_are_hidden_and_the_cause_is_shown(root, s3_server, how):
    """s3fs reads ``KEY:SECRET@bucket`` as a bucket name; botocore's message quotes it on the line
    after ``Parameter validation failed:``, which alone said nothing."""
    url = f"s3://AKIAXXXXXXXXXXXX:{PASSWORD}@b{uuid.uuid4().hex[:12]}/p"
    r = build(root, url, how, ASSETBUILD_CACHE_KEY="k3y", AWS_ENDPOINT_URL=s3_server, AWS_ACCESS_KEY_ID="testing",
              AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    assert r.returncode == 0, r.stderr
    (w,) = warnings(r.stderr)
    assert "the remote cache s3://***@b" in w, w
    assert "Parameter validation failed: Invalid bucket name \"***@b" in w, w
    assert PASSWORD not in r.stdout + r.stderr and "AKIAXXXXXXXXXXXX" not in r.stdout + r.stderr


def test_json_documents_and_the_run_history_hold_no_credentials(root, closed_port):
    url = f"https://alice:{PASSWORD}@127.0.0.1:{closed_port}/cache"
    r = cli("--json", "--remote", url, "--remote-timeout", "2", "--remote-option", f"password={TOKEN}",
            cwd=root, env=env(ASSETBUILD_CACHE_KEY="k3y"), timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["status"] == "built"
    assert PASSWORD not in r.stdout + r.stderr and TOKEN not in r.stdout + r.stderr
    runs = cli("runs", "--json", cwd=root, env=env())
    (run,) = json.loads(runs.stdout)["runs"]
    assert run["command"].endswith(f"--remote https://***@127.0.0.1:{closed_port}/cache --remote-timeout 2 "
                                   "--remote-option password=***"), run["command"]
    shown = cli("runs", "show", run["run"], cwd=root, env=env())
    assert shown.returncode == 0 and "https://***@127.0.0.1" in shown.stdout, shown.stdout
    for out in (runs.stdout, shown.stdout):
        assert PASSWORD not in out and TOKEN not in out


def test_a_malformed_url_is_refused_without_its_credentials(root):
    r = cli("--remote", f"s3:/AKIAXXXX:{PASSWORD}@bucket/p", cwd=root, env=env(ASSETBUILD_CACHE_KEY="k3y"))
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("assetbuild: error: --remote s3:/***@bucket/p: a URL's scheme is followed by '://' "
                        "(did you mean s3://***@bucket/p?); a folder is a path or file:///path\n")
