"""``status`` and ``list`` as text (or their ``--json`` documents).

``status`` shows one line per selected asset (its upstream only under ``-v``, below the
selection, as context); ``list`` prints aligned columns (name, kind, group, io, path, inputs,
then deps when an asset declares some), and ``-v`` adds each one's description. A cell is at
most about ``WIDE`` characters (an asset reading 8,000 inputs lists the first few and "… and
N more") and columns are padded to cells no wider (a longer one overflows its own row): padding
every row to the widest cell made the output grow with the number of rows times its width.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ..reports import AssetStatus
from ..statuslines import state_word, status_line


def format_status(rows: list[AssetStatus], *, color: bool = False, as_json: bool = False,
                  each_partition: bool | Collection[str] = False, verbose: bool = False) -> str:
    """One line per asset; a partitioned asset's partitions as one line of counts (and, with
    ``each_partition``, a line per partition below it: of every partitioned asset, or of those
    named, when it names some of them; not of those a selection only needs). Rows marked
    ``context`` (upstream of a selection, with ``-v``) follow the selected ones under a heading."""
    from .partitions import group_partitions

    selected = [r for r in rows if not r.context]
    context = [r for r in rows if r.context]
    if as_json:
        return json.dumps({"assets": _status_json(selected, each_partition)
                           + [dict(d, context=True) for d in _status_json(context, each_partition)]})
    every = group_partitions(rows)
    width = max((len(g.asset) for g in every if isinstance(g, AssetStatus)), default=0)
    lines = _status_lines(selected, color, each_partition, verbose, width)
    if context:
        lines.append("upstream of the selection (a build of it decides these too):")
        lines += _status_lines(context, color, False, verbose, width)
    return "\n".join(lines)


def _status_json(rows: list[AssetStatus], each_partition: bool | Collection[str]) -> list[dict[str, Any]]:
    from .partitions import group_partitions

    grouped = group_partitions(rows)
    if each_partition and not isinstance(each_partition, bool):
        named = {g.asset for g in grouped if not isinstance(g, AssetStatus)} & set(each_partition)
        each_partition = named or True
    return [g.to_json(each_partition is True or bool(each_partition and g.asset in each_partition))
            if not isinstance(g, AssetStatus) else g.to_json() for g in grouped]


def _status_lines(rows: list[AssetStatus], color: bool, each_partition: bool | Collection[str], verbose: bool,
                  width: int) -> list[str]:
    from .partitions import group_partitions

    grouped = group_partitions(rows)
    if each_partition and not isinstance(each_partition, bool):
        named = {g.asset for g in grouped if not isinstance(g, AssetStatus)} & set(each_partition)
        each_partition = named or True
    lines = []
    for g in grouped:
        if not isinstance(g, AssetStatus):
            policy = _policy(g.rows[0][1].policy or {}) if verbose and g.rows else ""
            why = "".join(f"; {x.code}: {x.detail}" for x in g.reasons)
            lines.append(f"{state_word(g.state, color)} {g.asset}  partitioned  {g.counts_text()}{why}{policy}")
            if each_partition is True or (each_partition and g.asset in each_partition):
                kw = max((len(k) for k, _ in g.rows), default=0)
                for key, r in g.rows:
                    why = "; ".join(f"{x.code}: {x.detail}" for x in r.reasons)
                    lines.append(f"  {state_word(r.state, color)} {key:<{kw}}  {why}".rstrip())
            continue
        why = "; ".join(f"{x.code}: {x.detail}" for x in g.reasons)
        policy = _policy(g.policy or {}) if verbose else ""
        lines.append(status_line(g.state, g.asset, width, why + policy, color=color))
    return lines


_COLUMNS = ("name", "kind", "group", "io", "path", "inputs")
WIDE = 60  # characters: the names a cell lists, and the widest cell its column is padded to


def format_assets(rows: list[dict[str, Any]], *, as_json: bool = False, verbose: bool = False) -> str:
    """``list``: one line per source and asset, in build order, in aligned columns (name, kind,
    group, io, path, inputs; deps when an asset declares some; then notes: partitions, the
    multi-asset an out comes from, policies), ``-`` for none; ``verbose`` adds descriptions."""
    if as_json:
        return json.dumps({"assets": rows})
    if not rows:
        return ""
    table = [_row_cells(r) for r in rows]
    has_deps = any(cells[6] != "-" for cells, _ in table)
    head = [c.upper() for c in _COLUMNS] + (["DEPS"] if has_deps else [])
    body = [cells[:6] + ([cells[6]] if has_deps else []) for cells, _ in table]
    widths = [max((len(line[i]) for line in [head, *body] if len(line[i]) <= WIDE), default=0)
              for i in range(len(head))]
    lines = []
    for line, notes, r in zip([head, *body], ["", *(n for _, n in table)], [None, *rows]):
        text = "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
        if notes:
            text += f"  {notes}"
        said = str(r.get("description") or "").strip().partition("\n")[0] if verbose and r is not None else ""
        if said:  # (its first line: one row per asset)
            text += f"  # {said}"
        lines.append(text)
    return "\n".join(lines)


def _row_cells(r: dict[str, Any]) -> tuple[list[str], str]:
    """A ``list`` row's cells (name, kind, group, io, path, inputs, deps) and its notes."""
    kind = r["kind"]
    deps = list(r.get("deps") or ())
    inputs = [i for i in r.get("inputs") or () if i not in deps]
    notes = []
    if kind == "asset":
        written = r.get("outputs") or ([r["path"]] if r.get("path") else [])
        path = ", ".join(written)
    elif kind == "source":
        path = r.get("path") or ""
        if r.get("version") == "mtime":
            notes.append("(by mtime)")
    else:
        path = ""
    if kind == "resource":
        if r.get("version"):
            notes.append(f"(version {r['version']!r})")
        notes.append(f"used by {', '.join(r['used_by'])}" if r.get("used_by") else "(unused)")
    elif kind == "observable_source" and r.get("poll"):
        notes.append(f"(poll every {r['poll']:g} s)")
    if r.get("producer"):
        notes.append(f"(out of {r['producer']})")
    if r.get("partitions"):
        p = r["partitions"]
        notes.append(f"[{p['definition']}: {p['count']} partition{'' if p['count'] == 1 else 's'}]")
    policy = _policy(r).strip()
    if policy:
        notes.append(policy)
    cells = [r["name"], kind, r.get("group") or "-", r.get("io") or "-", path or "-",
             _names(inputs), _names(deps)]
    return cells, "  ".join(notes)


def _names(names: list[str]) -> str:
    """``names`` joined, as many as fit in ``WIDE`` characters (one at least), then "… and N
    more" (``list --json`` has them all); "-" for none."""
    shown: list[str] = []
    size = 0
    for n in names:
        size += len(n) + 2 * bool(shown)
        if shown and size > WIDE:
            break
        shown.append(n)
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f", … and {rest} more" if rest else "") if names else "-"


def _policy(row: dict[str, Any]) -> str:
    """``list``'s policy column and ``status -v``'s (``  {eager, freshness 1h, schedule '0 9 * * *'
    UTC}``): empty for an asset without one, so its row reads as before policies existed."""
    from ..clock import format_limit

    parts = [row["auto"]] if row.get("auto") else []
    if row.get("freshness") is not None:
        parts.append(f"freshness {format_limit(row['freshness'])}")
    if row.get("schedule"):
        parts.append(f"schedule {row['schedule']!r} {row.get('timezone', 'UTC')}")
    return f"  {{{', '.join(parts)}}}" if parts else ""
