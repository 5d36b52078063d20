"""Two consumers of the events stream: realtime items at a 1 s window, sessions and rollups at 60 s.

Each consumer is exactly-once per item on its own ledger lane, whichever of them is killed in
the middle of a batch while the other keeps running.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import page_view
from memstore import MemoryStore
from test_aggregator import records, stats

SITE = "shop.example.com"
INTERNAL = f"https://{SITE}/"  # what the tracker sends as the referrer of a visit's next page
ROOT = Path(__file__).resolve().parent.parent


class Killed(BaseException):
    """The consumer's process dies: not an error its handler could catch and report."""


def visits(t: float) -> list[list[dict]]:
    """Three stream batches of five visits: entries from outside, then internal pages and a signup."""
    return [
        [page_view("a", "/", t, referrer="https://www.google.com/"), page_view("b", "/pricing", t + 1),
         page_view("c", "/docs", t + 2, referrer="https://news.ycombinator.com/")],
        [page_view("a", "/pricing", t + 20, referrer=INTERNAL),
         {"event_type": "signup", "session_id": "a", "timestamp": t + 25, "page_url": f"https://{SITE}/pricing"},
         page_view("d", "/", t + 30, referrer="https://www.bing.com/"), page_view("c", "/", t + 31, referrer=INTERNAL)],
        [page_view("e", "/blog", t + 40), page_view("b", "/docs", t + 45, referrer=INTERNAL),
         page_view("d", "/pricing", t + 50, referrer=INTERNAL)],
    ]


def realtime(store, now: float) -> dict:
    """The realtime answer, without what depends on which consumer saw a visit first (its source)."""
    from liveinsight.query.realtime import RealtimeReader

    data = RealtimeReader(store, store.settings).answer({}, now=now)
    data.pop("top_referrers")
    data["recent_events"] = [{k: v for k, v in e.items() if k != "source"} for e in data["recent_events"]]
    return data


def consume(store, batches: list[list[dict]], consumer: str | None, attempts: int = 100) -> None:
    """Deliver the batches in order, each until it goes through, as an event source mapping does."""
    from liveinsight.aggregator import Aggregator

    for batch in batches:
        for _ in range(attempts):
            try:
                Aggregator(store, store.settings).apply_stream_records(batch, lane="shard-0", consumer=consumer)
                break
            except (Exception, Killed):
                continue  # a new process takes the batch again, whole
        else:
            raise AssertionError(f"{consumer}: the batch never went through")


class Crashing(MemoryStore):
    """A store where one consumer dies at its n-th write (the consumer is the thread's name)."""

    def __init__(self, settings, victim: str, at: int):
        super().__init__(settings)
        self.victim, self.at, self.counts = victim, at, {}

    def _write(self) -> None:
        name = threading.current_thread().name.split("/")[0]
        self.counts[name] = self.counts.get(name, 0) + 1
        if name == self.victim and self.counts[name] == self.at:
            raise Killed(f"{name} killed at its write {self.at}")
        super()._write()


