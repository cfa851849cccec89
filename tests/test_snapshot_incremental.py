"""Incremental builds through the snapshot: when only sources or path outputs changed, the build
decides just what they reach. Real commands in twin projects: one uses the snapshot, the other
never does (``ASSETBUILD_SNAPSHOT=0``), and they must print, store and write the same."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import FULL_ENV, SNAPSHOT_ENV, clean_env, cli, cli_cmd, snapshot_twins, write

from assetbuild import slicegraph, snapshot

ASSETFILE = '''\
import time

from assetbuild import asset, source

raw = source("raw", "data/raw.txt")
other = source("other", "data/other.txt")


@asset(io="json")
def parsed(raw):
    return [int(x) for x in raw.read_text().split()]


@asset(io="json", path="out/total.json")
def total(parsed):
    return sum(parsed)


@asset(io="json", path="out/count.json")
def count(other):
    text = other.read_text()
    if text.startswith("sleep"):
        time.sleep(60)
    return len(text.split())


@asset(io="json")
def summary(total, count):
    return {"total": total, "count": count}
'''

SNAPSHOT, FULL = SNAPSHOT_ENV, FULL_ENV


@pytest.fixture
def twins(tmp_path: Path) -> tuple[Path, Path]:
    """The same project twice, built and settled: the first answers from its snapshot."""
    return snapshot_twins(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2 3\n", "data/other.txt": "a b\n"})


def explain(root: Path, *args: str) -> tuple[str, str, int]:
    r = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **SNAPSHOT))
    return r.stdout, next((ln for ln in r.stderr.splitlines() if ln.startswith("snapshot:")), ""), r.returncode


def decisions(doc: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """What a ``--json`` document says of each asset, without timings."""
    return [(r["asset"], r["status"], r["key"], r["data_version"], r["error"]) for r in json.loads(doc)["results"]]


def both(a: Path, b: Path, edit, *args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    edit(a)
    edit(b)
    return (cli(*args, cwd=a, env=clean_env(**SNAPSHOT)), cli(*args, cwd=b, env=clean_env(**FULL)))


def outputs(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((root / "out").iterdir())}


def timeless(text: str) -> str:
    """A build's lines without the times they took (``built  x  (0.01s)``, ``... in 0.05s``),
    which differ between two builds doing the same."""
    return re.sub(r" in \d+\.\d+s$", "", re.sub(r"\(\d+\.\d+s\)", "(s)", text, flags=re.M), flags=re.M)


def test_an_incremental_build_says_and_stores_what_the_full_path_does(twins: tuple[Path, Path]) -> None:
    a, b = twins
    _, line, _ = explain(a)
    assert line == "snapshot: answers"
    fast, full = both(a, b, lambda r: (r / "data" / "other.txt").write_text("a b c\n"), "--json")
    assert fast.returncode == full.returncode == 0
    assert decisions(fast.stdout) == decisions(full.stdout)
    assert {d[0]: d[1] for d in decisions(fast.stdout)} == {"parsed": "cached", "total": "cached",
                                                            "count": "built", "summary": "built"}
    assert outputs(a) == outputs(b) == {"count.json": "3", "total.json": "6"}
    fast, full = both(a, b, lambda r: (r / "data" / "raw.txt").write_text("4 5\n"))
    assert timeless(fast.stdout) == timeless(full.stdout)
    assert "built     total" in fast.stdout and "built     count" not in fast.stdout
    _, line, _ = explain(a)
    assert line == "snapshot: answers"  # the build that wrote recorded the next snapshot
    import assetbuild

    runs = assetbuild.list_runs(project_dir=a)  # the run's record counts every asset, as the full path's
    assert runs[0]["counts"] == assetbuild.list_runs(project_dir=b)[0]["counts"] == {"built": 3, "cached": 1}


def test_a_failure_in_an_incremental_build(twins: tuple[Path, Path]) -> None:
    a, b = twins
    fast, full = both(a, b, lambda r: (r / "data" / "raw.txt").write_text("1 x\n"), "--json")
    assert fast.returncode == full.returncode == 1
    assert decisions(fast.stdout) == decisions(full.stdout)
    _, line, status = explain(a)
    assert status == 1 and line == "snapshot: not used: the last build did not succeed"
    fast, full = both(a, b, lambda r: (r / "data" / "raw.txt").write_text("7\n"), "--json")
    assert fast.returncode == full.returncode == 0 and decisions(fast.stdout) == decisions(full.stdout)
    assert outputs(a) == outputs(b)
    assert explain(a)[1] == "snapshot: answers"


def test_a_killed_incremental_build_loses_nothing(twins: tuple[Path, Path]) -> None:
    a, b = twins
    (a / "data" / "raw.txt").write_text("10 20\n")  # total runs and is recorded before count sleeps
    (a / "data" / "other.txt").write_text("sleep a\n")
    proc = subprocess.Popen(cli_cmd(), cwd=a, env=clean_env(**SNAPSHOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while (a / "out" / "total.json").read_text() != "30" and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # (finished work is committed while an asset runs: at most 0.25 s later)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    fast, full = both(a, b, lambda r: ((r / "data" / "raw.txt").write_text("10 20\n"),
                                       (r / "data" / "other.txt").write_text("x y z w\n")), "--json")
    assert fast.returncode == full.returncode == 0
    kept = ("parsed", "total")  # built by the killed build, and kept
    assert [d for d in decisions(fast.stdout) if d[0] not in kept] == [d for d in decisions(full.stdout) if d[0] not in kept]
    assert [d[1:4] for d in decisions(fast.stdout) if d[0] in kept] == \
        [("cached", *d[2:4]) for d in decisions(full.stdout) if d[0] in kept]
    assert outputs(a) == outputs(b) == {"count.json": "4", "total.json": "30"}
    assert explain(a)[1] == "snapshot: answers"


# --- a slice: the build loads only the assets it decides, and stand-ins for what they read ---

def test_the_build_loads_only_the_assets_it_decides(twins: tuple[Path, Path]) -> None:
    a, b = twins
    graph = a / ".assetbuild" / snapshot.GRAPH_FILE
    written = graph.stat().st_ino, graph.stat().st_mtime_ns
    for edit, loads in ((("other.txt", "a b c\n"),), "2 of the 4 assets, and 1 they read"), \
                       ((("raw.txt", "5\n"), ("other.txt", "c\n")), "4 of the 4 assets, and 0 they read"), \
                       ((("raw.txt", "6\n"),), "3 of the 4 assets, and 1 they read"):
        for name, text in edit:
            (a / "data" / name).write_text(text)
            (b / "data" / name).write_text(text)
        fast = cli("--json", cwd=a, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **SNAPSHOT))
        full = cli("--json", cwd=b, env=clean_env(**FULL))
        assert f"; the build loads {loads}\n" in fast.stderr
        assert fast.returncode == full.returncode == 0 and decisions(fast.stdout) == decisions(full.stdout)
        assert outputs(a) == outputs(b)
        assert explain(a)[1] == "snapshot: answers"  # a slice's build records the next snapshot
    assert outputs(a) == {"count.json": "1", "total.json": "6"}
    assert (graph.stat().st_ino, graph.stat().st_mtime_ns) == written  # kept by each record (graph_ns), not rewritten


LARGE = ASSETFILE.replace('@asset(io="json")\ndef summary(total, count):', (
    "@asset\ndef blob(count):\n    return bytes(range(256)) * 1024 * count  # stored as a file of the cache\n\n\n"
    '@asset(io="json")\ndef summary(total, count, blob):'))


def test_a_stand_in_whose_stored_value_is_unusable_sends_the_build_to_the_whole_project(tmp_path: Path) -> None:
    """``blob`` is read, not decided, when only ``raw`` changed; its stored file corrupted (same
    size, so the snapshot still holds) is found when ``summary`` reads it: the build starts over
    with the whole project loaded, and repairs it as the full path does."""
    assert "def blob(count)" in LARGE
    roots = []
    for name, env in (("snap", SNAPSHOT), ("full", FULL)):
        root = write(tmp_path / name, {"AssetFile": LARGE, "data/raw.txt": "1 2 3\n", "data/other.txt": "a b\n"})
        for _ in range(2):
            assert cli(cwd=root, env=clean_env(**env)).returncode == 0
        blobs = [p for p in (root / ".assetbuild" / "cas").rglob("*") if p.is_file() and p.stat().st_size > 65536]
        assert len(blobs) == 1
        data = bytearray(blobs[0].read_bytes())
        data[1000] ^= 0xFF
        blobs[0].write_bytes(bytes(data))
        (root / "data" / "raw.txt").write_text("4\n")
        roots.append(root)
    a, b = roots
    fast = cli(cwd=a, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **SNAPSHOT))
    full = cli(cwd=b, env=clean_env(**FULL))
    assert "the build loads 3 of the 5 assets, and 2 they read" in fast.stderr  # parsed, total, summary
    assert fast.returncode == full.returncode == 0, fast.stderr
    said = [sorted(ln for ln in timeless(r.stdout + r.stderr).splitlines() if not ln.startswith("snapshot:"))
            for r in (fast, full)]
    assert said[0] == said[1]
    assert any("stored output of 'blob' could not be used" in ln for ln in said[0])
    assert "4 built, 1 cached, 0 restored, 0 failed, 0 skipped" in said[0]  # as the full path: count is cached
    import assetbuild

    runs = [assetbuild.list_runs(project_dir=r) for r in (a, b)]
    assert len(runs[0]) == len(runs[1]) and runs[0][0]["counts"] == runs[1][0]["counts"]
    assert {x["state"] for x in runs[0]} == {"finished"}  # the start over goes on with the command's run
    events = [sorted((e["asset"], e["kind"]) for e in assetbuild.get_run(x[0]["run"], project_dir=r)["events"])
              for x, r in zip(runs, (a, b))]
    assert events[0] == events[1]  # each recorded once, in that run
    assert explain(a)[1] == "snapshot: not used: the last build printed more than its results and summary"
    assert explain(a)[1] == "snapshot: answers"


def test_a_project_with_params_is_not_loaded_in_part(tmp_path: Path) -> None:
    text = ASSETFILE.replace('@asset(io="json", path="out/count.json")',
                             '@asset(io="json", path="out/count.json", params={"k": 1})')
    assert text != ASSETFILE
    a = write(tmp_path / "snap", {"AssetFile": text, "data/raw.txt": "1\n", "data/other.txt": "a\n"})
    for _ in range(2):
        assert cli(cwd=a, env=clean_env(**SNAPSHOT)).returncode == 0
    (a / "data" / "other.txt").write_text("a b\n")
    out, line, status = explain(a, "--json")
    assert status == 0 and line.startswith("snapshot: not used: a source or path output changed")
    assert "the build loads" not in line
    assert {d[0]: d[1] for d in decisions(out)} == {"parsed": "cached", "total": "cached", "count": "built",
                                                    "summary": "built"}


# --- through the Python API, with the entry point's intent: which assets the build decides ---

class _Seen:
    """A reporter that keeps the name of each asset the build decided (cached ones too)."""

    def __new__(cls):
        from assetbuild.output import Reporter

        class Seen(Reporter):
            def __init__(self) -> None:
                super().__init__(verbosity=-2)
                self.seen: list[str] = []

            def asset_finished(self, r, dry_run: bool = False) -> None:  # type: ignore[no-untyped-def]
                self.seen.append(r.asset)
                super().asset_finished(r, dry_run)

        return Seen()


def _build_as_the_command_would(root: Path):  # type: ignore[no-untyped-def]
    """A build through the Python API with the entry point's intent set, so it uses the snapshot."""
    import assetbuild

    rep = _Seen()
    result = assetbuild.build(project_dir=root, reporter=rep)
    return result, rep.seen


