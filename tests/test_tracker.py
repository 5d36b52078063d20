"""The tracking script (liveinsight/static/tracker.js), measured in a real headless Chromium.

Capture tests point the tracker at a tiny recording server and check exactly what it
sends; the end-to-end test points it at `python -m liveinsight serve` and reads the
result back from GET /api/stats.
"""
from __future__ import annotations

import gzip
import html
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS

playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
SITE_DIR = Path(__file__).resolve().parent / "site"
TRACKER_BUILD = ROOT / "liveinsight" / "static" / "tracker.js"
TRACKER_SOURCE = ROOT / "tracker" / "tracker.js"
MAX_GZIP_BYTES = 2048
HACKER_NEWS = "https://news.ycombinator.com/"
ACCEPTED = {"status": "success", "data": {"accepted": 1, "duplicates": 0, "filtered": 0, "rejected": []}}
TRACKER_PLACEHOLDER = "<!-- tracker -->"
DESKTOP_CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
)

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
)


# --- servers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_in_thread(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def origin_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


class CaptureHandler(BaseHTTPRequestHandler):
    """Plays the collect API: records every POST /api/events and serves /tracker.js.

    `statuses` lists the answers to give to the next POSTs (503, 429, …, or (429, "5") to add
    `Retry-After: 5`); then 200. Retry-After is exposed to cross-origin scripts, as an API must
    for the tracker to see it.
    """

    records: list[dict] = []  # replaced per server
    statuses: list[int] = []

    def log_message(self, *args):
        pass

    def _cors(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Expose-Headers", "Retry-After")

    def do_OPTIONS(self):
        self.records.append({"method": "OPTIONS", "path": self.path})
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_GET(self):
        if self.path.split("?")[0] != "/tracker.js":
            self.send_error(404)
            return
        body = TRACKER_BUILD.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = self.statuses.pop(0) if self.statuses else 200
        status, retry_after = status if isinstance(status, tuple) else (status, None)
        self.records.append(
            {
                "method": "POST",
                "path": self.path,
                "content_type": self.headers.get("Content-Type", ""),
                "cookie": self.headers.get("Cookie"),
                "mode": self.headers.get("Sec-Fetch-Mode"),  # cors for fetch(), no-cors for a text/plain beacon
                "body": json.loads(raw),
                "status": status,
                "at": time.monotonic(),
            }
        )
        payload = json.dumps(ACCEPTED if status == 200 else {"status": "error", "message": "busy"}).encode()
        self.send_response(status)
        self._cors()
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class CaptureServer:
    """A recording stand-in for POST /api/events, with helpers to wait for events."""

    def __init__(self):
        handler = type("Handler", (CaptureHandler,), {"records": [], "statuses": []})
        self.records = handler.records
        self.statuses = handler.statuses
        self.server = serve_in_thread(handler)
        self.origin = origin_of(self.server)

    @property
    def posts(self) -> list[dict]:
        """Every POST that was answered 200 (refused attempts are in `records`)."""
        return [r for r in self.records if r["method"] == "POST" and r["status"] == 200]

    @property
    def all_events(self) -> list[dict]:
        """The events accepted, in order (a retried batch counts each of its events)."""
        return [e for r in self.posts for e in (r["body"]["events"] if "events" in r["body"] else [r["body"]])]

    @property
    def events(self) -> list[dict]:
        """The events accepted but `engagement`, which the tracker sends whenever a page is hidden
        or left after a second of use: tests of other events need not count it
        (tests/test_tracker_auto.py tests it)."""
        return [e for e in self.all_events if e["event_type"] != "engagement"]

    def wait_for_events(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.events) >= count, f"expected {count} events, got {self.events}"
        return self.events

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SiteHandler(BaseHTTPRequestHandler):
    """Serves tests/site/, putting the configured <script> tag where `<!-- tracker -->` is."""

    script_tag = ""  # set per test through Site.use()

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0].split("#")[0]
        if path == "/tracker.js":
            body, content_type = TRACKER_BUILD.read_bytes(), "text/javascript; charset=utf-8"
        else:
            page = (SITE_DIR / ("index.html" if path == "/" else path.lstrip("/"))).resolve()
            if page.parent != SITE_DIR or not page.is_file():
                self.send_error(404)
                return
            text = page.read_text().replace(TRACKER_PLACEHOLDER, type(self).script_tag)
            body, content_type = text.encode(), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Site:
    """The local test site on 127.0.0.1 (so positive tests need data-allow-localhost)."""

    def __init__(self):
        self.handler = type("Handler", (SiteHandler,), {"script_tag": ""})
        self.server = serve_in_thread(self.handler)
        self.origin = origin_of(self.server)

    def use(self, src: str | None = None, **attributes: str | bool) -> None:
        """Configure the tracker tag; `data_api="…"` becomes `data-api="…"`, True a bare attribute."""
        parts = [f'<script defer src="{html.escape(src or self.origin + "/tracker.js")}"']
        for name, value in attributes.items():
            name = name.replace("_", "-")
            if value is True:
                parts.append(name)
            elif value:
                parts.append(f'{name}="{html.escape(value)}"')
        self.handler.script_tag = " ".join(parts) + "></script>"

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def playwright():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with playwright_sync.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def capture():
    server = CaptureServer()
    yield server
    server.close()


