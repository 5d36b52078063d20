"""Collecting events: validate, enrich and store a POST /api/events body.

The collector only writes raw events (one BatchWriteItem per 25); the stream aggregator
turns them into sessions and rollups. It also admits sites: with an allow-list
(LIVEINSIGHT_SITES) only those; without one, a site never seen before is registered
(`items.sites`) while fewer than `new_sites_per_day` were admitted that day, and its events
are answered `filtered` beyond that — a flood of made-up hosts cannot fill the registry.
"""
from __future__ import annotations

import fnmatch
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .. import config, localtime
from ..config import Settings, site_of
from .channels import channel, source_and_medium
from .enrich import classify_source, client_info, cookieless_session_id, page_info
from ..errors import InvalidRequest
from .events import Event, Rejection, decode_body, parse_events, split_batch
from .geo import country_of_zone
from ..items import sites
from ..items.events import event_item
from ..store import Store
from ..definitions import DefinitionsStore
from ..items.definitions import revenue_problem
from ..zones import SiteZones

MAX_CACHED_SITES = 10_000  # sites a warm function remembers as admitted or refused today


@dataclass
class IngestResult:
    """The answer to one POST /api/events."""

    accepted: int = 0
    duplicates: int = 0
    filtered: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    write_requests: int = 0
    new_sites_refused: int = 0  # events filtered because their site was new beyond the day's limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "filtered": self.filtered,
            "rejected": [r.as_dict() for r in self.rejected],
        }


@dataclass(frozen=True)
class RequestContext:
    """What the transport knows about the sender; the IP is used only to derive a visitor id.

    `country` (ISO 3166-1 alpha-2), `region` (ISO 3166-2, e.g. "US-WA") and `city` come only
    from a source the deployment trusts (its own CloudFront distribution's viewer headers).
    """

    client_ip: str = ""
    user_agent: str = ""
    country: str | None = None
    region: str | None = None
    city: str | None = None


