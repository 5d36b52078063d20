"""Scheduled reports: a period's numbers against the period before, for e-mail, Slack and the terminal.

A report covers whole days of the site's time zone ending at its last midnight (`7d`: the
last seven complete days, `1d`: yesterday; all sites together: UTC days) and is built from one GET /api/stats answer of the
same range, so every number in it is the number the API and the dashboard show.
Rendering is plain string work (no templates, no charts library): the HTML is
inline-styled tables — the traffic chart is bars drawn with table cells — because
mail clients drop scripts, SVG and style sheets.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from typing import Any

from .. import config, localtime
from ..errors import InvalidRequest
from ..items.events import PAGE_VIEW
from .notify import slack_escape
from ..query.stats import StatsReader, top_sites
from ..zones import SiteZones

REPORT_PERIODS = {"1d": 1, "7d": 7, "30d": 30}  # name -> whole days
DEFAULT_REPORT_PERIOD = "7d"
TOP_ROWS = 5
FORMATS = ("text", "html", "slack")

# The HTML palette (inline styles only).
INK, MUTED, ACCENT, BAR, GOOD, BAD, RULE = "#111827", "#6b7280", "#4f46e5", "#6366f1", "#047857", "#b91c1c", "#e5e7eb"
CHART_HEIGHT_PX = 90


@dataclass(frozen=True)
class Metric:
    """One headline number, the previous period's and how to show the change."""

    name: str
    value: float
    previous: float
    kind: str = "count"  # count | rate | seconds

    @property
    def change(self) -> str:
        """"+12%", "-3.1 pp" for rates, "new" when there was nothing before, "=" when equal."""
        if self.kind == "rate":
            points = round((self.value - self.previous) * 100, 1)
            return "=" if points == 0 else f"{points:+.1f} pp"
        if self.previous == 0:
            return "=" if self.value == 0 else "new"
        percent = round((self.value - self.previous) / self.previous * 100)
        return "=" if percent == 0 else f"{percent:+d}%"

    @property
    def improved(self) -> bool | None:
        """Whether the change is good news (a lower bounce rate is), None when unchanged."""
        if self.value == self.previous:
            return None
        better = self.value > self.previous
        return not better if self.name == "Bounce rate" else better

    def show(self, value: float | None = None) -> str:
        value = self.value if value is None else value
        if self.kind == "rate":
            return f"{value * 100:.1f}%"
        if self.kind == "seconds":
            return duration(value)
        return f"{int(value):,}"


