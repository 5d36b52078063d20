"""Enrichment: what an event tells about its visit (page, source, browser, bot or not).

The user-agent libraries are imported on first use so that importing the Lambda handler
stays cheap; results are cached because a site sees the same few hundred user agents.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from .referrers import DIRECT, same_site, source_for_host, source_for_utm

UNKNOWN = "Unknown"
OTHER = "Other"  # ua-parser's family for what it does not recognise

# What two public labelled crawler corpora show the maintained detectors (crawlerdetect,
# ua-parser) miss — see tests/test_bots.py for the figures:
# a URL or an e-mail address, which browsers never put in their user agent and crawlers,
# monitors and link previewers do ("+https://example.com/bot.html", "scan@example.org") ...
CONTACT = re.compile(r"https?:|mailto:|www\.|\+[\w-]+\.[a-z]{2,}|\S@[\w-]+\.[a-z]{2,}", re.IGNORECASE)
# ... and automation or monitoring tools that otherwise dress up as a browser.
AUTOMATION = re.compile(r"headless|playwright|puppeteer|selenium|phantomjs|lighthouse|synthetic|monitor|scanner|scanning",
                        re.IGNORECASE)


@dataclass(frozen=True)
class PageInfo:
    """What a page URL says: host, path and UTM tags."""

    host: str | None = None
    path: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None


@dataclass(frozen=True)
class ClientInfo:
    """What a user agent says: browser, operating system, device class, bot or not."""

    browser: str = UNKNOWN
    os: str = UNKNOWN
    device: str = UNKNOWN
    is_bot: bool = False


def page_info(page_url: str | None) -> PageInfo:
    """Host, path (no query or fragment, no trailing slash except `/`) and UTM tags of a URL."""
    if not page_url:
        return PageInfo()
    parts = urlsplit(page_url)
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = parse_qs(parts.query)

    def tag(name: str) -> str | None:
        values = query.get(name)
        return values[0][:256] if values and values[0].strip() else None

    return PageInfo(
        host=(parts.hostname or "").lower() or None,
        path=path,
        utm_source=tag("utm_source") or tag("ref"),
        utm_medium=tag("utm_medium"),
        utm_campaign=tag("utm_campaign"),
    )


def referrer_host(referrer: str | None) -> str | None:
    """The lower-cased host of a referrer URL, without `www.`."""
    if not referrer:
        return None
    try:
        host = (urlsplit(referrer).hostname or "").lower()
    except ValueError:
        return None
    return (host[4:] if host.startswith("www.") else host) or None


def classify_source(page: PageInfo, referrer: str | None) -> tuple[str | None, str | None]:
    """(source, referrer host) of an event; source None means an internal navigation.

    utm_source wins over the referrer; a referrer on the page's own site is not a source.
    """
    host = referrer_host(referrer)
    if host and page.host and same_site(host, page.host):
        host = None
        internal = True
    else:
        internal = False
    if page.utm_source:
        return source_for_utm(page.utm_source), host
    if host:
        return source_for_host(host), host
    return (None if internal else DIRECT), None


@lru_cache(maxsize=4096)
def client_info(user_agent: str | None) -> ClientInfo:
    """Browser, OS, device class and bot flag from a user agent.

    A bot is what crawlerdetect or ua-parser call one, a user agent carrying a URL or an
    e-mail address or naming an automation tool, or one in which ua-parser recognises no
    browser, no operating system and no device at all (HTTP libraries, scripts, made-up
    names): a real browser is always recognisable. No user agent at all is unknown, not
    a bot (imported history often has none).
    """
    if not user_agent or not user_agent.strip():
        return ClientInfo(is_bot=False)
    if CONTACT.search(user_agent) or AUTOMATION.search(user_agent) or _crawler_detector().isCrawler(user_agent):
        return ClientInfo(is_bot=True)
    import ua_parser

    parsed = ua_parser.parse(user_agent).with_defaults()
    browser = parsed.user_agent.family if parsed.user_agent.family != OTHER else UNKNOWN
    os_name = parsed.os.family if parsed.os.family != OTHER else UNKNOWN
    if parsed.device.family == "Spider" or (browser == UNKNOWN and os_name == UNKNOWN and parsed.device.family == OTHER):
        return ClientInfo(browser, os_name, UNKNOWN, True)
    return ClientInfo(browser=browser, os=os_name, device=_device_class(user_agent, parsed.device.family, os_name))


def _device_class(user_agent: str, device_family: str, os_name: str) -> str:
    ua = user_agent.lower()
    if "ipad" in ua or "tablet" in ua or device_family in ("iPad",) or ("android" in ua and "mobile" not in ua):
        return "Tablet"
    if "mobi" in ua or device_family in ("iPhone", "iPod") or os_name in ("iOS",):
        return "Mobile"
    if os_name in ("Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS", "Fedora", "FreeBSD"):
        return "Desktop"
    if "smart-tv" in ua or "smarttv" in ua or "tv" in device_family.lower():
        return "TV"
    return "Desktop" if os_name == UNKNOWN and "mozilla" in ua else UNKNOWN


_detector = None


def _crawler_detector():
    global _detector
    if _detector is None:
        from crawlerdetect import CrawlerDetect

        _detector = CrawlerDetect()
    return _detector


def cookieless_session_id(salt: bytes, client_ip: str, user_agent: str, host: str | None) -> str:
    """A visit id derived from today's salt, the client IP, user agent and site; the IP is not kept."""
    material = "\x1f".join((client_ip or "", user_agent or "", host or "")).encode()
    return "c-" + hmac.new(salt, material, hashlib.sha256).hexdigest()[:32]
