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


# --- fan-in and conditional outputs -------------------------------------------------------------
# Leaves x/l0..x/l3 (x/l0 always declared) read s0; x/k may be declared with output_required=False and
# then returns Skip when its value would be 0. Assets a0.. read s0, earlier assets, and (``fan``)
# every leaf through ins={"xs": "x/*"}. Edits add, remove and change leaves, change constants and
# the source. The model predicts what runs (a key runs iff it never produced a value: a skip
# records none), what is skipped (a skipping leaf, and the readers of a leaf that never had a
# value), and every value (a skipping leaf's readers keep its previous one).

@st.composite
def fan_projects(draw):
    leaves = {0: (draw(st.integers(0, 5)), draw(st.booleans()))}
    for k in range(1, 4):
        if draw(st.booleans()):
            leaves[k] = (draw(st.integers(0, 5)), draw(st.booleans()))
    n = draw(st.integers(1, 4))
    assets = []
    for i in range(n):
        pool = ["s0"] + [f"a{k}" for k in range(i)]
        ins = draw(st.lists(st.sampled_from(pool), unique=True, max_size=2))
        assets.append({"name": f"a{i}", "ins": ins, "fan": draw(st.booleans()) or not ins,
                       "c": draw(st.integers(0, 5)), "m": draw(st.sampled_from([2, 3, 1000]))})
    edits = draw(st.lists(st.one_of(
        st.tuples(st.just("leaf"), st.integers(1, 3), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("unleaf"), st.integers(1, 3), st.just(0), st.just(False)),
        st.tuples(st.just("leaf-const"), st.just(0), st.integers(0, 5), st.just(False)),
        st.tuples(st.just("const"), st.integers(0, n - 1), st.integers(0, 5), st.just(False)),
        st.tuples(st.just("source"), st.just(0), st.integers(0, 9), st.just(False)),
    ), min_size=1, max_size=6))
    return leaves, assets, draw(st.integers(0, 9)), edits


def render_fan(leaves, assets) -> str:
    out = ["from assetbuild import Skip, asset, source\n", 's0 = source("s0", "s0.txt")\n']
    for k, (c, skippable) in sorted(leaves.items()):
        opt = ", output_required=False" if skippable else ""
        body = f"    v = (int(s0.read_text()) + {c}) % 3\n"
        body += "    return Skip('zero') if v == 0 else v\n" if skippable else "    return v\n"
        out.append(f'@asset(name="x/l{k}", io="json"{opt})\ndef x{k}(s0):\n{body}')
    for a in assets:
        params = list(a["ins"]) + (["xs"] if a["fan"] else [])
        terms = [f"int({i}.read_text())" if i == "s0" else i for i in a["ins"]]
        if a["fan"]:
            terms.append("sum((k + 1) * v for k, v in enumerate(xs.values()))")
        ins = ', ins={"xs": "x/*"}' if a["fan"] else ""
        out.append(f'@asset(io="json"{ins})\ndef {a["name"]}({", ".join(params)}):\n'
                   f'    return ({" + ".join(terms or ["abs(0)"])} + {a["c"]}) % {a["m"]}\n')
    return "\n".join(out)


class FanModel:
    """What a build must do, given what earlier builds materialized (``seen``) and each asset's
    latest value (``heads``)."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[tuple, object]] = {}
        self.heads: dict[str, object] = {}

    def build(self, leaves, assets, s0: int):
        values: dict[str, object] = {}
        runs, built, skipped = [], [], []
        for k, (c, skippable) in sorted(leaves.items()):
            name, v = f"x/l{k}", (s0 + c) % 3
            sig = (c, skippable, s0)
            done = self.seen.setdefault(name, {})
            if sig in done:
                values[name] = self.heads[name] = done[sig]
                continue
            runs.append(name)
            if skippable and v == 0:
                skipped.append(name)
                if name in self.heads:
                    values[name] = self.heads[name]
                continue
            done[sig] = values[name] = self.heads[name] = v
            built.append(name)
        xs = [f"x/l{k}" for k in sorted(leaves)]
        for a in assets:
            ups = list(a["ins"]) + (xs if a["fan"] else [])
            if any(u != "s0" and u not in values for u in ups):
                skipped.append(a["name"])  # an upstream produced no output
                continue
            total = sum(s0 if i == "s0" else values[i] for i in a["ins"])
            if a["fan"]:
                total += sum((k + 1) * values[x] for k, x in enumerate(xs))
            v = (total + a["c"]) % a["m"]
            dvs = tuple(str(s0) if i == "s0" else json.dumps(values[i]) for i in a["ins"])
            fan = tuple((x, json.dumps(values[x])) for x in xs) if a["fan"] else None
            sig = (a["c"], a["m"], dvs, fan)
            done = self.seen.setdefault(a["name"], {})
            if sig not in done:
                runs.append(a["name"])
                built.append(a["name"])
                done[sig] = v
            values[a["name"]] = self.heads[a["name"]] = v
        return values, built, skipped


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fan_projects())
def test_fan_in_and_skips_are_minimal_and_correct(gen):
    leaves, assets, s0, edits = gen
    root = Path(tempfile.mkdtemp(prefix="ab-prop-fan-"))
    try:
        (root / "s0.txt").write_text(str(s0))
        model = FanModel()
        for step in [None, *edits]:
            if step is not None:
                kind, idx, val, flag = step
                if kind == "leaf":
                    leaves[idx] = (val, flag)
                elif kind == "unleaf":
                    leaves.pop(idx, None)
                elif kind == "leaf-const":
                    leaves[0] = (val, leaves[0][1])
                elif kind == "const":
                    assets[idx]["c"] = val
                elif kind == "source":
                    s0 = val
                    (root / "s0.txt").write_text(str(s0))
            (root / "AssetFile").write_text(render_fan(leaves, assets))
            values, built, skipped = model.build(leaves, assets, s0)
            result = assetbuild.build(project_dir=root)
            assert result.ok, [(r.asset, r.error) for r in result.results if r.error]
            assert sorted(result.names("built")) == sorted(built), (step, render_fan(leaves, assets))
            assert sorted(result.names("skipped")) == sorted(skipped), (step, render_fan(leaves, assets))
            for name, v in values.items():
                assert assetbuild.load_value(name, project_dir=root) == v, name
        # a from-scratch build agrees on every asset it can build (one whose leaves skip now
        # has no earlier value there)
        fresh = assetbuild.build(project_dir=root, cache_dir=root / "fresh-cache")
        again = {r.asset: r.data_version for r in assetbuild.build(project_dir=root).results}
        assert {r.asset: r.data_version for r in fresh.results if r.status == "built"} == \
            {r.asset: again[r.asset] for r in fresh.results if r.status == "built"}
    finally:
        shutil.rmtree(root, ignore_errors=True)
