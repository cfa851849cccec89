"""``build -n`` predicts exactly what the same ``build`` then runs: random graphs, random edits,
random selections (every form, with --exclude) and flags (--force, --force-upstream, --only).

Every edit changes an output (values carry a fresh constant and their inputs' values), so an
asset -n says "may run" (an upstream will rebuild) does run; a forced asset whose key did not
change remakes the same value (the functions are deterministic), so its readers that are not
forced stay cached, and -n says so.
"""

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
        pool = ["s0"] + [f"a{k}" for k in range(i)]
        assets.append({"name": f"a{i}", "ins": draw(st.lists(st.sampled_from(pool), unique=True, max_size=3)),
                       "group": draw(st.sampled_from(["g0", "g1"]))})
    first = draw(st.lists(st.sampled_from([a["name"] for a in assets]), max_size=2))  # never built: the rest
    names = [a["name"] for a in assets]
    item = st.one_of(
        st.sampled_from(names),
        st.sampled_from(names).map(lambda x: "+" + x),
        st.sampled_from(names).map(lambda x: x + "+"),
        st.sampled_from(names).map(lambda x: "+" + x + "+"),
        st.sampled_from(["group:g0", "group:g1"]).filter(lambda g: any(a["group"] == g[6:] for a in assets)),
        st.sampled_from(["a*", "a[01]", "s0+"]),
    )
    steps = draw(st.lists(st.fixed_dictionaries({
        "edit": st.one_of(st.none(), st.tuples(st.just("code"), st.integers(0, n - 1)), st.just(("source", 0))),
        "select": st.lists(item, max_size=3),
        "exclude": st.lists(st.sampled_from(names), max_size=1),
        "flags": st.sampled_from([{}, {"force": True}, {"force_upstream": True}, {"only": True},
                                  {"force": True, "only": True}]),
    }), min_size=1, max_size=4))
    return assets, first, steps


def render(assets, consts) -> str:
    out = ["from assetbuild import asset, source\n", 's0 = source("s0", "s0.txt")\n']
    for a in assets:
        ins = [f"{i}.read_text()" if i == "s0" else i for i in a["ins"]]
        out.append(f'@asset(io="json", group="{a["group"]}")\ndef {a["name"]}({", ".join(a["ins"])}):\n'
                   f'    return [{consts[a["name"]]}, {", ".join(ins)}]\n')
    return "\n".join(out)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_dry_run_predicts_exactly_what_the_build_runs(scenario):
    assets, first, steps = scenario
    consts = {a["name"]: 0 for a in assets}
    fresh = iter(range(1, 10_000))  # every edit a new value: no key is ever built twice
    root = Path(tempfile.mkdtemp(prefix="ab-predict-"))
    try:
        (root / "s0.txt").write_text("0")
        (root / "AssetFile").write_text(render(assets, consts))
        if first:
            assert assetbuild.build(first, project_dir=root).ok
        for step in steps:
            if step["edit"] is not None:
                kind, idx = step["edit"]
                if kind == "code":
                    consts[f"a{idx}"] = next(fresh)
                    (root / "AssetFile").write_text(render(assets, consts))
                else:
                    (root / "s0.txt").write_text(str(next(fresh)))
            args = dict(assets=step["select"], exclude=step["exclude"], project_dir=root, **step["flags"])
            dry = assetbuild.build(dry_run=True, **args)
            predicted = {r.asset for r in dry.results if r.metadata.get("would") in ("run", "maybe")}
            real = assetbuild.build(**args)
            assert [r.asset for r in dry.results] == [r.asset for r in real.results]
            assert set(real.names("built")) == predicted, (step, render(assets, consts),
                                                          [(r.asset, r.status, r.reasons) for r in dry.results])
            assert not real.names("failed")
            forced = {r.asset for r in real.results if any(x.code == "forced" for x in r.reasons)}
            certain = {r.asset for r in dry.results if r.metadata.get("would") == "run"}
            assert forced <= certain  # a forced asset runs whatever its inputs make: never "may run"
    finally:
        shutil.rmtree(root, ignore_errors=True)