@pytest.fixture
def site():
    server = Site()
    yield server
    server.close()


@pytest.fixture
def tracked_site(site, capture):
    """The test site with the tracker opted in on 127.0.0.1 and posting to the capture server."""
    site.use(data_api=capture.origin, data_allow_localhost=True)
    return site


def settle(page, seconds: float = 0.5) -> None:
    """Give the browser time to send anything it was going to send."""
    page.wait_for_timeout(seconds * 1000)


# --- the build -----------------------------------------------------------------------


def test_build_is_within_the_gzip_budget():
    size = len(gzip.compress(TRACKER_BUILD.read_bytes(), compresslevel=9))
    assert size <= MAX_GZIP_BYTES, f"tracker.js is {size} bytes gzipped"


def test_build_contains_the_public_api():
    code = TRACKER_BUILD.read_text()
    for needle in ("liveinsight", "/api/events", "keepalive", "data-api", "sent_at", "liveinsight_ignore",
                   "data-hash", "online", "pagehide", "sendBeacon", "data-persist-queue", "timeZone", "Retry-After",
                   "data-outbound", "data-downloads", "data-404", "auxclick", "visibilitychange", "engaged_seconds",
                   "scroll_depth"):
        assert needle in code
    assert "document.cookie" not in code and "session_id" not in code
    assert code.count("setItem") == 1, "the one write to storage: the opt-in persistent queue"


@pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "tracker" / "node_modules" / "terser").is_dir(),
    reason="needs node and `npm ci` in tracker/",
)
def test_committed_build_is_up_to_date(tmp_path):
    committed = TRACKER_BUILD.read_bytes()
    try:
        subprocess.run(["npm", "run", "--silent", "build"], cwd=ROOT / "tracker", check=True, capture_output=True)
        assert TRACKER_BUILD.read_bytes() == committed, "run `cd tracker && npm run build` and commit the result"
    finally:
        TRACKER_BUILD.write_bytes(committed)


# --- what the tracker sends ----------------------------------------------------------


@needs_chromium
def test_page_view_on_load_has_the_contract_fields(browser, tracked_site, capture):
    context = browser.new_context(timezone_id="America/Sao_Paulo")
    page = context.new_page()
    page.goto(tracked_site.url("/index.html"), referer=HACKER_NEWS)

    [event] = capture.wait_for_events(1)
    post = capture.posts[0]
    assert post["path"] == "/api/events"
    assert post["content_type"].startswith("text/plain")
    assert event["event_type"] == "page_view"
    assert event["page_url"] == tracked_site.url("/index.html")
    assert event["referrer"] == HACKER_NEWS
    assert abs(event["timestamp"] - time.time() * 1000) < 60_000, "timestamp is in milliseconds"
    assert 0 <= event["sent_at"] - event["timestamp"] < 5_000, "sent_at: this device's clock at sending"
    assert len(event["event_id"]) == 36  # crypto.randomUUID on a secure context
    assert event["tz"] == "America/Sao_Paulo", "the browser's IANA time zone, for the country"
    assert "session_id" not in event, "no identifier: the server derives the visitor's"
    assert "props" not in event
    settle(page)
    assert [r["method"] for r in capture.records] == ["POST"], "a text/plain body needs no preflight"
    assert post["cookie"] is None
    assert context.cookies() == []
    assert page.evaluate("document.cookie") == ""
    context.close()