def run_both(store, batches: list[list[dict]]) -> None:
    """Both consumers at once, each in its own thread (writes from its pool carry its name)."""
    from liveinsight import config

    def run(consumer: str) -> None:
        consume(store, batches, consumer)

    threads = [threading.Thread(target=run, args=(c,), name=c) for c in config.STREAM_CONSUMERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture
def named_pool_threads(monkeypatch):
    """The aggregator's parallel puts run in pool threads; name them after the consumer that started them."""
    import liveinsight.aggregator as aggregator
    from concurrent.futures import ThreadPoolExecutor

    class Named(ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, thread_name_prefix=threading.current_thread().name + "/", **kwargs)

    monkeypatch.setattr(aggregator, "ThreadPoolExecutor", Named)


@pytest.mark.parametrize("order", ["concurrently", "rollups first", "realtime first"])
def test_two_consumers_count_what_one_consumer_counts(settings, named_pool_threads, order):
    from liveinsight import config

    t = time.time() - 600
    reference, store = MemoryStore(settings), Crashing(settings, "nobody", 0)
    batches = [records(reference, b, 100 * (i + 1)) for i, b in enumerate(visits(t))]
    consume(reference, batches, None)
    if order == "concurrently":
        run_both(store, batches)
    else:  # one consumer far behind the other (its function throttled, or restarted after a crash)
        first, second = (config.ROLLUP_CONSUMER, config.REALTIME_CONSUMER)[::1 if order == "rollups first" else -1]
        for consumer in (first, second):
            thread = threading.Thread(target=consume, args=(store, batches, consumer), name=consumer)
            thread.start()
            thread.join()
    assert stats(store)["totals"]["events"] == 10
    assert stats(store) == stats(reference)
    assert realtime(store, t + 60) == realtime(reference, t + 60)
    # THEN each consumer wrote only its own item kinds, on its own lane
    rt_items = [i for i in store.items(settings.stats_table) if i["pk"].startswith("rt#")]
    rollups = [i for i in store.items(settings.stats_table) if "ap" in i and not i["pk"].startswith("rt#")]
    assert rt_items and rollups
    assert all(set(i["ap"]) == {"rt:shard-0"} for i in rt_items)
    assert all(set(i["ap"]) == {"shard-0"} for i in rollups + store.items(settings.sessions_table))
    assert store.counts.keys() == set(config.STREAM_CONSUMERS)


@pytest.mark.parametrize("victim", ["realtime", "rollups"])
def test_either_consumer_killed_at_any_write_while_the_other_runs_counts_exactly(settings, named_pool_threads,
                                                                                 victim):
    t = time.time() - 600
    reference = MemoryStore(settings)
    batches = [records(reference, b, 100 * (i + 1)) for i, b in enumerate(visits(t))]
    consume(reference, batches, None)
    clean = Crashing(settings, "nobody", 0)
    run_both(clean, batches)
    writes = clean.counts[victim]
    assert writes >= 6
    for at in range(1, writes + 1):
        # GIVEN one consumer dies at its write `at` (any item, any batch) while the other consumes
        store = Crashing(settings, victim, at)
        run_both(store, batches)
        # THEN after redelivery every item applied every batch exactly once
        assert stats(store) == stats(reference), f"{victim} killed at write {at}"
        assert stats(store, page="/pricing") == stats(reference, page="/pricing")
        assert realtime(store, t + 60) == realtime(reference, t + 60), f"{victim} killed at write {at}"


def test_the_realtime_consumer_counts_a_visit_under_its_source_once_the_rollups_know_it(settings):
    from liveinsight import config

    t = time.time() - 120
    store = MemoryStore(settings)
    first = records(store, [page_view("a", "/", t, referrer="https://www.google.com/")], 1)
    second = records(store, [page_view("a", "/pricing", t + 10, referrer=INTERNAL)], 2)
    third = records(store, [page_view("a", "/docs", t + 20, referrer=INTERNAL)], 3)
    # GIVEN the realtime consumer has seen the entry and a next page, the rollup consumer neither yet
    consume(store, [first, second], config.REALTIME_CONSUMER)
    data = realtime_with_sources(store, t + 30)
    # THEN the visit is active on its page and under Google from its entry; the internal page adds no source
    assert data["active_sessions"] == 1
    assert {row["page"] for row in data["top_pages"]} == {"/", "/pricing"}
    assert data["top_referrers"] == [{"source": "Google", "sessions": 1, "page_views": 1}]
    # WHEN the rollup consumer saves the visit, the realtime consumer's next page counts under its source
    consume(store, [first, second], config.ROLLUP_CONSUMER)
    consume(store, [third], config.REALTIME_CONSUMER)
    assert realtime_with_sources(store, t + 30)["top_referrers"] == [{"source": "Google", "sessions": 1,
                                                                       "page_views": 2}]
    assert [e["source"] for e in realtime_with_sources(store, t + 30)["recent_events"]] == \
        ["Google", "Direct", "Google"]


def realtime_with_sources(store, now: float) -> dict:
    from liveinsight.query.realtime import RealtimeReader

    return RealtimeReader(store, store.settings).answer({}, now=now)


# -- the local stack: two pollers on moto, killed mid-batch -------------------------------------


class KillAt:
    """Wraps the store's writes: the `victim` consumer's process dies at its write `at`."""

    def __init__(self, store, victim: str, at: int):
        self.store, self.victim, self.at, self.seen = store, victim, at, 0
        self.real_put, self.real_batch = store.put_versioned, store.batch_put
        store.put_versioned, store.batch_put = self.put_versioned, self.batch_put

    def _check(self, realtime_item: bool) -> None:
        if (self.victim == "realtime") == realtime_item:
            self.seen += 1
            if self.seen == self.at:
                raise Killed(f"{self.victim} killed at write {self.at}")

    def put_versioned(self, table, item, version):
        self._check(str(item.get("pk", "")).startswith("rt#"))
        return self.real_put(table, item, version)

    def batch_put(self, puts):
        puts = list(puts)
        if any(table == self.store.settings.sessions_table for table, _ in puts):  # not the collector's events
            self._check(False)
        return self.real_batch(puts)


@pytest.mark.parametrize("victim,at", [("realtime", 1), ("realtime", 3), ("rollups", 1), ("rollups", 7),
                                       ("rollups", 40)])
def test_a_local_consumer_killed_mid_batch_restarts_and_counts_exactly(backend, victim, at):
    from liveinsight import config
    from liveinsight.local.server import StreamPoller

    t = time.time() - 120
    pollers = {c: StreamPoller(backend.store.settings, backend.handler, consumer=c) for c in config.STREAM_CONSUMERS}
    KillAt(backend.store, victim, at)
    batches = visits(t)
    for n, batch in enumerate(batches):
        assert backend.post({"events": batch})[0] == 200
        for consumer in config.STREAM_CONSUMERS:
            try:
                pollers[consumer].poll_once()
            except Killed:
                # GIVEN the consumer's process died mid-batch; WHEN it is started again on the same store
                pollers[consumer] = StreamPoller(backend.store.settings, backend.handler, consumer=consumer)
    for poller in pollers.values():
        poller.poll_once()
    # THEN every event counts once in the rollups and in the realtime view
    status, payload = backend.get("/api/stats?period=1h&limit=100")
    assert payload["data"]["totals"]["events"] == 10 and payload["data"]["totals"]["sessions"] == 5
    assert {row["page"]: row["page_views"] for row in payload["data"]["pages"]} == \
        {"/": 3, "/pricing": 3, "/docs": 2, "/blog": 1}
    status, payload = backend.get("/api/realtime")
    data = payload["data"]
    assert data["active_sessions"] == 5
    assert data["event_types"] == [{"event_type": "page_view", "count": 9}, {"event_type": "signup", "count": 1}]
    assert sum(row["page_views"] for row in data["top_pages"]) == 9
    assert len(data["recent_events"]) == 10


def test_stream_functions_take_their_consumer_from_their_configuration(backend):
    from liveinsight import config, handler
    from liveinsight.local.server import StreamPoller

    settings = backend.store.settings
    backend.post({"events": visits(time.time() - 120)[0]})
    # GIVEN the realtime function (LIVEINSIGHT_STREAM_CONSUMER=realtime) gets a plain stream batch
    handler.configure(replace(settings, stream_consumer=config.REALTIME_CONSUMER), backend.store)
    StreamPoller(settings, backend.handler).poll_once()
    # THEN it wrote realtime items only: the visits are live, no session or rollup exists yet
    assert backend.get("/api/realtime")[1]["data"]["active_sessions"] == 3
    assert backend.store.client.scan(TableName=settings.sessions_table)["Count"] == 0
    assert backend.get("/api/stats?period=1h")[1]["data"]["totals"]["events"] == 0
    # and the realtime chart has the events the rollups have not folded yet
    per_minute = backend.get("/api/realtime?window=5")[1]["data"]["per_minute"]
    assert (sum(row["events"] for row in per_minute), sum(row["page_views"] for row in per_minute)) == (3, 3)
    handler.configure(replace(settings, stream_consumer=config.ROLLUP_CONSUMER), backend.store)
    StreamPoller(settings, backend.handler, interval=0).poll_once()
    assert backend.get("/api/stats?period=1h")[1]["data"]["totals"]["events"] == 0  # same checkpoint: nothing new
    StreamPoller(settings, backend.handler, consumer=config.ROLLUP_CONSUMER).poll_once()
    assert backend.get("/api/stats?period=1h")[1]["data"]["totals"]["events"] == 3
    assert backend.get("/api/realtime")[1]["data"]["active_sessions"] == 3  # not counted twice
    per_minute = backend.get("/api/realtime?window=5")[1]["data"]["per_minute"]
    assert sum(row["events"] for row in per_minute) == 3 and sum(row["sessions"] for row in per_minute) == 3


def test_the_local_stack_runs_both_consumers_at_the_template_windows(monkeypatch):
    from liveinsight import config
    from liveinsight.config import Settings
    from liveinsight.local.server import StreamPoller

    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(ROOT / "infra" / "template.yaml"))
    params = template["Parameters"]
    assert config.DEFAULT_STREAM_WINDOW_SECONDS == params["RealtimeBatchingWindowSeconds"]["Default"] <= 1
    assert config.DEFAULT_ROLLUP_WINDOW_SECONDS == params["AggregatorBatchingWindowSeconds"]["Default"] == 60
    monkeypatch.delenv(config.ENV_ROLLUP_WINDOW, raising=False)
    monkeypatch.delenv(config.ENV_STREAM_WINDOW, raising=False)
    settings = Settings.from_env()
    windows = {c: StreamPoller(settings, lambda e, c: {}, consumer=c).interval for c in config.STREAM_CONSUMERS}
    assert windows == {"realtime": 1.0, "rollups": 60.0}
    env = {f["Properties"]["Environment"]["Variables"][config.ENV_STREAM_CONSUMER]: name
           for name, f in template["Resources"].items()
           if f["Type"] == "AWS::Serverless::Function"
           and config.ENV_STREAM_CONSUMER in f["Properties"].get("Environment", {}).get("Variables", {})}
    assert env == {"realtime": "RealtimeAggregatorFunction", "rollups": "StreamAggregatorFunction"}