@pytest.fixture
def as_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    from assetbuild import entry

    root = write(tmp_path, {"AssetFile": ASSETFILE, "data/raw.txt": "1 2 3\n", "data/other.txt": "a b\n"})
    monkeypatch.setattr(snapshot, "INTENT", {"json": False, "quiet": True, "directory": str(root)})
    monkeypatch.setattr(snapshot, "START_PATH", list(sys.path))
    monkeypatch.setattr(entry, "START_PATH", list(sys.path))  # (as the command started: the path now, not at
    # whichever test imported the entry point first)
    monkeypatch.setattr(snapshot, "CHECK", False)
    monkeypatch.chdir(root)
    return root


def test_an_edit_of_a_source_decides_only_what_it_reaches(as_the_command: Path) -> None:
    root = as_the_command
    _, seen = _build_as_the_command_would(root)
    assert sorted(seen) == ["count", "parsed", "summary", "total"]
    _, seen = _build_as_the_command_would(root)
    assert seen == []  # (the command would not have loaded the AssetFile at all)
    (root / "data" / "other.txt").write_text("a b c\n")
    result, seen = _build_as_the_command_would(root)
    assert sorted(seen) == ["count", "summary"]
    by = {r.asset: r for r in result.results}
    assert len(by) == len(result.results) == 4
    assert {a: r.status for a, r in by.items()} == {"parsed": "cached", "total": "cached",
                                                   "count": "built", "summary": "built"}
    snapshot.INTENT = None  # the full path, deciding every asset: the same keys and versions
    import assetbuild

    full = assetbuild.build(project_dir=root)
    assert [(r.asset, r.status, r.key, r.data_version) for r in full.results] == \
        [(r.asset, "cached", r.key, r.data_version) for r in result.results]
    assert assetbuild.load_value("summary", project_dir=root) == {"total": 6, "count": 3}


