"""Cost benchmark: DynamoDB's on-demand price per event of a long-tail shop, metered at the wire.

Runs the local stack in this process with every DynamoDB client the backend creates metered
by bench/pricing.py (botocore hooks pricing each request by DynamoDB's billing rules), and
drives it like a real shop: Zipf page popularity (exponent 1) over a product catalogue of
~60-character paths plus the hot pages /, /cart and /search; sessions of 1-5 page views
10-60 s apart; a mix of search, social, email and direct sources; add_to_cart events. Its
visitors send no visit id (the tracker's default: the server derives visitors and splits
visits), 15 % of visits are a returning visitor's, and each comes through the front door
from a weighted country, region and one of 400 Zipf-popular cities per country — so visitors
and places are counted as a deployment counts them.

  phase 1  --preload events of today's long tail (at most 23 h old), POSTed a visit per
           request and aggregated; then the meter is reset.
  phase 2  one beacon per request (single-event POSTs, like the tracker) at --rate events/s
           for --seconds, concurrent sessions interleaved as they arrive; then aggregated.

Prints, for phase 2: events sent and counted (GET /api/stats?period=24h before and after),
write units, read units and requests per event for every table and index the backend
touched, the largest item written; then the read units of single API calls. Figures are
ratios within one run, so a slow machine changes the run time, not the result.
The stack runs both consumers of the events stream at the template's windows (realtime 1 s,
rollups 60 s; LIVEINSIGHT_STREAM_WINDOW_SECONDS / LIVEINSIGHT_ROLLUP_WINDOW_SECONDS change them).
Then what a page group added now costs to recount over the raw events kept (issue 21), and
the all-in dollars per million beacon events on each collector path the template offers
(and API Gateway's HTTP API for comparison), with the collector's Lambda duration measured as
its handler's own time, and what a stack costs a month at 0, 1M, 10M and 100M events.
Targets (issues 10, 19 and 23): <= 3.5 write units per event in total with visitors and places, <= 100 read units per
30-day stats call, no item over 64 KB, <= $3 per million beacon events at the template's defaults.

`--one-lane 10` runs the design before issue 23's lanes (one consumer writing everything at a 10 s
window) and `--engagement 0 --no-definitions` the shop before issues 20 and 21, to price each against
the same traffic.

Usage: python bench/cost.py [--seconds 120] [--rate 10] [--preload 20000] [--catalogue 30000]
                            [--seed 1] [--json] [--no-definitions] [--engagement 0.85] [--one-lane SECONDS]
"""
from __future__ import annotations

import argparse
import bisect
import dataclasses
import datetime as dt
import json
import math
import os
import random
import sys
import time
import uuid
from itertools import accumulate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pricing import Meter, meter_backend  # noqa: E402

SITE = "https://shop.example.com"
HOT_PAGES = [("/", 0.15), ("/search", 0.10), ("/cart", 0.05)]  # share of all page views; the rest is the catalogue
VIEWS_PER_SESSION = (1, 5)
SECONDS_BETWEEN_VIEWS = (10.0, 60.0)
ADD_TO_CART_SHARE = 0.10  # of product page views
ENGAGEMENT_SHARE = 0.85   # of page views: the tracker reports engaged time and scroll depth when the page is left
PATH_CHARS = 60
BATCH_EVENTS = 100
MAX_PRELOAD_AGE = 23 * 3600
# Issues 19 and 20: at most 3.5 with visitors and places counted (issue 23's 2.5 was set on the
# same shop before visitors and places; printed beside it).
TARGET_WRITE_UNITS_PER_EVENT = 3.5
BEFORE_VISITORS_TARGET = 2.5
TARGET_STATS_READ_UNITS = 100
TARGET_ITEM_BYTES = 64 * 1024
# On-demand prices in us-east-1, dollars per million request units.
WRITE_UNIT_PRICE = 0.625
READ_UNIT_PRICE = 0.125
# The rest of a beacon's price (us-east-1 list prices, no free tier, dollars per million requests).
REST_API_PRICE = 3.50            # API Gateway REST API (first 333M a month)
HTTP_API_PRICE = 1.00            # API Gateway HTTP API, requests up to 512 KB (first 300M a month)
CLOUDFRONT_REQUEST_PRICE = 1.00  # CloudFront HTTPS requests, US and Europe (PriceClass_100)
LAMBDA_REQUEST_PRICE = 0.20
LAMBDA_GB_SECOND_PRICE = 0.0000166667  # x86_64
COLLECTOR_GB, AGGREGATOR_GB = 0.25, 0.5  # the template's memory sizes
# Data transfer, dollars per GB: to the internet from API Gateway or Lambda (first 10 TB), from
# CloudFront to viewers (US and Europe, first 10 TB), and from CloudFront to an origin.
INTERNET_GB_PRICE = 0.09
CLOUDFRONT_OUT_GB_PRICE = 0.085
CLOUDFRONT_TO_ORIGIN_GB_PRICE = 0.02
RESPONSE_BYTES = 450   # a beacon's answer: the status line, CORS and CloudFront headers, the small JSON
HEADER_BYTES = 700     # what a beacon's request carries besides its body (user agent, viewer and origin headers)
TARGET_DOLLARS_PER_MILLION = 3.0
# Each collector path: (name, how the template offers it, gateway $/M, CloudFront $/M); None: not offered.
DEFAULT_PATH = "CloudFront + Lambda function URL"
COLLECTOR_PATHS = [
    (DEFAULT_PATH, "defaults", 0.0, CLOUDFRONT_REQUEST_PRICE),
    ("CloudFront + REST API", "CollectorOrigin=rest-api", REST_API_PRICE, CLOUDFRONT_REQUEST_PRICE),
    ("REST API alone", "FrontDoor=disabled", REST_API_PRICE, 0.0),
    ("HTTP API alone", None, HTTP_API_PRICE, 0.0),
]
# What a stack costs a month with no traffic at all (us-east-1): 17 CloudWatch alarms ($0.10 each),
# the alarm topic's KMS key ($1), the API key, share and origin secrets ($0.40 each); DynamoDB,
# Lambda, API Gateway, CloudFront and the tracker's bucket bill (next to) nothing without requests.
IDLE_MONTHLY = {"FrontDoor=enabled": 17 * 0.10 + 1.00 + 3 * 0.40, "FrontDoor=disabled": 17 * 0.10 + 1.00 + 2 * 0.40}
MONTHLY_EVENTS = (0, 1_000_000, 10_000_000, 100_000_000)
SINGLE_CALLS = ["/api/stats?period=30d", "/api/stats?period=30d&page=/", "/api/stats?period=24h",
                "/api/stats?period=1h", "/api/realtime",
                # The Goals view (every goal, then one over time and by source…) and a Funnels view, 30 days.
                "/api/stats?period=30d&site=shop.example.com",
                "/api/stats?period=30d&site=shop.example.com&goal=added%20to%20cart",
                "/api/stats?period=30d&site=shop.example.com&funnel=home%20to%20cart&limit=1"]