def test_an_unknown_consumer_name_is_refused_naming_the_variable(monkeypatch):
    from liveinsight.config import Settings

    monkeypatch.setenv("LIVEINSIGHT_STREAM_CONSUMER", "fast")
    with pytest.raises(ValueError, match="LIVEINSIGHT_STREAM_CONSUMER must be one of realtime, rollups"):
        Settings.from_env()


def test_a_record_both_consumers_park_is_replayed_once_into_each_kind(backend, fold_bug):
    from liveinsight import aggregator, config
    from liveinsight.local.server import StreamPoller

    # GIVEN a bug that makes folding one visit's event raise, in both consumers
    t = time.time() - 60
    backend.post({"events": [page_view("s-1", "/", t), page_view("s-bug", "/pricing", t + 1),
                             page_view("s-2", "/", t + 2)]})
    for consumer in config.STREAM_CONSUMERS:
        StreamPoller(backend.store.settings, backend.handler, consumer=consumer).poll_once()
    store = aggregator.Aggregator(backend.store)
    # THEN each consumer parked it under its own name, and counted the neighbours
    assert sorted(item["sk"].split(":")[0] for item in store.parked_records()) == ["realtime", "rollups"]
    assert backend.get("/api/stats?period=1h")[1]["data"]["totals"]["sessions"] == 2
    assert backend.get("/api/realtime")[1]["data"]["active_sessions"] == 2
    # WHEN the bug is fixed and the parked records are replayed (twice)
    fold_bug()
    assert store.replay_parked() == (2, [])
    assert store.replay_parked() == (0, [])
    # THEN the record counts once in the rollups and once in the realtime items
    stats = backend.get("/api/stats?period=1h")[1]["data"]
    assert stats["totals"]["sessions"] == 3 and stats["totals"]["events"] == 3
    live = backend.get("/api/realtime")[1]["data"]
    assert live["active_sessions"] == 3
    assert sum(row["count"] for row in live["event_types"]) == 3
