"""The raw event item of the events table: the deployed schema plus one enrichment attribute.

Hash key `session_id`, range key `timestamp`: the event time in ms followed by 15 digits
derived from the event id, so two events of one session in the same second are both kept
and a retry of the same event (same id and time) overwrites instead of adding.
"""
from __future__ import annotations

import hashlib
import json
from decimal import ROUND_FLOOR, Decimal
from typing import Any

# The attribute holding enrichment (page, site, source, browser, props, …) as one JSON
# string: moto's cost per item grows with the attribute count, and nothing queries these fields.
ENRICHMENT = "x"
PAGE_VIEW = "page_view"  # the event type of a page view (the event model and the aggregator import it)
# The tracker's report of a page view's engaged time and deepest scroll, sent when the page is
# hidden: not an interaction (never un-bounces a visit) and not counted as an event.
ENGAGEMENT = "engagement"
ENGAGED_SECONDS, SCROLL_DEPTH = "engaged_seconds", "scroll_depth"
# The recount job's marker (liveinsight/recount.py): one item per session id and definition recounted, in the
# session's partition so the stream delivers it in order with the session's events. Its type is one no
# sender can send (the event model accepts letters, digits and _ - . : only); its `recount` attribute is
# [kind, name, since] of the definition; its key is the same each time the job writes it, and the job
# writes it only where there is none, so a job run again adds no marker twice.
RECOUNT = "#recount"
MILLISECOND = Decimal("0.001")


def range_key(timestamp: float, event_id: str) -> Decimal:
    """The range key: the time in ms followed by 15 digits derived from `event_id`."""
    digest = int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")
    return Decimal(f"{timestamp:.3f}{digest % 10**15:015d}")


def event_time(key: Any) -> float:
    """The event time (ms precision) of a range key."""
    return float(Decimal(str(key)).quantize(MILLISECOND, rounding=ROUND_FLOOR))


def event_item(*, session_id: str, timestamp: float, event_id: str, event_type: str, page_url: str | None,
               user_agent: str | None, referrer: str | None, ttl: int, enrichment: dict[str, Any]) -> dict[str, Any]:
    """An events-table item (attributes that are None are left out when written)."""
    return {
        "session_id": session_id,
        "timestamp": range_key(timestamp, event_id),
        "event_type": event_type,
        "page_url": page_url,
        "user_agent": user_agent or None,
        "referrer": referrer,
        "ttl": ttl,
        ENRICHMENT: json.dumps({k: v for k, v in {"event_id": event_id, **enrichment}.items() if v is not None},
                               separators=(",", ":")),
    }


def unpack(item: dict[str, Any]) -> dict[str, Any]:
    """An events-table item with its enrichment attributes spread out."""
    extra = item.get(ENRICHMENT)
    if not extra:
        return item
    return {**json.loads(extra), **{k: v for k, v in item.items() if k != ENRICHMENT}}


def recount_marker(*, session_id: str, site: str, kind: str, name: str, since: int, ttl: int,
                   ids: list[str] | None = None) -> dict[str, Any]:
    """The recount job's marker for one visitor and definition (see RECOUNT), in the partition of the
    visitor's first id; `ids`: all its ids by day (a visit that crossed midnight continues under the next)."""
    return event_item(session_id=session_id, timestamp=float(since), event_id=f"recount\t{kind}\t{name}\t{since}",
                      event_type=RECOUNT, page_url=None, user_agent=None, referrer=None, ttl=ttl,
                      enrichment={"site": site, "recount": [kind, name, since],
                                  "ids": ids if ids and ids != [session_id] else None})


def is_recount(event: dict[str, Any]) -> bool:
    return event.get("event_type") == RECOUNT
