"""The contracts between the engine and its parts: the rebuilder's ``Decision``, and as
Protocols what the scheduler and the rebuilder may ask of a store of traces, of the project's
files, of whatever runs asset functions, and what they tell an observer of the build.

Implementations satisfy them structurally (``LmdbStore``, the remote-backed store and
``MemoryStore``; ``Workspace``; ``executors.Runner`` and the tests' ``FakeRunner``); nothing here
imports one. Tests run one contract suite over every store implementation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Container, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from .keys import KeyParts
from .reports import AssetResult, Head, Reason, SkipRecord, Trace

if TYPE_CHECKING:
    from concurrent.futures import Future

StatSig = tuple[int, int, int, int]  # (size, mtime_ns, inode, ctime_ns) of a file: see workspace


class TraceStore(Protocol):
    """Traces (key -> what it produced), heads (asset -> its latest build), history and output
    bytes by digest. Writes may be batched: ``flush`` makes them durable."""

    def get_head(self, asset: str) -> Head | None: ...

    def get_trace(self, key: str) -> Trace | None:
        """The trace of ``key``; its ``origin`` says where it was found ("local", "remote")."""

    def put_trace(self, key: str, trace: Trace) -> None: ...

    def put_head(self, asset: str, head: Head, *, device: int | None = None) -> None:
        """Record ``asset``'s latest build. ``device``: ``head.path_stat`` was taken in this
        build, of a file on that device: a store that commits keeps it only if it is not racy
        (see ``LmdbStore``)."""

    def put_text(self, digest: str, text: bytes) -> None:
        """Keep a source file's text under its sha256, once (``why``'s diff of a function)."""

    def delete_trace(self, key: str) -> None: ...

    def delete_head(self, asset: str) -> None: ...

    def add_history(self, asset: str, when_ns: int, key: str) -> None:
        """Record that ``asset`` was built (or accepted) under ``key`` at ``when_ns``: a row per
        call, which ``history`` lists in the order they were added (build order), whatever the times."""

    def put_skip(self, asset: str, record: SkipRecord) -> None:
        """Record an asset's latest skip (``Skip`` with ``output_required=False``)."""

    def get_skip(self, asset: str) -> SkipRecord | None: ...

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

    def put_stat(self, path: str, sig: StatSig, digest: str, *, device: int | None = None) -> None:
        """``device``: ``sig`` was taken just now, of a file on that device (as ``put_head``'s)."""


# --- the rebuilder -------------------------------------------------------------------------------

Action = Literal["run", "cached", "restore", "fetch"]


class Decision(NamedTuple):
    """The rebuilder's verdict for one asset, with everything needed to act on it.

    ``run``: no usable trace for the key (or forced); ``cached``: the trace's output is here and
    so is its path output; ``restore``: the trace is here but its path output is missing or was
    edited, so the stored bytes are written back, or its value is not the latest build's (inputs
    reverted: ``stored-before``), so it becomes the latest again; ``fetch``: the trace came from
    a remote cache (``origin``), whose bytes arrive in the background.

    A NamedTuple, not a frozen dataclass: a null build makes one per asset, and a frozen
    dataclass costs a ``object.__setattr__`` per field to make.
    """

    action: Action
    parts: KeyParts  # what went into the key (an unknown input's version is None)
    key: str | None = None  # None: not known yet (a dry run whose upstream will rebuild)
    reasons: tuple[Reason, ...] = ()
    trace: Trace | Head | None = None  # the work recorded for ``key`` (the head itself when it is the key's)
    origin: str = "local"  # where ``trace`` came from
    head: Head | None = None  # the asset's latest build, if any
    path_sig: StatSig | None = None  # the path output's stat when its bytes were checked

    @property
    def never_built(self) -> bool:
        """Nothing is known of this asset: no build of it here, and no trace for its key."""
        return self.head is None and self.trace is None

    @property
    def known_key(self) -> str:
        """The key, for a decision that has one (every decision of a build that is not a dry run)."""
        assert self.key is not None, "a decision without a key (a dry run's) cannot be acted on"
        return self.key

    @property
    def reused(self) -> Trace | Head:
        """The recorded work that a cached, restore or fetch decision reuses."""
        assert self.trace is not None, f"a {self.action} decision reuses no trace"
        return self.trace


