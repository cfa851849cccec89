"""The IOManager contract: how a value becomes bytes and back, or, for a manager that keeps its
data somewhere real (a table, a file tree, a bucket), how it is written, read and checked there.
Implementations are plugins."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class IOManager(Protocol):
    """Turns an asset's value into bytes and back.

    ``name`` is what ``@asset(io=...)`` refers to; ``version`` enters every key that uses this
    manager, so bump it whenever ``dump`` would produce different bytes for the same value.
    ``dump`` should be deterministic (equal values, equal bytes): the digest of its bytes is the
    asset's data version, and unequal bytes for equal values defeat early cutoff downstream.
    ``load(dump(v))`` must give back a value equal to ``v``.

    A manager that writes the value somewhere real instead has ``handle_output(context, value)
    -> OutputInfo``, ``load_input(context) -> value`` and ``version(context) -> str | None``,
    and its key version in ``io_version`` (see :class:`ExternalIOManager`); it needs no ``dump``
    or ``load``.

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


class ExternalIOManager(Protocol):
    """An IO manager whose data lives outside the cache (a DuckDB table, a file tree, a bucket).

    - ``handle_output(context, value) -> OutputInfo``: write ``value`` where it belongs and say
      what was written: ``OutputInfo(data_version, metadata=None)``. The data version identifies
      the data (a checksum, a table digest): equal data, equal version, and it is what readers'
      keys use (early cutoff). The cache keeps only the trace, that version and the metadata.
    - ``load_input(context) -> value``: read the data of ``context.asset`` back, for a reader.
    - ``version(context) -> str | None``: the data version of what is there now, None if it is
      gone. assetbuild calls it whenever it would reuse a build of the asset (a build, ``status``,
      ``-n``): another answer than the recorded version means the data was changed outside
      assetbuild (``output-modified``), None that it is missing (``output-missing``), and the
      asset runs again: the cache cannot restore data it does not hold. Keep it cheap.

    ``version`` being that method, the string that enters the keys of the manager's assets is
    ``io_version``: bump it when ``handle_output`` would write other data for the same value.

    Optional: ``location(asset) -> str``, where the manager keeps that asset's data, said for a
    message (``"DuckDB table 'orders'"``); two assets of the manager with equal locations are a
    definition error naming both (they would overwrite each other's data).

    Optional: ``check_config(project_dir)``, called once per command that loads a project using
    the manager, before anything runs: raise ``assetbuild.ConfigError`` naming the file and the
    setting for a bad setting of the manager's (exit 2, one line), rather than let each asset
    run and then fail to write.

    All three run wherever the asset's function runs (``handle_output``; ``load_input`` where its
    reader runs: a process or Dask worker too) or in the build's process (``version``), and may be
    called from several threads at once.
    """

    name: str
    io_version: str

    def handle_output(self, context: IOContext, value: Any) -> OutputInfo: ...

    def load_input(self, context: IOContext) -> Any: ...


def is_external(io: Any) -> bool:
    """Whether an IO manager keeps its data outside the cache (it has ``handle_output``)."""
    return callable(getattr(io, "handle_output", None))


def io_tag(io: Any) -> str:
    """The "name@version" of an IO manager: what enters the keys of the assets that use it."""
    return f"{io.name}@{io.io_version if is_external(io) else io.version}"


class OutputInfo:
    """What ``handle_output`` wrote: its ``data_version`` (a non-empty str identifying the data)
    and ``metadata`` (a dict, recorded with the build like ``Output(metadata=...)``)."""

    __slots__ = ("data_version", "metadata")

    def __init__(self, data_version: str, metadata: Mapping[str, Any] | None = None) -> None:
        if not isinstance(data_version, str) or not data_version:
            raise TypeError(f"OutputInfo(data_version=...) must be a non-empty str, got {data_version!r}")
        self.data_version = str.__str__(data_version)  # (a str subclass has no place in the store's records)
        self.metadata = dict(metadata or {})

    def __repr__(self) -> str:
        return f"OutputInfo(data_version={self.data_version!r})"


class IOContext:
    """What an external IO manager's ``handle_output``, ``load_input`` and ``version`` receive.

    - ``asset``: the asset whose data this is (for ``load_input``: the upstream being read;
      ``reader`` names the asset reading it); for a partition, its node's name (``daily[2024-01-01]``),
      so each partition's data has a name of its own;
    - ``partition``: the partition's key (of ``asset``: the one written, checked or read), else None;
    - ``params``: the asset's resolved params (read-only), as its function gets them;
    - ``resources``: the build's resources by name (``context.resources["warehouse"]``), made on
      first use in this process like an asset's;
    - ``project_dir``: the project directory (a ``pathlib.Path``); ``log``: a logger;
    - ``data_version``: the version recorded for this data (``load_input``, ``version``), else None;
    - ``add_metadata(dict)``: recorded with the build (``handle_output``).
    """

    def __init__(self, asset: str, project_dir: Any, log: Any, *, params: Mapping[str, Any] | None = None,
                 resources: Mapping[str, Any] | None = None, data_version: str | None = None,
                 reader: str | None = None, partition: str | None = None) -> None:
        self.asset = asset
        self.partition = partition
        self.project_dir = project_dir
        self.log = log
        self.params: Mapping[str, Any] = MappingProxyType(dict(params) if params else {})
        self.resources: Mapping[str, Any] = resources if resources is not None else MappingProxyType({})
        self.data_version = data_version
        self.reader = reader
        self.metadata: dict[str, Any] = {}

    def add_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Merge ``metadata`` into what is recorded with this materialization."""
        from .definitions import check_metadata

        self.metadata.update(check_metadata(metadata))

    def __repr__(self) -> str:
        return f"IOContext(asset={self.asset!r})"