@needs_chromium
def test_the_referrer_is_sent_with_the_landing_page_view_only(page, tracked_site, capture):
    # GIVEN a visitor arriving from Hacker News
    page.goto(tracked_site.url("/index.html"), referer=HACKER_NEWS)
    capture.wait_for_events(1)
    # WHEN they open a second page, then navigate inside the single-page app
    page.click("#to-app")
    capture.wait_for_events(2)
    page.click("#to-settings")
    landing, second, third = capture.wait_for_events(3)
    # THEN only the landing carries the referrer: later views' referrer is this site itself
    assert landing["referrer"] == HACKER_NEWS
    assert second["page_url"] == tracked_site.url("/app.html") and "referrer" not in second
    assert third["page_url"] == tracked_site.url("/app/settings") and "referrer" not in third
    assert len({e["event_id"] for e in (landing, second, third)}) == 3


@needs_chromium
def test_single_page_app_navigation(page, tracked_site, capture):
    page.goto(tracked_site.url("/app.html"))
    capture.wait_for_events(1)

    page.click("#to-settings")
    capture.wait_for_events(2)
    page.evaluate("history.replaceState({tab: 2}, '', '/app/settings?tab=2')")  # same path
    page.evaluate("history.pushState({}, '', '/app/settings#billing')")  # same path
    settle(page)
    assert len(capture.events) == 2, "no page view when the path did not change"

    page.evaluate("history.replaceState({}, '', '/app/profile')")
    capture.wait_for_events(3)
    page.go_back()  # popstate back to /app/settings
    events = capture.wait_for_events(4)

    paths = [e["page_url"].removeprefix(tracked_site.origin) for e in events]
    assert paths == ["/app.html", "/app/settings", "/app/profile", "/app/settings?tab=2"]
    assert {e["event_type"] for e in events} == {"page_view"}


@needs_chromium
def test_custom_event_with_props(page, tracked_site, capture):
    page.goto(tracked_site.url("/app.html"))
    capture.wait_for_events(1)
    page.click("#signup")
    _, event = capture.wait_for_events(2)

    assert event["event_type"] == "signup"
    assert event["props"] == {"plan": "pro", "seats": 3}
    assert event["page_url"] == tracked_site.url("/app.html")
    assert "referrer" not in event and "session_id" not in event


@needs_chromium
def test_calls_queued_before_load_are_sent(page, tracked_site, capture):
    page.goto(tracked_site.url("/queued.html"))
    capture.wait_for_events(3)
    settle(page)

    # Each event is its own beacon, so they may reach the server in any order.
    by_type = {e["event_type"]: e for e in capture.events}
    assert len(capture.events) == 3
    assert set(by_type) == {"page_view", "early_bird", "second_early"}
    assert by_type["early_bird"]["props"] == {"source": "inline"}
    assert "props" not in by_type["second_early"]
    assert by_type["page_view"]["timestamp"] <= by_type["early_bird"]["timestamp"]
    assert page.evaluate("typeof window.liveinsight.q") == "undefined", "the stub was replaced"


@needs_chromium
def test_api_defaults_to_the_script_origin(page, site, capture):
    site.use(src=capture.origin + "/tracker.js", data_allow_localhost=True)
    page.goto(site.url("/index.html"))
    [event] = capture.wait_for_events(1)
    assert event["page_url"] == site.url("/index.html")


