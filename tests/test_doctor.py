"""`python -m liveinsight doctor` against the local stack: healthy, then with each documented misconfiguration.

One local stack (embedded store, gateway, stream poller) in this process, with an API key
and one allowed origin; each test runs the command as a user would and reads its report.
"""
from __future__ import annotations

import json
import socket
import urllib.request

import pytest

KEY = "k-doctor-0123456789abcdef"
ORIGIN = "https://shop.example.com"


@pytest.fixture(scope="module")
def stack():
    from liveinsight.local.server import LocalStack

    with pytest.MonkeyPatch.context() as env:
        for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                            ("AWS_DEFAULT_REGION", "us-east-1"), ("LIVEINSIGHT_ALLOWED_ORIGINS", ORIGIN)):
            env.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL_DYNAMODB", "LIVEINSIGHT_SITES", "LIVEINSIGHT_API_KEY",
                     "LIVEINSIGHT_SHARE_SECRET", "LIVEINSIGHT_SHARE_SECRET_ARN"):
            env.delenv(name, raising=False)
        local = LocalStack(port=0, api_key=KEY).start()
        local.start_in_thread()
        try:
            yield local
        finally:
            local.stop()


def doctor(capsys, *args: str) -> tuple[int, str]:
    from liveinsight.cli import main

    capsys.readouterr()
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def line(report: str, name: str) -> str:
    """The report's line for the check `name` (with its fix line, if any)."""
    lines = report.splitlines()
    for i, text in enumerate(lines):
        if f"  {name}: " in text:
            fix = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].lstrip().startswith("fix:") else ""
            return f"{text}\n{fix}"
    raise AssertionError(f"no {name!r} check in:\n{report}")


def test_a_healthy_stack_passes_every_check(stack, capsys):
    code, report = doctor(capsys, "--api", stack.url, "--key", KEY, "--origin", ORIGIN)
    assert code == 0, report
    for name in ("CORS preflight", "API key", "clock", "SDK", "test event", "aggregation", "share links", "tracker"):
        assert line(report, name).lstrip().startswith("ok"), report
    assert "reached /api/stats" in line(report, "aggregation")
    assert "The deployment works end to end." in report


def test_the_test_event_never_becomes_a_site(stack, capsys):
    from liveinsight.config import DOCTOR_SITE

    doctor(capsys, "--api", stack.url, "--key", KEY, "--origin", ORIGIN)
    request = urllib.request.Request(f"{stack.url}/api/stats?period=1h", headers={"X-API-Key": KEY})
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.load(response)["data"]
    # no report, alert or site list shows the doctor's site; its own rollups still count it
    assert DOCTOR_SITE not in data["sites"]
    assert data["totals"]["page_views"] == 0


def test_a_site_origin_the_api_does_not_allow_is_named_with_the_fix(stack, capsys):
    code, report = doctor(capsys, "--api", stack.url, "--key", KEY, "--origin", "https://www.other.example")
    assert code == 1
    cors = line(report, "CORS preflight")
    assert cors.lstrip().startswith("FAIL") and "does not allow the origin https://www.other.example" in cors
    assert "fix: add https://www.other.example to AllowedOrigins" in cors


def test_a_missing_key_is_named_with_the_fix(stack, capsys):
    code, report = doctor(capsys, "--api", stack.url, "--origin", ORIGIN)
    assert code == 1
    key = line(report, "API key")
    assert key.lstrip().startswith("FAIL") and "the read routes need the API key" in key and "pass --key" in key
    # what needs the key is said to be unchecked, not reported as broken
    assert line(report, "aggregation").lstrip().startswith("warn")
    assert line(report, "test event").lstrip().startswith("ok")


def test_a_wrong_key_is_named(stack, capsys):
    code, report = doctor(capsys, "--api", stack.url, "--key", "not-the-key-0123456789", "--origin", ORIGIN)
    assert code == 1 and "the API refused the key given" in line(report, "API key")


@pytest.mark.parametrize("suffix", ["/api/events", "/api"], ids=["route", "api-prefix"])
def test_a_route_instead_of_the_base_url_is_named(stack, capsys, suffix):
    code, report = doctor(capsys, "--api", stack.url + suffix, "--key", KEY)
    assert code == 1 and "ends in a route" in line(report, "API URL") and "ApiUrl output" in report


def test_an_api_that_does_not_answer_is_named(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    code, report = doctor(capsys, "--api", f"http://127.0.0.1:{closed}", "--key", KEY)
    assert code == 1 and line(report, "API reachable").lstrip().startswith("FAIL")


def test_a_tracker_missing_from_its_url_is_named(stack, capsys):
    code, report = doctor(capsys, "--api", stack.url, "--key", KEY, "--origin", ORIGIN,
                          "--tracker", f"{stack.url}/js/liveinsight.js")
    tracker = line(report, "tracker")
    assert code == 1 and tracker.lstrip().startswith("FAIL") and "answered 404" in tracker
    assert "upload liveinsight/static/tracker.js" in tracker


def test_a_tracker_address_that_does_not_answer_is_named_as_the_tracker(stack, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    code, report = doctor(capsys, "--api", stack.url, "--key", KEY, "--origin", ORIGIN,
                          "--tracker", f"http://127.0.0.1:{closed}/js/liveinsight.js")
    tracker = line(report, "tracker")
    assert code == 1 and "the tracker's address did not answer" in tracker and "check --tracker" in tracker
    assert "API reachable" not in report


def test_an_sdk_older_than_the_oldest_tested_fails():
    from liveinsight.doctor import FAIL, OK, Doctor, oldest_tested_sdk

    assert oldest_tested_sdk() == (1, 29, 90)
    checks = Doctor(api="http://x")
    checks.check_sdk("boto3/1.20.0 botocore/1.23.0")
    checks.check_sdk("boto3/1.26.90 botocore/1.29.90")
    assert [c.status for c in checks.checks] == [FAIL, OK]
    assert "older than the oldest tested (botocore 1.29.90)" in checks.checks[0].summary


def test_a_stopped_aggregator_is_named_with_the_fix(stack, capsys):
    # GIVEN the stream aggregator stopped (last test of the module: the stack stays this way)
    for poller in stack.pollers:
        poller.stop()
    for poller in stack.pollers:
        poller.join(timeout=10)
    # WHEN doctor runs
    code, report = doctor(capsys, "--api", stack.url, "--key", KEY, "--origin", ORIGIN, "--wait", "4")
    # THEN the event is accepted, and its never reaching the rollups is named, with where to look
    assert code == 1
    assert line(report, "test event").lstrip().startswith("ok")
    aggregation = line(report, "aggregation")
    assert aggregation.lstrip().startswith("FAIL") and "did not reach /api/stats within 4 s" in aggregation
    assert "list-event-source-mappings" in aggregation and "1 problem(s) found." in report
