"""The stream aggregator: folds a batch of raw events into sessions, rollups and realtime items.

A batch is folded in memory first. Event-level counts (events, page views, event types,
minute slots) go to the bucket of each event; visit-level ones (sessions, bounces, duration,
entry page, source, referrer, campaign, client) go to the bucket where the visit starts, as
the difference between what the visit contributes after the batch and what it contributed
before — so a second event turns a bounce into a visit (−1 bounce), and an event older than
the visit's first moves its start, entry page and source (late events).

Then every touched item is written on its own, with a conditional put that checks the
version read and the ledger of applied positions (`liveinsight.items.ledger`): a batch
delivered again after a crash, a timeout or a throttle changes nothing it already changed,
and several shards may update the same item at once. Sessions are written last, so a
session that has applied a batch proves every rollup item has too. An item the aggregator put
itself is not read again for its next batch: its own copy stands in (`WrittenItems`), and the
version check catches a copy another writer has outdated.

Two consumers read the stream, each with its own ledger lane (`ledger.lane_of`): the
realtime consumer (a 1 s window) writes realtime items only, and reads the sessions the
rollup consumer (a 60 s window) writes with the rollups. A visit the realtime consumer meets
on an internal page before the rollup consumer has saved it has no known source yet: its
events count everywhere in the realtime items except under a source. Nor can the realtime
consumer tell a retried event from one the rollup consumer has already seen, so it drops
repeated event ids within its batch only.
"""
from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from . import config, localtime
from .items import SCHEMA_VERSION, parked, realtime as rt, rollups as r
from .items.events import ENGAGED_SECONDS, ENGAGEMENT, PAGE_VIEW, SCROLL_DEPTH, event_time, is_recount, unpack
from .items.ledger import APPLIED, Batch, PartialRedelivery, consumer_of_parked, lane_of, parked_lane
from .items.definitions import FUNNELS, GOALS, PAGE_GROUPS, Definition, Definitions, recount_tag, revenue_of
from .items.sessions import (EVERYTHING, FUNNEL_STEP, MAX_GOALS, MAX_GROUPS, MAX_STEP_TIMES, MAX_VISITOR_KEYS,
                             SessionState, key_parts, short_hash, visitor_key)
from .definitions import DefinitionsStore
from .store import Store, VersionConflict, deserialize, refused_as_invalid
from .zones import SiteZones

MAX_CONFLICT_RETRIES = 10
# Stats items this aggregator wrote last, kept for its next batches (a warm Lambda container or the local
# poller): the conditional put still checks the version, so a stale copy costs a retry, never a count.
WRITTEN_ITEMS_KEPT = 10_000
MAX_ENGAGED_SECONDS = 30 * 60  # a page's engaged time counts at most this (a tab left open for days)
PARALLEL_PUTS = 8
REALTIME_HORIZON_SECONDS = 61 * 60
DEFINITION_DIMS = {PAGE_GROUPS: r.PAGE_GROUP, GOALS: r.GOAL, FUNNELS: r.FUNNEL}  # a definition's rollup dimension


class UnappliableRecords(Exception):
    """Something in the records themselves fails: folding them raised, or DynamoDB refused an item or
    key they make as invalid. Delivering the same records again cannot help; isolating them does."""


@dataclass
class AggregateResult:
    """What one batch did: events counted, duplicates and bots seen, requests made."""

    counted: int = 0
    duplicates: int = 0
    bots: int = 0
    ignored: int = 0
    write_requests: int = 0
    skipped_items: int = 0
    parked: int = 0

    def __add__(self, other: "AggregateResult") -> "AggregateResult":
        return AggregateResult(*(a + b for a, b in zip(vars(self).values(), vars(other).values())))


