"""The null build's snapshot: answered from it exactly when nothing its decision read changed,
with the full path's output; refused, with the reason, on every change the issue names.

Real commands in real projects. A snapshot does not trust a file modified in the tick of the
filesystem's clock in which the build that recorded it started (or later): the outputs a build
writes are decided again by the next build, whose snapshot then answers (``settled``). Nor does
the stat cache keep a source's signature until the file's ctime is ``RACY_NS`` old: the first
build runs after that (``aged``), so that no later build writes it."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lmdb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from projects import clean_env, cli, write

from assetbuild import snapshot
from assetbuild.workspace import RACY_NS

ASSETFILE = '''\
"""Two sources, three assets, one helper module."""
from assetbuild import asset, source

from helpers import double

raw = source("raw", "data/raw.txt")
LIMIT = 3


@asset(io="json")
def parsed(raw):
    return [int(x) for x in raw.read_text().split()]


@asset(io="json", path="out/total.json", env=["SCALE"])
def total(parsed):
    return double(sum(parsed)) * int(os.environ.get("SCALE", "1"))


@asset(io="json")
def top(parsed):
    return sorted(parsed)[-LIMIT:]
'''.replace("from assetbuild import", "import os\n\nfrom assetbuild import")


@pytest.fixture(autouse=True)
def _answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot answers here (tests/conftest.py has every other test check it instead)."""
    monkeypatch.setenv("ASSETBUILD_CHECK_SNAPSHOT", "0")


def project(root: Path) -> Path:
    """The project, its files last modified a minute ago; its data ``aged``, so that the first
    build records their signatures in the stat cache (``aged_data``)."""
    root = write(root, {"AssetFile": ASSETFILE, "helpers.py": "def double(x):\n    return 2 * x\n"})
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (p.stat().st_atime, p.stat().st_mtime - 60))
    os.rename(aged_data(root), root / "data")
    return root


def aged(since_ns: int) -> None:
    """Wait until the files changed by ``since_ns`` (``time.time_ns()``; a file's ctime is never
    later) are RACY_NS old. Until then the stat cache keeps no signature of a source (a past
    mtime does not count: the ctime, which utime moves too, does), and the first build after
    does. A build that records the snapshot hashes no source it found as recorded: were the
    first such build one the snapshot does not answer and that records none (a full path's build
    of assets named, the check's), it would change the index under the snapshot."""
    time.sleep(max(0, since_ns + RACY_NS - time.time_ns()) / 1e9)


_AGED: list[Path] = []  # ``aged_data``'s folders


def aged_data(near: Path) -> Path:
    """A ``data`` folder holding raw.txt, last modified a minute ago and ``aged``: a batch made
    at the first call, beside ``near`` (on its file system), and waited for once. A rename of
    the folder moves it into a project and leaves its files' ctimes as they are."""
    if not _AGED:
        batch = Path(tempfile.mkdtemp(prefix="aged-data-", dir=near.parent))
        for i in range(80):
            raw = write(batch / str(i), {"raw.txt": "1 2 3 4\n"}) / "raw.txt"
            os.utime(raw, (raw.stat().st_atime, raw.stat().st_mtime - 60))
            _AGED.append(batch / str(i))
        aged(time.time_ns())
    return _AGED.pop()


def explain(root: Path, *args: str, **env: str) -> tuple[str, str, int]:
    """(stdout, the snapshot's one line on stderr, exit status) of a build."""
    r = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **env))
    line = next((ln for ln in r.stderr.splitlines() if ln.startswith("snapshot:")), "")
    return r.stdout, line, r.returncode


def settled(root: Path, **env: str) -> None:
    """Built, then a null build (which decides again what the first wrote, in its clock tick):
    the snapshot answers from now on."""
    assert cli(cwd=root, env=clean_env(**env)).returncode == 0
    out, line, status = explain(root, **env)
    assert status == 0 and "0 built, 3 cached" in out, out
    out, line, status = explain(root, **env)
    assert line == "snapshot: answers", line


