"""Plotly figure factories for the dashboard: one function per kind of chart.

Every metric keeps its colour on every page (PALETTE); axes say what they count and in
which time zone; hovers show exact, thousands-separated numbers. Plotly draws a subset of HTML
in titles, labels, legends and hovers: every collected label and every title goes in through
text.chart_text, so a page path shows as written.
"""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from liveinsight.dashboard import text
from liveinsight.dashboard.zone import hover_format, time_title

PALETTE = {
    "visitors": "#E64980",
    "sessions": "#4C6EF5",
    "page_views": "#12B886",
    "events": "#F59F00",
    "count": "#F59F00",
    "bounce_rate": "#FA5252",
    "avg_session_duration": "#7950F2",
    "views_per_session": "#15AABF",
}
METRIC_LABELS = {
    "visitors": "Visitors",
    "sessions": "Sessions",
    "page_views": "Page views",
    "events": "Events",
    "count": "Events",
    "conversion_rate": "Conversion rate",
}
RATES = ("conversion_rate", "bounce_rate")  # fractions, drawn as percentages
# For series split by a dimension value (event types, sources, browsers…).
CATEGORY_COLOURS = ["#4C6EF5", "#12B886", "#F59F00", "#FA5252", "#7950F2", "#15AABF", "#E64980", "#82C91E", "#868E96"]
CHART_HEIGHT = 340
MAP_HEIGHT = 460
# Light to the visitors colour: no visitors reads as the land around it.
MAP_SCALE = ["#FFF0F6", "#FCC2D7", "#F06595", "#C2255C", "#862E9C"]
LAND_COLOUR = "#F1F3F5"


def _finish(figure: go.Figure, height: int = CHART_HEIGHT) -> go.Figure:
    if figure.layout.title.text:  # Titles name filter values ("/pricing over time").
        figure.update_layout(title_text=text.chart_text(figure.layout.title.text))
    figure.update_layout(
        height=height,
        margin=dict(l=8, r=8, t=36, b=8),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="center", x=0.5, title_text=""),
        hovermode="x unified",
    )
    return figure