def test_a_deleted_path_output_is_restored_alone(as_the_command: Path) -> None:
    root = as_the_command
    for _ in range(3):
        _build_as_the_command_would(root)
    (root / "out" / "total.json").unlink()
    result, seen = _build_as_the_command_would(root)
    assert sorted(seen) == ["summary", "total"]
    assert {r.asset: r.status for r in result.results}["total"] == "restored"
    assert (root / "out" / "total.json").read_text().strip() == "6"


def test_the_check_decides_every_asset_and_fails_on_a_wrong_record(as_the_command: Path) -> None:
    import marshal

    root = as_the_command
    for _ in range(3):
        _build_as_the_command_would(root)
    (root / "data" / "other.txt").write_text("a\n")
    snapshot.CHECK = True
    _, seen = _build_as_the_command_would(root)  # a right record: every asset decided, and agreed
    assert sorted(seen) == ["count", "parsed", "summary", "total"]
    _build_as_the_command_would(root)
    results = root / ".assetbuild" / "snapshot.results"
    doc = marshal.loads(results.read_bytes())
    doc["results"] = [[a, "0" * 64 if a == "total" else k, dv] for a, k, dv in doc["results"]]
    results.write_bytes(marshal.dumps(doc))
    (root / "data" / "other.txt").write_text("a b c d\n")
    with pytest.raises(RuntimeError, match="snapshot disagrees with the full build: it would have taken 'total'"):
        _build_as_the_command_would(root)


