"""Locations: where visitors are — a world map, countries, and the regions and cities known; a choice filters every page."""
import streamlit as st

from liveinsight.dashboard import charts, frames, kiosk, places, text, ui

PLACES_LIMIT = 100  # The API's largest breakdown: every country a site usually sees.

filters = ui.current_filters()
ui.page_header(":material/public: Locations", filters)
ui.campaign_notice(filters)
stats = ui.load_stats(filters, limit=PLACES_LIMIT)
if stats.countries.empty:
    ui.empty_state()
    st.stop()

if filters.place:
    st.info(f"Every page shows visitors from {text.plain(places.describe(*filters.place))} only.",
            icon=":material/filter_alt:")
    st.button("Show all places", on_click=ui.choose_place, args=("country", None), icon=":material/close:")
elif not kiosk.active():
    st.caption("Select a row in a table to focus every page on that country, region or city.")

shaded, metric = frames.world_map(stats.countries), frames.map_metric(stats.countries)
ui.map_chart(charts.world_map(shaded, metric, title=f"{charts.METRIC_LABELS[metric]} by country"))
if shaded.empty:
    st.caption("No country to shade: every visitor in this range is of unknown country.")

left, right = st.columns(2)
with left:
    st.subheader("Countries")
    ui.place_chooser(frames.countries(stats.countries), stats.countries["country"], "country", "countries.csv")
with right:
    st.subheader("Regions", help="Known for visits through the deployment's CloudFront distribution; "
                                 "a browser's time zone gives the country only.")
    if stats.regions.empty:
        st.caption("No regions known in this range.")
    else:
        ui.place_chooser(frames.regions(stats.regions), stats.regions["region"], "region", "regions.csv")

st.subheader("Cities")
if stats.cities.empty:
    st.caption("No cities known in this range.")
else:
    ui.place_chooser(frames.cities(stats.cities), stats.cities["city"], "city", "cities.csv")
