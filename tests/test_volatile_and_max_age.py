"""Volatile and expiring assets: ``@asset(volatile=True)`` and ``@asset(max_age=...)``.

Time is stepped with ASSETBUILD_NOW (no sleeping). Build, status, ``-n`` and ``why`` must
agree, and a rerun that produces the same bytes must keep its readers cached (early cutoff).
The "outside world" is ``world.txt``, a file the assets read without declaring it: no key sees it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projects import Project, clean_env, cli

import assetbuild
from assetbuild.definitions import AssetDef
from assetbuild.errors import ConfigError, DefinitionError
from assetbuild.graph import resolve
from assetbuild.keys import KeyParts, make_key
from assetbuild.rebuild import TraceRebuilder
from assetbuild.reports import Trace
from assetbuild.store import MemoryStore
from assetbuild.workspace import Workspace

DAY1 = "2024-03-01T09:00:00Z"

ASSETFILE = '''
from pathlib import Path

WORLD = Path(__file__).parent / "world.txt"


@asset(io="json", volatile=True)
def ticker():
    return WORLD.read_text()


@asset(io="json")
def ticker_reader(ticker):
    return ticker + "!"


@asset(io="json", max_age="1h")
def rates():
    return WORLD.read_text()


@asset(io="json")
def rates_reader(rates):
    return rates + "?"


@asset(io="json")
def plain():
    return WORLD.read_text()
'''


@pytest.fixture
def proj(project: Project, monkeypatch) -> Project:
    project.assetfile(ASSETFILE)
    project.write("world.txt", "1")
    monkeypatch.setenv("ASSETBUILD_NOW", DAY1)
    return project


def at(monkeypatch, when: str) -> None:
    monkeypatch.setenv("ASSETBUILD_NOW", when)


def states(project: Project) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {n: (s.state, tuple(r.code for r in s.reasons)) for n, s in project.status().items()}


def would(project: Project) -> dict[str, str]:
    r = project.build(dry_run=True)
    return {x.asset: x.metadata.get("would", "cached") if x.status == "skipped" else x.status for x in r.results}


def test_a_volatile_asset_runs_on_every_build_and_cuts_off(proj: Project):
    assert proj.built() == ["ticker", "ticker_reader", "rates", "rates_reader", "plain"]
    assert proj.built() == ["ticker"]  # same bytes: its reader stays cached
    proj.write("world.txt", "2")
    assert proj.built() == ["ticker", "ticker_reader"]  # only the volatile one sees the world
    assert proj.value("ticker_reader") == "2!"
    assert proj.value("plain") == "1"


def test_a_volatile_asset_is_stale_in_status_and_runs_in_a_dry_run(proj: Project):
    proj.built()
    st = proj.status()["ticker"]
    assert st.state == "stale"
    assert [(r.code, r.detail) for r in st.reasons] == [("volatile", "runs on every build")]
    assert states(proj)["ticker_reader"] == ("stale", ("upstream-changed",))  # only if its bytes change
    assert would(proj) == {"ticker": "run", "ticker_reader": "maybe", "rates": "cached", "rates_reader": "cached",
                           "plain": "cached"}
    info = assetbuild.why("ticker", project_dir=proj.root)
    assert info["state"] == "stale" and info["volatile"] is True
    assert info["reasons"] == [{"code": "volatile", "detail": "runs on every build"}]


def test_a_volatile_asset_never_built_is_missing(proj: Project):
    st = proj.status()["ticker"]
    assert st.state == "missing"
    assert [r.code for r in st.reasons] == ["never-built", "volatile"]


def test_each_volatile_run_has_its_own_key(proj: Project):
    keys = set()
    for _ in range(3):
        r = proj.build("ticker")
        keys.add(r.results[0].key)
    assert len(keys) == 3


def test_max_age_reruns_an_expired_asset_only(proj: Project, monkeypatch):
    proj.built()
    at(monkeypatch, "2024-03-01T09:59:59Z")
    assert proj.built() == ["ticker"]  # rates is 59m59s old: fresh
    assert states(proj)["rates"] == ("fresh", ())
    at(monkeypatch, "2024-03-01T10:00:00Z")
    assert states(proj)["rates"] == ("fresh", ())  # exactly max_age old is not older than it
    at(monkeypatch, "2024-03-01T11:05:00Z")
    st = proj.status()["rates"]
    assert st.state == "stale"
    assert [(r.code, r.detail) for r in st.reasons] == [("expired", "built 2h 5m ago; max_age 1h")]
    assert would(proj)["rates"] == "run"
    assert would(proj)["rates_reader"] == "maybe"
    assert assetbuild.why("rates", project_dir=proj.root)["reasons"] == [
        {"code": "expired", "detail": "built 2h 5m ago; max_age 1h"}]
    assert proj.built() == ["ticker", "rates"]  # same bytes: rates_reader stays cached
    assert states(proj)["rates"] == ("fresh", ())  # its age counts from this build now
    at(monkeypatch, "2024-03-01T12:05:01Z")
    proj.write("world.txt", "2")
    assert proj.built() == ["ticker", "ticker_reader", "rates", "rates_reader"]
    assert proj.value("rates_reader") == "2?"


def test_the_recorded_time_is_the_clock(proj: Project):
    proj.built()
    info = assetbuild.why("rates", project_dir=proj.root)
    assert info["last_built_ns"] == 1709283600 * 10**9


def test_an_expired_trace_of_the_same_key_is_not_reused(project: Project, monkeypatch):
    """Going back to earlier inputs finds the key's old trace; it is as old as when it was built."""
    project.assetfile('''
        raw = source("raw", "raw.txt")

        @asset(io="json", max_age="1d")
        def fetched(raw):
            return raw.read_text() + (raw.parent / "world.txt").read_text()
    ''')
    project.write("raw.txt", "a")
    project.write("world.txt", "1")
    at(monkeypatch, DAY1)
    assert project.built() == ["fetched"]
    project.write("raw.txt", "b")
    at(monkeypatch, "2024-03-02T10:00:00Z")
    assert project.built() == ["fetched"]
    project.write("raw.txt", "a")  # the key of day 1, whose trace is 25h old
    project.write("world.txt", "2")
    assert [r.code for r in project.status()["fetched"].reasons] == ["expired"]
    assert project.built() == ["fetched"]
    assert project.value("fetched") == "a2"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(built=st.integers(min_value=0, max_value=4 * 86400), later=st.integers(min_value=-3600, max_value=4 * 86400),
       max_age=st.integers(min_value=1, max_value=2 * 86400), changed=st.booleans())
