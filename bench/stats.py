"""Read-path benchmark: stats and realtime latency with 1k and 100k events stored.

In one run on the embedded store (the local stack in this process): median latency of a
24 h stats request and of a realtime request with 1k events stored (spread over the last
23 h), then with 100k (the other 99k loaded through batch ingestion, spread over the same
hours but older than the 30-minute realtime window, so recent traffic stays the same),
the DynamoDB items read per request, and a 30-day stats request over 30 days of
imported history.
Targets: latency at 100k / latency at 1k <= 1.5 for both endpoints; 30-day stats far
under the 30 s Lambda timeout.

Usage: python bench/stats.py [--events 100000] [--repeat 15]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def recent_events(n: int, oldest: float, newest: float, seed: int) -> list[dict]:
    """n events of visits starting between `oldest` and `newest` seconds ago, oldest first."""
    from liveinsight.local.demo import TrafficModel

    model = TrafficModel(seed=seed, bot_share=0.0)
    now = time.time()
    events: list[dict] = []
    i = 0
    while len(events) < n:
        start = now - newest - (i * 7919 % int(oldest - newest))
        i += 1
        for event in model.visit(start):
            if event["timestamp"] < now - 5:
                event.pop("user_agent")
                events.append(event)
    return sorted(events[:n], key=lambda e: e["timestamp"])


def post_all(session, url: str, events: list[dict], batch: int = 500) -> None:
    for start in range(0, len(events), batch):
        response = session.post(f"{url}/api/events", data=json.dumps({"events": events[start:start + batch]}),
                                timeout=60)
        response.raise_for_status()


def wait_for_total(session, url: str, total: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while session.get(f"{url}/api/stats?period=24h", timeout=60).json()["data"]["totals"]["events"] < total:
        if time.monotonic() > deadline:
            raise SystemExit("aggregation did not catch up")
        time.sleep(0.5)


def measure(session, url: str, path: str, repeat: int, reads: list[int]) -> tuple[float, float]:
    """(median seconds, items read per request) of `repeat` GETs."""
    times = []
    for _ in range(repeat):
        reads.clear()
        started = time.perf_counter()
        response = session.get(f"{url}{path}", timeout=60)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return statistics.median(times), sum(reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events stored for the large measurement")
    parser.add_argument("--repeat", type=int, default=15, help="requests per median")
    parser.add_argument("--history-visits-per-day", type=int, default=800, help="30-day history density")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import boto3
    import requests

    reads: list[int] = []

    def count_reads(parsed, model, **_):
        if model.name == "BatchGetItem":
            reads.append(sum(len(v) for v in parsed.get("Responses", {}).values()))

    boto3._get_default_session().events.register("after-call.dynamodb.BatchGetItem", count_reads)
    from liveinsight.local.server import LocalStack

    stack = LocalStack(port=0).start()
    stack.start_in_thread()
    url = stack.url
    session = requests.Session()
    session.headers.update({"User-Agent": UA, "Content-Type": "text/plain"})
    rows = []
    try:
        small = recent_events(1000, 23 * 3600, 120, seed=1)
        post_all(session, url, small)
        wait_for_total(session, url, len(small))
        stats_1k, stats_reads_1k = measure(session, url, "/api/stats?period=24h", args.repeat, reads)
        rt_1k, rt_reads_1k = measure(session, url, "/api/realtime", args.repeat, reads)

        started = time.perf_counter()
        # Older than the realtime window, so both realtime measurements see the same recent
        # traffic and the comparison isolates the number of events stored.
        large = recent_events(args.events - len(small), 23 * 3600, 35 * 60, seed=2)
        post_all(session, url, large)
        wait_for_total(session, url, args.events)
        load_seconds = time.perf_counter() - started
        stats_big, stats_reads_big = measure(session, url, "/api/stats?period=24h", args.repeat, reads)
        rt_big, rt_reads_big = measure(session, url, "/api/realtime", args.repeat, reads)
        filtered_big, _ = measure(session, url, "/api/stats?period=24h&page=/pricing&source=Google&compare=previous",
                                  args.repeat, reads)

        from liveinsight.local.demo import history
        from liveinsight.local.importer import import_events

        started = time.perf_counter()
        report = import_events(enumerate(history(30, args.history_visits_per_day, time.time() - 86400, seed=3),
                                         start=1), stack.services.store)
        import_seconds = time.perf_counter() - started
        month, month_reads = measure(session, url, "/api/stats?period=30d&compare=previous", args.repeat, reads)
        month_hourly, _ = measure(session, url, "/api/stats?period=30d&interval=hour", args.repeat, reads)
    finally:
        stack.stop()

    rows = [
        ("stats 24h, 1k events stored (median)", f"{stats_1k * 1000:.1f} ms, {stats_reads_1k} items read"),
        (f"stats 24h, {args.events // 1000}k events stored (median)",
         f"{stats_big * 1000:.1f} ms, {stats_reads_big} items read"),
        ("stats latency ratio (large / 1k)", f"{stats_big / stats_1k:.2f}  (target <= 1.5)"),
        ("realtime, 1k events stored (median)", f"{rt_1k * 1000:.1f} ms, {rt_reads_1k} items read"),
        (f"realtime, {args.events // 1000}k events stored (median)", f"{rt_big * 1000:.1f} ms, {rt_reads_big} items read"),
        ("realtime latency ratio (large / 1k)", f"{rt_big / rt_1k:.2f}  (target <= 1.5)"),
        ("stats 24h, page+source filter, compare=previous", f"{filtered_big * 1000:.1f} ms"),
        (f"loading {args.events - len(small):,} events (batches of 500, aggregated)", f"{load_seconds:.1f} s"),
        (f"importing 30 days of history ({report.accepted:,} events)", f"{import_seconds:.1f} s"),
        ("stats 30d daily + compare=previous (median)", f"{month * 1000:.1f} ms, {month_reads} items read "
                                                         "(Lambda timeout 30,000 ms)"),
        ("stats 30d hourly (median)", f"{month_hourly * 1000:.1f} ms"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    ok = stats_big / stats_1k <= 1.5 and rt_big / rt_1k <= 1.5 and month < 3.0
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
