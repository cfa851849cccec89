"""``clean`` deletes the path outputs assetbuild wrote (``--keep-outputs`` keeps them); orphaned
outputs, of assets removed from the AssetFile or left at a path an asset no longer writes: the
build's one warning, ``clean --orphans``, and ``cache gc --removed-after``, on real projects
through the real command."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import clean_env, cli

ASSETFILE = '''
from assetbuild import asset, source

raw = source("raw", "data/raw.txt")


@asset(io="text", path="out/upper.txt")
def upper(raw):
    return raw.read_text().upper()


@asset(io="text", path="out/lower.txt")
def lower(raw):
    return raw.read_text().lower()


@asset(io="text", path="out/title.txt")
def title(raw):
    return raw.read_text().title()
'''


ONE_ORPHAN = ("warning: 1 orphaned output: a file assetbuild wrote that no asset writes now "
              "(assetbuild clean --orphans)\n")


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    (root / "data").mkdir(parents=True)
    (root / "data" / "raw.txt").write_text("Hello There\n")
    (root / "AssetFile").write_text(ASSETFILE)
    return root


def _env(**extra: str) -> dict[str, str]:
    return clean_env(**{"ASSETBUILD_NOW": "2026-01-01T00:00:00Z", **extra})


def _ok(*args: str, cwd: Path, env: dict[str, str] | None = None):
    r = cli(*args, cwd=cwd, env=env or _env())
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_clean_deletes_the_outputs_it_wrote_but_not_an_edited_one(tmp_path):
    root = _project(tmp_path)
    _ok("build", cwd=root)
    (root / "out" / "lower.txt").write_text("mine now\n")
    r = _ok("-v", "clean", "--yes", cwd=root)
    assert not (root / ".assetbuild").exists()
    assert sorted(p.name for p in (root / "out").iterdir()) == ["lower.txt"]
    assert (root / "out" / "lower.txt").read_text() == "mine now\n"
    assert "  deleted out/title.txt\n" in r.stdout and "  deleted out/upper.txt\n" in r.stdout
    assert "lower.txt (edited)" in r.stderr
    assert (root / "data" / "raw.txt").exists() and (root / "AssetFile").exists()


def test_keep_outputs_deletes_the_cache_alone_and_outputs_is_still_accepted(tmp_path):
    root = _project(tmp_path)
    _ok("build", cwd=root)
    r = _ok("clean", "--yes", "--keep-outputs", cwd=root)
    assert not (root / ".assetbuild").exists() and "deleted" in r.stdout
    assert sorted(p.name for p in (root / "out").iterdir()) == ["lower.txt", "title.txt", "upper.txt"]
    _ok("build", cwd=root)
    _ok("clean", "--yes", "--outputs", cwd=root)  # the old spelling of the default
    assert not (root / "out" / "upper.txt").exists()


def test_a_build_warns_once_of_outputs_of_removed_assets_and_clean_orphans_deletes_them(tmp_path):
    root = _project(tmp_path)
    _ok("build", cwd=root)
    af = root / "AssetFile"
    af.write_text(ASSETFILE.split("@asset(io=\"text\", path=\"out/lower.txt\")")[0])  # upper alone stays
    (root / "out" / "title.txt").write_text("edited by hand\n")
    r = _ok("build", cwd=root)
    assert r.stderr == ONE_ORPHAN  # title: edited
    r = _ok("build", cwd=root)
    assert "orphaned" not in r.stderr  # once
    r = _ok("clean", "--orphans", "-n", cwd=root)
    assert r.stdout.splitlines()[:2] == ["would delete 1 orphaned output:", "  out/lower.txt"]
    assert (root / "out" / "lower.txt").exists()
    r = _ok("-v", "clean", "--orphans", "--yes", cwd=root)
    assert r.stdout == "deleted 1 orphaned output\n  deleted out/lower.txt\n"
    assert sorted(p.name for p in (root / "out").iterdir()) == ["title.txt", "upper.txt"]
    assert (root / ".assetbuild").is_dir()  # the cache stays
    assert "fresh" in _ok("status", cwd=root).stdout


def test_a_renamed_asset_keeps_its_output_and_a_source_reading_a_removed_ones_keeps_it(tmp_path):
    """A file the AssetFile claims now is nobody's orphan: the asset renamed that writes the same
    path, the source that now reads what a removed asset wrote."""
    root = _project(tmp_path)
    _ok("build", cwd=root)
    af = root / "AssetFile"
    af.write_text(ASSETFILE.replace("def upper(", "def shout("))
    r = _ok("build", cwd=root)
    assert "orphaned" not in r.stderr, r.stderr
    r = _ok("clean", "--orphans", "--yes", cwd=root)
    assert "out/upper.txt (an output of asset 'shout'; recorded for asset 'upper')" in r.stdout + r.stderr
    assert (root / "out" / "upper.txt").read_text() == "HELLO THERE\n"
    assert _ok("status", "shout", cwd=root).stdout.split()[0] == "fresh"
    af.write_text(ASSETFILE.split('@asset(io="text", path="out/lower.txt")')[0].replace("def upper(", "def shout(")
                  + 'low = source("low", "out/lower.txt")\n')
    r = _ok("build", cwd=root)
    assert r.stderr == ONE_ORPHAN  # title's, not lower's
    r = _ok("clean", "--orphans", "--yes", cwd=root)
    assert "out/lower.txt (the source 'low'; recorded for asset 'lower')" in r.stdout + r.stderr
    assert sorted(p.name for p in (root / "out").iterdir()) == ["lower.txt", "upper.txt"]


def test_cache_gc_drops_the_heads_of_assets_gone_for_removed_after_days(tmp_path):
    root = _project(tmp_path)
    _ok("build", cwd=root)
    (root / "AssetFile").write_text(ASSETFILE.split("@asset(io=\"text\", path=\"out/title.txt\")")[0])
    r = _ok("build", cwd=root)  # title noticed gone on 2026-01-01
    assert ONE_ORPHAN in r.stderr
    r = _ok("cache", "gc", "--json", cwd=root, env=_env(ASSETBUILD_NOW="2026-01-07T23:00:00Z"))
    assert '"removed_heads": []' in r.stdout  # not 7 days yet
    r = _ok("cache", "gc", "--removed-after", "10", cwd=root, env=_env(ASSETBUILD_NOW="2026-01-08T00:00:00Z"))
    assert "removed asset" not in r.stdout
    r = _ok("cache", "gc", "--older-than", "1", cwd=root, env=_env(ASSETBUILD_NOW="2026-01-08T00:00:00Z"))
    assert r.stdout.startswith("dropped the latest builds of 1 removed asset(s): title\n"), r.stdout
    assert "dropped 1 of 3 entries" in r.stdout  # its entry, no longer a latest build, is collected
    # its head gone, its file is still known as assetbuild's (it was forgotten, and stayed for good)
    assert "out/title.txt" in _ok("clean", "--orphans", "-n", cwd=root).stdout
    _ok("clean", "--orphans", "--yes", cwd=root)
    assert not (root / "out" / "title.txt").exists() and (root / "out" / "upper.txt").exists()


def test_cache_gc_of_a_project_whose_assetfile_has_another_name_drops_its_removed_heads(tmp_path):
    """``-f pipelines.py``: gc finds the heads of that project, not of an ./AssetFile's."""
    root = _project(tmp_path)
    (root / "AssetFile").rename(root / "pipelines.py")
    _ok("-f", "pipelines.py", "build", cwd=root)
    (root / "pipelines.py").write_text(ASSETFILE.split("@asset(io=\"text\", path=\"out/title.txt\")")[0])
    _ok("-f", "pipelines.py", "build", cwd=root)  # title noticed gone
    r = _ok("cache", "gc", "-f", "pipelines.py", "--removed-after", "0", cwd=root,
            env=_env(ASSETBUILD_NOW="2026-01-08T00:00:00Z"))
    assert r.stdout.startswith("dropped the latest builds of 1 removed asset(s): title\n"), r.stdout


