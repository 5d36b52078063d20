"""The demo traffic simulator: believable visitors and visits sent through the public HTTP API.

A `TrafficModel` makes visits (a referrer mix, a page catalogue with a few hot pages,
a bounce share, custom events, desktop and mobile browsers, a few bots) by visitors: people
with a stable address and browser, from a weighted mix of countries, regions and cities, some
coming back and some reading in several tabs at once. `history` lays visits out over past days
on a day-night curve for backfill; `Simulator` plays them in real time against an API, as
sites' browsers would (single events, small batches) — and as the deployment's CloudFront
distribution would forward them: each visitor's address and place in CloudFront's viewer
headers, with the origin secret, or, for some, only the browser's time zone in the event.
Everything is deterministic for a given seed.
"""
from __future__ import annotations

import heapq
import json
from collections import deque
import math
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import quote, urlsplit

from ..config import ENV_ORIGIN_SECRET, ORIGIN_HEADER
from ..ingest.origin import VIEWER_ADDRESS, VIEWER_CITY, VIEWER_COUNTRY, VIEWER_REGION

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
    ("newsletter", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly-digest&utm_content=header", 6),
    ("newsletter", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly-digest&utm_content=footer", 4),
    ("ads", "", "?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=self+hosted+analytics"
                "&utm_content=text-ad-a", 3),
    ("ads", "", "?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=plausible+alternative"
                "&utm_content=text-ad-b", 2),
    ("ads", "", "?utm_source=facebook&utm_medium=paid_social&utm_campaign=launch-week&utm_content=video", 2),
    ("partner", "", "?utm_source=stackshare&utm_medium=affiliate&utm_campaign=partners", 1),
    ("direct", "", "", 28),
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

# Where visitors are: (country, region as CloudFront sends it (ISO 3166-2 without the country),
# city, IANA time zone, weight) — roughly a small English-language SaaS site's audience.
PLACES = [
    ("US", "CA", "San Francisco", "America/Los_Angeles", 7), ("US", "CA", "Los Angeles", "America/Los_Angeles", 4),
    ("US", "WA", "Seattle", "America/Los_Angeles", 4), ("US", "NY", "New York", "America/New_York", 7),
    ("US", "TX", "Austin", "America/Chicago", 3), ("US", "IL", "Chicago", "America/Chicago", 3),
    ("US", "MA", "Boston", "America/New_York", 2),
    ("DE", "BE", "Berlin", "Europe/Berlin", 4), ("DE", "BY", "Munich", "Europe/Berlin", 3),
    ("DE", "HH", "Hamburg", "Europe/Berlin", 2),
    ("GB", "ENG", "London", "Europe/London", 6), ("GB", "ENG", "Manchester", "Europe/London", 1.5),
    ("GB", "SCT", "Edinburgh", "Europe/London", 1),
    ("IN", "KA", "Bengaluru", "Asia/Kolkata", 4), ("IN", "MH", "Mumbai", "Asia/Kolkata", 3),
    ("IN", "DL", "Delhi", "Asia/Kolkata", 2),
    ("FR", "IDF", "Paris", "Europe/Paris", 4), ("FR", "ARA", "Lyon", "Europe/Paris", 1.5),
    ("BR", "SP", "Sao Paulo", "America/Sao_Paulo", 3), ("BR", "RJ", "Rio de Janeiro", "America/Sao_Paulo", 1.5),
    ("JP", "13", "Tokyo", "Asia/Tokyo", 3), ("JP", "27", "Osaka", "Asia/Tokyo", 1),
    ("CA", "ON", "Toronto", "America/Toronto", 2.5), ("CA", "BC", "Vancouver", "America/Vancouver", 1.5),
    ("CA", "QC", "Montreal", "America/Toronto", 1),
    ("NL", "NH", "Amsterdam", "Europe/Amsterdam", 2.5), ("NL", "ZH", "Rotterdam", "Europe/Amsterdam", 0.8),
    ("AU", "NSW", "Sydney", "Australia/Sydney", 2), ("AU", "VIC", "Melbourne", "Australia/Melbourne", 1.5),
    ("ES", "MD", "Madrid", "Europe/Madrid", 1.5), ("ES", "CT", "Barcelona", "Europe/Madrid", 1),
    ("IT", "25", "Milan", "Europe/Rome", 1.2), ("PL", "14", "Warsaw", "Europe/Warsaw", 1.2),
    ("SE", "AB", "Stockholm", "Europe/Stockholm", 1), ("CH", "ZH", "Zurich", "Europe/Zurich", 0.8),
    ("KR", "11", "Seoul", "Asia/Seoul", 1), ("SG", "01", "Singapore", "Asia/Singapore", 1),
    ("MX", "CMX", "Mexico City", "America/Mexico_City", 1), ("NG", "LA", "Lagos", "Africa/Lagos", 0.6),
    ("ZA", "GP", "Johannesburg", "Africa/Johannesburg", 0.6),
]
# Send the browser's IANA time zone (the tracker's `tz`) for visitors whose place CloudFront does not
# name: the server maps it to a country. Off, those visitors' events carry nothing about where they are.
SEND_TIME_ZONES = True
# The secret CloudFront adds to every request it forwards (the distribution's origin header,
# config.ORIGIN_HEADER): the collector trusts the viewer headers (ingest.origin) only with it.


@dataclass(frozen=True)
class Visitor:
    """One person: a stable address and browser, and where they are.

    `time_zone_only` visitors reach the site without the deployment's CloudFront naming their
    place; their browser's time zone (`tz`) is all the server learns.
    """

    ip: str
    agent: str
    country: str
    region: str
    city: str
    time_zone: str
    time_zone_only: bool = False

    def headers(self, origin_secret: str | None, port: int) -> dict[str, str]:
        """What the deployment's CloudFront adds to this visitor's requests (with the origin secret when known)."""
        headers = {"User-Agent": self.agent, VIEWER_ADDRESS: f"{self.ip}:{port}"}
        if origin_secret:
            headers[ORIGIN_HEADER] = origin_secret
        if not self.time_zone_only:
            headers.update({VIEWER_COUNTRY: self.country, VIEWER_REGION: self.region,
                            VIEWER_CITY: self.city})
        return headers


# (event type, probability per visit, props)
CUSTOM_EVENTS = [
    ("signup", 0.04, lambda r: {"plan": r.choice(["free", "pro", "team"])}),  # and the funnel's (FUNNEL_SHARES)
    ("add_to_cart", 0.10, lambda r: {"product": r.choice(["starter", "pro", "enterprise"])}),
    ("purchase", 0.02, lambda r: {"value": r.choice([19, 49, 99, 299]), "currency": "USD"}),
    ("download", 0.05, lambda r: {"url": SITE + r.choice(["/files/whitepaper.pdf", "/files/cli.tar.gz"])}),
    ("outbound_click", 0.08, lambda r: {"url": r.choice(["https://github.com/liveinsight/liveinsight",
                                                         "https://docs.aws.amazon.com/lambda/"])}),
    ("not_found", 0.01, lambda r: {"url": SITE + r.choice(["/old-pricing", "/blog/2019/hello", "/docs/v1/api"])}),
]
CUSTOM_EVENT_PROPS = {name: props for name, _, props in CUSTOM_EVENTS}
# The funnel of visits landing on /: who goes on to the pricing, of those who sign up, of those who buy.
FUNNEL_SHARES = (0.5, 0.35, 0.4)
# The tracker's engagement report after a page view: how often one is sent, and the engaged share of
# the time until the next event (a reader's attention comes and goes; a last page is read ~45 s).
ENGAGEMENT_SHARE = 0.85
LAST_PAGE_SECONDS = 45


@dataclass
class TrafficModel:
    """What visits look like; the defaults are a small SaaS site."""

    bounce_share: float = 0.42
    mobile_share: float = 0.38
    bot_share: float = 0.03
    mean_gap_seconds: float = 35.0
    # Of the visits, those by someone who came earlier the same day or night (the same address and
    # browser, so the same visitor), after their visit had ended.
    returning_share: float = 0.35
    # Of the engaged visits, those that open a page or two in more tabs while reading.
    tabs_share: float = 0.3
    time_zone_only_share: float = 0.2
    # Without a session id each visit's events carry none, as the tracker sends them: the server derives
    # the visitor from the address and browser. With one, the visit's own (an import, an API client).
    cookieless: bool = False
    seed: int = 7
    rng: random.Random = field(init=False)
    people: random.Random = field(init=False)
    recent: deque = field(init=False)

    # Someone comes back within hours of a visit, and after it ended (30 minutes without an event).
    RETURN_WITHIN_SECONDS = 8 * 3600
    RETURN_AFTER_SECONDS = 45 * 60
    RECENT_LIMIT = 50_000

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # Who visits, and their tabs, from a generator of their own: the visits' pages, sources and
        # events stay what the same seed gave before visitors had places.
        self.people = random.Random(self.seed + 101)
        self.recent = deque()  # (start of their latest visit, visitor), oldest first

    def _weighted(self, options: list[tuple], rng: random.Random | None = None) -> tuple:
        return (rng or self.rng).choices(options, weights=[o[-1] for o in options])[0]

    def visitor(self, agent: str, start: float, bot: bool = False) -> Visitor:
        """Who makes a visit starting at `start` with a browser like `agent`: someone back from earlier, or someone new."""
        p = self.people
        while self.recent and (self.recent[0][0] < start - self.RETURN_WITHIN_SECONDS
                               or len(self.recent) > self.RECENT_LIMIT):
            self.recent.popleft()
        if not bot and p.random() < self.returning_share:
            back = [person for seen, person in self.recent
                    if start - self.RETURN_WITHIN_SECONDS <= seen <= start - self.RETURN_AFTER_SECONDS]
            if back:
                person = p.choice(back)
                self.recent.append((start, person))
                return person
        country, region, city, time_zone, _ = self._weighted(PLACES, p)
        # Addresses from 198.18.0.0/15, the block set aside for benchmarks: never a real person's.
        ip = f"198.{18 + p.getrandbits(1)}.{p.getrandbits(8)}.{1 + p.randrange(254)}"
        person = Visitor(ip, agent, country, region, city, time_zone, p.random() < self.time_zone_only_share)
        if not bot:  # A crawler does not come back as a person.
            self.recent.append((start, person))
        return person

    def visit(self, start: float, source: tuple | None = None, landing: str | None = None) -> list[dict]:
        """The events of one visit starting at `start` (epoch seconds), oldest first."""
        return self.visit_by(start, source, landing)[1]

    def visit_by(self, start: float, source: tuple | None = None,
                 landing: str | None = None) -> tuple[Visitor, list[dict]]:
        """Who makes one visit starting at `start`, and its events (several tabs' interleaved), oldest first."""
        r = self.rng
        session_id = uuid.UUID(int=r.getrandbits(128)).hex
        if r.random() < self.bot_share:
            agent = r.choice(BOT_AGENTS)
            person = self.visitor(agent, start, bot=True)
            return person, [self._event("page_view", session_id, start + i * 2, r.choice(PAGES)[0], agent, "",
                                        person) for i in range(r.randint(1, 4))]
        kind, referrer, query, _ = source or self._weighted(SOURCES)
        agent = self._weighted(MOBILE_AGENTS if r.random() < self.mobile_share else DESKTOP_AGENTS)[0]
        person = self.visitor(agent, start)
        agent = person.agent  # someone coming back comes back with their own browser
        landing = landing or self._weighted(PAGES)[0]
        events = [self._event("page_view", session_id, start, landing + query, agent, referrer, person)]
        if r.random() < self.bounce_share:
            return person, events + self._engagement(events, agent, person)
        t = start
        for _ in range(min(1 + int(r.expovariate(1 / 2.2)), 9)):
            t += 3 + r.expovariate(1 / self.mean_gap_seconds)
            events.append(self._event("page_view", session_id, t, self._weighted(PAGES)[0], agent, "", person))
        funnel = self._funnel(session_id, landing, t, agent, person)
        events += funnel
        t = funnel[-1]["timestamp"] if funnel else t
        for name, probability, props in CUSTOM_EVENTS:
            if r.random() < probability * 2.2:  # per engaged visit, so the per-visit rate matches
                t += 2 + r.expovariate(1 / 20)
                page = events[-1]["page_url"][len(SITE):]
                if name == "signup" and page != "/signup":  # people sign up on the sign-up page
                    page = "/signup"
                    events.append(self._event("page_view", session_id, t, page, agent, "", person))
                    t += 5 + r.expovariate(1 / 30)
                event = self._event(name, session_id, t, page, agent, "", person)
                event["props"] = props(r)
                events.append(event)
        events += self._tabs(session_id, start, t, agent, person)
        events.sort(key=lambda e: e["timestamp"])
        return person, sorted(events + self._engagement(events, agent, person), key=lambda e: e["timestamp"])

    def _funnel(self, session_id: str, landing: str, t: float, agent: str, person: Visitor) -> list[dict]:
        """A visit landing on / goes on through the funnel (DEFINITIONS) with a shop's drop-off: half see the
        pricing, a third of those sign up, two in five of those buy (from its own random stream, so the rest of
        the demo's traffic stays what a seed gives)."""
        p, events = random.Random(f"funnel-{session_id}"), []
        if landing != "/":
            return events
        for step, share in (("/pricing", FUNNEL_SHARES[0]), ("signup", FUNNEL_SHARES[1]),
                            ("purchase", FUNNEL_SHARES[2])):
            if p.random() >= share:
                break
            t += 4 + p.expovariate(1 / 25)
            if step == "/pricing":
                events.append(self._event("page_view", session_id, t, step, agent, "", person, p))
                continue
            if step == "signup":
                events.append(self._event("page_view", session_id, t, "/signup", agent, "", person, p))
                t += 5 + p.expovariate(1 / 30)
            event = self._event(step, session_id, t, "/signup" if step == "signup" else "/pricing", agent, "",
                                person, p)
            event["props"] = dict(CUSTOM_EVENT_PROPS[step](p))
            events.append(event)
        return events

    def _engagement(self, events: list[dict], agent: str, person: Visitor) -> list[dict]:
        """The tracker's engagement reports of a visit's page views (from their own random stream, so the
        rest of the demo's traffic stays what a seed gives)."""
        reports = []
        for n, event in enumerate(events):
            if event["event_type"] != "page_view":
                continue
            r = random.Random(event["event_id"])
            if r.random() >= ENGAGEMENT_SHARE:
                continue
            until = events[n + 1]["timestamp"] if n + 1 < len(events) else event["timestamp"] + LAST_PAGE_SECONDS * 2
            seconds = max(1, int((until - event["timestamp"]) * r.uniform(0.3, 0.9)))
            report = self._event("engagement", event.get("session_id", ""), until - 0.5, event["page_url"][len(SITE):],
                                 agent, "", person, r)
            report["props"] = {"engaged_seconds": seconds, "scroll_depth": r.choice([25, 40, 60, 75, 90, 100])}
            reports.append(report)
        return reports

    def _tabs(self, session_id: str, start: float, end: float, agent: str, person: Visitor) -> list[dict]:
        """Pages opened in more tabs while the visit goes on: a link opened in a new tab, read a little later."""
        p, events = self.people, []
        if p.random() >= self.tabs_share:
            return events
        for _ in range(p.choice((1, 1, 2))):
            t = start + p.uniform(0, max(end - start, 30))
            for _ in range(p.choice((1, 1, 2, 3))):
                events.append(self._event("page_view", session_id, t, self._weighted(PAGES, p)[0], agent, "",
                                          person, p))
                t += 5 + p.expovariate(1 / self.mean_gap_seconds)
        return events

    def _event(self, event_type: str, session_id: str, ts: float, path: str, agent: str, referrer: str,
               person: Visitor, rng: random.Random | None = None) -> dict:
        event = {"event_type": event_type, "timestamp": round(ts, 3), "page_url": SITE + path, "user_agent": agent,
                 "event_id": uuid.UUID(int=(rng or self.rng).getrandbits(128)).hex}
        if not self.cookieless:
            event["session_id"] = session_id
        if referrer:
            event["referrer"] = referrer
        if person.time_zone_only and SEND_TIME_ZONES:
            event["tz"] = person.time_zone
        return event


def day_night(ts: float) -> float:
    """Traffic multiplier by UTC hour: quiet at night, peak mid-afternoon (0.25-1.0)."""
    hour = (ts % 86400) / 3600
    return 0.25 + 0.75 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 3) / 24))


