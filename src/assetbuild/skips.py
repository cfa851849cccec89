"""Conditional outputs: what becomes of an asset (or an out) that ran and returned ``Skip``.

An asset declared with ``output_required=False`` may return ``Skip("no new orders")``. That is
no failure: the build's exit status and ``ok`` are as if it had succeeded. Nothing is
materialized (no trace, no head, no history): its previous value, its latest head, stays current,
so its readers decide with that value's data version and are not run because of the skip (its
files, missing or edited, are put back from the cache, as a build does for any asset). With
no usable earlier value (none, or one that cannot be had again: its data outside the cache
gone), its readers (and theirs) are skipped with the reason ``upstream 'x' produced no
output``, also no failure. The skip itself is recorded (when, by
assetbuild.clock, the reason, the key) so ``status`` and ``why`` can mention it; the next build
decides the asset again like any other (its key still has no trace, so it runs again).

One function per outcome, for every producer of values (assets, and the outs of multi-assets):
the scheduler calls :func:`settle_skip` with the build's records of known and blocked inputs.
"""

from __future__ import annotations

from collections.abc import Callable

from .clock import format_duration
from .clock import now_ns as clock_now_ns
from .contracts import TraceStore
from .known import Blocked, Known
from .reports import AssetResult, Head, Reason, SkipRecord

NO_OUTPUT = Blocked.NO_OUTPUT


def settle_skip(name: str, key: str, reason: str, *, store: TraceStore, known: dict[str, Known],
                blocked: dict[str, Blocked], now_ns: int | None = None, usable_version: Callable[[str], str] = lambda v: v,
                duration_s: float = 0.0, reasons: tuple[Reason, ...] = (),
                metadata: dict[str, object] | None = None,
                keep: Callable[[str, Head], bool] | None = None) -> AssetResult:
    """Record that ``name`` (run under ``key``) skipped, and make its previous value current for
    its readers in this build (``known``), or block them (``blocked``) when it has none whose
    bytes are still stored, or none ``keep`` can put in place (its files restored where they are
    missing or edited; False: it cannot be had). ``usable_version`` turns a recorded data
    version into the one downstream keys use (see ``Materializer.usable_version``). Its result:
    status ``skipped``, with ``skip_reason`` (so the build stays ok)."""
    store.put_skip(name, SkipRecord(clock_now_ns() if now_ns is None else now_ns, reason, key))
    head = previous_value(name, store)
    if head is not None and keep is not None and not keep(name, head):
        head = None
    if head is None:
        blocked[name] = NO_OUTPUT
        known.pop(name, None)
        return AssetResult(name, "skipped", key=key, duration_s=duration_s, reasons=reasons,
                           metadata=dict(metadata or {}), skip_reason=reason)
    known[name] = Known(head.key, usable_version(head.data_version), head.output_digest)
    return AssetResult(name, "skipped", key=key, data_version=head.data_version, duration_s=duration_s,
                       reasons=reasons, metadata=dict(metadata or {}), skip_reason=reason)


def previous_value(name: str, store: TraceStore) -> Head | None:
    """The latest materialization of ``name`` whose bytes are still stored, if any: what its
    readers keep reading after a skip."""
    head = store.get_head(name)
    if head is None or not store.has_blob(head.output_digest, head.size):
        return None
    return head


def no_output_result(name: str, why: str) -> AssetResult:
    """A reader skipped because an upstream skipped with nothing before (``why``: "upstream 'x'
    produced no output"): no failure, nothing recorded."""
    return AssetResult(name, "skipped", reasons=(Reason("no-output", why),), skip_reason=why)


def skip_note(record: SkipRecord | None, head: Head | None, now_ns: int | None = None) -> Reason | None:
    """What ``status`` and ``why`` add about an asset that would run: its latest run skipped,
    if nothing was built after that skip (its previous value is still the current one)."""
    if record is None:
        return None
    if head is not None and head.built_ns > record.skipped_ns:
        return None
    now = clock_now_ns() if now_ns is None else now_ns
    ago = format_duration(max(0.0, (now - record.skipped_ns) / 1e9))
    said = f" ({record.reason})" if record.reason else ""
    return Reason("skipped", f"its latest run, {ago} ago, returned Skip{said}: nothing was recorded, so "
                  "a build runs it again (its readers keep its previous value until it returns one)"
                  if head is not None else f"its latest run, {ago} ago, returned Skip{said}: it has no value "
                  "yet, so a build runs it again")
