"""`assetbuild cache stats|gc|verify|export|import` through the real command, in subprocesses:
the CI round trip between two checkouts, exit statuses, one-line errors, --json documents."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from projects import clean_env, cli, run_counter, take_runs

from assetbuild.store import LmdbStore

PIPE = """\
from assetbuild import asset, source

raw = source("raw", "raw.txt")
""" + run_counter() + """

@asset(io="json")
def numbers(raw):
    _ran("numbers")
    return [int(x) for x in raw.read_text().split()]


@asset(io="bytes", path="out/big.bin")
def big(numbers):
    _ran("big")
    return bytes(numbers) * 50000


@asset(io="text", path="out/total.txt")
def total(numbers, big):
    _ran("total")
    return f"{sum(numbers)} {len(big)}\\n"
"""


def checkout(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "raw.txt").write_text("4 5 6\n")
    (root / "AssetFile").write_text(PIPE)
    return root


@pytest.fixture
def runlog(tmp_path) -> Path:
    d = tmp_path / "runlog"
    d.mkdir()
    return d


def env_for(runlog: Path, **extra: str) -> dict[str, str]:
    return clean_env(AB_RUNS=str(runlog), ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD="1", **extra)


@pytest.fixture
def built(tmp_path, runlog) -> Path:
    root = checkout(tmp_path / "ci" / "job1" / "src")
    r = cli(cwd=root, env=env_for(runlog))
    assert r.returncode == 0, r.stderr
    assert take_runs(runlog) == {"numbers": 1, "big": 1, "total": 1}
    return root


def test_export_in_one_job_import_in_a_fresh_checkout_runs_nothing(built, runlog, tmp_path):
    env = env_for(runlog)
    archive = tmp_path / "artifact" / "cache.tar"
    archive.parent.mkdir()
    r = cli("cache", "export", str(archive), cwd=built, env=env)
    assert r.returncode == 0, r.stderr
    assert "exported 3 entries, 3 blobs" in r.stdout
    fresh = checkout(tmp_path / "elsewhere" / "job2" / "checkout")  # another path, no .assetbuild
    r = cli("cache", "import", str(archive), "--json", cwd=fresh, env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["entries"], doc["skipped"], doc["rejected_blobs"]) == (3, 0, 0)
    r = cli("--json", cwd=fresh, env=env)
    assert r.returncode == 0, r.stderr
    statuses = {e["asset"]: e["status"] for e in json.loads(r.stdout)["results"]}
    assert statuses == {"numbers": "cached", "big": "restored", "total": "restored"}
    assert take_runs(runlog) == {}  # no asset function ran
    assert (fresh / "out/total.txt").read_text() == "15 150000\n"
    assert (fresh / "out/big.bin").read_bytes() == (built / "out/big.bin").read_bytes()
    r = cli("cache", "stats", "--json", cwd=fresh, env=env)
    st = json.loads(r.stdout)
    assert st["entries"] == 3 and st["last_build"]["hit_rate"] == 1.0 and st["last_build"]["restored"] == 2


def test_export_selection_and_gzip(built, runlog, tmp_path):
    archive = tmp_path / "numbers.tgz"
    r = cli("cache", "export", str(archive), "numbers", "--json", cwd=built, env=env_for(runlog))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["entries"] == 1
    with tarfile.open(archive, "r:gz") as tar:
        assert len(tar.getnames()) == 2
    r = cli("cache", "export", str(archive), "nosuch", cwd=built, env=env_for(runlog))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nosuch" in r.stderr


@pytest.mark.parametrize("name", ["cache.zip", "cache.tar.xz", "cache.tar.zst", "cache"])
def test_export_refuses_a_name_that_is_not_a_tar_archive(built, runlog, tmp_path, name):
    """``cache export x.zip`` wrote a tar archive under a zip's name (and .tar.xz an uncompressed
    one): refused, before anything is written, with exit 2 and one line naming the file and the
    names accepted; the API raises the same error. (Import reads any tar, by content.)"""
    import assetbuild
    from assetbuild.errors import AssetbuildError

    archive = tmp_path / name
    r = cli("cache", "export", str(archive), cwd=built, env=env_for(runlog))
    assert (r.returncode, r.stdout) == (2, ""), r.stderr
    assert r.stderr == (f"assetbuild: error: cannot export to {archive}: the archive is a tar file; "
                        "name it .tar, or .tar.gz or .tgz (gzip)\n")
    with pytest.raises(AssetbuildError, match="the archive is a tar file"):
        assetbuild.export_cache(archive, project_dir=built)
    assert list(tmp_path.glob("cache*")) == []


def test_stats_human_and_json(built, runlog):
    r = cli("cache", "stats", cwd=built, env=env_for(runlog))
    assert r.returncode == 0, r.stderr
    assert "entries     3 (3 latest of 3 assets, 0 older)" in r.stdout
    assert "3 built" in r.stdout and "hit rate 0%" in r.stdout
    cli(cwd=built, env=env_for(runlog))  # a null build: the last build that ran something stays
    doc = json.loads(cli("cache", "stats", "--json", cwd=built, env=env_for(runlog)).stdout)
    assert doc["last_build"]["hit_rate"] == 0.0 and doc["last_build"]["built"] == 3
    assert doc["file_blobs"] == 1 and doc["file_bytes"] == 150000


def test_verify_exit_status_and_the_next_build_repairs(built, runlog):
    env = env_for(runlog)
    r = cli("cache", "verify", cwd=built, env=env)
    assert r.returncode == 0 and "all verified" in r.stdout
    with LmdbStore(built / ".assetbuild", readonly=True) as s:
        dg = s.get_head("big").output_digest
    blob = built / ".assetbuild" / "cas" / dg[:2] / dg[2:]
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0xFF
    blob.write_bytes(bytes(data))
    r = cli("cache", "verify", cwd=built, env=env)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"corrupt  {dg[:12]}" in r.stdout and "(output of big)" in r.stdout
    assert "the next build rebuilds big" in r.stdout
    r = cli("cache", "verify", "--json", cwd=built, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True  # dropped: nothing bad is left
    assert cli(cwd=built, env=env).returncode == 0
    assert take_runs(runlog) == {"big": 1}  # the rebuilt bytes are the same: total is cut off


def test_gc_through_the_command(built, runlog, tmp_path):
    env = env_for(runlog)
    (built / "raw.txt").write_text("7 8\n")
    assert cli(cwd=built, env=env).returncode == 0
    r = cli("cache", "gc", "--older-than", "0", "-n", cwd=built, env=env)
    assert r.returncode == 0 and "would drop 3 of 6 entries" in r.stdout
    r = cli("cache", "gc", "--max-size", "1K", "--json", cwd=built, env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["entries_dropped"] == 3 and doc["output_bytes_freed"] >= 150000
    assert doc["disk_bytes_after"] < doc["disk_bytes_before"]
    r = cli(cwd=built, env=env)
    assert r.returncode == 0 and "0 built, 3 cached" in r.stdout
    assert take_runs(runlog) == {"numbers": 1, "big": 1, "total": 1}  # only the edit's build ran them
    r = cli("cache", "gc", "--max-size", "1K", cwd=built, env=env)  # only latest builds are left
    assert r.returncode == 0 and "dropped 0 of 3 entries" in r.stdout
    assert "latest builds alone take" in r.stdout and "always kept" in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["--max-size", "lots"], "not a size"),
    (["--older-than", "-3"], "--older-than"),
])
def test_gc_usage_errors_are_one_line_exit_2(built, runlog, args, needle):
    r = cli("cache", "gc", *args, cwd=built, env=env_for(runlog))
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_import_of_a_bad_archive_is_one_line_exit_2(built, runlog, tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"\0" * 10 + b"nonsense" * 100)
    r = cli("cache", "import", str(bad), cwd=built, env=env_for(runlog))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("assetbuild: error: cannot import") and r.stderr.count("\n") == 1
    r = cli("cache", "import", str(tmp_path / "missing.tar"), "--json", cwd=built, env=env_for(runlog))
    assert r.returncode == 2 and json.loads(r.stdout) == {"ok": False, "error": f"no such archive: {tmp_path / 'missing.tar'}"}


def _export_edited(built, runlog, tmp_path, edit) -> Path:
    """An export of ``built``'s cache, each member's bytes as ``edit(member, data)`` makes them."""
    import io

    archive = tmp_path / "a.tar"
    assert cli("cache", "export", str(archive), cwd=built, env=env_for(runlog)).returncode == 0
    bad = tmp_path / "bad.tar"
    with tarfile.open(archive) as tin, tarfile.open(bad, "w") as tout:
        for m in tin:
            data = edit(m, tin.extractfile(m).read())
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    return bad


@pytest.mark.parametrize("version", ["true", "0", '"1"'])
def test_import_of_a_manifest_whose_version_is_no_export_version_is_one_line_exit_2(built, runlog, tmp_path, version):
    """0 and true were imported (exit 0), "1" was called newer than version 1."""
    bad = _export_edited(built, runlog, tmp_path, lambda m, data: json.dumps(
        dict(json.loads(data), version=json.loads(version))).encode() if m.name == "MANIFEST.json" else data)
    fresh = checkout(tmp_path / "fresh")
    r = cli("cache", "import", str(bad), cwd=fresh, env=env_for(runlog))
    assert (r.returncode, r.stdout) == (2, ""), r.stderr
    assert r.stderr == (f"assetbuild: error: cannot import {bad}: not an assetbuild cache export (its MANIFEST.json's "
                        f"version is {version}, not a whole number from 1 to 1)\n")
    r = cli("status", "--json", cwd=fresh, env=env_for(runlog))
    assert {a["state"] for a in json.loads(r.stdout)["assets"]} == {"missing"}  # nothing was imported


def test_import_with_a_corrupt_blob_exits_1_and_keeps_the_rest(built, runlog, tmp_path):
    bad = _export_edited(built, runlog, tmp_path, lambda m, data: data[:-1] + b"!" if m.size == 150000 else data)
    fresh = checkout(tmp_path / "fresh")
    r = cli("cache", "import", str(bad), cwd=fresh, env=env_for(runlog))
    assert r.returncode == 1
    assert "imported 2 entries" in r.stdout and "skipping 'big'" in r.stderr
    r = cli("--json", cwd=fresh, env=env_for(runlog))
    assert {e["asset"]: e["status"] for e in json.loads(r.stdout)["results"]} == {
        "numbers": "cached", "big": "built", "total": "restored"}


def test_import_json_says_ok_as_its_exit_status_does(built, runlog, tmp_path):
    """A skipped entry exits 1: the document says ok false, as cache verify's does."""
    bad = _export_edited(built, runlog, tmp_path, lambda m, data: data[:-1] + b"!" if m.size == 150000 else data)
    r = cli("cache", "import", str(bad), "--json", cwd=checkout(tmp_path / "fresh"), env=env_for(runlog))
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert (doc["ok"], doc["skipped"], doc["entries"]) == (False, 1, 2)
    (tmp_path / "good").mkdir()
    good = _export_edited(built, runlog, tmp_path / "good", lambda m, data: data)
    r = cli("cache", "import", str(good), "--json", cwd=checkout(tmp_path / "other"), env=env_for(runlog))
    assert (r.returncode, json.loads(r.stdout)["ok"]) == (0, True)


