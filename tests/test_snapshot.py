"""The null build's snapshot: answered from it exactly when nothing its decision read changed,
with the full path's output; refused, with the reason, on every change the issue names.

Real commands in real projects. A snapshot does not trust a file modified within RACY_NS (2 s)
of its recording, so each test waits that long once after its last edit, as a user would."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import lmdb
import pytest
from projects import clean_env, cli, write

from assetbuild import snapshot

RACY_S = snapshot.RACY_NS / 1e9 + 0.2

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


def project(root: Path) -> Path:
    return write(root, {"AssetFile": ASSETFILE, "helpers.py": "def double(x):\n    return 2 * x\n",
                        "data/raw.txt": "1 2 3 4\n"})


def explain(root: Path, *args: str, **env: str) -> tuple[str, str, int]:
    """(stdout, the snapshot's one line on stderr, exit status) of a build."""
    r = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **env))
    line = next((ln for ln in r.stderr.splitlines() if ln.startswith("snapshot:")), "")
    return r.stdout, line, r.returncode


def settled(root: Path, **env: str) -> None:
    """Built, then a null build after the racy window: the snapshot answers from now on."""
    assert cli(cwd=root, env=clean_env(**env)).returncode == 0
    time.sleep(RACY_S)
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


def _touch(root: Path) -> None:
    os.utime(root / "helpers.py")


def _shadow(root: Path) -> None:
    (root / "lib").mkdir()  # a new package beside the project's: the directory's time changes
    (root / "lib" / "__init__.py").write_text("")


def _edit_module(root: Path) -> None:
    (root / "helpers.py").write_text("def double(x):\n    return 3 * x\n")


def _drop_output(root: Path) -> None:
    (root / "out" / "total.json").unlink()


def _drop_cache_index(root: Path) -> None:
    env = lmdb.open(str(root / ".assetbuild" / "db"), max_dbs=64)
    with env.begin(write=True) as txn:
        txn.put(b"x", b"y")  # any commit: a build, accept, clean or a partition added elsewhere
    env.close()


EDITS = {"assetfile": (_edit_assetfile, "a file changed"), "module": (_edit_module, "a file changed"),
         "same-size-same-mtime": (_same_size_same_mtime, "a file changed"),
         "touch": (_touch, "a file changed"), "shadowing module": (_shadow, "a directory changed"),
         "path output": (_drop_output, "a file changed"),
         "cache index": (_drop_cache_index, "the cache's index changed")}


@pytest.mark.parametrize("edit", list(EDITS))
def test_every_change_is_refused_and_the_full_path_decides(tmp_path: Path, edit: str) -> None:
    root = project(tmp_path)
    settled(root)
    change, reason = EDITS[edit]
    change(root)
    out, line, status = explain(root)
    assert line.startswith("snapshot: not used: " + reason), line
    full = cli("--json", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert status == full.returncode


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
    time.sleep(RACY_S)
    for _ in range(2):
        out, line, status = explain(root)
    assert status == 0 and "0 built, 3 cached" in out
    assert line.startswith("snapshot: not used: AssetFile:"), line
    assert "only declares" in line
    rec = snapshot.read(str(root / ".assetbuild"))  # the verdict is kept: the next build does not parse again
    assert rec is not None and any(v.startswith("AssetFile:") for v in rec["checked"].values())


def test_a_project_it_cannot_see_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "AssetFile").write_text(ASSETFILE.replace('@asset(io="json")\ndef top', '@asset(io="json", volatile=True)\ndef top'))
    assert cli(cwd=root).returncode == 0
    _, line, _ = explain(root)
    assert line == "snapshot: not used: asset 'top' is volatile", line


def test_no_snapshot_after_a_build_that_was_not_null(tmp_path: Path) -> None:
    root = project(tmp_path)
    _, line, _ = explain(root)
    assert line.startswith("snapshot: not used: no snapshot")
    _, line, _ = explain(root)
    assert line == "snapshot: not used: the last build was not a null build", line


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


def test_the_fast_path_imports_neither_click_nor_the_engine(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    code = ("import sys, os; sys.argv = ['assetbuild', '-q']; sys.path[0] = os.getcwd()\n"
            "import atexit\n"
            "atexit.register(lambda: None)\n"
            "import assetbuild.entry as e, os\n"
            "real = os._exit\n"
            "def leave(code):\n"
            "    heavy = [m for m in ('click', 'lmdb', 'assetbuild.session', 'assetbuild.store') if m in sys.modules]\n"
            "    print(heavy); sys.stdout.flush(); real(code)\n"
            "os._exit = leave\n"
            "e.main()\n")
    r = cli_python(code, root)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def cli_python(code: str, cwd: Path):
    import subprocess

    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env=clean_env())


def test_the_check_fails_when_the_snapshot_would_have_answered_wrongly(tmp_path: Path) -> None:
    import marshal

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
