"""The index's records and how they are batched: their encoding and keys (per project), the
pending batch of writes, and the committer thread that commits it while the build is away.

Writes are batched: one transaction per ``flush()``, never one per asset. While the build is
away (an asset runs in its thread, or it waits for workers), a committer thread commits the batch
once it is 0.25 s old: a crash loses only running work, plus at most 0.25 s.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import TypeVar

from ..reports import Event, Head, ObservationRecord, RunRecord, SkipRecord, Trace
from .cas import is_digest

RECORD = 1  # version tag of the marshal-encoded records

R = TypeVar("R", Trace, Head)


def encode(record: Trace | Head) -> bytes:
    return marshal.dumps((RECORD, *record))


def decode(raw: bytes, cls: type[R]) -> R | None:
    """A Trace/Head from its record, or None if the record does not decode (LMDB has no checksums)."""
    try:
        rec = marshal.loads(raw)
        if not isinstance(rec, tuple) or not rec or rec[0] != RECORD:
            return None
        out = cls(*rec[1:])
    except (ValueError, EOFError, TypeError):
        return None
    if not is_digest(out.output_digest) or not isinstance(out.data_version, str) \
            or not isinstance(out.size, int):
        return None
    return out


# The rule a stat-cache entry was recorded under: 2, a file changed (mtime or ctime) less than
# RACY_NS before is not recorded (workspace.is_racy). Entries of the rule before (mtime only: a
# file given a past mtime just after a write was recorded at once) read as none, so the file is
# hashed once more and recorded again.
STAT_RULE = 2


def encode_stat(sig: tuple[int, int, int, int], digest: str) -> bytes:
    return marshal.dumps((RECORD, sig, digest, STAT_RULE))


def decode_stat(raw: bytes) -> tuple[tuple[int, int, int, int], str] | None:
    try:
        rec = marshal.loads(raw)
        if rec[0] == RECORD and len(rec) == 4 and rec[3] == STAT_RULE and is_digest(rec[2]):
            return tuple(rec[1]), rec[2]
    except (ValueError, EOFError, TypeError, IndexError):
        pass
    return None


# An observation's record: its own version tag, so that history (events) can grow it later
# while this reader still tells an old record from a newer one it cannot read (None).
OBSERVATION_RECORD = 1


def encode_observation(rec: ObservationRecord) -> bytes:
    return marshal.dumps((OBSERVATION_RECORD, rec.observed_ns, rec.version, rec.metadata_json))


def decode_observation(raw: bytes) -> ObservationRecord | None:
    """An observation from its record, or None if it does not decode (or is of another version)."""
    try:
        rec = marshal.loads(raw)
        if not isinstance(rec, tuple) or len(rec) != 4 or rec[0] != OBSERVATION_RECORD:
            return None
        out = ObservationRecord(*rec[1:])
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(out.observed_ns, int) or not isinstance(out.version, str) \
            or not isinstance(out.metadata_json, str):
        return None
    return out


# A skip's record: its own version tag, like an observation's.
SKIP_RECORD = 1


def encode_skip(rec: SkipRecord) -> bytes:
    return marshal.dumps((SKIP_RECORD, rec.skipped_ns, rec.reason, rec.key))


def decode_skip(raw: bytes) -> SkipRecord | None:
    """A skip from its record, or None if it does not decode (or is of another version)."""
    try:
        rec = marshal.loads(raw)
        if not isinstance(rec, tuple) or len(rec) != 4 or rec[0] != SKIP_RECORD:
            return None
        out = SkipRecord(*rec[1:])
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(out.skipped_ns, int) or not isinstance(out.reason, str) or not isinstance(out.key, str):
        return None
    return out


# History: events and runs, each with its own version tag (a reader skips a record it cannot read).
EVENT_RECORD = 1


def encode_event(e: Event) -> bytes:
    return marshal.dumps((EVENT_RECORD, *e))


def decode_event(raw: bytes) -> Event | None:
    try:
        rec = marshal.loads(raw)
        if not isinstance(rec, tuple) or not rec or rec[0] != EVENT_RECORD:
            return None
        out = Event(*rec[1:])
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(out.run, int) or not isinstance(out.kind, str) or not isinstance(out.end_ns, int):
        return None
    return out


def encode_run(r: RunRecord) -> bytes:
    return marshal.dumps((EVENT_RECORD, *r))


def decode_run(raw: bytes) -> RunRecord | None:
    try:
        rec = marshal.loads(raw)
        if not isinstance(rec, tuple) or not rec or rec[0] != EVENT_RECORD:
            return None
        out = RunRecord(*rec[1:])
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(out.seq, int) or not isinstance(out.counts, dict) or not isinstance(out.logs, dict):
        return None
    return out


def event_key(project: str, asset: str, seq: int, index: int) -> bytes:
    """An asset's events in run order: its 16-byte history prefix, the run, then the event's
    place in the run (an asset restored and then rebuilt in one run has two)."""
    return history_prefix(project, asset) + seq.to_bytes(8, "big") + index.to_bytes(4, "big")


def asset_events(rows: Iterable[tuple[bytes, bytes]], asset: str) -> list[Event]:
    """The events of ``asset`` among the rows of its history prefix (in key order: run order)."""
    return [e for _k, v in rows if (e := decode_event(bytes(v))) is not None and e.asset == asset]


def run_events(rows: Iterable[tuple[bytes, bytes]], project: str, seq: int) -> list[Event]:
    """``project``'s events of run ``seq`` among all event rows, in the order they happened.
    Events are keyed by asset, so the run's are found by the run in their keys rather than by
    the names the AssetFile has now: an asset renamed or removed since, or a partition key
    dropped, still has its events in the runs that recorded them."""
    run = seq.to_bytes(8, "big")
    out = [e for k, v in rows if k[16:24] == run and (e := decode_event(bytes(v))) is not None
           and e.run == seq and history_prefix(project, e.asset) == k[:16]]
    out.sort(key=lambda e: e.order)
    return out


def run_key(project: str, seq: int) -> bytes:
    return runs_prefix(project) + seq.to_bytes(8, "big")


def runs_prefix(project: str) -> bytes:
    return hashlib.sha256(f"{project}\0runs".encode("utf-8", "surrogatepass")).digest()[:16]


def name_key(name: str) -> bytes:
    """The key of an asset name or a path (hashed if too long for an LMDB key)."""
    b = name.encode("utf-8", "surrogatepass")
    return b if len(b) <= 400 else b"#" + hashlib.sha256(b).digest()


def project_of_head_key(raw: bytes) -> bytes:
    """The project's prefix of a head key (``project_prefix``; empty for the default project)."""
    return raw[:17] if raw[:1] == b"\0" else b""