# Issue 21: the write units per event with 20 page groups, 10 goals and 3 funnels defined (at most 4).
TARGET_WITH_DEFINITIONS = 4.0


def bench_definitions() -> str:
    """LIVEINSIGHT_DEFINITIONS for the shop: 20 page groups (all products, and 19 by the first word of a
    product's name), 10 goals (pages, page groups, add-to-cart events with a property) and 3 funnels."""
    words = sorted(set(WORDS))[:19]
    groups = [{"name": "products", "pattern": "/products/*"}] + [
        {"name": word, "pattern": f"/products/{word}-*"} for word in words]
    goals = [{"name": "home", "page": "/"}, {"name": "searched", "page": "/search"},
             {"name": "cart viewed", "page": "/cart"}, {"name": "product viewed", "page_group": "products"},
             {"name": "added to cart", "event_type": "add_to_cart"},
             {"name": "added two", "event_type": "add_to_cart", "props": {"quantity": 2}},
             {"name": "organic viewed", "page_group": words[0]}, {"name": "merino viewed", "page_group": words[1]},
             {"name": "linen viewed", "page_group": words[2]}, {"name": "wool viewed", "page_group": words[3]}]
    funnels = [{"name": "home to cart", "steps": ["home", "product viewed", "added to cart", "cart viewed"]},
               {"name": "search to cart", "steps": ["searched", "product viewed", "added to cart"]},
               {"name": "two at once", "steps": ["product viewed", "added two"]}]
    return json.dumps({urlsplit(SITE).hostname: {"page_groups": groups, "goals": goals, "funnels": funnels}})

# (referrer, landing-page query, weight)
SOURCES = [
    ("https://www.google.com/", "", 38), ("https://www.bing.com/", "", 4), ("https://duckduckgo.com/", "", 2),
    ("https://www.facebook.com/", "", 5), ("https://l.instagram.com/", "", 5), ("https://www.pinterest.com/", "", 3),
    ("https://www.reddit.com/r/BuyItForLife/", "", 2),
    ("", "?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale", 8),
    ("", "?utm_source=google&utm_medium=cpc&utm_campaign=shopping", 5),
    ("", "", 28),
]
AGENTS = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", 30),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Mobile Safari/537.36", 22),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", 28),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", 12),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 8),
]
# Where visitors are: (country, regions, weight); a country's cities are Zipf-popular among
# CITIES_PER_COUNTRY, each in one of its regions — the long tail of places a CDN reports.
COUNTRIES = [("US", ["CA", "NY", "TX", "FL", "WA", "IL", "MA", "GA", "CO", "OR"], 30), ("DE", ["BE", "BY", "NW", "HH"], 9),
             ("GB", ["ENG", "SCT", "WLS"], 8), ("IN", ["MH", "KA", "DL", "TN"], 7), ("FR", ["IDF", "ARA", "PAC"], 5),
             ("CA", ["ON", "QC", "BC"], 4), ("BR", ["SP", "RJ", "MG"], 4), ("JP", ["13", "27", "14"], 3),
             ("NL", ["NH", "ZH", "UT"], 3), ("AU", ["NSW", "VIC", "QLD"], 3), ("ES", ["MD", "CT", "AN"], 3),
             ("IT", ["62", "25", "72"], 3), ("PL", ["14", "12"], 2), ("SE", ["AB", "O"], 2), ("MX", ["CMX", "JAL"], 2),
             ("KR", ["11", "26"], 2), ("CH", ["ZH", "GE"], 1), ("AT", ["9", "6"], 1), ("IE", ["D", "C"], 1),
             ("SG", ["01"], 1)]
CITIES_PER_COUNTRY = 400
RETURNING_SHARE = 0.15  # of visits: a visitor of an earlier visit today comes back
WORDS = ("organic cotton merino wool linen canvas leather suede recycled lightweight heavyweight classic slim "
         "relaxed cropped oversized hooded zip crew neck v-neck long-sleeve short-sleeve ribbed quilted "
         "waterproof packable travel everyday weekend trail running walking hiking sneaker boot loafer "
         "sandal jacket parka vest shirt tee sweater cardigan chino jean short skirt dress tote backpack "
         "wallet belt scarf beanie cap sock black white navy olive sand charcoal rust sage indigo").split()


@dataclasses.dataclass(frozen=True)
class Visitor:
    """Who sends a visit: an address, a browser and the place the CDN reports for them."""

    ip: str
    agent: str
    country: str
    region: str
    city: str

    def headers(self, origin_secret: str) -> dict[str, str]:
        """The headers the deployment's CloudFront distribution adds to the visitor's requests."""
        return {"User-Agent": self.agent, "X-LiveInsight-Origin": origin_secret,
                "CloudFront-Viewer-Address": f"{self.ip}:443", "CloudFront-Viewer-Country": self.country,
                "CloudFront-Viewer-Country-Region": self.region, "CloudFront-Viewer-City": self.city}


