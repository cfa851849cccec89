"""The first build of an ``outputs=`` directory: the files it already holds that the asset does
not write are the user's (a gh-pages worktree's notes): the asset fails, nothing deleted; its
``.git`` is never the asset's. Files of the asset's kept by ``clean --keep-outputs`` are not."""

from __future__ import annotations

from pathlib import Path

from projects import clean_env, cli

SITE = """
from assetbuild import asset, source
inp = source("inp", "data/in.txt")

@asset(outputs=["site/"])
def {name}(inp, context):
    (context.out("site/") / "index.html").write_text("<p>" + inp.read_text())
"""


def _project(root: Path, name: str = "site") -> None:
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "in.txt").write_text("hi\n")
    (root / "AssetFile").write_text(SITE.format(name=name))


def test_the_first_build_of_a_directory_holding_the_users_files_is_refused_and_deletes_nothing(tmp_path: Path) -> None:
    """It deleted NOTES.md and the whole .git, silently; ``-n`` said only "would run"."""
    _project(tmp_path)
    (tmp_path / "site" / ".git").mkdir(parents=True)
    (tmp_path / "site" / ".git" / "HEAD").write_text("ref: refs/heads/gh-pages\n")
    (tmp_path / "site" / "NOTES.md").write_text("my notes\n")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("site: cannot write its output site: it already holds files assetbuild has no record of writing "
            "(site/NOTES.md), which a build would remove; ") in r.stdout + r.stderr, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == [".git", "NOTES.md"]
    (tmp_path / "site" / "NOTES.md").rename(tmp_path / "NOTES.md")  # a worktree holding only its .git builds
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    (tmp_path / "site" / "stray.txt").write_text("x")  # the asset's directory now: extras go, .git stays
    (tmp_path / "data" / "in.txt").write_text("changed\n")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == [".git", "index.html"]
    assert (tmp_path / "site" / ".git" / "HEAD").read_text() == "ref: refs/heads/gh-pages\n"
    r = cli("build", cwd=tmp_path, env=clean_env())  # the .git is no extra: nothing to restore
    assert r.returncode == 0 and "0 built, 1 cached, 0 restored" in r.stdout, r.stdout + r.stderr


def test_a_file_where_the_directory_goes_is_refused_on_the_first_build(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / "site").write_text("mine\n")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 1, r.stdout + r.stderr
    assert "it already holds files assetbuild has no record of writing (site)" in r.stdout + r.stderr, r.stdout + r.stderr
    assert (tmp_path / "site").read_text() == "mine\n"


def test_a_renamed_asset_owns_the_directory_its_old_name_built(tmp_path: Path) -> None:
    _project(tmp_path)
    assert cli("build", cwd=tmp_path, env=clean_env()).returncode == 0
    (tmp_path / "AssetFile").write_text(SITE.format(name="website"))
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["index.html"]


def test_the_files_clean_keep_outputs_kept_are_written_over_and_the_rest_refused(tmp_path: Path) -> None:
    """With the cache gone (``clean --keep-outputs``, a fresh cache), the next build writes over
    the asset's files; a file it does not write still stops it."""
    _project(tmp_path)
    assert cli("build", cwd=tmp_path, env=clean_env()).returncode == 0
    assert cli("clean", "--keep-outputs", "--yes", cwd=tmp_path, env=clean_env()).returncode == 0
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert cli("clean", "--keep-outputs", "--yes", cwd=tmp_path, env=clean_env()).returncode == 0
    (tmp_path / "site" / "mine.txt").write_text("mine")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 1 and "(site/mine.txt)" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "forgotten by `clean --keep-outputs`" in r.stdout + r.stderr, r.stdout + r.stderr  # (not "did not write")
    assert (tmp_path / "site" / "mine.txt").read_text() == "mine"


MANY = """
from assetbuild import asset, source
inp = source("inp", "data/in.txt")

@asset(outputs=["site/"])
def site(inp, context):
    for name in inp.read_text().split():
        (context.out("site/") / (name + ".html")).write_text("<p>" + name)
"""


def test_a_moved_project_sharing_the_cache_owns_the_files_its_earlier_builds_wrote(tmp_path: Path) -> None:
    """A project moved (a new identity in a shared cache), or a second checkout of it: the files
    an earlier build wrote that this one does not were 'files assetbuild did not write', and the
    asset failed; their bytes are in the cache, so they are the asset's and go. A file of the
    user's (and an empty one, which no content tells apart) still stops the first build."""
    env = {**clean_env(), "ASSETBUILD_CACHE_DIR": str(tmp_path / "cache")}
    first = tmp_path / "first"
    first.mkdir()
    (first / "AssetFile").write_text(MANY)
    (first / "data").mkdir()
    (first / "data" / "in.txt").write_text("a b c")
    assert cli("build", cwd=first, env=env).returncode == 0
    moved = tmp_path / "moved"
    first.rename(moved)
    (moved / "data" / "in.txt").write_text("a b")
    r = cli("build", cwd=moved, env=env)
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert sorted(p.name for p in (moved / "site").iterdir()) == ["a.html", "b.html"]
    (moved / "site" / "NOTES.md").write_text("mine\n")
    (moved / "site" / ".nojekyll").write_text("")
    (moved / "data" / "in.txt").write_text("a")
    other = tmp_path / "other"
    moved.rename(other)
    r = cli("build", cwd=other, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "(site/.nojekyll, site/NOTES.md)" in r.stdout + r.stderr, r.stdout + r.stderr
    assert sorted(p.name for p in (other / "site").iterdir()) == [".nojekyll", "NOTES.md", "a.html", "b.html"]


PAGES = """
from assetbuild import asset, source
ver = source("ver", "ver.txt")

@asset(outputs=["site/"])
def site(context, ver):
    d = context.out("site/")
    d.mkdir(parents=True, exist_ok=True)
    v = ver.read_text().strip()
    (d / "index.html").write_text("<p>" + v)
    (d / f"page-{v}.html").write_text("page " + v)
"""


def test_a_first_build_killed_after_placing_its_files_leaves_them_the_assets(tmp_path: Path) -> None:
    """Killed (SIGKILL, the OOM killer) after placing its files, before its record committed,
    the first build left site/page-1.html, whose small bytes were in the batch the kill lost:
    the next build, writing page-2.html instead, refused the folder ('it already holds files
    assetbuild did not write (site/page-1.html)') until the user moved the file away."""
    (tmp_path / "AssetFile").write_text(PAGES)
    (tmp_path / "ver.txt").write_text("1")
    for n in range(1, 4):  # the first index commit after the files are placed
        r = cli("build", cwd=tmp_path, env=clean_env(ASSETBUILD_CRASH_AT=f"store-commit:{n}"))
        assert r.returncode == -9, r.stdout + r.stderr
        if (tmp_path / "site" / "page-1.html").exists():
            break
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["index.html", "page-1.html"]
    (tmp_path / "ver.txt").write_text("2")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["index.html", "page-2.html"]
    (tmp_path / "site" / "NOTES.md").write_text("mine\n")  # the asset's folder now: an extra, as ever
    (tmp_path / "ver.txt").write_text("3")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["index.html", "page-3.html"]
