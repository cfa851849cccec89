"""Peak memory of the real command when a remote cache or an archive holds hostile bytes:
sparse multi-GiB blobs and records on a file:// remote, a gzip bomb given to `cache import`.
Each command runs in its own interpreter, which reports its own peak RSS; the bound is 150 MB
above the same command on harmless input."""

from __future__ import annotations

import gzip
import json
import sys
import tarfile
from pathlib import Path

import pytest
from projects import clean_env

ASSETFILE = """\
from assetbuild import asset


@asset(io="bytes")
def big():
    return bytes(range(256)) * 4096          # 1 MiB: a file in the CAS


@asset(io="json")
def small(big):
    return {"n": len(big)}
"""
BOUND_MB = 150
MEASURED = """\
import atexit, resource, sys
atexit.register(lambda: print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
from assetbuild.cli import main
sys.argv = ["assetbuild", *sys.argv[1:]]
main()
"""


def run_measured(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, float, str]:
    """(exit status, peak RSS in MB, stderr) of `assetbuild ARGS` in a fresh interpreter."""
    import subprocess

    r = subprocess.run([sys.executable, "-c", MEASURED, *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=600)
    kb = [int(line.split()[1]) for line in r.stderr.splitlines() if line.startswith("MAXRSS_KB")]
    assert kb, r.stderr
    return r.returncode, kb[-1] / 1024, r.stderr


@pytest.fixture
def project(tmp_path):
    def make(name: str) -> Path:
        root = tmp_path / name
        root.mkdir()
        (root / "AssetFile").write_text(ASSETFILE)
        return root

    return make


def _env(**extra: str) -> dict[str, str]:
    e = clean_env(ASSETBUILD_CACHE_KEY="k3y", **extra)
    e.pop("ASSETBUILD_REMOTE", None)
    return e


@pytest.mark.slow
def test_sparse_gigabyte_blob_and_record_on_the_remote(project, tmp_path):
    shared = tmp_path / "shared"
    url = f"file://{shared}"
    e = _env()
    rc, _, err = run_measured("--remote", url, cwd=project("writer"), env=e)
    assert rc == 0, err
    rc, baseline, err = run_measured("--remote", url, "--remote-read-only", cwd=project("baseline"), env=e)
    assert rc == 0 and "warning" not in err, err
    figures = {"baseline": baseline}

    blobs = [p for p in (shared / "blobs").rglob("*") if p.is_file() and p.stat().st_size > 100_000]
    assert len(blobs) == 1
    with open(blobs[0], "r+b") as f:
        f.truncate(3 << 30)  # the genuine MiB, then 3 GiB of holes
    rc, peak, err = run_measured("--remote", url, "--remote-read-only", cwd=project("blob"), env=e)
    assert rc == 0 and "larger than signed" in err, err
    figures["3 GiB blob"] = peak

    for p in (shared / "records").rglob("*"):
        if p.is_file():
            with open(p, "r+b") as f:
                f.truncate(3 << 30)
    for args in (("--remote-read-only",), ("-n",), ("status",)):
        rc, peak, err = run_measured("--remote", url, *args, cwd=project(f"record{args[0]}"), env=e)
        assert "Traceback" not in err and "record too large" in err, err
        figures[f"3 GiB records, {args[0]}"] = peak
    print("\npeak RSS (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))
    for k, v in figures.items():
        assert v - baseline < BOUND_MB, (k, figures)


def _gzip_bomb(path: Path, member_size: int, *, pax: bool = False) -> None:
    """A .tar.gz whose member (or pax header) is ``member_size`` zero bytes: a few MB on disk."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as gz:
        manifest = json.dumps({"format": "assetbuild-cache-export", "version": 1, "entries": []}).encode()
        info = tarfile.TarInfo("MANIFEST.json")
        info.size = len(manifest)
        gz.write(info.tobuf(tarfile.PAX_FORMAT) + manifest + b"\0" * (-len(manifest) % 512))
        if pax:
            info = tarfile.TarInfo("././@PaxHeader")
            info.type = tarfile.XHDTYPE
        else:
            info = tarfile.TarInfo("blobs/" + "ab" * 32)
        info.size = member_size
        gz.write(info.tobuf(tarfile.USTAR_FORMAT))
        zeros = b"\0" * (1 << 20)
        left = member_size
        while left:
            n = min(left, len(zeros))
            gz.write(zeros[:n])
            left -= n
        gz.write(b"\0" * (-member_size % 512) + b"\0" * 1024)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["member", "pax-header"])
def test_gzip_bomb_given_to_cache_import(project, tmp_path, kind):
    size = 1 << 30
    bomb = tmp_path / "bomb.tar.gz"
    _gzip_bomb(bomb, size, pax=kind == "pax-header")
    assert bomb.stat().st_size < 5 << 20
    harmless = tmp_path / "harmless.tar.gz"
    _gzip_bomb(harmless, 1 << 20)
    e = _env()
    _, baseline, err = run_measured("cache", "import", str(harmless), cwd=project("a"), env=e)
    rc, peak, err = run_measured("cache", "import", str(bomb), cwd=project("b"), env=e)
    assert "Traceback" not in err, err
    if kind == "member":
        assert rc == 1 and "does not match its digest" in err, err
    else:
        assert rc == 2 and "not a readable archive" in err, err
    print(f"\ncache import of a {bomb.stat().st_size / 1e6:.1f} MB .tar.gz ({kind}, {size >> 30} GiB inflated): "
          f"peak RSS {peak:.0f} MB, baseline {baseline:.0f} MB")
    assert peak - baseline < BOUND_MB


LARGE_OUTPUTS = """\
from assetbuild import asset


def make(i):
    @asset(name=f"big{i}", io="bytes", path=f"out/big{i}.bin")
    def big():
        return bytes([i]) * (64 << 20)          # 64 MiB


for i in range(4):
    make(i)
"""


@pytest.mark.slow
def test_a_remote_restore_of_large_outputs_needs_no_more_memory_than_a_local_one(tmp_path):
    """Downloads run concurrently; each large output streams into the local cache rather than
    being held whole (up to 32 at once), so restoring from the remote peaks near a local restore."""
    url = f"file://{tmp_path / 'shared'}"
    e = _env()
    writer = tmp_path / "writer"
    writer.mkdir()
    (writer / "AssetFile").write_text(LARGE_OUTPUTS)
    rc, _, err = run_measured("--remote", url, cwd=writer, env=e)
    assert rc == 0, err
    for p in (writer / "out").iterdir():
        p.unlink()
    rc, local, err = run_measured(cwd=writer, env=e)  # restored from the local cache
    assert rc == 0 and len(list((writer / "out").iterdir())) == 4, err
    reader = tmp_path / "reader"
    reader.mkdir()
    (reader / "AssetFile").write_text(LARGE_OUTPUTS)
    rc, remote, err = run_measured("--remote", url, cwd=reader, env=e)
    assert rc == 0 and "warning" not in err, err
    assert all((reader / "out" / f"big{i}.bin").stat().st_size == 64 << 20 for i in range(4))
    print(f"\npeak RSS (MB) restoring 4 x 64 MiB: local {local:.0f}, remote {remote:.0f}")
    assert remote - local < 100, (local, remote)
