"""The recount job: a page group, goal or funnel added today counts the raw events still kept, once.

A definition counts from its `since` as events arrive (liveinsight/definitions.py). This job, run on a
schedule (the template's `Recount` schedule, and every minute by the local stack), then counts it over
the raw events the events table still keeps (LIVEINSIGHT_RAW_RETENTION_HOURS, 24 h by default) that are
older than its `since`:

1. The sites that ever stored a definition are listed under `items.definitions.pending_key`; a stored
   definition with no `counted_from` yet is due once its `since` is RECOUNT_AFTER_SECONDS old (every
   event before it has reached the stream by then).
2. One Scan of the events table (store.SCAN_SEGMENTS segments at once) finds the session ids of each due site with an event older than the
   definition's `since` that it counts, and the oldest such event; and links a visitor's ids by day (an
   event under a new day's derived id names the previous day's, `pid`).
3. Each of those visitors gets a marker (`items.events.recount_marker`) in the partition of its first
   day's id, naming its ids by day, written only where there is none. The stream delivers it in order with
   that id's events, and the rollup consumer recounts the definition over the visitor's raw events there
   (`Aggregator._recount`): exactly once per stats item, like any event, through the ledger.
4. Then the definition's `counted_from` is set to the oldest event found (its `since` when none):
   the API and the dashboard say from when it counts.

Interrupted anywhere, the next run does it again: markers already written are left as they are (their key
is the same every time), so no session is recounted twice; `counted_from` is written last. A definition
changed meanwhile has a new `since`, and the markers of the old one are ignored by the aggregator.

Cost: the Scan reads the whole events table once per run with something due (one eventually consistent
read unit per 8 KB: about 100 read units per 1,000 visits kept), one write unit per marker, and the
rollup consumer's Query of each marked session's raw events.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from . import config
from .definitions import DefinitionsStore
from .items import definitions as d, rollups as r
from .items.events import event_time, is_recount, recount_marker, unpack
from .store import Store

RECOUNT_AFTER_SECONDS = 60  # a definition's `since` this old: every event stamped before it was collected
MARKER_KEPT_SECONDS = 2 * 24 * 3600  # past the raw events the job can find, so a rerun never adds one again


class Recounter:
    """Recounts the due definitions of every site (see the module's docstring)."""

    def __init__(self, store: Store, settings: config.Settings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings or store.settings
        self.definitions = DefinitionsStore(store, self.settings)
        self.clock = clock

    def sites(self) -> list[str]:
        """The sites that ever stored a definition."""
        return [item["sk"] for item in self.store.query(self.settings.stats_table, d.PENDING_PARTITION, " ", "\uffff")]

    def due(self, now: float) -> dict[str, tuple[d.Definitions, list[tuple[str, d.Definition]]]]:
        """{site: (its definitions, [(kind, definition)] due)}: the stored definitions not yet recounted whose
        `since` is old enough."""
        out = {}
        for site in self.sites():
            known = self.definitions.read(site, consistent=True)
            due = [(kind, x) for kind in d.KINDS for x in known.of(kind)
                   if not x.seeded and x.counted_from is None and x.since + RECOUNT_AFTER_SECONDS <= now]
            if due:
                out[site] = (known, due)
        return out

    def run(self) -> dict[str, Any]:
        """One run: what it recounted, per site and definition, and how many visitors it marked."""
        now = self.clock()
        due = self.due(now)
        if not due:
            return {"job": "recount", "recounted": []}
        # Per site and due definition, the session ids with an event it counts older than its `since`; per
        # site and definition, the oldest event older than its `since` (from when it then counts); and the
        # visitors' ids by day: an event under a new day's id names the previous day's (`pid`), whose visit
        # it may continue (`aggregator._continue_visits`), so the two are recounted together.
        marked: dict[tuple[str, str, str], set[str]] = {}
        oldest: dict[tuple[str, str, str], float] = {}
        chains = _Chains()
        for item in self.store.scan_events():
            event = unpack(item)
            site = event.get("site") or ""
            if site not in due or event.get("bot") or is_recount(event):
                continue
            at = event_time(item["timestamp"])
            chains.see(item["session_id"], event.get("pid"), at)
            event["page"] = r.label(event["page"]) if event.get("page") is not None else None
            known, definitions = due[site]
            for kind, definition in definitions:
                if at >= definition.since:
                    continue
                key = (site, kind, definition.name)
                oldest[key] = min(oldest.get(key, at), at)
                if _counts(known, kind, definition, event):
                    marked.setdefault(key, set()).add(item["session_id"])
        recounted = []
        for site, (_, definitions) in due.items():
            for kind, definition in definitions:
                key = (site, kind, definition.name)
                written = 0
                visitors = {chains.root(sid) for sid in marked.get(key, ())}
                for root in sorted(visitors):
                    marker = recount_marker(session_id=root, site=site, kind=kind, name=definition.name,
                                            since=definition.since,
                                            ttl=int(now + self.settings.raw_retention_hours * 3600 + MARKER_KEPT_SECONDS),
                                            ids=chains.members(root))
                    written += self.store.put_if_absent(self.settings.events_table, marker, key="session_id")
                counted_from = int(oldest[key]) if key in oldest else definition.since
                if self.definitions.mark_counted(site, kind, definition.name, definition.since, counted_from):
                    recounted.append({"site": site, "kind": kind, "name": definition.name,
                                      "counted_from": counted_from, "visitors": len(visitors),
                                      "markers_written": written})
        return {"job": "recount", "recounted": recounted}


def _counts(known: d.Definitions, kind: str, definition: d.Definition, event: dict[str, Any]) -> bool:
    """Whether a session with `event` (its page labelled as the aggregator labels it), older than the
    definition's `since`, needs a recount: it is a page group's page view or a goal's conversion (a session
    without one gains nothing: its visits were counted whole from their first such event after `since`), or
    any event, for a funnel (which counts the visits that start after its `since`)."""
    if kind == d.PAGE_GROUPS:
        return definition.name in known.groups_of(event.get("page"))
    if kind == d.GOALS:
        return known.goal_hit(definition, event)
    return True


class _Chains:
    """A visitor's ids by day, linked by the previous day's id its events name (`pid`): each chain is
    recounted once, by a marker in the partition of its id with the earliest event (its first day's)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.first: dict[str, float] = {}
        self._groups: dict[str, list[str]] | None = None  # by chain, once every event is seen

    def see(self, sid: str, pid: str | None, at: float) -> None:
        self.first[sid] = min(self.first.get(sid, at), at)
        self._find(sid)
        if pid and pid != sid:
            a, b = self._find(sid), self._find(pid)
            if a != b:
                self.parent[a] = b

    def _find(self, sid: str) -> str:
        self.parent.setdefault(sid, sid)
        while self.parent[sid] != sid:
            self.parent[sid] = self.parent[self.parent[sid]]
            sid = self.parent[sid]
        return sid

    def members(self, sid: str) -> list[str]:
        """Every id of `sid`'s chain, sorted."""
        if self._groups is None:
            self._groups = {}
            for member in sorted(self.parent):
                self._groups.setdefault(self._find(member), []).append(member)
        return self._groups[self._find(sid)]

    def root(self, sid: str) -> str:
        """The chain's id with the earliest event (ids without an event kept come first: their day was earlier)."""
        return min(self.members(sid), key=lambda m: (self.first.get(m, float("-inf")), m))
