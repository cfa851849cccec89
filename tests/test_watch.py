"""Watch mode through the Python API: a real watchdog observer on temporary projects.

Each test runs ``assetbuild.session.watch`` in a thread, edits files the way users and editors do,
and waits (with a timeout) for the watch cycles it expects.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from pathlib import Path

import pytest

import assetbuild
from assetbuild import session
from assetbuild.errors import DefinitionError
from assetbuild.output import Reporter
from assetbuild.reports import AssetResult, BuildResult, WatchCycle
from assetbuild.watch import ChangeFilter, WatchSet

DEBOUNCE_MS = 30

CHAIN = """
raw = source("raw", "data/in.txt")

@asset(io="text")
def upper(raw):
    return raw.read_text().upper()

@asset(io="text", path="out/final.txt")
def final(upper):
    return upper + "!"
"""


class Watching:
    """``session.watch`` running in a thread; ``cycles`` grows as builds finish."""

    def __init__(self, root: Path, *assets: str, debounce_ms: float = DEBOUNCE_MS, **kw) -> None:
        self.root = root
        self.cycles: list[WatchCycle] = []
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.out, self.err = io.StringIO(), io.StringIO()
        self.summary = None
        self.error: BaseException | None = None
        rep = Reporter(out=self.out, err=self.err, verbosity=0, live=False)

        def on_cycle(c: WatchCycle) -> None:
            with self.cond:
                self.cycles.append(c)
                self.cond.notify_all()

        def run() -> None:
            try:
                self.summary = session.watch(assets, project_dir=root, debounce_ms=debounce_ms, reporter=rep,
                                             stop=self.stop, on_cycle=on_cycle, **kw)
            except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
                self.error = e
            with self.cond:
                self.cond.notify_all()

        self.thread = threading.Thread(target=run, daemon=True)

    def __enter__(self) -> Watching:
        self.thread.start()
        self.wait(1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the watch loop did not stop"
        if self.error is not None and exc[0] is None:
            raise self.error

    def wait(self, n: int, timeout: float = 15) -> list[WatchCycle]:
        """Wait until ``n`` cycles in all have finished; return them all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.cycles) < n:
                if self.error is not None:
                    raise self.error
                left = deadline - time.monotonic()
                assert left > 0, f"expected {n} cycles, got {len(self.cycles)}: {self.cycles}"
                self.cond.wait(left)
            return list(self.cycles)

    def settle(self, quiet_s: float = 0.5) -> int:
        """Wait until no cycle finished for ``quiet_s``; the number of cycles so far."""
        while True:
            n = len(self.cycles)
            time.sleep(quiet_s)
            if len(self.cycles) == n:
                return n


def built(c: WatchCycle) -> list[str]:
    assert c.error is None, c.error
    assert c.result is not None
    return c.result.names("built")


def ran(c: WatchCycle) -> list[str]:
    assert c.result is not None, c.error
    return [r.asset for r in c.result.results if r.status != "cached"]


def edit(path: Path, text: str) -> None:
    """Save as many editors do, atomically (a temp file renamed over the target), so that a
    loaded machine cannot split one save into two builds (in-place writes: the burst test)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def chain(project):
    project.write("data/in.txt", "hello")
    project.assetfile(CHAIN)
    return project


def test_source_edit_rebuilds_downstream(chain):
    with Watching(chain.root) as w:
        first = w.cycles[0]
        assert first.changed is None and built(first) == ["upper", "final"]
        n = len(w.cycles)
        edit(chain.root / "data/in.txt", "bye")
        c = w.wait(n + 1)[-1]
        assert c.changed == ("data/in.txt",) and built(c) == ["upper", "final"]
        assert (chain.root / "out/final.txt").read_text() == "BYE!"
    assert w.summary.builds == 2 and w.summary.failed == 0 and w.summary.stopped_by == "stop"
    out = w.out.getvalue()
    assert "first build: built upper, final" in out and "data/in.txt changed: built upper, final" in out
    assert "stopped watching (stop) after 2 builds" in out


def test_identical_rewrite_runs_nothing_and_prints_nothing(chain):
    with Watching(chain.root) as w:
        n = len(w.cycles)
        before = w.out.getvalue()
        edit(chain.root / "data/in.txt", "hello")
        c = w.wait(n + 1)[-1]
        assert c.changed == ("data/in.txt",) and ran(c) == []
        assert w.out.getvalue() == before  # quiet when nothing ran
    # ...and not counted: the stop's line counts the builds watch showed
    assert (len(w.cycles), w.summary.builds) == (2, 1)
    assert "after 1 build in" in w.out.getvalue()


def test_edit_of_one_function_runs_it_and_the_downstream_whose_inputs_changed(project):
    project.assetfile("""
