"""Files an asset writes itself (``@asset(outputs=[...])``): real projects in tmp_path, built
through the API and the command, under every executor; restores per file, failures that leave
the project untouched, early cutoff, undeclared writes, clean, gc and a remote round trip.
Runs are counted through a side-effect file, so "ran nothing" is observed, not inferred."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import DEEP, clean_env, cli, cli_cmd, run_counter, take_runs

import assetbuild
from assetbuild.atomicfile import TEMP_SUFFIX
from assetbuild.dirtree import remove_tree
from assetbuild.errors import DefinitionError
from assetbuild.output import Reporter

PIPELINE = run_counter() + '''
from assetbuild import asset, source, Output

params = source("params", "params.txt")


@asset(outputs=["model.pkl"])
def train(params, context):
    _ran("train")
    context.out("model.pkl").write_text("model " + params.read_text().split()[0])


@asset(outputs=["eval/", "summary.txt"])
def evaluate(train, context):
    _ran("evaluate")
    d = context.out("eval")
    (d / "metrics.json").write_text('{"acc": 0.9, "model": "%s"}' % train.read_text())
    (d / "plots").mkdir()
    for i in range(3):
        (d / "plots" / f"p{i}.csv").write_text(f"{i},{i * i}\\n")
    context.out("summary.txt").write_text("ok")
    return Output(None, metadata={"files": 5})


@asset(io="json")
def report(evaluate):
    _ran("report")
    assert isinstance(evaluate, dict) and all(p.is_absolute() for p in evaluate.values())
    return sorted(str(p.relative_to(evaluate["eval/"])) for p in evaluate["eval/"].rglob("*.*"))
'''
FILES = {"eval/metrics.json", "eval/plots/p0.csv", "eval/plots/p1.csv", "eval/plots/p2.csv", "summary.txt",
         "model.pkl"}


@pytest.fixture
def runs(tmp_path, monkeypatch):
    d = tmp_path / "runs"
    monkeypatch.setenv("AB_RUNS", str(d))
    return d


def _project(root: Path, text: str = PIPELINE) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "AssetFile").write_text(text)
    (root / "params.txt").write_text("1 2\n")
    return root


class _Built:
    """A build's result, with the warnings it printed."""

    def __init__(self, result, warnings):
        self.result = result
        self.warnings = warnings

    def __getattr__(self, name):
        return getattr(self.result, name)


def _build(root: Path, **kw):
    err = io.StringIO()
    r = assetbuild.build(project_dir=root, reporter=Reporter(out=io.StringIO(), err=err, verbosity=-2), **kw)
    return _Built(r, [ln for ln in err.getvalue().splitlines() if ln.startswith("warning:")])


