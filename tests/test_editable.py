"""A library installed editable outside the project (``pip install -e ../mylib``, a monorepo's
shared package) enters keys by its version and its source: an edit of its code reruns the
assets that call it, in the full path, the null build's fast path and a dry run; a process that
imported the old code refuses to build again. A real ``pip install -e`` into a real venv, with
a build backend of the standard library only (in the library's folder), in the two shapes
installers give: a ``.pth`` naming the folder (flit, hatch) and an import finder mapping the
package to its folder (setuptools)."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from projects import clean_env, write

SRC = str(Path(__file__).resolve().parent.parent / "src")

# A PEP 660 backend: the editable wheel holds the dist-info and, by STYLE, a .pth naming the
# library's folder or a .pth that installs an import finder (setuptools' shape, cut short).
BACKEND = '''
import base64, hashlib, os, zipfile
NAME, VERSION, TOP, STYLE = {name!r}, "0.1", "mylib", {style!r}
HERE = os.path.dirname(os.path.abspath(__file__))
FINDER = """import sys
from importlib.util import spec_from_file_location
from pathlib import Path
MAPPING = {{%r: %r}}
class _EditableFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname in MAPPING:
            where = Path(MAPPING[fullname])
            return spec_from_file_location(fullname, where / "__init__.py", submodule_search_locations=[str(where)])
        return None
def install():
    if not any(f is _EditableFinder for f in sys.meta_path):
        sys.meta_path.append(_EditableFinder)
""" % (TOP, os.path.join(HERE, TOP))

def get_requires_for_build_editable(config_settings=None):
    return []

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    dist = NAME.replace("-", "_") + "-" + VERSION
    info = dist + ".dist-info"
    files = {{info + "/METADATA": "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (NAME, VERSION),
             info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
             info + "/top_level.txt": TOP + "\\n"}}
    if STYLE == "pth":
        files["_" + TOP + "_editable.pth"] = HERE + "\\n"
    else:
        files["__editable___" + TOP + "_finder.py"] = FINDER
        files["__editable__." + TOP + ".pth"] = "import __editable___%s_finder; __editable___%s_finder.install()\\n" % (TOP, TOP)
    record = []
    for rel, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (rel, digest, len(data)))
    record.append(info + "/RECORD,,")
    files[info + "/RECORD"] = "\\n".join(record) + "\\n"
    name = dist + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for rel, text in files.items():
            z.writestr(rel, text)
    return name
'''

ASSETFILE = ('from assetbuild import asset\nimport mylib\n\n\n'
             '@asset(path="out.json", io="json")\ndef out():\n    return mylib.value()\n')


def _core(value: str) -> str:
    return f"def value():\n    return {value}\n"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv that runs this tree's assetbuild, and pip (from this interpreter's site directory)."""
    where = tmp_path_factory.mktemp("editable") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    (packages,) = where.glob("lib/python*/site-packages")
    (packages / "_dev.pth").write_text(f"{SRC}\n{site.getsitepackages()[0]}\n")
    return where


def _env(**extra: str) -> dict[str, str]:
    env = clean_env(**extra)
    env.pop("PYTHONPATH", None)  # (the venv's .pth puts this tree's src first)
    return env


def _installed(tmp_path: Path, venv: Path, style: str, name: str) -> tuple[Path, Path]:
    """``mylib`` (distribution ``name``) in ``tmp_path/shared``, installed editable into
    ``venv`` (a fresh copy of its site directory's editable files each test), and a project
    beside it whose asset calls it."""
    lib, proj = tmp_path / "shared", tmp_path / "proj"  # (not named as its package: a folder the working directory would import)
    (packages,) = venv.glob("lib/python*/site-packages")
    for p in packages.iterdir():  # the last test's install, gone
        if p.name != "_dev.pth":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    write(lib, {"pyproject.toml": f'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
                                  f'[project]\nname = "{name}"\nversion = "0.1"\n',
                "backend.py": BACKEND.format(name=name, style=style),
                "mylib/__init__.py": "from .core import value\n", "mylib/core.py": _core("1")})
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                        "--no-index", "--disable-pip-version-check", "-e", str(lib)],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import mylib; print(mylib.__file__)"],
                           capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert where.stdout.strip() == str(lib / "mylib" / "__init__.py"), where.stdout + where.stderr
    write(proj, {"AssetFile": ASSETFILE})
    return lib, proj