def name_of_head_key(raw: bytes) -> str:
    """The asset name a head key stands for (inverse of ``head_key`` without the project)."""
    k = raw[17:] if raw[:1] == b"\0" else raw  # a project's prefix (see project_prefix)
    try:
        return k.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # a name too long for an LMDB key is stored by its digest
        return "#" + k[1:].hex()


# Heads and history rows belong to one project: several projects may share a cache directory,
# each with its own asset named ``report``. A project is identified by its AssetFile's path
# relative to the cache directory, so a project copied or moved with its cache keeps its heads.
# The usual layout (``.assetbuild`` beside ``AssetFile``) keys heads by the bare asset name, as
# stores before projects were told apart did: their heads are this project's.
DEFAULT_PROJECT = "../AssetFile"


def project_id(assetfile: str | os.PathLike[str], cache_dir: str | os.PathLike[str]) -> str:
    """The identity of the project whose AssetFile is ``assetfile``, within ``cache_dir``."""
    rel = os.path.relpath(os.path.realpath(assetfile), os.path.realpath(cache_dir))
    return rel.replace(os.sep, "/")


def project_prefix(project: str) -> bytes:
    """Prefix of a project's head keys: none for the default project, else a NUL byte (no asset
    name or hashed name starts with one) and 16 bytes of the project's digest."""
    if project == DEFAULT_PROJECT:
        return b""
    return b"\0" + hashlib.sha256(project.encode("utf-8", "surrogatepass")).digest()[:16]


@functools.lru_cache(maxsize=1 << 16)  # (a build asks it of each asset several times)
def history_prefix(project: str, asset: str) -> bytes:
    name = asset if project == DEFAULT_PROJECT else f"{project}\0{asset}"
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()[:16]


def history_key(project: str, asset: str, seq: int, when_ns: int) -> bytes:
    """A history row's key: the asset's history prefix, the row's place in build order (``seq``,
    one counter per cache directory) and its recorded time. Keyed by time alone, as rows were
    before, a clock set back listed builds out of order and two builds at one ``ASSETBUILD_NOW``
    shared one row."""
    return history_prefix(project, asset) + seq.to_bytes(8, "big") + when_ns.to_bytes(8, "big")


def history_rows(rows: Iterable[tuple[bytes, bytes]]) -> list[tuple[int, str]]:
    """(time in ns, key) of an asset's history rows (in key order), oldest first by build order.
    Rows written before they had a place (24-byte keys: prefix and time) come first, by time:
    they are older than every row with one."""
    before: list[tuple[int, str]] = []
    placed: list[tuple[int, str]] = []
    for k, v in rows:
        if len(k) in (24, 32):
            (before if len(k) == 24 else placed).append((int.from_bytes(k[-8:], "big"), bytes(v).hex()))
    return before + placed


_FIRST = itemgetter(0)


class Batch:
    """Writes not yet committed: (database, key) -> value, None for a delete; inline blobs also
    by digest (a read before the commit is served from here)."""

    def __init__(self) -> None:
        self.writes: dict[tuple[bytes, bytes], bytes | None] = {}
        self.blobs: dict[str, bytes] = {}
        self.last_commit = time.monotonic()

    def __len__(self) -> int:
        return len(self.writes)

    def put(self, db: bytes, key: bytes, value: bytes | None) -> None:
        self.writes[(db, key)] = value

    def is_due(self, interval_s: float, max_pending: int) -> bool:
        """Old or large: a crash redoes at most ``interval_s`` of work."""
        return bool(self.writes) and (len(self.writes) >= max_pending
                                      or time.monotonic() - self.last_commit >= interval_s)

    def due_at(self, interval_s: float) -> float:
        return time.monotonic() + max(0.0, interval_s - (time.monotonic() - self.last_commit))

    def items(self) -> list[tuple[tuple[bytes, bytes], bytes | None]]:
        """In key order, which LMDB writes fastest; sorted on the (unique) keys alone: comparing
        whole items took a third longer (80-100 ms of a cold build of 10,000 assets)."""
        return sorted(self.writes.items(), key=_FIRST)

    def clear(self) -> None:
        self.writes.clear()
        self.blobs.clear()


