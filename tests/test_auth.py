"""Sign-in to the dashboard as its users meet it (AppTest with a seeded st.user), the allow-list, and the
settings `python -m liveinsight dashboard` turns into Streamlit's `[auth]` section.

The same flow against a real OpenID provider in Chromium is tests/test_signin.py.
"""
from __future__ import annotations

import time
import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from liveinsight import cli, share
from liveinsight.dashboard import auth
from tests import fakes, hostile
from tests.test_dashboard import DASHBOARD, fake, texts  # noqa: F401 (fake is a fixture)

AUTH_SECTION = {"client_id": "liveinsight-dashboard", "client_secret": "not-a-real-secret",
                "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
                "redirect_uri": "https://dashboard.example.com/oauth2callback", "cookie_secret": "x" * 32}
ANA = {"is_logged_in": True, "email": "ana@example.com", "email_verified": True, "name": "Ana Analyst"}
AUTH_ENV = {"LIVEINSIGHT_OIDC_METADATA_URL": AUTH_SECTION["server_metadata_url"],
            "LIVEINSIGHT_OIDC_CLIENT_ID": AUTH_SECTION["client_id"],
            "LIVEINSIGHT_OIDC_CLIENT_SECRET": 'se"cr\\et',
            "LIVEINSIGHT_AUTH_COOKIE_SECRET": "c" * 32,
            "LIVEINSIGHT_DASHBOARD_URL": "https://dashboard.example.com/"}


def run(user: dict | None = None, signed_in_setup: bool = True, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=30)
    if signed_in_setup:
        at.secrets["auth"] = AUTH_SECTION
    at.user = user if user is not None else {"is_logged_in": False}
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def sidebar_text(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "text", "markdown") for e in getattr(at.sidebar, kind))


def shows_the_dashboard(at: AppTest) -> bool:
    return any(title.value.endswith("Overview") for title in at.title) and len(at.metric) == 7  # visitors, visits, page views, …


@pytest.fixture
def allowed(monkeypatch):
    monkeypatch.setenv("LIVEINSIGHT_ALLOWED_USERS", "example.com, boss@partner.org")


def test_without_sign_in_settings_the_dashboard_is_open_and_says_so(fake):
    at = run(user={}, signed_in_setup=False)
    assert shows_the_dashboard(at)
    assert auth.LOCAL_MODE_NOTE in sidebar_text(at)
    assert [b for b in at.button if b.label in ("Sign in", "Sign out")] == []


