"""``build -n`` predicts a build that fails: random graphs over a source that may be missing, or
whose outputs' places hold directories (empty, or holding the user's files), with and without
``-k``, serially. The assets -n says would fail, would skip and would run are the assets the
build then fails, skips and builds."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

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
