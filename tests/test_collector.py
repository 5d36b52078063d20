"""Storage: every valid event kept exactly once, bots filtered, throttling never a silent drop."""
from __future__ import annotations

import json
import time

import pytest
from botocore.awsrequest import AWSResponse

from conftest import GOOGLEBOT, IPHONE, page_view
from collector_paths import COLLECTOR_PATHS, on_path


@pytest.fixture(params=COLLECTOR_PATHS)
def backend(backend, request):
    """Every test here runs on both collector paths: the REST API and the front door's function URL."""
    return on_path(backend, request.param)

NOW = time.time()


@pytest.fixture(autouse=True)
def fresh_clock():
    """Times relative to when each test runs, not to when the module was collected."""
    global NOW
    NOW = time.time()


def test_two_events_of_one_session_in_the_same_second_are_both_stored(backend):
    # GIVEN two events of one session with the same whole-second timestamp (sent separately)
    backend.post(page_view("s-1", "/a", int(NOW)))
    backend.post({"event_type": "add_to_cart", "session_id": "s-1", "timestamp": int(NOW)})
    # THEN both are stored and both are counted
    assert len(backend.raw_events()) == 2
    assert backend.stats()["totals"]["events"] == 2


def test_a_retried_event_id_is_stored_and_counted_once(backend):
    event = page_view("s-1", "/a", NOW, event_id="evt-42")
    first = backend.post(event)[1]["data"]
    retry = backend.post(event)[1]["data"]
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert retry["accepted"] == 1  # acknowledged like the original: the client may stop retrying
    assert len(backend.raw_events()) == 1
    assert backend.stats()["totals"]["page_views"] == 1


def test_a_retry_without_a_timestamp_is_still_counted_once(backend):
    # The server stamps each copy with its own time, so the copies land under different keys;
    # the aggregator still knows the event id and counts it once.
    event = page_view("s-1", "/a", event_id="evt-no-ts")
    backend.post(event)
    time.sleep(0.01)
    backend.post(event)
    assert backend.stats()["totals"]["page_views"] == 1


def test_the_same_event_id_twice_in_one_batch_is_one_event(backend):
    event = page_view("s-1", "/a", NOW, event_id="dup")
    data = backend.post({"events": [event, event]})[1]["data"]
    assert (data["accepted"], data["duplicates"]) == (1, 1)


def test_bots_are_acknowledged_counted_as_filtered_and_never_traffic(backend):
    data = backend.post({"events": [page_view("bot-1", "/", NOW, user_agent=GOOGLEBOT),
                                    page_view("human", "/", NOW, user_agent=IPHONE)]})[1]["data"]
    assert (data["accepted"], data["filtered"]) == (1, 1)
    stats = backend.stats()
    assert stats["totals"]["sessions"] == 1
    assert stats["totals"]["page_views"] == 1
    assert stats["bots_filtered"] == 1
    assert stats["devices"] == [{"name": "Mobile", "sessions": 1}]


def test_bot_detection_uses_the_request_user_agent_header(backend):
    code, payload = backend.post(page_view("b", "/", NOW), headers={"User-Agent": "curl/8.4.0"})
    assert payload["data"]["filtered"] == 1


def test_without_session_id_a_cookieless_id_is_derived_and_the_ip_is_not_stored(backend):
    # (in the past: an event a second ahead of the clock falls in the next minute's bucket when the
    # test runs at :59, outside period=1h — that failed one run in thirty)
    event = {"event_type": "page_view", "page_url": "https://shop.example.com/", "timestamp": NOW - 3}
    backend.post(event, ip="198.51.100.23")
    backend.post(dict(event, timestamp=NOW - 2), ip="198.51.100.23")
    backend.post(dict(event, timestamp=NOW - 1), ip="198.51.100.99")
    items = backend.raw_events()
    assert len({i["session_id"] for i in items}) == 2  # same IP+UA → same visit; another IP → another
    assert "198.51.100" not in json.dumps(items, default=str)
    assert backend.stats()["totals"]["sessions"] == 2


def _throttle(status: int = 400, unprocessed: bool = False):
    """A botocore before-send hook answering every BatchWriteItem as DynamoDB does when throttled."""
    calls = []

    def hook(request, **_):
        if b"RequestItems" not in (request.body or b""):
            return None
        calls.append(request)
        if unprocessed:
            body = json.loads(request.body)
            payload = {"UnprocessedItems": body["RequestItems"]}
            return AWSResponse(request.url, 200, {}, _Raw(json.dumps(payload).encode()))
        payload = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                   "message": "The level of configured provisioned throughput for the table was exceeded."}
        return AWSResponse(request.url, status, {}, _Raw(json.dumps(payload).encode()))

    return hook, calls


class _Raw:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_):
        yield self.data


@pytest.mark.parametrize("unprocessed", [False, True], ids=["throttling-exception", "unprocessed-items"])
def test_a_store_that_keeps_refusing_gives_503_with_retry_after(backend, unprocessed):
    # GIVEN DynamoDB refuses every write (throttling or unprocessed items)
    hook, calls = _throttle(unprocessed=unprocessed)
    events = backend.store.client.meta.events
    events.register_first("before-send.dynamodb.BatchWriteItem", hook)
    try:
        code, payload, headers = backend.request("POST", "/api/events", page_view("s-1", "/", NOW))
    finally:
        events.unregister("before-send.dynamodb.BatchWriteItem", hook)
    # THEN the request fails with 503 and Retry-After, after retrying
    assert code == 503
    assert "retry" in payload["message"]
    assert int(headers["Retry-After"]) > 0
    assert len(calls) > 1


def test_throttling_that_passes_is_retried_and_the_events_are_kept(backend):
    hook, calls = _throttle()
    state = {"left": 1}

    def flaky(request, **kwargs):
        if state["left"] and b"RequestItems" in (request.body or b""):
            state["left"] -= 1
            return hook(request, **kwargs)
        return None

    events = backend.store.client.meta.events
    events.register_first("before-send.dynamodb.BatchWriteItem", flaky)
    try:
        code, payload = backend.post({"events": [page_view("s-1", "/", NOW), page_view("s-2", "/", NOW)]})
    finally:
        events.unregister("before-send.dynamodb.BatchWriteItem", flaky)
    assert code == 200 and payload["data"]["accepted"] == 2
    assert len(backend.raw_events()) == 2


def test_range_keys_of_one_millisecond_do_not_collide():
    from liveinsight.aggregator import event_time
    from liveinsight.items.events import range_key

    keys = {range_key(1795929302.123, f"event-{i}") for i in range(200_000)}
    assert len(keys) == 200_000
    assert {event_time(k) for k in list(keys)[:1000]} == {1795929302.123}
    assert range_key(1795929302.123, "same") == range_key(1795929302.123, "same")
    assert event_time(range_key(1795929302.999, "x")) == 1795929302.999
