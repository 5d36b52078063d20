"""POST /api/events: bad input gets a 4xx naming the field; valid events next to it are kept."""
from __future__ import annotations

import json
import time

import pytest

from conftest import page_view
from collector_paths import COLLECTOR_PATHS, on_path


@pytest.fixture(params=COLLECTOR_PATHS)
def backend(backend, request):
    """Every test here runs on both collector paths: the REST API and the front door's function URL."""
    return on_path(backend, request.param)


NOW = time.time()
pytestmark = pytest.mark.usefixtures("fresh_clock")


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
    pytest.param(good(page_url="https://" + "a" * 2030 + ".com/"), "page_url", "not a host name",
                 id="host-longer-than-a-key-holds"),
    pytest.param(good(page_url="https://" + ".".join(["a" * 50] * 5) + "/"), "page_url", "not a host name",
                 id="host-over-253"),
    pytest.param(good(page_url="https://" + "a" * 64 + ".example/"), "page_url", "labels of 1-63",
                 id="host-label-over-63"),
    pytest.param(good(page_url="https://a..example/"), "page_url", "not a host name", id="empty-host-label"),
    pytest.param(good(page_url="https://**bold**.example/"), "page_url", "not a host name",
                 id="markdown-host"),
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


def test_a_host_no_key_can_hold_is_refused_and_its_honest_neighbours_are_counted(backend):
    # GIVEN a batch whose middle event's host is ~2,040 characters (a rollup key over DynamoDB's 2,048 bytes),
    # sent now (the module's NOW is as old as the test session, too old for "active in the last 5 minutes")
    # (a second in the past: an event stamped ahead of the clock falls in a minute the last hour may not reach yet)
    now = time.time() - 2
    batch = {"events": [page_view("s-1", "/", now),
                        good(session_id="s-2", page_url="https://" + "a" * 2030 + ".com/", timestamp=now),
                        page_view("s-3", "/docs", now + 1)]}
    # WHEN posted and aggregated
    code, payload = backend.post(batch)
    # THEN only that event is refused, naming `page_url`; its neighbours keep stats, realtime and their site
    assert code == 200 and payload["data"]["accepted"] == 2
    assert [r["index"] for r in payload["data"]["rejected"]] == [1]
    assert "`page_url`" in payload["data"]["rejected"][0]["message"]
    stats = backend.stats()
    assert stats["totals"]["sessions"] == 2
    assert stats["sites"] == ["shop.example.com"]
    assert backend.realtime()["active_sessions"] == 2


@pytest.mark.parametrize("sent, site", [
    pytest.param("https://Bücher.Example./a", "xn--bcher-kva.example", id="idna-and-case"),
    pytest.param("https://WWW.Shop.Example.com:8443/a", "shop.example.com", id="www-and-port"),
    pytest.param("http://127.0.0.1:8000/a", "127.0.0.1", id="ipv4"),
])
def test_a_site_has_one_spelling(backend, sent, site):
    backend.post(good(page_url=sent))
    assert backend.stats()["sites"] == [site]


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


# --- hostile input: a 4xx naming the field, never a 5xx; valid neighbours are kept ---------

def stored_text(backend) -> str:
    """Everything stored, as UTF-8 (raises if anything stored could not be written as UTF-8)."""
    text = json.dumps(backend.raw_events(), default=str, ensure_ascii=False)
    text.encode("utf-8")
    return text


