"""The scheduled jobs: reports and traffic alerts, as EventBridge schedules invoke them.

The template's schedules send a constant input, `{"liveinsight": "report", "period": "7d"}`,
`{"liveinsight": "alerts"}` or `{"liveinsight": "recount"}` (liveinsight/recount.py, which the handler
runs itself: it sends nothing); the CLI runs the same functions locally.
"""
from __future__ import annotations

import os
import time
from typing import Any

from .. import config
from .alerts import Thresholds, check_sites
from ..errors import DeliveryFailed, InvalidRequest
from .notify import NO_CHANNEL, Channels, Message, Notifier
from .report import DEFAULT_REPORT_PERIOD, build_reports, render_html, render_slack, render_text
from ..query.stats import StatsReader

JOB = "liveinsight"  # the key of a scheduled invocation's input
RECOUNT = "recount"
JOBS = ("report", "alerts", RECOUNT)


def is_scheduled_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get(JOB) in JOBS


def report_message(report) -> Message:
    return Message(subject=report.subject, text=render_text(report), html=render_html(report),
                   slack=render_slack(report))


def send_reports(reader: StatsReader, notifier: Notifier, period: str = DEFAULT_REPORT_PERIOD,
                 site: str | None = None, now: float | None = None) -> list[str]:
    """Build and send one report per site; raises DeliveryFailed after trying every site."""
    sent, failures = [], []
    for report in build_reports(reader, period, site, now):
        try:
            for channel in notifier.send(report_message(report)):
                sent.append(f"{report.scope}: {channel}")
        except DeliveryFailed as exc:
            failures.append(f"{report.scope}: {exc.message}")
    if failures:
        raise DeliveryFailed("; ".join(failures))
    return sent


def run(event: dict[str, Any], reader: StatsReader, notifier: Notifier | None = None,
        now: float | None = None) -> dict[str, Any]:
    """Run one scheduled job; a delivery failure raises (the function's Errors metric and alarm see it).

    With no channel configured (the template's defaults) the job is a quiet no-op with a log
    line: the schedules run from the first deploy, and a deployment without recipients has
    chosen to get nothing, which is no error to alarm on or retry. The result says why
    (`skipped`), and the handler logs it.
    """
    notifier = notifier or Notifier(Channels.from_env())
    if not notifier.channels.configured:
        return {"job": event[JOB], "sent": [], "skipped": NO_CHANNEL}
    now = time.time() if now is None else now
    if event[JOB] == "report":
        period = event.get("period", DEFAULT_REPORT_PERIOD)
        if not isinstance(period, str):
            raise InvalidRequest(f"`period` of a scheduled report must be a string such as '7d', not {period!r}")
        return {"job": "report", "period": period, "sent": send_reports(reader, notifier, period, now=now)}
    outcomes = check_sites(reader, notifier, now, Thresholds.from_env(),
                           dashboard_url=os.environ.get(config.ENV_DASHBOARD_URL) or None)
    failed = [f"{o.check.scope}: {o.error}" for o in outcomes if o.error]
    if failed:
        raise DeliveryFailed("; ".join(failed))
    return {"job": "alerts", "checked": [o.check.describe() for o in outcomes],
            "sent": [o.check.scope for o in outcomes if o.sent]}
