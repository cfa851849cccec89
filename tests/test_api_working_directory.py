"""The Python API runs a project with its directory as the working directory, as ``-C DIR`` does:
an AssetFile's ``open("params.yaml")`` and an asset's cwd-relative reads work from any caller's
directory; the caller's directory is restored afterwards, also after an error or Ctrl-C; API
calls from several threads take turns."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from projects import write

import assetbuild
from assetbuild.output import Reporter

ASSETFILE = '''\
import os, time
from assetbuild import asset

PARAMS = open("params.yaml").read().strip()  # relative to the project directory


@asset
def settings():
    return PARAMS


@asset
def reading(settings):
    time.sleep(float(os.environ.get("AB_TEST_SLEEP", "0")))
    with open("data/input.txt") as f:  # an upstream library would do the same
        return settings + ":" + f.read().strip() + ":" + os.path.basename(os.getcwd())
'''


def _project(root: Path, tag: str) -> Path:
    return write(root, {"AssetFile": ASSETFILE, "params.yaml": f"p-{tag}\n", "data/input.txt": f"d-{tag}\n"})


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    here = tmp_path / "elsewhere"
    here.mkdir()
    monkeypatch.chdir(here)
    return here


@pytest.mark.parametrize("executor,jobs", [("serial", 1), ("threads", 2), ("processes", 2)])
def test_build_from_another_directory(tmp_path, elsewhere, executor, jobs):
    root = _project(tmp_path / "proj", "a")
    r = assetbuild.build(project_dir=root, executor=executor, jobs=jobs)
    assert r.ok, [(x.asset, x.error) for x in r.results]
    assert assetbuild.load_value("reading", project_dir=root) == "p-a:d-a:proj"
    assert os.getcwd() == str(elsewhere)


def test_every_verb_that_loads_the_project_runs_there(tmp_path, elsewhere):
    root = _project(tmp_path / "proj", "a")
    assert {s.asset: s.state for s in assetbuild.status(project_dir=root)} == {"settings": "missing",
                                                                               "reading": "missing"}
    assert assetbuild.why("reading", project_dir=root)["state"] == "missing"
    assert [a["name"] for a in assetbuild.list_assets(project_dir=root)] == ["settings", "reading"]
    assert assetbuild.functions(project_dir=root)["settings"]() == "p-a"
    assert assetbuild.build(["settings"], project_dir=root).ok
    assert assetbuild.load_value("settings", project_dir=root) == "p-a"
    assert os.getcwd() == str(elsewhere)


CHDIR_ASSETFILE = """\
import os
from assetbuild import asset, observable_source

@observable_source
def seen():
    os.chdir("sub")
    return "1"

@asset
def a(seen):
    os.chdir("sub")
    return 1

@asset
def b(a):
    return open("data.txt").read().strip()
"""


@pytest.mark.parametrize("executor,jobs", [("serial", 1), ("processes", 1)])
def test_an_asset_that_changes_directory_moves_neither_later_assets_nor_the_caller(tmp_path, monkeypatch,
                                                                                  executor, jobs):
    """An asset (and an observe function) calling ``os.chdir``: the next asset in the same
    process (the build's, or a worker's) runs in the project directory, as forcing it alone
    does, and a caller whose directory is the project's is back there after the call."""
    root = write(tmp_path / "proj", {"AssetFile": CHDIR_ASSETFILE, "data.txt": "project\n",
                                     "sub/data.txt": "subdir\n"})
    monkeypatch.chdir(root)
    assert assetbuild.build(executor=executor, jobs=jobs).ok
    assert os.getcwd() == str(root)
    assert assetbuild.load_value("b") == "project"


def test_assetfile_alone_is_dash_f_its_directory_is_the_project(tmp_path, elsewhere):
    """``assetfile=FILE`` without ``project_dir=`` is ``assetbuild -f FILE``: FILE's directory is
    the project (its files, its cache, its working directory), from any caller's directory;
    with ``project_dir=`` FILE is read from there, as ``-C DIR -f FILE``."""
    root = _project(tmp_path / "proj", "a")
    for assetfile in (str(root / "AssetFile"), os.path.relpath(root / "AssetFile")):
        r = assetbuild.build(assetfile=assetfile)
        assert r.ok, [(x.asset, x.error) for x in r.results]
        assert assetbuild.load_value("reading", assetfile=assetfile) == "p-a:d-a:proj"
        assert {s.asset: s.state for s in assetbuild.status(assetfile=assetfile)} == {"settings": "fresh",
                                                                                      "reading": "fresh"}
    assert not (elsewhere / ".assetbuild").exists() and os.getcwd() == str(elsewhere)
    write(root, {"alt/Pipeline": ASSETFILE})
    r = assetbuild.build(project_dir=root, assetfile="alt/Pipeline")  # -C DIR -f FILE: DIR is the project
    assert r.ok and assetbuild.load_value("reading", project_dir=root, assetfile="alt/Pipeline") == "p-a:d-a:proj"
    assert not (root / "alt/.assetbuild").exists()


def test_a_relative_cache_dir_is_the_callers(tmp_path, elsewhere):
    root = _project(tmp_path / "proj", "a")
    assert assetbuild.build(project_dir=root, cache_dir="mycache").ok
    assert (elsewhere / "mycache" / "STORE").is_file()
    assert not (root / "mycache").exists()


def test_a_relative_archive_path_is_the_callers(tmp_path, elsewhere):
    root = _project(tmp_path / "proj", "a")
    assert assetbuild.build(project_dir=root).ok
    assetbuild.export_cache("cache.tar", project_dir=root)
    assert (elsewhere / "cache.tar").is_file() and not (root / "cache.tar").exists()
    other = _project(tmp_path / "other", "a")
    assert assetbuild.import_cache("cache.tar", project_dir=other)["entries"] == 2
    assert assetbuild.build(project_dir=other).by_asset() == {"settings": "cached", "reading": "cached"}


