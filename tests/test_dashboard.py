"""The dashboard as its users see it: every page rendered by AppTest against a fake client."""
from __future__ import annotations

import base64
import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from liveinsight.dashboard import kiosk, ui
from liveinsight.dashboard.charts import PALETTE
from liveinsight.dashboard.client import ApiAuthError, ApiRequestError, ApiServerError, ApiUnreachable
from tests import fakes, hostile

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = str(ROOT / "dashboard.py")
PAGES = {
    "overview": "pages/overview.py",
    "realtime": "pages/realtime.py",
    "sources": "pages/sources.py",
    "pages": "pages/top_pages.py",
    "events": "pages/events.py",
    "devices": "pages/devices.py",
    "locations": "pages/locations.py",
    "goals": "pages/goals.py",
    "funnels": "pages/funnels.py",
}
ALL_PAGES = [pytest.param(path, id=name) for name, path in PAGES.items()]
STATS_PAGES = [pytest.param(path, id=name) for name, path in PAGES.items() if name != "realtime"]


@pytest.fixture
def fake(monkeypatch):
    """GIVEN a fake API client behind the dashboard, fresh caches and no configured settings."""
    monkeypatch.delenv("LIVEINSIGHT_API_URL", raising=False)
    monkeypatch.delenv("LIVEINSIGHT_API_KEY", raising=False)
    client = fakes.FakeClient()
    client.site_definitions["shop.example.com"] = {  # the Funnels page has a funnel to draw
        "site": "shop.example.com", "version": 1, "page_groups": [], "goals": [],
        "funnels": [{"name": "checkout", "steps": ["landing", "signup"], "since": 0, "seeded": True}]}
    monkeypatch.setattr(ui, "client_factory", lambda url, key: client)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield client
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(page: str, query: dict[str, str] | None = None) -> AppTest:
    """Open the dashboard (optionally with a query string) and go to `page`."""
    at = AppTest.from_file(DASHBOARD, default_timeout=30)
    at.query_params.update(query or {})
    at.run()
    if page != PAGES["overview"]:
        at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Everything written as markdown, captions, alerts and titles, as one string of what a reader sees."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "title", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(hostile.shown(str(p)) for p in parts)


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page that has `column`."""
    for frame in (d.value for d in at.dataframe):
        if column in frame.columns:
            return frame
    raise AssertionError(f"no table with a {column!r} column; tables: {[list(d.value.columns) for d in at.dataframe]}")


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def chart_spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def values(array) -> list:
    """A plotly JSON array, which plotly 7 may pack as base64 typed data."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


# --- every page ---------------------------------------------------------------------


@pytest.mark.parametrize("page", ALL_PAGES)
def test_every_page_renders_with_a_title_chart_and_downloadable_tables(fake, page):
    at = open_page(page)

    assert at.title, "page has no title"
    assert charts(at), "page has no chart"
    assert at.dataframe, "page has no table"
    downloads = at.get("download_button")
    assert len(downloads) >= len(at.dataframe)
    assert not at.error


def test_navigation_lists_every_page_with_an_icon(fake):
    at = open_page(PAGES["overview"])
    # The router is the entry file; its pages are the page files, each with an icon.
    source = Path(DASHBOARD).read_text()
    for path in PAGES.values():
        assert f'st.Page("{path}"' in source
    assert source.count("icon=") >= len(PAGES) + 1
    assert at.title[0].value.endswith("Overview")


# --- Overview -----------------------------------------------------------------------


def test_overview_kpis_show_the_clients_numbers_and_change_against_previous_period(fake):
    at = open_page(PAGES["overview"])

    tiles = {m.label: (m.value, m.delta) for m in at.metric}
    assert tiles == {
        "Visitors": ("987", "+9.7%"),
        "Sessions": ("1,234", "+23.4%"),
        "Page views": ("3,210", "+7.0%"),
        "Events": ("4,321", "+8.0%"),
        "Bounce rate": ("42.1%", "+2.1 pp"),
        "Avg. duration": ("2m 05s", "+25.0%"),
        "Views per session": ("2.60", "+30.0%"),
    }
    assert any(call.get("compare") == "previous" for call in fake.stats_calls())
    assert [m.label for m in at.metric][0] == "Visitors"
    assert "once per day" in at.metric[0].help


def test_overview_and_source_tables_count_visitors(fake):
    at = open_page(PAGES["overview"])

    assert table_with(at, "page")["visitors"].tolist() == [805, 401, 188]
    assert table_with(at, "source")["visitors"].tolist() == [511, 333, 201]


def test_overview_says_new_events_count_within_the_rollup_window(fake):
    at = open_page(PAGES["overview"])
    assert any("within about a minute" in c.value and "Realtime" in c.value for c in at.caption)


def test_overview_tables_hold_top_pages_and_sources(fake):
    at = open_page(PAGES["overview"])

    pages = table_with(at, "page")
    assert pages["page"].tolist() == ["/", "/pricing", "/docs"]
    assert pages["page_views"].tolist() == [1800, 987, 423]
    sources = table_with(at, "source")
    assert sources["source"].tolist() == ["Google", "Direct", "news.ycombinator.com"]
    assert sources["sessions"].tolist() == [600, 400, 234]


def test_overview_traffic_chart_plots_the_time_series_in_metric_colours(fake):
    at = open_page(PAGES["overview"])

    figure = chart_spec(charts(at)[0])
    series = {trace["name"]: values(trace["y"]) for trace in figure["data"]}
    assert series["Sessions"][:3] == [30, 31, 32]
    assert series["Page views"][-1] == 103
    assert series["Visitors"][:2] == [20, 21]
    solid = [trace for trace in figure["data"] if trace["line"].get("dash") != "dash"]
    assert {trace["name"]: trace["line"]["color"] for trace in solid} == {
        "Visitors": PALETTE["visitors"], "Sessions": PALETTE["sessions"], "Page views": PALETTE["page_views"], "Events": PALETTE["events"]}
    assert figure["layout"]["xaxis"]["title"]["text"] == "Time (UTC)"


# --- Realtime -----------------------------------------------------------------------


def test_realtime_shows_active_sessions_feed_and_breakdowns(fake):
    at = open_page(PAGES["realtime"])

    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Active now"] == "17"
    assert tiles["Last 30 min"] == "58"
    feed = table_with(at, "ago")
    assert feed["page"].tolist() == ["/live", "/"]  # newest first
    assert feed["ago"].tolist() == ["3s ago", "40s ago"]
    assert "session_id" not in feed.columns
    assert table_with(at, "page")["page"].tolist() == ["/live", "/"]
    assert table_with(at, "event_type")["count"].tolist() == [61, 13]
    assert fake.calls[-1] == ("realtime", {"page": None, "site": None, "window": 30})


def test_realtime_shows_who_is_active_now_by_country(fake):
    at = open_page(PAGES["realtime"])

    by_country = table_with(at, "active_sessions")
    assert by_country.values.tolist() == [["United States", 9], ["United Kingdom", 5], ["Unknown", 3]]
    assert "place filters do not apply here" in texts(at)


