"""An edit of one asset's code answered by a slice of the project (``assetbuild.codeedits``):
real commands in twin projects, one using the snapshot, the other never (``ASSETBUILD_SNAPSHOT=0``);
they must print, store and write the same, and the snapshot must not take an edit it cannot prove."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from projects import FULL_ENV, SNAPSHOT_ENV, clean_env, cli, snapshot_twins, write

ASSETFILE = '''\
from assetbuild import asset, source

from lib import Box

raw = source("raw", "data/raw.txt")


def scale(x):
    return 2 * x


@asset(io="json")
def parsed(raw):
    return [int(x) for x in raw.read_text().split()]


@asset(io="json", path="out/total.json")
def total(parsed):
    return scale(sum(parsed))


@asset(io="json")
def largest(parsed):
    return max(parsed)


@asset(io="json", path="out/report.json")
def report(total, largest):
    return {"total": total, "largest": largest}


@asset(io="json")
def twice():
    return largest([3, 4]) * 2
'''
LIB = "class Box:\n    def __init__(self, n):\n        self.n = n\n"
SNAPSHOT, FULL = SNAPSHOT_ENV, FULL_ENV


@pytest.fixture
def twins(tmp_path: Path) -> tuple[Path, Path]:
    """The same project twice, built and settled: the first answers from its snapshot."""
    return snapshot_twins(tmp_path, {"AssetFile": ASSETFILE, "lib.py": LIB, "data/raw.txt": "1 2 3\n"})


def explain(root: Path, *args: str, **env: str) -> tuple[str, str, int]:
    r = cli(*args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **{**SNAPSHOT, **env}))
    return r.stdout, next((ln for ln in r.stderr.splitlines() if ln.startswith("snapshot:")), ""), r.returncode


def decisions(doc: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    return [(r["asset"], r["status"], r["key"], r["data_version"], r["error"]) for r in json.loads(doc)["results"]]


def edit(a: Path, b: Path, old: str, new: str, name: str = "AssetFile") -> None:
    for root in (a, b):
        p = root / name
        text = p.read_text()
        assert old in text
        p.write_text(text.replace(old, new))


def both(a: Path, b: Path) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """A build of each twin (``--json``), the first saying whether the snapshot answered; they
    end and decide alike."""
    fast = cli("--json", cwd=a, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **SNAPSHOT))
    full = cli("--json", cwd=b, env=clean_env(**FULL))
    assert fast.returncode == full.returncode and decisions(fast.stdout) == decisions(full.stdout)
    return fast, full


def built(doc: str) -> list[str]:
    return [d[0] for d in decisions(doc) if d[1] == "built"]


def test_an_edit_of_an_assets_body_builds_it_and_what_it_reaches_as_the_full_path_does(twins: tuple[Path, Path]) -> None:
    a, b = twins
    edit(a, b, "    return max(parsed)\n", "    top = max(parsed)\n    # the largest, once more\n    return top + 1\n")
    fast, _ = both(a, b)
    # twice calls largest as a function (its fingerprint reaches it): it is decided too
    assert "snapshot: not used: the AssetFile changed inside the definition of largest; the build loads " \
           "3 of the 5 assets, and 2 they read" in fast.stderr
    assert fast.returncode == 0
    assert built(fast.stdout) == ["largest", "report", "twice"]
    assert (a / "out" / "report.json").read_text() == (b / "out" / "report.json").read_text() == \
        '{"total":12,"largest":4}'  # (in the order report returns: io="json" keeps a dict's order)
    assert explain(a)[1] == "snapshot: answers"  # the slice recorded the next snapshot
    # a data edit then takes the fingerprint the edit's slice made, not the one the graph kept before it
    (a / "data" / "raw.txt").write_text("5 6\n")
    (b / "data" / "raw.txt").write_text("5 6\n")
    fast, _ = both(a, b)
    assert "; the build loads 4 of the 5 assets" in fast.stderr
    assert fast.returncode == 0
    # and an edit after it, in another definition, which moves the ones after it
    edit(a, b, "    return scale(sum(parsed))\n", "    s = sum(parsed)\n    return scale(s)\n")
    fast, _ = both(a, b)
    assert "the AssetFile changed inside the definition of total;" in fast.stderr
    assert fast.returncode == 0
    assert built(fast.stdout) == ["total"]  # (its value as before: report stays cached)
    edit(a, b, "    return top + 1\n", "    return top + 2\n")  # largest again, where the last edit left it
    fast, _ = both(a, b)
    assert "the AssetFile changed inside the definition of largest;" in fast.stderr
    assert fast.returncode == 0
    assert built(fast.stdout) == ["largest", "report", "twice"]


def test_an_edit_of_a_helpers_body_builds_what_reaches_it(twins: tuple[Path, Path]) -> None:
    a, b = twins
    edit(a, b, "    return 2 * x\n", "    return 3 * x\n")
    fast, _ = both(a, b)
    assert "snapshot: not used: the AssetFile changed inside the definition of scale; the build loads " \
           "2 of the 5 assets, and 2 they read" in fast.stderr
    assert fast.returncode == 0
    assert built(fast.stdout) == ["total", "report"]
    assert (a / "out" / "total.json").read_text() == (b / "out" / "total.json").read_text() == "18"


def test_an_edit_of_comments_and_layout_only_builds_nothing(twins: tuple[Path, Path]) -> None:
    a, b = twins
    edit(a, b, "def scale(x):\n", "# Doubles.\ndef scale(\n    x,\n):\n")
    fast, _ = both(a, b)
    assert "snapshot: not used: the AssetFile changed, but none of its statements; the build loads " \
           "0 of the 5 assets, and 0 they read" in fast.stderr
    assert fast.returncode == 0
    assert built(fast.stdout) == []
    assert explain(a)[1] == "snapshot: answers"


def test_the_slice_agrees_with_the_whole_project_under_the_check(twins: tuple[Path, Path]) -> None:
    a, _ = twins
    p = a / "AssetFile"
    for old, new in (("return max(parsed)", "return max(parsed) - 1"), ("return 2 * x", "return 5 * x"),
                     ("def scale(x):", "def scale(x):  # a comment"),
                     ('return {"total": total, "largest": largest}', 'return {"largest": largest, "total": total}')):
        p.write_text(p.read_text().replace(old, new))
        out, line, status = explain(a, "--json", ASSETBUILD_CHECK_SNAPSHOT="1")  # (session.slicecheck)
        assert status == 0, out
        assert line.startswith(("snapshot: not used: the AssetFile changed", "snapshot: answers")), line


@pytest.mark.parametrize("old, new", [
    ("def largest(parsed):", "def largest(parsed, raw):"),  # its inputs
    ('@asset(io="json")\ndef largest', '@asset(io="pickle")\ndef largest'),  # its decorator
    ("def scale(x):", "def scale(x, y=1):"),  # a helper's header
    ("    return max(parsed)\n", "    return max(parsed)\nLIMIT = 3\n"),  # a statement that runs at load
    ("from lib import Box\n", "from lib import Box as Box\n"),  # the lines before every definition
])
def test_an_edit_it_cannot_prove_takes_the_full_path(twins: tuple[Path, Path], old: str, new: str) -> None:
    a, b = twins
    edit(a, b, old, new)
    fast, _ = both(a, b)
    assert "snapshot: not used: a file changed: " in fast.stderr, fast.stderr


def test_a_stored_value_naming_project_code_takes_the_full_path(tmp_path: Path) -> None:
    """Its readers' keys hold that code's fingerprint (``fingerprint.refs``), which the graph does not keep."""
    text = ASSETFILE + '\n\n@asset\ndef boxed(parsed):\n    return Box(len(parsed))\n\n\n@asset\ndef opened(boxed):\n    return boxed.n\n'
    root = write(tmp_path, {"AssetFile": text, "lib.py": LIB, "data/raw.txt": "1 2 3\n"})
    assert cli(cwd=root, env=clean_env(**SNAPSHOT)).returncode == 0
    assert explain(root)[1] == "snapshot: answers"
    (root / "AssetFile").write_text(text.replace("return max(parsed)", "return max(parsed) + 1"))
    _, line, status = explain(root)
    assert status == 0 and line.startswith("snapshot: not used: a file changed: "), line


@pytest.mark.parametrize("body", ["    return max(parsed\n", "    yield max(parsed)\n", "    return nothing_here\n"])
def test_an_edit_that_breaks_the_asset_fails_as_the_full_path_does(twins: tuple[Path, Path], body: str) -> None:
    a, b = twins
    edit(a, b, "    return max(parsed)\n", body)
    fast = cli(cwd=a, env=clean_env(**SNAPSHOT))
    full = cli(cwd=b, env=clean_env(**FULL))
    assert fast.returncode == full.returncode != 0
    assert fast.stderr.replace(str(a), "ROOT") == full.stderr.replace(str(b), "ROOT")
    edit(a, b, body, "    return max(parsed)\n")  # mended: both as before
    assert both(a, b)[0].returncode == 0


MODULE_PROJECT = {
    "AssetFile": ('from assetbuild import asset, source\n\nfrom lib.util import clip\n\nraw = source("raw", "data/raw.txt")\n'
                  '\n\n@asset(io="json")\ndef parsed(raw):\n    return [int(x) for x in raw.read_text().split()]\n'
                  '\n\n@asset(io="json", path="out/clipped.json")\ndef clipped(parsed):\n    return [clip(x) for x in parsed]\n'
                  '\n\n@asset(io="json")\ndef doubled(parsed):\n    from lib.more import twice\n\n    return [twice(x) for x in parsed]\n'
                  '\n\n@asset(io="json")\ndef count(parsed):\n    return len(parsed)\n'),
    "lib/__init__.py": "",
    "lib/util.py": "LIMIT = 2\n\n\ndef clip(x):\n    return min(x, LIMIT)\n",
    "lib/more.py": "def twice(x):\n    return 2 * x\n",
    "data/raw.txt": "1 2 3\n",
}


@pytest.mark.parametrize("path, old, new, said, ran", [
    ("lib/util.py", "min(x, LIMIT)", "max(min(x, LIMIT), 0) + 1", "module lib.util changed inside the definition of clip; "
     "the build loads 1 of the 4 assets", ["clipped"]),
    ("lib/more.py", "2 * x", "x + x + 1", "module lib.more changed inside the definition of twice; "
     "the build loads 1 of the 4 assets", ["doubled"]),  # (imported inside the asset's function)
    ("lib/util.py", "def clip", "# Caps.\ndef clip", "module lib.util changed, but none of its statements; "
     "the build loads 0 of the 4 assets", []),
    ("lib/util.py", "LIMIT = 2", "LIMIT = 1", "a file changed: ", ["clipped"]),  # a statement that runs at import
])
def test_an_edit_of_a_project_module_function_builds_what_reaches_it(tmp_path: Path, path: str, old: str, new: str,
                                                                      said: str, ran: list[str]) -> None:
    a, b = snapshot_twins(tmp_path, MODULE_PROJECT)
    edit(a, b, old, new, path)
    fast, _ = both(a, b)
    assert f"snapshot: not used: {said}" in fast.stderr, fast.stderr
    assert fast.returncode == 0 and built(fast.stdout) == ran
    assert explain(a)[1] == "snapshot: answers"
    edit(a, b, new, old, path)  # and back, against the module's text the last build kept: the keys of
    fast, _ = both(a, b)        # the first build again, whose values the store still holds
    assert said.split(";")[0] in fast.stderr and built(fast.stdout) == []


CLASS_PROJECT = {
    "AssetFile": ('from assetbuild import asset\n\nfrom lib.scale import Scaler\n\n\nclass Counter:\n'
                  '    def count(self, xs):\n        return len(xs)\n\n\n@asset\ndef a():\n    return Counter().count([1, 2, 3])\n'
                  '\n\n@asset\ndef b():\n    return Scaler(2).apply(5)\n\n\n@asset\ndef c():\n    return 7\n'),
    "lib/__init__.py": "",
    "lib/scale.py": "class Scaler:\n    def __init__(self, k):\n        self.k = k\n\n    def apply(self, x):\n        return x * self.k\n",
}


@pytest.mark.parametrize("path, old, new, said, ran", [
    ("AssetFile", "return len(xs)", "return len(xs) + 1", "the AssetFile changed inside the definition of Counter", ["a"]),
    ("lib/scale.py", "return x * self.k", "return x * self.k + 1", "module lib.scale changed inside the definition of Scaler",
     ["b"]),
])
def test_an_edit_of_a_methods_body_builds_what_reaches_its_class(tmp_path: Path, path: str, old: str, new: str,
                                                                 said: str, ran: list[str]) -> None:
    a, b = snapshot_twins(tmp_path, CLASS_PROJECT)
    edit(a, b, old, new, path)
    fast, _ = both(a, b)
    assert f"snapshot: not used: {said}; the build loads 1 of the 3 assets" in fast.stderr, fast.stderr
    assert fast.returncode == 0 and built(fast.stdout) == ran


@pytest.mark.parametrize("package, text, ran", [
    ("lib/util", "LIMIT = 2\n\n\ndef clip(x):\n    return min(x, LIMIT) + 10\n", ["clipped"]),  # imported with the AssetFile
    ("lib/more", "def twice(x):\n    return 3 * x\n", ["doubled"]),  # imported inside an asset's function
])
def test_a_folder_of_a_modules_name_made_a_package_is_seen(tmp_path: Path, package: str, text: str,
                                                            ran: list[str]) -> None:
    """A folder of a module's name holding only bytecode (left by a branch that had the package)
    becomes what the import finds once it has an ``__init__.py``: a package beats a module. Its
    parent folder's time does not move; the snapshot watches the folder itself."""
    a, b = snapshot_twins(tmp_path, {**MODULE_PROJECT, f"{package}/__pycache__/__init__.cpython-311.pyc": b""})
    for root in (a, b):
        (root / package / "__init__.py").write_text(text)
    fast, _ = both(a, b)
    assert f"snapshot: not used: a directory changed: {a / package}" in fast.stderr, fast.stderr
    assert fast.returncode == 0 and built(fast.stdout) == ran


