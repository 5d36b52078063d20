"""The HTTP layer: CORS, preflight, API key, routing errors and the stream entry."""
from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from conftest import page_view


@pytest.mark.parametrize("path", ["/api/events", "/api/stats", "/api/realtime", "/anything/else"])
def test_options_answers_204_with_cors_headers_on_every_path(backend, path):
    code, _, headers = backend.request("OPTIONS", path, headers={"Origin": "https://site.example",
                                                                 "Access-Control-Request-Method": "POST"})
    assert code == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "X-API-Key" in headers["Access-Control-Allow-Headers"]


def test_every_response_is_json_with_cors_headers(backend):
    for method, path in (("GET", "/api/stats"), ("GET", "/api/stats?limit=0"), ("POST", "/api/events")):
        _, payload, headers = backend.request(method, path, body=b"{}" if method == "POST" else None)
        assert headers["Content-Type"] == "application/json"
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert payload["status"] in ("success", "error")


def test_unknown_paths_are_404_and_wrong_methods_405(backend):
    code, payload = backend.get("/api/nope")
    assert code == 404 and "POST /api/events" in payload["message"]
    code, payload, _ = backend.request("DELETE", "/api/events")
    assert code == 405 and "use POST" in payload["message"]


@pytest.fixture
def keyed(backend):
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, api_key="s3cret-key"), backend.store)
    return backend


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "s3cret-key"}])
def test_get_routes_need_the_key_when_configured(keyed, headers):
    for path in ("/api/stats", "/api/realtime"):
        code, payload, cors = keyed.request("GET", path, headers=headers)
        assert code == 401
        assert "X-API-Key" in payload["message"]
        assert cors["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("headers", [{"X-API-Key": "s3cret-key"}, {"Authorization": "Bearer s3cret-key"}])
def test_the_right_key_opens_the_get_routes(keyed, headers):
    assert keyed.request("GET", "/api/stats", headers=headers)[0] == 200
    assert keyed.request("GET", "/api/realtime", headers=headers)[0] == 200


def test_on_aws_the_key_is_read_from_its_secrets_manager_secret(backend):
    # GIVEN the template's setting: no key in the environment, the ARN of the secret holding it
    import boto3

    from liveinsight import handler

    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="liveinsight-api-key-test", SecretString="key-from-the-secret")["ARN"]
    handler.configure(replace(backend.store.settings, api_key=None, api_key_secret_arn=arn), backend.store)
    # THEN the read routes want that key, and refuse any other
    assert backend.request("GET", "/api/stats", headers={"X-API-Key": "key-from-the-secret"})[0] == 200
    assert backend.request("GET", "/api/stats", headers={"X-API-Key": "s3cret-key"})[0] == 401
    assert backend.request("GET", "/api/realtime")[0] == 401


def test_post_and_options_never_need_the_key(keyed):
    assert keyed.post(page_view("s", "/", time.time()))[0] == 200
    assert keyed.request("OPTIONS", "/api/stats")[0] == 204


