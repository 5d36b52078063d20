"""GET /api/stats: totals, a time series and breakdowns of a range, from rollup items.

A request reads one Query of the rollup items of the filtered value over the range (hour
items, or day items for everything/sources/event types over day intervals), so its cost
follows the number of buckets, never the traffic. All sites together are the all-sites
level of the rollups (one Query however many sites there are); a page is per site, so a
page across all sites adds up the page in the PAGE_SITES sites with the most visits.
AND-combinations of filters read the slices inside the page (or source, page group, goal) items:
totals and the time series are exact, breakdowns are not kept per combination.

A site's answers are in its zone (liveinsight/localtime.py, liveinsight/zones.py): its local hours,
days and months (month items: a year is 12 items), calendar periods and local dates; all sites
together are UTC.
"""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import zip_longest
from typing import Any
from zoneinfo import ZoneInfo

from .. import config, localtime
from . import params as p
from ..config import Settings
from ..errors import InvalidRequest
from ..items import rollups as r
from ..items.rollups import SECONDS
from ..definitions import DefinitionsStore
from ..items.definitions import FUNNELS, GOALS, PAGE_GROUPS, Definitions, Goal
from ..localtime import CALENDAR_PERIODS, UTC, WEEK_STARTS
from ..store import Store
from ..zones import SiteZones

PERIODS = config.PERIOD_SECONDS
DEFAULT_PERIOD = "24h"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_RANGE_SECONDS = 400 * 86400
MAX_BUCKETS = {"minute": 1440, "hour": 24 * 45, "day": 401, "month": 15}
INTERVALS = (*SECONDS, "month")
SITES_LISTED = r.K_ALL  # `sites`: the sites with the most visits in the range, at most this many
PAGE_SITES = 25         # a page filter without `site` adds up this many sites (the most visited)
# The default interval of a calendar period (the site's own calendar, liveinsight/localtime.py).
CALENDAR_INTERVALS = {"today": "hour", "yesterday": "hour", "this_week": "day", "this_month": "day",
                      "last_month": "day", "year_to_date": "month", "last_12_months": "month", "all_time": "month"}
PLACE_FILTERS = ("country", "region", "city")
CAMPAIGN_FILTERS = tuple(r.CAMPAIGN_FILTERS)  # channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content
STATS_PARAMS = ("period", "from", "to", "interval", "page", "source", "event_type", *PLACE_FILTERS,
                *CAMPAIGN_FILTERS, "prop", "page_group", "goal", "funnel", "limit", "compare", "site", "week_start")
DEFINED = ("page_group", "goal")  # filters by a site's definitions, with a site: one, with `source` and `event_type`
COMPARE = ("previous", "year")  # `compare`: the previous period of equal length, or the range a year earlier
YEAR_SECONDS = 364 * 86400      # compare=year: 52 weeks earlier, so weekdays line up
ROLLUP_DAYS = 400               # hour and day rollups are kept this long (config.LONG_ROLLUP_TTL_SECONDS, less slack)
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
PARALLEL_QUERIES = 10  # a site's goals are read side by side: one Query each, waiting on DynamoDB


@dataclass(frozen=True)
class StatsQuery:
    """A validated stats request."""

    start: float
    end: float
    interval: str
    page: str | None = None
    source: str | None = None
    event_type: str | None = None
    limit: int = DEFAULT_LIMIT
    compare: str | None = None  # one of COMPARE
    site: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    campaign: tuple[str, str] | None = None  # (parameter, value) of a channel or UTM tag filter
    prop: tuple[str, str] | None = None      # (key, value) of a custom property of `event_type`
    page_group: str | None = None
    goal: str | None = None
    funnel: str | None = None
    tz: ZoneInfo = UTC              # the site's zone: buckets are its local hours, days and months
    period: str | None = None       # a calendar period (CALENDAR_PERIODS) when one was asked
    days: tuple[date, date] | None = None           # the calendar period's whole local days
    previous_days: tuple[date, date] | None = None  # compare=previous of a calendar period: its predecessor

    @property
    def combined(self) -> bool:
        return sum(v is not None for v in (self.page, self.source, self.event_type, self.page_group, self.goal)) > 1

    @property
    def offset(self) -> float:
        """How far the comparison range lies before the range (0 without `compare`)."""
        return {"previous": self.end - self.start, "year": YEAR_SECONDS}.get(self.compare or "", 0)


def default_interval(seconds: float, combined: bool = False) -> str:
    """minute up to 2 h (hour with combined filters), hour up to 3 days, day beyond."""
    if seconds <= 2 * 3600 and not combined:
        return "minute"
    if seconds <= 3 * 86400:
        return "hour"
    return "day"


def parse_bound(name: str, text: str, tz: ZoneInfo) -> float:
    """`from` / `to`: a local date of the site's zone (`to` inclusive: up to the next local midnight),
    or an instant (epoch seconds, ISO 8601)."""
    day = localtime.parse_date(name, text)
    if day is None:
        return p.parse_time(name, text)
    if name == "to":
        day = day + timedelta(days=1) if day < date.max else day
    try:
        return float(localtime.day_start(day, tz))
    except (OverflowError, ValueError, OSError):
        raise InvalidRequest(f"`{name}` {text!r} is outside the dates this API answers") from None


def calendar_range(period: str, now: float, tz: ZoneInfo, week_start: int = 0) -> tuple[float, float, tuple[date, date]]:
    """(start, end) of a calendar period of `tz` as of `now`, in epoch seconds (`end`: now while it lasts), and its
    whole (first day, last day); all_time starts with the oldest rollups kept (ROLLUP_DAYS)."""
    first, last, so_far = localtime.calendar_period(period, now, tz, week_start, earliest=now - ROLLUP_DAYS * 86400)
    start = float(localtime.day_start(first, tz))
    return start, min(now, float(localtime.day_start(so_far + timedelta(days=1), tz))), (first, last)


