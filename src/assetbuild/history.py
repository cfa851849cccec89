"""History: every command that builds, restores or observes is a run, and what happened to each
asset in it is an event (materialized, restored, failed, skipped, observed, accepted), kept in the store.

A cached result is no event: its run counts it. A run in which nothing happened (a null build)
is not recorded at all, so a null build still writes nothing. Events are written in the batch of
the build's own writes (the head a materialization writes and its event commit together). The
run's record goes into the batch of its first event, unfinished (exit status None), and is
written again as the command ends: a command killed (SIGKILL, a power cut) leaves its events
under a run that ``runs`` lists as killed, never under one that does not exist. Times are by
assetbuild.clock (``ASSETBUILD_NOW``).

Text is recorded as every output can write it (``metadata.safe_text``): a lone surrogate in a
log line, an error or metadata (half an emoji from an API) is kept as its escape, ``\\ud83d``,
so ``log`` and ``runs show`` never meet text their stdout cannot encode.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .clock import now_ns
from .metadata import encode_metadata, safe_text
from .reports import AssetResult, Event, ObservationResult, RunRecord

KINDS = {"built": "materialized", "restored": "restored", "failed": "failed", "skipped": "skipped"}
DEFAULT_HISTORY = 100  # events kept per asset by gc ([tool.assetbuild] history)


def command_line(api_call: str) -> str:
    """What to call a run: the command line when the assetbuild command itself runs it
    (``wording.from_the_command``), else the API call that made it (``python: build(...)``): a
    script's, or an asset's that builds another project within a command's build. The UI's builds
    say ``ui: build(...)`` (``wording.called_from``), not the ``assetbuild ui`` that serves them.
    Credentials in it (a ``--remote`` URL's password or token, a secret ``--remote-option``) are
    hidden: ``runs`` and the UI show it."""
    from .redaction import redact_text
    from .wording import caller, from_the_command

    who = caller()
    if who == "python" and from_the_command() and sys.argv:
        import shlex

        return redact_text(" ".join(["assetbuild", *(shlex.quote(a) for a in sys.argv[1:])]))
    return redact_text(f"{who}: {api_call}")


UNFINISHED_EVERY_S = 0.5  # how often a run's unfinished record is written again with its counts


class RunRecorder:
    """Records one run's events into ``store`` as they come, and the run itself: unfinished with
    its first event, then finished at the end.

    The run's sequence number is taken at its first event, so a run that records nothing takes
    none (and writes nothing). The unfinished record's counts and end follow the events at most
    every ``UNFINISHED_EVERY_S`` (an encoding per event would cost a cold build of 10,000
    assets 30 ms); ``runs show`` of a killed run counts its events."""

    def __init__(self, store: Any, command: str, selection: Sequence[str]) -> None:
        self.store = store
        self.command = safe_text(command)
        self.selection = tuple(selection)
        self.start_ns = now_ns()
        self._t0 = time.perf_counter()
        self.seq: int | None = None
        self.logs: dict[str, tuple[tuple[int, str], ...]] = {}
        self._stored: dict[str, str] = {}  # outs stored beside the build's results -> status
        self._last: dict[str, AssetResult] = {}  # asset -> the result recorded last
        self._before: dict[str, AssetResult] = {}  # those of the build before it started over (going_on)
        self._index = 0
        self._counts: dict[str, int] = {}  # status -> events recorded, for the unfinished record
        self._noted: float | None = None  # when the unfinished record was last written (perf_counter)
        self._restores: dict[str, tuple[str | None, int]] = {}  # asset -> key and place of its "restored" event
        # the heads the build writes, as written (LmdbStore keeps them while asked to)
        keep = getattr(store, "keep_written_heads", None)
        self._heads: dict[str, Any] = keep() if keep is not None else {}

    def going_on(self, store: Any) -> RunRecorder:
        """This run, recording into ``store`` from now on: a build that started over
        (``SliceInsufficient``) goes on with the run that recorded what it ran first, whose
        results it hands to ``result`` again (recorded once)."""
        self.store = store
        keep = getattr(store, "keep_written_heads", None)
        self._heads = keep() if keep is not None else {}
        self._before = dict(self._last)
        return self

    def _run(self) -> int:
        if self.seq is None:
            self.seq = self.store.next_run_seq()
        return self.seq

    def _put(self, event: Event, status: str | None) -> None:
        """Record ``event`` (counted under ``status``, if any), and with the first, or once
        ``UNFINISHED_EVERY_S`` passed, the run's unfinished record in the same batch."""
        self.store.put_event(event)
        if status is not None:
            self._counts[status] = self._counts.get(status, 0) + 1
        t = time.perf_counter()
        if self._noted is None or t - self._noted >= UNFINISHED_EVERY_S:
            self._noted = t
            self.store.put_run(RunRecord(event.run, self.command, self.selection, self.start_ns, now_ns(),
                                         dict(self._counts), None, {}, t - self._t0))

    def _next(self) -> int:
        self._index += 1
        return self._index

    def _order(self, r: AssetResult, kind: str) -> int:
        """The place of ``r``'s event in the run. A remote hit whose bytes did not arrive intact
        is run again under the same key: that run is what happened, and its event takes the
        place of the restore that did not (a later result under another key is an event of its own)."""
        earlier = self._restores.pop(r.asset, None)
        if earlier is not None and earlier[0] == r.key:
            self._counts["restored"] -= 1  # (the unfinished record's counts: the event it replaces)
            order = earlier[1]
        else:
            order = self._next()
        if kind == "restored":
            self._restores[r.asset] = (r.key, order)
        return order

    def result(self, r: AssetResult) -> None:
        """An asset's result that is not ``cached``: an event (its run counts the cached ones)."""
        if self._before and self._before.get(r.asset) is r:  # recorded before the build started over
            return
        self._last[r.asset] = r
        if r.logs:
            self.logs[r.asset] = tuple((level, safe_text(text)) for level, text in r.logs)
        kind = KINDS.get(r.status)
        if kind is None or r.metadata.get("kind") == "observable_source":  # a failed observation: observed()
            return
        reasons = tuple((x.code, safe_text(x.detail)) for x in r.reasons)
        skip = None if r.skip_reason is None else safe_text(r.skip_reason)
        if skip is not None and not any(d == skip for _, d in reasons):
            reasons += (("skip", skip),)  # Skip(reason), or "produced no output"
        if kind in ("materialized", "restored"):
            # the head this result just wrote: as written, else from the batch
            head = self._heads.get(r.asset)
            if head is None:
                head = self.store.get_head(r.asset)
            # (a remote hit's head waits for its bytes: the one here may be an older build of its key)
            if head is not None and head.key == r.key and head.data_version == r.data_version:
                end = head.built_ns if kind == "materialized" else now_ns()
                self._put(Event(
                    self._run(), r.asset, kind, end - int(r.duration_s * 1e9), end, r.duration_s, head.key,
                    head.code, tuple(head.inputs), head.data_version, head.size,
                    encode_metadata(r.metadata) if kind == "materialized" else self._metadata_of(head.key),
                    reasons, None, None, self._order(r, kind)), r.status)
                return
        end = now_ns()
        self._put(Event(self._run(), r.asset, kind, end - int(r.duration_s * 1e9), end, r.duration_s,
                        r.key, None, (), r.data_version, None, "", reasons, _safe(r.error),
                        _safe(r.traceback), self._order(r, kind)), r.status)

    def _metadata_of(self, key: str) -> str:
        """The metadata recorded with the materialization a restore brings back: the value's, as
        ``show --meta`` gives it, so a metric's history ends at the value the asset has."""
        trace = self.store.get_trace(key)
        return trace.metadata_json if trace is not None else ""

    def stored(self, r: AssetResult) -> None:
        """An out its multi-asset's run returned beside the outs asked for: stored, so recorded
        (an event, and counted in the run) though none of the build's results."""
        self._stored[r.asset] = r.status
        self.result(r)

    def accepted(self, asset: str, head: Any, reasons: Sequence[tuple[str, str]]) -> None:
        """``accept``: the asset's output recorded as the result of its current key (``head``,
        as written), without running; ``reasons``: what had changed since it was built."""
        end = now_ns()
        self._put(Event(self._run(), asset, "accepted", end, end, 0.0, head.key, head.code,
                        tuple(head.inputs), head.data_version, head.size, "",
                        tuple((c, safe_text(d)) for c, d in reasons), None, None, self._next()), "accepted")

    def observed(self, observations: Iterable[ObservationResult]) -> None:
        """Observations made for this run: an event each, failed ones too."""
        for o in observations:
            end = o.observed_ns or now_ns()
            start = end - int(o.duration_s * 1e9)
            if o.ok:
                self._put(Event(self._run(), o.source, "observed", start, end, o.duration_s, None, None,
                                (), o.version, None, encode_metadata(o.metadata), (), None, None,
                                self._next()), None)
            else:
                self._put(Event(self._run(), o.source, "failed", start, end, o.duration_s, None, None,
                                (), None, None, "", (), _safe(o.error), _safe(o.traceback), self._next()), None)

    def finish(self, exit_status: int, outcomes: Mapping[str, str] | None = None) -> None:
        """Record the run as finished (over its unfinished record), if anything in it was
        recorded; ``outcomes``: asset -> status, of every result (cached ones too), for its counts."""
        if self.seq is None:
            return
        counts: dict[str, int] = {}
        for status in {**self._stored, **(outcomes or {})}.values():
            counts[status] = counts.get(status, 0) + 1
        self.store.put_run(RunRecord(self.seq, self.command, self.selection, self.start_ns, now_ns(),
                                     counts, exit_status, dict(self.logs), time.perf_counter() - self._t0))


def _safe(text: str | None) -> str | None:
    return None if text is None else safe_text(text)
