"""The project's files: source data versions behind the stat cache, path outputs, relocation.

Unit tests drive ``Workspace`` with a real ``LmdbStore`` as its stat cache; the rest build real
projects through the public API and count what ran (side-effect files) and what was read.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projects import DEEP, folder_chain, run_counter, run_counts

import assetbuild
from assetbuild import workspace as ws_mod
from assetbuild.atomicfile import IN_THE_WAY
from assetbuild.dirtree import remove_tree
from assetbuild.output import Reporter
from assetbuild.snapshot import TICK_NS
from assetbuild.store import LmdbStore
from assetbuild.workspace import Workspace

HOUR_AGO = time.time() - 3600


def _quiet() -> Reporter:
    return Reporter(out=io.StringIO(), err=io.StringIO(), verbosity=-2)


@pytest.fixture
def reads(monkeypatch):
    """Paths passed to workspace.hash_file (the only place file contents are read for digests)."""
    seen: list[str] = []
    real = ws_mod.hash_file

    def counting(path: str) -> str:
        seen.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(ws_mod, "hash_file", counting)
    return seen


def age(p: Path, when: float = HOUR_AGO) -> None:
    os.utime(p, (when, when))


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# --- data versions ----------------------------------------------------------------------------

def test_file_version_is_the_digest_of_its_contents(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"x,y\n1,2\n")
    w = Workspace(tmp_path, None)
    assert w.source_version("a.csv") == sha(b"x,y\n1,2\n")
    with pytest.raises(assetbuild.SourceMissing):
        w.source_version("nope.csv")


NAMES = st.text("abc", min_size=1, max_size=3)
TREES = st.dictionaries(st.lists(NAMES, min_size=1, max_size=3).map("/".join), st.binary(max_size=20),
                        min_size=1, max_size=6)


def _write_tree(root: Path, tree: dict[str, bytes], order: list[str]) -> None:
    for rel in order:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(tree[rel])


def _consistent(tree: dict[str, bytes]) -> bool:  # no path is both a file and a directory
    return not any(other.startswith(rel + "/") for rel in tree for other in tree)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREES.filter(_consistent), data=st.data())
def test_directory_version_is_relative_paths_and_contents(tmp_path_factory, tree, data):
    base = tmp_path_factory.mktemp("trees")
    order = data.draw(st.permutations(sorted(tree)))
    _write_tree(base / "one" / "src", tree, sorted(tree))
    _write_tree(base / "elsewhere" / "deeper" / "src", tree, order)  # other place, other order
    (base / "elsewhere" / "deeper" / "src" / "empty_dir").mkdir()
    for p in (base / "elsewhere").rglob("*"):
        age(p, HOUR_AGO - data.draw(st.integers(0, 10**6)))  # other mtimes
    v1 = Workspace(base / "one", None).source_version("src")
    v2 = Workspace(base / "elsewhere" / "deeper", None).source_version("src")
    assert v1 == v2
    # Any change of a name or of a content changes the version.
    rel = data.draw(st.sampled_from(sorted(tree)))
    changed = dict(tree)
    if data.draw(st.booleans()):
        changed[rel] = tree[rel] + b"!"
    else:
        changed[rel + "x"] = changed.pop(rel)
    if _consistent(changed):
        _write_tree(base / "two" / "src", changed, sorted(changed))
        assert Workspace(base / "two", None).source_version("src") != v1


def test_a_file_and_a_directory_holding_it_have_different_versions(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"abc")
    w = Workspace(tmp_path, None)
    assert w.source_version("f") != w.source_version("d")


# --- the stat cache ---------------------------------------------------------------------------

def test_unchanged_file_is_read_once(tmp_path, reads, settled):
    src = tmp_path / "data.bin"
    src.write_bytes(b"1" * 1000)
    with LmdbStore(tmp_path / "cache") as store:
        assert Workspace(tmp_path, store).source_version("data.bin") == sha(b"1" * 1000)
        store.flush()
        for _ in range(3):  # new workspaces: no in-memory memo, only the stat cache
            assert Workspace(tmp_path, store).source_version("data.bin") == sha(b"1" * 1000)
    assert reads == ["data.bin"]


def test_same_size_edit_with_mtime_restored_is_detected_by_ctime(tmp_path, reads, settled):
    src = tmp_path / "data.bin"
    src.write_bytes(b"aaaa")
    with LmdbStore(tmp_path / "cache") as store:
        assert Workspace(tmp_path, store).source_version("data.bin") == sha(b"aaaa")
        store.flush()
        st0 = src.stat()
        time.sleep(0.02)  # past the timestamp granularity, so the ctime moves
        src.write_bytes(b"bbbb")
        os.utime(src, ns=(st0.st_atime_ns, st0.st_mtime_ns))  # size and mtime as before
        assert (src.stat().st_size, src.stat().st_mtime_ns) == (st0.st_size, st0.st_mtime_ns)
        assert Workspace(tmp_path, store).source_version("data.bin") == sha(b"bbbb")
        store.flush()
        # Replaced by another file (new inode) with the same size and mtime: detected too.
        tmp = tmp_path / "data.tmp"
        tmp.write_bytes(b"cccc")
        os.utime(tmp, ns=(st0.st_atime_ns, st0.st_mtime_ns))
        os.replace(tmp, src)
        assert Workspace(tmp_path, store).source_version("data.bin") == sha(b"cccc")
    assert reads == ["data.bin"] * 3


def test_recently_modified_file_is_not_trusted_to_the_stat_cache(tmp_path, reads, monkeypatch):
    """racy git: a signature taken in the same timestamp tick as a later same-size edit would
    hide that edit, so a file modified less than RACY_NS ago is hashed again next time."""
    src = tmp_path / "fresh.bin"
    src.write_bytes(b"new")
    with LmdbStore(tmp_path / "cache") as store:
        Workspace(tmp_path, store).source_version("fresh.bin")
        store.flush()
        assert store.get_stat("fresh.bin") is None
        Workspace(tmp_path, store).source_version("fresh.bin")
        assert reads == ["fresh.bin", "fresh.bin"]
        changed = max(src.stat().st_mtime_ns, src.stat().st_ctime_ns)
        monkeypatch.setattr(ws_mod, "fs_now_ns", lambda: changed + ws_mod.RACY_NS)
        Workspace(tmp_path, store).source_version("fresh.bin")
        store.flush()
        assert store.get_stat("fresh.bin") is not None
        Workspace(tmp_path, store).source_version("fresh.bin")
    assert reads == ["fresh.bin"] * 3


def test_a_past_mtime_set_just_after_a_write_does_not_make_the_file_old(tmp_path, reads, monkeypatch):
    """``touch -d``, ``cp -p``, ``tar x``: the mtime says an hour ago, the ctime says now. Were
    the signature recorded, a same-size write in the same tick followed by the same ``utime``
    would keep it, and the old digest with it; so the file is hashed again until its ctime too
    is RACY_NS old."""
    src = tmp_path / "copied.bin"
    src.write_bytes(b"abcd")
    age(src)
    st = src.stat()
    assert st.st_mtime_ns < st.st_ctime_ns - 3000 * 10**9
    with LmdbStore(tmp_path / "cache") as store:
        for now in (time.time_ns(), st.st_ctime_ns + ws_mod.RACY_NS - 1):
            monkeypatch.setattr(ws_mod, "fs_now_ns", lambda now=now: now)
            assert Workspace(tmp_path, store).source_version("copied.bin") == sha(b"abcd")
            store.flush()
            assert store.get_stat("copied.bin") is None
        monkeypatch.setattr(ws_mod, "fs_now_ns", lambda: st.st_ctime_ns + ws_mod.RACY_NS)
        Workspace(tmp_path, store).source_version("copied.bin")
        store.flush()
        assert store.get_stat("copied.bin") == (ws_mod.stat_sig(st), sha(b"abcd"))
        Workspace(tmp_path, store).source_version("copied.bin")
    assert reads == ["copied.bin"] * 3


def test_racy_rule_takes_the_later_of_mtime_and_ctime():
    def at(mtime: int, ctime: int) -> os.stat_result:
        return SimpleNamespace(st_mtime_ns=mtime, st_ctime_ns=ctime)  # type: ignore[return-value]

    r = ws_mod.RACY_NS
    assert not ws_mod.is_racy(at(10, 10), 10 + r)
    assert ws_mod.is_racy(at(10, 10), 9 + r)
    assert ws_mod.is_racy(at(0, 10), 9 + r)  # a past mtime (set by utime): the ctime decides
    assert ws_mod.is_racy(at(10, 0), 9 + r)  # an mtime set ahead (touch -d tomorrow): the mtime decides
    assert not ws_mod.is_racy(at(0, 10), 10 + r)


def test_dry_run_workspace_records_nothing(tmp_path, settled):
    src = tmp_path / "data.bin"
    src.write_bytes(b"x")
    with LmdbStore(tmp_path / "cache") as store:
        Workspace(tmp_path, store, record=False).source_version("data.bin")
        assert store.pending == 0 and store.get_stat("data.bin") is None


# --- end to end: sources ----------------------------------------------------------------------

SOURCES = """
one = source("one", "data/one.txt")
many = source("many", "data/many")