@asset(io="json")
def a():
    return 1

@asset(io="json")
def b(a):
    return a + 1

@asset(io="json")
def c(b):
    return b * 10

@asset(io="json")
def other():
    return "x"
""")
    af = project.root / "AssetFile"
    with Watching(project.root) as w:
        assert sorted(built(w.cycles[0])) == ["a", "b", "c", "other"]
        n = len(w.cycles)
        edit(af, af.read_text().replace("return a + 1", "return a + 2"))
        c = w.wait(n + 1)[-1]
        assert c.changed == ("AssetFile",) and built(c) == ["b", "c"]
        n = len(w.cycles)
        edit(af, af.read_text().replace("return a + 2", "return 2 + a"))  # same value: early cutoff
        c = w.wait(n + 1)[-1]
        assert built(c) == ["b"]
    assert project.value("c") == 30


def test_helper_module_edit_rebuilds_its_callers(project):
    project.write("lib/__init__.py", "")
    project.write("lib/text.py", "def shout(s):\n    return s.upper()\n")
    project.assetfile("""
from lib.text import shout

@asset(io="text")
def greeting():
    return shout("hi")

@asset(io="text")
def plain():
    return "hi"
""")
    with Watching(project.root) as w:
        assert sorted(built(w.cycles[0])) == ["greeting", "plain"]
        assert "1 module" in w.out.getvalue() or "2 modules" in w.out.getvalue()
        n = len(w.cycles)
        edit(project.root / "lib/text.py", "def shout(s):\n    return s.upper() + '!'\n")
        c = w.wait(n + 1)[-1]
        assert c.changed == ("lib/text.py",) and built(c) == ["greeting"]
    assert project.value("greeting") == "HI!"


def test_a_pyproject_edit_that_changes_params_rebuilds(project):
    """[tool.assetbuild.params.X] enters X's key, and watch did not watch pyproject.toml: an edit
    left X stale (status: params-changed) until something else was saved."""
    project.write("pyproject.toml", "[tool.assetbuild.params.big]\nthreshold = 5\n")
    project.assetfile("""
@asset(io="json", params={"threshold": 3})
def big(context):
    return context.params["threshold"]
""")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["big"]
        n = len(w.cycles)
        edit(project.root / "pyproject.toml", "[tool.assetbuild.params.big]\nthreshold = 7\n")
        c = w.wait(n + 1)[-1]
        assert c.changed == ("pyproject.toml",) and built(c) == ["big"]
    assert project.value("big") == 7


def test_syntax_error_is_reported_and_the_next_good_save_recovers(chain):
    af = chain.root / "AssetFile"
    good = af.read_text()
    with Watching(chain.root) as w:
        n = len(w.cycles)
        edit(af, good + "\ndef broken(:\n")
        c = w.wait(n + 1)[-1]
        assert c.result is None and "syntax error" in c.error
        assert f"AssetFile:{len(good.splitlines()) + 2}:" in c.error
        assert "(still watching)" in w.err.getvalue() and "Traceback" not in w.err.getvalue()
        n = len(w.cycles)
        edit(chain.root / "data/in.txt", "changed while broken")  # sources still count
        c = w.wait(n + 1)[-1]
        assert c.error is not None
        n = len(w.cycles)
        edit(af, good)
        c = w.wait(n + 1)[-1]
        assert built(c) == ["upper", "final"]
    assert (chain.root / "out/final.txt").read_text() == "CHANGED WHILE BROKEN!"


def test_an_assetfile_that_imports_a_missing_module_recovers_when_it_appears(project):
    project.assetfile("""
from helpers import VALUE

@asset(io="json")
def a():
    return VALUE
