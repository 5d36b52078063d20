"""Configuration in one place: environment variable names, defaults and the Settings object.

An explicit argument beats the environment; the environment beats the defaults below.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

# Environment variable names.
ENV_EVENTS_TABLE = "EVENTS_TABLE"
ENV_SESSIONS_TABLE = "SESSIONS_TABLE"
ENV_STATS_TABLE = "STATS_TABLE"
ENV_REGION = "AWS_REGION"
ENV_DYNAMODB_ENDPOINT = "AWS_ENDPOINT_URL_DYNAMODB"  # boto3's own standard name
ENV_API_KEY = "LIVEINSIGHT_API_KEY"
ENV_API_KEY_SECRET_ARN = "LIVEINSIGHT_API_KEY_SECRET_ARN"  # the template's: the key in Secrets Manager
ENV_ALLOWED_ORIGINS = "LIVEINSIGHT_ALLOWED_ORIGINS"
ENV_RAW_RETENTION_HOURS = "LIVEINSIGHT_RAW_RETENTION_HOURS"
ENV_SITES = "LIVEINSIGHT_SITES"
ENV_PROPS = "LIVEINSIGHT_PROPS"  # custom property keys to count (comma-separated); empty: every key
# Page groups, goals and funnels seeded at deploy time: JSON text, or the path of a JSON file,
# {site: {page_groups: [...], goals: [...], funnels: [...]}} (liveinsight/definitions.py reads it).
ENV_DEFINITIONS = "LIVEINSIGHT_DEFINITIONS"
ENV_SITE_ZONES = "LIVEINSIGHT_SITE_ZONES"  # sites' time zones: shop.example.com=America/New_York,…
ENV_NEW_SITES_PER_DAY = "LIVEINSIGHT_NEW_SITES_PER_DAY"
ENV_MAX_REPORTS = "LIVEINSIGHT_MAX_REPORTS_PER_RUN"
ENV_MAX_ALERTS = "LIVEINSIGHT_MAX_ALERTS_PER_RUN"
ENV_EXCLUDE_PATHS = "LIVEINSIGHT_EXCLUDE_PATHS"
ENV_STREAM_WINDOW = "LIVEINSIGHT_STREAM_WINDOW_SECONDS"
ENV_ROLLUP_WINDOW = "LIVEINSIGHT_ROLLUP_WINDOW_SECONDS"
# The two consumers of the events stream and their batching windows (the template's defaults,
# RealtimeBatchingWindowSeconds and AggregatorBatchingWindowSeconds; the local stack uses the same).
DEFAULT_STREAM_WINDOW_SECONDS = 1.0   # the realtime consumer: realtime items only
DEFAULT_ROLLUP_WINDOW_SECONDS = 60.0  # the rollup consumer: sessions and rollups
ENV_STREAM_CONSUMER = "LIVEINSIGHT_STREAM_CONSUMER"  # which consumer a stream function is (the template sets it)
REALTIME_CONSUMER, ROLLUP_CONSUMER = "realtime", "rollups"
STREAM_CONSUMERS = (REALTIME_CONSUMER, ROLLUP_CONSUMER)
# On AWS each consumer is its own function (ENV_STREAM_CONSUMER); the local stack runs both in one
# process, so its poller names the consumer in this field of the stream event instead.
CONSUMER_FIELD = "liveinsightConsumer"
ENV_API_URL = "LIVEINSIGHT_API_URL"
ENV_KEEP_QUERY = "LIVEINSIGHT_KEEP_QUERY"
# Share links: the secret itself (local and dev), or the ARN of the Secrets Manager secret holding it (AWS).
ENV_SHARE_SECRET = "LIVEINSIGHT_SHARE_SECRET"
ENV_SHARE_SECRET_ARN = "LIVEINSIGHT_SHARE_SECRET_ARN"
# The front door (infra/template.yaml's CloudFront distribution) adds ORIGIN_HEADER with this
# secret to every request it forwards; only a request carrying it is trusted with the viewer's
# address and place (CloudFront's viewer headers). The secret itself (local stack, dev), or the
# ARN of the Secrets Manager secret holding it (AWS).
ORIGIN_HEADER = "X-LiveInsight-Origin"
ENV_ORIGIN_SECRET = "LIVEINSIGHT_ORIGIN_SECRET"
ENV_ORIGIN_SECRET_ARN = "LIVEINSIGHT_ORIGIN_SECRET_ARN"

# Reports and alerts (the scheduled function; see liveinsight/reports/notify.py and alerts.py).
ENV_REPORT_RECIPIENTS = "LIVEINSIGHT_REPORT_RECIPIENTS"  # comma-separated e-mail addresses
ENV_REPORT_SENDER = "LIVEINSIGHT_REPORT_SENDER"  # an SES-verified address or domain's address
ENV_SLACK_WEBHOOK_SECRET = "LIVEINSIGHT_SLACK_WEBHOOK_SECRET"  # Secrets Manager id/ARN holding the URL
ENV_SLACK_WEBHOOK_PARAMETER = "LIVEINSIGHT_SLACK_WEBHOOK_PARAMETER"  # or an SSM SecureString's name
ENV_DASHBOARD_URL = "LIVEINSIGHT_DASHBOARD_URL"  # linked from reports and alerts when set
ENV_ALERT_HIGH_RATIO = "LIVEINSIGHT_ALERT_HIGH_RATIO"
ENV_ALERT_LOW_RATIO = "LIVEINSIGHT_ALERT_LOW_RATIO"
ENV_ALERT_MIN_VISITS = "LIVEINSIGHT_ALERT_MIN_VISITS"
ENV_ALERT_COOLDOWN_HOURS = "LIVEINSIGHT_ALERT_COOLDOWN_HOURS"
ENV_ALERT_WEEKS = "LIVEINSIGHT_ALERT_WEEKS"

# The hosted dashboard's sign-in (liveinsight/dashboard/auth.py): any OpenID Connect provider.
# `python -m liveinsight dashboard` hands them to Streamlit's st.login as its `[auth]` secrets;
# the redirect URI is LIVEINSIGHT_DASHBOARD_URL + "/oauth2callback".
ENV_OIDC_METADATA_URL = "LIVEINSIGHT_OIDC_METADATA_URL"  # the provider's .well-known/openid-configuration
ENV_OIDC_CLIENT_ID = "LIVEINSIGHT_OIDC_CLIENT_ID"
ENV_OIDC_CLIENT_SECRET = "LIVEINSIGHT_OIDC_CLIENT_SECRET"
ENV_AUTH_COOKIE_SECRET = "LIVEINSIGHT_AUTH_COOKIE_SECRET"  # signs the sign-in cookie; the same for every task
# Who may sign in: comma-separated e-mail domains ("example.com") and addresses ("ana@partner.org").
ENV_ALLOWED_USERS = "LIVEINSIGHT_ALLOWED_USERS"
OIDC_CALLBACK_PATH = "/oauth2callback"  # Streamlit's own callback route
DEFAULT_DASHBOARD_PORT = 8501

# The dashboard's presentation mode: query parameters of its URL (`up --kiosk` prints one).
KIOSK_PARAM = "kiosk"
ROTATE_PARAM = "rotate"
EVERY_PARAM = "every"
SHARE_PARAM = "share"  # a read-only share link's token, in the API's and the dashboard's query strings

# Defaults (the deployed `dev` stage's names).
DEFAULT_EVENTS_TABLE = "liveinsight-events-dev"
DEFAULT_SESSIONS_TABLE = "liveinsight-sessions-dev"
DEFAULT_STATS_TABLE = "liveinsight-stats-v2-dev"  # schema v2 (pk + sk); v1 tables are not reused
DEFAULT_REGION = "us-east-1"
DEFAULT_ALLOWED_ORIGINS = "*"
DEFAULT_RAW_RETENTION_HOURS = 24
# The host of `python -m liveinsight doctor`'s test events (a reserved .invalid name, never a
# real site). They are bot-flagged: the collector stores them without registering the site (a
# bot never registers one), so they count only in this host's rollups (`bots_filtered`), where
# doctor reads them, and no report, alert or site list ever shows it.
DOCTOR_SITE = "liveinsight-doctor.invalid"
# Without an allow-list (LIVEINSIGHT_SITES), sites never seen before are admitted up to this
# many a day; beyond it their events are answered `filtered` (a flood of made-up hosts).
DEFAULT_NEW_SITES_PER_DAY = 100
# What one scheduled run may send: reports (one per site, the most visited first) and alerts.
DEFAULT_MAX_REPORTS = 20
DEFAULT_MAX_ALERTS = 10

# Event model limits (API.md, POST /api/events).
MAX_BODY_BYTES = 256 * 1024
MAX_BATCH_EVENTS = 500
MAX_URL_CHARS = 2048
# A page's host is its site, part of every stats key (DynamoDB keys hold at most 2,048 bytes):
# what DNS allows (RFC 1035), in its IDNA (ASCII) form.
MAX_HOST_CHARS = 253
MAX_HOST_LABEL_CHARS = 63
MAX_SESSION_ID_CHARS = 128
MAX_EVENT_ID_CHARS = 64
MAX_EVENT_TYPE_CHARS = 64
MAX_PROPS = 30
MAX_PROP_KEY_CHARS = 64
MAX_PROP_VALUE_CHARS = 256
MAX_USER_AGENT_CHARS = 1024
MAX_TZ_CHARS = 64  # an IANA time zone name (the longest real one has 30)
MAX_CITY_CHARS = 100  # a city name from CloudFront's viewer header, after percent-decoding
MAX_EVENT_AGE_SECONDS = 24 * 3600
MAX_FUTURE_SKEW_SECONDS = 5 * 60
MILLISECONDS_THRESHOLD = 10**11
# Custom properties counted: per event, its first COUNTED_PROPS_PER_EVENT keys (in key order);
# per event type and bucket, COUNTED_PROP_KEYS keys (later keys of that bucket are not counted).
COUNTED_PROPS_PER_EVENT = 10
COUNTED_PROP_KEYS = 20
MAX_PROP_NUMBER = 10**38  # DynamoDB numbers hold 38 significant digits

# Definitions (page groups, goals, funnels) per site: one item holds them all, so they are bounded.
MAX_PAGE_GROUPS = 50
MAX_GOALS = 30
MAX_FUNNELS = 10
MAX_DEFINITION_NAME_CHARS = 60
MAX_PATTERN_CHARS = 200
MAX_REVENUE = 10**12  # a goal's revenue property per conversion, in its currency
DEFINITIONS_CACHE_SECONDS = 60  # how long a warm function reuses a site's definitions
# A saved definition counts events from this long after it is saved (its `since`): by then every warm
# aggregator has read it, so no event it should count is folded without it.
DEFINITION_COUNTS_AFTER_SECONDS = DEFINITIONS_CACHE_SECONDS

# Privacy: a stored page URL keeps scheme, host, path, `utm_*` and these query parameters
# (LIVEINSIGHT_KEEP_QUERY, comma-separated; empty keeps only `utm_*`). `ref` is read as a source.
DEFAULT_KEEP_QUERY = ("ref",)

# The named periods of GET /api/stats (and of share links), in seconds.
PERIOD_SECONDS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
# The calendar periods of GET /api/stats, in the site's zone (liveinsight/localtime.py), and the days a
# week may start on (`week_start`: the locale's), as date.weekday() numbers.
CALENDAR_PERIODS = ("today", "yesterday", "this_week", "this_month", "last_month", "year_to_date",
                    "last_12_months", "all_time")
WEEK_STARTS = {"monday": 0, "sunday": 6, "saturday": 5}

# Sessions and rollups.
SESSION_TIMEOUT_SECONDS = 30 * 60
# A visitor id is derived with the salt of the site's local date; this long after local midnight an event also
# carries the id of the day before, so a visit open at midnight goes on as one visit.
VISIT_ACROSS_MIDNIGHT_SECONDS = 4 * 3600
ACTIVE_WINDOW_SECONDS = 5 * 60
MINUTE_ROLLUP_TTL_SECONDS = 2 * 24 * 3600
LONG_ROLLUP_TTL_SECONDS = 400 * 24 * 3600 + 7 * 24 * 3600
SESSION_ITEM_TTL_SECONDS = 2 * 24 * 3600

HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")


def normalise_host(host: str) -> str | None:
    """A page host as its site is keyed: lower-case IDNA (ASCII) form, no trailing dot; None if no valid host.

    `bücher.example` becomes `xn--bcher-kva.example`, so one site has one spelling, and a
    host can never make a key longer than DynamoDB holds.
    """
    host = host.strip().rstrip(".").lower()
    if not host:
        return None
    try:
        return ipaddress.ip_address(host.strip("[]")).compressed if ":" in host else str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")  # UnicodeError: an empty or > 63-character label
    except UnicodeError:
        return None
    labels = ascii_host.split(".")
    if len(ascii_host) > MAX_HOST_CHARS or not all(
            len(label) <= MAX_HOST_LABEL_CHARS and HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return ascii_host


def site_of(host: str | None) -> str:
    """The site an event belongs to: its page's host, IDNA-normalised, `www.` folded ("" without a page)."""
    host = normalise_host(host or "") or (host or "").strip().lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _consumer(value: str) -> str | None:
    value = value.strip().lower()
    if value and value not in STREAM_CONSUMERS:
        raise ValueError(f"{ENV_STREAM_CONSUMER} must be one of {', '.join(STREAM_CONSUMERS)} or empty, not {value!r}")
    return value or None

