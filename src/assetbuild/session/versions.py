"""Older values: an asset's versions (its current value first, then each earlier materialization,
newest first), loading one by its place or key, and comparing two (``show --version``, ``diff``).

A version is a key the asset was built or restored under. Its value is loaded only while the
store keeps its trace and bytes: a version ``cache gc`` dropped says so (``VersionGone``, exit
status 1), as does one a build dropped because it could not be loaded back (its history says
which); it is never guessed from another one; so does one whose every record gc trimmed from
the history (``VersionTrimmed``: the store counts them, see store.trimming). A version or key
never recorded is a usage error (``ValueNotFound``, ``SelectionError``: exit status 2).
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import SelectionError, ValueNotFound, VersionGone, VersionTrimmed, describe_exception
from ..reports import VALUE_KINDS, Head
from .arguments import verb


def versions_of(store: Any, asset: str, head: Head | None) -> list[tuple[str, int]]:
    """(key, time in ns) of each version of ``asset``, the current one (its head) first, then
    earlier ones newest first, each key once, with the time it was last built or restored.

    Newest by build order, as ``log`` lists the events (by run, then place in the run), not by
    recorded time: a clock stepped back (``ASSETBUILD_NOW``, NTP, a cache shared between
    machines) must not make "the one before" another build's. History rows (one per build, in
    build order too: store.records.history_key) come after the events: they list the builds whose
    events are gone (trimmed by gc, or made before events were recorded), which are older than
    every kept event."""
    seen: dict[str, int] = {}
    if head is not None:
        seen[head.key] = head.built_ns
    for e in reversed(store.events(asset)):  # (oldest first, by run and place in it)
        if e.kind in VALUE_KINDS and e.key:
            seen.setdefault(e.key, e.end_ns)
    for when, key in reversed(store.history(asset)):
        seen.setdefault(key, when)
    return list(seen.items())


def pick_version(store: Any, asset: str, head: Head | None, *, version: int | None = None,
                 key: str | None = None) -> tuple[int, str, int]:
    """(place, key, time) of the version asked for: the ``version``-th newest (0 = current) or
    the one whose key is (or starts with, at least 8 characters) ``key``; ValueNotFound or
    SelectionError if there is none, VersionTrimmed for a place ``cache gc`` trimmed from the
    history (store.trimming)."""
    versions = versions_of(store, asset, head)
    count = getattr(store, "trimmed_versions", None)
    trimmed = count(asset) if count is not None else 0
    if not versions and not trimmed:
        raise ValueNotFound(f"asset {asset!r} has never been built (run: assetbuild build {asset})")
    listed = f"{len(versions)} recorded version(s) (0 to {len(versions) - 1})" if versions else "no recorded version"
    older = f"{trimmed} older one(s) trimmed by cache gc" if trimmed else ""
    if key is not None:
        hits = [(i, k, t) for i, (k, t) in enumerate(versions) if k == key or (len(key) >= 8 and k.startswith(key))]
        if len(hits) != 1:
            what = "no version" if not hits else f"{len(hits)} versions"
            also = f"; {older}, whose keys are no longer known" if older and not hits else ""
            raise SelectionError(f"{what} of {asset!r} has the key {key!r} "
                                 f"(assetbuild log {asset} --json lists its keys; give 8 characters or more){also}")
        return hits[0]
    n = 0 if version is None else version
    if len(versions) <= n < len(versions) + trimmed:  # it was recorded: said so, exit status 1
        raise VersionTrimmed(f"version {n} of {asset!r} is no longer recorded: cache gc trimmed it from the "
                             f"history, which keeps the newest events of each asset ([tool.assetbuild] history); "
                             f"{asset!r} has {listed}")
    if n < 0 or n >= len(versions):  # never recorded: the caller's mistake, not a version gc dropped
        span = f" and {older} ({len(versions)} to {len(versions) + trimmed - 1})" if trimmed else ""
        raise ValueNotFound(f"asset {asset!r} has {listed}{span}; there is no version {n}")
    k, t = versions[n]
    return n, k, t


def load_version(project: Any, store: Any, asset: str, place: int, key: str, when_ns: int,
                 head: Head | None) -> Any:
    """The value of one version (VersionGone if its trace or bytes are no longer stored)."""
    from ..clock import iso_utc

    trace: Any = head if head is not None and head.key == key else store.get_trace(key)
    if trace is None or not store.has_blob(trace.output_digest, trace.size):
        raise VersionGone(f"version {place} of {asset!r} (key {key[:12]}, built {iso_utc(when_ns)}) is no "
                          f"longer in the cache: {_gone_why(store, asset, key)}")
    data = store.read_blob(trace.output_digest)
    io_name = trace.io.split("@", 1)[0]
    io = project.io_managers.get(io_name)
    if io is None:
        raise ValueNotFound(f"asset {asset!r} was stored with IO manager {io_name!r}, which is not installed")
    from ..io import is_external

    if is_external(io):
        if place != 0:
            raise VersionGone(f"version {place} of {asset!r} is kept by io={io_name!r} outside the cache, "
                              "which holds only its latest data")
        from ..external import load_recorded
        from .building import project_params

        return load_recorded(io, io_name, asset, data, what=f"version {place} of {asset!r}",
                             project_dir=str(project.project_dir), params=project_params(project).get(asset, ""))
    try:
        return io.load(data)
    except Exception as e:  # noqa: BLE001 - the manager's code (a class since removed): one line naming it
        raise VersionGone(f"version {place} of {asset!r} cannot be loaded by its IO manager {io_name!r}: "
                          f"{describe_exception(e)}") from e


def _gone_why(store: Any, asset: str, key: str) -> str:
    """Why the value of ``key`` is no longer stored: the build that dropped it as unusable, when
    the last event under ``key`` is such a build's failure or skip (reason ``dropped``: it could
    not be loaded back; ``repaired``: its stored bytes could not be used and running it again
    gave no value), else ``cache gc``, the only other thing that drops a trace."""
    from ..reports import run_id

    for e in reversed(store.events(asset)):  # newest first
        if e.key != key:
            continue
        codes = {code for code, _ in e.reasons}
        if e.kind not in VALUE_KINDS and codes & {"dropped", "repaired"}:
            how = "could not be loaded back" if "dropped" in codes else "could not be used"
            return f"its value {how}, so run {run_id(e.run)} dropped it (assetbuild log {asset})"
        break
    return "cache gc dropped it"


def diff_values(asset: str, old: Any, new: Any) -> dict[str, Any]:
    """How two values of an asset differ: ``{"kind": "text"|"table"|"bytes"|"same", ...}``.
    Text (and values shown as JSON or by their repr): the lines of a unified diff; tables (a
    list of dicts, a DataFrame): the rows added and removed; bytes: sizes and digests."""
    import hashlib
    import json

    from ..jsonform import metadata_form  # (a NaN cell as "nan": the document stays JSON)

    if isinstance(old, (bytes, bytearray)) and isinstance(new, (bytes, bytearray)):
        if old == new:
            return {"kind": "same"}
        return {"kind": "bytes", "from": {"size": len(old), "sha256": hashlib.sha256(old).hexdigest()},
                "to": {"size": len(new), "sha256": hashlib.sha256(new).hexdigest()}}
    old_rows, new_rows = _rows(old), _rows(new)
    if old_rows is not None and new_rows is not None:
        def keyed(rows: list[Any]) -> list[str]:
            return [json.dumps(r, sort_keys=True, default=repr) for r in rows]

        a, b = keyed(old_rows), keyed(new_rows)
        from collections import Counter

        removed, added = Counter(a) - Counter(b), Counter(b) - Counter(a)
        if removed or added:
            return {"kind": "table", "removed": [metadata_form(json.loads(r)) for r in sorted(removed.elements())],
                    "added": [metadata_form(json.loads(r)) for r in sorted(added.elements())]}
        laid_out = _layout_changes(old, new, old_rows, new_rows, a != b)
        if laid_out:  # the same rows, which a reader sees in another order or with other types
            return {"kind": "text", "lines": ["the same rows, but:", *(f"  {line}" for line in laid_out)]}
        a_text = b_text = ""
    else:
        a_text, b_text = _text(old), _text(new)
    if a_text == b_text:
        equals = getattr(old, "equals", None)  # (a DataFrame's ==, cell by cell, is no verdict)
        same = _strictly_equal(old, new) if not callable(equals) or type(old) is not type(new) else equals(new)
        if same is not False:
            return {"kind": "same"}
        # Shown alike, yet not the same value ("42" and 42, (1, 2) and [1, 2], {1: x} and
        # {"1": x}: their data versions differ, and readers reran): each with its types.
        a_text, b_text = _typed(old), _typed(new)
        if a_text == b_text:
            return {"kind": "text", "lines": [f"the values print alike but differ: {type(old).__name__} "
                                              f"and {type(new).__name__} values that are not equal"]}
    import difflib

    lines = list(difflib.unified_diff(a_text.splitlines(), b_text.splitlines(), "before", "after", lineterm=""))
    return {"kind": "text", "lines": lines}


def _layout_changes(old: Any, new: Any, old_rows: list[Any], new_rows: list[Any], reordered: bool) -> list[str]:
    """What differs between two tables of the same rows: column order, column types (a
    DataFrame's dtypes), the order of the rows, the order of a row's keys."""
    out = []
    columns = [list(getattr(t, "columns", ())) for t in (old, new)]
    if columns[0] != columns[1]:
        out.append(f"column order {columns[0]} -> {columns[1]}")
    dtypes = [getattr(t, "dtypes", None) for t in (old, new)]
    if dtypes[0] is not None and dtypes[1] is not None:
        for c in columns[1]:
            if c in columns[0] and str(dtypes[0][c]) != str(dtypes[1][c]):
                out.append(f"type of column {c}: {dtypes[0][c]} -> {dtypes[1][c]}")
    elif [list(r) for r in old_rows] != [list(r) for r in new_rows]:
        out.append("the order of keys in the rows")
    if reordered:
        out.append("the order of the rows")
    return out


def _strictly_equal(a: Any, b: Any) -> bool | None:
    """Whether ``a`` and ``b`` are one value, types and dict order included (NaN equals NaN);
    None when that cannot be told (an ``==`` that gives no bool: a DataFrame's)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        verdicts = [v for pair in zip(a.items(), b.items()) for v in
                    (_strictly_equal(pair[0][0], pair[1][0]), _strictly_equal(pair[0][1], pair[1][1]))]
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return False
        verdicts = [_strictly_equal(x, y) for x, y in zip(a, b)]
    elif isinstance(a, float):
        return a == b or (a != a and b != b)
    else:
        try:
            same = a == b
        except Exception:  # noqa: BLE001 - a user type's __eq__: cannot be told
            return None
        return same if isinstance(same, bool) else None
    return False if False in verdicts else None if None in verdicts else True


def _typed(value: Any) -> str:
    """A value's text that tells types apart: its type, then its repr, dicts in their order."""
    import pprint

    return f"{type(value).__name__}: {pprint.pformat(value, sort_dicts=False)}"


def _rows(value: Any) -> list[Any] | None:
    """A table's rows as plain dicts (a list of dicts, or a DataFrame), else None."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and hasattr(value, "columns"):
        try:
            return list(value.reset_index().to_dict("records"))
        except (TypeError, ValueError):
            return None
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return value
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    try:  # each dict in its order: a reader sees it (io="json" keeps it), so another order is a change
        return json.dumps(value, indent=2, allow_nan=False)
    except (TypeError, ValueError):
        import pprint

        return pprint.pformat(value, sort_dicts=False)


@verb
def diff(asset: str, from_version: int = 1, to_version: int = 0, *, project_dir: str | os.PathLike[str] = ".",
         assetfile: str | None = None, cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """How version ``to_version`` of ``asset`` differs from ``from_version`` (by default: the
    current value against the one before): ``{"asset", "from": {"version", "key", "built"},
    "to": {...}, "kind", ...}`` (see :func:`diff_values`)."""
    from ..clock import iso_utc
    from ..graph import select
    from .project import open_project, open_store

    with open_project(project_dir, assetfile=assetfile, cache_dir=cache_dir) as project:
        if asset not in project.graph.inputs:
            from .partitioning import one_partition_please

            one_partition_please(project.graph, asset)  # a partitioned asset: name the partition
            select(project.graph, [asset])  # a SelectionError with a suggestion
            if asset in project.graph.producers:
                raise SelectionError(f"{asset!r} is a multi-asset, which stores no value itself; name one of its "
                                     f"outs ({', '.join(project.graph.producers[asset])})")
            raise SelectionError(f"{asset!r} is not an asset with stored values")
        store = open_store(project, readonly=True)
        try:
            head = store.get_head(asset)
            sides = []
            for n in (from_version, to_version):
                place, key, when = pick_version(store, asset, head, version=n)
                sides.append(({"version": place, "key": key, "built": iso_utc(when)},
                              load_version(project, store, asset, place, key, when, head)))
        finally:
            store.close()
    (a_info, a), (b_info, b) = sides
    found = diff_values(asset, a, b)  # bytes: "from"/"to" give each side's size and sha256, added to its info
    return {"asset": asset, "from": {**a_info, **found.pop("from", {})}, "to": {**b_info, **found.pop("to", {})},
            **found}
