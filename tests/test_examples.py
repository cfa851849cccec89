"""The examples are tests: each ``examples/*/AssetFile`` builds from a fresh copy, and its second
build runs nothing. Each README lists edits and what they rebuild. The behavioural tests below make
those edits and check that exactly those assets rebuild.

Builds always run on a copy in ``tmp_path``, never inside the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import assetbuild
from assetbuild.compiled import beside_file

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
# An example that needs more than a copy of itself (libraries, generated data, a server) has a
# test file of its own, tests/test_example_<name>.py, that builds it twice and checks its table.
TESTS_DIR = Path(__file__).resolve().parent
EXAMPLES = sorted(p.parent.name for p in EXAMPLES_DIR.glob("*/AssetFile")
                  if not (TESTS_DIR / f"test_example_{p.parent.name}.py").exists())


# --- helpers -------------------------------------------------------------------------------------

def forget_modules_under(root: Path) -> None:
    """Drop imported modules whose files live under ``root`` (the project copies of one test).

    A fresh process starts with none of them. test_example_etl's
    test_two_copies_of_the_project_in_one_process shows what happens when another copy's modules
    stay in ``sys.modules``.
    """
    prefix = os.path.join(str(root), "")
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f and f.startswith(prefix):
            del sys.modules[name]


@pytest.fixture(autouse=True)
def _own_project_modules(tmp_path: Path):
    yield
    forget_modules_under(tmp_path)


def copy_example(name: str, dest: Path) -> Path:
    """A copy of ``examples/<name>`` at ``dest/<name>``, without caches or outputs of past runs."""
    project = dest / name
    shutil.copytree(EXAMPLES_DIR / name, project,
                    ignore=shutil.ignore_patterns(".assetbuild", "build", "__pycache__", "*.pyc"))
    return project


def build(project: Path, **kwargs) -> assetbuild.BuildResult:
    """Build with the Python API and a cache beside the project (inside the test's tmp_path)."""
    cache = project.parent / f"{project.name}-cache"
    return assetbuild.build(project_dir=project, cache_dir=cache, **kwargs)


def failures(result: assetbuild.BuildResult) -> str:
    return "\n".join(f"{r.asset}: {r.status}: {r.error}\n{r.traceback or ''}"
                     for r in result.results if r.status in ("failed", "skipped"))


def only_built(result: assetbuild.BuildResult, built: set[str],
               restored: set[str] = frozenset()) -> None:
    """Exactly ``built`` ran, ``restored`` took back a stored value (and their files, if any),
    all others were cached."""
    assert result.ok, failures(result)
    st = result.by_asset()
    assert {a for a, s in st.items() if s == "built"} == built, st
    assert {a for a, s in st.items() if s == "restored"} == restored, st
    assert {a for a, s in st.items() if s == "cached"} == set(st) - built - restored, st


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def outputs(project: Path) -> dict[str, bytes]:
    build_dir = project / "build"
    return {p.relative_to(build_dir).as_posix(): p.read_bytes()
            for p in sorted(build_dir.rglob("*")) if p.is_file()}


def assert_same_as_clean_build(project: Path, tmp_path: Path) -> None:
    """The files of an incremental build equal those of a from-scratch build of the same tree."""
    clean = tmp_path / "clean" / project.name
    shutil.copytree(project, clean,
                    ignore=shutil.ignore_patterns(".assetbuild", "build", "__pycache__"))
    forget_modules_under(project)  # as a separate process would (see forget_modules_under)
    result = build(clean)
    assert result.ok, failures(result)
    forget_modules_under(clean)
    assert outputs(clean) == outputs(project)


def text_of(project: Path, output: str) -> str:
    return (project / "build" / output).read_text(encoding="utf-8")


# --- every example -------------------------------------------------------------------------------

def test_there_are_examples():
    assert "site" in EXAMPLES
    # The others need libraries or servers: each has its own test file.
    assert all((TESTS_DIR / f"test_example_{name}.py").exists() for name in ("etl", "ml", "api"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_has_a_readme_that_says_how_to_run_it(name):
    readme = EXAMPLES_DIR / name / "README.md"
    assert readme.is_file()
    assert f"assetbuild -C examples/{name}" in readme.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_builds_and_second_build_runs_nothing(name, tmp_path):
    project = copy_example(name, tmp_path)
    first = build(project)
    assert first.ok, failures(first)
    assert first.results, "the example declares no assets"
    assert first.names("built") == [r.asset for r in first.results]  # a fresh cache: all run
    produced = outputs(project)
    assert produced, "the example writes no file under build/"

    second = build(project)
    assert second.ok, failures(second)
    assert [r.asset for r in second.results] == [r.asset for r in first.results]
    assert all(r.status == "cached" for r in second.results), second.by_asset()
    assert outputs(project) == produced


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_with_the_cli(name, tmp_path):
    """The real command, in a child that may write bytecode and buffers its output as usual."""
    project = copy_example(name, tmp_path)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "ASSETBUILD_CACHE_DIR")}
    cmd = [sys.executable, "-m", "assetbuild", "-C", str(project)]

    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"^[1-9]\d* built, 0 cached, 0 restored, 0 failed, 0 skipped",
                     first.stdout, re.M), first.stdout + first.stderr
    assert (project / ".assetbuild").is_dir()  # -C: the cache is in the project, not in the cwd
    assert not (tmp_path / ".assetbuild").exists()
    assert outputs(project)

    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"^0 built, [1-9]\d* cached, 0 restored, 0 failed, 0 skipped",
                     second.stdout, re.M), second.stdout + second.stderr
    assert "warning" not in first.stderr + second.stderr

    # Project modules are compiled from source, never through .pyc files (loader.py); only the
    # compiled AssetFile is kept beside it (compiled.beside_file).
    assert not list(project.rglob("*.pyc"))
    assert [p.name for p in project.rglob("__pycache__/*")] == [beside_file(project / "AssetFile").name]


