"""Ingestion benchmark: events/s through the HTTP API, fully aggregated, next to raw BatchWriteItem.

Runs the local stack in this process (so botocore hooks count every DynamoDB request it
makes) and sends traffic from a child process. Prints figures and the targets:
  batch-100 throughput >= 0.25 x raw BatchWriteItem rate
  write requests per event <= 2 (single-event requests, 100 events over 20 sessions), <= 1 (batches of 100)
  import of lambda_function <= 1.5 x import boto3 (and nothing from pandas, plotly or streamlit)

Usage: python bench/ingest.py [--batches 40] [--singles 600]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
WRITE_OPS = {"BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
PAGES = ["/", "/pricing", "/docs", "/blog/launch", "/signup", "/about", "/features", "/contact"]
REFERRERS = ["https://www.google.com/", "https://news.ycombinator.com/", "", "https://twitter.com/", ""]


def make_events(n: int, sessions: int, run: str) -> list[dict]:
    now = time.time()
    events = []
    for i in range(n):
        s = i % sessions
        event = {"event_type": "page_view" if i % 5 else "click", "session_id": f"{run}-{s}",
                 "timestamp": round(now - 30 + i * 0.001, 3), "page_url": f"https://shop.example.com{PAGES[i % 8]}",
                 "event_id": uuid.uuid4().hex}
        if i < sessions:
            event["referrer"] = REFERRERS[s % len(REFERRERS)]
        events.append(event)
    return events


def sender(url: str, payloads: list[str], out: multiprocessing.Queue) -> None:
    import requests

    session = requests.Session()
    session.headers.update({"Content-Type": "text/plain", "User-Agent": UA})
    started = time.perf_counter()
    for body in payloads:
        response = session.post(f"{url}/api/events", data=body, timeout=30)
        if response.status_code != 200:
            out.put(("error", response.text))
            return
    out.put(("ok", time.perf_counter() - started))


def total_events(url: str) -> int:
    import requests

    data = requests.get(f"{url}/api/stats?period=1h", timeout=30).json()["data"]
    return data["totals"]["events"]


def run_load(url: str, payloads: list[str], expected_total: int) -> tuple[float, float]:
    """Send payloads from a child process; returns (send seconds, seconds until aggregated)."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    started = time.perf_counter()
    child = multiprocessing.Process(target=sender, args=(url, payloads, queue))
    child.start()
    status, value = queue.get()
    child.join()
    if status != "ok":
        raise SystemExit(f"a request failed: {value}")
    while total_events(url) < expected_total:
        time.sleep(0.02)
    return value, time.perf_counter() - started


def raw_batch_write_rate(endpoint: str, items: int = 5000) -> float:
    """Items/s written with BatchWriteItem (25 per request) to a fresh table on the same store."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    table = f"bench-raw-{uuid.uuid4().hex[:6]}"
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"},
                                   {"AttributeName": "timestamp", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"},
                                              {"AttributeName": "timestamp", "AttributeType": "N"}])
    sample = {"event_type": {"S": "page_view"}, "page_url": {"S": "https://shop.example.com/pricing"},
              "user_agent": {"S": UA}, "referrer": {"S": "https://www.google.com/"}, "ttl": {"N": "1999999999"}}
    started = time.perf_counter()
    for start in range(0, items, 25):
        requests = [{"PutRequest": {"Item": dict(sample, session_id={"S": f"s{(start + j) % 97}"},
                                                 timestamp={"N": str(start + j)})}} for j in range(25)]
        client.batch_write_item(RequestItems={table: requests})
    rate = items / (time.perf_counter() - started)
    client.delete_table(TableName=table)
    return rate


def import_seconds(statement: str, runs: int = 7) -> float:
    code = f"import sys, time; sys.path.insert(0, {str(ROOT / 'lambdas')!r}); sys.path.insert(0, {str(ROOT)!r}); " \
           f"t = time.perf_counter(); {statement}; d = time.perf_counter() - t; " \
           "heavy = [m for m in ('pandas', 'plotly', 'streamlit') if m in sys.modules]; " \
           "print(d, ','.join(heavy))"
    times, heavy = [], ""
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]))
        heavy = out[1] if len(out) > 1 else heavy
    if heavy:
        raise SystemExit(f"{statement} imported {heavy}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="batches of 100 events for the throughput run")
    parser.add_argument("--singles", type=int, default=600, help="single-event requests for the throughput run")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import boto3

    calls: list[str] = []
    boto3._get_default_session().events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    from liveinsight.local.server import LocalStack

    stack = LocalStack(port=0).start()
    stack.start_in_thread()
    url = stack.url
    try:
        raw_rate = raw_batch_write_rate(stack.settings.dynamodb_endpoint)

        def writes_per_event(events: list[dict], per_request: int) -> tuple[float, float, float]:
            payloads = [json.dumps({"events": events[i:i + per_request]}) if per_request > 1
                        else json.dumps(events[i]) for i in range(0, len(events), per_request)]
            before_total = total_events(url)
            calls.clear()
            send, done = run_load(url, payloads, before_total + len(events))
            writes = sum(1 for c in calls if c in WRITE_OPS)
            return writes / len(events), len(events) / done, len(events) / send

        single_wpe, _, _ = writes_per_event(make_events(100, 20, "w1"), 1)
        batch_wpe, _, _ = writes_per_event(make_events(100, 20, "w2"), 100)
        _, single_rate, single_send = writes_per_event(make_events(args.singles, 60, "t1"), 1)
        _, batch_rate, batch_send = writes_per_event(make_events(args.batches * 100, 400, "t2"), 100)
    finally:
        stack.stop()
    boto3_s = import_seconds("import boto3")
    handler_s = import_seconds("import lambda_function")

    rows = [
        ("raw BatchWriteItem (25/request) to the embedded store", f"{raw_rate:,.0f} items/s"),
        ("HTTP single-event requests, fully aggregated", f"{single_rate:,.0f} events/s (sent at {single_send:,.0f}/s)"),
        ("HTTP batches of 100, fully aggregated", f"{batch_rate:,.0f} events/s (sent at {batch_send:,.0f}/s)"),
        ("batch-100 throughput / raw BatchWriteItem", f"{batch_rate / raw_rate:.2f}  (target >= 0.25)"),
        ("write requests per event, single (100 events, 20 sessions)", f"{single_wpe:.2f}  (target <= 2)"),
        ("write requests per event, batches of 100 (100 events)", f"{batch_wpe:.2f}  (target <= 1)"),
        ("import boto3 (median of 7)", f"{boto3_s * 1000:.0f} ms"),
        ("import lambda_function (median of 7)", f"{handler_s * 1000:.0f} ms"),
        ("handler import / boto3 import", f"{handler_s / boto3_s:.2f}  (target <= 1.5)"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    ok = batch_rate / raw_rate >= 0.25 and single_wpe <= 2 and batch_wpe <= 1 and handler_s / boto3_s <= 1.5
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
