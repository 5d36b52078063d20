"""Share links and the site's calendar: which calendar periods a rolling link admits, links fixed to a
calendar period (moving with it), both in the site's zone, and links minted before either still valid."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from conftest import page_view
from liveinsight import share
from liveinsight.errors import Forbidden, InvalidRequest
from liveinsight.localtime import UTC

SECRET = "test-share-secret-0123456789abcdef"
NEW_YORK = ZoneInfo("America/New_York")
SITE = "shop.example.com"
# Minted by the share links of before calendar periods (payload "v": 1), valid until 2100: page /pricing and
# period 7d, and the whole site.
OLD_7D_PRICING = ("eyJ2IjoxLCJzaXRlIjoic2hvcC5leGFtcGxlLmNvbSIsInBhZ2UiOiIvcHJpY2luZyIsInBlcmlvZCI6IjdkIiwiZXhwIjo0MTAy"
                  "NDQ0ODAwfQ.8eqSECSvm8ePoR7MFoDu9PKvBx8IVvjk9NJW3_mXNMw")
OLD_SITE = ("eyJ2IjoxLCJzaXRlIjoic2hvcC5leGFtcGxlLmNvbSIsImV4cCI6NDEwMjQ0NDgwMH0."
            "UG6tXIw8mXikriM3JoOZbZp2LyvJwughOnvpYBFcSD8")


def at(text: str, tz: ZoneInfo = NEW_YORK) -> float:
    """The epoch of a wall-clock time in `tz`: at("2026-12-10 15:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def grant(period: str | None, **scope) -> share.Grant:
    return share.Grant(site=SITE, expires=4102444800, period=period, **scope)


def ask(link: share.Grant, now: float, tz: ZoneInfo = NEW_YORK, route: str = share.STATS, **query) -> dict:
    return link.restrict({name: [value] for name, value in query.items()}, route, now, tz)


# --- a rolling link and calendar periods -------------------------------------------------
# Thursday 2026-12-10 15:00 in New York (EST): this week began on Monday the 7th, this month on the 1st.
THURSDAY = at("2026-12-10 15:00")


@pytest.mark.parametrize("link, period", [
    pytest.param("24h", "today", id="24h-today"),
    pytest.param("7d", "today", id="7d-today"),
    pytest.param("7d", "yesterday", id="7d-yesterday"),
    pytest.param("7d", "this_week", id="7d-this-week"),
    pytest.param("30d", "this_month", id="30d-this-month"),
    pytest.param("30d", "this_week", id="30d-this-week"),
])
def test_a_rolling_link_admits_a_calendar_period_lying_inside_its_window(link, period):
    assert ask(grant(link), THURSDAY, period=period)["period"] == [period]


@pytest.mark.parametrize("link, period, since", [
    pytest.param("24h", "yesterday", "2026-12-09 00:00 EST", id="24h-yesterday"),
    pytest.param("7d", "this_month", "2026-12-01 00:00 EST", id="7d-this-month"),
    pytest.param("30d", "last_month", "2026-11-01 00:00 EDT", id="30d-last-month"),
    pytest.param("30d", "year_to_date", "2026-01-01 00:00 EST", id="30d-year-to-date"),
    pytest.param("30d", "all_time", "", id="30d-all-time"),
    pytest.param("1h", "today", "2026-12-10 00:00 EST", id="1h-today"),
])
def test_a_calendar_period_reaching_outside_a_rolling_link_is_403_naming_the_limit(link, period, since):
    with pytest.raises(Forbidden) as refused:
        ask(grant(link), THURSDAY, period=period)
    message = refused.value.message
    assert f"this share link shows only the last {link}" in message and f"`period` cannot be {period!r}" in message
    assert since in message
    # and it says what the holder may ask instead, now
    assert f"ask one of {', '.join(grant(link).periods(THURSDAY, NEW_YORK))}" in message and link in message


def test_this_month_fits_a_7d_link_only_in_the_months_first_days():
    assert ask(grant("7d"), at("2026-12-05 12:00"), period="this_month")["period"] == ["this_month"]
    with pytest.raises(Forbidden):
        ask(grant("7d"), at("2026-12-08 12:00"), period="this_month")


def test_the_calendar_of_a_rolling_link_is_the_sites_zone():
    # GIVEN 2026-12-10 04:30 UTC: still the 9th in New York (23:30 EST), whose day began 23.5 hours ago
    now = at("2026-12-10 04:30", UTC)
    # THEN New York's today fits a 24h link, and its yesterday (the 8th) is refused naming its local start
    assert ask(grant("24h"), now, period="today")["period"] == ["today"]
    with pytest.raises(Forbidden) as refused:
        ask(grant("24h"), now, period="yesterday")
    assert "2026-12-08 00:00 EST" in refused.value.message
    # and UTC's yesterday (the 9th, from 28.5 hours ago) is refused the same way in UTC
    with pytest.raises(Forbidden) as refused:
        ask(grant("24h"), now, UTC, period="yesterday")
    assert "2026-12-09 00:00 UTC" in refused.value.message


def test_compare_with_a_calendar_period_is_kept_only_inside_the_window():
    # Today against yesterday: both inside the last 7d; this week against last week: not
    assert ask(grant("7d"), THURSDAY, period="today", compare="previous")["compare"] == ["previous"]
    assert "compare" not in ask(grant("7d"), THURSDAY, period="this_week", compare="previous")
    assert "compare" not in ask(grant("7d"), THURSDAY, period="today", compare="year")


def test_an_unknown_period_with_a_link_is_a_400_listing_rolling_and_calendar_periods():
    with pytest.raises(InvalidRequest) as bad:
        ask(grant("7d"), THURSDAY, period="fortnight")
    assert "`period` must be one of 1h, 24h, 7d, 30d, today, yesterday" in bad.value.message


# --- a link fixed to a calendar period ----------------------------------------------------


def test_a_link_may_fix_a_calendar_period_and_verifies_to_it():
    token = share.mint(SECRET, SITE, time.time() + 3600, period="this_month")
    assert share.verify(token, SECRET).period == "this_month"
    with pytest.raises(ValueError, match="today, yesterday, this_week"):
        share.mint(SECRET, SITE, time.time() + 3600, period="fortnight")


def test_a_this_month_link_shows_this_month_by_default_and_what_lies_inside_it():
    link = grant("this_month")
    # WHEN its holder asks nothing, THEN this month; today, this week (begun the 7th) and the last 7d are inside
    assert ask(link, THURSDAY)["period"] == ["this_month"]
    for period in ("today", "yesterday", "this_week", "7d", "24h", "1h"):
        assert ask(link, THURSDAY, period=period)["period"] == [period]
    assert ask(link, THURSDAY, **{"from": "2026-12-01", "to": "2026-12-03"})["from"] == ["2026-12-01"]
    # and last month, the last 30d or a day of November are 403 naming the link's month
    for query, name in (({"period": "last_month"}, "`period`"), ({"period": "30d"}, "`period`"),
                        ({"from": "2026-11-30", "to": "2026-12-03"}, "`from`")):
        with pytest.raises(Forbidden) as refused:
            ask(link, THURSDAY, **query)
        assert "this share link shows only this_month (2026-12-01 00:00 EST to now)" in refused.value.message
        assert name in refused.value.message


def test_a_calendar_link_moves_with_the_calendar_in_the_sites_zone():
    link = grant("this_month")
    # On the 2nd, the last 7d reach into November: refused; a month later the link shows January
    with pytest.raises(Forbidden):
        ask(link, at("2026-12-02 09:00"), period="7d")
    assert link.window(at("2027-01-15 09:00"), NEW_YORK)[0] == at("2027-01-01 00:00")
    # At 03:00 UTC on December 1st it is still November in New York: the link shows November there
    assert link.window(at("2026-12-01 03:00", UTC), NEW_YORK)[0] == at("2026-11-01 00:00")
    assert link.window(at("2026-12-01 03:00", UTC), UTC)[0] == at("2026-12-01 00:00", UTC)


def test_a_last_month_link_shows_a_closed_month_and_no_live_view():
    link = grant("last_month")
    assert link.window(THURSDAY, NEW_YORK) == (at("2026-11-01 00:00"), at("2026-12-01 00:00"))
    with pytest.raises(Forbidden) as refused:
        ask(link, THURSDAY, **{"from": "2026-11-20", "to": "2026-12-05"})
    assert "`to` cannot be after 2026-12-01 00:00 EST" in refused.value.message
    with pytest.raises(Forbidden) as refused:
        ask(link, THURSDAY, route=share.REALTIME)
    assert "realtime" in refused.value.message and "last_month" in refused.value.message
    ask(grant("this_month"), THURSDAY, route=share.REALTIME)  # a link that reaches now opens the live view


def test_the_periods_a_link_admits_now():
    assert grant("this_month").periods(THURSDAY, NEW_YORK) == ["1h", "24h", "7d", "today", "yesterday", "this_week",
                                                              "this_month"]
    assert grant(None).periods(THURSDAY, NEW_YORK) == list(share.PERIODS)


# --- through the API --------------------------------------------------------------------


@pytest.fixture
def new_york(backend):
    """GIVEN a keyed deployment with a share secret, a New York site and a little traffic."""
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, api_key="key-1", share_secret=SECRET), backend.store)
    assert backend.request("PUT", f"/api/sites/{SITE}/zone", {"zone": "America/New_York"},
                           {"X-API-Key": "key-1"})[0] == 200
    now = time.time()
    backend.post({"events": [page_view("s-1", "/pricing", now - 120), page_view("s-2", "/", now - 60)]})
    backend.aggregate()
    return backend