def test_an_asset_back_in_the_assetfile_is_not_dropped(tmp_path):
    root = _project(tmp_path)
    _ok("build", cwd=root)
    af = root / "AssetFile"
    af.write_text(ASSETFILE.split("@asset(io=\"text\", path=\"out/title.txt\")")[0])
    _ok("build", cwd=root)
    af.write_text(ASSETFILE)
    r = _ok("build", cwd=root)
    assert "removed" not in r.stderr
    r = _ok("cache", "gc", "--removed-after", "0", cwd=root, env=_env(ASSETBUILD_NOW="2027-01-01T00:00:00Z"))
    assert "removed asset" not in r.stdout
    assert "fresh   title" in _ok("status", cwd=root).stdout


MOVING = '''
from assetbuild import asset


@asset(io="text", path="out/report_v1.txt")
def report():
    return "r\\n"


@asset(outputs=["out/model_v1.bin", "plots_v1/"])
def train(context):
    context.out("out/model_v1.bin").write_bytes(b"M\\n")
    (context.out("plots_v1/") / "roc.csv").write_text("0,1\\n")
'''


def _moved(tmp_path: Path) -> Path:
    """A project built once, then its outputs' paths changed (v1 -> v2) and built again."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "AssetFile").write_text(MOVING)
    _ok("build", cwd=root)
    (root / "AssetFile").write_text(MOVING.replace("_v1", "_v2"))
    return root


def _tree(root: Path) -> list[str]:
    """The project's files but the AssetFile and the caches (``.assetbuild``, the compiled AssetFile)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and ".assetbuild" not in p.parts and "__pycache__" not in p.parts
                  and p.name != "AssetFile")


