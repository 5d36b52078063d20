"""The country of a visit without an IP database: a browser's IANA time zone, looked up in tzdata's zone tables.

The table (tz_countries.tsv beside this module) is generated from the pinned `tzdata`
package by `python -m liveinsight.ingest.geo_table`; tests check it equals a fresh
generation. A well-formed zone the table does not know (UTC, Etc/GMT+5, a future name) maps
to no country. The time zone itself is never stored: only the country it gives.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from .. import config

TABLE = Path(__file__).with_name("tz_countries.tsv")
# An IANA name: "Europe/Kyiv", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "EST5EDT", "UTC".
TZ_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


def is_zone_name(value: str) -> bool:
    """Whether `value` has the shape of an IANA time zone name (at most config.MAX_TZ_CHARS characters)."""
    return len(value) <= config.MAX_TZ_CHARS and TZ_NAME.fullmatch(value) is not None


@functools.cache
def zone_countries() -> dict[str, str]:
    """Lower-cased zone name -> ISO 3166-1 alpha-2 country (zone names are matched without case)."""
    table = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            zone, _, country = line.partition("\t")
            table[zone.lower()] = country
    return table


def country_of_zone(zone: str | None) -> str | None:
    """The country a time zone is in ("Asia/Calcutta" -> "IN"), or None when unknown or absent."""
    if not zone:
        return None
    return zone_countries().get(zone.lower())
