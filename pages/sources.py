"""Sources: where visits come from — sources, referrers, campaigns — and how that changes over time."""
import streamlit as st

from liveinsight.dashboard import charts, frames, text, ui

TOP_SOURCES_OVER_TIME = 5

filters = ui.current_filters()
ui.page_header(":material/call_split: Sources", filters)
stats = ui.load_stats(filters)
if filters.campaign:  # a channel or UTM tag: its visitors and visits over time (breakdowns are not kept per tag)
    name, value = filters.campaign
    label = f"{ui.CAMPAIGN_LABELS[name]} {text.plain(value)}"
    ui.kpi_tiles(frames.kpis(stats.totals)[:4])
    if not frames.has_traffic(stats.timeseries):
        ui.empty_state(f"No visits from {label} in this range.")
    else:
        ui.chart(charts.traffic_over_time(stats.timeseries, ("visitors", "sessions", "page_views"),
                                           title=f"Visitors, visits and page views from {label}"))
    st.button("Show every source", on_click=ui.clear_campaign, icon=":material/close:")
    st.stop()
if stats.sources.empty:
    ui.empty_state()
    st.stop()

left, right = st.columns(2)
with left:
    ui.chart(charts.breakdown_bars(stats.sources, "source", ("sessions", "page_views"), title="Sources"))
    ui.table(frames.with_share(stats.sources, "sessions"), "sources.csv")
with right:
    ui.chart(charts.breakdown_bars(stats.referrers, "referrer", title="Referrers"))
    ui.table(frames.with_share(stats.referrers, "sessions"), "referrers.csv")

st.subheader("Channels and UTM tags", anchor=False)
st.caption("Choose a row to see its visitors and visits over time.")
channels, *tags = st.tabs(["Channels", "Medium", "Source", "Campaign", "Term", "Content"])
with channels:
    if stats.channels.empty:
        st.caption("No visits in this range.")
    else:
        ui.chart(charts.breakdown_bars(stats.channels, "channel", ("visitors", "sessions"), title="Channels"))
        ui.campaign_chooser(stats.channels, "channel", "channels.csv")
for tab, tag in zip(tags, ("utm_medium", "utm_source", "utm_campaign", "utm_term", "utm_content")):
    with tab:
        values = stats.utm.get(tag)
        if values is None or values.empty:
            st.caption(f"No {tag} in this range. Links tagged with `{tag}` show up here.")
        else:
            ui.campaign_chooser(values, tag, f"{tag}.csv")

st.subheader("Over time")
if filters.source:
    ui.chart(charts.traffic_over_time(stats.timeseries, ("sessions", "page_views"),
                                       title=f"Sessions and page views from {filters.source}"))
else:
    top = stats.sources.sort_values("sessions", ascending=False)["source"].head(TOP_SOURCES_OVER_TIME).tolist()
    series = frames.stack_series(ui.load_series(filters, "source", top), "source", "sessions")
    ui.chart(charts.series_by(series, "source", "sessions", title="Sessions by top source"))
