"""The rebuilder: whether an asset runs, is reused, has its path output restored or is fetched
from a remote cache, and why. A constructive-trace rebuilder (Bazel's, with Shake's early
cutoff): a key that has a trace is done work. Order and parallelism are the scheduler's business.

Time enters in two ways, both decided here so that build, ``status``, ``-n`` and ``why`` agree:
a volatile asset always runs (a fresh nonce in its key), and an asset with ``max_age`` runs
when the work its key found is older than that at the build's "now" (injected; see
assetbuild.clock). Either way its readers' keys use its data version, so identical bytes stop
the rebuild there (early cutoff).

A ``Decision`` carries the key, its parts and the trace it found, so acting on it (restore,
record a head, explain it in ``status``) never looks anything up again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

from .clock import age_ns, format_duration, format_limit, iso_utc
from .clock import now_ns as clock_now_ns
from .contracts import Action, Decision, Files, TraceStore
from .definitions import AssetDef, SourceDef
from .errors import CacheCorrupt
from .fingerprint.shown import shown_values
from .graph import Graph
from .keys import KeyParts, env_parts, explain_change, implied_binding, make_key, source_key_path
from .manifest import Manifest, decode_manifest, output_place, outputs_key_part
from .params import declared_json
from .reports import AssetResult, AssetStatus, Head, Reason, Trace

CodeOf = Callable[[str], tuple[str, dict[str, str]]]  # asset -> (fingerprint, its parts)



def forced_reasons() -> tuple[Reason, ...]:
    """Why a forced asset runs, in the words of the caller (``--force``, or ``force=True`` from
    the Python API), as its result, ``-n`` and the history say it."""
    from .wording import words

    return (Reason("forced", words("--force", "force=True")),)


def is_forced(reasons: Sequence[Reason]) -> bool:
    """Whether a decision's reasons are ``forced_reasons()`` (in either words)."""
    return len(reasons) == 1 and reasons[0].code == "forced"
_FROM_REMOTE = Reason("remote", "the remote cache has it: a build restores it without running it")
VOLATILE = Reason("volatile", "runs on every build")
_NEVER_BUILT = Reason("never-built", "no earlier build of this asset")
_ELSEWHERE = Reason("key-changed", "the interpreter (Python version, implementation or -O) or the key schema changed")


def head_parts(head: Head) -> KeyParts:
    """The key parts recorded with an asset's latest build."""
    return KeyParts(head.code, head.code_parts, tuple((u, v) for u, v in head.inputs), head.io, head.path,
                    tuple((n, p) for n, p in head.sources), env=tuple((n, v) for n, v in head.env),
                    params=head.params,
                    resources=tuple((n, v) for n, v in head.resources),
                    fan_in=tuple((p, n) for p, n in head.fan_in), producer=head.producer,
                    partition=head.partition, out_index=head.out_index, binding=tuple(head.binding))


# what a key part is called in a stored-before reason (a part not named here is of the inputs)
_PART_WORDS = {"code": "code", "code_parts": "code", "env": "environment variables", "params": "params",
               "resources": "resources", "io": "IO manager", "path": "path", "partition": "partition",
               "out_index": "place among the outs"}


def _stored_before(parts: KeyParts, head: Head) -> Reason:
    """The reason a key built before is taken again, naming what came back: after a revert of
    the code alone, "its inputs are back" sent the reader looking for a data change."""
    was = head_parts(head)
    changed = [f for f in KeyParts._fields if f != "nonce" and getattr(parts, f) != getattr(was, f)]
    words = list(dict.fromkeys(_PART_WORDS.get(f, "inputs") for f in changed)) or ["inputs"]
    what = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    verb = "is" if len(words) == 1 and words[0] in ("code", "IO manager", "path", "partition",
                                                    "place among the outs") else "are"
    return Reason("stored-before", f"its {what} {verb} back to what a build before had; that build's stored "
                                   "value is taken, without a run")


