"""Watch mode and code that changes under it: new modules, saves while a load or a build reads the
code, symlinked code files. Each case left an output stale while watch sat idle (``status``, or a
fresh build, said otherwise) until some unrelated save.

As in test_watch.py: ``session.watch`` in a thread with a real watchdog observer. Saves that must
land while a load or a build runs wait for a marker the project's code writes, and the code waits
for the test's ``go`` file: no timing guesses. Code saves here are in-place writes where an
atomic save (a new file renamed over the old one) would count as a new module anyway.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_watch import Watching, built, edit

from assetbuild.watch import ChangeFilter, WatchSet

TIMEOUT = 60  # a loaded 2-core machine: a cycle that comes, comes well before this


def gate(marker: str) -> str:
    """Code that writes ``marker`` in the project directory, then waits for its ``go`` file."""
    return f"""import pathlib, time
_root = pathlib.Path(__file__).resolve().parent.parent
(_root / {marker!r}).write_text("")
_end = time.monotonic() + {TIMEOUT}
while not (_root / "go").exists() and time.monotonic() < _end:
    time.sleep(0.01)
"""


def wait_for_file(path: Path, w: Watching) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert w.error is None, w.error
        assert time.monotonic() < deadline, f"{path.name} never appeared; cycles: {w.cycles}"
        time.sleep(0.01)


def wait_until_built(w: Watching, asset: str, n: int) -> list:
    """Wait for a cycle after the first ``n`` that built ``asset``; all cycles after ``n``."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        later = w.cycles[n:]
        if any(c.result is not None and asset in c.result.names("built") for c in later):
            return later
        w.wait(len(w.cycles) + 1, timeout=max(deadline - time.monotonic(), 0.01))


def write_in_place(path: Path, text: str) -> None:
    with open(path, "r+") as f:
        f.write(text)
        f.truncate()


# --- a new module ---------------------------------------------------------------------------------

def test_a_module_created_after_an_import_failed_rebuilds(project):
    """An asset whose module does not exist yet fails with ImportError, and one with an optional
    import takes its fallback; neither is an AssetFile that fails to load."""
    project.write("lib/__init__.py", "")
    project.assetfile("""
@asset(io="text")
def a():
    from lib import newmod
    return newmod.f()

@asset(io="text")
def b():
    try:
        from lib import optional
    except ImportError:
        return "fallback"
    return optional.g()
""")
    with Watching(project.root) as w:
        r = w.cycles[0].result
        assert r.names("failed") == ["a"] and project.value("b") == "fallback"
        n = len(w.cycles)
        (project.root / "lib/newmod.py").write_text("def f():\n    return 'new'\n")
        wait_until_built(w, "a", n)
        n = len(w.cycles)
        (project.root / "lib/optional.py").write_text("def g():\n    return 'optional'\n")
        wait_until_built(w, "b", n)
    assert project.value("a") == "new" and project.value("b") == "optional"


@pytest.mark.parametrize("broken", ["import not_installed_xyz\n", "def fast(:\n"], ids=["import-error", "syntax-error"])
def test_an_in_place_fix_of_a_module_whose_optional_import_failed_rebuilds(project, broken):
    """lib/opt.py is there but does not import: a module whose import failed is in no
    sys.modules, so its file was not watched, and its fix (a save in place: no new file) went
    unseen. Its readers are the load's, whose fallback the assets took."""
    project.write("lib/__init__.py", "")
    project.write("lib/opt.py", broken + "def fast():\n    return 1\n")
    project.assetfile("""
try:
    from lib.opt import fast
except (ImportError, SyntaxError):
    fast = None

@asset(io="text")
def a():
    return "fast" if fast else "fallback"
""")
    with Watching(project.root) as w:
        assert project.value("a") == "fallback"
        n = len(w.cycles)
        write_in_place(project.root / "lib/opt.py", "def fast():\n    return 1\n")
        later = wait_until_built(w, "a", n)
        assert later[-1].changed == ("lib/opt.py",)
    assert project.value("a") == "fast"