class Fold:
    """The deltas of one batch: {(pk, sk): delta} for rollups and realtime, and the sessions after it."""

    def __init__(self, now: float, realtime: bool = True, all_sites: bool = True, rollups: bool = True,
                 props: tuple[str, ...] = (), definitions: Callable[[str], Definitions] | None = None,
                 zones: dict[str, Any] | None = None) -> None:
        self.now = now
        # A site's page groups, goals and funnels (counted by the rollup consumer only).
        self.definitions = definitions if definitions is not None and rollups else Definitions
        self.zones = zones or {}  # {site: ZoneInfo}: the local hours, days and months of its items (UTC when absent)
        self.props = props  # the custom property keys counted (LIVEINSIGHT_PROPS); () counts every key
        self.levels_for_all = (r.ALL_SITES,) if all_sites else ()
        self.realtime_since = now - REALTIME_HORIZON_SECONDS if realtime else float("inf")
        self.count_rollups = rollups
        self.unknown_origin: set[str] = set()  # visits whose source only the rollup consumer knows yet
        self.realtime_shards = 1
        self.rollups: dict[tuple[str, str], dict] = {}
        self.capacity: dict[tuple[str, str], int] = {}
        self.realtime: dict[tuple[str, str], dict] = {}
        self.sessions: dict[str, SessionState] = {}
        self.visitors_before: dict[str, dict[tuple[int, str], int]] = {}
        self.result = AggregateResult()

    def _deltas(self, site: str, dim: str, value: str | None, ts: float) -> Iterable[tuple[str, dict, bool]]:
        """(granularity, delta, all sites?) of every rollup item of (site, dim, value) holding time `ts`,
        and of the all-sites item of (dim, value) for the dims all sites share."""
        levels = [site, *self.levels_for_all] if dim in r.ALL_SITES_DIMS else [site]
        for level in levels:
            key_pk = r.pk(level, dim, value)
            tz = self.zones.get(level, localtime.UTC) if level != r.ALL_SITES else localtime.UTC
            for granularity, unit in ((r.HOUR, "hour"), (r.DAY, "day"), (r.MONTH, "month")):
                if granularity != r.HOUR and dim not in r.DAY_DIMS:
                    continue
                start = localtime.bucket_start(ts, unit, tz)  # the local hour, day and month of the site's zone
                key = (key_pk, r.sk(granularity, start))
                if key not in self.rollups:
                    self.rollups[key] = r.new_delta(start, granularity, r.is_thin(granularity, dim))
                    self.capacity[key] = r.capacity(dim)
                yield granularity, self.rollups[key], level == r.ALL_SITES

    # -- events ---------------------------------------------------------------------

    def add_bot(self, event: dict[str, Any]) -> None:
        self.result.bots += 1
        ts, site = event_time(event["timestamp"]), event.get("site") or ""
        if not self.count_rollups:
            return
        keys = [(r.ALL, None), (r.EVENT_TYPE, event["event_type"])]
        if event.get("page") is not None:
            keys.append((r.PAGE, r.label(event["page"])))
        for dim, value in keys:
            for _, delta, _ in self._deltas(site, dim, value, ts):
                r.add_total(delta, r.BOT)

    def add_event(self, event: dict[str, Any], state: SessionState | None,
                  before: dict[str, SessionState | None], visitor: SessionState | None = None) -> SessionState | None:
        """Fold one event into its visit; `before` collects each visit's state before the batch.

        `visitor`: when the visit has no state yet, the same visitor's state under the previous
        day's id (a visitor seen before midnight), whose days the new visit continues.
        """
        ts = event_time(event["timestamp"])
        sid = event["session_id"]
        event = {**event, "page": r.label(event["page"]) if event.get("page") is not None else None}
        event_hash = short_hash(event.get("event_id") or f"{sid}{ts}", 10)
        if state is not None and event_hash in state.ids:
            self.result.duplicates += 1
            return state
        if event["event_type"] == ENGAGEMENT and state is None:
            self.result.ignored += 1  # a report of a page view no visit holds (lost, or older than two days)
            return None
        if sid not in before:
            before[sid] = _copy(state) if state is not None else None
            seed = state if state is not None else visitor
            self.visitors_before[sid] = seed.visitor_keys() if seed is not None else {}
        timeout = config.SESSION_TIMEOUT_SECONDS
        if event["event_type"] == ENGAGEMENT:  # reported when the page is left: it extends no visit
            self.sessions[sid] = state
            return self._engage(state, event, ts)
        if state is not None and ts < state.start - timeout:
            # An event of an earlier visit that arrived after a later one: a visit of its own.
            begun = SessionState.begin(event, ts)
            begun.recounted = list(state.recounted)
            earlier = self._count(begun, event, ts)
            self.settle(sid, None, earlier)
            state.absorb(earlier)
            self.sessions[sid] = state  # its visitor days changed (and were parked as a KeyError before)
            return state
        if state is not None and ts > state.last + timeout:
            self.settle(sid, before[sid], state)  # that visit is over; this event starts another
            before[sid] = None
            state = SessionState.begin(event, ts, visitor=state)
        elif state is None:
            state = SessionState.begin(event, ts, visitor=_copy(visitor) if visitor is not None else None)
            if not self.count_rollups and event.get("source") is None:
                self.unknown_origin.add(sid)  # an internal page of a visit not yet saved by the rollup consumer
        elif ts < state.start or (ts == state.start and event["event_type"] == PAGE_VIEW and not state.from_view):
            # A late event (or a page view stamped with its click's second): the visit starts here,
            # and the events already counted under where it came from move with its origin.
            old = copy.copy(state)
            state.start = ts
            state.take_origin(event)
            self._move_events(old, state)
        self.sessions[sid] = state
        return self._count(state, event, ts)

    def _count(self, state: SessionState, event: dict[str, Any], ts: float) -> SessionState:
        self.result.counted += 1
        event_type, page = event["event_type"], event.get("page")
        is_view = event_type == PAGE_VIEW
        state.events += 1
        state.page_views += int(is_view)
        state.last = max(state.last, ts)
        if is_view and page is not None and ts >= state.exit_at:
            state.exit, state.exit_at = page, ts
        state.ids = (state.ids + [short_hash(event.get("event_id") or f"{state.session_id}{ts}", 10)])[-40:]
        page_index = state.index(state.pages, page, 50) if page is not None else None
        type_index = state.index(state.types, event_type, 20)
        if page_index is not None and type_index is not None:
            state.pairs.add((page_index, type_index))
        props = self._counted_props(event_type, event.get("props"))
        groups, goals, revenue = self._convert(state, event, ts, page_index)
        keys = [visitor_key(r.EVENT_TYPE, event_type)] + ([visitor_key(r.PAGE, page)] if page is not None else []) \
            + [visitor_key(r.PROP, f"{event_type}\t{key}\t{value}") for key, value in props] \
            + [visitor_key(r.PAGE_GROUP, name) for name in groups] + [visitor_key(r.GOAL, name) for name in goals]
        # the visitor's day is the site's local day (its visitor id is salted per local date too)
        state.see(ts, keys, day=localtime.bucket_start(ts, "day", self.zones.get(state.site, localtime.UTC)))
        if type_index is not None and (page is None or page_index is not None):
            state.record(ts, page_index, type_index)
        if type_index is not None:  # what a late event that changes the visit's source moves in their slices
            for dim, names in ((r.PAGE_GROUP, groups), (r.GOAL, goals)):
                for name in names:
                    state.record_conversion(visitor_key(dim, name), ts, type_index)
        if self.count_rollups:
            self._count_event(state, ts, event_type, page, is_view, props=props, groups=groups, goals=goals,
                              revenue=revenue)
        if ts >= self.realtime_since:
            self._realtime(state, ts, event_type, page, is_view)
        return state

    def _convert(self, state: SessionState, event: dict[str, Any], ts: float,
                 page_index: int | None) -> tuple[list[str], list[str], list[tuple[str, str, int]]]:
        """The page groups of the event's page and the goals it converts (each from its `since`), recorded in
        the visit with the funnels' furthest steps; (groups, goals, [(goal, currency, revenue in thousandths)])."""
        definitions = self.definitions(state.site)
        if not definitions:
            return [], [], []
        recounted = state.recounted
        groups = [name for name in definitions.groups_of(event.get("page"))
                  if _counts(PAGE_GROUPS, definitions.group(name), ts, recounted)]
        for name in groups:
            pages = state.groups.get(name)
            if pages is None and len(state.groups) < MAX_GROUPS:
                pages = state.groups[name] = []
            if pages is not None and page_index is not None and page_index not in pages:
                pages.append(page_index)
        goals, revenue = [], []
        for goal in definitions.goals:
            if not _counts(GOALS, goal, ts, recounted) or not definitions.goal_hit(goal, event):
                continue
            if goal.name not in state.goals and len(state.goals) < MAX_GOALS:
                state.goals.append(goal.name)
            if goal.name not in state.goals:
                continue
            goals.append(goal.name)
            if definitions.funnels_with(goal.name):
                state.step_times[goal.name] = _step_times(state.step_times.get(goal.name, []) + [ts])
            amount = revenue_of(goal, event)
            if amount is not None:
                milli = int((amount[0] * 1000).to_integral_value())
                per_currency = state.revenue.setdefault(goal.name, {})
                per_currency[amount[1]] = per_currency.get(amount[1], 0) + milli
                revenue.append((goal.name, amount[1], milli))
        for funnel in definitions.funnels:
            furthest = state.furthest(funnel.steps) if _counts(FUNNELS, funnel, state.start, recounted) else 0
            if furthest:
                state.funnels[funnel.name] = furthest
        return [name for name in groups if name in state.groups], goals, revenue

    def _move_events(self, old: SessionState, new: SessionState) -> None:
        """Count the visit's events recorded so far under its new origin instead of its old one; in the items of
        its page groups and goals, move the events counted there from the old source's slices to the new's."""
        if not self.count_rollups or _origin(old) == _origin(new):
            return
        for at, page, event_type, count in new.recorded():
            is_view = event_type == PAGE_VIEW
            self._count_event(old, at, event_type, page, is_view, -count)
            self._count_event(new, at, event_type, page, is_view, count)
        if old.source == new.source:
            return
        for definition in new.converted:
            dim, name = key_parts(definition)
            for at, event_type, count in new.conversions(definition):
                is_view = event_type == PAGE_VIEW
                for granularity, delta, _ in self._deltas(new.site, dim, name, at):
                    if granularity == r.MONTH:
                        continue
                    for source, by in ((old.source, -count), (new.source, count)):
                        for key in (r.slice_key(source=source), r.slice_key(source, event_type)):
                            r.add_slice(delta, key, r.EV, by)
                            r.add_slice(delta, key, r.PV, by * is_view)

    def _engage(self, state: SessionState, event: dict[str, Any], ts: float) -> SessionState:
        """Count a page's engagement report: in the page's items and everything's pages row; the visit's
        duration takes the last page's engaged time. Not an event, never a bounce's end."""
        props = event.get("props") or {}
        seconds = props.get(ENGAGED_SECONDS)
        scroll = props.get(SCROLL_DEPTH)
        seconds = None if seconds is None else min(float(seconds), MAX_ENGAGED_SECONDS)
        state.ids = (state.ids + [short_hash(event.get("event_id") or f"{state.session_id}{ts}", 10)])[-40:]
        if seconds is not None and ts >= state.tail[0]:
            state.tail = (ts, seconds)
        if not self.count_rollups:
            return state
        page = event.get("page")
        keys = [(r.ALL, None)] + ([(r.PAGE, page)] if page is not None else [])
        if page is not None and page in state.pages:  # the page groups the visit counts this page under
            at = state.pages.index(page)
            keys += [(r.PAGE_GROUP, name) for name, pages in state.groups.items() if at in pages]
        for dim, value in keys:
            for granularity, delta, all_sites in self._deltas(state.site, dim, value, ts):
                if seconds is not None:
                    r.add_total(delta, r.ENG, seconds)
                    r.add_total(delta, r.ENC)
                    r.add_breakdown(delta, r.PAGES, page, 3, seconds)
                    r.add_breakdown(delta, r.PAGES, page, 4, 1)
                if scroll is not None:
                    r.add_total(delta, r.SCR, float(scroll))
                    r.add_total(delta, r.SCC)
                    r.add_breakdown(delta, r.PAGES, page, 5, float(scroll))
                    r.add_breakdown(delta, r.PAGES, page, 6, 1)
        return state

    def _counted_props(self, event_type: str, props: dict[str, Any] | None) -> list[tuple[str, str]]:
        """(key, value label) of the event's custom properties that are counted, in key order."""
        if not props:
            return []
        keys = sorted(k for k in props if not self.props or k in self.props)[:config.COUNTED_PROPS_PER_EVENT]
        return [(key, r.prop_value(props[key])) for key in keys]

    def _count_event(self, state: SessionState, ts: float, event_type: str, page: str | None, is_view: bool,
                     by: int = 1, props: list[tuple[str, str]] = (), groups: list[str] = (), goals: list[str] = (),
                     revenue: list[tuple[str, str, int]] = ()) -> None:
        """Count `by` events (negative: take them back) of the visit `state` in their items; an event
        type's items count its custom `props` too, a page group's and a goal's (`groups`, `goals`: the
        event's) its conversions and `revenue`. A group's or goal's breakdowns do not depend on the visit's
        origin (its sources and places are visit-level there); its source slices do, and `_move_events` moves
        them from what the visit recorded (`SessionState.converted`)."""
        minute = int(ts - r.bucket_start(ts, "hour")) // 60
        keys = [(r.ALL, None), (r.SOURCE, state.source), (r.EVENT_TYPE, event_type), (r.COUNTRY, state.country)]
        if page is not None:
            keys.append((r.PAGE, page))
        keys += [(r.PAGE_GROUP, name) for name in groups] + [(r.GOAL, name) for name in goals]
        for dim, value in keys:
            for granularity, delta, all_sites in self._deltas(state.site, dim, value, ts):
                r.add_total(delta, r.EV, by)
                r.add_total(delta, r.PV, by * is_view)
                if granularity == r.HOUR:
                    r.add_minute(delta, minute, r.EV, by)
                    r.add_minute(delta, minute, r.PV, by * is_view)
                r.add_breakdown(delta, r.EVENT_TYPES, event_type, 0, by)
                if dim == r.ALL:  # the page's events in its row (a page's year from everything's month items)
                    r.add_breakdown(delta, r.PAGES, page, r.PAGE_EVENTS, by)
                if dim in (r.PAGE_GROUP, r.GOAL):  # no origin here but the slices: sources are visit-level
                    if is_view or dim == r.GOAL:  # a goal's pages: where it converted
                        r.add_breakdown(delta, r.PAGES, page, 0, by)
                    for goal, currency, milli in revenue:
                        if dim == r.GOAL and goal == value:
                            r.add_breakdown(delta, r.REVENUE, currency, 0, milli * by)
                            r.add_breakdown(delta, r.REVENUE, currency, 1, by)
                    if granularity != r.MONTH:  # month items of a value: totals only (a goal's: its rows)
                        for key in _definition_slices(state.source, [event_type]):
                            r.add_slice(delta, key, r.EV, by)
                            r.add_slice(delta, key, r.PV, by * is_view)
                    continue
                if is_view:
                    r.add_breakdown(delta, r.SOURCES, state.source, 1, by)
                    r.add_breakdown(delta, r.PAGES, page, 0, by)
                    if dim == r.ALL:
                        for name in groups:
                            r.add_breakdown(delta, r.PAGE_GROUPS, name, 0, by)
                    for place_dim, place in _places(state, dim):
                        r.add_breakdown(delta, r.GEO_BREAKDOWNS[place_dim], place, 1, by)
                    if all_sites:
                        r.add_breakdown(delta, r.SITES, state.site or r.NO_SITE, 1, by)
                slices = []
                if dim == r.PAGE:
                    slices = [r.slice_key(source=state.source), r.slice_key(event_type=event_type),
                              r.slice_key(state.source, event_type)]
                elif dim == r.SOURCE:
                    slices = [r.slice_key(event_type=event_type)]
                elif dim == r.COUNTRY:
                    slices = _place_slices(state)
                elif dim == r.EVENT_TYPE:
                    for key, value in props:
                        r.add_breakdown(delta, r.prop_breakdown(key), value, 0, by)
                elif dim == r.ALL:
                    slices = _campaign_slices(state)
                for key in slices:
                    r.add_slice(delta, key, r.EV, by)
                    r.add_slice(delta, key, r.PV, by * is_view)

    def _realtime(self, state: SessionState, ts: float, event_type: str, page: str | None, is_view: bool) -> None:
        visit = rt.visit_hash(state.session_id)
        start = rt.bucket_start(ts)
        source = None if state.session_id in self.unknown_origin else state.source
        for level in (state.site, *self.levels_for_all):
            key = (rt.pk(level, rt.shard_of(visit, self.realtime_shards)), rt.sk(start))
            delta = self.realtime.setdefault(key, rt.new_delta())
            rt.add_event(delta, visit, int(ts - start), event_type, page, source, ts, is_view, state.country)

    # -- visits ---------------------------------------------------------------------

    def settle(self, sid: str, before: SessionState | None, after: SessionState) -> None:
        """Add what the visit contributes now, minus what it contributed before the batch."""
        if not self.count_rollups:
            return
        _contribute(self, after, +1)
        if before is not None:
            _contribute(self, before, -1)

    def settle_visitor(self, sid: str, after: SessionState) -> None:
        """Move the visitor's counts to where its first events of each day are now (see items.rollups)."""
        if not self.count_rollups:
            return
        before, now = self.visitors_before.get(sid, {}), after.visitor_keys()
        for day_key in before.keys() | now.keys():
            was, is_ = before.get(day_key), now.get(day_key)
            if was == is_:
                continue
            if was is not None:
                _count_visitor(self, after.site, day_key, was, -1)
            if is_ is not None:
                _count_visitor(self, after.site, day_key, is_, +1)


