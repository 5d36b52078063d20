"""Streamlit helpers shared by the dashboard's pages: settings, cached API calls, filters, panels.

Tests swap `client_factory` for a fake and clear Streamlit's caches between runs.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from liveinsight.dashboard import frames, kiosk, places
from liveinsight.dashboard.client import (
    DEFAULT_API_URL,
    ApiAuthError,
    ApiError,
    ApiRequestError,
    ApiShareError,
    ApiUnreachable,
    CAMPAIGN_FILTERS,
    Client,
    Definitions,
    Realtime,
    Stats,
)
from liveinsight.config import ENV_API_KEY, ENV_API_URL
from liveinsight.dashboard import share, text, zone

# Short enough that a refresh shows new traffic; long enough that pages and viewers share answers.
STATS_TTL_SECONDS = 10
REALTIME_TTL_SECONDS = 2
FILTER_OPTIONS_LIMIT = 100
EMPTY_RANGE_MESSAGE = "No events in this range yet."

# Rolling windows and the calendar periods of the site's zone (the API's names; liveinsight.config).
PERIODS = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "this_week": "This week",
    "30d": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "year_to_date": "Year to date",
    "last_12_months": "Last 12 months",
    "all_time": "All time",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "24h"
DEFAULT_CUSTOM_DAYS = 7
# Where visits come from, coarse to fine: choosing one clears the finer ones.
PLACE_FILTERS = ("country", "region", "city")
# The filters that pick one value of a dimension; None means all of them. A campaign filter (channel or
# UTM tag) goes alone (the API answers its totals and series only): choosing one clears the others.
VALUE_FILTERS = ("site", "page", "source", "event_type", *PLACE_FILTERS, *CAMPAIGN_FILTERS, "page_group")
# The filters the API answers alone (with the site): choosing one clears the others.
ALONE_FILTERS = (*CAMPAIGN_FILTERS, "page_group")
GROUP_COMBINES = ("source", "event_type")  # the filters a page group is answered with (the API's slices)
FILTER_KEYS = ("period", "from", "to", *VALUE_FILTERS)
CAMPAIGN_LABELS = {"channel": "Channel", "utm_source": "UTM source", "utm_medium": "UTM medium",
                   "utm_campaign": "UTM campaign", "utm_term": "UTM term", "utm_content": "UTM content"}
# Served by Streamlit from static/ (server.enableStaticServing); relative, so it holds under a base path.
# plotly.js would fetch its map shapes from its CDN otherwise, and a dashboard without internet draws no map.
TOPOJSON_URL = "app/static/topojson/"
ALL_SITES = "All sites"

client_factory: Callable[[str, str | None], Client] = Client


# --- settings -----------------------------------------------------------------------


def setting(name: str, default: str | None = None) -> str | None:
    """A setting from the environment, else from st.secrets, else `default`."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    try:
        value = str(st.secrets.get(name, "") or "").strip()
    except Exception:  # No secrets.toml, or an unreadable one: the environment is enough.
        value = ""
    return value or default


def api_settings() -> tuple[str, str | None]:
    """(API base URL, API key) as configured; no key in a shared view, whose link is its only credential."""
    return setting(ENV_API_URL, DEFAULT_API_URL), None if share.token() else setting(ENV_API_KEY)


@st.cache_resource(show_spinner=False)
def _client(api_url: str, api_key: str | None) -> Client:
    return client_factory(api_url, api_key)


def client() -> Client:
    """The configured client, one per URL and key for the whole server."""
    return _client(*api_settings())


