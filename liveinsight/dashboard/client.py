"""A small client for LiveInsight's two read APIs, for the dashboard and for notebooks.

    client = Client.from_env()
    stats = client.stats(period="7d", page="/pricing", site="shop.example.com", compare=True)
    stats.totals.sessions, stats.timeseries.plot(x="t", y="page_views")

Tables come back as pandas DataFrames whose columns keep openapi.yaml's names; time columns
are timezone-aware datetimes in the answer's zone (the site's; UTC for all sites), others UTC. Errors form one small tree:

    ApiError                   anything the dashboard can explain to its user
    ├── ApiUnreachable         connection refused, DNS failure, timeout: fix LIVEINSIGHT_API_URL
    ├── ApiAuthError           401: missing or wrong key, fix LIVEINSIGHT_API_KEY
    ├── ApiShareError          401/403 to a share link: expired, revoked, or outside its scope
    ├── ApiRequestError        any other 4xx, carrying the server's message
    └── ApiServerError         5xx, or an answer that is not the API's JSON envelope
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import requests

from liveinsight.config import ENV_API_KEY, ENV_API_URL, PERIOD_SECONDS, SHARE_PARAM

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 10.0
REALTIME_PATH = "/api/realtime"
STATS_PATH = "/api/stats"
VIEWS_PATH = "/api/views"
DEFINITIONS_PATH = "/api/definitions"
DEFINITION_KINDS = ("page_groups", "goals", "funnels")
API_KEY_HEADER = "X-API-Key"

# Columns of every table, so an empty answer still yields a frame with the right shape.
TIMESERIES_COLUMNS = ("t", "events", "page_views", "sessions", "visitors")
# `previous_timeseries`: the comparison range's series, `t` the bucket it is drawn against, `t_previous` its own.
PREVIOUS_TIMESERIES_COLUMNS = ("t", "t_previous", "events", "page_views", "sessions", "visitors")
COMPARE = ("previous", "year")  # what `compare` asks for: the previous period, or 52 weeks earlier
PER_MINUTE_COLUMNS = ("minute", "events", "page_views", "sessions")
EVENT_TYPE_COLUMNS = ("event_type", "count")
SOURCE_COLUMNS = ("source", "sessions", "page_views")
STATS_SOURCE_COLUMNS = ("source", "visitors", "sessions", "page_views")
REFERRER_COLUMNS = ("referrer", "sessions")
PAGE_COLUMNS = ("page", "page_views", "visitors", "sessions")
REALTIME_PAGE_COLUMNS = ("page", "sessions", "page_views")
ENTRY_PAGE_COLUMNS = ("page", "sessions")
NAMED_COLUMNS = ("name", "sessions")
CAMPAIGN_COLUMNS = ("campaign", "sessions")
RECENT_EVENT_COLUMNS = ("event_type", "timestamp", "page", "source")
# Places: a country is ISO 3166-1 alpha-2 or "Unknown"; a region ISO 3166-2 ("US-WA"); a city's
# `city` is its filter value ("US-WA/Seattle") and `name` what it is called.
PLACE_METRICS = ("visitors", "sessions", "page_views", "bounce_rate")
COUNTRY_COLUMNS = ("country", *PLACE_METRICS)
REGION_COLUMNS = ("region", "country", *PLACE_METRICS)
CITY_COLUMNS = ("city", "name", "region", "country", *PLACE_METRICS)
REALTIME_COUNTRY_COLUMNS = ("country", "active_sessions")
PROPERTY_COLUMNS = ("key", "value", "events", "visitors")
CHANNEL_COLUMNS = ("channel", "visitors", "sessions", "bounce_rate")
PAGE_GROUP_COLUMNS = ("page_group", "page_views", "sessions", "visitors")
GOAL_COLUMNS = ("name", "visitors", "conversions", "visits", "conversion_rate", "since", "counted_from")
REVENUE_COLUMNS = ("goal", "currency", "total", "average", "conversions")
REVENUE_SOURCE_COLUMNS = ("source", "currency", "revenue")
FUNNEL_COLUMNS = ("step", "goal", "visits", "visitors", "conversion_from_previous", "conversion_from_start", "drop_off")
UTM_TAGS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# The campaign filters of /api/stats: a visit's channel and its landing's UTM tags, one at a time.
CAMPAIGN_FILTERS = ("channel", *UTM_TAGS)
OTHER_VALUE = "(other)"


# --- errors -------------------------------------------------------------------------


class ApiError(Exception):
    """The API could not answer; the message says what the user should fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ApiUnreachable(ApiError):
    """No HTTP answer at all: the server is down, the URL is wrong, or it timed out."""