READS_PROJECT = {
    "AssetFile": ('from assetbuild import asset\n\nimport lib.names as names\n\n\n'
                  '@asset(io="json")\ndef by_name():\n    return getattr(names, "tw" + "ice")(5)\n'
                  '\n\n@asset(io="json")\ndef by_attribute():\n    return names.twice(6)\n'
                  '\n\n@asset(io="json")\ndef other():\n    return 7\n'),
    "lib/__init__.py": "",
    "lib/names.py": "from .more import twice\n",  # (another module's function, under its name)
    "lib/more.py": "def twice(x):\n    return 2 * x\n",
}


def test_an_edit_of_a_function_another_module_exports_builds_what_reads_that_module(tmp_path: Path) -> None:
    """``by_name`` reads ``lib.names`` by a computed name: its key counts that module whole, with
    the modules it imports (``fingerprint.reads``), so an edit of ``lib.more`` reaches it."""
    a, b = snapshot_twins(tmp_path, READS_PROJECT)
    edit(a, b, "2 * x", "3 * x", "lib/more.py")
    fast, _ = both(a, b)
    assert "snapshot: not used: module lib.more changed inside the definition of twice; the build loads 2 of " \
           "the 3 assets" in fast.stderr, fast.stderr
    assert fast.returncode == 0 and built(fast.stdout) == ["by_name", "by_attribute"]


