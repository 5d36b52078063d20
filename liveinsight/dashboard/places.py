"""Names of places for the dashboard: countries and regions by their ISO codes (pycountry's ISO 3166 tables).

The API answers with codes — ISO 3166-1 alpha-2 countries ("US", or "Unknown"), ISO 3166-2
regions ("US-WA") — and these turn them into what a reader knows ("United States", "Washington"),
and into the alpha-3 codes the world map's shapes are keyed by. A code the tables do not know
shows as itself: it came from a request header, so it is collected text (see text.py).
"""
from __future__ import annotations

from functools import lru_cache

import pycountry

UNKNOWN = "Unknown"
# Codes CloudFront uses that ISO 3166-1 has not assigned.
USER_ASSIGNED = {"XK": "Kosovo"}


@lru_cache(maxsize=512)
def _country(code: str):
    return pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 and code.isascii() else None


def country_name(code: object) -> str:
    """"US" → "United States" ("KR" → "South Korea": the common name where ISO's differs); unknown codes as given."""
    code = str(code)
    country = _country(code)
    if country is None:
        return USER_ASSIGNED.get(code.upper(), code)
    return getattr(country, "common_name", None) or country.name


def country_iso3(code: object) -> str | None:
    """"US" → "USA", the map's key; None for "Unknown" and codes ISO does not know."""
    country = _country(str(code))
    return country.alpha_3 if country is not None else None


@lru_cache(maxsize=4096)
def region_name(code: object) -> str:
    """"US-WA" → "Washington"; codes ISO 3166-2 does not know as given."""
    code = str(code)
    try:
        region = pycountry.subdivisions.get(code=code.upper())
    except (KeyError, LookupError):
        region = None
    return region.name if region is not None else code



def city_name(value: object) -> str:
    """A city filter value as a reader says it: "US-WA/Seattle" → "Seattle, Washington"."""
    place, _, name = str(value).partition("/")
    if not name:
        return place
    where = region_name(place) if "-" in place else country_name(place)
    return f"{name}, {where}"


def describe(name: str, value: object) -> str:
    """A geography filter's value by name ("country", "US" → "United States"); other values as given."""
    return {"country": country_name, "region": region_name, "city": city_name}.get(name, str)(value)
