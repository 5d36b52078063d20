"""Scheduled reports and traffic alerts: exact against GET /api/stats, delivered by SES and Slack.

One module-scoped store holds 15 days of demo history up to NOW (yesterday 15:00 UTC);
tests add traffic only after NOW, each in its own hours, so they do not see each other's.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Backend

DAY, HOUR = 86400, 3600
NOW = int(time.time() // DAY * DAY - DAY + 15 * HOUR)  # yesterday, 15:00 UTC
SITE = "shop.example.com"
SENDER = "reports@example.com"


@pytest.fixture(scope="module")
def backend():
    """The Lambda handler over moto with 15 days of demo history (300 visits a day) up to NOW."""
    from moto import mock_aws

    from liveinsight import handler
    from liveinsight.config import Settings
    from liveinsight.local.demo import history
    from liveinsight.local.importer import import_events
    from liveinsight.store import Store, make_client
    from liveinsight.tables import create_tables

    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", "us-east-1"),
                            ("AWS_REGION", "us-east-1")):
            env.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL_DYNAMODB", "LIVEINSIGHT_API_KEY"):
            env.delenv(name, raising=False)
        suffix = uuid.uuid4().hex[:8]
        settings = replace(Settings.from_env(), events_table=f"events-{suffix}",
                           sessions_table=f"sessions-{suffix}", stats_table=f"stats-{suffix}")
        client = make_client(settings)
        create_tables(client, settings)
        store = Store(settings, client, backoff_base=0.001, attempts=2)
        handler.configure(settings, store)
        b = Backend(store)
        report = import_events(enumerate(history(15, 300, NOW, seed=3), 1), store, now=NOW)
        assert report.accepted > 12_000
        b.aggregate()
        yield b
        handler.configure(settings, store)


@pytest.fixture
def reader(backend):
    """A stats reader, with no alert sent yet (each test starts from a site never alerted)."""
    from liveinsight.items.alerts import key
    from liveinsight.query.stats import StatsReader
    from liveinsight.store import serialize

    backend.store.client.delete_item(TableName=backend.store.settings.stats_table, Key=serialize(key(SITE)))
    return StatsReader(backend.store)


def add(backend, events: list[dict]) -> None:
    """Import `events` (all older than NOW + 1 day) and aggregate them."""
    from liveinsight.local.importer import import_events

    report = import_events(enumerate(events, 1), backend.store, now=NOW + DAY)
    assert not report.rejected and report.accepted > 0
    backend.aggregate()


def api_stats(backend, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    status, payload = backend.get(f"/api/stats?{query}")
    assert status == 200, payload
    return payload["data"]


class Slack:
    """A local Slack incoming webhook: records what is posted, answers `status`."""

    def __init__(self):
        self.posts: list[dict] = []
        self.status, self.reason = 200, "ok"
        outer = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
                payload = outer.reason.encode()
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/XXXX"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack():
    hook = Slack()
    yield hook
    hook.close()


def sent_mail() -> list:
    from moto.ses.models import ses_backends

    return list(ses_backends["123456789012"]["us-east-1"].sent_messages)


@pytest.fixture
def verified_sender(backend):
    import boto3

    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity=SENDER)
    return SENDER


# -- reports ------------------------------------------------------------------------------

def test_the_weekly_report_is_exact_against_the_stats_api(backend, reader):
    from liveinsight.reports.report import build_report, report_range

    # WHEN the weekly report of the site is built the morning after NOW
    report = build_report(reader, "7d", SITE, now=NOW + 18 * HOUR)
    start, end = report_range("7d", NOW + 18 * HOUR)
    # THEN it covers the seven whole UTC days before that midnight...
    assert (report.start, report.end) == (start, end) == (NOW // DAY * DAY + DAY - 7 * DAY, NOW // DAY * DAY + DAY)
    # ...and every number is the stats API's for the same range, with the previous week's alongside
    data = api_stats(backend, site=SITE, **{"from": start, "to": end}, interval="day", compare="previous", limit=6)
    values = {m.name: (m.value, m.previous) for m in report.metrics}
    assert values == {
        "Visits": (data["totals"]["sessions"], data["previous_totals"]["sessions"]),
        "Page views": (data["totals"]["page_views"], data["previous_totals"]["page_views"]),
        "Bounce rate": (data["totals"]["bounce_rate"], data["previous_totals"]["bounce_rate"]),
        "Visit duration": (data["totals"]["avg_session_duration"], data["previous_totals"]["avg_session_duration"]),
    }
    assert 1800 < values["Visits"][0] < 2400 and values["Visits"][1] > 1800  # ~300 a day, both weeks
    assert [(d["t"], d["sessions"]) for d in report.series] == [(d["t"], d["sessions"]) for d in data["timeseries"]]
    assert len(report.series) == 7
    assert report.pages == data["pages"][:5] and report.pages[0]["page"] == "/"
    assert report.sources == data["sources"][:5]
    goals = [row for row in data["event_types"] if row["event_type"] != "page_view"]
    assert report.goals == goals[:5] and {"signup", "purchase"} & {g["event_type"] for g in report.goals}


def test_the_daily_report_is_yesterday_by_hour(backend, reader):
    from liveinsight.reports.report import build_report

    report = build_report(reader, "1d", SITE, now=NOW + 18 * HOUR)
    assert report.end - report.start == DAY and len(report.series) == 24
    data = api_stats(backend, site=SITE, **{"from": report.start, "to": report.end}, compare="previous")
    assert report.metrics[0].value == data["totals"]["sessions"] == sum(row["sessions"] for row in report.series)
    assert report.metrics[0].previous == data["previous_totals"]["sessions"]


def test_the_report_renders_for_mail_clients_slack_and_the_terminal(reader):
    from liveinsight.reports.report import build_report, render_html, render_slack, render_text

    report = build_report(reader, "7d", SITE, now=NOW + 18 * HOUR)
    report = replace(report, pages=[{"page": "/<script>alert(1)</script>", "page_views": 7, "sessions": 3},
                                    *report.pages[1:]])
    text, page, payload = render_text(report), render_html(report), render_slack(report)
    visits = report.metrics[0]
    for out in (text, page, json.dumps(payload)):
        assert f"{int(visits.value):,}" in out and visits.change in out.replace("&#x27;", "'")
    # HTML e-mail: inline styles only, nothing a mail client strips or blocks, hostile labels escaped
    lowered = page.lower()
    for banned in ("<script", "<svg", "<img", "<style", "<link", "javascript:", "class="):
        assert banned not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the week as seven bars whose heights follow the daily visits
    heights = [int(h) for h in __import__("re").findall(r'<td height="(\d+)"', page)]
    peak = max(r["sessions"] for r in report.series)
    assert heights == [max(1, round(r["sessions"] / peak * 90)) for r in report.series]
    # Slack: Block Kit with a fallback text, mrkdwn escaped
    assert payload["text"] == report.subject and payload["blocks"][0]["type"] == "header"
    assert "&lt;script&gt;" in json.dumps(payload) and "<script>" not in json.dumps(payload)
    assert "Top pages" in text and "/pricing" in text


def strings(value) -> list[str]:
    """Every string in a JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def test_the_hostile_corpus_is_text_in_every_slack_field_and_in_the_mail(reader):
    from liveinsight.reports.alerts import Check, message
    from liveinsight.reports.report import build_report, render_html, render_slack
    from tests import hostile

    # GIVEN a report and an alert whose site, pages and sources are the corpus (`<!channel>` and friends)
    mention = hostile.SOURCES[1]
    report = replace(build_report(reader, "7d", SITE, now=NOW + 18 * HOUR), site=mention,
                     pages=[{"page": path, "page_views": 9, "sessions": 3} for path in hostile.PATHS[:5]],
                     sources=[{"source": source, "sessions": 2, "page_views": 2} for source in hostile.SOURCES])
    alert = message(Check(site=mention, start=NOW, end=NOW + HOUR, visits=90, events=120, baseline=[10, 12],
                          basis="weeks", state="high"))
    for payload in (render_slack(report), alert.slack):
        # THEN no Slack field, the notification's fallback `text` included, holds a `<`: no mention, no link
        assert [s for s in strings(payload) if "<" in s or ">" in s] == []
        assert "&lt;!channel&gt;" in payload["text"]
    # AND the mails escape it
    for page in (render_html(report), alert.html):
        assert "&lt;!channel&gt;" in page and "<!channel>" not in page
        assert not {"<script", "<img", "<b>"} & {tag for tag in ("<script", "<img", "<b>") if tag in page.lower()}


