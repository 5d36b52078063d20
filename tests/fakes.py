"""openapi.yaml-shaped answers and a fake Client that records its calls, for dashboard and client tests."""
from __future__ import annotations

import copy
from typing import Any

from liveinsight.dashboard.client import (ApiError, ApiRequestError, ApiShareError, Definitions, Realtime, SavedView,
                                         Stats)

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
# When the fake API lists the periods a share link admits: Thursday 2026-01-15 15:00 UTC.
SHARE_NOW = NOW + 14 * 86400 + 15 * 3600
SHARE_SECRET = "dashboard-test-secret"  # what the fake API verifies share links with
HOUR = 3600


def stats_payload(**overrides: Any) -> dict[str, Any]:
    """A `data` object of GET /api/stats with distinctive numbers."""
    data = {
        "range": {"from": NOW - 24 * HOUR, "to": NOW, "interval": "hour"},
        "totals": {"events": 4321, "page_views": 3210, "sessions": 1234, "bounce_rate": 0.4213,
                   "avg_session_duration": 125.0, "views_per_session": 2.6, "visitors": 987},
        "timeseries": [{"t": NOW - (24 - i) * HOUR, "events": 100 + i, "page_views": 80 + i, "sessions": 30 + i,
                        "visitors": 20 + i} for i in range(24)],
        "event_types": [{"event_type": "page_view", "count": 3210}, {"event_type": "signup", "count": 777},
                        {"event_type": "download", "count": 334}],
        "sources": [{"source": "Google", "visitors": 511, "sessions": 600, "page_views": 1500},
                    {"source": "Direct", "visitors": 333, "sessions": 400, "page_views": 1100},
                    {"source": "news.ycombinator.com", "visitors": 201, "sessions": 234, "page_views": 610}],
        "referrers": [{"referrer": "www.google.com", "sessions": 600},
                      {"referrer": "news.ycombinator.com", "sessions": 234}],
        "pages": [{"page": "/", "page_views": 1800, "visitors": 805, "sessions": 900},
                  {"page": "/pricing", "page_views": 987, "visitors": 401, "sessions": 456},
                  {"page": "/docs", "page_views": 423, "visitors": 188, "sessions": 200}],
        "entry_pages": [{"page": "/", "sessions": 800}, {"page": "/pricing", "sessions": 300}],
        "exit_pages": [{"page": "/pricing", "sessions": 600}, {"page": "/docs", "sessions": 250}],
        "browsers": [{"name": "Chrome", "sessions": 700}, {"name": "Firefox", "sessions": 321}, {"name": "Safari", "sessions": 213}],
        "operating_systems": [{"name": "Windows", "sessions": 500}, {"name": "macOS", "sessions": 400},
                              {"name": "Android", "sessions": 334}],
        "devices": [{"name": "desktop", "sessions": 900}, {"name": "mobile", "sessions": 300}, {"name": "tablet", "sessions": 34}],
        "bots_filtered": 42,
        "sites": ["shop.example.com"],
        "countries": [
            {"country": "US", "visitors": 412, "sessions": 520, "page_views": 1400, "bounce_rate": 0.38},
            {"country": "DE", "visitors": 203, "sessions": 260, "page_views": 650, "bounce_rate": 0.45},
            {"country": "JP", "visitors": 151, "sessions": 170, "page_views": 480, "bounce_rate": 0.41},
            {"country": "Unknown", "visitors": 96, "sessions": 104, "page_views": 230, "bounce_rate": 0.52},
            {"country": "BR", "visitors": 77, "sessions": 90, "page_views": 260, "bounce_rate": 0.36},
        ],
        "regions": [
            {"region": "US-WA", "country": "US", "visitors": 150, "sessions": 190, "page_views": 520, "bounce_rate": 0.33},
            {"region": "DE-BE", "country": "DE", "visitors": 120, "sessions": 150, "page_views": 380, "bounce_rate": 0.4},
            {"region": "US-NY", "country": "US", "visitors": 98, "sessions": 120, "page_views": 300, "bounce_rate": 0.42},
        ],
        "cities": [
            {"city": "US-WA/Seattle", "name": "Seattle", "region": "US-WA", "country": "US", "visitors": 131,
             "sessions": 170, "page_views": 470, "bounce_rate": 0.31},
            {"city": "DE-BE/Berlin", "name": "Berlin", "region": "DE-BE", "country": "DE", "visitors": 117,
             "sessions": 145, "page_views": 372, "bounce_rate": 0.39},
        ],
        # What an event type filter answers (the fake answers it to any request).
        "properties": [
            {"key": "newsletter", "values": [{"value": "true", "events": 600, "visitors": 510},
                                             {"value": "false", "events": 177, "visitors": 150}],
             "other": {"events": 0, "visitors": 0}},
            {"key": "plan", "values": [{"value": "pro", "events": 500, "visitors": 420},
                                       {"value": "free", "events": 200, "visitors": 190}],
             "other": {"events": 77, "visitors": 70}},
        ],
        # A site's goals (answered without a filter), one goal (with goal=) and a funnel (with funnel=).
        "goals": [{"name": "signup", "visitors": 120, "conversions": 150, "visits": 130, "conversion_rate": 0.1216,
                   "since": 0, "revenue": []}],
        "goal": {"name": "signup", "visitors": 120, "conversions": 150, "visits": 130, "conversion_rate": 0.1216,
                 "since": 0, "revenue": [], "revenue_by_source": []},
        "funnel": {"name": "checkout", "since": 0, "steps": [
            {"step": 1, "goal": "landing", "visits": 500, "visitors": 480, "conversion_from_previous": 1.0,
             "conversion_from_start": 1.0, "drop_off": 0},
            {"step": 2, "goal": "signup", "visits": 130, "visitors": 120, "conversion_from_previous": 0.26,
             "conversion_from_start": 0.26, "drop_off": 370}]},
    }
    data.update(overrides)
    return data


