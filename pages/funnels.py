"""Funnels: of the visits that reached each step, how many went on to the next, in order."""
import streamlit as st

from liveinsight.dashboard import charts, definitions, text, ui
from liveinsight.dashboard.client import ApiError

filters = ui.current_filters()
ui.page_header(":material/filter_list: Funnels", filters)
ui.campaign_notice(filters)
site = ui.one_site(filters, ui.load_stats(filters, limit=1).sites, "funnels")
try:
    known = ui.site_definitions(site)
    names = known.names("funnels")
except ApiError as exc:
    ui.error_panel(exc)
    st.stop()
if not names:
    st.info(f"{text.plain(site)} has no funnels yet. A funnel is 2-8 goals in order; define them on the Settings "
            "page.", icon=":material/filter_list:")
    st.page_link("pages/settings.py", label="Settings", icon=":material/tune:")
    st.stop()
name = st.selectbox("Funnel", names, key="funnel_choice", format_func=text.visible)
stats = ui.load_stats(filters, False, site=site, funnel=name, limit=1)
steps = stats.funnel
if steps.empty or not steps["visits"].iloc[0]:
    ui.empty_state(f"No visit reached the first step of {text.plain(name)} in this range.")
    st.stop()
ui.chart(charts.funnel_chart(steps, title=f"{text.chart_text(name)}: visits at each step"))
ui.table(steps, "funnel.csv")
funnel = next((f for f in known.funnels if f["name"] == name), {})
st.caption("A visit counts in the furthest step it reached in order by time (a late event is placed by its "
           f"time), in the bucket where it started; visitors once per day. It counts {definitions.counting(funnel)}.")