def test_an_edit_of_a_modules_getattr_takes_the_full_path(tmp_path: Path) -> None:
    """``from lib.consts import X`` calls the module's ``__getattr__`` at load: its body is no
    body that runs only when called (``codeedits._RUN_AT_LOAD``), and what it reads there (a
    file) no snapshot would see: no snapshot is recorded (``declarative``), and an edit builds."""
    files = {"AssetFile": 'from assetbuild import asset\n\nfrom lib.consts import X\n\n\n@asset(io="json")\ndef x():\n    return X\n',
             "lib/__init__.py": "",
             "lib/consts.py": 'def __getattr__(name):\n    if name == "X":\n        return 1\n    raise AttributeError(name)\n'}
    a, b = write(tmp_path / "snap", files), write(tmp_path / "full", files)
    for root, env in ((a, SNAPSHOT), (b, FULL)):
        assert cli(cwd=root, env=clean_env(**env)).returncode == 0
    said = cli(cwd=a, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **SNAPSHOT)).stderr
    assert "snapshot: not used: lib/consts.py:1: a module-level __getattr__ runs code" in said, said
    edit(a, b, "return 1", "return 2", "lib/consts.py")
    fast, _ = both(a, b)
    assert fast.returncode == 0 and built(fast.stdout) == ["x"]


