"""Read-only questions about a project: status, why, stored values, its assets and functions.

None of these writes to the cache directory or runs an asset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from ..declared import doc_summary
from ..definitions import AssetDef
from ..errors import SelectionError, SliceInsufficient, ValueNotFound, VersionGone, describe_exception
from ..graph import Graph, select
from ..io import is_external
from ..output import Reporter
from ..partitions import split_node
from ..reports import AssetStatus
from .arguments import verb
from .building import make_scheduler, project_params, with_remote
from .observing import observe_for
from .options import RemoteOptions
from .project import few_collections, open_project, open_store


@verb
def status(assets: Sequence[str] = (), *, project_dir: str | os.PathLike[str] = ".",
           assetfile: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
           reporter: Reporter | None = None, remote: str | os.PathLike[str] | None = None, trust_remote_unsigned: bool = False,
           remote_timeout: float | None = None, remote_options: dict[str, Any] | None = None,
           params: dict[str, Any] | None = None, param_args: Sequence[str] = ()) -> list[AssetStatus]:
    """Whether each selected asset is fresh, stale or missing, and why. Writes nothing.

    With a remote cache (``remote`` or $ASSETBUILD_REMOTE), an asset it has is stale or missing
    with reason ``remote`` (a build restores it without running it). ``params`` and
    ``param_args`` override declared params as in ``build``: the state a build with them would find.
    A partition is one row (``daily[2024-01-01]``); a partitioned asset with no partition yet is
    one row of its own, state "fresh" with reason ``no-partitions``."""
    rep = reporter or Reporter(verbosity=-2)
    from .intent import take_status_slice

    plain = assetfile is None and cache_dir is None and remote is None and not params and not param_args
    sliced = take_status_slice(project_dir, assets, plain=plain)
    if sliced is not None:  # only data changed: the slice a build would decide, the rest fresh
        try:
            with rep.stdout_for_json(), open_project(project_dir, reporter=rep, sliced=sliced) as project:
                return _slice_status(project, sliced)
        except SliceInsufficient:
            pass
    with rep.stdout_for_json(), open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir,
                                             reporter=rep) as project:
        plan = select(project.graph, assets)
        if project.graph.partitioned:  # an upstream partitioned asset's line counts all its partitions
            from .partitioning import whole_assets

            plan = whole_assets(project.graph, plan, select(project.graph, assets, needs=False) if assets else ())
        resolved = project_params(project, args=param_args, given=params)
        settings = RemoteOptions(url=remote, trust_unsigned=trust_remote_unsigned, timeout=remote_timeout,
                                 options=remote_options)
        store = with_remote(project, open_store(project, readonly=True), settings, len(plan), fetch=False)
        try:
            observations = observe_for(project, plan, store, record=False)
            with few_collections():
                rows = make_scheduler(project, store, record=False, params=resolved,
                                      observations=observations).status(plan)
            rows = _overdue(project, store, observations, rows)
            rows = _selected(project.graph, assets, rows, context=rep.verbosity > 0)
            rows = _with_policies(project.graph, rows) + _without_partitions(project.graph, assets)
            from .intent import check_status

            check_status(project, assets, rows)  # (ASSETBUILD_CHECK_SNAPSHOT: what the snapshot would say)
            return rows
        finally:
            store.close()


def _slice_status(project: Any, sliced: dict[str, Any]) -> list[AssetStatus]:
    """``status`` of the whole project when only data changed since the snapshot, which proves
    the rest cached (``session.snapshots.Recorder``): the assets a build would decide, their
    other inputs' stored values used; every other one fresh. Only for a project whose status
    says nothing else of a cached asset (no partitions, no policies: the entry point's check)."""
    from ..looking import _fresh
    from ..only import stored_inputs
    from .snapshots import Recorder

    rec = Recorder(project)
    rec.before()  # (SliceInsufficient if the snapshot no longer holds, or more changed)
    plan = sliced["graph"]["order"]
    decide = [n for n in plan if n in (rec.affected or ())]
    store = open_store(project, readonly=True)
    try:
        sched = make_scheduler(project, store, record=False, params=project_params(project), observations={})
        sched.standins = frozenset(sliced["frontier"])
        stored_inputs(sched.graph, store, decide, sched.known, sched.blocked, sched.outputs.usable_version)
        with few_collections():
            rows = {r.asset: r for r in sched.status(decide)}
    finally:
        store.close()
    return [rows.get(n) or _fresh(n) for n in plan]


@verb
def why(asset: str | None, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None, reporter: Reporter | None = None,
        params: dict[str, Any] | None = None, param_args: Sequence[str] = (), exclude: Sequence[str] = ()) -> Any:
    """One asset in detail: its state, what changed in its code parts, inputs, environment and
    params since its last build (``params``/``param_args``: overrides, as in ``build``).

    A name gives one dict (a multi-asset's: its outs under "outs"); any other selection
    (``raw/*``, ``group:g``, ``x+``), or one with ``exclude``, gives a list: one dict per asset
    it selects, in build order. ``asset`` None with ``exclude``: all but those, as elsewhere."""
    rep = reporter or Reporter(verbosity=-2)
    with rep.stdout_for_json(), open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir,
                                             reporter=rep) as project:
        chosen = [*([asset] if asset is not None else []), *(f"-{e}" for e in exclude)]
        plan = select(project.graph, chosen)
        one = not exclude and (asset in project.graph.inputs or asset in project.graph.producers)
        resolved = project_params(project, args=param_args, given=params)
        store = open_store(project, readonly=True)
        try:
            observations = observe_for(project, plan, store, record=False)
            sched = make_scheduler(project, store, record=False, params=resolved, observations=observations)
            states = {s.asset: s for s in sched.status(plan)}
            if asset is None or not one:  # a glob, a group, x+, exclusions ...: each asset it selects
                return [_why_one(project, sched, store, a, states[a], resolved, observations)
                        for a in select(project.graph, chosen, needs=False)]
            outs = project.graph.producers.get(asset, ()) if asset not in project.graph.inputs else ()
            if outs:  # a multi-asset: each of its outs, explained as an asset
                return {"asset": asset, "kind": "multi_asset",
                        "outs": [_why_one(project, sched, store, o, states[o], resolved, observations)
                                 for o in outs]}
            return _why_one(project, sched, store, asset, states[asset], resolved, observations)
        finally:
            store.close()


