"""The team's saved views in the sidebar: open one with a click or by its link (`?view=NAME`), save the
current filters and period under a name, delete one. Stored by the API (`/api/views`, key only), so
every teammate sees the same list; a share link's session has no key and shows none of this.

View names are typed by teammates: they are shown as widget options and plain text, never Markdown.
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import streamlit as st

from liveinsight.config import ENV_DASHBOARD_URL
from liveinsight.dashboard import auth, share, ui
from liveinsight.dashboard.client import ApiError, ApiRequestError, SavedView

PARAM = "view"
VIEWS_TTL_SECONDS = 10
_CHOICE = "_saved_view_choice"
_NAME = "_saved_view_name"


@st.cache_data(ttl=VIEWS_TTL_SECONDS, show_spinner=False)
def fetch_views(api_url: str, api_key: str | None) -> list[SavedView]:
    """Client.views, cached briefly per URL and key (cleared when this server saves or deletes one)."""
    return ui.client().views()  # The arguments are the cache key: ui.client() is the client for them.


def _views() -> list[SavedView] | None:
    """The saved views, or None when the API cannot list them (the pages explain API failures)."""
    try:
        return fetch_views(*ui.api_settings())
    except ApiError:
        return None


def _find(views: list[SavedView], name: str) -> SavedView | None:
    wanted = name.strip().casefold()
    return next((view for view in views if view.name.casefold() == wanted), None)


def link(name: str) -> str:
    """The view's link: the dashboard's address (as configured, else as the browser asked for it) + `?view=`."""
    base = ui.setting(ENV_DASHBOARD_URL) or urlsplit(st.context.url or "")._replace(path="", query="",
                                                                                       fragment="").geturl()
    return f"{base.rstrip('/')}/?{PARAM}={quote(name, safe='')}"


def _open(view: SavedView) -> None:
    ui.apply_filters(ui.Filters.from_query(view.filters))


def open_from_link() -> None:
    """`?view=NAME`: open that view's filters on the session's first run, then drop the parameter."""
    name = st.query_params.get(PARAM)
    if not name or share.token():
        return
    del st.query_params[PARAM]
    view = _find(_views() or [], name)
    if view is None:
        st.warning("No saved view has the name in this link; it may have been deleted or renamed.",
                   icon=":material/bookmark_remove:")
        st.text(name)
        return
    _open(view)


def _on_choose() -> None:
    chosen = st.session_state.get(_CHOICE)
    view = _find(_views() or [], chosen or "")
    if view is not None:
        _open(view)


def _save(filters: ui.Filters) -> None:
    name = (st.session_state.get(_NAME) or "").strip()
    if not name:
        st.session_state["_saved_view_error"] = "Give the view a name first."
        return
    try:
        client = ui.client()
        saved = client.save_view(name, {"period": filters.period, **filters.to_query()}, auth.signed_in_email())
    except ApiRequestError as exc:  # The API names what it refused (a name too long, too many views).
        st.session_state["_saved_view_error"] = exc.message
        return
    except ApiError as exc:
        st.session_state["_saved_view_error"] = f"The view was not saved. {exc.message}"
        return
    fetch_views.clear()
    st.session_state[_CHOICE] = saved.name
    st.session_state[_NAME] = ""
    st.session_state.pop("_saved_view_error", None)


def _delete() -> None:
    name = st.session_state.get(_CHOICE)
    if not name:
        return
    try:
        ui.client().delete_view(name)
    except ApiError as exc:
        st.session_state["_saved_view_error"] = exc.message
        return
    fetch_views.clear()
    st.session_state[_CHOICE] = None


def sidebar(filters: ui.Filters) -> None:
    """The sidebar's Saved views section (nothing in a shared view, which has no key)."""
    if share.token():
        return
    views = _views()
    with st.sidebar:
        st.subheader(":material/bookmarks: Saved views")
        if views is None:
            st.caption("Saved views need the API (see the page).")
            return
        names = [view.name for view in views]
        if st.session_state.get(_CHOICE) not in names:
            st.session_state[_CHOICE] = None
        st.selectbox("Open a saved view", names, key=_CHOICE, index=None, on_change=_on_choose,
                     placeholder="Choose a view" if names else "No saved views yet")
        chosen = _find(views, st.session_state.get(_CHOICE) or "")
        if chosen is not None:
            st.caption("Its link:")
            st.code(link(chosen.name), language=None, wrap_lines=True)
            if chosen.saved_by:
                st.caption("Saved by")
                st.text(chosen.saved_by)
            st.button("Delete this view", on_click=_delete, icon=":material/delete:", type="tertiary")
        with st.expander("Save the current view", icon=":material/bookmark_add:"):
            st.text(filters.description)  # Page paths and sources are collected text, never Markdown.
            st.text_input("Name", key=_NAME, max_chars=80, placeholder="e.g. Pricing, last 7 days")
            st.button("Save view", on_click=_save, args=(filters,), icon=":material/save:", width="stretch")
        error = st.session_state.pop("_saved_view_error", None)
        if error:
            st.warning("The view was not saved or deleted:", icon=":material/report:")
            st.text(error)
