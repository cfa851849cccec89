"""Partition definitions and mappings, pure: keys of each kind at a given "now", windows across
DST changes, start/end alignment, ``--partitions`` parsing and the mappings' upstream keys."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from assetbuild import (
    AllPartitions,
    DailyPartitions,
    DynamicPartitions,
    FilePartitions,
    HourlyPartitions,
    In,
    LastN,
    MonthlyPartitions,
    StaticPartitions,
    TimeWindow,
    WeeklyPartitions,
)
from assetbuild.mappings import Mapper, MappingError, plan_mapping
from assetbuild.partitions import PartitionEnv, check_key, parse_keys, split_node, unknown_key


def at(iso: str, **kw) -> PartitionEnv:
    t = datetime.fromisoformat(iso).replace(tzinfo=timezone.utc)
    return PartitionEnv(int(t.timestamp()) * 1_000_000_000, **kw)


def hours_of(defn, env) -> list[tuple[str, float]]:
    keys, starts, ends = defn.windows(env.now_ns)
    return [(k, (e - s) / 3600) for k, s, e in zip(keys, starts, ends)]


def test_daily_keys_end_at_the_last_complete_day_and_a_day_later_add_one() -> None:
    days = DailyPartitions(start="2024-01-01")
    assert days.keys(at("2024-01-03T23:59:59")) == ["2024-01-01", "2024-01-02"]
    assert days.keys(at("2024-01-04T00:00:00")) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert days.keys(at("2023-12-31T00:00:00")) == []


def test_hourly_start_as_its_own_key_and_formats() -> None:
    hours = HourlyPartitions(start="2024-01-01-22:00")
    assert hours.keys(at("2024-01-02T01:30:00")) == ["2024-01-01-22:00", "2024-01-01-23:00", "2024-01-02-00:00"]
    assert MonthlyPartitions(start="2024-01").keys(at("2024-03-01")) == ["2024-01", "2024-02"]
    assert DailyPartitions(start=datetime(2024, 1, 1).date()).keys(at("2024-01-02")) == ["2024-01-01"]


def test_a_start_inside_a_window_is_refused_naming_the_boundaries_around_it() -> None:
    """Moving it to a boundary silently dropped January (or the first week): the user chooses."""
    assert WeeklyPartitions(start="2024-01-01").keys(at("2024-01-15"))[0] == "2024-01-01"
    assert MonthlyPartitions(start="2024-11").keys(at("2025-02-01")) == ["2024-11", "2024-12", "2025-01"]
    assert MonthlyPartitions(start="2024-01-01").keys(at("2024-03-01")) == ["2024-01", "2024-02"]
    with pytest.raises(ValueError, match=r"^WeeklyPartitions: start '2024-01-03' is not at the start of a week "
                       r"\(weeks start on Monday\): use start='2024-01-01' to include the week holding it, "
                       r"or '2024-01-08' to begin with the next whole one$"):
        WeeklyPartitions(start="2024-01-03")  # a Wednesday
    with pytest.raises(ValueError, match=r"start '2024-01-15' is not at the start of a month: use "
                       r"start='2024-01' .* or '2024-02' "):
        MonthlyPartitions(start="2024-01-15")
    with pytest.raises(ValueError, match=r"start='2024-01-01-10:00' .* or '2024-01-01-11:00' "):
        HourlyPartitions(start="2024-01-01T10:30")
    with pytest.raises(ValueError, match=r"start='2024-01-01' .* or '2024-01-02' "):
        DailyPartitions(start=datetime(2024, 1, 1, tzinfo=timezone.utc), timezone="Europe/Paris")  # 01:00 there


def test_end_bounds_the_windows_whatever_now() -> None:
    assert DailyPartitions(start="2024-01-01", end="2024-01-04").keys(at("2030-01-01")) == [
        "2024-01-01", "2024-01-02", "2024-01-03"]
    assert MonthlyPartitions(start="2023-11", end="2024-02").keys(at("2030-01-01")) == ["2023-11", "2023-12", "2024-01"]
    with pytest.raises(ValueError, match="not after start"):
        DailyPartitions(start="2024-01-05", end="2024-01-01")


def test_dst_paris_hourly_skips_and_merges_and_days_are_23_or_25_hours() -> None:
    spring = HourlyPartitions(start="2024-03-31", timezone="Europe/Paris")
    got = hours_of(spring, at("2024-03-31T03:00:00"))  # 05:00 summer time
    assert got == [("2024-03-31-00:00", 1), ("2024-03-31-01:00", 1), ("2024-03-31-03:00", 1), ("2024-03-31-04:00", 1)]
    autumn = HourlyPartitions(start="2024-10-27", timezone="Europe/Paris")
    got = dict(hours_of(autumn, at("2024-10-27T23:00:00")))  # midnight on the 28th, winter time
    assert got["2024-10-27-02:00"] == 2 and sum(got.values()) == 25 and len(got) == 24
    days = DailyPartitions(start="2024-03-30", timezone="Europe/Paris")
    assert [h for _, h in hours_of(days, at("2024-04-02"))] == [24, 23, 24]
    days = DailyPartitions(start="2024-10-26", timezone="Europe/Paris")
    assert [h for _, h in hours_of(days, at("2024-10-29"))] == [24, 25, 24]


def test_daily_reads_the_hours_it_overlaps_across_dst() -> None:
    env = at("2024-11-01")
    days = DailyPartitions(start="2024-03-30", timezone="Europe/Paris")
    hours = HourlyPartitions(start="2024-03-30", timezone="Europe/Paris")
    m = Mapper(plan_mapping(days, hours, None), days, hours, None, days.keys(env), hours.keys(env), env.now_ns)
    assert m.plan == "overlap"
    spring, autumn = m("2024-03-31"), m("2024-10-27")
    assert spring.many and len(spring.keys) == 23 and "2024-03-31-02:00" not in spring.keys
    assert len(autumn.keys) == 24 and autumn.keys == sorted(autumn.keys)
    assert m("2024-04-01").keys[0] == "2024-04-01-00:00" and len(m("2024-04-01").keys) == 24
    # a UTC day reads the Paris hours overlapping it (one straddles midnight UTC in winter... none here)
    utc_days = DailyPartitions(start="2024-01-01")
    m = Mapper(plan_mapping(utc_days, hours, None), utc_days, hours, None, utc_days.keys(env), hours.keys(env),
               env.now_ns)
    assert m("2024-06-01").keys[0] == "2024-06-01-02:00" and len(m("2024-06-01").keys) == 24


def test_static_dynamic_and_file_keys() -> None:
    assert StaticPartitions(["eu", "us", "apac"]).keys() == ["eu", "us", "apac"]
    for bad in ([], ["a", "a"], ["a,b"], ["a..b"], [""], "eu"):
        with pytest.raises(ValueError):
            StaticPartitions(bad)
    assert DynamicPartitions("customers").keys(at("2024-01-01", dynamic={"customers": ["b", "a"]})) == ["b", "a"]
    files = FilePartitions("data/raw/**/*.csv")
    env = at("2024-01-01", files=lambda p: ["data/raw/b.csv", "data/raw/2024/a.csv"])
    assert files.keys(env) == ["2024/a.csv", "b.csv"] and files.path("2024/a.csv") == "data/raw/2024/a.csv"
    for bad in ("/abs/*.csv", "../x/*.csv", "data/raw/a.csv", ""):
        with pytest.raises(ValueError):
            FilePartitions(bad)


def test_parse_keys_ranges_lists_and_nearest() -> None:
    keys = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    assert parse_keys("2024-01-02..2024-01-03", keys) == ["2024-01-02", "2024-01-03"]
    assert parse_keys("2024-01-04,2024-01-01", keys) == ["2024-01-04", "2024-01-01"]
    with pytest.raises(ValueError, match=r"no partition '2024-01-09' \(nearest: .*2024-01-04"):
        parse_keys("2024-01-01..2024-01-09", keys)
    with pytest.raises(ValueError, match="backwards"):
        parse_keys("2024-01-03..2024-01-01", keys)
    # a file key holding ',' or '..' is one key when it exists
    assert parse_keys("a,b.csv", ["a,b.csv", "c.csv"]) == ["a,b.csv"]
    assert parse_keys("x..y.csv", ["x..y.csv"]) == ["x..y.csv"]
    assert parse_keys(["b", "a", "b"], ["a", "b", "c"]) == ["b", "a"]  # a sequence: exact keys, none split
    with pytest.raises(ValueError, match="no partition 'a,b'"):
        parse_keys(["a,b"], ["a", "b"])
    with pytest.raises(ValueError, match="no partition 'a..b'"):
        parse_keys(("a..b",), ["a", "b"])
    assert split_node("daily[2024-01-01]") == ("daily", "2024-01-01") and split_node("a") == ("a", None)


@pytest.mark.parametrize("key", ["x/./y", "x//y", "/x", "x/", "x/.", "./x", "x/../y", "x\\y", ".", ""])
def test_a_key_is_one_spelling_of_one_relative_path(key) -> None:
    """``x/./y`` and ``x//y`` were accepted beside ``x/y``: the three wrote one file, and each
    build restored one partition's over another's."""
    with pytest.raises(ValueError, match=r"^StaticPartitions: .*" + re.escape(repr(key))):
        StaticPartitions(["x/y", key])
    for good in ("x/y", "x/.y", "a b/c", "2024-01-01-00:00"):
        assert check_key(good, "k") == good


def test_open_ranges_run_from_the_first_or_to_the_last_key() -> None:
    """``2024-01-03..`` said "no partition ''"."""
    keys = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    assert parse_keys("2024-01-03..", keys) == ["2024-01-03", "2024-01-04"]
    assert parse_keys("..2024-01-02", keys) == ["2024-01-01", "2024-01-02"]
    assert parse_keys("..", keys) == keys
    assert parse_keys("2024-01-04..,..2024-01-01", keys) == ["2024-01-04", "2024-01-01"]
    with pytest.raises(ValueError, match=r"^no partition '2024-01-09' \(nearest: "):
        parse_keys("2024-01-09..", keys)
    with pytest.raises(ValueError, match="no partition '2024-01-01': there are no partitions"):
        parse_keys("2024-01-01..", [])


def test_the_nearest_keys_are_those_a_typo_sorts_between_then_alike_ones() -> None:
    """difflib's matches came first and pushed out the key the typo sorts next to: an hour typed
    without ':00' did not name that hour, a day did not name the week holding it."""
    hours = HourlyPartitions(start="2024-02-26").keys(at("2024-04-02T05:00:00"))
    msg = unknown_key("2024-03-02-00", hours)
    assert msg.startswith("no partition '2024-03-02-00' (nearest: 2024-03-01-23:00, 2024-03-02-00:00, "), msg
    weeks = WeeklyPartitions(start="2024-01-01").keys(at("2024-04-02"))
    msg = unknown_key("2024-03-02", weeks)
    assert msg.startswith("no partition '2024-03-02' (nearest: 2024-02-26, 2024-03-04"), msg
    days = ["2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]
    assert unknown_key("2024-02-31", days) == ("no partition '2024-02-31' (nearest: 2024-01-31, 2024-02-01, "
                                               "2024-02-02; 5 in all, 2024-01-29 to 2024-02-02)")
    assert "nearest: apple, banana" in unknown_key("aple", ["banana", "apple", "cherry"])  # alike, and before


def _mapper(down, up, mapping, env):
    return Mapper(plan_mapping(down, up, mapping), down, up, mapping, down.keys(env) if down else [],
                  up.keys(env), env.now_ns)


def test_offset_last_n_and_static_mappings() -> None:
    env = at("2024-01-10")
    days = DailyPartitions(start="2024-01-01")
    prev = _mapper(days, days, TimeWindow(offset=-1), env)
    assert prev("2024-01-01").keys == [] and not prev("2024-01-01").many
    assert prev("2024-01-05").keys == ["2024-01-04"]
    last = _mapper(days, days, LastN(3), env)
    assert last("2024-01-01").keys == ["2024-01-01"] and last("2024-01-05").keys == ["2024-01-03", "2024-01-04",
                                                                                      "2024-01-05"]
    assert _mapper(None, days, LastN(2), env)(None).keys == ["2024-01-08", "2024-01-09"]
    assert _mapper(None, days, None, env)(None).keys == days.keys(env)
    assert _mapper(days, days, AllPartitions(), env)("2024-01-02").keys == days.keys(env)
    regions, countries = StaticPartitions(["eu", "us"]), StaticPartitions(["fr", "de", "us"])
    m = In("x", mapping={"eu": ["fr", "de"], "us": "us"}).mapping
    st = _mapper(regions, countries, m, env)
    assert st("eu").keys == ["fr", "de"] and st("us").keys == ["us"]
    with pytest.raises(MappingError, match="upstream key.*'nl'"):  # a typo in a static key
        plan_mapping(regions, countries, In("x", mapping={"eu": ["fr", "nl"]}).mapping)
    with pytest.raises(MappingError, match="downstream key.*'asia'"):
        plan_mapping(regions, countries, In("x", mapping={"asia": ["fr"]}).mapping)
    # dynamic keys come and go: a key not there now is not read
    dyn = DynamicPartitions("countries")
    env = at("2024-01-10", dynamic={"countries": ["fr", "us"]})
    m = In("x", mapping={"eu": ["fr", "de"], "us": "us"}).mapping
    assert _mapper(regions, dyn, m, env)("eu").keys == ["fr"]


def test_mappings_that_do_not_map_are_errors() -> None:
    with pytest.raises(MappingError):
        plan_mapping(StaticPartitions(["a"]), StaticPartitions(["b"]), None)
    with pytest.raises(MappingError):
        plan_mapping(StaticPartitions(["a"]), DailyPartitions(start="2024-01-01"), TimeWindow(-1))
    with pytest.raises(MappingError):
        plan_mapping(None, DailyPartitions(start="2024-01-01"), TimeWindow(-1))
    assert plan_mapping(StaticPartitions(["a"]), StaticPartitions(["a"]), None) == "identity"
    with pytest.raises(ValueError):
        In("x", mapping="nope")


def test_file_glob_matches_like_glob() -> None:
    files = FilePartitions("data/**/*.csv")
    assert [files.matches(p) for p in ("data/c.csv", "data/a/b/c.csv", "data/c.csv.json", "x/data/c.csv")] == [
        True, True, False, False]
    files = FilePartitions("data/raw/[!x]?.csv")
    assert [files.matches(p) for p in ("data/raw/ab.csv", "data/raw/xb.csv", "data/raw/a/b.csv")] == [
        True, False, False]


def test_time_window_offset_across_grains_counts_windows_of_the_coarser_grain() -> None:
    env = at("2024-03-05")
    hours, days = HourlyPartitions(start="2024-01-01"), DailyPartitions(start="2024-01-01")
    weeks, months = WeeklyPartitions(start="2024-01-01"), MonthlyPartitions(start="2024-01-01")
    yesterday = _mapper(days, hours, TimeWindow(offset=-1), env)
    got = yesterday("2024-01-03")
    assert got.many and got.keys == [f"2024-01-02-{h:02d}:00" for h in range(24)]
    assert yesterday("2024-01-01").keys == []  # before the first hour: an empty dict
    assert _mapper(weeks, days, TimeWindow(offset=-1), env)("2024-01-08").keys == [
        f"2024-01-0{d}" for d in range(1, 8)]
    assert len(_mapper(months, days, TimeWindow(offset=-1), env)("2024-02").keys) == 31
    # a finer reader: the day of its hour, moved back a day (yesterday, for every hour of today)
    assert _mapper(hours, days, TimeWindow(offset=-1), env)("2024-01-02-00:00").keys == ["2024-01-01"]
    assert _mapper(hours, days, TimeWindow(offset=-1), env)("2024-01-02-05:00").keys == ["2024-01-01"]
    assert _mapper(hours, days, TimeWindow(offset=-1), env)("2024-01-01-05:00").keys == []  # before the first day
    assert _mapper(days, months, TimeWindow(offset=-1), env)("2024-02-10").keys == ["2024-01"]
    # today (5 March) is not complete at "now", yet its hours read yesterday, a complete day
    assert _mapper(hours, days, TimeWindow(offset=-1), at("2024-03-05T01:00:00"))("2024-03-05-00:00").keys == [
        "2024-03-04"]
