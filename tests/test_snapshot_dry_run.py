"""``assetbuild -n`` answered from the snapshot: when it proves a null build, the dry run's one
line (nothing would run) without loading the project; on any change, the CLI's dry run, which
writes nothing. Real commands in the project of tests/test_snapshot.py."""

from __future__ import annotations

import marshal
import os
from pathlib import Path

import pytest
from projects import clean_env, cli
from test_snapshot import cli_python, explain, project, settled

from assetbuild.entry import fast_form


@pytest.fixture(autouse=True)
def _answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot answers here (tests/conftest.py has every other test check it instead)."""
    monkeypatch.setenv("ASSETBUILD_CHECK_SNAPSHOT", "0")


def test_the_fast_form_takes_a_dry_run_but_not_its_document() -> None:
    assert fast_form(["-n"]) == {"json": False, "quiet": False, "directory": None, "dry_run": True}
    assert fast_form(["build", "--dry-run", "-q"])["dry_run"] is True  # type: ignore[index]
    assert fast_form(["-n", "--json"]) is None  # its document says why for each asset: the CLI's
    assert fast_form(["build", "-n", "x"]) is None  # a selection


@pytest.mark.parametrize("args", [("-n",), ("build", "-n"), ("--dry-run",), ("-n", "-q"), ("-C", ".", "-n")])
def test_a_dry_run_is_answered_with_the_full_paths_output(tmp_path: Path, args: tuple[str, ...]) -> None:
    root = project(tmp_path)
    settled(root)
    out, line, status = explain(root, *args)
    assert line == "snapshot: answers" and status == 0, line
    full = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode)
    assert out == ("" if "-q" in args else
                   "dry run: 0 of 3 assets would run or be restored; nothing was run or written\n")


def _state(root: Path) -> dict[str, tuple[int, bytes]]:
    cache = root / ".assetbuild"
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(cache.rglob("*"))
            if p.is_file() and p.name not in ("lock", "lock.mdb")}  # (locks: the readers of the index)


def test_a_dry_run_after_a_change_is_the_clis_and_writes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    (root / "data" / "raw.txt").write_text("1 2 3 4 5\n")
    before = _state(root)
    out, line, status = explain(root, "-n")
    assert line.startswith("snapshot: not used: a source or path output changed"), line
    assert "the build loads" not in line  # (a slice is a build's: the dry run loads the project)
    assert status == 0 and "dry run: 1 of 3 assets would run or be restored (2 more may run" in out, out
    full = cli("-n", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="0"))
    assert (out, status) == (full.stdout, full.returncode)
    assert _state(root) == before  # neither the snapshot nor the index was written
    assert "3 built" in cli(cwd=root).stdout  # what it predicted


def test_a_dry_run_with_json_is_the_clis(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    r = cli("-n", "--json", cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain"))
    assert not [ln for ln in r.stderr.splitlines() if ln.startswith("snapshot:")], r.stderr  # not asked
    assert r.returncode == 0 and '"dry_run": true' in r.stdout and '"would": null' in r.stdout


def test_the_fast_dry_run_imports_neither_click_nor_the_engine(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    code = ("import sys, os; sys.argv = ['assetbuild', '-n']; sys.path[0] = os.getcwd()\n"
            "import assetbuild.entry as e\n"
            "real = os._exit\n"
            "def leave(code):\n"
            "    heavy = [m for m in ('click', 'lmdb', 'assetbuild.session', 'assetbuild.store') if m in sys.modules]\n"
            "    print(heavy); sys.stdout.flush(); real(code)\n"
            "os._exit = leave\n"
            "e.main()\n")
    r = cli_python(code, root)
    assert r.stdout.splitlines()[-1:] == ["[]"] and "nothing was run" in r.stdout, r.stdout + r.stderr


def test_the_check_fails_when_the_snapshot_would_have_answered_a_dry_run_wrongly(tmp_path: Path) -> None:
    root = project(tmp_path)
    settled(root)
    _, line, status = explain(root, "-n", ASSETBUILD_CHECK_SNAPSHOT="1")
    assert status == 0 and line == "snapshot: answers (checked against the full path)", line
    results = root / ".assetbuild" / "snapshot.results"
    doc = marshal.loads(results.read_bytes())
    doc["results"][0][1] = "0" * 64  # a key the dry run will not find
    results.write_bytes(marshal.dumps(doc))
    r = cli("-n", cwd=root, env=clean_env(ASSETBUILD_CHECK_SNAPSHOT="1"))
    assert r.returncode != 0 and "snapshot disagrees with the dry run" in r.stderr, r.stderr
    r = cli("-n", cwd=root)  # without the check: answered, as recorded
    assert r.returncode == 0 and "0 of 3 assets would run" in r.stdout, r.stdout
    assert os.path.exists(results)