def test_answers_with_the_full_paths_output(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    for args in ((), ("--json",), ("build", "-q"), ("build", "--json")):
        fast = cli(*args, cwd=root)
        full = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
        assert fast.returncode == full.returncode == 0
        if "--json" in args:
            assert fast.stdout == full.stdout  # the same document, byte for byte
        else:
            assert fast.stdout.split(" in ")[0] == full.stdout.split(" in ")[0]
    _, line, status = explain(root, ASSETBUILD_CHECK_SNAPSHOT="1")
    assert status == 0 and line == "snapshot: answers (checked against the full path)"


def _edit_assetfile(root: Path) -> None:
    (root / "AssetFile").write_text(ASSETFILE.replace("LIMIT = 3", "LIMIT = 2"))


def _same_size_same_mtime(root: Path) -> None:
    p = root / "data" / "raw.txt"
    st = p.stat()
    p.write_text("1 2 3 5\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))


def _same_size_module(root: Path) -> None:
    p = root / "helpers.py"
    st = p.stat()
    p.write_text("def double(x):\n    return 3 * x\n")  # (its size and mtime as before: its ctime moves)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))


def _shadow(root: Path) -> None:
    (root / "lib").mkdir()  # a new package beside the project's: the directory's time changes
    (root / "lib" / "__init__.py").write_text("")


def _shadow_time_set_back(root: Path) -> None:
    st = root.stat()  # (as tar x or rsync -t leave a folder they filled: its old mtime)
    _shadow(root)
    os.utime(root, ns=(st.st_atime_ns, st.st_mtime_ns))


def _edit_module(root: Path) -> None:
    (root / "helpers.py").write_text("def double(x):\n    return 3 * x\n")


def _drop_output(root: Path) -> None:
    (root / "out" / "total.json").unlink()


def _drop_cache_index(root: Path) -> None:
    env = lmdb.open(str(root / ".assetbuild" / "db"), max_dbs=64)
    with env.begin(write=True) as txn:
        txn.put(b"x", b"y")  # any commit: a build, accept, clean or a partition added elsewhere
    env.close()


DATA = "a source or path output changed"
MODULE = "module helpers changed inside the definition of double"  # (a slice builds what reaches it: codeedits)
EDITS = {"assetfile": (_edit_assetfile, "a file changed"), "module": (_edit_module, MODULE),
         "same-size-same-mtime": (_same_size_same_mtime, DATA),
         "module, same size and mtime": (_same_size_module, MODULE),
         "shadowing module": (_shadow, "a directory changed"),
         "shadowing module in a folder set back": (_shadow_time_set_back, "a directory changed"),
         "path output": (_drop_output, DATA),
         "cache index": (_drop_cache_index, "the cache's index changed")}


@pytest.mark.parametrize("edit", list(EDITS))
def test_every_change_is_seen_and_the_build_ends_as_the_full_paths(tmp_path: Path, edit: str) -> None:
    root = project(tmp_path)
    settled(root)
    change, reason = EDITS[edit]
    change(root)
    out, line, status = explain(root)
    assert line.startswith("snapshot: not used: " + reason), line
    full = cli("--json", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert status == full.returncode


def _resave(root: Path, name: str) -> None:
    """An editor's save of what the file holds: a new file renamed over it (a new inode, and a
    new time for its folder)."""
    p = root / name
    p.with_name(name + ".new").write_bytes(p.read_bytes())
    os.replace(p.with_name(name + ".new"), p)


def _made_and_removed(root: Path) -> None:
    (root / "4913").write_text("")  # (vim's check that it may write in the folder)
    (root / "4913").unlink()


UNCHANGED = {"touch a module": lambda root: os.utime(root / "helpers.py"),
             "touch the AssetFile": lambda root: os.utime(root / "AssetFile"),
             "the AssetFile saved unchanged": lambda root: _resave(root, "AssetFile"),
             "a module saved unchanged": lambda root: _resave(root, "helpers.py"),
             "a swap file beside the AssetFile": lambda root: (root / ".AssetFile.swp").write_bytes(b"b0VIM 9.0"),
             "a file made and removed beside it": _made_and_removed}


@pytest.mark.parametrize("edit", list(UNCHANGED))
def test_a_save_that_changes_no_code_is_answered(tmp_path: Path, edit: str) -> None:
    """A code file whose signature changed is read, and holds what it held; a folder whose time
    moved is listed, and holds the same names an import could find: no change, so the snapshot
    answers (and the full path agrees)."""
    root = project(tmp_path)
    settled(root)
    UNCHANGED[edit](root)
    out, line, status = explain(root)
    assert status == 0 and line == "snapshot: answers", line
    assert "0 built, 3 cached" in out
    _, line, status = explain(root, ASSETBUILD_CHECK_SNAPSHOT="1")
    assert status == 0 and line == "snapshot: answers (checked against the full path)", line


def test_a_data_edit_beside_a_swap_file_loads_a_slice(tmp_path: Path) -> None:
    """An editor holding the AssetFile open (its swap file in the project's folder) leaves the
    next data edit to a slice, not to the full path."""
    root = project(tmp_path)
    settled(root)
    (root / ".AssetFile.swp").write_bytes(b"b0VIM 9.0")
    (root / "data" / "raw.txt").write_text("1 2 3 5\n")
    out, line, status = explain(root)
    assert status == 0 and line.startswith(f"snapshot: not used: {DATA}") and "; the build loads" in line, line
    assert "3 built, 0 cached" in out, out
    (root / "foo.py").write_text("")  # a name an import could find: the folder changed
    _, line, _ = explain(root)
    assert line == f"snapshot: not used: a directory changed: {root}", line


def test_a_null_build_of_a_selection_leaves_the_snapshot(tmp_path: Path) -> None:
    """Building one asset that is up to date writes nothing to the cache (not even the last
    build's counts): the next build of the whole project is still answered."""
    root = project(tmp_path)
    settled(root)
    stats = cli("cache", "stats", "--json", cwd=root).stdout
    out, line, status = explain(root, "top")
    assert status == 0 and "0 built, 2 cached" in out
    _, line, status = explain(root)
    assert status == 0 and line == "snapshot: answers", line
    assert cli("cache", "stats", "--json", cwd=root).stdout == stats  # (the last build that ran something)


@pytest.mark.parametrize("args", [("top",), ("build", "total", "--json"), ("top", "total", "-n"), ("total", "-n", "--json"),
                                  ("parsed", "-q")])
def test_a_build_of_assets_named_is_answered_as_the_cli_would(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Nothing changed: a build of the assets named (and what they need) is answered with the
    CLI's output, byte for byte with ``--json``, and the full path agrees under the check."""
    root = project(tmp_path)
    settled(root)
    fast, line, status = explain(root, *args)
    assert status == 0 and line == "snapshot: answers", line
    full = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert full.returncode == 0
    if "--json" in args:
        assert fast == full.stdout
    else:
        assert fast.split(" in ")[0] == full.stdout.split(" in ")[0]
    if "top" in args and "-n" not in args:
        assert fast.startswith("0 built, 2 cached")  # (top and parsed)
    _, line, status = explain(root, *args, ASSETBUILD_CHECK_SNAPSHOT="1")
    assert status == 0 and line == "snapshot: answers (checked against the full path)", line


def test_a_build_of_assets_named_goes_to_the_cli_unless_nothing_changed(tmp_path: Path) -> None:
    """A name that is no asset (a source, a typo) gets the CLI's error; after a change the CLI
    builds what is named, and records no snapshot (the next build of everything does)."""
    root = project(tmp_path)
    settled(root)
    for name, error in (("raw", "'raw' is a source, not an asset"), ("totl", "no asset named 'totl'")):
        r = cli(name, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
        assert r.returncode == 2 and error in r.stderr, r.stderr
        assert "snapshot: not used: a name is not one of the assets it recorded" in r.stderr
    (root / "data" / "raw.txt").write_text("1 2 3 5\n")
    out, line, status = explain(root, "top")
    assert status == 0 and line.startswith(f"snapshot: not used: {DATA}") and "the build loads" not in line, line
    assert "2 built, 0 cached" in out
    _, line, _ = explain(root, "top")
    assert line == "snapshot: not used: the cache's index changed since the snapshot", line  # (what top built)
    out, _, _ = explain(root)
    assert "1 built, 2 cached" in out
    _, line, _ = explain(root, "top")
    assert line == "snapshot: answers", line


BRANCHES = '''\
from assetbuild import asset, source

left = source("left", "data/left.txt")
right = source("right", "data/right.txt")


@asset(io="json")
def lhs(left):
    return left.read_text().split()


@asset(io="json")
def rhs(right):
    return right.read_text().split()


@asset(io="json")
def both(lhs, rhs):
    return lhs + rhs
'''


def test_assets_named_that_read_no_changed_file_are_answered(tmp_path: Path) -> None:
    """Only data changed, and none of it is read by the assets named, even through what they
    need: they are as recorded (the slice a build of everything would take leaves them cached),
    so their build, dry run and status are answered; those that read it go to the CLI."""
    root = write(tmp_path, {"AssetFile": BRANCHES, "data/left.txt": "a b\n", "data/right.txt": "c\n"})
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (p.stat().st_atime, p.stat().st_mtime - 60))
    aged(time.time_ns())
    assert cli(cwd=root).returncode == 0
    assert explain(root)[1] == "snapshot: answers"
    (root / "data" / "right.txt").write_text("d\n")
    for args, said in ((("lhs",), "0 built, 1 cached"), (("lhs", "-n"), "dry run: 0 of 1 assets would run"),
                       (("status", "lhs"), "fresh   lhs")):
        out, line, status = explain(root, *args)
        assert status == 0 and line == "snapshot: answers" and out.startswith(said), (args, line, out)
        _, line, _ = explain(root, *args, ASSETBUILD_CHECK_SNAPSHOT="1")
        assert line == "snapshot: answers (checked against the full path)", (args, line)
    out, line, status = explain(root, "status", "rhs")
    assert line.startswith(f"snapshot: not used: {DATA}") and out.startswith("stale   rhs"), (line, out)
    out, line, status = explain(root, "both", "-n")
    assert line.startswith(f"snapshot: not used: {DATA}") and "dry run: 1 of 3 assets would run" in out, (line, out)
    out, line, status = explain(root, "rhs")
    assert line.startswith(f"snapshot: not used: {DATA}") and out.startswith("built     rhs"), (line, out)


def test_import_names_are_what_an_import_could_find(tmp_path: Path) -> None:
    import _imp

    ext = _imp.extension_suffixes()[0]
    for name in ("pkg", "AssetFile", "mod.py", "mod.pyc", f"fast{ext}", "site.pth", "lib-1.0.dist-info", "x.egg-info",
                 ".AssetFile.swp", "4913", "mod.py~", ".#mod.py", "my-mod.py", "notes.txt", "__pycache__", "data.v2"):
        (tmp_path / name).write_text("")
    names = snapshot.import_names(str(tmp_path))
    assert names is not None and names.split("\0") == sorted(
        ["pkg", "AssetFile", "mod.py", "mod.pyc", f"fast{ext}", "site.pth", "lib-1.0.dist-info", "x.egg-info"])
    assert snapshot.import_names(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("var", ["SCALE", "ASSETBUILD_NOW", "PYTHONPATH"])
def test_an_environment_change_is_refused(tmp_path: Path, var: str) -> None:
    root = project(tmp_path)
    settled(root)
    value = str(tmp_path) if var == "PYTHONPATH" else "2026-01-01T00:00:00Z" if var == "ASSETBUILD_NOW" else "3"
    env = {var: os.pathsep.join([value, os.environ["PYTHONPATH"]]) if var == "PYTHONPATH" and "PYTHONPATH" in os.environ
           else value}
    _, line, _ = explain(root, **env)
    assert line.startswith("snapshot: not used: "), line
    assert "environment" in line or "sys.path" in line


def test_an_assetfile_that_reads_the_environment_at_load_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "AssetFile").write_text(ASSETFILE.replace("LIMIT = 3", 'LIMIT = int(os.environ.get("LIMIT", "3"))'))
    assert cli(cwd=root).returncode == 0
    for _ in range(2):
        out, line, status = explain(root)
    assert status == 0 and "0 built, 3 cached" in out
    assert line.startswith("snapshot: not used: AssetFile:"), line
    assert "only declares" in line
    rec = snapshot.read(str(root / ".assetbuild"))  # the verdict is kept: the next build does not parse again
    assert rec is not None and any(v.startswith("AssetFile:") for v in rec["checked"].values())


def test_the_command_and_python_m_answer_each_other(tmp_path: Path) -> None:
    """The ``assetbuild`` command (its folder first on sys.path, as Python puts a script's) and
    ``python -m assetbuild`` by another name of the same interpreter (a venv's ``python`` and
    ``python3``) import the same and record the same: a snapshot either made answers the other."""
    here = Path(sys.executable).parent
    script = here / "assetbuild"
    other = next((here / n for n in ("python3", "python") if n != Path(sys.executable).name and (here / n).exists()), None)
    if not script.exists() or other is None:
        pytest.skip(f"needs the installed command and a second name of this Python in {here}")
    root = project(tmp_path)
    settled(root)  # (by sys.executable -m assetbuild)
    env = clean_env(ASSETBUILD_SNAPSHOT="explain")
    for cmd in ([str(script)], [str(other), "-m", "assetbuild"], [str(script)], [sys.executable, "-m", "assetbuild"]):
        r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "snapshot: answers" in r.stderr.splitlines(), (cmd, r.stderr)


def test_a_project_it_cannot_see_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "AssetFile").write_text(ASSETFILE.replace('@asset(io="json")\ndef top', '@asset(io="json", volatile=True)\ndef top'))
    assert cli(cwd=root).returncode == 0
    _, line, _ = explain(root)
    assert line == "snapshot: not used: asset 'top' is volatile", line


def test_the_build_that_wrote_the_outputs_records_a_snapshot(tmp_path: Path) -> None:
    root = project(tmp_path)
    _, line, _ = explain(root)
    assert line.startswith("snapshot: not used: no snapshot")
    out, line, _ = explain(root)  # its outputs' signatures are the ones their heads recorded
    assert line == "snapshot: answers", line
    assert "0 built, 3 cached" in out


def test_a_source_edited_as_the_build_starts_is_decided_again(tmp_path: Path) -> None:
    """A source modified in the clock tick in which the build took its signature (here: made
    to look so, its mtime set ahead) may change again unseen: the next build reads it again."""
    root = project(tmp_path)
    assert cli(cwd=root).returncode == 0
    raw = root / "data" / "raw.txt"
    ahead = raw.stat().st_mtime_ns + 3_600 * 10**9
    os.utime(raw, ns=(ahead, ahead))  # modified "after" the next build's probe
    out, line, _ = explain(root)
    assert line.startswith(f"snapshot: not used: {DATA}"), line  # (its signature changed)
    _, line, _ = explain(root)
    assert line.startswith(f"snapshot: not used: {DATA}, or is too recent to trust: {raw}; the build loads"), line
    rec = snapshot.read(str(root / ".assetbuild"))
    assert rec is not None and rec["racy"] == [str(raw)]


def test_a_failed_build_records_no_snapshot(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "data" / "raw.txt").write_text("1 x\n")
    assert cli(cwd=root).returncode == 1
    _, line, status = explain(root)
    assert status == 1 and line == "snapshot: not used: the last build did not succeed", line


def test_a_build_that_waited_for_the_lock_records_a_snapshot(tmp_path: Path) -> None:
    """A build that waited for another (here: the lock held by this test) said so, a line of its
    own that the next null build has no cause to print: it records a snapshot even so."""
    import fcntl

    from projects import cli_cmd

    root = project(tmp_path)
    settled(root)
    fd = os.open(root / ".assetbuild" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        build = subprocess.Popen(cli_cmd(), cwd=root, env=clean_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        said = build.stderr.readline() if build.stderr is not None else ""
        assert "waiting for it to finish" in said, said
    finally:
        os.close(fd)
    out, err = build.communicate(timeout=120)
    assert build.returncode == 0 and "0 built, 3 cached" in out, err
    out, line, _ = explain(root)
    assert line == "snapshot: answers", line


def test_racy_signatures() -> None:
    probe = (7, 5_000_000_000)  # (device, mtime) of the lock file touched as the build started
    sig = [10, 4_999_999_999, 4_000_000_000, 1, 7]  # (size, mtime, ctime, inode, device)
    assert not snapshot.is_racy(sig, probe)
    assert snapshot.is_racy([10, 5_000_000_000, 1, 1, 7], probe)  # in the probe's tick
    assert snapshot.is_racy([10, 1, 5_000_000_001, 1, 7], probe)  # its ctime: a same-mtime edit
    other = [10, 4_000_000_000, 4_000_000_000, 1, 8]  # another filesystem: RACY_NS of margin
    assert snapshot.is_racy(other, probe) and not snapshot.is_racy([10, 1, 1, 1, 8], probe)
    assert not snapshot.is_racy(None, probe)


def test_a_record_whose_data_does_not_fit_its_paths_is_no_record(tmp_path: Path) -> None:
    """The data's signatures are packed bytes beside the paths: a record where they disagree
    (a damaged or foreign file) is not read, and the build decides on the full path."""
    root = project(tmp_path)
    settled(root)
    cache = str(root / ".assetbuild")
    rec = snapshot.read(cache)
    assert rec is not None and len(rec["data"][1]) == 40 * len(rec["data"][0]) > 0
    snapshot.write(cache, {**rec, "data": [rec["data"][0], rec["data"][1][:-1]]})
    assert snapshot.read(cache) is None
    out, line, status = explain(root)
    assert status == 0 and "0 built, 3 cached" in out and line.startswith("snapshot: not used: no snapshot"), line


@given(st.lists(st.none() | st.tuples(st.integers(0, 2**63 - 1), st.integers(-2**63, 2**63 - 1),
                                      st.integers(-2**63, 2**63 - 1), st.integers(1, 2**64 - 1),
                                      st.integers(0, 2**64 - 1))))
def test_packed_signatures_unpack_to_themselves(sigs: list) -> None:
    import struct

    packed = snapshot.packed_sigs(sigs)
    back = [None if s == (0, 0, 0, 0, 0) else s for s in struct.iter_unpack(snapshot.SIG_FORMAT, packed)]
    assert back == sigs


_TIMES = st.integers(0, 8_000_000_000)


@given(st.dictionaries(st.text(max_size=3), st.none() | st.tuples(st.integers(0, 9), _TIMES, _TIMES, st.integers(0, 9),
                                                                   st.integers(7, 8))),
       st.tuples(st.integers(7, 8), _TIMES))
def test_racy_paths_is_is_racy_for_each(sigs: dict, probe: tuple[int, int]) -> None:
    assert snapshot.racy_paths(sigs, probe) == {p for p, s in sigs.items() if snapshot.is_racy(s, probe)}


def test_lmdb_state_reads_the_last_committed_transaction(tmp_path: Path) -> None:
    env = lmdb.open(str(tmp_path / "db"), max_dbs=4)
    seen = []
    for i in range(3):
        with env.begin(write=True) as txn:
            txn.put(b"k%d" % i, b"v" * (i * 5000))
        state = snapshot.lmdb_state(str(tmp_path / "db" / "data.mdb"))
        assert state is not None and state[2] == env.info()["last_txnid"]
        seen.append(state[2])
    env.close()
    assert seen == sorted(set(seen))
    (tmp_path / "not-lmdb").write_bytes(b"\0" * 9000)
    assert snapshot.lmdb_state(str(tmp_path / "not-lmdb")) is None


@pytest.mark.parametrize("args", [("-q",), ("-n",), ("status",)])  # (a build, a dry run, a status)
def test_the_fast_path_imports_neither_click_nor_the_engine_nor_typing(tmp_path: Path, args: tuple[str, ...]) -> None:
    root = project(tmp_path)
    settled(root)
    code = ("import sys, os; sys.argv = ['assetbuild', *sys.argv[1:]]; del sys.path[0]\n"  # as `python -m assetbuild` runs
            "import atexit\n"
            "atexit.register(lambda: None)\n"
            "import assetbuild.entry as e, os\n"
            "real = os._exit\n"
            "def leave(code):\n"
            "    heavy = [m for m in ('click', 'lmdb', 'typing', 'assetbuild.session', 'assetbuild.store') if m in sys.modules]\n"
            "    print(heavy); sys.stdout.flush(); real(code)\n"
            "os._exit = leave\n"
            "e.main()\n")
    r = cli_python(code, root, *args)
    assert r.returncode == 0 and r.stdout.splitlines()[-1:] == ["[]"], r.stdout + r.stderr


def test_a_slice_build_imports_no_remote_cache_client(tmp_path: Path) -> None:
    """A build after a data edit, with no remote set, records its run (its command line, cleaned
    of credentials: ``redaction``) without importing the remote cache's package or fsspec."""
    root = project(tmp_path)
    settled(root)
    (root / "data" / "raw.txt").write_text("1 2 3 5\n")
    code = ("import sys, os; sys.argv = ['assetbuild', *sys.argv[1:]]; del sys.path[0]\n"
            "os.environ['ASSETBUILD_SNAPSHOT'] = 'explain'\n"
            "import assetbuild.entry as e, os\n"
            "real = os._exit\n"
            "def leave(code):\n"
            "    print([m for m in ('assetbuild.remote', 'fsspec') if m in sys.modules]); sys.stdout.flush(); real(code)\n"
            "os._exit = leave\n"
            "e.main()\n")
    r = cli_python(code, root, "-q")
    assert r.returncode == 0 and r.stdout.splitlines()[-1:] == ["[]"], r.stdout + r.stderr
    assert "; the build loads " in r.stderr, r.stderr  # (a slice)


def cli_python(code: str, cwd: Path, *args: str):
    import subprocess

    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, env=clean_env())


def test_the_check_fails_when_the_snapshot_would_have_answered_wrongly(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    results = root / ".assetbuild" / "snapshot.results"
    doc = marshal.loads(results.read_bytes())
    doc["results"][0][1] = "0" * 64  # a key the full path will not find
    results.write_bytes(marshal.dumps(doc))
    r = cli(cwd=root, env=clean_env(ASSETBUILD_CHECK_SNAPSHOT="1"))
    assert r.returncode != 0 and "snapshot disagrees with the full build" in r.stderr, r.stderr
    assert cli(cwd=root).returncode == 0  # without the check: answered, as recorded


def test_clean_removes_it(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    assert (root / ".assetbuild" / "snapshot").is_file() and (root / ".assetbuild" / "snapshot.results").is_file()
    assert cli("clean", "--yes", "--keep-outputs", cwd=root).returncode == 0
    assert not (root / ".assetbuild").exists() or not any((root / ".assetbuild").iterdir())


def test_json_without_its_results_file_falls_back_without_waiting_on_itself(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    (root / ".assetbuild" / "snapshot.results").unlink()
    out, line, status = explain(root, "--json")  # the full path takes the build lock: ours is released
    assert status == 0 and '"status": "cached"' in out
    assert line == "snapshot: not used: its results file is missing or is not its own", line


def test_the_null_document_is_kept_for_the_next_null_build(tmp_path: Path) -> None:
    """The first null ``--json`` build keeps the document it prints; the next ones print it as
    kept (their record's own: they read no results), the full path's byte for byte. One kept
    for another record is not used, nor one that is not whole."""
    root = project(tmp_path)
    settled(root)
    cache = root / ".assetbuild"
    kept = cache / snapshot.NULL_JSON_FILE
    assert not kept.exists()  # (plain builds print no document)
    first = cli("--json", cwd=root)
    assert first.returncode == 0 and kept.is_file()
    results = (cache / snapshot.RESULTS_FILE).read_bytes()
    (cache / snapshot.RESULTS_FILE).unlink()
    out, line, status = explain(root, "--json")
    assert (status, line, out) == (0, "snapshot: answers", first.stdout)
    (cache / snapshot.RESULTS_FILE).write_bytes(results)
    stamp, _, document = kept.read_bytes().partition(b"\n")
    for other in (b"1" + stamp + b"\n" + document.replace(b"cached", b"CACHED"),  # another record's
                  stamp + b"\n" + document[:-1]):  # cut short
        kept.write_bytes(other)
        out, line, status = explain(root, "--json")
        assert (status, line, out) == (0, "snapshot: answers", first.stdout)
        assert kept.read_bytes() == stamp + b"\n" + document  # made again, and kept
    full = cli("--json", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert full.stdout == first.stdout


def test_a_module_level_name_from_a_relative_import_is_known(tmp_path: Path) -> None:
    """``lib/steps.py`` reads ``K`` of ``.util`` at module level: the static check resolves the
    relative import from the module's package, and the snapshot answers."""
    root = write(tmp_path, {
        "AssetFile": 'from assetbuild import asset\n\nfrom lib.steps import f\n\n\n@asset(io="json")\ndef a():\n'
                     "    return f(2)\n",
        "lib/__init__.py": "", "lib/util.py": "K = 3\n",
        "lib/steps.py": "from .util import K\n\nY = K\n\n\ndef f(x):\n    return x * Y\n"})
    assert cli(cwd=root).returncode == 0
    _, line, _ = explain(root)
    assert line == "snapshot: answers", line


def test_a_relative_directory_option_records_and_answers(tmp_path: Path) -> None:
    project(tmp_path / "proj")
    assert cli("-C", "proj", cwd=tmp_path).returncode == 0
    r = cli("-C", "proj", "-q", cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    assert "snapshot: answers" in r.stderr, r.stderr


def test_a_build_from_a_subdirectory_records_and_the_project_directory_answers(tmp_path: Path) -> None:
    """``assetbuild`` in a folder of the project builds the project above it, and records the
    snapshot of that plain build: the next build in the project directory answers from it
    (PYTHONSAFEPATH: the same sys.path from both, as the console script has)."""
    root = project(tmp_path / "proj")
    (root / "sub").mkdir()
    settled(root, PYTHONSAFEPATH="1")
    (root / "data" / "raw.txt").write_text("1 2 3 5\n")
    r = cli(cwd=root / "sub", env=clean_env(PYTHONSAFEPATH="1"))
    assert r.returncode == 0 and "built     parsed" in r.stdout, r.stdout + r.stderr
    _, line, _ = explain(root, PYTHONSAFEPATH="1")
    assert line == "snapshot: answers", line


@pytest.mark.parametrize("args", [[], ["--json"], ["-n"], ["status"]])
def test_a_reader_that_went_away_ends_the_answer_as_the_full_path(tmp_path: Path, args: list[str]) -> None:
    """stdout a pipe whose reader is gone (``assetbuild --json | head -c 10`` on a big project):
    the snapshot's answer ends with status 1 and says nothing, as the full path (click) does;
    it ended with 120 and "Exception ignored ... BrokenPipeError" (a document larger than the
    pipe holds: a traceback)."""
    import subprocess

    from projects import cli_cmd

    root = project(tmp_path)
    settled(root)
    for mode, line in (("explain", "snapshot: answers"), ("0", "")):
        read, write = os.pipe()
        os.close(read)
        try:
            r = subprocess.run(cli_cmd(*args), cwd=root, stdout=write, stderr=subprocess.PIPE, text=True,
                               env=clean_env(ASSETBUILD_SNAPSHOT=mode), timeout=60)
        finally:
            os.close(write)
        assert r.returncode == 1 and r.stderr.strip() == line, (mode, r.returncode, r.stderr)


def test_the_cache_layout_knows_every_snapshot_file():
    """``clean`` removes (and ``check_cache_dir`` accepts) what the store layout names."""
    from assetbuild import snapshot
    from assetbuild.store import cachedir

    assert set(cachedir._SNAPSHOT_FILES) == {snapshot.FILE, snapshot.RESULTS_FILE, snapshot.GRAPH_FILE,
                                             snapshot.NULL_JSON_FILE}


def test_a_directory_option_through_a_symlink_records_and_answers(tmp_path: Path) -> None:
    """``-C link`` where ``link -> proj``: the build works in the resolved directory, so the
    entry point compares with that one, and the snapshot answers (it never did: each build
    through the link loaded the whole project, and recorded nothing)."""
    project(tmp_path / "proj")
    (tmp_path / "link").symlink_to("proj")
    assert cli("-C", "link", cwd=tmp_path).returncode == 0
    r = cli("-C", "link", "-q", cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    assert r.returncode == 0 and "snapshot: answers" in r.stderr, r.stderr
    r = cli("-C", "proj", "-q", cwd=tmp_path, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    assert r.returncode == 0 and "snapshot: answers" in r.stderr, r.stderr


def test_a_folder_of_outputs_moved_and_linked_back_is_checked_as_the_full_path_checks_it(tmp_path: Path) -> None:
    """``out`` moved into the cache directory and linked back: its files are the same, to their
    stat, but an output now lies in the cache, which the full path refuses (exit 2). The
    snapshot, which compared only the outputs' signatures, answered "cached"; a link that
    resolves to a plain folder, or the folder deleted, is as the full path says too."""
    root = project(tmp_path)
    settled(root)
    (root / "out").rename(root / ".assetbuild" / "out")
    (root / "out").symlink_to(Path(".assetbuild") / "out")
    fast, line, status = explain(root)
    full = cli(cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert status == full.returncode == 2 and "lies inside the cache directory" in full.stderr
    assert line == f"snapshot: not used: a folder holding path outputs is reached through another symlink, or none, " \
                   f"now: {root / 'out'}"
    (root / "out").unlink()
    (root / ".assetbuild" / "out").rename(root / "elsewhere")
    (root / "out").symlink_to("elsewhere")  # (allowed: outputs on another disk)
    assert cli(cwd=root).returncode == 0
    settled(root)


def test_an_assetfile_link_retargeted_at_the_same_bytes_is_another_project_to_the_store(tmp_path: Path) -> None:
    """``AssetFile -> pipelines/v1.py``, retargeted at ``v2.py`` holding the same bytes: the store
    keeps heads and history under the AssetFile's real path, so the snapshot refuses and the full
    path records the project under its new identity. It answered from the same content: every
    build said cached and status fresh, while ``show`` said never built, for good."""
    root = tmp_path / "proj"
    code = 'from assetbuild import asset\n\n\n@asset(io="json")\ndef a():\n    return 1\n'
    write(root, {"pipelines/v1.py": code, "pipelines/v2.py": code})
    (root / "AssetFile").symlink_to("pipelines/v1.py")
    assert cli(cwd=root).returncode == 0
    _, line, _ = explain(root)
    assert line == "snapshot: answers", line
    (root / "AssetFile").unlink()
    (root / "AssetFile").symlink_to("pipelines/v2.py")
    out, line, status = explain(root)
    assert status == 0 and "0 built, 1 cached" in out, out
    shown = cli("show", "a", cwd=root)
    assert (shown.returncode, shown.stdout.strip()) == (0, "1"), shown.stderr  # (was: never been built)
    assert '"last_key": null' not in cli("why", "a", "--json", cwd=root).stdout
    assert line.startswith("snapshot: not used: the AssetFile is another file"), line
    _, line, _ = explain(root)
    assert line == "snapshot: answers", line  # (recorded again, under the new path)


def test_a_secret_variable_is_kept_as_a_digest_and_still_watched(tmp_path: Path) -> None:
    """A variable named as a secret (``API_KEY``, declared with ``env=``; the remote cache's
    ``ASSETBUILD_CACHE_KEY``) is never stored: the snapshot keeps a digest of its value, as
    keys do, and still refuses when it changes (it kept the value in plain text: a cached
    ``.assetbuild`` directory carried it to CI caches)."""
    root = write(tmp_path, {"AssetFile": 'import os\n\nfrom assetbuild import asset\n\n\n@asset(io="json", env=["API_KEY"])\n'
                                         'def a():\n    return len(os.environ.get("API_KEY", ""))\n'})
    secrets = {"API_KEY": "hunter2-not-stored", "ASSETBUILD_CACHE_KEY": "hmac-not-stored"}
    assert cli(cwd=root, env=clean_env(**secrets)).returncode == 0
    _, line, _ = explain(root, **secrets)
    assert line == "snapshot: answers", line
    for p in (root / ".assetbuild").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert b"hunter2-not-stored" not in data and b"hmac-not-stored" not in data, p
    for changed in ({"API_KEY": "hunter3-not-stored"}, {"ASSETBUILD_CACHE_KEY": "other"}):
        _, line, _ = explain(root, **{**secrets, **changed})
        assert line == "snapshot: not used: an environment variable that can change a decision differs", line


def test_the_snapshot_knows_secrets_as_keys_do() -> None:
    """``snapshot`` cannot import ``keys`` (the fast path imports nothing it need not): its
    own rule names the same secrets, and digests them alike."""
    from assetbuild.keys import env_parts, is_secret

    for name in ("API_KEY", "github_token", "DbPassword", "MY_SECRET_X", "ASSETBUILD_CACHE_KEY", "SCALE", "KEYNOTE"):
        assert snapshot.is_secret(name) == is_secret(name)
        value = "v\udcff"  # (an undecodable byte, as os.environ holds it)
        expected = env_parts((name,), {name: value})[0][1]
        assert snapshot.env_value(name, value) == expected


def test_a_module_that_shadows_an_import_made_while_the_build_runs_is_seen(tmp_path: Path) -> None:
    """``lib/extra/`` (a package, which beats ``lib/extra.py``) appears while a build runs,
    after the AssetFile imported ``lib.extra``: the directory's time the snapshot records is
    the time after, so the next null build answered from it, with ``a`` as the old module made
    it, while the full path imports the package and builds ``a`` again. The build that saw a
    code directory change after it started loading records no snapshot."""
    import subprocess
    import time

    from projects import cli_cmd

    root = tmp_path / "proj"
    started, release = tmp_path / "started", tmp_path / "release"
    write(root, {
        "AssetFile": "import os\nimport time\n\nfrom assetbuild import asset\nfrom lib.extra import shift\n\n"
                     f"STARTED = {str(started)!r}\nRELEASE = {str(release)!r}\n\n\n"
                     '@asset(io="json")\ndef held():\n    open(STARTED, "w").close()\n'
                     "    deadline = time.monotonic() + 120\n"
                     "    while not os.path.exists(RELEASE) and time.monotonic() < deadline:\n"
                     "        time.sleep(0.01)\n    return 1\n\n\n"
                     '@asset(io="json")\ndef a(held):\n    return shift(held)\n',
        "lib/__init__.py": "", "lib/extra.py": "def shift(x):\n    return x + 1\n"})
    build = subprocess.Popen(cli_cmd(), cwd=root, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and build.poll() is None:
        time.sleep(0.01)
    write(root, {"lib/extra/__init__.py": "def shift(x):\n    return x + 100\n"})
    release.touch()
    _, err = build.communicate(timeout=120)
    assert build.returncode == 0, err
    _, line, status = explain(root, "--json")
    assert status == 0 and line != "snapshot: answers", line
    shown = cli("show", "a", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert shown.stdout.strip() == "101", shown.stdout + shown.stderr


def _held(tmp_path: Path, root: Path, head: str, body: str) -> tuple[Path, Path, str]:
    """An AssetFile whose asset ``held`` marks its start and waits for ``release`` (no sleeps
    in the test), then the assets of ``body``."""
    started, release = tmp_path / "started", tmp_path / "release"
    text = (f"import os\nimport time\n\nfrom assetbuild import asset\n{head}\n\n"
            f"STARTED = {str(started)!r}\nRELEASE = {str(release)!r}\n\n\n"
            '@asset(io="json")\ndef held():\n    open(STARTED, "w").close()\n'
            "    deadline = time.monotonic() + 120\n"
            "    while not os.path.exists(RELEASE) and time.monotonic() < deadline:\n"
            "        time.sleep(0.01)\n    return 1\n\n\n" + body)
    return started, release, text


def _while_held(root: Path, started: Path, release: Path, change, **env: str) -> None:  # type: ignore[no-untyped-def]
    """Build, making ``change`` while ``held`` runs."""
    import subprocess
    import time

    from projects import cli_cmd

    build = subprocess.Popen(cli_cmd(), cwd=root, env=clean_env(**env), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and build.poll() is None:
        time.sleep(0.01)
    change()
    release.touch()
    _, err = build.communicate(timeout=120)
    assert build.returncode == 0, err


def _install(site: Path, version: str) -> None:
    """``fakelib`` at ``version`` in ``site``, as pip leaves it (an upgrade: a new dist-info)."""
    import shutil

    for old in site.glob("fakelib-*.dist-info"):
        shutil.rmtree(old)
    write(site, {"fakelib/__init__.py": "BASE = 5\n",
                 f"fakelib-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: fakelib\nVersion: {version}\n",
                 f"fakelib-{version}.dist-info/top_level.txt": "fakelib\n",
                 f"fakelib-{version}.dist-info/RECORD": "fakelib/__init__.py,,\n"})


@pytest.mark.parametrize("change", ["upgrade", "uninstall"])
def test_a_library_upgraded_or_removed_while_the_build_runs_is_seen(tmp_path: Path, change: str) -> None:
    """``pip install -U`` (or ``uninstall``) while a build runs, after its keys named the
    library's version: the record held the site directory's time after, and the next null
    build answered with the old version's results."""
    import shutil

    root, site = tmp_path / "proj", tmp_path / "site"
    _install(site, "1.0")
    env = {"PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    started, release, text = _held(tmp_path, root, "import fakelib",
                                   '@asset(io="json")\ndef b(held):\n    return fakelib.BASE + held\n')
    write(root, {"AssetFile": text})

    def upgrade() -> None:
        if change == "upgrade":
            _install(site, "2.0")
        else:
            for info in site.glob("fakelib-*.dist-info"):
                shutil.rmtree(info)

    _while_held(root, started, release, upgrade, **env)
    _, line, _ = explain(root, "--json", **env)
    assert line != "snapshot: answers", line


def test_pyproject_edited_after_the_build_read_it_is_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pyproject.toml`` saved after the build read its params and before it took the
    signatures it records (made so here: as the recorder starts): the record held the file's
    signature after, and the next null build answered with ``a`` of the old params."""
    import assetbuild
    from assetbuild.session import snapshots

    root = write(tmp_path, {"AssetFile": 'from assetbuild import asset\n\n\n@asset(io="json", params={"t": 1})\n'
                                         'def a(context):\n    return context.params["t"]\n',
                            "pyproject.toml": "[tool.assetbuild.params.a]\nt = 2\n"})
    import time

    time.sleep(0.05)  # past the filesystem clock's tick: the files are not racy to the build's probe
    monkeypatch.setattr(snapshot, "INTENT", {"json": False, "quiet": True, "directory": str(root)})
    monkeypatch.setattr(snapshot, "START_PATH", list(sys.path))
    monkeypatch.setattr(snapshot, "CHECK", False)
    monkeypatch.chdir(root)
    before = snapshots.Recorder.before

    def saved_first(self: snapshots.Recorder) -> None:
        (root / "pyproject.toml").write_text("[tool.assetbuild.params.a]\nt = 3\n")
        time.sleep(0.05)  # (not in the tick of the probe the recorder takes now)
        before(self)

    monkeypatch.setattr(snapshots.Recorder, "before", saved_first)
    assert assetbuild.build(project_dir=root).ok
    rec = snapshot.read(str(root / ".assetbuild"))
    assert rec is not None and not rec.get("refused"), rec
    found = snapshot.changes(rec, str(root), list(sys.path))
    assert found == f"a file changed: {root / 'pyproject.toml'}", found


def test_the_null_check_finds_the_first_file_that_differs_across_its_blocks(tmp_path):
    """The entry point's look compares the data files' signatures a block at a time as packed
    bytes (``_first_difference``): a change, a missing file and a file that appeared are found
    at their own index, in any block, and the same files are found unchanged."""
    import struct

    layout = struct.Struct(snapshot.SIG_FORMAT)
    paths = [str(tmp_path / f"f{i:04d}") for i in range(2 * snapshot._BLOCK + 40)]
    for i, p in enumerate(paths[:-1]):
        Path(p).write_text(str(i))
    packed = snapshot.packed_sigs([snapshot.sig_of(p) for p in paths])  # the last one missing
    assert snapshot._first_difference(paths, packed, layout) is None
    late = snapshot._BLOCK + 17
    Path(paths[late]).write_text("edited, a byte longer")
    assert snapshot._first_difference(paths, packed, layout) == late
    os.unlink(paths[3])
    assert snapshot._first_difference(paths, packed, layout) == 3
    fresh = snapshot.packed_sigs([snapshot.sig_of(p) for p in paths])
    Path(paths[-1]).write_text("appeared")
    assert snapshot._first_difference(paths, fresh, layout) == len(paths) - 1


@pytest.mark.parametrize("args, said", [(("-v",), True), (("build", "--force"), True), (("-n", "top"), True),
                                        (("status", "--json"), True), (("list",), False), (("graph",), False)])
def test_a_build_it_does_not_answer_says_why_under_explain(tmp_path: Path, args: tuple[str, ...], said: bool) -> None:
    """A build or status whose command line the snapshot does not take (an option it does not
    read, one before the first name) says so, as every other build does; other commands have
    nothing to say of it."""
    root = project(tmp_path)
    settled(root)
    _, line, status = explain(root, *args)
    assert status == 0
    assert line == ("snapshot: not used: the command line is not one it answers (a build or its status, of everything "
                    "or of assets named; -C, --json, -q, -n, -j, --check)" if said else ""), line
