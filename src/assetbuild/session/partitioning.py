"""The verbs of partitions: which partitions ``--partition(s)`` selects, listing keys, changing
dynamic keys (``partition-keys.json``, see ``partition_env``), and dropping partitions that no
longer exist."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from ..errors import ConfigError, SelectionError
from ..partitions import check_key, parse_keys, unknown_key
from .arguments import verb
from .partition_env import DYNAMIC_FILE, read_dynamic, read_table, write_table

T = TypeVar("T")


def _dynamic_names(project: Any) -> dict[str, list[str]]:
    """Dynamic definition name -> the partitioned assets that use it."""
    from ..partitions import DynamicPartitions

    out: dict[str, list[str]] = {}
    for asset, pset in project.graph.partitioned.items():
        if isinstance(pset.definition, DynamicPartitions):
            out.setdefault(pset.definition.name, []).append(asset)
    return out


@verb
def change_dynamic(name: str, keys: Sequence[str], *, add: bool, project_dir: str | os.PathLike[str] = ".",
                   assetfile: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                   warn: Callable[[str], None] | None = None) -> list[str]:
    """Add ``keys`` to (or remove them from) the dynamic partitions ``name``; the keys it now has.
    Adding a key it has, or removing one it lacks, changes nothing; ``warn`` hears of a key
    removed that it lacks (a typo would otherwise go unseen). ConfigError for a name no asset
    uses, a bad key, or a key that would make the project invalid (a path too long, or inside
    another partition's file): the project is checked with the keys it will have, as a build
    would, before anything is recorded; so a removal also works on a project that keys added
    earlier broke."""
    from ..errors import DynamicKeyError
    from .project import open_project, open_store, waiting_warning

    verb = f"partitions {'add' if add else 'remove'} {name}"
    for k in keys:
        try:
            check_key(k, verb)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    cache = _cache_of(project_dir, cache_dir)
    planned = _changed(read_dynamic(cache, _project_of(project_dir, assetfile, cache)), name, keys, add=add)
    try:
        with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir, dynamic=planned) as project:
            names = _dynamic_names(project)
            if name not in names:
                known = ", ".join(sorted(names)) or "none in this project"
                raise ConfigError(f"no dynamic partitions named {name!r} (DynamicPartitions({name!r})); known: {known}")
            store = open_store(project, readonly=False)
            try:
                store.acquire_lock(on_wait=waiting_warning(project.cache_dir, warn or project.reporter.warn))
                from ..store.records import project_id

                whole = read_table(project.cache_dir)
                ours = project_id(project.loaded.path, project.cache_dir)
                table = whole.keys_of(ours)
                if add and planned != _changed(table, name, keys, add=add):
                    raise ConfigError(f"{verb}: the dynamic partitions changed while this command checked them; "
                                      "run it again")
                before = table.get(name, [])
                if not add and warn is not None:
                    lacking = _lacking(before, keys)
                    if lacking:
                        warn(f"{name} has no key {', '.join(map(repr, lacking))} to remove (it has {len(before)})")
                table = whole.projects[ours] = _changed(table, name, keys, add=add)
                path = project.cache_dir / DYNAMIC_FILE
                try:
                    write_table(project.cache_dir, whole)
                except OSError as e:  # (a full disk, an immutable file: nothing recorded, the keys as they were)
                    from ..errors import StoreError
                    from ..store.failures import disk_message

                    raise StoreError(disk_message(project.cache_dir, f"{verb}: nothing was changed, as {path} "
                                                  "cannot be written", e)) from e
                return table[name]
            finally:
                store.close()
    except DynamicKeyError as e:
        if add and e.name == name and e.key in keys:  # the key given now: refuse it, record nothing
            from .project import shorten

            raise ConfigError(f"{verb} {shorten(e.key, 60)!r}: refused: {e.problem}; nothing was added") from None
        raise


def check_keys_unmoved(project: Any, what: str = "build", *, check: bool = True) -> None:
    """KeysMoved if the cache's dynamic keys of ``project`` now differ from those its graph was
    expanded with: ``partitions add`` or ``remove`` ran while its ``what`` waited for the lock
    (nothing unless ``check``)."""
    from ..errors import KeysMoved
    from ..partitions import DynamicPartitions
    from ..store.records import project_id

    expanded = {p.definition.name: p.keys for p in project.graph.partitioned.values()
                if check and isinstance(p.definition, DynamicPartitions)}
    if expanded:
        now = read_dynamic(project.cache_dir, project_id(project.loaded.path, project.cache_dir))
        if any(now.get(name, []) != keys for name, keys in expanded.items()):
            raise KeysMoved(f"the dynamic partition keys changed while this {what} waited")


def with_keys_as_they_are(attempt: Callable[[bool], T]) -> T:
    """``attempt(recheck)``, which loads the project and builds, asked to check the keys once it
    holds the lock (``check_keys_unmoved``); again while they moved (the last time unchecked)."""
    from ..errors import KeysMoved

    for recheck in (True, True):
        try:
            return attempt(recheck)
        except KeysMoved:
            pass
    return attempt(False)


def _changed(table: dict[str, list[str]], name: str, keys: Sequence[str], *, add: bool) -> dict[str, list[str]]:
    """``table`` with ``keys`` added to (or removed from) ``name``'s, which comes last: a key that
    breaks the project is then blamed on the keys given before any kept (``blame_dynamic_keys``).
    Linear: the keys are looked up in sets (32,000 of them took 18 s to remove half of, by list)."""
    out = {n: list(ks) for n, ks in table.items() if n != name}
    now = list(table.get(name, []))
    if add:
        have = set(now)
        now += [k for k in dict.fromkeys(keys) if k not in have]
    else:
        gone = set(keys)
        now = [k for k in now if k not in gone]
    out[name] = now
    return out


def _lacking(before: Sequence[str], keys: Sequence[str]) -> list[str]:
    """The keys given to remove that ``before`` does not have, once each, in their order."""
    have = set(before)
    return [k for k in dict.fromkeys(keys) if k not in have]


def _project_of(project_dir: str | os.PathLike[str], assetfile: str | None, cache: Any) -> str:
    """The identity (``store.project_id``) the project at ``project_dir`` keeps its keys under."""
    from pathlib import Path

    from ..store.records import project_id

    return project_id(Path(project_dir).resolve() / (assetfile or "AssetFile"), cache)


def _cache_of(project_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None) -> Any:
    """The cache directory ``open_project`` will use (where the dynamic keys are kept)."""
    from pathlib import Path

    from .project import resolve_cache_dir

    return resolve_cache_dir(Path(project_dir).resolve(), cache_dir)


@verb
def partition_keys(asset: str, *, project_dir: str | os.PathLike[str] = ".", assetfile: str | None = None,
                   cache_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The keys of a partitioned asset now, in order (SelectionError for another name)."""
    from .project import open_project

    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        return list(partition_set(project.graph, asset).keys)


def partition_set(graph: Any, asset: str) -> Any:
    """The PartitionSet of ``asset``; SelectionError if it is not a partitioned asset."""
    pset = graph.partitioned.get(asset)
    if pset is not None:
        return pset
    if asset in graph.inputs:
        raise SelectionError(f"asset {asset!r} is not partitioned")
    from ..graph import select

    select(graph, [asset])  # the usual error for a name that is no asset
    raise SelectionError(f"{asset!r} is not a partitioned asset")


def _partitions() -> str:
    from ..wording import words

    return words("--partition(s)", "partitions=")


def partition_nodes(graph: Any, assets: Sequence[str], spec: str | Sequence[str]) -> list[str]:
    """The selection ``--partition K`` or ``--partitions A..B`` makes of ``assets``: each selected
    partitioned asset's partitions that ``spec`` names, and the selected unpartitioned assets;
    without a selection, the named partitions of every partitioned asset whose keys ``spec``
    names (a sequence: those keys exactly). ``--exclude`` items (``-SEL``) come back last, for
    the build's selection to take out (``--partitions A..B --exclude 'daily[KEY]'``: a range but
    one day); alone, they select as no selection does. SelectionError for a key that does not
    exist (naming the nearest)."""
    from ..graph import select
    from ..partitions import split_node
    from ..selection import parse

    if not graph.partitioned:
        raise SelectionError(f"{_partitions()}: this project has no partitioned asset")
    if not any(s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)):
        # (no key selects nothing, which a build takes as all)
        raise SelectionError(f"{_partitions()} {spec if isinstance(spec, str) else ','.join(spec)!r} names no "
                             "partition key")
    excluded = [p for p in assets if parse(p).exclude]
    assets = [p for p in assets if p not in set(excluded)]
    chosen = select(graph, assets, needs=False) if assets else []
    by_asset: dict[str, None] = {}
    plain: list[str] = []
    for n in chosen:
        asset, key = split_node(n)
        if key is None:
            plain.append(n)
        else:
            by_asset[asset] = None
    for p in assets:  # one with no partitions yet has no node: its keys are looked up all the same
        name = parse(p).pattern
        if name in graph.partitioned and not graph.partitioned[name].nodes:
            by_asset[name] = None
    if assets and not by_asset:
        raise SelectionError(f"{_partitions()}: the selection has no partitioned asset")
    out: list[str] = []
    errors: list[str] = []
    for a in by_asset or graph.partitioned:
        pset = graph.partitioned[a]
        try:
            picked = parse_keys(spec, pset.keys) if isinstance(spec, str) else _exact_keys(spec, pset.keys)
        except ValueError as e:
            errors.append(f"{a}: {e}")
            continue
        out += [f"{a}[{k}]" for k in picked]
    if errors and (by_asset or not out):
        several = not isinstance(spec, str) and any("," in k or ".." in k for k in spec)
        raise SelectionError(errors[0] + (f" ({_one_key()})" if several else ""))
    return out + plain + excluded