HOSTILE_BODIES = [
    pytest.param(b"[" * 100_000, "nested too deeply", id="100k-brackets"),
    pytest.param(b'{"events": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply", id="deep-batch"),
    pytest.param(b'{"events": [' + b"[" * 500 + b"]" * 500 + b"]}", "must be a JSON object", id="deep-event"),
    pytest.param(b'{"event_type": "x", "timestamp": NaN}', "`timestamp` is not a finite number", id="nan"),
    pytest.param(b'{"event_type": "x", "timestamp": -Infinity}', "`timestamp` is not a finite number", id="infinity"),
    pytest.param(b'{"event_type": "x", "props": {"n": Infinity}}', "`props` value of 'n' is not a finite", id="inf-prop"),
    pytest.param(b'{"event_type": "x", "timestamp": ' + b"9" * 5000 + b"}", "`timestamp`", id="5000-digit-int"),
    pytest.param(b'{"event_type": "x", "timestamp": 1e400}', "`timestamp` is not a finite number", id="1e400"),
    pytest.param(b'{"event_type": "x", "props": {"n": ' + b"9" * 50 + b"}}", "`props`", id="50-digit-prop"),
    pytest.param(b'{"event_type": "x", "props": {"n": 1e300}}', "beyond", id="huge-float-prop"),
    pytest.param(b'{"event_type": "x", "sent_at": 1e400, "timestamp": 1}', "`sent_at`", id="sent-at-infinite"),
    pytest.param(b'{"event_type": "x", "sent_at": "now"}', "`sent_at`", id="sent-at-string"),
    pytest.param(b'{"event_type": "x\\u0000"}', "`event_type`", id="nul-in-type"),
    pytest.param(b'\xef\xbb\xbf{"event_type": "page_view"}', "`page_url`", id="bom-then-json"),
    pytest.param(b'{"event_type": "x", "\xff\xfe": 1}', "field name is not valid UTF-8", id="invalid-utf8-key"),
    pytest.param(b'{"event_type": "x", "\\udc00": 1}', "field name is not valid UTF-8", id="surrogate-key"),
    pytest.param(b'{"events": [{"event_type": "x"}], "\\ud800": 1}', r"unknown top-level field '\ud800' next to",
                 id="surrogate-top-level-key"),
]


@pytest.mark.parametrize("body, message", HOSTILE_BODIES)
def test_hostile_bodies_get_a_4xx_naming_what_is_wrong(backend, body, message):
    code, payload = backend.post(body)
    assert code == 400, payload
    assert message in payload["message"] or message in json.dumps(payload.get("errors")), payload
    assert backend.raw_events() == []


# Raw bytes that are not UTF-8 are written as surrogate escapes (\udcXX), which
# encode("utf-8", "surrogateescape") turns back into exactly those bytes.
UNSTORABLE_FIELDS = [
    pytest.param("event_id", '"e-\\ud800"', "not valid UTF-8", id="surrogate-event-id"),
    pytest.param("page_url", '"https://shop.example.com/\\udfff"', "not valid UTF-8", id="surrogate-page-url"),
    pytest.param("user_agent", '"Mozilla/5.0 \\ud83d"', "not valid UTF-8", id="surrogate-user-agent"),
    pytest.param("referrer", '"https://a.example/\\ud800"', "not valid UTF-8", id="surrogate-referrer"),
    pytest.param("session_id", '"s\\udc80"', "not valid UTF-8", id="surrogate-session"),
    pytest.param("props", '{"plan": "\\ud800"}', "not valid UTF-8", id="surrogate-prop-value"),
    pytest.param("props", '{"\\ud800": "x"}', "not valid UTF-8", id="surrogate-prop-key"),
    pytest.param("event_id", '"e-\udcff\udcfe"', "not valid UTF-8", id="invalid-utf8-event-id"),
    pytest.param("page_url", '"https://shop.example.com/\udcc3"', "not valid UTF-8", id="invalid-utf8-page-url"),
    pytest.param("props", '{"plan": "\udced\udca0\udc80"}', "not valid UTF-8", id="encoded-surrogate-prop"),
    pytest.param("page_url", '"https://shop.example.com/\\u0000"', "NUL", id="nul-page-url"),
    pytest.param("props", '{"plan": "a\\u0000b"}', "NUL", id="nul-prop-value"),
    pytest.param("page_url", '"https://shop.example.com/a\\nb"', "http(s) URL", id="newline-page-url"),
    pytest.param("user_agent", '"Mozilla/5.0\\r\\nX-Evil: 1"', "control characters", id="crlf-user-agent"),
    pytest.param("event_id", '"e\\t1"', "control characters", id="tab-event-id"),
    pytest.param("props", '{"a\\nb": 1}', "control characters", id="newline-prop-key"),
]


@pytest.mark.parametrize("name, value, problem", UNSTORABLE_FIELDS)
def test_an_unstorable_string_rejects_its_event_and_keeps_the_neighbours(backend, name, value, problem):
    # GIVEN a batch whose middle event holds a string no UTF-8 encoder can write (or a NUL)
    bad = json.dumps(good(event_id="bad"))[:-1] + f', "{name}": {value}' + "}"
    bad = bad.replace('"event_id": "bad", ', "") if name == "event_id" else bad
    body = ('{"events": [' + json.dumps(page_view("s-1", "/a", NOW)) + ", " + bad + ", "
            + json.dumps(page_view("s-1", "/b", NOW + 1)) + "]}").encode("utf-8", "surrogateescape")
    # WHEN posted
    code, payload = backend.post(body)
    # THEN 200: both neighbours are stored, the bad one is listed naming its field
    assert code == 200, payload
    data = payload["data"]
    assert data["accepted"] == 2
    [rejection] = data["rejected"]
    assert rejection["index"] == 1
    assert f"`{name}`" in rejection["message"] and problem in rejection["message"], rejection
    assert sorted(e["page"] for e in backend.raw_events()) == ["/a", "/b"]
    stored_text(backend)


def test_a_lone_invalid_event_is_a_400_naming_the_field(backend):
    code, payload = backend.post(b'{"event_type": "page_view", "page_url": "https://a.example/\xff"}')
    assert code == 400
    assert "`page_url` is not valid UTF-8" in payload["message"]
    assert payload["errors"][0]["index"] == 0


# --- privacy: what is stored of the URLs -------------------------------------------------

def test_stored_page_url_keeps_scheme_host_path_utm_and_ref_only(backend):
    # (secrets that no hex id, hash or salt stored beside them can spell by chance: "abc" once did)
    url = ("HTTPS://user:secret@Shop.Example.com:8443/checkout/step-2?email=a%40b.c&utm_source=news&token=zq-tok-9"
           "&ref=hn&UTM_Campaign=nov&q=shoes#access_token=xyz")
    backend.post(good(page_url=url, referrer="https://www.google.com/search?q=private+words#frag"))
    [event] = backend.raw_events()
    assert event["page_url"] == "https://shop.example.com:8443/checkout/step-2?utm_source=news&ref=hn&UTM_Campaign=nov"
    assert event["referrer"] == "https://www.google.com/search"
    text = stored_text(backend)
    for secret in ("secret", "a%40b.c", "token", "zq-tok-9", "shoes", "access_token", "xyz", "private"):
        assert secret not in text, secret


def test_keep_query_lists_the_parameters_an_owner_allows(backend, monkeypatch):
    monkeypatch.setenv("LIVEINSIGHT_KEEP_QUERY", "Page, tab")
    backend.post(good(page_url="https://shop.example.com/docs?page=2&tab=api&ref=x&session=1&utm_medium=email#top"))
    [event] = backend.raw_events()
    assert event["page_url"] == "https://shop.example.com/docs?page=2&tab=api&utm_medium=email"


def test_an_empty_keep_query_keeps_only_utm(backend, monkeypatch):
    monkeypatch.setenv("LIVEINSIGHT_KEEP_QUERY", "")
    backend.post(good(page_url="https://shop.example.com/?ref=x&utm_source=y"))
    assert backend.raw_events()[0]["page_url"] == "https://shop.example.com/?utm_source=y"


def test_sources_still_come_from_utm_and_ref_after_cleaning(backend):
    backend.post({"events": [good(session_id="a", page_url="https://shop.example.com/?ref=producthunt"),
                             good(session_id="b", page_url="https://shop.example.com/?utm_source=newsletter")]})
    assert sorted(e["source"] for e in backend.raw_events()) == ["Newsletter", "producthunt"]


# --- time: the visitor's clock does not matter -----------------------------------------

def test_a_clock_10_minutes_fast_is_corrected_by_sent_at(backend):
    # GIVEN a phone whose clock is 10 minutes fast, sending an event 30 s after it happened
    fast = (time.time() + 600) * 1000
    code, payload = backend.post(good(timestamp=fast - 30_000, sent_at=fast))
    # THEN it is stored 30 s before the server received it
    assert code == 200 and payload["data"]["accepted"] == 1, payload
    [event] = backend.raw_events()
    assert float(event["timestamp"]) == pytest.approx(time.time() - 30, abs=5)


def test_sent_at_before_the_timestamp_means_now(backend):
    backend.post(good(timestamp=NOW - 3600, sent_at=NOW - 7200))
    assert float(backend.raw_events()[0]["timestamp"]) == pytest.approx(time.time(), abs=5)


def test_an_event_held_more_than_24_h_on_the_senders_clock_is_too_old(backend):
    code, payload = backend.post(good(timestamp=0, sent_at=25 * 3600))
    assert code == 400 and "`timestamp` is more than 24 h in the past" in payload["message"]
