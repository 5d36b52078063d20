"""Channel and UTM tag filters: visitors, visits, bounce rate and page views of the visits a campaign brought.

The seeded stream is checked against an independent computation from the definitions: a visit is a
visitor's events with no gap over 30 minutes; its channel and tags are those of its earliest event
(the landing), whatever order the events arrive in; a visitor is counted once per UTC day under each
channel or tag of their visits that day.
"""
from __future__ import annotations

import random
from collections import defaultdict

import pytest

from conftest import arrive_late, collect, midnight, stats_at as stats

GAP = 30 * 60
# (utm_source, utm_medium, utm_campaign, utm_term, utm_content) of a landing, and its GA4 channel.
LANDINGS = [
    (("newsletter", "email", "spring", None, "hero"), "Email"),
    (("newsletter", "email", "spring", None, "footer"), "Email"),
    (("google", "cpc", "brand", "running shoes", None), "Paid Search"),
    (("google", "cpc", "brand", "trail shoes", None), "Paid Search"),
    (("facebook", "paid-social", "launch", None, "video"), "Paid Social"),
    ((None, None, None, None, None), "Direct"),
]
TAGS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
PAGES = ["/", "/pricing", "/docs", "/signup"]


def url(page: str, tags: tuple) -> str:
    query = "&".join(f"{name}={value.replace(' ', '+')}" for name, value in zip(TAGS, tags) if value)
    return f"https://shop.example.com{page}" + (f"?{query}" if query else "")


def seeded_visits(seed: int, day: int, people: int = 25):
    """[(visitor, event, landing index)]: each visitor's visits two hours apart, each a landing with its tags
    and up to five more events (page views and signups) a minute apart, inside the UTC day `day`."""
    rng = random.Random(seed)
    stream = []
    for person in range(people):
        t = day + rng.uniform(0, 4 * 3600)
        for _ in range(rng.randint(1, 3)):
            landing = rng.randrange(len(LANDINGS))
            tags = LANDINGS[landing][0]
            for n in range(rng.randint(1, 6)):
                view = n == 0 or rng.random() < 0.7
                event = {"event_type": "page_view" if view else "signup", "session_id": f"visitor-{person}",
                         "timestamp": round(t + 60 * n, 3), "event_id": f"e-{len(stream)}",
                         "page_url": url(rng.choice(PAGES), tags) if n == 0 else
                         f"https://shop.example.com{rng.choice(PAGES)}"}
                stream.append((person, event, landing))
            t += 2 * 3600 + rng.uniform(0, 600)
    return stream


def independent(stream) -> dict[tuple[str, str], dict]:
    """{(filter, value): {visitors, sessions, bounces, page_views, events}} from the definitions."""
    out: dict[tuple[str, str], dict] = defaultdict(lambda: {"visitors": set(), "sessions": 0, "bounces": 0,
                                                            "page_views": 0, "events": 0})
    by_person = defaultdict(list)
    for person, event, landing in stream:
        by_person[person].append((event, landing))
    for person, events in by_person.items():
        events.sort(key=lambda pair: pair[0]["timestamp"])
        visits, last = [], None
        for event, landing in events:
            if last is None or event["timestamp"] - last > GAP:
                visits.append([])
            visits[-1].append((event, landing))
            last = event["timestamp"]
        for visit in visits:
            tags, channel = LANDINGS[visit[0][1]]
            keys = [("channel", channel)] + [(name, value) for name, value in zip(TAGS, tags) if value]
            views = sum(e["event_type"] == "page_view" for e, _ in visit)
            for key in keys:
                row = out[key]
                row["visitors"].add(person)
                row["sessions"] += 1
                row["bounces"] += int(len(visit) == 1 and views == 1)
                row["page_views"] += views
                row["events"] += len(visit)
    return {key: {**row, "visitors": len(row["visitors"])} for key, row in out.items()}


@pytest.mark.parametrize("seed", [3, 4])
def test_each_channel_and_utm_tag_filter_is_exact_with_late_and_repeated_events(backend, seed):
    # GIVEN 25 visitors with up to three visits each in a day, each visit landing from a newsletter, a paid
    # search ad, a paid social ad or directly; the events arrive up to four minutes late (so a landing often
    # comes after the pages it led to) and ten of them twice (a retried request)
    day = midnight()
    stream = seeded_visits(seed, day)
    rng = random.Random(seed)
    arrive_late(backend, [e for _, e, _ in stream], rng, now=day + 86400, every=4)
    expected = independent(stream)
    assert len(expected) >= 12  # every channel and most tags have visits
    for (name, value), want in sorted(expected.items()):
        # WHEN the day is asked with the filter, by hour and by day
        query = f"from={day}&to={day + 86400}&{name}={value.replace(' ', '+')}"
        hourly = stats(backend, query + "&interval=hour", now=day + 86400)
        daily = stats(backend, query + "&interval=day", now=day + 86400)
        # THEN its visitors, visits, bounce rate, page views and events are the independent count's
        for data in (hourly, daily):
            totals = data["totals"]
            got = {key: totals[key] for key in ("visitors", "sessions", "page_views", "events")}
            assert got == {key: want[key] for key in got}, (name, value)
            assert totals["bounce_rate"] == round(want["bounces"] / want["sessions"], 4), (name, value)
            # AND the series adds up to the totals
            assert sum(point["sessions"] for point in data["timeseries"]) == want["sessions"]
            assert sum(point["visitors"] for point in data["timeseries"]) == want["visitors"]
            # AND no breakdown pretends to be the campaign's
            assert data["pages"] == [] and data["sources"] == [] and data["countries"] == []