def test_a_dry_run_predicts_what_the_build_runs(tmp_path_factory, monkeypatch, built, later, max_age, changed):
    root = tmp_path_factory.mktemp("p")
    project = Project(root)
    project.assetfile(f'''
        from pathlib import Path

        @asset(io="json", max_age={max_age})
        def fetched():
            return (Path(__file__).parent / "world.txt").read_text()

        @asset(io="json")
        def reader(fetched):
            return fetched + "!"
    ''')
    project.write("world.txt", "1")
    at(monkeypatch, str(1709283600 + built))
    project.built()
    at(monkeypatch, str(1709283600 + built + later))
    if changed:
        project.write("world.txt", "2")
    predicted = would(project)
    status = states(project)
    ran = project.built()
    expired = later > max_age or later < 0  # built later than now (the clock went back): no age, expired
    assert predicted["fetched"] == ("run" if expired else "cached")
    assert (status["fetched"][0] == "stale") == expired
    assert ("fetched" in ran) == expired
    # the reader may run: it does exactly when the rerun's bytes differ
    assert predicted["reader"] == ("maybe" if expired else "cached")
    assert ("reader" in ran) == (expired and changed)


def test_bad_assetbuild_now_is_one_clear_error(proj: Project, monkeypatch):
    at(monkeypatch, "2024-03-01T09:00:00")
    for call in (proj.build, proj.status, lambda: proj.build(dry_run=True)):
        with pytest.raises(ConfigError, match=r"ASSETBUILD_NOW='2024-03-01T09:00:00' has no time zone"):
            call()


