"""Library versions in keys: which distribution an import name comes from, looked up cheaply
(the import-name map made once per process and kept in the cache directory) and the same
whether or not the library is imported yet. Real distributions on a temporary sys.path entry,
each process a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from projects import clean_env, cli, write

# What each probe prints: the answers for the names asked, and how many times every installed
# distribution was scanned in that process (to make the import-name map).
_PROBE = """
import json, sys
from importlib import metadata
calls = []
real = metadata.distributions
def counting(**kw):
    calls.append(1)
    return real(**kw)
metadata.distributions = counting
sys.path.insert(0, {site!r})
{before}
from assetbuild.session.project import _distribution_version
{lookup}
print(json.dumps({{"answers": answers, "scans": len(calls)}}))
"""


def _install(site: Path, dist: str, version: str, top: str, module_version: str = "0.0.dev0") -> None:
    """A distribution as pip leaves it: its package and a dist-info naming it."""
    info = f"{dist}-{version}.dist-info"
    write(site, {
        f"{top}/__init__.py": f"__version__ = {module_version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        f"{info}/top_level.txt": f"{top}\n",
        f"{info}/RECORD": f"{top}/__init__.py,,\n{info}/METADATA,,\n{info}/top_level.txt,,\n{info}/RECORD,,\n",
    })


def _probe(site: Path, names: list[str], *, before: str = "", cache_dir: Path | None = None,
           persist: bool = False) -> dict:
    if cache_dir is None:
        lookup = f"answers = [_distribution_version(n) for n in {names!r}]"
    else:
        lookup = textwrap.dedent(f"""\
            from pathlib import Path
            from assetbuild.session.distributions import DISTRIBUTIONS
            DISTRIBUTIONS.refresh()
            answers = [DISTRIBUTIONS.version(n, cache_dir=Path({str(cache_dir)!r}), persist={persist})
                       for n in {names!r}]""")
    code = _PROBE.format(site=str(site), before=before, lookup=lookup)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_version_is_the_same_imported_or_not(tmp_path):
    """The module says 9.9.dev0, its distribution 1.0: the key must not depend on whether an
    asset imported the library earlier in this process."""
    site = tmp_path / "site"
    _install(site, "fakedist", "1.0", "fakemod", module_version="9.9.dev0")
    _install(site, "samename", "2.5", "samename", module_version="2.5-from-module")
    fresh = _probe(site, ["fakemod", "samename"])
    imported = _probe(site, ["fakemod", "samename"], before="import fakemod, samename")
    assert fresh["answers"] == imported["answers"] == ["1.0", "2.5"]


def test_a_name_no_distribution_provides_has_no_version_imported_or_not(tmp_path):
    site = tmp_path / "site"
    write(site, {"loose/__init__.py": "__version__ = '3.0'\n"})
    assert _probe(site, ["loose"])["answers"] == [None]
    assert _probe(site, ["loose"], before="import loose")["answers"] == [None]


def test_the_import_name_map_is_made_once_per_process(tmp_path):
    site = tmp_path / "site"
    _install(site, "fakedist", "1.0", "fakemod")
    _install(site, "otherdist", "4.2", "othermod")
    r = _probe(site, ["fakemod", "othermod", "fakemod", "not_installed_anywhere"])
    assert r["answers"] == ["1.0", "4.2", "1.0", None]
    assert r["scans"] == 1


def test_the_map_is_kept_in_the_cache_and_made_again_after_an_install(tmp_path):
    site, cache = tmp_path / "site", tmp_path / "cache"
    cache.mkdir()
    _install(site, "fakedist", "1.0", "fakemod")
    kept = cache / "code" / ".distributions.json"

    first = _probe(site, ["fakemod"], cache_dir=cache, persist=True)
    assert first == {"answers": ["1.0"], "scans": 1}
    assert kept.is_file()
    again = _probe(site, ["fakemod"], cache_dir=cache, persist=True)
    assert again == {"answers": ["1.0"], "scans": 0}, "the kept map is used: no scan"

    plain = tmp_path / "plain"  # a path entry without distributions (the project, the working directory)
    plain.mkdir()
    on_path = f"sys.path.insert(0, {str(plain)!r})"
    assert _probe(site, ["fakemod"], before=on_path, cache_dir=cache, persist=True)["scans"] == 1
    (plain / "output.txt").write_text("written by a build")
    assert _probe(site, ["fakemod"], before=on_path, cache_dir=cache, persist=True)["scans"] == 0, \
        "a file written where no distribution lives does not make the map again"

    _install(site, "newdist", "0.3", "newmod")  # a package installed: its site directory changes
    after = _probe(site, ["fakemod", "newmod"], cache_dir=cache, persist=True)
    assert after == {"answers": ["1.0", "0.3"], "scans": 1}
    assert _probe(site, ["newmod"], cache_dir=cache, persist=True)["scans"] == 0

    import shutil  # an upgrade: pip replaces the dist-info directory

    shutil.rmtree(site / "fakedist-1.0.dist-info")
    _install(site, "fakedist", "1.1", "fakemod")
    assert _probe(site, ["fakemod", "newdist"], cache_dir=cache, persist=True) == {"answers": ["1.1", "0.3"],
                                                                                   "scans": 1}
    assert _probe(site, ["fakemod"], cache_dir=cache, persist=False) == {"answers": ["1.1"], "scans": 0}


def test_a_version_edited_in_place_in_its_metadata_makes_the_kept_map_again(tmp_path):
    """An egg-info whose folder name holds no version (``setup.py develop``), its PKG-INFO
    rewritten in place with the next version: no sys.path folder's time changes, and the kept
    map must not answer the old version."""
    site, cache = tmp_path / "site", tmp_path / "cache"
    cache.mkdir()
    info = "Metadata-Version: 2.1\nName: fakedist\nVersion: {}\n"
    write(site, {"fakemod/__init__.py": "", "fakedist.egg-info/PKG-INFO": info.format("1.0"),
                 "fakedist.egg-info/top_level.txt": "fakemod\n"})
    assert _probe(site, ["fakemod"], cache_dir=cache, persist=True) == {"answers": ["1.0"], "scans": 1}
    assert _probe(site, ["fakemod"], cache_dir=cache, persist=True) == {"answers": ["1.0"], "scans": 0}
    (site / "fakedist.egg-info" / "PKG-INFO").write_text(info.format("1.1"))
    assert _probe(site, ["fakemod"], cache_dir=cache, persist=True) == {"answers": ["1.1"], "scans": 1}
    assert _probe(site, ["fakemod"], cache_dir=cache, persist=True) == {"answers": ["1.1"], "scans": 0}


def test_a_damaged_or_foreign_map_is_made_again_silently(tmp_path):
    site, cache = tmp_path / "site", tmp_path / "cache"
    _install(site, "fakedist", "1.0", "fakemod")
    kept = cache / "code" / ".distributions.json"
    kept.parent.mkdir(parents=True)
    for text in ("{not json", json.dumps({"format": 1}), json.dumps([1, 2]), "\x00" * 10):
        kept.write_text(text)
        r = _probe(site, ["fakemod"], cache_dir=cache, persist=True)
        assert r == {"answers": ["1.0"], "scans": 1}
        assert json.loads(kept.read_text())["names"]["fakemod"] == ["fakedist"]
    # a map made from other sys.path entries names the wrong distributions: not used
    doc = json.loads(kept.read_text())
    doc["names"]["fakemod"] = ["otherdist"]
    doc["sys_path"] = doc["sys_path"][1:]
    kept.write_text(json.dumps(doc))
    assert _probe(site, ["fakemod"], cache_dir=cache, persist=True) == {"answers": ["1.0"], "scans": 1}


def test_a_build_keeps_the_map_and_status_writes_nothing(tmp_path):
    site, root = tmp_path / "site", tmp_path / "proj"
    _install(site, "fakedist", "1.0", "fakemod")
    write(root, {"AssetFile": "from assetbuild import asset\nimport fakemod\n\n"
                              "@asset\ndef a():\n    return fakemod.__name__\n"})
    env = clean_env(PYTHONPATH=str(site))
    kept = root / ".assetbuild" / "code" / ".distributions.json"
    r = cli("build", cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    assert kept.is_file()
    kept.unlink()
    r = cli("status", cwd=root, env=env)
    assert r.returncode == 0 and "fresh" in r.stdout, r.stdout + r.stderr
    assert not kept.exists(), "status writes nothing to the cache directory"
    r = cli("clean", "--yes", cwd=root, env=env)
    r = cli("build", cwd=root, env=env)
    assert kept.is_file()
    assert cli("clean", "--yes", cwd=root, env=env).returncode == 0
    assert not (root / ".assetbuild").exists(), "clean removes the kept map with the rest"
    assert os.listdir(root) == ["AssetFile"]


def test_a_key_does_not_change_once_an_asset_imported_the_library(tmp_path, monkeypatch):
    """A watch session: the first build fingerprints a library that is not imported yet, an asset
    imports it, then a package is installed (what was looked up is forgotten). The next build
    must find the same key: the module's __version__ (9.9.dev0) is not its distribution's (1.0)."""
    import assetbuild

    site, root = tmp_path / "site", tmp_path / "proj"
    _install(site, "fakedist", "1.0", "fakemod", module_version="9.9.dev0")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "fakemod", raising=False)
    write(root, {"AssetFile": textwrap.dedent('''\
        from assetbuild import asset


        class Reader:  # stands for a library class the function uses, its module not imported yet
            pass


        Reader.__module__ = "fakemod"


        @asset
        def uses(context):
            import fakemod  # the library is imported when the asset runs
            return Reader.__name__ + fakemod.__name__
        ''')})
    try:
        assert assetbuild.build(project_dir=root).names("built") == ["uses"]
        assert "fakemod" in sys.modules
        _install(site, "otherdist", "0.1", "othermod")  # the site directory changes
        assert assetbuild.build(project_dir=root).names("built") == []
        assert [s.state for s in assetbuild.status(project_dir=root)] == ["fresh"]
    finally:
        sys.modules.pop("fakemod", None)


def test_a_map_made_as_a_site_directory_changes_is_not_kept(tmp_path):
    """A site directory whose time is not older than the clock as the map is made may change
    again without its time changing (an install in the same clock tick): a map kept from it
    could outlive that install, and name the old version. Not kept then; kept once it is older."""
    import time

    site, cache = tmp_path / "site", tmp_path / "cache"
    cache.mkdir()
    _install(site, "fakedist", "1.0", "fakemod")
    kept = cache / "code" / ".distributions.json"
    ahead = time.time_ns() + 3_600 * 10**9  # (its mtime ahead: as changed in the tick the map is made, or after)
    os.utime(site, ns=(ahead, ahead))
    for _ in range(2):
        assert _probe(site, ["fakemod"], cache_dir=cache, persist=True) == {"answers": ["1.0"], "scans": 1}
        assert not kept.exists()
    past = time.time_ns() - 3_600 * 10**9
    os.utime(site, ns=(past, past))  # (its ctime is now: older than the clock once the probe runs)
    assert _probe(site, ["fakemod"], cache_dir=cache, persist=True) == {"answers": ["1.0"], "scans": 1}
    assert kept.is_file()
    assert _probe(site, ["fakemod"], cache_dir=cache, persist=True) == {"answers": ["1.0"], "scans": 0}


def test_the_racy_rule_of_the_kept_map():
    from assetbuild.session.distributions import _racy
    from assetbuild.snapshot import RACY_NS

    stamp = (1, 10 * RACY_NS)  # (device, the filesystem's time)
    assert _racy([["/site", 10 * RACY_NS, 1]], stamp)  # changed in the stamp's tick
    assert not _racy([["/site", 10 * RACY_NS - 1, 1], ["/project", 0, 0], ["/gone", None, None]], stamp)
    assert _racy([["/other-disk", 9 * RACY_NS + 1, 2]], stamp)  # another device: within RACY_NS
    assert not _racy([["/other-disk", 9 * RACY_NS, 2]], stamp)
    assert _racy([["/site", 1, 1]], None)  # no clock to compare with: never kept


# A notebook's session: one Python process that builds, has a library installed under it
# (`%pip install -U mylib`: the package's files and its dist-info replaced) and builds again.
_SESSION = """
import json, os, shutil, sys
from pathlib import Path
site, root = Path({site!r}), Path({root!r})
sys.path.insert(0, str(site))

