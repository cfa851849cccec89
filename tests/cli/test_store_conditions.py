"""The cache index under real adverse conditions: an address-space limit (``ulimit -v``), a
read-only mount, a user without permission, a full disk, two builds in one process. None of
these is damage: the index is never moved aside, every error is one clear line, and read
commands work on a cache they cannot write."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from projects import clean_env

import assetbuild

PIPE = """\
from assetbuild import asset


@asset(io="json")
def numbers():
    return [1, 2, 3]


@asset(io="json")
def total(numbers):
    return sum(numbers)
"""


def run(*args: str, cwd: Path, limit_mb: int | None = None, user: bool = False, env=None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real command; ``limit_mb`` sets RLIMIT_AS (``ulimit -v``) in the child, ``user`` runs
    it as the unprivileged user nobody (root ignores file modes)."""
    cmd = [sys.executable, "-m", "assetbuild", *args]
    if user:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]

    def limit() -> None:
        if limit_mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))

    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env or clean_env(),
                          timeout=timeout, preexec_fn=limit)


def one_line(r: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("assetbuild: error")]
    assert len(lines) == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def moved_aside(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("db.*"))


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "AssetFile").write_text(PIPE)
    r = run(cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path


# --- ulimit -v -----------------------------------------------------------------------------

def test_an_address_space_limit_is_not_damage(proj):
    """The index maps 1 GiB of address space; under ``ulimit -v 300M`` that fails with ENOMEM.
    The old code took it for damage and moved the healthy index aside (then gc deleted it)."""
    for args in (["status"], ["build"], ["show", "total"], ["cache", "stats", "--json"]):
        r = run(*args, cwd=proj, limit_mb=300)
        assert r.returncode == 0, (args, r.stderr)
        assert "damaged" not in r.stderr, r.stderr
    assert "fresh   total" in run("status", cwd=proj, limit_mb=300).stdout
    assert "0 built, 2 cached" in run(cwd=proj, limit_mb=300).stdout
    assert moved_aside(proj / ".assetbuild") == []


def test_an_index_too_large_for_the_address_space_is_one_line(proj):
    """A data file larger than the address space left (sparse, 400 MiB) cannot be mapped at all:
    one line naming the limit, exit 2, and the index stays where it is."""
    data = proj / ".assetbuild" / "db" / "data.mdb"
    with open(data, "r+b") as f:
        f.truncate(400 << 20)  # LMDB's free tail: a valid index
    assert run("status", cwd=proj).returncode == 0
    for args in (["status"], ["build"]):  # (a build the snapshot answers never maps the index)
        one_line(run(*args, cwd=proj, limit_mb=300, env=clean_env(ASSETBUILD_SNAPSHOT="0")), 2,
                 "not enough memory or address space", "ulimit -v")
    assert moved_aside(proj / ".assetbuild") == [] and data.stat().st_size == 400 << 20
    assert "0 built, 2 cached" in run(cwd=proj).stdout


# --- a read-only mount ---------------------------------------------------------------------

@contextlib.contextmanager
def tmpfs(where: Path, size: str = "16m"):
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True, capture_output=True)


