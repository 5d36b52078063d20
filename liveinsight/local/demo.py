"""The demo traffic simulator: believable visits sent through the public HTTP API.

A `TrafficModel` makes visits (a referrer mix, a page catalogue with a few hot pages,
a bounce share, custom events, desktop and mobile browsers, a few bots); `history`
lays them out over past days on a day-night curve for backfill; `Simulator` plays them
in real time against an API, as sites' browsers would (single events, small batches).
Everything is deterministic for a given seed.
"""
from __future__ import annotations

import heapq
import json
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

SITE = "https://shop.example.com"
SCENARIOS = ("steady", "launch", "campaign")

# (path, weight): a few hot pages and a long tail.
PAGES = [
    ("/", 30), ("/pricing", 14), ("/features", 10), ("/docs", 8), ("/docs/getting-started", 6),
    ("/blog", 5), ("/blog/launch", 4), ("/blog/serverless-analytics", 4), ("/docs/api", 4),
    ("/integrations", 3), ("/customers", 3), ("/about", 2), ("/changelog", 2), ("/signup", 3),
    ("/login", 2), ("/contact", 1), ("/careers", 1), ("/security", 1),
]

# (kind, referrer URL, landing-page query, weight)
SOURCES = [
    ("search", "https://www.google.com/", "", 26),
    ("search", "https://www.bing.com/", "", 4),
    ("search", "https://duckduckgo.com/", "", 3),
    ("social", "https://t.co/", "", 4),
    ("social", "https://www.reddit.com/r/selfhosted/", "", 4),
    ("social", "https://www.linkedin.com/feed/", "", 3),
    ("social", "https://www.facebook.com/", "", 2),
    ("news", "https://news.ycombinator.com/", "", 4),
    ("referral", "https://github.com/liveinsight/liveinsight", "", 4),
    ("newsletter", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly-digest", 10),
    ("direct", "", "", 36),
]

DESKTOP_AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", 34),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", 14),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", 10),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 7),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.0.0", 9),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 3),
]
MOBILE_AGENTS = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", 45),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Mobile Safari/537.36", 30),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", 15),
    ("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Mobile/15E148 Safari/604.1", 10),
]
BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
]

# (event type, probability per visit, props)
CUSTOM_EVENTS = [
    ("signup", 0.06, lambda r: {"plan": r.choice(["free", "pro", "team"])}),
    ("add_to_cart", 0.10, lambda r: {"product": r.choice(["starter", "pro", "enterprise"])}),
    ("purchase", 0.03, lambda r: {"value": r.choice([19, 49, 99, 299]), "currency": "USD"}),
    ("download", 0.05, lambda r: {"file": r.choice(["whitepaper.pdf", "cli.tar.gz"])}),
    ("outbound_click", 0.08, lambda r: {"url": "https://github.com/liveinsight/liveinsight"}),
]


@dataclass
class TrafficModel:
    """What visits look like; the defaults are a small SaaS site."""

    bounce_share: float = 0.42
    mobile_share: float = 0.38
    bot_share: float = 0.03
    mean_gap_seconds: float = 35.0
    seed: int = 7
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _weighted(self, options: list[tuple]) -> tuple:
        return self.rng.choices(options, weights=[o[-1] for o in options])[0]

    def visit(self, start: float, source: tuple | None = None, landing: str | None = None) -> list[dict]:
        """The events of one visit starting at `start` (epoch seconds), oldest first."""
        r = self.rng
        session_id = uuid.UUID(int=r.getrandbits(128)).hex
        if r.random() < self.bot_share:
            agent = r.choice(BOT_AGENTS)
            return [self._event("page_view", session_id, start + i * 2, r.choice(PAGES)[0], agent, "")
                    for i in range(r.randint(1, 4))]
        kind, referrer, query, _ = source or self._weighted(SOURCES)
        agent = self._weighted(MOBILE_AGENTS if r.random() < self.mobile_share else DESKTOP_AGENTS)[0]
        landing = landing or self._weighted(PAGES)[0]
        events = [self._event("page_view", session_id, start, landing + query, agent, referrer)]
        if r.random() < self.bounce_share:
            return events
        t = start
        for _ in range(min(1 + int(r.expovariate(1 / 2.2)), 9)):
            t += 3 + r.expovariate(1 / self.mean_gap_seconds)
            events.append(self._event("page_view", session_id, t, self._weighted(PAGES)[0], agent, ""))
        for name, probability, props in CUSTOM_EVENTS:
            if r.random() < probability * 2.2:  # per engaged visit, so the per-visit rate matches
                t += 2 + r.expovariate(1 / 20)
                page = events[-1]["page_url"][len(SITE):]
                if name == "signup" and page != "/signup":  # people sign up on the sign-up page
                    page = "/signup"
                    events.append(self._event("page_view", session_id, t, page, agent, ""))
                    t += 5 + r.expovariate(1 / 30)
                event = self._event(name, session_id, t, page, agent, "")
                event["props"] = props(r)
                events.append(event)
        return events

    def _event(self, event_type: str, session_id: str, ts: float, path: str, agent: str, referrer: str) -> dict:
        event = {"event_type": event_type, "session_id": session_id, "timestamp": round(ts, 3),
                 "page_url": SITE + path, "user_agent": agent, "event_id": uuid.UUID(int=self.rng.getrandbits(128)).hex}
        if referrer:
            event["referrer"] = referrer
        return event


def day_night(ts: float) -> float:
    """Traffic multiplier by UTC hour: quiet at night, peak mid-afternoon (0.25-1.0)."""
    hour = (ts % 86400) / 3600
    return 0.25 + 0.75 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 3) / 24))


