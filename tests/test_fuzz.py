"""Fuzzing POST /api/events through the real Lambda handler (against moto).

Bodies are batches mixing valid events with hostile ones (arbitrary JSON values, any
unicode including lone surrogates and NUL, raw bytes that are not UTF-8, deep nesting,
huge numbers), or raw bytes and text. Whatever arrives:

* the answer is never a 5xx;
* every valid event of a batch is stored, whatever its neighbours hold;
* nothing stored is unencodable: every string in the events table encodes as UTF-8.

CI runs a bounded, derandomized number of examples (LIVEINSIGHT_FUZZ_EXAMPLES, default
300 per test); `python bench/fuzz.py` runs many more, with fresh random inputs, and prints
the counts.
"""
from __future__ import annotations

import json
import os
import uuid

from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from conftest import CHROME

EXAMPLES = int(os.environ.get("LIVEINSIGHT_FUZZ_EXAMPLES", "300"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         derandomize=not os.environ.get("LIVEINSIGHT_FUZZ_RANDOM"),
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.data_too_large])
FIELDS = ["event_type", "session_id", "timestamp", "page_url", "referrer", "user_agent", "event_id", "props",
          "sent_at"]

# Any code point, lone surrogates included, and the characters hostile input favours.
any_char = st.characters(codec=None, exclude_categories=())
hostile_text = st.text(any_char, max_size=24) | st.sampled_from(
    ["\ud800", "\udfff", "a\udc80b", "\x00", "a\x00", "\ud83d", "\u202e", "\ufeff", "\n", "\r\n", "\\", '"', ""])
scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**50), max_value=10**50)
           | st.floats(allow_nan=True, allow_infinity=True) | hostile_text)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(hostile_text, inner, max_size=3), max_leaves=8)
# Placeholders replaced in the serialised body: raw JSON that json.dumps cannot produce.
DEEP = "\x01deep{}\x01"
RAW_BYTES = "\x01bytes{}\x01"
NUMBER = "\x01number{}\x01"
NOT_UTF8 = st.binary(min_size=1, max_size=6).map(lambda b: bytes(x | 0x80 for x in b))  # never UTF-8 as a whole
HUGE_NUMBERS = ["9" * 5000, "-" + "9" * 400, "1e400", "-1e400", "1e-400", "0." + "0" * 3000 + "1"]


def valid_event() -> dict:
    event_id = uuid.uuid4().hex
    return {"event_type": "page_view", "session_id": f"fuzz-{event_id[:8]}", "page_url": f"https://shop.example.com/p/{event_id}",
            "user_agent": CHROME, "event_id": event_id}


@st.composite
def hostile_events(draw) -> object:
    kind = draw(st.sampled_from(["value", "field", "key", "deep", "bytes", "number"]))
    if kind == "value":
        return draw(json_values)
    event = valid_event()
    name = draw(st.sampled_from(FIELDS))
    if kind == "field":
        event[name] = draw(json_values)
    elif kind == "key":
        event[draw(hostile_text)] = draw(json_values)
    elif kind == "deep":
        # Up to 300 levels inside one event (rejected alone), or beyond what the parser follows.
        event[name] = DEEP.format(draw(st.integers(min_value=1, max_value=300) | st.sampled_from([5000, 100_000])))
    elif kind == "bytes":  # bytes that are not UTF-8 inside a string value
        event[name] = draw(st.text(max_size=8)) + RAW_BYTES.format(draw(NOT_UTF8).hex())
    else:
        event[name] = NUMBER.format(draw(st.sampled_from(range(len(HUGE_NUMBERS)))))
    return event


def serialise(body: object, ascii_only: bool) -> bytes:
    """JSON bytes of a body, with the placeholders swapped for raw JSON and raw bytes."""
    text = json.dumps(body, ensure_ascii=ascii_only)
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates as raw (invalid) UTF-8 when not escaped
    for marker in ("deep", "bytes", "number"):
        while (start := data.find(b"\\u0001" + marker.encode())) != -1:
            end = data.index(b"\\u0001", start + 6)
            value = data[start + 6 + len(marker):end].decode()
            if marker == "deep":
                n = int(value)
                raw = b"[" * n + b"]" * n
                data = data[:start - 1] + raw + data[end + 7:]  # drop the quotes around the placeholder
            elif marker == "bytes":
                data = data[:start] + bytes.fromhex(value) + data[end + 6:]
            else:
                data = data[:start - 1] + HUGE_NUMBERS[int(value)].encode() + data[end + 7:]
    return data