def test_read_commands_work_on_a_read_only_mount(proj, tmp_path):
    with tmpfs(tmp_path / "mnt") as mnt:
        cache = mnt / "cache"
        env = clean_env(ASSETBUILD_CACHE_DIR=str(cache))
        assert run(cwd=proj, env=env).returncode == 0
        remount(mnt, "ro")
        try:
            r = run("status", cwd=proj, env=env)
            assert r.returncode == 0 and "fresh   total" in r.stdout and "damaged" not in r.stderr, r.stderr
            r = run("show", "total", cwd=proj, env=env)
            assert r.returncode == 0 and r.stdout.strip() == "6", r.stderr
            assert run("graph", cwd=proj, env=env).returncode == 0
            r = run("cache", "stats", "--json", cwd=proj, env=env)
            assert r.returncode == 0 and json.loads(r.stdout)["assets"] == 2, r.stderr
            r = run("cache", "verify", cwd=proj, env=env)
            assert r.returncode == 0, r.stderr
            r = run("why", "total", cwd=proj, env=env)
            assert r.returncode == 0, r.stderr
            assert run("build", "--dry-run", cwd=proj, env=env).returncode == 0
            for args in (["cache", "gc", "-n", "--max-size", "0"], ["clean", "-n"], ["clean", "-n", "--outputs"]):
                r = run(*args, cwd=proj, env=env)  # a dry run only reads
                assert r.returncode == 0 and "would" in r.stdout + r.stderr, (args, r.stdout, r.stderr)
            # a build must write: one line saying why
            one_line(run("build", "--force", cwd=proj, env=env), 2, "read-only file system", str(cache))
            for args in (["clean", "--yes"], ["clean", "--keep-outputs", "--yes"]):  # it cannot delete
                one_line(run(*args, cwd=proj, env=env), 2, "read-only file system", str(cache))
        finally:
            remount(mnt, "rw")
        assert moved_aside(cache) == []
        r = run(cwd=proj, env=env)
        assert r.returncode == 0 and "0 built, 2 cached" in r.stdout, r.stdout + r.stderr


# --- no permission ---------------------------------------------------------------------------

def test_a_cache_this_user_may_not_write(tmp_path):
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run a command as the unprivileged user nobody")
    probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
                            "-c", "import assetbuild"], capture_output=True, text=True, env=clean_env())
    if probe.returncode != 0:  # (a Python whose files only root may read: one under /root)
        pytest.skip(f"the user nobody cannot run this Python with assetbuild: {probe.stderr.strip()[-200:]}")
    root = Path(tempfile.mkdtemp(prefix="ab-perm-", dir="/tmp"))
    try:
        root.chmod(0o755)
        (root / "AssetFile").write_text(PIPE)
        assert run(cwd=root).returncode == 0  # as root: the cache belongs to root, 0755/0644
        r = run("status", cwd=root, user=True)
        assert r.returncode == 0 and "fresh   total" in r.stdout, r.stdout + r.stderr
        r = run("show", "total", cwd=root, user=True)
        assert r.returncode == 0 and r.stdout.strip() == "6", r.stderr
        one_line(run("build", "--force", cwd=root, user=True), 2, "no permission to write",
                 str(root / ".assetbuild"))
        one_line(run("clean", "--yes", cwd=root, user=True), 2, "no permission to write",
                 str(root / ".assetbuild"))
        assert (root / ".assetbuild" / "STORE").exists()
        assert moved_aside(root / ".assetbuild") == []
        assert "0 built, 2 cached" in run(cwd=root).stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- a full disk -------------------------------------------------------------------------------

MANY = """\
from assetbuild import asset

for i in range(40):
    def make(i=i):
        return bytes([i]) * 50_000  # inline in the index (below 64 KiB)
    make.__name__ = f"chunk{i}"
    asset(io="bytes", name=f"chunk{i}")(make)
"""


def test_a_full_disk_when_the_index_grows_says_so(tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "AssetFile").write_text(MANY)
    with tmpfs(tmp_path / "small", size="1m") as mnt:
        cache = mnt / "cache"
        r = run(cwd=proj, env=clean_env(ASSETBUILD_CACHE_DIR=str(cache)))
        line = one_line(r, 2, "no space left on device", str(cache))
        assert "Input/output error" not in line
        assert moved_aside(cache) == []
        # a large output (a file under cas/) that does not fit: named the same way, no temp left
        (proj / "AssetFile").write_text('from assetbuild import asset\n\n\n@asset(io="bytes")\n'
                                        'def huge():\n    return b"z" * 3_000_000\n')
        r = run(cwd=proj, env=clean_env(ASSETBUILD_CACHE_DIR=str(cache)))
        one_line(r, 2, "no space left on device", str(cache / "cas"))
        assert not [p for p in (cache / "cas").rglob("*") if p.is_file()]


