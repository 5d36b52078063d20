"""Traffic alerts: the last hour's visits against the same hour in past weeks.

The scheduled function runs `check_sites` every 15 minutes. Each check reads the last
whole-minute hour and the same hour 1..`weeks` weeks earlier from the stats table
(GET /api/stats answers of those ranges: the numbers an analyst would see), and calls
traffic *high* (a launch, a bot wave), *low*, or *silent* (no events at all — the
tracker fell off the site, the most useful alert there is). A baseline window counts
only on a day the site already had data, after its first (partial) day; with fewer
than two such weeks the same hour of the previous days is used instead, and with no
history at all there is no verdict. An alert is sent when a site enters a high or
low/silent state, and again only after the cool-down while it stays there, so one spike
sends one message.
"""
from __future__ import annotations

import html
import os
import statistics
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from .. import config, localtime
from ..errors import DeliveryFailed
from ..items import alerts as a
from .notify import Message, Notifier, slack_escape
from ..query.stats import StatsReader, top_sites
from ..store import VersionConflict
from ..zones import SiteZones

WINDOW_SECONDS = 3600
MAX_SITES_CHECKED = 100
DAY, WEEK = 86400, 7 * 86400
ALERTING = ("high", "low", "silent")


@dataclass(frozen=True)
class Thresholds:
    """When traffic is unusual. Parameters
    ----------
    high_ratio: visits at least this many times the usual count is a spike.
    low_ratio: visits at most this fraction of the usual count is a drop.
    min_visits: a spike needs at least this many visits, a drop or silence at least this many usual visits.
    cooldown_hours: the same kind of alert is not sent again sooner.
    weeks: how many past weeks give the usual count.
    """

    high_ratio: float = 3.0
    low_ratio: float = 0.3
    min_visits: int = 10
    cooldown_hours: float = 6.0
    weeks: int = 4

    @classmethod
    def from_env(cls) -> "Thresholds":
        def number(name: str, default: float, low: float, high: float) -> float:
            text = os.environ.get(name, "").strip()
            if not text:
                return default
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not low <= value <= high:
                raise ValueError(f"{name} must be a number from {low:g} to {high:g}, not {text!r}")
            return value

        return cls(high_ratio=number(config.ENV_ALERT_HIGH_RATIO, cls.high_ratio, 1.1, 1000),
                   low_ratio=number(config.ENV_ALERT_LOW_RATIO, cls.low_ratio, 0, 0.95),
                   min_visits=int(number(config.ENV_ALERT_MIN_VISITS, cls.min_visits, 1, 10**6)),
                   cooldown_hours=number(config.ENV_ALERT_COOLDOWN_HOURS, cls.cooldown_hours, 0, 24 * 7),
                   weeks=int(number(config.ENV_ALERT_WEEKS, cls.weeks, 1, 8)))


@dataclass(frozen=True)
class Check:
    """One site's last hour against its usual traffic."""

    site: str | None
    start: int
    end: int
    visits: int
    events: int
    baseline: list[int]  # visits in each compared window, most recent first
    basis: str  # "weeks" | "days" | "none"
    state: str  # high | low | silent | normal | unknown

    @property
    def expected(self) -> float | None:
        return statistics.median(self.baseline) if self.baseline else None

    @property
    def scope(self) -> str:
        return self.site or "all sites"

    def describe(self) -> str:
        usual = (f"usually {self.expected:g} (median of the same hour {len(self.baseline)} "
                 f"{'week' if self.basis == 'weeks' else 'day'}{'s' if len(self.baseline) > 1 else ''} before: "
                 f"{', '.join(map(str, self.baseline))})") if self.baseline else "no history to compare with yet"
        return f"{self.scope}: {self.visits} visits, {self.events} events in the last hour; {usual} -> {self.state}"