def traffic_over_time(timeseries: pd.DataFrame,
                      metrics: tuple[str, ...] = ("visitors", "sessions", "page_views", "events"),
                      title: str = "Traffic over time", comparison: pd.DataFrame | None = None,
                      comparison_label: str = "previous period") -> go.Figure:
    """One line per metric over the period's buckets (visitors only where the API counts them).

    `comparison` (frames.comparison_series): the compared range, a dashed line per metric in the same
    colour, named "Sessions (previous period)", its hover giving the compared bucket's own date.
    """
    metrics = tuple(m for m in metrics if m != "visitors" or timeseries[m].notna().any())
    long = timeseries.melt(id_vars="t", value_vars=list(metrics), var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype("float64")
    long["metric"] = long["metric"].map(METRIC_LABELS)
    figure = px.line(
        long, x="t", y="value", color="metric", title=title, markers=len(timeseries) <= 48,
        color_discrete_map={METRIC_LABELS[m]: PALETTE[m] for m in metrics},
        labels={"t": time_title(timeseries["t"]), "value": "Count", "metric": ""},
    )
    figure.update_traces(hovertemplate="%{y:,}")
    figure.update_xaxes(hoverformat=hover_format(timeseries["t"]))
    if comparison is not None and not comparison.empty:
        for metric in metrics:
            rows = comparison[comparison["metric"] == metric]
            if rows.empty:
                continue
            figure.add_scatter(
                x=rows["t"], y=rows["value"], customdata=rows["t_previous"], mode="lines",
                name=f"{METRIC_LABELS[metric]} ({comparison_label})",
                line=dict(color=PALETTE[metric], dash="dash", width=1.5), opacity=0.75,
                hovertemplate="%{y:,} on %{customdata|%a %d %b %Y %H:%M}")
    figure.update_yaxes(rangemode="tozero", tickformat=",d")
    return _finish(figure)


def events_per_minute(per_minute: pd.DataFrame) -> go.Figure:
    """Events per minute as bars, with sessions as a line on the same axis."""
    figure = go.Figure()
    figure.add_bar(x=per_minute["minute"], y=per_minute["events"], name="Events",
                   marker_color=PALETTE["events"], hovertemplate="%{y:,} events")
    figure.add_scatter(x=per_minute["minute"], y=per_minute["sessions"], name="Sessions", mode="lines",
                       line=dict(color=PALETTE["sessions"], width=2), hovertemplate="%{y:,} sessions")
    figure.update_layout(title="Events per minute", xaxis_title=time_title(per_minute["minute"]),
                         yaxis_title="Per minute")
    figure.update_xaxes(hoverformat=hover_format(per_minute["minute"]))
    figure.update_yaxes(rangemode="tozero", tickformat=",d")
    return _finish(figure)


def breakdown_bars(frame: pd.DataFrame, label: str, metrics: tuple[str, ...] = ("sessions",),
                   title: str = "", label_title: str | None = None) -> go.Figure:
    """Horizontal bars, largest at the top; one bar per metric per row."""
    ordered = frame.sort_values(metrics[0], ascending=True)
    labels = ordered[label].map(text.chart_text)
    figure = go.Figure()
    for metric in metrics:
        figure.add_bar(
            y=labels, x=ordered[metric], orientation="h", name=METRIC_LABELS.get(metric, metric),
            marker_color=PALETTE.get(metric), hovertemplate=f"%{{y}}: %{{x:,}} {METRIC_LABELS.get(metric, metric).lower()}<extra></extra>",
        )
    figure.update_layout(title=title, barmode="group", showlegend=len(metrics) > 1, hovermode="closest",
                         xaxis_title=" / ".join(METRIC_LABELS.get(m, m) for m in metrics),
                         yaxis_title=label_title or label.replace("_", " ").capitalize())
    figure.update_xaxes(tickformat=".0%" if metrics[0] in RATES else ",d", rangemode="tozero")
    return _finish(figure, height=max(CHART_HEIGHT, 28 * len(frame) + 90)).update_layout(hovermode="closest")


def share_donut(frame: pd.DataFrame, label: str, value: str = "sessions", title: str = "") -> go.Figure:
    """A donut of each row's share of `value`."""
    frame = frame.assign(**{label: frame[label].map(text.chart_text)})
    figure = px.pie(frame, names=label, values=value, hole=0.55, title=title,
                    color_discrete_sequence=CATEGORY_COLOURS)
    noun = METRIC_LABELS.get(value, value).lower()
    figure.update_traces(textinfo="percent+label", textposition="inside", sort=False,
                         hovertemplate=f"%{{label}}: %{{value:,}} {noun} (%{{percent}})<extra></extra>")
    # Slices too thin for a readable label go without one; hover and the table name them.
    return _finish(figure).update_layout(showlegend=False, hovermode="closest",
                                         uniformtext=dict(minsize=10, mode="hide"))


def series_by(long: pd.DataFrame, dimension: str, metric: str, title: str = "") -> go.Figure:
    """One line per value of `dimension` (a stack_series frame)."""
    noun = METRIC_LABELS.get(metric, metric)
    long = long.assign(**{dimension: long[dimension].map(text.chart_text)})
    figure = px.line(long, x="t", y=metric, color=dimension, title=title, color_discrete_sequence=CATEGORY_COLOURS,
                     labels={"t": time_title(long["t"]), metric: noun, dimension: ""})
    figure.update_traces(hovertemplate="%{y:,}")
    figure.update_xaxes(hoverformat=hover_format(long["t"]))
    figure.update_yaxes(rangemode="tozero", tickformat=",d")
    return _finish(figure)


def world_map(shaded: pd.DataFrame, metric: str = "visitors", title: str = "") -> go.Figure:
    """A world choropleth of a frames.world_map frame, each country shaded by `metric`.

    The map's shapes are plotly.js's world_110m topology, keyed by ISO 3166-1 alpha-3; the page
    serves them itself (ui.map_chart), since plotly.js would fetch them from its CDN.
    """
    noun = METRIC_LABELS.get(metric, metric).lower()
    figure = go.Figure(go.Choropleth(
        locations=shaded["iso3"], locationmode="ISO-3", z=shaded[metric].astype("float64"),
        text=shaded["name"].map(text.chart_text), colorscale=MAP_SCALE, zmin=0,
        marker_line_color="#FFFFFF", marker_line_width=0.5,
        colorbar=dict(title=dict(text=METRIC_LABELS.get(metric, metric)), tickformat=",d", thickness=12),
        hovertemplate=f"%{{text}}: %{{z:,}} {noun}<extra></extra>",
    ))
    figure.update_layout(title=title)
    figure.update_geos(projection_type="natural earth", showframe=False, showcoastlines=False,
                       showland=True, landcolor=LAND_COLOUR, showcountries=True, countrycolor="#DEE2E6",
                       showlakes=False, lataxis_range=[-58, 85])
    return _finish(figure, height=MAP_HEIGHT).update_layout(hovermode="closest", margin=dict(l=0, r=0, t=36, b=0))


def funnel_chart(steps: pd.DataFrame, title: str = "") -> go.Figure:
    """Plotly's funnel: one bar per step (its goal), the visits that reached it, with the share of the first."""
    figure = go.Figure(go.Funnel(y=[f"{n}. {text.chart_text(goal)}" for n, goal in zip(steps["step"], steps["goal"])],
                                 x=steps["visits"].tolist(), textinfo="value+percent initial",
                                 marker={"color": PALETTE["sessions"]}))
    figure.update_layout(title=title, height=CHART_HEIGHT, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return figure
