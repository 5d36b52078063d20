"""The event model: what POST /api/events accepts, and the normalised `Event` it becomes.

`parse_body` turns a raw request body into validated events plus per-item rejections;
nothing here knows about HTTP or DynamoDB.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from . import config
from .errors import InvalidRequest, PayloadTooLarge

EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")
PAGE_VIEW = "page_view"

# What each field accepts, quoted in every error message about it.
ACCEPTED = {
    "event_type": "a string of 1-64 letters, digits or _ - . : (e.g. \"page_view\", \"signup\")",
    "session_id": f"a string of 1-{config.MAX_SESSION_ID_CHARS} printable characters",
    "timestamp": "a number of epoch seconds or milliseconds, from 24 h in the past to 5 min in the future",
    "page_url": f"an absolute http(s) URL of at most {config.MAX_URL_CHARS} characters",
    "referrer": f"an absolute URL of at most {config.MAX_URL_CHARS} characters, or an empty string",
    "user_agent": f"a string of at most {config.MAX_USER_AGENT_CHARS} characters",
    "event_id": f"a string of 1-{config.MAX_EVENT_ID_CHARS} characters",
    "props": (
        f"an object of at most {config.MAX_PROPS} properties with keys of 1-{config.MAX_PROP_KEY_CHARS} "
        f"characters and string, number or boolean values (strings up to {config.MAX_PROP_VALUE_CHARS} characters)"
    ),
}
FIELDS = ", ".join(ACCEPTED)


class EventIn(BaseModel):
    """One event as a site sends it; strict types, no coercion, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)

    event_type: StrictStr
    session_id: StrictStr | None = None
    timestamp: StrictInt | StrictFloat | None = None
    page_url: StrictStr | None = None
    referrer: StrictStr | None = None
    user_agent: StrictStr | None = None
    event_id: StrictStr | None = None
    props: dict[StrictStr, StrictStr | StrictBool | StrictInt | StrictFloat] | None = None


@dataclass
class Event:
    """A validated event, timestamps in float epoch seconds."""

    event_type: str
    timestamp: float
    session_id: str | None = None
    page_url: str | None = None
    referrer: str | None = None
    user_agent: str | None = None
    event_id: str | None = None
    props: dict[str, Any] = field(default_factory=dict)
    client_timestamp: bool = True
    client_event_id: bool = True


@dataclass
class Rejection:
    """Why the event at `index` of the request was not accepted."""

    index: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "message": self.message}


def _field_error(name: str, problem: str) -> str:
    return f"`{name}` {problem}; accepted: {ACCEPTED[name]}"


def _is_absolute_url(value: str, schemes: tuple[str, ...] | None) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if not parts.scheme or not parts.netloc:
        return False
    return schemes is None or parts.scheme.lower() in schemes


def _to_seconds(value: float | int) -> float:
    """Epoch seconds of a client timestamp (seconds, or milliseconds above 10^11); ValueError if not finite."""
    try:
        number = float(value)  # an int beyond float range raises OverflowError
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(_field_error("timestamp", "is not a finite number"))
    return number / 1000.0 if number > config.MILLISECONDS_THRESHOLD else number


def _normalise_timestamp(value: float | int | None, now: float,
                         max_age_seconds: float = config.MAX_EVENT_AGE_SECONDS) -> tuple[float, bool]:
    """(epoch seconds to the ms, given by the client?) of a timestamp; server time when absent."""
    if value is None:
        return now, False
    seconds = _to_seconds(value)
    if seconds < now - max_age_seconds:
        age = "24 h" if max_age_seconds == config.MAX_EVENT_AGE_SECONDS else f"{int(max_age_seconds // 86400)} days"
        raise ValueError(f"`timestamp` is more than {age} in the past ({value}); accepted: epoch seconds or "
                         f"milliseconds from {age} in the past to 5 min in the future")
    if seconds > now + config.MAX_FUTURE_SKEW_SECONDS:
        raise ValueError(_field_error("timestamp", f"is more than 5 min in the future ({value})"))
    return round(seconds, 3), True


def _check_props(props: dict[str, Any] | None) -> dict[str, Any]:
    if not props:
        return {}
    if len(props) > config.MAX_PROPS:
        raise ValueError(_field_error("props", f"has {len(props)} properties"))
    for key, value in props.items():
        if not 1 <= len(key) <= config.MAX_PROP_KEY_CHARS:
            raise ValueError(_field_error("props", f"has a key of {len(key)} characters"))
        if isinstance(value, str) and len(value) > config.MAX_PROP_VALUE_CHARS:
            raise ValueError(_field_error("props", f"value of {key!r} has {len(value)} characters"))
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(_field_error("props", f"value of {key!r} is not a finite number"))
    return dict(props)