def test_files_at_a_path_an_asset_no_longer_writes_are_orphans(tmp_path):
    """path= and outputs= changed: the old files are named in the build's one warning, and clean
    --orphans deletes them (and the emptied declared directory), except one edited since."""
    root = _moved(tmp_path)
    r = _ok("build", cwd=root)
    assert r.stderr == ("warning: 3 orphaned outputs: files assetbuild wrote that no asset writes now "
                        "(assetbuild clean --orphans)\n")
    assert "orphaned" not in _ok("build", cwd=root).stderr  # once
    (root / "out" / "model_v1.bin").write_bytes(b"mine now\n")
    r = _ok("clean", "--orphans", "-n", cwd=root)
    assert r.stdout.splitlines() == ["would delete 2 orphaned outputs:", "  out/report_v1.txt", "  plots_v1/roc.csv",
                                     "would keep 1 file (changed since, or not safe to delete):",
                                     "  out/model_v1.bin (edited)"]
    r = _ok("-v", "clean", "--orphans", "--yes", cwd=root)
    assert r.stdout == "deleted 2 orphaned outputs\n  deleted out/report_v1.txt\n  deleted plots_v1/roc.csv\n"
    assert _tree(root) == ["out/model_v1.bin", "out/model_v2.bin", "out/report_v2.txt", "plots_v2/roc.csv"]
    assert not (root / "plots_v1").exists() and (root / ".assetbuild").is_dir()
    assert _ok("status", cwd=root).stdout.split()[::2] == ["fresh", "fresh"]
    r = _ok("clean", "--orphans", "--yes", cwd=root)  # the edited one is still kept, and said
    assert r.stdout == "deleted 0 orphaned outputs\n" and "out/model_v1.bin (edited)" in r.stderr


def test_clean_deletes_the_files_an_asset_no_longer_writes_too(tmp_path):
    root = _moved(tmp_path)
    _ok("build", cwd=root)
    r = _ok("clean", "--yes", cwd=root)
    assert "deleted 6 files assetbuild wrote into the project and 2 emptied output directories, kept 0" in r.stdout
    assert _tree(root) == []


def test_a_path_written_again_or_claimed_now_is_no_orphan(tmp_path):
    """Back to v1: v1 is the output again, v2 is the orphan. A path the AssetFile claims now (an
    asset not built yet) stays."""
    root = _moved(tmp_path)
    _ok("build", cwd=root)
    (root / "AssetFile").write_text(MOVING)
    assert "3 orphaned outputs" in _ok("build", cwd=root).stderr
    (root / "AssetFile").write_text(MOVING + '\n\n@asset(io="text", path="out/report_v2.txt")\n'
                                    'def successor():\n    return "s\\n"\n')
    r = _ok("clean", "--orphans", "--yes", cwd=root)
    assert "out/report_v2.txt (an output of asset 'successor'; recorded for asset 'report')" in r.stderr
    assert _tree(root) == ["out/model_v1.bin", "out/report_v1.txt", "out/report_v2.txt", "plots_v1/roc.csv"]
    _ok("build", "successor", cwd=root)  # writes the path: no longer noted as left behind
    assert _ok("clean", "--orphans", cwd=root).stdout == "no orphaned outputs to delete\n"


