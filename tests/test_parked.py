"""A stream record the aggregator cannot apply is parked; its neighbours are counted; a replay counts it once."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import CHROME, page_view

NOW = time.time()


@pytest.fixture(autouse=True)
def fresh_now():
    """Each test's own now, 30 s back: realtime counts visits of the last 5 minutes, and a visit stamped a
    second or two after it must not fall in the minute after the query's (a 1-in-30 failure at :58-:59)."""
    global NOW
    NOW = time.time() - 30


HUGE_SITE = "a" * 2030 + ".com"  # no key holds it: DynamoDB refuses every rollup of this site


def write_raw_event(store, session_id: str, site: str, ts: float) -> None:
    """An events-table item the collector would refuse today (as an older collector, or an import, wrote it)."""
    from liveinsight.items.events import event_item
    from liveinsight.store import serialize

    item = event_item(session_id=session_id, timestamp=ts, event_id=f"raw-{session_id}", event_type="page_view",
                      page_url=f"https://{site}/", user_agent=CHROME, referrer=None, ttl=int(ts + 86400),
                      enrichment={"site": site, "host": site, "page": "/", "source": "Direct", "browser": "Chrome",
                                  "os": "Windows", "device": "Desktop"})
    store.client.put_item(TableName=store.settings.events_table,
                          Item=serialize({k: v for k, v in item.items() if v is not None}))


def test_a_record_no_key_can_hold_is_parked_and_its_batch_neighbours_are_counted(backend):
    # GIVEN one stream batch: two honest visits around a record whose site no DynamoDB key can hold
    backend.post(page_view("s-1", "/", NOW))
    write_raw_event(backend.store, "s-poison", HUGE_SITE, NOW + 1)
    backend.post(page_view("s-3", "/docs", NOW + 2))
    # WHEN the batch is aggregated
    stats = backend.stats("period=1h&site=shop.example.com")
    # THEN the honest visits keep their stats, realtime entries and their place among the sites
    assert stats["totals"]["sessions"] == 2
    assert "shop.example.com" in stats["sites"]
    assert backend.realtime("site=shop.example.com")["active_sessions"] == 2
    # AND the record that failed is kept, with why, instead of being skipped
    from liveinsight.aggregator import Aggregator
    from liveinsight.items import parked as parked_module, rollups as r

    parked = Aggregator(backend.store).parked_records()
    assert len(parked) == 1
    assert json.loads(parked[0]["r"])["dynamodb"]["Keys"]["session_id"]["S"] == "s-poison"
    assert "ValidationException" in parked[0]["err"]
    # AND the items that took the record before its own site's were refused are named, so a
    # replay (which fails again here, and keeps it) never counts it twice in them
    assert (f"{r.ALL_SITES}#{r.ALL}#-", ) == tuple({pk for pk, _ in parked_module.applied_keys(parked[0])
                                                   if pk.startswith(r.ALL_SITES + "#*")})
    everything = backend.stats()["totals"]["sessions"]
    assert Aggregator(backend.store).replay_parked()[0] == 0
    assert backend.stats()["totals"]["sessions"] == everything


def test_a_parked_record_is_replayed_once_its_cause_is_fixed_and_counted_once(backend, fold_bug):
    # GIVEN a record parked because of a bug in folding it (here: one session's events make the fold raise)
    from liveinsight import aggregator

    backend.post({"events": [page_view("s-1", "/", NOW), page_view("s-bug", "/pricing", NOW + 1),
                             page_view("s-2", "/", NOW + 2)]})
    assert backend.stats()["totals"]["sessions"] == 2
    store = aggregator.Aggregator(backend.store)
    assert len(store.parked_records()) == 1
    # WHEN the bug is fixed and the parked records are replayed, twice (an operator's retry)
    fold_bug()
    assert store.replay_parked() == (1, [])
    assert store.replay_parked() == (0, [])
    # THEN the record is counted exactly once, and nothing stays parked
    stats = backend.stats()
    assert stats["totals"]["sessions"] == 3
    assert {row["page"]: row["page_views"] for row in stats["pages"]} == {"/": 2, "/pricing": 1}
    assert store.parked_records() == []