class ApiAuthError(ApiError):
    """401: the API wants a key and got none, or a wrong one."""


class ApiShareError(ApiError):
    """A share link was refused (expired, altered, revoked, or asked outside its scope); `message` is the server's."""


class ApiRequestError(ApiError):
    """A 4xx other than 401; `message` is the server's explanation."""


class ApiServerError(ApiError):
    """A 5xx, or a response that is not LiveInsight's JSON envelope."""


# --- results ------------------------------------------------------------------------


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Totals:
    """Headline numbers of a period (openapi.yaml `totals`)."""

    events: int = 0
    page_views: int = 0
    sessions: int = 0
    bounce_rate: float = 0.0
    # None under a page, event type, page group or goal filter: time on page answers there instead.
    avg_session_duration: float | None = 0.0
    views_per_session: float = 0.0
    # Each day's distinct visitors, summed over the range's days (the visitor id rotates daily);
    # None where the API does not count them (a combination of filters, an older server).
    visitors: int | None = None
    # Mean engaged seconds of the page views that reported it; None when none did.
    time_on_page: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Totals":
        return cls(
            events=int(data.get("events") or 0),
            page_views=int(data.get("page_views") or 0),
            sessions=int(data.get("sessions") or 0),
            bounce_rate=float(data.get("bounce_rate") or 0.0),
            avg_session_duration=_float_or_none(data.get("avg_session_duration", 0.0)),
            views_per_session=float(data.get("views_per_session") or 0.0),
            visitors=int(data["visitors"]) if data.get("visitors") is not None else None,
            time_on_page=_float_or_none(data.get("time_on_page")),
        )


@dataclass(frozen=True)
class Realtime:
    """What is happening now (GET /api/realtime)."""

    active_sessions: int
    active_sessions_30m: int
    per_minute: pd.DataFrame
    top_pages: pd.DataFrame
    top_referrers: pd.DataFrame
    event_types: pd.DataFrame
    recent_events: pd.DataFrame
    generated_at: datetime | None
    # Active sessions by country, most first; empty when an older server leaves it out.
    countries: pd.DataFrame = field(default_factory=lambda: _table(None, REALTIME_COUNTRY_COLUMNS))
    # The site's zone (UTC for all sites or an older server); the minutes, the events' times and
    # `generated_at` are in it.
    zone: Zone = field(default_factory=lambda: Zone())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Realtime":
        zone = Zone.from_json(data.get("zone"))
        return cls(
            zone=zone,
            active_sessions=int(data.get("active_sessions") or 0),
            active_sessions_30m=int(data.get("active_sessions_30m") or 0),
            per_minute=_in_zone(_table(data.get("per_minute"), PER_MINUTE_COLUMNS, times=("minute",)), zone,
                                ("minute",)),
            top_pages=_table(data.get("top_pages"), REALTIME_PAGE_COLUMNS),
            top_referrers=_table(data.get("top_referrers"), SOURCE_COLUMNS),
            event_types=_table(data.get("event_types"), EVENT_TYPE_COLUMNS),
            recent_events=_in_zone(_table(data.get("recent_events"), RECENT_EVENT_COLUMNS, times=("timestamp",)),
                                   zone, ("timestamp",)),
            generated_at=_at_zone(_to_datetime(data.get("generated_at")), zone),
            countries=_table(data.get("countries"), REALTIME_COUNTRY_COLUMNS),
        )


