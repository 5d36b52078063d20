"""The read APIs' domain: GET /api/stats and GET /api/realtime answered from rollups.

Every answer reads O(buckets) rollup items by key (BatchGetItem), never raw events, so
its cost does not grow with traffic. Query parameters arrive as {name: [values]} and
are validated here; errors name the parameter and what is accepted.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import config, rollups as r
from .config import Settings
from .errors import InvalidRequest
from .store import Store

PERIODS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT_PERIOD = "24h"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_RANGE_SECONDS = 400 * 86400
MAX_BUCKETS = {r.MINUTE: 1440, r.HOUR: 24 * 45, r.DAY: 401}
STATS_PARAMS = ("period", "from", "to", "interval", "page", "source", "event_type", "limit", "compare")
REALTIME_PARAMS = ("page", "window")
DEFAULT_WINDOW, MIN_WINDOW, MAX_WINDOW = 30, 5, 60
TOP_LIMIT = 10
RECENT_LIMIT = 20


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


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1 and len(set(values)) > 1:
        raise InvalidRequest(f"`{name}` is given {len(values)} times; give it once")
    return values[0]


def _check_known(params: dict[str, list[str]], accepted: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidRequest(f"unknown parameter `{unknown[0]}`; accepted parameters: {', '.join(accepted)}")


def _whole_number(params: dict[str, list[str]], name: str, default: int, low: int, high: int, message: str) -> int:
    """An integer parameter within [low, high]; `message` (plus the value given) when it is not."""
    text = _single(params, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(f"{message}, not {text!r}")
    return value


def parse_time(name: str, value: str) -> float:
    """Epoch seconds (or milliseconds above 10^11) or ISO 8601 (UTC unless an offset is given)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            raise InvalidRequest(f"`{name}` must be epoch seconds or an ISO 8601 time, not {value!r}")
        return number / 1000.0 if number > config.MILLISECONDS_THRESHOLD else number
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+") if "T" in text else text)
    except ValueError:
        raise InvalidRequest(f"`{name}` must be epoch seconds or an ISO 8601 time such as "
                             f"2026-11-28T09:00:00Z, not {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def default_interval(seconds: float) -> str:
    """minute up to 2 h, hour up to 3 days, day beyond."""
    if seconds <= 2 * 3600:
        return r.MINUTE
    if seconds <= 3 * 86400:
        return r.HOUR
    return r.DAY


def parse_stats_query(params: dict[str, list[str]], now: float) -> StatsQuery:
    """Validate GET /api/stats parameters into a StatsQuery."""
    _check_known(params, STATS_PARAMS)
    period = _single(params, "period")
    start_text, end_text = _single(params, "from"), _single(params, "to")
    if period is not None and (start_text is not None or end_text is not None):
        raise InvalidRequest("give either `period` or `from` and `to`, not both")
    if start_text is not None or end_text is not None:
        if start_text is None or end_text is None:
            raise InvalidRequest("`from` and `to` go together: give both (epoch seconds or ISO 8601)")
        start, end = parse_time("from", start_text), parse_time("to", end_text)
        if start > end:
            raise InvalidRequest("`from` is after `to`; give a range with from <= to")
    else:
        period = period or DEFAULT_PERIOD
        if period not in PERIODS:
            raise InvalidRequest(f"`period` must be one of {', '.join(PERIODS)}, not {period!r}")
        end = now
        start = now - PERIODS[period]
    if end - start > MAX_RANGE_SECONDS:
        raise InvalidRequest("the range is longer than 400 days; give `from` and `to` at most 400 days apart")
    interval = _single(params, "interval") or default_interval(end - start)
    if interval not in r.GRANULARITY_SECONDS:
        raise InvalidRequest(f"`interval` must be one of minute, hour, day, not {interval!r}")
    buckets = len(bucket_starts(start, end, interval))
    if buckets > MAX_BUCKETS[interval]:
        raise InvalidRequest(f"interval={interval} gives {buckets} buckets for this range; at most "
                             f"{MAX_BUCKETS[interval]} are accepted: choose a longer interval or a shorter range")
    limit = _whole_number(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT,
                          f"please provide `limit` as a number between 1 and {MAX_LIMIT}")
    compare = _single(params, "compare")
    if compare not in (None, "previous"):
        raise InvalidRequest(f"`compare` accepts only 'previous', not {compare!r}")
    filters = {}
    for name in ("page", "source", "event_type"):
        value = _single(params, name)
        if value is not None and not value.strip():
            raise InvalidRequest(f"`{name}` is empty; leave it out or give an exact value")
        filters[name] = value
    return StatsQuery(start=start, end=end, interval=interval, limit=limit, compare=compare == "previous", **filters)


def bucket_starts(start: float, end: float, interval: str) -> list[int]:
    """Start of every bucket overlapping [start, end) (the bucket of `start` when they are equal)."""
    size = r.GRANULARITY_SECONDS[interval]
    first = r.bucket_start(start, interval)
    last = r.bucket_start(end - 1e-6, interval) if end > start else first
    return list(range(first, last + size, size))


def _ranked(mapping: dict[str, Any], limit: int, label: str, fields: tuple[str, ...], order: int = 0) -> list[dict]:
    rows = []
    for name, value in mapping.items():
        values = value if isinstance(value, list) else [value]
        row = {label: name}
        row.update({f: _num(v) for f, v in zip(fields, values)})
        rows.append(row)
    rows.sort(key=lambda row: (-row[fields[order]], -sum(row[f] for f in fields), str(row[label])))
    return rows[:limit]


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


def totals(c: dict) -> dict[str, Any]:
    sessions = c.get(r.SESSIONS, 0)
    return {
        "events": int(c.get(r.EVENTS, 0)),
        "page_views": int(c.get(r.PAGE_VIEWS, 0)),
        "sessions": int(sessions),
        "bounce_rate": round(c.get(r.BOUNCES, 0) / sessions, 4) if sessions else 0.0,
        "avg_session_duration": round(c.get(r.DURATION, 0) / sessions, 1) if sessions else 0.0,
        "views_per_session": round(c.get(r.PAGE_VIEWS, 0) / sessions, 2) if sessions else 0.0,
    }


class Reader:
    """Answers the read APIs from the stats table."""

    def __init__(self, store: Store, settings: Settings | None = None):
        self.store = store
        self.settings = settings or store.settings

    def _counters(self, keys: list[str], filter_key: str) -> dict[str, dict]:
        """{pk: counters of `filter_key`} for the rollup items that exist."""
        items = self.store.batch_get(self.settings.stats_table, [{"pk": k} for k in keys])
        return {i["pk"]: r.decode(i.get("c")).get(filter_key, {}) for i in items}

    def stats(self, params: dict[str, list[str]], now: float | None = None) -> dict[str, Any]:
        """GET /api/stats."""
        now = time.time() if now is None else now
        q = parse_stats_query(params, now)
        dimset, key = r.filter_dimset(q.page, q.source, q.event_type)
        buckets = bucket_starts(q.start, q.end, q.interval)
        keys = [r.rollup_pk(q.interval, b, dimset) for b in buckets]
        previous_keys: list[str] = []
        if q.compare:
            length = q.end - q.start
            previous_keys = [r.rollup_pk(q.interval, b, dimset)
                             for b in bucket_starts(q.start - length, q.start, q.interval)]
            current = set(keys)
            previous_keys = [k for k in previous_keys if k not in current]
        found = self._counters(keys + previous_keys, key)
        series = [found.get(k, {}) for k in keys]
        total = r.merge_all(series)
        data: dict[str, Any] = {
            "range": {"from": q.start, "to": q.end, "interval": q.interval},
            "totals": totals(total),
        }
        if q.compare:
            data["previous_totals"] = totals(r.merge_all(found.get(k, {}) for k in previous_keys))
        data["timeseries"] = [
            {"t": b, "events": int(c.get(r.EVENTS, 0)), "page_views": int(c.get(r.PAGE_VIEWS, 0)),
             "sessions": int(c.get(r.SESSIONS, 0))}
            for b, c in zip(buckets, series)
        ]
        limit = q.limit
        data["event_types"] = _ranked(total.get(r.EVENT_TYPES, {}), limit, "event_type", ("count",))
        data["sources"] = _ranked(total.get(r.SOURCES, {}), limit, "source", ("sessions", "page_views"))
        data["referrers"] = _ranked(total.get(r.REFERRERS, {}), limit, "referrer", ("sessions",))
        data["pages"] = _ranked(total.get(r.PAGES, {}), limit, "page", ("page_views", "sessions"))
        data["entry_pages"] = _ranked(total.get(r.ENTRY_PAGES, {}), limit, "page", ("sessions",))
        data["campaigns"] = _ranked(total.get(r.CAMPAIGNS, {}), limit, "campaign", ("sessions",))
        data["browsers"] = _ranked(total.get(r.BROWSERS, {}), limit, "name", ("sessions",))
        data["operating_systems"] = _ranked(total.get(r.OPERATING_SYSTEMS, {}), limit, "name", ("sessions",))
        data["devices"] = _ranked(total.get(r.DEVICES, {}), limit, "name", ("sessions",))
        data["bots_filtered"] = int(total.get(r.BOTS, 0))
        return data

    def realtime(self, params: dict[str, list[str]], now: float | None = None) -> dict[str, Any]:
        """GET /api/realtime."""
        now = time.time() if now is None else now
        _check_known(params, REALTIME_PARAMS)
        page = _single(params, "page")
        if page is not None and not page.strip():
            raise InvalidRequest("`page` is empty; leave it out or give a path such as /pricing")
        window = _whole_number(params, "window", DEFAULT_WINDOW, MIN_WINDOW, MAX_WINDOW,
                               f"`window` must be a whole number of minutes from {MIN_WINDOW} to {MAX_WINDOW}")
        dimset, key = r.filter_dimset(page, None, None)
        minutes = [r.bucket_start(now, r.MINUTE) - 60 * i for i in range(max(window, 30) - 1, -1, -1)]
        minute_keys = [r.rollup_pk(r.MINUTE, m, dimset) for m in minutes]
        rt_keys = [r.RT_PAGE, r.RT_PAGE_SOURCE if page else r.RT_SOURCE] + ([] if page else [r.RT_ALL])
        items = self.store.batch_get(self.settings.stats_table, [{"pk": k} for k in minute_keys + rt_keys])
        blobs = {i["pk"]: r.decode(i.get("c")) for i in items}
        counters = {m: blobs.get(k, {}).get(key, {}) for m, k in zip(minutes, minute_keys)}
        by_page = blobs.get(r.RT_PAGE, {})
        scope = by_page.get(page, {}) if page else blobs.get(r.RT_ALL, {})
        by_source = blobs.get(r.RT_PAGE_SOURCE, {}).get(page, {}) if page else blobs.get(r.RT_SOURCE, {})
        active_since = now - config.ACTIVE_WINDOW_SECONDS
        last5 = r.merge_all(c for m, c in counters.items() if m >= r.bucket_start(active_since, r.MINUTE))
        last30 = r.merge_all(counters[m] for m in minutes[-30:])

        pages = {p: state for p, state in by_page.items() if page is None or p == page}
        top_pages = [{"page": p, "sessions": r.active_count(state, active_since),
                      "page_views": int(last5.get(r.PAGES, {}).get(p, [0, 0])[0])} for p, state in pages.items()]
        top_referrers = [{"source": s, "sessions": r.active_count(state, active_since),
                          "page_views": int(last5.get(r.SOURCES, {}).get(s, [0, 0])[1])}
                         for s, state in by_source.items()]
        return {
            "active_sessions": r.active_count(scope, active_since),
            "active_sessions_30m": r.active_count(scope, now - 30 * 60),
            "per_minute": [
                {"minute": m, "events": int(c.get(r.EVENTS, 0)), "page_views": int(c.get(r.PAGE_VIEWS, 0)),
                 "sessions": int(c.get(r.SESSIONS, 0))}
                for m, c in list(counters.items())[-window:]
            ],
            "top_pages": _top(top_pages),
            "top_referrers": _top(top_referrers),
            "event_types": _ranked(last30.get(r.EVENT_TYPES, {}), MAX_LIMIT, "event_type", ("count",)),
            "recent_events": sorted(scope.get("r", []), key=lambda e: e["timestamp"], reverse=True)[:RECENT_LIMIT],
            "generated_at": now,
        }


def _top(rows: list[dict]) -> list[dict]:
    rows = [row for row in rows if row["sessions"] or row["page_views"]]
    rows.sort(key=lambda row: (-row["sessions"], -row["page_views"], str(row.get("page") or row.get("source"))))
    return rows[:TOP_LIMIT]