def test_a_full_disk_in_the_project_fails_the_asset_not_the_build(tmp_path):
    """Exit statuses: a cache that cannot be written is 2 (above); a disk that fills where an
    asset writes (its path output, or a file of its own) fails that asset: 1, as any failure."""
    with tmpfs(tmp_path / "small", size="1m") as proj:
        (proj / "AssetFile").write_text(
            'from pathlib import Path\nfrom assetbuild import asset\n\n\n'
            '@asset(io="bytes", path="out/big.bin")\ndef big():\n    return b"z" * 1_500_000\n\n\n'
            '@asset(io="json")\ndef side():\n    Path(__file__).with_name("side.bin").write_bytes(b"z" * 1_500_000)\n'
            '    return 1\n\n\n@asset(io="json")\ndef fine():\n    return 2\n')
        env = clean_env(ASSETBUILD_CACHE_DIR=str(tmp_path / "cache"))
        r = run("build", "-k", "--json", cwd=proj, env=env)
        assert r.returncode == 1, (r.stdout, r.stderr)
        by = {x["asset"]: x for x in json.loads(r.stdout)["results"]}
        assert by["fine"]["status"] == "built"
        assert by["big"]["status"] == "failed" and "cannot write its output out/big.bin: No space left on device" \
            in by["big"]["error"]
        assert by["side"]["status"] == "failed" and "No space left on device" in by["side"]["error"]


def test_gc_on_a_full_disk_says_what_it_dropped_before_the_compaction_failed(tmp_path):
    """gc commits its drops, then compacts the index into a copy: a disk too full for the copy
    is an error (the space did not all come back) that says the drops stand, not a hint to
    run the very command that failed."""
    proj = tmp_path / "p"
    proj.mkdir()
    with tmpfs(tmp_path / "small", size="16m") as mnt:
        env = clean_env(ASSETBUILD_CACHE_DIR=str(mnt / "cache"))
        for version in range(3):  # three versions of each: two of them are no asset's latest build
            (proj / "AssetFile").write_text(MANY.replace("bytes([i])", f"bytes([i + {version}])"))
            assert run(cwd=proj, env=env).returncode == 0
        st = os.statvfs(mnt)
        (mnt / "fill").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - (300 << 10)))
        line = one_line(run("cache", "gc", "--max-size", "0", cwd=proj, env=env), 2,
                        "gc dropped 80 of 120 entries", "no space left on device", "what gc dropped is gone")
        assert "cache gc shrinks" not in line
        (mnt / "fill").unlink()
        r = run("cache", "gc", "--max-size", "0", cwd=proj, env=env)
        assert r.returncode == 0 and r.stdout.startswith("dropped 0 of 40 entries"), r.stdout + r.stderr
        assert "40 cached" in run(cwd=proj, env=env).stdout


# --- two builds in one process ----------------------------------------------------------------

SLOW = """\
import time
from assetbuild import asset


@asset(io="json")
def left():
    time.sleep(0.3)
    return "left"


@asset(io="json")
def right():
    time.sleep(0.3)
    return "right"
"""


def test_two_threads_building_one_project_lose_nothing(tmp_path):
    """Builds from two threads of the API take turns and both are recorded; a status from a third
    thread meanwhile reads the same index. The old code opened LMDB twice in the process ("already
    open in this process"), took that for damage and moved the first build's index aside."""
    (tmp_path / "AssetFile").write_text(SLOW)
    for _trial in range(3):
        shutil.rmtree(tmp_path / ".assetbuild", ignore_errors=True)
        _two_builds_and_a_status(tmp_path)