# --- site ----------------------------------------------------------------------------------------

PAGES = {"page/about", "page/calibration", "page/equipment", "page/field_notes",
         "page/getting_started"}


@pytest.fixture
def site(tmp_path) -> Path:
    project = copy_example("site", tmp_path)
    result = build(project)
    assert result.ok, failures(result)
    assert set(result.names("built")) == PAGES | {"page_list", "index", "sitemap", "stylesheet"}
    return project


def test_site_body_edit_rebuilds_that_page_and_not_the_index(site):
    index_before = text_of(site, "index.html")
    edit(site / "content" / "field-notes.md", "Two readings stood out this quarter.",
         "Two readings stood out this quarter; both were checked by hand.")
    # page_list reads the whole content/ directory, so it runs, and returns the same titles:
    # index and sitemap are not run (early cutoff), and neither are the other pages.
    only_built(build(site), {"page/field_notes", "page_list"})
    assert "both were checked by hand" in text_of(site, "field-notes.html")
    assert text_of(site, "index.html") == index_before


def test_site_title_edit_rebuilds_that_page_and_the_index(site, tmp_path):
    edit(site / "content" / "equipment.md", "title: Equipment list", "title: Equipment checklist")
    only_built(build(site), {"page/equipment", "page_list", "index", "sitemap"})
    assert "Equipment checklist" in text_of(site, "index.html")
    assert "<h1>Equipment checklist</h1>" in text_of(site, "equipment.html")
    assert_same_as_clean_build(site, tmp_path)


def test_site_template_edits(site):
    edit(site / "templates" / "page.html", "min read", "minute read")
    only_built(build(site), PAGES)
    edit(site / "templates" / "index.html", "<p>Notes and procedures", "<p>Notes, procedures")
    only_built(build(site), {"index"})


def test_site_new_page_adds_an_asset_and_removing_it_goes_back(site):
    new = site / "content" / "rain-gauges.md"
    new.write_text("---\ntitle: Rain gauges\ndate: 2024-03-25\nsummary: Empty them daily.\n---\n"
                   "Empty the gauge at **09:00** every day, even when it looks dry.\n",
                   encoding="utf-8")
    only_built(build(site), {"page/rain_gauges", "page_list", "index", "sitemap"})
    assert "<strong>09:00</strong>" in text_of(site, "rain-gauges.html")
    assert 'href="rain-gauges.html"' in text_of(site, "index.html")

    new.unlink()
    result = build(site)
    assert "page/rain_gauges" not in result.by_asset()
    # The five-page list, index and sitemap are still in the cache: restored, not rebuilt (the
    # list as the latest value again, the index and sitemap written back to their files too).
    only_built(result, set(), restored={"page_list", "index", "sitemap"})
    assert 'href="rain-gauges.html"' not in text_of(site, "index.html")


def test_site_converter_edits(site):
    markdown = site / "sitegen" / "markdown.py"
    edit(markdown, '    return "\\n".join(out)\n', '    return "\\n".join(out)  # blocks\n')
    only_built(build(site), set())  # a comment is not code
    edit(markdown, 'r"<em>\\1</em>"', 'r"<i>\\1</i>"')
    only_built(build(site), PAGES)  # every page calls to_html, which calls inline
    assert "<i>−50 °C to 50 °C</i>" in text_of(site, "calibration.html")


def test_site_stylesheet_comment_edit_keeps_the_bytes(site):
    css = text_of(site, "style.css")
    edit(site / "static" / "style.css", "/* Field Station", "/* The Field Station")
    only_built(build(site), {"stylesheet"})
    assert text_of(site, "style.css") == css


def test_site_pages_record_metadata(tmp_path):
    project = copy_example("site", tmp_path)
    result = build(project)
    assert result.ok, failures(result)
    meta = {r.asset: r.metadata for r in result.results}
    assert meta["page/calibration"] == {"title": "Calibrating a thermometer", "minutes": 1}
