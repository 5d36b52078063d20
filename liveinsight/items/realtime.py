"""Realtime items of the stats table: who was active in five seconds, split in shards by visit.

    pk = "rt#<site>#<shard>"      shard = visit hash mod the batch's shard count (`shards_for`)
    sk = "<bucket start>"         a multiple of BUCKET_SECONDS (zero-padded; a Query reads the last 30 minutes)
    c  = zlib JSON blob:
         a   {visit hash: second of the bucket last seen}             active visits
         p   {page: {visit hash: second}}                              per page (page views: pe)
         s   {source: {visit hash: second}}, sv {source: page views}  per source
         e   {event type: events}, pe {page: {event type: events}}
         r   [[time, event type, page, source], …] the newest RECENT events (no visit ids)
    v, ap, sv, ttl as rollup items; items expire after TTL_SECONDS.

An item only ever holds five seconds, so its size follows the traffic of those seconds, never
the pages or visits seen before: idle pages drop out with their bucket. Visit hashes are
32 bits of a keyed digest, never the session id. MAX_VISITS bounds an item.

Why five seconds and a shard count per batch: the realtime consumer rewrites every item its
batch touches once a second, so an event costs its bytes times the writes of its item after
it, and every touched item at least one write unit. On bench/cost.py's shop at 10 events/s,
minute items in 8 shards cost 1.16 write units per event, ten-second items in one shard per
100 events of a batch (at most SHARDS) 0.27, five-second ones 0.20 (reads of the last 30
minutes grow instead: more, smaller items). Items of a bucket are unioned by the reader, so a
visit may sit in different shards in different batches.
"""
from __future__ import annotations

from typing import Any, Iterable

from .rollups import NO_SITE
from .events import PAGE_VIEW
from .sessions import DIRECT, short_hash

SHARDS = 8                 # at most; a Query per shard reads them
BUCKET_SECONDS = 5
EVENTS_PER_SHARD = 100     # of one batch
RECENT = 20
TTL_SECONDS = 2 * 3600
MAX_VISITS = 6000       # per item; beyond it a bucket's visits are counted in `e`/`pe` only
MAX_PAGE_VISITS = 6000  # (page, visit) pairs per item


def visit_hash(session_id: str) -> str:
    return short_hash("rt:" + session_id, 8)


def shards_for(events: int) -> int:
    """The shards a batch of `events` spreads its realtime items over."""
    return max(1, min(SHARDS, -(-events // EVENTS_PER_SHARD)))


def shard_of(visit: str, shards: int) -> int:
    return int(visit, 16) % shards


def bucket_start(ts: float) -> int:
    return int(ts // BUCKET_SECONDS * BUCKET_SECONDS)


def pk(site: str, shard: int) -> str:
    return f"rt#{site or NO_SITE}#{shard}"


def sk(start: int) -> str:
    return f"{int(start):010d}"


def new_delta() -> dict[str, Any]:
    return {"a": {}, "p": {}, "s": {}, "c": {}, "sv": {}, "e": {}, "pe": {}, "r": []}


def add_event(delta: dict, visit: str, second: int, event_type: str, page: str | None, source: str | None,
              ts: float, is_view: bool, country: str | None = None) -> None:
    """Count one event; a `source` of None (not known yet) leaves the per-source maps alone."""
    delta["a"][visit] = max(second, delta["a"].get(visit, 0))
    if country is not None:
        in_country = delta.setdefault("c", {}).setdefault(country, {})
        in_country[visit] = max(second, in_country.get(visit, 0))
    delta["e"][event_type] = delta["e"].get(event_type, 0) + 1
    if source is not None:
        seen = delta["s"].setdefault(source, {})
        seen[visit] = max(second, seen.get(visit, 0))
    if page is not None:
        on_page = delta["p"].setdefault(page, {})
        on_page[visit] = max(second, on_page.get(visit, 0))
        types = delta["pe"].setdefault(page, {})
        types[event_type] = types.get(event_type, 0) + 1
    if is_view and source is not None:
        delta["sv"][source] = delta["sv"].get(source, 0) + 1
    delta["r"].append([round(ts, 3), event_type, page, DIRECT if source is None else source])


def page_views(blob: dict, page: str | None = None) -> int:
    """Page views in an item: of one page, or of all (a page's page views are its `page_view` events)."""
    by_page = blob.get("pe", {})
    pages = [by_page.get(page, {})] if page is not None else by_page.values()
    return sum(types.get(PAGE_VIEW, 0) for types in pages)


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
    for key in ("p", "s", "c"):
        if key not in delta:
            continue
        groups = blob.setdefault(key, {})
        pairs = sum(len(v) for v in groups.values())
        for name, visits in delta[key].items():
            group = groups.setdefault(name, {})
            before = len(group)
            _latest(group, visits, MAX_PAGE_VISITS - pairs)
            pairs += len(group) - before
    counts = blob.setdefault("sv", {})
    for name, n in delta["sv"].items():
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
    """Visits last seen at or after `since` in (bucket start, blob) pairs: all, or of one page/source.

    (Items written before ten-second buckets hold a minute: their seconds go up to 59.)
    """
    visits: set[str] = set()
    for start, blob in blobs:
        if start + 59 < since:
            continue
        group = blob.get("a", {}) if key is None else blob.get(key, {}).get(name, {})
        visits.update(v for v, second in group.items() if start + second >= since)
    return visits
