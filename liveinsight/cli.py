"""`python -m liveinsight`: the command line of the local stack and its tools."""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

from . import config

ROOT = Path(__file__).resolve().parent.parent
STACK_FILE_NAME = "liveinsight-local-stack.json"
LOCAL_STACK_FILE: Path | None = None  # where the stack file is; None: in runtime_dir()
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:8501"


def runtime_dir() -> Path:
    """A directory only this user can use: $XDG_RUNTIME_DIR, else <tmp>/liveinsight-<uid>, created 0700.

    The stack file holds the local share secret; in a shared /tmp another user could plant a
    link or a file of their own under a fixed name. Raises OSError naming a directory that
    exists but is not this user's alone.
    """
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and _private_dir(Path(xdg)):
        return Path(xdg)
    path = Path(tempfile.gettempdir()) / f"liveinsight-{os.getuid()}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    if not _private_dir(path):
        raise OSError(f"{path} exists but is not a directory only you can use (owner, mode 0700, not a link); "
                      "remove it, or set XDG_RUNTIME_DIR")
    return path


def _private_dir(path: Path) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def stack_file() -> Path:
    return LOCAL_STACK_FILE or runtime_dir() / STACK_FILE_NAME


def local_stack() -> dict:
    """What a running local stack (`serve` / `up`) recorded: api, dynamodb_endpoint, share_secret,
    origin_secret (what its collector trusts CDN viewer headers with), dashboard.

    The file is read without following a link and only if this user owns it."""
    try:
        fd = os.open(stack_file(), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {}
    with os.fdopen(fd) as source:
        if os.fstat(source.fileno()).st_uid != os.getuid():
            return {}
        try:
            recorded = json.loads(source.read())
        except ValueError:
            return {}
    return recorded if isinstance(recorded, dict) else {}


def local_store_endpoint() -> str | None:
    """The embedded store of a running local stack (`serve` / `up` record it), if any."""
    return local_stack().get("dynamodb_endpoint")


def _write_stack_file(recorded: dict) -> None:
    # The file holds the local stack's share secret: readable by its owner only, never through a link.
    try:
        path = stack_file()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        print(f"liveinsight: not recording the running stack ({exc}); `share` and `import` will need "
              "--dynamodb-endpoint and the secret", file=sys.stderr)
        return
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(recorded, out)


def _stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so `kill` stops every child as cleanly."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _serve(args: argparse.Namespace) -> int:
    from .local.server import LocalStack

    stack = LocalStack(host=args.host, port=args.port, dynamodb_endpoint=args.dynamodb_endpoint,
                       api_key=args.api_key)
    try:
        stack.start()
    except OSError as exc:
        print(f"liveinsight: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
              "choose another port with --port", file=sys.stderr)
        return 2
    _stop_on_sigterm()
    _record_stack(stack)
    print(f"LiveInsight API ready at {stack.url}  (store: {stack.settings.dynamodb_endpoint}; "
          f"tracker: {stack.url}/tracker.js)  Ctrl-C stops it.", flush=True)
    print(sites_note(stack.settings), flush=True)
    try:
        stack.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        _forget_stack(stack)
        print("LiveInsight stopped.", flush=True)
    return 0


def _record_stack(stack, dashboard: str | None = None) -> None:
    recorded = {"api": stack.url, "dynamodb_endpoint": stack.settings.dynamodb_endpoint,
                "share_secret": stack.settings.share_secret, "origin_secret": stack.origin_secret}
    if dashboard:
        recorded["dashboard"] = dashboard
    _write_stack_file(recorded)


def _forget_stack(stack) -> None:
    if stack.settings is not None and local_stack().get("api") == stack.url:
        stack_file().unlink(missing_ok=True)  # local_stack() found it: stack_file() resolves


def sites_note(settings: config.Settings) -> str:
    """What the collector admits, in words (an empty allow-list is not "nothing")."""
    if settings.sites:
        return f"accepting events of {', '.join(settings.sites)} only ({config.ENV_SITES})"
    return (f"accepting any site, at most {settings.new_sites_per_day} new ones a day "
            f"({config.ENV_SITES} is empty; {config.ENV_NEW_SITES_PER_DAY})")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _up(args: argparse.Namespace) -> int:
    from .local.server import LocalStack

    for name, port in (("--port", args.port), ("--dashboard-port", args.dashboard_port)):
        if port and not _port_free(args.host, port):
            print(f"liveinsight: port {port} on {args.host} is already in use; choose another with {name} "
                  f"(or stop whatever is listening there)", file=sys.stderr)
            return 2
    if args.demo and not os.environ.get(config.ENV_DEFINITIONS):
        from .local.demo import seeds

        os.environ[config.ENV_DEFINITIONS] = seeds()  # counted from the start: the history fills the Goals pages
    stack = LocalStack(host=args.host, port=args.port, api_key=args.api_key)
    stack.start()
    stack.start_in_thread()
    _record_stack(stack, dashboard=f"http://{args.host}:{args.dashboard_port}")
    children: list[subprocess.Popen] = []
    simulator = None
    _stop_on_sigterm()
    try:
        env = dict(os.environ, **{config.ENV_API_URL: stack.url})
        if args.api_key:
            env[config.ENV_API_KEY] = args.api_key
        dashboard = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"),
             "--server.port", str(args.dashboard_port), "--server.address", args.host,
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        children.append(dashboard)
        dashboard_url = f"http://{args.host}:{args.dashboard_port}"
        if args.kiosk or args.rotate or args.every is not None:
            dashboard_url = kiosk_url(dashboard_url, rotate=args.rotate, every=args.every)
        print(f"LiveInsight API  {stack.url}   (tracker: {stack.url}/tracker.js)", flush=True)
        print(f"Sites            {sites_note(stack.settings)}", flush=True)
        if args.demo:
            from .local.demo import DEFINITIONS, Simulator, backfill

            print(f"the demo's page groups, goals and funnel ({len(DEFINITIONS)}) are seeded "
                  f"({config.ENV_DEFINITIONS}; listed on the Settings page)", flush=True)
            started = time.monotonic()
            print(f"backfilling {args.history_days} days of demo history…", flush=True)
            report = backfill(stack.services.store, args.history_days, args.visits_per_day, time.time(),
                              seed=args.seed)
            stack.wait_until_aggregated()
            print(f"  {report.accepted} events in {time.monotonic() - started:.0f} s", flush=True)
            simulator = Simulator(stack.url, rate=args.rate, scenario=args.scenario, seed=args.seed,
                                  origin_secret=stack.origin_secret)
            threading.Thread(target=simulator.run, name="liveinsight-demo", daemon=True).start()
            print(f"demo traffic: {args.rate:g} events/s, scenario {args.scenario}", flush=True)
        print(f"Dashboard        {dashboard_url}   Ctrl-C stops everything.", flush=True)
        while dashboard.poll() is None:
            time.sleep(0.5)
        print("liveinsight: the dashboard process exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if simulator:
            simulator.stop()
        for child in children:
            _stop_child(child)
        stack.stop()
        _forget_stack(stack)
        print("LiveInsight stopped.", flush=True)


def dashboard_command(host: str, port: int, secrets_file: Path | None = None) -> list[str]:
    """The Streamlit command the dashboard runs with, in its container and on a laptop alike."""
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"),
               "--server.port", str(port), "--server.address", host,
               "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    if secrets_file is not None:
        # Later files win: the project's own secrets.toml first, then the sign-in settings.
        command += ["--secrets.files", str(ROOT / ".streamlit" / "secrets.toml"), "--secrets.files", str(secrets_file)]
    return command


def _dashboard(args: argparse.Namespace) -> int:
    """The dashboard alone, configured from the environment: the container's entry point."""
    from .dashboard.auth import secrets_toml

    try:
        auth_section = secrets_toml(os.environ)
    except ValueError as exc:
        print(f"liveinsight dashboard: {exc}", file=sys.stderr)
        return 2
    if not _port_free(args.host, args.port):
        print(f"liveinsight dashboard: port {args.port} on {args.host} is already in use; choose another with "
              "--port", file=sys.stderr)
        return 2
    api = os.environ.get(config.ENV_API_URL) or local_stack().get("api")
    env = dict(os.environ, **({config.ENV_API_URL: api} if api else {}))
    with tempfile.TemporaryDirectory(prefix="liveinsight-dashboard-") as private:  # mode 0700
        secrets_file = None
        if auth_section:
            secrets_file = Path(private) / "secrets.toml"
            fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(auth_section)
        print(f"LiveInsight dashboard on http://{args.host}:{args.port}  "
              f"(API: {api or f'the default; set {config.ENV_API_URL}'}; "
              + ("sign-in: on" if auth_section else
                 f"sign-in: off, set {config.ENV_OIDC_METADATA_URL} and the rest to turn it on") + ")",
              flush=True)
        child = subprocess.Popen(dashboard_command(args.host, args.port, secrets_file), cwd=ROOT, env=env,
                                 start_new_session=True)
        _stop_on_sigterm()
        try:
            return child.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            _stop_child(child)


def kiosk_url(dashboard_url: str, rotate: str | None = None, every: int | None = None) -> str:
    """The dashboard's presentation-mode URL, e.g. http://127.0.0.1:8501/?kiosk=1&rotate=overview,realtime&every=20."""
    params = {config.KIOSK_PARAM: "1"}
    if rotate:
        params[config.ROTATE_PARAM] = rotate
    if every is not None:
        params[config.EVERY_PARAM] = str(every)
    return f"{dashboard_url.rstrip('/')}/?{urlencode(params, safe=',')}"


def _stop_child(child: subprocess.Popen) -> None:
    if child.poll() is not None:
        return
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()


def _demo(args: argparse.Namespace) -> int:
    from .local.demo import Simulator

    try:
        recorded = local_stack()
        # Against the running local stack, act as its CDN (its visitors' places); elsewhere the env var's.
        origin_secret = recorded.get("origin_secret") if recorded.get("api") == args.api.rstrip("/") else None
        simulator = Simulator(args.api, rate=args.rate, scenario=args.scenario, seed=args.seed,
                              duration=args.duration, origin_secret=origin_secret)
    except ValueError as exc:
        print(f"liveinsight demo: {exc}", file=sys.stderr)
        return 2
    thread = threading.Thread(target=simulator.run, daemon=True)
    thread.start()
    print(f"sending {args.scenario} traffic to {args.api} at ~{args.rate:g} events/s; Ctrl-C stops", flush=True)
    try:
        while thread.is_alive():
            thread.join(timeout=10)
            print(f"  {simulator.sent} events in {simulator.requests} requests, {simulator.errors} errors",
                  flush=True)
    except KeyboardInterrupt:
        simulator.stop()
        thread.join(timeout=5)
    if simulator.requests and simulator.errors == simulator.requests:
        print(f"liveinsight demo: every request failed ({simulator.last_error}); is the API at {args.api} "
              "running? Start one with: python -m liveinsight serve", file=sys.stderr)
        return 1
    return 0


def _import(args: argparse.Namespace) -> int:
    from .local.importer import import_file
    from .store import Store

    path = Path(args.file)
    if not path.is_file():
        print(f"liveinsight import: no such file: {path}", file=sys.stderr)
        return 2
    settings = _store_settings(args.dynamodb_endpoint)
    endpoint = settings.dynamodb_endpoint
    from botocore.exceptions import BotoCoreError, ClientError

    from .errors import StoreUnavailable

    try:
        report = import_file(path, Store(settings), fmt=args.format)
    except ValueError as exc:
        print(f"liveinsight import: {exc}", file=sys.stderr)
        return 2
    except (StoreUnavailable, BotoCoreError, ClientError) as exc:
        where = endpoint or "AWS DynamoDB"
        print(f"liveinsight import: cannot write to {where} ({exc}). Start the local stack "
              "(python -m liveinsight serve), pass --dynamodb-endpoint URL, or configure AWS credentials.",
              file=sys.stderr)
        return 1
    print(report.summary())
    return 0 if report.accepted or not report.rows else 1


def _replay(args: argparse.Namespace) -> int:
    """`replay`: list the parked stream records, or apply them once their cause is fixed."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .aggregator import Aggregator
    from .errors import StoreUnavailable
    from .items import parked
    from .store import Store

    settings = _store_settings(args.dynamodb_endpoint)
    aggregator = Aggregator(Store(settings))
    try:
        items = aggregator.parked_records()
        if args.list or not items:
            for item in items:
                lane, sequence = parked.lane_and_sequence(item)
                print(f"shard {lane} record {sequence}: {item.get('err', '')}")
            print(f"{len(items)} parked record(s)" + ("; `liveinsight replay` applies them" if items else ""))
            return 0
        replayed, failures = aggregator.replay_parked()
    except (StoreUnavailable, BotoCoreError, ClientError) as exc:
        print(f"liveinsight replay: cannot reach {settings.dynamodb_endpoint or 'AWS DynamoDB'} ({exc}); pass "
              "--dynamodb-endpoint URL or configure AWS credentials for the deployment's region", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"still failing, kept: {failure}", file=sys.stderr)
    print(f"replayed {replayed} parked record(s); {len(failures)} still parked")
    return 1 if failures else 0


def _recount(args: argparse.Namespace) -> int:
    """`recount`: run the recount job once (what the schedule runs every 5 minutes; `up`, every minute)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .errors import StoreUnavailable
    from .recount import RECOUNT_AFTER_SECONDS, Recounter
    from .store import Store

    settings = _store_settings(args.dynamodb_endpoint)
    try:
        result = Recounter(Store(settings), settings).run()
    except (StoreUnavailable, BotoCoreError, ClientError) as exc:
        print(f"liveinsight recount: cannot reach {settings.dynamodb_endpoint or 'AWS DynamoDB'} ({exc}); pass "
              "--dynamodb-endpoint URL or configure AWS credentials for the deployment's region", file=sys.stderr)
        return 1
    for done in result["recounted"]:
        since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(done["counted_from"]))
        print(f"{done['site']}: {done['kind'].replace('_', ' ')[:-1]} {done['name']!r} now counts from {since} "
              f"({done['visitors']} visitor(s) recounted from their raw events)")
    if not result["recounted"]:
        print("nothing to recount now: every stored definition counts the raw events still kept, or was saved in "
              f"the last {(config.DEFINITION_COUNTS_AFTER_SECONDS + RECOUNT_AFTER_SECONDS) // 60:g} minutes (it counts "
              f"from a minute after saving, and is recounted {RECOUNT_AFTER_SECONDS} s after that): run again then")
    return 0


def _store_settings(endpoint: str | None) -> config.Settings:
    """Settings whose store is `endpoint`, else $AWS_ENDPOINT_URL_DYNAMODB, else a running local stack, else AWS."""
    settings = config.Settings.from_env()
    endpoint = endpoint or settings.dynamodb_endpoint or local_store_endpoint()
    if endpoint:
        settings = replace(settings, dynamodb_endpoint=endpoint)
        # A local DynamoDB-compatible store accepts any credentials.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    return settings


def _channels(args: argparse.Namespace):
    """The notification channels: the environment's, with --to / --sender / --slack-webhook on top."""
    from .reports.notify import Channels

    channels = Channels.from_env()
    if args.to:
        channels = replace(channels, recipients=tuple(args.to))
    if args.sender:
        channels = replace(channels, sender=args.sender)
    if args.slack_webhook:
        channels = replace(channels, slack_url=args.slack_webhook, slack_secret=None, slack_parameter=None)
    return channels


def _scheduled_job(args: argparse.Namespace) -> int:
    """`report` and `alerts`: print what the scheduled function would send; with --send, send it."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .errors import DeliveryFailed, LiveInsightError
    from .reports.notify import Notifier
    from .query.stats import StatsReader
    from .store import Store

    settings = _store_settings(args.dynamodb_endpoint)
    reader = StatsReader(Store(settings), settings)
    notifier = Notifier(_channels(args)) if args.send else None
    name = f"liveinsight {args.command}"
    try:
        if args.command == "report":
            from .reports.report import build_reports, render
            from .reports.scheduled import send_reports

            if notifier:
                for line in send_reports(reader, notifier, args.period, args.site):
                    print(f"sent: {line}")
                return 0
            reports = build_reports(reader, args.period, args.site)
            print(("\n" if args.format == "text" else "\n\n").join(render(r, args.format) for r in reports))
            return 0
        from .reports.alerts import Thresholds, check_sites

        outcomes = check_sites(reader, notifier, thresholds=Thresholds.from_env(), site=args.site,
                               dashboard_url=os.environ.get(config.ENV_DASHBOARD_URL) or None)
        if not outcomes:
            print("no site has data yet: nothing to check")
        for outcome in outcomes:
            sent = f"  -> sent: {', '.join(outcome.delivered)}" if outcome.sent else ""
            print(outcome.check.describe() + sent + (f"  -> NOT sent: {outcome.error}" if outcome.error else ""))
        return 1 if any(o.error for o in outcomes) else 0
    except DeliveryFailed as exc:
        print(f"{name}: {exc.message}", file=sys.stderr)
        return 1
    except (LiveInsightError, ValueError) as exc:
        print(f"{name}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"{name}: cannot read the stats table at {settings.dynamodb_endpoint or 'AWS DynamoDB'} ({exc}). "
              "Start the local stack (python -m liveinsight up --demo), pass --dynamodb-endpoint URL, or "
              "configure AWS credentials.", file=sys.stderr)
        return 1


def _add_channel_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", help="one site (default: one report/check per site with data)")
    parser.add_argument("--send", action="store_true",
                        help=f"send to the configured channels (${config.ENV_REPORT_RECIPIENTS}, "
                             f"${config.ENV_SLACK_WEBHOOK_SECRET} / ${config.ENV_SLACK_WEBHOOK_PARAMETER}) "
                             "instead of printing")
    parser.add_argument("--to", action="append", metavar="EMAIL", help="e-mail recipient (repeatable; with --send)")
    parser.add_argument("--sender", metavar="EMAIL", help=f"SES sender address (default ${config.ENV_REPORT_SENDER})")
    parser.add_argument("--slack-webhook", metavar="URL", help="a Slack incoming-webhook URL to send to (with --send)")
    parser.add_argument("--dynamodb-endpoint", metavar="URL",
                        help="DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB, a running local stack, or AWS)")
    parser.set_defaults(run=_scheduled_job)


def _create_tables(args: argparse.Namespace) -> int:
    from .store import make_client
    from .tables import create_tables

    settings = config.Settings.from_env()
    if args.endpoint_url:
        settings = replace(settings, dynamodb_endpoint=args.endpoint_url)
    created = create_tables(make_client(settings), settings)
    names = (settings.events_table, settings.sessions_table, settings.stats_table)
    for name in names:
        print(f"{name}: {'created' if name in created else 'already exists'}")
    return 0


def _share_secret(args: argparse.Namespace) -> tuple[str | None, str]:
    """The secret to sign with and where it came from: --secret-arn, the environment, or the local stack."""
    from .secret import Secret

    arn = args.secret_arn or os.environ.get(config.ENV_SHARE_SECRET_ARN)
    if args.secret_arn or (arn and not os.environ.get(config.ENV_SHARE_SECRET)):
        return Secret(arn=arn, region=config.Settings.from_env().region).get(), f"the secret {arn}"
    if os.environ.get(config.ENV_SHARE_SECRET):
        return os.environ[config.ENV_SHARE_SECRET], f"${config.ENV_SHARE_SECRET}"
    return local_stack().get("share_secret"), "the running local stack"


def _share(args: argparse.Namespace) -> int:
    from . import share

    def refuse(message: str) -> int:
        print(f"liveinsight share: {message}", file=sys.stderr)
        return 2

    try:
        lifetime = share.parse_duration(args.expires)
    except ValueError as exc:
        return refuse(str(exc))
    site = config.site_of(args.site)
    if not site:
        return refuse(f"--site must be a host such as shop.example.com, not {args.site!r}")
    try:
        secret, source = _share_secret(args)
    except Exception as exc:  # Secrets Manager refused or is unreachable: say so, not a traceback
        return refuse(f"cannot read the share secret ({exc}); check --secret-arn and your AWS credentials")
    if not secret:
        return refuse(f"no share secret: start the local stack (python -m liveinsight up) or set "
                      f"{config.ENV_SHARE_SECRET}, or pass --secret-arn (the stack's ShareSecretArn output)")
    scope = {"page": args.page, "source": args.source, "event_type": args.event_type, "period": args.period}
    try:
        token = share.mint(secret, site, time.time() + lifetime, **scope)
    except ValueError as exc:
        return refuse(str(exc))
    grant = share.peek(token)
    dashboard = (args.dashboard_url or local_stack().get("dashboard") or DEFAULT_DASHBOARD_URL).rstrip("/")
    query = {"share": token, "site": site, **{k: v for k, v in scope.items() if v}}
    print(f"{dashboard}/?{urlencode(query)}")
    fixed = [f"{name.replace('_', ' ')} {value}" for name, value in scope.items() if value and name != "period"]
    what = " · ".join([f"site {site}", *fixed] + ([grant.period_text] if grant.period else []))
    print(f"read-only view of {what}; expires {grant.expires_on} (signed with {source}; "
          "rotating the share secret revokes every link)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m liveinsight",
                                     description="LiveInsight: self-hosted real-time web analytics.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API locally (embedded store, aggregation, HTTP gateway)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--dynamodb-endpoint", metavar="URL",
                       help="use this DynamoDB-compatible endpoint instead of the embedded store")
    serve.add_argument("--api-key", metavar="KEY", default=os.environ.get(config.ENV_API_KEY),
                       help=f"require this key on the GET routes (default: ${config.ENV_API_KEY})")
    serve.set_defaults(run=_serve)

    tables = commands.add_parser("create-tables", help="create the DynamoDB tables if they do not exist")
    tables.add_argument("--endpoint-url", metavar="URL",
                        help=f"DynamoDB endpoint (default: ${config.ENV_DYNAMODB_ENDPOINT} or AWS)")
    tables.set_defaults(run=_create_tables)

    up = commands.add_parser("up", help="run the API, aggregation and the dashboard (with --demo: history and "
                                        "live demo traffic)")
    up.add_argument("--demo", action="store_true", help="backfill demo history and send live demo traffic")
    up.add_argument("--host", default="127.0.0.1", help="address for the API and dashboard (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    up.add_argument("--dashboard-port", type=int, default=8501, help="dashboard port (default 8501)")
    up.add_argument("--api-key", metavar="KEY", default=os.environ.get(config.ENV_API_KEY),
                    help=f"require this key on the GET routes (default: ${config.ENV_API_KEY})")
    up.add_argument("--rate", type=float, default=0.5, help="demo events per second (default 0.5)")
    up.add_argument("--scenario", choices=("steady", "launch", "campaign"), default="steady",
                    help="demo traffic scenario (default steady)")
    up.add_argument("--history-days", type=float, default=7, help="days of demo history to backfill (default 7)")
    up.add_argument("--visits-per-day", type=int, default=2400, help="demo history visits per day (default 2400)")
    up.add_argument("--seed", type=int, default=7, help="seed of the demo traffic (default 7)")
    up.add_argument("--kiosk", action="store_true",
                    help="print the dashboard's presentation-mode URL (?kiosk=1): no sidebar, large type, live")
    up.add_argument("--rotate", metavar="PAGES",
                    help="kiosk pages to rotate through, e.g. overview,realtime (implies --kiosk)")
    up.add_argument("--every", type=int, metavar="SECONDS",
                    help="kiosk seconds on each rotated page (default 30; implies --kiosk)")
    up.set_defaults(run=_up)

    dash = commands.add_parser("dashboard", help="run the dashboard alone against an API, as its container does "
                                                 "(sign-in from the LIVEINSIGHT_OIDC_* settings)")
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; the container: "
                                                          "0.0.0.0)")
    dash.add_argument("--port", type=int, default=config.DEFAULT_DASHBOARD_PORT,
                      help=f"port to listen on (default {config.DEFAULT_DASHBOARD_PORT})")
    dash.set_defaults(run=_dashboard)

    demo = commands.add_parser("demo", help="send realistic demo traffic to an API")
    demo.add_argument("--api", required=True, metavar="URL", help="the LiveInsight API base URL")
    demo.add_argument("--rate", type=float, default=3.0, metavar="EVENTS_PER_S", help="events per second (default 3)")
    demo.add_argument("--scenario", choices=("steady", "launch", "campaign"), default="steady",
                      help="steady traffic, a Hacker News launch spike, or a newsletter campaign burst")
    demo.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds (default: never)")
    demo.add_argument("--seed", type=int, default=7, help="random seed: the same seed sends the same traffic")
    demo.set_defaults(run=_demo)

    imp = commands.add_parser("import", help="import historical events (JSON lines or CSV, up to 400 days old)")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--format", choices=("jsonl", "csv"), help="file format (default: from the extension)")
    imp.add_argument("--dynamodb-endpoint", metavar="URL",
                     help="DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB, a running local stack, or AWS)")
    imp.set_defaults(run=_import)

    replay = commands.add_parser("replay", help="apply the stream records the aggregator parked (after fixing "
                                                "what made them fail); each is counted once, however often this runs")
    replay.add_argument("--list", action="store_true", help="only list the parked records and why they failed")
    replay.add_argument("--dynamodb-endpoint", metavar="URL",
                        help="DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB, a running local stack, or AWS)")
    replay.set_defaults(run=_replay)

    recount = commands.add_parser("recount", help="count new page groups, goals and funnels over the raw events "
                                                  "still kept (the job the deployment runs every 5 minutes); once "
                                                  "each, however often this runs")
    recount.add_argument("--dynamodb-endpoint", metavar="URL",
                         help="DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB, a running local stack, or AWS)")
    recount.set_defaults(run=_recount)

    from .reports.report import DEFAULT_REPORT_PERIOD, FORMATS, REPORT_PERIODS

    rep = commands.add_parser("report", help="print (or --send) the scheduled traffic report")
    rep.add_argument("--period", choices=tuple(REPORT_PERIODS), default=DEFAULT_REPORT_PERIOD,
                     help=f"whole days of the site's zone up to its last midnight (default {DEFAULT_REPORT_PERIOD})")
    rep.add_argument("--format", choices=FORMATS, default="text", help="what to print (default text)")
    _add_channel_arguments(rep)

    alerts = commands.add_parser("alerts", help="check the last hour's traffic against the usual (print, or --send)")
    _add_channel_arguments(alerts)

    shr = commands.add_parser("share", help="print a read-only dashboard link to one site's view, valid until it "
                                            "expires (no API key needed to open it)")
    shr.add_argument("--site", required=True, help="the site the link shows, e.g. shop.example.com")
    shr.add_argument("--page", help="fix the page filter, e.g. /pricing")
    shr.add_argument("--source", help="fix the source filter, e.g. Google")
    shr.add_argument("--event-type", help="fix the event type filter, e.g. signup")
    shr.add_argument("--period", choices=(*config.PERIOD_SECONDS, *config.CALENDAR_PERIODS),
                     help="the period the link shows: a rolling one (1h … 30d, ending when it is opened) or one of the "
                          "site's calendar (today … all_time, in its zone, moving with the calendar; weeks from "
                          "Monday); only periods and ranges inside it are answered (default: any)")
    shr.add_argument("--expires", required=True, metavar="DURATION",
                     help="lifetime such as 12h, 7d, 30d or 90d (at most 365d)")
    shr.add_argument("--dashboard-url", metavar="URL",
                     help=f"the dashboard the link opens (default: the running local stack's, else "
                          f"{DEFAULT_DASHBOARD_URL})")
    shr.add_argument("--secret-arn", metavar="ARN",
                     help=f"sign with this Secrets Manager secret (default: ${config.ENV_SHARE_SECRET}, "
                          f"${config.ENV_SHARE_SECRET_ARN}, or the running local stack's secret)")
    shr.set_defaults(run=_share)

    from . import doctor

    doc = commands.add_parser("doctor", help="check a deployment end to end (CORS, key, a test event reaching "
                                             "the rollups, share links, tracker, clock, SDK) and say what to fix")
    doctor.add_arguments(doc)
    doc.set_defaults(run=doctor.run)

    from . import package

    pkg = commands.add_parser("package", help="build the Lambda zip for the deployed functions (dist/function.zip)")
    package.add_arguments(pkg)
    pkg.set_defaults(run=package.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)