@asset(io="json")
def from_file(one):
    _ran("from_file")
    return one.read_text()

@asset(io="json")
def from_dir(many):
    _ran("from_dir")
    return sorted((p.relative_to(many).as_posix(), p.read_text()) for p in many.rglob("*") if p.is_file())
"""


@pytest.fixture
def sources(project, settled):
    project.write("data/one.txt", "hello")
    project.write("data/many/a.txt", "A")
    project.write("data/many/b.txt", "B")
    (project.root / "runs").mkdir()
    project.assetfile(run_counter(project.root / "runs") + SOURCES)
    return project


def test_mtime_only_changes_run_nothing_and_read_nothing(sources, reads):
    assert sources.built() == ["from_file", "from_dir"]
    assert sorted(reads) == ["a.txt", "b.txt", "one.txt"]
    later = time.time() - 600
    for p in (sources.root / "data").rglob("*"):
        os.utime(p, (later, later))
    r = sources.build()
    assert r.names("cached") == ["from_file", "from_dir"]
    # mtimes changed, so each file was hashed again (once: now recorded), contents equal: nothing ran
    assert sorted(reads) == ["a.txt", "a.txt", "b.txt", "b.txt", "one.txt", "one.txt"]
    assert sources.build().names("cached") == ["from_file", "from_dir"]
    assert len(reads) == 6  # a third build only stats
    assert run_counts(sources.root / "runs") == {"from_file": 1, "from_dir": 1}


def test_directory_source_changes_are_seen(sources):
    sources.built()
    (sources.root / "data/many/b.txt").rename(sources.root / "data/many/c.txt")
    assert sources.built() == ["from_dir"]
    assert sources.value("from_dir") == [["a.txt", "A"], ["c.txt", "B"]]
    (sources.root / "data/many/sub").mkdir()
    (sources.root / "data/many/sub/d.txt").write_text("D")
    assert sources.built() == ["from_dir"]
    assert sources.value("from_dir") == [["a.txt", "A"], ["c.txt", "B"], ["sub/d.txt", "D"]]
    (sources.root / "data/many/sub/d.txt").unlink()
    r = sources.build()  # back to the earlier contents: the old trace is reused
    assert r.names("built") == [] and r.ok


def test_editor_files_in_a_directory_source_count(sources):
    """Watch mode ignores editor swap and backup files (``.x.swp``, ``x~``) as changes, but a
    directory's version covers them: an asset receives the directory and may read every file in
    it (as ``from_dir`` does), so a result that lists them must not be reused once they are gone.
    A reader that skips them reruns when they come and go, and early cutoff stops there."""
    sources.built()
    (sources.root / "data/many/.a.txt.swp").write_text("swap")
    (sources.root / "data/many/a.txt~").write_text("backup")
    assert sources.built() == ["from_dir"]
    assert sources.value("from_dir") == [[".a.txt.swp", "swap"], ["a.txt", "A"], ["a.txt~", "backup"], ["b.txt", "B"]]
    (sources.root / "data/many/.a.txt.swp").unlink()
    (sources.root / "data/many/a.txt~").unlink()
    r = sources.build()  # the earlier trace, reused
    assert r.names("built") == [] and sources.value("from_dir") == [["a.txt", "A"], ["b.txt", "B"]]


MUTATING = """
import os