@needs_chromium
def test_posts_with_fetch_so_a_refusal_can_be_seen(page, tracked_site, capture):
    fetches = []
    page.on("request", lambda r: fetches.append(r) if r.resource_type == "fetch" else None)
    page.goto(tracked_site.url("/index.html"))

    [event] = capture.wait_for_events(1)
    assert event["event_type"] == "page_view"
    assert capture.posts[0]["content_type"].startswith("text/plain")
    assert len(fetches) == 1 and fetches[0].method == "POST"
    settle(page)
    assert [r["method"] for r in capture.records] == ["POST"]


@needs_chromium
def test_tracks_a_real_hostname_without_opt_in(playwright, capture, site):
    # GIVEN the test site reached as http://shop.test (a plain, insecure public-looking
    # origin: no localhost opt-in needed, and no crypto.randomUUID there)
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS + ["--host-resolver-rules=MAP shop.test 127.0.0.1"],
    )
    try:
        site.use(data_api=capture.origin)
        page = browser.new_page()
        port = site.server.server_address[1]
        # WHEN a visitor loads a page and fires an event
        page.goto(f"http://shop.test:{port}/app.html")
        assert page.evaluate("typeof crypto.randomUUID") == "undefined"
        page.click("#signup")
        # THEN both are sent, with fallback ids that are still unique
        view, signup = sorted(capture.wait_for_events(2), key=lambda e: e["event_type"] != "page_view")
    finally:
        browser.close()
    assert view["page_url"] == f"http://shop.test:{port}/app.html"
    assert signup["event_type"] == "signup"
    ids = {view["event_id"], signup["event_id"]}
    assert len(ids) == 2 and all(0 < len(i) <= 64 for i in ids)


# --- delivery: refusals, offline, wrong clocks, odd loaders --------------------------

FAST_CLOCK = "(() => { const now = Date.now; Date.now = () => now() + 10 * 60 * 1000; })();"


STORAGE = """async () => ({
    cookie: document.cookie,
    localStorage: Object.keys(localStorage),
    sessionStorage: Object.keys(sessionStorage),
    indexedDB: (await indexedDB.databases()).map(d => d.name),
    caches: await caches.keys(),
})"""
NOTHING_STORED = {"cookie": "", "localStorage": [], "sessionStorage": [], "indexedDB": [], "caches": []}


def persisted(page) -> list[dict]:
    return page.evaluate("JSON.parse(sessionStorage.getItem('liveinsight_queue') || '[]')")


def count_failed_posts(page) -> list[str]:
    """The event POSTs that failed at the network level (offline), as they fail."""
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url) if r.method == "POST" else None)
    return failed