def parse_stats_query(params: dict[str, list[str]], now: float, settings: Settings,
                      tz: ZoneInfo = UTC) -> StatsQuery:
    """Validate GET /api/stats parameters into a StatsQuery; `tz`: the site's zone (its calendar)."""
    p.check_known(params, STATS_PARAMS)
    period = p.single(params, "period")
    start_text, end_text = p.single(params, "from"), p.single(params, "to")
    week_text = p.single(params, "week_start")
    if week_text is not None and week_text not in WEEK_STARTS:
        raise InvalidRequest(f"`week_start` must be one of {', '.join(WEEK_STARTS)}, not {week_text!r}")
    calendar: dict[str, Any] = {}
    if period is not None and (start_text is not None or end_text is not None):
        raise InvalidRequest("give either `period` or `from` and `to`, not both")
    if start_text is not None or end_text is not None:
        if start_text is None or end_text is None:
            raise InvalidRequest("`from` and `to` go together: give both (local dates YYYY-MM-DD, epoch seconds "
                                 "or ISO 8601)")
        start, end = parse_bound("from", start_text, tz), parse_bound("to", end_text, tz)
        if start > end:
            raise InvalidRequest("`from` is after `to`; give a range with from <= to")
        if end - start > MAX_RANGE_SECONDS + 3600:  # + the hour of a DST change in 400 local days
            raise InvalidRequest("the range is longer than 400 days; give `from` and `to` at most 400 days apart")
    elif period is not None and period in CALENDAR_PERIODS:
        start, end, days = calendar_range(period, now, tz, WEEK_STARTS[week_text or "monday"])
        calendar = {"period": period, "days": days}
    else:
        accepted = ", ".join((*PERIODS, *CALENDAR_PERIODS))
        if period is not None and not period.strip():  # Never a silent default: a share link checks `period`.
            raise InvalidRequest(f"`period` is empty; leave it out for the last {DEFAULT_PERIOD} or give one of "
                                 f"{accepted}")
        period = period or DEFAULT_PERIOD
        if period not in PERIODS:
            raise InvalidRequest(f"`period` must be one of {accepted}, not {period!r}")
        end = now
        start = now - PERIODS[period]
    filters = {}
    for name in ("page", "source", "event_type"):
        value = p.single(params, name)
        if value is not None and not value.strip():
            raise InvalidRequest(f"`{name}` is empty; leave it out or give an exact value")
        filters[name] = value
    place = _place_filter(params)
    if place and any(v is not None for v in filters.values()):
        raise InvalidRequest(f"`{next(iter(place))}` cannot be combined with `page`, `source` or `event_type`; "
                             "give a place alone, or the others without it")
    campaign = _campaign_filter(params)
    if campaign and (place or any(v is not None for v in filters.values())):
        raise InvalidRequest(f"`{campaign[0]}` cannot be combined with `page`, `source`, `event_type` or a place; "
                             "give it alone (with `site` and the range), or the others without it")
    prop = _prop_filter(params, filters)
    defined = {name: p.single(params, name) for name in (*DEFINED, "funnel")}
    for name, value in defined.items():
        if value is not None and not value.strip():
            raise InvalidRequest(f"`{name}` is empty; leave it out or give the name of one of the site's "
                                 f"{name.replace('_', ' ')}s (GET /api/definitions)")
    chosen = [name for name in DEFINED if defined[name] is not None]
    if chosen and (len(chosen) > 1 or place or campaign or prop or filters["page"] is not None):
        raise InvalidRequest(f"`{chosen[0]}` can be combined with `source` and `event_type` only; give it with "
                             "those (or alone), with `site` and the range")
    combined = sum(v is not None for v in filters.values()) + len(chosen) > 1
    in_place = "region" in place or "city" in place  # a slice of its country's items: no minute slots
    sliced = in_place or campaign is not None or prop is not None  # a slice or row of an item: no minute slots
    interval = p.single(params, "interval") or (CALENDAR_INTERVALS.get(calendar.get("period", ""))
                                                or default_interval(end - start, combined or sliced))
    if interval not in INTERVALS:
        raise InvalidRequest(f"`interval` must be one of {', '.join(INTERVALS)}, not {interval!r}")
    if interval == "minute" and sliced:
        name = "prop" if prop else campaign[0] if campaign else "city" if "city" in place else "region"
        raise InvalidRequest(f"interval=minute is not available for a `{name}`; use interval=hour")
    if interval == "minute" and combined:
        raise InvalidRequest("interval=minute is not available when filters are combined; "
                             "use interval=hour, or one filter")
    buckets = len(bucket_starts(start, end, interval, tz))
    if buckets > MAX_BUCKETS[interval]:
        raise InvalidRequest(f"interval={interval} gives {buckets} buckets for this range; at most "
                             f"{MAX_BUCKETS[interval]} are accepted: choose a longer interval or a shorter range")
    limit = p.whole_number(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT,
                           f"please provide `limit` as a number between 1 and {MAX_LIMIT}")
    compare = p.single(params, "compare")
    if compare not in (None, *COMPARE):
        raise InvalidRequest(f"`compare` accepts only 'previous' or 'year', not {compare!r}")
    if compare == "previous" and calendar.get("period") == "all_time":
        raise InvalidRequest("period=all_time has no previous period; leave out `compare` or give another period")
    if compare == "previous" and calendar:
        calendar["previous_days"] = localtime.predecessor(calendar["period"], *calendar["days"])
    if compare == "year" and start - YEAR_SECONDS < now - ROLLUP_DAYS * 86400:
        raise InvalidRequest(f"compare=year reaches before the {ROLLUP_DAYS} days of kept rollups: give a range "
                             f"starting within the last {ROLLUP_DAYS - YEAR_SECONDS // 86400} days")
    return StatsQuery(start=start, end=end, interval=interval, limit=limit, compare=compare,
                      site=p.site(params, settings), campaign=campaign, prop=prop, **defined, **filters, **place,
                      tz=tz, **calendar)


