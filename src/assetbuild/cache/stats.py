"""What a cache directory holds: counts and sizes of its entries, blobs and files, and the hit
rate of the last build. Reads only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..reports import build_summary as build_summary  # (a build writes it: kept with the results)

if TYPE_CHECKING:
    from ..store import LmdbStore


def stats(store: LmdbStore) -> dict[str, Any]:
    """Counts and sizes of a cache directory, and the last build's hit rate. Writes nothing."""
    heads = store.all_heads()  # every project's that shares this cache directory
    traces = dict(store.iter_traces())
    inline = store.inline_blob_sizes()
    files = [(dg, size) for dg, _p, size in store.cas_files() if dg is not None]
    temps = [(p, size) for dg, p, size in store.cas_files() if dg is None]
    head_keys = {h.key for _n, h in heads}
    return {
        "cache_dir": str(store.root),
        "assets": len(heads),
        "entries": len(traces),
        "latest_entries": len(head_keys & set(traces)),
        "older_entries": len(set(traces) - head_keys),
        "blobs": len(inline) + len(files),
        "inline_blobs": len(inline),
        "inline_bytes": sum(inline.values()),
        "file_blobs": len(files),
        "file_bytes": sum(s for _, s in files),
        "output_bytes": sum(inline.values()) + sum(s for _, s in files),
        "index_bytes": store.file_size(),
        "temp_files": len(temps),
        "temp_bytes": sum(s for _, s in temps),
        "leftover_dirs": [p.name for p in store.leftovers()],
        "disk_bytes": store.file_size() + sum(s for _, s in files) + sum(s for _, s in temps),
        "last_build": store.get_build_summary(),
    }
