"""What partition keys depend on outside the AssetFile: the clock, the files a glob matches, and
the dynamic keys kept in the cache directory.

Dynamic keys live in ``partitions.json`` in the cache directory, written atomically under the
cache's build lock (``partitioning.change_dynamic``): a project is opened, and its graph
expanded, before its store is, and the file is small and read once per command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..partitions import PartitionEnv

DYNAMIC_FILE = "partitions.json"


def read_dynamic(cache_dir: Path) -> dict[str, list[str]]:
    """Dynamic definition name -> its keys, in the order they were added ({}: none yet)."""
    try:
        raw = (cache_dir / DYNAMIC_FILE).read_bytes()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(k, str) for k in v)
                                                 for v in data.values()):
            raise ValueError("not a table of key lists")
    except ValueError as e:
        raise ConfigError(f"{cache_dir / DYNAMIC_FILE} is damaged ({e}); fix or delete it, then add the dynamic "
                          "partitions again") from None
    return data


def _glob_files(root: Path) -> Any:
    import glob

    def files(pattern: str) -> list[str]:
        found = glob.glob(pattern, root_dir=root, recursive=True)
        return [f.replace(os.sep, "/") for f in found if (root / f).is_file()]

    return files


def partition_env(root: Path, cache_dir: Path) -> PartitionEnv:
    """What the project's partition keys depend on, read now."""
    from ..clock import now_ns

    return PartitionEnv(now_ns(), _glob_files(root), read_dynamic(cache_dir))