def made_elsewhere(name: str, head: Head) -> bool:
    """Whether ``head`` (not a volatile asset's) was built by another interpreter or key schema:
    its recorded parts give another key here. Its code digests then differ whatever the source
    says (bytecode is the interpreter's), so they tell nothing about the code."""
    return make_key(name, head_parts(head)) != head.key


def why_run(parts: KeyParts, head: Head | None, sources: frozenset[str] | set[str],
            observed: frozenset[str] | set[str] = frozenset(), fn: Any = None,
            name: str | None = None, free: Sequence[str] | None = None) -> tuple[Reason, ...]:
    """Reasons a key has no trace: what changed since the asset's latest build. ``fn``: the
    asset's function, whose short values of changed constants are shown beside the recorded ones.
    ``name``: the asset's, to tell a build by another interpreter (``made_elsewhere``): that is
    the reason, not a code change (a ``code_version`` is still compared). ``free``: the
    function's parameters as keys.implied_binding takes them, to name inputs passed to other
    parameters."""
    if head is None:
        return (_NEVER_BUILT,)
    if name is not None and made_elsewhere(name, head):
        other = explain_change(head_parts(head), parts, sources=sources, observed=observed, free=free)
        return (_ELSEWHERE, *(r for r in other if r.code != "code-changed" or parts.code.startswith("v:")))
    values: tuple[Mapping[str, str], Mapping[str, str]] = ({}, {})
    if fn is not None and head.code_values and head.code != parts.code:
        values = (dict(head.code_values), dict(shown_values(fn, dict(head.code_values))))
    reasons = explain_change(head_parts(head), parts, sources=sources, observed=observed, values=values,
                             free=free)
    if not reasons and parts.sources and not head.sources:
        reasons = [Reason("key-changed", "keys now include the paths of the sources an asset reads "
                          "(its latest build was made by an older assetbuild)")]
    if not reasons:
        reasons = [Reason("key-changed", "the interpreter, key schema or an IO manager's version changed")]
    return tuple(reasons)


def _upstream_stale(parts: KeyParts, head: Head | None, sources: frozenset[str] | set[str] = frozenset(),
                    observed: frozenset[str] | set[str] = frozenset(), fn: Any = None,
                    name: str | None = None, free: Sequence[str] | None = None,
                    kept: tuple[str, tuple[Reason, ...]] | None = None) -> Decision:
    """A dry run's decision while an upstream will rebuild: run, unless that output is unchanged
    and nothing else in the key changed. What else changed (its code, env, params, a resource's
    version, another input, its own data gone where no restore can bring it back: ``kept``,
    ``kept_state``'s answer for the head) is known now, whatever the upstream makes: it is said,
    and then the asset runs whatever that output is (``would_do``: "run", not "maybe"). Its
    output missing or edited where the cache has it: restored if it does not run, as said."""
    if head is None:  # missing: that is the one reason (it runs whatever its upstream makes)
        return Decision("run", parts, reasons=(_NEVER_BUILT,), head=head)
    unknown = [up for up, dv in parts.inputs if dv is None]
    recorded = dict(head.inputs)
    assumed = parts._replace(inputs=tuple((up, recorded.get(up, "") if dv is None else dv) for up, dv in parts.inputs))
    known = tuple(r for r in why_run(assumed, head, sources, observed, fn, name, free)
                  if r.code != "key-changed" or r is _ELSEWHERE)
    if kept is not None and kept[0] == "gone":
        known += kept[1]
    only_if = "" if known else " (runs only if that output changes)" if kept is None else \
        f" (runs only if that output changes, else is restored: {'; '.join(r.detail for r in kept[1])})"
    stale = Reason("upstream-changed", f"{_some(unknown)} {'is' if len(unknown) == 1 else 'are'} stale" + only_if)
    first = ("code-changed", "key-changed")
    code = tuple(r for r in known if r.code in first)
    return Decision("run", parts, reasons=code + (stale,) + tuple(r for r in known if r.code not in first),
                    head=head)


