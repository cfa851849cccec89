"""The pure policy rules of assetbuild.policies: schedules due, freshness and lag, and what a
tick requests, each rule alone and then against a small independent model over random
graphs, policies and change times (hypothesis): never request what is fresh under its
policy, always request what a policy requires."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetbuild.clock import age_ns, parse_now
from assetbuild.policies import Freshness, Policy, Request, due_schedules, freshness_state, tick_requests

NS = 1_000_000_000
H = 3600 * NS
T0 = parse_now("2024-03-01T00:00:00Z")
NOW = T0 + 2 * 3600 * NS


def at(text: str) -> int:
    return parse_now(text)


# --- schedules -------------------------------------------------------------------------------


def test_a_schedule_croniter_cannot_place_is_a_definition_error_not_crontab_internals():
    """Declaration refuses such a cron; this guard keeps any croniter error out of a tick."""
    from assetbuild.errors import DefinitionError

    with pytest.raises(DefinitionError, match="no scheduled time found"):
        due_schedules("0 0 31 2 *", "UTC", None, NOW)

def test_a_tick_at_exactly_the_scheduled_time_owes_it():
    nine = at("2024-03-01T09:00:00Z")
    assert due_schedules("0 9 * * *", "UTC", None, nine) == [nine]
    assert due_schedules("0 9 * * *", "UTC", at("2024-03-01T08:59:00Z"), nine) == [nine]
    assert due_schedules("0 9 * * *", "UTC", at("2024-03-01T08:59:00Z"), nine + NS // 2) == [nine]


def test_before_the_time_nothing_new_is_owed():
    assert due_schedules("0 9 * * *", "UTC", at("2024-02-29T09:00:00Z"), at("2024-03-01T08:59:59Z")) == []


def test_once_per_scheduled_time():
    nine = at("2024-03-01T09:00:00Z")
    assert due_schedules("0 9 * * *", "UTC", nine, nine) == []
    assert due_schedules("0 9 * * *", "UTC", nine, at("2024-03-01T09:30:00Z")) == []
    assert due_schedules("0 9 * * *", "UTC", at("2024-03-01T09:30:00Z"), at("2024-03-02T09:00:01Z")) == [
        at("2024-03-02T09:00:00Z")]


def test_a_daemon_down_for_three_days_owes_only_the_latest_time():
    assert due_schedules("0 9 * * *", "UTC", at("2024-03-01T09:00:00Z"), at("2024-03-04T12:00:00Z")) == [
        at("2024-03-04T09:00:00Z")]
    assert due_schedules("*/15 * * * *", "UTC", at("2024-03-01T09:00:00Z"), at("2024-03-01T10:07:00Z")) == [
        at("2024-03-01T10:00:00Z")]


def test_a_local_time_repeated_when_the_clocks_go_back_is_owed_once_at_its_first():
    """Berlin, 2024-10-27: 02:30 CEST (00:30Z), then 02:30 CET (01:30Z). It ran twice."""
    berlin = "Europe/Berlin"
    first = at("2024-10-27T00:30:00Z")
    assert due_schedules("30 2 * * *", berlin, at("2024-10-26T12:00:00Z"), at("2024-10-27T00:31:00Z")) == [first]
    assert due_schedules("30 2 * * *", berlin, at("2024-10-27T00:31:00Z"), at("2024-10-27T01:31:00Z")) == []
    # a daemon down through the first 02:30 owes it once, in the repeated hour
    assert due_schedules("30 2 * * *", berlin, at("2024-10-26T12:00:00Z"), at("2024-10-27T01:31:00Z")) == [first]
    assert due_schedules("30 2 * * *", berlin, at("2024-10-27T01:31:00Z"), at("2024-10-28T01:30:00Z")) == [
        at("2024-10-28T01:30:00Z")]  # and the next day as usual
    # an interval schedule keeps its interval through the repeated hour (as cronie and Dagster)
    assert due_schedules("30 * * * *", berlin, at("2024-10-27T00:31:00Z"), at("2024-10-27T01:31:00Z")) == [
        at("2024-10-27T01:30:00Z")]
    assert due_schedules("@hourly", berlin, at("2024-10-27T00:01:00Z"), at("2024-10-27T01:01:00Z")) == [
        at("2024-10-27T01:00:00Z")]


def test_a_local_time_the_clocks_skip_is_owed_once_just_after_the_gap():
    """Berlin, 2024-03-31: 02:00 CET becomes 03:00 CEST (01:00Z); there is no 02:30."""
    berlin = "Europe/Berlin"
    jump = at("2024-03-31T01:00:00Z")
    assert due_schedules("30 2 * * *", berlin, at("2024-03-31T00:59:00Z"), at("2024-03-31T00:59:59Z")) == []
    assert due_schedules("30 2 * * *", berlin, at("2024-03-31T00:59:00Z"), jump) == [jump]
    assert due_schedules("30 2 * * *", berlin, jump, at("2024-03-31T02:05:00Z")) == []
    assert due_schedules("30 2 * * *", berlin, at("2024-03-31T02:05:00Z"), at("2024-04-01T00:30:00Z")) == [
        at("2024-04-01T00:30:00Z")]


def test_never_evaluated_owes_the_latest_time_at_or_before_now():
    assert due_schedules("0 9 * * *", "UTC", None, at("2024-03-01T08:00:00Z")) == [at("2024-02-29T09:00:00Z")]


def test_a_schedule_evaluated_later_than_now_is_owed_its_latest_time():
    """Evaluated by a clock a day ahead (since set back): that record lies after now. It made
    the real next day's 09:00 wait for the clock to catch up, and then skipped it; it says
    nothing about what was met, so it counts as never evaluated, as a time later than now has
    no age (clock.age_ns)."""
    ahead = at("2024-03-05T09:30:00Z")
    assert due_schedules("0 9 * * *", "UTC", ahead, at("2024-03-05T09:00:00Z")) == [at("2024-03-05T09:00:00Z")]
    assert due_schedules("0 9 * * *", "UTC", ahead, at("2024-03-04T10:00:00Z")) == [at("2024-03-04T09:00:00Z")]
    assert due_schedules("0 9 * * *", "UTC", ahead, ahead) == []  # (now itself: a record, not the future)


def test_the_schedule_is_read_in_its_time_zone():
    # Paris is UTC+1 in winter and UTC+2 in summer: 09:00 there is 08:00Z, then 07:00Z
    assert due_schedules("0 9 * * *", "Europe/Paris", at("2024-03-01T07:00:00Z"), at("2024-03-01T08:00:00Z")) == [
        at("2024-03-01T08:00:00Z")]
    assert due_schedules("0 9 * * *", "Europe/Paris", at("2024-07-01T06:00:00Z"), at("2024-07-01T07:00:00Z")) == [
        at("2024-07-01T07:00:00Z")]
    assert due_schedules("0 9 * * *", "Europe/Paris", at("2024-07-01T06:00:00Z"), at("2024-07-01T06:59:59Z")) == []


SCHEDULES = ["0 9 * * *", "*/15 * * * *", "30 */6 * * *", "0 0 * * *", "5 9-17 * * 1-5", "@hourly"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SCHEDULES), st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
       st.integers(0, 5 * 86400 - 1), st.one_of(st.none(), st.integers(1, 2 * 86400)))
def test_due_schedules_against_minute_by_minute(schedule, tz, now_s, since_s):
    """The latest matching minute in (last, now], found by checking every minute with croniter's
    own matcher (a different path than get_prev), over weekdays and time zones."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    now = at("2024-03-08T00:00:00Z") + now_s * NS + 123_456_789  # a Friday, and a fraction of a second
    last = None if since_s is None else now - since_s * NS
    zone = ZoneInfo(tz)
    minute = now // (60 * NS) * 60
    expected = []
    floor = (last // NS) if last is not None else now // NS - 4 * 86400  # every schedule fires within 4 days
    while minute > floor:
        if croniter.match(schedule, datetime.fromtimestamp(minute, zone)) and (last is None or minute * NS > last):
            expected = [minute * NS]
            break
        minute -= 60
    assert due_schedules(schedule, tz, last, now) == expected


# --- freshness -------------------------------------------------------------------------------

def test_nothing_missing_is_fresh_however_old():
    assert freshness_state(3600, T0, [], T0 + 100 * H) == Freshness(False, 0.0, "up to date; freshness 1h")
    assert freshness_state(3600, None, [], T0) == Freshness(False, 0.0, "up to date; freshness 1h")


def test_lag_counts_from_the_oldest_change_not_included():
    now = at("2024-03-01T12:10:00Z")
    f = freshness_state(3600, at("2024-03-01T08:00:00Z"),
                        [at("2024-03-01T10:00:00Z"), at("2024-03-01T09:00:00Z"), at("2024-03-01T07:00:00Z")], now)
    assert f == Freshness(True, 3 * 3600 + 600, "3h 10m behind; freshness 1h")  # 07:00 is included


def test_overdue_only_beyond_the_freshness():
    change = at("2024-03-01T09:00:00Z")
    assert freshness_state(3600, None, [change], change + H) == Freshness(False, 3600.0, "1h behind; freshness 1h")
    assert freshness_state(3600, None, [change], change + H + 1).overdue
    assert freshness_state(1800, None, [change], change + H - 1).overdue
    assert freshness_state(1800, change + 1, [change], change + 10 * H) == Freshness(
        False, 0.0, "up to date; freshness 30m")


def test_a_change_of_its_own_counts_whenever_it_was_built():
    """Changes of an asset's own (or an upstream asset's own) that no data carries yet are
    lacked even by a build made after them (an upstream asset's code changed, then it was built
    from that asset's old data): they are not dropped by its materialization's time."""
    change = at("2024-03-01T09:00:00Z")
    assert freshness_state(3600, change + H, [], change + H + NS, own_ns=[change]) == Freshness(
        True, 3601.0, "1h 1m behind; freshness 1h")  # (rounded up: past the freshness, not at it)
    assert freshness_state(3600, T0, [change + 60 * NS], change + H, own_ns=[change]).lag_s == 3600.0


def test_a_change_recorded_later_than_now_is_late_now():
    """A change recorded by a clock that ran ahead (since set back) has no age (clock.age_ns):
    it was measured as no lag, and the asset waited for the clock to catch up. It is late now,
    even beside an older change that is not late yet; its lag is unknown, at most since its build."""
    ahead = NOW + 48 * H
    assert freshness_state(3600, NOW - 3 * H, [ahead], NOW) == Freshness(
        True, 3 * 3600.0, "behind a change at 2024-03-03T02:00:00Z, later than now; freshness 1h")
    assert freshness_state(3600, NOW - H, [NOW - 600 * NS, ahead], NOW).overdue
    assert freshness_state(3600, NOW - H, [NOW - 600 * NS], NOW, own_ns=[ahead]).overdue
    assert freshness_state(3600, ahead, [ahead + NS], NOW).lag_s == 0.0  # built later than now too
    assert freshness_state(3600, None, [ahead], NOW).lag_s == 0.0


# --- what a tick requests ----------------------------------------------------------------------

UP = {"clean": ["orders"], "daily": ["clean"], "report": ["daily"], "other": ["clean"]}


def reqs(policies, changes, due=(), now=T0 + 10 * H, upstream=UP):
    return {r.asset: r.reasons for r in tick_requests(policies, upstream, changes, due, now)}


def test_eager_requested_when_an_input_changed():
    pol = {"clean": Policy(auto="eager"), "daily": Policy(), "report": Policy(), "other": Policy()}
    assert reqs(pol, {"clean": {"orders": T0}}) == {"clean": ("eager: upstream orders changed",)}
    assert reqs(pol, {}) == {}


def test_an_expired_max_age_is_a_change_of_its_own():
    """An eager asset with max_age="1h" was never rebuilt by run, though status said expired."""
    from assetbuild.policies import EXPIRED

    pol = {"clean": Policy(auto="eager"), "daily": Policy(auto="eager"), "report": Policy(), "other": Policy()}
    assert reqs(pol, {"clean": {EXPIRED: T0}}) == {
        "clean": ("eager: max_age expired",), "daily": ("eager: upstream clean requested",)}
    assert reqs(pol, {"clean": {EXPIRED: T0, "orders": T0}}) == {
        "clean": ("eager: max_age expired", "eager: upstream orders changed"),
        "daily": ("eager: upstream clean requested",)}
    lazy = {"clean": Policy(auto="lazy", freshness=3600.0), "daily": Policy(), "report": Policy(), "other": Policy()}
    assert reqs(lazy, {"clean": {EXPIRED: T0 + 9 * H}}) == {}  # an hour ago: within its freshness
    assert reqs(lazy, {"clean": {EXPIRED: T0}}) == {"clean": ("lazy: needed for its freshness 1h",)}


def test_a_change_of_its_code_env_or_params_is_a_change_of_its_own():
    """An eager asset whose code, declared env var or params changed was never rebuilt by run,
    though status said code-changed / env-changed / params-changed."""
    from assetbuild.policies import CODE_CHANGED, EXPIRED, PARAMS_CHANGED, env_changed

    pol = {"clean": Policy(auto="eager"), "daily": Policy(auto="eager"), "report": Policy(), "other": Policy()}
    assert reqs(pol, {"clean": {CODE_CHANGED: T0}}) == {
        "clean": ("eager: code changed",), "daily": ("eager: upstream clean requested",)}
    own = {CODE_CHANGED: T0, env_changed("REGION"): T0, env_changed("API_TOKEN"): T0, PARAMS_CHANGED: T0,
           EXPIRED: T0, "orders": T0}
    assert reqs(pol, {"clean": own})["clean"] == (
        "eager: code changed", "eager: env API_TOKEN changed", "eager: env REGION changed", "eager: params changed",
        "eager: max_age expired", "eager: upstream orders changed")
    lazy = {"clean": Policy(auto="lazy", freshness=3600.0), "daily": Policy(), "report": Policy(), "other": Policy()}
    assert reqs(lazy, {"clean": {PARAMS_CHANGED: T0 + 9 * H}}) == {}  # seen an hour ago: within its freshness
    assert reqs(lazy, {"clean": {env_changed("REGION"): T0}}) == {"clean": ("lazy: needed for its freshness 1h",)}
    below = {"clean": Policy(auto="lazy"), "daily": Policy(auto="lazy", freshness=3600.0), "report": Policy(),
             "other": Policy()}  # needed for a freshness downstream
    assert reqs(below, {"clean": {CODE_CHANGED: T0}}) == {"clean": ("lazy: needed for daily's freshness 1h",),
                                                          "daily": ("lazy: needed for its freshness 1h",)}


def test_a_change_of_a_resource_or_another_key_part_is_a_change_of_its_own():
    """status said resource-changed, io-changed, path-changed, key-changed (another
    interpreter) while run never rebuilt the eager asset: each is a change of its own, named."""
    from assetbuild.policies import (
        CODE_CHANGED,
        EXPIRED,
        INTERPRETER_CHANGED,
        PARAMS_CHANGED,
        env_changed,
        part_changed,
        resource_changed,
    )

    pol = {"clean": Policy(auto="eager"), "daily": Policy(auto="eager"), "report": Policy(), "other": Policy()}
    assert reqs(pol, {"clean": {resource_changed("warehouse"): T0}}) == {
        "clean": ("eager: resource warehouse changed",), "daily": ("eager: upstream clean requested",)}
    own = {c: T0 for c in (EXPIRED, part_changed("output path"), resource_changed("db"), PARAMS_CHANGED,
                           part_changed("IO manager"), env_changed("REGION"), CODE_CHANGED, INTERPRETER_CHANGED,
                           "orders")}
    assert reqs(pol, {"clean": own})["clean"] == (  # as status orders its reasons
        "eager: interpreter changed", "eager: code changed", "eager: env REGION changed", "eager: params changed",
        "eager: resource db changed", "eager: IO manager changed", "eager: output path changed",
        "eager: max_age expired", "eager: upstream orders changed")
    lazy = {"clean": Policy(auto="lazy", freshness=3600.0), "daily": Policy(), "report": Policy(), "other": Policy()}
    assert reqs(lazy, {"clean": {resource_changed("db"): T0 + 9 * H}}) == {}  # seen an hour ago
    assert reqs(lazy, {"clean": {resource_changed("db"): T0}}) == {"clean": ("lazy: needed for its freshness 1h",)}


def test_an_eager_assets_files_to_restore_request_it_alone():
    """status said output-missing / output-modified while run never restored an eager asset's
    files. A restore changes no data: no reader follows it, and a lazy asset's is left alone."""
    pol = {"clean": Policy(auto="eager"), "daily": Policy(auto="eager"), "report": Policy(auto="lazy", freshness=60),
           "other": Policy()}
    why = {"clean": ["output out/clean.csv missing"], "report": ["output out/report.txt missing"],
           "other": ["output out/other.txt missing"]}

    def restoring(changes, held=(), restore=why):
        return {r.asset: r.reasons for r in tick_requests(pol, UP, changes, (), T0, held=held, restore=restore)}

    assert restoring({}) == {"clean": ("eager: output out/clean.csv missing",)}
    assert restoring({}, held=["clean"]) == {}
    # asked for otherwise: that reason (the build restores what it still must)
    assert restoring({"clean": {"orders": T0}}) == {"clean": ("eager: upstream orders changed",),
                                                    "daily": ("eager: upstream clean requested",)}
    assert restoring({"clean": {"orders": T0}}, restore={"daily": ["output out/daily.csv missing"]}) == {
        "clean": ("eager: upstream orders changed",), "daily": ("eager: upstream clean requested",)}


def test_eager_follows_an_input_requested_in_the_same_tick():
    pol = {"clean": Policy(auto="eager"), "daily": Policy(auto="eager"), "report": Policy(auto="eager"),
           "other": Policy()}
    assert reqs(pol, {"clean": {"orders": T0}}) == {
        "clean": ("eager: upstream orders changed",), "daily": ("eager: upstream clean requested",),
        "report": ("eager: upstream daily requested",)}


def test_eager_does_not_see_through_an_asset_that_is_not_built():
    pol = {"clean": Policy(), "daily": Policy(auto="eager"), "report": Policy(), "other": Policy()}
    assert reqs(pol, {"clean": {"orders": T0}}) == {}


def test_auto_none_is_never_requested_even_overdue():
    pol = {"clean": Policy(freshness=60), "daily": Policy(freshness=60), "report": Policy(), "other": Policy()}
    assert reqs(pol, {"clean": {"orders": T0}}) == {}


def test_lazy_requested_only_when_overdue():
    pol = {"clean": Policy(auto="lazy", freshness=3600), "daily": Policy(), "report": Policy(), "other": Policy()}
    change = T0
    assert reqs(pol, {"clean": {"orders": change}}, now=change + H) == {}
    assert reqs(pol, {"clean": {"orders": change}}, now=change + H + NS) == {
        "clean": ("lazy: needed for its freshness 1h",)}


def test_lazy_without_freshness_downstream_is_never_requested():
    pol = {"clean": Policy(auto="lazy"), "daily": Policy(auto="lazy"), "report": Policy(auto="lazy"),
           "other": Policy()}
    assert reqs(pol, {"clean": {"orders": T0}}, now=T0 + 1000 * H) == {}


def test_lazy_requested_for_a_downstream_assets_freshness():
    pol = {"clean": Policy(auto="lazy"), "daily": Policy(auto="lazy"), "report": Policy(auto="lazy", freshness=3600),
           "other": Policy(auto="lazy")}
    ch = {"clean": {"orders": T0}}
    assert reqs(pol, ch, now=T0 + H) == {}
    assert reqs(pol, ch, now=T0 + 2 * H) == {
        "clean": ("lazy: needed for report's freshness 1h",), "daily": ("lazy: needed for report's freshness 1h",),
        "report": ("lazy: needed for its freshness 1h",)}  # not `other`: nothing downstream of it needs it


def test_lazy_upstream_that_includes_every_late_change_is_not_requested():
    """report lacks an old change of clean's (now included by clean) and a recent one of daily's
    own input: clean is fresh for report's purpose, so only daily and report are requested."""
    up = {"clean": ["orders"], "daily": ["clean", "prices"], "report": ["daily"]}
    pol = {"clean": Policy(auto="lazy"), "daily": Policy(auto="lazy"), "report": Policy(auto="lazy", freshness=3600)}
    ch = {"clean": {"orders": T0 + 9 * H + 1800 * NS}, "daily": {"prices": T0}}
    assert reqs(pol, ch, upstream=up) == {"daily": ("lazy: needed for report's freshness 1h",),
                                          "report": ("lazy: needed for its freshness 1h",)}


def test_lazy_need_stops_at_an_asset_that_would_not_pass_the_data_on():
    pol = {"clean": Policy(auto="lazy"), "daily": Policy(), "report": Policy(auto="lazy", freshness=3600),
           "other": Policy()}
    # report is overdue (orders changed 2h ago, behind daily), but building it would not bring
    # the change in while daily (auto=None) is stale: nothing is requested
    assert reqs(pol, {"clean": {"orders": T0}}) == {}
    # an input of report's own that changed is what its build brings in
    assert reqs(pol, {"clean": {"orders": T0}, "report": {"daily": T0}}) == {
        "report": ("lazy: needed for its freshness 1h",)}


def test_eager_overdue_pulls_lazy_upstream_then_follows_it():
    pol = {"clean": Policy(auto="lazy"), "daily": Policy(auto="eager", freshness=3600), "report": Policy(),
           "other": Policy()}
    assert reqs(pol, {"clean": {"orders": T0}}) == {"clean": ("lazy: needed for daily's freshness 1h",),
                                                    "daily": ("eager: upstream clean requested",)}


def test_a_change_recorded_later_than_now_requests_lazy_assets_now():
    """Lazy assets lacking a change recorded by a clock that ran ahead are needed now, for their
    own freshness or a downstream one, even beside an older change that is not late yet."""
    pol = {"clean": Policy(auto="eager"), "daily": Policy(auto="lazy"),
           "report": Policy(auto="lazy", freshness=3600), "other": Policy()}
    now = T0 + 10 * H
    late = {"daily": {"clean": now + 48 * H}}
    assert reqs(pol, late, now=now) == {"daily": ("lazy: needed for report's freshness 1h",),
                                        "report": ("lazy: needed for its freshness 1h",)}
    both = {"daily": {"clean": now + 48 * H}, "report": {"(code)": now - 600 * NS}}
    assert set(reqs(pol, both, now=now)) == {"daily", "report"}
    assert reqs(pol, {"daily": {"clean": now - 600 * NS}}, now=now) == {}


def test_the_strictest_downstream_freshness_is_named():
    up = {"clean": ["orders"], "a": ["clean"], "b": ["clean"]}
    pol = {"clean": Policy(auto="lazy"), "a": Policy(auto="lazy", freshness=7200), "b": Policy(auto="lazy",
                                                                                              freshness=3600)}
    assert reqs(pol, {"clean": {"orders": T0}}, upstream=up)["clean"] == ("lazy: needed for b's freshness 1h",)


def test_schedule_requested_when_due_whatever_auto_says():
    pol = {"clean": Policy(schedule="0 9 * * *"), "daily": Policy(auto="eager", schedule="@hourly"),
           "report": Policy(), "other": Policy()}
    assert reqs(pol, {}, due={"clean"}) == {"clean": ("schedule: 0 9 * * *",),
                                            "daily": ("eager: upstream clean requested",)}
    assert reqs(pol, {"daily": {"clean": T0}}, due={"daily"}) == {
        "daily": ("schedule: @hourly", "eager: upstream clean changed")}
    assert reqs(pol, {}, due={"report"}) == {}  # no schedule declared: nothing to be due


def test_requests_are_sorted_and_partition_nodes_are_assets():
    up = {"daily[2024-03-02]": ["events"], "daily[2024-03-01]": ["events"], "summary": ["daily[2024-03-01]",
                                                                                      "daily[2024-03-02]"]}
    pol = {n: Policy(auto="eager") for n in up}
    out = tick_requests(pol, up, {"daily[2024-03-02]": {"events": T0}, "daily[2024-03-01]": {"events": T0}},
                        (), T0)
    assert [r.asset for r in out] == ["daily[2024-03-01]", "daily[2024-03-02]", "summary"]
    assert out[-1] == Request("summary", ("eager: upstream daily[2024-03-01], daily[2024-03-02] requested",))


def test_many_partitions_of_one_upstream_are_named_as_a_range():
    """A day reading its 24 hours once listed all 24 names in its reason; more than 3 partitions
    of one asset are now its first and last, with the count."""
    hours = [f"hourly[2024-03-01-{h:02d}:00]" for h in range(24)]
    up = {**{h: ["events"] for h in hours}, "daily[2024-03-01]": hours + ["other"], "other": ["events"]}
    pol = {n: Policy(auto="eager") for n in up}
    out = {r.asset: r.reasons for r in tick_requests(pol, up, {h: {"events": T0} for h in hours[:3]}, (), T0)}
    assert out["daily[2024-03-01]"] == ("eager: upstream hourly[2024-03-01-00:00], hourly[2024-03-01-01:00], "
                                        "hourly[2024-03-01-02:00] requested",)
    changes = {**{h: {"events": T0} for h in hours}, "other": {"events": T0}}
    out = {r.asset: r.reasons for r in tick_requests(pol, up, changes, (), T0)}
    assert out["daily[2024-03-01]"] == ("eager: upstream hourly[2024-03-01-00:00] .. hourly[2024-03-01-23:00] "
                                        "(24 partitions), other requested",)
    out = {r.asset: r.reasons for r in tick_requests(pol, up, {"daily[2024-03-01]": {h: T0 for h in hours}}, (), T0)}
    assert out["daily[2024-03-01]"] == ("eager: upstream hourly[2024-03-01-00:00] .. hourly[2024-03-01-23:00] "
                                        "(24 partitions) changed",)


def test_a_new_partition_is_requested_by_an_eager_asset():
    up = {"daily[2024-03-01]": [], "daily[2024-03-02]": [], "weekly": ["daily[2024-03-01]", "daily[2024-03-02]"]}
    pol = {"daily[2024-03-01]": Policy(auto="eager"), "daily[2024-03-02]": Policy(auto="eager"),
           "weekly": Policy(auto="lazy", freshness=3600)}
    end = at("2024-03-03T00:00:00Z")
    out = tick_requests(pol, up, {}, (), end, {"daily[2024-03-02]": end})
    assert out == [Request("daily[2024-03-02]", ("new partition 2024-03-02",))]
    out = tick_requests(pol, up, {}, (), end + 2 * H, {"daily[2024-03-02]": end})  # weekly lacks it for 2h
    assert [r.reasons for r in out] == [("new partition 2024-03-02",), ("lazy: needed for its freshness 1h",)]
    pol["x"] = Policy(auto="eager")
    assert tick_requests(pol, up, {}, (), end, {"x": end})[-1] == Request("x", ("eager: new asset",))
    pol["daily[2024-03-02]"] = Policy()
    assert tick_requests(pol, up, {}, (), end, {"daily[2024-03-02]": end}) == []  # auto=None: never


# --- the rule, against an independent model ----------------------------------------------------

def model(policies, upstream, changes, due, now, new=None):
    """The issue's rule written as plainly as possible: what each asset lacks is every change
    recorded on it or any asset upstream (what a build of it would bring: those on it or reaching
    it through lazy or eager assets); then the least set closed under each policy's ask."""
    def ancestors(a):
        seen, todo = set(), [a]
        while todo:
            x = todo.pop()
            if x in seen:
                continue
            seen.add(x)
            todo += [u for u in upstream.get(x, ()) if u in policies]
        return seen

    new = new or {}
    lacks = {a: [t for x in ancestors(a) for t in (*changes.get(x, {}).values(), *([new[x]] if x in new else []))]
             for a in policies}

    def reach(a):  # a, and what reaches it through lazy or eager assets only
        seen, todo = {a}, [a]
        while todo:
            for u in upstream.get(todo.pop(), ()):
                if u in policies and u not in seen and policies[u].auto in ("lazy", "eager"):
                    seen.add(u)
                    todo.append(u)
        return seen

    fixes = {a: [t for x in reach(a) for t in (*changes.get(x, {}).values(), *([new[x]] if x in new else []))]
             for a in policies}

    def late(a, f, lacked=lacks):  # (a change recorded later than now has no age: late now)
        return f is not None and any(age_ns(t, now) > f * NS for t in lacked[a])

    def feeds(x, d):  # a path x -> ... -> d whose assets after x are all lazy or eager
        todo = [x]
        seen = set()
        while todo:
            y = todo.pop()
            for z in (z for z in policies if y in upstream.get(z, ())):
                if z == d:
                    return True
                if z not in seen and policies[z].auto in ("lazy", "eager"):
                    seen.add(z)
                    todo.append(z)
        return False

    requested = set()
    while True:
        before = len(requested)
        for a, p in policies.items():
            if a in due and p.schedule is not None:
                requested.add(a)
            if p.auto == "eager" and (changes.get(a) or a in new or any(u in requested for u in upstream.get(a, ()))):
                requested.add(a)
            if p.auto == "lazy" and late(a, p.freshness, fixes):
                requested.add(a)
            if p.auto == "lazy" and any(q.auto in ("lazy", "eager") and late(d, q.freshness)
                                        and late(a, q.freshness, fixes) and feeds(a, d)
                                        for d, q in policies.items()):
                requested.add(a)
        if len(requested) == before:
            return requested


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 8))
    names = [f"a{i}" for i in range(n)]
    sources = ["s0", "s1"]
    upstream = {a: sorted(set(draw(st.lists(st.sampled_from(sources + names[:i]), max_size=3))))
                for i, a in enumerate(names)}
    policies = {a: Policy(auto=draw(st.sampled_from([None, "eager", "lazy"])),
                          freshness=draw(st.sampled_from([None, 1800.0, 3600.0, 7200.0])),
                          schedule=draw(st.sampled_from([None, "0 9 * * *"]))) for a in names}
    changes = {}
    for a in names:
        changed = draw(st.lists(st.sampled_from(upstream[a]), unique=True)) if upstream[a] else []
        if changed:
            changes[a] = {u: T0 + draw(st.integers(0, 4 * 3600)) * NS for u in changed}
    due = set(draw(st.lists(st.sampled_from(names), max_size=3)))
    new = {a: T0 + draw(st.integers(0, 4 * 3600)) * NS for a in draw(st.lists(st.sampled_from(names), max_size=2))}
    now = T0 + draw(st.integers(0, 6 * 3600)) * NS
    return policies, upstream, changes, due, now, new


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_tick_requests_match_the_model(scenario):
    policies, upstream, changes, due, now, new = scenario
    got = tick_requests(policies, upstream, changes, due, now, new)
    assert [r.asset for r in got] == sorted(model(policies, upstream, changes, due, now, new))
    for r in got:  # every request says why, in the words of the policy that asked
        p = policies[r.asset]
        assert r.reasons
        for reason in r.reasons:
            kind = reason.split(":")[0]
            assert kind == "schedule" and p.schedule or kind == p.auto or kind.startswith("new partition"), (r, p)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_nothing_fresh_is_requested(scenario):
    """An asset that lacks nothing (no change on it or upstream, nothing upstream rebuilt for its
    schedule) and has no due schedule is never requested, nor one with auto=None and no due
    schedule; and the answer does not depend on the order policies are given in."""
    policies, upstream, changes, due, now, new = scenario
    got = tick_requests(policies, upstream, changes, due, now, new)
    lacking = set()
    for a in sorted(policies, key=lambda n: int(n[1:])):  # a0, a1...: each after its inputs
        if changes.get(a) or a in new or any(u in lacking for u in upstream[a]) or a in due and policies[a].schedule:
            lacking.add(a)
    for r in got:
        p = policies[r.asset]
        if r.asset not in due or not p.schedule:
            assert p.auto is not None and r.asset in lacking, r
    assert got == tick_requests(dict(reversed(list(policies.items()))), upstream, changes, due, now, new)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_due_schedules_day_by_day(tz):
    """Stepping a daemon through a week of hourly ticks: exactly one due time per day."""
    last = None
    got = []
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    for h in range(7 * 24):
        now = int((start + timedelta(hours=h)).timestamp()) * NS
        due = due_schedules("0 9 * * *", tz, last, now)
        if last is not None:
            got += due
        last = now
    assert len(got) == 7
    assert all(datetime.fromtimestamp(t // NS, timezone.utc).minute in (0, 30) for t in got)


def test_a_held_asset_is_not_requested_and_pulls_no_eager_reader():
    pol = {"clean": Policy(auto="eager"), "daily": Policy(auto="eager"), "report": Policy(auto="eager")}
    up = {"clean": ["orders"], "daily": ["clean"], "report": ["daily", "other_src"]}
    assert [r.asset for r in tick_requests(pol, up, {"clean": {"orders": T0}}, (), NOW)] == ["clean", "daily", "report"]
    assert tick_requests(pol, up, {"clean": {"orders": T0}}, (), NOW, held={"clean"}) == []
    # a reader with a reason of its own is still requested
    out = tick_requests(pol, up, {"clean": {"orders": T0}, "report": {"other_src": T0}}, (), NOW, held={"clean"})
    assert out == [Request("report", ("eager: upstream other_src changed",))]