def test_allowed_origins_are_configurable(backend):
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, allowed_origins=("https://a.example", "https://b.example")),
                  backend.store)
    _, _, headers = backend.request("GET", "/api/stats", headers={"Origin": "https://b.example"})
    assert headers["Access-Control-Allow-Origin"] == "https://b.example"
    _, _, headers = backend.request("GET", "/api/stats", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers


def test_stream_records_other_than_insert_are_not_counted(backend):
    # GIVEN an event stored, then overwritten (MODIFY) and deleted by TTL (REMOVE)
    event = page_view("s", "/", time.time(), event_id="e1")
    backend.post(event)
    item = backend.raw_events()[0]
    client, table = backend.store.client, backend.store.settings.events_table
    from liveinsight.store import serialize

    client.put_item(TableName=table, Item=serialize(dict(item, page="/changed")))
    client.delete_item(TableName=table, Key=serialize({"session_id": item["session_id"],
                                                       "timestamp": item["timestamp"]}))
    # THEN only the INSERT counts
    assert backend.aggregate() == 3
    data = backend.stats("period=1h")
    assert data["totals"]["page_views"] == 1 and data["pages"][0]["page"] == "/"


def test_a_failing_aggregation_reports_the_batch_for_retry(backend, monkeypatch):
    from liveinsight import handler

    def boom(*_, **__):
        raise RuntimeError("store down")

    monkeypatch.setattr(handler.services().aggregator, "apply_stream_records", boom)
    record = {"eventSource": "aws:dynamodb", "eventName": "INSERT", "dynamodb": {"SequenceNumber": "42"}}
    assert backend.handler({"Records": [record]}, None) == {"batchItemFailures": [{"itemIdentifier": "42"}]}


def test_a_batch_reported_as_failed_is_counted_for_the_template_alarm(backend, monkeypatch, capsys):
    from types import SimpleNamespace

    from liveinsight import handler

    # GIVEN metrics on, and an aggregation that fails
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    def boom(*_, **__):
        raise RuntimeError("store down")

    monkeypatch.setattr(handler.services().aggregator, "apply_stream_records", boom)
    record = {"eventSource": "aws:dynamodb", "eventName": "INSERT", "dynamodb": {"SequenceNumber": "7"}}
    capsys.readouterr()
    # WHEN the aggregator function reports the batch as failed
    backend.handler({"Records": [record]}, SimpleNamespace(function_name="liveinsight-stream-aggregator-dev",
                                                           aws_request_id="r-1"))
    # THEN one EMF line counts it, with exactly the dimensions the template's alarm watches
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (emf,) = lines
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "LiveInsight"
    assert [m["Name"] for m in directive["Metrics"]] == [handler.BATCH_ITEM_FAILURES_METRIC]
    assert [sorted(d) for d in directive["Dimensions"]] == [["function", "service"]]
    assert (emf["service"], emf["function"]) == ("liveinsight", "liveinsight-stream-aggregator-dev")
    assert emf[handler.BATCH_ITEM_FAILURES_METRIC] == [1.0]


def test_counts_are_published_as_cloudwatch_emf_metrics(backend, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    backend.post({"events": [page_view("s", "/", time.time()), {"event_type": ""},
                             page_view("b", "/", time.time(), user_agent="Googlebot/2.1")]})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(lines) == 1
    emf = lines[0]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LiveInsight"
    assert (emf["EventsAccepted"], emf["EventsRejected"], emf["EventsFiltered"]) == ([1.0], [1.0], [1.0])


def test_a_5xx_is_logged_with_its_cause_and_the_request_id(backend, monkeypatch, caplog):
    from liveinsight import handler

    def broken(*_, **__):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(handler.services().stats, "answer", broken)
    with caplog.at_level("ERROR", logger="liveinsight"):
        code, payload = backend.get("/api/stats")
    assert code == 500 and "logged" in payload["message"] and "fire" not in payload["message"]
    causes = [getattr(record, "cause", "") for record in caplog.records if record.levelname == "ERROR"]
    assert any("disk on fire" in cause for cause in causes)
    assert handler.logger.get_correlation_id()  # every log line of the request carries the Lambda request id


def test_concurrent_requests_are_each_answered_for_their_own_body(backend):
    """The local gateway calls the handler from many threads at once (Lambda never does)."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a race shows at once
    now = time.time()

    def post(n: int) -> tuple[int, int]:
        events = [page_view(f"visit-{n}", f"/p{j}", now - 30 + j) for j in range(1 + n % 4)]
        status, payload = backend.post({"events": events})
        assert status == 200, payload
        return payload["data"]["accepted"], len(events)

    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(120)))
    finally:
        sys.setswitchinterval(interval)
    assert all(accepted == sent for accepted, sent in answers)
    assert sorted({e["session_id"] for e in backend.raw_events()}) == sorted(f"visit-{n}" for n in range(120))
