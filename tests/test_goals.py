"""Page groups, goals, revenue and funnels, counted from a site's definitions, exact against an independent
computation from the definitions over a seeded stream with late, out-of-order and repeated events.

The definitions (docs/data-model.md): a visit is a visitor's events with no gap over 30 minutes; a page
group counts the page views on its pages, the visits and the visitors (once per UTC day) with an event on
one of them; a goal counts its conversions (events), the visits and the visitors that converted; a funnel
counts each visit in the furthest step it reached in order by time, whatever order its events arrived in.
"""
from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from dataclasses import replace
from urllib.parse import quote

import pytest

from conftest import arrive_late, collect, midnight, stats_at as stats

GAP = 30 * 60
SITE = "shop.example.com"
DEFINITIONS = {SITE: {
    "page_groups": [{"name": "Products", "pattern": "/products/*"}, {"name": "Blog", "pattern": "/blog/**"}],
    "goals": [{"name": "Pricing seen", "page": "/pricing"},
              {"name": "Landing", "page": "/"},
              {"name": "Signup", "event_type": "signup"},
              {"name": "Pro signup", "event_type": "signup", "props": {"plan": "pro"}},
              {"name": "Purchase", "event_type": "purchase", "revenue": {"property": "amount", "currency": "USD"}}],
    "funnels": [{"name": "Checkout", "steps": ["Landing", "Pricing seen", "Signup", "Purchase"]}],
}}
PAGES = ["/", "/pricing", "/products/red-shoe", "/products/blue-hat", "/blog", "/blog/2026/launch", "/docs"]
# A visit's source is its earliest event's: these referrers, or none (Direct).
REFERRERS = {"https://www.google.com/search": "Google", "https://news.ycombinator.com/item": "Hacker News", None: "Direct"}


