"""Many-sites benchmark: all-sites answers against one-site answers at 1, 2,000 and 20,000 sites.

On the local stack in this process (the HTTP gateway, the Lambda handler, the embedded store):
one real site (shop.example.com, --visits visits over the last 20 minutes) and then made-up
sites with one visit each (two page views) 35-55 minutes ago: in the 24-hour stats but outside
the realtime window, so realtime compares the same live traffic with 1 or 20,000 sites stored
(--made-up-live puts them in the last 20 minutes too: then realtime also grows with the live
visits, 20,000 of them), written by the same aggregator as the stream would (in exclusive
batches, to load 20,000 sites in a minute). At each size it prints the median latency of GET /api/stats?period=24h and GET
/api/realtime for all sites and for the one site, their ratio, the size of the largest all-sites
item and the registry's (one item per site). Target (issue 18): all-sites within 2 x one-site.

Usage: python bench/sites.py [--sizes 1,2000,20000] [--visits 300] [--repeat 9]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SITE = "shop.example.com"


def visits(sites: list[str], per_site: int, now: float, ago: tuple[int, int] = (60, 1200)) -> list[dict]:
    """Unpacked event items (as the stream delivers them) of `per_site` two-page visits per site."""
    from liveinsight.ingest.collector import Collector, RequestContext
    from liveinsight.ingest.events import validate_event
    from liveinsight.items.events import unpack

    collector = Collector.__new__(Collector)  # only its pure item builder is used: no store
    collector.settings = None
    context = RequestContext("203.0.113.9", UA)
    events = []
    for s, site in enumerate(sites):
        for v in range(per_site):
            start = now - ago[0] - (s * 7 + v * 13) % (ago[1] - ago[0])
            for step, path in enumerate(("/", f"/p{v % 40}")):
                event = validate_event({"event_type": "page_view", "page_url": f"https://{site}{path}",
                                        "session_id": f"{site}-{v}", "timestamp": start + 20 * step,
                                        "event_id": f"{site}-{v}-{step}"}, now)
                events.append(unpack(collector._item(event, context, 86400)[0]))
    return events


def load(stack, events: list[dict], sites: list[str]) -> None:
    from liveinsight.aggregator import Aggregator
    from liveinsight.items import sites as registry

    store = stack.services.store
    for start in range(0, len(events), 20_000):
        Aggregator(store, exclusive=True).apply(events[start:start + 20_000])
    store.batch_put((store.settings.stats_table, registry.item(site, time.time())) for site in sites)


def median_ms(session, url: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = session.get(url, timeout=120)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return statistics.median(times) * 1000


def item_bytes(store, pk: str, sk_prefix: str) -> int:
    items = store.query(store.settings.stats_table, pk, sk_prefix, sk_prefix + "~")
    return max((len(item.get("c") or b"") for item in items), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2000,20000", help="numbers of sites to measure at")
    parser.add_argument("--visits", type=int, default=300, help="visits of the real site")
    parser.add_argument("--repeat", type=int, default=9, help="requests per median")
    parser.add_argument("--made-up-live", action="store_true",
                        help="the made-up sites' visits in the last 20 minutes too (live traffic grows with them)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("LIVEINSIGHT_NEW_SITES_PER_DAY", "1000000")):
        os.environ.setdefault(name, value)
    os.environ.pop("LIVEINSIGHT_SITES", None)
    import requests

    from liveinsight.items import rollups as r
    from liveinsight.local.server import LocalStack

    stack = LocalStack(port=0).start()
    stack.start_in_thread()
    session = requests.Session()
    now = time.time()
    rows, have = [], 0
    try:
        load(stack, visits([SITE], args.visits, now), [SITE])
        have = 1
        for size in sizes:
            made_up = [f"site{i:05d}.example" for i in range(have - 1, size - 1)]
            started = time.perf_counter()
            load(stack, visits(made_up, 1, now, (60, 1200) if args.made_up_live else (2100, 3300)), made_up)
            loading = time.perf_counter() - started
            have = max(have, size)
            figures = {}
            for label, query in (("stats", "/api/stats?period=24h"), ("realtime", "/api/realtime?window=30")):
                all_ms = median_ms(session, f"{stack.url}{query}", args.repeat)
                one_ms = median_ms(session, f"{stack.url}{query}&site={SITE}", args.repeat)
                figures[label] = (all_ms, one_ms)
            data = session.get(f"{stack.url}/api/stats?period=24h", timeout=120).json()["data"]
            assert data["totals"]["sessions"] == args.visits + size - 1, data["totals"]
            store = stack.services.store
            largest = max(item_bytes(store, r.pk(r.ALL_SITES, r.ALL), "d#"), item_bytes(store, r.pk(r.ALL_SITES, r.ALL), "h#"))
            rows.append((size, figures, largest, len(data["sites"]), loading))
    finally:
        stack.stop()

    print(f"{'sites':>7}  {'stats all / one (ms)':>22}  {'ratio':>5}  {'realtime all / one (ms)':>25}  {'ratio':>5}  "
          f"{'largest all-sites item':>22}  {'sites listed':>12}  {'load (s)':>8}")
    worst = 0.0
    for size, figures, largest, listed, loading in rows:
        (s_all, s_one), (rt_all, rt_one) = figures["stats"], figures["realtime"]
        worst = max(worst, s_all / s_one, rt_all / rt_one)
        print(f"{size:>7,}  {s_all:>10.1f} / {s_one:>9.1f}  {s_all / s_one:>5.2f}  {rt_all:>12.1f} / {rt_one:>10.1f}  "
              f"{rt_all / rt_one:>5.2f}  {largest:>20,} B  {listed:>12}  {loading:>8.1f}")
    print(f"{'ok  ' if worst <= 2 else 'FAIL'}  all-sites latency at most {worst:.2f} x one site's (target <= 2)")


if __name__ == "__main__":
    main()
