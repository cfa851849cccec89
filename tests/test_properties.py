"""The oracles of *Build systems à la carte*, checked on random projects and random edits.

A model of each generated project predicts, for every build, the exact set of assets that must
run (minimality, early cutoff, revert: an asset runs iff the pair (its code, its inputs' data
versions) was never built before) and every value (correctness: the incremental result equals
what a from-scratch evaluation gives).

Some generated assets are multi-assets with two outs (``a3p`` and ``a3q`` of ``a3``), returned
as a tuple or a dict: both outs run together (one function, one code), and their readers, which
may read one out only, follow each out's own value (early cutoff per out).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assetbuild


@st.composite
def projects(draw):
    n_src = draw(st.integers(1, 2))
    n = draw(st.integers(2, 7))
    assets: list[dict] = []
    for i in range(n):
        pool = [f"s{k}" for k in range(n_src)] + [o for a in assets for o in outs_of(a)]
        ins = draw(st.lists(st.sampled_from(pool), unique=True, max_size=3))
        assets.append({"name": f"a{i}", "ins": ins, "c": draw(st.integers(0, 5)), "m": draw(st.sampled_from([2, 3, 1000])),
                       "multi": draw(st.booleans()), "c2": draw(st.integers(0, 5)), "m2": draw(st.sampled_from([2, 1000]))})
    sources = {f"s{k}": draw(st.integers(0, 9)) for k in range(n_src)}
    edits = draw(st.lists(st.one_of(
        st.tuples(st.just("const"), st.integers(0, n - 1), st.integers(0, 5)),
        st.tuples(st.just("mod"), st.integers(0, n - 1), st.sampled_from([2, 3, 1000])),
        st.tuples(st.just("const2"), st.integers(0, n - 1), st.integers(0, 5)),  # a multi-asset's second out
        st.tuples(st.just("source"), st.integers(0, n_src - 1), st.integers(0, 9)),
        st.tuples(st.just("reformat-source"), st.integers(0, n_src - 1), st.just(0)),
        st.tuples(st.just("comments"), st.just(0), st.integers(0, 3)),
    ), min_size=1, max_size=5))
    return assets, sources, edits


def outs_of(a) -> list[str]:
    """The assets one generated definition makes: two outs for a multi-asset."""
    return [a["name"] + "p", a["name"] + "q"] if a["multi"] else [a["name"]]


def render(assets, pad: int = 0) -> str:
    out = ["from assetbuild import asset, multi_asset, Out, source\n"]
    srcs = sorted({i for a in assets for i in a["ins"] if i.startswith("s")} | {"s0"})
    for s in srcs:
        out.append(f'{s} = source("{s}", "{s}.txt")\n')
    for a in assets:
        out.append("\n" * pad + ("# moved down\n" if pad else ""))
        args = ", ".join(a["ins"])
        # abs(0), not 0: the compiler folds constant expressions, so (0 + 2) % 2 and (0 + 0) % 2
        # would compile to the same code, and rightly rebuild nothing.
        terms = " + ".join([f"int({i}.read_text())" if i.startswith("s") else i for i in a["ins"]] or ["abs(0)"])
        if a["multi"]:
            p, q = outs_of(a)
            value = f'({terms} + {a["c"]}) % {a["m"]}, ({terms} + {a["c2"]}) % {a["m2"]}'
            ret = f"({value})" if int(a["name"][1:]) % 2 else f"dict(zip(({p!r}, {q!r}), ({value})))"
            out.append(f'@multi_asset(outs={{"{p}": Out(io="json"), "{q}": Out(io="json")}})\n'
                       f'def {a["name"]}({args}):\n    return {ret}\n')
            continue
        out.append(f'@asset(io="json")\ndef {a["name"]}({args}):\n    return ({terms} + {a["c"]}) % {a["m"]}\n')
    return "\n".join(out)


def evaluate(assets, source_text):
    values = {}
    for a in assets:
        total = sum(int(source_text[i]) if i.startswith("s") else values[i] for i in a["ins"])
        if a["multi"]:
            p, q = outs_of(a)
            values[p], values[q] = (total + a["c"]) % a["m"], (total + a["c2"]) % a["m2"]
        else:
            values[a["name"]] = (total + a["c"]) % a["m"]
    return values


def expected_runs(assets, source_text, values, seen):
    runs = []
    for a in assets:
        dvs = tuple(source_text[i] if i.startswith("s") else json.dumps(values[i]) for i in a["ins"])
        sig = (a["c"], a["m"], a["c2"], a["m2"], dvs) if a["multi"] else (a["c"], a["m"], dvs)
        if sig not in seen.setdefault(a["name"], set()):  # a multi-asset's outs run together
            seen[a["name"]].add(sig)
            runs += outs_of(a)
    return runs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(projects(), st.sampled_from([1, 3]))
def test_incremental_builds_are_minimal_and_correct(gen, jobs):
    """Serially and with three threads (parallel scheduling must not change what runs)."""
    assets, sources, edits = gen
    par = {"jobs": jobs, "executor": "threads"} if jobs > 1 else {}
    root = Path(tempfile.mkdtemp(prefix="ab-prop-"))
    try:
        source_text = {s: str(v) for s, v in sources.items()}
        for s, t in source_text.items():
            (root / f"{s}.txt").write_text(t)
        (root / "AssetFile").write_text(render(assets))
        seen: dict[str, set] = {}
        pad = 0
        for step in [None, *edits]:
            if step is not None:
                kind, idx, val = step
                if kind == "const":
                    assets[idx]["c"] = val
                elif kind == "mod":
                    assets[idx]["m"] = val
                elif kind == "const2":
                    assets[idx]["c2"] = val
                elif kind == "source":
                    source_text[f"s{idx}"] = str(val)
                elif kind == "reformat-source":  # new bytes, same number
                    source_text[f"s{idx}"] = " " + source_text[f"s{idx}"].strip() + "\n" \
                        if not source_text[f"s{idx}"].startswith(" ") else source_text[f"s{idx}"].strip()
                elif kind == "comments":
                    pad = val
                for s, t in source_text.items():
                    if (root / f"{s}.txt").read_text() != t:
                        (root / f"{s}.txt").write_text(t)
                (root / "AssetFile").write_text(render(assets, pad))
            values = evaluate(assets, source_text)
            want = expected_runs(assets, source_text, values, seen)
            result = assetbuild.build(project_dir=root, **par)
            assert result.ok, [(r.asset, r.error) for r in result.results if r.error]
            assert sorted(result.names("built")) == sorted(want), (step, render(assets, pad))
            for name in values:
                assert assetbuild.load_value(name, project_dir=root) == values[name]
        # a from-scratch build in a fresh cache agrees with the incremental one
        fresh = assetbuild.build(project_dir=root, cache_dir=root / "fresh-cache")
        assert {r.asset: r.data_version for r in fresh.results} == \
            {r.asset: r.data_version for r in assetbuild.build(project_dir=root).results}
    finally:
        shutil.rmtree(root, ignore_errors=True)
