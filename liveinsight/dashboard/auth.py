"""Sign-in for the team's dashboard: Streamlit's OpenID Connect login, an allow-list, a refusal page.

Without an `[auth]` section in Streamlit's secrets the dashboard is open, as on a laptop, and the
sidebar says so (`sidebar_account`). With one, `gate()` runs first on every page: a share link
opens its own scope without signing in (the API checks the link, and the dashboard sends it no
key); everyone else signs in with the company's provider and must be on the allow-list (LIVEINSIGHT_ALLOWED_USERS).
Names and addresses come from the identity provider, so they are shown as text, never Markdown.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import streamlit as st

from liveinsight.config import (
    ENV_ALLOWED_USERS,
    ENV_AUTH_COOKIE_SECRET,
    ENV_DASHBOARD_URL,
    ENV_OIDC_CLIENT_ID,
    ENV_OIDC_CLIENT_SECRET,
    ENV_OIDC_METADATA_URL,
    OIDC_CALLBACK_PATH,
)
from liveinsight.dashboard import share

# Streamlit's `[auth]` keys and the settings they come from (`python -m liveinsight dashboard`).
AUTH_SETTINGS = {
    "server_metadata_url": ENV_OIDC_METADATA_URL,
    "client_id": ENV_OIDC_CLIENT_ID,
    "client_secret": ENV_OIDC_CLIENT_SECRET,
    "cookie_secret": ENV_AUTH_COOKIE_SECRET,
}
MIN_COOKIE_SECRET_CHARS = 32
LOCAL_MODE_NOTE = "Local mode: no sign-in. Anyone who can open this address sees every site."


@dataclass(frozen=True)
class AllowList:
    """Who may see the dashboard once signed in: whole e-mail domains and single addresses."""

    domains: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> "AllowList":
        """"example.com, @example.org, ana@partner.com": a bare or @-prefixed entry is a domain, else an address."""
        domains, addresses = set(), set()
        for entry in (text or "").split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            if entry.startswith("@") or "@" not in entry:
                domains.add(entry.lstrip("@"))
            else:
                addresses.add(entry)
        return cls(frozenset(domains), frozenset(addresses))

    def __bool__(self) -> bool:
        return bool(self.domains or self.addresses)

    def admits(self, email: str | None) -> bool:
        """Whether this address is listed, or its domain is (a subdomain is not: list it too)."""
        email = (email or "").strip().lower()
        local, at, domain = email.rpartition("@")
        if not (local and at and domain):
            return False
        return email in self.addresses or domain in self.domains


def configured() -> bool:
    """Whether sign-in is set up: Streamlit's secrets have an `[auth]` section."""
    try:
        return bool(st.secrets.get("auth"))
    except Exception:  # No secrets.toml at all: local use.
        return False


def allow_list() -> AllowList:
    """The allow-list from the environment or st.secrets."""
    # Imported here: ui's caches warn when imported outside a running app, as the command line does.
    from liveinsight.dashboard import ui

    return AllowList.parse(ui.setting(ENV_ALLOWED_USERS))


def _claim(name: str) -> Any:
    return st.user.get(name)


def signed_in_email() -> str | None:
    """The signed-in user's e-mail address; None when nobody is signed in or the provider calls it unverified."""
    # Google and Cognito send `email_verified`; Entra ID sends no such claim.
    if not _claim("is_logged_in") or _claim("email_verified") is False:
        return None
    return _claim("email") or None


def gate() -> None:
    """Let this visitor through, or draw the sign-in or refusal page and stop the run."""
    if not configured() or share.token():  # A share link: its scope, no key (ui.api_settings), no sign-in.
        return
    if not st.user.is_logged_in:
        _sign_in_page()
        st.stop()
    email = signed_in_email()
    if not allow_list().admits(email):
        _refusal_page(email)
        st.stop()


def sidebar_account() -> None:
    """Who is signed in, with the sign-out button; in local mode, a note that nothing is behind sign-in."""
    with st.sidebar:
        if not configured():
            st.caption(f":material/lock_open: {LOCAL_MODE_NOTE}")
        elif st.user.is_logged_in:
            st.caption("Signed in as")
            st.text(_claim("name") or signed_in_email())
            if _claim("name"):
                st.text(signed_in_email())
            st.button("Sign out", on_click=st.logout, icon=":material/logout:", width="stretch")
        else:
            return
        st.divider()


def _sign_in_page() -> None:
    st.title(":material/insights: LiveInsight")
    st.subheader("Sign in to see your team's analytics")
    st.write("This dashboard is open to your company's accounts. Sign in with your work account to continue.")
    st.button("Sign in", on_click=st.login, type="primary", icon=":material/login:")


def _refusal_page(email: str | None) -> None:
    st.title(":material/block: This dashboard is not open to you")
    if email:
        st.write("You are signed in as:")
        st.text(email)
        st.write("This address is not on the dashboard's allow-list. Ask whoever runs it to add your address "
                 "or your company's domain, or sign out and sign in with another account.")
    else:
        st.write("Your identity provider did not give a verified e-mail address, so the allow-list cannot "
                 "admit you. Sign out and sign in with your work account.")
    if not allow_list():
        st.warning(f"No one is on the allow-list yet: set `{ENV_ALLOWED_USERS}` on the dashboard's server.",
                   icon=":material/group_off:")
    st.button("Sign out", on_click=st.logout, icon=":material/logout:")


def secrets_toml(environ: Mapping[str, str]) -> str | None:
    """The `[auth]` section Streamlit's st.login reads, from the LIVEINSIGHT_OIDC_* settings; None if none is set.

    Raises ValueError naming every missing or malformed setting, so a half-configured server
    never starts open.
    """
    values = {key: (environ.get(name) or "").strip() for key, name in AUTH_SETTINGS.items()}
    dashboard_url = (environ.get(ENV_DASHBOARD_URL) or "").strip().rstrip("/")
    if not any(values.values()):
        return None
    problems = [f"{name} is not set" for key, name in AUTH_SETTINGS.items() if not values[key]]
    if not dashboard_url:
        problems.append(f"{ENV_DASHBOARD_URL} is not set (the address the team opens, "
                        "e.g. https://dashboard.example.com)")
    elif urlsplit(dashboard_url).scheme not in ("http", "https") or not urlsplit(dashboard_url).netloc:
        problems.append(f"{ENV_DASHBOARD_URL} must be an http(s) address such as https://dashboard.example.com, "
                        f"not {dashboard_url!r}")
    if values["server_metadata_url"] and urlsplit(values["server_metadata_url"]).scheme not in ("http", "https"):
        problems.append(f"{ENV_OIDC_METADATA_URL} must be the provider's https://…/.well-known/openid-configuration")
    if values["cookie_secret"] and len(values["cookie_secret"]) < MIN_COOKIE_SECRET_CHARS:
        problems.append(f"{ENV_AUTH_COOKIE_SECRET} must be at least {MIN_COOKIE_SECRET_CHARS} random characters")
    if problems:
        raise ValueError("sign-in is half set up: " + "; ".join(problems))
    values["redirect_uri"] = dashboard_url + OIDC_CALLBACK_PATH
    # JSON string escapes are valid TOML basic-string escapes.
    lines = ["[auth]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    return "\n".join(lines) + "\n"