class Collector:
    """Turns request bodies into stored raw events."""

    def __init__(self, store: Store, settings: Settings | None = None):
        self.store = store
        self.settings = settings or store.settings
        self.definitions = DefinitionsStore(store, self.settings)  # goals' revenue properties, cached a minute
        self.zones = SiteZones(store, self.settings)  # the sites' zones (their visitor ids' dates), cached a minute
        self._admitted: set[str] = set()
        self._refused: dict[str, str] = {}  # site -> the UTC day it was refused

    def ingest(self, body: bytes | str | None, context: RequestContext, now: float | None = None) -> IngestResult:
        """Validate, enrich and store every valid event of a request body.

        Raises InvalidRequest (400, with per-event errors) when no event is valid.
        """
        now = time.time() if now is None else now
        raw_events = split_batch(decode_body(body))
        valid, rejected = parse_events(raw_events, now)
        valid, rejected = self._check_revenue(valid, rejected)
        if not valid:
            raise InvalidRequest(
                rejected[0].message if len(rejected) == 1 else f"none of the {len(rejected)} events is valid",
                errors=[r.as_dict() for r in rejected],
            )
        return self.store_events([e for _, e in valid], context, now, rejected=rejected)

    def store_events(self, events: list[Event], context: RequestContext, now: float,
                     rejected: list[Rejection] | None = None, ttl_seconds: float | None = None) -> IngestResult:
        """Enrich and write validated events; bots are stored flagged so they are counted as filtered.

        `duplicates` counts repeats of an event id within the request. A retry of an earlier
        request is acknowledged like the original (idempotent): it lands on the same key
        (same id and time) or is recognised by the aggregator, so it is stored and counted
        once. Looking it up first would cost a read per request that grows with the table.
        """
        result = IngestResult(rejected=list(rejected or []))
        items: dict[tuple[str, Decimal], dict[str, Any]] = {}
        ttl = ttl_seconds if ttl_seconds is not None else self.settings.raw_retention_hours * 3600
        bots: set[tuple[str, Decimal]] = set()
        made = [self._item(event, context, ttl) for event in events if not self._excluded(event)]
        result.filtered += len(events) - len(made)
        # Visitors first: a bot never registers a site, but counts on one a visitor in the same request did.
        admitted = {site for _, is_bot, site in made if not is_bot and self._admit(site, False, now)}
        admitted |= {site for _, is_bot, site in made if is_bot and site not in admitted and self._admit(site, True, now)}
        for item, is_bot, site in made:
            if site not in admitted:
                result.filtered += 1
                result.new_sites_refused += 1
                continue
            key = (item["session_id"], item["timestamp"])
            if key in items:
                result.duplicates += 1
                continue
            items[key] = item
            if is_bot:
                bots.add(key)
        result.write_requests = self.store.batch_put((self.settings.events_table, i) for i in items.values())
        result.filtered += len(bots)
        result.accepted = len(items) - len(bots)
        return result

    def _check_revenue(self, valid: list[tuple[int, Event]], rejected: list[Rejection]
                       ) -> tuple[list[tuple[int, Event]], list[Rejection]]:
        """An event converting a goal of its site whose revenue property is not an amount is refused, naming the
        property (its neighbours are kept); the site's goals are read only for events with properties."""
        kept = []
        for index, event in valid:
            problem = None
            if event.props and event.page_url:
                site = site_of(page_info(event.page_url).host)
                goals = self.definitions.for_site(site).goals if site else ()
                problem = next((p for goal in goals if goal.revenue and goal.event_type == event.event_type
                                for p in [revenue_problem(goal, {"props": event.props})] if p), None)
            if problem:
                rejected.append(Rejection(index, problem))
            else:
                kept.append((index, event))
        return kept, sorted(rejected, key=lambda r: r.index)

    def _excluded(self, event: Event) -> bool:
        """Events of a site not in LIVEINSIGHT_SITES, or on a LIVEINSIGHT_EXCLUDE_PATHS page, are never stored."""
        if not (self.settings.sites or self.settings.exclude_paths):
            return False
        page = page_info(event.page_url)
        if self.settings.sites and site_of(page.host) not in self.settings.sites:
            return True
        return page.path is not None and any(fnmatch.fnmatchcase(page.path, pattern)
                                             for pattern in self.settings.exclude_paths)

    def _admit(self, site: str, is_bot: bool, now: float) -> bool:
        """Whether events of `site` are stored: an allowed, known or newly registered site.

        A new site is registered only for a visitor (never for a bot) and only while fewer
        than `new_sites_per_day` were registered that UTC day.
        """
        if not site or self.settings.sites or site in self._admitted:
            return True  # no page: no site; an allow-list was already applied by _excluded
        if site == config.DOCTOR_SITE:
            return True  # doctor's bot-flagged test events: stored for its own rollups, never a registered site
        day = sites.new_sites_key(now)["sk"]
        if self._refused.get(site) == day:
            return False
        if len(self._admitted) + len(self._refused) > MAX_CACHED_SITES:
            self._admitted.clear()
            self._refused.clear()
        table = self.settings.stats_table
        if self.store.get_item(table, sites.key(site)) is None:
            if is_bot:
                return False
            if not self.store.add_below(table, sites.new_sites_key(now), sites.COUNT, self.settings.new_sites_per_day,
                                        ttl=int(now + sites.NEW_SITE_TTL_SECONDS)):
                self._refused[site] = day
                return False
            self.store.put_if_absent(table, sites.item(site, now))
        self._admitted.add(site)
        return True

    def _visitor_ids(self, at: float, client_ip: str, user_agent: str, host: str | None) -> tuple[str, str | None]:
        """The visitor's id on the site's local day of `at` (that date's salt), and in the first hours of
        that day its id of the day before (`pid`: a visit open at midnight goes on)."""
        tz = self.zones.get(site_of(host) if host else None)
        local = datetime.fromtimestamp(at, tz)
        today = cookieless_session_id(self.store.daily_salt(local.strftime("%Y-%m-%d")), client_ip, user_agent, host)
        if at - localtime.bucket_start(at, "day", tz) >= config.VISIT_ACROSS_MIDNIGHT_SECONDS:
            return today, None
        yesterday = (local.date() - timedelta(days=1)).strftime("%Y-%m-%d")
        return today, cookieless_session_id(self.store.daily_salt(yesterday), client_ip, user_agent, host)

    def to_item(self, event: Event, context: RequestContext, ttl_seconds: float) -> dict[str, Any]:
        """The events-table item of an event: the deployed schema plus enrichment attributes."""
        return self._item(event, context, ttl_seconds)[0]

    def _item(self, event: Event, context: RequestContext, ttl_seconds: float) -> tuple[dict[str, Any], bool, str]:
        user_agent = event.user_agent if event.user_agent is not None else context.user_agent
        client = client_info(user_agent)
        page = page_info(event.page_url)
        source, referrer_host = classify_source(page, event.referrer)
        session_id, previous_id = event.session_id, None
        if session_id is None:
            session_id, previous_id = self._visitor_ids(event.timestamp, context.client_ip, user_agent, page.host)
        event_id = event.event_id or uuid.uuid4().hex
        enrichment: dict[str, Any] = {
            "site": site_of(page.host),
            "page": page.path,
            "host": page.host,
            "source": source,
            "referrer_host": referrer_host,
            "utm_campaign": page.utm_campaign,
            "utm_medium": page.utm_medium,
            "utm_source": page.utm_source,
            "utm_term": page.utm_term,
            "utm_content": page.utm_content,
            "channel": channel(*source_and_medium(page.utm_source, page.utm_medium, referrer_host, source),
                               page.utm_campaign),
            "browser": client.browser,
            "os": client.os,
            "device": client.device,
            "pid": previous_id,
            # The trusted CDN's country, else the sender's time zone's (the zone itself is never stored).
            "country": context.country or country_of_zone(event.tz),
            "region": context.region if context.country else None,
            "city": context.city if context.country else None,
        }
        if event.props:
            enrichment["props"] = event.props
        if client.is_bot:
            enrichment["bot"] = True
        item = event_item(session_id=session_id, timestamp=event.timestamp, event_id=event_id,
                          event_type=event.event_type, page_url=event.page_url, user_agent=user_agent,
                          referrer=event.referrer, ttl=int(event.timestamp + ttl_seconds), enrichment=enrichment)
        return item, client.is_bot, enrichment["site"]

