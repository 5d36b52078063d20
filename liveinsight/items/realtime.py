"""Realtime items of the stats table: who was active in one minute, split in shards by visit.

    pk = "rt#<site>#<shard>"      shard = visit hash mod SHARDS, so one item holds ~1/SHARDS of a minute
    sk = "<minute start>"         (zero-padded; a Query reads the last 30-60 minutes)
    c  = zlib JSON blob:
         a   {visit hash: second of the minute last seen}             active visits
         p   {page: {visit hash: second}}, pv {page: page views}      per page
         s   {source: {visit hash: second}}, sv {source: page views}  per source
         e   {event type: events}, pe {page: {event type: events}}
         r   [[time, event type, page, source], …] the newest RECENT events (no visit ids)
    v, ap, sv, ttl as rollup items; items expire after TTL_SECONDS.

An item only ever holds one minute, so its size follows the traffic of that minute, never
the pages or visits seen before: idle pages drop out with their minute. Visit hashes are
32 bits of a keyed digest, never the session id. MAX_VISITS bounds an item (20,000
concurrent visits spread over SHARDS items per minute stay far below it).
"""
from __future__ import annotations

from typing import Any, Iterable

from .rollups import NO_SITE
from .sessions import DIRECT, short_hash

SHARDS = 8
RECENT = 20
TTL_SECONDS = 2 * 3600
MAX_VISITS = 6000       # per item; beyond it a minute's visits are counted in `e`/`pv` only
MAX_PAGE_VISITS = 6000  # (page, visit) pairs per item


def visit_hash(session_id: str) -> str:
    return short_hash("rt:" + session_id, 8)


def shard_of(visit: str) -> int:
    return int(visit, 16) % SHARDS


def pk(site: str, shard: int) -> str:
    return f"rt#{site or NO_SITE}#{shard}"


def sk(minute: int) -> str:
    return f"{int(minute):010d}"


def new_delta() -> dict[str, Any]:
    return {"a": {}, "p": {}, "pv": {}, "s": {}, "sv": {}, "e": {}, "pe": {}, "r": []}


def add_event(delta: dict, visit: str, second: int, event_type: str, page: str | None, source: str | None,
              ts: float, is_view: bool) -> None:
    """Count one event; a `source` of None (not known yet) leaves the per-source maps alone."""
    delta["a"][visit] = max(second, delta["a"].get(visit, 0))
    delta["e"][event_type] = delta["e"].get(event_type, 0) + 1
    if source is not None:
        seen = delta["s"].setdefault(source, {})
        seen[visit] = max(second, seen.get(visit, 0))
    if page is not None:
        on_page = delta["p"].setdefault(page, {})
        on_page[visit] = max(second, on_page.get(visit, 0))
        types = delta["pe"].setdefault(page, {})
        types[event_type] = types.get(event_type, 0) + 1
    if is_view:
        if source is not None:
            delta["sv"][source] = delta["sv"].get(source, 0) + 1
        if page is not None:
            delta["pv"][page] = delta["pv"].get(page, 0) + 1
    delta["r"].append([round(ts, 3), event_type, page, DIRECT if source is None else source])


def _latest(into: dict, visits: dict, room: int) -> None:
    for visit, second in visits.items():
        if visit in into:
            into[visit] = max(into[visit], second)
        elif room > 0:
            into[visit] = second
            room -= 1


def merge(blob: dict, delta: dict) -> dict:
    """Union the visit maps, add the counts, keep the newest events."""
    active = blob.setdefault("a", {})
    _latest(active, delta["a"], MAX_VISITS - len(active))
    for key, count_key in (("p", "pv"), ("s", "sv")):
        groups = blob.setdefault(key, {})
        pairs = sum(len(v) for v in groups.values())
        for name, visits in delta[key].items():
            group = groups.setdefault(name, {})
            before = len(group)
            _latest(group, visits, MAX_PAGE_VISITS - pairs)
            pairs += len(group) - before
        counts = blob.setdefault(count_key, {})
        for name, n in delta[count_key].items():
            counts[name] = counts.get(name, 0) + n
    types = blob.setdefault("e", {})
    for name, n in delta["e"].items():
        types[name] = types.get(name, 0) + n
    by_page = blob.setdefault("pe", {})
    for page, counts in delta["pe"].items():
        into = by_page.setdefault(page, {})
        for name, n in counts.items():
            into[name] = into.get(name, 0) + n
    blob["r"] = sorted(blob.get("r", []) + delta["r"], key=lambda row: row[0], reverse=True)[:RECENT]
    return blob


def active(blobs: Iterable[tuple[int, dict]], since: float, key: str | None = None,
           name: str | None = None) -> set[str]:
    """Visits last seen at or after `since` in (minute, blob) pairs: all, or of one page/source."""
    visits: set[str] = set()
    for minute, blob in blobs:
        if minute + 59 < since:
            continue
        group = blob.get("a", {}) if key is None else blob.get(key, {}).get(name, {})
        visits.update(v for v, second in group.items() if minute + second >= since)
    return visits