def test_keys_without_a_nonce_are_unchanged():
    parts = KeyParts("c", {}, (("up", "v"),), "json@1", None)
    assert make_key("a", parts) == make_key("a", KeyParts("c", {}, (("up", "v"),), "json@1", None, nonce=""))
    assert make_key("a", parts) != make_key("a", KeyParts("c", {}, (("up", "v"),), "json@1", None, nonce="x"))
    with_sources = KeyParts("c", {}, (), "json@1", None, (("s", "p"),))
    assert make_key("a", with_sources) != make_key("a", KeyParts("c", {}, (), "json@1", None, (("s", "p"),), "x"))


def test_the_rebuilder_decides_from_the_now_it_is_given(tmp_path, monkeypatch):
    """No environment: the rebuilder reads the clock it is given, once, when it is made."""
    monkeypatch.setenv("ASSETBUILD_NOW", "not read")
    graph = resolve([AssetDef("a", lambda: 1, (), {}, (), "text", None, None, None, None, {}, None, "AssetFile", 1,
                              max_age=60.0)])
    store = MemoryStore()
    calls = []

    def rebuilder(now_s: int) -> TraceRebuilder:
        calls.append(now_s)
        return TraceRebuilder(graph, store, Workspace(tmp_path, store), code_of=lambda n: ("c", {}),
                              io_tags={"text": "text@1"}, now=lambda: now_s * 10**9)

    d = rebuilder(1000).decide("a", [])
    digest = store.put_blob(b"x")
    store.put_trace(d.key, Trace("dv", digest, "text@1", 1, 0.1, 1000 * 10**9, ""))  # not a head: any trace
    assert rebuilder(1060).decide("a", []).action == "cached"
    late = rebuilder(1061).decide("a", [])
    assert (late.action, late.reasons[0].code, late.reasons[0].detail) == ("run", "expired",
                                                                          "built 1m 1s ago; max_age 1m")
    early = rebuilder(900).decide("a", [])  # built "in the future" (the clock went back): no age, expired
    assert (early.action, early.reasons[0].detail) == ("run", "built at 1970-01-01T00:16:40Z, later than now; "
                                                              "max_age 1m")
    assert calls == [1000, 1060, 1061, 900]


# --- definition errors -------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,says", [
    ('volatile=True, max_age="1h"', "max_age and volatile=True contradict each other"),
    ('max_age="1 hour"', "max_age must be a positive number of seconds or a duration such as '30s'"),
    ("max_age=0", "max_age must be a positive number"),
    ("max_age=True", "max_age must be a positive number"),
    ('volatile="yes"', "volatile must be True or False, got 'yes'"),
    ("volatile=1", "volatile must be True or False, got 1"),
])
def test_definition_errors_name_the_file_and_line(project: Project, kwargs, says):
    path = project.assetfile(f"\n\n@asset({kwargs})\ndef a():\n    return 1\n")
    with pytest.raises(DefinitionError) as e:
        project.build()
    assert says in str(e.value)
    assert e.value.file == str(path) and e.value.line == 4  # the decorated function, as for every asset error


@pytest.mark.parametrize("max_age,seconds", [(3600, 3600), ("90m", 5400), ("2d", 172800), (1.5, 1.5)])
def test_list_json_has_volatile_and_max_age(project: Project, max_age, seconds):
    project.assetfile(f"@asset(max_age={max_age!r})\ndef a():\n    return 1\n@asset(volatile=True)\ndef b():\n"
                      "    return 2\n")
    rows = {r["name"]: r for r in assetbuild.list_assets(project_dir=project.root)}
    assert (rows["a"]["volatile"], rows["a"]["max_age"]) == (False, seconds)
    assert (rows["b"]["volatile"], rows["b"]["max_age"]) == (True, None)


# --- the real command ----------------------------------------------------------------------------