def _prop_filter(params: dict[str, list[str]], filters: dict[str, str | None]) -> tuple[str, str] | None:
    """`prop=<key>:<value>`, a custom property value of the `event_type` filtered alone: (key, value)."""
    text = p.single(params, "prop")
    if text is None:
        return None
    key, colon, value = text.partition(":")
    if not colon or not key.strip():
        raise InvalidRequest(f"`prop` must be <key>:<value>, a property of the event type such as plan:pro, "
                             f"not {text!r}")
    if filters["event_type"] is None or filters["page"] is not None or filters["source"] is not None:
        raise InvalidRequest("`prop` filters the events of one event type: give it with `event_type` "
                             "(and without `page` or `source`)")
    return key, value


def _campaign_filter(params: dict[str, list[str]]) -> tuple[str, str] | None:
    """The channel or UTM tag filter, (parameter, value), or None: at most one of them."""
    given = [(name, p.single(params, name)) for name in CAMPAIGN_FILTERS]
    given = [(name, value) for name, value in given if value is not None]
    for name, value in given:
        if not value.strip():
            raise InvalidRequest(f"`{name}` is empty; leave it out or give a value from the stats' "
                                 f"`{'channels' if name == 'channel' else name + 's'}` rows")
    if len(given) > 1:
        raise InvalidRequest(f"`{given[0][0]}` and `{given[1][0]}` cannot be combined; give one of "
                             f"{', '.join(CAMPAIGN_FILTERS)}")
    return given[0] if given else None


def _place_filter(params: dict[str, list[str]]) -> dict[str, str]:
    """The country / region / city filter ({} when none): one place, its parents consistent with it."""
    given = {name: p.single(params, name) for name in PLACE_FILTERS}
    place = {name: value.strip() for name, value in given.items() if value is not None}
    for name, value in place.items():
        if not value:
            raise InvalidRequest(f"`{name}` is empty; leave it out or give a value from the `{name}` rows")
    country = place.get("country")
    if country is not None and country != r.UNKNOWN_COUNTRY and not COUNTRY_CODE.match(country):
        raise InvalidRequest(f"`country` must be a two-letter ISO 3166-1 code such as US, or {r.UNKNOWN_COUNTRY}, "
                             f"not {country!r}")
    region = place.get("region")
    if region is not None and not re.match(r"^[A-Z]{2}-[A-Z0-9]{1,3}$", region):
        raise InvalidRequest(f"`region` must be an ISO 3166-2 code such as US-WA, not {region!r}")
    city = place.get("city")
    if city is not None and "/" not in city:
        raise InvalidRequest(f"`city` must be a `city` value of the stats' cities rows, such as US-WA/Seattle, "
                             f"not {city!r}")
    inner = {"region": city.split("/", 1)[0] if city else None}
    inner["country"] = (region or inner["region"] or "").split("-", 1)[0] or None
    for name in ("region", "country"):
        if place.get(name) is not None and inner[name] is not None and place[name] != inner[name]:
            raise InvalidRequest(f"`{name}` {place[name]!r} does not contain the place given with it; "
                                 "give one place, or consistent ones")
    return place



def bucket_starts(start: float, end: float, interval: str, tz: ZoneInfo = UTC) -> list[int]:
    """Start of every local bucket overlapping [start, end) (the bucket of `start` when they are equal)."""
    return localtime.bucket_starts(start, end, interval, tz)


