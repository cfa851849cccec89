"""``clear_cache_dir`` (``assetbuild clean``): what it trusts a directory with. A directory that
only looks like a cache (a ``db`` entry, no index) loses no tree; a cache directory that is a
symlink is emptied, and the link and its target stay."""

from __future__ import annotations

import io
from pathlib import Path

import assetbuild
from assetbuild.output import Reporter

ASSETFILE = 'from assetbuild import asset\n\n\n@asset(io="json")\ndef one():\n    return 1\n'


def _quiet() -> Reporter:
    return Reporter(out=io.StringIO(), err=io.StringIO(), verbosity=-2)


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_a_directory_with_a_db_entry_but_no_index_loses_no_tree(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(ASSETFILE)
    work = tmp_path / "work"  # someone's directory: a database folder, a deploy staging area, code
    for rel in ("db/schema.sql", "staging/site/index.html", "code/tool.bin", "code/.env", "cas/ab/" + "c" * 62):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("precious")
    before = _tree(work)
    err = io.StringIO()
    assetbuild.clean(project_dir=proj, cache_dir=work, reporter=Reporter(out=io.StringIO(), err=err))
    assert _tree(work) == before
    assert "kept 4 entries" in err.getvalue()


def test_a_symlinked_cache_directory_is_emptied_and_the_link_stays(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "AssetFile").write_text(ASSETFILE)
    target = tmp_path / "fast-disk" / "cache"
    target.mkdir(parents=True)
    (proj / ".assetbuild").symlink_to(target, target_is_directory=True)
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).ok
    assert (target / "STORE").is_file()
    report = assetbuild.clean(project_dir=proj, dry_run=True)
    assert report.cache_existed and (target / "STORE").is_file()
    assetbuild.clean(project_dir=proj, reporter=_quiet())
    assert (proj / ".assetbuild").is_symlink() and target.is_dir() and _tree(target) == []
    assert assetbuild.build(project_dir=proj, reporter=_quiet()).names("built") == ["one"]