def _last_skip(rec: Any) -> dict[str, Any] | None:
    """``why --json``'s "last_skip": the asset's latest recorded Skip (None: it never skipped)."""
    return None if rec is None else {"skipped_ns": rec.skipped_ns, "reason": rec.reason, "key": rec.key}


def _why_one(project: Any, sched: Any, store: Any, asset: str, st: Any, resolved: dict[str, str],
             observations: Any) -> dict[str, Any]:
    """``why`` of one asset (an out of a multi-asset is one too)."""
    from ..rebuild import made_elsewhere

    head = store.get_head(asset)
    adef: AssetDef = project.graph.nodes[asset]  # type: ignore[assignment]
    code, parts = sched.fingerprint(asset)  # the same fingerprinter: one warning
    inputs = []
    old_inputs = dict(head.inputs) if head else {}
    for _, up in project.graph.inputs[asset]:
        new = sched.version_of(up)
        kind = "source" if up in sched.sources else "observable_source" if up in observations else "asset"
        inputs.append({"name": up, "kind": kind,  # changed None: the input runs first, its bytes decide
                       "old": old_inputs.get(up), "new": new,
                       "changed": None if new is None else old_inputs.get(up) != new})
    env = _env_changes(adef.env, head.env if head is not None else None)
    code_changes = []
    if head is not None and (adef.volatile or not made_elsewhere(asset, head)):  # else digests say nothing
        from ..fingerprint.shown import shown_values
        from ..keys import shown_parts

        old_parts = head.code_parts
        was = dict(head.code_values)  # short values: shown when known before and now
        now = dict(shown_values(adef.fn, was)) if was else {}
        changed = [k for k in sorted(set(old_parts) | set(parts)) if old_parts.get(k) != parts.get(k)]
        for label in shown_parts(changed):  # a dataclass once, as its class
            change = {"part": label, "old": old_parts.get(label), "new": parts.get(label)}
            if label in was and label in now:
                change.update(old_value=was[label], new_value=now[label])
            code_changes.append(change)
    source_diff = _source_diff(store, adef.fn, head, [c["part"] for c in code_changes]) \
        if head is not None and code_changes else []
    return {"asset": asset, "state": st.state, "reasons": [r.to_json() for r in st.reasons],
            "file": adef.file, "line": adef.line, "code": code, "old_code": head.code if head else None,
            "code_changes": code_changes, "inputs": inputs, "io": adef.io, "path": adef.path,
            "volatile": adef.volatile, "max_age": adef.max_age, "env": env,
            "params": _params_value(resolved.get(asset, "")),
            "old_params": _params_value(head.params) if head is not None and head.params else None,
            "resources": _resource_changes(project.graph, asset, head),
            "last_built_ns": head.built_ns if head else None,
            "last_key": head.key if head else None,
            "last_skip": _last_skip(store.get_skip(asset)),
            "history": len(store.history(asset)), "producer": adef.producer, "source_diff": source_diff}