class TraceRebuilder:
    """Decides from the store's traces and heads and the state of path outputs.

    ``code_of`` gives an asset's code fingerprint (the scheduler's, made before anything runs);
    ``io_tags`` the "name@version" of each asset's IO manager, which enters its key; ``now``
    the clock, read once here: every decision of this build uses that one "now" (a bad
    ``ASSETBUILD_NOW`` fails here, before anything runs).
    """

    def __init__(self, graph: Graph, store: TraceStore, files: Files, *, code_of: CodeOf,
                 io_tags: dict[str, str], now: Callable[[], int] = clock_now_ns,
                 environ: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                 check_output: Any = None) -> None:
        self.now_ns = now()
        # IO managers that keep their data outside the cache (assetbuild.external.OutputChecker):
        # ``check_output(asset, io, recorded data version)`` says whether that data is still as
        # recorded; reusing a build whose data is gone or changed would hand readers other data
        self.check_output = check_output
        self._external = check_output.names if check_output is not None else frozenset()
        # the environment the keys of declared variables (``env=``) read, once per build; process
        # workers start with os.environ later in the same build (their pool lives for one build).
        # Like ``now``, the world's unless a caller (a test) gives its own.
        self.environ = dict(os.environ if environ is None else environ)
        # asset -> the canonical JSON of its resolved params (assetbuild.params), resolved once per
        # build by the session, which hands the same text to the asset's task; an asset missing
        # here gets its declared defaults
        self.params = params or {}
        self.graph = graph
        self.store = store
        self.files = files
        self.code_of = code_of
        self.io_tags = io_tags
        self._key_paths = {n: source_key_path(d.path) for n, d in graph.nodes.items() if isinstance(d, SourceDef)}
        self.sources = frozenset(self._key_paths)
        self.observed = frozenset(graph.observable)  # observable sources: their versions are shown
        self._passed: dict[str, tuple[tuple[str, str], ...]] = {}
        self._manifests: dict[str, Manifest] = {}  # digest -> manifest of produced files
        self._lean_head = getattr(store, "head_entry", None)  # a head's key and versions, without a Head
        # whether a path output still has the stat signature its head recorded: one stat, no hash
        self._path_unchanged = getattr(files, "path_unchanged", None)
        self._nodes = graph.nodes
        # an out -> its place in its multi-asset's outs (KeyParts.out_index)
        self._out_index = {out: i for outs in graph.producers.values() for i, out in enumerate(outs)}
        self._bindings: dict[str, tuple[str, ...]] = {}  # asset -> KeyParts.binding

    def _resource_versions(self, name: str) -> tuple[tuple[str, str], ...]:
        """KeyParts.resources: (name, version) of each resource ``name`` uses that has a version."""
        uses = self.graph.uses.get(name)
        if not uses:
            return ()
        res = self.graph.resources
        return tuple(sorted({(r, v) for _, r in uses if (v := res[r].version) is not None}))

    def _fan_in(self, name: str) -> tuple[tuple[str, int], ...]:
        """KeyParts.fan_in: (parameter, how many inputs it binds) of each fan-in parameter."""
        fan = self.graph.fan_in.get(name)
        if not fan:
            return ()
        labels = self.graph.fan_labels.get(name)
        if labels is not None and len(labels) == len(fan):  # a partition's: its mapped keys, counted already
            return tuple((p, len(labels[p])) for p in fan)
        bound = self.graph.inputs[name]
        return tuple((p, sum(1 for q, _ in bound if q == p)) for p in fan)

    def forcing(self, names: Container[str] | None = None,
                why: Mapping[str, tuple[Reason, ...]] | None = None,
                default: tuple[Reason, ...] | None = None) -> ForcingRebuilder:
        return ForcingRebuilder(self, names, why, default)

    def _free(self, name: str, adef: AssetDef) -> tuple[str, ...]:
        """The parameters of ``name``'s function that keys.implied_binding passes inputs to: all
        but ``context``, those given a resource and those a partition mapping leaves unset."""
        skip = {"context", *self.graph.absent.get(name, ())}
        uses = self.graph.uses.get(name)
        if uses:
            skip.update(p for p, _ in uses)
        return tuple(p for p, _ in adef.params if p not in skip)

    def _binding(self, name: str, adef: AssetDef) -> tuple[str, ...]:
        """KeyParts.binding: the parameter each input is passed to, unless implied_binding says so."""
        got = self._bindings.get(name)
        if got is None:
            bound = self.graph.inputs[name]
            ps = adef.params
            first = 1 if ps and ps[0][0] == "context" else 0
            if len(ps) - first >= len(bound) and all(ps[first + i][0] == p for i, (p, _) in enumerate(bound)):
                got = ()  # the first parameters (after context), one input each, in order: implied (most assets)
            else:
                actual = tuple(p or "" for p, _ in bound)
                implied = implied_binding(self._free(name, adef), len(bound), self._fan_in(name)) if bound else ()
                got = () if actual == implied else actual
            self._bindings[name] = got
        return got

    def _why(self, parts: KeyParts, head: Head | None, adef: AssetDef, name: str) -> tuple[Reason, ...]:
        return why_run(parts, head, self.sources, self.observed, adef.fn, name, self._free(name, adef))

    def _parts(self, name: str, adef: AssetDef, inputs: Sequence[tuple[str, str | None]]) -> KeyParts:
        """What goes into ``name``'s key now (an unknown input version, None, only ever reaches a
        dry run's parts, never a key)."""
        code, code_parts = self.code_of(name)
        part = adef.partition
        passed = self._passed.get(name if part is None else part.asset)  # a partition: its asset's
        if passed is None:
            passed = self._passed_sources(name, adef)
        where = output_place(adef.outputs, adef.path)
        return KeyParts(code, code_parts, tuple(inputs), self.io_tags[adef.io], where, passed,  # type: ignore[arg-type]
                        env=env_parts(adef.env, self.environ) if adef.env else (),
                        params=(self.params.get(name) or declared_json(adef.param_defaults)) if adef.param_defaults else "",
                        resources=self._resource_versions(name) if self.graph.uses else (),
                        fan_in=self._fan_in(name) if name in self.graph.fan_in else (),
                        producer=adef.producer or "",
                        partition=part.key_part if part is not None else "",
                        out_index=self._out_index.get(name, -1) if adef.producer else -1,
                        binding=self._binding(name, adef))

    def parts(self, name: str, inputs: Sequence[tuple[str, str | None]]) -> KeyParts:
        """What goes into ``name``'s key now, with ``inputs`` (the versions of its inputs): a
        tick passes those its latest build read, to see whether anything else of it changed."""
        return self._parts(name, self._nodes[name], inputs)  # type: ignore[arg-type]

    def cached_hit(self, name: str, inputs: Sequence[tuple[str, str]]) -> tuple[str, str, str] | None:
        """(key, recorded data version, output digest) when ``decide`` would say "cached" because
        the asset's latest build is for its key now and nothing else needs a look (no outputs=,
        no max_age, not volatile, its data in the cache, its path output if any with the stat
        signature recorded in its head); None: ask ``decide``. The same key, without a Decision
        or a Head made: a null build asks this of every asset (and partition) first."""
        adef: AssetDef = self._nodes[name]  # type: ignore[assignment]
        path = adef.path
        if adef.outputs or adef.volatile or adef.max_age is not None or adef.io in self._external \
                or (path is not None and self._path_unchanged is None):
            return None
        lean = self._lean_head
        entry = lean(name) if lean is not None else self._head_entry(name)
        if entry is None:
            return None
        key = make_key(name, self._parts(name, adef, inputs))
        if entry[0] != key or not self.store.has_blob(entry[2], entry[3]):
            return None
        if path is not None and (entry[4] is None or not self._path_unchanged(path, entry[4])):  # type: ignore[misc]
            return None  # missing, edited or touched: decide says which (and hashes it)
        return key, entry[1], entry[2]

    def _head_entry(self, name: str) -> tuple[str, str, str, int, tuple[int, int, int, int] | None] | None:
        """``head_entry``'s answer, from a store without it."""
        head = self.store.get_head(name)
        return None if head is None else (head.key, head.data_version, head.output_digest, head.size,
                                          head.path_stat if type(head.path_stat) is tuple else None)

    def decide(self, name: str, inputs: Sequence[tuple[str, str | None]]) -> Decision:
        adef: AssetDef = self.graph.nodes[name]  # type: ignore[assignment]  # no cast(): a call per asset
        parts = self._parts(name, adef, inputs)
        head = self.store.get_head(name)
        if adef.volatile:
            return self._volatile(name, parts, head)
        for _, dv in inputs:
            if dv is None:  # a dry run: an upstream will rebuild, so this key is not known yet
                kept = None if head is None else self.kept_state(name, head)
                if kept is not None and head is not None and kept[0] == "gone" and adef.io not in self._external \
                        and self._remote_trace(head.key) is not None:
                    kept = ("restore", kept[1])  # (from the remote cache, if the key stays)
                return _upstream_stale(parts, head, self.sources, self.observed, adef.fn, name,
                                       self._free(name, adef), kept)
        key = make_key(name, parts)
        trace: Any = head if head is not None and head.key == key else self.store.get_trace(key)
        if trace is None:
            return Decision("run", parts, key, self._why(parts, head, adef, name),
                            head=head)
        origin = getattr(trace, "origin", "local")  # a Head is this store's own
        present = self.store.has_blob(trace.output_digest, trace.size)
        if not present and origin == "local":  # its bytes are gone here: a remote cache may have the key
            found = self._remote_trace(key)
            if found is not None:
                trace, origin, present = found, found.origin, self.store.has_blob(found.output_digest, found.size)
        max_age = adef.max_age
        if max_age is not None:
            expired = self._expired(trace, max_age)
            if expired is not None and origin == "local":  # another machine may have built the key since
                found = self._remote_trace(key, lambda t: self._expired(t, max_age) is None)
                if found is not None:
                    trace, origin, present = found, found.origin, self.store.has_blob(found.output_digest, found.size)
                    expired = None
            if expired is not None:
                return Decision("run", parts, key, (expired,), None, "local", head)
        if not present:
            return Decision("run", parts, key, (Reason("output-missing", "the stored output is gone from the cache"),),
                            trace, origin, head)
        if adef.io in self._external:  # its data is not in the cache: nothing can restore it
            latest = head.data_version if head is not None and head.key != key else None
            problem = self.check_output(name, adef.io, trace.data_version, latest)
            if problem is not None:  # "latest" (external.LATEST): a revert; what changed is the key (_holds_latest)
                said = self._why(parts, head, adef, name) if problem[0] == "latest" else (Reason(*problem),)
                return Decision("run", parts, key, said, trace, origin, head)
        path = adef.path
        reasons: tuple[Reason, ...] = ()
        sig = None
        if adef.outputs and origin == "local":
            files = self._files_state(name, trace.output_digest, None if head is None or head.key == key else head,
                                      parts.path)
            if files is not None and files[0] == "run":  # a file's stored copy is gone here: the remote's?
                found = self._remote_trace(key)
                if found is None:
                    return Decision("run", parts, key, files[1], trace, origin, head)
                trace, origin, files = found, found.origin, None
            if files is not None:  # files the latest build left: what changed is its key
                reasons = (self._why(parts, head, adef, name) if files[2] else ()) \
                    + files[1]
        elif path is not None:
            recorded = head.path_stat if head is not None and head.output_digest == trace.output_digest else None
            state, sig = self.files.path_state(path, trace.output_digest, recorded)
            if state == "missing":
                reasons = (Reason("output-missing", f"{path} is missing"),)
            elif state == "modified":
                reasons = (self._holds_latest(name, adef, parts, head, key, path)
                           or (Reason("output-modified", f"{path} was changed outside assetbuild"),))
        if not reasons and origin == "local" and head is not None and head.key != key \
                and head.data_version != trace.data_version:
            # inputs back to ones built before (a source or code reverted) that gave another
            # value: it is stored, and becomes the latest again (the one show gives), without a
            # run (the same value: the head moves, and that is all a reader could see)
            reasons = (_stored_before(parts, head),)
        # a remote trace is fetched (its reasons: whether its path output must be written too)
        action: Action = "fetch" if origin != "local" else "restore" if reasons else "cached"
        return Decision(action, parts, key, reasons, trace, origin, head, sig)

    def _remote_trace(self, key: str, usable: Callable[[Trace], bool] | None = None) -> Trace | None:
        """A remote cache's trace of ``key`` (its bytes, and the files an ``outputs=`` asset wrote,
        on their way), when the local one is of no use: its bytes, or a file it lists, are gone
        from the local cache, or it expired. None without a remote cache, or when it lacks the
        key, or has one that is not ``usable`` (nothing is then downloaded)."""
        remote_trace = getattr(self.store, "remote_trace", None)
        return remote_trace(key, usable) if remote_trace is not None else None

    def kept_state(self, name: str, head: Head) -> tuple[str, tuple[Reason, ...]] | None:
        """Whether ``head``, a value used without deciding its asset (the one a skip keeps
        current, ``assetbuild.skips``; an input an ``--only`` build takes as stored), is in place
        for its readers and in the project: None if it is; ("restore", reasons) when its path
        output or files are missing or edited and the cache has their bytes; ("gone", reasons)
        when it cannot be had again (its data outside the cache gone or changed, its stored copy
        gone). Nothing decided it, so what ``decide`` checks of a reused build is checked here."""
        adef: AssetDef = self._nodes[name]  # type: ignore[assignment]
        if not self.store.has_blob(head.output_digest, head.size):
            return "gone", (Reason("output-missing", "the stored output is gone from the cache"),)
        if adef.io in self._external:
            problem = self.check_output(name, adef.io, head.data_version)
            return None if problem is None else ("gone", (Reason(*problem),))
        if adef.outputs:
            files = self._files_state(name, head.output_digest)
            return None if files is None else ("gone" if files[0] == "run" else "restore", files[1])
        if adef.path is not None and head.path == adef.path:
            state, _ = self.files.path_state(adef.path, head.output_digest, head.path_stat)
            if state != "ok":
                return "restore", (Reason("output-missing", f"{adef.path} is missing") if state == "missing" else
                                   Reason("output-modified", f"{adef.path} was changed outside assetbuild"),)
        return None

    def _holds_latest(self, name: str, adef: AssetDef, parts: KeyParts, head: Head | None, key: str,
                      path: str) -> tuple[Reason, ...]:
        """Why a path output that is not this key's output is restored, when the file holds
        the output of the asset's latest build, under another key (a build, then a revert of
        the code or data): assetbuild wrote it, so what changed is the key, not the file.
        Empty when the file holds anything else (changed outside assetbuild)."""
        if head is None or head.key == key or self.files.path_state(path, head.output_digest, head.path_stat)[0] != "ok":
            return ()
        return self._why(parts, head, adef, name)

    def _volatile(self, name: str, parts: KeyParts, head: Head | None) -> Decision:
        """A volatile asset runs, under a key no earlier build has (its readers' keys use its
        data version, so they rerun only if its bytes change)."""
        import secrets  # (only volatile assets: not on every build's start)

        parts = parts._replace(nonce=secrets.token_hex(16))
        known = all(dv is not None for _, dv in parts.inputs)  # a dry run may not know every input
        key = make_key(name, parts) if known else None
        return Decision("run", parts, key, (VOLATILE,) if head is not None else (_NEVER_BUILT, VOLATILE),
                        head=head)

    def _expired(self, trace: Trace | Head, max_age: float) -> Reason | None:
        """Why the work found for a key is too old to reuse, if it is: it was built more than
        ``max_age`` seconds before this build's now (a head that is this key's, or any trace:
        an old trace of the same key is just as old). Built later than now: expired (clock.age_ns)."""
        built = trace.built_ns if isinstance(trace, Head) else trace.created_ns
        age = age_ns(built, self.now_ns) / 1e9
        if age <= max_age:
            return None
        when = f"{format_duration(age)} ago" if age != float("inf") else f"at {iso_utc(built)}, later than now"
        return Reason("expired", f"built {when}; max_age {format_limit(max_age)}")

    def manifest(self, digest: str) -> Manifest:
        """The manifest of produced files stored as ``digest`` (CacheCorrupt, ValueError)."""
        m = self._manifests.get(digest)
        if m is None:
            m = self._manifests[digest] = decode_manifest(self.store.read_blob(digest))
        return m

    def _files_state(self, name: str, digest: str, latest: Head | None = None,
                     where: str | None = None) -> tuple[str, tuple[Reason, ...], bool] | None:
        """Whether the files an asset wrote are in place: None, ("restore", reasons, own) when
        some are missing, edited or extra, or ("run", reasons, False) when a stored copy is gone
        too, or the stored list is unusable: malformed, or not for the outputs the asset
        declares (``where``, their key part: an imported or remote entry, never restored).
        ``latest``: the asset's latest build when it was under another key (a build, then
        a revert of its code or inputs); a file as that build left it is assetbuild's own
        (``own``: some are, and what changed is the key, as ``_holds_latest`` says of a path
        output); only the others are said to be missing or changed outside assetbuild."""
        try:
            manifest = self.manifest(digest)
            if where is not None and outputs_key_part(manifest.outputs) != where:
                raise ValueError("it lists other outputs than the asset declares")
            problems = self.files.outputs_state(manifest)
        except (CacheCorrupt, ValueError) as e:
            return "run", (Reason("output-missing", f"the stored list of its files is unusable ({e})"),), False
        if not problems:
            return None
        entries = manifest.by_path()
        gone = [rel for p, rel in problems if p != "extra" and rel in entries
                and not self.store.has_blob(entries[rel].digest, entries[rel].size)]
        if gone:
            return "run", (Reason("output-missing", f"{_some(gone)} {'is' if len(gone) == 1 else 'are'} missing "
                                  "or changed, and the stored copy is gone from the cache"),), False
        outside = self._not_as_left(problems, latest)
        return "restore", self._outside_reasons(name, outside), len(outside) < len(problems)

    def _not_as_left(self, problems: list[tuple[str, str]], latest: Head | None) -> list[tuple[str, str]]:
        """The ``problems`` whose paths are not as ``latest`` left them (all of them without one,
        or when its list of files is unusable)."""
        if latest is None:
            return problems
        try:
            left = self.files.outputs_state(self.manifest(latest.output_digest))
        except (CacheCorrupt, ValueError):
            return problems
        changed = {rel for _, rel in left}
        return [(p, rel) for p, rel in problems if rel in changed]

    @staticmethod
    def _outside_reasons(name: str, problems: list[tuple[str, str]]) -> tuple[Reason, ...]:
        reasons = []
        for problem, code, verb in (("missing", "output-missing", "missing"),
                                    ("modified", "output-modified", "changed outside assetbuild"),
                                    ("extra", "output-modified", f"not written by {name!r} (it will be removed)")):
            rels = [rel for p, rel in problems if p == problem]
            if rels:
                reasons.append(Reason(code, f"{_some(rels)} {'is' if len(rels) == 1 else 'are'} {verb}"))
        return tuple(reasons)

    def _passed_sources(self, name: str, adef: AssetDef) -> tuple[tuple[str, str], ...]:
        """(source, path in keys) of each source passed to one of the asset's parameters (a
        ``deps=`` source is not passed: only its contents count). The partitions of an asset
        pass the same sources (a file partition's file is no parameter's): found once."""
        part = adef.partition
        ups = dict.fromkeys(up for param, up in self.graph.inputs[name] if param is not None and up in self.sources)
        out = self._passed[name if part is None else part.asset] = tuple((up, self._key_paths[up]) for up in ups)
        return out