@dataclass(frozen=True)
class ShareScope:
    """What a share link grants, as the API verified it (openapi.yaml `ShareScope`, the answers' `data.share`)."""

    FILTERS = ("page", "source", "event_type")

    site: str
    expires: int
    page: str | None = None
    source: str | None = None
    event_type: str | None = None
    period: str | None = None
    # The periods the link admits as of the answer (those inside its window, in the site's zone); None from an
    # older server.
    periods: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ShareScope":
        def text(name: str) -> str | None:
            return str(data[name]) if data.get(name) is not None else None

        periods = data.get("periods")
        return cls(site=str(data.get("site") or ""), expires=int(data.get("expires") or 0), page=text("page"),
                   source=text("source"), event_type=text("event_type"), period=text("period"),
                   periods=tuple(str(name) for name in periods) if isinstance(periods, list) else None)

    @property
    def expires_on(self) -> str:
        """The expiry as a UTC day, e.g. "2026-12-30"."""
        return datetime.fromtimestamp(self.expires, tz=timezone.utc).strftime("%Y-%m-%d")

    @property
    def window_seconds(self) -> int | None:
        """How far back a rolling period's link may look (None: any range, or a calendar period)."""
        return PERIOD_SECONDS.get(self.period) if self.period else None


@dataclass(frozen=True)
class Zone:
    """The zone an answer is in (openapi.yaml `zone`): `America/New_York`, `EST`, `-05:00`."""

    name: str = "UTC"
    abbreviation: str = "UTC"
    utc_offset: str = "+00:00"

    @classmethod
    def from_json(cls, data: Any) -> "Zone":
        if not isinstance(data, dict) or not data.get("name"):
            return cls()
        return cls(str(data["name"]), str(data.get("abbreviation") or data["name"]),
                   str(data.get("utc_offset") or ""))


