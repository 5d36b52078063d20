"""A site's own calendar: its zone's days, hours and months, exact across DST and :30/:45 offsets.

Every expected figure is computed independently of the product: each event's timestamp converted
with zoneinfo and counted by local date, hour or month. The test's clock is a DST change found in
tzdata (the most recent one at least 40 days back), never the time of day the test runs.
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import page_view, stats_at

SITE = "shop.example.com"
DAY = 86400


def transition(name: str, spring: bool) -> int:
    """The most recent DST change of zone `name` at least 40 days back (spring: clocks go forward)."""
    tz = ZoneInfo(name)
    hour = int(time.time() // 3600) * 3600 - 40 * DAY
    for _ in range(24 * 800):
        before = datetime.fromtimestamp(hour - 3600, tz).utcoffset()
        after = datetime.fromtimestamp(hour, tz).utcoffset()
        if before != after and (after > before) == spring:
            return hour
        hour -= 3600
    raise AssertionError(f"no DST change of {name} in two years")


def local_midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def seeded_visits(tz: ZoneInfo, first: date, days: int, seed: int, edges: list[float]) -> list[dict]:
    """Visits of 1-4 page views over `days` local days from `first`, plus one-view visits exactly at
    `edges` (midnights, a DST change, a second before each)."""
    rng = random.Random(seed)
    start, end = local_midnight(first, tz), local_midnight(first + timedelta(days=days), tz)
    events = []
    for n in range(500):
        at = rng.uniform(start, end - 3600)
        for k in range(rng.randint(1, 4)):
            events.append(page_view(f"v{seed}-{n}", f"/p{k}", round(at + 240 * k, 3)))
    for n, at in enumerate(edges):
        events.append(page_view(f"edge{seed}-{n}", "/edge", at))
    return events


def expected(events: list[dict], tz: ZoneInfo, key) -> tuple[Counter, Counter]:
    """(events, sessions) by key(local datetime): events at their time, a visit at its first event."""
    by_event, first = Counter(), {}
    for event in events:
        by_event[key(datetime.fromtimestamp(event["timestamp"], tz))] += 1
        # by timestamp: aware datetimes of one zone compare by wall clock, blind to the fall-back fold
        first[event["session_id"]] = min(first.get(event["session_id"], event["timestamp"]), event["timestamp"])
    return by_event, Counter(key(datetime.fromtimestamp(ts, tz)) for ts in first.values())


def set_zone(backend, zone: str, site: str = SITE) -> tuple[int, dict]:
    return backend.request("PUT", f"/api/sites/{site}/zone", {"zone": zone})[:2]


def load(backend, events: list[dict], now: float) -> None:
    """The events, older than the raw retention, through the history import (the aggregator's fold)."""
    from liveinsight.local.importer import import_events

    report = import_events(((i, json.loads(json.dumps(e))) for i, e in enumerate(events)), backend.store, now=now)
    assert report.rolled_up == len(events), report.rejected[:3]


DST_CASES = [pytest.param(zone, spring, id=f"{zone}-{'spring' if spring else 'fall'}")
             for zone in ("America/New_York", "Europe/Berlin") for spring in (True, False)]


@pytest.mark.parametrize("zone,spring", DST_CASES)
def test_a_dst_day_has_23_or_25_hours_none_lost_or_doubled(backend, zone, spring):
    # GIVEN a site in `zone` and a seeded stream of visits over the day its clocks change, with
    # visits exactly at its midnights and at the change itself
    tz = ZoneInfo(zone)
    change = transition(zone, spring)
    day = datetime.fromtimestamp(change, tz).date()
    edges = [local_midnight(day, tz), local_midnight(day, tz) - 1, change, change - 1,
             local_midnight(day + timedelta(days=1), tz), local_midnight(day + timedelta(days=1), tz) - 0.001]
    events = seeded_visits(tz, day - timedelta(days=1), 3, seed=len(zone) + spring, edges=edges)
    now = local_midnight(day + timedelta(days=5), tz)
    assert set_zone(backend, zone)[0] == 200
    load(backend, events, now)
    # WHEN the day is asked hour by hour (a local date, inclusive)
    data = stats_at(backend, f"site={SITE}&from={day}&to={day}&interval=hour", now)
    # THEN it has 23 (spring) or 25 (fall) hours, one an hour apart with no gap or double
    hours = [point["t"] for point in data["timeseries"]]
    assert len(hours) == (23 if spring else 25)
    assert hours[0] == local_midnight(day, tz)
    assert [b - a for a, b in zip(hours, hours[1:])] == [3600] * (len(hours) - 1)
    # and every hour's events and visits are exactly those of an independent count by local hour
    # (the fall-back day's two 01:00 hours told apart by their UTC offset)
    by_event, by_visit = expected(events, tz, lambda t: (t.date(), t.hour, t.utcoffset()))
    for point in data["timeseries"]:
        local = datetime.fromtimestamp(point["t"], tz)
        hour = (local.date(), local.hour, local.utcoffset())
        assert (point["events"], point["sessions"]) == (by_event[hour], by_visit[hour]), local
    by_day_event, by_day_visit = expected(events, tz, lambda t: t.date())
    assert data["totals"]["events"] == by_day_event[day] == sum(p["events"] for p in data["timeseries"])
    assert data["totals"]["sessions"] == by_day_visit[day]
    # WHEN the three days are asked day by day, THEN each local day is exact
    days = stats_at(backend, f"site={SITE}&from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"
                             "&interval=day", now)
    assert [datetime.fromtimestamp(p["t"], tz).date() for p in days["timeseries"]] == \
        [day - timedelta(days=1), day, day + timedelta(days=1)]
    assert [(p["events"], p["sessions"]) for p in days["timeseries"]] == \
        [(by_day_event[d], by_day_visit[d]) for d in (day - timedelta(days=1), day, day + timedelta(days=1))]
    assert data["zone"]["name"] == zone


@pytest.mark.parametrize("zone,offset", [("Asia/Kolkata", "+05:30"), ("Asia/Kathmandu", "+05:45")])
def test_a_zone_at_a_half_or_quarter_hour_offset_has_exact_days_hours_and_months(backend, zone, offset):
    # GIVEN a site in a :30 or :45 zone and seeded visits over the last two days of a month and the
    # first of the next, with visits at the month's local midnight and the second before it
    tz = ZoneInfo(zone)
    now = int(time.time() // DAY) * DAY - 40 * DAY
    month_start = datetime.fromtimestamp(now, tz).date().replace(day=1)
    first = month_start - timedelta(days=2)
    boundary = local_midnight(month_start, tz)
    events = seeded_visits(tz, first, 3, seed=7, edges=[boundary, boundary - 1, boundary + 1800, boundary - 900])
    now = local_midnight(month_start + timedelta(days=3), tz)
    assert set_zone(backend, zone)[0] == 200
    load(backend, events, now)
    by_event, by_visit = expected(events, tz, lambda t: (t.date(), t.hour))
    # WHEN the month's first day is asked hour by hour
    data = stats_at(backend, f"site={SITE}&from={month_start}&to={month_start}&interval=hour", now)
    # THEN its 24 hours start at the zone's local hours (hh:30 or hh:15 UTC) and each is exact
    assert len(data["timeseries"]) == 24
    minute = {"+05:30": 30, "+05:45": 15}[offset]
    assert {datetime.fromtimestamp(p["t"], timezone.utc).minute for p in data["timeseries"]} == {minute}
    for point in data["timeseries"]:
        local = datetime.fromtimestamp(point["t"], tz)
        assert (point["events"], point["sessions"]) == (by_event[(local.date(), local.hour)],
                                                        by_visit[(local.date(), local.hour)])
    assert data["zone"] == {"name": zone, "abbreviation": data["zone"]["abbreviation"], "utc_offset": offset}
    # WHEN the two months are asked month by month, THEN each local month is exact
    month_event, month_visit = expected(events, tz, lambda t: (t.year, t.month))
    months = stats_at(backend, f"site={SITE}&from={first}&to={month_start}&interval=month", now)
    assert [(p["events"], p["sessions"]) for p in months["timeseries"]] == [
        (month_event[(d.year, d.month)], month_visit[(d.year, d.month)]) for d in (first, month_start)]
    # and a minute series of the month's first local hour (20 minutes before it to 20 after) holds each
    # minute's events exactly
    per_minute = Counter(int(e["timestamp"] // 60) * 60 for e in events)
    minutes = stats_at(backend, f"site={SITE}&from={boundary - 1200}&to={boundary + 4800}&interval=minute", now)
    assert [p["events"] for p in minutes["timeseries"]] == [per_minute[p["t"]] for p in minutes["timeseries"]]
    assert sum(p["events"] for p in minutes["timeseries"]) > 3


def test_the_all_sites_level_stays_utc(backend):
    # GIVEN a site in New York with a visit at 23:30 New York time (04:30 UTC the next day)
    tz = ZoneInfo("America/New_York")
    now = int(time.time() // DAY) * DAY - 40 * DAY
    day = datetime.fromtimestamp(now, tz).date()
    at = local_midnight(day, tz) + 23.5 * 3600
    assert set_zone(backend, "America/New_York")[0] == 200
    load(backend, [page_view("late", "/", at)], now=at + 3 * DAY)
    # WHEN the site's day and all sites' day are asked
    site_day = stats_at(backend, f"site={SITE}&from={day}&to={day}&interval=day", at + 3 * DAY)
    all_day = stats_at(backend, f"from={day}&to={day}", at + 3 * DAY)
    utc_next = stats_at(backend, f"from={day + timedelta(days=1)}&to={day + timedelta(days=1)}", at + 3 * DAY)
    # THEN the visit is on the site's local day, and on the next UTC day for all sites
    assert site_day["totals"]["events"] == 1 and site_day["zone"]["name"] == "America/New_York"
    assert all_day["totals"]["events"] == 0 and utc_next["totals"]["events"] == 1
    assert all_day["zone"]["name"] == "UTC"


def test_changing_a_zone_keeps_every_total_and_may_move_a_past_day(backend):
    # GIVEN a UTC site with visits on two days, one at 02:00 UTC (21:00 the evening before in New York)
    now = int(time.time() // DAY) * DAY - 40 * DAY
    day = datetime.fromtimestamp(now, timezone.utc).date()
    midnight = local_midnight(day, ZoneInfo("UTC"))
    events = [page_view("early", "/", midnight + 2 * 3600), page_view("noon", "/", midnight + 12 * 3600),
              page_view("next", "/", midnight + DAY + 12 * 3600)]
    load(backend, events, now=midnight + 5 * DAY)
    query = f"site={SITE}&from={day - timedelta(days=3)}&to={day + timedelta(days=3)}&interval=day"
    before = stats_at(backend, query, midnight + 5 * DAY)
    # WHEN the site moves to New York, and a new visit comes at 02:00 UTC of the second day
    assert set_zone(backend, "America/New_York")[0] == 200
    load(backend, [page_view("after", "/", midnight + DAY + 2 * 3600)], now=midnight + 5 * DAY)
    after = stats_at(backend, query, midnight + 5 * DAY)
    # THEN no total changes: the range holds every event once, old and new
    assert before["totals"]["events"] == 3 and after["totals"]["events"] == 4
    utc_days = {datetime.fromtimestamp(p["t"], timezone.utc).date(): p["events"] for p in before["timeseries"]}
    assert (utc_days[day], utc_days[day + timedelta(days=1)]) == (2, 1)
    # and a day stored before the change stays whole, on the New York day it overlaps most: its 02:00 UTC
    # visit stays on it, while the new 02:00 UTC visit is on the New York evening before (day one)
    tz = ZoneInfo("America/New_York")
    by_day = {datetime.fromtimestamp(p["t"], tz).date(): p["events"] for p in after["timeseries"]}
    assert (by_day[day - timedelta(days=1)], by_day[day], by_day[day + timedelta(days=1)]) == (0, 3, 1)
    assert after["zone"]["name"] == "America/New_York"


@pytest.mark.parametrize("body,needle", [
    pytest.param({"zone": "Mars/Olympus_Mons"}, "`zone`", id="unknown-zone"),
    pytest.param({"zone": "../../etc/passwd"}, "`zone`", id="path-like"),
    pytest.param({"zone": ""}, "`zone`", id="empty"),
    pytest.param({"tz": "UTC"}, "`zone`", id="wrong-field"),
    pytest.param("not json", "`zone`", id="not-json"),
])
def test_a_zone_the_api_does_not_know_is_a_400_naming_zone_and_where_names_are(backend, body, needle):
    # WHEN a site's zone is set to something tzdata does not know
    status, payload, _ = backend.request("PUT", f"/api/sites/{SITE}/zone", body)
    # THEN 400, naming `zone` and what is accepted
    assert status == 400, payload
    assert needle in payload["message"] and "America/New_York" in payload["message"]


def test_setting_a_zone_needs_the_key_never_a_share_link(backend):
    from dataclasses import replace

    from liveinsight import handler

    # GIVEN a deployment with an API key
    handler.configure(replace(backend.store.settings, api_key="k"), backend.store)
    # WHEN the zone is set without the key, with a share link, and with the key
    without = backend.request("PUT", f"/api/sites/{SITE}/zone", {"zone": "Europe/Berlin"})[0]
    shared = backend.request("PUT", f"/api/sites/{SITE}/zone?share=x", {"zone": "Europe/Berlin"})[0]
    status, payload, _ = backend.request("PUT", f"/api/sites/{SITE}/zone", {"zone": "Europe/Berlin"},
                                         headers={"X-API-Key": "k"})
    # THEN only the key sets it, and the answer names the zone with its abbreviation and offset
    assert (without, shared, status) == (401, 401, 200)
    assert payload["data"]["site"] == SITE
    assert payload["data"]["zone"]["name"] == "Europe/Berlin"
    assert payload["data"]["zone"]["abbreviation"] in ("CET", "CEST")


def test_a_deploy_time_zone_is_the_default_and_the_api_wins(backend, monkeypatch):
    from dataclasses import replace

    from liveinsight import config
    from liveinsight.zones import SiteZones

    # GIVEN LIVEINSIGHT_SITE_ZONES naming the site's zone
    monkeypatch.setenv(config.ENV_SITE_ZONES, "www.shop.example.com=Asia/Kolkata, other.example=UTC")
    settings = replace(backend.store.settings, site_zones=config.site_zones_from_env())
    zones = SiteZones(backend.store, settings)
    # THEN it is the site's zone (www. folded) until the API sets another
    assert zones.get(SITE).key == "Asia/Kolkata"
    zones.set(SITE, "Europe/Berlin")
    assert zones.get(SITE).key == "Europe/Berlin"
    # and a zone tzdata does not know stops a deployment at once, naming the variable
    monkeypatch.setenv(config.ENV_SITE_ZONES, "shop.example.com=Europe/Atlantis")
    with pytest.raises(ValueError, match=config.ENV_SITE_ZONES):
        config.site_zones_from_env()


# --- calendar periods ---------------------------------------------------------------------------

def month_after_a_short_one() -> tuple[date, date, date]:
    """(the month before it, a 31-day month after a 30-day one, the month after), the latest such whose
    following month started at least 40 days back."""
    day = (datetime.fromtimestamp(time.time() - 40 * DAY, timezone.utc).date()).replace(day=1)
    while True:
        before = (day - timedelta(days=1)).replace(day=1)
        two_before = (before - timedelta(days=1)).replace(day=1)
        if (day - before).days == 31 and (before - two_before).days == 30:
            return two_before, before, day
        day = before


def test_last_month_compares_day_by_day_with_a_shorter_month_before_it(backend):
    # GIVEN a New York site with d visits on the d-th day of two months in a row, 30 and 31 days long
    tz = ZoneInfo("America/New_York")
    short, long_, after = month_after_a_short_one()
    events = []
    for first in (short, long_):
        day = first
        while day.month == first.month:
            for n in range(day.day + (first == long_)):
                events.append(page_view(f"{day}-{n}", "/", local_midnight(day, tz) + 3600 * (n % 24) + 1))
            day += timedelta(days=1)
    now = local_midnight(after + timedelta(days=4), tz) + 3600
    assert set_zone(backend, "America/New_York")[0] == 200
    load(backend, events, now)
    # WHEN last month is asked with compare=previous
    data = stats_at(backend, f"site={SITE}&period=last_month&compare=previous", now)
    # THEN it is the 31 local days of the long month, each aligned with the same day of the 30-day month
    # before it; its 31st has no counterpart, and both lengths are stated
    assert data["range"]["period"] == "last_month" and data["range"]["interval"] == "day"
    assert (data["range"]["first_day"], data["range"]["days"]) == (long_.isoformat(), 31)
    assert (data["previous_range"]["first_day"], data["previous_range"]["days"]) == (short.isoformat(), 30)
    assert [p["events"] for p in data["timeseries"]] == [d + 1 for d in range(1, 32)]
    assert [p["events"] for p in data["previous_timeseries"]] == list(range(1, 31)) + [None]
    assert data["previous_timeseries"][30]["t_previous"] is None
    assert [datetime.fromtimestamp(p["t_previous"], tz).day for p in data["previous_timeseries"][:30]] == \
        list(range(1, 31))
    assert data["totals"]["events"] == sum(d + 1 for d in range(1, 32))
    assert data["previous_totals"]["events"] == sum(range(1, 31))
    # WHEN the year is asked month by month, THEN the two months are exact and it reads month items
    year = stats_at(backend, f"site={SITE}&period=last_12_months", now)
    assert year["range"]["interval"] == "month" and len(year["timeseries"]) == 12
    by_month = {datetime.fromtimestamp(p["t"], tz).date(): p["events"] for p in year["timeseries"]}
    assert (by_month[short], by_month[long_]) == (sum(range(1, 31)), sum(d + 1 for d in range(1, 32)))


def test_today_and_yesterday_end_at_the_sites_midnight(backend):
    # GIVEN a New York site, a visit at 23:50 and one at 00:10 New York time, and the clock at 00:30
    tz = ZoneInfo("America/New_York")
    day = datetime.fromtimestamp(time.time() - 40 * DAY, tz).date()
    midnight = local_midnight(day, tz)
    assert set_zone(backend, "America/New_York")[0] == 200
    load(backend, [page_view("late", "/", midnight - 600), page_view("early", "/", midnight + 600)],
         now=midnight + 5 * DAY)
    now = midnight + 1800
    # WHEN today and yesterday are asked
    today = stats_at(backend, f"site={SITE}&period=today", now)
    yesterday = stats_at(backend, f"site={SITE}&period=yesterday&compare=previous", now)
    # THEN each holds its own visit, hour by hour, and says which local day it is
    assert today["totals"]["events"] == 1 and today["range"]["first_day"] == day.isoformat()
    assert today["range"]["interval"] == "hour" and today["range"]["from"] == midnight
    assert [p["events"] for p in today["timeseries"]] == [1]  # hours so far: just 00:00
    assert yesterday["totals"]["events"] == 1 and yesterday["range"]["to"] == midnight
    assert yesterday["timeseries"][-1]["events"] == 1 and len(yesterday["timeseries"]) in (23, 24, 25)
    assert yesterday["previous_range"]["last_day"] == (day - timedelta(days=2)).isoformat()


@pytest.mark.parametrize("week_start,first", [("monday", 0), ("sunday", 6), ("saturday", 5)])
def test_this_week_starts_on_the_day_asked(backend, week_start, first):
    tz = ZoneInfo("Europe/Berlin")
    now = int(time.time() // DAY) * DAY - 40 * DAY + 12 * 3600
    assert set_zone(backend, "Europe/Berlin")[0] == 200
    data = stats_at(backend, f"site={SITE}&period=this_week&week_start={week_start}", now)
    start = datetime.fromtimestamp(data["range"]["from"], tz)
    assert start.weekday() == first and (start.hour, start.minute) == (0, 0)
    assert data["range"]["days"] == 7 and 1 <= len(data["timeseries"]) <= 7


@pytest.mark.parametrize("query,needle", [
    pytest.param("period=last_week", "`period`", id="unknown-period"),
    pytest.param("period=this_week&week_start=friday", "`week_start`", id="week-start"),
    pytest.param("period=all_time&compare=previous", "all_time", id="all-time-previous"),
    pytest.param("from=2026-02-30&to=2026-03-01", "`from`", id="no-such-date"),
    pytest.param("period=this_month&interval=quarter", "`interval`", id="interval"),
    pytest.param("from=2024-01-01&to=2026-01-01", "400 days", id="too-long"),
])
def test_calendar_parameters_the_api_does_not_know_are_400s_naming_them(backend, query, needle):
    status, payload = backend.get(f"/api/stats?site={SITE}&{query}")
    assert status == 400, payload
    assert needle in payload["message"]


def test_a_daily_report_covers_the_sites_local_day(backend):
    from liveinsight.query.stats import StatsReader
    from liveinsight.reports.report import build_report, render_html

    # GIVEN a New York site on the day its clocks fall back, a visit in each of its 25 hours and one just after
    tz = ZoneInfo("America/New_York")
    change = transition("America/New_York", spring=False)
    day = datetime.fromtimestamp(change, tz).date()
    midnight, next_midnight = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    events = [page_view(f"h{n}", "/", midnight + 3600 * n + 60) for n in range(25)]
    events.append(page_view("after", "/", next_midnight + 60))
    assert set_zone(backend, "America/New_York")[0] == 200
    load(backend, events, now=next_midnight + 5 * DAY)
    backend.aggregate()
    # WHEN the daily report runs during the next New York day
    report = build_report(StatsReader(backend.store), "1d", SITE, now=next_midnight + 2 * 3600)
    # THEN it is that local day: 25 hourly bars, its 25 visits, dated and labelled in New York time
    assert (report.start, report.end) == (midnight, next_midnight)
    assert len(report.series) == 25 and report.metrics[0].value == 25
    assert report.dates == day.strftime("%a %d %b %Y")
    assert "(America/New_York)" in render_html(report)


def test_a_year_of_a_country_is_exact_from_thin_month_items_and_a_city_from_day_items(backend):
    # GIVEN a Berlin site with visits from two countries over three months
    tz = ZoneInfo("Europe/Berlin")
    _, first, _ = month_after_a_short_one()
    events, expected_by = [], Counter()
    for n in range(90):
        day = first + timedelta(days=n % 58)
        country = ("DE", "DE-BE", "Berlin") if n % 3 else ("US", "US-WA", "Seattle")
        events.append((page_view(f"y{n}", "/", local_midnight(day, tz) + 3600 * (n % 24)), country))
        expected_by[country[0]] += 1
    now = local_midnight(first + timedelta(days=60), tz)
    assert set_zone(backend, "Europe/Berlin")[0] == 200
    from liveinsight.local.importer import import_events
    from liveinsight.ingest.collector import RequestContext

    contexts = {i: RequestContext(country=c, region=r, city=ci) for i, (_, (c, r, ci)) in enumerate(events)}
    report = import_events(((i, e) for i, (e, _) in enumerate(events)), backend.store, now=now,
                           context_of=contexts.get)
    assert report.rolled_up == 90, report.rejected[:2]
    # WHEN the year is asked for one country, and for one city
    country = stats_at(backend, f"site={SITE}&period=last_12_months&country=US", now)
    city = stats_at(backend, f"site={SITE}&period=last_12_months&city=DE-BE/Berlin", now)
    # THEN both are exact month by month; the country's month items keep totals only (no rows, said so)
    assert country["totals"]["events"] == expected_by["US"] and country["breakdowns_omitted"] is True
    assert country["pages"] == [] and len(country["timeseries"]) == 12
    assert city["totals"]["events"] == expected_by["DE"] and "breakdowns_omitted" not in city
    everything = stats_at(backend, f"site={SITE}&period=last_12_months", now)
    assert everything["totals"]["events"] == 90 and everything["pages"][0]["page"] == "/"


def test_an_alert_compares_with_the_same_local_hour_in_past_weeks_across_a_dst_change(backend):
    from liveinsight.query.stats import StatsReader
    from liveinsight.reports.alerts import check

    # GIVEN a New York site with three visits between 10:00 and 11:00 New York time every day, for two
    # weeks before its clocks fell back and three days after
    tz = ZoneInfo("America/New_York")
    change_day = datetime.fromtimestamp(transition("America/New_York", spring=False), tz).date()
    events = []
    for offset in range(-15, 4):
        day = change_day + timedelta(days=offset)
        ten = datetime(day.year, day.month, day.day, 10, tzinfo=tz).timestamp()
        events += [page_view(f"{day}-{k}", "/", ten + 60 * (5 + 15 * k)) for k in range(3)]
    day = change_day + timedelta(days=3)
    eleven = datetime(day.year, day.month, day.day, 11, tzinfo=tz).timestamp()
    assert set_zone(backend, "America/New_York")[0] == 200
    load(backend, events, now=eleven + DAY)
    # WHEN the alert check runs at 11:00 New York time, three days after the change
    verdict = check(StatsReader(backend.store), SITE, eleven)
    # THEN the hours it compares with are 10:00-11:00 New York time a week and two back (EDT then), not the
    # same UTC hour: three visits each, as now
    assert (verdict.visits, verdict.basis, verdict.baseline) == (3, "weeks", [3, 3])
    assert verdict.state == "normal"


def test_a_visitor_is_one_visitor_on_the_sites_local_day_across_utc_midnight(backend):
    from conftest import collect

    # GIVEN a New York site, and a browser that visits it at 18:00 and 20:30 New York time (23:00 and
    # 01:30 UTC: two UTC days, one local day), and another that stays from 23:50 to 00:10 New York time
    tz = ZoneInfo("America/New_York")
    assert set_zone(backend, "America/New_York")[0] == 200
    day = datetime.fromtimestamp(time.time() - 3 * 86400, tz).date()
    at = lambda hour, minute=0, days=0: datetime(day.year, day.month, day.day, hour, minute,  # noqa: E731
                                                 tzinfo=tz).timestamp() + days * 86400
    page = lambda path, ts: {"event_type": "page_view", "page_url": f"https://{SITE}{path}",  # noqa: E731
                             "timestamp": int(ts * 1000)}
    now = at(12, days=2)
    collect(backend, [page("/", at(18)), page("/pricing", at(18, 5))], ip="203.0.113.7", now=at(18, 6))
    collect(backend, [page("/", at(20, 30))], ip="203.0.113.7", now=at(20, 31))
    collect(backend, [page("/", at(23, 50))], ip="203.0.113.8", now=at(23, 51))
    collect(backend, [page("/docs", at(0, 10, days=1))], ip="203.0.113.8", now=at(0, 11, days=1))
    # WHEN the site's two local days are asked
    first = stats_at(backend, f"site={SITE}&from={day.isoformat()}&to={day.isoformat()}", now)
    second_day = day + timedelta(days=1)
    second = stats_at(backend, f"site={SITE}&from={second_day.isoformat()}&to={second_day.isoformat()}", now)
    # THEN the first browser is one visitor with two visits on its day, and the second one visit
    # (continued past midnight) counted as a visitor on each day it was seen
    assert first["totals"]["visitors"] == 2 and first["totals"]["sessions"] == 3
    assert second["totals"]["visitors"] == 1 and second["totals"]["sessions"] == 0
    assert second["totals"]["page_views"] == 1
    assert [row["visitors"] for row in first["pages"] if row["page"] == "/"] == [2]