def test_a_report_of_a_quiet_period_says_so(reader):
    from liveinsight.reports.report import build_report, render_html, render_text

    report = build_report(reader, "7d", "nothing-here.example", now=NOW + 60 * DAY)
    assert report.empty
    assert "No visits in this period" in render_text(report) and "No visits in this period" in render_html(report)


def test_the_scheduled_report_mails_every_recipient_through_ses(backend, verified_sender, monkeypatch):
    import lambda_function

    from liveinsight.reports.report import build_report
    from liveinsight.query.stats import StatsReader

    monkeypatch.setenv("LIVEINSIGHT_REPORT_RECIPIENTS", "ana@example.com,ben@example.com")
    monkeypatch.setenv("LIVEINSIGHT_REPORT_SENDER", verified_sender)
    before = len(sent_mail())
    # WHEN EventBridge invokes the function with the weekly schedule's input
    result = lambda_function.lambda_handler({"liveinsight": "report", "period": "7d"}, None)
    # THEN one mail per site went to both recipients, with the report of the last seven days
    mails = sent_mail()[before:]
    assert len(mails) == 1 and result["sent"] == [f"{SITE}: e-mail to 2 recipient(s)"]
    mail = mails[0]
    assert mail.destinations == {"ToAddresses": ["ana@example.com", "ben@example.com"]}
    expected = build_report(StatsReader(backend.store), "7d", SITE)
    assert mail.subject == expected.subject
    assert f"{int(expected.metrics[0].value):,}" in mail.body and "Visits per day" in mail.body


