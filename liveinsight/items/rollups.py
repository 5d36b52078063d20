"""Rollup items of the stats table: per-value counters with bounded breakdowns.

One item per (site, dimension value, hour) — and per day for the dimensions whose values
are few and shared by all traffic (everything, sources, event types). Pages, the long
tail, have hour items only: a day of one page is the sum of its hours at read time.

    pk = "<site>#<dim>#<value hash>"   dim: * (everything) | p page | s source | e event type |
                                       c country (its regions and cities are slices inside it)
         site `*` is the all-sites level: every site's events together, for the dims whose
         values are shared by all traffic (ALL_SITES_DIMS), so an answer about all sites is
         one Query however many sites there are; its items add the breakdown `st` (sites)
    sk = "h#<hour start>" | "d#<day start>" | "M#<month start>"   (zero-padded, so a Query reads a range)
         each the UTC epoch second of the LOCAL start in the site's zone (liveinsight.localtime):
         a day item of America/New_York starts at 05:00 UTC (04:00 in summer) and a DST day covers
         23 or 25 hours; Asia/Kolkata's hour items start at hh:30 UTC; the all-sites level is UTC.
         Month items exist for the dims with day items, so a year is read in 12 items; those of a
         source, event type or country are thin (`t` only: THIN), everything's are whole.
    c  = zlib JSON blob:
         t  [events, page views, sessions, bounces, duration sum, bot events, visitors]
         m  {minute of the hour: [events, page views, sessions, bounces, duration sum, visitors]}
                                       (hour items; the minute since the item's own start)
         b  {breakdown: summary}       event types, sources, referrers, pages, entry pages,
                                       campaigns, browsers, operating systems, devices,
                                       countries, regions, cities, sites (all-sites items only)
         x  summary of AND-combination slices: in a page item, and a page group's or goal's hour and
            day items, "s:<source hash>", "e:<type hash>", "se:<source hash>:<type hash>"; in a source
            item "e:<type hash>";
            in a country item its regions and cities "pl:<place hash>"; in everything's items the
            visit's channel and UTM tags "cm:<hash of tag and value>" (what a `channel=` or
            `utm_*=` filter reads);
            each [events, page views, sessions, bounces, duration sum, visitors (places, campaigns)]
    v  version (optimistic concurrency), ap ledger (liveinsight.items.ledger), sv schema, ttl

Visitors: a visitor is counted once per local day and value, in the minute of their first event
of the day with that value (visit-level values — source, country, region, city — at the first
event of the day of a visit that has them). So a day's visitors are exact uniques, a range sums
its days, and a range that starts during a day counts the visitors whose first event of that
day falls inside it. Older items have shorter vectors: every sum pads with zeros.

A *summary* is Space-Saving with exact counts since admission and an exact remainder:
`{"k": {label: vector}, "e": {label: error}, "o": vector}`. It keeps at most K labels; a
new label when it is full takes the place of the label with the smallest estimate
(the sum of its counts + error), inherits that estimate as its error, and the evicted label's exact counts
move to `o`. So every total is exact (labels + `o`), a label's count is exact since it was
admitted and at most `e` below its true count, and any label whose true count in a bucket
exceeds 1/K of the bucket is kept. Error bound over a range: see docs/data-model.md.
"""
from __future__ import annotations

import heapq
import json
import zlib
from itertools import zip_longest
from typing import Any, Iterable

from .. import config
from .sessions import UNKNOWN, short_hash