def test_a_new_package_that_shadows_a_module_rebuilds(project):
    """lib/helpers/__init__.py beside lib/helpers.py: the package wins on import."""
    project.write("lib/__init__.py", "")
    project.write("lib/helpers.py", "def f():\n    return 'module'\n")
    project.assetfile("""
from lib.helpers import f

@asset(io="text")
def a():
    return f()
""")
    with Watching(project.root) as w:
        n = len(w.cycles)
        (project.root / "lib/helpers").mkdir()
        (project.root / "lib/helpers/__init__.py").write_text("def f():\n    return 'package'\n")
        later = wait_until_built(w, "a", n)
        assert "lib/helpers/__init__.py" in later[-1].changed
    assert project.value("a") == "package"


def test_which_new_files_count(tmp_path):
    """Any new .py file in the project may be a module an import looks for; other new files,
    and .py files where no import looks or that a build writes (``outputs=``), do not count."""
    root = tmp_path / "p"
    f = ChangeFilter(root, root / ".assetbuild", WatchSet(code_files=frozenset({f"{root}/AssetFile"}),
                                                          outputs=frozenset({f"{root}/gen", f"{root}/out.py"})))
    new_modules = [f"{root}/colorsys.py", f"{root}/lib/helpers/__init__.py", f"{root}/src/pkg/new.py"]
    assert [p for p in new_modules if not f.counts(p, created=True)] == []
    never = [f"{root}/lib/__pycache__/x.py", f"{root}/.git/x.py", f"{root}/.venv/lib/site-packages/x.py",
             f"{root}/.assetbuild/x.py", f"{root}/lib/.x.py.swp", f"{root}/lib/x.py~", f"{root}/lib/.x.py.tmp",
             f"{root}/notes.txt", f"{tmp_path}/elsewhere/x.py", f"{root}/gen/deep/made.py", f"{root}/out.py"]
    assert [p for p in never if f.counts(p, created=True)] == []
    assert not f.counts(f"{root}/lib/old.py")  # an edit of a module no import reached
    assert not f.counts(f"{root}/lib/new.py", is_directory=True, created=True)


# --- saved while a load or a build reads the code -----------------------------------------------

def test_a_module_imported_inside_a_function_saved_during_a_build(project):
    """Each load's watch set lacks the modules that only fingerprinting reads (imported inside
    a function) until its build ends: a save of one while the build ran was thrown away."""
    project.write("lib/__init__.py", "")
    project.write("lib/inner.py", "def f():\n    return 'v1'\n")
    project.write("lib/slow.py", "def wait():\n" + "".join(f"    {line}\n" for line in gate("started").splitlines()))
    project.write("data/in.txt", "0")
    project.assetfile("""
raw = source("raw", "data/in.txt")

@asset(io="text")
def a():
    from lib import inner
    return inner.f()

@asset(io="text")
def slow(raw):
    from lib.slow import wait
    if raw.read_text() == "1":
        wait()
    return raw.read_text()
""")
    with Watching(project.root) as w:
        assert sorted(built(w.cycles[0])) == ["a", "slow"]
        n = len(w.cycles)
        edit(project.root / "data/in.txt", "1")
        wait_for_file(project.root / "started", w)
        write_in_place(project.root / "lib/inner.py", "def f():\n    return 'v2'\n")
        (project.root / "go").write_text("")
        later = wait_until_built(w, "a", n)
        assert later[0].changed == ("data/in.txt",) and "lib/inner.py" in later[-1].changed
    assert project.value("a") == "v2"


