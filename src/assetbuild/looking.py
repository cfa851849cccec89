"""What a build would do, without doing it: ``status``, the data versions it would use
(``why``), and the results of a dry run (``-n``). The scheduler's read-only half: the same
decisions a build acts on, acted on by nobody."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .contracts import Decision, Files, TraceStore
from .definitions import AssetDef
from .errors import SourceMissing
from .graph import Graph
from .known import Blocked, Known, Unusable, unusable_status
from .manifest import is_dir_output
from .rebuild import failed_state, is_forced, state_of, would_do
from .reports import AssetResult, AssetStatus, ObservationResult, Reason
from .skips import skip_note


def _fresh(name: str) -> AssetStatus:
    """``AssetStatus(name, "fresh")`` without the frozen dataclass's setattr per field (one per
    asset and partition of a status)."""
    st = object.__new__(AssetStatus)
    st.__dict__.update(asset=name, state="fresh", reasons=())
    return st


class Looking:
    """Mixed into the Scheduler, whose decisions it reads."""

    graph: Graph
    store: TraceStore
    files: Files
    sources: set[str]
    known: dict[str, Known]
    blocked: dict[str, Blocked]
    causes: dict[str, str]
    observations: Mapping[str, ObservationResult]
    _source_path: dict[str, str]
    outputs: Any  # the Materializer: the data version readers' keys use
    _decide: Callable[..., Decision]  # the Scheduler's: the rebuilder's decision, recorded in ``known``
    _input_versions: Callable[[str], Any]
    rebuilder: Any
    predicting: bool

    def status(self, plan: Sequence[str]) -> list[AssetStatus]:
        """What a build would make of each asset: the rebuilder's decisions, acted on by nobody."""
        self.predicting = True  # builds nothing: says what a build would find
        out = []
        hit = getattr(self.rebuilder, "cached_hit", None)  # a fresh asset without a Decision (as a build)
        fresh = _fresh
        for name in plan:
            try:
                if hit is not None:
                    found = hit(name, self._input_versions(name) if self.graph.inputs[name] else [])
                    if found is not None:
                        key, dv, digest = found
                        self.known[name] = Known(key, self.outputs.usable_version(dv), digest)
                        out.append(fresh(name))
                        continue
                d = self._decide(name)
            except Unusable as e:  # a source it needs (directly or upstream) does not exist,
                st = unusable_status(name, e, self.graph.inputs, self.observations)  # or failed
                if self.store.get_head(name) is None:  # never built (or cleaned): missing, as without the cause
                    st = AssetStatus(name, "missing", st.reasons)
                out.append(st)
                continue
            st = state_of(name, d)
            if d.action == "run" and d.key is not None:  # only an asset that would run can have failed
                st = failed_state(self.store, st, d.key)
            note = skip_note(self.store.get_skip(name), d.head) if d.action == "run" else None
            if note is not None:
                st = AssetStatus(name, st.state, st.reasons + (note,) + self._kept(name, d))
            elif d.action == "run" and self._optional_out(name):  # a run may return no value for it
                st = AssetStatus(name, st.state, st.reasons + self._kept(name, d))
            out.append(st)
        return out

    def _optional_out(self, name: str) -> bool:
        """Whether ``name`` is an ``Out(required=False)``: a run of its multi-asset may leave it out,
        its previous value (files put back where missing or edited) then current."""
        adef = self.graph.nodes.get(name)
        return isinstance(adef, AssetDef) and adef.producer is not None and not adef.output_required

    def _kept(self, name: str, d: Decision) -> tuple[Reason, ...]:
        """What is missing or changed of the previous value a skip keeps current (``d.head``),
        which a build puts back from the cache (or, if it cannot, skips its readers)."""
        kept_state = getattr(self.rebuilder, "kept_state", None)
        state = kept_state(name, d.head) if kept_state is not None and d.head is not None else None
        return () if state is None else state[1]

    def version_of(self, name: str) -> str | None:
        """The data version this build uses for a source or a decided asset (None: not known)."""
        if name in self.sources:
            try:
                return self.files.source_version(self._source_path[name])
            except SourceMissing:
                return None
        known = self.known.get(name)
        return known.data_version if known else None

    def _decide_to_write(self, name: str) -> Decision:
        """``_decide``, for a build that acts on it: ``Unusable`` (the asset fails, before it
        runs) when a file it would write (a path output, a declared file output) has a directory
        holding other files in its place. Those files are the user's, never deleted; ``-n`` asks
        this too, so it predicts the failure the build then has."""
        d = self._decide(name)
        if d.action == "cached":
            return d
        in_the_way = getattr(self.files, "in_the_way", None)
        adef: Any = self.graph.nodes[name]
        for rel in (adef.path,) if adef.path is not None else (o for o in adef.outputs if not is_dir_output(o)):
            why = in_the_way(rel) if in_the_way is not None else None
            if why is not None:
                why = f"cannot write its output {rel}: {why}"
                self.blocked[name] = Blocked.FAILED
                self.causes[name] = why
                raise Unusable(why, fails=True)
        return d

    def _dry_run(self, name: str) -> AssetResult:
        """What a build would do with one asset, as a result with ``metadata["would"]``."""
        try:
            d = self._decide_to_write(name)
        except Unusable as e:
            return AssetResult(name, "failed" if e.fails else "skipped",
                               error=e.why if e.fails else f"not run: {e.why}")
        if is_forced(d.reasons) and d.trace is not None and d.key is not None:
            # forced, though its stored output is current: -n predicts that the run remakes it,
            # so its readers that are not forced are predicted cached, as a build finds them
            self.known[name] = Known(d.key, self.outputs.usable_version(d.trace.data_version),
                                     d.trace.output_digest)
        return would_do(name, d, self.known[name].data_version)