class Shop:
    """A long-tail shop's traffic: pages by Zipf popularity, sessions, sources and cart events."""

    def __init__(self, catalogue: int, seed: int, engagement: float = ENGAGEMENT_SHARE):
        self.rng = random.Random(seed)
        self.engagement = engagement  # of page views, the share that reports engagement when left
        self.visitors: list[Visitor] = []
        city_weights = [1 / rank for rank in range(1, CITIES_PER_COUNTRY + 1)]
        self.city_weights = list(accumulate(city_weights))
        products = [self._product_path(n) for n in range(1, catalogue + 1)]
        self.rng.shuffle(products)  # popularity rank is unrelated to the product number
        catalogue_share = 1 - sum(share for _, share in HOT_PAGES)
        harmonic = sum(1 / rank for rank in range(1, catalogue + 1))
        self.pages = [path for path, _ in HOT_PAGES] + products
        weights = [share for _, share in HOT_PAGES] + [catalogue_share / (rank * harmonic)
                                                       for rank in range(1, catalogue + 1)]
        self.cumulative, total = [], 0.0
        for weight in weights:
            total += weight
            self.cumulative.append(total)

    def _product_path(self, n: int) -> str:
        words, length = [], len("/products/") + len(f"-{n}")
        target = PATH_CHARS + self.rng.randint(-6, 6)
        while length < target - 4:
            word = self.rng.choice(WORDS)
            words.append(word)
            length += len(word) + 1
        return f"/products/{'-'.join(words)}-{n}"

    def page(self) -> str:
        return self.pages[bisect.bisect_left(self.cumulative, self.rng.random() * self.cumulative[-1])]

    def _weighted(self, options: list[tuple]) -> tuple:
        return self.rng.choices(options, weights=[o[-1] for o in options])[0]

    def visitor(self) -> Visitor:
        """A new visitor from a weighted country, region and city, or one who came earlier today."""
        r = self.rng
        if self.visitors and r.random() < RETURNING_SHARE:
            return r.choice(self.visitors)
        country, regions, _ = self._weighted(COUNTRIES)
        city = bisect.bisect_left(self.city_weights, r.random() * self.city_weights[-1])
        visitor = Visitor(ip=f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
                          agent=self._weighted(AGENTS)[0], country=country, region=regions[city % len(regions)],
                          city=f"{country} Town {city}")
        self.visitors.append(visitor)
        return visitor

    def session(self, start: float) -> list[dict]:
        """One session's events from `start` (epoch seconds), oldest first; each carries its user agent
        and, in `_visitor`, who sends it."""
        r = self.rng
        session_id = uuid.UUID(int=r.getrandbits(128)).hex
        visitor = self.visitor()
        agent = visitor.agent
        referrer, query, _ = self._weighted(SOURCES)
        if "utm_medium=cpc" in query:  # a search ad: the searched words in utm_term (a long tail)
            query += f"&utm_term={r.choice(WORDS)}+{r.choice(WORDS)}"
        elif "utm_medium=email" in query:
            query += f"&utm_content={r.choice(['hero', 'footer', 'banner'])}"
        events, t = [], start
        views: list[tuple[float, str]] = []
        for view in range(r.randint(*VIEWS_PER_SESSION)):
            if view:
                t += r.uniform(*SECONDS_BETWEEN_VIEWS)
            path = self.page()
            event = self._event("page_view", session_id, t, SITE + path + (query if view == 0 else ""), agent)
            if view == 0 and referrer:
                event["referrer"] = referrer
            events.append(event)
            views.append((t, path))
            if path.startswith("/products/") and r.random() < ADD_TO_CART_SHARE:
                cart = self._event("add_to_cart", session_id, t + r.uniform(2, 8), SITE + path, agent)
                cart["props"] = {"product": path.rsplit("-", 1)[1], "quantity": r.choice([1, 1, 1, 2])}
                events.append(cart)
        for n, (at, path) in enumerate(views):  # each page's engagement, sent as it is left
            if r.random() < self.engagement:
                left = views[n + 1][0] - 0.2 if n + 1 < len(views) else at + r.uniform(5, 90)
                engagement = self._event("engagement", session_id, left, SITE + path, agent)
                engagement["props"] = {"engaged_seconds": round(r.uniform(0.6, 0.95) * (left - at), 1),
                                       "scroll_depth": r.choice([25, 50, 75, 90, 100])}
                events.append(engagement)
        events.sort(key=lambda e: e["timestamp"])
        for event in events:
            event["_visitor"] = visitor
        return events

    def _event(self, event_type: str, session_id: str, t: float, url: str, agent: str) -> dict:
        return {"event_type": event_type, "session_id": session_id, "timestamp": t, "page_url": url,
                "user_agent": agent, "event_id": uuid.UUID(int=self.rng.getrandbits(128)).hex}


def preload_window(now: float) -> tuple[float, float]:
    """(oldest, newest) timestamps for today's events: since midnight UTC, at most 23 h, at least 1 h back."""
    midnight = dt.datetime.fromtimestamp(now, dt.timezone.utc).replace(hour=0, minute=0, second=0,
                                                                       microsecond=0).timestamp()
    oldest = max(midnight, now - MAX_PRELOAD_AGE)
    newest = now - 10 * 60
    return min(oldest, newest - 3600), newest


def preload_events(shop: Shop, count: int, now: float) -> list[dict]:
    oldest, newest = preload_window(now)
    span = newest - oldest - 7 * 60  # the longest session (4 gaps of 60 s + the last page's engagement) ends by `newest`
    events: list[dict] = []
    while len(events) < count:
        events.extend(shop.session(oldest + shop.rng.random() * span))
    events = sorted(events[:count], key=lambda e: e["timestamp"])
    for event in events:
        event["timestamp"] = int(event["timestamp"] * 1000)  # milliseconds, as the tracker sends them
    return events


