"""The Locations page's world map in a real headless Chromium that may reach no host but this machine.

plotly.js fetches a map's shapes (topojson) from its CDN unless told otherwise; the dashboard
serves its own copy (static/topojson/). The dashboard runs against a fake API (tests/fakes.py's
answers over HTTP), so the map has countries to shade whatever the backend's state; every
request Chromium makes to another host is refused and recorded.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS, free_port
from tests import fakes

playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}
READY_SECONDS = 60
RENDER_TIMEOUT_MS = 60_000
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# plotly.js draws each shaded country as one path of this class, and the land from the topojson.
SHADED_COUNTRY = ".js-plotly-plot .geo path.choroplethlocation"
LAND = ".js-plotly-plot .geo .layer.land path"
# Streamlit draws dashboard.py's page_icon (a Material symbol) as the tab's icon from Google's font
# host; offline the tab has no icon, which is all that request is for.
PAGE_ICON = "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")


class FakeApi(BaseHTTPRequestHandler):
    """GET /api/stats, /api/realtime and /api/views answered with tests/fakes.py's payloads."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = urllib.parse.urlsplit(self.path).path
        data = {"/api/stats": lambda: fakes.stats_payload(previous_totals=fakes.PREVIOUS_TOTALS),
                "/api/realtime": fakes.realtime_payload, "/api/views": lambda: {"views": []}}.get(path)
        body = json.dumps({"status": "success", "data": data()} if data else {"message": "not found"}).encode()
        self.send_response(200 if data else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def dashboard_on_fake_api():
    """GIVEN the dashboard (`streamlit run dashboard.py`, as `up` starts it) reading a fake API."""
    from liveinsight.cli import dashboard_command

    api = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEINSIGHT_")}
    env["LIVEINSIGHT_API_URL"] = f"http://127.0.0.1:{api.server_address[1]}"
    process = subprocess.Popen(dashboard_command("127.0.0.1", port), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"the dashboard did not answer within {READY_SECONDS} s")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        api.shutdown()


def test_the_locations_map_draws_its_countries_with_no_host_but_this_one(dashboard_on_fake_api):
    url = dashboard_on_fake_api
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    refused: list[str] = []

    def local_only(route) -> None:
        if urllib.parse.urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.route("**/*", local_only)
            page = context.new_page()
            # WHEN a person opens the Locations page on a machine without internet access
            page.goto(f"{url}/locations")
            page.locator("h1", has_text="Locations").first.wait_for(timeout=RENDER_TIMEOUT_MS)
            # THEN the map draws the world's land and shades every country the API named (Unknown has no shape)
            page.locator(SHADED_COUNTRY).first.wait_for(timeout=RENDER_TIMEOUT_MS)
            known = [row for row in fakes.stats_payload()["countries"] if row["country"] != "Unknown"]
            assert page.locator(SHADED_COUNTRY).count() == len(known)
            assert page.locator(LAND).count() > 0
            # AND nothing was fetched from anywhere else (plotly's CDN included), but the browser tab's icon
            assert [request for request in refused if not request.startswith(PAGE_ICON)] == []
            # AND the tables name the countries and regions
            page.wait_for_timeout(1500)  # plotly lays out after the run; let the map settle
            main = page.locator('[data-testid="stMain"]')
            assert "Countries" in main.inner_text() and "Regions" in main.inner_text()
            height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], int(height))})
            page.wait_for_timeout(800)
            page.screenshot(path=str(SCREENSHOTS / "locations.png"), full_page=True)
        finally:
            browser.close()
