"""A site's calendar: IANA time zones, local bucket starts and calendar periods, as epoch seconds.

Every bucket is keyed by the UTC epoch second of its local start, so keys stay numbers that sort
and a Query reads a range whatever the zone:

* minute: the UTC minute (every zone in use has whole-minute offsets);
* hour: the local hour's start — a UTC hour for whole-hour offsets, shifted for :30 and :45 zones
  (Asia/Kolkata's hours start at hh:30 UTC); a DST change makes no gap and no double hour: the
  fall-back day has two 01:00 hours, two buckets, and the spring day has no 02:00;
* day: the local midnight, so a DST day covers 23 or 25 hours;
* month: the local midnight of the 1st.

The all-sites level and a site without a zone are UTC. Zone arithmetic goes through zoneinfo
(with the pinned tzdata package where the system has no zone files, as on Lambda).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .config import CALENDAR_PERIODS, WEEK_STARTS  # noqa: F401 (the calendar's names, defined in config)
from .errors import InvalidRequest

UTC_NAME = "UTC"
UTC = ZoneInfo(UTC_NAME)
UNITS = ("minute", "hour", "day", "month")
FIXED_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# Half a bucket: an item belongs to the local bucket holding its middle — its own bucket, or, for an
# item stored before its site's zone changed, the bucket it overlaps most (docs/data-model.md).
HALF_SECONDS = {"minute": 30, "hour": 1800, "day": 12 * 3600, "month": 15 * 86400}
ZONE_HELP = ("an IANA time zone name such as America/New_York, Europe/Berlin or UTC "
             "(the list: https://en.wikipedia.org/wiki/List_of_tz_database_time_zones)")


@lru_cache(maxsize=None)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str | None) -> ZoneInfo:
    """The zone of an IANA name (UTC for None or empty); InvalidRequest naming `zone` otherwise."""
    text = (name or "").strip()
    if not text or text == UTC_NAME:
        return UTC
    # A name must be one of tzdata's: zoneinfo would also open a path-like key such as "../x".
    if text not in _known_zones():
        raise InvalidRequest(f"`zone` must be {ZONE_HELP}, not {name!r}")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(f"`zone` must be {ZONE_HELP}, not {name!r}") from None


def is_utc(tz: ZoneInfo) -> bool:
    return tz is UTC or tz.key == UTC_NAME


def _local(ts: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, tz)


def _midnight(day: date, tz: ZoneInfo) -> int:
    """The epoch of the local midnight starting `day` (where midnight falls in a DST gap, the
    gap's end: zoneinfo reads a missing time with the offset before it)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


@lru_cache(maxsize=65536)
def _starts(minute: int, tz: ZoneInfo) -> tuple[int, int, int]:
    """(hour start, day start, month start) of the UTC minute `minute` (epoch // 60) in `tz`."""
    ts = minute * 60
    local = _local(ts, tz)
    offset = int(local.utcoffset().total_seconds())
    hour = ts - (ts + offset) % 3600
    return hour, _midnight(local.date(), tz), _midnight(local.date().replace(day=1), tz)


def bucket_start(ts: float, unit: str, tz: ZoneInfo = UTC) -> int:
    """The epoch of the start of the local `unit` (minute, hour, day, month) holding `ts`."""
    if unit == "minute":
        return int(ts // 60) * 60
    if is_utc(tz) and unit in FIXED_SECONDS:
        size = FIXED_SECONDS[unit]
        return int(ts // size) * size
    hour, day, month = _starts(int(ts // 60), tz)
    if unit == "hour":
        return hour
    if unit == "day":
        return day
    if unit == "month":
        return month
    raise ValueError(f"unknown unit {unit!r}")


def next_start(start: int, unit: str, tz: ZoneInfo = UTC) -> int:
    """The start of the bucket after the one starting at `start`."""
    if unit == "minute" or (unit in FIXED_SECONDS and is_utc(tz)):
        return start + FIXED_SECONDS[unit]
    if unit == "hour":
        # 3600 s later, except around a change of offset by 30 minutes (Lord Howe): then the first
        # local hour start after `start`, still strictly later.
        return bucket_start(start + 3600, "hour", tz)
    local = _local(start, tz).date()
    if unit == "day":
        return _midnight(local + timedelta(days=1), tz)
    if unit == "month":
        return _midnight(_month_back(local, -1), tz)
    raise ValueError(f"unknown unit {unit!r}")


def bucket_starts(start: float, end: float, unit: str, tz: ZoneInfo = UTC) -> list[int]:
    """Start of every local bucket overlapping [start, end) (the bucket of `start` when they are equal)."""
    first = bucket_start(start, unit, tz)
    last = bucket_start(end - 1e-6, unit, tz) if end > start else first
    out = [first]
    while out[-1] < last:
        out.append(next_start(out[-1], unit, tz))
    return out


def wall_clock_before(ts: float, days: int, tz: ZoneInfo) -> int:
    """The same local time `days` days before `ts` (across a DST change: 23 or 25 hours a day)."""
    return int((_local(ts, tz) - timedelta(days=days)).timestamp())


def months_before(ts: float, months: int, tz: ZoneInfo) -> int:
    """The local start of the month `months` before the month holding `ts`."""
    return _midnight(_month_back(local_date(ts, tz), months), tz)


def local_date(ts: float, tz: ZoneInfo) -> date:
    return _local(ts, tz).date()


def day_start(day: date, tz: ZoneInfo) -> int:
    """The epoch of the local midnight starting `day`."""
    return _midnight(day, tz)


def describe(tz: ZoneInfo, at: float) -> dict[str, str]:
    """{name, abbreviation, utc_offset} of the zone at `at`: `America/New_York`, `EST`, `-05:00`."""
    local = _local(at, tz)
    offset = int(local.utcoffset().total_seconds())
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return {"name": tz.key, "abbreviation": local.tzname() or tz.key, "utc_offset": f"{sign}{hours:02d}:{minutes:02d}"}


# -- calendar periods ----------------------------------------------------------------------

def _month_back(day: date, months: int) -> date:
    """The 1st of the month `months` before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def calendar_period(period: str, now: float, tz: ZoneInfo, week_start: int = 0,
                    earliest: float | None = None) -> tuple[date, date, date]:
    """(first day, last day of the whole period, last day so far) of a calendar period as of `now`,
    as local dates: `this_month` on Dec 10 is (Dec 1, Dec 31, Dec 10). `earliest`: all_time's start."""
    today = local_date(now, tz)
    if period == "today":
        return today, today, today
    if period == "yesterday":
        day = today - timedelta(days=1)
        return day, day, day
    if period == "this_week":
        first = today - timedelta(days=(today.weekday() - week_start) % 7)
        return first, first + timedelta(days=6), today
    if period == "this_month":
        return today.replace(day=1), _month_back(today, -1) - timedelta(days=1), today
    if period == "last_month":
        first = _month_back(today, 1)
        last = today.replace(day=1) - timedelta(days=1)
        return first, last, last
    if period == "year_to_date":
        return today.replace(month=1, day=1), today.replace(month=12, day=31), today
    if period == "last_12_months":
        return _month_back(today, 11), _month_back(today, -1) - timedelta(days=1), today
    if period == "all_time":
        first = local_date(earliest if earliest is not None else now, tz).replace(day=1)
        return first, today, today
    raise ValueError(f"unknown calendar period {period!r}")


def predecessor(period: str, first: date, last: date) -> tuple[date, date]:
    """The whole calendar period before (first, last): yesterday, last week, the month before,
    the same dates a year earlier (year to date), the 12 months before."""
    days = (last - first).days + 1
    if period in ("this_month", "last_month"):
        return _month_back(first, 1), first - timedelta(days=1)
    if period == "last_12_months":
        return _month_back(first, 12), first - timedelta(days=1)
    if period == "year_to_date":
        return first.replace(year=first.year - 1), last.replace(year=last.year - 1)
    return first - timedelta(days=days), first - timedelta(days=1)


def parse_date(name: str, text: str) -> date | None:
    """A local date `YYYY-MM-DD`, or None when `text` is not date-only (an instant)."""
    value = text.strip()
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"`{name}` must be a date YYYY-MM-DD (a local date of the site's zone), "
                             f"epoch seconds or an ISO 8601 time, not {text!r}") from None