def drain_and_check_utf8(backend) -> set[str]:
    """The event ids stored by this example; asserts every stored string encodes as UTF-8, then empties the table.

    Emptying keeps each example's scan small (the table would otherwise grow example by example).
    """
    client, table = backend.store.client, backend.store.settings.events_table
    items = client.scan(TableName=table)["Items"]
    for item in items:
        json.dumps(item, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate
    for start in range(0, len(items), 25):
        client.batch_write_item(RequestItems={table: [
            {"DeleteRequest": {"Key": {"session_id": i["session_id"], "timestamp": i["timestamp"]}}}
            for i in items[start:start + 25]]})
    return {_event_id(item) for item in items}


def _event_id(item: dict) -> str | None:
    """The event id of a raw DynamoDB item (it travels in the enrichment JSON, attribute `x`)."""
    return json.loads(item["x"]["S"]).get("event_id") if "x" in item else None


@FUZZ_SETTINGS
@given(batch=st.lists(st.tuples(st.booleans(), hostile_events()), min_size=1, max_size=6),
       ascii_only=st.booleans(), content_type=st.sampled_from(["application/json", "text/plain;charset=UTF-8"]))
@example(batch=[(True, None), (False, {"event_type": "x", "event_id": "\ud800"}), (True, None)], ascii_only=True,
         content_type="text/plain")
@example(batch=[(True, None), (False, {"event_type": "x", "props": {"k": "\udfff"}})], ascii_only=False,
         content_type="application/json")
@example(batch=[(True, None), (False, {"event_type": DEEP.format(100_000)}), (False, {"event_type": DEEP.format(100_000)})],
         ascii_only=True, content_type="text/plain")  # over 256 KiB: 413, nothing stored
def test_a_batch_keeps_its_valid_events_whatever_their_neighbours_hold(backend, batch, ascii_only, content_type):
    # GIVEN a batch where True marks a valid event and False a hostile one
    events = [valid_event() if is_valid else hostile for is_valid, hostile in batch]
    valid = {index: events[index]["event_id"] for index, (is_valid, _) in enumerate(batch) if is_valid}
    body = serialise({"events": events}, ascii_only)
    # WHEN posted
    status, payload = backend.post(body, headers={"Content-Type": content_type})
    event(f"-> {status}, {len(payload.get('data', {}).get('rejected', payload.get('errors') or []))} rejected")
    # THEN never a 5xx, and every valid event is accepted and stored
    assert status < 500, payload
    refused_whole = len(body) > 256 * 1024 or b"[" * 1000 in body
    if len(body) > 256 * 1024:
        assert status == 413, payload
    elif b"[" * 1000 in body:  # nesting the JSON parser cannot follow: the documented whole-body 400
        assert status == 400 and "nested too deeply" in payload["message"], payload
    elif valid:
        assert status == 200, payload
        rejected = {r["index"] for r in payload["data"]["rejected"]}
        assert not rejected & set(valid), payload
    else:
        assert status in (200, 400), payload
    stored = drain_and_check_utf8(backend)
    if not refused_whole:
        assert set(valid.values()) <= stored


@FUZZ_SETTINGS
@given(body=st.binary(max_size=200) | st.text(any_char, max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass"))
       | hostile_events().map(lambda e: serialise(e, False))
       | json_values.map(lambda v: serialise(v, True)))
@example(body=b"[" * 100_000)
@example(body=b'{"events": ' + b"[" * 5000)
@example(body=b"\xff\xfe\x00{")
def test_any_body_gets_an_answer_below_500(backend, body):
    status, payload = backend.post(body, headers={"Content-Type": "text/plain"})
    event(f"-> {status}")
    assert status < 500, payload
    assert payload["status"] == ("success" if status == 200 else "error")
    json.dumps(payload, ensure_ascii=False).encode("utf-8")  # the answer itself is valid UTF-8
    drain_and_check_utf8(backend)


def host_of(length: int, label: int = 63) -> str:
    """A host name of exactly `length` characters made of labels of at most `label` characters."""
    labels, left = [], length
    while left > 0:
        size = min(label, left if not labels else left - 1)
        if size <= 0:  # a dot would be the last character: lengthen the previous label instead
            labels[-1] += "b"
            break
        labels.append("a" * size)
        left -= size + (1 if len(labels) > 1 else 0)
    return ".".join(labels)


def at_limit(field: str, over: bool) -> dict:
    """A valid event with `field` at its length limit (or one past it when `over`)."""
    event, extra = valid_event(), int(over)
    path = f"/p/{event['event_id']}"
    if field == "host":
        event["page_url"] = f"https://{host_of(253 + extra)}{path}"
    elif field == "host_label":
        event["page_url"] = f"https://{'h' * (63 + extra)}.example{path}"
    elif field == "page_url":
        base = f"https://shop.example.com{path}/"
        event["page_url"] = base + "x" * (2048 + extra - len(base))
    elif field == "event_type":
        event["event_type"] = "e" * (64 + extra)
    elif field == "session_id":
        event["session_id"] = "s" * (127 + extra) + event["event_id"][0]
    elif field == "prop_key":
        event["props"] = {"k" * (64 + extra): 1}
    elif field == "prop_value":
        event["props"] = {"plan": "v" * (256 + extra)}
    elif field == "utm":  # tags are cut at 256 characters, never refused
        event["page_url"] = f"https://shop.example.com{path}?utm_source={'u' * (2000 - len(path))}"
    return event


LIMITED_FIELDS = ["host", "host_label", "page_url", "event_type", "session_id", "prop_key", "prop_value", "utm"]


@settings(FUZZ_SETTINGS, max_examples=max(10, EXAMPLES // 10))
@given(batch=st.lists(st.tuples(st.sampled_from(LIMITED_FIELDS), st.booleans()), min_size=1, max_size=6))
def test_labels_at_every_length_limit_are_either_refused_or_counted(backend, batch):
    # GIVEN events each holding one label at its limit, or one past it
    events = [at_limit(field, over) for field, over in batch]
    fits = [not over or field == "utm" for field, over in batch]
    before = backend.stats()["totals"]["events"]
    # WHEN posted and aggregated
    status, payload = backend.post({"events": events})
    # THEN those past a limit are refused by index, naming a field, and every other one is counted
    assert status == (200 if any(fits) else 400), payload
    rejected = payload["data"]["rejected"] if any(fits) else payload["errors"]
    assert {r["index"] for r in rejected} == {i for i, ok in enumerate(fits) if not ok}
    assert all("`" in r["message"] for r in rejected)
    assert backend.stats()["totals"]["events"] - before == sum(fits)
    drain_and_check_utf8(backend)