def test_realtime_says_when_no_country_is_active_now(fake):
    fake.realtime_data = fakes.realtime_payload(countries=[])

    at = open_page(PAGES["realtime"])

    assert "No one is active right now." in [c.value for c in at.caption]
    assert not [d for d in at.dataframe if "active_sessions" in d.value.columns]


def test_realtime_refresh_defaults_to_five_seconds_and_can_pause(fake):
    at = open_page(PAGES["realtime"])
    control = at.button_group(key="refresh")
    assert control.value == "5 s"

    control.set_value("Paused").run()

    assert not at.exception
    assert at.button_group(key="refresh").value == "Paused"
    assert {m.label: m.value for m in at.metric}["Active now"] == "17"


def test_realtime_uses_the_page_filter(fake):
    at = open_page(PAGES["realtime"], {"page": "/pricing"})

    assert fake.calls[-1] == ("realtime", {"page": "/pricing", "site": None, "window": 30})
    assert "page /pricing" in texts(at)


def test_realtime_empty_state(fake):
    fake.realtime_data = fakes.realtime_payload(
        active_sessions=0, active_sessions_30m=0, top_pages=[], top_referrers=[], event_types=[], recent_events=[],
        per_minute=[{"minute": fakes.NOW - 60 * i, "events": 0, "page_views": 0, "sessions": 0} for i in range(30)])

    at = open_page(PAGES["realtime"])

    assert {m.label: m.value for m in at.metric}["Active now"] == "0"
    assert "No events in the last 30 minutes yet." in [i.value for i in at.info]
    assert not charts(at)


# --- Sources, Pages, Events, Devices ------------------------------------------------


def test_sources_page_shows_sources_referrers_and_per_source_series(fake):
    at = open_page(PAGES["sources"])

    assert table_with(at, "source")["sessions"].tolist() == [600, 400, 234]
    assert table_with(at, "referrer")["referrer"].tolist() == ["www.google.com", "news.ycombinator.com"]
    per_source = {call.get("source") for call in fake.stats_calls() if call.get("limit") == 1}
    assert per_source == {"Google", "Direct", "news.ycombinator.com"}
    assert "No utm_campaign in this range" in texts(at)


def test_sources_page_shows_utm_campaigns_when_the_api_sends_them(fake):
    fake.stats_data["campaigns"] = [{"campaign": "spring_sale", "sessions": 55}]

    at = open_page(PAGES["sources"])

    campaigns = table_with(at, "utm_campaign")
    assert (campaigns["utm_campaign"].tolist(), campaigns["sessions"].tolist()) == (["spring_sale"], [55])


def test_sources_page_shows_channels_and_each_utm_tag(fake):
    fake.stats_data["channels"] = [{"channel": "Organic Search", "visitors": 400, "sessions": 480, "bounce_rate": 0.4},
                                   {"channel": "Email", "visitors": 90, "sessions": 100, "bounce_rate": 0.2}]
    fake.stats_data["utm_mediums"] = [{"utm_medium": "email", "sessions": 100}]
    fake.stats_data["utm_terms"] = [{"utm_term": "running shoes", "sessions": 12}]

    at = open_page(PAGES["sources"])

    assert table_with(at, "channel")["visitors"].tolist() == [400, 90]
    assert table_with(at, "utm_medium")["utm_medium"].tolist() == ["email"]
    assert table_with(at, "utm_term")["sessions"].tolist() == [12]
    assert "No utm_content in this range" in texts(at)


def test_choosing_a_channel_shows_its_visitors_and_visits_over_time_and_goes_alone(fake):
    fake.stats_data["channels"] = [{"channel": "Paid Search", "visitors": 90, "sessions": 100, "bounce_rate": 0.2}]
    # GIVEN an analyst on the Sources page with a page filter
    at = open_page(PAGES["sources"], {"page": "/pricing"})
    # WHEN they choose the Paid Search channel in the sidebar
    at.selectbox(key="channel").select("Paid Search").run()
    # THEN the page asks the API for that channel alone (a campaign filter goes alone: the page filter is cleared)
    last = fake.stats_calls()[-1]
    assert last.get("channel") == "Paid Search" and last.get("page") is None
    assert at.query_params.get("channel") == "Paid Search" and "page" not in at.query_params
    # AND it shows the channel's KPIs and its visitors and visits over time, not the source tables
    assert chart_spec(charts(at)[-1])["layout"]["title"]["text"] == \
        "Visitors, visits and page views from Channel Paid Search"
    assert not [d for d in at.dataframe if "source" in d.value.columns]
    assert "Visitors" in [m.label for m in at.metric]


@pytest.mark.parametrize("page", [PAGES["pages"], PAGES["devices"], PAGES["locations"], PAGES["events"]])
def test_a_utm_filter_on_a_page_of_breakdowns_says_why_it_shows_none(fake, page):
    # WHEN a link with a UTM campaign filter opens a page of breakdowns
    at = open_page(page, {"utm_campaign": "spring"})
    # THEN the page says breakdowns are not kept per campaign, and where to look, instead of "no events"
    assert "UTM campaign spring: breakdowns are not kept per channel or UTM tag" in texts(at)
    assert not at.dataframe
    # AND a button clears that filter
    next(b for b in at.button if b.label == "Clear the UTM campaign filter").click().run()
    assert "utm_campaign" not in at.query_params


@pytest.mark.parametrize("page", [PAGES["overview"], PAGES["pages"], PAGES["locations"]])
def test_a_year_of_a_filtered_value_says_why_its_tables_are_empty(fake, page):
    # GIVEN the API answers a year by a country from month items: totals and trend, no breakdowns
    for table in ("pages", "sources", "entry_pages", "exit_pages", "countries", "regions", "cities", "referrers"):
        fake.stats_data[table] = []
    fake.stats_data["breakdowns_omitted"] = True
    # WHEN a page opens on the last 12 months of one country
    at = open_page(page, {"period": "last_12_months", "country": "US"})
    # THEN it says the year is counted month by month, and offers a range read day by day
    assert "Last 12 months by country United States: counted month by month" in texts(at)
    fake.calls.clear()
    next(b for b in at.button if b.label == "Show the last 30 days").click().run()
    assert fake.stats_calls() and all(call["period"] == "30d" for call in fake.stats_calls())


def test_a_year_with_breakdowns_says_nothing_of_months(fake):
    at = open_page(PAGES["overview"], {"period": "last_12_months"})
    assert "counted month by month" not in texts(at)


def test_pages_page_lists_top_and_entry_pages(fake):
    at = open_page(PAGES["pages"])

    exits = [d.value for d in at.dataframe if list(d.value.columns[:2]) == ["page", "sessions"]][-1]
    assert exits["page"].tolist() == ["/pricing", "/docs"]  # exit pages, under the entry pages

    assert table_with(at, "page_views")["page"].tolist() == ["/", "/pricing", "/docs"]
    entry = [d.value for d in at.dataframe if list(d.value.columns[:2]) == ["page", "sessions"]][0]
    assert entry["sessions"].tolist() == [800, 300]