def duration(seconds: float) -> str:
    """2m 05s, 1h 02m, 48s."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


@dataclass(frozen=True)
class Report:
    """What one site (or every site, `site=None`) did over a period."""

    site: str | None
    period: str
    start: int
    end: int
    metrics: list[Metric]
    series: list[dict[str, Any]]  # {"t", "sessions", "page_views"} per day (per hour for 1d)
    pages: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    goals: list[dict[str, Any]] = field(default_factory=list)  # custom events, when there are any
    zone: str = "UTC"  # the IANA zone its days are in (the site's)

    @property
    def title(self) -> str:
        return f"{'Daily' if self.period == '1d' else 'Weekly' if self.period == '7d' else 'Monthly'} report"

    @property
    def scope(self) -> str:
        return self.site or "all sites"

    @property
    def dates(self) -> str:
        first, last = _day(self.start, self.zone), _day(self.end - 1, self.zone)
        return first if first == last else f"{first} – {last}"

    @property
    def zone_label(self) -> str:
        """The zone its dates are in, as a reader names it: "UTC", "America/New_York"."""
        return self.zone

    @property
    def subject(self) -> str:
        visits = self.metrics[0]
        return f"LiveInsight {self.title.lower()} for {self.scope}, {self.dates}: {visits.show()} visits ({visits.change})"

    @property
    def empty(self) -> bool:
        return all(m.value == 0 and m.previous == 0 for m in self.metrics)

    def as_dict(self) -> dict[str, Any]:
        return {"site": self.site, "period": self.period, "from": self.start, "to": self.end,
                "totals": {m.name: m.value for m in self.metrics},
                "previous_totals": {m.name: m.previous for m in self.metrics},
                "series": self.series, "pages": self.pages, "sources": self.sources, "goals": self.goals}


def _day(ts: float, zone: str = "UTC") -> str:
    return datetime.fromtimestamp(ts, localtime.zone(zone)).strftime("%a %d %b %Y")


def report_range(period: str, now: float, tz: ZoneInfo = localtime.UTC) -> tuple[int, int]:
    """[start, end) of a report: whole days of zone `tz` ending at its last midnight before `now` (a DST
    change makes one of them 23 or 25 hours)."""
    if period not in REPORT_PERIODS:
        raise InvalidRequest(f"`period` must be one of {', '.join(REPORT_PERIODS)}, not {period!r}")
    today = localtime.local_date(now, tz)
    return (localtime.day_start(today - timedelta(days=REPORT_PERIODS[period]), tz),
            localtime.day_start(today, tz))


def build_report(reader: StatsReader, period: str = DEFAULT_REPORT_PERIOD, site: str | None = None,
                 now: float | None = None, top: int = TOP_ROWS, sites: list[str] | None = None) -> Report:
    """The report of `site` (None: all sites together) from one stats answer of the report's range
    (`sites`: the sites with data, when the caller read them already)."""
    import time

    tz = SiteZones(reader.store, reader.settings).get(site or reader.settings.only_site)
    start, end = report_range(period, time.time() if now is None else now, tz)
    params = {"from": [str(start)], "to": [str(end)], "compare": ["previous"], "limit": [str(top + 1)],
              "interval": ["hour" if period == "1d" else "day"]}
    if site:
        params["site"] = [site]
    data = reader.answer(params, now=now, sites=sites)
    now_t, before = data["totals"], data["previous_totals"]
    metrics = [
        Metric("Visits", now_t["sessions"], before["sessions"]),
        Metric("Page views", now_t["page_views"], before["page_views"]),
        Metric("Bounce rate", now_t["bounce_rate"], before["bounce_rate"], "rate"),
        Metric("Visit duration", now_t["avg_session_duration"], before["avg_session_duration"], "seconds"),
    ]
    series = [{"t": row["t"], "sessions": row["sessions"], "page_views": row["page_views"]}
              for row in data["timeseries"]]
    goals = [row for row in data["event_types"] if row["event_type"] != PAGE_VIEW][:top]
    return Report(site=site, period=period, start=start, end=end, metrics=metrics, series=series,
                  pages=data["pages"][:top], sources=data["sources"][:top], goals=goals, zone=tz.key)


def build_reports(reader: StatsReader, period: str = DEFAULT_REPORT_PERIOD, site: str | None = None,
                  now: float | None = None, limit: int | None = None) -> list[Report]:
    """One report per site with visits in the range, the most visited first, at most `limit`
    (LIVEINSIGHT_MAX_REPORTS_PER_RUN); or just `site`; all sites together when none has visits yet."""
    import time

    if site:
        return [build_report(reader, period, site, now)]
    now = time.time() if now is None else now
    limit = config.whole_number_env(config.ENV_MAX_REPORTS, config.DEFAULT_MAX_REPORTS, 1, 1000) \
        if limit is None else limit
    start, end = report_range(period, now)
    with_data = top_sites(reader.store, reader.settings, start, end - 1)
    return ([build_report(reader, period, s, now, sites=with_data) for s in with_data[:limit]]
            or [build_report(reader, period, None, now, sites=with_data)])


# -- rendering ---------------------------------------------------------------------------

def _label(ts: int, period: str, zone: str = "UTC") -> str:
    moment = datetime.fromtimestamp(ts, localtime.zone(zone))
    return moment.strftime("%H:00") if period == "1d" else moment.strftime("%a %d")


def _rows(report: Report) -> list[tuple[str, list[tuple[str, str]]]]:
    """The report's tables: (heading, [(label, value)])."""
    tables = [
        ("Top pages", [(row["page"], f"{row['page_views']:,} views") for row in report.pages]),
        ("Top sources", [(row["source"], f"{row['sessions']:,} visits") for row in report.sources]),
    ]
    if report.goals:
        tables.append(("Goals and custom events", [(row["event_type"], f"{row['count']:,}") for row in report.goals]))
    return tables


