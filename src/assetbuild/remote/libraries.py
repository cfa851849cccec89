"""Which client library a remote cache's URL needs, and whether it is installed: found without
importing it, so a build that needs nothing from the remote imports none, and a missing one is
named with the command that installs it."""

from __future__ import annotations

import re
from dataclasses import dataclass

REMOTE_EXTRA = "pip install -e '.[remote]' in the assetbuild clone"  # fsspec and s3fs
_INSTALL_WORD = re.compile(r"[Ii]nstall (?:the )?['\"]?([A-Za-z0-9][\w.\-\[\]]*)")  # fsspec: "Install gcsfs to..."
_QUOTED_NAME = re.compile(r'"([A-Za-z0-9][\w.\-]*)"')  # fsspec: 'SFTPFileSystem requires "paramiko" ...'


@dataclass(frozen=True)
class MissingLibrary:
    """A client library a remote URL needs that is not installed, and how to install it."""

    name: str  # the module that cannot be imported
    protocol: str  # the URL's protocol that needs it
    install: str  # the command that installs it

    def __str__(self) -> str:
        return f"{self.name} (for {self.protocol}://), which is not installed: {self.install}"


def missing_library(url: str) -> MissingLibrary | None:
    """The client library ``url`` needs that is not installed, found without importing it (a
    build that needs nothing from the remote imports none); None if all are there. fsspec and,
    for ``s3://``, s3fs come with the ``remote`` extra; any other protocol's library is the one
    fsspec's registry names (``gs://``: gcsfs; ``sftp://``: paramiko), installed by name."""
    from importlib.util import find_spec

    def absent(module: str) -> bool:
        try:
            return find_spec(module) is None
        except (ImportError, ValueError):
            return True

    protocols = [part.split("://", 1)[0].lower() for part in url.split("::") if "://" in part] or ["file"]
    if absent("fsspec"):
        return MissingLibrary("fsspec", protocols[-1], REMOTE_EXTRA)
    for protocol in protocols:
        if protocol in ("s3", "s3a"):
            if absent("s3fs"):
                return MissingLibrary("s3fs", protocol, REMOTE_EXTRA)
            continue
        if protocol in ("file", "local"):
            continue
        from fsspec.registry import known_implementations  # (this protocol needs fsspec now anyway)

        known = known_implementations.get(protocol)
        if known is None:
            continue  # not a protocol fsspec knows of: its own error, at the first request
        top, err = known["class"].split(".")[0], str(known.get("err", ""))
        modules = [top] if top != "fsspec" else _QUOTED_NAME.findall(err)[:1]
        for module in modules:
            if absent(module):
                word = _INSTALL_WORD.search(err)
                return MissingLibrary(module, protocol, f"pip install {word[1] if word else module}")
    return None
