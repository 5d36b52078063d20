"""Reshaping the client's tables for the dashboard: KPI tiles, shares, long-form series.

Plain pandas, no Streamlit, so every function here is testable without a browser.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from liveinsight.dashboard import places
from liveinsight.dashboard.client import Totals

CUSTOM_EVENT_EXCLUDES = ("page_view",)
# What the Visitors tile's help says: how a daily-rotated visitor id counts (Plausible says the same).
VISITORS_HELP = ("People, counted once per day: nothing is stored on their device, so the id the server derives "
                 "changes every day. A range of several days adds up each day's visitors, so someone who comes "
                 "back on another day counts again.")
VISITORS_NOT_COUNTED_HELP = "The API does not count visitors for this combination of filters."
NOT_COUNTED = "—"
PLACE_METRICS = ["visitors", "sessions", "page_views", "bounce_rate"]


@dataclass(frozen=True)
class Kpi:
    """One KPI tile: what st.metric shows."""

    key: str
    label: str
    value: str
    delta: str | None
    # "inverse" where a rise is bad news (bounce rate).
    delta_color: str = "normal"
    help: str | None = None


def format_count(value: float) -> str:
    """1234567 → "1,234,567"."""
    return f"{int(round(value)):,}"


def format_duration(seconds: float) -> str:
    """Seconds as "45s", "2m 05s" or "1h 02m"."""
    total = int(round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_percent(fraction: float) -> str:
    """0.4213 → "42.1%"."""
    return f"{fraction * 100:.1f}%"


def percent_change(current: float, previous: float) -> str | None:
    """Relative change as "+12.5%"; None when there is nothing to compare with."""
    if previous == 0:
        return None
    return f"{(current - previous) / previous * 100:+.1f}%"


TIME_ON_PAGE_HELP = ("Mean engaged seconds of the page views that reported it. A page, event type, page group or goal "
                     "filter shows it instead of visit duration, as Plausible does: a visit's duration and exit page "
                     "are counted for the whole site, a source and a country only.")


def kpis(totals: Totals, previous: Totals | None = None) -> list[Kpi]:
    """The seven Overview tiles, visitors first, each with its change against the previous period."""

    def change(name: str) -> str | None:
        if previous is None or getattr(totals, name) is None or getattr(previous, name) is None:
            return None
        return percent_change(getattr(totals, name), getattr(previous, name))

    bounce_delta = None
    if previous is not None and previous.sessions:
        bounce_delta = f"{(totals.bounce_rate - previous.bounce_rate) * 100:+.1f} pp"
    return [
        Kpi("visitors", "Visitors", NOT_COUNTED if totals.visitors is None else format_count(totals.visitors),
            change("visitors"), help=VISITORS_HELP if totals.visitors is not None else VISITORS_NOT_COUNTED_HELP),
        Kpi("sessions", "Sessions", format_count(totals.sessions), change("sessions"),
            help="Visits; a session ends after 30 minutes without events."),
        Kpi("page_views", "Page views", format_count(totals.page_views), change("page_views")),
        Kpi("events", "Events", format_count(totals.events), change("events"),
            help="Page views plus custom events."),
        Kpi("bounce_rate", "Bounce rate", format_percent(totals.bounce_rate), bounce_delta, "inverse",
            help="Sessions with one page view and no other event. Change in percentage points."),
        Kpi("avg_session_duration", "Avg. duration", format_duration(totals.avg_session_duration),
            change("avg_session_duration"), help="Average session duration: last event minus first event.")
        if totals.avg_session_duration is not None else
        Kpi("time_on_page", "Time on page", "–" if totals.time_on_page is None else format_duration(totals.time_on_page),
            change("time_on_page"), help=TIME_ON_PAGE_HELP),
        Kpi("views_per_session", "Views per session", f"{totals.views_per_session:.2f}",
            change("views_per_session")),
    ]


def with_share(frame: pd.DataFrame, value: str, name: str = "share") -> pd.DataFrame:
    """`frame` plus a column with each row's fraction of the `value` total."""
    total = frame[value].sum()
    return frame.assign(**{name: frame[value] / total if total else 0.0})


def top_with_other(frame: pd.DataFrame, label: str, value: str, n: int = 6) -> pd.DataFrame:
    """The `n` largest rows by `value`, the rest summed into one "Other" row (for pie charts)."""
    ordered = frame.sort_values(value, ascending=False)
    if len(ordered) <= n:
        return ordered[[label, value]].reset_index(drop=True)
    head = ordered.head(n)[[label, value]]
    other = pd.DataFrame({label: ["Other"], value: [ordered[value].iloc[n:].sum()]})
    return pd.concat([head, other], ignore_index=True)


def custom_events(event_types: pd.DataFrame) -> pd.DataFrame:
    """Event types other than page views, largest first."""
    custom = event_types[~event_types["event_type"].isin(CUSTOM_EVENT_EXCLUDES)]
    return custom.sort_values("count", ascending=False).reset_index(drop=True)


