"""Custom properties counted: per event type, each key's values with events and visitors, bounded, exact."""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace

import pytest

from conftest import collect, midnight, stats_at as stats

DAY = 86400


def signup(visitor: str, at: float, props: dict, n: int) -> dict:
    return {"event_type": "signup", "session_id": visitor, "timestamp": at, "event_id": f"e-{n}",
            "page_url": "https://shop.example.com/signup", "props": props}


def test_each_value_of_a_property_is_counted_with_its_events_and_visitors(backend):
    # GIVEN signups with plans and a newsletter flag: v1 twice on pro, v2 on pro, v3 on free
    at = midnight() + 10 * 3600
    collect(backend, [signup("v1", at, {"plan": "pro", "newsletter": True}, 1),
                      signup("v1", at + 60, {"plan": "pro", "newsletter": True}, 2),
                      signup("v2", at + 120, {"plan": "pro", "newsletter": False}, 3),
                      signup("v3", at + 180, {"plan": "free", "seats": 3}, 4)], now=at + 600)
    # WHEN the signups are asked
    data = stats(backend, f"from={at - 60}&to={at + 600}&event_type=signup", now=at + 600)
    # THEN each key lists its values, most events first, with the visitors who sent them
    assert data["properties"] == [
        {"key": "newsletter", "values": [{"value": "true", "events": 2, "visitors": 1},
                                         {"value": "false", "events": 1, "visitors": 1}],
         "other": {"events": 0, "visitors": 0}},
        {"key": "plan", "values": [{"value": "pro", "events": 3, "visitors": 2},
                                   {"value": "free", "events": 1, "visitors": 1}],
         "other": {"events": 0, "visitors": 0}},
        {"key": "seats", "values": [{"value": "3", "events": 1, "visitors": 1}], "other": {"events": 0, "visitors": 0}},
    ]
    # AND a limit keeps the largest values and adds the rest up as other, exactly
    limited = stats(backend, f"from={at - 60}&to={at + 600}&event_type=signup&limit=1", now=at + 600)
    plan = next(p for p in limited["properties"] if p["key"] == "plan")
    assert plan == {"key": "plan", "values": [{"value": "pro", "events": 3, "visitors": 2}],
                    "other": {"events": 1, "visitors": 1}}
    # AND without an event type there are none
    assert stats(backend, f"from={at - 60}&to={at + 600}", now=at + 600)["properties"] == []


def test_only_the_keys_the_deployment_counts(backend, monkeypatch):
    from liveinsight import aggregator

    # GIVEN a deployment counting only `plan` (LIVEINSIGHT_PROPS=plan)
    real = aggregator.Aggregator.__init__

    def counting_plan(self, store, settings=None, exclusive=False):
        real(self, store, replace(settings or store.settings, props=("plan",)), exclusive)

    monkeypatch.setattr(aggregator.Aggregator, "__init__", counting_plan)
    at = midnight() + 11 * 3600
    collect(backend, [signup("v1", at, {"plan": "pro", "email_domain": "example.com"}, 1)], now=at + 60)
    # WHEN the signups are asked
    data = stats(backend, f"from={at - 60}&to={at + 60}&event_type=signup", now=at + 120)
    # THEN only plan is counted
    assert [p["key"] for p in data["properties"]] == ["plan"]