def _two_builds_and_a_status(root: Path) -> None:
    import io

    from assetbuild.output import Reporter

    err = io.StringIO()
    results: dict[str, object] = {}
    statuses: list[object] = []
    stop = threading.Event()

    def build(name: str) -> None:
        try:
            results[name] = assetbuild.build([name], project_dir=root, reporter=Reporter(err=err))
        except BaseException as e:  # noqa: BLE001 - reported by the assertions below
            results[name] = e

    def read_status() -> None:
        while not stop.is_set():
            try:
                rows = assetbuild.status(project_dir=root, reporter=Reporter(err=err))
                statuses.append({s.asset: s.state for s in rows})
            except BaseException as e:  # noqa: BLE001
                statuses.append(e)

    threads = [threading.Thread(target=build, args=(n,)) for n in ("left", "right")]
    reader = threading.Thread(target=read_status)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stop.set()
    reader.join(60)
    for name in ("left", "right"):
        r = results[name]
        assert not isinstance(r, BaseException), r
        assert r.ok and r.names("built") == [name]
    assert statuses and not [s for s in statuses if isinstance(s, BaseException)], statuses
    assert "damaged" not in err.getvalue() and "already open" not in err.getvalue(), err.getvalue()
    assert moved_aside(root / ".assetbuild") == []
    r = assetbuild.build(project_dir=root)
    assert r.names("built") == [] and sorted(r.names("cached")) == ["left", "right"]
    assert assetbuild.load_value("left", project_dir=root) == "left"


# --- outputs= where they cannot go, and a cache without an inode ----------------------------------

GEN = """\
from assetbuild import asset


@asset(outputs=["gen/"])
def train(context):
    d = context.out("gen/")
    d.mkdir(parents=True, exist_ok=True)
    (d / "f.txt").write_bytes(b"V" * 100_000)
"""


@contextlib.contextmanager
def immutable(where: Path):
    r = subprocess.run(["chattr", "+i", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot chattr +i here (needs root and a file system that has it): {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["chattr", "-i", str(where)], capture_output=True)


def test_an_outputs_file_that_cannot_be_put_in_place_is_named_as_declared(tmp_path):
    """gen/ on a read-only mount, or immutable: the asset fails naming gen/f.txt, not the temp
    file beside it or its staged copy in the cache; ``status`` repeats the same line."""
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "AssetFile").write_text(GEN.replace("V", "1"))
    assert run(cwd=proj).returncode == 0
    (proj / "AssetFile").write_text(GEN.replace("V", "2"))
    with tmpfs(proj / "gen"):  # (another file system: the file is copied beside, then renamed)
        (proj / "gen" / "f.txt").write_bytes(b"old")
        remount(proj / "gen", "ro")
        r = run(cwd=proj)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert "FAILED    train: cannot write its output gen/f.txt: Read-only file system" in r.stderr, r.stderr
    assert "failed: cannot write its output gen/f.txt: Read-only file system" in run("status", cwd=proj).stdout
    with immutable(proj / "gen"):  # (the same file system: a rename from the staging directory)
        r = run(cwd=proj)
    assert "FAILED    train: cannot write its output gen/f.txt: Operation not permitted" in r.stderr, r.stderr
    assert run(cwd=proj).returncode == 0 and (proj / "gen" / "f.txt").read_bytes() == b"2" * 100_000


def test_a_blob_directory_that_cannot_be_made_is_the_caches_error(tmp_path):
    """The files an asset wrote are stored before they are put in place: a blob directory the
    cache cannot make is the cache's error (exit 2, naming it), not the asset's output."""
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "AssetFile").write_text(GEN.replace("V", "1"))
    assert run(cwd=proj).returncode == 0
    (proj / "AssetFile").write_text(GEN.replace("V", "2"))
    cas = proj / ".assetbuild" / "cas"
    with immutable(cas):
        line = one_line(run(cwd=proj), 2, f"cannot write a blob to {cas}", "Operation not permitted")
    assert "its output" not in line
    assert run(cwd=proj).returncode == 0 and (proj / "gen" / "f.txt").read_bytes() == b"2" * 100_000


