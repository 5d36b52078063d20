"""Dashboard benchmark: each page's AppTest render time against a live API, and the realtime refresh.

By default starts `python -m liveinsight serve` on a free port, backfills the last 23 hours
through the public API (demo.history; the API takes events up to 24 h old) and keeps live
traffic flowing with demo.Simulator while it measures. To measure against 30 days of
history (hour/day rollups), start a stack that has it (e.g. `python -m liveinsight up --demo`)
and pass `--api URL [--api-key KEY]`.

Per page it prints the median and worst of `--runs` renders, cold (Streamlit's cache
cleared, so every API call is made) and warm (answers cached), against the target of
1 s per page; and the realtime fragment's refresh work (API call, reshaping, figure).

Usage: python bench/dashboard.py [--api URL] [--api-key KEY] [--runs 5] [--visits-per-day 3000]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 1.0
PAGES = ["pages/overview.py", "pages/realtime.py", "pages/sources.py", "pages/top_pages.py", "pages/events.py",
         "pages/devices.py"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(port: int, api_key: str) -> subprocess.Popen:
    """`serve` in a child process, returned once it answers."""
    import requests

    process = subprocess.Popen([sys.executable, "-m", "liveinsight", "serve", "--port", str(port), "--api-key", api_key],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited: {process.stderr.read().decode()[-2000:]}")
        try:
            requests.get(f"http://127.0.0.1:{port}/api/realtime", headers={"X-API-Key": api_key}, timeout=1)
            return process
        except requests.RequestException:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("serve did not start within 60 s")


def backfill(api: str, visits_per_day: int) -> int:
    """The last 23 hours of demo traffic through POST /api/events, in batches."""
    import requests

    from liveinsight import demo

    events = list(demo.history(days=23 / 24, visits_per_day=visits_per_day, now=time.time()))
    session = requests.Session()
    for start in range(0, len(events), 500):
        batch = events[start:start + 500]
        response = session.post(f"{api}/api/events", data=json.dumps({"events": batch}),
                                headers={"Content-Type": "application/json"}, timeout=60)
        response.raise_for_status()
    return len(events)


def wait_for_aggregation(api: str, api_key: str, expected_events: int, timeout: float = 120) -> int:
    """Wait until the stats API counts (nearly) every backfilled event."""
    from liveinsight.client import Client

    client = Client(api, api_key)
    deadline, counted = time.time() + timeout, 0
    while time.time() < deadline:
        counted = client.stats(period="24h").totals.events
        if counted >= 0.95 * expected_events:
            break
        time.sleep(1)
    return counted


def time_pages(runs: int) -> dict[str, dict[str, list[float]]]:
    """Render times per page: cold (cache cleared before the page's run) and warm (cached)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    results: dict[str, dict[str, list[float]]] = {}
    for page in PAGES:
        cold, warm = [], []
        for _ in range(runs):
            at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
            at.run()
            if page != PAGES[0]:
                at.switch_page(page)
            st.cache_data.clear()
            started = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - started)
            if at.exception or at.error:
                raise SystemExit(f"{page} failed: {[e.value for e in at.exception or at.error]}")
        results[page] = {"cold": cold, "warm": warm}
    return results


def time_realtime_refresh(api: str, api_key: str, runs: int) -> list[float]:
    """The realtime fragment's work per refresh: the API call, the feed and the figure."""
    from liveinsight import charts, frames
    from liveinsight.client import Client

    client, times = Client(api, api_key), []
    for _ in range(runs):
        started = time.perf_counter()
        now = client.realtime()
        frames.recent_feed(now.recent_events, now.generated_at)
        charts.events_per_minute(now.per_minute).to_json()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", help="bench against this running API instead of starting serve")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--visits-per-day", type=int, default=3000)
    parser.add_argument("--live-rate", type=float, default=5.0, help="live events per second while measuring")
    args = parser.parse_args()

    from liveinsight import demo

    serve = None
    api, api_key = args.api, args.api_key
    if not api:
        api_key = api_key or "bench-key"
        port = free_port()
        serve = start_serve(port, api_key)
        api = f"http://127.0.0.1:{port}"
    simulator = demo.Simulator(api, rate=args.live_rate, seed=11)
    live = threading.Thread(target=simulator.run, daemon=True)
    try:
        if serve:
            started = time.perf_counter()
            sent = backfill(api, args.visits_per_day)
            counted = wait_for_aggregation(api, api_key, sent)
            print(f"backfilled {sent:,} events over 23 h in {time.perf_counter() - started:.1f} s "
                  f"({counted:,} counted by /api/stats)")
        live.start()
        time.sleep(3)
        os.environ["LIVEINSIGHT_API_URL"] = api
        if api_key:
            os.environ["LIVEINSIGHT_API_KEY"] = api_key

        results = time_pages(args.runs)
        refresh = time_realtime_refresh(api, api_key, args.runs * 4)
    finally:
        simulator.stop()
        if serve:
            serve.terminate()
            serve.wait(timeout=10)

    print(f"\nAppTest render per page, {args.runs} runs, live traffic {args.live_rate:g} events/s "
          f"({simulator.sent:,} sent); target <= {TARGET_SECONDS:.1f} s")
    print(f"{'page':<22}{'cold median':>12}{'cold max':>10}{'warm median':>13}  verdict")
    for page, times in results.items():
        cold_median = statistics.median(times["cold"])
        verdict = "ok" if cold_median <= TARGET_SECONDS else "OVER TARGET"
        print(f"{page:<22}{cold_median:>11.3f}s{max(times['cold']):>9.3f}s{statistics.median(times['warm']):>12.3f}s  {verdict}")
    print(f"\nrealtime refresh (fragment work: API call + reshaping + figure): median "
          f"{statistics.median(refresh) * 1000:.0f} ms, max {max(refresh) * 1000:.0f} ms over {len(refresh)} refreshes")


if __name__ == "__main__":
    main()
