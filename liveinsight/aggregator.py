"""The stream aggregator: folds a batch of new raw events into sessions and rollups.

Each batch is folded in memory first (session state, counters, realtime state), then
written with as few requests as possible: one BatchGetItem per 100 items read and either
one BatchWriteItem per 25 items (`batch` commit: exactly one aggregator, the local stack)
or one TransactWriteItems per 100 items with version checks (`transact` commit: many
aggregators, one per stream shard, in AWS). Only INSERT records count: TTL deletions and
overwrites of a retried `event_id` arrive as REMOVE / MODIFY and are ignored.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Iterable

from . import config, rollups as r
from .collector import unpack
from .config import Settings
from .referrers import DIRECT
from .store import ANY_VERSION, Store, VersionConflict, deserialize

GRANULARITIES = (r.MINUTE, r.HOUR, r.DAY)
MILLISECOND = Decimal("0.001")
MAX_SESSION_KEYS = 400
MAX_SESSION_SEEN = 600
MAX_SESSION_IDS = 200
MAX_CONFLICT_RETRIES = 8
BOT_DIMSETS = ("*", "p", "e", "pe")


def event_time(range_key: Any) -> float:
    """The event time (ms precision) of an events-table range key (ms + event-id digits)."""
    return float(Decimal(str(range_key)).quantize(MILLISECOND, rounding=ROUND_FLOOR))


def short_hash(value: str, length: int = 10) -> str:
    return hashlib.blake2b(value.encode(), digest_size=8).hexdigest()[:length]


@dataclass
class SessionState:
    """What the aggregator remembers about a visit between batches (the sessions table item)."""

    session_id: str
    start: float
    last: float
    events: int = 0
    page_views: int = 0
    source: str = DIRECT
    referrer: str | None = None
    entry: str | None = None
    browser: str = "Unknown"
    os: str = "Unknown"
    device: str = "Unknown"
    campaign: str | None = None
    user_agent: str | None = None
    initial_referrer: str | None = None
    keys: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    ids: list[str] = field(default_factory=list)

    @property
    def bounce(self) -> bool:
        return self.events == 1 and self.page_views == 1

    @property
    def duration(self) -> float:
        return max(0.0, self.last - self.start)

    @classmethod
    def begin(cls, event: dict[str, Any], ts: float, ids: list[str] | None = None) -> "SessionState":
        return cls(
            session_id=event["session_id"], start=ts, last=ts,
            source=event.get("source") or DIRECT, referrer=event.get("referrer_host"),
            entry=event.get("page"), browser=event.get("browser") or "Unknown",
            os=event.get("os") or "Unknown", device=event.get("device") or "Unknown",
            campaign=event.get("utm_campaign"), user_agent=event.get("user_agent"),
            initial_referrer=event.get("referrer"), ids=list(ids or []),
        )

    def to_item(self) -> dict[str, Any]:
        state = {
            "start": self.start, "last": self.last, "events": self.events, "page_views": self.page_views,
            "source": self.source, "referrer": self.referrer, "entry": self.entry, "browser": self.browser,
            "os": self.os, "device": self.device, "campaign": self.campaign,
            "keys": sorted(self.keys), "seen": sorted(self.seen), "ids": self.ids[-MAX_SESSION_IDS:],
        }
        return {
            "session_id": self.session_id,
            "is_active": "1",
            "last_activity": Decimal(str(round(self.last, 3))),
            "start_time": Decimal(str(round(self.start, 3))),
            "user_agent": self.user_agent,
            "initial_referrer": self.initial_referrer,
            "ttl": int(max(self.last, time.time()) + config.SESSION_ITEM_TTL_SECONDS),
            "st": r.encode(state),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "SessionState":
        state = r.decode(item.get("st"))
        return cls(
            session_id=item["session_id"], start=state["start"], last=state["last"], events=state["events"],
            page_views=state["page_views"], source=state["source"], referrer=state["referrer"],
            entry=state["entry"], browser=state["browser"], os=state["os"], device=state["device"],
            campaign=state["campaign"], user_agent=item.get("user_agent"),
            initial_referrer=item.get("initial_referrer"), keys=set(state["keys"]), seen=set(state["seen"]),
            ids=list(state["ids"]),
        )


@dataclass
class AggregateResult:
    """What one batch did: events counted, duplicates and bots seen, requests made."""

    counted: int = 0
    duplicates: int = 0
    bots: int = 0
    ignored: int = 0
    write_requests: int = 0


@dataclass
class _Touched:
    """A session touched by the batch, with what it had contributed before the batch."""

    state: SessionState
    bounce: bool
    duration: float
    known: set[str]


class Fold:
    """In-memory deltas of one batch: rollup counters, realtime state and sessions.

    Event-level counters are added per event; session-level ones (sessions, bounces,
    durations, sources, entry pages, browsers…) once per session when the batch is
    finished, as the difference between what the session contributes now and what it
    had contributed before the batch.
    """

    def __init__(self, now: float) -> None:
        self.minute_horizon = now - config.MINUTE_ROLLUP_TTL_SECONDS
        self.counters: dict[str, dict[str, dict]] = {}
        self.realtime: dict[str, dict] = {}
        self.sessions: dict[str, SessionState] = {}
        self.touched: dict[str, _Touched] = {}
        self.result = AggregateResult()

    def _prefixes(self, ts: float) -> list[str]:
        """The rollup key prefix of each granularity for a time (minute skipped when it would expire)."""
        prefixes = []
        for g in GRANULARITIES:
            if g == r.MINUTE and ts < self.minute_horizon:
                continue  # minute rollups of old (imported) events would expire at once
            prefixes.append(f"{r.GRANULARITY_CODE[g]}#{r.bucket_start(ts, g)}#")
        return prefixes

    def _c(self, prefix: str, dimset: str, key: str) -> dict:
        return self.counters.setdefault(prefix + dimset, {}).setdefault(key, {})

    def add_event(self, event: dict[str, Any], state: SessionState | None) -> SessionState | None:
        ts = event_time(event["timestamp"])
        if event.get("bot"):
            self.result.bots += 1
            for prefix in self._prefixes(ts):
                for dimset, key in r.event_filter_keys(event.get("page"), DIRECT, event["event_type"]):
                    if dimset in BOT_DIMSETS:
                        _bump(self._c(prefix, dimset, key), r.BOTS)
            return state
        sid = event["session_id"]
        event_hash = short_hash(event.get("event_id") or f"{sid}{ts}")
        if state is not None and event_hash in state.ids:
            self.result.duplicates += 1
            return state
        if state is None or ts - state.last > config.SESSION_TIMEOUT_SECONDS:
            if sid in self.touched:
                self._settle(sid)
            state = SessionState.begin(event, ts, ids=state.ids if state else None)
            self.touched[sid] = _Touched(state, False, 0.0, set())
        elif sid not in self.touched:
            self.touched[sid] = _Touched(state, state.bounce, state.duration, set(state.keys))
        self.sessions[sid] = state
        self.result.counted += 1
        is_view = event["event_type"] == "page_view"
        page = event.get("page")
        state.events += 1
        state.page_views += int(is_view)
        state.last = max(state.last, ts)
        state.ids.append(event_hash)
        if len(state.ids) > MAX_SESSION_IDS:
            del state.ids[: len(state.ids) - MAX_SESSION_IDS]

        keys = r.event_filter_keys(page, state.source, event["event_type"])
        for prefix in self._prefixes(ts):
            for dimset, key in keys:
                c = self._c(prefix, dimset, key)
                c[r.EVENTS] = c.get(r.EVENTS, 0) + 1
                _bump(c, r.EVENT_TYPES, event["event_type"])
                if is_view:
                    c[r.PAGE_VIEWS] = c.get(r.PAGE_VIEWS, 0) + 1
                    _pair(c, r.SOURCES, state.source, 1, 1)
                    if page is not None:
                        _pair(c, r.PAGES, page, 0, 1)
        if page is not None:
            unseen = [(d, k) for d, k in keys if f"{d}|{k}|{page}" not in state.seen]
            if unseen:
                for prefix in self._prefixes(state.start):
                    for dimset, key in unseen:
                        _pair(self._c(prefix, dimset, key), r.PAGES, page, 1, 1)
                if len(state.seen) < MAX_SESSION_SEEN:
                    state.seen.update(f"{d}|{k}|{page}" for d, k in unseen)
        if len(state.keys) < MAX_SESSION_KEYS:
            state.keys.update(f"{d}|{k}" for d, k in keys)
        self._add_realtime(event, state, ts, page)
        return state

    def _settle(self, sid: str) -> None:
        """Add a touched session's session-level contribution (or its change) to the counters."""
        touched = self.touched.pop(sid)
        state = touched.state
        bounce, duration = state.bounce, state.duration
        bounce_delta = int(bounce) - int(touched.bounce)
        duration_delta = duration - touched.duration
        attributes = [(counter, value) for counter, value in (
            (r.REFERRERS, state.referrer), (r.ENTRY_PAGES, state.entry), (r.BROWSERS, state.browser),
            (r.OPERATING_SYSTEMS, state.os), (r.DEVICES, state.device), (r.CAMPAIGNS, state.campaign)) if value]
        for prefix in self._prefixes(state.start):
            for stored in state.keys:
                dimset, key = stored.split("|", 1)
                c = self._c(prefix, dimset, key)
                if stored in touched.known:
                    if bounce_delta:
                        _bump(c, r.BOUNCES, by=bounce_delta)
                    if duration_delta:
                        _bump(c, r.DURATION, by=duration_delta)
                    continue
                c[r.SESSIONS] = c.get(r.SESSIONS, 0) + 1
                if bounce:
                    _bump(c, r.BOUNCES)
                if duration:
                    _bump(c, r.DURATION, by=duration)
                _pair(c, r.SOURCES, state.source, 0, 1)
                for counter, value in attributes:
                    _bump(c, counter, value)

    def finish(self) -> None:
        """Settle every session the batch touched."""
        for sid in list(self.touched):
            self._settle(sid)

    def _add_realtime(self, event: dict[str, Any], state: SessionState, ts: float, page: str | None) -> None:
        sid = short_hash(state.session_id)
        recent = {"event_type": event["event_type"], "timestamp": ts, "page": page, "source": state.source,
                  "session_id": state.session_id}
        everything = self.realtime.setdefault(r.RT_ALL, {})
        everything.setdefault("s", {})[sid] = max(ts, everything.get("s", {}).get(sid, 0))
        everything.setdefault("r", []).append(recent)
        by_source = self.realtime.setdefault(r.RT_SOURCE, {}).setdefault(state.source, {}).setdefault("s", {})
        by_source[sid] = max(ts, by_source.get(sid, 0))
        if page is not None:
            on_page = self.realtime.setdefault(r.RT_PAGE, {}).setdefault(page, {})
            on_page.setdefault("s", {})[sid] = max(ts, on_page.get("s", {}).get(sid, 0))
            on_page.setdefault("r", []).append(recent)
            pair = (self.realtime.setdefault(r.RT_PAGE_SOURCE, {}).setdefault(page, {})
                    .setdefault(state.source, {}).setdefault("s", {}))
            pair[sid] = max(ts, pair.get(sid, 0))