def test_a_visitor_who_is_not_signed_in_sees_only_the_sign_in_page(fake, allowed):
    at = run()
    assert not shows_the_dashboard(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert fake.calls == []  # Nothing was asked of the API for them.


def test_an_allowed_user_sees_the_dashboard_with_their_name_and_sign_out(fake, allowed):
    at = run(ANA)
    assert shows_the_dashboard(at)
    assert "Ana Analyst" in sidebar_text(at) and "ana@example.com" in sidebar_text(at)
    assert "Sign out" in [b.label for b in at.sidebar.button]
    assert auth.LOCAL_MODE_NOTE not in sidebar_text(at)


def test_signing_out_returns_to_the_sign_in_page(fake, allowed):
    at = run(ANA)
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert not shows_the_dashboard(at)
    assert [b.label for b in at.button] == ["Sign in"]


@pytest.mark.parametrize("user", [
    pytest.param({**ANA, "email": "eve@elsewhere.org"}, id="other-domain"),
    pytest.param({**ANA, "email": "ana@mail.example.com"}, id="subdomain-not-listed"),
    pytest.param({**ANA, "email_verified": False}, id="unverified-address"),
    pytest.param({"is_logged_in": True, "name": "No Mail"}, id="no-address"),
])
def test_a_signed_in_user_outside_the_allow_list_is_refused(fake, allowed, user):
    at = run(user)
    assert not shows_the_dashboard(at)
    assert any("not open to you" in title.value for title in at.title)
    assert [b.label for b in at.button] == ["Sign out"]
    assert fake.calls == []


def test_with_an_empty_allow_list_everyone_is_refused_and_the_page_names_the_setting(fake, monkeypatch):
    monkeypatch.delenv("LIVEINSIGHT_ALLOWED_USERS", raising=False)
    at = run(ANA)
    assert not shows_the_dashboard(at)
    assert "LIVEINSIGHT_ALLOWED_USERS" in texts(at)


def test_the_refusal_shows_the_address_as_text_not_markdown(fake, allowed):
    hostile = "eve+**[click](https://evil.example)**@elsewhere.org"
    at = run({**ANA, "email": hostile})
    assert hostile in [t.value for t in at.text]
    assert hostile not in texts(at)


def test_a_share_link_opens_its_view_without_signing_in(fake, allowed):
    token = share.mint(fakes.SHARE_SECRET, "shop.example.com", time.time() + 3600)
    at = run(query={"share": token})
    assert shows_the_dashboard(at)
    assert any("Shared view of shop.example.com" in hostile.shown(info.value) for info in at.info)
    assert all(call.get("share") == token for _, call in fake.calls) and fake.calls


@pytest.mark.parametrize(("listed", "email", "admitted"), [
    pytest.param("example.com", "ana@example.com", True, id="domain"),
    pytest.param("@example.com", "Ana@Example.COM", True, id="at-domain-any-case"),
    pytest.param("boss@partner.org", "boss@partner.org", True, id="address"),
    pytest.param("boss@partner.org", "intern@partner.org", False, id="other-address-same-domain"),
    pytest.param("example.com", "ana@example.com.evil.org", False, id="suffix-trick"),
    pytest.param("example.com", "ana@sub.example.com", False, id="subdomain"),
    pytest.param("example.com", "example.com", False, id="not-an-address"),
    pytest.param("example.com", "@example.com", False, id="no-local-part"),
    pytest.param("", "ana@example.com", False, id="empty-list"),
])
def test_the_allow_list(listed, email, admitted):
    assert auth.AllowList.parse(listed).admits(email) is admitted


def test_without_oidc_settings_there_is_no_auth_section():
    assert auth.secrets_toml({"LIVEINSIGHT_DASHBOARD_URL": "https://dashboard.example.com"}) is None


def test_the_settings_become_streamlits_auth_section_with_the_callback_address():
    section = tomllib.loads(auth.secrets_toml(AUTH_ENV))["auth"]
    assert section == {"server_metadata_url": AUTH_SECTION["server_metadata_url"],
                       "client_id": "liveinsight-dashboard", "client_secret": 'se"cr\\et', "cookie_secret": "c" * 32,
                       "redirect_uri": "https://dashboard.example.com/oauth2callback"}


@pytest.mark.parametrize(("change", "named"), [
    pytest.param({"LIVEINSIGHT_OIDC_CLIENT_SECRET": ""}, "LIVEINSIGHT_OIDC_CLIENT_SECRET is not set", id="missing"),
    pytest.param({"LIVEINSIGHT_DASHBOARD_URL": ""}, "LIVEINSIGHT_DASHBOARD_URL is not set", id="no-address"),
    pytest.param({"LIVEINSIGHT_DASHBOARD_URL": "dashboard.example.com"}, "must be an http(s) address",
                 id="address-without-scheme"),
    pytest.param({"LIVEINSIGHT_AUTH_COOKIE_SECRET": "short"}, "at least 32 random characters", id="short-cookie"),
    pytest.param({"LIVEINSIGHT_OIDC_METADATA_URL": "login.example.com"}, "LIVEINSIGHT_OIDC_METADATA_URL must be",
                 id="metadata-not-a-url"),
])
def test_half_set_up_sign_in_is_refused_naming_the_setting(change, named):
    with pytest.raises(ValueError, match="sign-in is half set up") as refused:
        auth.secrets_toml({**AUTH_ENV, **change})
    assert named in str(refused.value)


def test_the_dashboard_command_refuses_to_start_half_set_up(monkeypatch, capsys):
    for name, value in {**AUTH_ENV, "LIVEINSIGHT_OIDC_CLIENT_ID": ""}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["dashboard", "--port", "0"]) == 2
    assert "LIVEINSIGHT_OIDC_CLIENT_ID is not set" in capsys.readouterr().err


def test_the_dashboard_command_is_streamlit_on_the_router_with_the_sign_in_secrets_last(tmp_path):
    command = cli.dashboard_command("0.0.0.0", 8501, tmp_path / "secrets.toml")
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("dashboard.py")
    assert command[command.index("--server.address") + 1] == "0.0.0.0"
    files = [command[i + 1] for i, part in enumerate(command) if part == "--secrets.files"]
    assert files[-1] == str(tmp_path / "secrets.toml")
    assert "--secrets.files" not in cli.dashboard_command("127.0.0.1", 8501)
