"""The dashboard in a real headless Chromium, served by `python -m liveinsight up --demo`.

The first test walks the whole product the way a person does: start `up`, open the URL, see the
Overview with its KPIs and a chart, visit every page through the sidebar menu (saving a
screenshot of each to docs/screenshots/), then press Ctrl-C and check nothing is left running.
The second opens `up --kiosk`'s presentation URL on a 1920×1080 screen (docs/screenshots/kiosk.png).
"""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import CHROME, CHROMIUM, CHROMIUM_ARGS
from test_serve import ctrl_c_reaches_it

playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}
UP_READY_SECONDS = 90
RENDER_TIMEOUT_MS = 60_000
# (menu label, screenshot name); the title on each page ends with the menu label.
PAGES = [("Overview", "overview"), ("Realtime", "realtime"), ("Sources", "sources"), ("Pages", "pages"),
         ("Events", "events"), ("Goals", "goals"), ("Funnels", "funnels"), ("Devices", "devices"),
         ("Locations", "locations")]
ERROR_TEXTS = ("Traceback", "Error", "Exception")
# A drawn trace: a line or bar series, a donut slice, or a map's land (a map with no country to shade has no trace).
DRAWN_TRACE = ".js-plotly-plot .main-svg g.trace, .js-plotly-plot .main-svg g.slice, .js-plotly-plot .geo .layer.land path"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren…), from `ps`."""
    rows = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    pairs = [tuple(map(int, line.split())) for line in rows.splitlines() if line.strip()]
    for child, parent in pairs:
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_for_backfill(api: str, output: str, timeout: float = 60) -> None:
    """Wait until the stats count the history up imported, so the screenshots show it all.

    up prints the Dashboard line when the import is done, but the last day's events are
    aggregated in the background for a few more seconds.
    """
    match = re.search(r"^\s+(\d+) events in", output, re.MULTILINE)
    expected = int(match.group(1)) if match else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{api}/api/stats?period=7d", timeout=10) as response:
            if json.load(response)["data"]["totals"]["events"] >= 0.95 * expected:
                return
        time.sleep(0.5)


@contextmanager
def running_up(*flags: str, demo: bool = True):
    """`liveinsight up --demo` (or without demo traffic) and `flags` on free ports, short history;
    yields (process, URL, ports, output)."""
    api_port, dashboard_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEINSIGHT_")}
    # The rollup consumer at 1 s, not the template's minute: what the tests post shows in the stats at once.
    env["LIVEINSIGHT_ROLLUP_WINDOW_SECONDS"] = "1"
    demo_flags = ["--demo", "--history-days", "7", "--visits-per-day", "400"] if demo else []
    process = subprocess.Popen(
        [sys.executable, "-m", "liveinsight", "up", "--port", str(api_port),
         "--dashboard-port", str(dashboard_port), *demo_flags, *flags],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + UP_READY_SECONDS
    url = None
    try:
        while url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                pytest.fail(f"`up --demo` printed no Dashboard line within {UP_READY_SECONDS} s:\n{''.join(output)}")
            try:
                line = lines.get(timeout=min(remaining, 1))
            except queue.Empty:
                continue
            if line.startswith("Dashboard"):
                url = line.split()[1]
        try:
            wait_for_backfill(f"http://127.0.0.1:{api_port}", "".join(output))
        except OSError as exc:
            pytest.fail(f"the API of `up --demo` stopped answering ({exc!r}; up {'exited ' + str(process.poll()) if process.poll() is not None else 'still runs'}); up printed:\n{''.join(output)}")
        yield process, url, (api_port, dashboard_port), output
    finally:
        if process.poll() is None:  # The test failed before its own Ctrl-C.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in descendants(process.pid):
                    os.kill(pid, signal.SIGKILL)
                process.kill()
                process.wait()


@pytest.fixture
def demo_stack():
    """GIVEN `liveinsight up --demo`."""
    with running_up() as stack:
        yield stack


@pytest.fixture
def kiosk_stack():
    """GIVEN `liveinsight up --demo --kiosk`."""
    with running_up("--kiosk") as stack:
        yield stack


def wait_until_rendered(page, title: str) -> None:
    """Wait for the page's title, a drawn plotly trace, and Streamlit to finish the run."""
    page.locator("h1", has_text=title).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    page.locator(DRAWN_TRACE).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] button')"  # No "Stop" = not running.
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=RENDER_TIMEOUT_MS,
    )
    page.wait_for_timeout(1000)  # Plotly lays out after the script run; let the last chart settle.


