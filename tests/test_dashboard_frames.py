"""The dashboard's plain helpers: KPI tiles, reshaping, chart factories and filter ↔ URL mapping."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from liveinsight.dashboard import charts, frames, places
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
                               views_per_session=2, visitors=3))

    assert [(t.label, t.value, t.delta) for t in tiles] == [
        ("Visitors", "3", None), ("Sessions", "4", None), ("Page views", "8", None), ("Events", "10", None),
        ("Bounce rate", "50.0%", None), ("Avg. duration", "1m 01s", None), ("Views per session", "2.00", None)]


def test_kpis_against_an_empty_previous_period_show_no_change():
    tiles = frames.kpis(Totals(sessions=4), Totals())

    assert all(t.delta is None for t in tiles)


def test_visitors_come_first_with_their_change_and_say_how_days_add_up():
    tiles = frames.kpis(Totals(visitors=1100, sessions=1300), Totals(visitors=1000, sessions=1200))

    visitors = tiles[0]
    assert (visitors.label, visitors.value, visitors.delta) == ("Visitors", "1,100", "+10.0%")
    assert "once per day" in visitors.help and "adds up each day" in visitors.help


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
        "Visitors": charts.PALETTE["visitors"], "Sessions": charts.PALETTE["sessions"], "Page views": charts.PALETTE["page_views"],
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
    pytest.param(Filters(country="US", region="US-WA", city="US-WA/Seattle"), id="places"),
    pytest.param(Filters(country="Unknown"), id="unknown-country"),
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


def test_custom_range_covers_whole_days_of_the_sites_zone():
    # The API reads YYYY-MM-DD as the site's local dates, `to` included.
    args = Filters("custom", date(2026, 1, 1), date(2026, 1, 7)).stats_args()

    assert (args["from_"], args["to"]) == ("2026-01-01", "2026-01-07")
    assert "period" not in args


def test_times_are_labelled_in_the_sites_zone_with_its_abbreviation():
    import pandas as pd

    from liveinsight.dashboard import charts, zone
    from liveinsight.dashboard.client import Stats

    # GIVEN an answer in New York's zone, hourly on the day clocks fall back (two 01:00 hours)
    stats = Stats.from_json({"range": {"from": 1793505600, "to": 1793592000, "interval": "hour"},
                             "zone": {"name": "America/New_York", "abbreviation": "EST", "utc_offset": "-05:00"},
                             "timeseries": [{"t": 1793505600 + 3600 * n, "events": n, "page_views": n,
                                             "sessions": n, "visitors": n} for n in range(25)]})
    times = stats.timeseries["t"]
    # THEN its times are the site's wall clock, with EDT before the change and EST after
    assert [zone.label(t) for t in times[:3]] == ["Nov 01, 00:00 EDT", "Nov 01, 01:00 EDT", "Nov 01, 01:00 EST"]
    assert zone.label(times.iloc[-1]) == "Nov 01, 23:00 EST"
    assert zone.label(pd.Timestamp("2026-11-30", tz="America/New_York"), "day") == "Nov 30, 2026"
    # and the chart's axis and hover name the zone as it is now (EST in winter, EDT in summer)
    now = pd.Timestamp.now(tz="America/New_York").tzname()
    figure = charts.traffic_over_time(stats.timeseries)
    assert figure.layout.xaxis.title.text == f"Time ({now})"
    assert figure.layout.xaxis.hoverformat == f"%b %d, %H:%M {now}"
    # an answer without a zone (an older server, or all sites) stays UTC
    assert zone.time_title(Stats.from_json({"timeseries": [{"t": 0}]}).timeseries["t"]) == "Time (UTC)"


def test_as_text_reads_like_the_dashboards_tables_for_a_screen_across_the_room():
    frame = frames.with_share(pd.DataFrame({"page": ["/", "/pricing", "/docs"], "page_views": [1800, 987, 423]}),
                              "page_views")

    shown = frames.as_text(frame, {"page": "Page", "page_views": "Page views"}, rows=2)

    assert shown.to_dict("list") == {"Page": ["/", "/pricing"], "Page views": ["1,800", "987"],
                                     "share": ["56.1%", "30.7%"]}


def test_as_text_shows_bounce_rates_in_percent():
    shown = frames.as_text(pd.DataFrame({"country_name": ["Germany"], "bounce_rate": [0.4213]}),
                           {"country_name": "Country"}, rows=5)

    assert shown.to_dict("list") == {"Country": ["Germany"], "bounce_rate": ["42.1%"]}


# --- places ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "name"), [
    pytest.param("US", "United States", id="iso"),
    pytest.param("KR", "South Korea", id="common-name"),
    pytest.param("XK", "Kosovo", id="user-assigned"),
    pytest.param("Unknown", "Unknown", id="unknown"),
    pytest.param("Q<b>", "Q<b>", id="not-a-code"),
])
def test_country_names(code, name):
    assert places.country_name(code) == name


def test_region_and_city_names():
    assert places.region_name("US-WA") == "Washington"
    assert places.region_name("DE-BE") == "Berlin"
    assert places.region_name("ZZ-99") == "ZZ-99"
    assert places.city_name("US-WA/Seattle") == "Seattle, Washington"
    assert places.city_name("SG/Singapore") == "Singapore, Singapore"


def test_the_place_filters_read_by_name_in_captions_and_go_to_the_api_only_when_chosen():
    filters = Filters(period="7d", country="US", region="US-WA", city="US-WA/Seattle")

    assert filters.description == "Last 7 days · country United States · region Washington · city Seattle, Washington"
    assert filters.to_query() == {"period": "7d", "country": "US", "region": "US-WA", "city": "US-WA/Seattle"}
    assert {k: filters.stats_args()[k] for k in ("country", "region", "city")} == {
        "country": "US", "region": "US-WA", "city": "US-WA/Seattle"}
    assert not {"country", "region", "city"} & set(Filters().stats_args())


def test_countries_are_named_and_the_map_shades_those_with_a_shape():
    stats = Stats.from_json(fakes.stats_payload())

    table = frames.countries(stats.countries)
    shaded = frames.world_map(stats.countries)

    assert table["country_name"].tolist() == ["United States", "Germany", "Japan", "Unknown", "Brazil"]
    assert table["visitors"].tolist() == [412, 203, 151, 96, 77]
    assert shaded[["iso3", "visitors"]].values.tolist() == [["USA", 412], ["DEU", 203], ["JPN", 151], ["BRA", 77]]


def test_regions_and_cities_are_named_with_where_they_are():
    stats = Stats.from_json(fakes.stats_payload())

    regions = frames.regions(stats.regions)
    cities = frames.cities(stats.cities.assign(region=[None, "DE-BE"]))

    assert regions[["region_name", "country_name"]].values.tolist() == [
        ["Washington", "United States"], ["Berlin", "Germany"], ["New York", "United States"]]
    assert cities[["city_name", "region_name", "country_name"]].values.tolist() == [
        ["Seattle", "", "United States"], ["Berlin", "Berlin", "Germany"]]


def test_active_countries_most_first_by_name():
    frame = Realtime.from_json(fakes.realtime_payload(countries=[
        {"country": "GB", "active_sessions": 2}, {"country": "US", "active_sessions": 7}])).countries

    assert frames.active_countries(frame).values.tolist() == [["United States", 7], ["United Kingdom", 2]]


def test_world_map_shades_by_visitors_and_shows_collected_names_as_text():
    shaded = pd.DataFrame({"iso3": ["USA"], "name": ["<b>US</b>"], "country": ["US"], "visitors": [5],
                           "sessions": [6], "page_views": [9], "bounce_rate": [0.5]})

    figure = charts.world_map(shaded)

    trace = figure.data[0]
    assert (trace.locationmode, list(trace.locations), list(trace.z)) == ("ISO-3", ["USA"], [5])
    assert list(trace.text) == ["&lt;b&gt;US&lt;/b&gt;"]


def test_visitors_the_api_does_not_count_show_as_a_dash_not_zero():
    tiles = {t.key: t for t in frames.kpis(Totals(sessions=4), Totals(sessions=2, visitors=1))}

    assert (tiles["visitors"].value, tiles["visitors"].delta) == ("—", None)
    assert "does not count visitors" in tiles["visitors"].help


def test_a_breakdown_without_visitors_loses_the_column_and_the_map_shades_visits():
    rows = [{"country": "US", "sessions": 5, "page_views": 9, "bounce_rate": 0.2}]
    countries = Stats.from_json(fakes.stats_payload(countries=rows)).countries

    assert "visitors" not in frames.counted(frames.countries(countries)).columns
    assert frames.map_metric(countries) == "sessions"
    assert frames.map_metric(Stats.from_json(fakes.stats_payload()).countries) == "visitors"


def test_the_traffic_chart_leaves_out_visitors_the_api_does_not_count():
    series = Stats.from_json(fakes.stats_payload(timeseries=[
        {"t": fakes.NOW, "events": 3, "page_views": 2, "sessions": 1, "visitors": None}])).timeseries

    assert [t.name for t in charts.traffic_over_time(series).data] == ["Sessions", "Page views", "Events"]


def test_comparison_series_is_long_with_the_compared_buckets_own_dates():
    # GIVEN an answer with a year-earlier series aligned to the current buckets
    stats = Stats.from_json(fakes.stats_payload(previous_timeseries=fakes.previous_timeseries(fakes.YEAR)))

    long = frames.comparison_series(stats.previous_timeseries, ("visitors", "sessions"))

    assert list(long.columns) == ["t", "t_previous", "metric", "value"]
    assert len(long) == 2 * 24
    first = long[long["metric"] == "sessions"].iloc[0]
    assert first["value"] == 15.0
    assert first["t"] == stats.timeseries["t"].iloc[0]
    assert first["t_previous"] == first["t"] - pd.Timedelta(days=364)


def test_comparison_series_leaves_out_visitors_the_api_does_not_count_and_is_empty_without_compare():
    rows = [{**row, "visitors": None} for row in fakes.previous_timeseries()]
    stats = Stats.from_json(fakes.stats_payload(previous_timeseries=rows))

    assert set(frames.comparison_series(stats.previous_timeseries, ("visitors", "sessions"))["metric"]) == {"sessions"}
    empty = frames.comparison_series(Stats.from_json(fakes.stats_payload()).previous_timeseries, ("sessions",))
    assert empty.empty and list(empty.columns) == ["t", "t_previous", "metric", "value"]


def test_traffic_chart_draws_the_comparison_dashed_in_each_metrics_colour():
    stats = Stats.from_json(fakes.stats_payload(previous_timeseries=fakes.previous_timeseries()))
    comparison = frames.comparison_series(stats.previous_timeseries, ("sessions",))

    figure = charts.traffic_over_time(stats.timeseries, ("sessions",), comparison=comparison,
                                      comparison_label="previous period")

    solid, dashed = figure.data
    assert (solid.name, solid.line.dash) == ("Sessions", "solid")
    assert (dashed.name, dashed.line.dash, dashed.line.color) == ("Sessions (previous period)", "dash",
                                                                  charts.PALETTE["sessions"])
    assert list(dashed.x) == list(solid.x)
    assert pd.Timestamp(dashed.customdata[0]) == stats.previous_timeseries["t_previous"].iloc[0].tz_convert(None)
