"""``python -m assetbuild``: the same as the ``assetbuild`` command.

``-m`` puts the working directory first on ``sys.path``; the command has no such entry. Left
there, a project file named like a module assetbuild imports lazily (``json.py``) would be
that module for assetbuild itself. The project's modules are importable while its AssetFile
loads, as with the command.
"""

import os
import sys

try:
    _here: str | None = os.getcwd()
except OSError:  # the working directory was deleted: the command says so, in one line
    _here = None
if sys.path and not getattr(sys.flags, "safe_path", False) and sys.path[0] == _here:
    del sys.path[0]

from .entry import main  # noqa: E402 - after sys.path is the command's

main()
