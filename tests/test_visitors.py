"""Visitors and places: unique visitors per day, countries/regions/cities, a visit across midnight.

The seeded stream is checked against an independent computation written from the definitions
(docs/data-model.md): a visitor is one person's id for a day; a visit ends after 30 minutes
without events and goes on across midnight; a visitor is counted once per UTC day and value.
"""
from __future__ import annotations

import random
import time
from collections import defaultdict

import pytest

from conftest import CHROME, IPHONE, collect, midnight, stats_at as stats

DAY = 86400
GAP = 30 * 60
PLACES = [("US", "US-WA", "Seattle"), ("US", "US-NY", "New York"), ("DE", "DE-BE", "Berlin"),
          ("IN", None, None), (None, None, None)]
PAGES = ["/", "/pricing", "/docs", "/blog/a", "/signup"]


class Person:
    def __init__(self, n: int, rng: random.Random):
        self.ip = f"198.51.100.{n}"
        self.user_agent = rng.choice([CHROME, IPHONE])
        self.place = rng.choice(PLACES)


def seeded_stream(seed: int, start: int, people: int = 30):
    """[(person, event)] over six hours around `start` + 3 h, and the event times of each person."""
    rng = random.Random(seed)
    persons = [Person(n, rng) for n in range(1, people + 1)]
    stream = []
    for person in persons:
        t = start + rng.uniform(0, 5 * 3600)
        for _ in range(rng.randint(1, 8)):
            page = rng.choice(PAGES)
            event = {"event_type": "page_view" if rng.random() < 0.8 else "signup", "timestamp": round(t, 3),
                     "page_url": f"https://shop.example.com{page}", "event_id": f"e-{len(stream)}"}
            stream.append((person, event))
            t += rng.choice([5, 40, 300, 1700, 2400])  # some gaps end the visit, most do not
    return persons, stream