""")
    with Watching(project.root) as w:
        assert "helpers" in w.cycles[0].error
        n = len(w.cycles)
        edit(project.root / "helpers.py", "VALUE = 7\n")
        c = w.wait(n + 1)[-1]
        assert c.changed == ("helpers.py",) and built(c) == ["a"]
    assert project.value("a") == 7


def test_a_failing_asset_is_reported_and_watching_goes_on(project):
    project.assetfile("""
@asset(io="json")
def bad():
    return 1 // 0

@asset(io="json")
def good():
    return 1

@asset(io="json")
def after(bad):
    return bad
""")
    af = project.root / "AssetFile"
    with Watching(project.root) as w:
        r = w.cycles[0].result
        assert r.names("failed") == ["bad"] and r.names("built") == ["good"]  # keep-going
        assert r.names("skipped") == ["after"]
        assert "ZeroDivisionError" in w.err.getvalue() and "FAILED bad" in w.out.getvalue()
        n = len(w.cycles)
        edit(af, af.read_text().replace("1 // 0", "2"))
        c = w.wait(n + 1)[-1]
        assert built(c) == ["bad", "after"]
    assert w.summary.failed == 1


def test_a_burst_of_writes_is_coalesced_and_ends_with_the_last_content(chain):
    src = chain.root / "data/in.txt"
    with Watching(chain.root, debounce_ms=None) as w:  # the default debounce
        n = len(w.cycles)
        for i in range(30):
            src.write_text(f"value {i}")
        w.wait(n + 1)
        total = w.settle(0.5)
        assert 1 <= total - n <= 3, w.cycles[n:]
        assert (chain.root / "out/final.txt").read_text() == "VALUE 29!"


def test_atomic_save_is_one_change_of_the_target(chain):
    src = chain.root / "data/in.txt"
    with Watching(chain.root) as w:
        n = len(w.cycles)
        tmp = src.with_name(".in.txt.tmp.1234")
        tmp.write_text("atomic")
        os.replace(tmp, src)
        c = w.wait(n + 1)[-1]
        assert c.changed == ("data/in.txt",) and built(c) == ["upper", "final"]
        assert w.settle(0.3) == n + 1


def test_atomic_save_whose_writer_closes_after_the_rename_is_one_change(chain):
    """The close (IN_CLOSE_WRITE) arrives under the target's name after the debounce, as when
    assetbuild's own write_atomically closes on a loaded machine: the rename said it all."""
    src = chain.root / "data/in.txt"
    with Watching(chain.root) as w:
        for i in range(2):
            n = len(w.cycles)
            tmp = src.with_name(f".in.txt.{i}.partial")
            with open(tmp, "w") as f:
                f.write(f"atomic {i}")
                f.flush()
                os.replace(tmp, src)
                time.sleep(0.2)  # well past the debounce
            c = w.wait(n + 1)[-1]
            assert c.changed == ("data/in.txt",) and built(c) == ["upper", "final"]
            assert w.settle(0.5) == n + 1, w.cycles[n:]
    assert (chain.root / "out/final.txt").read_text() == "ATOMIC 1!"


