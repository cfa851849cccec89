"""Which installed distribution, at which version, a top-level import name comes from.

A code fingerprint names a library by its distribution's version (DESIGN §4). Most import
names are also their distribution's name (``numpy``) and cost one metadata lookup; the others
(``sklearn`` from scikit-learn, ``yaml`` from PyYAML) need the map of import names to
distributions, ``importlib.metadata.packages_distributions()``, which reads the file list of
every installed distribution (~0.3 s in a data science environment). So that map is made at
most once per process and kept in the cache directory (``code/.distributions.json``), with the
``sys.path`` entries it was made from and their modification times: installing, upgrading or
removing a package changes its site directory's time, and the map is made again. A file that
is unreadable, damaged or from other entries is made again, silently.

The answer is the distribution's version from its metadata, never a module's ``__version__``:
the key must not depend on whether a library happens to be imported already in this process
(an asset imported it earlier in the same watch session). A name that no installed
distribution provides has no version (None), imported or not.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

MAP_FILE = ("code", ".distributions.json")  # under the cache directory; `clean` removes it
_FORMAT = 1


def _signature() -> list[list[Any]]:
    """Each ``sys.path`` entry with the time it last changed (ns) if it holds installed
    distributions (a ``*.dist-info`` or ``*.egg-info``), 0 if it holds none, None if it cannot
    be listed. Only the times of site directories count: the working directory and the project
    directory are often on the path, and every file written there changes their times."""
    out: list[list[Any]] = []
    for entry in sys.path:
        path = os.path.abspath(entry or ".")
        try:
            with os.scandir(path) as it:
                holds = any(e.name.endswith((".dist-info", ".egg-info")) for e in it)
            mtime: int | None = os.stat(path).st_mtime_ns if holds else 0
        except OSError:
            mtime = None
        out.append([path, mtime])
    return out


class Distributions:
    """The process's answers, made again when the ``sys.path`` entries or their times change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signature: list[list[Any]] | None = None
        self._versions: dict[str, str | None] = {}
        self._names: dict[str, list[str]] | None = None

    def refresh(self) -> None:
        """Forget what was looked up if a package was installed or removed since (cheap: a
        listing of each ``sys.path`` entry; called once per build or status)."""
        sig = _signature()
        with self._lock:
            if sig != self._signature:
                self._signature = sig
                self._versions.clear()
                self._names = None

    def version(self, top: str, *, cache_dir: Path | None = None, persist: bool = False) -> str | None:
        """The version of the distribution providing import name ``top``, or None.

        ``cache_dir``: where the import-name map is kept between runs (written only when
        ``persist``: status and dry runs write nothing)."""
        with self._lock:
            if top in self._versions:
                return self._versions[top]
            from importlib import metadata

            try:
                version: str | None = metadata.version(top)
            except metadata.PackageNotFoundError:
                version = None
                for dist in self._import_names(cache_dir, persist).get(top, ()):
                    try:
                        version = metadata.version(dist)
                        break
                    except metadata.PackageNotFoundError:
                        continue
            self._versions[top] = version
            return version

    def _import_names(self, cache_dir: Path | None, persist: bool) -> dict[str, list[str]]:
        if self._names is not None:
            return self._names
        if self._signature is None:
            self._signature = _signature()
        path = cache_dir.joinpath(*MAP_FILE) if cache_dir is not None else None
        names = _read_map(path, self._signature) if path is not None else None
        if names is None:
            from importlib import metadata

            names = {k: list(v) for k, v in metadata.packages_distributions().items()}
            if path is not None and persist:
                _write_map(path, self._signature, names)
        self._names = names
        return names


def _read_map(path: Path, signature: list[list[Any]]) -> dict[str, list[str]] | None:
    """The kept map if it was made from these ``sys.path`` entries at these times, else None."""
    try:
        doc = json.loads(path.read_bytes())
        if doc["format"] != _FORMAT or doc["python"] != sys.version or doc["sys_path"] != signature:
            return None
        names = doc["names"]
        if isinstance(names, dict) and all(isinstance(v, list) for v in names.values()):
            return names
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write_map(path: Path, signature: list[list[Any]], names: dict[str, list[str]]) -> None:
    """Keep the map for the next run; a cache that cannot take it only costs the next run time."""
    from ..atomicfile import write_atomically

    doc = {"format": _FORMAT, "python": sys.version, "sys_path": signature, "names": names}
    try:
        path.parent.mkdir(exist_ok=True)
        write_atomically(path, json.dumps(doc, sort_keys=True).encode())
    except OSError:
        pass


DISTRIBUTIONS = Distributions()
