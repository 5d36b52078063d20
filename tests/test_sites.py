"""Many sites cost nothing extra: all-sites answers read the all-sites level, the registry is one item
per site, new sites are admitted at a daily rate, and a scheduled run sends a bounded number of messages."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from conftest import CHROME, page_view

NOW = time.time()


@pytest.fixture(autouse=True)
def fresh_now():
    """Each test's own now: realtime counts visits of the last 5 minutes, and a session runs longer."""
    global NOW
    NOW = time.time()


def visit(site: str, session: str, path: str = "/", ts: float | None = None) -> dict:
    return dict(page_view(session, path, NOW if ts is None else ts), page_url=f"https://{site}{path}")


@pytest.fixture
def limited(backend):
    """The backend with a daily limit of 3 new sites."""
    from liveinsight import handler

    settings = replace(backend.store.settings, new_sites_per_day=3)
    handler.configure(settings, backend.store)
    return backend


def test_new_sites_beyond_the_daily_limit_are_filtered_and_known_sites_keep_counting(limited):
    # GIVEN a deployment without an allow-list that admits 3 new sites a day
    # WHEN 5 made-up hosts send a visit each, then the first of them sends another
    data = limited.post({"events": [visit(f"site{i}.example", f"s{i}") for i in range(5)]})[1]["data"]
    again = limited.post(visit("site0.example", "s0b"))[1]["data"]
    # THEN the first 3 are kept, the other 2 answered `filtered` and never stored
    assert (data["accepted"], data["filtered"]) == (3, 2)
    assert (again["accepted"], again["filtered"]) == (1, 0)
    assert sorted(limited.stats()["sites"]) == ["site0.example", "site1.example", "site2.example"]
    assert {e["site"] for e in limited.raw_events()} == {"site0.example", "site1.example", "site2.example"}


def test_the_daily_limit_starts_again_the_next_utc_day(store):
    from liveinsight.ingest.collector import Collector, RequestContext

    collector = Collector(store, replace(store.settings, new_sites_per_day=1))
    context = RequestContext("203.0.113.9", CHROME)
    day = 86400 * int(NOW // 86400)
    late = day + 86399.0  # 23:59:59 UTC

    def post(site: str, at: float) -> int:
        return collector.ingest(f'{{"event_type": "page_view", "page_url": "https://{site}/", "timestamp": {at}}}',
                                context, now=at).accepted

    assert post("first.example", late) == 1
    assert post("second.example", late) == 0           # the day's one new site is taken
    assert post("second.example", late + 2) == 1       # 00:00:01: a new day, a new allowance
    assert post("first.example", late + 2) == 1        # a known site is never counted again


def test_an_allow_list_admits_only_its_sites_whatever_the_limit(backend):
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, sites=("shop.example.com",), new_sites_per_day=0),
                      backend.store)
    data = backend.post({"events": [visit("shop.example.com", "a"), visit("other.example", "b")]})[1]["data"]
    assert (data["accepted"], data["filtered"]) == (1, 1)


def test_a_bot_never_registers_a_site(limited):
    from conftest import GOOGLEBOT

    data = limited.post(dict(visit("crawled.example", "bot"), user_agent=GOOGLEBOT))[1]["data"]
    assert data["filtered"] == 1
    assert limited.post(visit("crawled.example", "human"))[1]["data"]["accepted"] == 1  # its place was not taken


def test_doctors_test_site_is_stored_for_its_own_rollups_but_never_registered(limited):
    from liveinsight.config import DOCTOR_SITE
    from liveinsight.doctor import DOCTOR_USER_AGENT

    # GIVEN no new site may be registered today
    limited.post({"events": [visit(f"site{i}.example", f"s{i}") for i in range(3)]})
    # WHEN doctor's bot-flagged test event arrives for its reserved host
    data = limited.post(dict(visit(DOCTOR_SITE, "doctor-1", "/liveinsight-doctor"), user_agent=DOCTOR_USER_AGENT))
    # THEN it is answered filtered but stored, counts as a bot on that host only, and is no site
    assert data[1]["data"]["filtered"] == 1 and DOCTOR_SITE in {e["site"] for e in limited.raw_events()}
    limited.aggregate()
    assert limited.stats(f"period=1h&site={DOCTOR_SITE}")["bots_filtered"] == 1
    assert DOCTOR_SITE not in limited.stats("period=1h")["sites"]
    assert limited.post(visit("site3.example", "late"))[1]["data"]["accepted"] == 0  # no place was taken or freed


def test_all_sites_answers_read_the_same_number_of_items_with_one_site_or_forty(backend, monkeypatch):
    # GIVEN 40 sites with a visit each, and one site with several
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, new_sites_per_day=1000), backend.store)
    backend.post({"events": [visit(f"site{i}.example", f"s{i}", "/p", NOW - i) for i in range(40)]})
    backend.post({"events": [visit("big.example", f"b{i}", f"/x{i % 3}", NOW - 5) for i in range(12)]})
    backend.aggregate()
    queries = []
    real_query = backend.store.query
    monkeypatch.setattr(backend.store, "query", lambda table, pk, *a: queries.append(pk) or real_query(table, pk, *a))
    # WHEN all sites are asked for, and one site
    everything = backend.stats("period=24h")
    everything_now = backend.realtime()
    all_sites_queries, queries[:] = len(queries), []
    one = backend.stats("period=24h&site=big.example")
    backend.realtime("site=big.example")
    # THEN all sites together cost what one site costs (plus one Query for the list of sites)
    assert all_sites_queries <= len(queries) + 1, queries
    # AND the all-sites numbers are exact: the sum of every site's
    assert everything["totals"]["sessions"] == 52 and everything["totals"]["page_views"] == 52
    assert one["totals"]["sessions"] == 12
    assert everything_now["active_sessions"] == 52
    assert {row["page"]: row["page_views"] for row in everything["pages"]} == {"/p": 40, "/x0": 4, "/x1": 4, "/x2": 4}
    assert len(everything["sites"]) == 41 and "big.example" in everything["sites"]