def test_no_inode_left_for_a_staging_directory_is_one_line(tmp_path):
    """A tmpfs whose inodes are used up: the staging directory of an ``outputs=`` asset cannot
    be made, which is the cache's error (exit 2, one line: space is left, inodes are not), not
    a traceback; the next build, with inodes again, builds it."""
    with tmpfs(tmp_path / "small", size="16m") as mnt:
        subprocess.run(["mount", "-o", "remount,nr_inodes=300", str(mnt)], check=True, capture_output=True)
        proj = mnt / "p"
        proj.mkdir()
        (proj / "AssetFile").write_text(GEN.replace("V", "1"))
        assert run(cwd=proj).returncode == 0
        (proj / "AssetFile").write_text(GEN.replace("V", "2"))
        fill = mnt / "fill"
        fill.mkdir()
        i = 0
        with contextlib.suppress(OSError):
            while os.statvfs(mnt).f_favail > 0:
                (fill / str(i)).touch()
                i += 1
        one_line(run(cwd=proj), 2, "cannot make a staging directory in", "no space left on device",
                 "but no free inode")
        shutil.rmtree(fill)
        assert run(cwd=proj).returncode == 0 and (proj / "gen" / "f.txt").read_bytes() == b"2" * 100_000


EAGER = 'from assetbuild import asset\n\n\n@asset(io="json", auto="eager")\ndef a():\n    return 1\n'


def test_run_that_cannot_write_its_lock_is_one_line(tmp_path):
    """The first ``run`` in a cache directory it may not create files in (immutable here; no
    inode left is the same): one line naming the lock, exit 2, not a traceback. On a full
    disk the lock is taken all the same (its pid is only for another run's message)."""
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "AssetFile").write_text(EAGER)
    assert run(cwd=proj).returncode == 0
    cache = proj / ".assetbuild"
    with immutable(cache):
        one_line(run("run", "--once", cwd=proj), 2, f"cannot write the run lock {cache}/run-", "Operation not permitted")
    with tmpfs(tmp_path / "small", size="4m") as mnt:
        env = clean_env(ASSETBUILD_CACHE_DIR=str(mnt / "cache"))
        assert run(cwd=proj, env=env).returncode == 0
        st = os.statvfs(mnt)
        with contextlib.suppress(OSError), open(mnt / "fill", "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize))
        r = run("run", "--once", cwd=proj, env=env)
        assert "Traceback" not in r.stderr, r.stderr
        if r.returncode != 0:  # (what the tick records may not fit either: that is the cache's error)
            one_line(r, 2, "no space left on device")
        (mnt / "fill").unlink()
        assert run("run", "--once", cwd=proj, env=env).returncode == 0


def test_partitions_add_that_cannot_write_its_keys_is_one_line(tmp_path):
    """``partitions add/remove`` whose ``partition-keys.json`` cannot be replaced (immutable, or in
    an immutable cache directory; a full disk is the same): one line naming it, exit 2, and the
    keys as they were (it was a traceback, exit 1)."""
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "AssetFile").write_text('from assetbuild import asset, DynamicPartitions\n\n\n'
                                    '@asset(partitions=DynamicPartitions("custs"), io="json")\n'
                                    'def cust(context):\n    return context.partition_key\n')
    assert run("partitions", "add", "custs", "a", cwd=proj).returncode == 0
    keys = proj / ".assetbuild" / "partition-keys.json"
    for where in (keys, keys.parent):
        with immutable(where):
            for verb in ("add", "remove"):
                one_line(run("partitions", verb, "custs", "b" if verb == "add" else "a", cwd=proj), 2,
                         f"partitions {verb} custs: nothing was changed, as {keys} cannot be written",
                         "Operation not permitted")
        assert run("partitions", "list", "cust", cwd=proj).stdout.split() == ["a"]
    assert run("partitions", "add", "custs", "b", cwd=proj).returncode == 0
    assert run("partitions", "list", "cust", cwd=proj).stdout.split() == ["a", "b"]


