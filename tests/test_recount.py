"""A definition added today counts the raw events still kept, once (liveinsight/recount.py).

Against the independent computation of tests/test_goals.py: page groups, goals and a funnel defined halfway
through a day of late, out-of-order and repeated events end the day with the numbers they would have had
had they existed from the start, when the recount job is interrupted and run again, when the aggregator
dies in the middle of the markers' batch, and when events older than `since` arrive after the recount.
"""
from __future__ import annotations

import random
from dataclasses import replace

import pytest

from urllib.parse import quote

from conftest import collect, midnight, stats_at as stats
from test_goals import DEFINITIONS, SITE, event, independent, seeded_stream

# Defined halfway through the day; the rest of DEFINITIONS exists from before it.
LATE = {"page_groups": {"Blog"}, "goals": {"Pro signup", "Purchase"}, "funnels": {"Checkout"}}
HALFWAY = 5 * 3600


def define(backend, at: float, late: bool) -> None:
    """Store the shop's definitions at `at`: those of LATE when `late`, the others when not."""
    from liveinsight import handler
    from liveinsight.definitions import DefinitionsStore

    store = DefinitionsStore(backend.store, clock=lambda: at)
    for kind in ("page_groups", "goals", "funnels"):
        for definition in DEFINITIONS[SITE][kind]:
            if (definition["name"] in LATE[kind]) == late:
                store.put(SITE, kind, definition["name"], {k: v for k, v in definition.items() if k != "name"})
    handler.services().aggregator.definitions.clear()  # a warm aggregator reads them within its minute


def arrive(backend, stream: list[dict], rng, day: int, on_halfway) -> None:
    """Each event up to 4 minutes late and ten of them again up to 10 minutes late, folded every 5 arrivals;
    `on_halfway` runs when the first arrival after HALFWAY comes."""
    arrivals = sorted([(e["timestamp"] + rng.uniform(0, 240), e) for e in stream]
                      + [(e["timestamp"] + rng.uniform(0, 600), e) for e in rng.sample(stream, 10)],
                      key=lambda pair: pair[0])
    for i, (at, event) in enumerate(arrivals):
        if on_halfway is not None and at >= day + HALFWAY:
            on_halfway()
            on_halfway = None
        event = dict(event)
        collect(backend, [event], ip=event.pop("ip", "198.51.100.1"), now=at)
        if i % 5 == 0:
            backend.aggregate()


def assert_exact(backend, stream: list[dict], day: int) -> None:
    """Every page group, goal and the funnel as the independent computation counts them over the whole day."""
    truth = independent(stream)
    query = f"from={day}&to={day + 86400}&site={SITE}"
    data = stats(backend, query + "&interval=hour&limit=100", now=day + 86400)
    assert {row["page_group"]: (row["page_views"], row["sessions"], row["visitors"]) for row in data["page_groups"]} \
        == {name: (g["page_views"], g["sessions"], len(g["visitors"])) for name, g in truth["groups"].items()}
    for goal in data["goals"]:
        want = truth["goals"][goal["name"]]
        assert (goal["conversions"], goal["visits"], goal["visitors"]) == \
            (want["conversions"], want["visits"], len(want["visitors"])), goal["name"]
    purchase = next(g for g in data["goals"] if g["name"] == "Purchase")
    assert purchase["revenue"][0]["total"] == round(truth["goals"]["Purchase"]["revenue"], 3)
    funnel = stats(backend, query + "&interval=hour&funnel=Checkout", now=day + 86400)["funnel"]
    assert [(s["visits"], s["visitors"]) for s in funnel["steps"]] == \
        [(truth["funnel"][n]["visits"], len(truth["funnel"][n]["visitors"])) for n in range(1, 5)]
    blog = stats(backend, query + "&interval=hour&page_group=Blog", now=day + 86400)["totals"]
    assert (blog["page_views"], blog["sessions"], blog["visitors"]) == \
        (truth["groups"]["Blog"]["page_views"], truth["groups"]["Blog"]["sessions"],
         len(truth["groups"]["Blog"]["visitors"]))
    pro = stats(backend, query + "&interval=day&goal=Pro%20signup", now=day + 86400)["totals"]
    assert (pro["events"], pro["sessions"]) == (truth["goals"]["Pro signup"]["conversions"],
                                                truth["goals"]["Pro signup"]["visits"])


