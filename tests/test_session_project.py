"""session.project's path checks: the cache directory inside a declared source is refused,
whatever symlinks the source's path goes through (each source's directory is resolved once); no
output may be the project's own code or nest in another asset's file; ``Project.claims``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from projects import clean_env, cli

from assetbuild.errors import StoreError
from assetbuild.session.aliases import resolved_sources
from assetbuild.session.project import _check_cache_outside_sources, open_project


def test_resolved_sources_are_os_realpath(tmp_path: Path) -> None:
    """Each directory holding sources is resolved once, and listed once when it holds more than
    a few (its symlinks from the listing): each source's resolved path is still realpath's."""
    d = str(tmp_path)
    os.makedirs(f"{d}/real/sub")
    Path(f"{d}/real/f.txt").write_text("x")
    os.symlink(f"{d}/real", f"{d}/link")
    os.symlink(f"{d}/real/f.txt", f"{d}/real/lf")
    os.symlink("sub", f"{d}/real/ls")
    os.symlink(f"{d}/loop", f"{d}/loop")
    paths = [f"{d}/real/f.txt", f"{d}/link/f.txt", f"{d}/link/lf", f"{d}/link/ls", f"{d}/link/missing",
             f"{d}/nope/x", f"{d}/link/sub", f"{d}/loop", f"{d}/loop/x", "/", d, f"{d}/real/f.txt/x"]
    many = [f"{d}/link/{n}" for n in ("f.txt", "lf", "ls", "sub", "missing", "a", "b", "c", "e", "g")]
    for chosen in (paths, many):  # (few per directory: an lstat each; many: the directory listed)
        got = resolved_sources({p: f"rel{i}" for i, p in enumerate(chosen)})
        assert {p: real for p, real, _ in got} == {p: os.path.realpath(p) for p in chosen}, chosen


def test_a_cache_inside_a_source_reached_through_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "inputs").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "inputs" / "data")
    sources = resolved_sources({str(tmp_path / "inputs" / "data"): "inputs/data",
                                str(tmp_path / "inputs" / "a.txt"): "inputs/a.txt"})
    with pytest.raises(StoreError, match="inside the declared source inputs/data"):
        _check_cache_outside_sources(tmp_path / "data" / "sub" / ".cache", sources)
    _check_cache_outside_sources(tmp_path / ".assetbuild", sources)  # outside every source: accepted


CODE = """
from assetbuild import asset
import lib.helpers

@asset({decl})
def a({param}):
    return "A\\n"
