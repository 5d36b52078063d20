"""DynamoDB refusing or unreachable: short retries, then 503 with Retry-After; the daily salt never fails.

Faults are injected at the wire (tests/faults.py) in front of moto.
"""
from __future__ import annotations

import time

import pytest

from conftest import page_view
from faults import Throttle, connect_timeout

NOW = time.time()


@pytest.fixture
def retrying(settings):
    """A Store with the deployed retry policy whose waits are recorded, not slept."""
    from liveinsight.store import Store, make_client
    from liveinsight.tables import create_tables

    client = make_client(settings)
    create_tables(client, settings)
    waits: list[float] = []
    return Store(settings, client, sleep=waits.append), waits


class ThrottleFirst:
    """Throttles the first `count` requests, then lets everything through."""

    def __init__(self, count: int):
        self.left = count
        self.seen = 0

    def __call__(self, request, **kwargs):
        from faults import throttling_response

        self.seen += 1
        if self.left > 0:
            self.left -= 1
            return throttling_response(request.url)
        return None


def test_a_throttled_call_is_retried_within_tens_of_milliseconds(retrying):
    store, waits = retrying
    # GIVEN DynamoDB throttling the next 5 requests
    throttle = ThrottleFirst(5)
    store.client.meta.events.register_first("before-send.dynamodb", throttle)
    # WHEN the store writes
    store.batch_put([(store.settings.events_table, {"session_id": "s", "timestamp": 1})])
    # THEN it sent 6 requests, waiting a jittered 0-25 ms, 0-50 ms, … (botocore alone: 0-1 s, 0-2 s, …)
    assert throttle.seen == 6 and len(waits) == 5
    for attempt, wait in enumerate(waits):
        assert 0 <= wait <= 0.025 * 2 ** attempt
    assert sum(waits) < 0.8
    assert store.get_item(store.settings.events_table, {"session_id": "s", "timestamp": 1}) is not None


def test_waits_are_jittered_and_capped_and_the_refusal_is_store_unavailable(retrying):
    from liveinsight.errors import StoreUnavailable

    store, waits = retrying
    throttle = ThrottleFirst(100)
    store.client.meta.events.register_first("before-send.dynamodb", throttle)
    with pytest.raises(StoreUnavailable, match="after 8 attempts"):
        store.get_item(store.settings.events_table, {"session_id": "s", "timestamp": 1})
    assert throttle.seen == 8 and len(waits) == 7  # 8 attempts in all
    assert max(waits) <= 1.0 and len(set(waits)) == len(waits)


def test_botocore_itself_makes_one_attempt(settings):
    """The retry policy is the store's: botocore's own (slow, internal) retries stay off."""
    from botocore.exceptions import ClientError

    from liveinsight.store import make_client
    from liveinsight.tables import create_tables

    client = make_client(settings)
    create_tables(client, settings)
    throttle = ThrottleFirst(1)
    client.meta.events.register_first("before-send.dynamodb", throttle)
    with pytest.raises(ClientError, match="Throttling"):
        client.get_item(TableName=settings.events_table, Key={"session_id": {"S": "s"}, "timestamp": {"N": "1"}})
    assert throttle.seen == 1


def test_retries_stop_within_the_time_budget_when_each_attempt_is_slow(settings):
    """An unreachable DynamoDB costs a connect timeout per attempt: retrying stops in time for the 30 s Lambda timeout."""
    from botocore.exceptions import ConnectTimeoutError

    from liveinsight.errors import StoreUnavailable
    from liveinsight.store import RETRY_BUDGET_SECONDS, Store

    now = [0.0]

    class Unreachable:
        calls = 0

        def get_item(self, **_):
            Unreachable.calls += 1
            now[0] += 3.0  # the connect timeout
            raise ConnectTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    store = Store(settings, Unreachable(), sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    with pytest.raises(StoreUnavailable, match="unreachable for get_item"):
        store.get_item(settings.events_table, {"session_id": "s", "timestamp": 1})
    assert Unreachable.calls == 4 < 8  # 0 s, ~3 s, ~6 s, ~9 s: a fifth would start after the budget
    assert now[0] <= RETRY_BUDGET_SECONDS + 3.0


def test_a_bad_request_is_not_retried(retrying):
    from botocore.exceptions import ClientError

    store, waits = retrying
    with pytest.raises(ClientError, match="ResourceNotFound"):
        store.get_item("no-such-table", {"session_id": "s", "timestamp": 1})
    assert waits == []


def test_a_store_that_keeps_refusing_answers_503_with_retry_after(backend):
    Throttle(1.0).register(backend.store.client)
    status, payload, headers = backend.request("POST", "/api/events", page_view("s", "/", NOW),
                                               headers={"Origin": "https://shop.example.com"})
    assert status == 503
    assert int(headers["Retry-After"]) >= 1
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]  # the tracker, cross-origin, can read it
    assert "retry after" in payload["message"]


