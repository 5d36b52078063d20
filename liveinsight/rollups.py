"""The rollup data model shared by the aggregator (writer) and the read APIs.

A rollup item holds, for one time bucket and one *dimension set*, the counters of every
filter value seen in that bucket, as one zlib-compressed JSON attribute `c`:

    pk = "h#1764374400#p"   (granularity # bucket start # dimension set)
    c  = {"/pricing": {counters}, "/": {counters}, ...}
    v  = version (optimistic concurrency), ttl = expiry

Dimension sets are the filter combinations the stats API accepts: `*` (no filter), `p`
(page), `s` (source), `e` (event_type) and their AND combinations. See docs/data-model.md.
"""
from __future__ import annotations

import json
import zlib
from typing import Any, Iterable

MINUTE, HOUR, DAY = "minute", "hour", "day"
GRANULARITY_SECONDS = {MINUTE: 60, HOUR: 3600, DAY: 86400}
GRANULARITY_CODE = {MINUTE: "m", HOUR: "h", DAY: "d"}
DIMSETS = ("*", "p", "s", "e", "ps", "pe", "se", "pse")
SEP = "\x1f"

# Realtime items: one per dimension set the realtime API reads.
RT_ALL, RT_PAGE, RT_SOURCE, RT_PAGE_SOURCE = "rt#*", "rt#p", "rt#s", "rt#ps"
RECENT_EVENTS = 20

# Counter names inside a filter value's counters.
EVENTS, PAGE_VIEWS, SESSIONS, BOUNCES, DURATION, BOTS = "ev", "pv", "ss", "bo", "du", "bot"
EVENT_TYPES, SOURCES, REFERRERS, PAGES, ENTRY_PAGES = "et", "src", "ref", "pg", "en"
BROWSERS, OPERATING_SYSTEMS, DEVICES, CAMPAIGNS = "br", "os", "dv", "cp"


def bucket_start(ts: float, granularity: str) -> int:
    """Start (epoch seconds, UTC) of the bucket of `granularity` holding `ts`."""
    size = GRANULARITY_SECONDS[granularity]
    return int(ts // size) * size


def rollup_pk(granularity: str, bucket: int, dimset: str) -> str:
    return f"{GRANULARITY_CODE[granularity]}#{bucket}#{dimset}"


def filter_dimset(page: str | None, source: str | None, event_type: str | None) -> tuple[str, str]:
    """(dimension set, filter value key) of a filter combination; no filter is ("*", "")."""
    code, parts = "", []
    for letter, value in (("p", page), ("s", source), ("e", event_type)):
        if value is not None:
            code += letter
            parts.append(value)
    return code or "*", SEP.join(parts)


def event_filter_keys(page: str | None, source: str, event_type: str) -> list[tuple[str, str]]:
    """Every (dimension set, key) an event counts under: each subset of its page/source/type."""
    keys = []
    for dimset in DIMSETS:
        if "p" in dimset and page is None:
            continue
        keys.append(filter_dimset(
            page if "p" in dimset else None,
            source if "s" in dimset else None,
            event_type if "e" in dimset else None,
        ))
    return keys


def encode(blob: Any) -> bytes:
    return zlib.compress(json.dumps(blob, separators=(",", ":")).encode(), 6)


def decode(data: bytes | None) -> Any:
    return json.loads(zlib.decompress(data)) if data else {}


def merge_into(target: dict, delta: dict) -> dict:
    """Add `delta`'s counters into `target` (numbers add, [a, b] pairs add element-wise)."""
    for key, value in delta.items():
        current = target.get(key)
        if isinstance(value, dict):
            target[key] = merge_into(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list):
            if not isinstance(current, list):
                target[key] = list(value)
            else:
                target[key] = [a + b for a, b in zip(current, value)]
        else:
            target[key] = (current or 0) + value
    return target


def merge_all(counters: Iterable[dict]) -> dict:
    total: dict = {}
    for c in counters:
        merge_into(total, c)
    return total


# -- realtime items -------------------------------------------------------------------

def merge_realtime(target: dict, delta: dict, horizon: float) -> dict:
    """Merge realtime state: last-seen maps take the max, recent lists keep the newest.

    Entries last seen before `horizon` are dropped so items stay small.
    """
    for key, value in delta.items():
        if key == "s":
            seen = target.setdefault("s", {})
            for sid, ts in value.items():
                if ts > seen.get(sid, 0):
                    seen[sid] = ts
            target["s"] = {sid: ts for sid, ts in seen.items() if ts >= horizon}
        elif key == "r":
            merged = sorted(target.get("r", []) + value, key=lambda e: e["timestamp"], reverse=True)
            target["r"] = merged[:RECENT_EVENTS]
        else:
            target[key] = merge_realtime(target.get(key, {}), value, horizon)
    return {k: v for k, v in target.items() if not (isinstance(v, dict) and not v)}


def active_count(state: dict, since: float) -> int:
    """Sessions last seen at or after `since` in a realtime state (`{"s": {sid: ts}}`)."""
    return sum(1 for ts in state.get("s", {}).values() if ts >= since)