def test_cli_steps_through_days(proj: Project):
    root: Path = proj.root

    def run(*args: str, when: str = DAY1):
        return cli(*args, cwd=root, env=clean_env(ASSETBUILD_NOW=when))

    r = run("build")
    assert r.returncode == 0, r.stderr
    r = run("status", when="2024-03-01T11:05:00Z")
    lines = {ln.split()[1]: ln for ln in r.stdout.splitlines()}
    assert lines["ticker"].split(None, 2)[::2] == ["stale", "volatile: runs on every build"]
    assert lines["rates"].split(None, 2)[::2] == ["stale", "expired: built 2h 5m ago; max_age 1h"]
    assert lines["plain"].split()[0] == "fresh"
    r = run("status", "--json", when="2024-03-01T11:05:00Z")
    doc = {a["asset"]: a for a in json.loads(r.stdout)["assets"]}
    assert doc["rates"]["reasons"] == [{"code": "expired", "detail": "built 2h 5m ago; max_age 1h"}]
    r = run("why", "rates", when="2024-03-03T09:00:00Z")
    assert "expired: built 2d ago; max_age 1h" in r.stdout
    r = run("build", "-n", when="2024-03-01T11:05:00Z")
    assert "would run     rates  (expired: built 2h 5m ago; max_age 1h)" in r.stdout
    assert "would run     ticker  (volatile: runs on every build)" in r.stdout
    r = run("build", when="2024-03-01T11:05:00Z")
    assert r.returncode == 0 and "2 built, 3 cached" in r.stdout, r.stdout
    r = run("list", "--json")
    rows = {a["name"]: a for a in json.loads(r.stdout)["assets"]}
    assert (rows["rates"]["max_age"], rows["ticker"]["volatile"]) == (3600, True)


@pytest.mark.parametrize("value", ["2024-03-01T09:00:00", "tomorrow"])
def test_cli_bad_assetbuild_now_exits_2(proj: Project, value):
    for cmd in (["build"], ["status"], ["build", "-n"], ["why", "rates"]):
        r = cli(*cmd, cwd=proj.root, env=clean_env(ASSETBUILD_NOW=value))
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert r.stderr.strip().splitlines() == [f"assetbuild: error: ASSETBUILD_NOW={value!r} "
                                                 + r.stderr.split(f"ASSETBUILD_NOW={value!r} ", 1)[1].strip()]
        assert "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["-5", "1969-12-31T23:59:59Z", "99999999999", "2600-01-01T00:00:00Z"])
def test_cli_now_the_store_cannot_record_exits_2_before_writing(proj: Project, value):
    """Times before 1970 or from 2500 were accepted, then a build died with an OverflowError
    traceback writing its history row, after its head (fresh, with no event, no run); ``run
    --once`` likewise, recording no tick."""
    for cmd in (["build"], ["run", "--once"], ["status"]):
        r = cli(*cmd, cwd=proj.root, env=clean_env(ASSETBUILD_NOW=value))
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert r.stderr.splitlines() == [f"assetbuild: error: ASSETBUILD_NOW={value!r} is out of range: give a time "
                                         "from 1970-01-01T00:00:00Z up to (not including) 2500-01-01T00:00:00Z "
                                         "(epoch seconds 0 to 16725225599)"], (cmd, r.stderr)
    r = cli("status", "--json", cwd=proj.root, env=clean_env(ASSETBUILD_NOW=DAY1))
    assert {a["state"] for a in json.loads(r.stdout)["assets"]} == {"missing"}
    assert json.loads(cli("runs", "--json", cwd=proj.root).stdout) == {"runs": []}
    assert json.loads(cli("ticks", "--json", cwd=proj.root).stdout) == {"ticks": []}
    for edge in ("1970-01-01T00:00:00Z", "2499-12-31T23:59:59.999999999Z"):
        r = cli("build", "rates", cwd=proj.root, env=clean_env(ASSETBUILD_NOW=edge))
        assert r.returncode == 0, r.stderr


