"""Fixtures chained aws_credentials → moto → tables → services, and helpers to call the handler."""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "lambdas"))

# Debian's Chromium for the real-browser tests, with the flags this closed network needs.
CHROMIUM = os.environ.get("LIVEINSIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
# Stacks started by tests (in process or as `serve`/`up` children) run the rollup consumer at a
# 1 s window instead of the template's minute, so a test sees stats without waiting it out;
# tests/test_lanes.py checks the defaults themselves.
os.environ.setdefault("LIVEINSIGHT_ROLLUP_WINDOW_SECONDS", "1")


@pytest.fixture
def fresh_clock(request):
    """A module's NOW, set when each test starts: a long (or loaded) run must not age a module's
    events out of the 5-minute realtime window between collection and the test."""
    request.module.NOW = time.time()


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials so nothing can reach real AWS."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", "us-east-1"),
                        ("AWS_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("LIVEINSIGHT_API_KEY", raising=False)


@pytest.fixture
def moto_aws(aws_credentials):
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def settings(moto_aws):
    from liveinsight.config import Settings

    suffix = uuid.uuid4().hex[:8]
    return replace(Settings.from_env(), events_table=f"events-{suffix}", sessions_table=f"sessions-{suffix}",
                   stats_table=f"stats-{suffix}")


@pytest.fixture
def store(settings):
    from liveinsight.store import Store, make_client
    from liveinsight.tables import create_tables

    client = make_client(settings)
    create_tables(client, settings)
    return Store(settings, client, backoff_base=0.001, attempts=2)


@pytest.fixture
def backend(store):
    """The Lambda handler wired to moto, with helpers to post, aggregate and read."""
    from liveinsight import handler

    handler.configure(store.settings, store)
    yield Backend(store)
    handler.configure(store.settings, store)


class Backend:
    """Calls `lambda_function.lambda_handler` the way API Gateway and the stream would."""

    def __init__(self, store):
        from liveinsight.local.server import StreamPoller, load_handler

        self.store = store
        self.handler = load_handler()
        self.poller = StreamPoller(store.settings, self.handler)

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None,
                ip: str = "203.0.113.7") -> tuple[int, dict, dict]:
        from liveinsight.local.server import lambda_context, proxy_event

        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        raw = body.encode() if isinstance(body, str) else (body or b"")
        headers = {"User-Agent": CHROME, **(headers or {})}
        response = self.handler(proxy_event(method, path, headers, raw, ip), lambda_context("test"))
        headers_out = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
        headers_out.update(response.get("headers") or {})
        payload = json.loads(response["body"]) if response.get("body") else {}
        return response["statusCode"], payload, headers_out

    def post(self, body: Any, **kwargs) -> tuple[int, dict]:
        status, payload, _ = self.request("POST", "/api/events", body, **kwargs)
        return status, payload

    def aggregate(self) -> int:
        """Deliver everything on the events stream to the aggregator; returns records delivered."""
        return self.poller.poll_once()

    def get(self, path: str, **kwargs) -> tuple[int, dict]:
        status, payload, _ = self.request("GET", path, **kwargs)
        return status, payload

    def stats(self, query: str = "period=1h") -> dict:
        self.aggregate()
        status, payload = self.get(f"/api/stats?{query}")
        assert status == 200, payload
        return payload["data"]

    def realtime(self, query: str = "") -> dict:
        self.aggregate()
        status, payload = self.get(f"/api/realtime?{query}")
        assert status == 200, payload
        return payload["data"]

    def raw_events(self) -> list[dict]:
        client = self.store.client
        items = client.scan(TableName=self.store.settings.events_table)["Items"]
        from liveinsight.items.events import unpack
        from liveinsight.store import deserialize

        return [unpack(deserialize(i)) for i in items]


def midnight(days_ago: int = 2) -> int:
    """A UTC midnight `days_ago` days back: a test's clock, whatever the time of day it runs."""
    return int(time.time() // 86400) * 86400 - days_ago * 86400


def collect(backend, events: list[dict], ip: str = "198.51.100.1", user_agent: str | None = None,
            place: tuple = (None, None, None), now: float | None = None) -> None:
    """Collect events as the HTTP layer would for a request from `ip` with a trusted `place`, at `now`."""
    from liveinsight.ingest.collector import Collector, RequestContext

    country, region, city = place
    context = RequestContext(client_ip=ip, user_agent=user_agent or CHROME, country=country, region=region, city=city)
    Collector(backend.store).ingest(json.dumps({"events": events}), context, now=now)


def arrive_late(backend, events: list[dict], rng, now: float, every: int, repeats: int = 10) -> None:
    """Collect `events` as a flaky network delivers them: each up to 4 minutes late and `repeats` of them
    again up to 10 minutes late (a retried request), folding after every `every` arrivals."""
    arrivals = sorted([(e["timestamp"] + rng.uniform(0, 240), e) for e in events]
                      + [(e["timestamp"] + rng.uniform(0, 600), e) for e in rng.sample(events, repeats)],
                      key=lambda pair: pair[0])
    for i, (_, event) in enumerate(arrivals):
        collect(backend, [event], now=now)
        if i % every == 0:
            backend.aggregate()


def stats_at(backend, query: str, now: float) -> dict:
    """Aggregate what is on the stream, then answer GET /api/stats?`query` as of `now`."""
    from urllib.parse import parse_qs

    from liveinsight.query.stats import StatsReader

    backend.aggregate()
    return StatsReader(backend.store).answer(parse_qs(query), now=now)


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def page_view(session: str, path: str, ts: float | None = None, **extra) -> dict:
    event = {"event_type": "page_view", "session_id": session, "page_url": f"https://shop.example.com{path}"}
    if ts is not None:
        event["timestamp"] = ts
    event.update(extra)
    return event


def now_minute_start() -> float:
    """A time safely inside the current minute's first half, for tests that must not straddle buckets."""
    now = time.time()
    return now


@pytest.fixture
def fold_bug(monkeypatch):
    """Makes folding the events of visit `s-bug` raise (a bug in the aggregator); call the result to fix it."""
    from liveinsight import aggregator

    real_add_event = aggregator.Fold.add_event

    def broken(self, event, state, before, *rest):
        if event["session_id"] == "s-bug":
            raise KeyError("a bug in the fold")
        return real_add_event(self, event, state, before, *rest)

    monkeypatch.setattr(aggregator.Fold, "add_event", broken)
    return lambda: monkeypatch.setattr(aggregator.Fold, "add_event", real_add_event)
