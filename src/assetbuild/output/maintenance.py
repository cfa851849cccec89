"""Renderings of the maintenance commands' results: ``clean``, ``cache stats``, ``gc``,
``verify``, ``export``, ``import`` and ``cache keygen`` (text, or their ``--json`` documents).
Pure, like the other ``format_*`` functions: the CLI prints what they return."""

from __future__ import annotations

import json
from typing import Any


def format_clean(report: Any, *, asking: bool = False, verbose: bool = False) -> str:
    """``clean`` (a ``CleanReport``): nothing there; the question before deleting (``asking``);
    with ``-n`` the files that would go and those that would stay; else what went (``verbose``:
    each file deleted, on a line of its own)."""
    cache, n = report.cache_dir, len(report.deleted)
    kept = len(report.kept) + len(report.failed) + len(report.refused)

    def files(k: int) -> str:
        return f"{k} file{'' if k == 1 else 's'}"

    if report.nothing_to_do:
        return f"nothing to clean: {cache} does not exist" + (
            " (it holds the record of what assetbuild wrote into the project)" if report.outputs else "")
    why = _why_kept(report)
    outputs = (f"{files(n)} assetbuild wrote into the project" + (f" ({kept} {why} stay)" if kept else "")
               if report.outputs else "")
    k = report.other_projects
    others = f" (the latest builds of {k} asset{'' if k == 1 else 's'} of other projects too)" if k else ""
    if asking:
        return f"Delete {cache} and everything cached in it{others}" + (f", and {outputs}" if outputs else "") + "?"
    if report.dry_run:
        lines = [f"would delete what assetbuild stored in {cache}{others}"
                 + (" (its dynamic partition keys stay)" if report.keys_kept else "")]
        if report.outputs:
            lines.append(f"would delete {files(n)} assetbuild wrote into the project" + (":" if n else ""))
            lines += [f"  {p}" for p in report.deleted]
            if kept:
                lines.append(f"would keep {files(kept)} assetbuild wrote ({why}):")
                lines += [f"  {p} ({why})" for p, why in (*report.kept, *report.failed, *report.refused)]
        return "\n".join(lines)
    line = (f"deleted {cache}" if report.cache_deleted else
            f"emptied {cache} (the directory stays: a symlink, or a mount point)" if not report.cache_kept and not report.keys_kept else
            f"deleted what assetbuild stored in {cache}; kept " + " and ".join(
                what for what, k in (("the dynamic partition keys (assetbuild partitions remove forgets them)",
                                      report.keys_kept), ("the files it did not create", report.cache_kept)) if k))
    if report.outputs:
        dirs = len(report.dirs)
        line += (f"; deleted {files(n)} assetbuild wrote into the project"
                 + (f" and {dirs} emptied output director{'y' if dirs == 1 else 'ies'}" if dirs else "")
                 + f", kept {kept}" + (f" ({why})" if kept else ""))
        if verbose:
            line += "".join(f"\n  deleted {p}" for p in report.deleted)
    return line


def _why_kept(report: Any) -> str:
    """Why ``clean`` keeps the files it keeps, each kind named only when there are some: a path
    reached through a symlinked directory (outputs on another disk) is neither changed nor unsafe."""
    linked = len(report.linked)
    whys = [why for why, k in (("changed since", len(report.kept)), ("cannot be deleted", len(report.failed)),
                               ("reached through a symlink", linked),
                               ("not safe to delete", len(report.refused) - linked)) if k]
    return whys[0] if len(whys) == 1 else ", ".join(whys[:-1]) + ", or " + whys[-1] if whys else ""


def format_size(n: int) -> str:
    """Bytes in the largest binary unit that keeps one digit before the point (``1.5 MiB``)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def format_cache_stats(st: dict[str, Any], *, as_json: bool = False) -> str:
    """``cache stats``: entries, bytes where they are, the last build's outcome."""
    if as_json:
        return json.dumps(st)
    mib = format_size
    lines = [f"cache       {st['cache_dir']}",
             f"entries     {st['entries']} ({st['latest_entries']} latest of {st['assets']} assets, "
             f"{st['older_entries']} older)",
             f"outputs     {mib(st['output_bytes'])} in {st['blobs']} blobs "
             f"({mib(st['inline_bytes'])} inline, {mib(st['file_bytes'])} in {st['file_blobs']} files)",
             f"on disk     {mib(st['disk_bytes'])} (index {mib(st['index_bytes'])})"
             + (f"; {st['temp_files']} temp file(s) for gc" if st["temp_files"] else "")]
    lb = st["last_build"]
    if lb:
        rate = "n/a" if lb["hit_rate"] is None else f"{lb['hit_rate']:.0%}"
        lines.append(f"last build  {lb['assets']} assets: {lb['built']} built, {lb['cached']} cached, "
                     f"{lb['restored']} restored, {lb['failed']} failed, {lb['skipped']} skipped; hit rate {rate}")
    else:
        lines.append("last build  none recorded")
    return "\n".join(lines)


