"""The dashboard's plain helpers: KPI tiles, reshaping, chart factories and filter ↔ URL mapping."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from liveinsight.dashboard import charts, frames
from liveinsight.dashboard.client import Realtime, Stats, Totals
from liveinsight.dashboard.ui import Filters
from tests import fakes


@pytest.mark.parametrize(("seconds", "text"), [
    pytest.param(0, "0s", id="zero"),
    pytest.param(45.4, "45s", id="seconds"),
    pytest.param(125, "2m 05s", id="minutes"),
    pytest.param(3720, "1h 02m", id="hours"),
])
def test_format_duration(seconds, text):
    assert frames.format_duration(seconds) == text


def test_kpis_without_a_previous_period_have_no_delta():
    tiles = frames.kpis(Totals(events=10, page_views=8, sessions=4, bounce_rate=0.5, avg_session_duration=61,
                               views_per_session=2))

    assert [(t.label, t.value, t.delta) for t in tiles] == [
        ("Sessions", "4", None), ("Page views", "8", None), ("Events", "10", None),
        ("Bounce rate", "50.0%", None), ("Avg. duration", "1m 01s", None), ("Views per session", "2.00", None)]


def test_kpis_against_an_empty_previous_period_show_no_change():
    tiles = frames.kpis(Totals(sessions=4), Totals())

    assert all(t.delta is None for t in tiles)


def test_bounce_rate_rising_is_bad_news():
    bounce = {t.key: t for t in frames.kpis(Totals(sessions=10, bounce_rate=0.30),
                                            Totals(sessions=10, bounce_rate=0.25))}["bounce_rate"]

    assert (bounce.delta, bounce.delta_color) == ("+5.0 pp", "inverse")


def test_with_share_and_top_with_other():
    frame = pd.DataFrame({"name": list("abcdefgh"), "sessions": [40, 20, 10, 10, 5, 5, 5, 5]})

    assert frames.with_share(frame, "sessions")["share"].iloc[0] == 0.4
    pie = frames.top_with_other(frame, "name", "sessions", n=3)
    assert pie["name"].tolist() == ["a", "b", "c", "Other"]
    assert pie["sessions"].tolist() == [40, 20, 10, 30]


def test_with_share_of_nothing_is_zero():
    assert frames.with_share(pd.DataFrame({"sessions": []}), "sessions")["share"].tolist() == []


def test_custom_events_leave_out_page_views():
    custom = frames.custom_events(Stats.from_json(fakes.stats_payload()).event_types)

    assert custom["event_type"].tolist() == ["signup", "download"]


def test_stack_series_makes_one_long_frame():
    series = Stats.from_json(fakes.stats_payload()).timeseries

    long = frames.stack_series({"signup": series, "download": series}, "event_type", "events")

    assert list(long.columns) == ["t", "event_type", "events"]
    assert len(long) == 48
    assert long.groupby("event_type")["events"].sum().to_dict() == {"signup": 2676, "download": 2676}
    assert frames.stack_series({}, "event_type", "events").empty


def test_recent_feed_is_newest_first_with_age():
    now = Realtime.from_json(fakes.realtime_payload())

    feed = frames.recent_feed(now.recent_events, datetime.fromtimestamp(fakes.NOW + 60, tz=timezone.utc))

    assert feed["ago"].tolist() == ["1m 03s ago", "1m 40s ago"]
    assert feed["event_type"].tolist() == ["play_video", "page_view"]
    assert list(feed.columns) == ["ago", "event_type", "page", "source", "timestamp"]  # no session ids


def test_has_traffic():
    assert frames.has_traffic(Stats.from_json(fakes.stats_payload()).timeseries)
    assert not frames.has_traffic(Stats.from_json(fakes.empty_stats_payload()).timeseries)


# --- charts -------------------------------------------------------------------------


def test_traffic_chart_keeps_metric_colours_and_labels_the_time_axis():
    figure = charts.traffic_over_time(Stats.from_json(fakes.stats_payload()).timeseries)

    assert {t.name: t.line.color for t in figure.data} == {
        "Sessions": charts.PALETTE["sessions"], "Page views": charts.PALETTE["page_views"],
        "Events": charts.PALETTE["events"]}
    assert figure.layout.xaxis.title.text == "Time (UTC)"


def test_events_per_minute_chart():
    figure = charts.events_per_minute(Realtime.from_json(fakes.realtime_payload()).per_minute)

    assert [t.name for t in figure.data] == ["Events", "Sessions"]
    assert figure.data[0].marker.color == charts.PALETTE["events"]
    assert list(figure.data[0].y[:8]) == [0, 1, 2, 3, 4, 5, 6, 0]


def test_breakdown_bars_put_the_largest_on_top():
    figure = charts.breakdown_bars(Stats.from_json(fakes.stats_payload()).sources, "source", ("sessions", "page_views"))

    assert list(figure.data[0].y) == ["news.ycombinator.com", "Direct", "Google"]  # plotly draws bottom-up
    assert [t.marker.color for t in figure.data] == [charts.PALETTE["sessions"], charts.PALETTE["page_views"]]


def test_share_donut_and_series_by():
    stats = Stats.from_json(fakes.stats_payload())

    donut = charts.share_donut(stats.browsers, "name")
    assert list(donut.data[0].labels) == ["Chrome", "Firefox", "Safari"]
    lines = charts.series_by(frames.stack_series({"a": stats.timeseries}, "source", "sessions"), "source", "sessions")
    assert lines.layout.yaxis.title.text == "Sessions"


# --- filters and the URL -------------------------------------------------------------


@pytest.mark.parametrize("filters", [
    pytest.param(Filters(), id="defaults"),
    pytest.param(Filters(period="7d", page="/pricing", source="Google", event_type="signup", site="shop.example.com"),
                 id="everything"),
    pytest.param(Filters(period="custom", start=date(2026, 1, 1), end=date(2026, 1, 7)), id="custom-range"),
])
def test_filters_round_trip_through_the_query_string(filters):
    assert Filters.from_query(filters.to_query()) == filters


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param({"period": "forever"}, Filters(), id="unknown-period"),
    pytest.param({"period": "custom", "from": "yesterday"}, Filters(), id="bad-custom-range"),
    pytest.param({"period": "custom", "from": "2026-01-07", "to": "2026-01-01"},
                 Filters("custom", date(2026, 1, 1), date(2026, 1, 7)), id="reversed-range"),
    pytest.param({"page": ""}, Filters(), id="empty-page"),
    pytest.param({"site": ""}, Filters(), id="empty-site"),
])
def test_filters_from_a_bad_query_fall_back(query, expected):
    assert Filters.from_query(query) == expected


def test_default_filters_leave_the_url_clean():
    assert Filters().to_query() == {}


def test_a_site_goes_into_the_url_the_stats_call_and_the_caption():
    filters = Filters(period="7d", site="shop.example.com", page="/pricing")

    assert filters.to_query() == {"period": "7d", "site": "shop.example.com", "page": "/pricing"}
    assert filters.stats_args()["site"] == "shop.example.com"
    assert filters.description == "Last 7 days · site shop.example.com · page /pricing"


def test_custom_range_covers_whole_days():
    args = Filters("custom", date(2026, 1, 1), date(2026, 1, 7)).stats_args()

    assert (args["from_"], args["to"]) == (date(2026, 1, 1), date(2026, 1, 7) + timedelta(days=1))
    assert "period" not in args


def test_as_text_reads_like_the_dashboards_tables_for_a_screen_across_the_room():
    frame = frames.with_share(pd.DataFrame({"page": ["/", "/pricing", "/docs"], "page_views": [1800, 987, 423]}),
                              "page_views")

    shown = frames.as_text(frame, {"page": "Page", "page_views": "Page views"}, rows=2)

    assert shown.to_dict("list") == {"Page": ["/", "/pricing"], "Page views": ["1,800", "987"],
                                     "share": ["56.1%", "30.7%"]}
