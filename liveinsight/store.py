"""DynamoDB access: the only module that talks to boto3.

A `Store` is given a client or builds one lazily (`make_client`), so importing this module
never creates an AWS client and tests can pass their own. The Store retries throttled and
failed calls itself (`Store._call`), with waits sized for DynamoDB.
"""
from __future__ import annotations

import logging
import queue
import random
import secrets
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from .config import Settings
from .errors import StoreUnavailable

BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
MAX_UNPROCESSED_ATTEMPTS = 6
SCAN_SEGMENTS = 4  # parallel Scans of the events table (the recount job): a large table within the job's timeout
# Retries of a refused or failed DynamoDB call, made here rather than by botocore: full jitter
# from 25 ms, doubling, capped at 1 s, 8 attempts (~1.3 s of waiting on average before a refusal
# is final), and no retry that would start more than RETRY_BUDGET_SECONDS after the first
# attempt (the API functions time out at 30 s). botocore's standard and adaptive modes wait
# rand(0, 1 s) before the first retry of a throttled call and rand(0, 2 s) before the second:
# with 20 % of requests throttled that cut a collector to ~20 % of an offered 10 events/s, and
# throttling of one partition clears in milliseconds. Tuning botocore's own retry handler needs
# its internal classes, whose constructors change between releases (botocore 1.43.3 broke
# them), and the functions run on whatever botocore the Lambda runtime ships: so botocore makes
# one attempt and this module owns the retry policy, using only public botocore API.
RETRY_ATTEMPTS = 8
RETRY_BASE_SECONDS = 0.025
RETRY_CAP_SECONDS = 1.0
RETRY_BUDGET_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
# The embedded store (moto's server, one Python process) pages a Scan by walking the table from its start:
# the recount job's parallel Scan of a day of raw events can take longer than DynamoDB ever does.
LOCAL_READ_TIMEOUT_SECONDS = 120
# A date's salt serves that local date in every zone (from UTC+14 to UTC-12) and the 4 hours a visit
# may run past its midnight: made at the earliest 14 h before the UTC date, needed up to 40 h after it.
SALT_TTL_SECONDS = 60 * 3600
logger = logging.getLogger(__name__)
THROTTLING_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}

_serializer = None
_deserializer = None