PREVIOUS_TOTALS = {"events": 4000, "page_views": 3000, "sessions": 1000, "bounce_rate": 0.40,
                   "avg_session_duration": 100.0, "views_per_session": 2.0, "visitors": 900}
YEAR = 364 * 86400


def previous_timeseries(offset: int = 24 * HOUR) -> list[dict[str, Any]]:
    """`previous_timeseries` aligned to stats_payload's series, `offset` seconds earlier, smaller numbers."""
    return [{"t": NOW - (24 - i) * HOUR, "t_previous": NOW - (24 - i) * HOUR - offset, "events": 50 + i,
             "page_views": 40 + i, "sessions": 15 + i, "visitors": 10 + i} for i in range(24)]


def empty_stats_payload() -> dict[str, Any]:
    """A period without any event: zeros and empty breakdowns, as the server answers."""
    data = stats_payload(totals={key: 0 for key in PREVIOUS_TOTALS},
                         timeseries=[{"t": NOW - (24 - i) * HOUR, "events": 0, "page_views": 0, "sessions": 0,
                                      "visitors": 0} for i in range(24)])
    for key in ("event_types", "sources", "referrers", "pages", "entry_pages", "browsers", "operating_systems",
                "devices", "sites", "countries", "regions", "cities"):
        data[key] = []
    return data


def realtime_payload(**overrides: Any) -> dict[str, Any]:
    """A `data` object of GET /api/realtime with distinctive numbers."""
    data = {
        "active_sessions": 17,
        "active_sessions_30m": 58,
        "per_minute": [{"minute": NOW - (30 - i) * 60, "events": i % 7, "page_views": i % 5, "sessions": i % 3}
                       for i in range(30)],
        "top_pages": [{"page": "/live", "sessions": 9, "page_views": 14}, {"page": "/", "sessions": 5, "page_views": 6}],
        "top_referrers": [{"source": "Twitter", "sessions": 8, "page_views": 11}],
        "event_types": [{"event_type": "page_view", "count": 61}, {"event_type": "play_video", "count": 13}],
        "recent_events": [{"event_type": "play_video", "timestamp": NOW - 3, "page": "/live", "source": "Twitter"},
                          {"event_type": "page_view", "timestamp": NOW - 40, "page": "/", "source": "Direct"}],
        "generated_at": NOW,
        "zone": {"name": "UTC", "abbreviation": "UTC", "utc_offset": "+00:00"},
        "countries": [{"country": "US", "active_sessions": 9}, {"country": "GB", "active_sessions": 5},
                      {"country": "Unknown", "active_sessions": 3}],
    }
    data.update(overrides)
    return data