def live_events(shop: Shop, count: int, rate: float) -> tuple[list[dict], list[dict]]:
    """(under way, live): `count` events of sessions arriving at random, interleaved in time order; their
    offsets are replaced by a steady `rate` when sent. Sessions already under way when the window opens
    contribute their later events, and their earlier ones are sent before it (unmetered), as a site in
    its steady state has: every engagement report then follows its page view, as the tracker sends them."""
    horizon = count / rate
    mean_events = (sum(VIEWS_PER_SESSION) / 2) * (1 + ADD_TO_CART_SHARE * 0.7 + shop.engagement)
    arrivals = rate / mean_events
    longest = VIEWS_PER_SESSION[1] * SECONDS_BETWEEN_VIEWS[1]
    t, events, under_way = -longest, [], []
    while t < horizon * 1.5:
        t += shop.rng.expovariate(arrivals)
        session = shop.session(t)
        events.extend(e for e in session if e["timestamp"] >= 0)
        if session[0]["timestamp"] < 0 <= session[-1]["timestamp"]:
            under_way.extend(e for e in session if e["timestamp"] < 0)
    events.sort(key=lambda e: e["timestamp"])
    events = events[:count]
    kept = {e["session_id"] for e in events}
    return sorted((e for e in under_way if e["session_id"] in kept), key=lambda e: e["timestamp"]), events


def _sent(event: dict) -> dict:
    """An event as sent: without the generator's own keys."""
    return {k: v for k, v in event.items() if not k.startswith("_")}


def post_batches(http: Any, url: str, events: list[dict]) -> int:
    """POST events with their own visit ids in batches of BATCH_EVENTS (an API client's upload)."""
    accepted = 0
    for start in range(0, len(events), BATCH_EVENTS):
        batch = [_sent(e) for e in events[start:start + BATCH_EVENTS]]
        response = http.post(f"{url}/api/events", data=json.dumps({"events": batch}),
                             headers={"Content-Type": "text/plain"}, timeout=120)
        if response.status_code != 200:
            raise SystemExit(f"preload POST failed: {response.status_code} {response.text[:300]}")
        accepted += response.json()["data"]["accepted"]
    return accepted


def post_visits(http: Any, url: str, events: list[dict], origin_secret: str) -> int:
    """POST each visit's events in one request as the tracker's visitors send them: no visit id (the
    server derives the visitor), through the front door (the visitor's address and place in its headers)."""
    visits: dict[str, list[dict]] = {}
    for event in events:
        visits.setdefault(event["session_id"], []).append(event)
    accepted = 0
    for visit in visits.values():
        body = [{k: v for k, v in _sent(e).items() if k not in ("session_id", "user_agent")} for e in visit]
        response = http.post(f"{url}/api/events", data=json.dumps({"events": body}), timeout=120,
                             headers={"Content-Type": "text/plain", **visit[0]["_visitor"].headers(origin_secret)})
        if response.status_code != 200:
            raise SystemExit(f"preload POST failed: {response.status_code} {response.text[:300]}")
        accepted += response.json()["data"]["accepted"]
    return accepted


def send_beacons(http: Any, url: str, events: list[dict], rate: float,
                 durations: list[float] | None = None, origin_secret: str | None = None) -> tuple[int, float]:
    """POST each event alone at `rate` per second, user agent in the header like sendBeacon; (accepted, seconds).
    With `origin_secret`, as the tracker's visitors send them through the front door (see post_visits).

    `durations` collects each POST's round trip (an upper bound of the collector function's duration)."""
    accepted, started = 0, time.perf_counter()
    for i, event in enumerate(events):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        beacon = {k: v for k, v in _sent(event).items() if k != "user_agent"}
        beacon["timestamp"] = int(time.time() * 1000)
        headers = {"Content-Type": "text/plain", "User-Agent": event["user_agent"]}
        if origin_secret is not None:
            beacon.pop("session_id")
            headers.update(event["_visitor"].headers(origin_secret))
        posted = time.perf_counter()
        response = http.post(f"{url}/api/events", data=json.dumps(beacon), timeout=60, headers=headers)
        if durations is not None:
            durations.append(time.perf_counter() - posted)
        if response.status_code != 200:
            raise SystemExit(f"beacon POST failed: {response.status_code} {response.text[:300]}")
        accepted += response.json()["data"]["accepted"]
    return accepted, time.perf_counter() - started


def counted_events(http: Any, url: str) -> int:
    response = http.get(f"{url}/api/stats?period=24h", timeout=120)
    response.raise_for_status()
    return int(response.json()["data"]["totals"]["events"])


def wait_aggregated(stack: Any, timeout: float) -> bool:
    """The poller found nothing new twice in a row: everything written has been aggregated."""
    return stack.wait_until_aggregated(timeout=timeout) and stack.wait_until_aggregated(timeout=timeout)


def table_names(settings: Any) -> dict[str, str]:
    """Physical table name -> logical name ("events", "sessions", ...) from every `*_table` setting."""
    return {getattr(settings, f.name): f.name[:-len("_table")] for f in dataclasses.fields(settings)
            if f.name.endswith("_table") and isinstance(getattr(settings, f.name), str)}


def logical(scope: str, names: dict[str, str]) -> str:
    table, _, index = scope.partition("/")
    return names.get(table, table) + (f"/{index}" if index else "")


def named(largest: dict | None, names: dict[str, str]) -> dict | None:
    return dict(largest, table=logical(largest["table"], names)) if largest else None


def single_call_costs(http: Any, url: str, meter: Meter, names: dict[str, str],
                      calls: list[str] | None = None) -> list[dict]:
    rows = []
    for path in calls or SINGLE_CALLS:
        meter.reset()
        response = http.get(f"{url}{path}", timeout=120)
        report = meter.report()
        rows.append({"call": f"GET {path}", "status": response.status_code, "read_units": report["read_units"],
                     "write_units": report["write_units"], "requests": report["requests"],
                     "items_read": sum(t["items_read"] for t in report["tables"].values()),
                     "largest_item_read": named(report["largest_read"], names)})
    return rows


# A year at a glance (issue 22): twelve monthly points, read from month items.
YEAR_CALLS = ["/api/stats?period=last_12_months", "/api/stats?period=last_12_months&site=shop.example.com",
              "/api/stats?period=last_12_months&site=shop.example.com&country=US",
              "/api/stats?period=last_12_months&site=shop.example.com&source=Google",
              "/api/stats?period=last_12_months&site=shop.example.com&page=/",
              "/api/stats?period=last_12_months&site=shop.example.com&page=/cart",
              "/api/stats?period=all_time&site=shop.example.com"]
