"""Sources that are not regular files, through the real command: a FIFO would block a read
forever, /dev/zero never ends, a symlink loop cannot be opened. Each must give one clear line
naming the file, fail the assets that read it like a missing source, and never hang: every command runs
under a timeout, and a hang fails the test. And outputs whose place holds something else: a FIFO
is replaced, a directory holding the user's files is never deleted (the asset fails, -n says so)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from projects import cli

TIMEOUT = 30  # seconds; the commands take about one, a hang never ends

ASSETFILE = """\
from assetbuild import asset, source

raw = source("raw", {path!r})


@asset(io="json")
def reader(raw):
    return 1


@asset(io="json")
def independent():
    return 2
"""


def _block_device() -> str | None:
    for e in os.scandir("/dev"):
        try:
            if stat.S_ISBLK(os.stat(e.path).st_mode):
                return e.path
        except OSError:
            continue
    return None


def fifo(data: Path) -> str:
    os.mkfifo(data / "in.csv")
    return "data/in.csv"


def fifo_in_a_directory(data: Path) -> str:
    (data / "dir" / "sub").mkdir(parents=True)
    (data / "dir" / "a.csv").write_text("1\n")
    os.mkfifo(data / "dir" / "sub" / "pipe")
    return "data/dir/sub/pipe"


def dev_zero(data: Path) -> str:
    (data / "zero").symlink_to("/dev/zero")
    return "data/zero"


def dev_zero_in_a_directory(data: Path) -> str:
    (data / "dir").mkdir()
    (data / "dir" / "zero").symlink_to("/dev/zero")
    return "data/dir/zero"


def socket_file(data: Path) -> str:
    os.mknod(data / "sock", stat.S_IFSOCK | 0o600)
    return "data/sock"


def block_device(data: Path) -> str:
    dev = _block_device()
    if dev is None:
        pytest.skip("no block device in /dev to point at")
    (data / "disk").symlink_to(dev)
    return "data/disk"


def symlink_loop(data: Path) -> str:
    (data / "a").symlink_to("b")
    (data / "b").symlink_to("a")
    return "data/a"


def symlink_loop_in_a_directory(data: Path) -> str:
    (data / "dir").mkdir()
    (data / "dir" / "ok.csv").write_text("1\n")
    (data / "dir" / "self").symlink_to("self")
    return "data/dir/self"


CASES = {  # setup -> (what the message says it is)
    fifo: "FIFO", fifo_in_a_directory: "FIFO", dev_zero: "character device",
    dev_zero_in_a_directory: "character device", socket_file: "socket", block_device: "block device",
    symlink_loop: "symlink loop", symlink_loop_in_a_directory: "symlink loop",
}


@pytest.mark.parametrize("setup", list(CASES), ids=[f.__name__ for f in CASES])
def test_a_source_that_is_not_a_regular_file_fails_its_readers_with_one_line(tmp_path, setup):
    data = tmp_path / "data"
    data.mkdir()
    culprit = setup(data)
    source_path = "data/dir" if culprit.startswith("data/dir/") else culprit
    (tmp_path / "AssetFile").write_text(ASSETFILE.format(path=source_path))
    # The same exit statuses as for a missing source: a build fails, a dry run predicts it, status reports it.
    for args, status in ((["build"], 1), (["build", "-n"], 1), (["status"], 0), (["build", "-k"], 1)):
        try:
            r = cli(*args, cwd=tmp_path, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"assetbuild {' '.join(args)} hung on {culprit}")
        out = r.stdout + r.stderr
        assert r.returncode == status, (args, out)
        assert "Traceback" not in out, (args, out)
        lines = [ln for ln in out.splitlines() if culprit in ln and CASES[setup] in ln]
        assert lines, (args, out)
    assert "independent" in r.stdout  # with -k the rest of the build went on


def test_an_output_replaced_by_a_fifo_is_restored_without_hanging(tmp_path):
    (tmp_path / "AssetFile").write_text(
        'from assetbuild import asset\n\n\n@asset(io="text", path="out/a.txt")\ndef a():\n    return "a\\n"\n')
    assert cli(cwd=tmp_path, timeout=TIMEOUT).returncode == 0
    os.unlink(tmp_path / "out" / "a.txt")
    os.mkfifo(tmp_path / "out" / "a.txt")
    try:
        st = cli("status", cwd=tmp_path, timeout=TIMEOUT)
        r = cli(cwd=tmp_path, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO at an output's path hung the command")
    assert "Traceback" not in st.stdout + st.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "out" / "a.txt").read_text() == "a\n"


IN_THE_WAY = """\
from assetbuild import asset


@asset(outputs=["model.bin"])
def train(context):
    context.out("model.bin").write_bytes(b"MODEL\\n")


@asset(io="text", path="report.txt")
def report():
    return "r\\n"
"""


def test_a_directory_of_the_users_files_in_place_of_an_output_fails_the_asset_and_stays(tmp_path):
    """Both kinds of file output, replaced by a directory holding a file of the user's: -n says
    the asset would fail, the build fails it with one line naming the path (exit 1), the user's
    file stays; emptied, the directory is replaced by the output."""
    (tmp_path / "AssetFile").write_text(IN_THE_WAY)
    assert cli(cwd=tmp_path, timeout=TIMEOUT).returncode == 0
    for rel in ("model.bin", "report.txt"):
        (tmp_path / rel).unlink()
        (tmp_path / rel).mkdir()
        (tmp_path / rel / "notes.txt").write_text("my notes\n")
    why = "a directory that holds other files is in its place, and assetbuild deletes no file it did not write; move it away"
    dry = cli("-n", "-k", cwd=tmp_path, timeout=TIMEOUT)
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert f"would fail    train  (cannot write its output model.bin: {why})" in dry.stdout
    assert f"would fail    report  (cannot write its output report.txt: {why})" in dry.stdout
    r = cli("-k", cwd=tmp_path, timeout=TIMEOUT)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines() == [f"FAILED    train: cannot write its output model.bin: {why}",
                                     f"FAILED    report: cannot write its output report.txt: {why}"]
    for rel in ("model.bin", "report.txt"):
        assert (tmp_path / rel / "notes.txt").read_text() == "my notes\n"
        (tmp_path / rel / "notes.txt").unlink()  # an empty directory: nothing of the user's is lost
    assert "would restore train" in cli("-n", cwd=tmp_path, timeout=TIMEOUT).stdout
    r = cli(cwd=tmp_path, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "model.bin").read_bytes() == b"MODEL\n" and (tmp_path / "report.txt").read_text() == "r\n"
