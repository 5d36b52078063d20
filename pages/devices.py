"""Devices: which browsers, operating systems and device classes visitors use."""
import streamlit as st

from liveinsight.dashboard import charts, frames, ui

filters = ui.current_filters()
ui.page_header(":material/devices: Devices", filters)
ui.campaign_notice(filters)
stats = ui.load_stats(filters)
if stats.browsers.empty and stats.operating_systems.empty and stats.devices.empty:
    ui.empty_state()
    st.stop()

for column, (title, frame, file_name) in zip(st.columns(3), (
    ("Browsers", stats.browsers, "browsers.csv"),
    ("Operating systems", stats.operating_systems, "operating-systems.csv"),
    ("Device classes", stats.devices, "devices.csv"),
)):
    with column:
        st.subheader(title)
        ui.chart(charts.share_donut(frames.top_with_other(frame, "name", "sessions"), "name"), key=file_name)
        ui.table(frames.with_share(frame, "sessions"), file_name)