def test_a_write_through_mmap_counts_by_its_close(chain):
    """Writes through a memory map send no modify event: the close is the only sign of them."""
    import mmap

    src = chain.root / "data/in.txt"
    with Watching(chain.root) as w:
        n = w.settle(0.3)
        with open(src, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
            m[:5] = b"jelly"
        c = w.wait(n + 1)[-1]
        assert c.changed == ("data/in.txt",) and built(c) == ["upper", "final"]
    assert (chain.root / "out/final.txt").read_text() == "JELLY!"


@pytest.mark.parametrize("pause", [0, 0.12], ids=["fast", "slower-than-the-debounce"])
def test_vim_style_save_is_one_change_of_the_target(chain, pause):
    """vim's default: probe file 4913, swap file, rename the original to a backup, write anew,
    delete the backup. The AssetFile is missing for a moment; if that moment outlasts the
    debounce, the watcher waits a little longer for it rather than report it missing."""
    af = chain.root / "AssetFile"
    with Watching(chain.root) as w:
        n = len(w.cycles)
        text = af.read_text().replace('"!"', '"?"')
        (chain.root / ".AssetFile.swp").write_text("swap")
        probe = chain.root / "4913"
        probe.write_text("")
        probe.unlink()
        os.rename(af, chain.root / "AssetFile~")
        time.sleep(pause)
        af.write_text(text)
        (chain.root / "AssetFile~").unlink()
        (chain.root / ".AssetFile.swp").unlink()
        c = w.wait(n + 1)[-1]
        assert c.changed == ("AssetFile",) and built(c) == ["final"]
        assert w.settle(0.3) == n + 1


def test_no_rebuild_while_idle_after_a_build_that_writes_path_outputs(project):
    project.write("data/in.txt", "x")
    project.assetfile("""
raw = source("raw", "data/in.txt")

@asset(io="text", path="out/a.txt")
def a(raw):
    return raw.read_text() * 2

@asset(io="text", path="out/deep/b.txt")
def b(a):
    return a + "b"

@asset(io="bytes", path="report.bin")
def c(b):
    return b.encode()
""")
    with Watching(project.root) as w:
        n = len(w.cycles)
        edit(project.root / "data/in.txt", "y")
        w.wait(n + 1)
        time.sleep(3)  # an idle window: any rebuild now would be a loop
        assert len(w.cycles) == n + 1, w.cycles[n:]
        assert (project.root / "out/deep/b.txt").read_text() == "yyb"


def test_a_change_during_a_build_leads_to_exactly_one_more_build(project):
    project.write("data/in.txt", "0")
    project.assetfile("""
import time
raw = source("raw", "data/in.txt")

@asset(io="text")
def slow(raw, context):
    (context.project_dir / "started").write_text(raw.read_text())
    time.sleep(0.8)
    return raw.read_text()
""")
    with Watching(project.root) as w:
        n = len(w.cycles)
        (project.root / "started").unlink()
        edit(project.root / "data/in.txt", "1")
        deadline = time.monotonic() + 10
        while not (project.root / "started").exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for i in range(2, 6):  # during the build
            edit(project.root / "data/in.txt", str(i))
            time.sleep(0.02)
        w.wait(n + 2)
        assert w.settle(1.0) == n + 2
        assert [ran(c) for c in w.cycles[n:]] == [["slow"], ["slow"]]
    assert project.value("slow") == "5"


def test_a_source_that_appears_and_disappears(project):
    project.assetfile("""
raw = source("raw", "data/in.txt")
folder = source("folder", "inbox")

@asset(io="text")
def a(raw):
    return raw.read_text()

@asset(io="json")
def b(folder):
    return sorted(p.name for p in folder.iterdir())
""")
    with Watching(project.root) as w:
        r = w.cycles[0].result
        assert r.names("failed") == ["a", "b"]
        n = len(w.cycles)
        edit(project.root / "data/in.txt", "here")  # creates data/ and the file
        c = w.wait(n + 1)[-1]
        assert c.changed == ("data/in.txt",) and built(c) == ["a"]
        n = len(w.cycles)
        edit(project.root / "inbox/x.txt", "1")  # the directory source appears
        c = w.wait(n + 1)[-1]
        assert built(c) == ["b"] and project.value("b") == ["x.txt"]
        n = len(w.cycles)
        edit(project.root / "inbox/y.txt", "2")
        c = w.wait(n + 1)[-1]
        assert c.changed == ("inbox/y.txt",) and project.value("b") == ["x.txt", "y.txt"]
        n = len(w.cycles)
        (project.root / "data/in.txt").unlink()
        c = w.wait(n + 1)[-1]
        assert c.changed == ("data/in.txt",) and c.result.names("failed") == ["a"]
        n = len(w.cycles)
        import shutil

        shutil.rmtree(project.root / "inbox")
        c = w.wait(n + 1)[-1]
        assert c.changed == ("inbox/x.txt", "inbox/y.txt") and c.result.names("failed") == ["a", "b"]


def test_a_source_outside_the_project_and_a_cache_outside_it(tmp_path, project):
    ext = tmp_path / "shared" / "lookup.txt"
    edit(ext, "1")
    project.assetfile(f"""
lookup = source("lookup", {str(ext)!r})

@asset(io="text")
def a(lookup):
    return lookup.read_text()
""")
    cache = tmp_path / "cache"
    with Watching(project.root, cache_dir=cache) as w:
        assert built(w.cycles[0]) == ["a"] and (cache / "db").exists()
        n = len(w.cycles)
        edit(ext, "2")
        c = w.wait(n + 1)[-1]
        assert c.changed == (str(ext),) and built(c) == ["a"]
        assert w.settle(0.3) == n + 1  # the cache's own writes do not count
    assert assetbuild.load_value("a", project_dir=project.root, cache_dir=cache) == "2"


def test_a_source_folder_outside_the_project_made_again_at_once_is_watched_again(tmp_path, project):
    """``rm -rf ext && cp -r new ext``: the removal ends the watch on the old folder, and the new
    one (another folder at the same path) is watched from the cycle that follows."""
    import shutil

    ext = tmp_path / "ext"
    edit(ext / "a.txt", "1")
    project.assetfile(f"""
d = source("d", {str(ext)!r})

@asset(io="text")
def total(d):
    return str(sum(int(p.read_text()) for p in d.iterdir() if p.suffix == ".txt"))
""")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["total"]
        n = len(w.cycles)
        shutil.rmtree(ext)
        ext.mkdir()
        (ext / "a.txt").write_text("2")
        w.wait(n + 1)
        n = w.settle(0.3)
        edit(ext / "a.txt", "5")
        c = w.wait(n + 1)[-1]
        assert c.changed == (str(ext / "a.txt"),) and built(c) == ["total"]
    assert assetbuild.load_value("total", project_dir=project.root) == "5"


def test_a_symlinked_source_is_watched_through_its_target(tmp_path, project):
    target = tmp_path / "elsewhere" / "real.txt"
    edit(target, "1")
    (project.root / "data").mkdir()
    (project.root / "data/in.txt").symlink_to(target)
    project.assetfile(CHAIN)
    with Watching(project.root) as w:
        n = len(w.cycles)
        edit(target, "2")
        c = w.wait(n + 1)[-1]
        assert c.changed == (str(target),) and built(c) == ["upper", "final"]
    assert (project.root / "out/final.txt").read_text() == "2!"


def test_a_symlink_in_a_directory_source_is_watched_through_its_target(tmp_path, project):
    """The directory's version covers what its links point to: a file elsewhere in the project,
    a folder outside it (and a link inside that folder)."""
    outside = tmp_path / "ext"
    edit(outside / "b.txt", "10")
    edit(tmp_path / "more" / "c.txt", "1")
    os.symlink(tmp_path / "more" / "c.txt", outside / "c.txt")
    project.write("dd/a.txt", "1000")
    project.write("shared/z.txt", "100")
    os.symlink("../shared/z.txt", project.root / "dd/z.txt")
    os.symlink(outside, project.root / "dd/sub")
    project.assetfile("""
d = source("d", "dd")

import os
from pathlib import Path

@asset(io="text")
def total(d):
    return str(sum(int((Path(top) / n).read_text()) for top, _, names in os.walk(d, followlinks=True) for n in names))
""")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["total"]
        for path, text, shown in [(project.root / "shared/z.txt", "200", "shared/z.txt"),
                                  (outside / "b.txt", "20", str(outside / "b.txt")),
                                  (tmp_path / "more" / "c.txt", "2", str(tmp_path / "more" / "c.txt"))]:
            n = len(w.cycles)
            edit(path, text)
            c = w.wait(n + 1)[-1]
            assert c.changed == (shown,) and built(c) == ["total"]
    assert assetbuild.load_value("total", project_dir=project.root) == "1222"


def test_re_pointing_a_link_in_the_middle_of_a_source_s_symlink_chain_rebuilds(project):
    """data.csv -> current.csv -> releases/v1.csv, and current.csv re-pointed (atomically) to
    releases/v2.csv: the event names current.csv, neither the source nor its old target."""
    project.write("releases/v1.csv", "v1")
    project.write("releases/v2.csv", "v2")
    os.symlink("releases/v1.csv", project.root / "current.csv")
    os.symlink("current.csv", project.root / "data.csv")
    project.assetfile("""
x = source("x", "data.csv")

@asset(io="text")
def a(x):
    return x.read_text()
""")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["a"]
        n = len(w.cycles)
        os.symlink("releases/v2.csv", project.root / ".current.csv.new")
        os.replace(project.root / ".current.csv.new", project.root / "current.csv")
        c = w.wait(n + 1)[-1]
        assert c.changed == ("current.csv",) and built(c) == ["a"]
    assert assetbuild.load_value("a", project_dir=project.root) == "v2"


def test_a_symlink_loop_in_a_source_is_no_trouble_for_watching(project):
    project.write("dd/a.txt", "1")
    os.symlink("loop2", project.root / "loop1")
    os.symlink("loop1", project.root / "loop2")
    os.symlink(".", project.root / "dd/up")  # a link to its own folder: not entered twice
    project.assetfile("""
x = source("x", "loop1")
d = source("d", "dd")

@asset(io="text")
def a(d):
    return (d / "a.txt").read_text()
""")
    with Watching(project.root) as w:
        assert built(w.cycles[0]) == ["a"]
        n = len(w.cycles)
        edit(project.root / "dd/a.txt", "2")
        assert built(w.wait(n + 1)[-1]) == ["a"]


def test_a_long_session_keeps_one_compiled_assetfile(chain):
    from assetbuild.loader import code_cache_names

    chain.built()
    before = code_cache_names(chain.root / ".assetbuild")
    af = chain.root / "AssetFile"
    with Watching(chain.root) as w:
        for i in range(3):
            n = len(w.cycles)
            edit(af, af.read_text().replace('"!"', f'"!{i}"').replace(f'"!{i - 1}"', f'"!{i}"'))
            assert built(w.wait(n + 1)[-1]) == ["final"]
    after = code_cache_names(chain.root / ".assetbuild")
    assert before < after and len(after - before) == 1
    assert (chain.root / "out/final.txt").read_text() == "HELLO!2"


def test_selection_and_polling(chain):
    with Watching(chain.root, "upper", polling=True) as w:
        assert built(w.cycles[0]) == ["upper"]
        n = len(w.cycles)
        edit(chain.root / "data/in.txt", "polled")
        c = w.wait(n + 1)[-1]
        assert built(c) == ["upper"] and not (chain.root / "out/final.txt").exists()


def test_embedded_loop_stops_from_on_cycle(chain):
    """A tool embedding the loop stops it from its callback (here: after the second build)."""
    stop = threading.Event()
    seen: list[WatchCycle] = []

    def on_cycle(c: WatchCycle) -> None:
        seen.append(c)
        if len(seen) == 2:
            stop.set()

    threading.Timer(0.5, lambda: edit(chain.root / "data/in.txt", "again")).start()
    summary = session.watch(project_dir=chain.root, debounce_ms=DEBOUNCE_MS, stop=stop, on_cycle=on_cycle)
    assert summary.builds == 2 and summary.stopped_by == "stop"
    assert [built(c) for c in seen] == [["upper", "final"], ["upper", "final"]]


def test_force_applies_to_the_first_build_only(chain):
    chain.built()
    with Watching(chain.root, force=True) as w:
        assert built(w.cycles[0]) == ["upper", "final"]
        n = len(w.cycles)
        edit(chain.root / "AssetFile", (chain.root / "AssetFile").read_text() + "\n# a comment\n")
        assert ran(w.wait(n + 1)[-1]) == []


# --- definitions that would loop ------------------------------------------------------------------

@pytest.mark.parametrize("src,out,inside", [
    ("data", "data/summary.txt", "data"),
    ("data", "data/deep/er/summary.txt", "data"),
    (".", "out/x.txt", "."),
    ("..", "out/x.txt", ".."),
    ("data", "data2/summary.txt", None),  # a name that merely starts like the source is not inside it
])
def test_an_output_inside_a_source_directory_is_refused(project, src, out, inside):
    project.write("data/in.txt", "x")
    project.assetfile(f"""
src = source("src", {src!r})

@asset(io="text", path={out!r})
def summary(src):
    return "n"
""")
    if inside is None:
        assert project.build().ok
        return
    with pytest.raises(DefinitionError, match=f"writes {re.escape(out)}, inside the declared source "
                       f"directory {re.escape(inside)}$") as e:
        project.build()
    assert e.value.file.endswith("AssetFile") and e.value.line == 5


# --- which events count (no observer) --------------------------------------------------------------

def test_change_filter(tmp_path):
    root = tmp_path / "p"
    ws = WatchSet(code_files=frozenset({f"{root}/AssetFile", f"{root}/lib/h.py"}),
                  sources=frozenset({f"{root}/data", f"{root}/in.csv", f"{tmp_path}/ext/x.txt"}),
                  outputs=frozenset({f"{root}/out/a.txt"}))
    f = ChangeFilter(root, root / ".assetbuild", ws)
    counts = [f"{root}/AssetFile", f"{root}/lib/h.py", f"{root}/in.csv", f"{root}/data/sub/new.csv",
              f"{tmp_path}/ext/x.txt"]
    never = [f"{root}/.assetbuild/db/data.mdb", f"{root}/out/a.txt", f"{root}/out/.a.txt.assetbuild-tmp",
             f"{root}/out/.a.txt.assetbuild-tmp-123", f"{root}/out/.a.txt.0123456789abcdef.assetbuild-tmp", f"{root}/lib/other.py", f"{root}/.AssetFile.swp",
             f"{root}/AssetFile~", f"{root}/4913", f"{root}/data/.#in.csv", f"{root}/data/x.csv~",
             f"{root}/data/__pycache__/m.pyc", f"{root}/.git/index", f"{root}/notes.txt",
             f"{tmp_path}/ext/y.txt"]
    assert [p for p in counts if not f.counts(p)] == []
    assert [p for p in never if f.counts(p)] == []
    assert f.counts(str(root), is_directory=True)  # the project directory itself moved
    assert f.counts(f"{root}/lib", is_directory=True)  # a package renamed
    assert not f.counts(f"{root}/out", is_directory=True)
    assert f.display(f"{root}/data/sub/new.csv") == "data/sub/new.csv"
    failed = ChangeFilter(root, tmp_path / "elsewhere", WatchSet(load_failed=True))
    assert failed.counts(f"{root}/lib/other.py") and not failed.counts(f"{root}/.venv/lib/site-packages/x.py")
    assert not failed.counts(f"{root}/notes.txt")


def test_project_module_compile_cache_is_bounded(project, monkeypatch):
    from assetbuild.loader import _ProjectLoader

    monkeypatch.setattr(_ProjectLoader, "_compiled", {})
    monkeypatch.setattr(_ProjectLoader, "_COMPILED_MAX", 3)
    project.assetfile("""
import m0, m1, m2, m3, m4

@asset(io="json")
def a():
    return m4.V
""")
    for version in range(3):
        for i in range(5):
            project.write(f"m{i}.py", f"V = {version}\n")
        assert session.functions(project_dir=project.root)["a"]() == version
    assert len(_ProjectLoader._compiled) == 3
    assert sorted(os.path.basename(p) for p in _ProjectLoader._compiled) == ["m2.py", "m3.py", "m4.py"]


# --- what watch mode prints ---------------------------------------------------------------------

def _cycle(changed, results=(), error=None, dry_run=False):
    result = None if error else BuildResult(tuple(AssetResult(a, s) for a, s in results), 0.0, dry_run)
    return WatchCycle(changed, result, error, time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1)), 0.25)


