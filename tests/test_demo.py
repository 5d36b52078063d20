"""The demo traffic simulator: its visits match the configured mix, deterministically."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from liveinsight.local.demo import (FUNNEL_SHARES, PLACES, Scenario, Simulator, TrafficModel, day_night, history,
                                    visitor_history)
from liveinsight.ingest.enrich import classify_source, client_info, page_info


@pytest.fixture(scope="module")
def visits():
    model = TrafficModel(seed=11)
    now = time.time()
    return [model.visit(now - i) for i in range(4000)]


def test_the_mix_matches_the_model_within_tolerance(visits):
    reports = [e for v in visits for e in v if e["event_type"] == "engagement"]
    views = [e for v in visits for e in v if e["event_type"] == "page_view" and not client_info(e["user_agent"]).is_bot]
    assert len(reports) / len(views) == pytest.approx(0.85, abs=0.03)  # the tracker's engagement reports
    assert all(0 < e["props"]["engaged_seconds"] and 0 < e["props"]["scroll_depth"] <= 100 for e in reports)
    visits = [[e for e in v if e["event_type"] != "engagement"] for v in visits]
    humans = [v for v in visits if not client_info(v[0]["user_agent"]).is_bot]
    bots = len(visits) - len(humans)
    assert bots / len(visits) == pytest.approx(0.03, abs=0.01)
    bounces = sum(1 for v in humans if len(v) == 1 and v[0]["event_type"] == "page_view")
    assert bounces / len(humans) == pytest.approx(0.42, abs=0.03)
    devices = Counter(client_info(v[0]["user_agent"]).device for v in humans)
    assert (devices["Mobile"] + devices["Tablet"]) / len(humans) == pytest.approx(0.38, abs=0.03)
    sources = Counter(classify_source(page_info(v[0]["page_url"]), v[0].get("referrer"))[0] for v in humans)
    share = {name: n / len(humans) for name, n in sources.items()}
    assert share["Direct"] == pytest.approx(0.28, abs=0.03)
    assert share["Google"] == pytest.approx(0.31, abs=0.03)  # search 26 %, its ads 5 % (utm_source=google)
    assert share["Newsletter"] == pytest.approx(0.10, abs=0.02)
    assert share["Hacker News"] == pytest.approx(0.04, abs=0.015)
    custom = Counter(e["event_type"] for v in humans for e in v if e["event_type"] != "page_view")
    landing_home = sum(1 for v in humans if v[0]["page_url"].split("?")[0] == "https://shop.example.com/"
                       and len(v) > 1) / len(humans)  # engaged visits landing on /: the funnel's entry
    funnel = landing_home * FUNNEL_SHARES[0] * FUNNEL_SHARES[1]
    assert custom["signup"] / len(humans) == pytest.approx(0.04 * 0.58 * 2.2 + funnel, abs=0.015)
    assert funnel > 0.02  # the funnel brings a good share of the signups
    assert {"signup", "add_to_cart", "purchase", "download", "outbound_click", "not_found"} <= set(custom)
    pages = Counter(e["page_url"].split("?")[0] for v in humans for e in v if e["event_type"] == "page_view")
    assert pages.most_common(1)[0][0] == "https://shop.example.com/"


def test_every_generated_event_is_valid(visits):
    from liveinsight.ingest.events import validate_event

    now = time.time() + 3600
    for visit in visits[:500]:
        for event in visit:
            validate_event({k: v for k, v in event.items()}, now)


def test_the_same_seed_gives_the_same_traffic():
    now = 1_790_000_000.0
    assert TrafficModel(seed=3).visit(now) == TrafficModel(seed=3).visit(now)
    assert TrafficModel(seed=3).visit(now) != TrafficModel(seed=4).visit(now)
    assert list(history(0.5, 500, now, seed=5)) == list(history(0.5, 500, now, seed=5))


def test_history_follows_the_day_night_curve():
    now = 1_790_000_000.0 - (1_790_000_000.0 % 86400)
    events = list(history(7, 2000, now, seed=1))
    assert all(now - 7 * 86400 <= e["timestamp"] < now for e in events)
    by_hour = Counter(int(e["timestamp"] % 86400 // 3600) for e in events)
    assert by_hour[15] > 2.5 * by_hour[3]
    assert day_night(15 * 3600) == pytest.approx(1.0) and day_night(3 * 3600) == pytest.approx(0.25)


def test_bad_simulator_settings_are_refused():
    with pytest.raises(ValueError, match="scenario must be one of"):
        Simulator("http://x", scenario="viral")
    with pytest.raises(ValueError, match="rate must be a positive"):
        Simulator("http://x", rate=0)


def test_the_launch_scenario_is_a_hacker_news_spike_on_one_page():
    traffic = Scenario("launch", seed=2)
    visits = [traffic.new_visit(time.time(), elapsed=0) for _ in range(400)]
    landing = Counter(v[0]["page_url"] for v in visits if v[0].get("referrer", "").startswith(
        "https://news.ycombinator.com"))
    assert sum(landing.values()) > 200
    assert landing.most_common(1)[0][0] == "https://shop.example.com/blog/launch"
    assert traffic.visit_rate(0) == pytest.approx(9 * Scenario("steady").visit_rate(0))
    # Over its first hour a launch brings several times a steady hour's visits.
    now = 1_767_225_600
    launch_hour, steady_hour = Scenario("launch", seed=3).play(now, 3600), Scenario("steady", seed=3).play(now, 3600)
    visits_in = lambda events: len({e["session_id"] for e in events})  # noqa: E731
    assert 3.5 < visits_in(launch_hour) / visits_in(steady_hour) < 6
    assert all(now <= e["timestamp"] for e in launch_hour)
    assert [e["timestamp"] for e in launch_hour] == sorted(e["timestamp"] for e in launch_hour)


def test_the_campaign_scenario_tags_the_newsletter_burst():
    traffic = Scenario("campaign", seed=2)
    visits = [traffic.new_visit(time.time(), elapsed=0) for _ in range(400)]
    tagged = [v for v in visits if "utm_campaign=black-friday" in v[0]["page_url"]]
    assert 0.5 < len(tagged) / len(visits) < 0.75


# --- visitors and places -----------------------------------------------------------------

SESSION_TIMEOUT = 30 * 60


def visits_by_inactivity(pairs) -> int:
    """Visits as the server splits a cookieless visitor's events: 30 minutes without an event ends one."""
    last: dict = {}
    visits = 0
    for person, event in sorted(pairs, key=lambda pair: pair[1]["timestamp"]):
        if person not in last or event["timestamp"] - last[person] > SESSION_TIMEOUT:
            visits += 1
        last[person] = event["timestamp"]
    return visits