TARGET_YEAR_READ_UNITS = 50
TARGET_YEAR_MS = 200


def recount_cost(stack: Any, meter: Meter) -> dict[str, Any]:
    """What a page group added now costs to recount over the raw events kept (liveinsight/recount.py): the
    job's Scan and markers, then the rollup consumer's Queries and writes, metered from the job to idle."""
    from liveinsight.recount import RECOUNT_AFTER_SECONDS, Recounter

    site = urlsplit(SITE).hostname
    stack.services.definitions.put(site, "page_groups", "catalogue", {"pattern": "/products/**"})
    stack.services.aggregator.definitions.clear()  # a warm aggregator reads it within its minute
    meter.reset()
    started = time.perf_counter()
    result = Recounter(stack.services.store, stack.settings,
                       clock=lambda: time.time() + 2 * RECOUNT_AFTER_SECONDS).run()
    job = meter.report()
    wait_aggregated(stack, timeout=600.0)
    total = meter.report()
    (done,) = [r for r in result["recounted"] if r["name"] == "catalogue"]
    return {"visitors": done["visitors"], "seconds": round(time.perf_counter() - started, 1),
            "job": {"read_units": job["read_units"], "write_units": job["write_units"], "requests": job["requests"]},
            "aggregation": {"read_units": total["read_units"] - job["read_units"],
                            "write_units": total["write_units"] - job["write_units"],
                            "requests": total["requests"] - job["requests"]}}


def fill_earlier_months(stack: Any, months: int = 12) -> int:
    """Copies of this month's month items into the `months` before it (the bench has one day of traffic):
    a year view then reads twelve months of a shop's full-size items. Returns the items copied."""
    from liveinsight.items import rollups as r
    from liveinsight.store import Store

    store = Store(stack.settings)
    copied = 0
    for level in ("*", "shop.example.com"):
        for dim, value in ((r.ALL, None), (r.COUNTRY, "US"), (r.SOURCE, "Google")):
            pk = r.pk(level, dim, value)
            items = store.query(stack.settings.stats_table, pk, r.sk(r.MONTH, 0), r.sk(r.MONTH, 10**10 - 1))
            if not items:
                continue
            latest = items[-1]
            start = int(latest["sk"].split("#")[1])
            for n in range(1, months):
                earlier = _months_back(start, n)
                store.put_item(stack.settings.stats_table, {**latest, "sk": r.sk(r.MONTH, earlier)})
                copied += 1
    return copied


def _months_back(start: int, n: int) -> int:
    day = dt.datetime.fromtimestamp(start, dt.timezone.utc)
    index = day.year * 12 + day.month - 1 - n
    return int(dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.timezone.utc).timestamp())


