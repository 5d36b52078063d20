"""The local stack: embedded store, stream aggregation and an HTTP gateway to the Lambda handler.

Each HTTP request becomes an API Gateway REST proxy event for
`lambda_function.lambda_handler` (headers passed through as API Gateway does, so a client
holding the stack's origin secret can play the CloudFront front door), and each batch read from the events table's stream
becomes a DynamoDB stream event for the same handler: the local and deployed paths are
one path.
"""
from __future__ import annotations

import base64
import importlib
import json
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from .. import config
from ..config import Settings
from .localstore import EmbeddedStore
from ..store import Store, make_client
from ..tables import create_tables

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ROOT = PACKAGE_DIR.parent
STATIC = PACKAGE_DIR / "static"
TRACKER_CACHE = "public, max-age=86400, stale-while-revalidate=604800"
STREAM_BATCH_LIMIT = 1000
DELIVERY_ATTEMPTS = 10
# The local stream poller's streams client: botocore's standard retries (it polls again anyway).
# Its checkpoints go through a Store: botocore's slow throttling backoff there (up to 1 s, 2 s)
# held back aggregation, and with it the collector's p95 under throttling (bench/throttle.py:
# 0.5-0.7 s against 0.28 s).
POLLER_ATTEMPTS = 3
CHECKPOINT_PREFIX = "checkpoint#"
RECOUNT_EVERY_SECONDS = 60.0  # the template runs the recount job every 5 minutes; the laptop, every minute


def load_handler() -> Callable[[dict, Any], dict]:
    """`lambda_function.lambda_handler`, imported the way Lambda does (from lambdas/)."""
    lambdas = str(ROOT / "lambdas")
    if lambdas not in sys.path:
        sys.path.insert(0, lambdas)
    return importlib.import_module("lambda_function").lambda_handler


def lambda_context(function_name: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=function_name, function_version="$LATEST", memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:local:000000000000:function:{function_name}",
        aws_request_id=str(uuid.uuid4()), get_remaining_time_in_millis=lambda: 30_000,
    )


def proxy_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, client_ip: str) -> dict:
    """An API Gateway REST (v1) proxy event for one HTTP request."""
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    try:
        text, is_b64 = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": parts.path, "httpMethod": method, "path": f"/local{parts.path}", "stage": "local",
            "requestId": str(uuid.uuid4()), "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": client_ip, "userAgent": headers.get("User-Agent")},
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


def function_url_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, client_ip: str) -> dict:
    """A Lambda function URL event (payload format 2.0) for one HTTP request, as the front door forwards it.

    Header names are lower-cased and repeated headers joined with commas, as Lambda does.
    """
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    joined: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    try:
        text, is_b64 = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    url_id = "local0000000000000000000000000000"
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": parts.path, "rawQueryString": parts.query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous", "apiId": url_id, "domainName": f"{url_id}.lambda-url.local.on.aws",
            "domainPrefix": url_id, "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1", "sourceIp": client_ip,
                     "userAgent": joined.get("user-agent", "")},
        },
        "isBase64Encoded": is_b64,
    }
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if text is not None:
        event["body"] = text
    return event