def _exact_keys(keys: Sequence[str], have: Sequence[str]) -> list[str]:
    """``keys`` (``partitions=[...]``, ``--partition KEY``), each a key as it is; ValueError
    naming the nearest for one that does not exist."""
    known = set(have)
    for k in keys:
        if k not in known:
            raise ValueError(unknown_key(k, have))
    return list(dict.fromkeys(keys))


def _one_key() -> str:
    from ..wording import words

    return words("--partition takes one key: --partitions a,b or A..B names several",
                 "a list names keys exactly: partitions='a,b' or 'A..B' names several")


def check_partition(graph: Any, asset: str, key: str) -> str:
    """The node of one partition (``show daily --partition K``); SelectionError naming the nearest keys."""
    from ..partitions import node_name

    pset = partition_set(graph, asset)
    if key not in set(pset.keys):
        raise SelectionError(f"{asset}: {unknown_key(key, pset.keys)}")
    return node_name(asset, key)


def drop_gone_partitions(project: Any, store: Any, plan: Sequence[str], *, dry_run: bool = False) -> list[str]:
    """Forget the partitions of the planned assets whose keys no longer exist (a deleted file, a
    removed dynamic key, a static key taken out): their heads go, and so do the files they wrote
    into the project while those still hold what was written (a file changed since stays, with a
    warning). Their history stays. Returns the partitions dropped; with ``dry_run``, says what
    would go (``-n``) and changes nothing."""
    from ..cleaning import CleanReport, clean_outputs, recorded_outputs
    from ..partitions import split_node

    scan = getattr(store, "partition_heads", None)
    if scan is None or not project.graph.partitioned:
        return []
    assets = {split_node(n)[0] for n in plan if "[" in n}
    # an asset with no partitions left (its last file deleted) has no node in any plan: drop it anyway
    assets.update(a for a, pset in project.graph.partitioned.items() if not pset.nodes)
    gone: dict[str, Any] = {}
    for asset in sorted(assets):
        pset = project.graph.partitioned.get(asset)
        if pset is None:
            continue
        live = set(pset.nodes)
        gone.update((n, h) for n, h in scan(asset, live).items() if n not in live)
    if not gone:
        return []
    rep = project.reporter
    recorded = recorded_outputs(gone, store.read_blob, store.get_stat, rep.warn)
    report = CleanReport(project.cache_dir, dry_run=dry_run)
    clean_outputs(project.project_dir.resolve(), recorded, cache_dir=project.cache_dir, protected=project.claims(),
                  dry_run=dry_run, report=report)
    names = f"{', '.join(sorted(gone)[:5])}{' ...' if len(gone) > 5 else ''}"
    if dry_run:
        files = (f" ({len(report.deleted)} file(s) they wrote: {', '.join(report.deleted[:5])}"
                 f"{' ...' if len(report.deleted) > 5 else ''})") if report.deleted else ""
        rep.line(f"would drop {len(gone)} partition(s) that no longer exist: {names}{files}")
        return sorted(gone)
    for rel, why in report.kept:
        rep.warn(f"{rel} belongs to a partition that no longer exists, but it was kept: {why}")
    if report.failed:
        _note_undeleted(store, gone, report.failed, rep.warn)
    for n in gone:
        store.delete_head(n)
    store.flush()
    rep.line(f"dropped {len(gone)} partition(s) that no longer exist: {names}")
    return sorted(gone)


