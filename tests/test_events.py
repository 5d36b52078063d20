"""POST /api/events: bad input gets a 4xx naming the field; valid events next to it are kept."""
from __future__ import annotations

import json
import time

import pytest

from conftest import page_view

NOW = time.time()


def good(**overrides):
    event = page_view("s-1", "/pricing", NOW)
    event.update(overrides)
    return event


BAD_BODIES = [
    pytest.param(b"{not json", 400, "not valid JSON", id="malformed-json"),
    pytest.param(b"", 400, "body is empty", id="empty-body"),
    pytest.param(b"[1, 2]", 400, "not an array", id="array-body"),
    pytest.param(b'"page_view"', 400, "not a string", id="string-body"),
    pytest.param(b"42", 400, "not a number", id="number-body"),
    pytest.param({"events": "nope"}, 400, "`events` must be an array", id="events-not-array"),
    pytest.param({"events": []}, 400, "`events` has 0 events", id="empty-batch"),
    pytest.param({"events": [good()] * 501}, 400, "`events` has 501 events", id="over-500"),
    pytest.param({"events": [good()], "site": "x"}, 400, "unknown top-level field `site`", id="extra-top-level"),
    pytest.param(b'{"event_type": "page_view", "page_url": "https://a.b/", "x": "' + b"a" * (256 * 1024) + b'"}',
                 413, "256 KiB", id="over-256KiB"),
]


@pytest.mark.parametrize("body, status, message", BAD_BODIES)
def test_bad_bodies_are_rejected_with_a_clear_message(backend, body, status, message):
    # GIVEN a body that is not an event or a batch of 1-500 events
    # WHEN it is posted
    code, payload = backend.post(body)
    # THEN the answer is a 4xx in the envelope that says what is wrong
    assert code == status
    assert payload["status"] == "error"
    assert message in payload["message"]
    assert backend.raw_events() == []


BAD_EVENTS = [
    pytest.param({"page_url": "https://a.b/"}, "event_type", "is required", id="missing-type"),
    pytest.param(good(event_type=""), "event_type", "1-64", id="empty-type"),
    pytest.param(good(event_type="a" * 65), "event_type", "1-64", id="long-type"),
    pytest.param(good(event_type="sign up!"), "event_type", "letters, digits", id="type-bad-chars"),
    pytest.param(good(event_type=5), "event_type", "wrong type (int)", id="type-number"),
    pytest.param(good(session_id=""), "session_id", "1-128", id="empty-session"),
    pytest.param(good(session_id="x" * 129), "session_id", "1-128", id="long-session"),
    pytest.param(good(session_id=12), "session_id", "wrong type", id="session-number"),
    pytest.param(good(timestamp="1693900000"), "timestamp", "wrong type (str)", id="timestamp-string"),
    pytest.param(good(timestamp=True), "timestamp", "wrong type", id="timestamp-bool"),
    pytest.param(good(timestamp=NOW - 25 * 3600), "timestamp", "24 h in the past", id="too-old"),
    pytest.param(good(timestamp=(NOW - 25 * 3600) * 1000), "timestamp", "24 h in the past", id="too-old-ms"),
    pytest.param(good(timestamp=NOW + 3 * 3600), "timestamp", "5 min in the future", id="future"),
    pytest.param(good(page_url="ftp://a.b/x"), "page_url", "http(s) URL", id="ftp-url"),
    pytest.param(good(page_url="/relative"), "page_url", "http(s) URL", id="relative-url"),
    pytest.param(good(page_url="javascript:alert(1)"), "page_url", "http(s) URL", id="js-url"),
    pytest.param(good(page_url="https://a.b/" + "x" * 2048), "page_url", "2048", id="long-url"),
    pytest.param({"event_type": "page_view", "session_id": "s"}, "page_url", "required for page_view",
                 id="page-view-without-url"),
    pytest.param(good(referrer="not a url"), "referrer", "absolute URL", id="bad-referrer"),
    pytest.param(good(referrer="https://a.b/" + "x" * 2048), "referrer", "2048", id="long-referrer"),
    pytest.param(good(user_agent=["x"]), "user_agent", "wrong type", id="ua-list"),
    pytest.param(good(event_id="e" * 65), "event_id", "1-64", id="long-event-id"),
    pytest.param(good(props={f"k{i}": i for i in range(31)}), "props", "31 properties", id="too-many-props"),
    pytest.param(good(props={"k": "v" * 257}), "props", "257 characters", id="long-prop-value"),
    pytest.param(good(props={"k" * 65: 1}), "props", "key of 65", id="long-prop-key"),
    pytest.param(good(props={"k": {"nested": 1}}), "props", "wrong type", id="nested-prop"),
    pytest.param(good(props=[1]), "props", "wrong type", id="props-list"),
    pytest.param(good(colour="red"), "colour", "unknown field", id="unknown-field"),
]


@pytest.mark.parametrize("event, field, problem", BAD_EVENTS)
def test_bad_events_get_400_naming_the_field(backend, event, field, problem):
    # GIVEN one invalid event / WHEN posted alone
    code, payload = backend.post(event)
    # THEN 400, the message names the field and the problem, and nothing is stored
    assert code == 400, payload
    assert f"`{field}`" in payload["message"]
    assert problem in payload["message"]
    assert payload["errors"][0]["index"] == 0
    assert backend.raw_events() == []


def test_a_mixed_batch_keeps_its_valid_events(backend):
    # GIVEN a batch where events 1 and 3 are invalid
    batch = {"events": [
        page_view("s-1", "/", NOW),
        {"event_type": "page_view"},
        page_view("s-1", "/docs", NOW + 1),
        page_view("s-2", "/", "yesterday"),
    ]}
    # WHEN posted
    code, payload = backend.post(batch)
    # THEN the valid ones are accepted and stored, the others reported by index
    assert code == 200
    data = payload["data"]
    assert data["accepted"] == 2
    assert [r["index"] for r in data["rejected"]] == [1, 3]
    assert "`page_url`" in data["rejected"][0]["message"]
    assert "`timestamp`" in data["rejected"][1]["message"]
    assert sorted(e["page"] for e in backend.raw_events()) == ["/", "/docs"]


def test_a_batch_with_no_valid_event_is_400_with_per_event_errors(backend):
    code, payload = backend.post({"events": [{"event_type": ""}, {"event_type": "page_view"}]})
    assert code == 400
    assert payload["message"] == "none of the 2 events is valid"
    assert [e["index"] for e in payload["errors"]] == [0, 1]


def test_text_plain_bodies_from_sendbeacon_are_json(backend):
    body = json.dumps(page_view("s-1", "/", NOW))
    code, payload = backend.post(body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert code == 200 and payload["data"]["accepted"] == 1


def test_milliseconds_and_seconds_mean_the_same_time(backend):
    backend.post({"events": [page_view("s-1", "/a", NOW), page_view("s-2", "/b", NOW * 1000)]})
    stamps = sorted(float(e["timestamp"]) for e in backend.raw_events())
    assert stamps[0] == pytest.approx(NOW, abs=0.01) and stamps[1] == pytest.approx(NOW, abs=0.01)


def test_500_events_is_the_largest_accepted_batch(backend):
    code, payload = backend.post({"events": [page_view(f"s-{i % 7}", f"/p{i}", NOW) for i in range(500)]})
    assert code == 200
    assert payload["data"]["accepted"] == 500
    assert len(backend.raw_events()) == 500
