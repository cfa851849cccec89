"""The contracts between the engine and its parts, as Protocols: what the scheduler and the
rebuilder may ask of a store of traces, and what the workspace asks of a stat cache.

Implementations (``LmdbStore``, the remote-backed store, ``MemoryStore``) satisfy them
structurally; nothing here imports one. Tests run one contract suite over every implementation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from .reports import Head, Trace

StatSig = tuple[int, int, int, int]  # (size, mtime_ns, inode, ctime_ns) of a file: see workspace


class TraceStore(Protocol):
    """Traces (key -> what it produced), heads (asset -> its latest build), history and output
    bytes by digest. Writes may be batched: ``flush`` makes them durable."""

    def get_head(self, asset: str) -> Head | None: ...

    def get_trace(self, key: str) -> Trace | None:
        """The trace of ``key``; its ``origin`` says where it was found ("local", "remote")."""

    def put_trace(self, key: str, trace: Trace) -> None: ...

    def put_head(self, asset: str, head: Head) -> None: ...

    def delete_trace(self, key: str) -> None: ...

    def add_history(self, asset: str, when_ns: int, key: str) -> None: ...

    def has_blob(self, digest: str, size: int) -> bool: ...

    def read_blob(self, digest: str) -> bytes:
        """The verified bytes of ``digest``; ``CacheCorrupt`` if they are missing or damaged."""

    def put_blob(self, data: bytes, digest: str | None = None) -> str: ...

    def put_blob_file(self, src: str | os.PathLike[str], digest: str, size: int) -> str:
        """Take a file (written in ``spool_dir``) as the bytes of ``digest``, moving it."""

    def blob_file(self, digest: str, min_size: int = 1 << 20) -> Path | None:
        """A file holding exactly the bytes of ``digest``, if the store keeps them in one that
        big; None otherwise (read them with ``read_blob``)."""

    def flush(self) -> None: ...

    def maybe_flush(self, interval_s: float = 0.25, max_pending: int = 5000) -> None: ...

    def flushing_while_away(self, flush: Callable[[], None] | None = None,
                            interval_s: float = 0.25) -> AbstractContextManager[None]:
        """While the caller waits elsewhere, commit pending writes when they are due."""

    def settle(self) -> Collection[str]:
        """Wait for outputs still arriving (a remote's downloads); the keys whose bytes did not
        arrive intact. A local store has none."""


class StatCache(Protocol):
    """Remembered file digests by path and stat signature, so unchanged files are not re-read."""

    def get_stat(self, path: str) -> tuple[StatSig, str] | None: ...

    def put_stat(self, path: str, sig: StatSig, digest: str) -> None: ...
