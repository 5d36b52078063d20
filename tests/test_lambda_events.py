"""The handler against event shapes as AWS delivers them (tests/events/*.json), not only our local gateway's."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

EVENTS = Path(__file__).parent / "events"
CONTEXT = SimpleNamespace(function_name="liveinsight-event-collector-dev", aws_request_id="req-123",
                          memory_limit_in_mb=256, invoked_function_arn="arn:aws:lambda:us-east-1:0:function:x",
                          get_remaining_time_in_millis=lambda: 30_000)


def load_event(name: str, **replacements: str) -> dict:
    text = (EVENTS / name).read_text()
    for key, value in replacements.items():
        text = text.replace(key, value)
    return json.loads(text)


def test_a_captured_api_gateway_post_is_collected(backend):
    # GIVEN a POST as API Gateway delivers it (stage path, X-Forwarded-For, text/plain beacon)
    event = load_event("apigw_post_events.json")
    # WHEN the deployed handler gets it
    response = backend.handler(event, CONTEXT)
    # THEN it is accepted in the envelope with CORS headers, and the IP is not stored
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "success", "data": {
        "accepted": 1, "duplicates": 0, "filtered": 0, "rejected": []}}
    headers = {k: v[-1] for k, v in response["multiValueHeaders"].items()}
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Content-Type"] == "application/json"
    stored = backend.raw_events()
    assert [e["page"] for e in stored] == ["/pricing"] and stored[0]["browser"] == "Safari"
    assert "198.51.100.23" not in json.dumps(stored, default=str)


def test_a_captured_get_stats_with_the_key_is_answered(backend):
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, api_key="placeholder-key-0000"), backend.store)
    response = backend.handler(load_event("apigw_get_stats.json"), CONTEXT)
    assert response["statusCode"] == 200
    data = json.loads(response["body"])["data"]
    assert data["range"]["interval"] == "minute" and data["totals"]["events"] == 0


def test_a_captured_preflight_is_204_without_a_key(backend):
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, api_key="placeholder-key-0000"), backend.store)
    response = backend.handler(load_event("apigw_options_preflight.json"), CONTEXT)
    assert response["statusCode"] == 204
    assert response["multiValueHeaders"]["Access-Control-Allow-Origin"] == ["*"]


def test_a_captured_stream_batch_is_aggregated_and_removes_are_ignored(backend):
    now = time.time()
    event = load_event("dynamodb_stream_batch.json", TS_A=f"{now - 60:.3f}000001", TS_B=f"{now - 30:.3f}000002")
    assert backend.handler(event, CONTEXT) == {"batchItemFailures": []}
    data = backend.stats("period=1h")
    assert data["totals"]["page_views"] == 2 and data["totals"]["sessions"] == 1
    assert data["totals"]["avg_session_duration"] == 30.0
    assert data["sources"] == [{"source": "Google", "sessions": 1, "page_views": 2, "visitors": 1}]
