"""examples/api, a shop's HTTP API observed, fetched through a resource, filtered by params.

The example's own server (``examples/api/serve.py``) runs in a thread on a free loopback port and
the real command builds a copy of the project against it. The clock is ``ASSETBUILD_NOW``: the
table's "wait two hours" rows step it. Each row of the README's "Things to edit" table is applied
in order and checked, as for examples/ml: the table is read from the README.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from projects import clean_env, cli, things_to_edit

import assetbuild

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "api"
ALL = {"orders", "rates", "big_orders", "report"}
START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


class Shop:
    """A copy of the example, its API server, and the command's environment (the clock, the
    params on the command line)."""

    def __init__(self, root: Path) -> None:
        self.project = root / "api"
        shutil.copytree(EXAMPLE, self.project, ignore=shutil.ignore_patterns(
            ".assetbuild", "build", "__pycache__", "*.pyc"))
        spec = importlib.util.spec_from_file_location("api_serve", self.project / "serve.py")
        assert spec is not None and spec.loader is not None
        self.serve: Any = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.serve)
        self.server = self.serve.start(self.project / "data")
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.now = START
        self.args: list[str] = []

    def env(self) -> dict[str, str]:
        return clean_env(SHOP_API_URL=self.url, ASSETBUILD_NOW=self.now.isoformat())

    def run(self, *args: str) -> Any:
        return cli(*args, *self.args, cwd=self.project, env=self.env(), timeout=120)

    def build(self) -> dict[str, str]:
        r = self.run("--json")
        assert r.returncode == 0, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        assert doc["ok"], r.stdout
        return {x["asset"]: x["status"] for x in doc["results"] if x["asset"] in ALL}

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.project / rel
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} should occur once in {path}"
        path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture()
def shop(tmp_path: Path):
    s = Shop(tmp_path)
    yield s
    s.server.shutdown()


def table_rows(readme: Path) -> list[tuple[str, set[str], set[str]]]:
    """(edit, runs again, restored) of each row of "Things to edit"."""
    return [(edit, runs, back) for edit, _cells, (runs, back) in things_to_edit(readme, ALL)]


def _later(shop: Shop, hours: int) -> None:
    shop.now += timedelta(hours=hours)


def _params(shop: Shop, args: list[str]) -> None:
    shop.args = args


EDITS: dict[str, Callable[[Shop], None]] = {
    "change order 1004's `35.5` to `135.5`":
        lambda s: s.edit("data/orders.json", '"amount": 35.5,', '"amount": 135.5,'),
    "order 1006's `99.0` to `99.5`":
        lambda s: s.edit("data/orders.json", '"amount": 99.0,', '"amount": 99.5,'),
    "Build with `--param big_orders.min_total=500`":
        lambda s: _params(s, ["--param", "big_orders.min_total=500"]),
    "Build without `--param` again":
        lambda s: _params(s, []),
    "Wait two hours":
        lambda s: _later(s, 2),
    "change `1.08` to `1.10`":
        lambda s: s.edit("data/rates.json", '"USD": 1.08', '"USD": 1.10'),
    "Wait two more hours":
        lambda s: _later(s, 2),
}


def test_the_readme_names_an_edit_for_each_row() -> None:
    text = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    assert "assetbuild -C examples/api" in text and "python examples/api/serve.py" in text
    rows = table_rows(EXAMPLE / "README.md")
    used = [[phrase for phrase in EDITS if phrase in row[0]] for row in rows]
    assert all(len(u) == 1 for u in used), list(zip([r[0] for r in rows], used))
    assert sorted(u[0] for u in used) == sorted(EDITS)


@pytest.mark.slow
def test_example_builds_twice_then_each_row_of_its_table(shop: Shop) -> None:
    first = shop.build()
    assert first == dict.fromkeys(ALL, "built"), first
    report = json.loads((shop.project / "build" / "report.json").read_text())
    assert report == {"customers": {"Edsger": 640.0, "Linus": 482.35, "Barbara": 240.74, "Ada": 120.0},
                      "orders": 4}
    # largest first, as the README says (== ignores a dict's order: io="json" sorted the keys)
    assert list(report["customers"]) == ["Edsger", "Linus", "Barbara", "Ada"], report
    assert list(report) == ["customers", "orders"]
    assert sorted(shop.server.requests) == ["GET /orders.json", "GET /rates.json", "HEAD /orders.json"]

    shop.server.requests.clear()
    assert shop.build() == dict.fromkeys(ALL, "cached")
    # a null build asks for the ETag only: no client is made, nothing is fetched
    assert shop.server.requests == ["HEAD /orders.json"]

    for text, runs, written_back in table_rows(shop.project / "README.md"):
        (apply,) = [fn for phrase, fn in EDITS.items() if phrase in text]
        apply(shop)
        got = shop.build()
        ran = {a for a, s in got.items() if s == "built"}
        restored = {a for a, s in got.items() if s == "restored"}
        assert (ran, restored) == (runs, written_back), f"{text}: {got}"
        assert {a for a, s in got.items() if s == "cached"} == ALL - runs - written_back, got


def test_observe_prints_the_etag_and_whether_it_changed(shop: Shop) -> None:
    shop.build()
    r = shop.run("observe", "--json")
    assert r.returncode == 0, r.stderr
    (obs,) = json.loads(r.stdout)["observations"]
    assert obs["source"] == "orders_api" and obs["changed"] is False and obs["error"] is None
    assert re.fullmatch(r'"[0-9a-f]{16}"', obs["version"])
    shop.edit("data/orders.json", '"amount": 35.5,', '"amount": 36.5,')
    r = shop.run("observe")
    assert r.returncode == 0 and r.stdout.split() == ["orders_api", r.stdout.split()[1]]
    assert r.stdout.split()[1] != obs["version"]


def test_with_the_api_down_the_readers_are_skipped_and_the_build_exits_1(shop: Shop) -> None:
    shop.build()
    shop.server.shutdown()
    shop.server.server_close()
    for keep_going in (False, True):
        r = shop.run("--json", *(["-k"] if keep_going else []))
        assert r.returncode == 1
        results = {x["asset"]: x for x in json.loads(r.stdout)["results"]}
        assert results["orders_api"]["status"] == "failed"
        assert "orders_api" in results["orders"]["error"] and results["orders"]["status"] == "skipped"
        # rates reads no observation: -k decides whether it is looked at (it has not expired)
        assert results["rates"]["status"] == ("cached" if keep_going else "skipped"), results["rates"]


def test_a_test_double_replaces_the_client(shop: Shop) -> None:
    """``build(resources=...)``: the client is no part of any key, so a double builds the same
    keys; no request reaches the API except the observation."""
    data = shop.project / "data"

    class Double:
        def get_json(self, path: str) -> Any:
            return json.loads((data / path.lstrip("/")).read_text())

    shop.server.requests.clear()
    cache = shop.project.parent / "cache"
    env = {"SHOP_API_URL": shop.url, "ASSETBUILD_NOW": shop.now.isoformat()}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        r = assetbuild.build(project_dir=shop.project, cache_dir=cache, resources={"shop": Double()})
        assert r.ok and set(r.names("built")) >= ALL
        assert shop.server.requests == ["HEAD /orders.json"]
        again = assetbuild.build(project_dir=shop.project, cache_dir=cache)  # the real client: same keys
        assert again.ok and not again.names("built"), again.names("built")