def test_reporter_lines():
    out, err = io.StringIO(), io.StringIO()
    rep = Reporter(out=out, err=err, verbosity=0, live=False)
    rep.watching = True
    rep.watch_cycle(_cycle(("a.txt",), [("x", "cached")]))
    assert out.getvalue() == ""  # nothing ran: quiet
    rep.watch_cycle(_cycle(None, [("x", "cached")]))
    assert out.getvalue() == "03:04:05 first build: 1 cached (0.25s)\n"
    out.truncate(0), out.seek(0)
    many = tuple(f"f{i}.txt" for i in range(5))
    rep.watch_cycle(_cycle(many, [("x", "built"), ("y", "restored"), ("z", "failed"), ("w", "skipped"),
                                  ("v", "cached")]))
    assert out.getvalue() == ("03:04:05 f0.txt, f1.txt, f2.txt and 2 more changed: built x; restored y; "
                              "FAILED z; skipped w; 1 cached (0.25s)\n")
    rep.watch_cycle(_cycle(("AssetFile",), error="AssetFile:3: syntax error: invalid syntax"))
    assert err.getvalue() == ("03:04:05 AssetFile changed: error: AssetFile:3: syntax error: invalid syntax "
                              "(still watching)\n")
    out.truncate(0), out.seek(0)
    rep.watch_cycle(_cycle(("AssetFile",), [("x", "cached")]), always=True)  # the fix restored the old code
    assert out.getvalue() == "03:04:05 AssetFile changed: 1 cached (0.25s)\n"
    out.truncate(0), out.seek(0)
    rep.watch_cycle(_cycle(("a",), [("x", "cached"), ("y", "built")], dry_run=True))
    assert out.getvalue() == "03:04:05 a changed: would run y; 1 cached (0.25s)\n"
    js = Reporter(out=io.StringIO(), err=err, json_mode=True, live=False)
    js.watch_cycle(_cycle(("a",), [("y", "built")]))
    import json

    doc = json.loads(js.out.getvalue())
    assert doc["changed"] == ["a"] and doc["ok"] and doc["results"][0]["status"] == "built"