def test_gc_that_cannot_move_the_index_aside_is_one_line(tmp_path):
    """db/ a mount point of its own (a volume: renaming it is EBUSY): gc drops what it drops,
    then says in one line that it cannot swap in the compacted copy, exit 2, and leaves no
    ``db.compact-*`` behind (it was a traceback, exit 1, and the copy stayed)."""
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "AssetFile").write_text('from assetbuild import asset\n\n\n@asset(io="bytes")\ndef a():\n'
                                    '    return b"v1" * 300_000\n')
    assert run(cwd=proj).returncode == 0
    (proj / "AssetFile").write_text((proj / "AssetFile").read_text().replace("v1", "v2"))
    assert run(cwd=proj).returncode == 0
    db = proj / ".assetbuild" / "db"
    saved = tmp_path / "saved"
    shutil.copytree(db, saved)
    with tmpfs(db, size="20m"):
        for f in saved.iterdir():
            shutil.copy2(f, db / f.name)
        one_line(run("cache", "gc", "--max-size", "0", cwd=proj), 2, "gc dropped 1 of 2 entries",
                 f"cannot compact the cache index at {db}: it cannot be moved aside", "Device or resource busy",
                 "what gc dropped is gone")
        assert sorted(p.name for p in db.parent.glob("db*")) == ["db"]
        r = run(cwd=proj)
        assert r.returncode == 0 and "0 built, 1 cached" in r.stdout, r.stdout + r.stderr
        assert run("cache", "verify", cwd=proj).returncode == 0


def test_gc_on_a_full_disk_frees_what_it_drops(tmp_path):
    """A disk with no byte left and an older 1.2 MB value gc would drop: the index cannot grow
    by the pages its drops take, so gc deletes the files it frees first and then records the
    drops (it freed nothing and said to run gc). The cache verifies, and builds find it whole."""
    with tmpfs(tmp_path / "small", size="8m") as mnt:
        proj = mnt / "p"
        proj.mkdir()
        (proj / "AssetFile").write_text('from assetbuild import asset\n\n\n@asset(io="bytes")\ndef a():\n'
                                        '    return b"v1" * 600_000\n')
        assert run(cwd=proj).returncode == 0
        (proj / "AssetFile").write_text((proj / "AssetFile").read_text().replace("v1", "v2"))
        assert run(cwd=proj).returncode == 0
        st = os.statvfs(mnt)
        with contextlib.suppress(OSError), open(mnt / "fill", "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize))
        assert os.statvfs(mnt).f_bavail == 0
        r = run("cache", "gc", "--max-size", "0", cwd=proj)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("dropped 1 of 2 entries and 1 blobs"), r.stdout
        assert os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize > 1_000_000
        (mnt / "fill").unlink()
        assert run("cache", "verify", cwd=proj).returncode == 0
        r = run(cwd=proj)
        assert r.returncode == 0 and "0 built, 1 cached" in r.stdout, r.stdout + r.stderr


# --- a failing disk ------------------------------------------------------------------------

def test_files_the_disk_cannot_read_are_one_line_each(tmp_path):
    """A file whose inode fails its checksum (ext4 says EBADMSG, as a failing disk says EIO):
    the cache directory's checks, the index, the AssetFile or an output ended every command in a
    raw traceback, exit 1. Now one line naming the file, exit 2. Needs root, mkfs.ext4, debugfs."""
    img, mnt = tmp_path / "disk.img", tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4") or not shutil.which("debugfs"):
        pytest.skip("needs root, mkfs.ext4 and debugfs")
    for rel in (".assetbuild", ".assetbuild/db/data.mdb", "AssetFile", "out.txt"):
        img.unlink(missing_ok=True)
        subprocess.run(["truncate", "-s", "32M", str(img)], check=True)
        subprocess.run(["mkfs.ext4", "-q", str(img)], check=True)
        if subprocess.run(["mount", "-o", "loop", str(img), str(mnt)], capture_output=True).returncode:
            pytest.skip("cannot mount a loop device here")
        try:
            p = mnt / "p"
            p.mkdir()
            (p / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='text', path='out.txt')\n"
                                         "def a():\n    return 'x'\n")
            assert run(cwd=p).returncode == 0
            ino = os.lstat(p / rel).st_ino
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
        subprocess.run(["debugfs", "-w", "-R", f"sif <{ino}> checksum 0x1234", str(img)], check=True,
                       capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(img), str(mnt)], check=True)
        try:
            for args in (["build"], ["status"]):
                one_line(run(*args, cwd=mnt / "p"), 2, f"{mnt / 'p' / rel}: Bad message: the disk or its file "
                         "system reports a fault")
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