def test_a_build_recorded_later_than_now_has_expired(proj: Project):
    """A clock that ran two days ahead, then set back: the build it recorded is no age at all.
    ``max_age`` counted from it kept the asset fresh until the clock caught up."""
    root: Path = proj.root

    def run(*args: str, when: str):
        return cli(*args, cwd=root, env=clean_env(ASSETBUILD_NOW=when))

    assert run("build", when="2024-03-03T09:00:00Z").returncode == 0
    expired = "expired: built at 2024-03-03T09:00:00Z, later than now; max_age 1h"
    r = run("status", "rates", when="2024-03-01T21:00:00Z")
    assert r.stdout.strip().split(None, 2)[::2] == ["stale", expired], r.stdout
    assert f"would run     rates  ({expired})" in run("build", "-n", when="2024-03-01T21:00:00Z").stdout
    r = run("build", when="2024-03-01T21:00:00Z")
    assert r.returncode == 0 and "2 built, 3 cached" in r.stdout, r.stdout
    assert run("status", "rates", when="2024-03-01T22:00:00Z").stdout.split()[0] == "fresh"


def test_a_max_age_under_a_second_is_shown_as_one(project: Project):
    """``max_age=0.5`` read "expired: built 0s ago; max_age 0s"."""
    project.assetfile('@asset(max_age=0.5, io="json")\ndef a():\n    return 1\n')
    assert cli("build", cwd=project.root, env=clean_env(ASSETBUILD_NOW="1709283600")).returncode == 0
    r = cli("status", cwd=project.root, env=clean_env(ASSETBUILD_NOW="1709283600.9"))
    assert r.stdout.strip().split(None, 2)[::2] == ["stale", "expired: built 0.9s ago; max_age 0.5s"], r.stdout


def test_an_asset_just_past_its_max_age_reads_as_past_it(project: Project):
    """Built 1h 0m 1s ago with ``max_age="1h"`` read "expired: built 1h ago; max_age 1h": an
    age exactly at the limit, which is fresh. The age is rounded up, the limit shown as declared."""
    project.assetfile('@asset(max_age="1h", io="json")\ndef a():\n    return 1\n\n'
                      '@asset(max_age=5430.5, io="json")\ndef b():\n    return 1\n')
    assert cli("build", cwd=project.root, env=clean_env(ASSETBUILD_NOW="2024-03-01T00:00:00Z")).returncode == 0
    r = cli("status", cwd=project.root, env=clean_env(ASSETBUILD_NOW="2024-03-01T01:00:01Z"))
    assert r.stdout.splitlines()[0].split(None, 2)[::2] == ["stale", "expired: built 1h 1m ago; max_age 1h"], r.stdout
    assert r.stdout.splitlines()[1].split()[0] == "fresh", r.stdout
    r = cli("status", "b", cwd=project.root, env=clean_env(ASSETBUILD_NOW="2024-03-01T01:30:31Z"))
    assert r.stdout.strip().split(None, 2)[::2] == ["stale", "expired: built 1h 31m ago; max_age 1h 30m 30.5s"]


def test_cli_definition_error(project: Project):
    project.assetfile('@asset(volatile=True, max_age="1h")\ndef a():\n    return 1\n')
    r = cli("build", cwd=project.root)
    assert r.returncode == 2
    assert "AssetFile:2: asset 'a': max_age and volatile=True contradict each other" in r.stderr


def test_cache_gc_older_than_follows_the_same_clock(proj: Project, monkeypatch):
    """gc's "unused for N days" is a time decision too: under ASSETBUILD_NOW both the time a key
    stopped being a head and gc's now come from it, so a test can step days without sleeping."""
    proj.assetfile('@asset(io="json")\ndef a():\n    return 1\n')
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-01T00:00:00Z")
    assert proj.built() == ["a"]
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-02T00:00:00Z")
    proj.assetfile('@asset(io="json")\ndef a():\n    return 2\n')  # the first key is unused from now
    assert proj.built() == ["a"]
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-05T00:00:00Z")  # unused for 3 days
    assert assetbuild.gc(older_than_days=5, dry_run=True, project_dir=proj.root).entries_dropped == 0
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-08T00:00:00Z")  # unused for 6 days
    assert assetbuild.gc(older_than_days=5, project_dir=proj.root).entries_dropped == 1
    assert proj.build().by_asset() == {"a": "cached"}
