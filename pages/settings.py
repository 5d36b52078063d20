"""Settings: a site's page groups, goals and funnels — listed with when they count from, added, deleted."""
import streamlit as st

from liveinsight.dashboard import definitions as defs, share, text, ui
from liveinsight.dashboard.client import ApiError, ApiRequestError

KINDS = {"page_groups": "page group", "goals": "goal", "funnels": "funnel"}


def save(kind: str, name_key: str, site: str) -> None:
    """Send the definition the form of `kind` holds; the API's refusal is shown as the API says it."""
    name = (st.session_state.get(name_key) or "").strip()
    state = st.session_state
    if kind == "page_groups":
        body = {"pattern": (state.get("_group_pattern") or "").strip()}
    elif kind == "funnels":
        body = {"steps": list(state.get("_funnel_steps") or [])}
    else:
        kind_of_goal = state.get("_goal_kind") or defs.EVENT
        value = {defs.EVENT: state.get("_goal_event"), defs.PAGE: state.get("_goal_page"),
                 defs.PAGE_GROUP: state.get("_goal_group")}[kind_of_goal]
        body = defs.goal_body(kind_of_goal, value, state.get("_goal_prop_key") or "",
                              state.get("_goal_prop_value") or "", state.get("_goal_revenue") or "",
                              state.get("_goal_currency") or "")
    try:
        ui.client().put_definition(kind, name, body, site)
    except ApiRequestError as exc:  # The API names the field and what it accepts.
        st.session_state["_definitions_error"] = exc.message
        return
    except ApiError as exc:
        st.session_state["_definitions_error"] = f"Nothing was saved. {exc.message}"
        return
    ui.fetch_definitions.clear()
    st.session_state["_definitions_done"] = f"Saved the {KINDS[kind]} {name}."
    st.session_state[name_key] = ""


def delete(kind: str, choice_key: str, site: str) -> None:
    name = st.session_state.get(choice_key)
    if not name:
        return
    try:
        ui.client().delete_definition(kind, name, site)
    except ApiError as exc:
        st.session_state["_definitions_error"] = exc.message
        return
    ui.fetch_definitions.clear()
    st.session_state["_definitions_done"] = f"Deleted the {KINDS[kind]} {name}."
    st.session_state[choice_key] = None


def delete_control(kind: str, names: list[str], site: str) -> None:
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.selectbox(f"Delete a {KINDS[kind]}", names, index=None, key=f"_delete_{kind}", format_func=text.visible,
                   placeholder=f"Choose a {KINDS[kind]}")
    right.button("Delete", key=f"_delete_{kind}_button", on_click=delete, args=(kind, f"_delete_{kind}", site),
                 icon=":material/delete:", disabled=not names)


def goal_form(site: str, groups: list[str], event_types: list[str]) -> None:
    st.text_input("Name", key="_goal_name", max_chars=60, placeholder="e.g. signup")
    kind = st.radio("Converts on", defs.GOAL_KINDS, key="_goal_kind", horizontal=True)
    if kind == defs.EVENT:
        st.selectbox("Event type", event_types, index=None, key="_goal_event", accept_new_options=True,
                             placeholder="Choose or type an event type", format_func=text.visible)
        left, right = st.columns(2)
        left.text_input("Only with property (optional)", key="_goal_prop_key", placeholder="e.g. plan")
        right.text_input("equal to", key="_goal_prop_value", placeholder="e.g. pro")
        left, right = st.columns(2)
        left.text_input("Revenue property (optional)", key="_goal_revenue", placeholder="e.g. amount")
        right.text_input("Currency", key="_goal_currency", max_chars=3, placeholder="e.g. EUR")
    elif kind == defs.PAGE:
        st.text_input("Page path or pattern", key="_goal_page", placeholder="e.g. /pricing or /docs/**")
    else:
        st.selectbox("Page group", groups, index=None, key="_goal_group", format_func=text.visible,
                     placeholder="Choose a page group" if groups else "Add a page group first")
    st.button("Add goal", on_click=save, args=("goals", "_goal_name", site), icon=":material/flag:")


filters = ui.current_filters()
ui.page_header(":material/tune: Settings")
if share.token():
    st.info("A share link opens a read-only view; settings need the team's dashboard.", icon=":material/lock:")
    st.stop()
options = ui.filter_options(filters)
site = filters.site or (options["site"][0] if len(options["site"]) == 1 else None)
if site is None:
    st.info("Choose a site in the sidebar: page groups, goals and funnels belong to one site.",
            icon=":material/language:")
    st.stop()
try:
    definitions = ui.site_definitions(site)
except ApiError as exc:
    ui.error_panel(exc)
    st.stop()
st.caption(f"Page groups, goals and funnels of {text.plain(site)}. A new one counts from when it is added, and "
           "within minutes also the raw events still kept from before (the last 24 hours): Counting says from "
           "when. Seeded ones count from the start.")

done, error = st.session_state.pop("_definitions_done", None), st.session_state.pop("_definitions_error", None)
if done:
    st.success("Done:", icon=":material/check_circle:")
    st.text(done)
if error:
    st.warning("The API refused it:", icon=":material/report:")
    st.text(error)

st.subheader(":material/folder_open: Page groups")
if definitions.page_groups:
    ui.table(defs.page_groups_table(definitions), "page-groups.csv")
else:
    st.caption("No page groups yet. A page group counts a set of pages as one, e.g. /products/*.")
with st.expander("Add a page group", icon=":material/add:"):
    st.text_input("Name", key="_group_name", max_chars=60, placeholder="e.g. products")
    st.text_input("Pattern", key="_group_pattern", placeholder="e.g. /products/* or /blog/**",
                  help="* is one path segment, ** any number of segments; anything else is literal.")
    st.button("Add page group", on_click=save, args=("page_groups", "_group_name", site),
              icon=":material/create_new_folder:")
delete_control("page_groups", definitions.names("page_groups"), site)

st.subheader(":material/flag: Goals")
if definitions.goals:
    ui.table(defs.goals_table(definitions), "goals.csv")
else:
    st.caption("No goals yet. A goal is a custom event, a page or a page group visited.")
with st.expander("Add a goal", icon=":material/add:"):
    known_types = [t for t in options["event_type"] if t not in ("page_view", "engagement")]
    goal_form(site, definitions.names("page_groups"), known_types)
delete_control("goals", definitions.names("goals"), site)

st.subheader(":material/filter_alt: Funnels")
if definitions.funnels:
    ui.table(defs.funnels_table(definitions), "funnels.csv")
else:
    st.caption("No funnels yet. A funnel is 2-8 goals in order.")
with st.expander("Add a funnel", icon=":material/add:"):
    st.text_input("Name", key="_funnel_name", max_chars=60, placeholder="e.g. signup funnel")
    st.multiselect("Steps, in order", definitions.names("goals"), key="_funnel_steps", max_selections=8,
                           format_func=text.visible, placeholder="Choose 2-8 goals in order")
    st.button("Add funnel", on_click=save, args=("funnels", "_funnel_name", site),
              icon=":material/add_chart:")
delete_control("funnels", definitions.names("funnels"), site)