def _run(venv: Path, proj: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "assetbuild", *args], cwd=proj, capture_output=True,
                       text=True, env=_env(**env), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _would_run(venv: Path, proj: Path, **env: str) -> list[str]:
    doc = json.loads(_run(venv, proj, "-n", "--json", **env).stdout)
    return [e["asset"] for e in doc["results"] if e["status"] != "cached"]


def _answers(venv: Path, proj: Path) -> bool:
    """Whether the null build's snapshot answers now (without loading the AssetFile)."""
    return "snapshot: answers" in _run(venv, proj, "-n", ASSETBUILD_SNAPSHOT="explain").stderr


@pytest.mark.parametrize(("style", "name"), [("pth", "mylib"), ("finder", "my-shared-lib")],
                         ids=["pth", "finder-other-name"])
def test_an_edit_of_an_editable_library_reruns_its_readers(tmp_path: Path, venv: Path, style: str, name: str) -> None:
    """Edited, ``mylib/core.py`` changes the asset's key: a dry run (fast path and full path)
    says it would run, and the build runs it and stores the new value. A module added to the
    library, then edited, the same. A build that changes nothing runs nothing, and the snapshot
    answers it. (``my-shared-lib`` provides ``mylib``: the import-name map's path.)"""
    lib, proj = _installed(tmp_path, venv, style, name)
    _run(venv, proj, ASSETBUILD_CHECK_SNAPSHOT="0")
    _run(venv, proj, ASSETBUILD_CHECK_SNAPSHOT="0")  # (records the snapshot: the first wrote its outputs racy)
    assert _answers(venv, proj)
    (lib / "mylib" / "core.py").write_text(_core("2"))
    assert _would_run(venv, proj) == ["out"]  # the fast path: the snapshot sees the edit, and falls back
    assert _would_run(venv, proj, ASSETBUILD_SNAPSHOT="0") == ["out"]
    _run(venv, proj, ASSETBUILD_CHECK_SNAPSHOT="0")
    assert json.loads((proj / "out.json").read_text()) == 2
    assert _would_run(venv, proj, ASSETBUILD_SNAPSHOT="0") == []
    write(lib, {"mylib/extra.py": "X = 4\n", "mylib/core.py": "from .extra import X\n\n\n" + _core("X")})
    assert _would_run(venv, proj) == ["out"]
    _run(venv, proj)
    assert json.loads((proj / "out.json").read_text()) == 4
    _run(venv, proj)
    (lib / "mylib" / "extra.py").write_text("X = 55\n")  # (another size: Python takes a .pyc of the same second and size)
    assert _would_run(venv, proj) == _would_run(venv, proj, ASSETBUILD_SNAPSHOT="0") == ["out"]
    _run(venv, proj)
    assert json.loads((proj / "out.json").read_text()) == 55
    (lib / "mylib" / "extra.py").unlink()
    (lib / "mylib" / "core.py").write_text(_core("1"))  # undone: the first value, from the cache
    assert json.loads(_run(venv, proj, "--json").stdout)["results"][0]["status"] == "restored"
    assert json.loads((proj / "out.json").read_text()) == 1


def test_a_process_that_imported_an_editable_library_refuses_to_build_after_an_edit(tmp_path: Path,
                                                                                    venv: Path) -> None:
    """A notebook (one process) builds, the library is edited, and it builds again: its
    ``mylib`` is still the old code, which would be stored under the new code's key. The build
    is refused in one line; a new process builds the new value."""
    lib, proj = _installed(tmp_path, venv, "finder", "mylib")
    code = textwrap.dedent(f"""\
        import json, pathlib
        import assetbuild
        from assetbuild.errors import LibraryChanged
        root = {str(proj)!r}
        steps = [assetbuild.build(project_dir=root).names("built")]
        pathlib.Path({str(lib / "mylib" / "core.py")!r}).write_text({_core("2")!r})
        try:
            assetbuild.build(project_dir=root)
            steps.append("built")
        except LibraryChanged as e:
            steps.append(str(e))
        print(json.dumps(steps))
        """)
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, env=_env(),
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == [["out"], (
        "library mylib: this Python process imported its code before an edit (it is installed editable): an "
        "asset would run the old code under the new code's key; restart the Python process (in a notebook, "
        "the kernel) and build again")]
    _run(venv, proj)
    assert json.loads((proj / "out.json").read_text()) == 2