def test_an_unverified_sender_is_a_clear_failure(backend, monkeypatch):
    from liveinsight.errors import DeliveryFailed
    from liveinsight.reports.notify import Channels, Notifier
    from liveinsight.reports.scheduled import send_reports
    from liveinsight.query.stats import StatsReader

    notifier = Notifier(Channels(recipients=("ana@example.com",), sender="nobody@unverified.example"))
    with pytest.raises(DeliveryFailed, match="SES refused to send from nobody@unverified.example.*verified"):
        send_reports(StatsReader(backend.store), notifier, "7d", SITE)


@pytest.mark.parametrize("store_as", ["secretsmanager", "ssm"])
def test_the_report_posts_to_slack_with_the_webhook_from_a_secret(backend, reader, slack, monkeypatch, store_as):
    import boto3

    import lambda_function

    if store_as == "secretsmanager":
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=f"slack-{uuid.uuid4().hex[:6]}", SecretString=slack.url)["ARN"]
        monkeypatch.setenv("LIVEINSIGHT_SLACK_WEBHOOK_SECRET", arn)
    else:
        name = f"/liveinsight/slack-{uuid.uuid4().hex[:6]}"
        boto3.client("ssm", region_name="us-east-1").put_parameter(Name=name, Value=slack.url, Type="SecureString")
        monkeypatch.setenv("LIVEINSIGHT_SLACK_WEBHOOK_PARAMETER", name)
    monkeypatch.delenv("LIVEINSIGHT_REPORT_RECIPIENTS", raising=False)
    result = lambda_function.lambda_handler({"liveinsight": "report", "period": "7d"}, None)
    assert result["sent"] == [f"{SITE}: Slack message"]
    (post,) = slack.posts
    assert post["path"] == "/services/T000/B000/XXXX" and post["type"] == "application/json"
    from liveinsight.reports.report import build_report, render_slack

    assert post["body"] == render_slack(build_report(reader, "7d", SITE))


def test_a_revoked_webhook_fails_loudly_and_mail_still_goes(backend, verified_sender, slack, monkeypatch):
    import lambda_function

    from liveinsight.errors import DeliveryFailed

    slack.status, slack.reason = 404, "no_service"
    arn = __import__("boto3").client("secretsmanager", region_name="us-east-1").create_secret(
        Name=f"slack-{uuid.uuid4().hex[:6]}", SecretString=slack.url)["ARN"]
    monkeypatch.setenv("LIVEINSIGHT_SLACK_WEBHOOK_SECRET", arn)
    monkeypatch.setenv("LIVEINSIGHT_REPORT_RECIPIENTS", "ana@example.com")
    monkeypatch.setenv("LIVEINSIGHT_REPORT_SENDER", verified_sender)
    before = len(sent_mail())
    with pytest.raises(DeliveryFailed, match=r"Slack: the webhook answered 404 no_service \(the webhook was "
                                             r"removed or revoked.*\(delivered: e-mail to 1 recipient"):
        lambda_function.lambda_handler({"liveinsight": "report", "period": "7d"}, None)
    assert len(sent_mail()) == before + 1 and len(slack.posts) == 1