def wait_until(page, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


@needs_chromium
def test_nothing_is_stored_on_the_device(context, tracked_site, capture):
    page = context.new_page()
    # GIVEN a visitor who views two pages, navigates inside the app and signs up,
    page.goto(tracked_site.url("/index.html"), referer=HACKER_NEWS)
    capture.wait_for_events(1)
    page.click("#to-app")
    capture.wait_for_events(2)
    page.click("#to-settings")
    capture.wait_for_events(3)
    # WHEN a send is refused and retried, and a second tab of the site is opened
    capture.statuses.append(503)
    page.click("#signup")
    capture.wait_for_events(4)
    other = context.new_page()
    other.goto(tracked_site.url("/index.html"))
    capture.wait_for_events(5)
    settle(page)
    # THEN no cookie, localStorage, sessionStorage, IndexedDB or cache entry exists on the device
    for tab in (page, other):
        assert tab.evaluate(STORAGE) == NOTHING_STORED
    assert context.cookies() == [] and context.storage_state()["origins"] == []
    assert all("session_id" not in e for e in capture.events)


@needs_chromium
def test_a_refused_event_is_retried_from_memory_until_accepted(page, tracked_site, capture):
    # GIVEN an API that answers 503, then 429, then accepts
    capture.statuses.extend([503, 429])
    # WHEN a page is viewed
    page.goto(tracked_site.url("/index.html"))
    # THEN the page view is retried with backoff (1 s, then 2 s) and arrives once, the same event
    [event] = capture.wait_for_events(1, timeout=10)
    attempts = [r for r in capture.records if r["method"] == "POST"]
    assert [r["status"] for r in attempts] == [503, 429, 200]
    assert len({r["body"]["event_id"] for r in attempts}) == 1
    assert attempts[-1]["body"]["sent_at"] - attempts[0]["body"]["sent_at"] >= 2500, "it backed off"
    assert event["timestamp"] == attempts[0]["body"]["timestamp"], "the event keeps the time it happened"
    settle(page)
    assert page.evaluate(STORAGE) == NOTHING_STORED, "the queue was in memory"


@needs_chromium
def test_retry_after_is_honoured(page, tracked_site, capture):
    # GIVEN an API that is throttled and says to come back in 4 s (the backoff's first step is 1 s)
    capture.statuses.append((429, "4"))
    # WHEN a page is viewed
    page.goto(tracked_site.url("/index.html"))
    # THEN the page view is sent again no sooner than the API asked
    capture.wait_for_events(1, timeout=10)
    refused, accepted = [r for r in capture.records if r["method"] == "POST"]
    assert (refused["status"], accepted["status"]) == (429, 200)
    assert accepted["at"] - refused["at"] >= 3.9
    assert accepted["body"]["event_id"] == refused["body"]["event_id"]


@needs_chromium
def test_refused_events_are_sent_with_a_beacon_when_the_page_is_left(page, tracked_site, capture):
    # GIVEN a page view refused with a retry due in a minute
    capture.statuses.append((503, "60"))
    with page.expect_response(lambda r: r.request.method == "POST" and r.status == 503):
        page.goto(tracked_site.url("/index.html"))
    settle(page, 0.3)  # the tracker reads the answer and queues the event
    # WHEN the visitor leaves the page
    page.goto("about:blank")
    # THEN the page view leaves with it, in a beacon, and nothing is kept on the device
    [event] = capture.wait_for_events(1, timeout=5)
    assert event["event_id"] == capture.records[0]["body"]["event_id"] and event["page_url"].endswith("/index.html")
    [refused, beacon] = [r for r in capture.records if r["body"].get("event_type") != "engagement"]
    assert (refused["mode"], beacon["mode"]) == ("cors", "no-cors"), "a fetch, then a beacon"
    assert beacon["content_type"].startswith("text/plain")


@needs_chromium
def test_the_queue_outlives_a_reload_only_with_data_persist_queue(page, site, capture):
    # GIVEN a site that has its visitors' consent and opts in to the persistent queue,
    site.use(data_api=capture.origin, data_allow_localhost=True, data_persist_queue=True)
    # and an API that refuses the page view (next try in a minute) and the beacon sent on leaving
    capture.statuses.extend([(503, "60"), 503])
    page.goto(site.url("/index.html"))
    page.wait_for_function("JSON.parse(sessionStorage.getItem('liveinsight_queue') || '[]').length == 1")
    [refused] = persisted(page)
    # WHEN the visitor reloads the page
    page.reload()
    # THEN the new page sends the first page view as well as its own, and its queue empties
    wait_until(page, lambda: refused["event_id"] in {e["event_id"] for e in capture.events})
    capture.wait_for_events(2)
    settle(page, 1.0)
    assert len({e["event_id"] for e in capture.events}) == 2
    assert page.evaluate(STORAGE) == NOTHING_STORED, "an empty queue leaves nothing behind"


@needs_chromium
def test_events_made_offline_are_sent_when_back_online(context, tracked_site, capture):
    page = context.new_page()
    page.goto(tracked_site.url("/app.html"))
    capture.wait_for_events(1)
    failed = count_failed_posts(page)
    # GIVEN a visitor who goes offline and signs up
    context.set_offline(True)
    page.click("#signup")
    wait_until(page, lambda: len(failed) >= 1)
    assert len(capture.events) == 1
    # WHEN the connection comes back
    context.set_offline(False)
    # THEN the sign-up is delivered at once (not at the next backoff step)
    _, signup = capture.wait_for_events(2, timeout=3)
    assert signup["event_type"] == "signup" and signup["sent_at"] > signup["timestamp"]


@needs_chromium
def test_the_retry_queue_is_bounded(context, tracked_site, capture):
    page = context.new_page()
    page.goto(tracked_site.url("/app.html"))
    capture.wait_for_events(1)
    failed = count_failed_posts(page)
    context.set_offline(True)
    page.evaluate("for (let i = 0; i < 50; i++) liveinsight('click_' + i)")
    wait_until(page, lambda: len(failed) >= 50)
    settle(page, 0.5)
    context.set_offline(False)
    capture.wait_for_events(31, timeout=10)
    settle(page, 1.0)
    assert sorted(e["event_type"] for e in capture.events[1:]) == sorted(f"click_{i}" for i in range(20, 50)), \
        "the newest 30 are kept"


@needs_chromium
def test_a_fast_clock_is_sent_with_sent_at_so_the_server_can_correct_it(context, tracked_site, capture):
    context.add_init_script(FAST_CLOCK)
    page = context.new_page()
    page.goto(tracked_site.url("/index.html"))
    [event] = capture.wait_for_events(1)
    ahead = event["timestamp"] - time.time() * 1000
    assert 9 * 60_000 < ahead < 11 * 60_000, "the device's clock is 10 minutes fast"
    assert 0 <= event["sent_at"] - event["timestamp"] < 5_000


@needs_chromium
def test_works_when_document_current_script_is_null(page, site, capture):
    # A module script (like code run by some tag managers and loaders) has no currentScript.
    site.use(data_api=capture.origin, data_allow_localhost=True, type="module")
    page.goto(site.url("/app.html"))
    assert page.evaluate("document.currentScript") is None
    [event] = capture.wait_for_events(1)
    assert event["page_url"] == site.url("/app.html")
    page.click("#signup")
    assert capture.wait_for_events(2)[1]["event_type"] == "signup"


@needs_chromium
def test_hash_routes_are_pages_with_data_hash(page, site, capture):
    site.use(data_api=capture.origin, data_allow_localhost=True, data_hash=True)
    page.goto(site.url("/app.html#/inbox"))
    capture.wait_for_events(1)
    page.evaluate("location.hash = '#/settings'")
    capture.wait_for_events(2)
    page.evaluate("location.hash = '#/settings?tab=2'")  # same route
    settle(page)
    page.evaluate("location.hash = '#!/profile'")
    events = capture.wait_for_events(3)
    settle(page)
    assert [e["page_url"].removeprefix(site.origin) for e in capture.events] == [
        "/app.html/inbox", "/app.html/settings", "/app.html/profile"]


@needs_chromium
def test_without_data_hash_the_fragment_is_never_sent(page, tracked_site, capture):
    page.goto(tracked_site.url("/app.html#access_token=secret"))
    [event] = capture.wait_for_events(1)
    page.evaluate("location.hash = '#/settings'")
    settle(page)
    assert event["page_url"] == tracked_site.url("/app.html") and len(capture.events) == 1


# --- when the tracker stays silent ---------------------------------------------------


def watch_requests(page, origin: str) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.url.startswith(origin + "/api/") else None)
    return seen