def _files(root: Path) -> dict[str, bytes]:
    """The project's files but the caches (``.assetbuild``, the compiled AssetFile in ``__pycache__``)
    and the two the tests write."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith((".assetbuild", "__pycache__", "AssetFile", "params.txt")):
            out[rel] = p.read_bytes()
    return out


@pytest.mark.parametrize("jobs,executor", [(1, "serial"), (2, "threads"), (2, "processes")])
def test_declare_write_read_under_every_executor(tmp_path, runs, jobs, executor):
    root = _project(tmp_path / "p")
    r = _build(root, jobs=jobs, executor=executor)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert take_runs(runs) == {"train": 1, "evaluate": 1, "report": 1}
    assert set(_files(root)) == FILES
    assert (root / "model.pkl").read_text() == "model 1"
    assert assetbuild.load_value("report", project_dir=root) == [
        "metrics.json", "plots/p0.csv", "plots/p1.csv", "plots/p2.csv"]
    assert {x.asset: x for x in r.results}["evaluate"].metadata == {"files": 5}
    assert not list((root / ".assetbuild" / "staging").iterdir())  # nothing left behind
    again = _build(root, jobs=jobs, executor=executor)
    assert again.ok and again.names("built") == [] and take_runs(runs) == {}
    # the manifest is the stored value: relative paths and digests, the same whatever the executor
    shown = assetbuild.load_value("evaluate", project_dir=root)
    assert set(shown) == FILES - {"model.pkl"}


def test_the_data_version_is_the_same_on_every_executor(tmp_path, runs):
    versions = []
    for i, (jobs, executor) in enumerate([(1, "serial"), (2, "processes")]):
        r = _build(_project(tmp_path / f"p{i}"), jobs=jobs, executor=executor)
        versions.append({x.asset: x.data_version for x in r.results})
    assert versions[0] == versions[1]


def test_a_missing_or_edited_file_is_restored_without_running(tmp_path, runs):
    root = _project(tmp_path / "p")
    assert _build(root).ok
    take_runs(runs)
    before = _files(root)
    (root / "eval" / "plots" / "p1.csv").unlink()
    (root / "summary.txt").write_text("edited by hand")
    (root / "eval" / "stray.txt").write_text("not the asset's")
    states = {s.asset: s for s in assetbuild.status(project_dir=root)}
    assert states["evaluate"].state == "stale" and states["train"].state == "fresh"
    detail = " ".join(f"{x.code}: {x.detail}" for x in states["evaluate"].reasons)
    assert "eval/plots/p1.csv is missing" in detail and "summary.txt is changed" in detail
    assert "eval/stray.txt is not written by 'evaluate'" in detail
    dry = assetbuild.build(project_dir=root, dry_run=True)
    assert {x.asset: x.metadata.get("would") for x in dry.results}["evaluate"] == "restore"
    r = _build(root)
    assert r.ok and r.names("restored") == ["evaluate"] and r.names("built") == []
    assert take_runs(runs) == {}  # nothing ran: report is cached, the files came from the store
    assert _files(root) == before
    assert _build(root).names("restored") == []  # and the restore is recorded


def test_files_assetbuild_wrote_for_the_latest_build_are_not_said_changed_outside_it(tmp_path, runs):
    """A source reverted after two builds: the files hold what assetbuild wrote for the latest
    build, under another key. The reason is what changed in the key, as for a path= output
    (source-changed, upstream-changed), in status, why, -n and the build's line; a file the
    user did edit is still said to be changed outside assetbuild."""
    root = _project(tmp_path / "p")
    assert _build(root).ok
    first = _files(root)
    (root / "params.txt").write_text("2 3\n")
    assert _build(root).ok
    (root / "params.txt").write_text("1 2\n")  # the revert
    take_runs(runs)
    states = {s.asset: s for s in assetbuild.status(project_dir=root)}
    assert [r.code for r in states["train"].reasons] == ["source-changed"], states["train"].reasons
    assert [r.code for r in states["evaluate"].reasons] == ["upstream-changed"], states["evaluate"].reasons
    assert states["report"].state == "fresh"  # the same names of files either way: its key's value
    shown = subprocess.run(cli_cmd("why", "evaluate"), cwd=root, capture_output=True, text=True, env=clean_env())
    assert "upstream-changed: train: " in shown.stdout and "outside assetbuild" not in shown.stdout, shown.stdout
    dry = assetbuild.build(project_dir=root, dry_run=True)
    assert {x.asset: [r.code for r in x.reasons] for x in dry.results} == {
        "train": ["source-changed"], "evaluate": ["upstream-changed"], "report": []}
    (root / "summary.txt").write_text("edited by hand")  # the user's, this one
    detail = {s.asset: " ".join(f"{r.code}: {r.detail}" for r in s.reasons)
              for s in assetbuild.status(project_dir=root)}["evaluate"]
    assert detail.startswith("upstream-changed: train: "), detail
    assert "output-modified: summary.txt is changed outside assetbuild" in detail
    assert "eval/" not in detail  # the files assetbuild wrote are its own
    r = subprocess.run(cli_cmd("-v"), cwd=root, capture_output=True, text=True, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert "restored  train  (source-changed" in r.stdout, r.stdout
    assert take_runs(runs) == {}  # restored, not run
    assert _files(root) == first


def test_a_null_build_does_not_read_produced_files(tmp_path, runs, monkeypatch):
    root = _project(tmp_path / "p")
    assert _build(root).ok
    import assetbuild.workspace as ws

    read = []
    real = ws.hash_file
    monkeypatch.setattr(ws, "hash_file", lambda p: read.append(p) or real(p))
    r = _build(root)
    assert r.ok and r.names("cached") == ["train", "evaluate", "report"]
    assert [p for p in read if "eval" in p or p.endswith((".pkl", "summary.txt"))] == []


def test_a_failure_leaves_the_project_untouched(tmp_path, runs):
    root = _project(tmp_path / "p")
    assert _build(root).ok
    before = _files(root)
    text = PIPELINE.replace('    context.out("summary.txt").write_text("ok")\n',
                            '    context.out("summary.txt").write_text("new")\n    raise ValueError("late")\n')
    (root / "AssetFile").write_text(text.replace('"acc": 0.9', '"acc": 0.1'))
    r = _build(root)
    by = {x.asset: x for x in r.results}
    assert by["evaluate"].status == "failed" and by["evaluate"].error == "ValueError: late"
    assert by["report"].status == "skipped"
    assert _files(root) == before  # not one file replaced
    assert not list((root / ".assetbuild" / "staging").iterdir())
    (root / "AssetFile").write_text(PIPELINE)  # undo: the old build is still the latest
    assert _build(root).names("built") == []


def test_a_killed_build_leaves_the_project_untouched_and_the_cache_consistent(tmp_path, runs):
    root = _project(tmp_path / "p")
    assert _build(root).ok
    before = _files(root)
    take_runs(runs)
    crash = PIPELINE.replace('    context.out("summary.txt").write_text("ok")\n',
                             '    context.out("summary.txt").write_text("new")\n    import os; os._exit(9)\n')
    (root / "AssetFile").write_text(crash.replace('"acc": 0.9', '"acc": 0.2'))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    p = subprocess.run([sys.executable, "-m", "assetbuild", "-C", str(root)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 9, p.stderr
    assert _files(root) == before
    assert list((root / ".assetbuild" / "staging").iterdir())  # what the killed run wrote...
    (root / "AssetFile").write_text(PIPELINE.replace('"acc": 0.9', '"acc": 0.2'))
    r = _build(root)
    assert r.ok and r.names("built") == ["evaluate", "report"]
    assert not list((root / ".assetbuild" / "staging").iterdir())  # ...is swept by the next build
    assert b'"acc": 0.2' in (root / "eval" / "metrics.json").read_bytes()


def test_a_declared_output_not_written_and_a_returned_value_are_failures(tmp_path):
    root = _project(tmp_path / "p", '''
from assetbuild import asset

@asset(outputs=["eval/", "model.pkl"])
def forgets(context):
    (context.out("eval/") / "x").write_text("x")

@asset(outputs=["a.txt"])
def returns(context):
    context.out("a.txt").write_text("a")
    return {"acc": 1}

@asset(outputs=["d.txt"])
def wrong_kind(context):
    (context.out("d.txt")).mkdir()

@asset(outputs=["e.txt"])
def undeclared(context):
    context.out("f.txt")
''')
    r = _build(root, keep_going=True)
    errors = {x.asset: x.error for x in r.results}
    assert errors["forgets"] == "declared output 'model.pkl' was not written (write it at context.out('model.pkl'))"
    assert errors["returns"].startswith("asset 'returns' declares outputs=, so it must return None or "
                                        "Output(None, metadata=...); it returned builtins.dict")
    assert "is a file, but the asset wrote a directory" in errors["wrong_kind"]
    assert "context.out('f.txt') names no declared output (declared: 'e.txt')" in errors["undeclared"]
    assert not any((root / n).exists() for n in ("eval", "a.txt", "d.txt", "e.txt"))


def test_early_cutoff_same_bytes_keep_readers_cached(tmp_path, runs):
    root = _project(tmp_path / "p")
    assert _build(root).ok
    take_runs(runs)
    (root / "params.txt").write_text("1 3\n")  # train reads only the first number: same model bytes
    r = _build(root)
    assert r.names("built") == ["train"] and r.names("cached") == ["evaluate", "report"]
    (root / "params.txt").write_text("2 3\n")  # another model: evaluate's files change, so report runs
    r = _build(root)
    assert r.names("built") == ["train", "evaluate", "report"]


def test_files_a_run_no_longer_writes_are_removed(tmp_path, runs):
    root = _project(tmp_path / "p")
    assert _build(root).ok
    (root / "eval" / "mine.txt").write_text("dropped in by hand")
    (root / "AssetFile").write_text(PIPELINE.replace("range(3)", "range(2)"))
    r = _build(root)
    assert r.ok and r.names("built") == ["evaluate", "report"]
    assert set(_files(root)) == FILES - {"eval/plots/p2.csv"}


def test_a_directory_of_the_users_in_place_of_a_declared_file_is_kept_and_fails_the_asset(tmp_path, runs):
    """A declared file output replaced by a directory holding the user's file: not assetbuild's to
    delete. The asset fails before it runs, as -n says, and its readers are skipped; emptied,
    the directory is replaced by the stored file."""
    root = _project(tmp_path / "p")
    assert _build(root).ok
    take_runs(runs)
    (root / "summary.txt").unlink()
    (root / "summary.txt").mkdir()
    (root / "summary.txt" / "notes.txt").write_text("mine")
    why = ("cannot write its output summary.txt: a directory that holds other files is in its place, and "
           "assetbuild deletes no file it did not write; move it away")
    dry = assetbuild.build(project_dir=root, dry_run=True)
    real = _build(root)
    for r in (dry, real):
        assert not r.ok
        assert {x.asset: (x.status, x.error) for x in r.results}["evaluate"] == ("failed", why)
        assert {x.asset: x.status for x in r.results}["report"] == "skipped"
    assert take_runs(runs) == {} and (root / "summary.txt" / "notes.txt").read_text() == "mine"
    (root / "summary.txt" / "notes.txt").unlink()
    r = _build(root)
    assert r.ok and r.names("restored") == ["evaluate"] and take_runs(runs) == {}
    assert (root / "summary.txt").read_text() == "ok"


def test_a_directory_inside_a_declared_directory_goes_whether_the_asset_runs_or_is_restored(tmp_path, runs):
    """Under a declared directory, the asset's own, a directory where one of its files goes is
    removed with what it holds (as any file there it did not write), on a restore and on a run."""
    root = _project(tmp_path / "p")
    assert _build(root).ok
    for edit in (None, "0.95"):
        if edit:  # a run this time
            (root / "AssetFile").write_text(PIPELINE.replace('"acc": 0.9', f'"acc": {edit}'))
        (root / "eval" / "metrics.json").unlink()
        (root / "eval" / "metrics.json" / "x").mkdir(parents=True)
        (root / "eval" / "metrics.json" / "x" / "y.txt").write_text("stray")
        dry = assetbuild.build(project_dir=root, dry_run=True)
        assert {x.asset: x.metadata.get("would") for x in dry.results}["evaluate"] == ("run" if edit else "restore")
        r = _build(root)
        assert r.ok, [(x.asset, x.error) for x in r.results]
        assert (root / "eval" / "metrics.json").is_file()
    assert '"acc": 0.95' in (root / "eval" / "metrics.json").read_text()


DEEP_TREE = f"""
import os
from assetbuild import asset


