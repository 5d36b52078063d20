"""Pages: top pages (with time on page and scroll depth), entry and exit pages; choosing a page filters every chart."""
import streamlit as st

from liveinsight.dashboard import charts, frames, kiosk, text, ui

filters = ui.current_filters()
ui.page_header(":material/description: Pages", filters)
ui.campaign_notice(filters)
stats = ui.load_stats(filters)
if not frames.has_traffic(stats.timeseries):
    ui.empty_state()
    st.stop()

if filters.page:
    st.info(f"Every chart shows {text.plain(filters.page)} only.", icon=":material/filter_alt:")
    st.button("Show all pages", on_click=ui.choose_page, args=(None,), icon=":material/close:")
elif not kiosk.active():
    st.caption("Select a row in Top pages to focus every chart on that page.")

ui.chart(charts.traffic_over_time(stats.timeseries, ("page_views", "sessions"),
                                   title=f"Page views of {filters.page}" if filters.page else "Page views"))

st.subheader("Top pages")  # full width: time on page and scroll depth need the room
ui.page_chooser(frames.with_share(stats.pages, "page_views"), "top-pages.csv")
left, right = st.columns(2)
with left:
    st.subheader("Entry pages")
    ui.chart(charts.breakdown_bars(stats.entry_pages, "page", title="Sessions starting on each page"))
    ui.table(frames.with_share(stats.entry_pages, "sessions"), "entry-pages.csv")
with right:
    st.subheader("Exit pages")
    if not stats.exits_counted:
        st.caption("Not counted under this filter: a visit's last page is counted for the whole site, a source "
                   "and a country (filter by one of those to see where visits ended).")
    elif stats.exit_pages.empty:
        st.caption("No visits ended in this range.")
    else:
        ui.chart(charts.breakdown_bars(stats.exit_pages, "page", title="Sessions ending on each page"))
        ui.table(frames.with_share(stats.exit_pages, "sessions"), "exit-pages.csv")