def test_a_page_filter_shows_time_on_page_and_says_why_exit_pages_are_not_counted(fake):
    # GIVEN the API answers a page filter as it does: time on page instead of visit duration, no exit pages
    for name in ("totals", "previous_totals"):
        fake.stats_data[name] = {**fake.stats_data[name], "avg_session_duration": None}
    fake.stats_data["totals"]["time_on_page"] = 47.0
    fake.stats_data["previous_totals"]["time_on_page"] = 40.0
    fake.stats_data["exit_pages"] = None
    # WHEN the Pages page and the Overview open filtered to a page
    at = open_page(PAGES["pages"], {"page": "/pricing"})
    # THEN no exit pages table, and a note of where exits are counted
    assert "Not counted under this filter" in texts(at)
    assert not [d for d in at.dataframe if list(d.value.columns[:2]) == ["page", "sessions"]][1:]
    at = open_page(PAGES["overview"], {"page": "/pricing"})
    tiles = {m.label: (m.value, m.delta) for m in at.metric}
    assert tiles["Time on page"] == ("47s", "+17.5%") and "Avg. duration" not in tiles


def test_choosing_a_page_filters_every_chart_to_it(fake):
    at = open_page(PAGES["pages"])
    fake.calls.clear()

    at.selectbox(key="page").set_value("/pricing").run()

    page_calls = [call for call in fake.stats_calls() if call.get("limit") != 100]
    assert page_calls and all(call["page"] == "/pricing" for call in page_calls)
    assert "Every chart shows /pricing only." in [hostile.shown(i.value) for i in at.info]
    assert at.query_params["page"] == ["/pricing"] or at.query_params["page"] == "/pricing"

    at.button[[b.label for b in at.button].index("Show all pages")].click().run()
    assert at.selectbox(key="page").value is None
    assert "page" not in at.query_params


def test_events_page_shows_types_custom_events_and_a_series_per_type(fake):
    at = open_page(PAGES["events"])

    assert table_with(at, "share")["event_type"].tolist() == ["page_view", "signup", "download"]
    custom = [d.value for d in at.dataframe if "share" not in d.value.columns][0]
    assert custom["event_type"].tolist() == ["signup", "download"]
    assert custom["count"].tolist() == [777, 334]
    per_type = {call.get("event_type") for call in fake.stats_calls() if call.get("limit") == 1}
    assert per_type == {"signup", "download"}  # custom events only; page views would dwarf them
    assert chart_spec(charts(at)[-1])["layout"]["title"]["text"] == "Custom events over time"


def test_events_page_with_an_event_type_filter_plots_only_that_type(fake):
    open_page(PAGES["events"], {"event_type": "signup"})

    per_type = [call["event_type"] for call in fake.stats_calls() if call.get("limit") == 1]
    assert per_type == ["signup"]


def test_events_page_shows_each_property_of_the_chosen_event_type(fake):
    # WHEN a product manager picks the signups
    at = open_page(PAGES["events"], {"event_type": "signup"})
    # THEN each property has a chart and a table of its values, with the rest as (other)
    tables = {tuple(d.value["value"]): d.value for d in at.dataframe if "value" in d.value.columns}
    assert list(tables) == [("true", "false"), ("pro", "free", "(other)")]
    assert tables[("pro", "free", "(other)")]["events"].tolist() == [500, 200, 77]
    assert tables[("pro", "free", "(other)")]["visitors"].tolist() == [420, 190, 70]
    titles = [chart_spec(c)["layout"]["title"]["text"] for c in charts(at)]
    assert "newsletter" in titles and "plan" in titles


def test_a_property_value_over_time_on_the_events_page(fake):
    # GIVEN a product manager looking at the signups' properties
    at = open_page(PAGES["events"], {"event_type": "signup"})
    # WHEN they choose plan = pro
    at.selectbox(key="property_value").select(("plan", "pro")).run()
    # THEN the API is asked for that value of the signups (prop=plan:pro) and its series is drawn
    assert any(call.get("prop") == ("plan", "pro") and call.get("event_type") == "signup"
               for call in fake.stats_calls())
    assert chart_spec(charts(at)[-1])["layout"]["title"]["text"] == "signup with plan = pro over time"


def test_events_page_without_an_event_type_says_how_to_see_properties(fake):
    at = open_page(PAGES["events"])
    assert any("Choose an event type" in c.value for c in at.caption)
    assert not [d for d in at.dataframe if "value" in d.value.columns]


def test_devices_page_shows_browsers_systems_and_device_classes(fake):
    at = open_page(PAGES["devices"])

    tables = [d.value for d in at.dataframe]
    assert [t["name"].tolist() for t in tables] == [
        ["Chrome", "Firefox", "Safari"], ["Windows", "macOS", "Android"], ["desktop", "mobile", "tablet"]]
    assert tables[0]["sessions"].tolist() == [700, 321, 213]
    assert len(charts(at)) == 3


def traffic_traces(at: AppTest) -> list[dict]:
    spec = next(chart_spec(c) for c in charts(at) if "Traffic over time" in json.dumps(chart_spec(c)["layout"]))
    return spec["data"]


def test_overview_draws_the_previous_period_dashed_with_its_own_legend_entries(fake):
    at = open_page(PAGES["overview"])

    traces = {t["name"]: t for t in traffic_traces(at)}
    dashed = {name: t for name, t in traces.items() if t.get("line", {}).get("dash") == "dash"}
    assert set(dashed) == {"Visitors (previous period)", "Sessions (previous period)",
                           "Page views (previous period)", "Events (previous period)"}
    sessions = dashed["Sessions (previous period)"]
    # THEN drawn against the current buckets, in the metric's colour, the hover giving the compared day's date
    assert sessions["x"] == traces["Sessions"]["x"]
    assert values(sessions["y"]) == [15 + i for i in range(24)]
    assert sessions["line"]["color"] == PALETTE["sessions"]
    first = pd.Timestamp(fakes.NOW - 48 * fakes.HOUR, unit="s")  # UTC, as the chart's axis
    assert pd.Timestamp(sessions["customdata"][0]) == first
    assert "customdata|" in sessions["hovertemplate"]


def test_choosing_a_year_earlier_asks_for_it_and_keeps_it_in_the_url(fake):
    at = open_page(PAGES["overview"])

    at.button_group(key="compare").set_value("year").run()

    assert fake.stats_calls()[-1]["compare"] == "year"
    assert at.query_params["compare"] in ("year", ["year"])
    names = [t["name"] for t in traffic_traces(at) if t.get("line", {}).get("dash") == "dash"]
    assert "Sessions (a year earlier)" in names and "Sessions (previous period)" not in names
    sessions = next(t for t in traffic_traces(at) if t["name"] == "Sessions (a year earlier)")
    assert pd.Timestamp(sessions["customdata"][0]) == pd.Timestamp(fakes.NOW - 24 * fakes.HOUR - fakes.YEAR,
                                                                    unit="s")


def test_a_link_with_compare_year_reproduces_it_and_none_draws_no_dashed_line(fake):
    at = open_page(PAGES["overview"], {"compare": "year"})
    assert at.button_group(key="compare").value == "year"
    assert fake.stats_calls()[-1]["compare"] == "year"

    at.button_group(key="compare").set_value("none").run()

    assert fake.stats_calls()[-1]["compare"] is None
    assert at.query_params["compare"] in ("none", ["none"])
    assert not [t for t in traffic_traces(at) if t.get("line", {}).get("dash") == "dash"]
    assert not [m.delta for m in at.metric if m.delta]