@pytest.mark.parametrize("seed", [7, 8])
def test_definitions_added_halfway_count_the_whole_day_once_though_the_recount_is_interrupted(backend, seed):
    from liveinsight.recount import Recounter

    # GIVEN a shop's other definitions from before the day, and 30 visitors' visits arriving late, out of
    # order and partly twice, with a page group, two goals and a funnel defined at 05:00
    day = midnight()
    stream = seeded_stream(seed, day)
    define(backend, day - 3600, late=False)
    arrive(backend, stream, random.Random(seed), day, lambda: define(backend, day + HALFWAY, late=True))
    backend.aggregate()
    before = stats(backend, f"from={day}&to={day + 86400}&site={SITE}", now=day + 86400)
    assert {g["name"]: g["counted_from"] for g in before["goals"]}["Purchase"] is None  # AND not yet recounted
    # WHEN the recount job dies after marking six sessions
    store, real = backend.store, backend.store.put_if_absent
    calls = []

    def dying(*args, **kwargs):
        calls.append(args)
        if len(calls) > 6:
            raise ConnectionError("the job's container was stopped")
        return real(*args, **kwargs)

    store.put_if_absent = dying
    with pytest.raises(ConnectionError):
        Recounter(store, clock=lambda: day + 86400).run()
    store.put_if_absent = real
    backend.aggregate()  # the markers written so far are counted
    # AND runs again to the end, and once more
    assert Recounter(store, clock=lambda: day + 86400).run()["recounted"]
    assert Recounter(store, clock=lambda: day + 86400).run()["recounted"] == []
    # THEN every definition has the numbers it would have had from the start
    assert_exact(backend, stream, day)
    # AND says it counts from the day's first event
    after = stats(backend, f"from={day}&to={day + 86400}&site={SITE}", now=day + 86400)
    first = int(min(e["timestamp"] for e in stream))
    assert {g["name"]: g["counted_from"] for g in after["goals"]} == {
        "Pricing seen": day - 3540, "Landing": day - 3540, "Signup": day - 3540, "Pro signup": first, "Purchase": first}
    # (the goals from before the day had no event older than their `since`: they count from it)
    from liveinsight.definitions import DefinitionsStore

    listed = DefinitionsStore(store).read(SITE).as_dict()
    assert {(kind, x["name"]): x["counted_from"] for kind in LATE for x in listed[kind]} == {
        (kind, x["name"]): first if x["name"] in LATE[kind] else day - 3540
        for kind in LATE for x in DEFINITIONS[SITE][kind]}


def test_an_event_older_than_since_that_arrives_after_the_recount_counts_once(backend):
    from liveinsight.recount import Recounter

    # GIVEN a blog page group defined at 05:00 and recounted, over a visit that read the blog at 04:50
    day = midnight()
    visit = [{"event_type": "page_view", "session_id": "v1", "timestamp": day + HALFWAY - 600 + 60 * n,
              "event_id": f"e-{n}", "page_url": f"https://{SITE}{page}"} for n, page in enumerate(["/", "/blog/a"])]
    collect(backend, visit, now=day + 86400)
    backend.aggregate()
    define(backend, day - 3600, late=False)
    define(backend, day + HALFWAY, late=True)
    Recounter(backend.store, clock=lambda: day + HALFWAY + 600).run()
    backend.aggregate()
    # WHEN a page view of that visit from 04:55 arrives now, and again (a retry)
    late = {"event_type": "page_view", "session_id": "v1", "timestamp": day + HALFWAY - 300, "event_id": "e-late",
            "page_url": f"https://{SITE}/blog/b"}
    for _ in range(2):
        collect(backend, [late], now=day + 86400)
        backend.aggregate()
    # THEN the blog counts the visit once, with both its blog pages
    data = stats(backend, f"from={day}&to={day + 86400}&site={SITE}&page_group=Blog", now=day + 86400)["totals"]
    assert (data["page_views"], data["sessions"], data["visitors"]) == (2, 1, 1)


