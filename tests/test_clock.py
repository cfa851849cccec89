"""assetbuild.clock: "now" from the wall clock or ASSETBUILD_NOW, durations parsed and shown."""

from __future__ import annotations

import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from assetbuild import clock
from assetbuild.errors import ConfigError

MARCH_1 = 1709283600 * 10**9  # 2024-03-01T09:00:00Z


def test_wall_clock_without_the_variable(monkeypatch):
    monkeypatch.delenv("ASSETBUILD_NOW", raising=False)
    before = time.time_ns()
    assert before <= clock.now_ns() <= time.time_ns()


@pytest.mark.parametrize("value", ["2024-03-01T09:00:00Z", "2024-03-01T09:00:00z", "2024-03-01T09:00:00+00:00",
                                   "2024-03-01T10:00:00+01:00", "2024-03-01T04:00:00-05:00", "1709283600",
                                   " 1709283600 ", "1709283600.0", "2024-03-01 09:00:00Z"])
def test_the_variable_sets_now(monkeypatch, value):
    monkeypatch.setenv("ASSETBUILD_NOW", value)
    assert clock.now_ns() == MARCH_1
    assert clock.now() == MARCH_1 / 1e9


def test_fractions_of_seconds(monkeypatch):
    monkeypatch.setenv("ASSETBUILD_NOW", "1709283600.25")
    assert clock.now_ns() == MARCH_1 + 250_000_000
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-01T09:00:00.5Z")
    assert clock.now_ns() == MARCH_1 + 500_000_000


@pytest.mark.parametrize("value, ns", [
    ("2024-03-01T09:00:00.5Z", 500_000_000),
    ("2024-03-01T10:00:00.25+01:00", 250_000_000),
    ("2024-03-01T09:00:00,125Z", 125_000_000),  # ISO-8601 allows a comma
    ("2024-03-01 09:00:00.000001Z", 1_000),
    ("2024-03-01T09:00:00.123456789Z", 123_456_789),  # to the ns, not truncated to the µs
    ("2024-03-01T09:00:00.1234567891Z", 123_456_789),
])
def test_any_number_of_digits_of_a_second_on_every_python(monkeypatch, value, ns):
    """Python 3.10's ``fromisoformat`` takes a fraction of 3 or 6 digits only: the clock reads
    the fraction itself, so a value means the same time on every Python."""
    monkeypatch.setenv("ASSETBUILD_NOW", value)
    assert clock.now_ns() == MARCH_1 + ns


def test_a_new_value_is_read_at_once(monkeypatch):
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-01T09:00:00Z")
    assert clock.now_ns() == MARCH_1
    monkeypatch.setenv("ASSETBUILD_NOW", "2024-03-02T09:00:00Z")
    assert clock.now_ns() == MARCH_1 + 86400 * 10**9


def test_the_variable_is_seen_however_the_environment_is_changed(monkeypatch):
    """Set and unset in place (os.environ, putenv-backed), or os.environ replaced by another
    mapping (as some tests and tools do): now is what the variable says, at once."""
    monkeypatch.setitem(clock.os.environ, "ASSETBUILD_NOW", "1709283600")
    assert clock.now_ns() == 1709283600 * 10**9
    monkeypatch.delitem(clock.os.environ, "ASSETBUILD_NOW")
    assert abs(clock.now_ns() - time.time_ns()) < 60 * 10**9
    monkeypatch.setattr(clock.os, "environ", {"ASSETBUILD_NOW": "1709287200"})
    assert clock.now_ns() == 1709287200 * 10**9
    monkeypatch.setattr(clock.os, "environ", {})
    assert abs(clock.now_ns() - time.time_ns()) < 60 * 10**9


