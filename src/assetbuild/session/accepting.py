"""``accept``: record an asset's current output as the result of its current code and inputs,
without running it (DVC's ``commit``). The escape hatch after a change that changes nothing: a
refactor, a renamed helper, a reformatted constant.

It writes what a build would have written had the function run and returned the same bytes: a
trace for the key the asset has now, and a head with that key's parts; history gets an event of
kind ``accepted``. It refuses (``AcceptRefused``, exit 1) when there is no output to accept (never
built, gone from the cache, its path output missing or edited), when an input is not up to date
(accepting would record a key made of data versions no build has produced yet), when its IO
manager changed (the stored bytes may not be what it reads now), when it is expired (no record
makes data younger) or when its current key's last run failed (the code raised: it does not make
the stored bytes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..errors import AcceptRefused, CacheCorrupt, SelectionError
from ..graph import select
from ..known import Unusable
from ..output import Reporter
from ..reports import Head, Trace
from .arguments import verb
from .building import make_scheduler, project_params
from .observing import observe_for
from .partitioning import one_partition_please
from .project import open_project, open_store, waiting_warning


@verb
def accept(asset: str, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
           cache_dir: str | os.PathLike[str] | None = None, reporter: Reporter | None = None,
           dry_run: bool = False, params: dict[str, Any] | None = None,
           param_args: Sequence[str] = ()) -> dict[str, Any]:
    """Record ``asset``'s stored output as the result of its current key, without running it.

    Returns ``{"asset", "accepted" (False: nothing written), "fresh" (it was fresh already),
    "key" (now),
    "old_key", "data_version", "reasons" (what had changed: [{"code", "detail"}])}``. With
    ``dry_run``, checks and describes without writing. Raises ``AcceptRefused`` (see the module)."""
    rep = reporter or Reporter(verbosity=-2)
    with rep.stdout_for_json(), open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir,
                                             reporter=rep) as project:
        graph = project.graph
        if asset not in graph.inputs:
            if asset in graph.producers:
                raise SelectionError(f"{asset!r} is a multi-asset; accept each of its outs "
                                     f"({', '.join(graph.producers[asset])})")
            select(graph, [asset])  # raises a SelectionError with a suggestion
            one_partition_please(graph, asset)  # a partitioned asset: name the partition
            raise SelectionError(f"{asset!r} is not an asset; only an asset's output can be accepted")
        if graph.nodes[asset].volatile:  # type: ignore[union-attr]
            raise AcceptRefused(f"cannot accept {asset!r}: it is volatile (it runs on every build)")
        plan = select(graph, [asset])
        resolved = project_params(project, args=param_args, given=params)
        store = open_store(project, readonly=dry_run)
        try:
            if not dry_run:
                store.acquire_lock(on_wait=waiting_warning(project.cache_dir, rep.warn))
            observations = observe_for(project, plan, store, record=False)
            sched = make_scheduler(project, store, record=False, params=resolved, observations=observations)
            direct = {up for _, up in graph.inputs[asset]}
            for st in sched.status([n for n in plan if n != asset]):
                if st.state != "fresh":
                    why = f" ({st.reasons[0].code}: {st.reasons[0].detail})" if st.reasons else ""
                    which = "its input" if st.asset in direct else "the upstream asset"
                    raise AcceptRefused(f"cannot accept {asset!r}: {which} {st.asset!r} is {st.state}{why}; "
                                        f"build it first (assetbuild build {st.asset})")
            try:
                d = sched._decide(asset)
            except Unusable as e:
                raise AcceptRefused(f"cannot accept {asset!r}: {e.why}") from None
            head = store.get_head(asset)
            doc = {"asset": asset, "accepted": False, "fresh": d.action == "cached", "key": d.key, "old_key": head.key if head else None,
                   "data_version": head.data_version if head else None,
                   "reasons": [r.to_json() for r in d.reasons]}
            if d.action == "cached":
                return doc  # fresh: nothing to accept
            if d.action != "run":  # its key has a result already; the output on disk differs
                raise AcceptRefused(f"cannot accept {asset!r}: "
                                    + "; ".join(r.detail for r in d.reasons)
                                    + f" (its current key has a result: assetbuild build {asset} restores it)")
            _check_output(asset, head, d, sched, store)
            _check_not_disproved(asset, head, d, sched, store)
            if dry_run:
                return doc
            _record(asset, head, d, store, getattr(graph.nodes[asset], "fn", None))  # type: ignore[arg-type]  # _check_output: not None
            doc["accepted"] = True
            store.flush()
            return doc
        finally:
            store.close()


def _check_output(asset: str, head: Head | None, d: Any, sched: Any, store: Any) -> None:
    """Refuse unless the asset has a stored output, untouched, that its current IO manager reads."""
    if head is None:
        raise AcceptRefused(f"cannot accept {asset!r}: it has never been built, so there is no output to accept")
    if d.key is None:
        raise AcceptRefused(f"cannot accept {asset!r}: its key is not known until its inputs are built")
    if not store.has_blob(head.output_digest, head.size):
        raise AcceptRefused(f"cannot accept {asset!r}: its output is missing (gone from the cache)")
    if head.io != d.parts.io:
        raise AcceptRefused(f"cannot accept {asset!r}: its IO manager changed ({head.io} -> {d.parts.io}), "
                            "so the stored bytes may not be what it reads now; build it")
    adef = sched.graph.nodes[asset]
    rebuilder = sched.rebuilder
    check = getattr(rebuilder, "check_output", None)
    if check is not None and adef.io in check.names:
        problem = check(asset, adef.io, head.data_version)
        if problem is not None:
            raise AcceptRefused(f"cannot accept {asset!r}: {problem[1]}")
    if adef.outputs:
        try:
            problems = sched.files.outputs_state(rebuilder.manifest(head.output_digest))
        except (CacheCorrupt, ValueError) as e:
            raise AcceptRefused(f"cannot accept {asset!r}: the stored list of its files is unusable ({e})") from None
        if problems:
            what = ", ".join(f"{rel} ({p})" for p, rel in problems[:3])
            raise AcceptRefused(f"cannot accept {asset!r}: its files are not as it wrote them: {what}; "
                                f"build it")
    elif adef.path is not None:
        state, _ = sched.files.path_state(adef.path, head.output_digest, head.path_stat)
        if state == "missing":
            raise AcceptRefused(f"cannot accept {asset!r}: its output {adef.path} is missing")
        if state == "modified":
            raise AcceptRefused(f"cannot accept {asset!r}: {adef.path} was changed outside assetbuild; "
                                "build it (accept records only what assetbuild wrote)")


def _check_not_disproved(asset: str, head: Head, d: Any, sched: Any, store: Any) -> None:
    """Refuse what accepting would not make fresh, or would record against the evidence: an
    expired output (``max_age`` measures the data's age, which the record keeps: the next build
    would run it anyway), and a key whose last run failed (accept claims the code returns the
    stored bytes; it raised instead). Inputs in either state are refused the same way."""
    max_age = sched.graph.nodes[asset].max_age
    expired = sched.rebuilder._expired(head, max_age) if max_age is not None else None
    if expired is not None:
        raise AcceptRefused(f"cannot accept {asset!r}: it is expired ({expired.detail}), which accept cannot "
                            f"change: its output stays as old as it is; build it (assetbuild build {asset})")
    last = store.last_event(asset)
    if last is not None and last.kind == "failed" and last.key == d.key:
        first = (last.error or "").strip().splitlines()
        raise AcceptRefused(f"cannot accept {asset!r}: it failed under its current code and inputs "
                            f"({first[0] if first else 'failed'}), so its stored output is not what they make; "
                            f"fix it and build it (assetbuild build {asset})")


def _record(asset: str, head: Head, d: Any, store: Any, fn: Any) -> None:
    """The trace and head a build would have written, had it run and returned the same bytes
    (built when they were built: ``max_age`` still measures the data's age), and the event."""
    from ..clock import now_ns
    from ..fingerprint.shown import shown_values
    from ..history import RunRecorder, command_line
    from ..moved import MovedOutputs

    old = store.get_trace(head.key)
    metadata_json = old.metadata_json if old is not None else ""
    p = d.parts
    store.put_trace(d.key, Trace(head.data_version, head.output_digest, p.io, head.size, head.duration_s,
                                 head.built_ns, metadata_json))
    new = Head(d.key, head.data_version, head.output_digest, p.code, p.code_parts, p.inputs, p.io, p.path,
               head.path_stat, head.built_ns, head.size, head.duration_s, p.sources, p.env, params=p.params,
               resources=p.resources, fan_in=p.fan_in, producer=p.producer,
               code_values=shown_values(fn, p.code_parts), partition=p.partition, out_index=p.out_index,
               binding=p.binding)
    MovedOutputs(store).replacing(asset, head, new)  # a path= changed: the old file is noted
    store.put_head(asset, new)
    store.add_history(asset, now_ns(), d.key)
    recorder = RunRecorder(store, command_line(f"accept({asset!r})"), [asset])
    recorder.accepted(asset, new, [(r.code, r.detail) for r in d.reasons])
    recorder.finish(0, {asset: "accepted"})