def test_the_callers_directory_comes_back_after_an_error(tmp_path, elsewhere):
    root = write(tmp_path / "broken", {"AssetFile": "open('missing.yaml')\n"})
    with pytest.raises(assetbuild.DefinitionError, match="missing.yaml"):
        assetbuild.build(project_dir=root)
    assert os.getcwd() == str(elsewhere)


def test_the_callers_directory_comes_back_after_ctrl_c(tmp_path, elsewhere):
    root = _project(tmp_path / "proj", "a")

    class Interrupted(Reporter):
        def asset_started(self, name: str) -> None:
            assert os.getcwd() == str(root)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assetbuild.build(project_dir=root, reporter=Interrupted(verbosity=-2))
    assert os.getcwd() == str(elsewhere)


def test_builds_in_two_threads_take_turns(tmp_path, elsewhere, monkeypatch):
    """Each build runs in its own project directory from start to end: the other thread's build
    waits (without the turns, one would read the other's files halfway)."""
    monkeypatch.setenv("AB_TEST_SLEEP", "0.3")
    roots = {tag: _project(tmp_path / f"proj-{tag}", tag) for tag in "ab"}
    results: dict[str, object] = {}

    def run(tag: str) -> None:
        try:
            results[tag] = assetbuild.build(project_dir=roots[tag], executor="threads", jobs=2)
        except BaseException as e:  # noqa: BLE001 - the test reports it
            results[tag] = e

    threads = [threading.Thread(target=run, args=(tag,)) for tag in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for tag in "ab":
        r = results[tag]
        assert isinstance(r, assetbuild.BuildResult) and r.ok, r
        assert assetbuild.load_value("reading", project_dir=roots[tag]) == f"p-{tag}:d-{tag}:proj-{tag}"
    assert os.getcwd() == str(elsewhere)


def test_a_deleted_callers_directory_is_no_error(tmp_path, monkeypatch):
    root = _project(tmp_path / "proj", "a")
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert assetbuild.build(project_dir=root).ok
    monkeypatch.chdir(tmp_path)


def test_a_deleted_working_directory_as_the_project_is_one_error(tmp_path, monkeypatch):
    """``project_dir="."`` (the default) from a directory deleted and made again under the
    caller (``rm -rf proj && git clone ...`` in a terminal): the error the command gives, in
    the API's words, not a FileNotFoundError naming no path."""
    root = _project(tmp_path / "proj", "a")
    monkeypatch.chdir(root)
    assert assetbuild.build().ok
    shutil.rmtree(root)
    _project(root, "b")
    with pytest.raises(assetbuild.ProjectNotFound, match=r"^the working directory cannot be read \(No such file "
                       r"or directory\): it was deleted or moved \(os.chdir to the project, or pass project_dir=\)$"):
        assetbuild.build()
    monkeypatch.chdir(tmp_path)


def test_a_relative_cache_dir_from_a_deleted_working_directory_is_one_error(tmp_path, monkeypatch):
    """The project given absolutely, the cache relatively, from a directory deleted since: the
    cache has no place, said in the API's words (not a FileNotFoundError from Path.cwd)."""
    root = _project(tmp_path / "proj", "a")
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(assetbuild.ProjectNotFound, match=r"^the working directory cannot be read \(No such file "
                       r"or directory\), so the relative cache directory 'c' is nowhere \(os.chdir to the "
                       r"project, or pass an absolute cache_dir=\)$"):
        assetbuild.build(project_dir=root, cache_dir="c")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("missing", ["stdout", "stderr", "both"])
def test_api_calls_work_without_standard_streams(tmp_path, monkeypatch, missing):
    """Python started without streams (pythonw, a service or GUI host): ``sys.stdout`` or
    ``sys.stderr`` is None. Every call works (it crashed on the reporter's first look at the
    stream, AttributeError: 'NoneType' object has no attribute 'isatty'); what would be said
    there goes nowhere."""
    root = write(tmp_path / "p", {"AssetFile": "from assetbuild import asset\n\n"
                                                "@asset\ndef a():\n    print('hi')\n    return 1\n\n"
                                                "@asset\ndef b(a):\n    import sys\n    print('said', file=sys.stderr)\n"
                                                "    return a + 1\n"})
    for name in ("stdout", "stderr") if missing == "both" else (missing,):
        monkeypatch.setattr(f"sys.{name}", None)
    assert assetbuild.build(project_dir=root).ok
    assert assetbuild.build(project_dir=root, force=True, jobs=2).ok
    assert [s.state for s in assetbuild.status(project_dir=root)] == ["fresh", "fresh"]
    assert assetbuild.load_value("b", project_dir=root) == 2
    assert assetbuild.build(project_dir=root, remote=str(tmp_path / "remote")).ok  # (a warning: no key)


@pytest.mark.parametrize("verb", ["build", "status", "clean", "watch_project", "run_daemon", "list_ticks"])
def test_a_file_or_a_missing_folder_as_project_dir_is_one_line(tmp_path, verb):
    """A file given as ``project_dir=`` was "no such project directory" (it exists), and
    ``clean`` went on to a StoreError about a lock file inside it."""
    from assetbuild.errors import DefinitionError

    (tmp_path / "AssetFile").write_text("")
    call = getattr(assetbuild, verb)
    with pytest.raises(DefinitionError, match=r"AssetFile is a file, not a project directory\Z"):
        call(project_dir=tmp_path / "AssetFile")
    with pytest.raises(DefinitionError, match=r"\Ano such project directory: .*/nowhere\Z"):
        call(project_dir=tmp_path / "nowhere")