def _some(paths: list[str], shown: int = 3) -> str:
    """A few paths for a reason's detail: 'a, b, c and 4 more'."""
    head = ", ".join(paths[:shown])
    return head + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


class ForcingRebuilder:
    """Runs the assets it names (every one if ``names`` is None) whatever the traces say; asks
    its inner rebuilder for the rest, and for the key and trace of a forced one. ``names`` may
    grow while it is used (the scheduler's set of assets it repairs). ``why``: the reason of
    those not forced by ``--force`` (a tick's due schedules), which the history records;
    ``default``: the reason of the others (the scheduler's repairs: ``repaired``)."""

    def __init__(self, inner: TraceRebuilder, names: Container[str] | None = None,
                 why: Mapping[str, tuple[Reason, ...]] | None = None,
                 default: tuple[Reason, ...] | None = None) -> None:
        self.inner = inner
        self.names = names
        self.why = why or {}
        self.default = default or forced_reasons()

    def forcing(self, names: Container[str] | None = None,
                why: Mapping[str, tuple[Reason, ...]] | None = None,
                default: tuple[Reason, ...] | None = None) -> ForcingRebuilder:
        return ForcingRebuilder(self.inner, names, why, default)

    def decide(self, name: str, inputs: Sequence[tuple[str, str | None]]) -> Decision:
        d = self.inner.decide(name, inputs)
        if self.names is not None and name not in self.names:
            return d  # a dry run forces an asset whose key is not known yet too: it runs whatever its key
        return d._replace(action="run", reasons=self.why.get(name, self.default))

    def kept_state(self, name: str, head: Head) -> tuple[str, tuple[Reason, ...]] | None:
        return self.inner.kept_state(name, head)