def test_the_cli_prints_the_report_and_sends_it_on_request(backend, slack, capsys, monkeypatch):
    from liveinsight.cli import main

    monkeypatch.setenv("STATS_TABLE", backend.store.settings.stats_table)
    monkeypatch.setattr("liveinsight.cli.local_store_endpoint", lambda: None)  # not a local stack that runs here
    assert main(["report", "--site", SITE, "--period", "7d"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Weekly report · {SITE} · ") and "Top sources" in out
    assert main(["report", "--format", "html"]) == 0
    assert capsys.readouterr().out.lstrip().startswith("<!DOCTYPE html>")
    assert main(["report", "--format", "slack"]) == 0
    assert json.loads(capsys.readouterr().out)["blocks"]
    monkeypatch.delenv("LIVEINSIGHT_REPORT_RECIPIENTS", raising=False)
    monkeypatch.delenv("LIVEINSIGHT_SLACK_WEBHOOK_SECRET", raising=False)
    assert main(["report", "--send"]) == 1
    assert "no channel is configured: set LIVEINSIGHT_REPORT_RECIPIENTS" in capsys.readouterr().err
    assert main(["report", "--send", "--slack-webhook", slack.url]) == 0
    assert f"sent: {SITE}: Slack message" in capsys.readouterr().out and len(slack.posts) == 1


# -- alerts -------------------------------------------------------------------------------

def _exact(backend, check) -> None:
    """The check's numbers are the stats API's for the same ranges."""
    now_data = api_stats(backend, site=SITE, **{"from": check.start, "to": check.end})
    assert check.visits == now_data["totals"]["sessions"] and check.events == now_data["totals"]["events"]
    step = 7 * DAY if check.basis == "weeks" else DAY
    for k, visits in enumerate(check.baseline, 1):
        past = api_stats(backend, site=SITE, **{"from": check.start - k * step, "to": check.end - k * step})
        assert visits == past["totals"]["sessions"]


def test_a_launch_spike_sends_one_alert(backend, reader, slack):
    from liveinsight.reports.alerts import Thresholds, check, check_sites
    from liveinsight.local.demo import Scenario
    from liveinsight.reports.notify import Channels, Notifier

    # GIVEN a launch (demo --scenario launch) from NOW + 5 h, at the history's usual rate
    launch = NOW + 5 * HOUR
    add(backend, Scenario("launch", rate=300 * 3.2 / DAY, seed=5).play(launch, HOUR))
    notifier = Notifier(Channels(slack_url=slack.url))
    # WHEN the alert check runs an hour into it
    (outcome,) = check_sites(reader, notifier, now=launch + HOUR, site=SITE)
    # THEN it is a spike against the same hour of the past two weeks, exact against the stats API
    c = outcome.check
    assert c.state == "high" and c.basis == "weeks" and len(c.baseline) == 2
    assert c.visits >= 3 * c.expected
    _exact(backend, c)
    # (comparing two weeks back only, the site's first day still lies outside the windows)
    two_weeks = check(reader, SITE, launch + HOUR, Thresholds(weeks=2))
    assert (two_weeks.basis, two_weeks.baseline) == ("weeks", c.baseline)
    assert outcome.sent and len(slack.posts) == 1
    assert slack.posts[0]["body"]["text"] == f"Traffic spike on {SITE}: {c.visits} visits in the last hour (usually {c.expected:g})"
    # AND the next checks send nothing more, while it lasts and as it fades
    (still,) = check_sites(reader, notifier, now=launch + HOUR + 60, site=SITE)
    assert still.check.state == "high" and not still.sent
    for minutes in (15, 30, 45):
        (later,) = check_sites(reader, notifier, now=launch + HOUR + minutes * 60, site=SITE)
        assert not later.sent
    assert len(slack.posts) == 1
    # AND past the cool-down a spike that is still going is reported again
    (again,) = check_sites(reader, notifier, now=launch + HOUR + 120, site=SITE,
                           thresholds=Thresholds(cooldown_hours=0.01))
    assert again.check.state == "high" and again.sent and len(slack.posts) == 2


def test_a_site_that_stops_sending_gets_a_silence_alert(backend, reader, slack, verified_sender):
    from liveinsight.reports.alerts import check_sites
    from liveinsight.reports.notify import Channels, Notifier

    # GIVEN no events at all after NOW (the tracker fell off the site)
    notifier = Notifier(Channels(recipients=("ops@example.com",), sender=verified_sender, slack_url=slack.url))
    before = len(sent_mail())
    (outcome,) = check_sites(reader, notifier, now=NOW + 2 * HOUR, site=SITE)
    c = outcome.check
    assert c.state == "silent" and c.visits == 0 and c.events == 0 and c.expected >= 10
    _exact(backend, c)
    mails = sent_mail()[before:]
    assert len(mails) == 1 and mails[0].subject == f"LiveInsight alert: No events from {SITE} in the last hour"
    assert "Check that the tracker script is still on the site" in mails[0].body
    assert slack.posts[-1]["body"]["text"] == f"No events from {SITE} in the last hour"


def test_ordinary_traffic_sends_nothing(backend, reader, slack):
    from liveinsight.reports.alerts import check_sites
    from liveinsight.reports.notify import Channels, Notifier

    (outcome,) = check_sites(reader, Notifier(Channels(slack_url=slack.url)), now=NOW - 60, site=SITE)
    assert outcome.check.state == "normal" and not outcome.sent and slack.posts == []
    _exact(backend, outcome.check)


def test_a_failed_delivery_is_retried_by_the_next_check(backend, reader, slack):
    from liveinsight.reports.alerts import check_sites
    from liveinsight.reports.notify import Channels, Notifier

    notifier = Notifier(Channels(slack_url=slack.url))
    slack.status, slack.reason = 500, "rollup_error"
    silent_at = NOW + 3 * HOUR + 7 * 60
    (first,) = check_sites(reader, notifier, now=silent_at, site="other.example")  # no data: unknown
    assert first.check.state == "unknown" and not first.sent
    (failed,) = check_sites(reader, notifier, now=silent_at, site=SITE)
    assert failed.check.state == "silent" and not failed.sent and "answered 500 rollup_error" in failed.error
    slack.status, slack.reason = 200, "ok"
    (retried,) = check_sites(reader, notifier, now=silent_at + 15 * 60, site=SITE)
    assert retried.sent and len(slack.posts) == 2


def test_the_cool_down_rules():
    from liveinsight.reports.alerts import Check, Thresholds, decide
    from liveinsight.items.alerts import AlertState

    t = Thresholds(cooldown_hours=6)

    def verdict(state):
        return Check(SITE, 0, 3600, 0, 0, [20], "weeks", state)

    s, send = decide(AlertState(), verdict("high"), 1000, t)
    assert send and (s.state, s.sent, s.sent_at) == ("high", "high", 1000)
    s, send = decide(s, verdict("normal"), 2000, t)  # the spike ends...
    assert not send and s.state == "normal"
    s, send = decide(s, verdict("high"), 3000, t)  # ...and flares up again within the cool-down: no second message
    assert not send
    s, send = decide(s, verdict("silent"), 4000, t)  # a different kind of alert is news
    assert send and s.sent == "silent"
    s, send = decide(s, verdict("low"), 5000, t)  # low and silent are one kind
    assert not send
    s, send = decide(s, verdict("unknown"), 6000, t)  # no verdict keeps the state
    assert not send and s.state == "low"
    s, send = decide(s, verdict("low"), 4000 + 6 * 3600, t)
    assert send


def test_the_scheduled_alert_check_runs_through_the_handler(backend, slack, monkeypatch):
    import lambda_function

    arn = __import__("boto3").client("secretsmanager", region_name="us-east-1").create_secret(
        Name=f"slack-{uuid.uuid4().hex[:6]}", SecretString=slack.url)["ARN"]
    monkeypatch.setenv("LIVEINSIGHT_SLACK_WEBHOOK_SECRET", arn)
    monkeypatch.setenv("LIVEINSIGHT_ALERT_MIN_VISITS", "5")
    result = lambda_function.lambda_handler({"liveinsight": "alerts"}, None)
    assert result["job"] == "alerts" and len(result["checked"]) == 1 and result["checked"][0].startswith(SITE)
    monkeypatch.setenv("LIVEINSIGHT_ALERT_HIGH_RATIO", "lots")
    with pytest.raises(ValueError, match="LIVEINSIGHT_ALERT_HIGH_RATIO must be a number from 1.1 to 1000, not 'lots'"):
        lambda_function.lambda_handler({"liveinsight": "alerts"}, None)


@pytest.mark.parametrize("job", [{"liveinsight": "report", "period": "7d"}, {"liveinsight": "alerts"}],
                         ids=["weekly-report", "alert-check"])
def test_with_no_channel_configured_a_scheduled_job_is_a_quiet_no_op(backend, monkeypatch, job):
    import lambda_function

    # GIVEN the template's defaults: no recipients, no sender, no webhook (empty variables)
    for name in ("LIVEINSIGHT_REPORT_RECIPIENTS", "LIVEINSIGHT_REPORT_SENDER", "LIVEINSIGHT_SLACK_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "")
    monkeypatch.delenv("LIVEINSIGHT_SLACK_WEBHOOK_PARAMETER", raising=False)
    monkeypatch.setenv("LIVEINSIGHT_ALERT_MIN_VISITS", "1")
    before = len(sent_mail())
    # WHEN the schedule invokes the function
    result = lambda_function.lambda_handler(job, None)
    # THEN it succeeds (no error for the Errors alarm, nothing for Lambda to retry), sends nothing and says why
    assert result["sent"] == [] and result["skipped"].startswith("no channel is configured")
    assert len(sent_mail()) == before
