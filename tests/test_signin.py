"""Sign-in to the team's dashboard, end to end in headless Chromium against a local OpenID provider.

GIVEN the API (`serve --api-key`), an OpenID provider (oidc-provider-mock, in a thread) and the
dashboard started as its container starts it (`python -m liveinsight dashboard` with the
LIVEINSIGHT_OIDC_* settings and an allow-list), a person from an allowed domain signs in, sees the
Overview with their name and a sign-out button, downloads a CSV and signs out; a person from another
domain is refused; a share link opens its view without signing in. Everything Chromium receives —
pages, responses, websocket frames, downloads — is captured and must never hold the API key.
The allowed user also saves a view for the team and opens it by its link. Screenshots of the sign-in
page, the refusal page, the signed-in sidebar and the saved views go to docs/screenshots/.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import CHROME, CHROMIUM, CHROMIUM_ARGS
from test_browser import SCREENSHOTS, free_port

playwright_sync = pytest.importorskip("playwright.sync_api")
oidc_provider_mock = pytest.importorskip("oidc_provider_mock")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")

ROOT = Path(__file__).resolve().parent.parent
SITE = "shop.example.com"
ALLOWED = oidc_provider_mock.User(sub="ana@example.com",
                                  claims={"email": "ana@example.com", "email_verified": True, "name": "Ana Analyst"})
OUTSIDER = oidc_provider_mock.User(sub="eve@elsewhere.org",
                                   claims={"email": "eve@elsewhere.org", "email_verified": True, "name": "Eve"})
READY_SECONDS = 60
TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 900}
# Distinctive, so any copy of it in what the browser receives is found.
API_KEY = "lk-test-" + secrets.token_hex(16)


def wait_for_http(url: str, process: subprocess.Popen, seconds: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {seconds} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post_events(api: str, count: int = 30) -> None:
    now = time.time()
    events = [{"event_type": "page_view", "session_id": f"s{i % 7}", "timestamp": now - 60 * i,
               "page_url": f"https://{SITE}/{('pricing', 'docs', '')[i % 3]}"} for i in range(count)]
    request = urllib.request.Request(f"{api}/api/events", data=json.dumps({"events": events}).encode(),
                                     headers={"Content-Type": "application/json", "User-Agent": CHROME}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["data"]["accepted"] == count


@pytest.fixture(scope="module")
def team_dashboard(tmp_path_factory):
    """GIVEN the API with a key and demo events, an OpenID provider, and the dashboard behind sign-in."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEINSIGHT_")}
    share_secret = secrets.token_urlsafe(32)
    api_port, dashboard_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    logs = tmp_path_factory.mktemp("signin")
    with oidc_provider_mock.run_server_in_thread(user_claims=[ALLOWED, OUTSIDER]) as provider:
        server = subprocess.Popen(
            [sys.executable, "-m", "liveinsight", "serve", "--port", str(api_port), "--api-key", API_KEY], cwd=ROOT,
            env={**env, "LIVEINSIGHT_SHARE_SECRET": share_secret},
            stdout=(logs / "api.log").open("w"), stderr=subprocess.STDOUT)
        dashboard_url = f"http://localhost:{dashboard_port}"
        dashboard = subprocess.Popen(
            [sys.executable, "-m", "liveinsight", "dashboard", "--port", str(dashboard_port)], cwd=ROOT,
            env={**env, "LIVEINSIGHT_API_URL": api, "LIVEINSIGHT_API_KEY": API_KEY,
                 "LIVEINSIGHT_OIDC_METADATA_URL":
                     f"http://localhost:{provider.server_port}/.well-known/openid-configuration",
                 "LIVEINSIGHT_OIDC_CLIENT_ID": "liveinsight-dashboard",
                 "LIVEINSIGHT_OIDC_CLIENT_SECRET": secrets.token_urlsafe(24),
                 "LIVEINSIGHT_AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),
                 "LIVEINSIGHT_DASHBOARD_URL": dashboard_url,
                 "LIVEINSIGHT_ALLOWED_USERS": "example.com, boss@partner.org"},
            stdout=(logs / "dashboard.log").open("w"), stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"{api}/tracker.js", server)
            post_events(api)
            wait_for_http(f"{dashboard_url}/_stcore/health", dashboard)
            yield {"url": dashboard_url, "share_secret": share_secret, "logs": logs}
        finally:
            stop(dashboard)
            stop(server)