def test_a_build_that_changes_nothing_reads_no_library_file(tmp_path: Path, venv: Path) -> None:
    """The digest is kept by the files' signatures: the full path of a build where nothing
    changed lists the library's folders and opens none of its files (``mylib``'s import by the
    AssetFile aside, which reads compiled code from ``__pycache__``)."""
    lib, proj = _installed(tmp_path, venv, "pth", "mylib")
    time.sleep(2.1)  # (its files' signatures older than the racy window, ctimes too: they can be kept)
    _run(venv, proj, ASSETBUILD_SNAPSHOT="0")
    code = textwrap.dedent(f"""\
        import builtins, io, json, pathlib, sys
        import assetbuild
        opened = []
        lib = {str(lib / "mylib")!r}
        real_open = io.open
        def spy(file, *a, **k):
            if str(file).startswith(lib) and str(file).endswith(".py"):
                opened.append(str(file))
            return real_open(file, *a, **k)
        io.open = builtins.open = spy
        result = assetbuild.build(project_dir={str(proj)!r})
        print(json.dumps([result.names("built"), [o for o in opened if "core" in o or "__init__" in o]]))
        """)
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                       env=_env(ASSETBUILD_SNAPSHOT="0"), timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == [[], []]
    assert json.loads((proj / ".assetbuild" / "code" / ".editable.json").read_text())["entries"]