def check(reader: StatsReader, site: str | None, now: float, thresholds: Thresholds = Thresholds(),
          sites: list[str] | None = None) -> Check:
    """The verdict on `site`'s last whole-minute hour before `now` (`sites`: the sites with data, if read)."""

    def _answer(site: str | None, start: int, end: int, interval: str) -> dict[str, Any]:
        params = {"from": [str(start)], "to": [str(end)], "interval": [interval], "limit": ["1"]}
        if site:
            params["site"] = [site]
        return reader.answer(params, now=end, sites=sites)

    end = int(now // 60 * 60)
    start = end - WINDOW_SECONDS
    current = _answer(site, start, end, "minute")["totals"]
    # Which days had data: one answer of day buckets over the whole look-back and one day more,
    # so the first day with data is never a window's day unless the site really began on it.
    first_day = (start - thresholds.weeks * WEEK) // DAY * DAY - DAY
    days = _answer(site, first_day, end, "day")["timeseries"]
    live = [row["t"] for row in days if row["events"] > 0]
    settled = set(live[1:])  # a site's first day is partial: it shows when the tracker went on, not traffic

    # The same local hour of the site's zone (`days` are its local days): across a DST change a week
    # back is 167 or 169 hours.
    tz = SiteZones(reader.store, reader.settings).get(site or reader.settings.only_site)

    def windows(step: int, count: int) -> list[int]:
        starts = [localtime.wall_clock_before(start, k * step // DAY, tz) for k in range(1, count + 1)]
        return [s for s in starts if localtime.bucket_start(s, "day", tz) in settled
                and localtime.bucket_start(s + WINDOW_SECONDS - 1, "day", tz) in settled]

    basis, starts = "weeks", windows(WEEK, thresholds.weeks)
    if len(starts) < 2:
        basis, starts = "days", windows(DAY, 6)
    if not starts:
        basis = "none"
    baseline = [_answer(site, s, s + WINDOW_SECONDS, "minute")["totals"]["sessions"] for s in starts]
    visits, events = current["sessions"], current["events"]
    verdict = Check(site, start, end, visits, events, baseline, basis, "unknown")
    return replace(verdict, state=_state(verdict, thresholds))


def _state(c: Check, t: Thresholds) -> str:
    expected = c.expected
    if expected is None:
        return "unknown"
    if expected >= t.min_visits and c.events == 0:
        return "silent"
    if c.visits >= t.min_visits and c.visits >= expected * t.high_ratio:
        return "high"
    if expected >= t.min_visits and c.visits <= expected * t.low_ratio:
        return "low"
    return "normal"


def _family(state: str) -> str:
    return "low" if state in ("low", "silent") else state


def decide(previous: a.AlertState, c: Check, now: float, thresholds: Thresholds) -> tuple[a.AlertState, bool]:
    """The new state and whether to send: entering an alert, or still in it after the cool-down."""
    state = previous.state if c.state == "unknown" else c.state
    since = previous.since if _family(state) == _family(previous.state) else now
    nxt = replace(previous, state=state, since=since)
    if state not in ALERTING:
        return nxt, False
    fresh = _family(previous.sent) != _family(state)
    cooled = now - previous.sent_at >= thresholds.cooldown_hours * 3600
    if fresh or cooled:
        return replace(nxt, sent=state, sent_at=now), True
    return nxt, False


def message(c: Check, dashboard_url: str | None = None) -> Message:
    """The alert in every channel's format."""
    usual = f"{c.expected:g}" if c.expected is not None else "?"
    when = datetime.fromtimestamp(c.end, timezone.utc).strftime("%H:%M UTC")
    if c.state == "silent":
        headline = f"No events from {c.scope} in the last hour"
        detail = (f"LiveInsight received no events for {c.scope} in the hour up to {when}; this hour usually "
                  f"has {usual} visits. Check that the tracker script is still on the site and that "
                  "POST /api/events answers.")
    elif c.state == "low":
        headline = f"Traffic drop on {c.scope}: {c.visits} visits in the last hour (usually {usual})"
        detail = f"{c.visits} visits in the hour up to {when}, against a usual {usual} for this hour."
    else:
        headline = f"Traffic spike on {c.scope}: {c.visits} visits in the last hour (usually {usual})"
        detail = f"{c.visits} visits in the hour up to {when}, against a usual {usual} for this hour."
    basis = {"weeks": "the same hour in past weeks", "days": "the same hour on past days"}.get(c.basis, "")
    footer = f"Compared with {basis}: {', '.join(map(str, c.baseline))} visits." if basis else ""
    link = f"\nDashboard: {dashboard_url}" if dashboard_url else ""
    text = f"{headline}\n\n{detail}\n{footer}{link}\n"
    body = (f'<div style="font-family:Helvetica,Arial,sans-serif;color:#111827"><h2 style="font-size:18px">'
            f'{html.escape(headline)}</h2><p style="font-size:14px">{html.escape(detail)}</p>'
            f'<p style="font-size:12px;color:#6b7280">{html.escape(footer)}</p>'
            + (f'<p><a href="{html.escape(dashboard_url)}">Open the dashboard</a></p>' if dashboard_url else "")
            + "</div>")
    slack = {"text": slack_escape(headline), "blocks": [  # the fallback (notifications) is mrkdwn too
        {"type": "section",
         "text": {"type": "mrkdwn", "text": f"*{slack_escape(headline)}*\n{slack_escape(detail)}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(footer) or " "}]},
    ]}
    return Message(subject=f"LiveInsight alert: {headline}", text=text, html=body, slack=slack)


@dataclass(frozen=True)
class Outcome:
    check: Check
    sent: bool
    delivered: list[str]
    error: str | None = None


def check_sites(reader: StatsReader, notifier: Notifier | None, now: float | None = None,
                thresholds: Thresholds = Thresholds(), site: str | None = None,
                dashboard_url: str | None = None, max_alerts: int | None = None) -> list[Outcome]:
    """Check every site with visits in the look-back (or `site`), store each verdict, and send what
    `decide` says to send.

    The sites checked are the most visited over the weeks compared (at most MAX_SITES_CHECKED:
    made-up hosts with a visit each never crowd out a real site, whose usual traffic ranks it
    first); at most `max_alerts` (LIVEINSIGHT_MAX_ALERTS_PER_RUN) are sent in one run, and the
    rest are neither sent nor stored, so the next run decides them again. Without a notifier
    nothing is sent or stored (a dry run). A delivery failure is reported in the outcome and
    leaves the alert unsent, so the next check tries again.
    """
    now = time.time() if now is None else now
    max_alerts = config.whole_number_env(config.ENV_MAX_ALERTS, config.DEFAULT_MAX_ALERTS, 1, 1000) \
        if max_alerts is None else max_alerts
    store, table = reader.store, reader.settings.stats_table
    end = int(now // 60 * 60)
    with_data = top_sites(store, reader.settings, end - WINDOW_SECONDS - thresholds.weeks * WEEK - DAY, end)
    outcomes = []
    for name in [site] if site else with_data[:MAX_SITES_CHECKED]:
        c = check(reader, name, now, thresholds, with_data)
        if notifier is None:
            outcomes.append(Outcome(c, False, []))
            continue
        if sum(o.sent for o in outcomes) >= max_alerts:
            outcomes.append(Outcome(c, False, []))  # over the run's cap: the next run decides again
            continue
        for _ in range(3):  # a concurrent check changed the state: re-read and decide again
            previous = a.AlertState.from_item(store.get_item(table, a.key(name)))
            state, send = decide(previous, c, now, thresholds)
            seen = {"visits": c.visits, "checked": int(now),
                    "expected": Decimal(str(c.expected)) if c.expected is not None else -1}
            try:
                store.put_versioned(table, state.item(name, **seen), previous.version)
            except VersionConflict:
                continue
            break
        else:
            outcomes.append(Outcome(c, False, [], "the alert state kept changing under this check"))
            continue
        if not send:
            outcomes.append(Outcome(c, False, []))
            continue
        try:
            delivered = notifier.send(message(c, dashboard_url))
        except DeliveryFailed as exc:
            # Not sent after all: put back what was last sent, so the next check sends it.
            undo = replace(state, sent=previous.sent, sent_at=previous.sent_at, version=(previous.version or 0) + 1)
            try:
                store.put_versioned(table, undo.item(name, **seen), undo.version)
            except VersionConflict:
                pass
            outcomes.append(Outcome(c, False, [], exc.message))
            continue
        outcomes.append(Outcome(c, True, delivered))
    return outcomes