def _bump(c: dict, counter: str, name: str | None = None, by: float = 1) -> None:
    if name is None:
        c[counter] = c.get(counter, 0) + by
    else:
        inner = c.setdefault(counter, {})
        inner[name] = inner.get(name, 0) + by


def _pair(c: dict, counter: str, name: str, index: int, by: int) -> None:
    if not by:
        return
    pair = c.setdefault(counter, {}).setdefault(name, [0, 0])
    pair[index] += by


def _expired(item: dict[str, Any], now: float) -> bool:
    return "ttl" in item and item["ttl"] < now


def _ttl(pk: str, now: float) -> int:
    if pk.startswith("m#"):
        return int(now + config.MINUTE_ROLLUP_TTL_SECONDS)
    return int(now + config.LONG_ROLLUP_TTL_SECONDS)


class Aggregator:
    """Applies batches of raw events (stream records or plain event dicts) to the rollups."""

    def __init__(self, store: Store, settings: Settings | None = None):
        self.store = store
        self.settings = settings or store.settings

    def apply_stream_records(self, records: Iterable[dict[str, Any]], now: float | None = None) -> AggregateResult:
        """Fold the INSERT records of a DynamoDB stream batch; other records are ignored."""
        events, ignored = [], 0
        for record in records:
            image = record.get("dynamodb", {}).get("NewImage")
            if record.get("eventName") != "INSERT" or not image:
                ignored += 1
                continue
            events.append(unpack(deserialize(image)))
        result = self.apply(events, now=now)
        result.ignored += ignored
        return result

    def apply(self, events: list[dict[str, Any]], now: float | None = None, realtime: bool = True,
              sessions: dict[str, SessionState] | None = None, save_sessions: bool = True) -> AggregateResult:
        """Fold raw event items (unpacked events-table items) and commit the result.

        `sessions` is a cache of session states kept by the caller across batches (history
        import); with `save_sessions=False` the caller writes them itself (`save_sessions()`).
        """
        now = time.time() if now is None else now
        if not events:
            return AggregateResult()
        events = sorted(events, key=lambda e: (e["session_id"], float(e["timestamp"])))
        states: dict[str, SessionState] = sessions if sessions is not None else {}
        missing = sorted({e["session_id"] for e in events if not e.get("bot")} - set(states))
        if missing:
            stored = self.store.batch_get(self.settings.sessions_table, [{"session_id": s} for s in missing])
            states.update({i["session_id"]: SessionState.from_item(i) for i in stored if "st" in i})
        fold = Fold(now)
        for event in events:
            sid = event["session_id"]
            state = fold.add_event(event, states.get(sid))
            if state is not None:
                states[sid] = state
        fold.finish()
        if not save_sessions:
            fold.sessions.clear()
        if not realtime:
            fold.realtime.clear()
        fold.result.write_requests = self._commit(fold, now)
        return fold.result

    def save_sessions(self, states: Iterable[SessionState]) -> int:
        """Write session states (BatchWriteItem); returns the request count."""
        return self.store.batch_put((self.settings.sessions_table, s.to_item()) for s in states)

    def _commit(self, fold: Fold, now: float) -> int:
        session_items = [(self.settings.sessions_table, s.to_item()) for s in fold.sessions.values()]
        horizon = now - config.SESSION_TIMEOUT_SECONDS - 60
        for attempt in range(MAX_CONFLICT_RETRIES):
            rollup_items = self._merged_items(fold, now, horizon)
            if self.settings.rollup_commit == config.ROLLUP_COMMIT_BATCH:
                return self.store.batch_put([(t, i) for t, i, _ in rollup_items] + session_items)
            try:
                everything = rollup_items + [(t, i, ANY_VERSION) for t, i in session_items]
                if len(everything) <= 100:
                    return self.store.transact_put(everything)
                return self.store.transact_put(rollup_items) + self.store.batch_put(session_items)
            except VersionConflict:
                time.sleep(0.02 * (attempt + 1))
        raise VersionConflict(f"rollups still contended after {MAX_CONFLICT_RETRIES} attempts")

    def _merged_items(self, fold: Fold, now: float, horizon: float) -> list[tuple[str, dict, Any]]:
        table = self.settings.stats_table
        pks = list(fold.counters) + list(fold.realtime)
        current = {i["pk"]: i for i in self.store.batch_get(table, [{"pk": pk} for pk in pks], include_expired=True)}
        items = []
        for pk, delta in fold.counters.items():
            old = current.get(pk)
            merged = r.decode(old.get("c")) if old and not _expired(old, now) else {}
            for key, counters in delta.items():
                merged[key] = r.merge_into(merged.get(key, {}), counters)
            items.append(self._item(table, pk, merged, old, now))
        for pk, delta in fold.realtime.items():
            old = current.get(pk)
            merged = r.merge_realtime(r.decode(old.get("c")) if old and not _expired(old, now) else {}, delta, horizon)
            items.append(self._item(table, pk, merged, old, now))
        return items

    @staticmethod
    def _item(table: str, pk: str, blob: dict, old: dict | None, now: float) -> tuple[str, dict, Any]:
        version = int(old["v"]) if old and "v" in old else None
        item = {"pk": pk, "c": r.encode(blob), "v": (version or 0) + 1}
        if not pk.startswith("rt#"):
            item["ttl"] = _ttl(pk, now)
        return table, item, version