def year_view_costs(http: Any, url: str, meter: Meter, names: dict[str, str], repeat: int = 5) -> list[dict]:
    """Read units (metered) and the median time of each year view, on the local stack."""
    rows = single_call_costs(http, url, meter, names, YEAR_CALLS)
    for row, path in zip(rows, YEAR_CALLS):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            http.get(f"{url}{path}", timeout=120)
            times.append(time.perf_counter() - started)
        row["ms"] = round(sorted(times)[len(times) // 2] * 1000, 1)
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import requests

    # Every client of the backend is metered (the census line shows it), so the meter may trust
    # the items its own writes left behind instead of re-reading them before each write.
    from liveinsight.local.server import CHECKPOINT_PREFIX, LocalStack

    # The stream pollers' checkpoints stand in for the position an event source mapping keeps for free.
    meter = Meter(trust_own_writes=True, free_key_prefixes=(CHECKPOINT_PREFIX,), kind_of=item_kind)
    census = meter_backend(meter)  # before the stack creates its clients

    shop = Shop(args.catalogue, args.seed, args.engagement)
    if args.definitions:
        os.environ["LIVEINSIGHT_DEFINITIONS"] = bench_definitions()
    stack = LocalStack(port=0).start()
    for schedule in stack.schedules:  # the bench runs the recount job itself, metered (recount_cost)
        schedule.stop()
    if args.one_lane is not None:  # the design before issue 23: one consumer writes everything at one window
        from liveinsight.local.server import StreamPoller, load_handler

        for poller in stack.pollers:
            poller.stop()
        stack.pollers = [StreamPoller(stack.settings, load_handler(), interval=args.one_lane)]
        stack.pollers[0].start()
    billed = time_the_collector()
    stack.start_in_thread()
    url, http = stack.url, requests.Session()
    http.headers["User-Agent"] = AGENTS[0][0]
    result: dict[str, Any] = {"settings": {k: getattr(args, k) for k in ("seconds", "rate", "preload", "catalogue",
                                                                       "seed", "definitions", "engagement",
                                                                       "one_lane")},
                              "windows": {(poller.consumer or "one consumer of everything"): poller.interval for poller in stack.pollers},
                              "only_site": stack.settings.only_site}
    try:
        names = table_names(stack.settings)
        log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))

        started = time.perf_counter()
        events = preload_events(shop, args.preload, time.time())
        oldest, _ = preload_window(time.time())
        paths = len({urlsplit(e["page_url"]).path for e in events})
        log(f"phase 1: {len(events):,} events since {dt.datetime.fromtimestamp(oldest, dt.timezone.utc):%H:%M} UTC, "
            f"{paths:,} distinct pages ...")
        accepted = post_visits(http, url, events, stack.origin_secret)
        sent_seconds = time.perf_counter() - started
        aggregated = wait_aggregated(stack, timeout=max(600.0, args.preload / 20))
        phase1 = meter.report()
        before = counted_events(http, url)
        result["phase1"] = {"events": len(events), "accepted": accepted, "distinct_pages": paths,
                            "send_seconds": round(sent_seconds, 1),
                            "seconds": round(time.perf_counter() - started, 1), "aggregated": aggregated,
                            "counted_24h": before, "write_units": phase1["write_units"],
                            "largest_write": named(phase1["largest_write"], names)}
        log(f"phase 1: sent in {sent_seconds:.1f} s, aggregated after {time.perf_counter() - started:.1f} s; "
            f"24h events counted: {before:,}")

        under_way, beacons = live_events(shop, int(args.seconds * args.rate), args.rate)
        send_beacons(http, url, under_way, 10 * args.rate, None, stack.origin_secret)
        wait_aggregated(stack, timeout=600.0)
        before = counted_events(http, url)
        log(f"phase 2: {len(beacons):,} beacons at {args.rate:g}/s (after {len(under_way)} earlier events of the "
            "visits under way) ...")
        meter.reset()
        busy = {p.consumer: (p.delivered, p.busy_seconds, p.batches) for p in stack.pollers}
        lane = {p.consumer: p.consumer or "one_lane" for p in stack.pollers}
        billed.clear()
        durations: list[float] = []
        accepted, seconds = send_beacons(http, url, beacons, args.rate, durations, stack.origin_secret)
        aggregated = wait_aggregated(stack, timeout=600.0)
        report = meter.report()
        result["durations"] = {
            "collector_ms": round(sorted(durations)[len(durations) // 2] * 1000, 2),
            # what Lambda bills: each invocation's duration rounded up to the millisecond
            "collector_billed_ms": round(sum(math.ceil(b * 1000) for b in billed) / max(1, len(billed)), 2),
            "beacon_bytes": round(sum(len(json.dumps(_sent(b))) for b in beacons) / max(1, len(beacons))),
            **{f"{lane[p.consumer]}_ms_per_record": round(1000 * (p.busy_seconds - busy[p.consumer][1])
                                                    / max(1, p.delivered - busy[p.consumer][0]), 3)
               for p in stack.pollers},
            **{f"{lane[p.consumer]}_invocations_per_record": round((p.batches - busy[p.consumer][2])
                                                             / max(1, p.delivered - busy[p.consumer][0]), 4)
               for p in stack.pollers}}
        after = counted_events(http, url)
        result["clients"] = census.line()
        result["phase2"] = {"sent": len(beacons), "accepted": accepted, "send_seconds": round(seconds, 1),
                            # engagement reports are beacons but not events: every other beacon is counted
                            "engagement": sum(b["event_type"] == "engagement" for b in beacons),
                            "aggregated": aggregated, "counted": after - before, "counted_24h_before": before,
                            "counted_24h_after": after, "meter": report,
                            "largest_write": named(report["largest_write"], names),
                            "tables": {logical(scope, names): usage for scope, usage in report["tables"].items()}}
        result["single_calls"] = single_call_costs(http, url, meter, names)
        result["recount"] = recount_cost(stack, meter)
        result["year_months_copied"] = fill_earlier_months(stack)
        result["year_calls"] = year_view_costs(http, url, meter, names)
    finally:
        stack.stop()
    return result


def time_the_collector() -> list[float]:
    """The seconds of each POST the local gateway hands to the handler (the function's own duration, without HTTP)."""
    from liveinsight.local.server import Gateway

    billed: list[float] = []
    inner = Gateway.handler

    def timed(event: dict, context: Any) -> dict:
        started = time.perf_counter()
        try:
            return inner(event, context)
        finally:
            if event.get("httpMethod") == "POST":
                billed.append(time.perf_counter() - started)

    Gateway.handler = staticmethod(timed)
    return billed


def per_event_rows(phase2: dict) -> list[tuple[str, ...]]:
    sent = phase2["sent"] or 1
    rows = []
    for name, usage in phase2["tables"].items():
        rows.append((name, f"{usage['write_units']:,.0f}", f"{usage['write_units'] / sent:.2f}",
                     f"{usage['read_units']:,.1f}", f"{usage['read_units'] / sent:.2f}",
                     f"{usage['requests']:,}", f"{usage['requests'] / sent:.2f}", f"{usage['items_written']:,}"))
    meter = phase2["meter"]
    rows.append(("total", f"{meter['write_units']:,.0f}", f"{meter['write_units'] / sent:.2f}",
                 f"{meter['read_units']:,.1f}", f"{meter['read_units'] / sent:.2f}",
                 f"{meter['requests']:,}", f"{meter['requests'] / sent:.2f}",
                 f"{sum(u['items_written'] for name, u in phase2['tables'].items() if '/' not in name):,}"))
    return rows


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for n, row in enumerate([header, *rows]):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def beacon_prices(durations: dict[str, float], wu: float, ru: float) -> list[tuple[str, str | None, dict[str, float]]]:
    """All-in dollars per million beacon events for each collector path, by line.

    The collector's Lambda duration is what Lambda bills (`collector_billed_ms`: the handler's
    own time rounded up to the millisecond; the POST round trip of older results otherwise).
    """
    dynamodb = wu * WRITE_UNIT_PRICE + ru * READ_UNIT_PRICE
    collector_ms = durations.get("collector_billed_ms", durations["collector_ms"])
    collector = LAMBDA_REQUEST_PRICE + 1e6 * collector_ms / 1000 * COLLECTOR_GB * LAMBDA_GB_SECOND_PRICE
    aggregators = sum(1e6 * durations[f"{c}_ms_per_record"] / 1000 * AGGREGATOR_GB * LAMBDA_GB_SECOND_PRICE
                      + durations[f"{c}_invocations_per_record"] * LAMBDA_REQUEST_PRICE
                      for c in [k[:-len("_ms_per_record")] for k in durations if k.endswith("_ms_per_record")])
    request_gb = 1e6 * (durations.get("beacon_bytes", 300) + HEADER_BYTES) / 1e9
    response_gb = 1e6 * RESPONSE_BYTES / 1e9
    rows = []
    for path, offered, gateway, cloudfront in COLLECTOR_PATHS:
        transfer = (response_gb * CLOUDFRONT_OUT_GB_PRICE + request_gb * CLOUDFRONT_TO_ORIGIN_GB_PRICE if cloudfront
                    else response_gb * INTERNET_GB_PRICE)
        lines = {"DynamoDB": dynamodb, "gateway": gateway, "CloudFront": cloudfront, "transfer": transfer,
                 "collector Lambda": collector, "aggregator Lambdas": aggregators}
        rows.append((path, offered, {**lines, "total": sum(lines.values())}))
    return rows


def monthly_costs(rows: list[tuple[str, str | None, dict[str, float]]]) -> list[tuple[str, list[float]]]:
    """What a stack costs a month at MONTHLY_EVENTS beacon events on each offered path (no free tier)."""
    table = []
    for path, offered, lines in rows:
        if offered is None:
            continue
        idle = IDLE_MONTHLY["FrontDoor=disabled" if offered == "FrontDoor=disabled" else "FrontDoor=enabled"]
        table.append((path, [idle + events / 1e6 * lines["total"] for events in MONTHLY_EVENTS]))
    return table


def print_prices(result: dict, wu: float, ru: float) -> bool:
    """Print the $ tables; True when the template's default path meets TARGET_DOLLARS_PER_MILLION."""
    d = result["durations"]
    billed = d.get("collector_billed_ms", d["collector_ms"])
    print(f"all-in $ per million beacon events (us-east-1 list prices, no free tier; DynamoDB as metered above; "
          f"the collector Lambda at {billed} ms billed a beacon ({COLLECTOR_GB * 1024:.0f} MB; the handler's own "
          f"time, {d['collector_ms']} ms a POST round trip), "
          + (f"one consumer at {d['one_lane_ms_per_record']} ms a record " if "one_lane_ms_per_record" in d else
             f"the two consumers at {d.get('realtime_ms_per_record', 0)} + {d.get('rollups_ms_per_record', 0)} "
             "ms a record ")
          + f"({AGGREGATOR_GB * 1024:.0f} MB); {d.get('beacon_bytes', 300)} B a beacon body):")
    rows = beacon_prices(d, wu, ru)
    columns = list(rows[0][2])
    print_table(("collector path", "template", *columns),
                [(path, offered or "not offered", *(f"{lines[c]:.2f}" for c in columns))
                 for path, offered, lines in rows])
    print()
    print("a month at N beacon events (idle floor: alarms, KMS key, secrets; no free tier):")
    print_table(("collector path", *(f"{n / 1e6:g}M" for n in MONTHLY_EVENTS)),
                [(path, *(f"${cost:,.2f}" if cost < 10 else f"${cost:,.0f}" for cost in costs))
                 for path, costs in monthly_costs(rows)])
    default = next(lines["total"] for path, _, lines in rows if path == DEFAULT_PATH)
    return default <= TARGET_DOLLARS_PER_MILLION


DIMENSIONS = {"*": "everything", "p": "page", "s": "source", "e": "event type", "c": "country", "r": "region",
              "ci": "city", "pgr": "page group", "gl": "goal", "fn": "funnel"}


GRANULARITIES = {"h": " (hour)", "d": " (day)", "M": " (month)"}  # liveinsight.items.rollups: HOUR, DAY, MONTH


def item_kind(table: str, hash_key: str, range_key: str = "") -> str:
    """What a written item is: a table's own kind, or for a stats item its level, dimension and
    granularity (hour, day or month items)."""
    if "events" in table:
        return "raw event"
    if "sessions" in table:
        return "visit state"
    parts = hash_key.split("#")
    if parts[0] == "rt":
        return "realtime"
    if len(parts) == 3 and parts[1] in DIMENSIONS:
        granularity = GRANULARITIES.get(range_key.split("#")[0], "")
        return ("all sites: " if parts[0] == "*" else "site: ") + DIMENSIONS[parts[1]] + granularity
    return "other stats items"


def print_report(result: dict) -> bool:
    p1, p2 = result["phase1"], result["phase2"]
    meter = p2["meter"]
    sent = p2["sent"] or 1
    print(f"phase 1: {p1['events']:,} events of today's long tail ({p1['distinct_pages']:,} distinct pages) in batches "
          f"of {BATCH_EVENTS}: sent in {p1['send_seconds']} s, aggregated in {p1['seconds']} s, "
          f"{p1['write_units'] / max(p1['events'], 1):.1f} write units per event")
    print(f"phase 2: {p2['sent']:,} single-event beacons at {result['settings']['rate']:g}/s, sent in "
          f"{p2['send_seconds']} s; accepted {p2['accepted']:,}; counted {p2['counted']:,} "
          f"(GET /api/stats?period=24h events: {p2['counted_24h_before']:,} -> {p2['counted_24h_after']:,})"
          + ("" if p2["aggregated"] else "  WARNING: aggregation did not go idle"))
    print(result["clients"])
    print("stream consumers' batching windows: " + ", ".join(f"{c} {w:g} s" for c, w in result["windows"].items())
          + (f"; one site ({result['only_site']}, LIVEINSIGHT_SITES): no all-sites level" if result["only_site"]
             else "; no LIVEINSIGHT_SITES: the all-sites level is written too"))
    print(f"meter: {meter['meter_lookups']:,} reads of its own to learn item sizes (not priced), "
          f"{meter['meter_errors']} calls it could not price")
    print()
    print("phase 2, DynamoDB on-demand units per event sent (tables; `table/index` = a secondary index):")
    print_table(("table", "write units", "per event", "read units", "per event", "requests", "per event",
                 "items written"), per_event_rows(p2))
    print()
    print("by operation:")
    print_table(("operation", "requests", "write units", "read units", "items written", "failed writes"),
                [(op, f"{u['requests']:,}", f"{u['write_units']:,.0f}", f"{u['read_units']:,.1f}",
                  f"{u['items_written']:,}", f"{u['failed_writes']:,}") for op, u in meter["operations"].items()])
    print()
    print("phase 2, write units per event sent by item kind (stats items: level and dimension):")
    print_table(("item kind", "write units", "per event", "items written", "units per item"),
                [(kind, f"{k['write_units']:,.0f}", f"{k['write_units'] / sent:.3f}", f"{k['items_written']:,}",
                  f"{k['write_units'] / max(1, k['items_written']):.2f}") for kind, k in meter["kinds"].items()])
    print()
    for phase, largest in (("phase 2", p2["largest_write"]), ("phase 1", p1["largest_write"])):
        if largest:
            print(f"largest item written in {phase}: {largest['bytes']:,} bytes in {largest['table']} "
                  f"({largest['key']})")
    wu, ru = meter["write_units"] / sent, meter["read_units"] / sent
    counted = max(1, sent - p2["engagement"])
    print(f"write units per beacon sent {wu:.2f}; per counted event {meter['write_units'] / counted:.2f} "
          f"({p2['engagement']:,} of {sent:,} beacons are engagement reports: stored and folded, not events)")
    monthly = 30 * 1_000_000 * (wu * WRITE_UNIT_PRICE + ru * READ_UNIT_PRICE) / 1_000_000
    print(f"at 1M events/day: {wu * 30:,.0f}M write units + {ru * 30:,.1f}M read units a month "
          f"= ${monthly:,.0f}/month on demand (us-east-1: ${WRITE_UNIT_PRICE}/M writes, ${READ_UNIT_PRICE}/M reads)")
    print()
    cheap = print_prices(result, wu, ru)
    default_total = next(lines["total"] for path, _, lines in beacon_prices(result["durations"], wu, ru)
                         if path == DEFAULT_PATH)
    if meter["unpriced"] or meter["meter_errors"]:
        print(f"WARNING: unpriced operations {meter['unpriced']}, meter errors {meter['meter_errors']}")
    print()
    print("read cost of single calls (metered one at a time, after phase 2):")
    rows = []
    for call in result["single_calls"]:
        read = call["largest_item_read"]
        daily = call["read_units"] * 8640 * READ_UNIT_PRICE / 1_000_000
        rows.append((call["call"] + ("" if call["status"] == 200 else f" [{call['status']}]"),
                     f"{call['read_units']:,.1f}", f"{call['requests']:,}", f"{call['items_read']:,}",
                     f"{read['bytes']:,} B in {read['table']}" if read else "-", f"${daily:.3f}"))
    print_table(("call", "read units", "requests", "items read", "largest item read", "per day every 10 s"), rows)

    recount = result["recount"]
    raw = p1["events"] + p2["sent"]
    print()
    print(f"recount of a page group added now (/products/**) over the {raw:,} raw events kept: "
          f"{recount['visitors']:,} visitors marked; the job {recount['job']['read_units']:,.1f} read units "
          f"(one Scan) and {recount['job']['write_units']:,.0f} write units (markers, and counted_from); the rollup "
          f"consumer {recount['aggregation']['read_units']:,.1f} read units and "
          f"{recount['aggregation']['write_units']:,.0f} write units; {recount['seconds']} s to idle")
    print()
    print(f"a year at a glance: 12 monthly points from month items (this month's copied into the 11 before it, "
          f"{result['year_months_copied']} items, so each month is full size); median of 5 calls on the local stack:")
    print_table(("call", "read units", "items read", "largest item read", "ms"),
                [(c["call"] + ("" if c["status"] == 200 else f" [{c['status']}]"), f"{c['read_units']:,.1f}",
                  f"{c['items_read']:,}",
                  f"{c['largest_item_read']['bytes']:,} B" if c["largest_item_read"] else "-", f"{c['ms']:,.1f}")
                 for c in result["year_calls"]])
    year_units = max(c["read_units"] for c in result["year_calls"])
    year_ms = max(c["ms"] for c in result["year_calls"])

    stats_30d = max(c["read_units"] for c in result["single_calls"] if "period=30d" in c["call"])
    biggest = max((x["bytes"] for x in (p2["largest_write"], p1["largest_write"]) if x), default=0)
    defined = result["settings"].get("definitions")
    target = TARGET_WITH_DEFINITIONS if defined else TARGET_WRITE_UNITS_PER_EVENT
    checks = [
        (f"write units per event {wu:.2f} <= {target} with visitors and places"
         + (" and 20 page groups, 10 goals, 3 funnels defined" if defined else
            f" ({BEFORE_VISITORS_TARGET} before them)"), wu <= target),
        (f"read units per 30-day stats call {stats_30d:,.1f} <= {TARGET_STATS_READ_UNITS}",
         stats_30d <= TARGET_STATS_READ_UNITS),
        (f"largest item written {biggest:,} B <= {TARGET_ITEM_BYTES:,}", biggest <= TARGET_ITEM_BYTES),
        (f"read units per 12-month view {year_units:,.1f} <= {TARGET_YEAR_READ_UNITS}",
         year_units <= TARGET_YEAR_READ_UNITS),
        (f"slowest 12-month view {year_ms:,.0f} ms <= {TARGET_YEAR_MS} ms on the local stack", year_ms <= TARGET_YEAR_MS),
        (f"events counted {p2['counted']:,} == beacons sent {p2['sent']:,} less {p2['engagement']:,} engagement "
         "reports", p2["counted"] == p2["sent"] - p2["engagement"]),
        (f"all-in ${default_total:.2f} per million beacon events at the template's defaults ({DEFAULT_PATH}) "
         f"<= ${TARGET_DOLLARS_PER_MILLION:.2f}", cheap),
    ]
    print()
    for text, ok in checks:
        print(f"{'ok  ' if ok else 'MISS'}  {text}")
    return all(ok for _, ok in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120, help="phase 2 duration (default 120)")
    parser.add_argument("--rate", type=float, default=10, help="phase 2 beacons per second (default 10)")
    parser.add_argument("--preload", type=int, default=20_000, help="phase 1 events (default 20,000)")
    parser.add_argument("--catalogue", type=int, default=30_000, help="product URLs (default 30,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-definitions", dest="definitions", action="store_false",
                        help="without the shop's 20 page groups, 10 goals and 3 funnels (issue 21's setting)")
    parser.add_argument("--engagement", type=float, default=ENGAGEMENT_SHARE,
                        help=f"share of page views reporting engagement when left (default {ENGAGEMENT_SHARE}; "
                             "0: the shop before issue 20)")
    parser.add_argument("--one-lane", type=float, metavar="SECONDS",
                        help="one stream consumer writing everything at this batching window (the design before "
                             "issue 23's two lanes, which had 10 s) instead of the template's two")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        sys.exit(0)
    sys.exit(0 if print_report(result) else 1)


if __name__ == "__main__":
    main()