def _step_times(times: Iterable[float]) -> list[float]:
    """A funnel step goal's times a visit keeps: all, up to MAX_STEP_TIMES; beyond, the earliest and the latest
    half each (what ordering steps needs most)."""
    times, half = sorted(times), MAX_STEP_TIMES // 2
    return times if len(times) <= MAX_STEP_TIMES else times[:half] + times[-half:]


def _counts(kind: str, definition: Definition, at: float, recounted: list[str]) -> bool:
    """Whether `definition` counts an event (a funnel: a visit) at `at`: from its `since`, or always in a visit
    whose raw events it was recounted over."""
    return definition.since <= at or recount_tag(kind, definition.name, definition.since) in recounted


def _places(state: SessionState, item_dim: str | None = None) -> list[tuple[str, str]]:
    """(dim, value) of the visit's country, region and city (the last two when known); in an item of
    `item_dim`, the breakdown rows it keeps: regions and cities only in everything's and a country's."""
    places = [(r.COUNTRY, state.country)]
    if item_dim not in (None, r.ALL, r.COUNTRY):
        return places
    if state.region:
        places.append((r.REGION, state.region))
    if state.city:
        places.append((r.CITY, state.city))
    return places


def _origin(state: SessionState) -> tuple:
    """What a visit's events are counted under besides themselves: source, places, channel and UTM tags."""
    return state.source, *_places(state), *state.campaign_values()