def format_gc(r: Any, max_size: int | None, *, as_json: bool = False) -> str:
    """``cache gc``: what was (or would be) dropped, the disk before and after, and a note when
    the latest builds alone exceed ``max_size``."""
    if as_json:
        return json.dumps(r.to_json())
    mib = format_size
    verb = "would drop" if r.dry_run else "dropped"
    lines = [f"{verb} {r.entries_dropped} of {r.entries_before} entries and {r.blobs_dropped} blobs "
             f"({mib(r.output_bytes_freed)} of {mib(r.output_bytes_before)} outputs)"
             + (f", {r.temp_files} temp file(s)" if r.temp_files else "")
             + (f", {r.code_files} old compiled AssetFile(s)" if r.code_files else "")
             + (f", {len(r.leftover_dirs)} leftover dir(s)" if r.leftover_dirs else "")
             + (f", {r.events_dropped} history event(s) and {r.runs_dropped} run(s) beyond the kept history"
                if r.events_dropped or r.runs_dropped else "")
             + (f", the last records of {r.versions_trimmed} older version(s) (show/diff --version: trimmed)"
                if getattr(r, "versions_trimmed", 0) else ""),
             f"on disk: {mib(r.disk_bytes_before)} -> {mib(r.disk_bytes_after)}"
             + ("" if r.dry_run else f" (index {mib(r.index_bytes_before)} -> {mib(r.index_bytes_after)})")]
    gone = getattr(r, "removed_heads", None)
    if gone:
        lines.insert(0, f"{verb} the latest builds of {len(gone)} removed asset(s): " + ", ".join(gone[:5])
                     + (", ..." if len(gone) > 5 else ""))
    left = r.output_bytes_before - r.output_bytes_freed
    if max_size is not None and left > max_size:
        lines.append(f"the assets' latest builds alone take {mib(left)}, more than --max-size "
                     f"{mib(max_size)}: they are always kept")
    return "\n".join(lines)


def format_verify(r: Any, *, as_json: bool = False) -> str:
    """``cache verify``: each corrupt or missing blob and whose output it was, then the tally."""
    if as_json:
        return json.dumps(r.to_json())
    lines = []
    for c in r.corrupt:
        who = f" (output of {', '.join(c['assets'])})" if c["assets"] else ""
        lines.append(f"corrupt  {c['digest'][:12]} {c['where']}{who}: dropped")
    for m in r.missing:
        who = f" (output of {', '.join(m['assets'])})" if m["assets"] else ""
        lines.append(f"missing  {m['digest'][:12]}{who}")
    if r.damaged_records:
        lines.append(f"damaged  {r.damaged_records} record(s) that do not decode: dropped")
    lines.append(f"checked {r.blobs_checked} blobs ({format_size(r.bytes_checked)}): "
                 + ("all verified" if r.ok else f"{len(r.corrupt)} corrupt, {len(r.missing)} missing; "
                    f"dropped {r.entries_dropped} entries, the next build rebuilds "
                    f"{', '.join(r.heads_dropped) or 'what needs them'}"))
    return "\n".join(lines)


def format_export(r: dict[str, Any], file: str, *, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(r)
    lines = [f"exported {r['entries']} entries, {r['blobs']} blobs ({format_size(r['bytes'])}) to {file}"]
    if r["never_built"]:
        lines.append(f"not exported (never built): {', '.join(r['never_built'])}")
    return "\n".join(lines)


def format_import(r: dict[str, Any], file: str, *, as_json: bool = False) -> str:
    """``cache import``: what was added and skipped (``--json``: with ``ok``, false exactly when
    the command exits 1, an entry skipped or a blob rejected, as ``cache verify``'s says)."""
    if as_json:
        return json.dumps({"ok": not (r["skipped"] or r["rejected_blobs"]), **r})
    return (f"imported {r['entries']} entries, {r['blobs']} blobs from {file}"
            + (f" ({r['already_present']} already here)" if r["already_present"] else "")
            + (f"; skipped {r['skipped']} entries" if r["skipped"] else ""))


def format_key_pair(pair: dict[str, str | None], *, as_json: bool = False) -> list[tuple[str, bool]]:
    """``cache keygen``: the variables to set (stdout), each with a comment on who gets it
    (stderr, so ``>> .env`` keeps only the variables). Lines as (text, to stderr)."""
    if as_json:
        return [(json.dumps(pair), False)]
    lines: list[tuple[str, bool]] = []
    if pair["signing_key"] is not None:
        lines += [("# secret: only the jobs that upload (CI secret)", True),
                  (f"ASSETBUILD_CACHE_SIGNING_KEY={pair['signing_key']}", False),
                  ("# public: every reader (a plain variable, or committed)", True)]
    lines.append((f"ASSETBUILD_CACHE_TRUSTED_KEYS={pair['trusted_key']}", False))
    return lines
