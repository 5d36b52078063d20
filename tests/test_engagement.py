"""Engagement reports and exit pages: time on page, scroll depth, a one-page visit's duration."""
from __future__ import annotations

import pytest

from conftest import collect, midnight, stats_at as stats

DAY = 86400


def view(page: str, at: float, n: int) -> dict:
    return {"event_type": "page_view", "session_id": "v1", "timestamp": at, "event_id": f"v-{n}",
            "page_url": f"https://shop.example.com{page}"}


def engagement(page: str, at: float, n: int, **props) -> dict:
    return {"event_type": "engagement", "session_id": "v1", "timestamp": at, "event_id": f"g-{n}",
            "page_url": f"https://shop.example.com{page}", "props": props}


def test_a_one_page_visit_has_its_engaged_time_and_stays_a_bounce(backend):
    # GIVEN one page view, then the tracker's report when the page was left: 42 s engaged, scrolled 80 %
    at = midnight() + 9 * 3600
    collect(backend, [view("/pricing", at, 1)], now=at + 600)
    backend.aggregate()
    collect(backend, [engagement("/pricing", at + 300, 1, engaged_seconds=42, scroll_depth=80)], now=at + 600)
    # WHEN asked
    data = stats(backend, f"from={at - 60}&to={at + 600}", now=at + 600)
    # THEN the report is not an event and ends no bounce, but gives the visit its duration and the page its time
    totals = data["totals"]
    assert (totals["events"], totals["sessions"], totals["bounce_rate"]) == (1, 1, 1.0)
    assert totals["avg_session_duration"] == 42.0
    assert (totals["time_on_page"], totals["scroll_depth"]) == (42.0, 80.0)
    assert data["pages"][0]["time_on_page"] == 42.0 and data["pages"][0]["scroll_depth"] == 80.0
    page = stats(backend, f"from={at - 60}&to={at + 600}&page=/pricing", now=at + 600)
    assert page["totals"]["time_on_page"] == 42.0


def test_time_on_page_is_a_mean_and_a_tab_left_open_counts_30_minutes(backend):
    # GIVEN two views of / reporting 20 s and five days (a tab left open)
    at = midnight() + 10 * 3600
    collect(backend, [view("/", at, 1), engagement("/", at + 30, 1, engaged_seconds=20),
                      view("/", at + 60, 2), engagement("/", at + 90, 2, engaged_seconds=5 * DAY)], now=at + 600)
    data = stats(backend, f"from={at - 60}&to={at + 600}", now=at + 600)
    # THEN the page's time is the mean of 20 s and 30 minutes
    assert data["totals"]["time_on_page"] == (20 + 1800) / 2
    assert data["totals"]["scroll_depth"] is None  # nothing reported it


def test_exit_pages_are_each_visits_last_page_view_whatever_the_order(backend):
    # GIVEN a visit / → /pricing → /signup whose last view arrives first
    at = midnight() + 11 * 3600
    collect(backend, [view("/signup", at + 120, 3)], now=at + 600)
    backend.aggregate()
    collect(backend, [view("/", at, 1), view("/pricing", at + 60, 2)], now=at + 600)
    # WHEN asked THEN it exits on /signup
    assert stats(backend, f"from={at - 60}&to={at + 600}", now=at + 600)["exit_pages"] == [
        {"page": "/signup", "sessions": 1}]


def test_a_report_without_its_visit_is_ignored(backend):
    at = midnight() + 12 * 3600
    collect(backend, [engagement("/", at, 1, engaged_seconds=10)], now=at + 60)
    data = stats(backend, f"from={at - 60}&to={at + 60}", now=at + 120)
    assert data["totals"]["events"] == 0 and data["totals"]["time_on_page"] is None


@pytest.mark.parametrize("props, named", [
    pytest.param({"scroll_depth": 150}, "`props.scroll_depth` is '150'", id="scroll-over-100"),
    pytest.param({"engaged_seconds": -1}, "`props.engaged_seconds` is '-1'", id="negative-seconds"),
    pytest.param({"engaged_seconds": "12"}, "`props.engaged_seconds` is '12'", id="seconds-as-text"),
    pytest.param({"other": 1}, "has neither `engaged_seconds` nor `scroll_depth`", id="neither"),
])
def test_a_malformed_report_is_a_400_naming_the_property(backend, props, named):
    event = {"event_type": "engagement", "page_url": "https://shop.example.com/", "props": props}
    code, payload = backend.post(event)
    assert code == 400 and named in payload["message"], payload
