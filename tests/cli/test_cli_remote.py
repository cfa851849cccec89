"""The real `assetbuild` command with a remote cache: a file:// folder and moto's S3 server on
loopback (started by the test, reached by the subprocess through AWS_ENDPOINT_URL)."""

from __future__ import annotations

import json
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest
from projects import clean_env, cli, run_counter, take_runs

ASSETFILE = """\
from assetbuild import asset, source

raw = source("raw", "raw.txt")
""" + run_counter() + """

@asset(io="json")
def numbers(raw):
    _ran("numbers")
    return [int(x) for x in raw.read_text().split()]


@asset(io="bytes")
def blob(numbers):
    _ran("blob")
    return bytes(numbers) * 50000


@asset(io="text", path="out/total.txt")
def total(numbers, blob):
    _ran("total")
    return f"{sum(numbers)} {len(blob)}"
"""


@pytest.fixture
def make(tmp_path):
    n = iter(range(100))

    def checkout() -> Path:
        root = tmp_path / f"co{next(n)}"
        root.mkdir()
        (root / "AssetFile").write_text(ASSETFILE)
        (root / "raw.txt").write_text("1 2 3")
        return root

    return checkout


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    e = clean_env(AB_RUNS=str(tmp_path / "runs"), ASSETBUILD_CACHE_KEY="k3y", **extra)
    for k in ("ASSETBUILD_REMOTE", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        e.pop(k, None)
    e.update(extra)
    return e


def warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("warning:")]


def test_file_remote_fresh_checkout_runs_nothing(make, tmp_path):
    e = env(tmp_path, ASSETBUILD_REMOTE=f"file://{tmp_path / 'shared'}")
    r = cli(cwd=make(), env=e)
    assert r.returncode == 0, r.stderr
    assert "3 built" in r.stdout and take_runs(tmp_path / "runs") == {"blob": 1, "numbers": 1, "total": 1}
    b = make()
    r = cli("--json", cwd=b, env=e)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {x["status"] for x in doc["results"]} == {"restored"}
    assert take_runs(tmp_path / "runs") == {} and warnings(r.stderr) == []
    assert (b / "out/total.txt").read_text() == "6 150000"
    r = cli("show", "numbers", "--json", cwd=b, env=e)
    assert json.loads(r.stdout) == [1, 2, 3]


def test_no_key_says_so_once(make, tmp_path):
    e = env(tmp_path)
    del e["ASSETBUILD_CACHE_KEY"]
    r = cli("--remote", f"file://{tmp_path / 'shared'}", cwd=make(), env=e)
    assert r.returncode == 0, r.stderr
    (w,) = warnings(r.stderr)
    assert "no key is set" in w and "--trust-remote-unsigned" in w
    assert not (tmp_path / "shared").exists()


def test_bad_remote_option_is_a_usage_error(make, tmp_path):
    r = cli("--remote", "file:///tmp/x", "--remote-option", "novalue", cwd=make(), env=env(tmp_path))
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr


