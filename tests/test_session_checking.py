"""The declarative check beside the build (``session.checking.Beside``): a real process that
checks a big AssetFile while the build runs, whose answer counts only for the bytes the build
loaded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from projects import write

from assetbuild import slicegraph, snapshot
from assetbuild.session import checking
from assetbuild.session.project import open_project

N = 3600  # about 270 KB of AssetFile: above BESIDE_MIN_BYTES


def _big(n: int = N) -> str:
    defs = "".join(f'\n\n@asset(io="json")\ndef a{i:05d}(raw):\n    return len(raw.read_text()) + {i}\n'
                   for i in range(n))
    return 'from assetbuild import asset, source\nfrom helpers import K\n\nraw = source("raw", "raw.txt")\n' + defs


@pytest.fixture
def big(tmp_path: Path) -> Path:
    root = write(tmp_path, {"AssetFile": _big(), "helpers.py": "K = 3\n", "raw.txt": "x\n"})
    assert (root / "AssetFile").stat().st_size >= checking.BESIDE_MIN_BYTES
    return root


def _inputs(project) -> tuple[dict[str, bytes], dict[str, str]]:
    loaded = project.loaded
    digests = {str(loaded.path): loaded.source_digest, **loaded.module_sources}
    return {f: Path(f).read_bytes() for f in digests}, digests


def test_the_check_beside_answers_as_the_check_here(big: Path) -> None:
    with open_project(big) as project:
        assert checking.beside_worth_it(project, None)
        beside = checking.Beside(project, None)
        contents, digests = _inputs(project)
        names = checking.module_files(project)
        assert list(names.values()) == ["helpers"]
        here = checking.check(str(project.loaded.path), names, str(big), None, contents, digests)
        there = beside.answer(names, contents)
        assert there == here and here[0] is None and len(here[2][0]) == N  # accepted, every asset located
        assert beside.proc is None  # its answer taken, the process waited for


def test_the_check_beside_does_not_count_for_other_bytes(big: Path) -> None:
    """An AssetFile edited after the build loaded it: the process read other bytes than the
    build's, so its answer is not used (the check runs here, on what was loaded)."""
    with open_project(big) as project:
        contents, _ = _inputs(project)
        names = checking.module_files(project)
        (big / "AssetFile").write_text(_big() + "\nimport os\nX = os.environ['HOME']\n")
        beside = checking.Beside(project, None)
        assert beside.answer(names, contents) is None


def test_an_ended_build_ends_the_check_beside(big: Path) -> None:
    with open_project(big) as project:
        beside = checking.Beside(project, None)
        proc = beside.proc
        beside.close()
        assert proc is not None and proc.returncode is not None and beside.proc is None
        assert beside.answer(checking.module_files(project), {}) is None


def test_a_build_uses_the_check_beside_and_records_its_verdicts(big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain build of the whole project (as the command runs it) starts the check beside, and
    the snapshot it writes holds that check's verdicts and definitions; the next build finds
    them known and starts none."""
    import assetbuild

    monkeypatch.setattr(snapshot, "INTENT", {"json": False, "quiet": True, "directory": str(big)})
    monkeypatch.setattr(snapshot, "START_PATH", list(sys.path))
    monkeypatch.setattr(snapshot, "CHECK", False)
    monkeypatch.chdir(big)
    started: list[checking.Beside] = []
    answered: list[object] = []
    real_init, real_answer = checking.Beside.__init__, checking.Beside.answer
    monkeypatch.setattr(checking.Beside, "__init__", lambda self, *a: started.append(self) or real_init(self, *a))
    monkeypatch.setattr(checking.Beside, "answer", lambda self, *a, **k: answered.append(real_answer(self, *a, **k))
                        or answered[-1])
    assert assetbuild.build(project_dir=big).ok
    assert len(started) == 1 and answered and answered[0] is not None
    rec = snapshot.read(str(big / ".assetbuild"))
    assert rec is not None and not rec.get("refused")
    graph = slicegraph.read_graph(str(big / ".assetbuild"), rec)
    assert graph is not None and len(graph["asset_defs"]) == N
    (big / "raw.txt").write_text("xy\n")
    assert assetbuild.build(project_dir=big).ok
    assert len(started) == 1  # known now: no second process


def test_a_module_of_the_project_does_not_stand_in_for_one_the_check_imports(big: Path) -> None:
    """The process is isolated: an ``ast.py`` in the project's directory (its working directory)
    is not the standard library's ``ast`` there."""
    (big / "ast.py").write_text("raise ImportError('the project shadows ast')\n")
    with open_project(big) as project:
        contents, _ = _inputs(project)
        beside = checking.Beside(project, None)
        found = beside.answer(checking.module_files(project), contents)
        assert found is not None and found[0] is None


def test_the_modules_exports_are_kept_and_found_again_only_when_a_module_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the project's modules export (a fixed point over them: ``helpers`` re-exports a
    name of ``base``) is kept in the verdicts by the modules' bytes: the next check with them
    parses no module, and one with a module edited, or kept exports of other modules, parses
    them again and finds what a fresh check finds."""
    root = write(tmp_path, {
        "AssetFile": 'from assetbuild import asset\nfrom helpers import K\n\n@asset\ndef a():\n    return K\n',
        "helpers.py": "from base import K\n", "base.py": "K = 3\n"})
    with open_project(root) as project:
        contents, digests = _inputs(project)
        names = checking.module_files(project)
    assert sorted(names.values()) == ["base", "helpers"]
    assetfile = str(root / "AssetFile")
    fresh = checking.check(assetfile, names, str(root), None, contents, digests)
    kept = [k for k in fresh[1] if k.startswith(checking.EXPORTS)]
    assert fresh[0] is None and len(kept) == 1 and fresh[1][kept[0]] == "base K\nhelpers K"
    previous = {"checked": fresh[1], "asset_defs": fresh[2][0], "asset_defs_of": fresh[2][1]}
    parsed: list[str] = []
    real = checking._facts
    monkeypatch.setattr(checking, "_facts", lambda source, name, *a: parsed.append(name) or real(source, name, *a))
    assert checking.check(assetfile, names, str(root), previous, contents, digests) == fresh
    assert parsed == []  # every verdict and the exports known: nothing parsed

    edited = {**contents, str(root / "base.py"): b"K = 3\nJ = 4\n"}
    redigested = {**digests, str(root / "base.py"): "another digest"}
    again = checking.check(assetfile, names, str(root), previous, edited, redigested)
    assert sorted(set(parsed)) == ["AssetFile", "base.py", "helpers.py"]
    assert again == checking.check(assetfile, names, str(root), None, edited, redigested)
    assert again[1][next(k for k in again[1] if k.startswith(checking.EXPORTS))] == "base J K\nhelpers K"

    parsed.clear()  # exports kept for another set of modules (a tampered record): found again
    tampered = {k: ("elsewhere X" if k.startswith(checking.EXPORTS) else v) for k, v in fresh[1].items()}
    assert checking.check(assetfile, names, str(root), {**previous, "checked": tampered}, contents, digests) == fresh
    assert sorted(set(parsed)) == ["base.py", "helpers.py"]
