"""LiveInsight's dashboard: the router. Run with `streamlit run dashboard.py`."""
import streamlit as st

from liveinsight.dashboard import auth, kiosk, saved_views, share, ui

st.set_page_config(page_title="LiveInsight", page_icon=":material/insights:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/realtime.py", title="Realtime", icon=":material/bolt:"),
    st.Page("pages/sources.py", title="Sources", icon=":material/call_split:"),
    st.Page("pages/top_pages.py", title="Pages", icon=":material/description:"),
    st.Page("pages/events.py", title="Events", icon=":material/ads_click:"),
    st.Page("pages/goals.py", title="Goals", icon=":material/flag:"),
    st.Page("pages/funnels.py", title="Funnels", icon=":material/filter_list:"),
    st.Page("pages/devices.py", title="Devices", icon=":material/devices:"),
    st.Page("pages/locations.py", title="Locations", icon=":material/public:"),
]
# The team's page groups, goals and funnels: not a view to rotate, and not for a share link.
SETTINGS = st.Page("pages/settings.py", title="Settings", icon=":material/tune:")
# Streamlit's own menu is off (.streamlit/config.toml): it would list the pages/ folder
# on a fresh server's first run. ui.navigation_menu draws the same menu from PAGES.
navigation = st.navigation([*PAGES, SETTINGS], position="hidden")
auth.gate()  # With sign-in set up: the sign-in or refusal page stops the run here.
screen = None  # on a kiosk screen (?kiosk=1): its corner label, the site shown
if kiosk.active():  # A screen for a room, without sidebar or chrome; the URL's filters hold.
    screen = ui.url_filters().site or ui.ALL_SITES
    kiosk.show(PAGES, navigation)
else:
    auth.sidebar_account()
    ui.navigation_menu(PAGES if share.token() else [*PAGES, SETTINGS])
    saved_views.open_from_link()  # ?view=NAME sets the filters before the sidebar draws them.
    saved_views.sidebar(ui.sidebar_filters())
try:
    navigation.run()
finally:  # After the page, also one that stopped: the corner label is on the clock of the answers it showed.
    if screen:
        kiosk.label(screen)
