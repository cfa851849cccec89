"""Checkouts of this repository as the benchmarks put them on PYTHONPATH."""

from __future__ import annotations

import os


def import_root(tree: str) -> str:
    """The directory holding a checkout's ``assetbuild`` package: ``src/`` since the src layout,
    the checkout itself before it (so an A/B can compare a commit from either side)."""
    src = os.path.join(tree, "src")
    return src if os.path.isdir(os.path.join(src, "assetbuild")) else tree