def test_a_definition_changed_before_its_markers_are_counted_is_recounted_once_as_it_is_now(backend):
    from liveinsight.definitions import DefinitionsStore
    from liveinsight.recount import Recounter

    # GIVEN a page group defined at 05:00 over visits that read the blog and the docs before it
    day = midnight()
    events = [{"event_type": "page_view", "session_id": f"v{n}", "timestamp": day + 3600 * (1 + n), "event_id": f"e-{n}",
               "page_url": f"https://{SITE}{page}"} for n, page in enumerate(["/blog/a", "/docs/b", "/blog/c"])]
    collect(backend, events, now=day + 86400)
    backend.aggregate()
    DefinitionsStore(backend.store, clock=lambda: day + HALFWAY).put(SITE, "page_groups", "Reading", {"pattern": "/blog/**"})
    # AND the recount job marked its sessions
    Recounter(backend.store, clock=lambda: day + HALFWAY + 600).run()
    # WHEN the group is changed to the docs before the markers reach the aggregator, and recounted again
    DefinitionsStore(backend.store, clock=lambda: day + HALFWAY + 900).put(SITE, "page_groups", "Reading",
                                                                          {"pattern": "/docs/**"})
    done = Recounter(backend.store, clock=lambda: day + HALFWAY + 1800).run()
    assert [(r["name"], r["visitors"]) for r in done["recounted"]] == [("Reading", 1)]  # the docs reader's
    from liveinsight import handler

    handler.services().aggregator.definitions.clear()  # a warm aggregator has read the change within its minute
    # THEN the group counts the docs page view only, once
    data = stats(backend, f"from={day}&to={day + 86400}&site={SITE}&page_group=Reading", now=day + 86400)["totals"]
    assert (data["page_views"], data["sessions"], data["visitors"]) == (1, 1, 1)


@pytest.mark.parametrize("crash_at", [1, 5, 12])
def test_the_recount_counts_once_when_the_aggregator_dies_in_the_middle_of_the_markers_batch(backend, monkeypatch,
                                                                                             crash_at):
    from liveinsight.recount import Recounter
    from liveinsight.store import Store, StoreUnavailable

    # GIVEN the day's visits with the page group, goals and funnel defined at 05:00, and the recount job done
    day = midnight()
    stream = seeded_stream(7, day)
    define(backend, day - 3600, late=False)
    arrive(backend, stream, random.Random(7), day, lambda: define(backend, day + HALFWAY, late=True))
    backend.aggregate()
    assert Recounter(backend.store, clock=lambda: day + 86400).run()["recounted"]
    # WHEN the aggregator dies at its `crash_at`th item write of the markers' batch (the batch is delivered again)
    real, writes = Store.put_versioned, []

    def dying(self, *args, **kwargs):
        writes.append(args[1].get("pk"))
        if len(writes) == crash_at:
            raise StoreUnavailable("the container was stopped")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "put_versioned", dying)
    backend.aggregate()
    assert len(writes) > crash_at
    # THEN every definition has the numbers it would have had from the start, once
    assert_exact(backend, stream, day)


def twin(body: dict) -> dict:
    """A definition's body with its goal steps renamed to their twins."""
    return {**body, "steps": [f"{step} again" for step in body["steps"]]} if "steps" in body else body


def test_a_twin_defined_halfway_ends_with_the_numbers_of_one_defined_from_the_start_across_midnight(backend):
    from liveinsight import handler
    from liveinsight.definitions import DefinitionsStore
    from liveinsight.recount import Recounter

    # GIVEN the shop's definitions from before the day, and the day's visits arriving late and out of order,
    # with visits that cross the midnights before and after it: with a visitor's own id, and without (the
    # tracker's default: the visitor's id changes at midnight, and its next day's id continues the visit),
    # one of them back at 03:00 for another visit
    day = midnight()
    stream = seeded_stream(9, day)
    crossing = [(day - 240, "owl", None), (day + 86400 - 200, "lark", None), (day - 300, "", "203.0.113.50"),
                (day + 86400 - 100, "", "203.0.113.51")]
    for n, (start, person, ip) in enumerate(crossing):
        visit = [event(person, start, 900 + 4 * n, page="/", referrer="https://news.ycombinator.com/item"),
                 event(person, start + 360, 901 + 4 * n, page="/blog/late-night"),
                 event(person, start + 500, 902 + 4 * n, "purchase", "/checkout", {"amount": 49.5})]
        if ip == "203.0.113.50":
            visit.append(event(person, day + 3 * 3600, 903 + 4 * n, page="/blog/early"))
        for e in visit if ip else ():
            e.pop("session_id")
            e["ip"] = ip
        stream += visit
    define(backend, day - 3600, late=False)
    define(backend, day - 3600, late=True)

    def twins() -> None:  # AND at 05:00, a twin of each page group, goal and funnel: the same body, another name
        store = DefinitionsStore(backend.store, clock=lambda: day + HALFWAY)
        for kind in ("page_groups", "goals", "funnels"):
            for definition in DEFINITIONS[SITE][kind]:
                store.put(SITE, kind, f"{definition['name']} again", twin({k: v for k, v in definition.items()
                                                                           if k != "name"}))
        handler.services().aggregator.definitions.clear()

    arrive(backend, stream, random.Random(9), day, twins)
    # WHEN the recount job runs
    Recounter(backend.store, clock=lambda: day + 2 * 86400).run()
    # THEN each twin has its original's numbers, in every bucket of the three days
    query = f"from={day - 86400}&to={day + 2 * 86400}&site={SITE}&limit=100"
    data = stats(backend, query + "&interval=hour", now=day + 2 * 86400)
    groups = {row["page_group"]: row for row in data["page_groups"]}
    goals = {goal["name"]: goal for goal in data["goals"]}
    for kind, found in (("page_groups", groups), ("goals", goals)):
        for definition in DEFINITIONS[SITE][kind]:
            name = definition["name"]
            original, again = dict(found[name]), dict(found[f"{name} again"])
            for row in (original, again):
                for field in ("page_group", "name", "since", "counted_from"):
                    row.pop(field, None)
            assert again == original, name
            parameter = "page_group" if kind == "page_groups" else "goal"
            for interval in ("hour", "day"):
                one, two = (stats(backend, f"{query}&interval={interval}&{parameter}={quote(n)}", now=day + 2 * 86400)
                            for n in (name, f"{name} again"))
                for answer in (one, two):
                    answer.pop("goal", None)
                    answer.pop("range", None)
                assert two == one, (name, interval)
    one, two = (stats(backend, f"{query}&interval=hour&funnel={quote(n)}", now=day + 2 * 86400)["funnel"]["steps"]
                for n in ("Checkout", "Checkout again"))
    assert [(s["visits"], s["visitors"]) for s in two] == [(s["visits"], s["visitors"]) for s in one]
    assert one[0]["visits"] > 0 and groups["Blog"]["sessions"] > 0


