"""Maintenance of a cache directory, one module per command: ``stats`` (what it holds), ``gc``
(drop what no latest build uses, sweep leftovers), ``verify`` (re-hash, drop what is damaged),
``archive`` (export the latest builds to a portable file, import one).

Every function takes an open ``LmdbStore``; the ones that write expect the caller (session.py)
to hold the build lock, so no build writes at the same time. Orders of writes keep the store's
rule "never a trace without its bytes".
"""

from __future__ import annotations

from .archive import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    IMPORT_CHUNK,
    MAX_MANIFEST,
    MAX_TAR_HEADER,
    export_archive,
    export_mode,
    import_archive,
)
from .gc import CODE_CACHE_KEEP, GcReport, gc, parse_size
from .stats import build_summary, stats
from .verify import VerifyReport, verify

__all__ = [
    "CODE_CACHE_KEEP", "EXPORT_FORMAT", "EXPORT_VERSION", "IMPORT_CHUNK", "MAX_MANIFEST", "MAX_TAR_HEADER",
    "GcReport", "VerifyReport",
    "build_summary", "export_archive", "export_mode", "gc", "import_archive", "parse_size", "stats", "verify",
]