@pytest.mark.slow
def test_code_edited_during_a_parallel_build_is_not_recorded_under_the_old_key(project):
    """With -j, workers import project modules from disk: an edit that lands while `gate` runs
    reaches `said`'s worker. Recorded under the key of the old code, undoing the edit would then
    serve the edited code's output as cached."""
    project.write("lib/__init__.py", "")
    project.write("lib/words.py", "def word():\n    return 'old'\n")
    project.assetfile("""
import time
from lib.words import word

@asset(io="json")
def gate(context):
    (context.project_dir / "started").write_text("")
    while not (context.project_dir / "go").exists():
        time.sleep(0.01)
    return 1

@asset(io="text")
def said(gate):
    return word()
""")
    w = Watching(project.root, jobs=2, executor="processes")
    w.thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (project.root / "started").exists():
            assert time.monotonic() < deadline and w.error is None, w.error
            time.sleep(0.01)
        edit(project.root / "lib/words.py", "def word():\n    return 'new'\n")
        (project.root / "go").write_text("")
        first = w.wait(1, timeout=60)[0].result
        said = {r.asset: r for r in first.results}["said"]
        assert said.status == "failed" and said.changed_during_run and "lib/words.py changed while 'said' was running" in said.error
        c = w.wait(2, timeout=60)[-1]  # the edit, seen: built with the new code under its own key
        assert c.changed == ("lib/words.py",) and built(c) == ["said"]
        assert project.value("said") == "new"
        edit(project.root / "lib/words.py", "def word():\n    return 'old'\n")
        c = w.wait(3, timeout=60)[-1]
        assert built(c) == ["said"] and project.value("said") == "old"  # what a clean build gives
    finally:
        w.__exit__(None, None, None)