src = source("src", "data/src.txt")
folder = source("folder", "data/folder")

@asset(io="json")
def reader(src):
    text = src.read_text()
    if not os.path.exists(src.with_name("done")):
        src.with_name("done").write_text("")
        src.write_text(text.upper())  # the source changes while this asset runs
    return text

@asset(io="json")
def lister(folder):
    names = sorted(p.name for p in folder.iterdir())
    if len(names) == 1:
        (folder / "added.txt").write_text("new")
    return names

@asset(io="json")
def after(reader):
    return reader + "!"
"""


def test_source_changed_during_the_run_fails_and_is_not_recorded(project, settled):
    """Even when the sources' signatures are recorded (``settled``: old enough to be trusted)."""
    project.write("data/src.txt", "abc")
    project.write("data/folder/one.txt", "1")
    project.assetfile(MUTATING)
    r = project.build(keep_going=True)
    by = {x.asset: x for x in r.results}
    assert by["reader"].status == "failed" and "changed while" in by["reader"].error
    assert by["lister"].status == "failed" and "changed while" in by["lister"].error
    assert by["after"].status == "skipped"
    st = project.status()
    assert st["reader"].state != "fresh" and st["lister"].state != "fresh"
    with pytest.raises(assetbuild.ValueNotFound):
        project.value("reader")
    # The next build sees the new contents, runs them and records them.
    assert sorted(project.built()) == ["after", "lister", "reader"]
    assert project.value("reader") == "ABC" and project.value("after") == "ABC!"
    assert project.value("lister") == ["added.txt", "one.txt"]
    assert sorted(project.build().names("cached")) == ["after", "lister", "reader"]