def test_gc_waits_for_a_running_build_and_says_so(built, runlog, tmp_path):
    """The lock is held until gc has said it waits (no fixed hold: a loaded machine may take
    seconds to start gc), then released; gc must then finish."""
    release = tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time\nfrom assetbuild.store import LmdbStore\n"
         "s = LmdbStore(sys.argv[1]); s.acquire_lock(); print('locked', flush=True)\n"
         "t = time.monotonic()\n"
         "while not os.path.exists(sys.argv[2]) and time.monotonic() - t < 120: time.sleep(0.05)",
         str(built / ".assetbuild"), str(release)], stdout=subprocess.PIPE, text=True, env=env_for(runlog))
    gc = None
    try:
        assert holder.stdout.readline().strip() == "locked"
        gc = subprocess.Popen([sys.executable, "-m", "assetbuild", "cache", "gc"], cwd=built, env=env_for(runlog), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        said = gc.stderr.readline()
        assert "waiting for it to finish" in said, said
        assert gc.poll() is None  # still waiting for the lock
        release.touch()
        out, err = gc.communicate(timeout=120)
        assert gc.returncode == 0, said + err
        assert "dropped" in out
    finally:
        release.touch()
        holder.wait(timeout=30)
        holder.stdout.close()
        if gc is not None and gc.poll() is None:
            gc.kill()
            gc.communicate()


def test_cache_help_and_cache_dir_from_the_environment(built, runlog, tmp_path):
    r = cli("cache", "--help", cwd=built, env=env_for(runlog))
    assert r.returncode == 0
    for cmd in ("stats", "gc", "verify", "export", "import"):
        assert cmd in r.stdout
    assert "cache" in cli("--help", cwd=built, env=env_for(runlog)).stdout
    shared = tmp_path / "shared"
    env = env_for(runlog, ASSETBUILD_CACHE_DIR=str(shared))
    assert cli(cwd=built, env=env).returncode == 0
    doc = json.loads(cli("cache", "stats", "--json", cwd=tmp_path, env=env).stdout)  # no AssetFile needed
    assert doc["cache_dir"] == str(shared) and doc["entries"] == 3
    assert not (tmp_path / ".assetbuild").exists()