HOUR, DAY, MONTH = "h", "d", "M"
SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
ALL, PAGE, SOURCE, EVENT_TYPE = "*", "p", "s", "e"
COUNTRY, REGION, CITY = "c", "r", "ci"  # only countries have items; region and city key visitors and breakdowns
# A site's definitions (liveinsight.items.definitions): a page group, a goal, a funnel — per site only.
PAGE_GROUP, GOAL, FUNNEL = "pgr", "gl", "fn"
DAY_DIMS = (ALL, SOURCE, EVENT_TYPE, COUNTRY, PAGE_GROUP, GOAL, FUNNEL)  # the dims with day and month items
ALL_SITES = "*"  # never a site: a site is a host name (the event model checks it)
# Countries are per site like pages: a country across all sites adds up the most visited sites
# (the all-sites level's countries breakdown still lists every site's countries together).
ALL_SITES_DIMS = (ALL, SOURCE, EVENT_TYPE)
# The dims whose items count a visit's duration and exit page. Both move with each later event of a visit:
# kept in the items of every page, event type, page group and goal the visit went through, each move would
# rewrite them all (bench/cost.py: a third of a page item's writes), while every event of a visit is
# counted in everything's, its source's and its country's items anyway. So, as in Plausible, a filter on a
# page, an event type, a page group or a goal answers time on page (the tracker's engagement reports)
# instead of visit duration, and no exit pages.
MOVING_DIMS = (ALL, SOURCE, COUNTRY)
UNKNOWN_COUNTRY = UNKNOWN

# Totals vector; a minute slot is its first five and VI; a slice its first five.
EV, PV, SS, BO, DU, BOT, VI = range(7)
# Engagement (the tracker's reports, page-level): engaged seconds and how many page views reported
# them, scroll depth (%) and how many reported it.
ENG, ENC, SCR, SCC = range(7, 11)
MINUTE_VI = SLICE_VI = 5
TOTALS_LEN, MINUTE_LEN, SLICE_LEN = 11, 6, 6

# Breakdowns and their vectors.
EVENT_TYPES, SOURCES, REFERRERS, PAGES, ENTRY_PAGES = "et", "src", "ref", "pg", "en"
EXIT_PAGES = "ex"
CAMPAIGNS, BROWSERS, OPERATING_SYSTEMS, DEVICES = "cp", "br", "os", "dv"
COUNTRIES, REGIONS, CITIES = "co", "rg", "ci"
CHANNELS = "ch"                                                   # [sessions, visitors, bounces]
UTM_SOURCES, UTM_MEDIUMS, UTM_TERMS, UTM_CONTENTS = "us", "um", "ut", "uc"  # [sessions] (everything's items)
UTM_BREAKDOWNS = (UTM_SOURCES, UTM_MEDIUMS, UTM_TERMS, UTM_CONTENTS)
CHANNEL = "ch"  # the visitor key dimension of a channel
SITES = "st"
PAGE_GROUPS = "gr"        # everything's items: [page views, sessions, visitors] of each page group
FUNNEL_STEPS = "fs"       # a funnel's items: per step ("1".."8"), [visits that reached it, visitors]
REVENUE = "rv"            # a goal's items: per currency, [revenue in thousandths, conversions that carried it]
REVENUE_SOURCES = "rvs"   # a goal's items: per "<source>\t<currency>", [revenue in thousandths] (at the visit's start)
BREAKDOWN_LEN = {PAGE_GROUPS: 3, FUNNEL_STEPS: 2, REVENUE: 2, REVENUE_SOURCES: 1,
                 EVENT_TYPES: 1, SOURCES: 3, REFERRERS: 1, PAGES: 10, ENTRY_PAGES: 1, EXIT_PAGES: 1, CAMPAIGNS: 1,
                 BROWSERS: 1, OPERATING_SYSTEMS: 1, DEVICES: 1, SITES: 3, COUNTRIES: 4, REGIONS: 4, CITIES: 4,
                 CHANNELS: 3, UTM_SOURCES: 1, UTM_MEDIUMS: 1, UTM_TERMS: 1, UTM_CONTENTS: 1}
# SOURCES and SITES = [sessions, page views, visitors]; PAGES = [page views, sessions with a view,
# visitors, engaged seconds, engagement reports, scroll depth sum, scroll reports, events, bounces,
# duration sum] (engagement and the last three in everything's items only: there a page's row holds
# what its own items total, so a page's months are read from everything's month items; the duration
# sum is no longer counted, see MOVING_DIMS, and stays 0);
# COUNTRIES, REGIONS, CITIES = [sessions, page views, visitors, bounces]; others [sessions] or [events].
PAGE_EVENTS, PAGE_BOUNCES, PAGE_DURATION = 7, 8, 9  # columns of a PAGES row in everything's items
# The index of the visitors column in each breakdown that has one.
VISITORS_AT = {SOURCES: 2, PAGES: 2, SITES: 2, COUNTRIES: 2, REGIONS: 2, CITIES: 2, CHANNELS: 1, PAGE_GROUPS: 2,
               FUNNEL_STEPS: 1}
