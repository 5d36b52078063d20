"""Realtime: who is on the site now; refreshes itself without rerunning the rest of the app."""
import streamlit as st

from liveinsight.dashboard import charts, frames, kiosk, text, ui, zone

REFRESH_CHOICES = {"Paused": None, "2 s": 2, "5 s": 5, "10 s": 10, "30 s": 30}
DEFAULT_REFRESH = "5 s"

filters = ui.current_filters()
st.title(":material/bolt: Realtime")
scope = [f"{name} {text.plain(value)}" for name, value in (("site", filters.site), ("page", filters.page)) if value]
st.caption(" · ".join(["Last 5 and 30 minutes", *scope,
                        "the period, source, event type and place filters do not apply here."]))
if kiosk.active():  # Nobody in the room would press Pause.
    refresh = DEFAULT_REFRESH
else:
    refresh = st.segmented_control("Refresh every", list(REFRESH_CHOICES), default=DEFAULT_REFRESH, required=True,
                                   key="refresh")


@st.fragment(run_every=REFRESH_CHOICES.get(refresh))
def live_view() -> None:
    now = ui.load_realtime(filters)
    active, recent, updated = st.columns(3)
    active.metric("Active now", f"{now.active_sessions:,}", help="Sessions with an event in the last 5 minutes.",
                  border=True)
    recent.metric("Last 30 min", f"{now.active_sessions_30m:,}", help="Sessions with an event in the last 30 minutes.",
                  border=True)
    updated.metric("Updated", zone.clock_label(now.generated_at) if now.generated_at else "—", border=True)
    st.caption(zone.times_in(now.zone, filters.site))

    if not now.per_minute["events"].sum():
        ui.empty_state("No events in the last 30 minutes yet.")
        return
    per_minute, by_country = st.columns([3, 1])
    with per_minute:
        ui.chart(charts.events_per_minute(now.per_minute))
    with by_country:
        st.subheader("By country", help="Active now: sessions with an event in the last 5 minutes, by country.")
        if now.countries.empty:
            st.caption("No one is active right now.")
        else:
            ui.table(frames.active_countries(now.countries), "realtime-countries.csv")

    pages, sources, types = st.columns([3, 2, 2])  # Paths need the room.
    with pages:
        st.subheader("Top pages now")
        ui.table(now.top_pages, "realtime-pages.csv")
    with sources:
        st.subheader("Top sources now")
        ui.table(now.top_referrers, "realtime-sources.csv")
    with types:
        st.subheader("Event types", help="Over the last 30 minutes.")
        ui.table(now.event_types, "realtime-event-types.csv")
    st.subheader("Live feed")
    ui.table(frames.recent_feed(now.recent_events, now.generated_at), "live-feed.csv")


live_view()