"""


@pytest.mark.parametrize(("decl", "words"), [
    ('io="text", path="AssetFile"', "writes AssetFile, which is the AssetFile"),
    ('io="text", path="lib/helpers.py"', "writes lib/helpers.py, which is the project module lib/helpers.py"),
    ('io="text", path="lib"', "writes lib, which is a directory holding the project module lib/__init__.py"),
    ('outputs=["AssetFile"]', "writes AssetFile (outputs=), which is the AssetFile"),
    ('outputs=["lib/"]', "writes lib/ (outputs=), which is a directory holding the project module lib/__init__.py"),
])
def test_an_output_that_is_the_projects_code_is_refused_and_nothing_is_written(tmp_path: Path, decl: str,
                                                                              words: str) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("")
    (tmp_path / "lib" / "helpers.py").write_text("X = 1\n")
    text = CODE.format(decl=decl, param="context" if "outputs" in decl else "")
    (tmp_path / "AssetFile").write_text(text)
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"AssetFile:5: asset 'a' {words}: the build would overwrite the project's own code" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert (tmp_path / "AssetFile").read_text() == text and (tmp_path / "lib" / "helpers.py").read_text() == "X = 1\n"


def test_a_path_output_inside_another_assets_file_is_refused_whatever_the_order(tmp_path: Path) -> None:
    a = '@asset(io="text", path="build/x.txt")\ndef a():\n    return "a"\n'
    b = '@asset(io="text", path="build/x.txt/y")\ndef b():\n    return "b"\n'
    for first, second, inner, outer, line in ((a, b, "b", "a", 5), (b, a, "b", "a", 2)):
        (tmp_path / "AssetFile").write_text("from assetbuild import asset\n" + first + second)
        r = cli("build", cwd=tmp_path, env=clean_env())
        assert r.returncode == 2, r.stdout + r.stderr
        assert (f"AssetFile:{line}: asset {inner!r} writes build/x.txt/y, inside build/x.txt, which asset "
                f"{outer!r} writes as a file") in r.stderr, r.stderr
        assert not (tmp_path / "build").exists()


@pytest.mark.parametrize(("a", "b", "words"), [
    ('path="build/x.json"', 'path="alias/x.json"', "asset 'a' (path 'build/x.json') and asset 'b' (path "
     "'alias/x.json') are one file, build/x.json, through a symlinked directory: a file in the project can have "
     "only one owner; declare one path"),
    ('path="alias/x.json"', 'path="build/x.json"', "asset 'a' (path 'alias/x.json') and asset 'b' (path "
     "'build/x.json') are one file, build/x.json"),
    ('outputs=["build/site/"]', 'path="alias/site/x.json"', "asset 'b' (path 'alias/site/x.json') lies inside "
     "asset 'a' (outputs 'build/site/'): through a symlinked directory, build/site/x.json is inside build/site"),
    ('path="alias/x.json/y"', 'path="build/x.json"', "asset 'a' (path 'alias/x.json/y') lies inside asset 'b' "
     "(path 'build/x.json')"),
])
def test_two_outputs_that_are_one_file_through_a_symlinked_directory_are_refused(tmp_path: Path, a: str, b: str,
                                                                                  words: str) -> None:
    """``alias -> build``: ``alias/x.json`` is ``build/x.json``. Two assets writing it were
    accepted (the paths differ as text), and every build restored one over the other, calling
    its own write "changed outside assetbuild". A definition error naming both, at the line
    of the one checked second, before anything is written."""
    (tmp_path / "build").mkdir()
    (tmp_path / "alias").symlink_to("build")
    (tmp_path / "AssetFile").write_text(
        f"from assetbuild import asset\n\n@asset({a if 'outputs' in a else 'io=' + repr('json') + ', ' + a})\n"
        f"def a({'context' if 'outputs' in a else ''}):\n    return {'None' if 'outputs' in a else 1}\n\n"
        f"@asset(io='json', {b})\ndef b():\n    return 2\n")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 2, r.stdout + r.stderr
    assert re.search(r"AssetFile:[37]: " + re.escape(words), r.stderr), r.stderr
    assert "Traceback" not in r.stderr and os.listdir(tmp_path / "build") == []


def test_outputs_written_through_a_symlinked_directory_are_accepted(tmp_path: Path) -> None:
    """The README's way to keep outputs on another disk: a symlinked directory above them."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "build").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "proj" / "AssetFile").write_text(
        "from assetbuild import asset\n\n@asset(io='json', path='build/x.json')\ndef a():\n    return 1\n\n"
        "@asset(io='json', path='build/sub/y.json')\ndef b():\n    return 2\n\n"
        "@asset(outputs=['build/site/'])\ndef c(context):\n    site = context.out('build/site/')\n"
        "    site.mkdir(exist_ok=True)\n    (site / 'i.html').write_text('i')\n")
    r = cli("build", cwd=tmp_path / "proj", env=clean_env())
    assert r.returncode == 0 and "3 built" in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "elsewhere" / "x.json").read_text() == "1"
    r = cli("build", cwd=tmp_path / "proj", env=clean_env())
    assert r.returncode == 0 and "0 built, 3 cached, 0 restored" in r.stdout, r.stdout + r.stderr