EDITED_BEFORE_A_LATER_READER = """
@asset(io="text")
def edits(src):
    text = src.read_text()
    src.write_text("v2")  # an edit while this asset runs, before the next one starts
    return text

@asset(io="text")
def reads(src):
    return src.read_text()
"""


def test_a_source_edited_during_a_run_fails_its_later_readers_too(project, settled):
    """The keys of this build were all made from the bytes it first read. An asset that runs
    after an edit of its source (``-k``, serial: ``edits``, then ``reads``) reads the new bytes,
    so it is refused like the one the edit happened under, rather than recorded under the old
    bytes' key: once the file holds the old bytes again, that entry would be served as fresh.
    (The check of the first asset's source used to replace the digest the keys were made from.)"""
    project.write("data/src.txt", "v1")
    project.assetfile('src = source("src", "data/src.txt")\n' + EDITED_BEFORE_A_LATER_READER)
    r = project.build(keep_going=True, jobs=1)
    by = {x.asset: x for x in r.results}
    assert by["edits"].status == "failed" and "changed while 'edits'" in by["edits"].error
    assert by["reads"].status == "failed" and "changed while 'reads'" in by["reads"].error
    project.write("data/src.txt", "v1")  # back to the bytes the build started from
    assert project.built("reads") == ["reads"] and project.value("reads") == "v1"


# --- end to end: path outputs -----------------------------------------------------------------

OUTPUTS = """
@asset(io="text", path="out/small.txt")
def small():
    _ran("small")
    return "small output\\n"

@asset(io="bytes", path="out/deep/big.bin")
def big():
    _ran("big")
    return bytes(range(256)) * 1000

@asset(io="json")
def size(big):
    _ran("size")
    return len(big)
"""


@pytest.fixture
def outputs(project):
    (project.root / "runs").mkdir()
    project.assetfile(run_counter(project.root / "runs") + OUTPUTS)
    assert project.built() == ["small", "big", "size"]
    return project


def test_missing_path_outputs_are_restored_without_running(outputs):
    (outputs.root / "out/small.txt").unlink()
    shutil.rmtree(outputs.root / "out/deep")
    r = outputs.build()
    assert r.names("restored") == ["small", "big"] and r.names("built") == []
    assert (outputs.root / "out/small.txt").read_text() == "small output\n"
    assert (outputs.root / "out/deep/big.bin").read_bytes() == bytes(range(256)) * 1000
    assert run_counts(outputs.root / "runs") == {"small": 1, "big": 1, "size": 1}
    assert outputs.build().names("cached") == ["small", "big", "size"]


def test_edited_path_outputs_are_restored_without_running(outputs):
    (outputs.root / "out/small.txt").write_text("SMALL OUTPUT\n")  # same size
    big = outputs.root / "out/deep/big.bin"
    b = bytearray(big.read_bytes())
    b[1000] ^= 0xFF
    st0 = big.stat()
    big.write_bytes(bytes(b))
    os.utime(big, ns=(st0.st_atime_ns, st0.st_mtime_ns))  # even with size and mtime kept
    r = outputs.build()
    assert r.names("restored") == ["small", "big"] and r.names("built") == []
    assert (outputs.root / "out/small.txt").read_text() == "small output\n"
    assert big.read_bytes() == bytes(range(256)) * 1000
    assert run_counts(outputs.root / "runs") == {"small": 1, "big": 1, "size": 1}


def test_rewritten_with_the_same_content_runs_nothing(outputs, reads):
    for rel in ("out/small.txt", "out/deep/big.bin"):
        p = outputs.root / rel
        data = p.read_bytes()
        p.unlink()
        p.write_bytes(data)  # new inode, new mtime, same bytes
    time.sleep(2 * TICK_NS / 1e9)  # (written in the build's tick, their signatures could not be trusted: racy)
    r = outputs.build()
    assert r.names("cached") == ["small", "big", "size"]
    assert sorted(reads) == ["big.bin", "small.txt"]  # compared by digest once...
    r = outputs.build()
    assert r.names("cached") == ["small", "big", "size"]
    assert len(reads) == 2  # ...and the new signature recorded: the next build only stats
    assert run_counts(outputs.root / "runs") == {"small": 1, "big": 1, "size": 1}


def test_path_writes_leave_no_temporary_files(outputs):
    (outputs.root / "out/small.txt").unlink()
    outputs.build()
    names = sorted(str(p.relative_to(outputs.root)) for p in (outputs.root / "out").rglob("*"))
    assert names == ["out/deep", "out/deep/big.bin", "out/small.txt"]