def test_an_edit_of_only_an_annotation_of_an_assets_function_builds_it(twins: tuple[Path, Path]) -> None:
    """Annotations count (``fingerprint``): an edit of one alone is no edit of nothing, and
    ``twice``, which calls ``largest``, reaches it too."""
    a, b = twins
    edit(a, b, "def largest(parsed):", "def largest(parsed: list) -> int:")
    fast, _ = both(a, b)
    assert fast.returncode == 0 and built(fast.stdout) == ["largest", "twice"]
    edit(a, b, "def largest(parsed: list) -> int:", "def largest(parsed: list) -> float:")
    fast, _ = both(a, b)
    assert fast.returncode == 0 and built(fast.stdout) == ["largest", "twice"]


def test_an_edit_of_a_docstring_the_code_reads_builds_what_reads_it(tmp_path: Path) -> None:
    files = {"AssetFile": ('from assetbuild import asset\n\n\ndef prompt():\n    """Ten words."""\n\n\n'
                           '@asset(io="json")\ndef text():\n    return prompt.__doc__\n'
                           '\n\n@asset(io="json")\ndef other():\n    return 7\n')}
    a, b = snapshot_twins(tmp_path, files)
    edit(a, b, "Ten words.", "Five words.")
    fast, _ = both(a, b)
    assert "snapshot: not used: the AssetFile changed inside the definition of prompt" in fast.stderr, fast.stderr
    assert fast.returncode == 0 and built(fast.stdout) == ["text"]
    assert (a / ".assetbuild").is_dir() and cli("--json", cwd=a, env=clean_env(**SNAPSHOT)).returncode == 0