def render_text(report: Report) -> str:
    """The report as plain text (the CLI's default and the e-mail's text part)."""
    lines = [f"{report.title} · {report.scope} · {report.dates}", ""]
    if report.empty:
        lines.append("No visits in this period or the one before.")
        return "\n".join(lines) + "\n"
    width = max(len(m.name) for m in report.metrics)
    for m in report.metrics:
        lines.append(f"  {m.name:<{width}}  {m.show():>10}  {m.change:>8}   (before: {m.show(m.previous)})")
    peak = max((row["sessions"] for row in report.series), default=0)
    lines += ["", "Visits"]
    for row in report.series:
        bar = "█" * round(row["sessions"] / peak * 30) if peak else ""
        lines.append(f"  {_label(row['t'], report.period, report.zone):>6}  {bar} {row['sessions']:,}")
    for heading, rows in _rows(report):
        lines += ["", heading]
        if not rows:
            lines.append("  (none)")
        label_width = min(max(len(label) for label, _ in rows), 60) if rows else 0
        for label, value in rows:
            lines.append(f"  {_clip(label, 60):<{label_width}}  {value}")
    return "\n".join(lines) + "\n"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_html(report: Report) -> str:
    """The report as an e-mail body: inline styles, tables only, no scripts, no SVG, no images."""
    e = html.escape
    font = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;"
    out = [f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(report.subject)}</title></head>',
           f'<body style="margin:0;padding:0;background:#f9fafb;{font}color:{INK}">',
           '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f9fafb">'
           '<tr><td align="center" style="padding:24px 12px">',
           '<table role="presentation" width="600" cellpadding="0" cellspacing="0" '
           'style="width:600px;max-width:100%;background:#ffffff;border:1px solid #e5e7eb;border-radius:8px">',
           f'<tr><td style="padding:24px 24px 8px 24px"><div style="font-size:13px;color:{MUTED}">LiveInsight · '
           f'{e(report.title)}</div><div style="font-size:22px;font-weight:700;margin-top:4px">{e(report.scope)}</div>'
           f'<div style="font-size:13px;color:{MUTED};margin-top:2px">{e(report.dates)} ({e(report.zone_label)})</div></td></tr>']
    if report.empty:
        out.append(f'<tr><td style="padding:16px 24px 24px 24px;font-size:15px">No visits in this period or the '
                   f'one before.</td></tr>')
    else:
        out.append('<tr><td style="padding:8px 16px"><table role="presentation" width="100%" cellpadding="0" '
                   'cellspacing="0"><tr>')
        for m in report.metrics:
            colour = MUTED if m.improved is None else GOOD if m.improved else BAD
            out.append(f'<td width="25%" style="padding:8px;vertical-align:top"><div style="font-size:12px;'
                       f'color:{MUTED}">{e(m.name)}</div><div style="font-size:22px;font-weight:700">{e(m.show())}'
                       f'</div><div style="font-size:12px;color:{colour}">{e(m.change)} vs {e(m.show(m.previous))}'
                       f'</div></td>')
        out.append('</tr></table></td></tr>')
        out.append(_html_chart(report))
        for heading, rows in _rows(report):
            out.append(f'<tr><td style="padding:12px 24px 0 24px"><div style="font-size:14px;font-weight:700;'
                       f'padding-bottom:4px;border-bottom:1px solid {RULE}">{e(heading)}</div>'
                       '<table role="presentation" width="100%" cellpadding="0" cellspacing="0">')
            if not rows:
                out.append(f'<tr><td style="padding:4px 0;font-size:13px;color:{MUTED}">None</td></tr>')
            for label, value in rows:
                out.append(f'<tr><td style="padding:4px 0;font-size:13px;word-break:break-all">{e(_clip(label, 80))}'
                           f'</td><td align="right" style="padding:4px 0;font-size:13px;white-space:nowrap">'
                           f'{e(value)}</td></tr>')
            out.append('</table></td></tr>')
    out.append(f'<tr><td style="padding:20px 24px 24px 24px;font-size:11px;color:{MUTED}">Changes compare with the '
               f'{REPORT_PERIODS[report.period]} day{"s" if REPORT_PERIODS[report.period] > 1 else ""} before. '
               'Sent by your LiveInsight deployment.</td></tr>')
    out.append('</table></td></tr></table></body></html>')
    return "".join(out)


