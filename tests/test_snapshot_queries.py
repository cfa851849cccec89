"""``assetbuild -n`` and ``assetbuild status`` answered from the snapshot: when it proves a null
build, the dry run's one line (nothing would run) and every asset fresh, without loading the
project; on any change, or when status would say more (partitions, policies), the CLI's, which
writes nothing. Real commands in the project of tests/test_snapshot.py."""

from __future__ import annotations

import marshal
import os
from pathlib import Path
from typing import Any

import pytest
from projects import clean_env, cli
from test_snapshot import ASSETFILE, explain, project, settled


@pytest.fixture(autouse=True)
def _answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot answers here (tests/conftest.py has every other test check it instead)."""
    monkeypatch.setenv("ASSETBUILD_CHECK_SNAPSHOT", "0")


def test_the_fast_form_takes_a_dry_run() -> None:
    from assetbuild.entry import fast_form

    assert fast_form(["-n"]) == {"json": False, "quiet": False, "directory": None, "dry_run": True, "status": False,
                                 "select": ()}
    assert fast_form(["build", "--dry-run", "-q"])["dry_run"] is True  # type: ignore[index]
    assert fast_form(["-n", "--json"]) == {"json": True, "quiet": False, "directory": None, "dry_run": True,
                                           "status": False, "select": ()}
    assert fast_form(["build", "-n", "x"])["select"] == ("x",)  # type: ignore[index]  # (assets named)
    assert fast_form(["build", "-n", "x*"]) is None  # (a glob: the CLI's)


DRY = "dry run: 0 of 3 assets would run or be restored; nothing was run or written\n"
FRESH = "fresh   parsed\nfresh   total\nfresh   top\n"
JSON_END = '"would": null, "reasons": []}], "dry_run": true}\n'


@pytest.mark.parametrize("args, said", [(("-n",), DRY), (("build", "-n"), DRY), (("--dry-run",), DRY), (("-n", "-q"), ""),
                                        (("-C", ".", "-n"), DRY), (("-n", "--json"), JSON_END), (("status",), FRESH),
                                        (("status", "--check"), FRESH), (("-C", ".", "status"), FRESH),
                                        (("status", "top", "parsed"), "fresh   parsed\nfresh   top\n"),
                                        (("status", "--check", "total"), "fresh   total\n")])
def test_a_dry_run_or_status_is_answered_with_the_full_paths_output(tmp_path: Path, args: tuple[str, ...],
                                                                     said: str) -> None:
    root = project(tmp_path)
    settled(root)
    out, line, status = explain(root, *args)
    assert line == "snapshot: answers" and status == 0, line
    full = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode)  # (--json: the same document, byte for byte)
    assert out.endswith(said) if said == JSON_END else out == said, out


def test_the_status_of_assets_named_goes_to_the_cli_unless_nothing_changed(tmp_path: Path) -> None:
    """Their lines only (what they need shows with ``+``: the CLI's); a name that is no asset,
    or any change, and the CLI says it (no slice: it is taken for the whole project's status)."""
    root = project(tmp_path)
    settled(root)
    _, line, status = explain(root, "status", "top", ASSETBUILD_CHECK_SNAPSHOT="1")
    assert status == 0 and line == "snapshot: answers (checked against the full path)", line
    r = cli("status", "raw", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    assert r.returncode == 2 and "'raw' is a source" in r.stderr and "a name is not one of the assets" in r.stderr
    (root / "data" / "raw.txt").write_text("1 2 3 4 5\n")
    out, line, status = explain(root, "status", "--check", "top")
    assert line.startswith("snapshot: not used: a source or path output changed") and "loads" not in line, line
    full = cli("status", "--check", "top", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode) and status == 1 and out.startswith("stale   top"), out


def _state(root: Path) -> dict[str, tuple[int, bytes]]:
    cache = root / ".assetbuild"
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(cache.rglob("*"))
            if p.is_file() and p.name not in ("lock", "lock.mdb")}  # (locks: the readers of the index)


def test_a_dry_run_after_a_change_decides_a_slice_and_writes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    (root / "data" / "raw.txt").write_text("1 2 3 4 5\n")
    before = _state(root)
    out, line, status = explain(root, "-n")
    assert line.startswith("snapshot: not used: a source or path output changed"), line
    assert line.endswith("the build loads 3 of the 3 assets, and 0 they read"), line  # (as a build would)
    assert status == 0 and "dry run: 1 of 3 assets would run or be restored (2 more may run" in out, out
    full = cli("-n", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode)
    assert _state(root) == before  # neither the snapshot nor the index was written
    assert "3 built" in cli(cwd=root).stdout  # what it predicted


def test_a_dry_run_with_json_after_a_change_is_the_clis(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    (root / "data" / "raw.txt").write_text("1 2 3 4 5\n")
    out, line, status = explain(root, "-n", "--json")
    assert "the build loads" in line, line
    full = cli("-n", "--json", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode)
    assert status == 0 and '"dry_run": true' in out and '"would": "run"' in out, out


def _wrong_key(results: list) -> None:
    results[0][1] = "0" * 64  # a key the dry run will not find


@pytest.mark.parametrize("args, tamper, said", [(("-n",), _wrong_key, "the dry run"),
                                                (("status",), list.reverse, "status")])  # (another order)
def test_the_check_fails_when_the_snapshot_would_have_answered_wrongly(tmp_path: Path, args: tuple[str, ...],
                                                                        tamper: Any, said: str) -> None:
    root = project(tmp_path)
    settled(root)
    _, line, status = explain(root, *args, ASSETBUILD_CHECK_SNAPSHOT="1")
    assert status == 0 and line == "snapshot: answers (checked against the full path)", line
    results = root / ".assetbuild" / "snapshot.results"
    doc = marshal.loads(results.read_bytes())
    tamper(doc["results"])
    results.write_bytes(marshal.dumps(doc))
    r = cli(*args, cwd=root, env=clean_env(ASSETBUILD_CHECK_SNAPSHOT="1"))
    assert r.returncode != 0 and f"snapshot disagrees with {said}" in r.stderr, r.stderr
    r = cli(*args, cwd=root)  # without the check: answered, as recorded
    assert r.returncode == 0 and ("0 of 3 assets would run" in r.stdout or "fresh   top" in r.stdout), r.stdout


def test_the_fast_form_takes_a_plain_status() -> None:
    from assetbuild.entry import fast_form

    assert fast_form(["status"])["status"] is True  # type: ignore[index]
    assert fast_form(["-C", "p", "status", "--check"])["directory"] == "p"  # type: ignore[index]
    assert fast_form(["status", "top"])["select"] == ("top",)  # type: ignore[index]  # (assets named)
    for other in (["status", "top+"], ["status", "--json"], ["status", "-v"], ["status", "--each-partition"]):
        assert fast_form(other) is None, other


def test_a_status_in_a_terminal_is_colored_as_the_clis(tmp_path: Path) -> None:
    import pty
    import subprocess

    from projects import cli_cmd

    root = project(tmp_path)
    settled(root)
    outs = []
    for mode in ("explain", "0"):
        leader, follower = pty.openpty()
        p = subprocess.Popen(cli_cmd("status"), cwd=root, stdin=follower, stdout=follower, stderr=subprocess.PIPE,
                             env=clean_env(ASSETBUILD_SNAPSHOT=mode))
        os.close(follower)
        _, err = p.communicate(timeout=120)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # (the terminal is closed: all read)
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        outs.append((b"".join(chunks), err, p.returncode))
    (fast, err, status), (full, _, full_status) = outs
    assert b"snapshot: answers" in err and status == full_status == 0, err
    assert fast == full and b"\x1b[32mfresh  \x1b[0m parsed" in fast, fast


def test_a_status_that_would_say_more_is_the_clis(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "AssetFile").write_text(ASSETFILE.replace('@asset(io="json")\ndef top', '@asset(io="json", freshness="1h")\ndef top'))
    os.utime(root / "AssetFile", (1, os.stat(root / "AssetFile").st_mtime - 60))
    settled(root, ASSETBUILD_NOW="2026-03-01T09:00:00Z")
    out, line, status = explain(root, ASSETBUILD_NOW="2026-03-01T09:00:00Z")
    assert line == "snapshot: answers", line  # (the build: a policy changes no key)
    out, line, status = explain(root, "status", ASSETBUILD_NOW="2026-03-01T09:00:00Z")
    assert line == "snapshot: not used: status says more than fresh in this project (partitioned assets, policies)"
    assert status == 0 and "fresh   top" in out, out
    (root / "data" / "raw.txt").write_text("1 2 3 5\n")  # a source changed an hour and a half later
    later = "2026-03-01T10:30:00Z"
    out, line, status = explain(root, "status", "--check", ASSETBUILD_NOW=later)
    assert line.startswith("snapshot: not used: "), line  # (ASSETBUILD_NOW too: a decision may read the clock)
    full = cli("status", "--check", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0", ASSETBUILD_NOW=later))
    assert (out, status) == (full.stdout, full.returncode) and status == 1 and "stale   parsed" in out, out


@pytest.mark.parametrize("change", ["source gone", "output gone", "output edited"])
def test_a_sliced_dry_run_says_what_the_full_one_does(tmp_path: Path, change: str) -> None:
    """A slice predicts as the full dry run does: a restore, a failure (then the full dry run
    says it, and what a build stopping there would not reach, each line once)."""
    root = project(tmp_path)
    settled(root)
    if change == "source gone":
        (root / "data" / "raw.txt").unlink()
    elif change == "output gone":
        (root / "out" / "total.json").unlink()
    else:
        (root / "out" / "total.json").write_text("0")
    out, line, status = explain(root, "-n")
    assert "the build loads" in line, line
    full = cli("-n", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode), out + "---\n" + full.stdout
    assert ("would fail    parsed" in out and status == 1) if change == "source gone" else \
        ("would restore total" in out and status == 0), out


TWO = '''\
from assetbuild import asset, source

raw = source("raw", "data/raw.txt")
other = source("other", "data/other.txt")


@asset(io="json")
def first(raw):
    return raw.read_text()


@asset(io="json")
def second(other):
    return other.read_text()
'''


def test_a_failure_a_slice_predicts_leaves_the_dry_run_to_the_full_path(tmp_path: Path) -> None:
    """Without -k a build stops at its first failure: the full dry run says which assets it would
    not reach (``second``, cached to a slice that decides ``first`` alone), so a slice that
    predicts a failure says nothing, and the whole project's dry run speaks."""
    from projects import write

    root = write(tmp_path, {"AssetFile": TWO, "data/raw.txt": "a", "data/other.txt": "b"})
    for p in root.rglob("*"):
        os.utime(p, (1, p.stat().st_mtime - 60))
    for _ in range(3):
        assert cli(cwd=root).returncode == 0
    assert explain(root)[1] == "snapshot: answers"
    (root / "data" / "raw.txt").unlink()
    out, line, status = explain(root, "-n")
    assert line.endswith("the build loads 1 of the 2 assets, and 0 they read"), line
    full = cli("-n", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode), out + "---\n" + full.stdout
    assert status == 1 and "would skip    second" in out and "1 would be skipped" in out, out


@pytest.mark.parametrize("change", ["source changed", "source gone", "output gone", "output edited"])
@pytest.mark.parametrize("check", [[], ["--check"]])
def test_a_status_after_a_change_decides_a_slice(tmp_path: Path, change: str, check: list[str]) -> None:
    root = project(tmp_path)
    settled(root)
    if change == "source changed":
        (root / "data" / "raw.txt").write_text("1 2 3 4 5\n")
    elif change == "source gone":
        (root / "data" / "raw.txt").unlink()
    elif change == "output gone":
        (root / "out" / "total.json").unlink()
    else:
        (root / "out" / "total.json").write_text("0")
    before = _state(root)
    out, line, status = explain(root, "status", *check)
    assert "the build loads" in line, line
    full = cli("status", *check, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode), out + "---\n" + full.stdout
    assert status == (1 if check else 0) and ("stale" in out or "failed" in out), out
    assert _state(root) == before