def _campaign_slices(state: SessionState) -> list[str]:
    """The slices of the visit's channel and UTM tags inside everything's items."""
    return [r.campaign_slice(dim, value) for dim, value in state.campaign_values()]


def _definition_slices(source: str, event_types: list[str]) -> list[str]:
    """The slices of a page group's or goal's items (as a page's): the source, each event type, and both."""
    return [r.slice_key(source=source)] + [key for event_type in event_types
                                           for key in (r.slice_key(event_type=event_type),
                                                       r.slice_key(source, event_type))]


def _place_slices(state: SessionState) -> list[str]:
    """The slices of the visit's region and city inside its country's items."""
    return [r.place_slice(place) for place in (state.region, state.city) if place]


def _count_visitor(fold: Fold, site: str, day_key: tuple[int, str], minute: int, sign: int) -> None:
    """One visitor (`sign`) under a visitor key, in the minute of the day it was first seen there."""
    day, key = day_key
    ts = day + 60 * minute
    dim, value = key_parts(key)
    if dim == FUNNEL_STEP:  # a funnel's step reached: its row in the funnel's items
        name, step = value.rsplit("\t", 1)
        for _, delta, _ in fold._deltas(site, r.FUNNEL, name, ts):
            r.add_breakdown(delta, r.FUNNEL_STEPS, step, r.VISITORS_AT[r.FUNNEL_STEPS], sign)
        return
    if dim == r.PROP:  # a value of a custom property: its row in the event type's items
        event_type, prop, label = value.split("\t", 2)
        for _, delta, _ in fold._deltas(site, r.EVENT_TYPE, event_type, ts):
            r.add_breakdown(delta, r.prop_breakdown(prop), label, 1, sign)
        return
    # (item dim, value, breakdown row or slice): the item's own count, or a row or slice of it
    items: list[tuple[str, str | None, str | None]] = [(dim, value, None)]
    if dim != EVERYTHING:
        if dim in r.CAMPAIGN_DIMS:  # a slice of everything's items (and a channel, its row there too)
            items = [(r.ALL, None, r.campaign_slice(dim, value))]
        row = {r.PAGE: r.PAGES, r.SOURCE: r.SOURCES, r.CHANNEL: r.CHANNELS, r.PAGE_GROUP: r.PAGE_GROUPS,
               **r.GEO_BREAKDOWNS}.get(dim)
        if row is not None:
            items.append((r.ALL, None, row))
        if dim in (r.REGION, r.CITY):
            items = [(r.ALL, None, row), (r.COUNTRY, r.country_of(value), row),
                     (r.COUNTRY, r.country_of(value), r.place_slice(value))]
    for item_dim, item_value, row in items:
        for granularity, delta, all_sites in fold._deltas(site, item_dim, item_value, ts):
            if row is not None and row.startswith(("pl:", "cm:")):
                r.add_slice(delta, row, r.SLICE_VI, sign)
                continue
            if row is not None:
                r.add_breakdown(delta, row, value, r.VISITORS_AT[row], sign)
                continue
            r.add_total(delta, r.VI, sign)
            if granularity == r.HOUR:
                r.add_minute(delta, int(ts - r.bucket_start(ts, "hour")) // 60, r.MINUTE_VI, sign)
            if all_sites and dim == EVERYTHING:
                r.add_breakdown(delta, r.SITES, site or r.NO_SITE, r.VISITORS_AT[r.SITES], sign)


def _contribute(fold: Fold, state: SessionState, sign: int) -> None:
    """A visit's visit-level counts, with `sign`, in the bucket where it starts."""
    start, site = state.start, state.site
    minute = int(start - r.bucket_start(start, "hour")) // 60
    bounce, duration = int(state.bounce) * sign, state.duration * sign
    on_page = {i: [state.types[j] for a, j in sorted(state.pairs) if a == i] for i in range(len(state.pages))}
    keys: list[tuple[str, str | None, list[str]]] = [
        (r.ALL, None, state.pages),
        (r.SOURCE, state.source, state.pages),
    ]
    for j, event_type in enumerate(state.types):
        keys.append((r.EVENT_TYPE, event_type, [state.pages[i] for i, types in on_page.items()
                                                 if event_type in types]))
    for i, page in enumerate(state.pages):
        keys.append((r.PAGE, page, [page]))
    keys.append((r.COUNTRY, state.country, state.pages))
    for name, indexes in state.groups.items():  # as counted (see SessionState.groups)
        keys.append((r.PAGE_GROUP, name, [state.pages[i] for i in indexes if i < len(state.pages)]))
    keys += [(r.GOAL, name, []) for name in state.goals]
    for dim, value, pages in keys:
        moving = dim in r.MOVING_DIMS  # its items count the visit's duration and exit page
        seconds = duration if moving else 0
        for granularity, delta, all_sites in fold._deltas(site, dim, value, start):
            if all_sites:
                r.add_breakdown(delta, r.SITES, site or r.NO_SITE, 0, sign)
            r.add_total(delta, r.SS, sign)
            r.add_total(delta, r.BO, bounce)
            r.add_total(delta, r.DU, seconds)
            if granularity == r.HOUR:
                r.add_minute(delta, minute, r.SS, sign)
                r.add_minute(delta, minute, r.BO, bounce)
                r.add_minute(delta, minute, r.DU, seconds)
            r.add_breakdown(delta, r.SOURCES, state.source, 0, sign)
            r.add_breakdown(delta, r.REFERRERS, state.referrer, 0, sign)
            r.add_breakdown(delta, r.ENTRY_PAGES, state.entry, 0, sign)
            if moving:
                r.add_breakdown(delta, r.EXIT_PAGES, state.exit, 0, sign)
            r.add_breakdown(delta, r.CAMPAIGNS, state.campaign, 0, sign)
            r.add_breakdown(delta, r.BROWSERS, state.browser, 0, sign)
            r.add_breakdown(delta, r.OPERATING_SYSTEMS, state.os, 0, sign)
            r.add_breakdown(delta, r.DEVICES, state.device, 0, sign)
            if dim in (r.ALL, r.GOAL):  # channels (of converting visits, in a goal's items)
                r.add_breakdown(delta, r.CHANNELS, state.channel, 0, sign)
                r.add_breakdown(delta, r.CHANNELS, state.channel, 2, bounce)
            if dim == r.ALL:  # every UTM tag and page group: rows of everything's items
                for name, tag in zip(r.UTM_BREAKDOWNS, state.utm):
                    r.add_breakdown(delta, name, tag, 0, sign)
                for name in state.groups:
                    r.add_breakdown(delta, r.PAGE_GROUPS, name, 1, sign)
            if dim == r.GOAL:  # revenue by the visit's source, in the visit's start
                for currency, milli in state.revenue.get(value, {}).items():
                    r.add_breakdown(delta, r.REVENUE_SOURCES, f"{state.source}\t{currency}", 0, milli * sign)
            for place_dim, place in _places(state, dim):
                r.add_breakdown(delta, r.GEO_BREAKDOWNS[place_dim], place, 0, sign)
                r.add_breakdown(delta, r.GEO_BREAKDOWNS[place_dim], place, 3, bounce)
            for page in pages:
                r.add_breakdown(delta, r.PAGES, page, 1, sign)
                if dim == r.ALL:  # the bounces of the visits that include the page, as its items have
                    r.add_breakdown(delta, r.PAGES, page, r.PAGE_BOUNCES, bounce)
            slices = []
            if dim == r.PAGE:
                slices = [r.slice_key(source=state.source)]
                for event_type in on_page[state.pages.index(value)]:
                    slices += [r.slice_key(event_type=event_type), r.slice_key(state.source, event_type)]
            elif dim == r.SOURCE:
                slices = [r.slice_key(event_type=t) for t in state.types]
            elif dim == r.COUNTRY:
                slices = _place_slices(state)
            elif dim == r.ALL:
                slices = _campaign_slices(state)
            elif dim in (r.PAGE_GROUP, r.GOAL) and granularity != r.MONTH:  # the types of its events, as counted
                slices = _definition_slices(state.source, state.converted_types(visitor_key(dim, value)))
            for key in slices:
                r.add_slice(delta, key, r.SS, sign)
                r.add_slice(delta, key, r.BO, bounce)
                r.add_slice(delta, key, r.DU, seconds)
    for name, furthest in state.funnels.items():  # each step the visit reached, in the bucket of its start
        for granularity, delta, _ in fold._deltas(site, r.FUNNEL, name, start):
            r.add_total(delta, r.SS, sign)
            if granularity == r.HOUR:
                r.add_minute(delta, minute, r.SS, sign)
            for step in range(1, furthest + 1):
                r.add_breakdown(delta, r.FUNNEL_STEPS, str(step), 0, sign)


# -- recounts (liveinsight/recount.py) --------------------------------------------------


def _fresh_fold(fold: Fold, events: list[dict[str, Any]],
                definitions: Definitions) -> tuple[Fold, dict[str, SessionState]]:
    """One visitor's `events` (under its ids by day) folded from nothing under `definitions`, in time order, as the
    stream folded them: a new day's event continues the previous day's open visit, a new day's first visit
    continues its visitor's days. The rollups of its ended visits and the event-level counts of all (the last
    visit of each id is left open), and each id's last visit's state."""
    fresh = Fold(fold.now, realtime=False, all_sites=bool(fold.levels_for_all), rollups=True, props=fold.props,
                 definitions=lambda site: definitions, zones=fold.zones)
    states: dict[str, SessionState] = {}
    before: dict[str, SessionState | None] = {}
    for event in sorted(_continue_visits(events, {}),
                        key=lambda e: (event_time(e["timestamp"]), e["event_type"] != PAGE_VIEW)):
        sid = event["session_id"]
        visitor = states.get(event["pid"]) if event.get("pid") and sid not in states else None
        state = fresh.add_event(event, states.get(sid), before, visitor)
        if state is not None:
            states[sid] = state
    return fresh, states


def _add_into(target: dict, delta: dict, sign: int = 1) -> None:
    """Add a rollup delta (times `sign`) into another of the same item."""
    for i, value in enumerate(delta["t"]):
        target["t"][i] += sign * value
    for part in ("m", "x"):
        for slot, values in delta[part].items():
            row = target[part].setdefault(slot, [0] * len(values))
            for i, value in enumerate(values):
                row[i] += sign * value
    for name, rows in delta["b"].items():
        for label, values in rows.items():
            row = target["b"].setdefault(name, {}).setdefault(label, [0] * len(values))
            for i, value in enumerate(values):
                row[i] += sign * value


def _difference(a: dict | None, b: dict | None) -> dict:
    """Delta `a` minus delta `b` (either may be absent), without the rows and slots that come to nothing."""
    out = copy.deepcopy(a) if a is not None else {**copy.deepcopy(b), "t": [0] * len(b["t"]), "m": {}, "b": {}, "x": {}}
    if b is not None:
        _add_into(out, b, -1)
    out["m"] = {slot: v for slot, v in out["m"].items() if any(v)}
    out["x"] = {key: v for key, v in out["x"].items() if any(v)}
    out["b"] = {name: kept for name, rows in out["b"].items() if (kept := {k: v for k, v in rows.items() if any(v)})}
    return out


def _recounted_part(key: tuple[str, str], delta: dict, site: str, kind: str, name: str,
                    funnels: list[str]) -> dict | None:
    """The part of a delta that belongs to the definition `name` of `kind`: all of its own items' and of the
    `funnels` it changes (a goal's funnels), and a page group's rows in everything's items; None elsewhere (a
    recount changes nothing else)."""
    if key[0] == r.pk(site, DEFINITION_DIMS[kind], name) or key[0] in {r.pk(site, r.FUNNEL, f) for f in funnels}:
        return delta
    if kind == PAGE_GROUPS and key[0] in (r.pk(site, r.ALL), r.pk(r.ALL_SITES, r.ALL)):
        row = delta["b"].get(r.PAGE_GROUPS, {}).get(r.label(name))
        if row is not None:
            return {**delta, "t": [0] * len(delta["t"]), "m": {}, "x": {}, "b": {r.PAGE_GROUPS: {r.label(name): row}}}
    return None


def _is_recounted_key(key: str, kind: str, name: str, funnels: list[str]) -> bool:
    """Whether a visitor key is the recounted definition's: a page group's or goal's own, or a step of the
    funnels it changes."""
    if kind != FUNNELS and key == _own_key(kind, name):
        return True
    return any(key.startswith(f"{FUNNEL_STEP}\t{funnel}\t") for funnel in funnels)


def _own_key(kind: str, name: str) -> str:
    """The visitor key of a page group or goal."""
    return visitor_key(DEFINITION_DIMS[kind], name)


def _take_recounted(state: SessionState, fresh: SessionState, kind: str, name: str, funnels: list) -> None:
    """Give the live visitor `state` what the recounted definition `name` of `kind` knows of it in `fresh` (the
    same visitor folded from its raw events with the definition counted from the start): the days it was seen
    under the definition and its `funnels` (a goal's, or the funnel itself), and, when both end in the same
    visit, that visit's page group pages, goal, revenue, conversions, funnel step times and steps."""
    same_visit = abs(fresh.start - state.start) < 0.001
    if same_visit:
        for funnel in funnels:
            for goal in funnel.steps:
                times = set(state.step_times.get(goal, [])) | set(fresh.step_times.get(goal, []))
                if times:
                    state.step_times[goal] = _step_times(times)
            if fresh.funnels.get(funnel.name):
                state.funnels[funnel.name] = max(state.funnels.get(funnel.name, 0), fresh.funnels[funnel.name])
        if kind == PAGE_GROUPS and name in fresh.groups and (name in state.groups or len(state.groups) < MAX_GROUPS):
            pages = state.groups.setdefault(name, [])
            for i in fresh.groups[name]:
                page = fresh.pages[i] if i < len(fresh.pages) else None
                if page in state.pages and state.pages.index(page) not in pages:
                    pages.append(state.pages.index(page))
        if kind == GOALS and name in fresh.goals:
            if name not in state.goals and len(state.goals) < MAX_GOALS:
                state.goals.append(name)
            if name in state.goals and name in fresh.revenue:
                state.revenue[name] = dict(fresh.revenue[name])
        for key in [_own_key(kind, name)] if kind != FUNNELS else []:
            minutes = {}
            for at, count in fresh.converted.get(key, {}).items():
                minute, type_index = at.split(":")
                event_type = fresh.types[int(type_index)]
                if event_type in state.types:
                    minutes[f"{minute}:{state.types.index(event_type)}"] = count
            if minutes:
                state.converted[key] = minutes
    for day, seen in fresh.days.items():
        mine = state.days.get(day)
        if mine is None:
            continue
        for key, minute in seen.items():
            if _is_recounted_key(key, kind, name, [f.name for f in funnels]) \
                    and (key in mine or len(mine) < MAX_VISITOR_KEYS):
                mine[key] = min(mine.get(key, minute), minute)


def _continue_visits(events: list[dict[str, Any]], states: dict[str, SessionState]) -> list[dict[str, Any]]:
    """Events under a new day's visitor id, moved to the previous day's id while that visit is open."""
    last: dict[str, float] = {sid: state.last for sid, state in states.items()}
    out = []
    for event in sorted(events, key=lambda e: event_time(e["timestamp"])):
        pid, ts = event.get("pid"), event_time(event["timestamp"])
        if pid and event["session_id"] not in states and not event.get("bot") \
                and pid in last and ts <= last[pid] + config.SESSION_TIMEOUT_SECONDS:
            event = {**event, "session_id": pid}
        if not event.get("bot"):
            sid = event["session_id"]
            last[sid] = max(last.get(sid, ts), ts)
        out.append(event)
    return out


def _without(deltas: dict[tuple[str, str], dict], keys: frozenset[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    return {key: delta for key, delta in deltas.items() if key not in keys} if keys else deltas


def _copy(state: SessionState) -> SessionState:
    return SessionState.from_item(state.to_item())


class WrittenItems:
    """The stats items this aggregator put last, as put, most recent first out of `size` (an LRU).

    Reading an item before merging into it is a consistent read per item; an item this aggregator
    wrote itself is usually unchanged since, so its own copy stands in. The put is conditioned on
    the copy's version either way: when another writer got there first, it fails, the copy is
    forgotten and the item read again. Writers that meet a failure forget what they were putting.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], dict] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        with self._lock:
            found = {key: self._items[key] for key in keys if key in self._items}
            for key in found:
                self._items.move_to_end(key)
            return found

    def keep(self, items: Iterable[tuple[tuple[str, str], dict]]) -> None:
        with self._lock:
            for key, item in items:
                self._items[key] = item
                self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget(self, keys: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)


class Aggregator:
    """Applies batches of raw events (stream records or unpacked event items) to the stored items."""

    def __init__(self, store: Store, settings: config.Settings | None = None, exclusive: bool = False):
        """`exclusive`: nobody else writes the items meanwhile (a history import of past days), so
        the merged items go out in BatchWriteItem requests of 25 instead of one conditional put each."""
        self.store = store
        self.settings = settings or store.settings
        self.exclusive = exclusive
        self.definitions = DefinitionsStore(store, self.settings)  # read per site, cached for a minute
        self.written = WrittenItems(WRITTEN_ITEMS_KEPT)

    def apply_stream_records(self, records: list[dict[str, Any]], lane: str = "0",
                             now: float | None = None, consumer: str | None = None) -> AggregateResult:
        """Fold the INSERT records of one stream batch (one shard: `lane`); other records are ignored.

        `consumer`: config.REALTIME_CONSUMER writes realtime items only, config.ROLLUP_CONSUMER
        sessions and rollups only, None all three; each has its own ledger lane of the shard.

        A record that cannot be applied never costs its neighbours: when a batch fails because of
        its records (UnappliableRecords), its two halves are applied on their own, down to the
        record that fails alone, which is parked (`items.parked`) while the rest counts. Halves
        are contiguous ranges of stream positions applied in order, so the ledger keeps every
        item exactly-once whatever part of the batch it applied before. Any other failure (the
        store throttled or unreachable, a crash) fails the batch, which is delivered again; if
        that happened halfway through the halves, some items applied part of it
        (PartialRedelivery) and the same halves, split the same way, finish the rest.
        """
        try:
            return self._apply_records(records, lane_of(consumer, lane), now, consumer=consumer)
        except (UnappliableRecords, PartialRedelivery) as exc:
            if len(records) > 1:
                middle = len(records) // 2
                return (self.apply_stream_records(records[:middle], lane, now, consumer)
                        + self.apply_stream_records(records[middle:], lane, now, consumer))
            if isinstance(exc, PartialRedelivery):
                raise  # one record cannot be applied in part: the ledger is not what this code wrote
            at = time.time() if now is None else now
            applied = self._applied_keys(records[0], lane_of(consumer, lane), at, consumer)
            self.store.put_item(self.settings.stats_table, parked.park_item(
                records[0], parked_lane(consumer, lane), exc.__cause__ or exc, at, applied))
            return AggregateResult(parked=1)

    def _apply_records(self, records: list[dict[str, Any]], lane: str, now: float | None,
                       skip: frozenset[tuple[str, str]] = frozenset(), consumer: str | None = None) -> AggregateResult:
        """Apply `records` as positions of ledger lane `lane`, writing the item kinds of `consumer`."""
        events, ignored = [], 0
        for record in records:
            image = record.get("dynamodb", {}).get("NewImage")
            if record.get("eventName") != "INSERT" or not image:
                ignored += 1
                continue
            events.append(unpack(deserialize(image)))
        positions = [int(record["dynamodb"]["SequenceNumber"]) for record in records
                     if record.get("dynamodb", {}).get("SequenceNumber")]
        batch = Batch(lane, min(positions), max(positions)) if positions else None
        result = self.apply(events, batch, now=now, skip=skip, realtime=consumer != config.ROLLUP_CONSUMER,
                            rollups=consumer != config.REALTIME_CONSUMER)
        result.ignored += ignored
        return result

    def parked_records(self) -> list[dict[str, Any]]:
        """The parked records, in stream order per lane."""
        return self.store.query(self.settings.stats_table, parked.PARTITION, *parked.ALL_KEYS)

    def replay_parked(self, now: float | None = None) -> tuple[int, list[str]]:
        """Apply every parked record once more; (records replayed, why the others still fail).

        Each replay is its own ledger lane, so running this again (or after an interruption)
        never counts a record twice; a replayed record's item is deleted.
        """
        replayed, failures = 0, []
        for item in self.parked_records():
            try:
                record = parked.record_of(item)
                consumer = consumer_of_parked(parked.lane_and_sequence(item)[0])
                self.apply_stream_records_once(record, parked.replay_lane(item), now, parked.applied_keys(item),
                                               consumer)
            except Exception as exc:  # still failing: it stays parked, the others go on
                failures.append(f"{item['sk']}: {exc.__class__.__name__}: {exc}")
                continue
            self.store.delete_item(self.settings.stats_table, {"pk": item["pk"], "sk": item["sk"]})
            replayed += 1
        return replayed, failures

    def apply_stream_records_once(self, record: dict[str, Any], lane: str, now: float | None = None,
                                  skip: frozenset[tuple[str, str]] = frozenset(),
                                  consumer: str | None = None) -> AggregateResult:
        """Apply one record as position 1 of its own `lane` (a replay): applied at most once per item,
        and not at all to the items in `skip` (they applied it before it was parked); only the item
        kinds of the `consumer` that parked it."""
        record = {**record, "dynamodb": {**record.get("dynamodb", {}), "SequenceNumber": "1"}}
        return self._apply_records([record], lane, now, skip, consumer)

    def apply(self, events: list[dict[str, Any]], batch: Batch | None = None, now: float | None = None,
              realtime: bool = True, sessions: dict[str, SessionState] | None = None,
              save_sessions: bool = True, skip: frozenset[tuple[str, str]] = frozenset(),
              rollups: bool = True) -> AggregateResult:
        """Fold unpacked event items and commit them as `batch` (a one-off lane when None).

        `sessions` is a cache of visit states kept by the caller across batches (history
        import); with `save_sessions=False` the caller writes them itself (`save_sessions()`).
        `skip`: stats items (pk, sk) that already hold these events (a parked record's replay).
        `realtime` / `rollups` False leave out the realtime items / the rollups and sessions.
        """
        now = time.time() if now is None else now
        if not events:
            return AggregateResult()
        batch = batch or Batch(f"once-{uuid.uuid4().hex[:12]}", 1, 1)
        fold = self._fold(events, batch, now, realtime, sessions if sessions is not None else {}, rollups)
        try:
            requests = self._commit_items(_without(fold.rollups, skip), fold.capacity, batch, now, fold.result)
            requests += self._commit_items(_without(fold.realtime, skip), None, batch, now, fold.result)
            if save_sessions and rollups and fold.sessions:
                requests += self._save(fold.sessions.values(), batch)
        except Exception as exc:
            if refused_as_invalid(exc):
                raise UnappliableRecords(f"DynamoDB refused an item of these records: {exc}") from exc
            raise
        fold.result.write_requests = requests
        return fold.result

    def _fold(self, events: list[dict[str, Any]], batch: Batch, now: float, realtime: bool,
              states: dict[str, SessionState], rollups: bool = True) -> Fold:
        """The deltas of `events` on top of their visits' stored states (read into `states`)."""
        done: set[str] = set()
        # The recount job's markers (liveinsight/recount.py): the rollup consumer recounts a definition over
        # the marker's session's raw events, read here (a store failure fails the batch, never parks it).
        markers = [e for e in events if is_recount(e)] if rollups else []
        events = [e for e in events if not is_recount(e)]
        chained = {sid for m in markers for sid in m.get("ids") or ()}  # a visitor's other days' ids
        missing = sorted(({e["session_id"] for e in events + markers if not e.get("bot")} | chained) - set(states))
        self._read_states(missing, batch, states, done, rollups)
        markers = [m for m in markers if m["session_id"] not in done]
        raw = self._raw_events(sorted({i for m in markers for i in m.get("ids") or [m["session_id"]]}))
        # A visitor's id changes at midnight: an event under today's id whose visit is unknown
        # continues the visit of yesterday's id (`pid`) when that visit is still open.
        previous = sorted({e["pid"] for e in events if e.get("pid") and not e.get("bot")
                           and e["session_id"] not in states} - set(states))
        self._read_states(previous, batch, states, done, rollups)
        events = _continue_visits(events, states)
        events.sort(key=lambda e: (e["session_id"], event_time(e["timestamp"]), e["event_type"] != PAGE_VIEW))
        # The sites' definitions and zones are read before folding: a store that fails here fails the batch,
        # which is delivered again, while what raises in folding is the records' own (parked).
        sites = {e.get("site") or "" for e in events + markers if not e.get("bot")} if rollups else set()
        definitions = {site: self.definitions.for_site(site) for site in sorted(sites) if site}
        zones = SiteZones(self.store, self.settings).get_many(
            {e.get("site") or "" for e in events} | {s.site for s in states.values()}) if rollups else {}
        fold = Fold(now, realtime, all_sites=self.settings.only_site is None, rollups=rollups,
                    props=self.settings.props, definitions=lambda site: definitions.get(site) or Definitions(site),
                    zones=zones)
        fold.realtime_shards = rt.shards_for(len(events))  # the same on redelivery: the same records
        before: dict[str, SessionState | None] = {}
        try:  # folding only computes: whatever raises here, raises for these records every time
            for event in events:
                if event.get("bot"):
                    fold.add_bot(event)
                    continue
                sid = event["session_id"]
                if sid in done:
                    continue
                visitor = states.get(event["pid"]) if event.get("pid") and sid not in states else None
                state = fold.add_event(event, states.get(sid), before, visitor)
                if state is not None:
                    states[sid] = state
            for marker in markers:
                self._recount(fold, marker, states, raw, before)
            for sid, previous in before.items():
                fold.settle(sid, previous, fold.sessions[sid])
                fold.settle_visitor(sid, fold.sessions[sid])
        except Exception as exc:
            raise UnappliableRecords(f"folding the records failed: {exc!r}") from exc
        return fold

    def _raw_events(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The raw events of each session id (a Query each, several in flight: a batch of markers)."""
        if len(ids) <= 1:
            return {sid: self.store.events_of(sid) for sid in ids}
        with ThreadPoolExecutor(max_workers=min(PARALLEL_PUTS, len(ids))) as pool:
            return dict(zip(ids, pool.map(self.store.events_of, ids)))

    def _recount(self, fold: Fold, marker: dict[str, Any], states: dict[str, SessionState],
                 raw: dict[str, list[dict[str, Any]]], before: dict[str, SessionState | None]) -> None:
        """Count the marker's definition in its visitor's raw events older than its `since`, as if it had always
        existed: what the visitor's past visits contribute with it counted from the start, minus what they
        contribute as counted (from `since`), in the definition's own items only; and the visitor's states (one
        per day's id) take what the definition knows of their current visits, so the batch's settling adds
        those visits' difference."""
        kind, name, since = marker["recount"]
        ids = marker.get("ids") or [marker["session_id"]]
        live = {sid: states[sid] for sid in ids if sid in states}
        definitions = fold.definitions(marker.get("site") or "")
        current = definitions.find(kind, name)
        tag = recount_tag(kind, name, since)
        if not live or current is None or current.seeded or current.since != since \
                or any(tag in state.recounted for state in live.values()):
            fold.result.ignored += 1  # changed or deleted since (its new version has a marker of its own)
            return
        # What the visitor's states hold; later events are still to come.
        upto = max(max(state.last, state.tail[0]) for state in live.values())
        events = [e for sid in ids for e in map(unpack, raw.get(sid, ()))
                  if not e.get("bot") and not is_recount(e) and event_time(e["timestamp"]) <= upto]
        # As this visitor's events are counted now (the definitions recounted before count from the start)...
        recounted = {t for state in live.values() for t in state.recounted}
        counting = definitions
        for other_kind in (PAGE_GROUPS, GOALS, FUNNELS):
            for other in definitions.of(other_kind):
                if recount_tag(other_kind, other.name, other.since) in recounted:
                    counting = counting.with_definition(other_kind, replace(other, since=0))
        # ... and with this one from the start too: a goal's funnels take its earlier conversions as steps.
        always, always_states = _fresh_fold(fold, events, counting.with_definition(kind, replace(current, since=0)))
        counted, _ = _fresh_fold(fold, events, counting)
        funnels = [name] if kind == FUNNELS else definitions.funnels_with(name) if kind == GOALS else []
        site = next(iter(live.values())).site
        for key in always.rollups.keys() | counted.rollups.keys():
            difference = _difference(always.rollups.get(key), counted.rollups.get(key))
            part = _recounted_part(key, difference, site, kind, name, funnels)
            if part is None or r.is_empty(part):
                continue
            if key in fold.rollups:
                _add_into(fold.rollups[key], part)
            else:
                fold.rollups[key] = part
                fold.capacity[key] = always.capacity.get(key) or counted.capacity[key]
        counted_days: set[tuple[int, str]] = set()  # the visitor's (day, key) of the definition, counted by an id
        for sid, state in sorted(live.items(), key=lambda pair: pair[1].start):
            if sid not in before:
                before[sid] = _copy(state)
                fold.visitors_before[sid] = state.visitor_keys()
            if sid in always_states:
                _take_recounted(state, always_states[sid], kind, name, [definitions.funnel(f) for f in funnels])
            # A later day's id began with its visitor's days: what an earlier id counts, it does not count again.
            mine = {day_key: minute for day_key, minute in state.visitor_keys().items()
                    if _is_recounted_key(day_key[1], kind, name, funnels)}
            for day_key in mine.keys() & counted_days:
                fold.visitors_before[sid][day_key] = mine[day_key]
            counted_days |= mine.keys()
            state.recounted.append(tag)
            fold.sessions[sid] = state

    def _read_states(self, ids: list[str], batch: Batch, states: dict[str, SessionState], done: set[str],
                     rollups: bool) -> None:
        """Read the stored visits of `ids` into `states`; `done` gets those that applied `batch`."""
        if not ids:
            return
        # The realtime consumer only needs a visit's source: a read a moment stale costs half.
        for item in self.store.batch_get(self.settings.sessions_table, [{"session_id": s} for s in ids],
                                         consistent=rollups):
            if item.get("sv") != SCHEMA_VERSION or "st" not in item:
                continue
            if batch.applied_to(item):
                done.add(item["session_id"])  # its batch was committed whole before the crash
            state = states[item["session_id"]] = SessionState.from_item(item)
            if not rollups:
                state.ids = []  # the rollup consumer may be ahead: its ids include events of this batch

    def _applied_keys(self, record: dict[str, Any], lane: str, now: float,
                      consumer: str | None = None) -> list[tuple[str, str]]:
        """The stats items that applied `record` before it failed (their ledger shows its position):
        a replay must leave them alone. None when folding it fails (then nothing applied it)."""
        sequence = int(record.get("dynamodb", {}).get("SequenceNumber") or 0)
        image = record.get("dynamodb", {}).get("NewImage")
        if not image:
            return []
        try:
            fold = self._fold([unpack(deserialize(image))], Batch(lane, sequence, sequence), now,
                              consumer != config.ROLLUP_CONSUMER, {}, consumer != config.REALTIME_CONSUMER)
        except UnappliableRecords:
            return []
        applied = []
        for key in [*fold.rollups, *fold.realtime]:
            try:
                item = self.store.get_item(self.settings.stats_table, {"pk": key[0], "sk": key[1]})
            except Exception as exc:
                if refused_as_invalid(exc):
                    continue  # a key DynamoDB cannot hold was never written
                raise
            if item is not None and int(item.get(APPLIED, {}).get(lane, -1)) >= sequence:
                applied.append(key)
        return applied

    def save_sessions(self, states: Iterable[SessionState]) -> int:
        """Write visit states (BatchWriteItem); returns the request count."""
        return self._save(states, None)

    def _save(self, states: Iterable[SessionState], batch: Batch | None) -> int:
        items = []
        for state in states:
            item = state.to_item()
            if batch is not None:
                batch.stamp(item, None)
            items.append((self.settings.sessions_table, item))
        return self.store.batch_put(items)

    def _put_all(self, table: str, writes: list[tuple[tuple[str, str], dict, int | None]]) -> list[tuple[str, str]]:
        """Conditional puts, several in flight (each is one small request); returns the keys that lost a race."""
        def put(write: tuple[tuple[str, str], dict, int | None]) -> tuple[str, str] | None:
            key, item, version = write
            try:
                self.store.put_versioned(table, item, version)
            except VersionConflict:
                return key
            return None

        if len(writes) <= 1:
            return [k for k in map(put, writes) if k is not None]
        with ThreadPoolExecutor(max_workers=min(PARALLEL_PUTS, len(writes))) as pool:
            return [k for k in pool.map(put, writes) if k is not None]

    def _commit_items(self, deltas: dict[tuple[str, str], dict], capacity: dict | None, batch: Batch,
                      now: float, result: AggregateResult) -> int:
        """Read, merge and conditionally put every touched item; lost races are re-read and retried."""
        table = self.settings.stats_table
        pending = {key: delta for key, delta in deltas.items() if capacity is None or not r.is_empty(delta)}
        requests = 0
        for attempt in range(MAX_CONFLICT_RETRIES):
            if not pending:
                return requests
            current = {} if self.exclusive else self.written.get_many(pending)
            unknown = [{"pk": pk, "sk": sk} for pk, sk in pending if (pk, sk) not in current]
            current.update({(i["pk"], i["sk"]): i for i in self.store.batch_get(
                table, unknown, consistent=True, include_expired=True)} if unknown else {})
            writes = []
            for key, delta in pending.items():
                old = current.get(key)
                if batch.applied_to(old):
                    result.skipped_items += 1
                    continue
                alive = old is not None and not ("ttl" in old and old["ttl"] < now)
                blob = r.decode(old.get("c")) if alive else {}
                if capacity is None:
                    blob = rt.merge(blob, delta)
                    ttl = int(now + rt.TTL_SECONDS)
                else:
                    blob = r.merge(blob, delta, capacity[key], r.slice_capacity(key[0]))
                    ttl = int(now + config.LONG_ROLLUP_TTL_SECONDS)
                version = int(old["v"]) if old is not None and "v" in old else None
                item = {"pk": key[0], "sk": key[1], "c": r.encode(blob), "v": (version or 0) + 1,
                        "sv": SCHEMA_VERSION, "ttl": ttl}
                batch.stamp(item, old if alive else None)
                writes.append((key, item, version))
            if self.exclusive:
                return requests + self.store.batch_put((table, item) for _, item, _ in writes)
            requests += len(writes)
            self.written.forget(key for key, _, _ in writes)  # until each put is known to have landed
            conflicts = {key: pending[key] for key in self._put_all(table, writes)}
            self.written.keep((key, item) for key, item, _ in writes if key not in conflicts)
            pending = conflicts
            if pending:
                time.sleep(0.01 * (attempt + 1))
        raise VersionConflict(f"{len(pending)} items still contended after {MAX_CONFLICT_RETRIES} attempts")
