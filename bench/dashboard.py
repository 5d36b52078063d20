"""Dashboard benchmark: each page's AppTest render time against a live API, and the realtime refresh.

Three ways to get an API with history and live traffic:

* default: start `python -m liveinsight serve` on a free port, backfill the last 23 hours
  through the public API (demo.history; the API takes events up to 24 h old) and keep live
  traffic flowing with demo.Simulator while it measures;
* `--history-days 30`: start `python -m liveinsight up --demo --history-days 30` on free ports
  (30 days imported into hour/day rollups, plus up's own live demo traffic), wait until the
  backfill is aggregated, and measure against it;
* `--api URL [--api-key KEY]`: measure against a stack that is already running.

Per page and period (`--periods`, default 24h and 30d) it prints the median and worst of
`--runs` renders, cold (Streamlit's cache cleared, so every API call is made) and warm
(answers cached), against the target of 1 s per page; and the realtime fragment's refresh
work (API call, reshaping, figure).

Usage: python bench/dashboard.py [--history-days 30 --visits-per-day 600 | --api URL [--api-key KEY]]
                                 [--runs 5] [--periods 24h,30d]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
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


def start_up(history_days: float, visits_per_day: int, rate: float) -> tuple[subprocess.Popen, str, int]:
    """`up --demo` in a child process; returns it, its API URL and the events it backfilled."""
    process = subprocess.Popen(
        [sys.executable, "-m", "liveinsight", "up", "--demo", "--port", str(free_port()),
         "--dashboard-port", str(free_port()), "--history-days", f"{history_days:g}",
         "--visits-per-day", str(visits_per_day), "--rate", f"{rate:g}"],
        cwd=ROOT, env={k: v for k, v in os.environ.items() if not k.startswith("LIVEINSIGHT_")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    api, accepted, seen = None, 0, []
    for line in process.stdout:  # up prints the Dashboard line once the backfill is imported.
        seen.append(line)
        if line.startswith("LiveInsight API"):
            api = line.split()[2]
        elif match := re.match(r"\s+(\d+) events in", line):
            accepted = int(match.group(1))
        elif line.startswith("Dashboard"):
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # Keep draining.
            return process, api, accepted
    raise SystemExit(f"up exited before its dashboard was ready:\n{''.join(seen)[-2000:]}")


def stop_up(process: subprocess.Popen) -> None:
    """SIGTERM (not SIGINT: a shell's background job ignores that); up stops its dashboard and the API."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def backfill(api: str, visits_per_day: int) -> int:
    """The last 23 hours of demo traffic through POST /api/events, in batches."""
    import requests

    from liveinsight.local import demo

    events = list(demo.history(days=23 / 24, visits_per_day=visits_per_day, now=time.time()))
    session = requests.Session()
    for start in range(0, len(events), 500):
        batch = events[start:start + 500]
        response = session.post(f"{api}/api/events", data=json.dumps({"events": batch}),
                                headers={"Content-Type": "application/json"}, timeout=60)
        response.raise_for_status()
    return len(events)


def wait_for_aggregation(api: str, api_key: str | None, expected_events: int, timeout: float = 120,
                         period: str = "24h") -> int:
    """Wait until the stats API counts (nearly) every backfilled event over `period`."""
    from liveinsight.dashboard.client import Client

    client = Client(api, api_key)
    deadline, counted = time.time() + timeout, 0
    while time.time() < deadline:
        counted = client.stats(period=period).totals.events
        if counted >= 0.95 * expected_events:
            break
        time.sleep(1)
    return counted


def time_pages(runs: int, period: str) -> dict[str, dict[str, list[float]]]:
    """Render times per page over `period`: cold (cache cleared before the page's run) and warm (cached)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    results: dict[str, dict[str, list[float]]] = {}
    for page in PAGES:
        cold, warm = [], []
        for _ in range(runs):
            at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
            at.query_params["period"] = period
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
    from liveinsight.dashboard import charts, frames
    from liveinsight.dashboard.client import Client

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
    parser.add_argument("--api", help="bench against this running API instead of starting one")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--history-days", type=float, default=None,
                        help="start `up --demo` with this many days of history (hour/day rollups) and bench it")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--periods", default="24h,30d", help="comma-separated filter periods to render")
    parser.add_argument("--visits-per-day", type=int, default=3000)
    parser.add_argument("--live-rate", type=float, default=5.0, help="live events per second while measuring")
    args = parser.parse_args()

    from liveinsight.local import demo

    serve = up = simulator = None
    api, api_key = args.api, args.api_key
    if not api and args.history_days:
        started = time.perf_counter()
        up, api, accepted = start_up(args.history_days, args.visits_per_day, args.live_rate)
        imported = time.perf_counter() - started
        counted = wait_for_aggregation(api, None, accepted, timeout=300, period="30d")
        print(f"up --demo: imported {accepted:,} events over {args.history_days:g} days in {imported:.1f} s; "
              f"{counted:,} counted by /api/stats?period=30d after {time.perf_counter() - started:.1f} s")
    elif not api:
        api_key = api_key or "bench-key"
        port = free_port()
        serve = start_serve(port, api_key)
        api = f"http://127.0.0.1:{port}"
    if not up:  # up sends its own live traffic.
        simulator = demo.Simulator(api, rate=args.live_rate, seed=11)
    periods = [period.strip() for period in args.periods.split(",") if period.strip()]
    try:
        if serve:
            started = time.perf_counter()
            sent = backfill(api, args.visits_per_day)
            counted = wait_for_aggregation(api, api_key, sent)
            print(f"backfilled {sent:,} events over 23 h in {time.perf_counter() - started:.1f} s "
                  f"({counted:,} counted by /api/stats)")
        if simulator:
            threading.Thread(target=simulator.run, daemon=True).start()
        time.sleep(3)
        os.environ["LIVEINSIGHT_API_URL"] = api
        if api_key:
            os.environ["LIVEINSIGHT_API_KEY"] = api_key

        results = {period: time_pages(args.runs, period) for period in periods}
        refresh = time_realtime_refresh(api, api_key, args.runs * 4)
    finally:
        if simulator:
            simulator.stop()
        if serve:
            serve.terminate()
            serve.wait(timeout=10)
        if up:
            stop_up(up)

    live = f"{simulator.sent:,} sent" if simulator else "up's demo traffic"
    print(f"\nAppTest render per page, {args.runs} runs, live traffic {args.live_rate:g} events/s "
          f"({live}); target <= {TARGET_SECONDS:.1f} s")
    print(f"{'page':<22}{'period':>7}{'cold median':>13}{'cold max':>10}{'warm median':>13}  verdict")
    for period, pages in results.items():
        for page, times in pages.items():
            cold_median = statistics.median(times["cold"])
            verdict = "ok" if cold_median <= TARGET_SECONDS else "OVER TARGET"
            print(f"{page:<22}{period:>7}{cold_median:>12.3f}s{max(times['cold']):>9.3f}s"
                  f"{statistics.median(times['warm']):>12.3f}s  {verdict}")
    print(f"\nrealtime refresh (fragment work: API call + reshaping + figure): median "
          f"{statistics.median(refresh) * 1000:.0f} ms, max {max(refresh) * 1000:.0f} ms over {len(refresh)} refreshes")


if __name__ == "__main__":
    main()