def stack_series(series: dict[str, pd.DataFrame], dimension: str, metric: str) -> pd.DataFrame:
    """Per-value time series {value: timeseries} as one long frame with columns t, `dimension`, `metric`."""
    parts = [frame[["t", metric]].assign(**{dimension: value}) for value, frame in series.items()]
    if not parts:
        return pd.DataFrame({"t": pd.Series(dtype="datetime64[us, UTC]"), dimension: [], metric: []})
    return pd.concat(parts, ignore_index=True)[["t", dimension, metric]]


# What the Overview compares with: `compare` values and how their legend entries and KPI help name them.
COMPARE_LABELS = {"previous": "previous period", "year": "a year earlier"}


def comparison_series(previous: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """The comparison range's series, long: one row per bucket and metric (t, t_previous, metric, value).

    `t` is the current bucket the row is drawn against, `t_previous` the comparison bucket's own start
    (what a hover shows); a metric the API does not count there (visitors: all null) is left out.
    """
    columns = ["t", "t_previous", "metric", "value"]
    kept = [m for m in metrics if m in previous.columns and previous[m].notna().any()]
    if previous.empty or not kept:
        return pd.DataFrame(columns=columns)
    long = previous.melt(id_vars=["t", "t_previous"], value_vars=kept, var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype("float64")
    return long[columns].reset_index(drop=True)


def has_traffic(timeseries: pd.DataFrame) -> bool:
    """Whether a series has any event at all (an all-zero series is an empty state, not a chart)."""
    return bool(len(timeseries)) and bool(timeseries["events"].sum())


def recent_feed(recent_events: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """The newest events first, with how long ago each happened in seconds."""
    now = now or datetime.now(timezone.utc)
    feed = recent_events.sort_values("timestamp", ascending=False).reset_index(drop=True)
    seconds = (pd.Timestamp(now) - feed["timestamp"]).dt.total_seconds().clip(lower=0)
    return feed.assign(ago=seconds.map(lambda s: f"{format_duration(s)} ago"))[
        ["ago", "event_type", "page", "source", "timestamp"]
    ]


def as_text(frame: pd.DataFrame, labels: dict[str, str], rows: int) -> pd.DataFrame:
    """The first `rows` rows as display text under `labels`: counts with separators, shares in percent, times on
    their own clock (the site's zone, as the column title says)."""
    shown = frame.head(rows).copy()
    for column in shown.columns:
        values = shown[column]
        if column in ("share", "bounce_rate"):
            shown[column] = values.map(format_percent)
        elif pd.api.types.is_datetime64_any_dtype(values):
            shown[column] = values.dt.strftime("%H:%M:%S" if column == "timestamp" else "%d %b %H:%M")
        elif pd.api.types.is_numeric_dtype(values):
            shown[column] = values.map(lambda value: NOT_COUNTED if pd.isna(value) else format_count(value))
    return shown.rename(columns=labels)


def countries(frame: pd.DataFrame) -> pd.DataFrame:
    """The countries breakdown for a table: each country's name ("United States") and counts."""
    named = frame.assign(country_name=frame["country"].map(places.country_name))
    return named[["country_name", *PLACE_METRICS]].reset_index(drop=True)


def counted(frame: pd.DataFrame, metrics: tuple[str, ...] = ("visitors",)) -> pd.DataFrame:
    """`frame` without those of `metrics` the API left out of every row (unknown is not zero)."""
    gone = [m for m in metrics if m in frame.columns and len(frame) and frame[m].isna().all()]
    return frame.drop(columns=gone)


def map_metric(frame: pd.DataFrame) -> str:
    """What the map shades by: visitors, or visits where the API does not count visitors (a place filter's rows)."""
    return "visitors" if len(frame) and frame["visitors"].notna().any() else "sessions"


def world_map(frame: pd.DataFrame) -> pd.DataFrame:
    """The countries the map can shade: alpha-3 code (`iso3`), name and counts ("Unknown" left out)."""
    shaded = frame.assign(iso3=frame["country"].map(places.country_iso3),
                          name=frame["country"].map(places.country_name))
    return shaded[shaded["iso3"].notna()][["iso3", "name", "country", *PLACE_METRICS]].reset_index(drop=True)


def regions(frame: pd.DataFrame) -> pd.DataFrame:
    """The regions breakdown for a table: the region's name ("Washington"), its country's, counts."""
    named = frame.assign(region_name=frame["region"].map(places.region_name),
                         country_name=frame["country"].map(places.country_name))
    return named[["region_name", "country_name", *PLACE_METRICS]].reset_index(drop=True)


def cities(frame: pd.DataFrame) -> pd.DataFrame:
    """The cities breakdown for a table: the city's name, its region's and country's, counts."""
    named = frame.assign(
        city_name=frame["name"],
        region_name=frame["region"].map(lambda code: places.region_name(code) if isinstance(code, str) and code
                                        else ""),
        country_name=frame["country"].map(places.country_name))
    return named[["city_name", "region_name", "country_name", *PLACE_METRICS]].reset_index(drop=True)


def active_countries(frame: pd.DataFrame) -> pd.DataFrame:
    """Realtime's active sessions by country, named, most first."""
    named = frame.assign(country_name=frame["country"].map(places.country_name))
    return named.sort_values("active_sessions", ascending=False, kind="stable")[
        ["country_name", "active_sessions"]].reset_index(drop=True)
