"""Read-only share links: a signed token that grants one view (site, filters, period) until it expires.

    token   = B64(payload) "." B64(HMAC-SHA256(secret, "liveinsight-share." + B64(payload)))
    payload = compact JSON {"v": 1, "site": …, ["page", "source", "event_type", "period"], "exp": epoch s}
    B64     = base64url without padding

`period` is a rolling period (1h … 30d: the last so long, ending when a request is made) or a calendar
period of the site's zone (today … all_time, moving with the calendar: a this_month link shows December
in December, January in January; its weeks start on Monday). Either way a link shows one window as of a
request, and admits any period, range or comparison lying wholly inside it: a 7d link admits today,
yesterday and this week (always), and this month only in its first days; a this_month link admits today,
this week once the week started in this month, and the last 24h once a day of the month has gone.

Only this module knows the format: `mint` makes a token, `verify` checks it and returns the
`Grant`, and `Grant.restrict` narrows a read request to what the link grants. The payload is
signed, not encrypted: whoever holds a link can read its scope. Every link of a deployment
is signed with one secret, so rotating the secret revokes them all.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from . import config, localtime
from .items import rollups
from .query import params as p
from .query.stats import YEAR_SECONDS, calendar_range, parse_bound
from .errors import Forbidden, InvalidRequest, Unauthorized

PARAM = config.SHARE_PARAM
VERSION = 1
FILTERS = ("page", "source", "event_type")
# What a link may fix, and what a holder may ask: rolling periods, then the site's calendar.
PERIODS = (*config.PERIOD_SECONDS, *config.CALENDAR_PERIODS)
STATS, REALTIME = "stats", "realtime"
# The rows of an answer that name a page of the site: a page-scoped link keeps only its own page's.
PAGE_ROWS = ("pages", "entry_pages", "top_pages", "recent_events")
MAX_TOKEN_CHARS = 4096
MAX_EXPIRES_SECONDS = 365 * 86400
# Clock slack when a request's own `from` is checked against the window a link grants.
RANGE_SLACK_SECONDS = 60

_CONTEXT = b"liveinsight-share."
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([hd])\s*$")
_UNITS = {"h": 3600, "d": 86400}
_HOW_TO = "ask whoever sent it for a new link"


@dataclass(frozen=True)
class Grant:
    """What a share link lets its holder read: one site, optional fixed filters and period, until `expires`."""

    site: str
    expires: int
    page: str | None = None
    source: str | None = None
    event_type: str | None = None
    period: str | None = None

    @property
    def expires_on(self) -> str:
        """The expiry as UTC text, e.g. "2026-12-30 14:00 UTC"."""
        return datetime.fromtimestamp(self.expires, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    @property
    def period_text(self) -> str | None:
        """The period as its holder reads it: "up to the last 7d", "this month (the site's calendar)"."""
        if self.period is None:
            return None
        if self.period in config.PERIOD_SECONDS:
            return f"up to the last {self.period}"
        return f"{self.period.replace('_', ' ')} (the site's calendar)"

    def window(self, now: float, tz: ZoneInfo = localtime.UTC) -> tuple[float, float] | None:
        """(start, end) of what the link shows as of `now`, epoch seconds (its calendar period in the site's zone
        `tz`); None: any range the API answers."""
        if self.period is None:
            return None
        return _period_range(self.period, now, tz)

    def periods(self, now: float, tz: ZoneInfo = localtime.UTC) -> list[str]:
        """The periods a holder may ask as of `now`: those lying wholly inside the link's window."""
        window = self.window(now, tz)
        return [name for name in PERIODS if window is None or _inside(_period_range(name, now, tz), window)]

    def _limit(self, now: float, tz: ZoneInfo) -> str:
        """What the link shows, for a refusal: "this share link shows only this_month (2026-12-01 00:00 EST to now)"."""
        start, end = self.window(now, tz)
        until = "now" if end >= now else _local(end, tz)
        what = f"the last {self.period}" if self.period in config.PERIOD_SECONDS else self.period
        return f"this share link shows only {what} ({_local(start, tz)} to {until})"

    def as_dict(self) -> dict[str, Any]:
        """The scope as the read APIs report it in `data.share` (unset filters left out)."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    def restrict(self, params: dict[str, list[str]], route: str, now: float,
                 tz: ZoneInfo = localtime.UTC) -> dict[str, list[str]]:
        """The request's parameters with the link's scope forced in; Forbidden (403) when it asks for more.
        `tz`: the site's zone, the calendar of its periods."""
        out = {name: list(values) for name, values in params.items()}
        for name, values in out.items():
            # An empty value must not read as "left out": `period=` would skip the period check below.
            if any(not value.strip() for value in values):
                raise InvalidRequest(f"`{name}` is empty; with a share link leave it out or give a value")
        given = p.single(out, "site")
        if given is not None and config.site_of(given) != self.site:
            raise Forbidden(f"this share link shows only site {self.site}; `site` cannot be {given!r}")
        out["site"] = [self.site]
        for name in FILTERS:
            value = getattr(self, name)
            if value is None:
                continue
            if route == REALTIME and name != "page":
                raise Forbidden(f"this share link shows only {name.replace('_', ' ')} {value!r}, and the realtime "
                                f"view cannot be filtered by `{name}`; use GET /api/stats")
            given = p.single(out, name)
            if given is not None and given != value:
                raise Forbidden(f"this share link shows only {name.replace('_', ' ')} {value!r}; "
                                f"`{name}` cannot be {given!r}")
            out[name] = [value]
        if route == REALTIME and self.period and self.window(now, tz)[1] < now - RANGE_SLACK_SECONDS:
            raise Forbidden(f"{self._limit(now, tz)}, and the realtime view shows the last minutes; "
                            "use GET /api/stats")
        if route == STATS and self.period:
            self._restrict_range(out, now, tz)
        return out

    def _restrict_range(self, out: dict[str, list[str]], now: float, tz: ZoneInfo) -> None:
        """A period or a `from`/`to` range lying wholly inside the link's window (without either, the link's
        period); `compare` only when its comparison range lies inside it too, else it is left out."""
        window = self.window(now, tz)
        week_start = config.WEEK_STARTS.get(p.single(out, "week_start") or "monday", 0)
        period = p.single(out, "period")
        start_text = p.single(out, "from")
        if period is None and start_text is None and p.single(out, "to") is None:
            out["period"] = [self.period]
            period = self.period
        if period is not None:
            start, end = _period_range(period, now, tz, week_start)
            if not _inside((start, end), window):
                raise Forbidden(f"{self._limit(now, tz)}; `period` cannot be {period!r} ({_local(start, tz)} to "
                                f"{'now' if end >= now else _local(end, tz)}); ask one of "
                                f"{', '.join(self.periods(now, tz))}")
        elif start_text is not None:
            start = parse_bound("from", start_text, tz)
            end = min(parse_bound("to", p.single(out, "to") or str(now), tz), now)
            if start < window[0] - RANGE_SLACK_SECONDS:
                raise Forbidden(f"{self._limit(now, tz)}; `from` cannot be before {_local(window[0], tz)}")
            if end > window[1] + RANGE_SLACK_SECONDS:
                raise Forbidden(f"{self._limit(now, tz)}; `to` cannot be after {_local(window[1], tz)}")
        else:
            return  # `to` without `from`: the stats parser refuses it (400)
        compare = p.single(out, "compare")
        if compare == "year":
            before = start - YEAR_SECONDS
        elif compare == "previous" and period in config.CALENDAR_PERIODS and period != "all_time":
            first, _ = localtime.predecessor(period, *calendar_range(period, now, tz, week_start)[2])
            before = localtime.day_start(first, tz)
        else:
            before = start - max(end - start, 0)
        if before < window[0] - RANGE_SLACK_SECONDS:
            out.pop("compare", None)

    def annotate(self, data: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        """A read API's answer for this link: `share` says what it grants (and `periods`, what a holder may ask
        now in the answer's zone), `sites` names only its site.

        A page-scoped link answers with its page's own rows: the pages and entry pages of the visits
        that saw the page name the site's other pages, so only the link's page is kept in them. Where
        those visits came from stays (sources, referrer hosts, campaigns): a referrer is kept as its
        host only, and a referrer on the site itself is not one.
        """
        data["share"] = self.as_dict()
        zone = data.get("zone") if isinstance(data.get("zone"), dict) else {}
        data["share"]["periods"] = self.periods(time.time() if now is None else now, localtime.zone(zone.get("name")))
        if "sites" in data:
            data["sites"] = [site for site in data["sites"] if site == self.site]
        if self.page is not None:
            page = rollups.label(self.page)  # how the answers spell a very long path
            for name in PAGE_ROWS:
                if name in data:
                    data[name] = [row for row in data[name] if row.get("page") == page]
        return data


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _local(epoch: float, tz: ZoneInfo) -> str:
    """An instant on the site's clock: "2026-12-01 00:00 EST"."""
    moment = datetime.fromtimestamp(epoch, tz)
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"


def _period_range(period: str, now: float, tz: ZoneInfo, week_start: int = 0) -> tuple[float, float]:
    """(start, end) of a rolling or calendar period as of `now`; InvalidRequest naming `period` otherwise."""
    if period in config.PERIOD_SECONDS:
        return now - config.PERIOD_SECONDS[period], now
    if period in config.CALENDAR_PERIODS:
        start, end, _ = calendar_range(period, now, tz, week_start)
        return start, end
    raise InvalidRequest(f"`period` must be one of {', '.join(PERIODS)}, not {period!r}")


def _inside(span: tuple[float, float], window: tuple[float, float]) -> bool:
    """Whether `span` lies wholly inside `window` (give or take RANGE_SLACK_SECONDS of clock)."""
    return span[0] >= window[0] - RANGE_SLACK_SECONDS and span[1] <= window[1] + RANGE_SLACK_SECONDS


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _signature(secret: str | bytes, payload: str) -> str:
    return _b64(hmac.new(_key(secret), _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest())


def mint(secret: str | bytes, site: str, expires: float, page: str | None = None, source: str | None = None,
         event_type: str | None = None, period: str | None = None) -> str:
    """A share token for `site` (and the given filters and period) valid until `expires` (epoch seconds)."""
    if not secret:
        raise ValueError("a share link needs the deployment's share secret")
    site = config.site_of(site)
    if not site:
        raise ValueError("a share link needs a site, e.g. shop.example.com")
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    claims: dict[str, Any] = {"v": VERSION, "site": site}
    for name, value in (("page", page), ("source", source), ("event_type", event_type), ("period", period)):
        if value is not None:
            if not value.strip():
                raise ValueError(f"{name} is empty; leave it out or give an exact value")
            claims[name] = value
    claims["exp"] = int(expires)
    payload = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_signature(secret, payload)}"


def _split(token: str) -> tuple[str, str]:
    parts = token.strip().split(".")
    if len(token) > MAX_TOKEN_CHARS or len(parts) != 2 or not all(_B64.match(part) for part in parts):
        raise InvalidRequest(f"`{PARAM}` is not a share link token (two base64url parts joined by a dot); "
                             "copy the whole link again")
    return parts[0], parts[1]


def _claims(payload: str) -> Grant:
    """The Grant a payload names (InvalidRequest when it is not one); the signature is not checked here."""
    try:
        claims = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        claims = None
    fields = ("site", "exp", "page", "source", "event_type", "period")
    valid = (isinstance(claims, dict) and claims.get("v") == VERSION and isinstance(claims.get("site"), str)
             and isinstance(claims.get("exp"), int) and set(claims) <= {"v", *fields}
             and all(isinstance(claims.get(name), (str, type(None))) for name in (*FILTERS, "period"))
             and claims.get("period") in (None, *PERIODS))
    if not valid:
        raise InvalidRequest(f"`{PARAM}` is not a share link of this version of LiveInsight; {_HOW_TO}")
    return Grant(site=claims["site"], expires=claims["exp"], page=claims.get("page"), source=claims.get("source"),
                 event_type=claims.get("event_type"), period=claims.get("period"))


def verify(token: str, secret: str | bytes | None, now: float | None = None) -> Grant:
    """The Grant of a genuine, unexpired token.

    Raises InvalidRequest (400) for something that is not a token, Unauthorized (401) for a
    token this deployment did not sign (altered, or signed before the secret was rotated)
    or one that has expired.
    """
    payload, signature = _split(token)
    if not secret:
        raise Unauthorized("share links are not enabled on this deployment: set "
                           f"{config.ENV_SHARE_SECRET} (on AWS the template sets {config.ENV_SHARE_SECRET_ARN})")
    # Compared as text, not decoded bytes: base64's unused trailing bits must not let a second spelling pass.
    if not hmac.compare_digest(_signature(secret, payload).encode(), signature.encode()):
        raise Unauthorized(f"invalid share link: it was altered, or the share secret was rotated; {_HOW_TO}")
    grant = _claims(payload)
    now = time.time() if now is None else now
    if now >= grant.expires:
        raise Unauthorized(f"share link expired on {grant.expires_on}; {_HOW_TO}")
    return grant


def peek(token: str) -> Grant:
    """The scope a token names, unverified (for showing it; only `verify` decides what is served)."""
    return _claims(_split(token)[0])


def parse_duration(text: str, limit: int = MAX_EXPIRES_SECONDS) -> int:
    """Seconds of a lifetime such as 12h, 7d, 30d or 90d (ValueError saying what is accepted)."""
    match = _DURATION.match(text or "")
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if not 0 < seconds <= limit:
        raise ValueError(f"--expires must be hours or days such as 12h, 7d, 30d or 90d, at most "
                         f"{limit // 86400}d, not {text!r}")
    return seconds