GEO_BREAKDOWNS = {COUNTRY: COUNTRIES, REGION: REGIONS, CITY: CITIES}
# Custom properties: in an event type's items, one breakdown per property key, "pk:<key>",
# of its values, each [events, visitors].
PROP_PREFIX = "pk:"
PROP_LEN = 2
PROP = "pv"  # the visitor key dimension of a property value: "<event type>\t<key>\t<value>"
# The campaign filters: a visit's channel and UTM tags, as slices of everything's items (and visitor
# key dimensions, the same letters as their breakdowns). {stats parameter: dimension}
CAMPAIGN_FILTERS = {"channel": CHANNEL, "utm_source": UTM_SOURCES, "utm_medium": UTM_MEDIUMS,
                    "utm_campaign": CAMPAIGNS, "utm_term": UTM_TERMS, "utm_content": UTM_CONTENTS}
CAMPAIGN_DIMS = frozenset(CAMPAIGN_FILTERS.values())


def page_row_totals(row: list) -> list:
    """A totals vector of a page from its row in everything's items (PAGES: all ten columns)."""
    out = [0] * TOTALS_LEN
    out[EV], out[PV], out[SS], out[BO], out[DU], out[VI] = (row[PAGE_EVENTS], row[0], row[1], row[PAGE_BOUNCES],
                                                            row[PAGE_DURATION], row[2])
    out[ENG], out[ENC], out[SCR], out[SCC] = row[3:7]
    return out


def prop_breakdown(key: str) -> str:
    return f"{PROP_PREFIX}{key}"


