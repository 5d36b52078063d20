"""Kiosk mode's plain parts: reading the query string, the rotation order, the URL, large-type charts.

How a kiosk screen renders is in test_dashboard.py (AppTest) and test_browser.py (Chromium).
"""
from __future__ import annotations

import pytest

from liveinsight.cli import build_parser, kiosk_url
from liveinsight.dashboard import charts, kiosk
from liveinsight.dashboard.client import Stats
from tests import fakes

# What kiosk.page_names makes of dashboard.py's pages: titles and URL paths, normalised.
PAGES = {"overview": "O", "realtime": "R", "sources": "S", "pages": "P", "top_pages": "P", "events": "E",
         "devices": "D"}


@pytest.mark.parametrize(("params", "on"), [
    pytest.param({"kiosk": "1"}, True, id="one"),
    pytest.param({"kiosk": "True"}, True, id="true-any-case"),
    pytest.param({"kiosk": "0"}, False, id="zero"),
    pytest.param({}, False, id="absent"),
])
def test_kiosk_is_on_for_truthy_values_only(params, on):
    assert kiosk.is_on(params) is on


@pytest.mark.parametrize(("rotate", "pages"), [
    pytest.param("overview,realtime", ("O", "R"), id="titles"),
    pytest.param("Overview, REALTIME", ("O", "R"), id="any-case-and-spaces"),
    pytest.param("top_pages,top-pages,/devices", ("P", "D"), id="url-paths-once-each"),
    pytest.param("realtime,,", ("R",), id="empty-names-ignored"),
])
def test_rotate_accepts_titles_and_url_paths(rotate, pages):
    settings = kiosk.parse({"rotate": rotate}, PAGES)

    assert (settings.rotate, settings.problems) == (pages, ())


def test_an_unknown_page_is_named_with_the_choices_and_the_rest_still_rotates():
    settings = kiosk.parse({"rotate": "overview,dashbord,realtime"}, PAGES)

    assert settings.rotate == ("O", "R")
    assert settings.problems == ("`rotate`: no page named \\'dashbord\\'; "
                                 "choose from overview, realtime, sources, pages, events, devices.",)


@pytest.mark.parametrize(("every", "seconds", "problem"), [
    pytest.param(None, 30, False, id="default"),
    pytest.param("20", 20, False, id="seconds"),
    pytest.param("45s", 45, False, id="with-unit"),
    pytest.param("2", 30, True, id="too-short"),
    pytest.param("86400", 30, True, id="too-long"),
    pytest.param("soon", 30, True, id="not-a-number"),
])
def test_every_is_seconds_within_bounds(every, seconds, problem):
    settings = kiosk.parse({"rotate": "overview,realtime"} | ({"every": every} if every else {}), PAGES)

    assert settings.every == seconds
    assert bool(settings.problems) is problem
    if problem:
        assert settings.problems[0].startswith(f"`every`: \\'{every}\\' is not a number of seconds between 5 and 3600")


@pytest.mark.parametrize(("rotate", "current", "following"), [
    pytest.param(("O", "R"), "O", "R", id="next"),
    pytest.param(("O", "R"), "R", "O", id="wraps-around"),
    pytest.param(("O", "R"), "S", "O", id="from-a-page-outside-the-list"),
    pytest.param(("R",), "R", None, id="one-page-stays"),
    pytest.param((), "O", None, id="no-rotation"),
])
def test_next_page(rotate, current, following):
    assert kiosk.Kiosk(rotate=rotate).next_page(current) == following


@pytest.mark.parametrize(("rotate", "every", "tick"), [
    pytest.param(("O", "R"), 20, 10, id="two-ticks-per-page"),
    pytest.param(("O", "R"), 12, 12, id="one-tick-per-page"),
    pytest.param((), 20, kiosk.REFRESH_SECONDS, id="no-rotation-refreshes"),
])
def test_the_timer_refreshes_often_and_lands_on_each_rotation(rotate, every, tick):
    assert kiosk.Kiosk(rotate=rotate, every=every).tick_seconds == tick


@pytest.mark.parametrize(("args", "url"), [
    pytest.param({}, "http://127.0.0.1:8501/?kiosk=1", id="plain"),
    pytest.param({"rotate": "overview,realtime", "every": 20},
                 "http://127.0.0.1:8501/?kiosk=1&rotate=overview,realtime&every=20", id="rotating"),
])
def test_kiosk_url(args, url):
    assert kiosk_url("http://127.0.0.1:8501", **args) == url


def test_up_takes_kiosk_rotate_and_every():
    args = build_parser().parse_args(["up", "--demo", "--kiosk", "--rotate", "overview,realtime", "--every", "20"])

    assert (args.kiosk, args.rotate, args.every) == (True, "overview,realtime", 20)


def test_kiosk_charts_use_large_type_everywhere_and_room_for_every_bar_label():
    stats = Stats.from_json(fakes.stats_payload(sources=[{"source": f"s{i}", "sessions": i, "page_views": i}
                                                         for i in range(12)]))

    figure = kiosk.styled(charts.breakdown_bars(stats.sources, "source", ("sessions", "page_views")))

    big = kiosk.CHART_FONT_SIZE
    assert (figure.layout.xaxis.tickfont.size, figure.layout.yaxis.tickfont.size, figure.layout.legend.font.size,
            figure.layout.title.font.size) == (big, big, big, kiosk.CHART_TITLE_SIZE)
    assert figure.layout.height >= 12 * kiosk.BAR_ROW_PIXELS


def test_kiosk_draws_the_comparison_dashed_and_thick_enough_to_see_across_the_room():
    from liveinsight.dashboard import frames

    stats = Stats.from_json(fakes.stats_payload(previous_timeseries=fakes.previous_timeseries(fakes.YEAR)))
    comparison = frames.comparison_series(stats.previous_timeseries, ("sessions", "page_views"))

    figure = kiosk.styled(charts.traffic_over_time(stats.timeseries, ("sessions", "page_views"),
                                                   comparison=comparison, comparison_label="a year earlier"))

    dashed = {trace.name: trace.line.width for trace in figure.data if trace.line.dash == "dash"}
    assert dashed == {"Sessions (a year earlier)": kiosk.COMPARISON_LINE_WIDTH,
                      "Page views (a year earlier)": kiosk.COMPARISON_LINE_WIDTH}
    assert all(trace.line.dash != "dash" for trace in figure.data if "(" not in trace.name)