@pytest.mark.parametrize("value,says", [
    ("2024-03-01T09:00:00", "has no time zone"),
    ("2024-03-01", "has no time of day"),
    ("2026-03-01Z", "has no time of day"),  # said "has no time zone: add 'Z'"
    ("2026-03-01+01:00", "has no time of day"),
    ("20260301z", "has no time of day"),
    ("2026-W09-1Z", "has no time of day"),
    ("yesterday", "is not a time"),
    ("2024-13-01T09:00:00Z", "is not a time"),
    ("1e9", "is not a time"),
    ("99999999999999", "out of range"),
    ("9" * 5000, "out of range"),
    ("-5", "out of range"),  # (the store records unsigned nanoseconds: these crashed a build)
    ("-0.000000001", "out of range"),
    ("1969-12-31T23:59:59.999999999Z", "out of range"),
    ("1970-01-01T00:59:59+01:00", "out of range"),
    ("16725225600", "out of range"),
    ("2500-01-01T00:00:00Z", "out of range"),
    ("2600-01-01T00:00:00Z", "out of range"),
    ("9999-12-31T23:59:59Z", "out of range"),
])
def test_a_bad_value_is_one_clear_error(monkeypatch, value, says):
    monkeypatch.setenv("ASSETBUILD_NOW", value)
    with pytest.raises(ConfigError) as e:
        clock.now_ns()
    assert says in str(e.value)
    assert f"ASSETBUILD_NOW={value!r}" in str(e.value)
    assert e.value.exit_status == 2


@pytest.mark.parametrize("value, ns", [
    ("0", 0), ("-0", 0), ("1970-01-01T00:00:00Z", 0), ("1970-01-01T01:00:00+01:00", 0),
    ("16725225599.999999999", clock.END_NS - 1), ("2499-12-31T23:59:59.999999999Z", clock.END_NS - 1),
])
def test_the_range_the_store_can_record_is_accepted_to_its_ends(monkeypatch, value, ns):
    monkeypatch.setenv("ASSETBUILD_NOW", value)
    assert clock.now_ns() == ns
    assert clock.FIRST_NS <= ns < clock.END_NS < 2**64 - clock.MAX_SPAN_S * 10**9  # room for a span after it


def test_an_out_of_range_time_says_which_are_accepted(monkeypatch):
    monkeypatch.setenv("ASSETBUILD_NOW", "-5")
    with pytest.raises(ConfigError) as e:
        clock.now_ns()
    assert str(e.value) == ("ASSETBUILD_NOW='-5' is out of range: give a time from 1970-01-01T00:00:00Z up to "
                            "(not including) 2500-01-01T00:00:00Z (epoch seconds 0 to 16725225599)")


def test_an_age_from_a_time_later_than_now_is_no_age():
    """A recorded time after now (the clock was set back since): whatever is due after it is due."""
    assert clock.age_ns(MARCH_1, MARCH_1 + 5) == 5
    assert clock.age_ns(MARCH_1, MARCH_1) == 0
    assert clock.age_ns(MARCH_1 + 1, MARCH_1) == float("inf")
    assert clock.age_ns(MARCH_1 + 1, MARCH_1) > clock.MAX_SPAN_S * 10**9


def test_the_oldest_by_age_puts_a_time_later_than_now_first():
    """The oldest of several changes, by age: one recorded later than now has none, so it is
    older than any other (a min of the times chose a recent one and hid it)."""
    key = clock.by_age(MARCH_1)
    times = [MARCH_1 - 10, MARCH_1 + 7, MARCH_1 - 5, MARCH_1 + 3, MARCH_1]
    assert sorted(times, key=key) == [MARCH_1 + 3, MARCH_1 + 7, MARCH_1 - 10, MARCH_1 - 5, MARCH_1]
    assert min([MARCH_1 - 10, MARCH_1], key=key) == MARCH_1 - 10


@pytest.mark.parametrize("value,seconds", [
    (3600, 3600), (1.5, 1.5), ("30s", 30), ("90m", 5400), ("1h", 3600), ("2d", 172800), ("1w", 604800),
    ("1h30m", 5400), ("1h 30m", 5400), ("3600", 3600), ("0.5h", 1800),
])
def test_parse_duration(value, seconds):
    assert clock.parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, -5, True, None, "", "h", "1x", "1 hour", "-1h", float("inf"), float("nan"),
                                   [3600]])
def test_a_bad_duration_says_what_is_accepted(value):
    with pytest.raises(ValueError, match=r"positive number of seconds or a duration such as '30s', '90m'"):
        clock.parse_duration(value)


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (45, "45s"), (60, "1m"), (90, "1m 30s"), (3600, "1h"), (7500, "2h 5m"), (7205, "2h 1m"),
    (86400, "1d"), (90000, "1d 1h"), (-3, "0s"),
    (0.5, "0.5s"), (0.25, "0.25s"), (0.999999999999, "1s"), (1e-9, "0.000000001s"), (1e-12, "0s"),
    (1.5, "2s"), (3600.000000001, "1h 1m"), (3630, "1h 1m"), (3599.5, "1h"), (86399.5, "1d"),
])
def test_format_duration(seconds, text):
    assert clock.format_duration(seconds) == text