def test_claims_name_the_code_the_outputs_and_the_sources(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("")
    (tmp_path / "lib" / "helpers.py").write_text("X = 1\n")
    (tmp_path / "AssetFile").write_text(
        "from assetbuild import asset, source\nimport lib.helpers\nraw = source('raw', 'data/raw.txt')\n"
        "@asset(io='text', path='out/a.txt')\ndef a(raw):\n    return ''\n"
        "@asset(outputs=['site/'])\ndef b(context):\n    return None\n")
    with open_project(tmp_path) as project:
        assert project.claims() == {
            "AssetFile": "the AssetFile", "lib/__init__.py": "the project module lib/__init__.py",
            "lib/helpers.py": "the project module lib/helpers.py", "data/raw.txt": "the source 'raw'",
            "out/a.txt": "an output of asset 'a'", "site": "an output of asset 'b'"}


def test_a_project_file_named_like_a_module_assetbuild_imported_first_is_warned_about(tmp_path: Path) -> None:
    """json.py beside the AssetFile: the build's process has the standard library's json already,
    a worker process would import the project's, so the two would run other code under one key."""
    (tmp_path / "json.py").write_text("def dumps(x):\n    return 'SHADOW'\n")
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("")
    (tmp_path / "AssetFile").write_text("import json\nimport helpers\nfrom assetbuild import asset\n\n"
                                        "@asset(io='text')\ndef j():\n    return json.dumps({'a': 1})\n")
    # (from another directory: ``python -m`` puts its working directory first on sys.path)
    r = cli("-C", str(tmp_path), "build", cwd=tmp_path.parent, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("warning: json.py in the project has the name of the module 'json', which assetbuild imported "
                        "first: `import json` gives that one in the build's process and yours in a worker process "
                        "(-j), under the same key; rename json.py\n"), r.stderr
    (tmp_path / "json.py").rename(tmp_path / "jsonish.py")
    r = cli("-C", str(tmp_path), "build", cwd=tmp_path.parent, env=clean_env())
    assert r.returncode == 0 and r.stderr == "", r.stderr  # helpers/: the project's own package, imported from it


def test_python_m_assetbuild_in_a_project_with_json_py_is_the_command(tmp_path: Path) -> None:
    """``python -m`` puts its working directory first on sys.path, so assetbuild's own lazy
    ``import json`` (the store's, after the AssetFile loaded) found the project's json.py: a
    traceback. It runs as the ``assetbuild`` command does, which has no such entry."""
    (tmp_path / "json.py").write_text("def dumps(x):\n    return 'SHADOW'\n")
    (tmp_path / "AssetFile").write_text("import json\nfrom assetbuild import asset\n\n@asset(io='text')\n"
                                        "def j():\n    return json.dumps([1])\n")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("warning: json.py in the project has the name of the module 'json', which "
                               "assetbuild imported first") and r.stderr.count("\n") == 1, r.stderr
    assert cli("show", "j", cwd=tmp_path, env=clean_env()).stdout == "[1]\n"  # the standard library's dumps


def test_assetbuild_run_from_its_own_clone_is_not_warned_about(tmp_path: Path) -> None:
    """The demo: the README builds the AssetFile at the root of assetbuild's clone, whose
    ``assetbuild/`` is the package that runs, not a file shadowing it."""
    import assetbuild

    (tmp_path / "assetbuild").symlink_to(Path(assetbuild.__file__).parent)
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='text')\ndef a():\n    return 'x'\n")
    r = cli("build", cwd=tmp_path, env=clean_env())  # ``python -m``: the clone's package comes first
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_an_assetfile_that_declares_nothing_is_said(tmp_path: Path) -> None:
    """A function without @asset is no asset: the build said '0 built' and nothing else."""
    (tmp_path / "AssetFile").write_text("def orders():\n    return [1, 2]\n")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0
    assert r.stderr == ("warning: AssetFile declares no asset or source: a function is an asset once decorated "
                        "with @asset\n"), r.stderr
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset\ndef orders():\n    return [1, 2]\n")
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and r.stderr == "", r.stderr


SOURCE_AND_CODE = """
from assetbuild import asset, source
import lib.helpers
inp = source("inp", "data/in.txt")

@asset({decl})
def a({param}):
    return {value}
"""


@pytest.mark.parametrize(("link", "decl", "words"), [
    (("root", "."), 'outputs=["root/data/"]', "asset 'a' (outputs 'root/data/') holds the source 'inp' "
     "(data/in.txt): through a symlinked directory, it is data;"),
    (("d", "data"), 'io="text", path="d/in.txt"', "asset 'a' (path 'd/in.txt') is the source 'inp' (data/in.txt): "
     "through a symlinked directory, it is data/in.txt;"),
    (("g", ".git"), 'io="text", path="g/description"', "asset 'a' (path 'g/description') lies inside the "
     "repository's .git: through a symlinked directory, it is .git/description;"),
    (("root", "."), 'io="text", path="root/lib/helpers.py"', "asset 'a' (path 'root/lib/helpers.py') is the "
     "project module lib/helpers.py: through a symlinked directory, it is lib/helpers.py;"),
    (("root", "."), 'io="text", path="root/AssetFile"', "asset 'a' (path 'root/AssetFile') is the AssetFile"),
    (("lnk", ".assetbuild"), 'io="text", path="lnk/STORE"', "asset 'a' (path 'lnk/STORE') lies inside the cache "
     "directory: through a symlinked directory, it is .assetbuild/STORE;"),
])
def test_an_output_reached_through_a_symlink_that_is_protected_is_refused(tmp_path: Path, link: tuple[str, str],
                                                                         decl: str, words: str) -> None:
    """Sources, the project's code, .git and the cache were protected only as declared text:
    through ``root -> .`` a build emptied data/ (a declared directory's extras), overwrote a
    source, a module, the AssetFile, .git/description or the cache's STORE, and exited 0."""
    for d in ("data", "lib", ".git", ".assetbuild"):
        (tmp_path / d).mkdir()
    files = {"data/in.txt": "hi\n", "data/other.csv": "precious\n", "lib/__init__.py": "", "lib/helpers.py": "X = 1\n",
             ".git/description": "my repo\n"}
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    (tmp_path / link[0]).symlink_to(link[1])
    outputs = "outputs" in decl
    text = SOURCE_AND_CODE.format(decl=decl, param="inp, context" if outputs else "inp",
                                  value="None" if outputs else '"OVERWRITTEN"')
    (tmp_path / "AssetFile").write_text(text)
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"AssetFile:6: {words}" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (tmp_path / "AssetFile").read_text() == text
    assert {rel: (tmp_path / rel).read_text() for rel in files} == files


def test_an_outputs_directory_through_a_symlink_holding_an_outside_cache_is_refused(tmp_path: Path) -> None:
    """``out -> ext`` with the cache in ``ext/files/cache``: each build of ``out/files/`` removed
    the cache as the directory's extras, and rebuilt everything."""
    (tmp_path / "ext" / "files").mkdir(parents=True)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "out").symlink_to(tmp_path / "ext")
    (tmp_path / "p" / "AssetFile").write_text(
        "from assetbuild import asset\n\n@asset(outputs=['out/files/'])\ndef b(context):\n"
        "    (context.out('out/files/') / 'x.txt').write_text('x')\n")
    r = cli("--cache-dir", str(tmp_path / "ext" / "files" / "cache"), "build", cwd=tmp_path / "p", env=clean_env())
    assert r.returncode == 2, r.stdout + r.stderr
    assert (f"AssetFile:3: asset 'b' (outputs 'out/files/') holds the cache directory: through a symlinked "
            f"directory, it is {tmp_path / 'ext' / 'files'};") in r.stderr, r.stderr


