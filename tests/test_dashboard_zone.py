"""A non-UTC site in the dashboard: calendar periods, labels in the site's zone (stats pages, Realtime, kiosk
screens), the week start, the zone setting."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from liveinsight.dashboard import kiosk, ui
from liveinsight.dashboard.client import Zone
from tests import fakes, hostile
from tests.test_dashboard import PAGES, chart_spec, charts, kiosk_clock, open_page  # noqa: F401 (a fixture)

NEW_YORK = {"name": "America/New_York", "abbreviation": "EST", "utc_offset": "-05:00"}
UTC = {"name": "UTC", "abbreviation": "UTC", "utc_offset": "+00:00"}
# fakes.NOW, 2026-01-01 00:00:00 UTC, is 2025-12-31 19:00:00 in New York (EST).


@pytest.fixture
def ny_fake(monkeypatch):
    """GIVEN a fake API that answers in New York's zone, with a zone setting route."""
    monkeypatch.delenv("LIVEINSIGHT_API_URL", raising=False)
    monkeypatch.delenv("LIVEINSIGHT_API_KEY", raising=False)
    client = fakes.FakeClient(stats=fakes.stats_payload(zone=NEW_YORK, sites=["shop.example.com"]),
                              realtime=fakes.realtime_payload(zone=NEW_YORK))
    client.zones = []
    client.set_zone = lambda site, name: client.zones.append((site, name)) or Zone(name, "CET", "+01:00")
    monkeypatch.setattr(ui, "client_factory", lambda url, key: client)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield client
    st.cache_data.clear()
    st.cache_resource.clear()


def test_the_period_picker_offers_the_calendar_periods_and_asks_the_api_for_them(ny_fake):
    # WHEN a viewer opens Overview on this month of a New York site
    at = open_page(PAGES["overview"], {"site": "shop.example.com", "period": "this_month"})
    # THEN the picker offers the site's calendar and the API is asked for this month
    options = at.selectbox(key="period").options
    assert ["Today", "Yesterday", "This week", "This month", "Last month", "Year to date", "Last 12 months",
            "All time"] == [o for o in options if o in ui.PERIODS.values() and not o.startswith(("Last hour",
                                                                                               "Last 24", "Last 7",
                                                                                               "Last 30", "Custom"))]
    assert at.selectbox(key="period").value == "this_month"
    assert ny_fake.stats_calls()[-1]["period"] == "this_month"
    # and the traffic chart's time axis names the site's zone
    now = pd.Timestamp.now(tz="America/New_York").tzname()  # EST in winter, EDT in summer
    assert chart_spec(charts(at)[0])["layout"]["xaxis"]["title"]["text"] == f"Time ({now})"
    assert not at.exception


def test_this_week_starts_on_the_viewers_day_kept_in_the_url(ny_fake):
    # WHEN a viewer whose weeks start on Sunday asks for this week
    at = open_page(PAGES["overview"], {"site": "shop.example.com", "period": "this_week", "week": "sunday"})
    # THEN the setting shows, and the API is asked for a week from Sunday
    assert at.selectbox(key="week_start").value == "sunday"
    assert ny_fake.stats_calls()[-1]["week_start"] == "sunday"
    # WHEN they switch to Monday, THEN the API's default is asked and the URL drops the setting
    at.selectbox(key="week_start").set_value("monday").run()
    assert "week_start" not in ny_fake.stats_calls()[-1]
    assert "week" not in at.query_params


def test_a_custom_range_is_the_sites_local_days(ny_fake):
    at = open_page(PAGES["overview"], {"site": "shop.example.com", "period": "custom", "from": "2025-11-01",
                                       "to": "2025-11-30"})
    call = ny_fake.stats_calls()[-1]
    assert (call["from_"], call["to"]) == ("2025-11-01", "2025-11-30")
    assert "(UTC)" not in at.caption[0].value


def _zone_setting_app():
    import streamlit as st

    from liveinsight.dashboard import ui, zone

    zone.zone_setting(ui.client(), st.query_params.get("site"), current="America/New_York")