@needs_chromium
def test_nothing_is_sent_on_localhost_without_opt_in(page, site, capture):
    site.use(data_api=capture.origin)
    seen = watch_requests(page, capture.origin)
    page.goto(site.url("/app.html"))
    page.click("#to-settings")
    page.click("#signup")  # the public function exists and does nothing
    settle(page, 1.0)

    assert seen == []
    assert capture.records == []


@needs_chromium
def test_localhost_hostname_is_ignored_too(page, site, capture):
    site.use(data_api=capture.origin)
    seen = watch_requests(page, capture.origin)
    page.goto(site.url("/queued.html").replace("127.0.0.1", "localhost"))
    settle(page, 1.0)
    assert seen == [] and capture.records == []


@needs_chromium
@pytest.mark.parametrize(
    "init_script",
    [
        pytest.param("Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});", id="dnt"),
        pytest.param(
            "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});", id="gpc"
        ),
    ],
)
def test_respect_dnt_sends_nothing_when_the_visitor_opts_out(context, site, capture, init_script):
    site.use(data_api=capture.origin, data_allow_localhost=True, data_respect_dnt=True)
    context.add_init_script(init_script)
    page = context.new_page()
    seen = watch_requests(page, capture.origin)
    page.goto(site.url("/queued.html"))
    page.evaluate("liveinsight('ignored')")
    settle(page, 1.0)
    assert seen == [] and capture.records == []