def test_the_job_scans_every_raw_event_once_in_parallel_segments_and_a_failing_one_fails_it(backend, monkeypatch):
    from liveinsight.store import Store, StoreUnavailable

    # GIVEN 60 raw events of 20 visitors
    day = midnight(1)
    collect(backend, [event(f"v{n % 20}", day + 60 * n, n) for n in range(60)], now=day + 3600)
    # WHEN the events table is scanned in 3 segments at once
    seen = [(item["session_id"], item["timestamp"]) for item in backend.store.scan_events(segments=3)]
    # THEN each raw event comes once
    assert sorted(seen) == sorted((e["session_id"], e["timestamp"]) for e in backend.raw_events())
    assert len(seen) == len(set(seen)) == 60
    # AND a segment DynamoDB cannot answer fails the scan (the job runs again), never ends it early
    real = Store._call

    def refusing(self, operation, **kwargs):
        if operation == "scan" and kwargs.get("Segment") == 1:
            raise StoreUnavailable("DynamoDB refused scan after 8 attempts")
        return real(self, operation, **kwargs)

    monkeypatch.setattr(Store, "_call", refusing)
    with pytest.raises(StoreUnavailable):
        list(backend.store.scan_events(segments=3))


def test_the_recount_command_says_what_it_recounted_and_when_there_is_nothing_to(backend, monkeypatch, capsys):
    import time

    from liveinsight import cli, config
    from liveinsight.definitions import DefinitionsStore

    settings = backend.store.settings
    for name, table in ((config.ENV_EVENTS_TABLE, settings.events_table),
                        (config.ENV_SESSIONS_TABLE, settings.sessions_table),
                        (config.ENV_STATS_TABLE, settings.stats_table)):
        monkeypatch.setenv(name, table)
    monkeypatch.setattr(cli, "local_store_endpoint", lambda: None)
    # GIVEN a blog page view 20 minutes ago, a blog page group saved 10 minutes ago and a docs one just now
    now = time.time()
    collect(backend, [event("v1", now - 1200, 1, page="/blog/a")], now=now)
    backend.aggregate()
    DefinitionsStore(backend.store, clock=lambda: now - 600).put(SITE, "page_groups", "Blog", {"pattern": "/blog/**"})
    DefinitionsStore(backend.store).put(SITE, "page_groups", "Docs", {"pattern": "/docs/**"})
    # WHEN `python -m liveinsight recount` runs, and again
    capsys.readouterr()
    assert cli.main(["recount"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["recount"]) == 0
    again = capsys.readouterr().out
    # THEN it says the blog now counts from the page view's minute, once; the docs group waits its minutes
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now - 1200))
    assert first.strip() == f"{SITE}: page group 'Blog' now counts from {at} (1 visitor(s) recounted from their raw events)"
    assert again.startswith("nothing to recount now") and "saved in the last 2 minutes" in again