def prop_value(value: Any) -> str:
    """A property value as a breakdown label: JSON's spelling of booleans, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return label(str(value))


def breakdown_len(name: str) -> int:
    return PROP_LEN if name.startswith(PROP_PREFIX) else BREAKDOWN_LEN[name]

# Labels kept per summary: the unfiltered view lists up to 100 rows; a filtered one fewer.
K_ALL = 100
K_VALUE = 20
K_SLICES = 50
K_PLACE_SLICES = 250  # a country item's regions and cities: a region or city filter reads its slice
K_CAMPAIGN_SLICES = 100  # everything's items: the channels and UTM tags a campaign filter reads
MAX_LABEL = 200  # longer labels (2,000-character paths) are shortened with a hash to stay distinct


# Events without a page belong to no site; in keys and breakdowns they are "-".
NO_SITE = "-"


def pk(site: str, dim: str, value: str | None = None) -> str:
    return f"{site or NO_SITE}#{dim}#{short_hash(value) if dim != ALL else '-'}"


def sk(granularity: str, bucket: int) -> str:
    return f"{granularity}#{int(bucket):010d}"


def bucket_start(ts: float, unit: str) -> int:
    """The start of the UTC `unit` holding `ts` (a site's own buckets: liveinsight.localtime.bucket_start)."""
    size = SECONDS[unit]
    return int(ts // size) * size


def capacity(dim: str) -> int:
    return K_ALL if dim == ALL else K_VALUE


def label(value: str) -> str:
    """A breakdown label: the value itself, or a bounded, still distinct form of a very long one."""
    if len(value) <= MAX_LABEL:
        return value
    return f"{value[:MAX_LABEL - 14]}…#{short_hash(value, 12)}"


def place_slice(place: str) -> str:
    """The slice of a region ("US-WA") or city ("US-WA/Seattle") inside its country's items."""
    return f"pl:{short_hash(place)}"


def campaign_slice(dim: str, value: str) -> str:
    """The slice of a channel or UTM tag value (dim: a CAMPAIGN_DIMS letter) inside everything's items."""
    return "cm:" + short_hash(f"{dim}\t{label(value)}")


def country_of(place: str) -> str:
    """The country of a region or city label."""
    return place.split("/", 1)[0].split("-", 1)[0]


def slice_capacity(pk_value: str) -> int:
    """Slices an item keeps: a country's places, everything's campaigns, or a page's or source's combinations."""
    dim = pk_value.split("#")[1:2]
    return K_PLACE_SLICES if dim == [COUNTRY] else K_CAMPAIGN_SLICES if dim == [ALL] else K_SLICES


def slice_key(source: str | None = None, event_type: str | None = None) -> str:
    if source is not None and event_type is not None:
        return f"se:{short_hash(source)}:{short_hash(event_type)}"
    if source is not None:
        return f"s:{short_hash(source)}"
    return f"e:{short_hash(event_type or '')}"


# -- deltas: what a batch adds to one item -------------------------------------------

# A delta's SHIFT: minutes from the UTC hour to its hour item's start (30 in Asia/Kolkata, 45 in
# Asia/Kathmandu); writers pass the minute of the UTC hour and the slot is the item's own minute.
SHIFT = "shift"
# A THIN delta keeps totals only: the month items of a source, event type or country (a year of one value
# is 12 small items; its breakdowns and slices would cost a rewrite of a day item's size every batch).
THIN = "thin"


def new_delta(start: int | None = None, granularity: str = HOUR, thin: bool = False) -> dict[str, Any]:
    delta: dict[str, Any] = {"t": [0] * TOTALS_LEN, "m": {}, "b": {}, "x": {}}
    if granularity == HOUR and start is not None and start % 3600:
        delta[SHIFT] = (start % 3600) // 60
    if thin:
        delta[THIN] = True
    return delta


def is_thin(granularity: str, dim: str) -> bool:
    """Whether the items of `dim` at `granularity` keep totals only (month items of a value)."""
    return granularity == MONTH and dim not in (ALL, GOAL, FUNNEL)  # a goal's or funnel's rows are its numbers


def add_total(delta: dict, index: int, by: float = 1) -> None:
    delta["t"][index] += by


def add_minute(delta: dict, minute: int, index: int, by: float = 1) -> None:
    """Add to the slot of `minute` of the UTC hour (the item's own minute when its hour is shifted)."""
    slot = delta["m"].setdefault(str((minute - delta.get(SHIFT, 0)) % 60), [0] * MINUTE_LEN)
    slot[index] += by


def add_breakdown(delta: dict, name: str, value: str | None, index: int = 0, by: float = 1) -> None:
    if value is None or not by:
        return
    row = delta["b"].setdefault(name, {}).setdefault(label(value), [0] * breakdown_len(name))
    row[index] += by


def add_slice(delta: dict, key: str, index: int, by: float = 1) -> None:
    if by:
        delta["x"].setdefault(key, [0] * SLICE_LEN)[index] += by


def is_empty(delta: dict) -> bool:
    if delta.get(THIN):
        return not any(delta["t"])
    return not any(delta["t"]) and not any(any(v) for v in delta["m"].values()) and \
        not any(any(any(r) for r in rows.values()) for rows in delta["b"].values()) and \
        not any(any(v) for v in delta["x"].values())


# -- stored blobs -----------------------------------------------------------------------

def encode(blob: dict) -> bytes:
    return zlib.compress(json.dumps(blob, separators=(",", ":")).encode(), 6)


def decode(data: Any) -> dict:
    return json.loads(zlib.decompress(bytes(data))) if data else {}


def _vadd(a: list | None, b: list) -> list:
    """The sum of two vectors; the shorter (written before a column was added) counts as zeros."""
    if not a:
        return list(b)
    return [x + y for x, y in zip_longest(a, b, fillvalue=0)]


def _weight(vector: list) -> float:
    return sum(v for v in vector if v > 0)


def summary_add(summary: dict, rows: dict[str, list], k: int) -> dict:
    """Add `rows` ({label: vector}) into a bounded summary (see the module docstring).

    A label's estimate is the sum of its vector plus its error; a row with nothing positive
    is a correction (a bounce undone, an entry page moved) of counts already kept.
    """
    keep = summary.setdefault("k", {})
    errors = summary.setdefault("e", {})
    newcomers = []
    for name, vector in rows.items():
        if not any(vector):
            continue
        if name in keep:
            keep[name] = _vadd(keep[name], vector)
        elif _weight(vector) <= 0 or k <= 0:
            summary["o"] = _vadd(summary.get("o"), vector)
        else:
            newcomers.append((name, vector))
    newcomers.sort(key=lambda row: (-_weight(row[1]), row[0]))
    heap: list | None = None
    for name, vector in newcomers:
        if len(keep) < k:
            keep[name] = list(vector)
            continue
        if heap is None:
            heap = [(_weight(v) + errors.get(n, 0), n) for n, v in keep.items()]
            heapq.heapify(heap)
        floor, victim = heapq.heappop(heap)
        errors.pop(victim, None)
        summary["o"] = _vadd(summary.get("o"), keep.pop(victim))
        keep[name] = list(vector)
        errors[name] = floor
        heapq.heappush(heap, (floor + _weight(vector), name))
    if not errors:
        summary.pop("e", None)
    return summary


def merge(blob: dict, delta: dict, k: int, k_slices: int = K_SLICES) -> dict:
    """Apply a batch's delta to a stored blob, keeping every summary bounded."""
    blob["t"] = _vadd(blob.get("t"), delta["t"])
    if delta.get(THIN):
        return blob
    if delta["m"]:
        minutes = blob.setdefault("m", {})
        for minute, vector in delta["m"].items():
            minutes[minute] = _vadd(minutes.get(minute), vector)
    if delta["b"]:
        breakdowns = blob.setdefault("b", {})
        keys = sum(name.startswith(PROP_PREFIX) for name in breakdowns)
        for name, rows in delta["b"].items():
            if name.startswith(PROP_PREFIX) and name not in breakdowns:
                if keys >= config.COUNTED_PROP_KEYS:
                    continue  # a bucket counts a bounded number of property keys (docs/data-model.md)
                keys += 1
            breakdowns[name] = summary_add(breakdowns.get(name, {}), rows, k)
    if delta["x"]:
        blob["x"] = summary_add(blob.get("x", {}), delta["x"], k_slices)
    return blob


# -- reading ----------------------------------------------------------------------------

def totals(blob: dict) -> list:
    return blob.get("t") or [0] * TOTALS_LEN


def slice_totals(blob: dict, key: str) -> list:
    """[events, page views, sessions, bounces, duration] of one slice (zeros when absent)."""
    return (blob.get("x", {}).get("k", {}).get(key)) or [0] * SLICE_LEN


def place_totals(vector: list) -> list:
    """A place's or campaign's slice as a totals vector (its visitors in VI)."""
    padded = list(vector) + [0] * (SLICE_LEN - len(vector))
    return padded[:BOT] + [0, padded[SLICE_VI]]


def prop_totals(blob: dict, key: str, value: str) -> list:
    """A property value's row of an event type's item as a totals vector: its events and visitors."""
    row = blob.get("b", {}).get(prop_breakdown(key), {}).get("k", {}).get(label(value)) or []
    events, visitors = (list(row) + [0, 0])[:2]
    return [events] + [0] * (VI - 1) + [visitors] + [0] * (TOTALS_LEN - VI - 1)


def minute_totals(vector: list) -> list:
    """A minute slot as a totals vector (its visitors in VI, no bot count, no engagement)."""
    padded = list(vector) + [0] * (MINUTE_LEN - len(vector))
    return padded[:BOT] + [0, padded[MINUTE_VI]] + [0] * (TOTALS_LEN - VI - 1)


def sum_vectors(vectors: Iterable[list], length: int) -> list:
    total = [0] * length
    for vector in vectors:
        for i, value in enumerate(vector[:length]):
            total[i] += value
    return total


def merged_breakdown(blobs: Iterable[dict], name: str) -> dict[str, list]:
    """{label: vector} of a breakdown summed over buckets (labels kept in any bucket)."""
    rows: dict[str, list] = {}
    for blob in blobs:
        for key, vector in blob.get("b", {}).get(name, {}).get("k", {}).items():
            rows[key] = _vadd(rows.get(key), vector)
    return rows