def _pydantic_message(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ()
    name = str(loc[0]) if loc else ""
    if first.get("type") == "extra_forbidden":
        return f"unknown field `{name}`; accepted fields: {FIELDS}"
    if first.get("type") == "missing":
        return _field_error(name, "is required")
    if name in ACCEPTED:
        got = type(first.get("input")).__name__ if first.get("input") is not None else "null"
        return _field_error(name, f"has the wrong type ({got})")
    return first.get("msg", "invalid event")


def validate_event(raw: Any, now: float, *, max_age_seconds: float | None = None) -> Event:
    """Validate one raw event object; raises ValueError with a message naming the field.

    `max_age_seconds` widens the accepted past (history import); the default is 24 h.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"each event must be a JSON object, not {_json_type(raw)}; accepted fields: {FIELDS}")
    try:
        model = EventIn.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(_pydantic_message(exc)) from None
    if not EVENT_TYPE_PATTERN.fullmatch(model.event_type):  # match's `$` lets a trailing newline through
        raise ValueError(_field_error("event_type", f"is {model.event_type[:80]!r}"))
    if model.session_id is not None and not (
        1 <= len(model.session_id) <= config.MAX_SESSION_ID_CHARS and model.session_id.isprintable()
    ):
        raise ValueError(_field_error("session_id", f"has {len(model.session_id)} characters or unprintable ones"))
    timestamp, client_ts = _normalise_timestamp(model.timestamp, now,
                                                max_age_seconds or config.MAX_EVENT_AGE_SECONDS)
    if model.page_url is not None and (
        len(model.page_url) > config.MAX_URL_CHARS or not _is_absolute_url(model.page_url, ("http", "https"))
    ):
        raise ValueError(_field_error("page_url", f"is {model.page_url[:80]!r}"))
    if model.page_url is None and model.event_type == PAGE_VIEW:
        raise ValueError(_field_error("page_url", "is required for page_view events"))
    if model.referrer and (len(model.referrer) > config.MAX_URL_CHARS or not _is_absolute_url(model.referrer, None)):
        raise ValueError(_field_error("referrer", f"is {model.referrer[:80]!r}"))
    if model.user_agent is not None and len(model.user_agent) > config.MAX_USER_AGENT_CHARS:
        raise ValueError(_field_error("user_agent", f"has {len(model.user_agent)} characters"))
    if model.event_id is not None and not 1 <= len(model.event_id) <= config.MAX_EVENT_ID_CHARS:
        raise ValueError(_field_error("event_id", f"has {len(model.event_id)} characters"))
    return Event(
        event_type=model.event_type,
        timestamp=timestamp,
        session_id=model.session_id,
        page_url=model.page_url,
        referrer=model.referrer or None,
        user_agent=model.user_agent,
        event_id=model.event_id,
        props=_check_props(model.props),
        client_timestamp=client_ts,
        client_event_id=model.event_id is not None,
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def decode_body(body: bytes | str | None) -> Any:
    """Decode a JSON body (application/json or text/plain); 413 over 256 KiB, 400 if not JSON."""
    if body is None or body == b"" or body == "":
        raise InvalidRequest("the request body is empty; send one event object or {\"events\": [...]} as JSON")
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > config.MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the request body is {len(raw)} bytes; at most {config.MAX_BODY_BYTES} bytes (256 KiB) are accepted"
        )
    try:
        return json.loads(raw)
    except ValueError as exc:  # not UTF-8, not JSON, or an integer beyond Python's 4300-digit limit
        raise InvalidRequest(f"the request body is not valid JSON ({exc}); send one event object or "
                             "{\"events\": [...]}") from None


def split_batch(payload: Any) -> list[Any]:
    """The list of raw events in a decoded body: one object, or `{"events": [...]}` of 1-500."""
    if isinstance(payload, dict) and "events" in payload:
        extra = sorted(set(payload) - {"events"})
        if extra:
            raise InvalidRequest(f"unknown top-level field `{extra[0]}` next to `events`; a batch is "
                                 "{\"events\": [...]} and nothing else")
        events = payload["events"]
        if not isinstance(events, list):
            raise InvalidRequest(f"`events` must be an array of 1-{config.MAX_BATCH_EVENTS} event objects, "
                                 f"not {_json_type(events)}")
        if not 1 <= len(events) <= config.MAX_BATCH_EVENTS:
            raise InvalidRequest(f"`events` has {len(events)} events; accepted: 1-{config.MAX_BATCH_EVENTS} "
                                 "events per request")
        return events
    if isinstance(payload, dict):
        return [payload]
    raise InvalidRequest(f"the body must be one event object or {{\"events\": [...]}}, not {_json_type(payload)}")


def parse_events(raw_events: list[Any], now: float) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """Validate every raw event; returns (index, event) pairs and the rejections."""
    accepted: list[tuple[int, Event]] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(raw_events):
        try:
            accepted.append((index, validate_event(raw, now)))
        except ValueError as exc:
            rejected.append(Rejection(index, str(exc)))
    return accepted, rejected
