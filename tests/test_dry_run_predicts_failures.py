"""``build -n`` predicts a build that fails: random graphs over a source that may be missing, or
whose outputs' places hold directories (empty, or holding the user's files), with and without
``-k``, serially. The assets -n says would fail, would skip and would run are the assets the
build then fails, skips and builds."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assetbuild


@st.composite
def scenarios(draw):
    n = draw(st.integers(2, 6))
    assets = []
    for i in range(n):
        pool = ["s0", "s1"] + [f"a{k}" for k in range(i)]
        assets.append({"name": f"a{i}", "ins": draw(st.lists(st.sampled_from(pool), unique=True, max_size=3))})
    first = draw(st.booleans())  # build everything once, with s1 present
    return assets, first, draw(st.booleans())


def render(assets) -> str:
    out = ["from assetbuild import asset, source\n", 's0 = source("s0", "s0.txt")\n', 's1 = source("s1", "s1.txt")\n']
    for a in assets:
        ins = [f"{i}.read_text()" if i in ("s0", "s1") else i for i in a["ins"]]
        out.append(f'@asset(io="json")\ndef {a["name"]}({", ".join(a["ins"])}):\n'
                   f'    return [{", ".join(ins)}]\n')
    return "\n".join(out)


def predicted(dry) -> dict[str, str]:
    out = {}
    for r in dry.results:
        would = r.metadata.get("would")
        out[r.asset] = ("built" if would in ("run", "maybe") else "restored" if would == "restore"
                        else r.status)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_dry_run_predicts_what_a_failing_build_does(scenario):
    assets, first, keep_going = scenario
    root = Path(tempfile.mkdtemp(prefix="ab-predict-fail-"))
    try:
        (root / "s0.txt").write_text("0")
        (root / "s1.txt").write_text("1")
        (root / "AssetFile").write_text(render(assets))
        if first:
            assert assetbuild.build(project_dir=root).ok
        (root / "s0.txt").write_text("changed")
        (root / "s1.txt").unlink()
        dry = assetbuild.build(dry_run=True, keep_going=keep_going, project_dir=root, jobs=1)
        real = assetbuild.build(keep_going=keep_going, project_dir=root, jobs=1)
        assert predicted(dry) == real.by_asset(), (render(assets), keep_going,
                                                   [(r.asset, r.status, r.error) for r in dry.results])
        assert dry.ok == real.ok
    finally:
        shutil.rmtree(root, ignore_errors=True)


@st.composite
def blocked_outputs(draw):
    """Random graphs whose assets write a path output, a declared file or nothing; after a first
    build (or none), some assets' code changes and some outputs' places get an empty directory
    or one holding a file of the user's."""
    n = draw(st.integers(2, 5))
    assets = []
    for i in range(n):
        pool = [f"a{k}" for k in range(i)]
        ins = draw(st.lists(st.sampled_from(pool), unique=True, max_size=2)) if pool else []
        assets.append({"name": f"a{i}", "ins": ins,
                       "kind": draw(st.sampled_from(["path", "outputs", "value"]))})
    first = draw(st.booleans())
    edits = draw(st.lists(st.sampled_from([a["name"] for a in assets]), unique=True, max_size=2))
    dirs = draw(st.dictionaries(st.sampled_from([a["name"] for a in assets if a["kind"] != "value"] or ["-"]),
                                st.sampled_from(["empty", "full"]), max_size=3))
    return assets, first, edits, {k: v for k, v in dirs.items() if k != "-"}, draw(st.booleans())


def render_outputs(assets, edited) -> str:
    out = ["from assetbuild import asset\n"]
    files = {a["name"] for a in assets if a["kind"] == "outputs"}  # read as a Path
    for a in assets:
        name, ins = a["name"], a["ins"]
        values = [f"{i}.read_text()" if i in files else i for i in ins]
        body = f"[{1 if name in edited else 0}, {', '.join(values)}]"
        if a["kind"] == "outputs":
            params = ", ".join([*ins, "context"])
            out.append(f'@asset(outputs=["{name}.out"])\ndef {name}({params}):\n'
                       f'    context.out("{name}.out").write_text(repr({body}))\n')
        else:
            where = f', path="{name}.out"' if a["kind"] == "path" else ""
            out.append(f'@asset(io="json"{where})\ndef {name}({", ".join(ins)}):\n    return {body}\n')
    return "\n".join(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocked_outputs())