def _note_undeleted(store: Any, gone: dict[str, Any], failed: list[tuple[str, str]],
                    warn: Callable[[str], None]) -> None:
    """The files of dropped partitions that could not be deleted (an error, not an edit): noted
    as left behind (assetbuild.moved), as a removed asset's are, before their heads go, so that
    ``clean --orphans`` and ``clean`` still delete them once they can. Said, each."""
    from ..moved import head_files, note_left

    put = getattr(store, "put_meta", None)
    paths = {rel for rel, _ in failed}
    for n, head in gone.items():
        files = [f for f in head_files(n, head, store.read_blob, store.get_stat) or () if f.path in paths]
        if put is not None and files:
            note_left(put, files)
    for rel, why in failed:
        warn(f"{rel} belongs to a partition that no longer exists, but it {why} (an orphaned output now: "
             "assetbuild clean --orphans deletes it once it can)")


def keys_changed(project: Any, store: Any, plan: Sequence[str], *, mark: bool = True) -> dict[str, str]:
    """The planned partitioned assets whose partition keys are not those the store last held
    only heads of (asset -> the digest of its keys now): after the build, their partitions that
    no longer exist are dropped (``drop_gone_partitions``). Marked unknown first
    (``mark``; not in a dry run), so a build that ends early leaves them to the next. A null
    build reads one record per asset."""
    import hashlib

    seen = getattr(store, "partition_keys_seen", None)
    if seen is None:
        return {}
    out: dict[str, str] = {}
    planned = set(plan)
    for asset, pset in project.graph.partitioned.items():
        if pset.nodes and not any(n in planned for n in pset.nodes):  # (none left: its last file went)
            continue
        digest = hashlib.sha256("\n".join(pset.keys).encode("utf-8", "surrogatepass")).hexdigest()
        if seen(asset) != digest:
            out[asset] = digest
            if mark:
                store.put_partition_keys_seen(asset, None)
    return out


