"""The IOManager contract: how a value becomes bytes and back. Implementations are plugins."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class IOManager(Protocol):
    """Turns an asset's value into bytes and back.

    ``name`` is what ``@asset(io=...)`` refers to; ``version`` enters every key that uses this
    manager, so bump it whenever ``dump`` would produce different bytes for the same value.
    ``dump`` should be deterministic (equal values, equal bytes): the digest of its bytes is the
    asset's data version, and unequal bytes for equal values defeat early cutoff downstream.
    ``load(dump(v))`` must give back a value equal to ``v``.

    Optional: ``metadata(value) -> dict`` describes a value just stored (row count, shape, a
    preview: plain JSON data). Its result is recorded with the materialization, merged under the
    asset's own metadata (``Output(metadata=...)``, ``context.add_metadata``), which wins on a
    clash. It is not part of the protocol's ``isinstance`` check: a manager without it records
    nothing of its own.
    """

    name: str
    version: str

    def dump(self, value: Any) -> bytes: ...

    def load(self, data: bytes) -> Any: ...