def test_dry_run_predicts_a_build_where_directories_stand_in_for_outputs(scenario):
    """An empty directory where a file output goes is replaced; one holding a file of the user's
    fails its asset (never deleted): -n says which, and the build then does just that."""
    assets, first, edits, dirs, keep_going = scenario
    root = Path(tempfile.mkdtemp(prefix="ab-predict-dirs-"))
    try:
        (root / "AssetFile").write_text(render_outputs(assets, ()))
        if first:
            assert assetbuild.build(project_dir=root).ok
        (root / "AssetFile").write_text(render_outputs(assets, edits))
        for name, how in dirs.items():
            place = root / f"{name}.out"
            if place.is_file():
                place.unlink()
            place.mkdir(exist_ok=True)
            if how == "full":
                (place / "notes.txt").write_text("mine")
        dry = assetbuild.build(dry_run=True, keep_going=keep_going, project_dir=root, jobs=1)
        real = assetbuild.build(keep_going=keep_going, project_dir=root, jobs=1)
        assert predicted(dry) == real.by_asset(), (render_outputs(assets, edits), dirs, keep_going,
                                                   [(r.asset, r.status, r.error) for r in dry.results])
        assert dry.ok == real.ok == ("full" not in dirs.values())
        done = real.by_asset()
        for name, how in dirs.items():
            if how == "full":
                assert (root / f"{name}.out" / "notes.txt").read_text() == "mine"
            elif done[name] in ("built", "restored"):
                assert (root / f"{name}.out").is_file()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def verdicts(dry) -> dict[str, str]:
    """What -n says a build does with each asset: a status, or "any" where timing decides
    (``may run``, ``may fail``: a ``timing`` reason)."""
    out = {}
    for r in dry.results:
        if any(x.code == "timing" for x in r.reasons):
            out[r.asset] = "any"
        else:
            out[r.asset] = predicted_one(r)
    return out


def predicted_one(r) -> str:
    would = r.metadata.get("would")
    return "built" if would == "run" else "restored" if would == "restore" else "any" if would == "maybe" \
        else r.status


def holds(dry, real) -> list[tuple[str, str, str]]:
    got = real.by_asset()
    return [(a, v, got[a]) for a, v in verdicts(dry).items() if v not in ("any", got[a])]


STOPS_WHILE_OTHERS_RUN = """
from assetbuild import asset, source
import time
missing = source("missing", "data/missing.csv")

@asset(io="json")
def y():
    time.sleep(0.2)
    return 1

@asset(io="json")
def p():
    time.sleep(0.5)
    return 2

@asset(io="json")
def t():
    time.sleep(0.5)
    return 3

@asset(io="json")
def r(y, missing):
    return y

@asset(io="json")
def t1(t):
    return t

@asset(io="json")
def t2(t1):
    return t1

@asset(io="json")
def t3(t2):
    return t2
"""


@pytest.mark.parametrize("jobs", [2, "auto"])
def test_dry_run_of_a_parallel_build_that_stops_follows_its_order(tmp_path, jobs):
    """-j 2 starts the longest remaining path first (t, not p), and -j auto runs a plan this
    small serially: -n replayed plan order with as many workers as CPUs, so it said 'would run
    p' and 'would skip t'. What depends on how long running assets take is 'may run'."""
    (tmp_path / "AssetFile").write_text(STOPS_WHILE_OTHERS_RUN)
    dry = assetbuild.build(dry_run=True, project_dir=tmp_path, jobs=jobs)
    real = assetbuild.build(project_dir=tmp_path, jobs=jobs)
    assert holds(dry, real) == [], [(r.asset, r.status, r.metadata, r.reasons) for r in dry.results]
    said = verdicts(dry)
    if jobs == "auto":  # serially: nothing depends on timing, and y, then r, come first
        assert said == real.by_asset() and said["y"] == "built" and said["t"] == "skipped"
    else:
        assert said["t"] == said["y"] == "built" and said["r"] == "failed" and said["p"] == "any"


@st.composite
def racing(draw):
    """Random graphs where a missing source's readers wait for assets that run side by side,
    each taking a random time."""
    n = draw(st.integers(3, 8))
    assets = []
    for i in range(n):
        pool = ["s0", "s1"] + [f"a{k}" for k in range(i)]
        assets.append({"name": f"a{i}", "ins": draw(st.lists(st.sampled_from(pool), unique=True, max_size=3))})
    return assets, draw(st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(racing())
def test_dry_run_of_a_parallel_build_that_stops_says_what_timing_decides(scenario):
    """With -j 2 and no -k, what starts before the build stops at a failure can depend on how
    long the running assets take: -n says 'would' only for what the build does whatever the
    timing, and 'may' for the rest."""
    assets, first = scenario
    root = Path(tempfile.mkdtemp(prefix="ab-predict-race-"))
    try:
        (root / "s0.txt").write_text("0")
        (root / "s1.txt").write_text("1")
        text = render(assets).replace("    return [", "    __import__('time').sleep(__import__('random').random() / 8)\n"
                                                     "    return [")
        (root / "AssetFile").write_text(text)
        if first:
            assert assetbuild.build(project_dir=root).ok
        (root / "s0.txt").write_text("changed")
        (root / "s1.txt").unlink()
        dry = assetbuild.build(dry_run=True, project_dir=root, jobs=2, executor="threads")
        real = assetbuild.build(project_dir=root, jobs=2, executor="threads")
        assert holds(dry, real) == [], (text, [(r.asset, r.status, r.metadata, r.reasons) for r in dry.results])
        assert dry.ok == real.ok
    finally:
        shutil.rmtree(root, ignore_errors=True)