def state_of(name: str, decision: Decision) -> AssetStatus:
    """What ``status`` says of an asset: the same decision a build would act on."""
    if decision.action == "fetch":  # not here, on the remote cache
        return AssetStatus(name, "stale" if decision.head is not None else "missing", (_FROM_REMOTE,))
    if decision.action == "cached":
        return AssetStatus(name, "fresh")
    if decision.action == "run" and decision.never_built:
        return AssetStatus(name, "missing", decision.reasons)
    return AssetStatus(name, "stale", decision.reasons)


def failed_state(store: Any, st: AssetStatus, key: str) -> AssetStatus:
    """``st``, or state ``failed`` when the asset's latest event in history is a failure under
    ``key``, the key it would run under now: running it again would most likely fail again, and
    a "stale" would hide that. The reason's detail is the error's first line; the reasons that
    key has no trace follow it."""
    last_event = getattr(store, "last_event", None)
    last = last_event(st.asset) if last_event is not None else None
    if last is None or last.kind != "failed" or last.key != key:
        return st
    first = (last.error or "").strip().splitlines()
    return AssetStatus(st.asset, "failed", (Reason("failed", first[0] if first else "failed"),) + st.reasons)


_WILL_FETCH = Reason("remote", "from the remote cache")


def would_do(name: str, decision: Decision, data_version: str | None) -> AssetResult:
    """A dry run's result: cached, or skipped with ``metadata["would"]`` = run, restore or maybe
    (it runs only if an upstream's bytes change: early cutoff)."""
    if decision.action == "fetch":
        return AssetResult(name, "skipped", key=decision.key, reasons=decision.reasons + (_WILL_FETCH,),
                           metadata={"would": "restore"})
    if decision.action == "cached":
        return AssetResult(name, "cached", key=decision.key, data_version=data_version)
    would: str = decision.action
    if decision.key is None and all(r.code == "upstream-changed" for r in decision.reasons):
        would = "maybe"
    return AssetResult(name, "skipped", key=decision.key, reasons=decision.reasons, metadata={"would": would})