@pytest.mark.parametrize("came", ["file", "symlink", "empty directory"])
def test_what_came_to_a_path_output_after_in_the_way_looked_is_replaced(tmp_path, came):
    """in_the_way found nothing, so write_path expects a new file; what came there in between
    (the asset wrote it, the user did) is replaced all the same, and the signature is the new
    file's."""
    ws = Workspace(tmp_path / "p", None)
    outside = tmp_path / "outside.txt"
    outside.write_text("not the project's")
    assert ws.in_the_way("out/a.txt") is None
    out = tmp_path / "p/out/a.txt"
    out.parent.mkdir(parents=True)
    if came == "file":
        out.write_text("old")
    elif came == "symlink":
        out.symlink_to(outside)
    else:
        out.mkdir()
    sig = ws.write_path("out/a.txt", b"new")
    assert not out.is_symlink() and out.read_bytes() == b"new" and outside.read_text() == "not the project's"
    assert sig == ws_mod.stat_sig(os.stat(out)) and os.listdir(out.parent) == ["a.txt"]


def test_in_a_directory_the_build_made_nothing_is_looked_at_and_nothing_is_lost(tmp_path):
    """out/ made by this build's first write: in_the_way looks at nothing in it (a cold build's
    10,000 lookups), so a directory of files that came there since (an asset's, the user's)
    is found by the write, which fails naming it and deletes nothing; a directory that was
    there before the build is found before the asset runs, as -n says."""
    from assetbuild.atomicfile import IN_THE_WAY

    ws = Workspace(tmp_path / "p", None)
    assert ws.in_the_way("out/deep/a.txt") is None  # nothing there yet: looked at
    ws.write_path("out/deep/a.txt", b"a")  # makes out/ and out/deep/
    for rel in ("out/b.txt", "out/deep/b.txt"):
        mine = tmp_path / "p" / rel
        mine.mkdir()
        (mine / "notes.txt").write_text("mine\n")
        assert ws.in_the_way(rel) is None
        with pytest.raises(IsADirectoryError, match="holds other files|in its place"):
            ws.write_path(rel, b"b")
        assert (mine / "notes.txt").read_text() == "mine\n"
    (tmp_path / "p/out/c.txt").write_text("came since\n")
    assert ws.in_the_way("out/c.txt") is None and ws.write_path("out/c.txt", b"c") is not None
    assert (tmp_path / "p/out/c.txt").read_bytes() == b"c"
    later = Workspace(tmp_path / "p", None)  # the next build made nothing: it looks
    assert later.in_the_way("out/b.txt") == later.in_the_way("out/deep/b.txt") == IN_THE_WAY


def test_a_path_output_that_cannot_be_reached_says_why_not_that_a_directory_is_there(tmp_path):
    """Nothing stands at a path past PATH_MAX, or below a symlink loop: the asset fails before it
    runs (as -n says) with the system's reason, not "a directory that holds other files is in
    its place"; a file where one of its directories goes is named."""
    deep = "build/" + "/".join(f"d{i % 10}" for i in range(1500)) + "/x.txt"  # 4,511 characters
    (tmp_path / "AssetFile").write_text(f'from assetbuild import asset\n\n\n@asset(io="text", path="{deep}")\n'
                                        'def toodeep():\n    return "y"\n')
    why = f"cannot write its output {deep}: {os.strerror(errno.ENAMETOOLONG)}"
    for dry_run in (True, False):
        r = assetbuild.build(project_dir=tmp_path, dry_run=dry_run, reporter=_quiet())
        assert [(x.asset, x.status, x.error) for x in r.results] == [("toodeep", "failed", why)]
    assert not (tmp_path / "build").exists()
    ws = Workspace(tmp_path, None)
    (tmp_path / "loop").symlink_to("loop")
    assert ws.in_the_way("loop/x.txt") == f"{os.strerror(errno.ELOOP)} (at loop)"
    (tmp_path / "file.txt").write_text("mine")
    assert ws.in_the_way("file.txt/sub/x.txt") == "file.txt is a file, where a directory must be; move it away"
    (tmp_path / "full" / "x.txt").mkdir(parents=True)
    (tmp_path / "full" / "x.txt" / "notes.txt").write_text("mine")
    assert ws.in_the_way("full/x.txt") == IN_THE_WAY and ws.in_the_way("none/x.txt") is None


