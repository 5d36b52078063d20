"""GET /api/realtime: who is on the site now, from the last half hour of realtime items.

A request reads one Query per realtime shard (the last 30 minutes) of the site, or of the
all-sites level, and one Query of the hour items that hold the per-minute series; what it
reads follows the visits of the last half hour, never the pages, visits or sites seen
before. Visit ids are never returned. The answer names the site's zone (`zone`; UTC for all sites),
so its times can be shown on the site's clock; the times themselves stay epoch seconds.
"""
from __future__ import annotations

import time
from typing import Any

from .. import config, localtime
from . import params as p
from ..config import Settings
from ..errors import InvalidRequest
from ..items import realtime as rt, rollups as r
from .stats import PAGE_SITES, _ranked, top_sites
from ..store import Store
from ..zones import SiteZones

REALTIME_PARAMS = ("page", "window", "site")
DEFAULT_WINDOW, MIN_WINDOW, MAX_WINDOW = 30, 5, 60
TOP_LIMIT = 10
FEED_MINUTES = 30


class RealtimeReader:
    """Answers GET /api/realtime from the stats table."""

    def __init__(self, store: Store, settings: Settings | None = None):
        self.store = store
        self.settings = settings or store.settings

    def answer(self, params: dict[str, list[str]], now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        p.check_known(params, REALTIME_PARAMS)
        page = p.single(params, "page")
        if page is not None and not page.strip():
            raise InvalidRequest("`page` is empty; leave it out or give a path such as /pricing")
        window = p.whole_number(params, "window", DEFAULT_WINDOW, MIN_WINDOW, MAX_WINDOW,
                                f"`window` must be a whole number of minutes from {MIN_WINDOW} to {MAX_WINDOW}")
        site = p.site(params, self.settings) or self.settings.only_site
        page = r.label(page) if page is not None else None
        this_minute = r.bucket_start(now, "minute")
        minutes = [this_minute - 60 * i for i in range(window - 1, -1, -1)]
        table = self.settings.stats_table

        items: list[tuple[int, dict]] = []
        fresh_counts: dict[int, list[int]] = {}
        # Up to the newest bucket an accepted event can be in: clients' clocks may run ahead.
        latest = rt.bucket_start(now + config.MAX_FUTURE_SKEW_SECONDS)
        for shard in range(rt.SHARDS):
            for item in self.store.query(table, rt.pk(site or r.ALL_SITES, shard),
                                         rt.sk(this_minute - 60 * FEED_MINUTES), rt.sk(latest)):
                items.append((int(item["sk"]), r.decode(item.get("c"))))
        series = {m: [0] * r.MINUTE_LEN for m in minutes}
        dim, value = (r.PAGE, page) if page else (r.ALL, None)
        if site:
            levels = [site]
        elif page is None:
            levels = [r.ALL_SITES]
        else:  # a page is per site: the page in the sites with the most visits this past hour
            levels = top_sites(self.store, self.settings, minutes[0], this_minute)[:PAGE_SITES]
        for s in levels:
            for item in self.store.query(table, r.pk(s, dim, value), r.sk(r.HOUR, r.bucket_start(minutes[0], "hour")),
                                         r.sk(r.HOUR, this_minute)):
                hour = int(item["sk"].split("#")[1])
                for minute, vector in r.decode(item.get("c")).get("m", {}).items():
                    t = hour + 60 * int(minute)
                    if t in series:
                        series[t] = [a + b for a, b in zip(series[t], vector)]

        # The rollups lag by the rollup consumer's window (a minute): the realtime items fill in the
        # events and page views of the minutes they have not folded yet.
        for start, blob in items:
            minute = r.bucket_start(start, "minute")
            if minute in series:
                events = sum((blob.get("pe", {}).get(page, {}) if page else blob.get("e", {})).values())
                views = rt.page_views(blob, page)
                fresh = fresh_counts.setdefault(minute, [0, 0])
                fresh[0] += events
                fresh[1] += views
        for minute, (events, views) in fresh_counts.items():
            series[minute][r.EV] = max(series[minute][r.EV], events)
            series[minute][r.PV] = max(series[minute][r.PV], views)

        last5 = now - config.ACTIVE_WINDOW_SECONDS
        recent = [(start, blob) for start, blob in items if start + 60 > last5]
        scope = ("p", page) if page else (None, None)
        pages: dict[str, dict[str, int]] = {}
        for _, blob in recent:
            for name, visits in blob.get("p", {}).items():
                if page is None or name == page:
                    pages.setdefault(name, {}).update(visits)
        top_pages = [{"page": name, "sessions": len(rt.active(recent, last5, "p", name)),
                      "page_views": sum(rt.page_views(b, name) for _, b in recent)} for name in pages]
        sources = {name for _, b in recent for name in b.get("s", {})}
        if page is not None:
            on_page = rt.active(recent, last5, "p", page)
            top_sources = [{"source": name, "sessions": len(rt.active(recent, last5, "s", name) & on_page),
                            "page_views": 0} for name in sources]
        else:
            top_sources = [{"source": name, "sessions": len(rt.active(recent, last5, "s", name)),
                            "page_views": sum(b.get("sv", {}).get(name, 0) for _, b in recent)} for name in sources]
        countries = {name for _, b in recent for name in b.get("c", {})}
        on_page = rt.active(recent, last5, "p", page) if page is not None else None
        by_country = []
        for name in countries:
            visits = rt.active(recent, last5, "c", name)
            by_country.append({"country": name, "active_sessions": len(visits & on_page if on_page is not None
                                                                           else visits)})
        types: dict[str, list] = {}
        for _, blob in items:
            counts = blob.get("pe", {}).get(page, {}) if page else blob.get("e", {})
            for name, n in counts.items():
                types[name] = [types.get(name, [0])[0] + n]
        feed = sorted((row for _, blob in items for row in blob.get("r", []) if page is None or row[2] == page),
                      key=lambda row: row[0], reverse=True)[:rt.RECENT]
        return {
            "active_sessions": len(rt.active(items, last5, *scope)),
            "active_sessions_30m": len(rt.active(items, now - 30 * 60, *scope)),
            "per_minute": [{"minute": m, "events": int(v[r.EV]), "page_views": int(v[r.PV]),
                            "sessions": int(v[r.SS])} for m, v in series.items()],
            "top_pages": _top(top_pages, "page"),
            "top_referrers": _top(top_sources, "source"),
            "countries": sorted((row for row in by_country if row["active_sessions"]),
                                key=lambda row: (-row["active_sessions"], row["country"]))[:TOP_LIMIT],
            "event_types": _ranked(types, 100, "event_type", ("count",)),
            "recent_events": [{"event_type": t, "timestamp": ts, "page": pg, "source": src}
                              for ts, t, pg, src in feed],
            "generated_at": now,
            "zone": localtime.describe(SiteZones(self.store, self.settings).get(site), now),
        }


def _top(rows: list[dict], name: str) -> list[dict]:
    rows = [row for row in rows if row["sessions"] or row["page_views"]]
    rows.sort(key=lambda row: (-row["sessions"], -row["page_views"], str(row[name])))
    return rows[:TOP_LIMIT]
