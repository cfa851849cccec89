"""Values the AssetFile or a project module imports from another module (``from time import
timezone``, a setting a shared library read from a file as it loaded): keys hold them by value,
and no file or variable the snapshot watches need show that they changed, so no snapshot is
recorded for such a project (``session.checking.imported_values``); the constants of the
standard library's constant modules, and modules, classes and functions, keep it. Real commands
in real projects."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import clean_env, cli, write

ENV = {"ASSETBUILD_CHECK_SNAPSHOT": "0", "TZ": "UTC"}


def _said(root: Path, *args: str, **env: str) -> tuple[str, str]:
    """(stdout, the snapshot's line) of a dry run, after a build that may record a snapshot."""
    assert cli(cwd=root, env=clean_env(**ENV)).returncode == 0
    r = cli("-n", *args, cwd=root, env=clean_env(ASSETBUILD_SNAPSHOT="explain", **{**ENV, **env}))
    assert r.returncode == 0, r.stderr
    return r.stdout, next((ln for ln in r.stderr.splitlines() if ln.startswith("snapshot:")), "")


@pytest.mark.parametrize("files", [
    {"AssetFile": "from assetbuild import asset\nfrom time import timezone\n\n\n@asset\ndef tz():\n    return timezone\n"},
    {"AssetFile": "from assetbuild import asset\nfrom lib import cfg\n\n\n@asset\ndef tz():\n    return cfg.timezone\n",
     "lib/__init__.py": "", "lib/cfg.py": "from time import timezone\n"},
    {"AssetFile": "from assetbuild import asset\nfrom lib.cfg import timezone as offset\n\n\n@asset\ndef tz():\n"
                  "    return offset\n", "lib/__init__.py": "", "lib/cfg.py": "from time import *\n"},
], ids=["assetfile", "module", "star-import-then-alias"])
def test_a_value_a_library_made_as_it_loaded_records_no_snapshot(tmp_path: Path, files: dict[str, str]) -> None:
    """``time.timezone`` comes from TZ: a new TZ changes the asset's key, which the full path
    sees, so the fast path must not answer "cached" (it did, as TZ is no variable it watches)."""
    root = write(tmp_path / "p", files)
    for _ in range(2):  # (the first build's outputs are racy to it: the second records, or not)
        out, line = _said(root)
    assert "0 of 1 assets would run" in out
    assert line.startswith("snapshot: not used: ") and " (int) is a value module " in line, line
    out, line = _said(root, TZ="America/New_York")
    assert "1 of 1 assets would run" in out, (out, line)


def test_modules_classes_functions_and_constants_keep_the_snapshot(tmp_path: Path) -> None:
    root = write(tmp_path / "p", {"AssetFile": (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING, Optional\n"
        "from math import pi\nfrom re import IGNORECASE\nfrom os.path import join\nfrom pathlib import Path\n"
        "from collections import OrderedDict\nfrom json import decoder\nfrom assetbuild import asset\n\n\n"
        "@asset\ndef a() -> Optional[str]:\n"
        "    return join(str(Path('x')), str(round(pi, 2)), str(int(IGNORECASE)), str(OrderedDict()), str(decoder)[:1])\n")})
    for _ in range(3):
        _, line = _said(root)
    assert line == "snapshot: answers"
    from assetbuild.session.checking import CONSTANT_MODULES

    assert {"math", "typing", "re"} <= CONSTANT_MODULES and "time" not in CONSTANT_MODULES and "os" not in CONSTANT_MODULES


def test_a_module_getattr_that_reads_a_file_records_no_snapshot(tmp_path: Path) -> None:
    """``from lib.cfg import VALUE`` calls the module's ``__getattr__`` (PEP 562) as the AssetFile
    loads; here it reads a file, whose text keys hold."""
    root = write(tmp_path / "p", {
        "AssetFile": "from assetbuild import asset\nfrom lib.cfg import VALUE\n\n\n@asset\ndef a():\n    return VALUE\n",
        "lib/__init__.py": "", "lib/value.txt": "one\n",
        "lib/cfg.py": "from pathlib import Path\n\n\ndef __getattr__(name):\n"
                      "    return (Path(__file__).parent / 'value.txt').read_text()\n"})
    for _ in range(2):
        out, line = _said(root)
    assert line.startswith("snapshot: not used: lib/cfg.py:4: a module-level __getattr__"), line
    (root / "lib" / "value.txt").write_text("two\n")
    r = cli("-n", cwd=root, env=clean_env(**ENV))
    assert "1 of 1 assets would run" in r.stdout, r.stdout + r.stderr


PLUGIN = '''
import os

import assetbuild


class Upper:
    name = "upper"
    version = {version}

    def dump(self, value):
        return str(value).upper().encode()

    def load(self, data):
        return data.decode()


@assetbuild.hookimpl
def register_io_managers():
    return [Upper()]
'''


@pytest.mark.parametrize(("version", "made"), [('"1-" + os.environ.get("UPPER_MODE", "a")', "1-a"),
                                              ('os.environ.get("UPPER_MODE", "a")', "a"), ('"7"', None)])
def test_an_io_managers_version_a_plugin_made_as_it_loaded_records_no_snapshot(tmp_path: Path, version: str,
                                                                                made: str | None) -> None:
    """The version of a plugin's IO manager enters keys; one the plugin made as it loaded (from
    an environment variable) changes without any file the snapshot watches: no snapshot. One
    written in its code keeps it (an edit of the plugin's file shows)."""
    import os

    site = write(tmp_path / "site", {"upperplug.py": PLUGIN.format(version=version),
                                     "upperplug-0.1.dist-info/entry_points.txt": "[assetbuild]\nupperplug = upperplug\n"})
    root = write(tmp_path / "p", {"AssetFile": 'from assetbuild import asset\n\n\n@asset(io="upper")\ndef word():\n'
                                               '    return "hello"\n'})
    env = clean_env(PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])), **ENV)
    env.pop("ASSETBUILD_DISABLE_PLUGIN_AUTOLOAD", None)
    for _ in range(3):
        assert cli(cwd=root, env=env).returncode == 0
    r = cli("-n", cwd=root, env={**env, "ASSETBUILD_SNAPSHOT": "explain", "UPPER_MODE": "b"})
    line = next((ln for ln in r.stderr.splitlines() if ln.startswith("snapshot:")), "")
    if made is None:
        assert line == "snapshot: answers" and "0 of 1 assets would run" in r.stdout, (line, r.stdout)
    else:
        assert line == (f"snapshot: not used: IO manager 'upper' has version {made!r}, which its plugin's code does not "
                        "hold: it was made as the plugin loaded (from the environment, a file?), which the snapshot "
                        "cannot see"), line
        assert "1 of 1 assets would run" in r.stdout