def test_a_connect_timeout_answers_503_with_retry_after(backend):
    backend.store.client.meta.events.register_first("before-send.dynamodb", connect_timeout)
    status, payload, headers = backend.request("POST", "/api/events", page_view("s", "/", NOW))
    assert status == 503
    assert int(headers["Retry-After"]) >= 1


def test_some_throttling_costs_no_event(settings, store):
    from conftest import Backend
    from liveinsight import handler
    from liveinsight.store import Store, make_client

    # GIVEN the deployed retry settings (the test store makes 2 attempts) and 20 % of requests throttled
    client = make_client(settings)
    throttle = Throttle(0.2, seed=3).register(client)
    handler.configure(settings, Store(settings, client))
    backend = Backend(Store(settings, client))
    try:
        for i in range(30):
            code, payload = backend.post(page_view(f"s-{i}", f"/p{i}", NOW))
            assert code == 200 and payload["data"]["accepted"] == 1
    finally:
        handler.configure(settings, store)
    assert throttle.throttled > 0
    assert len(backend.raw_events()) == 30


# --- the daily salt of cookieless sessions ------------------------------------------------

DAY = "2026-11-29"


def salt_item(store):
    from liveinsight.store import deserialize, serialize

    response = store.client.get_item(TableName=store.settings.stats_table,
                                     Key=serialize({"pk": f"salt#{DAY}", "sk": "-"}), ConsistentRead=True)
    return deserialize(response["Item"]) if "Item" in response else None


def put_salt(store, salt: bytes, ttl: int) -> None:
    from liveinsight.store import serialize

    store.client.put_item(TableName=store.settings.stats_table,
                          Item=serialize({"pk": f"salt#{DAY}", "sk": "-", "salt": salt, "ttl": ttl}))


def test_the_first_collector_of_the_day_creates_the_salt(store):
    salt = store.daily_salt(DAY)
    assert len(salt) == 32 and bytes(salt_item(store)["salt"]) == salt


def test_an_expired_salt_item_is_replaced_not_a_500(store):
    # GIVEN yesterday's salt item for this day, expired but not yet deleted (DynamoDB deletes late, moto never)
    put_salt(store, b"o" * 32, int(time.time()) - 60)
    # WHEN a collector needs the day's salt
    salt = store.daily_salt(DAY)
    # THEN it gets a fresh one, stored for the others
    assert salt != b"o" * 32 and bytes(salt_item(store)["salt"]) == salt


def test_two_collectors_creating_the_salt_at_midnight_agree(settings, store):
    from liveinsight.store import Store

    # GIVEN a collector that found no salt, while another created it in the meantime
    other = Store(settings, store.client)
    winner = other.daily_salt(DAY)
    store.get_item = lambda table, key: None  # its (eventually consistent) read still sees nothing
    # WHEN it tries to create the salt, its conditional put fails
    salt = store.daily_salt(DAY)
    # THEN it reads the winner's salt back: the same visitor gets the same id from both
    assert salt == winner


def test_a_salt_still_missing_after_a_failed_create_falls_back_to_a_local_one(store, monkeypatch):
    from botocore.exceptions import ClientError

    real_call = store._call

    def call(operation, **kwargs):
        if operation == "put_item":
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "x"}}, "PutItem")
        if operation == "get_item":
            return {}
        return real_call(operation, **kwargs)

    monkeypatch.setattr(store, "_call", call)
    salt = store.daily_salt(DAY)
    assert len(salt) == 32 and store.daily_salt(DAY) == salt  # one salt for the day in this process


def test_a_salt_item_without_a_usable_salt_is_replaced(store):
    from liveinsight.store import serialize

    store.client.put_item(TableName=store.settings.stats_table,
                          Item=serialize({"pk": f"salt#{DAY}", "sk": "-", "ttl": int(time.time()) - 1}))
    assert len(store.daily_salt(DAY)) == 32


def test_cookieless_events_are_accepted_when_the_salt_item_expired(backend):
    from datetime import datetime, timezone

    day = datetime.fromtimestamp(NOW, timezone.utc).strftime("%Y-%m-%d")
    from liveinsight.store import serialize

    backend.store.client.put_item(TableName=backend.store.settings.stats_table, Item=serialize(
        {"pk": f"salt#{day}", "sk": "-", "salt": b"x" * 32, "ttl": int(time.time()) - 5}))
    event = {"event_type": "page_view", "page_url": "https://shop.example.com/", "timestamp": NOW}
    code, payload = backend.post(event)
    assert code == 200 and payload["data"]["accepted"] == 1


def test_after_midnight_todays_and_yesterdays_salts_are_each_read_once(store):
    # GIVEN a warm collector deriving, after midnight, each visitor's id of today and of yesterday
    reads = []
    real_get = store.get_item
    store.get_item = lambda table, key, **kw: reads.append(key["pk"]) or real_get(table, key, **kw)
    # WHEN it needs the two days' salts for many events in a row
    for _ in range(50):
        store.daily_salt("2026-11-30")
        store.daily_salt("2026-12-01")
    # THEN each salt item was read once (one per day before: two reads per event after midnight)
    assert sorted(reads) == ["salt#2026-11-30", "salt#2026-12-01"]
