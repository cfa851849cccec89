"""A project directory to fingerprint functions in, with the loader's finder (as a build has it).

Shared by the fingerprint's test modules; conftest.py makes it the ``lab`` fixture.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

from assetbuild.fingerprint import Fingerprinter
from assetbuild.loader import ProjectImports, ProjectModuleFinder, project_module_names


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write each of ``files`` (relative path -> text, dedented) under ``root``."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


class Lab:
    """A project directory, importable, with functions to fingerprint."""

    def __init__(self, root: Path, cache: Path | None = None) -> None:
        self.root = root
        self.cache = cache

    def fp(self, src: str, fn: str = "a", versions: dict[str, str] | None = None, *,
           then_import: str | None = None):
        """Fingerprint ``fn`` of ``src`` (run as the AssetFile) with a fresh Fingerprinter;
        ``then_import`` a module first, after the AssetFile has loaded (as an asset run would)."""
        return self._with_fingerprinter(src, versions, then_import, lambda f, ns: f.fingerprint_function(ns[fn], fn))

    def reached(self, src: str, fn: str = "a", *, fingerprinted: bool = True):
        """``Fingerprinter.modules_reached`` of ``fn`` of ``src``, from a fresh Fingerprinter that
        has fingerprinted it first (as a build does), or not (``fingerprinted=False``)."""
        def use(f, ns):
            if fingerprinted:
                f.fingerprint_function(ns[fn], fn)
            return f.modules_reached(ns[fn])

        return self._with_fingerprinter(src, None, None, use)

    def _with_fingerprinter(self, src, versions, then_import, use):
        """``use(fingerprinter, AssetFile namespace)`` with ``src`` loaded as the AssetFile."""
        ns: dict = {"__name__": "__assetfile__"}
        with ProjectImports(self.root):
            exec(compile(textwrap.dedent(src), str(self.root / "AssetFile"), "exec"), ns)  # noqa: S102
            loaded = project_module_names(self.root)
            if then_import:
                importlib.import_module(then_import)
                assert then_import in sys.modules
            finder = ProjectModuleFinder(self.root, self.cache)
            finder.keep_on_disk()
            f = Fingerprinter(is_project_module=lambda m: m == "__assetfile__" or m in loaded,
                              distribution_version=(versions or {}).get, project_dir=str(self.root),
                              modules=finder)
            return use(f, ns)