def history(days: float, visits_per_day: int, now: float, seed: int = 7) -> Iterator[dict]:
    """Visits laid out over the past `days` on the day-night curve, events in time order (each with its session id)."""
    for _, event in visitor_history(days, visits_per_day, now, seed, cookieless=False):
        yield event


def backfill(store: Any, days: float, visits_per_day: int, now: float, seed: int = 7) -> Any:
    """Import `days` of cookieless demo history into `store`, each event with its visitor's request context.

    What the deployment's collector would have learned from CloudFront for each request — the
    visitor's address, browser and place — goes with each event, as the live simulator sends it.
    """
    from ..ingest.collector import RequestContext
    from .importer import import_events

    pairs = list(visitor_history(days, visits_per_day, now, seed))
    contexts = {person: RequestContext(client_ip=person.ip, user_agent=person.agent) if person.time_zone_only else
                RequestContext(client_ip=person.ip, user_agent=person.agent, country=person.country,
                               region=f"{person.country}-{person.region}", city=person.city)
                for person in {person for person, _ in pairs}}
    return import_events(((number, event) for number, (_, event) in enumerate(pairs, 1)), store, now=now,
                         context_of=lambda number: contexts[pairs[number - 1][0]])


def visitor_history(days: float, visits_per_day: int, now: float, seed: int = 7,
                    cookieless: bool = True) -> Iterator[tuple[Visitor, dict]]:
    """(visitor, event) of the visits over the past `days` on the day-night curve, in time order.

    Cookieless events carry no session id: an import gives each one its visitor's request context.
    """
    model = TrafficModel(seed=seed, cookieless=cookieless)
    rng = random.Random(seed + 1)
    start, events = now - days * 86400, []
    mean_rate = visits_per_day / 86400 / 0.625  # the curve averages 0.625
    t = start
    while t < now - 120:
        t += rng.expovariate(mean_rate * day_night(t))
        person, visit = model.visit_by(t)
        events.extend((person, e) for e in visit if e["timestamp"] < now - 60)
    events.sort(key=lambda pair: pair[1]["timestamp"])
    yield from events