def drop_gone_partitions_of(project: Any, store: Any, plan: Sequence[str]) -> None:
    """Drop the partitions of the planned assets whose keys went since the store last saw them
    (a tick of ``run``, which may build none of those assets, drops them as a build does)."""
    unseen = keys_changed(project, store, plan) if project.graph.partitioned else {}
    if unseen:
        drop_gone(project, store, unseen)


def firsts(project: Any, assets: Mapping[str, str]) -> list[str]:
    """One node of each of ``assets`` (partitioned): the plan ``drop_gone_partitions`` looks at."""
    return [n for a in assets for n in project.graph.partitioned[a].nodes[:1]]


def drop_gone(project: Any, store: Any, unseen: dict[str, str]) -> None:
    """After a build: drop the gone partitions of ``unseen`` (``keys_changed``), then note their
    keys as seen, so the next build that finds the same keys reads one record per asset."""
    drop_gone_partitions(project, store, firsts(project, unseen))
    for asset, digest in unseen.items():
        store.put_partition_keys_seen(asset, digest)
    store.flush()


def whole_assets(graph: Any, plan: list[str], chosen: Collection[str] = ()) -> list[str]:
    """``plan`` with every partition of each partitioned asset it touches only as context:
    ``status -v daily`` shows the hourly asset it reads on one line whose counts add up to all
    of its partitions, not only to the hours the daily partitions read. An asset with a node in
    ``chosen`` (what the selection itself names) keeps just the partitions in ``plan``:
    ``status 'pa[eu]'`` decides and counts pa[eu], not pa[us], as a build of it would."""
    if not graph.partitioned:
        return plan
    from ..graph import select
    from ..partitions import split_node

    have = set(plan)
    named = {split_node(n)[0] for n in chosen}
    assets = dict.fromkeys(a for a, k in map(split_node, plan)
                           if k is not None and a in graph.partitioned and a not in named)
    extra = [n for a in assets for n in graph.partitioned[a].nodes if n not in have]
    return select(graph, [*plan, *extra]) if extra else plan


def one_partition_please(graph: Any, asset: str) -> None:
    """SelectionError for a value asked of a whole partitioned asset (``show daily``): each
    partition stores its own, so the message says how to name one."""
    pset = graph.partitioned.get(asset)
    if pset is None or asset in graph.inputs:
        return
    span = f"{len(pset.keys)} partitions, {pset.keys[0]} to {pset.keys[-1]}" if pset.keys else "no partitions now"
    raise SelectionError(f"asset {asset!r} is partitioned: each partition has its own value; name one with "
                         f"--partition KEY (or {asset}[KEY] from Python) ({span})")
