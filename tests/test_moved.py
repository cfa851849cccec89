"""Files an asset stops writing when its ``path=`` or ``outputs=`` changes (moved.py): the build
that replaces its head notes them, with what clean needs to tell they are unchanged; a head
that writes the path again, or ``clean --orphans``, forgets the note. Real builds, the real
store read as another process reads it."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import assetbuild
from assetbuild.moved import LEFT, left_files
from assetbuild.output import Reporter
from assetbuild.session.orphans import clean_orphans
from assetbuild.store import LmdbStore
from assetbuild.workspace import stat_sig

ASSETFILE = '''
from assetbuild import asset


@asset(io="text", path="out/report_{v}.txt")
def report():
    return "r\\n"


@asset(outputs=["plots_{v}/", "out/model_{v}.bin"])
def train(context):
    context.out("out/model_{v}.bin").write_bytes(b"M\\n")
    (context.out("plots_{v}/") / "a.csv").write_text("1")


@asset(io="json")
def steady():
    return 1
'''


def _write(root: Path, v: str) -> None:
    (root / "AssetFile").write_text(ASSETFILE.replace("{v}", v))


def _build(root: Path) -> list[str]:
    """Build (it must succeed); the warnings it printed."""
    err = io.StringIO()
    r = assetbuild.build(project_dir=root, reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2))
    assert r.ok, [(x.asset, x.error) for x in r.results]
    return [ln for ln in err.getvalue().splitlines() if ln.startswith("warning:")]


def _notes(root: Path) -> dict[str, object]:
    with LmdbStore(root / ".assetbuild", readonly=True) as s:
        return {f.path: f for f in left_files(s)}


def test_a_moved_output_is_noted_with_what_was_written_and_forgotten_when_written_again(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    _write(root, "v1")
    assert _build(root) == []
    assert _notes(root) == {}
    _write(root, "v2")
    assert _build(root) == ["warning: 3 orphaned outputs: files assetbuild wrote that no asset writes now "
                            "(assetbuild clean --orphans)"]
    notes = _notes(root)
    assert sorted(notes) == ["out/model_v1.bin", "out/report_v1.txt", "plots_v1/a.csv"]
    report, model, plot = notes["out/report_v1.txt"], notes["out/model_v1.bin"], notes["plots_v1/a.csv"]
    assert (report.asset, report.sig, report.under) == ("report", stat_sig((root / "out/report_v1.txt").stat()), None)
    assert (model.asset, model.mode, model.size, model.under) == ("train", 0o644, 2, None)
    assert plot.under == "plots_v1"  # the declared directory: clean removes it once emptied
    assert _build(root) == []  # noted once: a null build says nothing more
    _write(root, "v1")  # back: v1 is written again (restored or reused), v2 is left behind
    assert _build(root) == ["warning: 3 orphaned outputs: files assetbuild wrote that no asset writes now "
                            "(assetbuild clean --orphans)"]
    assert sorted(_notes(root)) == ["out/model_v2.bin", "out/report_v2.txt", "plots_v2/a.csv"]


def test_a_path_another_asset_now_writes_is_not_left_behind(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    _write(root, "v1")
    _build(root)
    _write(root, "v2")
    _build(root)
    (root / "AssetFile").write_text(ASSETFILE.replace("{v}", "v2") + '\n\n@asset(io="text", path="out/report_v1.txt")\n'
                                    'def successor():\n    return "s\\n"\n')
    assert _build(root) == []
    assert sorted(_notes(root)) == ["out/model_v1.bin", "plots_v1/a.csv"]
    assert (root / "out/report_v1.txt").read_text() == "s\n"


def test_accept_under_a_new_path_notes_the_old_file(tmp_path):
    """accept records the current definition's head without running: the old path is noted too."""
    root = tmp_path / "p"
    root.mkdir()
    _write(root, "v1")
    _build(root)
    text = ASSETFILE.replace("{v}", "v1").replace("out/report_v1.txt", "out/report_v2.txt")
    (root / "AssetFile").write_text(text)
    shutil.copy2(root / "out/report_v1.txt", root / "out/report_v2.txt")
    assetbuild.accept("report", project_dir=root)
    assert sorted(_notes(root)) == ["out/report_v1.txt"]


def test_a_note_this_version_cannot_read_is_left_alone(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    _write(root, "v1")
    _build(root)
    with LmdbStore(root / ".assetbuild") as s:
        s.put_meta(LEFT + b"out/report_v1.txt", b'{"v": 99, "asset": "report"}')
        s.put_meta(LEFT + b"out/garbage", b"\xff not json")
        s.flush()
    assert _notes(root) == {}
    assert clean_orphans(project_dir=root).deleted == []
    assert (root / "out/report_v1.txt").exists()