PARTITIONED = '''
from assetbuild import StaticPartitions, asset

regions = StaticPartitions(["eu", "us", "apac"])


@asset(partitions=regions, io="text", path="out/{partition}.txt")
def per_region(context):
    return context.partition_key


@asset(io="text", path="out/all.txt")
def total():
    return "all"
'''


def test_partitions_are_not_removed_assets_until_their_asset_is(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "AssetFile").write_text(PARTITIONED)
    assert "removed" not in _ok("build", cwd=root).stderr
    (root / "AssetFile").write_text(PARTITIONED.replace('"us", ', ""))  # a key gone: dropped, not removed
    r = _ok("build", cwd=root)
    assert "orphaned" not in r.stderr and not (root / "out" / "us.txt").exists()
    (root / "AssetFile").write_text(PARTITIONED.split("@asset(partitions")[0] + "@asset" + PARTITIONED.split("@asset")[2])
    r = _ok("build", cwd=root)
    assert r.stderr == ("warning: 2 orphaned outputs: files assetbuild wrote that no asset writes now "
                        "(assetbuild clean --orphans)\n")
    _ok("clean", "--orphans", "--yes", cwd=root)
    assert sorted(p.name for p in (root / "out").iterdir()) == ["all.txt"]


@pytest.mark.parametrize("now_partitioned", [False, True], ids=["partitions-taken-away", "partitions-added"])
def test_an_asset_that_changed_between_partitioned_and_not_leaves_orphans(tmp_path, now_partitioned):
    """Its name stayed, so it was never looked at as removed: the files its other form wrote
    stayed for good, with no warning, and clean --orphans said there were none."""
    root = tmp_path / "p"
    root.mkdir()
    plain = PARTITIONED.replace("@asset(partitions=regions, ", "@asset(").replace(
        '"out/{partition}.txt")\ndef per_region(context):\n    return context.partition_key',
        '"out/per_region.txt")\ndef per_region():\n    return "one"')
    assert plain != PARTITIONED and "{partition}" not in plain
    before, after = (plain, PARTITIONED) if now_partitioned else (PARTITIONED, plain)
    (root / "AssetFile").write_text(before)
    _ok("build", cwd=root)
    (root / "AssetFile").write_text(after)
    r = _ok("build", cwd=root)
    n = 1 if now_partitioned else 3
    assert f"warning: {n} orphaned output" in r.stderr, r.stderr
    _ok("clean", "--orphans", "--yes", cwd=root)
    left = sorted(p.name for p in (root / "out").iterdir())
    assert left == (["all.txt", "apac.txt", "eu.txt", "us.txt"] if now_partitioned else ["all.txt", "per_region.txt"])
    assert "orphaned" not in _ok("build", cwd=root).stderr  # its heads of the old form are gone from the look


def test_clean_refuses_a_cache_directory_other_projects_share_unless_all_projects(tmp_path):
    """Projects may share one cache directory; clean in one of them would delete the others'
    latest builds: refused (exit 2, nothing deleted, -n says so too) unless --all-projects."""
    shared = tmp_path / "shared"
    roots = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        (root / "AssetFile").write_text(f'from assetbuild import asset\n\n@asset(io="text", path="build/{name}.txt")\n'
                                        f'def {name}():\n    return "{name}"\n')
        roots.append(root)
    env = _env(ASSETBUILD_CACHE_DIR=str(shared))
    a, b = roots
    for root in roots:
        _ok("build", cwd=root, env=env)
    for args in (("clean", "--yes"), ("clean", "-n"), ("clean", "--keep-outputs", "--yes")):
        r = cli(*args, cwd=a, env=env)
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr == (f"assetbuild: error: {shared} is shared: it also holds the latest builds of 1 asset of other "
                            "projects, which clean would delete too; nothing was deleted (--all-projects deletes it "
                            "anyway; assetbuild cache gc trims it and keeps every project's latest builds)\n")
    assert (a / "build" / "a.txt").exists() and _ok("status", cwd=b, env=env).stdout.split()[0] == "fresh"
    r = _ok("clean", "-n", "--all-projects", cwd=a, env=env)
    assert r.stdout.splitlines()[0] == f"would delete what assetbuild stored in {shared} (the latest builds of 1 asset of other projects too)"
    _ok("clean", "--yes", "--all-projects", cwd=a, env=env)
    assert not shared.exists() and not (a / "build" / "a.txt").exists()
    assert "never-built" in _ok("status", cwd=b, env=env).stdout
    _ok("build", cwd=b, env=env)
    _ok("clean", "--yes", cwd=b, env=env)  # alone in it now: no flag needed
    assert not shared.exists() and not (b / "build" / "b.txt").exists()


