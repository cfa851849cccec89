"""``build -n`` predicts a build that fails: random graphs over a source that may be missing,
with and without ``-k``, serially. The assets -n says would fail, would skip and would run are
the assets the build then fails, skips and builds."""

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
