"""Events: which event types happen, custom events, and each type over time."""
import streamlit as st

from liveinsight.dashboard import charts, frames, text, ui
from liveinsight.dashboard.client import OTHER_VALUE

TYPES_OVER_TIME = 5

filters = ui.current_filters()
ui.page_header(":material/ads_click: Events", filters)
ui.campaign_notice(filters)
stats = ui.load_stats(filters)
if stats.event_types.empty:
    ui.empty_state()
    st.stop()

left, right = st.columns(2)
with left:
    ui.chart(charts.breakdown_bars(stats.event_types, "event_type", ("count",), title="Event types",
                                    label_title="Event type"))
    ui.table(frames.with_share(stats.event_types, "count"), "event-types.csv")
with right:
    st.subheader("Custom events")
    custom = frames.custom_events(stats.event_types)
    if custom.empty:
        st.caption("No custom events in this range. Any `event_type` other than `page_view` shows up here.")
    else:
        ui.table(custom, "custom-events.csv")

if filters.event_type:
    types, title = [filters.event_type], f"{filters.event_type} over time"
elif not custom.empty:  # Page views would dwarf them; the Overview charts page views already.
    types, title = custom["event_type"].head(TYPES_OVER_TIME).tolist(), "Custom events over time"
else:
    types, title = stats.event_types["event_type"].head(TYPES_OVER_TIME).tolist(), "Events over time by type"
series = frames.stack_series(ui.load_series(filters, "event_type", types), "event_type", "events")
ui.chart(charts.series_by(series, "event_type", "events", title=title))

st.subheader("Properties")
properties = stats.properties if filters.event_type else stats.properties.iloc[0:0]
if not filters.event_type:
    st.caption("Choose an event type in the sidebar to see the values of its custom properties (`props`).")
elif properties.empty:
    st.caption("No custom properties on these events in this range.")
chosen = None
for n, (key, values) in enumerate(properties.groupby("key", sort=True)):
    left, right = st.columns(2)
    with left:
        ui.chart(charts.breakdown_bars(values, "value", ("events", "visitors"), title=text.chart_text(key),
                                        label_title="Value"))
    with right:
        ui.table(values.drop(columns="key"), f"{filters.event_type}-property-{n + 1}.csv", key=f"property-{n}")
listed = [(key, str(value)) for key, value in zip(properties["key"], properties["value"]) if value != OTHER_VALUE]
if listed:  # one value over time: the API's prop=<key>:<value> filter of this event type
    chosen = st.selectbox("A value over time", listed, index=None, key="property_value",
                          placeholder="Choose a property value to see its events and visitors over time",
                          format_func=lambda pair: text.visible(f"{pair[0]} = {pair[1]}"))
if chosen:
    key, value = chosen
    series = ui.load_stats(filters, False, prop=chosen, limit=1).timeseries
    ui.chart(charts.traffic_over_time(series, ("events", "visitors"),
                                       title=f"{text.chart_text(filters.event_type)} with {text.chart_text(key)} = "
                                             f"{text.chart_text(value)} over time"))