# --- filters and the URL ------------------------------------------------------------


def test_default_filters_ask_for_the_last_24_hours_and_keep_the_url_clean(fake):
    at = open_page(PAGES["overview"])

    assert fake.stats_calls()[-1] == {"period": "24h", "page": None, "source": None, "event_type": None,
                                      "site": None, "compare": "previous"}
    assert dict(at.query_params) == {}


def test_sidebar_filters_flow_into_client_calls_and_the_url(fake):
    at = open_page(PAGES["overview"])

    at.selectbox(key="period").set_value("7d").run()
    at.selectbox(key="source").set_value("Google").run()
    at.selectbox(key="event_type").set_value("signup").run()

    assert fake.stats_calls()[-1] == {"period": "7d", "page": None, "source": "Google", "event_type": "signup",
                                      "site": None, "compare": "previous"}
    assert {k: at.query_params[k] for k in at.query_params} in (
        {"period": "7d", "source": "Google", "event_type": "signup"},
        {"period": ["7d"], "source": ["Google"], "event_type": ["signup"]})
    assert "Last 7 days · source Google · event type signup" in texts(at)


def test_a_link_reproduces_the_view(fake):
    at = open_page(PAGES["overview"], {"period": "30d", "page": "/pricing", "source": "Google"})

    assert at.selectbox(key="period").value == "30d"
    assert at.selectbox(key="page").value == "/pricing"
    assert fake.stats_calls()[-1] == {"period": "30d", "page": "/pricing", "source": "Google", "event_type": None,
                                      "site": None, "compare": "previous"}


def test_filters_persist_across_pages(fake):
    at = open_page(PAGES["overview"])
    at.selectbox(key="period").set_value("1h").run()
    at.selectbox(key="page").set_value("/docs").run()

    at.switch_page(PAGES["devices"]).run()

    assert fake.stats_calls()[-1] == {"period": "1h", "page": "/docs", "source": None, "event_type": None,
                                      "site": None}
    assert at.selectbox(key="period").value == "1h"
    assert "Last hour · page /docs" in texts(at)


def test_the_site_selector_is_hidden_with_one_site(fake):
    at = open_page(PAGES["overview"])

    assert "site" not in [box.key for box in at.selectbox]
    assert fake.stats_calls()[-1]["site"] is None


def test_the_site_selector_offers_all_sites_first_when_there_are_two(fake):
    fake.stats_data["sites"] = ["blog.example.com", "shop.example.com"]

    at = open_page(PAGES["overview"])

    selector = at.selectbox(key="site")
    assert selector.options == ["All sites", "blog.example.com", "shop.example.com"]
    assert selector.value is None


@pytest.mark.parametrize("page", ALL_PAGES)
def test_a_chosen_site_goes_into_the_url_and_every_client_call(fake, page):
    fake.stats_data["sites"] = ["blog.example.com", "shop.example.com"]
    at = open_page(page)
    fake.calls.clear()

    at.selectbox(key="site").set_value("shop.example.com").run()

    assert at.query_params["site"] in ("shop.example.com", ["shop.example.com"])
    # Only the sidebar's list of sites asks for every site; everything the page shows is the chosen one's.
    site_list = {"period": "24h", "page": None, "source": None, "event_type": None, "site": None,
                 "limit": ui.FILTER_OPTIONS_LIMIT}
    page_calls = [params for _, params in fake.calls if params != site_list]
    assert page_calls and all(params["site"] == "shop.example.com" for params in page_calls)
    assert "site shop.example.com" in texts(at)


def test_a_site_link_keeps_its_site_and_all_sites_brings_every_site_back(fake):
    fake.stats_data["sites"] = ["blog.example.com", "shop.example.com"]
    at = open_page(PAGES["realtime"], {"site": "blog.example.com"})

    assert at.selectbox(key="site").value == "blog.example.com"
    assert fake.calls[-1] == ("realtime", {"page": None, "site": "blog.example.com", "window": 30})

    at.selectbox(key="site").set_value(None).run()

    assert fake.calls[-1] == ("realtime", {"page": None, "site": None, "window": 30})
    assert "site" not in at.query_params


def test_custom_range_asks_for_whole_days_of_the_sites_zone_and_goes_into_the_url(fake):
    at = open_page(PAGES["overview"])
    at.selectbox(key="period").set_value("custom").run()
    start, end = date.today() - timedelta(days=3), date.today() - timedelta(days=1)

    at.date_input(key="range").set_value((start, end)).run()

    call = fake.stats_calls()[-1]
    assert (call["from_"], call["to"]) == (start.isoformat(), end.isoformat())  # local dates, `to` included
    assert "period" not in call
    assert at.query_params["from"] in (start.isoformat(), [start.isoformat()])
    assert at.query_params["to"] in (end.isoformat(), [end.isoformat()])


def test_clear_filters_resets_everything(fake):
    at = open_page(PAGES["overview"], {"period": "7d", "source": "Google"})

    at.button[[b.label for b in at.button].index("Clear filters")].click().run()

    assert fake.stats_calls()[-1]["period"] == "24h"
    assert fake.stats_calls()[-1]["source"] is None
    assert dict(at.query_params) == {}


def test_a_custom_range_link_reproduces_the_range(fake):
    start, end = date.today() - timedelta(days=10), date.today() - timedelta(days=4)

    at = open_page(PAGES["overview"], {"period": "custom", "from": start.isoformat(), "to": end.isoformat()})

    assert at.date_input(key="range").value == (start, end)
    assert (fake.stats_calls()[-1]["from_"], fake.stats_calls()[-1]["to"]) == (start.isoformat(), end.isoformat())


def test_a_future_end_day_in_the_link_is_clamped_to_today(fake):
    at = open_page(PAGES["overview"], {"period": "custom", "from": "2020-01-01", "to": "2999-01-01"})

    assert at.date_input(key="range").value == (date(2020, 1, 1), date.today())


def test_a_bad_period_in_the_url_falls_back_to_the_default(fake):
    at = open_page(PAGES["overview"], {"period": "forever"})

    assert at.selectbox(key="period").value == "24h"


# --- empty and error states ---------------------------------------------------------


@pytest.mark.parametrize("page", STATS_PAGES)
def test_empty_range_says_so(fake, page):
    fake.stats_data = fakes.empty_stats_payload()

    at = open_page(page)

    assert "No events in this range yet." in [i.value for i in at.info]
    assert not charts(at)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_unreachable_api_names_the_url_setting(fake, page):
    fake.error = ApiUnreachable("Cannot reach the LiveInsight API at http://127.0.0.1:8000.")

    at = open_page(page)

    assert at.error[0].value.startswith("**API unreachable.** Cannot reach the LiveInsight API")
    assert "LIVEINSIGHT_API_URL" in texts(at)
    assert "http://127.0.0.1:8000" in texts(at)
    assert not at.exception
    assert not charts(at)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_missing_api_key_names_the_key_setting(fake, page):
    fake.error = ApiAuthError("The API requires a key and none was sent; set LIVEINSIGHT_API_KEY.", 401)

    at = open_page(page)

    assert "The API needs an API key." in at.error[0].value
    assert "LIVEINSIGHT_API_KEY" in texts(at)
    assert not charts(at)


