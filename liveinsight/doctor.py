"""`python -m liveinsight doctor`: check a live deployment end to end, and say what is wrong and how to fix it.

It talks to the API only over HTTP, as a browser, the tracker and the dashboard do:

- the CORS preflight a browser sends before a `fetch` of events from your site's origin;
- the read key on `GET /api/realtime`, the server's clock, and the SDK the functions run on;
- a test event: a page view from a user agent that names itself a bot, so the collector
  accepts it as *filtered* and no site's visits ever count it;
- that event reaching the rollups: `/api/stats` counts it in `bots_filtered` once the
  stream aggregator has applied it (a stopped or failing aggregator never does);
- share links: one signed with a key the deployment does not have must be refused as
  altered, which the read function can only say after reading its share secret;
- the tracker script at the URL your pages load.

Not part of the Lambda zip (package.COMMAND_LINE_MODULES).
"""
from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import config, share

DOCTOR_USER_AGENT = "LiveInsight-Doctor/1.0 (+https://liveinsight.invalid/doctor; test event, filtered as a bot)"
DEFAULT_SITE = config.DOCTOR_SITE
PROBE_ORIGIN = "https://liveinsight-doctor.invalid"
# The rollup consumer's batching window (60 s by default) plus an aggregator run, with room to spare.
DEFAULT_WAIT_SECONDS = 90
POLL_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 15
# A clock further off than this is reported; events are accepted up to 5 minutes ahead.
CLOCK_WARN_SECONDS = 30
CLOCK_FAIL_SECONDS = 300
OLDEST_SDK_FILE = Path(__file__).resolve().parent.parent / "requirements-lambda-oldest.txt"
SDK_HEADER = "x-liveinsight-sdk"

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Check:
    """One finding: what was checked, how it went, and (when not ok) what to do."""

    name: str
    status: str
    summary: str
    fix: str = ""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def message(self) -> str:
        """The error envelope's message, or the start of the body."""
        payload = self.json()
        if isinstance(payload, dict) and isinstance(payload.get("message"), str):
            return payload["message"]
        return self.body[:200].decode("utf-8", "replace").strip() or f"HTTP {self.status}"


class Unreachable(Exception):
    """The API did not answer at all (DNS, refused connection, TLS, timeout)."""