def assert_no_error(page, title: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: an exception box is shown"
    text = page.locator('[data-testid="stMain"]').inner_text()
    for word in ERROR_TEXTS:
        assert word not in text, f"{title}: {word!r} on the page:\n{text[:2000]}"


def save_full_page(page, name: str) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside stMain, so grow the viewport to fit it."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], int(height))})
    page.wait_for_timeout(800)  # Charts re-layout to the new size.
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    return path


def test_up_demo_dashboard_in_a_real_browser_then_ctrl_c_stops_everything(demo_stack):
    process, url, ports, output = demo_stack
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            # WHEN a person opens the URL `up` printed
            page.goto(url)
            # THEN the Overview shows its title, KPI tiles and a drawn chart, with the menu beside it
            wait_until_rendered(page, "Overview")
            assert page.locator('[data-testid="stMetric"]').count() >= 7
            assert page.locator(DRAWN_TRACE).count() > 0
            menu = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]')
            labels = [text.split()[-1] for text in menu.all_inner_texts()]  # "dashboard Overview": icon, title.
            assert labels == [label for label, _ in PAGES] + ["Settings"]
            # Not Streamlit's folder menu ("dashboard, devices, events, overview, …").
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0
            assert_no_error(page, "Overview")

            # AND every page opens from the menu, renders a chart and no error
            for label, name in PAGES:
                menu.filter(has_text=label).first.click()
                wait_until_rendered(page, label)
                assert_no_error(page, label)
                assert save_full_page(page, name).stat().st_size > 10_000

            # AND Settings lists the demo's page groups, goals and funnel, saying from when each counts
            menu.filter(has_text="Settings").first.click()
            page.locator("h1", has_text="Settings").first.wait_for(timeout=RENDER_TIMEOUT_MS)
            page.locator('[data-testid="stDataFrame"]').nth(2).wait_for(timeout=RENDER_TIMEOUT_MS)
            page.wait_for_timeout(1000)
            assert_no_error(page, "Settings")
            main = page.locator('[data-testid="stMain"]').inner_text()
            assert "Page groups, goals and funnels of shop.example.com" in main
            page.get_by_text("Add a goal").click()
            page.get_by_text("Revenue property (optional)").wait_for(timeout=RENDER_TIMEOUT_MS)
            assert save_full_page(page, "settings").stat().st_size > 10_000
        finally:
            browser.close()

    # WHEN the person presses Ctrl-C
    children = descendants(process.pid)
    assert children, "up started no child process (the dashboard runs in one)"
    process.send_signal(signal.SIGINT)
    # THEN up exits cleanly and leaves nothing behind
    assert process.wait(timeout=30) == 0, "".join(output)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)], f"left running: {children}"
    assert not any(port_in_use(port) for port in ports), "a port is still served after Ctrl-C"
    assert "LiveInsight stopped." in "".join(output)


KIOSK_VIEWPORT = {"width": 1920, "height": 1080}
# Streamlit's own sizes are 36 px for a KPI and 12 px for a chart's ticks: too small across a room.
KIOSK_MIN_KPI_PIXELS = 60
KIOSK_MIN_TICK_PIXELS = 18
KIOSK_ROTATE_SECONDS = 5


def css_pixels(page, selector: str, prop: str = "font-size") -> float:
    value = page.evaluate("([s, p]) => getComputedStyle(document.querySelector(s)).getPropertyValue(p)",
                          [selector, prop])
    return float(value.removesuffix("px"))


