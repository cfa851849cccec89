"""What an asset prints, from the real command: `[asset] line` on stderr like context.log lines,
a failing asset's lines before its FAILED line, `-q` keeping only what it wrote to stderr, and
with `--json` nothing but the JSON document on stdout (also what a subprocess of an asset or C
code writes there), under every executor."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from projects import clean_env, cli, write

ASSETFILE = '''\
import os, subprocess, sys, warnings
from assetbuild import asset


@asset
def talk(context):
    print("Skipping the broken line 3")
    context.log.info("a log line")
    sys.stderr.write("to stderr\\n")
    warnings.warn("careful")
    return 1


@asset
def shell(talk):
    subprocess.run([sys.executable, "-c", "print('from a subprocess')"], check=True)
    os.write(1, b"from the file descriptor\\n")
    return 2


@asset
def fails(shell):
    print("the reason it fails")
    raise ValueError("boom")
'''

EXECUTORS = [("serial", "1"), ("threads", "2"), ("processes", "2")]


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return write(tmp_path / "proj", {"AssetFile": ASSETFILE})


@pytest.mark.parametrize("executor,jobs", EXECUTORS)
def test_json_stdout_holds_the_document_only(proj, executor, jobs):
    r = cli("build", "-k", "--json", "--executor", executor, "-j", jobs, cwd=proj)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)  # the whole of stdout is one document
    assert [x["status"] for x in doc["results"]] == ["built", "built", "failed"]
    err = r.stderr.splitlines()
    for line in ("[talk] Skipping the broken line 3", "[talk] a log line", "[talk] to stderr",
                 "[fails] the reason it fails", "from a subprocess", "from the file descriptor"):
        assert line in err, r.stderr
    assert any(x.startswith("[talk] ") and "UserWarning: careful" in x for x in err)


@pytest.mark.parametrize("executor,jobs", EXECUTORS)
def test_lines_are_prefixed_and_a_failures_lines_come_first(proj, executor, jobs):
    r = cli("build", "-k", "--executor", executor, "-j", jobs, cwd=proj)
    assert r.returncode == 1
    err = r.stderr.splitlines()
    assert "[talk] Skipping the broken line 3" in err and "Skipping" not in r.stdout
    failed = next(i for i, x in enumerate(err) if x.startswith("FAILED    fails"))
    assert err.index("[fails] the reason it fails") < failed


def test_quiet_keeps_what_an_asset_writes_to_stderr(proj):
    r = cli("build", "-k", "-q", cwd=proj)
    assert "[talk] to stderr" in r.stderr.splitlines()
    assert "Skipping" not in r.stderr and "a log line" not in r.stderr


def test_serial_output_appears_while_the_asset_runs(tmp_path):
    """A long-running asset's lines are shown as it prints them, not when it ends."""
    root = write(tmp_path / "proj", {"AssetFile": '''\
import time
from pathlib import Path
from assetbuild import asset


@asset
def slow():
    print("epoch 1 done", flush=True)
    release = Path("release")
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return release.exists()
'''})
    proc = subprocess.Popen([sys.executable, "-m", "assetbuild"], cwd=root, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(proc.stderr.readline()), daemon=True)
        reader.start()
        reader.join(30)
        assert first == ["[slow] epoch 1 done\n"], "the line did not appear while the asset ran"
        (root / "release").write_text("")
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (root / "release").exists()


def test_watch_json_lines_stay_json(tmp_path):
    from test_watch_cli import WatchProcess, save

    root = write(tmp_path / "proj", {"raw.txt": "1", "AssetFile": '''\
import subprocess, sys
from assetbuild import asset, source

raw = source("raw", "raw.txt")


@asset
def n(raw):
    print("reading", raw.name)
    subprocess.run([sys.executable, "-c", "print('noise')"], check=True)
    return int(raw.read_text())
'''})
    w = WatchProcess(root, "--json")
    try:
        json.loads(w.expect('"changed": null'))
        save(root / "raw.txt", "2")
        json.loads(w.expect('"changed": ["raw.txt"]'))
        time.sleep(0.2)
        rc, out, err = w.finish(signal.SIGINT)
    finally:
        w.kill()
    assert rc == 0
    assert all(json.loads(line) for line in out.splitlines())
    assert err.splitlines().count("[n] reading raw.txt") == 2 and "noise" in err


def test_a_breakpoint_in_a_serial_asset_talks_to_the_terminal(tmp_path):
    """The debugger's prompt and answers are its dialogue with the user, not captured output."""
    root = write(tmp_path / "proj", {"AssetFile": '''\
from assetbuild import asset


@asset
def a():
    x = 41
    print("before")
    breakpoint()
    print("after")
    return x + 1
'''})
    env = clean_env()
    env.pop("PYTHONBREAKPOINT", None)
    r = subprocess.run([sys.executable, "-m", "assetbuild"], cwd=root, env=env, input="p x + 1\nc\n",
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "(Pdb) 42" in r.stdout
    assert r.stderr.splitlines() == ["[a] before", "[a] after"]


@pytest.mark.parametrize("args", [("build", "--json"), ("status", "--json"), ("why", "a", "--json"),
                                  ("list", "--json"), ("graph", "--format", "json"), ("show", "a", "--json"),
                                  ("show", "a")])
def test_what_the_assetfile_prints_as_it_loads_never_reaches_stdout(tmp_path, args):
    root = write(tmp_path / "p", {"AssetFile": 'from assetbuild import asset\nprint("loading the AssetFile")\n\n'
                                               '@asset(io="json")\ndef a():\n    return {"x": 1}\n'})
    assert cli("build", "-q", cwd=root).returncode == 0
    r = cli(*args, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "loading the AssetFile" in r.stderr and "loading" not in r.stdout
    if args != ("show", "a"):
        json.loads(r.stdout)  # the whole of stdout is one document
