"""The local stream poller resumes from its checkpoint in the stats table, as a restarted `serve` does."""
from __future__ import annotations

import time

from conftest import page_view


def test_a_restarted_poller_resumes_after_the_last_batch_and_replays_the_one_in_flight(backend):
    from liveinsight.local.server import StreamPoller

    delivered: list[list[str]] = []

    def handler(event, context):
        delivered.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        return {"batchItemFailures": []}

    def restarted() -> StreamPoller:
        return StreamPoller(backend.store.settings, handler)

    # GIVEN two events aggregated by one poller, which saved its checkpoint after the batch
    now = time.time()
    backend.post({"events": [page_view("s-1", "/", now - 60), page_view("s-2", "/a", now - 30)]})
    assert backend.aggregate() == 2
    # WHEN a new poller (a restarted serve) starts on the same store THEN it delivers nothing already done
    poller = restarted()
    assert poller.poll_once() == 0 and delivered == []
    table, (shard,) = backend.store.settings.stats_table, list(poller._iterators)
    checkpoint = backend.store.get_item(table, poller._checkpoint_key(shard), consistent=True)
    # GIVEN two more events, the first of them in a batch a killed poller was delivering
    backend.post({"events": [page_view("s-3", "/b", now - 20), page_view("s-4", "/c", now - 10)]})
    assert restarted().poll_once() == 2
    ((first, second),) = delivered
    delivered.clear()
    backend.store.put_item(table, {**checkpoint, "flight": first})
    # WHEN the next poller starts THEN it replays exactly the batch in flight, then delivers the rest
    poller = restarted()
    assert poller.poll_once() == 1 and delivered == [[first]]
    assert poller.poll_once() == 1 and delivered == [[first], [second]]


def test_waiting_for_aggregation_polls_again_at_once_instead_of_waiting_out_the_window(backend):
    from liveinsight.local.server import StreamPoller

    delivered: list[str] = []

    def handler(event, context):
        delivered.extend(r["dynamodb"]["SequenceNumber"] for r in event["Records"])
        return {"batchItemFailures": []}

    # GIVEN a running poller with an hour-long batching window, which has found the stream empty
    poller = StreamPoller(backend.store.settings, handler, interval=3600)
    poller.start()
    try:
        assert poller.wait_quiet(0, timeout=30)
        # WHEN events arrive and `up --demo` waits for them to be aggregated
        now = time.time()
        backend.post({"events": [page_view("s-1", "/", now - 60), page_view("s-2", "/a", now - 30)]})
        # THEN the poller delivers them and polls again at once to see nothing is left, not an hour later
        assert poller.wait_quiet(poller.hurry_up(), timeout=30)
        assert len(delivered) == 2
        # and, no longer hurried, it waits out its window again after a busy poll
        assert not poller.hurry.is_set()
    finally:
        poller.stop()
        poller.join(10)