def _poll(path: Path, want: object, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(path.read_text()) == want:
                return
        except (OSError, ValueError):
            pass
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    proc.terminate()
    raise AssertionError(f"{path.name} never held {want!r}: {proc.communicate(timeout=20)[0]}")


@pytest.mark.parametrize("command", ["watch", "run"])
def test_watch_and_run_take_an_edit_of_an_editable_library(tmp_path: Path, venv: Path, command: str) -> None:
    """``watch`` rebuilds what reads an editable library when its source is edited, or a module
    is added to it (its folder, outside the project, is watched), and ``run`` builds an eager
    asset from the edited code: each imports the library again, where keeping the old module
    would refuse every build after the edit ("restart the Python process"). (Both shapes of
    install: watch with the ``.pth``, run with the import finder.)"""
    lib, proj = _installed(tmp_path, venv, "finder" if command == "run" else "pth", "mylib")
    if command == "run":
        write(proj, {"AssetFile": ASSETFILE.replace('io="json")', 'io="json", auto="eager")')})
        args = ["run", "--tick", "0.2"]
    else:
        args = ["watch", "--debounce", "30"]
    proc = subprocess.Popen([str(venv / "bin" / "python"), "-m", "assetbuild", *args], cwd=proj, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _poll(proj / "out.json", 1, proc)
        time.sleep(0.5)  # (watch: the first cycle's set of what to watch is in place)
        (lib / "mylib" / "core.py").write_text(_core("22"))  # (another size: a .pyc of the same second)
        _poll(proj / "out.json", 22, proc)
        write(lib, {"mylib/extra/__init__.py": "X = 4444\n"})
        (lib / "mylib" / "core.py").write_text("from .extra import X\n\n\n" + _core("X"))
        _poll(proj / "out.json", 4444, proc)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert "restart the Python process" not in out, out
    if command == "watch":
        assert "1 editable library folder" in out, out


def test_a_library_edited_while_the_project_loads_is_refused_not_keyed(tmp_path: Path, venv: Path) -> None:
    """The library is saved after the AssetFile imported it and before the keys were made (an
    editor's "save all" under a build or a watch cycle): the key named the new code, the asset
    ran the old one, and every later build answered "cached" with the old code's value. Such a
    build is refused in one line (exit 2); the next one builds the new code. (The AssetFile
    plays the editor: it saves the library once, as it loads. A digest made before, kept in the
    cache, says which files to look at as the load begins.)"""
    lib, proj = _installed(tmp_path, venv, "finder", "mylib")
    core = lib / "mylib" / "core.py"
    _run(venv, proj)
    write(proj, {"AssetFile": ASSETFILE.replace("import mylib\n", (
        f"import mylib, pathlib\n_core = pathlib.Path({str(core)!r})\n"
        f"if _core.read_text() != {_core('22')!r}:\n    _core.write_text({_core('22')!r})\n"))})
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "assetbuild"], cwd=proj, capture_output=True, text=True,
                       env=_env(), timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"library mylib: {core} changed while the project loaded" in r.stderr, r.stderr
    assert json.loads((proj / "out.json").read_text()) == 1  # (the first build's)
    _run(venv, proj)
    assert json.loads((proj / "out.json").read_text()) == 22
    assert _would_run(venv, proj, ASSETBUILD_SNAPSHOT="0") == []


def test_watch_recovers_from_a_library_edited_while_a_cycle_loads(tmp_path: Path, venv: Path) -> None:
    """An edit of the library lands after a watch cycle began its load (the AssetFile plays the
    editor when ``edit-now`` exists): that cycle is refused ("changed while the project loaded"),
    and the save's own event brings a cycle that imports the edited code and builds it. (Keeping
    the old module, every later cycle was refused: "restart the Python process".)"""
    lib, proj = _installed(tmp_path, venv, "pth", "mylib")
    core = lib / "mylib" / "core.py"
    assetfile = ASSETFILE.replace("import mylib\n", (
        f"import mylib, os, pathlib\nif os.path.exists('edit-now'):\n    os.remove('edit-now')\n"
        f"    pathlib.Path({str(core)!r}).write_text({_core('333')!r})\n"))
    write(proj, {"AssetFile": assetfile})
    proc = subprocess.Popen([str(venv / "bin" / "python"), "-m", "assetbuild", "watch", "--debounce", "30"],
                            cwd=proj, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _poll(proj / "out.json", 1, proc)
        time.sleep(0.5)
        (proj / "edit-now").touch()
        (proj / "AssetFile").write_text(assetfile + "\n")  # a save of the AssetFile: a cycle
        _poll(proj / "out.json", 333, proc)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert "changed while the project loaded" in out, out
    assert "restart the Python process" not in out, out


def test_an_edit_in_a_symlinked_folder_of_an_editable_library_reruns_its_readers(tmp_path: Path, venv: Path) -> None:
    """A subpackage that is a link to a folder elsewhere (code shared by a monorepo) is imported
    through the link: its files are the library's source too, and an edit there reruns the
    asset, in the full path and the fast one. A link back up to the library is walked once."""
    lib, proj = _installed(tmp_path, venv, "pth", "mylib")
    write(tmp_path / "elsewhere", {"sub/__init__.py": "", "sub/impl.py": "def g():\n    return 1\n"})
    (lib / "mylib" / "sub").symlink_to(tmp_path / "elsewhere" / "sub")
    (tmp_path / "elsewhere" / "sub" / "up").symlink_to(lib / "mylib")  # (a loop, as an import would not follow)
    (lib / "mylib" / "core.py").write_text("from .sub.impl import g\n\n\ndef value():\n    return g()\n")
    _run(venv, proj, ASSETBUILD_CHECK_SNAPSHOT="0")
    _run(venv, proj, ASSETBUILD_CHECK_SNAPSHOT="0")
    assert _answers(venv, proj)
    (tmp_path / "elsewhere" / "sub" / "impl.py").write_text("def g():\n    return 22\n")
    assert _would_run(venv, proj) == _would_run(venv, proj, ASSETBUILD_SNAPSHOT="0") == ["out"]
    _run(venv, proj)
    assert json.loads((proj / "out.json").read_text()) == 22
