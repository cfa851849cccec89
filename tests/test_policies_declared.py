"""Declaring policies: ``@asset(freshness=, auto=, schedule=, timezone=)`` and the same on
``@multi_asset``; the mistakes refused at the declaration's line (exit 2 on the command line);
``list`` showing them; and none of them entering a key (they say when to build, not what)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from projects import Project, clean_env, cli

from assetbuild import asset, observable_source, source
from assetbuild.errors import DefinitionError
from assetbuild.outs import Out, multi_asset


def test_policy_fields_are_recorded():
    @asset(freshness="1h", auto="lazy")
    def a():
        return 1

    @asset(freshness=90, auto="eager", schedule="0 9 * * *", timezone="Europe/Paris")
    def b():
        return 1

    @asset
    def c():
        return 1

    d = a.__assetbuild_asset__
    assert (d.freshness, d.auto, d.schedule, d.schedule_tz) == (3600.0, "lazy", None, "UTC")
    d = b.__assetbuild_asset__
    assert (d.freshness, d.auto, d.schedule, d.schedule_tz) == (90.0, "eager", "0 9 * * *", "Europe/Paris")
    d = c.__assetbuild_asset__
    assert (d.freshness, d.auto, d.schedule, d.schedule_tz) == (None, None, None, "UTC")
    d = asset(name="e", freshness="2d", schedule="@daily")(lambda: 1).__assetbuild_asset__
    assert (d.freshness, d.schedule) == (172800.0, "@daily")


@pytest.mark.parametrize("kw,words", [
    ({"schedule": "61 9 * * *"}, "schedule must be a cron expression of five fields"),
    ({"schedule": "0 9 * *"}, "schedule must be a cron expression of five fields"),
    ({"schedule": "0 0 9 * * *"}, "schedule must be a cron expression of five fields"),  # seconds: not cron
    ({"schedule": "every day"}, "schedule must be a cron expression of five fields"),
    ({"schedule": 9}, "schedule must be a cron expression of five fields"),
    ({"auto": "always"}, "auto must be 'eager'"),
    ({"auto": True}, "auto must be 'eager'"),
    ({"freshness": "1 hour"}, "freshness must be a positive number of seconds or a duration"),
    ({"freshness": 0}, "freshness must be a positive number of seconds or a duration"),
    ({"freshness": True}, "freshness must be a positive number of seconds or a duration"),
    ({"schedule": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone must be an IANA time zone name"),
    ({"schedule": "0 9 * * *", "timezone": "../etc/passwd"}, "timezone must be an IANA time zone name"),
    ({"schedule": "0 9 * * *", "timezone": 1}, "timezone must be an IANA time zone name"),
    ({"timezone": "Europe/Paris"}, "timezone= is the time zone of schedule=, and it has no schedule"),
])
def test_bad_policies_are_definition_errors(kw, words):
    def f():
        return 1

    with pytest.raises(DefinitionError) as e:
        asset(**kw)(f)
    assert words in str(e.value)
    assert e.value.line == f.__code__.co_firstlineno
    with pytest.raises(DefinitionError) as e:
        multi_asset(outs={"x": Out()}, **kw)(f)
    assert words in str(e.value) and "multi-asset 'f'" in str(e.value)


@pytest.mark.parametrize("schedule, wrong", [
    ("0 25 * * *", "hour 25 is not in 0-23"), ("61 9 * * *", "minute 61 is not in 0-59"),
    ("0 9 32 * *", "day of month 32 is not in 1-31"), ("0 9 * 1,13 *", "month 13 is not in 1-12"),
    ("0 9 * * 1-8", "weekday 8 is not in 0-7"),
])
def test_a_cron_field_out_of_range_is_named(schedule, wrong):
    """Five fields look right to the eye: the message said only that it needs five fields."""
    with pytest.raises(DefinitionError) as e:
        asset(name="a", schedule=schedule)(lambda: 1)
    assert str(e.value).endswith(f"got {schedule!r}: {wrong}")


@pytest.mark.parametrize("schedule", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_a_cron_that_can_never_fire_is_refused_at_its_line(schedule):
    """croniter accepts these and only fails when asked for a time: the first tick crashed with
    its traceback, and a running daemon died on the reload."""
    def f():
        return 1

    with pytest.raises(DefinitionError) as e:
        asset(schedule=schedule)(f)
    assert f"schedule {schedule!r} never fires" in str(e.value) and e.value.line == f.__code__.co_firstlineno


@pytest.mark.parametrize("schedule", ["0 0 29 2 *", "0 0 30 2 1", "0 0 * * 1#5", "0 0 L 2 *"])
def test_a_rare_cron_is_accepted(schedule):
    """Feb 29 fires every 4 years (8 across 2100); a day or a weekday fires on either."""
    assert asset(name="a", schedule=schedule)(lambda: 1).__assetbuild_asset__.schedule == schedule


def test_a_cron_that_never_fires_is_exit_2_with_file_and_line_for_every_command(project):
    project.write("AssetFile", "from assetbuild import asset\n@asset(schedule='0 0 31 2 *')\ndef r():\n    return 1\n")
    for args in (["list"], ["status"], ["build"], ["run", "--once"]):
        out = cli(*args, cwd=project.root, env=clean_env(ASSETBUILD_NOW="2024-03-01T00:00:00Z"))
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.startswith("assetbuild: error: AssetFile:2: asset 'r': schedule '0 0 31 2 *' never fires")
        assert "Traceback" not in out.stderr


def test_freshness_on_a_source_says_where_it_belongs():
    with pytest.raises(DefinitionError) as e:
        source("orders", "orders.csv", freshness="1h")
    assert "source 'orders': freshness belongs to the assets that read it" in str(e.value)

    with pytest.raises(DefinitionError) as e:
        @observable_source(freshness="1h")
        def rates():
            return "v1"
    assert "observable source 'rates': freshness belongs to the assets that read it" in str(e.value)


def test_multi_asset_outs_share_its_policy():
    @multi_asset(outs={"train": Out(), "test": Out()}, auto="eager", freshness="30m", schedule="0 * * * *")
    def split():
        return 1, 2

    for d in split.__assetbuild_multi_asset__:
        assert (d.auto, d.freshness, d.schedule, d.schedule_tz) == ("eager", 1800.0, "0 * * * *", "UTC")


def test_declaring_without_a_policy_imports_no_cron_library():
    code = ("import sys\nfrom assetbuild import asset\n@asset(max_age='1h')\ndef a():\n    return 1\n"
            "print('croniter' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


ASSETFILE = '''
from assetbuild import asset, source

orders = source("orders", "orders.csv")


@asset(io="json")
def clean(orders):
    return orders.read_text().strip()


@asset(io="json", auto="eager")
def daily(clean):
    return clean + "!"


@asset(io="json", auto="lazy", freshness="1h", schedule="0 9 * * *", timezone="Europe/Paris")
def report(daily):
    return daily + "?"
'''


def test_list_shows_policies(project: Project):
    project.write("AssetFile", ASSETFILE)
    project.write("orders.csv", "1\n")
    r = cli("list", cwd=project.root)
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: " ".join(line.split()) for line in r.stdout.splitlines()}  # aligned columns
    assert lines["clean"] == "clean asset - json - orders"  # no policy: the row as before
    assert lines["daily"] == "daily asset - json - clean {eager}"
    assert lines["report"] == "report asset - json - daily {lazy, freshness 1h, schedule '0 9 * * *' Europe/Paris}"
    rows = {a["name"]: a for a in json.loads(cli("list", "--json", cwd=project.root).stdout)["assets"]}
    assert not {"freshness", "auto", "schedule", "timezone"} & set(rows["clean"])
    assert rows["daily"]["auto"] == "eager" and not {"freshness", "schedule"} & set(rows["daily"])
    assert (rows["report"]["auto"], rows["report"]["freshness"], rows["report"]["schedule"],
            rows["report"]["timezone"]) == ("lazy", 3600, "0 9 * * *", "Europe/Paris")


def test_policies_enter_no_key(project: Project):
    """Adding, changing or removing a policy rebuilds nothing: it says when, not what."""
    plain = ASSETFILE.replace(', auto="eager"', "").replace(
        ', auto="lazy", freshness="1h", schedule="0 9 * * *", timezone="Europe/Paris"', "")
    project.write("AssetFile", plain)
    project.write("orders.csv", "1\n")
    assert sorted(project.built()) == ["clean", "daily", "report"]
    project.write("AssetFile", ASSETFILE)
    assert project.built() == []
    project.write("AssetFile", ASSETFILE.replace('"1h"', '"2h"').replace("0 9", "30 8"))
    assert project.built() == []


@pytest.mark.parametrize("decl,words", [
    ('@asset(schedule="0 25 * * *")', "asset 'a': schedule must be a cron expression"),
    ('@asset(auto="sometimes")', "asset 'a': auto must be 'eager'"),
    ('@asset(freshness="soon")', "asset 'a': freshness must be a positive number"),
    ('@asset(schedule="0 9 * * *", timezone="Nowhere/Land")', "asset 'a': timezone must be an IANA"),
])
def test_cli_definition_errors_exit_2_at_file_line(project: Project, decl, words):
    project.assetfile(f"{decl}\ndef a():\n    return 1\n")
    for cmd in (["list"], ["build"]):
        r = cli(*cmd, cwd=project.root, env=clean_env())
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert f"AssetFile:2: {words}" in r.stderr
        assert "Traceback" not in r.stderr


def test_cli_source_freshness_exit_2(project: Project):
    project.assetfile('s = source("s", "s.txt", freshness="1h")\n')
    r = cli("list", cwd=project.root)
    assert r.returncode == 2 and "AssetFile:2: source 's': freshness belongs to the assets that read it" in r.stderr
    assert "Traceback" not in r.stderr


def test_each_partition_node_carries_its_assets_policy(project: Project, monkeypatch):
    """The daemon evaluates partition nodes (``daily[2024-01-02]``) as assets of their own."""
    from assetbuild.session.project import open_project

    project.write("AssetFile", '''
from assetbuild import asset, DailyPartitions


@asset(partitions=DailyPartitions(start="2024-01-01"), path="out/{partition}.json", io="json", auto="eager",
       freshness="2h")
def daily(context):
    return context.partition_key


@asset(io="json", schedule="0 6 * * *")
def summary(daily):
    return len(daily)
''')
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-01-03T12:00:00Z")
    with open_project(project.root) as p:
        nodes = p.graph.nodes
        assert [n for n in nodes if n.startswith("daily[")] == ["daily[2024-01-01]", "daily[2024-01-02]"]
        for n in ("daily[2024-01-01]", "daily[2024-01-02]"):
            assert (nodes[n].auto, nodes[n].freshness, nodes[n].schedule) == ("eager", 7200.0, None)
        assert (nodes["summary"].auto, nodes["summary"].schedule) == (None, "0 6 * * *")
    rows = {a["name"]: a for a in json.loads(cli("list", "--json", cwd=project.root,
                                                 env=clean_env(ASSETBUILD_NOW="2024-01-03T12:00:00Z")).stdout)["assets"]}
    assert (rows["daily"]["auto"], rows["daily"]["freshness"]) == ("eager", 7200)


def test_status_verbose_shows_each_assets_policy(project: Project):
    """``status -v`` shows the policy after the reasons (a partitioned asset's on its line);
    ``status`` without -v reads as before; ``--json`` rows carry it as ``"policy"``."""
    project.write("AssetFile", '''
from assetbuild import asset, DailyPartitions


@asset(io="json", freshness="1h", auto="lazy")
def raw():
    return 1


@asset(io="json", partitions=DailyPartitions(start="2024-01-01"), schedule="0 9 * * *", timezone="Europe/Paris")
def daily(raw):
    return raw


@asset(io="json")
def plain(raw):
    return raw
''')
    env = clean_env(ASSETBUILD_NOW="2024-01-03T00:00:00Z")
    assert cli("build", cwd=project.root, env=env).returncode == 0
    verbose = cli("status", "-v", cwd=project.root, env=env).stdout.splitlines()
    assert verbose == ["fresh   raw      {lazy, freshness 1h}",
                       "fresh   daily  partitioned  2 fresh, 0 stale, 0 missing, 0 failed  "
                       "{schedule '0 9 * * *' Europe/Paris}",
                       "fresh   plain"], verbose
    assert cli("status", cwd=project.root, env=env).stdout.splitlines() == [
        "fresh   raw", "fresh   daily  partitioned  2 fresh, 0 stale, 0 missing, 0 failed", "fresh   plain"]
    rows = {r["asset"]: r for r in json.loads(cli("status", "--json", cwd=project.root, env=env).stdout)["assets"]}
    assert rows["raw"]["policy"] == {"freshness": 3600.0, "auto": "lazy"}
    assert rows["daily"]["policy"] == {"schedule": "0 9 * * *", "timezone": "Europe/Paris"}
    assert "policy" not in rows["plain"]
