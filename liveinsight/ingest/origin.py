"""Who sent a request, as far as the deployment can trust it: the client address and the viewer's place.

API Gateway and a Lambda function URL know the address that connected to them (`sourceIp`).
Behind the deployment's CloudFront front door that address is an edge server's, so the
viewer's own address and place arrive in CloudFront's viewer headers instead. Anyone can
send those headers, so they are believed only when the request also carries the front
door's secret origin header (config.ORIGIN_HEADER, compared in constant time); otherwise the
address is the transport's own and there is no place from headers. `X-Forwarded-For` is
never read: a client writes its first entries itself.

A malformed viewer header (even from the trusted distribution) is ignored, never an error:
the event is still collected, without that part of its place.
"""
from __future__ import annotations

import hmac
import ipaddress
import re
from typing import Mapping
from urllib.parse import unquote

from .. import config
from .collector import RequestContext

# CloudFront's viewer headers (docs: "Add CloudFront request headers"); the template's origin
# request policy forwards exactly these (tests/test_front_door.py checks).
VIEWER_ADDRESS = "CloudFront-Viewer-Address"        # "198.51.100.10:46532", IPv6 unbracketed: "2001:db8::1:46532"
VIEWER_COUNTRY = "CloudFront-Viewer-Country"        # ISO 3166-1 alpha-2: "US"
VIEWER_REGION = "CloudFront-Viewer-Country-Region"  # the ISO 3166-2 subdivision without its country: "WA"
VIEWER_CITY = "CloudFront-Viewer-City"              # a name; non-ASCII characters percent-encoded (RFC 3986)
VIEWER_HEADERS = (VIEWER_ADDRESS, VIEWER_COUNTRY, VIEWER_REGION, VIEWER_CITY)

COUNTRY = re.compile(r"[A-Z]{2}")
REGION = re.compile(r"[A-Z0-9]{1,3}")  # "up to three characters" (CloudFront); ISO 3166-2 subdivisions are alphanumeric


def lowered(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Header names in lower case (API Gateway keeps the client's spelling; function URLs lower-case them)."""
    return {str(k).lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}


def carries_secret(headers: Mapping[str, str], secret: str | None) -> bool:
    """Whether the request carries the front door's secret origin header (`headers` lower-cased)."""
    if not secret:
        return False
    given = headers.get(config.ORIGIN_HEADER.lower(), "")
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("utf-8"))


def viewer_address(value: str | None) -> str | None:
    """The IP address of a `CloudFront-Viewer-Address` value ("ip:port"), or None if malformed."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("["):  # "[2001:db8::1]:443", should CloudFront ever bracket it
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not (port.isascii() and port.isdigit() and 0 <= int(port) <= 65535):
        return None
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return None


def viewer_country(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code in upper case, or None."""
    text = (value or "").strip().upper()
    return text if COUNTRY.fullmatch(text) else None


def viewer_region(country: str | None, value: str | None) -> str | None:
    """The ISO 3166-2 code ("US-WA") of a `CloudFront-Viewer-Country-Region` value within `country`, or None."""
    text = (value or "").strip().upper()
    return f"{country}-{text}" if country and REGION.fullmatch(text) else None


def viewer_city(value: str | None) -> str | None:
    """A city name, percent-decoded; None when empty, longer than config.MAX_CITY_CHARS, not UTF-8 or unprintable."""
    if not value:
        return None
    try:
        name = unquote(value.strip(), errors="strict")
    except UnicodeDecodeError:
        return None
    if not name or len(name) > config.MAX_CITY_CHARS or not name.isprintable() or name != name.strip():
        return None
    return name


def request_context(headers: Mapping[str, str] | None, source_ip: str | None,
                    secret: str | None) -> RequestContext:
    """The sender of a request: the viewer headers when it carries `secret`, else the transport's `source_ip`.

    `headers` are the request's (any case); `source_ip` is API Gateway's or the function URL's
    `requestContext` source address; `secret` is the deployment's origin secret (None: nothing
    is trusted from headers).
    """
    headers = lowered(headers)
    user_agent = headers.get("user-agent", "")
    if not carries_secret(headers, secret):
        return RequestContext(client_ip=source_ip or "", user_agent=user_agent)
    country = viewer_country(headers.get(VIEWER_COUNTRY.lower()))
    return RequestContext(
        client_ip=viewer_address(headers.get(VIEWER_ADDRESS.lower())) or source_ip or "",
        user_agent=user_agent,
        country=country,
        region=viewer_region(country, headers.get(VIEWER_REGION.lower())),
        city=viewer_city(headers.get(VIEWER_CITY.lower())) if country else None,
    )