def install(version, module_version=None):
    shutil.rmtree(site / "mylib", ignore_errors=True)
    for old in site.glob("mylib-*.dist-info"):
        shutil.rmtree(old)
    said = "" if module_version is None else f"__version__ = {{module_version!r}}\\n"
    (site / "mylib").mkdir(parents=True)
    (site / "mylib" / "__init__.py").write_text(said + f"VALUE = {{version!r}}\\n")
    info = site / f"mylib-{{version}}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\\nName: mylib\\nVersion: {{version}}\\n")
    (info / "RECORD").write_text(f"mylib/__init__.py,,\\n{{info.name}}/METADATA,,\\n{{info.name}}/RECORD,,\\n")

def reimport():  # the module as a fresh `import mylib` gives it now
    sys.modules.pop("mylib", None)
    import mylib
    return mylib

import assetbuild
from assetbuild.errors import LibraryChanged
said = []

def build(**kw):
    try:
        r = assetbuild.build(project_dir=root, **kw)
    except LibraryChanged as e:
        said.append(str(e))
        return "refused"
    return r.names("built"), assetbuild.load_value("a", project_dir=root)

{steps}
print(json.dumps({{"steps": steps, "said": said}}))
"""

_ASSET_IMPORTS_MYLIB = ("from assetbuild import asset\n\n"
                        "@asset\ndef a():\n    import mylib\n    return mylib.VALUE\n")


def _session(tmp_path: Path, steps: str, *, before: str = "") -> dict:
    """Run ``steps`` (which set ``steps``, a list) in one process, as a notebook's cells."""
    site, root = tmp_path / "site", tmp_path / "proj"
    site.mkdir(exist_ok=True)
    write(root, {"AssetFile": _ASSET_IMPORTS_MYLIB})
    code = _SESSION.format(site=str(site), root=str(root), steps=textwrap.dedent(steps))
    src = str(Path(__file__).resolve().parent.parent / "src")
    out = subprocess.run([sys.executable, "-c", before + code], capture_output=True, text=True,
                         env=clean_env(PYTHONPATH=src), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def _fresh_build(tmp_path: Path) -> tuple[list[str], str]:
    """What a new process (the command) builds, and the value it then has."""
    env = clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(Path(__file__).resolve().parent.parent / "src")]))
    r = cli("build", "--json", cwd=tmp_path / "proj", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    built = [a["asset"] for a in json.loads(r.stdout)["results"] if a["status"] == "built"]
    shown = subprocess.run([sys.executable, "-c", "import assetbuild; print(assetbuild.load_value('a'))"],
                           cwd=tmp_path / "proj", capture_output=True, text=True, env=env)
    return built, shown.stdout.strip()


def test_a_library_upgraded_under_a_session_refuses_the_build(tmp_path):
    """An asset imported mylib 1.0 as it ran; mylib is upgraded to 2.0 in the same process. The
    next build would run 1.0's module (still in sys.modules) under 2.0's key, and a new process
    would find that value cached: it is refused, in one line naming the library, both versions
    and what to do, and stores nothing. Installed back to 1.0, the process builds again."""
    out = _session(tmp_path, """\
        install("1.0")
        steps = [build()]
        install("2.0")
        steps.append(build())
        steps.append(build())  # (still: the process has not changed)
        install("1.0")
        steps.append(build())
        """)
    assert out["steps"] == [[["a"], "1.0"], "refused", "refused", [[], "1.0"]]
    assert out["said"][0] == (
        "library mylib: this Python process imported version 1.0, but 2.0 is installed now: an asset would "
        "run the imported code under 2.0's key; restart the Python process (in a notebook, the kernel) "
        "and build again")
    _session(tmp_path, 'install("2.0")\nsteps = []\n')
    assert _fresh_build(tmp_path) == (["a"], "2.0"), "nothing was stored under 2.0's key"


def test_a_library_removed_under_a_session_refuses_the_build(tmp_path):
    out = _session(tmp_path, """\
        install("1.0")
        steps = [build()]
        shutil.rmtree(site / "mylib-1.0.dist-info")
        steps.append(build())
        """)
    assert out["steps"] == [[["a"], "1.0"], "refused"]
    assert "imported version 1.0, but it is no longer installed" in out["said"][0]


def test_a_library_installed_or_upgraded_then_imported_in_a_session_builds(tmp_path):
    """`%pip install mylib`, then `import mylib`, then a build: the module is the installed
    version, whether it was imported before (afresh) or not, with a __version__ or without."""
    out = _session(tmp_path, """\
        install("1.0", "1.0")
        import mylib
        steps = [build()]
        install("2.0", "2.0")
        reimport()
        steps.append(build())
        install("3.0")
        reimport()
        steps.append(build())
        """)
    assert out == {"steps": [[["a"], "1.0"], [["a"], "2.0"], [["a"], "3.0"]], "said": []}


def test_a_library_imported_then_upgraded_before_the_first_build_is_caught_by_its_version(tmp_path):
    """Imported at 1.0, upgraded to 2.0, then the first build: no build saw the import, but the
    module's __version__ (1.0) is not the installed one, installed after the process started (a
    session older than the clock's slack for that: 0.05 s)."""
    out = _session(tmp_path, """\
        import time
        time.sleep(0.2)
        install("1.0", "1.0")
        import mylib
        install("2.0", "2.0")
        steps = [build()]
        """)
    assert out["steps"] == ["refused"]
    assert "imported version 1.0, but 2.0 is installed now" in out["said"][0]


def test_a_module_version_unlike_its_distribution_installed_before_the_session_builds(tmp_path):
    """A library whose __version__ is not its distribution's version (9.9.dev0 and 1.0), installed
    before the process started and imported before the first build: not a change, no refusal."""
    site = tmp_path / "site"
    _install(site, "mylib", "1.0", "mylib", module_version="9.9.dev0")
    (site / "mylib" / "__init__.py").write_text("__version__ = '9.9.dev0'\nVALUE = '1.0'\n")
    out = _session(tmp_path, "import mylib\nsteps = [build(), build()]\n")
    assert out == {"steps": [[["a"], "1.0"], [[], "1.0"]], "said": []}


def test_an_upgrade_under_a_session_that_ran_the_library_in_workers_builds_it_there(tmp_path):
    """Process workers import the library afresh for each build: this process never imported it,
    and the upgraded version's code runs under its key."""
    out = _session(tmp_path, """\
        install("1.0")
        steps = [build(jobs=2, executor="processes")]
        install("2.0")
        steps.append(build(jobs=2, executor="processes"))
        steps.append("mylib" in sys.modules)
        """)
    assert out == {"steps": [[["a"], "1.0"], [["a"], "2.0"], False], "said": []}


def test_a_version_bumped_in_place_under_a_session_is_seen(tmp_path):
    """``setup.py develop``: the code and the egg-info's PKG-INFO edited in place (no sys.path
    folder's time moves) under a process that builds again. Its next build keys the new version
    (workers import it afresh and run it), or is refused if this process imported the old one;
    it never finds the asset cached under the version the process looked up before."""
    out = _session(tmp_path, """\
        import time

        def develop(version):
            (site / "mylib").mkdir(exist_ok=True)
            # (each version another length: a .pyc a worker wrote in the same second is not taken)
            (site / "mylib" / "__init__.py").write_text(f"VALUE = {version!r}\\n")
            (site / "mylib.egg-info").mkdir(exist_ok=True)
            (site / "mylib.egg-info" / "PKG-INFO").write_text(f"Metadata-Version: 2.1\\nName: mylib\\nVersion: {version}\\n")

        develop("1.0")
        time.sleep(2.1)  # (older than the racy window: its signature, taken as it was read, is trusted)
        steps = [build(jobs=2, executor="processes")]
        develop("1.01")
        steps.append(build(jobs=2, executor="processes"))
        develop("1.002")
        steps.append(build())  # (imports mylib 1.2 in this process)
        develop("1.0003")
        steps.append(build())
        """)
    assert out["steps"] == [[["a"], "1.0"], [["a"], "1.01"], [["a"], "1.002"], "refused"]
    assert "imported version 1.002, but 1.0003 is installed now" in out["said"][0]
