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

# Real browsers those rules misfired on, measured on public samples of real-browser user
# agents (tests/test_bots.py: the figures, and a test per misfiring family). The robot rules
# do not read:
# - the device model of an Android phone or TV box ("Spider 8", "XBot Junior", "VR BOT 552",
#   "C Bot Tab 100", "CRONY-7021", "yandexstation_2"), unless it is a robot's name: a word
#   ending in bot, spider or crawler after two letters or more ("Googlebot", "Bytespider");
ANDROID_MODEL = re.compile(r"(\bAndr[o0]id [\d.]+;(?: ?[a-z]{2}[-_][a-z]{2};)?)([^;)]*)", re.IGNORECASE)
ROBOT_MODEL = re.compile(r"[a-z]{2,}(?:bot|spider|crawler)\b", re.IGNORECASE)
# - tokens that name no robot: the W3C libwww of Lynx, Mosaic and amaya (libwww-perl stays a
#   robot); Chromium's network stack "Cronet/" in TV boxes' browsers; the address in the token
#   of EmbeddedWB (Internet Explorer embedded in desktop applications); Outlook's (the mail
#   client shows web pages in an embedded Internet Explorer; Office's link checks, which
#   crawlerdetect has in mind, never run the tracker); two toolbars of old Internet Explorer
#   and Firefox installs; the TV maker BOTECH in the HbbTV token of smart TVs.
INNOCENT = re.compile(r"\blibwww(?:-FM)?/|\bCronet/|EmbeddedWB [\d.]+ from: https?://(?:www\.)?bsalsa\.com/|"
                      r"Microsoft Outlook|Outlook-Express/|Ant\.com Toolbar|PeoplePal|\bBOTECH\b", re.IGNORECASE)
# A user agent ua-parser cannot place is still a browser when it names a platform or a
# browser: the niche and old desktop and device browsers (RISC OS, BeOS, AmigaOS, Syllable,
# OpenVMS, Inferno, OpenHarmony, a game client on "win10 x64", a set-top box's "opera/9.80",
# a Japanese phone's "Aplix_SANYO_browser", "dwb/… AppleWebKit/…").
NAMES_A_PLATFORM = re.compile(
    r"RISC ?OS|BeOS|Haiku|Syllable|Amiga|MorphOS|OpenVMS|Inferno|OpenHarmony|\bOS/2\b|\bwin(?:7|8|10|11)\b|\bPS3\b|"
    r"\bwindows nt\b|\bopera/|\bmosaic\b|_mosaic/|\bamaya/|[ _.]browser\b|\b(?:UC|NC)Browser\b|"
    r"^(?!Mozilla/)\w+/[\d.]+ AppleWebKit/\d", re.IGNORECASE)


@dataclass(frozen=True)
class PageInfo:
    """What a page URL says: host, path and UTM tags."""

    host: str | None = None
    path: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None


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
        utm_term=tag("utm_term"),
        utm_content=tag("utm_content"),
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
    names) and that names no platform or browser. Those rules do not read what names no
    robot in real browsers (ANDROID_MODEL, INNOCENT, WORD_PARTS). No user agent at all is
    unknown, not a bot (imported history often has none).
    """
    if not user_agent or not user_agent.strip():
        return ClientInfo(is_bot=False)
    # What the robot rules read: the user agent without the tokens above that name no robot.
    agent = INNOCENT.sub(" ", ANDROID_MODEL.sub(_unless_a_robot, user_agent))
    agent = None if CONTACT.search(agent) or AUTOMATION.search(user_agent) else _without_word_parts(agent)
    if agent is None:
        return ClientInfo(is_bot=True)
    import ua_parser

    parsed = ua_parser.parse(user_agent).with_defaults()
    browser = parsed.user_agent.family if parsed.user_agent.family != OTHER else UNKNOWN
    os_name = parsed.os.family if parsed.os.family != OTHER else UNKNOWN
    # ua-parser's robot device ("Spider") is read on the same words as crawlerdetect.
    spider = parsed.device.family == "Spider" and (agent == user_agent or _device_family(agent) == "Spider")
    if spider or (browser == UNKNOWN and os_name == UNKNOWN and parsed.device.family == OTHER
                  and not NAMES_A_PLATFORM.search(user_agent)):
        return ClientInfo(browser, os_name, UNKNOWN, True)
    return ClientInfo(browser=browser, os=os_name, device=_device_class(user_agent, parsed.device.family, os_name))


# crawlerdetect patterns that are substrings, and fire inside the words of real browsers:
# "Cabot" in an Internet Explorer whose company token is "Banca Caboto", "Demon" in the
# "Demonstration only" of a TV, "008/" in the "TS1008/" of a DESAY phone, "Voyager/" in
# "AmigaVoyager/". Only these: most robots' names go on past the pattern ("FriendlyCrawler",
# "PingdomTMS", "BotPoke").
WORD_PARTS = frozenset({"cabot", "demon", "008/", "voyager/"})


def _unless_a_robot(android: re.Match) -> str:
    return android.group(0) if ROBOT_MODEL.search(android.group(2)) else android.group(1) + " "


def _without_word_parts(agent: str) -> str | None:
    """None when crawlerdetect finds a robot's name in `agent`; else `agent` without the words
    in which it found only WORD_PARTS (each set aside, and the rest read again)."""
    from crawlerdetect import CrawlerDetect

    detector = CrawlerDetect()  # its own: getMatches() is the state of the last isCrawler() of the instance
    for _ in range(8):
        if not detector.isCrawler(agent):
            return agent
        match = (detector.getMatches() or "").lower()
        start = agent.lower().find(match) if match in WORD_PARTS else -1
        if start < 0:
            return None
        end = start + len(match)
        inside_a_word = (start > 0 and agent[start - 1].isalnum()) or (end < len(agent) and agent[end].isalpha()
                                                                       and match[-1].isalpha())
        if not inside_a_word:
            return None
        word = re.compile(r"[\w.-]*" + re.escape(agent[start:end]) + r"[\w.-]*", re.IGNORECASE)
        agent = word.sub(" ", agent, count=1)
    return None


def _device_family(user_agent: str) -> str:
    import ua_parser

    device = ua_parser.parse_device(user_agent)
    return device.family if device else OTHER


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


def cookieless_session_id(salt: bytes, client_ip: str, user_agent: str, host: str | None) -> str:
    """A visit id derived from today's salt, the client IP, user agent and site; the IP is not kept."""
    material = "\x1f".join((client_ip or "", user_agent or "", host or "")).encode()
    return "c-" + hmac.new(salt, material, hashlib.sha256).hexdigest()[:32]
