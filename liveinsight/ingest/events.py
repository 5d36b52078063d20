"""The event model: what POST /api/events accepts, and the normalised `Event` it becomes.

`decode_body` and `split_batch` turn a raw request body into raw events, `parse_events`
validates them into `Event`s plus per-item rejections; nothing here knows about HTTP or
DynamoDB. Hostile input is a 4xx, never a 5xx: invalid UTF-8, lone surrogates and NUL
characters are rejected per event (naming the field), nesting too deep for the parser
and numbers beyond any use are answered with what is accepted.

Privacy: the `Event` carries URLs already cleaned for storage (`clean_page_url`,
`clean_referrer`): no fragment, no credentials, no query beyond `utm_*` and the kept
parameters.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from .. import config
from ..config import normalise_host
from ..errors import InvalidRequest, PayloadTooLarge
from .geo import is_zone_name
from ..items.events import ENGAGED_SECONDS, ENGAGEMENT, PAGE_VIEW, SCROLL_DEPTH

EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")
# Lone surrogates (what invalid UTF-8 bytes decode to under surrogateescape, or a JSON
# "\ud800") cannot be written by any UTF-8 encoder: stored, they break every reader. NUL too.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_SHOWN_CHARS = 80
MAX_INT_DIGITS = 400  # longer integer literals become infinity instead of Python's 4300-digit ValueError

# What each field accepts, quoted in every error message about it.
ACCEPTED = {
    "event_type": "a string of 1-64 letters, digits or _ - . : (e.g. \"page_view\", \"signup\")",
    "session_id": f"a string of 1-{config.MAX_SESSION_ID_CHARS} printable characters",
    "timestamp": "a number of epoch seconds or milliseconds, from 24 h in the past to 5 min in the future",
    "page_url": (f"an absolute http(s) URL of at most {config.MAX_URL_CHARS} characters whose host is a host name "
                 f"(at most {config.MAX_HOST_CHARS} characters, dot-separated labels of 1-{config.MAX_HOST_LABEL_CHARS} "
                 "letters, digits, - or _; international names allowed) or an IP address"),
    "referrer": f"an absolute URL of at most {config.MAX_URL_CHARS} characters, or an empty string",
    "user_agent": f"a string of at most {config.MAX_USER_AGENT_CHARS} characters",
    "event_id": f"a string of 1-{config.MAX_EVENT_ID_CHARS} characters",
    "props": (
        f"an object of at most {config.MAX_PROPS} properties with keys of 1-{config.MAX_PROP_KEY_CHARS} "
        f"characters and string, number or boolean values (strings up to {config.MAX_PROP_VALUE_CHARS} characters, "
        "numbers up to ±10^38)"
    ),
    "sent_at": ("a number of epoch seconds or milliseconds on the sender's clock when the request was sent; "
                "with `timestamp`, the event is stamped that long before the server received it"),
    "tz": (f"the browser's IANA time zone name, at most {config.MAX_TZ_CHARS} characters: letters, digits, _ + - "
           "in /-separated parts (e.g. \"Europe/Berlin\", \"America/Argentina/Buenos_Aires\"); it gives the "
           "visit's country when the request does not, and is not stored"),
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
    sent_at: StrictInt | StrictFloat | None = None
    tz: StrictStr | None = None


@dataclass
class Event:
    """A validated event, timestamps in float epoch seconds, URLs cleaned for storage."""

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
    tz: str | None = None  # the sender's time zone: only its country is ever stored


@dataclass
class Rejection:
    """Why the event at `index` of the request was not accepted."""

    index: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "message": self.message}


def _field_error(name: str, problem: str) -> str:
    return f"`{name}` {problem}; accepted: {ACCEPTED[name]}"


def _show(value: str) -> str:
    """A client string fit to quote in a message: at most 80 characters, anything unprintable escaped."""
    return repr(value[:MAX_SHOWN_CHARS]) + ("…" if len(value) > MAX_SHOWN_CHARS else "")


def _unstorable(value: str) -> str | None:
    """Why a string cannot be stored (NUL, or invalid UTF-8 / a lone surrogate), or None."""
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "is not valid UTF-8 (invalid bytes or a lone surrogate)"


def _check_strings(raw: dict[str, Any]) -> None:
    """Reject an event holding a string no UTF-8 encoder can write, in any field name or value."""
    for name, value in raw.items():
        problem = _unstorable(name)
        if problem:
            raise ValueError(f"a field name {problem} ({_show(name)}); accepted fields: {FIELDS}")
        if isinstance(value, str):
            problem = _unstorable(value)
            if problem:
                raise ValueError(_field_error(name, problem) if name in ACCEPTED else
                                 f"unknown field {_show(name)}; accepted fields: {FIELDS}")
        elif name == "props" and isinstance(value, dict):
            for key, item in value.items():
                problem = _unstorable(key) and f"has a key that {_unstorable(key)}"
                if not problem and isinstance(item, str) and _unstorable(item):
                    problem = f"value of {_show(key)} {_unstorable(item)}"
                if problem:
                    raise ValueError(_field_error("props", problem))


def _is_absolute_url(value: str, schemes: tuple[str, ...] | None) -> bool:
    if CONTROL.search(value):  # urlsplit silently drops tabs and newlines; a stored URL must not hide them
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if not parts.scheme or not parts.netloc or not parts.netloc.rpartition("@")[2]:
        return False
    return schemes is None or parts.scheme.lower() in schemes


def _origin_and_path(parts) -> tuple[str, str, str]:
    """(scheme, host[:port], path) of a split URL, lower-cased where case means nothing, without credentials.

    A page URL's host is IDNA-normalised (`normalise_host`), so stored URLs and sites agree.
    """
    netloc = parts.netloc.rpartition("@")[2].lower()
    host = normalise_host(parts.hostname or "")
    if host is not None and host != (parts.hostname or "").lower():
        port = netloc.rpartition(":")[2] if netloc.rpartition("]")[2].count(":") == 1 else ""
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return parts.scheme.lower(), netloc, parts.path


def clean_page_url(url: str, keep_query: tuple[str, ...] = config.DEFAULT_KEEP_QUERY) -> str:
    """The page URL as stored: scheme, host and path, plus `utm_*` and `keep_query` parameters; never the fragment.

    Kept parameters stay as sent (same order and encoding); everything else in a query
    (tokens, e-mail addresses, search terms) is dropped before anything is written.
    """
    parts = urlsplit(url)
    kept = []
    for pair in parts.query.split("&") if parts.query else ():
        name = unquote_plus(pair.partition("=")[0]).strip().lower()
        if name.startswith("utm_") or name in keep_query:
            kept.append(pair)
    return urlunsplit((*_origin_and_path(parts), "&".join(kept), ""))


def clean_referrer(url: str) -> str:
    """The referrer as stored: scheme, host and path only (its query and fragment belong to another site)."""
    return urlunsplit((*_origin_and_path(urlsplit(url)), "", ""))


def _to_seconds(value: float | int, name: str = "timestamp") -> float:
    """Epoch seconds of a client time (seconds, or milliseconds above 10^11); ValueError if not finite."""
    try:
        number = float(value)  # an int beyond float range raises OverflowError
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(_field_error(name, "is not a finite number"))
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
        if CONTROL.search(key):
            raise ValueError(_field_error("props", f"has a key with control characters ({_show(key)})"))
        if isinstance(value, str) and len(value) > config.MAX_PROP_VALUE_CHARS:
            raise ValueError(_field_error("props", f"value of {_show(key)} has {len(value)} characters"))
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(_field_error("props", f"value of {_show(key)} is not a finite number"))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > config.MAX_PROP_NUMBER:
            raise ValueError(_field_error("props", f"value of {_show(key)} is beyond ±10^38"))
    return dict(props)


def _check_engagement(props: dict[str, Any], page_url: str | None) -> None:
    """An engagement report: its page, and props engaged_seconds (a number >= 0) and/or scroll_depth (0-100)."""
    accepted = (f"`{ENGAGEMENT}` events report a page's `page_url` and props `{ENGAGED_SECONDS}` (seconds, a number "
                f">= 0) and/or `{SCROLL_DEPTH}` (a percentage, 0-100)")
    if page_url is None:
        raise ValueError(f"`page_url` is required for {ENGAGEMENT} events; accepted: {accepted}")
    if ENGAGED_SECONDS not in props and SCROLL_DEPTH not in props:
        raise ValueError(f"`props` of an {ENGAGEMENT} event has neither `{ENGAGED_SECONDS}` nor `{SCROLL_DEPTH}`; "
                         f"accepted: {accepted}")
    for name, high in ((ENGAGED_SECONDS, math.inf), (SCROLL_DEPTH, 100)):
        value = props.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value <= high):
            raise ValueError(f"`props.{name}` is {_show(str(value))}; accepted: {accepted}")


def _pydantic_message(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ()
    name = str(loc[0]) if loc else ""
    if first.get("type") == "extra_forbidden":
        shown = f"`{name}`" if name.isprintable() and len(name) <= config.MAX_PROP_KEY_CHARS else _show(name)
        return f"unknown field {shown}; accepted fields: {FIELDS}"
    if first.get("type") == "missing":
        return _field_error(name, "is required")
    if name in ACCEPTED:
        got = type(first.get("input")).__name__ if first.get("input") is not None else "null"
        return _field_error(name, f"has the wrong type ({got})")
    return first.get("msg", "invalid event")


def validate_event(raw: Any, now: float, *, max_age_seconds: float | None = None,
                   keep_query: tuple[str, ...] | None = None) -> Event:
    """Validate one raw event object; raises ValueError with a message naming the field.

    `max_age_seconds` widens the accepted past (history import); the default is 24 h.
    `keep_query` lists the query parameters kept in `page_url` besides `utm_*`
    (default: LIVEINSIGHT_KEEP_QUERY).
    """
    if not isinstance(raw, dict):
        raise ValueError(f"each event must be a JSON object, not {_json_type(raw)}; accepted fields: {FIELDS}")
    _check_strings(raw)
    try:
        model = EventIn.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(_pydantic_message(exc)) from None
    if not EVENT_TYPE_PATTERN.fullmatch(model.event_type):  # match's `$` lets a trailing newline through
        raise ValueError(_field_error("event_type", f"is {_show(model.event_type)}"))
    if model.session_id is not None and not (
        1 <= len(model.session_id) <= config.MAX_SESSION_ID_CHARS and model.session_id.isprintable()
    ):
        raise ValueError(_field_error("session_id", f"has {len(model.session_id)} characters or unprintable ones"))
    timestamp, client_ts = _normalise_timestamp(_received_time(model.timestamp, model.sent_at, now), now,
                                                max_age_seconds or config.MAX_EVENT_AGE_SECONDS)
    if model.page_url is not None and (
        len(model.page_url) > config.MAX_URL_CHARS or not _is_absolute_url(model.page_url, ("http", "https"))
    ):
        raise ValueError(_field_error("page_url", f"is {_show(model.page_url)}"))
    if model.page_url is not None and normalise_host(urlsplit(model.page_url).hostname or "") is None:
        raise ValueError(_field_error("page_url", f"has a host that is not a host name ({_show(urlsplit(model.page_url).hostname or '')})"))
    if model.page_url is None and model.event_type == PAGE_VIEW:
        raise ValueError(_field_error("page_url", "is required for page_view events"))
    if model.referrer and (len(model.referrer) > config.MAX_URL_CHARS or not _is_absolute_url(model.referrer, None)):
        raise ValueError(_field_error("referrer", f"is {_show(model.referrer)}"))
    if model.user_agent is not None and (
        len(model.user_agent) > config.MAX_USER_AGENT_CHARS or CONTROL.search(model.user_agent)
    ):
        raise ValueError(_field_error("user_agent", f"has {len(model.user_agent)} characters or control characters"))
    if model.event_id is not None and not (
        1 <= len(model.event_id) <= config.MAX_EVENT_ID_CHARS and not CONTROL.search(model.event_id)
    ):
        raise ValueError(_field_error("event_id", f"has {len(model.event_id)} characters or control characters"))
    if model.tz is not None and not is_zone_name(model.tz):
        raise ValueError(_field_error("tz", f"is {_show(model.tz)}"))
    if model.event_type == ENGAGEMENT:
        _check_engagement(model.props or {}, model.page_url)
    keep = config.keep_query_from_env() if keep_query is None else keep_query
    return Event(
        event_type=model.event_type,
        timestamp=timestamp,
        session_id=model.session_id,
        page_url=clean_page_url(model.page_url, keep) if model.page_url is not None else None,
        referrer=clean_referrer(model.referrer) if model.referrer else None,
        user_agent=model.user_agent,
        event_id=model.event_id,
        props=_check_props(model.props),
        client_timestamp=client_ts,
        client_event_id=model.event_id is not None,
        tz=model.tz,
    )


def _received_time(timestamp: float | int | None, sent_at: float | int | None, now: float) -> float | int | None:
    """The event time on the server's clock: with `sent_at`, `now` minus the event's age on the sender's clock.

    A visitor's clock may be minutes or hours off; the age of an event (sent_at - timestamp,
    both on that clock) is not, so a phone 10 minutes fast is stamped right, and an event
    held in a retry queue keeps its real time.
    """
    if sent_at is None:
        return timestamp
    sent = _to_seconds(sent_at, "sent_at")
    if timestamp is None:
        return None
    age = max(0.0, sent - _to_seconds(timestamp))
    return now - age


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def decode_body(body: bytes | str | None) -> Any:
    """Decode a JSON body (application/json or text/plain); 413 over 256 KiB, 400 if not JSON.

    Bytes that are not UTF-8 become lone surrogates (surrogateescape) instead of failing
    the whole body, so the event holding them is rejected by name and its neighbours kept.
    """
    if body is None or body == b"" or body == "":
        raise InvalidRequest("the request body is empty; send one event object or {\"events\": [...]} as JSON")
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > config.MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the request body is {len(raw)} bytes; at most {config.MAX_BODY_BYTES} bytes (256 KiB) are accepted"
        )
    text = body if isinstance(body, str) else body.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text.removeprefix("\ufeff"), parse_int=_parse_int, parse_constant=_constant)
    except RecursionError:
        raise InvalidRequest(_TOO_DEEP) from None
    except ValueError as exc:  # not JSON
        raise InvalidRequest(f"the request body is not valid JSON ({exc}); send one event object or "
                             "{\"events\": [...]}") from None


# An event is at most 4 levels deep; anything nested deeper inside one event is that
# event's wrong type (its neighbours are kept). Only nesting the parser itself cannot
# follow (about 900 levels: a RecursionError) refuses the whole body.
_TOO_DEEP = ("the request body is nested too deeply to read; an event is an object of strings, numbers and "
             "one `props` object: at most {\"events\": [{\"props\": {...}}]}")


def _parse_int(literal: str) -> int | float:
    """An integer literal; one too long for any field is infinity (rejected by the field), not a ValueError."""
    if len(literal) > MAX_INT_DIGITS:
        return -math.inf if literal.startswith("-") else math.inf
    return int(literal)


def _constant(name: str) -> float:
    """NaN and ±Infinity are not JSON, but Python's json.dumps writes them: the field says it wants a finite number."""
    return float(name)


def split_batch(payload: Any) -> list[Any]:
    """The list of raw events in a decoded body: one object, or `{"events": [...]}` of 1-500."""
    if isinstance(payload, dict) and "events" in payload:
        extra = sorted(set(payload) - {"events"})
        if extra:
            shown = f"`{extra[0]}`" if extra[0].isprintable() and len(extra[0]) <= MAX_SHOWN_CHARS else _show(extra[0])
            raise InvalidRequest(f"unknown top-level field {shown} next to `events`; a batch is "
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


def parse_events(raw_events: list[Any], now: float, keep_query: tuple[str, ...] | None = None,
                 ) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """Validate every raw event; returns (index, event) pairs and the rejections."""
    accepted: list[tuple[int, Event]] = []
    rejected: list[Rejection] = []
    keep = config.keep_query_from_env() if keep_query is None else keep_query
    for index, raw in enumerate(raw_events):
        try:
            accepted.append((index, validate_event(raw, now, keep_query=keep)))
        except ValueError as exc:
            rejected.append(Rejection(index, str(exc)))
    return accepted, rejected
