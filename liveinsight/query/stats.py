"""GET /api/stats: totals, a time series and breakdowns of a range, from rollup items.

A request reads one Query of the rollup items of the filtered value over the range (hour
items, or day items for everything/sources/event types over day intervals), so its cost
follows the number of buckets, never the traffic. All sites together are the all-sites
level of the rollups (one Query however many sites there are); a page is per site, so a
page across all sites adds up the page in the PAGE_SITES sites with the most visits.
AND-combinations of filters read the slices inside the page (or source) items: totals and
the time series are exact, breakdowns are not kept per combination.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .. import config
from . import params as p
from ..config import Settings
from ..errors import InvalidRequest
from ..items import rollups as r
from ..items.rollups import SECONDS
from ..store import Store

PERIODS = config.PERIOD_SECONDS
DEFAULT_PERIOD = "24h"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_RANGE_SECONDS = 400 * 86400
MAX_BUCKETS = {"minute": 1440, "hour": 24 * 45, "day": 401}
SITES_LISTED = r.K_ALL  # `sites`: the sites with the most visits in the range, at most this many
PAGE_SITES = 25         # a page filter without `site` adds up this many sites (the most visited)
STATS_PARAMS = ("period", "from", "to", "interval", "page", "source", "event_type", "limit", "compare", "site")


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
    compare: bool = False
    site: str | None = None

    @property
    def combined(self) -> bool:
        return sum(v is not None for v in (self.page, self.source, self.event_type)) > 1


def default_interval(seconds: float, combined: bool = False) -> str:
    """minute up to 2 h (hour with combined filters), hour up to 3 days, day beyond."""
    if seconds <= 2 * 3600 and not combined:
        return "minute"
    if seconds <= 3 * 86400:
        return "hour"
    return "day"


def parse_stats_query(params: dict[str, list[str]], now: float, settings: Settings) -> StatsQuery:
    """Validate GET /api/stats parameters into a StatsQuery."""
    p.check_known(params, STATS_PARAMS)
    period = p.single(params, "period")
    start_text, end_text = p.single(params, "from"), p.single(params, "to")
    if period is not None and (start_text is not None or end_text is not None):
        raise InvalidRequest("give either `period` or `from` and `to`, not both")
    if start_text is not None or end_text is not None:
        if start_text is None or end_text is None:
            raise InvalidRequest("`from` and `to` go together: give both (epoch seconds or ISO 8601)")
        start, end = p.parse_time("from", start_text), p.parse_time("to", end_text)
        if start > end:
            raise InvalidRequest("`from` is after `to`; give a range with from <= to")
    else:
        if period is not None and not period.strip():  # Never a silent default: a share link checks `period`.
            raise InvalidRequest(f"`period` is empty; leave it out for the last {DEFAULT_PERIOD} or give one of "
                                 f"{', '.join(PERIODS)}")
        period = period or DEFAULT_PERIOD
        if period not in PERIODS:
            raise InvalidRequest(f"`period` must be one of {', '.join(PERIODS)}, not {period!r}")
        end = now
        start = now - PERIODS[period]
    if end - start > MAX_RANGE_SECONDS:
        raise InvalidRequest("the range is longer than 400 days; give `from` and `to` at most 400 days apart")
    filters = {}
    for name in ("page", "source", "event_type"):
        value = p.single(params, name)
        if value is not None and not value.strip():
            raise InvalidRequest(f"`{name}` is empty; leave it out or give an exact value")
        filters[name] = value
    combined = sum(v is not None for v in filters.values()) > 1
    interval = p.single(params, "interval") or default_interval(end - start, combined)
    if interval not in SECONDS:
        raise InvalidRequest(f"`interval` must be one of minute, hour, day, not {interval!r}")
    if interval == "minute" and combined:
        raise InvalidRequest("interval=minute is not available when filters are combined; "
                             "use interval=hour, or one filter")
    buckets = len(bucket_starts(start, end, interval))
    if buckets > MAX_BUCKETS[interval]:
        raise InvalidRequest(f"interval={interval} gives {buckets} buckets for this range; at most "
                             f"{MAX_BUCKETS[interval]} are accepted: choose a longer interval or a shorter range")
    limit = p.whole_number(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT,
                           f"please provide `limit` as a number between 1 and {MAX_LIMIT}")
    compare = p.single(params, "compare")
    if compare not in (None, "previous"):
        raise InvalidRequest(f"`compare` accepts only 'previous', not {compare!r}")
    return StatsQuery(start=start, end=end, interval=interval, limit=limit, compare=compare == "previous",
                      site=p.site(params, settings), **filters)


def bucket_starts(start: float, end: float, interval: str) -> list[int]:
    """Start of every bucket overlapping [start, end) (the bucket of `start` when they are equal)."""
    size = SECONDS[interval]
    first = r.bucket_start(start, interval)
    last = r.bucket_start(end - 1e-6, interval) if end > start else first
    return list(range(first, last + size, size))


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


def totals(vector: list) -> dict[str, Any]:
    """The API's totals from [events, page views, sessions, bounces, duration, …]."""
    events, views, sessions, bounces, duration = vector[:5]
    return {
        "events": int(events),
        "page_views": int(views),
        "sessions": int(sessions),
        "bounce_rate": round(bounces / sessions, 4) if sessions else 0.0,
        "avg_session_duration": round(duration / sessions, 1) if sessions else 0.0,
        "views_per_session": round(views / sessions, 2) if sessions else 0.0,
    }