FED = '''
from assetbuild import asset, source

raw = source("raw", "data/raw.txt")


@asset(io="text", path="out/report_v1.txt")
def report(raw):
    return raw.read_text()


@asset(io="text", path="out/kept_v1.txt")
def kept():
    return "k\\n"
'''


def _fed_and_moved(tmp_path: Path) -> Path:
    """Built, its paths changed (v1 -> v2) and built again: two orphaned outputs; then the user
    deletes one of them by hand."""
    root = _project(tmp_path)
    (root / "AssetFile").write_text(FED)
    _ok("build", cwd=root)
    (root / "AssetFile").write_text(FED.replace("_v1", "_v2"))
    assert "2 orphaned outputs" in _ok("build", cwd=root).stderr
    (root / "out" / "report_v1.txt").unlink()
    return root


def _came_back(root: Path) -> list[str]:
    """The user puts a file of their own where the deleted one was, with the very same bytes:
    what clean --orphans would delete then."""
    (root / "out" / "report_v1.txt").write_text("Hello There\n")
    return _ok("clean", "--orphans", "-n", cwd=root).stdout.splitlines()


@pytest.mark.parametrize("edit", ["data", "code"])
def test_a_build_forgets_an_orphaned_output_deleted_by_hand(tmp_path, edit):
    """Its note goes with the next build that records something (a data edit: the build of a
    slice; a code edit: the full one), so a file of the user's at that path later is theirs."""
    root = _fed_and_moved(tmp_path)
    assert _ok("build", cwd=root).stderr == ""  # a null build: nothing to say, nothing written
    if edit == "data":
        (root / "data" / "raw.txt").write_text("Hello Again\n")
    else:
        (root / "AssetFile").write_text(FED.replace("_v1", "_v2").replace("return raw.read_text()",
                                                                          "return raw.read_text() + '.'"))
    r = _ok("build", cwd=root)
    assert "report" in r.stdout and r.stderr == ""
    assert _came_back(root) == ["would delete 1 orphaned output:", "  out/kept_v1.txt"]


def test_cache_gc_forgets_an_orphaned_output_deleted_by_hand(tmp_path):
    root = _fed_and_moved(tmp_path)
    _ok("cache", "gc", "-n", cwd=root)  # a dry run forgets nothing
    assert _came_back(root) == ["would delete 2 orphaned outputs:", "  out/kept_v1.txt", "  out/report_v1.txt"]
    (root / "out" / "report_v1.txt").unlink()
    _ok("cache", "gc", cwd=root)
    assert _came_back(root) == ["would delete 1 orphaned output:", "  out/kept_v1.txt"]


def test_clean_keeps_a_generated_module_the_assetfile_now_imports(tmp_path):
    """An asset wrote lib/consts.py; the asset removed, the file kept and imported by the
    AssetFile: ``clean --orphans`` kept it as project code, but plain ``clean`` (which does not
    load the AssetFile) deleted it with the cache, and the AssetFile no longer loaded. A Python
    file of a removed asset (or left at a path an asset moved from) now stays, named."""
    root = tmp_path / "p"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "__init__.py").write_text("")
    (root / "AssetFile").write_text('from assetbuild import asset\n\n@asset(io="text", path="lib/consts.py")\n'
                                    'def gen():\n    return "RATE = 3\\n"\n')
    assert cli("build", cwd=root, env=clean_env()).returncode == 0
    (root / "AssetFile").write_text('from assetbuild import asset\nfrom lib.consts import RATE\n\n'
                                    '@asset(io="json")\ndef a():\n    return RATE * 2\n')
    assert cli("build", cwd=root, env=clean_env()).returncode == 0
    r = cli("clean", "--yes", cwd=root, env=clean_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "lib" / "consts.py").read_text() == "RATE = 3\n"
    assert ("warning: kept 1 Python file of assets no longer writing them, which the project may import now "
            "(clean --orphans, which loads the AssetFile, deletes those it does not): lib/consts.py") in r.stderr
    r = cli("build", cwd=root, env=clean_env())
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
