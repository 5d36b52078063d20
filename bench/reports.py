"""Reports and alerts benchmark: what a weekly report, a daily report and an alert check read.

Loads --days of demo history (--visits-per-day, demo.history) into moto with the history
import, then prices with the wire meter (bench/pricing.py) one weekly report, one daily
report and one alert check of the site, and times --repeat of each (median, meter paused).
The alert check runs every 15 minutes, so its read units times 2,880 is its monthly bill
per site. Nothing here is a target of the issue; the figures say what the schedules cost.

Usage: python bench/reports.py [--days 30] [--visits-per-day 600] [--repeat 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cost import READ_UNIT_PRICE  # noqa: E402
from bench.pricing import Meter  # noqa: E402

SITE = "shop.example.com"
CHECKS_PER_MONTH = 30 * 24 * 4


def run(args: argparse.Namespace) -> dict[str, Any]:
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    from moto import mock_aws

    from liveinsight.reports.alerts import Thresholds, check
    from liveinsight.config import Settings
    from liveinsight.local.demo import history
    from liveinsight.local.importer import import_events
    from liveinsight.local.localstore import _fast_queries
    from liveinsight.reports.report import build_report
    from liveinsight.query.stats import StatsReader
    from liveinsight.store import Store, make_client
    from liveinsight.tables import create_tables

    now = int(time.time() // 86400 * 86400 + 15 * 3600)  # 15:00 UTC today: the day's busiest hour
    _fast_queries()  # as the local stack's store does: a Query reads its one partition, as DynamoDB's does
    with mock_aws():
        suffix = uuid.uuid4().hex[:6]
        settings = replace(Settings.from_env(), events_table=f"events-{suffix}", sessions_table=f"sessions-{suffix}",
                           stats_table=f"stats-{suffix}")
        client = make_client(settings)
        create_tables(client, settings)
        started = time.perf_counter()
        # Imported as of two days later, every event goes straight into the rollups (no stream here).
        loaded = import_events(enumerate(history(args.days, args.visits_per_day, now, seed=11), 1),
                               Store(settings, client), now=now + 2 * 86400)
        load_seconds = time.perf_counter() - started
        meter = Meter()
        reader = StatsReader(Store(settings, meter.attach(make_client(settings))), settings)
        jobs = {
            "weekly report": lambda: build_report(reader, "7d", SITE, now=now),
            "daily report": lambda: build_report(reader, "1d", SITE, now=now),
            "alert check": lambda: check(reader, SITE, now, Thresholds()),
        }
        rows = []
        for name, job in jobs.items():
            meter.reset()
            result = job()
            priced = meter.report()
            times = []
            with meter.paused():
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    job()
                    times.append(time.perf_counter() - t)
            row = {"job": name, "read_units": priced["read_units"], "requests": priced["requests"],
                   "median_ms": round(statistics.median(times) * 1000, 1)}
            if name == "alert check":
                row["verdict"] = result.describe()
                row["dollars_per_month"] = round(priced["read_units"] * CHECKS_PER_MONTH * READ_UNIT_PRICE / 1e6, 4)
            else:
                row["visits"] = result.metrics[0].value
            rows.append(row)
    return {"events_loaded": loaded.accepted, "load_seconds": round(load_seconds, 1), "days": args.days,
            "visits_per_day": args.visits_per_day, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30, help="days of demo history (default 30: four whole weeks back)")
    parser.add_argument("--visits-per-day", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each job (median)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['events_loaded']:,} history events over {result['days']:g} days "
          f"({result['visits_per_day']} visits/day) loaded in {result['load_seconds']} s")
    print(f"{'job':<14} {'read units':>10} {'requests':>9} {'median ms':>10}")
    for row in result["rows"]:
        print(f"{row['job']:<14} {row['read_units']:>10g} {row['requests']:>9} {row['median_ms']:>10}")
    check = result["rows"][-1]
    print(f"alert check: {check['verdict']}")
    print(f"every 15 minutes: {check['read_units'] * CHECKS_PER_MONTH:,.0f} read units a month per site "
          f"= ${check['dollars_per_month']}/month on demand")


if __name__ == "__main__":
    main()