def test_up_kiosk_shows_a_full_screen_in_large_type_that_rotates(kiosk_stack):
    _, url, _, _ = kiosk_stack
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # `up --kiosk` prints the presentation URL.
    assert url.endswith("/?kiosk=1"), url

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=KIOSK_VIEWPORT)
            # WHEN the office screen opens the URL
            page.goto(url)
            wait_until_rendered(page, "Overview")
            # THEN no sidebar, header, toolbar, menu or Deploy button shows
            for chrome in ("stSidebar", "stExpandSidebarButton", "stHeader", "stToolbar", "stMainMenu",
                           "stAppDeployButton", "stDownloadButton"):
                assert not page.locator(f'[data-testid="{chrome}"]').first.is_visible(), f"{chrome} is visible"
            assert not page.get_by_text("Deploy", exact=True).is_visible()
            # AND the KPIs and the chart's ticks are in large type, the live label in a corner
            assert page.locator('[data-testid="stMetric"]').count() == 7
            assert css_pixels(page, '[data-testid="stMetricValue"]') >= KIOSK_MIN_KPI_PIXELS
            assert css_pixels(page, ".js-plotly-plot .xtick text") >= KIOSK_MIN_TICK_PIXELS
            assert "updated" in page.locator(".liveinsight-kiosk-label").inner_text()
            # AND the Overview fits the screen without scrolling
            height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            assert height <= KIOSK_VIEWPORT["height"], f"the Overview is {height} px tall"
            assert_no_error(page, "Overview")
            page.screenshot(path=str(SCREENSHOTS / "kiosk.png"))

            # WHEN the screen rotates between two pages
            page.goto(f"{url}&rotate=overview,realtime&every={KIOSK_ROTATE_SECONDS}&period=7d")
            wait_until_rendered(page, "Overview")
            # THEN the next page shows by itself, still in kiosk mode and with the same query
            page.locator("h1", has_text="Realtime").first.wait_for(timeout=4 * KIOSK_ROTATE_SECONDS * 1000)
            assert "kiosk=1" in page.url and "period=7d" in page.url
            assert not page.locator('[data-testid="stSidebar"]').first.is_visible()
            page.locator("h1", has_text="Overview").first.wait_for(timeout=4 * KIOSK_ROTATE_SECONDS * 1000)
        finally:
            browser.close()


# --- the hostile-labels corpus (tests/hostile.py) in a real browser ---------------------------

# Every page by its URL path, and the kiosk screens: (path, title).
PAGE_PATHS = [("", "Overview"), ("realtime", "Realtime"), ("sources", "Sources"), ("top_pages", "Pages"),
              ("events", "Events"), ("devices", "Devices"), ("locations", "Locations")]
# Elements Markdown or plotly would make from a label; any of them carrying the corpus's text is made from data.
MADE_FROM_DATA = """([markers]) => {
  const offenders = [];
  for (const el of document.querySelectorAll(
      'a, img, script, iframe, object, embed, b, i, em, strong, u, del, s, code, sup, sub, svg a, table a')) {
    const said = [el.textContent || '', el.getAttribute('href') || '', el.getAttribute('xlink:href') || '',
                  el.getAttribute('src') || ''].join(' ');
    const external = el.tagName.toLowerCase() === 'img' && /^(https?:)?\\/\\//.test(el.getAttribute('src') || '')
                     && !(el.getAttribute('src') || '').startsWith(location.origin);
    if (external || /^\\s*javascript:/i.test(el.getAttribute('href') || '')
        || markers.some(marker => said.includes(marker))) {
      offenders.push(el.tagName.toLowerCase() + ': ' + said.trim().slice(0, 120));
    }
  }
  return offenders;
}"""


def post_corpus(api: str) -> None:
    """Send the corpus to the collector and wait until the stats count it."""
    from tests import hostile

    body = json.dumps({"events": hostile.events()}).encode()
    request = urllib.request.Request(f"{api}/api/events", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": CHROME})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["data"]["accepted"] == len(hostile.events())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{api}/api/stats?period=1h&limit=100", timeout=10) as response:
            data = json.load(response)["data"]
        if all(hostile.labels(data, (field,)) for field in hostile.STATS_LABELS):
            return
        time.sleep(0.5)
    pytest.fail("the corpus was not aggregated within 60 s")


