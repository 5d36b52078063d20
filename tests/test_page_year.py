"""A page's year at a glance: its months from its rows in everything's month items, exact, few reads."""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone

from conftest import page_view, stats_at

SITE = "shop.example.com"
HOT, TAIL = "/", "/products/tail-7"


def month_start(day: date) -> int:
    return int(datetime(day.year, day.month, 1, tzinfo=timezone.utc).timestamp())


def seeded_months(first: date, months: int, seed: int) -> list[dict]:
    """Visits of 1-4 page views and an add_to_cart, over `months` months from `first`: `/` on a third of
    views, one product page (TAIL) now and then, and 150 other products a month that overflow the
    100 pages a month item keeps, so some months hold TAIL's row with an error or not at all."""
    rng = random.Random(seed)
    events, n = [], 0
    for m in range(months):
        start = month_start(date(first.year + (first.month - 1 + m) // 12, (first.month - 1 + m) % 12 + 1, 1))
        for v in range(160 + 40 * m):
            n += 1
            t = start + rng.uniform(0, 27 * 86400)
            for _ in range(rng.randint(1, 4)):
                roll = rng.random()
                path = HOT if roll < 0.33 else TAIL if roll < 0.335 else f"/products/p{m}-{rng.randrange(150)}"
                events.append(page_view(f"v{n}", path, t))
                if path != HOT and rng.random() < 0.2:
                    events.append({"event_type": "add_to_cart", "session_id": f"v{n}", "timestamp": t + 3,
                                   "page_url": f"https://{SITE}{path}"})
                t += rng.uniform(5, 300)
    return events


def independent(events: list[dict], page: str) -> dict[int, Counter]:
    """Per month: the page's events and page views, the visits that include it and their bounces."""
    visits = defaultdict(list)
    for event in events:
        visits[event["session_id"]].append(event)
    out: dict[int, Counter] = defaultdict(Counter)
    for visit in visits.values():
        first = min(e["timestamp"] for e in visit)
        on_page = [e for e in visit if e["page_url"].endswith(page)]
        month = month_start(datetime.fromtimestamp(first, timezone.utc).date())
        for e in on_page:
            at = month_start(datetime.fromtimestamp(e["timestamp"], timezone.utc).date())
            out[at]["events"] += 1
            out[at]["page_views"] += e["event_type"] == "page_view"
        if on_page:
            out[month]["sessions"] += 1
            out[month]["bounces"] += len(visit) == 1
    return out


def test_a_pages_year_is_exact_from_month_rows_and_reads_few_items(backend):
    from liveinsight.local.importer import import_events

    # GIVEN three months of a shop whose long tail overflows the pages its month items keep
    today = datetime.now(timezone.utc).date()
    first = (today.replace(day=1) - timedelta(days=70)).replace(day=1)
    events = seeded_months(first, 3, seed=5)
    now = month_start(today) + 86400
    report = import_events(enumerate(events), backend.store, now=now)
    assert report.rolled_up == len(events), report.rejected[:2]
    read = []
    real_query = backend.store.query

    def counting(table, pk, *args, **kwargs):
        items = real_query(table, pk, *args, **kwargs)
        read.extend(items)
        return items

    backend.store.query = counting
    for page in (HOT, TAIL):
        expected = independent(events, page)
        # WHEN a page's last 12 months are asked
        read.clear()
        year = stats_at(backend, f"site={SITE}&period=last_12_months&page={page}", now)
        year_reads = list(read)
        # THEN every month is exact against the events themselves and against the page's own hour items
        by_month = {p["t"]: p for p in year["timeseries"]}
        for month, counts in expected.items():
            assert by_month[month]["events"] == counts["events"], (page, month)
            assert by_month[month]["page_views"] == counts["page_views"], (page, month)
            assert by_month[month]["sessions"] == counts["sessions"], (page, month)
        assert year["totals"]["events"] == sum(c["events"] for c in expected.values())
        assert year["totals"]["sessions"] == sum(c["sessions"] for c in expected.values())
        daily = stats_at(backend, f"site={SITE}&from={first.isoformat()}&to={today.isoformat()}&interval=day"
                                  f"&page={page}", now)
        for field in ("visitors", "sessions", "page_views", "events", "bounce_rate", "avg_session_duration",
                      "time_on_page", "scroll_depth"):
            assert year["totals"][field] == daily["totals"][field], (page, field)
        assert year["breakdowns_omitted"] is True and year["sources"] == []
        if page == HOT:  # kept in every month's rows: none of its hour items is read, only the site's months
            assert not [item for item in year_reads if item["pk"].startswith(f"{SITE}#p#")]
            assert len([item for item in year_reads if item["pk"] == f"{SITE}#*#-"]) == 3
    # and the tail page, pushed out of a month's rows, was read from its hour items there
    assert any(item["pk"].startswith(f"{SITE}#p#") for item in year_reads)
