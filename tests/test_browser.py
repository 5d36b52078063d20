"""The dashboard in a real headless Chromium, served by `python -m liveinsight up --demo`.

One test walks the whole product the way a person does: start `up`, open the URL, see the
Overview with its KPIs and a chart, visit every page through the sidebar menu (saving a
screenshot of each to docs/screenshots/), then press Ctrl-C and check nothing is left running.
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
import urllib.request
from pathlib import Path

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS

playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}
UP_READY_SECONDS = 90
RENDER_TIMEOUT_MS = 60_000
# (menu label, screenshot name); the title on each page ends with the menu label.
PAGES = [("Overview", "overview"), ("Realtime", "realtime"), ("Sources", "sources"), ("Pages", "pages"),
         ("Events", "events"), ("Devices", "devices")]
ERROR_TEXTS = ("Traceback", "Error", "Exception")
# A drawn trace: a line or bar series, or a donut slice.
DRAWN_TRACE = ".js-plotly-plot .main-svg g.trace, .js-plotly-plot .main-svg g.slice"

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


@pytest.fixture
def demo_stack():
    """GIVEN `liveinsight up --demo` on free ports, with a short history; yields (process, dashboard URL, ports)."""
    api_port, dashboard_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEINSIGHT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "liveinsight", "up", "--demo", "--port", str(api_port),
         "--dashboard-port", str(dashboard_port), "--history-days", "7", "--visits-per-day", "400"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Ctrl-C must reach up even when pytest runs as a shell's background job, which ignores SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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
        wait_for_backfill(f"http://127.0.0.1:{api_port}", "".join(output))
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
            assert page.locator('[data-testid="stMetric"]').count() >= 6
            assert page.locator(DRAWN_TRACE).count() > 0
            menu = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]')
            labels = [text.split()[-1] for text in menu.all_inner_texts()]  # "dashboard Overview": icon, title.
            assert labels == [label for label, _ in PAGES]
            # Not Streamlit's folder menu ("dashboard, devices, events, overview, …").
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0
            assert_no_error(page, "Overview")

            # AND every page opens from the menu, renders a chart and no error
            for label, name in PAGES:
                menu.filter(has_text=label).first.click()
                wait_until_rendered(page, label)
                assert_no_error(page, label)
                assert save_full_page(page, name).stat().st_size > 10_000
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