@needs_chromium
def test_the_owners_own_browser_opts_out_with_local_storage(context, site, capture):
    # GIVEN the site owner ran `localStorage.liveinsight_ignore = "true"` on their site
    site.use(data_api=capture.origin, data_allow_localhost=True)
    context.add_init_script("localStorage.setItem('liveinsight_ignore', 'true')")
    page = context.new_page()
    seen = watch_requests(page, capture.origin)
    # WHEN they browse it and trigger events
    page.goto(site.url("/queued.html"))
    page.evaluate("liveinsight('ignored')")
    settle(page, 1.0)
    # THEN nothing is sent, and pages still call liveinsight() without errors
    assert seen == [] and capture.records == []


@needs_chromium
def test_any_other_local_storage_value_still_tracks(context, tracked_site, capture):
    context.add_init_script("localStorage.setItem('liveinsight_ignore', 'false')")
    page = context.new_page()
    page.goto(tracked_site.url("/index.html"))
    capture.wait_for_events(1)


@needs_chromium
def test_dnt_is_ignored_without_respect_dnt(context, tracked_site, capture):
    context.add_init_script("Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});")
    page = context.new_page()
    page.goto(tracked_site.url("/index.html"))
    [event] = capture.wait_for_events(1)
    assert event["event_type"] == "page_view"


# --- end to end against `liveinsight serve` ------------------------------------------

HAS_SERVE = importlib.util.find_spec("liveinsight.__main__") is not None


def is_event_post(request, api: str) -> bool:
    """A POST of events to `api`, but not the engagement beacon sent when a page is left."""
    return request.url == api + "/api/events" and '"event_type":"engagement"' not in (request.post_data or "")


def get_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


@pytest.fixture
def liveinsight_server(tmp_path):
    """`python -m liveinsight serve` on a free port, once GET /api/stats answers."""
    port = free_port()
    # Its own embedded store and no API key, whatever this shell points at.
    isolate = {"LIVEINSIGHT_API_KEY", "AWS_ENDPOINT_URL_DYNAMODB", "EVENTS_TABLE", "SESSIONS_TABLE", "STATS_TABLE"}
    env = {k: v for k, v in os.environ.items() if k not in isolate}
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "liveinsight", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                get_json(origin + "/api/stats?period=1h", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"liveinsight serve did not come up:\n{log.read()[-4000:]}")
                time.sleep(0.25)
        yield origin
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@needs_chromium
@pytest.mark.skipif(not HAS_SERVE, reason="`python -m liveinsight serve` is not on this branch yet")
def test_visit_shows_up_in_stats(browser, site, liveinsight_server):
    # GIVEN a visitor's browser (headless Chromium's own user agent is filtered as a bot)
    # on a site that loads the tracker from `liveinsight serve` and posts to it
    context = browser.new_context(user_agent=DESKTOP_CHROME_UA)
    page = context.new_page()
    site.use(
        src=liveinsight_server + "/tracker.js", data_api=liveinsight_server, data_allow_localhost=True
    )
    posted = []
    page.on(
        "requestfinished",
        lambda r: posted.append(r) if is_event_post(r, liveinsight_server) else None,
    )

    # WHEN a visitor arrives from Hacker News, opens a second page, navigates inside the
    # single-page app, signs up and leaves
    page.goto(site.url("/index.html"), referer=HACKER_NEWS)
    page.click("#to-app")
    page.wait_for_url(site.url("/app.html"))
    page.click("#to-settings")
    page.click("#signup")
    deadline = time.monotonic() + 10
    while len(posted) < 4 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.goto("about:blank")
    context.close()

    # THEN the stats show three page views in one session, the sign-up and the source
    stats = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = get_json(liveinsight_server + "/api/stats?period=1h")["data"]
        if stats["totals"]["page_views"] >= 3 and any(
            t["event_type"] == "signup" for t in stats["event_types"]
        ):
            break
        time.sleep(0.5)
    assert stats is not None
    assert stats["bots_filtered"] == 0, stats
    assert stats["totals"]["page_views"] == 3, stats
    assert stats["totals"]["sessions"] == 1, stats
    assert {"event_type": "signup", "count": 1} in stats["event_types"], stats["event_types"]
    assert [s["source"] for s in stats["sources"]] == ["Hacker News"], stats["sources"]
    pages = {p["page"]: p["page_views"] for p in stats["pages"]}
    assert pages == {"/index.html": 1, "/app.html": 1, "/app/settings": 1}, stats["pages"]


