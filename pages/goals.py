"""Goals: does it convert? Each goal's conversions, unique conversions, conversion rate and revenue; one goal
over time and by source, channel, page, country and device."""
import streamlit as st

from liveinsight.dashboard import charts, definitions, frames, text, ui

filters = ui.current_filters()
ui.page_header(":material/flag: Goals", filters)
ui.campaign_notice(filters)
site = ui.one_site(filters, ui.load_stats(filters, limit=1).sites, "goals")
if filters.page or filters.source or filters.event_type or filters.place:
    st.info("Goals are counted for the whole site: clear the page, source, event type and place filters to see "
            "them.", icon=":material/filter_alt:")
    st.stop()
stats = ui.load_stats(filters, False, site=site, limit=20)
goals = stats.goals
if goals.empty:
    st.info(f"{text.plain(site)} has no goals yet. Define them (an event, a page or a page group, with a revenue "
            "property if you like) on the Settings page.", icon=":material/flag:")
    st.page_link("pages/settings.py", label="Settings", icon=":material/tune:")
    st.stop()

shown = goals.assign(counting=[definitions.counting(goal) for goal in goals.to_dict("records")])
shown = shown[["name", "visitors", "conversions", "visits", "conversion_rate", "counting"]].rename(columns={"name": "goal"})
left, right = st.columns(2)
with left:
    ui.chart(charts.breakdown_bars(goals, "name", ("conversion_rate",), title="Conversion rate (visitors)",
                                    label_title="Goal"))
with right:
    ui.table(shown, "goals.csv")
    if not stats.revenue.empty:
        ui.table(stats.revenue, "goal-revenue.csv", key="goal-revenue")
st.caption("Unique conversions are visitors (once per day) who converted; the rate divides them by every visitor "
           "of the site in the range. A goal counts from when it was defined (Counts).")

st.subheader("One goal")
name = st.selectbox("Goal", goals["name"].tolist(), key="goal_choice", format_func=text.visible)
chosen = ui.load_stats(filters, False, site=site, goal=name)
ui.kpi_tiles([frames.Kpi("unique", "Unique conversions", frames.format_count(chosen.totals.visitors or 0), None),
              frames.Kpi("conversions", "Conversions", frames.format_count(chosen.totals.events), None),
              frames.Kpi("visits", "Converting visits", frames.format_count(chosen.totals.sessions), None),
              frames.Kpi("rate", "Conversion rate",
                         frames.format_percent((chosen.goal or {}).get("conversion_rate", 0)), None)])
ui.chart(charts.traffic_over_time(chosen.timeseries, ("visitors", "events"),
                                   title=f"{text.chart_text(name)}: unique conversions and conversions"))
left, right = st.columns(2)
with left:
    ui.table(chosen.sources.drop(columns=[c for c in ("page_views",) if c in chosen.sources]), "goal-sources.csv",
             key="goal-sources")
    ui.table(chosen.pages[["page", "page_views"]].rename(columns={"page_views": "conversions"}), "goal-pages.csv",
             key="goal-pages")
with right:
    ui.table(chosen.channels.drop(columns=["visitors"]), "goal-channels.csv", key="goal-channels")
    ui.table(frames.countries(chosen.countries)[["country_name", "sessions"]], "goal-countries.csv",
             key="goal-countries")
    ui.table(chosen.devices, "goal-devices.csv", key="goal-devices")
if not chosen.revenue_by_source.empty:
    st.subheader("Revenue by source")
    ui.table(chosen.revenue_by_source, "goal-revenue-by-source.csv", key="goal-revenue-sources")