def test_the_zone_setting_saves_the_chosen_zone_for_the_site(ny_fake):
    # GIVEN the zone setting of shop.example.com
    at = AppTest.from_function(_zone_setting_app, default_timeout=30)
    at.query_params["site"] = "shop.example.com"
    at.run()
    choice = at.selectbox(key="zone-shop.example.com-name")
    assert choice.value == "America/New_York" and "Asia/Kathmandu" in choice.options
    # WHEN Europe/Berlin is chosen and saved
    choice.set_value("Europe/Berlin")
    at.button[0].click().run()
    # THEN the API is asked to set it, and the viewer is told
    assert ny_fake.zones == [("shop.example.com", "Europe/Berlin")]
    assert "Europe/Berlin (CET" in at.success[0].value


def test_all_sites_have_no_zone_to_set(ny_fake):
    at = AppTest.from_function(_zone_setting_app, default_timeout=30).run()
    assert "UTC" in at.info[0].value and not at.selectbox


# --- Realtime and kiosk screens -----------------------------------------------------------


def kiosk_label(at: AppTest) -> str:
    labels = [h.proto.body for h in at.get("html") if kiosk.LABEL_CLASS in h.proto.body and "<style>" not in h.proto.body]
    assert len(labels) == 1, labels
    return labels[0]


def test_realtime_labels_its_times_on_the_sites_clock(ny_fake):
    # WHEN a viewer opens Realtime for a New York site, answered at 00:00:00 UTC
    at = open_page(PAGES["realtime"], {"site": "shop.example.com"})
    # THEN "Updated" is New York's time with its abbreviation, and the page says which clock it is
    assert {m.label: m.value for m in at.metric}["Updated"] == "19:00:00 EST"
    assert "Times in America/New_York (EST)" in [c.value for c in at.caption]
    # and the minutes and the live feed are New York's
    figure = chart_spec(charts(at)[0])
    now = pd.Timestamp.now(tz="America/New_York").tzname()
    assert figure["layout"]["xaxis"]["title"]["text"] == f"Time ({now})"
    assert figure["data"][0]["x"][-1] == "2025-12-31T18:59:00-05:00"  # the last of 30 minutes before 00:00 UTC
    feed = at.dataframe[-1]
    assert feed.value["timestamp"].dt.strftime("%H:%M:%S").tolist() == ["18:59:57", "18:59:20"]
    assert json.loads(feed.proto.columns)["timestamp"]["label"] == f"Time ({now})"


def test_realtime_of_all_sites_stays_utc_and_says_so(ny_fake):
    ny_fake.realtime_data["zone"] = UTC
    at = open_page(PAGES["realtime"])
    assert {m.label: m.value for m in at.metric}["Updated"] == "00:00:00 UTC"
    assert "Times in UTC (all sites together)" in [c.value for c in at.caption]


def test_a_kiosk_realtime_screen_is_on_the_sites_clock(ny_fake, kiosk_clock, monkeypatch):
    # GIVEN a kiosk screen of a New York site's Realtime, at 2026-01-01 00:00:05 UTC
    monkeypatch.setattr(kiosk, "wall_clock", lambda: fakes.NOW + 5)
    at = open_page(PAGES["realtime"], {"kiosk": "1", "site": "shop.example.com"})
    # THEN the corner label and the tiles read New York's time, and the feed's times are New York's
    assert "shop.example.com · updated 19:00:05 EST<" in kiosk_label(at)
    assert {m.label: m.value for m in at.metric}["Updated"] == "19:00:00 EST"
    feed = at.table[-1].value
    now = pd.Timestamp.now(tz="America/New_York").tzname()
    assert [hostile.shown(t) for t in feed[f"Time ({now})"]] == ["18:59:57", "18:59:20"]


def test_a_kiosk_screen_of_all_sites_is_on_utc(ny_fake, kiosk_clock, monkeypatch):
    ny_fake.stats_data["zone"] = UTC
    monkeypatch.setattr(kiosk, "wall_clock", lambda: fakes.NOW + 5)
    at = open_page(PAGES["overview"], {"kiosk": "1"})
    assert "All sites · updated 00:00:05 UTC<" in kiosk_label(at)