HELD_PROJECT = {
    "AssetFile": ('from assetbuild import asset\n\nimport lib.rates as rates\n\n\ndef config():\n    return rates\n'
                  '\n\n@asset(io="json")\ndef held():\n    return config().scaled(5)\n'
                  '\n\n@asset(io="json")\ndef other():\n    return 7\n'),
    "lib/__init__.py": "",
    "lib/rates.py": "def factor():\n    return 2\n\n\ndef scaled(x):\n    return x * factor()\n",
}


def test_an_edit_of_a_module_a_helper_holds_as_a_value_builds_what_reaches_the_helper(tmp_path: Path) -> None:
    """``config`` returns the module: it counts whole for the assets that reach ``config``
    (``fingerprint.reads``), so a body edit of a function no name reads reaches them."""
    a, b = snapshot_twins(tmp_path, HELD_PROJECT)
    edit(a, b, "return 2", "return 3", "lib/rates.py")
    fast, _ = both(a, b)
    assert "snapshot: not used: module lib.rates changed inside the definition of factor; the build loads 1 of " \
           "the 2 assets" in fast.stderr, fast.stderr
    assert fast.returncode == 0 and built(fast.stdout) == ["held"]


CALLED_PROJECT = {
    "AssetFile": ('from assetbuild import asset\n\nfrom lib import fns\n\n\ndef compute():\n    return 1\n\n\n'
                  'asset(compute, io="json")\nasset(compute, name="other", io="json")\nmoved = asset(fns.moved, io="json")\n'
                  '\n\n@asset(io="json")\ndef a():\n    return 5\n\n\nasset(a, name="a2", io="json")\n'
                  '\n\n@asset(io="json")\ndef reader(moved):\n    return moved * 10\n'),
    "lib/__init__.py": "",
    "lib/fns.py": "def moved():\n    return 3\n",
}


@pytest.mark.parametrize("path, old, new, ran", [
    ("AssetFile", "return 1", "return 2", ["compute", "other"]),
    ("AssetFile", "return 5", "return 6", ["a", "a2"]),
    ("lib/fns.py", "return 3", "return 4", ["moved", "reader"]),
])
def test_an_edit_of_the_function_an_asset_was_declared_of_by_a_call_builds_it(tmp_path: Path, path: str, old: str,
                                                                               new: str, ran: list[str]) -> None:
    """``asset(compute)`` declares an asset of a plain function: its fingerprint's root is that
    function, never one of its parts, and the graph keeps it (``codetable.reaching``); again
    after a slice patched the table."""
    a, b = snapshot_twins(tmp_path, CALLED_PROJECT)
    for before, after in ((old, new), (new, new.replace(new[-1], "9"))):
        edit(a, b, before, after, path)
        fast, _ = both(a, b)
        assert "changed inside the definition of" in fast.stderr, fast.stderr
        assert fast.returncode == 0 and built(fast.stdout) == ran
    assert explain(a)[1] == "snapshot: answers"
