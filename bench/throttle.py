"""Throttling benchmark: the collector on the local stack while DynamoDB throttles 20 % of requests.

Runs `serve` in this process with a botocore hook that answers a share of every DynamoDB
table request (collector, aggregator, salt) with a 400 ThrottlingException, as DynamoDB
does, and offers single-event requests (as the tracker sends them) at a fixed rate from
a pool of senders, open loop: a slow answer does not slow the offer. Prints sustained
throughput, latency percentiles and what the aggregator counted. Targets:
  sustained >= 80 % of the offered 10 events/s, p95 <= 300 ms, every event counted.

Usage: python bench/throttle.py [--rate 10] [--seconds 30] [--share 0.2] [--baseline]
  --baseline  botocore's own backoff (up to 1 s before the first retry of a throttled call)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
PAGES = ["/", "/pricing", "/docs", "/blog/launch", "/signup", "/about"]


def offer(url: str, rate: float, seconds: float) -> list[tuple[float, int]]:
    """Send rate x seconds single-event requests on a fixed schedule; returns (latency s, status) per request."""
    import requests

    local = threading.local()
    results: list[tuple[float, int]] = []
    lock = threading.Lock()
    run = uuid.uuid4().hex[:6]

    def send(i: int, due: float) -> None:
        if not hasattr(local, "http"):
            local.http = requests.Session()
            local.http.headers.update({"Content-Type": "text/plain", "User-Agent": UA})
        time.sleep(max(0.0, due - time.perf_counter()))
        body = json.dumps({"event_type": "page_view", "session_id": f"{run}-{i % 40}", "event_id": f"{run}-{i}",
                           "page_url": f"https://shop.example.com{PAGES[i % len(PAGES)]}"})
        started = time.perf_counter()
        try:
            status = local.http.post(f"{url}/api/events", data=body, timeout=30).status_code
        except requests.RequestException:
            status = 0
        with lock:
            results.append((time.perf_counter() - started, status))

    count = int(rate * seconds)
    start = time.perf_counter() + 0.5
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i in range(count):
            pool.submit(send, i, start + i / rate)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0, help="offered single-event requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to offer them")
    parser.add_argument("--share", type=float, default=0.2, help="share of DynamoDB requests throttled")
    parser.add_argument("--baseline", action="store_true", help="botocore's backoff instead of LiveInsight's")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import boto3
    import requests

    import liveinsight.store as store
    from faults import Throttle
    from liveinsight.local.server import LocalStack

    stack = LocalStack(port=0).start()  # tables are created before any throttling
    if args.baseline:  # botocore retries (standard mode, 8 attempts); the store makes one attempt per call
        stack.services.store._client = store.make_client(stack.services.store.settings, attempts=store.RETRY_ATTEMPTS)
        stack.services.store._attempts = 1
    throttle = Throttle(args.share)
    boto3._get_default_session().events.register_first("before-send.dynamodb", throttle)
    for client in (stack.services.store.client, *(poller._client for poller in stack.pollers)):
        if client is not None:
            client.meta.events.register_first("before-send.dynamodb", throttle)
    stack.start_in_thread()
    try:
        started = time.perf_counter()
        results = offer(stack.url, args.rate, args.seconds)
        elapsed = time.perf_counter() - started - 0.5
        stack.wait_until_aggregated(timeout=120)
        stack.wait_until_aggregated(timeout=120)
        totals = requests.get(f"{stack.url}/api/stats?period=1h", timeout=30).json()["data"]["totals"]
    finally:
        stack.stop()

    ok_latencies = sorted(latency for latency, status in results if status == 200)
    sent = len(results)
    accepted = len(ok_latencies)
    all_latencies = sorted(latency for latency, _ in results)
    p50 = statistics.median(all_latencies)
    p95 = all_latencies[int(0.95 * (sent - 1))]
    p99 = all_latencies[int(0.99 * (sent - 1))]
    sustained = accepted / elapsed
    statuses = {s: sum(1 for _, x in results if x == s) for s in sorted({x for _, x in results})}
    rows = [
        ("DynamoDB requests throttled", f"{throttle.throttled} of {throttle.requests} "
                                        f"({throttle.throttled / max(throttle.requests, 1):.1%})"),
        ("backoff", "botocore standard (baseline)" if args.baseline else "LiveInsight (25 ms base, 1 s cap)"),
        ("offered", f"{args.rate:g} events/s for {args.seconds:g} s ({sent} requests)"),
        ("answers", ", ".join(f"{s or 'no answer'}: {n}" for s, n in statuses.items())),
        ("sustained", f"{sustained:.2f} events/s = {sustained / args.rate:.0%} of offered  (target >= 80 %)"),
        ("latency p50 / p95 / p99", f"{p50 * 1000:.0f} / {p95 * 1000:.0f} / {p99 * 1000:.0f} ms  (target p95 <= 300 ms)"),
        ("counted by the aggregator", f"{totals['events']} of {accepted} accepted"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    met = sustained >= 0.8 * args.rate and p95 <= 0.3 and totals["events"] == accepted
    print("targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
