"""Realtime benchmark: GET /api/realtime latency and read cost at 200 and at 6,000 active sessions.

Runs the local stack in this process with every backend DynamoDB client metered (bench/pricing.py).
Creates --small active sessions (page views within the last two minutes, over --pages pages of
Zipf popularity, mixed sources), waits for aggregation, and times --repeat GETs of /api/realtime
through the HTTP gateway (median; the meter is paused so it adds no latency), then prices one
call. Then every session views one more page and new ones arrive until --large sessions are
active, and it measures again. Target (issue 10): latency at 6,000 <= 1.5 x latency at 200, and
read units and item sizes that do not grow with the number of sessions or pages.

Usage: python bench/realtime.py [--small 200] [--large 6000] [--repeat 30] [--pages 40] [--seed 1] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cost import AGENTS, SITE, SOURCES, named, post_batches, table_names, wait_aggregated  # noqa: E402
from bench.pricing import Meter, meter_backend  # noqa: E402

TARGET_RATIO = 1.5
RECENT_SECONDS = 120  # page views of an active session fall within the last two minutes


class Visitors:
    """Sessions browsing a site of `pages` pages (Zipf popularity) right now."""

    def __init__(self, pages: int, seed: int):
        self.rng = random.Random(seed)
        self.pages = ["/", "/search", "/cart"] + [f"/products/item-{n}" for n in range(1, max(pages - 3, 1) + 1)]
        self.weights = [1 / rank for rank in range(1, len(self.pages) + 1)]
        self.sessions: dict[str, str] = {}  # session id -> user agent

    def views(self, new_sessions: int, now: float) -> list[dict]:
        """One recent page view for every known session and one to three for each of `new_sessions` new ones."""
        r = self.rng
        events = [self._view(sid, agent, now - r.uniform(1, RECENT_SECONDS), None)
                  for sid, agent in self.sessions.items()]
        for _ in range(new_sessions):
            sid = uuid.UUID(int=r.getrandbits(128)).hex
            agent = r.choices(AGENTS, weights=[a[-1] for a in AGENTS])[0][0]
            referrer, query, _ = r.choices(SOURCES, weights=[s[-1] for s in SOURCES])[0]
            self.sessions[sid] = agent
            start = now - r.uniform(30, RECENT_SECONDS)
            first = self._view(sid, agent, start, referrer, query)
            events.append(first)
            for i in range(r.randint(0, 2)):
                events.append(self._view(sid, agent, start + 10 * (i + 1), None))
        events.sort(key=lambda e: e["timestamp"])
        return events

    def _view(self, sid: str, agent: str, t: float, referrer: str | None, query: str = "") -> dict:
        page = self.rng.choices(self.pages, weights=self.weights)[0]
        event = {"event_type": "page_view", "session_id": sid, "timestamp": int(t * 1000),
                 "page_url": SITE + page + query, "user_agent": agent,
                 "event_id": uuid.UUID(int=self.rng.getrandbits(128)).hex}
        if referrer:
            event["referrer"] = referrer
        return event


def measure(http: Any, url: str, meter: Meter, repeat: int, names: dict[str, str]) -> dict[str, Any]:
    """Median latency of `repeat` unmetered GETs of /api/realtime, then the price of one metered call."""
    times = []
    with meter.paused():
        http.get(f"{url}/api/realtime", timeout=60).raise_for_status()  # warm
        for _ in range(repeat):
            started = time.perf_counter()
            response = http.get(f"{url}/api/realtime", timeout=60)
            times.append(time.perf_counter() - started)
            response.raise_for_status()
    meter.reset()
    data = http.get(f"{url}/api/realtime", timeout=60).json()["data"]
    report = meter.report()
    return {"median_ms": round(statistics.median(times) * 1000, 2), "reported_active": data.get("active_sessions"),
            "read_units": report["read_units"], "requests": report["requests"],
            "items_read": sum(t["items_read"] for t in report["tables"].values()),
            "largest_item_read": named(report["largest_read"], names)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import requests

    meter = Meter(trust_own_writes=True)  # every backend client is metered (see bench/cost.py)
    census = meter_backend(meter)
    from liveinsight.local.server import LocalStack

    visitors = Visitors(args.pages, args.seed)
    stack = LocalStack(port=0).start()
    stack.start_in_thread()
    url, http = stack.url, requests.Session()
    http.headers["User-Agent"] = AGENTS[0][0]
    rows = []
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    try:
        for target in (args.small, args.large):
            started = time.perf_counter()
            events = visitors.views(target - len(visitors.sessions), time.time())
            post_batches(http, url, events)
            aggregated = wait_aggregated(stack, timeout=600.0)
            log(f"{target:,} active sessions: {len(events):,} events sent and aggregated in "
                f"{time.perf_counter() - started:.1f} s")
            row = {"sessions": target, "events_sent": len(events), "aggregated": aggregated,
                   **measure(http, url, meter, args.repeat, table_names(stack.settings))}
            rows.append(row)
    finally:
        stack.stop()
    return {"clients": census.line(), "repeat": args.repeat, "pages": args.pages, "rows": rows,
            "ratio": round(rows[1]["median_ms"] / rows[0]["median_ms"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200, help="active sessions of the first measurement")
    parser.add_argument("--large", type=int, default=6000, help="active sessions of the second measurement")
    parser.add_argument("--repeat", type=int, default=30, help="GETs per median")
    parser.add_argument("--pages", type=int, default=40, help="distinct pages the sessions view")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        sys.exit(0)
    print(result["clients"])
    header = ("active sessions", "reported", f"median of {args.repeat} GETs", "read units/call", "requests",
              "items read", "largest item read")
    table = [header]
    for row in result["rows"]:
        largest = row["largest_item_read"]
        table.append((f"{row['sessions']:,}", f"{row['reported_active']}", f"{row['median_ms']:.1f} ms",
                      f"{row['read_units']:,.1f}", f"{row['requests']:,}", f"{row['items_read']:,}",
                      f"{largest['bytes']:,} B in {largest['table']} ({largest['key']})" if largest else "-"))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for n, row in enumerate(table):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    ok = result["ratio"] <= TARGET_RATIO
    print(f"\nlatency ratio ({args.large:,} / {args.small:,} active sessions): {result['ratio']:.2f}  "
          f"({'ok' if ok else 'MISS'}: target <= {TARGET_RATIO})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