@dataclass(frozen=True)
class Stats:
    """What happened over a period (GET /api/stats)."""

    start: datetime | None
    end: datetime | None
    interval: str | None
    totals: Totals
    previous_totals: Totals | None
    timeseries: pd.DataFrame
    event_types: pd.DataFrame
    sources: pd.DataFrame
    referrers: pd.DataFrame
    pages: pd.DataFrame
    entry_pages: pd.DataFrame
    browsers: pd.DataFrame
    operating_systems: pd.DataFrame
    devices: pd.DataFrame
    bots_filtered: int = 0
    # utm_campaign breakdown: `[{"campaign": …, "sessions": n}]`; empty when an older server leaves it out.
    campaigns: pd.DataFrame = field(default_factory=lambda: _table(None, CAMPAIGN_COLUMNS))
    # Hosts that have data, sorted; what the dashboard's site selector offers.
    sites: list[str] = field(default_factory=list)
    # Only in answers to a share link: the scope the API verified and served.
    share: ShareScope | None = None
    # Where visitors are: by country, and the regions and cities known (those of the country or
    # region filtered to, when one is); empty when an older server leaves them out.
    countries: pd.DataFrame = field(default_factory=lambda: _table(None, COUNTRY_COLUMNS))
    regions: pd.DataFrame = field(default_factory=lambda: _table(None, REGION_COLUMNS))
    cities: pd.DataFrame = field(default_factory=lambda: _table(None, CITY_COLUMNS))
    # With an event type filter: its custom properties, a row per (key, value), each key's remainder
    # as the value "(other)"; empty otherwise or from an older server.
    properties: pd.DataFrame = field(default_factory=lambda: _table(None, PROPERTY_COLUMNS))
    # GA4's default channels, and the visits of each UTM tag's values ({tag: frame of tag, sessions};
    # utm_campaign from `campaigns`); empty from an older server.
    channels: pd.DataFrame = field(default_factory=lambda: _table(None, CHANNEL_COLUMNS))
    # Visits by the page of their last page view; empty from an older server. `exits_counted` is False under
    # a page, event type, page group or goal filter, whose items keep no exit pages.
    exit_pages: pd.DataFrame = field(default_factory=lambda: _table(None, ENTRY_PAGE_COLUMNS))
    exits_counted: bool = True
    utm: dict[str, pd.DataFrame] = field(default_factory=dict)
    # With `compare`: the comparison range's series, one row per bucket of `timeseries`; else empty.
    previous_timeseries: pd.DataFrame = field(
        default_factory=lambda: _table(None, PREVIOUS_TIMESERIES_COLUMNS, times=("t", "t_previous")))
    # A site's definitions: page groups (a breakdown), its goals' numbers and revenue per currency, and with
    # `goal` / `funnel` that goal's revenue by source and the funnel's steps; empty otherwise.
    page_groups: pd.DataFrame = field(default_factory=lambda: _table(None, PAGE_GROUP_COLUMNS))
    goals: pd.DataFrame = field(default_factory=lambda: _table(None, GOAL_COLUMNS))
    revenue: pd.DataFrame = field(default_factory=lambda: _table(None, REVENUE_COLUMNS))
    goal: dict[str, Any] | None = None
    revenue_by_source: pd.DataFrame = field(default_factory=lambda: _table(None, REVENUE_SOURCE_COLUMNS))
    funnel: pd.DataFrame = field(default_factory=lambda: _table(None, FUNNEL_COLUMNS))
    # The zone the buckets are in (the site's; UTC for all sites or an older server); the series' times are in it.
    zone: Zone = field(default_factory=Zone)
    # A calendar period's local days and length (`range.first_day` …), None otherwise.
    first_day: date | None = None
    last_day: date | None = None
    # True when month items of a filtered value answered: totals and series only, every breakdown empty.
    breakdowns_omitted: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Stats":
        period = data.get("range") or {}
        previous = data.get("previous_totals")
        zone = Zone.from_json(data.get("zone"))
        return cls(
            zone=zone,
            first_day=date.fromisoformat(period["first_day"]) if period.get("first_day") else None,
            last_day=date.fromisoformat(period["last_day"]) if period.get("last_day") else None,
            start=_to_datetime(period.get("from")),
            end=_to_datetime(period.get("to")),
            interval=period.get("interval"),
            breakdowns_omitted=bool(data.get("breakdowns_omitted")),
            totals=Totals.from_json(data.get("totals") or {}),
            previous_totals=Totals.from_json(previous) if previous is not None else None,
            timeseries=_in_zone(_table(data.get("timeseries"), TIMESERIES_COLUMNS, times=("t",)), zone, ("t",)),
            event_types=_table(data.get("event_types"), EVENT_TYPE_COLUMNS),
            sources=_table(data.get("sources"), STATS_SOURCE_COLUMNS),
            referrers=_table(data.get("referrers"), REFERRER_COLUMNS),
            pages=_table(data.get("pages"), PAGE_COLUMNS),
            entry_pages=_table(data.get("entry_pages"), ENTRY_PAGE_COLUMNS),
            browsers=_table(data.get("browsers"), NAMED_COLUMNS),
            operating_systems=_table(data.get("operating_systems"), NAMED_COLUMNS),
            devices=_table(data.get("devices"), NAMED_COLUMNS),
            bots_filtered=int(data.get("bots_filtered") or 0),
            campaigns=_table(data.get("campaigns"), CAMPAIGN_COLUMNS),
            sites=[str(site) for site in data.get("sites") or []],
            share=ShareScope.from_json(data["share"]) if isinstance(data.get("share"), dict) else None,
            countries=_table(data.get("countries"), COUNTRY_COLUMNS),
            regions=_table(data.get("regions"), REGION_COLUMNS),
            cities=_table(data.get("cities"), CITY_COLUMNS),
            properties=_table(_property_rows(data.get("properties")), PROPERTY_COLUMNS),
            channels=_table(data.get("channels"), CHANNEL_COLUMNS),
            exit_pages=_table(data.get("exit_pages"), ENTRY_PAGE_COLUMNS),
            exits_counted=data.get("exit_pages", []) is not None,
            utm={tag: _table(data.get(f"{tag}s") if tag != "utm_campaign" else
                             [{"utm_campaign": row.get("campaign"), "sessions": row.get("sessions")}
                              for row in data.get("campaigns") or []], (tag, "sessions")) for tag in UTM_TAGS},
            previous_timeseries=_in_zone(_table(data.get("previous_timeseries"), PREVIOUS_TIMESERIES_COLUMNS,
                                                times=("t", "t_previous")), zone, ("t", "t_previous")),
            page_groups=_table(data.get("page_groups"), PAGE_GROUP_COLUMNS),
            goals=_table(data.get("goals"), GOAL_COLUMNS),
            revenue=_table([{"goal": goal["name"], **row} for goal in [*(data.get("goals") or []),
                                                                       *([data["goal"]] if data.get("goal") else [])]
                            for row in goal.get("revenue") or []], REVENUE_COLUMNS),
            goal=data.get("goal"),
            revenue_by_source=_table((data.get("goal") or {}).get("revenue_by_source"), REVENUE_SOURCE_COLUMNS),
            funnel=_table((data.get("funnel") or {}).get("steps"), FUNNEL_COLUMNS),
        )