@pytest.fixture(scope="module")
def cookieless_day():
    """A day of cookieless demo history: (visitor, event) pairs."""
    return list(visitor_history(1, 3000, 1_790_000_000.0, seed=13))


def test_visitors_come_from_a_weighted_mix_of_countries_regions_and_cities(cookieless_day):
    import zoneinfo

    import pycountry

    people = {person for person, _ in cookieless_day}
    countries = Counter(person.country for person in people)
    weights = Counter()
    for country, _, _, _, weight in PLACES:
        weights[country] += weight
    assert len(countries) >= 15
    assert countries.most_common(1)[0][0] == "US"
    assert countries["US"] / len(people) == pytest.approx(weights["US"] / sum(weights.values()), abs=0.03)
    assert {"DE", "GB", "IN", "FR", "BR", "JP", "CA", "NL", "AU"} <= set(countries)
    # Regions are what CloudFront sends: an ISO 3166-2 code without its country; zones are IANA's.
    for country, region, city, zone, _ in PLACES:
        assert pycountry.subdivisions.get(code=f"{country}-{region}") is not None, (country, region)
        assert city.isascii() and zoneinfo.ZoneInfo(zone)
    assert len({(p.region, p.city) for p in people if p.country == "US"}) >= 5


def test_a_fifth_of_visitors_are_placed_by_their_time_zone_only(cookieless_day):
    people = {person for person, _ in cookieless_day}
    by_zone = [person for person in people if person.time_zone_only]

    assert len(by_zone) / len(people) == pytest.approx(0.2, abs=0.03)
    for person, event in cookieless_day:
        assert event.get("tz") == (person.time_zone if person.time_zone_only else None)
        assert "session_id" not in event