# A launch: a news-site front page brings about 9x the usual visits at once, fading over
# about half an hour (an hour of it is ~4.5x a usual hour: the alert check sees a spike).
LAUNCH_BOOST, LAUNCH_FADE_SECONDS = 8.0, 1800
CAMPAIGN_BOOST, CAMPAIGN_FADE_SECONDS = 1.5, 1200
EVENTS_PER_VISIT = 3.2


class Scenario:
    """When visits start and what they look like: steady traffic, a launch spike or a campaign burst."""

    def __init__(self, scenario: str = "steady", rate: float = 3.0, seed: int = 7, cookieless: bool = False):
        if scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
        if rate <= 0:
            raise ValueError("rate must be a positive number of events per second")
        self.name, self.rate = scenario, rate
        self.model = TrafficModel(seed=seed, cookieless=cookieless)
        self.rng = random.Random(seed + 2)

    def new_visit(self, now: float, elapsed: float) -> list[dict]:
        """The events of a visit starting at `now`, `elapsed` seconds into the scenario."""
        return self.new_visit_by(now, elapsed)[1]

    def new_visit_by(self, now: float, elapsed: float) -> tuple[Visitor, list[dict]]:
        """Who makes a visit starting at `now`, `elapsed` seconds into the scenario, and its events."""
        r = self.rng
        if self.name == "launch" and r.random() < 0.9 * math.exp(-elapsed / LAUNCH_FADE_SECONDS):
            return self.model.visit_by(now, source=("news", "https://news.ycombinator.com/item?id=42", "", 1),
                                       landing="/blog/launch")
        if self.name == "campaign" and r.random() < 0.6 * math.exp(-elapsed / CAMPAIGN_FADE_SECONDS):
            return self.model.visit_by(now, source=(
                "newsletter", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday", 1),
                landing=r.choice(["/pricing", "/blog/launch", "/features"]))
        return self.model.visit_by(now)

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
    """Plays a scenario's visits in real time against a LiveInsight API, as the deployment's CloudFront forwards them.

    Events carry no session id (the tracker's default); each request carries its visitor's address
    and place in CloudFront's viewer headers, and the origin secret (`origin_secret`, by default
    the environment's LIVEINSIGHT_ORIGIN_SECRET) that makes the collector trust them.
    """

    def __init__(self, api: str, rate: float = 3.0, scenario: str = "steady", seed: int = 7,
                 duration: float | None = None, api_key: str | None = None, origin_secret: str | None = None):
        self.traffic = Scenario(scenario, rate, seed, cookieless=True)
        self.api, self.rate, self.scenario, self.duration = api.rstrip("/"), rate, scenario, duration
        self.origin_secret = origin_secret or os.environ.get(ENV_ORIGIN_SECRET) or None
        self.ports = random.Random(seed + 3)
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
        queue: list[tuple[float, int, Visitor, dict]] = []
        counter = 0
        next_visit = started
        while not self.stop_event.is_set():
            now = time.time()
            if self.duration is not None and now - started >= self.duration:
                break
            while next_visit <= now:
                person, events = self.traffic.new_visit_by(next_visit, next_visit - started)
                for event in events:
                    counter += 1
                    heapq.heappush(queue, (event["timestamp"], counter, person, event))
                next_visit = self.traffic.next_start(next_visit, started)
            due = []
            while queue and queue[0][0] <= now:
                _, _, person, event = heapq.heappop(queue)
                due.append((person, event))
            self._send(session, due)
            wake = min(next_visit, queue[0][0] if queue else next_visit)
            self.stop_event.wait(max(0.01, min(0.5, wake - time.time())))

    def requests_for(self, due: list[tuple[Visitor, dict]]) -> list[tuple[dict[str, str], dict, int]]:
        """(headers, body, events) of the requests that send `due`: one per visitor, as their browser would."""
        by_visitor: dict[Visitor, list[dict]] = {}
        for person, event in due:
            by_visitor.setdefault(person, []).append({k: v for k, v in event.items() if k != "user_agent"})
        return [(person.headers(self.origin_secret, 1024 + self.ports.randrange(64511)),
                 visit[0] if len(visit) == 1 else {"events": visit}, len(visit))
                for person, visit in by_visitor.items()]

    def _send(self, session: Any, due: list[tuple[Visitor, dict]]) -> None:
        for headers, body, count in self.requests_for(due):
            self.requests += 1
            try:
                response = session.post(f"{self.api}/api/events", data=json.dumps(body), headers=headers, timeout=10)
            except requests_error() as exc:
                self.errors += 1
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                continue
            if response.status_code == 200:
                self.sent += count
            else:
                self.errors += 1
                self.last_error = f"HTTP {response.status_code}: {response.text[:200]}"

    def stop(self) -> None:
        self.stop_event.set()


# The demo site's page groups, goals and funnel, as `PUT /api/definitions/{kind}/{name}` bodies, in the
# order they can be defined (a goal's page group and a funnel's goals first). The demo's product pages
# are its feature tour (/features); purchases carry their amount in `value`, in USD (CUSTOM_EVENTS).
DEFINITIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("page_groups", "products", {"pattern": "/features/**"}),
    ("page_groups", "blog", {"pattern": "/blog/**"}),
    ("page_groups", "docs", {"pattern": "/docs/**"}),
    ("goals", "landing", {"page": "/"}),
    ("goals", "pricing", {"page": "/pricing"}),
    ("goals", "signup", {"event_type": "signup"}),
    ("goals", "purchase", {"event_type": "purchase", "revenue": {"property": "value", "currency": "USD"}}),
    ("funnels", "landing to purchase", {"steps": ["landing", "pricing", "signup", "purchase"]}),
]


