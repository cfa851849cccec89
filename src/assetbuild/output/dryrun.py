"""What ``build -n`` prints: one line per asset a build would do something with, and a summary.

A dry run predicts the build, failures included: an asset whose source is missing "would fail",
its readers "would skip", and the summary says the build would fail (the CLI then exits 1), so
a dry run never claims that assets which cannot run would run.
"""

from __future__ import annotations

from ..reports import AssetResult, BuildResult, Reason

_NOT_RUN = "not run: "


def _predicted(r: AssetResult) -> str:
    """What a build would do with an asset: "run", "restore", "maybe", "fail", "skip" or "cached"."""
    if r.status == "cached":
        return "cached"
    if r.status == "failed":
        return "fail"
    would = r.metadata.get("would")
    if would is None:  # skipped: an input it needs cannot be built
        return "skip"
    return str(would)


def dry_run_line(r: AssetResult) -> str | None:
    """``would run     x  (reasons)``, ``would fail    x  (why)``, ``would skip    x  (why)``;
    None for an asset a build would find cached."""
    would = _predicted(r)
    if would == "cached":
        return None
    timed = _timed(r)  # what timing decides, with -j (assetbuild.stopping)
    why = "; ".join(f"{x.code}: {x.detail}" for x in r.reasons if x is not timed or would != "fail")
    if would == "fail" or not why:
        why = "; ".join(filter(None, [r.error or "", f"{timed.code}: {timed.detail}" if timed else ""]))
    if would in ("fail", "skip") and why.startswith(_NOT_RUN):
        why = why[len(_NOT_RUN):]  # the verb says so
    verb = "may run      " if would == "maybe" else f"may {would:<9}" if timed else f"would {would:<7}"
    return f"{verb} {r.asset}  ({why})"


def _timed(r: AssetResult) -> Reason | None:
    return next((x for x in r.reasons if x.code == "timing"), None)


def dry_run_summary(result: BuildResult) -> str:
    """The last line of ``-n``: how many assets would run or be restored, and, when the build
    would fail, which assets would fail and how many would be skipped."""
    assets = [r for r in result.results if r.metadata.get("kind") != "observable_source"]
    seen = [_predicted(r) for r in assets]
    timed = [w for r, w in zip(assets, seen) if w != "fail" and _timed(r)]
    maybe = seen.count("maybe") - timed.count("maybe")
    runs = sum(1 for w in seen if w in ("run", "restore")) - timed.count("restore")
    extra = "; ".join([f"{maybe} more may run, if an upstream's output changes"] * bool(maybe)
                      + [f"{len(timed)} more may run{' or be restored' if 'restore' in timed else ''}, if they "
                         "are reached before the build stops"] * bool(timed))
    extra = f" ({extra})" if extra else ""
    failing = [r.asset for r in result.results if r.status == "failed"]
    if not failing:
        return (f"dry run: {runs} of {len(assets)} assets would run or be restored{extra}; "
                "nothing was run or written")
    skipped = seen.count("skip")
    shown = ", ".join(failing[:5]) + (f" and {len(failing) - 5} more" if len(failing) > 5 else "")
    racing = any(_timed(r) for r in result.results if r.status == "failed")
    fails = (f"the first of {shown} it reaches would fail" if racing else
             f"{len(failing)} asset{'' if len(failing) == 1 else 's'} would fail ({shown})")
    return (f"dry run: the build would fail: {fails}, {skipped} would be skipped; {runs} of {len(assets)} "
            f"assets would run or be restored{extra}; nothing was run or written")