@pytest.fixture
def hostile_up():
    """GIVEN `liveinsight up` (no demo traffic) that has collected the hostile-labels corpus."""
    with running_up(demo=False) as stack:
        post_corpus(f"http://127.0.0.1:{stack[2][0]}")
        yield stack


def test_the_hostile_corpus_is_text_on_every_page_and_kiosk_screen(hostile_up, tmp_path):
    from tests import hostile

    _, url, ports, _ = hostile_up
    base = url.split("?")[0].rstrip("/")
    with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/api/stats", timeout=10) as response:
        stats = json.load(response)["data"]
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=KIOSK_VIEWPORT)
            for path, title in PAGE_PATHS:
                for kiosk in (False, True):
                    # WHEN each page and each kiosk screen opens on the corpus
                    page.goto(f"{base}/{path}" + ("?kiosk=1" if kiosk else ""))
                    wait_until_rendered(page, title)
                    where = f"{title}{' (kiosk)' if kiosk else ''}"
                    # THEN no link, image, script or formatting is made from the data
                    assert page.evaluate(MADE_FROM_DATA, [list(hostile.MARKERS) + [hostile.EVIL]]) == [], where
                    assert_no_error(page, where)
                    if kiosk and title in ("Overview", "Pages", "Sources"):
                        # AND the kiosk's tables show the labels as they were sent
                        shown = page.locator('[data-testid="stTable"]').all_inner_texts()
                        fields = {"Overview": (("pages", "page"), ("sources", "source")),
                                  "Pages": (("pages", "page"), ("entry_pages", "page")),
                                  "Sources": (("sources", "source"), ("campaigns", "campaign"))}[title]
                        expected = hostile.labels(stats, fields, rows=5)
                        assert expected, where
                        cells = hostile.seen(" ".join(shown))
                        assert [label for label in expected if hostile.seen(hostile.as_seen(label)) not in cells] \
                            == [], where
                        page.screenshot(path=str(tmp_path / f"hostile-{title.lower()}-kiosk.png"))
                    elif title == "Pages":
                        save = tmp_path / "hostile-pages.png"
                        page.screenshot(path=str(save), full_page=True)
            # AND the sidebar's lists of pages and sources show them as text
            for label in ("Page", "Source"):
                page.goto(f"{base}/top_pages")
                wait_until_rendered(page, "Pages")
                page.get_by_role("combobox", name=label, exact=True).click()
                options = page.locator('[role="option"]')
                options.first.wait_for(timeout=RENDER_TIMEOUT_MS)
                assert page.evaluate(MADE_FROM_DATA, [list(hostile.MARKERS) + [hostile.EVIL]]) == [], label
                listed = options.all_inner_texts()
                assert "evil.example" in " ".join(listed) and not [o for o in listed if "\u202e" in o], listed
            # AND labels in the URL (a filter, a kiosk page name) are text in captions, banners and warnings
            stored = {label for label in hostile.labels(stats, (("pages", "page"),))}
            url_path = next(label for label in stored if "autolink" in label)
            link_path = next(label for label in stored if "click" in label)
            for path, title, query in (
                    ("top_pages", "Pages", {"page": url_path}),
                    ("realtime", "Realtime", {"page": link_path}),
                    ("sources", "Sources", {"source": hostile.SOURCES[1]}),
                    ("", "Overview", {"kiosk": "1", "rotate": f"overview,{hostile.PATHS[6]},{hostile.PATHS[1]}"})):
                page.goto(f"{base}/{path}?{urllib.parse.urlencode(query)}")
                wait_until_rendered(page, title)
                assert page.evaluate(MADE_FROM_DATA, [list(hostile.MARKERS) + [hostile.EVIL]]) == [], query
                value = hostile.seen(query.get("page") or query.get("source") or hostile.PATHS[6])
                assert value in hostile.seen(page.locator('[data-testid="stMain"]').inner_text()), query
        finally:
            browser.close()