# --- filters ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The sidebar's filters; what the URL's query string holds."""

    period: str = DEFAULT_PERIOD
    start: date | None = None
    end: date | None = None
    page: str | None = None
    source: str | None = None
    event_type: str | None = None
    site: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    channel: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    page_group: str | None = None

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> "Filters":
        """Filters from a query string; unknown or malformed values fall back to the defaults."""
        period = params.get("period") or DEFAULT_PERIOD
        if period not in PERIODS:
            period = DEFAULT_PERIOD
        start = end = None
        if period == "custom":
            try:
                start, end = date.fromisoformat(params.get("from", "")), date.fromisoformat(params.get("to", ""))
            except ValueError:
                period = DEFAULT_PERIOD
            else:
                start, end = min(start, end), max(start, end)
        return cls(period, start, end, **{name: params.get(name) or None for name in VALUE_FILTERS})

    def to_query(self) -> dict[str, str]:
        """The non-default filters as query parameters."""
        query = {"period": self.period} if self.period != DEFAULT_PERIOD else {}
        if self.period == "custom" and self.start and self.end:
            query.update({"from": self.start.isoformat(), "to": self.end.isoformat()})
        for name in VALUE_FILTERS:
            if getattr(self, name):
                query[name] = getattr(self, name)
        return query

    def stats_args(self) -> dict[str, Any]:
        """Keyword arguments for Client.stats."""
        # The place filters only when chosen: a server that predates them answers the rest as before.
        args: dict[str, Any] = {name: getattr(self, name) for name in VALUE_FILTERS
                                if name not in (*PLACE_FILTERS, *ALONE_FILTERS) or getattr(self, name)}
        if self.period == "custom" and self.start and self.end:
            # Whole local days of the site's zone, the end day included (the API reads dates so).
            args.update(from_=self.start.isoformat(), to=self.end.isoformat())
        else:
            args["period"] = self.period if self.period != "custom" else DEFAULT_PERIOD
        return args

    @property
    def campaign(self) -> tuple[str, str] | None:
        """The campaign filter chosen, e.g. ("channel", "Paid Search"); None without one."""
        return next(((name, getattr(self, name)) for name in CAMPAIGN_FILTERS if getattr(self, name)), None)

    @property
    def place(self) -> tuple[str, str] | None:
        """The finest place filter chosen, e.g. ("region", "US-WA"); None for everywhere."""
        return next(((name, getattr(self, name)) for name in reversed(PLACE_FILTERS) if getattr(self, name)), None)

    @property
    def description(self) -> str:
        """"Last 7 days · site shop.example.com · page /pricing" for captions."""
        if self.period == "custom" and self.start and self.end:
            parts = [f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"]
        else:
            parts = [PERIODS[self.period]]
        parts += [f"{name.replace('_', ' ')} {places.describe(name, getattr(self, name))}" for name in VALUE_FILTERS
                  if getattr(self, name)]
        return " · ".join(parts)


def _seed_filters_from_url() -> None:
    """On a session's first run, let the URL set the filters (a shared link reproduces the view)."""
    if st.session_state.get("_filters_seeded"):
        return
    apply_filters(Filters.from_query({key: st.query_params.get(key, "") for key in FILTER_KEYS}))


def apply_filters(filters: Filters) -> None:
    """Set the sidebar's filters (before its widgets are drawn): from the URL, or from a saved view."""
    st.session_state["period"] = filters.period
    today = date.today()
    end = min(filters.end or today, today)  # The date picker refuses days after today.
    st.session_state["range"] = (min(filters.start or today - timedelta(days=DEFAULT_CUSTOM_DAYS - 1), end), end)
    for name in VALUE_FILTERS:
        st.session_state[name] = getattr(filters, name)
    st.session_state["_filters_seeded"] = True


def _current_filters() -> Filters:
    period = st.session_state.get("period", DEFAULT_PERIOD)
    start = end = None
    if period == "custom":
        chosen = tuple(st.session_state.get("range") or ())
        if len(chosen) == 2:
            start, end = chosen
        else:  # Half-picked range: keep showing the default until the end day is chosen.
            period = DEFAULT_PERIOD
    return Filters(period, start, end, **{name: st.session_state.get(name) for name in VALUE_FILTERS})


def _write_filters_to_url(filters: Filters) -> None:
    wanted = filters.to_query()
    for key in FILTER_KEYS:
        if key in wanted:
            if st.query_params.get(key) != wanted[key]:
                st.query_params[key] = wanted[key]
        elif key in st.query_params:
            del st.query_params[key]


# The Overview's comparison: URL value → the control's label ("none": nothing compared). Kept in the URL as
# `compare` (the default, previous, is left out) so a shared link or a kiosk screen shows the same lines.
COMPARE_OPTIONS = {"previous": "Previous period", "year": "A year earlier", "none": "None"}
DEFAULT_COMPARE = "previous"


def compare_choice() -> str | None:
    """What the page compares with (the client's `compare`: "previous", "year" or None), chosen in a
    segmented control and kept in the URL; a kiosk screen takes it from the URL without the control."""
    if "compare" not in st.session_state:
        wanted = st.query_params.get("compare", DEFAULT_COMPARE)
        st.session_state["compare"] = wanted if wanted in COMPARE_OPTIONS else DEFAULT_COMPARE
    if not kiosk.active():
        st.segmented_control("Compare with", list(COMPARE_OPTIONS), format_func=COMPARE_OPTIONS.get,
                             key="compare", help="Dashed lines and the KPIs' changes: the period before, or "
                                                 "the same days 52 weeks earlier (same weekdays).")
    chosen = st.session_state.get("compare") or "none"  # a click on the chosen option unselects it
    if chosen == DEFAULT_COMPARE:
        st.query_params.pop("compare", None)
    elif st.query_params.get("compare") != chosen:
        st.query_params["compare"] = chosen
    return None if chosen == "none" else chosen


def _clear_filters() -> None:
    st.session_state["period"] = DEFAULT_PERIOD
    for name in VALUE_FILTERS:
        st.session_state[name] = None


def _with_current(options: list[str], current: str | None) -> list[str]:
    return options + [current] if current and current not in options else options


def navigation_menu(pages: list[Any]) -> None:
    """The sidebar menu: one link per st.Page, with its icon; the current page is highlighted."""
    with st.sidebar:
        for page in pages:
            st.page_link(page, width="stretch")
        st.divider()


def sidebar_filters() -> Filters:
    """Render the sidebar filters (shared by every page), mirror them into the URL, return them."""
    _seed_filters_from_url()
    grant = share.scope(check_share_link)  # None unless the dashboard was opened with a share link
    if grant:
        share.lock(grant, st.session_state, list(PERIODS))
    with st.sidebar:
        st.subheader(":material/filter_list: Filters")
        st.selectbox("Period", share.periods(grant, list(PERIODS)), format_func=PERIODS.get, key="period")
        if st.session_state["period"] == "custom":
            st.date_input("Date range", key="range", max_value=date.today(),
                          help="Whole days of the site's time zone, both ends included")
        elif st.session_state["period"] == "this_week":
            zone.week_start_setting()
        open_filters = [name for name in VALUE_FILTERS if not share.locked(grant, name)]
        unfiltered = replace(_current_filters(), **dict.fromkeys(open_filters))
        _site_selector(filter_options(unfiltered)["site"], locked=share.locked(grant, "site"))
        catalog = filter_options(replace(unfiltered, site=st.session_state.get("site")))
        st.selectbox("Page", _with_current(catalog["page"], st.session_state.get("page")), index=None,
                     key="page", placeholder="All pages, or type a path or a pattern such as /blog/*",
                     disabled=share.locked(grant, "page"), format_func=text.visible, on_change=_page_typed,
                     accept_new_options=True)
        site = st.session_state.get("site") or (catalog["site"][0] if len(catalog["site"]) == 1 else None)
        if not grant and site:
            _page_group_selector(site)
        st.selectbox("Source", _with_current(catalog["source"], st.session_state.get("source")), index=None,
                     key="source", placeholder="All sources", disabled=share.locked(grant, "source"),
                     format_func=text.visible, on_change=clear_campaign, args=(GROUP_COMBINES,))
        st.selectbox("Event type", _with_current(catalog["event_type"], st.session_state.get("event_type")),
                     index=None, key="event_type", placeholder="All event types",
                     disabled=share.locked(grant, "event_type"), format_func=text.visible, on_change=clear_campaign,
                     args=(GROUP_COMBINES,))
        _place_selectors(replace(unfiltered, site=st.session_state.get("site")), catalog["country"])
        if not grant:  # a share link's scope has no campaign
            _campaign_selectors(catalog["channel"])
        st.button("Clear filters", on_click=_clear_filters, icon=":material/filter_alt_off:", width="stretch")
        api_url, _ = api_settings()
        st.caption(f"API: `{api_url}`")
    if grant:
        share.banner(grant)
    filters = _current_filters()
    _write_filters_to_url(filters)
    share.keep_in_url()
    return filters


def url_filters() -> Filters:
    """The filters as the URL sets them, without drawing the sidebar (kiosk screens); a share link's scope holds."""
    _seed_filters_from_url()
    grant = share.scope(check_share_link)
    if grant is not None:
        share.lock(grant, st.session_state, list(PERIODS))
        share.keep_in_url()
    return _current_filters()


def _place_selectors(base: Filters, countries: list[str]) -> None:
    """Country, then its regions, then their cities: each offered once the coarser one is chosen."""
    country, region = st.session_state.get("country"), st.session_state.get("region")
    if not countries and not country:  # An API that names no places (yet): nothing to choose between.
        return
    st.selectbox("Country", _with_current(countries, country), index=None, key="country",
                 placeholder="All countries", format_func=lambda code: text.visible(places.country_name(code)),
                 on_change=_clear_finer, args=("country",))
    if not country:
        return
    within = filter_options(replace(base, country=country))
    if within["region"] or region:
        st.selectbox("Region", _with_current(within["region"], region), index=None, key="region",
                     placeholder="All regions", format_func=lambda code: text.visible(places.region_name(code)),
                     on_change=_clear_finer, args=("region",))
    cities = filter_options(replace(base, country=country, region=region))["city"] if region else within["city"]
    if cities or st.session_state.get("city"):
        st.selectbox("City", _with_current(cities, st.session_state.get("city")), index=None, key="city",
                     placeholder="All cities", format_func=lambda value: text.visible(places.city_name(value)))


def _campaign_selectors(channels: list[str]) -> None:
    """The channel, and a UTM tag filter when one is chosen (from the Sources page's tables) to clear it."""
    st.selectbox("Channel", _with_current(channels, st.session_state.get("channel")), index=None, key="channel",
                 placeholder="All channels", format_func=text.visible, on_change=choose_campaign, args=("channel",),
                 help="A channel or UTM tag filter shows the totals and series of its visits; breakdowns are "
                      "not kept per channel, so it goes alone.")
    for name in CAMPAIGN_FILTERS[1:]:
        if st.session_state.get(name):
            st.selectbox(CAMPAIGN_LABELS[name], [st.session_state[name]], index=None, key=name,
                         format_func=text.visible, placeholder=f"All {CAMPAIGN_LABELS[name]}s",
                         on_change=choose_campaign, args=(name,))


def _page_typed() -> None:
    """The page filter chose or typed a value: a pattern (with *) is a page group's, or one to save as one."""
    clear_campaign()
    typed = st.session_state.get("page")
    st.session_state["_pattern"] = None
    if not typed or "*" not in typed:
        return
    st.session_state["page"] = None  # the API filters pages exactly: a pattern is a page group
    site = st.session_state.get("site") or (filter_options(Filters())["site"] or [None])[0]
    groups = _page_groups(site) if site else []
    match = next((group["name"] for group in groups if group.get("pattern") == typed), None)
    if match:
        _choose_group(site, match)
    else:
        st.session_state["_pattern"] = typed


def _page_groups(site: str) -> list[dict[str, Any]]:
    try:
        return site_definitions(site).page_groups
    except ApiError:
        return []  # no key, or the API is down: the page shows the error itself


def _page_group_selector(site: str) -> None:
    """The site's page groups as a filter, and a typed pattern that is no group yet, offered to save as one."""
    pattern = st.session_state.get("_pattern")
    if pattern:
        st.caption(f"{text.plain(pattern)} is a pattern: save it as a page group to filter by it "
                   "(it counts from a minute after it is saved).")
        st.text_input("Page group name", key="_pattern_name", placeholder="e.g. Products")
        st.button("Save as a page group", on_click=_save_pattern, args=(site, pattern), icon=":material/save:",
                  width="stretch")
        if st.session_state.get("_pattern_error"):
            st.error(st.session_state["_pattern_error"])
    names = [group["name"] for group in _page_groups(site)]
    if names or st.session_state.get("page_group"):
        st.selectbox("Page group", _with_current(names, st.session_state.get("page_group")), index=None,
                     key="page_group", placeholder="All page groups", format_func=text.visible,
                     on_change=_choose_group, args=(site,))


def _choose_group(site: str, name: str | None = None) -> None:
    """A page group chosen: the API answers it for its site (set, so the request names it), alone or with a
    source and an event type (GROUP_COMBINES), which it keeps."""
    kept = {other: st.session_state.get(other) for other in GROUP_COMBINES}
    choose_campaign("page_group", name)
    if st.session_state.get("page_group"):
        st.session_state.update(site=site, **kept)


def _save_pattern(site: str, pattern: str) -> None:
    name = (st.session_state.get("_pattern_name") or "").strip()
    try:
        client().put_definition("page_groups", name, {"pattern": pattern}, site)
    except ApiError as exc:  # the API names what is wrong (a name, the pattern)
        st.session_state["_pattern_error"] = exc.message
        return
    fetch_definitions.clear()
    st.session_state.update(_pattern=None, _pattern_name="", _pattern_error=None)
    _choose_group(site, name)


def choose_campaign(name: str, value: str | None = None) -> None:
    """A filter the API answers alone (a channel, a UTM tag, a page group: `value`, or the widget's): every
    other filter but the site is cleared; a widget callback, like choose_page."""
    if value is not None:
        st.session_state[name] = value
    if st.session_state.get(name):
        for other in VALUE_FILTERS:
            if other not in ("site", name):
                st.session_state[other] = None


def clear_campaign(chosen: tuple[str, ...] = ()) -> None:
    """Another filter chosen: a campaign or page group filter, which goes alone, is cleared — a page group
    is kept when the filter chosen is one it combines with (`chosen`: GROUP_COMBINES)."""
    for name in ALONE_FILTERS:
        if not (name == "page_group" and chosen == GROUP_COMBINES):
            st.session_state[name] = None


def _clear_finer(name: str) -> None:
    """A new country (or region) drops the region and city (or city) chosen within the old one, and a
    campaign filter (which goes alone)."""
    for finer in PLACE_FILTERS[PLACE_FILTERS.index(name) + 1:]:
        st.session_state[finer] = None
    clear_campaign()


def _site_selector(sites: list[str], locked: bool = False) -> None:
    """The site filter, "All sites" first; hidden while there is nothing to choose between."""
    current = st.session_state.get("site")
    if len(sites) < 2 and not current:
        return
    # Streamlit shows a None value as no choice at all, so the placeholder names it too.
    st.selectbox("Site", [None, *_with_current(sites, current)], format_func=lambda site: site or ALL_SITES,
                 key="site", placeholder=ALL_SITES, disabled=locked)


def _ensure_router() -> None:
    """Rerun through dashboard.py if Streamlit ran a page file on its own.

    A `pages/` folder next to the entry file makes a fresh server use Streamlit's legacy
    folder routing until the first st.navigation call; a first request for /realtime would
    then run only pages/realtime.py, without the menu and filters. The flag is process-wide,
    so this happens at most once per server.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def current_filters() -> Filters:
    """The filters the sidebar set on this run (every page starts here)."""
    _ensure_router()
    return _current_filters()


def choose_page(page: str | None) -> None:
    """Set the page filter; as a widget callback it applies to the run it triggers."""
    st.session_state["page"] = page


def choose_place(name: str, value: str | None) -> None:
    """Set the country, region or city filter (clearing the finer ones); a widget callback, like choose_page."""
    st.session_state[name] = value
    _clear_finer(name)


# --- cached API calls ----------------------------------------------------------------


@st.cache_data(ttl=STATS_TTL_SECONDS, show_spinner=False)
def fetch_stats(api_url: str, api_key: str | None, **params: Any) -> Stats:
    """Client.stats, cached briefly per URL, key and parameters."""
    return _client(api_url, api_key).stats(**params)


@st.cache_data(ttl=REALTIME_TTL_SECONDS, show_spinner=False)
def fetch_realtime(api_url: str, api_key: str | None, **params: Any) -> Realtime:
    """Client.realtime, cached for less than the fastest refresh."""
    return _client(api_url, api_key).realtime(**params)


def check_share_link(token: str) -> Stats:
    """The API's smallest answer to a share link alone: what the dashboard learns the link's verified scope from."""
    return fetch_stats(api_settings()[0], None, limit=1, share=token)


def filter_options(filters: Filters) -> dict[str, list[str]]:
    """Sites, pages, sources and event types seen in the period, for the sidebar's choices."""
    try:
        stats = fetch_stats(*api_settings(), limit=FILTER_OPTIONS_LIMIT, **filters.stats_args(),
                            **share.request_args())
    except ApiError:  # The page itself shows the error panel.
        return {name: [] for name in VALUE_FILTERS}
    return {
        "site": stats.sites,
        "page": stats.pages["page"].dropna().astype(str).tolist(),
        "source": stats.sources["source"].dropna().astype(str).tolist(),
        "event_type": stats.event_types["event_type"].dropna().astype(str).tolist(),
        "country": stats.countries["country"].dropna().astype(str).tolist(),
        "region": stats.regions["region"].dropna().astype(str).tolist(),
        "city": stats.cities["city"].dropna().astype(str).tolist(),
        "channel": stats.channels["channel"].dropna().astype(str).tolist() if "channel" in stats.channels else [],
    }


def load_stats(filters: Filters, explain: bool = True, **overrides: Any) -> Stats:
    """Stats for the filters (overrides win); on an API error, show the panel and stop the page. `explain`:
    say so when the answer has no breakdowns (a year by a filtered value; the page's main answer)."""
    try:
        args = {**filters.stats_args(), **overrides}
        if args.get("period") == "this_week" and zone.week_start() != zone.DEFAULT_WEEK_START:
            args["week_start"] = zone.week_start()
        stats = fetch_stats(*api_settings(), **args, **share.request_args())
    except ApiError as exc:
        error_panel(exc)
        st.stop()
    zone.remember(stats.zone)
    if stats.breakdowns_omitted and explain:
        months_notice(filters)
    return stats


def months_notice(filters: Filters) -> None:
    """A year filtered by a page, source, event type or country is answered from month items, which keep
    the value's totals only: say why its tables are empty and offer a range read day by day."""
    chosen = next((f"{label} {text.plain(value)}" for label, value in (
        ("page", filters.page), ("source", filters.source), ("event type", filters.event_type),
        ("country", filters.country and places.describe("country", filters.country))) if value), "this filter")
    st.info(f"{PERIODS.get(filters.period, 'This range')} by {chosen}: counted month by month, with its totals "
            "and trend only — its pages, sources, devices and places are kept day by day, for ranges up to a "
            "month.", icon=":material/calendar_month:")
    st.button("Show the last 30 days", on_click=st.session_state.update, kwargs={"period": "30d"},
              icon=":material/date_range:")


def load_series(filters: Filters, dimension: str, values: list[str]) -> dict[str, pd.DataFrame]:
    """One time series per value of `dimension` (e.g. per event type), each fetched with that filter."""
    return {value: load_stats(filters, False, **{dimension: value}, limit=1).timeseries for value in values}


def load_realtime(filters: Filters, window: int = 30) -> Realtime:
    """Realtime data for the filters' site and page; on an API error, show the panel and stop."""
    try:
        now = fetch_realtime(*api_settings(), page=filters.page, site=filters.site, window=window,
                             **share.request_args())
    except ApiError as exc:
        error_panel(exc)
        st.stop()
    zone.remember(now.zone)
    return now


# --- panels -------------------------------------------------------------------------


def error_panel(exc: ApiError) -> None:
    """Explain an API failure and the setting that fixes it — never a traceback."""
    api_url, api_key = api_settings()
    where = "environment variable or `.streamlit/secrets.toml`"
    if isinstance(exc, ApiUnreachable):
        st.error(f"**API unreachable.** {text.plain(exc.message)}", icon=":material/cloud_off:")
        st.markdown(f"Set `{ENV_API_URL}` ({where}); it is now `{api_url}`.")
    elif isinstance(exc, ApiShareError):
        st.error(f"**This share link does not open this view.** {text.plain(exc.message)}", icon=":material/link_off:")
    elif isinstance(exc, ApiAuthError):
        title = "The API key was rejected." if api_key else "The API needs an API key."
        st.error(f"**{title}** {text.plain(exc.message)}", icon=":material/key_off:")
        st.markdown(f"Set `{ENV_API_KEY}` ({where}) to the key the API was started with.")
    elif isinstance(exc, ApiRequestError):
        st.warning(f"**The API refused this request:** {text.plain(exc.message)}", icon=":material/report:")
    else:
        st.error(f"**The API failed.** {text.plain(exc.message)}", icon=":material/error:")


@st.cache_data(ttl=STATS_TTL_SECONDS, show_spinner=False)
def fetch_definitions(api_url: str, api_key: str | None, site: str) -> Definitions:
    """Client.definitions, cached briefly per URL, key and site (cleared by whoever changes one)."""
    return _client(api_url, api_key).definitions(site)


def site_definitions(site: str) -> Definitions:
    """The site's page groups, goals and funnels (needs the key: a share link has none)."""
    return fetch_definitions(*api_settings(), site)


def one_site(filters: Filters, sites: list[str], what: str) -> str:
    """The site a page of one site's definitions (`what`: goals, funnels) shows: the one chosen, or the only
    one of `sites` (those with data); otherwise the page says why it shows nothing and stops."""
    if filters.site:
        return filters.site
    if len(sites) == 1:
        return sites[0]
    if not sites:
        empty_state()
    else:
        st.info(f"{what.capitalize()} are a site's: choose a site in the sidebar.", icon=":material/language:")
    st.stop()


def campaign_notice(filters: Filters) -> None:
    """With a channel or UTM tag filter, a page of breakdowns says why it has none and stops: the API keeps
    a campaign's totals and series, not its pages, devices or places."""
    if filters.campaign is None:
        return
    name, value = filters.campaign
    st.info(f"{CAMPAIGN_LABELS[name]} {text.plain(value)}: breakdowns are not kept per channel or UTM tag, so "
            "this page has nothing to show for it. The Overview and Sources pages show its visitors, visits and "
            "bounce rate over time.", icon=":material/filter_alt:")
    st.button(f"Clear the {CAMPAIGN_LABELS[name].replace('Channel', 'channel')} filter", on_click=clear_campaign,
              icon=":material/close:")
    st.stop()


def empty_state(message: str = EMPTY_RANGE_MESSAGE) -> None:
    """The explicit "nothing here" panel."""
    st.info(message, icon=":material/hourglass_empty:")


# Narrow enough that a three-column row of tables (Devices) fits without scrolling sideways.
SHARE_COLUMN_PIXELS = 100


def _count(label: str) -> Any:
    return st.column_config.NumberColumn(label, format="localized")


# How every API column reads in a table; the CSV keeps the API's names.
COLUMN_CONFIG: dict[str, Any] = {
    "page": st.column_config.TextColumn("Page", width="medium"),  # Paths are long; keep them readable.
    "source": "Source",
    "referrer": "Referrer",
    "campaign": "Campaign",
    "name": "Name",
    "event_type": "Event type",
    "value": "Value",
    "channel": "Channel",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_term": "utm_term",
    "utm_content": "utm_content",
    "country_name": "Country",
    "region_name": "Region",
    "city_name": "City",
    "ago": "When",
    "visitors": _count("Visitors"),
    "sessions": _count("Sessions"),
    "active_sessions": _count("Active now"),
    "bounce_rate": st.column_config.NumberColumn("Bounce rate", format="percent"),
    "page_views": _count("Page views"),
    "time_on_page": st.column_config.NumberColumn("Time on page", format="%.0f s",
                                                  help="Mean engaged seconds of the page views that reported it"),
    "scroll_depth": st.column_config.NumberColumn("Scroll depth", format="%.0f%%", help="Mean deepest scroll"),
    "events": _count("Events"),
    "count": _count("Events"),
    "share": st.column_config.ProgressColumn("Share", format="percent", min_value=0.0, max_value=1.0,
                                             width=SHARE_COLUMN_PIXELS),
    "page_group": "Page group",
    "goal": "Goal",
    "conversions": _count("Conversions"),
    "visits": _count("Visits"),
    "conversion_rate": st.column_config.NumberColumn("Conversion rate", format="percent"),
    "conversion_from_previous": st.column_config.NumberColumn("From the step before", format="percent"),
    "conversion_from_start": st.column_config.NumberColumn("From the first step", format="percent"),
    "drop_off": _count("Dropped off"),
    "step": "Step",
    "currency": "Currency",
    "total": st.column_config.NumberColumn("Revenue", format="localized"),
    "average": st.column_config.NumberColumn("Per conversion", format="%.2f"),
    "revenue": st.column_config.NumberColumn("Revenue", format="localized"),
    "counting": "Counts",
    "t": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm"),
    "minute": st.column_config.DatetimeColumn("Minute (UTC)", format="HH:mm"),
    "timestamp": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
}
# Time columns, titled by the zone their times are in (the site's): (noun, format).
TIME_COLUMNS = {"t": ("Time", "YYYY-MM-DD HH:mm"), "minute": ("Minute", "HH:mm"),
                "timestamp": ("Time", "YYYY-MM-DD HH:mm:ss")}


def table(frame: pd.DataFrame, file_name: str, key: str | None = None, **kwargs: Any) -> Any:
    """A dataframe labelled by COLUMN_CONFIG, with an explicit CSV download button under it.

    On a kiosk screen: the first kiosk.TABLE_ROWS rows as a plain table in large type, no download.
    """
    frame = frames.counted(frame)  # A breakdown the API counts no visitors for has no Visitors column.
    config = {column: COLUMN_CONFIG[column] for column in frame.columns if column in COLUMN_CONFIG}
    for column, (noun, shown_as) in TIME_COLUMNS.items():  # the times are in the site's zone: say which
        if column in config:
            config[column] = st.column_config.DatetimeColumn(zone.time_title(frame[column], noun), format=shown_as)
    if kiosk.active():  # Across a room: a short plain table in large type, nothing to download.
        labels = {column: spec if isinstance(spec, str) else spec["label"] for column, spec in config.items()}
        # st.table parses Markdown in its cells: collected text goes in as text.
        return st.table(frames.as_text(frame, labels, kiosk.TABLE_ROWS).map(text.plain), hide_index=True)
    shown = st.dataframe(text.visible_frame(frame), hide_index=True, column_config=config, key=key, **kwargs)
    st.download_button("Download CSV", text.csv_bytes(frame), file_name=file_name, mime="text/csv",
                       icon=":material/download:", key=f"download-{file_name}", type="tertiary",
                       on_click="ignore")
    return shown


# Seven tiles in one row leave a 1400-pixel window ~110 pixels each: "44.2%" and "1m 22s" cut off.
KPI_TILES_PER_ROW = 4


def kpi_tiles(tiles: list[frames.Kpi]) -> None:
    """The KPI tiles, KPI_TILES_PER_ROW to a row (all in one row across a kiosk screen's width)."""
    per_row = len(tiles) if kiosk.active() else KPI_TILES_PER_ROW
    for first in range(0, len(tiles), per_row):
        for column, kpi in zip(st.columns(per_row), tiles[first:first + per_row]):
            column.metric(kpi.label, kpi.value, kpi.delta, delta_color=kpi.delta_color, help=kpi.help, border=True)


def chart(figure: go.Figure, **kwargs: Any) -> Any:
    """st.plotly_chart, in large type on a kiosk screen."""
    return st.plotly_chart(kiosk.styled(figure) if kiosk.active() else figure, **kwargs)


def map_chart(figure: go.Figure, **kwargs: Any) -> Any:
    """A map, its shapes served by the dashboard itself (TOPOJSON_URL), never fetched from plotly's CDN."""
    return chart(figure, config={"topojsonURL": TOPOJSON_URL}, **kwargs)


def place_chooser(shown: pd.DataFrame, values: pd.Series, name: str, file_name: str) -> Any:
    """A table of places whose selected row becomes the `name` filter (country, region or city): `values[row]`."""
    key = f"{name}_chooser"

    def choose() -> None:
        rows = st.session_state[key].selection.rows
        if rows:
            choose_place(name, str(values.iloc[rows[0]]))

    return table(shown, file_name, key=key, on_select=choose, selection_mode="single-row")


def campaign_chooser(rows: pd.DataFrame, name: str, file_name: str) -> Any:
    """A table of channels (or a UTM tag's values, column `name`) whose selected row becomes that filter."""
    key = f"{name}_chooser"

    def choose() -> None:
        chosen = st.session_state[key].selection.rows
        if chosen:
            choose_campaign(name, str(rows[name].iloc[chosen[0]]))

    return table(rows, file_name, key=key, on_select=choose, selection_mode="single-row")


def page_chooser(pages: pd.DataFrame, file_name: str) -> Any:
    """A table of pages whose selected row becomes the page filter."""
    key = "page_chooser"

    def choose() -> None:
        rows = st.session_state[key].selection.rows
        if rows:
            choose_page(str(pages["page"].iloc[rows[0]]))

    return table(pages, file_name, key=key, on_select=choose, selection_mode="single-row")


def page_header(title: str, filters: Filters | None = None, note: str | None = None) -> None:
    """The page's title and, under it, what it is filtered to (and an optional note)."""
    st.title(title)
    if filters is not None:
        st.caption(" · ".join(part for part in (text.plain(filters.description), note) if part))