def wait_for_stats(origin: str, done, timeout: float = 30) -> dict:
    stats: dict = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = get_json(origin + "/api/stats?period=1h")["data"]
        if done(stats):
            break
        time.sleep(0.5)
    return stats


@needs_chromium
@pytest.mark.skipif(not HAS_SERVE, reason="`python -m liveinsight serve` is not on this branch yet")
def test_two_tabs_of_one_browser_are_one_visit(browser, site, liveinsight_server):
    # GIVEN a visitor's browser on a site that posts to `liveinsight serve`
    context = browser.new_context(user_agent=DESKTOP_CHROME_UA)
    site.use(src=liveinsight_server + "/tracker.js", data_api=liveinsight_server, data_allow_localhost=True)
    answers: list[int] = []

    def watch(tab):
        tab.on("requestfinished", lambda r: answers.append(r.response().status)
               if is_event_post(r, liveinsight_server) else None)
        return tab

    # WHEN they arrive from Hacker News in one tab, then open the app in a second tab
    first = watch(context.new_page())
    first.goto(site.url("/index.html"), referer=HACKER_NEWS)
    wait_until(first, lambda: len(answers) == 1)
    second = watch(context.new_page())
    second.goto(site.url("/app.html"))
    wait_until(second, lambda: len(answers) == 2)
    storage = [tab.evaluate(STORAGE) for tab in (first, second)]
    context.close()
    # THEN both page views are counted in one visit, which came from Hacker News
    assert answers == [200, 200]
    stats = wait_for_stats(liveinsight_server, lambda s: s["totals"]["page_views"] >= 2)
    assert stats["totals"]["page_views"] == 2, stats
    assert stats["totals"]["sessions"] == 1, stats
    assert stats["totals"]["bounce_rate"] == 0, stats
    assert [s["source"] for s in stats["sources"]] == ["Hacker News"], stats["sources"]
    assert storage == [NOTHING_STORED, NOTHING_STORED]


@needs_chromium
@pytest.mark.skipif(not HAS_SERVE, reason="`python -m liveinsight serve` is not on this branch yet")
def test_a_phone_10_minutes_fast_is_counted_at_the_right_time(browser, site, liveinsight_server):
    # GIVEN a visitor whose clock is 10 minutes fast (the API accepts at most 5 min of future)
    context = browser.new_context(user_agent=DESKTOP_CHROME_UA)
    context.add_init_script(FAST_CLOCK)
    page = context.new_page()
    site.use(src=liveinsight_server + "/tracker.js", data_api=liveinsight_server, data_allow_localhost=True)
    answers = []
    page.on("requestfinished",
            lambda r: answers.append(r.response().status) if is_event_post(r, liveinsight_server) else None)
    # WHEN they view a page
    page.goto(site.url("/index.html"))
    deadline = time.monotonic() + 10
    while not answers and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    context.close()
    # THEN it is accepted and counted now, not 10 minutes from now
    assert answers == [200]
    data = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = get_json(liveinsight_server + "/api/realtime")["data"]
        if data["recent_events"]:
            break
        time.sleep(0.5)
    assert data and data["active_sessions"] == 1, data
    [recent] = data["recent_events"]
    assert abs(recent["timestamp"] - time.time()) < 60