def test_a_span_past_a_limit_never_reads_as_the_limit():
    """1h 0m 1s old against a max_age of 1h read "built 1h ago; max_age 1h": exactly at the
    limit, which is fresh. A span measured is rounded up, a limit shown exactly."""
    assert (clock.format_duration(3601), clock.format_limit(3600)) == ("1h 1m", "1h")
    assert (clock.format_duration(88201), clock.format_limit(88200)) == ("1d 1h", "1d 30m")
    assert (clock.format_duration(3600), clock.format_limit(3600)) == ("1h", "1h")


@pytest.mark.parametrize("seconds,text", [
    (3600, "1h"), (5400, "1h 30m"), (88200, "1d 30m"), (3630, "1h 30s"), (90.5, "1m 30.5s"), (0.5, "0.5s"),
    (604800, "7d"), (90061, "1d 1h 1m 1s"), (1e-9, "0.000000001s"),
])
def test_format_limit_shows_a_declared_span_exactly(seconds, text):
    assert clock.format_limit(seconds) == text


_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def _shown(text: str) -> float:
    return sum(float(p[:-1]) * _UNIT_S[p[-1]] for p in text.split())


@given(st.integers(min_value=0, max_value=10**8) | st.floats(min_value=0, max_value=1, exclude_max=True))
def test_format_duration_never_understates(seconds):
    """Its units add up to at least the span, and to less than the span plus its last unit
    (under a second: exact to the ns); a span under a second is no '0s' unless under half a ns."""
    text = clock.format_duration(seconds)
    if seconds < 1 and text != "1s":
        assert abs(float(text[:-1]) - seconds) <= 0.5e-9 + 1e-15
        assert text != "0s" or seconds < 0.5e-9
        return
    parts = text.split()
    assert len(parts) <= 2
    shown = _shown(text)
    assert shown >= seconds
    assert shown - seconds < _UNIT_S[parts[-1][-1]] if len(parts) == 2 else shown - seconds < _UNIT_S[parts[0][-1]]


@given(st.integers(min_value=1, max_value=10**8), st.integers(min_value=1, max_value=10**8))
def test_a_span_shown_past_its_limit_reads_as_more(limit, extra_ns):
    """What ``status`` prints beside a limit (``built 1h 1m ago; max_age 1h``): any span past the
    limit reads as more than the limit, never as the limit itself."""
    span = limit + extra_ns / 1e9
    assume(span > limit)  # (a float that cannot hold the difference is the limit itself)
    assert _shown(clock.format_duration(span)) > _shown(clock.format_limit(limit))
    assert _shown(clock.format_limit(limit)) == limit


@pytest.mark.parametrize("value", [-3, -0.5, float("nan"), float("inf"), float("-inf"), 2e12, True, "5", None])
def test_a_span_that_is_no_span_is_named(value):
    """-3, NaN, the infinities, what overflows a wait or a date (beyond MAX_SPAN_S), a bool or a
    string: one ValueError naming the argument and the value (watch's debounce_ms took -3)."""
    with pytest.raises(ValueError, match=r"^debounce_ms must be a number of milliseconds, 0 or more, "
                                         r"at most 1e\+12 \(about 31 years\), got "):
        clock.check_span(value, "debounce_ms", "milliseconds", scale=0.001)


def test_a_span_within_its_range_is_a_float():
    assert clock.check_span(0, "older_than_days", "days", scale=86400) == 0.0
    assert clock.check_span(11574, "older_than_days", "days", scale=86400) == 11574.0
    assert clock.check_span(2.5, "remote_timeout", positive=True) == 2.5
    with pytest.raises(ValueError, match=r"^remote_timeout must be a positive number of seconds, at most 1e\+09"):
        clock.check_span(0, "remote_timeout", positive=True)
    with pytest.raises(ValueError, match=r"at most 11574.1 \(about 31 years\), got 11575"):
        clock.check_span(11575, "older_than_days", "days", scale=86400)


def test_a_duration_that_overflows_a_wait_is_refused():
    """``timeout="1e300"`` (or a tick, a poll) passed, then a wait on it overflowed (a traceback)."""
    assert clock.parse_duration(clock.MAX_SPAN_S) == clock.MAX_SPAN_S
    for value in (1e300, "99999999999", "99999999999s"):
        with pytest.raises(ValueError, match="at most 31 years"):
            clock.parse_duration(value)
