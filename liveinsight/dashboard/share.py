"""Read-only share links in the dashboard: `?share=TOKEN` shows one site's view without the API key.

The token comes from the URL on a session's first run and stays for the session (and in the URL
on every page). The dashboard does not hold the share secret, so it never trusts what a token
says: the scope it locks the controls to and draws in the banner is the one the API verified and
answered for the token (`data.share`). A forged or altered token draws nothing but the API's
refusal; the API still checks the link on every request and answers only within it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from liveinsight import config
from liveinsight.dashboard import text
from liveinsight.dashboard.client import ApiError, ApiRequestError, ApiShareError, ShareScope, Stats

SESSION_KEY = "_share_token"
PARAM = config.SHARE_PARAM
ASK_FOR_A_NEW_ONE = "Ask whoever sent it for a new link."


def token() -> str | None:
    """The share link's token of this session, or None when it is not a shared view."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = st.query_params.get(PARAM) or None
    return st.session_state[SESSION_KEY]


def request_args() -> dict[str, Any]:
    """What every API call of a shared view adds: the token (and never the key, see ui.api_settings)."""
    value = token()
    return {"share": value} if value else {}


def scope(ask: Callable[[str], Stats]) -> ShareScope | None:
    """The link's scope as the API verified it (`ask` reads the API with the token), or None outside a shared view.

    A link the API refuses — altered, expired, revoked, not a token — stops the page with the API's reason.
    """
    value = token()
    if not value:
        return None
    try:
        verified = ask(value).share
    except ApiShareError as exc:
        _refused(f"**This share link does not open this view.** {text.plain(exc.message)}")
    except ApiRequestError as exc:
        _refused(f"**This share link is damaged.** Copy the whole link again. {text.plain(exc.message)}")
    except ApiError as exc:
        _refused(f"**The API could not check this share link.** {text.plain(exc.message)}")
    if verified is None:
        _refused("**This share link does not open this view.** The API answered without checking it.")
    return verified


def _refused(message: str) -> None:
    st.error(f"{message} {ASK_FOR_A_NEW_ONE}", icon=":material/link_off:")
    st.stop()


def periods(grant: ShareScope | None, options: list[str]) -> list[str]:
    """The period choices a link allows: those the API says lie inside its period now (no custom range), or
    all of them; from an older server, the rolling periods up to its period."""
    if grant is None or grant.period is None:
        return options
    if grant.periods is not None:
        return [name for name in options if name in grant.periods] or [grant.period]
    if grant.window_seconds is None:
        return [grant.period]
    return [name for name in options if config.PERIOD_SECONDS.get(name, float("inf")) <= grant.window_seconds]


def locked(grant: ShareScope | None, name: str) -> bool:
    """Whether a filter is fixed by the link (the site always is)."""
    return grant is not None and (name == "site" or getattr(grant, name, None) is not None)


def lock(grant: ShareScope, state: Any, options: list[str]) -> None:
    """Force the link's site, filters and period range into the widgets' state (before they are drawn)."""
    state["site"] = grant.site
    for name in ShareScope.FILTERS:
        if getattr(grant, name) is not None:
            state[name] = getattr(grant, name)
    allowed = periods(grant, options)
    if state.get("period") not in allowed:
        state["period"] = grant.period if grant.period in allowed else allowed[-1]


def banner(grant: ShareScope) -> None:
    """"Shared view of shop.example.com · page /pricing · expires 2026-12-30 · read-only", from the verified scope."""
    parts = [f"Shared view of {text.plain(grant.site)}"]
    parts += [f"{name.replace('_', ' ')} {text.plain(getattr(grant, name))}" for name in ShareScope.FILTERS
              if getattr(grant, name)]
    if grant.period in config.PERIOD_SECONDS:
        parts.append(f"up to the last {text.plain(grant.period)}")
    elif grant.period:
        parts.append(text.plain(grant.period.replace("_", " ")))
    parts += [f"expires {grant.expires_on}", "read-only"]
    st.info(" · ".join(parts), icon=":material/visibility:")


def keep_in_url() -> None:
    """Keep `share=` in the address on every page, so a reload or a copied link stays shared."""
    value = token()
    if value and st.query_params.get(PARAM) != value:
        st.query_params[PARAM] = value
