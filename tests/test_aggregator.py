"""The aggregator's commit modes: batch (one local aggregator) and transact (concurrent shards in AWS)."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from conftest import page_view

NOW = time.time()


@pytest.fixture(autouse=True)
def fresh_clock():
    """Times relative to when each test runs, not to when the module was collected."""
    global NOW
    NOW = time.time()


def items_for(store, events):
    from liveinsight.collector import Collector, RequestContext, unpack
    from liveinsight.events import validate_event

    collector = Collector(store)
    return [unpack(collector.to_item(validate_event(e, NOW), RequestContext(), 86400)) for e in events]


@pytest.fixture
def transact_store(store):
    from liveinsight.config import ROLLUP_COMMIT_TRANSACT
    from liveinsight.store import Store

    return Store(replace(store.settings, rollup_commit=ROLLUP_COMMIT_TRANSACT), store.client)


def totals(store, query="period=1h"):
    from urllib.parse import parse_qs

    from liveinsight.reader import Reader

    return Reader(store).stats(parse_qs(query))["totals"]


def test_transact_commits_give_the_same_numbers(transact_store):
    from liveinsight.aggregator import Aggregator

    events = [page_view("a", "/", NOW - 100), page_view("a", "/pricing", NOW - 40), page_view("b", "/", NOW - 30)]
    result = Aggregator(transact_store).apply(items_for(transact_store, events), now=NOW)
    assert result.counted == 3 and result.write_requests == 1  # one TransactWriteItems for everything
    assert totals(transact_store) == {"events": 3, "page_views": 3, "sessions": 2, "bounce_rate": 0.5,
                                      "avg_session_duration": 30.0, "views_per_session": 1.5}


def test_a_lost_race_is_retried_and_nothing_is_lost(transact_store, monkeypatch):
    from liveinsight.aggregator import Aggregator

    first, second = Aggregator(transact_store), Aggregator(transact_store)
    ours = items_for(transact_store, [page_view("a", "/", NOW - 50)])
    theirs = items_for(transact_store, [page_view("b", "/", NOW - 45), page_view("c", "/x", NOW - 44)])
    real_put = transact_store.transact_put
    calls = []

    def racing_put(items):
        calls.append(len(items))
        if len(calls) == 1:  # another shard's aggregator commits between our read and our write
            second.apply(theirs, now=NOW)
        return real_put(items)

    monkeypatch.setattr(first.store, "transact_put", racing_put)
    first.apply(ours, now=NOW)
    assert len(calls) == 3  # ours (lost), theirs (won), ours again
    assert totals(transact_store)["sessions"] == 3
    assert totals(transact_store)["page_views"] == 3


def test_a_retried_stream_batch_is_not_counted_twice(backend):
    backend.post({"events": [page_view("a", "/", NOW - 10), page_view("a", "/b", NOW - 5)]})
    client, table = backend.store.client, backend.store.settings.events_table
    streams = backend.poller
    backend.aggregate()
    before = backend.stats()["totals"]
    # the event source mapping redelivers the same records after a timeout
    records = [{"eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": {"NewImage": image}}
               for image in client.scan(TableName=table)["Items"]]
    assert backend.handler({"Records": records}, None) == {"batchItemFailures": []}
    assert backend.stats()["totals"] == before
    assert streams.errors == 0


def test_sessions_spanning_batches_keep_one_start_and_their_duration(backend):
    backend.post(page_view("a", "/", NOW - 300, referrer="https://www.bing.com/"))
    backend.aggregate()
    backend.post(page_view("a", "/docs", NOW - 200))
    backend.aggregate()
    backend.post({"event_type": "download", "session_id": "a", "timestamp": NOW - 100})
    data = backend.stats()
    assert data["totals"] == {"events": 3, "page_views": 2, "sessions": 1, "bounce_rate": 0.0,
                              "avg_session_duration": 200.0, "views_per_session": 2.0}
    assert data["sources"] == [{"source": "Bing", "sessions": 1, "page_views": 2}]
    assert data["entry_pages"] == [{"page": "/", "sessions": 1}]


def test_an_expired_rollup_item_is_replaced_in_transact_mode(transact_store):
    from liveinsight import rollups as r
    from liveinsight.aggregator import Aggregator
    from liveinsight.store import serialize

    minute = r.bucket_start(NOW - 30, r.MINUTE)
    for dimset in ("*",):
        stale = {"pk": r.rollup_pk(r.MINUTE, minute, dimset), "v": 7, "ttl": int(NOW - 60),
                 "c": r.encode({"": {"ev": 999}})}
        transact_store.client.put_item(TableName=transact_store.settings.stats_table, Item=serialize(stale))
    Aggregator(transact_store).apply(items_for(transact_store, [page_view("a", "/", minute + 1)]), now=NOW)
    assert totals(transact_store, f"from={minute}&to={minute + 60}")["events"] == 1
