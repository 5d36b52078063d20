"""Overview: the period's KPIs against a comparison (the previous period or a year earlier), traffic over time
with the compared range dashed, top pages and sources."""
import streamlit as st

from liveinsight.dashboard import charts, frames, ui

filters = ui.current_filters()
# The rollup consumer folds events in batches of a minute (the template's window); Realtime has them in seconds.
ui.page_header(":material/dashboard: Overview", filters,
               note="new events count here within about a minute (Realtime shows them in seconds)")
compare = ui.compare_choice()
stats = ui.load_stats(filters, compare=compare)

ui.kpi_tiles(frames.kpis(stats.totals, stats.previous_totals))

if not frames.has_traffic(stats.timeseries):
    ui.empty_state()
    st.stop()

metrics = ("visitors", "sessions", "page_views", "events")
comparison = frames.comparison_series(stats.previous_timeseries, metrics) if compare else None
ui.chart(charts.traffic_over_time(stats.timeseries, metrics, comparison=comparison,
                                  comparison_label=frames.COMPARE_LABELS.get(compare or "", "")))

left, right = st.columns(2)
with left:
    st.subheader("Top pages")
    ui.table(frames.with_share(stats.pages, "page_views"), "top-pages.csv")
with right:
    st.subheader("Top sources")
    ui.table(frames.with_share(stats.sources, "sessions"), "top-sources.csv")