def independent(stream) -> dict:
    """The answers, computed from the definitions with no code of the product."""
    by_person = defaultdict(list)
    for person, event in stream:
        by_person[person].append(event)
    visitors, page_visitors, country_visitors, visits, country_visits = set(), set(), set(), 0, defaultdict(int)
    for person, events in by_person.items():
        events.sort(key=lambda e: e["timestamp"])
        last = None
        country = person.place[0] or "Unknown"
        for event in events:
            if last is None or event["timestamp"] - last > GAP:
                visits += 1
                country_visits[country] += 1
            last = event["timestamp"]
            day = int(event["timestamp"] // DAY)
            visitors.add((person, day))
            page_visitors.add((person, day, event["page_url"].split("example.com")[1]))
            country_visitors.add((person, day, country))
    per_page = defaultdict(int)
    for _, _, page in page_visitors:
        per_page[page] += 1
    per_country = defaultdict(int)
    for _, _, country in country_visitors:
        per_country[country] += 1
    return {"visitors": len(visitors), "visits": visits, "pages": dict(per_page), "countries": dict(per_country),
            "country_visits": dict(country_visits)}


@pytest.mark.parametrize("seed", [1, 2])
def test_visitors_and_places_are_exact_with_late_and_repeated_events(backend, seed):
    # GIVEN 30 people with no visit id of their own, three hours either side of a midnight, whose
    # events arrive out of order (each up to four minutes late: never late enough to join two
    # visits already counted apart), some twice (a retried request)
    start = midnight() - 3 * 3600
    persons, stream = seeded_stream(seed, start)
    rng = random.Random(seed)
    arrivals = [(e["timestamp"] + rng.uniform(0, 250), [(p, e)]) for p, e in stream]
    arrivals += [(at + rng.uniform(0, 600), request) for at, request in rng.sample(arrivals, 10)]
    requests = [request for _, request in sorted(arrivals, key=lambda row: row[0])]
    end = start + 8 * 3600
    for i, request in enumerate(requests):
        person = request[0][0]
        collect(backend, [e for _, e in request], person.ip, person.user_agent, person.place, now=end)
        if i % 2 == 0:
            backend.aggregate()  # later requests arrive in later stream batches: late events
    truth = independent(stream)
    # WHEN the two days are asked
    data = stats(backend, f"from={start - 3600}&to={end}&interval=hour&limit=100", now=end + 60)
    # THEN visitors, visits and the visitors of each page and country are the independent answers
    assert data["totals"]["visitors"] == truth["visitors"]
    assert data["totals"]["sessions"] == truth["visits"]
    assert sum(point["visitors"] for point in data["timeseries"]) == truth["visitors"]
    assert {row["page"]: row["visitors"] for row in data["pages"]} == truth["pages"]
    assert {row["country"]: row["visitors"] for row in data["countries"]} == truth["countries"]
    assert {row["country"]: row["sessions"] for row in data["countries"]} == truth["country_visits"]
    # AND a country's own numbers are the same as its row
    for country, visitors in truth["countries"].items():
        filtered = stats(backend, f"from={start - 3600}&to={end}&interval=hour&country={country}", now=end + 60)
        assert filtered["totals"]["visitors"] == visitors
        assert filtered["totals"]["sessions"] == truth["country_visits"][country]


def test_two_tabs_of_one_visitor_are_one_visitor_and_one_visit(backend):
    # GIVEN one browser, no visit id, two tabs sending page views a few seconds apart
    at = midnight() + 10 * 3600
    for n, page in enumerate(["/", "/pricing", "/docs", "/"]):
        event = {"event_type": "page_view", "timestamp": at + 5 * n, "page_url": f"https://shop.example.com{page}"}
        collect(backend, [event], "198.51.100.9", CHROME, ("US", "US-WA", "Seattle"), now=at + 60)
    # WHEN the day is asked
    data = stats(backend, f"from={at - 3600}&to={at + 3600}", now=at + 120)
    # THEN one visitor with one visit of four page views
    assert data["totals"]["visitors"] == 1 and data["totals"]["sessions"] == 1
    assert data["totals"]["page_views"] == 4 and data["totals"]["bounce_rate"] == 0.0


def test_a_visit_across_midnight_stays_one_visit(backend):
    # GIVEN a visitor (no visit id) with a page view at 23:59:59 and another at 00:00:01
    m = midnight()
    collect(backend, [{"event_type": "page_view", "timestamp": m - 1, "page_url": "https://shop.example.com/"}],
            "198.51.100.20", CHROME, ("DE", "DE-BE", "Berlin"), now=m + 60)
    backend.aggregate()
    collect(backend, [{"event_type": "page_view", "timestamp": m + 1, "page_url": "https://shop.example.com/docs"}],
            "198.51.100.20", CHROME, ("DE", "DE-BE", "Berlin"), now=m + 60)
    # WHEN both days are asked
    data = stats(backend, f"from={m - 3600}&to={m + 3600}&interval=hour", now=m + 3600)
    # THEN one visit (not a bounce), of one visitor on each day
    assert data["totals"]["sessions"] == 1
    assert data["totals"]["bounce_rate"] == 0.0
    assert data["totals"]["visitors"] == 2  # one a day: a range sums its days
    assert [p["visitors"] for p in data["timeseries"]] == [1, 1]
    assert {row["page"]: row["visitors"] for row in data["pages"]} == {"/": 1, "/docs": 1}


def test_the_previous_days_id_is_not_used_once_that_visit_is_over(backend):
    # GIVEN a visitor at 23:20 and again at 00:10 (50 minutes later: a new visit)
    m = midnight()
    for at in (m - 40 * 60, m + 10 * 60):
        collect(backend, [{"event_type": "page_view", "timestamp": at, "page_url": "https://shop.example.com/"}],
                "198.51.100.21", CHROME, (None, None, None), now=m + 3600)
        backend.aggregate()
    data = stats(backend, f"from={m - 3600}&to={m + 3600}", now=m + 3600)
    assert data["totals"]["sessions"] == 2 and data["totals"]["bounce_rate"] == 1.0


def test_a_page_view_in_the_same_second_as_its_click_sets_the_origin(backend):
    # GIVEN a click and its page view in the same second; the click, with no referrer, arrives first
    at = midnight() + 12 * 3600
    click = {"event_type": "click", "timestamp": at, "page_url": "https://shop.example.com/landing"}
    view = {"event_type": "page_view", "timestamp": at, "page_url": "https://shop.example.com/landing",
            "referrer": "https://www.google.com/"}
    collect(backend, [click], "198.51.100.30", CHROME, ("US", None, None), now=at + 60)
    backend.aggregate()
    collect(backend, [view], "198.51.100.30", CHROME, ("US", None, None), now=at + 60)
    # WHEN asked
    data = stats(backend, f"from={at - 60}&to={at + 60}", now=at + 120)
    # THEN the visit came from Google and entered on the landing page
    assert [row["source"] for row in data["sources"]] == ["Google"]
    assert data["entry_pages"] == [{"page": "/landing", "sessions": 1}]


def test_regions_and_cities_drill_down_under_a_country(backend):
    # GIVEN visitors in Seattle, New York and Berlin
    at = midnight() + 15 * 3600
    for n, place in enumerate([("US", "US-WA", "Seattle"), ("US", "US-WA", "Seattle"), ("US", "US-NY", "New York"),
                               ("DE", "DE-BE", "Berlin")]):
        collect(backend, [{"event_type": "page_view", "timestamp": at + n, "page_url": "https://shop.example.com/"}],
                f"198.51.100.{40 + n}", CHROME, place, now=at + 60)
    # WHEN the US is asked
    data = stats(backend, f"from={at - 60}&to={at + 60}&country=US", now=at + 120)
    # THEN its regions and cities, with visitors
    assert data["totals"]["visitors"] == 3
    assert [(c["country"], c["visitors"]) for c in data["countries"]] == [("US", 3)]
    assert [(r["region"], r["visitors"]) for r in data["regions"]] == [("US-WA", 2), ("US-NY", 1)]
    assert [(c["city"], c["name"], c["visitors"]) for c in data["cities"]] == [
        ("US-WA/Seattle", "Seattle", 2), ("US-NY/New York", "New York", 1)]
    # AND a region and a city are filters; a region lists its cities
    washington = stats(backend, f"from={at - 60}&to={at + 60}&region=US-WA", now=at + 120)
    assert washington["totals"]["visitors"] == 2 and washington["totals"]["sessions"] == 2
    assert [(c["city"], c["visitors"]) for c in washington["cities"]] == [("US-WA/Seattle", 2)]
    seattle = stats(backend, f"from={at - 60}&to={at + 60}&city=US-WA/Seattle", now=at + 120)
    assert seattle["totals"]["visitors"] == 2 and seattle["totals"]["page_views"] == 2
    assert seattle["range"]["interval"] == "hour"  # a place has no minute slots
    assert sum(p["visitors"] for p in seattle["timeseries"]) == 2


@pytest.mark.parametrize("query, message", [
    ("country=usa", "`country` must be a two-letter ISO 3166-1 code"),
    ("region=Washington", "`region` must be an ISO 3166-2 code"),
    ("city=Seattle", "`city` must be a `city` value"),
    ("country=DE&region=US-WA", "`country` 'DE' does not contain"),
    ("country=US&page=/", "`country` cannot be combined with `page`"),
    ("city=US-WA/Seattle&interval=minute", "interval=minute is not available for a `city`"),
])
def test_bad_place_filters_are_400_naming_the_parameter(backend, query, message):
    code, payload = backend.get(f"/api/stats?{query}")
    assert code == 400 and message in payload["message"], payload


def test_active_now_by_country(backend):
    # GIVEN two visitors in the US and one in India, just now
    now = time.time() - 30
    for n, place in enumerate([("US", None, None), ("US", None, None), ("IN", None, None)]):
        collect(backend, [{"event_type": "page_view", "timestamp": now + n, "page_url": "https://shop.example.com/"}],
                f"198.51.100.{60 + n}", CHROME, place, now=now + 10)
    # WHEN realtime is asked THEN it counts them by country
    assert backend.realtime()["countries"] == [{"country": "US", "active_sessions": 2},
                                               {"country": "IN", "active_sessions": 1}]


def test_a_late_landing_moves_the_page_views_counted_before_it(backend):
    # GIVEN a visit whose second and third page views arrive (and are counted, as Direct) before its
    # landing from Google and a click on the landing page
    at = midnight() + 9 * 3600
    later = [{"event_type": "page_view", "timestamp": at + 20, "page_url": "https://shop.example.com/pricing"},
             {"event_type": "page_view", "timestamp": at + 70, "page_url": "https://shop.example.com/signup"}]
    landing = [{"event_type": "page_view", "timestamp": at, "page_url": "https://shop.example.com/",
                "referrer": "https://www.google.com/"},
               {"event_type": "click", "timestamp": at + 5, "page_url": "https://shop.example.com/"}]
    collect(backend, later, "198.51.100.50", CHROME, ("FR", None, None), now=at + 120)
    backend.aggregate()
    collect(backend, landing, "198.51.100.50", CHROME, ("FR", None, None), now=at + 120)
    # WHEN asked, per source and with a source filter
    query = f"from={at - 60}&to={at + 120}"
    data = stats(backend, query, now=at + 180)
    google = stats(backend, query + "&source=Google", now=at + 180)
    direct = stats(backend, query + "&source=Direct", now=at + 180)
    combined = stats(backend, query + "&interval=hour&source=Google&page=/pricing", now=at + 180)
    # THEN every page view is Google's: a source's page views are its visits' page views
    assert data["sources"] == [{"source": "Google", "sessions": 1, "page_views": 3, "visitors": 1}]
    assert google["totals"]["page_views"] == 3 and google["totals"]["events"] == 4
    assert {row["page"]: row["page_views"] for row in google["pages"]} == {"/": 1, "/pricing": 1, "/signup": 1}
    assert direct["totals"]["page_views"] == 0 and direct["totals"]["events"] == 0
    assert combined["totals"]["page_views"] == 1


def test_100000_distinct_cities_in_a_day_keep_items_small_and_totals_exact(settings):
    from decimal import Decimal

    from memstore import MemoryStore, aggregate_in_batches

    from liveinsight.query.stats import StatsReader

    # GIVEN 100,000 visitors of one day, each in a city of their own, in five countries
    at, total = midnight() + 3600, 100_000
    countries = ["US", "DE", "IN", "BR", "JP"]
    store = MemoryStore(settings)

    def event(n: int) -> dict:  # an unpacked events-table item, as the stream delivers it
        country = countries[n % 5]
        return {"session_id": f"v{n}", "timestamp": Decimal(f"{at + n * 0.2:.3f}"), "event_type": "page_view",
                "event_id": f"e{n}", "page": "/", "site": "shop.example.com", "source": "Direct", "browser": "Chrome",
                "os": "Windows", "device": "Desktop", "country": country, "region": f"{country}-{n % 97}",
                "city": f"Town {n}"}

    aggregate_in_batches(store, settings, event, total)
    # THEN no item is over 64 KB
    assert store.largest_item_bytes(settings.stats_table) <= 64 * 1024
    # AND visitors, visits and each country are exact, whatever the number of cities
    data = StatsReader(store, settings).answer({"from": [str(at - 60)], "to": [str(at + 86400 - 7200)],
                                                "limit": ["100"]}, now=at + 86400)
    assert data["totals"]["visitors"] == total and data["totals"]["sessions"] == total
    assert {row["country"]: row["visitors"] for row in data["countries"]} == {c: total // 5 for c in countries}
    assert len(data["cities"]) == 100


def test_channels_and_every_utm_tag_of_the_landing(backend):
    # GIVEN visits from a newsletter (all five UTM tags), a Google search, a paid Google ad and directly
    at = midnight() + 13 * 3600
    tagged = ("https://shop.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
              "&utm_term=shoes&utm_content=hero")
    visits = [(tagged, None), ("https://shop.example.com/", "https://www.google.com/"),
              ("https://shop.example.com/?utm_source=google&utm_medium=cpc&utm_campaign=brand", None),
              ("https://shop.example.com/", None)]
    for n, (url, referrer) in enumerate(visits):
        event = {"event_type": "page_view", "timestamp": at + n, "page_url": url}
        if referrer:
            event["referrer"] = referrer
        collect(backend, [event], f"198.51.100.{70 + n}", CHROME, ("US", None, None), now=at + 60)
    # WHEN asked
    data = stats(backend, f"from={at - 60}&to={at + 60}", now=at + 120)
    # THEN each visit is in its GA4 channel, with its visitor, and each UTM tag is a breakdown
    assert {row["channel"]: (row["visitors"], row["sessions"]) for row in data["channels"]} == {
        "Email": (1, 1), "Organic Search": (1, 1), "Paid Search": (1, 1), "Direct": (1, 1)}
    assert {r["utm_source"] for r in data["utm_sources"]} == {"newsletter", "google"}
    assert {r["utm_medium"] for r in data["utm_mediums"]} == {"email", "cpc"}
    assert data["utm_terms"] == [{"utm_term": "shoes", "sessions": 1}]
    assert data["utm_contents"] == [{"utm_content": "hero", "sessions": 1}]
