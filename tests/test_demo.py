"""The demo traffic simulator: its visits match the configured mix, deterministically."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from liveinsight.local.demo import Scenario, Simulator, TrafficModel, day_night, history
from liveinsight.ingest.enrich import classify_source, client_info, page_info


@pytest.fixture(scope="module")
def visits():
    model = TrafficModel(seed=11)
    now = time.time()
    return [model.visit(now - i) for i in range(4000)]


def test_the_mix_matches_the_model_within_tolerance(visits):
    humans = [v for v in visits if not client_info(v[0]["user_agent"]).is_bot]
    bots = len(visits) - len(humans)
    assert bots / len(visits) == pytest.approx(0.03, abs=0.01)
    bounces = sum(1 for v in humans if len(v) == 1 and v[0]["event_type"] == "page_view")
    assert bounces / len(humans) == pytest.approx(0.42, abs=0.03)
    devices = Counter(client_info(v[0]["user_agent"]).device for v in humans)
    assert (devices["Mobile"] + devices["Tablet"]) / len(humans) == pytest.approx(0.38, abs=0.03)
    sources = Counter(classify_source(page_info(v[0]["page_url"]), v[0].get("referrer"))[0] for v in humans)
    share = {name: n / len(humans) for name, n in sources.items()}
    assert share["Direct"] == pytest.approx(0.36, abs=0.03)
    assert share["Google"] == pytest.approx(0.26, abs=0.03)
    assert share["Newsletter"] == pytest.approx(0.10, abs=0.02)
    assert share["Hacker News"] == pytest.approx(0.04, abs=0.015)
    custom = Counter(e["event_type"] for v in humans for e in v if e["event_type"] != "page_view")
    assert custom["signup"] / len(humans) == pytest.approx(0.06 * 0.58 * 2.2, abs=0.02)
    assert {"signup", "add_to_cart", "purchase", "download", "outbound_click"} <= set(custom)
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