def test_wrong_api_key_says_it_was_rejected(fake, monkeypatch):
    monkeypatch.setenv("LIVEINSIGHT_API_KEY", "not-the-key")
    fake.error = ApiAuthError("The API rejected the key in LIVEINSIGHT_API_KEY.", 401)

    at = open_page(PAGES["overview"])

    assert "The API key was rejected." in at.error[0].value


def test_bad_request_shows_the_servers_message(fake):
    fake.error = ApiRequestError("Please provide limit as a number between 1 and 100.", 400)

    at = open_page(PAGES["sources"])

    assert "Please provide limit as a number between 1 and 100." in hostile.shown(at.warning[0].value)


def test_server_error_is_a_panel_not_a_traceback(fake):
    fake.error = ApiServerError("The LiveInsight API failed (HTTP 500): boom.", 500)

    at = open_page(PAGES["devices"])

    assert "The API failed." in at.error[0].value
    assert not at.exception


# --- configuration ------------------------------------------------------------------


def test_settings_come_from_the_environment(fake, monkeypatch):
    seen = []
    monkeypatch.setattr(ui, "client_factory", lambda url, key: seen.append((url, key)) or fake)
    monkeypatch.setenv("LIVEINSIGHT_API_URL", "http://api.example:9000")
    monkeypatch.setenv("LIVEINSIGHT_API_KEY", "s3cret")

    at = open_page(PAGES["overview"])

    assert seen == [("http://api.example:9000", "s3cret")]
    assert "http://api.example:9000" in texts(at)


def test_settings_come_from_streamlit_secrets(fake, monkeypatch):
    seen = []
    monkeypatch.setattr(ui, "client_factory", lambda url, key: seen.append((url, key)) or fake)
    at = AppTest.from_file(DASHBOARD, default_timeout=30)
    at.secrets["LIVEINSIGHT_API_URL"] = "http://from-secrets:8000"
    at.secrets["LIVEINSIGHT_API_KEY"] = "secret-key"

    at.run()

    assert not at.exception
    assert seen == [("http://from-secrets:8000", "secret-key")]


def test_default_url_without_env_or_secrets_file(fake, monkeypatch):
    seen = []
    monkeypatch.setattr(ui, "client_factory", lambda url, key: seen.append((url, key)) or fake)

    open_page(PAGES["overview"])

    assert seen == [("http://127.0.0.1:8000", None)]


def test_events_page_without_custom_events_plots_every_type(fake):
    fake.stats_data["event_types"] = [{"event_type": "page_view", "count": 3210}]

    at = open_page(PAGES["events"])

    assert "No custom events in this range" in texts(at)
    assert chart_spec(charts(at)[-1])["layout"]["title"]["text"] == "Events over time by type"
    assert [call["event_type"] for call in fake.stats_calls() if call.get("limit") == 1] == ["page_view"]


# --- share links ----------------------------------------------------------------------


def share_link(expires_in: float = 7 * 86400, secret: str = fakes.SHARE_SECRET, **scope) -> str:
    """A share token as `python -m liveinsight share` mints it (the dashboard never needs the secret)."""
    import time

    from liveinsight import share

    return share.mint(secret, "shop.example.com", time.time() + expires_in, **scope)


def scope_check(call: dict) -> bool:
    """The call that asks the API for a link's verified scope: the token and nothing else to filter."""
    return set(call) == {"share", "limit"}


@pytest.fixture
def keyed_fake(fake, monkeypatch):
    """GIVEN the fake client behind a dashboard that is configured with an API key; factory calls recorded."""
    monkeypatch.setenv("LIVEINSIGHT_API_KEY", "the-teams-key")
    fake.factory_calls = []

    def factory(url, key):
        fake.factory_calls.append((url, key))
        return fake

    monkeypatch.setattr(ui, "client_factory", factory)
    fake.stats_data["sites"] = ["blog.example.com", "shop.example.com"]
    return fake


def test_a_share_link_shows_a_read_only_banner_and_locks_its_scope(keyed_fake):
    link = share_link(page="/pricing", period="7d")

    at = open_page(PAGES["overview"], {"share": link, "site": "shop.example.com", "page": "/pricing"})

    banner = hostile.shown(at.info[0].value)
    assert banner.startswith("Shared view of shop.example.com · page /pricing · up to the last 7d · expires ")
    assert banner.endswith(" · read-only")
    site = at.selectbox(key="site")
    assert site.disabled and site.value == "shop.example.com"
    assert at.selectbox(key="page").disabled and at.selectbox(key="page").value == "/pricing"
    assert not at.selectbox(key="source").disabled  # not fixed by the link: still a filter within it
    # The periods inside the last 7 days, as the API lists them (on Thursday, fakes.SHARE_NOW): rolling ones and
    # today, yesterday, this week
    assert at.selectbox(key="period").options == ["Last hour", "Last 24 hours", "Today", "Yesterday", "Last 7 days",
                                                  "This week"]
    # Every call carries the link, the link's site and page, and never the team's key.
    assert keyed_fake.stats_calls() and all(
        call["share"] == link and (scope_check(call) or (call["site"] == "shop.example.com"
                                                         and call["page"] == "/pricing"))
        for call in keyed_fake.stats_calls())
    assert {key for _, key in keyed_fake.factory_calls} == {None}


def test_a_share_link_fixed_to_this_month_offers_the_periods_inside_it(keyed_fake):
    # GIVEN the link as `share` prints it, but with its period edited to a longer one
    at = open_page(PAGES["overview"], {"share": share_link(period="this_month"), "period": "30d"})

    assert "· this month · expires " in hostile.shown(at.info[0].value)
    options = at.selectbox(key="period").options
    assert at.selectbox(key="period").value == "this_month" and {"Today", "This month"} <= set(options)
    assert not {"Last 30 days", "Last month", "All time", "Custom range"} & set(options)
    assert keyed_fake.stats_calls()[-1]["period"] == "this_month"


def test_a_share_link_without_a_period_offers_every_period(keyed_fake):
    at = open_page(PAGES["overview"], {"share": share_link(), "period": "30d"})

    assert at.selectbox(key="period").value == "30d"
    assert "Custom range" in at.selectbox(key="period").options
    assert not at.selectbox(key="page").disabled


def test_clear_filters_keeps_what_the_link_fixes(keyed_fake):
    at = open_page(PAGES["overview"], {"share": share_link(page="/pricing", period="24h")})
    at.selectbox(key="source").set_value("Google").run()

    at.button[0].click().run()

    assert at.selectbox(key="site").value == "shop.example.com" and at.selectbox(key="page").value == "/pricing"
    assert at.selectbox(key="source").value is None
    assert keyed_fake.stats_calls()[-1]["period"] == "24h"


@pytest.mark.parametrize("page", ALL_PAGES)
def test_the_share_link_stays_in_the_url_on_every_page(keyed_fake, page):
    link = share_link()

    at = open_page(page, {"share": link})

    assert at.query_params["share"] in (link, [link])
    assert "Shared view of shop.example.com" in hostile.shown(at.info[0].value)
    name, params = keyed_fake.calls[-1]
    assert params["share"] == link and params["site"] == "shop.example.com"