def _definitions(value: str) -> str | None:
    """LIVEINSIGHT_DEFINITIONS, checked now: a bad value is a ValueError naming the variable at load."""
    if not value.strip():
        return None
    from .definitions import load_seeds  # lazy: the definitions module imports this one

    load_seeds(value)
    return value


def whole_number_env(name: str, default: int, low: int, high: int) -> int:
    """A whole number from the environment (`default` when unset); ValueError naming the variable otherwise."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def keep_query_from_env() -> tuple[str, ...]:
    """The query parameters kept in stored page URLs besides `utm_*` (set but empty: none)."""
    value = os.environ.get(ENV_KEEP_QUERY)
    if value is None:
        return DEFAULT_KEEP_QUERY
    return tuple(dict.fromkeys(name.strip().lower() for name in value.split(",") if name.strip()))


def site_zones_from_env() -> tuple[tuple[str, str], ...]:
    """(site, zone name) pairs of LIVEINSIGHT_SITE_ZONES (`host=Area/City,…`); ValueError naming the variable."""
    from .errors import InvalidRequest
    from .localtime import zone

    pairs = []
    for entry in _env(ENV_SITE_ZONES, "").split(","):
        if not entry.strip():
            continue
        host, _, name = entry.partition("=")
        site = site_of(host)
        try:
            zone(name) if site and name.strip() else None
        except InvalidRequest as exc:
            raise ValueError(f"{ENV_SITE_ZONES}: {exc}") from None
        if not site or not name.strip():
            raise ValueError(f"{ENV_SITE_ZONES} must be comma-separated host=Area/City pairs such as "
                             f"shop.example.com=America/New_York, not {entry.strip()!r}")
        pairs.append((site, name.strip()))
    return tuple(sorted(dict(pairs).items()))


@dataclass(frozen=True)
class Settings:
    """Everything the backend needs to know about where it runs."""

    events_table: str = DEFAULT_EVENTS_TABLE
    sessions_table: str = DEFAULT_SESSIONS_TABLE
    stats_table: str = DEFAULT_STATS_TABLE
    region: str = DEFAULT_REGION
    dynamodb_endpoint: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_secret_arn: str | None = None
    allowed_origins: tuple[str, ...] = field(default=(DEFAULT_ALLOWED_ORIGINS,))
    raw_retention_hours: int = DEFAULT_RAW_RETENTION_HOURS
    sites: tuple[str, ...] = ()
    new_sites_per_day: int = DEFAULT_NEW_SITES_PER_DAY
    exclude_paths: tuple[str, ...] = ()
    props: tuple[str, ...] = ()  # LIVEINSIGHT_PROPS: the custom property keys counted; () counts every key
    site_zones: tuple[tuple[str, str], ...] = ()  # LIVEINSIGHT_SITE_ZONES: (site, IANA zone) a site's default zone
    stream_window_seconds: float = DEFAULT_STREAM_WINDOW_SECONDS
    rollup_window_seconds: float = DEFAULT_ROLLUP_WINDOW_SECONDS
    stream_consumer: str | None = None  # None: one consumer writes every item kind
    keep_query: tuple[str, ...] = DEFAULT_KEEP_QUERY
    share_secret: str | None = field(default=None, repr=False)
    share_secret_arn: str | None = None
    origin_secret: str | None = field(default=None, repr=False)
    origin_secret_arn: str | None = None
    definitions: str | None = None  # LIVEINSIGHT_DEFINITIONS: JSON text or a file's path (seeded definitions)

    @property
    def only_site(self) -> str | None:
        """The one site of a single-site deployment (an allow-list of one): its answers about all
        sites are that site's, and no all-sites level is written for it."""
        return self.sites[0] if len(self.sites) == 1 else None

    @classmethod
    def from_env(cls) -> "Settings":
        """Read settings from the environment, falling back to the defaults."""
        origins = tuple(o.strip() for o in _env(ENV_ALLOWED_ORIGINS, DEFAULT_ALLOWED_ORIGINS).split(",") if o.strip())
        return cls(
            events_table=_env(ENV_EVENTS_TABLE, DEFAULT_EVENTS_TABLE),
            sessions_table=_env(ENV_SESSIONS_TABLE, DEFAULT_SESSIONS_TABLE),
            stats_table=_env(ENV_STATS_TABLE, DEFAULT_STATS_TABLE),
            region=_env(ENV_REGION, DEFAULT_REGION),
            dynamodb_endpoint=os.environ.get(ENV_DYNAMODB_ENDPOINT) or None,
            api_key=os.environ.get(ENV_API_KEY) or None,
            api_key_secret_arn=os.environ.get(ENV_API_KEY_SECRET_ARN) or None,
            allowed_origins=origins or (DEFAULT_ALLOWED_ORIGINS,),
            raw_retention_hours=int(_env(ENV_RAW_RETENTION_HOURS, str(DEFAULT_RAW_RETENTION_HOURS))),
            sites=tuple(sorted({site_of(h) for h in _env(ENV_SITES, "").split(",") if h.strip()})),
            new_sites_per_day=whole_number_env(ENV_NEW_SITES_PER_DAY, DEFAULT_NEW_SITES_PER_DAY, 0, 10**6),
            exclude_paths=tuple(p.strip() for p in _env(ENV_EXCLUDE_PATHS, "").split(",") if p.strip()),
            props=tuple(k.strip() for k in _env(ENV_PROPS, "").split(",") if k.strip()),
            site_zones=site_zones_from_env(),
            stream_window_seconds=float(_env(ENV_STREAM_WINDOW, str(DEFAULT_STREAM_WINDOW_SECONDS))),
            rollup_window_seconds=float(_env(ENV_ROLLUP_WINDOW, str(DEFAULT_ROLLUP_WINDOW_SECONDS))),
            stream_consumer=_consumer(os.environ.get(ENV_STREAM_CONSUMER, "")),
            keep_query=keep_query_from_env(),
            share_secret=os.environ.get(ENV_SHARE_SECRET) or None,
            share_secret_arn=os.environ.get(ENV_SHARE_SECRET_ARN) or None,
            origin_secret=os.environ.get(ENV_ORIGIN_SECRET) or None,
            origin_secret_arn=os.environ.get(ENV_ORIGIN_SECRET_ARN) or None,
            definitions=_definitions(os.environ.get(ENV_DEFINITIONS, "")),
        )
