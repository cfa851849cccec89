"""``python -m assetbuild``: the same as the ``assetbuild`` command."""

from .cli import main

main()
