"""Read-only share links in the dashboard: `?share=TOKEN` shows one site's view without the API key.

The token comes from the URL on a session's first run and stays for the session (and in the URL
on every page). Its scope — site, fixed filters, longest period, expiry — is read here only to
lock the controls and draw the banner; the API verifies the link on every request and answers
only within it.
"""
from __future__ import annotations

import time
from typing import Any

import streamlit as st

from liveinsight import config, share as links
from liveinsight.errors import InvalidRequest

SESSION_KEY = "_share_token"
ASK_FOR_A_NEW_ONE = "Ask whoever sent it for a new link."


def token() -> str | None:
    """The share link's token of this session, or None when it is not a shared view."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = st.query_params.get(links.PARAM) or None
    return st.session_state[SESSION_KEY]


def request_args() -> dict[str, Any]:
    """What every API call of a shared view adds: the token (and never the key, see ui.api_settings)."""
    value = token()
    return {"share": value} if value else {}


def scope() -> links.Grant | None:
    """The link's scope, or None outside a shared view; a damaged or expired link stops the page with a message."""
    value = token()
    if not value:
        return None
    try:
        grant = links.peek(value)
    except InvalidRequest:
        st.error(f"**This share link is damaged.** Copy the whole link again. {ASK_FOR_A_NEW_ONE}",
                 icon=":material/link_off:")
        st.stop()
    if grant.expires <= time.time():
        st.error(f"**This share link expired on {grant.expires_on}.** {ASK_FOR_A_NEW_ONE}", icon=":material/link_off:")
        st.stop()
    return grant


def periods(grant: links.Grant | None, options: list[str]) -> list[str]:
    """The period choices a link allows: those up to its period (no custom range), or all of them."""
    if grant is None or grant.window_seconds is None:
        return options
    return [name for name in options if config.PERIOD_SECONDS.get(name, float("inf")) <= grant.window_seconds]


def locked(grant: links.Grant | None, name: str) -> bool:
    """Whether a filter is fixed by the link (the site always is)."""
    return grant is not None and (name == "site" or getattr(grant, name, None) is not None)


def lock(grant: links.Grant, state: Any, options: list[str]) -> None:
    """Force the link's site, filters and period range into the widgets' state (before they are drawn)."""
    state["site"] = grant.site
    for name in links.FILTERS:
        if getattr(grant, name) is not None:
            state[name] = getattr(grant, name)
    allowed = periods(grant, options)
    if state.get("period") not in allowed:
        state["period"] = grant.period if grant.period in allowed else allowed[-1]


def banner(grant: links.Grant) -> None:
    """"Shared view of shop.example.com · page /pricing · expires 2026-12-30 · read-only"."""
    parts = [f"Shared view of **{grant.site}**"]
    parts += [f"{name.replace('_', ' ')} {getattr(grant, name)}" for name in links.FILTERS if getattr(grant, name)]
    if grant.period:
        parts.append(f"up to the last {grant.period}")
    parts += [f"expires {grant.expires_on[:10]}", "read-only"]
    st.info(" · ".join(parts), icon=":material/visibility:")


def keep_in_url() -> None:
    """Keep `share=` in the address on every page, so a reload or a copied link stays shared."""
    value = token()
    if value and st.query_params.get(links.PARAM) != value:
        st.query_params[links.PARAM] = value
