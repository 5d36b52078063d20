"""A site's time zone in the stats table: one small item per site set through the API.

    pk = "zone", sk = "<site>"    z: the IANA zone name, at: when it was set (epoch seconds)

Written by `PUT /api/sites/{site}/zone`; read by the aggregator (which local days, hours and months
a site's events land in) and by the stats reader. Without an item a site's zone is its
LIVEINSIGHT_SITE_ZONES entry, else UTC.
"""
from __future__ import annotations

from typing import Any

PARTITION = "zone"
ZONE = "z"


def key(site: str) -> dict[str, str]:
    return {"pk": PARTITION, "sk": site}


def item(site: str, name: str, now: float) -> dict[str, Any]:
    return {**key(site), ZONE: name, "at": int(now)}


def name_of(stored: dict[str, Any] | None) -> str | None:
    return stored.get(ZONE) if stored else None
