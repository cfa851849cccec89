"""Which build the entry point's snapshot speaks for: the command it saw (``snapshot.INTENT``),
matched with the build or query the command then runs.

Only a plain build of the whole project in its own cache (no selection, no forcing, no
partitions, params, resources or remote) may write the snapshot, or take the slice the entry
point found (``take_slice``); a plain ``status`` takes its own (``take_status_slice``). Under
``ASSETBUILD_CHECK_SNAPSHOT``, the plain ``status`` and ``-n`` and the build of assets named are
checked against what the snapshot would have answered (``check_status``, ``check_dry_run``,
``check_selection``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import snapshot
from ..definitions import AssetDef
from .listings import listings_before


def wanted(project: Any, assets: Any, options: Any) -> bool:
    """Whether this build may write the snapshot (or check the one the entry point read); a
    dry run: whether it is the entry point's plain ``-n`` (it writes none)."""
    expected = intended(assets, options, dry_run=bool(options.dry_run))
    return expected is not None and str(project.project_dir) == expected \
        and Path(project.cache_dir) == Path(expected) / ".assetbuild"


def intended(assets: Any, options: Any, *, dry_run: bool = False) -> str | None:
    """The project directory of the plain build of everything the entry point saw, if this
    build is one (see ``snapshot.INTENT``); else None. ``dry_run``: the entry point's plain
    ``-n`` instead."""
    intent = snapshot.INTENT
    if intent is None or assets or bool(options.dry_run) != dry_run or bool(intent.get("dry_run")) != dry_run \
            or intent.get("status") or options.force or options.force_upstream \
            or options.only or options.partitions is not None or options.params or options.param_args \
            or options.resources or options.forced or options.tick or options.remote.url is not None:
        return None
    return intent_dir(intent)


def intent_dir(intent: dict[str, Any]) -> str:
    """The project directory of the entry point's command (``-C DIR``, else the working one)."""
    where = intent.get("directory")
    return os.path.abspath(str(where)) if where else os.getcwd()


def take_status_slice(project_dir: Any, assets: Any, *, plain: bool) -> dict[str, Any] | None:
    """The slice the entry point found if this is its plain ``status`` of the whole project (a
    project whose status says only fresh where nothing changed: ``status_is_plain``), else None;
    taken once. ``plain``: no other option than the defaults (AssetFile, cache, remote, params)."""
    sliced, snapshot.SLICE = snapshot.SLICE, None
    intent = snapshot.INTENT or {}
    if sliced is None or not plain or assets or not intent.get("status"):
        return None
    return sliced if os.path.realpath(str(project_dir)) == os.path.realpath(intent_dir(intent)) else None


def status_is_plain(graph: Any) -> bool:
    """Whether ``status`` of the whole project, when every asset is cached, says only "fresh" and
    each name (the entry point's answer): no partitioned asset (its line counts partitions) and
    no policy (``freshness=`` can make an asset overdue as time passes; ``auto=``, ``schedule=``)."""
    return not graph.partitioned and not any(
        getattr(d, "freshness", None) is not None or getattr(d, "auto", None) is not None
        or getattr(d, "schedule", None) is not None for d in graph.nodes.values() if isinstance(d, AssetDef))


def check_status(project: Any, assets: Any, rows: Any) -> None:
    """Under ASSETBUILD_CHECK_SNAPSHOT, after the ``status`` (of everything, or of the assets
    named) the snapshot would have answered (``snapshot.EXPECTED``): fail unless every asset
    shown is fresh, for no reason, in the order of the recorded results (the answer's lines)."""
    expected, intent = snapshot.EXPECTED, snapshot.INTENT or {}
    if expected is None or not intent.get("status") or tuple(assets or ()) != intent.get("select", ()):
        return  # (the assets the command named: the answer's lines are theirs)
    if intent_dir(intent) != str(project.project_dir):
        return
    if any(r.state != "fresh" or r.reasons for r in rows) or [r.asset for r in rows] != [t[0] for t in expected["results"]]:
        raise RuntimeError("the snapshot disagrees with status: it would have said that every asset "
                           "is fresh, in its recorded order, and status says otherwise")


def check_dry_run(project: Any, assets: Any, options: Any, result: Any) -> None:
    """Under ASSETBUILD_CHECK_SNAPSHOT, after the plain ``-n`` the snapshot would have answered
    (``snapshot.EXPECTED``): fail unless this dry run, too, found every asset cached with the
    keys and versions the snapshot recorded (the answer it prints: nothing would run)."""
    expected = snapshot.EXPECTED
    if expected is None or intended(assets, options, dry_run=True) != str(project.project_dir):
        return
    found = [[r.asset, r.key, r.data_version] for r in result.results]
    if not result.ok or any(r.status != "cached" for r in result.results) or found != expected["results"]:
        raise RuntimeError("the snapshot disagrees with the dry run: it would have said that nothing "
                           "would run, and the dry run predicts otherwise, or other keys")


def check_selection(project: Any, assets: Any, options: Any, result: Any) -> None:
    """Under ASSETBUILD_CHECK_SNAPSHOT, after the build (or ``-n``) of the assets the entry
    point's command named, which the snapshot would have answered (``snapshot.EXPECTED``: their
    recorded results and those of what they need, in build order): fail unless this build found
    the same assets, each cached with its recorded key and version."""
    expected, intent = snapshot.EXPECTED, snapshot.INTENT or {}
    if expected is None or not intent.get("select") or tuple(assets) != intent["select"] \
            or bool(options.dry_run) != bool(intent.get("dry_run")) or intent_dir(intent) != str(project.project_dir):
        return
    found = [[r.asset, r.key, r.data_version] for r in result.results]
    if not result.ok or any(r.status != "cached" for r in result.results) or found != expected["results"]:
        raise RuntimeError("the snapshot disagrees with the build of the assets named: it would have said that "
                           "they and what they need were cached, with their recorded keys, and the build did not")


def note_directories(project_dir: Any, assets: Any, options: Any) -> None:
    """Before a build that may record a snapshot loads the project: the directories it may find
    modules in, as they are (``listings.listings_before``), which the record is checked against."""
    expected = None if options.dry_run else intended(assets, options)
    if expected is None:
        snapshot.BEFORE = snapshot.SETTINGS = None
        return
    root = os.path.realpath(str(project_dir))
    snapshot.BEFORE = listings_before(root, snapshot.PREVIOUS)
    snapshot.SETTINGS = {f: snapshot.sig_of(f) for f in settings_files(root, os.path.join(root, ".assetbuild"))}


def settings_files(root: str, cache_dir: str) -> tuple[str, str, str]:
    """The files of settings a build reads after loading: ``pyproject.toml``, and the dynamic
    partitions' keys (``assetbuild partitions add``; the older versions' file, read while this
    version's is missing)."""
    from .partition_env import DYNAMIC_FILE, OLDER_FILE

    return (os.path.join(root, "pyproject.toml"), os.path.join(cache_dir, DYNAMIC_FILE),
            os.path.join(cache_dir, OLDER_FILE))


def take_slice(project_dir: Any, assetfile: Any, cache_dir: Any, assets: Any, options: Any) -> dict[str, Any] | None:
    """The slice the entry point found (``snapshot.SLICE``) if this build is the one it was
    found for, else None; taken once (a later build in this process loads the whole project)."""
    sliced, snapshot.SLICE = snapshot.SLICE, None
    if sliced is None or assetfile is not None or cache_dir is not None:
        return None
    expected = intended(assets, options, dry_run=bool(options.dry_run))
    return sliced if expected is not None and os.path.realpath(str(project_dir)) == os.path.realpath(expected) else None