def test_a_page_across_all_sites_adds_up_the_page_in_the_most_visited_sites(backend):
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, new_sites_per_day=100), backend.store)
    backend.post({"events": [visit("a.example", "a1", "/pricing"), visit("a.example", "a2", "/pricing"),
                             visit("b.example", "b1", "/pricing"), visit("b.example", "b2", "/")]})
    assert backend.stats("period=1h&page=/pricing")["totals"]["page_views"] == 3
    assert backend.stats("period=1h&page=/pricing&site=b.example")["totals"]["page_views"] == 1
    assert backend.realtime("page=/pricing")["active_sessions"] == 3


def test_the_site_list_is_bounded_and_no_item_grows_with_the_number_of_sites(backend):
    # GIVEN 150 sites (more than the list holds)
    from liveinsight import handler
    from liveinsight.items import rollups as r

    handler.configure(replace(backend.store.settings, new_sites_per_day=1000), backend.store)
    for start in range(0, 150, 50):
        backend.post({"events": [visit(f"site{i:03d}.example", f"s{i}", "/", NOW - i) for i in range(start, start + 50)]})
    backend.post({"events": [visit("busy.example", f"busy{i}") for i in range(5)]})
    stats = backend.stats("period=24h")
    # THEN the answer lists at most 100 sites, the busiest among them, and its totals stay exact
    assert len(stats["sites"]) == r.K_ALL and "busy.example" in stats["sites"]
    assert stats["totals"]["sessions"] == 155
    # AND the registry is one small item per site, nothing holding them all
    items = backend.store.client.scan(TableName=backend.store.settings.stats_table)["Items"]
    assert sum(1 for i in items if i["pk"]["S"] == "sites") == 151
    assert max(len(str(i)) for i in items) < 64 * 1024


def many_sites(backend, count: int) -> None:
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, new_sites_per_day=1000), backend.store)
    # site00 has the most visits, then site01, ...: the most visited come first
    backend.post({"events": [visit(f"site{i:02d}.example", f"s{i}-{n}") for i in range(count)
                             for n in range(count - i)]})
    backend.aggregate()


def test_a_report_run_builds_at_most_its_cap_of_reports_the_most_visited_sites_first(backend, monkeypatch):
    from liveinsight.query.stats import StatsReader
    from liveinsight.reports.report import build_reports

    many_sites(backend, 25)
    reader = StatsReader(backend.store)
    tomorrow = NOW + 86400  # the daily report of the day NOW is in
    assert [r.site for r in build_reports(reader, "1d", now=tomorrow, limit=3)] == [
        "site00.example", "site01.example", "site02.example"]
    assert len(build_reports(reader, "1d", now=tomorrow)) == 20  # LIVEINSIGHT_MAX_REPORTS_PER_RUN's default
    monkeypatch.setenv("LIVEINSIGHT_MAX_REPORTS_PER_RUN", "7")
    assert len(build_reports(reader, "1d", now=tomorrow)) == 7


def test_an_alert_run_sends_at_most_its_cap_and_leaves_the_rest_for_the_next_run(backend, monkeypatch):
    from liveinsight.items import alerts as a
    from liveinsight.query.stats import StatsReader
    from liveinsight.reports import alerts

    many_sites(backend, 5)
    real_decide = alerts.decide
    monkeypatch.setattr(alerts, "decide", lambda previous, c, now, t: (real_decide(previous, c, now, t)[0], True))

    class Recorder:
        def __init__(self):
            self.messages = []

        def send(self, message):
            self.messages.append(message)
            return ["slack"]

    notifier = Recorder()
    outcomes = alerts.check_sites(StatsReader(backend.store), notifier, now=NOW + 60, max_alerts=2)
    assert len(outcomes) == 5 and sum(o.sent for o in outcomes) == 2 and len(notifier.messages) == 2
    unsent = [o.check.site for o in outcomes if not o.sent]
    table = backend.store.settings.stats_table
    assert all(backend.store.get_item(table, a.key(site)) is None for site in unsent)  # decided again next run


def test_a_single_site_deployment_writes_no_all_sites_level_and_answers_as_its_site(backend):
    # GIVEN a deployment whose allow-list is one site
    from liveinsight import handler
    from liveinsight.items import realtime as rt, rollups as r

    handler.configure(replace(backend.store.settings, sites=("shop.example.com",)), backend.store)
    backend.post({"events": [visit("shop.example.com", f"s{i}", f"/p{i % 2}") for i in range(6)]})
    # WHEN asked about all sites
    everything, one = backend.stats("period=24h"), backend.stats("period=24h&site=shop.example.com")
    # THEN the answer is the site's, from the site's own items: nothing was written twice
    assert {**everything, "range": None} == {**one, "range": None} and everything["totals"]["sessions"] == 6 and everything["sites"] == ["shop.example.com"]
    assert backend.realtime()["active_sessions"] == 6
    keys = [i["pk"]["S"] for i in backend.store.client.scan(TableName=backend.store.settings.stats_table)["Items"]]
    assert not [k for k in keys if k.startswith(r.pk(r.ALL_SITES, r.ALL)[:2]) or k.startswith(rt.pk(r.ALL_SITES, 0)[:5])]
