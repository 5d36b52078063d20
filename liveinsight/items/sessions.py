"""The sessions-table item: what the aggregator remembers about a visit between batches.

Hash key `session_id`. The deployed attributes `last_activity, start_time, user_agent,
initial_referrer` are kept; `is_active` is no longer written, so visits stay out of the
`ActivityIndex` GSI (one hot partition, and a second write for every session write).
`st` is the zlib-compressed JSON state below; `ap` is the ledger of applied positions (the
session is written after every rollup item of its batch, so a session that has applied a
batch proves the whole batch is applied). Typical item: ~400 bytes, one write unit.
"""
from __future__ import annotations

import hashlib
import json
import time
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .. import config
from . import SCHEMA_VERSION

DIRECT = "Direct"
UNKNOWN = "Unknown"
MAX_IDS = 40        # event-id hashes remembered to drop retried events that got a new key
MAX_PAGES = 50      # distinct pages a visit is counted under (the rest count as events only)
MAX_TYPES = 20      # distinct event types likewise


def short_hash(value: str, length: int = 12) -> str:
    """A short, stable hex digest: item keys and state refer to long values by it."""
    return hashlib.blake2b(value.encode(), digest_size=8).hexdigest()[:length]


@dataclass
class SessionState:
    """A visit: its first event sets start, entry page and source; the rest extend it."""

    session_id: str
    site: str
    start: float
    last: float
    events: int = 0
    page_views: int = 0
    source: str = DIRECT
    referrer: str | None = None
    entry: str | None = None
    browser: str = UNKNOWN
    os: str = UNKNOWN
    device: str = UNKNOWN
    campaign: str | None = None
    user_agent: str | None = None
    initial_referrer: str | None = None
    pages: list[str] = field(default_factory=list)          # page labels, in order of first event
    types: list[str] = field(default_factory=list)          # event types, in order of first event
    pairs: set[tuple[int, int]] = field(default_factory=set)  # (page index, type index) seen
    ids: list[str] = field(default_factory=list)

    @property
    def bounce(self) -> bool:
        return self.events == 1 and self.page_views == 1

    @property
    def duration(self) -> float:
        return max(0.0, self.last - self.start)

    @classmethod
    def begin(cls, event: dict[str, Any], ts: float) -> "SessionState":
        state = cls(session_id=event["session_id"], site=event.get("site") or "", start=ts, last=ts)
        state.take_origin(event)
        return state

    def take_origin(self, event: dict[str, Any]) -> None:
        """Entry page, source, referrer, campaign and client of the visit's earliest event."""
        self.source = event.get("source") or DIRECT
        self.referrer = event.get("referrer_host")
        self.entry = event.get("page")
        self.campaign = event.get("utm_campaign")
        self.browser = event.get("browser") or UNKNOWN
        self.os = event.get("os") or UNKNOWN
        self.device = event.get("device") or UNKNOWN
        self.user_agent = event.get("user_agent")
        self.initial_referrer = event.get("referrer")

    def index(self, values: list[str], value: str, limit: int) -> int | None:
        if value in values:
            return values.index(value)
        if len(values) >= limit:
            return None
        values.append(value)
        return len(values) - 1

    def to_item(self) -> dict[str, Any]:
        state = {
            "si": self.site, "s": self.start, "l": self.last, "e": self.events, "v": self.page_views,
            "src": self.source, "ref": self.referrer, "en": self.entry, "br": self.browser, "os": self.os,
            "dv": self.device, "cp": self.campaign, "pg": self.pages, "et": self.types,
            "pe": sorted(self.pairs), "ids": self.ids[-MAX_IDS:],
        }
        return {
            "session_id": self.session_id,
            "last_activity": Decimal(str(round(self.last, 3))),
            "start_time": Decimal(str(round(self.start, 3))),
            "user_agent": self.user_agent,
            "initial_referrer": self.initial_referrer,
            "ttl": int(max(self.last, time.time()) + config.SESSION_ITEM_TTL_SECONDS),
            "sv": SCHEMA_VERSION,
            "st": zlib.compress(json.dumps(state, separators=(",", ":")).encode(), 9),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "SessionState":
        s = json.loads(zlib.decompress(bytes(item["st"])))
        return cls(
            session_id=item["session_id"], site=s["si"], start=s["s"], last=s["l"], events=s["e"],
            page_views=s["v"], source=s["src"], referrer=s["ref"], entry=s["en"], browser=s["br"], os=s["os"],
            device=s["dv"], campaign=s["cp"], user_agent=item.get("user_agent"),
            initial_referrer=item.get("initial_referrer"), pages=list(s["pg"]), types=list(s["et"]),
            pairs={(a, b) for a, b in s["pe"]}, ids=list(s["ids"]),
        )