def history(days: float, visits_per_day: int, now: float, seed: int = 7) -> Iterator[dict]:
    """Visits laid out over the past `days` on the day-night curve, events in time order."""
    model = TrafficModel(seed=seed)
    rng = random.Random(seed + 1)
    start, events = now - days * 86400, []
    mean_rate = visits_per_day / 86400 / 0.625  # the curve averages 0.625
    t = start
    while t < now - 120:
        t += rng.expovariate(mean_rate * day_night(t))
        events.extend(e for e in model.visit(t) if e["timestamp"] < now - 60)
    events.sort(key=lambda e: e["timestamp"])
    yield from events


# A launch: a news-site front page brings about 9x the usual visits at once, fading over
# about half an hour (an hour of it is ~4.5x a usual hour: the alert check sees a spike).
LAUNCH_BOOST, LAUNCH_FADE_SECONDS = 8.0, 1800
CAMPAIGN_BOOST, CAMPAIGN_FADE_SECONDS = 1.5, 1200
EVENTS_PER_VISIT = 3.2


class Scenario:
    """When visits start and what they look like: steady traffic, a launch spike or a campaign burst."""

    def __init__(self, scenario: str = "steady", rate: float = 3.0, seed: int = 7):
        if scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
        if rate <= 0:
            raise ValueError("rate must be a positive number of events per second")
        self.name, self.rate = scenario, rate
        self.model = TrafficModel(seed=seed)
        self.rng = random.Random(seed + 2)

    def new_visit(self, now: float, elapsed: float) -> list[dict]:
        """The events of a visit starting at `now`, `elapsed` seconds into the scenario."""
        r = self.rng
        if self.name == "launch" and r.random() < 0.9 * math.exp(-elapsed / LAUNCH_FADE_SECONDS):
            return self.model.visit(now, source=("news", "https://news.ycombinator.com/item?id=42", "", 1),
                                    landing="/blog/launch")
        if self.name == "campaign" and r.random() < 0.6 * math.exp(-elapsed / CAMPAIGN_FADE_SECONDS):
            return self.model.visit(now, source=(
                "newsletter", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday", 1),
                landing=r.choice(["/pricing", "/blog/launch", "/features"]))
        return self.model.visit(now)

    def visit_rate(self, elapsed: float) -> float:
        """Visits per second, `elapsed` seconds into the scenario."""
        boost = {"steady": 0.0, "launch": LAUNCH_BOOST * math.exp(-elapsed / LAUNCH_FADE_SECONDS),
                 "campaign": CAMPAIGN_BOOST * math.exp(-elapsed / CAMPAIGN_FADE_SECONDS)}[self.name]
        return self.rate / EVENTS_PER_VISIT * (1 + boost)

    def next_start(self, t: float, started: float) -> float:
        """When the visit after one starting at `t` starts."""
        return t + self.rng.expovariate(self.visit_rate(t - started))

    def play(self, start: float, seconds: float) -> list[dict]:
        """Every event of the visits starting in [start, start + seconds), oldest first: the same
        traffic `Simulator` sends live, laid out at once (to backfill it, or in tests)."""
        events, t = [], self.next_start(start, start)
        while t < start + seconds:
            events.extend(self.new_visit(t, t - start))
            t = self.next_start(t, start)
        events.sort(key=lambda e: e["timestamp"])
        return events


class Simulator:
    """Plays a scenario's visits in real time against a LiveInsight API."""

    def __init__(self, api: str, rate: float = 3.0, scenario: str = "steady", seed: int = 7,
                 duration: float | None = None, api_key: str | None = None):
        self.traffic = Scenario(scenario, rate, seed)
        self.api, self.rate, self.scenario, self.duration = api.rstrip("/"), rate, scenario, duration
        self.stop_event = threading.Event()
        self.sent = 0
        self.requests = 0
        self.errors = 0
        self.last_error = ""

    def run(self) -> None:
        """Send traffic until the duration is over or `stop()` is called."""
        import requests

        session = requests.Session()
        session.headers["Content-Type"] = "text/plain"
        started = time.time()
        queue: list[tuple[float, int, dict]] = []
        counter = 0
        next_visit = started
        while not self.stop_event.is_set():
            now = time.time()
            if self.duration is not None and now - started >= self.duration:
                break
            while next_visit <= now:
                for event in self.traffic.new_visit(next_visit, next_visit - started):
                    counter += 1
                    heapq.heappush(queue, (event["timestamp"], counter, event))
                next_visit = self.traffic.next_start(next_visit, started)
            due = []
            while queue and queue[0][0] <= now:
                due.append(heapq.heappop(queue)[2])
            self._send(session, due)
            wake = min(next_visit, queue[0][0] if queue else next_visit)
            self.stop_event.wait(max(0.01, min(0.5, wake - time.time())))

    def _send(self, session: Any, events: list[dict]) -> None:
        by_visit: dict[str, list[dict]] = {}
        for event in events:
            by_visit.setdefault(event["session_id"], []).append(event)
        for visit in by_visit.values():
            agent = visit[0].pop("user_agent")
            for e in visit[1:]:
                e.pop("user_agent", None)
            body = visit[0] if len(visit) == 1 else {"events": visit}
            self.requests += 1
            try:
                response = session.post(f"{self.api}/api/events", data=json.dumps(body),
                                         headers={"User-Agent": agent}, timeout=10)
            except requests_error() as exc:
                self.errors += 1
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                continue
            if response.status_code == 200:
                self.sent += len(visit)
            else:
                self.errors += 1
                self.last_error = f"HTTP {response.status_code}: {response.text[:200]}"

    def stop(self) -> None:
        self.stop_event.set()


def requests_error() -> type[Exception]:
    import requests

    return requests.RequestException