def test_an_expired_share_link_says_so_not_a_traceback(keyed_fake):
    at = open_page(PAGES["overview"], {"share": share_link(expires_in=-60)})

    assert "share link expired on" in at.error[0].value
    assert all(scope_check(call) for call in keyed_fake.stats_calls()) and not charts(at)


def test_a_damaged_share_link_says_so(keyed_fake):
    at = open_page(PAGES["overview"], {"share": "not-a-link"})

    assert "This share link is damaged." in at.error[0].value
    assert all(scope_check(call) for call in keyed_fake.stats_calls()) and not charts(at)


def test_a_revoked_share_link_shows_the_servers_message(keyed_fake):
    from liveinsight.dashboard.client import ApiShareError

    keyed_fake.error = ApiShareError("invalid share link: it was altered, or the share secret was rotated; "
                                     "ask whoever sent it for a new link", 401)

    at = open_page(PAGES["overview"], {"share": share_link()})

    assert "This share link does not open this view." in at.error[0].value
    assert "share secret was rotated" in at.error[0].value
    assert "LIVEINSIGHT_API_KEY" not in texts(at)
# --- kiosk mode ---------------------------------------------------------------------


@pytest.fixture
def kiosk_clock(monkeypatch):
    """GIVEN a clock the test moves forward (kiosk rotation counts seconds on it)."""
    now = [1000.0]
    monkeypatch.setattr(kiosk, "clock", lambda: now[0])
    return now


def kiosk_css(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if h.proto.body.strip() == kiosk.CSS.strip()]


@pytest.mark.parametrize("page", ALL_PAGES)
def test_kiosk_mode_draws_no_sidebar_or_chrome_and_plain_tables_without_downloads(fake, kiosk_clock, page):
    at = open_page(page, {"kiosk": "1"})

    assert kiosk_css(at), "the kiosk style is not on the page"
    for hidden in ("stSidebar", "stHeader", "stToolbar", "stMainMenu", "stAppDeployButton"):
        assert f'[data-testid="{hidden}"]' in kiosk.CSS
    assert len(at.sidebar.children) == 0, "the sidebar has content"
    assert not at.get("download_button")
    assert not at.dataframe and at.table, "tables are interactive grids, not large-type tables"
    assert len(at.table[0].value) <= kiosk.TABLE_ROWS
    assert at.title and charts(at)
    assert not at.warning


def test_kiosk_mode_keeps_the_url_filters_and_labels_the_screen_live(fake, kiosk_clock):
    at = open_page(PAGES["overview"], {"kiosk": "1", "period": "7d", "source": "Google", "site": "shop.example.com"})

    assert fake.stats_calls()[-1] == {"period": "7d", "page": None, "source": "Google", "event_type": None,
                                      "site": "shop.example.com", "compare": "previous"}
    assert "Last 7 days · site shop.example.com · source Google" in texts(at)
    label = [h.proto.body for h in at.get("html")
             if kiosk.LABEL_CLASS in h.proto.body and "<style>" not in h.proto.body]
    assert len(label) == 1 and re.search(r">shop\.example\.com · updated \d\d:\d\d:\d\d UTC<", label[0])


def test_kiosk_overview_draws_the_url_comparison_dashed_without_a_control(fake, kiosk_clock):
    at = open_page(PAGES["overview"], {"kiosk": "1", "compare": "year"})

    assert fake.stats_calls()[-1]["compare"] == "year"
    assert not at.get("button_group")  # nobody in the room picks a comparison
    dashed = [t["name"] for t in traffic_traces(at) if t.get("line", {}).get("dash") == "dash"]
    assert "Sessions (a year earlier)" in dashed


def test_kiosk_charts_are_in_large_type(fake, kiosk_clock):
    at = open_page(PAGES["overview"], {"kiosk": "1"})

    layout = chart_spec(charts(at)[0])["layout"]
    assert layout["xaxis"]["tickfont"]["size"] == kiosk.CHART_FONT_SIZE
    assert layout["height"] >= kiosk.CHART_HEIGHT


def test_kiosk_realtime_has_no_refresh_control_and_refreshes_itself(fake, kiosk_clock):
    at = open_page(PAGES["realtime"], {"kiosk": "1"})

    assert not at.get("button_group")
    assert {m.label: m.value for m in at.metric}["Active now"] == "17"


def test_kiosk_rotates_to_the_next_page_after_every_seconds_and_keeps_the_query(fake, kiosk_clock):
    query = {"kiosk": "1", "rotate": "Overview,TOP_PAGES,realtime", "every": "20", "site": "shop.example.com"}
    at = open_page(PAGES["overview"], query)
    assert at.title[0].value.endswith("Overview")

    kiosk_clock[0] += 15  # WHEN the screen reruns before its time is up
    at.run()
    assert at.title[0].value.endswith("Overview")

    kiosk_clock[0] += 5  # WHEN `every` seconds have passed
    at.run()
    assert at.title[0].value.endswith("Pages")
    assert dict(at.query_params) == {key: [value] for key, value in query.items()} or dict(at.query_params) == query
    assert not at.sidebar.children

    kiosk_clock[0] += 20
    at.run()
    assert at.title[0].value.endswith("Realtime")
    assert fake.calls[-1] == ("realtime", {"page": None, "site": "shop.example.com", "window": 30})

    kiosk_clock[0] += 20  # AND after the last page comes the first again
    at.run()
    assert at.title[0].value.endswith("Overview")


def test_kiosk_without_rotate_stays_on_its_page(fake, kiosk_clock):
    at = open_page(PAGES["sources"], {"kiosk": "1"})

    kiosk_clock[0] += 3600
    at.run()

    assert at.title[0].value.endswith("Sources")


def test_bad_kiosk_parameters_are_named_on_screen_and_the_rest_still_works(fake, kiosk_clock):
    at = open_page(PAGES["overview"], {"kiosk": "1", "rotate": "overview,traffic,realtime", "every": "1"})

    messages = [hostile.shown(w.value) for w in at.warning]
    assert messages == [
        "rotate: no page named 'traffic'; choose from overview, realtime, sources, pages, events, goals, funnels, "
        "devices, locations.",
        "every: '1' is not a number of seconds between 5 and 3600; showing each page for 30 s.",
    ]
    assert not at.exception
    assert at.title[0].value.endswith("Overview")

    kiosk_clock[0] += kiosk.DEFAULT_EVERY_SECONDS
    at.run()
    assert at.title[0].value.endswith("Realtime")


def test_a_kiosk_screen_opened_from_a_share_link_keeps_to_its_scope(keyed_fake, kiosk_clock):
    # GIVEN a share link for the shop's /pricing page, opened full screen with other filters in the URL
    link = share_link(page="/pricing", period="24h")

    at = open_page(PAGES["overview"], {"kiosk": "1", "share": link, "site": "blog.example.com",
                                       "page": "/", "period": "30d"})

    # THEN every call still asks for the link's site, page and period, with the link and never the key
    assert not at.exception
    calls = keyed_fake.stats_calls()
    assert calls and all(call["share"] == link and (scope_check(call) or (
        call["site"] == "shop.example.com" and call["page"] == "/pricing" and call.get("period") == "24h"))
        for call in calls)
    assert {key for _, key in keyed_fake.factory_calls} == {None}
    assert at.query_params["share"] in (link, [link])


