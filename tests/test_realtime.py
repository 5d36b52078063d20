"""GET /api/realtime: active sessions at the edges of the window, series, tops, feed."""
from __future__ import annotations

import time

import pytest

from conftest import page_view

NOW = time.time()


@pytest.fixture(autouse=True)
def fresh_clock():
    """Times relative to when each test runs, not to when the module was collected."""
    global NOW
    NOW = time.time()


@pytest.fixture
def reader(backend):
    from liveinsight.query.realtime import RealtimeReader

    return RealtimeReader(backend.store)


def test_an_event_4_59_ago_is_active_and_5_01_ago_is_not(backend, reader):
    t = NOW - 60
    backend.post({"events": [page_view("inside", "/", t), page_view("outside", "/", t - 2)]})
    backend.aggregate()
    # WHEN asked 299 s after "inside" (4:59) and so 301 s after "outside" (5:01)
    data = reader.answer({}, now=t + 299)
    # THEN only "inside" is active now; both are active over 30 minutes
    assert data["active_sessions"] == 1
    assert data["active_sessions_30m"] == 2
    assert reader.answer({}, now=t + 297)["active_sessions"] == 2
    assert reader.answer({}, now=t + 30 * 60 + 1)["active_sessions_30m"] == 0


def test_active_sessions_30m_and_the_page_filter(backend):
    backend.post({"events": [page_view("a", "/", NOW - 20 * 60), page_view("b", "/pricing", NOW - 60),
                             page_view("c", "/", NOW - 30)]})
    data = backend.realtime()
    assert (data["active_sessions"], data["active_sessions_30m"]) == (2, 3)
    data = backend.realtime("page=/pricing")
    assert (data["active_sessions"], data["active_sessions_30m"]) == (1, 1)
    assert [e["page"] for e in data["recent_events"]] == ["/pricing"]


def test_per_minute_has_one_row_per_minute_of_the_window_with_zeros(backend):
    backend.post({"events": [page_view("a", "/", NOW - 125), {"event_type": "click", "session_id": "a",
                                                              "timestamp": NOW - 120}]})
    data = backend.realtime("window=10")
    minutes = [row["minute"] for row in data["per_minute"]]
    assert len(minutes) == 10
    assert all(b - a == 60 for a, b in zip(minutes, minutes[1:]))
    assert sum(row["events"] for row in data["per_minute"]) == 2
    assert sum(row["page_views"] for row in data["per_minute"]) == 1
    assert sum(1 for row in data["per_minute"] if row["events"] == 0) >= 8


def test_top_pages_referrers_event_types_and_feed(backend):
    backend.post({"events": [
        page_view("a", "/", NOW - 100, referrer="https://www.google.com/"),
        page_view("a", "/pricing", NOW - 90),
        page_view("b", "/pricing", NOW - 80, referrer="https://news.ycombinator.com/"),
        page_view("c", "/pricing", NOW - 70, referrer="https://news.ycombinator.com/"),
        {"event_type": "signup", "session_id": "c", "timestamp": NOW - 60},
        page_view("old", "/old", NOW - 20 * 60),
    ]})
    data = backend.realtime()
    assert data["top_pages"] == [{"page": "/pricing", "sessions": 3, "page_views": 3},
                                 {"page": "/", "sessions": 1, "page_views": 1}]
    assert data["top_referrers"] == [{"source": "Hacker News", "sessions": 2, "page_views": 2},
                                     {"source": "Google", "sessions": 1, "page_views": 2}]
    assert {"event_type": "signup", "count": 1} in data["event_types"]
    assert {"event_type": "page_view", "count": 5} in data["event_types"]
    feed = data["recent_events"]
    assert feed[0]["event_type"] == "signup" and feed[0]["source"] == "Hacker News"
    assert set(feed[0]) == {"event_type", "timestamp", "page", "source"}  # never a visit id
    assert len(feed) == 6
    assert data["generated_at"] == pytest.approx(time.time(), abs=30)


def test_recent_events_keeps_the_newest_20(backend):
    backend.post({"events": [page_view(f"s{i}", f"/p{i}", NOW - 100 + i) for i in range(30)]})
    feed = backend.realtime()["recent_events"]
    assert len(feed) == 20
    assert feed[0]["page"] == "/p29" and feed[-1]["page"] == "/p10"


@pytest.mark.parametrize("query, message", [
    ("window=4", "`window` must be a whole number of minutes from 5 to 60"),
    ("window=61", "`window` must be a whole number of minutes from 5 to 60"),
    ("window=abc", "`window` must be a whole number"),
    ("period=1h", "unknown parameter `period`"),
])
def test_bad_realtime_parameters(backend, query, message):
    code, payload = backend.get(f"/api/realtime?{query}")
    assert code == 400 and message in payload["message"]


def test_an_event_from_a_clock_a_few_seconds_ahead_is_active(backend, reader):
    # GIVEN a visit whose browser clock runs 8 s ahead (the collector accepts up to 5 minutes)
    backend.post(page_view("ahead", "/", NOW + 8))
    backend.aggregate()
    # WHEN asked now THEN it is active, in the feed, on its page
    data = reader.answer({}, now=NOW)
    assert data["active_sessions"] == 1
    assert [e["page"] for e in data["recent_events"]] == ["/"]