def test_properties_are_exact_with_late_and_repeated_events(backend):
    # GIVEN purchases of 40 visitors over a day with a plan and a coupon, arriving up to 4 minutes late,
    # ten of them twice
    rng = random.Random(5)
    at = midnight() + 3600
    events = []
    for n in range(200):
        visitor = f"v{rng.randrange(40)}"
        events.append({"event_type": "purchase", "session_id": visitor, "timestamp": at + n * 300 + rng.uniform(0, 60),
                       "event_id": f"p-{n}", "page_url": "https://shop.example.com/checkout",
                       "props": {"plan": rng.choice(["pro", "team", "free"]), "coupon": rng.choice(["", "SPRING", "VIP"])}})
    arrivals = sorted([(e["timestamp"] + rng.uniform(0, 240), e) for e in events]
                      + [(e["timestamp"] + rng.uniform(0, 600), e) for e in rng.sample(events, 10)], key=lambda x: x[0])
    for i, (_, event) in enumerate(arrivals):
        collect(backend, [event], now=at + DAY)
        if i % 3 == 0:
            backend.aggregate()
    # WHEN the day is asked
    data = stats(backend, f"from={at - 60}&to={at + DAY - 3700}&event_type=purchase&limit=100", now=at + DAY)
    # THEN each value's events and visitors are the independent count (a visitor once per day and value)
    for key in ("plan", "coupon"):
        truth_events, truth_visitors = defaultdict(int), defaultdict(set)
        for event in events:
            value = event["props"][key]
            truth_events[value] += 1
            truth_visitors[value].add((event["session_id"], int(event["timestamp"] // DAY)))
        prop = next(p for p in data["properties"] if p["key"] == key)
        assert {v["value"]: v["events"] for v in prop["values"]} == dict(truth_events)
        assert {v["value"]: v["visitors"] for v in prop["values"]} == {k: len(v) for k, v in truth_visitors.items()}
        # AND filtered to one value (prop=<key>:<value>), its events and visitors, by hour, add up the same
        for value in truth_events:
            filtered = stats(backend, f"from={at - 60}&to={at + DAY - 3700}&event_type=purchase&prop={key}:{value}",
                             now=at + DAY)
            assert (filtered["totals"]["events"], filtered["totals"]["visitors"]) == \
                (truth_events[value], len(truth_visitors[value])), (key, value)
            assert filtered["range"]["interval"] == "hour"
            assert sum(point["events"] for point in filtered["timeseries"]) == truth_events[value]
            per_hour = defaultdict(int)
            for event in events:
                if event["props"][key] == value:
                    per_hour[int(event["timestamp"] // 3600) * 3600] += 1
            assert {p["t"]: p["events"] for p in filtered["timeseries"] if p["events"]} == dict(per_hour)


def test_a_property_filter_needs_its_event_type_and_a_key(backend):
    from urllib.parse import parse_qs

    from liveinsight.errors import InvalidRequest
    from liveinsight.query.stats import StatsReader

    at = midnight() + 3600
    for query, message in {"prop=plan:pro": "give it with `event_type`",
                           "prop=plan&event_type=signup": "`prop` must be <key>:<value>",
                           "prop=plan:pro&event_type=signup&page=/": "without `page` or `source`",
                           "prop=plan:pro&event_type=signup&interval=minute": "not available for a `prop`"}.items():
        # WHEN a property filter comes without what it needs
        with pytest.raises(InvalidRequest) as refused:
            StatsReader(backend.store).answer(parse_qs(f"from={at}&to={at + 3600}&{query}"), now=at + 3600)
        # THEN the 400 says what to give
        assert message in str(refused.value), query


def test_100000_distinct_property_values_keep_items_small_and_counts_exact(settings):
    from decimal import Decimal

    from memstore import MemoryStore, aggregate_in_batches

    from liveinsight.query.stats import StatsReader

    # GIVEN 100,000 orders of one day, each with its own order id and one of three plans
    at, total = midnight() + 3600, 100_000
    store = MemoryStore(settings)

    def event(n: int) -> dict:
        return {"session_id": f"v{n % 5000}", "timestamp": Decimal(f"{at + n * 0.2:.3f}"), "event_type": "purchase",
                "event_id": f"e{n}", "page": "/checkout", "site": "shop.example.com", "source": "Direct",
                "browser": "Chrome", "os": "Windows", "device": "Desktop",
                "props": {"order": f"order-{n}", "plan": ["pro", "team", "free"][n % 3]}}

    aggregate_in_batches(store, settings, event, total)
    # THEN no item is over 64 KB
    assert store.largest_item_bytes(settings.stats_table) <= 64 * 1024
    # AND every key adds up to every event: listed values plus an exact other
    data = StatsReader(store, settings).answer({"from": [str(at - 60)], "to": [str(at + 86400 - 7200)],
                                                "event_type": ["purchase"], "limit": ["100"]}, now=at + 86400)
    by_key = {p["key"]: p for p in data["properties"]}
    for key in ("order", "plan"):
        assert sum(v["events"] for v in by_key[key]["values"]) + by_key[key]["other"]["events"] == total
    assert {v["value"]: v["events"] for v in by_key["plan"]["values"]} == {"pro": 33334, "team": 33333, "free": 33333}
