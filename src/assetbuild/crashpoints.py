"""Test hook: SIGKILL this process at a named point, to test what a crash there leaves behind.

``ASSETBUILD_CRASH_AT=<point>[:<nth>][,<point>[:<nth>]...]`` (read once, when this module is
imported) makes the ``nth`` call (default: the first) of ``crash_point(<point>)`` in this process
kill the process with SIGKILL, exactly as ``kill -9`` or the OOM killer would. The fault-injection
tests (``tests/faults/``) use it; it is not a user feature. Unset, a call costs one dict lookup.

The points, each placed where a write is half done:

- ``store-commit``: the index transaction holds the batch but has not committed it (store/environment.py);
- ``blob-write``: a large output's bytes are in its temp file under ``cas/`` (a new blob's in a file
  with no name yet, see atomicfile.py), not in place;
- ``path-rename``: a path output's bytes are in its temp file (a new output's in a file with no
  name yet), not in place (workspace.py);
- ``remote-upload``: an object for a ``file://`` remote is in its temp file, not renamed (remote/transport.py);
- ``outputs-copy``: a file of an ``outputs=`` asset, copied into the project (restored, or placed from a
  cache on another file system), is in its temp file beside it, not renamed (produced.py);
- ``index-swap``: ``cache gc`` moved db/ aside as db.old-PID, its compacted copy not yet in place
  (store/compaction.py);
- ``cache-clear``: ``clean`` is about to delete an entry of the cache directory, the nth in its
  order (store/cachedir.py).
"""

from __future__ import annotations

import os
import signal

POINTS = ("store-commit", "blob-write", "path-rename", "remote-upload", "outputs-copy", "index-swap", "cache-clear")


def _parse(spec: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        point, _, nth = item.partition(":")
        if point not in POINTS or not (nth or "1").isdigit() or int(nth or "1") < 1:
            raise ValueError(f"ASSETBUILD_CRASH_AT: {item!r} is not <point>[:<nth>] with a point "
                             f"in {', '.join(POINTS)} and nth >= 1")
        armed[point] = int(nth or "1")
    return armed


_armed: dict[str, int] = _parse(os.environ.get("ASSETBUILD_CRASH_AT", ""))


def crash_point(point: str) -> None:
    """Kill this process here if ``ASSETBUILD_CRASH_AT`` armed ``point`` and this is its nth call."""
    left = _armed.get(point)
    if left is None:
        return
    if left > 1:
        _armed[point] = left - 1
        return
    os.kill(os.getpid(), signal.SIGKILL)