# --- Locations and the place filters ---------------------------------------------------


def test_locations_map_shades_countries_by_visitors_from_the_dashboards_own_shapes(fake):
    at = open_page(PAGES["locations"])

    chart = charts(at)[0]
    trace = chart_spec(chart)["data"][0]
    assert (trace["type"], trace["locationmode"]) == ("choropleth", "ISO-3")
    assert list(trace["locations"]) == ["USA", "DEU", "JPN", "BRA"]  # Unknown has no shape
    assert values(trace["z"]) == [412, 203, 151, 77]
    assert json.loads(chart.proto.config)["topojsonURL"] == ui.TOPOJSON_URL
    assert (ROOT / "static" / "topojson" / "world_110m.json").is_file()
    assert any(call.get("limit") == 100 and call.get("country") is None for call in fake.stats_calls())


def test_locations_tables_name_countries_regions_and_cities(fake):
    at = open_page(PAGES["locations"])

    countries = table_with(at, "country_name")
    assert countries["country_name"].tolist() == ["United States", "Germany", "Japan", "Unknown", "Brazil"]
    assert countries["visitors"].tolist() == [412, 203, 151, 96, 77]
    assert table_with(at, "region_name")["region_name"].tolist()[:2] == ["Washington", "Berlin"]
    assert table_with(at, "city_name")["city_name"].tolist() == ["Seattle", "Berlin"]


def test_locations_without_regions_or_cities_say_so(fake):
    fake.stats_data = fakes.stats_payload(regions=[], cities=[],
                                          countries=[{"country": "Unknown", "visitors": 4, "sessions": 5,
                                                      "page_views": 9, "bounce_rate": 0.2}])

    at = open_page(PAGES["locations"])

    shown = [c.value for c in at.caption]
    assert "No regions known in this range." in shown and "No cities known in this range." in shown
    assert any("every visitor in this range is of unknown country" in c for c in shown)
    assert table_with(at, "country_name")["country_name"].tolist() == ["Unknown"]


@pytest.mark.parametrize("page", ALL_PAGES)
def test_a_country_chosen_in_the_sidebar_filters_every_page_and_the_url(fake, page):
    at = open_page(page)
    fake.calls.clear()

    at.selectbox(key="country").set_value("DE").run()

    page_calls = [call for name, call in fake.calls if name == "stats" and call.get("limit") != 100]
    if page == PAGES["realtime"]:  # Realtime has no place filter; it says so.
        assert "place filters do not apply here" in texts(at)
    elif page == PAGES["locations"]:  # Its own call asks for as many rows as the sidebar's lists do.
        assert "Every page shows visitors from Germany only." in [hostile.shown(i.value) for i in at.info]
        assert any(call.get("country") == "DE" for call in fake.stats_calls())
    else:
        assert page_calls and all(call["country"] == "DE" for call in page_calls)
        assert "country Germany" in texts(at)
    assert at.query_params["country"] in ("DE", ["DE"])


def test_a_country_offers_its_regions_and_a_new_country_clears_them(fake):
    at = open_page(PAGES["locations"], {"country": "US"})
    assert at.selectbox(key="country").value == "US"

    at.selectbox(key="region").set_value("US-WA").run()
    assert fake.stats_calls()[-1]["region"] == "US-WA"
    assert "Every page shows visitors from Washington only." in [hostile.shown(i.value) for i in at.info]

    at.selectbox(key="country").set_value("JP").run()
    assert at.selectbox(key="region").value is None
    assert "region" not in at.query_params and "region" not in fake.stats_calls()[-1]


def test_show_all_places_clears_country_region_and_city(fake):
    at = open_page(PAGES["locations"], {"country": "US", "region": "US-WA", "city": "US-WA/Seattle"})
    assert "Every page shows visitors from Seattle, Washington only." in [hostile.shown(i.value) for i in at.info]

    at.button[[b.label for b in at.button].index("Show all places")].click().run()

    assert not {"country", "region", "city"} & set(at.query_params)
    assert not {"country", "region", "city"} & set(fake.stats_calls()[-1])


def test_a_place_filter_the_api_refuses_with_a_page_filter_shows_its_message(fake):
    fake.error = ApiRequestError("`country` cannot be combined with `page` yet", 400)

    at = open_page(PAGES["locations"], {"country": "US", "page": "/pricing"})

    assert "`country` cannot be combined with `page` yet" in hostile.shown(at.warning[0].value)
    assert not at.exception


def test_a_saved_view_and_a_kiosk_screen_keep_the_country(fake, kiosk_clock):
    at = open_page(PAGES["overview"], {"country": "DE", "period": "7d"})
    at.text_input(key="_saved_view_name").set_value("Germany").run()
    at.button[[b.label for b in at.button].index("Save view")].click().run()
    assert fake.saved["germany"].filters == {"period": "7d", "country": "DE"}

    fake.calls.clear()
    at = open_page(PAGES["overview"], {"kiosk": "1", "country": "DE"})
    assert fake.stats_calls()[-1]["country"] == "DE"


def test_a_filter_combination_without_visitors_shows_a_dash_and_no_visitors_column(fake):
    payload = fakes.stats_payload(previous_totals={**fakes.PREVIOUS_TOTALS, "visitors": None})
    payload["totals"]["visitors"] = None
    for row in payload["timeseries"] + payload["pages"] + payload["sources"]:
        row.pop("visitors")
    fake.stats_data = payload

    at = open_page(PAGES["overview"], {"source": "Google", "event_type": "signup"})

    tile = next(m for m in at.metric if m.label == "Visitors")
    assert tile.value == "—" and not tile.delta
    assert "visitors" not in table_with(at, "page").columns
    assert "Visitors" not in [t["name"] for t in chart_spec(charts(at)[0])["data"]]


def test_no_country_choice_while_the_api_names_no_places(fake):
    for key in ("countries", "regions", "cities"):
        fake.stats_data[key] = []

    at = open_page(PAGES["overview"])

    assert "country" not in [s.key for s in at.selectbox]


@pytest.mark.parametrize("label", hostile.PATHS[:5] + hostile.SOURCES[:2])
def test_hostile_place_names_are_text_in_banners_captions_and_tables(fake, label):
    # GIVEN a city and a country code as a forged header or a link could name them
    fake.stats_data = fakes.stats_payload(
        countries=[{"country": label, "visitors": 3, "sessions": 3, "page_views": 3, "bounce_rate": 0.0},
                   {"country": "US", "visitors": 2, "sessions": 2, "page_views": 2, "bounce_rate": 0.0}],
        cities=[{"city": f"US-WA/{label}", "name": label, "region": "US-WA", "country": "US", "visitors": 2,
                 "sessions": 2, "page_views": 2, "bounce_rate": 0.0}])

    at = open_page(PAGES["locations"], {"city": f"US-WA/{label}"})

    for element in [*at.info, *at.caption, *at.markdown]:
        assert hostile.markup_from(element.value) == set(), element.value
    assert hostile.seen(label) in [hostile.shown(i.value) for i in at.info][0]
    assert table_with(at, "city_name")["city_name"].tolist() == [label]