@pytest.fixture
def defined(backend, monkeypatch):
    """GIVEN a deployment seeded with the shop's page groups, goals and a funnel (LIVEINSIGHT_DEFINITIONS)."""
    from liveinsight import aggregator
    from liveinsight.query import stats as reader

    seeded = replace(backend.store.settings, definitions=json.dumps(DEFINITIONS))
    for cls in (aggregator.Aggregator, reader.StatsReader):
        real = cls.__init__

        def with_definitions(self, store, settings=None, *args, _real=real, **kwargs):
            _real(self, store, replace(settings or store.settings, definitions=seeded.definitions), *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", with_definitions)
    return backend


def event(visitor: str, t: float, n: int, event_type: str = "page_view", page: str = "/", props=None,
          referrer: str | None = None) -> dict:
    out = {"event_type": event_type, "session_id": visitor, "timestamp": round(t, 3), "event_id": f"e-{n}",
           "page_url": f"https://{SITE}{page}"}
    if props:
        out["props"] = props
    if referrer:
        out["referrer"] = referrer
    return out


def seeded_stream(seed: int, day: int, people: int = 30) -> list[dict]:
    """Visits in one UTC day: most land on /, then page views, pricing, signups (plan pro or free) and
    purchases in any order (so a funnel's steps come in order in some visits and out of order in others);
    a visit's first event comes from Google, Hacker News or nowhere (Direct)."""
    rng = random.Random(seed)
    stream = []
    for person in range(people):
        t = day + 3600 + rng.uniform(0, 6 * 3600)
        for _ in range(rng.randint(1, 3)):
            steps = (["/"] if rng.random() < 0.7 else []) + rng.choices(
                ["page", "/pricing", "signup", "purchase"], weights=[4, 3, 2, 2], k=rng.randint(0, 6))
            first = len(stream)
            for step in steps:
                if step == "signup":
                    stream.append(event(f"v{person}", t, len(stream), "signup", "/signup",
                                        {"plan": rng.choice(["pro", "free"])}))
                elif step == "purchase":
                    stream.append(event(f"v{person}", t, len(stream), "purchase", "/checkout",
                                        {"amount": rng.choice([19.99, 49.5, 120])}))
                else:
                    stream.append(event(f"v{person}", t, len(stream), page=rng.choice(PAGES) if step == "page" else step))
                t += rng.uniform(20, 400)
            if len(stream) > first:
                referrer = rng.choice(list(REFERRERS))
                if referrer:
                    stream[first]["referrer"] = referrer
            t += 2 * 3600
    return stream


def group_of(page: str) -> str | None:
    if page.startswith("/products/") and page.count("/") == 2:
        return "Products"
    return "Blog" if page == "/blog" or page.startswith("/blog/") else None


def goals_of(e: dict, page: str) -> list[str]:
    hits = []
    if e["event_type"] == "page_view" and page == "/pricing":
        hits.append("Pricing seen")
    if e["event_type"] == "page_view" and page == "/":
        hits.append("Landing")
    if e["event_type"] == "signup":
        hits.append("Signup")
        if e["props"]["plan"] == "pro":
            hits.append("Pro signup")
    if e["event_type"] == "purchase":
        hits.append("Purchase")
    return hits


def visits_of(stream: list[dict]) -> list[tuple[str, list[dict]]]:
    """(visitor, events in time order) of every visit: a visitor's events with no gap over 30 minutes."""
    by_person = defaultdict(list)
    for e in stream:
        by_person[e["session_id"]].append(e)
    out = []
    for person, events in by_person.items():
        events.sort(key=lambda e: e["timestamp"])
        last = None
        for e in events:
            if last is None or e["timestamp"] - last > GAP:
                out.append((person, []))
            out[-1][1].append(e)
            last = e["timestamp"]
    return out


def independent_slices(stream: list[dict]) -> dict:
    """{(page_group or goal, name): {(source, event type) — either None for any: [events, page views, visits,
    bounces]}}: a group's events are those on its pages, a goal's its conversions; its visits those with such an
    event (of the type), from the source of their earliest event; a bounce, a visit of one event, a page view."""
    out = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for _, visit in visits_of(stream):
        source = REFERRERS[visit[0].get("referrer")]
        bounce = len(visit) == 1 and visit[0]["event_type"] == "page_view"
        types = defaultdict(set)  # (kind, name): event types counted there
        for e in visit:
            page = e["page_url"].split(SITE, 1)[1]
            counted = [("page_group", group_of(page))] * bool(group_of(page)) + \
                [("goal", goal) for goal in goals_of(e, page)]
            for definition in counted:
                types[definition].add(e["event_type"])
                for key in ((source, None), (None, e["event_type"]), (source, e["event_type"])):
                    out[definition][key][0] += 1
                    out[definition][key][1] += e["event_type"] == "page_view"
        for definition, seen in types.items():
            for key in [(source, None)] + [k for t in seen for k in ((None, t), (source, t))]:
                out[definition][key][2] += 1
                out[definition][key][3] += bounce
    return out


def independent(stream: list[dict]) -> dict:
    """Every number, from the definitions alone."""
    out = {"visitors": set(), "groups": defaultdict(lambda: {"page_views": 0, "sessions": 0, "visitors": set()}),
           "goals": defaultdict(lambda: {"conversions": 0, "visits": 0, "visitors": set(), "revenue": 0.0}),
           "funnel": defaultdict(lambda: {"visits": 0, "visitors": set()})}
    for person, visit in visits_of(stream):
        out["visitors"].add(person)
        groups, goals = set(), set()
        for e in visit:
            page = e["page_url"].split(SITE, 1)[1]
            group = group_of(page)
            if group:
                groups.add(group)
                out["groups"][group]["page_views"] += e["event_type"] == "page_view"
                out["groups"][group]["visitors"].add(person)
            for goal in goals_of(e, page):
                goals.add(goal)
                out["goals"][goal]["conversions"] += 1
                out["goals"][goal]["visitors"].add(person)
                if goal == "Purchase":
                    out["goals"][goal]["revenue"] += e["props"]["amount"]
        for group in groups:
            out["groups"][group]["sessions"] += 1
        for goal in goals:
            out["goals"][goal]["visits"] += 1
        reached, at = 0, float("-inf")  # the furthest step in order by time
        for step in DEFINITIONS[SITE]["funnels"][0]["steps"]:
            times = [e["timestamp"] for e in visit if step in goals_of(e, e["page_url"].split(SITE, 1)[1])
                     and e["timestamp"] >= at]
            if not times:
                break
            at, reached = min(times), reached + 1
        for n in range(1, reached + 1):
            out["funnel"][n]["visits"] += 1
            out["funnel"][n]["visitors"].add(person)
    return out


@pytest.mark.parametrize("seed", [7, 8])
def test_page_groups_goals_revenue_and_funnels_are_exact_with_late_and_repeated_events(defined, seed):
    # GIVEN 30 visitors' visits in a day, arriving up to four minutes late and out of order, ten events twice
    day = midnight()
    stream = seeded_stream(seed, day)
    rng = random.Random(seed)
    arrive_late(defined, stream, rng, now=day + 86400, every=5)
    truth = independent(stream)
    query = f"from={day}&to={day + 86400}&site={SITE}"
    # WHEN the day is asked
    data = stats(defined, query + "&interval=hour&limit=100", now=day + 86400)
    funnel = stats(defined, query + "&interval=hour&funnel=Checkout", now=day + 86400)["funnel"]
    # THEN each page group's page views, visits and visitors are the independent count's
    assert {row["page_group"]: (row["page_views"], row["sessions"], row["visitors"]) for row in data["page_groups"]} \
        == {name: (g["page_views"], g["sessions"], len(g["visitors"])) for name, g in truth["groups"].items()}
    # AND each goal's conversions, visits, unique conversions, conversion rate and revenue
    assert data["totals"]["visitors"] == len(truth["visitors"])
    for goal in data["goals"]:
        want = truth["goals"][goal["name"]]
        assert (goal["conversions"], goal["visits"], goal["visitors"]) == \
            (want["conversions"], want["visits"], len(want["visitors"])), goal["name"]
        assert goal["conversion_rate"] == round(len(want["visitors"]) / len(truth["visitors"]), 4)
    purchase = next(g for g in data["goals"] if g["name"] == "Purchase")
    assert purchase["revenue"] == [{"currency": "USD", "total": round(truth["goals"]["Purchase"]["revenue"], 3),
                                    "average": round(truth["goals"]["Purchase"]["revenue"]
                                                     / truth["goals"]["Purchase"]["conversions"], 3),
                                    "conversions": truth["goals"]["Purchase"]["conversions"]}]
    # AND the funnel's visits and visitors per step, in order by time
    assert [(s["goal"], s["visits"], s["visitors"]) for s in funnel["steps"]] == \
        [(goal, truth["funnel"][n]["visits"], len(truth["funnel"][n]["visitors"]))
         for n, goal in enumerate(DEFINITIONS[SITE]["funnels"][0]["steps"], 1)]
    # AND a goal as a filter narrows the answer to its converting visits, a page group to its pages
    signup = stats(defined, query + "&interval=day&goal=Signup", now=day + 86400)
    assert (signup["totals"]["events"], signup["totals"]["sessions"], signup["totals"]["visitors"]) == \
        (truth["goals"]["Signup"]["conversions"], truth["goals"]["Signup"]["visits"],
         len(truth["goals"]["Signup"]["visitors"]))
    assert sum(row["sessions"] for row in signup["sources"]) == truth["goals"]["Signup"]["visits"]
    products = stats(defined, query + "&interval=hour&page_group=Products", now=day + 86400)
    assert (products["totals"]["page_views"], products["totals"]["sessions"], products["totals"]["visitors"]) == \
        (truth["groups"]["Products"]["page_views"], truth["groups"]["Products"]["sessions"],
         len(truth["groups"]["Products"]["visitors"]))
    assert {row["page"] for row in products["pages"]} <= {"/products/red-shoe", "/products/blue-hat"}


def late_landing(day: int, n: int) -> tuple[list[dict], dict]:
    """A visit that lands from Google on / at 06:58 and goes on across 07:00 to a product, the pricing and a pro
    signup: (its later events, its landing), the landing to arrive after the rest were counted (as Direct)."""
    t = day + 7 * 3600 - 100
    later = [event("late", t + 60, n, page="/products/red-shoe"), event("late", t + 110, n + 1, page="/pricing"),
             event("late", t + 200, n + 2, "signup", "/signup", {"plan": "pro"})]
    return later, event("late", t, n + 3, page="/", referrer="https://www.google.com/search")


@pytest.mark.parametrize("seed", [7, 8])
def test_page_groups_and_goals_combine_with_each_source_and_event_type_exactly(defined, seed):
    # GIVEN 30 visitors' visits from Google, Hacker News or nowhere, arriving up to four minutes late, out of
    # order and ten of them twice
    day = midnight()
    stream = seeded_stream(seed, day)
    arrive_late(defined, stream, random.Random(seed), now=day + 86400, every=5)
    # AND a visit whose landing from Google arrives after its product view, pricing and signup were counted
    later, landing = late_landing(day, len(stream))
    collect(defined, later, now=day + 86400)
    defined.aggregate()
    collect(defined, [landing], now=day + 86400)
    truth = independent_slices(stream + later + [landing])
    sources = sorted(set(REFERRERS.values()))
    types = sorted({e["event_type"] for e in stream})
    filters = [(s, None) for s in sources] + [(None, t) for t in types] + [(s, t) for s in sources for t in types]
    definitions = [("page_group", g["name"]) for g in DEFINITIONS[SITE]["page_groups"]] + \
        [("goal", g["name"]) for g in DEFINITIONS[SITE]["goals"]]
    for kind, name in definitions:
        for source, event_type in filters:
            query = f"from={day}&to={day + 86400}&site={SITE}&{kind}={quote(name)}" + \
                (f"&source={quote(source)}" if source else "") + (f"&event_type={event_type}" if event_type else "")
            want = truth[(kind, name)][(source, event_type)]
            for interval in ("hour", "month"):  # hour items; a month of a slice is read from its day items
                # WHEN the day is asked with the page group or goal and the source, event type or both
                data = stats(defined, f"{query}&interval={interval}", now=day + 86400)
                # THEN its events, page views, visits and bounces are the independent count's
                got = data["totals"]
                assert [got["events"], got["page_views"], got["sessions"],
                        round(got["bounce_rate"] * got["sessions"])] == want, (query, interval)
                # AND the series adds up to them, visitors are not counted per slice
                assert sum(b["events"] for b in data["timeseries"]) == want[0]
                assert got["visitors"] is None
                if kind == "goal":  # AND the goal's numbers are the slice's
                    assert (data["goal"]["conversions"], data["goal"]["visits"], data["goal"]["visitors"]) == \
                        (want[0], want[2], None)
    # AND the late landing's visit counts its pro signup after 07:00 under Google, in that hour
    hours = stats(defined, f"from={day + 6 * 3600}&to={day + 8 * 3600}&site={SITE}&goal=Pro%20signup"
                           "&source=Google&interval=hour", now=day + 86400)
    assert hours["timeseries"][1]["events"] == sum(
        1 for _, visit in visits_of(stream + later + [landing]) if REFERRERS[visit[0].get("referrer")] == "Google"
        for e in visit if day + 7 * 3600 <= e["timestamp"] < day + 8 * 3600
        and "Pro signup" in goals_of(e, e["page_url"].split(SITE, 1)[1]))


def test_a_combined_definition_filter_says_what_it_can_combine_with(defined):
    from urllib.parse import parse_qs

    from liveinsight.errors import InvalidRequest
    from liveinsight.query.stats import StatsReader

    at = midnight() + 3600
    for query, message in {f"site={SITE}&page_group=Products&source=Google&interval=minute":
                           "interval=minute is not available when filters are combined",
                           f"site={SITE}&goal=Signup&country=US": "`goal` can be combined with `source` and "
                                                                  "`event_type` only",
                           f"site={SITE}&goal=Signup&event_type=signup&prop=plan:pro": "`goal` can be combined",
                           f"site={SITE}&goal=Signup&page_group=Products": "`page_group` can be combined"}.items():
        # WHEN a page group or goal comes with a filter it has no slice for
        with pytest.raises(InvalidRequest) as refused:
            StatsReader(defined.store).answer(parse_qs(f"from={at}&to={at + 3600}&{query}"), now=at + 3600)
        # THEN the 400 says what it combines with
        assert message in str(refused.value), query


def test_a_funnel_step_is_placed_by_its_time_not_its_arrival(defined):
    # GIVEN a visit that lands, sees pricing and signs up, whose signup arrives first and pricing last
    at = midnight() + 10 * 3600
    landing, pricing = event("v1", at, 1, page="/"), event("v1", at + 60, 2, page="/pricing")
    signup = event("v1", at + 120, 3, "signup", "/signup", {"plan": "pro"})
    for e in (signup, landing, pricing):
        collect(defined, [e], now=at + 600)
        defined.aggregate()
    # WHEN the funnel is asked
    data = stats(defined, f"from={at - 60}&to={at + 600}&site={SITE}&funnel=Checkout", now=at + 600)
    # THEN the visit reached the third step, once
    assert [s["visits"] for s in data["funnel"]["steps"]] == [1, 1, 1, 0]
    assert data["funnel"]["steps"][1]["conversion_from_previous"] == 1.0
    assert data["funnel"]["steps"][3]["drop_off"] == 1


def test_definition_filters_say_what_they_need(defined):
    from urllib.parse import parse_qs

    from liveinsight.errors import InvalidRequest
    from liveinsight.query.stats import StatsReader

    at = midnight() + 3600
    for query, message in {"goal=Signup": "`goal` needs `site`",
                           f"site={SITE}&goal=Nope": "`goal` 'Nope' is not one of shop.example.com's goals: Pricing",
                           f"site={SITE}&funnel=Nope": "is not one of shop.example.com's funnels: Checkout",
                           f"site={SITE}&page_group=Products&page=/": "`page_group` can be combined with `source` and"}.items():
        # WHEN a definition filter comes without its site, or naming nothing defined
        with pytest.raises(InvalidRequest) as refused:
            StatsReader(defined.store).answer(parse_qs(f"from={at}&to={at + 3600}&{query}"), now=at + 3600)
        # THEN the 400 says what to give
        assert message in str(refused.value), query


def test_a_goal_added_halfway_counts_from_its_since_and_deleting_another_keeps_its_counts(backend):
    from liveinsight.definitions import DefinitionsStore

    # GIVEN a signup goal saved at 10:00 (it counts from a minute later), and a purchase goal from before
    day = midnight()
    saved_at = day + 10 * 3600
    store = DefinitionsStore(backend.store, clock=lambda: day)
    store.put(SITE, "goals", "Purchase", {"event_type": "purchase"})
    DefinitionsStore(backend.store, clock=lambda: saved_at).put(SITE, "goals", "Signup", {"event_type": "signup"})
    # AND signups and purchases of one visit on either side of it (and one in the minute after saving)
    times = [saved_at - 600, saved_at - 60, saved_at + 30, saved_at + 61, saved_at + 300]
    collect(backend, [event("v1", t, n, "signup", "/signup", {"plan": "pro"}) for n, t in enumerate(times)]
            + [event("v1", t + 1, 10 + n, "purchase", "/checkout") for n, t in enumerate(times)], now=saved_at + 600)
    # WHEN the day is asked
    data = stats(backend, f"from={day}&to={day + 86400}&site={SITE}", now=saved_at + 600)
    goals = {g["name"]: g for g in data["goals"]}
    # THEN the signup goal counts the conversions from its `since` only, the purchase goal every one
    assert goals["Signup"]["since"] == saved_at + 60
    assert (goals["Signup"]["conversions"], goals["Signup"]["visits"], goals["Signup"]["visitors"]) == (2, 1, 1)
    assert goals["Purchase"]["conversions"] == 5
    # AND deleting the signup goal leaves the purchase goal's counts as they were
    DefinitionsStore(backend.store).delete(SITE, "goals", "Signup")
    collect(backend, [event("v1", saved_at + 400, 30, "purchase", "/checkout")], now=saved_at + 600)
    after = stats(backend, f"from={day}&to={day + 86400}&site={SITE}", now=saved_at + 600)
    assert [(g["name"], g["conversions"], g["visits"]) for g in after["goals"]] == [("Purchase", 6, 1)]


def test_a_revenue_that_is_not_an_amount_is_refused_naming_the_property_and_its_neighbours_kept(backend):
    from liveinsight.definitions import DefinitionsStore

    # GIVEN a purchase goal whose revenue is props.amount in EUR
    at = time.time() - 600
    DefinitionsStore(backend.store, clock=lambda: at - 3600).put(SITE, "goals", "Purchase", {
        "event_type": "purchase", "revenue": {"property": "amount", "currency": "EUR"}})
    good = event("v1", at, 1, "purchase", "/checkout", {"amount": "49.90"})
    for bad in ("lots", float("inf"), -5, 10**13, True):
        # WHEN a purchase arrives with that amount beside a good one
        status, payload, _ = backend.request("POST", "/api/events", {"events": [
            good, event("v1", at + 5, 2, "purchase", "/checkout", {"amount": bad})]} if bad != float("inf") else
            json.dumps({"events": [good]}).replace("]}", ', {"event_type": "purchase", "session_id": "v1", '
                                                   f'"timestamp": {at + 5}, "page_url": "https://{SITE}/c", '
                                                   '"props": {"amount": 1e999}}]}'))
        # THEN it is refused naming props.amount and what is accepted, and the good one is kept
        assert status == 200, payload
        assert payload["data"]["accepted"] == 1, bad
        message = payload["data"]["rejected"][0]["message"]
        assert "props" in message and ("amount" in message or "finite" in message), message
    # AND a request of only bad amounts is a 400
    status, payload, _ = backend.request("POST", "/api/events", {"events": [
        event("v2", at, 3, "purchase", "/checkout", {"amount": "free"})]})
    assert status == 400 and "`props.amount` is the revenue of goal 'Purchase'" in payload["message"]


def test_a_visit_across_midnight_converts_and_goes_through_the_funnel_once(defined):
    # GIVEN a visitor without an id of their own (the daily id changes at midnight) who lands at 23:55,
    # sees the pricing at 00:02 and signs up at 00:04
    day = midnight(2)
    visit = [event("v", day - 300, 1, page="/"), event("v", day + 120, 2, page="/pricing"),
             event("v", day + 240, 3, "signup", "/signup", {"plan": "pro"})]
    for e in visit:
        e.pop("session_id")
        collect(defined, [e], ip="198.51.100.77", now=e["timestamp"] + 60)
        defined.aggregate()
    # WHEN the two hours around midnight are asked
    data = stats(defined, f"from={day - 3600}&to={day + 3600}&interval=hour&site={SITE}&funnel=Checkout",
                 now=day + 3600)
    # THEN it is one visit through three steps, counted in the hour it started
    assert [s["visits"] for s in data["funnel"]["steps"]] == [1, 1, 1, 0]
    assert data["totals"]["sessions"] == 1
    goals = {g["name"]: (g["conversions"], g["visits"]) for g in stats(
        defined, f"from={day - 3600}&to={day + 3600}&interval=hour&site={SITE}", now=day + 3600)["goals"]}
    assert goals["Landing"] == (1, 1) and goals["Pricing seen"] == (1, 1) and goals["Signup"] == (1, 1)
    # AND the signup converted on the new day, by a visitor of that day
    after = stats(defined, f"from={day}&to={day + 3600}&interval=hour&site={SITE}&goal=Signup", now=day + 3600)
    assert (after["totals"]["events"], after["totals"]["visitors"]) == (1, 1)