def _in_zone(frame: pd.DataFrame, zone: Zone, columns: tuple[str, ...]) -> pd.DataFrame:
    """`frame` with its UTC time `columns` shown in `zone` (the same instants, the site's wall clock)."""
    if zone.name == "UTC":
        return frame
    try:
        for column in columns:
            frame[column] = frame[column].dt.tz_convert(zone.name)
    except Exception:  # a zone this pandas cannot name: the times stay UTC, still right
        return frame
    return frame


def _at_zone(moment: datetime | None, zone: Zone) -> datetime | None:
    """`moment` on `zone`'s clock (the same instant; unchanged for a zone this Python cannot name)."""
    if moment is None or zone.name == "UTC":
        return moment
    try:
        return moment.astimezone(ZoneInfo(zone.name))
    except (ZoneInfoNotFoundError, ValueError):
        return moment


def _to_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    moment = pd.Timestamp(value)  # ISO 8601
    return (moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")).to_pydatetime()


def _property_rows(properties: Any) -> list[dict[str, Any]]:
    """The API's `properties` ([{key, values, other}]) as rows of (key, value, events, visitors)."""
    rows = []
    for prop in properties or []:
        rows += [{"key": prop["key"], **value} for value in prop.get("values") or []]
        other = prop.get("other") or {}
        if other.get("events"):
            rows.append({"key": prop["key"], "value": OTHER_VALUE, **other})
    return rows


def _compare(compare: bool | str | None) -> str | None:
    if compare is True:
        return "previous"
    if compare in (False, None):
        return None
    if compare not in COMPARE:
        raise ValueError(f"compare must be one of {', '.join(COMPARE)} (or True for previous), not {compare!r}")
    return str(compare)


def _table(rows: Any, columns: tuple[str, ...], times: tuple[str, ...] = ()) -> pd.DataFrame:
    """A list of JSON objects as a DataFrame with at least `columns`; epoch seconds become UTC datetimes."""
    frame = pd.DataFrame(rows or [])
    for column in columns:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype="object")
    extra = [c for c in frame.columns if c not in columns]
    frame = frame[list(columns) + extra]
    for column in times:
        frame[column] = _epoch_to_utc(frame[column])
    for column in ("events", "page_views", "sessions", "count", "active_sessions"):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("int64")
    if "visitors" in frame.columns:  # Missing where the API does not count them: unknown, not zero.
        frame["visitors"] = pd.to_numeric(frame["visitors"], errors="coerce").astype("Int64")
    if "bounce_rate" in frame.columns:
        frame["bounce_rate"] = pd.to_numeric(frame["bounce_rate"], errors="coerce").fillna(0.0).astype("float64")
    return frame