SHOP_GOALS = [
    {"name": "signup", "visitors": 120, "conversions": 150, "visits": 130, "conversion_rate": 0.1216, "since": 0,
     "counted_from": 0, "revenue": []},
    {"name": "purchase", "visitors": 40, "conversions": 44, "visits": 41, "conversion_rate": 0.0405,
     "since": 1_796_000_000, "counted_from": None,
     "revenue": [{"currency": "USD", "total": 4321.5, "average": 98.22, "conversions": 44}]},
]


def test_goals_page_lists_each_goal_with_its_rate_and_revenue_and_one_goal_by_source(fake):
    fake.stats_data.update(sites=["shop.example.com"], goals=SHOP_GOALS,
                           goal={**SHOP_GOALS[0], "revenue_by_source": []})
    # WHEN a product manager opens the Goals page of the only site
    at = open_page(PAGES["goals"])
    # THEN each goal has its unique conversions, conversions and rate, and when it counts from
    goals = table_with(at, "conversion_rate")
    assert goals["goal"].tolist() == ["signup", "purchase"]
    assert goals["visitors"].tolist() == [120, 40] and goals["conversions"].tolist() == [150, 44]
    assert goals["counting"].tolist() == ["from the start", "since 2026-11-30 00:53 UTC; the raw events from before "
                                                            "being recounted"]
    assert table_with(at, "currency")["total"].tolist() == [4321.5]
    # AND the first goal is shown over time, asked of the API as goal=signup for that site
    assert any(call.get("goal") == "signup" and call.get("site") == "shop.example.com" for call in fake.stats_calls())
    assert chart_spec(charts(at)[1])["layout"]["title"]["text"] == "signup: unique conversions and conversions"
    # AND choosing another asks for it
    at.selectbox(key="goal_choice").select("purchase").run()
    assert any(call.get("goal") == "purchase" for call in fake.stats_calls())


def test_goals_page_without_goals_points_to_settings_and_with_several_sites_asks_for_one(fake):
    fake.stats_data.update(sites=["shop.example.com"], goals=[])
    at = open_page(PAGES["goals"])
    assert "has no goals yet" in texts(at)
    fake.stats_data.update(sites=["a.example.com", "b.example.com"])
    st.cache_data.clear()
    at = open_page(PAGES["goals"])
    assert "Goals are a site's: choose a site in the sidebar." in texts(at)


def test_funnels_page_draws_the_chosen_funnel_with_each_step(fake):
    fake.stats_data.update(sites=["shop.example.com"], funnel={"name": "checkout", "since": 0, "steps": [
        {"step": 1, "goal": "landing", "visits": 1000, "visitors": 900, "conversion_from_previous": 1.0,
         "conversion_from_start": 1.0, "drop_off": 0},
        {"step": 2, "goal": "pricing", "visits": 420, "visitors": 400, "conversion_from_previous": 0.42,
         "conversion_from_start": 0.42, "drop_off": 580},
        {"step": 3, "goal": "signup", "visits": 130, "visitors": 125, "conversion_from_previous": 0.3095,
         "conversion_from_start": 0.13, "drop_off": 290}]})
    fake.site_definitions["shop.example.com"] = {"site": "shop.example.com", "version": 1, "page_groups": [],
                                                 "goals": [], "funnels": [{"name": "checkout", "steps": [
                                                     "landing", "pricing", "signup"], "since": 1_796_000_000,
                                                     "seeded": False, "counted_from": 1_795_920_000}]}
    # WHEN the Funnels page opens
    at = open_page(PAGES["funnels"])
    # THEN the funnel is asked for by name and drawn step by step with the visits at each
    assert any(call.get("funnel") == "checkout" for call in fake.stats_calls())
    spec = chart_spec(charts(at)[0])
    assert spec["data"][0]["type"] == "funnel" and spec["data"][0]["x"] == [1000, 420, 130]
    steps = table_with(at, "drop_off")
    assert steps["drop_off"].tolist() == [0, 580, 290]
    # AND it says from when it counts: the oldest raw event it was recounted over
    assert any("It counts since 2026-11-29 02:40 UTC." in c.value for c in at.caption)


def type_into(selectbox, value: str):
    """Type a new option into a selectbox that accepts them (AppTest only selects listed ones: list it, as the
    browser sends the typed text)."""
    if value not in selectbox.options:
        selectbox.options.append(value)
    return selectbox.set_value(value)


def test_a_typed_pattern_that_is_a_page_group_filters_by_it(fake):
    fake.site_definitions["shop.example.com"]["page_groups"] = [
        {"name": "Products", "pattern": "/products/*", "since": 0, "seeded": True}]
    at = open_page(PAGES["overview"])
    # WHEN a product manager types a pattern into the page filter
    type_into(at.selectbox(key="page"), "/products/*").run()
    # THEN the page group of that pattern is the filter, for its site, alone
    last = fake.stats_calls()[-1]
    assert (last.get("page_group"), last.get("site"), last.get("page")) == ("Products", "shop.example.com", None)
    assert at.query_params.get("page_group") == "Products"


def test_a_page_group_combines_with_a_source_and_an_event_type_but_not_a_page(fake):
    fake.site_definitions["shop.example.com"]["page_groups"] = [
        {"name": "Products", "pattern": "/products/*", "since": 0, "seeded": True}]
    at = open_page(PAGES["overview"], {"site": "shop.example.com", "source": "Google"})
    # WHEN a product manager picks a page group while a source is chosen, then an event type
    at.selectbox(key="page_group").set_value("Products").run()
    at.selectbox(key="event_type").set_value("signup").run()
    # THEN the group is asked for with both
    last = fake.stats_calls()[-1]
    assert (last.get("page_group"), last.get("source"), last.get("event_type")) == ("Products", "Google", "signup")
    # AND a page (which the API does not combine with a group) clears the group
    at.selectbox(key="page").set_value("/pricing").run()
    last = fake.stats_calls()[-1]
    assert (last.get("page_group"), last.get("page")) == (None, "/pricing")


def test_a_typed_pattern_that_is_no_group_yet_is_offered_to_save_as_one(fake):
    at = open_page(PAGES["overview"])
    # WHEN a pattern no group has is typed
    type_into(at.selectbox(key="page"), "/blog/**").run()
    # THEN the sidebar offers to save it as a page group, and saving it filters by it
    assert "/blog/** is a pattern" in " ".join(hostile.shown(c.value) for c in at.sidebar.caption)
    at.text_input(key="_pattern_name").input("Blog").run()
    next(b for b in at.button if b.label == "Save as a page group").click().run()
    assert ("put_definition", {"kind": "page_groups", "name": "Blog", "body": {"pattern": "/blog/**"},
                               "site": "shop.example.com"}) in fake.calls
    assert fake.stats_calls()[-1].get("page_group") == "Blog"


def test_a_typed_path_is_an_exact_page_filter(fake):
    at = open_page(PAGES["overview"])
    type_into(at.selectbox(key="page"), "/not-in-the-list").run()
    assert fake.stats_calls()[-1].get("page") == "/not-in-the-list"