def test_visitors_come_back_so_there_are_fewer_visitors_than_visits(cookieless_day):
    people = {person for person, _ in cookieless_day}
    visits = visits_by_inactivity(cookieless_day)

    assert 0.6 < len(people) / visits < 0.85
    assert len({person.ip for person in people}) > 0.97 * len(people)  # each their own address


def test_some_visits_read_in_several_tabs_within_the_visit():
    now = 1_790_000_000.0
    one_tab = TrafficModel(seed=5, tabs_share=0.0, cookieless=True)
    tabs = TrafficModel(seed=5, cookieless=True)
    engaged = with_tabs = 0
    for i in range(1500):
        plain, read = ([e for e in model.visit(now + i * 7200) if e["event_type"] != "engagement"]
                       for model in (one_tab, tabs))
        extra = [e for e in read if e["event_id"] not in {p["event_id"] for p in plain}]
        engaged += len(plain) > 1
        if extra:
            with_tabs += 1
            # THEN the other tabs' page views fall within the visit, between its own events
            assert all(e["event_type"] == "page_view" for e in extra)
            assert all(plain[0]["timestamp"] <= e["timestamp"] <= plain[-1]["timestamp"] + 30 * 60 for e in extra)
            assert sorted(e["timestamp"] for e in read) == [e["timestamp"] for e in read]
    assert with_tabs / engaged == pytest.approx(0.3, abs=0.05)


def test_the_simulator_sends_each_visitor_as_the_deployments_cloudfront_would():
    simulator = Simulator("http://x", origin_secret="s3cret", seed=4)
    due = []
    for i in range(300):
        person, events = simulator.traffic.new_visit_by(1_790_000_000.0 + i, i)
        due += [(person, event) for event in events]

    requests = simulator.requests_for(due)

    assert len(requests) == len({person for person, _ in due})  # one request per visitor
    assert sum(count for _, _, count in requests) == len(due)
    for headers, body, _ in requests:
        events = body["events"] if "events" in body else [body]
        person = next(p for p, e in due if e["event_id"] == events[0]["event_id"])
        assert headers["X-LiveInsight-Origin"] == "s3cret"
        ip, port = headers["CloudFront-Viewer-Address"].rsplit(":", 1)
        assert ip == person.ip and 1024 <= int(port) <= 65535
        assert headers["User-Agent"] == person.agent
        assert all("session_id" not in e and "user_agent" not in e for e in events)
        if person.time_zone_only:
            assert not {"CloudFront-Viewer-Country", "CloudFront-Viewer-City"} & set(headers)
            assert all(e["tz"] == person.time_zone for e in events)
        else:
            assert (headers["CloudFront-Viewer-Country"], headers["CloudFront-Viewer-Country-Region"],
                    headers["CloudFront-Viewer-City"]) == (person.country, person.region, person.city)
            assert all("tz" not in e for e in events)


def test_the_simulator_takes_the_origin_secret_from_the_local_stacks_environment(monkeypatch):
    monkeypatch.setenv("LIVEINSIGHT_ORIGIN_SECRET", "from-env")
    assert Simulator("http://x").origin_secret == "from-env"
    assert Simulator("http://x", origin_secret="given").origin_secret == "given"
    monkeypatch.delenv("LIVEINSIGHT_ORIGIN_SECRET")
    person = TrafficModel(seed=1).visitor("agent", 1_790_000_000.0)
    assert "X-LiveInsight-Origin" not in person.headers(Simulator("http://x").origin_secret, 4000)


def test_every_cookieless_event_is_valid(cookieless_day):
    from liveinsight.ingest.events import validate_event

    for _, event in cookieless_day[:3000]:
        validate_event(dict(event), 1_790_000_000.0, max_age_seconds=2 * 86400)