def _codec():
    global _serializer, _deserializer
    if _serializer is None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        _serializer, _deserializer = TypeSerializer(), TypeDeserializer()
    return _serializer, _deserializer


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """A plain dict (Decimal numbers, bytes for binary) as DynamoDB JSON."""
    ser, _ = _codec()
    return {k: ser.serialize(v) for k, v in item.items() if v is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON as a plain dict (numbers become Decimal, binary becomes bytes)."""
    _, de = _codec()
    out = {}
    for key, value in item.items():
        plain = de.deserialize(value)
        out[key] = bytes(plain) if plain.__class__.__name__ == "Binary" else plain
    return out


def make_client(settings: Settings, service: str = "dynamodb", attempts: int = 1) -> Any:
    """A boto3 client configured with public settings only; honours AWS_ENDPOINT_URL_DYNAMODB and the settings.

    botocore makes `attempts` attempts per call (the first included). The default is one: a
    `Store` retries DynamoDB calls itself (`Store._call`), with waits sized for DynamoDB.
    """
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "region_name": settings.region,
        "config": Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=LOCAL_READ_TIMEOUT_SECONDS if settings.dynamodb_endpoint else READ_TIMEOUT_SECONDS,
            max_pool_connections=20,
            parameter_validation=False,  # requests are built here; validation costs ~15% CPU per call
        ),
    }
    if settings.dynamodb_endpoint:
        kwargs["endpoint_url"] = settings.dynamodb_endpoint
    elif service == "dynamodbstreams":
        # The explicit regional endpoint; moto's in-process mock does not route the resolved default.
        kwargs["endpoint_url"] = f"https://streams.dynamodb.{settings.region}.amazonaws.com"
    return boto3.client(service, **kwargs)


def retry_wait(attempt: int) -> float:
    """Seconds to wait before retry number `attempt + 1`: full jitter, RETRY_BASE_SECONDS doubling, capped."""
    return random.uniform(0, min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** attempt))


def sdk_versions() -> dict[str, str]:
    """The boto3 and botocore versions this process runs on (the Lambda runtime's own copy on AWS)."""
    import boto3
    import botocore

    return {"boto3": boto3.__version__, "botocore": botocore.__version__}


class Store:
    """Reads and writes the events, sessions and stats tables."""

    def __init__(self, settings: Settings | None = None, client: Any = None, *, backoff_base: float = 0.05,
                 attempts: int = RETRY_ATTEMPTS, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings or Settings.from_env()
        self._client = client
        self._lock = threading.Lock()
        self._backoff_base = backoff_base
        self._attempts = attempts
        self._pause = sleep
        self._clock = clock
        self._salts: dict[str, bytes] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = make_client(self.settings)
        return self._client

    # -- writes -----------------------------------------------------------------------

    def batch_put(self, puts: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Put (table, item) pairs with BatchWriteItem; returns the request count.

        Unprocessed items are retried with jittered exponential backoff; if the store still
        refuses, raises StoreUnavailable (never a silent drop).
        """
        requests = 0
        pending = [(table, {"PutRequest": {"Item": serialize(item)}}) for table, item in puts]
        for start in range(0, len(pending), BATCH_WRITE_LIMIT):
            chunk: dict[str, list] = {}
            for table, request in pending[start:start + BATCH_WRITE_LIMIT]:
                chunk.setdefault(table, []).append(request)
            requests += self._write_chunk(chunk)
        return requests

    def _write_chunk(self, chunk: dict[str, list]) -> int:
        requests = 0
        for attempt in range(MAX_UNPROCESSED_ATTEMPTS):
            response = self._call("batch_write_item", RequestItems=chunk)
            requests += 1
            chunk = response.get("UnprocessedItems") or {}
            if not chunk:
                return requests
            self._sleep(attempt)
        left = sum(len(v) for v in chunk.values())
        raise StoreUnavailable(f"DynamoDB left {left} items unprocessed after {MAX_UNPROCESSED_ATTEMPTS} attempts")

    def put_versioned(self, table: str, item: dict[str, Any], expected_version: int | None) -> None:
        """Put `item` only if the stored item still has `expected_version` (None: only if absent).

        Raises `VersionConflict` when another writer got there first, so the caller can
        re-read and re-apply.
        """
        if expected_version is None:
            condition, values = "attribute_not_exists(pk)", None
        else:
            condition, values = "#v = :v", {":v": serialize({"v": expected_version})["v"]}
        kwargs: dict[str, Any] = {"TableName": table, "Item": serialize(item), "ConditionExpression": condition}
        if values:
            kwargs["ExpressionAttributeNames"] = {"#v": "v"}
            kwargs["ExpressionAttributeValues"] = values
        if not self._conditional("put_item", **kwargs):
            raise VersionConflict(f"{item.get('pk')} {item.get('sk')} changed since it was read")

    def put_item(self, table: str, item: dict[str, Any]) -> None:
        """Put one item, replacing any with the same key."""
        self._call("put_item", TableName=table, Item=serialize(item))

    def delete_item(self, table: str, key: dict[str, Any]) -> bool:
        """Delete one item; whether there was one."""
        response = self._call("delete_item", TableName=table, Key=serialize(key), ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))

    def put_if_absent(self, table: str, item: dict[str, Any], key: str = "pk") -> bool:
        """Put `item` unless an item with its key (hash key attribute `key`) exists; whether it was put."""
        return self._conditional("put_item", TableName=table, Item=serialize(item),
                                 ConditionExpression="attribute_not_exists(#k)", ExpressionAttributeNames={"#k": key})

    def add_below(self, table: str, key: dict[str, Any], attribute: str, limit: int,
                  ttl: int | None = None) -> bool:
        """Add 1 to a counter attribute only while it is below `limit`; whether it was added."""
        names, values = {"#n": attribute}, {":one": {"N": "1"}, ":limit": {"N": str(limit)}}
        update = "ADD #n :one"
        if ttl is not None:
            names["#t"], values[":ttl"] = "ttl", {"N": str(ttl)}
            update += " SET #t = :ttl"
        return self._conditional("update_item", TableName=table, Key=serialize(key), UpdateExpression=update,
                                 ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                                 ExpressionAttributeNames=names, ExpressionAttributeValues=values)

    # -- reads ------------------------------------------------------------------------

    def batch_get(self, table: str, keys: list[dict[str, Any]], projection: str | None = None,
                  names: dict[str, str] | None = None, include_expired: bool = False,
                  consistent: bool = False) -> list[dict[str, Any]]:
        """Get items by key with BatchGetItem (retrying unprocessed keys).

        Missing keys are skipped, and so are items whose `ttl` has passed: DynamoDB deletes
        expired items up to days late (moto never does), so reads must not trust them.
        Writers that condition on a version pass `include_expired=True` and treat such
        items as empty themselves.
        """
        alive_at = 0.0 if include_expired else time.time()
        found: list[dict[str, Any]] = []
        unique = list({tuple(sorted((k, str(v)) for k, v in key.items())): key for key in keys}.values())
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {"Keys": [serialize(k) for k in unique[start:start + BATCH_GET_LIMIT]]}
            if consistent:
                request["ConsistentRead"] = True
            if projection:
                request["ProjectionExpression"] = projection
            if names:
                request["ExpressionAttributeNames"] = names
            pending = {table: request}
            for attempt in range(MAX_UNPROCESSED_ATTEMPTS):
                response = self._call("batch_get_item", RequestItems=pending)
                for raw in response.get("Responses", {}).get(table, []):
                    item = deserialize(raw)
                    if "ttl" in item and item["ttl"] < alive_at:
                        continue
                    found.append(item)
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                self._sleep(attempt)
            else:
                raise StoreUnavailable("DynamoDB left keys unprocessed after retries")
        return found

    def query(self, table: str, pk: str, first: str, last: str) -> list[dict[str, Any]]:
        """Items of partition `pk` with `first <= sk <= last`, oldest first (eventually consistent).

        One Query is billed for the summed size of what it returns (rounded up to 4 KB once),
        so a range of small items costs far less than getting each by key.
        """
        now = time.time()
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":a": {"S": first}, ":b": {"S": last}},
        }
        while True:
            response = self._call("query", **kwargs)
            for raw in response.get("Items", []):
                item = deserialize(raw)
                if "ttl" in item and item["ttl"] < now:
                    continue
                found.append(item)
            if not response.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def events_of(self, session_id: str) -> list[dict[str, Any]]:
        """Every raw event of one session id in the events table, oldest first (a consistent Query: what the
        stream has delivered before is there)."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.settings.events_table, "KeyConditionExpression": "session_id = :s",
            "ExpressionAttributeValues": {":s": {"S": session_id}}, "ConsistentRead": True,
        }
        while True:
            response = self._call("query", **kwargs)
            found.extend(deserialize(raw) for raw in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def scan_events(self, segments: int = SCAN_SEGMENTS) -> Iterator[dict[str, Any]]:
        """The session id, range key, type and enrichment of every raw event (a Scan reads the whole table: one
        eventually consistent read unit per 8 KB), `segments` parallel Scans at once, page by page as they come:
        at most a few pages are held in memory, whatever the table's size."""
        pages: queue.Queue = queue.Queue(maxsize=2 * segments)
        done = object()
        stop = threading.Event()

        def scan(segment: int) -> None:
            kwargs: dict[str, Any] = {
                "TableName": self.settings.events_table, "ProjectionExpression": "session_id, #t, event_type, x",
                "ExpressionAttributeNames": {"#t": "timestamp"}, "Segment": segment, "TotalSegments": segments,
            }
            try:
                while not stop.is_set():
                    response = self._call("scan", **kwargs)
                    pages.put(response.get("Items", []))
                    if not response.get("LastEvaluatedKey"):
                        break
                    kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
                pages.put(done)
            except BaseException as exc:  # the reader raises it
                pages.put(exc)

        threads = [threading.Thread(target=scan, args=(n,), daemon=True) for n in range(segments)]
        for thread in threads:
            thread.start()
        try:
            running = segments
            while running:
                page = pages.get()
                if page is done:
                    running -= 1
                elif isinstance(page, BaseException):
                    raise page
                else:
                    yield from (deserialize(raw) for raw in page)
        finally:
            stop.set()
            while any(thread.is_alive() for thread in threads):  # let a blocked put finish
                try:
                    pages.get_nowait()
                except queue.Empty:
                    time.sleep(0.01)

    def get_item(self, table: str, key: dict[str, Any], consistent: bool = False) -> dict[str, Any] | None:
        """The live item at `key`, or None (missing, or its `ttl` passed)."""
        extra = {"ConsistentRead": True} if consistent else {}
        response = self._call("get_item", TableName=table, Key=serialize(key), **extra)
        item = deserialize(response["Item"]) if response.get("Item") else None
        if item is not None and "ttl" in item and item["ttl"] < time.time():
            return None
        return item

    def daily_salt(self, day: str) -> bytes:
        """The random salt of a date (`YYYY-MM-DD`, a site's local day), shared by every collector through the stats table.

        Never fails for a missing or expired salt item: an expired one (DynamoDB deletes
        late, moto never) is replaced; when another collector creates the day's salt at the
        same moment, its salt is read back (a strongly consistent read); if even that finds
        none, this process uses a random salt of its own for the day (visits may then split
        across processes; nothing else is lost). Only DynamoDB refusing (503) escapes.
        """
        if day in self._salts:
            return self._salts[day]
        table, key = self.settings.stats_table, {"pk": f"salt#{day}", "sk": "-"}
        salt = _salt_of(self.get_item(table, key))
        if salt is None:
            now = int(time.time())
            candidate = {**key, "salt": secrets.token_bytes(32), "ttl": now + SALT_TTL_SECONDS}
            if self._conditional("put_item", TableName=table, Item=serialize(candidate),
                                 ConditionExpression="attribute_not_exists(pk) OR #ttl < :now",
                                 ExpressionAttributeNames={"#ttl": "ttl"},
                                 ExpressionAttributeValues={":now": {"N": str(now)}}):
                salt = candidate["salt"]
            else:
                response = self._call("get_item", TableName=table, Key=serialize(key), ConsistentRead=True)
                salt = _salt_of(deserialize(response["Item"]) if response.get("Item") else None)
            if salt is None:
                logger.warning("no salt item for %s after a conditional put; using a process-local salt", day)
                salt = secrets.token_bytes(32)
        # Today's and yesterday's: a visitor's id of the day before is derived next to today's after midnight.
        self._salts = {d: known for d, known in self._salts.items() if d in sorted(self._salts)[-1:]}
        self._salts[day] = salt
        return salt

    # -- plumbing ---------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One DynamoDB call, retried while DynamoDB throttles, fails inside or cannot be reached.

        Waits `retry_wait(attempt)` between attempts, at most `attempts` attempts and none
        starting after RETRY_BUDGET_SECONDS; what is still refused or unreachable then is
        StoreUnavailable. Any other error (a failed condition, a bad request) raises at once.
        """
        started = self._clock()
        attempt = 0
        while True:
            try:
                return getattr(self.client, operation)(**kwargs)
            except _client_error() as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in THROTTLING_CODES:
                    raise
                failure, cause = f"DynamoDB refused {operation} after {attempt + 1} attempts ({code})", exc
            except _connection_errors() as exc:
                failure, cause = f"DynamoDB is unreachable for {operation} ({exc.__class__.__name__})", exc
            wait = retry_wait(attempt)
            attempt += 1
            if attempt >= self._attempts or self._clock() - started + wait > RETRY_BUDGET_SECONDS:
                raise StoreUnavailable(failure) from cause
            self._pause(wait)

    def _conditional(self, operation: str, **kwargs: Any) -> bool:
        """One conditional write; False when its condition did not hold (the write was refused)."""
        try:
            self._call(operation, **kwargs)
        except _client_error() as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _sleep(self, attempt: int) -> None:
        self._pause(random.uniform(0, self._backoff_base * (2 ** attempt)))


def _salt_of(item: dict[str, Any] | None) -> bytes | None:
    """The salt of a live salt item, or None (no item, or one without a usable salt)."""
    salt = item.get("salt") if item else None
    return bytes(salt) if isinstance(salt, (bytes, bytearray)) and len(salt) >= 16 else None


class VersionConflict(Exception):
    """An optimistic-concurrency write lost against another writer."""


def _client_error():
    from botocore.exceptions import ClientError

    return ClientError


def refused_as_invalid(exc: BaseException) -> bool:
    """Whether DynamoDB refused a request as invalid (a key or item it cannot hold): no retry helps."""
    return isinstance(exc, _client_error()) and exc.response.get("Error", {}).get("Code") == "ValidationException"


def _connection_errors():
    """Every transport failure: connect and read timeouts, refused or closed connections, proxy and TLS errors."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    return (ConnectionError, HTTPClientError)


__all__ = ["Store", "StoreUnavailable", "VersionConflict", "make_client", "retry_wait", "sdk_versions", "serialize",
           "deserialize"]