def _html_chart(report: Report) -> str:
    """Visits per day (per hour for a daily report) as bars: one table cell per bucket, height in px."""
    peak = max((row["sessions"] for row in report.series), default=0)
    cells, labels = [], []
    every = 3 if len(report.series) > 12 else 1
    for i, row in enumerate(report.series):
        height = max(1, round(row["sessions"] / peak * CHART_HEIGHT_PX)) if peak and row["sessions"] else 1
        colour = BAR if row["sessions"] else RULE
        tip = f'{_label(row["t"], report.period, report.zone)}: {row["sessions"]:,} visits'
        cells.append(f'<td valign="bottom" style="padding:0 2px;vertical-align:bottom" title="{html.escape(tip)}">'
                     f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>'
                     f'<td height="{height}" style="height:{height}px;background:{colour};font-size:0;'
                     f'line-height:0">&nbsp;</td></tr></table></td>')
        text = html.escape(_label(row["t"], report.period, report.zone)) if i % every == 0 else ""
        if every == 1:
            text += f'<br><span style="color:{INK}">{row["sessions"]:,}</span>'
        labels.append(f'<td align="center" style="font-size:10px;color:{MUTED};padding-top:4px">{text}</td>')
    return (f'<tr><td style="padding:8px 24px 4px 24px"><div style="font-size:14px;font-weight:700;'
            f'padding-bottom:8px">Visits per {"hour" if report.period == "1d" else "day"}</div>'
            f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="table-layout:fixed">'
            f'<tr style="height:{CHART_HEIGHT_PX}px">{"".join(cells)}</tr><tr>{"".join(labels)}</tr></table></td></tr>')


def render_slack(report: Report) -> dict[str, Any]:
    """The report as a Slack incoming-webhook message (Block Kit, with a plain-text fallback)."""
    s = slack_escape
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": s(f"{report.title} · {report.scope}"[:150])}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": s(f"{report.dates} ({report.zone_label})")}]},
    ]
    if report.empty:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "No visits in this period or the one before."}})
    else:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{s(m.name)}*\n{s(m.show())}  ({s(m.change)})"} for m in report.metrics]})
        peak = max((row["sessions"] for row in report.series), default=0)
        chart = "\n".join(f"{_label(row['t'], report.period, report.zone):>6} {'█' * round(row['sessions'] / peak * 20) if peak else ''}"
                          f" {row['sessions']:,}" for row in report.series)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Visits*\n```{s(chart)}```"}})
        for heading, rows in _rows(report):
            body = "\n".join(f"• {s(_clip(label, 80))} — {s(value)}" for label, value in rows) or "None"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{s(heading)}*\n{body}"[:3000]}})
    return {"text": s(report.subject), "blocks": blocks}  # the fallback (notifications) is mrkdwn too


def render(report: Report, fmt: str) -> str:
    """The report in one of FORMATS, as text (Slack's as its JSON payload)."""
    import json

    if fmt == "text":
        return render_text(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "slack":
        return json.dumps(render_slack(report), ensure_ascii=False, indent=2)
    raise InvalidRequest(f"`format` must be one of {', '.join(FORMATS)}, not {fmt!r}")