def test_up_demos_backfill_sends_each_event_as_its_visitor(backend):
    from liveinsight.local.demo import backfill

    # GIVEN a few hours of history within one UTC day (a visitor's id is the day's)
    now = time.time() // 86400 * 86400 - 60
    pairs = list(visitor_history(0.25, 800, now, seed=9))

    # WHEN up --demo backfills it
    report = backfill(backend.store, 0.25, 800, now, seed=9)

    # THEN every event is kept, with no id of its own: the collector derived one per visitor
    assert report.accepted + report.filtered == len(pairs) and not report.rejected  # crawlers filtered
    items = {item["event_id"]: item for item in backend.raw_events()}
    ids: dict = {}
    for person, event in pairs:
        if client_info(person.agent).is_bot:
            continue
        item = items[event["event_id"]]
        ids.setdefault(person, set()).add(item["session_id"])
        # AND the place the deployment's CloudFront named for the visitor; for those placed by their time
        # zone only its country (the zone itself is not stored)
        if person.time_zone_only:
            assert (item.get("country"), item.get("region"), item.get("city")) == (person.country, None, None)
            assert "tz" not in item
        else:
            assert (item["country"], item["region"], item["city"]) == (
                person.country, f"{person.country}-{person.region}", person.city)
    assert all(len(visitor_ids) == 1 for visitor_ids in ids.values())
    assert len({i for visitor_ids in ids.values() for i in visitor_ids}) == len(ids)


# --- the demo's definitions ------------------------------------------------------------------------

from tests.test_definitions import KEY, api, http_api  # noqa: E402,F401 (fixtures)


def test_the_demos_definitions_match_what_its_visitors_do():
    # GIVEN the demo's page groups, goals and funnel
    import random

    from liveinsight.items.definitions import GOALS, PAGE_GROUPS, Definitions, from_dict
    from liveinsight.local.demo import CUSTOM_EVENTS, DEFINITIONS, PAGES

    known = Definitions("shop.example.com", **{kind: tuple(from_dict(kind, {"name": name, **body})
                                                           for k, name, body in DEFINITIONS if k == kind)
                                               for kind in (PAGE_GROUPS, GOALS)})
    paths = [path for path, _ in PAGES]
    # THEN every page group holds some of the pages the demo visits, and every page goal is one of them
    for group in known.page_groups:
        assert [p for p in paths if group.name in known.groups_of(p)], group
    assert {g.name: g.page for g in known.goals if g.page} == {"landing": "/", "pricing": "/pricing"}
    # AND every event goal is an event the demo sends, a purchase carrying its revenue as a number
    events = {name: props for name, _, props in CUSTOM_EVENTS}
    for goal in known.goals:
        if goal.event_type:
            props = events[goal.event_type](random.Random(1))
            assert known.goals_hit({"event_type": goal.event_type, "props": props}) == [goal.name]
    purchase = known.goal("purchase")
    assert isinstance(events["purchase"](random.Random(1))[purchase.revenue.property], (int, float))
    assert [steps for kind, _, body in DEFINITIONS if kind == "funnels" for steps in [body["steps"]]] == [
        ["landing", "pricing", "signup", "purchase"]]


def test_up_demo_defines_them_through_the_api_and_again_changes_nothing(http_api, api):
    from liveinsight.local.demo import DEFINITIONS, define

    assert define(http_api, KEY) == len(DEFINITIONS)
    status, payload = api.get("/api/definitions?site=shop.example.com", headers={"X-API-Key": KEY})
    first = payload["data"]
    assert [g["name"] for g in first["page_groups"]] == ["products", "blog", "docs"]
    assert [g["name"] for g in first["goals"]] == ["landing", "pricing", "signup", "purchase"]
    assert first["goals"][3]["revenue"] == {"property": "value", "currency": "USD"}
    define(http_api, KEY)
    again = api.get("/api/definitions?site=shop.example.com", headers={"X-API-Key": KEY})[1]["data"]
    assert again == first
    with pytest.raises(RuntimeError, match="refused the demo's goals 'x'"):
        define(http_api, KEY, [("goals", "x", {"page_group": "none"})])