class Received:
    """Everything one browser context receives: documents and responses, websocket frames, downloads."""

    def __init__(self, context) -> None:
        self.chunks: list[tuple[str, bytes]] = []
        context.on("response", self._response)
        context.on("page", self._page)

    def _page(self, page) -> None:
        page.on("websocket", self._websocket)

    def _websocket(self, ws) -> None:
        for event in ("framereceived", "framesent"):
            ws.on(event, lambda payload, url=ws.url: self.add(f"websocket {url}", payload))

    def _response(self, response) -> None:
        try:
            self.add(f"response {response.url}", response.body())
        except Exception:  # Redirects and aborted requests have no body.
            pass

    def add(self, where: str, payload: str | bytes) -> None:
        self.chunks.append((where, payload.encode() if isinstance(payload, str) else payload))

    def holding(self, secret: str) -> list[str]:
        """Where `secret` was received, plain or base64-encoded."""
        forms = [secret.encode(), base64.b64encode(secret.encode()), base64.urlsafe_b64encode(secret.encode())]
        return [where for where, payload in self.chunks if any(form in payload for form in forms)]


def settled(page) -> None:
    """Wait until Streamlit has finished the script run."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"] button')"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)


def sign_in(page, url: str, user) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    # The provider's page: pick the user (an identity provider's own sign-in form stands here).
    page.get_by_role("button", name=user.sub).click(timeout=TIMEOUT_MS)
    page.wait_for_url(f"{url}/**", timeout=TIMEOUT_MS)
    settled(page)


@pytest.fixture
def browser():
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_an_allowed_user_signs_in_sees_the_dashboard_and_signs_out(team_dashboard, browser):
    url = team_dashboard["url"]
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    received = Received(context)
    page = context.new_page()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # WHEN someone opens the team's address without being signed in
    page.goto(url)
    page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
    settled(page)
    # THEN they see the sign-in page, and nothing of the data or the menu
    assert page.locator("h1", has_text="LiveInsight").count() == 1
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert page.locator('[data-testid="stPageLink-NavLink"]').count() == 0
    page.screenshot(path=str(SCREENSHOTS / "sign-in.png"))

    # WHEN a person from an allowed domain signs in with the provider
    sign_in(page, url, ALLOWED)
    # THEN the Overview shows, with their name and a sign-out button in the sidebar
    page.locator("h1", has_text="Overview").wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=TIMEOUT_MS)
    settled(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "Ana Analyst" in sidebar.inner_text()
    assert "ana@example.com" in sidebar.inner_text()
    assert sidebar.get_by_role("button", name="Sign out").is_visible()
    assert "API unreachable" not in page.inner_text("body") and "API key" not in page.inner_text("body")
    page.screenshot(path=str(SCREENSHOTS / "signed-in.png"))

    # WHEN they download a table as CSV
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").first.click()
    download = Path(download_info.value.path()).read_bytes()
    received.add("download", download)
    assert b"page" in download and b"/pricing" in download  # The real table, not an error.

    # WHEN they save the last week's view for the team, and later open its link
    page.goto(f"{url}/?period=7d")
    settled(page)
    sidebar.get_by_text("Save the current view").click()
    sidebar.get_by_label("Name").fill("Last week, whole site")
    sidebar.get_by_role("button", name="Save view").click()
    link = sidebar.locator('[data-testid="stCode"]').first
    link.wait_for(timeout=TIMEOUT_MS)
    assert link.inner_text().strip() == f"{url}/?view=Last%20week%2C%20whole%20site"
    settled(page)
    sidebar.locator('[data-testid="stCode"]').first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "saved-views.png"))
    page.goto(url)
    settled(page)
    page.locator("h1", has_text="Overview").wait_for(timeout=TIMEOUT_MS)
    assert "Last 24 hours" in page.locator('[data-testid="stMain"]').inner_text()
    page.goto(f"{url}/?view=Last%20week%2C%20whole%20site")
    page.locator("h1", has_text="Overview").wait_for(timeout=TIMEOUT_MS)
    settled(page)
    # THEN the view opens with its period
    assert "Last 7 days" in page.locator('[data-testid="stMain"]').inner_text()
    assert "view=" not in page.url and "period=7d" in page.url
    # AND look at another page
    page.locator('[data-testid="stPageLink-NavLink"]', has_text="Realtime").click()
    page.locator("h1", has_text="Realtime").wait_for(timeout=TIMEOUT_MS)
    settled(page)
    received.add("page html", page.content())

    # WHEN they sign out
    sidebar.get_by_role("button", name="Sign out").click()
    end_session = page.get_by_role("button", name="End session")  # The provider asks to confirm.
    end_session.or_(page.get_by_role("button", name="Sign in")).first.wait_for(timeout=TIMEOUT_MS)
    if end_session.is_visible():
        end_session.click()
    # THEN the sign-in page is back, and reloading does not bring the dashboard back
    page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
    settled(page)
    assert page.locator('[data-testid="stMetric"]').count() == 0

    # AND the API key was never in anything the browser received
    assert len(received.chunks) > 20 and any(where.startswith("websocket") for where, _ in received.chunks)
    assert received.holding(API_KEY) == []
    context.close()


def test_a_user_outside_the_allow_list_is_refused(team_dashboard, browser):
    url = team_dashboard["url"]
    context = browser.new_context(viewport=VIEWPORT)
    received = Received(context)
    page = context.new_page()

    # WHEN someone whose domain is not on the allow-list signs in
    sign_in(page, url, OUTSIDER)
    # THEN they see the refusal page naming their address, no data, no menu, and can sign out
    page.locator("h1", has_text="This dashboard is not open to you").wait_for(timeout=TIMEOUT_MS)
    settled(page)
    body = page.inner_text("body")
    assert "eve@elsewhere.org" in body
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert page.locator('[data-testid="stPageLink-NavLink"]').count() == 0
    assert page.get_by_role("button", name="Sign out").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "refused.png"))

    # WHEN they try a page's address directly
    page.goto(f"{url}/realtime")
    page.locator("h1", has_text="This dashboard is not open to you").wait_for(timeout=TIMEOUT_MS)
    settled(page)
    # THEN they are still refused
    assert page.locator("h1", has_text="Realtime").count() == 0
    assert received.holding(API_KEY) == []
    context.close()


def test_a_share_link_opens_its_view_without_signing_in_and_without_the_key(team_dashboard, browser):
    from liveinsight import share

    token = share.mint(team_dashboard["share_secret"], SITE, time.time() + 3600, page="/pricing")
    context = browser.new_context(viewport=VIEWPORT)
    received = Received(context)
    page = context.new_page()

    # WHEN someone who never signed in opens a share link
    page.goto(f"{team_dashboard['url']}/?share={token}")
    # THEN the shared view shows its site and page, read-only, without a sign-in page
    page.locator("h1", has_text="Overview").wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=TIMEOUT_MS)
    settled(page)
    body = page.inner_text("body")
    assert f"Shared view of {SITE}" in body and "page /pricing" in body
    assert page.get_by_role("button", name="Sign in").count() == 0
    assert "Signed in as" not in body
    assert received.holding(API_KEY) == []
    context.close()