def test_a_directory_in_place_of_a_path_output_is_replaced_only_when_empty(outputs):
    """A directory holding a file of the user's where a path output goes: the asset fails before
    it runs (a restore, then a run), as -n says, and the file stays; emptied, it makes way."""
    out = outputs.root / "out/small.txt"
    out.unlink()
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    why = ("cannot write its output out/small.txt: a directory that holds other files is in its place, and "
           "assetbuild deletes no file it did not write; move it away")
    for edit in ("", "small output again"):
        if edit:  # its code changed: it would run, and still fail before it does
            outputs.assetfile(run_counter(outputs.root / "runs") + OUTPUTS.replace("small output", edit))
        dry = outputs.build(dry_run=True, keep_going=True)
        assert {r.asset: (r.status, r.error) for r in dry.results}["small"] == ("failed", why)
        r = outputs.build(keep_going=True)
        assert not r.ok and {x.asset: (x.status, x.error) for x in r.results}["small"] == ("failed", why)
        assert (out / "notes.txt").read_text() == "mine\n"
        assert run_counts(outputs.root / "runs") == {"small": 1, "big": 1, "size": 1}
    (out / "notes.txt").unlink()
    assert outputs.build().names("built") == ["small"]
    assert out.read_text() == "small output again\n"


def test_a_file_where_an_outputs_directory_goes_is_named_by_build_and_dry_run(outputs):
    """out/deep is a file of the user's where the directory of out/deep/big.bin goes: -n and the
    build both fail the asset naming that file, which stays."""
    import shutil

    shutil.rmtree(outputs.root / "out/deep")
    (outputs.root / "out/deep").write_text("mine\n")
    why = "cannot write its output out/deep/big.bin: out/deep is a file, where a directory must be; move it away"
    dry = outputs.build(dry_run=True, keep_going=True)
    assert {r.asset: (r.status, r.error) for r in dry.results}["big"] == ("failed", why)
    r = outputs.build(keep_going=True)
    assert {x.asset: (x.status, x.error) for x in r.results}["big"] == ("failed", why)
    assert (outputs.root / "out/deep").read_text() == "mine\n"


# --- relocation -------------------------------------------------------------------------------

RELOCATABLE = """
import json

raw = source("raw", "data/raw.json")

@asset(io="json")
def parsed(raw):
    return json.loads(raw.read_text())

@asset(io="bytes", path="out/big.bin")
def big(parsed):
    return bytes(parsed) * 40000

@asset(io="text", path="out/total.txt")
def total(parsed, big):
    return f"{sum(parsed)} {len(big)}\\n"
"""


@pytest.fixture
def relocatable(project):
    project.write("data/raw.json", "[1, 2, 3, 4]")
    project.assetfile(RELOCATABLE)
    assert project.built() == ["parsed", "big", "total"]
    return project


def test_copied_project_with_its_cache_builds_nothing(relocatable, tmp_path):
    dest = tmp_path / "somewhere" / "else"
    shutil.copytree(relocatable.root, dest)
    r = assetbuild.build(project_dir=dest)
    assert r.ok and r.names("cached") == ["parsed", "big", "total"], r.results
    assert (dest / "out/total.txt").read_text() == "10 160000\n"
    # Outputs missing in the copy come back from the copied store.
    (dest / "out/big.bin").unlink()
    r = assetbuild.build(project_dir=dest)
    assert r.names("restored") == ["big"] and r.names("built") == []
    assert assetbuild.load_value("total", project_dir=dest) == "10 160000\n"


def test_shared_cache_dir_outside_the_projects(project, tmp_path, monkeypatch):
    cache = tmp_path / "shared-cache"
    monkeypatch.setenv("ASSETBUILD_CACHE_DIR", str(cache))
    project.write("data/raw.json", "[5, 6]")
    project.assetfile(RELOCATABLE)
    assert project.built() == ["parsed", "big", "total"]
    assert not (project.root / ".assetbuild").exists() and (cache / "STORE").exists()
    other = tmp_path / "checkout2"
    shutil.copytree(project.root, other, ignore=shutil.ignore_patterns("out"))
    r = assetbuild.build(project_dir=other)
    assert r.names("built") == [] and r.names("restored") == ["big", "total"]
    assert (other / "out/total.txt").read_text() == "11 80000\n"
    assert r.names("cached") == ["parsed"]