class FakeClient:
    """Stands in for liveinsight.dashboard.client.Client: canned payloads in, recorded calls out."""

    def __init__(self, stats: dict[str, Any] | None = None, realtime: dict[str, Any] | None = None,
                 error: ApiError | None = None) -> None:
        self.stats_data = stats if stats is not None else stats_payload(previous_totals=PREVIOUS_TOTALS)
        self.realtime_data = realtime if realtime is not None else realtime_payload()
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.saved: dict[str, SavedView] = {}  # saved views by case-folded name, as the API keeps them
        self.save_error: ApiError | None = None
        # Each site's definitions as GET /api/definitions answers them; `definition_error` refuses the next change.
        self.site_definitions: dict[str, dict[str, Any]] = {}
        self.definition_error: ApiError | None = None

    def stats(self, **params: Any) -> Stats:
        self.calls.append(("stats", params))
        if self.error:
            raise self.error
        data = copy.deepcopy(self.stats_data)
        if not params.get("compare"):
            data.pop("previous_totals", None)
            data.pop("previous_timeseries", None)
        elif "previous_timeseries" not in data:
            data["previous_timeseries"] = previous_timeseries(YEAR if params["compare"] == "year" else 24 * HOUR)
        if params.get("share"):
            data["share"] = self.verify_share(params["share"])
        return Stats.from_json(data)

    @staticmethod
    def verify_share(token: str) -> dict[str, Any]:
        """`data.share` as the API answers it, or the API's refusal (400 not a token, 401 altered or expired)."""
        from liveinsight import share
        from liveinsight.errors import InvalidRequest, Unauthorized

        try:
            return share.verify(token, SHARE_SECRET).annotate({}, now=SHARE_NOW)["share"]
        except InvalidRequest as exc:
            raise ApiRequestError(exc.message, 400) from exc
        except Unauthorized as exc:
            raise ApiShareError(exc.message, 401) from exc

    def realtime(self, **params: Any) -> Realtime:
        self.calls.append(("realtime", params))
        if self.error:
            raise self.error
        return Realtime.from_json(copy.deepcopy(self.realtime_data))

    def views(self) -> list[SavedView]:
        self.calls.append(("views", {}))
        if self.error:
            raise self.error
        return sorted(self.saved.values(), key=lambda view: view.name.casefold())

    def save_view(self, name: str, filters: dict[str, str], saved_by: str | None = None) -> SavedView:
        self.calls.append(("save_view", {"name": name, "filters": filters, "saved_by": saved_by}))
        if self.save_error:
            raise self.save_error
        view = SavedView(name=name, filters=dict(filters), saved_by=saved_by)
        self.saved[name.casefold()] = view
        return view

    def delete_view(self, name: str) -> None:
        self.calls.append(("delete_view", {"name": name}))
        del self.saved[name.casefold()]

    def definitions(self, site: str | None = None) -> Definitions:
        self.calls.append(("definitions", {"site": site}))
        if self.error:
            raise self.error
        return Definitions.from_json(copy.deepcopy(self._site(site)))

    def _site(self, site: str | None) -> dict[str, Any]:
        return self.site_definitions.setdefault(site or "", {"site": site, "version": 0, "page_groups": [],
                                                             "goals": [], "funnels": []})

    def put_definition(self, kind: str, name: str, body: dict[str, Any], site: str | None = None) -> Definitions:
        self.calls.append(("put_definition", {"kind": kind, "name": name, "body": body, "site": site}))
        if self.definition_error:
            raise self.definition_error
        data = self._site(site)
        listed = [d for d in data[kind] if d["name"] != name]
        fields = {"pattern": None} if kind == "page_groups" else {"steps": []} if kind == "funnels" else {
            "event_type": None, "page": None, "page_group": None, "props": {}, "revenue": None}
        data[kind] = listed + [{"name": name, **fields, **body, "since": NOW, "seeded": False}]
        data["version"] += 1
        return Definitions.from_json(copy.deepcopy(data))

    def delete_definition(self, kind: str, name: str, site: str | None = None) -> Definitions:
        self.calls.append(("delete_definition", {"kind": kind, "name": name, "site": site}))
        if self.definition_error:
            raise self.definition_error
        data = self._site(site)
        data[kind] = [d for d in data[kind] if d["name"] != name]
        data["version"] += 1
        return Definitions.from_json(copy.deepcopy(data))

    def stats_calls(self) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == "stats"]
