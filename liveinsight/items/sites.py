"""The site registry of the stats table: one item per site, and a day's count of new sites.

    pk = "sites", sk = "<site>"          a site the collector admitted (`at`: when)
    pk = "sites-new", sk = "<UTC day>"   `n`: sites admitted that day (checked against the daily limit)

One item per site, so the registry holds any number of sites and no item grows with them;
nothing reads it whole: answers about all sites read the all-sites level of the rollups, and
the collector reads one site's item the first time a warm function meets that site.
"""
from __future__ import annotations

from datetime import datetime, timezone

REGISTRY = "sites"
NEW_SITES = "sites-new"
COUNT = "n"
NEW_SITE_TTL_SECONDS = 2 * 86400  # a day's counter is only needed that day


def key(site: str) -> dict[str, str]:
    return {"pk": REGISTRY, "sk": site}


def item(site: str, now: float) -> dict[str, object]:
    return {**key(site), "at": int(now)}


def new_sites_key(now: float) -> dict[str, str]:
    return {"pk": NEW_SITES, "sk": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")}