def get(backend, path: str, **query) -> tuple[int, dict]:
    return backend.get(f"{path}?{urlencode(query)}")


def test_a_7d_link_answers_today_in_the_sites_zone_and_refuses_the_last_12_months(new_york):
    link = share.mint(SECRET, SITE, time.time() + 3600, period="7d")
    status, payload = get(new_york, "/api/stats", share=link, period="today")
    assert status == 200, payload
    answered = datetime.fromtimestamp(payload["data"]["range"]["to"], NEW_YORK)
    assert payload["data"]["range"]["from"] == answered.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    assert {"today", "yesterday", "this_week"} <= set(payload["data"]["share"]["periods"])
    status, payload = get(new_york, "/api/stats", share=link, period="last_12_months")
    assert status == 403 and "shows only the last 7d" in payload["message"] and "`period`" in payload["message"]


def test_a_this_month_link_through_the_api(new_york):
    link = share.mint(SECRET, SITE, time.time() + 3600, period="this_month")
    status, payload = get(new_york, "/api/stats", share=link)
    assert status == 200, payload
    data = payload["data"]
    assert data["share"]["period"] == "this_month" and data["range"]["period"] == "this_month"
    assert data["range"]["first_day"] == datetime.fromtimestamp(data["range"]["to"], NEW_YORK).strftime("%Y-%m-01")
    assert data["totals"]["page_views"] == 2
    status, payload = get(new_york, "/api/stats", share=link, period="last_month")
    assert status == 403 and "this share link shows only this_month" in payload["message"]
    assert get(new_york, "/api/realtime", share=link)[0] == 200


def test_links_minted_before_calendar_periods_are_still_valid(new_york):
    status, payload = get(new_york, "/api/stats", share=OLD_7D_PRICING)
    assert status == 200, payload
    assert payload["data"]["share"]["period"] == "7d" and payload["data"]["share"]["page"] == "/pricing"
    assert payload["data"]["totals"]["page_views"] == 1
    assert get(new_york, "/api/stats", share=OLD_7D_PRICING, period="30d")[0] == 403
    status, payload = get(new_york, "/api/stats", share=OLD_SITE, period="all_time")
    assert status == 200 and payload["data"]["totals"]["page_views"] == 2