def http_request(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None,
                 timeout: float = REQUEST_TIMEOUT_SECONDS) -> Reply:
    """One HTTP request; any answer (2xx to 5xx) is a Reply, no answer is Unreachable."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(f"{method} {url}: {reason}") from error


def token_of(link: str) -> str:
    """The token of a share link (`...?share=TOKEN&...`), or the text itself when it is a bare token."""
    found = parse_qs(urlsplit(link.strip()).query).get(share.PARAM)
    return found[0] if found else link.strip()


def oldest_tested_sdk(path: Path = OLDEST_SDK_FILE) -> tuple[int, ...] | None:
    """The botocore version of requirements-lambda-oldest.txt, as a comparable tuple."""
    if not path.is_file():
        return None
    match = re.search(r"^botocore==([\d.]+)", path.read_text(encoding="utf-8"), re.M)
    return version_tuple(match.group(1)) if match else None


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@dataclass
class Doctor:
    """Runs the checks against one API base URL.

    Parameters
    ----------
    api: the API base URL (the stack's ApiUrl output; `http://127.0.0.1:8000` for the local stack).
    key: the read key (ApiKeyValue), or None to check what a reader without one gets.
    origin: your site's origin, for the CORS check (default: a probe origin, checked only against `*`).
    site: the host the test event is for (one of LIVEINSIGHT_SITES when the deployment limits sites).
    tracker: the URL your pages load the tracker from (default: `{api}/tracker.js`, served only locally).
    share_link: a share link (or its token) to check it opens.
    wait: seconds to wait for the test event to reach the rollups.
    """

    api: str
    key: str | None = None
    origin: str | None = None
    site: str = DEFAULT_SITE
    tracker: str | None = None
    share_link: str | None = None
    wait: float = DEFAULT_WAIT_SECONDS
    request: Callable[..., Reply] = http_request
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    checks: list[Check] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.api = self.api.rstrip("/")

    def add(self, name: str, status: str, summary: str, fix: str = "") -> Check:
        check = Check(name, status, summary, fix)
        self.checks.append(check)
        return check

    def get(self, path: str, keyed: bool = True) -> Reply:
        headers = {"Accept": "application/json"}
        if keyed and self.key:
            headers["X-API-Key"] = self.key
        return self.request("GET", f"{self.api}{path}", headers)

    def run(self) -> list[Check]:
        """Every check, in the order a deployment is used; stops early only when the API is unreachable."""
        if not self.check_url():
            return self.checks
        try:
            self.check_cors()
            readable = self.check_read_key()
            self.check_event(readable)
            self.check_share()
            self.check_tracker()
        except Unreachable as error:
            self.add("API reachable", FAIL, f"the API did not answer: {error}",
                     "check --api (the stack's ApiUrl output) and your network; on AWS, that the stage is deployed")
        return self.checks

    # -- the checks ---------------------------------------------------------------------

    def check_url(self) -> bool:
        if not re.match(r"^https?://[^/\s]+", self.api):
            self.add("API URL", FAIL, f"{self.api!r} is not an http(s) URL",
                     "pass the API base URL: the stack's ApiUrl output, "
                     "https://<api-id>.execute-api.<region>.amazonaws.com/<stage>")
            return False
        if re.search(r"/api(/(events|realtime|stats))?$", self.api):
            self.add("API URL", FAIL, f"{self.api} ends in a route",
                     "pass the base URL without /api/...: the stack's ApiUrl output")
            return False
        return True

    def check_cors(self) -> None:
        origin = self.origin or PROBE_ORIGIN
        reply = self.request("OPTIONS", f"{self.api}/api/events", {
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        allowed = reply.headers.get("access-control-allow-origin")
        methods = reply.headers.get("access-control-allow-methods", "")
        if reply.status >= 500:
            self.add("CORS preflight", FAIL, f"OPTIONS /api/events answered {reply.status}: {reply.message()}",
                     "OPTIONS must reach the function (each path has an OPTIONS method to it in the template); "
                     "see the collector's log")
        elif reply.status == 403 or reply.status == 404:
            self.add("CORS preflight", FAIL, f"OPTIONS /api/events answered {reply.status}: {reply.message()}",
                     "the URL is not a LiveInsight API, or its stage lacks the OPTIONS routes: "
                     "check --api against the stack's ApiUrl output")
        elif allowed not in ("*", origin):
            if self.origin:
                self.add("CORS preflight", FAIL,
                         f"the API does not allow the origin {origin} "
                         f"(Access-Control-Allow-Origin: {allowed or 'absent'}); browsers there cannot send events "
                         "with fetch or read the API",
                         f"add {origin} to AllowedOrigins (sam deploy --parameter-overrides "
                         f"AllowedOrigins=...) or to LIVEINSIGHT_ALLOWED_ORIGINS on every function")
            else:
                self.add("CORS preflight", WARN, "the API allows only listed origins, and no --origin was given",
                         "pass --origin https://your-site to check that your site's origin is allowed")
        elif "POST" not in methods.upper():
            self.add("CORS preflight", FAIL, f"the preflight does not allow POST (Allow-Methods: {methods or 'absent'})",
                     "deploy the current zip: the functions answer OPTIONS with GET,POST,OPTIONS")
        else:
            self.add("CORS preflight", OK, f"{origin} may POST events ({reply.status}, Allow-Origin: {allowed})")

    def check_read_key(self) -> bool:
        """The read key, the clock and the SDK, from one keyed GET /api/realtime; True when reads work."""
        sent = self.clock()
        reply = self.get(f"/api/realtime?window=5&site={self.site}")
        received = self.clock()
        if reply.status == 401 and not self.key:
            self.add("API key", FAIL, f"the read routes need the API key: {reply.message()}",
                     "pass --key with the ApiKeyValue the stack was deployed with (the dashboard's "
                     "LIVEINSIGHT_API_KEY)")
            return False
        if reply.status == 401:
            self.add("API key", FAIL, f"the API refused the key given: {reply.message()}",
                     "pass the key the read functions have (LIVEINSIGHT_API_KEY; the stack's ApiKeyValue "
                     "parameter); after changing it, redeploy")
            return False
        if reply.status == 400:
            self.add("API key", FAIL, f"GET /api/realtime refused the check's query: {reply.message()}",
                     "if the deployment limits sites (LIVEINSIGHT_SITES), pass --site with one of them")
            return False
        if reply.status != 200:
            self.add("API key", FAIL, f"GET /api/realtime answered {reply.status}: {reply.message()}",
                     "see the realtime function's log (sam logs, or CloudWatch /aws/lambda/liveinsight-realtime-api-*)")
            return False
        if self.key:
            self.add("API key", OK, "the read routes answer with the key")
        else:
            self.add("API key", WARN, "the read routes answer without a key (no LIVEINSIGHT_API_KEY: anyone may read)",
                     "set ApiKeyValue (locally: serve --api-key) so only the dashboard can read")
        data = (reply.json() or {}).get("data") or {}
        self.check_clock(data.get("generated_at"), sent, received)
        self.check_sdk(reply.headers.get(SDK_HEADER))
        return True

    def check_clock(self, server_time: Any, sent: float, received: float) -> None:
        if not isinstance(server_time, (int, float)):
            self.add("clock", WARN, "the realtime answer carries no generated_at", "deploy the current zip")
            return
        skew = server_time - (sent + received) / 2
        summary = f"this machine's clock is {abs(skew):.1f} s {'behind' if skew > 0 else 'ahead of'} the API's"
        if abs(skew) > CLOCK_FAIL_SECONDS:
            self.add("clock", FAIL, summary + "; events are accepted only up to 5 minutes ahead and 24 h back",
                     "synchronise this machine's clock (NTP); the functions run on AWS's clock")
        elif abs(skew) > CLOCK_WARN_SECONDS:
            self.add("clock", WARN, summary, "synchronise this machine's clock (NTP)")
        else:
            self.add("clock", OK, summary + f" (within {CLOCK_WARN_SECONDS} s)")

    def check_sdk(self, header: str | None) -> None:
        if not header:
            self.add("SDK", WARN, "the functions did not say which boto3/botocore they run on",
                     "deploy the current zip (python -m liveinsight package), which reports it to key holders")
            return
        versions = dict(part.split("/", 1) for part in header.split() if "/" in part)
        oldest = oldest_tested_sdk()
        botocore = versions.get("botocore", "")
        summary = f"the functions run on {header}"
        if oldest and botocore and version_tuple(botocore) < oldest:
            self.add("SDK", FAIL, summary + f", older than the oldest tested (botocore {'.'.join(map(str, oldest))})",
                     "move the functions to a current python3.11 runtime version (Lambda's runtime management "
                     "controls: Auto), or test and lower requirements-lambda-oldest.txt")
        else:
            tested = f" (tested from botocore {'.'.join(map(str, oldest))} up)" if oldest else ""
            self.add("SDK", OK, summary + tested)

    def check_event(self, readable: bool) -> None:
        run = secrets.token_hex(6)
        baseline = self.bots_filtered() if readable else None
        body = json.dumps({"event_type": "page_view", "page_url": f"https://{self.site}/liveinsight-doctor",
                           "session_id": f"doctor-{run}", "event_id": f"doctor-{run}",
                           "timestamp": round(self.clock(), 3)}).encode()
        headers = {"Content-Type": "application/json", "User-Agent": DOCTOR_USER_AGENT,
                   "Origin": self.origin or PROBE_ORIGIN}
        reply = self.request("POST", f"{self.api}/api/events", headers, body)
        data = (reply.json() or {}).get("data") if reply.status == 200 else None
        if reply.status == 503:
            self.add("test event", FAIL, f"the collector could not store the test event: {reply.message()}",
                     "DynamoDB refused the write: look at the throttling alarms of the events table and the "
                     "collector's log")
            return
        if reply.status != 200 or not isinstance(data, dict):
            self.add("test event", FAIL, f"POST /api/events answered {reply.status}: {reply.message()}",
                     "see the collector's log (CloudWatch /aws/lambda/liveinsight-event-collector-*)")
            return
        if data.get("filtered") != 1:
            self.add("test event", FAIL, f"the test event was not filtered as a test (answer: {json.dumps(data)})",
                     "if it was counted, deploy the current zip (bot filtering); if the site is not allowed "
                     "(LIVEINSIGHT_SITES), pass --site with one of the deployment's sites")
            return
        self.add("test event", OK, "accepted and filtered as a test (a bot's page view: no site counts it)")
        if not readable:
            self.add("aggregation", WARN, "not checked: it reads /api/stats, which needs the read key",
                     "pass --key to check that events reach the rollups")
        elif isinstance(baseline, Reply):
            self.add("aggregation", FAIL, f"GET /api/stats answered {baseline.status}: {baseline.message()}",
                     "see the stats function's log (CloudWatch /aws/lambda/liveinsight-stats-api-*)")
        else:
            self.check_aggregation(baseline)

    def bots_filtered(self) -> int | Reply:
        """The doctor site's `bots_filtered` over the last hour, or the Reply that did not give it."""
        reply = self.get(f"/api/stats?period=1h&site={self.site}")
        data = (reply.json() or {}).get("data") if reply.status == 200 else None
        return int(data.get("bots_filtered", 0)) if isinstance(data, dict) else reply

    def check_aggregation(self, baseline: int) -> None:
        started = self.clock()
        while True:
            now = self.bots_filtered()
            if isinstance(now, int) and now > baseline:
                self.add("aggregation", OK, f"the test event reached /api/stats after {self.clock() - started:.0f} s "
                         "(stream -> aggregator -> rollups)")
                return
            if self.clock() - started >= self.wait:
                break
            self.sleep(POLL_SECONDS)
        self.add("aggregation", FAIL,
                 f"the test event was stored but did not reach /api/stats within {self.wait:.0f} s: the stream "
                 "aggregator is stopped, failing or far behind",
                 "check that the events table's stream is on and its event source mapping is Enabled "
                 "(aws lambda list-event-source-mappings --function-name liveinsight-stream-aggregator-<stage>), "
                 "the aggregator's log, its IteratorAge and batch-failure alarms, and the failure queue; "
                 "locally, that `serve` is running its stream poller")

    def check_share(self) -> None:
        if self.share_link:
            reply = self.get(f"/api/stats?{urlencode({share.PARAM: token_of(self.share_link)})}", keyed=False)
            if reply.status == 200:
                self.add("share link", OK, "the share link given opens its view")
            else:
                self.add("share link", FAIL, f"the share link given was refused ({reply.status}): {reply.message()}",
                         "mint a new one with python -m liveinsight share --secret-arn <ShareSecretArn>")
            return
        forged = share.mint(secrets.token_hex(32), self.site, self.clock() + 600)
        reply = self.get(f"/api/stats?{share.PARAM}={forged}", keyed=False)
        message = reply.message()
        if reply.status == 401 and "invalid share link" in message:
            self.add("share links", OK, "enabled: the read functions read their share secret and refuse a forged link")
        elif reply.status == 401 and "not enabled" in message:
            self.add("share links", WARN, f"share links are off: {message}",
                     "on AWS the template sets LIVEINSIGHT_SHARE_SECRET_ARN; set it (and GetSecretValue) on the "
                     "read functions to use share links")
        else:
            self.add("share links", FAIL, f"a forged share link got {reply.status}: {message}",
                     "the read functions could not check it: they need secretsmanager:GetSecretValue on the "
                     "share secret (LIVEINSIGHT_SHARE_SECRET_ARN); see their log")

    def check_tracker(self) -> None:
        url = self.tracker or f"{self.api}/tracker.js"
        try:
            reply = self.request("GET", url, {"Accept": "application/javascript"})
        except Unreachable as error:
            self.add("tracker", FAIL, f"the tracker's address did not answer: {error}",
                     "check --tracker: the URL in your pages' <script src=...>")
            return
        kind = reply.headers.get("content-type", "")
        if reply.status != 200:
            fix = ("host liveinsight/static/tracker.js with your site (docs/deploy.md, step 4) and pass its URL "
                   "with --tracker; API Gateway does not serve /tracker.js") if not self.tracker else \
                  "upload liveinsight/static/tracker.js to that address (docs/deploy.md, step 4)"
            self.add("tracker", WARN if not self.tracker else FAIL, f"GET {url} answered {reply.status}", fix)
        elif "javascript" not in kind and "ecmascript" not in kind:
            self.add("tracker", FAIL, f"{url} is served as {kind or 'no content type'}; browsers will not run it",
                     'upload it with --content-type "application/javascript"')
        elif b"/api/events" not in reply.body:
            self.add("tracker", FAIL, f"{url} does not look like the LiveInsight tracker",
                     "upload liveinsight/static/tracker.js to that address")
        else:
            self.add("tracker", OK, f"{url} serves the tracker ({len(reply.body)} bytes, {kind})")


def render(api: str, checks: Sequence[Check]) -> str:
    """The report a person reads: one line per check, the fix under each problem, a verdict."""
    lines = [f"LiveInsight doctor: {api}"]
    for check in checks:
        lines.append(f"  {check.status:<4}  {check.name}: {check.summary}")
        if check.fix and check.status != OK:
            lines.append(f"        fix: {check.fix}")
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == WARN for c in checks)
    if failed:
        lines.append(f"{failed} problem(s) found" + (f", {warned} warning(s)" if warned else "") + ".")
    else:
        lines.append("The deployment works end to end" + (f" ({warned} warning(s))" if warned else "") + ".")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `doctor` command's options to `parser`."""
    parser.add_argument("--api", required=True, metavar="URL",
                        help="the API base URL (the stack's ApiUrl output; http://127.0.0.1:8000 locally)")
    parser.add_argument("--key", metavar="KEY", help="the read key (ApiKeyValue); without it, what a reader "
                                                     "without a key gets is checked")
    parser.add_argument("--origin", metavar="ORIGIN", help="your site's origin for the CORS check, "
                                                           "e.g. https://www.example.com")
    parser.add_argument("--site", default=DEFAULT_SITE, metavar="HOST",
                        help=f"host of the test event (default {DEFAULT_SITE}; one of LIVEINSIGHT_SITES if set)")
    parser.add_argument("--tracker", metavar="URL", help="the tracker URL your pages load (default: {api}/tracker.js, "
                                                         "which only the local stack serves)")
    parser.add_argument("--share-link", metavar="LINK", help="a share link (or its token) to check it opens")
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT_SECONDS, metavar="SECONDS",
                        help=f"how long the test event may take to reach /api/stats (default {DEFAULT_WAIT_SECONDS})")


def run(args: argparse.Namespace) -> int:
    """Run every check and print the report; exit code 1 when something is wrong."""
    doctor = Doctor(api=args.api, key=args.key, origin=args.origin, site=args.site, tracker=args.tracker,
                    share_link=args.share_link, wait=args.wait)
    checks = doctor.run()
    print(render(doctor.api, checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liveinsight doctor", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
