"""Sites' time zones: set through the API, read by the aggregator and the stats reader.

A site's zone is its stored item (`items/zones.py`, written by `PUT /api/sites/{site}/zone`),
else its LIVEINSIGHT_SITE_ZONES entry, else UTC; the all-sites level is always UTC. A warm
function keeps what it read for CACHE_SECONDS, so a change reaches every function within that
time (the one that took the change at once).
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from . import localtime
from . import config
from .config import Settings
from .errors import InvalidRequest
from .items import zones as items
from .items.rollups import ALL_SITES
from .store import Store

CACHE_SECONDS = 60.0

# {(stats table, site): (zone, read at)} — shared by every SiteZones of a warm function.
_CACHE: dict[tuple[str, str], tuple[ZoneInfo, float]] = {}


class SiteZones:
    """The zones of sites, read once a minute per warm function."""

    def __init__(self, store: Store, settings: Settings | None = None, clock=time.monotonic):
        self.store = store
        self.settings = settings or store.settings
        self.clock = clock

    def default(self, site: str) -> ZoneInfo:
        """The zone a site has without a stored one: its LIVEINSIGHT_SITE_ZONES entry, else UTC."""
        return localtime.zone(dict(self.settings.site_zones).get(site))

    def get(self, site: str | None) -> ZoneInfo:
        """The zone of `site` (UTC for no site and for the all-sites level): a Query of its one item, which
        the read functions' Query-only permission allows."""
        if not site or site == ALL_SITES:
            return localtime.UTC
        table, now = self.settings.stats_table, self.clock()
        cached = _CACHE.get((table, site))
        if cached is not None and now - cached[1] < CACHE_SECONDS:
            return cached[0]
        found = self.store.query(table, items.PARTITION, site, site)
        tz = self._zone(site, items.name_of(found[0]) if found else None)
        _CACHE[(table, site)] = (tz, now)
        return tz

    def _zone(self, site: str, name: str | None) -> ZoneInfo:
        try:
            return localtime.zone(name) if name else self.default(site)
        except InvalidRequest:  # a name tzdata no longer knows: the site's default, never a failed answer
            return self.default(site)

    def get_many(self, sites: Iterable[str | None]) -> dict[str, ZoneInfo]:
        """{site: zone} of every site given (one BatchGetItem for those not cached)."""
        table, now = self.settings.stats_table, self.clock()
        wanted = {s for s in sites if s and s != ALL_SITES}
        found: dict[str, ZoneInfo] = {}
        missing = []
        for site in wanted:
            cached = _CACHE.get((table, site))
            if cached is not None and now - cached[1] < CACHE_SECONDS:
                found[site] = cached[0]
            else:
                missing.append(site)
        if missing:
            stored = {item["sk"]: items.name_of(item)
                      for item in self.store.batch_get(table, [items.key(s) for s in sorted(missing)])}
            for site in missing:
                tz = found[site] = self._zone(site, stored.get(site))
                _CACHE[(table, site)] = (tz, now)
        return found

    def set(self, site: str, name: str, now: float | None = None) -> ZoneInfo:
        """Store `site`'s zone (InvalidRequest naming `zone` for a name tzdata does not know)."""
        tz = localtime.zone(name)
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest(f"`zone` must be {localtime.ZONE_HELP}, not {name!r}")
        self.store.put_item(self.settings.stats_table, items.item(site, tz.key, time.time() if now is None else now))
        _CACHE[(self.settings.stats_table, site)] = (tz, self.clock())
        return tz


def parse_body(body: str | bytes | None) -> str:
    """The zone name of a `PUT /api/sites/{site}/zone` body, `{"zone": "America/New_York"}`."""
    try:
        parsed: Any = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict) or set(parsed) != {"zone"} or not isinstance(parsed["zone"], str):
        raise InvalidRequest('the body must be a JSON object with one field, `zone`, such as '
                             '{"zone": "America/New_York"}')
    return parsed["zone"]


def check_site(text: str, settings: Settings) -> str:
    """The site of a zone route (`www.` folded), one of LIVEINSIGHT_SITES when set."""
    site = config.site_of(text)
    if not site or site == ALL_SITES:
        raise InvalidRequest(f"the site must be a host such as shop.example.com, not {text!r} "
                             "(the all-sites level is always UTC)")
    if settings.sites and site not in settings.sites:
        raise InvalidRequest(f"the site must be one of {', '.join(settings.sites)}, not {text!r}")
    return site
