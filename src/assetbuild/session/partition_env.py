"""What partition keys depend on outside the AssetFile: the clock, the files a glob matches, and
the dynamic keys kept in the cache directory.

Dynamic keys live in ``partition-keys.json`` in the cache directory, one table per project
(projects sharing a cache each have their own, as their heads), written atomically under the
cache's build lock (``partitioning.change_dynamic``): a project is opened, and its graph expanded,
before its store is, and the file is small and read once per command.

``partitions.json`` is the older versions' file (one table for the cache), which they read before
they open the store, so before they can refuse a cache of a newer format: this version reads it
while it has no file of its own, keeps it as the table those versions can read, and never writes
its own tables there (an older version called them damaged and told its user to delete them).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..partitions import PartitionEnv

DYNAMIC_FILE = "partition-keys.json"  # (store.cachedir.KEYS_FILES: clean keeps both)
OLDER_FILE = "partitions.json"  # the table of versions before store format 4 ({name: [keys]})
TABLE_FORMAT = 2  # {"format": 2, "projects": {project id: {name: [keys]}}, "shared": {name: [keys]}}


@dataclass
class DynamicTable:
    """The file of dynamic keys: each project's (by ``store.project_id``, as heads are kept), and
    the one table a cache held before keys were kept per project (``shared``: read by every
    project that has not changed its keys since, as it was then)."""

    projects: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    shared: dict[str, list[str]] | None = None

    def keys_of(self, project: str) -> dict[str, list[str]]:
        """The dynamic keys ``project`` has: its own, else the shared table's, else none."""
        own = self.projects.get(project)
        return own if own is not None else dict(self.shared or {})

    def encode(self) -> bytes:
        data: dict[str, Any] = {"format": TABLE_FORMAT, "projects": self.projects}
        if self.shared is not None:
            data["shared"] = self.shared
        return json.dumps(data, indent=1).encode()


def read_table(cache_dir: Path) -> DynamicTable:
    """The cache's file of dynamic keys (empty: none yet): this version's, else the older
    versions' (``OLDER_FILE``); a table without projects (written before keys were kept per
    project) is the shared one. ConfigError for a damaged file: not JSON, not tables of key
    lists, or a key that ``partitions add`` would refuse (a hand-edited or copied file: ``../x``
    would write outside the project, ``""`` build ``asset[]``) or that is listed twice."""
    path = cache_dir / DYNAMIC_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        path = cache_dir / OLDER_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return DynamicTable()
        except OSError as e:
            raise _unreadable(path, e) from e
    except OSError as e:  # (no permission in a shared cache, a directory, a failing disk)
        raise _unreadable(path, e) from e
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and data.get("format") == TABLE_FORMAT:  # (an old table's values are lists)
            projects, shared = data.get("projects"), data.get("shared")
            if not isinstance(projects, dict):
                raise ValueError("no table of projects")
            table = DynamicTable({str(p): _checked(t) for p, t in projects.items()},
                                 None if shared is None else _checked(shared))
        elif isinstance(data, dict) and isinstance(data.get("format"), int):
            raise ValueError(f"format {data['format']} is not one this version reads ({TABLE_FORMAT})")
        else:
            table = DynamicTable(shared=_checked(data))
    except ValueError as e:
        raise ConfigError(f"{path} is damaged ({e}); fix or delete it, then add the dynamic partitions again"
                          ) from None
    return table


def write_table(cache_dir: Path, table: DynamicTable) -> None:
    """Record ``table`` (OSError if it cannot be written: nothing changed then); the older
    versions' file keeps no table of this version's (``store.cachedir.shed_tables``)."""
    from ..atomicfile import write_atomically
    from ..store.cachedir import shed_tables

    write_atomically(cache_dir / DYNAMIC_FILE, table.encode())
    shed_tables(cache_dir)


def _checked(data: Any) -> dict[str, list[str]]:
    """``data`` if it is a table of definition name -> its keys, each valid and listed once."""
    from ..partitions import check_key

    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(k, str) for k in v)
                                             for v in data.values()):
        raise ValueError("not a table of key lists")
    for name, keys in data.items():
        seen: set[str] = set()
        for k in keys:
            if k in seen:
                raise ValueError(f"{name}: key {k!r} is listed twice")
            seen.add(check_key(k, name))
    return data


def read_dynamic(cache_dir: Path, project: str) -> dict[str, list[str]]:
    """Dynamic definition name -> its keys in ``project`` (``store.project_id``), in the order
    they were added ({}: none yet). ConfigError for a damaged file (``read_table``)."""
    return read_table(cache_dir).keys_of(project)


def _glob_files(root: Path) -> Any:
    def files(pattern: str) -> list[str]:
        found = glob_matches(str(root), pattern)
        return [f.replace(os.sep, "/") for f in found if (root / f).is_file()]

    return files


def glob_matches(root: str, pattern: str) -> list[str]:
    """``glob.glob(pattern, root_dir=root, recursive=True)``: the same paths by the same rules (a
    ``**`` component is any folders, none hidden, symlinks followed; a wildcard matches no hidden
    name unless it starts with a dot; a plain name must exist), with ``**`` listing the folders
    below by a stack. glob recurses, and nests a generator, once per level (before Python 3.13),
    so a folder about 1,000 deep under the glob's directory raised RecursionError."""
    import fnmatch
    import glob

    found = [""]  # paths matched so far, relative to root
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        dironly = i < len(parts) - 1
        matched: list[str] = []
        for here in found:
            at = os.path.join(root, here)
            if part == "**":
                matched.append(here)
                matched += [os.path.join(here, rel) for rel in _below(at, dironly)]
            elif glob.has_magic(part):
                names = _names(at, dironly)
                if not part.startswith("."):
                    names = [n for n in names if not n.startswith(".")]
                matched += [os.path.join(here, n) for n in fnmatch.filter(names, part)]
            elif (os.path.isdir if dironly else os.path.lexists)(os.path.join(at, part)):
                matched.append(os.path.join(here, part))
        found = matched
    return [f for f in found if f]


def _names(folder: str, dironly: bool) -> list[str]:
    """The names in ``folder`` (only its folders, symlinks followed, with ``dironly``); none if it
    cannot be listed."""
    try:
        with os.scandir(folder) as it:
            return [e.name for e in it if not dironly or _is_dir(e)]
    except OSError:
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _below(folder: str, dironly: bool) -> list[str]:
    """Every path below ``folder`` a ``**`` reaches, relative to it: names not hidden, folders
    entered through symlinks too (a loop ends where the system stops resolving it), with a stack."""
    out: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        at = os.path.join(folder, rel) if rel else folder
        try:
            with os.scandir(at) as it:
                entries = [(e.name, _is_dir(e)) for e in it if not e.name.startswith(".")]
        except OSError:
            continue
        for name, is_dir in entries:
            if dironly and not is_dir:
                continue
            path = os.path.join(rel, name) if rel else name
            out.append(path)
            if is_dir:
                stack.append(path)
    return out


def partition_env(root: Path, cache_dir: Path, project: str) -> PartitionEnv:
    """What the partition keys of ``project`` (``store.project_id``) at ``root`` depend on, read now."""
    from ..clock import now_ns

    return PartitionEnv(now_ns(), _glob_files(root), read_dynamic(cache_dir, project))


def _unreadable(path: Path, e: OSError) -> Exception:
    from ..errors import StoreError

    return StoreError(f"cannot read {path}: {e.strerror or e}")
