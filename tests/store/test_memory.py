"""MemoryStore beyond the shared contract: its clock, what a reopen keeps, and scans that see
committed rows only (as LmdbStore's do)."""

from __future__ import annotations

from assetbuild.reports import Head, Trace
from assetbuild.store import MemoryStore, digest_bytes

KEY = digest_bytes(b"key")
TRACE = Trace._make((digest_bytes(b"dv"), digest_bytes(b"out"), "json@1", 3, 0.1, 1, "{}"))
HEAD = Head(KEY, digest_bytes(b"dv"), digest_bytes(b"out"), "v:1", {}, (), "json@1", None, None, 1, 3, 0.1)


def test_maybe_flush_measures_the_batch_age_with_the_given_clock():
    now = [100.0]
    s = MemoryStore(clock=lambda: now[0])
    s.put_trace(KEY, TRACE)
    s.maybe_flush(interval_s=0.25)
    assert s.pending == 1 and s.flushes == 0  # young: kept
    now[0] += 0.25
    s.maybe_flush(interval_s=0.25)
    assert s.pending == 0 and s.flushes == 1
    s.maybe_flush(interval_s=0)
    assert s.flushes == 1  # nothing pending: no commit


def test_reopen_keeps_committed_writes_only_and_shares_nothing():
    s = MemoryStore()
    s.put_head("a", HEAD)
    s.flush()
    s.put_trace(KEY, TRACE)
    t = s.reopen()
    assert t.get_head("a") == HEAD and t.get_trace(KEY) is None
    t.delete_head("a")
    t.flush()
    assert s.get_head("a") == HEAD  # the stores are independent after the reopen


def test_scans_see_committed_rows_and_lookups_the_batch():
    s = MemoryStore()
    s.put_head("a", HEAD)
    s.add_history("a", 5, KEY)
    s.put_trace(KEY, TRACE)
    assert s.get_head("a") == HEAD and s.get_trace(KEY) == TRACE
    assert s.heads() == {} and s.history("a") == [] and list(s.iter_traces()) == []
    s.flush()
    assert s.heads() == {"a": HEAD} and s.history("a") == [(5, KEY)] and list(s.iter_traces()) == [(KEY, TRACE)]