class Gateway(BaseHTTPRequestHandler):
    """Turns HTTP requests into proxy events for the Lambda handler (and serves /tracker.js)."""

    server_version = "LiveInsightLocal/1.0"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    # A socket timeout for every read: a client that stops sending mid-request (or keeps an
    # idle connection) is answered 408 or disconnected instead of holding a thread forever.
    timeout = 10.0
    max_body_bytes = config.MAX_BODY_BYTES
    handler: Callable[[dict, Any], dict]

    def handle_expect_100(self) -> bool:
        """Refuse a bad or oversized body before the client sends it (before `100 Continue`)."""
        if self._length() is None:
            return False
        return super().handle_expect_100()

    def _length(self) -> int | None:
        """The declared body length; None after answering 400/411/413 for one that cannot be read."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._refuse(411, "send the body with a Content-Length (chunked bodies are not accepted)")
            return None
        declared = self.headers.get_all("Content-Length") or []
        if not declared:
            return 0
        text = declared[0].strip()
        if len(set(declared)) > 1 or not (text.isascii() and text.isdigit()):
            self._refuse(400, f"Content-Length must be one whole number of bytes, not {', '.join(declared)[:40]!r}")
            return None
        if int(text) > self.max_body_bytes:
            self._refuse(413, f"the request body is {text} bytes; at most {self.max_body_bytes} bytes (256 KiB) "
                              "are accepted")
            return None
        return int(text)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering for one that is malformed, too big, slow or cut short."""
        length = self._length()
        if not length:
            return None if length is None else b""
        try:
            body = self._read_within(length, time.monotonic() + self.timeout)
        except TimeoutError:
            self._refuse(408, f"the request body did not arrive within {self.timeout:g} s")
            return None
        if len(body) < length:
            self.close_connection = True  # the client hung up: nobody is left to answer
            return None
        return body

    def _read_within(self, length: int, deadline: float) -> bytes:
        """Up to `length` bytes by `deadline` (one deadline for the whole body, however slowly it drips)."""
        chunks: list[bytes] = []
        while length > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.connection.settimeout(left)
            chunk = self.rfile.read1(min(length, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            length -= len(chunk)
        self.connection.settimeout(self.timeout)
        return b"".join(chunks)

    def _refuse(self, status: int, message: str) -> None:
        """Answer in the API's error envelope and close: the unread body must not be taken for a request."""
        data = json.dumps({"status": "error", "message": message}).encode()
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers", "Retry-After")
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self._drain()
        except OSError:
            pass

    def _drain(self, seconds: float = 0.5, limit: int = 1 << 20) -> None:
        """Read and drop what the client is still sending for a moment, so closing does not reset the
        connection before the client has read the answer (a close with unread data sends a TCP RST)."""
        self.connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        while limit > 0 and (left := deadline - time.monotonic()) > 0:
            self.connection.settimeout(left)
            try:
                chunk = self.connection.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            limit -= len(chunk)

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if self.command in ("GET", "HEAD") and urlsplit(self.path).path == "/tracker.js":
            return self._static("tracker.js", "application/javascript; charset=utf-8")
        headers = {k: v for k, v in self.headers.items()}
        event = proxy_event(self.command, self.path, headers, body, self.client_address[0])
        response = self.handler(event, lambda_context("liveinsight-local"))
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self.send_response(response.get("statusCode", 500))
        sent = set()
        for key, value in (response.get("headers") or {}).items():
            self.send_header(key, value)
            sent.add(key.lower())
        for key, values in (response.get("multiValueHeaders") or {}).items():
            if key.lower() in sent:
                continue
            for value in values:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _static(self, name: str, content_type: str) -> None:
        path = STATIC / name
        if not path.exists():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", TRACKER_CACHE)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_OPTIONS = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:  # the handler logs requests itself
        pass


class GatewayServer(ThreadingHTTPServer):
    """The local gateway's HTTP server: a thread per connection and room for bursts of clients."""

    daemon_threads = True
    request_queue_size = 128  # the default of 5 resets connections when 20 clients connect at once


class StreamPoller(threading.Thread):
    """Reads the events table's stream and hands each shard's batch to the Lambda handler, as AWS does.

    `consumer` is the stream consumer it plays (config.REALTIME_CONSUMER at the realtime
    window, config.ROLLUP_CONSUMER at the rollup window; None: one consumer of everything);
    each has its own checkpoints, as each event source mapping keeps its own position.

    Like the event source mapping, it delivers one shard's records in order, redelivers a
    failed batch whole, and remembers how far it got: a checkpoint item per shard in the
    stats table records the batch in flight before delivery and the last position after
    it, so a killed `serve` restarted on the same store first redelivers exactly the batch
    it was in (items that applied it skip it) and then goes on — nothing lost, nothing
    counted twice.
    """

    def __init__(self, settings: Settings, handler: Callable[[dict, Any], dict], interval: float | None = None,
                 consumer: str | None = None):
        super().__init__(name=f"liveinsight-stream-{consumer or 'all'}", daemon=True)
        self.settings, self.handler, self.consumer = settings, handler, consumer
        if interval is None:  # the batching window
            interval = (settings.rollup_window_seconds if consumer == config.ROLLUP_CONSUMER
                        else settings.stream_window_seconds)
        self.interval = interval
        self.stopping = threading.Event()
        self.wake = threading.Event()  # set: poll now instead of at the end of the window
        self.idle = threading.Event()
        self.hurry = threading.Event()  # set: poll again at once after a busy poll (wait_until_aggregated)
        self.polls = 0       # polls started, and the last of them that found nothing new
        self.last_quiet_poll = 0
        self._quiet = threading.Condition()
        self.batches = 0
        self.errors = 0
        self.delivered = 0        # records handed to the handler, and the seconds it took (bench/lanes.py)
        self.busy_seconds = 0.0
        self._store: Any = None
        self._client: Any = None
        self._streams: Any = None
        self._arn = ""
        self._iterators: dict[str, str | None] = {}
        self._replay: dict[str, int] = {}
        self._last_done: dict[str, str] = {}

    def run(self) -> None:
        while not self.stopping.is_set():
            with self._quiet:
                self.polls += 1
                number = self.polls
            try:
                delivered = self.poll_once()
            except Exception as exc:  # keep aggregating; the cause is printed once per failure
                self.errors += 1
                print(f"liveinsight: stream polling failed: {exc!r}", file=sys.stderr)
                self.wake.wait(1.0)
                continue
            if not delivered:
                with self._quiet:
                    self.last_quiet_poll = number
                    self._quiet.notify_all()
            (self.idle.clear if delivered else self.idle.set)()
            if delivered and self.hurry.is_set():
                continue
            # Wait a batching window even after a busy poll: bigger batches, fewer writes.
            self.wake.wait(self.interval)
            self.wake.clear()

    def hurry_up(self, hurry: bool = True) -> int:
        """The poll to wait past (`wait_quiet`); `hurry`: poll now and back to back until a poll finds
        nothing new, instead of waiting out the batching window after each busy poll."""
        with self._quiet:
            after = self.polls
        if hurry:
            self.hurry.set()
            self.wake.set()
        return after

    def wait_quiet(self, after: int, timeout: float) -> bool:
        """Block until a poll started after poll number `after` finds nothing new; stops hurrying."""
        try:
            with self._quiet:
                return self._quiet.wait_for(lambda: self.last_quiet_poll > after, timeout)
        finally:
            self.hurry.clear()

    def _checkpoint_key(self, shard_id: str) -> dict[str, str]:
        consumer = f"{self.consumer}#" if self.consumer else ""
        return {"pk": f"{CHECKPOINT_PREFIX}{consumer}{self._arn}", "sk": shard_id}

    def _start_shard(self, shard_id: str) -> str:
        """An iterator after the shard's checkpoint (TRIM_HORIZON without one); notes a batch left in flight."""
        item = self._store.get_item(self.settings.stats_table, self._checkpoint_key(shard_id), consistent=True)
        kwargs: dict[str, Any] = {"StreamArn": self._arn, "ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}
        if item and "done" in item:
            self._last_done[shard_id] = item["done"]
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=item["done"])
        if item and "flight" in item:
            self._replay[shard_id] = int(item["flight"])
        return self._streams.get_shard_iterator(**kwargs)["ShardIterator"]

    def _save_checkpoint(self, shard_id: str, done: str | None, flight: str | None) -> None:
        item = dict(self._checkpoint_key(shard_id))
        if done:
            item["done"] = done
        if flight:
            item["flight"] = flight
        self._store.put_item(self.settings.stats_table, item)

    def poll_once(self) -> int:
        """Read every shard once and deliver what arrived; returns the number of records."""
        if self._streams is None:
            self._store = Store(self.settings, make_client(self.settings))
            self._client = self._store.client
            self._arn = self._client.describe_table(TableName=self.settings.events_table)["Table"]["LatestStreamArn"]
            self._streams = make_client(self.settings, service="dynamodbstreams", attempts=POLLER_ATTEMPTS)
        for shard in self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]:
            if shard["ShardId"] not in self._iterators:
                self._iterators[shard["ShardId"]] = self._start_shard(shard["ShardId"])
        delivered = 0
        for shard_id, iterator in list(self._iterators.items()):
            while iterator is not None:
                response = self._streams.get_records(ShardIterator=iterator, Limit=STREAM_BATCH_LIMIT)
                records = response.get("Records", [])
                replay = self._replay.pop(shard_id, None)
                if replay is not None:  # the batch a killed poller was delivering: exactly those records again
                    kept = [rec for rec in records if int(rec["dynamodb"]["SequenceNumber"]) <= replay]
                    if len(kept) < len(records):
                        records = kept
                        last = records[-1]["dynamodb"]["SequenceNumber"] if records else None
                        response = {"NextShardIterator": self._streams.get_shard_iterator(
                            StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                            SequenceNumber=last)["ShardIterator"] if last else iterator}
                if records:
                    self._deliver(shard_id, records)
                    delivered += len(records)
                iterator = response.get("NextShardIterator")
                self._iterators[shard_id] = iterator
                if len(records) < STREAM_BATCH_LIMIT:
                    break
        return delivered

    def _deliver(self, shard_id: str, records: list[dict]) -> None:
        last = records[-1]["dynamodb"]["SequenceNumber"]
        self._save_checkpoint(shard_id, self._last_done.get(shard_id), last)
        event = {"Records": [dict(record, eventSource="aws:dynamodb", eventSourceARN=self._arn) for record in records],
                 "shardId": shard_id}
        if self.consumer:
            event[config.CONSUMER_FIELD] = self.consumer
        started = time.perf_counter()
        for attempt in range(DELIVERY_ATTEMPTS):
            response = self.handler(event, lambda_context(f"liveinsight-{self.consumer or 'stream'}-aggregator-local"))
            if not response.get("batchItemFailures"):
                self.batches += 1
                break
            self.stopping.wait(min(5.0, 0.2 * 2 ** attempt))
        else:
            self.errors += 1
            print(f"liveinsight: a stream batch of {len(records)} records failed {DELIVERY_ATTEMPTS} times; "
                  "skipped", file=sys.stderr)
        self.delivered += len(records)
        self.busy_seconds += time.perf_counter() - started
        self._last_done[shard_id] = last
        self._save_checkpoint(shard_id, last, None)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


class Schedule(threading.Thread):
    """Invokes the handler with a scheduled job's input every `interval` seconds, as an EventBridge schedule
    does: the local stack runs the recount job (liveinsight/recount.py) every minute, so a definition added on
    the Settings page counts the raw events of the last 24 h within a minute or two."""

    def __init__(self, handler: Callable[[dict, Any], dict], job: dict[str, Any], interval: float) -> None:
        super().__init__(name=f"liveinsight-schedule-{job.get('liveinsight')}", daemon=True)
        self.handler, self.job, self.interval = handler, job, interval
        self.stopping = threading.Event()
        self.runs = 0
        self.errors = 0

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.handler(dict(self.job), lambda_context(f"liveinsight-{self.job.get('liveinsight')}-local"))
                self.runs += 1
            except Exception as exc:  # the next run tries again; the cause is printed
                self.errors += 1
                print(f"liveinsight: the scheduled {self.job.get('liveinsight')} job failed: {exc!r}", file=sys.stderr)

    def stop(self) -> None:
        self.stopping.set()


@dataclass
class LocalStack:
    """`serve`: the embedded store (or an existing endpoint), tables, aggregation and gateway."""

    host: str = "127.0.0.1"
    port: int = 8000
    dynamodb_endpoint: str | None = None
    api_key: str | None = None

    def __post_init__(self) -> None:
        self.store: EmbeddedStore | None = None
        self.http: ThreadingHTTPServer | None = None
        self.pollers: list[StreamPoller] = []
        self.schedules: list[Schedule] = []
        self.settings: Settings | None = None
        self.services: Any = None
        self._serving = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def origin_secret(self) -> str | None:
        """The secret a client sends in config.ORIGIN_HEADER to act as the deployment's CloudFront
        (its CloudFront-Viewer-* headers are then believed): LIVEINSIGHT_ORIGIN_SECRET, else one per run."""
        return self.settings.origin_secret if self.settings else None

    def start(self) -> "LocalStack":
        for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                            ("AWS_DEFAULT_REGION", config.DEFAULT_REGION)):
            os.environ.setdefault(name, value)
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        endpoint = self.dynamodb_endpoint or os.environ.get(config.ENV_DYNAMODB_ENDPOINT)
        if not endpoint:
            self.store = EmbeddedStore(host="127.0.0.1").start()
            endpoint = self.store.endpoint
        settings = replace(Settings.from_env(), dynamodb_endpoint=endpoint)
        if self.api_key:
            settings = replace(settings, api_key=self.api_key)
        if not settings.share_secret and not settings.share_secret_arn:
            # One secret per run (`share` reads it from the stack file): a restart revokes local links.
            settings = replace(settings, share_secret=secrets.token_urlsafe(32))
        if not settings.origin_secret and not settings.origin_secret_arn:
            # The local stack's "front door": whoever sends this in config.ORIGIN_HEADER (the demo, as
            # CloudFront would) is trusted with CloudFront's viewer headers. One per run: `origin_secret`.
            settings = replace(settings, origin_secret=secrets.token_urlsafe(32))
        self.settings = settings
        try:
            create_tables(make_client(settings), settings)
            from .. import handler as backend

            self.services = backend.configure(settings)
            handler = load_handler()
            Gateway.handler = staticmethod(handler)
            self.http = GatewayServer((self.host, self.port), Gateway)
            self.port = self.http.server_address[1]
            # The two consumers of a deployment, at the same windows (config.py, infra/template.yaml).
            self.pollers = [StreamPoller(settings, handler, consumer=consumer) for consumer in config.STREAM_CONSUMERS]
            for poller in self.pollers:
                poller.start()
            self.schedules = [Schedule(handler, {"liveinsight": "recount"}, RECOUNT_EVERY_SECONDS)]
            for schedule in self.schedules:
                schedule.start()
        except BaseException:
            self.stop()
            raise
        return self

    def serve_forever(self) -> None:
        assert self.http is not None
        self._serving = True
        try:
            self.http.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False

    def wait_until_aggregated(self, timeout: float = 120.0, hurry: bool = True) -> bool:
        """Block until every stream consumer has found nothing new once (everything written is aggregated).

        `hurry`: poll now instead of waiting out the batching windows (the rollup one is a minute).
        """
        assert self.pollers
        deadline = time.monotonic() + timeout
        marks = [poller.hurry_up(hurry) for poller in self.pollers]
        return all([poller.wait_quiet(after, max(0.0, deadline - time.monotonic()))
                    for poller, after in zip(self.pollers, marks)])

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="liveinsight-gateway", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        for schedule in self.schedules:
            schedule.stop()
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join(timeout=5)
        if self.http:
            if self._serving:
                self.http.shutdown()
            self.http.server_close()
        if self.store:
            self.store.stop()
