"""The listing of a remote's records (``RemoteCache.list_records``): the keys it finds, and the
pages of an object store's listing as they come, so a wait on a listing is bounded by how long
the server has been silent, not by how many records it holds (a team's cache grows for ever:
a fixed deadline called a working server with enough records down, and every build then ran
everything the remote could have restored)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_KEY_NAME = re.compile(r"[0-9a-f]{64}\Z")  # a record's file name: the key it is for
_ON_PAGE = "_assetbuild_on_page"  # the file system's attribute: whom its client's pages are told to


def listed_keys(found: dict[str, dict[str, Any]]) -> dict[str, float]:
    """{key: modification time} of a recursive listing (``fs.find(..., detail=True)``)."""
    out: dict[str, float] = {}
    for path, info in found.items():
        name = path.rsplit("/", 1)[-1]
        if _KEY_NAME.match(name):
            out[name] = _mtime(info)
    return out


def watch_pages(fs: Any, note: Callable[[], None]) -> None:
    """Have ``note`` called as each page of ``fs``'s listings arrives, where it can be seen: an
    S3 file system (s3fs), through its client's ``after-call.s3.ListObjectsV2`` event, handled
    once per client (a process keeps its clients across builds: ``transport._file_system``),
    calling whichever ``note`` was set last. Elsewhere (a folder), nothing: its listing is one
    call, bounded as a whole."""
    set_session = getattr(fs, "set_session", None)
    if set_session is None or not getattr(fs, "async_impl", False) or getattr(fs, "loop", None) is None:
        return
    setattr(fs, _ON_PAGE, note)
    try:
        from fsspec.asyn import sync

        client = sync(fs.loop, set_session)
        client.meta.events.register("after-call.s3.ListObjectsV2", _page_handler(fs),
                                    unique_id="assetbuild-listing-pages")
    except Exception:  # noqa: BLE001 - no client yet (bad options, credentials): the listing says what
        return


def _page_handler(fs: Any) -> Callable[..., None]:
    def on_page(**_kwargs: Any) -> None:
        note = getattr(fs, _ON_PAGE, None)
        if note is not None:
            note()
    return on_page


def _mtime(info: dict[str, Any]) -> float:
    t = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
    if hasattr(t, "timestamp"):
        return float(t.timestamp())
    try:
        return float(t)
    except (TypeError, ValueError):
        return 0.0