def test_a_late_landing_moves_the_visit_and_its_page_views_to_its_campaign(backend):
    # GIVEN a visit whose internal pages arrive and are counted before its landing from a newsletter
    at = midnight() + 9 * 3600
    later = [{"event_type": "page_view", "session_id": "v1", "timestamp": at + 30,
              "page_url": "https://shop.example.com/pricing"},
             {"event_type": "page_view", "session_id": "v1", "timestamp": at + 90,
              "page_url": "https://shop.example.com/signup"}]
    collect(backend, later, now=at + 120)
    stats(backend, f"from={at - 60}&to={at + 120}", now=at + 120)
    collect(backend, [{"event_type": "page_view", "session_id": "v1", "timestamp": at,
                       "page_url": url("/", ("newsletter", "email", "spring", None, None))}], now=at + 120)
    # WHEN asked by channel and campaign
    query = f"from={at - 60}&to={at + 120}&interval=hour"
    email = stats(backend, query + "&channel=Email", now=at + 180)
    direct = stats(backend, query + "&channel=Direct", now=at + 180)
    spring = stats(backend, query + "&utm_campaign=spring", now=at + 180)
    # THEN the visit and its three page views are the newsletter's, and nothing is left under Direct
    assert (email["totals"]["sessions"], email["totals"]["page_views"], email["totals"]["visitors"]) == (1, 3, 1)
    assert (spring["totals"]["sessions"], spring["totals"]["page_views"]) == (1, 3)
    assert (direct["totals"]["sessions"], direct["totals"]["page_views"], direct["totals"]["visitors"]) == (0, 0, 0)


def test_campaign_filters_refuse_what_they_cannot_answer(backend):
    at = midnight() + 3600
    base = f"from={at}&to={at + 3600}"
    cases = {
        "&channel=Email&page=/": "`channel` cannot be combined with `page`, `source`, `event_type` or a place",
        "&utm_source=google&country=US": "`utm_source` cannot be combined",
        "&utm_source=google&utm_medium=cpc": "`utm_source` and `utm_medium` cannot be combined",
        "&utm_term=": "`utm_term` is empty",
        "&channel=Email&interval=minute": "interval=minute is not available for a `channel`",
    }
    from urllib.parse import parse_qs

    from liveinsight.errors import InvalidRequest
    from liveinsight.query.stats import StatsReader

    for extra, message in cases.items():
        # WHEN a campaign filter is given with what it cannot answer
        with pytest.raises(InvalidRequest) as refused:
            StatsReader(backend.store).answer(parse_qs(base + extra, keep_blank_values=True), now=at + 3600)
        # THEN the 400 names it and what is accepted
        assert message in str(refused.value), extra


def test_100000_distinct_utm_terms_in_a_day_keep_items_small_and_totals_exact(settings):
    from decimal import Decimal

    from memstore import MemoryStore, aggregate_in_batches

    from liveinsight.query.stats import StatsReader

    # GIVEN 100,000 visitors of one day from paid search ads, each with a search term of its own
    at, total = midnight() + 3600, 100_000
    store = MemoryStore(settings)

    def event(n: int) -> dict:  # an unpacked events-table item, as the stream delivers it
        return {"session_id": f"v{n}", "timestamp": Decimal(f"{at + n * 0.2:.3f}"), "event_type": "page_view",
                "event_id": f"e{n}", "page": "/", "site": "shop.example.com", "source": "google",
                "browser": "Chrome", "os": "Windows", "device": "Desktop", "channel": "Paid Search",
                "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand", "utm_term": f"term {n}"}

    aggregate_in_batches(store, settings, event, total)
    # THEN no item is over 64 KB
    assert store.largest_item_bytes(settings.stats_table) <= 64 * 1024
    # AND the channel, source and campaign filters are exact, whatever the number of terms
    reader = StatsReader(store, settings)
    for name, value in (("channel", "Paid Search"), ("utm_source", "google"), ("utm_campaign", "brand")):
        data = reader.answer({"from": [str(at - 60)], "to": [str(at + 86400 - 7200)], name: [value]},
                             now=at + 86400)
        assert (data["totals"]["visitors"], data["totals"]["sessions"]) == (total, total), name