def test_the_assetfile_saved_during_the_first_load(project):
    """The watcher knew no code file until the first load ended, and the AssetFile has no .py
    suffix: a save of it during that load (a slow import: think pandas) was thrown away."""
    project.write("lib/__init__.py", "")
    project.write("lib/slow.py", gate("loading"))
    project.assetfile("""
import lib.slow

@asset(io="text")
def a():
    return "V1"
""")
    af = project.root / "AssetFile"
    w = Watching(project.root)
    w.thread.start()
    try:
        wait_for_file(project.root / "loading", w)
        write_in_place(af, af.read_text().replace("V1", "V2"))
        (project.root / "go").write_text("")
        wait_until_built(w, "a", 1)
    finally:
        w.__exit__(None, None, None)
    assert project.value("a") == "V2"


def test_a_module_a_reload_newly_imports_saved_during_the_reload(project):
    """The edited AssetFile imports lib/new.py, which the previous load did not: a save of it
    while the reload runs was judged against the previous load's watch set, and thrown away."""
    project.write("lib/__init__.py", "")
    project.write("lib/new.py", "def f():\n    return 'v1'\n")
    project.write("lib/slow.py", gate("loading"))
    project.assetfile("""
@asset(io="text")
def a():
    return "plain"
""")
    with Watching(project.root) as w:
        n = len(w.cycles)
        edit(project.root / "AssetFile", """from assetbuild import asset
from lib.new import f
import lib.slow

@asset(io="text")
def a():
    return f()
""")
        wait_for_file(project.root / "loading", w)
        write_in_place(project.root / "lib/new.py", "def f():\n    return 'v2'\n")
        (project.root / "go").write_text("")
        later = wait_until_built(w, "a", n)
        w.wait(n + 2, timeout=TIMEOUT)
        assert "lib/new.py" in w.cycles[n + 1].changed, later
    assert project.value("a") == "v2"


# --- symlinks -------------------------------------------------------------------------------------

def test_symlinked_code_files_are_watched_through_their_targets(tmp_path, project):
    """An edit through a link changes its target, and the event names the target: the AssetFile
    and a module linked to files in the project, and a module linked to one outside it."""
    outside = tmp_path / "elsewhere" / "far_real.py"
    edit(outside, "def g():\n    return 'far1'\n")
    project.write("conf/pipeline", """
from assetbuild import asset
from lib.near import f
from lib.far import g

@asset(io="text")
def a():
    return f() + g() + "V1"
""")
    project.write("shared/near_real.py", "def f():\n    return 'near1'\n")
    project.write("lib/__init__.py", "")
    os.symlink("conf/pipeline", project.root / "AssetFile")
    os.symlink("../shared/near_real.py", project.root / "lib/near.py")
    os.symlink(outside, project.root / "lib/far.py")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["a"]
        for target, old, new in [(project.root / "conf/pipeline", "V1", "V2"),
                                 (project.root / "shared/near_real.py", "near1", "near2"),
                                 (outside, "far1", "far2")]:
            n = len(w.cycles)
            write_in_place(target, target.read_text().replace(old, new))
            later = wait_until_built(w, "a", n)
            assert any(str(target).endswith(p) for c in later for p in c.changed), later
    assert project.value("a") == "near2far2V2"


def test_re_pointing_a_link_in_the_middle_of_a_code_file_s_symlink_chain_rebuilds(project):
    """helper.py -> current/helper.py, current -> v1: re-pointing ``current`` to v2 changes the
    code, and the event names ``current``, neither helper.py nor the old target."""
    for v in ("v1", "v2"):
        project.write(f"{v}/helper.py", f"def f():\n    return {v!r}\n")
    os.symlink("v1", project.root / "current")
    os.symlink("current/helper.py", project.root / "helper.py")
    project.assetfile("""
from helper import f

@asset(io="text")
def a():
    return f()
""")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["a"]
        n = len(w.cycles)
        os.symlink("v2", project.root / ".current.new")
        os.replace(project.root / ".current.new", project.root / "current")
        c = w.wait(n + 1, timeout=20)[-1]
        assert c.changed == ("current",) and built(c) == ["a"]
    assert project.value("a") == "v2"
