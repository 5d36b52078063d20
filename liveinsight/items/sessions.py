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
MAX_RECORDED = 300  # (minute, page, event type) counts a visit remembers, to move them with its origin
MAX_VISITOR_KEYS = 120  # values a visitor is counted under in a day (beyond, only as a visitor of the site)
DAYS_KEPT = 2       # the visitor's days remembered: today, and yesterday for a visit that crosses midnight
DAY = 86400
EVERYTHING = "*"    # the visitor key of "any event": a visitor of the site
FUNNEL_STEP = "fs"  # the visitor key dimension of a funnel's step reached: "<funnel>\t<step>"
MAX_GROUPS = 20     # page groups a visit is counted under
MAX_GOALS = 30      # goals likewise (config.MAX_GOALS bounds a site's)
MAX_STEP_TIMES = 8  # times a visit remembers of each funnel step's goal


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
    channel: str = DIRECT
    utm: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None)  # source, medium, term, content
    country: str = UNKNOWN
    region: str | None = None
    city: str | None = None
    from_view: bool = False                                  # the origin is a page view's
    exit: str | None = None                                  # the page of the visit's latest page view
    exit_at: float = 0.0
    tail: tuple[float, float] = (0.0, 0.0)                   # (time, engaged seconds) of the latest engagement
    user_agent: str | None = None
    initial_referrer: str | None = None
    pages: list[str] = field(default_factory=list)          # page labels, in order of first event
    types: list[str] = field(default_factory=list)          # event types, in order of first event
    pairs: set[tuple[int, int]] = field(default_factory=set)  # (page index, type index) seen
    ids: list[str] = field(default_factory=list)
    # The visitor (this item's key is the visitor's id for the day): per local day start (the site's zone), the
    # minute of the day each value was first seen, of events and of ended visits' origins,
    # and the first minute of the current visit in each day it reached.
    days: dict[int, dict[str, int]] = field(default_factory=dict)
    visit_days: dict[int, int] = field(default_factory=dict)
    # The visit's events by "<minute>:<page index or ->:<type index>": what a late event that
    # changes the visit's origin moves from the old source and place to the new.
    counts: dict[str, int] = field(default_factory=dict)
    # The site's definitions the visit is counted under (liveinsight.items.definitions), as counted, so a
    # definition changed meanwhile never unbalances what a batch takes back: page groups with the indexes
    # of the visit's pages in them, goals converted, the times of the funnel steps' goals (the earliest
    # MAX_STEP_TIMES each), the furthest step reached of each funnel, and revenue by goal and currency
    # (thousandths).
    groups: dict[str, list[int]] = field(default_factory=dict)
    goals: list[str] = field(default_factory=list)
    step_times: dict[str, list[float]] = field(default_factory=dict)
    funnels: dict[str, int] = field(default_factory=dict)
    revenue: dict[str, dict[str, int]] = field(default_factory=dict)
    # The events counted under each page group and goal, {visitor key of the definition ("pgr\t<name>",
    # "gl\t<name>"): {"<minute>:<type index>": events}}: what a late event that changes the visit's source
    # moves between the definition's source slices, and the event types of its visit-level slices. At most
    # MAX_RECORDED minutes in all, beyond which only a definition's first event of a type is recorded.
    converted: dict[str, dict[str, int]] = field(default_factory=dict)
    # The definitions recounted over this visitor's raw events (`items.definitions.recount_tag`): they count
    # its events older than their `since` too, as they would have had they existed then.
    recounted: list[str] = field(default_factory=list)

    @property
    def bounce(self) -> bool:
        return self.events == 1 and self.page_views == 1

    @property
    def duration(self) -> float:
        """Last event minus first, plus the engaged time the last page reported after it."""
        at, engaged = self.tail
        return max(0.0, self.last - self.start) + (engaged if at >= self.last else 0.0)

    @classmethod
    def begin(cls, event: dict[str, Any], ts: float, visitor: "SessionState | None" = None) -> "SessionState":
        """A new visit of `event`; `visitor`: the same visitor's previous visit, whose days it continues."""
        state = cls(session_id=event["session_id"], site=event.get("site") or "", start=ts, last=ts)
        state.take_origin(event)
        if visitor is not None:
            visitor.end_visit()
            state.days = {day: dict(keys) for day, keys in visitor.days.items()}
            state.recounted = list(visitor.recounted)
        return state

    def take_origin(self, event: dict[str, Any]) -> None:
        """Entry page, source, referrer, campaign, place and client of the visit's earliest event."""
        self.source = event.get("source") or DIRECT
        self.referrer = event.get("referrer_host")
        self.entry = event.get("page")
        self.campaign = event.get("utm_campaign")
        self.channel = event.get("channel") or DIRECT
        self.utm = (event.get("utm_source"), event.get("utm_medium"), event.get("utm_term"), event.get("utm_content"))
        self.browser = event.get("browser") or UNKNOWN
        self.os = event.get("os") or UNKNOWN
        self.device = event.get("device") or UNKNOWN
        self.country, self.region, self.city = place_of(event)
        self.from_view = event.get("event_type") == "page_view"
        self.user_agent = event.get("user_agent")
        self.initial_referrer = event.get("referrer")

    def record(self, ts: float, page_index: int | None, type_index: int) -> None:
        key = f"{int(ts // 60)}:{'-' if page_index is None else page_index}:{type_index}"
        if key in self.counts or len(self.counts) < MAX_RECORDED:
            self.counts[key] = self.counts.get(key, 0) + 1

    def record_conversion(self, definition: str, ts: float, type_index: int) -> None:
        """One event of type `type_index` counted under `definition` (a visitor key: "pgr\t<name>", "gl\t<name>")."""
        minutes = self.converted.setdefault(definition, {})
        key = f"{int(ts // 60)}:{type_index}"
        full = sum(map(len, self.converted.values())) >= MAX_RECORDED
        if key in minutes or not full or not any(k.endswith(f":{type_index}") for k in minutes):
            minutes[key] = minutes.get(key, 0) + 1

    def conversions(self, definition: str) -> list[tuple[float, str, int]]:
        """(minute start, event type, events) of the events recorded under `definition`."""
        out = []
        for key, count in self.converted.get(definition, {}).items():
            minute, type_index = key.split(":")
            out.append((int(minute) * 60.0, self.types[int(type_index)], count))
        return out

    def converted_types(self, definition: str) -> list[str]:
        """The event types of the visit's events counted under `definition`, in the visit's order."""
        indexes = {int(key.split(":")[1]) for key in self.converted.get(definition, {})}
        return [self.types[i] for i in sorted(indexes)]

    def recorded(self) -> list[tuple[float, str | None, str, int]]:
        """(minute start, page, event type, events) of the events recorded so far."""
        out = []
        for key, count in self.counts.items():
            minute, page, event_type = key.split(":")
            out.append((int(minute) * 60.0, None if page == "-" else self.pages[int(page)],
                        self.types[int(event_type)], count))
        return out

    # -- the visitor ------------------------------------------------------------------

    def campaign_values(self) -> list[tuple[str, str]]:
        """(dimension, value) of the visit's channel and UTM tags: "ch", then "us", "um", "cp", "ut", "uc"
        for the tags it has (liveinsight.items.rollups.CAMPAIGN_FILTERS)."""
        source, medium, term, content = self.utm
        tags = (("us", source), ("um", medium), ("cp", self.campaign), ("ut", term), ("uc", content))
        return [("ch", self.channel)] + [(dim, value) for dim, value in tags if value]

    def origin_keys(self) -> list[str]:
        """The visitor keys of the visit's origin: its source, place, channel and UTM tags."""
        keys = [visitor_key("s", self.source), visitor_key("c", self.country)]
        keys += [visitor_key(dim, value) for dim, value in self.campaign_values()]
        keys += [visitor_key(FUNNEL_STEP, f"{name}\t{step}") for name, furthest in sorted(self.funnels.items())
                 for step in range(1, furthest + 1)]
        if self.region:
            keys.append(visitor_key("r", self.region))
        if self.city:
            keys.append(visitor_key("ci", self.city))
        return keys

    def see(self, ts: float, keys: list[str], day: int | None = None) -> None:
        """The visitor had an event at `ts` under `keys` (event-level values); the visit reached its day
        (`day`: the start of the local day of the site's zone holding `ts`; UTC's when None)."""
        day, minute = day_and_minute(ts, day)
        seen = self.days.setdefault(day, {})
        for key in [EVERYTHING, *keys]:
            if key in seen:
                seen[key] = min(seen[key], minute)
            elif key == EVERYTHING or len(seen) < MAX_VISITOR_KEYS:
                seen[key] = minute
        self.visit_days[day] = min(self.visit_days.get(day, minute), minute)
        for old in sorted(self.days)[:-DAYS_KEPT]:
            self.days.pop(old, None)
            self.visit_days.pop(old, None)

    def end_visit(self) -> None:
        """Fold the current visit's origin into its days' keys (a next visit of the visitor begins)."""
        for day, minute in self.visit_days.items():
            seen = self.days.setdefault(day, {})
            for key in self.origin_keys():
                if key in seen or len(seen) < MAX_VISITOR_KEYS:
                    seen[key] = min(seen.get(key, minute), minute)
        self.visit_days = {}

    def absorb(self, other: "SessionState") -> None:
        """Take in the days of another visit of this visitor (an earlier one that arrived late)."""
        other.end_visit()
        for day, keys in other.days.items():
            seen = self.days.setdefault(day, {})
            for key, minute in keys.items():
                if key in seen or len(seen) < MAX_VISITOR_KEYS:
                    seen[key] = min(seen.get(key, minute), minute)

    def visitor_keys(self) -> dict[tuple[int, str], int]:
        """{(day, key): minute of the day}: where the visitor is counted, the current visit's origin included."""
        out = {(day, key): minute for day, keys in self.days.items() for key, minute in keys.items()}
        for day, minute in self.visit_days.items():
            for key in self.origin_keys():
                if (day, key) in out or len(self.days.get(day, {})) < MAX_VISITOR_KEYS:
                    out[(day, key)] = min(out.get((day, key), minute), minute)
        return out

    def furthest(self, steps: tuple[str, ...] | list[str]) -> int:
        """How many of `steps` (goal names) the visit reached in order, each after the one before it by time
        (the earliest time of each step that follows the previous step's)."""
        at, reached = float("-inf"), 0
        for goal in steps:
            later = [t for t in self.step_times.get(goal, []) if t >= at]
            if not later:
                break
            at, reached = min(later), reached + 1
        return reached

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
            "co": self.country, "rg": self.region, "cy": self.city, "fv": self.from_view,
            "ch": self.channel, "ut": list(self.utm), "ex": self.exit, "xa": self.exit_at, "tl": list(self.tail),
            "vd": {str(day): keys for day, keys in self.days.items()},
            "vv": {str(day): minute for day, minute in self.visit_days.items()},
            "n": self.counts,
        }
        if self.groups or self.goals or self.funnels:
            state.update(gr=self.groups, gl=self.goals, gt=self.step_times, fn=self.funnels, rv=self.revenue,
                         cv=self.converted)
        if self.recounted:
            state["rc"] = self.recounted
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
            country=s.get("co", UNKNOWN), region=s.get("rg"), city=s.get("cy"), from_view=s.get("fv", False),
            channel=s.get("ch", DIRECT), utm=tuple(s.get("ut") or (None, None, None, None)),
            exit=s.get("ex"), exit_at=s.get("xa", 0.0), tail=tuple(s.get("tl") or (0.0, 0.0)),
            days={int(day): dict(keys) for day, keys in s.get("vd", {}).items()},
            visit_days={int(day): minute for day, minute in s.get("vv", {}).items()},
            counts=dict(s.get("n", {})),
            groups={name: list(pages) for name, pages in s.get("gr", {}).items()}, goals=list(s.get("gl", [])),
            step_times={name: list(times) for name, times in s.get("gt", {}).items()},
            funnels=dict(s.get("fn", {})), revenue={goal: dict(v) for goal, v in s.get("rv", {}).items()},
            converted={key: dict(v) for key, v in s.get("cv", {}).items()}, recounted=list(s.get("rc", [])),
        )


def visitor_key(dim: str, value: str) -> str:
    """A visitor key: the dimension letter and the value (a page label, a source, a country code…)."""
    return f"{dim}\t{value}"


def key_parts(key: str) -> tuple[str, str | None]:
    """(dimension, value) of a visitor key; ("*", None) for the visitor of the site."""
    if key == EVERYTHING:
        return EVERYTHING, None
    dim, value = key.split("\t", 1)
    return dim, value


def day_and_minute(ts: float, day: int | None = None) -> tuple[int, int]:
    """The start of the day holding `ts` (`day`, a local day's, else the UTC day's) and the minutes since
    it (up to 1,499 on a 25-hour day)."""
    day = int(ts // DAY) * DAY if day is None else day
    return day, int(ts - day) // 60


def place_of(event: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(country, region, city label) of an event: "Unknown" without a country; a city is labelled
    "<region or country>/<name>" so two Springfields stay apart."""
    country = event.get("country") or UNKNOWN
    if country == UNKNOWN:
        return UNKNOWN, None, None
    region = event.get("region") or None
    city = event.get("city") or None
    return country, region, f"{region or country}/{city}" if city else None