BREAKDOWNS = (  # (response field, breakdown, row label, fields)
    ("event_types", r.EVENT_TYPES, "event_type", ("count",)),
    ("sources", r.SOURCES, "source", ("sessions", "page_views")),
    ("referrers", r.REFERRERS, "referrer", ("sessions",)),
    ("pages", r.PAGES, "page", ("page_views", "sessions")),
    ("entry_pages", r.ENTRY_PAGES, "page", ("sessions",)),
    ("campaigns", r.CAMPAIGNS, "campaign", ("sessions",)),
    ("browsers", r.BROWSERS, "name", ("sessions",)),
    ("operating_systems", r.OPERATING_SYSTEMS, "name", ("sessions",)),
    ("devices", r.DEVICES, "name", ("sessions",)),
)


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

    def answer(self, params: dict[str, list[str]], now: float | None = None,
               sites: list[str] | None = None) -> dict[str, Any]:
        """The answer to `params`; `sites`: the sites with data, when the caller read them already
        (reports and alerts ask several ranges in a row: one Query of the sites saved per answer)."""
        now = time.time() if now is None else now
        q = parse_stats_query(params, now, self.settings)
        if q.page is not None:
            dim, value = r.PAGE, r.label(q.page)
            part = r.slice_key(q.source, q.event_type) if (q.source or q.event_type) else None
        elif q.source is not None:
            dim, value, part = r.SOURCE, q.source, r.slice_key(event_type=q.event_type) if q.event_type else None
        elif q.event_type is not None:
            dim, value, part = r.EVENT_TYPE, q.event_type, None
        else:
            dim, value, part = r.ALL, None, None
        buckets = bucket_starts(q.start, q.end, q.interval)
        previous = bucket_starts(q.start - (q.end - q.start), q.start, q.interval) if q.compare else []
        previous = [b for b in previous if b < buckets[0]]
        item_unit = "day" if q.interval == "day" and dim in r.DAY_DIMS else "hour"
        first = min(previous + buckets)
        last = buckets[-1] + SECONDS[q.interval] - 1
        blobs: list[tuple[int, dict]] = []
        granularity = r.DAY if item_unit == "day" else r.HOUR
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
            for item in self.store.query(self.settings.stats_table, r.pk(site, dim, value),
                                         r.sk(granularity, r.bucket_start(first, item_unit)),
                                         r.sk(granularity, r.bucket_start(last, item_unit))):
                blobs.append((int(item["sk"].split("#")[1]), r.decode(item.get("c"))))
        length = r.SLICE_LEN if part else r.TOTALS_LEN
        series: dict[int, list] = {b: [0] * length for b in previous + buckets}
        size = SECONDS[q.interval]
        in_range: list[dict] = []
        for start, blob in blobs:
            if q.interval == "minute":
                for minute, vector in blob.get("m", {}).items():
                    t = start + 60 * int(minute)
                    if t in series:
                        series[t] = [a + b for a, b in zip(series[t], vector + [0])]
            else:
                t = r.bucket_start(start, q.interval)
                if t in series:
                    vector = r.slice_totals(blob, part) if part else r.totals(blob)
                    series[t] = [a + b for a, b in zip(series[t], vector)]
            if start + SECONDS[item_unit] > buckets[0] and start < buckets[-1] + size:
                in_range.append(blob)
        total = r.sum_vectors((series[b] for b in buckets), length)
        data: dict[str, Any] = {
            "range": {"from": q.start, "to": q.end, "interval": q.interval},
            "totals": totals(total),
        }
        if q.compare:
            data["previous_totals"] = totals(r.sum_vectors((series[b] for b in previous), length))
        data["timeseries"] = [{"t": b, "events": int(series[b][r.EV]), "page_views": int(series[b][r.PV]),
                               "sessions": int(series[b][r.SS])} for b in buckets]
        for field, name, row_label, fields in BREAKDOWNS:
            rows = {} if part else r.merged_breakdown(in_range, name)
            data[field] = _ranked(rows, q.limit, row_label, fields)
        data["bots_filtered"] = 0 if part else int(sum(r.totals(b)[r.BOT] for b in in_range))
        data["sites"] = sorted(s for s in (listed if listed is not None else ranked_sites(in_range)) if s != r.NO_SITE)
        return data
