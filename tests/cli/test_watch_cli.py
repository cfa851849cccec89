"""`assetbuild watch` as a real process: output per rebuild, Ctrl-C and SIGTERM end it with status 0."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from projects import clean_env

PIPE = """\
import time
from pathlib import Path
from assetbuild import asset, source

raw = source("raw", "raw.txt")


@asset(io="json")
def numbers(raw):
    if raw.read_text().startswith("slow"):
        (Path(__file__).parent / "started").write_text("")
        time.sleep(60)
    return [int(x) for x in raw.read_text().split()]


@asset(io="text", path="out/total.txt")
def total(numbers):
    return str(sum(numbers))
"""


class WatchProcess:
    """`assetbuild watch` in a subprocess, its stdout and stderr read line by line."""

    def __init__(self, cwd: Path, *args: str, ignore_sigint: bool = False, env: dict[str, str] | None = None,
                 before: tuple[str, ...] = ()) -> None:
        def preexec() -> None:  # what a non-interactive shell does to a background job
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        self.proc = subprocess.Popen([sys.executable, "-m", "assetbuild", *before, "watch", "--debounce", "30",
                                      *args], cwd=cwd, env=env or clean_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=preexec if ignore_sigint else None)
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: list[tuple[str, str]] = []
        for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name: str, stream) -> None:
        for line in stream:
            self.lines.put((name, line.rstrip("\n")))

    def expect(self, text: str, stream: str = "out", timeout: float = 20) -> str:
        """The next line of ``stream`` containing ``text`` (earlier lines are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {text!r} on std{stream}; seen: {self.seen}")
            try:
                name, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append((name, line))
            if name == stream and text in line:
                return line

    def finish(self, sig: int) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=20)
        time.sleep(0.1)  # let the readers drain the pipes
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        out = "\n".join(line for name, line in self.seen if name == "out")
        err = "\n".join(line for name, line in self.seen if name == "err")
        return rc, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def save(path: Path, text: str) -> None:
    """An atomic save (temp file renamed over the target): one change, however loaded the machine."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "raw.txt").write_text("1 2 3")
    (tmp_path / "AssetFile").write_text(PIPE)
    return tmp_path


@pytest.mark.parametrize("sig,ignored", [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-ignored-at-start"])
def test_rebuilds_on_change_and_stops_cleanly(proj, sig, ignored):
    w = WatchProcess(proj, ignore_sigint=ignored)
    try:
        first = w.expect("first build")
        assert "built numbers, total" in first
        w.expect("watching")
        save(proj / "raw.txt", "1 2 3 4")
        line = w.expect("raw.txt changed")
        assert "built numbers, total" in line and line[:8].count(":") == 2  # HH:MM:SS first
        assert (proj / "out/total.txt").read_text() == "10"
        rc, out, err = w.finish(sig)
    finally:
        w.kill()
    assert rc == 0, (out, err)
    assert f"stopped watching ({signal.Signals(sig).name}) after 2 builds" in out
    assert err == ""  # nothing from watchdog either


def test_ctrl_c_during_a_build_stops_at_once(proj):
    w = WatchProcess(proj)
    try:
        w.expect("watching")
        save(proj / "raw.txt", "slow 1")
        deadline = time.monotonic() + 20
        while not (proj / "started").exists():
            assert time.monotonic() < deadline, w.seen
            time.sleep(0.02)
        t0 = time.monotonic()
        rc, out, err = w.finish(signal.SIGINT)
        assert time.monotonic() - t0 < 10  # the 60 s asset was interrupted
    finally:
        w.kill()
    assert rc == 0, (out, err)
    assert "Traceback" not in err
    # the summary counts the build that finished and says that the next one was interrupted
    assert "stopped watching (SIGINT) after 1 build in " in out and out.endswith("; the next build was interrupted")


def test_ctrl_c_during_the_first_build_says_no_build_finished(proj):
    save(proj / "raw.txt", "slow 1")
    w = WatchProcess(proj)
    try:
        deadline = time.monotonic() + 20
        while not (proj / "started").exists():
            assert time.monotonic() < deadline, w.seen
            time.sleep(0.02)
        rc, out, err = w.finish(signal.SIGINT)
    finally:
        w.kill()
    assert rc == 0, (out, err)
    assert "stopped watching (SIGINT) before a build finished, in " in out, out
    assert "0 builds" not in out and "Traceback" not in err


def test_a_broken_assetfile_keeps_watching_and_recovers(proj):
    good = (proj / "AssetFile").read_text()
    (proj / "AssetFile").write_text(good.replace("def total(numbers):", "def total(numbers:"))
    w = WatchProcess(proj, "total")
    try:
        line = w.expect("first build", stream="err")
        assert "AssetFile:17: syntax error" in line and line.endswith("(still watching)")
        save(proj / "AssetFile", good)
        assert "built numbers, total" in w.expect("AssetFile changed")
        rc, out, err = w.finish(signal.SIGINT)
    finally:
        w.kill()
    assert rc == 0 and "1 failed" in out and "Traceback" not in err


def test_a_module_created_that_shadows_an_import_from_elsewhere_rebuilds(tmp_path):
    """colorsys.py created in the project while the AssetFile imports colorsys: a fresh build
    imports the project's. Watch neither counted the new file nor, holding the standard library's
    colorsys from its first load, would have imported the project's."""
    (tmp_path / "AssetFile").write_text(
        "import colorsys\nfrom assetbuild import asset\n\n\n@asset(io='text', path='out/b.txt')\n"
        "def b():\n    return str(colorsys.ONE_THIRD)\n")
    w = WatchProcess(tmp_path)
    try:
        w.expect("watching", timeout=60)
        (tmp_path / "colorsys.py").write_text("ONE_THIRD = 'shadowed'\n")
        assert "built b" in w.expect("colorsys.py changed", timeout=60)
        rc, out, err = w.finish(signal.SIGINT)
    finally:
        w.kill()
    assert rc == 0 and "Traceback" not in err and "has the name of the module" not in err, err
    assert (tmp_path / "out/b.txt").read_text() == "shadowed"
    r = subprocess.run([sys.executable, "-m", "assetbuild", "status"], cwd=tmp_path, env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["fresh", "b"], (r.stdout, r.stderr)


def test_usage_errors_exit_2(proj):
    r = subprocess.run([sys.executable, "-m", "assetbuild", "watch", "--debounce", "-5"], cwd=proj,
                       env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--debounce" in r.stderr


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
def test_a_selection_that_names_nothing_exits_2_instead_of_watching(proj, json_mode):
    """`watch totl` (a typo) watched on, rebuilding nothing after every save; as for `build`, an
    item that matches nothing is a usage error (a broken AssetFile still keeps it watching)."""
    r = subprocess.run([sys.executable, "-m", "assetbuild", "watch", "totl", *(["--json"] if json_mode else [])],
                       cwd=proj, env=clean_env(), capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.splitlines() == ["assetbuild: error: no asset named 'totl' (did you mean 'total'?)"]
    assert "Traceback" not in r.stderr and "watching" not in r.stdout
    if json_mode:
        import json

        assert json.loads(r.stdout)["ok"] is False


def test_no_assetfile_at_the_start_exits_2_and_one_removed_later_says_the_commands_hint(proj, tmp_path_factory):
    """In a directory without an AssetFile (the wrong one), watch waited for ever, saying
    'pass project_dir= ...', the Python API's hint; it exits 2 as build does. An AssetFile
    removed while watching is reported with the command line's words, and watching goes on."""
    empty = tmp_path_factory.mktemp("empty")  # (not below proj: the AssetFile is searched for upward)
    r = subprocess.run([sys.executable, "-m", "assetbuild", "watch"], cwd=empty, env=clean_env(),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr == (f"assetbuild: error: no AssetFile in {empty} (use -C DIR to run in another directory, "
                        "or -f FILE to name the file)\n")
    assert not (empty / ".assetbuild").exists()
    w = WatchProcess(proj)
    try:
        w.expect("watching")
        (proj / "AssetFile").rename(proj / "AssetFile.away")
        line = w.expect("no AssetFile in", stream="err")
        assert "use -C DIR" in line and "project_dir=" not in line and line.endswith("(still watching)"), line
        (proj / "AssetFile.away").rename(proj / "AssetFile")
        w.expect("AssetFile changed")
        rc, _, _ = w.finish(signal.SIGTERM)
        assert rc == 0
    finally:
        w.kill()


def test_build_options_reach_every_build_remote_included(proj, tmp_path_factory):
    """Options of `build` are options of `watch`: here the remote cache, given before the command,
    and -j with an executor."""
    shared = tmp_path_factory.mktemp("remote") / "shared"
    env = clean_env(ASSETBUILD_CACHE_KEY="k3y")
    env.pop("ASSETBUILD_REMOTE", None)
    w = WatchProcess(proj, "-j", "2", "--executor", "threads", env=env, before=("--remote", f"file://{shared}"))
    try:
        assert "built numbers, total" in w.expect("first build")
        save(proj / "raw.txt", "5")
        assert "built numbers, total" in w.expect("raw.txt changed")
        rc, out, err = w.finish(signal.SIGTERM)
    finally:
        w.kill()
    assert rc == 0 and err == ""
    assert shared.exists() and any(p.is_file() for p in shared.rglob("*"))


def test_json_lines(proj):
    import json

    w = WatchProcess(proj, "--json")
    try:
        first = json.loads(w.expect('"changed": null'))
        assert first["ok"] and [r["status"] for r in first["results"]] == ["built", "built"]
        save(proj / "raw.txt", "7")
        doc = json.loads(w.expect('"changed": ["raw.txt"]'))
        assert doc["ok"] and doc["error"] is None and doc["duration_s"] > 0
        rc, out, err = w.finish(signal.SIGINT)
    finally:
        w.kill()
    assert rc == 0 and err == ""
    assert all(json.loads(line) for line in out.splitlines())  # nothing but JSON on stdout


def test_help_states_the_default_debounce():
    from click.testing import CliRunner

    from assetbuild.cli import cli
    from assetbuild.watch import DEFAULT_DEBOUNCE_MS

    out = CliRunner().invoke(cli, ["watch", "--help"]).output
    assert f"[default: {DEFAULT_DEBOUNCE_MS}]" in " ".join(out.split())


def test_a_folder_deeper_than_the_watcher_walks_is_one_line_not_a_traceback(tmp_path):
    """The file watcher walks the project by recursion where ``os.walk`` recurses (before Python
    3.12): a folder chain past the recursion limit was a RecursionError traceback at start. It is
    one line naming the project, exit 2; where the walk does not recurse, the project is watched."""
    from projects import DEEP, folder_chain

    from assetbuild.dirtree import remove_tree

    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n\n@asset\ndef a():\n    return 1\n")
    folder_chain(tmp_path / "deep", DEEP)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "assetbuild", "watch"], cwd=tmp_path, env=clean_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if sys.version_info < (3, 12):
                out, err = proc.communicate(timeout=60)
                assert proc.returncode == 2 and "Traceback" not in err, err
                assert err == (f"assetbuild: error: cannot watch {tmp_path}: a folder in it is nested deeper than "
                               f"the file watcher can walk on this Python (about {sys.getrecursionlimit()} "
                               "levels); move that folder out of the project\n")
            else:
                lines = [proc.stdout.readline() for _ in range(2)]
                assert lines[1].startswith("watching ."), lines
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        remove_tree(str(tmp_path / "deep"))
