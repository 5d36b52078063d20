"""The site's calendar arithmetic (liveinsight/localtime.py): local bucket starts and calendar periods."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from liveinsight import localtime
from liveinsight.errors import InvalidRequest


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("zone,moment,unit,start", [
    pytest.param("America/New_York", "2026-11-01T05:30:00", "hour", "2026-11-01T05:00:00", id="ny-second-1am"),
    pytest.param("America/New_York", "2026-11-01T05:30:00", "day", "2026-11-01T04:00:00", id="ny-fall-day-edt-midnight"),
    pytest.param("America/New_York", "2026-03-08T07:10:00", "day", "2026-03-08T05:00:00", id="ny-spring-day"),
    pytest.param("Asia/Kolkata", "2026-06-01T10:29:59", "hour", "2026-06-01T09:30:00", id="kolkata-hour"),
    pytest.param("Asia/Kathmandu", "2026-06-01T10:14:00", "hour", "2026-06-01T09:15:00", id="kathmandu-hour"),
    pytest.param("Asia/Kathmandu", "2026-06-30T18:15:00", "month", "2026-06-30T18:15:00", id="kathmandu-month"),
    pytest.param("Europe/Berlin", "2026-10-25T00:59:59", "day", "2026-10-24T22:00:00", id="berlin-fall-day"),
    pytest.param("UTC", "2026-02-28T23:59:59", "month", "2026-02-01T00:00:00", id="utc-month"),
])
def test_a_bucket_starts_at_its_local_start(zone, moment, unit, start):
    assert localtime.bucket_start(utc(moment), unit, localtime.zone(zone)) == utc(start)


def test_local_days_have_23_24_or_25_hours_and_months_their_days():
    ny = localtime.zone("America/New_York")
    days = localtime.bucket_starts(utc("2026-03-07T05:00:00"), utc("2026-03-10T04:00:00"), "day", ny)
    assert [(b - a) / 3600 for a, b in zip(days, days[1:])] == [24, 23]
    months = localtime.bucket_starts(utc("2026-01-15T00:00:00"), utc("2026-04-15T00:00:00"), "month", ny)
    assert [datetime.fromtimestamp(m, ny).strftime("%b %d %H:%M %Z") for m in months] == [
        "Jan 01 00:00 EST", "Feb 01 00:00 EST", "Mar 01 00:00 EST", "Apr 01 00:00 EDT"]


@pytest.mark.parametrize("period,today,expected", [
    ("today", date(2026, 3, 31), (date(2026, 3, 31), date(2026, 3, 31), date(2026, 3, 31))),
    ("yesterday", date(2026, 3, 1), (date(2026, 2, 28), date(2026, 2, 28), date(2026, 2, 28))),
    ("this_month", date(2024, 2, 10), (date(2024, 2, 1), date(2024, 2, 29), date(2024, 2, 10))),
    ("last_month", date(2026, 1, 5), (date(2025, 12, 1), date(2025, 12, 31), date(2025, 12, 31))),
    ("year_to_date", date(2026, 3, 31), (date(2026, 1, 1), date(2026, 12, 31), date(2026, 3, 31))),
    ("last_12_months", date(2026, 3, 31), (date(2025, 4, 1), date(2026, 3, 31), date(2026, 3, 31))),
])
def test_calendar_periods_are_whole_local_days(period, today, expected):
    tz = ZoneInfo("Asia/Kolkata")
    now = datetime(today.year, today.month, today.day, 23, 59, tzinfo=tz).timestamp()  # 18:29 UTC: same day
    assert localtime.calendar_period(period, now, tz) == expected


@pytest.mark.parametrize("period,first,last,before", [
    ("this_month", date(2026, 3, 1), date(2026, 3, 31), (date(2026, 2, 1), date(2026, 2, 28))),
    ("last_month", date(2026, 5, 1), date(2026, 5, 31), (date(2026, 4, 1), date(2026, 4, 30))),
    ("this_week", date(2026, 11, 29), date(2026, 12, 5), (date(2026, 11, 22), date(2026, 11, 28))),
    ("yesterday", date(2026, 3, 1), date(2026, 3, 1), (date(2026, 2, 28), date(2026, 2, 28))),
    ("year_to_date", date(2026, 1, 1), date(2026, 12, 31), (date(2025, 1, 1), date(2025, 12, 31))),
    ("last_12_months", date(2025, 12, 1), date(2026, 11, 30), (date(2024, 12, 1), date(2025, 11, 30))),
])
def test_a_calendar_periods_predecessor_is_the_whole_period_before(period, first, last, before):
    assert localtime.predecessor(period, first, last) == before


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "america/new_york", "/usr/share/zoneinfo/UTC", "x" * 300])
def test_a_zone_tzdata_does_not_know_is_refused_naming_zone(name):
    with pytest.raises(InvalidRequest, match="`zone` must be an IANA time zone name"):
        localtime.zone(name)
