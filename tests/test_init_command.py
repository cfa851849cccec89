"""``assetbuild init [DIR]``: the starter project builds, its test passes, and init overwrites
nothing (exit 2 naming the file, nothing written)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from projects import clean_env, cli, hiding


def test_the_starter_project_builds_and_its_test_passes(tmp_path):
    r = cli("init", "proj", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    root = tmp_path / "proj"
    assert r.stdout == ("wrote a starter project in proj: AssetFile, data/words.txt, .gitignore, tests/test_assets.py\n"
                        "next: cd proj && assetbuild && python -m pytest tests\n")
    assert [ln for ln in (root / ".gitignore").read_text().splitlines() if not ln.startswith("#")] == [
        ".assetbuild/", "build/", "__pycache__/"]
    b = cli("build", cwd=root)
    assert b.returncode == 0, b.stderr
    assert "2 built" in b.stdout
    assert json.loads((root / "build" / "top.json").read_text()) == [["the", 4], ["dog", 2], ["fox", 2]]
    assert "fresh   top" in cli("status", cwd=root).stdout
    t = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=root,
                       capture_output=True, text=True, env=clean_env(), timeout=120)
    assert t.returncode == 0 and "2 passed" in t.stdout, t.stdout + t.stderr
    # git sees the starter files only: what the build and the test wrote is ignored
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the .gitignore is not checked against it")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, timeout=60)
    seen = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, capture_output=True,
                          text=True, check=True, timeout=60).stdout
    assert sorted(ln[3:] for ln in seen.splitlines()) == [".gitignore", "AssetFile", "data/words.txt",
                                                          "tests/test_assets.py"]


def test_init_overwrites_nothing(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "words.txt").write_text("mine\n")
    r = cli("init", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == ("assetbuild: error: data/words.txt exists: assetbuild init writes "
                        "a new project and overwrites nothing\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing written
    assert (tmp_path / "data" / "words.txt").read_text() == "mine\n"
    r = cli("init", cwd=tmp_path / "data")  # none of its files there: a project inside data/
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("next: assetbuild && python -m pytest tests\n")


@pytest.mark.parametrize("args, shown", [(["-C", "work", "init", "myproj"], "work/myproj"),
                                          (["init", "myproj", "-C", "work"], "work/myproj"),
                                          (["-C", "work", "init"], "work"),
                                          (["-C", "work/sub", "init", "../p"], "work/sub/../p")])
def test_with_C_it_says_where_the_project_is_from_where_the_user_is(tmp_path, args, shown):
    """-C DIR init NEW writes DIR/NEW (as if started in DIR), and said `cd NEW`: there is none."""
    (tmp_path / "work" / "sub").mkdir(parents=True)
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"wrote a starter project in {shown}: AssetFile, data/words.txt, .gitignore, "
                        f"tests/test_assets.py\nnext: cd {shown} && assetbuild && python -m pytest tests\n")
    assert (tmp_path / shown / "AssetFile").is_file()


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_file_where_init_needs_a_directory_is_one_line_and_nothing_is_written(tmp_path):
    (tmp_path / "f").write_text("mine\n")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "tests").write_text("mine\n")  # where tests/test_assets.py goes
    (tmp_path / "q" / "AssetFile").mkdir(parents=True)  # a directory where a file goes
    before = _tree(tmp_path)
    for target, message in (
            ("f/sub", "f exists and is not a directory, so f/sub/AssetFile cannot be written"),
            ("p", "p/tests exists and is not a directory, so p/tests/test_assets.py cannot be written"),
            ("q", "q/AssetFile exists")):
        r = cli("init", target, cwd=tmp_path)
        assert (r.returncode, r.stdout) == (2, "")
        assert r.stderr == f"assetbuild: error: {message}: assetbuild init writes a new project and overwrites nothing\n"
    assert _tree(tmp_path) == before  # nothing written, none of the files init checks first


def test_an_error_while_writing_removes_what_init_wrote(tmp_path):
    """A path the system refuses half-way (longer than PATH_MAX from data/words.txt on, after
    the directories and the AssetFile are made): one line naming it, nothing left behind."""
    room = os.pathconf(tmp_path, "PC_PATH_MAX") - 1 - len("/AssetFile")  # the longest the AssetFile's may be
    parts, left = [], room - 2
    while left > 0:  # components of 200 characters at most (NAME_MAX)
        parts.append("d" * min(200, left))
        left -= len(parts[-1]) + 1
    target = "/".join(parts)
    r = cli("init", target, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"assetbuild: error: cannot write {target}/data/words.txt: File name too long\n"
    assert _tree(tmp_path) == []


def test_f_names_the_assetfile_and_the_project_works_with_it(tmp_path):
    """-f NAME (before or after the command name): init writes NAME, which the starter's
    docstring, its test and the next step name too; -C DIR -f NAME builds it."""
    for args, target in ((["init", "-f", "Pipeline", "p"], "p"), (["-f", "Pipeline", "init", "q"], "q")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == (f"wrote a starter project in {target}: Pipeline, data/words.txt, .gitignore, "
                            f"tests/test_assets.py\nnext: cd {target} && assetbuild -f Pipeline && python -m pytest tests\n")
        assert sorted(os.listdir(tmp_path / target)) == [".gitignore", "Pipeline", "data", "tests"]
    assert "Run `assetbuild -f Pipeline` here" in (tmp_path / "p" / "Pipeline").read_text()
    b = cli("-C", "p", "-f", "Pipeline", cwd=tmp_path)
    assert b.returncode == 0 and "2 built" in b.stdout, b.stderr
    t = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=tmp_path / "p",
                       capture_output=True, text=True, env=clean_env(), timeout=120)
    assert t.returncode == 0 and "2 passed" in t.stdout, t.stdout + t.stderr


@pytest.mark.parametrize("name, message", [
    ("sub/Pipeline", "-f sub/Pipeline: init writes the AssetFile in DIR, so -f takes a file name, not a path "
                     "(init -f NAME DIR)"),
    ("data", "-f data: init writes data itself (the starter files are AssetFile, data/words.txt, .gitignore, "
             "tests/test_assets.py)"),
    (".gitignore", "-f .gitignore: init writes .gitignore itself (the starter files are AssetFile, "
                   "data/words.txt, .gitignore, tests/test_assets.py)")])
def test_f_that_is_no_file_name_of_its_own_is_refused(tmp_path, name, message):
    r = cli("init", "-f", name, "p", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"assetbuild: error: {message}\n")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args", [["init", "-q", "p"], ["-q", "init", "p"]])
def test_q_prints_nothing(tmp_path, args):
    r = cli(*args, cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert (tmp_path / "p" / "AssetFile").is_file()


def test_init_makes_no_cache_so_takes_no_cache_dir(tmp_path):
    """It makes no cache: --cache-dir is not an option of it, before its name or after (refused
    in one line, as every option a command has not is), and ASSETBUILD_CACHE_DIR, which concerns
    the commands that follow, makes nothing."""
    r = cli("--cache-dir", "c1", "init", "p", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == ("assetbuild: error: --cache-dir: assetbuild init has no "
                                              "--cache-dir option; leave it out\n"), r.stderr
    assert os.listdir(tmp_path) == []
    r = cli("init", "p", cwd=tmp_path, env=clean_env(ASSETBUILD_CACHE_DIR=str(tmp_path / "c2")))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path)) == ["p"] and not (tmp_path / "p" / ".assetbuild").exists()
    r = cli("init", "--cache-dir", "c1", "q", cwd=tmp_path)
    assert r.returncode == 2 and "No such option '--cache-dir'" in r.stderr
    helped = cli("init", "--help", cwd=tmp_path).stdout
    assert "--cache-dir" not in helped and "-f, --file NAME" in helped and "-q, --quiet" in helped


def test_the_next_step_installs_pytest_where_there_is_none(tmp_path):
    """assetbuild does not install pytest (its test extra does): where this interpreter has
    none, the step init prints installs it first, so it works as printed."""
    env = clean_env(PYTHONPATH=hiding(tmp_path / "hide", "pytest"))
    r = cli("init", "p", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "next: cd p && assetbuild && pip install pytest && python -m pytest tests"