def test_a_verdict_of_the_static_check_is_reused_only_by_the_same_check(as_the_command: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from assetbuild.session import checking

    root = as_the_command
    cache = str(root / ".assetbuild")
    for _ in range(3):
        _build_as_the_command_would(root)

    def tamper() -> None:  # as if an older check had refused the AssetFile
        rec = snapshot.read(cache)
        assert rec is not None and rec["checked"] and not rec.get("refused")
        snapshot.write(cache, {**rec, "checked": dict.fromkeys(rec["checked"], "AssetFile:1: tampered")})

    tamper()
    (root / "data" / "other.txt").write_text("x\n")  # a build that records again
    _build_as_the_command_would(root)
    assert (snapshot.read(cache) or {}).get("refused", "").startswith("AssetFile:1: tampered")  # reused
    _build_as_the_command_would(root)
    assert (snapshot.read(cache) or {}).get("refused", "").startswith("AssetFile:1: tampered")  # and kept
    monkeypatch.setattr(checking, "_checker_digest", lambda: "another check")
    (root / "data" / "other.txt").write_text("x y\n")
    _build_as_the_command_would(root)
    rec = snapshot.read(cache)
    assert rec is not None and not rec.get("refused") and set(rec["checked"].values()) == {""}


def _look_as_the_entry_point(root: Path) -> dict:
    """What the entry point does when only data changed: the probe, every data file's signature,
    and the slice (``entry._slice``)."""
    from assetbuild import entry

    cache = str(root / ".assetbuild")
    rec = snapshot.read(cache)
    assert rec is not None and not rec.get("refused")
    entry._slice(rec, cache, str(root))
    assert snapshot.SLICE is not None
    return snapshot.SLICE


def _sliced_after_an_edit(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Built and settled, then ``other.txt`` edited: the slice the entry point finds."""
    for _ in range(2):
        _build_as_the_command_would(root)
    (root / "data" / "other.txt").write_text("a b c\n")
    for name in ("PROBE", "DATA", "SLICE"):
        monkeypatch.setattr(snapshot, name, None)
    return _look_as_the_entry_point(root)


def test_a_slice_that_no_longer_holds_sends_the_build_to_the_whole_project(as_the_command: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The AssetFile edited between the entry point's look and the build's lock: the slice was
    loaded from the new file, but the build finds the snapshot refused and starts over whole."""
    import assetbuild

    root = as_the_command
    for _ in range(2):
        _build_as_the_command_would(root)
    runs = len(assetbuild.list_runs(project_dir=root))
    (root / "data" / "other.txt").write_text("a b c\n")
    for name in ("PROBE", "DATA", "SLICE"):
        monkeypatch.setattr(snapshot, name, None)
    sliced = _look_as_the_entry_point(root)
    assert sliced["affected"] == {"count", "summary"} and sliced["frontier"] == {"total"}
    (root / "AssetFile").write_text(ASSETFILE.replace("return sum(parsed)", "return sum(parsed) * 10"))
    from assetbuild.session import project

    stood_in: list[str] = []
    real = project.stand_in
    monkeypatch.setattr(project, "stand_in", lambda d: stood_in.append(d.name) or real(d))
    result, seen = _build_as_the_command_would(root)
    assert stood_in == ["total"]  # the slice was loaded first
    assert sorted(seen) == ["count", "parsed", "summary", "total"]  # every asset decided: the whole project
    assert {r.asset: r.status for r in result.results} == {"parsed": "cached", "total": "built",
                                                          "count": "built", "summary": "built"}
    assert assetbuild.load_value("summary", project_dir=root) == {"total": 60, "count": 3}
    assert len(assetbuild.list_runs(project_dir=root)) == runs + 1  # one run: the one that started over
    assert snapshot.SLICE is None  # taken once


def _settled_record(root: Path) -> tuple[str, dict]:
    """Built and settled: the cache directory and the snapshot it holds."""
    for _ in range(2):
        _build_as_the_command_would(root)
    cache = str(root / ".assetbuild")
    rec = snapshot.read(cache)
    assert rec is not None and not rec.get("refused")
    return cache, rec


def test_the_slice_takes_what_the_look_found_as_recorded_without_a_stat(as_the_command: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry point's look stops at the first changed data file; the files before it were as
    recorded, so the slice's pass (after the probe) takes their recorded signatures instead of
    statting them again. The build decides what the changed file reaches, as ever."""
    from assetbuild import entry

    root = as_the_command
    cache, rec = _settled_record(root)
    raw, other = str(root / "data" / "raw.txt"), str(root / "data" / "other.txt")
    paths = rec["data"][0]
    assert paths.index(raw) < paths.index(other)  # (declared first)
    (root / "data" / "other.txt").write_text("a b c\n")
    found = snapshot.changes(rec, str(root), snapshot.START_PATH, first=True)
    assert found == [other]
    statted: list[str] = []
    real = snapshot.sig_of
    monkeypatch.setattr(snapshot, "sig_of", lambda p: statted.append(p) or real(p))
    for name in ("PROBE", "DATA", "SLICE"):
        monkeypatch.setattr(snapshot, name, None)
    entry._slice(rec, cache, str(root), found[0])
    data = set(paths)
    assert [p for p in statted if p in data] == paths[paths.index(other):]  # not raw.txt
    assert snapshot.DATA is not None and snapshot.DATA[raw] == real(raw)
    assert snapshot.SLICE is not None and snapshot.SLICE["affected"] == {"count", "summary"}
    monkeypatch.setattr(snapshot, "sig_of", real)
    result, seen = _build_as_the_command_would(root)
    assert sorted(seen) == ["count", "summary"]
    assert {r.asset: r.status for r in result.results} == {"parsed": "cached", "total": "cached",
                                                          "count": "built", "summary": "built"}
    (root / "data" / "raw.txt").write_text("5\n")  # and the next build sees a write to what it did not stat
    result, seen = _build_as_the_command_would(root)
    assert {r.asset: r.status for r in result.results} == {"parsed": "built", "total": "built",
                                                          "count": "cached", "summary": "built"}


def test_a_graph_that_names_no_node_leaves_the_build_to_the_whole_project(as_the_command: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph file whose arrays are whole but point past its nodes (not one a build wrote):
    the entry point takes no slice, and the build decides the whole project, rightly."""
    from array import array

    from assetbuild import entry

    root = as_the_command
    cache, rec = _settled_record(root)
    graph = slicegraph.read_graph(cache, rec)
    assert graph is not None
    bad = array("I", [10_000] * (len(graph["owned"]) // 4)).tobytes()  # same length, no such node
    snapshot.write(cache, rec, None, {**graph, "owned": bad})
    (root / "data" / "other.txt").write_text("a b c\n")
    for name in ("PROBE", "DATA", "SLICE"):
        monkeypatch.setattr(snapshot, name, None)
    entry._slice(snapshot.read(cache) or {}, cache, str(root))
    assert snapshot.SLICE is None
    result, seen = _build_as_the_command_would(root)
    assert {r.asset: r.status for r in result.results} == {"parsed": "cached", "total": "cached",
                                                          "count": "built", "summary": "built"}
    import assetbuild

    assert assetbuild.load_value("summary", project_dir=root) == {"total": 6, "count": 3}


def test_a_slice_is_used_only_by_the_build_it_was_found_for(as_the_command: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assetbuild.session import intent

    root = as_the_command
    sliced = _sliced_after_an_edit(root, monkeypatch)
    from assetbuild.session.options import BuildOptions

    assert intent.take_slice(root, None, None, ["count"], BuildOptions()) is None  # a selection
    snapshot.SLICE = sliced
    assert intent.take_slice(root, None, root / "elsewhere", [], BuildOptions()) is None  # another cache
    snapshot.SLICE = sliced
    assert intent.take_slice(root, None, None, [], BuildOptions(force=True)) is None
    snapshot.SLICE = sliced
    assert intent.take_slice(root, None, None, [], BuildOptions()) is sliced
    assert intent.take_slice(root, None, None, [], BuildOptions()) is None


def _loads(monkeypatch: pytest.MonkeyPatch) -> list:
    """The Loaded of each AssetFile load from now on."""
    from assetbuild.session import project

    loads: list = []
    real = project.load_assetfile
    monkeypatch.setattr(project, "load_assetfile", lambda *a, **k: loads.append(real(*a, **k)) or loads[-1])
    return loads


@pytest.mark.parametrize("names_parsed", [False, True])
def test_a_slice_runs_only_the_definitions_it_declares(as_the_command: Path, monkeypatch: pytest.MonkeyPatch,
                                                       names_parsed: bool) -> None:
    """The definitions of the assets outside the slice are left out of what runs (the snapshot
    recorded where each is); unless code that runs names one (``summary`` calling ``parsed``):
    then the whole file runs, as without a slice. The values are the full path's either way."""
    root = as_the_command
    if names_parsed:
        (root / "AssetFile").write_text(ASSETFILE.replace(
            'return {"total": total, "count": count}', 'return {"total": total, "count": count, "f": parsed.__name__}'))
    sliced = _sliced_after_an_edit(root, monkeypatch)
    assert [d[0] for d in sliced["asset_defs"][1]] == ["parsed", "total", "count", "summary"]
    loads = _loads(monkeypatch)
    result, seen = _build_as_the_command_would(root)
    assert [loaded.partial for loaded in loads] == [not names_parsed]
    assert sorted(seen) == ["count", "summary"]
    import assetbuild

    expected = {"total": 6, "count": 3, **({"f": "parsed"} if names_parsed else {})}
    assert assetbuild.load_value("summary", project_dir=root) == expected
    assert {r.asset: r.status for r in result.results} == {"parsed": "cached", "total": "cached",
                                                          "count": "built", "summary": "built"}


def test_a_slice_takes_the_fingerprints_the_graph_kept(as_the_command: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The assets a slice decides are not fingerprinted again: the full build that wrote the
    graph kept what it made (``codetable``), and the code is proved unchanged since. The
    heads of the assets the slice built hold the fingerprints the full path makes."""
    from assetbuild.fingerprint import walk
    from assetbuild.session.project import open_project
    from assetbuild.store import LmdbStore

    root = as_the_command
    sliced = _sliced_after_an_edit(root, monkeypatch)
    assert set(sliced["codes"]) == {"count", "summary"}
    walked: list[str] = []
    real = walk.Fingerprinter.fingerprint_function
    monkeypatch.setattr(walk.Fingerprinter, "fingerprint_function",
                        lambda self, fn, asset: walked.append(asset) or real(self, fn, asset))
    result, seen = _build_as_the_command_would(root)
    assert sorted(seen) == ["count", "summary"] and walked == []
    assert {r.asset: r.status for r in result.results} == {"parsed": "cached", "total": "cached",
                                                          "count": "built", "summary": "built"}
    with open_project(root) as project:
        code = project.code_of()
        store = LmdbStore(project.cache_dir, readonly=True)
        try:
            for name in ("count", "summary"):
                head = store.get_head(name)
                assert head is not None and (head.code, head.code_parts) == code(name) == sliced["codes"][name]
        finally:
            store.close()
    assert sorted(walked) == ["count", "summary"]  # (the full path's own, just now)


def test_the_definitions_are_kept_with_the_graph(as_the_command: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where each asset's definition is (a slice's ``asset_defs``) is kept in the graph, which a
    null build does not read. A full build of the same AssetFile takes them from there instead
    of parsing it again; a sliced build keeps the graph's file as it is."""
    from assetbuild.session import checking

    root = as_the_command
    cache = root / ".assetbuild"
    for _ in range(2):
        _build_as_the_command_would(root)
    rec = snapshot.read(str(cache))
    assert rec is not None and not rec.get("refused") and "asset_defs" not in rec
    graph = slicegraph.read_graph(str(cache), rec)
    assert graph is not None and [d[0] for d in graph["asset_defs"]] == ["parsed", "total", "count", "summary"]
    parsed: list[str] = []
    real = checking._facts
    monkeypatch.setattr(checking, "_facts", lambda source, name, *a: parsed.append(name) or real(source, name, *a))
    monkeypatch.setenv("ASSETBUILD_TEST_FULL", "1")  # a watched variable: the build decides every asset
    result, seen = _build_as_the_command_would(root)
    assert result.ok and sorted(seen) == ["count", "parsed", "summary", "total"]
    after = snapshot.read(str(cache))
    assert after is not None and after["graph_ns"] == after["written_ns"] != rec["written_ns"]  # a graph of its own
    assert (slicegraph.read_graph(str(cache), after) or {}).get("asset_defs") == graph["asset_defs"]
    assert parsed == []  # (its verdict and its definitions were known)
    kept = (cache / snapshot.GRAPH_FILE).read_bytes()
    (root / "data" / "other.txt").write_text("a b c\n")
    for name in ("PROBE", "DATA", "SLICE"):
        monkeypatch.setattr(snapshot, name, None)
    _look_as_the_entry_point(root)
    result, seen = _build_as_the_command_would(root)
    assert result.ok and sorted(seen) == ["count", "summary"]
    last = snapshot.read(str(cache))
    assert last is not None and last["graph_ns"] == after["graph_ns"] != last["written_ns"]
    assert (cache / snapshot.GRAPH_FILE).read_bytes() == kept and parsed == []


TAMPERING = '''\
from pathlib import Path

from assetbuild import asset, source

raw = source("raw", "data/raw.txt")


@asset(io="text", path="out/first.txt")
def first(raw):
    return raw.read_text().strip()


@asset(io="text")
def second(first):
    Path("out/first.txt").write_text("changed by another asset")  # after first's output was written
    return first + "!"
'''


def test_a_path_output_changed_after_the_build_wrote_it_is_restored_next_time(tmp_path: Path) -> None:
    """The snapshot records each path output as the build wrote it: a file changed after that,
    in the same build, is not taken as written by the next one, with or without the snapshot."""
    a = write(tmp_path / "snap", {"AssetFile": TAMPERING, "data/raw.txt": "v1\n"})
    b = tmp_path / "full"
    shutil.copytree(a, b)
    for root, env in ((a, SNAPSHOT), (b, FULL)):
        r = cli("--json", cwd=root, env=clean_env(**env))
        assert r.returncode == 0 and {d[0]: d[1] for d in decisions(r.stdout)} == {"first": "built", "second": "built"}
        assert (root / "out/first.txt").read_text() == "changed by another asset"
    fast, full = (cli("--json", cwd=a, env=clean_env(**SNAPSHOT)), cli("--json", cwd=b, env=clean_env(**FULL)))
    assert decisions(fast.stdout) == decisions(full.stdout)
    assert {d[0]: d[1] for d in decisions(fast.stdout)} == {"first": "restored", "second": "cached"}
    assert (a / "out/first.txt").read_text() == (b / "out/first.txt").read_text() == "v1"
    assert explain(a)[1] == "snapshot: answers"


def test_a_status_and_a_dry_run_decide_the_slice_as_the_whole_project_would(as_the_command: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry point's plain ``status`` and ``-n`` after only data changed: the slice is
    loaded (a stand-in for what the decided assets read), and says what the whole project's
    look says."""
    import assetbuild
    from assetbuild.session import project

    root = as_the_command
    _sliced_after_an_edit(root, monkeypatch)
    stood_in: list[str] = []
    real = project.stand_in
    monkeypatch.setattr(project, "stand_in", lambda d: stood_in.append(d.name) or real(d))
    monkeypatch.setattr(snapshot, "INTENT", {"status": True, "check": False, "directory": str(root)})
    rows = assetbuild.status(project_dir=root)
    assert stood_in == ["total"] and snapshot.SLICE is None  # the slice, taken
    assert {r.asset: r.state for r in rows} == {"parsed": "fresh", "total": "fresh", "count": "stale",
                                               "summary": "stale"}
    assert rows == assetbuild.status(project_dir=root)  # the whole project's (no slice now)
    _look_as_the_entry_point(root)
    stood_in.clear()
    monkeypatch.setattr(snapshot, "INTENT", {"json": False, "quiet": True, "dry_run": True, "directory": str(root)})
    sliced = assetbuild.build(project_dir=root, dry_run=True)
    assert stood_in == ["total"] and snapshot.SLICE is None
    whole = assetbuild.build(project_dir=root, dry_run=True)

    def said(result: assetbuild.BuildResult) -> list[tuple[str, str, object, object]]:
        return [(r.asset, r.status, r.key, r.metadata.get("would")) for r in result.results]

    assert said(sliced) == said(whole) and [r.to_json() for r in sliced.results] == [r.to_json() for r in whole.results]
    assert [r.asset for r in sliced.results if r.status != "cached"] == ["count", "summary"]


EITHER = '''\
from assetbuild import asset, source

src = source("src", "data/in")


@asset(io="text")
def val(src):
    if src.is_file():
        return src.read_text()
    return "".join(f.read_text() for f in sorted(src.iterdir()))
'''


def test_a_source_that_became_a_directory_records_no_snapshot(tmp_path: Path) -> None:
    """A source file replaced by a directory is seen as changed, and a sliced build decides its
    readers; the snapshot, which cannot see a change of a file inside a directory, is then
    refused: it recorded the directory's signature, and an edit inside it went unseen."""
    a = write(tmp_path / "snap", {"AssetFile": EITHER, "data/in": "5\n"})
    assert cli(cwd=a, env=clean_env(**SNAPSHOT)).returncode == 0
    assert explain(a)[1] == "snapshot: answers"
    (a / "data" / "in").unlink()
    (a / "data" / "in").mkdir()
    (a / "data" / "in" / "x").write_text("7\n")
    out, line, status = explain(a, "--json")
    assert status == 0 and "the build loads 1 of the 1 assets" in line
    assert {d[0]: d[1] for d in decisions(out)} == {"val": "built"}
    assert explain(a)[1] == "snapshot: not used: source 'src' is a directory"
    (a / "data" / "in" / "x").write_text("8\n")  # (the directory's own signature stays as it was)
    out, line, _ = explain(a, "--json")
    assert line == "snapshot: not used: source 'src' is a directory" and decisions(out)[0][1] == "built"
    full = cli("--json", cwd=a, env=clean_env(**FULL))  # (what it built is what the full path finds)
    assert decisions(full.stdout) == [("val", "cached", *decisions(out)[0][2:])]


def test_a_folder_changed_in_the_clock_tick_of_the_record_refuses_it(as_the_command: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder a module could be found in, changed as the record reads the folders' times: on a
    filesystem that stamps whole seconds (ext2/ext3 with small inodes, HFS+) or the kernel's
    tick, another change in that tick (a package that beats a module) leaves its time as read,
    and the next null build answered from the old code (reproduced on an ext2 image). Such a
    folder refuses the record, as a racy code file does; here a file made between the clock
    and the read stands for that change."""
    from assetbuild.session import snapshots

    root = as_the_command
    _build_as_the_command_would(root)
    real = snapshots.dir_times_since

    def changing(dirs, *args, **kwargs):  # type: ignore[no-untyped-def]
        (root / "notes.txt").write_text("written as the record reads the folders\n")
        return real(dirs, *args, **kwargs)

    monkeypatch.setattr(snapshots, "dir_times_since", changing)
    (root / "data" / "other.txt").write_text("a b c\n")
    result, _ = _build_as_the_command_would(root)
    assert result.ok
    rec = snapshot.read(str(root / ".assetbuild"))
    assert rec is not None and rec.get("refused") == f"a folder changed too recently to trust its time: {root}"
    monkeypatch.setattr(snapshots, "dir_times_since", real)
    _build_as_the_command_would(root)  # a quiet folder: recorded again
    rec = snapshot.read(str(root / ".assetbuild"))
    assert rec is not None and not rec.get("refused")


SHADOWED = '''\
from assetbuild import asset, source
from lib.helpers import scale

raw = source("raw", "data/raw.txt")


@asset(io="json")
def total(raw):
    return scale(sum(int(x) for x in raw.read_text().split()))
'''


def test_a_module_added_in_the_tick_of_the_listing_before_loading_refuses_the_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package that beats a module (``lib/helpers/`` over ``lib/helpers.py``), made after the
    load imported the module, in the clock tick in which the build listed ``lib`` before
    loading: on a filesystem that stamps whole seconds the folder's time stays as listed, the
    names were not compared, and the next null build answered with the module's results
    (reproduced on an ext2 image). A folder listed within RACY_NS of the load has its names
    compared whatever its time; here the listing is given the folder's time after the package
    was made, as such a filesystem shows it."""
    from assetbuild.session import snapshots

    root = write(tmp_path, {"AssetFile": SHADOWED, "data/raw.txt": "1 2 3\n", "lib/__init__.py": "",
                            "lib/helpers.py": "def scale(x):\n    return 2 * x\n"})
    monkeypatch.setattr(snapshot, "INTENT", {"json": False, "quiet": True, "directory": str(root)})
    monkeypatch.setattr(snapshot, "START_PATH", list(sys.path))
    monkeypatch.setattr(snapshot, "CHECK", False)
    monkeypatch.chdir(root)
    time.sleep(2 * snapshot.TICK_NS / 1e9)  # (files made in the tick of the load refuse the record)
    _build_as_the_command_would(root)
    (root / "data" / "raw.txt").write_text("1 2 3 4\n")
    monkeypatch.setattr(snapshot, "PREVIOUS", snapshot.read(str(root / ".assetbuild")))  # (as the entry point reads it)
    assert snapshot.PREVIOUS is not None and not snapshot.PREVIOUS.get("refused")
    real = snapshots.recorder_for
    lib = str(root / "lib")

    def shadowed_after_loading(*args, **kwargs):  # type: ignore[no-untyped-def]
        (root / "lib" / "helpers").mkdir()
        (root / "lib" / "helpers" / "__init__.py").write_text("def scale(x):\n    return 100 * x\n")
        before = snapshot.BEFORE
        assert before is not None and lib in before
        before[lib] = (snapshot.dir_time(lib), before[lib][1])  # (listed in that tick: the time as now)
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshots, "recorder_for", shadowed_after_loading)
    result, _ = _build_as_the_command_would(root)
    assert result.ok
    rec = snapshot.read(str(root / ".assetbuild"))
    assert rec is not None
    assert rec.get("refused") == f"a module may have appeared after the build started loading: {lib}/helpers"
