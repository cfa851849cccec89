"""``python -m assetbuild``: the same as the ``assetbuild`` command."""

from .entry import main

main()