def test_watch_takes_a_selection_with_exclusions(chain):
    """``raw+`` less ``final``: watching builds upper only, first and after each save."""
    with Watching(chain.root, "raw+", "-final") as w:
        assert built(w.cycles[0]) == ["upper"]
        n = len(w.cycles)
        edit(chain.root / "data/in.txt", "bye")
        assert built(w.wait(n + 1)[-1]) == ["upper"]
    assert not (chain.root / "out/final.txt").exists()


def test_events_lost_to_a_queue_overflow_count_as_a_change(tmp_path):
    """When the kernel's inotify queue overflows, watchdog sends one EventsLostEvent naming the
    watched directory, not a changed file: what changed is unknown, so it starts a cycle (which
    decides every asset). It was dropped, and saves made during the overflow went unseen until
    the next event. (The event is made here: overflowing the kernel's queue on purpose would
    take 16,384 events and the machine's sysctl.)"""
    from watchdog.events import EventsLostEvent

    from assetbuild.watch import EVENTS_LOST, Watcher

    (tmp_path / ".assetbuild").mkdir()
    w = Watcher(tmp_path, tmp_path / ".assetbuild", debounce_s=0.01)
    w._on_event(EventsLostEvent(str(tmp_path), is_directory=True))
    assert w.wait_for_changes(threading.Event(), time.monotonic() + 5) == [EVENTS_LOST]