def seeds() -> str:
    """The demo's definitions as LIVEINSIGHT_DEFINITIONS: seeded, they count from the start, so the demo's
    history (backfilled into the past) fills the Goals and Funnels pages at once."""
    site = urlsplit(SITE).hostname
    kinds: dict[str, list[dict[str, Any]]] = {"page_groups": [], "goals": [], "funnels": []}
    for kind, name, body in DEFINITIONS:
        kinds[kind].append({"name": name, **body})
    return json.dumps({site: kinds})


def define(api: str, api_key: str | None = None, definitions: list[tuple[str, str, dict]] | None = None) -> int:
    """Define the demo site's page groups, goals and funnel through the API (saving one again changes nothing).

    Returns how many were saved; raises RuntimeError with the API's reason when one is refused.
    """
    import requests

    site = urlsplit(SITE).hostname
    headers = {"X-API-Key": api_key} if api_key else {}
    with requests.Session() as session:
        for kind, name, body in DEFINITIONS if definitions is None else definitions:
            response = session.put(f"{api.rstrip('/')}/api/definitions/{kind}/{quote(name, safe='')}",
                                   params={"site": site}, json=body, headers=headers, timeout=10)
            if response.status_code != 200:
                raise RuntimeError(f"the API refused the demo's {kind} {name!r} (HTTP {response.status_code}): "
                                   f"{response.text[:300]}")
    return len(DEFINITIONS if definitions is None else definitions)


def requests_error() -> type[Exception]:
    import requests

    return requests.RequestException
