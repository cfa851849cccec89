"""What ``assetbuild run`` keeps in the store between ticks: its tick records, when it first saw
each source version and each change of an asset's own, when each schedule was last evaluated,
each asset's retry backoff and whether it was overdue at the last tick (so ``--once`` driven by
cron behaves like a daemon).

Small JSON records under the store's ``get_meta``/``put_meta``, per project; written in the
store's batch, so a tick's records commit with its build.
"""

from __future__ import annotations

import json
from typing import Any

SEEN_KEEP = 32  # versions remembered per source: enough to find the first change after any
TICKS_KEEP = 1000  # tick records kept per project


def _name(kind: str, name: str = "") -> bytes:
    return f"{kind}\0{name}".encode("utf-8", "surrogatepass")


def get_state(store: Any, kind: str, name: str) -> Any:
    """The daemon's remembered ``kind`` of ``name`` (JSON data), None if nothing."""
    raw = store.get_meta(_name(kind, name))
    return None if raw is None else json.loads(raw)


def put_state(store: Any, kind: str, name: str, value: Any) -> None:
    """Remember ``value`` (None: forget) as ``kind`` of ``name``."""
    store.put_meta(_name(kind, name), None if value is None else json.dumps(value, separators=(",", ":")).encode())


def seen_versions(store: Any, source: str) -> list[tuple[str, int]]:
    """(version, first seen ns) of the latest versions seen of ``source``, oldest first (a
    version seen again after another is a new entry)."""
    return [(v, t) for v, t in get_state(store, "seen", source) or ()]


def note_seen(store: Any, source: str, version: str, now_ns: int) -> None:
    """Record that ``source`` has ``version`` at ``now_ns``, if that is not its latest seen one."""
    seen = seen_versions(store, source)
    if seen and seen[-1][0] == version:
        return
    seen.append((version, now_ns))
    put_state(store, "seen", source, seen[-SEEN_KEEP:])


def own_seen(store: Any, node: str, head_key: str, own: list[str], now_ns: int, *, record: bool = True
             ) -> dict[str, int]:
    """When a tick first saw each change of ``node``'s own (``own``: the ``changes`` entries of
    session.reconcile.own_changes) since its latest materialization (``head_key``): remembered
    while that is its head, so a lazy asset's lag counts from there; forgotten once nothing of
    its own has changed. Not yet seen: seen at ``now_ns`` (remembered only with ``record``:
    ``status`` reads what the ticks saw, and writes nothing)."""
    rec = get_state(store, "changed", node)
    if not own:
        if rec is not None and record:
            put_state(store, "changed", node, None)
        return {}
    since = rec["since"] if rec is not None and rec.get("head") == head_key else {}
    seen = {c: int(since.get(c, now_ns)) for c in own}
    if record and (rec is None or rec.get("head") != head_key or rec["since"] != seen):
        put_state(store, "changed", node, {"head": head_key, "since": seen})
    return seen


def put_tick(store: Any, doc: dict[str, Any]) -> int:
    """Record one tick (``doc``: JSON data) under the project's next tick number, returned; the
    oldest records beyond ``TICKS_KEEP`` are dropped."""
    raw = store.get_meta(_name("tick-seq"))
    seq = int(raw) + 1 if raw else 1
    store.put_meta(_name("tick-seq"), str(seq).encode())
    store.put_meta(_name("tick", f"{seq:012d}"), json.dumps({"seq": seq, **doc}, separators=(",", ":")).encode())
    if seq > TICKS_KEEP:
        store.put_meta(_name("tick", f"{seq - TICKS_KEEP:012d}"), None)
    return seq


def list_ticks(store: Any, limit: int | None = None) -> list[dict[str, Any]]:
    """The recorded ticks, oldest first: the newest ``limit`` of them (all: None)."""
    out = [json.loads(v) for _, v in store.scan_meta(_name("tick"))]
    return out[-limit:] if limit else out
