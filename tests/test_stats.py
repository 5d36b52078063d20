"""GET /api/stats: exact numbers for a known stream, filters, comparison, validation, read cost."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from conftest import CHROME, GOOGLEBOT, IPHONE, page_view

NOW = time.time()
T = NOW - 50 * 60  # 50 minutes ago: inside period=1h


@pytest.fixture(autouse=True)
def fresh_clock():
    """Times relative to when each test runs, not to when the module was collected."""
    global NOW, T
    NOW = time.time()
    T = NOW - 50 * 60


def known_stream() -> dict:
    return {"events": [
        # A: Google, desktop, / → /pricing → signup: 3 events, 2 views, 120 s, not a bounce
        page_view("A", "/", T, referrer="https://www.google.com/search?q=shop", user_agent=CHROME),
        page_view("A", "/pricing", T + 60, user_agent=CHROME, referrer="https://shop.example.com/"),
        {"event_type": "signup", "session_id": "A", "timestamp": T + 120, "user_agent": CHROME,
         "page_url": "https://shop.example.com/pricing", "props": {"plan": "pro"}},
        # B: Hacker News, iPhone, one view of /pricing: a bounce
        page_view("B", "/pricing", T + 10, referrer="https://news.ycombinator.com/item?id=1", user_agent=IPHONE),
        # C: newsletter campaign, / → /docs: 30 s
        page_view("C", "/?utm_source=newsletter&utm_campaign=nov", T + 20, user_agent=CHROME),
        page_view("C", "/docs/", T + 50, user_agent=CHROME),
        # D: direct, a custom event only: a session, not a bounce
        {"event_type": "add_to_cart", "session_id": "D", "timestamp": T + 30, "user_agent": CHROME},
        # a crawler
        page_view("bot", "/", T + 5, user_agent=GOOGLEBOT),
    ]}


@pytest.fixture
def loaded(backend):
    code, payload = backend.post(known_stream())
    assert code == 200 and payload["data"]["accepted"] == 7 and payload["data"]["filtered"] == 1
    return backend


def test_totals_for_a_known_stream(loaded):
    data = loaded.stats("period=1h")
    assert data["totals"] == {"visitors": 4, "events": 7, "page_views": 5, "sessions": 4, "bounce_rate": 0.25,
                              "avg_session_duration": 37.5, "views_per_session": 1.25, "time_on_page": None, "scroll_depth": None}
    assert data["bots_filtered"] == 1


def test_breakdowns_for_a_known_stream(loaded):
    data = loaded.stats("period=1h")
    assert data["event_types"] == [{"event_type": "page_view", "count": 5},
                                   {"event_type": "add_to_cart", "count": 1}, {"event_type": "signup", "count": 1}]
    assert data["sources"] == [{"source": "Google", "sessions": 1, "page_views": 2, "visitors": 1},
                               {"source": "Newsletter", "sessions": 1, "page_views": 2, "visitors": 1},
                               {"source": "Hacker News", "sessions": 1, "page_views": 1, "visitors": 1},
                               {"source": "Direct", "sessions": 1, "page_views": 0, "visitors": 1}]
    assert data["referrers"] == [{"referrer": "google.com", "sessions": 1},
                                 {"referrer": "news.ycombinator.com", "sessions": 1}]
    assert data["pages"] == [{"page": "/", "page_views": 2, "sessions": 2, "visitors": 2, "time_on_page": None, "scroll_depth": None},
                             {"page": "/pricing", "page_views": 2, "sessions": 2, "visitors": 2, "time_on_page": None, "scroll_depth": None},
                             {"page": "/docs", "page_views": 1, "sessions": 1, "visitors": 1, "time_on_page": None, "scroll_depth": None}]
    assert data["entry_pages"] == [{"page": "/", "sessions": 2}, {"page": "/pricing", "sessions": 1}]
    assert data["campaigns"] == [{"campaign": "nov", "sessions": 1}]
    assert data["browsers"] == [{"name": "Chrome", "sessions": 3}, {"name": "Mobile Safari", "sessions": 1}]
    assert data["operating_systems"] == [{"name": "Windows", "sessions": 3}, {"name": "iOS", "sessions": 1}]
    assert data["devices"] == [{"name": "Desktop", "sessions": 3}, {"name": "Mobile", "sessions": 1}]


def test_page_filter(loaded):
    data = loaded.stats("period=1h&page=/pricing")
    # As in Plausible, a page filter answers time on page (no engagement reports here) instead of visit duration,
    # and no exit pages: both move with each later event of a visit, counted for the site, a source, a country.
    assert data["totals"] == {"visitors": 2, "events": 3, "page_views": 2, "sessions": 2, "bounce_rate": 0.5,
                              "avg_session_duration": None, "views_per_session": 1.0, "time_on_page": None, "scroll_depth": None}
    assert data["sources"] == [{"source": "Google", "sessions": 1, "page_views": 1},
                               {"source": "Hacker News", "sessions": 1, "page_views": 1}]
    assert data["entry_pages"] == [{"page": "/", "sessions": 1}, {"page": "/pricing", "sessions": 1}]
    assert data["exit_pages"] is None
    assert loaded.stats("period=1h&source=Google")["exit_pages"] == [{"page": "/pricing", "sessions": 1}]
    assert data["event_types"] == [{"event_type": "page_view", "count": 2}, {"event_type": "signup", "count": 1}]


def test_source_filter(loaded):
    data = loaded.stats("period=1h&source=Google")
    assert data["totals"] == {"visitors": 1, "events": 3, "page_views": 2, "sessions": 1, "bounce_rate": 0.0,
                              "avg_session_duration": 120.0, "views_per_session": 2.0, "time_on_page": None, "scroll_depth": None}
    assert [p["page"] for p in data["pages"]] == ["/", "/pricing"]


def test_event_type_filter(loaded):
    data = loaded.stats("period=1h&event_type=signup")
    assert data["totals"]["events"] == 1
    assert data["totals"]["sessions"] == 1
    assert data["totals"]["page_views"] == 0
    assert data["pages"] == [{"page": "/pricing", "page_views": 0, "sessions": 1}]


def test_filters_combine_with_and(loaded):
    data = loaded.stats("period=1h&page=/pricing&source=Hacker%20News")
    assert data["totals"]["events"] == 1 and data["totals"]["sessions"] == 1
    assert data["totals"]["bounce_rate"] == 1.0
    assert loaded.stats("period=1h&page=/docs&source=Google")["totals"]["events"] == 0


def test_limit_cuts_every_breakdown(loaded):
    data = loaded.stats("period=1h&limit=1")
    assert data["pages"] == [{"page": "/", "page_views": 2, "sessions": 2, "visitors": 2, "time_on_page": None, "scroll_depth": None}]
    assert len(data["sources"]) == 1 and len(data["event_types"]) == 1


def test_timeseries_has_every_bucket_with_zeros(loaded):
    start = int(T // 3600) * 3600 - 3600
    data = loaded.stats(f"from={start}&to={start + 4 * 3600}&interval=hour")
    assert [row["t"] for row in data["timeseries"]] == [start + i * 3600 for i in range(4)]
    assert sum(row["events"] for row in data["timeseries"]) == 7
    assert data["timeseries"][0] == {"t": start, "visitors": 0, "events": 0, "page_views": 0, "sessions": 0}
    assert data["range"] == {"from": start, "to": start + 4 * 3600, "interval": "hour"}


def test_sessions_are_counted_in_the_bucket_where_they_start(backend):
    start = int((NOW - 3 * 3600) // 60) * 60  # a minute boundary, well inside the accepted past
    backend.post({"events": [page_view("S", "/", start + 30), page_view("S", "/b", start + 90)]})
    data = backend.stats(f"from={start}&to={start + 180}&interval=minute")
    assert [row["sessions"] for row in data["timeseries"]] == [1, 0, 0]
    assert [row["page_views"] for row in data["timeseries"]] == [1, 1, 0]


def test_a_session_ends_after_30_minutes_without_events(backend):
    base = NOW - 3 * 3600
    backend.post({"events": [page_view("S", "/", base), page_view("S", "/", base + 1799),
                             page_view("S", "/", base + 1799 + 1801)]})
    totals = backend.stats("period=24h")["totals"]
    assert totals["sessions"] == 2
    assert totals["bounce_rate"] == 0.5
    assert totals["avg_session_duration"] == pytest.approx(1799 / 2, abs=0.1)


def test_compare_previous_adds_the_previous_equal_period(backend):
    backend.post({"events": [page_view("old", "/", NOW - 90 * 60), page_view("new", "/", NOW - 10 * 60),
                             page_view("new2", "/", NOW - 5 * 60)]})
    data = backend.stats("period=1h&compare=previous")
    assert data["totals"]["sessions"] == 2
    assert data["previous_totals"]["sessions"] == 1
    assert "previous_totals" not in backend.stats("period=1h")


HOUR = 3600
YEAR = 364 * 86400  # compare=year: 52 weeks earlier, so weekdays line up


def _series(data: dict, field: str = "previous_timeseries") -> list[tuple]:
    return [(row["t"], row.get("t_previous"), row["sessions"], row["page_views"], row["visitors"])
            for row in data[field]]


def test_compare_previous_gives_the_previous_periods_series_bucket_by_bucket(backend):
    # GIVEN three whole hours and the three before them, with a known stream in each
    h = int(NOW // HOUR) * HOUR
    backend.post({"events": [page_view("p1", "/", h - 5 * HOUR + 60), page_view("p1", "/a", h - 5 * HOUR + 120),
                             page_view("c1", "/", h - 2 * HOUR + 60), page_view("c2", "/", h - HOUR + 60),
                             page_view("c3", "/", h - HOUR + 90)]})
    # WHEN the three hours are asked with compare=previous
    data = backend.stats(f"from={h - 3 * HOUR}&to={h}&compare=previous")
    # THEN each row names the current bucket and the previous period's bucket it is drawn against
    assert _series(data) == [(h - 3 * HOUR, h - 6 * HOUR, 0, 0, 0), (h - 2 * HOUR, h - 5 * HOUR, 1, 2, 1),
                             (h - HOUR, h - 4 * HOUR, 0, 0, 0)]
    assert [row["sessions"] for row in data["timeseries"]] == [0, 1, 2]
    assert data["previous_totals"]["sessions"] == 1 and data["previous_totals"]["page_views"] == 2
    assert "previous_timeseries" not in backend.stats(f"from={h - 3 * HOUR}&to={h}")


@pytest.fixture
def year_ago(backend):
    """History imported as it would be from an old export: one visit 52 weeks ago, one a calendar year ago."""
    from liveinsight.local.importer import import_events

    h = int(NOW // HOUR) * HOUR
    rows = [page_view("y1", "/", h - YEAR - 2 * HOUR + 60), page_view("y1", "/b", h - YEAR - 2 * HOUR + 600),
            page_view("y2", "/", h - YEAR - HOUR + 60), page_view("y3", "/", h - YEAR - HOUR + 70),
            page_view("cal", "/", h - 365 * 86400 - 2 * HOUR + 60)]
    report = import_events(list(enumerate(rows, start=1)), backend.store, now=NOW)
    assert report.rolled_up == len(rows)
    backend.post(page_view("now", "/", h - 2 * HOUR + 60))
    return backend, h


def test_compare_year_gives_the_range_52_weeks_earlier_bucket_by_bucket(year_ago):
    backend, h = year_ago
    data = backend.stats(f"from={h - 3 * HOUR}&to={h}&compare=year")
    # THEN the same hours 364 days earlier (the same weekday), not a calendar year earlier
    assert _series(data) == [(h - 3 * HOUR, h - YEAR - 3 * HOUR, 0, 0, 0),
                             (h - 2 * HOUR, h - YEAR - 2 * HOUR, 1, 2, 1),
                             (h - HOUR, h - YEAR - HOUR, 2, 2, 2)]
    assert data["previous_totals"]["sessions"] == 3 and data["previous_totals"]["page_views"] == 4
    assert data["totals"]["sessions"] == 1
    # a filter's comparison is filtered too; combined filters count no visitors: null, as in timeseries
    paged = backend.stats(f"from={h - 3 * HOUR}&to={h}&compare=year&page=/b&event_type=page_view")
    assert _series(paged) == [(h - 3 * HOUR, h - YEAR - 3 * HOUR, 0, 0, None),
                              (h - 2 * HOUR, h - YEAR - 2 * HOUR, 1, 1, None),
                              (h - HOUR, h - YEAR - HOUR, 0, 0, None)]


def test_compare_year_over_thirty_days_by_day(year_ago):
    backend, h = year_ago
    data = backend.stats("period=30d&compare=year")
    rows = data["previous_timeseries"]
    assert len(rows) == len(data["timeseries"]) == 31
    assert all(row["t"] - row["t_previous"] == YEAR for row in rows)
    # every imported view lies in the 30 days 52 weeks ago (the calendar year's one a day before the others)
    views = Counter(int(t // 86400) * 86400 for t in (h - YEAR - 2 * HOUR + 60, h - YEAR - 2 * HOUR + 600,
                                                      h - YEAR - HOUR + 60, h - YEAR - HOUR + 70,
                                                      h - 365 * 86400 - 2 * HOUR + 60))
    assert {row["t_previous"]: row["page_views"] for row in rows if row["page_views"]} == views
    assert data["previous_totals"]["sessions"] == 4 and data["previous_totals"]["page_views"] == 5


def test_compare_year_is_one_more_query_over_as_many_items(backend):
    def spans(query: str) -> list[int]:
        """The seconds each stats-table Query covers."""
        backend.aggregate()
        seen = []

        def hook(model, params, **_):
            if model.name == "Query" and params["TableName"] == backend.store.settings.stats_table:
                values = params["ExpressionAttributeValues"]
                seen.append(int(values[":b"]["S"].split("#")[1]) - int(values[":a"]["S"].split("#")[1]))

        backend.store.client.meta.events.register("provide-client-params.dynamodb.Query", hook)
        try:
            code, _ = backend.get(f"/api/stats?{query}")
        finally:
            backend.store.client.meta.events.unregister("provide-client-params.dynamodb.Query", hook)
        assert code == 200
        return seen

    backend.post(page_view("s", "/", NOW - 600))
    for query in ("period=24h", "period=30d", "period=7d&page=/"):
        alone, compared = spans(query), spans(f"{query}&compare=year")
        # THEN one more Query, over no more items than the range's own (never the year in between)
        assert len(compared) == len(alone) + 1 and compared[-1] <= max(alone)


def test_iso_8601_ranges_are_accepted(loaded):
    from datetime import datetime, timezone

    iso = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = loaded.stats(f"from={iso(T - 60)}&to={iso(T + 600)}")
    assert data["totals"]["events"] == 7
    assert data["range"]["interval"] == "minute"


@pytest.mark.parametrize("seconds, interval", [(3600, "minute"), (7200, "minute"), (86400, "hour"),
                                               (3 * 86400, "hour"), (7 * 86400, "day")])
def test_default_interval_follows_the_range(backend, seconds, interval):
    data = backend.stats(f"from={int(NOW) - seconds}&to={int(NOW)}")
    assert data["range"]["interval"] == interval


def test_seven_and_thirty_day_ranges_survive_the_raw_events_expiring(loaded):
    loaded.aggregate()
    # GIVEN every raw event is gone (TTL)
    client, table = loaded.store.client, loaded.store.settings.events_table
    for item in client.scan(TableName=table)["Items"]:
        client.delete_item(TableName=table, Key={"session_id": item["session_id"], "timestamp": item["timestamp"]})
    assert loaded.raw_events() == []
    # THEN 7- and 30-day stats still answer from hour/day rollups
    for period in ("7d", "30d"):
        data = loaded.stats(f"period={period}")
        assert data["totals"]["sessions"] == 4 and data["totals"]["page_views"] == 5
        assert data["range"]["interval"] == "day"


BAD_QUERIES = [
    pytest.param("period=2h", "`period` must be one of 1h, 24h, 7d, 30d", id="bad-period"),
    pytest.param("interval=week", "`interval` must be one of minute, hour, day", id="bad-interval"),
    pytest.param("limit=0", "`limit` as a number between 1 and 100", id="limit-0"),
    pytest.param("limit=101", "`limit` as a number between 1 and 100", id="limit-101"),
    pytest.param("limit=ten", "`limit` as a number between 1 and 100", id="limit-text"),
    pytest.param("from=200&to=100", "`from` is after `to`", id="from-after-to"),
    pytest.param("from=100", "`from` and `to` go together", id="from-alone"),
    pytest.param("from=yesterday&to=100", "`from` must be epoch seconds or an ISO 8601", id="bad-from"),
    pytest.param("from=0&to=40000000", "longer than 400 days", id="over-400-days"),
    pytest.param("period=1h&from=1&to=2", "either `period` or `from`", id="period-and-range"),
    pytest.param("pgae=/x", "unknown parameter `pgae`", id="unknown-param"),
    pytest.param("compare=last_year", "`compare` accepts only 'previous' or 'year', not 'last_year'",
                 id="bad-compare"),
    pytest.param("period=30d&compare=Year", "`compare` accepts only 'previous' or 'year'", id="compare-case"),
    pytest.param("from=0&to=86400&compare=year", "compare=year reaches before the 400 days of kept rollups",
                 id="compare-year-beyond-retention"),
    pytest.param("period=30d&interval=minute", "at most 1440 are accepted", id="too-many-buckets"),
    pytest.param("page=", "`page` is empty", id="empty-page"),
]


@pytest.mark.parametrize("query, message", BAD_QUERIES)
def test_bad_parameters_get_400_naming_the_parameter(backend, query, message):
    code, payload = backend.get(f"/api/stats?{query}")
    assert code == 400
    assert message in payload["message"]


def _count_operations(store):
    calls = []

    def hook(model, params, **_):
        calls.append((model.name, params.get("TableName") or ",".join(params.get("RequestItems", {}))))

    store.client.meta.events.register("provide-client-params.dynamodb.*", hook)
    return calls, lambda: store.client.meta.events.unregister("provide-client-params.dynamodb.*", hook)


def test_read_cost_does_not_grow_with_the_events_stored(backend):
    table = backend.store.settings.events_table

    def stats_calls():
        backend.aggregate()
        calls, stop = _count_operations(backend.store)
        try:
            code, _ = backend.get("/api/stats?period=24h&compare=previous")
            code2, _ = backend.get("/api/realtime")
        finally:
            stop()
        assert code == code2 == 200
        return calls

    backend.post({"events": [page_view(f"s{i}", f"/p{i % 3}", NOW - 600) for i in range(10)]})
    small = stats_calls()
    backend.post({"events": [page_view(f"t{i}", f"/q{i % 50}", NOW - 300) for i in range(400)]})
    large = stats_calls()
    assert len(small) == len(large) <= 12
    assert not [c for c in large if c[0] == "Scan" or table in c[1]]


def test_items_whose_ttl_has_passed_are_ignored(backend):
    # GIVEN a rollup item that expired but was not deleted yet (DynamoDB is up to 48 h late, moto never deletes)
    from liveinsight.items import rollups as r
    from liveinsight.store import serialize

    hour = r.bucket_start(NOW - 600, "hour")
    for level in ("shop.example.com", r.ALL_SITES):
        stale = {"pk": r.pk(level, r.ALL), "sk": r.sk(r.HOUR, hour), "v": 1, "ttl": int(NOW - 60),
                 "c": r.encode({"t": [999, 999, 999, 0, 0, 0], "m": {"0": [999, 999, 999, 0, 0]}})}
        backend.store.client.put_item(TableName=backend.store.settings.stats_table, Item=serialize(stale))
    # THEN it is not counted, and new events in that bucket start from zero (one site, and all sites)
    for query in ("period=24h", "period=24h&site=shop.example.com"):
        assert backend.stats(query)["totals"]["events"] == 0
    backend.post(page_view("s", "/", NOW - 600))
    for query in ("period=24h", "period=24h&site=shop.example.com"):
        assert backend.stats(query)["totals"]["events"] == 1