def s3_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    return env(tmp_path, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")


def _bucket(endpoint: str) -> str:
    import boto3

    name = f"b{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket=name)
    return name


def _keys(endpoint: str, bucket: str) -> list[str]:
    import boto3

    c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                     region_name="us-east-1")
    return [o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_s3_read_only_then_writer_then_fresh_checkout(make, tmp_path, s3_server):
    bucket = _bucket(s3_server)
    url = f"s3://{bucket}/ci"
    e = s3_env(tmp_path, s3_server)
    # a pull request: read-only, nothing there yet, nothing uploaded
    r = cli("--remote", url, "--remote-read-only", cwd=make(), env=e)
    assert r.returncode == 0 and warnings(r.stderr) == [], r.stderr
    assert _keys(s3_server, bucket) == []
    take_runs(tmp_path / "runs")
    # the main branch: writes
    r = cli("build", "--remote", url, cwd=make(), env=e)
    assert r.returncode == 0, r.stderr
    assert len([k for k in _keys(s3_server, bucket) if "/records/" in k]) == 3
    take_runs(tmp_path / "runs")
    # a fresh checkout elsewhere, read-only: everything from the server, nothing runs
    b = make()
    r = cli("-v", "--remote", url, "--remote-read-only", cwd=b, env=e)
    assert r.returncode == 0, r.stderr
    assert "0 built, 0 cached, 3 restored" in r.stdout
    assert "remote cache: 3 hits" in r.stdout
    assert take_runs(tmp_path / "runs") == {}
    assert (b / "out/total.txt").read_text() == "6 150000"


def test_s3_server_down_one_warning(make, tmp_path, s3_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    e = s3_env(tmp_path, f"http://127.0.0.1:{port}")
    r = cli("--remote", "s3://cache/x", "--remote-timeout", "1", cwd=make(), env=e, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "3 built" in r.stdout
    (w,) = warnings(r.stderr)
    assert "is unavailable" in w and "building locally" in w


def test_an_upload_the_server_never_answers_ends_with_the_command(make, tmp_path, stalling_server):
    """The command exits within its deadline (--remote-timeout and the bytes to send), with one
    warning: an upload stuck in a write that no request timeout bounds is abandoned, and no
    thread of it keeps the process alive."""
    e = s3_env(tmp_path, f"http://127.0.0.1:{stalling_server.server_address[1]}")
    t0 = time.monotonic()
    r = cli("--remote", "s3://cache/x", "--remote-timeout", "1", cwd=make(), env=e, timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert "3 built" in r.stdout
    assert stalling_server.stalled, "no upload reached the server"
    (w,) = warnings(r.stderr)
    assert "s3://cache/x" in w and ("did not finish in time" in w or "cannot upload" in w), w
    assert took < 30, took


def test_s3_endpoint_and_credentials_as_options(make, tmp_path, s3_server):
    """No AWS variables at all: endpoint and credentials given as fsspec storage options."""
    bucket = _bucket(s3_server)
    e = env(tmp_path)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        e.pop(k, None)
    e["AWS_CONFIG_FILE"] = e["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    opts = ["--remote", f"s3://{bucket}/x", "--remote-option", f"endpoint_url={s3_server}",
            "--remote-option", "key=testing", "--remote-option", "secret=testing"]
    r = cli(*opts, cwd=make(), env=e)
    assert r.returncode == 0 and warnings(r.stderr) == [], r.stderr
    take_runs(tmp_path / "runs")
    r = cli(*opts, "--json", cwd=make(), env=e)
    assert r.returncode == 0 and warnings(r.stderr) == [], r.stderr
    assert {x["status"] for x in json.loads(r.stdout)["results"]} == {"restored"}
    assert take_runs(tmp_path / "runs") == {}


# --- untrusted records, and the keys --------------------------------------------------------------

PLANTED = {"lone-surrogate": json.dumps({"format": 1, "payload": "\ud800", "sig": "0" * 64}).encode(),
           "deep-nesting": b"[" * 200000}


def _plant(folder: Path, raw: bytes) -> int:
    records = [p for p in (folder / "records").rglob("*") if p.is_file()]
    for p in records:
        p.write_bytes(raw)
    return len(records)


def _watch_first_build(cwd: Path, e: dict[str, str], *before: str) -> tuple[int, str, str]:
    """`assetbuild ... watch` until its first build is reported, then Ctrl-C."""
    import queue
    import signal
    import subprocess
    import threading

    proc = subprocess.Popen([sys.executable, "-m", "assetbuild", *before, "watch"], cwd=cwd, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    errors: list[str] = []
    # each pipe read by a thread of its own till the end (communicate() would close stdout under
    # the reader, whose thread then fails)
    readers = [threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True),
               threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)]
    for t in readers:
        t.start()
    try:
        seen = []
        while not any("built" in ln for ln in seen):
            seen.append(lines.get(timeout=60))
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        for t in readers:
            t.join(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(seen), "".join(errors)


@pytest.mark.parametrize("what", sorted(PLANTED))
def test_planted_records_never_crash_build_status_dry_run_or_watch(make, tmp_path, what):
    shared = tmp_path / "shared"
    e = env(tmp_path)
    assert cli("--remote", f"file://{shared}", cwd=make(), env=e).returncode == 0
    assert _plant(shared, PLANTED[what]) == 3
    take_runs(tmp_path / "runs")
    b = make()
    for args in (("-n",), ("status",), ("build", "--remote-read-only")):
        r = cli("--remote", f"file://{shared}", *args, cwd=b, env=e)
        assert "Traceback" not in r.stderr, r.stderr
        assert r.returncode == 0, (args, r.stderr)
        w = warnings(r.stderr)
        assert "malformed record" in w[0], (args, w)
        if args[0] == "build":  # -n and status ask for the first only: downstream keys are then unknown
            assert len(w) == 2 and "2 more entries" in w[1], (args, w)
    assert take_runs(tmp_path / "runs") == {"blob": 1, "numbers": 1, "total": 1}
    c = make()
    rc, out, err = _watch_first_build(c, e, "--remote", f"file://{shared}", "--remote-read-only")
    assert rc == 0 and "Traceback" not in err, err
    assert "malformed record" in err


def test_keygen_pair_signs_and_verifies_and_the_reader_holds_no_secret(make, tmp_path):
    r = cli("cache", "keygen", cwd=tmp_path, env=env(tmp_path))
    assert r.returncode == 0, r.stderr
    pair = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert set(pair) == {"ASSETBUILD_CACHE_SIGNING_KEY", "ASSETBUILD_CACHE_TRUSTED_KEYS"}
    assert pair["ASSETBUILD_CACHE_SIGNING_KEY"].startswith("ed25519-secret:")
    assert pair["ASSETBUILD_CACHE_TRUSTED_KEYS"].startswith("ed25519:")
    derived = cli("cache", "keygen", "--public-of-env", "--json", cwd=tmp_path,
                  env={**env(tmp_path), "ASSETBUILD_CACHE_SIGNING_KEY": pair["ASSETBUILD_CACHE_SIGNING_KEY"]})
    assert json.loads(derived.stdout) == {"signing_key": None, "trusted_key": pair["ASSETBUILD_CACHE_TRUSTED_KEYS"]}

    shared = f"file://{tmp_path / 'shared'}"
    writer = env(tmp_path, ASSETBUILD_CACHE_SIGNING_KEY=pair["ASSETBUILD_CACHE_SIGNING_KEY"])
    del writer["ASSETBUILD_CACHE_KEY"]
    r = cli("--remote", shared, cwd=make(), env=writer)
    assert r.returncode == 0 and warnings(r.stderr) == [], r.stderr
    take_runs(tmp_path / "runs")
    reader = env(tmp_path, ASSETBUILD_CACHE_TRUSTED_KEYS=pair["ASSETBUILD_CACHE_TRUSTED_KEYS"])
    del reader["ASSETBUILD_CACHE_KEY"]
    r = cli("--remote", shared, "--json", cwd=make(), env=reader)
    assert r.returncode == 0 and warnings(r.stderr) == [], r.stderr
    assert {x["status"] for x in json.loads(r.stdout)["results"]} == {"restored"}
    assert take_runs(tmp_path / "runs") == {}


@pytest.mark.parametrize("var,value,expected", [
    ("ASSETBUILD_CACHE_TRUSTED_KEYS", "ed25519:nope", "is not an Ed25519 public key"),
    ("ASSETBUILD_CACHE_TRUSTED_KEYS", "ed25519-secret:" + "A" * 43 + "=", "is a private signing key"),
    ("ASSETBUILD_CACHE_SIGNING_KEY", "ed25519:" + "A" * 43 + "=", "holds a public key"),
])
def test_a_malformed_key_is_one_line_and_exit_2(make, tmp_path, var, value, expected):
    for args in (("build",), ("status",), ("-n",)):
        r = cli("--remote", f"file://{tmp_path / 'shared'}", *args, cwd=make(), env=env(tmp_path, **{var: value}))
        assert r.returncode == 2, (args, r.stderr)
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith(f"assetbuild: error: {var}") and expected in line, line
        assert value.split(":", 1)[1] not in line or len(value) < 20
