"""Conditional outputs: ``@asset(output_required=False)`` may return ``Skip(reason)``.

``orders`` reads ``inbox.txt`` (a source) and skips when it is empty; ``count`` and ``report``
read it downstream. Every function counts its runs (``run_counter``), so a test tells what ran.
"""

from __future__ import annotations

import json

import pytest
from projects import Project, clean_env, cli, run_counter, take_runs

import assetbuild
from assetbuild import Skip
from assetbuild.errors import DefinitionError, ValueNotFound
from assetbuild.store import LmdbStore

DAY1 = "2024-03-01T09:00:00Z"


def assetfile(runs) -> str:
    return run_counter(runs) + '''
from assetbuild import Skip, asset, source

inbox = source("inbox", "inbox.txt")


@asset(io="json", output_required=False)
def orders(inbox, context):
    _ran("orders")
    lines = inbox.read_text().split()
    context.add_metadata({"lines": len(lines)})
    if not lines:
        return Skip("no new orders")
    return lines


@asset(io="json")
def count(orders):
    _ran("count")
    return len(orders)


@asset(io="json")
def report(count):
    _ran("report")
    return f"{count} orders"


@asset(io="json")
def listing(orders, inbox):
    _ran("listing")
    return ",".join(orders)
'''


@pytest.fixture
def shop(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSETBUILD_NOW", DAY1)
    p = Project(tmp_path)
    p.runs = tmp_path / "runs"
    p.write("AssetFile", assetfile(p.runs))
    p.write("inbox.txt", "")
    return p


def test_skip_is_exported_and_keeps_its_reason():
    assert repr(Skip("no new orders")) == "Skip('no new orders')"
    assert Skip("x").reason == "x"
    assert assetbuild.Skip is Skip


def test_a_skip_with_nothing_before_skips_the_readers_and_is_no_failure(shop):
    r = shop.build()
    assert r.ok
    by = {x.asset: x for x in r.results}
    assert by["orders"].status == "skipped" and by["orders"].skip_reason == "no new orders"
    assert by["orders"].error is None
    for name in ("count", "listing"):
        assert by[name].status == "skipped" and by[name].skip_reason == "upstream 'orders' produced no output"
    assert by["report"].skip_reason == "upstream 'count' produced no output"
    assert take_runs(shop.runs) == {"orders": 1}
    with pytest.raises(ValueNotFound):
        shop.value("orders")
    doc = r.to_json()
    assert doc["ok"] is True
    assert {x["asset"]: x.get("skip_reason") for x in doc["results"]}["orders"] == "no new orders"


def test_a_skip_keeps_the_previous_value_current_and_its_readers_cached(shop):
    shop.write("inbox.txt", "a b")
    assert set(shop.built()) == {"orders", "count", "report", "listing"}
    with LmdbStore(shop.root / ".assetbuild") as store:
        head = store.get_head("orders")
        history = len(store.history("orders"))
    take_runs(shop.runs)
    shop.write("inbox.txt", "")
    r = shop.build()
    assert r.ok
    assert r.by_asset() == {"orders": "skipped", "count": "cached", "report": "cached", "listing": "built"}
    # listing reads inbox too: it runs, and receives the previous value of orders
    assert take_runs(shop.runs) == {"orders": 1, "listing": 1}
    assert shop.value("orders") == ["a", "b"] and shop.value("listing") == "a,b"
    with LmdbStore(shop.root / ".assetbuild") as store:
        assert store.get_head("orders") == head  # no new materialization
        assert len(store.history("orders")) == history
        rec = store.get_skip("orders")
    assert rec is not None and rec.reason == "no new orders"
    assert rec.skipped_ns == 1709283600 * 10**9  # by assetbuild.clock (ASSETBUILD_NOW)
    skipped = {x.asset: x for x in r.results}["orders"]
    assert skipped.data_version == head.data_version and skipped.metadata == {"lines": 0}


def test_the_next_build_decides_it_again(shop, monkeypatch):
    shop.write("inbox.txt", "a")
    shop.build()
    shop.write("inbox.txt", "")
    shop.build()
    take_runs(shop.runs)
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-01T11:00:00Z")
    st = shop.status()
    assert st["orders"].state == "stale"
    note = [x for x in st["orders"].reasons if x.code == "skipped"]
    assert note and "2h ago, returned Skip (no new orders)" in note[0].detail
    assert shop.build().by_asset()["orders"] == "skipped"  # its key still has no trace: it runs again
    assert take_runs(shop.runs) == {"orders": 1}  # listing: built from the previous value last time
    shop.write("inbox.txt", "a")  # back to the inputs of its earlier value: reused
    assert shop.built() == []
    assert shop.status()["orders"].state == "fresh"
    shop.write("inbox.txt", "c d")
    assert set(shop.built()) == {"orders", "count", "report", "listing"}
    assert shop.value("report") == "2 orders"
    assert not [x for x in shop.status()["orders"].reasons if x.code == "skipped"]


def test_why_mentions_the_latest_skip(shop):
    shop.build()
    doc = assetbuild.why("orders", project_dir=shop.root)
    assert doc["state"] == "missing"
    assert doc["last_skip"]["reason"] == "no new orders"
    assert any(r["code"] == "skipped" and "it has no value yet" in r["detail"] for r in doc["reasons"])


def test_returning_skip_without_output_required_false_fails(tmp_path):
    p = Project(tmp_path)
    p.assetfile('''
from assetbuild import Skip

@asset
def orders():
    return Skip("no new orders")

@asset
def count(orders):
    return len(orders)
''')
    r = p.build(keep_going=True)
    assert not r.ok
    by = {x.asset: x for x in r.results}
    assert by["orders"].status == "failed"
    assert "returned Skip('no new orders'), but only an asset declared with output_required=False may skip" \
        in by["orders"].error
    assert by["count"].status == "skipped" and by["count"].skip_reason is None  # blocked by a failure


def test_output_required_must_be_a_bool():
    def orders():
        return 1

    with pytest.raises(DefinitionError, match="output_required must be True or False"):
        assetbuild.asset(output_required="no")(orders)


def test_process_workers_skip_too(shop):
    r = shop.build(executor="processes", jobs=2)
    assert r.ok and r.by_asset()["orders"] == "skipped"
    assert {x.asset: x for x in r.results}["orders"].skip_reason == "no new orders"


def test_an_asset_writing_files_that_skips_leaves_them_alone(tmp_path):
    p = Project(tmp_path)
    p.write("flag.txt", "write")
    p.assetfile('''
from assetbuild import Skip

flag = source("flag", "flag.txt")

@asset(outputs=["out/"], output_required=False)
def files(flag, context):
    if flag.read_text() == "skip":
        (context.out("out/") / "b.txt").write_text("not placed")
        return Skip("nothing to write")
    (context.out("out/") / "a.txt").write_text("a")
''')
    assert p.built() == ["files"]
    p.write("flag.txt", "skip")
    r = p.build()
    assert r.ok and r.by_asset() == {"files": "skipped"}
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == ["a.txt"]


def test_cli_reports_skips_and_exits_0(shop):
    env = clean_env(ASSETBUILD_NOW=DAY1)
    r = cli(cwd=shop.root, env=env)
    assert r.returncode == 0, r.stderr
    assert "skipped   orders  (no new orders)" in r.stdout
    assert "skipped   count  (upstream 'orders' produced no output)" in r.stdout
    assert "0 built, 0 cached, 0 restored, 0 failed, 4 skipped" in r.stdout
    r = cli("--json", cwd=shop.root, env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True
    assert {x["asset"]: (x["status"], x.get("skip_reason")) for x in doc["results"]}["orders"] == \
        ("skipped", "no new orders")
    r = cli("status", cwd=shop.root, env=env)
    assert "returned Skip (no new orders)" in r.stdout, r.stdout
    r = cli("list", "--json", cwd=shop.root, env=env)
    rows = {a["name"]: a for a in json.loads(r.stdout)["assets"]}
    assert rows["orders"]["output_required"] is False and "output_required" not in rows["count"]


def test_cli_fails_an_asset_that_may_not_skip(tmp_path):
    p = Project(tmp_path)
    p.assetfile('''
from assetbuild import Skip

@asset
def orders():
    return Skip("none")
''')
    r = cli(cwd=tmp_path)
    assert r.returncode == 1
    assert "FAILED    orders: returned Skip('none'), but only an asset declared with output_required=False" in r.stderr


MODEL = '''
from assetbuild import Skip

n = source("n", "n.txt")


@asset(outputs=["out/model.txt"], output_required=False)
def model(n, context):
    k = int(n.read_text())
    if k % 2:
        return Skip("odd")
    context.out("out/model.txt").write_text(f"model {k}\\n")


@asset(io="json")
def use(model):
    return model.read_text()
'''


def test_a_skip_restores_the_files_of_the_value_it_keeps(tmp_path):
    """The previous value stays current, so its files must be in place: deleted or edited by
    hand, they are restored from the cache, as for any asset, and status says so. They stayed
    missing, status said nothing, and a reader that ran got a Path to nothing and failed."""
    p = Project(tmp_path)
    p.write("n.txt", "2")
    p.assetfile(MODEL)
    assert p.built() == ["model", "use"]
    p.write("n.txt", "3")
    assert p.build().by_asset() == {"model": "skipped", "use": "cached"}
    model = tmp_path / "out/model.txt"
    model.unlink()
    reasons = [(x.code, x.detail) for x in p.status()["model"].reasons]
    assert ("output-missing", "out/model.txt is missing") in reasons, reasons
    r = p.build()
    assert r.ok and r.by_asset() == {"model": "skipped", "use": "cached"}
    assert model.read_text() == "model 2\n"
    assert [x.code for x in p.status()["model"].reasons] == ["source-changed", "skipped"]
    model.write_text("edited\n")
    p.assetfile(MODEL.replace("model.read_text()", "model.read_text().upper()"))  # use runs
    r = p.build()
    assert r.ok and r.by_asset() == {"model": "skipped", "use": "built"}, [(x.asset, x.error) for x in r.results]
    assert model.read_text() == "model 2\n" and p.value("use") == "MODEL 2\n"


def test_an_absent_optional_out_restores_the_path_output_of_the_value_it_keeps(tmp_path):
    """The same for an ``Out(required=False, path=...)`` its multi-asset did not return."""
    p = Project(tmp_path)
    p.write("rows.txt", "new")
    p.write("AssetFile", '''
from assetbuild import Out, asset, multi_asset, source

rows = source("rows", "rows.txt")


@multi_asset(outs={"always": Out(io="json"), "maybe": Out(io="json", path="build/maybe.json", required=False)})
def fetch(rows):
    text = rows.read_text()
    return {"always": text, "maybe": text.upper()} if "new" in text else {"always": text}


@asset(io="json")
def reader(maybe):
    return maybe + "!"
''')
    assert sorted(p.built()) == ["always", "maybe", "reader"]
    p.write("rows.txt", "nothing")
    (tmp_path / "build/maybe.json").unlink()
    r = p.build()
    assert r.ok and r.by_asset() == {"always": "built", "maybe": "skipped", "reader": "cached"}
    assert json.loads((tmp_path / "build/maybe.json").read_text()) == "NEW"
