"""The rule of issue 14: ``assetbuild run`` never materializes an asset that is fresh under its
policy, and always materializes what a policy requires within one tick.

A scripted day drives the real CLI (``run --once`` with ASSETBUILD_NOW stepping through it) and
a hypothesis version drives random small graphs in-process; after every tick the assets it
materialized must be exactly those an independent model predicts. The model below is written
from the issue's rules, in plain Python over the model's own record of what was built from what
(it does not call assetbuild.policies or read the store):

- a source version changes when a tick first sees it (its mtime is set before that tick);
- an asset lacks every upstream change, direct or transitive, that the data it read did not
  include: a newer source version, an upstream materialization with other data, and what that
  upstream lacked; an asset never materialized lacks everything its inputs hold or, for one
  never materialized either, would read, since the oldest of it;
- eager: an input changed since it read it, an upstream asset is requested this tick, or new;
- lazy: it is late for its own freshness, or for that of an overdue lazy/eager asset
  downstream through lazy/eager assets only, with a late change its build (and its lazy/eager
  upstream's) brings in: one that came through an input that changed, or it is new;
- auto=None: never, unless its schedule is due: once per cron time, at the first tick at or
  after it, only the latest missed one;
- a requested asset whose upstream asset was never materialized and is not built in the same
  tick is held back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

H = 3600
DAY = 86400
DONE = ("built", "cached")  # outcomes of a materialization


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the model ---------------------------------------------------------------------------------

@dataclass
class Node:
    """An asset (or a time partition's node) as the model sees its declaration."""

    name: str
    inputs: tuple[str, ...]
    auto: str | None = None
    freshness: int | None = None
    cron: tuple[str, int, int] | None = None  # (text, period s, offset s): "0 9 * * *" = ("..", DAY, 9 * H)
    appears: int | None = None  # a time partition: exists once its window has closed
    const: bool = False  # returns its name alone: a rebuild with new inputs keeps its data


def span(s: int | None) -> str:
    return {1800: "30m", H: "1h"}[s or 0]


def _min(times: list[int | None]) -> int | None:
    real = [t for t in times if t is not None]
    return min(real) if real else None


class Model:
    """What each tick should materialize, from the issue's rules. ``nodes`` in topological order."""

    def __init__(self, nodes: list[Node], sources: dict[str, str]) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.disk = dict(sources)  # source -> content on disk now
        self.versions: dict[str, list[tuple[str, int]]] = {s: [] for s in sources}  # (content, first seen)
        self.hist: dict[str, list[tuple[str, dict[str, str], int]]] = {n.name: [] for n in nodes}  # (data, reads, t)
        self.last_tick: int | None = None
        self.schedule_done: dict[str, int] = {}  # asset -> the tick that honoured its schedule
        self.reasons: dict[str, list[str]] = {}

    def current(self, node: str) -> str | None:
        if node in self.versions:
            return self.versions[node][-1][0] if self.versions[node] else None
        return self.hist[node][-1][0] if self.hist[node] else None

    def change_since(self, node: str, data: str) -> int | None:
        """The oldest change in ``node``'s data, or upstream of it, that ``data`` does not hold."""
        if node in self.versions:
            vs = self.versions[node]
            i = max(k for k, (c, _) in enumerate(vs) if c == data)
            return vs[i + 1][1] if i + 1 < len(vs) else None
        hist = self.hist[node]
        i = max(k for k, m in enumerate(hist) if m[0] == data)
        later = [t for d, _, t in hist[i + 1:] if d != data][:1]
        return _min([*later, *(self.change_since(w, r) for w, r in hist[i][1].items())])

    def first_time(self, node: str) -> int | None:
        """When the oldest change in ``node``'s current data happened (its world's beginning);
        for an asset never materialized, that of the data it would read: its first build brings
        that in, and a reader's build that waits for it (in the same tick) does too."""
        if node in self.versions:
            return self.versions[node][0][1] if self.versions[node] else None
        if not self.hist[node]:
            return _min([self.first_time(w) for w in self.nodes[node].inputs])
        reads = self.hist[node][-1][1]
        return _min([self.first_time(w) for w in reads]) if reads else self.hist[node][0][2]

    def tick(self, now: int) -> tuple[dict[str, str], set[str]]:
        """One tick at ``now``: ({asset: "built"/"cached"} it materializes, the requested assets
        held back because an upstream asset was never materialized)."""
        for s, content in self.disk.items():
            if not self.versions[s] or self.versions[s][-1][0] != content:
                self.versions[s].append((content, now))
        live = [n for n in self.nodes.values() if n.appears is None or n.appears <= now]
        names = {n.name for n in live}

        def late(t: int | None, f: int | None) -> bool:
            return t is not None and f is not None and now - t > f

        oldest: dict[str, int | None] = {}
        fixable: dict[str, int | None] = {}
        changed: dict[str, list[str]] = {}
        for n in live:
            ups = [u for u in n.inputs if u in names]
            if not self.hist[n.name]:
                own = [n.appears] if n.appears is not None else [_min([self.first_time(w) for w in n.inputs]) or now]
                changed[n.name] = []
            else:
                reads = self.hist[n.name][-1][1]
                changed[n.name] = [w for w in n.inputs if self.current(w) != reads[w]]
                own = [self.change_since(w, reads[w]) for w in changed[n.name]]
            oldest[n.name] = _min([*own, *(oldest[u] for u in ups)])
            fixable[n.name] = _min([*own, *(fixable[u] for u in ups if self.nodes[u].auto)])
        down: dict[str, set[str]] = {n.name: set() for n in live}  # downstream through lazy/eager only
        for n in reversed(live):
            for u in n.inputs:
                if u in names and n.auto and self.nodes[u].auto:
                    down[u] |= {n.name} | down[n.name]
        self.reasons = reasons = {n.name: [] for n in live}  # as `assetbuild ticks` words them
        requested: list[str] = []  # in order; an asset held back is not, nor pulls an eager reader
        held: set[str] = set()
        for n in live:
            a = n.name
            if n.cron is not None:
                cron, period, offset = n.cron
                latest = (now - offset) // period * period + offset
                done = self.schedule_done.get(a)  # a scheduled time stays owed until its build succeeds
                if done is None or latest > done:
                    reasons[a].append(f"schedule: {cron}")
            if n.auto == "eager":
                asked = sorted(u for u in n.inputs if u in requested)
                if not self.hist[a]:
                    reasons[a].append(f"new partition {a[a.index('[') + 1:-1]}" if n.appears else "eager: new asset")
                elif changed[a]:
                    reasons[a].append(f"eager: upstream {', '.join(sorted(changed[a]))} changed")
                elif asked:
                    reasons[a].append(f"eager: upstream {', '.join(asked)} requested")
            if n.auto == "lazy":
                # the strictest freshness of an overdue lazy/eager asset downstream (lenient last)
                overdue = sorted((f, d) for d in down[a] for f in (self.nodes[d].freshness,) if late(oldest[d], f))
                if late(oldest[a], n.freshness) and late(fixable[a], n.freshness):
                    reasons[a].append(f"lazy: needed for its freshness {span(n.freshness)}")
                elif overdue and late(fixable[a], overdue[0][0]):
                    reasons[a].append(f"lazy: needed for {overdue[0][1]}'s freshness {span(overdue[0][0])}")
            if reasons[a]:  # built with --only: an upstream never materialized must be built with it
                if any(u in names and not self.hist[u] and u not in requested for u in n.inputs):
                    held.add(a)
                else:
                    requested.append(a)
        out: dict[str, str] = {}
        for a in requested:
            n = self.nodes[a]
            reads = {w: self.current(w) for w in n.inputs}
            data = a if n.const else f"{a}({','.join(str(reads[w]) for w in n.inputs)})"
            forced = any(r.startswith("schedule: ") for r in reasons[a])  # a due schedule always runs
            if self.hist[a] and self.hist[a][-1][1] == reads and not forced:
                out[a] = "cached"
            else:
                out[a] = "built"
                self.hist[a].append((data, reads, now))
        for a in out:
            if any(r.startswith("schedule: ") for r in reasons[a]):
                self.schedule_done[a] = now
        self.last_tick = now
        return out, held

    def fresh_under_policy(self, a: str) -> bool:
        """Whether ``a`` lacked nothing its policy asks for at the last tick (so must not be built)."""
        return not self.reasons.get(a)


# -- projects ----------------------------------------------------------------------------------

def write_project(root: Path, nodes: list[Node], sources: dict[str, str], partitions: str = "") -> None:
    """An AssetFile whose assets return ``name(input values)``, as the model computes data."""
    lines = ["from assetbuild import asset, source, DailyPartitions, HourlyPartitions", "",
             "def _v(x):", "    return x.read_text() if hasattr(x, 'read_text') else x", ""]
    (root / "data").mkdir(parents=True, exist_ok=True)
    for s, content in sources.items():
        lines.append(f"{s} = source({s!r}, 'data/{s}.txt')")
        (root / "data" / f"{s}.txt").write_text(content)
        os.utime(root / "data" / f"{s}.txt", (ts("2024-03-01T00:00:00Z"),) * 2)
    for n in nodes:
        if n.appears is not None:
            continue
        args = [f"auto={n.auto!r}"] + ([f"freshness={n.freshness}"] if n.freshness else [])
        args += [f"schedule={n.cron[0]!r}"] if n.cron else []
        lines += ["", f"@asset({', '.join(args)})", f"def {n.name}({', '.join(n.inputs)}):",
                  f"    return '{n.name}'" if n.const else
                  f"    return '{n.name}(' + ','.join([{', '.join(f'_v({i})' for i in n.inputs)}]) + ')'"]
    (root / "AssetFile").write_text("\n".join(lines) + "\n" + partitions)


def change_source(root: Path, name: str, content: str, now: int) -> None:
    p = root / "data" / f"{name}.txt"
    p.write_text(content)
    os.utime(p, (now - 60, now - 60))  # written a minute before the tick that first sees it


def run_once(root: Path, now: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env["ASSETBUILD_NOW"] = iso(now)
    done = subprocess.run([sys.executable, "-m", "assetbuild", "-C", str(root), "run", "--once", "--json"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the scripted day --------------------------------------------------------------------------

DAILY = '''
@asset(auto="eager", partitions=DailyPartitions(start="2024-03-01"))
def daily(context, orders):
    return f"daily[{context.partition_key}](" + orders.read_text() + ")"

@asset(auto="eager", partitions=HourlyPartitions(start="2024-03-02-22:00"))
def hourly(context):
    return f"hourly[{context.partition_key}]()"
'''


def day_nodes() -> list[Node]:
    nodes = [
        Node("clean", ("orders",), auto="eager"),
        Node("pricing", ("prices",), auto="lazy"),
        Node("report", ("clean", "pricing"), auto="lazy", freshness=H),
        Node("summary", ("report",), auto="eager"),
        Node("digest", ("clean",), cron=("0 9 * * *", DAY, 9 * H)),
        Node("audit", ("orders",), freshness=1800),  # auto=None: its freshness only reports
        Node("idle", ("prices",), auto="lazy"),  # lazy, no freshness downstream: never
    ]
    start = ts("2024-03-01T00:00:00Z")
    nodes += [Node(f"daily[{iso(start + k * DAY)[:10]}]", ("orders",), auto="eager", appears=start + (k + 1) * DAY)
              for k in range(3)]
    start = ts("2024-03-02T22:00:00Z")
    nodes += [Node(f"hourly[{iso(start + k * H)[:10]}-{iso(start + k * H)[11:16]}]", (), auto="eager",
                   appears=start + (k + 1) * H) for k in range(40)]
    return nodes


# (tick, sources written a minute before it, what the tick materializes). The model must predict
# this table too, so the model and the engine cannot drift apart from the day together.
DAY_STEPS: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("2024-03-02T06:00:00Z", {}, {"clean": "built", "daily[2024-03-01]": "built", "digest": "built"}),
    ("2024-03-02T07:00:00Z", {}, {}),  # report's lag is exactly its freshness: not late yet
    ("2024-03-02T07:00:01Z", {}, {"pricing": "built", "report": "built", "summary": "built"}),
    ("2024-03-02T08:00:00Z", {"orders": "o2"}, {"clean": "built", "daily[2024-03-01]": "built"}),
    ("2024-03-02T08:45:00Z", {}, {}),
    ("2024-03-02T09:00:00Z", {}, {"digest": "built"}),  # a tick at exactly 09:00 counts
    ("2024-03-02T09:00:30Z", {}, {"report": "built", "summary": "built"}),  # pricing lacks nothing
    ("2024-03-02T10:00:00Z", {"prices": "p2"}, {}),  # lazy pricing waits for report to need it
    ("2024-03-02T10:59:00Z", {}, {}),
    ("2024-03-02T11:00:01Z", {}, {"pricing": "built", "report": "built", "summary": "built"}),
    ("2024-03-02T12:00:00Z", {"orders": "o3", "prices": "p3"},
     {"clean": "built", "daily[2024-03-01]": "built"}),
    ("2024-03-02T13:30:00Z", {}, {"pricing": "built", "report": "built", "summary": "built"}),
    ("2024-03-02T23:10:00Z", {}, {"hourly[2024-03-02-22:00]": "built"}),
    ("2024-03-03T00:00:05Z", {}, {"daily[2024-03-02]": "built", "hourly[2024-03-02-23:00]": "built"}),
    ("2024-03-03T03:00:00Z", {}, {"hourly[2024-03-03-00:00]": "built", "hourly[2024-03-03-01:00]": "built",
                                  "hourly[2024-03-03-02:00]": "built"}),
    ("2024-03-03T08:00:00Z", {"orders": "o4"}, {
        "clean": "built", "daily[2024-03-01]": "built", "daily[2024-03-02]": "built",
        **{f"hourly[2024-03-03-{h:02d}:00]": "built" for h in range(3, 8)}}),
    # the daemon was down from 08:00 to 21:00: 09:00 is owed once; report is 13h late
    ("2024-03-03T21:00:00Z", {}, {"digest": "built", "report": "built", "summary": "built",
                                  **{f"hourly[2024-03-03-{h:02d}:00]": "built" for h in range(8, 21)}}),
    # 09:00 again, with nothing new for digest: a due schedule materializes it all the same
    ("2024-03-04T09:00:00Z", {}, {"digest": "built", "daily[2024-03-03]": "built",
                                  **{f"hourly[2024-03-03-{h:02d}:00]": "built" for h in range(21, 24)},
                                  **{f"hourly[2024-03-04-{h:02d}:00]": "built" for h in range(0, 9)}}),
]


def test_a_scripted_day_materializes_exactly_what_the_policies_require(tmp_path):
    nodes = day_nodes()
    sources = {"orders": "o1", "prices": "p1"}
    write_project(tmp_path, nodes, sources, DAILY)
    model = Model(nodes, sources)
    for when, writes, expected in DAY_STEPS:
        now = ts(when)
        for s, content in writes.items():
            change_source(tmp_path, s, content, now)
            model.disk[s] = content
        predicted, held = model.tick(now)
        tick = run_once(tmp_path, now)
        got = tick["outcomes"]
        assert (when, got) == (when, predicted), tick
        assert (when, predicted) == (when, expected)
        assert {r["asset"]: r["reasons"] for r in tick["requested"]} == {a: model.reasons[a] for a in predicted}
        assert set(tick["deferred"]) == held, when
        assert not [a for a in got if model.fresh_under_policy(a)], when
    # the never-built assets: summary held back until report existed; audit and idle never
    ticks = json.loads(subprocess.run(
        [sys.executable, "-m", "assetbuild", "-C", str(tmp_path), "ticks", "-n", "1000", "--json"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "ASSETBUILD_NOW": "2024-03-03T21:00:00Z"}).stdout)["ticks"]
    assert len(ticks) == len(DAY_STEPS)
    assert ticks[0]["deferred"] == {"summary": "upstream report never materialized"}
    assert not any(a in t["outcomes"] for t in ticks for a in ("audit", "idle"))
    assert "audit" in ticks[-1]["overdue"] and "report" not in ticks[-1]["overdue"]


# -- random graphs, policies and event times ---------------------------------------------------

@st.composite
def scenarios(draw):
    """Sources s0.., assets a0.. reading one or two earlier nodes, random policies, some whose
    data ignores their inputs; then steps (minutes later, the sources changed before that tick)."""
    sources = [f"s{i}" for i in range(draw(st.integers(1, 2)))]
    nodes: list[Node] = []
    for i in range(draw(st.integers(2, 5))):
        ins = draw(st.lists(st.sampled_from(sources + [n.name for n in nodes]), min_size=1, max_size=2, unique=True))
        nodes.append(Node(f"a{i}", tuple(ins), auto=draw(st.sampled_from([None, "eager", "lazy", "lazy"])),
                          freshness=draw(st.sampled_from([None, 1800, H])),
                          cron=draw(st.sampled_from([None] * 6 + [("0 * * * *", H, 0), ("30 * * * *", H, 1800)])),
                          const=draw(st.sampled_from([False, False, True]))))
    steps = draw(st.lists(st.tuples(st.integers(1, 150), st.sets(st.sampled_from(sources))), min_size=1, max_size=6))
    return sources, nodes, steps


def tick_in_process(root: Path, now: int, monkeypatch) -> dict:
    from assetbuild import run_daemon

    seen = []
    monkeypatch.setenv("ASSETBUILD_NOW", iso(now))
    run_daemon(project_dir=root, once=True, on_tick=seen.append)
    (t,) = seen
    assert t.error is None, t.error
    return t.to_json()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_random_graphs_materialize_exactly_what_the_model_predicts(monkeypatch, scenario):
    sources, nodes, steps = scenario
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root, nodes, {s: f"{s}-v0" for s in sources})
        model = Model(nodes, {s: f"{s}-v0" for s in sources})
        t0 = ts("2024-03-02T06:00:00Z")
        times = [(t0, set())]
        now = t0
        for minutes, changed in steps:
            now += minutes * 60
            times.append((now, changed))
        version = 0
        for now, changed in times:
            version += 1
            for s in sorted(changed):
                change_source(root, s, f"{s}-v{version}", now)
                model.disk[s] = f"{s}-v{version}"
            predicted, _ = model.tick(now)
            tick = tick_in_process(root, now, monkeypatch)
            got = tick["outcomes"]
            assert got == predicted, (iso(now), tick, model.reasons)
            assert not [a for a in got if model.fresh_under_policy(a)], iso(now)
            assert {a: model.reasons[a] for a in got} == {
                r["asset"]: r["reasons"] for r in tick["requested"] if r["asset"] in got}, iso(now)
            for r in tick["requested"]:  # each reason is one its policy allows
                n = model.nodes[r["asset"]]
                allowed = {"schedule"} if n.cron else set()
                allowed |= {"eager": {"eager"}, "lazy": {"lazy"}}.get(n.auto or "", set())
                assert {why.split(":")[0] for why in r["reasons"]} <= allowed, r


# -- cases the random graphs found (kept as plain tests) ----------------------------------------

def test_a_never_built_lazy_asset_is_built_once_its_oldest_missing_change_is_late(tmp_path):
    # l (lazy, freshness 1h) reads s; s is seen at 06:00, changes at 06:50. At 07:30 l still
    # lacks the data of 06:00, 1h30m old: it is overdue and its build brings it in.
    nodes = [Node("l", ("s",), auto="lazy", freshness=H)]
    write_project(tmp_path, nodes, {"s": "v1"})
    model = Model(nodes, {"s": "v1"})
    for when, content in (("2024-03-02T06:00:00Z", None), ("2024-03-02T06:50:00Z", "v2"),
                          ("2024-03-02T07:30:00Z", None)):
        if content:
            change_source(tmp_path, "s", content, ts(when))
            model.disk["s"] = content
        predicted, _ = model.tick(ts(when))
        tick = run_once(tmp_path, ts(when))
    assert predicted == {"l": "built"}
    assert tick["outcomes"] == predicted


def test_an_eager_asset_is_held_back_with_its_held_back_upstream(tmp_path):
    # n (auto=None) was never built; l (lazy, freshness 1h) reads n and s; e (eager) reads l.
    # At 08:00 l is late and requested but held back (n never materialized): e cannot be
    # built either, so it must be held back too, not requested.
    nodes = [Node("n", ("s",)), Node("l", ("n", "s"), auto="lazy", freshness=H), Node("e", ("l",), auto="eager")]
    write_project(tmp_path, nodes, {"s": "v1"})
    model = Model(nodes, {"s": "v1"})
    for when in ("2024-03-02T06:00:00Z", "2024-03-02T08:00:00Z"):
        predicted, held = model.tick(ts(when))
        tick = run_once(tmp_path, ts(when))
    assert (predicted, held) == ({}, {"l", "e"})
    assert sorted(tick["deferred"]) == ["e", "l"]  # got {"l": ...}; requested [e], outcomes {"e": "skipped"}


def test_a_never_built_lazy_reader_of_a_scheduled_asset_built_in_the_same_tick(tmp_path):
    # a0 (lazy, freshness 30m) reads s; a2 (hourly schedule) reads s and a0; a3 (lazy, 30m)
    # reads a2. At 06:00 a2 is due but held back (a0 never materialized). At 06:31 a0 is
    # overdue, so a2 is built with it; a3 lacks the data of 06:00 that a2 now brings, 31
    # minutes old: it is overdue, and built in the same tick, after a2.
    nodes = [Node("a0", ("s",), auto="lazy", freshness=1800), Node("a2", ("s", "a0"), cron=("0 * * * *", H, 0)),
             Node("a3", ("a2",), auto="lazy", freshness=1800)]
    write_project(tmp_path, nodes, {"s": "v1"})
    model = Model(nodes, {"s": "v1"})
    for when in ("2024-03-02T06:00:00Z", "2024-03-02T06:31:00Z"):
        predicted, held = model.tick(ts(when))
        tick = run_once(tmp_path, ts(when))
        assert tick["outcomes"] == predicted, when
    assert predicted == {"a0": "built", "a2": "built", "a3": "built"}
    assert model.reasons["a3"] == ["lazy: needed for its freshness 30m"]


def test_a_never_built_lazy_reader_lacks_the_source_data_its_built_upstream_holds(tmp_path):
    # a3 (lazy, freshness 30m) reads s, seen at 06:00; a4 (lazy, 1h) reads a3 and was never
    # built. At 06:31 a3 is overdue and built: its data holds s's change of 06:00. At 07:01 a4
    # lacks that change, 61 minutes old, not only a3's build of 06:31: it is overdue and built.
    # (It waited for 07:31 when an asset's data counted from its first build.)
    nodes = [Node("a3", ("s",), auto="lazy", freshness=1800), Node("a4", ("a3",), auto="lazy", freshness=H)]
    write_project(tmp_path, nodes, {"s": "v1"})
    model = Model(nodes, {"s": "v1"})
    for when in ("2024-03-02T06:00:00Z", "2024-03-02T06:31:00Z", "2024-03-02T07:01:00Z"):
        predicted, _ = model.tick(ts(when))
        tick = run_once(tmp_path, ts(when))
        assert tick["outcomes"] == predicted, when
    assert predicted == {"a4": "built"}
    assert model.reasons["a4"] == ["lazy: needed for its freshness 1h"]