def test_a_cache_directory_in_an_unknown_users_home_is_one_line(tmp_path: Path) -> None:
    """``--cache-dir '~nosuchuser/cache'`` (or the same in ASSETBUILD_CACHE_DIR) raised
    ``RuntimeError: Could not determine home directory`` as a traceback, exit 1."""
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='json')\ndef a():\n    return 1\n")
    for args, env in ((("--cache-dir", "~nosuchuser_zz/cache", "status"), {}),
                      (("clean", "--yes"), {"ASSETBUILD_CACHE_DIR": "~nosuchuser_zz/cache"})):
        r = cli(*args, cwd=tmp_path, env={**clean_env(), **env})
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert ("the cache directory '~nosuchuser_zz/cache' names a home directory that cannot be found "
                "(no such user?)") in r.stderr, r.stderr


def test_a_path_changed_to_the_same_file_through_a_symlinked_alias_is_no_orphan(tmp_path: Path) -> None:
    """``path="out/a.json"`` changed to ``path="alias/a.json"`` with ``alias -> out``: the build
    warned of an orphaned output, and ``clean --orphans`` deleted the live one."""
    (tmp_path / "AssetFile").write_text("from assetbuild import asset\n\n@asset(io='json', path='out/a.json')\n"
                                        "def a():\n    return 1\n")
    assert cli("build", cwd=tmp_path, env=clean_env()).returncode == 0
    (tmp_path / "alias").symlink_to("out")
    (tmp_path / "AssetFile").write_text((tmp_path / "AssetFile").read_text().replace("out/a.json", "alias/a.json"))
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "orphaned" not in r.stderr, r.stdout + r.stderr
    r = cli("clean", "--orphans", "--yes", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and (tmp_path / "out" / "a.json").read_text() == "1", r.stdout + r.stderr
    r = cli("build", cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "0 built, 1 cached, 0 restored" in r.stdout, r.stdout + r.stderr