class Rebuilder(Protocol):
    """Decides whether an asset runs, is reused, restored or fetched; nothing about order."""

    def decide(self, name: str, inputs: Sequence[tuple[str, str | None]]) -> Decision:
        """The decision for ``name`` given (upstream, data version) per input in binding order;
        a data version of None means the upstream will rebuild (dry runs): the key is unknown."""

    def forcing(self, names: Container[str] | None = None,
                why: Mapping[str, tuple[Reason, ...]] | None = None,
                default: tuple[Reason, ...] | None = None) -> Rebuilder:
        """A rebuilder that runs ``names`` (every asset if None) whatever the traces say (the
        reason ``why`` gives an asset, else ``default``, else ``forced: --force``)."""


# --- the project's files ---------------------------------------------------------------------------

class Files(Protocol):
    """The project directory as the engine sees it: versions of sources, states of path outputs."""

    root: Path

    def abspath(self, rel: str) -> str: ...

    def source_version(self, rel: str, *, fresh: bool = False) -> str:
        """The data version of a source (memoized for the build: the one its keys use; ``fresh``
        reads it again, leaving the memoized one as it is); ``SourceMissing`` if it cannot be read."""

    def path_state(self, rel: str, digest: str, recorded: StatSig | None) -> tuple[str, StatSig | None]:
        """("ok" | "missing" | "modified", its stat) of a path output expected to hold ``digest``."""

    def write_path(self, rel: str, data: bytes) -> StatSig: ...

    def finish(self) -> None:
        """The build's writes have ended: whole, or their temp files removed."""

    def device_of(self, rel: str) -> int | None:
        """The device of the path output ``rel`` when ``write_path`` or ``path_state`` last
        took its signature (None: neither did)."""

    def in_the_way(self, rel: str) -> str | None:
        """Why the file ``rel`` cannot be written without deleting what assetbuild did not write
        (a directory holding files in its place); None if nothing is in its way. Optional: a
        Files without it is asked nothing."""

    # files an asset writes itself (``outputs=``; see assetbuild.produced)
    def staging_dir(self, asset: str) -> str: ...

    def outputs_state(self, manifest: Any) -> list[tuple[str, str]]: ...

    def place_outputs(self, staging: str, manifest: Any, store: Any) -> None: ...

    def remove_staging(self, staging: str) -> None: ...

    def restore_outputs(self, manifest: Any, problems: list[tuple[str, str]], read_blob: Any,
                        blob_file: Any) -> None: ...

    def snapshot(self, skip: list[str]) -> Any: ...


# --- running asset functions -----------------------------------------------------------------------

class Runner(Protocol):
    """Runs tasks somewhere; the scheduler only submits, waits, and kills what ran out of time."""

    jobs: int

    def submit(self, task: Any, executor: str | None = None) -> Future[Any]:
        """Start ``task``; the future's result is its outcome (``ok``, ``data``, ``error``...)."""

    def wait(self, futures: Collection[Future[Any]], timeout: float | None) -> set[Future[Any]]:
        """Block until one of ``futures`` is done or ``timeout`` passes; the done ones."""

    def kill(self, fut: Future[Any]) -> bool:
        """Stop the task behind ``fut`` now (it ran out of time); False if it cannot."""

    def same_machine(self, executor: str | None) -> bool:
        """Whether that executor's tasks can read the store's files by path."""


# --- observing a build -----------------------------------------------------------------------------

class BuildObserver(Protocol):
    """The one channel from a build to its watchers (the terminal reporter, the plugin hooks)."""

    def asset_started(self, name: str) -> None: ...

    def asset_finished(self, result: AssetResult) -> None: ...

    def asset_stored(self, result: AssetResult) -> None:
        """An asset the build stored that is none of its results: an out its multi-asset's run
        returned beside the outs asked for. Its history records it; the build does not report it."""

    def asset_logs(self, name: str, lines: list[tuple[int, str]]) -> None:
        """Log lines an asset wrote in a worker, as (level, text), replayed here."""

    def warning(self, message: str) -> None: ...


class QuietObserver:
    """Observes nothing: for queries (status, why) and tests."""

    def asset_started(self, name: str) -> None:
        pass

    def asset_finished(self, result: AssetResult) -> None:
        pass

    def asset_stored(self, result: AssetResult) -> None:
        pass

    def asset_logs(self, name: str, lines: list[tuple[int, str]]) -> None:
        pass

    def warning(self, message: str) -> None:
        pass