def _aligned(q: StatsQuery, buckets: list[int]) -> list[int | None]:
    """The comparison bucket of each bucket: compare=previous, the bucket a whole number of buckets earlier
    (a calendar period: the same day, hour or month of its predecessor; None past the predecessor's end);
    compare=year, the same local time 52 weeks (with interval=month 12 months) earlier."""
    tz, unit = q.tz, q.interval
    if q.previous_days is not None:
        before = bucket_starts(localtime.day_start(q.previous_days[0], tz),
                               localtime.day_start(q.previous_days[1] + timedelta(days=1), tz), unit, tz)
        return [before[i] if i < len(before) else None for i in range(len(buckets))]
    if q.compare == "year":
        if unit == "month":
            return [localtime.months_before(b, 12, tz) for b in buckets]
        days = YEAR_SECONDS // 86400
        return [localtime.bucket_start(localtime.wall_clock_before(b, days, tz), unit, tz) for b in buckets]
    size = MONTH_SECONDS if unit == "month" else SECONDS[unit]
    steps = -(-int(q.offset) // size)  # `offset` rounded up to whole buckets
    if unit in ("day", "month") and not localtime.is_utc(tz):
        steps = max(1, round(q.offset / size))  # local days of 23 or 25 hours: the nearest whole number
    if unit == "day":
        return [localtime.day_start(localtime.local_date(b, tz) - timedelta(days=steps), tz) for b in buckets]
    if unit == "month":
        return [localtime.months_before(b, steps, tz) for b in buckets]
    return [localtime.bucket_start(b - steps * size, unit, tz) for b in buckets]


MONTH_SECONDS = 31 * 86400  # compare=previous with interval=month on a rolling range: whole months back


def _count(series: dict[int, list], bucket: int | None, index: int) -> int | None:
    """A count of a comparison bucket; None where the predecessor has no such bucket (a 30-day month's 31st)."""
    return None if bucket is None else int(series[bucket][index])


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


def _ranked(rows: dict[str, list], limit: int, label: str, fields: tuple[str, ...], order: int = 0) -> list[dict]:
    out = []
    for name, values in rows.items():
        row = {label: name}
        row.update({f: _num(v) for f, v in zip(fields, values)})
        if any(row[f] for f in fields):
            out.append(row)
    out.sort(key=lambda row: (-row[fields[order]], -sum(row[f] for f in fields), str(row[label])))
    return out[:limit]


def totals(vector: list, with_duration: bool = True) -> dict[str, Any]:
    """The API's totals from [events, page views, sessions, bounces, duration, bots, visitors]
    (a slice has no visitors: None); `with_duration` False: items that count no visit duration
    (`rollups.MOVING_DIMS`), whose average is then None."""
    events, views, sessions, bounces, duration = vector[:5]
    engaged = _mean(vector, r.ENG, r.ENC)
    return {
        "visitors": int(vector[r.VI]) if len(vector) > r.VI else None,
        "time_on_page": engaged,
        "scroll_depth": _mean(vector, r.SCR, r.SCC),
        "events": int(events),
        "page_views": int(views),
        "sessions": int(sessions),
        "bounce_rate": round(bounces / sessions, 4) if sessions else 0.0,
        "avg_session_duration": None if not with_duration else round(duration / sessions, 1) if sessions else 0.0,
        "views_per_session": round(views / sessions, 2) if sessions else 0.0,
    }


BREAKDOWNS = (  # (response field, breakdown, row label, fields)
    ("page_groups", r.PAGE_GROUPS, "page_group", ("page_views", "sessions", "visitors")),
    ("event_types", r.EVENT_TYPES, "event_type", ("count",)),
    ("sources", r.SOURCES, "source", ("sessions", "page_views", "visitors")),
    ("referrers", r.REFERRERS, "referrer", ("sessions",)),
    ("pages", r.PAGES, "page", ("page_views", "sessions", "visitors")),
    ("entry_pages", r.ENTRY_PAGES, "page", ("sessions",)),
    ("exit_pages", r.EXIT_PAGES, "page", ("sessions",)),
    ("campaigns", r.CAMPAIGNS, "campaign", ("sessions",)),
    ("browsers", r.BROWSERS, "name", ("sessions",)),
    ("operating_systems", r.OPERATING_SYSTEMS, "name", ("sessions",)),
    ("devices", r.DEVICES, "name", ("sessions",)),
    ("utm_sources", r.UTM_SOURCES, "utm_source", ("sessions",)),
    ("utm_mediums", r.UTM_MEDIUMS, "utm_medium", ("sessions",)),
    ("utm_terms", r.UTM_TERMS, "utm_term", ("sessions",)),
    ("utm_contents", r.UTM_CONTENTS, "utm_content", ("sessions",)),
)
PLACES = (  # (response field, breakdown, row label); rows: sessions, page views, visitors, bounce rate
    ("countries", r.COUNTRIES, "country"),
    ("regions", r.REGIONS, "region"),
    ("cities", r.CITIES, "city"),
)
# The breakdowns whose rows count visitors, per filtered dimension: a visitor is counted under a
# value in the items of everything, and under its places in the items of the places around them.
VISITOR_ROWS = {r.ALL: set(r.VISITORS_AT), r.COUNTRY: {r.REGIONS, r.CITIES}}


def _place_rows(rows: dict[str, list], limit: int, label: str, with_visitors: bool) -> list[dict]:
    """Rows of countries / regions / cities, most visitors (or visits) first; "Unknown" places left out
    of regions and cities."""
    out = []
    for name, vector in rows.items():
        sessions, views, visitors, bounces = (list(vector) + [0] * 4)[:4]
        if not (sessions or views or visitors):
            continue
        row: dict[str, Any] = {label: name}
        if label == "city":
            region_or_country, row["name"] = name.split("/", 1)
            row["region"] = region_or_country if "-" in region_or_country else None
            row["country"] = region_or_country.split("-", 1)[0]
        elif label == "region":
            row["country"] = name.split("-", 1)[0]
        if with_visitors:
            row["visitors"] = int(visitors)
        row.update(sessions=int(sessions), page_views=int(views),
                   bounce_rate=round(bounces / sessions, 4) if sessions > 0 else 0.0)
        out.append(row)
    out.sort(key=lambda row: (-row.get("visitors", 0), -row["sessions"], -row["page_views"], str(row[label])))
    return out[:limit]


def properties(blobs: list[dict], limit: int) -> list[dict]:
    """The custom properties of an event type's items: per key, its `limit` values with the most events
    ([events, visitors] each) and an exact "other" (events of every value not listed; visitors summed
    over them)."""
    out = []
    names = sorted({name for blob in blobs for name in blob.get("b", {}) if name.startswith(r.PROP_PREFIX)})
    for name in names:
        rows = r.merged_breakdown(blobs, name)
        ranked = sorted(rows.items(), key=lambda row: (-row[1][0], -row[1][1] if len(row[1]) > 1 else 0, row[0]))
        other = r.sum_vectors([vector for _, vector in ranked[limit:]] +
                              [blob["b"][name].get("o") or [] for blob in blobs if name in blob.get("b", {})],
                              r.PROP_LEN)
        values = [{"value": value, "events": int(vector[0]), "visitors": int((list(vector) + [0])[1])}
                  for value, vector in ranked[:limit] if vector[0] > 0]
        if values or other[0] > 0:
            out.append({"key": name[len(r.PROP_PREFIX):], "values": values,
                        "other": {"events": int(other[0]), "visitors": int(other[1])}})
    return out


def _channel_rows(rows: dict[str, list], limit: int) -> list[dict]:
    """Channel rows (GA4's default channels), most visits first: visitors, sessions, bounce rate."""
    out = []
    for name, vector in rows.items():
        sessions, visitors, bounces = (list(vector) + [0] * 3)[:3]
        if sessions > 0:
            out.append({"channel": name, "visitors": int(visitors), "sessions": int(sessions),
                        "bounce_rate": round(bounces / sessions, 4)})
    out.sort(key=lambda row: (-row["sessions"], -row["visitors"], row["channel"]))
    return out[:limit]


def _rate(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def data_vector(data: dict[str, Any]) -> list:
    """The answer's totals back as a totals vector (events, page views, sessions; visitors in VI)."""
    totals = data["totals"]
    vector = [0] * r.TOTALS_LEN
    vector[r.EV], vector[r.PV], vector[r.SS] = totals["events"], totals["page_views"], totals["sessions"]
    vector[r.VI] = totals["visitors"] or 0
    return vector


def _goal_numbers(name: str, total: list, blobs: list[dict], visitors: int) -> dict[str, Any]:
    """A goal's conversions (events), unique conversions (visitors), converting visits, conversion rate
    (converting visitors ÷ `visitors`) and revenue per currency (never summed across currencies)."""
    unique = int(total[r.VI])
    revenue = []
    for currency, vector in sorted(r.merged_breakdown(blobs, r.REVENUE).items()):
        amount, count = (list(vector) + [0, 0])[:2]
        if count:
            revenue.append({"currency": currency, "total": round(amount / 1000, 3),
                            "average": round(amount / 1000 / count, 3), "conversions": int(count)})
    return {"name": name, "visitors": unique, "conversions": int(total[r.EV]), "visits": int(total[r.SS]),
            "conversion_rate": _rate(unique, visitors), "revenue": revenue}


def _sliced_goal_numbers(q: StatsQuery, data: dict[str, Any], blobs: list[dict], goal: Goal) -> dict[str, Any]:
    """A goal with `source` and/or `event_type`: the slice's conversions and converting visits (the answer's
    totals). Visitors, and so the conversion rate, are not counted per slice (None), nor revenue per event
    type (None); with a source alone, `revenue_by_source` is that source's rows: its converting visits'."""
    totals = data["totals"]
    return {"name": q.goal, "visitors": None, "conversions": totals["events"], "visits": totals["sessions"],
            "conversion_rate": None, "revenue": None, "since": goal.since, "counted_from": goal.counted_from,
            "revenue_by_source": _revenue_by_source(blobs, q.limit, q.source) if q.event_type is None else None}


def _revenue_by_source(blobs: list[dict], limit: int, only: str | None = None) -> list[dict[str, Any]]:
    """Revenue per source and currency of a goal's converting visits, largest first (of source `only`)."""
    rows = []
    for key, vector in r.merged_breakdown(blobs, r.REVENUE_SOURCES).items():
        source, _, currency = key.rpartition("\t")
        if vector[0] and only in (None, source):
            rows.append({"source": source, "currency": currency, "revenue": round(vector[0] / 1000, 3)})
    rows.sort(key=lambda row: (-row["revenue"], row["source"], row["currency"]))
    return rows[:limit]


def _mean(vector: list, total: int, count: int) -> float | None:
    """total / count of a vector's engagement columns, to one decimal; None when nothing was reported."""
    if len(vector) <= count or not vector[count]:
        return None
    return round(vector[total] / vector[count], 1)


def _add(into: list, vector: list) -> list:
    """`into` plus `vector`, kept at `into`'s length (older items have shorter vectors)."""
    return [a + b for a, b in zip_longest(into, vector[:len(into)], fillvalue=0)]


def ranked_sites(blobs: list[dict], limit: int = SITES_LISTED) -> list[str]:
    """The sites of all-sites items' `st` breakdown, most visits first (events without a page left out)."""
    rows = r.merged_breakdown(blobs, r.SITES)
    rows.pop(r.NO_SITE, None)
    return [name for name, _ in sorted(rows.items(), key=lambda row: (-row[1][0], -row[1][1], row[0]))][:limit]


def top_sites(store: Store, settings: Settings, start: float, end: float, limit: int = SITES_LISTED) -> list[str]:
    """The sites with the most visits in [start, end] (one Query of all-sites items: hours up to
    3 days, whole days beyond), whatever the number of sites; a single-site deployment's one site."""
    if settings.only_site:
        return [settings.only_site]
    unit = "hour" if end - start <= 3 * 86400 else "day"
    granularity = r.HOUR if unit == "hour" else r.DAY
    items = store.query(settings.stats_table, r.pk(r.ALL_SITES, r.ALL), r.sk(granularity, r.bucket_start(start, unit)),
                        r.sk(granularity, r.bucket_start(end, unit)))
    return ranked_sites([r.decode(item.get("c")) for item in items], limit)


class StatsReader:
    """Answers GET /api/stats from the stats table."""

    def __init__(self, store: Store, settings: Settings | None = None):
        self.store = store
        self.settings = settings or store.settings
        self.definitions = DefinitionsStore(store, self.settings)

    def answer(self, params: dict[str, list[str]], now: float | None = None,
               sites: list[str] | None = None) -> dict[str, Any]:
        """The answer to `params`; `sites`: the sites with data, when the caller read them already
        (reports and alerts ask several ranges in a row: one Query of the sites saved per answer)."""
        now = time.time() if now is None else now
        site = p.site(params, self.settings) or self.settings.only_site  # its zone is the answer's calendar
        q = parse_stats_query(params, now, self.settings, SiteZones(self.store, self.settings).get(site))
        tz = q.tz
        definitions = self._definitions(q)
        if q.page_group is not None or q.goal is not None:  # with a source or event type: a slice, as a page's
            dim, value = (r.PAGE_GROUP, q.page_group) if q.page_group is not None else (r.GOAL, q.goal)
            part = r.slice_key(q.source, q.event_type) if (q.source or q.event_type) else None
        elif q.page is not None:
            dim, value = r.PAGE, r.label(q.page)
            part = r.slice_key(q.source, q.event_type) if (q.source or q.event_type) else None
        elif q.source is not None:
            dim, value, part = r.SOURCE, q.source, r.slice_key(event_type=q.event_type) if q.event_type else None
        elif q.event_type is not None:
            dim, value, part = r.EVENT_TYPE, q.event_type, None
        elif q.city is not None or q.region is not None:  # a slice of the country's items
            place = q.city or q.region
            dim, value, part = r.COUNTRY, r.country_of(place), r.place_slice(place)
        elif q.country is not None:
            dim, value, part = r.COUNTRY, q.country, None
        elif q.campaign is not None:  # a slice of everything's items
            dim, value, part = r.ALL, None, r.campaign_slice(r.CAMPAIGN_FILTERS[q.campaign[0]], q.campaign[1])
        else:
            dim, value, part = r.ALL, None, None
        buckets = bucket_starts(q.start, q.end, q.interval, tz)
        # `aligned`: the comparison bucket of each bucket (the same count, a whole number of buckets earlier;
        # a calendar period's predecessor day by day, None where it is shorter). previous_totals add up
        # `previous`: with compare=previous the buckets of the equal period before the range (as ever) — of a
        # calendar period its whole predecessor, or as much of it as the period has had so far —, with
        # compare=year the aligned ones.
        aligned = _aligned(q, buckets) if q.compare else []
        if q.previous_days is not None:
            whole = q.end >= localtime.day_start(q.days[1] + timedelta(days=1), tz)
            previous = bucket_starts(localtime.day_start(q.previous_days[0], tz),
                                     localtime.day_start(q.previous_days[1] + timedelta(days=1), tz), q.interval, tz) \
                if whole else [a for a in aligned if a is not None]
        else:
            local_days = q.interval in ("day", "month") and not localtime.is_utc(tz)
            previous = [a for a in aligned if a is not None] if q.compare == "year" or local_days else (
                bucket_starts(q.start - (q.end - q.start), q.start, q.interval, tz) if q.compare else [])
        previous = [b for b in previous if b < buckets[0]]
        # Month items of a value are thin (totals only): slices (combined filters, places) read day items.
        item_unit = "hour"
        if q.interval in ("day", "month") and dim in r.DAY_DIMS:
            item_unit = q.interval if q.interval == "day" or part is None else "day"
        thin = r.is_thin(r.MONTH, dim) and item_unit == "month"
        # A page's months: its row in the site's month items of everything, read from its hour items only
        # for a month whose row is not exact (see `_page_months`); no breakdowns, as a value's month items.
        page_months = dim == r.PAGE and part is None and not q.prop and q.interval == "month" \
            and bool(q.site or self.settings.only_site)
        if page_months:
            item_unit, thin = "month", True
        last = localtime.next_start(buckets[-1], q.interval, tz) - 1
        compared = [a for a in aligned if a is not None]
        # One Query over the range; the comparison range is one more (compare=previous: the same Query, from
        # further back, as the two ranges touch).
        spans = [(min(previous + compared + buckets), last)] if q.compare != "year" else [
            (buckets[0], last), (compared[0], localtime.next_start(compared[-1], q.interval, tz) - 1)]
        first = spans[0][0]
        blobs: list[tuple[int, dict]] = []
        granularity = {"day": r.DAY, "month": r.MONTH}.get(item_unit, r.HOUR)
        half = localtime.HALF_SECONDS[item_unit]
        site = q.site or self.settings.only_site
        listed = sites if sites is not None else (
            None if site is None and dim == r.ALL else top_sites(self.store, self.settings, first, last))
        if site:
            levels = [site]
        elif dim in r.ALL_SITES_DIMS:
            levels = [r.ALL_SITES]
        else:
            levels = listed[:PAGE_SITES]
        for site in levels:
            for low, high in spans:
                if page_months:
                    blobs += self._page_months(site, value, low, high, tz)
                    continue
                # Half an item wider each side: items stored before the site's zone changed start off the
                # zone's bucket starts, and belong to the bucket holding their middle.
                for item in self.store.query(self.settings.stats_table, r.pk(site, dim, value),
                                             r.sk(granularity, localtime.bucket_start(low, item_unit, tz) - half),
                                             r.sk(granularity, localtime.bucket_start(high, item_unit, tz) + half - 1)):
                    blobs.append((int(item["sk"].split("#")[1]), r.decode(item.get("c"))))
        length = r.SLICE_LEN if part else r.TOTALS_LEN
        if q.prop:  # the value's row of the property in each bucket: its events and visitors
            blobs = [(start, {"t": r.prop_totals(blob, *q.prop)}) for start, blob in blobs]
        series: dict[int, list] = {b: [0] * length for b in previous + compared + buckets}
        range_end = last + 1
        in_range: list[dict] = []
        for start, blob in blobs:
            if q.interval == "minute":
                for minute, vector in blob.get("m", {}).items():
                    t = start + 60 * int(minute)
                    if t in series:
                        series[t] = _add(series[t], r.minute_totals(vector))
            else:
                t = localtime.bucket_start(start + half, q.interval, tz)  # the bucket of the item's middle
                if t in series:
                    vector = r.slice_totals(blob, part) if part else r.totals(blob)
                    series[t] = _add(series[t], vector)
            if (localtime.next_start(start, item_unit, tz) > buckets[0] and start < range_end) \
                    if q.interval == "minute" else buckets[0] <= start + half < range_end:
                in_range.append(blob)
        in_place = q.city is not None or q.region is not None
        sliced = in_place or q.campaign is not None  # breakdowns are not kept per place or campaign slice
        if sliced:  # a place's or campaign's slice: visitors counted, as in a totals vector
            series = {b: r.place_totals(vector) for b, vector in series.items()}
            length, part = r.TOTALS_LEN, None
        total = r.sum_vectors((series[b] for b in buckets), length)
        if q.interval == "minute" and length == r.TOTALS_LEN:  # minute slots hold no engagement: the hours' items do
            hours = r.sum_vectors((r.totals(blob) for blob in in_range), r.TOTALS_LEN)
            total[r.ENG:r.SCC + 1] = hours[r.ENG:r.SCC + 1]
        moving = dim in r.MOVING_DIMS  # a visit's duration and exit page are counted in these items only
        data: dict[str, Any] = {
            "range": {"from": q.start, "to": q.end, "interval": q.interval},
            "zone": localtime.describe(tz, now),
            "totals": totals(total, moving),
        }
        if q.period is not None:  # a calendar period: its name and its whole local days
            data["range"].update(period=q.period, first_day=q.days[0].isoformat(), last_day=q.days[1].isoformat(),
                                 days=(q.days[1] - q.days[0]).days + 1)
        if q.previous_days is not None:  # its predecessor, day by day (a 31-day month against a 30-day one)
            first_day, last_day = q.previous_days
            data["previous_range"] = {"first_day": first_day.isoformat(), "last_day": last_day.isoformat(),
                                      "days": (last_day - first_day).days + 1,
                                      "from": localtime.day_start(first_day, tz),
                                      "to": localtime.next_start(previous[-1], q.interval, tz) if previous
                                      else localtime.day_start(first_day, tz)}
        if q.compare:
            data["previous_totals"] = totals(r.sum_vectors((series[b] for b in previous), length), moving)
        data["timeseries"] = [{"t": b, "visitors": None if part else int(series[b][r.VI]),
                               "events": int(series[b][r.EV]), "page_views": int(series[b][r.PV]),
                               "sessions": int(series[b][r.SS])} for b in buckets]
        if q.compare:
            data["previous_timeseries"] = [
                {"t": b, "t_previous": a, "visitors": None if part or a is None else int(series[a][r.VI]),
                 "events": _count(series, a, r.EV), "page_views": _count(series, a, r.PV),
                 "sessions": _count(series, a, r.SS)} for b, a in zip(buckets, aligned)]
        counted = VISITOR_ROWS.get(dim, set())
        for field, name, row_label, fields in BREAKDOWNS:
            rows = {} if part or sliced else r.merged_breakdown(in_range, name)
            if "visitors" in fields and name not in counted:
                fields = tuple(f for f in fields if f != "visitors")
            data[field] = _ranked(rows, q.limit, row_label, fields) if moving or name != r.EXIT_PAGES else None
            if field == "pages" and dim == r.ALL and not sliced:  # engagement is counted in everything's items
                for row in data[field]:
                    vector = rows.get(row["page"], [])
                    row["time_on_page"] = _mean(vector, 3, 4)
                    row["scroll_depth"] = _mean(vector, 5, 6)
        for field, name, row_label in PLACES:
            rows = {} if part or q.campaign else r.merged_breakdown(in_range, name)
            if in_place:  # the country's rows of the place, and of the cities inside a region
                place = q.city or q.region
                rows = {} if name == r.COUNTRIES else {
                    label: vector for label, vector in rows.items()
                    if label == place or (name == r.CITIES and label.startswith(f"{place}/"))
                    or (name == r.REGIONS and q.city is not None and q.city.startswith(f"{label}/"))}
            data[field] = _place_rows(rows, q.limit, row_label, name in counted)
            if r.GEO_BREAKDOWNS.get(dim) == name:  # the filtered place's own row: its visitors are the totals'
                for row in data[field]:
                    if row[row_label] == value:
                        row["visitors"] = data["totals"]["visitors"]
        data["channels"] = _channel_rows({} if part or sliced or dim not in (r.ALL, r.GOAL)
                                         else r.merged_breakdown(in_range, r.CHANNELS), q.limit)
        data["properties"] = properties(in_range, q.limit) if dim == r.EVENT_TYPE and part is None else []
        data["bots_filtered"] = 0 if part or sliced else int(sum(r.totals(b)[r.BOT] for b in in_range))
        if thin:  # a value's month items keep its totals only: its rows need interval=day
            data["breakdowns_omitted"] = True
        data["sites"] = sorted(s for s in (listed if listed is not None else ranked_sites(in_range)) if s != r.NO_SITE)
        data["goals"] = []
        if definitions is not None:
            self._answer_definitions(data, q, definitions, in_range, dim, part or sliced or q.prop)
        return data

    def _page_months(self, site: str, page: str, low: float, high: float, tz: ZoneInfo) -> list[tuple[int, dict]]:
        """(month start, {"t": totals}) of `page` in the months of [low, high]: its row in each month item of
        the site's everything (one Query, like the unfiltered year), where that row is exact — kept with no
        error, or absent from a summary that never evicted a page (so 0), and written with every column —,
        else the sum of the page's hour items in that month (a Query each; few for a page outside the top)."""
        half = localtime.HALF_SECONDS["month"]
        months = self.store.query(self.settings.stats_table, r.pk(site, r.ALL, None),
                                  r.sk(r.MONTH, localtime.bucket_start(low, "month", tz) - half),
                                  r.sk(r.MONTH, localtime.bucket_start(high, "month", tz) + half - 1))
        out = []
        for item in months:
            start = int(item["sk"].split("#")[1])
            summary = r.decode(item.get("c")).get("b", {}).get(r.PAGES, {})
            kept = summary.get("k", {})
            row = kept.get(page)
            if row is None and len(kept) < r.capacity(r.ALL):
                out.append((start, {"t": [0] * r.TOTALS_LEN}))
            elif row is not None and not summary.get("e", {}).get(page) and len(row) > r.PAGE_DURATION:
                out.append((start, {"t": r.page_row_totals(row)}))
            else:
                hours = self.store.query(self.settings.stats_table, r.pk(site, r.PAGE, page), r.sk(r.HOUR, start),
                                         r.sk(r.HOUR, localtime.next_start(start, "month", tz) - 1))
                out.append((start, {"t": r.sum_vectors((r.totals(r.decode(h.get("c"))) for h in hours),
                                                       r.TOTALS_LEN)}))
        return out

    # -- page groups, goals and funnels (a site's definitions) ----------------------------------------

    def _definitions(self, q: StatsQuery) -> Definitions | None:
        """The site's definitions when the answer is one site's; a 400 for a definition filter without a site
        or naming no definition of the site."""
        site = q.site or self.settings.only_site
        asked = [(name, getattr(q, name)) for name in (*DEFINED, "funnel") if getattr(q, name) is not None]
        if site is None:
            if asked:
                raise InvalidRequest(f"`{asked[0][0]}` needs `site`: page groups, goals and funnels are a site's "
                                     "(GET /api/definitions?site=…)")
            return None
        definitions = self.definitions.for_site(site)
        for name, value in asked:
            kind = {"page_group": PAGE_GROUPS, "goal": GOALS, "funnel": FUNNELS}[name]
            known = [d.name for d in definitions.of(kind)]
            if value not in known:
                raise InvalidRequest(f"`{name}` {value!r} is not one of {site}'s {kind.replace('_', ' ')}: "
                                     f"{', '.join(known) or 'none yet (PUT /api/definitions/…)'}")
        return definitions

    def _total(self, site: str, dim: str, value: str | None, q: StatsQuery) -> tuple[list, list[dict]]:
        """The totals vector of (dim, value)'s items over the range, in the site's calendar (minute slots for a
        minute interval, as the answer's totals), and the blobs of the items in it."""
        tz = q.tz
        buckets = bucket_starts(q.start, q.end, q.interval, tz)
        item_unit = q.interval if q.interval in ("day", "month") else "hour"
        granularity = {"day": r.DAY, "month": r.MONTH}.get(item_unit, r.HOUR)
        half = localtime.HALF_SECONDS[item_unit]
        end = localtime.next_start(buckets[-1], q.interval, tz)
        total, blobs = [0] * r.TOTALS_LEN, []
        for item in self.store.query(self.settings.stats_table, r.pk(site, dim, value),
                                     r.sk(granularity, localtime.bucket_start(buckets[0], item_unit, tz) - half),
                                     r.sk(granularity, localtime.bucket_start(end - 1, item_unit, tz) + half - 1)):
            start, blob = int(item["sk"].split("#")[1]), r.decode(item.get("c"))
            if q.interval == "minute":
                blobs.append(blob)
                for minute, vector in blob.get("m", {}).items():
                    if buckets[0] <= start + 60 * int(minute) < end:
                        total = _add(total, r.minute_totals(vector))
            elif buckets[0] <= start + half < end:  # an item belongs to the bucket holding its middle
                blobs.append(blob)
                total = _add(total, r.totals(blob))
        return total, blobs

    def _answer_definitions(self, data: dict[str, Any], q: StatsQuery, definitions: Definitions,
                            in_range: list[dict], dim: str, narrowed: Any) -> None:
        """`goals` (unfiltered answers: each goal's conversions and rate), `goal` (with goal=: its rate and
        revenue) and `funnel` (with funnel=: its steps)."""
        site = definitions.site
        visitors = data["totals"]["visitors"] or 0
        data["goals"] = []
        if dim == r.ALL and not narrowed and q.funnel is None:  # a funnel's view reads only the funnel
            goals = definitions.goals
            with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_QUERIES, len(goals)))) as pool:
                read = list(pool.map(lambda goal: self._total(site, r.GOAL, goal.name, q), goals))
            for goal, (total, blobs) in zip(goals, read):
                data["goals"].append({**_goal_numbers(goal.name, total, blobs, visitors), "since": goal.since,
                                      "counted_from": goal.counted_from})
        if q.goal is not None:
            goal = definitions.goal(q.goal)
            if q.source is not None or q.event_type is not None:  # a slice: its conversions and visits only
                data["goal"] = _sliced_goal_numbers(q, data, in_range, goal)
                return
            everything, _ = self._total(site, r.ALL, None, q)
            data["goal"] = {**_goal_numbers(q.goal, data_vector(data), in_range,
                                            int(everything[r.VI])), "since": goal.since,
                            "counted_from": goal.counted_from,
                            "revenue_by_source": _revenue_by_source(in_range, q.limit)}
        if q.funnel is not None:
            funnel = definitions.funnel(q.funnel)
            _, blobs = self._total(site, r.FUNNEL, funnel.name, q)
            rows = r.merged_breakdown(blobs, r.FUNNEL_STEPS)
            steps, first, previous = [], None, None
            for n, goal in enumerate(funnel.steps, 1):
                visits, step_visitors = (list(rows.get(str(n), [])) + [0, 0])[:2]
                first = visits if first is None else first
                steps.append({"step": n, "goal": goal, "visits": int(visits), "visitors": int(step_visitors),
                              "conversion_from_previous": _rate(visits, previous if previous is not None else visits),
                              "conversion_from_start": _rate(visits, first),
                              "drop_off": int((previous if previous is not None else visits) - visits)})
                previous = visits
            data["funnel"] = {"name": funnel.name, "since": funnel.since, "counted_from": funnel.counted_from,
                              "steps": steps}