def test_directory_version_follows_symlinked_directories_but_not_loops(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.txt").write_text("a")
    src = tmp_path / "src"
    src.mkdir()
    (src / "own.txt").write_text("b")
    (src / "linked").symlink_to("../real")
    (src / "again").symlink_to("../real")  # the same directory twice: both are seen by a reader
    (src / "loop").symlink_to(".")  # a loop: not followed forever
    w = Workspace(tmp_path, None)
    v1 = w.source_version("src", fresh=True)
    (tmp_path / "real" / "x.txt").write_text("changed")
    v2 = w.source_version("src", fresh=True)
    assert v2 != v1
    (src / "again").unlink()
    assert w.source_version("src", fresh=True) not in (v1, v2)


# --- sources that are not regular files (hanging ones run in subprocesses: tests/cli/test_special_files.py)

def _socket(p: Path) -> None:
    os.mknod(p, stat.S_IFSOCK | 0o600)


def _dev_null(p: Path) -> None:
    p.symlink_to("/dev/null")


def _loop(p: Path) -> None:
    p.symlink_to(p.name)


@pytest.mark.parametrize("make, words", [(_socket, "is a socket"), (_dev_null, "is a character device"),
                                         (_loop, "is a symlink loop")], ids=["socket", "dev_null", "loop"])
@pytest.mark.parametrize("inside", [False, True], ids=["the source", "in a source directory"])
def test_a_special_file_makes_the_source_unusable_naming_it(tmp_path, make, words, inside):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.txt").write_text("fine")
    rel = "src/bad" if inside else "bad"
    make(tmp_path / rel)
    w = Workspace(tmp_path, None)
    with pytest.raises(assetbuild.SourceUnusable, match=f"^source {rel} {words}") as ei:
        w.source_version("src" if inside else rel)
    assert ei.value.path == rel
    assert isinstance(ei.value, assetbuild.SourceMissing)  # its readers fail the same way


def test_symlinks_in_a_source_directory_to_files_outside_are_read_dangling_ones_skipped(tmp_path):
    (tmp_path / "outside.txt").write_text("a")
    src = tmp_path / "proj" / "src"
    src.mkdir(parents=True)
    (src / "own.txt").write_text("b")
    (src / "link.txt").symlink_to(tmp_path / "outside.txt")
    w = Workspace(tmp_path / "proj", None)
    v1 = w.source_version("src", fresh=True)
    (tmp_path / "outside.txt").write_text("changed")
    v2 = w.source_version("src", fresh=True)
    assert v2 != v1
    (src / "gone.txt").symlink_to(tmp_path / "nowhere")
    assert w.source_version("src", fresh=True) == v2


def test_a_source_directory_of_any_depth_has_a_version_or_says_why_not(tmp_path):
    """A folder chain deeper than the recursion limit is walked (one raised RecursionError, a
    traceback for the build and status); one whose paths pass PATH_MAX makes the source unusable,
    in one line naming where."""
    bottom = folder_chain(tmp_path / "data", DEEP)
    try:
        v1 = Workspace(tmp_path, None).source_version("data")
        (bottom / "bottom.txt").write_text("edited")
        assert Workspace(tmp_path, None).source_version("data") != v1
        (bottom / "loop").symlink_to(tmp_path / "data", target_is_directory=True)  # an ancestor: not entered
        assert Workspace(tmp_path, None).source_version("data") != v1
        folder_chain(tmp_path / "data" / "long", 20, "x" * 250)
        with pytest.raises(assetbuild.SourceUnusable, match=r"^source data/long/x+/.* cannot be read \(File name too long\)"):
            Workspace(tmp_path, None).source_version("data")
    finally:
        remove_tree(str(tmp_path / "data"))


# --- the journal of directories written (temp files a killed build left) ------------------------

DEAD = ".out.bin.00000000deadbeef.assetbuild-tmp"  # a killed writer's temp file: unlocked


def test_a_build_lists_the_directories_it_writes_into_until_it_ends(tmp_path):
    journal = tmp_path / "cache" / "writing"
    journal.parent.mkdir()
    ws = Workspace(tmp_path, None, journal=str(journal))
    ws.write_path("out/a.txt", b"a")
    ws.write_path("out/b.txt", b"b")
    ws.write_path("more/c.txt", b"c")
    assert journal.read_bytes().split(b"\0") == [os.fsencode(tmp_path / "out"), os.fsencode(tmp_path / "more"), b""]
    ws.finish()
    assert journal.read_bytes() == b""  # (kept: killed builds list what they leave)
    ws.write_path("out/d.txt", b"d")  # a write after the end lists its directory again
    assert journal.read_bytes() == os.fsencode(tmp_path / "out") + b"\0"


def test_with_a_journal_a_directory_is_listed_only_after_a_killed_build(tmp_path, monkeypatch):
    """A cache whose builds keep the journal: a build lists no directory to sweep it, unless a
    killed build named it. Without one yet (a new cache, an earlier version's), every directory
    is swept at its first write, as before."""
    swept: list[str] = []
    real = ws_mod.sweep_temps
    monkeypatch.setattr(ws_mod, "sweep_temps", lambda d: swept.append(os.path.basename(d)) or real(d))
    journal = tmp_path / "writing"
    for expected in (["out", "more"], [], []):
        swept.clear()
        ws = Workspace(tmp_path, None, journal=str(journal))
        ws.write_path("out/a.txt", b"a")
        ws.write_path("more/b.txt", b"b")
        ws.finish()
        assert swept == expected
    journal.write_bytes(os.fsencode(tmp_path / "more") + b"\0")  # as a build killed writing there left it
    swept.clear()
    Workspace(tmp_path, None, journal=str(journal)).write_path("out/a.txt", b"a")
    assert swept == ["more"]


def test_the_next_build_sweeps_what_a_killed_one_listed(tmp_path):
    """Only a listed directory is swept, at the build's first write, wherever that goes."""
    journal = tmp_path / "writing"
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / DEAD).write_bytes(b"half")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / DEAD).write_bytes(b"half")  # (listed by no build: left)
    journal.write_bytes(os.fsencode(tmp_path / "killed") + b"\0")  # (no "out": the build does not sweep it)
    ws = Workspace(tmp_path, None, journal=str(journal))
    ws.write_path("out/a.txt", b"a")
    assert os.listdir(tmp_path / "killed") == []
    assert os.listdir(tmp_path / "other") == [DEAD]
    assert journal.read_bytes() == os.fsencode(tmp_path / "out") + b"\0"