def _source_diff(store: Any, fn: Any, head: Any, changed: list[str]) -> list[str]:
    """A unified diff of each changed function (the asset's, its helpers') as it was at the last
    build (from the file text the store kept) and as it is now; [] when none can be shown."""
    import difflib

    from ..fingerprint.shown import function_of

    out: list[str] = []
    recorded = {e[0]: e for e in head.source_at if isinstance(e, tuple) and len(e) == 3}
    for label in changed:
        if label not in recorded:
            continue
        _, digest, first = recorded[label]
        now = getattr(function_of(fn, label), "__code__", None)
        old_text = store.get_text(digest)
        if now is None or old_text is None:
            continue
        try:
            with open(now.co_filename, "rb") as f:
                new_text = f.read()
        except OSError:
            continue
        old = _function_lines(old_text, first)
        new = _function_lines(new_text, now.co_firstlineno)
        if old is None or new is None or old == new:
            continue
        name = "function" if label == "code" else label
        out += difflib.unified_diff(old, new, f"{name} (last build)", f"{name} (now)", lineterm="")
    return out


def _function_lines(text: bytes, first: int) -> list[str] | None:
    """The lines of the function (decorators included) whose code starts at line ``first``."""
    import ast

    try:
        source = text.decode("utf-8")
        tree = ast.parse(source)
    except (UnicodeDecodeError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if start == first and node.end_lineno is not None:
                return source.splitlines()[start - 1:node.end_lineno]
    return None


def _env_changes(names: tuple[str, ...], recorded: Any) -> list[dict[str, Any]]:
    """``why --json``'s "env": each declared variable's value at the last build and now (None:
    unset), and whether it changed; a secret's values are never shown (both None, "secret")."""
    from ..keys import env_parts, is_env_digest, is_secret

    old = dict(recorded) if recorded is not None else {}
    out = []
    for n, v in env_parts(names, os.environ):
        secret = is_secret(n) or is_env_digest(v) or is_env_digest(old.get(n))
        changed = recorded is None or n not in old or old[n] != v
        out.append({"name": n, "old": None if secret else old.get(n), "new": None if secret else v,
                    "changed": changed, "secret": secret})
    return out


def _params_value(text: str) -> dict[str, Any]:
    """Resolved params as ``--json`` shows them: the object their canonical JSON holds ({}: none)."""
    import json

    return json.loads(text) if text else {}
def _resource_changes(graph: Graph, asset: str, head: Any) -> list[dict[str, Any]]:
    """``why --json``'s "resources": each resource the asset uses, its declared version now and
    the one recorded with its last build (None: none entered the key), and whether it changed."""
    old = dict(head.resources) if head is not None else {}
    out = []
    for name in dict.fromkeys(r for _, r in graph.uses.get(asset, ())):
        new = graph.resources[name].version
        out.append({"name": name, "old": old.get(name), "new": new,
                    "changed": head is not None and old.get(name) != new})
    return out


@verb
def load_value(asset: str, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
               cache_dir: str | os.PathLike[str] | None = None, version: int | None = None,
               key: str | None = None, warn: Callable[[str], None] | None = None) -> Any:
    """The latest stored value of ``asset`` (verified against its digest before it is loaded);
    for an observable source, its latest recorded observation (``source``, ``version``,
    ``observed_ns``, ``metadata``); for a resource, which has no stored value, what it is
    (``resource``, ``version``, ``used_by``, ``file``, ``line``).

    ``version=N``: the N-th newest version instead (0 = the current one); ``key=``: the version
    built under that key (8 characters or more of it); not both. One that ``cache gc`` dropped raises
    ``VersionGone`` (exit status 1), one whose record it trimmed from the history
    ``VersionTrimmed`` (a VersionGone); one never recorded ``ValueNotFound`` (a version) or
    ``SelectionError`` (a key), exit status 2. ``warn``: called with a line when the value is not fresh
    (the asset is stale, missing or failed now): its age and why."""
    if version is not None and key is not None:  # (the key won, silently)
        raise SelectionError("name one older version: a version (--version N) or a key (--key KEY), not both")
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        if asset in project.graph.observable:
            return _latest_observation(project, asset, warn)
        if asset in project.graph.resources:
            r = project.graph.resources[asset]
            return {"resource": asset, "version": r.version, "file": r.file, "line": r.line,
                    "used_by": [a for a, uses in project.graph.uses.items() if any(n == asset for _, n in uses)]}
        if asset not in project.graph.inputs and asset in project.graph.producers:
            outs = ", ".join(project.graph.producers[asset])
            raise SelectionError(f"{asset!r} is a multi-asset, which stores no value itself; name one of its outs "
                                 f"({outs})")
        if asset not in project.graph.inputs:
            _not_one_asset(project.graph, asset)
        store = open_store(project, readonly=True)
        try:
            head = store.get_head(asset)
            if version is not None or key is not None:
                from .versions import load_version, pick_version

                place, k, when = pick_version(store, asset, head, version=version, key=key)
                return load_version(project, store, asset, place, k, when, head)
            if head is None:
                raise _no_value(store, asset)
            data = store.read_blob(head.output_digest)
            io_name = head.io.split("@", 1)[0]
            io = project.io_managers.get(io_name)
            if io is None:
                raise ValueNotFound(f"asset {asset!r} was stored with IO manager {io_name!r}, which is not installed")
            if is_external(io):  # the cache holds a record; the data is where the manager put it, if still there
                from ..external import load_recorded

                value = load_recorded(io, io_name, asset, data, what=f"the stored value of {asset!r}",
                                      project_dir=str(project.project_dir),
                                      params=project_params(project).get(asset, ""))
            else:
                try:
                    value = io.load(data)
                except Exception as e:  # noqa: BLE001 - the manager's code: one line naming it
                    raise VersionGone(f"the stored value of {asset!r} cannot be loaded by its IO manager "
                                      f"{io_name!r}: {describe_exception(e)}") from e
            if warn is not None:  # once it loaded: a value not shown needs no warning about its age
                _warn_if_not_fresh(project, store, asset, head, warn)
            return value
        finally:
            store.close()


def _no_value(store: Any, asset: str) -> ValueNotFound:
    """Why ``asset`` has no stored value: never built (exit status 2), or its last run failed
    (1; a value its IO manager could not load back is not kept: ``repairing``)."""
    last = store.last_event(asset) if hasattr(store, "last_event") else None
    if last is not None and last.kind == "failed":
        first = (last.error or "failed").strip().splitlines()[0]
        return VersionGone(f"asset {asset!r} has no stored value: its last run failed ({first})")
    return ValueNotFound(f"asset {asset!r} has never been built (run: assetbuild build {asset})")


def _warn_if_not_fresh(project: Any, store: Any, asset: str, head: Any, warn: Callable[[str], None]) -> None:
    """Say so when the value about to be shown is not the asset's current one."""
    from ..clock import format_duration, now_ns

    plan = select(project.graph, [asset])
    observations = observe_for(project, plan, store, record=False)
    st = {s.asset: s for s in make_scheduler(project, store, record=False, observations=observations)
          .status(plan)}[asset]
    if st.state == "fresh":
        return
    why = "; ".join(f"{r.code}: {r.detail}" for r in st.reasons[:2])
    age = format_duration(max(0, now_ns() - head.built_ns) / 1e9)
    state = "failed" if st.state == "failed" else f"is {st.state}"  # ('a' failed, not 'a' is failed)
    warn(f"warning: {asset!r} {state} ({why}); this is its last good value, built {age} ago")


@verb
def load_metadata(asset: str, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                  cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What the latest materialization of ``asset`` recorded about itself: ``{"asset",
    "metadata" (name -> MetadataValue), "materialized_at" (ISO-8601 UTC), "data_version", "key"}``.
    ValueNotFound if it has never been built."""
    from ..clock import iso_utc
    from ..metadata import decode_metadata

    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        if asset not in project.graph.inputs:
            _not_one_asset(project.graph, asset)
        store = open_store(project, readonly=True)
        try:
            head = store.get_head(asset)
            if head is None:
                raise _no_value(store, asset)
            trace = store.get_trace(head.key)
        finally:
            store.close()
    return {"asset": asset, "metadata": decode_metadata(trace.metadata_json if trace is not None else ""),
            "materialized_at": iso_utc(head.built_ns), "data_version": head.data_version, "key": head.key}


def _latest_observation(project: Any, source: str, warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The source's latest recorded observation; ``warn``: called with a line when a later one
    failed (the readers' builds then failed or were skipped: this is what they last read)."""
    import json

    store = open_store(project, readonly=True)
    try:
        rec = store.get_observation(source)
        last = store.last_event(source) if warn is not None and hasattr(store, "last_event") else None
    finally:
        store.close()
    if rec is None:
        raise ValueNotFound(f"observable source {source!r} has never been observed (run: assetbuild observe {source})")
    if warn is not None and last is not None and last.kind == "failed":
        from ..clock import format_duration, now_ns

        first = (last.error or "failed").strip().splitlines()[0]
        age = format_duration(max(0, now_ns() - rec.observed_ns) / 1e9)
        warn(f"warning: the latest observation of {source!r} failed ({first}); this is the last one that "
             f"succeeded, made {age} ago")
    return {"source": source, "version": rec.version, "observed_ns": rec.observed_ns,
            "metadata": json.loads(rec.metadata_json)}


@verb
def list_assets(*, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                cache_dir: str | os.PathLike[str] | None = None, assets: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every source, observable source and asset (``kind``: "source", "observable_source",
    "asset") with its inputs and declared options, the assets in build order; then every
    resource (``kind``: "resource") with the assets that use it. ``assets``: a selection: only
    the assets it selects (not what they need), and the sources and resources those use."""
    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        rows = _describe(project.graph.declared or project.graph, project_params(project), project.graph.partitioned)
        if not assets:
            return rows
        picked = {split_node(n)[0] for n in select(project.graph, assets, needs=False)}
        used = {u for r in rows if r["name"] in picked for u in (*r["inputs"], *r["resources"])}
        return [r for r in rows if r["name"] in (picked if r["kind"] == "asset" else used)]


@verb
def functions(*, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None) -> dict[str, Any]:
    """Every asset's function, by name, for unit tests (``functions()["inc"](1) == 2``), run as a
    build runs it: in the project directory, with its modules (``turns.as_built``)."""
    from .turns import as_built
    with open_project(project_dir, assetfile=assetfile) as project:
        graph = project.graph.declared or project.graph  # a partitioned asset's function once
        return {name: as_built(graph.nodes[name].fn, project.project_dir)  # type: ignore[union-attr]
                for name in graph.order}


def policy_of(a: Any) -> dict[str, Any] | None:
    """The policy an asset declares, as ``list --json`` and ``status`` show it (None: none)."""
    if a.freshness is None and a.auto is None and a.schedule is None:
        return None
    out = {k: v for k, v in (("freshness", a.freshness), ("auto", a.auto), ("schedule", a.schedule)) if v is not None}
    if a.schedule is not None and a.schedule_tz != "UTC":
        out["timezone"] = a.schedule_tz
    return out


def _with_policies(graph: Graph, rows: list[AssetStatus]) -> list[AssetStatus]:
    """``rows`` with each asset's policy, for those that declare one (``status -v`` shows it)."""
    from dataclasses import replace

    declared = graph.declared or graph  # a partitioned asset's policy once, not per partition
    own = {n: p for n in declared.order if (p := policy_of(declared.nodes[n])) is not None}
    if not own:
        return rows
    policies = {n: own[n] for n in own if n in graph.nodes}
    for asset, pset in graph.partitioned.items():
        if asset in own:
            policies.update(dict.fromkeys(pset.nodes, own[asset]))
    return [replace(r, policy=policies[r.asset]) if r.asset in policies else r for r in rows]


def _overdue(project: Any, store: Any, observations: Any, rows: list[AssetStatus]) -> list[AssetStatus]:
    """``rows`` with state ``overdue`` for each fresh or stale asset whose freshness policy it
    misses: reason ``overdue`` first ("3h 10m behind; freshness 1h"), its lag in ``lag_s``.
    A missing or failed asset keeps that state, which says more. Changes of an asset's own
    (its code, env, params, a resource's version... since its latest build) count as a tick
    counts them: from the first tick that saw them (one not seen yet: now), and from its
    max_age's expiry (session.reconcile.own_changed_at)."""
    from dataclasses import replace

    from ..changes import ChangeTimes
    from ..clock import by_age, now_ns
    from ..reports import Reason
    from ..ticks import own_seen
    from .reconcile import current_versions, freshness_of, own_changed_at, scope_of

    graph = project.graph
    owners = [r.asset for r in rows if r.state in ("fresh", "stale")
              and getattr(graph.nodes.get(r.asset), "freshness", None) is not None]
    if not owners:
        return rows
    now = now_ns()
    times = ChangeTimes(graph, store, current_versions(project, store, observations), now,
                        str(project.project_dir))
    own = own_changed_at(project, times, scope_of(graph, owners), now,
                         lambda n, key, changed: own_seen(store, n, key, changed, now, record=False), store)
    oldest = {n: min(ch.values(), key=by_age(now)) for n, ch in own.items()}
    late = {n: f for n, f in freshness_of(times, graph, owners, own=oldest).items() if f.overdue}
    return [replace(r, state="overdue", reasons=(Reason("overdue", late[r.asset].detail), *r.reasons),
                    lag_s=late[r.asset].lag_s) if r.asset in late else r for r in rows]


def _selected(graph: Graph, assets: Sequence[str], rows: list[AssetStatus], *, context: bool) -> list[AssetStatus]:
    """The rows of what ``assets`` selects: a selection shows what was selected (``+x`` selects
    x's upstream too). The assets it needs are decided (a status is a build's decisions) but not
    shown, unless ``context`` (``-v``), marked as such."""
    if not assets:
        return rows
    chosen = set(select(graph, assets, needs=False))
    if not context:
        return [r for r in rows if r.asset in chosen]
    from dataclasses import replace

    return [r if r.asset in chosen else replace(r, context=True) for r in rows]


def _without_partitions(graph: Graph, assets: Sequence[str]) -> list[AssetStatus]:
    """A status row for each partitioned asset with no partition yet (a glob that matches no
    file, a dynamic set with no key): it has no node to decide, yet a status should show it
    (``status`` without a selection, or naming it). Reason code ``no-partitions``."""
    from ..reports import Reason

    return [AssetStatus(a, "fresh", (Reason("no-partitions", f"{p.definition.describe()}: no partitions yet"),))
            for a, p in graph.partitioned.items() if not p.nodes and (not assets or a in assets)]


def _not_one_asset(graph: Graph, asset: str) -> None:
    """Raise the SelectionError for a name that is not one asset's (show, show --meta), if it names
    none: a partitioned asset's says to name a partition, an unknown name comes with a suggestion."""
    if graph.partitioned:
        from .partitioning import one_partition_please

        one_partition_please(graph, asset)
    select(graph, [asset])


def _describe(graph: Graph, params: dict[str, str] | None = None, partitioned: dict[str, Any] | None = None
              ) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in graph.sources:
        d: Any = graph.nodes[name]
        out.append({"name": name, "kind": "source", "path": d.path, "inputs": [],
                    "group": d.group, "description": d.description, "version": d.version})
    globs: dict[str, str] = {}  # a FilePartitions asset -> the source row of its glob's files
    for name, pset in (partitioned or {}).items():
        pattern = getattr(pset.definition, "pattern", None)
        if pattern is not None:
            globs[name] = f"file:{pattern}"
            if not any(r["name"] == globs[name] for r in out):
                out.append({"name": globs[name], "kind": "source", "path": pattern, "inputs": [], "group": None,
                            "description": "the files of a FilePartitions glob, one partition each",
                            "version": "content"})
    for name in graph.observable:
        o: Any = graph.nodes[name]
        out.append({"name": name, "kind": "observable_source", "inputs": [], "poll": o.poll, "group": o.group,
                    "description": o.description or doc_summary(o.fn.__doc__), "file": o.file, "line": o.line})
    for name in graph.order:
        a: Any = graph.nodes[name]
        out.append({"name": name, "kind": "asset", "inputs": list(dict.fromkeys(graph.upstream(name))), "io": a.io,
                    "path": a.path, "outputs": list(a.outputs), "group": a.group,
                    "description": a.description or doc_summary(a.fn.__doc__),
                    "code_version": a.code_version, "metadata": a.metadata, "file": a.file,
                    "line": a.line, "volatile": a.volatile, "max_age": a.max_age, "env": list(a.env),
                    "params": _params_value((params or {}).get(name, "")),
                    "resources": [r for _, r in graph.uses.get(name, ())]})
        deps = [u for p, u in graph.inputs.get(name, ()) if p is None]  # deps=: read by no parameter
        if deps:  # ("inputs" has them too, as before)
            out[-1]["deps"] = list(dict.fromkeys(deps))
        if name in graph.fan_in:  # parameter -> its glob or group; "inputs" has every match
            out[-1]["fan_in"] = dict(graph.fan_in[name])
        if not a.output_required:
            out[-1]["output_required"] = False
        if a.producer is not None:  # an out of a multi-asset
            out[-1]["producer"] = a.producer
        policy = policy_of(a)  # when to build it
        if policy is not None:
            out[-1].update(policy)
        pset = (partitioned or {}).get(name)
        if pset is not None:  # one row for all its partitions (their keys: `partitions list`)
            out[-1]["partitions"] = {"kind": pset.definition.kind, "definition": pset.definition.describe(),
                                     "count": len(pset.keys)}
            mapped = graph.mappings.get(name)
            if mapped:
                out[-1]["mappings"] = {p: m.describe() for p, m in mapped.items()}
            if name in globs:  # each partition reads its file
                out[-1]["inputs"] = [globs[name], *out[-1]["inputs"]]
    if graph.resources:
        out += _describe_resources(graph)
    return out


def _describe_resources(graph: Graph) -> list[dict[str, Any]]:
    """Resources as ``list``/``graph`` rows: no inputs (a resource cannot depend on assets), and
    the assets that use each one."""
    users: dict[str, list[str]] = {n: [] for n in graph.resources}
    for name in graph.order:
        for _, r in graph.uses.get(name, ()):
            if name not in users[r]:
                users[r].append(name)
    return [{"name": n, "kind": "resource", "inputs": [], "used_by": users[n], "version": r.version,
             "description": r.description or doc_summary(r.fn.__doc__), "file": r.file, "line": r.line}
            for n, r in graph.resources.items()]


@verb
def describe_graph(*, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                   cache_dir: str | os.PathLike[str] | None = None, assets: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Nodes and edges for ``assetbuild graph`` (``assets``: a selection, as in ``list_assets``)."""
    return list_assets(project_dir=project_dir, assetfile=assetfile, cache_dir=cache_dir, assets=assets)

