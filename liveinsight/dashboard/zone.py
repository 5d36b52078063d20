"""The site's calendar in the dashboard: times in its zone with their abbreviation, the week's first day,
and the zone setting (`zone_setting`, for a Settings page).

The API answers in the site's zone (`Stats.zone`, `Realtime.zone`; their times are already in it), so
the dashboard only labels: "Nov 30, 14:05 EST", an axis "Time (EST)", "Updated 14:05:09 EST"; all sites
together are UTC and say so. Where a week starts is the
viewer's locale, a setting kept in the URL (`week`) like the filters.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import pandas as pd

from liveinsight.config import WEEK_STARTS
from liveinsight.dashboard import text

# Streamlit is imported inside the widgets only: the labels serve plain chart factories too.

DEFAULT_WEEK_START = "monday"
WEEK_START_LABELS = {"monday": "Monday", "sunday": "Sunday", "saturday": "Saturday"}
WEEK_PARAM = "week"  # the URL's name for the setting
TIME_FORMAT = "%b %d, %H:%M"  # Nov 30, 14:05
CLOCK_FORMAT = "%H:%M:%S"  # 14:05:09, a live screen's "updated" time
SHOWN_KEY = "_shown_zone"  # session state: the zone of the answers this run shows
DAY_FORMAT = "%b %d, %Y"
MONTH_FORMAT = "%b %Y"


def abbreviation(moment: datetime | pd.Timestamp | None) -> str:
    """The zone abbreviation of a timezone-aware time ("EST", "CEST", "+0545"); "UTC" for a naive one."""
    if moment is None or getattr(moment, "tzinfo", None) is None:
        return "UTC"
    return moment.tzname() or "UTC"


def label(moment: datetime | pd.Timestamp, interval: str | None = "hour") -> str:
    """A bucket's start as people read it: "Nov 30, 14:05 EST", "Nov 30, 2026" (days), "Nov 2026" (months)."""
    if interval == "month":
        return moment.strftime(MONTH_FORMAT)
    if interval == "day":
        return moment.strftime(DAY_FORMAT)
    return f"{moment.strftime(TIME_FORMAT)} {abbreviation(moment)}"


def clock_label(moment: datetime | pd.Timestamp) -> str:
    """A time of day to the second with its zone's abbreviation: "14:05:09 EST"."""
    return f"{moment.strftime(CLOCK_FORMAT)} {abbreviation(moment)}"


def now_in(name: str, now: float) -> datetime:
    """The epoch `now` on the clock of the zone `name` (UTC for a name this Python cannot open)."""
    try:
        return datetime.fromtimestamp(now, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        return datetime.fromtimestamp(now, ZoneInfo("UTC"))


def times_in(answer_zone: Any, site: str | None) -> str:
    """Which clock a page's times are on: "Times in America/New_York (EST)"; all sites together: UTC."""
    if not site:
        return "Times in UTC (all sites together)"
    if answer_zone.name == "UTC":
        return f"Times in UTC (the time zone of {text.plain(site)})"
    return f"Times in {answer_zone.name} ({answer_zone.abbreviation})"


def remember(answer_zone: Any) -> None:
    """Note the zone of an answer this run shows (a kiosk screen's corner label names it)."""
    import streamlit as st

    st.session_state[SHOWN_KEY] = answer_zone.name


def shown(default: str = "UTC") -> str:
    """The zone name of the answers this run showed (`remember`), else `default`."""
    import streamlit as st

    return st.session_state.get(SHOWN_KEY, default)


def forget() -> None:
    """Start a run with no answer's zone noted."""
    import streamlit as st

    st.session_state.pop(SHOWN_KEY, None)


def current_abbreviation(times: pd.Series | None) -> str:
    """The abbreviation of the zone of `times` now ("EST" in winter, also for a series of summer months)."""
    if times is None or not isinstance(times.dtype, pd.DatetimeTZDtype):
        return "UTC"
    return pd.Timestamp.now(tz=times.dt.tz).tzname() or "UTC"


def time_title(times: pd.Series | None, noun: str = "Time") -> str:
    """An axis or column title naming the zone of `times` as it is now: "Time (EST)"."""
    return f"{noun} ({current_abbreviation(times)})"


def hover_format(times: pd.Series) -> str:
    """A plotly hover format for a series' times: "%b %d, %Y" for whole days, else "%b %d, %H:%M EST"."""
    known = times.dropna() if times is not None else pd.Series(dtype=object)
    if known.empty or not isinstance(known.dtype, pd.DatetimeTZDtype):
        return "%b %d, %H:%M"
    if ((known.dt.hour == 0) & (known.dt.minute == 0)).all() and len(known) > 1:
        return "%b %d, %Y"
    return f"%b %d, %H:%M {current_abbreviation(known)}"


def week_start() -> str:
    """The week's first day, a viewer's setting: the URL's `week`, else Monday (the API's `week_start`)."""
    import streamlit as st

    if "week_start" not in st.session_state:
        wanted = st.query_params.get(WEEK_PARAM, DEFAULT_WEEK_START)
        st.session_state["week_start"] = wanted if wanted in WEEK_STARTS else DEFAULT_WEEK_START
    return st.session_state["week_start"]


def week_start_setting() -> str:
    """A select box for the week's first day, kept in the URL when it is not Monday; returns the choice."""
    import streamlit as st

    week_start()
    st.selectbox("Weeks start on", list(WEEK_STARTS), format_func=WEEK_START_LABELS.get, key="week_start",
                 help="Where \"This week\" starts (your locale's first day of the week)")
    chosen = st.session_state["week_start"]
    if chosen == DEFAULT_WEEK_START:
        st.query_params.pop(WEEK_PARAM, None)
    elif st.query_params.get(WEEK_PARAM) != chosen:
        st.query_params[WEEK_PARAM] = chosen
    return chosen


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    """Every IANA zone name tzdata knows, UTC first."""
    return ["UTC", *sorted(name for name in available_timezones() if "/" in name and not name.startswith("Etc/"))]


def zone_setting(client, site: str | None, current: str | None = None) -> None:
    """The site's time zone as a setting: a searchable list and Save (PUT /api/sites/{site}/zone, the key's).

    For a Settings page: `client` is ui.client(), `site` the chosen site (all sites together stay UTC),
    `current` the zone the site's answers are in (Stats.zone.name).
    """
    import streamlit as st

    if not site:
        st.info("All sites together are counted in UTC. Choose a site to set its time zone.")
        return
    names = zone_names()
    current = current if current in names else "UTC"
    with st.form(f"zone-{site}", border=False):
        st.selectbox(f"Time zone of {text.visible(site)}", names, index=names.index(current), key=f"zone-{site}-name",
                     help="Its days, hours and months follow this zone from now on; days already counted keep "
                          "their totals.")
        saved = st.form_submit_button("Save time zone", icon=":material/schedule:")
    if saved:
        from liveinsight.dashboard.client import ApiError

        try:
            zone = client.set_zone(site, st.session_state[f"zone-{site}-name"])
        except ApiError as exc:
            st.error(text.visible(str(exc)))
        else:
            st.cache_data.clear()
            st.success(f"{text.visible(site)} now counts days in {zone.name} ({zone.abbreviation}, UTC{zone.utc_offset}).")