class Committer:
    """A thread that commits a store's pending batch once it is due, while the build's thread is
    away from the store (``LmdbStore.flushing_while_away``); it never commits while the build's
    thread uses the store: ``leave`` waits for a commit in progress, and raises its error.

    One committer thread per store serves every stay (a build of 10,000 serial assets enters
    10,000 times: a thread per stay cost more than the assets). Nor does a stay wake it: the
    thread sleeps until the batch is due and then commits if the build's thread is away; only
    a stay due earlier than that wakes it (after a commit, or when it slept with nothing due).
    Waking it on every stay cost two thread switches an asset (a cold build of 10,000 assets
    made 76,000 futex calls; now 5,900).

    The build's thread (where Ctrl-C and SIGTERM raise, between any two calls) touches plain
    locks only with ``with`` (taken and protected in one step) and wakes the thread through a
    ``SimpleQueue``: no ``threading.Condition``, whose ``__enter__`` is Python code that an
    interrupt can leave with the lock taken. That left this lock held by the build's thread,
    the committer waiting for it for ever, and the build's end (``stop``) waiting for the
    committer: a SIGTERMed build that never ended."""

    def __init__(self, after: Callable[[], None]) -> None:
        self._after = after  # run in the committer thread after each commit (drop its reader)
        self._lock = threading.Lock()  # guards the fields below
        self._bell: queue.SimpleQueue[bool] = queue.SimpleQueue()  # wakes the sleeping thread
        self._committing = threading.Lock()  # held by the thread while it commits
        self._flush: Callable[[], None] | None = None  # set while away and not yet committed
        self._due = 0.0
        self._wake_at: float | None = None  # when the sleeping thread wakes (None: when woken)
        self._failed: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="assetbuild-commit", daemon=True)
        self._thread.start()

    def enter(self, flush: Callable[[], None], due: float) -> None:
        """Away from the store: commit ``flush`` once ``due`` (an interrupt here must be
        followed by ``leave``, as any exit from the stay is)."""
        with self._lock:
            self._flush, self._due, self._failed = flush, due, None
            if self._wake_at is None or due < self._wake_at:
                self._bell.put(True)

    def leave(self) -> None:
        """Back in the store: no commit starts now, and one in progress ends first, even when
        an interrupt comes meanwhile (the build's own commit would race it); its error is raised."""
        failed: BaseException | None = None
        interrupt: KeyboardInterrupt | None = None
        while True:
            try:
                with self._lock:
                    self._flush = None
                with self._committing:
                    failed, self._failed = failed or self._failed, None
                break
            except KeyboardInterrupt as e:  # raised by a signal, maybe after either block: again
                interrupt = e
        if interrupt is not None:
            raise interrupt
        if failed is not None:
            raise failed

    @property
    def busy(self) -> bool:
        """Whether a commit is in progress."""
        return self._committing.locked()

    def stop(self) -> None:
        with self._lock:
            self._stopped, self._flush = True, None
            self._bell.put(False)
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                now = time.monotonic()
                flush = self._flush
                if flush is None or self._due > now:
                    flush = None  # asleep until the batch is due (the last stay's due, if no stay is on)
                    self._wake_at = self._due if self._due > now else None
                    timeout = None if self._wake_at is None else self._wake_at - now
                else:
                    self._flush = None  # one commit per stay
                    self._committing.acquire()  # leave() waits on it (holds it only to read _failed)
            if flush is None:
                try:
                    self._bell.get(timeout=timeout)
                except queue.Empty:
                    pass
                with self._lock:
                    self._wake_at = None
                continue
            try:
                flush()
            except BaseException as e:  # noqa: BLE001 - raised in the build's thread by leave()
                self._failed = e
            finally:
                try:
                    self._after()
                finally:
                    self._committing.release()


class Away:
    """A stay away from the store (``LmdbStore.flushing_while_away``). A class, not a generator:
    ``contextmanager``'s ``__enter__`` can be interrupted after the generator armed the
    committer and before the ``with`` statement holds the block, and nothing then ends the stay
    while the build's thread writes to the batch the committer may be committing."""

    __slots__ = ("_committer", "_flush", "_due")

    def __init__(self, committer: Committer, flush: Callable[[], None], due: float) -> None:
        self._committer, self._flush, self._due = committer, flush, due

    def __enter__(self) -> None:
        try:
            self._committer.enter(self._flush, self._due)
        except BaseException:  # an interrupt, maybe after the committer was armed
            self._committer.leave()
            raise

    def __exit__(self, *exc: object) -> None:
        self._committer.leave()