def test_a_replay_interrupted_after_applying_counts_the_record_once(backend, monkeypatch, fold_bug):
    # GIVEN a parked record whose replay applies but dies before the parked item is deleted
    from liveinsight import aggregator

    backend.post({"events": [page_view("s-bug", "/pricing", NOW)]})
    backend.aggregate()
    fold_bug()
    agg = aggregator.Aggregator(backend.store)
    monkeypatch.setattr(backend.store, "delete_item", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
    try:
        agg.replay_parked()
    except SystemExit:
        pass
    monkeypatch.undo()
    # WHEN the replay runs again
    assert agg.replay_parked() == (1, [])
    # THEN the visit is counted once
    assert backend.stats()["totals"]["sessions"] == 1


def test_a_store_failure_is_not_parked_but_the_batch_delivered_again(backend, monkeypatch):
    # GIVEN DynamoDB refusing the first write of the batch (throttled past the client's retries)
    from liveinsight.aggregator import Aggregator
    from liveinsight.errors import StoreUnavailable

    backend.post({"events": [page_view("s-1", "/", NOW), page_view("s-2", "/", NOW + 1)]})
    real_put, refusals = backend.store.put_versioned, []

    def throttled_once(*args, **kwargs):
        if not refusals:
            refusals.append(args)
            raise StoreUnavailable("throttled")
        return real_put(*args, **kwargs)

    monkeypatch.setattr(backend.store, "put_versioned", throttled_once)
    # WHEN the batch is aggregated (the failed delivery is delivered again, as the stream does)
    stats = backend.stats()
    # THEN nothing is parked (the records are fine) and every visit is counted once
    assert refusals
    assert Aggregator(backend.store).parked_records() == []
    assert stats["totals"]["sessions"] == 2


def test_replay_command_lists_and_keeps_what_still_fails(backend, monkeypatch, capsys):
    # GIVEN a parked record in a store the CLI reaches by endpoint
    write_raw_event(backend.store, "s-poison", HUGE_SITE, NOW)
    backend.aggregate()
    from liveinsight import cli

    monkeypatch.setattr(cli, "_store_settings", lambda endpoint: backend.store.settings)
    monkeypatch.setattr("liveinsight.store.make_client", lambda *a, **k: backend.store.client)
    # WHEN listed
    assert cli.main(["replay", "--list"]) == 0
    # THEN it is named with why it failed
    out = capsys.readouterr().out
    assert "1 parked record(s)" in out and "ValidationException" in out
    # AND a replay of a record that still fails keeps it and says so
    assert cli.main(["replay"]) == 1
    captured = capsys.readouterr()
    assert "still failing, kept" in captured.err and "0 record(s)" not in captured.out
    assert "replayed 0 parked record(s); 1 still parked" in captured.out


def test_parked_records_are_counted_for_the_template_alarm(backend, monkeypatch, capsys):
    # GIVEN metrics on and a record no key can hold in the batch
    import json as _json
    from types import SimpleNamespace

    from liveinsight import handler

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    backend.post(page_view("s-1", "/", NOW))
    write_raw_event(backend.store, "s-poison", HUGE_SITE, NOW + 1)
    capsys.readouterr()
    # WHEN the aggregator function gets the batch
    from liveinsight.local import server

    monkeypatch.setattr(server, "lambda_context", lambda name: SimpleNamespace(
        function_name="liveinsight-stream-aggregator-dev", aws_request_id="r-1", memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:x", get_remaining_time_in_millis=lambda: 30000))
    backend.aggregate()
    # THEN one EMF line counts the parked record with the dimensions the alarm watches
    lines = [_json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    parked = [line for line in lines if handler.RECORDS_PARKED_METRIC in line]
    assert len(parked) == 1
    assert (parked[0]["service"], parked[0]["function"]) == ("liveinsight", "liveinsight-stream-aggregator-dev")
    assert parked[0][handler.RECORDS_PARKED_METRIC] == [1.0]