def test_without_a_journal_each_directory_is_swept_at_its_first_write(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / DEAD).write_bytes(b"half")
    nowhere = tmp_path / "gone" / "writing"  # (its directory does not exist: it cannot be written)
    for journal in (None, str(nowhere)):
        (tmp_path / "out" / DEAD).write_bytes(b"half")
        ws = Workspace(tmp_path, None, journal=journal)
        ws.write_path("out/a.txt", b"a")
        assert sorted(os.listdir(tmp_path / "out")) == ["a.txt"], journal
        ws.finish()
    assert not nowhere.parent.exists()


def test_a_killed_build_leaves_the_journal_and_the_next_sweeps_its_temp_file(tmp_path):
    """The whole story, with processes: a build killed as it replaces a path output (a temp file
    written, not yet renamed) leaves it; the next build removes it and its journal."""
    from projects import clean_env, cli, write

    root = write(tmp_path, {"AssetFile": "from assetbuild import asset, source\n\nraw = source('raw', 'raw.txt')\n\n\n"
                            "@asset(io='json', path='out/v.json')\ndef v(raw):\n    return raw.read_text()\n",
                            "raw.txt": "1"})
    assert cli(cwd=root).returncode == 0
    (root / "raw.txt").write_text("2")
    r = cli(cwd=root, env=clean_env(ASSETBUILD_CRASH_AT="path-rename"))
    assert r.returncode != 0
    assert [n for n in os.listdir(root / "out") if n.endswith(".assetbuild-tmp")], os.listdir(root / "out")
    assert (root / ".assetbuild" / "writing").read_bytes() == os.fsencode(root / "out") + b"\0"
    r = cli(cwd=root)
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert os.listdir(root / "out") == ["v.json"]
    assert (root / ".assetbuild" / "writing").read_bytes() == b""


def test_a_symlink_planted_as_the_journal_redirects_no_write(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    journal = tmp_path / "writing"
    journal.symlink_to(victim)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / DEAD).write_bytes(b"half")
    ws = Workspace(tmp_path, None, journal=str(journal))
    ws.write_path("out/a.txt", b"a")
    assert victim.read_text() == "keep me"
    assert sorted(os.listdir(tmp_path / "out")) == ["a.txt"]  # (swept as without a journal)


def test_a_build_that_writes_nothing_sweeps_what_a_killed_one_listed_as_it_ends(tmp_path):
    journal = tmp_path / "writing"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / DEAD).write_bytes(b"half")
    journal.write_bytes(os.fsencode(tmp_path / "out") + b"\0")
    ws = Workspace(tmp_path, None, journal=str(journal))
    ws.finish()
    assert os.listdir(tmp_path / "out") == [] and journal.read_bytes() == b""


def test_a_forced_build_killed_as_it_replaces_an_output_leaves_nothing_after_the_next_build(tmp_path):
    """The next build rebuilds nothing and writes nothing (the bytes are the same); it still
    removes the killed build's temp file (the journal listed its directory)."""
    from projects import clean_env, cli, write

    root = write(tmp_path, {"AssetFile": "from assetbuild import asset\n\n\n"
                            "@asset(io='json', path='out/v.json')\ndef v():\n    return 1\n", "x": ""})
    assert cli(cwd=root).returncode == 0
    assert cli(cwd=root).returncode == 0  # (settled: the snapshot answers the next null build)
    r = cli("--force", cwd=root, env=clean_env(ASSETBUILD_CRASH_AT="path-rename"))
    assert r.returncode != 0
    assert [n for n in os.listdir(root / "out") if n.endswith(".assetbuild-tmp")], os.listdir(root / "out")
    r = cli(cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    assert r.returncode == 0 and "0 built" in r.stdout, r.stdout + r.stderr
    assert "not used: a killed build left temp files to remove" in r.stderr, r.stderr  # (the full path sweeps)
    assert os.listdir(root / "out") == ["v.json"]
    r = cli(cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    assert "snapshot: answers" in r.stderr, r.stderr