@asset(outputs=["out/"])
def tree(context):
    fd = os.open(context.out("out/"), os.O_RDONLY)
    for _ in range({DEEP}):
        os.mkdir("d", dir_fd=fd)
        sub = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = sub
    os.close(os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)
"""


def test_a_tree_deeper_than_the_recursion_limit_is_an_output_like_any(tmp_path):
    """Staged, hashed, placed, checked, restored and cleaned at any depth: no walk recurses once
    per level (one raised RecursionError, and left a staging directory every later build choked on)."""
    root = _project(tmp_path / "p", DEEP_TREE)
    try:
        assert _build(root).names("built") == ["tree"]
        bottom = root.joinpath("out", *["d"] * DEEP, "bottom.txt")
        assert bottom.is_file() and os.listdir(root / ".assetbuild" / "staging") == []
        bottom.unlink()
        (bottom.parent / "d" / "e").mkdir(parents=True)
        (bottom.parent / "d" / "e" / "extra.txt").write_text("not the asset's")
        assert _build(root).names("restored") == ["tree"]
        assert bottom.is_file() and os.listdir(bottom.parent) == ["bottom.txt"]
        report = assetbuild.clean(project_dir=root, outputs=True, reporter=Reporter(out=io.StringIO(), err=io.StringIO()))
        assert report.deleted == ["out/" + "d/" * DEEP + "bottom.txt"] and not (root / "out").exists()
    finally:
        remove_tree(str(root))  # (pytest's own clean-up of tmp_path recurses)


def test_writes_outside_the_declared_outputs_warn_once(tmp_path):
    root = _project(tmp_path / "p", '''
from assetbuild import asset

@asset(outputs=["out/"])
def leaky(context):
    (context.out("out/") / "a").write_text("a")
    (context.project_dir / "stray.txt").write_text("x")
    (context.project_dir / "also.txt").write_text("y")

@asset(io="text", path="report.txt")
def fine(leaky):
    return "ok"
''')
    r = _build(root)
    assert r.ok
    stray = [w for w in r.warnings if "outside its declared outputs" in w]
    assert len(stray) == 1 and "'leaky' wrote also.txt, stray.txt outside" in stray[0], r.warnings
    assert _build(root).warnings == []


def test_a_write_outside_the_outputs_under_j_is_not_blamed_on_the_asset_beside_it(tmp_path):
    """-j 2: 'culprit' writes stray.txt while 'innocent' runs, and both snapshots see it. The one
    warning names both as running at the same time, never 'innocent' alone."""
    root = _project(tmp_path / "p", f'''
import time
from pathlib import Path
from assetbuild import asset
SIGNAL = Path({str(tmp_path / "started")!r})

def wait_for(p):
    for _ in range(1200):
        if p.exists():
            return
        time.sleep(0.05)

@asset(outputs=["d/"])
def innocent(context):
    SIGNAL.write_text("")
    wait_for(context.project_dir / "stray.txt")
    (context.out("d/") / "x").write_text("x")

@asset(outputs=["e/"])
def culprit(context):
    wait_for(SIGNAL)
    (context.project_dir / "stray.txt").write_text("stray")
    (context.out("e/") / "y").write_text("y")
''')
    r = _build(root, jobs=2)
    assert r.ok
    stray = [w for w in r.warnings if "stray.txt" in w]
    assert len(stray) == 1, r.warnings
    assert "'innocent' wrote" not in stray[0] and "'culprit'" in stray[0] and "at the same time" in stray[0], stray


@pytest.mark.parametrize("streams", ["2> err.log", "> err.log 2>&1"])
def test_the_builds_own_log_file_in_the_project_is_not_an_assets_write(tmp_path, streams):
    """``assetbuild 2> err.log`` inside the project: c's FAILED lines grow err.log while b runs
    (b waits for them), and assetbuild, not b, wrote them."""
    root = _project(tmp_path / "p", '''
import time
from pathlib import Path
from assetbuild import asset

@asset(outputs=["m.txt"])
def b(context):
    log = Path(context.project_dir) / "err.log"
    for _ in range(600):
        if "FAILED" in log.read_text():
            break
        time.sleep(0.05)
    context.out("m.txt").write_text("m")

@asset(io="json")
def c():
    raise ValueError("boom")
''')
    with open(root / "err.log", "w") as log:
        out = log if streams.startswith(">") else subprocess.DEVNULL
        p = subprocess.run(cli_cmd("-j", "2", "-k"), cwd=root, stdout=out, stderr=log, env=clean_env(),
                           timeout=120)
    said = (root / "err.log").read_text()
    assert p.returncode == 1 and "FAILED    c" in said and (root / "m.txt").read_text() == "m", said
    assert "outside its declared outputs" not in said, said


@pytest.mark.parametrize("decl,words", [
    ('outputs=["../x"]', "must be relative to the project directory"),
    ('outputs=["/abs/x"]', "must be relative to the project directory"),
    ('outputs="eval/"', "outputs must be a non-empty list of paths"),
    ('outputs=["eval/", "eval/x.png"]', "outputs 'eval/' and 'eval/x.png' overlap"),
    ('outputs=["m.pkl"], path="m.pkl"', "use one of them"),
    ('outputs=["m.pkl"], io="json"', "remove io="),
    ('outputs=["taken/"]', "asset 'a' (outputs 'taken/') overlaps asset 'other' (path 'taken/x.txt')"),
    ('outputs=["data/x"]', "asset 'a' (outputs 'data/x') overlaps the source 'data'"),
    ('outputs=["data"]', "asset 'a' (outputs 'data') overlaps the source 'data'"),
])
def test_definition_errors_name_file_and_line(tmp_path, decl, words):
    root = _project(tmp_path / "p", f'''
from assetbuild import asset, source

data = source("data", "data")

@asset(io="text", path="taken/x.txt")
def other():
    return ""

@asset({decl})
def a(context):
    pass
''')
    with pytest.raises(DefinitionError) as e:
        assetbuild.build(project_dir=root)
    assert words in str(e.value)
    assert e.value.file == str(root / "AssetFile") and e.value.line in (9, 10)


def test_outputs_inside_a_source_of_the_whole_project_are_refused(tmp_path):
    root = _project(tmp_path / "p", '''
from assetbuild import asset, source

everything = source("everything", ".")

@asset(outputs=["m.pkl"])
def a(context):
    pass
''')
    with pytest.raises(DefinitionError, match="lies inside the source 'everything' \\(.\\): each build would change"):
        assetbuild.build(project_dir=root)


@pytest.mark.parametrize("decl, words", [
    ('io="text", path=".git/config"', "writes .git/config, inside .git"),
    ('io="text", path="vendor/lib/.hg/hgrc"', "writes vendor/lib/.hg/hgrc, inside .hg"),
    ('outputs=[".git/hooks/"]', "writes .git/hooks/ (outputs=), inside .git"),
    ('outputs=[".git/"]', "writes .git/ (outputs=), inside .git"),
])
def test_outputs_in_a_repositorys_own_files_are_refused(tmp_path, decl, words):
    """A build writes nothing into ``.git`` or ``.hg`` (a typo away from overwriting the
    repository's config); ``.github/`` and the like are ordinary folders."""
    root = _project(tmp_path / "p", f'''
from assetbuild import asset

@asset({decl})
def a(context):
    return "x"


@asset(io="text", path=".github/notes.txt")
def b():
    return "y"
''')
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    with pytest.raises(DefinitionError, match=words.replace("(", "\\(").replace(")", "\\)") + ": the build would "
                       "overwrite the repository's own files") as e:
        assetbuild.build(project_dir=root)
    assert e.value.line == 4 and (root / ".git" / "config").read_text() == "[core]\n"


@pytest.mark.parametrize("outputs,words", [
    ('[".assetbuild/m.pkl"]', "writes .assetbuild/m.pkl (outputs=), inside the cache directory"),
    ('["cache/"]', "writes cache/ (outputs=), inside the cache directory"),
    ('["work/"]', "writes the directory work/ (outputs=), which holds the cache directory"),
])
def test_outputs_in_or_around_the_cache_directory_are_refused(tmp_path, outputs, words):
    root = _project(tmp_path / "p", f'''
from assetbuild import asset

@asset(outputs={outputs})
def a(context):
    pass
''')
    cache = {"cache/": root / "cache", "work/": root / "work" / "c"}.get(outputs[2:-2])
    with pytest.raises(DefinitionError, match=words.replace("(", "\\(").replace(")", "\\)")) as e:
        assetbuild.build(project_dir=root, cache_dir=cache)
    assert e.value.line == 4
    assert not any(p.name == "m.pkl" for p in root.rglob("*"))


def test_outputs_need_a_context_parameter(tmp_path):
    root = _project(tmp_path / "p", '''
from assetbuild import asset

@asset(outputs=["m.pkl"])
def a():
    pass
''')
    with pytest.raises(DefinitionError, match="has no 'context' parameter"):
        assetbuild.build(project_dir=root)


def test_clean_keep_outputs_keeps_produced_files_like_path_outputs(tmp_path, runs):
    root = _project(tmp_path / "p")
    assert _build(root).ok
    before = _files(root)
    stage = root / ".assetbuild" / "staging" / "a.k1lled_x"  # as new_staging names them
    stage.mkdir()
    (stage / "half.txt").write_text("left by a killed build")
    p = subprocess.run([sys.executable, "-m", "assetbuild", "-C", str(root), "clean", "--yes", "--keep-outputs"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert not (root / ".assetbuild").exists() and "kept" not in p.stderr
    assert _files(root) == before


def test_gc_keeps_the_files_a_kept_manifest_lists(tmp_path, runs):
    root = _project(tmp_path / "p")
    assert _build(root).ok
    assetbuild.gc(project_dir=root)
    for rel in FILES:
        (root / rel).unlink()
    take_runs(runs)
    r = _build(root)
    assert r.ok and sorted(r.names("restored")) == ["evaluate", "train"] and take_runs(runs) == {}


def test_a_cache_directory_elsewhere(tmp_path, runs):
    root = _project(tmp_path / "p")
    cache = tmp_path / "shared-cache"
    assert _build(root, cache_dir=cache).ok
    assert not (root / ".assetbuild").exists() and set(_files(root)) == FILES
    (root / "model.pkl").unlink()
    take_runs(runs)
    r = _build(root, cache_dir=cache, jobs=2, executor="processes")
    assert r.names("restored") == ["train"] and take_runs(runs) == {}


def test_remote_round_trip(tmp_path, runs, monkeypatch):
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", "correct horse battery staple")
    url = f"file://{tmp_path / 'remote'}"
    a = _project(tmp_path / "a")
    assert _build(a, remote=url).ok
    take_runs(runs)
    b = _project(tmp_path / "b")
    r = _build(b, remote=url)
    assert r.ok and r.warnings == [], r.warnings
    assert take_runs(runs) == {}  # every asset from the remote: manifests and their files
    assert sorted(r.names("restored")) == ["evaluate", "report", "train"]
    assert _files(b) == _files(a)
    assert _build(b).names("built") == []


def test_dry_run_and_status_with_nothing_built(tmp_path, runs):
    root = _project(tmp_path / "p")
    assert {s.asset: s.state for s in assetbuild.status(project_dir=root)} == {
        "train": "missing", "evaluate": "missing", "report": "missing"}
    assert not (root / "model.pkl").exists()


def test_watch_mode_rebuilds_and_its_own_files_trigger_nothing(project):
    from test_watch import Watching, built, edit

    project.write("data/in.txt", "x")
    project.assetfile('''
raw = source("raw", "data/in.txt")

@asset(outputs=["out/", "top.txt"], executor="processes")
def files(raw, context):
    d = context.out("out/")
    (d / "a.txt").write_text(raw.read_text() * 2)
    (d / "deep").mkdir()
    (d / "deep" / "b.py").write_text("x = 1\\n")
    context.out("top.txt").write_text("top")

@asset(io="text")
def reader(files):
    return files["out/"].joinpath("a.txt").read_text()
''')
    with Watching(project.root, jobs=2) as w:
        assert built(w.cycles[0]) == ["files", "reader"]
        n = len(w.cycles)
        edit(project.root / "data/in.txt", "y")
        assert built(w.wait(n + 1)[-1]) == ["files", "reader"]
        time.sleep(3)  # an idle window: a rebuild now would be a loop on the files it wrote
        assert len(w.cycles) == n + 1, w.cycles[n:]
        assert (project.root / "out" / "a.txt").read_text() == "yy"


def test_a_cache_export_carries_the_files(tmp_path, runs):
    a = _project(tmp_path / "a")
    assert _build(a).ok
    assetbuild.export_cache(str(tmp_path / "cache.tar"), project_dir=a)
    take_runs(runs)
    b = _project(tmp_path / "b")
    assetbuild.import_cache(str(tmp_path / "cache.tar"), project_dir=b)
    r = _build(b)
    assert r.ok and take_runs(runs) == {} and _files(b) == _files(a)


LARGE = run_counter() + '''
from assetbuild import asset


@asset(outputs=["weights/"])
def weights(context):
    _ran("weights")
    d = context.out("weights/")
    block = bytes(range(256)) * 4096  # 1 MiB
    (d / "a.bin").write_bytes(block * 3)  # a large file: copied into the store, never read whole
    (d / "same.bin").write_bytes(block * 3)  # the same bytes: one blob
    (d / "small.txt").write_text("small")


@asset(io="json")
def sizes(weights):
    _ran("sizes")
    return sorted(p.stat().st_size for p in weights.iterdir())
'''


@pytest.mark.parametrize("jobs", [1, 2])
def test_large_files_are_stored_once_and_travel_through_the_remote(tmp_path, runs, monkeypatch, jobs):
    monkeypatch.setenv("ASSETBUILD_CACHE_KEY", "correct horse battery staple")
    url = f"file://{tmp_path / 'remote'}"
    a = _project(tmp_path / "a", LARGE)
    assert _build(a, remote=url, jobs=jobs).ok
    blob_files = [p for p in (a / ".assetbuild" / "cas").rglob("*") if p.is_file() and p.stat().st_size > 3_000_000]
    assert len(blob_files) == 1  # a.bin and same.bin: one blob
    remote_blobs = [p for p in (tmp_path / "remote" / "blobs").rglob("*") if p.is_file()]
    assert sum(1 for p in remote_blobs if p.stat().st_size > 3_000_000) == 1
    take_runs(runs)
    b = _project(tmp_path / "b", LARGE)
    r = _build(b, remote=url, jobs=jobs)
    assert r.ok and r.warnings == [] and take_runs(runs) == {}
    assert _files(b) == _files(a)
    (b / "weights" / "a.bin").write_bytes(b"damaged")
    r = _build(b, jobs=jobs)
    assert r.names("restored") == ["weights"] and take_runs(runs) == {}
    assert _files(b) == _files(a)


BIG_OUTPUT = '''
import os
from assetbuild import asset
@asset(outputs=["gen/big.bin"], env=["V"])
def files(context):
    context.out("gen/big.bin").write_bytes(os.environ.get("V", "a").encode() * (1 << 20) + b"!")
'''


def test_a_symlink_planted_as_the_spool_directory_receives_no_large_output(tmp_path):
    """A file of 1 MiB or more is copied into the store through ``cas/tmp``: a symlink planted
    there gets nothing. It stopped every build until the user removed it; a build now replaces
    the link (only the link: what it points to stays) by a directory, and says so."""
    root = _project(tmp_path / "p", BIG_OUTPUT)
    assert cli(cwd=root).returncode == 0
    spool, elsewhere = root / ".assetbuild" / "cas" / "tmp", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / f".old{TEMP_SUFFIX}").write_text("not the cache's")  # a name a sweep would take, in the cache
    remove_tree(str(spool))
    spool.symlink_to(elsewhere)
    r = cli(cwd=root, env=clean_env(V="b"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert [p.name for p in elsewhere.iterdir()] == [f".old{TEMP_SUFFIX}"]
    assert spool.is_dir() and not spool.is_symlink()
    assert r.stderr.splitlines() == [f"warning: {spool} was a symlink (to {elsewhere}), where assetbuild writes nothing "
                                     "through one: replaced it by a directory (only the link was removed)"]


def test_a_file_planted_as_the_spool_directory_stops_the_build_with_one_line(tmp_path):
    """Not a link: a file there may be anyone's, so it stays, and the build says so, exit 2, as
    for any other fault of the cache."""
    root = _project(tmp_path / "p", BIG_OUTPUT)
    assert cli(cwd=root).returncode == 0
    spool = root / ".assetbuild" / "cas" / "tmp"
    remove_tree(str(spool))
    spool.write_text("mine")
    r = cli(cwd=root, env=clean_env(V="b"))
    assert r.returncode == 2 and spool.read_text() == "mine", r.stdout + r.stderr
    assert r.stderr.splitlines() == [f"assetbuild: error: cannot store gen/big.bin in the cache: {spool} is not a "
                                     "directory: assetbuild writes nothing through it (remove it)"]


def test_a_full_disk_at_the_spool_directory_is_the_one_named(tmp_path):
    """A full disk while a large file is copied into ``cas/tmp`` names that directory and its own
    free space, not the cache root's disk (which had 80 GB free while the spool's had none)."""
    root = _project(tmp_path / "p", BIG_OUTPUT)
    assert cli(cwd=root).returncode == 0
    spool = root / ".assetbuild" / "cas" / "tmp"
    spool.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(spool)],
                      capture_output=True).returncode:
        pytest.skip("needs to mount a small tmpfs (root)")
    try:
        r = cli(cwd=root, env=clean_env(V="b"))
    finally:
        subprocess.run(["umount", str(spool)], check=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"cannot store gen/big.bin in the cache (copying it into {spool}): no space left on device (" in r.stderr
    assert " KiB free)" in r.stderr and " MiB free" not in r.stderr, r.stderr