def _epoch_to_utc(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    if len(values) and numeric.isna().all():
        return pd.to_datetime(values, utc=True, errors="coerce")  # ISO 8601 strings
    return pd.to_datetime(numeric, unit="s", utc=True)


def _epoch(value: datetime | date | float | int | str) -> float | str:
    """A `from`/`to` bound as the API accepts it: epoch seconds, or the ISO string as given."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    return value


@dataclass(frozen=True)
class SavedView:
    """A team's saved view (GET /api/views): a name and the dashboard filters it opens with."""

    name: str
    filters: dict[str, str]
    saved_by: str | None = None
    saved_at: datetime | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SavedView":
        saved_at = data.get("saved_at")
        return cls(name=str(data.get("name") or ""),
                   filters={str(k): str(v) for k, v in (data.get("filters") or {}).items() if v is not None},
                   saved_by=data.get("saved_by") or None,
                   saved_at=datetime.fromtimestamp(float(saved_at), timezone.utc) if saved_at else None)


@dataclass(frozen=True)
class Definitions:
    """A site's page groups, goals and funnels (GET /api/definitions, openapi.yaml `Definitions`).

    Each definition is the API's object: `name`, its fields, `since` (epoch seconds from when it
    counts as events arrive; 0 from the start), `seeded` (defined at deploy time) and `counted_from`
    (the oldest event its numbers hold once the raw events kept were recounted; None until then).
    """

    site: str
    version: int = 0
    page_groups: list[dict[str, Any]] = field(default_factory=list)
    goals: list[dict[str, Any]] = field(default_factory=list)
    funnels: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Definitions":
        return cls(site=str(data.get("site") or ""), version=int(data.get("version") or 0),
                   **{kind: [dict(d) for d in data.get(kind) or []] for kind in DEFINITION_KINDS})

    def names(self, kind: str) -> list[str]:
        return [str(d["name"]) for d in getattr(self, kind)]


# --- the client ---------------------------------------------------------------------


class Client:
    """LiveInsight's read APIs over HTTP, with one connection pool.

    Parameters
    ----------
    base_url:
        Where the API lives, e.g. ``http://127.0.0.1:8000`` or the API Gateway stage URL.
    api_key:
        Sent as ``X-API-Key`` when the deployment requires a key.
    timeout:
        Seconds to wait for connecting and for each read.
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or None
        self.timeout = timeout
        self._session = requests.Session()
        if self.api_key:
            self._session.headers[API_KEY_HEADER] = self.api_key

    @classmethod
    def from_env(cls, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> "Client":
        """A client configured by LIVEINSIGHT_API_URL and LIVEINSIGHT_API_KEY."""
        url = os.environ.get(ENV_API_URL, "").strip() or DEFAULT_API_URL
        return cls(url, api_key=os.environ.get(ENV_API_KEY, "").strip() or None, timeout=timeout)

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, api_key={'***' if self.api_key else None})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def realtime(self, page: str | None = None, window: int = 30, site: str | None = None,
                 share: str | None = None) -> Realtime:
        """Active sessions, the per-minute series and the newest events (of one site when `site` is given).

        With `share` (a share link's token) the answer is limited to the link's scope; no key is needed.
        """
        return Realtime.from_json(self._get(REALTIME_PATH, {"page": page, "window": window, "site": site,
                                                            "share": share}))

    def stats(
        self,
        period: str | None = None,
        from_: datetime | date | float | str | None = None,
        to: datetime | date | float | str | None = None,
        interval: str | None = None,
        page: str | None = None,
        source: str | None = None,
        event_type: str | None = None,
        limit: int = 10,
        compare: bool | str | None = False,
        site: str | None = None,
        share: str | None = None,
        country: str | None = None,
        region: str | None = None,
        city: str | None = None,
        channel: str | None = None,
        utm_source: str | None = None,
        utm_medium: str | None = None,
        utm_campaign: str | None = None,
        utm_term: str | None = None,
        utm_content: str | None = None,
        prop: tuple[str, str] | None = None,
        page_group: str | None = None,
        goal: str | None = None,
        funnel: str | None = None,
        week_start: str | None = None,
    ) -> Stats:
        """Totals, time series and breakdowns of a period.

        Parameters
        ----------
        period:
            ``1h``, ``24h``, ``7d`` or ``30d``, or a calendar period of the site's zone (``today``,
            ``yesterday``, ``this_week``, ``this_month``, ``last_month``, ``year_to_date``,
            ``last_12_months``, ``all_time``); the server defaults to ``24h``.
        from_, to:
            A custom range: datetimes (naive ones are UTC), epoch seconds, ISO 8601, or local dates of the
            site's zone as ``"YYYY-MM-DD"`` strings (``to`` inclusive); `date` objects are UTC midnights.
        interval:
            ``minute``, ``hour``, ``day`` or ``month``; by default the server picks one from the period.
        week_start:
            ``monday``, ``sunday`` or ``saturday``: where ``this_week`` starts.
        page, source, event_type:
            Exact-match filters, combined with AND.
        limit:
            Rows per breakdown, 1–100.
        compare:
            Also fetch ``previous_totals`` and ``previous_timeseries``: ``"previous"`` (or ``True``) for
            the previous period of equal length, ``"year"`` for the same range 52 weeks earlier.
        site:
            One site's host, e.g. ``shop.example.com``; by default all sites together.
        share:
            A share link's token: read without a key, only within the link's scope.
        country, region, city:
            Where visits come from: ``US`` (ISO 3166-1 alpha-2) or ``Unknown``, ``US-WA`` (ISO 3166-2),
            ``US-WA/Seattle`` (a `cities` row's ``city``). With a country, `regions` and `cities` are
            that country's; with a region, `cities` are that region's.
        channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content:
            One campaign filter, alone: totals and the series of the visits of that channel (a
            `channels` row) or landing UTM tag; no breakdowns, no minute interval.
        prop:
            ``(key, value)`` of a custom property of ``event_type``: that value's events and visitors.
        page_group, goal:
            One of the site's page groups or goals, alone (with ``site``): the answer narrowed to it.
        funnel:
            One of the site's funnels (with ``site``): its steps in ``funnel``.
        """
        params = {
            "period": period,
            "from": _epoch(from_) if from_ is not None else None,
            "to": _epoch(to) if to is not None else None,
            "interval": interval,
            "page": page,
            "source": source,
            "event_type": event_type,
            "limit": limit,
            "compare": _compare(compare),
            "site": site,
            "share": share,
            "country": country,
            "region": region,
            "city": city,
            "channel": channel,
            "utm_source": utm_source,
            "utm_medium": utm_medium,
            "utm_campaign": utm_campaign,
            "utm_term": utm_term,
            "utm_content": utm_content,
            "prop": f"{prop[0]}:{prop[1]}" if prop is not None else None,
            "page_group": page_group,
            "goal": goal,
            "funnel": funnel,
            "week_start": week_start,
        }
        return Stats.from_json(self._get(STATS_PATH, params))

    def set_zone(self, site: str, zone: str) -> Zone:
        """Set `site`'s time zone (an IANA name; needs the key): its days and hours follow it from now on."""
        data = self._request("PUT", f"/api/sites/{quote(site, safe='')}/zone", {}, {"zone": zone})
        return Zone.from_json(data.get("zone"))

    def views(self) -> list[SavedView]:
        """The team's saved views, by name (needs the key)."""
        return [SavedView.from_json(view) for view in self._request("GET", VIEWS_PATH, {})["views"]]

    def save_view(self, name: str, filters: dict[str, str], saved_by: str | None = None) -> SavedView:
        """Save `filters` (period, from/to, site, page, source, event_type) as the view `name`, replacing one."""
        body: dict[str, Any] = {"filters": {k: v for k, v in filters.items() if v is not None}}
        if saved_by:
            body["saved_by"] = saved_by
        return SavedView.from_json(self._request("PUT", _view_path(name), {}, body))

    def delete_view(self, name: str) -> None:
        """Delete the saved view `name`."""
        self._request("DELETE", _view_path(name), {})

    def definitions(self, site: str | None = None) -> Definitions:
        """The site's page groups, goals and funnels (needs the key; `site` may be left out on a one-site deployment)."""
        return Definitions.from_json(self._request("GET", DEFINITIONS_PATH, {"site": site}))

    def put_definition(self, kind: str, name: str, body: dict[str, Any], site: str | None = None) -> Definitions:
        """Add or replace the definition `name` of `kind` (page_groups, goals, funnels); the site's definitions after.

        `body` is the definition without its name: ``{"pattern": "/products/*"}``, ``{"event_type":
        "purchase", "revenue": {"property": "amount", "currency": "EUR"}}``, ``{"steps": [...]}``.
        """
        return Definitions.from_json(self._request("PUT", _definition_path(kind, name), {"site": site}, body))

    def delete_definition(self, kind: str, name: str, site: str | None = None) -> Definitions:
        """Delete the definition `name` of `kind`; the site's definitions after."""
        return Definitions.from_json(self._request("DELETE", _definition_path(kind, name), {"site": site}))

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._request("GET", path, params)

    def _request(self, method: str, path: str, params: dict[str, Any], body: Any = None) -> dict[str, Any]:
        url = self.base_url + path
        query = {name: value for name, value in params.items() if value is not None and value != ""}
        try:
            response = self._session.request(method, url, params=query, json=body, timeout=self.timeout)
        except requests.Timeout as exc:
            raise ApiUnreachable(
                f"The LiveInsight API at {self.base_url} did not answer within {self.timeout:g} s. "
                f"Check that it is running and that {ENV_API_URL} points at it."
            ) from exc
        except requests.RequestException as exc:
            raise ApiUnreachable(
                f"Cannot reach the LiveInsight API at {self.base_url}. "
                f"Start it (`python -m liveinsight serve`) or set {ENV_API_URL} to its address."
            ) from exc
        return self._unwrap(response, shared=SHARE_PARAM in query)

    def _unwrap(self, response: requests.Response, shared: bool = False) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        server_message = body.get("message") if isinstance(body, dict) else None
        status = response.status_code
        if shared and status in (401, 403):
            raise ApiShareError(server_message or f"The API refused the share link (HTTP {status}).", status)
        if status == 401:
            if self.api_key:
                hint = f"The API rejected the key in {ENV_API_KEY}; set it to the deployment's API key."
            else:
                hint = f"The API requires a key and none was sent; set {ENV_API_KEY}."
            raise ApiAuthError(hint, status)
        if 400 <= status < 500:
            if status == 404 and not server_message:
                server_message = f"{response.url} was not found; check that {ENV_API_URL} is the API's base URL"
            raise ApiRequestError(server_message or f"The API refused the request (HTTP {status}).", status)
        if status >= 500:
            raise ApiServerError(
                f"The LiveInsight API failed (HTTP {status}): {server_message or 'no details'}. Its logs say more.",
                status,
            )
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            raise ApiServerError(
                f"{response.url} did not answer with LiveInsight's JSON envelope; "
                f"check that {ENV_API_URL} is the API's base URL.",
                status,
            )
        return body["data"]


def _view_path(name: str) -> str:
    return f"{VIEWS_PATH}/{quote(name.strip(), safe='')}"


def _definition_path(kind: str, name: str) -> str:
    return f"{DEFINITIONS_PATH}/{quote(kind, safe='')}/{quote(name.strip(), safe='')}"


__all__ = [
    "ApiAuthError",
    "ApiError",
    "ApiRequestError",
    "ApiServerError",
    "ApiShareError",
    "ApiUnreachable",
    "Client",
    "Definitions",
    "Realtime",
    "SavedView",
    "Stats",
    "Totals",
]
